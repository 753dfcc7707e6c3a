# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Chapter 5: M, the mixture density head
#
# **What this builds.** The "MDN" of the MDN-RNN (section 2.2, appendix A.2): on top of the
# LSTM's `h_{t+1}`, a linear layer outputs, for every dimension of `z_{t+1}` separately, a mixture
# of K = 5 Gaussians: mixture weights `pi`, means `mu`, standard deviations `sigma`. M is trained
# to maximise the likelihood of the next z under that mixture, and in the dream z is *sampled*
# from it, at a temperature `tau` that makes the dream more or less uncertain. It builds on
# chapter 4 (the LSTM underneath) and chapter 1 (autograd).
#
# **Plan.** (1) the head's layout; (2) the loss, written out with logsumexp, equal to
# `minwm.mdnrnn.head_loss_forward`, and its gradient, equal to `head_loss_backward`; (3) sampling
# with temperature written out, equal to `minwm.kernels`; histograms at tau = 0.5, 1, 1.5;
# (4) the Numba sampler against its NumPy twin, and how much faster it is; (5) a small MDN-RNN
# trained with the library on a world with two possible futures.
#
# **Running.** `python tutorials/05_mdn.py`; `MINWM_FAST=1` runs in seconds (fewer samples and
# training steps). Pictures go to `tutorials/out/` (or `$MINWM_OUT`).
# Legend: N batch (or rollouts), T time, Z latent size, K mixture components, A action size.

# %%
import os
import time
from pathlib import Path

import numpy as np

FAST = os.environ.get("MINWM_FAST") == "1"
OUT = Path(os.environ.get("MINWM_OUT") or
           (Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()) / "out")
OUT.mkdir(parents=True, exist_ok=True)
try:                                   # matplotlib is optional: without it the plots are skipped
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    plt = None
rng = np.random.default_rng(0)
LOG_SQRT_2PI = 0.5 * np.log(2 * np.pi)

# %% [markdown]
# ## 1. The head's layout
# $y = h W + b$ has $3ZK\ (+1)$ columns: K mixture logits, K means and K log standard
# deviations for each of the Z dimensions, and for Doom one more logit for "the next frame ends
# the episode". Each dimension of z has its *own* K-way mixture (a diagonal model: no correlation
# between dimensions). Normalising the logits gives $\log\pi_k = \ell_k - \log\sum_j e^{\ell_j}$.
# Columns: `y[.., 0:ZK]` $\to$ logits (.., Z, K), `y[.., ZK:2ZK]` $\to \mu$,
# `y[.., 2ZK:3ZK]` $\to \log\sigma$, `y[.., 3ZK]` $\to$ done.

# %%
def split(y, Z, K):
    """y (..., 3ZK [+1]) -> logpi, mu, logsigma (..., Z, K), logpi normalised over K."""
    logits, mu, logsigma = (y[..., j * Z * K:(j + 1) * Z * K].reshape(*y.shape[:-1], Z, K) for j in range(3))
    return logits - logsumexp(logits), mu, logsigma


def logsumexp(x):
    """log sum_k exp(x_k) over the last axis, keepdims: m + log sum_k exp(x_k - m), m = max_k x_k."""
    m = x.max(axis=-1, keepdims=True)
    return m + np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


# %% [markdown]
# ## 2. The loss
# The likelihood of the target $z$ (one dimension) under the mixture is
# $p(z) = \sum_k \pi_k\, \mathcal N(z; \mu_k, \sigma_k^2)$. Its negative log, written in logs throughout:
#
# $$-\log p(z) = -\operatorname{logsumexp}_k\Big(\log\pi_k - \tfrac12 u_k^2 - \log\sigma_k - \log\sqrt{2\pi}\Big),
# \qquad u_k = \frac{z - \mu_k}{\sigma_k},$$
#
# averaged over batch, time and the Z dimensions. Why logsumexp: the terms inside are often far
# below -700, where `exp` underflows to 0 and `log(sum(exp(.)))` becomes `-inf`. Subtracting the
# maximum $m$ first, $\operatorname{logsumexp}(x) = m + \log\sum_k e^{x_k - m}$, keeps the largest term at $e^0 = 1$:

