# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Chapter 4: The LSTM and backpropagation through time
#
# **What this builds.** The recurrent half of M, the MDN-RNN (section 2.2, appendix A.2): an LSTM
# with 256 (CarRacing) or 512 (Doom) units that reads `[z_t, a_t]` and carries the memory
# `(h_t, c_t)` that both M's prediction and C's decision are computed from. It builds on chapter 1
# (reverse mode, finite differences); chapter 5 puts the mixture head on top.
#
# **Plan.** (1) one LSTM step, drawn as a diagram, and its backward, written out; (2) a whole
# sequence forward and backpropagation through time (BPTT), with the *reset mask* that zeroes the
# state where a new episode starts (Doom's training windows cross episode boundaries); (3) a
# per-element gradient check in float64; (4) equality with `minwm.lstm` (training) and
# `minwm.kernels` (inference); (5) train a small LSTM with the library on a memory task and look
# at how the gradient flows back in time, with and without a reset.
#
# **Running.** `python tutorials/04_lstm.py`; `MINWM_FAST=1` runs in seconds (fewer training
# steps). Pictures go to `tutorials/out/` (or `$MINWM_OUT`).
# Legend: N batch, T time, D input size, H hidden units.

# %%
import os
from pathlib import Path

import numpy as np

FAST = os.environ.get("MINWM_FAST") == "1"
OUT = Path(os.environ.get("MINWM_OUT") or
           (Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()) / "out")
OUT.mkdir(parents=True, exist_ok=True)
try:                                   # matplotlib is optional: without it the plot is skipped
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    plt = None
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. One step
# One gate order and one weight layout, used everywhere in minwm (training, Numba kernel, saved
# weights): the four gates are slices of one `(N, 4H)` matrix, in the order **[i, f, g, o]**:
#
# $$a = x_t W_x + h_{t-1} W_h + b \in \mathbb R^{N \times 4H},
# \qquad W_x \in \mathbb R^{D \times 4H},\ W_h \in \mathbb R^{H \times 4H},$$
# $$i = \sigma(a_{[0, H)}),\quad f = \sigma(a_{[H, 2H)}),
# \quad g = \tanh(a_{[2H, 3H)}),\quad o = \sigma(a_{[3H, 4H)}),$$
# $$c_t = f \odot c_{t-1} + i \odot g \quad\text{(the cell: forget some, write some)}, \qquad
# h_t = o \odot \tanh(c_t) \quad\text{(the output: read some)}.$$
#
# The backward runs the same lines in reverse. $\partial L/\partial c_t$ arrives from two places:
# from $c_t$'s own future (the next step's $f \odot c_t$) and through $h_t = o \odot \tanh(c_t)$;
# their sum is `dct` below. The activations' derivatives are written with their outputs:
# $\sigma' = \sigma(1 - \sigma)$, $\tanh' = 1 - \tanh^2$. The picture: the cell line $c$ runs
# along the top, touched only by a product and a sum, which is why gradients survive many steps.

