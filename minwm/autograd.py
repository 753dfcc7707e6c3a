"""A small reverse-mode autograd over NumPy arrays, micrograd-style.

A Tensor holds `data` (an ndarray) and, after backward(), `grad` (same shape). Every op builds
its output and a closure `_backward` that adds its share of the output's gradient into its
inputs' `.grad`; `backward()` runs those closures in reverse topological order, so a node used
twice (b = a + a) gets both contributions. Gradients are only computed for inputs that need
them (`requires_grad`), which e.g. skips the image gradient of the VAE's first conv.

Training runs in float32; the gradient checks in tests run the very same code in float64.
Inside `with no_grad():` no graph is recorded (inference, evaluation).

The heavy ops (conv, deconv, LSTM) wrap the forward/backward pairs of ops.py and lstm.py.
"""
import contextlib
import ctypes
import sys

import numpy as np

from minwm import lstm as lstm_ops
from minwm import ops

_grad_enabled = True


def _keep_freed_memory_in_process():
    """A training step frees and re-allocates the same ~100 MB of large buffers every time; by
    default glibc hands each one back to the OS (munmap / trim) and the next step page-faults it in
    again, which cost ~30% of a VAE step. Raising the mmap and trim thresholds keeps them in the
    heap for reuse (what a framework's caching allocator does). Linux/glibc only; a no-op elsewhere."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
    libc.mallopt(M_MMAP_THRESHOLD, 1 << 30)
    libc.mallopt(M_TRIM_THRESHOLD, 2 ** 31 - 1)


_keep_freed_memory_in_process()


@contextlib.contextmanager
def no_grad():
    """Run ops without recording a graph (inference)."""
    global _grad_enabled
    prev, _grad_enabled = _grad_enabled, False
    try:
        yield
    finally:
        _grad_enabled = prev


def _unbroadcast(g, shape):
    """Sum a broadcast gradient g back down to `shape`."""
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    for ax, n in enumerate(shape):
        if n == 1 and g.shape[ax] != 1:
            g = g.sum(axis=ax, keepdims=True)
    return g


class Tensor:
    def __init__(self, data, requires_grad=False, _parents=()):
        # NumPy scalars (a 0-d op result) keep their dtype; Python numbers become float32
        self.data = np.asarray(data, dtype=None if isinstance(data, np.generic) else np.float32) \
            if not isinstance(data, np.ndarray) else data
        self.grad = None
        self.requires_grad = requires_grad
        self._parents = _parents
        self._backward = None

    shape = property(lambda self: self.data.shape)
    ndim = property(lambda self: self.data.ndim)
    dtype = property(lambda self: self.data.dtype)

    def __repr__(self):
        return f"Tensor(shape={self.shape}, dtype={self.dtype}, requires_grad={self.requires_grad})"

    def _make(self, data, parents, backward):
        """Wrap an op's output; keep the graph edge only if some input needs a gradient."""
        parents = tuple(p for p in parents if isinstance(p, Tensor))
        if _grad_enabled and any(p.requires_grad for p in parents):
            out = Tensor(data, True, parents)
            out._backward = backward  # called as backward(out.grad); holds no reference to out
            return out
        return Tensor(data)

    def _accum(self, g):
        if self.requires_grad:
            self.grad = g if self.grad is None else self.grad + g

    def backward(self, grad=None):
        """Reverse-mode sweep from this node; grad defaults to 1 for a scalar."""
        topo, seen, stack = [], set(), [(self, False)]
        while stack:  # iterative DFS: post-order without recursion limits
            node, done = stack.pop()
            if done:
                topo.append(node)
            elif id(node) not in seen:
                seen.add(id(node))
                stack.append((node, True))
                stack.extend((p, False) for p in node._parents if p.requires_grad)
        self.grad = np.ones_like(self.data) if grad is None else grad
        for node in reversed(topo):
            if node._backward is not None:
                node._backward(node.grad)
        for node in topo:  # free the graph (and the caches its closures hold), as after one step
            node._backward, node._parents = None, ()

    # ---- elementwise arithmetic (with broadcasting) ----
    def __add__(self, other):
        other = _wrap(other, self.dtype)
        def backward(g):
            self._accum(_unbroadcast(g, self.shape))
            other._accum(_unbroadcast(g, other.shape))
        return self._make(self.data + other.data, (self, other), backward)

    def __mul__(self, other):
        other = _wrap(other, self.dtype)
        def backward(g):
            if self.requires_grad:
                self._accum(_unbroadcast(g * other.data, self.shape))
            if other.requires_grad:
                other._accum(_unbroadcast(g * self.data, other.shape))
        return self._make(self.data * other.data, (self, other), backward)

    def __truediv__(self, other):
        other = _wrap(other, self.dtype)
        def backward(g):
            if self.requires_grad:
                self._accum(_unbroadcast(g / other.data, self.shape))
            if other.requires_grad:
                other._accum(_unbroadcast(-g * self.data / other.data ** 2, other.shape))
        return self._make(self.data / other.data, (self, other), backward)

    def __pow__(self, p):  # p a Python number
        def backward(g):
            self._accum(g * p * self.data ** (p - 1))
        return self._make(self.data ** p, (self,), backward)

    def __neg__(self): return self * -1.0
    def __sub__(self, other): return self + (-_wrap(other, self.dtype))
    def __radd__(self, other): return self + other
    def __rmul__(self, other): return self * other
    def __rsub__(self, other): return _wrap(other, self.dtype) - self
    def __rtruediv__(self, other): return _wrap(other, self.dtype) / self

    def __matmul__(self, other):  # (..., n, k) @ (k, m), run as one 2-D GEMM
        x2 = self.data.reshape(-1, self.shape[-1])              # (n', k)
        def backward(g):
            g2 = g.reshape(-1, g.shape[-1])                      # (n', m)
            if self.requires_grad:
                self._accum((g2 @ other.data.T).reshape(self.shape))
            if other.requires_grad:
                other._accum(x2.T @ g2)
        return self._make((x2 @ other.data).reshape(*self.shape[:-1], other.shape[-1]),
                          (self, other), backward)

    # ---- elementwise functions ----
    def relu(self):
        out = np.maximum(self.data, 0)
        return self._make(out, (self,), lambda g: self._accum(g * (out > 0)))

    def sigmoid(self):
        with np.errstate(over="ignore"):  # exp(-x) = inf for x < -88 (float32): out = 0, as it should
            out = 1 / (1 + np.exp(-self.data))
        return self._make(out, (self,), lambda g: self._accum(g * out * (1 - out)))

    def tanh(self):
        out = np.tanh(self.data)
        return self._make(out, (self,), lambda g: self._accum(g * (1 - out * out)))

    def exp(self):
        out = np.exp(self.data)
        return self._make(out, (self,), lambda g: self._accum(g * out))

    def log(self):
        return self._make(np.log(self.data), (self,), lambda g: self._accum(g / self.data))

    def softplus(self):
        """log(1 + exp(x)), computed stably as max(x, 0) + log1p(exp(-|x|))."""
        x = self.data
        out = np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))
        return self._make(out, (self,), lambda g: self._accum(g / (1 + np.exp(-x))))

    def clamp_min(self, lo):
        """max(x, lo); the gradient is zero where the floor is active (the KL's free bits)."""
        out = np.maximum(self.data, lo)
        return self._make(out, (self,), lambda g: self._accum(g * (self.data > lo)))

    # ---- reductions ----
    def sum(self, axis=None, keepdims=False):
        def backward(g):
            if axis is not None and not keepdims:
                g = np.expand_dims(g, axis)
            self._accum(np.broadcast_to(g, self.shape).copy())
        return self._make(np.asarray(self.data.sum(axis=axis, keepdims=keepdims)), (self,), backward)

    def mean(self, axis=None, keepdims=False):
        axes = range(self.ndim) if axis is None else np.atleast_1d(axis)
        n = np.prod([self.shape[a] for a in axes])
        return self.sum(axis, keepdims) * (1.0 / n)

    def logsumexp(self, axis=-1, keepdims=False):
        """log sum_j exp(x_j) = m + log sum_j exp(x_j - m), m = max_j x_j; gradient softmax(x)."""
        m = self.data.max(axis=axis, keepdims=True)
        e = np.exp(self.data - m)
        s = e.sum(axis=axis, keepdims=True)
        out = m + np.log(s)
        def backward(g):
            self._accum((g if keepdims else np.expand_dims(g, axis)) * (e / s))
        return self._make(out if keepdims else out.squeeze(axis), (self,), backward)

    # ---- shape ----
    def reshape(self, *shape):
        return self._make(self.data.reshape(*shape), (self,),
                          lambda g: self._accum(g.reshape(self.shape)))

    def transpose(self, *axes):
        inv = np.argsort(axes)
        return self._make(self.data.transpose(*axes), (self,),
                          lambda g: self._accum(g.transpose(*inv)))

    def __getitem__(self, idx):
        def backward(g):
            full = np.zeros_like(self.data)
            np.add.at(full, idx, g) if _is_fancy(idx) else full.__setitem__(idx, g)
            self._accum(full)
        return self._make(self.data[idx], (self,), backward)