# %%
x = np.array([-800.0, -805.0, -810.0])
with np.errstate(divide="ignore"):
    print("naive log(sum(exp(x))):", np.log(np.sum(np.exp(x))), "   logsumexp:", logsumexp(x)[0])

# %% [markdown]
# Doom's M also predicts `done`: a sigmoid cross-entropy on the extra logit $x$, with positive
# targets weighted 10x because deaths are rare (original code):
#
# $$\mathrm{done\_loss} = \operatorname{mean}\ (1 + 9d)\,
# \big[d \operatorname{softplus}(-x) + (1 - d) \operatorname{softplus}(x)\big],
# \qquad \operatorname{softplus}(x) = \log(1 + e^x).$$
#
# A `mask (N, T)` drops terms whose target $z_{t+1}$ belongs to another episode (the z-loss is
# then a mean over the remaining terms).

# %%
def softplus(x):
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def mdn_loss(y, z_next, Z, K, done=None, mask=None, pos_weight=10.0):
    """y (N, T, 3ZK [+1]), z_next (N, T, Z), done, mask (N, T) -> z_loss, done_loss (floats)."""
    logpi, mu, logsigma = split(y, Z, K)                                        # (N, T, Z, K)
    u = (z_next[..., None] - mu) / np.exp(logsigma)
    nll = -logsumexp(logpi - u ** 2 / 2 - logsigma - LOG_SQRT_2PI)[..., 0]     # (N, T, Z)
    w = np.ones(nll.shape[:2]) if mask is None else mask                        # (N, T)
    z_loss = np.sum(nll * w[..., None]) / (w.sum() * Z)
    done_loss = 0.0
    if done is not None:
        x = y[..., -1]
        done_loss = np.mean((1 + (pos_weight - 1) * done) * (done * softplus(-x) + (1 - done) * softplus(x)))
    return z_loss, done_loss


from minwm import mdnrnn

N, T, Z, K = 3, 4, 6, 5
cfg = mdnrnn.MDNRNNConfig(nz=Z, na=1, hidden=8, k=K, restart=True, done=True)
y = rng.standard_normal((N, T, cfg.n_out))                                     # (N, T, 3ZK + 1)
z_next = rng.standard_normal((N, T, Z))
done = (rng.random((N, T)) < 0.2).astype(np.float64)
mask = (rng.random((N, T)) < 0.8).astype(np.float64)
ours = mdn_loss(y, z_next, Z, K, done, mask)
z_loss, done_loss, cache = mdnrnn.head_loss_forward(y, cfg, z_next, done, mask)
diff = max(abs(ours[0] - z_loss), abs(ours[1] - done_loss))
print(f"z_loss {ours[0]:.6f}, done_loss {ours[1]:.6f}; ours vs mdnrnn.head_loss_forward: "
      f"max difference {diff:.1e}")
assert diff < 1e-12

# %% [markdown]
# ### Its gradient
# With $r_k$ the posterior ("responsibility") of component k for the target, the softmax over k
# of the terms inside the logsumexp, and $c$ the weight of one term in the mean, one line of
# calculus each (the logsumexp's gradient is the softmax, chapter 1's exercise 3):
#
# $$\frac{\partial L}{\partial \ell_k} = -c\,(r_k - \pi_k), \qquad
# \frac{\partial L}{\partial \mu_k} = -c\, r_k \frac{u_k}{\sigma_k}, \qquad
# \frac{\partial L}{\partial \log\sigma_k} = -c\, r_k\,(u_k^2 - 1).$$
#
# A component is pulled towards the target in proportion to how much it is responsible for it.
# `minwm` computes them in one fused op (`head_loss_backward`) rather than through generic
# autograd ops, which would materialise a full-size gradient for every slice of `y`. We check the
# library's against finite differences of *our* loss, per element, in float64.

# %%
dy = mdnrnn.head_loss_backward(1.0, cache, cfg)                               # (N, T, 3ZK + 1)
num = np.zeros_like(y)
for idx in np.ndindex(y.shape):
    old = y[idx]
    y[idx] = old + 1e-6
    lp = sum(mdn_loss(y, z_next, Z, K, done, mask))
    y[idx] = old - 1e-6
    lm = sum(mdn_loss(y, z_next, Z, K, done, mask))
    y[idx] = old
    num[idx] = (lp - lm) / 2e-6
