"""What every long stage shares: atomic checkpoints, JSONL logs, clear errors for missing inputs.

A run directory holds one file (or folder) per stage output:
    rollouts/           collect      one .npz per random-policy rollout
    vae.npz             train-vae    exported V (the inference layout; see minwm.infer)
    series.npz          encode       per-frame (mu, logvar), actions, episode flags; first-frame stats
    mdnrnn.npz          train-rnn    exported M
    controller.npz      evolve       the best C found (flat parameters) and its score
    evaluate.json       evaluate     every episode's score and seed, mean +- std
Checkpoints (*.ckpt.npz) and logs (*.jsonl) sit beside them, with the config (config.json).
"""
import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np

from minwm.config import to_json


class MissingInput(FileNotFoundError):
    """A stage's input does not exist yet; the message names the command that makes it."""


def require(path, command):
    path = Path(path)
    if not path.exists():
        raise MissingInput(f"{path} not found: run `{command}` first")
    return path


def save_npz(path, arrays, state=None):
    """Write arrays (and a JSON-able `state` dict) atomically: a killed run never leaves a
    half-written file that looks whole."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    extra = {} if state is None else {"__state__": np.array(json.dumps(state))}
    np.savez(tmp, **arrays, **extra)
    os.replace(tmp, path)


def file_digest(path):
    """SHA-256 of a file's bytes (hex): which weights made a derived file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_npz(path):
    """-> (arrays dict, state dict or None)."""
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files if k != "__state__"}
        state = json.loads(str(f["__state__"])) if "__state__" in f.files else None
    return arrays, state


def save_training(path, params, opt, step, rng, **arrays):
    """A training checkpoint: parameters, Adam's moments, the step, the RNG (and extra arrays)."""
    arrays.update({"p/" + k: t.data for k, t in params.items()})
    arrays.update({"opt/" + k: v for k, v in opt.state_dict().items()})
    save_npz(path, arrays, {"step": step, "rng": rng_state(rng)})


def load_training(path, params, opt, rng):
    """Restore what save_training wrote (in place) -> (step, the extra arrays)."""
    arrays, state = load_npz(path)
    for k, t in params.items():
        t.data[...] = arrays["p/" + k]
    opt.load_state_dict({k[4:]: v for k, v in arrays.items() if k.startswith("opt/")})
    set_rng_state(rng, state["rng"])
    return state["step"], arrays


def rng_state(rng):
    return rng.bit_generator.state


def set_rng_state(rng, state):
    rng.bit_generator.state = state
    return rng


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
