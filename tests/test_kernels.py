"""The Numba kernels equal their NumPy twins; the mixture sampler draws from the right distribution."""
import numpy as np
import pytest

from minwm import kernels as K
from minwm.lstm import lstm_forward


def _lstm_weights(rng, D=6, H=16):
    return ((rng.standard_normal((D, 4 * H)) / np.sqrt(D)).astype(np.float32),
            (rng.standard_normal((H, 4 * H)) / np.sqrt(H)).astype(np.float32),
            (rng.standard_normal(4 * H) * 0.5).astype(np.float32))


@pytest.mark.parametrize("N", [1, 7, 64])
def test_lstm_step_kernel_equals_numpy_twin(N):
    rng = np.random.default_rng(N)
    D, H = 6, 16
    wx, wh, b = _lstm_weights(rng, D, H)
    x, h, c = (rng.standard_normal((N, s)).astype(np.float32) * 2 for s in (D, H, H))
    restart = rng.random(N) < 0.4
    h_ref, c_ref = K.lstm_step_numpy(x, h, c, restart, wx, wh, b)

    xh, c_out = np.concatenate([x, h], axis=1), c.copy()
    K.lstm_step(xh, c_out, restart, np.concatenate([wx, wh]), b, np.empty((N, 4 * H), np.float32))
    np.testing.assert_allclose(xh[:, D:], h_ref, atol=2e-6)
    np.testing.assert_allclose(c_out, c_ref, atol=2e-6)
    np.testing.assert_array_equal(xh[:, :D], x)                      # x untouched


def test_lstm_twin_matches_training_lstm_layout():
    # Same gate order and weight layout as minwm.lstm, the LSTM M is trained with.
    rng = np.random.default_rng(0)
    wx, wh, b = _lstm_weights(rng)
    x, h, c = (rng.standard_normal((5, s)) for s in (6, 16, 16))
    restart = np.array([0, 1, 0, 1, 0], bool)
    _, hT, cT, _ = lstm_forward(x[:, None], h, c, wx, wh, b, restart[:, None].astype(float))
    h1, c1 = K.lstm_step_numpy(x, h, c, restart, wx, wh, b)
    np.testing.assert_allclose(h1, hT, atol=1e-6)
    np.testing.assert_allclose(c1, cT, atol=1e-6)


def test_dropout_mask_in_the_dream_step_and_in_training_agree():
    # Dropout's Dream Land: one mask on [x, h] where they enter the gates, for every step. The
    # dream's kernel, its twin and the training LSTM (x masked outside, h by keep_h) agree.
    rng = np.random.default_rng(2)
    N, T, D, H = 9, 4, 6, 16
    wx, wh, b = _lstm_weights(rng, D, H)
    keep = K.dropout_keep(rng, (N, D + H), 0.3)
    assert set(np.unique(keep)) == {0, np.float32(1 / 0.7)} and keep.dtype == np.float32
    xs = rng.standard_normal((N, T, D)).astype(np.float32)
    h = c = np.zeros((N, H), np.float32)
    xh, c_k, gates = np.zeros((N, D + H), np.float32), c.copy(), np.empty((N, 4 * H), np.float32)
    for t in range(T):
        h, c = K.lstm_step_numpy(xs[:, t], h, c, None, wx, wh, b, keep)
        xh[:, :D] = xs[:, t]
        K.lstm_step(xh, c_k, None, np.concatenate([wx, wh]), b, gates, keep)
        np.testing.assert_allclose(xh[:, D:], h, atol=2e-6)           # h' unmasked, as C reads it
    hs, _, cT, _ = lstm_forward(xs * keep[:, None, :D], np.zeros((N, H), np.float32), np.zeros((N, H), np.float32),
                                wx, wh, b, keep_h=np.ascontiguousarray(keep[:, D:]))
    np.testing.assert_allclose(hs[:, -1], h, atol=2e-6)
    np.testing.assert_allclose(cT, c, atol=2e-6)
    h_free, _ = K.lstm_step_numpy(xs[:, 0], np.zeros((N, H)), np.zeros((N, H)), None, wx, wh, b)
    assert np.abs(h_free - hs[:, 0]).max() > 1e-3                      # the mask acts
    with pytest.raises(ValueError, match="rate"):
        K.dropout_keep(rng, (2, 3), 1.0)


