"""Faults: bad files get one clear error, kill -9 loses at most one checkpoint interval and the rerun
ends where an uninterrupted run ends, one writer per run directory, divergence stops cleanly, and
evolve really maximises the fitness it is given."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

from minwm import cli, collect, encode, evaluate, evolve, formats, infer, iterate, runs, train_rnn, train_vae
from minwm import controller as C
from minwm.config import override, preset

# ----------------------------------------------------------------------------- bad files


def _good_files(d, rng):
    """One of each file a run reads, small, valid."""
    np.savez(d / "vae.npz", **infer.random_vae_arrays(8, rng))
    np.savez(d / "mdnrnn.npz", **infer.random_mdnrnn_arrays(8, 1, 16, rng, restart=True, done=True))
    ccfg = evolve.controller_config(preset("doom", "tiny"), 8, 16)
    formats.save_controller(d / "controller.npz", ccfg, np.zeros(8 + 16 + 16), score=1.0)
    formats.save_npz(d / "series.npz", _series(rng, nz=8))
    formats.write_rollout(d / "rollout.npz", _rollout(rng, 0))


READERS = {  # file -> (how minwm reads it, the command its error names)
    "vae.npz": (lambda p: infer.load_vae(p, "minwm train-vae doom"), "minwm train-vae doom"),
    "mdnrnn.npz": (lambda p: infer.load_mdnrnn(p, "minwm train-rnn doom"), "minwm train-rnn doom"),
    "controller.npz": (lambda p: formats.read_controller(p, "minwm evolve doom"), "minwm evolve doom"),
    "series.npz": (lambda p: formats.read_series(p, "minwm encode doom"), "minwm encode doom"),
    "rollout.npz": (lambda p: formats.read_rollout(p, "minwm collect doom"), "minwm collect doom"),
}


def _damage(path, how, rng):
    arrays, state = formats.load_npz(path, "test")
    name = min(arrays)
    if how == "truncated":
        data = path.read_bytes()
        path.write_bytes(data[:len(data) // 2])
    elif how == "not npz":
        path.write_text("hello")
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "missing key":
        del arrays[name]
        formats.save_npz(path, arrays, state)
    elif how == "wrong shape":
        arrays[name] = np.zeros((3, 3, 3), arrays[name].dtype)
        formats.save_npz(path, arrays, state)
    elif how == "non-finite":
        name = next(k for k in sorted(arrays) if arrays[k].dtype.kind == "f" and arrays[k].size)
        arrays[name] = arrays[name].copy()
        arrays[name].flat[0] = np.nan
        formats.save_npz(path, arrays, state)
    elif how == "objects":  # a pickled object array: never loaded
        np.savez(path, **{**arrays, name: np.array([{"x": 1}, None], dtype=object)})


@pytest.mark.parametrize("how", ["truncated", "not npz", "empty", "missing key", "wrong shape",
                                 "non-finite", "objects"])
@pytest.mark.parametrize("name", list(READERS))
def test_every_bad_file_gets_one_clear_error(tmp_path, name, how):
    _good_files(tmp_path, np.random.default_rng(0))
    read, command = READERS[name]
    read(tmp_path / name)                                        # the good file reads
    _damage(tmp_path / name, how, np.random.default_rng(1))
    with pytest.raises(formats.FormatError) as e:
        read(tmp_path / name)
    message = str(e.value)
    assert str(tmp_path / name) in message and f"rebuild it with `{command}`" in message
    assert "\n" not in message


def test_missing_inputs_name_the_command(tmp_path):
    with pytest.raises(formats.MissingInput, match="run `minwm train-vae doom` first"):
        infer.load_vae(tmp_path / "vae.npz", "minwm train-vae doom")
    with pytest.raises(formats.MissingInput, match="minwm collect doom"):
        train_vae.main(preset("doom", "tiny", run_dir=str(tmp_path)))


def test_cli_prints_one_line_for_a_truncated_file(tmp_path, capsys):
    _good_files(tmp_path, np.random.default_rng(0))
    _damage(tmp_path / "mdnrnn.npz", "truncated", None)
    assert cli.main(["evolve", "doom", "--preset", "tiny", "--run-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err
    assert "mdnrnn.npz: not a complete .npz file" in err and "minwm train-rnn doom" in err


def test_bad_config_json_is_one_clear_error(tmp_path, capsys):
    (tmp_path / "config.json").write_text('{"rnn": {"epochs": "many"}}')
    assert cli.main(["train-rnn", "doom", "--run-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "config.json: rnn.epochs = 'many', expected int" in err and err.count("\n") == 0


def test_a_truncated_checkpoint_is_set_aside_and_the_stage_starts_over(tmp_path):
    formats.save_npz(tmp_path / "series.npz", _series(np.random.default_rng(0)))
    cfg = override(preset("doom", "tiny", run_dir=str(tmp_path)), ["rnn.epochs=1", "rnn.seq_len=12"])
    (tmp_path / "mdnrnn.ckpt.npz").write_bytes(b"PK\x03\x04 cut short")
    with pytest.warns(RuntimeWarning, match="set aside .*the stage starts over"):
        train_rnn.main(cfg)
    assert (tmp_path / "mdnrnn.ckpt.npz.bad").exists() and (tmp_path / "mdnrnn.npz").exists()


def test_a_failed_save_leaves_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "x.npz"
    formats.save_npz(path, {"a": np.arange(3)})
    real = np.lib.format.write_array

    def disk_full(f, array, **kw):
        real(f, array[: len(array) // 2], **kw)
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(np.lib.format, "write_array", disk_full)
    with pytest.raises(OSError):
        formats.save_npz(path, {"a": np.arange(1000)})
    monkeypatch.undo()
    np.testing.assert_array_equal(formats.load_npz(path, "test")[0]["a"], np.arange(3))
    assert list(tmp_path.iterdir()) == [path]                    # no .part left behind


def test_nan_weights_are_never_saved(tmp_path):
    arrays = infer.random_vae_arrays(8, np.random.default_rng(0))
    arrays["enc.mu.w"][0, 0] = np.nan
    with pytest.raises(FloatingPointError, match="NaN or inf in enc.mu.w"):
        formats.save_vae(tmp_path / "vae.npz", {k: v for k, v in arrays.items() if k != "meta.nz"}, 8)
    assert not (tmp_path / "vae.npz").exists()


def test_divergence_stops_training_with_the_last_good_checkpoint(tmp_path):
    formats.save_npz(tmp_path / "series.npz", _series(np.random.default_rng(0)))
    base = preset("doom", "tiny", run_dir=str(tmp_path))
    train_rnn.main(override(base, ["rnn.epochs=1", "rnn.seq_len=12", "rnn.checkpoint_every=2"]))
    good = formats.load_npz(tmp_path / "mdnrnn.ckpt.npz", "test")[0]
    with pytest.raises(FloatingPointError, match="(M loss became|NaN or inf).*last good"):
        train_rnn.main(override(base, ["rnn.epochs=30", "rnn.seq_len=12", "rnn.lr=1e30",
                                       "rnn.grad_clip=1e30"]))
    kept = formats.load_npz(tmp_path / "mdnrnn.ckpt.npz", "test")[0]
    assert all(np.isfinite(v).all() for v in kept.values() if v.dtype.kind == "f")
    assert int(kept["opt/t"]) >= int(good["opt/t"]) if "opt/t" in kept else True


# ----------------------------------------------------------------------------- one writer


def test_a_second_writer_refuses_at_once_and_readers_pass(tmp_path):
    with runs.writer(tmp_path):
        with pytest.raises(runs.RunBusy, match=f"pid {os.getpid()}.*another --run-dir"), \
                runs.writer(tmp_path):
            pass
        with runs.writer(tmp_path, "evaluate-val.json"):        # evaluate into a file of its own
            pass
        formats.save_npz(tmp_path / "series.npz", _series(np.random.default_rng(0)))
        with pytest.raises(runs.RunBusy):                        # a stage that would write here
            train_rnn.main(preset("doom", "tiny", run_dir=str(tmp_path)))


def test_a_killed_writer_leaves_no_stuck_lock(tmp_path):
    code = f"from minwm import runs; import os, signal\nwith runs.writer({str(tmp_path)!r}):\n" \
           f"    os.kill(os.getpid(), signal.SIGKILL)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == -signal.SIGKILL
    with runs.writer(tmp_path):
        pass


# ----------------------------------------------------------------------------- evolve


class Quadratic:
    """A fitness with a known optimum: reward = -|theta - target|^2 (evolve maximises it)."""

    def __init__(self, target):
        self.target, self.means, self.seen = target, [], []

    def population(self, ccfg, thetas, n_rollouts, generation):
        self.seen.append(np.array(thetas))
        r = -((thetas - self.target) ** 2).sum(axis=1)
        return np.repeat(r[:, None], n_rollouts, axis=1)

    def mean(self, ccfg, theta, n):
        self.means.append(np.array(theta))
        return np.full(n, -((theta - self.target) ** 2).sum())

    def close(self):
        pass


@pytest.mark.parametrize("keep", ["mean", "best"])
def test_evolve_moves_toward_the_optimum_and_keeps_what_the_config_names(tmp_path, keep):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "mdnrnn.npz", **infer.random_mdnrnn_arrays(4, 1, 8, rng, restart=True, done=True))
    cfg = override(preset("doom", "tiny", run_dir=str(tmp_path)),
                   ["evolve.population=16", "evolve.generations=60", "evolve.eval_every=20",
                    "evolve.sigma0=0.3", f"evolve.keep={keep}"])
    target = np.random.default_rng(1).uniform(-1, 1, 4 + 8 + 8)
    fitness, state = Quadratic(target), np.random.get_state()
    evolve.main(cfg, fitness)
    _, theta, info = formats.read_controller(tmp_path / "controller.npz")
    assert np.linalg.norm(theta - target) < 0.1 * np.linalg.norm(target)   # from 0, toward target
    scored = fitness.means[int(np.argmax([-((m - target) ** 2).sum() for m in fitness.means]))]
    np.testing.assert_array_equal(theta, scored.astype(np.float32))  # the best-scored one is kept
    assert info["keep"] == keep and len(fitness.means) == 3          # generations 20, 40, 60
    ck = runs.load_pickle(tmp_path / "evolve.ckpt.pkl")
    last = fitness.seen[-1]                                      # the last generation's candidates
    best = last[np.argmax(-((last - target) ** 2).sum(axis=1))]
    assert np.array_equal(fitness.means[-1], ck["es"].mean) == (keep == "mean")
    assert np.array_equal(fitness.means[-1], best) == (keep == "best")
    assert set(ck) == {"es", "generation", "best", "rng"}        # no NumPy global state in it
    with pytest.raises(ValueError, match="evolve.keep='last'"):
        evolve.main(override(cfg, ["evolve.keep=last"]), fitness)
    assert all(np.array_equal(a, b) for a, b in zip(state, np.random.get_state()))  # global RNG untouched


# ----------------------------------------------------------------------------- kill -9


def _series(rng, n_episodes=6, length=40, nz=4, na=1):
    mu = rng.standard_normal((n_episodes * length, nz)).astype(np.float32)
    restart, done = np.zeros(len(mu), np.uint8), np.zeros(len(mu), np.uint8)
    restart[::length], done[length - 1::length] = 1, 1
    return {"mu": mu, "logvar": np.full_like(mu, -4.0), "restart": restart, "done": done,
            "action": rng.uniform(-1, 1, (len(mu), na)).astype(np.float32),
            "init_mu": mu[::length], "init_logvar": np.full((n_episodes, nz), -4.0, np.float32)}


def _rollout(rng, seed, T=40, na=3):
    return dict(frames=rng.integers(0, 256, (T, 64, 64, 3), dtype=np.uint8),
                actions=rng.uniform(-1, 1, (T, na)).astype(np.float32), rewards=np.ones(T, np.float32),
                dones=np.arange(T) == T - 1, seed=np.array(seed))


KILLER = textwrap.dedent("""
    import importlib, json, os, signal, sys
    from minwm import config
    run_dir, stage, target, when, env = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
    overrides = json.loads(sys.argv[6])
    module, name = target.split(":")
    owner = importlib.import_module(module)
    real, calls = getattr(owner, name), []
    def kill_at(*args, **kwargs):
        calls.append(1)
        if len(calls) == when:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(*args, **kwargs)
    setattr(owner, name, kill_at)
    cfg = config.override(config.preset(env, "tiny", run_dir=run_dir), overrides)
    importlib.import_module("minwm." + stage).main(cfg)
