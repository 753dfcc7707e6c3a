# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Chapter 7: CarRacing end to end
#
# **What this builds.** The paper's first experiment (section 3): V, M and C together, driving in
# the real `CarRacing` environment, with C evolved by CMA-ES on the real task's reward; and the
# paper's ablations, which show what M's state `h` adds. It builds on every chapter so far: V
# (chapter 3), the LSTM and M's mixture head (chapters 4 and 5), C and CMA-ES (chapter 6). From
# here on the parts are no longer written from scratch: they are the library's pipeline stages,
# each a `main(cfg)`, run on real frames.
#
# **Plan.** (1) the real environment and the frames V sees: the crop and the antialiased resize
# written out, a picture; (2) the whole pipeline (collect, train V, encode, train M, evolve C,
# evaluate) in one run directory; (3) one step of the agent, V -> C -> M, written out in NumPy
# and checked against `minwm.infer.agent_step` along a real episode, with what V and M make of
# the frames; (4) the ablations: C on `z` only (99 parameters) and on `z` through a 40-unit
# hidden layer (1443); (5) a histogram of scores over trials in the real environment.
#
# **Running.** `MINWM_FAST=1 python tutorials/07_carracing.py` runs the pipeline at the `tiny`
# preset in a temporary directory (about a minute; the agent then barely drives: 2 generations
# of 4 candidates). `python tutorials/07_carracing.py` runs the `default` preset in
# `tutorials/out/07_carracing-default` (about 1.5 hours on two cores, then about 45 minutes for
# the two ablations; every stage checkpoints and resumes when run again), or reuses a finished
# run if `MINWM_RUN` names one (e.g. `MINWM_RUN=runs/carracing-default` after
# `minwm run carracing`). Pictures go to `tutorials/out/` (or `$MINWM_OUT`).
# Legend: N batch, T time, Z latent, H LSTM units, A action size, K mixture components.

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
try:                                   # matplotlib is optional: without it the histogram is skipped
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    plt = None
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. The real environment and V's frames
# `minwm.carracing.CarRacing` wraps gymnasium's `CarRacing-v3`: a random track of N tiles,
# 1000 steps, actions (steer in [-1, 1], gas in [0, 1], brake in [0, 1]), reward -0.1 per frame
# and +1000/N for every tile visited for the first time. A frame is 96x96x3; the bottom 12 rows
# are an indicator bar (speed, steering), which the original code cropped away before resizing
# to V's 64x64:
#
#     frame = resize(obs[0:84], 64 x 64)       antialiased: a triangle filter as wide as the reduction
#
# PIL's bilinear resize, when it shrinks an image, widens its triangle filter by the reduction
# factor (84/64 down, 96/64 across), so each output pixel averages every input pixel it covers.
# It runs as two 1-D passes (across, then down), each in 22-bit fixed point and rounded to
# uint8. Written out with the same arithmetic it matches byte for byte; with float weights it
# would be off by one on a few values.

# %%
from minwm.carracing import CROP_ROWS, CarRacing, process_frame

BITS = 22                                                            # PIL's fixed-point precision


def triangle_weights(n_in, n_out, fixed=True):
    """(n_out, n_in) resampling matrix of the antialiased bilinear shrink, rows summing to 1
    (in units of 2^-22 when fixed)."""
    s = n_in / n_out                                                 # reduction factor
    W = np.zeros((n_out, n_in))
    for i in range(n_out):
        center = (i + 0.5) * s
        lo, hi = max(int(center - s + 0.5), 0), min(int(center + s + 0.5), n_in)
        x = np.arange(lo, hi)
        w = np.maximum(0.0, 1.0 - np.abs((x + 0.5 - center) / s))   # triangle of half-width s
        W[i, lo:hi] = w / w.sum()
    return np.trunc(W * 2 ** BITS + 0.5).astype(np.int64) if fixed else W


