# %% [markdown]
# # Solutions to chapter 6: C and CMA-ES
# `python tutorials/solutions/06_cma_es.py`; `MINWM_FAST=1` uses small sizes (seconds).

# %%
import os

import cma
import numpy as np

from minwm import carracing, infer
from minwm import controller as C
from minwm.dream import DreamConfig, dream, dream_population

FAST = os.environ.get("MINWM_FAST") == "1"
rng = np.random.default_rng(0)

# %% [markdown]
# ## Exercise 1: the step size of a simple ES
# On `sum_i 10^(4 i / 9) (x_i - 1)^2` a fixed sigma must be small for the steep axes and large
# for the flat ones at the same time. Small sigma crawls along the flat axes; large sigma cannot
# settle in the steep ones (the best f stalls at about `sigma^2 x the steepest scale`). CMA-ES
# adapts both the overall step size and the per-direction scales, so it needs no tuning.

# %%
P = 10
scales = 10.0 ** (4 * np.arange(P) / (P - 1))
f = lambda x: float(np.sum(scales * (np.asarray(x) - 1.0) ** 2))
gens = 60 if FAST else 150


def simple_es(sigma, r):
    m = np.zeros(P)
    for _ in range(gens):
        xs = m + sigma * r.standard_normal((16, P))
        fs = np.array([f(x) for x in xs])
        m = xs[np.argsort(fs)[:4]].mean(axis=0)
    return f(m)


for sigma in (0.03, 0.1, 0.3):
    print(f"simple ES, sigma {sigma}: f(mean) after {gens} generations = {simple_es(sigma, np.random.default_rng(1)):.3g}")
es = cma.CMAEvolutionStrategy(np.zeros(P), 0.1, {"popsize": 16, "seed": 1, "verbose": -9})
for _ in range(gens):
    xs = es.ask()
    es.tell(xs, [f(x) for x in xs])
print(f"CMA-ES, sigma0 0.1: f(mean) = {f(es.mean):.3g}")

# %% [markdown]
# ## Exercise 2: temperature and transfer
# Evolve in a dream at tau 0.5 and at tau 1.5 (the random world of the chapter), then score each
# controller at both temperatures. The calmer dream is easier, so scores there are higher; what
# matters is the cross terms. A controller trained in the noisier world has had to cope with
# more varied states, which is the paper's argument for tau > 1 (exploiting M's imperfections is
# harder when M is less predictable). With random M and a short evolution the numbers vary.

# %%
Z, H = (16, 64) if FAST else (64, 512)
arrays = infer.random_mdnrnn_arrays(Z, 1, H, np.random.default_rng(2), restart=True, done=True)
arrays["lstm.wx"][Z] *= 30.0
arrays["mdn.w"][:, -1] *= 4.0
arrays["mdn.b"][-1] = -2.0
M = infer.mdnrnn_from_arrays(arrays)
ccfg = C.ControllerConfig(nz=Z, hidden=H, na=1, inputs="zch", bias=False, env="doom")
mu0 = np.random.default_rng(3).standard_normal((50, Z)).astype(np.float32)
logvar0 = np.full((50, Z), -2.0, np.float32)
max_steps, gens, pop, n_rollouts = (200, 8, 16, 8) if FAST else (1000, 25, 64, 16)
evolved = {}
for tau in (0.5, 1.5):
    es = cma.CMAEvolutionStrategy(np.zeros(C.n_params(ccfg)), 0.1, {"popsize": pop, "seed": 1, "verbose": -9})
    r = np.random.default_rng(4)
    for _ in range(gens):
        thetas = np.asarray(es.ask())
        rewards = dream_population(M, ccfg, thetas, n_rollouts, mu0, logvar0, DreamConfig(tau, max_steps), r)
        es.tell(list(thetas), list(-rewards.mean(axis=1)))
    evolved[tau] = es.mean.astype(np.float32)
for trained, theta in evolved.items():
    scores = [dream(M, ccfg, theta, mu0, logvar0, DreamConfig(t, max_steps), np.random.default_rng(5),
                    count=256).mean() for t in (0.5, 1.5)]
    print(f"trained at tau {trained}: scores at tau 0.5 {scores[0]:.1f}, at tau 1.5 {scores[1]:.1f}")

# %% [markdown]
# ## Exercise 3: the "z + hidden layer" ablation written out
# theta = [W1 (40, 32) row-major, b1 (40,), W2 (3, 40), b2 (3,)]: 1280 + 40 + 120 + 3 = 1443.

# %%
def act_z_hidden(theta, z):
    W1, b1 = theta[:1280].reshape(40, 32), theta[1280:1320]
    W2, b2 = theta[1320:1440].reshape(3, 40), theta[1440:1443]
    return np.tanh(np.tanh(z @ W1.T + b1) @ W2.T + b2)                       # (N, 3)


CARRACING_Z_HIDDEN = C.ablation(carracing.SPEC.controller, "z_hidden")   # CarRacing's C, ablated
theta = rng.standard_normal(1443) * 0.2
z = rng.standard_normal((20, 32))
d = np.abs(act_z_hidden(theta, z) - C.act(CARRACING_Z_HIDDEN, theta, z)).max()
print(f"parameters {C.n_params(CARRACING_Z_HIDDEN)}; ours vs minwm.controller: max difference {d:.1e}")
assert C.n_params(CARRACING_Z_HIDDEN) == 1443 and d < 1e-12