err = np.max(np.abs(dy - num)) / np.max(np.abs(dy) + np.abs(num))
print(f"head_loss_backward vs finite differences of our loss: max |difference| "
      f"{np.max(np.abs(dy - num)):.1e} (relative {err:.1e})")
assert err < 1e-7

# %% [markdown]
# ## 3. Sampling with temperature
# To dream, M draws $z_{t+1}$ from its mixture, each dimension independently:
#
# $$\pi = \operatorname{softmax}(\ell / \tau), \quad k \sim \mathrm{Categorical}(\pi), \qquad
# z = \mu_k + \sigma_k \sqrt{\tau}\, \epsilon, \quad \epsilon \sim \mathcal N(0, 1).$$
#
# $\tau < 1$ sharpens the choice of component and narrows it (a more predictable world); $\tau > 1$
# flattens the weights and widens every component (a more uncertain, harder world; the paper
# trains its Doom agent at tau = 1.15). The component is picked by the inverse CDF: with
# `u ~ U[0, 1)`, take the first k whose cumulative weight exceeds `u`. The random numbers `u`
# and `eps` are passed in, so the NumPy and Numba samplers can be fed the same ones.

# %%
def sample(y, Z, K, tau, u, eps):
    """y (N, 3ZK [+1]) with bias, u (N, Z) uniform, eps (N, Z) normal -> z (N, Z)."""
    N = len(y)
    logits = y[:, :Z * K].reshape(N, Z, K) / tau
    pi = np.exp(logits - logsumexp(logits))                                     # (N, Z, K)
    cdf = np.cumsum(pi, axis=-1)
    k = np.minimum((cdf <= u[..., None] * cdf[..., -1:]).sum(axis=-1), K - 1)  # (N, Z) picked component
    mu = y[:, Z * K:2 * Z * K].reshape(N, Z, K)
    sigma = np.exp(y[:, 2 * Z * K:3 * Z * K].reshape(N, Z, K)) * np.sqrt(tau)
    pick = lambda a: np.take_along_axis(a, k[..., None], axis=-1)[..., 0]
    return pick(mu) + pick(sigma) * eps


from minwm import kernels

B = 500
yb = rng.standard_normal((B, 3 * Z * K + 1)).astype(np.float32)               # (B, 3ZK + 1), no bias
bias = (rng.standard_normal(3 * Z * K + 1) * 0.5).astype(np.float32)
u = rng.random((B, Z), dtype=np.float32)
eps = rng.standard_normal((B, Z), dtype=np.float32)
for tau in (0.5, 1.0, 1.15, 1.5):
    ours = sample((yb + bias).astype(np.float64), Z, K, tau, u, eps)
    twin, _ = kernels.mdn_sample_numpy(yb, bias, Z, K, tau, u, eps)
    z_k, done_logit = np.empty((B, Z), np.float32), np.empty(B, np.float32)
    kernels.mdn_sample(yb, bias, Z, K, tau, u, eps, z_k, done_logit)
    print(f"tau {tau:4}: ours vs mdn_sample_numpy {np.abs(ours - twin).max():.1e}, "
          f"vs the Numba mdn_sample (float32, polynomial exp) {np.abs(ours - z_k).max():.1e}")
    assert np.allclose(ours, twin, rtol=1e-5, atol=1e-5) and np.allclose(ours, z_k, rtol=1e-5, atol=1e-5)

# %% [markdown]
# Now one dimension's mixture at three temperatures: histograms of samples from the Numba
# sampler against the density $\sum_k \pi_k \mathcal N(z; \mu_k, \tau\sigma_k^2)$ with
# $\pi = \operatorname{softmax}(\ell / \tau)$.

