"""The pygame-free CarRacing frame: byte-identical to stock over many observations, and its speed.

    python bench/carracing_render.py            (>= 100,000 observations; ~30 min on 2 idle cores)
    python bench/carracing_render.py --quick    (a thousand; about a minute)
    python bench/carracing_render.py --seeds 0:7 --no-speed & \
    python bench/carracing_render.py --seeds 7:15 --no-speed     (the identity part on 2 cores)

1. Identity. gymnasium's stock CarRacing-v3 and minwm's FastCarRacing (Numba frames) step in lock
   step with the same actions, 8 policies x 15 seeds (seed by seed, so a run stopped early has
   covered every policy), episodes of up to 1000 steps (the
   zoom-in, lap ends and the -100 exit included). Closed-loop policies act on the stock env's
   observation or state. Per policy: observations compared, mismatching pixels, the largest
   channel difference, reward or termination mismatches (all must be 0).
2. Speed. ms per env.step with random actions, same seeds, one process, whole episodes taken in
   turn (stock, FastCarRacing drawing with pygame, FastCarRacing drawing with Numba, and the
   floor: the same steps drawing nothing, physics and bookkeeping only), CPU time
   of this process (process_time) and wall time: on a shared machine wall time counts other
   jobs' turns, CPU time much less. Re-run on an idle machine for clean figures.
The log goes to bench/results/carracing_render.txt.
"""
import argparse
import datetime
import math
import os
import sys
import time

import gymnasium
import numpy as np
import pygame

from minwm import carracing, carracing_fast


class NoFrame(carracing_fast.FastCarRacing):
    """The step without its frame: what is left when drawing costs nothing."""

    def _render(self, mode):
        return np.zeros((96, 96, 3), np.uint8)


LOG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "carracing_render.txt")


def scripted_driver(env, obs, t, rng):
    """Steers toward the track point 5 tiles ahead of the nearest one, slows for turns: whole laps."""
    car, track = env.car.hull, np.array(env.track)[:, 2:4]         # (N, 2) track points
    pos = np.array(car.position)
    i = int(np.argmin(np.square(track - pos).sum(1)))
    dx, dy = track[(i + 5) % len(track)] - pos
    heading = car.angle + math.pi / 2                              # the car's nose, world frame
    error = (math.atan2(dy, dx) - heading + math.pi) % (2 * math.pi) - math.pi
    speed = np.hypot(*car.linearVelocity)
    return [np.clip(-2.0 * error, -1, 1), 0.8 if speed < 75 - 40 * abs(error) else 0.0,
            0.4 if speed > 90 - 40 * abs(error) else 0.0]


def pixel_controller(env, obs, t, rng):
    """A controller on the 96x96 observation: steers toward the side with more grey road in the
    rows ahead of the car (the closed loop of the paper's agent, without learned weights)."""
    rows = obs[50:66].astype(np.int16)                             # (16, 96, 3) just ahead
    grey = (np.abs(rows[..., 0] - rows[..., 1]) < 12) & (np.abs(rows[..., 1] - rows[..., 2]) < 12)
    left, right = grey[:, :48].sum(), grey[:, 48:].sum()
    return [np.clip((right - left) / 150.0, -1, 1), 0.3, 0.0]


