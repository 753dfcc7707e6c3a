"""Adam, gradient clipping (by value, as the original M training; by global norm) and a
learning-rate schedule hook."""
import numpy as np
from numba import njit

from minwm import parallel


@njit(cache=True, fastmath=True, nogil=True)
def _adam_kernel(p, g, m, v, lr, b1, b2, eps, c1, c2):
    # One fused pass over a parameter (flattened), in the parameter's own precision: the NumPy
    # version makes ~10 passes and as many temporaries, 30 ms a step for V's 4.4M parameters.
    # Each core takes one part of all the parameters' elements (minwm.parallel).
    T = p.dtype.type
    b1, b2, eps = T(b1), T(b2), T(eps)
    step, inv_c2 = T(lr / c1), T(1 / c2)   # lr * m_hat = (lr / c1) m;  v_hat = v / c2
    for j in range(p.size):
        m[j] = b1 * m[j] + (T(1) - b1) * g[j]
        v[j] = b2 * v[j] + (T(1) - b2) * g[j] * g[j]
        p[j] -= step * m[j] / (np.sqrt(v[j] * inv_c2) + eps)


class Adam:
    """Adam (Kingma & Ba): m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
    p -= lr * m_hat / (sqrt(v_hat) + eps), with bias corrections m_hat = m / (1 - b1^t), v_hat likewise.

    lr_schedule: optional callable step -> learning rate (e.g. the Doom M's x0.99999 decay to 1e-5),
    evaluated before each step; otherwise `lr` stays fixed. `state_dict`/`load_state_dict` make a
    run resumable.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, lr_schedule=None):
        self.params = list(params)
        self.lr, self.b1, self.b2, self.eps = lr, betas[0], betas[1], eps
        self.lr_schedule = lr_schedule
        self.t = 0
        self.m = [np.zeros_like(p.data) for p in self.params]
        self.v = [np.zeros_like(p.data) for p in self.params]

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def step(self):
        self.t += 1
        if self.lr_schedule is not None:
            self.lr = self.lr_schedule(self.t)
        c1, c2 = 1 - self.b1 ** self.t, 1 - self.b2 ** self.t
        flat = [[a.reshape(-1) for a in (p.data, np.ascontiguousarray(p.grad, p.data.dtype), m, v)]
                for p, m, v in zip(self.params, self.m, self.v) if p.grad is not None]
        sizes = np.cumsum([0] + [f[0].size for f in flat])            # offsets in all elements

        def update(part):                                             # elements [start, stop)
            for (p, g, m, v), lo, hi in zip(flat, sizes[:-1], sizes[1:]):
                a, b = max(part.start, lo) - lo, min(part.stop, hi) - lo
                if a < b:
                    _adam_kernel(p[a:b], g[a:b], m[a:b], v[a:b], self.lr, self.b1, self.b2,
                                 self.eps, c1, c2)
        parallel.run(update, parallel.slices(int(sizes[-1]), parallel.parts()))

    def state_dict(self):
        state = {"t": np.array(self.t), "lr": np.array(self.lr)}
        for i, (m, v) in enumerate(zip(self.m, self.v)):
            state[f"m{i}"], state[f"v{i}"] = m, v
        return state

    def load_state_dict(self, state):
        self.t, self.lr = int(state["t"]), float(state["lr"])
        for i in range(len(self.params)):
            self.m[i][...], self.v[i][...] = state[f"m{i}"], state[f"v{i}"]


def clip_grad_value(params, clip):
    """Clip every gradient element into [-clip, clip] (the original MDN-RNN: clip 1.0)."""
    for p in params:  # new arrays, not in place: one gradient array may be shared by two nodes
        if p.grad is not None:
            p.grad = np.clip(p.grad, -clip, clip)


def clip_grad_norm(params, max_norm):
    """Scale all gradients so their global L2 norm is at most max_norm; returns the norm before."""
    params = [p for p in params if p.grad is not None]
    norm = float(np.sqrt(sum(float(np.vdot(p.grad, p.grad)) for p in params)))
    if norm > max_norm:
        for p in params:
            p.grad = p.grad * (max_norm / (norm + 1e-6))
    return norm
