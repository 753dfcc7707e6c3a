"""Every file minwm saves and reads: its layout, an atomic write, and one clear error when it is bad.

    vae.npz          V, exported by train-vae (VAE layout below), read by inference and encode
    mdnrnn.npz       M, exported by train-rnn (M layout below), read by the dream and the agent
    controller.npz   C: theta (P,) and its controller.ControllerConfig, written by evolve
    series.npz       encode's per-frame (mu, logvar), actions and episode flags (SERIES below)
    rollouts/<seed>.npz   one episode: frames, actions, rewards, dones, seed (collect, iterate)
    *.ckpt.npz, evolve.ckpt.pkl   a run's own checkpoints: minwm.runs writes and reads them

Every .npz is written to a temporary name, flushed to disk, then renamed over the old file
(os.replace is atomic): a crash or a full disk during a save leaves the previous file intact.
Weights are checked finite before they are written: NaN weights are never saved. A file that is
missing, truncated, not an .npz, holds pickled objects, lacks keys, has wrong shapes or dtypes,
or holds NaN or inf raises one error naming the file, what is wrong and the command that rebuilds
it. Nothing minwm ships or shares is ever unpickled (np.load with allow_pickle=False).

V, vae.npz (appendix A.1). All float32, images NHWC, flat names:
    enc.conv{1..4}.w  (4, 4, Cin, Cout)  channels 3 -> 32 -> 64 -> 128 -> 256, stride 2, ReLU
    enc.conv{1..4}.b  (Cout,)            64x64 -> 31 -> 14 -> 6 -> 2
    flatten (N, 2, 2, 256) -> (N, 1024) in C order (h, w, c)
    enc.mu.w, enc.logvar.w (1024, Z);  enc.mu.b, enc.logvar.b (Z,)
    dec.dense.w (Z, 1024), dec.dense.b (1024,)    no activation; reshape (N, 1, 1, 1024)
    dec.deconv{1..4}.w (Cin, k, k, Cout), .b (Cout,), stride 2: 1024 -> 128 (k 5) -> 64 (k 5)
        -> 32 (k 6) -> 3 (k 6); 1 -> 5 -> 13 -> 30 -> 64; ReLU, but a sigmoid on the last
    meta.nz

M, mdnrnn.npz (appendix A.2)
    lstm.wx (D, 4H), lstm.wh (H, 4H), lstm.b (4H,)   gate order [i, f, g, o]
        x = [z (Z), a (A), restart (1, if meta.restart)]
    mdn.w (H, 3ZK + done), mdn.b: y[:, 0:ZK] mixture logits, y[:, ZK:2ZK] mu,
        y[:, 2ZK:3ZK] logsigma (each (N, Z, K)), y[:, 3ZK] done logit (if meta.done)
    meta.nz, meta.na, meta.hidden, meta.k (5), meta.restart (0/1), meta.done (0/1)
"""
import json
import os
import warnings
import zipfile
import zlib
from dataclasses import asdict
from pathlib import Path

import numpy as np

from minwm.controller import ControllerConfig, n_params

ENCODER = ((3, 32, 4), (32, 64, 4), (64, 128, 4), (128, 256, 4))     # V's convs: (Cin, Cout, k), stride 2
DECODER = ((1024, 128, 5), (128, 64, 5), (64, 32, 6), (32, 3, 6))    # V's deconvs, stride 2
SERIES = {"mu": "(L, Z)", "logvar": "(L, Z)", "action": "(L, A)", "restart": "(L,)",
          "done": "(L,)", "init_mu": "(E, Z)", "init_logvar": "(E, Z)"}
ROLLOUT = ("frames", "actions", "rewards", "dones")


class MissingInput(FileNotFoundError):
    """A stage's input does not exist yet; the message names the command that makes it."""


class FormatError(ValueError):
    """A file exists but is not what minwm wrote; the message names the command that rebuilds it."""


def require(path, command):
    path = Path(path)
    if not path.exists():
        raise MissingInput(f"{path} not found: run `{command}` first")
    return path


