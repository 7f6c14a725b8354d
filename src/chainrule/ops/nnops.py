"""Fused primitives for neural networks: log-softmax, softmax, erf, GELU, linear, layer and RMS
normalization, binary cross-entropy, and ``take_along``/``put_along``, the class-index pick of
NLL and its adjoint.

Each rule is written with primitives, so every one of them is differentiable again.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import jit
from .elementwise import _sigmoid_fwd, _xp, exp, log, maximum, sigmoid, sqrt, tanh
from .linalg import matmul
from .primitive import Primitive, tangent_sum
from .shape import mT, reshape, sum


# ----- softmax family ------------------------------------------------------------------------
# NumPy reduces a short last axis one row at a time (a max over rows of 32 costs several passes
# over the data); these two do it with whole-array operations: the maximum over a transposed
# copy (one long vectorized loop per column), and a GEMV with a vector of ones.
def row_max(a: Any) -> Any:
    """``a.max(axis=-1, keepdims=True)`` (NaN propagates), fast for short rows.

    Example:
        >>> row_max(np.array([[1.0, 5.0, 2.0], [-np.inf, -1.0, 0.5]])).tolist()
        [[5.0], [0.5]]
    """
    n = a.shape[-1] if a.ndim else 0
    if type(a) is not np.ndarray or a.ndim < 2 or not 2 < n <= 128 or a.size == 0:
        return a.max(axis=-1, keepdims=True)
    columns = np.ascontiguousarray(a.reshape(-1, n).T)
    return np.maximum.reduce(columns, axis=0).reshape(*a.shape[:-1], 1)


def row_sum(a: Any) -> Any:
    """``a.sum(axis=-1, keepdims=True)``, as a matrix-vector product with ones.

    Example:
        >>> row_sum(np.array([[1.0, 2.0], [3.0, 4.0]])).tolist()
        [[3.0], [7.0]]
    """
    if type(a) is not np.ndarray or a.ndim < 2 or a.dtype.kind != "f":
        return a.sum(axis=-1, keepdims=True)
    return (a @ np.ones(a.shape[-1], a.dtype))[..., None]


def bias_grad(g: Any, shape: tuple) -> Any:
    """The gradient of a bias of ``shape`` added along the trailing axes of ``g``: ``g`` summed
    over its leading axes, by a GEMV with ones on float arrays of two columns or more (BLAS does
    it ~3x faster, and with more partial sums, than NumPy's reduction down the columns, which
    adds row after row); otherwise ``g`` itself, which the engine sums (``sum_to``). The rules
    pass the bias's shape only, so the node keeps no bias array.

    Example:
        >>> bias_grad(np.ones((2, 3, 4), np.float32), (4,)).tolist()
        [6.0, 6.0, 6.0, 6.0]
    """
    shape = tuple(shape)
    if type(g) is not np.ndarray or g.dtype.kind != "f" or g.ndim <= len(shape):
        return g
    if math.prod(shape) < 2:  # one column: NumPy's sum runs down contiguous memory, pairwise
        return g
    if g.shape[g.ndim - len(shape) :] != shape or g.size == 0:
        return g
    g2 = g.reshape(-1, math.prod(shape))
    return (np.ones(g2.shape[0], g.dtype) @ g2).reshape(shape)


def _last(a: Any, axis: int) -> bool:
    return axis == a.ndim - 1 or axis == -1


def _rows_kernel(name: str, a: Any, *others: Any) -> Any:
    """The Numba kernel ``name`` over the rows of ``a`` (and ``others``, same shape): float32,
    C-contiguous, a last axis to run along; else ``None``."""
    if type(a) is not np.ndarray or a.ndim == 0 or a.size == 0 or not a.flags.c_contiguous:
        return None
    for o in others:
        if type(o) is not np.ndarray or o.shape != a.shape or not o.flags.c_contiguous:
            return None
    return jit.kernel(name, a, *others)


def _log_softmax_fwd(a: Any, axis: int) -> Any:
    xp = _xp(a)
    last = _last(a, axis)
    k = _rows_kernel("log_softmax", a) if last else None
    if k is not None:  # one pass per row
        out = np.empty_like(a)
        k(a.reshape(-1, a.shape[-1]), out.reshape(-1, a.shape[-1]))
        return out
    s = a - (row_max(a) if last else a.max(axis=axis, keepdims=True))  # exp never overflows
    e = xp.exp(s)
    s -= xp.log(row_sum(e) if last else e.sum(axis=axis, keepdims=True))
    return s


def _softmax_fwd(a: Any, axis: int) -> Any:
    xp = _xp(a)
    last = _last(a, axis)
    e = a - (row_max(a) if last else a.max(axis=axis, keepdims=True))
    xp.exp(e, out=e)
    e /= row_sum(e) if last else e.sum(axis=axis, keepdims=True)
    return e


def _log_softmax_grad(g: Any, ans: Any, a: Any, axis: int) -> Any:
    if type(g) is np.ndarray and type(ans) is np.ndarray and _last(ans, axis):
        k = _rows_kernel("log_softmax_grad", ans, g)
        if k is not None:
            out = np.empty_like(ans)
            n = ans.shape[-1]
            k(g.reshape(-1, n), ans.reshape(-1, n), out.reshape(-1, n))
            return out
        out = np.exp(ans)  # in place on arrays, the row sum by a GEMV
        out *= -row_sum(g)
        out += g
        return out
    return g - exp(ans) * sum(g, (axis,), True)


log_softmax = Primitive(
    "LogSoftmax",
    _log_softmax_fwd,
    [_log_softmax_grad],
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


def _erf32(z: Any) -> Any:
    """``erf`` of a float32 array in float32: the rational approximation of
    :data:`chainrule.ops.jit.ERF32_P`/``ERF32_Q`` (absolute error about 1e-7), 24 NumPy passes
    instead of Cody's float64 pieces."""
    xp = _xp(z)
    f = np.float32
    z = xp.clip(z, f(-4.0), f(4.0))
    z2 = z * z
    num = z2 * f(jit.ERF32_P[0])
    for c in jit.ERF32_P[1:-1]:
        num += f(c)
        num *= z2
    num += f(jit.ERF32_P[-1])
    num *= z
    den = z2 * f(jit.ERF32_Q[0])
    for c in jit.ERF32_Q[1:-1]:
        den += f(c)
        den *= z2
    den += f(jit.ERF32_Q[-1])
    num /= den
    return num


