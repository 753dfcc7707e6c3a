# %% [markdown]
# # Solutions to chapter 8: learning inside the dream
# `python tutorials/solutions/08_doom_dream.py`; `MINWM_FAST=1` uses fewer and shorter dreams.
# The exercises are about the dream's machinery, so they use the chapter's full-mode data, the
# Take Cover weights shipped in `minwm/weights/doom/` (V, M, the recorded first frames, the
# evolved C): no training needed.

# %%
import os

import numpy as np

from minwm import controller as C
from minwm import formats, infer, show
from minwm.dream import DreamConfig, dream
from minwm.kernels import lstm_step_numpy, mdn_sample_numpy

FAST = os.environ.get("MINWM_FAST") == "1"
rng = np.random.default_rng(0)

SHIPPED = show.SHIPPED / "doom"
M = infer.load_mdnrnn(SHIPPED / "mdnrnn.npz")
ccfg, theta, _ = formats.read_controller(SHIPPED / "controller.npz")
mu0, logvar0 = formats.read_starts(SHIPPED / "series.npz")                  # (E, Z) first frames
Z, H = M.nz, M.hidden
MAX_STEPS = 300 if FAST else 2100

# %% [markdown]
# ## Exercise 1: a cut-off or a coin flip for death
# A batched dream in NumPy where every rollout keeps stepping and a mask records when it ended.
# With the cut-off, a rollout dies only where M is confident (logit > 0). With a coin flip, every
# step where M gives death some probability (a fireball close, but maybe not close enough)
# carries that chance of dying, and these add up over hundreds of steps: rollouts die sooner,
# for reasons the controller cannot act on. The fitness CMA-ES sees then measures luck more
# than skill.


# %%
def dream_numpy(theta, n, tau, rule, seed):
    """n rollouts -> steps survived (n,); rule "cutoff" (logit > 0) or "sample" (Bernoulli(p))."""
    r = np.random.default_rng(seed)
    e = r.integers(len(mu0), size=n)
    z = mu0[e] + np.exp(0.5 * logvar0[e]) * r.standard_normal((n, Z), dtype=np.float32)
    h = c = np.zeros((n, H), np.float32)
    alive, steps = np.ones(n, bool), np.full(n, MAX_STEPS)
    for t in range(MAX_STEPS):
        a = C.m_action(ccfg, C.act(ccfg, theta, z, h, c))                     # (n, 1): -1, 0, +1
        x = np.concatenate([z, a, np.full((n, 1), float(t == 0), np.float32)], axis=1)
        h, c = lstm_step_numpy(x, h, c, None, M.wx, M.wh, M.b)
        u, eps = r.random((n, Z), dtype=np.float32), r.standard_normal((n, Z), dtype=np.float32)
        z, logit = mdn_sample_numpy(h @ M.w_mdn, M.b_mdn, Z, M.k, tau, u, eps)
        dies = logit > 0 if rule == "cutoff" else r.random(n) < 1 / (1 + np.exp(-logit))
        steps[alive & dies] = t + 1
        alive &= ~dies
        if not alive.any():
            break
    return steps


n = 64 if FAST else 256
survived = {}
for rule in ("cutoff", "sample"):
    survived[rule] = dream_numpy(theta, n, 1.15, rule, seed=0)
    print(f"done by {rule:6s}: survived {survived[rule].mean():6.1f} +- {survived[rule].std():6.1f} steps over {n} dreams")
lib = dream(M, ccfg, theta, mu0, logvar0, DreamConfig(1.15, MAX_STEPS), np.random.default_rng(0), count=n)
print(f"(minwm.dream, the cut-off: {lib.mean():6.1f} +- {lib.std():6.1f}; other random draws, same rules)")
se = np.sqrt(survived["cutoff"].var() / n + lib.var() / n) + 1e-9
assert survived["sample"].mean() < survived["cutoff"].mean()              # the coin kills sooner
assert abs(survived["cutoff"].mean() - lib.mean()) < 4 * se               # ours: the library's rules

