"""python bench/experiments/epochs.py LOG.jsonl [STEPS] > LOG-epochs.jsonl: a per-step training log
(train-vae's vae.jsonl, train-rnn's mdnrnn.jsonl) summarised, one line per epoch (or per STEPS steps).

Per line: the epoch (or block) number, its first and last step, the log's time at its last step (the
clock restarts when a run resumes), the mean of each loss over its steps, the last learning rate,
and the held-out losses (val_*) logged at its end. A step logged twice (a resume) counts once, the
later line. The experiments keep these summaries; the full logs are in the git history.
"""
import json
import math
import sys

import numpy as np


def main():
    path, block = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 0
    rows = {}
    with open(path) as f:
        for line in f:
            row = json.loads(line)
            rows[row["step"]] = row                       # a resumed step: the later line
    groups = {}
    for step in sorted(rows):
        row = rows[step]
        key = (step - 1) // block + 1 if block else math.ceil(row["epoch"] - 1e-9)
        groups.setdefault(key, []).append(row)
    for key, group in groups.items():
        out = {"block" if block else "epoch": key, "steps": [group[0]["step"], group[-1]["step"]],
               "time": group[-1]["time"]}
        for name in group[0]:
            if name.endswith("loss") and not name.startswith("val_"):
                out[name] = round(float(np.mean([r[name] for r in group])), 5)
        if "lr" in group[-1]:
            out["lr"] = group[-1]["lr"]
        for name in group[-1]:
            if name.startswith("val_"):
                out[name] = round(group[-1][name], 5)
        print(json.dumps(out))


if __name__ == "__main__":
    main()
