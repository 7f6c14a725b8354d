"""Reduction primitives beyond ``sum``: ``amax``/``amin`` (ties share the gradient), ``prod``
(exact at zeros), the Euclidean ``norm2`` (gradient 0 at the origin, as torch), the running
sum ``cumsum`` and the running product ``cumprod`` (exact at zeros)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..tensor import Tensor
from .elementwise import _xp, where
from .index import getitem
from .primitive import Primitive, Tracer, no_tangent
from .shape import cat, expand, flip, keepdims_shape, permute, reshape, sum


def _extreme_rule(g: Any, ans: Any, a: Any, axis: tuple | None, keepdims: bool) -> Any:
    kshape = keepdims_shape(a.shape, axis)
    if not keepdims:
        g = reshape(g, kshape)
        ans = reshape(ans, kshape)
    mask = a == ans
    count = sum(mask, axis, True)
    return expand(g / count, a.shape) * mask


def _extreme_jvp(ts: list, ans: Any, a: Any, axis: tuple | None, keepdims: bool) -> Any:
    if ts[0] is None:
        return None
    mask = a == (ans if keepdims else reshape(ans, keepdims_shape(a.shape, axis)))
    return sum(ts[0] * mask, axis, keepdims) / sum(mask, axis, keepdims)  # ties share


amax = Primitive(
    "Amax",
    lambda a, axis, keepdims: a.max(axis=axis, keepdims=keepdims),
    [_extreme_rule],
    ["d max(a)/da_i = 1 where a_i is the max (shared among ties), else 0"],
    jvp=_extreme_jvp,
)
amin = Primitive(
    "Amin",
    lambda a, axis, keepdims: a.min(axis=axis, keepdims=keepdims),
    [_extreme_rule],
    ["d min(a)/da_i = 1 where a_i is the min (shared among ties), else 0"],
    jvp=_extreme_jvp,
)


def _cumsum_fwd(a: Any, axis: int) -> Any:
    out = a.cumsum(axis=axis)
    return out if a.dtype.kind == "f" else out.astype("int64")


cumsum = Primitive(
    "Cumsum",
    _cumsum_fwd,
    [lambda g, ans, a, axis: flip(cumsum(flip(g, axis), axis), axis)],
    ["d cumsum(a)_j/da_i = 1 for j >= i: the gradient summed from the end"],
    jvp="linear",
)


def _cumprod_fwd(a: Any, axis: int) -> Any:
    out = _xp(a).cumprod(a, axis=axis)
    return out if a.dtype.kind in "fc" else out.astype("int64")


def _revcumsum(g: Any, axis: int) -> Any:
    return flip(cumsum(flip(g, axis), axis), axis)


def _cumprod_rule(g: Any, ans: Any, a: Any, axis: int) -> Any:
    """``dL/da_i = sum_{j >= i} g_j prod_{k <= j, k != i} a_k``, without dividing by zero.

    Along each slice, with ``z`` the first zero: for ``i < z`` it is
    ``revcumsum(g * ans)_i / a_i`` (``a_i != 0`` there, and ``ans_j = 0`` from ``z`` on); for
    ``i = z`` it is ``sum_{j >= z} g_j cumprod(a with a_z := 1)_j``; for ``i > z`` it is 0 (every
    product still holds ``a_z = 0``). A slice without zeros is the first case throughout.
    """
    data = a._data if isinstance(a, Tensor) else a
    xp = _xp(data)
    zero = data == 0
    if not zero.any():
        return _revcumsum(g * ans, axis) / a
    if isinstance(a, Tensor):  # create_graph: a form whose own derivatives are exact at zeros
        return _cumprod_rule_pairwise(g, a, axis)
    n = data.shape[axis]
    pos = xp.arange(n).reshape((1,) * axis + (n,) + (1,) * (data.ndim - axis - 1))
    first = xp.where(
        zero.any(axis=axis, keepdims=True), xp.argmax(zero, axis=axis, keepdims=True), n
    )
    before, at = pos < first, pos == first
    part_before = where(before, _revcumsum(g * ans, axis) / where(before, a, 1), 0)
    after_zero = cumprod(where(at, 1, a), axis) * (pos >= first)
    part_at = where(at, sum(g * after_zero, (axis,), True), 0)
    return part_before + part_at


def _cumprod_rule_pairwise(g: Any, a: Any, axis: int) -> Any:
    """The same gradient as a sum over pairs, ``E_i sum_{j >= i} g_j prod_{i < k <= j} a_k`` with
    ``E_i = prod_{k < i} a_k``: O(n^2) per slice, but a polynomial in ``a`` without masks that
    depend on where the zeros are, so differentiating it again is exact there too (the cheap
    form is 0 for ``i`` after a zero, but its derivative along that zero is not)."""
    nd = a.ndim
    perm = tuple(d for d in range(nd) if d != axis) + (axis,)
    back = tuple(perm.index(d) for d in range(nd))
    x, gl = permute(a, perm), permute(g, perm)
    n = x.shape[-1]
    xp = _xp(a._data)
    lead = x.shape[:-1]
    i, k = xp.arange(n)[:, None], xp.arange(n)[None, :]
    rows = expand(reshape(x, lead + (1, n)), lead + (n, n))  # rows[..., i, k] = a_k
    span = cumprod(where(k > i, rows, 1), nd)  # span[..., i, j] = prod_{i < k <= j} a_k
    gj = expand(reshape(gl, lead + (1, n)), lead + (n, n))
    inner = sum(where(k >= i, gj * span, 0), (nd,), False)
    ones = xp.ones(lead + (1,), dtype=a._data.dtype)
    excl = cumprod(cat(ones, getitem(x, (Ellipsis, slice(0, n - 1))), axis=nd - 1), nd - 1)
    return permute(excl * inner, back)


def _cumprod_jvp(ts: list, ans: Any, a: Any, axis: int) -> Any:
    """``d cumprod(a)_j = sum_{i <= j} t_i prod_{k <= j, k != i} a_k``: ``ans * cumsum(t / a)``
    without zeros; else, exactly, ``sum_{i <= j} t_i E_i prod_{i < k <= j} a_k`` over pairs
    (``E_i = prod_{k < i} a_k``), O(n^2) per slice."""
    t = ts[0]
    if t is None:
        return None
    if not isinstance(a, Tracer) and not (a == 0).any():
        return ans * cumsum(t / a, axis)
    nd = a.ndim
    perm = tuple(d for d in range(nd) if d != axis) + (axis,)
    back = tuple(perm.index(d) for d in range(nd))
    x, tl = permute(a, perm), permute(t, perm)
    n = x.shape[-1]
    lead = x.shape[:-1]
    i, k = np.arange(n)[:, None], np.arange(n)[None, :]
    rows = expand(reshape(x, lead + (1, n)), lead + (n, n))  # rows[..., i, k] = a_k
    span = cumprod(where(k > i, rows, 1.0), nd)  # span[..., i, j] = prod_{i < k <= j} a_k
    ones = np.ones(lead + (1,), dtype=a.dtype)
    excl = cumprod(cat(ones, getitem(x, (Ellipsis, slice(0, n - 1))), axis=nd - 1), nd - 1)
    te = reshape(tl * excl, lead + (n, 1))  # t_i E_i
    return permute(sum(where(k >= i, te * span, 0.0), (nd - 1,), False), back)


cumprod = Primitive(
    "Cumprod",
    _cumprod_fwd,
    [_cumprod_rule],
    ["d cumprod(a)_j/da_i = prod_{k <= j, k != i} a_k for j >= i (exact at zeros)"],
    jvp=_cumprod_jvp,
)


def _prod_others_fwd(a: Any, axis: int) -> Any:
    """``out_i = prod_{k != i} a_k`` along ``axis``, by exclusive running products from both
    ends: exact when some ``a_k`` is 0, where ``prod / a_i`` is not."""
    xp = _xp(a)
    n = a.shape[axis]
    if n == 0:
        return a.copy()
    one = xp.ones(a.shape[:axis] + (1,) + a.shape[axis + 1 :], dtype=a.dtype)
    take = [slice(None)] * a.ndim
    take[axis] = slice(0, n - 1)
    left = xp.cumprod(xp.concatenate([one, a[tuple(take)]], axis=axis), axis=axis)
    take[axis] = slice(1, n)
    rest = xp.flip(xp.concatenate([a[tuple(take)], one], axis=axis), axis)
    right = xp.flip(xp.cumprod(rest, axis=axis), axis)
    return left * right


def _prod_others_rule(g: Any, ans: Any, a: Any, axis: int) -> Any:
    data = a._data if isinstance(a, Tensor) else a
    if (data == 0).any():
        raise RuntimeError(
            "prod: the second derivative at an input that contains zeros is not supported"
        )
    # d/da_j sum_i g_i prod_{k != i} a_k = (sum_i g_i ans_i - g_j ans_j) / a_j
    return (sum(g * ans, (axis,), True) - g * ans) / a


def _prod_others_jvp(ts: list, ans: Any, a: Any, axis: int) -> Any:
    if ts[0] is None:
        return None
    if not isinstance(a, Tracer) and (a == 0).any():
        raise RuntimeError(
            "prod: the second derivative at an input that contains zeros is not supported"
        )
    # d prod_{k != i} a_k = ans_i (sum_j t_j / a_j - t_i / a_i)
    r = ts[0] / a
    return ans * (sum(r, (axis,), True) - r)


prod_others = Primitive(
    "ProdOthers",
    _prod_others_fwd,
    [_prod_others_rule],
    ["d prod_{k != i} a_k / da_j = prod_{k != i, j} a_k"],
    jvp=_prod_others_jvp,
)


def _prod_rule(g: Any, ans: Any, a: Any, axis: int, keepdims: bool) -> Any:
    if not keepdims:
        g = reshape(g, keepdims_shape(a.shape, (axis,)))
    return expand(g, a.shape) * prod_others(a, axis)


def _prod_jvp(ts: list, ans: Any, a: Any, axis: int, keepdims: bool) -> Any:
    return None if ts[0] is None else sum(ts[0] * prod_others(a, axis), (axis,), keepdims)


prod = Primitive(
    "Prod",
    lambda a, axis, keepdims: a.prod(axis=axis, keepdims=keepdims),
    [_prod_rule],
    ["d prod(a)/da_i = prod of the others"],
    jvp=_prod_jvp,
)


def _norm2_rule(g: Any, ans: Any, a: Any, axis: tuple | None, keepdims: bool) -> Any:
    kshape = keepdims_shape(a.shape, axis)
    if not keepdims:
        g = reshape(g, kshape)
        ans = reshape(ans, kshape)
    safe = where(ans == 0, 1, ans)  # the origin: subgradient 0, as torch
    return expand(g, a.shape) * (a / safe)


def _norm2_jvp(ts: list, ans: Any, a: Any, axis: tuple | None, keepdims: bool) -> Any:
    if ts[0] is None:
        return None
    return sum(a * ts[0], axis, keepdims) / where(ans == 0, 1, ans)  # 0 at the origin


norm2 = Primitive(
    "Norm2",
    lambda a, axis, keepdims: _xp(a).sqrt((a * a).sum(axis=axis, keepdims=keepdims)),
    [_norm2_rule],
    ["d ||a||/da = a / ||a|| (0 at a = 0)"],
    jvp=_norm2_jvp,
)


# Indices of the extremes: integers, no gradient. Tensors call NumPy's argmax on their arrays
# directly; these are what argmax becomes on a transform's tracer.
argmax = Primitive("Argmax", lambda a, axis=None: a.argmax(axis=axis), [None], jvp=no_tangent)
argmin = Primitive("Argmin", lambda a, axis=None: a.argmin(axis=axis), [None], jvp=no_tangent)
