"""Stage evolve: C's parameters by CMA-ES (appendix A.3), in the real environment or in M's dream.

    es = CMA-ES(x0 = 0, sigma0 = 0.1, population 64)                  (pycma does the real work)
    for each generation:
        candidates = es.ask()                                           (64, P)
        fitness    = mean reward of 16 rollouts per candidate
        es.tell(candidates, -fitness)                                   cma minimises: the one sign flip
        every eval_every generations: score the CMA *mean* over eval_rollouts, keep the best

In the dream (Doom) the whole population x rollouts is one batched dream at temperature tau; in the
real environment (CarRacing) the rollouts run on a pool of worker processes (minwm.agent). A
checkpoint after every generation holds the pickled CMA-ES state and every RNG, so an interrupted
run resumes where it stopped and gives the same result.
"""
import os
import pickle
import time
from dataclasses import asdict, replace

import cma
import numpy as np
from tqdm import tqdm

from minwm import controller as C, infer, runs
from minwm.config import Config
from minwm.dream import DreamConfig, dream, dream_population


def controller_config(cfg: Config, nz, hidden):
    """C for this run: the paper's (CarRacing [z, h] + bias; Doom [z, c, h], no bias) or an ablation."""
    base = C.DOOM if cfg.env == "doom" else C.CARRACING
    base = replace(base, nz=nz, hidden=hidden)
    if cfg.evolve.controller == "z":
        return replace(base, inputs="z")
    if cfg.evolve.controller == "z_hidden":
        return replace(base, inputs="z", n_hidden=40)
    if cfg.evolve.controller != "full":
        raise ValueError(f"evolve.controller={cfg.evolve.controller!r}: choose full, z or z_hidden")
    return base


def save_controller(path, ccfg, theta, **info):
    runs.save_npz(path, {"theta": np.asarray(theta, np.float32)}, {"controller": asdict(ccfg), **info})


def load_controller(path):
    """controller.npz -> (ControllerConfig, theta (P,), info dict)."""
    arrays, state = runs.load_npz(path)
    ccfg = C.ControllerConfig(**state.pop("controller"))
    return ccfg, arrays["theta"], state


class DreamFitness:
    """Rewards of candidates in M's dream: one batched dream for the whole population."""

    def __init__(self, cfg: Config, m, series, rng):
        self.m, self.rng = m, rng
        self.mu0, self.logvar0 = series["init_mu"], series["init_logvar"]
        self.dcfg = DreamConfig(tau=cfg.evolve.tau, max_steps=cfg.evolve.max_steps or 2100)

    def population(self, ccfg, thetas, n_rollouts, generation):     # -> (P, n_rollouts)
        return dream_population(self.m, ccfg, thetas, n_rollouts, self.mu0, self.logvar0,
                                self.dcfg, self.rng)

    def mean(self, ccfg, theta, n_rollouts):                        # -> (n_rollouts,)
        return dream(self.m, ccfg, theta, self.mu0, self.logvar0, self.dcfg, self.rng, count=n_rollouts)

    def close(self):
        pass


def main(cfg: Config):
    e = cfg.evolve
    out, ckpt_path = cfg.path / "controller.npz", cfg.path / "evolve.ckpt.pkl"
    vae_path = runs.require(cfg.path / "vae.npz", f"minwm train-vae {cfg.env}")
    m = infer.load_mdnrnn(runs.require(cfg.path / "mdnrnn.npz", f"minwm train-rnn {cfg.env}"))
    ccfg = controller_config(cfg, m.nz, m.hidden)
    rng = np.random.default_rng(cfg.seed + 3)
    if e.in_dream:
        series, _ = runs.load_npz(runs.require(cfg.path / "series.npz", f"minwm encode {cfg.env}"))
        fitness = DreamFitness(cfg, m, series, rng)
    else:
        from minwm.agent import RealFitness
        fitness = RealFitness(cfg, vae_path, cfg.path / "mdnrnn.npz")

    log = runs.Log(cfg.path / "evolve.jsonl")
    runs.save_config(cfg)
    P = C.n_params(ccfg)
    # pycma draws from NumPy's global RNG (seeded by its 'seed' option); its state is checkpointed.
    x0 = load_controller(e.init)[1] if e.init else np.zeros(P)
    es = cma.CMAEvolutionStrategy(x0, e.sigma0,
                                  {"popsize": e.population, "seed": cfg.seed + 1, "verbose": -9})
    gen, best = 0, {"score": -np.inf, "generation": -1}
    if ckpt_path.exists():
        with open(ckpt_path, "rb") as f:
            ck = pickle.load(f)
        es, gen, best = ck["es"], ck["generation"], ck["best"]
        np.random.set_state(ck["np_global"])
        runs.set_rng_state(rng, ck["rng"])
        log.truncate_after("generation", gen)
    if gen >= e.generations and out.exists():
        return out

    bar = tqdm(total=e.generations, initial=gen, desc=f"evolve {cfg.env}", unit="gen")
    try:
        while gen < e.generations:
            t0 = time.time()
            thetas = np.asarray(es.ask())                           # (population, P)
            rewards = fitness.population(ccfg, thetas, e.rollouts, gen)
            es.tell(list(thetas), list(-rewards.mean(axis=1)))      # maximise reward
            gen += 1
            record = dict(generation=gen, best=float(rewards.mean(1).max()),
                          mean=float(rewards.mean()), worst=float(rewards.mean(1).min()),
                          sigma=float(es.sigma), seconds=round(time.time() - t0, 2))
            if gen % e.eval_every == 0 or gen == e.generations:
                scores = fitness.mean(ccfg, es.mean, e.eval_rollouts)
                record.update(eval_mean=float(scores.mean()), eval_std=float(scores.std()))
                if scores.mean() > best["score"]:
                    best = {"score": float(scores.mean()), "std": float(scores.std()),
                            "generation": gen, "rollouts": e.eval_rollouts}
                    save_controller(out, ccfg, es.mean, **best,
                                    where="dream" if e.in_dream else "real")
            log(**record)
            bar.set_postfix(best=f"{record['best']:.1f}", mean=f"{record['mean']:.1f}",
                            eval=f"{best['score']:.1f}")
            bar.update()
            tmp = ckpt_path.with_suffix(".tmp")
            with open(tmp, "wb") as f:
                pickle.dump({"es": es, "generation": gen, "best": best, "rng": runs.rng_state(rng),
                             "np_global": np.random.get_state()}, f)
            os.replace(tmp, ckpt_path)
    finally:
        bar.close()
        fitness.close()
    return out
