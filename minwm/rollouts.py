"""Random-policy rollouts on disk (paper section 3, step 1), and the reader that streams their frames.

    collect   for each seed: run the exploration policy for one episode, write one .npz
              CarRacing: smoothly varying (Brownian) actions, the full 1000 frames
              Doom: a uniform random action in [-1, 1] held for 1 to 10 frames; episodes of
                    100 frames or fewer are dropped (original code)
    read      FrameReader streams shuffled batches of frames for V; load_rollout reads one file

One file per rollout, `<seed>.npz`: frames (T, 64, 64, 3) uint8, the frame before each action;
actions (T, 3) float32 CarRacing (steer, gas, brake) or (T,) float32 Doom (the continuous value the
game thresholds at +-1/3); rewards (T,) float32 and dones (T,) bool, the results of each action;
seed (). Files are written to a temporary name and renamed (os.replace), so a killed run never
leaves a half-written file that looks whole; running collect again skips the seeds already on disk.
Two collectors must not share a directory.
"""
import multiprocessing
import os
import time
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

DOOM_MIN_FRAMES = 101  # Doom: drop episodes of 100 frames or fewer (original code)


@dataclass(frozen=True)
class CollectConfig:
    env: str = "carracing"       # "carracing" or "doom"
    out_dir: str = "rollouts"    # one <seed>.npz per rollout
    rollouts: int = 10000        # rollouts wanted on disk (paper: 10,000)
    max_frames: int = 0          # 0: the environment's limit (CarRacing 1000, Doom 2100)
    workers: int = 0             # processes; 0: all cores
    seed: int = 0                # rollout seeds are seed, seed + 1, ... (env and policy)


def make_env(env, max_frames=0):
    """A real environment with V's 64x64 frames (imported lazily: Doom never loads gymnasium)."""
    if env == "carracing":
        from minwm.carracing import CarRacing
        return CarRacing(max_steps=max_frames or 1000)
    if env == "doom":
        from minwm.doom import TakeCover
        return TakeCover(max_steps=max_frames or 2100)
    raise ValueError(f"unknown environment {env!r}: choose carracing or doom")


def brownian_actions(rng, T, dt=1 / 50):
    """CarRacing exploration: (T, 3) float32 (steer, gas, brake), smoothly varying.

    Each of u = (steer, gas, brake) is an Ornstein-Uhlenbeck process, Brownian motion pulled back
    to a mean: du = (mean - u) dt / tau + sigma sqrt(2 dt / tau) dW, dt = 1/50 s (one frame).
    Plain white noise leaves the car jittering at the start; pure Brownian motion often holds the
    brake half the episode. These values keep the car moving (gas ~0.3, brake ~4% of frames) and
    turning both ways, so it crosses road, kerbs and grass at many angles.
    """
    mean, sigma, tau = np.array([0.0, 0.3, -0.5]), np.array([0.5, 0.3, 0.3]), np.array([0.5, 1.0, 1.0])
    noise = rng.standard_normal((T, 3))                                   # (T, 3)
    u = np.empty((T, 3))
    u[0] = mean + sigma * noise[0]
    for t in range(1, T):
        u[t] = u[t - 1] + (mean - u[t - 1]) * dt / tau + sigma * np.sqrt(2 * dt / tau) * noise[t]
    lo, hi = np.array([-1.0, 0.0, 0.0]), np.array([1.0, 1.0, 1.0])      # CarRacing's action box
    return np.clip(u, lo, hi).astype(np.float32)


def held_actions(rng, T):
    """Doom exploration: (T,) float32, a uniform random value in [-1, 1] held for 1 to 10 frames."""
    a = np.empty(T, np.float32)
    t = 0
    while t < T:
        hold = rng.integers(1, 11)
        a[t:t + hold] = rng.uniform(-1.0, 1.0)
        t += hold
    return a


def rollout(env, env_name, seed):
    """One episode of the exploration policy -> dict of arrays (see the module docstring)."""
    rng = np.random.default_rng(seed)
    limit = env.max_steps
    actions = brownian_actions(rng, limit) if env_name == "carracing" else held_actions(rng, limit)
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


def rollout_path(out_dir, seed):
    return Path(out_dir) / f"{seed:09d}.npz"


