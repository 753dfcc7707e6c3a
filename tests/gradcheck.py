"""Finite-difference gradient checks, float64 only (CS231n style per element; HIPS/autograd
`check_vjp` style along one random direction for full-size layers)."""
import numpy as np

from minwm.autograd import no_grad


def rel_error(a, b):
    """max |a - b| relative to the largest entry: elementwise relative error would flag the
    finite-difference noise (~1e-10) on entries whose gradient is nearly zero."""
    return float(np.max(np.abs(a - b)) / max(1e-12, np.max(np.abs(a) + np.abs(b))))


def numerical_grad(f, t, h=1e-6):
    """Centred differences of the scalar f() with respect to every element of Tensor t."""
    g = np.zeros_like(t.data)
    it = np.nditer(t.data, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = t.data[i]
        t.data[i] = old + h
        with no_grad():
            fp = float(f().data)
        t.data[i] = old - h
        with no_grad():
            fm = float(f().data)
        t.data[i] = old
        g[i] = (fp - fm) / (2 * h)
    return g


def check_grads(f, tensors, tol=1e-7):
    """Assert analytic == numerical gradient, per element, for each Tensor in `tensors`."""
    for t in tensors:
        t.grad = None
    f().backward()
    analytic = [t.grad.copy() for t in tensors]
    for t, g in zip(tensors, analytic):
        num = numerical_grad(f, t)
        err = rel_error(g, num)
        assert err < tol, f"gradient of {t} off: relative error {err:.2e}"


def check_direction(f, tensors, rng, eps=1e-5, tol=1e-6):
    """One random direction u: <grad f, u> == (f(p + eps u) - f(p - eps u)) / (2 eps).

    Two forward passes per check, so real 64x64 layer sizes are affordable."""
    for t in tensors:
        t.grad = None
    f().backward()
    us = [rng.standard_normal(t.shape) for t in tensors]
    analytic = sum(float(np.vdot(t.grad, u)) for t, u in zip(tensors, us))
    def shifted(s):
        for t, u in zip(tensors, us):
            t.data += s * u
        with no_grad():
            v = float(f().data)
        for t, u in zip(tensors, us):
            t.data -= s * u
        return v
    numeric = (shifted(eps) - shifted(-eps)) / (2 * eps)
    err = abs(analytic - numeric) / max(1e-8, abs(analytic) + abs(numeric))
    assert err < tol, f"directional derivative off: {analytic} vs {numeric} (rel {err:.2e})"
