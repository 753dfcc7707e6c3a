"""Every backward pass of the autograd core against centred finite differences, in float64."""
import numpy as np
import pytest
from gradcheck import check_direction, check_grads, rel_error

from minwm import autograd as ag
from minwm import ops, vae
from minwm.autograd import concat, no_grad, tensor

F64 = np.float64


def rand(rng, *shape, lo=None):
    x = rng.standard_normal(shape)
    if lo is not None:  # keep inputs away from kinks / the domain edge
        x = np.sign(x) * (np.abs(x) + lo)
    return tensor(x, True, F64)


def weighted(out, rng):
    """Turn any output into a scalar with random weights, so every element's gradient matters."""
    w = rng.standard_normal(out.shape)
    return lambda o: (o * w).sum()


@pytest.mark.parametrize("name, fn, domain", [
    ("add", lambda a, b: a + b, None), ("sub", lambda a, b: a - b, None),
    ("mul", lambda a, b: a * b, None), ("div", lambda a, b: a / b, 0.5),
])
def test_binary_ops_with_broadcasting(name, fn, domain):
    rng = np.random.default_rng(0)
    for sa, sb in [((3, 4), (3, 4)), ((2, 3, 4), (4,)), ((3, 1), (1, 4)), ((2, 3, 4), (3, 1))]:
        a, b = rand(rng, *sa), rand(rng, *sb, lo=domain)
        w = weighted(fn(a, b), rng)
        check_grads(lambda w=w, a=a, b=b: w(fn(a, b)), [a, b])


@pytest.mark.parametrize("name, fn, domain", [
    ("relu", lambda x: x.relu(), 0.1), ("sigmoid", lambda x: x.sigmoid(), None),
    ("tanh", lambda x: x.tanh(), None), ("exp", lambda x: x.exp(), None),
    ("log", lambda x: (x * x).log(), 0.3), ("softplus", lambda x: x.softplus(), None),
    ("pow", lambda x: x ** 3, None), ("neg_rsub", lambda x: 2.0 - x, None),
    ("rtruediv", lambda x: 1.0 / x, 0.5), ("clamp_min", lambda x: x.clamp_min(0.2), 0.3),
    ("sum_axis", lambda x: x.sum(axis=1), None), ("sum_keep", lambda x: x.sum(axis=0, keepdims=True), None),
    ("mean_axes", lambda x: x.mean(axis=(0, 2)), None), ("mean_all", lambda x: x.mean(), None),
    ("logsumexp", lambda x: x.logsumexp(axis=-1), None),
    ("logsumexp_keep", lambda x: x.logsumexp(axis=1, keepdims=True), None),
    ("reshape", lambda x: x.reshape(4, 6), None), ("transpose", lambda x: x.transpose(2, 0, 1), None),
    ("slice", lambda x: x[:, 1:3, ::2], None), ("fancy_index", lambda x: x[[0, 1, 0]], None),
])
def test_unary_ops(name, fn, domain):
    rng = np.random.default_rng(1)
    x = rand(rng, 2, 3, 4, lo=domain)
    w = weighted(fn(x), rng)
    check_grads(lambda: w(fn(x)), [x])


def test_matmul_and_concat():
    rng = np.random.default_rng(2)
    a, b, c = rand(rng, 2, 3, 4), rand(rng, 4, 5), rand(rng, 2, 3, 2)
    w = weighted(concat([a @ b, c], axis=-1), rng)
    check_grads(lambda: w(concat([a @ b, c], axis=-1)), [a, b, c])


def test_losses():
    rng = np.random.default_rng(3)
    x, t = rand(rng, 3, 4, 4, 2), rng.random((3, 4, 4, 2))
    check_grads(lambda: ag.squared_error(x, t, axis=(1, 2, 3)).sum(), [x])
    mu, logvar = rand(rng, 3, 5), rand(rng, 3, 5)
    check_grads(lambda: (ag.gaussian_kl(mu, logvar) * np.arange(1.0, 4.0)).sum(), [mu, logvar])
    logits, y = rand(rng, 4, 6), (rng.random((4, 6)) < 0.3).astype(F64)
    check_grads(lambda: ag.bce_with_logits(logits, y, pos_weight=10.0).sum(), [logits])


