"""Random-policy rollouts on disk: what collect writes, atomic writes and resume, and the reader."""
import os
from dataclasses import replace

import numpy as np
import pytest

from minwm import carracing, collect, doom, formats
from minwm.config import COLLECT_SEED_STRIDE, Config, override, preset, spec
from minwm.train_vae import FrameReader


def _files(d):
    return sorted(p.name for p in d.iterdir())


def _cfg(run_dir, env, *items):
    return override(preset(env, "tiny", run_dir=str(run_dir)), items)


def test_doom_rollouts_written_and_resumed(tmp_path):
    cfg = _cfg(tmp_path, "doom", "collect.rollouts=3", "collect.workers=1")
    out = tmp_path / "rollouts"
    out.mkdir()
    (out / "000000042.npz.part").write_bytes(b"half a file")                # left by a killed run
    assert collect.main(cfg) == out
    first = _files(out)
    assert len(first) == 3 and all(name.endswith(".npz") for name in first)
    for name in first:
        r = formats.read_rollout(out / name)
        T = len(r["frames"])
        assert r["frames"].shape == (T, 64, 64, 3) and r["frames"].dtype == np.uint8
        assert r["actions"].shape == (T,) and r["actions"].dtype == np.float32
        assert np.abs(r["actions"]).max() <= 1
        runs = np.diff(np.flatnonzero(np.diff(r["actions"]) != 0))          # held 1-10 frames
        assert runs.max() <= 10
        assert T > 100                                                      # short ones dropped
        assert (r["rewards"] == 1).all() and r["dones"][-1] and not r["dones"][:-1].any()
        assert int(r["seed"]) == int(name[:-4])
    mtimes = {n: os.stat(out / n).st_mtime_ns for n in first}

    collect.main(override(cfg, ["collect.rollouts=5"]))                     # resume
    second = _files(out)
    assert len(second) == 5 and set(first) < set(second)
    assert all(os.stat(out / n).st_mtime_ns == mtimes[n] for n in first)   # not redone
    collect.main(override(cfg, ["collect.rollouts=5"]))                     # nothing to do
    assert _files(out) == second


def test_seeds_start_at_the_run_seed_times_the_stride(tmp_path):
    collect.main(_cfg(tmp_path, "carracing", "seed=3", "collect.rollouts=1", "collect.workers=1",
                      "collect.max_frames=5"))
    (name,) = _files(tmp_path / "rollouts")
    assert int(name[:-4]) == 3 * COLLECT_SEED_STRIDE == 300_000_000
    assert formats.rollout_path(tmp_path / "rollouts", 3 * COLLECT_SEED_STRIDE).name == name


def test_short_doom_episodes_are_dropped(tmp_path):
    s = spec("doom")
    env = s.make(s.steps(0))
    try:
        seed = next(i for i in range(100) if len(collect.rollout(env, s.explore, i)["rewards"]) <= 100)
    finally:
        env.close()
    # seeds are tried from 0 (run seed 0): seed + 1 rollouts on disk need one seed past the short one
    collect.main(_cfg(tmp_path, "doom", f"collect.rollouts={seed + 1}", "collect.workers=1"))
    on_disk = collect.seeds_on_disk(tmp_path / "rollouts")
    assert len(on_disk) == seed + 1 and seed not in on_disk                 # its seed was skipped
    assert max(on_disk) > seed


def test_carracing_rollouts_with_two_workers(tmp_path):
    cfg = _cfg(tmp_path, "carracing", "collect.rollouts=2", "collect.max_frames=40", "collect.workers=2")
    out = collect.main(cfg)
    assert len(_files(out)) == 2
    for name in _files(out):
        r = formats.read_rollout(out / name)
        assert r["frames"].shape == (40, 64, 64, 3) and r["actions"].shape == (40, 3)
        a = r["actions"]
        assert (a[:, 0] >= -1).all() and (a[:, 0] <= 1).all() and (a[:, 1:] >= 0).all() and (a[:, 1:] <= 1).all()
        assert np.abs(np.diff(a, axis=0)).max() < 0.5                       # smoothly varying
        assert r["dones"][-1] and not r["dones"][:-1].any()
        # replaying the stored actions gives the same frames (float32 actions replay exactly)
        env = carracing.SPEC.make(carracing.SPEC.steps(40))
        frames = [env.reset(int(r["seed"]))] + [env.step(x)[0] for x in a[:-1]]
        env.close()
        assert np.array_equal(np.stack(frames), r["frames"])


def test_collect_worker_that_cannot_start_fails_with_its_reason(tmp_path):
    # without care, multiprocessing respawns a worker whose initializer raises, forever
    cfg = Config(env="pong", run_dir=str(tmp_path), collect=replace(Config().collect, rollouts=1, workers=2))
    with pytest.raises(RuntimeError, match="could not start: ValueError: unknown environment 'pong'"):
        collect.main(cfg)
    with pytest.raises(ValueError, match="unknown environment"):          # one worker: in-process
        collect.main(replace(cfg, collect=replace(cfg.collect, workers=1)))


