"""Dream throughput for the Doom sizes, against this machine's matmul rate measured in the same run.

    python bench/dream.py            (about a minute)
    python bench/dream.py --quick    (a few seconds; rough figures)

Doom sizes: Z 64, A 1, restart 1 -> D 66; LSTM 512; K 5 -> head 3 * 64 * 5 + 1 = 961; C on
[z, c, h] (1088 parameters, one vector per rollout as in a CMA-ES batch). Per rollout-step:

    FLOPs = 2 (D + H) 4H  +  2 H 961  +  2 * 1088  = 3.35 MFLOP      (LSTM, head, controller)

"ceiling" = B / (time of the step's two matmuls alone at that B): the rate if everything but the
matmuls were free. Rows:
  steady  all B rollouts alive for the whole run (done never fires): the throughput at B
  dream   B rollouts to the end with lengths spread by the done head (finished ones leave the
          batch, so the tail runs at small B): total rollout-steps / wall time
Random weights in the exported layout stand in for a trained M (speed does not depend on them).
Also: where a B = 1024 step spends its time, and the real-environment agent's step in ms
(encode one 64x64 frame with the NumPy V, controller, LSTM step).
"""
import os

for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(var, "2")       # 2 cores: one BLAS thread each, set before NumPy loads

import argparse
import time

import numpy as np

from minwm import controller as C
from minwm import dream as D
from minwm import infer
from minwm.doom import SPEC as DOOM_SPEC
from minwm.kernels import lstm_cell, mdn_sample

NZ, NA, H, K = 64, 1, 512, 5
DOOM = DOOM_SPEC.controller               # C on [z, c, h], no bias: 1088 parameters


def seconds(fn, min_time):
    """Best of 3 mean times of fn() over runs lasting at least min_time each."""
    fn()
    reps, t = 1, 0.0
    while True:
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        t = time.perf_counter() - t0
        if t >= min_time / 3:
            break
        reps *= 2
    best = t / reps
    for _ in range(2):
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        best = min(best, (time.perf_counter() - t0) / reps)
    return best


def models(rng, done_bias):
    arrays = infer.random_mdnrnn_arrays(NZ, NA, H, rng, restart=True, done=True)
    arrays["mdn.w"][:, -1] *= 40.0            # a done logit that moves with the state ...
    arrays["mdn.b"][-1] = done_bias           # ... and crosses 0 now and then (or never)
    return infer.mdnrnn_from_arrays(arrays)


def flops_per_step(m):
    return 2 * (m.d_in + H) * 4 * H + 2 * H * m.w_mdn.shape[1] + 2 * C.n_params(DOOM)


def matmul_ceiling(m, B, rng, min_time):
    xh = rng.standard_normal((B, m.d_in + H), dtype=np.float32)
    gates, y = np.empty((B, 4 * H), np.float32), np.empty((B, m.w_mdn.shape[1]), np.float32)
    t = seconds(lambda: (np.matmul(xh, m.w, out=gates), np.matmul(xh[:, m.d_in:], m.w_mdn, out=y)), min_time)
    return B / t, flops_per_step(m) * B / t / 1e9


def run_dream(m, B, max_steps, rng, min_time):
    """Rollout-steps/s and the mean rollout length of full dreams of B rollouts."""
    thetas = (rng.standard_normal((B, C.n_params(DOOM))) * 0.05).astype(np.float32)
    mu0 = rng.standard_normal((100, NZ)).astype(np.float32)
    logvar0 = np.full((100, NZ), -2.0, np.float32)
    cfg = D.DreamConfig(tau=1.15, max_steps=max_steps)
    D.dream(m, DOOM, thetas[:2], mu0, logvar0, D.DreamConfig(tau=1.15, max_steps=3), rng)     # warm up
    steps, runs, t0 = 0.0, 0, time.perf_counter()
    while time.perf_counter() - t0 < min_time:
        steps += D.dream(m, DOOM, thetas, mu0, logvar0, cfg, np.random.default_rng(runs)).sum()
        runs += 1
    return steps / (time.perf_counter() - t0), steps / (B * runs)


