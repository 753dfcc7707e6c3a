source "${BASH_SOURCE%/*}/../round.sh"
# wallsonly/: does more weight on the wall data teach M that a late turn is safe? walls2/'s M +3 epochs on
# the 1,200 wall-exploring rollouts alone (walls/ and walls2/'s), then the shipped C's turns made 0 or 30
# steps late in its dream (links: vae.npz -> round 0's V, controller.npz -> the shipped C)
mkdir -p wallsonly && ln -sf $R/vae.npz /work/main/minwm/weights/doom/controller.npz wallsonly/
sed 's/"run_dir": "walls2"/"run_dir": "wallsonly"/' walls2/config.json > wallsonly/config.json
python $E/oversample.py walls2/series.npz wallsonly/series.npz 3000 1 0
minwm train-rnn doom --run-dir wallsonly rnn.init=walls2/mdnrnn.npz rnn.epochs=3 rnn.checkpoint_every=20 rnn.val_share=0.05
python $E/deaths.py wallsonly --delay 0,30 2000000 0     # log: deaths/delay-wallsonly-m.log
