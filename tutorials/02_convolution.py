# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Chapter 2: Convolution and transposed convolution
#
# **What this builds.** V's encoder is four convolutions (4x4, stride 2) and its decoder four
# transposed convolutions ("deconvolutions", 5x5, 5x5, 6x6, 6x6, stride 2), appendix A.1. This
# chapter builds both ops and their backward passes in NumPy, the way `minwm.ops` does. It builds
# on chapter 1 (a backward pass is a vector-Jacobian product, checked by finite differences).
#
# **Plan.** (1) the conv by its definition, a loop; (2) the same conv as one matrix product via
# *im2col*; (3) its backward pass, where *col2im* (the adjoint of im2col) appears; (4) the
# transposed conv as the adjoint of the conv, and the identity `<conv(x), y> == <x, conv_t(y)>`;
# (5) finite-difference checks on random shapes; (6) equality with `minwm.ops`; (7) V's shapes and
# a picture of what a stride-2 deconv does to a flat input.
#
# **Running.** `python tutorials/02_convolution.py`; `MINWM_FAST=1` for a run of seconds (fewer
# random shapes, smaller timing). Pictures go to `tutorials/out/` (or `$MINWM_OUT`).
# Layout (as the original TensorFlow code): images NHWC. Legend: N batch, H/W height/width,
# C input channels, F output channels, k kernel size, s stride; no padding anywhere.

# %%
import os
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

FAST = os.environ.get("MINWM_FAST") == "1"
OUT = Path(os.environ.get("MINWM_OUT") or
           (Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()) / "out")
OUT.mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. The definition
# With `w (k, k, C, F)`, output pixel $(i, j)$ of filter $f$ is a dot product of `w[..., f]`
# with the $k \times k$ patch whose top-left corner is $(i s, j s)$:
#
# $$\mathrm{out}_{n,i,j,f} = b_f + \sum_{\delta_i, \delta_j < k} \sum_{c}
# x_{n,\, is + \delta_i,\, js + \delta_j,\, c}\; w_{\delta_i, \delta_j, c, f},
# \qquad H' = \left\lfloor \frac{H - k}{s} \right\rfloor + 1.$$

# %%
def conv_loop(x, w, b, s):
    """x (N, H, W, C), w (k, k, C, F), b (F,) -> (N, H', W', F), by the definition."""
    N, H, W, _ = x.shape
    k, F = w.shape[0], w.shape[3]
    Ho, Wo = (H - k) // s + 1, (W - k) // s + 1
    out = np.empty((N, Ho, Wo, F), x.dtype)
    for i in range(Ho):
        for j in range(Wo):
            patch = x[:, i * s:i * s + k, j * s:j * s + k, :]                  # (N, k, k, C)
            out[:, i, j, :] = np.tensordot(patch, w, axes=3) + b             # (N, F)
    return out


# %% [markdown]
# ## 2. im2col: the conv as one matrix product
# Copy every patch into one row of a matrix `cols (N H' W', k k C)`; then the conv is
# `cols @ w.reshape(k k C, F)`, a single large GEMM that BLAS runs at full speed. We fill `cols`
# with k*k strided slices: slice `(di, dj)` holds pixel `(di, dj)` of every patch at once.
# (`minwm.ops` builds the same matrix from a strided *view* of `x`, without the loop.)
#
# The adjoint of "copy the patches out" is "add the patches back in": **col2im** scatter-adds each
# row back to its k x k footprint, and where patches overlap (k > s) the values add up.

# %%
def im2col(x, k, s):
    """x (N, H, W, C) -> cols (N*H'*W', k*k*C), rows ordered (n, i, j), columns (di, dj, c)."""
    N, H, W, C = x.shape
    Ho, Wo = (H - k) // s + 1, (W - k) // s + 1
    cols = np.empty((N, Ho, Wo, k, k, C), x.dtype)
    for di in range(k):
        for dj in range(k):
            cols[:, :, :, di, dj, :] = x[:, di:di + s * (Ho - 1) + 1:s, dj:dj + s * (Wo - 1) + 1:s, :]
    return cols.reshape(N * Ho * Wo, k * k * C)