def test_restart_zeroes_state_before_the_step():
    rng = np.random.default_rng(1)
    wx, wh, b = _lstm_weights(rng)
    x, h, c = (rng.standard_normal((4, s)).astype(np.float32) for s in (6, 16, 16))
    zeros = np.zeros_like(h)
    h1, c1 = K.lstm_step_numpy(x, h, c, np.ones(4, bool), wx, wh, b)
    h0, c0 = K.lstm_step_numpy(x, zeros, zeros, None, wx, wh, b)
    np.testing.assert_array_equal(h1, h0)
    np.testing.assert_array_equal(c1, c0)
    assert not np.allclose(K.lstm_step_numpy(x, h, c, None, wx, wh, b)[0], h0)


def _placed(arena, offset, a):
    # a copy of a inside arena at offset: arrays at chosen distances from each other in memory
    out = arena[offset:offset + a.size].reshape(a.shape)
    out[:] = a
    return out


def test_kernels_give_the_same_bits_wherever_the_buffers_lie():
    # Buffers close together in memory make LLVM take a loop's scalar fallback instead of its
    # vector body; both must round alike (kernels.FASTMATH: with arcp the gates differed by a bit).
    rng = np.random.default_rng(0)
    N, D, H, nz, k = 20, 6, 16, 8, 5
    gates, c = rng.standard_normal((N, 4 * H), dtype=np.float32) * 2, rng.standard_normal((N, H), dtype=np.float32)
    xh, b = rng.standard_normal((N, D + H), dtype=np.float32), rng.standard_normal(4 * H, dtype=np.float32)
    y, bm = _head(rng, N, nz, k, 1)
    u, eps = rng.random((N, nz), dtype=np.float32), rng.standard_normal((N, nz), dtype=np.float32)
    results = []
    for gap in list(range(0, 64, 3)) + [5000]:                         # the last one: far apart
        arena = np.zeros(40_000, np.float32)
        o_xh, o_c, o_y = 0, xh.size + gap, 15_000
        x_, c_ = _placed(arena, o_xh, xh), _placed(arena, o_c, c)
        K.lstm_cell(_placed(arena, o_c + c.size + gap, gates), b, c_, x_, D)
        z = _placed(arena, o_c + c.size + gap, np.zeros((N, nz), np.float32))
        K.mdn_sample(_placed(arena, o_y, y), bm, nz, k, 1.15, _placed(arena, o_y + y.size + gap, u),
                     _placed(arena, o_y + y.size + u.size + 2 * gap, eps), z, np.empty(N, np.float32))
        results.append((x_.copy(), c_.copy(), z.copy()))
    for r in results[:-1]:
        for got, want in zip(r, results[-1]):
            np.testing.assert_array_equal(got, want)


def test_rational_tanh_is_float32_accurate():
    x = np.linspace(-12, 12, 100_001).astype(np.float32)
    gates = np.zeros((1, 4 * len(x)), np.float32)
    gates[0, 2 * len(x):3 * len(x)] = x                              # g = tanh(x)
    gates[0, :len(x)] = 50.0                                         # i = 1
    gates[0, 3 * len(x):] = 50.0                                     # o = 1
    c, h = np.zeros((1, len(x)), np.float32), np.zeros((1, len(x)), np.float32)
    K.lstm_cell(gates, np.zeros(4 * len(x), np.float32), c, h)       # c' = tanh(x), h = tanh(tanh(x))
    np.testing.assert_allclose(c[0], np.tanh(x.astype(np.float64)), atol=5e-7)
    np.testing.assert_allclose(h[0], np.tanh(np.tanh(x.astype(np.float64))), atol=5e-7)


def test_vectorised_exp_is_float32_accurate():
    x = np.linspace(-87, 88, 100_001).astype(np.float32)
    out, bits = np.empty_like(x), np.empty(len(x), np.int32)
    K._exp(x, out, bits)
    np.testing.assert_allclose(out, np.exp(x.astype(np.float64)), rtol=2e-7)


def _head(rng, N, nz, k, done):
    y = (rng.standard_normal((N, 3 * nz * k + done)) * 2).astype(np.float32)
    b = (rng.standard_normal(3 * nz * k + done) * 0.5).astype(np.float32)
    return y, b


