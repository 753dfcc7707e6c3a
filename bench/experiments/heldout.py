"""python bench/experiments/heldout.py RUN OUT M.npz [M.npz ...]: M's losses on data it
never trained on, beside its losses on data it did.

Held out: 100 real episodes of the shipped C (RUN/iter3's V, M, C; seeds 5,000,000-5,000,099, which no
run used), recorded and encoded into OUT/ (kept there, so a second call reuses them). Trained on:
1,000 windows drawn from RUN/iter5/series.npz (every M given here saw all of it).
Per M: z loss (mixture NLL per dimension) and done loss (weighted x10 on deaths), as in training:
100-step windows, z re-sampled from (mu, logvar) with a fixed seed (train_rnn.validate, which
train-rnn's rnn.val_share uses for its held-out windows).
"""
import os
import sys
from pathlib import Path

import numpy as np

from minwm import config, encode, formats, mdnrnn, train_rnn
from minwm.agent import Agents as Pool
from minwm.formats import read_controller as load_controller
from minwm.formats import rollout_path, write_rollout


def main():
    run, out, m_paths = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]
    cfg = config.preset("doom", "default", run_dir=str(out))
    (out / "rollouts").mkdir(parents=True, exist_ok=True)
    if not (out / "vae.npz").exists():
        os.symlink((run / "iter3" / "vae.npz").resolve(), out / "vae.npz")
    ccfg, theta, _ = load_controller(run / "iter3" / "controller.npz")
    seeds = [int(s) for s in 5_000_000 + np.arange(100) if not rollout_path(out / "rollouts", s).exists()]
    if seeds:
        pool = Pool("doom", out / "vae.npz", run / "iter3" / "mdnrnn.npz")
        try:
            for r in pool.record([(ccfg, theta, s) for s in seeds]):
                write_rollout(rollout_path(out / "rollouts", int(r["seed"])), r)
        finally:
            pool.close()
    if not (out / "series.npz").exists():
        encode.main(cfg)

    T = cfg.rnn.seq_len
    held, _ = formats.read_series(out / "series.npz")
    train, _ = formats.read_series(run / "iter5" / "series.npz")
    sets = {"held out": (held, train_rnn.windows(len(held["mu"]), T)),
            "trained on": (train, np.random.default_rng(0).choice(train_rnn.windows(len(train["mu"]), T),
                                                                   1000, replace=False))}
    print(f"held out: {len(held['init_mu'])} episodes, {len(held['mu'])} frames, "
          f"{int(held['done'].sum())} deaths; windows of {T} steps")
    mcfg = train_rnn.model_config(cfg, held)
    p = mdnrnn.init_params(mcfg, np.random.default_rng(0))
    for m_path in m_paths:
        mdnrnn.load_exported(p, mcfg, m_path)
        for name, (series, starts) in sets.items():
            zl, dl = train_rnn.validate(p, mcfg, series, starts, T)
            print(f"{m_path}  {name:10s}  z loss {zl:.4f}  done loss {dl:.4f}")


if __name__ == "__main__":     # the pool's workers are spawned: they import this file
    main()
