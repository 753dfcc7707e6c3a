"""Numba inference kernels for M, batched over many rollouts, each beside its plain NumPy twin.

Legend: N rollouts, Z latent (Nz), K mixtures, A action, D = M's input size, H LSTM units.

LSTM step (gate order [i, f, g, o], the layout of minwm.infer and minwm.lstm):

    (h, c) <- 0 where restart = 1                                       zeroed before the step
    gates = [x, h] @ w + b           w = [wx; wh] (D + H, 4H): one matmul per step
    i, f, o = sigmoid(gates[i], gates[f], gates[o]),  g = tanh(gates[g])
    c' = f * c + i * g,  h' = o * tanh(c')

Mixture sampling at temperature tau, for every dimension d of z independently (diagonal):

    logpi[d] = log_softmax(logits[d] / tau)          k ~ Categorical(pi[d]) by inverse CDF on u
    z[d] = mu[d, k] + exp(logsigma[d, k]) * sqrt(tau) * eps          u ~ U[0, 1), eps ~ N(0, 1)

The random numbers u and eps come in as arrays (Numba keeps its own RNG state, apart from
NumPy's), so a run is reproducible from one np.random.Generator.

Speed notes. The matmuls go to BLAS; the kernels do the pointwise math after them. tanh is an
Eigen-style rational polynomial (within 5e-7 of tanh) and exp a Cephes polynomial with the power
of two written into the exponent bits, so that LLVM vectorises every loop, which calls to libm's
tanhf and expf would prevent (measured: 20x for the gates, 4x for the sampler). error_model="numpy"
drops the division-by-zero branch that would also block it. Fast-math is limited to FASTMATH (no
arcp, no reassoc): where LLVM's run-time alias check finds two buffers close together in memory it
runs the loop's scalar fallback, and with arcp (x / q as x * approximate 1 / q in the vector loop
only) the same inputs then gave results differing in the last bit, by where NumPy had placed the
arrays (a flaky same-seed dream test). Every kept flag rounds alike in both loops; FMA contraction
keeps the speed (without it the gates were 20% slower). The kernels are serial on purpose:
BLAS already runs the matmuls on every core and its worker threads spin between calls, so a
Numba thread pool fighting them for the same cores made the pointwise work 5-10x slower, not
faster (measured on 2 cores).
"""
import math

import numpy as np
from numba import njit

# No NaN/inf/signed-zero care, and a * b + c may be one FMA: each op still rounds the same in the
# vectorised loop and in its scalar fallback (see the speed notes: not arcp, not reassoc).
FASTMATH = {"nnan", "ninf", "nsz", "contract"}
_jit = dict(cache=True, fastmath=FASTMATH, error_model="numpy", nogil=True)


# ----------------------------------------------------------------------------------------- LSTM
@njit(inline="always", fastmath=FASTMATH, error_model="numpy")
def _tanh(x):
    # Rational approximation of tanh on [-7.9, 7.9] (Eigen's ptanh_float), saturating outside.
    x = min(max(x, np.float32(-7.90531110763549805)), np.float32(7.90531110763549805))
    x2 = x * x
    p = np.float32(-2.76076847742355e-16)
    p = p * x2 + np.float32(2.00018790482477e-13)
    p = p * x2 + np.float32(-8.60467152213735e-11)
    p = p * x2 + np.float32(5.12229709037114e-08)
    p = p * x2 + np.float32(1.48572235717979e-05)
    p = p * x2 + np.float32(6.37261928875436e-04)
    p = p * x2 + np.float32(4.89352455891786e-03)
    q = np.float32(1.19825839466702e-06)
    q = q * x2 + np.float32(1.18534705686654e-04)
    q = q * x2 + np.float32(2.26843463243900e-03)
    q = q * x2 + np.float32(4.89352518554385e-03)
    return x * p / q


@njit(inline="always", fastmath=FASTMATH, error_model="numpy")
def _cell_row(g, b, c, out, col):
    # One row: g (4H,) gate pre-activations without bias, b (4H,); c (H,) in/out; h' to out[col:col+H].
    # sigmoid(x) = (1 + tanh(x / 2)) / 2 keeps every lane on the vectorised tanh.
    H = c.shape[0]
    half = np.float32(0.5)
    for j in range(H):
        i = half + half * _tanh(half * (g[j] + b[j]))
        f = half + half * _tanh(half * (g[H + j] + b[H + j]))
        gg = _tanh(g[2 * H + j] + b[2 * H + j])
        o = half + half * _tanh(half * (g[3 * H + j] + b[3 * H + j]))
        cj = f * c[j] + i * gg
        c[j] = cj
        out[col + j] = o * _tanh(cj)


@njit(**_jit)
def _lstm_cell(gates, b, c, out, col):
    for n in range(gates.shape[0]):
        _cell_row(gates[n], b, c[n], out[n], col)


