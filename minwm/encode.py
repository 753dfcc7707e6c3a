"""Stage encode: every recorded frame stored as V's posterior (mu, logvar), for M's training and the
dream (paper section 3.1).

    for each rollout: (mu, logvar) of every frame, the actions as M is fed them (EnvSpec.m_input),
                      episode flags (restart at the first frame, done at the last)
    and the first frames' (mu, logvar), from which every dream starts (DoomRNN)

Writes run_dir/series.npz (minwm.formats.read_series documents it). Rollouts already encoded by
the same V are copied from the previous series.npz, so a killed encode loses only its own work.
"""
from pathlib import Path

import numpy as np
from tqdm import tqdm

from minwm import formats, infer, runs
from minwm.config import Config, spec


def rollout_dir(cfg: Config):
    d = cfg.path / "rollouts"
    if not d.is_dir() or not any(d.glob("*.npz")):
        raise formats.MissingInput(f"no rollouts in {d}: run `minwm collect {cfg.env}` first")
    return d


def main(cfg: Config, chunk=1000, reuse=None):
    """encode: series.npz with mu, logvar (L, Z), action (L, A), restart, done (L,) over all
    rollouts concatenated, and init_mu, init_logvar (E, Z) of each episode's first frame; files,
    lengths (E,) say which rollout each episode is. reuse: an earlier series.npz made by the same V
    (iterate's previous round; by default the run's own): rollouts it holds are copied from it
    instead of encoded again, so encoding after `collect` adds rollouts encodes only the new ones
    (rollout files are named by seed and never rewritten; a new vae.npz re-encodes all)."""
    with runs.writer(cfg.path):
        return _encode(cfg, chunk, reuse)


def _encode(cfg, chunk, reuse):
    out = cfg.path / "series.npz"
    reuse = out if reuse is None else reuse
    vae_path = cfg.path / "vae.npz"
    v = infer.load_vae(vae_path, f"minwm train-vae {cfg.env}")
    v_id, m_input = runs.file_digest(vae_path), spec(cfg.env).m_input
    paths = sorted(rollout_dir(cfg).glob("*.npz"))
    old, known = _reusable(reuse, v_id, cfg)
    keys = ("mu", "logvar", "action", "restart", "done")
    parts = {k: [] for k in keys + ("files", "lengths")}
    for path in tqdm(paths, desc=f"encode {cfg.env}", unit="rollout"):
        if path.name in known:                                       # same file, same V: copy
            s, T = known[path.name]
            for k in keys:
                parts[k].append(old[k][s:s + T])
        else:
            r = formats.or_warn(formats.read_rollout, path)
            if r is None:                                            # corrupt: reported, skipped
                continue
            frames = r["frames"]
            T = len(frames)
            for s in range(0, T, chunk):
                mu, logvar = infer.encode(v, frames[s:s + chunk])
                parts["mu"].append(mu), parts["logvar"].append(logvar)
            parts["action"].append(m_input(r["actions"]))
            flags = np.zeros(T, np.uint8)
            flags[0] = 1
            parts["restart"].append(flags)
            parts["done"].append(np.asarray(r["dones"], np.uint8).reshape(T))
        parts["files"].append(path.name), parts["lengths"].append(T)
    series = {k: np.concatenate(parts[k]) for k in keys}
    series["files"], series["lengths"] = np.array(parts["files"]), np.array(parts["lengths"], np.int64)
    starts = np.flatnonzero(series["restart"])
    series["init_mu"], series["init_logvar"] = series["mu"][starts], series["logvar"][starts]
    formats.save_npz(out, series, {"vae": v_id})
    return out


def _reusable(path, v_id, cfg):
    """-> (series arrays, {rollout file name: (start, length)}) of an earlier series.npz encoded by
    the V whose digest is v_id; nothing if there is none (or it predates the files/lengths record)."""
    if path is None or not Path(path).exists():
        return {}, {}
    old, state = formats.read_series(path, f"minwm encode {cfg.env}")
    if (state or {}).get("vae") != v_id or "files" not in old:
        return {}, {}
    starts = np.concatenate([[0], np.cumsum(old["lengths"])[:-1]])
    return old, {str(f): (int(s), int(T)) for f, s, T in zip(old["files"], starts, old["lengths"])}
