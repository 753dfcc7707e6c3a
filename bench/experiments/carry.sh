#!/usr/bin/env bash
# carry/: one round of section 5 from the shipped agent, with M trained statefully (rnn.carry_state):
# round 0's 1,500 random-policy rollouts (the same seeds: the same 473,938 frames) + 600 real
# episodes of the shipped agent; M from the shipped M +10 epochs with its LSTM state carried from
# window to window; C from the shipped C, 30 generations in the new dream; both seed sets.
# (The run was started with iterate.generations=40 and stopped in generation 32 for the session's
# time; the kept C is generation 30's CMA mean, which is what generations=30 gives.)
# bash bench/experiments/carry.sh [RUN]   (from the repository root; RUN defaults to runs/carry)
set -euo pipefail
RUN=${1:-runs/carry}
minwm collect doom --run-dir "$RUN"
cp minwm/weights/doom/{vae,mdnrnn,controller}.npz "$RUN"/
minwm encode doom --run-dir "$RUN"
minwm iterate doom --run-dir "$RUN" iterate.iterations=1 iterate.rollouts=600 iterate.rnn_epochs=10 \
    iterate.generations=30 rnn.carry_state=true
mkdir -p "$RUN"/std && cp "$RUN"/iter1/evaluate.json "$RUN"/iter1/evaluate.png "$RUN"/std/
minwm evaluate doom --run-dir "$RUN"/iter1 evaluate.seed=2000000
mv "$RUN"/iter1/evaluate.json "$RUN"/iter1/evaluate-val.json
mv "$RUN"/iter1/evaluate.png "$RUN"/iter1/evaluate-val.png
mv "$RUN"/std/evaluate.json "$RUN"/std/evaluate.png "$RUN"/iter1/
