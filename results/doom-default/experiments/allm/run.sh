source "${BASH_SOURCE%/*}/../round.sh"
# allm/: M from scratch (not continued from the last round's M) on all 4,200 rollouts (walls2/'s series:
# round 5's 3,000 + the 1,200 wall-exploring ones), 8 epochs, 5% of the windows held out; C from 0 (the
# shipped C's weights on c and h mean nothing to a new M), 40 generations
mkdir -p allm && ln -sf $R/vae.npz $PWD/walls2/series.npz allm/ && ln -sfn $PWD/walls2/rollouts allm/rollouts
sed 's/"run_dir": "walls2"/"run_dir": "allm"/' walls2/config.json > allm/config.json
minwm train-rnn doom --run-dir allm rnn.init= rnn.epochs=8 rnn.checkpoint_every=20 rnn.val_share=0.05
minwm evolve doom --run-dir allm evolve.generations=40 evolve.init=     # run with 80 and stopped after generation 40: the same run
val allm
minwm evaluate doom --run-dir allm
