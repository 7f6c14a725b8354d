"""Shape primitives (reshape, permute, expand, flip, pad, cat) and ``sum_to``, the unbroadcast."""

from __future__ import annotations

import operator
from typing import Any

from .elementwise import _xp
from .index import getitem
from .primitive import Primitive, per_input, zeros_of


def _dim_index(dim: Any, op: str, name: str) -> int:
    """``dim`` as a Python int: ints, NumPy integers and other ``__index__`` types pass; bools,
    floats, strings... raise TypeError naming the op and the argument, as PyTorch does."""
    if isinstance(dim, bool):
        raise TypeError(f"{op + ': ' if op else ''}argument '{name}' must be int, not bool")
    try:
        return operator.index(dim)
    except TypeError:
        raise TypeError(
            f"{op + ': ' if op else ''}argument '{name}' must be int, not {type(dim).__name__}"
        ) from None


def normalize_dim(dim: int, ndim: int, op: str = "", name: str = "dim") -> int:
    """``dim`` as a non-negative index into ``ndim`` dimensions, with PyTorch's errors: a TypeError
    for a non-integer ``dim`` (a float would otherwise pick some other dim), an IndexError out
    of range. The one place every op that takes a dim checks it.

    Example:
        >>> normalize_dim(-1, 3)
        2
        >>> normalize_dim(0.5, 3, "sum")
        Traceback (most recent call last):
        ...
        TypeError: sum: argument 'dim' must be int, not float
    """
    if type(dim) is not int:
        dim = _dim_index(dim, op, name)
    n = ndim if ndim > 0 else 1
    if not -n <= dim < n:
        raise IndexError(
            f"{op + ': ' if op else ''}Dimension out of range "
            f"(expected to be in range of [{-n}, {n - 1}], but got {dim})"
        )
    return dim + n if dim < 0 else dim


def normalize_dims(dim: Any, ndim: int, op: str = "", name: str = "dim") -> tuple | None:
    """A sorted tuple of non-negative dims (``None`` means all), from an int, a sequence or
    ``None``; a dim given twice (``(0, 0)``, or ``(0, -2)`` in 2-D) is refused (ValueError), as
    in PyTorch.

    Example:
        >>> normalize_dims((0, -1), 3)
        (0, 2)
        >>> normalize_dims((0, -2), 2, "sum")
        Traceback (most recent call last):
        ...
        ValueError: sum: dim 0 appears multiple times in the list of dims
    """
    if dim is None:
        return None
    if isinstance(dim, (list, tuple)):
        if len(dim) == 0:
            return None
        dims = [normalize_dim(d, ndim, op, name) for d in dim]
        unique = set(dims)
        if len(unique) != len(dims):
            twice = next(d for d in dims if dims.count(d) > 1)
            raise ValueError(
                f"{op + ': ' if op else ''}dim {twice} appears multiple times in the list of dims"
            )
        out = tuple(sorted(unique))
    else:
        out = (normalize_dim(dim, ndim, op, name),)
    return out if ndim else None  # a 0-d tensor accepts dim 0 / -1, as in PyTorch: all dims


reshape = Primitive(
    "Reshape",
    lambda a, shape: a.reshape(shape),
    [lambda g, ans, a, shape: reshape(g, a.shape)],
    ["reshape moves each gradient back to its element"],
    jvp="linear",
)


def _inverse(axes: tuple) -> tuple:
    inv = [0] * len(axes)
    for i, ax in enumerate(axes):
        inv[ax] = i
    return tuple(inv)


permute = Primitive(
    "Permute",
    lambda a, axes: a.transpose(axes),
    [lambda g, ans, a, axes: permute(g, _inverse(axes))],
    ["permute sends each gradient back through the inverse permutation"],
    jvp="linear",
)


def mT(a: Any) -> Any:  # noqa: N802 - PyTorch's name
    """Swap the last two dimensions (dual: arrays or tensors).

    Example:
        >>> import numpy as np
        >>> mT(np.zeros((2, 3))).shape
        (3, 2)
    """
    axes = list(range(a.ndim))
    axes[-1], axes[-2] = axes[-2], axes[-1]
    return permute(a, tuple(axes))


