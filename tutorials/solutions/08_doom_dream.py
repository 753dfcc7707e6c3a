# %% [markdown]
# # Solutions to chapter 8: Doom, learning inside the dream
# `python tutorials/solutions/08_doom_dream.py`; `MINWM_FAST=1` uses small sizes (seconds).
# The exercises are about the dream's machinery, so they use chapter 6's random world (random M
# weights with an action that matters and a rare done event): no training needed.

# %%
import os

import numpy as np

from minwm import controller as C
from minwm import infer
from minwm.dream import DreamConfig, dream
from minwm.kernels import lstm_step_numpy, mdn_sample_numpy

FAST = os.environ.get("MINWM_FAST") == "1"
rng = np.random.default_rng(0)

Z, H = (16, 64) if FAST else (64, 512)
arrays = infer.random_mdnrnn_arrays(Z, 1, H, np.random.default_rng(2), restart=True, done=True)
arrays["lstm.wx"][Z] *= 30.0                                         # the action steers M's state
arrays["mdn.w"][:, -1] *= 4.0                                        # done: sensitive to h ...
arrays["mdn.b"][-1] = -2.0                                           # ... but rare at first
M = infer.mdnrnn_from_arrays(arrays)
ccfg = C.ControllerConfig(nz=Z, hidden=H, na=1, inputs="zch", bias=False, env="doom")
mu0 = np.random.default_rng(3).standard_normal((50, Z)).astype(np.float32)
logvar0 = np.full((50, Z), -2.0, np.float32)
theta = (np.random.default_rng(4).standard_normal(C.n_params(ccfg)) * 0.05).astype(np.float32)
MAX_STEPS = 300 if FAST else 2100

# %% [markdown]
# ## Exercise 1: a cut-off or a coin flip for death
# A batched dream in NumPy where every rollout keeps stepping and a mask records when it ended.
# With the cut-off, a rollout dies only where M is confident (logit > 0). With a coin flip, every
# step carries a small chance of death, sigmoid(logit): here about 0.12 per step at first, so
# rollouts die within a few steps for no reason the controller could act on. The fitness CMA-ES
# sees then measures luck more than skill, and its spread is set by the coin, not by the world.


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


n = 64 if FAST else 1024
for rule in ("cutoff", "sample"):
    s = dream_numpy(theta, n, 1.15, rule, seed=0)
    print(f"done by {rule:6s}: survived {s.mean():6.1f} +- {s.std():6.1f} steps over {n} dreams")
lib = dream(M, ccfg, theta, mu0, logvar0, DreamConfig(1.15, MAX_STEPS), np.random.default_rng(0), count=n)
print(f"(minwm.dream, the cut-off: {lib.mean():6.1f} +- {lib.std():6.1f}; other random draws, same rules)")

# %% [markdown]
# ## Exercise 2: the variance of z under the mixture at temperature tau
# With weights pi_k = softmax(logits / tau)_k and each Gaussian's variance sigma_k^2 tau:
#
#     E[z]   = sum_k pi_k mu_k
#     Var[z] = sum_k pi_k (tau sigma_k^2 + mu_k^2) - E[z]^2
#
# Raising tau both widens each Gaussian and moves weight towards unlikely components, whose means
# are far from E[z]: the variance grows faster than linearly in tau when the components disagree.

# %%
Zs, K = 4, 5
y = (rng.standard_normal((1, 3 * Zs * K)) * np.repeat([2.0, 1.5, 0.5], Zs * K)).astype(np.float32)
b = np.zeros(3 * Zs * K, np.float32)
N = 20_000 if FAST else 200_000
for tau in (0.5, 1.0, 1.5):
    logits = y[0, :Zs * K].reshape(Zs, K) / tau
    pi = np.exp(logits - logits.max(1, keepdims=True))
    pi /= pi.sum(1, keepdims=True)
    mu, sigma = y[0, Zs * K:2 * Zs * K].reshape(Zs, K), np.exp(y[0, 2 * Zs * K:].reshape(Zs, K))
    mean = (pi * mu).sum(1)
    var = (pi * (tau * sigma ** 2 + mu ** 2)).sum(1) - mean ** 2
    u, eps = rng.random((N, Zs), dtype=np.float32), rng.standard_normal((N, Zs), dtype=np.float32)
    z, _ = mdn_sample_numpy(np.repeat(y, N, axis=0), b, Zs, K, tau, u, eps)
    rel = np.abs(z.var(0) / var - 1).max()
    print(f"tau {tau}: Var[z] formula {np.round(var, 3)}, samples {np.round(z.var(0), 3)} "
          f"(max relative difference {rel:.1%})")
    assert rel < (0.1 if FAST else 0.03)

# %% [markdown]
# ## Exercise 3: how noisy is a fitness of 16 dreams?
# A dream score has a large spread (the paper's real scores: 1092 +- 556), so a mean over 16
# rollouts has a standard error of about std / 4. Two candidates whose true means differ by less
# than that are ranked nearly at random, one reason CMA-ES needs many generations and why the
# original code re-scores the CMA mean over 1024 rollouts (standard error std / 32) before keeping it.

# %%
n = 256 if FAST else 1024
s = dream(M, ccfg, theta, mu0, logvar0, DreamConfig(1.15, MAX_STEPS), np.random.default_rng(1), count=n)
means16 = s.reshape(-1, 16).mean(axis=1)                                    # n / 16 fitness values
other = (theta + 0.02 * np.random.default_rng(5).standard_normal(len(theta))).astype(np.float32)
s2 = dream(M, ccfg, other, mu0, logvar0, DreamConfig(1.15, MAX_STEPS), np.random.default_rng(1), count=n)
print(f"one controller: mean {s.mean():.1f}, std of one dream {s.std():.1f}, std of a 16-dream mean "
      f"{means16.std():.1f} (std / 4 = {s.std() / 4:.1f}), of a 1024-dream mean ~{s.std() / 32:.1f}")
print(f"a nearby controller (theta + 0.02 noise): mean {s2.mean():.1f}; difference {s2.mean() - s.mean():+.1f}")
