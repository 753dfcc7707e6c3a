set -x
source /tmp/venv/bin/activate
cd /work/runs/exp
val() { minwm evaluate doom --run-dir $1 evaluate.seed=2000000 && mv $1/evaluate.json $1/evaluate-val.json && mv $1/evaluate.png $1/evaluate-val.png; }
# v2-fresh: the paper's procedure on v2's V and M: C starts at 0 (not from the shipped C), 40 generations in the dream at tau 1.15
minwm evolve doom --run-dir v2-fresh evolve.generations=40 evolve.init= || exit 1
val v2-fresh
minwm evaluate doom --run-dir v2-fresh
