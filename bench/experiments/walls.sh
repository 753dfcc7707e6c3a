# bash bench/experiments/walls.sh NAME   (from the repository root; NAME one of explore walls walls2 wallsonly allm,
# in that order of dependence: walls2 needs walls, wallsonly and allm need walls2; the `round` ones need
# runs/doom-default/iter5, i.e. the README's `minwm iterate` continued to 5 rounds, see the experiments README)
# Rounds of section 5 with exploring rollouts (explore.py), aimed at the error deaths.py --delay found:
# M's dream punishes waiting at a wall, the game rewards it. Each is resumable: run it again.
source "${BASH_SOURCE%/*}/round.sh"
case $1 in
explore)
# explore/: round 5's 3,000 rollouts + 300 of the shipped agent with exploration (explore.py, p = 0.02), encoded
# by round 0's V (reusing iter5's series), M from the shipped M +10 epochs, C from the shipped C, 40 generations
round explore $W 300 0.02 6000000 $R/iter5/series.npz $R/iter3
;;
walls)
# walls/: round 5's 3,000 rollouts + 600 of the shipped agent with every turn delayed 0-60 steps at random
# (explore.py walls), encoded by round 0's V (reusing iter5's series), M from the shipped M +10 epochs,
# C from the shipped C, 40 generations
round walls $W 600 walls 7000000 $R/iter5/series.npz $R/iter3
;;
walls2)
# walls2/: a second round: walls/'s 3,600 rollouts + 600 of walls/'s agent with every turn delayed 0-60
# steps at random (explore.py walls, seeds 7,100,000+), encoded by round 0's V (reusing walls/'s series),
# M from walls/'s M +10 epochs, C from walls/'s C, 40 generations
round walls2 walls 600 walls 7100000 walls/series.npz walls
;;
wallsonly)
# wallsonly/: does more weight on the wall data teach M that a late turn is safe? walls2/'s M +3 epochs on
# the 1,200 wall-exploring rollouts alone (walls/ and walls2/'s), then the shipped C's turns made 0 or 30
# steps late in its dream (links: vae.npz -> round 0's V, controller.npz -> the shipped C)
mkdir -p wallsonly && ln -sf $R/vae.npz $W/controller.npz wallsonly/
sed 's/"run_dir": "walls2"/"run_dir": "wallsonly"/' walls2/config.json > wallsonly/config.json
python $B/oversample.py walls2/series.npz wallsonly/series.npz 3000 1 0
minwm train-rnn doom --run-dir wallsonly rnn.init=walls2/mdnrnn.npz rnn.epochs=3 rnn.checkpoint_every=20 rnn.val_share=0.05
python $B/deaths.py wallsonly --delay 0,30 2000000 0     # log: deaths/delay-wallsonly-m.log
;;
allm)
# allm/: M from scratch (not continued from the last round's M) on all 4,200 rollouts (walls2/'s series:
# round 5's 3,000 + the 1,200 wall-exploring ones), 8 epochs, 5% of the windows held out; C from 0 (the
# shipped C's weights on c and h mean nothing to a new M), 40 generations
mkdir -p allm && ln -sf $R/vae.npz $PWD/walls2/series.npz allm/ && ln -sfn $PWD/walls2/rollouts allm/rollouts
sed 's/"run_dir": "walls2"/"run_dir": "allm"/' walls2/config.json > allm/config.json
minwm train-rnn doom --run-dir allm rnn.init= rnn.epochs=8 rnn.checkpoint_every=20 rnn.val_share=0.05
minwm evolve doom --run-dir allm evolve.generations=40 evolve.init=     # run with 80 and stopped after generation 40: the same run
val allm
minwm evaluate doom --run-dir allm
;;
*) echo "usage: bash bench/experiments/walls.sh explore|walls|walls2|wallsonly|allm"; exit 2;;
esac
