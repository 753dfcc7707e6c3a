"""The dream (DoomRNN): C trained inside M's hallucination, B rollouts stepped as one batch.

For every rollout (the original's DoomCoverRNNEnv, batched):

    reset   z_0 ~ N(mu, exp(logvar)) of the first frame of a random recorded episode
            (h_0, c_0) = 0, restart_0 = 1 (restart_t = 0 afterwards)
    step t  a_t = C(z_t, c_t, h_t)
            h_{t+1}, c_{t+1} = LSTM([z_t, a_t, restart_t], h_t, c_t)          (M)
            z_{t+1} ~ the mixture from h_{t+1} at temperature tau              (M's head)
            reward +1; done if the done logit > 0 (p > 0.5, not sampled) or t + 1 = the cap

With dropout p > 0 (Dropout's Dream Land, Wellmer & Kwok 2021): at reset each rollout draws one
inverted-dropout mask (0 with probability p, else 1 / (1 - p)) over z and h, kept for all its
steps, and M's step sees [z_t * m_z, a_t, restart_t] and h_t * m_h where they enter the gates; C,
the head and the next step read the unmasked z and h. The real agent (minwm.agent) never drops.

The reward of a rollout is the number of steps it survived, the step that ends it included.
A whole CMA-ES population times its rollouts is one batch, each row with its own controller.

Speed: the state of every rollout lives in one row of the buffer xh = [z, a, restart, h]
(N, D + H), so a step is one matmul [x, h] @ [wx; wh], the Numba gate kernel writing h' back into
xh, one matmul for the head, and the Numba sampler writing z' back into xh. Finished rows leave
the batch at once: the last live rows move into their places, so no compute is spent on them.
All randomness comes from the np.random.Generator passed in: same seed, same rewards.
"""
from dataclasses import dataclass

import numpy as np

from minwm import controller as C
from minwm.config import spec
from minwm.infer import MDNRNN, VAE, decode
from minwm.kernels import dropout_keep, lstm_step, mdn_sample


@dataclass(frozen=True)
class DreamConfig:
    tau: float                 # temperature (paper, Doom: 1.15; the original code used 1.25)
    max_steps: int             # the real environment's cap (Take Cover: 2100, as DoomRNN)
    dropout: float = 0.0       # M's dropout rate in the dream (Dropout's Dream Land's best: 0.1)


def dream_config(cfg):
    """The dream of a run's config (minwm.config.Config): evolve.tau, evolve.dream_dropout, and
    the environment's cap unless evolve.max_steps says otherwise."""
    return DreamConfig(tau=cfg.evolve.tau, max_steps=spec(cfg.env).steps(cfg.evolve.max_steps),
                       dropout=cfg.evolve.dream_dropout)


