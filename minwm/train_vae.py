"""Stages train-vae and encode: V learns to compress frames (paper section 3.1, appendix A.1), then
every recorded frame is stored as V's posterior (mu, logvar) for M's training and the dream.

    train-vae   for each epoch: stream shuffled frame batches from the rollouts on disk
                    loss = sum of squared error + max(KL, kl_tolerance * Nz); Adam 1e-4
    encode      for each rollout: (mu, logvar) of every frame, the actions M is fed, episode flags;
                and the first frames' (mu, logvar), from which every dream starts (DoomRNN)
"""
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from minwm import controller as C, infer, rollouts, runs, vae
from minwm.autograd import Tensor
from minwm.config import Config
from minwm.optim import Adam


def _rollout_dir(cfg: Config):
    d = cfg.path / "rollouts"
    if not d.is_dir() or not any(d.glob("*.npz")):
        raise runs.MissingInput(f"no rollouts in {d}: run `minwm collect {cfg.env}` first")
    return d


def main(cfg: Config):
    """train-vae: V on the collected frames; writes vae.npz (the inference layout)."""
    out, ckpt_path = cfg.path / "vae.npz", cfg.path / "vae.ckpt.npz"
    vcfg = vae.VAEConfig(nz=cfg.vae.nz, kl_tolerance=cfg.vae.kl_tolerance)
    reader = rollouts.FrameReader(_rollout_dir(cfg))
    n_frames = reader.n_frames if not cfg.vae.max_frames else min(cfg.vae.max_frames, reader.n_frames)
    steps_per_epoch = max(1, n_frames // cfg.vae.batch)
    total = steps_per_epoch * cfg.vae.epochs

    rng = np.random.default_rng(cfg.seed + 1)
    p = vae.init_params(vcfg, rng)
    opt = Adam(p.values(), lr=cfg.vae.lr)
    log = runs.Log(cfg.path / "vae.jsonl")
    runs.save_config(cfg)
    step = 0
    if ckpt_path.exists():                                           # resume
        step, _ = runs.load_training(ckpt_path, p, opt, rng)
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
                x = Tensor(frames.astype(np.float32) / 255.0)            # (N, 64, 64, 3) in [0, 1]
                opt.zero_grad()
                loss, r_loss, kl_loss = vae.loss(p, vcfg, x, rng)
                runs.check_finite(float(loss.data), "the V loss", ckpt_path)
                loss.backward()
                opt.step()
                step += 1
                fps = cfg.vae.batch * (step - start) / (time.time() - t0)
                log(step=step, epoch=step / steps_per_epoch, loss=float(loss.data),
                    r_loss=float(r_loss.data), kl_loss=float(kl_loss.data))
                bar.set_postfix(loss=f"{float(loss.data):.1f}", r=f"{float(r_loss.data):.1f}",
                                kl=f"{float(kl_loss.data):.1f}", frames_per_s=f"{fps:.0f}")
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


def m_actions(env, actions):
    """Recorded actions -> what M is fed: CarRacing's (steer, gas, brake) as recorded; Doom's
    continuous [-1, 1] value as the discrete -1 / 0 / +1 the game acted on (controller.m_action)."""
    a = np.asarray(actions, np.float32).reshape(len(actions), -1)   # (T, A)
    return C.m_action(C.DOOM, a) if env == "doom" else a


def encode(cfg: Config, chunk=1000, reuse=None):
    """encode: series.npz with mu, logvar (L, Z), action (L, A), restart, done (L,) over all
    rollouts concatenated, and init_mu, init_logvar (E, Z) of each episode's first frame; files,
    lengths (E,) say which rollout each episode is. reuse: an earlier series.npz made by the same V
    (iterate's previous round; by default the run's own): rollouts it holds are copied from it
    instead of encoded again, so encoding after `collect` adds rollouts encodes only the new ones
    (rollout files are named by seed and never rewritten; a new vae.npz re-encodes all)."""
    out = cfg.path / "series.npz"
    reuse = out if reuse is None else reuse
    vae_path = runs.require(cfg.path / "vae.npz", f"minwm train-vae {cfg.env}")
    v, v_id = infer.load_vae(vae_path), runs.file_digest(vae_path)
    paths = sorted(_rollout_dir(cfg).glob("*.npz"))
    old, known = _reusable(reuse, v_id)
    keys = ("mu", "logvar", "action", "restart", "done")
    parts = {k: [] for k in keys + ("files", "lengths")}
    for path in tqdm(paths, desc=f"encode {cfg.env}", unit="rollout"):
        if path.name in known:                                       # same file, same V: copy
            s, T = known[path.name]
            for k in keys:
                parts[k].append(old[k][s:s + T])
        else:
            r = rollouts.load_rollout(path)
            if r is None:                                            # corrupt: reported, skipped
                continue
            frames = r["frames"]
            T = len(frames)
            for s in range(0, T, chunk):
                mu, logvar = infer.encode(v, frames[s:s + chunk])
                parts["mu"].append(mu), parts["logvar"].append(logvar)
            parts["action"].append(m_actions(cfg.env, r["actions"]))
            flags = np.zeros(T, np.uint8)
            flags[0] = 1
            parts["restart"].append(flags)
            parts["done"].append(np.asarray(r["dones"], np.uint8).reshape(T))
        parts["files"].append(path.name), parts["lengths"].append(T)
    series = {k: np.concatenate(parts[k]) for k in keys}
    series["files"], series["lengths"] = np.array(parts["files"]), np.array(parts["lengths"], np.int64)
    starts = np.flatnonzero(series["restart"])
    series["init_mu"], series["init_logvar"] = series["mu"][starts], series["logvar"][starts]
    runs.save_npz(out, series, {"vae": v_id})
    return out


def _reusable(path, v_id):
    """-> (series arrays, {rollout file name: (start, length)}) of an earlier series.npz encoded by
    the V whose digest is v_id; nothing if there is none (or it predates the files/lengths record)."""
    if path is None or not Path(path).exists():
        return {}, {}
    old, state = runs.load_npz(path)
    if (state or {}).get("vae") != v_id or "files" not in old:
        return {}, {}
    starts = np.concatenate([[0], np.cumsum(old["lengths"])[:-1]])
    return old, {str(f): (int(s), int(T)) for f, s, T in zip(old["files"], starts, old["lengths"])}
