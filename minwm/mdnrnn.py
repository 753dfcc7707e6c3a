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

from minwm.autograd import Tensor, bce_with_logits, concat, lstm

LOG_SQRT_2PI = 0.5 * np.log(2 * np.pi)


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
    H, D = cfg.hidden, cfg.n_in
    def glorot(shape):
        lim = np.sqrt(6.0 / sum(shape))
        return Tensor(rng.uniform(-lim, lim, shape).astype(dtype), True)
    b = np.zeros(4 * H, dtype)
    b[H:2 * H] = 1.0                                                 # forget gate, order [i, f, g, o]
    return {"lstm.wx": glorot((D, 4 * H)), "lstm.wh": glorot((H, 4 * H)),
            "lstm.b": Tensor(b, True),
            "mdn.w": glorot((H, cfg.n_out)), "mdn.b": Tensor(np.zeros(cfg.n_out, dtype), True)}


def forward(p, cfg: MDNRNNConfig, z, a, restart=None):
    """z (N, T, Z), a (N, T, A) Tensors, restart (N, T) 0/1 array (Doom) -> y (N, T, n_out)."""
    N, T = z.shape[:2]
    parts = [z, a]
    if cfg.restart:
        parts.append(Tensor(np.asarray(restart, z.dtype)[:, :, None]))
    x = concat(parts, axis=-1)                                       # (N, T, D)
    zeros = Tensor(np.zeros((N, cfg.hidden), z.dtype))
    hs, _, _ = lstm(x, zeros, zeros, p["lstm.wx"], p["lstm.wh"], p["lstm.b"],
                    restart if cfg.restart else None)                # (N, T, H)
    return hs @ p["mdn.w"] + p["mdn.b"]                              # (N, T, n_out)


def mixture_nll(y, cfg: MDNRNNConfig, z_next):
    """y (N, T, n_out), z_next (N, T, Z) -> NLL per (n, t, dimension), shape (N, T, Z)."""
    N, T = y.shape[:2]
    ZK = cfg.nz * cfg.k
    logits = y[:, :, 0:ZK].reshape(N, T, cfg.nz, cfg.k)              # (N, T, Z, K)
    mu = y[:, :, ZK:2 * ZK].reshape(N, T, cfg.nz, cfg.k)
    logsigma = y[:, :, 2 * ZK:3 * ZK].reshape(N, T, cfg.nz, cfg.k)
    logpi = logits - logits.logsumexp(axis=-1, keepdims=True)
    zt = Tensor(z_next.data.reshape(N, T, cfg.nz, 1))
    sq = ((zt - mu) * (-logsigma).exp()) ** 2                        # ((z - mu) / sigma)^2
    return -(logpi - sq * 0.5 - logsigma - LOG_SQRT_2PI).logsumexp(axis=-1)


def loss(p, cfg: MDNRNNConfig, z, a, restart=None, done=None):
    """Teacher forcing on one batch of sequences.

    z (N, T+1, Z) array: z already re-sampled from the stored (mu, logvar) for this batch;
    a (N, T, A), restart (N, T), done (N, T) arrays (done[t] = 1 if frame t+1 ends the episode).
    Returns (loss, z_loss, done_loss) scalar Tensors (done_loss 0 without the done head).
    """
    y = forward(p, cfg, Tensor(z[:, :-1]), Tensor(a), restart)
    z_loss = mixture_nll(y, cfg, Tensor(z[:, 1:])).mean()
    if not cfg.done:
        return z_loss, z_loss, Tensor(np.zeros((), z.dtype))
    done_loss = bce_with_logits(y[:, :, -1], np.asarray(done, z.dtype), cfg.done_pos_weight).mean()
    return z_loss + done_loss, z_loss, done_loss


def export(p, cfg: MDNRNNConfig, path):
    """Write the flat-name .npz that the inference code (minwm.infer) loads without autograd."""
    meta = {"meta.nz": cfg.nz, "meta.na": cfg.na, "meta.hidden": cfg.hidden, "meta.k": cfg.k,
            "meta.restart": int(cfg.restart), "meta.done": int(cfg.done)}
    np.savez(path, **{k: t.data.astype(np.float32) for k, t in p.items()}, **meta)