def _is_fancy(idx):
    idx = idx if isinstance(idx, tuple) else (idx,)
    return any(isinstance(i, (list, np.ndarray)) for i in idx)


def _wrap(x, dtype):
    return x if isinstance(x, Tensor) else Tensor(np.asarray(x, dtype=dtype))


def tensor(data, requires_grad=False, dtype=np.float32):
    return Tensor(np.asarray(data, dtype=dtype), requires_grad)


def concat(tensors, axis=-1):
    """Concatenate along `axis`; the gradient is split back into the pieces."""
    sizes = np.cumsum([t.shape[axis] for t in tensors])[:-1]
    def backward(g):
        for t, gi in zip(tensors, np.split(g, sizes, axis=axis)):
            t._accum(gi)
    return tensors[0]._make(np.concatenate([t.data for t in tensors], axis=axis), tensors, backward)


# ---- layers (wrapping the forward/backward pairs of ops.py and lstm.py) ----

def conv2d(x, w, b, stride, relu=False):
    """x (N, H, W, C), w (k, k, C, F), b (F,) -> (N, H', W', F); no padding; relu: ReLU fused."""
    out, cache = ops.conv2d_forward(x.data, w.data, b.data, stride, relu)
    def backward(g):
        dx, dw, db = ops.conv2d_backward(g, cache, need_dx=x.requires_grad)
        x._accum(dx); w._accum(dw); b._accum(db)
    return x._make(out, (x, w, b), backward)


