"""Stages evaluate, play and dream: the best C over 100 trials in the real environment (mean +- std,
every episode's seed and score, a histogram like the paper's), a GIF of the agent in the real game,
and a GIF of a dream decoded through V. And `demo`, which runs on the weights shipped with minwm.
"""
import json
import shutil
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

from minwm import infer, runs
from minwm.config import Config, override, preset
from minwm.dream import DreamConfig, dream, save_dream

SHIPPED = Path(__file__).parent / "weights"


def _inputs(cfg: Config):
    vae_path = runs.require(cfg.path / "vae.npz", f"minwm train-vae {cfg.env}")
    m_path = runs.require(cfg.path / "mdnrnn.npz", f"minwm train-rnn {cfg.env}")
    from minwm.evolve import load_controller
    ccfg, theta, info = load_controller(
        runs.require(cfg.path / "controller.npz", f"minwm evolve {cfg.env}"))
    return vae_path, m_path, ccfg, theta, info


def histogram(scores, path, title):
    """Histogram of episode scores, as the paper's figures."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.hist(scores, bins=20, color="#4477aa", edgecolor="white")
    ax.set_xlabel("score" if "CarRacing" in title else "time steps survived")
    ax.set_ylabel("episodes")
    ax.set_title(f"{title}\naverage score {np.mean(scores):.0f} ± {np.std(scores):.0f}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(cfg: Config):
    """evaluate: cfg.evaluate.trials consecutive episodes with seeds seed, seed + 1, ..."""
    from minwm.agent import Pool
    vae_path, m_path, ccfg, theta, info = _inputs(cfg)
    seeds = [cfg.evaluate.seed + i for i in range(cfg.evaluate.trials)]
    t0 = time.time()
    pool = Pool(cfg.env, vae_path, m_path, cfg.evolve.workers, cfg.evolve.backend,
                cfg.evaluate.max_steps)
    try:
        scores = pool.map([(ccfg, theta, s) for s in seeds])
    finally:
        pool.close()
    result = {"env": cfg.env, "trials": len(seeds), "mean": float(np.mean(scores)),
              "std": float(np.std(scores)), "seconds": round(time.time() - t0, 1),
              "controller": info, "episodes": [{"seed": s, "score": float(r)} for s, r in zip(seeds, scores)]}
    out = cfg.path / "evaluate.json"
    out.write_text(json.dumps(result, indent=1))
    name = "CarRacing" if cfg.env == "carracing" else "Take Cover"
    histogram(scores, cfg.path / "evaluate.png", f"{name}, {len(seeds)} trials in the real environment")
    print(f"{cfg.env}: {result['mean']:.1f} ± {result['std']:.1f} over {len(seeds)} trials "
          f"({out}, {cfg.path / 'evaluate.png'})")
    return out


def save_gif(frames, path, scale=3, fps=30):
    images = [Image.fromarray(f).resize((f.shape[1] * scale, f.shape[0] * scale), Image.NEAREST)
              for f in frames]
    images[0].save(path, save_all=True, append_images=images[1:], duration=1000 // fps, loop=0)


def play(cfg: Config, out=None, seed=None):
    """play: one episode of the agent in the real game -> GIF of the frames V saw."""
    from minwm.agent import episode, make_env
    vae_path, m_path, ccfg, theta, _ = _inputs(cfg)
    env = make_env(cfg.env, cfg.evaluate.max_steps)
    try:
        seed = cfg.evaluate.seed if seed is None else seed
        r = episode(env, infer.load_vae(vae_path), infer.load_mdnrnn(m_path), ccfg, theta, seed,
                    record=True)
        score, frames = float(r["rewards"].sum()), r["frames"]
    finally:
        env.close()
    out = Path(out or cfg.path / "play.gif")
    save_gif(frames, out)
    print(f"played {cfg.env} seed {seed}: score {score:.1f}, {len(frames)} frames -> {out}")
    return out


def dream_gif(cfg: Config, out=None, seed=0):
    """dream: one rollout of the agent inside M's dream at temperature tau, decoded by V -> GIF."""
    vae_path, m_path, ccfg, theta, _ = _inputs(cfg)
    series, _ = runs.load_npz(runs.require(cfg.path / "series.npz", f"minwm encode {cfg.env}"))
    dcfg = DreamConfig(tau=cfg.evolve.tau, max_steps=cfg.evolve.max_steps or 2100)
    rewards, zs = dream(infer.load_mdnrnn(m_path), ccfg, theta, series["init_mu"],
                        series["init_logvar"], dcfg, np.random.default_rng(seed), count=1, record=True)
    out = Path(out or cfg.path / "dream.gif")
    save_dream(infer.load_vae(vae_path), zs[0], out)
    print(f"dreamed {int(rewards[0])} steps at tau {dcfg.tau} -> {out}")
    return out


def demo(generations=3, out=Path("demo"), overrides=()):
    """Evolve C for a few generations inside the shipped Doom dream, then play the shipped agent
    in the real game and dream with it: two GIFs, in a minute or two."""
    from minwm import evolve
    src = SHIPPED / "doom"
    if not (src / "controller.npz").exists():
        raise runs.MissingInput(f"no shipped weights in {src}: run `minwm run doom` to train them")
    out.mkdir(parents=True, exist_ok=True)
    for name in ("vae.npz", "mdnrnn.npz", "series.npz"):
        shutil.copy(src / name, out / name)
    cfg = override(preset("doom", "default", run_dir=str(out)),
                   [f"evolve.generations={generations}", "evolve.rollouts=4",
                    "evolve.eval_rollouts=64", *overrides])
    print(f"[demo] {generations} generations of CMA-ES (population {cfg.evolve.population} x "
          f"{cfg.evolve.rollouts} rollouts) inside the shipped dream, from scratch:")
    evolve.main(cfg)
    print("[demo] the shipped agent, trained entirely in the dream, in the real game:")
    shutil.copy(src / "controller.npz", out / "controller.npz")
    play(cfg, out / "play.gif")
    dream_gif(cfg, out / "dream.gif")
