"""The toy world end to end: `minwm run toy --preset default` timed stage by stage, and its result.

    python bench/toy.py                     the default preset in a temporary directory (target:
                                            under 60 s on 2 quiet cores)
    python bench/toy.py --keep DIR          ... in DIR instead (kept; stages already done are skipped)
    python bench/toy.py rnn.epochs=60 ...   overrides on the preset, as the CLI takes them

Prints the seconds of each stage and the load average, then three scores over the same 100
episode seeds (evaluate.seed, 1,000,000+): the dream-trained C in the real game (evaluate.json),
collect's random policy in the real game, and C in M's dream (1,024 dream rollouts), with the
ratio C / random and the difference in standard errors. Writes toy-dream-vs-real.png (the three
score distributions) in the run directory and next to this script's results (bench/results/).
"""
import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from minwm import cli, collect, formats, infer
from minwm.config import override, preset, spec
from minwm.dream import dream, dream_config

RESULTS = Path(__file__).resolve().parent / "results"


def random_policy(cfg):
    """collect's exploration policy in the real game on evaluate's seeds -> scores (trials,)."""
    s = spec(cfg.env)
    env = s.make(s.steps(cfg.evaluate.max_steps))
    seeds = cfg.evaluate.seed + np.arange(cfg.evaluate.trials)
    return np.array([collect.rollout(env, s.explore, int(seed))["rewards"].sum() for seed in seeds])


def dream_scores(cfg, n=1024):
    """The run's C in M's dream (as evolve scored it) -> scores (n,)."""
    m = infer.load_mdnrnn(cfg.path / "mdnrnn.npz")
    ccfg, theta, _ = formats.read_controller(cfg.path / "controller.npz")
    mu0, logvar0 = formats.read_starts(cfg.path / "series.npz")
    return dream(m, ccfg, theta, mu0, logvar0, dream_config(cfg), np.random.default_rng(123), count=n)


def plot(path, real, rand, dreamt, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    bins = np.linspace(0, max(real.max(), rand.max(), dreamt.max()) + 1, 41)
    for x, label, colour in ((rand, "random policy, real game", "#999999"),
                             (dreamt, "C in M's dream", "#ee7733"),
                             (real, "C (trained in the dream), real game", "#4477aa")):
        ax.hist(x, bins=bins, density=True, alpha=0.6, color=colour,
                label=f"{label}: {x.mean():.1f} ± {x.std():.1f}")
    ax.set_xlabel("time steps survived")
    ax.set_ylabel("share of episodes")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keep", default=None, help="run directory (default: a temporary one, removed)")
    ap.add_argument("--preset", default="default")
    args, overrides = ap.parse_known_args()
    run_dir = args.keep or tempfile.mkdtemp(prefix="minwm-toy-")
    cfg = override(preset("toy", args.preset, run_dir=run_dir), overrides)
    argv = ["--run-dir", run_dir] + overrides
    times, t_all = {}, time.perf_counter()
    try:
        for stage in cli.STAGES:                     # what `minwm run toy` does, one stage at a time
            t0 = time.perf_counter()
            assert cli.main([stage, "toy", "--preset", args.preset] + argv) is None
            times[stage] = time.perf_counter() - t0
        total = time.perf_counter() - t_all
        episodes = json.loads((cfg.path / "evaluate.json").read_text())["episodes"]
        real = np.array([e["score"] for e in episodes])
        rand, dreamt = random_policy(cfg), dream_scores(cfg)
        se = np.sqrt(real.var(ddof=1) / len(real) + rand.var(ddof=1) / len(rand))
        print(f"\ntoy --preset {args.preset} {' '.join(overrides)}: {os.cpu_count()} cores, "
              f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        stages = "  ".join(f"{k} {v:.1f} s" for k, v in times.items())
        print(f"stages  {stages}  | total {total:.1f} s")
        seeds = f"seeds {cfg.evaluate.seed}-{cfg.evaluate.seed + cfg.evaluate.trials - 1}"
        for name, x, what in (("C in the real game", real, f"{len(real)} episodes, {seeds}"),
                              ("random policy", rand, "collect's, same seeds"),
                              ("C in M's dream", dreamt, f"{len(dreamt)} dream rollouts")):
            print(f"{name:20s} {x.mean():6.1f} ± {x.std():5.1f}  ({what})")
        print(f"C / random = {real.mean() / rand.mean():.2f}x, difference = "
              f"{(real.mean() - rand.mean()) / se:.1f} standard errors")
        png = cfg.path / "toy-dream-vs-real.png"
        plot(png, real, rand, dreamt, f"Falling blocks, minwm run toy --preset {args.preset}")
        RESULTS.mkdir(exist_ok=True)
        shutil.copy(png, RESULTS / png.name)
    finally:
        if not args.keep:
            shutil.rmtree(run_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