def test_loss_values_match_formulas():
    rng = np.random.default_rng(4)
    mu, logvar = rng.standard_normal((3, 5)), rng.standard_normal((3, 5))
    kl = ag.gaussian_kl(tensor(mu, dtype=F64), tensor(logvar, dtype=F64)).data
    np.testing.assert_allclose(kl, -0.5 * np.sum(1 + logvar - mu ** 2 - np.exp(logvar), axis=-1))
    x, y = rng.standard_normal(7) * 3, (rng.random(7) < 0.5).astype(F64)
    bce = ag.bce_with_logits(tensor(x, dtype=F64), y, pos_weight=10.0).data
    p = 1 / (1 + np.exp(-x))
    ref = -(1 + 9 * y) * (y * np.log(p) + (1 - y) * np.log1p(-p))
    np.testing.assert_allclose(bce, ref, rtol=1e-9)
    far = ag.bce_with_logits(tensor(np.array([-800.0, 800.0]), dtype=F64), np.array([1.0, 0.0])).data
    np.testing.assert_allclose(far, [800.0, 800.0])  # stable where the naive formula overflows
    big = tensor(np.array([[1000.0, 0.0]]), dtype=F64)
    assert np.isclose(float(big.logsumexp(axis=-1).data[0]), 1000.0)


def test_reused_node_gets_both_contributions():
    # b = a + a; c = b * b  ->  dc/da = 8a (the case that broke early micrograd)
    a = tensor(np.array([1.5, -2.0, 0.3]), True, F64)
    b = a + a
    (b * b).sum().backward()
    np.testing.assert_allclose(a.grad, 8 * a.data)
    x = rand(np.random.default_rng(5), 3, 3)
    check_grads(lambda: ((x @ x) * x.tanh() + x).sum(), [x])


def test_no_grad_records_no_graph():
    x = tensor(np.ones(3), True, F64)
    with no_grad():
        y = (x * 2).exp()
    assert not y.requires_grad and y._parents == ()
    assert (x * 2).requires_grad


# ---- conv and transposed conv ----

CONV_CASES = [  # (N, H, W, C, F, k, stride): odd and even sizes, kernels 4/5/6, strides 1-3
    (2, 9, 8, 3, 4, 4, 2), (2, 11, 11, 2, 3, 5, 2), (3, 12, 13, 2, 2, 6, 2),
    (2, 7, 6, 3, 2, 4, 1), (2, 10, 9, 2, 3, 5, 3), (2, 6, 6, 4, 5, 6, 1),
]


@pytest.mark.parametrize("relu", [False, True])             # True: the ReLU fused into the layer
@pytest.mark.parametrize("N, H, W, C, F, k, s", CONV_CASES)
def test_conv2d_grad(N, H, W, C, F, k, s, relu):
    rng = np.random.default_rng(6)
    x, w, b = rand(rng, N, H, W, C), rand(rng, k, k, C, F), rand(rng, F)
    fwd = lambda: ag.conv2d(x, w, b, s, relu)
    wt = weighted(fwd(), rng)
    check_grads(lambda: wt(fwd()), [x, w, b])


@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("N, H, W, C, F, k, s", CONV_CASES)
def test_conv_transpose2d_grad(N, H, W, C, F, k, s, relu):
    rng = np.random.default_rng(7)
    h, wd = (H - k) // s + 1, (W - k) // s + 1  # a small input of the deconv
    x, w, b = rand(rng, N, h, wd, F), rand(rng, F, k, k, C), rand(rng, C)
    fwd = lambda: ag.conv_transpose2d(x, w, b, s, relu)
    wt = weighted(fwd(), rng)
    check_grads(lambda: wt(fwd()), [x, w, b])


