"""Stage train-vae: V learns to compress frames (paper section 3.1, appendix A.1).

    for each epoch: stream shuffled frame batches from the rollouts on disk (FrameReader)
        loss = sum of squared error + max(KL, kl_tolerance * Nz); Adam 1e-4

Checkpoints hold the parameters, Adam's moments and the RNG; an epoch's shuffle depends only on
(seed, epoch), so an interrupted run resumes exactly where it stopped.
"""
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from minwm import formats, runs, vae
from minwm.collect import rollout_dir
from minwm.config import Config
from minwm.optim import Adam


def main(cfg: Config):
    """train-vae: V on the collected frames; writes vae.npz (the inference layout)."""
    with runs.writer(cfg.path):
        return _train(cfg)


def _train(cfg: Config):
    out, ckpt_path = cfg.path / "vae.npz", cfg.path / "vae.ckpt.npz"
    vcfg = vae.VAEConfig(nz=cfg.vae.nz, kl_tolerance=cfg.vae.kl_tolerance)
    reader = FrameReader(rollout_dir(cfg))
    n_frames = reader.n_frames if not cfg.vae.max_frames else min(cfg.vae.max_frames, reader.n_frames)
    steps_per_epoch = max(1, n_frames // cfg.vae.batch)
    total = steps_per_epoch * cfg.vae.epochs

    rng = np.random.default_rng(cfg.seed + 1)
    p = vae.init_params(vcfg, rng)
    opt = Adam(p.values(), lr=cfg.vae.lr)
    log = runs.Log(cfg.path / "vae.jsonl")
    runs.save_config(cfg)
    step = 0
    resumed = ckpt_path.exists() and runs.load_training(ckpt_path, p, opt, rng,
                                                           f"minwm train-vae {cfg.env}")
    if resumed:                                                      # resume
        step, _ = resumed
    log.truncate_after("step", step)                                 # a fresh start: an empty log
    if step >= total and out.exists():
        return out

    def checkpoint():
        runs.save_training(ckpt_path, p, opt, step, rng)

    bar = tqdm(total=total, initial=step, desc=f"train-vae {cfg.env}", unit="step", smoothing=0.1)
    t0, start = time.time(), step
    try:
        while step < total:
            epoch, i = divmod(step, steps_per_epoch)
            # the epoch's shuffle depends only on (seed, epoch): a resumed epoch replays its order
            batches = reader.batches(cfg.vae.batch, np.random.default_rng([cfg.seed, epoch]),
                                     max_frames=n_frames, skip=i)
            for frames in batches:
                if step >= (epoch + 1) * steps_per_epoch:
                    break
                x = frames.astype(np.float32) / 255.0                    # (N, 64, 64, 3) in [0, 1]
                loss, r_loss, kl_loss = vae.loss_and_grad(p, vcfg, x, rng)
                runs.check_finite(loss, "the V loss", ckpt_path)
                opt.step()
                step += 1
                fps = cfg.vae.batch * (step - start) / (time.time() - t0)
                log(step=step, epoch=step / steps_per_epoch, loss=loss, r_loss=r_loss, kl_loss=kl_loss)
                bar.set_postfix(loss=f"{loss:.1f}", r=f"{r_loss:.1f}", kl=f"{kl_loss:.1f}",
                                frames_per_s=f"{fps:.0f}")
                bar.update()
                if step % cfg.vae.checkpoint_every == 0:
                    checkpoint()
            else:
                step = (epoch + 1) * steps_per_epoch                     # reader ran dry: next epoch
            checkpoint()
    except KeyboardInterrupt:                                        # Ctrl-C: keep every finished step
        checkpoint()
        raise
    bar.close()
    vae.export(p, vcfg, out)
    return out


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
            n = formats.or_warn(formats.rollout_length, path)
            if n is None:
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
            r = formats.or_warn(formats.read_rollout, self.paths[j])
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