@pytest.mark.parametrize("N,tau,done", [(1, 1.0, 1), (50, 1.15, 1), (300, 0.5, 0), (300, 2.0, 1)])
def test_mdn_sample_kernel_equals_numpy_twin(N, tau, done):
    rng = np.random.default_rng(N)
    nz, k = 8, 5
    y, b = _head(rng, N, nz, k, done)
    u = rng.random((N, nz), dtype=np.float32)
    eps = rng.standard_normal((N, nz), dtype=np.float32)
    z, done_logit = np.empty((N, nz), np.float32), np.empty(N, np.float32)
    n_done = K.mdn_sample(y, b, nz, k, tau, u, eps, z, done_logit)
    z_ref, done_ref = K.mdn_sample_numpy(y, b, nz, k, tau, u, eps)
    np.testing.assert_allclose(z, z_ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(done_logit, done_ref, atol=1e-6)
    assert n_done == (done_ref > 0).sum()


def test_mdn_sample_writes_into_strided_rows():
    # The dream samples z' straight into the first columns of its state buffer.
    rng = np.random.default_rng(3)
    y, b = _head(rng, 10, 4, 5, 1)
    u, eps = rng.random((10, 4), dtype=np.float32), rng.standard_normal((10, 4), dtype=np.float32)
    buf = np.full((10, 9), 7.0, np.float32)
    K.mdn_sample(y, b, 4, 5, 1.0, u, eps, buf, np.empty(10, np.float32), col=3)
    np.testing.assert_allclose(buf[:, 3:7], K.mdn_sample_numpy(y, b, 4, 5, 1.0, u, eps)[0], rtol=1e-5, atol=1e-5)
    assert (buf[:, :3] == 7.0).all() and (buf[:, 7:] == 7.0).all()


def _mixture_moments(y, nz, k, tau):
    # Mean and variance of each dimension's mixture at temperature tau, from the formulas.
    logpi, mu, logsigma, _ = K.mdn_head(y.astype(np.float64), nz, k, tau)
    pi, var = np.exp(logpi[0]), np.exp(2 * logsigma[0])
    mean = (pi * mu[0]).sum(-1)
    return mean, (pi * (var + mu[0] ** 2)).sum(-1) - mean ** 2


@pytest.mark.parametrize("tau", [0.5, 1.0, 1.6])
def test_mixture_samples_match_mixture_moments(tau):
    rng = np.random.default_rng(11)
    nz, k, N = 3, 5, 200_000
    y = np.zeros((1, 3 * nz * k), np.float32)
    y[0, :nz * k] = rng.standard_normal(nz * k) * 1.5                 # logits
    y[0, nz * k:2 * nz * k] = rng.standard_normal(nz * k) * 3.0       # mu: well separated
    y[0, 2 * nz * k:] = rng.uniform(-1.5, 0.0, nz * k)                # logsigma
    b = np.zeros(3 * nz * k, np.float32)
    z, d = np.empty((N, nz), np.float32), np.empty(N, np.float32)
    K.mdn_sample(np.repeat(y, N, 0), b, nz, k, tau, rng.random((N, nz), dtype=np.float32),
                 rng.standard_normal((N, nz), dtype=np.float32), z, d)
    mean, var = _mixture_moments(y, nz, k, tau)
    np.testing.assert_array_less(np.abs(z.mean(0) - mean), 5 * np.sqrt(var / N))
    np.testing.assert_allclose(z.var(0), var, rtol=0.03)


def test_temperature_flattens_weights_and_widens_components():
    # tau scales the logits by 1/tau and sigma by sqrt(tau): the formulas, then their effect.
    rng = np.random.default_rng(5)
    nz, k = 4, 5
    y, b = _head(rng, 3, nz, k, 0)
    lp1, mu1, ls1, _ = K.mdn_head(y + b, nz, k, 1.0)
    lp2, mu2, ls2, _ = K.mdn_head(y + b, nz, k, 2.0)
    logits = (y + b)[:, :nz * k].reshape(3, nz, k)
    expect = logits / 2.0 - np.log(np.exp(logits / 2.0).sum(-1, keepdims=True))
    np.testing.assert_allclose(lp2, expect, atol=1e-5)
    np.testing.assert_allclose(np.exp(ls2), np.exp(ls1) * np.sqrt(2.0), rtol=1e-5)
    np.testing.assert_array_equal(mu1, mu2)
    entropy = lambda lp: -(np.exp(lp) * lp).sum(-1)
    assert (entropy(lp2) > entropy(lp1)).all()
    np.testing.assert_allclose(np.exp(lp1).sum(-1), 1.0, rtol=1e-5)
