#!/usr/bin/env bash
# levers/ (the dream's own levers): the shipped V and M unchanged, C from the shipped C + 30
# generations in a dream changed one way (tau, dream dropout, ...), then 200 real games on seeds
# 5,000,000+ (for choosing; never the reported seeds) and `minwm measure` around the shipped C in
# that dream. `gen30` (no override) is the control: the same 30 generations in the shipped dream.
# bash bench/experiments/levers-dream.sh NAME [OVERRIDES...]   (from the repository root)
#   levers-dream.sh gen30                                   the control
#   levers-dream.sh ddrop10 evolve.dream_dropout=0.1        Dropout's Dream Land's dream, M as it is
set -euo pipefail
NAME=$1; shift
RUN=${LEVERS_ROOT:-runs/levers}/$NAME W=minwm/weights/doom
mkdir -p "$RUN"
for f in vae mdnrnn series; do [ -e "$RUN/$f.npz" ] || cp $W/$f.npz "$RUN"/; done
minwm evolve doom --run-dir "$RUN" evolve.init=$W/controller.npz evolve.generations=30 "$@"
minwm evaluate doom --run-dir "$RUN" evaluate.seed=5000000 evaluate.trials=200
minwm measure doom --run-dir "$RUN" measure.controller=$W/controller.npz
