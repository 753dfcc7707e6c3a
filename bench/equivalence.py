"""Same weights as an older minwm after seeded training steps of M and V (issue 26's equivalence
check).

    python bench/equivalence.py --old OLD_CHECKOUT                     # N 16 x T 40, 20 steps
    python bench/equivalence.py --old OLD_CHECKOUT --batch 100 --seq 500 --steps 5 --size doom
    python bench/equivalence.py --old OLD_CHECKOUT --batch 100 --size vae       # V, Nz 32

OLD_CHECKOUT is a folder holding an older `minwm` package (e.g. `git archive <commit> minwm`
unpacked there). Both versions run the same seeded Adam steps, each in its own process:
CarRacing's M (H=256) and Doom's M (H=512, done head, restart mask, loss mask and carried
state, rnn.carry_state), with fresh windows each step. Prints per weight array
max |new - old| / max |old| (the check: below 1e-3), and the share of elements off by more
than 1e-3 relative (Adam turns last-bit differences of near-zero gradients into +-lr steps, so
a few such elements appear with any change of summation order, even a different thread count).

V in float32 cannot pass this check against any other summation order: Adam's first steps move
every weight by +-lr whatever its gradient's size, so last-bit differences flip the steps of
near-zero gradients and the runs drift apart; today's code differs from itself between 1 and 2
BLAS threads by up to 0.3 of max|old| (the biases, which start at zero) after 20 steps. --dtype
float64 runs V's steps in float64, where rounding cannot flip them: the check that the
arithmetic is the same.
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np


def train_vae(batch, steps, out, dtype):
    """V's seeded steps (in its own process, as train)."""
    from minwm import vae
    from minwm.autograd import Tensor
    from minwm.optim import Adam
    cfg = vae.VAEConfig(nz=32)
    rng = np.random.default_rng(0)
    p = vae.init_params(cfg, rng, dtype)
    opt = Adam(p.values(), lr=1e-4)
    for _ in range(steps):
        x = rng.random((batch, 64, 64, 3)).astype(dtype)
        if hasattr(vae, "loss_and_grad"):
            vae.loss_and_grad(p, cfg, x, rng)
        else:
            opt.zero_grad()
            vae.loss(p, cfg, Tensor(x), rng)[0].backward()
        opt.step()
    np.savez(out, **{k: t.data for k, t in p.items()})


def train(size, batch, seq, steps, out, dtype="float32"):
    """Runs in its own process, with the minwm on PYTHONPATH: the seeded steps, weights to out."""
    if size == "vae":
        return train_vae(batch, steps, out, dtype)
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
        if hasattr(mdnrnn, "loss_and_grad"):                        # as its train_rnn steps
            mdnrnn.loss_and_grad(p, cfg, z, a, restart, done, mask, carry)
        else:
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
    ap.add_argument("--size", default="carracing,doom,vae")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq", type=int, default=40)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--dtype", default="float32", help="V's precision (float64: see above)")
    ap.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)      # size, output file
    args = ap.parse_args()
    if args.worker:
        return train(args.worker[0], args.batch, args.seq, args.steps, args.worker[1], args.dtype)
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
                                "--steps", str(args.steps), "--dtype", args.dtype], env=dict(os.environ, PYTHONPATH=root),
                               check=True)
            old, new = np.load(files["old"]), np.load(files["new"])
            print(f"{size}: batch {args.batch}{'' if size == 'vae' else f' x T={args.seq}'}, "
                  f"{args.steps} Adam steps")
            for k in old.files:
                d = np.abs(new[k].astype(np.float64) - old[k])
                rel = d.max() / np.abs(old[k]).max()
                worst = max(worst, rel)
                print(f"  {k:16s} max|new - old| / max|old| {rel:.1e}   "
                      f"elements off by > 1e-3 relative: {np.mean(d > 1e-3 * np.abs(old[k])):.1e}")
    print(f"worst {worst:.1e}: {'PASS' if worst < 1e-3 else 'FAIL'} (limit 1e-3)")
    return 0 if worst < 1e-3 else 1


if __name__ == "__main__":
    sys.exit(main())
