"""The agent in CarRacing, per step and per generation: stock env + one-env agent against the fast
env + the batched agent (minwm.agent.episodes, K envs in lockstep).

    python bench/agent.py                          (per-step figures, then one full generation)
    python bench/agent.py --generation 0.25        (a quarter of the generation, extrapolated)
    python bench/agent.py --quick --generation 0   (a minute: short episodes, no generation)
    python bench/agent.py --run runs/carracing     (that run's V and M instead of random weights)

0. V + M's step per frame with each frame's own BLAS calls (the agent's way: an episode's bits do
   not depend on K) against one matmul over the batch (faster; OpenBLAS's last bit depends on K).
1. Per step, in this process on one core (one BLAS thread), the configurations take turns round
   by round (A/B alternated, the order rotated each round) on the same tasks: CMA-ES generation
   0's first candidates (x0 = 0, sigma0 = 0.1, as evolve) on the same seeds, episodes of up to
   --steps steps. ms per agent-env step of CPU time (process_time: on a shared machine wall time
   counts other jobs' turns) and wall time, split into the env's part (reset + step) and the
   agent's (V, C, M and the bookkeeping). The floor: the same batched agent on envs whose frame
   costs nothing (a blank observation: no drawing, no shrink), what is left of a step with a free
   frame (its episodes differ: V sees black).
2. One generation of the paper's protocol: population 64 x 16 rollouts of up to 1000 steps, early
   termination off, generation 0's population from a fixed seed, on a pool of --workers processes
   with the batched agent (the evolve path: agent.Agents.map). Wall time, and the share of tasks
   run if --generation < 1 (then extrapolated linearly: the tasks are in evolve's order).
3. With --early-stop N[,N2..]: evolve.early_stop's effect (a departure from the paper, training only) on
   the steps a generation takes: generation 0's 64 candidates on its first seed, episodes of up to
   1000 steps, in this process (fast env, batched agent), with the episode ended after N
   consecutive steps of negative reward and without. Steps are counted, not timed: the figure does
   not depend on the machine's load.
The log goes to bench/results/agent.txt.
"""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # one core: before NumPy is imported

import argparse
import datetime
import sys
import tempfile
import time
from pathlib import Path

import cma
import numpy as np
from carracing_render import NoFrame  # this folder's: FastCarRacing without its frame

from minwm import agent, carracing, evolve, infer
from minwm import controller as C
from minwm.config import TRAIN_SEED, preset

LOG = Path(__file__).resolve().parent / "results" / "agent.txt"


class Timed:
    """An env whose reset and step times are added up (CPU and wall)."""

    def __init__(self, env):
        self.env, self.cpu, self.wall, self.steps = env, 0.0, 0.0, 0

    def _timed(self, fn, *args):
        c, w = time.process_time(), time.perf_counter()
        out = fn(*args)
        self.cpu, self.wall = self.cpu + time.process_time() - c, self.wall + time.perf_counter() - w
        return out

    def reset(self, seed):
        return self._timed(self.env.reset, seed)

    def step(self, a):
        self.steps += 1
        return self._timed(self.env.step, a)

    def close(self):
        self.env.close()


def weights(run):
    """vae.npz and mdnrnn.npz: a run's, or random ones (CarRacing's sizes) in a temporary directory."""
    if run:
        return Path(run) / "vae.npz", Path(run) / "mdnrnn.npz"
    d, rng = Path(tempfile.mkdtemp()), np.random.default_rng(0)
    np.savez(d / "vae.npz", **infer.random_vae_arrays(32, rng))
    np.savez(d / "mdnrnn.npz", **infer.random_mdnrnn_arrays(32, 3, 256, rng))
    return d / "vae.npz", d / "mdnrnn.npz"


def generation0(cfg, ccfg):
    """evolve's first population and seeds: (64, P) thetas, (16,) seeds."""
    e = cfg.evolve
    es = cma.CMAEvolutionStrategy(np.zeros(C.n_params(ccfg)), e.sigma0, {
        "popsize": e.population, "verbose": -9, "randn": np.random.RandomState(cfg.seed + 1).randn})
    return np.asarray(es.ask()), TRAIN_SEED + np.arange(e.rollouts)


