"""Stage evaluate: the kept C over 100 trials in the real environment (paper: "average score over
100 random trials"): mean +- std, every episode's seed and score in evaluate.json, and a histogram
like the paper's. The trials are consecutive seeds from evaluate.seed (1,000,000), disjoint from
every seed used for training.
"""
import json
import time

import numpy as np

from minwm import formats, infer, runs
from minwm.config import Config, spec


def agent_files(cfg: Config):
    """The run's agent, every file checked here (a clear error, not one inside a worker):
    -> vae_path, m_path, v (infer.VAE), m (infer.MDNRNN), ccfg, theta, info."""
    vae_path, m_path = cfg.path / "vae.npz", cfg.path / "mdnrnn.npz"
    v = infer.load_vae(vae_path, f"minwm train-vae {cfg.env}")
    m = infer.load_mdnrnn(m_path, f"minwm train-rnn {cfg.env}")
    ccfg, theta, info = formats.read_controller(cfg.path / "controller.npz", f"minwm evolve {cfg.env}")
    return vae_path, m_path, v, m, ccfg, theta, info


def histogram(scores, path, title, xlabel):
    """Histogram of episode scores, as the paper's figures."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.hist(scores, bins=20, color="#4477aa", edgecolor="white")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("episodes")
    ax.set_title(f"{title}\naverage score {np.mean(scores):.0f} ± {np.std(scores):.0f}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(cfg: Config, out="evaluate.json"):
    """evaluate: cfg.evaluate.trials consecutive episodes with seeds seed, seed + 1, ... -> `out`
    (and its .png) in the run directory. Only `out` is locked: evaluating beside a training run,
    into a file of its own, is allowed."""
    with runs.writer(cfg.path, out):
        return _evaluate(cfg, cfg.path / out)


def _evaluate(cfg, out):
    from minwm.agent import Agents
    vae_path, m_path, _, _, ccfg, theta, info = agent_files(cfg)
    seeds = [cfg.evaluate.seed + i for i in range(cfg.evaluate.trials)]
    # Finished episodes go to a side file as they end, so a killed evaluate loses only the
    # episodes under way; they count only for the same agent (its files' digests) and cap.
    agent = "-".join(runs.file_digest(cfg.path / f)[:16] for f in ("vae.npz", "mdnrnn.npz", "controller.npz"))
    agent += f"-{spec(cfg.env).steps(cfg.evaluate.max_steps)}"
    partial = out.with_name(out.stem + ".episodes.jsonl")
    score = runs.finished_episodes(partial, agent)
    t0 = time.time()
    todo = [(ccfg, theta, s) for s in seeds if s not in score]
    if todo:
        agents = Agents(cfg.env, vae_path, m_path, cfg.evolve.workers, cfg.evolve.backend,
                        cfg.evaluate.max_steps, batch=cfg.evolve.batch)
        try:
            with open(partial, "a") as f:
                for seed, reward in agents.scores(todo):
                    score[seed] = float(reward)
                    f.write(json.dumps({"seed": seed, "score": score[seed], "agent": agent}) + "\n")
                    f.flush()
        finally:
            agents.close()
    scores = [score[s] for s in seeds]
    result = {"env": cfg.env, "trials": len(seeds), "mean": float(np.mean(scores)),
              "std": float(np.std(scores)), "seconds": round(time.time() - t0, 1),
              "controller": info, "episodes": [{"seed": s, "score": float(r)} for s, r in zip(seeds, scores)]}
    tmp = out.with_name(out.name + ".part")
    tmp.write_text(json.dumps(result, indent=1))
    tmp.replace(out)                                                 # atomic
    partial.unlink(missing_ok=True)
    s = spec(cfg.env)
    histogram(scores, out.with_suffix(".png"), f"{s.title}, {len(seeds)} trials in the real environment",
              s.score)
    print(f"{cfg.env}: {result['mean']:.1f} ± {result['std']:.1f} over {len(seeds)} trials "
          f"({out}, {out.with_suffix('.png')})")
    return out
