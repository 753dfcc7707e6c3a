# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Chapter 8: learning inside the dream (Doom, and the toy world)
#
# **What this builds.** The paper's second experiment (section 4): in VizDoom's Take Cover the
# agent must dodge fireballs, and C is trained **entirely inside M's dream**, never seeing the
# real game until it is tested there. M therefore also predicts whether the agent dies, and the
# dream has a temperature $\tau$ that makes it harder than the real world. It builds on chapter 5
# (M's mixture and $\tau$), chapter 6 (C, CMA-ES and a first dream with random weights) and
# chapter 7 (the pipeline, M's training loop, the agent's step).
#
# **Plan.** (1) a trained V, M and C; (2) the dream's rules as a diagram, then written out for
# one rollout and checked against `minwm.dream.dream(record=True)`; (3) the role of $\tau$: one
# controller's dream score at four temperatures; (4) a dream decoded through V, as a GIF and
# as strips beside the real game; (5) transfer: the dream-trained C in the real game, beside
# its dream score and a random policy's, and why the two scores differ.
#
# **Running.** `MINWM_FAST=1 python tutorials/08_doom_dream.py` trains V, M and C on the toy
# world (`minwm/toy.py`, a small Take Cover: dodge the falling blocks) at its `default` preset
# in a temporary directory, about a minute on two cores; C never sees the real game while it
# learns, and there it survives 85.8 +- 61.9 steps over 100 episodes against a random
# policy's 26.0 +- 13.5 (`bench/results/toy.txt`). `python tutorials/08_doom_dream.py` uses the
# Take Cover weights shipped in `minwm/weights/doom/` (V, M, the recorded first frames and the
# evolved C, `results/doom-default/README.md`): expect 793.8 +- 509.2 steps over the 100 real
# trials and about 1,340 in the dream, in a few minutes on two cores. `MINWM_RUN=runs/doom-default`
# uses a finished run of yours instead. Pictures go to `tutorials/out/` (or `$MINWM_OUT`).
# Legend: N rollouts, T time, Z latent, H LSTM units, K mixture components, E recorded episodes.

# %%
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

FAST = os.environ.get("MINWM_FAST") == "1"
OUT = Path(os.environ.get("MINWM_OUT") or
           (Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()) / "out")
OUT.mkdir(parents=True, exist_ok=True)
# The pipeline's worker pools start fresh Python processes (multiprocessing "spawn"), and each
# first re-runs the main script unless its body sits under `if __name__ == "__main__":`. A
# chapter has no such block, so the script forgets its own path, as a notebook has none.
globals().pop("__file__", None)
try:                                   # matplotlib is optional: without it the plots are skipped
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    plt = None

# %% [markdown]
# ## 1. A trained V, M and C
# The Doom pipeline is chapter 7's, with three differences set by the environment's spec: V has
# 64 latents and M 512 units (appendix A.2); M is also fed a restart flag on each episode's first
# frame and outputs a "done" logit, trained on where the recorded episodes ended; and `evolve`
# runs in the dream (`evolve.in_dream`), starting each dream from the recorded first frames of
# the random-policy episodes, which `encode` stores beside the series (`formats.read_starts`
# reads them). The toy world has the same three (at 16 latents and 64 units).

# %%
from minwm import collect, config, encode, evaluate, evolve, formats, infer, show, train_rnn, train_vae

RUN = os.environ.get("MINWM_RUN")
SHIPPED = show.SHIPPED / "doom"
WEIGHTS = ("vae.npz", "mdnrnn.npz", "series.npz", "controller.npz")
scratch, source = None, "toy"
if not FAST and RUN and (Path(RUN) / "controller.npz").exists():
    source = "run"
    cfg = config.override(config.from_json((Path(RUN) / "config.json").read_text()), [f"run_dir={RUN}"])
