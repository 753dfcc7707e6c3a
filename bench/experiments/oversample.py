"""A series.npz in which the last rollouts count K times: more weight for the exploring data in M's training.

    python bench/experiments/oversample.py SRC/series.npz DST/series.npz FIRST K [J]

Rollouts FIRST, FIRST + 1, ... of SRC (in its `files` order) appear K times in DST, the others J
times (default 1; 0 leaves them out).
Whole rollouts are copied, so every copy starts with its own restart flag and M's windows (which
cut the frames every rnn.seq_len + 1, across rollouts, as in SRC) see them as separate episodes.
"""
import sys

import numpy as np

from minwm import formats


def main():
    src, dst, first, k = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    j = int(sys.argv[5]) if len(sys.argv) > 5 else 1
    s, state = formats.read_series(src)
    ends = np.cumsum(s["lengths"])
    begins = ends - s["lengths"]
    order = np.concatenate([np.arange(first)] * j + [np.arange(first, len(ends))] * k)
    frames = np.concatenate([np.arange(begins[i], ends[i]) for i in order])       # (F',)
    per_frame = ("mu", "logvar", "action", "restart", "done")
    out = {key: s[key][frames] if key in per_frame else s[key][order] for key in s}
    assert out["restart"].sum() == len(order) and len(frames) == out["lengths"].sum()
    formats.save_npz(dst, out, state)
    print(f"{dst}: {len(order)} rollouts ({first} x{j}, {len(ends) - first} x{k}), {len(frames):,} frames")


if __name__ == "__main__":
    main()