def conv_transpose2d(x, w, b, stride, relu=False):
    """x (N, H, W, C), w (C, k, k, F), b (F,) -> (N, (H-1)s+k, (W-1)s+k, F): the paper's deconv."""
    out, cache = ops.conv_transpose2d_forward(x.data, w.data, b.data, stride, relu)
    def backward(g):
        dx, dw, db = ops.conv_transpose2d_backward(g, cache, need_dx=x.requires_grad)
        x._accum(dx); w._accum(dw); b._accum(db)
    return x._make(out, (x, w, b), backward)


def lstm(x, h0, c0, wx, wh, b, reset=None, keep_h=None):
    """x (N, T, D), h0 c0 (N, H) -> hs (N, T, H), hT (N, H), cT (N, H). reset (N, T) 0/1 array
    zeroes the incoming state where an episode starts; keep_h (N, H) array, recurrent dropout.
    Gate order, layout and dropout: see lstm.py."""
    hs, hT, cT, cache = lstm_ops.lstm_forward(x.data, h0.data, c0.data, wx.data, wh.data, b.data,
                                              reset, keep_h)
    outs = [None, None, None]
    def backward(ghs):  # one backward for all three outputs: it reads hT's and cT's grads too
        dx, dh0, dc0, dwx, dwh, db = lstm_ops.lstm_backward(
            np.zeros_like(hs) if ghs is None else ghs, outs[1].grad, outs[2].grad, cache,
            need_dx=x.requires_grad)
        x._accum(dx); h0._accum(dh0); c0._accum(dc0); wx._accum(dwx); wh._accum(dwh); b._accum(db)
    outs[0] = x._make(hs, (x, h0, c0, wx, wh, b), backward)
    if not outs[0].requires_grad:
        return outs[0], Tensor(hT), Tensor(cT)
    # hT and cT hang off hs, so the reverse topological order reaches both before hs's backward
    for i, data in ((1, hT), (2, cT)):
        outs[i] = Tensor(data, True, (outs[0],))
        outs[i]._backward = lambda g: None
    return tuple(outs)


# ---- losses (per example; the caller takes the mean over the batch) ----

def squared_error(x, target, axis):
    """sum over `axis` of (x - target)^2."""
    return ((x - target) ** 2).sum(axis=axis)


def gaussian_kl(mu, logvar):
    """KL(N(mu, exp(logvar)) || N(0, I)) per row = -1/2 sum_j (1 + logvar_j - mu_j^2 - exp(logvar_j))."""
    return ((mu * mu) + logvar.exp() - logvar - 1.0).sum(axis=-1) * 0.5


def bce_with_logits(logits, y, pos_weight=1.0):
    """Bernoulli cross-entropy with logits, positives weighted:
    w(y) * [y * softplus(-x) + (1 - y) * softplus(x)],  w(y) = 1 + (pos_weight - 1) * y."""
    y = _wrap(y, logits.dtype)
    w = 1.0 + (pos_weight - 1.0) * y.data
    return ((-logits).softplus() * y + logits.softplus() * (1.0 - y)) * w