def exactness_price(say, v, m, batches, rounds=12):
    """V + M's step per frame, CPU, alternated: each frame's own BLAS calls (what the agent does:
    the same bits at any K) against one matmul over the batch (faster; the last bit depends on K)."""
    rng = np.random.default_rng(0)
    for K in [1] + batches:
        frames = rng.integers(0, 256, (K, 64, 64, 3), dtype=np.uint8)
        z, a = rng.standard_normal((K, m.nz), dtype=np.float32), rng.standard_normal((K, m.na), dtype=np.float32)
        h, c = infer.initial_state(m, K)
        cpu = {}
        for r in range(rounds + 1):
            for exact in ((True, False) if r % 2 else (False, True)):
                t = time.process_time()
                for _ in range(20):
                    infer.encode(v, frames, per_frame=exact), infer.lstm_update(m, z, a, h, c, per_row=exact)
                cpu[exact] = cpu.get(exact, 0.0) + (time.process_time() - t if r else 0.0)   # round 0: warm-up
        say(f"V + M per frame at K={K}: own BLAS calls (exact) {1e3 * cpu[True] / (20 * rounds) / K:.3f} ms, "
            f"one matmul over the batch {1e3 * cpu[False] / (20 * rounds) / K:.3f} ms (CPU)")


def per_step(say, v, m, ccfg, tasks, steps, batches, rounds):
    configs = [("stock env, one-env agent", False, 1), ("fast env, one-env agent", True, 1)]
    configs += [(f"fast env, batched agent K={k}", True, k) for k in batches]
    configs += [(f"floor: blank frame, K={batches[0]}", True, batches[0])]
    envs = {name: [Timed(carracing.CarRacing(fast=fast, max_steps=steps)) for _ in range(k)]
            for name, fast, k in configs}
    for e in envs[configs[-1][0]]:                                 # the floor's envs draw nothing
        e.env.env.close()
        e.env.env = NoFrame(continuous=True)
    assert envs[configs[1][0]][0].env.env.numba, "FastCarRacing is not on its Numba frames here"
    total = {name: np.zeros(5) for name, _, _ in configs}      # cpu, wall, env cpu, env wall, steps
    scores = {}
    for r in range(rounds):
        for name, _, _ in configs[r % len(configs):] + configs[:r % len(configs)]:
            es = envs[name]
            before = np.array([sum(e.cpu for e in es), sum(e.wall for e in es), sum(e.steps for e in es)])
            c, w = time.process_time(), time.perf_counter()
            scores[name] = agent.episodes(es, v, m, ccfg, tasks)
            c, w = time.process_time() - c, time.perf_counter() - w
            after = np.array([sum(e.cpu for e in es), sum(e.wall for e in es), sum(e.steps for e in es)])
            total[name] += [c, w, *(after - before)]
        say(f"round {r + 1}/{rounds} done, load average {os.getloadavg()[0]:.2f}")
    say(f"ms per agent-env step ({len(tasks)} episodes of up to {steps} steps per configuration and "
        f"round, {rounds} rounds; CPU = this process's CPU time, one core):")
    say(f"  {'configuration':34s} {'CPU':>6s} {'env':>6s} {'agent':>6s} {'wall':>6s}  steps")
    for name, _, _ in configs:
        c, w, ec, _, n = total[name]
        say(f"  {name:34s} {1e3 * c / n:6.3f} {1e3 * ec / n:6.3f} {1e3 * (c - ec) / n:6.3f} "
            f"{1e3 * w / n:6.3f}  {int(n)}")
    same = all(scores[name] == scores[configs[0][0]] for name, _, _ in configs[:-1])
    say(f"the {len(tasks)} episodes' scores in every configuration but the floor: {'identical' if same else 'DIFFERENT'}, "
        f"mean {np.mean(scores[configs[0][0]]):.2f}")
    for es in envs.values():
        for e in es:
            e.close()


