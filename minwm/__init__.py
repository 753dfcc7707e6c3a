"""minwm: a minimal, NumPy-first, fast implementation of World Models (Ha & Schmidhuber, 2018).

Layout (the import graph is a line):
    ops, lstm   pure NumPy forward/backward pairs (conv, deconv, LSTM)
    autograd    Tensor and reverse-mode backward over those ops; Adam
    vae, mdnrnn V and M built on autograd
    controller, kernels, dream   inference: NumPy + Numba, no autograd
"""
__version__ = "0.1.0"
