source "${BASH_SOURCE%/*}/../round.sh"
# walls2/: a second round: walls/'s 3,600 rollouts + 600 of walls/'s agent with every turn delayed 0-60
# steps at random (explore.py walls, seeds 7,100,000+), encoded by round 0's V (reusing walls/'s series),
# M from walls/'s M +10 epochs, C from walls/'s C, 40 generations
round walls2 walls 600 walls 7100000 walls/series.npz walls