# %%
n = 20_000 if FAST else 200_000
y1 = np.zeros((1, 3 * K), np.float32)                                          # Z = 1, no done output
y1[0, :K] = [2.0, 0.5, 0.0, -1.0, 1.0]                                         # logits
y1[0, K:2 * K] = [-2.0, 0.0, 1.5, 3.0, -4.0]                                   # mu
y1[0, 2 * K:] = np.log([0.4, 0.3, 0.3, 0.5, 0.6])                              # logsigma
grid = np.linspace(-7, 7, 400)
panels = []
for tau in (0.5, 1.0, 1.5):
    z, d = np.empty((n, 1), np.float32), np.empty(n, np.float32)
    kernels.mdn_sample(np.repeat(y1, n, 0), np.zeros(3 * K, np.float32), 1, K, tau,
                       rng.random((n, 1), dtype=np.float32), rng.standard_normal((n, 1), dtype=np.float32), z, d)
    pi = np.exp(y1[0, :K] / tau - logsumexp(y1[0, :K] / tau))
    sig = np.exp(y1[0, 2 * K:]) * np.sqrt(tau)
    dens = np.sum(pi * np.exp(-0.5 * ((grid[:, None] - y1[0, K:2 * K]) / sig) ** 2) / (sig * np.sqrt(2 * np.pi)), axis=1)
    mean = np.sum(pi * y1[0, K:2 * K])
    print(f"tau {tau}: pi = {np.round(pi, 3)}, sample mean {z.mean():+.3f} (formula {mean:+.3f}), "
          f"sample std {z.std():.3f}")
    assert abs(z.mean() - mean) < 0.05
    panels.append((tau, z[:, 0], dens))
if plt is not None:
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.2), sharey=True)
    for ax, (tau, z, dens) in zip(axes, panels):
        ax.hist(z, bins=120, range=(-7, 7), density=True, alpha=0.6, label="samples (Numba)")
        ax.plot(grid, dens, "k-", lw=1, label="mixture density")
        ax.set_title(f"tau = {tau}")
        ax.set_xlabel("z")
    axes[0].set_ylabel("density")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(OUT / "05_mdn_tau.png", dpi=100)
    plt.close(fig)

# %% [markdown]
# ## 4. Why a Numba kernel, and how much faster
# The dream steps B rollouts at once: a whole CMA-ES population of 64 controllers x 16 rollouts
# = 1024 rows, for up to 2100 steps, every generation. Per step the head's matmul goes to BLAS;
# the sampling after it is many small operations on `(B, Z, K)` arrays, each a pass over memory
# with a temporary array in NumPy. The Numba kernel does all of it in one pass per row,
# writing z straight into the dream's state buffer. Doom's sizes: Z = 64, K = 5.

# %%
B, Z = 1024, 64
yb = (rng.standard_normal((B, 3 * Z * K + 1)) * 2).astype(np.float32)
bias = np.zeros(3 * Z * K + 1, np.float32)
u, eps = rng.random((B, Z), dtype=np.float32), rng.standard_normal((B, Z), dtype=np.float32)
z_k, done_logit = np.empty((B, Z), np.float32), np.empty(B, np.float32)
kernels.mdn_sample(yb, bias, Z, K, 1.15, u, eps, z_k, done_logit)              # compile (or load the cache)


def best_time(f, repeat):
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t0)
    return min(ts)


repeat = 5 if FAST else 50
t_numpy = best_time(lambda: kernels.mdn_sample_numpy(yb, bias, Z, K, 1.15, u, eps), repeat)
t_numba = best_time(lambda: kernels.mdn_sample(yb, bias, Z, K, 1.15, u, eps, z_k, done_logit), repeat)
print(f"B={B}, Z={Z}, K={K}: NumPy {t_numpy * 1e3:.2f} ms, Numba {t_numba * 1e3:.2f} ms per step: "
      f"{t_numpy / t_numba:.1f}x faster")
print(f"max difference {np.abs(z_k - kernels.mdn_sample_numpy(yb, bias, Z, K, 1.15, u, eps)[0]).max():.1e}")

# %% [markdown]
# ## 5. Using the library: a world with two futures
# Why a mixture and not one Gaussian? Take a 1-D world where, given the state and the action,
# the next z is $0.5 z + a + 1$ or $0.5 z + a - 1$ with equal odds (plus a little noise). A single
# Gaussian would predict the average, $0.5 z + a$, a future that never happens. We train a small
# MDN-RNN (`minwm.mdnrnn`, the same code as the real M, just smaller) with teacher forcing and
# look at its predicted density for the next step.

# %%
from minwm.autograd import Tensor, no_grad
from minwm.optim import Adam, clip_grad_value


