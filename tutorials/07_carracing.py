# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Chapter 7: the agent end to end (CarRacing, and the toy world)
#
# **What this builds.** The paper's first experiment (section 3): V, M and C together, trained
# stage by stage, then driving in the real environment; and the paper's ablations, which show
# what M's state $h$ adds. It builds on every chapter so far: V (chapter 3), the LSTM and M's
# mixture head (chapters 4 and 5), C and CMA-ES (chapter 6). From here on the parts are the
# library's pipeline stages, each a `main(cfg)`, run on real frames; what is new here, M's
# training loop on encoded sequences and the agent's step, is written out and checked against
# the library.
#
# **Plan.** (1) the agent as a diagram, and the frames V sees; (2) the whole pipeline (collect,
# train V, encode, train M, evolve C, evaluate) in one run directory; (3) M's training loop
# written out and checked against `minwm.train_rnn`; (4) one step of the agent, V -> C -> M,
# written out and checked against `minwm.infer.agent_step` along a real episode; (5) the
# ablations: C on $z$ alone, and on $z$ through a 40-unit hidden layer; (6) the scores over
# 100 trials (50 in fast mode) beside a random policy's.
#
# **Running.** `MINWM_FAST=1 python tutorials/07_carracing.py` runs the pipeline on the toy world
# (`minwm/toy.py`: dodge the falling blocks, a small Take Cover) at its `default` preset in a
# temporary directory: about a minute on two cores, and C learns: 85.8 +- 61.9 steps survived
# over 100 episodes against the random policy's 26.0 +- 13.5 (`bench/results/toy.txt`; the
# chapter scores the first 50 of them: 100.6 +- 64.6 against 24.8 +- 12.2). Its C,
# like Doom's, is evolved inside M's dream (chapter 8 explains the dream; here it is one stage
# of six). `python tutorials/07_carracing.py` runs CarRacing itself, with C evolved in the real
# environment, at the size of minwm's best CarRacing run so far (`results/carracing-short/`: 40
# random rollouts, 8 generations of 16 candidates; about 8 minutes on two cores, then about 8
# more for the two ablations; expect 148.6 +- 106.8 over 100 trials; the paper's 906 +- 21
# took ~1,800 generations of 64 x 16 full episodes). `MINWM_RUN=runs/carracing-default` reuses a
# finished run instead. Every stage checkpoints and resumes when run again. Pictures go to
# `tutorials/out/` (or `$MINWM_OUT`).
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
try:                                   # matplotlib is optional: without it the plots are skipped
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    plt = None

# %% [markdown]
# ## 1. The agent, and the frames V sees
# The paper's figure "flow diagram" (section 2): at every step V compresses the frame to $z$, C
# chooses the action from $z$ and M's state $h$, and M, fed $z$ and the action, updates $h$: its
# summary of the past and its guess at the next $z$.

# %%
if plt is not None:
    from diagrams import box_diagram  # tutorials/diagrams.py: boxes and arrows
    box_diagram({"environment": (1.0, 2.0, "#dddddd"), "V (VAE)": (3.3, 3.2, "#aaccee"),
                 "M (MDN-RNN)": (6.6, 3.2, "#eeccaa"), "C (linear)": (6.6, 0.8, "#cceecc")},
                [("environment", "V (VAE)", "frame", 0), ("V (VAE)", "M (MDN-RNN)", "z_t", 0),
                 ("V (VAE)", "C (linear)", "z_t", 0), ("M (MDN-RNN)", "C (linear)", "h_t", 0.3),
                 ("C (linear)", "M (MDN-RNN)", "a_t", 0.3), ("C (linear)", "environment", "a_t", 0)],
                OUT / "07_agent_diagram.png", "the agent (paper, figure 'flow diagram'): M's h_t is "
                "updated to h_t+1 from [z_t, a_t]")