# %%
def draw_lstm_cell(path):
    """The LSTM cell as boxes and arrows: gates i, f, g, o from [x_t, h_{t-1}], the cell line c, h_t."""
    from matplotlib.patches import Circle, FancyBboxPatch
    fig, ax = plt.subplots(figsize=(8, 4.6))
    ax.set(xlim=(0, 10), ylim=(0, 6), aspect="equal")
    ax.axis("off")
    ax.add_patch(FancyBboxPatch((1.0, 0.8), 7.6, 4.2, boxstyle="round,pad=0.1", fc="#f4f4f4", ec="gray"))
    arrow = lambda x0, y0, x1, y1: ax.annotate("", (x1, y1), (x0, y0), arrowprops=dict(arrowstyle="->", lw=1.3))

    def node(x, y, text, fc=None):                             # a box (a layer) or a circle (pointwise op)
        ax.add_patch(FancyBboxPatch((x - 0.58, y - 0.3), 1.16, 0.6, boxstyle="round,pad=0.05", fc=fc, ec="k")
                     if fc else Circle((x, y), 0.25, fc="white", ec="k"))
        ax.text(x, y, text, ha="center", va="center", fontsize=11 if fc else 12)

    for x, text, fc in [(2.2, r"$f = \sigma(\cdot)$", "#f9c0c0"), (3.6, r"$i = \sigma(\cdot)$", "#c0d8f9"),
                        (5.0, r"$g = \tanh(\cdot)$", "#c8f0c0"), (6.4, r"$o = \sigma(\cdot)$", "#f9e0a0")]:
        node(x, 2.0, text, fc)
        arrow(x, 1.2, x, 1.7)
    ax.plot([0.2, 6.4], [1.2, 1.2], "k", lw=1.3)
    ax.text(0.2, 0.6, "$[x_t,\\ h_{t-1}]$ @ $[W_x; W_h] + b$: one matmul, 4H columns", fontsize=9, va="center")
    for x, y, text in [(2.2, 4.3, r"$\times$"), (4.3, 4.3, "$+$"), (4.3, 3.3, r"$\times$"), (6.4, 3.0, r"$\times$")]:
        node(x, y, text)
    node(7.5, 3.6, r"$\tanh$", "#e8e8e8")
    for a in [(0.6, 4.3, 1.95, 4.3), (2.45, 4.3, 4.05, 4.3), (4.55, 4.3, 9.3, 4.3), (2.2, 2.3, 2.2, 4.05),
              (3.6, 2.3, 4.1, 3.15), (5.0, 2.3, 4.5, 3.15), (4.3, 3.55, 4.3, 4.05), (7.5, 4.3, 7.5, 3.9),
              (7.1, 3.45, 6.65, 3.1), (6.4, 2.3, 6.4, 2.75), (6.65, 3.0, 9.3, 3.0)]:
        arrow(*a)
    for x, y, text in [(0.1, 4.3, "$c_{t-1}$"), (9.35, 4.3, "$c_t$"), (9.35, 3.0, "$h_t$")]:
        ax.text(x, y, text, fontsize=12, va="center")
    ax.text(5.0, 5.35, r"$c_t = f \odot c_{t-1} + i \odot g \qquad h_t = o \odot \tanh(c_t)$",
            ha="center", fontsize=12)
    ax.text(5.0, 0.15, "gate order in the weights' columns: [i, f, g, o]", ha="center", fontsize=9, color="dimgray")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if plt is not None:
    draw_lstm_cell(OUT / "04_lstm_cell.png")


# %%
def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def lstm_step_forward(x, h_prev, c_prev, wx, wh, b):
    """x (N, D), h_prev, c_prev (N, H) -> h, c (N, H), cache."""
    H = h_prev.shape[1]
    gates = x @ wx + h_prev @ wh + b                                        # (N, 4H)
    i, f = sigmoid(gates[:, :H]), sigmoid(gates[:, H:2 * H])
    g, o = np.tanh(gates[:, 2 * H:3 * H]), sigmoid(gates[:, 3 * H:])
    c = f * c_prev + i * g
    tanh_c = np.tanh(c)
    h = o * tanh_c
    return h, c, (x, h_prev, c_prev, i, f, g, o, tanh_c, wx, wh)


def lstm_step_backward(dh, dc, cache):
    """dh, dc (N, H): gradients reaching h_t and c_t from later steps and from the loss
    -> dx (N, D), dh_prev, dc_prev (N, H), dwx (D, 4H), dwh (H, 4H), db (4H,)."""
    x, h_prev, c_prev, i, f, g, o, tanh_c, wx, wh = cache
    dct = dc + dh * o * (1 - tanh_c ** 2)                                   # both paths into c_t
    dgates = np.concatenate([dct * g * i * (1 - i),                         # d i (pre-activation)
                             dct * c_prev * f * (1 - f),                    # d f
                             dct * i * (1 - g ** 2),                        # d g
                             dh * tanh_c * o * (1 - o)], axis=1)            # d o        (N, 4H)
    return (dgates @ wx.T, dgates @ wh.T, dct * f,
            x.T @ dgates, h_prev.T @ dgates, dgates.sum(axis=0))


