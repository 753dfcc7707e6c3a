"""python bench/experiments/vae_recon.py OLD_V.npz NEW_V.npz HELDOUT_DIR OUT.png: two Vs
on frames neither trained on (heldout.py's 100 real episodes of the shipped C, seeds 5,000,000+).

Prints each V's mean reconstruction error (sum of squared error per frame of the decoded posterior
mean, every 10th frame of every episode) and writes OUT.png: for 5 episodes (rows of three), the
frames 40, 25, 12, 5 and 1 steps before the end (the fireball that kills), then OLD's and NEW's
reconstructions beneath.
"""
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from minwm import infer


def main():
    old, new = infer.load_vae(sys.argv[1]), infer.load_vae(sys.argv[2])
    files = sorted(Path(sys.argv[3], "rollouts").glob("*.npz"))
    err, rows = {"old": [], "new": []}, []
    for j, f in enumerate(files):
        frames = np.load(f)["frames"]
        x = frames[::10].astype(np.float32) / 255                       # (N, 64, 64, 3)
        for name, v in (("old", old), ("new", new)):
            err[name].append(((infer.decode(v, infer.encode(v, x)[0]) - x) ** 2).sum((1, 2, 3)))
        if j % 20 == 0:
            x = frames[[max(0, len(frames) - k) for k in (40, 25, 12, 5, 1)]].astype(np.float32) / 255
            y = [infer.decode(v, infer.encode(v, x)[0]) for v in (old, new)]
            rows.append(np.concatenate([np.concatenate(col, 0) for col in zip(x, *y)], 1))
    n = sum(len(e) for e in err["old"])
    for name in ("old", "new"):
        e = np.concatenate(err[name])
        print(f"{name} V {sys.argv[1 if name == 'old' else 2]}: {n} held-out frames, "
              f"reconstruction error {e.mean():.2f} +- {e.std():.2f} (sum of squares per frame)")
    img = (np.concatenate(rows, 0) * 255).clip(0, 255).astype(np.uint8)
    Image.fromarray(img).save(sys.argv[4])


if __name__ == "__main__":
    main()
