"""Stage iterate: the iterative training procedure of paper section 5.

    round 0: the run itself: random-policy rollouts -> V, M -> C evolved (in the dream for Doom)
    round k = 1 .. iterations:
        roll out the current agent (V, M, C) in the real environment     iterate.rollouts times
        add those rollouts to all earlier ones
        M: train further on all the data, from its current weights        iterate.rnn_epochs
        C: evolve further, from the current C                             iterate.generations
        score C in the real environment                                   evaluate.trials
V stays as it is (new frames are encoded by the same V); M and C improve from data the agent
itself gathered, which reaches parts of the world a random policy never sees. Each round lives in
run_dir/iterK/ (its rollouts/ links to every earlier rollout), so an interrupted round resumes
from its own checkpoints and finished rounds are skipped.
"""
import json
import os
from dataclasses import replace

import numpy as np
from tqdm import tqdm

from minwm import encode, evaluate, evolve, formats, runs, train_rnn
from minwm.agent import Agents
from minwm.config import ITER_SEED, Config


def _link_rollouts(src, dst):
    dst.mkdir(parents=True, exist_ok=True)
    for f in src.glob("*.npz"):
        if not (dst / f.name).exists():
            os.symlink(f.resolve(), dst / f.name)


def main(cfg: Config):
    """iterate: cfg.iterate.iterations rounds, each in run_dir/iterK/ -> the last round's directory."""
    with runs.writer(cfg.path):
        return _iterate(cfg)


def _iterate(cfg: Config):
    base, it = cfg.path, cfg.iterate
    for name, command in (("vae.npz", "train-vae"), ("mdnrnn.npz", "train-rnn"),
                          ("controller.npz", "evolve")):
        formats.require(base / name, f"minwm {command} {cfg.env}")
    log = runs.Log(base / "iterate.jsonl")
    prev = base
    for k in range(1, it.iterations + 1):
        d = base / f"iter{k}"
        kcfg = replace(cfg, run_dir=str(d),
                       rnn=replace(cfg.rnn, epochs=it.rnn_epochs, init=str(prev / "mdnrnn.npz")),
                       evolve=replace(cfg.evolve, generations=it.generations,
                                      init=str(prev / "controller.npz")))
        if (d / "evaluate.json").exists():
            prev = d
            continue
        d.mkdir(parents=True, exist_ok=True)
        if not (d / "vae.npz").exists():
            os.symlink((base / "vae.npz").resolve(), d / "vae.npz")
        _link_rollouts(prev / "rollouts", d / "rollouts")

        # 1. the current agent in the real environment, recorded as rollouts
        ccfg, theta, _ = formats.read_controller(prev / "controller.npz", f"minwm evolve {cfg.env}")
        seeds = [s for s in ITER_SEED + 100_000 * k + np.arange(it.rollouts)
                 if not formats.rollout_path(d / "rollouts", s).exists()]
        if seeds:
            agents = Agents(cfg.env, base / "vae.npz", prev / "mdnrnn.npz", cfg.evolve.workers,
                            cfg.evolve.backend, cfg.collect.max_frames, batch=cfg.evolve.batch)
            try:
                for r in tqdm(agents.record([(ccfg, theta, int(s)) for s in seeds]), total=len(seeds),
                              desc=f"iterate {k}: agent rollouts", unit="rollout"):
                    formats.write_rollout(formats.rollout_path(d / "rollouts", int(r["seed"])), r)
            finally:
                agents.close()
        # 2. M on all the data, then C in the new dream, then the real score
        if not (d / "series.npz").exists():
            encode.main(kcfg, reuse=prev / "series.npz")  # only the new rollouts are encoded
        train_rnn.main(kcfg)
        evolve.main(kcfg)
        evaluate.main(kcfg)
        result = json.loads((d / "evaluate.json").read_text())
        log(round=k, rollouts=len(list((d / "rollouts").glob("*.npz"))),
            mean=result["mean"], std=result["std"])
        prev = d
    return prev
