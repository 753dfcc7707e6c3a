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
h @ wh must run step by step. The gate math of one step is a fused Numba loop.
"""
import numpy as np
from numba import njit


@njit(cache=True)
def _cell_forward(gates, c_prev, act, c, tanh_c, h):
    # gates (N, 4H) pre-activations in, act (N, 4H) activations out; c, tanh_c, h (N, H) out
    N, H = c_prev.shape
    for n in range(N):
        for j in range(H):
            i = 1.0 / (1.0 + np.exp(-gates[n, j]))
            f = 1.0 / (1.0 + np.exp(-gates[n, H + j]))
            g = np.tanh(gates[n, 2 * H + j])
            o = 1.0 / (1.0 + np.exp(-gates[n, 3 * H + j]))
            act[n, j], act[n, H + j], act[n, 2 * H + j], act[n, 3 * H + j] = i, f, g, o
            c[n, j] = f * c_prev[n, j] + i * g
            tanh_c[n, j] = np.tanh(c[n, j])
            h[n, j] = o * tanh_c[n, j]


@njit(cache=True)
def _cell_backward(dh, dc, act, c_prev, tanh_c, dgates):
    # dh, dc (N, H): gradients reaching h_t and c_t. Writes dgates (N, 4H) (pre-activation) and
    # overwrites dc with the gradient reaching c_{t-1}.
    N, H = dh.shape
    for n in range(N):
        for j in range(H):
            i, f, g, o = act[n, j], act[n, H + j], act[n, 2 * H + j], act[n, 3 * H + j]
            tc = tanh_c[n, j]
            dct = dc[n, j] + dh[n, j] * o * (1.0 - tc * tc)
            dgates[n, j] = dct * g * i * (1.0 - i)                       # d i
            dgates[n, H + j] = dct * c_prev[n, j] * f * (1.0 - f)        # d f
            dgates[n, 2 * H + j] = dct * i * (1.0 - g * g)               # d g
            dgates[n, 3 * H + j] = dh[n, j] * tc * o * (1.0 - o)         # d o
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
