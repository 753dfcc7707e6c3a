"""M: the MDN-RNN of the paper's appendix A.2, on the autograd core.

    x_t = [z_t, a_t]  (Doom: [z_t, a_t, restart_t]; restart_t = 1 zeroes (h, c) first)
    h_{t+1} = LSTM(x_t, h_t)                       hidden 256 CarRacing, 512 Doom
    y = h_{t+1} @ mdn.w + mdn.b                    (N, T, 3*Z*K [+ 1])
    logpi, mu, logsigma = y[.., 0:ZK], y[.., ZK:2ZK], y[.., 2ZK:3ZK], each (N, T, Z, K)
    logpi <- logpi - logsumexp_k(logpi)            a separate K-way mixture for every z dimension
    done logit = y[.., 3ZK]                        (Doom only) the next frame ends the episode

Loss (teacher forcing, targets z_{t+1}), averaged over batch, time and the Z dimensions:
    NLL = -log sum_k pi_k N(z_{t+1}; mu_k, sigma_k^2)
        = -logsumexp_k(logpi_k - (z - mu_k)^2 / (2 sigma_k^2) - logsigma_k - log(2 pi) / 2)
Doom adds the done cross-entropy with positives weighted x10 (original code), mean over (N, T).

Parameters (the exported layout): lstm.wx (D, 4H), lstm.wh (H, 4H), lstm.b (4H,) in gate order
[i, f, g, o] (see lstm.py); mdn.w (H, 3ZK [+1]), mdn.b.
"""
from dataclasses import dataclass

import numpy as np

from minwm import formats
from minwm.autograd import Tensor, concat, lstm
from minwm.parallel import backward_in_parts
from minwm.train_kernels import mdn_loss


@dataclass(frozen=True)
class MDNRNNConfig:
    nz: int = 32                  # z size (V's Nz)
    na: int = 3                   # action size: 3 CarRacing, 1 Doom
    hidden: int = 256             # LSTM units: 256 CarRacing, 512 Doom (appendix A.2)
    k: int = 5                    # Gaussian mixture components per z dimension (appendix A.2)
    restart: bool = False         # Doom: restart flag input that zeroes the LSTM state
    done: bool = False            # Doom: predict "the next frame ends the episode"
    done_pos_weight: float = 10.0  # weight 1 + 9y on the done cross-entropy (original code)

    @property
    def n_in(self):
        return self.nz + self.na + int(self.restart)

    @property
    def n_out(self):
        return 3 * self.nz * self.k + int(self.done)


def init_params(cfg: MDNRNNConfig, rng: np.random.Generator, dtype=np.float32):
    """Glorot-uniform weights, zero biases but forget-gate bias 1 (TensorFlow's LSTM default)."""
    def glorot(shape):
        lim = np.sqrt(6.0 / sum(shape))
        return rng.uniform(-lim, lim, shape).astype(dtype)
    H = cfg.hidden
    shapes = formats.mdnrnn_shapes(cfg.nz, cfg.na, H, cfg.k, cfg.restart, cfg.done)
    p = {n: glorot(s) if len(s) == 2 else np.zeros(s, dtype) for n, s in shapes.items()}
    p["lstm.b"][H:2 * H] = 1.0                                       # forget gate, order [i, f, g, o]
    return {n: Tensor(a, True) for n, a in p.items()}


def forward(p, cfg: MDNRNNConfig, z, a, restart=None, carry=None, keep=None):
    """z (N, T, Z), a (N, T, A) Tensors, restart (N, T) 0/1 array or None -> y (N, T, n_out).

    Where restart = 1 (an episode's first frame) the LSTM state is zeroed; the flag is also an
    input of M when cfg.restart (Doom, as the original code). carry: None (start from zeros), or
    a list [h, c] of arrays (N, H): the state to start from, replaced in place by the state after
    the last step (stateful training; no gradient flows into it). keep: None, or a dropout mask
    (N, Z + H) (kernels.dropout_keep), one per sequence for all its steps (Dropout's Dream Land,
    via Keras's LSTM): z_t * keep[:, :Z] at the input (never a or restart: DDL's DropoutLSTM
    masks z only) and h_{t-1} * keep[:, Z:] into the gates (see lstm.py)."""
    N = z.shape[0]
    if keep is not None:
        z = z * keep[:, None, :cfg.nz]                               # (N, T, Z) * (N, 1, Z)
    parts = [z, a]
    if cfg.restart:
        parts.append(Tensor(np.asarray(restart, z.dtype)[:, :, None]))
    x = concat(parts, axis=-1)                                       # (N, T, D)
    h0, c0 = carry if carry is not None else [np.zeros((N, cfg.hidden), z.dtype)] * 2
    hs, hT, cT = lstm(x, Tensor(h0), Tensor(c0), p["lstm.wx"], p["lstm.wh"], p["lstm.b"], restart,
                      None if keep is None else keep[:, cfg.nz:])
    if carry is not None:                                            # hs (N, T, H)
        carry[:] = [hT.data, cT.data]
    # hs is stored time-major: the head runs on it without a copy, and y comes back as an
    # (N, T, n_out) view of time-major storage (head_loss keeps that layout)
    return _head(hs.transpose(1, 0, 2), p["mdn.w"], p["mdn.b"]).transpose(1, 0, 2)