# %% [markdown]
# ## 2. A sequence, BPTT and the reset mask
# Forward: run the step T times. Backward: run the step's backward from `t = T-1` down to 0,
# carrying `dh_next, dc_next` (the gradient that reaches `h_t, c_t` from the future) and adding
# the weight gradients of every step: the same weights are reused T times (chapter 1's reused
# node, T-fold).
#
# **Reset mask.** Doom's M is trained on windows of consecutive steps (500 in the original code
# and minwm's `paper` preset, 100 in its `default` preset) that may contain the end of one
# episode and the start of the next. Where `reset[n, t] = 1` the incoming state of row n is zeroed before
# step t, so no memory leaks across episodes. Zeroing is multiplication by `keep = 1 - reset`,
# whose gradient is the same multiplication: nothing flows back across a reset either.

# %%
def lstm_forward(x, h0, c0, wx, wh, b, reset=None):
    """x (N, T, D), h0, c0 (N, H), reset (N, T) 0/1 or None -> hs (N, T, H), hT, cT (N, H), caches."""
    N, T, _ = x.shape
    keep = np.ones((N, T)) if reset is None else 1 - reset                 # (N, T)
    h, c, hs, caches = h0, c0, [], []
    for t in range(T):
        h, c = h * keep[:, t:t + 1], c * keep[:, t:t + 1]                   # reset: state -> 0
        h, c, cache = lstm_step_forward(x[:, t], h, c, wx, wh, b)
        hs.append(h)
        caches.append(cache)
    return np.stack(hs, axis=1), h, c, (caches, keep)


def lstm_backward(dhs, dhT, dcT, cache):
    """dhs (N, T, H), dhT, dcT (N, H) -> dx (N, T, D), dh0, dc0 (N, H), dwx, dwh, db."""
    caches, keep = cache
    T = len(caches)
    dh_next, dc_next = dhT, dcT
    dx, dwx, dwh, db = [None] * T, 0, 0, 0
    for t in reversed(range(T)):
        dx[t], dh_prev, dc_prev, dwx_t, dwh_t, db_t = lstm_step_backward(
            dhs[:, t] + dh_next, dc_next, caches[t])
        dwx, dwh, db = dwx + dwx_t, dwh + dwh_t, db + db_t                 # shared weights: sum over t
        dh_next = dh_prev * keep[:, t:t + 1]                                # through the reset mask
        dc_next = dc_prev * keep[:, t:t + 1]
    return np.stack(dx, axis=1), dh_next, dc_next, dwx, dwh, db


# %% [markdown]
# ## 3. Gradient check, per element, in float64
# A loss that uses every output, $L = \langle hs, G\rangle + \langle h_T, g_h\rangle + \langle c_T, g_c\rangle$
# with fixed random weights, so `dhs = G, dhT = gh, dcT = gc`; and a reset in the middle of one row.

# %%
def rel_error(x, y):
    return float(np.max(np.abs(x - y)) / max(1e-12, np.max(np.abs(x) + np.abs(y))))


N, T, D, H = 3, 5, 4, 6
x = rng.standard_normal((N, T, D))
h0, c0 = rng.standard_normal((N, H)), rng.standard_normal((N, H))
wx, wh = rng.standard_normal((D, 4 * H)) / 2, rng.standard_normal((H, 4 * H)) / 2
b = rng.standard_normal(4 * H)
reset = np.zeros((N, T))
reset[1, 2] = 1                                             # row 1: a new episode starts at t = 2
G, gh, gc = rng.standard_normal((N, T, H)), rng.standard_normal((N, H)), rng.standard_normal((N, H))
args = [x, h0, c0, wx, wh, b]


def L():
    hs, hT, cT, _ = lstm_forward(*args, reset)
    return np.vdot(hs, G) + np.vdot(hT, gh) + np.vdot(cT, gc)


grads = lstm_backward(G, gh, gc, lstm_forward(*args, reset)[3])
worst = 0.0
for name, a, g in zip(["x", "h0", "c0", "wx", "wh", "b"], args, grads):
    num = np.zeros_like(a)
    for idx in np.ndindex(a.shape):
        old = a[idx]
        a[idx] = old + 1e-6
        lp = L()
        a[idx] = old - 1e-6
        lm = L()
        a[idx] = old
        num[idx] = (lp - lm) / 2e-6
    err = rel_error(g, num)
    worst = max(worst, err)
    print(f"d L / d {name:2s}: max |analytic - numerical| = {np.max(np.abs(g - num)):.1e}  (relative {err:.1e})")
