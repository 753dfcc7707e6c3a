# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Chapter 3: V, the ConvVAE
#
# **What this builds.** V, the vision model of World Models (section 2.1, appendix A.1): a
# convolutional variational autoencoder that compresses each 64x64x3 frame into a small latent
# vector z (Nz = 32 for CarRacing, 64 for Doom). It builds on chapter 1 (autograd, Adam) and
# chapter 2 (the conv and transposed conv, the layer shapes).
#
# **Plan.** (1) V's forward pass written out in NumPy with the conv ops, shapes layer by layer;
# (2) the loss written out: squared error summed over pixels plus the KL, floored at
# `kl_tolerance * Nz` "free nats"; (3) both equal to `minwm.vae`, and a float64 gradient check of
# the whole model; (4) a short training run on frames of coloured moving shapes; (5) export to the
# inference layout and pictures of reconstructions and latent traversals.
#
# **Running.** `python tutorials/03_vae.py` trains for ~6 minutes on two cores; `MINWM_FAST=1` runs in
# seconds (a few dozen steps: the pictures then show blurry blobs, not shapes). Pictures and the
# exported `vae.npz` go to `tutorials/out/` (or `$MINWM_OUT`).
# Legend: N batch, H/W height/width, C channels, Z latent.

# %%
import os
import time
from pathlib import Path

import numpy as np
from PIL import Image

FAST = os.environ.get("MINWM_FAST") == "1"
OUT = Path(os.environ.get("MINWM_OUT") or
           (Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()) / "out")
OUT.mkdir(parents=True, exist_ok=True)
try:                                   # matplotlib is optional: without it the loss plot is skipped
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    plt = None
rng = np.random.default_rng(0)

# %% [markdown]
# ## 0. Frames
# The paper trains V on 10,000 rollouts of a random policy. Here the frames come from a toy world
# drawn with NumPy: a coloured background, a square and a disc of random colours moving in
# straight lines and bouncing off the walls, 20 frames per episode. Like a game screen, each frame
# is described by a handful of numbers (colours and positions), which is what V should discover.

# %%
PALETTE = np.array([[230, 60, 50], [60, 180, 75], [0, 130, 200], [245, 200, 40],
                    [145, 30, 180], [240, 240, 240]], np.float32) / 255


def make_frames(n_episodes, rng, T=20):
    """-> frames (n_episodes * T, 64, 64, 3) uint8: a square and a disc moving on a background."""
    yy, xx = np.mgrid[0:64, 0:64]
    frames = np.empty((n_episodes, T, 64, 64, 3), np.float32)
    for e in range(n_episodes):
        back, sq, disc = PALETTE[rng.choice(len(PALETTE), 3, replace=False)]
        back = 0.3 * back + 0.1                                        # dim background
        size, radius = rng.integers(10, 20), rng.integers(6, 11)
        pos = rng.uniform(12, 52, (2, 2))                               # (shape, yx)
        vel = rng.uniform(-3, 3, (2, 2))
        for t in range(T):
            img = np.broadcast_to(back, (64, 64, 3)).copy()
            (sy, sx), (dy, dx) = pos
            img[(np.abs(yy - sy) < size / 2) & (np.abs(xx - sx) < size / 2)] = sq
            img[(yy - dy) ** 2 + (xx - dx) ** 2 < radius ** 2] = disc
            frames[e, t] = img
            pos += vel
            vel[(pos < 8) | (pos > 56)] *= -1                           # bounce
            pos = np.clip(pos, 8, 56)
    return (frames.reshape(-1, 64, 64, 3) * 255 + 0.5).astype(np.uint8)


frames = make_frames(20 if FAST else 500, rng)                      # (E * 20, 64, 64, 3) uint8
test_frames = make_frames(2, np.random.default_rng(1))
print("frames", frames.shape, frames.dtype)

# %% [markdown]
# ## 1. The forward pass, written out
# The table of appendix A.1, with the conv ops of chapter 2 (`minwm.ops`, plain NumPy):
#
# - encoder: $x$ (N, 64, 64, 3) $\to$ conv 32, 64, 128, 256 (4x4, stride 2, ReLU) $\to$
#   (N, 2, 2, 256) $\to$ $h$ (N, 1024); $\mu = h W_\mu + b_\mu$,
#   $\log\sigma^2 = h W_{\log\sigma^2} + b_{\log\sigma^2}$, (N, Z) each;
# - sample: $z = \mu + e^{\log\sigma^2 / 2} \odot \epsilon$, $\epsilon \sim \mathcal N(0, I)$;
# - decoder: $z \to$ dense (N, 1024) $\to$ (N, 1, 1, 1024) $\to$ deconv 128 (5x5), 64 (5x5),
#   32 (6x6) ReLU, 3 (6x6) sigmoid $\to \hat x$ (N, 64, 64, 3).
#
# The sample $z = \mu + \sigma \epsilon$ moves the randomness into an input $\epsilon$, so the
# gradient flows through $\mu$ and $\log\sigma^2$ (the "reparameterisation trick"); in code
# `logvar` is $\log\sigma^2$.

