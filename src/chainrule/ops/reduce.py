"""Reduction primitives beyond ``sum``: ``amax``/``amin`` (ties share the gradient) and the
running sum ``cumsum``."""

from __future__ import annotations

from typing import Any

from .primitive import Primitive
from .shape import expand, flip, keepdims_shape, reshape, sum


def _extreme_rule(g: Any, ans: Any, a: Any, axis: tuple | None, keepdims: bool) -> Any:
    kshape = keepdims_shape(a.shape, axis)
    if not keepdims:
        g = reshape(g, kshape)
        ans = reshape(ans, kshape)
    mask = a == ans
    count = sum(mask, axis, True)
    return expand(g / count, a.shape) * mask


amax = Primitive(
    "Amax",
    lambda a, axis, keepdims: a.max(axis=axis, keepdims=keepdims),
    [_extreme_rule],
    ["d max(a)/da_i = 1 where a_i is the max (shared among ties), else 0"],
)
amin = Primitive(
    "Amin",
    lambda a, axis, keepdims: a.min(axis=axis, keepdims=keepdims),
    [_extreme_rule],
    ["d min(a)/da_i = 1 where a_i is the min (shared among ties), else 0"],
)


def _cumsum_fwd(a: Any, axis: int) -> Any:
    out = a.cumsum(axis=axis)
    return out if a.dtype.kind == "f" else out.astype("int64")


cumsum = Primitive(
    "Cumsum",
    _cumsum_fwd,
    [lambda g, ans, a, axis: flip(cumsum(flip(g, axis), axis), axis)],
    ["d cumsum(a)_j/da_i = 1 for j >= i: the gradient summed from the end"],
)
