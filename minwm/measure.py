"""Stage measure: does M's dream predict the real game? A check cheap enough for every variant of M,
before hours of evolution in its dream (for environments whose C is trained in the dream).

    controllers   the run's C (or measure.controller's, the same for every variant of M) and
                  `controllers - 1` CMA-like samples around it (theta + sigma eps)
    survival      each controller's share of episodes alive after 200 / 500 / 800 / 1,200 / 1,600
                  steps and mean length: in the dream (dream_rollouts, at evolve.tau) and in the
                  real game (episodes, seeds from measure.seed); the rank correlation of the two means
    hazard        deaths per step by time since the episode's start, dream against game
    wall trap     the same for two C's that hold left / right whatever they see: in the game they
                  die at the wall (~170 steps); an M whose dream lets them live far longer invites
                  C to evolve into holding (levers/mdrop: 2,015 dream steps, 171 real; its C held)
    M's losses    held-out z NLL (per dimension) and done loss (weighted 1 + 9 y, as training), by
                  time since the start, on the run's C's own real episodes, M run from each
                  episode's first frame (its state carries the whole past, as in the dream)

Prints a table, writes measure.json and measure.png in the run directory. The real episodes are
recorded once into run_dir/measure/ (rollouts, then encoded) and reused by later calls. Each real
episode's length is kept as it ends in run_dir/measure/game.jsonl, under its agent (the digests of
V, M and theta, and the cap): a killed measure loses only the episodes under way, and a variant
that changes only the dream (tau, dream dropout) reuses the game's side from a copy of that file.
"""
import hashlib
import json
from dataclasses import replace

import numpy as np
from tqdm import tqdm

from minwm import encode, formats, infer, runs
from minwm.config import MEASURE_SEED, Config, spec
from minwm.dream import dream, dream_config
from minwm.evaluate import agent_files

TIMES = (200, 500, 800, 1200, 1600)              # survival is read at these steps
BIN = 100                                       # hazard and losses per 100 steps since the start
SIDES = ("left", "right")                       # the wall trap's holders: a = -1, +1


def survival(lengths, times=TIMES):
    """Share of episodes still alive after t steps, for each t (lengths: steps survived)."""
    return [float((np.asarray(lengths) > t).mean()) for t in times]


def hazard(lengths, cap, width=BIN):
    """Deaths per step in each window of `width` steps, among episodes alive at its start
    (episodes that reach the cap do not die there)."""
    lengths = np.asarray(lengths)
    out = []
    for t0 in range(0, cap, width):
        alive = (lengths > t0).sum()
        died = ((lengths > t0) & (lengths <= t0 + width) & (lengths < cap)).sum()
        out.append(float(died / alive / width) if alive else float("nan"))
    return out


def holders(ccfg):
    """The wall trap's probe: C's that hold left, right (a = tanh(b), w = 0) -> (cfg, [theta, theta])."""
    hold = replace(ccfg, inputs="z", bias=True, n_hidden=0)
    return hold, [np.r_[np.zeros(hold.nz * hold.na), np.full(hold.na, b)].astype(np.float32)
                  for b in (-3.0, 3.0)]


def spearman(a, b):
    """Rank correlation of two score lists (ties broken by order: scores here are means)."""
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def m_losses(m, series, rng, cap):
    """M over every recorded episode from its first frame -> z NLL (per dimension) and weighted
    done loss of each step, as (E, cap) arrays, NaN past each episode's end."""
    bounds = np.append(np.flatnonzero(series["restart"]), len(series["restart"]))
    E = len(bounds) - 1
    z_nll, done_loss = np.full((E, cap), np.nan), np.full((E, cap), np.nan)
    L = np.diff(bounds)
    idx = np.minimum(bounds[:-1, None] + np.arange(max(L)), len(series["mu"]) - 1)   # (E, T)
    mu, logvar = series["mu"][idx], series["logvar"][idx]
    z = (mu + np.exp(logvar / 2) * rng.standard_normal(mu.shape)).astype(np.float32)   # (E, T, Z)
    a, done = series["action"][idx], series["done"][idx].astype(np.float64)
    h, c = infer.initial_state(m, E)
    for t in range(min(max(L), cap)):
        h, c, logpi, mu_k, logsigma, done_logit = infer.m_step(m, z[:, t], a[:, t], h, c,
                                                               np.full(E, t == 0))
        if t + 1 < max(L):                          # the next frame's z under the mixture
            x = (z[:, t + 1, :, None] - mu_k) / np.exp(logsigma)                   # (E, Z, K)
            log_p = logpi - 0.5 * x ** 2 - logsigma - 0.5 * np.log(2 * np.pi)
            top = log_p.max(axis=2, keepdims=True)
            nll = -(top[..., 0] + np.log(np.exp(log_p - top).sum(axis=2))).mean(axis=1)
            z_nll[:, t] = np.where(t + 1 < L, nll, np.nan)
        if done_logit is not None:                  # does the step from frame t end the episode?
            y, p = done[:, t], 1 / (1 + np.exp(-done_logit.astype(np.float64)))
            bce = -(y * np.log(p + 1e-12) + (1 - y) * np.log(1 - p + 1e-12)) * (1 + 9 * y)
            done_loss[:, t] = np.where(t < L, bce, np.nan)
    return z_nll, done_loss