def _head(hs, w, b):
    """y = hs @ w + b over all rows as one GEMM, the bias added in place (one pass less over M's
    largest array than `hs @ w + b`). hs (T, N, H) Tensor, w (H, n_out), b (n_out,) -> (T, N, n_out)."""
    x2 = hs.data.reshape(-1, hs.shape[-1])                           # (T N, H), a view
    y = x2 @ w.data
    y += b.data
    def backward(g):                                                 # g (T, N, n_out)
        g2 = g.reshape(len(x2), -1)
        hs._accum((g2 @ w.data.T).reshape(hs.shape))
        w._accum(x2.T @ g2)
        b._accum(g2.sum(axis=0))
    return hs._make(y.reshape(*hs.shape[:-1], -1), (hs, w, b), backward)


def head_loss_forward(y, cfg: MDNRNNConfig, z_next, done=None, mask=None):
    """The whole output loss of M in one op (a fused forward/backward pair: slicing y into its
    four parts with generic ops would materialise a full-size gradient per slice).

    y (N, T, n_out), z_next (N, T, Z), done (N, T) 0/1 or None, mask (N, T) 0/1 or None (0 where
    z_next is not the next frame of the same episode) -> (z_loss, done_loss, cache)
        z_loss    = mean_{n,t,j over mask} -logsumexp_k(logpi_k - u_k^2 / 2 - logsigma_k - log(2 pi) / 2),
                    u_k = (z_j - mu_k) / sigma_k,  logpi = log_softmax_k(logits)
        done_loss = mean_{n,t} (1 + (w - 1) d) [d softplus(-x) + (1 - d) softplus(x)],  w = 10
    The gradient is computed in the same pass (train_kernels.mdn_loss) and cached for the backward.
    """
    y = np.asarray(y)
    swap = y.ndim == 3 and not y.flags.c_contiguous and y.swapaxes(0, 1).flags.c_contiguous
    if swap:                                                         # y time-major (M's forward):
        y, z_next, done, mask = (None if v is None else np.swapaxes(np.asarray(v), 0, 1)
                                 for v in (y, z_next, done, mask))   # work on (T, N, .) views
    rows = np.ascontiguousarray(y).reshape(-1, y.shape[-1])          # (R, n_out), R = N T
    wz = np.ones(y.shape[:-1], y.dtype) if mask is None else np.asarray(mask, y.dtype)
    wz = wz / (max(wz.sum(), 1) * cfg.nz)                            # weight of each nll term
    dy = np.empty_like(rows)                                         # d(z_loss + done_loss) / dy
    z_loss = mdn_loss(rows, np.ascontiguousarray(z_next, y.dtype).reshape(len(rows), cfg.nz),
                      np.ascontiguousarray(wz).reshape(-1), cfg.nz, cfg.k, dy)
    done_loss = 0.0
    if cfg.done:
        x, d = rows[:, -1], np.asarray(done, y.dtype).reshape(-1)
        w = 1 + (cfg.done_pos_weight - 1) * d
        sp = np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))         # softplus(x)
        done_loss = (w * (sp - d * x)).mean()                        # softplus(-x) = softplus(x) - x
        dy[:, -1] = w * (1 / (1 + np.exp(-x)) - d) / x.size
    dy = dy.reshape(y.shape)
    return float(z_loss), float(done_loss), dy.swapaxes(0, 1) if swap else dy


def head_loss_backward(dloss, cache, cfg: MDNRNNConfig):
    """dloss: gradient of (z_loss + done_loss) -> dy (N, T, n_out), y's layout. With r = resp,
    pi = exp(logpi), c = dloss * wz (wz the weight of each term in the mean):
        dlogits = -c (r - pi),  dmu = -c r u / sigma,  dlogsigma = -c r (u^2 - 1);
    the forward pass computed it for dloss = 1."""
    return cache if dloss == 1 else cache * cache.dtype.type(dloss)


