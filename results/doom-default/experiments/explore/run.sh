set -x
source /tmp/venv/bin/activate
R=/work/runs/doom-default
E=/work/main/results/doom-default/experiments
cd /work/runs/exp
val() { minwm evaluate doom --run-dir $1 evaluate.seed=2000000 && mv $1/evaluate.json $1/evaluate-val.json && mv $1/evaluate.png $1/evaluate-val.png; }
# explore/: round 5's 3,000 rollouts + 300 of the shipped agent with exploration (explore.py), encoded
# by round 0's V (reusing iter5's series), M from the shipped M +10 epochs, C from the shipped C, 40 generations
OPENBLAS_NUM_THREADS=1 python $E/explore.py /work/main/minwm/weights/doom explore/rollouts 300 || exit 1
python -c "
from pathlib import Path
from minwm import config, train_vae
cfg = config.from_json(Path('explore/config.json').read_text())
train_vae.encode(cfg, reuse=Path('$R/iter5/series.npz'))" || exit 1
minwm train-rnn doom --run-dir explore rnn.init=$R/iter3/mdnrnn.npz rnn.epochs=10 rnn.checkpoint_every=20 || exit 1
minwm evolve doom --run-dir explore evolve.generations=40 evolve.init=$R/iter3/controller.npz || exit 1
val explore
minwm evaluate doom --run-dir explore