def _bad(path, problem, command):
    return FormatError(f"{path}: {problem}; rebuild it with `{command}`")


# ------------------------------------------------------------------------------ .npz, any
def _atomic(path, write):
    """write(f) to a temporary file, flushed to disk, then renamed over `path` (atomic)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)                     # a failed write (disk full) leaves no .part


def save_npz(path, arrays, state=None, compress=0):
    """Write arrays (and a JSON-able `state` dict) atomically. compress: 0 stored, else a
    deflate level (rollouts use 1: 4x faster than level 6 on Doom's frames, files ~10-30% larger)."""
    if state is not None:
        arrays = {**arrays, "__state__": np.array(json.dumps(state))}

    def write(f):
        mode = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        with zipfile.ZipFile(f, "w", mode, compresslevel=compress or None) as z:
            for name, a in arrays.items():
                with z.open(name + ".npy", "w", force_zip64=True) as g:
                    np.lib.format.write_array(g, np.asanyarray(a), allow_pickle=False)
    _atomic(path, write)


def load_npz(path, command, keys=(), only=None):
    """-> (arrays dict, state dict or None). MissingInput if there is no file; FormatError if it
    is truncated, not an .npz, holds pickled objects or lacks one of `keys`. only: read just
    these arrays (the rest of the file is not decompressed)."""
    path = require(path, command)
    with open(path, "rb") as f:
        if f.read(4) != b"PK\x03\x04":                         # every .npz is a zip file
            raise _bad(path, "not an .npz file (empty, or other data)", command)
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files if k != "__state__" and (only is None or k in only)}
            state = json.loads(str(f["__state__"])) if "__state__" in f.files else None
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as e:
        raise _bad(path, f"not a complete .npz file, truncated or corrupt ({e})", command) from None
    except ValueError as e:                             # object arrays: minwm never unpickles
        problem = "holds pickled objects" if "pickle" in str(e) else f"unreadable ({e})"
        raise _bad(path, problem, command) from None
    missing = [k for k in keys if k not in arrays]
    if missing:
        raise _bad(path, f"missing {', '.join(missing)}", command)
    return arrays, state


def check_finite(arrays, what):
    """Refuse to save NaN or inf: training diverged, and the last good file must stay."""
    bad = [k for k, a in arrays.items() if a.dtype.kind == "f" and not np.isfinite(a).all()]
    if bad:
        raise FloatingPointError(f"{what}: NaN or inf in {', '.join(bad)}; not saved, the last "
                                 f"good file is kept. Lower the learning rate and run again.")


def _checked(path, arrays, shapes, command):
    """Every tensor of `shapes` present, with its shape, numeric and finite -> float32 copies."""
    missing = sorted(set(shapes) - set(arrays))
    wrong = [f"{n} {tuple(arrays[n].shape)} (expected {shapes[n]})"
             for n in shapes if n in arrays and tuple(arrays[n].shape) != shapes[n]]
    if missing or wrong:
        raise _bad(path, "; ".join(([f"missing {', '.join(missing)}"] if missing else [])
                                   + ([f"wrong shape {', '.join(wrong)}"] if wrong else [])), command)
    kinds = [f"{n} ({arrays[n].dtype})" for n in shapes if arrays[n].dtype.kind not in "fiu"]
    if kinds:
        raise _bad(path, f"not numbers: {', '.join(kinds)}", command)
    nonfinite = [n for n in shapes if not np.isfinite(arrays[n]).all()]
    if nonfinite:
        raise _bad(path, f"NaN or inf in {', '.join(nonfinite)}", command)
    return {n: np.ascontiguousarray(arrays[n], dtype=np.float32) for n in shapes}


def _meta(path, arrays, names, command):
    missing = [f"meta.{n}" for n in names if f"meta.{n}" not in arrays]
    if missing:
        raise _bad(path, f"missing {', '.join(missing)}", command)
    try:
        return [int(arrays[f"meta.{n}"]) for n in names]
    except (TypeError, ValueError):
        values = ", ".join(f"meta.{n} = {arrays[f'meta.{n}']!r}" for n in names)
        raise _bad(path, f"meta entries must be integers ({values})", command) from None


