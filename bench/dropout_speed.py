"""M's training step with and without Dropout's Dream Land's dropout (issue 30: within 10%).

    python bench/dropout_speed.py                          # Doom's M (H=512), batch 20 x T=100
    python bench/dropout_speed.py --batch 100 --seq 500    # the paper's Doom size (slow)
    OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 python bench/dropout_speed.py --clock cpu

A and B alternate step by step in one process (same weights, same batch), so a load that comes
and goes on a shared machine hits both alike; B also draws its mask every step, as train_rnn
does. Prints the median seconds per step of each, and the median over rounds of B / A within a
round (robust to a load that changes between rounds). On a crowded machine wall-clock times
scatter widely; --clock cpu counts this process's CPU seconds instead (with one BLAS thread, so
spinning BLAS workers add nothing): the work a step costs, whoever else holds the cores.
"""
import argparse
import time

import numpy as np
from core import synthetic_m_batch  # bench/core.py: the same synthetic inputs

from minwm import mdnrnn
from minwm.kernels import dropout_keep
from minwm.optim import Adam, clip_grad_value


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--batch", type=int, default=20)
    ap.add_argument("--seq", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--rate", type=float, default=0.05, help="B's dropout (DDL trained M at 0.05)")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    args = ap.parse_args()
    cfg = mdnrnn.MDNRNNConfig(nz=64, na=1, hidden=512, restart=True, done=True)
    rng = np.random.default_rng(0)
    p = mdnrnn.init_params(cfg, rng)
    opt = Adam(p.values(), lr=1e-3)
    z, a, restart, done = synthetic_m_batch(cfg, args.seq, args.batch, rng)

    clock = time.perf_counter if args.clock == "wall" else time.process_time

    def step(rate):
        t = clock()
        keep = dropout_keep(rng, (args.batch, cfg.nz + cfg.hidden), rate) if rate else None
        opt.zero_grad()
        mdnrnn.loss(p, cfg, z, a, restart, done, keep=keep)[0].backward()
        clip_grad_value(p.values(), 1.0)
        opt.step()
        return clock() - t

    step(0.0), step(args.rate)                                # warm-up: Numba, allocator
    times = {0.0: [], args.rate: []}
    for i in range(args.rounds):
        for rate in ((0.0, args.rate) if i % 2 == 0 else (args.rate, 0.0)):   # ABBA: no order bias
            times[rate].append(step(rate))
    a_s, b_s = np.median(times[0.0]), np.median(times[args.rate])
    ratios = np.array(times[args.rate]) / np.array(times[0.0])     # paired within each round
    print(f"Doom M, batch {args.batch} x T={args.seq}, {args.rounds} rounds alternated, {args.clock} clock:")
    print(f"  A dropout 0:    {a_s * 1e3:7.1f} ms/step ({args.batch * args.seq / a_s:,.0f} timesteps/s)")
    print(f"  B dropout {args.rate}: {b_s * 1e3:7.1f} ms/step ({args.batch * args.seq / b_s:,.0f} timesteps/s)")
    print(f"  B / A = {b_s / a_s:.3f} (medians); median of per-round B / A = {np.median(ratios):.3f} "
          f"(quartiles {np.percentile(ratios, 25):.3f} .. {np.percentile(ratios, 75):.3f})")


if __name__ == "__main__":
    main()