def v_frame(obs, fixed=True):
    """obs (96, 96, 3) uint8 -> (64, 64, 3) uint8: keep rows 0:84, then shrink to 64x64."""
    x = obs[:CROP_ROWS].astype(np.int64 if fixed else np.float64)   # (84, 96, 3)
    for axis, W in ((1, triangle_weights(x.shape[1], 64, fixed)), (0, triangle_weights(x.shape[0], 64, fixed))):
        x = np.moveaxis(np.tensordot(W, x, axes=([1], [axis])), 0, axis)
        x = np.clip((x + 2 ** (BITS - 1)) >> BITS if fixed else np.floor(x + 0.5), 0, 255)
    return x.astype(np.uint8)


env = CarRacing()
seed = 7
env.reset(seed)
n_tiles = len(env.env.track)
rewards = []
for t in range(80):                                                  # straight ahead, some gas
    frame, reward, done = env.step([0.0, 0.3 if t < 40 else 0.0, 0.0])
    rewards.append(reward)
obs = env.obs                                                        # (96, 96, 3) the raw frame
ours, ours_float = v_frame(obs), v_frame(obs, fixed=False)
d_fixed = np.abs(ours.astype(int) - frame).max()
d_float = np.abs(ours_float.astype(int) - frame)
print(f"obs {obs.shape} -> V's frame {frame.shape}; ours vs minwm.carracing: max difference {d_fixed} "
      f"(float weights: {d_float.max()} on {(d_float > 0).mean():.1%} of values)")
assert d_fixed == 0 and np.array_equal(process_frame(obs), frame)
rewards = np.array(rewards)
new_tiles = rewards > 0
print(f"track of {n_tiles} tiles; in 80 steps {new_tiles.sum()} new tiles, each paying "
      f"1000/{n_tiles} - 0.1 = {1000 / n_tiles - 0.1:.3f}; score so far {rewards.sum():.1f}")
assert np.allclose(rewards[~new_tiles], -0.1, atol=1e-6)


def big(img, scale=3):
    return Image.fromarray(img).resize((img.shape[1] * scale, img.shape[0] * scale), Image.NEAREST)


marked = obs.copy()
marked[CROP_ROWS] = [255, 0, 0]                                      # where the crop cuts
panels = [big(marked), big(obs[:CROP_ROWS]), big(frame, 4)]
canvas = Image.new("RGB", (sum(p.width for p in panels) + 40, max(p.height for p in panels)), "white")
x = 0
for p in panels:
    canvas.paste(p, (x, 0))
    x += p.width + 20
canvas.save(OUT / "07_frames.png")
env.close()

# %% [markdown]
# ## 2. The pipeline
# The paper's procedure (section 3.1) is six stages, each a `main(cfg)` that reads and writes
# files in one run directory: random-policy rollouts on disk; V trained on their frames;
# every frame encoded to V's `(mu, logvar)`; M trained on those sequences; C evolved by CMA-ES,
# with each candidate's fitness its mean reward over real episodes (run on a pool of worker
# processes); finally the best C scored over trials it never trained on. A stage whose output
# exists is skipped; each one also resumes from its own checkpoint. `minwm run carracing` is
# this same loop.

# %%
from minwm import collect, config, encode, evaluate, evolve, formats, infer, train_rnn, train_vae

RUN = os.environ.get("MINWM_RUN")
scratch = Path(tempfile.mkdtemp(prefix="minwm-07-")) if FAST else None
if FAST:
    cfg = config.preset("carracing", "tiny", run_dir=str(scratch / "carracing-tiny"))
elif RUN and (Path(RUN) / "config.json").exists():
    cfg = config.from_json((Path(RUN) / "config.json").read_text())
    cfg = config.override(cfg, [f"run_dir={RUN}"])
else:
    cfg = config.preset("carracing", "default", run_dir=str(OUT / "07_carracing-default"))
print(f"run directory {cfg.path} (preset {cfg.preset}): {cfg.collect.rollouts} rollouts, V {cfg.vae.nz} latents, "
      f"M {cfg.rnn.hidden} units, CMA-ES population {cfg.evolve.population} x {cfg.evolve.rollouts} "
      f"episodes for {cfg.evolve.generations} generations, {cfg.evaluate.trials} trials")

