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
# $\frac{d}{dx} e^x = e^x$ (reuse the output), $\frac{d}{dx}\log x = 1/x$. `receive` adds a
# gradient into `.grad`; its `assign_in` switch exists only for exercise 2.

# %%
class Tensor:
    assign_in = ()                                             # ops whose backward assigns: exercise 2

    def __init__(self, data, parents=()):
        self.data = np.asarray(data, dtype=np.float64)
        self.grad = np.zeros_like(self.data)
        self.parents = parents
        self.backward_fn = lambda g: None

    def receive(self, g, op):
        if op in Tensor.assign_in:
            self.grad = g                                      # the bug of exercise 2
        else:
            self.grad += g

    def __add__(self, other):
        out = Tensor(self.data + other.data, (self, other))
        def backward_fn(g):
            self.receive(g, "add")
            other.receive(g, "add")
        out.backward_fn = backward_fn
        return out

    def __mul__(self, other):
        out = Tensor(self.data * other.data, (self, other))
        def backward_fn(g):
            self.receive(g * other.data, "mul")
            other.receive(g * self.data, "mul")
        out.backward_fn = backward_fn
        return out

    def exp(self):
        e = np.exp(self.data)
        out = Tensor(e, (self,))
        out.backward_fn = lambda g: self.receive(g * e, "exp")
        return out

    def log(self):
        out = Tensor(np.log(self.data), (self,))
        out.backward_fn = lambda g: self.receive(g / self.data, "log")
        return out

    def sum(self):
        out = Tensor(self.data.sum(), (self,))
        out.backward_fn = lambda g: self.receive(g * np.ones_like(self.data), "sum")
        return out

    def backward(self):
        topo, seen = [], set()
        def visit(node):
            if id(node) not in seen:
                seen.add(id(node))
                for p in node.parents:
                    visit(p)
                topo.append(node)
        visit(self)
        self.grad = np.ones_like(self.data)
        for node in reversed(topo):
            node.backward_fn(node.grad)


x = Tensor(rng.uniform(0.5, 2.0, 5))
f = lambda t: ((t.exp() + t) * t.log()).sum()              # x is used three times
f(x).backward()
num = numerical_grad(lambda: float(f(Tensor(x.data)).data), x.data)
print(f"exp/log: max |analytic - numerical| = {np.max(np.abs(x.grad - num)):.1e}")
assert rel_error(x.grad, num) < 1e-8

# %% [markdown]
# ## Exercise 2: `=` instead of `+=`
# The chapter's reused node, `a = [1.5, -2, 3]`, `b = a + a`, `c = sum(b * b)`. With `=` in
# `__add__`'s backward only: the mul's backward still adds both of its paths, so `b.grad` is the
# correct $2b$; then the add's backward *sets* `a.grad = b.grad` twice instead of adding it twice,
# so `a.grad` $= 2b = 4a$: half of the truth $8a$, one path lost (the chapter's "$4a$").
# With `=` in `__mul__`'s backward too, `b.grad` is set twice to $g \cdot b$, so it is $b$ instead
# of $2b$ and `a.grad` $= b = 2a$: a quarter, one path lost at each of the two reused nodes.

# %%
def reused_node_grad():
    a = Tensor([1.5, -2.0, 3.0])
    b = a + a
    (b * b).sum().backward()
    return a.grad, a.data


for bug, factor in [(("add",), 4), (("add", "mul"), 2), ((), 8)]:
    Tensor.assign_in = bug
    grad, a = reused_node_grad()
    print(f"'=' in the backward of {bug or 'nothing'}: dc/da = {grad}  ({factor}a = {factor * a})")
    assert np.allclose(grad, factor * a)
Tensor.assign_in = ()

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
