# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Chapter 1: Autograd from scratch
#
# **What this builds.** World Models trains two networks by gradient descent: V, the ConvVAE
# (appendix A.1), and M, the MDN-RNN (appendix A.2). Both need gradients of a scalar loss with
# respect to a few million parameters. This chapter builds the machine that computes them:
# reverse-mode automatic differentiation over NumPy arrays, the way `minwm.autograd` does it.
# It builds on nothing but NumPy; every later chapter on training builds on it.
#
# **Plan.** (1) write a tiny `Tensor` with five ops, each a forward and a closure that pushes the
# gradient back; (2) run them backwards over a graph in reverse topological order; (3) the
# reused-node case `b = a + a; c = b * b` that broke early micrograd; (4) check everything against
# centred finite differences in float64; (5) assert it agrees with `minwm.autograd`; (6) fit a
# small network with the library and `minwm.optim.Adam`.
#
# **Running.** `python tutorials/01_autograd.py` runs the full chapter; `MINWM_FAST=1` makes it
# run in seconds (fewer training steps). Pictures go to `tutorials/out/` (or `$MINWM_OUT`).
# Legend for shape comments: N batch, D input, H hidden.

# %%
import os
from pathlib import Path

import numpy as np

FAST = os.environ.get("MINWM_FAST") == "1"
OUT = Path(os.environ.get("MINWM_OUT") or
           (Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()) / "out")
OUT.mkdir(parents=True, exist_ok=True)
try:                                   # matplotlib is optional: without it the plots are skipped
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    plt = None
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. A tiny Tensor
#
# A `Tensor` holds `data` (an ndarray), `grad` (same shape, filled in by `backward`), the tensors
# it was made from (`parents`) and a closure `backward_fn(g)` which, given the gradient `g` of the
# loss with respect to this tensor, **adds** (`+=`) its share into each parent's `.grad`.
# Adding, not assigning, is the whole trick for nodes used more than once: the chain rule sums
# over every path from a node to the loss. (`minwm.autograd` keeps the same two attributes under
# the names `_parents` and `_backward`, micrograd's.)
#
# Five ops are enough for a neural network: `+` (with a bias broadcast over rows), `*`,
# `@` (matrix product), `tanh` and `sum`. Each backward is a vector-Jacobian product: given
# $g = \partial L / \partial\,\mathrm{out}$ it returns $\partial L / \partial\,\mathrm{input}$.
# For $\mathrm{out} = x w$ with $x \in \mathbb R^{N \times D}$, $w \in \mathbb R^{D \times H}$:
# $\partial L/\partial x = g\, w^\top$ and $\partial L/\partial w = x^\top g$ (the shapes tell
# you where the transposes go); for $\mathrm{out} = \tanh(x)$: $g \odot (1 - \mathrm{out}^2)$.

# %%
class Tensor:
    def __init__(self, data, parents=()):
        self.data = np.asarray(data, dtype=np.float64)
        self.grad = np.zeros_like(self.data)
        self.parents = parents
        self.backward_fn = lambda g: None

    def __add__(self, other):                       # other may be a bias (H,) broadcast over rows
        out = Tensor(self.data + other.data, (self, other))
        def backward_fn(g):
            self.grad += g
            other.grad += g if g.shape == other.data.shape else g.sum(axis=0)  # undo broadcast
        out.backward_fn = backward_fn
        return out

    def __mul__(self, other):                       # same shapes
        out = Tensor(self.data * other.data, (self, other))
        def backward_fn(g):
            self.grad += g * other.data
            other.grad += g * self.data
        out.backward_fn = backward_fn
        return out

    def __matmul__(self, other):                    # (N, D) @ (D, H) -> (N, H)
        out = Tensor(self.data @ other.data, (self, other))
        def backward_fn(g):
            self.grad += g @ other.data.T           # (N, H) @ (H, D) -> (N, D)
            other.grad += self.data.T @ g           # (D, N) @ (N, H) -> (D, H)
        out.backward_fn = backward_fn
        return out

    def tanh(self):
        t = np.tanh(self.data)
        out = Tensor(t, (self,))
        def backward_fn(g):
            self.grad += g * (1 - t * t)            # d tanh(x) / dx = 1 - tanh(x)^2
        out.backward_fn = backward_fn
        return out

    def sum(self):
        out = Tensor(self.data.sum(), (self,))
        def backward_fn(g):
            self.grad += g * np.ones_like(self.data)
        out.backward_fn = backward_fn
        return out

    def backward(self):
        """Reverse-mode sweep: visit every node after all the nodes that use it."""
        topo, seen = [], set()
        def visit(node):                            # post-order DFS = a topological order
            if id(node) not in seen:
                seen.add(id(node))
                for p in node.parents:
                    visit(p)
                topo.append(node)
        visit(self)
        self.grad = np.ones_like(self.data)         # d loss / d loss = 1
        for node in reversed(topo):
            node.backward_fn(node.grad)


