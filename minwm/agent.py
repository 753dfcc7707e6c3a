"""The agent in the real environment (paper section 2, figure "flow diagram"), and the worker pool
that runs many of its episodes at once for CMA-ES and evaluation.

    reset: frame = env.reset(seed); (h, c) = 0
    loop:  z ~ V(frame); a = C(z, h [, c]); h, c = M(z, a, h, c); frame, r, done = env.step(a)

Each worker process (minwm.pool) holds its own environment and agent (weights loaded once) and
runs one episode per task (controller, seed) -> total reward.
"""
import numpy as np

from minwm import infer
from minwm.config import COLLECT_SEED_STRIDE, EVAL_SEED, TRAIN_SEED, spec
from minwm.pool import Pool


def episode(env, v, m, ccfg, theta, seed, record=False, edit=None, patience=0):
    """One episode of the agent -> total reward; with record=True the episode as a rollout dict
    in collect's format (frames seen before each action, actions applied, rewards, dones, seed).
    edit: None, or a function that changes C's output before it is carried out (infer.agent_step).
    patience: 0, or end the episode after that many consecutive steps of negative reward (a
    departure from the paper, for training only: evolve.early_stop)."""
    rng = np.random.default_rng(seed)                  # V's posterior samples, reproducible
    frame = env.reset(seed)
    h, c = infer.initial_state(m, 1)
    restart, total, losing = np.ones(1, bool), 0.0, 0
    frames, actions, rewards = [], [], []
    while True:
        a, h, c = infer.agent_step(v, m, ccfg, theta, frame[None], h, c, restart, rng, edit)
        restart[:] = False
        if record:
            frames.append(frame), actions.append(a[0])
        frame, reward, done = env.step(a[0])
        total += reward
        rewards.append(reward)
        losing = losing + 1 if reward < 0 else 0         # CarRacing: off the road, or no new tile
        if done or (patience and losing == patience):
            break
    if not record:
        return total
    dones = np.zeros(len(rewards), bool)
    dones[-1] = True
    return dict(frames=np.stack(frames), actions=np.array(actions, np.float32),
                rewards=np.array(rewards, np.float32), dones=dones, seed=np.array(seed, np.int64))


def _build(env_name, vae_path, m_path, max_steps, patience):
    # the weights first: a bad file fails before a game engine is started (and torn down again)
    v, m, s = infer.load_vae(vae_path), infer.load_mdnrnn(m_path), spec(env_name)
    return dict(env=s.make(s.steps(max_steps)), v=v, m=m, patience=patience)


def _run(w, task):
    """Worker task (ccfg, theta, seed[, "record"]) -> the episode's total reward (or its record)."""
    ccfg, theta, seed = task[:3]
    return episode(w["env"], w["v"], w["m"], ccfg, theta, seed, record=len(task) > 3,
                   patience=w["patience"])


def _scored(w, task):
    return task[2], _run(w, task)


class Agents:
    """The agent's episodes on a worker pool: map([(ccfg, theta, seed), ...]) -> rewards, in order."""

    def __init__(self, env, vae_path, m_path, workers=0, backend="local", max_steps=0, patience=0):
        self.pool = Pool(_build, (env, str(vae_path), str(m_path), max_steps, patience), workers, backend)

    def map(self, tasks):
        return np.array(self.pool.map(_run, tasks), np.float64)

    def scores(self, tasks):
        """(seed, reward) of each task as its episode finishes, in any order."""
        return self.pool.imap(_scored, tasks, ordered=False)

    def record(self, tasks):
        """The episodes as rollout dicts (collect's format), in order, as they finish one by one."""
        return self.pool.imap(_run, [t + ("record",) for t in tasks])

    def close(self):
        self.pool.close()


class RealFitness:
    """CMA-ES fitness in the real environment (CarRacing): rollouts on a worker pool."""

    def __init__(self, cfg, vae_path, m_path):
        e = cfg.evolve
        self.agents = Agents(cfg.env, vae_path, m_path, e.workers, e.backend, e.max_steps, e.early_stop)
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
