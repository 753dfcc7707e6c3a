"""Both cores on one batch: the batch split in parts, one thread per part, BLAS at one thread each.

OpenBLAS runs each matmul on every core, and its worker threads spin between calls; so everything
between the matmuls (im2col and col2im copies, the pointwise math, Adam) ran on one core while
the other spun: a third of V's training step (bench/profile_v.py). Split instead, each core runs
a whole part -- its matmuls, copies and pointwise math -- with no hand-over until the parts are
summed. NumPy and the Numba kernels (nogil) let go of the GIL, so Python threads suffice.

    parts()               how many parts: the BLAS thread count (1 in pool workers, or when
                          OPENBLAS_NUM_THREADS=1), 1 if the BLAS is not an OpenBLAS we can set
    run(fn, items)        [fn(item) for item in items], one thread each, BLAS at 1 thread meanwhile
    slices(n, k)          k contiguous slices covering range(n), sizes differing by at most one
    backward_in_parts(p, part, n)   a training step's graphs, one per part (V's and M's)
"""
import concurrent.futures
import ctypes
import functools
import itertools

import numpy as np

_pool, _pool_size = None, 0


def _openblas():
    """(get, set) of the thread count of the OpenBLAS that NumPy loaded, or None."""
    try:
        with open("/proc/self/maps") as f:
            paths = sorted({line.split()[-1] for line in f if "openblas" in line.lower()})
    except OSError:                                    # not Linux: no split
        return None
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in ("scipy_openblas_{}_num_threads64_", "openblas_{}_num_threads64_",
                     "openblas_{}_num_threads"):
            get, set_ = (getattr(lib, name.format(v), None) for v in ("get", "set"))
            if get and set_:
                return get, set_
    return None


_blas = _openblas()


def parts():
    return _blas[0]() if _blas else 1


def slices(n, k):
    bounds = [n * i // k for i in range(k + 1)]
    return [slice(a, b) for a, b in itertools.pairwise(bounds)]


def run(fn, items):
    global _pool, _pool_size
    items = list(items)
    if len(items) == 1 or not _blas:
        return [fn(item) for item in items]
    if _pool_size < len(items) - 1:
        _pool_size = len(items) - 1
        _pool = concurrent.futures.ThreadPoolExecutor(_pool_size, "minwm-part")
    threads = _blas[0]()
    _blas[1](1)
    try:
        futures = [_pool.submit(fn, item) for item in items[1:]]
        try:
            first = fn(items[0])                       # this thread takes the first part
        finally:
            concurrent.futures.wait(futures)           # none left running on an error
        return [first] + [f.result() for f in futures]
    finally:
        _blas[1](threads)


def backward_in_parts(p, part, n):
    """The batch's rows range(n) in parts, one per core: part(q, s) builds the
    graph of rows s on its own Tensors q of p's arrays (a graph per thread, so no .grad is written
    by two threads) and runs its backward. Then p's .grad = the parts' gradients summed (set, not
    added). Returns the list of part's results."""
    def one(s):
        q = {k: type(t)(t.data, True) for k, t in p.items()}  # autograd Tensors
        return q, part(q, s)
    results = run(one, slices(n, min(parts(), n)))
    for k, t in p.items():
        t.grad = functools.reduce(np.add, [q[k].grad for q, _ in results])
    return [r for _, r in results]
