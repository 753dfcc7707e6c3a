source "${BASH_SOURCE%/*}/../round.sh"     # for val
# v2-fresh: the paper's procedure on v2's V and M: C starts at 0 (not from the shipped C), 40 generations in the dream at tau 1.15
minwm evolve doom --run-dir v2-fresh evolve.generations=40 evolve.init= || exit 1
val v2-fresh
minwm evaluate doom --run-dir v2-fresh
