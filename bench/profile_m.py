"""Where one training step of M spends its time (issue 26's profile), at the paper's sizes.

    python bench/profile_m.py                 # CarRacing (H=256, 100 x 999) and Doom (H=512, 100 x 500)
    python bench/profile_m.py --size doom --batch 20 --seq 100     # smaller, quicker

Runs one warm-up step, then one step under cProfile (the functions with the most self time), and
times on their own the pieces a profile cannot separate because they are C calls inside one
Python function: the step-by-step h @ wh of the forward and dgates @ wh.T of the backward (T
each, at (N, H) x (H, 4H)), and the big GEMMs over all timesteps (head forward and backward, dwh).
Uses only minwm's public API, so the same script profiles an older checkout (PYTHONPATH).
"""
import argparse
import cProfile
import io
import pstats
import time

import numpy as np
from core import synthetic_m_batch  # bench/core.py: the same synthetic inputs

from minwm import mdnrnn
from minwm.optim import Adam, clip_grad_value

SIZES = {"carracing": (dict(nz=32, na=3, hidden=256), 999),
         "doom": (dict(nz=64, na=1, hidden=512, restart=True, done=True), 500)}


def timed(fn, reps=1):
    fn()
    t = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t) / reps


def profile(size, batch, seq, top):
    kw, T = SIZES[size]
    cfg, T, N = mdnrnn.MDNRNNConfig(**kw), seq or T, batch
    rng = np.random.default_rng(0)
    p = mdnrnn.init_params(cfg, rng)
    opt = Adam(p.values(), lr=1e-3)
    z, a, restart, done = synthetic_m_batch(cfg, T, N, rng)
    parts = {}

    def step():
        t0 = time.perf_counter()
        opt.zero_grad()
        loss, _, _ = mdnrnn.loss(p, cfg, z, a, restart, done)
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        clip_grad_value(p.values(), 1.0)
        opt.step()
        parts.update(forward=t1 - t0, backward=t2 - t1, clip_adam=time.perf_counter() - t2)

    step()                                                   # warm-up: Numba, allocator
    pr = cProfile.Profile()
    t = time.perf_counter()
    pr.enable()
    step()
    pr.disable()
    total = time.perf_counter() - t
    print(f"== {size}: H={cfg.hidden}, batch {N} x T={T}: one step {total:.2f} s "
          f"({N * T / total:,.0f} timesteps/s under cProfile)")
    print("   " + ", ".join(f"{k} {v:.2f} s" for k, v in parts.items()))
    s = io.StringIO()
    pstats.Stats(pr, stream=s).sort_stats("tottime").print_stats(top)
    print("\n".join(line for line in s.getvalue().splitlines()[6:] if line.strip()))

    H, f32 = cfg.hidden, np.float32
    h, wh = rng.standard_normal((N, H)).astype(f32), p["lstm.wh"].data
    g, hw, dh = np.empty((N, 4 * H), f32), rng.standard_normal((N, 4 * H)).astype(f32), np.empty((N, H), f32)
    hs = rng.standard_normal((T * N, H)).astype(f32)
    dy = rng.standard_normal((T * N, cfg.n_out)).astype(f32)
    dg = rng.standard_normal((T * N, 4 * H)).astype(f32)
    w = p["mdn.w"].data
    pieces = {"step-by-step h @ wh (forward, T calls)": T * timed(lambda: np.matmul(h, wh, out=g), 20),
              "step-by-step dgates @ wh.T (backward, T calls)": T * timed(lambda: np.matmul(hw, wh.T, out=dh), 20),
              "head forward hs @ w (all t)": timed(lambda: hs @ w),
              "head backward dy @ w.T and hs.T @ dy": timed(lambda: (dy @ w.T, hs.T @ dy)),
              "dwh = h_prev.T @ dgates (all t)": timed(lambda: hs.T @ dg)}
    print("   on their own:")
    for k, v in pieces.items():
        print(f"   {k:48s} {v:6.2f} s  {v / total:5.1%} of the step")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--size", default="carracing,doom")
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--seq", type=int, default=0, help="sequence length (0: the paper's)")
    ap.add_argument("--top", type=int, default=12, help="functions listed")
    args = ap.parse_args()
    for size in args.size.split(","):
        profile(size, args.batch, args.seq, args.top)


if __name__ == "__main__":
    main()
