"""Operators and array methods of :class:`~chainrule.ops.primitive.Tracer`, as primitives.

A tracer stands where a NumPy array stands: inside a tensor, in a derivative rule, in the
engine's sums of gradients. Everything those places do to an array (``g * b``, ``g.sum(axis)``,
``a.reshape(shape)``, ``np.exp(a)``) is mapped here to the primitive that does it, so it reaches
the trace's ``process`` and is transformed. A NumPy function with no primitive raises an error
that names it rather than computing on the tracer's insides.

Example:
    >>> import numpy as np
    >>> from chainrule.ops.primitive import Trace, Tracer
    >>> class Box(Tracer):
    ...     __slots__ = ("value",)
    ...     def __init__(self, trace, value):
    ...         super().__init__(trace)
    ...         self.value = value
    ...     shape = property(lambda self: self.value.shape)
    ...     dtype = property(lambda self: self.value.dtype)
    >>> class Unbox(Trace):
    ...     def process(self, prim, args, params):
    ...         return prim(*[a.value if isinstance(a, Box) else a for a in args], **params)
    >>> b = Box(Unbox(), np.arange(6.0).reshape(2, 3))
    >>> (np.exp(b * 0) + 1).sum(axis=1)
    array([6., 6.])
"""

from __future__ import annotations

import builtins
import operator
from typing import Any

import numpy as np

from . import elementwise as E
from . import index as I
from . import linalg as L
from . import reduce as R
from . import shape as S
from .primitive import Tracer


def _axis(axis: Any) -> tuple | None:
    if axis is None:
        return None
    return tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)


def _norm_axes(axis: tuple | None, ndim: int) -> tuple | None:
    return None if axis is None else tuple(a % ndim for a in axis) if ndim else ()


def _sum(a: Any, axis: Any = None, dtype: Any = None, keepdims: bool = False) -> Any:
    out = S.sum(a, _norm_axes(_axis(axis), a.ndim), keepdims)
    return out if dtype is None else I.cast(out, np.dtype(dtype))


def _mean(a: Any, axis: Any = None, dtype: Any = None, keepdims: bool = False) -> Any:
    ax = _norm_axes(_axis(axis), a.ndim)
    n = a.size if ax is None else int(np.prod([a.shape[i] for i in ax]))
    return _sum(a, ax, dtype, keepdims) / n


