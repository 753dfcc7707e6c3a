"""measure: survival, hazard and rank correlation on known numbers; M's per-step losses agree with
the loss M is trained on; the command end to end on a tiny Doom run."""
import json

import numpy as np

from minwm import controller, evolve, formats, infer, mdnrnn, measure
from minwm.autograd import Tensor
from minwm.config import override, preset


def test_survival_hazard_and_ranks_on_known_numbers():
    lengths = np.array([100, 300, 300, 900, 2100])
    assert measure.survival(lengths, (200, 500, 2000)) == [0.8, 0.4, 0.2]
    h = measure.hazard(lengths, cap=2100, width=1000)
    assert h == [4 / 5 / 1000, 0.0, 0.0]      # the episode at the cap does not die there
    assert abs(measure.spearman([1, 2, 3, 4], [10, 30, 20, 40]) - 0.8) < 1e-12
    x = np.array([[1.0, 3.0, np.nan, np.nan], [2.0, np.nan, np.nan, np.nan]])
    mean, empty = measure.by_time(x, width=2)       # (1 + 3 + 2) / 3, then nothing to average
    assert mean == 2.0 and np.isnan(empty)


def test_the_wall_traps_holders_hold_whatever_they_see():
    ccfg = evolve.controller_config(preset("doom", "default"), 64, 512)
    hold, thetas = measure.holders(ccfg)
    z = np.random.default_rng(0).normal(0, 3, (50, 64)).astype(np.float32)
    for side, theta in zip((-1, 1), thetas):
        assert (controller.env_action(hold, controller.act(hold, theta, z)) == side).all()
        assert (controller.m_action(hold, controller.act(hold, theta, z)) == side).all()   # M sees it too


def _series_one_episode(rng, L, nz, na):
    mu = rng.standard_normal((L, nz)).astype(np.float32)
    restart, done = np.zeros(L, np.uint8), np.zeros(L, np.uint8)
    restart[0], done[-1] = 1, 1
    return {"mu": mu, "logvar": np.full_like(mu, -2.0), "restart": restart, "done": done,
            "action": rng.choice([-1.0, 0.0, 1.0], (L, na)).astype(np.float32)}


def test_per_step_losses_agree_with_the_training_loss():
    rng = np.random.default_rng(0)
    nz, na, H, L = 4, 1, 16, 30
    arrays = infer.random_mdnrnn_arrays(nz, na, H, rng, restart=True, done=True)
    m = infer.mdnrnn_from_arrays(arrays)
    series = _series_one_episode(rng, L, nz, na)
    z_nll, done_loss = measure.m_losses(m, series, np.random.default_rng(5), cap=100)
    assert np.isfinite(z_nll[0, :L - 1]).all() and np.isnan(z_nll[0, L - 1:]).all()
    assert np.isfinite(done_loss[0, :L]).all() and np.isnan(done_loss[0, L:]).all()
    # the same z, through the autograd M that training uses, over one window of the episode
    mcfg = mdnrnn.MDNRNNConfig(nz=nz, na=na, hidden=H, restart=True, done=True)
    p = {k: Tensor(np.asarray(v, np.float64)) for k, v in arrays.items() if not k.startswith("meta")}
    eps = np.random.default_rng(5).standard_normal((1, L, nz))
    z = series["mu"][None] + np.exp(series["logvar"][None] / 2) * eps
    _, z_loss, d_loss = mdnrnn.loss(p, mcfg, z, series["action"][None, :-1], series["restart"][None, :-1],
                                    series["done"][None, :-1], np.ones((1, L - 1)))
    np.testing.assert_allclose(np.mean(z_nll[0, :L - 1]), z_loss, rtol=1e-4)
    np.testing.assert_allclose(np.mean(done_loss[0, :L - 1]), d_loss, rtol=1e-4)


def test_measure_end_to_end_on_a_tiny_doom_run(tmp_path, capsys):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "vae.npz", **infer.random_vae_arrays(64, rng, scale=0.5))
    np.savez(tmp_path / "mdnrnn.npz", **infer.random_mdnrnn_arrays(64, 1, 32, rng, restart=True, done=True))
    cfg = override(preset("doom", "tiny", run_dir=str(tmp_path)),
                   ["evaluate.max_steps=60", "evolve.workers=1"])
    ccfg = evolve.controller_config(cfg, 64, 32)
    formats.save_controller(tmp_path / "controller.npz", ccfg, rng.normal(0, 0.1, 64 + 32 + 32))
    mu0 = rng.standard_normal((5, 64)).astype(np.float32)
    formats.save_npz(tmp_path / "series.npz", {"init_mu": mu0, "init_logvar": np.full_like(mu0, -3)})
    measure.main(cfg)
    r = json.loads((tmp_path / "measure.json").read_text())
    assert len(r["controllers"]) == 3 and (tmp_path / "measure.png").exists()
    for c in r["controllers"]:
        assert all(0 <= v <= 1 for v in c["real_survival"] + c["dream_survival"])
        assert 1 <= c["real_mean"] <= 60 and 1 <= c["dream_mean"] <= 60
    assert len(r["hazard"]["real"]) == 1 and r["m_losses"]["episodes"] == 2
    assert [t["name"] for t in r["wall_trap"]] == ["hold left", "hold right"]
    for t in r["wall_trap"]:
        assert 1 <= t["real_mean"] <= 60 and 1 <= t["dream_mean"] <= 60
    out = capsys.readouterr().out
    assert "rank correlation" in out and "hold right" in out
    game = (tmp_path / "measure" / "game.jsonl").read_text().splitlines()
    assert len(game) == 5 * cfg.measure.episodes        # every real episode kept as it ended (+2 holders)
    measure.main(cfg)                                    # the recorded episodes are reused
    assert len(list((tmp_path / "measure" / "rollouts").iterdir())) == 2
    again = json.loads((tmp_path / "measure.json").read_text())     # ... and the game's side too
    assert (tmp_path / "measure" / "game.jsonl").read_text().splitlines() == game
    assert [c["real_survival"] for c in again["controllers"]] == [c["real_survival"] for c in r["controllers"]]
    np.savez(tmp_path / "mdnrnn.npz", **infer.random_mdnrnn_arrays(64, 1, 32, rng, restart=True, done=True))
    measure.main(cfg)                                    # another M: the game is played again
    assert len((tmp_path / "measure" / "game.jsonl").read_text().splitlines()) == 10 * cfg.measure.episodes