def col2im(cols, x_shape, k, s):
    """cols (N*H'*W', k*k*C) -> (N, H, W, C): every row added back onto its patch (the adjoint)."""
    N, H, W, C = x_shape
    Ho, Wo = (H - k) // s + 1, (W - k) // s + 1
    cols = cols.reshape(N, Ho, Wo, k, k, C)
    x = np.zeros(x_shape, cols.dtype)
    for di in range(k):
        for dj in range(k):
            x[:, di:di + s * (Ho - 1) + 1:s, dj:dj + s * (Wo - 1) + 1:s, :] += cols[:, :, :, di, dj, :]
    return x


def conv_forward(x, w, b, s):
    """x (N, H, W, C), w (k, k, C, F), b (F,) -> out (N, H', W', F), cache.  out = im2col(x) @ w + b"""
    N, H, W, C = x.shape
    k, F = w.shape[0], w.shape[3]
    Ho, Wo = (H - k) // s + 1, (W - k) // s + 1
    cols = im2col(x, k, s)                                      # (N*H'*W', k*k*C)
    out = cols @ w.reshape(k * k * C, F) + b                    # (N*H'*W', F)
    return out.reshape(N, Ho, Wo, F), (x.shape, cols, w, s)


x = rng.standard_normal((2, 11, 9, 3))
w, b = rng.standard_normal((4, 4, 3, 5)), rng.standard_normal(5)
d = np.max(np.abs(conv_forward(x, w, b, 2)[0] - conv_loop(x, w, b, 2)))
print(f"im2col conv vs the loop: max difference {d:.1e}")
assert d < 1e-12

# %% [markdown]
# ## 3. The conv's backward pass
# $\mathrm{out} = \mathrm{cols}\, W + b$ is a matrix product, so chapter 1's rules apply with
# $g = \partial L / \partial\,\mathrm{out}$:
#
# $$\frac{\partial L}{\partial W} = \mathrm{cols}^\top g, \qquad \frac{\partial L}{\partial b} = \sum_\mathrm{rows} g,
# \qquad \frac{\partial L}{\partial\,\mathrm{cols}} = g\, W^\top,$$
#
# and `dx = col2im(dcols)`: each patch's gradient goes back where the patch came from, overlaps
# adding up. This is why col2im is needed at all.

# %%
def conv_backward(dout, cache):
    """dout (N, H', W', F) -> dx (N, H, W, C), dw (k, k, C, F), db (F,)."""
    x_shape, cols, w, s = cache
    k, C, F = w.shape[0], w.shape[2], w.shape[3]
    g = dout.reshape(-1, F)                                     # (N*H'*W', F)
    dw = (cols.T @ g).reshape(w.shape)
    db = g.sum(axis=0)
    dx = col2im(g @ w.reshape(k * k * C, F).T, x_shape, k, s)   # (N, H, W, C)
    return dx, dw, db


# %% [markdown]
# ## 4. The transposed conv is the adjoint of the conv
# The decoder must go *up* in size: 1 -> 5 -> 13 -> 30 -> 64. The transposed conv does exactly
# what the conv's backward did to `dout`: multiply each input pixel's channel vector by the weight
# to get a k x k patch, then col2im the patches onto a stride-s grid:
#
# $$\mathrm{conv}_t(x) = \mathrm{col2im}(x\, w) + b, \qquad w \in \mathbb R^{C \times k \times k \times F},
# \qquad H' = (H - 1)\, s + k.$$
#
# Being the adjoint means: for the conv with weight `w (k, k, C, F)` and the transposed conv with
# the *same numbers* laid out as `w_t = w.transpose(3, 0, 1, 2)  (F, k, k, C)`,
#
# $$\langle \mathrm{conv}(x, w), y \rangle = \langle x, \mathrm{conv}_t(y, w_t) \rangle \quad \text{for all } x, y.$$
#
# Its backward passes are then the conv's forward pieces: `dx = im2col(dout) @ w.T` and
# `dw = x.T @ im2col(dout)`. We test the identity in float64 before any finite difference runs.

