"""python results/doom-default/experiments/explore.py WEIGHTS OUT_DIR N [P]: N real rollouts of the agent
in WEIGHTS (vae.npz, mdnrnn.npz, controller.npz) with exploration, for M's next round (section 5).

Why: deaths.py shows the shipped C dies ~28 steps after turning back at a wall, and holding each turn
30 steps longer (delay.py) raises its real score 745 -> 920 on seeds 2,000,000+, while M's dream says
the opposite (1,324 -> 965): M never saw an agent wait at a wall and survive. So the agent explores:
at each step, with probability P (default 0.02), it starts a random action (uniform in [-1, 1],
thresholded as always) held for 1 to 30 steps; M's LSTM is fed the action actually taken. Rollouts
go to OUT_DIR in collect's format (seeds 6,000,000 + i, which no other run uses); existing ones are
skipped, so the script resumes.
"""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # 2 workers on 2 cores: one BLAS thread each

import multiprocessing
import sys
from pathlib import Path

import numpy as np

from minwm import controller as C
from minwm import infer
from minwm.doom import TakeCover
from minwm.evolve import load_controller
from minwm.rollouts import rollout_path, write_rollout

_w = {}


def _init(weights, out_dir, p):
    weights = Path(weights)
    _w.update(v=infer.load_vae(weights / "vae.npz"), m=infer.load_mdnrnn(weights / "mdnrnn.npz"),
              c=load_controller(weights / "controller.npz")[:2], env=TakeCover(), out=Path(out_dir), p=p)


def _rollout(seed):
    v, m, (ccfg, theta), env, p = _w["v"], _w["m"], _w["c"], _w["env"], _w["p"]
    rng, explore = np.random.default_rng(seed), np.random.default_rng(seed + 1)
    frame = env.reset(seed)
    h, c = infer.initial_state(m, 1)
    restart, hold, a_random = np.ones(1, bool), 0, 0.0
    frames, actions, rewards = [], [], []
    while True:                                       # agent.episode's loop, with exploration
        h, c = np.where(restart[:, None], 0.0, h), np.where(restart[:, None], 0.0, c)
        mu, logvar = infer.encode(v, frame[None])
        z = infer.sample_z(mu, logvar, rng.standard_normal(mu.shape, dtype=np.float32))
        a = C.act(ccfg, theta, z, h, c)                                # (1, 1)
        if hold == 0 and explore.random() < p:
            hold, a_random = int(explore.integers(1, 31)), float(explore.uniform(-1.0, 1.0))
        if hold:
            a, hold = np.full((1, 1), a_random, np.float32), hold - 1
        h, c = infer.lstm_update(m, z, C.m_action(ccfg, a), h, c, restart)
        restart[:] = False
        act = C.env_action(ccfg, a)
        frames.append(frame), actions.append(float(act[0]))
        frame, reward, done = env.step(act[0])
        rewards.append(reward)
        if done:
            break
    dones = np.zeros(len(rewards), bool)
    dones[-1] = True
    write_rollout(rollout_path(_w["out"], seed), dict(
        frames=np.stack(frames), actions=np.array(actions, np.float32), rewards=np.array(rewards, np.float32),
        dones=dones, seed=np.array(seed, np.int64)))
    return len(rewards)


def main():
    weights, out, n = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    p = float(sys.argv[4]) if len(sys.argv) > 4 else 0.02
    out.mkdir(parents=True, exist_ok=True)
    seeds = [s for s in 6_000_000 + np.arange(n) if not rollout_path(out, int(s)).exists()]
    with multiprocessing.get_context("spawn").Pool(2, _init, (weights, str(out), p)) as pool:
        for i, steps in enumerate(pool.imap_unordered(_rollout, [int(s) for s in seeds])):
            print(f"{i + 1}/{len(seeds)}: {steps} steps", flush=True)


if __name__ == "__main__":
    main()
