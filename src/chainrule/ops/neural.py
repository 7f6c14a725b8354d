"""Primitives for neural networks: fused log-softmax/softmax, erf, linear, binary cross-entropy,
and im2col / col2im, the pair that conv2d and pooling are built from (each is the other's rule).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .elementwise import _xp, exp, log, maximum
from .linalg import matmul
from .primitive import Primitive
from .shape import mT, reshape, sum


def _log_softmax_fwd(a: Any, axis: int) -> Any:
    xp = _xp(a)
    s = a - a.max(axis=axis, keepdims=True)
    return s - xp.log(xp.exp(s).sum(axis=axis, keepdims=True))


def _softmax_fwd(a: Any, axis: int) -> Any:
    xp = _xp(a)
    e = xp.exp(a - a.max(axis=axis, keepdims=True))
    e /= e.sum(axis=axis, keepdims=True)
    return e


log_softmax = Primitive(
    "LogSoftmax",
    _log_softmax_fwd,
    [lambda g, ans, a, axis: g - exp(ans) * sum(g, (axis,), True)],
    ["d log_softmax(a)_i/da_j = [i = j] - softmax(a)_j"],
)
softmax = Primitive(
    "Softmax",
    _softmax_fwd,
    [lambda g, ans, a, axis: ans * (g - sum(g * ans, (axis,), True))],
    ["d softmax(a)_i/da_j = s_i ([i = j] - s_j)"],
)


def _erf_fwd(a: Any) -> Any:
    xp = _xp(a)
    if xp is not np:  # CuPy ships erf in cupyx.scipy.special
        from cupyx.scipy.special import erf as cupy_erf  # type: ignore[import-not-found]

        return cupy_erf(a)
    try:
        from scipy.special import erf as scipy_erf
    except ImportError:  # exact but slower: the C library's erf, element by element
        return np.frompyfunc(math.erf, 1, 1)(a).astype(a.dtype)
    return scipy_erf(a).astype(a.dtype, copy=False)


_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
erf = Primitive(
    "Erf",
    _erf_fwd,
    [lambda g, ans, a: g * (_TWO_OVER_SQRT_PI * exp(-(a * a)))],
    ["d erf(a)/da = 2/sqrt(pi) e^(-a^2)"],
)


def _linear_fwd(x: Any, w: Any, b: Any = None) -> Any:
    out = x @ w.T
    if b is not None:
        out += b
    return out


def _linear_grad_w(g: Any, ans: Any, x: Any, w: Any, b: Any = None) -> Any:
    if x.ndim == 1:
        return reshape(g, (g.shape[0], 1)) * x
    g2 = reshape(g, (-1, g.shape[-1])) if g.ndim > 2 else g
    x2 = reshape(x, (-1, x.shape[-1])) if x.ndim > 2 else x
    return matmul(mT(g2), x2)


linear = Primitive(
    "Linear",
    _linear_fwd,
    [
        lambda g, ans, x, w, b=None: matmul(g, w),
        _linear_grad_w,
        lambda g, ans, x, w, b=None: g,
    ],
    ["d(x W^T + b)/dx = G W", "d(x W^T + b)/dW = G^T x", "d(x W^T + b)/db = 1 (summed over rows)"],
)


def _bce_fwd(x: Any, t: Any) -> Any:
    xp = _xp(x)
    return -(t * xp.maximum(xp.log(x), -100) + (1 - t) * xp.maximum(xp.log1p(-x), -100))


bce = Primitive(  # PyTorch's binary_cross_entropy: logs clamped at -100, the same gradients
    "BinaryCrossEntropy",
    _bce_fwd,
    [
        lambda g, ans, x, t: g * (x - t) / maximum(x * (1 - x), 1e-12),
        lambda g, ans, x, t: g * (maximum(log(1 - x), -100) - maximum(log(x), -100)),
    ],
    ["d bce/dx = (x - t) / (x (1 - x))", "d bce/dt = ln(1 - x) - ln(x)"],
)


# ----- im2col / col2im -----------------------------------------------------------------------
def conv_output_size(size: int, k: int, s: int, lo: int, hi: int, d: int) -> int:
    """Output length of a sliding window: ``(size + lo + hi - d (k - 1) - 1) // s + 1``.

    Example:
        >>> conv_output_size(28, 3, 1, 0, 0, 1)
        26
    """
    return (size + lo + hi - d * (k - 1) - 1) // s + 1


def _im2col_fwd(
    x: Any, kernel: tuple, stride: tuple, pads: tuple, dilation: tuple, value: float
) -> Any:
    xp = _xp(x)
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    ph0, ph1, pw0, pw1 = pads
    if any(pads):
        x = xp.pad(x, ((0, 0), (0, 0), (ph0, ph1), (pw0, pw1)), constant_values=value)
    n, c, h, w = x.shape
    oh = (h - dh * (kh - 1) - 1) // sh + 1
    ow = (w - dw * (kw - 1) - 1) // sw + 1
    sn, sc, sy, sx = x.strides
    windows = xp.lib.stride_tricks.as_strided(
        x, (n, oh, ow, c, kh, kw), (sn, sy * sh, sx * sw, sc, sy * dh, sx * dw), writeable=False
    )
    return windows.reshape(n * oh * ow, c * kh * kw)  # the one copy


def _col2im_fwd(
    g: Any, shape: tuple, kernel: tuple, stride: tuple, pads: tuple, dilation: tuple
) -> Any:
    xp = _xp(g)
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    ph0, ph1, pw0, pw1 = pads
    n, c, h, w = shape
    hp, wp = h + ph0 + ph1, w + pw0 + pw1
    oh = (hp - dh * (kh - 1) - 1) // sh + 1
    ow = (wp - dw * (kw - 1) - 1) // sw + 1
    g6 = g.reshape(n, oh, ow, c, kh, kw).transpose(0, 3, 4, 5, 1, 2)  # (n, c, kh, kw, oh, ow)
    out = xp.zeros((n, c, hp, wp), dtype=g.dtype)
    for i in range(kh):  # a loop over kernel positions only: each is one strided add
        for j in range(kw):
            out[:, :, i * dh : i * dh + sh * oh : sh, j * dw : j * dw + sw * ow : sw] += g6[
                :, :, i, j
            ]
    return out[:, :, ph0 : ph0 + h, pw0 : pw0 + w]


im2col = Primitive(
    "Im2col",
    _im2col_fwd,
    [
        lambda g, ans, x, kernel, stride, pads, dilation, value: col2im(
            g, x.shape, kernel, stride, pads, dilation
        )
    ],
    ["d im2col(x)/dx: each window's gradient is added back where the window read (col2im)"],
)
col2im = Primitive(
    "Col2im",
    _col2im_fwd,
    [
        lambda g, ans, cols, shape, kernel, stride, pads, dilation: im2col(
            g, kernel, stride, pads, dilation, 0.0
        )
    ],
    ["d col2im(c)/dc: read the windows back out (im2col)"],
)