# %%
def conv_t_forward(x, w, b, s):
    """x (N, H, W, C), w (C, k, k, F), b (F,) -> out (N, (H-1)s+k, (W-1)s+k, F), cache."""
    N, H, W, C = x.shape
    k, F = w.shape[1], w.shape[3]
    Ho, Wo = (H - 1) * s + k, (W - 1) * s + k
    patches = x.reshape(N * H * W, C) @ w.reshape(C, k * k * F)  # (N*H*W, k*k*F)
    return col2im(patches, (N, Ho, Wo, F), k, s) + b, (x, w, s)


def conv_t_backward(dout, cache):
    """dout (N, H', W', F) -> dx (N, H, W, C), dw (C, k, k, F), db (F,)."""
    x, w, s = cache
    C, k, F = w.shape[0], w.shape[1], w.shape[3]
    dpatches = im2col(dout, k, s)                               # (N*H*W, k*k*F)
    dw = (x.reshape(-1, C).T @ dpatches).reshape(w.shape)
    db = dout.sum(axis=(0, 1, 2))
    dx = (dpatches @ w.reshape(C, k * k * F).T).reshape(x.shape)
    return dx, dw, db


x = rng.standard_normal((2, 13, 13, 3))                          # 13 -> 5 with k 5, s 2
w = rng.standard_normal((5, 5, 3, 4))
y = rng.standard_normal(conv_forward(x, w, np.zeros(4), 2)[0].shape)   # (2, 5, 5, 4)
lhs = np.vdot(conv_forward(x, w, np.zeros(4), 2)[0], y)
rhs = np.vdot(x, conv_t_forward(y, w.transpose(3, 0, 1, 2), np.zeros(3), 2)[0])
print(f"<conv(x), y> = {lhs:.10f}   <x, conv_t(y)> = {rhs:.10f}   difference {abs(lhs - rhs):.1e}")
assert abs(lhs - rhs) < 1e-9 * abs(lhs)

# %% [markdown]
# ## 5. Finite differences on random shapes
# Hand-picked shapes hide bugs (an off-by-one in H' only shows for some sizes), so we draw the
# kernel from {4, 5, 6}, the stride from {1, 2, 3} and odd or even image sizes. Checking every
# element is slow, so each case checks the gradient along one random direction `u` (two
# forward passes): $\langle \partial L/\partial x, u\rangle$ against
# $\frac{L(x + \epsilon u) - L(x - \epsilon u)}{2\epsilon}$, with the loss
# $L = \langle \mathrm{out}, g\rangle$ for a fixed random $g$ so that every output element matters.

# %%
def directional_check(forward, backward, args, eps=1e-5):
    """Largest relative error of <grad, u> vs the centred difference, over the arguments."""
    out, cache = forward(*args)
    g = rng.standard_normal(out.shape)
    grads = backward(g, cache)
    worst = 0.0
    for i, (arg, grad) in enumerate(zip(args[:3], grads)):
        u = rng.standard_normal(arg.shape)
        plus = [a + eps * u if j == i else a for j, a in enumerate(args[:3])] + list(args[3:])
        minus = [a - eps * u if j == i else a for j, a in enumerate(args[:3])] + list(args[3:])
        numeric = (np.vdot(forward(*plus)[0], g) - np.vdot(forward(*minus)[0], g)) / (2 * eps)
        analytic = np.vdot(grad, u)
        worst = max(worst, abs(analytic - numeric) / (abs(analytic) + abs(numeric)))
    return worst


worst = 0.0
for case in range(6 if FAST else 40):
    k, s = int(rng.integers(4, 7)), int(rng.integers(1, 4))
    N, C, F = int(rng.integers(1, 3)), int(rng.integers(1, 4)), int(rng.integers(1, 4))
    H, W = int(rng.integers(k, k + 8)), int(rng.integers(k, k + 8))
    x = rng.standard_normal((N, H, W, C))
    worst = max(worst, directional_check(conv_forward, conv_backward,
                                         (x, rng.standard_normal((k, k, C, F)), rng.standard_normal(F), s)))
    worst = max(worst, directional_check(conv_t_forward, conv_t_backward,
                                         (x, rng.standard_normal((C, k, k, F)), rng.standard_normal(F), s)))
