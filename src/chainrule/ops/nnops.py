"""Fused primitives for neural networks: log-softmax, softmax, erf, linear, binary cross-entropy,
and ``take_along``/``put_along``, the class-index pick of NLL and its adjoint.

Each rule is written with primitives, so every one of them is differentiable again.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .elementwise import _xp, exp, log, maximum, sigmoid
from .linalg import matmul
from .primitive import Primitive, tangent_sum
from .shape import mT, reshape, sum


# ----- softmax family ------------------------------------------------------------------------
def _log_softmax_fwd(a: Any, axis: int) -> Any:
    xp = _xp(a)
    s = a - a.max(axis=axis, keepdims=True)  # shift so that exp never overflows
    s -= xp.log(xp.exp(s).sum(axis=axis, keepdims=True))
    return s


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
    jvp=lambda ts, ans, a, axis: (
        None if ts[0] is None else ts[0] - sum(exp(ans) * ts[0], (axis,), True)
    ),
)
softmax = Primitive(
    "Softmax",
    _softmax_fwd,
    [lambda g, ans, a, axis: ans * (g - sum(g * ans, (axis,), True))],
    ["d softmax(a)_i/da_j = s_i ([i = j] - s_j)"],
    jvp=lambda ts, ans, a, axis: (
        None if ts[0] is None else ans * (ts[0] - sum(ans * ts[0], (axis,), True))
    ),
)


# ----- erf: W. J. Cody's rational Chebyshev approximations (Math. Comp. 23, 1969) ---------------
_A = (3.16112374387056560e00, 1.13864154151050156e02, 3.77485237685302021e02,
      3.20937758913846947e03, 1.85777706184603153e-1)  # fmt: skip
_B = (2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03,
      2.84423683343917062e03)  # fmt: skip
_C = (5.64188496988670089e-1, 8.88314979438837594e00, 6.61191906371416295e01,
      2.98635138197400131e02, 8.81952221241769090e02, 1.71204761263407058e03,
      2.05107837782607147e03, 1.23033935479799725e03, 2.15311535474403846e-8)  # fmt: skip
_D = (1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02,
      1.62138957456669019e03, 3.29079923573345963e03, 4.36261909014324716e03,
      3.43936767414372164e03, 1.23033935480374942e03)  # fmt: skip
_P = (3.05326634961232344e-1, 3.60344899949804439e-1, 1.25781726111229246e-1,
      1.60837851487422766e-2, 6.58749161529837803e-4, 1.63153871373020978e-2)  # fmt: skip
_Q = (2.56852019228982242e00, 1.87295284992346047e00, 5.27905102951428412e-1,
      6.05183413124413191e-2, 2.33520497626869185e-3)  # fmt: skip
_RSQRTPI = 0.56418958354775628695


def _ratio(z: Any, num: tuple, den: tuple, n: int) -> tuple:
    """Cody's Horner form: ``(num[n] z + num[0]) z + ... `` over ``(z + den[0]) z + ...``."""
    xnum, xden = num[-1] * z, z
    for i in range(n):
        xnum = (xnum + num[i]) * z
        xden = (xden + den[i]) * z
    return xnum, xden


def _erfc_scaled_tail(y: Any, xp: Any) -> Any:
    """``erfc(y)`` for ``y > 0.46875``, with ``exp(-y^2)`` split to keep full precision."""
    y = xp.minimum(y, 6.0)  # erfc(6) < 2e-17: beyond it erf is 1 in float64
    small = y <= 4.0
    out = xp.empty_like(y)
    ys = y[small]
    xnum, xden = _ratio(ys, _C, _D, 7)
    out[small] = (xnum + _C[7]) / (xden + _D[7])
    yb = y[~small]
    z = 1.0 / (yb * yb)
    xnum, xden = _ratio(z, _P, _Q, 4)
    out[~small] = (_RSQRTPI - z * (xnum + _P[4]) / (xden + _Q[4])) / yb
    ysq = xp.trunc(y * 16.0) / 16.0
    return xp.exp(-ysq * ysq) * xp.exp(-(y - ysq) * (y + ysq)) * out


