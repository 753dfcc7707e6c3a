# %% [markdown]
# # Solutions to chapter 6: C and CMA-ES
# `python tutorials/solutions/06_cma_es.py`; `MINWM_FAST=1` uses the chapter's fast sizes (seconds).

# %%
import os

import cma
import numpy as np

from minwm import carracing
from minwm import controller as C

FAST = os.environ.get("MINWM_FAST") == "1"
rng = np.random.default_rng(0)

# %% [markdown]
# ## Exercise 1: the step size of a simple ES
# On the chapter's quadratic $\sum_i 10^{4 i / 9} (x_i - 1)^2$ a fixed $\sigma$ must be small for
# the steep axes and large for the flat ones at the same time. Small $\sigma$ crawls along the flat
# axes; large $\sigma$ cannot settle in the steep ones (the best f stalls at about
# $\sigma^2 \times$ the steepest scale). CMA-ES adapts both the overall step size and the
# per-direction scales, so from the same start it ends lower than every fixed $\sigma$.

# %%
P = 10
scales = 10.0 ** (4 * np.arange(P) / (P - 1))
f = lambda x: float(np.sum(scales * (np.asarray(x) - 1.0) ** 2))
gens = 60 if FAST else 150                                  # the chapter's generations


def simple_es(sigma, r):
    m = np.zeros(P)
    for _ in range(gens):
        xs = m + sigma * r.standard_normal((16, P))
        fs = np.array([f(x) for x in xs])
        m = xs[np.argsort(fs)[:4]].mean(axis=0)
    return f(m)


def run_cma(gens, seed=1, **switches):
    """The chapter's plain CMA-ES (active CMA off) on the quadratic -> f(mean) after gens."""
    es = cma.CMAEvolutionStrategy(np.zeros(P), 0.1, {"popsize": 16, "verbose": -9, "CMA_active": False,
                                                     "updatecovwait": 0, **switches,
                                                     "randn": np.random.RandomState(seed).randn})
    for _ in range(gens):
        xs = es.ask()
        es.tell(xs, [f(x) for x in xs])
    return f(es.mean)


simple = {sigma: simple_es(sigma, np.random.default_rng(1)) for sigma in (0.03, 0.1, 0.3)}
for sigma, value in simple.items():
    print(f"simple ES, sigma {sigma}: f(mean) after {gens} generations = {value:.3g}")
f_cma = run_cma(gens)
print(f"CMA-ES, sigma0 0.1: f(mean) = {f_cma:.3g}")
assert f_cma < min(simple.values())
assert simple[0.3] > simple[0.1]                            # too large a sigma stalls higher

# %% [markdown]
# ## Exercise 2: which part of CMA-ES does the quadratic need?
# Geometric mean of f(mean) over three seeds after 200 generations. The rank-$\mu$ update
# carries most of the covariance learning here (a population of 16 in 10 dimensions sees many
# directions per generation); the rank-one update alone learns $C$ too, but from one direction
# per generation, so more slowly. With $C$ fixed (`CMA_on=0`) only $\sigma$ adapts, and
# conditioning $10^4$ keeps f orders of magnitude higher.

# %%
runs = {name: float(np.exp(np.mean([np.log(run_cma(200, seed, **switches)) for seed in (1, 2, 3)])))
        for name, switches in [("full", {}), ("no rank-one", {"CMA_rankone": 0}),
                               ("no rank-mu", {"CMA_rankmu": 0}), ("sigma only", {"CMA_on": 0})]}
for name, value in runs.items():
    print(f"{name:12s}: f(mean) after 200 generations {value:.3g}")
assert runs["full"] < runs["no rank-mu"] / 10 and runs["no rank-one"] < runs["no rank-mu"]
assert runs["sigma only"] > runs["no rank-mu"]

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
