"""How Take Cover kills: hits survived before the lethal one, and how far back the last hit lies.

    python bench/experiments/health.py [EPISODES] [FIRST_SEED] [WEIGHTS]

Plays the random policy of the data collection (a uniform action in [-1, 1] held 1-10 steps), or
the agent in WEIGHTS (e.g. minwm/weights/doom), and reads ViZDoom's HEALTH every step. The
paper's frames crop the status bar, so the health is not in V's z: M can know how close the player is to death only by remembering the earlier hits
(the screen flashes red on a hit). If that memory must reach further back than M's training
windows (rnn.seq_len, 100 steps in the default preset), M cannot learn it there.
"""
import sys
from pathlib import Path

import numpy as np
import vizdoom as vzd

from minwm import agent, infer
from minwm.doom import TakeCover
from minwm.formats import read_controller as load_controller

args = sys.argv[1:]
n, first = int(args[0]) if args else 100, int(args[1]) if len(args) > 1 else 6_000_000
weights = Path(args[2]) if len(args) > 2 else None
env, rng = TakeCover(), np.random.default_rng(first)
if weights:
    v, m = infer.load_vae(weights / "vae.npz"), infer.load_mdnrnn(weights / "mdnrnn.npz")
    ccfg, theta = load_controller(weights / "controller.npz")[:2]
hits, gaps, lengths, damage = [], [], [], []
for seed in range(first, first + n):
    trace = []                                          # health before each step
    if weights:                                         # the agent: edit reads, changes nothing
        def read(a, trace=trace):
            trace.append(env.game.get_game_variable(vzd.GameVariable.HEALTH))
            return a
        t = int(agent.episode(env, v, m, ccfg, theta, seed, edit=read))
    else:
        env.reset(seed)
        t, hold, a = 0, 0, 0.0
        while True:
            if hold == 0:
                a, hold = rng.uniform(-1, 1), int(rng.integers(1, 11))
            hold -= 1
            trace.append(env.game.get_game_variable(vzd.GameVariable.HEALTH))
            t += 1
            if env.step(a)[2]:
                break
    change = np.diff(trace)
    drops = np.flatnonzero(change < 0) + 1                # steps whose health is lower
    damage += list(-change[change < 0])
    lengths.append(t)
    if t < 2100:                                        # died: the lethal hit ends the episode
        hits.append(len(drops))
        if len(drops):
            gaps.append(t - drops[-1])
env.close()
hits, gaps = np.array(hits), np.array(gaps)
print(f"{n} {'episodes of ' + str(weights) if weights else 'random-policy episodes'}, seeds {first}-{first + n - 1}: {np.mean(lengths):.1f} ± "
      f"{np.std(lengths):.1f} steps, {len(hits)} deaths")
print("hits survived before the lethal one: " + ", ".join(
    f"{k}: {np.mean(hits == k):.0%}" for k in range(hits.max() + 1)))
print(f"damage per hit survived: {np.mean(damage):.1f} ± {np.std(damage):.1f} (health 100)")
print(f"steps from the last hit survived to death: median {np.median(gaps):.0f}, "
      f"10th-90th percentile {np.percentile(gaps, 10):.0f}-{np.percentile(gaps, 90):.0f}, "
      f"over 100: {np.mean(gaps > 100):.0%} (of the {len(gaps)} deaths after an earlier hit)")