elif not FAST and all((SHIPPED / name).exists() for name in WEIGHTS):
    source = "shipped"
    cfg = config.preset("doom", "default", run_dir=str(OUT / "08_doom-shipped"))
    cfg.path.mkdir(parents=True, exist_ok=True)
    for name in WEIGHTS:                          # evaluate writes beside the weights: a copy
        if not (cfg.path / name).exists():
            shutil.copy(SHIPPED / name, cfg.path / name)
else:
    if not FAST:
        print(f"No trained Doom weights found (none shipped in {SHIPPED}, MINWM_RUN not set).\n"
              f"To get them: `minwm run doom` then `minwm iterate doom` (results/doom-default), and run "
              f"this chapter with MINWM_RUN=runs/doom-default. Falling back to the toy world.")
    scratch = Path(tempfile.mkdtemp(prefix="minwm-08-"))
    cfg = config.preset("toy", "default", run_dir=str(scratch / "toy-default"))
    STAGES = [("collect", collect.main, "rollouts"), ("train-vae", train_vae.main, "vae.npz"),
              ("encode", encode.main, "series.npz"), ("train-rnn", train_rnn.main, "mdnrnn.npz"),
              ("evolve", evolve.main, "controller.npz")]
    for name, stage, output in STAGES:          # evaluate comes in section 5
        if (cfg.path / output).exists() and name != "collect":
            continue
        t0 = time.perf_counter()
        stage(cfg)
        print(f"[{name}] {time.perf_counter() - t0:.1f} s")

V = infer.load_vae(cfg.path / "vae.npz")
M = infer.load_mdnrnn(cfg.path / "mdnrnn.npz")
ccfg, theta, info = formats.read_controller(cfg.path / "controller.npz")
mu0, logvar0 = formats.read_starts(cfg.path / "series.npz")             # (E, Z) first frames
Z, H, K = M.nz, M.hidden, M.k
spec = config.spec(cfg.env)                                             # the game's facts
print(f"{spec.title}, weights: {source} ({cfg.path}); V Z = {Z}, M H = {H}, K = {K}, restart input "
      f"{M.restart}, done output {M.done}; {len(mu0)} recorded first frames")
print(f"C: inputs [{', '.join(ccfg.inputs)}], {len(theta)} parameters, bias {ccfg.bias}; its dream "
      f"score when saved: {info.get('score', float('nan')):.1f} over {info.get('rollouts')} rollouts "
      f"at generation {info.get('generation')}")

# %% [markdown]
# ## 2. The dream's rules, one rollout written out
# In the dream, M takes the game's place: V is needed only to start it (the recorded first
# frames) and to look at it (section 4). The loop, as a picture:

# %%
if plt is not None:
    from diagrams import box_diagram  # tutorials/diagrams.py: boxes and arrows
    box_diagram({"recorded\nfirst frame": (1.0, 3.2, "#dddddd"), "C (controller)": (4.0, 3.2, "#cceecc"),
                 "M's LSTM": (7.6, 3.2, "#eeccaa"), "M's mixture\nat tau": (7.6, 0.8, "#eeccaa"),
                 "done logit > 0 ?\nreward +1": (4.0, 0.8, "#ffeeaa"), "end:\nreward = steps": (1.0, 0.8, "#dddddd")},
                [("recorded\nfirst frame", "C (controller)", "z_0", 0), ("C (controller)", "M's LSTM", "a_t", 0),
                 ("M's LSTM", "M's mixture\nat tau", "h_t+1", 0), ("M's mixture\nat tau", "C (controller)", "z_t+1", 0),
                 ("M's mixture\nat tau", "done logit > 0 ?\nreward +1", "", 0),
                 ("done logit > 0 ?\nreward +1", "end:\nreward = steps", "yes", 0),
                 ("M's LSTM", "C (controller)", "h, c", 0.3)],
                OUT / "08_dream_diagram.png", "the dream (DoomRNN): M in the game's place, no frames", fontsize=9)

