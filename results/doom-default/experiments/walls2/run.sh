set -x
source /tmp/venv/bin/activate
E=/work/main/results/doom-default/experiments
cd /work/runs/exp
val() { minwm evaluate doom --run-dir $1 evaluate.seed=2000000 && mv $1/evaluate.json $1/evaluate-val.json && mv $1/evaluate.png $1/evaluate-val.png; }
# walls2/: a second round: walls/'s 3,600 rollouts + 600 of walls/'s agent with every turn delayed 0-60
# steps at random (explore.py walls, seeds 7,100,000+), encoded by round 0's V (reusing walls/'s series),
# M from walls/'s M +10 epochs, C from walls/'s C, 40 generations
OPENBLAS_NUM_THREADS=1 python $E/explore.py walls walls2/rollouts 600 walls 7100000 || exit 1
python -c "
from pathlib import Path
from minwm import config, train_vae
cfg = config.from_json(Path('walls2/config.json').read_text())
train_vae.encode(cfg, reuse=Path('walls/series.npz'))" || exit 1
minwm train-rnn doom --run-dir walls2 rnn.init=walls/mdnrnn.npz rnn.epochs=10 rnn.checkpoint_every=20 || exit 1
minwm evolve doom --run-dir walls2 evolve.generations=40 evolve.init=walls/controller.npz || exit 1
val walls2
minwm evaluate doom --run-dir walls2