assert worst < 1e-8
# A loss on the final state only: in row 1 nothing before the reset can influence it.
dx_end, dh0_end, dc0_end = lstm_backward(np.zeros_like(G), gh, gc, lstm_forward(*args, reset)[3])[:3]
print("loss on (hT, cT) only; row 1's gradient before its reset (x[1, :2], h0[1], c0[1]):",
      np.abs(dx_end[1, :2]).max(), np.abs(dh0_end[1]).max(), np.abs(dc0_end[1]).max())
assert np.all(dx_end[1, :2] == 0) and np.all(dh0_end[1] == 0) and np.all(dc0_end[1] == 0)

# %% [markdown]
# ## 4. The same as the library
# `minwm.lstm` is the version M trains with: time-major inside, the input projection `x @ wx` and
# the weight gradients as single large matrix products over all T steps, the gate math in place on
# preallocated buffers and the cell's backward in one Numba loop. Same arguments, same numbers.
#
# At inference time (the dream, the real-env agent) `minwm.kernels.lstm_step` runs one step for
# a whole batch of rollouts, with `w = [wx; wh]` stacked so that a step is one matmul on `[x, h]`.
# It works in place, in buffers the dream allocates once (its docstring says so): it reads
# `xh = [x, h]` (N, D + H) and overwrites the `h` part with $h_t$, and `c` with $c_t$, so the next
# step's `[x, h]` is ready without a copy; `gates` is scratch space. Its NumPy twin
# `lstm_step_numpy` returns `h, c` as usual. Both must agree with our step: one layout everywhere.

# %%
from minwm import kernels
from minwm import lstm as lstm_lib

hs, hT, cT, cache = lstm_forward(*args, reset)
hs_l, hT_l, cT_l, cache_l = lstm_lib.lstm_forward(*args, reset)
diff = max(np.max(np.abs(p - q)) for p, q in [(hs, hs_l), (hT, hT_l), (cT, cT_l)])
grads_l = lstm_lib.lstm_backward(G, gh, gc, cache_l)
diff = max([diff] + [np.max(np.abs(p - q)) for p, q in zip(grads, grads_l)])
print(f"ours vs minwm.lstm (forward and backward): max difference {diff:.1e}")
assert diff < 1e-12

h1, c1 = kernels.lstm_step_numpy(x[:, 0], h0, c0, None, wx, wh, b)
h1_ours, c1_ours, _ = lstm_step_forward(x[:, 0], h0, c0, wx, wh, b)
f32 = lambda a: np.ascontiguousarray(a, np.float32)
xh, c_kernel = f32(np.concatenate([x[:, 0], h0], axis=1)), f32(c0)          # [x, h] (N, D + H), c (N, H)
kernels.lstm_step(xh, c_kernel, None, f32(np.concatenate([wx, wh])), f32(b), np.empty((N, 4 * H), np.float32))
h_kernel = xh[:, D:]                                                         # h_t, written over h_{t-1}
d_kernel = max(np.abs(h_kernel - h1_ours).max(), np.abs(c_kernel - c1_ours).max())
print(f"ours vs kernels.lstm_step_numpy: {max(np.abs(h1 - h1_ours).max(), np.abs(c1 - c1_ours).max()):.1e};"
      f" vs the Numba kernel (float32): {d_kernel:.1e}")
assert np.allclose(h1, h1_ours, atol=1e-12) and np.allclose(c1, c1_ours, atol=1e-12) and d_kernel < 1e-5

# %% [markdown]
# ## 5. Using the library: remembering across time
# A memory task: the first input of a sequence is a random number, the others are noise; at the
# last step the LSTM must output the first number. Only BPTT can teach this, since the error at
# step T-1 must reach the weights that wrote the number into the cell at step 0. We train with
# `minwm.autograd.lstm` (a Tensor op wrapping the pair above) and Adam, like M.

# %%
from minwm.autograd import Tensor, lstm, no_grad, tensor
from minwm.optim import Adam

T, H = (10, 16) if FAST else (20, 32)


def batch(n, rng):
    x = rng.standard_normal((n, T, 2)).astype(np.float32) * 0.5
    x[:, :, 1] = 0
    x[:, 0, 1] = 1                                                         # channel 1 flags "remember this"
    return x, x[:, :1, 0]                                                  # target (n, 1): the first value


