# %% [markdown]
# # Solutions to chapter 3: V, the ConvVAE
# `python tutorials/solutions/03_vae.py`; `MINWM_FAST=1` trains for a few dozen steps only (the
# numbers are then rough but the code path is the same). Pictures go to `tutorials/out/`
# (or `$MINWM_OUT`).

# %%
import os
from pathlib import Path

import numpy as np
from PIL import Image

from minwm import infer, vae
from minwm.autograd import Tensor, no_grad
from minwm.optim import Adam

FAST = os.environ.get("MINWM_FAST") == "1"
OUT = Path(os.environ.get("MINWM_OUT") or
           (Path(__file__).resolve().parent.parent if "__file__" in globals() else Path.cwd()) / "out")
OUT.mkdir(parents=True, exist_ok=True)


def make_frames(n, rng):
    """A disc of random colour and position on a dark background: (n, 64, 64, 3) float32 in [0, 1]."""
    yy, xx = np.mgrid[0:64, 0:64]
    frames = np.full((n, 64, 64, 3), 0.1, np.float32)
    for f in frames:
        cy, cx, r = rng.uniform(14, 50), rng.uniform(14, 50), rng.uniform(6, 12)
        f[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = rng.uniform(0.3, 1.0, 3)
    return frames


rng = np.random.default_rng(0)
frames = make_frames(256 if FAST else 4000, rng)
steps, batch = (30, 16) if FAST else (1500, 64)


def train(kl_tolerance):
    cfg = vae.VAEConfig(nz=32, kl_tolerance=kl_tolerance)
    p = vae.init_params(cfg, np.random.default_rng(1))
    opt, r = Adam(p.values(), lr=1e-3), np.random.default_rng(2)
    for _ in range(steps):
        loss = vae.loss(p, cfg, Tensor(frames[r.integers(len(frames), size=batch)]), r)[0]
        opt.zero_grad()
        loss.backward()
        opt.step()
    return p, cfg


# %% [markdown]
# ## Exercise 1: no KL floor
# Without free nats the KL is paid from the first nat, and dimensions that do not pay for
# themselves collapse to the prior (KL ~ 0). Count dimensions with more than 0.1 nats.

# %%
for tol in (0.5, 0.0):
    p, cfg = train(tol)
    with no_grad():
        mu, logvar = vae.encode(p, Tensor(frames[:256]))
    kl = 0.5 * np.mean(mu.data ** 2 + np.exp(logvar.data) - logvar.data - 1, axis=0)     # (Z,)
    print(f"kl_tolerance {tol}: total KL {kl.sum():6.2f} nats, dimensions in use (> 0.1 nat): {(kl > 0.1).sum()}")
    if tol == 0.5:
        p_floor = p

# %% [markdown]
# ## Exercise 2: decode the mean or a sample
# The mean `z = mu` gives the sharper (lower error) reconstruction: a sample adds noise in the
# latent space, which the decoder turns into blur or shifts.

# %%
x = frames[:64]
with no_grad():
    mu, logvar = vae.encode(p_floor, Tensor(x))
    z = mu.data + np.exp(logvar.data / 2) * rng.standard_normal(mu.shape).astype(np.float32)
    r_mean = np.sum((vae.decode(p_floor, mu).data - x) ** 2, axis=(1, 2, 3)).mean()
    r_sample = np.sum((vae.decode(p_floor, Tensor(z)).data - x) ** 2, axis=(1, 2, 3)).mean()
print(f"r_loss decoding mu: {r_mean:.2f}, decoding a sample: {r_sample:.2f}")

# %% [markdown]
# ## Exercise 3: interpolate between two frames
# Through the exported weights and `minwm.infer` (no autograd), 10 steps from frame 0 to frame 1.

# %%
vae.export(p_floor, vae.VAEConfig(nz=32), OUT / "03_solution_vae.npz")
V = infer.load_vae(OUT / "03_solution_vae.npz")
mu, _ = infer.encode(V, frames[:2])
alphas = np.linspace(0, 1, 10)[:, None]
path = infer.decode(V, (1 - alphas) * mu[0] + alphas * mu[1])                     # (10, 64, 64, 3)
strip = np.concatenate([frames[0]] + list(path) + [frames[1]], axis=1)
Image.fromarray((strip * 255 + 0.5).astype(np.uint8)).save(OUT / "03_solution_interpolation.png")
print("interpolation ->", OUT / "03_solution_interpolation.png")
