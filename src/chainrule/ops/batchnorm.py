"""Batch normalization with batch statistics as one primitive, its backward in closed form.

``batch_norm_train(x, weight, bias, mean, invstd, eps)`` is ``(x - mean) * invstd * weight +
bias`` per channel (dimension 1), where ``mean`` and ``invstd = 1 / sqrt(var + eps)`` are the
batch statistics of ``x`` itself, computed once by :func:`batch_stats` (the caller needs them
for the running statistics too) and handed in as plain arrays. The rules differentiate
through the statistics: with ``xhat = (x - mean) invstd`` and ``m`` values per channel,

    dx = weight invstd (g - sum(g)/m - xhat sum(g xhat)/m),  dweight = sum(g xhat),
    dbias = sum(g).

On arrays (a plain backward) each rule is a few fused NumPy passes; on tensors
(``create_graph=True``) the same formulas are written with primitives, the statistics
recomputed from ``x``, so higher derivatives are exact.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..tensor import Tensor
from . import jit
from .elementwise import _xp, sqrt
from .primitive import Primitive, Tracer, tangent_sum
from .shape import reshape
from .shape import sum as sum_


def _axes(ndim: int) -> tuple:
    return (0,) + tuple(range(2, ndim))


def _col(v: Any, ndim: int) -> Any:
    """A per-channel vector shaped to broadcast against (N, C, ...)."""
    return v.reshape((1, -1) + (1,) * (ndim - 2))


def _to_last(a: Any) -> Any:
    """The (N, ..., C) view of an (N, C, ...) array: ``moveaxis(a, 1, -1)`` without NumPy's
    axis normalization, which cost more than the BatchNorm kernels it feeds."""
    return a.transpose((0,) + tuple(range(2, a.ndim)) + (1,))


def _gemv_sum(a: Any) -> Any:
    """Per-sample, per-channel sums ``(N, C)`` of an (N, C, ...) array as one matrix-vector
    product with a vector of ones (several times faster than a reduction over strided axes),
    when its memory is channels-last or channels-first contiguous; else ``None``."""
    xp = _xp(a)
    n, c = a.shape[:2]
    m = a.size // (n * c) if n * c else 0
    last = _to_last(a)
    if last.flags.c_contiguous:  # channels-last (a convolution's output)
        return xp.ones(m, dtype=a.dtype) @ last.reshape(n, m, c)
    if a.flags.c_contiguous:
        return a.reshape(n, c, m) @ xp.ones(m, dtype=a.dtype)
    return None


def _channel_sum(a: Any, b: Any = None) -> Any:
    """Per-channel ``sum(a)`` (or ``sum(a b)``) of (N, C, ...) arrays, summed per sample first
    so float32 keeps its accuracy: a product with ones on contiguous memory, else einsum (fast
    over strided axes, no temporary)."""
    if a.ndim == 2 or isinstance(a, Tracer) or isinstance(b, Tracer):  # tracers: primitives
        return (a if b is None else a * b).sum(axis=_axes(a.ndim))
    xp = _xp(a)
    if a.size and a.dtype.kind == "f" and (b is None or b.dtype == a.dtype):
        per = _gemv_sum(a if b is None else a * b)  # the product keeps the operands' layout
        if per is not None:
            return per.sum(axis=0)
    idx = list(range(a.ndim))
    per = xp.einsum(a, idx, [0, 1]) if b is None else xp.einsum(a, idx, b, idx, [0, 1])
    return per.sum(axis=0)


def _rows(a: Any) -> Any:
    """The (pixels, channels) rows of an (N, C, ...) NumPy array whose memory is channels-last
    (a convolution's output; any (N, C) matrix), else ``None``: what the fused kernels of
    :mod:`chainrule.ops.jit` loop over."""
    if type(a) is not np.ndarray or a.ndim < 2:
        return None
    last = _to_last(a)
    return last.reshape(-1, a.shape[1]) if last.flags.c_contiguous else None


def _kernel(name: str, *arrays: Any) -> tuple:
    """The compiled kernel ``name`` and the rows of ``arrays`` if all are channels-last
    float32 NumPy arrays (and Numba is there), else ``(None, None)``."""
    rows = [_rows(a) for a in arrays]
    if any(r is None for r in rows):
        return None, None
    return jit.kernel(name, *rows), rows


def _unrows(rows: Any, like: Any) -> Any:
    """Rows (P, C) back to the (N, C, ...) shape of ``like`` (a view: channels-last memory)."""
    nd = like.ndim
    shape = (like.shape[0],) + like.shape[2:] + (like.shape[1],)
    return rows.reshape(shape).transpose((0, nd - 1) + tuple(range(1, nd - 1)))


def batch_stats(x: Any, eps: float) -> tuple[Any, Any, Any]:
    """``(mean, var, invstd)`` per channel of the array ``x`` (N, C, ...): the biased variance
    by two passes (no cancellation), ``invstd = 1 / sqrt(var + eps)``; all in ``x.dtype``.

    Example:
        >>> import numpy as np
        >>> m, v, s = batch_stats(np.array([[1.0], [3.0]]), 0.0)
        >>> m, v, s
        (array([2.]), array([1.]), array([1.]))
    """
    while getattr(x, "primal", None) is not None:  # a dual number: the statistics of its value
        x = x.primal  # (the rules differentiate through them, recomputed from x)
    xp = _xp(x)
    n = x.size // x.shape[1]
    k, rows = _kernel("bn_stats", x)
    if k is not None and n:
        mean, sq = k(rows[0])
        invstd = 1.0 / np.sqrt(sq / n + eps)
        return mean.astype(x.dtype), (sq / n).astype(x.dtype), invstd.astype(x.dtype)
    mean = _channel_sum(x) / n
    d = x - _col(mean, x.ndim)
    if isinstance(d, Tracer):
        var = _channel_sum(d, d) / n
    else:  # squared in place: one temporary
        d *= d
        var = _channel_sum(d) / n
    invstd = 1.0 / xp.sqrt(var + eps)
    return mean.astype(x.dtype, copy=False), var.astype(x.dtype), invstd.astype(x.dtype)


def _bn_fwd(x: Any, weight: Any, bias: Any, mean: Any, invstd: Any, eps: float) -> Any:
    scale = invstd if weight is None else invstd * weight
    shift = -mean * scale
    if bias is not None:
        shift = shift + bias
    k, rows = _kernel("bn_affine", x)
    if k is not None:
        out = np.empty_like(rows[0])
        a, b = scale.astype(x.dtype, copy=False), shift.astype(x.dtype, copy=False)
        return _unrows(k(rows[0], a, b, out), x)
    out = x * _col(scale.astype(x.dtype, copy=False), x.ndim)
    out += _col(shift.astype(x.dtype, copy=False), x.ndim)
    return out


def _sums(g: Any, x: Any) -> tuple[Any, Any]:
    """Per channel ``sum(g)`` and ``sum(g x)``: one fused pass, or one pass each."""
    k, rows = _kernel("bn_sums", g, x)
    if k is not None:
        sg, sgx = k(*rows)
        return sg.astype(g.dtype), sgx.astype(g.dtype)
    return _channel_sum(g), _channel_sum(g, x)


def _composed(g: Any, x: Any, weight: Any, eps: float) -> tuple:
    """The statistics and ``xhat`` recomputed from ``x`` with primitives (differentiable)."""
    axes = _axes(x.ndim)
    m = math.prod(x.shape) // x.shape[1]
    mean = sum_(x, axes, True) / m
    d = x - mean
    inv = 1.0 / sqrt(sum_(d * d, axes, True) / m + eps)
    return axes, m, d * inv, inv


def _composing(*args: Any) -> bool:
    """Whether the rules must be written with primitives: a tensor (``create_graph``) or a
    transform's value (a dual number, a batch) among ``args``."""
    return any(isinstance(a, (Tensor, Tracer)) for a in args)


def _bn_x(g: Any, ans: Any, x: Any, weight: Any, bias: Any, mean: Any, invstd: Any, eps: float):
    if _composing(g, x, weight):
        axes, m, xhat, inv = _composed(g, x, weight, eps)
        gw = g if weight is None else g * reshape(weight, (1, -1) + (1,) * (x.ndim - 2))
        mg = sum_(gw, axes, True) / m
        mgx = sum_(gw * xhat, axes, True) / m
        return inv * (gw - mg - xhat * mgx)
    m = x.size // x.shape[1]
    sg, sgx = _sums(g, x)
    dw = invstd * (sgx - mean * sg)  # sum(g xhat)
    a = invstd if weight is None else invstd * weight
    b = -a * invstd * dw / m
    c = -a * sg / m - b * mean
    k, rows = _kernel("bn_backward", g, x)
    if k is not None:
        out = np.empty_like(rows[0])
        coef = (v.astype(g.dtype, copy=False) for v in (a, b, c))
        return _unrows(k(rows[0], rows[1], *coef, out), g)
    dx = g * _col(a, g.ndim)
    dx += x * _col(b, g.ndim)
    dx += _col(c, g.ndim)
    return dx


def _bn_w(g: Any, ans: Any, x: Any, weight: Any, bias: Any, mean: Any, invstd: Any, eps: float):
    if _composing(g, x):
        axes, _, xhat, _ = _composed(g, x, weight, eps)
        return sum_(g * xhat, axes, False)
    sg, sgx = _sums(g, x)
    return invstd * (sgx - mean * sg)


def _bn_b(g: Any, ans: Any, x: Any, weight: Any, bias: Any, mean: Any, invstd: Any, eps: float):
    if _composing(g):
        return sum_(g, _axes(g.ndim), False)
    return _channel_sum(g)


def _bn_jvp(ts: list, ans: Any, x: Any, weight: Any, bias: Any, mean: Any, invstd: Any, eps: float):
    # the Jacobian in x (through the statistics) is symmetric, so its jvp is the reverse rule
    # on the tangent; the statistics' own tangents are in it already
    def xhat() -> Any:
        if _composing(x):
            return _composed(None, x, weight, eps)[2]
        return (x - _col(mean, x.ndim)) * _col(invstd, x.ndim)

    return tangent_sum(
        ans,
        ts,
        lambda t: _bn_x(t, ans, x, weight, bias, mean, invstd, eps),
        lambda t: reshape(t, (1, -1) + (1,) * (x.ndim - 2)) * xhat(),
        lambda t: reshape(t, (1, -1) + (1,) * (x.ndim - 2)),
    )


batch_norm_train = Primitive(
    "BatchNorm",
    _bn_fwd,
    [_bn_x, _bn_w, _bn_b],
    [
        "d bn(x)/dx = w invstd (g - mean(g) - xhat mean(g xhat)) (through the batch statistics)",
        "d bn(x)/dw = sum(g xhat)",
        "d bn(x)/db = sum(g)",
    ],
    jvp=_bn_jvp,
)
