"""Where and when the agent dies, and what waiting before each turn would change.

    python bench/experiments/deaths.py WEIGHTS OUT.npz [SEED N]
    python bench/experiments/deaths.py WEIGHTS --delay 0,15,30 [SEED N]

WEIGHTS holds vae.npz, mdnrnn.npz, controller.npz and series.npz (e.g. minwm/weights/doom). The agent
plays N real episodes (seeds SEED, SEED + 1, ...; default evaluate's 1,000,000 and 100) exactly as
`minwm evaluate` does, recording the player's position across the room (ViZDoom's POSITION_Y: the
axis the left/right actions move along) and C's action at every step; the recording goes to OUT.npz
(a second call reuses it). Printed: the lateral position at death, whether the player was moving
towards the centre of the room, and how many steps had passed since C last changed its action (left,
stay, right); the last figure also for 1,024 dreams of the same C at the temperature of its config.

--delay: the same C, but every turn (left <-> right) waits D steps, the old direction held meanwhile
(a diagnostic: a hand-made change of the policy, not an agent): its mean time survived in N real
episodes and in 1,024 dreams, for each D (N = 0: the dreams only).
"""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as evaluate's workers; the dream's matmuls round by thread count

import json
import multiprocessing
import sys
from pathlib import Path

import numpy as np
import vizdoom as vzd

from minwm import controller as C
from minwm import infer
from minwm.agent import episode
from minwm.doom import TakeCover
from minwm.formats import read_controller as load_controller
from minwm.kernels import mdn_sample_numpy

WALLS = (16.0, 752.0)   # POSITION_Y of the player against the right and the left wall (measured; MOVE_LEFT raises y)


def discrete(actions):
    """C's outputs -> the game's actions: -1 left, 0 stay, +1 right (minwm.doom's thresholds)."""
    return np.where(actions < -1 / 3, -1, np.where(actions > 1 / 3, 1, 0))


def delayed(a, cur, hold, delay):
    """C's outputs a (N,) -> the outputs carried out when every turn (left <-> right) waits `delay`
    steps, the old direction held meanwhile; cur (N,) the direction moved in, hold (N,) steps waited
    so far (both updated in place). delay = 0: a itself."""
    want = discrete(a)
    wait = (cur != 0) & (want == -cur) & (hold < delay)
    hold[:] = np.where(wait, hold + 1, 0)
    cur[:] = np.where(wait | (want == 0), cur, want)
    return np.where(wait, cur, a).astype(np.float32)


def load_agent(weights):
    """A worker's agent from WEIGHTS: V, M, (C's config, theta) and its own game."""
    return dict(v=infer.load_vae(weights / "vae.npz"), m=infer.load_mdnrnn(weights / "mdnrnn.npz"),
                c=load_controller(weights / "controller.npz")[:2], env=TakeCover())


_w = {}


def _episode(task):
    """One real episode (agent.episode) -> (2, T): the player's POSITION_Y and the action carried out."""
    weights, seed, delay = task
    if not _w:
        _w.update(load_agent(weights))
    env, (ccfg, theta) = _w["env"], _w["c"]
    cur, hold, y, a_t = np.zeros(1, int), np.zeros(1, int), [], []

    def edit(a):                                             # (1, 1): delay the turns, record
        a = delayed(a[:, 0], cur, hold, delay)[:, None]
        y.append(env.game.get_game_variable(vzd.GameVariable.POSITION_Y)), a_t.append(float(a[0, 0]))
        return a
    episode(env, _w["v"], _w["m"], ccfg, theta, seed, edit=edit)
    return np.array([y, a_t], np.float32)


def play(weights, seeds, delay=0):
    """Real episodes on 2 worker processes -> {seed: (2, T) position and action}."""
    if not len(seeds):                         # dreams only (N=0): no game, no pool
        return {}
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        return {str(s): r for s, r in zip(seeds, pool.map(_episode, [(weights, s, delay) for s in seeds], 1))}


def since_change(actions):
    """Steps from C's last change of action (left / stay / right) to the end of the episode."""
    changes = np.flatnonzero(np.diff(discrete(actions)) != 0)
    return len(actions) - 1 - (changes[-1] + 1) if len(changes) else len(actions)


def dream(weights, tau, delay=0, B=1024, seed=0):
    """B dreams of the same C (minwm.dream's rules, in NumPy, recording the actions) -> steps since
    the last change of action at each death, and every dream's length."""
    m = infer.load_mdnrnn(weights / "mdnrnn.npz")
    ccfg, theta, _ = load_controller(weights / "controller.npz")
    cur, hold = np.zeros(B, int), np.zeros(B, int)
    actions, length = dream_lengths(m, np.load(weights / "series.npz"), ccfg, tau, B, seed,
                                    lambda z, h, c: delayed(C.act(ccfg, theta, z, h, c)[:, 0], cur, hold, delay)[:, None])
    return [since_change(actions[i, :length[i]]) for i in range(B) if length[i] < 2100], length