# ------------------------------------------------------------------------------ V and M
def vae_shapes(nz):
    """{name: shape} of every V tensor."""
    s = {}
    for i, (cin, cout, k) in enumerate(ENCODER, 1):
        s[f"enc.conv{i}.w"], s[f"enc.conv{i}.b"] = (k, k, cin, cout), (cout,)
    for name in ("mu", "logvar"):
        s[f"enc.{name}.w"], s[f"enc.{name}.b"] = (1024, nz), (nz,)
    s["dec.dense.w"], s["dec.dense.b"] = (nz, 1024), (1024,)
    for i, (cin, cout, k) in enumerate(DECODER, 1):
        s[f"dec.deconv{i}.w"], s[f"dec.deconv{i}.b"] = (cin, k, k, cout), (cout,)
    return s


MDNRNN_META = ("nz", "na", "hidden", "k", "restart", "done")


def mdnrnn_shapes(nz, na, hidden, k=5, restart=False, done=False):
    """{name: shape} of every M tensor."""
    D, H, n_out = nz + na + int(restart), hidden, 3 * nz * k + int(done)
    return {"lstm.wx": (D, 4 * H), "lstm.wh": (H, 4 * H), "lstm.b": (4 * H,),
            "mdn.w": (H, n_out), "mdn.b": (n_out,)}


def save_vae(path, params, nz):
    """params {name: array} in the layout above -> vae.npz (float32)."""
    params = {k: np.asarray(v, np.float32) for k, v in params.items()}
    check_finite(params, f"V's weights for {path}")
    save_npz(path, {**params, "meta.nz": np.array(nz)})


def read_vae(path, command="minwm train-vae ENV", arrays=None):
    """vae.npz (or its `arrays`) -> (nz, {name: float32 array}), every tensor checked."""
    arrays = load_npz(path, command)[0] if arrays is None else arrays
    (nz,) = _meta(path, arrays, ["nz"], command)
    return nz, _checked(path, arrays, vae_shapes(nz), command)


def save_mdnrnn(path, params, nz, na, hidden, k, restart, done):
    params = {k_: np.asarray(v, np.float32) for k_, v in params.items()}
    check_finite(params, f"M's weights for {path}")
    meta = dict(nz=nz, na=na, hidden=hidden, k=k, restart=int(restart), done=int(done))
    save_npz(path, {**params, **{f"meta.{n}": np.array(v) for n, v in meta.items()}})


def read_mdnrnn(path, command="minwm train-rnn ENV", arrays=None):
    """mdnrnn.npz (or its `arrays`) -> (meta dict, {name: float32 array}), every tensor checked."""
    arrays = load_npz(path, command)[0] if arrays is None else arrays
    meta = dict(zip(MDNRNN_META, _meta(path, arrays, MDNRNN_META, command)))
    return meta, _checked(path, arrays, mdnrnn_shapes(**meta), command)


# ------------------------------------------------------------------------------ C
def save_controller(path, ccfg: ControllerConfig, theta, **info):
    theta = np.asarray(theta, np.float32)
    check_finite({"theta": theta}, f"C's parameters for {path}")
    save_npz(path, {"theta": theta}, {"controller": asdict(ccfg), **info})


def read_controller(path, command="minwm evolve ENV"):
    """controller.npz -> (ControllerConfig, theta (P,) float32, info dict)."""
    arrays, state = load_npz(path, command, keys=("theta",))
    try:
        info = dict(state)
        ccfg = ControllerConfig(**info.pop("controller"))
    except (TypeError, KeyError, ValueError) as e:
        raise _bad(path, f"no valid controller description ({type(e).__name__}: {e})", command) from None
    theta = _checked(path, arrays, {"theta": (n_params(ccfg),)}, command)["theta"]
    return ccfg, theta, info