def _expand_fwd(a: Any, shape: tuple) -> Any:
    return _xp(a).broadcast_to(a, shape)


expand = Primitive(
    "Expand",
    _expand_fwd,
    [lambda g, ans, a, shape: sum_to(g, a.shape)],
    ["d expand(a)/da: sum the gradient over the broadcast dimensions"],
    jvp="linear",
)


def _sum_fwd(a: Any, axis: tuple | None, keepdims: bool) -> Any:
    return a.sum(axis=axis, keepdims=keepdims)


def keepdims_shape(shape: tuple, axis: tuple | None) -> tuple:
    """``shape`` with the reduced ``axis`` set to 1 (all of them for ``None``).

    Example:
        >>> keepdims_shape((2, 3, 4), (1,))
        (2, 1, 4)
    """
    if axis is None:
        return (1,) * len(shape)
    return tuple(1 if i in axis else s for i, s in enumerate(shape))


def _sum_rule(g: Any, ans: Any, a: Any, axis: tuple | None, keepdims: bool) -> Any:
    if not keepdims:
        g = reshape(g, keepdims_shape(a.shape, axis))
    return expand(g, a.shape)


sum = Primitive(  # noqa: A001 - PyTorch's name
    "Sum",
    _sum_fwd,
    [_sum_rule],
    ["d sum(a)/da_i = 1 (the gradient is copied to every input)"],
    jvp="linear",
)


def sum_to(g: Any, shape: tuple) -> Any:
    """Sum ``g`` down to ``shape``: undo NumPy broadcasting. The one place unbroadcast happens.

    Example:
        >>> import numpy as np
        >>> sum_to(np.ones((4, 2, 3)), (2, 1)).tolist()
        [[12.0], [12.0]]
    """
    shape = tuple(shape)
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    if lead < 0 or any(s != 1 and s != n for s, n in zip(shape, g.shape[lead:])):
        raise RuntimeError(
            f"a gradient of shape {tuple(g.shape)} cannot be reduced to its input's shape "
            f"{shape}: the shapes do not broadcast (a rule or hook returned a wrong shape)"
        )
    axes = tuple(range(lead)) + tuple(
        i + lead for i, s in enumerate(shape) if s == 1 and g.shape[i + lead] != 1
    )
    out = sum(g, axes, False) if axes else g
    return reshape(out, shape) if out.shape != shape else out


flip = Primitive(
    "Flip",
    lambda a, axis: _xp(a).flip(a, axis).copy(),  # a copy, as torch: never an alias
    [lambda g, ans, a, axis: flip(g, axis)],
    ["flip sends each gradient back to the mirrored position"],
    jvp="linear",
)


def _pad_fwd(a: Any, widths: tuple, value: float) -> Any:
    return _xp(a).pad(a, widths, mode="constant", constant_values=value)


def _pad_rule(g: Any, ans: Any, a: Any, widths: tuple, value: float) -> Any:
    key = tuple(slice(lo, lo + n) for (lo, _), n in zip(widths, a.shape))
    return getitem(g, key)


pad = Primitive(
    "Pad",
    _pad_fwd,
    [_pad_rule],
    ["d pad(a)/da: the gradient of the unpadded region"],
    jvp=lambda ts, ans, a, widths, value: None if ts[0] is None else pad(ts[0], widths, 0.0),
)


def _cat_fwd(*arrays: Any, axis: int) -> Any:
    return _xp(*arrays).concatenate(arrays, axis=axis)


def _cat_rule(i: int, g: Any, ans: Any, *arrays: Any, axis: int) -> Any:
    start = 0
    for a in arrays[:i]:
        start += a.shape[axis]
    key = (slice(None),) * axis + (slice(start, start + arrays[i].shape[axis]),)
    return getitem(g, key)


def _cat_jvp(ts: list, ans: Any, *arrays: Any, axis: int) -> Any:
    if all(t is None for t in ts):
        return None
    return cat(*[zeros_of(a) if t is None else t for t, a in zip(ts, arrays)], axis=axis)


cat = Primitive(
    "Cat",
    _cat_fwd,
    per_input(_cat_rule),
    lambda i: f"d cat/d input{i}: the slice of the gradient where input {i} was placed",
    jvp=_cat_jvp,
)