# %% [markdown]
# The steps, as the paper writes them (C's output is mapped to the game's action: CarRacing's
# steer, gas, brake; the toy's and Doom's left, stay, right):
#
# $$z_t \sim \mathcal N\big(\mu(x_t), \operatorname{diag}\sigma^2(x_t)\big),\qquad
#   a_t = \tanh\big(W_c\,[z_t, h_t] + b_c\big),\qquad h_{t+1} = \mathrm{LSTM}([z_t, a_t], h_t)$$
#
# **CarRacing** (`minwm.carracing.CarRacing`, gymnasium's `CarRacing-v3`): a random track of
# $N$ tiles, 1000 steps, reward $-0.1$ per frame and $+1000/N$ for every tile visited the first
# time. A frame is 96x96x3; its bottom 12 rows are an indicator bar, which the original code
# cropped away before shrinking to V's 64x64. The shrink is antialiased (PIL's bilinear filter,
# widened by the reduction factor, as the original's `scipy.misc.imresize`): every output pixel
# averages all the input pixels it covers, so thin track edges blur instead of flickering.
# `process_frame` does both. $N$ is not needed from the game: a new tile pays $1000/N - 0.1$.

# %%
from minwm import config
from minwm.carracing import CROP_ROWS, CarRacing, process_frame

env = CarRacing(fast=not FAST)   # fast mode: stock gymnasium (the fast env draws the same bytes, but
                                     # compiling its Numba renderer takes ~30 s on a cold cache)
env.reset(7)
rewards = []
for t in range(80):                                                  # straight ahead, some gas
    frame, reward, done = env.step([0.0, 0.3 if t < 40 else 0.0, 0.0])
    rewards.append(reward)
obs = env.obs                                                        # (96, 96, 3) the raw frame
env.close()
assert np.array_equal(process_frame(obs), frame) and frame.shape == (64, 64, 3)
rewards = np.array(rewards)
new_tiles = rewards > -0.1 + 1e-3
n_tiles = round(1000 / (rewards[new_tiles].min() + 0.1))          # a step that reached one new tile
tiles = (rewards + 0.1) / (1000 / n_tiles)                           # new tiles per step: 0, 1, 2, ..
print(f"obs {obs.shape} -> V's frame {frame.shape}; a track of {n_tiles} tiles: in 80 steps "
      f"{tiles.sum():.0f} new tiles, each paying 1000/{n_tiles}; score so far {rewards.sum():.1f}")
assert np.allclose(tiles, np.round(tiles), atol=1e-3)


def big(img, scale=3):
    return Image.fromarray(img).resize((img.shape[1] * scale, img.shape[0] * scale), Image.NEAREST)


def paste_row(images, path, gap=20):
    canvas = Image.new("RGB", (sum(p.width for p in images) + gap * (len(images) - 1),
                               max(p.height for p in images)), "white")
    x = 0
    for p in images:
        canvas.paste(p, (x, 0))
        x += p.width + gap
    canvas.save(path)


marked = obs.copy()
marked[CROP_ROWS] = [255, 0, 0]                                      # where the crop cuts
paste_row([big(marked), big(obs[:CROP_ROWS]), big(frame, 4)], OUT / "07_frames.png")

# %% [markdown]
# **The toy world** (`minwm.toy`, fast mode's environment): a paddle on the bottom rows, a
# block falling every 12 steps aimed at where the paddle is; left, stay or right, +1 per step
# survived, the episode ends when a block lands on the paddle (or after 200 steps). It is Take
# Cover in miniature: C reads $[z, c, h]$ and has no bias, M gets a restart flag and predicts
# the episode's end, and C is evolved in M's dream. collect's random policy holds a random
# action for 1 to 10 steps.

# %%
from minwm import collect

toy = config.spec("toy")
env = toy.make(toy.max_steps)
r = collect.rollout(env, toy.explore, seed=3)
moves = toy.env_action(r["actions"].reshape(-1, 1))                              # -1 left, 0 stay, +1 right
print(f"a random-policy episode of the toy: {len(r['frames'])} frames, score {r['rewards'].sum():.0f}; "
      f"left / stay / right on {(moves < 0).mean():.0%} / {(moves == 0).mean():.0%} / {(moves > 0).mean():.0%} of the steps")
