"""Stage encode: every recorded frame stored as V's posterior (mu, logvar), for M's training and the
dream (paper section 3.1).

    for each rollout: (mu, logvar) of every frame, the actions as M is fed them (EnvSpec.m_input),
                      episode flags (restart at the first frame, done at the last)
    and the first frames' (mu, logvar), from which every dream starts (DoomRNN)

Writes run_dir/series.npz (minwm.formats.read_series documents it). Rollouts already encoded by
the same V are copied from the previous series.npz; each newly encoded rollout is kept in
series.parts/ until series.npz is written, so a killed encode loses only the rollouts under way.
"""
import shutil
from pathlib import Path

import numpy as np
from tqdm import tqdm

from minwm import formats, infer, runs
from minwm.collect import rollout_dir
from minwm.config import Config, spec


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
    out, part_dir = cfg.path / "series.npz", cfg.path / "series.parts"
    vae_path = cfg.path / "vae.npz"
    v = infer.load_vae(vae_path, f"minwm train-vae {cfg.env}")
    v_id, m_input = runs.file_digest(vae_path), spec(cfg.env).m_input
    paths = sorted(rollout_dir(cfg).glob("*.npz"))
    known = _reusable(out if reuse is None else reuse, v_id, cfg)
    keys = ("mu", "logvar", "action", "restart", "done")
    parts = {k: [] for k in keys + ("files", "lengths")}
    for path in tqdm(paths, desc=f"encode {cfg.env}", unit="rollout"):
        if path.name in known:                                       # same file, same V: copy
            old, s, T = known[path.name]
            r = {k: old[k][s:s + T] for k in keys}
        else:
            r = _encode_one(v, v_id, m_input, path, part_dir / path.name, chunk)
            if r is None:                                            # corrupt: reported, skipped
                continue
        for k in keys:
            parts[k].append(r[k])
        parts["files"].append(path.name), parts["lengths"].append(len(r["done"]))
    formats.save_npz(out, _series(parts, keys), {"vae": v_id})
    shutil.rmtree(part_dir, ignore_errors=True)
    return out


def _encode_one(v, v_id, m_input, path, part, chunk):
    """One rollout's series arrays. Each is kept in series.parts/ until series.npz is written,
    so a killed encode loses only the rollouts under way (a part counts only for the same V)."""
    if part.exists():
        try:
            r, state = formats.load_npz(part, "minwm encode")
            if (state or {}).get("vae") == v_id:
                return r
        except formats.FormatError:                                  # cut short by the kill
            pass
    r = formats.or_warn(formats.read_rollout, path)
    if r is None:
        return None
    frames = r["frames"]
    T = len(frames)
    mu, logvar = zip(*[infer.encode(v, frames[s:s + chunk]) for s in range(0, T, chunk)])
    restart = np.zeros(T, np.uint8)
    restart[0] = 1
    r = dict(mu=np.concatenate(mu), logvar=np.concatenate(logvar), action=m_input(r["actions"]),
             restart=restart, done=np.asarray(r["dones"], np.uint8).reshape(T))
    formats.save_npz(part, r, {"vae": v_id})
    return r


def _series(parts, keys):
    """The encoded rollouts so far, concatenated, with each episode's first-frame statistics."""
    series = {k: np.concatenate(parts[k]) for k in keys}
    series["files"], series["lengths"] = np.array(parts["files"]), np.array(parts["lengths"], np.int64)
    starts = np.flatnonzero(series["restart"])
    series["init_mu"], series["init_logvar"] = series["mu"][starts], series["logvar"][starts]
    return series


def _reusable(path, v_id, cfg):
    """{rollout file name: (series arrays, start, length)} of an earlier series.npz (or encode's
    checkpoint) encoded by the V whose digest is v_id; nothing if there is none."""
    if path is None or not Path(path).exists():
        return {}
    old, state = formats.read_series(path, f"minwm encode {cfg.env}")
    if (state or {}).get("vae") != v_id or "files" not in old:
        return {}
    starts = np.concatenate([[0], np.cumsum(old["lengths"])[:-1]])
    return {str(f): (old, int(s), int(T)) for f, s, T in zip(old["files"], starts, old["lengths"])}
