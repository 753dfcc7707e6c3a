"""V: the convolutional VAE of the paper's appendix A.1, on the autograd core.

    x (N, 64, 64, 3) in [0, 1]
    encoder: conv 32, 64, 128, 256 (4x4, stride 2, ReLU)   -> (N, 2, 2, 256) -> flatten (N, 1024)
             dense -> mu (N, Z), dense -> logvar (N, Z)
    z = mu + exp(logvar / 2) * eps,  eps ~ N(0, I)
    decoder: dense (N, 1024) -> (N, 1, 1, 1024)
             deconv 128 (5x5), 64 (5x5), 32 (6x6) ReLU, 3 (6x6) sigmoid; all stride 2
             1 -> 5 -> 13 -> 30 -> 64, so the output is exactly (N, 64, 64, 3)

Parameters are a flat dict {name: Tensor} whose names and shapes are the exported layout:
    enc.conv{1..4}.w (k, k, Cin, Cout), .b (Cout,)   enc.mu.w / enc.logvar.w (1024, Z), .b (Z,)
    dec.dense.w (Z, 1024), .b (1024,)                dec.deconv{1..4}.w (Cin, k, k, Cout), .b (Cout,)
No layer objects: encode/decode read top to bottom like the table above.
"""
from dataclasses import dataclass

import numpy as np

from minwm import formats
from minwm.autograd import Tensor, conv2d, conv_transpose2d, gaussian_kl, squared_error
from minwm.formats import DECODER, ENCODER  # (Cin, Cout, k) of each layer: the saved layout's
from minwm.parallel import backward_in_parts


@dataclass(frozen=True)
class VAEConfig:
    nz: int = 32               # latent size: 32 CarRacing, 64 Doom (appendix A.1)
    kl_tolerance: float = 0.5  # KL floored at kl_tolerance * nz "free nats" (original code)


def init_params(cfg: VAEConfig, rng: np.random.Generator, dtype=np.float32):
    """Glorot-uniform weights, zero biases (TensorFlow's defaults, as the original code)."""
    def glorot(shape, fan_in, fan_out):
        lim = np.sqrt(6.0 / (fan_in + fan_out))
        return Tensor(rng.uniform(-lim, lim, shape).astype(dtype), True)

    def zeros(n):
        return Tensor(np.zeros(n, dtype), True)

    p = {}
    for i, (cin, cout, k) in enumerate(ENCODER, 1):
        p[f"enc.conv{i}.w"] = glorot((k, k, cin, cout), k * k * cin, k * k * cout)
        p[f"enc.conv{i}.b"] = zeros(cout)
    for name in ("mu", "logvar"):
        p[f"enc.{name}.w"] = glorot((1024, cfg.nz), 1024, cfg.nz)
        p[f"enc.{name}.b"] = zeros(cfg.nz)
    p["dec.dense.w"] = glorot((cfg.nz, 1024), cfg.nz, 1024)
    p["dec.dense.b"] = zeros(1024)
    for i, (cin, cout, k) in enumerate(DECODER, 1):
        p[f"dec.deconv{i}.w"] = glorot((cin, k, k, cout), k * k * cin, k * k * cout)
        p[f"dec.deconv{i}.b"] = zeros(cout)
    return p


def encode(p, x):
    """x (N, 64, 64, 3) Tensor in [0, 1] -> mu (N, Z), logvar (N, Z)."""
    h = x
    for i in range(1, 5):
        h = conv2d(h, p[f"enc.conv{i}.w"], p[f"enc.conv{i}.b"], 2, relu=True)
    h = h.reshape(h.shape[0], 1024)                                  # (N, 2*2*256) in (h, w, c) order
    return h @ p["enc.mu.w"] + p["enc.mu.b"], h @ p["enc.logvar.w"] + p["enc.logvar.b"]


def decode(p, z):
    """z (N, Z) -> x_hat (N, 64, 64, 3) in (0, 1)."""
    h = (z @ p["dec.dense.w"] + p["dec.dense.b"]).reshape(z.shape[0], 1, 1, 1024)
    for i in range(1, 5):
        h = conv_transpose2d(h, p[f"dec.deconv{i}.w"], p[f"dec.deconv{i}.b"], 2, relu=i < 4)
    return h.sigmoid()


def loss(p, cfg: VAEConfig, x, rng: np.random.Generator, eps=None):
    """x (N, 64, 64, 3) Tensor in [0, 1] -> (loss, r_loss, kl_loss), each a scalar Tensor.

    r_loss = mean_n sum_pixels (x - x_hat)^2
    kl_loss = mean_n max(KL(N(mu, sigma^2) || N(0, I)), kl_tolerance * nz)
    eps (N, Z): the reparameterisation's noise, drawn from rng if None.
    """
    mu, logvar = encode(p, x)
    eps = rng.standard_normal(mu.shape).astype(mu.dtype) if eps is None else eps
    z = mu + (logvar * 0.5).exp() * eps                              # (N, Z) reparameterised
    x_hat = decode(p, z)
    r_loss = squared_error(x_hat, x, axis=(1, 2, 3)).mean()
    kl_loss = gaussian_kl(mu, logvar).clamp_min(cfg.kl_tolerance * cfg.nz).mean()
    return r_loss + kl_loss, r_loss, kl_loss


def loss_and_grad(p, cfg: VAEConfig, x, rng: np.random.Generator):
    """loss() of the batch x (N, 64, 64, 3) array in [0, 1], and its gradient in p's .grad ->
    (loss, r_loss, kl_loss) floats. The batch is split over the cores (backward_in_parts), each
    part's loss weighted by its share of the batch (the loss is a batch mean). eps is drawn for
    the whole batch first, as loss() draws it."""
    N = len(x)
    eps = rng.standard_normal((N, cfg.nz)).astype(x.dtype)           # (N, Z)

    def part(q, s):
        losses = loss(q, cfg, Tensor(x[s]), rng, eps[s])
        w = (s.stop - s.start) / N
        losses[0].backward(np.asarray(w, x.dtype))
        return [w * float(v.data) for v in losses]
    return tuple(np.sum(backward_in_parts(p, part, N), axis=0).tolist())


def export(p, cfg: VAEConfig, path):
    """Write the flat-name .npz that the inference code (minwm.infer) loads without autograd."""
    formats.save_vae(path, {k: t.data for k, t in p.items()}, cfg.nz)