def test_brownian_actions_keep_the_car_driving():
    a = np.concatenate([carracing.brownian_actions(np.random.default_rng(s), 1000) for s in range(5)])
    assert a[:, 1].mean() > 0.2 and (a[:, 2] > 0).mean() < 0.2              # gas on, brake rare
    assert (a[:, 0] < -0.3).mean() > 0.1 and (a[:, 0] > 0.3).mean() > 0.1   # turns both ways


def test_held_actions_are_held_1_to_10_frames():
    a = doom.held_actions(np.random.default_rng(0), 2000)
    assert a.shape == (2000,) and a.dtype == np.float32 and np.abs(a).max() <= 1
    runs = np.diff(np.flatnonzero(np.diff(a) != 0))
    assert runs.min() >= 1 and runs.max() <= 10 and len(set(runs.tolist())) == 10


def test_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "000000001.npz"
    def crash(f, array, **kwargs):                                          # killed mid-write
        f.write(b"\x93NUMPY partial")
        raise KeyboardInterrupt
    monkeypatch.setattr(np.lib.format, "write_array", crash)
    with pytest.raises(KeyboardInterrupt):
        formats.write_rollout(path, {"frames": np.zeros((2, 64, 64, 3), np.uint8)})
    assert not path.exists() and collect.seeds_on_disk(tmp_path) == set()  # nothing looks whole
    assert not list(tmp_path.iterdir())                                     # no .part left either


def _fake_rollouts(d, sizes):
    """Rollout i has frames whose pixels encode (file, frame): [i, t, 0]."""
    for i, T in enumerate(sizes):
        frames = np.zeros((T, 64, 64, 3), np.uint8)
        frames[:, :, :, 0], frames[:, :, :, 1] = i, np.arange(T)[:, None, None]
        formats.write_rollout(formats.rollout_path(d, i), dict(
            frames=frames, actions=np.zeros(T, np.float32), rewards=np.ones(T, np.float32),
            dones=np.arange(T) == T - 1, seed=np.array(i)))


def _ids(batch):
    return [(int(f[0, 0, 0]), int(f[0, 0, 1])) for f in batch]


def test_reader_streams_every_frame_once_shuffled(tmp_path, monkeypatch):
    sizes = [30, 25, 40, 35, 20, 50]
    _fake_rollouts(tmp_path, sizes)
    loads = []
    load = formats.read_rollout
    monkeypatch.setattr(formats, "read_rollout", lambda p: loads.append(p) or load(p))
    reader = FrameReader(tmp_path, buffer_frames=60)
    assert reader.n_frames == 200
    batches = reader.batches(16, np.random.default_rng(0))
    first = next(batches)
    assert first.shape == (16, 64, 64, 3) and first.dtype == np.uint8
    assert len(loads) <= 3                                                  # streamed, not all
    assert len({i for i, _ in _ids(first)}) > 1                             # mixes files
    ids = _ids(first) + [x for b in batches for x in _ids(b)]
    assert len(ids) == 192 and len(set(ids)) == 192                         # full batches, once each
    again = [x for b in reader.batches(16, np.random.default_rng(0)) for x in _ids(b)]
    assert again == ids                                                     # seeded order
    resumed = [x for b in reader.batches(16, np.random.default_rng(0), skip=5) for x in _ids(b)]
    assert resumed == ids[5 * 16:]
    capped = list(reader.batches(16, np.random.default_rng(1), max_frames=50))
    assert len(capped) == 3


def test_reader_reports_and_skips_corrupt_files(tmp_path):
    _fake_rollouts(tmp_path, [30, 30, 30, 30])
    truncated, damaged = formats.rollout_path(tmp_path, 1), formats.rollout_path(tmp_path, 2)
    truncated.write_bytes(truncated.read_bytes()[:500])
    data = bytearray(damaged.read_bytes())
    start = data.index(b"frames.npy") + 200                                 # inside the frames
    data[start:start + 64] = bytes(64)
    damaged.write_bytes(bytes(data))

    with pytest.warns(RuntimeWarning, match=f"{truncated.name}.*delete it and run collect"):
        reader = FrameReader(tmp_path)
    assert reader.n_frames == 90                                            # damaged one not yet known
    with pytest.warns(RuntimeWarning, match=damaged.name):
        ids = [x for b in reader.batches(10, np.random.default_rng(0)) for x in _ids(b)]
    assert {i for i, _ in ids} == {0, 3} and len(ids) == 60
    with pytest.warns(RuntimeWarning, match=damaged.name):
        assert formats.or_warn(formats.read_rollout, damaged) is None
    with pytest.raises(formats.FormatError, match=f"{damaged.name}: .*rebuild it with `minwm collect"):
        formats.read_rollout(damaged)
