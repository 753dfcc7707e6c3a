# bash bench/experiments/r0big.sh   (from the repository root; needs runs/doom-default from the README's `minwm run doom`)
source "${BASH_SOURCE%/*}/round.sh"
# r0big/: round 0 at the paper's data scale: 10,000 random-policy rollouts (round 0's 1,500 linked, 8,500
# more collected: the same policy, seeds continuing), round 0's V, M from scratch for the paper's 20
# epochs (5% of windows held out), C from 0 in its dream: no rounds, no exploration (paper, section 4.1).
# Resumable: run it again. Collect skips the seeds on disk, encode encodes only rollouts its series.npz
# lacks, train-rnn and evolve resume from their checkpoints. Run over two sessions (M stopped after 4.3
# epochs and resumed): results/doom-default/experiments/r0big/progress.log.
mkdir -p r0big/rollouts && ln -sf $R/rollouts/*.npz r0big/rollouts/ && ln -sf $R/vae.npz r0big/
[ -e r0big/config.json ] || cp $L/r0big/config.json r0big/
minwm collect doom --run-dir r0big collect.rollouts=10000 || exit 1     # 835 s; 390 short episodes dropped in all
minwm encode doom --run-dir r0big || exit 1     # 22 min for all 10,000
minwm train-rnn doom --run-dir r0big rnn.epochs=20 rnn.init= rnn.val_share=0.05 rnn.checkpoint_every=20 || exit 1
minwm evolve doom --run-dir r0big evolve.generations=40 evolve.init= || exit 1
val r0big
minwm evaluate doom --run-dir r0big
OPENBLAS_NUM_THREADS=1 python $B/deaths.py r0big r0big/deaths.npz 3000000 20 > $L/deaths/r0big.log   # where it dies
