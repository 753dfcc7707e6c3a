# Shared by the experiments' scripts (source it): one round of section 5 with exploring rollouts,
# and the evaluation on the held-out seeds. Run from the repository's root with minwm installed;
# the runs live in runs/exp/, beside the main run R (runs/doom-default, made by the README's commands);
# logs that the scripts write go to L (results/doom-default/experiments).
set -x
ROOT=$PWD
R=$ROOT/runs/doom-default
B=$ROOT/bench/experiments
L=$ROOT/results/doom-default/experiments
W=$ROOT/minwm/weights/doom
mkdir -p runs/exp && cd runs/exp || exit 1

# val DIR: DIR's C over seeds 2,000,000+ -> DIR/evaluate-val.{json,png}. evaluate writes evaluate.{json,png},
# so those of the standard seeds, if DIR has them already, are set aside meanwhile and put back
val() {
    local f rc
    for f in json png; do [ ! -e $1/evaluate.$f ] || mv $1/evaluate.$f $1/evaluate-std.$f; done
    minwm evaluate doom --run-dir $1 evaluate.seed=2000000; rc=$?
    for f in json png; do
        [ $rc -ne 0 ] || mv $1/evaluate.$f $1/evaluate-val.$f
        [ ! -e $1/evaluate-std.$f ] || mv $1/evaluate-std.$f $1/evaluate.$f
    done
    return $rc
}

# round DIR WEIGHTS N MODE FIRST SERIES INIT: N rollouts of the agent in WEIGHTS exploring (explore.py MODE,
# seeds FIRST+) added to DIR/rollouts, only they encoded (the rest reused from SERIES), M +10 epochs from
# INIT/mdnrnn.npz, C +40 generations from INIT/controller.npz, then scored on both seed sets
round() {
    local dir=$1 weights=$2 n=$3 mode=$4 first=$5 series=$6 init=$7
    OPENBLAS_NUM_THREADS=1 python $B/explore.py $weights $dir/rollouts $n $mode $first || exit 1
    [ -e $dir/series.npz ] || cp $series $dir/series.npz   # encode reuses the run's own series (same V)
    minwm encode doom --run-dir $dir || exit 1
    minwm train-rnn doom --run-dir $dir rnn.init=$init/mdnrnn.npz rnn.epochs=10 rnn.checkpoint_every=20 || exit 1
    minwm evolve doom --run-dir $dir evolve.generations=40 evolve.init=$init/controller.npz || exit 1
    val $dir
    minwm evaluate doom --run-dir $dir
}
