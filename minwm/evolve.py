"""Stage evolve: C's parameters by CMA-ES (appendix A.4), in the real environment or in M's dream.

    es = CMA-ES(x0 = 0, sigma0 = 0.1, population 64)                  (pycma does the real work)
    for each generation:
        candidates = es.ask()                                           (64, P)
        fitness    = mean reward of 16 rollouts per candidate
        es.tell(candidates, -fitness)                                   cma minimises: the one sign flip
        every eval_every generations: score the kept candidate over eval_rollouts, keep the best
            evolve.keep = "mean": the CMA mean (the original code); "best": the generation's best
            candidate (the paper: "the best performing agent")

In the dream (Doom) the whole population x rollouts is one batched dream at temperature tau; in the
real environment (CarRacing) the rollouts run on a pool of worker processes (minwm.agent). A
checkpoint after every generation holds the CMA-ES object (pickled: it holds its own random
generator, so its samples resume exactly), the generation, the best score so far and the dream's
RNG, so an interrupted run resumes where it stopped and gives the same result.
"""
import time
from dataclasses import replace

import cma
import numpy as np
from tqdm import tqdm

from minwm import controller as C
from minwm import formats, infer, runs
from minwm.config import Config, spec
from minwm.dream import dream, dream_config, dream_population


def controller_config(cfg: Config, nz, hidden):
    """C for this run: the environment's own (its spec) at V's and M's sizes, or an ablation."""
    base = replace(spec(cfg.env).controller, nz=nz, hidden=hidden)
    return C.ablation(base, cfg.evolve.controller)


class DreamFitness:
    """Rewards of candidates in M's dream: one batched dream for the whole population."""

    def __init__(self, cfg: Config, m, starts, rng):
        self.m, self.rng = m, rng
        self.mu0, self.logvar0 = starts                             # (E, Z) each: where dreams begin
        self.dcfg = dream_config(cfg)

    def population(self, ccfg, thetas, n_rollouts, generation):     # -> (P, n_rollouts)
        return dream_population(self.m, ccfg, thetas, n_rollouts, self.mu0, self.logvar0,
                                self.dcfg, self.rng)

    def mean(self, ccfg, theta, n_rollouts):                        # -> (n_rollouts,)
        return dream(self.m, ccfg, theta, self.mu0, self.logvar0, self.dcfg, self.rng, count=n_rollouts)

    def close(self):
        pass


def main(cfg: Config, fitness=None):
    """evolve: writes controller.npz. fitness: what scores candidates (population(ccfg, thetas,
    n_rollouts, generation) -> (P, n_rollouts), mean(ccfg, theta, n) -> (n,)); by default M's
    dream or the real environment, as cfg.evolve.in_dream says (tests pass a known function)."""
    with runs.writer(cfg.path):
        return _evolve(cfg, fitness)


def _evolve(cfg: Config, fitness):
    e = cfg.evolve
    if e.keep not in ("mean", "best"):
        raise ValueError(f"evolve.keep={e.keep!r}: choose mean (original code) or best (paper)")
    out, ckpt_path = cfg.path / "controller.npz", cfg.path / "evolve.ckpt.pkl"
    vae_path, m_path = cfg.path / "vae.npz", cfg.path / "mdnrnn.npz"
    m = infer.load_mdnrnn(m_path, f"minwm train-rnn {cfg.env}")
    ccfg = controller_config(cfg, m.nz, m.hidden)
    rng = np.random.default_rng(cfg.seed + 3)
    if fitness is None and e.in_dream:
        starts = formats.read_starts(cfg.path / "series.npz", f"minwm encode {cfg.env}")
        fitness = DreamFitness(cfg, m, starts, rng)
    elif fitness is None:
        from minwm.agent import RealFitness
        infer.load_vae(vae_path, f"minwm train-vae {cfg.env}")        # a clear error here, not in a worker
        fitness = RealFitness(cfg, vae_path, m_path)

    log = runs.Log(cfg.path / "evolve.jsonl")
    runs.save_config(cfg)
    x0 = formats.read_controller(e.init)[1] if e.init else np.zeros(C.n_params(ccfg))
    # CMA-ES samples with its own generator (not NumPy's global one): pickled inside `es`.
    es = cma.CMAEvolutionStrategy(x0, e.sigma0, {"popsize": e.population, "verbose": -9,
                                                 "randn": np.random.RandomState(cfg.seed + 1).randn})
    gen, best = 0, {"score": -np.inf, "generation": -1}
    ck = runs.load_pickle(ckpt_path) if ckpt_path.exists() else None
    if ck is not None:                                              # resume
        es, gen, best = ck["es"], ck["generation"], ck["best"]
        runs.set_rng_state(rng, ck["rng"])
    log.truncate_after("generation", gen)
    if gen >= e.generations and out.exists():
        return out

    bar = tqdm(total=e.generations, initial=gen, desc=f"evolve {cfg.env}", unit="gen")
    try:
        while gen < e.generations:
            t0 = time.time()
            thetas = np.asarray(es.ask())                           # (population, P)
            rewards = fitness.population(ccfg, thetas, e.rollouts, gen).mean(axis=1)   # (population,)
            es.tell(list(thetas), list(-rewards))                   # maximise reward
            gen += 1
            record = dict(generation=gen, best=float(rewards.max()), mean=float(rewards.mean()),
                          worst=float(rewards.min()), sigma=float(es.sigma),
                          seconds=round(time.time() - t0, 2))
            if gen % e.eval_every == 0 or gen == e.generations:
                kept = es.mean if e.keep == "mean" else thetas[np.argmax(rewards)]
                scores = fitness.mean(ccfg, kept, e.eval_rollouts)
                record.update(eval_mean=float(scores.mean()), eval_std=float(scores.std()))
                if scores.mean() > best["score"]:
                    best = {"score": float(scores.mean()), "std": float(scores.std()),
                            "generation": gen, "rollouts": e.eval_rollouts, "keep": e.keep}
                    formats.save_controller(out, ccfg, kept, **best,
                                            where="dream" if e.in_dream else "real")
            log(**record)
            bar.set_postfix(best=f"{record['best']:.1f}", mean=f"{record['mean']:.1f}",
                            eval=f"{best['score']:.1f}")
            bar.update()
            runs.save_pickle(ckpt_path, {"es": es, "generation": gen, "best": best,
                                            "rng": runs.rng_state(rng)})
    finally:
        bar.close()
        fitness.close()
    return out