# ------------------------------------------------------------------------------ series
def read_series(path, command="minwm encode ENV"):
    """series.npz -> (arrays, state): mu, logvar (L, Z), action (L, A), restart, done (L,) of all
    rollouts end to end; init_mu, init_logvar (E, Z) of each episode's first frame; files,
    lengths (E,) which rollout each episode is. Lengths and values checked."""
    s, state = load_npz(path, command, keys=tuple(SERIES))
    L, Z = s["mu"].shape if s["mu"].ndim == 2 else (-1, -1)
    E = int(s["restart"].sum()) if s["restart"].ndim == 1 else -1
    want = {"mu": (L, Z), "logvar": (L, Z), "action": (L, s["action"].shape[-1]), "restart": (L,),
            "done": (L,), "init_mu": (E, Z), "init_logvar": (E, Z)}
    wrong = [f"{k} {s[k].shape} (expected {SERIES[k]}, {want[k]})" for k in SERIES
             if L < 1 or s[k].shape != want[k] or s[k].dtype.kind not in "fiu"]
    if wrong:
        raise _bad(path, f"inconsistent arrays: {', '.join(wrong)}", command)
    nonfinite = [k for k in SERIES if not np.isfinite(s[k]).all()]
    if nonfinite:
        raise _bad(path, f"NaN or inf in {', '.join(nonfinite)}", command)
    return s, state


def read_starts(path, command="minwm encode ENV"):
    """What the dream needs of a series: init_mu, init_logvar (E, Z), the first frames' posteriors
    (the weights minwm ships carry only these)."""
    s, _ = load_npz(path, command, keys=("init_mu", "init_logvar"), only=("init_mu", "init_logvar"))
    mu, logvar = s["init_mu"], s["init_logvar"]
    if mu.ndim != 2 or mu.shape != logvar.shape or len(mu) == 0 or mu.dtype.kind != "f":
        raise _bad(path, f"init_mu {mu.shape} and init_logvar {logvar.shape} must be (E, Z) floats", command)
    if not (np.isfinite(mu).all() and np.isfinite(logvar).all()):
        raise _bad(path, "NaN or inf in init_mu or init_logvar", command)
    return mu.astype(np.float32), logvar.astype(np.float32)


# ------------------------------------------------------------------------------ rollouts
def rollout_path(directory, seed):
    return Path(directory) / f"{seed:09d}.npz"


def write_rollout(path, arrays):
    """One episode: frames (T, 64, 64, 3) uint8, the frame before each action; actions (T, A)
    float32; rewards (T,) float32 and dones (T,) bool, the results of each action; seed ()."""
    save_npz(path, arrays, compress=1)


def read_rollout(path, command="minwm collect ENV"):
    """One rollout's arrays, checked (frames (T, 64, 64, 3) uint8 beside T actions, rewards, dones)."""
    r, _ = load_npz(path, command, keys=ROLLOUT)
    T = len(r["dones"])
    if r["frames"].shape[1:] != (64, 64, 3) or r["frames"].dtype != np.uint8 or any(
            len(r[k]) != T for k in ROLLOUT):
        raise _bad(path, f"frames {r['frames'].shape} {r['frames'].dtype} do not match "
                         f"{T} dones (expected (T, 64, 64, 3) uint8)", command)
    nonfinite = [k for k in ROLLOUT if r[k].dtype.kind not in "biuf" or not np.isfinite(r[k]).all()]
    if nonfinite:
        raise _bad(path, f"not finite numbers in {', '.join(nonfinite)}", command)
    return r


def rollout_length(path, command="minwm collect ENV"):
    """A rollout's number of frames, reading only its small `dones` array."""
    return len(load_npz(path, command, keys=("dones",), only=("dones",))[0]["dones"])


def or_warn(read, path):
    """read(path), or None with a warning naming the file: one bad rollout among thousands is
    skipped (a missing frame or two changes nothing), not a reason to stop."""
    try:
        return read(path)
    except (FormatError, MissingInput) as e:
        warnings.warn(f"skipping rollout: {e} (delete it and run collect again to replace it)",
                      RuntimeWarning, stacklevel=2)
        return None
