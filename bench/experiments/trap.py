"""The wall trap as a probe of M: how long does a controller that holds one direction live in M's
dream, against the game? Round 0's C (hold left: ~170 real, 1,502 dream), round 4's (walks right)
and levers/mdrop/'s C (holds right 99.5% of steps: 166 real) all found this exploit in a dream
that forgot that walls kill; a C near a sweeping one (the shipped C) finds it in a few generations
once the dream rates holding above sweeping. The probe needs no evolved C, so it can run on any M.

    python bench/experiments/trap.py [NAME=DIR ...]   (each DIR holds an mdnrnn.npz)

For each M: 1,024 dreams (minwm.dream's rules in NumPy, M's plain dream at tau 1.15, the shipped
series' first frames) of "hold left" and "hold right"; the game: 100 episodes of each (seeds
7,000,000+). Printed: mean length (alive after 500 / 1,200 steps) of each.
Default: the shipped M and the levers' Ms kept in results/doom-default/experiments/levers/.
"""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import sys
from pathlib import Path

import numpy as np

from minwm import infer
from minwm.doom import TakeCover
from minwm.kernels import mdn_sample_numpy

W = Path("minwm/weights/doom")
LEVERS = Path("results/doom-default/experiments/levers")


def dream_hold(m, action, series, tau=1.15, B=1024, cap=2100, seed=0):
    """B dreams in which the player holds `action` (-1 left, +1 right) -> lengths (B,)."""
    rng = np.random.default_rng(seed)
    e = rng.integers(len(series["init_mu"]), size=B)
    z = (series["init_mu"][e] + np.exp(0.5 * series["init_logvar"][e]) * rng.standard_normal((B, m.nz))).astype(np.float32)
    h, c = infer.initial_state(m, B)
    a = np.full((B, m.na), action, np.float32)
    restart, alive, length = np.ones(B, bool), np.ones(B, bool), np.full(B, cap)
    for t in range(cap):
        h, c = infer.lstm_update(m, z, a, h, c, restart)
        restart[:] = False
        z, done = mdn_sample_numpy(h @ m.w_mdn, m.b_mdn, m.nz, m.k, tau, rng.random((B, m.nz), np.float32),
                                   rng.standard_normal((B, m.nz), np.float32))
        died = alive & (done > 0)
        length[died], alive = t + 1, alive & ~died
        if not alive.any():
            break
    return length


def game_hold(action, n=100, seed=7_000_000):
    env, lengths = TakeCover(), []
    for i in range(n):
        env.reset(seed + i)
        t, done = 0, False
        while not done:
            _, _, done = env.step(action)
            t += 1
        lengths.append(t)
    env.close()
    return np.array(lengths)


def line(name, x):
    return f"{name:28s} {x.mean():7.1f} ± {x.std():6.1f}   alive after 500 / 1,200: {(x > 500).mean():4.0%} / {(x > 1200).mean():4.0%}"


def main():
    runs = dict(a.split("=", 1) for a in sys.argv[1:]) or {
        "shipped": W, **{p.name: p for p in sorted(LEVERS.iterdir()) if (p / "mdnrnn.npz").exists()}}
    series = np.load(W / "series.npz")
    for action, side in ((-1.0, "left"), (1.0, "right")):
        print(line(f"game, hold {side} (100)", game_hold(action)), flush=True)
        for name, d in runs.items():
            m = infer.load_mdnrnn(Path(d) / "mdnrnn.npz")
            print(line(f"dream of {name}, hold {side}", dream_hold(m, action, series)), flush=True)


if __name__ == "__main__":
    main()