# %% [markdown]
# DoomRNN (the original's virtual environment), for one rollout:
#
# - **reset**: pick a recorded episode $e$; $z_0 = \mu_0[e] + e^{\log\sigma_0^2[e] / 2}\,\epsilon$;
#   $(h, c) = 0$; restart $= 1$ on the first step only.
# - **step**: $a_t = \tanh(w \cdot [z_t, c_t, h_t])$, carried out as $-1$ ($a < -1/3$), $+1$
#   ($a > 1/3$) or $0$: left, right, stay. M's LSTM on $[z_t, \bar a_t, \text{restart}_t]$ (gate
#   order $i, f, g, o$) gives $h_{t+1}$; its head $y = h_{t+1} W + b$ gives, per dimension $j$,
#   $K$ logits, means and log-sigmas, at temperature $\tau$:
#
# $$\pi_{jk} = \operatorname{softmax}_k\!\big(\text{logit}_{jk} / \tau\big),\qquad
#   k_j \sim \pi_{j\cdot},\qquad z_{t+1, j} = \mu_{jk_j} + \sigma_{jk_j}\sqrt{\tau}\,\epsilon_j$$
#
# - reward $+1$; done if $y$'s done logit $> 0$ ($p > 0.5$: a cut-off, not a coin flip), or at
#   the game's step cap (Take Cover 2,100; the toy 200).
#
# The reward is the number of steps survived, the step that ends the dream included. We draw the
# same random numbers in the same order as `minwm.dream.dream` (the episode, $\epsilon$ for $z_0$,
# then per step uniforms for the component and normals for $z$), so the two must agree step by
# step.

# %%
from minwm.dream import DreamConfig, dream, dream_frames

MAX_STEPS = spec.steps(cfg.evolve.max_steps)                            # Take Cover 2100, the toy 200
sig = lambda x: 1.0 / (1.0 + np.exp(-x))


def dream_one(theta, tau, seed):
    """One dream rollout -> reward, zs (T + 1, Z), the done logits (T,)."""
    r = np.random.default_rng(seed)
    e = r.integers(len(mu0), size=1)
    z = mu0[e] + np.exp(0.5 * logvar0[e]) * r.standard_normal((1, Z), dtype=np.float32)  # (1, Z)
    h = c = np.zeros((1, H), np.float32)
    zs, logits_done = [z[0]], []
    for t in range(MAX_STEPS):
        a = np.tanh(np.concatenate([z, c, h], axis=1) @ theta)                 # C, no bias (1,)
        a_env = np.where(a < -1 / 3, -1.0, np.where(a > 1 / 3, 1.0, 0.0))      # left, stay, right
        x = np.concatenate([z, a_env[:, None], [[1.0 if t == 0 else 0.0]]], axis=1).astype(np.float32)
        gates = x @ M.wx + h @ M.wh + M.b                                      # M's LSTM (1, 4H)
        i, f, g, o = np.split(gates, 4, axis=1)
        c = sig(f) * c + sig(i) * np.tanh(g)
        h = sig(o) * np.tanh(c)
        y = (h @ M.w_mdn + M.b_mdn)[0]                                         # M's head (3ZK + 1,)
        logits = y[:Z * K].reshape(Z, K) / tau
        mu, logsigma = y[Z * K:2 * Z * K].reshape(Z, K), y[2 * Z * K:3 * Z * K].reshape(Z, K)
        u = r.random((1, Z), dtype=np.float32)[0]
        eps = r.standard_normal((1, Z), dtype=np.float32)[0]
        cdf = np.cumsum(np.exp(logits - logits.max(axis=1, keepdims=True)), axis=1)   # (Z, K)
        k = np.minimum((cdf <= u[:, None] * cdf[:, -1:]).sum(axis=1), K - 1)  # inverse CDF
        j = np.arange(Z)
        z = (mu[j, k] + np.exp(logsigma[j, k]) * np.sqrt(tau) * eps)[None].astype(np.float32)
        zs.append(z[0])
        logits_done.append(y[3 * Z * K])
        if y[3 * Z * K] > 0:                                                   # done: p > 0.5
            return t + 1, np.array(zs), np.array(logits_done)
    return MAX_STEPS, np.array(zs), np.array(logits_done)


