"""The toy world (minwm/toy.py): the game's rules, its spec, and the whole pipeline on it at the
tiny preset through the `minwm` command."""
import json
import subprocess
import sys

import numpy as np

from minwm import cli, config, formats, toy
from minwm import controller as C
from minwm.config import preset, spec


def play(env, seed, actions):
    """frames (T + 1, 64, 64, 3), rewards, dones of one episode under `actions` (stops at done)."""
    frames, rewards, dones = [env.reset(seed)], [], []
    for a in actions:
        frame, r, done = env.step(a)
        frames.append(frame), rewards.append(r), dones.append(done)
        if done:
            break
    return np.stack(frames), rewards, dones


def test_frames_and_determinism_by_seed():
    env = toy.FallingBlocks()
    actions = toy.held_actions(np.random.default_rng(0), 60)
    f1, r1, d1 = play(env, 7, actions)
    f2, r2, d2 = play(env, 7, actions)
    assert f1.shape[1:] == (64, 64, 3) and f1.dtype == np.uint8
    np.testing.assert_array_equal(f1, f2)
    assert r1 == r2 and d1 == d2 and set(r1) == {1.0}
    f3, _, _ = play(env, 8, actions)                          # another seed, other blocks
    n = min(len(f1), len(f3))
    assert not np.array_equal(f1[:n], f3[:n])


def test_actions_move_the_paddle_and_stop_at_the_walls():
    env = toy.FallingBlocks()
    env.reset(0)
    env.blocks = np.zeros((0, 2))                             # nothing falls
    x0 = env.x
    env.step(0.9)
    assert env.x == x0 + toy.SPEED
    env.step(0.2)                                             # |a| <= 1/3: stay
    assert env.x == x0 + toy.SPEED
    env.step(-0.5), env.step(-1)                              # int -1 (an agent's action) too
    assert env.x == x0 - toy.SPEED
    for _ in range(40):
        env.blocks = np.zeros((0, 2))
        env.step(-1.0)
    assert env.x == toy.PADDLE_W / 2                          # the left wall
    row = env.frame()[-1]                                     # the bottom row shows the paddle
    assert (row[:toy.PADDLE_W] == toy.PADDLE).all() and (row[toy.PADDLE_W] == toy.BACKGROUND).all()


def test_a_block_on_the_paddle_ends_the_episode():
    env = toy.FallingBlocks(max_steps=1000)
    env.reset(0)
    env.blocks = np.array([[env.x, 64.0 - toy.PADDLE_H - toy.BLOCK - toy.FALL + 1]])  # about to land
    _, r, done = env.step(0.0)
    assert done and r == 1.0
    env.reset(0)
    env.blocks = np.array([[env.x + 30, 64.0 - toy.PADDLE_H - toy.BLOCK]])           # lands beside it
    assert not env.step(0.0)[2]
    env.reset(0)                                              # standing still: the aimed blocks hit
    _, rewards, dones = play(env, 0, np.zeros(1000))
    assert dones[-1] and len(rewards) < 100


def test_the_cap_ends_the_episode():
    env = toy.FallingBlocks(max_steps=5)
    _, rewards, dones = play(env, 0, np.zeros(50))
    assert len(rewards) == 5 and dones == [False] * 4 + [True]


def test_spec_and_presets():
    s = spec("toy")
    assert s is toy.SPEC and "toy" in config.ENVS
    assert (s.max_steps, s.m_restart, s.m_done, s.controller.env) == (toy.MAX_STEPS, True, True, "toy")
    np.testing.assert_array_equal(s.env_action(np.array([[-0.9], [0.0], [0.5]])), [-1, 0, 1])
    assert C.n_params(s.controller) == 16 + 64 + 64
    for name in config.PRESETS:
        cfg = preset("toy", name)
        assert (cfg.vae.nz, cfg.evolve.in_dream) == (16, True)
    # importing the toy loads no game engine
    code = "import sys, minwm.toy; print(any(m in sys.modules for m in ('gymnasium', 'vizdoom', 'pygame')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_tiny_toy_run_every_stage(tmp_path):
    assert cli.main(["run", "toy", "--preset", "tiny", "--run-dir", str(tmp_path)]) is None
    ccfg, _, info = formats.read_controller(tmp_path / "controller.npz")
    assert ccfg.env == "toy" and info["where"] == "dream"
    result = json.loads((tmp_path / "evaluate.json").read_text())
    assert result["env"] == "toy" and len(result["episodes"]) == result["trials"]
    assert all(1 <= e["score"] <= 50 for e in result["episodes"])