def by_time(x, width=BIN):
    """(E, T) per-step values -> their mean in each window of `width` steps (NaN where none)."""
    T = x.shape[1] // width * width
    x = x[:, :T].reshape(len(x), -1, width)
    n = np.isfinite(x).sum(axis=(0, 2))
    return [float(v) for v in np.where(n, np.nansum(x, axis=(0, 2)) / np.maximum(n, 1), np.nan)]


def main(cfg: Config):
    """measure: -> measure.json (and .png). It only reads the run's V, M and C, so it runs beside
    a training run; only its own outputs are locked."""
    with runs.writer(cfg.path, "measure.json"):
        return _measure(cfg)


def _measure(cfg: Config):
    s, mc = spec(cfg.env), cfg.measure
    if not s.m_done:
        raise ValueError(f"measure compares the dream's episode ends with the game's: {cfg.env}'s M "
                         f"has no done head")
    vae_path, m_path, _, m, ccfg, theta, _ = agent_files(cfg)
    if mc.controller:
        ccfg, theta, _ = formats.read_controller(mc.controller, "measure.controller=PATH/controller.npz")
    mu0, logvar0 = formats.read_starts(cfg.path / "series.npz", f"minwm encode {cfg.env}")
    dcfg, cap = dream_config(cfg), s.steps(cfg.evaluate.max_steps)
    rng = np.random.default_rng(mc.seed)
    thetas = [theta] + [theta + mc.sigma * rng.standard_normal(theta.shape).astype(np.float32)
                        for _ in range(mc.controllers - 1)]
    seeds = [MEASURE_SEED + j for j in range(mc.episodes)]

    from minwm.agent import Agents
    agents = Agents(cfg.env, vae_path, m_path, cfg.evolve.workers, cfg.evolve.backend, cap,
                    batch=cfg.evolve.batch)
    hold, held = holders(ccfg)
    todo = [(ccfg, th, f"controller {i + 1}/{len(thetas)}") for i, th in enumerate(thetas)] + \
        [(hold, th, f"hold {side}") for th, side in zip(held, SIDES)]     # C's, then the wall trap
    files = "-".join(runs.file_digest(p)[:16] for p in (vae_path, m_path)) + f"-{cap}"
    game = cfg.path / "measure" / "game.jsonl"
    try:
        real = [_real(agents, cc, th, seeds, f"{files}-{hashlib.sha256(th.tobytes()).hexdigest()[:16]}",
                      game, f"measure: {name} in the game") for cc, th, name in todo]   # steps survived
        record = _recorded(cfg, agents, ccfg, theta)
    finally:
        agents.close()
    dreamed = [dream(m, cc, th, mu0, logvar0, dcfg, np.random.default_rng(mc.seed + i),
                     count=mc.dream_rollouts)
               for i, (cc, th, _) in enumerate(tqdm(todo, desc="measure: the same in the dream", unit="C"))]
    series, _ = formats.read_series(record / "series.npz", f"minwm measure {cfg.env}")
    z_nll, done_loss = m_losses(m, series, np.random.default_rng(0), cap)

    n = len(thetas)
    result = {
        "tau": dcfg.tau, "dream_dropout": dcfg.dropout, "times": TIMES, "bin": BIN,
        "controllers": [_row("C" if i == 0 else f"C + {mc.sigma} eps ({i})", r, d)
                        for i, (r, d) in enumerate(zip(real[:n], dreamed[:n]))],
        "wall_trap": [_row(f"hold {side}", r, d) for side, r, d in zip(SIDES, real[n:], dreamed[n:])],
        "rank_correlation": spearman([np.mean(r) for r in real[:n]], [np.mean(d) for d in dreamed[:n]])
        if n > 2 else None,
        "hazard": {"real": hazard(real[0], cap), "dream": hazard(dreamed[0], cap)},
        "m_losses": {"episodes": len(z_nll), "z_nll": by_time(z_nll), "done_loss": by_time(done_loss)},
    }
    (cfg.path / "measure.json").write_text(json.dumps(result, indent=1))
    _print(result)
    _plot(result, cap, cfg.path / "measure.png", s.title)
    return cfg.path / "measure.json"


