"""Issue 30's levers as one table, from the committed results: each run's real score (200 games on
seeds 5,000,000+), paired game by game against the shipped C on the same seeds, C's score in its
own dream, and what `minwm measure` says about that dream for the shipped C (share alive after 500
and 1,200 steps; the game's is in `shipped/`), with the rank correlation of the measure's gap and
the real scores over the runs.

    python bench/experiments/levers_table.py [results/doom-default/experiments/levers]

The gap is the mean over the measure's checkpoints (200 / 500 / 800 / 1,200 / 1,600 steps) of
|dream - game| share alive, the shipped C's: how far this dream is from the game the C will play.
"""
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(sys.argv[1] if len(sys.argv) > 1 else "results/doom-default/experiments/levers")


def spearman(a, b):
    """Rank correlation (ties get their mean rank)."""
    def ranks(x):
        x = np.asarray(x, float)
        r = np.empty(len(x))
        r[np.argsort(x, kind="stable")] = np.arange(len(x))
        for v in np.unique(x):
            r[x == v] = r[x == v].mean()
        return r
    return float(np.corrcoef(ranks(a), ranks(b))[0, 1])


def games(run):
    """-> {seed: score} of the run's real games, and its C's score in its dream."""
    e = json.loads((run / "evaluate.json").read_text())
    return {g["seed"]: g["score"] for g in e["episodes"]}, e["controller"]["score"]


def main():
    ref = games(ROOT / "shipped")[0]
    rows, gaps, reals = [], [], []
    for run in sorted(p for p in ROOT.iterdir() if (p / "evaluate.json").exists()):
        g, dream = games(run)
        seeds = sorted(set(g) & set(ref))
        x = np.array([g[s] for s in seeds])
        d = x - np.array([ref[s] for s in seeds])
        paired = "" if run.name == "shipped" else f"{d.mean():+.1f} ± {d.std(ddof=1) / np.sqrt(len(d)):.1f}"
        measure = ""
        if (run / "measure.json").exists():
            c = json.loads((run / "measure.json").read_text())["controllers"][0]   # the shipped C
            game, dr = np.array(c["real_survival"]), np.array(c["dream_survival"])
            gap = float(np.abs(dr - game).mean())
            measure = f"{dr[1]:.0%} / {dr[3]:.0%} (game {game[1]:.0%} / {game[3]:.0%}), gap {gap:.2f}"
            if run.name != "shipped":                  # shipped's dream is gen30's: counted once
                gaps.append(gap)
                reals.append(x.mean())
        rows.append(f"| `{run.name}/` | {x.mean():.1f} ± {x.std():.1f} ({len(x)}) | {paired} | {dream:,.1f} | {measure} |")
    print("| run | real (games) | paired vs shipped C | C in its dream | dream alive after 500 / 1,200 steps, shipped C |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))
    if len(gaps) > 2:
        print(f"\nrank correlation of -gap and the real score over {len(gaps)} runs: {spearman(-np.array(gaps), reals):.2f}")


if __name__ == "__main__":
    main()