def episodes(n, T, rng):
    """-> z (n, T+1, 1), a (n, T, 1): the two-futures world under random actions."""
    z, a = np.zeros((n, T + 1, 1), np.float32), rng.uniform(-1, 1, (n, T, 1)).astype(np.float32)
    for t in range(T):
        jump = rng.choice([-1.0, 1.0], size=(n, 1))
        z[:, t + 1] = 0.5 * z[:, t] + a[:, t] + jump + 0.05 * rng.standard_normal((n, 1))
    return z, a


mcfg = mdnrnn.MDNRNNConfig(nz=1, na=1, hidden=32, k=5)
p = mdnrnn.init_params(mcfg, np.random.default_rng(1))
opt = Adam(p.values(), lr=3e-3)
steps = 150 if FAST else 1500
for step in range(steps + 1):
    z, a = episodes(32, 20, rng)
    loss, z_loss, _ = mdnrnn.loss(p, mcfg, z, a)
    opt.zero_grad()
    loss.backward()
    clip_grad_value(p.values(), 1.0)                                           # as the original M
    opt.step()
    if step % (steps // 5) == 0:
        print(f"step {step:5d}: z_loss {z_loss:.4f}")

z, a = episodes(1, 20, np.random.default_rng(7))
with no_grad():
    y_last = mdnrnn.forward(p, mcfg, Tensor(z[:, :-1]), Tensor(a)).data[0, -1]  # (3K,)
logpi, mu, logsigma = split(y_last.astype(np.float64), 1, K)
pi, sig = np.exp(logpi[0]), np.exp(logsigma[0])
centre = 0.5 * z[0, -2, 0] + a[0, -1, 0]
grid = np.linspace(centre - 3, centre + 3, 400)
dens = np.sum(pi * np.exp(-0.5 * ((grid[:, None] - mu[0]) / sig) ** 2) / (sig * np.sqrt(2 * np.pi)), axis=1)
modes = grid[1:-1][(dens[1:-1] > dens[:-2]) & (dens[1:-1] > dens[2:]) & (dens[1:-1] > 0.2 * dens.max())]
print(f"true futures {centre - 1:+.2f} and {centre + 1:+.2f}; M's density peaks at {np.round(modes, 2)}")
if plt is not None:
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    ax.plot(grid, dens, "k-", label="M's predicted density of $z_{t+1}$")
    for c in (centre - 1, centre + 1):
        ax.axvline(c, color="r", ls="--", lw=1)
    ax.axvline(centre, color="gray", ls=":", lw=1, label="a single Gaussian's mean")
    ax.set(xlabel="$z_{t+1}$", ylabel="density")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(OUT / "05_mdn_two_futures.png", dpi=100)
    plt.close(fig)
assert len(modes) == 2 and all(np.min(np.abs(modes - c)) < 0.3 for c in (centre - 1, centre + 1))

# %% [markdown]
# ## Summary
# - M's head gives each z dimension its own K = 5 Gaussian mixture: `logpi, mu, logsigma`
#   (and for Doom a done logit, trained with a 10x weight on deaths).
# - The loss is the mixture NLL through logsumexp; its gradient pulls each component towards the
#   target in proportion to its responsibility; both equal `minwm.mdnrnn`'s fused op.
# - Sampling at temperature tau: logits / tau, sigma * sqrt(tau); the NumPy sampler written here,
#   `mdn_sample_numpy` and the Numba `mdn_sample` agree, and the kernel is several times faster.
# - A mixture can represent several futures; a single Gaussian would predict their average.
#
# ## Exercises
# 1. Show numerically that as tau -> 0 the sampler returns the mean of the most likely
#    component (the mode of the weights), and as tau grows the weights become uniform.
# 2. Compute the variance of one dimension's mixture from the formula
#    $\sum_k \pi_k (\sigma_k^2 + \mu_k^2) - (\sum_k \pi_k \mu_k)^2$ and compare it with the variance of
#    samples from `kernels.mdn_sample` at tau = 1.15.
# 3. Train the two-futures model with K = 1 (a single Gaussian) and compare its z_loss and
#    its predicted density with K = 5.
#
# Solutions: `tutorials/solutions/05_mdn.py`.