def _erf_fwd(a: Any) -> Any:
    if a.ndim == 0:  # the masked assignments below need an array
        return _erf_fwd(a.reshape(1)).reshape(())
    if a.dtype == np.float32:
        return _erf32(a)
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


# ----- GELU ------------------------------------------------------------------------------------
_RSQRT2 = 1.0 / math.sqrt(2.0)
_RSQRT2PI = 1.0 / math.sqrt(2.0 * math.pi)
_GELU_K = math.sqrt(2.0 / math.pi)  # the tanh form: tanh(K (x + 0.044715 x^3))
_GELU_C = 0.044715


def _cdf(a: Any) -> Any:
    """``Phi(a)``, the standard normal CDF, ``(1 + erf(a / sqrt 2)) / 2``, in ``a``'s dtype."""
    e = _erf_fwd(a * a.dtype.type(_RSQRT2))
    e += 1
    e *= 0.5
    return e


def _gelu_fwd(a: Any, approximate: str) -> Any:
    if a.ndim == 0:  # the in-place steps below need an array
        return _gelu_fwd(a.reshape(1), approximate).reshape(())
    if approximate == "tanh":  # x/2 (1 + tanh(K (x + C x^3))), in place: 8 passes
        xp = _xp(a)
        u = a * a
        u *= _GELU_C * _GELU_K
        u += _GELU_K
        u *= a
        xp.tanh(u, out=u)
        u += 1
        u *= a
        u *= 0.5
        return u
    k = jit.kernel("gelu_erf", a)
    if k is not None:
        return k(a)
    out = _cdf(a)
    out *= a
    return out