def lstm_cell(gates, b, c, out, col=0):
    """Gate math after the matmul, in place.  gates (N, 4H) = [x, h] @ w (no bias), b (4H,);
    c (N, H) holds c and becomes c'; h' = o * tanh(c') goes to out[:, col:col + H].

    out is a whole C-contiguous buffer plus a column offset, not a column slice: Numba cannot
    vectorise through a strided view (8x slower measured), and the dream keeps h inside [x, h].
    """
    assert out.shape[1] >= col + c.shape[1] and len(out) == len(c) == len(gates)  # no bounds checks below
    _lstm_cell(gates, b, c, out, col)


def dropout_keep(rng, shape, rate):
    """An inverted-dropout mask (Keras's K.dropout, which Dropout's Dream Land used): each element
    0 with probability rate, else 1 / (1 - rate), so the expected input is unchanged. float32."""
    if not 0 <= rate < 1:
        raise ValueError(f"dropout rate {rate}: give a rate in [0, 1), e.g. 0.05")
    return (rng.random(shape, dtype=np.float32) >= rate) * np.float32(1 / (1 - rate))


def lstm_step(xh, c, restart, w, b, gates, keep=None, per_row=False):
    """One LSTM step in preallocated buffers (the fast path; NumPy twin: lstm_step_numpy).

    xh (N, D + H): [x, h] in, [x, h'] out (h' overwrites h in place); c (N, H) in/out;
    restart (N,) bool or None; w (D + H, 4H) = [wx; wh]; b (4H,); gates (N, 4H) scratch;
    keep (N, D + H) or None: a dropout mask on [x, h] where they enter the gates only (h' and
    what C reads stay unmasked: Dropout's Dream Land's input and recurrent dropout).
    per_row=True: each row's matmul is a BLAS call of its own, so a row's result does not depend
    on the batch (OpenBLAS's does: minwm.infer.encode).
    """
    H = c.shape[1]
    if restart is not None and restart.any():
        xh[restart, -H:] = 0.0
        c[restart] = 0.0
    x = xh if keep is None else xh * keep
    if per_row:
        np.matmul(x[:, None], w, out=gates[:, None])             # (N, 1, 4H)
    else:
        np.matmul(x, w, out=gates)                               # (N, 4H)
    lstm_cell(gates, b, c, xh, xh.shape[1] - H)


def lstm_step_numpy(x, h, c, restart, wx, wh, b, keep=None):
    """x (N, D), h, c (N, H), restart (N,) bool or None, keep (N, D + H) or None -> h', c' (N, H),
    the formula above with [x, h] * keep in the gates."""
    if restart is not None:
        keep_state = ~restart[:, None]
        h, c = h * keep_state, c * keep_state
    xk, hk = (x, h) if keep is None else (x * keep[:, :x.shape[1]], h * keep[:, x.shape[1]:])
    gates = xk @ wx + hk @ wh + b                                # (N, 4H)
    H = h.shape[1]
    i, f, o = (1.0 / (1.0 + np.exp(-gates[:, s])) for s in (slice(0, H), slice(H, 2 * H), slice(3 * H, None)))
    g = np.tanh(gates[:, 2 * H:3 * H])
    c = f * c + i * g
    return o * np.tanh(c), c


# -------------------------------------------------------------------------------- mixture (MDN)
def mdn_head(y, nz, k, tau=1.0):
    """Head output y (..., 3ZK [+ 1]) with bias -> logpi, mu, logsigma (..., Z, K), done logit (...)
    or None. The one reading of M's output layout (M's training loss uses it too).

    At temperature tau: logpi = log_softmax(logits / tau), logsigma + log(sqrt(tau)).
    """
    lead, zk = y.shape[:-1], nz * k
    logits = y[..., :zk].reshape(*lead, nz, k) / tau
    mx = logits.max(axis=-1, keepdims=True)
    logpi = logits - (mx + np.log(np.exp(logits - mx).sum(axis=-1, keepdims=True)))
    mu = y[..., zk:2 * zk].reshape(*lead, nz, k)
    logsigma = y[..., 2 * zk:3 * zk].reshape(*lead, nz, k) + y.dtype.type(0.5 * np.log(tau))
    done = y[..., 3 * zk] if y.shape[-1] > 3 * zk else None
    return logpi, mu, logsigma, done


LOG2E, LN2_HI, LN2_LO = np.float32(1.4426950408889634), np.float32(0.693359375), np.float32(-2.12194440e-4)


@njit(**_jit)
def _exp(x, out, bits):
    # out = exp(x) for 1-D float32 x, vectorised: x = n ln2 + r with |r| <= ln2 / 2; exp(r) by
    # Cephes' expf polynomial; 2^n written straight into a float's exponent bits (bits: int32
    # scratch like x). Relative error < 1e-7 on [-87, 88], the clamp range.
    for j in range(x.shape[0]):
        xj = min(max(x[j], np.float32(-87.0)), np.float32(88.0))
        n = math.floor(xj * LOG2E + np.float32(0.5))
        r = xj - n * LN2_HI - n * LN2_LO
        p = np.float32(1.9875691500e-4)
        p = p * r + np.float32(1.3981999507e-3)
        p = p * r + np.float32(8.3334519073e-3)
        p = p * r + np.float32(4.1665795894e-2)
        p = p * r + np.float32(1.6666665459e-1)
        p = p * r + np.float32(5.0000001201e-1)
        out[j] = p * r * r + r + np.float32(1.0)
        bits[j] = (np.int32(n) + np.int32(127)) << np.int32(23)
    two_n = bits.view(np.float32)
    for j in range(x.shape[0]):
        out[j] *= two_n[j]