def _open(kind):
    return {"random": lambda e, o, t, r: r.uniform([-1, 0, 0], [1, 1, 1]),
            "straight": lambda e, o, t, r: [0.0, 1.0, 0.0],
            "hard turns": lambda e, o, t, r: [1.0 if (t // 40) % 2 else -1.0, 0.6, 0.0],
            "braking": lambda e, o, t, r: [0.0, 1.0, 0.0] if (t // 30) % 2 else [0.3, 0.0, 0.9],
            "off track": lambda e, o, t, r: [0.5, 0.1, 0.0] if 10 <= t < 40 else [0.0, 0.4, 0.0],
            "scripted driver": scripted_driver, "controller": pixel_controller}[kind]


POLICIES = ["random", "brownian", "straight", "hard turns", "off track", "braking",
            "scripted driver", "controller"]


def identity(policy, seed, steps, stock, fast):
    """One episode of both envs in lock step -> observations compared, mismatching pixels, largest
    channel difference, reward or termination mismatches."""
    rng = np.random.default_rng(seed)
    brownian = carracing.brownian_actions(rng, steps)
    o1, _ = stock.reset(seed=seed)
    o2, _ = fast.reset(seed=seed)
    n = bad_pixels = worst = bad_other = 0
    for t in range(steps + 1):
        diff = np.abs(o1.astype(np.int16) - o2)
        n, bad_pixels, worst = n + 1, bad_pixels + int(diff.any(2).sum()), max(worst, int(diff.max()))
        if t == steps:
            break
        a = np.asarray(brownian[t] if policy == "brownian" else _open(policy)(stock, o1, t, rng), np.float32)
        o1, r1, term1, _, _ = stock.step(a)
        o2, r2, term2, _, _ = fast.step(a)
        bad_other += (r1 != r2) + (term1 != term2)
        if term1 or term2:
            diff = np.abs(o1.astype(np.int16) - o2)
            n, bad_pixels, worst = n + 1, bad_pixels + int(diff.any(2).sum()), max(worst, int(diff.max()))
            break
    return np.array([n, bad_pixels, worst, bad_other])


def speed(envs, seeds, steps):
    """ms/step (CPU, wall) per env: whole episodes in turn, random actions, the same seeds."""
    cpu, wall, n = {k: 0.0 for k in envs}, {k: 0.0 for k in envs}, {k: 0 for k in envs}
    for seed in seeds:
        actions = np.random.default_rng(seed).uniform([-1, 0, 0], [1, 1, 1], (steps, 3)).astype(np.float32)
        for name, env in envs.items():
            env.reset(seed=seed)
            c0, w0 = time.process_time(), time.perf_counter()
            for a in actions:
                n[name] += 1
                if env.step(a)[2]:
                    break
            cpu[name] += time.process_time() - c0
            wall[name] += time.perf_counter() - w0
    return {k: (1e3 * cpu[k] / n[k], 1e3 * wall[k] / n[k], n[k]) for k in envs}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seeds", default="0:15", help="seed range a:b of the identity part (0:0: none)")
    ap.add_argument("--no-speed", action="store_true", help="identity only (to split seeds over runs)")
    args = ap.parse_args()
    q = args.quick
    log = open(LOG, "a")  # noqa: SIM115 (appended line by line while the bench runs)

    def say(line):
        print(line, flush=True)
        log.write(line + "\n")
        log.flush()

    say(f"# {datetime.date.today()}: python bench/carracing_render.py {' '.join(sys.argv[1:])}")
    say(f"gymnasium {gymnasium.__version__}, pygame-ce {pygame.version.ver} "
        f"({pygame.transform.get_smoothscale_backend()} smoothscale), {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.2f}, python {sys.version.split()[0]}")
    stock = gymnasium.make("CarRacing-v3").unwrapped                # no TimeLimit: we cap at `steps`
    fast = carracing_fast.FastCarRacing()
    assert fast.numba, "the Numba frame is not verified on these versions"
    a, b = map(int, args.seeds.split(":"))
    seeds, steps = (range(1), 150) if q else (range(a, b), 1000)
    totals = {policy: np.zeros(4, np.int64) for policy in POLICIES}  # seed-major: every policy
    for seed in seeds:                                               # is covered if stopped early
        t0 = time.perf_counter()
        for policy in POLICIES:
            r = identity(policy, seed, steps, stock, fast)
            totals[policy] += r * [1, 1, 0, 1]
            totals[policy][2] = max(totals[policy][2], r[2])
        done = np.sum([t for t in totals.values()], 0)
        say(f"identity seed {seed}: all 8 policies, {done[0]} observations so far, {done[1]} mismatching "
            f"pixels, largest difference {done[2]}, {done[3]} reward/termination mismatches "
            f"({time.perf_counter() - t0:.0f} s)")
    for policy, (n, bad, worst, other) in totals.items() if len(seeds) else []:
        say(f"identity {policy:15s} seeds {seeds.start}-{seeds.stop - 1}: {n:6d} observations, {bad} "
            f"mismatching pixels, largest difference {worst}, {other} reward/termination mismatches")
    if len(seeds):
        say(f"identity total {sum(t[0] for t in totals.values())} observations over {len(POLICIES)} policies")
    if args.no_speed:
        return

    envs = {"stock": stock, "fast (pygame)": carracing_fast.FastCarRacing(numba=False), "fast (numba)": fast,
            "no frame": NoFrame()}
    speed(envs, [999], 60)  # warm-up: Numba's cache, the font
    result = speed(envs, range(100, 101 if q else 103), 300 if q else 1000)
    ref = result["stock"]
    for name, (cpu, wall, n) in result.items():
        say(f"speed {name:14s} {cpu:6.2f} ms/step CPU ({ref[0] / cpu:5.2f}x), {wall:6.2f} ms/step wall "
            f"({ref[1] / wall:5.2f}x), {n} steps, random actions")
    log.close()


if __name__ == "__main__":
    main()
