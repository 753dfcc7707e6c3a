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

Recurrent dropout (Dropout's Dream Land, Wellmer & Kwok 2021, through Keras's LSTM): keep_h (N, H)
multiplies h_{t-1} where it enters h_{t-1} @ wh, one mask per sequence for all T steps; the h_t
passed on to the head and to the next step's cell is not masked. Its gradient is the same multiply.

Batch-first at the interface (N, T, .), time-major inside so each step touches contiguous rows
(hs comes back as an (N, T, H) view of time-major storage, and a gradient arriving in the same
layout is used without a copy). Everything that does not depend on the previous step is one large
matmul over all T steps: the input projection x @ wx, and in the backward dwx, dwh and dx. Only
h @ wh must run step by step, into a preallocated buffer, followed by the fused gate math of
minwm.train_kernels.

Memory: the cache holds the activations [i, f, g, o] (T, N, 4H), written over the input
projection in place, and the backward overwrites them with the gates' gradients: one (T, N, 4H)
array for the whole step, so a cache serves one lstm_backward.
"""
import numpy as np

from minwm.train_kernels import lstm_cell_backward, lstm_cell_forward


def lstm_forward(x, h0, c0, wx, wh, b, reset=None, keep_h=None):
    """x (N, T, D), h0 c0 (N, H), wx (D, 4H), wh (H, 4H), b (4H,), reset (N, T) of 0/1 or None,
    keep_h (N, H) recurrent dropout mask or None -> hs (N, T, H), hT (N, H), cT (N, H), cache."""
    N, T, D = x.shape
    H = wh.shape[0]
    dt = x.dtype
    xs = np.ascontiguousarray(x.transpose(1, 0, 2))          # (T, N, D)
    act = (xs.reshape(T * N, D) @ wx).reshape(T, N, 4 * H)   # (T, N, 4H) x_t @ wx, then activations
    keep = (np.ones((T, N), dt) if reset is None
            else np.ascontiguousarray((1 - np.asarray(reset, dt)).T))  # (T, N) 0 where state is zeroed
    h_prev = np.empty((T, N, H), dt)   # the (masked) state each step actually saw
    c_prev = np.empty((T, N, H), dt)
    tanh_c = np.empty((T, N, H), dt)
    hs = np.empty((T, N, H), dt)
    hw = np.empty((N, 4 * H), dt)      # h_{t-1} @ wh, one buffer for every step
    h, c = h0.astype(dt), c0.astype(dt)                      # c: a copy, updated in place
    for t in range(T):
        np.multiply(h, keep[t, :, None], out=h_prev[t])
        if keep_h is not None:
            h_prev[t] *= keep_h                              # recurrent dropout
        np.multiply(c, keep[t, :, None], out=c_prev[t])
        np.matmul(h_prev[t], wh, out=hw)                     # (N, 4H)
        lstm_cell_forward(act[t], hw, b, c_prev[t], c, tanh_c[t], hs[t])
        h = hs[t]
    cache = [xs, keep, keep_h, h_prev, c_prev, act, tanh_c, wx, wh]
    return hs.transpose(1, 0, 2), h.copy(), c, cache


def lstm_backward(dhs, dhT, dcT, cache, need_dx=True):
    """dhs (N, T, H), dhT dcT (N, H) or None -> dx (N, T, D) (None unless need_dx), dh0, dc0 (N, H),
    dwx, dwh, db. Consumes the cache (its activations become the gates' gradients)."""
    assert cache, "lstm_backward consumes its cache: run lstm_forward again"
    xs, keep, keep_h, h_prev, c_prev, act, tanh_c, wx, wh = cache
    cache.clear()
    T, N, D = xs.shape
    H = wh.shape[0]
    dt = xs.dtype
    dhs = np.ascontiguousarray(dhs.transpose(1, 0, 2), dt)   # (T, N, H), no copy if time-major
    dh_next = np.zeros((N, H), dt) if dhT is None else dhT.astype(dt)
    dc = np.zeros((N, H), dt) if dcT is None else dcT.astype(dt)
    dgates = act                                             # (T, N, 4H), filled step by step
    for t in range(T - 1, -1, -1):
        lstm_cell_backward(dhs[t], dh_next, keep[t], dc, dgates[t], c_prev[t], tanh_c[t])
        np.matmul(dgates[t], wh.T, out=dh_next)              # (N, H) gradient reaching h_prev[t]
        dh_next *= keep[t, :, None]                          # ... and h_{t-1}, through the reset mask
        if keep_h is not None:
            dh_next *= keep_h                                # ... and the dropout mask
    dg2 = dgates.reshape(T * N, 4 * H)
    dwx = xs.reshape(T * N, D).T @ dg2                       # (D, 4H)
    dwh = h_prev.reshape(T * N, H).T @ dg2                   # (H, 4H)
    db = dg2.sum(axis=0)
    dx = (dg2 @ wx.T).reshape(T, N, D).transpose(1, 0, 2) if need_dx else None  # (N, T, D)
    return dx, dh_next, dc, dwx, dwh, db
