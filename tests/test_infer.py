"""Exported weights: the .npz round trip, clear errors, inference == the autograd models."""
import subprocess
import sys

import numpy as np
import pytest

from minwm import controller as C
from minwm import formats, infer
from minwm.doom import SPEC as DOOM
from minwm.kernels import lstm_step_numpy, mdn_head


def _vae(rng, nz=8):
    return infer.random_vae_arrays(nz, rng)


def _mdnrnn(rng, nz=4, na=1, hidden=16, doom=True):
    return infer.random_mdnrnn_arrays(nz, na, hidden, rng, restart=doom, done=doom)


def test_inference_never_imports_autograd():
    code = ("import sys, minwm.infer, minwm.dream, minwm.controller, minwm.kernels; "
            "assert 'minwm.autograd' not in sys.modules, sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_specs_and_formats_load_no_game_engine_and_no_autograd():
    # the dream, inference and both environments' specs (Doom never loads gymnasium, CarRacing
    # never loads vizdoom); a game engine loads only when an environment is made
    code = ("import sys, minwm.dream, minwm.infer, minwm.controller, minwm.formats, minwm.config, "
            "minwm.doom, minwm.carracing; from minwm.config import spec; spec('doom'); "
            "spec('carracing'); heavy = [m for m in ('gymnasium', 'vizdoom', 'pygame', "
            "'minwm.autograd') if m in sys.modules]; assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_npz_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    v, m = _vae(rng), _mdnrnn(rng)
    np.savez(tmp_path / "vae.npz", **v)
    np.savez(tmp_path / "mdnrnn.npz", **m)
    vae, mdn = infer.load_vae(tmp_path / "vae.npz"), infer.load_mdnrnn(tmp_path / "mdnrnn.npz")
    assert vae.nz == 8 and set(vae.params) == set(formats.vae_shapes(8))
    for name, arr in vae.params.items():
        np.testing.assert_array_equal(arr, v[name])
    assert (mdn.nz, mdn.na, mdn.hidden, mdn.k, mdn.restart, mdn.done) == (4, 1, 16, 5, True, True)
    np.testing.assert_array_equal(mdn.wx, m["lstm.wx"])
    np.testing.assert_array_equal(mdn.w_mdn, m["mdn.w"])
    np.testing.assert_array_equal(mdn.w, np.concatenate([m["lstm.wx"], m["lstm.wh"]]))
    assert mdn.w.shape == (4 + 1 + 1 + 16, 64) and mdn.w_mdn.shape == (16, 3 * 4 * 5 + 1)


def test_bad_files_name_the_file_and_every_problem(tmp_path):
    rng = np.random.default_rng(1)
    v = _vae(rng)
    del v["enc.conv2.b"], v["dec.dense.w"]
    v["enc.mu.w"] = v["enc.mu.w"][:, :3]
    np.savez(tmp_path / "bad_vae.npz", **v)
    with pytest.raises(formats.FormatError) as err:
        infer.load_vae(tmp_path / "bad_vae.npz", "minwm train-vae doom")
    assert isinstance(err.value, ValueError)
    msg = str(err.value)
    assert "bad_vae.npz" in msg and "dec.dense.w" in msg and "enc.conv2.b" in msg
    assert "rebuild it with `minwm train-vae doom`" in msg
    assert "enc.mu.w (1024, 3) (expected (1024, 8))" in msg

    m = _mdnrnn(rng)
    del m["meta.hidden"]
    np.savez(tmp_path / "bad_m.npz", **m)
    with pytest.raises(ValueError, match=r"bad_m.npz: missing meta.hidden"):
        infer.load_mdnrnn(tmp_path / "bad_m.npz")

    m = _mdnrnn(rng)
    m["meta.k"] = np.array("five")                    # not an integer: the entry is named
    np.savez(tmp_path / "bad_m1.npz", **m)
    with pytest.raises(ValueError, match=r"bad_m1.npz: .*meta.k"):
        infer.load_mdnrnn(tmp_path / "bad_m1.npz")

    m = _mdnrnn(rng)
    m["meta.done"] = np.array(0)                      # meta says no done output, mdn.w has one
    np.savez(tmp_path / "bad_m2.npz", **m)
    with pytest.raises(ValueError, match=r"mdn.w \(16, 61\) \(expected \(16, 60\)\)"):
        infer.load_mdnrnn(tmp_path / "bad_m2.npz")


def test_encode_decode_shapes_and_ranges():
    rng = np.random.default_rng(2)
    vae = infer.vae_from_arrays(_vae(rng))
    frames = rng.integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    mu, logvar = infer.encode(vae, frames)
    assert mu.shape == logvar.shape == (3, 8) and mu.dtype == np.float32
    np.testing.assert_allclose(infer.encode(vae, frames.astype(np.float32) / 255)[0], mu, atol=1e-6)
    x = infer.decode(vae, mu)
    assert x.shape == (3, 64, 64, 3) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0


def test_batched_encode_split_over_threads_equals_one_pass(monkeypatch):
    from minwm import parallel
    rng = np.random.default_rng(5)
    v = infer.vae_from_arrays(infer.random_vae_arrays(8, rng))
    frames = rng.integers(0, 256, (40, 64, 64, 3), dtype=np.uint8)
    monkeypatch.setattr(parallel, "parts", lambda: 3)                 # parts of 13, 13, 14 frames
    for got, want in zip(infer.encode(v, frames), infer._encode(v, frames)):
        assert got.shape == (40, 8)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_inference_equals_autograd_forward(tmp_path):
    from minwm import mdnrnn, vae
    from minwm.autograd import Tensor
    rng = np.random.default_rng(3)
    vcfg = vae.VAEConfig(nz=8)
    p = vae.init_params(vcfg, rng)
    vae.export(p, vcfg, tmp_path / "vae.npz")
    v = infer.load_vae(tmp_path / "vae.npz")
    x = rng.random((2, 64, 64, 3)).astype(np.float32)
    mu, logvar = vae.encode(p, Tensor(x))
    mu_i, logvar_i = infer.encode(v, x)
    np.testing.assert_allclose(mu_i, mu.data, atol=1e-5)
    np.testing.assert_allclose(logvar_i, logvar.data, atol=1e-5)
    np.testing.assert_allclose(infer.decode(v, mu_i), vae.decode(p, mu).data, atol=1e-5)

    mcfg = mdnrnn.MDNRNNConfig(nz=4, na=1, hidden=16, restart=True, done=True)
    q = mdnrnn.init_params(mcfg, rng)
    mdnrnn.export(q, mcfg, tmp_path / "m.npz")
    m = infer.load_mdnrnn(tmp_path / "m.npz")
    N, T = 3, 6
    z = rng.standard_normal((N, T, 4)).astype(np.float32)
    a = rng.uniform(-1, 1, (N, T, 1)).astype(np.float32)
    restart = np.zeros((N, T), np.float32)
    restart[:, 0] = 1
    restart[1, 3] = 1                                 # a new episode inside row 1's sequence
    y = mdnrnn.forward(q, mcfg, Tensor(z), Tensor(a), restart).data   # (N, T, 61)
    h, c = infer.initial_state(m, N)
    for t in range(T):
        h, c, logpi, mu_t, logsigma, done = infer.m_step(m, z[:, t], a[:, t], h, c, restart[:, t] > 0)
        ref = mdn_head(y[:, t], 4, 5)
        for got, want in zip((logpi, mu_t, logsigma, done), ref):
            np.testing.assert_allclose(got, want, atol=2e-5)


def test_agent_step_runs_v_then_c_then_m():
    rng = np.random.default_rng(4)
    vae = infer.vae_from_arrays(infer.random_vae_arrays(64, rng))
    m = infer.mdnrnn_from_arrays(infer.random_mdnrnn_arrays(64, 1, 512, rng, restart=True, done=True))
    theta = rng.standard_normal(1088).astype(np.float32) * 0.2
    frames = rng.integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
    h, c = rng.standard_normal((2, 512)).astype(np.float32), rng.standard_normal((2, 512)).astype(np.float32)
    restart = np.array([True, False])
    action, h1, c1 = infer.agent_step(vae, m, DOOM.controller, theta, frames, h, c, restart, np.random.default_rng(9))
    # the same step by hand, with the same noise
    eps = np.random.default_rng(9).standard_normal((2, 64), dtype=np.float32)
    mu, logvar = infer.encode(vae, frames)
    z = mu + np.exp(logvar / 2) * eps
    h0, c0 = h * ~restart[:, None], c * ~restart[:, None]
    a = np.tanh(np.concatenate([z, c0, h0], 1) @ theta)
    np.testing.assert_array_equal(action, (a > 1 / 3).astype(int) - (a < -1 / 3))
    x = np.concatenate([z, C.m_action(DOOM.controller, a[:, None]), restart[:, None]], 1)
    h_ref, c_ref = lstm_step_numpy(x, h0, c0, restart, m.wx, m.wh, m.b)
    np.testing.assert_allclose(h1, h_ref, atol=1e-5)
    np.testing.assert_allclose(c1, c_ref, atol=1e-5)

    # edit: the output carried out replaces C's, and M is fed it (exploration)
    seen = []
    forced = np.where(a[:, None] > 0, -1.0, 1.0).astype(np.float32)      # the opposite turn
    action, h2, c2 = infer.agent_step(vae, m, DOOM.controller, theta, frames, h, c, restart, np.random.default_rng(9),
                                      edit=lambda a_c: seen.append(a_c) or forced)
    np.testing.assert_allclose(seen[0][:, 0], a, atol=1e-6)                # edit saw C's output
    np.testing.assert_array_equal(action, forced[:, 0].astype(int))
    x[:, 64:65] = C.m_action(DOOM.controller, forced)
    h_ref, c_ref = lstm_step_numpy(x, h0, c0, restart, m.wx, m.wh, m.b)
    np.testing.assert_allclose(h2, h_ref, atol=1e-5)
    np.testing.assert_allclose(c2, c_ref, atol=1e-5)


def test_unreadable_and_nonfinite_weights_raise_one_clear_error(tmp_path):
    rng = np.random.default_rng(5)
    m = _mdnrnn(rng)
    np.savez(tmp_path / "m.npz", **m)
    cut = tmp_path / "cut.npz"
    cut.write_bytes((tmp_path / "m.npz").read_bytes()[:300])            # truncated
    with pytest.raises(formats.FormatError, match=r"cut.npz: not a complete .npz.*`minwm train-rnn doom`"):
        infer.load_mdnrnn(cut, "minwm train-rnn doom")
    m["lstm.wh"][0, 0] = np.nan
    np.savez(tmp_path / "nan.npz", **m)
    with pytest.raises(formats.FormatError, match=r"nan.npz: NaN or inf in lstm.wh"):
        infer.load_mdnrnn(tmp_path / "nan.npz")
    v = _vae(rng)
    v["enc.mu.b"] = np.array(["x"] * 8)                               # not numbers
    np.savez(tmp_path / "str.npz", **v)
    with pytest.raises(formats.FormatError, match=r"str.npz: not numbers: enc.mu.b"):
        infer.load_vae(tmp_path / "str.npz")
    with pytest.raises(formats.MissingInput, match=r"none.npz not found: run `minwm train-vae doom` first"):
        infer.load_vae(tmp_path / "none.npz", "minwm train-vae doom")


def test_weights_with_pickled_objects_are_refused(tmp_path):
    v = _vae(np.random.default_rng(6))
    v["enc.mu.b"] = np.array([{"a": 1}] * 8, dtype=object)
    np.savez(tmp_path / "obj.npz", **v)                                  # np.savez pickles it
    with pytest.raises(formats.FormatError, match=r"obj.npz: holds pickled objects"):
        infer.load_vae(tmp_path / "obj.npz")


def test_export_refuses_nan_weights_and_keeps_the_last_good_file(tmp_path):
    rng = np.random.default_rng(7)
    v = _vae(rng)
    nz = int(v.pop("meta.nz"))
    formats.save_vae(tmp_path / "vae.npz", v, nz)
    good = (tmp_path / "vae.npz").read_bytes()
    v["dec.dense.b"][3] = np.inf
    with pytest.raises(FloatingPointError, match="dec.dense.b"):
        formats.save_vae(tmp_path / "vae.npz", v, nz)
    assert (tmp_path / "vae.npz").read_bytes() == good
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vae.npz"]
