"""The agent in the real environment (paper section 2, figure "flow diagram"), and the worker pool
that runs many of its episodes at once for CMA-ES and evaluation.

    reset: frame = env.reset(seed); (h, c) = 0
    loop:  z ~ V(frame); a = C(z, h [, c]); h, c = M(z, a, h, c); frame, r, done = env.step(a)

Each worker process (minwm.pool) holds K environments and the agent (weights loaded once) and
steps the K episodes in lockstep: V, C and M run once per step on the K frames (evolve.batch).
Its tasks (controller, seed) -> total reward come in chunks; an env whose episode ends starts the
chunk's next task. An episode's result does not depend on K: K = 1 is the one-env agent.
"""
import math

import numpy as np

from minwm import infer
from minwm.config import COLLECT_SEED_STRIDE, EVAL_SEED, TRAIN_SEED, spec
from minwm.pool import Pool


class _Episode:
    """One episode under way in a batch: its task, V's noise, its running reward and record."""

    def __init__(self, i, theta, seed):
        self.i, self.theta, self.seed = i, theta, seed
        self.rng = np.random.default_rng(seed)             # V's posterior samples, reproducible
        self.total, self.losing = 0.0, 0
        self.frames, self.actions, self.rewards = [], [], []

    def rollout(self):
        """collect's format: frames seen before each action, actions applied, rewards, dones, seed."""
        dones = np.zeros(len(self.rewards), bool)
        dones[-1] = True
        return dict(frames=np.stack(self.frames), actions=np.array(self.actions, np.float32),
                    rewards=np.array(self.rewards, np.float32), dones=dones, seed=np.array(self.seed, np.int64))


def episodes(envs, v, m, ccfg, tasks, record=False, patience=0, edit=None):
    """The agent on K = len(envs) environments in lockstep: tasks [(theta, seed), ...] -> each
    episode's total reward (with record=True its rollout dict, collect's format), in task order.

    Every step encodes the K frames, runs C and steps M as one batch (infer.agent_step), each
    episode with its own theta (CMA-ES candidates) and its own np.random.default_rng(seed) for V's
    noise, every row with batch 1's BLAS calls: the same bits as one env at a time. An env whose
    episode ends starts the next task at once; the batch shrinks only when none is left.
    edit: None, or a function that changes C's output a (K, A) before it is carried out.
    patience: 0, or end an episode after that many consecutive steps of negative reward (a
    departure from the paper, for training only: evolve.early_stop)."""
    todo, results = iter(enumerate(tasks)), [None] * len(tasks)
    K = len(envs)
    live, frame = [None] * K, [None] * K                   # per env: its _Episode, its last frame
    h, c = infer.initial_state(m, K)                       # (K, H) each
    restart = np.zeros(K, bool)

    def start(k):                                          # env k: the next task, if any
        i, task = next(todo, (None, None))
        live[k] = None if task is None else _Episode(i, *task)
        if task is not None:
            frame[k], restart[k] = envs[k].reset(task[1]), True

    for k in range(K):
        start(k)
    rows, thetas = None, None
    while any(e is not None for e in live):
        if rows is None or any(live[k] is None or live[k].i != i for k, i in rows):   # who plays changed
            rows = [(k, e.i) for k, e in enumerate(live) if e is not None]
            thetas = np.stack([live[k].theta for k, _ in rows])                      # (K', P)
        idx = [k for k, _ in rows]
        a, h[idx], c[idx] = infer.agent_step(v, m, ccfg, thetas, np.stack([frame[k] for k in idx]), h[idx],
                                             c[idx], restart[idx], [live[k].rng for k in idx], edit)
        restart[idx] = False
        for j, k in enumerate(idx):
            e = live[k]
            if record:
                e.frames.append(frame[k]), e.actions.append(a[j])
            frame[k], reward, done = envs[k].step(a[j])
            e.total += reward
            e.rewards.append(reward)
            e.losing = e.losing + 1 if reward < 0 else 0  # CarRacing: off the road, or no new tile
            if done or (patience and e.losing == patience):
                results[e.i] = e.rollout() if record else e.total
                start(k)
    return results


