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
from deaths import dream_lengths  # this folder's: the NumPy dream of any policy

from minwm import infer
from minwm.doom import SPEC, TakeCover

W = Path("minwm/weights/doom")
LEVERS = Path("results/doom-default/experiments/levers")


def dream_hold(m, action, series, tau=1.15, B=1024, seed=0):
    """B dreams in which the player holds `action` (-1 left, +1 right) -> lengths (B,)."""
    hold = np.full((B, 1), action, np.float32)
    return dream_lengths(m, series, SPEC.controller, tau, B, seed, lambda z, h, c: hold)[1]


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