# %% [markdown]
# ## Exercise 2: the variance of z under the mixture at temperature tau
# With weights pi_k = softmax(logits / tau)_k and each Gaussian's variance sigma_k^2 tau:
#
# $$E[z] = \sum_k \pi_k \mu_k,\qquad
#   \operatorname{Var}[z] = \sum_k \pi_k (\tau \sigma_k^2 + \mu_k^2) - E[z]^2$$
#
# Raising tau both widens each Gaussian and moves weight towards unlikely components, whose means
# are far from E[z]: the variance grows faster than linearly in tau when the components disagree.
# We take M's prediction after 20 dream steps of the shipped agent from a recorded first frame.

# %%
K = M.k
z = mu0[:1]                                                                  # (1, Z)
h = c = np.zeros((1, H), np.float32)
for t in range(20):                                                          # the agent, in the dream
    a = C.m_action(ccfg, C.act(ccfg, theta, z, h, c))
    x = np.concatenate([z, a, np.full((1, 1), float(t == 0), np.float32)], axis=1)
    h, c = lstm_step_numpy(x, h, c, None, M.wx, M.wh, M.b)
    z, _ = mdn_sample_numpy(h @ M.w_mdn, M.b_mdn, Z, K, 1.0, rng.random((1, Z), dtype=np.float32),
                            rng.standard_normal((1, Z), dtype=np.float32))
y = (h @ M.w_mdn).astype(np.float32)                                         # (1, 3ZK + 1) no bias
yb = y[0] + M.b_mdn
N = 20_000 if FAST else 200_000
variances = []
for tau in (0.5, 1.0, 1.5):
    logits = yb[:Z * K].reshape(Z, K) / tau
    pi = np.exp(logits - logits.max(1, keepdims=True))
    pi /= pi.sum(1, keepdims=True)
    mu, sigma = yb[Z * K:2 * Z * K].reshape(Z, K), np.exp(yb[2 * Z * K:3 * Z * K].reshape(Z, K))
    mean = (pi * mu).sum(1)
    var = (pi * (tau * sigma ** 2 + mu ** 2)).sum(1) - mean ** 2
    u, eps = rng.random((N, Z), dtype=np.float32), rng.standard_normal((N, Z), dtype=np.float32)
    zs, _ = mdn_sample_numpy(np.repeat(y, N, axis=0), M.b_mdn, Z, K, tau, u, eps)
    rel = np.abs(zs.var(0) / var - 1).max()
    variances.append(var.mean())
    print(f"tau {tau}: Var[z] by the formula, mean over the {Z} dimensions {var.mean():.4f}, from {N} "
          f"samples {zs.var(0).mean():.4f} (max relative difference over the dimensions {rel:.1%})")
    assert rel < (0.15 if FAST else 0.05)
assert variances[0] < variances[1] < variances[2]

# %% [markdown]
# ## Exercise 3: how noisy is a fitness of 16 dreams?
# A dream score has a large spread (the shipped C: 1341 +- 708 over 1,024 dreams), so a mean
# over 16 rollouts has a standard error of about std / 4, ~180 steps. Two candidates whose true
# means differ by less than that are ranked nearly at random, one reason CMA-ES needs many
# generations. It also makes a generation's best candidate a biased pick: the best of 64 noisy
# means lies about 2.4 standard errors above its true mean ("the winner's curse"). The paper
# says it kept the best-performing agent; the original code re-scores the CMA mean over 1,024
# dreams (standard error std / 32) and keeps that (`evolve.keep=mean`, minwm's default). Below,
# fitness values of one and the same controller: their best is above their mean, though every
# one measures the same agent. (With `MINWM_FAST=1` the dreams stop at 300 steps, which narrows
# the spread.)

# %%
n = 256 if FAST else 1024
s = dream(M, ccfg, theta, mu0, logvar0, DreamConfig(1.15, MAX_STEPS), np.random.default_rng(1), count=n)
means16 = s.reshape(-1, 16).mean(axis=1)                                    # n / 16 fitness values
print(f"one controller: mean {s.mean():.1f}, std of one dream {s.std():.1f}, std of a 16-dream mean "
      f"{means16.std():.1f} (std / 4 = {s.std() / 4:.1f}), of a 1024-dream mean ~{s.std() / 32:.1f}")
print(f"the best of its {len(means16)} 16-dream means: {means16.max():.1f}, "
      f"{(means16.max() - s.mean()) / means16.std():.1f} of their standard deviations above the mean")
assert 0.5 < means16.std() / (s.std() / 4) < 1.5                          # std / sqrt(16)