# %% [markdown]
# ## 2. The reused node
#
# `b = a + a; c = b * b`, so $c = 4a^2$ and $dc/da = 8a$. Two things must go right: `b`'s
# gradient must be complete before `b` passes it on (the topological order guarantees it), and
# `a` must receive *both* contributions from `a + a` (the `+=` guarantees it). An `__add__`
# whose backward assigned (`self.grad = g`) instead of adding would report $4a$, half the truth
# (exercise 2); one that walked the graph depth-first without the order could pass on half of
# `b`'s gradient.

# %%
a = Tensor([1.5, -2.0, 3.0])
b = a + a
c = (b * b).sum()
c.backward()
print("dc/da      =", a.grad, "  expected 8a =", 8 * a.data)
assert np.allclose(a.grad, 8 * a.data)

# %% [markdown]
# ## 3. Finite differences
#
# The gradient is checked against centred differences $\frac{f(x + h) - f(x - h)}{2h}$ for every
# element, in float64: the truncation error is $O(h^2)$ and the rounding error
# $O(\epsilon_\mathrm{mach}/h)$, so $h \approx 10^{-5} \dots 10^{-6}$ gives ~1e-10 agreement. In
# float32 the best you could hope for is ~1e-3, too loose to tell a subtle bug from noise. We
# compare with a relative error scaled by the largest entry, so entries whose gradient is nearly
# zero do not raise false alarms.

# %%
def rel_error(x, y):
    return float(np.max(np.abs(x - y)) / max(1e-12, np.max(np.abs(x) + np.abs(y))))


def numerical_grad(f, x, h=1e-6):
    """Centred differences of the scalar f() with respect to every element of the array x."""
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        fp = f()
        x[i] = old - h
        fm = f()
        x[i] = old
        g[i] = (fp - fm) / (2 * h)
    return g


# %% [markdown]
# The test network: a two-layer MLP with a squared-error loss, written with our five ops,
# $L = \sum (\hat y - y)^2$ with $\hat y = \tanh(x w_1 + b_1)\, w_2 + b_2 + x w_1$.
# The error is reused by the loss `err * err`, and `x @ w1` feeds the loss twice (through the
# tanh and in the residual term), so the graph is a real DAG, not a chain.

# %%
N, D, H = 5, 3, 4
x_np, y_np = rng.standard_normal((N, D)), rng.standard_normal((N, H))
params_np = {"w1": rng.standard_normal((D, H)), "b1": rng.standard_normal(H),
             "w2": rng.standard_normal((H, H)), "b2": rng.standard_normal(H)}


def mlp_loss(T, x, p, y):
    """L = sum((y_hat - y)^2),  y_hat = tanh(x @ w1 + b1) @ w2 + b2 + x @ w1   (T: a Tensor type)."""
    xw = x @ p["w1"]                                 # (N, H), used twice
    h = (xw + p["b1"]).tanh()                        # (N, H)
    y_hat = h @ p["w2"] + p["b2"] + xw               # (N, H)
    err = y_hat + y * T(-np.ones_like(y.data))       # y_hat - y
    return (err * err).sum()


ps = {k: Tensor(v) for k, v in params_np.items()}
xt, yt = Tensor(x_np), Tensor(y_np)
loss = mlp_loss(Tensor, xt, ps, yt)
loss.backward()

worst = 0.0
for name, t in list(ps.items()) + [("x", xt)]:
    num = numerical_grad(lambda: float(mlp_loss(Tensor, xt, ps, yt).data), t.data)
    err = rel_error(t.grad, num)
    worst = max(worst, err)
    print(f"d loss / d {name:3s}: max |analytic - numerical| = {np.max(np.abs(t.grad - num)):.2e}"
          f"  (relative {err:.1e})")
assert worst < 1e-8

# %% [markdown]
# ### How small should h be?
# Sweep $h$ and watch the error fall as $h^2$ until rounding, growing as $1/h$, takes over. The
# "V" shape is why the checks use h = 1e-6 and float64.

# %%
hs = np.logspace(-12, -1, 45)
w1 = ps["w1"]
errs = [np.max(np.abs(numerical_grad(lambda: float(mlp_loss(Tensor, xt, ps, yt).data), w1.data, h)
                      - w1.grad)) for h in hs]
