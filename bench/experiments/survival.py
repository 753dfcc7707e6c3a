"""python bench/experiments/survival.py RUN_DIR [CONTROLLER|-] [TAU]: share of episodes still alive after
t steps in the dream (512 rollouts of C, seeded) and in the real game (RUN_DIR/evaluate.json)."""
import json
import sys
from pathlib import Path

import numpy as np

from minwm import formats, infer
from minwm.dream import DreamConfig, dream
from minwm.formats import read_controller as load_controller

d = Path(sys.argv[1]); cp = sys.argv[2] if len(sys.argv) > 2 and sys.argv[2] != "-" else d / "controller.npz"
tau = float(sys.argv[3]) if len(sys.argv) > 3 else 1.15
m = infer.load_mdnrnn(d / "mdnrnn.npz"); ccfg, theta, info = load_controller(cp)
series, _ = formats.read_series(d / "series.npz")
rw = dream(m, ccfg, theta, series["init_mu"], series["init_logvar"], DreamConfig(tau=tau, max_steps=2100), np.random.default_rng(0), count=512)
T = [50, 100, 200, 300, 500, 800, 1200, 1600, 2099]
print("survival: share alive after t steps, t =", T)
survival = lambda scores: [round(float((scores > t).mean()), 2) for t in T]   # scores = steps survived
print(f"dream tau {tau}: {rw.mean():.1f} +- {rw.std():.1f}  survival", survival(rw))
ej = d / "evaluate.json"
if ej.exists():
    s = np.array([e["score"] for e in json.loads(ej.read_text())["episodes"]])
    print(f"real: {s.mean():.1f} +- {s.std():.1f}  survival", survival(s))