@njit(**_jit)
def _mdn_sample(y, b, nz, k, tau, u, eps, out, col, done_logit):
    # Per row, every pass is a loop over the Z dimensions at once (the mixtures laid out (K, Z)),
    # so LLVM vectorises it; a per-dimension loop over K = 5 would not. Scratch made once per call.
    inv_tau, sqrt_tau, zk = np.float32(1.0 / tau), np.float32(math.sqrt(tau)), nz * k
    x, e, bits = np.empty((k, nz), np.float32), np.empty((k, nz), np.float32), np.empty((k, nz), np.int32)
    mx, target, acc = np.empty(nz, np.float32), np.empty(nz, np.float32), np.empty(nz, np.float32)
    pick = np.empty(nz, np.int32)
    mu, logsigma, sigma, bits_z = (np.empty(nz, np.float32), np.empty(nz, np.float32),
                                   np.empty(nz, np.float32), np.empty(nz, np.int32))
    n_done = 0
    for n in range(y.shape[0]):
        yn, un, zn = y[n], u[n], out[n]
        for j in range(k):                                        # x[j, d] = logits[d, j] / tau
            for d in range(nz):
                x[j, d] = (yn[d * k + j] + b[d * k + j]) * inv_tau
                mx[d] = x[0, d] if j == 0 else max(mx[d], x[j, d])  # not mx[:] = x[0]: ~4 s of compile
        for j in range(k):
            for d in range(nz):
                x[j, d] -= mx[d]
        _exp(x.reshape(-1), e.reshape(-1), bits.reshape(-1))     # e[j, d] = pi[d, j] * const[d]
        target[:] = 0
        for j in range(k):
            for d in range(nz):
                target[d] += e[j, d]
        acc[:] = 0.0
        pick[:] = 0
        for d in range(nz):
            target[d] *= un[d]                                    # u * sum_j e[j, d]
        for j in range(k - 1):                                    # inverse CDF, branch-free:
            for d in range(nz):                                   # pick = #{j : cumsum_j <= target}
                acc[d] += e[j, d]
                pick[d] += acc[d] <= target[d]
        for d in range(nz):
            j = d * k + pick[d]
            mu[d] = yn[zk + j] + b[zk + j]
            logsigma[d] = yn[2 * zk + j] + b[2 * zk + j]
        _exp(logsigma, sigma, bits_z)
        for d in range(nz):
            zn[col + d] = mu[d] + sigma[d] * sqrt_tau * eps[n, d]
        done_logit[n] = yn[3 * zk] + b[3 * zk] if yn.shape[0] > 3 * zk else np.float32(0.0)
        if done_logit[n] > 0:
            n_done += 1
    return n_done


def mdn_sample(y, b, nz, k, tau, u, eps, out, done_logit, col=0):
    """Sample z' from M's head, in place (NumPy twin: mdn_sample_numpy).

    y (N, 3ZK [+ 1]) head output without bias, b (3ZK [+ 1],) its bias; tau > 0;
    u (N, Z) uniform [0, 1), eps (N, Z) standard normal; z' goes to out[:, col:col + Z] (a
    C-contiguous buffer, as in lstm_cell); done_logit (N,) out (zeros when M has no done output).
    Returns how many rows have a done logit > 0 (p > 0.5).
    """
    assert out.shape[1] >= col + nz and len(out) == len(y) == len(u) == len(eps) == len(done_logit)
    return _mdn_sample(y, b, nz, k, float(tau), u, eps, out, col, done_logit)


def mdn_sample_numpy(y, b, nz, k, tau, u, eps):
    """The same sample with NumPy: returns z (N, Z) and done logit (N,) (zeros without done)."""
    logpi, mu, logsigma, done = mdn_head(y + b, nz, k, tau)      # (N, Z, K) each
    e = np.exp(logpi - logpi.max(axis=-1, keepdims=True))
    cdf = np.cumsum(e, axis=-1)                                   # (N, Z, K)
    pick = np.minimum((cdf <= (u * cdf[..., -1])[..., None]).sum(-1), k - 1)[..., None]  # (N, Z, 1)
    mu = np.take_along_axis(mu, pick, -1)[..., 0]
    sigma = np.exp(np.take_along_axis(logsigma, pick, -1)[..., 0])
    done = np.zeros(len(y), y.dtype) if done is None else done
    return mu + sigma * eps, done