def breakdown(m, B, rng, min_time):
    """Time of each piece of one dream step at B rows, in ms."""
    xh = rng.standard_normal((B, m.d_in + H), dtype=np.float32) * 0.5
    c = rng.standard_normal((B, H), dtype=np.float32)
    gates, y = np.empty((B, 4 * H), np.float32), np.empty((B, m.w_mdn.shape[1]), np.float32)
    np.matmul(xh, m.w, out=gates)
    np.matmul(xh[:, m.d_in:], m.w_mdn, out=y)
    u, eps, done = np.empty((B, NZ), np.float32), np.empty((B, NZ), np.float32), np.empty(B, np.float32)
    theta = (rng.standard_normal((B, C.n_params(DOOM))) * 0.05).astype(np.float32)
    c_work = c.copy()
    parts = {
        "matmul [x,h] @ [wx;wh]": lambda: np.matmul(xh, m.w, out=gates),
        "matmul head": lambda: np.matmul(xh[:, m.d_in:], m.w_mdn, out=y),
        "lstm_cell (Numba)": lambda: (c_work.__setitem__(slice(None), c), lstm_cell(gates, m.b, c_work, xh, m.d_in)),
        "mdn_sample (Numba)": lambda: mdn_sample(y, m.b_mdn, NZ, K, 1.15, u, eps, xh, done),
        "random numbers": lambda: (rng.random(dtype=np.float32, out=u), rng.standard_normal(dtype=np.float32, out=eps)),
        "controller + action": lambda: C.m_action(DOOM, C.act(DOOM, theta, xh[:, :NZ], xh[:, m.d_in:], c)),
    }
    return {name: seconds(fn, min_time / len(parts)) * 1e3 for name, fn in parts.items()}


def agent_ms(m, rng, min_time):
    vae = infer.vae_from_arrays(infer.random_vae_arrays(NZ, rng))
    frame = rng.integers(0, 256, (1, 64, 64, 3), dtype=np.uint8)
    theta = (rng.standard_normal(C.n_params(DOOM)) * 0.05).astype(np.float32)
    h, c = infer.initial_state(m, 1)
    no = np.zeros(1, bool)
    step = seconds(lambda: infer.agent_step(vae, m, DOOM, theta, frame, h, c, no, rng), min_time)
    enc = seconds(lambda: infer.encode(vae, frame), min_time)
    return step * 1e3, enc * 1e3


def main(quick=False):
    rng = np.random.default_rng(0)
    min_time = 0.3 if quick else 2.0
    steady_m, dream_m = models(rng, -1e4), models(rng, -26.0)
    a = rng.standard_normal((2048, 2048), dtype=np.float32)
    gemm = 2 * 2048 ** 3 / seconds(lambda: a @ a, min_time) / 1e9
    print(f"threads: BLAS {os.environ['OPENBLAS_NUM_THREADS']}, Numba kernels serial; "
          f"float32 GEMM 2048^3: {gemm:.0f} GFLOP/s; {flops_per_step(steady_m) / 1e6:.2f} MFLOP per rollout-step")
    print(f"{'B':>5} {'matmul GFLOP/s':>15} {'ceiling':>9} {'steady':>9} {'of ceil':>8} {'dream':>9} {'mean len':>9}")
    for B, steps, full_steps in ((1, 2100, 2100), (64, 600, 2100), (1024, 150, 2100)):
        if quick:
            steps, full_steps = max(steps // 10, 20), 300
        ceiling, rate = matmul_ceiling(steady_m, B, rng, min_time)
        steady, _ = run_dream(steady_m, B, steps, rng, min_time)
        full, mean_len = run_dream(dream_m, B, full_steps, rng, min_time)
        print(f"{B:5d} {rate:15.1f} {ceiling:9.0f} {steady:9.0f} {steady / ceiling:8.0%} {full:9.0f} {mean_len:9.0f}")
    print("one dream step at B = 1024 (ms):")
    for name, ms in breakdown(steady_m, 1024, rng, min_time).items():
        print(f"  {name:26s} {ms:7.2f}")
    step, enc = agent_ms(steady_m, rng, min_time)
    print(f"real-env agent step (Doom sizes, one frame): {step:.2f} ms, of which V encode {enc:.2f} ms")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="short runs, rough figures")
    main(p.parse_args().quick)
