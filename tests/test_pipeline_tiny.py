"""Every stage at the tiny preset on the real environments, through the `minwm` command; the
iterative procedure; the worker pool on multiprocessing and on a local Ray instance."""
import json
from dataclasses import replace

import numpy as np
import pytest

from minwm import cli, config, evolve, formats, infer
from minwm import controller as C
from minwm.agent import Agents
from minwm.doom import SPEC as DOOM


@pytest.fixture(scope="module")
def doom_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("doom")
    assert cli.main(["run", "doom", "--preset", "tiny", "--run-dir", str(d)]) is None
    return d


def test_tiny_doom_run_every_stage(doom_run):
    d = doom_run
    series = np.load(d / "series.npz")
    L = len(series["mu"])
    assert series["mu"].shape == (L, 64) and series["action"].shape == (L, 1)
    assert set(np.unique(series["action"])) <= {-1.0, 0.0, 1.0}          # M sees the game's action
    assert series["restart"].sum() == series["done"].sum() == len(series["init_mu"]) == 4
    ccfg, theta, info = formats.read_controller(d / "controller.npz")
    assert ccfg.inputs == "zch" and theta.shape == (64 + 32 + 32,) and info["where"] == "dream"
    result = json.loads((d / "evaluate.json").read_text())
    assert result["trials"] == 2 and len(result["episodes"]) == 2
    scores = [e["score"] for e in result["episodes"]]
    assert np.isclose(result["mean"], np.mean(scores)) and all(s >= 1 for s in scores)
    assert (d / "evaluate.png").stat().st_size > 1000
    for name in ("vae.jsonl", "mdnrnn.jsonl", "evolve.jsonl", "config.json"):
        assert (d / name).exists()


def test_play_and_dream_gifs(doom_run):
    from PIL import Image
    assert cli.main(["play", "doom", "--run-dir", str(doom_run), "--out", str(doom_run / "p.gif")]) is None
    assert cli.main(["dream", "doom", "--run-dir", str(doom_run), "--out", str(doom_run / "d.gif")]) is None
    for name, size in (("p.gif", (128, 64)), ("d.gif", (64, 64))):   # play: the game | V's reconstruction
        with Image.open(doom_run / name) as im:
            assert im.n_frames > 1 and im.size == size


def test_demo_on_shipped_weights(doom_run, tmp_path, monkeypatch):
    import shutil

    from minwm import show
    shipped = tmp_path / "weights" / "doom"
    shipped.mkdir(parents=True)
    for name in ("vae.npz", "mdnrnn.npz", "series.npz", "controller.npz"):
        shutil.copy(doom_run / name, shipped / name)
    monkeypatch.setattr(show, "SHIPPED", tmp_path / "weights")
    show.demo(1, tmp_path / "demo", ["evolve.population=4", "evolve.max_steps=50"])
    assert (tmp_path / "demo" / "play.gif").exists() and (tmp_path / "demo" / "dream.gif").exists()


def test_rerun_skips_finished_stages(doom_run, capsys):
    cli.main(["run", "doom", "--run-dir", str(doom_run)])
    out = capsys.readouterr().out
    assert "vae.npz exists, skipped" in out and "evaluate.json exists, skipped" in out


def test_iterate_one_round(doom_run):
    assert cli.main(["iterate", "doom", "--run-dir", str(doom_run)]) is None
    it = doom_run / "iter1"
    new = sorted((it / "rollouts").glob("0041*.npz"))
    assert len(new) == 2 and len(list((it / "rollouts").glob("*.npz"))) == 6
    r = np.load(new[0])
    assert set(np.unique(r["actions"])) <= {-1.0, 0.0, 1.0} and r["dones"][-1]
    assert len(r["frames"]) == len(r["actions"]) == len(r["rewards"])
    assert json.loads((it / "evaluate.json").read_text())["trials"] == 2
    round_log = [json.loads(l) for l in (doom_run / "iterate.jsonl").read_text().splitlines()]
    assert round_log[-1]["round"] == 1


