"""Numba kernels for training M, each beside its plain NumPy twin (tests/test_kernels.py: they agree).

Legend: N batch, T time, H LSTM units, Z latent, K mixtures; R = N * T rows of M's output.

The leaves of M's training step where a profile found NumPy making many passes over big arrays:
  - lstm_cell_forward / lstm_cell_backward: the gate math after h @ wh, at each of the T steps of
    minwm.lstm (gate order [i, f, g, o], the layout stated there);
  - mdn_loss: the mixture-density NLL of minwm.mdnrnn and its gradient, in one pass over (R, Z, K),
    instead of ~20 NumPy passes and four cached (R, Z, K) arrays.

Precision. The float32 forward cell uses minwm.kernels' rational tanh (within 5e-7, vectorised;
sigmoid(x) = (1 + tanh(x / 2)) / 2), the same gate math M runs at inference. float64 (the gradient
checks) takes the exact NumPy twin. The backward kernels are pure arithmetic and run in either
precision, so the finite-difference checks in tests/ exercise them directly.
Serial on purpose, as minwm.kernels explains: BLAS owns the cores between these calls.
"""
import math

import numpy as np
from numba import njit

from minwm.kernels import FASTMATH, _exp, _tanh, mdn_head

_jit = dict(cache=True, fastmath=FASTMATH, error_model="numpy", nogil=True)
LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


# ------------------------------------------------------------------------------------ LSTM cell
@njit(**_jit)
def _cell_forward(gates, hw, b, c_prev, c, tanh_c, h):
    # Short passes over one row, each reading and writing few arrays: a single loop writing
    # i, f, g, o, c, tanh_c and h at once has too many possibly-aliased streams for LLVM to
    # vectorise (measured 10x slower). sigmoid(x) = (1 + tanh(x / 2)) / 2, on the vectorised tanh.
    N, H = c.shape
    half = np.float32(0.5)
    for n in range(N):
        a, s, cn, tn = gates[n], hw[n], c[n], tanh_c[n]
        for j in range(4 * H):
            a[j] += s[j] + b[j]                                   # pre-activations
        for j in range(2 * H):
            a[j] = half + half * _tanh(half * a[j])               # i, f
        for j in range(2 * H, 3 * H):
            a[j] = _tanh(a[j])                                    # g
        for j in range(3 * H, 4 * H):
            a[j] = half + half * _tanh(half * a[j])               # o
        cp = c_prev[n]
        for j in range(H):
            cn[j] = a[H + j] * cp[j] + a[j] * a[2 * H + j]        # c = f c_prev + i g
        for j in range(H):
            tn[j] = _tanh(cn[j])
        hn = h[n]
        for j in range(H):
            hn[j] = a[3 * H + j] * tn[j]                          # h = o tanh(c)


def lstm_cell_forward(gates, hw, b, c_prev, c, tanh_c, h):
    """One step's gate math, in place (NumPy twin: lstm_cell_forward_numpy).

    gates (N, 4H): in x_t @ wx, out the activations [i, f, g, o]; hw (N, 4H) = h_{t-1} @ wh;
    b (4H,); c_prev (N, H) = c_{t-1}; out: c (N, H) = f c_prev + i g, tanh_c = tanh(c), h = o tanh_c.
    All C-contiguous (Numba cannot vectorise through strided views)."""
    if gates.dtype != np.float32:
        return lstm_cell_forward_numpy(gates, hw, b, c_prev, c, tanh_c, h)
    assert gates.shape == hw.shape and c.shape == c_prev.shape == tanh_c.shape == h.shape
    _cell_forward(gates, hw, b, c_prev, c, tanh_c, h)


def lstm_cell_forward_numpy(gates, hw, b, c_prev, c, tanh_c, h):
    """The same step with NumPy's exact exp and tanh (the float64 path)."""
    H = c.shape[1]
    gates += hw
    gates += b
    for lo, hi in ((0, 2 * H), (3 * H, 4 * H)):              # i, f and o: sigmoid
        a = gates[:, lo:hi]
        np.negative(a, out=a)
        np.exp(a, out=a)
        a += 1
        np.reciprocal(a, out=a)
    np.tanh(gates[:, 2 * H:3 * H], out=gates[:, 2 * H:3 * H])  # g: tanh
    np.multiply(gates[:, H:2 * H], c_prev, out=c)             # c = f * c_prev + i * g
    c += gates[:, :H] * gates[:, 2 * H:3 * H]
    np.tanh(c, out=tanh_c)
    np.multiply(gates[:, 3 * H:], tanh_c, out=h)              # h = o * tanh(c)