def _row(name, real, dreamed):
    return {"name": name, "real_mean": float(np.mean(real)), "dream_mean": float(np.mean(dreamed)),
            "real_survival": survival(real), "dream_survival": survival(dreamed)}


def _real(agents, ccfg, theta, seeds, agent, game, desc):
    """Steps survived in the game on each seed (in seed order), with a progress bar; episodes of
    this agent already in `game` (jsonl) are not played again, new ones are added as they end."""
    game.parent.mkdir(parents=True, exist_ok=True)
    got = runs.finished_episodes(game, agent)
    todo = [s for s in seeds if s not in got]
    with open(game, "a") as f:
        for seed, steps in tqdm(agents.scores([(ccfg, theta, s) for s in todo]), total=len(seeds),
                                initial=len(seeds) - len(todo), desc=desc, unit="episode"):
            got[seed] = float(steps)
            f.write(json.dumps({"seed": seed, "score": got[seed], "agent": agent}) + "\n")
            f.flush()
    return np.array([got[s] for s in seeds])


def _recorded(cfg, agents, ccfg, theta):
    """The run's C's real episodes, recorded and encoded once in run_dir/measure/ (a run of its own:
    same V, its own rollouts and series)."""
    mcfg = replace(cfg, run_dir=str(cfg.path / "measure"))
    seeds = [MEASURE_SEED + 500_000 + j for j in range(cfg.measure.record)]
    todo = [s for s in seeds if not formats.rollout_path(mcfg.path / "rollouts", s).exists()]
    for r in tqdm(agents.record([(ccfg, theta, s) for s in todo]), total=len(todo),
                  desc="measure: recording C's episodes", unit="episode"):
        formats.write_rollout(formats.rollout_path(mcfg.path / "rollouts", int(r["seed"])), r)
    vae = mcfg.path / "vae.npz"
    if not vae.exists():
        vae.symlink_to((cfg.path / "vae.npz").resolve())
    encode.main(mcfg)                                 # encodes only what is new
    return mcfg.path


def _print(r):
    alive = f"survival (share alive after {', '.join(map(str, r['times']))} steps), dream at tau {r['tau']}:"
    trap = "wall trap (far longer in the dream than in the game: C may learn to hold):"
    for title, rows in ((alive, r["controllers"]), (trap, r["wall_trap"])):
        print(title)
        for c in rows:
            print(f"  {c['name']:22s} real {c['real_mean']:7.1f} {_pct(c['real_survival'])}   "
                  f"dream {c['dream_mean']:7.1f} {_pct(c['dream_survival'])}")
    if r["rank_correlation"] is not None:
        print(f"rank correlation of real and dream means: {r['rank_correlation']:.2f}")
    print(f"hazard per {r['bin']} steps (C): real {_pct(np.array(r['hazard']['real']) * r['bin'])}")
    print(f"                          dream {_pct(np.array(r['hazard']['dream']) * r['bin'])}")
    L = r["m_losses"]
    print(f"M on {L['episodes']} real episodes of C, by {r['bin']} steps since the start:")
    print("  z NLL     " + " ".join(f"{v:6.3f}" for v in L["z_nll"]))
    print("  done loss " + " ".join(f"{v:6.3f}" for v in L["done_loss"]))


def _pct(values):
    return "/".join(f"{100 * v:.0f}" if np.isfinite(v) else "-" for v in values)


def _plot(r, cap, path, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(1, 3, figsize=(13, 3.6))
    for i, c in enumerate(r["controllers"]):
        style = dict(lw=2 if i == 0 else 0.8, alpha=1 if i == 0 else 0.5)
        ax[0].plot(r["times"], c["real_survival"], "o-", color="#4477aa", **style)
        ax[0].plot(r["times"], c["dream_survival"], "s--", color="#cc6677", **style)
    ax[0].set(xlabel="steps", ylabel="share alive", title="survival: game (blue) vs dream (red)")
    t = np.arange(len(r["hazard"]["real"])) * r["bin"]
    ax[1].plot(t, r["hazard"]["real"], color="#4477aa", label="game")
    ax[1].plot(t, r["hazard"]["dream"], color="#cc6677", label="dream")
    ax[1].set(xlabel="steps since the start", ylabel="deaths per step", title="hazard (C)")
    ax[1].legend()
    t = np.arange(len(r["m_losses"]["z_nll"])) * r["bin"]
    ax[2].plot(t, r["m_losses"]["z_nll"], label="z NLL")
    ax[2].plot(t, r["m_losses"]["done_loss"], label="done loss")
    ax[2].set(xlabel="steps since the start", title="M on the game's episodes")
    ax[2].legend()
    fig.suptitle(f"{title}: does the dream predict the game?")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