@pytest.mark.parametrize("N, H, W, C, F, k, s", CONV_CASES + [(3, 64, 64, 3, 32, 4, 2)])
def test_conv_transpose_is_adjoint_of_conv(N, H, W, C, F, k, s):
    # <conv(x), y> == <x, conv_t(y)> with w_t = w.transpose(3, 0, 1, 2), in float64
    rng = np.random.default_rng(8)
    H, W = (H - k) // s * s + k, (W - k) // s * s + k  # sizes the strided conv covers exactly
    x, w = rng.standard_normal((N, H, W, C)), rng.standard_normal((k, k, C, F))
    cx, _ = ops.conv2d_forward(x, w, np.zeros(F), s)
    y = rng.standard_normal(cx.shape)
    ty, _ = ops.conv_transpose2d_forward(y, w.transpose(3, 0, 1, 2), np.zeros(C), s)
    assert ty.shape == x.shape
    lhs, rhs = np.vdot(cx, y), np.vdot(x, ty)
    assert abs(lhs - rhs) <= 1e-12 * (abs(lhs) + np.abs(cx).sum() * np.abs(y).max())


def test_gradcheck_catches_a_broken_backward(monkeypatch):
    # The checks must fail when a backward pass is wrong: break conv2d's weight gradient on purpose.
    rng = np.random.default_rng(9)
    x, w, b = rand(rng, 2, 6, 6, 2), rand(rng, 4, 4, 2, 3), rand(rng, 3)
    real = ops.conv2d_backward
    def broken(dout, cache, need_dx=True):
        dx, dw, db = real(dout, cache, need_dx)
        return dx, dw * 1.01, db
    monkeypatch.setattr(ops, "conv2d_backward", broken)
    with pytest.raises(AssertionError, match="gradient"):
        check_grads(lambda: ag.conv2d(x, w, b, 2).sum(), [w])


# ---- LSTM ----

def test_lstm_grad_with_resets_and_state():
    rng = np.random.default_rng(10)
    N, T, D, H = 3, 5, 4, 3
    x, h0, c0 = rand(rng, N, T, D), rand(rng, N, H), rand(rng, N, H)
    wx, wh, b = rand(rng, D, 4 * H), rand(rng, H, 4 * H), rand(rng, 4 * H)
    reset = np.array([[0, 0, 1, 0, 0], [1, 0, 0, 0, 1], [0, 0, 0, 0, 0]], F64)
    U, u1, u2 = rng.standard_normal((N, T, H)), rng.standard_normal((N, H)), rng.standard_normal((N, H))
    def f():
        hs, hT, cT = ag.lstm(x, h0, c0, wx, wh, b, reset)
        return (hs * U).sum() + (hT * u1).sum() + (cT * u2).sum()
    check_grads(f, [x, h0, c0, wx, wh, b])


def test_lstm_grad_with_recurrent_dropout():
    # Dropout's Dream Land: h_{t-1} * keep_h into the gates, one mask for all steps; its backward
    # is the same multiply (per element, with resets and a carried-in state)
    rng = np.random.default_rng(14)
    N, T, D, H = 3, 5, 4, 3
    x, h0, c0 = rand(rng, N, T, D), rand(rng, N, H), rand(rng, N, H)
    wx, wh, b = rand(rng, D, 4 * H), rand(rng, H, 4 * H), rand(rng, 4 * H)
    reset = np.array([[0, 0, 1, 0, 0], [1, 0, 0, 0, 1], [0, 0, 0, 0, 0]], F64)
    keep_h = np.array([[2, 0, 2], [0, 2, 2], [2, 2, 0]], F64)          # rate 0.5: 0 or 1 / 0.5
    U, u1, u2 = rng.standard_normal((N, T, H)), rng.standard_normal((N, H)), rng.standard_normal((N, H))
    def f(keep=keep_h):
        hs, hT, cT = ag.lstm(x, h0, c0, wx, wh, b, reset, keep)
        return (hs * U).sum() + (hT * u1).sum() + (cT * u2).sum()
    check_grads(f, [x, h0, c0, wx, wh, b])
    with no_grad():                                   # the mask acts, and a mask of ones is no mask
        assert abs(float(f().data) - float(f(None).data)) > 1e-3
        assert float(f(np.ones((N, H))).data) == float(f(None).data)
    # a dropped unit of h_{t-1} never reaches the gates: row 0's wh row 1 gets no gradient from it
    for t in (wx, wh, b, x, h0, c0):
        t.grad = None
    ag.lstm(x, h0, c0, wx, wh, b, None, keep_h)[0][:1].sum().backward()
    assert np.all(wh.grad[1] == 0) and np.all(h0.grad[0, 1] == 0) and np.any(wh.grad[0] != 0)


