"""The public functions, with PyTorch's signatures (``dim``/``keepdim``; NumPy's ``axis``/
``keepdims`` accepted too). Each one checks its arguments, then calls primitives.
"""

from __future__ import annotations

import builtins
import warnings
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from .autograd.grad_mode import STATE
from .dtypes import get_default_dtype
from .ops import elementwise as E
from .ops import index as I
from .ops import linalg as L
from .ops import reduce as R
from .ops import shape as S
from .ops.primitive import Tracer
from .tensor import Tensor, as_tensor


def _t(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else as_tensor(x)


def _float(x: Any) -> Tensor:
    """``x`` as a floating tensor: exp, log, sin... of an integer tensor give the default float
    dtype, as in PyTorch (NumPy would give float64)."""
    t = _t(x)
    return t if t._data.dtype.kind in "fc" else I.cast(t, dtype=get_default_dtype())


def _operand(x: Any) -> Any:
    # Python numbers stay numbers (NumPy keeps float32 float32 with them), arrays stay arrays.
    if isinstance(x, (Tensor, int, float, bool)):
        # np.float64 is a float subclass: as a NumPy scalar it would make float32 float64
        return x.item() if isinstance(x, np.generic) else x
    if isinstance(x, np.ndarray) or type(x).__module__.startswith("cupy"):
        return as_tensor(x)
    if isinstance(x, Tracer):  # a value inside a transform (a rule's saved non-tensor input)
        return Tensor._wrap(x)
    if isinstance(x, np.generic):  # a NumPy scalar acts as a Python number, as in PyTorch
        return x.item()
    if isinstance(x, (list, tuple)):
        return as_tensor(x)
    raise TypeError(f"unsupported operand of type {type(x).__name__}")


def _promote(a: Any, b: Any) -> tuple:
    """PyTorch's type promotion where NumPy's differs, so no silent float64 appears.

    A float tensor and an int/bool tensor give the float dtype (NumPy: float32 + int64 is
    float64); an int/bool tensor and a Python float give the default float dtype; a 0-d float
    tensor does not decide the dtype of a dimensioned float tensor.
    """
    if isinstance(a, Tensor):
        if isinstance(b, Tensor):
            da, db = a._data.dtype, b._data.dtype
            if da == db:
                return a, b
            fa, fb = da.kind == "f", db.kind == "f"
            if fa and (db.kind in "iub" or (fb and b.ndim == 0 and a.ndim > 0)):
                return a, I.cast(b, dtype=da)
            if fb and (da.kind in "iub" or (fa and a.ndim == 0 and b.ndim > 0)):
                return I.cast(a, dtype=db), b
            return a, b
        if isinstance(b, float) and a._data.dtype.kind in "iub":
            return I.cast(a, dtype=get_default_dtype()), b
    elif isinstance(a, float) and isinstance(b, Tensor) and b._data.dtype.kind in "iub":
        return a, I.cast(b, dtype=get_default_dtype())
    return a, b


# A Python number beside a float32/float64 NumPy tensor in + - * / enters the op as a 0-d array
# of the tensor's dtype: NumPy computes `x * c` for a 0-d array c twice as fast as `x * 1.01`
# (a Python number takes NumPy's weak-scalar promotion on every call), with the same result
# (NumPy converts the number to the array's dtype all the same). The node saves the 0-d array,
# so the backward's `g * b` is fast too. The arrays are read-only and kept per value (a bounded
# cache); 0 is left alone (0.0 and -0.0 are one dict key but not one number).
_F32, _F64 = np.dtype(np.float32), np.dtype(np.float64)
_NUMBERS_F32: dict = {}
_NUMBERS_F64: dict = {}
_ARITH = frozenset({E.add, E.sub, E.mul, E.div})


def _number_as_array(prim: Any, b: Any, like: Any) -> Any:
    """``b`` (an int or float) as the read-only 0-d array of ``like``'s dtype that ``prim``
    computes faster with, or ``b`` itself (see ``_NUMBERS_F32``).

    Example:
        >>> _number_as_array(E.mul, 1.5, np.ones(2, np.float32))
        array(1.5, dtype=float32)
    """
    dt = like.dtype
    cache = _NUMBERS_F32 if dt is _F32 else _NUMBERS_F64 if dt is _F64 else None
    if cache is None or like.__class__ is not np.ndarray or prim not in _ARITH:
        return b
    c = cache.get(b)
    if c is None:
        if not b or len(cache) >= 1024:
            return b
        c = np.array(b, dt)
        c.flags.writeable = False
        cache[b] = c
    return c


def _binary(prim: Any, a: Any, b: Any) -> Tensor:
    ca, cb = a.__class__, b.__class__
    # the common cases need no conversion or promotion
    if ca is Tensor:
        if cb is int or (cb is float and a._data.dtype.kind in "fc"):
            return prim(a, _number_as_array(prim, b, a._data))
        if cb is Tensor and a._data.dtype is b._data.dtype:
            try:
                return prim(a, b)
            except ValueError as e:
                _broadcast_error(prim, a, b, e)
    elif cb is Tensor and (ca is int or (ca is float and b._data.dtype.kind in "fc")):
        return prim(_number_as_array(prim, a, b._data), b)  # 1 - x, 2 * x
    a, b = _promote(_operand(a), _operand(b))
    try:
        return prim(a, b)
    except ValueError as e:
        _broadcast_error(prim, a, b, e)


def _broadcast_error(prim: Any, a: Any, b: Any, e: ValueError) -> None:
    if "broadcast" in str(e):
        raise ValueError(
            f"{prim.name.lower()}: shapes {tuple(np.shape(_raw(a)))} and "
            f"{tuple(np.shape(_raw(b)))} cannot be broadcast together"
        ) from None
    raise e


def _raw(x: Any) -> Any:
    return x._data if isinstance(x, Tensor) else x


def check_broadcast(op: str, **shapes: Any) -> tuple:
    """The broadcast of the named ``shapes``, or a ValueError that names ``op`` and each argument's
    shape (so ``lerp`` reports lerp's arguments, not the ``sub`` it is built from).

    Example:
        >>> check_broadcast("lerp", input=(2, 3), end=(3,), weight=())
        (2, 3)
    """
    try:
        return np.broadcast_shapes(*shapes.values())
    except ValueError:
        named = ", ".join(f"{k} {tuple(v)}" for k, v in shapes.items())
        raise ValueError(f"{op}: shapes {named} cannot be broadcast together") from None


def check_same_dtype(op: str, **tensors: Tensor) -> None:
    """A TypeError naming ``op`` and the dtypes, unless the named tensors share one dtype (as
    PyTorch: a matrix product or a layer does not silently promote float32 to float64).

    Example:
        >>> import chainrule as cr
        >>> check_same_dtype("mm", mat1=cr.ones(1), mat2=cr.ones(1, dtype=cr.float64))
        Traceback (most recent call last):
        ...
        TypeError: mm: mat1 and mat2 must have the same dtype, but got float32 and float64 ...
    """
    items = [(k, t._data.dtype) for k, t in tensors.items() if t is not None]
    if builtins.any(d != items[0][1] for _, d in items):
        names = ", ".join(k for k, _ in items[:-1]) + f" and {items[-1][0]}"
        got = ", ".join(str(d) for _, d in items[:-1]) + f" and {items[-1][1]}"
        raise TypeError(
            f"{op}: {names} must have the same dtype, but got {got} (convert one with .to(dtype))"
        )


def _dim_arg(dim: Any, axis: Any) -> Any:
    return axis if dim is None else dim


def _keep(keepdim: bool, keepdims: bool | None) -> bool:
    return bool(keepdims) if keepdims is not None else bool(keepdim)


# ----- arithmetic ------------------------------------------------------------------------
def _out(op: str, out: Any, *inputs: Any) -> None:
    """Refuse ``out=`` where torch does: when a graph would be recorded for any argument."""
    if not isinstance(out, Tensor):
        raise TypeError(f"{op}(): argument 'out' must be Tensor, not {type(out).__name__}")
    if STATE.enabled and any(isinstance(x, Tensor) and x._requires_grad for x in (out, *inputs)):
        raise RuntimeError(
            f"{op}(): functions with out=... arguments don't support automatic differentiation, "
            f"but one of the arguments requires grad."
        )


def _write_out(op: str, res: Tensor, out: Tensor) -> Tensor:
    """Write ``res`` into ``out`` (resizing it, with torch's warning, if its shape differs)."""
    if not np.can_cast(res.dtype, out.dtype, casting="same_kind"):
        raise RuntimeError(
            f"{op}(): result type {res.dtype} can't be cast to the desired output type {out.dtype}"
        )
    if out.shape != res.shape:
        if out.numel() != 0:
            warnings.warn(
                f"{op}(): an output with one or more elements was resized since it had shape "
                f"{list(out.shape)}, which does not match the required output shape "
                f"{list(res.shape)}. Resize it to the right shape (or to 0 elements) first.",
                UserWarning,
                stacklevel=3,
            )
        out.data = res._data.astype(out.dtype)  # a new array: views of the old one stay
        return out
    return out.copy_(res)


def add(input: Any, other: Any, alpha: float = 1, *, out: Tensor | None = None) -> Tensor:
    """``input + alpha * other``, broadcasting; written into ``out`` if given (outside autograd,
    as torch).

    Example:
        >>> import chainrule as cr
        >>> cr.add(cr.tensor([1.0, 2.0]), 1.0)
        tensor([2., 3.])
        >>> z = cr.zeros(2); _ = cr.add(cr.ones(2), cr.ones(2), alpha=3, out=z); z
        tensor([4., 4.])
    """
    if out is not None:
        _out("add", out, input, other)
        return _write_out("add", add(input, other, alpha), out)
    return _binary(E.add, input, other if alpha == 1 else _operand(other) * alpha)


def sub(input: Any, other: Any, alpha: float = 1, *, out: Tensor | None = None) -> Tensor:
    """``input - alpha * other``, broadcasting; written into ``out`` if given.

    Example:
        >>> import chainrule as cr
        >>> cr.sub(cr.tensor([1.0, 2.0]), 1.0)
        tensor([0., 1.])
    """
    if out is not None:
        _out("sub", out, input, other)
        return _write_out("sub", sub(input, other, alpha), out)
    return _binary(E.sub, input, other if alpha == 1 else _operand(other) * alpha)


def mul(input: Any, other: Any, *, out: Tensor | None = None) -> Tensor:
    """Elementwise product, broadcasting; written into ``out`` if given.

    Example:
        >>> import chainrule as cr
        >>> cr.mul(cr.tensor([1.0, 2.0]), 3.0)
        tensor([3., 6.])
    """
    if out is not None:
        _out("mul", out, input, other)
        return _write_out("mul", mul(input, other), out)
    return _binary(E.mul, input, other)


def div(input: Any, other: Any, *, rounding_mode: str | None = None,
        out: Tensor | None = None) -> Tensor:  # fmt: skip
    """Elementwise true division, broadcasting; ``rounding_mode='trunc'`` or ``'floor'`` rounds
    the quotient (as torch). Written into ``out`` if given.

    Example:
        >>> import chainrule as cr
        >>> cr.div(cr.tensor([1.0, 2.0]), 2.0)
        tensor([0.5, 1. ])
        >>> cr.div(cr.tensor([-7, 7]), 2, rounding_mode="floor")
        tensor([-4,  3])
    """
    if out is not None:
        _out("div", out, input, other)
        return _write_out("div", div(input, other, rounding_mode=rounding_mode), out)
    a, b = _operand(input), _operand(other)
    if rounding_mode is not None:
        if rounding_mode not in ("trunc", "floor"):
            raise ValueError(
                f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found "
                f"{rounding_mode!r}"
            )
        if _is_integral(a) and _is_integral(b):  # integers stay integers, exactly
            x, y = _raw(_t(a)), _raw(_t(b))
            if (y == 0).any():
                raise ZeroDivisionError("div: integer division by zero")
            if rounding_mode == "floor":
                return Tensor._wrap(x // y)
            xp = _xp_of(_t(a))
            return Tensor._wrap(xp.sign(x) * xp.sign(y) * (xp.abs(x) // xp.abs(y)))
        q = _binary(E.div, a, b)
        return E.trunc(q) if rounding_mode == "trunc" else E.floor(q)
    if _is_integral(a) and _is_integral(b):  # true division of integers gives floats
        a = a.to(get_default_dtype()) if isinstance(a, Tensor) else builtins.float(a)
    return _binary(E.div, a, b)


def _is_integral(x: Any) -> bool:
    if isinstance(x, Tensor):
        return x._data.dtype.kind in "iub"
    return isinstance(x, int)


true_divide = div


def neg(input: Tensor) -> Tensor:
    """``-input``.

    Example:
        >>> import chainrule as cr
        >>> cr.neg(cr.tensor([1.0]))
        tensor([-1.])
    """
    return E.neg(_t(input))


def pow(input: Any, exponent: Any) -> Tensor:  # noqa: A001
    """``input ** exponent``; the exponent may be a number or a tensor.

    Example:
        >>> import chainrule as cr
        >>> cr.pow(cr.tensor([2.0, 3.0]), 2)
        tensor([4., 9.])
    """
    return _binary(E.pow, input, exponent)


def matmul(input: Any, other: Any, *, out: Tensor | None = None) -> Tensor:
    """Matrix product with PyTorch's (and NumPy's) shape rules: batched, broadcast, 1-D operands
    promoted then removed. Both operands must have one dtype, as in PyTorch (float32 @ float64
    or int64 @ float32 raise TypeError rather than silently computing in float64). Written into
    ``out`` if given.

    Example:
        >>> import chainrule as cr
        >>> cr.matmul(cr.ones(2, 3), cr.ones(3)).tolist()
        [3.0, 3.0]
    """
    if out is not None:
        _out("matmul", out, input, other)
        return _write_out("matmul", matmul(input, other), out)
    a, b = _t(input), _t(other)
    _check_matmul(a, b, "matmul")
    return L.matmul(a, b)


def _check_matmul(a: Tensor, b: Tensor, op: str) -> None:
    sa, sb = a._data.shape, b._data.shape
    if not sa or not sb:
        raise ValueError(
            f"{op}: both arguments need at least 1 dimension, got shapes {sa} and {sb}"
        )
    if a._data.dtype != b._data.dtype:
        check_same_dtype(op, input=a, other=b)
    ka, kb = sa[-1], sb[-2] if len(sb) > 1 else sb[0]
    if ka != kb:
        where = "second-to-last" if len(sb) > 1 else "only"
        raise ValueError(
            f"{op}: shapes {sa} and {sb} cannot be multiplied: the last dim of input ({ka}) must "
            f"equal the {where} dim of other ({kb})"
        )
    if len(sa) > 2 and len(sb) > 2 and sa[:-2] != sb[:-2]:
        ba, bb = sa[:-2], sb[:-2]
        for i in range(1, builtins.min(len(ba), len(bb)) + 1):
            if ba[-i] != bb[-i] and ba[-i] != 1 and bb[-i] != 1:
                raise ValueError(
                    f"{op}: shapes {sa} and {sb} cannot be multiplied: their batch dims {ba} and "
                    f"{bb} do not broadcast ({ba[-i]} != {bb[-i]} at batch dim {len(ba) - i} of "
                    "input)"
                )


def mm(input: Tensor, mat2: Tensor) -> Tensor:
    """Product of two matrices (2-D tensors only, as in PyTorch; :func:`matmul` batches).

    Example:
        >>> import chainrule as cr
        >>> cr.mm(cr.ones(2, 3), cr.ones(3, 4)).shape
        (2, 4)
    """
    a, b = _t(input), _t(mat2)
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(
            f"mm: expected two matrices (2-D tensors), got shapes {a.shape} and {b.shape}; "
            "matmul batches and takes vectors"
        )
    check_same_dtype("mm", input=a, mat2=b)
    _check_matmul(a, b, "mm")
    return L.matmul(a, b)


def bmm(input: Tensor, mat2: Tensor) -> Tensor:
    """Batched matrix product of two 3-D tensors ``(b, n, m) @ (b, m, p)``, no broadcasting.

    Example:
        >>> import chainrule as cr
        >>> cr.bmm(cr.ones(2, 1, 3), cr.ones(2, 3, 4)).shape
        (2, 1, 4)
    """
    a, b = _t(input), _t(mat2)
    if a.ndim != 3 or b.ndim != 3 or a.shape[0] != b.shape[0] or a.shape[2] != b.shape[1]:
        raise ValueError(
            f"bmm: expected (b, n, m) and (b, m, p) tensors, got shapes {a.shape} and {b.shape}"
        )
    check_same_dtype("bmm", input=a, mat2=b)
    return L.matmul(a, b)


def dot(input: Tensor, other: Tensor) -> Tensor:
    """Inner product of two 1-D tensors of the same length.

    Example:
        >>> import chainrule as cr
        >>> cr.dot(cr.tensor([1.0, 2.0]), cr.tensor([3.0, 4.0]))
        tensor(11.)
    """
    a, b = _t(input), _t(other)
    if a.ndim != 1 or b.ndim != 1 or a.shape != b.shape:
        raise ValueError(
            f"dot: expected two 1-D tensors of one length, got {a.shape} and {b.shape}"
        )
    check_same_dtype("dot", input=a, other=b)
    return L.matmul(a, b)


def outer(input: Tensor, vec2: Tensor) -> Tensor:
    """Outer product of two 1-D tensors: ``out[i, j] = input[i] * vec2[j]``.

    Example:
        >>> import chainrule as cr
        >>> cr.outer(cr.tensor([1.0, 2.0]), cr.tensor([1.0, 10.0]))
        tensor([[ 1., 10.],
                [ 2., 20.]])
    """
    a, b = _t(input), _t(vec2)
    if a.ndim != 1 or b.ndim != 1:
        raise ValueError(f"outer: expected two 1-D tensors, got shapes {a.shape} and {b.shape}")
    return mul(S.reshape(a, (-1, 1)), S.reshape(b, (1, -1)))


# ----- elementwise -----------------------------------------------------------------------
def exp(input: Tensor) -> Tensor:
    """e to the power of each element.

    Example:
        >>> import chainrule as cr
        >>> cr.exp(cr.tensor(0.0))
        tensor(1.)
    """
    return E.exp(_float(input))


def log(input: Tensor) -> Tensor:
    """Natural logarithm.

    Example:
        >>> import chainrule as cr
        >>> cr.log(cr.tensor(1.0))
        tensor(0.)
    """
    return E.log(_float(input))


def log1p(input: Tensor) -> Tensor:
    """``log(1 + x)``, accurate for small x.

    Example:
        >>> import chainrule as cr
        >>> cr.log1p(cr.tensor(0.0))
        tensor(0.)
    """
    return E.log1p(_float(input))


def expm1(input: Tensor) -> Tensor:
    """``exp(x) - 1``, accurate for small x.

    Example:
        >>> import chainrule as cr
        >>> cr.expm1(cr.tensor(0.0))
        tensor(0.)
    """
    return E.expm1(_float(input))


def sqrt(input: Tensor) -> Tensor:
    """Square root.

    Example:
        >>> import chainrule as cr
        >>> cr.sqrt(cr.tensor(4.0))
        tensor(2.)
    """
    return E.sqrt(_float(input))


def abs(input: Tensor) -> Tensor:  # noqa: A001
    """Absolute value; the gradient is ``sign(x)`` (0 at 0).

    Example:
        >>> import chainrule as cr
        >>> cr.abs(cr.tensor(-2.0))
        tensor(2.)
    """
    return E.abs(_t(input))


def sign(input: Tensor) -> Tensor:
    """Sign: -1, 0 or 1 (gradient 0).

    Example:
        >>> import chainrule as cr
        >>> cr.sign(cr.tensor(-2.0))
        tensor(-1.)
    """
    return E.sign(_t(input))


def sin(input: Tensor) -> Tensor:
    """Sine.

    Example:
        >>> import chainrule as cr
        >>> cr.sin(cr.tensor(0.0))
        tensor(0.)
    """
    return E.sin(_float(input))


def cos(input: Tensor) -> Tensor:
    """Cosine.

    Example:
        >>> import chainrule as cr
        >>> cr.cos(cr.tensor(0.0))
        tensor(1.)
    """
    return E.cos(_float(input))


def tanh(input: Tensor) -> Tensor:
    """Hyperbolic tangent.

    Example:
        >>> import chainrule as cr
        >>> cr.tanh(cr.tensor(0.0))
        tensor(0.)
    """
    return E.tanh(_float(input))


def sigmoid(input: Tensor) -> Tensor:
    """The logistic sigmoid ``1 / (1 + e^-x)``, stable for large ``|x|``.

    Example:
        >>> import chainrule as cr
        >>> cr.sigmoid(cr.tensor(0.0))
        tensor(0.5)
    """
    return E.sigmoid(_float(input))


def relu(input: Tensor) -> Tensor:
    """``max(x, 0)``.

    Example:
        >>> import chainrule as cr
        >>> cr.relu(cr.tensor([-1.0, 2.0]))
        tensor([0., 2.])
    """
    return E.relu(_t(input))


def square(input: Tensor) -> Tensor:
    """``input * input``.

    Example:
        >>> import chainrule as cr
        >>> cr.square(cr.tensor(3.0))
        tensor(9.)
    """
    return E.pow(_t(input), 2)


def rsqrt(input: Tensor) -> Tensor:
    """``1 / sqrt(input)``.

    Example:
        >>> import chainrule as cr
        >>> cr.rsqrt(cr.tensor(4.0))
        tensor(0.5)
    """
    return 1 / E.sqrt(_float(input))


def clamp(input: Tensor, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002
    """Limit values to ``[min, max]``; the gradient is 1 inside, 0 outside.

    Example:
        >>> import chainrule as cr
        >>> cr.clamp(cr.tensor([-2.0, 0.5, 2.0]), -1, 1)
        tensor([-1. ,  0.5,  1. ])
    """
    x = _t(input)
    if min is None and max is None:
        raise ValueError("clamp: at least one of 'min' or 'max' must not be None")
    if isinstance(min, Tensor) or isinstance(max, Tensor):  # at a tie the input keeps the grad
        check_broadcast("clamp", input=x.shape, min=np.shape(_raw(min)), max=np.shape(_raw(max)))
        if min is not None:
            x = where(lt(x, min), min, x)
        return where(gt(x, max), max, x) if max is not None else x
    if x.dtype.kind in "iub" and builtins.any(isinstance(b, float) for b in (min, max)):
        x = I.cast(x, dtype=get_default_dtype())  # as torch: int clamped to 0.5 is float
    return E.clamp(x, min, max)


clip = clamp


def maximum(input: Any, other: Any) -> Tensor:
    """Elementwise maximum; at ties each side gets half the gradient (as in PyTorch).

    Example:
        >>> import chainrule as cr
        >>> cr.maximum(cr.tensor([1.0, 5.0]), cr.tensor([3.0, 2.0]))
        tensor([3., 5.])
    """
    return _binary(E.maximum, input, other)


def minimum(input: Any, other: Any) -> Tensor:
    """Elementwise minimum; at ties each side gets half the gradient (as in PyTorch).

    Example:
        >>> import chainrule as cr
        >>> cr.minimum(cr.tensor([1.0, 5.0]), cr.tensor([3.0, 2.0]))
        tensor([1., 2.])
    """
    return _binary(E.minimum, input, other)


def where(condition: Any, input: Any, other: Any) -> Tensor:
    """``input`` where ``condition`` holds, else ``other``, broadcasting all three.

    Example:
        >>> import chainrule as cr
        >>> x = cr.tensor([-1.0, 2.0])
        >>> cr.where(x > 0, x, 0.0)
        tensor([0., 2.])
    """
    c = _t(condition)
    if c.dtype != np.bool_:
        raise TypeError(
            f"where: expected condition to be a bool tensor, but got {c.dtype} (compare it, e.g. "
            "x != 0, to make one)"
        )
    a, b = _promote(_operand(input), _operand(other))
    try:
        return E.where(c, a, b)
    except ValueError:
        raise ValueError(
            f"where: shapes {c.shape}, {np.shape(_raw(_operand(input)))} and "
            f"{np.shape(_raw(_operand(other)))} cannot be broadcast together"
        ) from None


def floor(input: Tensor) -> Tensor:
    """Round down elementwise (gradient 0).

    Example:
        >>> import chainrule as cr
        >>> cr.floor(cr.tensor([-1.5, 1.5]))
        tensor([-2.,  1.])
    """
    return E.floor(_t(input))


def ceil(input: Tensor) -> Tensor:
    """Round up elementwise (gradient 0).

    Example:
        >>> import chainrule as cr
        >>> cr.ceil(cr.tensor([-1.5, 1.5]))
        tensor([-1.,  2.])
    """
    return E.ceil(_t(input))


def round(input: Tensor, *, decimals: int = 0) -> Tensor:  # noqa: A001
    """Round to ``decimals`` places, halves to even as in PyTorch (gradient 0).

    Example:
        >>> import chainrule as cr
        >>> cr.round(cr.tensor([0.5, 1.5, 2.7]))
        tensor([0., 2., 3.])
    """
    x = _t(input)
    if decimals == 0:
        return E.round(x)
    scale = 10.0**decimals
    return div(E.round(mul(x, scale)), scale)


def trunc(input: Tensor) -> Tensor:
    """Round toward zero elementwise (gradient 0).

    Example:
        >>> import chainrule as cr
        >>> cr.trunc(cr.tensor([-1.7, 1.7]))
        tensor([-1.,  1.])
    """
    return E.trunc(_t(input))


# ----- comparisons and logic (not differentiable) ---------------------------------------
def _compare(name: str, fn: Any) -> Any:
    def cmp(input: Any, other: Any) -> Tensor:
        a, b = _raw(_operand(input)), _raw(_operand(other))
        try:
            return Tensor._wrap(fn(a, b))
        except ValueError:
            raise ValueError(
                f"{name}: shapes {np.shape(a)} and {np.shape(b)} cannot be broadcast together"
            ) from None

    cmp.__name__ = name
    cmp.__doc__ = (
        f"Elementwise ``{name}`` comparison, a bool tensor (no gradient).\n\n"
        "Example:\n    >>> import chainrule as cr\n"
        f"    >>> cr.{name}(cr.tensor([1.0, 2.0]), 1.0).dtype\n    dtype('bool')\n"
    )
    return cmp


eq = _compare("eq", lambda a, b: a == b)
ne = _compare("ne", lambda a, b: a != b)
lt = _compare("lt", lambda a, b: a < b)
le = _compare("le", lambda a, b: a <= b)
gt = _compare("gt", lambda a, b: a > b)
ge = _compare("ge", lambda a, b: a >= b)
logical_and = _compare(
    "logical_and", lambda a, b: np.logical_and(a, b) if isinstance(a, np.ndarray) else a & b
)
logical_or = _compare(
    "logical_or", lambda a, b: np.logical_or(a, b) if isinstance(a, np.ndarray) else a | b
)


def logical_not(input: Tensor) -> Tensor:
    """Elementwise not, as a bool tensor.

    Example:
        >>> import chainrule as cr
        >>> cr.logical_not(cr.tensor([True, False]))
        tensor([False,  True])
    """
    return Tensor._wrap(_t(input)._data == 0)


def isnan(input: Tensor) -> Tensor:
    """Where the elements are NaN.

    Example:
        >>> import chainrule as cr
        >>> cr.isnan(cr.tensor([float('nan'), 1.0]))
        tensor([ True, False])
    """
    x = _t(input)._data
    return Tensor._wrap(x != x)


def isinf(input: Tensor) -> Tensor:
    """True where ``input`` is +inf or -inf.

    Example:
        >>> import chainrule as cr
        >>> cr.isinf(cr.tensor([1.0, float("inf")]))
        tensor([False,  True])
    """
    x = _t(input)
    return Tensor._wrap(_xp_of(x).isinf(x._data))


def isfinite(input: Tensor) -> Tensor:
    """True where ``input`` is neither infinite nor NaN.

    Example:
        >>> import chainrule as cr
        >>> cr.isfinite(cr.tensor([1.0, float("nan")]))
        tensor([ True, False])
    """
    x = _t(input)
    return Tensor._wrap(_xp_of(x).isfinite(x._data))


def _xp_of(x: Tensor) -> Any:
    return E._xp(x._data)


def allclose(input: Tensor, other: Tensor, rtol: float = 1e-5, atol: float = 1e-8) -> bool:
    """True if ``|input - other| <= atol + rtol * |other|`` everywhere.

    Example:
        >>> import chainrule as cr
        >>> cr.allclose(cr.tensor([1.0]), cr.tensor([1.0 + 1e-9]))
        True
    """
    return bool(np.allclose(np.asarray(_t(input)), np.asarray(_t(other)), rtol=rtol, atol=atol))


def equal(input: Tensor, other: Tensor) -> bool:
    """True if both tensors have the same shape and the same values.

    Example:
        >>> import chainrule as cr
        >>> cr.equal(cr.tensor([1, 2]), cr.tensor([1, 2]))
        True
    """
    a, b = _t(input), _t(other)
    return a.shape == b.shape and bool((a._data == b._data).all())


def nonzero(input: Tensor, *, as_tuple: bool = False) -> Any:
    """Indices of the non-zero elements: an ``(n, ndim)`` int64 tensor, or with ``as_tuple`` one
    1-D tensor per dimension (what NumPy's ``nonzero`` gives). No gradient.

    Example:
        >>> import chainrule as cr
        >>> cr.nonzero(cr.tensor([0.0, 2.0, 0.0, 3.0]))
        tensor([[1],
                [3]])
    """
    x = _t(input)
    xp = _xp_of(x)
    if as_tuple:
        idx = xp.nonzero(x._data) if x.ndim else xp.nonzero(x._data.reshape(1))
        return tuple(Tensor._wrap(i.astype(np.int64)) for i in idx)
    return Tensor._wrap(xp.argwhere(x._data).astype(np.int64))


def argwhere(input: Tensor) -> Tensor:
    """As ``nonzero(input)``: the ``(n, ndim)`` indices of the non-zero elements.

    Example:
        >>> import chainrule as cr
        >>> cr.argwhere(cr.tensor([[0, 1], [1, 0]])).tolist()
        [[0, 1], [1, 0]]
    """
    return nonzero(input)


def count_nonzero(input: Tensor, dim: Any = None) -> Tensor:
    """How many elements are non-zero, over ``dim`` (all when None).

    Example:
        >>> import chainrule as cr
        >>> cr.count_nonzero(cr.tensor([0.0, 2.0, 3.0]))
        tensor(2)
    """
    x = _t(input)
    axes = S.normalize_dims(dim, x.ndim, "count_nonzero")
    return Tensor._wrap(_xp_of(x).asarray((x._data != 0).sum(axis=axes)).astype(np.int64))


def lerp(input: Tensor, end: Any, weight: Any) -> Tensor:
    """``input + weight * (end - input)``, broadcasting; differentiable in all three.

    Example:
        >>> import chainrule as cr
        >>> cr.lerp(cr.tensor([0.0, 10.0]), cr.tensor([10.0, 20.0]), 0.5)
        tensor([ 5., 15.])
    """
    x, e = _t(input), _t(end)
    check_broadcast("lerp", input=x.shape, end=e.shape, weight=np.shape(_raw(weight)))
    return add(x, mul(weight, sub(e, x)))


def addmm(
    input: Tensor, mat1: Tensor, mat2: Tensor, *, beta: float = 1, alpha: float = 1
) -> Tensor:
    """``beta * input + alpha * (mat1 @ mat2)`` for 2-D ``mat1``, ``mat2``.

    Example:
        >>> import chainrule as cr
        >>> cr.addmm(cr.ones(2), cr.ones(2, 3), cr.ones(3, 2))
        tensor([[4., 4.],
                [4., 4.]])
    """
    a, b = _t(mat1), _t(mat2)
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"addmm: mat1 and mat2 must be 2-D, got shapes {a.shape} and {b.shape}")
    inp = input if isinstance(input, Tensor) else None
    check_same_dtype("addmm", input=inp, mat1=a, mat2=b)
    _check_matmul(a, b, "addmm")
    ab = L.matmul(a, b)
    ab = mul(ab, alpha) if alpha != 1 else ab
    if beta == 0:  # input is ignored (NaN and inf in it too), as torch documents
        return ab
    return add(mul(input, beta) if beta != 1 else input, ab)


def diagonal(input: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """The diagonal of the ``(dim1, dim2)`` planes, as a new last dimension; gradients go back
    to the diagonal.

    Example:
        >>> import chainrule as cr
        >>> cr.diagonal(cr.arange(9.0).reshape(3, 3))
        tensor([0., 4., 8.])
    """
    x = _t(input)
    d1 = S.normalize_dim(dim1, x.ndim, "diagonal", "dim1")
    d2 = S.normalize_dim(dim2, x.ndim, "diagonal", "dim2")
    if d1 == d2:
        raise ValueError(f"diagonal: dim1 and dim2 must differ, got {dim1} and {dim2}")
    rest = [d for d in range(x.ndim) if d not in (d1, d2)]
    x = S.permute(x, (*rest, d1, d2))
    n1, n2 = x.shape[-2], x.shape[-1]
    start1, start2 = (0, offset) if offset >= 0 else (-offset, 0)
    k = builtins.max(0, builtins.min(n1 - start1, n2 - start2))
    i = np.arange(k)
    return I.getitem(x, (Ellipsis, i + start1, i + start2))


# ----- reductions ------------------------------------------------------------------------
def sum(  # noqa: A001
    input: Tensor, dim: Any = None, keepdim: bool = False, *, dtype: Any = None,
    axis: Any = None, keepdims: bool | None = None,
) -> Tensor:  # fmt: skip
    """Sum over ``dim`` (an int, a tuple, or all dims).

    Example:
        >>> import chainrule as cr
        >>> cr.sum(cr.ones(2, 3), dim=1)
        tensor([3., 3.])
    """
    x = _t(input)
    if dtype is not None:
        x = I.cast(x, dtype=np.dtype(dtype))
    elif x.dtype.kind in "bi":
        x = I.cast(x, dtype=np.dtype("int64"))
    axes = S.normalize_dims(_dim_arg(dim, axis), x.ndim, "sum")
    return S.sum(x, axes, _keep(keepdim, keepdims))


def mean(
    input: Tensor, dim: Any = None, keepdim: bool = False, *, dtype: Any = None,
    axis: Any = None, keepdims: bool | None = None,
) -> Tensor:  # fmt: skip
    """Mean over ``dim``; floating tensors only, as in PyTorch.

    Example:
        >>> import chainrule as cr
        >>> cr.mean(cr.tensor([1.0, 2.0, 3.0]))
        tensor(2.)
    """
    x = _t(input)
    if dtype is not None:
        x = I.cast(x, dtype=np.dtype(dtype))
    if x.dtype.kind not in "fc":
        raise TypeError(
            f"mean: could not infer output dtype; input dtype is {x.dtype}, "
            "pass dtype= or use a floating tensor"
        )
    axes = S.normalize_dims(_dim_arg(dim, axis), x.ndim, "mean")
    n = _count(x.shape, axes)
    return S.sum(x, axes, _keep(keepdim, keepdims)) / n


def _count(shape: tuple, axes: tuple | None) -> int:
    if axes is None:
        return int(np.prod(shape, dtype=np.int64))
    return int(np.prod([shape[a] for a in axes], dtype=np.int64))


def var(
    input: Tensor, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False, *,
    correction: float | None = None, axis: Any = None, keepdims: bool | None = None,
) -> Tensor:  # fmt: skip
    """Variance over ``dim`` with Bessel's ``correction`` (1 by default, as in PyTorch).

    Example:
        >>> import chainrule as cr
        >>> cr.var(cr.tensor([1.0, 2.0, 3.0, 4.0]))
        tensor(1.6667)
    """
    return _var(input, _dim_arg(dim, axis), unbiased, _keep(keepdim, keepdims), correction, "var")


def _var(
    input: Tensor, dim: Any, unbiased: bool | None, keep: bool, correction: float | None, op: str
) -> Tensor:
    x = _t(input)
    if correction is None:
        correction = 1 if unbiased is None or unbiased else 0
    axes = S.normalize_dims(dim, x.ndim, op)
    n = _count(x.shape, axes)
    mu = S.sum(x, axes, True) / n
    d = x - mu
    return S.sum(d * d, axes, keep) / builtins.max(n - correction, 0)


def std(
    input: Tensor, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False, *,
    correction: float | None = None, axis: Any = None, keepdims: bool | None = None,
) -> Tensor:  # fmt: skip
    """Standard deviation over ``dim`` (square root of :func:`var`).

    Example:
        >>> import chainrule as cr
        >>> cr.std(cr.tensor([1.0, 3.0]))
        tensor(1.4142)
    """
    keep = _keep(keepdim, keepdims)
    return E.sqrt(_var(input, _dim_arg(dim, axis), unbiased, keep, correction, "std"))


def amax(
    input: Tensor, dim: Any = (), keepdim: bool = False, *, axis: Any = None,
    keepdims: bool | None = None,
) -> Tensor:  # fmt: skip
    """Maximum over ``dim`` (all dims by default); ties share the gradient evenly.

    Example:
        >>> import chainrule as cr
        >>> cr.amax(cr.tensor([[1.0, 4.0], [3.0, 2.0]]), dim=0)
        tensor([3., 4.])
    """
    x = _t(input)
    axes = S.normalize_dims(_dim_arg(dim if dim != () else None, axis), x.ndim, "amax")
    _nonempty(x, "amax", axes)
    return R.amax(x, axes, _keep(keepdim, keepdims))


def amin(
    input: Tensor, dim: Any = (), keepdim: bool = False, *, axis: Any = None,
    keepdims: bool | None = None,
) -> Tensor:  # fmt: skip
    """Minimum over ``dim`` (all dims by default); ties share the gradient evenly.

    Example:
        >>> import chainrule as cr
        >>> cr.amin(cr.tensor([[1.0, 4.0], [3.0, 2.0]]), dim=1)
        tensor([1., 2.])
    """
    x = _t(input)
    axes = S.normalize_dims(_dim_arg(dim if dim != () else None, axis), x.ndim, "amin")
    _nonempty(x, "amin", axes)
    return R.amin(x, axes, _keep(keepdim, keepdims))


def _nonempty(x: Tensor, op: str, axes: tuple | None = None) -> None:
    # Reducing a zero-size tensor over non-empty dims is fine: (0, 3).amax(dim=1) has shape (0,).
    if x.numel() == 0 and (axes is None or builtins.any(x.shape[a] == 0 for a in axes)):
        raise RuntimeError(f"{op}: cannot reduce a tensor with no elements (shape {x.shape})")


class ValuesIndices(NamedTuple):
    """What ``max(dim=...)`` and ``min(dim=...)`` return, as ``torch.return_types.max``."""

    values: Tensor
    indices: Tensor


def _select(x: Tensor, dim: int, keepdim: bool, arg: Any, op: str) -> ValuesIndices:
    d = S.normalize_dim(dim, x.ndim, op)
    _nonempty(x, op, (d,) if x.ndim else None)
    idx = np.expand_dims(arg(x._data, axis=d), d) if x.ndim else np.asarray(0)
    if x.ndim == 0:
        return ValuesIndices(x, Tensor._wrap(np.asarray(0)))
    values = I.gather(x, d, idx)
    if not keepdim:
        values = S.reshape(values, values.shape[:d] + values.shape[d + 1 :])
        idx = np.squeeze(idx, d)
    return ValuesIndices(values, Tensor._wrap(idx.astype(np.int64)))


def max(  # noqa: A001
    input: Tensor, dim: Any = None, keepdim: bool = False, *, axis: Any = None,
    keepdims: bool | None = None,
) -> Any:  # fmt: skip
    """PyTorch's three forms: ``max(x)`` (a scalar), ``max(x, dim)`` (values and indices;
    the gradient goes to the chosen index), ``max(x, other)`` (elementwise maximum).

    Example:
        >>> import chainrule as cr
        >>> cr.max(cr.tensor([[1.0, 4.0], [3.0, 2.0]]), dim=1).values
        tensor([4., 3.])
    """
    dim = _dim_arg(dim, axis)
    if isinstance(dim, Tensor):
        return maximum(input, dim)
    x = _t(input)
    if dim is None:
        return amax(x)
    keep = _keep(keepdim, keepdims)
    return _select(x, dim, keep, lambda a, axis: a.argmax(axis=axis), "max")


def min(  # noqa: A001
    input: Tensor, dim: Any = None, keepdim: bool = False, *, axis: Any = None,
    keepdims: bool | None = None,
) -> Any:  # fmt: skip
    """PyTorch's three forms, as :func:`max` but for the minimum.

    Example:
        >>> import chainrule as cr
        >>> cr.min(cr.tensor([[1.0, 4.0], [3.0, 2.0]]), dim=1).indices
        tensor([0, 1])
    """
    dim = _dim_arg(dim, axis)
    if isinstance(dim, Tensor):
        return minimum(input, dim)
    x = _t(input)
    if dim is None:
        return amin(x)
    keep = _keep(keepdim, keepdims)
    return _select(x, dim, keep, lambda a, axis: a.argmin(axis=axis), "min")


def argmax(
    input: Tensor, dim: int | None = None, keepdim: bool = False, *, axis: Any = None,
    keepdims: bool | None = None,
) -> Tensor:  # fmt: skip
    """Index of the maximum (over the flattened tensor when ``dim`` is None). No gradient.

    Example:
        >>> import chainrule as cr
        >>> cr.argmax(cr.tensor([[1.0, 4.0], [3.0, 2.0]]), dim=1)
        tensor([1, 0])
    """
    return _arg(input, _dim_arg(dim, axis), _keep(keepdim, keepdims), "argmax")


def argmin(
    input: Tensor, dim: int | None = None, keepdim: bool = False, *, axis: Any = None,
    keepdims: bool | None = None,
) -> Tensor:  # fmt: skip
    """Index of the minimum (over the flattened tensor when ``dim`` is None). No gradient.

    Example:
        >>> import chainrule as cr
        >>> cr.argmin(cr.tensor([3.0, 1.0, 2.0]))
        tensor(1)
    """
    return _arg(input, _dim_arg(dim, axis), _keep(keepdim, keepdims), "argmin")


def _arg(input: Tensor, dim: Any, keepdim: bool, op: str) -> Tensor:
    x = _t(input)
    _nonempty(x, op, None if dim is None or x.ndim == 0 else (S.normalize_dim(dim, x.ndim, op),))
    fn = getattr(x._data, op)
    if dim is None:
        out = fn()
        if keepdim:
            out = np.reshape(out, (1,) * x.ndim)
    else:
        d = S.normalize_dim(dim, x.ndim, op)
        out = fn(axis=d, keepdims=keepdim) if x.ndim else fn()
    return Tensor._wrap(np.asarray(out).astype(np.int64))


def logsumexp(
    input: Tensor, dim: Any = None, keepdim: bool = False, *, axis: Any = None,
    keepdims: bool | None = None,
) -> Tensor:  # fmt: skip
    """``log(sum(exp(x)))`` over ``dim``, computed stably (the max is subtracted first).

    Example:
        >>> import chainrule as cr
        >>> cr.logsumexp(cr.tensor([1e4, 1e4]), dim=0)
        tensor(10000.693)
    """
    x = _float(input)
    axes = S.normalize_dims(_dim_arg(dim, axis), x.ndim, "logsumexp")
    keep = _keep(keepdim, keepdims)
    if x.numel() == 0:
        return E.log(S.sum(E.exp(x), axes, keep))
    m = x._data.max(axis=axes, keepdims=True)
    m = np.where(np.isfinite(m), m, 0) if isinstance(m, np.ndarray) else m
    out = E.log(S.sum(E.exp(x - m), axes, True)) + m
    if not keep:
        out = S.reshape(
            out, tuple(s for i, s in enumerate(out.shape) if i not in (axes or range(x.ndim)))
        )
    return out


def prod(
    input: Tensor, dim: int | None = None, keepdim: bool = False, *, dtype: Any = None
) -> Tensor:
    """Product over ``dim`` (all elements when None). The gradient of each element is the
    product of the others, exact where some are zero.

    Example:
        >>> import chainrule as cr
        >>> x = cr.tensor([2.0, 0.0, 3.0], requires_grad=True)
        >>> cr.prod(x).backward(); x.grad
        tensor([0., 6., 0.])
    """
    x = _t(input)
    if dtype is not None:
        x = I.cast(x, dtype=np.dtype(dtype))
    elif x.dtype.kind in "bi":
        x = I.cast(x, dtype=np.dtype("int64"))
    if dim is None:
        out = R.prod(S.reshape(x, (-1,)), 0, False)
        return S.reshape(out, (1,) * x.ndim) if keepdim else out
    if isinstance(dim, (tuple, list)):
        raise TypeError(f"prod: argument 'dim' must be one int, got {dim!r}")
    if x.ndim == 0:
        S.normalize_dim(dim, 1, "prod")
        return x
    return R.prod(x, S.normalize_dim(dim, x.ndim, "prod"), bool(keepdim))


def norm(
    input: Tensor, p: Any = "fro", dim: Any = None, keepdim: bool = False, dtype: Any = None
) -> Tensor:
    """The vector ``p``-norm over ``dim`` (all elements when None): 2 or ``'fro'`` (gradient 0
    at the origin, as torch), 1, ``inf``, ``-inf``, 0 (count of non-zeros) or any other p > 0.

    Example:
        >>> import chainrule as cr
        >>> cr.norm(cr.tensor([3.0, 4.0]))
        tensor(5.)
    """
    x = _t(input) if dtype is None else I.cast(_t(input), dtype=np.dtype(dtype))
    if x.dtype.kind not in "fc":
        raise TypeError(f"norm: expected a floating tensor, got {x.dtype}")
    axes = S.normalize_dims(dim, x.ndim, "norm")
    keep = bool(keepdim)
    if p is None or p in ("fro", 2, 2.0):
        return R.norm2(x, axes, keep)
    if isinstance(p, str) or not isinstance(p, (int, float)):
        raise ValueError(f"norm: unsupported p={p!r} (2, 'fro', 1, inf, -inf, 0 or a number > 0)")
    a = E.abs(x)
    if p == np.inf:
        return R.amax(a, axes, keep)
    if p == -np.inf:
        return R.amin(a, axes, keep)
    if p == 0:
        return S.sum(I.cast(x != 0, dtype=x.dtype), axes, keep)
    if p == 1:
        return S.sum(a, axes, keep)
    if p < 0:
        raise ValueError(f"norm: p must be positive (or -inf), got {p}")
    # (sum |x|^p)^(1/p), kept finite where x or the whole slice is 0: gradient 0 there, as torch
    nz = a != 0
    ap = E.where(nz, E.pow(E.where(nz, a, 1), builtins.float(p)), 0)
    s = S.sum(ap, axes, keep)
    zero = s == 0
    return E.where(zero, 0, E.pow(E.where(zero, 1, s), 1.0 / p))


# ----- running sums and sorting ----------------------------------------------------------
def cumsum(input: Tensor, dim: int, *, dtype: Any = None) -> Tensor:
    """Running sum along ``dim``; the gradient is the running sum from the other end.

    Example:
        >>> import chainrule as cr
        >>> cr.cumsum(cr.tensor([1.0, 2.0, 3.0]), dim=0)
        tensor([1., 3., 6.])
    """
    x = _t(input)
    if dtype is not None:
        x = x.to(dtype)
    if x.ndim == 0:
        S.normalize_dim(dim, 1, "cumsum")
        return R.cumsum(S.reshape(x, (1,)), 0).reshape(())
    return R.cumsum(x, S.normalize_dim(dim, x.ndim, "cumsum"))


def sort(input: Tensor, dim: int = -1, descending: bool = False, stable: bool = False) -> Any:
    """Sorted values along ``dim`` and the indices they came from (NaN counts as largest).
    The gradient of each value goes back to where it came from. The sort is always stable.

    Example:
        >>> import chainrule as cr
        >>> cr.sort(cr.tensor([3.0, 1.0, 2.0]), descending=True)
        ValuesIndices(values=tensor([3., 2., 1.]), indices=tensor([0, 2, 1]))
    """
    x = _t(input)
    if x.ndim == 0:
        S.normalize_dim(dim, 1, "sort")
        return ValuesIndices(x, Tensor._wrap(np.asarray(0)))
    d = S.normalize_dim(dim, x.ndim, "sort")
    xp = _xp_of(x)
    a = x._data
    if descending:  # stable among ties: sort the reversed array, then map back
        n = a.shape[d]
        idx = n - 1 - xp.flip(xp.argsort(xp.flip(a, d), axis=d, kind="stable"), d)
    else:
        idx = xp.argsort(a, axis=d, kind="stable")
    idx = idx.astype(np.int64)
    return ValuesIndices(I.gather(x, d, idx), Tensor._wrap(idx))


def argsort(input: Tensor, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:
    """The indices that sort ``input`` along ``dim`` (stable).

    Example:
        >>> import chainrule as cr
        >>> cr.argsort(cr.tensor([3.0, 1.0, 2.0]))
        tensor([1, 2, 0])
    """
    return sort(input, dim, descending, stable).indices


def topk(input: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> Any:
    """The ``k`` largest (or smallest) values along ``dim`` and their indices, largest first.

    Example:
        >>> import chainrule as cr
        >>> cr.topk(cr.tensor([1.0, 5.0, 3.0, 4.0]), 2).values
        tensor([5., 4.])
    """
    x = _t(input)
    d = S.normalize_dim(dim, builtins.max(x.ndim, 1), "topk")
    n = x.shape[d] if x.ndim else 1
    if not isinstance(k, (int, np.integer)) or not 0 <= k <= n:
        raise ValueError(f"topk: k ({k}) is out of range for dimension {d} of size {n}")
    values, indices = sort(x, d, descending=largest)
    if x.ndim == 0:
        return ValuesIndices(values, indices)
    key = (slice(None),) * d + (slice(0, int(k)),)
    return ValuesIndices(I.getitem(values, key), Tensor._wrap(indices._data[key]))


# ----- shape -----------------------------------------------------------------------------
def _size_arg(shape: tuple, op: str = "", name: str = "size") -> tuple:
    """The sizes (or dims) given as ``f(2, 3)`` or ``f((2, 3))``; with ``op``, each one checked
    to be an integer (a TypeError naming ``op``: ``reshape(2.5, 2)`` must not become 2 x 2)."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    if op:
        return tuple(s if type(s) is int else S._dim_index(s, op, name) for s in shape)
    return tuple(shape)


def reshape(input: Tensor, *shape: Any) -> Tensor:
    """The same elements in a new shape (one dimension may be -1).

    Example:
        >>> import chainrule as cr
        >>> cr.reshape(cr.arange(6), (2, 3)).shape
        (2, 3)
    """
    x = _t(input)
    new = infer_shape(_size_arg(shape, "reshape"), x.shape, "reshape")
    return x if new == x.shape else S.reshape(x, new)


def infer_shape(shape: tuple, old: tuple, op: str) -> tuple:
    """``shape`` with its one ``-1`` filled in, checked against the ``old`` shape's size.

    Example:
        >>> infer_shape((-1, 3), (2, 3), "reshape")
        (2, 3)
    """
    numel = int(np.prod(old, dtype=np.int64))
    free = [i for i, s in enumerate(shape) if s == -1]
    known = int(np.prod([s for s in shape if s != -1], dtype=np.int64))
    bad = len(free) > 1 or builtins.any(s < -1 for s in shape)
    if not bad and free:
        bad = known == 0 or numel % known != 0
        if not bad:
            shape = shape[: free[0]] + (numel // known,) + shape[free[0] + 1 :]
    if bad or int(np.prod(shape, dtype=np.int64)) != numel:
        raise ValueError(
            f"{op}: shape {shape} is invalid for input of shape {old} ({numel} elements)"
        )
    return shape


def permute(input: Tensor, *dims: Any) -> Tensor:
    """Reorder dimensions.

    Example:
        >>> import chainrule as cr
        >>> cr.permute(cr.zeros(2, 3, 4), (2, 0, 1)).shape
        (4, 2, 3)
    """
    x = _t(input)
    axes = tuple(S.normalize_dim(d, x.ndim, "permute", "dims") for d in _size_arg(dims))
    if len(axes) != x.ndim:
        raise ValueError(
            f"permute: number of dims don't match: got {len(axes)} dims {axes} for a tensor of "
            f"{x.ndim} dimensions (shape {x.shape})"
        )
    if len(set(axes)) != len(axes):
        raise ValueError(f"permute: dims {axes} repeat a dim: duplicate dims are not allowed")
    return S.permute(x, axes)


def transpose(input: Tensor, dim0: int, dim1: int) -> Tensor:
    """Swap two dimensions.

    Example:
        >>> import chainrule as cr
        >>> cr.transpose(cr.zeros(2, 3), 0, 1).shape
        (3, 2)
    """
    x = _t(input)
    d0 = S.normalize_dim(dim0, x.ndim, "transpose", "dim0")
    d1 = S.normalize_dim(dim1, x.ndim, "transpose", "dim1")
    if x.ndim < 2:
        return x
    axes = list(range(x.ndim))
    axes[d0], axes[d1] = axes[d1], axes[d0]
    return S.permute(x, tuple(axes))


swapaxes = transpose


def squeeze(input: Tensor, dim: Any = None) -> Tensor:
    """Remove dimensions of size 1 (all of them, or those in ``dim`` that have size 1).

    Example:
        >>> import chainrule as cr
        >>> cr.squeeze(cr.zeros(1, 2, 1)).shape
        (2,)
    """
    x = _t(input)
    dims = S.normalize_dims(dim, x.ndim, "squeeze")
    shape = tuple(s for i, s in enumerate(x.shape) if not (s == 1 and (dims is None or i in dims)))
    return x if shape == x.shape else S.reshape(x, shape)


def unsqueeze(input: Tensor, dim: int) -> Tensor:
    """Insert a dimension of size 1 at ``dim``.

    Example:
        >>> import chainrule as cr
        >>> cr.unsqueeze(cr.zeros(2), 0).shape
        (1, 2)
    """
    x = _t(input)
    d = S.normalize_dim(dim, x.ndim + 1, "unsqueeze")
    return S.reshape(x, x.shape[:d] + (1,) + x.shape[d:])


def flatten(input: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge dimensions ``start_dim..end_dim`` into one.

    Example:
        >>> import chainrule as cr
        >>> cr.flatten(cr.zeros(2, 3, 4), 1).shape
        (2, 12)
    """
    x = _t(input)
    if x.ndim == 0:
        S.normalize_dim(start_dim, 0, "flatten", "start_dim")
        S.normalize_dim(end_dim, 0, "flatten", "end_dim")
        return S.reshape(x, (1,))
    s = S.normalize_dim(start_dim, x.ndim, "flatten", "start_dim")
    e = S.normalize_dim(end_dim, x.ndim, "flatten", "end_dim")
    if s > e:
        raise ValueError("flatten: start_dim cannot come after end_dim")
    n = int(np.prod(x.shape[s : e + 1], dtype=np.int64))
    return S.reshape(x, x.shape[:s] + (n,) + x.shape[e + 1 :])


def expand(input: Tensor, *sizes: Any) -> Tensor:
    """Broadcast to a larger shape without copying (``-1`` keeps a dimension).

    Example:
        >>> import chainrule as cr
        >>> cr.expand(cr.zeros(3, 1), 3, 4).shape
        (3, 4)
    """
    x = _t(input)
    target = _size_arg(sizes, "expand")
    lead = len(target) - x.ndim
    if lead < 0:
        raise ValueError(f"expand: cannot expand shape {x.shape} to fewer dimensions {target}")
    shape = tuple(
        x.shape[i - lead] if s == -1 and i >= lead else int(s) for i, s in enumerate(target)
    )
    return broadcast_to(x, shape)


def broadcast_to(input: Tensor, shape: Sequence[int]) -> Tensor:
    """Broadcast ``input`` to ``shape`` (NumPy rules).

    Example:
        >>> import chainrule as cr
        >>> cr.broadcast_to(cr.tensor([1.0, 2.0]), (2, 2)).tolist()
        [[1.0, 2.0], [1.0, 2.0]]
    """
    x = _t(input)
    shape = _size_arg((shape,), "broadcast_to")
    try:
        ok = np.broadcast_shapes(x.shape, shape) == shape
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"expand: shape {x.shape} cannot be broadcast to {shape}")
    return x if x.shape == shape else S.expand(x, shape)


def flip(input: Tensor, dims: Any) -> Tensor:
    """Reverse the order of elements along ``dims``.

    Example:
        >>> import chainrule as cr
        >>> cr.flip(cr.tensor([1, 2, 3]), 0)
        tensor([3, 2, 1])
    """
    x = _t(input)
    return S.flip(x, S.normalize_dims(dims, x.ndim, "flip"))


def cat(tensors: Sequence[Tensor], dim: int = 0, *, axis: int | None = None) -> Tensor:
    """Join tensors along an existing dimension.

    Example:
        >>> import chainrule as cr
        >>> cr.cat([cr.zeros(2), cr.ones(1)])
        tensor([0., 0., 1.])
    """
    ts = _common_dtype([_t(t) for t in tensors])
    if not ts:
        raise ValueError("cat: expected a non-empty list of tensors")
    d = S.normalize_dim(dim if axis is None else axis, ts[0].ndim, "cat")
    for i, t in enumerate(ts):
        if (
            t.ndim != ts[0].ndim
            or t.shape[:d] + t.shape[d + 1 :] != ts[0].shape[:d] + ts[0].shape[d + 1 :]
        ):
            raise ValueError(
                f"cat: sizes of tensors must match except in dimension {d}; "
                f"tensor 0 has shape {ts[0].shape} but tensor {i} has shape {t.shape}"
            )
    return S.cat(*ts, axis=d)


def _common_dtype(ts: list) -> list:
    """Cast to one dtype by PyTorch's rule: any float wins over ints and bools (NumPy would
    make float32 with int64 float64)."""
    dtypes = {t._data.dtype for t in ts}
    if len(dtypes) < 2:
        return ts
    floats = [d for d in dtypes if d.kind == "f"]
    target = np.result_type(*floats) if floats else np.result_type(*dtypes)
    return [t if t._data.dtype == target else I.cast(t, dtype=target) for t in ts]


concatenate = cat
concat = cat


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join tensors of equal shape along a new dimension.

    Example:
        >>> import chainrule as cr
        >>> cr.stack([cr.zeros(2), cr.ones(2)]).shape
        (2, 2)
    """
    ts = _common_dtype([_t(t) for t in tensors])
    if not ts:
        raise ValueError("stack: expected a non-empty list of tensors")
    for i, t in enumerate(ts):
        if t.shape != ts[0].shape:
            raise ValueError(
                f"stack: expects each tensor to be equal size, but got {ts[0].shape} at entry 0 "
                f"and {t.shape} at entry {i}"
            )
    d = S.normalize_dim(dim, ts[0].ndim + 1, "stack")
    return S.cat(*[unsqueeze(t, d) for t in ts], axis=d)


def repeat(input: Tensor, *sizes: Any) -> Tensor:
    """Tile ``input``: ``sizes[i]`` copies along dim ``i`` (extra leading sizes add dims).
    The gradient of each element is the sum over its copies.

    Example:
        >>> import chainrule as cr
        >>> cr.tensor([1.0, 2.0]).repeat(2, 2)
        tensor([[1., 2., 1., 2.],
                [1., 2., 1., 2.]])
    """
    x = _t(input)
    reps = tuple(sizes[0]) if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)) else sizes
    if len(reps) < x.ndim:
        raise ValueError(
            f"repeat: got {len(reps)} sizes for a tensor of {x.ndim} dims (shape {x.shape}); "
            f"give at least one per dim"
        )
    if builtins.any(not isinstance(r, (int, np.integer)) or r < 0 for r in reps):
        raise ValueError(f"repeat: sizes must be non-negative integers, got {reps}")
    shape = (1,) * (len(reps) - x.ndim) + x.shape
    x = S.reshape(x, tuple(v for d in shape for v in (1, d)))
    x = S.expand(x, tuple(v for r, d in zip(reps, shape) for v in (r, d)))
    return S.reshape(x, tuple(r * d for r, d in zip(reps, shape)))


def tile(input: Tensor, dims: Sequence[int]) -> Tensor:
    """As :func:`repeat`, but ``dims`` shorter than the tensor's rank is padded with ones.

    Example:
        >>> import chainrule as cr
        >>> cr.tile(cr.ones(2, 2), (3,)).shape
        (2, 6)
    """
    x = _t(input)
    dims = tuple(dims)
    return repeat(x, (1,) * (x.ndim - len(dims)) + dims)


def roll(input: Tensor, shifts: Any, dims: Any = None) -> Tensor:
    """Shift elements along ``dims`` by ``shifts``, wrapping around (flattened when ``dims`` is
    None).

    Example:
        >>> import chainrule as cr
        >>> cr.roll(cr.tensor([1.0, 2.0, 3.0]), 1)
        tensor([3., 1., 2.])
    """
    x = _t(input)
    if dims is None:
        if not isinstance(shifts, (int, np.integer)):
            raise ValueError(f"roll: with dims=None, shifts must be one integer, got {shifts}")
        return S.reshape(roll(S.reshape(x, (-1,)), shifts, 0), x.shape)
    shifts = _size_arg((shifts,), "roll", "shifts")
    dims = (dims,) if not isinstance(dims, (tuple, list)) else tuple(dims)
    if len(shifts) != len(dims):
        raise ValueError(f"roll: shifts {shifts} and dims {dims} must have the same length")
    for shift, dim in zip(shifts, dims):
        d = S.normalize_dim(dim, x.ndim, "roll", "dims")
        n = x.shape[d]
        k = int(shift) % n if n else 0
        if k:
            pre = (slice(None),) * d
            x = cat(
                [I.getitem(x, pre + (slice(n - k, n),)), I.getitem(x, pre + (slice(0, n - k),))], d
            )
    return x


def unbind(input: Tensor, dim: int = 0) -> tuple:
    """The slices along ``dim``, as a tuple of tensors with that dim removed.

    Example:
        >>> import chainrule as cr
        >>> [t.tolist() for t in cr.unbind(cr.tensor([[1.0, 2.0], [3.0, 4.0]]), dim=1)]
        [[1.0, 3.0], [2.0, 4.0]]
    """
    x = _t(input)
    d = S.normalize_dim(dim, x.ndim, "unbind")
    return tuple(I.getitem(x, (slice(None),) * d + (i,)) for i in range(x.shape[d]))


def tril(input: Tensor, diagonal: int = 0) -> Tensor:
    """The lower triangle of the last two dims (elements above ``diagonal`` set to 0).

    Example:
        >>> import chainrule as cr
        >>> cr.tril(cr.ones(2, 2))
        tensor([[1., 0.],
                [1., 1.]])
    """
    return _triangle(input, diagonal, "tril")


def triu(input: Tensor, diagonal: int = 0) -> Tensor:
    """The upper triangle of the last two dims (elements below ``diagonal`` set to 0).

    Example:
        >>> import chainrule as cr
        >>> cr.triu(cr.ones(2, 2))
        tensor([[1., 1.],
                [0., 1.]])
    """
    return _triangle(input, diagonal, "triu")


def _triangle(input: Tensor, diagonal: int, op: str) -> Tensor:
    x = _t(input)
    if x.ndim < 2:
        raise ValueError(f"{op}: needs a tensor of at least 2 dims, got shape {x.shape}")
    xp = _xp_of(x)
    keep = getattr(xp, op)(xp.ones(x.shape[-2:], dtype=bool), diagonal)
    zero = False if x.dtype == np.bool_ else 0
    return E.where(xp.broadcast_to(keep, x.shape), x, zero)


def split(tensor: Tensor, split_size_or_sections: Any, dim: int = 0) -> tuple:
    """Split into pieces of ``split_size`` (the last may be smaller) or of the given sizes.

    Example:
        >>> import chainrule as cr
        >>> [t.shape for t in cr.split(cr.arange(5), 2)]
        [(2,), (2,), (1,)]
    """
    x = _t(tensor)
    d = S.normalize_dim(dim, x.ndim, "split")
    n = x.shape[d]
    if isinstance(split_size_or_sections, int):
        size = split_size_or_sections
        if size <= 0:
            raise ValueError(f"split: split_size must be positive, got {size}")
        sizes = [builtins.min(size, n - s) for s in range(0, n, size)] or [0]
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if builtins.sum(sizes) != n:
            raise ValueError(
                f"split: sizes {sizes} sum to {builtins.sum(sizes)} but dimension {d} has size {n}"
            )
    out, start = [], 0
    for s in sizes:
        out.append(I.getitem(x, (slice(None),) * d + (slice(start, start + s),)))
        start += s
    return tuple(out)


def chunk(input: Tensor, chunks: int, dim: int = 0) -> tuple:
    """Split into ``chunks`` pieces of size ``ceil(n / chunks)`` (fewer if they run out).

    Example:
        >>> import chainrule as cr
        >>> [t.shape for t in cr.chunk(cr.arange(5), 3)]
        [(2,), (2,), (1,)]
    """
    x = _t(input)
    if chunks <= 0:
        raise ValueError(f"chunk: chunks must be positive, got {chunks}")
    n = x.shape[S.normalize_dim(dim, x.ndim, "chunk")]
    return split(x, builtins.max(-(-n // chunks), 1), dim)


def pad(input: Tensor, pad: Sequence[int], mode: str = "constant", value: float = 0.0) -> Tensor:
    """Pad the last ``len(pad)//2`` dimensions; ``pad`` lists (left, right) from the last dim
    backwards, as in PyTorch. Modes: constant, reflect, replicate, circular.

    Example:
        >>> import chainrule as cr
        >>> cr.pad(cr.tensor([1.0, 2.0]), (1, 2))
        tensor([0., 1., 2., 0., 0.])
    """
    x = _t(input)
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ValueError(f"pad: padding {tuple(pad)} does not fit a tensor of shape {x.shape}")
    widths = [(0, 0)] * x.ndim
    for i in range(len(pad) // 2):
        widths[x.ndim - 1 - i] = (int(pad[2 * i]), int(pad[2 * i + 1]))
    for d, ((lo, hi), n) in enumerate(zip(widths, x.shape)):
        if n + lo + hi < 0:
            raise ValueError(
                f"pad: padding {tuple(pad)} would leave dimension {d} of size {n} with "
                f"{n + lo + hi} elements"
            )
    if mode == "constant":
        if builtins.any(lo < 0 or hi < 0 for lo, hi in widths):
            key = tuple(
                slice(builtins.max(-lo, 0), n - builtins.max(-hi, 0))
                for (lo, hi), n in zip(widths, x.shape)
            )
            x = I.getitem(x, key)
            widths = [(builtins.max(lo, 0), builtins.max(hi, 0)) for lo, hi in widths]
        return S.pad(x, tuple(widths), value)
    out = x
    for d, (lo, hi) in enumerate(widths):
        if lo == 0 and hi == 0:
            continue
        n = x.shape[d]
        pos = np.arange(-lo, n + hi)
        if mode == "replicate":
            idx = np.clip(pos, 0, n - 1)
        elif mode == "circular":
            idx = pos % n
        elif mode == "reflect":
            if lo >= n or hi >= n:
                raise ValueError(f"pad: reflect padding {(lo, hi)} must be smaller than size {n}")
            period = 2 * (n - 1)
            idx = np.abs(((pos % period) + period) % period)
            idx = np.where(idx >= n, period - idx, idx)
        else:
            raise ValueError(f"pad: unknown mode {mode!r} (constant, reflect, replicate, circular)")
        out = I.getitem(out, (slice(None),) * d + (idx,))
    return out


# ----- indexing --------------------------------------------------------------------------
def _key(key: Any) -> Any:
    if isinstance(key, Tensor):
        return key._data
    if isinstance(key, tuple):
        return tuple(_key(k) for k in key)
    if isinstance(key, list):
        arr = np.asarray([k._data if isinstance(k, Tensor) else k for k in key])
        return arr.astype(np.int64) if arr.size == 0 else arr
    return key


def getitem(input: Tensor, key: Any) -> Tensor:
    """``input[key]``: slices, integers, None, ..., integer arrays and boolean masks.

    Example:
        >>> import chainrule as cr
        >>> cr.arange(6).reshape(2, 3)[:, [0, 2]]
        tensor([[0, 2],
                [3, 5]])
    """
    k = _key(key)
    try:
        return I.getitem(input, k)
    except IndexError as e:
        raise IndexError(f"index: {e} (tensor of shape {input.shape})") from None


def setitem(input: Tensor, key: Any, value: Any) -> Tensor:
    """A copy of ``input`` with ``input[key] = value``: the out-of-place form of assignment that
    ``x[key] = value`` records. Gradients flow to ``input`` (outside ``key``) and to ``value``.

    Example:
        >>> import chainrule as cr
        >>> cr.functions.setitem(cr.zeros(3), 1, cr.tensor(7.0))
        tensor([0., 7., 0.])
    """
    k = _key(key)
    try:
        return I.setitem(input, value, k)
    except IndexError as e:
        raise IndexError(f"setitem: {e} (tensor of shape {tuple(input.shape)})") from None
    except ValueError as e:
        vshape = tuple(getattr(value, "shape", ()))
        raise ValueError(
            f"setitem: cannot assign a value of shape {vshape} to tensor[{key!r}] of a tensor "
            f"of shape {tuple(input.shape)}: {e}"
        ) from None


def gather(input: Tensor, dim: int, index: Any) -> Tensor:
    """Pick ``input[..., index[i, j], ...]`` along ``dim``; the gradient scatter-adds back.

    Example:
        >>> import chainrule as cr
        >>> cr.gather(cr.tensor([[1.0, 2.0], [3.0, 4.0]]), 1, cr.tensor([[1], [0]]))
        tensor([[2.],
                [3.]])
    """
    x = _t(input)
    idx = _t(index)._data
    if idx.dtype.kind not in "iu":
        raise TypeError(f"gather: index must be an integer tensor, got {idx.dtype}")
    if x.ndim == 0 and idx.ndim == 0:  # as torch: a 0-d tensor gathers from itself
        return S.reshape(gather(S.reshape(x, (1,)), dim, idx.reshape(1)), ())
    d = S.normalize_dim(dim, x.ndim, "gather")
    if idx.ndim != x.ndim:
        raise ValueError(
            f"gather: index has {idx.ndim} dimensions but input has {x.ndim} (shape {x.shape})"
        )
    _check_index(idx, x.shape[d], d, "gather")
    for i in range(x.ndim):
        if i != d and idx.shape[i] > x.shape[i]:
            raise ValueError(
                f"gather: index shape {idx.shape} exceeds input shape {x.shape} at dim {i}"
            )
    if idx.shape[:d] + idx.shape[d + 1 :] != x.shape[:d] + x.shape[d + 1 :]:
        x = I.getitem(
            x, tuple(slice(0, s) if i != d else slice(None) for i, s in enumerate(idx.shape))
        )
    return I.gather(x, d, idx)


def index_select(input: Tensor, dim: int, index: Any) -> Tensor:
    """Select whole slices along ``dim`` at ``index`` (a 1-D integer tensor).

    Example:
        >>> import chainrule as cr
        >>> cr.index_select(cr.arange(6).reshape(2, 3), 1, cr.tensor([2, 0]))
        tensor([[2, 0],
                [5, 3]])
    """
    x = _t(input)
    idx = _t(index)._data
    if idx.ndim > 1 or idx.dtype.kind not in "iu":
        raise TypeError(
            f"index_select: index must be a 1-D integer tensor, got {idx.dtype} {idx.shape}"
        )
    d = S.normalize_dim(dim, x.ndim, "index_select")
    _check_index(idx, x.shape[d] if x.ndim else 1, d, "index_select")
    return getitem(x, (slice(None),) * d + (idx.reshape(-1),))


def _check_index(idx: Any, n: int, d: int, op: str) -> None:
    """Every index in ``[0, n)``: as PyTorch, a negative index is an error, not a count from the
    end (a wrapped index would hide a bug)."""
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        bad = int(idx.min()) if idx.min() < 0 else int(idx.max())
        raise IndexError(
            f"{op}: index out of range: index {bad} for dimension {d} of size {n} (indices must "
            f"lie in [0, {n}))"
        )


def masked_fill(input: Tensor, mask: Any, value: Any) -> Tensor:
    """``input`` with ``value`` where the boolean ``mask`` (broadcast to it) is True. The
    gradient reaches ``input`` where the mask is False, and ``value`` if it is a tensor.

    Example:
        >>> import chainrule as cr
        >>> x = cr.tensor([1.0, 2.0, 3.0])
        >>> cr.masked_fill(x, x > 1.5, 0.0)
        tensor([1., 0., 0.])
    """
    x, m = _t(input), _t(mask)
    if m.dtype != np.bool_:
        raise TypeError(f"masked_fill: mask must be a bool tensor, got {m.dtype}")
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise ValueError(f"masked_fill: value must be a 0-d tensor, got shape {value.shape}")
        v: Any = value if value.dtype == x.dtype else I.cast(value, dtype=x.dtype)
    else:
        v = np.asarray(value).astype(x.dtype)
    try:
        fits = np.broadcast_shapes(m.shape, x.shape) == x.shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(
            f"masked_fill: mask of shape {m.shape} does not broadcast to the input's {x.shape}"
        )
    return E.where(m, v, x)


def einsum(*args: Any) -> Tensor:
    """Einstein summation, as ``torch.einsum``: ``einsum("ij,jk->ik", a, b)``, the list form
    ``einsum("ij,jk", [a, b])`` and the sublist form ``einsum(a, [0, 1], b, [1, 2], [0, 2])``.

    Repeated subscripts take diagonals (``"ii->i"``), subscripts missing from the output are
    summed, ``...`` stands for broadcast dimensions, and without ``->`` the output is the
    subscripts that appear once, in alphabetical order. Runs as one primitive that contracts
    pairs of operands with ``matmul`` along a ``numpy.einsum_path`` order; the gradient of each
    operand is itself an einsum.

    Example:
        >>> import chainrule as cr
        >>> a = cr.tensor([[1.0, 2.0], [3.0, 4.0]])
        >>> cr.einsum("ii", a), cr.einsum("ij,j->i", a, cr.ones(2))
        (tensor(5.), tensor([3., 7.]))
    """
    from .ops import einsum as ES

    if not args:
        raise TypeError("einsum(): must specify the equation string and at least one operand")
    if isinstance(args[0], str):
        equation, ops = args[0], list(args[1:])
        if len(ops) == 1 and isinstance(ops[0], (list, tuple)):
            ops = list(ops[0])
    else:
        equation, ops = ES.sublist_equation(args)
    if not ops:
        raise ValueError("einsum(): must provide at least one operand")
    ts = [_t(o) for o in ops]
    for t in ts[1:]:
        if t.dtype != ts[0].dtype:
            raise TypeError(
                f"einsum(): operands must have the same dtype, got {[str(t.dtype) for t in ts]}"
            )
    spec, shapes = ES.parse(equation, [t.shape for t in ts])
    ts = [t if s is None else S.reshape(t, s) for t, s in zip(ts, shapes)]
    return ES.einsum_p(*ts, spec=spec)


# ----- more of torch's functions ---------------------------------------------------------
def log2(input: Tensor) -> Tensor:
    """Base-2 logarithm; the gradient is ``1 / (x ln 2)``.

    Example:
        >>> import chainrule as cr
        >>> cr.log2(cr.tensor([1.0, 8.0]))
        tensor([0., 3.])
    """
    return E.log2(_float(input))


def log10(input: Tensor) -> Tensor:
    """Base-10 logarithm; the gradient is ``1 / (x ln 10)``.

    Example:
        >>> import chainrule as cr
        >>> cr.log10(cr.tensor([1.0, 100.0]))
        tensor([0., 2.])
    """
    return E.log10(_float(input))


def reciprocal(input: Tensor) -> Tensor:
    """``1 / x`` (integers give the default float dtype, as torch).

    Example:
        >>> import chainrule as cr
        >>> cr.reciprocal(cr.tensor([2.0, 4.0]))
        tensor([0.5 , 0.25])
    """
    x = _float(input)
    return E.div(1.0, x)


def addcmul(input: Any, tensor1: Any, tensor2: Any, *, value: float = 1) -> Tensor:
    """``input + value * tensor1 * tensor2``, broadcasting.

    Example:
        >>> import chainrule as cr
        >>> cr.addcmul(cr.ones(2), cr.tensor([1.0, 2.0]), cr.tensor([3.0, 4.0]), value=0.5)
        tensor([2.5, 5. ])
    """
    prod_ = mul(tensor1, tensor2)
    return add(input, prod_ if value == 1 else mul(prod_, value))


def addcdiv(input: Any, tensor1: Any, tensor2: Any, *, value: float = 1) -> Tensor:
    """``input + value * tensor1 / tensor2``, broadcasting.

    Example:
        >>> import chainrule as cr
        >>> cr.addcdiv(cr.ones(2), cr.tensor([1.0, 2.0]), cr.tensor([4.0, 4.0]), value=2)
        tensor([1.5, 2. ])
    """
    q = div(tensor1, tensor2)
    return add(input, q if value == 1 else mul(q, value))


def cumprod(input: Tensor, dim: int, *, dtype: Any = None) -> Tensor:
    """Running product along ``dim``. The gradient is exact where elements are zero (no division
    by them), as torch's.

    Example:
        >>> import chainrule as cr
        >>> x = cr.tensor([2.0, 0.0, 3.0], requires_grad=True)
        >>> y = cr.cumprod(x, dim=0); y
        tensor([2., 0., 0.], grad_fn=<CumprodBackward>)
        >>> y.sum().backward(); x.grad
        tensor([1., 8., 0.])
    """
    x = _t(input)
    if dtype is not None:
        x = x.to(dtype)
    elif x.dtype.kind in "bi":
        x = I.cast(x, dtype=np.dtype("int64"))
    if x.ndim == 0:
        S.normalize_dim(dim, 1, "cumprod")
        return R.cumprod(S.reshape(x, (1,)), 0).reshape(())
    return R.cumprod(x, S.normalize_dim(dim, x.ndim, "cumprod"))


def _scatter_args(x: Tensor, dim: int, index: Any, src: Any, op: str) -> tuple:
    """Check ``index`` (and ``src``) against ``x`` as torch does; return (dim, index, src)."""
    idx = _t(index)._data
    if idx.dtype.kind not in "iu":
        raise RuntimeError(f"{op}(): Expected dtype int64 for index, got {idx.dtype}")
    if x.ndim == 0 and idx.ndim == 0:
        raise ValueError(f"{op}(): use a 1-element tensor for a 0-d input")
    d = S.normalize_dim(dim, x.ndim, op)
    if idx.size == 0:
        return d, idx, None
    if idx.ndim != x.ndim:
        raise RuntimeError(
            f"{op}(): Index tensor must have the same number of dimensions as self tensor "
            f"(index {tuple(idx.shape)}, self {tuple(x.shape)})"
        )
    for i in range(x.ndim):
        if i != d and idx.shape[i] > x.shape[i]:
            raise RuntimeError(
                f"{op}(): Expected index {tuple(idx.shape)} to be smaller than self "
                f"{tuple(x.shape)} apart from dimension {d}"
            )
    if idx.min() < 0 or idx.max() >= x.shape[d]:
        bad = idx.min() if idx.min() < 0 else idx.max()
        raise IndexError(
            f"{op}(): index {int(bad)} is out of bounds for dimension {d} with size {x.shape[d]}"
        )
    if isinstance(src, Tensor):
        if src.dtype != x.dtype:
            raise RuntimeError(
                f"{op}(): Expected self.dtype to be equal to src.dtype (got {x.dtype} and "
                f"{src.dtype})"
            )
        if src.ndim != x.ndim or any(i > s for i, s in zip(idx.shape, src.shape)):
            raise RuntimeError(
                f"{op}(): Expected index {tuple(idx.shape)} to be smaller than src "
                f"{tuple(src.shape)} in every dimension"
            )
        if src.shape != idx.shape:  # only the corner that index covers is read
            src = I.getitem(src, tuple(slice(0, s) for s in idx.shape))
    else:
        src = np.asarray(_raw(src)).astype(x.dtype).item()
    return d, idx, src


def scatter(
    input: Tensor, dim: int, index: Any, src: Any = None, *, value: Any = None,
    reduce: str | None = None,
) -> Tensor:  # fmt: skip
    """A copy of ``input`` with ``src`` (a tensor, or the number ``value``) written along
    ``dim`` at ``index``: ``out[i][index[i][j]] = src[i][j]`` for ``dim=1``. ``reduce='add'`` or
    ``'multiply'`` combines instead of writing. Differentiable in ``input`` and ``src`` (not with
    ``reduce='multiply'``, as torch).

    Example:
        >>> import chainrule as cr
        >>> cr.scatter(cr.zeros(2, 3), 1, cr.tensor([[2], [0]]), cr.tensor([[5.0], [6.0]]))
        tensor([[0., 0., 5.],
                [6., 0., 0.]])
    """
    x = _t(input)
    if (src is None) == (value is None):
        raise TypeError("scatter(): give exactly one of src (a tensor or number) and value")
    if reduce not in (None, "add", "multiply"):
        raise RuntimeError(f"reduce argument must be either add or multiply, got {reduce!r}")
    d, idx, s = _scatter_args(x, dim, index, value if src is None else src, "scatter")
    if s is None:  # an empty index scatters nothing
        return E.clone(x)
    return I.scatter(x, s, d, idx, reduce)


def scatter_add(input: Tensor, dim: int, index: Any, src: Tensor) -> Tensor:
    """A copy of ``input`` with ``src`` added along ``dim`` at ``index`` (repeated indices add
    up): ``out[i][index[i][j]] += src[i][j]`` for ``dim=1``. Differentiable in both.

    Example:
        >>> import chainrule as cr
        >>> cr.scatter_add(cr.zeros(3), 0, cr.tensor([0, 0, 2]), cr.tensor([1.0, 2.0, 3.0]))
        tensor([3., 0., 3.])
    """
    x = _t(input)
    if not isinstance(src, Tensor):
        raise TypeError(f"scatter_add(): src must be a Tensor, got {type(src).__name__}")
    d, idx, s = _scatter_args(x, dim, index, src, "scatter_add")
    if s is None:
        return E.clone(x)
    return I.scatter(x, s, d, idx, "add")


def masked_select(input: Tensor, mask: Any) -> Tensor:
    """The elements of ``input`` where the boolean ``mask`` is True, as a 1-D tensor (both are
    broadcast to a common shape first, as torch). The gradient flows back to those elements.

    Example:
        >>> import chainrule as cr
        >>> x = cr.tensor([[1.0, 2.0], [3.0, 4.0]])
        >>> cr.masked_select(x, cr.tensor([True, False]))
        tensor([1., 3.])
    """
    x, m = _t(input), _t(mask)
    if m.dtype != np.bool_:
        raise RuntimeError(f"masked_select: expected a bool mask, got {m.dtype}")
    try:
        shape = np.broadcast_shapes(x.shape, m.shape)
    except ValueError:
        raise ValueError(
            f"masked_select: the mask's shape {tuple(m.shape)} and the input's "
            f"{tuple(x.shape)} cannot be broadcast together"
        ) from None
    if x.shape != shape:
        x = S.expand(x, shape)
    mk = m._data if m.shape == shape else E._xp(m._data).broadcast_to(m._data, shape)
    return I.getitem(x, mk)


def narrow(input: Tensor, dim: int, start: Any, length: int) -> Tensor:
    """The slice ``start : start + length`` of ``input`` along ``dim`` (a negative ``start``
    counts from the end), as torch.

    Example:
        >>> import chainrule as cr
        >>> cr.narrow(cr.arange(6).reshape(2, 3), 1, 1, 2)
        tensor([[1, 2],
                [4, 5]])
    """
    x = _t(input)
    if x.ndim == 0:
        raise RuntimeError("narrow() cannot be applied to a 0-dim tensor.")
    d = S.normalize_dim(dim, x.ndim, "narrow")
    size = x.shape[d]
    start = int(start)
    if not -size <= start <= size:
        raise IndexError(f"narrow(): start ({start}) out of range for dimension {d} of size {size}")
    if start < 0:
        start += size
    if length < 0:
        raise RuntimeError("narrow(): length must be non-negative.")
    if start + length > size:
        raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size ({size}).")
    return I.getitem(x, (slice(None),) * d + (slice(start, start + length),))


def t(input: Tensor) -> Tensor:
    """The transpose of a matrix; a 0-d or 1-D tensor is returned as it is (as torch).

    Example:
        >>> import chainrule as cr
        >>> cr.t(cr.arange(6).reshape(2, 3)).shape
        (3, 2)
    """
    x = _t(input)
    if x.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {x.ndim}D")
    return transpose(x, 0, 1) if x.ndim == 2 else x


def numel(input: Tensor) -> int:
    """The number of elements of ``input``.

    Example:
        >>> import chainrule as cr
        >>> cr.numel(cr.zeros(2, 3))
        6
    """
    if not isinstance(input, Tensor):
        raise TypeError(f"numel(): argument 'input' must be Tensor, not {type(input).__name__}")
    return input.numel()


def clone(input: Tensor, *, memory_format: Any = None) -> Tensor:
    """A copy with its own memory; differentiable (the gradient passes through).

    Example:
        >>> import chainrule as cr
        >>> x = cr.ones(2); y = cr.clone(x); _ = y.add_(1); x
        tensor([1., 1.])
    """
    return E.clone(_t(input))


def softmax(input: Tensor, dim: int, dtype: Any = None) -> Tensor:
    """``exp(x) / sum(exp(x))`` along ``dim`` (``torch.softmax``; same as
    ``nn.functional.softmax``).

    Example:
        >>> import chainrule as cr
        >>> cr.softmax(cr.tensor([0.0, 0.0]), dim=0)
        tensor([0.5, 0.5])
    """
    from .nn import functional as F

    return F.softmax(input, dim, dtype=dtype)


def log_softmax(input: Tensor, dim: int, dtype: Any = None) -> Tensor:
    """``log(softmax(x))`` along ``dim``, computed stably (``torch.log_softmax``).

    Example:
        >>> import chainrule as cr
        >>> cr.log_softmax(cr.tensor([0.0, 0.0]), dim=0)
        tensor([-0.6931, -0.6931])
    """
    from .nn import functional as F

    return F.log_softmax(input, dim, dtype=dtype)


def is_tensor(obj: Any) -> bool:
    """True if ``obj`` is a chainrule tensor (a Parameter included).

    Example:
        >>> import chainrule as cr
        >>> cr.is_tensor(cr.zeros(1)), cr.is_tensor([1.0])
        (True, False)
    """
    return isinstance(obj, Tensor)


def is_floating_point(input: Tensor) -> bool:
    """True if ``input``'s dtype is a floating one (float16/32/64).

    Example:
        >>> import chainrule as cr
        >>> cr.is_floating_point(cr.zeros(1)), cr.is_floating_point(cr.arange(2))
        (True, False)
    """
    return input.dtype.kind == "f"


def _int_division(op: str, a: Any, b: Any, fn: Any) -> Tensor | None:
    """``fn`` on the arrays when both operands are integers (exact, no gradient), else None."""
    if not (_is_integral(a) and _is_integral(b)):
        return None
    x, y = _raw(a), _raw(b)
    xp = E._xp(x, y)
    if bool((xp.asarray(y) == 0).any()):
        raise ZeroDivisionError(f"{op}: integer division by zero")
    return Tensor._wrap(fn(xp, x, y))


def remainder(input: Any, other: Any) -> Tensor:
    """``input - floor(input / other) * other``: the remainder with the divisor's sign, as
    Python's ``%`` (and ``Tensor.__mod__``). Differentiable in both for floats.

    Example:
        >>> import chainrule as cr
        >>> cr.remainder(cr.tensor([-3, 5]), 3), cr.tensor([5.5]) % 2
        (tensor([0, 2]), tensor([1.5]))
    """
    a, b = _promote(_operand(input), _operand(other))
    out = _int_division("remainder", a, b, lambda xp, x, y: xp.mod(x, y))
    return out if out is not None else _binary(E.remainder, a, b)


def fmod(input: Any, other: Any) -> Tensor:
    """The remainder with the dividend's sign, as C's ``fmod``. Differentiable for floats.

    Example:
        >>> import chainrule as cr
        >>> cr.fmod(cr.tensor([-3, 5]), 3)
        tensor([0, 2])
        >>> cr.fmod(cr.tensor([-5.5]), 2)
        tensor([-1.5])
    """
    a, b = _promote(_operand(input), _operand(other))
    out = _int_division("fmod", a, b, lambda xp, x, y: xp.fmod(x, y))
    return out if out is not None else _binary(E.fmod, a, b)


def floor_divide(input: Any, other: Any) -> Tensor:
    """``floor(input / other)``, as Python's ``//`` (and ``Tensor.__floordiv__``); integers stay
    integers. The gradient is 0 (a step function).

    Example:
        >>> import chainrule as cr
        >>> cr.tensor([-7, 7]) // 2, cr.floor_divide(cr.tensor([7.5]), 2)
        (tensor([-4,  3]), tensor([3.]))
    """
    a, b = _promote(_operand(input), _operand(other))
    out = _int_division("floor_divide", a, b, lambda xp, x, y: xp.floor_divide(x, y))
    return out if out is not None else E.floor(_binary(E.div, a, b))
