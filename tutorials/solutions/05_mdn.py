# %% [markdown]
# # Solutions to chapter 5: M, the mixture density head
# `python tutorials/solutions/05_mdn.py`; `MINWM_FAST=1` uses fewer samples and training steps.

# %%
import os

import numpy as np

from minwm import kernels, mdnrnn
from minwm.autograd import no_grad
from minwm.optim import Adam, clip_grad_value

FAST = os.environ.get("MINWM_FAST") == "1"
rng = np.random.default_rng(0)
K = 5
y1 = np.zeros((1, 3 * K), np.float32)                            # one dimension's mixture, Z = 1
y1[0, :K] = [2.0, 0.5, 0.0, -1.0, 1.0]                           # logits
y1[0, K:2 * K] = [-2.0, 0.0, 1.5, 3.0, -4.0]                     # mu
y1[0, 2 * K:] = np.log([0.4, 0.3, 0.3, 0.5, 0.6])                # logsigma
b0 = np.zeros(3 * K, np.float32)


def samples(tau, n):
    z, d = np.empty((n, 1), np.float32), np.empty(n, np.float32)
    kernels.mdn_sample(np.repeat(y1, n, 0), b0, 1, K, tau, rng.random((n, 1), dtype=np.float32),
                       rng.standard_normal((n, 1), dtype=np.float32), z, d)
    return z[:, 0]


# %% [markdown]
# ## Exercise 1: the limits of tau
# As tau -> 0, `softmax(logits / tau)` puts all weight on the largest logit and
# `sigma sqrt(tau) -> 0`: every sample is that component's mean (-2.0 here). As tau grows the
# weights tend to uniform (1/K each), and the components widen as sqrt(tau).

# %%
z = samples(1e-4, 1000)
print(f"tau 1e-4: samples in [{z.min():.4f}, {z.max():.4f}], the most likely component's mean is -2.0")
assert np.allclose(z, -2.0, atol=0.05)
for tau in (1.0, 10.0, 1000.0):
    logpi = kernels.mdn_head(y1, 1, K, tau)[0][0, 0]
    print(f"tau {tau:6}: pi = {np.round(np.exp(logpi), 3)}")
assert np.allclose(np.exp(kernels.mdn_head(y1, 1, K, 1000.0)[0]), 1 / K, atol=1e-2)

# %% [markdown]
# ## Exercise 2: the mixture's variance at tau = 1.15

# %%
tau = 1.15
logpi, mu, logsigma, _ = kernels.mdn_head(y1.astype(np.float64), 1, K, tau)  # sigma already x sqrt(tau)
pi, mu, var = np.exp(logpi[0, 0]), mu[0, 0], np.exp(2 * logsigma[0, 0])
mean = np.sum(pi * mu)
variance = np.sum(pi * (var + mu ** 2)) - mean ** 2
z = samples(tau, 50_000 if FAST else 1_000_000)
print(f"variance: formula {variance:.4f}, samples {z.var():.4f}")
assert abs(z.var() - variance) < 0.05 * variance

# %% [markdown]
# ## Exercise 3: one Gaussian against five in the two-futures world
# The chapter's two-futures world and training. With K = 1 the best M can do is a wide Gaussian
# centred between the two futures; its NLL stays well above the mixture's.

# %%
def episodes(n, T, r):
    z, a = np.zeros((n, T + 1, 1), np.float32), r.uniform(-1, 1, (n, T, 1)).astype(np.float32)
    for t in range(T):
        z[:, t + 1] = 0.5 * z[:, t] + a[:, t] + r.choice([-1.0, 1.0], (n, 1)) + 0.05 * r.standard_normal((n, 1))
    return z, a


steps = 150 if FAST else 1500                                  # the chapter's
held_out = {}
for k in (1, 5):
    cfg = mdnrnn.MDNRNNConfig(nz=1, na=1, hidden=32, k=k)
    p = mdnrnn.init_params(cfg, np.random.default_rng(1))
    opt, r = Adam(p.values(), lr=3e-3), np.random.default_rng(2)
    for _ in range(steps):
        loss = mdnrnn.loss(p, cfg, *episodes(32, 20, r))[0]
        opt.zero_grad()
        loss.backward()
        clip_grad_value(p.values(), 1.0)
        opt.step()
    with no_grad():
        z_loss = mdnrnn.loss(p, cfg, *episodes(256, 20, np.random.default_rng(3)))[1]
    held_out[k] = z_loss
    print(f"K = {k}: held-out z_loss {z_loss:.3f}")
assert held_out[5] < held_out[1] - 0.1                       # the mixture fits both futures
