"""The environments as the paper saw them: frames, actions, caps, and the fast CarRacing's pixels.

Real environments with small step counts. FastCarRacing (its Numba-drawn frames) is compared with
gymnasium's stock env byte for byte; bench/envs.py and bench/carracing_render.py repeat the
comparison over whole 1000-step episodes.
"""
import multiprocessing
import os
import time
from pathlib import Path

import gymnasium
import numpy as np
import pytest

from minwm import carracing, doom, pool
from minwm.carracing_fast import FastCarRacing

# ---------------------------------------------------------------------------------------------
# Frame processing


def test_carracing_crop_drops_indicator_bar_and_resizes():
    obs = np.full((96, 96, 3), 100, np.uint8)
    obs[84:] = 255                                     # the indicator bar
    obs[:84, :48] = (200, 0, 0)                        # left half red, right half grey
    frame = carracing.process_frame(obs)
    assert frame.shape == (64, 64, 3) and frame.dtype == np.uint8
    assert (frame[:, :30] == (200, 0, 0)).all()        # nothing of the bar bleeds in
    assert (frame[:, 34:] == 100).all()
    assert 0 < frame[0, 32, 0] < 200                   # the edge is blended


def test_resize_is_antialiased():
    checker = (np.indices((96, 96)).sum(0) % 2 * 255).astype(np.uint8)   # 1-pixel checkerboard
    frame = carracing.process_frame(np.repeat(checker[..., None], 3, axis=2))
    assert abs(frame.astype(float).mean() - 127.5) < 3 and frame.std() < 10  # grey, not aliased


def test_doom_crop_keeps_top_five_sixths():
    screen = np.full((120, 160, 3), 30, np.uint8)
    screen[100:] = 250                                 # the HUD rows
    frame = doom.process_frame(screen)
    assert frame.shape == (64, 64, 3) and frame.dtype == np.uint8 and (frame == 30).all()


# ---------------------------------------------------------------------------------------------
# CarRacing


def test_carracing_wrapper_frames_and_steps():
    env = carracing.CarRacing()
    assert isinstance(env.env, FastCarRacing) and env.env.numba  # the pygame-free frame
    frame = env.reset(seed=3)
    assert frame.shape == (64, 64, 3) and frame.dtype == np.uint8
    assert (frame == carracing.process_frame(env.obs)).all()
    rewards = []
    for _ in range(5):
        frame, reward, done = env.step([0.0, 1.0, 0.0])
        assert frame.shape == (64, 64, 3) and isinstance(reward, float) and done is False
        rewards.append(reward)
    assert rewards[0] > 0 or np.isclose(rewards[0], -0.1)     # -0.1 per frame, + new tiles
    env.close()


def test_carracing_time_limit():
    env = carracing.CarRacing(max_steps=7)
    env.reset(seed=0)
    dones = [env.step([0.0, 0.5, 0.0])[2] for _ in range(7)]
    assert dones == [False] * 6 + [True]
    assert carracing.CarRacing().max_steps == 1000