def write_rollout(path, arrays, level=1):
    """A compressed .npz (what np.savez_compressed writes, at deflate level 1: 4x faster than its
    level 6 for Doom's frames, which costs more than the game itself; files ~10-30% larger),
    written to `<name>.part` then renamed: the rename is atomic."""
    path = Path(path)
    tmp = path.with_name(path.name + ".part")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as z:
        for name, a in arrays.items():
            with z.open(name + ".npy", "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asanyarray(a), allow_pickle=False)
    os.replace(tmp, path)


def _keep(cfg, r, limit):
    """Doom drops episodes that ended (the player died) within 100 frames."""
    return cfg.env != "doom" or len(r["rewards"]) >= DOOM_MIN_FRAMES or len(r["rewards"]) >= limit


def start_worker(state, build, *args):
    """A pool initializer's body: state.update(build(*args)). An initializer that raises makes
    multiprocessing respawn its worker forever, so the error is kept in state instead and raised
    by the worker's first task (worker_state): map() then fails with the reason."""
    try:
        state.update(build(*args))
    except Exception as e:
        state["error"] = f"{type(e).__name__}: {e}"


def worker_state(state):
    if "error" in state:
        raise RuntimeError(f"a rollout worker could not start: {state['error']}")
    return state


_worker = {}


def _build_worker(cfg):
    return dict(cfg=cfg, env=make_env(cfg.env, cfg.max_frames))


def _init_worker(cfg):
    start_worker(_worker, _build_worker, cfg)


def _collect_one(seed):
    """Worker task: run and write one rollout -> (seed, frames written; 0 if dropped)."""
    w = worker_state(_worker)
    cfg, env = w["cfg"], w["env"]
    r = rollout(env, cfg.env, seed)
    if not _keep(cfg, r, env.max_steps):
        return seed, 0
    write_rollout(rollout_path(cfg.out_dir, seed), r)
    return seed, len(r["frames"])


def seeds_on_disk(out_dir):
    return {int(p.stem) for p in Path(out_dir).glob("*.npz") if p.stem.isdigit()}


def main(cfg: CollectConfig):
    """Collect until cfg.rollouts rollouts are on disk in cfg.out_dir -> the directory.

    Seeds are tried in order seed, seed + 1, ..., skipping those already on disk; a dropped Doom
    episode's seed is simply tried again (and dropped again) on the next run.
    """
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("*.part"):  # left by a killed run
        stale.unlink()
    done = seeds_on_disk(out)
    need = cfg.rollouts - len(done)
    if need <= 0:
        print(f"collect {cfg.env}: {len(done)} rollouts already in {out}")
        return out
    workers = cfg.workers or os.cpu_count()
    if workers == 1:
        _worker.update(_build_worker(cfg))                # in this process: errors raise here
        pool, run = None, lambda seeds: map(_collect_one, seeds)
    else:  # spawn: fresh interpreters, no forked game or pygame state
        pool = multiprocessing.get_context("spawn").Pool(workers, _init_worker, (cfg,))
        run = lambda seeds: pool.imap_unordered(_collect_one, seeds)
    bar = tqdm(total=need, desc=f"collect {cfg.env}", unit="rollout", smoothing=0.05)
    frames, dropped, next_seed, t0 = 0, 0, cfg.seed, time.time()
    finished = False
    try:
        while need > 0:
            seeds = []
            while len(seeds) < need:  # exactly as many new seeds as rollouts still missing
                if next_seed not in done:
                    seeds.append(next_seed)
                next_seed += 1
            for seed, n in run(seeds):
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
        if pool is None:
            _worker.pop("env").close()
        elif finished:  # workers exit in order (TakeCover also closes on terminate)
            pool.close()
            pool.join()
        else:
            pool.terminate()
            pool.join()
    print(f"collect {cfg.env}: {len(done)} rollouts in {out} ({frames} new frames in "
          f"{time.time() - t0:.0f} s, {dropped} short episodes dropped)")
    return out


def collect_stage(cfg):
    """The pipeline's collect stage: cfg is minwm.config.Config; rollouts go to run_dir/rollouts.
    Collection seeds start at cfg.seed * 100,000,000 (evaluation and evolution use others)."""
    from minwm import runs
    runs.save_config(cfg)
    c = cfg.collect
    return main(CollectConfig(env=cfg.env, out_dir=str(cfg.path / "rollouts"), rollouts=c.rollouts,
                              max_frames=c.max_frames, workers=c.workers, seed=cfg.seed * 100_000_000))


# ---------------------------------------------------------------------------------------------
# Reading


def _corrupt(path, err):
    warnings.warn(f"skipping corrupt or truncated rollout {path} ({type(err).__name__}: {err}); "
                  f"delete it and run collect again to replace it", RuntimeWarning, stacklevel=3)


def load_rollout(path):
    """One rollout's arrays as a dict, or None (with a warning naming the file) if it is corrupt."""
    try:
        with np.load(path) as f:
            r = {k: f[k] for k in f.files}
        if r["frames"].ndim != 4 or len(r["frames"]) != len(r["dones"]):
            raise ValueError(f"frames {r['frames'].shape} do not match dones {r['dones'].shape}")
        return r
    except Exception as err:  # zipfile.BadZipFile, zlib.error, EOFError, KeyError, ValueError ...
        _corrupt(path, err)
        return None


class FrameReader:
    """Streams shuffled batches of frames from a directory of rollouts, never holding more than
    about `buffer_frames` frames in memory (the paper's 10,000 Doom rollouts do not fit in RAM).

    The shuffle, per epoch: the files in random order; consecutive files grouped into blocks of at
    least buffer_frames frames; frames shuffled within each block; batches cut from the stream of
    blocks. A file that turns out corrupt is reported (name and what to do) and skipped.
    """

    def __init__(self, directory, buffer_frames=10000):
        self.buffer_frames = buffer_frames
        self.paths, self.counts = [], []  # counts: frames per file, read from its small arrays
        for path in sorted(Path(directory).glob("*.npz")):
            try:
                with np.load(path) as f:
                    n = len(f["dones"])
            except Exception as err:
                _corrupt(path, err)
                continue
            self.paths.append(path)
            self.counts.append(n)
        self.n_frames = int(sum(self.counts))

    def _blocks(self, rng):
        """Files in random order, grouped: lists of file indices of >= buffer_frames frames."""
        block, size = [], 0
        for j in rng.permutation(len(self.paths)).tolist():
            block.append(j)
            size += self.counts[j]
            if size >= self.buffer_frames:
                yield block
                block, size = [], 0
        if block:
            yield block

    def _load(self, block):
        """-> frames (B', 64, 64, 3) of the good files, and ok (B,) marking them among all B."""
        frames, ok = [], []
        for j in block:
            r = load_rollout(self.paths[j])
            if r is not None:
                frames.append(r["frames"])
            ok.append(np.full(self.counts[j], r is not None))
        empty = np.empty((0, 64, 64, 3), np.uint8)
        return np.concatenate(frames) if frames else empty, np.concatenate(ok)

    def batches(self, batch, rng, max_frames=None, skip=0):
        """Yield (batch, 64, 64, 3) uint8 arrays: one epoch of shuffled frames, at most max_frames
        (None: all), full batches only, after skipping the first `skip` batches (resume: the same
        rng seed replays the same order without loading the skipped blocks)."""
        limit = self.n_frames if max_frames is None else min(max_frames, self.n_frames)
        start, end = skip * batch, limit // batch * batch  # the stream's frames to yield
        position, carry = 0, np.empty((0, 64, 64, 3), np.uint8)  # stream position; part batch
        for block in self._blocks(rng):
            if position >= end:
                return
            perm = rng.permutation(sum(self.counts[j] for j in block))  # drawn even if skipped
            lo, hi = max(0, start - position), min(len(perm), end - position)
            position += len(perm)
            if lo >= hi:
                continue
            frames, ok = self._load(block)
            rows = np.cumsum(ok) - 1                # index among all -> row among good frames
            perm = perm[lo:hi]
            stream = np.concatenate([carry, frames[rows[perm[ok[perm]]]]])
            n_full = len(stream) // batch * batch
            for s in range(0, n_full, batch):
                yield stream[s:s + batch]
            carry = stream[n_full:]
