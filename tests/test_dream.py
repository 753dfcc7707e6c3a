"""The dream: the DoomRNN rules, finished rollouts leaving the batch, seeds, and saved dreams."""
import numpy as np
import pytest
from PIL import Image

from minwm import controller as C
from minwm import dream as D
from minwm import infer, show
from minwm.config import override, preset
from minwm.kernels import lstm_step_numpy, mdn_sample_numpy

NZ, H = 4, 16
CCFG = C.ControllerConfig(nz=NZ, hidden=H, na=1, inputs="zch", bias=False, env="doom")


def _m(seed=0, done_bias=None, done_scale=1.0, done=True):
    rng = np.random.default_rng(seed)
    arrays = infer.random_mdnrnn_arrays(NZ, 1, H, rng, restart=True, done=done)
    if done:
        arrays["mdn.w"][:, -1] *= done_scale
        if done_bias is not None:
            arrays["mdn.b"][-1] = done_bias
    return infer.mdnrnn_from_arrays(arrays)


def _starts(E=3, seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((E, NZ)).astype(np.float32), np.full((E, NZ), -1.0, np.float32)


def _thetas(B, seed=2):
    return (np.random.default_rng(seed).standard_normal((B, C.n_params(CCFG))) * 0.5).astype(np.float32)


def test_one_rollout_equals_the_formulas_step_by_step():
    m, (mu0, logvar0) = _m(done_bias=-1.0, done_scale=4.0), _starts()
    cfg = D.DreamConfig(tau=1.15, max_steps=40)
    theta = _thetas(1)
    rewards, zs = D.dream(m, CCFG, theta, mu0, logvar0, cfg, np.random.default_rng(5), record=True)

    rng = np.random.default_rng(5)                    # the same draws, in the same order
    e = rng.integers(len(mu0), size=1)
    z = mu0[e] + np.exp(0.5 * logvar0[e]) * rng.standard_normal((1, NZ), dtype=np.float32)
    h = c = np.zeros((1, H), np.float32)
    restart, t = np.ones(1, bool), 0
    while True:
        np.testing.assert_allclose(zs[0, t], z[0], atol=1e-4)
        a = np.tanh(np.concatenate([z, c, h], 1) @ theta[0])[:, None]                # a_t = C(z, c, h)
        x = np.concatenate([z, C.m_action(CCFG, a), restart[:, None]], 1)            # [z, a, restart]
        h, c = lstm_step_numpy(x, h, c, restart, m.wx, m.wh, m.b)
        u, eps = rng.random((1, NZ), dtype=np.float32), rng.standard_normal((1, NZ), dtype=np.float32)
        z, done_logit = mdn_sample_numpy(h @ m.w_mdn, m.b_mdn, NZ, m.k, cfg.tau, u, eps)
        restart[:], t = False, t + 1
        if done_logit[0] > 0 or t == cfg.max_steps:
            break
    assert 1 < t < cfg.max_steps                      # ended by the done head, not the cap
    assert rewards[0] == t                            # +1 per step, the last one included
    assert np.isnan(zs[0, t + 1:]).all() and not np.isnan(zs[0, :t + 1]).any()


@pytest.mark.parametrize("bias,expected", [(-1e-3, 25), (1e-3, 1)])
def test_done_is_the_logit_sign_or_the_step_cap(bias, expected):
    m = _m(done_bias=bias, done_scale=0.0)            # done logit == bias exactly
    rewards = D.dream(m, CCFG, _thetas(8), *_starts(), D.DreamConfig(tau=1.15, max_steps=25), np.random.default_rng(0))
    np.testing.assert_array_equal(rewards, expected)


def test_without_a_done_head_rollouts_run_to_the_cap():
    m = _m(done=False)
    rewards = D.dream(m, CCFG, _thetas(3), *_starts(), D.DreamConfig(tau=1.15, max_steps=12), np.random.default_rng(0))
    np.testing.assert_array_equal(rewards, 12)


def test_finished_rollouts_leave_the_batch(monkeypatch):
    rows_per_step = []
    def spy(y, *args):
        rows_per_step.append(len(y))
        return D_sample(y, *args)
    D_sample = D.mdn_sample
    monkeypatch.setattr(D, "mdn_sample", spy)
    m = _m(done_bias=-2.0, done_scale=6.0)
    rewards, zs = D.dream(m, CCFG, _thetas(50), *_starts(), D.DreamConfig(tau=1.15, max_steps=60),
                          np.random.default_rng(3), record=True)
    assert len(set(rewards.tolist())) > 5             # the test needs rollouts of many lengths
    assert rows_per_step == [(rewards > t).sum() for t in range(len(rows_per_step))]
    assert sum(rows_per_step) == rewards.sum()        # compute spent = steps survived
    for r, z in zip(rewards.astype(int), zs):         # each row kept its own rollout's trajectory
        assert not np.isnan(z[:r + 1]).any() and np.isnan(z[r + 1:]).all()


def test_compaction_keeps_each_live_rollout_with_its_state():
    rows, rewards = np.arange(6), np.zeros(6, np.float32)
    xh = np.arange(6, dtype=np.float32)[:, None] * np.ones((6, 3), np.float32)
    done = np.array([1, 0, 1, 0, 0, 1], bool)
    n = D._retire(done, 9, rows, rewards, (xh,))
    assert n == 3
    assert sorted(rows[:n]) == [1, 3, 4]
    np.testing.assert_array_equal(xh[:n, 0], rows[:n])                  # state moved with its rollout
    np.testing.assert_array_equal(rewards, [9, 0, 9, 0, 0, 9])


def test_reset_starts_from_recorded_first_frames_with_zero_state(monkeypatch):
    seen = []
    def spy(xh, c, *args):
        seen.append((xh[:, NZ + 1].copy(), np.abs(xh[:, NZ + 2:]).max(), np.abs(c).max()))
        return L_step(xh, c, *args)
    L_step = D.lstm_step
    monkeypatch.setattr(D, "lstm_step", spy)
    mu0 = np.random.default_rng(0).standard_normal((3, NZ)).astype(np.float32)
    logvar0 = np.full((3, NZ), -40.0, np.float32)     # sigma ~ 2e-9: z_0 is the recorded mean
    _, zs = D.dream(_m(done_bias=-5.0, done_scale=0.1), CCFG, _thetas(30), mu0, logvar0,
                    D.DreamConfig(tau=1.15, max_steps=5), np.random.default_rng(1), record=True)
    dist = np.abs(zs[:, 0, None, :] - mu0[None]).max(-1)                # (B, E)
    assert (dist.min(1) < 1e-6).all() and len(set(dist.argmin(1))) == 3  # random episodes
    restart0, h0, c0 = seen[0]
    assert (restart0 == 1).all() and h0 == 0 and c0 == 0
    assert all((r == 0).all() for r, _, _ in seen[1:])                  # restart only at t = 0
    assert seen[1][1] > 0 and seen[1][2] > 0


def test_same_seed_same_dream():
    m, starts, thetas = _m(done_bias=-1.0, done_scale=3.0), _starts(), _thetas(20)
    cfg = D.DreamConfig(tau=1.15, max_steps=50)
    r1, z1 = D.dream(m, CCFG, thetas, *starts, cfg, np.random.default_rng(5), record=True)
    r2, z2 = D.dream(m, CCFG, thetas, *starts, cfg, np.random.default_rng(5), record=True)
    r3 = D.dream(m, CCFG, thetas, *starts, cfg, np.random.default_rng(6))
    np.testing.assert_array_equal(r1, r2)
    np.testing.assert_array_equal(z1, z2)   # bit for bit, wherever the buffers lie (test_kernels)
    assert not np.array_equal(r1, r3)


def test_population_batch_and_shared_controller():
    m, starts = _m(done_bias=-1.0, done_scale=3.0), _starts()
    cfg = D.DreamConfig(tau=1.15, max_steps=50)
    pop = _thetas(4)
    r = D.dream_population(m, CCFG, pop, 6, *starts, cfg, np.random.default_rng(2))
    assert r.shape == (4, 6)
    np.testing.assert_array_equal(
        r.ravel(), D.dream(m, CCFG, np.repeat(pop, 6, 0), *starts, cfg, np.random.default_rng(2)))
    # one controller for all rows (e.g. the CMA mean) == that controller copied into every row
    shared = D.dream(m, CCFG, pop[0], *starts, cfg, np.random.default_rng(4), count=10)
    copied = D.dream(m, CCFG, np.repeat(pop[:1], 10, 0), *starts, cfg, np.random.default_rng(4))
    np.testing.assert_array_equal(shared, copied)


def test_saved_dreams(tmp_path):
    rng = np.random.default_rng(0)
    vae = infer.vae_from_arrays(infer.random_vae_arrays(NZ, rng))
    zs = np.full((12, NZ), np.nan, np.float32)
    zs[:7] = rng.standard_normal((7, NZ))
    frames = D.dream_frames(vae, zs)                  # NaN rows (past the end) dropped
    assert frames.shape == (7, 64, 64, 3) and frames.dtype == np.uint8
    Image.fromarray(np.concatenate(list(frames[::2]), axis=1)).save(tmp_path / "dream.png")
    show.save_gif(frames, tmp_path / "dream.gif", every=1)
    strip = Image.open(tmp_path / "dream.png")
    assert strip.size == (4 * 64, 64)                 # frames 0, 2, 4, 6 side by side
    gif = Image.open(tmp_path / "dream.gif")
    assert gif.n_frames == 7 and gif.size == (64, 64)
    np.testing.assert_array_equal(np.asarray(strip)[:, :64], D.dream_frames(vae, zs)[0])


def test_dream_config_from_a_run_config():
    cfg = preset("doom", "default")
    assert D.dream_config(cfg) == D.DreamConfig(tau=1.15, max_steps=2100)    # the env's own cap
    cfg = override(cfg, ["evolve.tau=1.25", "evolve.max_steps=60"])
    assert D.dream_config(cfg) == D.DreamConfig(tau=1.25, max_steps=60)
    with pytest.raises(TypeError):
        D.DreamConfig(max_steps=60)                   # tau has no default


def test_dream_dropout_one_mask_per_rollout_step_by_step():
    # Dropout's Dream Land: one mask drawn at reset, over [z, h] (never a, restart), at every step
    m, (mu0, logvar0) = _m(done_bias=-1.0, done_scale=4.0), _starts()
    cfg = D.DreamConfig(tau=1.15, max_steps=40, dropout=0.3)
    theta = _thetas(1)
    rewards, zs = D.dream(m, CCFG, theta, mu0, logvar0, cfg, np.random.default_rng(5), record=True)

    rng = np.random.default_rng(5)                    # the same draws, in the same order
    e = rng.integers(len(mu0), size=1)
    z = mu0[e] + np.exp(0.5 * logvar0[e]) * rng.standard_normal((1, NZ), dtype=np.float32)
    keep = (rng.random((1, NZ + 2 + H), dtype=np.float32) >= 0.3) / np.float32(0.7)
    keep[:, NZ:NZ + 2] = 1                            # a and restart are never dropped
    assert (keep == 0).any()
    h = c = np.zeros((1, H), np.float32)
    restart, t = np.ones(1, bool), 0
    while True:
        np.testing.assert_allclose(zs[0, t], z[0], atol=1e-4)
        a = np.tanh(np.concatenate([z, c, h], 1) @ theta[0])[:, None]                # C: unmasked
        x = np.concatenate([z, C.m_action(CCFG, a), restart[:, None]], 1)
        h, c = lstm_step_numpy(x, h, c, restart, m.wx, m.wh, m.b, keep)            # the same mask
        u, eps = rng.random((1, NZ), dtype=np.float32), rng.standard_normal((1, NZ), dtype=np.float32)
        z, done_logit = mdn_sample_numpy(h @ m.w_mdn, m.b_mdn, NZ, m.k, cfg.tau, u, eps)
        restart[:], t = False, t + 1
        if done_logit[0] > 0 or t == cfg.max_steps:
            break
    assert rewards[0] == t and np.isnan(zs[0, t + 1:]).all()


def test_dream_dropout_changes_rollouts_reproducibly():
    m, starts, thetas = _m(done_bias=-1.0, done_scale=3.0), _starts(), _thetas(30)
    run = lambda p, seed=5: D.dream(m, CCFG, thetas, *starts, D.DreamConfig(tau=1.15, max_steps=50, dropout=p),
                                    np.random.default_rng(seed), record=True)
    r0, z0 = run(0.0)
    today = D.dream(m, CCFG, thetas, *starts, D.DreamConfig(tau=1.15, max_steps=50), np.random.default_rng(5),
                    record=True)
    np.testing.assert_array_equal(r0, today[0])       # rate 0: today's dream, bit for bit
    np.testing.assert_array_equal(z0, today[1])
    (r1, z1), (r2, z2) = run(0.1), run(0.1)
    np.testing.assert_array_equal(r1, r2)             # same seed, same rollouts
    np.testing.assert_array_equal(z1, z2)
    assert not np.array_equal(r1, r0)                 # the masks change the rollouts
    assert not np.array_equal(r1, run(0.1, seed=6)[0])
    with pytest.raises(ValueError, match="rate"):
        run(1.0)
    cfg = override(preset("doom", "default"), ["evolve.dream_dropout=0.1"])
    assert D.dream_config(cfg).dropout == 0.1 and D.dream_config(preset("doom", "default")).dropout == 0


def test_dream_dropout_mask_stays_with_its_rollout(monkeypatch):
    # rows move as rollouts finish; each rollout (its own theta row) keeps one mask to its end
    seen = []
    def spy_act(ccfg, theta, *args):
        seen.append([theta.copy()])
        return act(ccfg, theta, *args)
    def spy_step(xh, c, restart, w, b, gates, keep):
        seen[-1].append(keep.copy())
        return step(xh, c, restart, w, b, gates, keep)
    act, step = D.C.act, D.lstm_step
    monkeypatch.setattr(D.C, "act", spy_act)
    monkeypatch.setattr(D, "lstm_step", spy_step)
    thetas = _thetas(40)
    rewards = D.dream(_m(done_bias=-2.0, done_scale=6.0), CCFG, thetas, *_starts(),
                      D.DreamConfig(tau=1.15, max_steps=60, dropout=0.2), np.random.default_rng(3))
    assert len(set(rewards.tolist())) > 5             # many lengths: rows moved many times
    masks = {}
    for theta, keep in seen:
        for th, k in zip(theta, keep):
            masks.setdefault(th.tobytes(), []).append(k)
    assert len(masks) == 40
    for r, th in zip(rewards, thetas):
        ks = masks[th.tobytes()]
        assert len(ks) == r and all(np.array_equal(k, ks[0]) for k in ks)
    assert len({k[0].tobytes() for k in masks.values()}) == 40   # and every rollout its own mask