def dream_lengths(m, series, ccfg, tau, B, seed, policy, cap=2100):
    """B dreams of M (minwm.dream's rules, in NumPy) under policy(z, h, c) -> a (B, 1), C's output
    (ccfg: C's config, which maps it to what M is fed) -> the actions (B, T), every dream's length (B,)."""
    rng = np.random.default_rng(seed)
    e = rng.integers(len(series["init_mu"]), size=B)
    z = series["init_mu"][e] + np.exp(0.5 * series["init_logvar"][e]) * rng.standard_normal((B, m.nz))
    z = z.astype(np.float32)
    h, c = infer.initial_state(m, B)
    restart, alive, actions, length = np.ones(B, bool), np.ones(B, bool), [], np.full(B, cap)
    for t in range(cap):
        a = policy(z, h, c)                                  # (B, 1)
        actions.append(a[:, 0])
        h, c = infer.lstm_update(m, z, C.m_action(ccfg, a), h, c, restart)
        restart[:] = False
        z, done = mdn_sample_numpy(h @ m.w_mdn, m.b_mdn, m.nz, m.k, tau, rng.random((B, m.nz), np.float32),
                                   rng.standard_normal((B, m.nz), np.float32))
        died = alive & (done > 0)
        length[died], alive = t + 1, alive & ~died
        if not alive.any():
            break
    return np.array(actions).T, length


def tau_of(weights):
    path = weights / "config.json"
    return json.loads(path.read_text())["evolve"]["tau"] if path.exists() else 1.15


def report(weights, out, first, n):
    """Where and when the agent dies in the real game, and when in the dream."""
    if out.exists():
        rec = dict(np.load(out))
    else:
        rec = play(weights, range(first, first + n))
        np.savez_compressed(out, **rec)
    y_all = np.concatenate([r[0] for r in rec.values()])
    lo, hi = WALLS
    lengths = np.array([r.shape[1] for r in rec.values()])
    print(f"{len(rec)} episodes of {weights}: {lengths.mean():.1f} ± {lengths.std():.1f} steps; "
          f"the player moves between y = {y_all.min():.0f} and {y_all.max():.0f} (walls at {lo:.0f} and {hi:.0f})")
    deaths = [r for r in rec.values() if r.shape[1] < 2100]
    y_end = np.array([r[0, -1] for r in deaths])
    centre = (lo + hi) / 2
    towards = np.mean([np.sign(r[0, -1] - r[0, -6]) == np.sign(centre - r[0, -1]) for r in deaths])
    since = [since_change(r[1]) for r in deaths]
    a_all = discrete(np.concatenate([r[1] for r in rec.values()]))
    runs = np.concatenate([np.diff(np.flatnonzero(np.diff(discrete(r[1])) != 0)) for r in rec.values()])
    print(f"actions: left {np.mean(a_all == -1):.3f}, stay {np.mean(a_all == 0):.3f}, "
          f"right {np.mean(a_all == 1):.3f}; median run of one action {np.median(runs):.0f} steps")
    print(f"{len(deaths)} deaths; distance from the nearer wall at death: percentiles 10/50/90 "
          f"{np.percentile(np.minimum(y_end - lo, hi - y_end), [10, 50, 90]).round(0)}")
    print(f"position at death, 12 bins from wall to wall: {np.histogram(y_end, 12, (lo, hi))[0]}")
    print(f"position over all steps,  the same bins:       "
          f"{np.round(np.histogram(y_all, 12, (lo, hi))[0] / len(y_all) * len(deaths)).astype(int)} (scaled to {len(deaths)})")
    print(f"moving towards the centre at death: {towards:.2f} of deaths")
    print(f"real game: steps since C's last change of action at death, percentiles 10/25/50/75/90: "
          f"{np.percentile(since, [10, 25, 50, 75, 90])}")
    d_since, d_len = dream(weights, tau_of(weights))
    print(f"dream (tau {tau_of(weights)}, 1,024 rollouts, {d_len.mean():.0f} steps on average): steps since C's "
          f"last change of action at death, percentiles 10/25/50/75/90: {np.percentile(d_since, [10, 25, 50, 75, 90])}")


def main():
    weights, first, n = Path(sys.argv[1]), 1_000_000, 100
    if sys.argv[2] == "--delay":
        if len(sys.argv) > 5:
            first, n = int(sys.argv[4]), int(sys.argv[5])
        for delay in (int(d) for d in sys.argv[3].split(",")):
            real = np.array([r.shape[1] for r in play(weights, range(first, first + n), delay).values()])
            _, d_len = dream(weights, tau_of(weights), delay)
            game = f"real game {real.mean():6.1f} ± {real.std():5.1f} ({n} episodes from seed {first}), " if n else ""
            print(f"turns delayed {delay:2d} steps: {game}dream {d_len.mean():6.1f} ± {d_len.std():5.1f} (1,024)", flush=True)
        return
    if len(sys.argv) > 4:
        first, n = int(sys.argv[3]), int(sys.argv[4])
    report(weights, Path(sys.argv[2]), first, n)


if __name__ == "__main__":     # the pool's workers are spawned: they import this file
    main()