# %%
from minwm import ops, vae

cfg = vae.VAEConfig(nz=32)                                   # CarRacing's Nz; Doom uses 64
p64 = vae.init_params(cfg, np.random.default_rng(2), dtype=np.float64)   # {name: Tensor}, float64 for the checks
W = {k: t.data for k, t in p64.items()}                      # the same numbers as plain arrays


def encode_np(W, x, verbose=False):
    """x (N, 64, 64, 3) in [0, 1] -> mu, logvar (N, Z)."""
    h = x
    for i in range(1, 5):
        h = np.maximum(ops.conv2d_forward(h, W[f"enc.conv{i}.w"], W[f"enc.conv{i}.b"], 2)[0], 0)
        verbose and print(f"  enc.conv{i}  -> {h.shape}")
    h = h.reshape(len(h), 1024)                                                 # (N, 1024)
    return h @ W["enc.mu.w"] + W["enc.mu.b"], h @ W["enc.logvar.w"] + W["enc.logvar.b"]


def decode_np(W, z, verbose=False):
    """z (N, Z) -> x_hat (N, 64, 64, 3) in (0, 1)."""
    h = (z @ W["dec.dense.w"] + W["dec.dense.b"]).reshape(len(z), 1, 1, 1024)  # (N, 1, 1, 1024)
    verbose and print(f"  dec.dense  -> {h.shape}")
    for i in range(1, 5):
        h = ops.conv_transpose2d_forward(h, W[f"dec.deconv{i}.w"], W[f"dec.deconv{i}.b"], 2)[0]
        h = np.maximum(h, 0) if i < 4 else 1 / (1 + np.exp(-h))
        verbose and print(f"  dec.deconv{i} -> {h.shape}")
    return h


x = frames[:4].astype(np.float64) / 255                                        # (4, 64, 64, 3)
print("shapes layer by layer:")
mu, logvar = encode_np(W, x, verbose=True)
print(f"  mu, logvar -> {mu.shape}, {logvar.shape}")
x_hat = decode_np(W, mu, verbose=True)
n_params = {part: sum(w.size for k, w in W.items() if k.startswith(part)) for part in ("enc", "dec")}
print(f"parameters: encoder {n_params['enc']:,}, decoder {n_params['dec']:,}, "
      f"total {sum(n_params.values()):,}")

# %% [markdown]
# ## 2. The loss, written out
# Per frame, as the original code computes it (`minwm.vae.loss` follows it): the squared error
# *summed* over the 64 x 64 x 3 pixel values, not averaged, plus the KL to the prior, floored at
# `kl_tolerance * Nz` with `kl_tolerance = 0.5`:
#
# $$r = \sum_{\text{pixels, channels}} (x - \hat x)^2, \qquad
# \mathrm{KL} = -\tfrac12 \sum_{j=1}^{N_z} \big(1 + \log\sigma_j^2 - \mu_j^2 - \sigma_j^2\big)
# = \mathrm{KL}\big(\mathcal N(\mu, \sigma^2) \,\|\, \mathcal N(0, I)\big),$$
#
# $$\mathrm{loss} = \operatorname{mean}_\mathrm{batch}\big(r + \max(\mathrm{KL},\ 0.5\, N_z)\big)
# \qquad (\max(\mathrm{KL}, 16) \text{ for } N_z = 32).$$
#
# The floor ("free bits") means: below 16 nats the KL costs nothing and has no gradient, so V may
# use that much information per frame for free, and only pays for more. Without it the KL term
# tends to switch latent dimensions off early, before the reconstruction has learned to use them.

