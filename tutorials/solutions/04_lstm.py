# %% [markdown]
# # Solutions to chapter 4: The LSTM and backpropagation through time
# `python tutorials/solutions/04_lstm.py`; `MINWM_FAST=1` shortens the training.

# %%
import os

import numpy as np

from minwm import lstm as lstm_lib
from minwm.autograd import Tensor, lstm, no_grad, tensor
from minwm.optim import Adam

FAST = os.environ.get("MINWM_FAST") == "1"
rng = np.random.default_rng(0)

# %% [markdown]
# ## Exercise 1: forget-gate bias -3
# With $f = \sigma(-3) \approx 0.05$ the cell forgets 95% of itself each step at first: the number
# written at step 0 is gone after a few steps, and so is the gradient that would teach the LSTM
# to keep it ($\partial L/\partial c_{t-1} = f \odot \partial L/\partial c_t$ along the cell line,
# so over $T - 1$ steps the signal shrinks like $0.05^{T-1}$ instead of $0.73^{T-1}$). Learning
# starts much later, if at all within the budget. The chapter's task and sizes.

# %%
T, H = (10, 16) if FAST else (20, 32)                          # the chapter's
steps = 300 if FAST else 1500


def batch(n, r):
    x = r.standard_normal((n, T, 2)).astype(np.float32) * 0.5
    x[:, :, 1] = 0
    x[:, 0, 1] = 1
    return x, x[:, :1, 0]


def train(forget_bias):
    init, r = np.random.default_rng(1), np.random.default_rng(2)
    p = {"wx": tensor(init.standard_normal((2, 4 * H)) / np.sqrt(2), True),
         "wh": tensor(init.standard_normal((H, 4 * H)) / np.sqrt(H), True),
         "b": tensor(np.r_[np.zeros(H), np.full(H, forget_bias), np.zeros(2 * H)], True),
         "w_out": tensor(init.standard_normal((H, 1)) / np.sqrt(H), True), "b_out": tensor(np.zeros(1), True)}
    zeros = Tensor(np.zeros((64, H), np.float32))
    predict = lambda x: lstm(x, zeros, zeros, p["wx"], p["wh"], p["b"])[1] @ p["w_out"] + p["b_out"]
    opt = Adam(p.values(), lr=1e-2)
    x0 = Tensor(batch(64, np.random.default_rng(3))[0], requires_grad=True)  # gradient at the start
    ((predict(x0) - Tensor(x0.data[:, :1, 0])) ** 2).mean().backward()
    grad_x0 = np.abs(x0.grad[:, 0]).sum()
    for _ in range(steps):
        x, y = batch(64, r)
        loss = ((predict(Tensor(x)) - Tensor(y)) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    x, y = batch(64, np.random.default_rng(4))
    with no_grad():
        return float(np.mean((predict(Tensor(x)).data - y) ** 2)) / float(np.var(y)), grad_x0


results = {fb: train(fb) for fb in (1.0, -3.0)}
for fb, (mse, g0) in results.items():
    print(f"forget bias {fb:+.0f}: |dL/dx_0| before training {g0:.2e}; after {steps} steps, mse / var(y) = {mse:.3f}")
assert results[-3.0][1] < 1e-3 * results[1.0][1]              # the gradient to x_0 all but vanishes ...
assert results[-3.0][0] > results[1.0][0]                     # ... and the memory task is learned worse

# %% [markdown]
# ## Exercise 2: a random-direction check at Doom's size, float64

# %%
N, T, D, H = 2, (10 if FAST else 50), 64 + 1 + 1, 512
x = rng.standard_normal((N, T, D))
h0, c0 = rng.standard_normal((N, H)), rng.standard_normal((N, H))
wx, wh = rng.standard_normal((D, 4 * H)) / np.sqrt(D), rng.standard_normal((H, 4 * H)) / np.sqrt(H)
b = rng.standard_normal(4 * H)
reset = np.zeros((N, T))
reset[0, T // 2] = 1
G = rng.standard_normal((N, T, H))
args = [x, h0, c0, wx, wh, b]
hs, hT, cT, cache = lstm_lib.lstm_forward(*args, reset)
grads = lstm_lib.lstm_backward(G, None, None, cache)
us = [rng.standard_normal(a.shape) for a in args]
eps = 1e-6
L = lambda s: np.vdot(lstm_lib.lstm_forward(*[a + s * u for a, u in zip(args, us)], reset)[0], G)
numeric = (L(eps) - L(-eps)) / (2 * eps)
analytic = sum(np.vdot(g, u) for g, u in zip(grads, us))
rel = abs(analytic - numeric) / (abs(analytic) + abs(numeric))
print(f"D={D}, H={H}, T={T}: <grad, u> = {analytic:.6f}, finite difference {numeric:.6f}, relative {rel:.1e}")
assert rel < 1e-6

# %% [markdown]
# ## Exercise 3: two halves = one run

# %%
hs1, hT1, cT1, _ = lstm_lib.lstm_forward(x[:, :T // 2], h0, c0, wx, wh, b)
hs2, _, _, _ = lstm_lib.lstm_forward(x[:, T // 2:], hT1, cT1, wx, wh, b)
hs_whole = lstm_lib.lstm_forward(x, h0, c0, wx, wh, b)[0]
d = np.abs(np.concatenate([hs1, hs2], axis=1) - hs_whole).max()
print(f"two halves vs whole: max difference {d:.1e}")
assert d < 1e-12
