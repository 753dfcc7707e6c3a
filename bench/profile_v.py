"""Where one training step of V spends its time (issue 26's profile), batch 100, Nz 32.

    python bench/profile_v.py                # 10 steps: the per-op table, then cProfile's top
    PYTHONPATH=OLD python bench/profile_v.py # an older checkout (it steps as that code did)

Each of minwm.ops' conv / deconv forward and backward is wrapped and timed per layer in CPU
seconds of the thread that ran it (time.thread_time): on a shared machine the wall clock mostly
measures the other processes, a thread's CPU time much less so. With the batch split over the
cores (minwm.parallel) a piece's figure is the sum over the parts. Per piece: the minimum and the
median over the steps, in ms, and the minimum's share of the step's CPU time.
"""
import argparse
import collections
import cProfile
import io
import pstats
import threading
import time

import numpy as np

from minwm import autograd, ops, vae
from minwm.optim import Adam

T = collections.defaultdict(float)           # this step's CPU seconds per piece
LOCK = threading.Lock()                      # T[k] += t from two part threads would lose updates


def wrap(name, label):
    fn = getattr(ops, name)

    def timed(*a, **k):
        t = time.thread_time()
        r = fn(*a, **k)
        with LOCK:
            T[f"{name} {label(a)}"] += time.thread_time() - t
        return r
    setattr(ops, name, timed)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--top", type=int, default=0, help="cProfile's top functions (0: none)")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    cfg = vae.VAEConfig(nz=32)
    p = vae.init_params(cfg, rng)
    opt = Adam(p.values(), lr=1e-4)
    x = rng.random((args.batch, 64, 64, 3)).astype(np.float32)
    split = hasattr(vae, "loss_and_grad")

    def step():
        w, c = time.perf_counter(), time.process_time()
        if split:
            vae.loss_and_grad(p, cfg, x, rng)
        else:                                   # an older minwm: one graph for the whole batch
            opt.zero_grad()
            vae.loss(p, cfg, autograd.Tensor(x), rng)[0].backward()
        c1 = time.process_time()
        opt.step()
        T["adam"] += time.process_time() - c1
        T["step (CPU, all threads)"] += time.process_time() - c
        T["step (wall)"] += time.perf_counter() - w
    for name in ("conv2d_forward", "conv_transpose2d_forward"):
        wrap(name, lambda a: f"F={a[1].shape[3]}")
    for name in ("conv2d_backward", "conv_transpose2d_backward"):
        wrap(name, lambda a: f"F={a[0].shape[-1]}")
    step()
    steps = collections.defaultdict(list)
    for _ in range(args.steps):
        T.clear()
        step()
        for k, v in T.items():
            steps[k].append(v)
    total = min(steps["step (CPU, all threads)"])
    ops_cpu = sum(min(v) for k, v in steps.items() if k.startswith(("conv", "adam")))
    print(f"V step, batch {args.batch}, Nz 32, {'split over the cores' if split else 'one graph'}: "
          f"{total * 1e3:.0f} ms CPU (min of {args.steps} steps); per piece min, median (ms), share")
    for k in sorted(steps):
        print(f"  {k:40s} {min(steps[k]) * 1e3:7.1f} {np.median(steps[k]) * 1e3:7.1f}  "
              f"{min(steps[k]) / total:5.1%}")
    print(f"  {'the rest (dense, pointwise, loss, glue)':40s} {(total - ops_cpu) * 1e3:7.1f}")
    if args.top:
        pr = cProfile.Profile()
        pr.enable()
        step()
        pr.disable()
        s = io.StringIO()
        pstats.Stats(pr, stream=s).sort_stats("tottime").print_stats(args.top)
        print("\n".join(line for line in s.getvalue().splitlines()[6:] if line.strip()))


if __name__ == "__main__":
    main()
