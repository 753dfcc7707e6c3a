"""The agent in the real environment (paper section 2, figure "flow diagram"), and the worker pool
that runs many of its episodes at once for CMA-ES and evaluation.

    reset: frame = env.reset(seed); (h, c) = 0
    loop:  z ~ V(frame); a = C(z, h [, c]); h, c = M(z, a, h, c); frame, r, done = env.step(a)

Each worker process holds its own environment and agent (weights loaded once, in the initializer)
and runs one episode per task (controller, seed) -> total reward. The same pool runs locally on
`multiprocessing` or on a Ray cluster via `ray.util.multiprocessing`, which has the same API.
Workers use one BLAS thread each: a 2-thread matmul collapses when the other core is busy.
"""
import multiprocessing
import os

import numpy as np

from minwm import infer
from minwm.rollouts import make_env, start_worker, worker_state

TRAIN_SEED, EVAL_SEED = 2_000_000, 3_000_000   # disjoint from collection (0, 1, ...) and evaluate


def episode(env, v, m, ccfg, theta, seed, record=False, edit=None):
    """One episode of the agent -> total reward; with record=True the episode as a rollout dict
    in collect's format (frames seen before each action, actions applied, rewards, dones, seed).
    edit: None, or a function that changes C's output before it is carried out (infer.agent_step)."""
    rng = np.random.default_rng(seed)                  # V's posterior samples, reproducible
    frame = env.reset(seed)
    h, c = infer.initial_state(m, 1)
    restart, total = np.ones(1, bool), 0.0
    frames, actions, rewards = [], [], []
    while True:
        a, h, c = infer.agent_step(v, m, ccfg, theta, frame[None], h, c, restart, rng, edit)
        restart[:] = False
        if record:
            frames.append(frame), actions.append(a[0])
        frame, reward, done = env.step(a[0])
        total += reward
        rewards.append(reward)
        if done:
            break
    if not record:
        return total
    dones = np.zeros(len(rewards), bool)
    dones[-1] = True
    return dict(frames=np.stack(frames), actions=np.array(actions, np.float32),
                rewards=np.array(rewards, np.float32), dones=dones, seed=np.array(seed, np.int64))


_worker = {}


def _build_worker(env, vae_path, m_path, max_steps):
    return dict(env=make_env(env, max_steps), v=infer.load_vae(vae_path), m=infer.load_mdnrnn(m_path))


def _init_worker(*args):
    start_worker(_worker, _build_worker, *args)


def _run(task):
    ccfg, theta, seed = task[:3]
    w = worker_state(_worker)
    return episode(w["env"], w["v"], w["m"], ccfg, theta, seed, record=len(task) > 3)


class Pool:
    """Episodes in parallel: map([(ccfg, theta, seed), ...]) -> rewards, in order."""

    def __init__(self, env, vae_path, m_path, workers=0, backend="local", max_steps=0):
        n = workers or os.cpu_count()
        args = (env, str(vae_path), str(m_path), max_steps)
        old = os.environ.get("OPENBLAS_NUM_THREADS")
        os.environ["OPENBLAS_NUM_THREADS"] = "1"           # read by NumPy in each new worker
        try:
            if backend == "ray":
                from ray.util.multiprocessing import Pool as RayPool
                self.pool = RayPool(processes=n, initializer=_init_worker, initargs=args)
            elif backend == "local":
                ctx = multiprocessing.get_context("spawn")  # fresh interpreters: no forked game state
                self.pool = ctx.Pool(n, initializer=_init_worker, initargs=args)
            else:
                raise ValueError(f"evolve.backend={backend!r}: choose local or ray")
        finally:
            if old is None:
                os.environ.pop("OPENBLAS_NUM_THREADS")
            else:
                os.environ["OPENBLAS_NUM_THREADS"] = old

    def map(self, tasks):
        return np.array(self.pool.map(_run, tasks, chunksize=1), np.float64)

    def record(self, tasks):
        """The episodes as rollout dicts (collect's format), in order, as they finish one by one."""
        return self.pool.imap(_run, [t + ("record",) for t in tasks], chunksize=1)

    def close(self):
        self.pool.terminate()
        self.pool.join()


class RealFitness:
    """CMA-ES fitness in the real environment (CarRacing): rollouts on a worker pool."""

    def __init__(self, cfg, vae_path, m_path):
        e = cfg.evolve
        self.pool = Pool(cfg.env, vae_path, m_path, e.workers, e.backend, e.max_steps)
        self.offset = cfg.seed * 100_000_000

    def population(self, ccfg, thetas, n_rollouts, generation):     # -> (P, n_rollouts)
        # every candidate of a generation meets the same n_rollouts tracks (common random numbers)
        seeds = self.offset + TRAIN_SEED + generation * n_rollouts + np.arange(n_rollouts)
        tasks = [(ccfg, th, int(s)) for th in thetas for s in seeds]
        return self.pool.map(tasks).reshape(len(thetas), n_rollouts)

    def mean(self, ccfg, theta, n_rollouts):                        # -> (n_rollouts,)
        return self.pool.map([(ccfg, theta, self.offset + EVAL_SEED + j) for j in range(n_rollouts)])

    def close(self):
        self.pool.close()
