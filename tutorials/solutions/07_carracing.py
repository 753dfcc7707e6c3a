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
# Each frame costs 0.1 and each new tile pays 1000/N (N is about 250-320 tiles), so a policy
# scores exactly `1000/N x (tiles visited) - 0.1 x steps`. Standing still collects only the
# tiles under the start and then pays 0.1 per frame. Driving straight ahead collects the tiles
# of the first straight, then the car leaves the road at the first corner and pays 0.1 per frame
# on the grass for the rest of the episode (or leaves the playfield: -100 and the episode ends).
# The random-policy rollouts minwm collects (smooth "Brownian" actions) wander across road and
# grass and visit tiles by chance. None comes near 900: that needs steering, which C learns from
# z and h. N is read off the rewards: a step that reaches one new tile pays 1000/N - 0.1.

# %%
steps, tracks = (200, 2) if FAST else (1000, 5)
env = CarRacing(max_steps=steps)


def track_tiles(seed):
    """N of track `seed`, read off the rewards of 60 steps straight ahead: one new tile pays
    1000/N - 0.1 (the first step, on the start line, visits two)."""
    env.reset(seed)
    r = np.array([env.step([0.0, 1.0, 0.0])[1] for _ in range(60)])
    return round(1000 / (r[r > 0].min() + 0.1))


policies = {"stand still": lambda t: [0.0, 0.0, 0.0],
            "full gas straight ahead": lambda t: [0.0, 1.0, 0.0]}
n_tiles = [track_tiles(seed) for seed in range(tracks)]
results = {}
for name in list(policies) + ["Brownian (collect's policy)"]:
    scores, tiles = [], []
    for seed in range(tracks):
        env.reset(seed)
        actions = brownian_actions(np.random.default_rng(seed), steps)
        rewards = []
        for t in range(steps):
            _, r, done = env.step(policies[name](t) if name in policies else actions[t])
            rewards.append(r)
            if done:
                break
        rewards = np.array(rewards)
        off_field = rewards.min() < -50                                      # -100: left the playfield
        visited = (rewards[rewards > 0] + 0.1).sum() * n_tiles[seed] / 1000
        assert abs(visited - round(visited)) < 1e-2                          # whole tiles
        if not off_field:                                                    # the reward rule, exactly
            assert abs(rewards.sum() - (round(visited) * 1000 / n_tiles[seed] - 0.1 * len(rewards))) < 1e-2
        scores.append(rewards.sum())
        tiles.append(round(visited))
    results[name] = np.mean(scores), np.mean(tiles)
    print(f"{name:28s} score {np.mean(scores):7.1f} +- {np.std(scores):5.1f}, "
          f"{np.mean(tiles):.0f} tiles visited on average (over {tracks} tracks of {n_tiles} tiles, {steps} steps)")
env.close()
assert max(score for score, _ in results.values()) < 900   # none drives: that takes steering
assert results["stand still"][1] < results["full gas straight ahead"][1]   # the first straight pays

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
times = {}
for P in (99, 867, 1443):
    es = cma.CMAEvolutionStrategy(np.zeros(P), 0.1, {"popsize": 64, "seed": 1, "verbose": -9})
    t0 = time.perf_counter()
    gens = 3 if FAST else 20
    for _ in range(gens):
        xs = es.ask()
        es.tell(xs, [float(np.sum(np.square(x))) for x in xs])
    per_gen = (time.perf_counter() - t0) / gens
    times[P] = per_gen
    print(f"P = {P:5d}: covariance {P * P / 1e6:6.2f} M entries, ask + tell {per_gen * 1e3:7.1f} ms per generation")
print(f"C on V's 1024 features: P = {3 * (1024 + 256) + 3}, covariance {(3 * 1280 + 3) ** 2 / 1e6:.1f} M entries")
P_features = 3 * (1024 + 256) + 3
assert P_features == 3843 and times[1443] > times[99]     # the covariance's cost grows with P
