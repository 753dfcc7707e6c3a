"""Adam against its formula, convergence, clipping, the schedule hook and resuming."""
import numpy as np

from minwm import parallel
from minwm.autograd import tensor
from minwm.optim import Adam, clip_grad_norm, clip_grad_value


def test_adam_matches_formula_and_resumes():
    rng = np.random.default_rng(0)
    p0 = rng.standard_normal(5)
    p = tensor(p0.copy(), True, np.float64)
    opt = Adam([p], lr=0.1)
    m = v = np.zeros(5)
    ref = p0.copy()
    for t in range(1, 4):
        g = rng.standard_normal(5)
        p.grad = g.copy()
        opt.step()
        m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g * g
        ref -= 0.1 * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
        np.testing.assert_allclose(p.data, ref, rtol=1e-12)
    # a fresh optimiser loaded from the state continues identically
    q = tensor(p.data.copy(), True, np.float64)
    opt2 = Adam([q], lr=0.5)
    opt2.load_state_dict(opt.state_dict())
    g = rng.standard_normal(5)
    p.grad, q.grad = g.copy(), g.copy()
    opt.step(); opt2.step()
    np.testing.assert_array_equal(p.data, q.data)


def test_adam_over_threads_equals_one_thread(monkeypatch):
    """Adam's elements split over the cores (parts cut across parameters): the very same update."""
    rng = np.random.default_rng(1)
    shapes = [(7, 3), (1,), (40,), (2, 2, 2)]
    p0, grads = [rng.standard_normal(s) for s in shapes], [rng.standard_normal(s) for s in shapes]
    result = []
    for k in (1, 3):
        monkeypatch.setattr(parallel, "parts", lambda k=k: k)
        ps = [tensor(a.copy(), True, np.float64) for a in p0]
        opt = Adam(ps, lr=0.1)
        for _ in range(2):
            for p, g in zip(ps, grads):
                p.grad = g
            opt.step()
        result.append([p.data for p in ps])
    for a, b in zip(*result):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(result[0][0], p0[0])


def test_adam_minimises_a_quadratic_with_schedule():
    x = tensor(np.array([3.0, -2.0]), True, np.float64)
    lrs = []
    opt = Adam([x], lr=0.1, lr_schedule=lambda t: lrs.append(max(0.1 * 0.99 ** t, 1e-3)) or lrs[-1])
    for _ in range(500):
        opt.zero_grad()
        ((x - np.array([1.0, 0.5])) ** 2).sum().backward()
        opt.step()
    np.testing.assert_allclose(x.data, [1.0, 0.5], atol=1e-3)
    assert opt.lr == lrs[-1] and lrs[0] == 0.1 * 0.99 and lrs[-1] == 1e-3


def test_clipping():
    a, b = tensor(np.zeros(3), True, np.float64), tensor(np.zeros(2), True, np.float64)
    a.grad, b.grad = np.array([3.0, -0.5, -4.0]), np.array([0.2, 2.0])
    clip_grad_value([a, b], 1.0)
    np.testing.assert_array_equal(a.grad, [1.0, -0.5, -1.0])
    np.testing.assert_array_equal(b.grad, [0.2, 1.0])
    a.grad, b.grad = np.array([3.0, 0.0, 0.0]), np.array([0.0, 4.0])
    assert np.isclose(clip_grad_norm([a, b], 1.0), 5.0)
    np.testing.assert_allclose(np.sqrt((a.grad ** 2).sum() + (b.grad ** 2).sum()), 1.0, rtol=1e-5)
    np.testing.assert_allclose(a.grad / b.grad[1], [0.75, 0, 0])  # direction kept