def generation(say, cfg, ccfg, thetas, seeds, vae_path, m_path, share, workers, batch):
    tasks = [(ccfg, th, int(s)) for th in thetas for s in seeds]       # RealFitness.population's order
    n = max(1, round(share * len(tasks)))
    agents = agent.Agents("carracing", vae_path, m_path, workers, "local", 1000, 0, batch)
    try:
        t0 = time.perf_counter()
        agents.map(tasks[:1])                                          # start the workers' games
        t1 = time.perf_counter()
        rewards = agents.map(tasks[:n])
        t2 = time.perf_counter()
    finally:
        agents.pool.close(wait=True)                                   # the workers' CPU time counts
    wall, cpu = (t2 - t1) * len(tasks) / n, sum(os.times()[2:4]) * len(tasks) / (n + 1)
    say(f"one generation, {len(thetas)} x {len(seeds)} rollouts, 1000-step cap, {workers} workers x "
        f"K={batch}: ran {n} of {len(tasks)} tasks in {t2 - t1:.1f} s (first task, workers starting: "
        f"{t1 - t0:.1f} s), mean reward {rewards.mean():.1f}; whole generation {wall:.0f} s "
        f"= {wall / 60:.1f} min{'' if n == len(tasks) else ' (extrapolated)'}; the workers' CPU time "
        f"(start included) gives {cpu / workers / 60:.1f} min on {workers} idle cores")


def early_stop(say, v, m, ccfg, thetas, seed, patience, batch):
    tasks = [(th, int(seed)) for th in thetas]
    for n in (0, *patience):
        envs = [Timed(carracing.CarRacing(fast=True, max_steps=1000)) for _ in range(batch)]
        scores = np.array(agent.episodes(envs, v, m, ccfg, tasks, patience=n))
        steps = sum(e.steps for e in envs)
        if n == 0:
            full = steps
        say(f"early stop {'off' if n == 0 else f'after {n} steps':>16s}: {len(tasks)} episodes, {steps} steps "
            f"({steps / len(tasks):.0f} per episode, {steps / full:.1%} of the steps without it), "
            f"mean score {scores.mean():.1f} +- {scores.std():.1f}")
        for e in envs:
            e.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="per step: 16 episodes of 100 steps, 2 rounds")
    ap.add_argument("--steps", type=int, default=1000, help="per step: episode cap")
    ap.add_argument("--episodes", type=int, default=16, help="per step: episodes per configuration and round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch", default="8,16", help="per step: batched agent's K values")
    ap.add_argument("--generation", type=float, default=1.0, help="share of a generation to run (0: none)")
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    ap.add_argument("--gen-batch", type=int, default=0, help="generation: K per worker (0: evolve.batch)")
    ap.add_argument("--early-stop", default="", help="N,..: steps per generation with early stop after N")
    ap.add_argument("--run", default="", help="a run directory whose vae.npz and mdnrnn.npz to use")
    args = ap.parse_args()
    steps, episodes, rounds = (100, 16, 2) if args.quick else (args.steps, args.episodes, args.rounds)
    log = open(LOG, "a")  # noqa: SIM115 (appended line by line while the bench runs)

    def say(line):
        print(line, flush=True)
        log.write(line + "\n")
        log.flush()

    say(f"# {datetime.date.today()}: python bench/agent.py {' '.join(sys.argv[1:])}")
    say(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}, nice {os.nice(0)}, "
        f"weights: {args.run or 'random (CarRacing sizes)'}")
    vae_path, m_path = weights(args.run)
    v, m = infer.load_vae(vae_path), infer.load_mdnrnn(m_path)
    cfg = preset("carracing", "paper")
    ccfg = evolve.controller_config(cfg, m.nz, m.hidden)
    thetas, seeds = generation0(cfg, ccfg)
    exactness_price(say, v, m, [int(k) for k in args.batch.split(",")])
    if episodes:
        tasks = [(thetas[i % len(thetas)], int(seeds[i % len(seeds)])) for i in range(episodes)]
        per_step(say, v, m, ccfg, tasks, steps, [int(k) for k in args.batch.split(",")], rounds)
    if args.generation > 0:
        generation(say, cfg, ccfg, thetas, seeds, vae_path, m_path, args.generation, args.workers,
                   args.gen_batch or cfg.evolve.batch)
    if args.early_stop:
        early_stop(say, v, m, ccfg, thetas, seeds[0], [int(n) for n in args.early_stop.split(",")],
                   cfg.evolve.batch)
    say(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