def dream(m: MDNRNN, ccfg: C.ControllerConfig, theta, mu0, logvar0, cfg: DreamConfig,
          rng: np.random.Generator, count=None, record=False):
    """Run B dream rollouts to the end.

    theta (B, P): one controller per rollout; or theta (P,) shared by all B = count rollouts (e.g.
    the CMA mean over 1024 rollouts). mu0, logvar0 (E, Z): recorded first-frame statistics of E episodes.
    Returns rewards (B,) float32; with record=True also zs (B, T + 1, Z) float32, z_0 .. z_T of
    every rollout, NaN after its end (for a few rollouts only: B * (max_steps + 1) * Z floats).
    """
    theta = np.array(theta, np.float32)                                 # own copy: rows move
    shared = theta.ndim == 1
    assert not shared or count, "a shared controller theta (P,) needs count=B"
    B = count if shared else len(theta)
    nz, na, H, D = m.nz, m.na, m.hidden, m.d_in
    xh = np.zeros((B, D + H), np.float32)                               # [z, a, restart, h]
    c = np.zeros((B, H), np.float32)
    gates = np.empty((B, 4 * H), np.float32)
    y = np.empty((B, m.w_mdn.shape[1]), np.float32)                     # head output (no bias)
    u = np.empty((B, nz), np.float32)
    eps = np.empty((B, nz), np.float32)
    done_logit = np.empty(B, np.float32)
    rows = np.arange(B)                                                 # rollout held by each row
    rewards = np.zeros(B, np.float32)

    e = rng.integers(len(mu0), size=B)                                  # a random episode each
    xh[:, :nz] = mu0[e] + np.exp(0.5 * logvar0[e]) * rng.standard_normal((B, nz), dtype=np.float32)
    if m.restart:
        xh[:, nz + na] = 1.0
    keep = None
    if cfg.dropout:                                                     # one mask per rollout
        keep = dropout_keep(rng, (B, D + H), cfg.dropout)               # (B, D + H) over [x, h]
        keep[:, nz:D] = 1.0                                             # a and restart: never
    zs = None
    if record:
        zs = np.full((B, cfg.max_steps + 1, nz), np.nan, np.float32)
        zs[:, 0] = xh[:, :nz]

    state = ((xh, c) if shared else (xh, c, theta)) + (() if keep is None else (keep,))  # rows move
    n = B
    for t in range(cfg.max_steps):
        x, z, h, cn = xh[:n], xh[:n, :nz], xh[:n, D:], c[:n]
        a = C.act(ccfg, theta if shared else theta[:n], z, h, cn)       # (n, A)
        xh[:n, nz:nz + na] = C.m_action(ccfg, a)
        lstm_step(x, cn, None, m.w, m.b, gates[:n], None if keep is None else keep[:n])  # h <- h'
        np.matmul(h, m.w_mdn, out=y[:n])                                # (n, 3ZK + done)
        rng.random(dtype=np.float32, out=u[:n])
        rng.standard_normal(dtype=np.float32, out=eps[:n])
        n_done = mdn_sample(y[:n], m.b_mdn, nz, m.k, cfg.tau, u[:n], eps[:n], x, done_logit[:n])
        if t == 0 and m.restart:
            xh[:, nz + na] = 0.0
        if record:
            zs[rows[:n], t + 1] = z
        if t + 1 == cfg.max_steps:
            rewards[rows[:n]] = t + 1
            break
        if n_done:
            n = _retire(done_logit[:n] > 0, t + 1, rows, rewards, state)
            if n == 0:
                break
    return (rewards, zs) if record else rewards


def _retire(done, reward, rows, rewards, state):
    """Pay the finished rows and fill their places with the last live rows; returns the new count.

    done (n,) bool. The live rows past the new count n' move into the finished rows below n', so
    rows [0, n') of every state array (and of `rows`) are exactly the live rollouts.
    """
    n = len(done)
    rewards[rows[:n][done]] = reward
    n_live = n - int(done.sum())
    holes = np.flatnonzero(done[:n_live])                               # finished, below n'
    movers = n_live + np.flatnonzero(~done[n_live:])                    # live, at or past n'
    for arr in state + (rows,):
        arr[holes] = arr[movers]
    return n_live


def dream_population(m: MDNRNN, ccfg: C.ControllerConfig, population, n_rollouts, mu0, logvar0,
                     cfg: DreamConfig, rng: np.random.Generator):
    """population (P, n_params) -> rewards (P, n_rollouts): every controller's rollouts in one batch.

    CMA-ES fitness is rewards.mean(axis=1) (the paper: 16 rollouts per controller, 64 controllers).
    """
    population = np.asarray(population, np.float32)
    rewards = dream(m, ccfg, np.repeat(population, n_rollouts, axis=0), mu0, logvar0, cfg, rng)
    return rewards.reshape(len(population), n_rollouts)


def dream_frames(vae: VAE, zs):
    """zs (T, Z) of one rollout (NaN rows, past its end, dropped) -> frames (T', 64, 64, 3) uint8."""
    zs = zs[~np.isnan(zs).any(axis=1)]
    return (decode(vae, zs) * 255.0 + 0.5).astype(np.uint8)