print(f"directional gradient checks, conv and conv_t: worst relative error {worst:.1e}")
assert worst < 1e-7

# %% [markdown]
# ## 6. The same as `minwm.ops`
# The library's pairs take the same arguments (`need_dx=False` skips the image gradient of V's
# first layer) and must return the same numbers. Its im2col is a strided *view* of `x`
# (`np.lib.stride_tricks.as_strided`: no copy until the reshape the matmul needs). Its col2im is
# one Numba loop that scatter-adds every patch in a single pass, where ours makes k*k strided
# passes; the loop is serial on purpose: a Numba thread pool next to the threads OpenBLAS keeps
# spinning for the matmuls made V's whole training step about 30% slower, not faster. The
# arithmetic is the same.

# %%
from minwm import ops

diff = 0.0
for k, s, H in [(4, 2, 64), (5, 2, 5), (6, 2, 13), (5, 1, 7), (4, 3, 10)]:
    C, F = 3, 4
    x = rng.standard_normal((2, H, H, C))
    w, b = rng.standard_normal((k, k, C, F)), rng.standard_normal(F)
    out, cache = conv_forward(x, w, b, s)
    out_lib, cache_lib = ops.conv2d_forward(x, w, b, s)
    g = rng.standard_normal(out.shape)
    diff = max([diff, np.max(np.abs(out - out_lib))] +
               [np.max(np.abs(p - q)) for p, q in zip(conv_backward(g, cache), ops.conv2d_backward(g, cache_lib))])
    wt = rng.standard_normal((C, k, k, F))
    out, cache = conv_t_forward(x, wt, b, s)
    out_lib, cache_lib = ops.conv_transpose2d_forward(x, wt, b, s)
    g = rng.standard_normal(out.shape)
    diff = max([diff, np.max(np.abs(out - out_lib))] +
               [np.max(np.abs(p - q)) for p, q in zip(conv_t_backward(g, cache),
                                                     ops.conv_transpose2d_backward(g, cache_lib))])
print(f"ours vs minwm.ops (forward and backward, conv and conv_t): max difference {diff:.1e}")
assert diff < 1e-10

# %% [markdown]
# ## 7. Using the library: V's shapes, and speed
# V's encoder takes 64x64x3 frames through four 4x4 stride-2 convs; its decoder starts from a
# 1x1x1024 "image" and goes back up with 5, 5, 6, 6 kernels, landing exactly on 64x64.

# %%
x = np.zeros((1, 64, 64, 3), np.float32)
for cin, cout in [(3, 32), (32, 64), (64, 128), (128, 256)]:
    x = ops.conv2d_forward(x, np.zeros((4, 4, cin, cout), np.float32), np.zeros(cout, np.float32), 2)[0]
    print(f"conv   4x4 s2 -> {x.shape}")
x = np.zeros((1, 1, 1, 1024), np.float32)
for cin, cout, k in [(1024, 128, 5), (128, 64, 5), (64, 32, 6), (32, 3, 6)]:
    x = ops.conv_transpose2d_forward(x, np.zeros((cin, k, k, cout), np.float32), np.zeros(cout, np.float32), 2)[0]
    print(f"deconv {k}x{k} s2 -> {x.shape}")
assert x.shape == (1, 64, 64, 3)

# V's second conv at batch size N: loop vs im2col vs minwm.ops, float32
N = 4 if FAST else 32
x = rng.standard_normal((N, 31, 31, 32)).astype(np.float32)
w, b = rng.standard_normal((4, 4, 32, 64)).astype(np.float32), np.zeros(64, np.float32)
for name, f in [("loop", conv_loop), ("im2col", lambda *a: conv_forward(*a)[0]),
                ("minwm.ops", lambda *a: ops.conv2d_forward(*a)[0])]:
    f(x, w, b, 2)
    t0 = time.perf_counter()
    for _ in range(3):
        f(x, w, b, 2)
    print(f"{name:10s} {(time.perf_counter() - t0) / 3 * 1e3:7.2f} ms  (N={N}, 31x31x32 -> 14x14x64)")