def _reshape(a: Any, *shape: Any, order: str = "C") -> Any:
    if order != "C":
        raise NotImplementedError("reshape of a tracer: only order='C'")
    shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
    shape = tuple(builtins.int(s) for s in shape)
    if -1 in shape:
        known = int(np.prod([s for s in shape if s != -1]))
        shape = tuple(a.size // known if s == -1 else s for s in shape)
    return S.reshape(a, shape)


def _transpose(a: Any, *axes: Any) -> Any:
    if not axes or axes == (None,):
        axes = tuple(reversed(range(a.ndim)))
    elif len(axes) == 1 and isinstance(axes[0], (tuple, list)):
        axes = tuple(axes[0])
    return S.permute(a, tuple(x % a.ndim for x in axes))


def _swapaxes(a: Any, i: int, j: int) -> Any:
    axes = list(range(a.ndim))
    axes[i], axes[j] = axes[j], axes[i]
    return S.permute(a, tuple(axes))


def _extreme(prim: Any) -> Any:
    def reduce(a: Any, axis: Any = None, keepdims: bool = False, **_: Any) -> Any:
        return prim(a, _norm_axes(_axis(axis), a.ndim), keepdims)

    return reduce


def _astype(a: Any, dtype: Any, copy: bool = True, **_: Any) -> Any:
    dtype = np.dtype(dtype)
    if dtype == a.dtype:
        return E.clone(a) if copy else a
    return I.cast(a, dtype)


def _expand_dims(a: Any, axis: Any) -> Any:
    shape = list(a.shape)
    for ax in sorted(x % (a.ndim + len(_axis(axis))) for x in _axis(axis)):
        shape.insert(ax, 1)
    return S.reshape(a, tuple(shape))


def _squeeze(a: Any, axis: Any = None) -> Any:
    axes = _axis(axis)
    drop = (
        {i for i, s in enumerate(a.shape) if s == 1} if axes is None else {x % a.ndim for x in axes}
    )
    return S.reshape(a, tuple(s for i, s in enumerate(a.shape) if i not in drop))


def _arg(prim: Any, a: Any, axis: Any, keepdims: bool) -> Any:
    out = prim(a, axis)
    if not keepdims:
        return out
    return S.reshape(out, (1,) * a.ndim) if axis is None else _expand_dims(out, axis)


def _rev(prim: Any) -> Any:
    return lambda a, b: prim(b, a)


def _method(fn: Any) -> Any:
    # A Primitive is no descriptor: wrap it so that ``tracer.op(...)`` passes the tracer
    return fn if isinstance(fn, property) else lambda *args, **kwargs: fn(*args, **kwargs)


_METHODS = {
    "__add__": E.add, "__radd__": _rev(E.add), "__iadd__": E.add,
    "__sub__": E.sub, "__rsub__": _rev(E.sub), "__isub__": E.sub,
    "__mul__": E.mul, "__rmul__": _rev(E.mul), "__imul__": E.mul,
    "__truediv__": E.div, "__rtruediv__": _rev(E.div), "__itruediv__": E.div,
    "__pow__": E.pow, "__rpow__": _rev(E.pow),
    "__matmul__": L.matmul, "__rmatmul__": _rev(L.matmul),
    "__neg__": E.neg, "__pos__": lambda a: a, "__abs__": E.abs,
    "__eq__": E.eq, "__ne__": E.ne, "__lt__": E.lt, "__le__": E.le, "__gt__": E.gt,
    "__ge__": E.ge,
    "__getitem__": I.getitem,
    "sum": _sum, "mean": _mean, "max": _extreme(R.amax), "min": _extreme(R.amin),
    "reshape": _reshape, "transpose": _transpose, "swapaxes": _swapaxes,
    "argmax": lambda a, axis=None, keepdims=False: _arg(R.argmax, a, axis, keepdims),
    "argmin": lambda a, axis=None, keepdims=False: _arg(R.argmin, a, axis, keepdims),
    "squeeze": _squeeze, "astype": _astype, "copy": E.clone, "conj": lambda a: a,
    "T": property(lambda a: _transpose(a)), "mT": property(lambda a: S.mT(a)),
}  # fmt: skip
for _name, _fn in _METHODS.items():
    setattr(Tracer, _name, _method(_fn))
Tracer.__hash__ = object.__hash__  # __eq__ is elementwise, as on arrays

# NumPy ufuncs and functions that rules and the engine call on arrays -> the primitive
_UFUNCS = {
    np.add: E.add, np.subtract: E.sub, np.multiply: E.mul, np.true_divide: E.div,
    np.negative: E.neg, np.power: E.pow, np.exp: E.exp, np.expm1: E.expm1, np.log: E.log,
    np.log1p: E.log1p, np.log2: E.log2, np.log10: E.log10, np.sqrt: E.sqrt, np.sign: E.sign,
    np.absolute: E.abs, np.sin: E.sin, np.cos: E.cos, np.tanh: E.tanh, np.maximum: E.maximum,
    np.minimum: E.minimum, np.matmul: L.matmul, np.equal: E.eq, np.not_equal: E.ne,
    np.less: E.lt, np.less_equal: E.le, np.greater: E.gt, np.greater_equal: E.ge,
    np.floor: E.floor, np.ceil: E.ceil, np.trunc: E.trunc,
}  # fmt: skip


def _array_ufunc(self: Tracer, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
    prim = _UFUNCS.get(ufunc)
    if method != "__call__" or prim is None or kwargs.get("out") is not None:
        raise TypeError(
            f"numpy.{ufunc.__name__}{'' if method == '__call__' else '.' + method} has no "
            f"primitive, so it cannot run on a {type(self).__name__} inside a transform"
        )
    return prim(*inputs)


def _zeros_like(a: Any, dtype: Any = None, **_: Any) -> Any:
    z = a * 0
    return z if dtype is None else _astype(z, dtype, copy=False)


def _ones_like(a: Any, dtype: Any = None, **_: Any) -> Any:
    return _zeros_like(a, dtype) + 1


_FUNCTIONS = {
    np.expand_dims: _expand_dims, np.squeeze: _squeeze,
    np.where: E.where, np.sum: _sum, np.mean: _mean, np.reshape: _reshape,
    np.transpose: _transpose, np.swapaxes: _swapaxes, np.zeros_like: _zeros_like,
    np.ones_like: _ones_like, np.broadcast_to: S.expand, np.amax: _extreme(R.amax),
    np.amin: _extreme(R.amin), np.max: _extreme(R.amax), np.min: _extreme(R.amin),
    np.shape: operator.attrgetter("shape"), np.ndim: operator.attrgetter("ndim"),
}  # fmt: skip


def _array_function(self: Tracer, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
    fn = _FUNCTIONS.get(func)
    if fn is None:
        raise TypeError(
            f"numpy.{func.__name__} has no primitive, so it cannot run on a "
            f"{type(self).__name__} inside a transform (write the op with chainrule's primitives)"
        )
    return fn(*args, **kwargs)


Tracer.__array_ufunc__ = _array_ufunc
Tracer.__array_function__ = _array_function
