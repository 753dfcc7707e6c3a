"""minwm.pool: worker processes (spawn) with a state built once per worker, or, with workers=1,
everything in this process."""
import os

import pytest

from minwm import pool


def _build(offset):
    return {"offset": offset, "pid": os.getpid()}


def _add(state, task):
    return state["offset"] + task, state["pid"]


def _fail_to_build(name):
    raise ValueError(f"no such thing as {name}")


def test_one_worker_runs_in_this_process():
    p = pool.Pool(_build, (10,), workers=1)
    try:
        assert p.local and p.pool is None
        assert p.map(_add, [1, 2, 3]) == [(11, os.getpid()), (12, os.getpid()), (13, os.getpid())]
        assert [r for r, _ in p.imap(_add, [4, 5])] == [14, 15]
    finally:
        p.close()
    assert pool._state == {}                            # closed: nothing left in this process


def test_two_workers_are_spawned_processes():
    p = pool.Pool(_build, (100,), workers=2)
    try:
        assert not p.local
        results = p.map(_add, list(range(8)))
        assert [r for r, _ in results] == list(range(100, 108))         # in order
        pids = {pid for _, pid in results}
        assert os.getpid() not in pids and 1 <= len(pids) <= 2
        assert sorted(r for r, _ in p.imap(_add, [1, 2, 3], ordered=False)) == [101, 102, 103]
    finally:
        p.close(wait=True)


def test_a_worker_that_cannot_start_fails_with_its_reason():
    # without care, multiprocessing respawns a worker whose initializer raises, forever
    p = pool.Pool(_fail_to_build, ("pong",), workers=2)
    try:
        with pytest.raises(RuntimeError, match="could not start: ValueError: no such thing as pong"):
            p.map(_add, [1])
    finally:
        p.close()


def test_in_this_process_the_error_is_raised_as_it_is():
    # pool's docstring: with workers=1 everything runs in this process, and errors raise here
    with pytest.raises(ValueError, match="no such thing as pong"):
        p = pool.Pool(_fail_to_build, ("pong",), workers=1)
        try:
            p.map(_add, [1])
        finally:
            p.close()
    assert pool._state == {}


def test_unknown_backend():
    with pytest.raises(ValueError, match="choose local or ray"):
        pool.Pool(_build, (0,), workers=2, backend="slurm")