def _erf_fwd(a: Any) -> Any:
    if a.ndim == 0:  # the masked assignments below need an array
        return _erf_fwd(a.reshape(1)).reshape(())
    xp = _xp(a)
    x = a.astype(np.float64, copy=False)
    y = xp.abs(x)
    out = x.copy()  # NaN stays NaN
    near = y <= 0.46875
    xs = x[near]
    z = xs * xs
    xnum, xden = _ratio(z, _A, _B, 3)
    out[near] = xs * (xnum + _A[3]) / (xden + _B[3])
    far = y > 0.46875
    xf = x[far]
    out[far] = xp.copysign(1.0 - _erfc_scaled_tail(xp.abs(xf), xp), xf)
    return out.astype(a.dtype, copy=False)


_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
erf = Primitive(
    "Erf",
    _erf_fwd,
    [lambda g, ans, a: g * (exp(-(a * a)) * _TWO_OVER_SQRT_PI)],
    ["d erf(a)/da = 2/sqrt(pi) e^(-a^2)"],
    jvp="elementwise",
)


# ----- linear --------------------------------------------------------------------------------
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


def _linear_jvp(ts: list, ans: Any, x: Any, w: Any, b: Any = None) -> Any:
    return tangent_sum(ans, ts, lambda t: linear(t, w), lambda t: linear(x, t), lambda t: t)


linear = Primitive(
    "Linear",
    _linear_fwd,
    [
        lambda g, ans, x, w, b=None: matmul(g, w),
        _linear_grad_w,
        lambda g, ans, x, w, b=None: g,  # the engine sums it over the rows
    ],
    ["d(x W^T + b)/dx = G W", "d(x W^T + b)/dW = G^T x", "d(x W^T + b)/db = 1 (summed over rows)"],
    jvp=_linear_jvp,
)


# ----- binary cross-entropy ------------------------------------------------------------------
def _bce_fwd(x: Any, t: Any) -> Any:
    xp = _xp(x)
    with np.errstate(divide="ignore"):  # log(0) = -inf is clamped to -100 right away
        return -(t * xp.maximum(xp.log(x), -100) + (1 - t) * xp.maximum(xp.log1p(-x), -100))


bce = Primitive(  # PyTorch's binary_cross_entropy: logs clamped at -100, the same gradients
    "BinaryCrossEntropy",
    _bce_fwd,
    [
        lambda g, ans, x, t: g * (x - t) / maximum(x * (1 - x), 1e-12),
        lambda g, ans, x, t: g * (maximum(log(1 - x), -100) - maximum(log(x), -100)),
    ],
    ["d bce/dx = (x - t) / (x (1 - x))", "d bce/dt = ln(1 - x) - ln(x)"],
    jvp="elementwise",
)


def _log_sigmoid_fwd(a: Any) -> Any:
    xp = _xp(a)
    return xp.minimum(a, 0) - xp.log1p(xp.exp(-xp.abs(a)))  # never overflows


log_sigmoid = Primitive(  # one smooth primitive: its pieces have kinks at 0 that don't cancel
    "LogSigmoid",
    _log_sigmoid_fwd,
    [lambda g, ans, a: g * sigmoid(-a)],
    ["d log(sigma(a))/da = 1 - sigma(a) = sigma(-a)"],
    jvp="elementwise",
)


# ----- one index per position along an axis (NLL's pick) -------------------------------------
def _along(index: Any, axis: int, ndim: int) -> tuple:
    """Fancy-index tuple selecting ``index[..]`` along ``axis`` at every other position."""
    xp = _xp(index)
    shape = index.shape
    key = []
    for d in range(ndim):
        if d == axis:
            key.append(index)
        else:
            k = d if d < axis else d - 1
            n = shape[k]
            key.append(xp.arange(n).reshape((n,) + (1,) * (len(shape) - k - 1)))
    return tuple(key)


def _take_along_fwd(a: Any, axis: int, index: Any) -> Any:
    return a[_along(index, axis, a.ndim)]


def _put_along_fwd(g: Any, shape: tuple, axis: int, index: Any) -> Any:
    out = _xp(g).zeros(shape, dtype=g.dtype)
    out[_along(index, axis, len(shape))] = g  # one index per position: no collisions to add
    return out


take_along = Primitive(
    "TakeAlong",
    _take_along_fwd,
    [lambda g, ans, a, axis, index: put_along(g, a.shape, axis, index)],
    ["d a[.., index, ..]/da = 1 at the picked position (one per row)"],
    jvp="linear",
)
put_along = Primitive(
    "PutAlong",
    _put_along_fwd,
    [lambda g, ans, a, shape, axis, index: take_along(g, axis, index)],
    ["d put_along(a)/da: read the gradient back at the same positions"],
    jvp="linear",
)
