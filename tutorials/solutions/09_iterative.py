# %% [markdown]
# # Solutions to chapter 9: the iterative training procedure
# `python tutorials/solutions/09_iterative.py` (seconds; no training runs).

# %%
import numpy as np

from minwm import config, infer, mdnrnn

rng = np.random.default_rng(0)

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
for k in range(1, 4):
    agent_frames = k * cfg.iterate.rollouts * 800
    print(f"after round {k}: {agent_frames / (random_frames + agent_frames):.0%} of M's "
          f"{random_frames + agent_frames:,} frames come from the agent")

# %% [markdown]
# ## Exercise 2: M's surprise, a curiosity reward
# The mixture NLL of the next z under M, per step and averaged over the Z dimensions:
#
#     NLL_t = -(1/Z) sum_j logsumexp_k(logpi_jk - u_jk^2 / 2 - logsigma_jk - log(2 pi) / 2),
#     u_jk = (z_{t+1, j} - mu_jk) / sigma_jk
#
# Its mean over time is `mdnrnn.loss`'s z loss. Used as a reward (the paper's section 5: flip
# the sign of M's loss), it pays the agent for reaching steps M cannot yet predict. M here is
# untrained, so its surprise simply grows with how far z lands from its guesses; we plant a
# glitch in frame 21 (the target of step t = 20) to see it. With a trained M the peaks mark
# what the data has not covered.

# %%
Z, A, H, T = 8, 3, 32, 40
mcfg = mdnrnn.MDNRNNConfig(nz=Z, na=A, hidden=H)
p = mdnrnn.init_params(mcfg, rng)
M = infer.mdnrnn_from_arrays({**{k: t.data for k, t in p.items()}, "meta.nz": Z, "meta.na": A,
                              "meta.hidden": H, "meta.k": mcfg.k, "meta.restart": 0, "meta.done": 0})
z = np.cumsum(0.1 * rng.standard_normal((1, T + 1, Z)), axis=1).astype(np.float32)   # a slow walk
z[:, 21] += 3.0                                                                       # ... a glitch
a = rng.uniform(-1, 1, (1, T, A)).astype(np.float32)

h, c = infer.initial_state(M, 1)
nll = []
for t in range(T):
    h, c, logpi, mu, logsigma, _ = infer.m_step(M, z[:, t], a[:, t], h, c)           # (1, Z, K)
    u = (z[:, t + 1, :, None] - mu) * np.exp(-logsigma)
    lp = logpi - 0.5 * u ** 2 - logsigma - 0.5 * np.log(2 * np.pi)
    m = lp.max(-1, keepdims=True)
    nll.append(-(m[..., 0] + np.log(np.exp(lp - m).sum(-1))).mean())
nll = np.array(nll)
_, z_loss, _ = mdnrnn.loss(p, mcfg, z, a)
print(f"mean NLL: ours {nll.mean():.5f}, minwm.mdnrnn.loss {z_loss:.5f}")
assert abs(nll.mean() - z_loss) < 1e-4 * abs(z_loss) + 1e-5
top = np.argsort(nll)[::-1][:3]
print(f"most surprising steps: t = {top.tolist()} (NLL {nll[top].round(2).tolist()}; median {np.median(nll):.2f})")
assert np.argmax(nll) == 20

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