@njit(**_jit)
def lstm_cell_backward(dh_out, dh_next, keep, dc, act, c_prev, tanh_c):
    """One step back, in place (NumPy twin: lstm_cell_backward_numpy).

    dh_out (N, H) gradient reaching h_t from the head, dh_next (N, H) from step t + 1;
    keep (N,) 0 where the state was zeroed before step t; dc (N, H) in: gradient reaching c_t,
    out: gradient reaching c_{t-1}; act (N, 4H) in: [i, f, g, o], out: the gates' gradient
    (pre-activation; same positions, so reading and writing one element at a time is safe)."""
    N, H = dc.shape
    one = dc.dtype.type(1)
    for n in range(N):
        a, dcn, dho, dhn, cp, tcn, kn = act[n], dc[n], dh_out[n], dh_next[n], c_prev[n], tanh_c[n], keep[n]
        for j in range(H):
            i, f, g, o = a[j], a[H + j], a[2 * H + j], a[3 * H + j]
            dh, tc = dho[j] + dhn[j], tcn[j]
            dct = dcn[j] + dh * o * (one - tc * tc)
            a[j] = dct * g * i * (one - i)                     # d i
            a[H + j] = dct * cp[j] * f * (one - f)             # d f
            a[2 * H + j] = dct * i * (one - g * g)             # d g
            a[3 * H + j] = dh * tc * o * (one - o)             # d o
            dcn[j] = dct * f * kn


def lstm_cell_backward_numpy(dh_out, dh_next, keep, dc, act, c_prev, tanh_c):
    H = dc.shape[1]
    i, f, g, o = (act[:, s * H:(s + 1) * H].copy() for s in range(4))
    dh = dh_out + dh_next
    dct = dc + dh * o * (1 - tanh_c ** 2)
    act[:] = np.concatenate([dct * g * i * (1 - i), dct * c_prev * f * (1 - f),
                             dct * i * (1 - g * g), dh * tanh_c * o * (1 - o)], axis=1)
    dc[:] = dct * f * keep[:, None]