# %%
def vae_loss_np(W, x, eps, kl_tolerance=0.5):
    mu, logvar = encode_np(W, x)
    z = mu + np.exp(logvar / 2) * eps                                          # (N, Z)
    x_hat = decode_np(W, z)
    r_loss = np.sum((x - x_hat) ** 2, axis=(1, 2, 3)).mean()
    kl = -0.5 * np.sum(1 + logvar - mu ** 2 - np.exp(logvar), axis=1)          # (N,)
    kl_loss = np.maximum(kl, kl_tolerance * mu.shape[1]).mean()
    return r_loss + kl_loss, r_loss, kl_loss


from minwm.autograd import Tensor, no_grad

eps = np.random.default_rng(3).standard_normal((4, cfg.nz))     # vae.loss draws eps the same way
ours = vae_loss_np(W, x, eps)
lib = vae.loss(p64, cfg, Tensor(x), np.random.default_rng(3))
diff = max(abs(a - float(b.data)) for a, b in zip(ours, lib))
print(f"loss {ours[0]:.6f} (r {ours[1]:.4f} + kl {ours[2]:.4f}); ours vs minwm.vae.loss: "
      f"max difference {diff:.1e}")
assert diff < 1e-9

# %% [markdown]
# ### A gradient check of all of V
# One random direction $u$ over all 4.4M parameters at once: $\langle \nabla L, u\rangle$ against
# $\frac{L(p + e u) - L(p - e u)}{2e}$, in float64, with the same `eps` on both sides. The step is
# tiny (e = 1e-8) on purpose: at full size, thousands of ReLU inputs sit near 0, and a larger step
# pushes some across their kink, where the difference quotient no longer measures the gradient
# (e = 1e-6 gives "errors" of ~1e-4 that shrink with e: kinks, not bugs).

# %%
lib[0].backward()
us = {k: np.random.default_rng(4).standard_normal(w.shape) for k, w in W.items()}
analytic = sum(float(np.vdot(p64[k].grad, us[k])) for k in W)
e = 1e-8
numeric = (vae_loss_np({k: W[k] + e * us[k] for k in W}, x, eps)[0] -
           vae_loss_np({k: W[k] - e * us[k] for k in W}, x, eps)[0]) / (2 * e)
rel = abs(analytic - numeric) / (abs(analytic) + abs(numeric))
print(f"directional derivative: autograd {analytic:.8f}, finite difference {numeric:.8f}, relative {rel:.1e}")
assert rel < 1e-5

# %% [markdown]
# And the floor: with the KL below `kl_tolerance * Nz` the KL term sends no gradient at all.

# %%
from minwm.autograd import gaussian_kl, tensor

m, lv = tensor(np.full((1, 32), 0.1), True, np.float64), tensor(np.zeros((1, 32)), True, np.float64)
kl = gaussian_kl(m, lv)                                      # 0.5 * 32 * 0.01 = 0.16 nats < 16
kl.clamp_min(cfg.kl_tolerance * cfg.nz).sum().backward()
print(f"KL = {float(kl.data[0]):.2f} nats < floor {cfg.kl_tolerance * cfg.nz}: "
      f"|grad mu| = {np.abs(m.grad).max()}")
assert np.all(m.grad == 0) and np.all(lv.grad == 0)

# %% [markdown]
# ## 3. Training
# Adam on random mini-batches of frames, as the original code (batch 100, lr 1e-4, 1 epoch in the
# paper). Our toy world is simpler and we train for fewer steps, so we use a larger learning rate.
# Training runs in float32.

# %%
from minwm.optim import Adam

