"""Environment speed: stock vs fast CarRacing side by side, Take Cover, and rollout collection.

    python bench/envs.py            (about two minutes on 2 cores)
    python bench/envs.py --quick    (about 30 s; rough figures)

Rows:
  CarRacing   gymnasium's stock CarRacing-v3 and minwm's FastCarRacing, alternating whole
              1000-step episodes (the zoom-in included) with the same seeds and Brownian actions,
              every observation, reward and termination asserted byte-identical; ms per raw
              env.step (96x96 observation), and the wrapper's step with V's 64x64 frame
  Take Cover  steps/s of minwm.doom.TakeCover (one tic and a 64x64 frame per step), and the
              random policy's score over 100 episodes (the paper's 210 +- 108)
  collect     collect.main from scratch into a temporary directory (worker start-up, env
              creation, compression and writing included): frames/s with 1 and 2 workers
On a busy machine all absolute figures drop; the ratio much less.
"""
import argparse
import os
import shutil
import tempfile
import time

import gymnasium
import numpy as np

from minwm import carracing, doom
from minwm import collect as collect_stage
from minwm.carracing_fast import FastCarRacing
from minwm.config import override, preset


def carracing_side_by_side(episodes, steps):
    """Per seed: a stock episode (observations kept), then the fast one, checked step by step.
    Alternating whole episodes shares the machine's load fairly; alternating single steps would
    let each env evict the other's 3 MB drawing surfaces from the cache and slow both."""
    stock, fast = gymnasium.make("CarRacing-v3"), FastCarRacing()
    t_stock = t_fast = 0.0
    n = 0
    for seed in range(episodes):
        actions = carracing.brownian_actions(np.random.default_rng(seed), steps)   # (T, 3)
        reference, _ = stock.reset(seed=seed)
        obs, _ = fast.reset(seed=seed)
        assert np.array_equal(reference, obs)
        reference = []
        t0 = time.perf_counter()
        for a in actions:
            o, r, terminated, truncated, _ = stock.step(a)
            reference.append((o, r, terminated))
            if terminated or truncated:
                break
        t_stock += time.perf_counter() - t0
        for t, a in enumerate(actions[:len(reference)]):
            t0 = time.perf_counter()
            o, r, terminated, _, _ = fast.step(a)
            t_fast += time.perf_counter() - t0
            assert (np.array_equal(o, reference[t][0]) and r == reference[t][1]
                    and terminated == reference[t][2]), (seed, t)
        n += len(reference)
    stock.close(), fast.close()
    return t_stock / n, t_fast / n, n


def wrapper_step(steps):
    env = carracing.CarRacing()
    env.reset(seed=100)
    actions = carracing.brownian_actions(np.random.default_rng(100), steps)
    t0 = time.perf_counter()
    for a in actions:
        env.step(a)
    env.close()
    return (time.perf_counter() - t0) / steps


def take_cover(episodes):
    env = doom.TakeCover()
    n, scores, t0 = 0, [], time.perf_counter()
    for seed in range(episodes):
        rng, done, total = np.random.default_rng(seed), False, 0.0
        env.reset(seed)
        while not done:
            _, r, done = env.step(rng.uniform(-1, 1))
            n, total = n + 1, total + r
        scores.append(total)
    dt = time.perf_counter() - t0
    env.close()
    return n / dt, np.mean(scores), np.std(scores)


def collect(env, n_rollouts, workers, max_frames=0):
    out = tempfile.mkdtemp(prefix="minwm-bench-")
    try:
        cfg = override(preset(env, "paper", run_dir=out), [f"collect.rollouts={n_rollouts}",
                       f"collect.workers={workers}", f"collect.max_frames={max_frames}"])
        t0 = time.perf_counter()
        rollouts = collect_stage.main(cfg)                       # run_dir/rollouts
        dt = time.perf_counter() - t0
        frames = sum(len(np.load(rollouts / f)["dones"]) for f in os.listdir(rollouts))
        return frames / dt, frames, dt
    finally:
        shutil.rmtree(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    q = args.quick
    print(f"gymnasium {gymnasium.__version__}, {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.2f}")

    stock, fast, n = carracing_side_by_side(1 if q else 3, 300 if q else 1000)
    print(f"CarRacing  stock {stock * 1e3:6.2f} ms/step {1 / stock:6.0f} steps/s | "
          f"fast {fast * 1e3:6.2f} ms/step {1 / fast:6.0f} steps/s | speed-up {stock / fast:.2f}x "
          f"({n} steps, byte-identical)")
    w = wrapper_step(200 if q else 1000)
    print(f"CarRacing  minwm.carracing.CarRacing (fast + 64x64 frame): {w * 1e3:.2f} ms/step "
          f"{1 / w:.0f} steps/s")

    n = 10 if q else 100
    sps, mean, std = take_cover(n)
    print(f"Take Cover {sps:6.0f} steps/s | random policy (a ~ U[-1, 1] each step), {n} episodes, "
          f"seeds 0-{n - 1}: {mean:.1f} +- {std:.1f} (paper: 210 +- 108)")

    for env, n_rollouts, max_frames in [("doom", 10 if q else 40, 0),
                                        ("carracing", 2 if q else 4, 200 if q else 0)]:
        for workers in (1, 2):
            fps, frames, dt = collect(env, n_rollouts, workers, max_frames)
            print(f"collect    {env:9s} {workers} worker{'s' if workers > 1 else ' '} "
                  f"{fps:6.0f} frames/s ({n_rollouts} rollouts, {frames} frames, {dt:.1f} s)")


if __name__ == "__main__":
    main()
