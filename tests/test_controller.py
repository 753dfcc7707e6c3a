"""C: parameter counts from the paper, the formulas, the action mappings, per-row parameters."""
from dataclasses import replace

import numpy as np
import pytest

from minwm import carracing, doom
from minwm import controller as C

CARRACING, DOOM = carracing.SPEC.controller, doom.SPEC.controller     # each environment's own C
CARRACING_Z, CARRACING_Z_HIDDEN = C.ablation(CARRACING, "z"), C.ablation(CARRACING, "z_hidden")


def test_parameter_counts_from_the_paper():
    assert C.n_params(CARRACING) == 867           # 3 x (32 + 256) + 3
    assert C.n_params(DOOM) == 1088               # 64 + 512 + 512, no bias
    assert C.n_params(CARRACING_Z) == 99          # 3 x 32 + 3
    assert C.n_params(CARRACING_Z_HIDDEN) == 1443  # 32 x 40 + 40 + 40 x 3 + 3


def _inputs(rng, cfg, N):
    return (rng.standard_normal((N, cfg.nz)), rng.standard_normal((N, cfg.hidden)),
            rng.standard_normal((N, cfg.hidden)))


def test_carracing_is_tanh_of_W_zh_plus_b():
    rng = np.random.default_rng(0)
    cfg = CARRACING
    theta = rng.standard_normal(C.n_params(cfg)) * 0.1
    z, h, c = _inputs(rng, cfg, 5)
    W, b = theta[:3 * 288].reshape(3, 288), theta[3 * 288:]
    a = C.act(cfg, theta, z, h, c)
    assert a.shape == (5, 3)
    np.testing.assert_allclose(a, np.tanh(np.concatenate([z, h], 1) @ W.T + b), atol=1e-12)


def test_doom_is_tanh_of_w_dot_zch_without_bias():
    rng = np.random.default_rng(1)
    cfg = DOOM
    theta = rng.standard_normal(1088) * 0.05
    z, h, c = _inputs(rng, cfg, 4)
    a = C.act(cfg, theta, z, h, c)
    assert a.shape == (4, 1)
    np.testing.assert_allclose(a[:, 0], np.tanh(np.concatenate([z, c, h], 1) @ theta), atol=1e-12)


def test_hidden_layer_ablation():
    rng = np.random.default_rng(2)
    cfg = CARRACING_Z_HIDDEN
    theta = rng.standard_normal(1443) * 0.1
    z = rng.standard_normal((6, 32))
    W1, b1 = theta[:1280].reshape(40, 32), theta[1280:1320]
    W2, b2 = theta[1320:1440].reshape(3, 40), theta[1440:]
    np.testing.assert_allclose(C.act(cfg, theta, z), np.tanh(np.tanh(z @ W1.T + b1) @ W2.T + b2), atol=1e-12)
    assert C.act(CARRACING_Z, theta[:99], z).shape == (6, 3)


@pytest.mark.parametrize("cfg", [CARRACING, DOOM, CARRACING_Z_HIDDEN])
def test_per_row_parameters_equal_one_controller_per_row(cfg):
    rng = np.random.default_rng(3)
    thetas = rng.standard_normal((5, C.n_params(cfg))) * 0.1
    z, h, c = _inputs(rng, cfg, 5)
    batched = C.act(cfg, thetas, z, h, c)
    for i in range(5):
        np.testing.assert_allclose(batched[i], C.act(cfg, thetas[i], z[i:i + 1], h[i:i + 1], c[i:i + 1])[0],
                                   atol=1e-12)


def test_flat_vector_round_trip():
    rng = np.random.default_rng(4)
    for cfg in (CARRACING, DOOM, CARRACING_Z_HIDDEN):
        theta = rng.standard_normal(C.n_params(cfg))
        layers = C.unflatten(cfg, theta)
        np.testing.assert_array_equal(C.flatten(layers), theta)
    with pytest.raises(AssertionError, match="1088"):
        C.unflatten(DOOM, np.zeros(867))


def test_carracing_action_mapping():
    a = np.array([[-0.5, -1.0, -0.3], [0.9, 0.0, 0.4], [0.0, 1.0, 1.0]])
    np.testing.assert_allclose(C.env_action(CARRACING, a),
                               [[-0.5, 0.0, 0.0], [0.9, 0.5, 0.4], [0.0, 1.0, 1.0]], atol=1e-7)


def test_doom_action_thresholds():
    a = np.array([[-0.9], [-0.34], [-0.33], [0.0], [0.33], [0.34], [1.0]])
    np.testing.assert_array_equal(C.env_action(DOOM, a), [-1, -1, 0, 0, 0, 1, 1])


def test_what_m_is_fed():
    a = np.array([[-0.5], [0.1], [0.7]], np.float32)
    np.testing.assert_array_equal(C.m_action(DOOM, a), [[-1.0], [0.0], [1.0]])   # discretised
    np.testing.assert_array_equal(C.m_action(replace(DOOM, feed_m="raw"), a), a)
    assert C.m_action(DOOM, a).dtype == np.float32


def test_ablations():
    assert (CARRACING_Z.inputs, CARRACING_Z.n_hidden) == ("z", 0)
    assert (CARRACING_Z_HIDDEN.inputs, CARRACING_Z_HIDDEN.n_hidden) == ("z", 40)
    assert C.ablation(CARRACING, "full") == CARRACING
    with pytest.raises(ValueError, match="z_hidden"):
        C.ablation(CARRACING, "zh")


def test_controller_config_has_no_environment_defaults():
    with pytest.raises(TypeError):
        C.ControllerConfig(nz=32, hidden=256)     # na, inputs, bias, env: required
