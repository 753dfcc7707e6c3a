# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Chapter 6: C and CMA-ES
#
# **What this builds.** C, the controller (section 2.3, appendix A.3), and how it is trained:
# not by gradients but by an evolution strategy, CMA-ES (appendix A.4), that only needs the total
# reward of each candidate. C is deliberately tiny, a single layer: 867 parameters for CarRacing and 1088
# for Doom, so that almost all of the agent's complexity sits in V and M. It builds on chapter 4
# (M's state `h, c` is C's input) and chapter 5 (M's sampler drives the dream).
#
# **Plan.** (1) C written out for both tasks, equal to `minwm.controller`; (2) an evolution
# strategy in ten lines; (3) CMA-ES written out in forty, equal to the `cma` package to 1e-10 on
# an ill-conditioned quadratic, and its search ellipse adapting in 2-D; (4) one dream rollout
# written out step by step, equal to `minwm.dream`; (5) a short evolution of a Doom controller
# inside a dream, with M's weights random: a world with no meaning, but the exact machinery of
# the paper's DoomRNN experiment.
#
# **Running.** `python tutorials/06_cma_es.py` evolves at Doom's real sizes (z 64, LSTM 512,
# population 64 x 16 rollouts, 12 generations) in about five minutes on two cores;
# `MINWM_FAST=1` shrinks everything to seconds.
# Pictures and the evolved controller go to `tutorials/out/` (or `$MINWM_OUT`).
# Legend: N rollouts, Z latent, H LSTM units, A action size, P controller parameters.

# %%
import os
import time
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
# ## 1. The controller
#
# - CarRacing: $a = \tanh(W [z, h] + b)$, $W \in \mathbb R^{3 \times (32 + 256)}$, $b \in \mathbb R^3$:
#   $3 \cdot 288 + 3 = 867$ parameters;
# - Doom: $a = \tanh(w^\top [z, c, h])$, $w \in \mathbb R^{64 + 512 + 512}$, no bias (original
#   code): 1088 parameters.
#
# The paper's equation (section 2.3) has no tanh; the appendix adds it to bound the actions.
# CarRacing maps $a$ to steering $a_0 \in [-1, 1]$, gas $(a_1 + 1)/2$ and brake
# $\mathrm{clip}(a_2, 0, 1)$; Doom divides $[-1, 1]$ into thirds: left, stay, right. CMA-ES
# searches one flat vector `theta (P,)`, laid out `[W.ravel() (row-major), b]`.

# %%
from minwm import controller as C
from minwm.config import spec

CARRACING, DOOM = spec("carracing").controller, spec("doom").controller    # each env's own C (its spec)
CARRACING_Z, CARRACING_Z_HIDDEN = C.ablation(CARRACING, "z"), C.ablation(CARRACING, "z_hidden")


def carracing_act(theta, z, h):
    """theta (867,), z (N, 32), h (N, 256) -> a (N, 3) in [-1, 1]."""
    W, b = theta[:3 * 288].reshape(3, 288), theta[3 * 288:]
    return np.tanh(np.concatenate([z, h], axis=1) @ W.T + b)


def carracing_env_action(a):
    return np.stack([a[:, 0], (a[:, 1] + 1) / 2, np.clip(a[:, 2], 0, 1)], axis=1)


def doom_act(theta, z, c, h):
    """theta (1088,), z (N, 64), c, h (N, 512) -> a (N, 1)."""
    return np.tanh(np.concatenate([z, c, h], axis=1) @ theta)[:, None]


def doom_env_action(a):
    return np.where(a[:, 0] < -1 / 3, -1, np.where(a[:, 0] > 1 / 3, 1, 0))  # left, stay, right


print(f"parameters: CarRacing {C.n_params(CARRACING)}, Doom {C.n_params(DOOM)} (ablations: z only "
      f"{C.n_params(CARRACING_Z)}, z + hidden layer {C.n_params(CARRACING_Z_HIDDEN)})")
assert C.n_params(CARRACING) == 867 and C.n_params(DOOM) == 1088

