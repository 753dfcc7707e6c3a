#!/usr/bin/env bash
# levers/: issue 30's levers tried one at a time, each at one fixed budget, from the shipped agent:
#   data  round 0's 1,500 random-policy rollouts (its seeds: the same 473,938 frames) + 600 real
#         episodes of the shipped agent (iterate's round-1 seeds), encoded by the shipped V; built
#         once in $ROOT/data and $ROOT/control/iter1, shared by every variant
#   M     the shipped M + 10 epochs on all of it;  C  the shipped C + 30 generations in the new dream
#   score 200 real games on seeds 5,000,000+ (for choosing; never the reported seeds)
#   measure `minwm measure` on the variant's M and dream with fixed controllers (the shipped C and 7
#         samples around it), which needs no evolved C: does it predict the score?
# The same budget as carry/ (bench/experiments/carry.sh), so carry/ is the stateful variant of control.
# bash bench/experiments/levers.sh NAME [OVERRIDES...]   (from the repository root)
#   levers.sh control                     the control: the preset as it is
#   levers.sh tau100 evolve.tau=1.0       one change: the override(s)
set -euo pipefail
NAME=$1; shift
ROOT=${LEVERS_ROOT:-runs/levers}
DATA=$ROOT/data RUN=$ROOT/$NAME W=minwm/weights/doom

if [ ! -f "$DATA/series.npz" ]; then          # round 0's random-policy data, encoded by the shipped V
    minwm collect doom --run-dir "$DATA"
    cp $W/vae.npz "$DATA"/
    minwm encode doom --run-dir "$DATA"
fi
mkdir -p "$RUN"
for f in vae mdnrnn controller; do [ -e "$RUN/$f.npz" ] || cp $W/$f.npz "$RUN"/; done
[ -e "$RUN/series.npz" ] || ln -s "$(realpath "$DATA/series.npz")" "$RUN/series.npz"
[ -e "$RUN/rollouts" ] || ln -s "$(realpath "$DATA/rollouts")" "$RUN/rollouts"
SHARED=$ROOT/control/iter1                    # the agent's 600 episodes, recorded and encoded once
if [ "$NAME" != control ] && [ -f "$SHARED/series.npz" ] && [ ! -e "$RUN/iter1" ]; then
    mkdir -p "$RUN/iter1/rollouts"
    for f in "$SHARED"/rollouts/*.npz; do ln -s "$(realpath "$f")" "$RUN/iter1/rollouts/"; done
    ln -s "$(realpath "$SHARED/series.npz")" "$RUN/iter1/series.npz"
fi
minwm iterate doom --run-dir "$RUN" iterate.iterations=1 iterate.rollouts=600 iterate.rnn_epochs=10 \
    iterate.generations=30 evaluate.seed=5000000 evaluate.trials=200 "$@"
minwm measure doom --run-dir "$RUN/iter1" measure.controller=$W/controller.npz