def head_loss(y, cfg: MDNRNNConfig, z_next, done=None, mask=None):
    """Autograd wrapper: y Tensor -> (loss, z_loss, done_loss), loss a scalar Tensor."""
    z_loss, done_loss, cache = head_loss_forward(y.data, cfg, z_next, done, mask)
    total = np.asarray(z_loss + done_loss, y.dtype)
    loss = y._make(total, (y,), lambda g: y._accum(head_loss_backward(float(g), cache, cfg)))
    return loss, z_loss, done_loss


def loss(p, cfg: MDNRNNConfig, z, a, restart=None, done=None, mask=None, carry=None, keep=None):
    """Teacher forcing on one batch of sequences.

    z (N, T+1, Z) array: z already re-sampled from the stored (mu, logvar) for this batch;
    a (N, T, A), restart (N, T), done (N, T), mask (N, T) arrays: done[t] = 1 if the step from
    frame t ends the episode; mask[t] = 0 where z[t + 1] is not the same episode's next frame;
    carry and keep (dropout) as forward's. Returns (loss Tensor, z_loss float, done_loss float).
    """
    y = forward(p, cfg, Tensor(z[:, :-1]), Tensor(a), restart, carry, keep)
    return head_loss(y, cfg, z[:, 1:], done, mask)


def loss_and_grad(p, cfg: MDNRNNConfig, z, a, restart=None, done=None, mask=None, carry=None,
                  keep=None):
    """loss() and its gradient in p's .grad -> (loss, z_loss, done_loss) floats. The sequences are
    split over the cores (backward_in_parts), each part's z and done losses weighted by its share
    of the terms each mean is over (the mask's ones, the (n, t) steps). At H=256 the per-step
    h @ wh, (100, 256) x (256, 1024), is too small for BLAS to use two cores well; half of it on
    each core, with its gate math, is not. carry and keep: as forward's, for the whole batch."""
    N, T = a.shape[:2]
    n_terms = N * T if mask is None else max(float(np.sum(mask)), 1.0)

    def part(q, s):
        sub = [None if v is None else v[s] for v in (restart, done, mask)]
        c = None if carry is None else [carry[0][s], carry[1][s]]
        y = forward(q, cfg, Tensor(z[s, :-1]), Tensor(a[s]), sub[0], c, None if keep is None else keep[s])
        z_loss, done_loss, dy = head_loss_forward(y.data, cfg, z[s, 1:], sub[1], sub[2])
        wz = (s.stop - s.start) * T / n_terms if sub[2] is None else max(float(sub[2].sum()), 1) / n_terms
        wd = (s.stop - s.start) / N
        dy *= dy.dtype.type(wz)
        if cfg.done:                                                 # the done column's own weight
            dy[..., -1] *= dy.dtype.type(wd / wz)
        y.backward(dy)
        return wz * z_loss, wd * done_loss, c
    results = backward_in_parts(p, part, N)
    if carry is not None:
        carry[:] = [np.concatenate([c[i] for *_, c in results]) for i in (0, 1)]
    z_loss, done_loss = float(sum(r[0] for r in results)), float(sum(r[1] for r in results))
    return z_loss + done_loss, z_loss, done_loss


def export(p, cfg: MDNRNNConfig, path):
    """Write the flat-name .npz that the inference code (minwm.infer) loads without autograd."""
    formats.save_mdnrnn(path, {k: t.data for k, t in p.items()}, cfg.nz, cfg.na, cfg.hidden,
                        cfg.k, cfg.restart, cfg.done)


def load_exported(p, cfg: MDNRNNConfig, path, command="minwm train-rnn ENV"):
    """Copy the weights of an exported .npz (export's file) into the autograd parameters p, in place:
    continue training an M (the iterative procedure) or score it on other data."""
    meta, w = formats.read_mdnrnn(path, command)
    want = dict(nz=cfg.nz, na=cfg.na, hidden=cfg.hidden, k=cfg.k, restart=int(cfg.restart),
                done=int(cfg.done))
    if meta != want:
        raise formats.FormatError(f"{path}: an M of {meta}, this config's M is {want}; start from "
                                  f"an M of the same size, or without rnn.init")
    for k, t in p.items():
        t.data[...] = w[k]