tau = 1.15
for seed in range(3):
    reward, zs, done_logits = dream_one(theta, tau, seed)
    rewards_lib, zs_lib = dream(M, ccfg, theta[None], mu0, logvar0, DreamConfig(tau, MAX_STEPS),
                                np.random.default_rng(seed), record=True)
    d = np.abs(zs - zs_lib[0, :len(zs)]).max()
    ended = f"done logit {done_logits[-1]:+.2f} at the last step" if reward < MAX_STEPS else "reached the cap"
    print(f"seed {seed}: survived {reward} steps (ours) vs {rewards_lib[0]:.0f} (minwm.dream), {ended}; "
          f"max done logit before {done_logits[:-1].max() if reward > 1 else float('nan'):+.2f}; "
          f"max z difference {d:.1e}")
    assert reward == rewards_lib[0] and d < 1e-3 and np.isnan(zs_lib[0, len(zs):]).all()

# %% [markdown]
# ## 3. The role of tau
# $\tau$ flattens the mixture weights (logits $/ \tau$) and widens every Gaussian
# ($\sigma\sqrt\tau$): at $\tau < 1$ the dream follows M's most likely futures, at $\tau > 1$ it is
# more random than the data M was trained on. A controller trained at low $\tau$ can learn to
# exploit M's quirks (the paper found agents that moved so that M never produced fireballs) and
# then fails in the real game; a higher $\tau$ makes the dream harder and such tricks
# unreliable. The paper's table (section 4.4), dream and real scores of C trained at each $\tau$:
#
# | $\tau$ | 0.10 | 0.50 | 1.00 | 1.15 | 1.30 |
# |---|---|---|---|---|---|
# | dream | 2086 +- 140 | 2060 +- 277 | 1145 +- 690 | 918 +- 546 | 732 +- 269 |
# | real game | 193 +- 58 | 196 +- 50 | 868 +- 511 | 1092 +- 556 | 753 +- 139 |
#
# Here one controller, the evolved one, is scored in dreams at four temperatures.

# %%
TAUS = (0.5, 1.0, 1.15, 1.5)
n_rollouts = 256 if source == "toy" else 1024
dream_scores = {}
for t_ in TAUS:
    t0 = time.perf_counter()
    s = dream(M, ccfg, theta, mu0, logvar0, DreamConfig(t_, MAX_STEPS), np.random.default_rng(0),
              count=n_rollouts)
    dream_scores[t_] = s
    print(f"tau {t_:4.2f}: dream score {s.mean():7.1f} +- {s.std():6.1f} over {n_rollouts} rollouts, "
          f"{(s == MAX_STEPS).mean():4.0%} reach the {MAX_STEPS}-step cap ({time.perf_counter() - t0:.1f} s)")