N = 50
z, h, c = rng.standard_normal((N, 32)), rng.standard_normal((N, 256)), None
theta = rng.standard_normal(867) * 0.1
a = carracing_act(theta, z, h)
d1 = np.abs(a - C.act(CARRACING, theta, z, h)).max()
assert np.allclose(carracing_env_action(a), C.env_action(CARRACING, a), atol=1e-6)  # float32 actions
z, c, h = rng.standard_normal((N, 64)), rng.standard_normal((N, 512)), rng.standard_normal((N, 512))
theta = rng.standard_normal(1088) * 0.05
a = doom_act(theta, z, c, h)
d2 = np.abs(a - C.act(DOOM, theta, z, h, c)).max()
assert np.array_equal(doom_env_action(a), C.env_action(DOOM, a))
print(f"ours vs minwm.controller: CarRacing {d1:.1e}, Doom {d2:.1e}; Doom actions "
      f"left/stay/right = {np.bincount(doom_env_action(a) + 1, minlength=3).tolist()}")
assert d1 < 1e-12 and d2 < 1e-12

# %% [markdown]
# ## 2. Evolution strategies: ask, evaluate, tell
# An evolution strategy keeps a search distribution $\mathcal N(m, \sigma^2 C)$ over $\theta$.
# Each generation it **asks** for a population of $\lambda$ candidates, we evaluate each (here:
# the total reward of some rollouts, no gradient needed), and it is **told** the results and
# moves the distribution towards the better ones. The simplest version moves the mean to the
# average of the best quarter and keeps $\sigma$ and $C = I$ fixed:

# %%
def simple_es(f, x0, sigma, popsize, generations, rng):
    """Minimise f with a (mu/mu, lambda)-ES of fixed step size; returns the best f per generation."""
    m, best = np.array(x0, float), []
    for _ in range(generations):
        xs = m + sigma * rng.standard_normal((popsize, len(m)))    # ask   (popsize, P)
        fs = np.array([f(x) for x in xs])                          # evaluate
        m = xs[np.argsort(fs)[:popsize // 4]].mean(axis=0)         # tell: mean of the best quarter
        best.append(fs.min())
    return best


# %% [markdown]
# ## 3. CMA-ES, written out
# CMA-ES (Hansen, *The CMA Evolution Strategy: A Tutorial*, arXiv:1604.00772, its algorithm
# summary) runs the same loop but also adapts $\sigma$ (grow while steps point the same way,
# shrink near an optimum) and $C$ (learn which directions are worth stepping in). One generation
# of the $(\mu/\mu_w, \lambda)$-CMA-ES, minimising $f$ in $n$ dimensions, generation $g = 1, 2, \dots$:
#
# - **sample** $x_i = m + \sigma y_i$, $y_i \sim \mathcal N(0, C)$, $i = 1 \dots \lambda$; sort by
#   $f$, best first: $x_{1:\lambda}, \dots$, and $y_{i:\lambda} = (x_{i:\lambda} - m) / \sigma$;
# - **recombine** $m' = \sum_{i=1}^{\mu} w_i x_{i:\lambda}$, $\mu = \lfloor\lambda/2\rfloor$,
#   $w_i \propto \ln\frac{\lambda+1}{2} - \ln i$, $\sum_i w_i = 1$, $\mu_\mathrm{eff} = 1 / \sum_i w_i^2$;
# - **step size** (cumulation path $p_\sigma$, in the coordinates where $C = I$):
#   $p_\sigma \leftarrow (1-c_\sigma) p_\sigma +
#   \sqrt{c_\sigma(2-c_\sigma)\mu_\mathrm{eff}}\, C^{-1/2}\frac{m'-m}{\sigma}$,
#   $\sigma \leftarrow \sigma \exp\Big(\frac{c_\sigma}{d_\sigma}
#   \big(\frac{\lVert p_\sigma\rVert}{\mathbb E\lVert\mathcal N(0,I)\rVert} - 1\big)\Big)$
#   (a path longer than a random walk's means steps agree: grow $\sigma$);
# - **covariance** (path $p_c$ for the rank-one update, the $\mu$ best steps for the rank-$\mu$ update):
#   $p_c \leftarrow (1-c_c) p_c + h_\sigma\sqrt{c_c(2-c_c)\mu_\mathrm{eff}}\,\frac{m'-m}{\sigma}$,
#   $C \leftarrow (1 - c_1' - c_\mu) C + c_1 p_c p_c^\top +
#   c_\mu \sum_{i=1}^{\mu} w_i y_{i:\lambda} y_{i:\lambda}^\top$,
#   with $c_1' = c_1\big(1 - (1-h_\sigma) c_c (2-c_c)\big)$.
#
# $h_\sigma$ stalls $p_c$ while $p_\sigma$ is long (just after $\sigma$ was too small), so $C$ does
# not stretch along a step that $\sigma$ will cover anyway. The constants are `cma`'s (read from
# its source, version 4): $c_c = \frac{4 + \mu_\mathrm{eff}/n}{n + 4 + 2\mu_\mathrm{eff}/n}$,
# $c_\sigma = \min\big(\frac12, \frac{\mu_\mathrm{eff}+2}{n+\mu_\mathrm{eff}+3}\big)$,
# $c_1 = \frac{2\min(1, \lambda/6)}{(n+1.3)^2 + \mu_\mathrm{eff}}$,
# $c_\mu = \min\big(1 - c_1,
# \frac{2(\mu_\mathrm{eff} - 2 + 1/\mu_\mathrm{eff} + 1/4)}{(n+2)^2 + \mu_\mathrm{eff}}\big)$,
# $d_\sigma = 1 + 2\max\big(0, d\sqrt{\frac{\mu_\mathrm{eff}-1}{n+1}} - 1\big) + c_\sigma$ with
# $d = \max(1, 3(1 - 2^{-n/9}))$, and $h_\sigma = 1$ iff
# $\frac{\lVert p_\sigma\rVert^2}{n(1 - (1-c_\sigma)^{2g})} < 2 + \frac{4}{n+1}$. The tutorial's
# differ slightly ($+5$ in $c_\sigma$, no $\min(1, \lambda/6)$, $d = 1$, a test on
# $\lVert p_\sigma\rVert$); `cma` also clips the exponent of the $\sigma$ update to $\pm 1$ and
# starts from $C = \mathrm{diag}(e^{10^{-4} i / n})$, a tilt that keeps the eigenvalues distinct.

# %%
import math


class CMAES:
    """(mu/mu_w, lambda)-CMA-ES, minimising; the formulas above with cma's constants."""

    def __init__(self, x0, sigma0, popsize):
        n, lam = len(x0), popsize
        self.n, self.lam, self.mu = n, lam, lam // 2
        w = np.log((lam + 1) / 2) - np.log(np.arange(1, self.mu + 1))         # (mu,) decreasing
        self.w = w / w.sum()
        self.mueff = mueff = 1 / np.sum(self.w ** 2)
        self.cc = (4 + mueff / n) / (n + 4 + 2 * mueff / n)
        self.cs = min(0.5, (mueff + 2) / (n + mueff + 3))
        self.c1 = min(1, lam / 6) * 2 / ((n + 1.3) ** 2 + mueff)
        self.cmu = min(1 - self.c1, 2 * (mueff - 2 + 1 / mueff + 0.25) / ((n + 2) ** 2 + mueff))
        d = max(1, 3 * (1 - 0.5 ** (n / 9)))
        self.damps = 1 + 2 * max(0, d * math.sqrt((mueff - 1) / (n + 1)) - 1) + self.cs
        self.chi_n = math.sqrt(2) * math.exp(math.lgamma((n + 1) / 2) - math.lgamma(n / 2))  # E|N(0, I)|
        self.m, self.sigma, self.g = np.array(x0, float), float(sigma0), 0
        self.C = np.diag(np.exp(1e-4 / n * np.arange(n)))                     # (n, n)
        self.p_sigma, self.p_c = np.zeros(n), np.zeros(n)

    def ask(self, rng):                                                        # -> (lam, n)
        D2, B = np.linalg.eigh(self.C)                                         # C = B diag(D2) B^T
        return self.m + self.sigma * (rng.standard_normal((self.lam, self.n)) * np.sqrt(D2)) @ B.T

    def tell(self, xs, fs):
        n, self.g = self.n, self.g + 1
        y = (np.asarray(xs)[np.argsort(fs)[:self.mu]] - self.m) / self.sigma   # (mu, n) best first
        step = self.w @ y                                                      # (m' - m) / sigma
        self.m = self.m + self.sigma * step
        D2, B = np.linalg.eigh(self.C)
        self.p_sigma = ((1 - self.cs) * self.p_sigma
                        + math.sqrt(self.cs * (2 - self.cs) * self.mueff) * (B / np.sqrt(D2)) @ B.T @ step)
        h = self.h_sigma = np.sum(self.p_sigma ** 2) / (n * (1 - (1 - self.cs) ** (2 * self.g))) < 2 + 4 / (n + 1)
        self.p_c = (1 - self.cc) * self.p_c + h * math.sqrt(self.cc * (2 - self.cc) * self.mueff) * step
        c1a = self.c1 * (1 - (1 - h) * self.cc * (2 - self.cc))
        self.C = ((1 - c1a - self.cmu) * self.C + self.c1 * np.outer(self.p_c, self.p_c)   # rank one
                  + self.cmu * (self.w * y.T) @ y)                                         # rank mu
        s = self.cs / self.damps * (np.linalg.norm(self.p_sigma) / self.chi_n - 1)
        self.sigma *= math.exp(min(1.0, max(-1.0, s)))


# %% [markdown]
# We check it against `cma`, the package `minwm.evolve` uses, told the *same* solutions: `cma`'s
# `ask` samples, and both are told those candidates and their values. For `cma` to run the plain
# algorithm written above we switch off active CMA (`CMA_active=False`: by default `cma` also
# *subtracts* the worst steps from $C$) and make it decompose $C$ every generation
# (`updatecovwait=0`; by default it waits $1/(10 n (c_1 + c_\mu))$ generations, under one here).
# Mirrored sampling only starts below a population of 6. The test function is an ill-conditioned
# quadratic, $f(x) = \sum_i 10^{4 i/(P-1)} (x_i - 1)^2$: axis scales 1 to 100.
# `cma` *minimises*: to maximise a reward we will tell it $-$reward, the one sign flip.

# %%
import cma

P = 10
scales = 10.0 ** (4 * np.arange(P) / (P - 1))
f = lambda x: float(np.sum(scales * (np.asarray(x) - 1.0) ** 2))
generations = 60 if FAST else 150
es = cma.CMAEvolutionStrategy(np.zeros(P), 0.1, {"popsize": 16, "verbose": -9, "CMA_active": False,
                                                 "updatecovwait": 0, "randn": np.random.RandomState(1).randn})
ours = CMAES(np.zeros(P), 0.1, 16)
best_cma, worst, stalls = [], 0.0, 0
for g in range(generations):
    xs = es.ask()                                                  # list of popsize arrays (P,)
    fs = [f(x) for x in xs]
    es.tell(xs, fs)
    ours.tell(xs, fs)
    best_cma.append(min(fs))
    stalls += not ours.h_sigma
    worst = max(worst, np.abs(ours.m - es.mean).max(), abs(ours.sigma / es.sigma - 1),
                np.abs(ours.C - es.C).max() / np.abs(es.C).max())
print(f"ours vs cma over {generations} generations ({stalls} of them with h_sigma = 0): mean, sigma "
      f"and C agree to {worst:.1e}; mu_eff {ours.mueff:.2f}, c_c {ours.cc:.3f}, c_sigma {ours.cs:.3f}, "
      f"c_1 {ours.c1:.4f}, c_mu {ours.cmu:.4f}, d_sigma {ours.damps:.3f}")
assert worst < 1e-10 and 0 < stalls < generations                  # both branches of h_sigma checked
best_simple = simple_es(f, np.zeros(P), 0.1, 16, generations, np.random.default_rng(1))
print(f"best f after {generations} generations of 16: simple ES {best_simple[-1]:.2e}, CMA-ES "
      f"{best_cma[-1]:.2e}; sigma {ours.sigma:.3g}, eigenvalues of C from "
      f"{np.linalg.eigvalsh(ours.C)[0]:.2g} to {np.linalg.eigvalsh(ours.C)[-1]:.2g}")
assert best_cma[-1] < best_simple[-1]
if plt is not None:
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    ax.semilogy(best_simple, label="simple ES (fixed sigma, C = I)")
    ax.semilogy(best_cma, label="CMA-ES (ours = cma, active off)")
    ax.set(xlabel="generation", ylabel="best f in the population", title=f"ill-conditioned quadratic, P = {P}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(OUT / "06_cma_quadratic.png", dpi=100)
    plt.close(fig)

# %% [markdown]
# The search distribution in 2-D, on a narrow valley tilted by 30 degrees: left, the ellipse
# $\{m + \sigma C^{1/2} u : \lVert u\rVert = 1\}$ over the first generations; right, its two
# axis lengths $\sigma\sqrt{\lambda_{1,2}(C)}$. First $C$ turns and stretches along the valley,
# then both axes shrink together as $\sigma$ falls near the optimum, their ratio near the
# valley's 10:1.

# %%
R = np.array([[np.cos(np.pi / 6), -np.sin(np.pi / 6)], [np.sin(np.pi / 6), np.cos(np.pi / 6)]])
x_opt = np.array([3.0, 2.0])
f2 = lambda x: float(np.sum(np.array([1.0, 100.0]) * (R.T @ (np.asarray(x) - x_opt)) ** 2))
es2, r2, ellipses, axes_len = CMAES(np.zeros(2), 0.5, 8), np.random.default_rng(2), [], []
circle = np.stack([np.cos(np.linspace(0, 2 * np.pi, 100)), np.sin(np.linspace(0, 2 * np.pi, 100))])  # (2, 100)
for g in range(61):
    D2, B = np.linalg.eigh(es2.C)
    axes_len.append(es2.sigma * np.sqrt(D2))
    if g in (0, 3, 6, 9, 12, 18):
        ellipses.append((g, es2.m[:, None] + es2.sigma * (B * np.sqrt(D2)) @ circle))
    xs = es2.ask(r2)
    es2.tell(xs, [f2(x) for x in xs])
D2, B = np.linalg.eigh(es2.C)
print(f"2-D: after 60 generations m = {np.round(es2.m, 4)}, C's eigenvalue ratio {D2[1] / D2[0]:.0f} "
      f"(the valley's 100), long axis at {np.degrees(np.arctan2(B[1, 1], B[0, 1])) % 180:.1f} degrees (30)")
assert np.allclose(es2.m, x_opt, atol=1e-3) and 30 < D2[1] / D2[0] < 300 and abs(B[:, 1] @ R[:, 0]) > 0.99
if plt is not None:
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 4.2))
    g1, g2 = np.meshgrid(np.linspace(-1.5, 5, 200), np.linspace(-1.5, 4, 200))
    ax.contour(g1, g2, np.vectorize(lambda a, b: f2((a, b)))(g1, g2), levels=np.geomspace(0.1, 300, 8),
               colors="lightgray", linewidths=0.8)
    for (g, e), colour in zip(ellipses, plt.cm.viridis(np.linspace(0, 0.9, len(ellipses)))):
        ax.plot(*e, color=colour, label=f"generation {g}")
    ax.plot(*x_opt, "r*", ms=10, label="optimum")
    ax.set(xlabel=r"$\theta_1$", ylabel=r"$\theta_2$", aspect="equal", title=r"$m + \sigma C^{1/2} u$, $|u| = 1$")
    ax.legend(fontsize=7, loc="upper left")
    ax2.semilogy(np.array(axes_len))
    ax2.legend([r"short axis $\sigma\sqrt{\lambda_1(C)}$", r"long axis $\sigma\sqrt{\lambda_2(C)}$"], fontsize=8)
    ax2.set(xlabel="generation", ylabel="axis length", title="the ellipse's axes")
    fig.tight_layout()
    fig.savefig(OUT / "06_cma_ellipses.png", dpi=100)
    plt.close(fig)

# %% [markdown]
# ## 4. The dream, one rollout written out
# DoomRNN (section 4): C never sees the game, only M's hallucination. Per rollout:
#
# - reset: $z_0 \sim \mathcal N(\mu, e^{\log\sigma^2})$ of a recorded episode's first frame,
#   $h_0 = c_0 = 0$, restart $= 1$;
# - step: $a_t = C(z_t, c_t, h_t)$; $(h_{t+1}, c_{t+1}) = \mathrm{LSTM}([z_t, a_t, \mathrm{restart}_t], h_t, c_t)$
#   (M, chapter 4); $z_{t+1} \sim$ M's mixture at temperature $\tau$ (chapter 5); reward $+1$;
#   done if the done logit is $> 0$ ($p > 0.5$, not sampled) or $t + 1 = 2100$.
#
# Here M's weights are random (`minwm.infer.random_mdnrnn_arrays`), so this world means nothing,
# but it has the right shapes and rules. Two changes make it a world where a controller matters:
# the action's input weights are scaled up, so that the action steers M's state, and the done
# head is made rare at first (a negative bias) but sensitive to that state. M is fed the action
# the environment acted on, left / stay / right as -1 / 0 / +1.
# We write one rollout with the NumPy twins of the kernels (`lstm_step_numpy`,
# `mdn_sample_numpy`, checked in chapters 4 and 5) and the same random draws, in the same order,
# as `minwm.dream.dream`; the two must agree.

# %%
from minwm import infer
from minwm.dream import DreamConfig, dream, dream_population
from minwm.kernels import lstm_step_numpy, mdn_sample_numpy

Z, H = (16, 64) if FAST else (64, 512)                              # Doom: 64, 512
arrays = infer.random_mdnrnn_arrays(Z, 1, H, np.random.default_rng(2), restart=True, done=True)
arrays["lstm.wx"][Z] *= 30.0                                         # the action's row: a_t matters
arrays["mdn.w"][:, -1] *= 4.0                                        # done logit: sensitive to h ...
arrays["mdn.b"][-1] = -2.0                                           # ... but rare at first
M = infer.mdnrnn_from_arrays(arrays)
ccfg = C.ControllerConfig(nz=Z, hidden=H, na=1, inputs="zch", bias=False, env="doom")
n_params = C.n_params(ccfg)
starts = np.random.default_rng(3)
mu0 = starts.standard_normal((50, Z)).astype(np.float32)             # "recorded" first frames (E, Z)
logvar0 = np.full((50, Z), -2.0, np.float32)
dcfg = DreamConfig(tau=1.15, max_steps=300 if FAST else 2100)


def dream_one(theta, seed):
    """One rollout, step by step -> reward, zs (T + 1, Z)."""
    r = np.random.default_rng(seed)
    e = r.integers(len(mu0), size=1)
    z = mu0[e] + np.exp(0.5 * logvar0[e]) * r.standard_normal((1, Z), dtype=np.float32)   # (1, Z)
    h = c = np.zeros((1, H), np.float32)
    restart, zs = np.ones(1, bool), [z[0]]
    for t in range(dcfg.max_steps):
        a = np.tanh(np.concatenate([z, c, h], axis=1) @ theta)[:, None]         # C: (1, 1)
        a_env = doom_env_action(a).astype(np.float32)[:, None]                   # -1, 0, +1
        x = np.concatenate([z, a_env, restart[:, None]], axis=1)                 # [z, a, restart]
        h, c = lstm_step_numpy(x, h, c, restart, M.wx, M.wh, M.b)                # M's LSTM
        u, eps = r.random((1, Z), dtype=np.float32), r.standard_normal((1, Z), dtype=np.float32)
        z, done_logit = mdn_sample_numpy(h @ M.w_mdn, M.b_mdn, Z, M.k, dcfg.tau, u, eps)  # M's head
        zs.append(z[0])
        restart[:] = False
        if done_logit[0] > 0:
            return t + 1, np.array(zs)
    return dcfg.max_steps, np.array(zs)


theta = (np.random.default_rng(4).standard_normal(n_params) * 0.05).astype(np.float32)
reward, zs = dream_one(theta, seed=5)
rewards_lib, zs_lib = dream(M, ccfg, theta[None], mu0, logvar0, dcfg, np.random.default_rng(5), record=True)
d = np.abs(zs - zs_lib[0, :len(zs)]).max()
print(f"one rollout: reward {reward} (ours) vs {rewards_lib[0]:.0f} (minwm.dream); max z difference {d:.1e}")
assert reward == rewards_lib[0] and d < 1e-3

# %% [markdown]
# ## 5. Evolving a Doom controller in the dream
# The paper: CMA-ES with a population of 64, each candidate's fitness the mean reward of 16
# rollouts (appendix A.4); every 25 generations it took "the best performing agent" and scored
# it over 1024 rollouts (the experiments' text). The original code starts from `theta = 0` with
# `sigma0 = 0.1` and scores the **CMA mean** $m$ instead of the best candidate. Where the two differ minwm follows the
# code by default (`evolve.keep=mean`); `evolve.keep=best` is the paper's choice. From here on
# `cma` does the work with its defaults, as in `minwm.evolve` (so active CMA is on).
# `dream_population` runs all 64 x 16 rollouts as one batch, each row with its own controller,
# with the Numba kernels of chapters 4 and 5 doing the pointwise work; dead rollouts leave the batch.

# %%
# the paper's population and rollouts in full mode; far fewer generations, evaluated more often
pop, n_rollouts, gens, eval_every, eval_rollouts = (16, 8, 12, 4, 128) if FAST else (64, 16, 12, 4, 1024)
es = cma.CMAEvolutionStrategy(np.zeros(n_params), 0.1, {"popsize": pop, "verbose": -9,
                                                        "randn": np.random.RandomState(1).randn})
dream_rng = np.random.default_rng(6)
curve, evals = [], []
t0 = time.perf_counter()
for g in range(1, gens + 1):
    thetas = np.asarray(es.ask())                                            # (pop, P)
    rewards = dream_population(M, ccfg, thetas, n_rollouts, mu0, logvar0, dcfg, dream_rng)  # (pop, rollouts)
    fitness = rewards.mean(axis=1)
    es.tell(list(thetas), list(-fitness))                                    # maximise: the sign flip
    curve.append((fitness.max(), fitness.mean(), fitness.min()))
    line = (f"generation {g:3d}: best {fitness.max():7.1f}  mean {fitness.mean():7.1f}  "
            f"worst {fitness.min():7.1f}  sigma {es.sigma:.3f}  {time.perf_counter() - t0:6.1f} s")
    if g % eval_every == 0:
        scores = dream(M, ccfg, es.mean.astype(np.float32), mu0, logvar0, dcfg, dream_rng, count=eval_rollouts)
        evals.append((g, scores.mean()))
        line += f"  | CMA mean over {eval_rollouts} rollouts: {scores.mean():.1f} +- {scores.std():.1f}"
    print(line)

baseline = {name: dream(M, ccfg, th, mu0, logvar0, dcfg, np.random.default_rng(7), count=eval_rollouts).mean()
            for name, th in [("theta = 0 (always stay)", np.zeros(n_params, np.float32)),
                             ("a random controller", (rng.standard_normal(n_params) * 0.1).astype(np.float32))]}
for name, score in baseline.items():
    print(f"for comparison, {name}: {score:.1f}")
from minwm import formats  # controller.npz's format: theta and its ControllerConfig

formats.save_controller(OUT / "06_controller.npz", ccfg, es.mean, generation=gens, where="dream",
                        score=float(evals[-1][1]), rollouts=eval_rollouts)
assert formats.read_controller(OUT / "06_controller.npz")[0] == ccfg
assert curve[-1][1] > curve[0][1]                                          # the population improved
if plt is not None:
    fig, ax = plt.subplots(figsize=(6, 3.8))
    ax.plot(np.arange(1, gens + 1), np.array(curve), label=["best", "mean", "worst"])
    ax.plot(*zip(*evals), "ro-", label=f"CMA mean, {eval_rollouts} rollouts")
    ax.axhline(baseline["theta = 0 (always stay)"], color="gray", ls=":", label="theta = 0")
    ax.set(xlabel="generation", ylabel=f"steps survived in the dream (tau {dcfg.tau})",
           title=f"CMA-ES in a random DoomRNN, Z = {Z}, H = {H}, P = {n_params}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(OUT / "06_dream_evolution.png", dpi=100)
    plt.close(fig)

# %% [markdown]
# ## Summary
# - C is one tanh layer: 867 parameters (CarRacing, `[z, h]` + bias) or 1088 (Doom,
#   `[z, c, h]`, no bias); its output is mapped to the game's actions.
# - Evolution strategies need only the reward: ask for candidates, evaluate, tell. CMA-ES also
#   adapts its step size (path $p_\sigma$) and covariance (path $p_c$, rank-one and rank-$\mu$
#   updates); our forty lines equal `cma` with active CMA off to 1e-10, generation after generation.
# - The dream is M's step rules with C in the loop; our step-by-step rollout equals
#   `minwm.dream.dream`, which runs a whole population x rollouts as one batch.
# - With random M weights the world is meaningless, but the evolution runs as in the paper:
#   population 64, 16 rollouts; the CMA mean scored separately (the original code's choice).
#
# ## Exercises
# 1. Run the quadratic with the simple ES at `sigma = 0.03` and `0.3`: why does neither fix
#    its problem, while CMA-ES needs no tuning?
# 2. Switch parts of CMA-ES off on the quadratic: `cma`'s options `CMA_rankmu=0` (no rank-$\mu$
#    update), `CMA_rankone=0` (no rank-one update) and `CMA_on=0` (no covariance adaptation at
#    all, only $\sigma$). Which part does this problem need most?
# 3. Write the CarRacing ablation "z + hidden layer" (40 tanh units, 1443 parameters) out in
#    NumPy and check it against `minwm.controller.act` with `CARRACING_Z_HIDDEN`.
#
# Solutions: `tutorials/solutions/06_cma_es.py`.