print(f"best h = {hs[int(np.argmin(errs))]:.0e}, error {min(errs):.1e}")
if plt is not None:
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.loglog(hs, errs, "o-", ms=3)
    ax.set_xlabel("finite-difference step h")
    ax.set_ylabel("max |numerical - analytic|")
    ax.set_title("centred differences in float64")
    fig.tight_layout()
    fig.savefig(OUT / "01_fd_error.png", dpi=100)
    plt.close(fig)

# %% [markdown]
# ## 4. The same computation in `minwm.autograd`
#
# The library's `Tensor` is the same idea with more ops (broadcasting everywhere, `exp`, `log`,
# `logsumexp`, slicing, conv, LSTM), gradients only for tensors with `requires_grad`, an iterative
# topological sort (no recursion limit for 1000-step sequences) and a `no_grad()` mode. It must
# give our gradients to the last bit of float64 noise.

# %%
from minwm.autograd import no_grad, tensor

lib = {k: tensor(v, requires_grad=True, dtype=np.float64) for k, v in params_np.items()}
lx, ly = tensor(x_np, requires_grad=True, dtype=np.float64), tensor(y_np, dtype=np.float64)
lib_loss = mlp_loss(lambda d: tensor(d, dtype=np.float64), lx, lib, ly)
lib_loss.backward()
diff = max([abs(float(lib_loss.data) - float(loss.data))] +
           [float(np.max(np.abs(lib[k].grad - ps[k].grad))) for k in ps] +
           [float(np.max(np.abs(lx.grad - xt.grad)))])
print(f"ours vs minwm.autograd: max difference {diff:.1e}")
assert diff < 1e-10

a = tensor([1.5, -2.0, 3.0], requires_grad=True, dtype=np.float64)
b = a + a
(b * b).sum().backward()
assert np.allclose(a.grad, 8 * a.data)                 # the reused node, in the library

# %% [markdown]
# ## 5. Using the library: fit a curve
#
# From here on we use `minwm.autograd` and `minwm.optim.Adam`, the optimiser V and M are trained
# with. A 1-32-1 tanh network learns $y = \sin 3x$ on $[-1, 1]$. Training runs in float32, like the
# real models; `no_grad()` evaluates without recording a graph.

# %%
from minwm.optim import Adam

xs = np.linspace(-1, 1, 64, dtype=np.float32)[:, None]                    # (N, 1)
ys = np.sin(3 * xs)                                                        # (N, 1)
net = {"w1": tensor(rng.standard_normal((1, 32)), True), "b1": tensor(np.zeros(32), True),
       "w2": tensor(rng.standard_normal((32, 1)) / np.sqrt(32), True), "b2": tensor(np.zeros(1), True)}


def predict(x):
    return (x @ net["w1"] + net["b1"]).tanh() @ net["w2"] + net["b2"]     # (N, 1)


opt = Adam(net.values(), lr=1e-2)
steps = 300 if FAST else 2000
for step in range(steps + 1):
    loss = ((predict(tensor(xs)) - tensor(ys)) ** 2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    if step % (steps // 5) == 0:
        print(f"step {step:4d}: loss {float(loss.data):.5f}")
with no_grad():
    fit = predict(tensor(xs)).data
assert float(np.mean((fit - ys) ** 2)) < 0.05
if plt is not None:
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(xs, ys, "k.", label="data")
    ax.plot(xs, fit, "r-", label=f"MLP after {steps} Adam steps")
    ax.set(xlabel="x", ylabel="y", title="y = sin(3x), fitted with minwm.autograd")
    ax.legend()
    fig.tight_layout()
    fig.savefig(OUT / "01_fit.png", dpi=100)
    plt.close(fig)

# %% [markdown]
# ## Summary
# - Reverse mode = one forward pass that records, per op, a closure for the vector-Jacobian
#   product, then one sweep in reverse topological order that runs them.
# - Gradients *accumulate* (`+=`): a node used twice gets the sum over both paths.
# - Finite differences in float64 check every backward; the error is smallest near h ~ 1e-6.
# - `minwm.autograd` is the same machine; it agrees with ours here to the last bit.
#
# ## Exercises
# 1. Add `exp` and `log` to the tiny `Tensor` and check both against finite differences.
# 2. Replace `+=` by `=` in `__add__`'s backward and watch the reused-node check fail. What
#    gradient do you get instead of $8a$, and why? And with `=` in `__mul__`'s backward too?
# 3. With `minwm.autograd`, check the gradient of `logsumexp` (the heart of the MDN loss in
#    chapter 5) against finite differences, and show that it is the softmax.
#
# Solutions: `tutorials/solutions/01_autograd.py`.