# ------------------------------------------------------------------------------ mixture density
@njit(**_jit)
def _mdn_loss(y, z, wz, nz, k, dy):
    # Per row, every pass is a loop over the Z dimensions at once, on (K, Z) scratch (the mixtures
    # transposed from y's (Z, K) layout), so LLVM vectorises it and exp is minwm.kernels' vectorised
    # polynomial; a per-dimension loop over K = 5 would not vectorise (as in the sampler).
    R, zk, f32 = y.shape[0], nz * k, np.float32
    half, log_sqrt_2pi = f32(0.5), f32(LOG_SQRT_2PI)
    logits, u, logsigma = np.empty((k, nz), f32), np.empty((k, nz), f32), np.empty((k, nz), f32)
    e1, inv_sigma, e, x = np.empty((k, nz), f32), np.empty((k, nz), f32), np.empty((k, nz), f32), np.empty((k, nz), f32)
    mx, se, m, s, bits = np.empty(nz, f32), np.empty(nz, f32), np.empty(nz, f32), np.empty(nz, f32), np.empty(k * nz, np.int32)
    total = 0.0
    for r in range(R):
        yr, dr, zr, w = y[r], dy[r], z[r], wz[r]
        if w == 0:
            dr[:3 * zk] = 0
            continue
        for j in range(k):                                        # gather: logits, mu, logsigma (K, Z)
            for d in range(nz):
                logits[j, d], u[j, d], logsigma[j, d] = yr[d * k + j], yr[zk + d * k + j], yr[2 * zk + d * k + j]
        for d in range(nz):                   # a loop: mx[:] = logits[0] would cost ~4 s of compile
            mx[d] = logits[0, d]
        for j in range(1, k):
            for d in range(nz):
                mx[d] = max(mx[d], logits[j, d])
        for j in range(k):
            for d in range(nz):
                x[j, d] = logits[j, d] - mx[d]
        _exp(x.reshape(-1), e1.reshape(-1), bits)                 # e1 = exp(logits - max)
        se[:] = 0
        for j in range(k):
            for d in range(nz):
                se[d] += e1[j, d]
        for j in range(k):
            for d in range(nz):
                x[j, d] = -logsigma[j, d]
        _exp(x.reshape(-1), inv_sigma.reshape(-1), bits)          # 1 / sigma
        for d in range(nz):
            mx[d] += math.log(se[d])                              # logsumexp of the logits
        for j in range(k):
            for d in range(nz):
                u[j, d] = (zr[d] - u[j, d]) * inv_sigma[j, d]     # u = (z - mu) / sigma
                x[j, d] = logits[j, d] - mx[d] - half * u[j, d] * u[j, d] - logsigma[j, d] - log_sqrt_2pi
        for d in range(nz):                                       # x = log pi_j N_j
            m[d] = x[0, d]
        for j in range(1, k):
            for d in range(nz):
                m[d] = max(m[d], x[j, d])
        for j in range(k):
            for d in range(nz):
                x[j, d] -= m[d]
        _exp(x.reshape(-1), e.reshape(-1), bits)                  # e = pi_j N_j / exp(m)
        s[:] = 0
        for j in range(k):
            for d in range(nz):
                s[d] += e[j, d]
        nll = 0.0
        for d in range(nz):
            nll -= m[d] + math.log(s[d])
        total += w * nll
        for d in range(nz):
            s[d], se[d] = w / s[d], w / se[d]
        for j in range(k):
            for d in range(nz):
                wr = e[j, d] * s[d]                               # w r, r the posterior of j
                dr[d * k + j] = e1[j, d] * se[d] - wr             # w (pi - r)
                dr[zk + d * k + j] = -wr * u[j, d] * inv_sigma[j, d]  # -w r u / sigma
                dr[2 * zk + d * k + j] = -wr * (u[j, d] * u[j, d] - 1)  # -w r (u^2 - 1)
    return total


def mdn_loss(y, z, wz, nz, k, dy):
    """Weighted mixture NLL and its gradient in one pass (NumPy twin: mdn_loss_numpy).

    y (R, n_out) M's output rows (n_out >= 3ZK: logits, mu, logsigma, each (Z, K) flattened),
    z (R, Z) targets, wz (R,) weight of each row's Z terms. Returns
        sum_r wz_r sum_j -logsumexp_k(logpi_k - u_k^2 / 2 - logsigma_k - log(2 pi) / 2),
        u_k = (z_j - mu_k) / sigma_k,
    and writes its gradient to dy[:, :3ZK] (R, n_out): w (pi - r), -w r u / sigma, -w r (u^2 - 1)
    with r the posterior over components and w = wz_r."""
    assert y.shape == dy.shape and z.shape == (len(y), nz) and wz.shape == (len(y),)
    if y.dtype != np.float32:                                     # float64: the gradient checks
        return mdn_loss_numpy(y, z, wz, nz, k, dy)
    return _mdn_loss(y, z, wz, nz, k, dy)


def mdn_loss_numpy(y, z, wz, nz, k, dy):
    R, zk = len(y), nz * k
    logpi, mu, logsigma, _ = mdn_head(y, nz, k)                   # (R, Z, K) each: the layout
    inv_sigma = np.exp(-logsigma)
    u = (z[..., None] - mu) * inv_sigma
    lp = logpi - 0.5 * u * u - logsigma - LOG_SQRT_2PI           # log pi_k N(z; mu_k, sigma_k)
    m = lp.max(-1, keepdims=True)
    e = np.exp(lp - m)
    s = e.sum(-1, keepdims=True)
    resp, w = e / s, wz[:, None, None]
    dy[:, :zk] = (w * (np.exp(logpi) - resp)).reshape(R, zk)
    dy[:, zk:2 * zk] = (-w * resp * u * inv_sigma).reshape(R, zk)
    dy[:, 2 * zk:3 * zk] = (-w * resp * (u * u - 1)).reshape(R, zk)
    return -float(np.sum((m + np.log(s)) * w))
