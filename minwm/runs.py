"""What every long stage shares: the run directory, its writer lock, JSONL logs, the config.

A run directory holds one file (or folder) per stage output (their formats: minwm.formats):
    rollouts/           collect      one .npz per random-policy rollout
    vae.npz             train-vae    exported V (the inference layout; see minwm.infer)
    series.npz          encode       per-frame (mu, logvar), actions, episode flags; first-frame stats
    mdnrnn.npz          train-rnn    exported M
    controller.npz      evolve       the best C found (flat parameters) and its score
    evaluate.json       evaluate     every episode's score and seed, mean +- std
Checkpoints (*.ckpt.npz, evolve.ckpt.pkl: written and read here, local to the run) and logs
(*.jsonl) sit beside them, with the config (config.json).
"""
import contextlib
import fcntl
import hashlib
import json
import os
import pickle
import time
import warnings
from pathlib import Path

import numpy as np

from minwm import formats
from minwm.config import to_json


def file_digest(path):
    """SHA-256 of a file's bytes (hex): which weights made a derived file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def finished_episodes(path, agent):
    """{seed: score} of the episodes in the jsonl `path` (one {"seed", "score", "agent"} per line,
    appended as each episode ends) played by `agent`; the file is rewritten without a last line
    that a kill cut short, so the next append starts on a line of its own."""
    records = []
    for line in path.read_text().splitlines() if path.exists() else []:
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            pass
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return {r["seed"]: r["score"] for r in records if r.get("agent") == agent}


def rng_state(rng):
    return rng.bit_generator.state


def set_rng_state(rng, state):
    rng.bit_generator.state = state
    return rng


def save_training(path, params, opt, step, rng, **arrays):
    """A training checkpoint: parameters, Adam's moments, the step, the RNG (and extra arrays)."""
    weights = {"p/" + k: t.data for k, t in params.items()}
    formats.check_finite(weights, f"the checkpoint {path}")
    arrays.update(weights)
    arrays.update({"opt/" + k: v for k, v in opt.state_dict().items()})
    formats.save_npz(path, arrays, {"step": step, "rng": rng.bit_generator.state})


def set_aside(path, problem):
    """A checkpoint that cannot be read is renamed (kept for a look) and its stage starts over."""
    path = Path(path)
    path.replace(path.with_name(path.name + ".bad"))
    warnings.warn(f"{path}: {problem}; set aside as {path.name}.bad, the stage starts over",
                  RuntimeWarning, stacklevel=3)


def load_training(path, params, opt, rng, command):
    """Restore what save_training wrote (in place) -> (step, the extra arrays), or None if the
    checkpoint is unreadable (set aside with a warning). A checkpoint of another model size is an
    error: it belongs to another config."""
    try:
        arrays, state = formats.load_npz(path, command, keys=[f"p/{k}" for k in params])
        step, rng_state = int(state["step"]), state["rng"]
    except (formats.FormatError, TypeError, KeyError) as e:
        set_aside(path, f"unreadable checkpoint ({e})")
        return None
    wrong = [f"{k} {arrays['p/' + k].shape} (this config: {t.data.shape})"
             for k, t in params.items() if arrays["p/" + k].shape != t.data.shape]
    if wrong:
        raise formats.FormatError(f"{path}: made with another config ({', '.join(wrong)}); use "
                                  f"the run's own config, or delete the checkpoint to start over")
    for k, t in params.items():
        t.data[...] = arrays["p/" + k]
    opt.load_state_dict({k[4:]: v for k, v in arrays.items() if k.startswith("opt/")})
    rng.bit_generator.state = rng_state
    return step, arrays


def save_pickle(path, obj):
    """evolve's CMA-ES checkpoint (pycma's object holds its own state): local to one run."""
    formats._atomic(path, lambda f: pickle.dump(obj, f))


def load_pickle(path):
    """Unpickles a checkpoint this run wrote itself: never use it on a file from elsewhere (a
    pickle runs code). Unreadable (truncated): None, set aside with a warning."""
    try:
        with open(path, "rb") as f:
            return pickle.load(f)  # local to this run: see the docstring
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, IndexError, ValueError) as e:
        set_aside(path, f"unreadable checkpoint ({type(e).__name__}: {e})")
        return None


class Log:
    """Append one JSON object per line; the file survives interruptions line by line."""

    def __init__(self, path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.t0 = time.time()

    def __call__(self, **record):
        record = {"time": round(time.time() - self.t0, 3), **record}
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")

    def truncate_after(self, key, value):
        """On resume, drop records written after the checkpoint being resumed from."""
        if not self.path.exists():
            return
        lines = [l for l in self.path.read_text().splitlines() if l.strip()]
        kept = [l for l in lines if json.loads(l).get(key, 0) <= value]
        self.path.write_text("".join(l + "\n" for l in kept))


def save_config(cfg):
    """config.json beside the checkpoints: what produced them."""
    cfg.path.mkdir(parents=True, exist_ok=True)
    (cfg.path / "config.json").write_text(to_json(cfg))


def check_finite(value, what, checkpoint):
    if not np.isfinite(value):
        raise FloatingPointError(
            f"{what} became {value}: training stopped. The last good checkpoint is kept at "
            f"{checkpoint}; lower the learning rate (e.g. vae.lr=5e-5) and run the command again "
            f"to resume from it.")


class RunBusy(RuntimeError):
    """Another process is writing the same run directory."""


@contextlib.contextmanager
def writer(run_dir, name="run"):
    """Hold the run directory's writer lock `name` while a stage writes it: a second process that
    would write the same files refuses at once. flock: the kernel drops the lock when its process
    ends, crashed or killed, so no stale lock is ever left. Readers (play, dream) take none."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / f".{name}.lock"
    f = open(path, "a+")  # noqa: SIM115 (held open while the stage runs: the lock is the open file)
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.seek(0)
        who = f.read().strip() or "another process"
        f.close()
        raise RunBusy(f"{run_dir} is being written by {who}: wait for it to finish, or give this "
                      f"command another --run-dir") from None
    try:
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()}")
        f.flush()
        yield
    finally:
        f.close()                                           # closing the file releases the lock
