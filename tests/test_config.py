"""Each environment's facts in one place (config.EnvSpec, SPEC in minwm/carracing.py and
minwm/doom.py), the presets built from them, and the seed ranges of the stages."""
import numpy as np
import pytest

from minwm import carracing, config, doom
from minwm import controller as C
from minwm.config import preset, spec


def test_spec_finds_each_environment_module():
    assert spec("doom") is doom.SPEC and spec("carracing") is carracing.SPEC
    assert config.ENVS == ("carracing", "doom", "toy")
    for name in config.ENVS:
        assert spec(name).name == name
    with pytest.raises(ValueError, match="unknown environment 'pong': choose one of carracing, doom, toy"):
        spec("pong")


def test_doom_spec():
    s = spec("doom")
    assert (s.max_steps, s.min_frames, s.m_restart, s.m_done) == (2100, 101, True, True)
    assert (s.title, s.score) == ("Take Cover", "time steps survived")
    assert C.n_params(s.controller) == 1088 and s.controller.env == "doom"
    assert (s.controller.nz, s.controller.hidden, s.controller.inputs, s.controller.bias) == (64, 512, "zch", False)
    assert s.steps(0) == 2100 and s.steps(50) == 50
    a = s.explore(np.random.default_rng(0), 30)
    assert a.shape == (30,) and a.dtype == np.float32 and np.abs(a).max() <= 1
    np.testing.assert_array_equal(s.env_action(np.array([[-0.9], [0.0], [0.5]])), [-1, 0, 1])
    fed = s.m_input(np.array([-0.5, 0.2, 0.9], np.float32))          # collect's continuous actions
    assert fed.dtype == np.float32
    np.testing.assert_array_equal(fed, [[-1.0], [0.0], [1.0]])
    np.testing.assert_array_equal(s.m_input(np.array([[1], [0], [-1]], np.int8)), [[1.0], [0.0], [-1.0]])


def test_carracing_spec():
    s = spec("carracing")
    assert (s.max_steps, s.min_frames, s.m_restart, s.m_done) == (1000, 0, False, False)
    assert (s.title, s.score) == ("CarRacing", "score")
    assert C.n_params(s.controller) == 867 and s.controller.env == "carracing"
    assert (s.controller.nz, s.controller.hidden, s.controller.inputs, s.controller.bias) == (32, 256, "zh", True)
    assert s.steps(0) == 1000 and s.steps(40) == 40
    a = s.explore(np.random.default_rng(0), 30)
    assert a.shape == (30, 3) and a.dtype == np.float32
    np.testing.assert_allclose(s.env_action(np.array([[-0.5, -1.0, -0.3], [0.9, 0.0, 0.4]])),
                               [[-0.5, 0.0, 0.0], [0.9, 0.5, 0.4]], atol=1e-7)
    np.testing.assert_array_equal(s.m_input(a), a)                      # (steer, gas, brake) as is
    # C's action map is the spec's
    out = np.array([[0.3, 0.2, 0.7]])
    np.testing.assert_array_equal(C.env_action(s.controller, out), s.env_action(out))


def test_doom_presets():
    paper, default, tiny = (preset("doom", p) for p in ("paper", "default", "tiny"))
    for cfg in (paper, default, tiny):
        assert (cfg.env, cfg.vae.nz, cfg.evolve.in_dream, cfg.evolve.tau) == ("doom", 64, True, 1.15)
        assert cfg.collect.max_frames == cfg.evolve.max_steps == cfg.evaluate.max_steps == 0
    assert (paper.rnn.hidden, paper.rnn.seq_len, paper.rnn.lr_decay) == (512, 500, 0.99999)
    assert (paper.collect.rollouts, paper.evolve.generations, paper.evolve.population) == (10000, 300, 64)
    assert (default.rnn.hidden, default.rnn.seq_len, default.rnn.epochs) == (512, 100, 60)
    assert (default.collect.rollouts, default.evolve.generations, default.evolve.rollouts) == (1500, 20, 16)
    assert (default.vae.max_frames, default.evolve.eval_every, default.evolve.eval_rollouts) == (300000, 10, 1024)
    assert (tiny.rnn.hidden, tiny.rnn.seq_len, tiny.collect.rollouts, tiny.evolve.population) == (32, 20, 4, 4)
    assert (paper.preset, default.run_dir) == ("paper", "runs/doom-default")


def test_carracing_presets():
    paper, default, tiny = (preset("carracing", p) for p in ("paper", "default", "tiny"))
    for cfg in (paper, default, tiny):
        assert (cfg.env, cfg.vae.nz, cfg.evolve.in_dream, cfg.evolve.controller) == ("carracing", 32, False, "full")
    assert (paper.rnn.hidden, paper.rnn.seq_len, paper.collect.rollouts) == (256, 999, 10000)
    assert (paper.evolve.generations, paper.evolve.population, paper.evolve.rollouts) == (1800, 64, 16)
    assert (default.rnn.hidden, default.collect.rollouts, default.evolve.generations) == (256, 200, 30)
    assert (default.evolve.rollouts, default.evolve.eval_rollouts) == (2, 16)
    assert (tiny.collect.max_frames, tiny.evolve.max_steps, tiny.evaluate.max_steps) == (60, 50, 50)
    assert (tiny.rnn.hidden, tiny.collect.rollouts) == (32, 4)
    with pytest.raises(ValueError, match="unknown preset 'huge'"):
        preset("carracing", "huge")


def test_each_stage_draws_its_own_seeds():
    """config.py: every stage has its own range of episode seeds, 1,000,000 apart; evaluate starts
    at 1,000,000 and 2,000,000+ is a second, held-out evaluation set."""
    held_out = config.Evaluate().seed + 1_000_000
    ranges = {"evaluate": config.Evaluate().seed, "held out": held_out, "train": config.TRAIN_SEED,
              "eval": config.EVAL_SEED, "iterate": config.ITER_SEED}
    assert len(set(ranges.values())) == len(ranges), f"two stages share a seed range: {ranges}"
    assert min(ranges.values()) == 1_000_000
    assert config.COLLECT_SEED_STRIDE == 100_000_000 > max(ranges.values())