STAGES = [("collect", collect.main, "rollouts"), ("train-vae", train_vae.main, "vae.npz"),
          ("encode", encode.main, "series.npz"), ("train-rnn", train_rnn.main, "mdnrnn.npz"),
          ("evolve", evolve.main, "controller.npz"), ("evaluate", evaluate.main, "evaluate.json")]
for name, stage, output in STAGES:
    if (cfg.path / output).exists() and name != "collect":           # collect tops up on its own
        print(f"[{name}] {cfg.path / output} exists, skipped")
        continue
    t0 = time.perf_counter()
    stage(cfg)
    print(f"[{name}] {time.perf_counter() - t0:.1f} s")
result = json.loads((cfg.path / "evaluate.json").read_text())
print(f"the evolved C in the real environment: {result['mean']:.1f} +- {result['std']:.1f} "
      f"over {result['trials']} trials (paper: 906 +- 21 over 100)")

# %% [markdown]
# ## 3. The agent's step, written out
# The paper's rollout loop (section 2), for one frame:
#
#     mu, logvar = V(frame);  z = mu + exp(logvar / 2) eps            C sees a sample, not the mean
#     a = tanh(W [z, h] + b)                                          C: W (3, Z + H), b (3,)
#     action = (a0, (a1 + 1) / 2, clip(a2, 0, 1))                     steer, gas, brake
#     gates = [z, action] @ wx + h @ wh + b                           M's LSTM, order [i, f, g, o]
#     c = sigmoid(f) c + sigmoid(i) tanh(g);  h = sigmoid(o) tanh(c)
#
# M is fed the action the car acted on, as it was when M was trained on the recorded actions.
# V's encoder is the one from chapter 3, so we call `infer.encode` for it and write the rest
# out. We drive one real episode with the library's `agent_step` and run ours beside it on the
# same frames, with its own copy of the random stream, and compare actions and states.

# %%
from minwm.kernels import mdn_head

V = infer.load_vae(cfg.path / "vae.npz")
M = infer.load_mdnrnn(cfg.path / "mdnrnn.npz")
ccfg, theta, info = formats.read_controller(cfg.path / "controller.npz")
Z, H = M.nz, M.hidden
sig = lambda x: 1.0 / (1.0 + np.exp(-x))


def agent_step(frame, h, c, rng):
    """frame (1, 64, 64, 3) uint8, h, c (1, H) -> action (1, 3), h, c, mu (1, Z)."""
    mu, logvar = infer.encode(V, frame)                                       # V
    z = mu + np.exp(0.5 * logvar) * rng.standard_normal(mu.shape, dtype=np.float32)
    W, b = theta[:3 * (Z + H)].reshape(3, Z + H), theta[3 * (Z + H):]
    a = np.tanh(np.concatenate([z, h], axis=1) @ W.T + b)                    # C  (1, 3)
    action = np.stack([a[:, 0], (a[:, 1] + 1) / 2, np.clip(a[:, 2], 0, 1)], axis=1)
    gates = np.concatenate([z, action], axis=1) @ M.wx + h @ M.wh + M.b      # M  (1, 4H)
    i, f, g, o = np.split(gates, 4, axis=1)
    c = sig(f) * c + sig(i) * np.tanh(g)
    return action, sig(o) * np.tanh(c), c, mu