def _gelu_backward_fwd(dy: Any, a: Any, approximate: str) -> Any:
    """``dy * gelu'(a)``."""
    if a.ndim == 0:
        return _gelu_backward_fwd(dy.reshape(1), a.reshape(1), approximate).reshape(())
    xp = _xp(a)
    if approximate == "tanh":
        # gelu' = (1 + t)/2 + x/2 (1 - t^2) K (1 + 3 C x^2), t = tanh(K (x + C x^3))
        a2 = a * a
        t = a2 * (_GELU_C * _GELU_K)
        t += _GELU_K
        t *= a
        xp.tanh(t, out=t)
        d = t * t
        d -= 1
        a2 *= 3 * _GELU_C * _GELU_K
        a2 += _GELU_K
        a2 *= a
        d *= a2
        d -= t
        d -= 1
        d *= -0.5
        d *= dy
        return d
    k = jit.kernel("gelu_erf_backward", dy, a)
    if k is not None:
        return k(dy, a)  # one pass, no temporaries
    e = a * a
    e *= -0.5
    xp.exp(e, out=e)  # e^(-x^2/2)
    e *= a
    e *= _RSQRT2PI  # x phi(x)
    e += _cdf(a)
    e *= dy
    return e


def _gelu_second(a: Any, approximate: str) -> Any:
    """``gelu''(a)`` with primitives (differentiable again, for any order of derivative)."""
    if approximate == "tanh":
        a2 = a * a
        t = tanh((a + a2 * a * _GELU_C) * _GELU_K)
        du = (a2 * (3 * _GELU_C) + 1) * _GELU_K
        return (1 - t * t) * (du - a * t * du * du + a2 * (3 * _GELU_C * _GELU_K))
    a2 = a * a
    return exp(a2 * -0.5) * _RSQRT2PI * (2 - a2)


gelu = Primitive(
    "Gelu",
    _gelu_fwd,
    [lambda g, ans, a, approximate: gelu_backward(g, a, approximate)],
    ["d gelu(a)/da = Phi(a) + a phi(a) (tanh form: its derivative)"],
    jvp="elementwise",
    recompute=True,  # one fused pass; its rule reads a, not the output
)
gelu_backward = Primitive(  # dy * gelu'(a): one fused pass on arrays, a node on tensors
    "GeluBackward",
    _gelu_backward_fwd,
    [
        lambda g, ans, dy, a, approximate: gelu_backward(g, a, approximate),
        lambda g, ans, dy, a, approximate: g * dy * _gelu_second(a, approximate),
    ],
    ["d (dy gelu'(a))/d dy = gelu'(a)", "d (dy gelu'(a))/da = dy gelu''(a)"],
    jvp="elementwise",
)


# ----- SiLU ----------------------------------------------------------------------------------
# One primitive instead of x * sigmoid(x): the product's node kept x and sigmoid(x), this keeps
# x alone (and, with autograd.recompute, lets the op after it drop the output too: SwiGLU's
# silu(gate) * up). Its backward recomputes sigmoid(x).
def _silu_fwd(a: Any) -> Any:
    k = jit.kernel("silu", a)
    if k is not None:
        return k(a)  # one pass (the NumPy twin below: about ten)
    out = _sigmoid_fwd(a)  # a new array (never overflows)
    out *= a
    return out


def _silu_backward_fwd(dy: Any, a: Any) -> Any:
    """``dy * silu'(a)``, ``silu' = s (1 + a (1 - s))``, ``s = sigmoid(a)``."""
    k = jit.kernel("silu_backward", dy, a)
    if k is not None:
        return k(dy, a)
    s = _sigmoid_fwd(a)
    d = 1 - s
    d *= a
    d += 1
    d *= s
    return dy * d


def _silu_second(a: Any) -> Any:
    """``silu''(a) = s (1 - s) (2 + a (1 - 2 s))`` with primitives (differentiable again)."""
    s = sigmoid(a)
    return s * (1 - s) * (2 + a * (1 - 2 * s))


