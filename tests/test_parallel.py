"""minwm.parallel: parts in order, one thread each, BLAS at one thread meanwhile and restored."""
import threading

import numpy as np
import pytest

from minwm import parallel


def test_run_returns_each_part_in_order_all_running_at_once():
    before = parallel.parts()
    together = threading.Barrier(3, timeout=30) if parallel._blas else None   # OpenBLAS found

    def part(s):
        if together:
            together.wait()                       # breaks (an error) unless all 3 run at once
        return s, threading.get_ident(), parallel.parts()
    out = parallel.run(part, parallel.slices(10, 3))
    assert [r[0] for r in out] == [slice(0, 3), slice(3, 6), slice(6, 10)]
    if together:
        assert len({r[1] for r in out}) == 3 and out[0][1] == threading.get_ident()
        assert all(r[2] == 1 for r in out)        # BLAS at one thread inside: parts do not nest
    assert parallel.parts() == before


def test_an_error_in_a_part_is_raised_here_after_every_part_finished():
    before, done = parallel.parts(), []

    def part(i):
        if i == 2:
            raise ValueError("part 2")
        done.append(i)
        return i
    with pytest.raises(ValueError, match="part 2"):
        parallel.run(part, [0, 1, 2])
    assert sorted(done) == [0, 1] and parallel.parts() == before


def test_slices_cover_the_range_in_near_equal_parts():
    for n, k in [(100, 2), (5, 3), (7, 7), (64, 2)]:
        s = parallel.slices(n, k)
        sizes = [b.stop - b.start for b in s]
        assert np.concatenate([np.arange(n)[b] for b in s]).tolist() == list(range(n))
        assert len(s) == k and max(sizes) - min(sizes) <= 1
