"""Inference from exported weights: V's encoder and decoder, M's step, and the real-env agent step.

NumPy and Numba only: this never imports the autograd core (minwm.autograd). The weights' layout
(names, shapes, meta) is documented and checked in minwm.formats; here they are wrapped for use.

    gates = x @ wx + h @ wh + b;  i, f, o = sigmoid, g = tanh;  c' = f c + i g;  h' = o tanh(c')
        x = [z (Z), a (A), restart (1, Doom only)];  where restart = 1, (h, c) is zeroed first
    y = h' @ mdn.w + mdn.b: logits -> logpi = logits - logsumexp_K(logits), mu, logsigma (N, Z, K),
        one K-way mixture for every z dimension (diagonal), and the done logit (Doom); at
        temperature tau the logits are divided by tau and sigma multiplied by sqrt(tau)
"""
from dataclasses import dataclass

import numpy as np

from minwm import controller as C
from minwm import formats, parallel
from minwm.kernels import lstm_step, mdn_head
from minwm.ops import conv2d_forward, conv_transpose2d_forward, im2col


@dataclass(frozen=True, eq=False)
class VAE:
    nz: int
    params: dict                  # name -> float32 array, formats' layout


def vae_from_arrays(arrays, source="vae weights"):
    """Check a {name: array} dict against the layout and wrap it."""
    return VAE(*formats.read_vae(source, arrays=arrays))


def load_vae(path, command="minwm train-vae ENV"):
    """vae.npz -> VAE; one clear error (formats.FormatError) if the file is not a complete V."""
    return VAE(*formats.read_vae(path, command))


@dataclass(frozen=True, eq=False)
class MDNRNN:
    nz: int
    na: int
    hidden: int
    k: int
    restart: bool
    done: bool
    wx: np.ndarray                # (D, 4H)
    wh: np.ndarray                # (H, 4H)
    b: np.ndarray                 # (4H,)
    w_mdn: np.ndarray             # (H, 3ZK + done)
    b_mdn: np.ndarray             # (3ZK + done,)
    w: np.ndarray                 # (D + H, 4H) = [wx; wh]: one matmul per step on [x, h]

    @property
    def d_in(self):               # D = Z + A + restart
        return self.nz + self.na + int(self.restart)


def _mdnrnn(meta, p):
    w = np.ascontiguousarray(np.concatenate([p["lstm.wx"], p["lstm.wh"]]))
    return MDNRNN(meta["nz"], meta["na"], meta["hidden"], meta["k"], bool(meta["restart"]),
                  bool(meta["done"]), p["lstm.wx"], p["lstm.wh"], p["lstm.b"], p["mdn.w"], p["mdn.b"], w)


def mdnrnn_from_arrays(arrays, source="mdnrnn weights"):
    """Check a {name: array} dict against the layout and wrap it."""
    return _mdnrnn(*formats.read_mdnrnn(source, arrays=arrays))


def load_mdnrnn(path, command="minwm train-rnn ENV"):
    """mdnrnn.npz -> MDNRNN; one clear error (formats.FormatError) if the file is not a complete M."""
    return _mdnrnn(*formats.read_mdnrnn(path, command))


def _random(shapes, rng, scale):
    # N(0, scale^2 / fan_in) weights, N(0, (scale / 10)^2) biases
    return {n: (rng.standard_normal(s) * scale / (np.sqrt(np.prod(s[:-1])) if len(s) > 1 else 10.0)).astype(np.float32)
            for n, s in shapes.items()}


def random_vae_arrays(nz, rng: np.random.Generator, scale=1.0):
    """Random V weights in the exported layout, meta included (tests, benchmarks; np.savez them)."""
    return {**_random(formats.vae_shapes(nz), rng, scale), "meta.nz": np.array(nz)}


def random_mdnrnn_arrays(nz, na, hidden, rng: np.random.Generator, k=5, restart=False, done=False, scale=1.0):
    """Random M weights in the exported layout, meta included (tests, benchmarks; np.savez them)."""
    meta = dict(nz=nz, na=na, hidden=hidden, k=k, restart=int(restart), done=int(done))
    return {**_random(formats.mdnrnn_shapes(nz, na, hidden, k, restart, done), rng, scale),
            **{f"meta.{n}": np.array(v) for n, v in meta.items()}}


# ------------------------------------------------------------------------------------------ V
def _conv_relu_per_frame(x, w, b, s):
    # conv2d_forward's max(im2col(x) @ w + b, 0), one matmul per frame: np.matmul over the stack
    # makes each frame's product the BLAS call it is at batch 1
    N, k, F = len(x), w.shape[0], w.shape[3]
    Ho = (x.shape[1] - k) // s + 1
    cols = im2col(x, k, s)                                       # (N*H'*W', k*k*C)
    out = np.matmul(cols.reshape(N, Ho * Ho, -1), w.reshape(-1, F))   # (N, H'*W', F)
    out += b
    np.maximum(out, 0.0, out=out)
    return out.reshape(N, Ho, Ho, F)