silu = Primitive(
    "Silu",
    _silu_fwd,
    [lambda g, ans, a: silu_backward(g, a)],
    ["d silu(a)/da = s (1 + a (1 - s)), s = sigmoid(a)"],
    jvp="elementwise",
    recompute=True,  # its rule reads a, not the output
)
silu_backward = Primitive(  # dy * silu'(a): a node on tensors, so any order of derivative works
    "SiluBackward",
    _silu_backward_fwd,
    [
        lambda g, ans, dy, a: silu_backward(g, a),
        lambda g, ans, dy, a: g * dy * _silu_second(a),
    ],
    ["d (dy silu'(a))/d dy = silu'(a)", "d (dy silu'(a))/da = dy silu''(a)"],
    jvp="elementwise",
)


# ----- linear --------------------------------------------------------------------------------
def _linear_fwd(x: Any, w: Any, b: Any = None) -> Any:
    if x.ndim > 2:  # one 2-D GEMM: NumPy runs (B, T, k) @ (k, n) as B small ones, ~1.7x slower
        out = (x.reshape(-1, x.shape[-1]) @ w.T).reshape(*x.shape[:-1], w.shape[0])
    else:
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
        lambda g, ans, x, w, b=None: bias_grad(g, b.shape),  # over the rows
    ],
    ["d(x W^T + b)/dx = G W", "d(x W^T + b)/dW = G^T x", "d(x W^T + b)/db = 1 (summed over rows)"],
    jvp=_linear_jvp,
)


# ----- layer and RMS normalization ----------------------------------------------------------
# Row statistics as a matrix-vector product with a vector of 1/n: BLAS does it ~6x faster than
# NumPy's reduction along a short last axis, and it is a primitive (matmul), so differentiable.
def _norm_count(x: Any, axes: tuple) -> int:
    n = 1
    for ax in axes:
        n *= x.shape[ax]
    return n


def _row_mean(a: Any, axes: tuple) -> Any:
    """The mean of ``a`` over its trailing ``axes``, kept as size-1 dimensions, by a GEMV."""
    n = _norm_count(a, axes)
    lead = a.shape[: a.ndim - len(axes)]
    inv = _xp(a).full(n, 1.0 / max(n, 1), dtype=a.dtype)
    return reshape(matmul(reshape(a, (-1, n)), inv), lead + (1,) * len(axes))


def _ln_kernel(name: str, x: Any, *arrays: Any) -> Any:
    """The Numba layer-norm kernel ``name`` if it runs here: float32 NumPy arrays, ``x``
    C-contiguous with rows to normalize (else ``None``: the NumPy twin runs)."""
    if type(x) is not np.ndarray or x.size == 0 or not x.flags.c_contiguous:
        return None
    return jit.kernel(name, x, *(a for a in arrays if a is not None))


_NONE32 = np.zeros(0, np.float32)  # an absent weight or bias, for the kernels


def _ln_vec(a: Any, n: int) -> Any:
    return _NONE32 if a is None else np.ascontiguousarray(a.reshape(n))


def _layer_norm_fwd(x: Any, w: Any, b: Any, axes: tuple, eps: float) -> Any:
    xp = _xp(x)
    n = _norm_count(x, axes)
    k = _ln_kernel("layer_norm", x, w, b)
    if k is not None:  # one pass per row (statistics in float64), no temporaries
        out = np.empty_like(x)
        k(x.reshape(-1, n), _ln_vec(w, n), _ln_vec(b, n), np.float32(eps), out.reshape(-1, n))
        return out
    x2 = x.reshape(-1, n)
    inv = xp.full(n, 1.0 / max(n, 1), dtype=x.dtype)
    out = x2 - (x2 @ inv)[:, None]
    var = xp.einsum("ij,ij->i", out, out)  # the row sums of squares, without a temporary
    var *= 1.0 / max(n, 1)
    var += eps
    out *= (1 / xp.sqrt(var))[:, None]
    out = out.reshape(x.shape)
    if w is not None:
        out *= w
    if b is not None:
        out += b
    return out


