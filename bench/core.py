"""Training throughput of the autograd core on the paper's shapes, against this machine's matmul.

    python bench/core.py            # all figures (about two minutes)
    python bench/core.py --quick    # fewer repetitions

Prints, measured in one run:
  - float32 matmul GFLOP/s (the ceiling every figure is compared to);
  - ConvVAE training step (forward + backward + Adam), batch 100, 64x64x3, Nz = 32 and 64, frames/s;
  - V's batched encode (minwm.infer.encode, uint8 frames) at batch 1, 64, 256, as a share of the
    matmul rate;
  - LSTM + mixture-head training step, batch 100, hidden 256 (CarRacing) and 512 (Doom), timesteps/s;
  - each as a fraction of its FLOP bound (FLOPs per frame or timestep / matmul rate);
  - peak resident memory after the VAE steps.
Run it on an otherwise idle machine: a 2-thread benchmark collapses when another process holds a core.
"""
import argparse
import resource
import time

import numpy as np

from minwm import formats, infer, mdnrnn, vae
from minwm.optim import Adam, clip_grad_value


def matmul_gflops(n=2048, reps=10):
    a, b = np.random.rand(n, n).astype(np.float32), np.random.rand(n, n).astype(np.float32)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(reps))
    return 2 * n ** 3 / best / 1e9


def _timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def vae_flops_per_frame(nz):
    """Multiply-adds x 2 of the forward, x 3 for forward + backward (backward = 2 matmuls per
    layer), minus the first conv's input gradient, which is never computed."""
    macs, h, first = 0, 64, None
    for cin, cout, k in formats.ENCODER:
        h = (h - k) // 2 + 1
        macs += h * h * k * k * cin * cout
        first = first or h * h * k * k * cin * cout
    macs += 1024 * 2 * nz + nz * 1024
    h = 1
    for cin, cout, k in formats.DECODER:
        macs += h * h * k * k * cin * cout
        h = (h - 1) * 2 + k
    return 2 * (3 * macs - first)


def encode_flops_per_frame(nz):
    """V's encoder (minwm.infer.encode): the four convs and the mu, logvar dense layers."""
    macs, h = 0, 64
    for cin, cout, k in formats.ENCODER:
        h = (h - k) // 2 + 1
        macs += h * h * k * k * cin * cout
    return 2 * (macs + 1024 * 2 * nz)


def bench_encode(nz, batch, reps):
    """Frames/s of minwm.infer.encode on uint8 frames (as the batched agent encodes them)."""
    rng = np.random.default_rng(0)
    v = infer.vae_from_arrays(infer.random_vae_arrays(nz, rng))
    frames = rng.integers(0, 256, (batch, 64, 64, 3), dtype=np.uint8)
    n = max(1, int(0.3 / _timed(lambda: infer.encode(v, frames))))     # ~0.3 s a timing
    times = [_timed(lambda: [infer.encode(v, frames) for _ in range(n)]) / n for _ in range(reps)]
    return batch / np.median(times)


def bench_vae(nz, steps, batch=100):
    rng = np.random.default_rng(0)
    cfg = vae.VAEConfig(nz=nz)
    p = vae.init_params(cfg, rng)
    opt = Adam(p.values(), lr=1e-4)
    x = rng.random((batch, 64, 64, 3)).astype(np.float32)

    def step():
        vae.loss_and_grad(p, cfg, x, rng)          # as train_vae: the batch split over the cores
        opt.step()
    step()  # warm up (Numba compilation, allocator)
    times = [_timed(step) for _ in range(steps)]
    return batch / np.median(times)


def mdn_flops_per_step(cfg):
    """Per timestep of one sequence: LSTM (D + H) x 4H and head H x n_out multiply-adds, x 2 x 3."""
    return 2 * 3 * ((cfg.n_in + cfg.hidden) * 4 * cfg.hidden + cfg.hidden * cfg.n_out)


def synthetic_m_batch(cfg, T, batch, rng):
    """M's training inputs of the benchmark's shape: z (N, T+1, Z), a (N, T, A), restart and done
    flags (N, T) at Doom's rate of ~1 in 200 (None where M has no such input or head)."""
    z = rng.standard_normal((batch, T + 1, cfg.nz)).astype(np.float32)
    a = rng.uniform(-1, 1, (batch, T, cfg.na)).astype(np.float32)
    restart = (rng.random((batch, T)) < 0.005).astype(np.float32) if cfg.restart else None
    done = (rng.random((batch, T)) < 0.005).astype(np.float32) if cfg.done else None
    return z, a, restart, done


def bench_mdnrnn(cfg, T, steps, batch=100):
    rng = np.random.default_rng(0)
    p = mdnrnn.init_params(cfg, rng)
    opt = Adam(p.values(), lr=1e-3)
    z, a, restart, done = synthetic_m_batch(cfg, T, batch, rng)

    def step():
        mdnrnn.loss_and_grad(p, cfg, z, a, restart, done)   # as train_rnn: split over the cores
        clip_grad_value(p.values(), 1.0)
        opt.step()
    step()
    times = [_timed(step) for _ in range(steps)]
    return batch * T / np.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = ap.parse_args()
    reps = 3 if args.quick else 10
    gflops = matmul_gflops()
    print(f"float32 matmul: {gflops:.1f} GFLOP/s (2048^3, best of 10)")
    for nz in (32, 64):
        fps = bench_vae(nz, reps)
        bound = gflops * 1e9 / vae_flops_per_frame(nz)
        print(f"VAE train step  Nz={nz:2d} batch 100: {fps:7.0f} frames/s   "
              f"FLOP bound {bound:6.0f} frames/s   {fps / bound:5.1%} of bound")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
    print(f"peak resident memory after the VAE steps: {rss:.2f} GiB")
    for batch in (1, 64, 256):
        fps = bench_encode(32, batch, reps)
        rate = fps * encode_flops_per_frame(32) / 1e9
        print(f"V encode Nz=32 batch {batch:3d}: {fps:7.0f} frames/s  {1e3 / fps:.3f} ms/frame  "
              f"{rate:5.1f} GFLOP/s = {rate / gflops:5.1%} of the matmul rate")
    for name, cfg, T in [
            ("CarRacing H=256", mdnrnn.MDNRNNConfig(nz=32, na=3, hidden=256), 999),
            ("Doom      H=512", mdnrnn.MDNRNNConfig(nz=64, na=1, hidden=512, restart=True, done=True), 500)]:
        tps = bench_mdnrnn(cfg, T, max(2, reps // 3))
        bound = gflops * 1e9 / mdn_flops_per_step(cfg)
        print(f"LSTM+MDN step {name} batch 100 x T={T}: {tps:7.0f} timesteps/s   "
              f"FLOP bound {bound:6.0f}   {tps / bound:5.1%} of bound")


if __name__ == "__main__":
    main()
