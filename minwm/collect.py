"""Stage collect: random-policy rollouts on disk (paper section 3, step 1).

    for each seed: run the environment's exploration policy (EnvSpec.explore) for one episode
                   CarRacing: smoothly varying (Brownian) actions, the full 1000 frames
                   Doom: a uniform random action in [-1, 1] held for 1 to 10 frames; episodes of
                         100 frames or fewer are dropped (EnvSpec.min_frames, original code)
                   write run_dir/rollouts/<seed>.npz (minwm.formats: frames, actions, rewards, ...)

Seeds start at the run's seed * 100,000,000 (config: the seeds of every stage). Files are written
atomically; running collect again skips the seeds already on disk, so a killed run loses only the
episodes under way.
"""
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from minwm import formats, runs
from minwm.config import COLLECT_SEED_STRIDE, Config, spec
from minwm.pool import Pool


def rollout(env, explore, seed):
    """One episode of the exploration policy -> dict of arrays (formats.write_rollout's)."""
    rng = np.random.default_rng(seed)
    actions = explore(rng, env.max_steps)
    frames, rewards, dones = [env.reset(seed)], [], []
    for a in actions:
        frame, reward, done = env.step(a)
        rewards.append(reward)
        dones.append(done)
        if done:
            break
        frames.append(frame)
    T = len(rewards)
    return dict(frames=np.stack(frames), actions=actions[:T], rewards=np.array(rewards, np.float32),
                dones=np.array(dones, bool), seed=np.array(seed, np.int64))


def _build(env_name, max_frames, out_dir):
    s = spec(env_name)
    return dict(spec=s, env=s.make(s.steps(max_frames)), out_dir=out_dir)


def _collect_one(w, seed):
    """Worker task: run and write one rollout -> (seed, frames written; 0 if dropped)."""
    s, env = w["spec"], w["env"]
    r = rollout(env, s.explore, seed)
    if len(r["rewards"]) < min(s.min_frames, env.max_steps):  # died too soon: dropped
        return seed, 0
    formats.write_rollout(formats.rollout_path(w["out_dir"], seed), r)
    return seed, len(r["frames"])


def rollout_dir(cfg: Config):
    """The run's rollouts (what train-vae and encode read), or an error naming collect."""
    d = cfg.path / "rollouts"
    if not d.is_dir() or not any(d.glob("*.npz")):
        raise formats.MissingInput(f"no rollouts in {d}: run `minwm collect {cfg.env}` first")
    return d


def seeds_on_disk(out_dir):
    return {int(p.stem) for p in Path(out_dir).glob("*.npz") if p.stem.isdigit()}


def main(cfg: Config):
    """Collect until cfg.collect.rollouts rollouts are on disk in run_dir/rollouts -> the directory.

    Seeds are tried in order, skipping those already on disk; a dropped Doom episode's seed is
    simply tried again (and dropped again) on the next run.
    """
    with runs.writer(cfg.path):
        runs.save_config(cfg)
        return _collect(cfg, cfg.path / "rollouts", cfg.seed * COLLECT_SEED_STRIDE)


def _collect(cfg, out, first_seed):
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("*.part"):  # left by a killed run
        stale.unlink()
    done = seeds_on_disk(out)
    need = cfg.collect.rollouts - len(done)
    if need <= 0:
        print(f"collect {cfg.env}: {len(done)} rollouts already in {out}")
        return out
    pool = Pool(_build, (cfg.env, cfg.collect.max_frames, str(out)), cfg.collect.workers)
    bar = tqdm(total=need, desc=f"collect {cfg.env}", unit="rollout", smoothing=0.05)
    frames, dropped, next_seed, t0 = 0, 0, first_seed, time.time()
    finished = False
    try:
        while need > 0:
            seeds = []
            while len(seeds) < need:  # exactly as many new seeds as rollouts still missing
                if next_seed not in done:
                    seeds.append(next_seed)
                next_seed += 1
            for seed, n in pool.imap(_collect_one, seeds, ordered=False):
                if n == 0:
                    dropped += 1
                    continue
                done.add(seed)
                need -= 1
                frames += n
                bar.set_postfix(frames_per_s=f"{frames / (time.time() - t0):.0f}", dropped=dropped)
                bar.update()
        finished = True
    finally:
        bar.close()
        pool.close(wait=finished)
    print(f"collect {cfg.env}: {len(done)} rollouts in {out} ({frames} new frames in "
          f"{time.time() - t0:.0f} s, {dropped} short episodes dropped)")
    return out