def test_lstm_reset_zeroes_state():
    rng = np.random.default_rng(11)
    N, T, D, H = 2, 6, 3, 4
    x, h0, c0 = rand(rng, N, T, D), rand(rng, N, H), rand(rng, N, H)
    wx, wh, b = rand(rng, D, 4 * H), rand(rng, H, 4 * H), rand(rng, 4 * H)
    reset = np.zeros((N, T)); reset[:, 3] = 1
    zero = tensor(np.zeros((N, H)), dtype=F64)
    with no_grad():
        hs, _, _ = ag.lstm(x, h0, c0, wx, wh, b, reset)
        fresh, _, _ = ag.lstm(x[:, 3:], zero, zero, wx, wh, b)  # a new episode from step 3
    np.testing.assert_allclose(hs.data[:, 3:], fresh.data, atol=1e-14)
    # and a gradient never crosses the reset: earlier inputs do not affect later outputs
    f = lambda: ag.lstm(x, h0, c0, wx, wh, b, reset)[0][:, 3:].sum()
    f().backward()
    assert np.all(x.grad[:, :3] == 0) and np.all(h0.grad == 0) and np.any(x.grad[:, 3:] != 0)


def test_lstm_512_units_random_direction():
    rng = np.random.default_rng(12)
    N, T, D, H = 4, 8, 66, 512
    x, h0, c0 = rand(rng, N, T, D), rand(rng, N, H), rand(rng, N, H)
    wx = tensor(rng.standard_normal((D, 4 * H)) * 0.1, True, F64)
    wh = tensor(rng.standard_normal((H, 4 * H)) * 0.05, True, F64)
    b = rand(rng, 4 * H)
    reset = (rng.random((N, T)) < 0.2).astype(F64)
    U = rng.standard_normal((N, T, H))
    def f():
        hs, _, cT = ag.lstm(x, h0, c0, wx, wh, b, reset)
        return (hs * U).sum() + (cT * cT).sum()
    check_direction(f, [x, h0, c0, wx, wh, b], rng)


# ---- the paper's V at full size ----

@pytest.mark.parametrize("nz", [32, 64])
def test_vae_full_size_random_direction(nz):
    rng = np.random.default_rng(13)
    cfg = vae.VAEConfig(nz=nz)
    p = vae.init_params(cfg, rng, dtype=F64)
    x = tensor(rng.random((2, 64, 64, 3)), True, F64)  # x's gradient exercises conv1's input path
    def f():  # the same eps each call: a deterministic function of the parameters
        return vae.loss(p, cfg, x, np.random.default_rng(0))[0]
    assert vae.decode(p, vae.encode(p, x)[0]).shape == (2, 64, 64, 3)
    # thousands of ReLUs sit near 0 at full size: a tiny step keeps kink crossings out of the
    # difference quotient (eps 1e-4 gives ~1e-2 "errors" that shrink with eps: kinks, not bugs)
    check_direction(f, [x] + list(p.values()), rng, eps=1e-8, tol=1e-5)


def test_rel_error_helper():
    assert rel_error(np.array([1.0]), np.array([1.0])) == 0
    assert rel_error(np.array([1.0]), np.array([1.1])) > 1e-2
