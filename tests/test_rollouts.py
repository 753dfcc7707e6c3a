"""Random-policy rollouts on disk: what collect writes, atomic writes and resume, and the reader."""
import os
from dataclasses import replace

import numpy as np
import pytest

from minwm import rollouts as R


def _files(d):
    return sorted(p.name for p in d.iterdir())


def test_doom_rollouts_written_and_resumed(tmp_path):
    cfg = R.CollectConfig(env="doom", out_dir=str(tmp_path), rollouts=3, workers=1)
    (tmp_path / "000000042.npz.part").write_bytes(b"half a file")   # left by a killed run
    R.main(cfg)
    first = _files(tmp_path)
    assert len(first) == 3 and all(name.endswith(".npz") for name in first)
    for name in first:
        r = R.load_rollout(tmp_path / name)
        T = len(r["frames"])
        assert r["frames"].shape == (T, 64, 64, 3) and r["frames"].dtype == np.uint8
        assert r["actions"].shape == (T,) and r["actions"].dtype == np.float32
        assert np.abs(r["actions"]).max() <= 1
        runs = np.diff(np.flatnonzero(np.diff(r["actions"]) != 0))          # held 1-10 frames
        assert runs.max() <= 10
        assert T > 100                                                      # short ones dropped
        assert (r["rewards"] == 1).all() and r["dones"][-1] and not r["dones"][:-1].any()
        assert int(r["seed"]) == int(name[:-4])
    mtimes = {n: os.stat(tmp_path / n).st_mtime_ns for n in first}

    R.main(replace(cfg, rollouts=5))                                        # resume
    second = _files(tmp_path)
    assert len(second) == 5 and set(first) < set(second)
    assert all(os.stat(tmp_path / n).st_mtime_ns == mtimes[n] for n in first)  # not redone
    R.main(replace(cfg, rollouts=5))                                        # nothing to do
    assert _files(tmp_path) == second


def test_short_doom_episodes_are_dropped(tmp_path):
    env = R.make_env("doom")
    try:
        seed = next(s for s in range(100) if len(R.rollout(env, "doom", s)["rewards"]) <= 100)
    finally:
        env.close()
    R.main(R.CollectConfig(env="doom", out_dir=str(tmp_path), rollouts=1, workers=1, seed=seed))
    (name,) = _files(tmp_path)
    assert int(name[:-4]) > seed                                            # its seed was skipped


def test_carracing_rollouts_with_two_workers(tmp_path):
    cfg = R.CollectConfig(env="carracing", out_dir=str(tmp_path), rollouts=2, max_frames=40,
                          workers=2)
    R.main(cfg)
    for name in _files(tmp_path):
        r = R.load_rollout(tmp_path / name)
        assert r["frames"].shape == (40, 64, 64, 3) and r["actions"].shape == (40, 3)
        a = r["actions"]
        assert (a[:, 0] >= -1).all() and (a[:, 0] <= 1).all() and (a[:, 1:] >= 0).all() and (a[:, 1:] <= 1).all()
        assert np.abs(np.diff(a, axis=0)).max() < 0.5                       # smoothly varying
        assert r["dones"][-1] and not r["dones"][:-1].any()
        # replaying the stored actions gives the same frames (float32 actions replay exactly)
        env = R.make_env("carracing", 40)
        frames = [env.reset(int(r["seed"]))] + [env.step(x)[0] for x in a[:-1]]
        env.close()
        assert np.array_equal(np.stack(frames), r["frames"])


def test_collect_worker_that_cannot_start_fails_with_its_reason(tmp_path):
    # without care, multiprocessing respawns a worker whose initializer raises, forever
    cfg = R.CollectConfig(env="pong", out_dir=str(tmp_path), rollouts=1, workers=2)
    with pytest.raises(RuntimeError, match="could not start: ValueError: unknown environment 'pong'"):
        R.main(cfg)
    with pytest.raises(ValueError, match="unknown environment"):          # one worker: in-process
        R.main(replace(cfg, workers=1))


def test_brownian_actions_keep_the_car_driving():
    a = np.concatenate([R.brownian_actions(np.random.default_rng(s), 1000) for s in range(5)])
    assert a[:, 1].mean() > 0.2 and (a[:, 2] > 0).mean() < 0.2              # gas on, brake rare
    assert (a[:, 0] < -0.3).mean() > 0.1 and (a[:, 0] > 0.3).mean() > 0.1   # turns both ways


def test_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "000000001.npz"
    def crash(f, array, **kwargs):                                          # killed mid-write
        f.write(b"\x93NUMPY partial")
        raise KeyboardInterrupt
    monkeypatch.setattr(np.lib.format, "write_array", crash)
    with pytest.raises(KeyboardInterrupt):
        R.write_rollout(path, {"frames": np.zeros((2, 64, 64, 3), np.uint8)})
    assert not path.exists() and R.seeds_on_disk(tmp_path) == set()        # nothing looks whole


def _fake_rollouts(d, sizes):
    """Rollout i has frames whose pixels encode (file, frame): [i, t, 0]."""
    for i, T in enumerate(sizes):
        frames = np.zeros((T, 64, 64, 3), np.uint8)
        frames[:, :, :, 0], frames[:, :, :, 1] = i, np.arange(T)[:, None, None]
        R.write_rollout(R.rollout_path(d, i), dict(frames=frames, actions=np.zeros(T, np.float32),
                        rewards=np.ones(T, np.float32), dones=np.arange(T) == T - 1, seed=np.array(i)))


def _ids(batch):
    return [(int(f[0, 0, 0]), int(f[0, 0, 1])) for f in batch]


def test_reader_streams_every_frame_once_shuffled(tmp_path, monkeypatch):
    sizes = [30, 25, 40, 35, 20, 50]
    _fake_rollouts(tmp_path, sizes)
    loads = []
    load = R.load_rollout
    monkeypatch.setattr(R, "load_rollout", lambda p: loads.append(p) or load(p))
    reader = R.FrameReader(tmp_path, buffer_frames=60)
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
    truncated, damaged = R.rollout_path(tmp_path, 1), R.rollout_path(tmp_path, 2)
    truncated.write_bytes(truncated.read_bytes()[:500])
    data = bytearray(damaged.read_bytes())
    start = data.index(b"frames.npy") + 200                                 # inside the frames
    data[start:start + 64] = bytes(64)
    damaged.write_bytes(bytes(data))

    with pytest.warns(RuntimeWarning, match=f"{truncated.name}.*delete it and run collect"):
        reader = R.FrameReader(tmp_path)
    assert reader.n_frames == 90                                            # damaged one not yet known
    with pytest.warns(RuntimeWarning, match=damaged.name):
        ids = [x for b in reader.batches(10, np.random.default_rng(0)) for x in _ids(b)]
    assert {i for i, _ in ids} == {0, 3} and len(ids) == 60
    with pytest.warns(RuntimeWarning, match=damaged.name):
        assert R.load_rollout(damaged) is None
