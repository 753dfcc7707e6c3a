# %% [markdown]
# # Solutions to chapter 7: CarRacing end to end
# `python tutorials/solutions/07_carracing.py`; `MINWM_FAST=1` uses short episodes (seconds).

# %%
import os
import time

import cma
import numpy as np

from minwm import config, evolve
from minwm import controller as C
from minwm.carracing import CarRacing, brownian_actions

FAST = os.environ.get("MINWM_FAST") == "1"
rng = np.random.default_rng(0)

# %% [markdown]
# ## Exercise 1: hand-made policies
# Each frame costs 0.1 and each new tile pays 1000/N (N is about 250-300 tiles), so a policy
# scores about `1000 x (fraction of tiles visited) - 0.1 x steps`. Standing still collects only
# the tiles under the start and then pays 0.1 per frame. Driving straight ahead collects the
# tiles of the first straight, then the car leaves the road at the first corner and pays 0.1
# per frame on the grass for the rest of the episode (or leaves the playfield: -100 and the
# episode ends); gentler gas reaches the same corner later and collects the same tiles. The
# random-policy rollouts minwm collects (smooth "Brownian" actions) wander across road and grass
# and visit tiles by chance. None comes near 900: that needs steering, which C learns from z and h.

# %%
steps, tracks = (200, 2) if FAST else (1000, 5)
env = CarRacing(max_steps=steps)
policies = {"stand still": lambda t: [0.0, 0.0, 0.0],
            "full gas straight ahead": lambda t: [0.0, 1.0, 0.0]}
for name in list(policies) + ["Brownian (collect's policy)"]:
    scores, tiles = [], []
    for seed in range(tracks):
        env.reset(seed)
        n = len(env.env.track)
        actions = brownian_actions(np.random.default_rng(seed), steps)
        total, count = 0.0, 0
        for t in range(steps):
            a = policies[name](t) if name in policies else actions[t]
            _, r, done = env.step(a)
            total += r
            count += r > 0
            if done:
                break
        scores.append(total)
        tiles.append(count / n)
    print(f"{name:28s} score {np.mean(scores):7.1f} +- {np.std(scores):5.1f}, "
          f"tiles visited {np.mean(tiles):.0%} (over {tracks} tracks, {steps} steps)")
env.close()

# %% [markdown]
# ## Exercise 2: the "z only" controller written out
# theta = [W (3, 32) row-major, b (3,)]: 99 parameters, a = tanh(W z + b).

# %%
cfg = config.override(config.preset("carracing", "tiny"), ["evolve.controller=z"])
ccfg = evolve.controller_config(cfg, 32, 256)


def act_z(theta, z):
    W, b = theta[:96].reshape(3, 32), theta[96:]
    return np.tanh(z @ W.T + b)                                              # (N, 3)


theta = rng.standard_normal(C.n_params(ccfg)) * 0.3
z = rng.standard_normal((20, 32))
d = np.abs(act_z(theta, z) - C.act(ccfg, theta, z)).max()
print(f"z only: {C.n_params(ccfg)} parameters; ours vs minwm.controller: max difference {d:.1e}")
assert C.n_params(ccfg) == 99 and d < 1e-12

# %% [markdown]
# ## Exercise 3: the cost of CMA-ES grows with P
# CMA-ES keeps a P x P covariance (P^2 numbers) and, every few generations, its
# eigendecomposition (O(P^3)). For P in the hundreds to a couple of thousand this is
# milliseconds, negligible beside 64 x 16 real episodes per generation. Reading V's 1024
# features instead of z would give 3 x (1024 + 256) + 3 = 3843 parameters: 15 million
# covariance entries, and the search itself would need far more generations (CMA-ES's learning
# rates for the covariance shrink like 1 / P^2). Keeping C tiny is what makes CMA-ES usable.

# %%
for P in (99, 867, 1443):
    es = cma.CMAEvolutionStrategy(np.zeros(P), 0.1, {"popsize": 64, "seed": 1, "verbose": -9})
    t0 = time.perf_counter()
    gens = 3 if FAST else 20
    for _ in range(gens):
        xs = es.ask()
        es.tell(xs, [float(np.sum(np.square(x))) for x in xs])
    per_gen = (time.perf_counter() - t0) / gens
    print(f"P = {P:5d}: covariance {P * P / 1e6:6.2f} M entries, ask + tell {per_gen * 1e3:7.1f} ms per generation")
print(f"C on V's 1024 features: P = {3 * (1024 + 256) + 3}, covariance {(3 * 1280 + 3) ** 2 / 1e6:.1f} M entries")