p = vae.init_params(cfg, np.random.default_rng(5))           # float32 for training
opt = Adam(p.values(), lr=1e-3)
steps, batch = (40, 32) if FAST else (1500, 64)
history = []
t0 = time.perf_counter()
for step in range(1, steps + 1):
    idx = rng.integers(len(frames), size=batch)
    x = Tensor(frames[idx].astype(np.float32) / 255)                           # (N, 64, 64, 3)
    loss, r_loss, kl_loss = vae.loss(p, cfg, x, rng)
    opt.zero_grad()
    loss.backward()
    opt.step()
    history.append((float(r_loss.data), float(kl_loss.data)))
    if step % (steps // 10) == 0 or step == 1:
        print(f"step {step:5d}: loss {float(loss.data):8.2f}  r {float(r_loss.data):8.2f}  "
              f"kl {float(kl_loss.data):6.2f}  {(time.perf_counter() - t0) / step * 1e3:.0f} ms/step")
assert history[-1][0] < history[0][0]                        # reconstruction improved
if plt is not None:
    fig, ax = plt.subplots(figsize=(5, 3.5))
    hist = np.array(history)
    ax.plot(hist[:, 0], label="r_loss (sum of squared error)")
    ax.plot(hist[:, 1], label="kl_loss (floored at 16)")
    ax.set(yscale="log", xlabel="step", ylabel="loss per frame (batch mean)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(OUT / "03_vae_loss.png", dpi=100)
    plt.close(fig)

# %% [markdown]
# ## 4. Export, reload for inference, and look
# `vae.export` writes the flat `{name: array}` `.npz` that the inference side (`minwm.infer`,
# NumPy only, no autograd) loads; the world model never needs the training code again. The two
# decoders must agree.

# %%
from minwm import infer

vae.export(p, cfg, OUT / "vae.npz")
V = infer.load_vae(OUT / "vae.npz")
mu, logvar = infer.encode(V, test_frames)                                     # uint8 in
recon = infer.decode(V, mu)                                                    # (N, 64, 64, 3) in [0, 1]
with no_grad():
    recon_ag = vae.decode(p, Tensor(mu)).data
print(f"infer.decode vs the autograd decode: max difference {np.max(np.abs(recon - recon_ag)):.1e}")
assert np.allclose(recon, recon_ag, atol=1e-5)


def grid(rows):
    """rows: list of (M, 64, 64, 3) arrays in [0, 1] or uint8 -> one image, a 2-pixel gap."""
    rows = [r.astype(np.float32) / 255 if r.dtype == np.uint8 else r for r in rows]
    M = max(len(r) for r in rows)
    canvas = np.ones((len(rows) * 66, M * 66, 3), np.float32)
    for i, r in enumerate(rows):
        for j, img in enumerate(r):
            canvas[i * 66:i * 66 + 64, j * 66:j * 66 + 64] = img
    return Image.fromarray((np.clip(canvas, 0, 1) * 255 + 0.5).astype(np.uint8))


pick = np.arange(0, len(test_frames), 4)[:10]
grid([test_frames[pick], recon[pick]]).resize((10 * 66 * 2, 2 * 66 * 2), Image.NEAREST).save(
    OUT / "03_reconstructions.png")
print("top: frames, bottom: V's reconstructions ->", OUT / "03_reconstructions.png")

# %% [markdown]
# ### Latent traversals
# Which dimensions of z does V use? Those whose posterior differs from the prior, i.e. with a
# large per-dimension KL averaged over frames. Starting from one frame's `mu`, we move one such
# dimension from -3 to 3 (prior standard deviations) and decode: each row shows what one
# coordinate of V's code means (position, colour, size ...). Unused dimensions decode to the
# same picture all along the row.

# %%
mu_all, logvar_all = infer.encode(V, frames[:400])
kl_per_dim = 0.5 * np.mean(mu_all ** 2 + np.exp(logvar_all) - logvar_all - 1, axis=0)   # (Z,)
top = np.argsort(kl_per_dim)[::-1][:6]
print("most used dimensions:", top.tolist(), "KL (nats):", " ".join(f"{v:.2f}" for v in kl_per_dim[top]))
values = np.linspace(-3, 3, 9)
rows = []
for d in top:
    z = np.repeat(mu[:1], len(values), axis=0)                                 # (9, Z)
    z[:, d] = values
    rows.append(infer.decode(V, z))
grid(rows).resize((9 * 66 * 2, len(top) * 66 * 2), Image.NEAREST).save(OUT / "03_traversals.png")
print("latent traversals ->", OUT / "03_traversals.png")

# %% [markdown]
# ## Summary
# - V maps a 64x64x3 frame through four stride-2 convs to (mu, logvar) of a Gaussian over z,
#   and four stride-2 deconvs back; 64 -> 31 -> 14 -> 6 -> 2 and 1 -> 5 -> 13 -> 30 -> 64.
# - The loss is the summed squared error plus the KL, floored at `kl_tolerance * Nz` nats; below
#   the floor the KL sends no gradient.
# - Our NumPy version equals `minwm.vae.loss`, and a directional finite difference over all
#   parameters confirms the autograd gradient in float64.
# - `vae.export` -> `infer.load_vae`: inference needs only NumPy and the `.npz`.
#
# ## Exercises
# 1. Train with `kl_tolerance = 0` (no floor) and compare the per-dimension KL: how many
#    dimensions stay in use?
# 2. Compute the reconstruction with `z = mu` and with sampled `z`: which is sharper, and by how
#    much does `r_loss` differ?
# 3. Interpolate linearly in z between the codes of two frames and decode the path.
#
# Solutions: `tutorials/solutions/03_vae.py`.
