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


@njit(cache=True, nogil=True)
def _col2im_kernel(cols, out, s):
    # cols (N, H', W', k, k, C) scatter-added into out (N, H, W, C) in a single pass, where NumPy
    # would need k*k strided passes. Serial: the cores take parts of the batch (minwm.parallel).
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


def _chunks(N, bytes_per_image):
    """Slices of the batch whose im2col columns take about CHUNK_BYTES: each chunk's columns are
    still in the core's cache when its matmul (or col2im) reads them, where the whole batch's
    (up to 78 MB) went out to memory and back. Measured: deconv3's forward 27 -> 19 ms a half-batch."""
    step = max(1, CHUNK_BYTES // bytes_per_image)
    return [slice(s, min(s + step, N)) for s in range(0, N, step)]


CHUNK_BYTES = 2 << 20


@njit(cache=True, nogil=True, error_model="numpy")
def _bias_clip(out, b, lo):
    # out (R, F) = max(out + b, lo) in place, one pass (lo = 0: the fused ReLU; -inf: none). NumPy's
    # broadcast add and maximum took two passes and ~0.9 ms for conv1's 32 frames, a sixth of it.
    for r in range(out.shape[0]):
        for f in range(out.shape[1]):
            out[r, f] = max(out[r, f] + b[f], lo)


@njit(cache=True, nogil=True, error_model="numpy")
def _relu_mask(dout, out):
    d = np.empty_like(dout)                  # dout, out (R, F): dout where out > 0, else 0
    for r in range(dout.shape[0]):
        for f in range(dout.shape[1]):
            d[r, f] = dout[r, f] if out[r, f] > 0 else 0
    return d


def _relu_grad(dout, out):
    """dout (n, H, W, F) through the fused ReLU whose output was out (None: no ReLU)."""
    F = dout.shape[-1]
    return dout if out is None else _relu_mask(dout.reshape(-1, F), out.reshape(-1, F)).reshape(dout.shape)


def conv2d_forward(x, w, b, stride, relu=False):
    """x (N, H, W, C), w (k, k, C, F), b (F,) -> out (N, H', W', F), cache.  out = im2col(x) @ w + b,
    then max(out, 0) if relu (fused: the chunk is still in cache)."""
    N, H, W, C = x.shape
    k, F = w.shape[0], w.shape[3]
    Ho, Wo = (H - k) // stride + 1, (W - k) // stride + 1
    out = np.empty((N, Ho, Wo, F), x.dtype)
    w2 = w.reshape(k * k * C, F)
    for s in _chunks(N, Ho * Wo * k * k * C * x.itemsize):
        o = out[s].reshape(-1, F)                                            # (n*H'*W', F)
        np.matmul(im2col(x[s], k, stride), w2, out=o)
        _bias_clip(o, b, x.dtype.type(0 if relu else -np.inf))
    return out, (x, w, stride, out if relu else None)


def conv2d_backward(dout, cache, need_dx=True):
    """dout (N, H', W', F) -> dx (N, H, W, C) or None, dw (k, k, C, F), db (F,).

    need_dx=False skips the input gradient (the first layer's input is the image, a constant).
    The columns are cut again from x, chunk by chunk, rather than kept from the forward.
    """
    x, w, stride, out = cache
    N, Ho, Wo, F = dout.shape
    k, C = w.shape[0], w.shape[2]
    w2 = w.reshape(k * k * C, F)
    dw, db = np.zeros_like(w2), np.zeros(F, w.dtype)
    dx = np.zeros(x.shape, x.dtype) if need_dx else None
    for s in _chunks(N, Ho * Wo * k * k * C * x.itemsize):
        d = _relu_grad(dout[s], None if out is None else out[s]).reshape(-1, F)  # (n*H'*W', F)
        dw += im2col(x[s], k, stride).T @ d
        db += d.sum(axis=0)
        if need_dx:
            _col2im_kernel((d @ w2.T).reshape(-1, Ho, Wo, k, k, C), dx[s], stride)
    return dx, dw.reshape(w.shape), db


def conv_transpose2d_forward(x, w, b, stride, relu=False):
    """x (N, H, W, C), w (C, k, k, F), b (F,) -> out (N, H', W', F), cache.  out = col2im(x @ w) + b,
    then max(out, 0) if relu."""
    N, H, W, C = x.shape
    k, F = w.shape[1], w.shape[3]
    Ho, Wo = (H - 1) * stride + k, (W - 1) * stride + k
    out = np.zeros((N, Ho, Wo, F), x.dtype)
    w2 = w.reshape(C, k * k * F)
    for s in _chunks(N, H * W * k * k * F * x.itemsize):
        cols = x[s].reshape(-1, C) @ w2                                      # (n*H*W, k*k*F)
        _col2im_kernel(cols.reshape(-1, H, W, k, k, F), out[s], stride)
        _bias_clip(out[s].reshape(-1, F), b, x.dtype.type(0 if relu else -np.inf))
    return out, (x, w, stride, out if relu else None)


def conv_transpose2d_backward(dout, cache, need_dx=True):
    """dout (N, H', W', F) -> dx (N, H, W, C) or None, dw (C, k, k, F), db (F,)."""
    x, w, stride, out = cache
    N, H, W, C = x.shape
    k, F = w.shape[1], w.shape[3]
    w2 = w.reshape(C, k * k * F)
    dw, db = np.zeros_like(w2), np.zeros(F, w.dtype)
    dx = np.empty(x.shape, x.dtype) if need_dx else None
    for s in _chunks(N, H * W * k * k * F * x.itemsize):
        d = _relu_grad(dout[s], None if out is None else out[s])
        dcols = im2col(d, k, stride)                                        # (n*H*W, k*k*F)
        dw += x[s].reshape(-1, C).T @ dcols
        db += d.sum(axis=(0, 1, 2))
        if need_dx:
            np.matmul(dcols, w2.T, out=dx[s].reshape(-1, C))
    return dx, dw.reshape(w.shape), db