def _normalized(x: Any, axes: tuple, eps: float) -> tuple:
    """``(x_hat, 1/std)`` of a layer norm, with primitives (arrays in: arrays out)."""
    d = x - _row_mean(x, axes)
    rstd = 1 / sqrt(_row_mean(d * d, axes) + eps)
    return d * rstd, rstd


def _layer_norm_grad_x(g: Any, ans: Any, x: Any, w: Any, b: Any, axes: tuple, eps: float) -> Any:
    # dx = rstd (dy - mean(dy) - x_hat mean(dy x_hat)), dy = g w: the means and the mean's own
    # derivative folded in, so no (..., n, n) Jacobian and one pass per term
    if type(g) is np.ndarray and type(x) is np.ndarray:
        return _layer_norm_grad_x_arrays(g, x, w, axes, eps)
    xhat, rstd = _normalized(x, axes, eps)
    dy = g if w is None else g * w
    return (dy - _row_mean(dy, axes) - xhat * _row_mean(dy * xhat, axes)) * rstd


def _x_hat_arrays(x: Any, n: int, eps: float) -> tuple:
    """``(x_hat, 1/std, 1/n vector)`` of ``x`` as ``(rows, n)`` arrays, in place where it can."""
    x2 = x.reshape(-1, n)
    inv = np.full(n, 1.0 / max(n, 1), dtype=x.dtype)
    xhat = x2 - (x2 @ inv)[:, None]
    var = np.einsum("ij,ij->i", xhat, xhat)
    var *= inv[0] if n else 1.0
    var += eps
    rstd = (1 / np.sqrt(var))[:, None]
    xhat *= rstd
    return xhat, rstd, inv


def _layer_norm_grad_x_arrays(g: Any, x: Any, w: Any, axes: tuple, eps: float) -> Any:
    """The same gradient on arrays with two temporaries instead of fourteen (fresh large
    allocations cost page faults, as much as the arithmetic here, and memory at the peak)."""
    n = _norm_count(x, axes)
    k = _ln_kernel("layer_norm_dx", x, g, w)
    if k is not None:
        out = np.empty_like(x)
        k(np.ascontiguousarray(g).reshape(-1, n), x.reshape(-1, n), _ln_vec(w, n), np.float32(eps),
          out.reshape(-1, n))  # fmt: skip
        return out
    xhat, rstd, inv = _x_hat_arrays(x, n, eps)
    g2 = g.reshape(-1, n)
    dy = g2 * w.reshape(n) if w is not None else g2.copy()
    mean_dy = dy @ inv
    mean_dyx = np.einsum("ij,ij->i", dy, xhat)
    mean_dyx *= inv[0] if n else 1.0
    dy -= mean_dy[:, None]
    xhat *= mean_dyx[:, None]
    dy -= xhat
    dy *= rstd
    return dy.reshape(x.shape)


def _layer_norm_grad_w(g: Any, ans: Any, x: Any, w: Any, b: Any, axes: tuple, eps: float) -> Any:
    if type(g) is np.ndarray and type(x) is np.ndarray:  # summed over the rows here
        n = _norm_count(x, axes)
        k = _ln_kernel("layer_norm_dw", x, g)
        if k is not None:
            acc = np.zeros(n)
            k(np.ascontiguousarray(g).reshape(-1, n), x.reshape(-1, n), np.float32(eps), acc)
            return acc.astype(x.dtype).reshape(w.shape)
        xhat = _x_hat_arrays(x, n, eps)[0]
        xhat *= g.reshape(-1, n)
        return xhat.sum(axis=0).reshape(w.shape)  # pairwise: as accurate as PyTorch's sum
    return g * _normalized(x, axes, eps)[0]


