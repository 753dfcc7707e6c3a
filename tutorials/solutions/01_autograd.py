# %% [markdown]
# # Solutions to chapter 1: Autograd from scratch
# Run with `python tutorials/solutions/01_autograd.py` (`MINWM_FAST=1` changes nothing here:
# it already runs in about a second).

# %%
import numpy as np

rng = np.random.default_rng(0)


def rel_error(x, y):
    return float(np.max(np.abs(x - y)) / max(1e-12, np.max(np.abs(x) + np.abs(y))))


def numerical_grad(f, x, h=1e-6):
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
# ## Exercise 1: `exp` and `log`
# `d exp(x) = exp(x)` (reuse the output), `d log(x) = 1 / x`. The `accumulate` flag exists only
# for exercise 2.

# %%
class Tensor:
    accumulate = True

    def __init__(self, data, _parents=()):
        self.data = np.asarray(data, dtype=np.float64)
        self.grad = np.zeros_like(self.data)
        self._parents = _parents
        self._backward = lambda g: None

    def _add_grad(self, g):
        if Tensor.accumulate:
            self.grad += g
        else:
            self.grad = g                                      # the bug of exercise 2

    def __add__(self, other):
        out = Tensor(self.data + other.data, (self, other))
        def _backward(g):
            self._add_grad(g)
            other._add_grad(g)
        out._backward = _backward
        return out

    def __mul__(self, other):
        out = Tensor(self.data * other.data, (self, other))
        def _backward(g):
            self._add_grad(g * other.data)
            other._add_grad(g * self.data)
        out._backward = _backward
        return out

    def exp(self):
        e = np.exp(self.data)
        out = Tensor(e, (self,))
        out._backward = lambda g: self._add_grad(g * e)
        return out

    def log(self):
        out = Tensor(np.log(self.data), (self,))
        out._backward = lambda g: self._add_grad(g / self.data)
        return out

    def sum(self):
        out = Tensor(self.data.sum(), (self,))
        out._backward = lambda g: self._add_grad(g * np.ones_like(self.data))
        return out

    def backward(self):
        topo, seen = [], set()
        def visit(node):
            if id(node) not in seen:
                seen.add(id(node))
                for p in node._parents:
                    visit(p)
                topo.append(node)
        visit(self)
        self.grad = np.ones_like(self.data)
        for node in reversed(topo):
            node._backward(node.grad)


x = Tensor(rng.uniform(0.5, 2.0, 5))
f = lambda t: ((t.exp() + t) * t.log()).sum()              # x is used three times
f(x).backward()
num = numerical_grad(lambda: float(f(Tensor(x.data)).data), x.data)
print(f"exp/log: max |analytic - numerical| = {np.max(np.abs(x.grad - num)):.1e}")
assert rel_error(x.grad, num) < 1e-8

# %% [markdown]
# ## Exercise 2: `=` instead of `+=`
# Both reused nodes lose a path. `c = b * b`: the mul's backward sets `b.grad = g b` twice,
# so `b.grad = b` instead of `2b`. `b = a + a`: the add's backward sets `a.grad = b.grad` twice,
# so `a.grad = b = 2a` instead of `2 b.grad`. Result `2a`, a quarter of the truth `8a`.

# %%
Tensor.accumulate = False
a = Tensor([1.5, -2.0, 3.0])
b = a + a
(b * b).sum().backward()
print("with '=':", a.grad, " (2a =", 2 * a.data, "; the truth 8a =", 8 * a.data, ")")
assert np.allclose(a.grad, 2 * a.data)
Tensor.accumulate = True

# %% [markdown]
# ## Exercise 3: the gradient of logsumexp is the softmax

# %%
from minwm.autograd import tensor

x = tensor(rng.standard_normal((3, 5)), requires_grad=True, dtype=np.float64)
x.logsumexp(axis=-1).sum().backward()
softmax = np.exp(x.data) / np.exp(x.data).sum(axis=-1, keepdims=True)
num = numerical_grad(lambda: float(tensor(x.data, dtype=np.float64).logsumexp(axis=-1).sum().data), x.data)
print(f"logsumexp grad vs softmax: {np.abs(x.grad - softmax).max():.1e}, vs finite differences: "
      f"{np.abs(x.grad - num).max():.1e}")
assert np.allclose(x.grad, softmax, atol=1e-12) and rel_error(x.grad, num) < 1e-8
