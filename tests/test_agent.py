"""The batched agent (minwm.agent.episodes): K environments in lockstep give every episode the
same bits as the one-env agent, on the toy world and on CarRacing."""
from dataclasses import replace

import numpy as np
import pytest

from minwm import agent, infer
from minwm import controller as C
from minwm.config import spec


def one_env(env, v, m, ccfg, theta, seed, patience=0):
    """The agent one episode at a time, as before batching: batch 1, one theta (P,), one rng."""
    rng = np.random.default_rng(seed)
    frame = env.reset(seed)
    h, c = infer.initial_state(m, 1)
    restart, total, losing = np.ones(1, bool), 0.0, 0
    frames, actions, rewards = [], [], []
    while True:
        a, h, c = infer.agent_step(v, m, ccfg, theta, frame[None], h, c, restart, rng)
        restart[:] = False
        frames.append(frame), actions.append(a[0])
        frame, reward, done = env.step(a[0])
        total += reward
        rewards.append(reward)
        losing = losing + 1 if reward < 0 else 0
        if done or (patience and losing == patience):
            return np.stack(frames), np.array(actions, np.float32), np.array(rewards, np.float32), total


def agent_of(name, hidden, rng):
    s = spec(name)
    ccfg = replace(s.controller, hidden=hidden)
    arrays = (infer.random_vae_arrays(ccfg.nz, rng),
              infer.random_mdnrnn_arrays(ccfg.nz, ccfg.na, hidden, rng, restart=s.m_restart, done=s.m_done))
    return s, ccfg, arrays


def check_batched_equals_one_env(name, hidden, thetas, seeds, steps, K, patience=0):
    s, ccfg, (va, ma) = agent_of(name, hidden, np.random.default_rng(0))
    v, m = infer.vae_from_arrays(va), infer.mdnrnn_from_arrays(ma)
    envs = [s.make(steps) for _ in range(K)]
    try:
        want = [one_env(envs[0], v, m, ccfg, th, sd, patience) for th, sd in zip(thetas, seeds)]
        got = agent.episodes(envs, v, m, ccfg, list(zip(thetas, seeds)), record=True, patience=patience)
        totals = agent.episodes(envs, v, m, ccfg, list(zip(thetas, seeds)), patience=patience)
    finally:
        for env in envs:
            env.close()
    for (frames, actions, rewards, total), r, got_total, seed in zip(want, got, totals, seeds):
        np.testing.assert_array_equal(r["frames"], frames)
        np.testing.assert_array_equal(r["actions"], actions)
        np.testing.assert_array_equal(r["rewards"], rewards)
        assert r["dones"].sum() == r["dones"][-1] == 1 and r["seed"] == seed
        assert got_total == total
    return [len(w[2]) for w in want]


def test_batched_toy_episodes_equal_one_env_episodes():
    _, ccfg, _ = agent_of("toy", 64, np.random.default_rng(0))
    rng = np.random.default_rng(1)
    thetas = rng.standard_normal((7, C.n_params(ccfg))) * 0.3       # float64, as CMA-ES asks
    lengths = check_batched_equals_one_env("toy", 64, thetas, range(100, 107), 200, K=3)
    assert len(set(lengths)) > 1                                    # envs refilled at different steps


def test_batched_carracing_episodes_equal_one_env_episodes_with_early_stop():
    _, ccfg, _ = agent_of("carracing", 256, np.random.default_rng(0))
    rng = np.random.default_rng(2)
    thetas = (rng.standard_normal((4, C.n_params(ccfg))) * 0.1).astype(np.float32)
    thetas[[0, 2], -3:] = [0.0, -5.0, 5.0]                           # bias: no gas, full brake
    lengths = check_batched_equals_one_env("carracing", 256, thetas, range(7, 11), 40, K=2, patience=15)
    assert max(lengths[0], lengths[2]) < 40 == max(lengths)         # cut short, and run to the cap


@pytest.mark.parametrize("batch", [1, 3])
def test_agents_map_scores_record_match_one_env(tmp_path, batch):
    s, ccfg, (va, ma) = agent_of("toy", 64, np.random.default_rng(0))
    np.savez(tmp_path / "vae.npz", **va)
    np.savez(tmp_path / "m.npz", **ma)
    thetas = (np.random.default_rng(3).standard_normal((8, C.n_params(ccfg))) * 0.3).astype(np.float32)
    tasks = [(ccfg, th, 20 + i) for i, th in enumerate(thetas)]
    env = s.make(200)
    v, m = infer.vae_from_arrays(va), infer.mdnrnn_from_arrays(ma)
    want = [one_env(env, v, m, ccfg, th, sd) for _, th, sd in tasks]
    agents = agent.Agents("toy", tmp_path / "vae.npz", tmp_path / "m.npz", workers=1, max_steps=200, batch=batch)
    try:
        assert len(agents._chunks(tasks)) == (4 if batch == 1 else 2)   # 2K tasks a chunk
        np.testing.assert_array_equal(agents.map(tasks), [w[3] for w in want])
        assert dict(agents.scores(tasks)) == {sd: w[3] for (_, _, sd), w in zip(tasks, want)}
        for r, w in zip(agents.record(tasks), want, strict=True):
            np.testing.assert_array_equal(r["frames"], w[0])
            np.testing.assert_array_equal(r["actions"], w[1])
    finally:
        agents.close()
