"""C, the controller (appendix A.3): a single layer from V's z and M's state to the action.

    CarRacing   a = tanh(W [z, h] + b)      W (3, 32 + 256), b (3,)     3 * 288 + 3 = 867 parameters
    Doom        a = tanh(w . [z, c, h])     no bias (original code)     64 + 512 + 512 = 1088 parameters
    ablations   a = tanh(W z + b)                                      3 * 32 + 3 = 99 (CarRacing)
                a = tanh(W2 tanh(W1 z + b1) + b2), 40 hidden units      32 * 40 + 40 + 40 * 3 + 3 = 1443

C's output a in [-1, 1] becomes the environment's action by the map in its spec (EnvSpec.env_action:
carracing.env_action, doom.env_action); each environment's own C is its spec's `controller`.

The parameters are one flat vector theta (what CMA-ES searches), layer by layer, each layer
[W.ravel() (out, in) row-major, b (out,)] (b absent without bias); W's input columns follow the
order of `inputs` ([z, c, h] for Doom). theta (P,) is one controller for every row; theta (N, P)
gives each rollout its own, so a whole CMA-ES population steps as one batch in the dream.
"""
from dataclasses import dataclass, replace
from functools import cache

import numpy as np

from minwm.config import spec


@dataclass(frozen=True)
class ControllerConfig:
    nz: int                   # V's latent size (appendix A.1: 32 CarRacing, 64 Doom)
    hidden: int               # M's LSTM units (appendix A.2: 256 CarRacing, 512 Doom)
    na: int                   # action size: steer, gas, brake (CarRacing); 1 (Doom)
    inputs: str               # C's inputs in order: "zh" CarRacing, "zch" Doom (z, cell, hidden), "z" ablation
    bias: bool                # Doom's controller has none (original code: 1088 = 64 + 512 + 512)
    env: str                  # whose action map (EnvSpec.env_action): "carracing" or "doom"
    n_hidden: int = 0         # 0: linear (paper); 40: the ablation with a tanh hidden layer
    feed_m: str = "env"       # what M is fed: "env", the action the env acted on (Doom: discretised
                              # {-1, 0, 1}; CarRacing: steer, gas, brake as the original code), or
                              # "raw", C's tanh output


ABLATIONS = ("full", "z", "z_hidden")


def ablation(cfg: ControllerConfig, kind):
    """The paper's C ("full"), or one of its CarRacing ablations: "z" (a = tanh(W z + b)) or
    "z_hidden" (z through a 40-unit tanh layer)."""
    if kind not in ABLATIONS:
        raise ValueError(f"evolve.controller={kind!r}: choose one of {', '.join(ABLATIONS)}")
    return {"full": cfg, "z": replace(cfg, inputs="z"),
            "z_hidden": replace(cfg, inputs="z", n_hidden=40)}[kind]


@cache
def input_sizes(cfg: ControllerConfig):
    """Sizes of C's input blocks in order, e.g. (64, 512, 512) for [z, c, h]."""
    size = {"z": cfg.nz, "c": cfg.hidden, "h": cfg.hidden}
    return tuple(size[name] for name in cfg.inputs)


@cache
def layer_shapes(cfg: ControllerConfig):
    """[(out, in), ...] per layer: one layer, or two with the hidden-layer ablation."""
    n_in = sum(input_sizes(cfg))
    if cfg.n_hidden:
        return [(cfg.n_hidden, n_in), (cfg.na, cfg.n_hidden)]
    return [(cfg.na, n_in)]


@cache
def n_params(cfg: ControllerConfig):
    """Length of the flat parameter vector: 867 CarRacing, 1088 Doom, 99 z only, 1443 z + hidden."""
    return sum(o * i + (o if cfg.bias else 0) for o, i in layer_shapes(cfg))


def unflatten(cfg: ControllerConfig, theta):
    """theta (P,) or (N, P) -> [(W (.., out, in), b (.., out) or None), ...] as views into theta."""
    assert theta.shape[-1] == n_params(cfg), f"theta has {theta.shape[-1]} parameters, C needs {n_params(cfg)}"
    lead, layers, off = theta.shape[:-1], [], 0
    for o, i in layer_shapes(cfg):
        W = theta[..., off:off + o * i].reshape(*lead, o, i)
        off += o * i
        b = None
        if cfg.bias:
            b, off = theta[..., off:off + o], off + o
        layers.append((W, b))
    return layers


def flatten(layers):
    """The inverse of unflatten for one controller: [(W (out, in), b (out,) or None), ...] -> theta (P,)."""
    return np.concatenate([p.ravel() for W, b in layers for p in ((W,) if b is None else (W, b))])


def _linear(W, b, xs):
    # W (out, in) shared or (N, out, in) per row, xs the input blocks (N, in_k) -> (N, out).
    # Block by block, so the blocks are never copied into one [z, c, h] array.
    y, i0 = 0.0, 0
    for x in xs:
        Wk = W[..., i0:i0 + x.shape[1]]
        i0 += x.shape[1]
        y = y + (x @ Wk.T if W.ndim == 2 else np.matmul(Wk, x[:, :, None])[:, :, 0])
    return y if b is None else y + b


def act(cfg: ControllerConfig, theta, z, h=None, c=None):
    """a = C(z, c, h) in [-1, 1]: z (N, Z), h, c (N, H) as cfg.inputs needs; theta (P,) or (N, P)
    -> a (N, A)."""
    blocks = {"z": z, "c": c, "h": h}
    xs = [blocks[name] for name in cfg.inputs]
    layers = unflatten(cfg, theta)
    for W, b in layers:
        xs = [np.tanh(_linear(W, b, xs))]
    return xs[0]


def env_action(cfg: ControllerConfig, a):
    """C's output a (N, A) -> the environment's action, by its spec's map (CarRacing (N, 3)
    float32 steer, gas, brake; Doom (N,) int8 -1 left, 0 stay, +1 right)."""
    return spec(cfg.env).env_action(a)


def m_action(cfg: ControllerConfig, a):
    """What M is fed as a_t (N, A) float32: env_action (cfg.feed_m = "env") or the raw tanh output."""
    if cfg.feed_m == "raw":
        return a.astype(np.float32, copy=False)
    return env_action(cfg, a).reshape(len(a), cfg.na).astype(np.float32)
