set -x
source /tmp/venv/bin/activate
R=/work/runs/doom-default
E=/work/main/results/doom-default/experiments
cd /work/runs/exp
val() { minwm evaluate doom --run-dir $1 evaluate.seed=2000000 && mv $1/evaluate.json $1/evaluate-val.json && mv $1/evaluate.png $1/evaluate-val.png; }
# walls/: round 5's 3,000 rollouts + 600 of the shipped agent with every turn delayed 0-60 steps at random
# (explore.py walls), encoded by round 0's V (reusing iter5's series), M from the shipped M +10 epochs,
# C from the shipped C, 40 generations
OPENBLAS_NUM_THREADS=1 python $E/explore.py /work/main/minwm/weights/doom walls/rollouts 600 walls || exit 1
python -c "
from pathlib import Path
from minwm import config, train_vae
cfg = config.from_json(Path('walls/config.json').read_text())
train_vae.encode(cfg, reuse=Path('$R/iter5/series.npz'))" || exit 1
minwm train-rnn doom --run-dir walls rnn.init=$R/iter3/mdnrnn.npz rnn.epochs=10 rnn.checkpoint_every=20 || exit 1
minwm evolve doom --run-dir walls evolve.generations=40 evolve.init=$R/iter3/controller.npz || exit 1
val walls
minwm evaluate doom --run-dir walls
