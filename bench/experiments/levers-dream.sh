#!/usr/bin/env bash
# levers/ (the dream's own levers): the shipped V and M unchanged, C from the shipped C + 30
# generations in a dream changed one way (tau, dream dropout, ...), then 200 real games on seeds
# 5,000,000+ (for choosing; never the reported seeds) and `minwm measure` around the shipped C in
# that dream. `gen30` (no override) is the control: the same 30 generations in the shipped dream.
# The measure's game side (real episodes of the shipped agent) depends only on V, M and C: it is
# played once in $ROOT/shipped/ (with the shipped C's 200 games on the same seeds) and copied.
# bash bench/experiments/levers-dream.sh NAME [OVERRIDES...]   (from the repository root)
#   levers-dream.sh gen30                                   the control
#   levers-dream.sh ddrop10 evolve.dream_dropout=0.1        Dropout's Dream Land's dream, M as it is
set -euo pipefail
NAME=$1; shift
ROOT=${LEVERS_ROOT:-runs/levers} W=minwm/weights/doom
RUN=$ROOT/$NAME REF=$ROOT/shipped
mkdir -p "$RUN" "$REF"
for f in vae mdnrnn series controller; do [ -e "$REF/$f.npz" ] || cp $W/$f.npz "$REF"/; done
[ -e "$REF/evaluate.json" ] || minwm evaluate doom --run-dir "$REF" evaluate.seed=5000000 evaluate.trials=200
[ -e "$REF/measure.json" ] || minwm measure doom --run-dir "$REF"
for f in vae mdnrnn series; do [ -e "$RUN/$f.npz" ] || cp $W/$f.npz "$RUN"/; done
if [ ! -e "$RUN/measure" ]; then                      # the rollouts hard-linked: they are only read
  mkdir -p "$RUN/measure" && cp -al "$REF/measure/rollouts" "$RUN/measure/"
  cp "$REF/measure/game.jsonl" "$REF/measure/series.npz" "$RUN/measure/"
fi
minwm evolve doom --run-dir "$RUN" evolve.init=$W/controller.npz evolve.generations=30 "$@"
[ -e "$RUN/evaluate.json" ] || minwm evaluate doom --run-dir "$RUN" evaluate.seed=5000000 evaluate.trials=200
[ -e "$RUN/measure.json" ] || minwm measure doom --run-dir "$RUN" measure.controller=$W/controller.npz
