#!/usr/bin/env bash
# levers/gen230: C evolved 200+ generations on the best lever so far, the plain dream (gen30/):
# gen30's CMA-ES resumed from its checkpoint (same dream, tau 1.15, same seeds) to generation 230,
# then 200 real games on seeds 5,000,000+ as every lever; the measure (the shipped C in the plain
# dream) is gen30's, copied: the dream did not change. gen30's checkpoint
# is rebuilt from seeds if the machine lost it. Resumes where it stopped (checkpoint per generation).
# bash bench/experiments/levers-long.sh [NAME [GENERATIONS]]   (from the repository root)
set -euo pipefail
NAME=${1:-gen230} GENS=${2:-230}
ROOT=${LEVERS_ROOT:-runs/levers} W=minwm/weights/doom
FROM=$ROOT/gen30 RUN=$ROOT/$NAME
[ -e "$FROM/evolve.ckpt.pkl" ] || bash bench/experiments/levers-dream.sh gen30
mkdir -p "$RUN"
if [ ! -e "$RUN/evolve.ckpt.pkl" ]; then
  cp "$FROM"/{vae,mdnrnn,series,controller}.npz "$FROM/evolve.jsonl" "$RUN"/
  cp "$FROM/evolve.ckpt.pkl" "$RUN/ckpt.tmp" && mv "$RUN/ckpt.tmp" "$RUN/evolve.ckpt.pkl"  # last, whole
fi
minwm evolve doom --run-dir "$RUN" evolve.init=$W/controller.npz evolve.generations="$GENS"
[ -e "$RUN/evaluate.json" ] || minwm evaluate doom --run-dir "$RUN" evaluate.seed=5000000 evaluate.trials=200
[ -e "$RUN/measure.json" ] || cp "$FROM/measure.json" "$RUN/measure.json"