def encode(vae: VAE, frames, per_frame=False):
    """frames (N, 64, 64, 3) uint8 (or float in [0, 1]) -> mu, logvar (N, Z). A batch of 16 frames
    or more is split over the cores (minwm.parallel), one part per thread.

    per_frame=True: each frame's matmuls are BLAS calls of their own (one np.matmul over the
    stack), so its (mu, logvar) are the same bits at any N. OpenBLAS's result for a row depends on
    the batch's size and the row's place in it (measured: every conv layer and the dense), and the
    batched agent needs an episode's result not to depend on its neighbours (minwm.agent). Costs
    ~0.08 ms a frame against one matmul over the batch (conv4, 2 MB of weights read per frame).
    """
    parts = parallel.slices(len(frames), max(1, min(parallel.parts(), len(frames) // 8)))
    if per_frame or len(parts) == 1:
        return _encode(vae, frames, per_frame)
    mu, logvar = zip(*parallel.run(lambda s: _encode(vae, frames[s]), parts))
    return np.concatenate(mu), np.concatenate(logvar)


def _encode(vae: VAE, frames, per_frame=False):
    x = frames.astype(np.float32) / 255.0 if frames.dtype == np.uint8 else frames.astype(np.float32, copy=False)
    p = vae.params
    for i in range(1, 5):
        w, b = p[f"enc.conv{i}.w"], p[f"enc.conv{i}.b"]
        x = _conv_relu_per_frame(x, w, b, 2) if per_frame else conv2d_forward(x, w, b, 2, relu=True)[0]
    if per_frame:
        x = x.reshape(len(x), 1, 1024)                           # (N, 1, 1024)
        return tuple((np.matmul(x, p[f"enc.{n}.w"]) + p[f"enc.{n}.b"])[:, 0] for n in ("mu", "logvar"))
    x = x.reshape(len(x), 1024)                                  # (N, 1024), (h, w, c) order
    return x @ p["enc.mu.w"] + p["enc.mu.b"], x @ p["enc.logvar.w"] + p["enc.logvar.b"]


def decode(vae: VAE, z):
    """z (N, Z) -> frames (N, 64, 64, 3) float32 in [0, 1]."""
    p = vae.params
    x = (z.astype(np.float32) @ p["dec.dense.w"] + p["dec.dense.b"]).reshape(len(z), 1, 1, 1024)
    for i in range(1, 5):
        x = conv_transpose2d_forward(x, p[f"dec.deconv{i}.w"], p[f"dec.deconv{i}.b"], 2, relu=i < 4)[0]
    return 1.0 / (1.0 + np.exp(-x))                                                     # (N, 64, 64, 3)


def sample_z(mu, logvar, eps):
    """z = mu + exp(logvar / 2) * eps: the posterior sample that C and M see."""
    return mu + np.exp(0.5 * logvar) * eps


# ------------------------------------------------------------------------------------------ M
def initial_state(m: MDNRNN, n):
    """(h, c), each (N, H) zeros."""
    return np.zeros((n, m.hidden), np.float32), np.zeros((n, m.hidden), np.float32)


def lstm_update(m: MDNRNN, z, a, h, c, restart=None, per_row=False):
    """M's recurrent step only (the real-env agent needs no head): z (N, Z), a (N, A) as fed to M,
    h, c (N, H), restart (N,) bool (used only if M has the input) -> h', c' (N, H).
    per_row=True: each row's matmul a BLAS call of its own, as encode's per_frame."""
    N = len(z)
    r = np.zeros((N, int(m.restart)), np.float32) if restart is None else \
        np.asarray(restart, np.float32).reshape(N, 1)[:, :int(m.restart)]
    xh = np.concatenate([z, a, r, h], axis=1).astype(np.float32)    # (N, D + H)
    c = np.array(c, np.float32)
    lstm_step(xh, c, None if restart is None else np.asarray(restart, bool), m.w, m.b,
              np.empty((N, 4 * m.hidden), np.float32), per_row=per_row)
    return xh[:, m.d_in:], c


def m_step(m: MDNRNN, z, a, h, c, restart=None, tau=1.0):
    """One full M step: -> h', c' (N, H), logpi, mu, logsigma (N, Z, K) at temperature tau, and
    the done logit (N,) (None without the done output)."""
    h, c = lstm_update(m, z, a, h, c, restart)
    return (h, c) + mdn_head(h @ m.w_mdn + m.b_mdn, m.nz, m.k, tau)


# ------------------------------------------------------------------------------- the agent
def agent_step(vae: VAE, m: MDNRNN, ccfg: C.ControllerConfig, theta, frames, h, c, restart, rng, edit=None):
    """The agent in the real environment, one step (the paper's rollout loop, section 2):

        z = mu + exp(logvar / 2) eps,  (mu, logvar) = V(frame)      C sees a sample, not the mean
        a = C(z, h, c)                                              (h, c) zeroed where restart
        h, c = M's LSTM([z, a, restart], h, c)

    frames (N, 64, 64, 3) uint8; theta (P,) or (N, P); h, c (N, H); restart (N,) bool (first frame
    of an episode); rng: an np.random.Generator, or N of them, one per row (each episode's own).
    Returns the env action (controller.env_action) and the new (h, c). Every row is computed with
    the BLAS calls of batch 1 (encode's per_frame; C per row), so it does not depend on the others.
    edit: None, or a -> the output carried out instead of C's a (N, A), e.g. exploration (section 5);
    M is fed what is carried out.
    """
    restart = np.asarray(restart, bool)
    h, c = np.where(restart[:, None], 0.0, h), np.where(restart[:, None], 0.0, c)
    mu, logvar = encode(vae, frames, per_frame=True)
    eps = rng.standard_normal(mu.shape, dtype=np.float32) if isinstance(rng, np.random.Generator) else \
        np.concatenate([r.standard_normal((1, vae.nz), dtype=np.float32) for r in rng])   # (N, Z)
    z = sample_z(mu, logvar, eps)
    a = C.act(ccfg, np.broadcast_to(theta, (len(z), theta.shape[-1])), z, h, c)    # theta (N, P)
    if edit is not None:
        a = edit(a)
    h, c = lstm_update(m, z, C.m_action(ccfg, a), h, c, restart, per_row=True)
    return C.env_action(ccfg, a), h, c
