"""python bench/experiments/explore.py WEIGHTS OUT_DIR N [P | walls] [FIRST]: N real
rollouts of the agent in WEIGHTS (vae.npz, mdnrnn.npz, controller.npz) with exploration, for M's next round (section 5).

Why: deaths.py shows the shipped C dies ~28 steps after turning back at a wall, and holding each turn
30 steps longer (deaths.py --delay) raises its real score 745 -> 920 on seeds 2,000,000+, while M's dream says
the opposite (1,324 -> 965): M never saw an agent wait at a wall and survive. So the agent explores:
at each step, with probability P (default 0.02), it starts a random action (uniform in [-1, 1],
thresholded as always) held for 1 to 30 steps; M's LSTM is fed the action actually taken.

`walls`: exploration aimed where M is wrong. Every turn C makes (left <-> right, i.e. at a wall for the
shipped C) waits a random D in 0..60 steps (uniform, drawn per turn), the old direction held meanwhile
(deaths.py's delay, with D random), so M sees waits of every length at the walls and what follows.

Rollouts go to OUT_DIR in collect's format (seeds FIRST + i; FIRST defaults to 6,000,000, for `walls`
7,000,000, which no other run uses); existing ones are skipped, so the script resumes.
"""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # 2 workers on 2 cores: one BLAS thread each

import multiprocessing
import sys
from pathlib import Path

import numpy as np
from deaths import delayed, discrete, load_agent

from minwm.agent import episode
from minwm.formats import rollout_path, write_rollout

_w = {}


def _init(weights, out_dir, p):
    _w.update(load_agent(Path(weights)), out=Path(out_dir), p=p)


def explorer(p, rng):
    """An edit for agent.episode: with probability p per step, C's output a (1, 1) is replaced by a
    random value in [-1, 1] held for 1 to 30 steps."""
    hold, a_random = 0, 0.0

    def edit(a):
        nonlocal hold, a_random
        if hold == 0 and rng.random() < p:
            hold, a_random = int(rng.integers(1, 31)), float(rng.uniform(-1.0, 1.0))
        if hold:
            hold -= 1
            return np.full((1, 1), a_random, np.float32)
        return a
    return edit


def waller(rng, most=60):
    """An edit for agent.episode: each turn of C (left <-> right) waits D steps, D drawn uniformly
    in 0..most when the turn is first asked for; the old direction is held meanwhile."""
    cur, hold, d = np.zeros(1, int), np.zeros(1, int), [0]

    def edit(a):
        if hold[0] == 0 and cur[0] != 0 and discrete(a[0, 0]) == -cur[0]:   # a new turn: its delay
            d[0] = int(rng.integers(0, most + 1))
        return delayed(a[:, 0], cur, hold, d[0])[:, None]
    return edit


def _rollout(seed):
    (ccfg, theta), p = _w["c"], _w["p"]
    rng = np.random.default_rng(seed + 1)
    r = episode(_w["env"], _w["v"], _w["m"], ccfg, theta, seed, record=True,
                edit=waller(rng) if p == "walls" else explorer(float(p), rng))
    write_rollout(rollout_path(_w["out"], seed), r)
    return len(r["rewards"])


def main():
    weights, out, n = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    p = sys.argv[4] if len(sys.argv) > 4 else "0.02"
    out.mkdir(parents=True, exist_ok=True)
    first = int(sys.argv[5]) if len(sys.argv) > 5 else 7_000_000 if p == "walls" else 6_000_000
    seeds = [s for s in first + np.arange(n) if not rollout_path(out, int(s)).exists()]
    with multiprocessing.get_context("spawn").Pool(2, _init, (weights, str(out), p)) as pool:
        for i, steps in enumerate(pool.imap_unordered(_rollout, [int(s) for s in seeds])):
            print(f"{i + 1}/{len(seeds)}: {steps} steps", flush=True)


if __name__ == "__main__":
    main()
