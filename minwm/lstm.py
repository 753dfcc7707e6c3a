"""The LSTM over a whole sequence, with hand-written backpropagation through time.

One gate order and one weight layout, stated once and used by the forward, the backward, the
Numba inference kernel and the saved weights:

    gates = x_t @ wx + h_{t-1} @ wh + b          wx (D, 4H), wh (H, 4H), b (4H,)
    i, f, g, o = gates[:, 0:H], [H:2H], [2H:3H], [3H:4H]
    i, f, o = sigmoid(.), g = tanh(.)
    c_t = f * c_{t-1} + i * g
    h_t = o * tanh(c_t)

Reset mask: where reset[n, t] = 1 (the first frame of a new episode inside a Doom training
sequence) the incoming state (h_{t-1}, c_{t-1}) of row n is zeroed before the step, so no
memory leaks across episodes. The gradient of that zeroing is zero, handled the same way.

Batch-first at the interface (N, T, .), time-major inside so each step touches contiguous rows.
The input projection x @ wx and the weight gradients are one large matmul over all T steps; only
h @ wh must run step by step; its gate math runs in place on preallocated buffers.
"""
import numpy as np
from numba import njit


def _cell_forward(gates, c_prev, act, c, tanh_c, h):
    """gates (N, 4H) pre-activations -> act (N, 4H) = [i, f, g, o]; c, tanh_c, h (N, H); in place.

    NumPy, not Numba: its SIMD float32 exp/tanh are ~10x faster than scalar libm calls in a loop."""
    H = c.shape[1]
    for lo, hi in ((0, 2 * H), (3 * H, 4 * H)):              # i, f and o: sigmoid
        a = act[:, lo:hi]
        np.negative(gates[:, lo:hi], out=a)
        np.exp(a, out=a)
        a += 1
        np.reciprocal(a, out=a)
    np.tanh(gates[:, 2 * H:3 * H], out=act[:, 2 * H:3 * H])  # g: tanh
    np.multiply(act[:, H:2 * H], c_prev, out=c)              # c = f * c_prev + i * g
    c += act[:, :H] * act[:, 2 * H:3 * H]
    np.tanh(c, out=tanh_c)
    np.multiply(act[:, 3 * H:], tanh_c, out=h)               # h = o * tanh(c)


@njit(cache=True, fastmath=True)
def _cell_backward(dh, dc, act, c_prev, tanh_c, dgates):
    """dh, dc (N, H): gradients reaching h_t and c_t. Writes dgates (N, 4H) (pre-activation) and
    overwrites dc with the gradient reaching c_{t-1}. Pure arithmetic: one fused Numba loop."""
    N, H = dh.shape
    one = dh.dtype.type(1)
    for n in range(N):
        a, d = act[n], dgates[n]
        for j in range(H):
            i, f, g, o = a[j], a[H + j], a[2 * H + j], a[3 * H + j]
            tc = tanh_c[n, j]
            dct = dc[n, j] + dh[n, j] * o * (one - tc * tc)
            d[j] = dct * g * i * (one - i)                     # d i
            d[H + j] = dct * c_prev[n, j] * f * (one - f)      # d f
            d[2 * H + j] = dct * i * (one - g * g)             # d g
            d[3 * H + j] = dh[n, j] * tc * o * (one - o)       # d o
            dc[n, j] = dct * f


def lstm_forward(x, h0, c0, wx, wh, b, reset=None):
    """x (N, T, D), h0 c0 (N, H), wx (D, 4H), wh (H, 4H), b (4H,), reset (N, T) of 0/1 or None
    -> hs (N, T, H), hT (N, H), cT (N, H), cache."""
    N, T, D = x.shape
    H = wh.shape[0]
    dt = x.dtype
    xs = np.ascontiguousarray(x.transpose(1, 0, 2))          # (T, N, D)
    gx = (xs.reshape(T * N, D) @ wx).reshape(T, N, 4 * H)    # (T, N, 4H) input part of the gates
    gx += b
    keep = (np.ones((T, N, 1), dt) if reset is None
            else (1 - np.asarray(reset, dt)).T[:, :, None])  # (T, N, 1) 0 where state is zeroed
    h_prev = np.empty((T, N, H), dt)   # the (masked) state each step actually saw
    c_prev = np.empty((T, N, H), dt)
    act = np.empty((T, N, 4 * H), dt)
    tanh_c = np.empty((T, N, H), dt)
    hs = np.empty((T, N, H), dt)
    h, c = h0.astype(dt), c0.astype(dt)
    for t in range(T):
        h_prev[t] = h * keep[t]
        c_prev[t] = c * keep[t]
        gates = gx[t]
        gates += h_prev[t] @ wh                              # (N, 4H)
        c = np.empty((N, H), dt)
        _cell_forward(gates, c_prev[t], act[t], c, tanh_c[t], hs[t])
        h = hs[t]
    cache = (xs, keep, h_prev, c_prev, act, tanh_c, wx, wh)
    return hs.transpose(1, 0, 2), h.copy(), c, cache


def lstm_backward(dhs, dhT, dcT, cache):
    """dhs (N, T, H), dhT dcT (N, H) or None -> dx (N, T, D), dh0, dc0 (N, H), dwx, dwh, db."""
    xs, keep, h_prev, c_prev, act, tanh_c, wx, wh = cache
    T, N, D = xs.shape
    H = wh.shape[0]
    dt = xs.dtype
    dhs = np.ascontiguousarray(dhs.transpose(1, 0, 2))       # (T, N, H)
    dh_next = np.zeros((N, H), dt) if dhT is None else dhT.astype(dt)
    dc = np.zeros((N, H), dt) if dcT is None else dcT.astype(dt).copy()
    dgates = np.empty((T, N, 4 * H), dt)
    for t in range(T - 1, -1, -1):
        dh = dhs[t] + dh_next
        _cell_backward(dh, dc, act[t], c_prev[t], tanh_c[t], dgates[t])
        dh_next = (dgates[t] @ wh.T) * keep[t]               # (N, H) through the reset mask
        dc *= keep[t]
    dg2 = dgates.reshape(T * N, 4 * H)
    dwx = xs.reshape(T * N, D).T @ dg2                       # (D, 4H)
    dwh = h_prev.reshape(T * N, H).T @ dg2                   # (H, 4H)
    db = dg2.sum(axis=0)
    dx = (dg2 @ wx.T).reshape(T, N, D).transpose(1, 0, 2)    # (N, T, D)
    return dx, dh_next, dc, dwx, dwh, db
