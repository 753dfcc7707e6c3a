"""The Numba kernels of M's training (minwm.train_kernels) equal their NumPy twins, and the float32
training step (Numba) equals the float64 one the finite-difference checks run (NumPy twins)."""
import numpy as np
import pytest

from minwm import lstm, mdnrnn
from minwm import train_kernels as TK
from minwm.kernels import dropout_keep
from minwm.optim import Adam, clip_grad_value


@pytest.mark.parametrize("N, H", [(1, 3), (7, 16), (64, 33)])
def test_cell_forward_kernel_equals_numpy_twin(N, H):
    rng = np.random.default_rng(N)
    gx, hw = (rng.standard_normal((N, 4 * H)).astype(np.float32) * 2 for _ in range(2))
    b, c_prev = rng.standard_normal(4 * H).astype(np.float32), rng.standard_normal((N, H)).astype(np.float32)
    outs = []
    for fn in (TK.lstm_cell_forward, TK.lstm_cell_forward_numpy):
        gates, c, tanh_c, h = gx.copy(), *(np.empty((N, H), np.float32) for _ in range(3))
        fn(gates, hw, b, c_prev, c, tanh_c, h)
        outs.append((gates, c, tanh_c, h))
    for fast, ref in zip(*outs):
        np.testing.assert_allclose(fast, ref, atol=2e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cell_backward_kernel_equals_numpy_twin(dtype):
    rng = np.random.default_rng(1)
    N, H = 9, 17
    act = rng.uniform(0.05, 0.95, (N, 4 * H)).astype(dtype)
    dh_out, dh_next, dc, c_prev, tanh_c = (rng.standard_normal((N, H)).astype(dtype) for _ in range(5))
    keep = (rng.random(N) < 0.7).astype(dtype)
    outs = []
    for fn in (TK.lstm_cell_backward, TK.lstm_cell_backward_numpy):
        a, d = act.copy(), dc.copy()
        fn(dh_out, dh_next, keep, d, a, c_prev, tanh_c)
        outs.append((a, d))
    for fast, ref in zip(*outs):
        np.testing.assert_allclose(fast, ref, rtol=1e-5 if dtype == np.float32 else 1e-13, atol=1e-7)


@pytest.mark.parametrize("nz, k", [(3, 5), (32, 5), (7, 2)])
def test_mdn_loss_kernel_equals_numpy_twin(nz, k):
    rng = np.random.default_rng(nz)
    R = 50
    y = rng.standard_normal((R, 3 * nz * k + 1)).astype(np.float32) * 2
    z = rng.standard_normal((R, nz)).astype(np.float32) * 2
    wz = rng.random(R).astype(np.float32) * (rng.random(R) < 0.8)          # some rows masked out
    dy, dy_ref = np.full_like(y, np.nan), np.empty(y.shape)
    loss = TK.mdn_loss(y, z, wz, nz, k, dy)
    loss_ref = TK.mdn_loss_numpy(y.astype(float), z.astype(float), wz.astype(float), nz, k, dy_ref)
    np.testing.assert_allclose(loss, loss_ref, rtol=1e-5)
    zk3 = 3 * nz * k
    np.testing.assert_allclose(dy[:, :zk3], dy_ref[:, :zk3], rtol=1e-4, atol=1e-5 * np.abs(dy_ref).max())
    assert np.isnan(dy[:, zk3:]).all()                                    # the done column: not its job


def test_head_loss_same_in_time_major_and_batch_major_layout():
    rng = np.random.default_rng(2)
    cfg = mdnrnn.MDNRNNConfig(nz=4, na=1, hidden=8, restart=True, done=True)
    y_tm = rng.standard_normal((6, 3, cfg.n_out)).astype(np.float32)       # (T, N, n_out) storage
    z_next, done, mask = rng.standard_normal((3, 6, 4)), rng.random((3, 6)) < 0.3, rng.random((3, 6)) < 0.8
    a = mdnrnn.head_loss_forward(y_tm.transpose(1, 0, 2), cfg, z_next, done, mask)
    b = mdnrnn.head_loss_forward(np.ascontiguousarray(y_tm.transpose(1, 0, 2)), cfg, z_next, done, mask)
    np.testing.assert_allclose(a[:2], b[:2], rtol=1e-6)
    np.testing.assert_allclose(a[2], b[2], rtol=1e-5, atol=1e-9)


def test_lstm_backward_consumes_its_cache():
    rng = np.random.default_rng(3)
    x, h0, c0 = rng.standard_normal((2, 3, 4)), np.zeros((2, 5)), np.zeros((2, 5))
    wx, wh, b = rng.standard_normal((4, 20)), rng.standard_normal((5, 20)), np.zeros(20)
    hs, _, _, cache = lstm.lstm_forward(x, h0, c0, wx, wh, b)
    lstm.lstm_backward(np.ones_like(hs), None, None, cache)
    with pytest.raises(AssertionError, match="consumes"):
        lstm.lstm_backward(np.ones_like(hs), None, None, cache)


def _train(dtype, steps=5, dropout=0.0):
    # Doom's M at toy size, every path: restart mask, done head, loss mask, carried state (and
    # Dropout's Dream Land's masks, drawn from their own generator: the same in both precisions)
    rng, rng_keep = np.random.default_rng(4), np.random.default_rng(5)
    cfg = mdnrnn.MDNRNNConfig(nz=6, na=1, hidden=16, restart=True, done=True)
    p = mdnrnn.init_params(cfg, rng, dtype=dtype)
    opt, carry = Adam(p.values(), lr=1e-3), [np.zeros((4, 16), dtype)] * 2
    for _ in range(steps):
        z = rng.standard_normal((4, 13, 6)).astype(dtype)
        a = rng.uniform(-1, 1, (4, 12, 1)).astype(dtype)
        restart, done, mask = (rng.random((3, 4, 12)) < [[[0.1]], [[0.1]], [[0.9]]]).astype(dtype)
        opt.zero_grad()
        keep = dropout_keep(rng_keep, (4, 6 + 16), dropout).astype(dtype) if dropout else None
        mdnrnn.loss(p, cfg, z, a, restart, done, mask, carry, keep)[0].backward()
        clip_grad_value(p.values(), 1.0)
        opt.step()
    return {k: t.data for k, t in p.items()}, carry


def test_float32_training_steps_equal_the_float64_ones():
    # float32 runs the Numba kernels, float64 the NumPy twins the finite-difference checks cover
    (p32, c32), (p64, c64) = _train(np.float32), _train(np.float64)
    for k in p64:
        np.testing.assert_allclose(p32[k], p64[k], rtol=1e-3, atol=1e-5, err_msg=k)
    np.testing.assert_allclose(c32[0], c64[0], rtol=1e-3, atol=1e-5)


def test_float32_training_steps_with_dropout_equal_the_float64_ones():
    (p32, c32), (p64, c64) = _train(np.float32, dropout=0.2), _train(np.float64, dropout=0.2)
    (p0, _) = _train(np.float32)
    for k in p64:
        np.testing.assert_allclose(p32[k], p64[k], rtol=1e-3, atol=1e-5, err_msg=k)
    np.testing.assert_allclose(c32[0], c64[0], rtol=1e-3, atol=1e-5)
    assert np.abs(p32["lstm.wh"] - p0["lstm.wh"]).max() > 1e-4      # the masks changed the steps