def _layer_norm_jvp(ts: list, ans: Any, x: Any, w: Any, b: Any, axes: tuple, eps: float) -> Any:
    # x -> x_hat has a symmetric Jacobian (I - 11^T/n - x_hat x_hat^T/n) / std, so its jvp is
    # the reverse rule (without w) applied to the tangent; then the affine part
    return tangent_sum(
        ans,
        ts,
        lambda t: _times(_layer_norm_grad_x(t, None, x, None, None, axes, eps), w),
        lambda t: t * _normalized(x, axes, eps)[0],
        lambda t: t,
    )


def _times(a: Any, w: Any) -> Any:
    return a if w is None else a * w


layer_norm = Primitive(  # the statistics are recomputed in backward: nothing but x and w kept
    "LayerNorm",
    _layer_norm_fwd,
    [
        _layer_norm_grad_x,
        _layer_norm_grad_w,
        lambda g, ans, x, w, b, axes, eps: bias_grad(g, b.shape),
    ],
    [
        "d ln/dx = (dy - mean(dy) - x_hat mean(dy x_hat)) / std, dy = G w",
        "d ln/dw = G x_hat (summed over the rows)",
        "d ln/db = G (summed over the rows)",
    ],
    jvp=_layer_norm_jvp,
    recompute=True,
)


def _rms_norm_fwd(x: Any, w: Any, axes: tuple, eps: float) -> Any:
    xp = _xp(x)
    n = _norm_count(x, axes)
    x2 = x.reshape(-1, n)
    ms = xp.square(x2) @ xp.full(n, 1.0 / max(n, 1), dtype=x.dtype)
    ms += eps
    out = (x2 * (1 / xp.sqrt(ms))[:, None]).reshape(x.shape)
    if w is not None:
        out *= w
    return out


def _rms_scaled(x: Any, axes: tuple, eps: float) -> tuple:
    """``(x / rms, 1 / rms)`` of an RMS norm, with primitives."""
    r = 1 / sqrt(_row_mean(x * x, axes) + eps)
    return x * r, r


def _rms_norm_grad_x(g: Any, ans: Any, x: Any, w: Any, axes: tuple, eps: float) -> Any:
    xhat, r = _rms_scaled(x, axes, eps)
    dy = g if w is None else g * w
    return (dy - xhat * _row_mean(dy * xhat, axes)) * r


def _rms_norm_jvp(ts: list, ans: Any, x: Any, w: Any, axes: tuple, eps: float) -> Any:
    # the Jacobian of x -> x / rms, (I - x_hat x_hat^T / n) / rms, is symmetric too
    return tangent_sum(
        ans,
        ts,
        lambda t: _times(_rms_norm_grad_x(t, None, x, None, axes, eps), w),
        lambda t: t * _rms_scaled(x, axes, eps)[0],
    )


rms_norm = Primitive(
    "RMSNorm",
    _rms_norm_fwd,
    [_rms_norm_grad_x, lambda g, ans, x, w, axes, eps: g * _rms_scaled(x, axes, eps)[0]],
    [
        "d rms/dx = (dy - x_hat mean(dy x_hat)) / rms, dy = G w",
        "d rms/dw = G x / rms (summed over the rows)",
    ],
    jvp=_rms_norm_jvp,
    recompute=True,
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


def _nll_pick_fwd(logp: Any, index: Any, div: int) -> Any:
    """``-sum_i logp[i, index[i]] / div`` of log-probabilities ``(N, C)``: the NLL of class
    indices (all in range) summed (``div`` 1) or averaged (``div`` N).

    Example:
        >>> float(_nll_pick_fwd(np.log(np.array([[0.5, 0.5], [0.25, 0.75]])), np.array([0, 1]), 2))
        0.490...
    """
    xp = _xp(logp)
    return xp.asarray(logp[xp.arange(index.shape[0]), index].sum() / -div)


nll_pick = Primitive(  # NLL's common case, one node: as take_along, then sum, then / -div
    "NllLoss",
    _nll_pick_fwd,
    [lambda g, ans, logp, index, div: put_along(g / -div, logp.shape, 1, index)],
    ["d(-sum_i logp[i, t_i] / n)/dlogp = -1/n at each row's target t_i, 0 elsewhere"],
    jvp="linear",
)
