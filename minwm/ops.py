"""Convolution and transposed convolution: pure NumPy forward/backward pairs.

Layout, stated once for all of minwm: images are NHWC (batch, height, width, channels), the
layout the original TensorFlow code used. With NHWC the im2col matrix multiplies the weight
directly and the product is already the NHWC output, so no transposes sit on the hot path.

    conv2d            x (N, H, W, C)    w (k, k, C, F)    -> (N, H', W', F)   H' = (H - k) // s + 1
    conv_transpose2d  x (N, H, W, C)    w (C, k, k, F)    -> (N, H', W', F)   H' = (H - 1) * s + k

No padding anywhere, as in the paper's ConvVAE (appendix A.1). The transposed conv ("deconv")
is the adjoint of the conv: with w_t = w.transpose(3, 0, 1, 2), conv_transpose2d(y, w_t) is the
gradient of <conv2d(x, w), y> with respect to x, and the backward passes use that symmetry:

    conv2d:           out = im2col(x) @ w           dx = col2im(dout @ w.T)
    conv_transpose2d: out = col2im(x @ w)           dx = im2col(dout) @ w.T

Each forward returns (out, cache); each backward takes (dout, cache) and returns the gradients.
"""
import numpy as np
from numba import njit


def im2col(x, k, s):
    """x (N, H, W, C) -> cols (N * H' * W', k * k * C), rows ordered (n, i, j), columns (di, dj, c).

    A strided view puts every k x k patch side by side without copying; the reshape makes the one
    copy the matmul needs.
    """
    N, H, W, C = x.shape
    Ho, Wo = (H - k) // s + 1, (W - k) // s + 1
    sN, sH, sW, sC = x.strides
    patches = np.lib.stride_tricks.as_strided(
        x, (N, Ho, Wo, k, k, C), (sN, s * sH, s * sW, sH, sW, sC), writeable=False)
    return patches.reshape(N * Ho * Wo, k * k * C)  # (N*H'*W', k*k*C)


@njit(cache=True)
def _col2im_kernel(cols, out, s):
    # cols (N, H', W', k, k, C) scatter-added into out (N, H, W, C) in a single pass, where NumPy
    # would need k*k strided passes. Serial on purpose: a Numba thread pool next to OpenBLAS's
    # spinning worker threads made the whole VAE step ~30% slower (bench/core.py).
    N, Ho, Wo, k, _, C = cols.shape
    for n in range(N):
        for i in range(Ho):
            for j in range(Wo):
                for di in range(k):
                    for dj in range(k):
                        row = out[n, i * s + di, j * s + dj]
                        src = cols[n, i, j, di, dj]
                        for c in range(C):
                            row[c] += src[c]


def _col2im(cols, x_shape, k, s):
    """cols (N * H' * W', k * k * C) -> (N, H, W, C): the adjoint of im2col (overlaps add up)."""
    N, H, W, C = x_shape
    Ho, Wo = (H - k) // s + 1, (W - k) // s + 1
    out = np.zeros(x_shape, dtype=cols.dtype)
    _col2im_kernel(cols.reshape(N, Ho, Wo, k, k, C), out, s)
    return out


def conv2d_forward(x, w, b, stride):
    """x (N, H, W, C), w (k, k, C, F), b (F,) -> out (N, H', W', F), cache.  out = im2col(x) @ w + b"""
    N, H, W, C = x.shape
    k, F = w.shape[0], w.shape[3]
    Ho, Wo = (H - k) // stride + 1, (W - k) // stride + 1
    cols = im2col(x, k, stride)                              # (N*H'*W', k*k*C)
    out = cols @ w.reshape(k * k * C, F)                      # (N*H'*W', F)
    out += b
    return out.reshape(N, Ho, Wo, F), (x.shape, cols, w, stride)


def conv2d_backward(dout, cache, need_dx=True):
    """dout (N, H', W', F) -> dx (N, H, W, C) or None, dw (k, k, C, F), db (F,).

    need_dx=False skips the input gradient (the first layer's input is the image, a constant).
    """
    x_shape, cols, w, stride = cache
    k, C, F = w.shape[0], w.shape[2], w.shape[3]
    dout = dout.reshape(-1, F)                                # (N*H'*W', F)
    dw = (cols.T @ dout).reshape(w.shape)
    db = dout.sum(axis=0)
    dx = _col2im(dout @ w.reshape(k * k * C, F).T, x_shape, k, stride) if need_dx else None
    return dx, dw, db


def conv_transpose2d_forward(x, w, b, stride):
    """x (N, H, W, C), w (C, k, k, F), b (F,) -> out (N, H', W', F), cache.  out = col2im(x @ w) + b"""
    N, H, W, C = x.shape
    k, F = w.shape[1], w.shape[3]
    Ho, Wo = (H - 1) * stride + k, (W - 1) * stride + k
    cols = x.reshape(N * H * W, C) @ w.reshape(C, k * k * F)  # (N*H*W, k*k*F)
    out = _col2im(cols, (N, Ho, Wo, F), k, stride)            # (N, H', W', F)
    out += b
    return out, (x, w, stride)


def conv_transpose2d_backward(dout, cache, need_dx=True):
    """dout (N, H', W', F) -> dx (N, H, W, C) or None, dw (C, k, k, F), db (F,)."""
    x, w, stride = cache
    C, k, F = w.shape[0], w.shape[1], w.shape[3]
    dcols = im2col(dout, k, stride)                          # (N*H*W, k*k*F)
    x2 = x.reshape(-1, C)                                     # (N*H*W, C)
    dw = (x2.T @ dcols).reshape(w.shape)
    db = dout.sum(axis=(0, 1, 2))
    dx = (dcols @ w.reshape(C, k * k * F).T).reshape(x.shape) if need_dx else None
    return dx, dw, db
