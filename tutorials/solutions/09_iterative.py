# %% [markdown]
# # Solutions to chapter 9: the iterative training procedure
# `python tutorials/solutions/09_iterative.py`; `MINWM_FAST=1` plays a shorter episode. Exercise
# 2 uses the chapter's full-mode data: the Take Cover agent shipped in `minwm/weights/doom/`
# (round 3 of results/doom-default), playing one real episode.

# %%
import os

import numpy as np

from minwm import config, formats, infer, mdnrnn, show
from minwm.agent import episode

FAST = os.environ.get("MINWM_FAST") == "1"

# %% [markdown]
# ## Exercise 1: how much of M's data comes from the agent
# The default Doom preset collects 1500 random rollouts of about 200 steps (a random policy
# survives ~210 steps); each round adds 300 agent rollouts. An agent surviving 800 steps on
# average brings 4x the frames per rollout, so its share grows fast.
#
# Adding rather than replacing keeps what the random policy saw: the agent still starts every
# episode in those states, still dies there sometimes, and the dream starts from the recorded
# first frames. Trained only on the agent's latest rollouts, M would forget them (and fit the
# current C's habits, which C could then exploit in the next dream).

# %%
cfg = config.preset("doom", "default")
random_frames = cfg.collect.rollouts * 200
shares = []
for k in range(1, 4):
    agent_frames = k * cfg.iterate.rollouts * 800
    shares.append(agent_frames / (random_frames + agent_frames))
    print(f"after round {k}: {shares[-1]:.0%} of M's {random_frames + agent_frames:,} frames come from the agent")
assert cfg.collect.rollouts == 1500 and cfg.iterate.rollouts == 300
assert np.allclose(shares, [240 / 540, 480 / 780, 720 / 1020])            # 44%, 62%, 71%

# %% [markdown]
# ## Exercise 2: M's surprise, a curiosity reward
# The mixture NLL of the next z under M, per step and averaged over the Z dimensions:
#
# $$\text{NLL}_t = -\frac1Z \sum_j \log \sum_k \pi_{jk}\,\mathcal N(z_{t+1, j};\ \mu_{jk}, \sigma_{jk}^2)$$
#
# Its mean over time is `mdnrnn.loss`'s z loss. Used as a reward (the paper's section 5: flip
# the sign of M's loss), it pays the agent for reaching steps M cannot yet predict. We record
# one real Take Cover episode of the shipped agent, encode its frames with V (z = mu, so both
# sides see the same targets), and step M along it as the agent did.

# %%
SHIPPED = show.SHIPPED / "doom"
V, M = infer.load_vae(SHIPPED / "vae.npz"), infer.load_mdnrnn(SHIPPED / "mdnrnn.npz")
ccfg, theta, _ = formats.read_controller(SHIPPED / "controller.npz")
spec = config.spec("doom")
env = spec.make(300 if FAST else spec.max_steps)
try:
    r = episode(env, V, M, ccfg, theta, seed=config.EVAL_SEED, record=True)
finally:
    env.close()
z = infer.encode(V, r["frames"])[0][None]                                    # (1, T, Z)
a = spec.m_input(r["actions"])[None]                                         # (1, T, 1) -1 / 0 / +1
T = z.shape[1] - 1
restart = np.zeros((1, T), np.float32)
restart[0, 0] = 1.0                                                          # the episode's first frame

h, c = infer.initial_state(M, 1)
nll = []
for t in range(T):
    h, c, logpi, mu, logsigma, _ = infer.m_step(M, z[:, t], a[:, t], h, c, restart[:, t].astype(bool))
    u = (z[:, t + 1, :, None] - mu) * np.exp(-logsigma)                      # (1, Z, K)
    lp = logpi - 0.5 * u ** 2 - logsigma - 0.5 * np.log(2 * np.pi)
    m = lp.max(-1, keepdims=True)
    nll.append(-(m[..., 0] + np.log(np.exp(lp - m).sum(-1))).mean())
nll = np.array(nll)

mcfg = mdnrnn.MDNRNNConfig(nz=M.nz, na=M.na, hidden=M.hidden, k=M.k, restart=M.restart, done=M.done)
p = mdnrnn.init_params(mcfg, np.random.default_rng(0))
mdnrnn.load_exported(p, mcfg, SHIPPED / "mdnrnn.npz")                        # the shipped weights
_, z_loss, _ = mdnrnn.loss(p, mcfg, z, a[:, :T], restart, np.zeros((1, T), np.float32))
print(f"{T + 1} frames survived; mean NLL: ours {nll.mean():.5f}, minwm.mdnrnn.loss {z_loss:.5f}")
assert abs(nll.mean() - z_loss) < 1e-4 * abs(z_loss) + 1e-4
top = np.sort(np.argsort(nll)[::-1][:5])
print(f"the most surprising steps: t = {top.tolist()} (NLL {nll[top].round(2).tolist()}; median {np.median(nll):.2f})")

# %% [markdown]
# ## Exercise 3: overrides for the rounds
# `iterate.rollouts=500 iterate.rnn_epochs=3` gives each round more agent data and less
# training. Rounds already finished are skipped (a round is done once its `iterK/evaluate.json`
# exists), so `minwm iterate doom iterate.iterations=4` on a run that did three rounds runs
# only round 4, starting from round 3's M and C.

# %%
cfg = config.override(config.preset("doom", "default"), ["iterate.rollouts=500", "iterate.rnn_epochs=3",
                                                         "iterate.iterations=4"])
print(cfg.iterate)
assert (cfg.iterate.rollouts, cfg.iterate.rnn_epochs, cfg.iterate.iterations) == (500, 3, 4)