init = np.random.default_rng(1)
p = {"wx": tensor(init.standard_normal((2, 4 * H)) / np.sqrt(2), True),
     "wh": tensor(init.standard_normal((H, 4 * H)) / np.sqrt(H), True),
     "b": tensor(np.r_[np.zeros(H), np.ones(H), np.zeros(2 * H)], True),    # forget bias 1, order [i, f, g, o]
     "w_out": tensor(init.standard_normal((H, 1)) / np.sqrt(H), True), "b_out": tensor(np.zeros(1), True)}
opt = Adam(p.values(), lr=1e-2)
zeros = Tensor(np.zeros((64, H), np.float32))


def predict(x, reset=None):
    _, hT, _ = lstm(x, zeros, zeros, p["wx"], p["wh"], p["b"], reset)        # hT (N, H)
    return hT @ p["w_out"] + p["b_out"]                                      # (N, 1)


steps = 300 if FAST else 1500
for step in range(steps + 1):
    x, y = batch(64, rng)
    loss = ((predict(Tensor(x)) - Tensor(y)) ** 2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    if step % (steps // 5) == 0:
        print(f"step {step:5d}: mse {float(loss.data):.4f}   (predicting 0 gives {float(np.mean(y ** 2)):.4f})")
x, y = batch(64, np.random.default_rng(2))
with no_grad():
    mse = float(np.mean((predict(Tensor(x)).data - y) ** 2))
print(f"held-out mse {mse:.4f} vs variance of the target {float(np.var(y)):.4f}")
assert mse < 0.5 * np.var(y)

# %% [markdown]
# ### How the gradient flows back in time
# `|dL / dx_t|` for the trained network: the loss at the last step reaches back to `x_0`, where
# the number to remember was read. With a reset at `t = T/2` (a new episode starts) the memory is
# erased: the prediction can no longer use `x_0` and the gradient before the reset is exactly 0.

# %%
def input_grad(reset):
    xt = Tensor(x, requires_grad=True)
    ((predict(xt, reset) - Tensor(y)) ** 2).mean().backward()
    return np.abs(xt.grad).sum(axis=(0, 2))                                 # (T,)


g_plain = input_grad(None)
reset = np.zeros((64, T), np.float32)
reset[:, T // 2] = 1
g_reset = input_grad(reset)
print("|dL/dx_t| without reset:", np.round(g_plain, 4))
print("|dL/dx_t| reset at T/2: ", np.round(g_reset, 4))
assert np.all(g_reset[:T // 2] == 0) and g_plain[0] > 0
if plt is not None:
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    ax.semilogy(range(T), g_plain + 1e-12, "o-", label="no reset")
    ax.semilogy(range(T), g_reset + 1e-12, "s--", label=f"reset at t = {T // 2}")
    ax.set_xlabel("input step t")
    ax.set_ylabel("sum |dL / dx_t|  (loss at the last step)")
    ax.set_ylim(1e-6, None)
    ax.legend()
    fig.tight_layout()
    fig.savefig(OUT / "04_bptt_gradients.png", dpi=100)
    plt.close(fig)

# %% [markdown]
# ## Summary
# - One step: $a = x W_x + h W_h + b$, gate order [i, f, g, o]; $c_t = f \odot c_{t-1} + i \odot g$;
#   $h_t = o \odot \tanh(c_t)$.
# - BPTT runs the step's backward from the last step to the first, summing the weight gradients
#   over time; the reset mask zeroes the state, and with it the gradient, where episodes start.
# - Our loop equals `minwm.lstm` (training), `kernels.lstm_step_numpy` and the Numba
#   `kernels.lstm_step` (inference); the per-element check agrees to ~1e-10.
# - Trained with the library, the LSTM carries a number across T steps, and the gradient shows it.
#
# ## Exercises
# 1. Initialise the forget-gate bias to -3 instead of 1 and retrain the memory task. What
#    happens to the loss and to `|dL/dx_0|`, and why?
# 2. Check the library's `lstm` gradients along one random direction (two forward passes) at
#    M's real size for Doom: D = 64 + 1 + 1, H = 512, T = 50, in float64.
# 3. Show that running the sequence in two halves, passing `(hT, cT)` of the first half as
#    `(h0, c0)` of the second, gives the same `hs` as running it whole.
#
# Solutions: `tutorials/solutions/04_lstm.py`.