T = 200 if FAST else 1000
env = CarRacing(max_steps=T)
frame = env.reset(seed)
rng_lib, rng_ours = np.random.default_rng(1), np.random.default_rng(1)      # the same draws
h, c = infer.initial_state(M, 1)
h2, c2 = h.copy(), c.copy()
restart = np.ones(1, bool)
d_action = d_state = 0.0
score, seen, recon, predicted = 0.0, [], [], []
t, z_expected = 0, None                       # M has no guess before the first step
while True:
    action, h, c = infer.agent_step(V, M, ccfg, theta, frame[None], h, c, restart, rng_lib)
    action2, h2, c2, mu = agent_step(frame[None], h2, c2, rng_ours)
    restart[:] = False
    d_action = max(d_action, np.abs(action - action2).max())
    d_state = max(d_state, np.abs(h - h2).max(), np.abs(c - c2).max())
    if t % (T // 8) == 0:                     # what V makes of this frame, what M expected of it
        seen.append(frame)
        recon.append(infer.decode(V, mu)[0])
        predicted.append(np.zeros((64, 64, 3)) if z_expected is None else infer.decode(V, z_expected)[0])
    logpi, mu_k, _, _ = mdn_head(h @ M.w_mdn + M.b_mdn, Z, M.k)              # M's guess at z_{t+1}
    z_expected = (np.exp(logpi) * mu_k).sum(-1)                              # the mixture mean (1, Z)
    frame, reward, done = env.step(action[0])
    score += reward
    t += 1
    if done:
        break
env.close()
print(f"{t} steps, score {score:.1f}; ours vs minwm.infer.agent_step: max difference in the "
      f"action {d_action:.1e}, in (h, c) {d_state:.1e}")
assert d_action < 1e-5 and d_state < 1e-5

rows = [np.concatenate(r, axis=1) for r in (seen, (np.array(recon) * 255).astype(np.uint8),
                                            (np.array(predicted) * 255).astype(np.uint8))]
big(np.concatenate(rows, axis=0), 2).save(OUT / "07_agent.png")
print(f"07_agent.png: every {T // 8}th frame of the episode (top), V's reconstruction from mu "
      f"(middle), and M's prediction, decoded, of that frame from the step before (bottom)")

# %% [markdown]
# ## 4. The ablations
# What does M add? The paper (section 3.2) evolved C on V's `z` alone, with no M:
#
#     z only              a = tanh(W z + b)                        3 * 32 + 3 = 99 parameters     632 +- 251
#     z + hidden layer    a = tanh(W2 tanh(W1 z + b1) + b2)        40 units: 1443 parameters      788 +- 141
#     V + M (the paper)   a = tanh(W [z, h] + b)                   3 * (32 + 256) + 3 = 867       906 +- 21
#
# One frame says where the car is, not how fast it moves or which way it is turning; `h`, M's
# summary of the past and its guess at the future, does. Without it the paper's agent wobbled
# and missed sharp corners; a hidden layer recovers part of the loss, not all. The override
# `evolve.controller=z` or `z_hidden` swaps C in the same pipeline. (Our agent still steps M,
# whose state C then ignores: the same policy, at a little extra cost.)
# Each ablation evolves in its own run directory on the same V and M and, generation by
# generation, on the same tracks as the full controller (CMA-ES fitness uses common seeds), so
# the CMA mean's score at the same generation compares the three fairly. In full mode each is
# then also scored over the trials in the real environment.

# %%
from minwm import controller as C

G = cfg.evolve.generations if FAST else 10                 # full mode: 10 generations per ablation
ablation_root = scratch if FAST else OUT
runs_by_name = {"V + M (full)": cfg}
for name in ("z", "z_hidden"):
    acfg = config.override(cfg, [f"run_dir={ablation_root / f'07_ablation_{name}'}",
                                 f"evolve.controller={name}", f"evolve.generations={G}"])
    acfg.path.mkdir(parents=True, exist_ok=True)
    for weights in ("vae.npz", "mdnrnn.npz"):                                # the same V and M
        shutil.copy(cfg.path / weights, acfg.path / weights)
    t0 = time.perf_counter()
    evolve.main(acfg)
    if not FAST and not (acfg.path / "evaluate.json").exists():   # fast mode: 2 trials say little
        evaluate.main(acfg)
    print(f"[{name}] {time.perf_counter() - t0:.1f} s")
    runs_by_name["z only" if name == "z" else "z + hidden layer"] = acfg


def eval_at(run_cfg, generation):
    """The CMA mean's score logged at `generation` (or the last before it)."""
    log = [json.loads(l) for l in (run_cfg.path / "evolve.jsonl").read_text().splitlines()]
    scored = [r for r in log if "eval_mean" in r and r["generation"] <= generation]
    return scored[-1]["eval_mean"] if scored else float("nan")


print(f"{'controller':18s} {'P':>5s}  {'CMA mean, gen ' + str(G):>16s}  {'real env, trials':>22s}")
scores = {}
for name, run_cfg in runs_by_name.items():
    accfg, atheta, _ = formats.read_controller(run_cfg.path / "controller.npz")
    real = "(full mode only)"
    if (run_cfg.path / "evaluate.json").exists():
        res = json.loads((run_cfg.path / "evaluate.json").read_text())
        scores[name] = [e["score"] for e in res["episodes"]]
        real = f"{res['mean']:10.1f} +- {res['std']:6.1f} ({res['trials']})"
    print(f"{name:18s} {C.n_params(accfg):5d}  {eval_at(run_cfg, G):16.1f}  {real:>22s}")
    assert len(atheta) == C.n_params(accfg)
assert [C.n_params(formats.read_controller(r.path / "controller.npz")[0]) for r in runs_by_name.values()] == \
       [3 * (Z + H) + 3, 3 * Z + 3, Z * 40 + 40 + 40 * 3 + 3]
if Z == 32:
    print("at the paper's Z = 32: 99 and 1443 parameters; with H = 256 the full C has 867")

# %% [markdown]
# ## 5. Scores over trials
# The paper reports mean +- standard deviation over 100 consecutive trials and shows their
# histogram: a solved agent (900) has a narrow peak near the maximum; a controller that loses
# the car on some tracks has a long tail to the left.

# %%
if plt is not None:
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    lo, hi = min(min(s) for s in scores.values()), max(max(s) for s in scores.values())
    bins = np.linspace(lo - 1, hi + 1, 21)
    for name, s in scores.items():
        ax.hist(s, bins=bins, alpha=0.6, label=f"{name}: {np.mean(s):.0f} ± {np.std(s):.0f}")
    ax.set_xlabel("score (CarRacing)")
    ax.set_ylabel("trials")
    ax.set_title(f"{cfg.evaluate.trials} trials in the real environment, preset {cfg.preset}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(OUT / "07_scores.png", dpi=100)
    plt.close(fig)
if scratch is not None:
    shutil.rmtree(scratch)

# %% [markdown]
# ## Summary
# - V sees CarRacing through a crop (rows 0:84, no indicator bar) and an antialiased shrink to
#   64x64; ours equals `minwm.carracing.process_frame` byte for byte.
# - The pipeline is six stages, each a `main(cfg)` on one run directory: collect, train V,
#   encode, train M, evolve C in the real environment, evaluate over unseen tracks.
# - One agent step is V's sample z, C's tanh layer on `[z, h]`, the mapping to steer, gas and
#   brake, and M's LSTM step on `[z, action]`; ours equals `minwm.infer.agent_step` along a real
#   episode.
# - The ablations change only C: z alone (99 parameters) or z through a hidden layer (1443).
#   Without M's `h` the paper's agent scored 632 and 788 instead of 906.
#
# ## Exercises
# 1. Score two hand-made policies on a few tracks: standing still, and full gas straight ahead.
#    How does the reward rule (-0.1 per frame, +1000/N per tile) explain what you see? What does
#    collect's random policy score?
# 2. Write the "z only" controller (99 parameters) out in NumPy and check it against
#    `minwm.controller.act` with `evolve.controller_config` of an overridden config.
# 3. CMA-ES keeps a full P x P covariance. Time `ask` + `tell` for P = 99, 867 and 1443 at
#    population 64; why does the paper keep C this small, and what would P be if C read V's
#    1024 features before the latent layer?
#
# Solutions: `tutorials/solutions/07_carracing.py`.
