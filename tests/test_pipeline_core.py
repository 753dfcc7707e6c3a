"""Config, M training and dream evolution on synthetic inputs: resume, errors, real learning."""
import json
from dataclasses import asdict

import numpy as np
import pytest

from minwm import config, encode, evolve, formats, infer, mdnrnn, train_rnn
from minwm.autograd import Tensor
from minwm.config import override, preset


def test_presets_and_overrides():
    cfg = preset("doom", "paper")
    assert (cfg.vae.nz, cfg.rnn.hidden, cfg.evolve.in_dream, cfg.evolve.tau) == (64, 512, True, 1.15)
    assert (cfg.evolve.population, cfg.evolve.rollouts, cfg.collect.rollouts) == (64, 16, 10000)
    car = preset("carracing", "paper")
    assert (car.vae.nz, car.rnn.hidden, car.evolve.in_dream) == (32, 256, False)
    cfg = override(cfg, ["rnn.epochs=3", "evolve.tau=1.25", "evolve.in_dream=false", "seed=7"])
    assert (cfg.rnn.epochs, cfg.evolve.tau, cfg.evolve.in_dream, cfg.seed) == (3, 1.25, False, 7)
    with pytest.raises(ValueError, match="valid keys are .*rnn.epochs"):
        override(cfg, ["rnn.epoch=3"])
    with pytest.raises(ValueError, match="unknown section"):
        override(cfg, ["rn.epochs=3"])
    with pytest.raises(ValueError, match="expected int"):
        override(cfg, ["rnn.epochs=many"])
    with pytest.raises(ValueError, match="key=value"):
        override(cfg, ["rnn.epochs"])
    with pytest.raises(ValueError, match="choose one of"):
        preset("pong")
    assert config.from_json(config.to_json(cfg)) == cfg


def synthetic_series(rng, n_episodes=6, length=40, nz=4, na=1):
    """A stream of episodes whose z rotates slowly: learnable, with restarts and done flags."""
    mus, restart, done = [], [], []
    for _ in range(n_episodes):
        phase = rng.uniform(0, 2 * np.pi)
        t = np.arange(length)
        mus.append(np.stack([np.sin(phase + 0.3 * t * (j + 1)) for j in range(nz)], axis=1))
        r, d = np.zeros(length), np.zeros(length)
        r[0], d[-1] = 1, 1
        restart.append(r), done.append(d)
    mu = np.concatenate(mus).astype(np.float32)
    starts = np.flatnonzero(np.concatenate(restart))
    return {"mu": mu, "logvar": np.full_like(mu, -6.0),
            "action": rng.uniform(-1, 1, (len(mu), na)).astype(np.float32),
            "restart": np.concatenate(restart).astype(np.uint8),
            "done": np.concatenate(done).astype(np.uint8),
            "init_mu": mu[starts], "init_logvar": np.full((len(starts), nz), -6.0, np.float32)}


def tiny_doom(tmp_path, **rnn):
    cfg = preset("doom", "tiny", run_dir=str(tmp_path))
    return override(cfg, [f"rnn.{k}={v}" for k, v in rnn.items()])


