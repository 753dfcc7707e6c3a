"""Worker processes for episodes in the real environment (collect, evolve, evaluate, iterate).

    pool = Pool(build, args, workers, backend)     each worker: state = build(*args), once
    pool.map(fn, tasks)                            fn(state, task) in the workers, results in order
    pool.imap(fn, tasks, ordered=False)            ... as they finish
    pool.close()                                   stop the workers (they close their games)

Locally the workers are `multiprocessing` processes started by spawn (fresh interpreters: no
forked game or pygame state); on a cluster the same API comes from `ray.util.multiprocessing`.
Workers use one BLAS thread each: a 2-thread matmul collapses when the other core is busy. With
workers=1 (and the local backend) everything runs in this process, and errors raise here.
"""
import multiprocessing
import os

_state = {}                 # this worker's state: build(*args)


def _start(build, args):
    """A pool initializer's body. An initializer that raises makes multiprocessing respawn its
    worker forever, so the error is kept instead and raised by the worker's first task."""
    try:
        _state.update(build(*args))
    except Exception as e:  # noqa: BLE001 (any failure: reported by the first task, see above)
        _state["error"] = f"{type(e).__name__}: {e}"


def _call(job):
    fn, task = job
    if "error" in _state:
        raise RuntimeError(f"a worker could not start: {_state['error']}")
    return fn(_state, task)


class Pool:
    def __init__(self, build, args=(), workers=0, backend="local"):
        n = self.workers = workers or os.cpu_count()
        self.local = n == 1 and backend == "local"
        if self.local:                                     # errors raise here, as they are
            _state.clear()
            _state.update(build(*args))
            self.pool = None
            return
        old = os.environ.get("OPENBLAS_NUM_THREADS")
        os.environ["OPENBLAS_NUM_THREADS"] = "1"           # read by NumPy in each new worker
        try:
            if backend == "ray":
                from ray.util.multiprocessing import Pool as RayPool
                self.pool = RayPool(processes=n, initializer=_start, initargs=(build, args))
            elif backend == "local":
                ctx = multiprocessing.get_context("spawn")
                self.pool = ctx.Pool(n, initializer=_start, initargs=(build, args))
            else:
                raise ValueError(f"evolve.backend={backend!r}: choose local or ray")
        finally:
            if old is None:
                os.environ.pop("OPENBLAS_NUM_THREADS")
            else:
                os.environ["OPENBLAS_NUM_THREADS"] = old

    def map(self, fn, tasks):
        jobs = [(fn, t) for t in tasks]
        return list(map(_call, jobs)) if self.local else self.pool.map(_call, jobs, chunksize=1)

    def imap(self, fn, tasks, ordered=True):
        jobs = [(fn, t) for t in tasks]
        if self.local:
            return map(_call, jobs)
        return (self.pool.imap if ordered else self.pool.imap_unordered)(_call, jobs, chunksize=1)

    def close(self, wait=False):
        """Stop the workers: terminate at once (an interrupted or failed run), or with wait=True
        let them exit in order (a finished run; TakeCover also closes on terminate)."""
        if self.local:
            for value in _state.values():
                getattr(value, "close", lambda: None)()
            _state.clear()
        elif wait:
            self.pool.close()
            self.pool.join()
        else:
            self.pool.terminate()
            self.pool.join()
