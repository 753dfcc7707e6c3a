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


PALETTE = np.array([[230, 60, 50], [60, 180, 75], [0, 130, 200], [245, 200, 40],
                    [145, 30, 180], [240, 240, 240]], np.float32) / 255


def make_frames(n_episodes, rng, T=20):
    """The chapter's toy world: a square and a disc moving on a background -> (E * T, 64, 64, 3) uint8."""
    yy, xx = np.mgrid[0:64, 0:64]
    frames = np.empty((n_episodes, T, 64, 64, 3), np.float32)
    for e in range(n_episodes):
        back, sq, disc = PALETTE[rng.choice(len(PALETTE), 3, replace=False)]
        back = 0.3 * back + 0.1
        size, radius = rng.integers(10, 20), rng.integers(6, 11)
        pos, vel = rng.uniform(12, 52, (2, 2)), rng.uniform(-3, 3, (2, 2))
        for t in range(T):
            img = np.broadcast_to(back, (64, 64, 3)).copy()
            (sy, sx), (dy, dx) = pos
            img[(np.abs(yy - sy) < size / 2) & (np.abs(xx - sx) < size / 2)] = sq
            img[(yy - dy) ** 2 + (xx - dx) ** 2 < radius ** 2] = disc
            frames[e, t] = img
            pos += vel
            vel[(pos < 8) | (pos > 56)] *= -1
            pos = np.clip(pos, 8, 56)
    return (frames.reshape(-1, 64, 64, 3) * 255 + 0.5).astype(np.uint8)


rng = np.random.default_rng(0)
frames = make_frames(20 if FAST else 500, rng).astype(np.float32) / 255   # the chapter's frames, in [0, 1]
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
total_kl = {}
for tol in (0.5, 0.0):
    p, cfg = train(tol)
    with no_grad():
        mu, logvar = vae.encode(p, Tensor(frames[:256]))
    kl = 0.5 * np.mean(mu.data ** 2 + np.exp(logvar.data) - logvar.data - 1, axis=0)     # (Z,)
    print(f"kl_tolerance {tol}: total KL {kl.sum():6.2f} nats, dimensions in use (> 0.1 nat): {(kl > 0.1).sum()}")
    total_kl[tol] = kl.sum()
    if tol == 0.5:
        p_floor = p
assert total_kl[0.0] < total_kl[0.5]                       # paid from the first nat, V keeps less

# %% [markdown]
# ## Exercise 2: decode the mean or a sample
# The mean `z = mu` gives the sharper (lower error) reconstruction once V has learned to use z: a
# sample adds noise in the latent space, which the decoder turns into blur or shifts. We average
# the sampled error over 8 draws. After the few dozen steps of fast mode the decoder barely reads
# z yet, so the two errors agree to within a few percent; the gap opens as V trains.

# %%
x = frames[:64]
with no_grad():
    mu, logvar = vae.encode(p_floor, Tensor(x))
    r_mean = np.sum((vae.decode(p_floor, mu).data - x) ** 2, axis=(1, 2, 3)).mean()
    r_sample = np.mean([np.sum((vae.decode(p_floor, Tensor(mu.data + np.exp(logvar.data / 2) * rng.standard_normal(
        mu.shape).astype(np.float32))).data - x) ** 2, axis=(1, 2, 3)).mean() for _ in range(8)])
print(f"r_loss decoding mu: {r_mean:.2f}, decoding a sample (mean of 8): {r_sample:.2f}")
assert abs(r_sample - r_mean) < 0.05 * r_mean if FAST else r_mean < r_sample

# %% [markdown]
# ## Exercise 3: interpolate between two frames
# Through the exported weights and `minwm.infer` (no autograd), 10 steps from the first frame of
# episode 0 to the first frame of episode 1 (different colours and shapes).

# %%
vae.export(p_floor, vae.VAEConfig(nz=32), OUT / "03_solution_vae.npz")
V = infer.load_vae(OUT / "03_solution_vae.npz")
ends = frames[[0, 20]]                                                          # (2, 64, 64, 3)
mu, _ = infer.encode(V, ends)
alphas = np.linspace(0, 1, 10)[:, None]
path = infer.decode(V, (1 - alphas) * mu[0] + alphas * mu[1])                     # (10, 64, 64, 3)
steps_between = np.abs(np.diff(path, axis=0)).mean(axis=(1, 2, 3))      # (9,) change per step
print(f"mean pixel change per step {steps_between.max():.4f} at most, "
      f"end to end {np.abs(path[-1] - path[0]).mean():.4f}")
assert np.allclose(path[[0, -1]], infer.decode(V, mu), atol=1e-6)   # the path joins the two codes ...
assert steps_between.max() < np.abs(path[-1] - path[0]).mean()      # ... through gradual changes
strip = np.concatenate([ends[0]] + list(path) + [ends[1]], axis=1)
Image.fromarray((strip * 255 + 0.5).astype(np.uint8)).save(OUT / "03_solution_interpolation.png")
print("interpolation ->", OUT / "03_solution_interpolation.png")
