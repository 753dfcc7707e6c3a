# bash bench/experiments/r0big-round1.sh   (from the repository root, after r0big.sh)
source "${BASH_SOURCE%/*}/round.sh"
# r0big/iter1/: one round of section 5 on top of r0big/ (the paper's data scale). The rounds after
# round 0's 1,500 rollouts added 300 each (17% of the data); here 2,000 rollouts of r0big's C (seeds
# 4,100,000+) join the 10,000 random ones (17%), M +5 epochs from r0big's M on all 12,000 (an epoch
# is now 6x longer than a small round's), C +40 generations from r0big's C. Resumable: run it again.
minwm iterate doom --run-dir r0big iterate.iterations=1 iterate.rollouts=2000 iterate.rnn_epochs=5 iterate.generations=40 || exit 1
val r0big/iter1
OPENBLAS_NUM_THREADS=1 python $B/deaths.py r0big/iter1 r0big/iter1/deaths.npz 3000000 20 > $L/deaths/r0big-iter1.log