def test_tiny_carracing_run(tmp_path):
    assert cli.main(["run", "carracing", "--preset", "tiny", "--run-dir", str(tmp_path)]) is None
    ccfg, theta, info = formats.read_controller(tmp_path / "controller.npz")
    assert ccfg.inputs == "zh" and theta.shape == (3 * (32 + 32) + 3,) and info["where"] == "real"
    result = json.loads((tmp_path / "evaluate.json").read_text())
    assert result["trials"] == 2 and all(-200 < e["score"] < 1000 for e in result["episodes"])


@pytest.mark.parametrize("controller, inputs, n", [
    ("full", "zh", 867), ("z", "z", 3 * 32 + 3), ("z_hidden", "z", 32 * 40 + 40 + 40 * 3 + 3)])
def test_ablation_controllers(controller, inputs, n):
    cfg = config.override(config.preset("carracing", "tiny"), [f"evolve.controller={controller}"])
    ccfg = evolve.controller_config(cfg, 32, 256)
    assert ccfg.inputs == inputs and C.n_params(ccfg) == n


def test_pool_local_and_ray_agree(tmp_path):
    ray = pytest.importorskip("ray")
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "vae.npz", **infer.random_vae_arrays(64, rng))
    np.savez(tmp_path / "m.npz", **infer.random_mdnrnn_arrays(64, 1, 32, rng, restart=True, done=True))
    ccfg = replace(DOOM.controller, hidden=32)
    thetas = rng.standard_normal((2, 64 + 32 + 32)).astype(np.float32)
    tasks = [(ccfg, thetas[i], 10 + i) for i in range(2)]
    local = Agents("doom", tmp_path / "vae.npz", tmp_path / "m.npz", workers=2, max_steps=40)
    try:
        a = local.map(tasks)
    finally:
        local.close()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        remote = Agents("doom", tmp_path / "vae.npz", tmp_path / "m.npz", workers=2, backend="ray",
                      max_steps=40)
        b = remote.map(tasks)
        remote.close()
    finally:
        ray.shutdown()
    np.testing.assert_array_equal(a, b)          # same seeds, same episodes, wherever they ran
    assert all(1 <= r <= 40 for r in a)


def test_agent_worker_that_cannot_start_fails_with_its_reason(tmp_path):
    # without care, multiprocessing respawns a worker whose initializer raises, forever
    # (workers=2: worker processes; with workers=1 the agent runs in this process, tests/test_pool.py)
    agents = Agents("doom", tmp_path / "missing-vae.npz", tmp_path / "missing-m.npz", workers=2)
    try:
        with pytest.raises(RuntimeError, match="could not start.*missing-vae.npz"):
            agents.map([(DOOM.controller, np.zeros(C.n_params(DOOM.controller), np.float32), 0)])
    finally:
        agents.close()


def test_early_stop_ends_training_episodes_only_after_n_losing_steps():
    from minwm import agent, carracing, evolve, infer

    rng = np.random.default_rng(0)
    v = infer.vae_from_arrays(infer.random_vae_arrays(32, rng))
    m = infer.mdnrnn_from_arrays(infer.random_mdnrnn_arrays(32, 3, 16, rng))
    ccfg = evolve.controller_config(config.preset("carracing", "tiny"), 32, 16)
    brake = np.zeros(C.n_params(ccfg), np.float32)
    brake[-3:] = [0.0, -5.0, 5.0]                        # bias: no gas, full brake: -0.1 a step
    env = carracing.CarRacing(max_steps=120)
    try:
        full = agent.episode(env, v, m, ccfg, brake, 7, record=True)
        cut = agent.episode(env, v, m, ccfg, brake, 7, record=True, patience=20)
    finally:
        env.close()
    r = full["rewards"]
    assert len(r) == 120 and len(cut["rewards"]) < 120
    losing = np.flatnonzero(np.convolve(r < 0, np.ones(20), "valid") == 20)[0] + 20
    np.testing.assert_array_equal(cut["rewards"], r[:losing])       # the same steps, cut there
