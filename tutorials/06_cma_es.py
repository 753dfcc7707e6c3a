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
# not by gradients but by an evolution strategy, CMA-ES, that only needs the total reward of
# each candidate. C is deliberately tiny, a single layer: 867 parameters for CarRacing and 1088
# for Doom, so that almost all of the agent's complexity sits in V and M. It builds on chapter 4
# (M's state `h, c` is C's input) and chapter 5 (M's sampler drives the dream).
#
# **Plan.** (1) C written out for both tasks, equal to `minwm.controller`; (2) an evolution
# strategy in ten lines, then CMA-ES's ask/tell with `cma` on an ill-conditioned quadratic;
# (3) one dream rollout written out step by step, equal to `minwm.dream`; (4) a short evolution
# of a Doom controller inside a dream, with M's weights random: a world with no meaning, but the
# exact machinery of the paper's DoomRNN experiment.
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
#     CarRacing   a = tanh(W [z, h] + b)       W (3, 32 + 256), b (3,)     3 * 288 + 3 = 867
#     Doom        a = tanh(w . [z, c, h])      w (64 + 512 + 512,), no bias (original code) = 1088
#
# The paper's equation has no tanh; the appendix adds it to bound the actions. CarRacing maps
# `a` to steering `a0` in [-1, 1], gas `(a1 + 1) / 2` and brake `clip(a2, 0, 1)`; Doom divides
# [-1, 1] into thirds: left, stay, right. CMA-ES searches one flat vector `theta (P,)`, laid out
# `[W.ravel() (row-major), b]`.

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
# An evolution strategy keeps a search distribution `N(m, sigma^2 C)` over theta. Each generation
# it **asks** for a population of candidates, we evaluate each (here: total reward of some
# rollouts, no gradient needed), and it is **told** the results and moves the distribution
# towards the better ones. The simplest version moves the mean to the average of the best
# quarter and keeps `sigma` and `C = I` fixed:

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
# CMA-ES (Hansen) does the same loop, but also adapts `sigma` (grow while progress is steady,
# shrink near an optimum) and the covariance `C` (learn which directions are worth stepping in),
# which matters when the parameters are badly scaled relative to each other. An ill-conditioned
# quadratic shows it: `f(x) = sum_i 10^(4 i / (P-1)) (x_i - 1)^2`, axis scales 1 to 100.
# `cma` does the real work; the loop is the same ask / tell. `cma` *minimises*: to maximise a
# reward we tell it `-reward`, the one sign flip, in one place.

# %%
import cma

P = 10
scales = 10.0 ** (4 * np.arange(P) / (P - 1))
f = lambda x: float(np.sum(scales * (np.asarray(x) - 1.0) ** 2))
generations = 60 if FAST else 150

best_simple = simple_es(f, np.zeros(P), 0.1, 16, generations, np.random.default_rng(1))
es = cma.CMAEvolutionStrategy(np.zeros(P), 0.1, {"popsize": 16, "seed": 1, "verbose": -9})
best_cma = []
for g in range(generations):
    xs = es.ask()                                                  # list of popsize arrays (P,)
    fs = [f(x) for x in xs]
    es.tell(xs, fs)
    best_cma.append(min(fs))
print(f"after {generations} generations of 16: simple ES best f = {best_simple[-1]:.2e}, "
      f"CMA-ES best f = {best_cma[-1]:.2e}; CMA mean {np.round(es.mean, 3)}")
assert best_cma[-1] < best_simple[-1]
if plt is not None:
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    ax.semilogy(best_simple, label="simple ES (fixed sigma, C = I)")
    ax.semilogy(best_cma, label="CMA-ES (cma)")
    ax.set_xlabel("generation")
    ax.set_ylabel("best f in the population")
    ax.set_title("ill-conditioned quadratic, P = 10")
    ax.legend()
    fig.tight_layout()
    fig.savefig(OUT / "06_cma_quadratic.png", dpi=100)
    plt.close(fig)