paste_row([big(f, 2) for f in r["frames"][::max(1, len(r["frames"]) // 6)][:6]], OUT / "07_toy_frames.png", 6)

# %% [markdown]
# ## 2. The pipeline
# The paper's procedure (section 3.1) is six stages, each a `main(cfg)` that reads and writes
# files in one run directory: random-policy rollouts on disk; V trained on their frames; every
# frame encoded to V's $(\mu, \log\sigma^2)$; M trained on those sequences; C evolved by CMA-ES
# (CarRacing: each candidate's fitness its mean reward over real episodes, on a pool of worker
# processes; the toy: over dreams in M); finally the kept C scored over 100 trials it never
# trained on (50 in fast mode). A stage whose output exists is skipped; each one also resumes
# from its own checkpoint. `minwm run carracing` (or `toy`) is this same loop.

# %%
from minwm import encode, evaluate, evolve, formats, infer, train_rnn, train_vae

RUN = os.environ.get("MINWM_RUN")
scratch = Path(tempfile.mkdtemp(prefix="minwm-07-"))
if FAST:
    cfg = config.override(config.preset("toy", "default", run_dir=str(scratch / "toy-default")),
                          ["evaluate.trials=50"])                  # 50 trials here: the minute's budget
elif RUN and (Path(RUN) / "config.json").exists():
    cfg = config.override(config.from_json((Path(RUN) / "config.json").read_text()), [f"run_dir={RUN}"])
else:                                          # results/carracing-short/README.md's command
    cfg = config.override(config.preset("carracing", "default", run_dir=str(OUT / "07_carracing-short")), [
        "collect.rollouts=40", "evolve.generations=8", "evolve.population=16", "evolve.rollouts=1",
        "evolve.max_steps=300", "evolve.eval_every=4", "evolve.eval_rollouts=8"])
print(f"run directory {cfg.path} ({cfg.env}, preset {cfg.preset}): {cfg.collect.rollouts} rollouts, "
      f"V {cfg.vae.nz} latents, M {cfg.rnn.hidden} units, CMA-ES population {cfg.evolve.population} x "
      f"{cfg.evolve.rollouts} {'dreams' if cfg.evolve.in_dream else 'episodes'} for "
      f"{cfg.evolve.generations} generations, {cfg.evaluate.trials} trials")

STAGES = [("collect", collect.main, "rollouts"), ("train-vae", train_vae.main, "vae.npz"),
          ("encode", encode.main, "series.npz"), ("train-rnn", train_rnn.main, "mdnrnn.npz"),
          ("evolve", evolve.main, "controller.npz"), ("evaluate", evaluate.main, "evaluate.json")]
t_pipeline = time.perf_counter()
for name, stage, output in STAGES:
    if (cfg.path / output).exists() and name != "collect":           # collect tops up on its own
        print(f"[{name}] {cfg.path / output} exists, skipped")
        continue
    t0 = time.perf_counter()
    stage(cfg)
    print(f"[{name}] {time.perf_counter() - t0:.1f} s")
result = json.loads((cfg.path / "evaluate.json").read_text())
print(f"the pipeline: {time.perf_counter() - t_pipeline:.0f} s; the evolved C in the real environment: "
      f"{result['mean']:.1f} +- {result['std']:.1f} over {result['trials']} trials")

# %% [markdown]
# ## 3. M's training loop, written out
# `train-rnn` teaches M to predict the next $z$ (teacher forcing, appendix A.2). The encoded
# episodes lie end to end in one stream (`series.npz`: $\mu$, $\log\sigma^2$, the action, a
# restart flag on each episode's first frame, a done flag on its last). Each epoch cuts the
# stream into non-overlapping windows of $T + 1$ frames, shuffles them, and for every batch of
# $N$ windows:
#
# - samples $z = \mu + e^{\log\sigma^2 / 2}\,\epsilon$ afresh (a new $\epsilon$ every batch: M never
#   sees the same $z$ twice, which keeps it from fitting V's noise);
# - runs the LSTM on $[z_t, a_t]$ (and the restart flag, which also zeroes $(h, c)$ where an
#   episode starts inside a window) and takes the mixture NLL of $z_{t+1}$ (chapter 5), skipping
#   the one target per boundary that belongs to the next episode (mask $= 1 - \text{restart}_{t+1}$):
#
# $$\mathcal L = -\frac{1}{|\text{mask}|\,Z}\sum_{n,t,j} \text{mask}_{nt}\,
#   \log \sum_k \pi_{ntjk}\,\mathcal N\!\big(z_{n,t+1,j};\ \mu_{ntjk}, \sigma_{ntjk}^2\big)
#   \ \big[+\ \text{the done cross-entropy, positives} \times 10\big]$$
#
# - clips every gradient element to $[-1, 1]$ and takes an Adam step.
#
# We write the loop with minwm's model, loss and optimizer, drawing the random numbers in
# `train_rnn`'s order (its generator is seeded with the run's seed + 2: the initial weights,
# then each epoch's shuffle, then each batch's $\epsilon$), and train the library's stage on the
# same series beside it: the losses and weights must agree.

# %%
from minwm import mdnrnn
from minwm.optim import Adam, clip_grad_value


def train_m(series, mcfg, r, seed, epochs):
    """M on the encoded series (r: the run's TrainM config) -> parameters, the loss of each step."""
    T = r.seq_len
    starts = np.arange(0, len(series["mu"]) - T, T + 1)               # windows of T + 1 frames
    N = min(r.batch, len(starts))
    rng = np.random.default_rng(seed)
    p = mdnrnn.init_params(mcfg, rng)                                  # Glorot, forget-gate bias 1
    opt = Adam(p.values(), lr=r.lr, lr_schedule=lambda t: max(r.lr * r.lr_decay ** t, r.lr_min))
    losses = []
    for epoch in range(epochs):
        order = rng.permutation(starts)                                # a new shuffle every epoch
        for i in range(len(order) // N):
            idx = order[i * N:(i + 1) * N, None] + np.arange(T + 1)   # (N, T+1) frame indices
            mu, logvar = series["mu"][idx], series["logvar"][idx]      # (N, T+1, Z)
            z = mu + np.exp(logvar / 2) * rng.standard_normal(mu.shape, dtype=np.float32)
            restart = series["restart"][idx].astype(np.float32)        # (N, T+1)
            a = series["action"][idx[:, :-1]]                          # (N, T, A)
            done = series["done"][idx[:, :-1]].astype(np.float32)      # (N, T)
            # mdnrnn.loss(...) then .backward(), with the batch split over the two cores and the
            # halves' gradients summed into p's .grad (what train_rnn calls: the same bits)
            loss, _, _ = mdnrnn.loss_and_grad(p, mcfg, z.astype(np.float32), a, restart[:, :-1], done,
                                              mask=1 - restart[:, 1:])
            clip_grad_value(p.values(), r.grad_clip)
            opt.step()
            losses.append(loss)
    return p, losses


assert not cfg.rnn.carry_state and cfg.rnn.val_share == 0    # the plain loop: train_rnn's default
series, _ = formats.read_series(cfg.path / "series.npz")
s = config.spec(cfg.env)
mcfg = mdnrnn.MDNRNNConfig(nz=series["mu"].shape[1], na=series["action"].shape[1], hidden=cfg.rnn.hidden,
                           k=cfg.rnn.k, restart=s.m_restart, done=s.m_done)
E = min(cfg.rnn.epochs, 20 if FAST else 2)                  # full mode: a check, not a retraining
t0 = time.perf_counter()
p, losses = train_m(series, mcfg, cfg.rnn, cfg.seed + 2, E)
t_ours = time.perf_counter() - t0
side = config.override(cfg, [f"run_dir={scratch / 'train-rnn'}", f"rnn.epochs={E}"])
side.path.mkdir(parents=True)
shutil.copy(cfg.path / "series.npz", side.path / "series.npz")
train_rnn.main(side)
_, w_lib = formats.read_mdnrnn(side.path / "mdnrnn.npz")
lib_losses = [json.loads(line)["loss"] for line in (side.path / "mdnrnn.jsonl").read_text().splitlines()]
d_w = max(np.abs(p[k].data - w_lib[k]).max() for k in w_lib)
d_loss = np.abs(np.array(losses) - lib_losses).max()
print(f"M, {E} epochs of {len(losses) // E} batches of {min(cfg.rnn.batch, len(losses))} x {cfg.rnn.seq_len} "
      f"steps ({t_ours:.1f} s): loss {losses[0]:.3f} -> {losses[-1]:.3f}; ours vs minwm.train_rnn: max "
      f"difference in the losses {d_loss:.1e}, in the weights {d_w:.1e}")
assert len(losses) == len(lib_losses) and d_loss < 1e-5 and d_w < 1e-6

# %% [markdown]
# ## 4. The agent's step, written out
# One frame of the paper's rollout loop, for either game:
#
# $$\mu, \log\sigma^2 = V(x_t),\quad z_t = \mu + \sigma \odot \epsilon,\quad
#   a_t = \tanh\big(W_c\,[z_t, (c_t,)\ h_t] + b_c\big)$$
# $$\text{gates} = [z_t, \bar a_t, \text{restart}_t]\,W_x + h_t W_h + b,\quad
#   c_{t+1} = \sigma(f) c_t + \sigma(i) \tanh(g),\quad h_{t+1} = \sigma(o) \tanh(c_{t+1})$$
#
# where $\bar a_t$ is the action the game acts on: CarRacing's $(a_0, (a_1 + 1)/2,
# \operatorname{clip}(a_2, 0, 1))$ (steer, gas, brake; C has a bias and reads $[z, h]$), or the
# toy's and Doom's $-1, 0, +1$ by thresholds at $\pm 1/3$ (no bias, C reads $[z, c, h]$, and M also
# gets the restart flag). M is fed the action carried out, as it was trained on the recorded
# ones. V's encoder is chapter 3's, so we call `infer.encode` for it and write the rest out. We
# run one real episode with the library's `agent_step` and ours beside it, on the same frames
# and each with its own copy of the random stream.

# %%
from minwm.kernels import mdn_head

V = infer.load_vae(cfg.path / "vae.npz")
M = infer.load_mdnrnn(cfg.path / "mdnrnn.npz")
ccfg, theta, info = formats.read_controller(cfg.path / "controller.npz")
Z, H, A = M.nz, M.hidden, M.na
sig = lambda x: 1.0 / (1.0 + np.exp(-x))


def agent_step(frame, h, c, restart, rng):
    """frame (1, 64, 64, 3) uint8, h, c (1, H), restart 0/1 -> action (1, A), h, c, mu (1, Z)."""
    mu, logvar = infer.encode(V, frame)                                       # V
    z = mu + np.exp(0.5 * logvar) * rng.standard_normal(mu.shape, dtype=np.float32)
    x = np.concatenate([{"z": z, "c": c, "h": h}[k] for k in ccfg.inputs], axis=1)   # [z, (c,) h]
    W = theta[:A * x.shape[1]].reshape(A, x.shape[1])
    a = np.tanh(x @ W.T + (theta[A * x.shape[1]:] if ccfg.bias else 0))     # C  (1, A)
    if A == 3:                                                                # steer, gas, brake
        action = np.stack([a[:, 0], (a[:, 1] + 1) / 2, np.clip(a[:, 2], 0, 1)], axis=1)
    else:                                                                     # left, stay, right
        action = np.where(a < -1 / 3, -1.0, np.where(a > 1 / 3, 1.0, 0.0))
    m_in = [z, action] + ([np.full((1, 1), restart, np.float32)] if M.restart else [])
    gates = np.concatenate(m_in, axis=1) @ M.wx + h @ M.wh + M.b             # M  (1, 4H)
    i, f, g, o = np.split(gates, 4, axis=1)
    c = sig(f) * c + sig(i) * np.tanh(g)
    return action, sig(o) * np.tanh(c), c, mu


spec = config.spec(cfg.env)
T = spec.max_steps if FAST else 1000
env = spec.make(T)
frame = env.reset(cfg.evaluate.seed)
rng_lib, rng_ours = np.random.default_rng(1), np.random.default_rng(1)      # the same draws
h, c = infer.initial_state(M, 1)
h2, c2 = h.copy(), c.copy()
restart = np.ones(1, bool)
d_action = d_state = 0.0
score, seen, recon, predicted = 0.0, [], [], []
t, z_expected = 0, None                       # M has no guess before the first step
while True:
    action, h, c = infer.agent_step(V, M, ccfg, theta, frame[None], h, c, restart, rng_lib)
    action2, h2, c2, mu = agent_step(frame[None], h2, c2, float(t == 0), rng_ours)
    restart[:] = False
    d_action = max(d_action, np.abs(action.reshape(-1) - action2.reshape(-1)).max())
    d_state = max(d_state, np.abs(h - h2).max(), np.abs(c - c2).max())
    if t % max(1, T // 40) == 0 and len(seen) < 8:   # what V makes of this frame, what M expected
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
print("07_agent.png: frames of the episode (top), V's reconstruction from mu (middle), and M's "
      "prediction, decoded, of that frame from the step before (bottom)")

# %% [markdown]
# ## 5. The ablations
# What does M add? The paper (section 3.2) evolved C on V's $z$ alone, with no M
# (CarRacing's sizes, $Z = 32$, $H = 256$):
#
# | C | action | parameters | paper's score |
# |---|---|---|---|
# | $z$ only | $\tanh(W z + b)$ | $3 \cdot 32 + 3 = 99$ | 632 +- 251 |
# | $z$ + hidden layer | $\tanh(W_2 \tanh(W_1 z + b_1) + b_2)$, 40 units | 1443 | 788 +- 141 |
# | V + M (the paper) | $\tanh(W [z, h] + b)$ | $3 (32 + 256) + 3 = 867$ | 906 +- 21 |
#
# One frame says where the car is, not how fast it moves or which way it is turning; $h$, M's
# summary of the past and its guess at the future, does. Without it the paper's agent wobbled
# and missed sharp corners; a hidden layer recovers part of the loss, not all. The override
# `evolve.controller=z` or `z_hidden` swaps C in the same pipeline (our agent still steps M,
# whose state C then ignores). Each ablation evolves in its own run directory on the same V and
# M, for the same generations, and is scored on the same trials. The toy's blocks fall at
# a constant speed, so one frame says nearly all there is to know: there the ablations show
# how much of the score C gets from $z$ alone.

# %%
from minwm import controller as C

G = cfg.evolve.generations                                  # as many as the full C had
runs_by_name = {"V + M (full)": cfg}
for name in ("z", "z_hidden"):
    acfg = config.override(cfg, [f"run_dir={(scratch if FAST else OUT) / f'07_ablation_{cfg.env}_{name}'}",
                                 f"evolve.controller={name}", f"evolve.generations={G}"])
    acfg.path.mkdir(parents=True, exist_ok=True)
    for weights in ("vae.npz", "mdnrnn.npz", "series.npz"):                  # the same V and M
        if not (acfg.path / weights).exists():
            shutil.copy(cfg.path / weights, acfg.path / weights)
    t0 = time.perf_counter()
    evolve.main(acfg)
    if not (acfg.path / "evaluate.json").exists():
        evaluate.main(acfg)
    print(f"[{name}] {time.perf_counter() - t0:.1f} s")
    runs_by_name["z only" if name == "z" else "z + hidden layer"] = acfg

print(f"{'controller':18s} {'P':>5s}  {'real environment, trials':>26s}")
scores = {}
for name, run_cfg in runs_by_name.items():
    accfg, atheta, _ = formats.read_controller(run_cfg.path / "controller.npz")
    res = json.loads((run_cfg.path / "evaluate.json").read_text())
    scores[name] = np.array([e["score"] for e in res["episodes"]])
    print(f"{name:18s} {C.n_params(accfg):5d}  {res['mean']:10.1f} +- {res['std']:6.1f} ({res['trials']})")
    assert len(atheta) == C.n_params(accfg)
D, bias = Z + H * (len(ccfg.inputs) - 1), int(ccfg.bias)   # C's inputs: [z, h] or [z, c, h]
assert [C.n_params(formats.read_controller(r.path / "controller.npz")[0]) for r in runs_by_name.values()] == \
       [A * (D + bias), A * (Z + bias), 40 * (Z + bias) + A * (40 + bias)]

# %% [markdown]
# ## 6. Scores over trials
# The paper reports mean +- standard deviation over 100 consecutive trials: a solved CarRacing
# agent (900) has a narrow spread near the maximum; a controller that loses the car on some
# tracks has a long tail to the left. Beside them, the random policy
# that collected the data, on the same seeds, and, where C was evolved in the dream, C's score
# there (1,024 dreams). The difference of two means is measured in standard errors,
# $\sqrt{s_1^2 / n_1 + s_2^2 / n_2}$.

# %%
from minwm.dream import dream, dream_config

env = spec.make(spec.steps(cfg.evaluate.max_steps))
seeds = cfg.evaluate.seed + np.arange(cfg.evaluate.trials)
scores["random policy"] = np.array([collect.rollout(env, spec.explore, int(s))["rewards"].sum() for s in seeds])
env.close()
real, rand = scores["V + M (full)"], scores["random policy"]
se = np.sqrt(real.var(ddof=1) / len(real) + rand.var(ddof=1) / len(rand))
print(f"C {real.mean():.1f} +- {real.std():.1f} vs the random policy {rand.mean():.1f} +- {rand.std():.1f}: "
      f"{real.mean() / rand.mean():.2f}x, {(real.mean() - rand.mean()) / se:.1f} standard errors")
dreamt = None
if cfg.evolve.in_dream:
    mu0, logvar0 = formats.read_starts(cfg.path / "series.npz")
    dreamt = dream(M, ccfg, theta, mu0, logvar0, dream_config(cfg), np.random.default_rng(0), count=1024)
    print(f"C in M's dream: {dreamt.mean():.1f} +- {dreamt.std():.1f} over 1024 dreams")
if FAST:                                     # the toy: C has learnt to dodge, clearly
    assert real.mean() > 1.5 * rand.mean() and real.mean() - rand.mean() > 4 * se
if plt is not None:                          # one box per controller: quartiles, mean (triangle)
    shown = {**scores, **({"C in M's dream": dreamt} if dreamt is not None else {})}
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.boxplot(list(shown.values()), showmeans=True, widths=0.6)
    ax.set_xticks(range(1, len(shown) + 1), [f"{k}\n{x.mean():.0f} ± {x.std():.0f}" for k, x in shown.items()],
                  fontsize=8)
    ax.set_ylabel(spec.score)
    ax.set_title(f"{spec.title}, preset {cfg.preset}: {cfg.evaluate.trials} trials in the real environment",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(OUT / "07_scores.png", dpi=100)
    plt.close(fig)
shutil.rmtree(scratch)

# %% [markdown]
# ## Summary
# - The agent is V -> C -> M: V's sample $z$, C's tanh layer on $[z, h]$ (or $[z, c, h]$), the
#   game's action, and M's LSTM step on $[z, \bar a]$; ours equals `minwm.infer.agent_step`
#   along a real episode.
# - V sees CarRacing through a crop (rows 0:84, no indicator bar) and an antialiased shrink to
#   64x64 (`process_frame`).
# - The pipeline is six stages, each a `main(cfg)` on one run directory: collect, train V,
#   encode, train M, evolve C, evaluate over unseen episodes.
# - M trains on windows of the encoded stream with $z$ re-sampled every batch and restart flags
#   at episode boundaries; our loop equals `minwm.train_rnn` loss for loss and weight for weight.
# - The ablations change only C: $z$ alone or $z$ through a hidden layer. Without M's $h$ the
#   paper's CarRacing agent scored 632 and 788 instead of 906.
#
# ## Exercises
# 1. Score two hand-made CarRacing policies on a few tracks: standing still, and full gas
#    straight ahead. How does the reward rule (-0.1 per frame, +1000/N per tile) explain what
#    you see? What does collect's random policy score?
# 2. Write the "z only" controller out in NumPy and check it against `minwm.controller.act`
#    with `evolve.controller_config` of an overridden config.
# 3. CMA-ES keeps a full P x P covariance. Time `ask` + `tell` for P = 99, 867 and 1443 at
#    population 64; why does the paper keep C this small, and what would P be if C read V's
#    1024 features before the latent layer?
#
# Solutions: `tutorials/solutions/07_carracing.py`.
