source "${BASH_SOURCE%/*}/../round.sh"
# explore/: round 5's 3,000 rollouts + 300 of the shipped agent with exploration (explore.py, p = 0.02), encoded
# by round 0's V (reusing iter5's series), M from the shipped M +10 epochs, C from the shipped C, 40 generations
round explore /work/main/minwm/weights/doom 300 0.02 6000000 $R/iter5/series.npz $R/iter3