def _policy(kind, t):
    """Driving that visits every drawing case: straight, hard turns (spins), braking, off-road
    to the edge of the playfield (partly drawn background square)."""
    if kind == "straight":
        return [0.0, 1.0, 0.0]
    if kind == "hard turns":
        return [1.0 if (t // 40) % 2 else -1.0, 0.6, 0.0]
    if kind == "braking":
        return [0.0, 1.0, 0.0] if (t // 30) % 2 else [0.3, 0.0, 0.9]
    return [0.5, 0.1, 0.0] if 10 <= t < 40 else [0.0, 0.4, 0.0]   # off track, off the playfield


def test_fast_carracing_is_byte_identical_to_stock():
    """Observations, rewards and termination equal, including the zoom-in of the first second
    (t < 1: 50 steps), new tracks on reset, and an episode that ends off the playfield (-100)."""
    stock, fast, other = gymnasium.make("CarRacing-v3"), FastCarRacing(), FastCarRacing()
    other.reset(seed=9)  # shares fast's frame buffers (shared_frame) and draws between its frames
    cases = [(0, "straight", 120), (1, "hard turns", 120), (2, "braking", 120), (0, "off", 400)]
    for seed, kind, steps in cases:
        o1, _ = stock.reset(seed=seed)
        o2, _ = fast.reset(seed=seed)
        assert np.array_equal(o1, o2)
        for t in range(steps):
            a = np.array(_policy(kind, t), np.float32)
            other.step(np.array([0.5, 0.05, 0.0], np.float32))
            o1, r1, term1, _, _ = stock.step(a)
            o2, r2, term2, _, _ = fast.step(a)
            assert np.array_equal(o1, o2), (seed, kind, t)
            assert r1 == r2 and term1 == term2, (seed, kind, t)
            if term1:
                break
    assert term1 and r1 == -100 and 100 < t < 400     # the off-playfield episode ended
    stock.close()
    fast.close()
    other.close()


def test_fast_carracing_falls_back_on_other_gymnasium(monkeypatch):
    monkeypatch.setattr(gymnasium, "__version__", "0.0.1")
    with pytest.warns(UserWarning, match="stock"):
        env = carracing.make_gym_carracing(fast=True)
    assert type(env) is gymnasium.envs.box2d.car_racing.CarRacing


# ---------------------------------------------------------------------------------------------
# Doom: Take Cover


@pytest.fixture(scope="module")
def take_cover():
    env = doom.TakeCover()
    yield env
    env.close()


def test_doom_action_mapping():
    for a, expected in [(-1.0, doom.LEFT), (-0.34, doom.LEFT), (-0.33, doom.STAY), (0.0, doom.STAY),
                        (0.33, doom.STAY), (0.34, doom.RIGHT), (1.0, doom.RIGHT),
                        (np.int8(-1), doom.LEFT), (np.int8(1), doom.RIGHT), (np.array([0.9]), doom.RIGHT)]:
        assert doom.buttons(a) == expected, a


def test_doom_actions_move_the_player(take_cover):
    def frames(a):
        take_cover.reset(seed=5)
        return np.stack([take_cover.step(a)[0] for _ in range(15)])
    stay, small, left, right = frames(0.0), frames(0.3), frames(-0.9), frames(0.9)
    assert np.array_equal(stay, small)                 # |a| < 1/3 stays
    assert not np.array_equal(stay, left) and not np.array_equal(left, right)


def test_doom_settings_frames_and_reward(take_cover):
    g = take_cover.game
    assert g.get_doom_skill() == 4 and g.get_episode_start_time() == 14
    assert take_cover.max_steps == 2100
    frame = take_cover.reset(seed=0)
    assert frame.shape == (64, 64, 3) and frame.dtype == np.uint8
    frame, reward, done = take_cover.step(0.0)
    assert frame.shape == (64, 64, 3) and reward == 1.0 and done is False


def test_doom_episode_capped_at_2100(take_cover):
    take_cover.reset(seed=1)
    take_cover.game.send_game_command("god")          # invulnerable: only the cap ends it
    total, t, done = 0.0, 0, False
    while not done:
        _, reward, done = take_cover.step(0.0)
        total, t = total + reward, t + 1
    assert t == 2100 and total == 2100.0
    assert not take_cover.game.is_episode_finished()   # the scenario itself has no cap


def test_doom_episodes_reproducible_by_seed(take_cover):
    def episode(seed):
        rng = np.random.default_rng(0)
        frames, done = [take_cover.reset(seed)], False
        while not done:
            frame, _, done = take_cover.step(rng.uniform(-1, 1))
            frames.append(frame)
        return np.stack(frames)
    a, b, c = episode(7), episode(7), episode(8)
    assert np.array_equal(a, b)
    assert a.shape != c.shape or not np.array_equal(a, c)


def test_doom_160x120_frames_match_320x240():
    """The 64x64 frames from 160x120 rows 0:100 show the same picture as from 320x240 rows
    0:200: compared as 16x16 block means (texture detail differs between resolutions, framing
    must not), they are far closer than the same frame with a wrong crop (all 240 rows)."""
    def blocks(frame):                                  # (64, 64, 3) -> (16, 16, 3) means
        return frame.reshape(16, 4, 16, 4, 3).mean(axis=(1, 3))
    small, large = doom.TakeCover(), doom.TakeCover(resolution="320x240")
    try:
        small.reset(seed=2), large.reset(seed=2)
        rng = np.random.default_rng(0)
        same, wrong = [], []
        for _ in range(60):
            a = rng.uniform(-1, 1)
            f1, _, d1 = small.step(a)
            f2, _, d2 = large.step(a)
            assert d1 == d2
            screen = large.game.get_state().screen_buffer      # (240, 320, 3)
            uncropped = carracing.process_frame(screen, rows=240)
            same.append(np.abs(blocks(f1) - blocks(f2)).mean())
            wrong.append(np.abs(blocks(f1) - blocks(uncropped)).mean())
        assert np.mean(same) < 4 and np.mean(wrong) > 2 * np.mean(same), (np.mean(same), np.mean(wrong))
    finally:
        small.close(), large.close()


def _engine_running(directory):
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if directory in cmdline.read_bytes().decode(errors="ignore"):
                return True
        except OSError:
            pass
    return False


def test_doom_leaves_nothing_behind(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = doom.TakeCover()
    env.reset(seed=0)
    env.step(1.0)
    directory = env.directory
    assert os.getcwd() == str(tmp_path) and _engine_running(directory)
    env.close()
    env.close()                                        # closing twice is harmless
    assert list(tmp_path.iterdir()) == []              # no _vizdoom.ini, no _vizdoom/
    assert not os.path.exists(directory) and not _engine_running(directory)


_pool_env = {}


def _open_take_cover():
    _pool_env["env"] = doom.TakeCover()


def _take_cover_directory(_):
    return _pool_env["env"].directory


def test_doom_in_terminated_pool_leaves_nothing_behind():
    """Pool.terminate (SIGTERM) would kill a worker without cleanup and orphan its engine."""
    with multiprocessing.get_context("spawn").Pool(1, _open_take_cover) as pool:
        directory = pool.map(_take_cover_directory, [0])[0]
        assert _engine_running(directory)
    # leaving the with block calls pool.terminate()
    assert not os.path.exists(directory) and not _engine_running(directory)


def _take_cover():
    return {"env": doom.TakeCover()}


def _directory(state, _):
    return state["env"].directory


def test_doom_in_a_closed_minwm_pool_leaves_nothing_behind(tmp_path, monkeypatch):
    """minwm.pool.Pool.close() terminates its workers (SIGTERM): their engines still close, also
    one whose worker is still starting it. Every directory and engine of the pool lives under
    tmp_path (the workers' TMPDIR), so none goes unchecked, whichever worker ran which task."""
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    for stage in ("starting", "running"):
        workers = pool.Pool(_take_cover, (), workers=2)
        try:
            if stage == "starting":  # close as soon as the first engine exists: inside game.init()
                deadline = time.monotonic() + 60
                while not (started := _engine_running(str(tmp_path))) and time.monotonic() < deadline:
                    time.sleep(0.01)
                assert started, "no engine started within 60 s"
            else:
                assert all(_engine_running(d) for d in workers.map(_directory, [0, 1]))
        finally:
            workers.close()
        time.sleep(0.5)  # an orphaned engine would still be alive
        assert list(tmp_path.iterdir()) == [] and not _engine_running(str(tmp_path)), stage
