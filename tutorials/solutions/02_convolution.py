# %% [markdown]
# # Solutions to chapter 2: Convolution and transposed convolution
# Run with `python tutorials/solutions/02_convolution.py` (seconds in either mode).

# %%
import numpy as np

from minwm import ops

rng = np.random.default_rng(0)

# %% [markdown]
# ## Exercise 1: the transposed conv's output size
# By the adjoint identity, `conv_t` maps the conv's *output* space back to its *input* space. A
# conv with kernel k and stride s maps size H_in to `(H_in - k) // s + 1`; the smallest H_in
# giving H is `(H - 1) s + k` (larger inputs up to `+ s - 1` give the same H, but their extra
# rows are never read, so the adjoint has no reason to produce them). Check all small cases:

# %%
for k in (4, 5, 6):
    for s in (1, 2, 3):
        for H in range(1, 10):
            H_in = (H - 1) * s + k
            assert (H_in - k) // s + 1 == H and (H_in - 1 - k) // s + 1 == H - 1
            x = np.zeros((1, H, H, 1))
            assert ops.conv_transpose2d_forward(x, np.zeros((1, k, k, 1)), np.zeros(1), s)[0].shape[1] == H_in
print("H' = (H - 1) s + k: the smallest input the conv maps to H, for k 4-6, s 1-3, H 1-9")

# %% [markdown]
# ## Exercise 2: conv2d_backward's dx, per element

# %%
x = rng.standard_normal((1, 6, 6, 2))
w, b = rng.standard_normal((4, 4, 2, 3)), rng.standard_normal(3)
out, cache = ops.conv2d_forward(x, w, b, 2)
g = rng.standard_normal(out.shape)
dx = ops.conv2d_backward(g, cache)[0]
num = np.zeros_like(x)
for i in np.ndindex(x.shape):
    old = x[i]
    x[i] = old + 1e-6
    lp = np.vdot(ops.conv2d_forward(x, w, b, 2)[0], g)
    x[i] = old - 1e-6
    lm = np.vdot(ops.conv2d_forward(x, w, b, 2)[0], g)
    x[i] = old
    num[i] = (lp - lm) / 2e-6
print(f"dx per element: max |analytic - numerical| = {np.abs(dx - num).max():.1e}")
assert np.abs(dx - num).max() < 1e-8

# %% [markdown]
# ## Exercise 3: stride-1 transposed conv = conv with a flipped kernel and padding k - 1
# Each input pixel paints `w` at its position; seen from an output pixel, that is a correlation
# with `w` flipped in both directions over the input padded by k - 1 on every side.

# %%
k, C, F = 5, 2, 3
x = rng.standard_normal((2, 7, 6, C))
wt = rng.standard_normal((C, k, k, F))                              # conv_t layout (C, k, k, F)
out_t = ops.conv_transpose2d_forward(x, wt, np.zeros(F), 1)[0]
w_conv = wt[:, ::-1, ::-1, :].transpose(1, 2, 0, 3)               # flipped, conv layout (k, k, C, F)
x_pad = np.pad(x, ((0, 0), (k - 1, k - 1), (k - 1, k - 1), (0, 0)))
out_c = ops.conv2d_forward(np.ascontiguousarray(x_pad), np.ascontiguousarray(w_conv), np.zeros(F), 1)[0]
print(f"conv_t(x, w) vs conv(pad(x), flip(w)): shapes {out_t.shape} {out_c.shape}, "
      f"max difference {np.abs(out_t - out_c).max():.1e}")
assert out_t.shape == out_c.shape and np.abs(out_t - out_c).max() < 1e-12