if plt is not None:
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    ax.boxplot([dream_scores[t_] for t_ in TAUS], showmeans=True)
    ax.set_xticks(range(1, len(TAUS) + 1), [f"τ = {t_}" for t_ in TAUS])
    ax.set_xlabel("dream temperature")
    ax.axhline(MAX_STEPS, color="gray", ls=":", label=f"the {MAX_STEPS}-step cap")
    ax.set_ylabel("steps survived in the dream")
    ax.set_title(f"{spec.title}: one controller, {n_rollouts} dreams per temperature ({source})", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(OUT / "08_tau.png", dpi=100)
    plt.close(fig)

# %% [markdown]
# ## 4. Looking at a dream
# Each dreamed $z$ decodes through V's decoder to a frame: what M imagines the agent would see.
# A GIF of one dream at $\tau = 1.15$, and strips of every few frames: the agent in the real
# game (top) and dreams at three temperatures from the same random stream (below). With
# trained Doom weights the walls, monsters and fireballs appear, and at $\tau = 1.5$ they
# flicker in and out; in the toy's dream the blocks fall and the paddle moves.

# %%
from minwm.agent import episode

limit = 600                                                             # frames in the GIF
reward, zs, _ = dream_one(theta, 1.15, seed=1)
show.save_gif(dream_frames(V, zs[:limit]), OUT / "08_dream.gif")
print(f"08_dream.gif: {min(len(zs), limit)} of the {len(zs)} frames of a dream that survived {reward} steps")

env = spec.make(spec.steps(cfg.evaluate.max_steps))
try:
    real = episode(env, V, M, ccfg, theta, seed=cfg.evaluate.seed, record=True)
finally:
    env.close()
every, n_frames = (4 if MAX_STEPS > 1000 else 2), 12
rows = [real["frames"][:every * n_frames:every]]
for t_ in (0.5, 1.15, 1.5):
    _, zs_t = dream(M, ccfg, theta, mu0, logvar0, DreamConfig(t_, MAX_STEPS), np.random.default_rng(3),
                    count=1, record=True)
    rows.append(dream_frames(V, zs_t[0, :every * n_frames:every]))
strip = np.full((len(rows) * 68, n_frames * 68, 3), 255, np.uint8)
for i, row in enumerate(rows):
    for j, f in enumerate(row):
        strip[i * 68 + 2:i * 68 + 66, j * 68 + 2:j * 68 + 66] = f
Image.fromarray(strip).resize((strip.shape[1] * 2, strip.shape[0] * 2), Image.NEAREST).save(
    OUT / "08_dream_strip.png")
print(f"08_dream_strip.png: the real game ({len(real['frames'])} steps survived), then dreams at "
      f"tau 0.5, 1.15, 1.5; every {every}th frame")

# %% [markdown]
# ## 5. Transfer to the real game
# The controller never saw a real frame during evolution. `evaluate` plays it in the real game
# over 100 consecutive trials, each a new seed; beside it, the random policy that collected the
# data, on the same seeds (Take Cover: 205.8 +- 95.0, `bench/results/envs.txt`; paper 210 +-
# 108). The dream and the game need not agree, and how they disagree says what M got wrong:
#
# - **The paper**: 918 +- 546 in the dream at $\tau = 1.15$, 1092 +- 556 in the game. Its dream
#   was *harder* than the game: at $\tau > 1$ M throws more and stranger fireballs than Doom does.
# - **minwm's shipped agent** (`results/doom-default/README.md`): 1,340.8 +- 707.8 in the dream
#   (1,024 dreams at $\tau = 1.15$), 793.8 +- 509.2 in the game. Its dream is *kinder* than the
#   game, late in an episode: M learnt from random-policy episodes, which end after ~200 steps,
#   and from three rounds of the agent's own (chapter 9), so it has the least data where a good
#   agent spends most of its time. Share of episodes still alive after 500 / 800 / 1,200 / 1,600
#   steps: dream 0.86 / 0.71 / 0.59 / 0.48, game 0.69 / 0.45 / 0.19 / 0.09. C learnt to survive
#   M's idea of the late game, which is milder than the real one.
#
# - **The toy** goes the other way: about 38 in the dream, 86 in the game. Its M learnt from
#   random episodes that end after 26 steps on average, so it expects blocks to hit soon, and
#   C's skill at dodging them is what it has never seen: a dream can err on either side.
#
# So a dream score is an estimate with a bias of M's making; only the real game measures C.

# %%
if not (cfg.path / "evaluate.json").exists():
    evaluate.main(cfg)
result = json.loads((cfg.path / "evaluate.json").read_text())
real_scores = np.array([e["score"] for e in result["episodes"]])
trained_tau = dream_scores.get(cfg.evolve.tau)                          # C's own temperature
if trained_tau is None:
    trained_tau = dream(M, ccfg, theta, mu0, logvar0, DreamConfig(cfg.evolve.tau, MAX_STEPS),
                        np.random.default_rng(0), count=n_rollouts)
print(f"in the dream (tau {cfg.evolve.tau}): {trained_tau.mean():.1f} +- {trained_tau.std():.1f}; "
      f"in the real game: {result['mean']:.1f} +- {result['std']:.1f} over {result['trials']} trials")
assert len(real_scores) == cfg.evaluate.trials and (real_scores >= 1).all()
shown = {f"dream, τ = {cfg.evolve.tau}": trained_tau, "real game": real_scores}
if source == "toy":                             # the random policy on the same seeds (Doom: quoted)
    env = spec.make(spec.steps(cfg.evaluate.max_steps))
    rand = np.array([collect.rollout(env, spec.explore, int(cfg.evaluate.seed + i))["rewards"].sum()
                     for i in range(cfg.evaluate.trials)])
    env.close()
    se = np.sqrt(real_scores.var(ddof=1) / len(real_scores) + rand.var(ddof=1) / len(rand))
    print(f"random policy, same seeds: {rand.mean():.1f} +- {rand.std():.1f}; C / random = "
          f"{real_scores.mean() / rand.mean():.2f}x, {(real_scores.mean() - rand.mean()) / se:.1f} standard errors")
    assert real_scores.mean() > 1.5 * rand.mean() and real_scores.mean() - rand.mean() > 4 * se
    shown["random policy, real game"] = rand
if plt is not None:
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    bins = np.linspace(0, MAX_STEPS, 30)
    for name, x in shown.items():
        ax.hist(x, bins=bins, alpha=0.5, weights=np.full(len(x), 1 / len(x)),
                label=f"{name}: {x.mean():.0f} ± {x.std():.0f} ({len(x)})")
    ax.set_xlabel(spec.score)
    ax.set_ylabel("share of episodes")
    ax.set_title(f"{spec.title}: the dream-trained C in its dream and in the real game", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(OUT / "08_transfer.png", dpi=100)
    plt.close(fig)
if scratch is not None:
    shutil.rmtree(scratch)

# %% [markdown]
# ## Summary
# - For Doom (and the toy), M also predicts death (a done logit) and takes a restart flag; C
#   reads $[z, c, h]$ with no bias (1088 parameters at the paper's sizes).
# - The dream starts from a recorded first frame, steps C -> M's LSTM -> M's mixture at
#   temperature $\tau$, pays +1 per step and ends when the done logit is positive or at the
#   game's cap; ours equals `minwm.dream.dream` step for step.
# - $\tau$ trades an easy, exploitable dream (low $\tau$) for a hard, noisy one (high $\tau$).
# - The dream score is biased by what M got wrong: the paper's dream was harder than its game
#   (918 vs 1092), the shipped agent's is kinder late in an episode (1,341 vs 794); only the
#   real game measures C. On the toy, C trained only in the dream clearly beats the random policy.
#
# ## Exercises
# 1. The paper ends a dream when `p(done) > 0.5` rather than sampling death with probability p,
#    "more stable" it says. Dream both ways with the same M and controller and compare the mean
#    and spread of the scores.
# 2. Work out the variance of one z dimension under M's mixture at temperature tau, and check it
#    against samples from `minwm.kernels.mdn_sample_numpy` at tau 0.5, 1 and 1.5.
# 3. CMA-ES ranks candidates by their mean over 16 dreams. Every few generations the original
#    code re-scores the CMA mean over 1,024 dreams and keeps it if it beats the best so far
#    (`evolve.keep=mean`, minwm's default); the paper says it kept the best-performing agent
#    (`evolve.keep=best`). How noisy is a 16-dream mean compared with the difference between two
#    candidates, and what does that say about keeping a generation's best candidate?
#
# Solutions: `tutorials/solutions/08_doom_dream.py`.