# %% [markdown]
# ## 3. The dream, one rollout written out
# DoomRNN (appendix, "DoomRNN"): C never sees the game, only M's hallucination. Per rollout:
#
#     reset  z_0 ~ N(mu, exp(logvar)) of a recorded episode's first frame; (h, c) = 0; restart = 1
#     step   a_t = C(z_t, c_t, h_t)
#            h_{t+1}, c_{t+1} = LSTM([z_t, a_t, restart_t], h_t, c_t)                 (M, chapter 4)
#            z_{t+1} ~ M's mixture at temperature tau                                  (chapter 5)
#            reward +1; done if the done logit > 0 (p > 0.5, not sampled) or t + 1 = 2100
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
# ## 4. Evolving a Doom controller in the dream
# The paper's recipe (appendix A.3 and the original code): CMA-ES from `theta = 0` with
# `sigma0 = 0.1`, a population of 64, fitness = mean reward of 16 rollouts; every 25 generations
# the **CMA mean** (not the best individual) is scored over 1024 rollouts (the original code;
# the paper's text keeps "the best performing agent": `evolve.keep=best` in minwm, whose default
# `evolve.keep=mean` follows the code). `dream_population`
# runs all 64 x 16 rollouts as one batch, each row with its own controller, with the Numba
# kernels of chapters 4 and 5 doing the pointwise work; rollouts that die leave the batch.

# %%
# the paper's population and rollouts in full mode; far fewer generations, evaluated more often
pop, n_rollouts, gens, eval_every, eval_rollouts = (16, 8, 12, 4, 128) if FAST else (64, 16, 12, 4, 1024)
es = cma.CMAEvolutionStrategy(np.zeros(n_params), 0.1, {"popsize": pop, "seed": 1, "verbose": -9})
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
    curve = np.array(curve)
    gen = np.arange(1, len(curve) + 1)
    ax.plot(gen, curve[:, 0], label="best")
    ax.plot(gen, curve[:, 1], label="mean")
    ax.plot(gen, curve[:, 2], label="worst")
    ax.plot(*zip(*evals), "ro-", label=f"CMA mean, {eval_rollouts} rollouts")
    ax.axhline(baseline["theta = 0 (always stay)"], color="gray", ls=":", label="theta = 0")
    ax.set_xlabel("generation")
    ax.set_ylabel(f"steps survived in the dream (tau {dcfg.tau})")
    ax.set_title(f"CMA-ES in a random DoomRNN, Z = {Z}, H = {H}, P = {n_params}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(OUT / "06_dream_evolution.png", dpi=100)
    plt.close(fig)

# %% [markdown]
# ## Summary
# - C is one tanh layer: 867 parameters (CarRacing, `[z, h]` + bias) or 1088 (Doom,
#   `[z, c, h]`, no bias); its output is mapped to the game's actions.
# - Evolution strategies need only the reward: ask for candidates, evaluate, tell. CMA-ES also
#   adapts its step size and covariance, which a fixed-sigma ES cannot.
# - The dream is M's step rules with C in the loop; our step-by-step rollout equals
#   `minwm.dream.dream`, which runs a whole population x rollouts as one batch.
# - With random M weights the world is meaningless, but the evolution runs exactly as in the
#   paper: population 64, 16 rollouts, the CMA mean scored separately.
#
# ## Exercises
# 1. Run the quadratic with the simple ES at `sigma = 0.03` and `0.3`: why does neither fix
#    its problem, while CMA-ES needs no tuning?
# 2. Evolve the dream controller at `tau = 0.5` and at `tau = 1.5` and score each evolved
#    controller at the other temperature. Which transfers better? (The paper: agents trained at
#    higher tau did better in the real game.)
# 3. Write the CarRacing ablation "z + hidden layer" (40 tanh units, 1443 parameters) out in
#    NumPy and check it against `minwm.controller.act` with `CARRACING_Z_HIDDEN`.
#
# Solutions: `tutorials/solutions/06_cma_es.py`.