# %% [markdown]
# ## A picture: what the convs see and what the deconvs paint
# Left: a frame with a square and a disc, and the response of a vertical-edge filter (a 4x4
# stride-2 conv, as V's first layer). Right: a stride-2 transposed conv of an all-ones input with
# an all-ones kernel counts how many patches cover each output pixel, for k = 4, 5, 6. With k a
# multiple of the stride (4, 6) every interior pixel is covered equally often; with k = 5 the
# counts form a checkerboard of 4, 6 and 9. V's first two deconvs use k = 5 and have to *learn*
# to hide that pattern: early reconstructions show it as a faint grid.

# %%
def to_img(a, size=128):
    a = (a - a.min()) / (np.ptp(a) + 1e-12)
    return Image.fromarray((a * 255).astype(np.uint8)).resize((size, size), Image.NEAREST).convert("RGB")


yy, xx = np.mgrid[0:64, 0:64]
frame = np.zeros((64, 64), np.float32)
frame[10:30, 8:28] = 1.0
frame[(yy - 42) ** 2 + (xx - 42) ** 2 < 12 ** 2] = 0.6
edge = np.zeros((4, 4, 1, 1), np.float32)
edge[:, :2], edge[:, 2:] = -1.0, 1.0                           # left half -1, right half +1
response = ops.conv2d_forward(frame[None, :, :, None], edge, np.zeros(1, np.float32), 2)[0][0, :, :, 0]
tiles = [to_img(frame), to_img(np.abs(response))]
for k in (4, 5, 6):
    ones = np.ones((1, 8, 8, 1), np.float32)
    cover = ops.conv_transpose2d_forward(ones, np.ones((1, k, k, 1), np.float32), np.zeros(1, np.float32), 2)[0]
    tiles.append(to_img(cover[0, :, :, 0]))
    print(f"k={k}: patches per interior pixel {np.unique(cover[0, k:-k, k:-k, 0]).astype(int).tolist()}")
canvas = Image.new("RGB", (len(tiles) * 136, 156), "white")
draw = ImageDraw.Draw(canvas)
labels = ["frame", "|vertical-edge conv|", "deconv coverage, k=4", "k=5 (checkerboard)", "k=6"]
for i, (t, label) in enumerate(zip(tiles, labels)):
    canvas.paste(t, (i * 136 + 4, 4))
    draw.text((i * 136 + 6, 138), label, fill="black")               # PIL's built-in font
canvas.save(OUT / "02_conv.png")

# %% [markdown]
# ## Summary
# - A conv is a matrix product of the im2col matrix with the reshaped weight; its input gradient
#   is col2im of `dout @ W.T`.
# - The transposed conv is the conv's adjoint: `<conv(x), y> == <x, conv_t(y)>`; its forward is
#   the conv's input gradient and its input gradient is the conv's forward.
# - Random shapes (k 4/5/6, stride 1-3, odd and even sizes) and directional finite differences
#   check the four backward passes; `minwm.ops` agrees with the versions written here.
# - V's sizes: 64 -> 31 -> 14 -> 6 -> 2 down, 1 -> 5 -> 13 -> 30 -> 64 up.
#
# ## Exercises
# 1. Derive the output size formula of the transposed conv from the adjoint identity: what
#    input size H makes `conv(x)` have size H'?
# 2. Check `ops.conv2d_backward`'s `dx` per element (not just along one direction) against
#    finite differences on a 1x6x6x2 input with k 4 and stride 2.
# 3. Show that the transposed conv with stride 1 is a conv with the kernel flipped in both
#    spatial directions and zero padding k - 1, by computing both.
#
# Solutions: `tutorials/solutions/02_convolution.py`.
