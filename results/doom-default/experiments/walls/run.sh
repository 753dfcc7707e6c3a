source "${BASH_SOURCE%/*}/../round.sh"
# walls/: round 5's 3,000 rollouts + 600 of the shipped agent with every turn delayed 0-60 steps at random
# (explore.py walls), encoded by round 0's V (reusing iter5's series), M from the shipped M +10 epochs,
# C from the shipped C, 40 generations
round walls /work/main/minwm/weights/doom 600 walls 7000000 $R/iter5/series.npz $R/iter3