def episode(env, v, m, ccfg, theta, seed, record=False, edit=None, patience=0):
    """One episode of the agent in `env` -> total reward (or its rollout dict): episodes with K = 1."""
    return episodes([env], v, m, ccfg, [(theta, seed)], record, patience, edit)[0]


class _Envs:
    """A worker's environments, made when a batch first needs them (Doom: each is a game process)."""

    def __init__(self, make):
        self.make, self.envs = make, []

    def take(self, n):
        self.envs += [self.make() for _ in range(n - len(self.envs))]
        return self.envs[:n]

    def close(self):
        for env in self.envs:
            env.close()


def _build(env_name, vae_path, m_path, max_steps, patience, batch):
    # the weights first: a bad file fails before a game engine is started (and torn down again)
    v, m, s = infer.load_vae(vae_path), infer.load_mdnrnn(m_path), spec(env_name)
    return dict(envs=_Envs(lambda: s.make(s.steps(max_steps))), v=v, m=m, patience=patience, batch=batch)


def _run(w, chunk):
    """Worker task: (tasks [(ccfg, theta, seed), ...] with one ccfg, record) -> their rewards (or records)."""
    tasks, record = chunk
    ccfg = tasks[0][0]
    assert all(t[0] == ccfg for t in tasks), "one controller config per batch"
    envs = w["envs"].take(min(w["batch"], len(tasks)))
    return episodes(envs, w["v"], w["m"], ccfg, [t[1:] for t in tasks], record, w["patience"])


def _scored(w, chunk):
    return [t[2] for t in chunk[0]], _run(w, chunk)


class Agents:
    """The agent's episodes on a worker pool: map([(ccfg, theta, seed), ...]) -> rewards, in order.
    Each worker steps `batch` episodes in lockstep (evolve.batch)."""

    def __init__(self, env, vae_path, m_path, workers=0, backend="local", max_steps=0, patience=0, batch=1):
        self.pool = Pool(_build, (env, str(vae_path), str(m_path), max_steps, patience, batch), workers, backend)
        self.batch = batch

    def _chunks(self, tasks, record=False):
        # up to 2K tasks a chunk (K while recording: whole rollouts travel back), as many chunks
        # for every worker so that none waits at the end; a chunk's batch refills from its tasks
        w = self.pool.workers
        n = math.ceil(len(tasks) / max(1, w * math.ceil(len(tasks) / (w * self.batch * (1 if record else 2)))))
        return [(tasks[i:i + n], record) for i in range(0, len(tasks), max(n, 1))]

    def map(self, tasks):
        return np.array([r for rs in self.pool.map(_run, self._chunks(tasks)) for r in rs], np.float64)

    def scores(self, tasks):
        """(seed, reward) of each task as its chunk finishes, in any order."""
        for seeds, rewards in self.pool.imap(_scored, self._chunks(tasks), ordered=False):
            yield from zip(seeds, rewards)

    def record(self, tasks):
        """The episodes as rollout dicts (collect's format), in order, as their chunks finish."""
        for rollouts in self.pool.imap(_run, self._chunks(tasks, record=True)):
            yield from rollouts

    def close(self):
        self.pool.close()


class RealFitness:
    """CMA-ES fitness in the real environment (CarRacing): rollouts on a worker pool."""

    def __init__(self, cfg, vae_path, m_path):
        e = cfg.evolve
        self.agents = Agents(cfg.env, vae_path, m_path, e.workers, e.backend, e.max_steps, e.early_stop, e.batch)
        self.offset = cfg.seed * COLLECT_SEED_STRIDE

    def population(self, ccfg, thetas, n_rollouts, generation):     # -> (P, n_rollouts)
        # every candidate of a generation meets the same n_rollouts tracks (common random numbers)
        seeds = self.offset + TRAIN_SEED + generation * n_rollouts + np.arange(n_rollouts)
        tasks = [(ccfg, th, int(s)) for th in thetas for s in seeds]
        return self.agents.map(tasks).reshape(len(thetas), n_rollouts)

    def mean(self, ccfg, theta, n_rollouts):                        # -> (n_rollouts,)
        return self.agents.map([(ccfg, theta, self.offset + EVAL_SEED + j) for j in range(n_rollouts)])

    def close(self):
        self.agents.close()