""")


def _killed(run_dir, stage, target, when, overrides, env="carracing"):
    """Run a stage in a process that SIGKILLs itself at the `when`-th call of `target`."""
    p = subprocess.run([sys.executable, "-c", KILLER, str(run_dir), stage, target, str(when), env,
                        json.dumps(overrides)], capture_output=True, text=True)
    assert p.returncode == -signal.SIGKILL, p.stderr[-2000:]


def _same_npz(a, b):
    fa, fb = formats.load_npz(a, "test")[0], formats.load_npz(b, "test")[0]
    assert sorted(fa) == sorted(fb)
    for k in fa:
        np.testing.assert_array_equal(fa[k], fb[k], err_msg=f"{a.name}: {k}")


def _prepare(d, rng, env="carracing"):
    """The inputs of every stage after collect, small: 3 rollouts, V, M, C and a series."""
    nz, na, doom = (64, 1, True) if env == "doom" else (32, 3, False)
    for seed in range(3):
        formats.write_rollout(formats.rollout_path(d / "rollouts", seed), _rollout(rng, seed, na=na))
    np.savez(d / "vae.npz", **infer.random_vae_arrays(nz, rng, scale=0.5))
    np.savez(d / "mdnrnn.npz", **infer.random_mdnrnn_arrays(nz, na, 32, rng, restart=doom, done=doom))
    ccfg = evolve.controller_config(preset(env, "tiny"), nz, 32)
    formats.save_controller(d / "controller.npz", ccfg, rng.normal(0, 0.1, C.n_params(ccfg)), score=0.0)
    formats.save_npz(d / "series.npz", _series(rng, n_episodes=4, length=30, nz=nz, na=na))


# stage, what is killed and when (two moments each: between steps, and inside a save, after the
# temporary file is written and before it replaces the old one), overrides, the outputs compared
KILLS = {
    "collect": (["minwm.formats:save_npz", "os:replace"], 2,
                ["collect.rollouts=3", "collect.workers=1", "collect.max_frames=30"], ["rollouts"]),
    "train_vae": (["minwm.runs:save_training", "os:replace"], 3,
                  ["vae.epochs=2", "vae.checkpoint_every=2", "vae.batch=16"], ["vae.npz"]),
    "encode": (["minwm.formats:save_npz", "os:replace"], 2, [], ["series.npz"]),
    "train_rnn": (["minwm.runs:save_training", "os:replace"], 3,
                  ["rnn.epochs=3", "rnn.checkpoint_every=2", "rnn.seq_len=10"], ["mdnrnn.npz"]),
    "evolve": (["minwm.runs:save_pickle", "os:replace"], 2,               # in the dream (Doom)
               ["evolve.generations=4", "evolve.max_steps=200"], ["controller.npz"]),
    # evolve.batch=1: chunks of 2 episodes and 1 (minwm.agent), so the 2nd call starts the last
    "evaluate": (["minwm.agent:episodes"], 2, ["evaluate.trials=3", "evolve.workers=1", "evolve.batch=1"],
                 ["evaluate.json"]),
}


@pytest.mark.parametrize("stage", list(KILLS))
def test_kill_9_then_rerun_ends_as_an_uninterrupted_run(tmp_path, stage):
    targets, when, overrides, outputs = KILLS[stage]
    main = {"collect": collect, "train_vae": train_vae, "encode": encode, "train_rnn": train_rnn,
            "evolve": evolve, "evaluate": evaluate}[stage].main
    env, runs_ = "doom" if stage == "evolve" else "carracing", {}
    for name in ["uninterrupted"] + targets:
        d = tmp_path / name.replace(":", "-")
        if stage != "collect":
            _prepare(d, np.random.default_rng(0), env)
            if stage == "encode":
                (d / "series.npz").unlink()
        cfg = override(preset(env, "tiny", run_dir=str(d)), overrides)
        if name != "uninterrupted":
            _killed(d, stage, name, when, overrides, env)
        main(cfg)
        runs_[name] = d
    ref = runs_["uninterrupted"]
    for d in list(runs_.values())[1:]:
        for out in outputs:
            if out == "rollouts":
                assert sorted(p.name for p in (d / out).iterdir()) == sorted(p.name for p in (ref / out).iterdir())
                for p in (ref / out).iterdir():
                    _same_npz(p, d / out / p.name)
            elif out.endswith(".json"):
                a, b = (json.loads((x / out).read_text()) for x in (ref, d))
                assert a["episodes"] == b["episodes"] and a["mean"] == b["mean"]
            else:
                _same_npz(ref / out, d / out)
        assert not list(d.rglob("*.part"))


def test_kill_9_inside_iterate_then_rerun_ends_the_same(tmp_path):
    overrides = ["iterate.rollouts=2", "iterate.generations=2", "iterate.rnn_epochs=1",
                 "evolve.workers=1", "evaluate.trials=2", "collect.max_frames=60", "rnn.seq_len=10",
                 "evolve.max_steps=60", "evaluate.max_steps=100"]
    out = {}
    for name, target in (("a", None), ("b", "minwm.runs:save_training"), ("c", "minwm.runs:save_pickle")):
        d = tmp_path / name
        _prepare(d, np.random.default_rng(0), "doom")             # C in the dream: quick
        if target:  # killed in round 1's M, or in its C (the game is closed by then)
            _killed(d, "iterate", target, 1, overrides, "doom")
        iterate.main(override(preset("doom", "tiny", run_dir=str(d)), overrides))
        out[name] = d / "iter1"
    for name in "bc":
        _same_npz(out["a"] / "controller.npz", out[name] / "controller.npz")
        _same_npz(out["a"] / "mdnrnn.npz", out[name] / "mdnrnn.npz")
        assert json.loads((out["a"] / "evaluate.json").read_text())["episodes"] == \
            json.loads((out[name] / "evaluate.json").read_text())["episodes"]


def test_killed_evaluate_keeps_finished_episodes(tmp_path):
    _prepare(tmp_path, np.random.default_rng(0))
    _killed(tmp_path, "evaluate", "minwm.agent:episodes", 2,
            ["evaluate.trials=3", "evolve.workers=1", "evolve.batch=1"])   # chunks of 2 and 1 episodes
    done = [json.loads(line) for line in (tmp_path / "evaluate.episodes.jsonl").read_text().splitlines()]
    assert len(done) == 2                                        # only the chunk under way is lost
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        evaluate.main(override(preset("carracing", "tiny", run_dir=str(tmp_path)),
                               ["evaluate.trials=3", "evolve.workers=1"]))
    assert not (tmp_path / "evaluate.episodes.jsonl").exists()
