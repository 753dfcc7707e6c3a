"""Same weights as an older minwm after seeded training steps of M (issue 26's equivalence check).

    python bench/equivalence.py --old OLD_CHECKOUT                     # N 16 x T 40, 20 steps
    python bench/equivalence.py --old OLD_CHECKOUT --batch 100 --seq 500 --steps 5 --size doom

OLD_CHECKOUT is a folder holding an older `minwm` package (e.g. `git archive <commit> minwm`
unpacked there). Both versions run the same seeded Adam steps, each in its own process:
CarRacing's M (H=256) and Doom's M (H=512, done head, restart mask, loss mask and carried
state, rnn.carry_state), with fresh windows each step. Prints per weight array
max |new - old| / max |old| (the check: below 1e-3), and the share of elements off by more
than 1e-3 relative (Adam turns last-bit differences of near-zero gradients into +-lr steps, so
a few such elements appear with any change of summation order, even a different thread count).
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np


def train(size, batch, seq, steps, out):
    """Runs in its own process, with the minwm on PYTHONPATH: the seeded steps, weights to out."""
    from minwm import mdnrnn
    from minwm.optim import Adam, clip_grad_value
    doom = size == "doom"
    cfg = (mdnrnn.MDNRNNConfig(nz=64, na=1, hidden=512, restart=True, done=True) if doom
           else mdnrnn.MDNRNNConfig(nz=32, na=3, hidden=256))
    rng = np.random.default_rng(0)
    p = mdnrnn.init_params(cfg, rng)
    opt = Adam(p.values(), lr=1e-3)
    carry = [np.zeros((batch, cfg.hidden), np.float32)] * 2 if doom else None
    for _ in range(steps):
        z = rng.standard_normal((batch, seq + 1, cfg.nz)).astype(np.float32)
        a = rng.uniform(-1, 1, (batch, seq, cfg.na)).astype(np.float32)
        restart, done, mask = ((rng.random((3, batch, seq)) < [[[0.02]], [[0.02]], [[0.97]]])
                               .astype(np.float32) if doom else (None, None, None))
        opt.zero_grad()
        mdnrnn.loss(p, cfg, z, a, restart, done, mask, carry)[0].backward()
        clip_grad_value(p.values(), 1.0)
        opt.step()
    state = {k: t.data for k, t in p.items()}
    if carry:
        state.update({"carry.h": carry[0], "carry.c": carry[1]})
    np.savez(out, **state)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--old", help="folder holding the older minwm package")
    ap.add_argument("--size", default="carracing,doom")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq", type=int, default=40)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)      # size, output file
    args = ap.parse_args()
    if args.worker:
        return train(args.worker[0], args.batch, args.seq, args.steps, args.worker[1])
    if not args.old:
        ap.error("--old is required")
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.size.split(","):
            files = {}
            for name, root in (("old", os.path.abspath(args.old)), ("new", here)):
                files[name] = os.path.join(tmp, f"{name}_{size}.npz")
                subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", size, files[name],
                                "--batch", str(args.batch), "--seq", str(args.seq),
                                "--steps", str(args.steps)], env=dict(os.environ, PYTHONPATH=root),
                               check=True)
            old, new = np.load(files["old"]), np.load(files["new"])
            print(f"{size}: batch {args.batch} x T={args.seq}, {args.steps} Adam steps")
            for k in old.files:
                d = np.abs(new[k].astype(np.float64) - old[k])
                rel = d.max() / np.abs(old[k]).max()
                worst = max(worst, rel)
                print(f"  {k:8s} max|new - old| / max|old| {rel:.1e}   "
                      f"elements off by > 1e-3 relative: {np.mean(d > 1e-3 * np.abs(old[k])):.1e}")
    print(f"worst {worst:.1e}: {'PASS' if worst < 1e-3 else 'FAIL'} (limit 1e-3)")
    return 0 if worst < 1e-3 else 1


if __name__ == "__main__":
    sys.exit(main())