@pytest.mark.parametrize("carry, dropout", [(False, 0.0), (True, 0.0), (False, 0.1)])
def test_train_rnn_learns_and_resumes_identically(tmp_path, carry, dropout, monkeypatch):
    rng = np.random.default_rng(0)
    series = synthetic_series(rng)
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        formats.save_npz(d / "series.npz", series)
    # uninterrupted
    kw = dict(batch=4, seq_len=12, checkpoint_every=3, lr=0.01, carry_state=carry, dropout=dropout)
    train_rnn.main(tiny_doom(a, epochs=25, **kw))
    # stopped after 7 epochs, resumed to 25 and interrupted mid-epoch (Ctrl-C), then resumed again
    train_rnn.main(tiny_doom(b, epochs=7, **kw))
    real_step, calls = train_rnn.mdnrnn.loss_and_grad, []
    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 30:                      # step 28 + 30: mid-epoch, between checkpoints
            raise KeyboardInterrupt
        return real_step(*args, **kwargs)
    monkeypatch.setattr(train_rnn.mdnrnn, "loss_and_grad", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train_rnn.main(tiny_doom(b, epochs=25, **kw))
    monkeypatch.setattr(train_rnn.mdnrnn, "loss_and_grad", real_step)
    ckpt = formats.load_npz(b / "mdnrnn.ckpt.npz", "minwm train-rnn doom")
    assert ckpt[1]["step"] == 28 + 29 and ckpt[1]["step"] % 4 != 0   # nothing finished lost
    assert np.abs(ckpt[0]["h"]).max() > 0 if carry else True        # the carried state is kept
    train_rnn.main(tiny_doom(b, epochs=25, **kw))
    wa, wb = np.load(a / "mdnrnn.npz"), np.load(b / "mdnrnn.npz")
    for k in wa.files:
        np.testing.assert_array_equal(wa[k], wb[k], err_msg=k)
    logs = [json.loads(l) for l in (a / "mdnrnn.jsonl").read_text().splitlines()]
    assert [r["step"] for r in logs] == list(range(1, len(logs) + 1))
    assert logs[-1]["z_loss"] < logs[0]["z_loss"] - 0.5, "M did not learn"
    assert int(wa["meta.restart"]) == 1 and int(wa["meta.done"]) == 1


def test_train_rnn_draws_a_dropout_mask_per_window(tmp_path, monkeypatch):
    # Dropout's Dream Land trains M with dropout on z and h: a new mask per window (sequence)
    formats.save_npz(tmp_path / "series.npz", synthetic_series(np.random.default_rng(0)))
    real_loss, keeps = train_rnn.mdnrnn.loss_and_grad, []
    def spy(*args, keep=None, **kwargs):
        keeps.append(keep)
        return real_loss(*args, keep=keep, **kwargs)
    monkeypatch.setattr(train_rnn.mdnrnn, "loss_and_grad", spy)
    train_rnn.main(tiny_doom(tmp_path, epochs=2, batch=4, seq_len=12, dropout=0.2))
    keeps = np.stack(keeps)                                          # (steps, batch, Z + H)
    H = preset("doom", "tiny").rnn.hidden
    assert keeps.shape[1:] == (4, 4 + H)                            # synthetic_series' Z = 4
    assert set(np.unique(keeps)) == {0, np.float32(1 / 0.8)}
    assert 0.1 < (keeps == 0).mean() < 0.3
    assert len({k.tobytes() for k in keeps.reshape(-1, 4 + H)}) == keeps.shape[0] * 4  # all new


def test_carry_state_lanes_read_every_episode_in_order():
    series = synthetic_series(np.random.default_rng(1), n_episodes=7, length=30)
    bounds = train_rnn.episode_bounds(series)
    np.testing.assert_array_equal(bounds, np.arange(0, 211, 30))
    order = np.random.default_rng(2).permutation(7)
    idx = train_rnn.lanes(bounds, order, batch=3, seq_len=8)            # (steps, lanes, 9)
    L = 210 // 3
    assert idx.shape == ((L - 1) // 8, 3, 9)
    # window j + 1 starts at the frame where window j's targets ended: one unbroken lane
    np.testing.assert_array_equal(idx[1:, :, 0], idx[:-1, :, -1])
    lane = np.concatenate([idx[0]] + [w[:, 1:] for w in idx[1:]], axis=1)   # (3, 1 + 8 steps)
    stream = np.concatenate([np.arange(30 * e, 30 * e + 30) for e in order])
    np.testing.assert_array_equal(lane, stream[:L * 3].reshape(3, L)[:, :lane.shape[1]])


def test_carried_state_continues_the_sequence_exactly():
    """Two windows with the state carried give M the outputs of one window twice as long."""
    series = synthetic_series(np.random.default_rng(3), n_episodes=3, length=25)
    mcfg = mdnrnn.MDNRNNConfig(nz=4, na=1, hidden=16, restart=True, done=True)
    p = mdnrnn.init_params(mcfg, np.random.default_rng(4))
    idx = np.array([np.arange(3, 44), np.arange(32, 73)])   # (2, 41), no episode starts at 23, 52
    z, a, restart, _, _ = train_rnn.batch_arrays(series, idx, np.random.default_rng(5))
    args = lambda s: (Tensor(z[:, s]), Tensor(a[:, s]), restart[:, s])
    whole = mdnrnn.forward(p, mcfg, *args(slice(0, 40))).data
    carry = [np.zeros((2, 16), np.float32)] * 2
    first = mdnrnn.forward(p, mcfg, *args(slice(0, 20)), carry=carry).data
    second = mdnrnn.forward(p, mcfg, *args(slice(20, 40)), carry=carry).data
    np.testing.assert_allclose(np.concatenate([first, second], axis=1), whole, rtol=1e-5, atol=1e-6)
    # without the carried state the second window starts from zeros and differs
    fresh = mdnrnn.forward(p, mcfg, *args(slice(20, 40))).data
    assert np.abs(fresh - whole[:, 20:]).max() > 1e-3


def test_train_rnn_holds_out_windows_and_logs_their_loss(tmp_path):
    starts = train_rnn.windows(480, 12)
    train, val = train_rnn.split_windows(starts, 0.25, seed=3)
    assert len(val) == len(starts) // 4 and not set(train) & set(val)
    assert sorted(np.concatenate([train, val])) == sorted(starts)
    with pytest.raises(ValueError, match="val_share"):
        train_rnn.split_windows(starts, 1.0, seed=3)
    formats.save_npz(tmp_path / "series.npz", synthetic_series(np.random.default_rng(0), n_episodes=12))
    with pytest.raises(ValueError, match="carry_state.*val_share=0"):
        train_rnn.main(tiny_doom(tmp_path, seq_len=12, val_share=0.25, carry_state=True))
    train_rnn.main(tiny_doom(tmp_path, epochs=15, batch=4, seq_len=12, lr=0.01, val_share=0.25))
    logs = [json.loads(l) for l in (tmp_path / "mdnrnn.jsonl").read_text().splitlines()]
    val = [r for r in logs if "val_z_loss" in r]
    assert [r["epoch"] for r in val] == [float(e) for e in range(1, 16)]    # once per epoch
    assert val[-1]["val_z_loss"] < val[0]["val_z_loss"] - 0.3, "held-out loss did not fall"
    # the logged value is M's loss on exactly the held-out windows
    series, _ = formats.read_series(tmp_path / "series.npz")
    mcfg = train_rnn.model_config(tiny_doom(tmp_path), series)
    p = mdnrnn.init_params(mcfg, np.random.default_rng(0))
    mdnrnn.load_exported(p, mcfg, tmp_path / "mdnrnn.npz")
    held = train_rnn.split_windows(train_rnn.windows(len(series["mu"]), 12), 0.25, seed=3)[1]
    z_loss, done_loss = train_rnn.validate(p, mcfg, series, held, 12, 4)
    assert z_loss == pytest.approx(val[-1]["val_z_loss"], rel=1e-5)
    assert done_loss == pytest.approx(val[-1]["val_done_loss"], rel=1e-5)
    # exported weights of another M's size are refused, naming both sizes
    other = mdnrnn.MDNRNNConfig(nz=mcfg.nz, na=mcfg.na, hidden=16, restart=True, done=True)
    with pytest.raises(formats.FormatError, match="mdnrnn.npz: an M of .*'hidden': 32.*'hidden': 16"):
        mdnrnn.load_exported(mdnrnn.init_params(other, np.random.default_rng(0)), other,
                             tmp_path / "mdnrnn.npz")


def test_missing_input_names_the_command(tmp_path):
    with pytest.raises(formats.MissingInput, match="minwm encode doom"):
        train_rnn.main(tiny_doom(tmp_path))
    with pytest.raises(formats.MissingInput, match="minwm train-rnn doom"):
        evolve.main(tiny_doom(tmp_path))
    np.savez(tmp_path / "mdnrnn.npz", **infer.random_mdnrnn_arrays(64, 1, 32, np.random.default_rng(0),
                                                                   restart=True, done=True))
    with pytest.raises(formats.MissingInput, match="minwm encode doom"):    # the dream needs no V
        evolve.main(tiny_doom(tmp_path))
    car = preset("carracing", "tiny", run_dir=str(tmp_path / "car"))
    car.path.mkdir()
    np.savez(car.path / "mdnrnn.npz", **infer.random_mdnrnn_arrays(32, 3, 32, np.random.default_rng(0)))
    with pytest.raises(formats.MissingInput, match="minwm train-vae carracing"):   # the real env does
        evolve.main(car)


def test_nan_loss_stops_with_a_clear_message(tmp_path):
    series = synthetic_series(np.random.default_rng(1))
    formats.save_npz(tmp_path / "series.npz", series)
    with pytest.raises(FloatingPointError, match="last good checkpoint"):   # diverges at once
        train_rnn.main(tiny_doom(tmp_path, batch=100, seq_len=12, lr=1e30, grad_clip=1e30))
    assert not (tmp_path / "mdnrnn.npz").exists()
    # NaN in the inputs is refused before training, naming the file and the command that rebuilds it
    series["mu"][5, 0] = np.nan
    formats.save_npz(tmp_path / "series.npz", series)
    with pytest.raises(formats.FormatError, match="series.npz: NaN or inf in mu.*`minwm encode doom`"):
        train_rnn.main(tiny_doom(tmp_path, batch=100, seq_len=12))


def test_evolve_in_dream_resumes_identically(tmp_path):
    rng = np.random.default_rng(2)
    series = synthetic_series(rng, nz=64)
    arrays = infer.random_mdnrnn_arrays(64, 1, 32, rng, restart=True, done=True, scale=0.3)
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        formats.save_npz(d / "series.npz", series)
        np.savez(d / "mdnrnn.npz", **arrays)
        np.savez(d / "vae.npz", **infer.random_vae_arrays(64, rng))
    base = ["evolve.population=6", "evolve.rollouts=3", "evolve.eval_every=2",
            "evolve.eval_rollouts=8", "evolve.max_steps=60"]
    cfg = lambda d, g: override(preset("doom", "tiny", run_dir=str(d)), base + [f"evolve.generations={g}"])
    evolve.main(cfg(a, 4))
    evolve.main(cfg(b, 2))
    evolve.main(cfg(b, 4))
    (ca, ta, ia), (cb, tb, ib) = formats.read_controller(a / "controller.npz"), formats.read_controller(b / "controller.npz")
    np.testing.assert_array_equal(ta, tb)
    assert ca == cb and ca.inputs == "zch" and not ca.bias and ta.shape == (64 + 32 + 32,)
    assert ia == ib and ia["where"] == "dream" and 1 <= ia["score"] <= 60
    logs = [json.loads(l) for l in (b / "evolve.jsonl").read_text().splitlines()]
    assert [r["generation"] for r in logs] == [1, 2, 3, 4] and "eval_mean" in logs[1]


def test_controller_file_round_trip_and_errors(tmp_path):
    ccfg = config.spec("doom").controller
    theta = np.random.default_rng(6).standard_normal(1088).astype(np.float32)
    formats.save_controller(tmp_path / "c.npz", ccfg, theta, score=12.5, where="dream")
    c2, t2, info = formats.read_controller(tmp_path / "c.npz")
    assert c2 == ccfg and info == {"score": 12.5, "where": "dream"}
    np.testing.assert_array_equal(t2, theta)
    formats.save_npz(tmp_path / "short.npz", {"theta": theta[:100]}, {"controller": asdict(ccfg)})
    with pytest.raises(formats.FormatError, match=r"short.npz: wrong shape theta \(100,\) \(expected \(1088,\)\).*`minwm evolve doom`"):
        formats.read_controller(tmp_path / "short.npz", "minwm evolve doom")
    formats.save_npz(tmp_path / "bare.npz", {"theta": theta})
    with pytest.raises(formats.FormatError, match="bare.npz: no valid controller description"):
        formats.read_controller(tmp_path / "bare.npz")
    theta[0] = np.nan
    with pytest.raises(FloatingPointError, match="theta"):
        formats.save_controller(tmp_path / "c.npz", ccfg, theta)
    np.testing.assert_array_equal(formats.read_controller(tmp_path / "c.npz")[1], t2)   # kept


def test_train_vae_resumes_after_ctrl_c_identically(tmp_path, monkeypatch):
    from minwm import train_vae
    rng = np.random.default_rng(3)
    for seed in range(3):
        T = 50
        r = dict(frames=rng.integers(0, 256, (T, 64, 64, 3), dtype=np.uint8),
                 actions=rng.uniform(-1, 1, T).astype(np.float32), rewards=np.ones(T, np.float32),
                 dones=np.arange(T) == T - 1, seed=np.array(seed))
        for d in (tmp_path / "a", tmp_path / "b"):
            (d / "rollouts").mkdir(parents=True, exist_ok=True)
            formats.write_rollout(d / "rollouts" / f"{seed:09d}.npz", r)
    cfg = lambda d: override(preset("doom", "tiny", run_dir=str(d)),
                             ["vae.epochs=2", "vae.checkpoint_every=4", "vae.nz=8"])
    train_vae.main(cfg(tmp_path / "a"))

    real_step, calls = train_vae.vae.loss_and_grad, []
    def interrupted(*args):
        calls.append(1)
        if len(calls) == 7:                       # mid-epoch, between two checkpoints
            raise KeyboardInterrupt
        return real_step(*args)
    monkeypatch.setattr(train_vae.vae, "loss_and_grad", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train_vae.main(cfg(tmp_path / "b"))
    monkeypatch.setattr(train_vae.vae, "loss_and_grad", real_step)
    assert formats.load_npz(tmp_path / "b" / "vae.ckpt.npz", "minwm train-vae doom")[1]["step"] == 6   # nothing finished lost
    train_vae.main(cfg(tmp_path / "b"))
    wa, wb = np.load(tmp_path / "a" / "vae.npz"), np.load(tmp_path / "b" / "vae.npz")
    for k in wa.files:
        np.testing.assert_array_equal(wa[k], wb[k], err_msg=k)
    # encode: per-frame statistics, M's actions discretised as the game saw them, episode flags
    encode.main(cfg(tmp_path / "a"))
    s = np.load(tmp_path / "a" / "series.npz")
    assert s["mu"].shape == (150, 8) and set(np.unique(s["action"])) <= {-1.0, 0.0, 1.0}
    assert s["restart"].sum() == s["done"].sum() == 3 and s["init_mu"].shape == (3, 8)


def test_encode_reuses_an_earlier_series_of_the_same_v(tmp_path, monkeypatch):
    """iterate's rounds encode only the new rollouts: the result equals encoding everything."""
    rng = np.random.default_rng(4)
    cfg = lambda d: preset("doom", "tiny", run_dir=str(d))
    (tmp_path / "rollouts").mkdir()
    np.savez(tmp_path / "vae.npz", **infer.random_vae_arrays(8, rng))
    def add(seed, T):
        r = dict(frames=rng.integers(0, 256, (T, 64, 64, 3), dtype=np.uint8),
                 actions=rng.uniform(-1, 1, T).astype(np.float32), rewards=np.ones(T, np.float32),
                 dones=np.arange(T) == T - 1, seed=np.array(seed))
        formats.write_rollout(tmp_path / "rollouts" / f"{seed:09d}.npz", r)
    for seed, T in ((5, 30), (9, 20)):
        add(seed, T)
    encode.main(cfg(tmp_path))
    (tmp_path / "series.npz").rename(tmp_path / "old.npz")
    add(7, 25)                                           # sorts between the two old rollouts
    full = np.load(encode.main(cfg(tmp_path)))
    loaded, real_load = [], formats.read_rollout
    monkeypatch.setattr(formats, "read_rollout", lambda p: loaded.append(p.name) or real_load(p))
    reused = np.load(encode.main(cfg(tmp_path), reuse=tmp_path / "old.npz"))
    assert loaded == ["000000007.npz"]
    assert list(reused["files"]) == ["000000005.npz", "000000007.npz", "000000009.npz"]
    assert list(reused["lengths"]) == [30, 25, 20] and reused["mu"].shape == (75, 8)
    for k in full.files:
        np.testing.assert_array_equal(reused[k], full[k], err_msg=k)
    # `minwm encode` again after `collect` added a rollout: the run's own series is reused
    add(11, 15)
    loaded.clear()
    again = np.load(encode.main(cfg(tmp_path)))
    assert loaded == ["000000011.npz"] and list(again["lengths"]) == [30, 25, 20, 15]
    np.testing.assert_array_equal(again["mu"][:75], full["mu"])
    (tmp_path / "rollouts" / "000000011.npz").unlink()
    # another V: nothing is reused
    np.savez(tmp_path / "vae.npz", **infer.random_vae_arrays(8, rng))
    loaded.clear()
    other = np.load(encode.main(cfg(tmp_path), reuse=tmp_path / "old.npz"))
    assert len(loaded) == 3 and not np.array_equal(other["mu"], full["mu"])
