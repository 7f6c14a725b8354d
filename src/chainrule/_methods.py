"""Bind the public functions to :class:`~chainrule.Tensor` as methods and operators."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import creation as C
from . import functions as F
from .ops import shape as S
from .tensor import Tensor


def _r(fn: Any) -> Any:
    return lambda self, other: fn(other, self)


def _view(self: Tensor, *shape: Any) -> Tensor:
    return F.reshape(self, *shape)


def _transpose(self: Tensor, dim0: int | None = None, dim1: int | None = None) -> Tensor:
    if dim0 is None and dim1 is None:  # NumPy habit: reverse all dims
        return F.permute(self, tuple(reversed(range(self.ndim))))
    return F.transpose(self, dim0, dim1)


def _permute(self: Tensor, *dims: Any) -> Tensor:
    return F.permute(self, *dims)


def _expand(self: Tensor, *sizes: Any) -> Tensor:
    return F.expand(self, *sizes)


def _T(self: Tensor) -> Tensor:  # noqa: N802
    return F.permute(self, tuple(reversed(range(self.ndim)))) if self.ndim > 1 else self


def _mT(self: Tensor) -> Tensor:  # noqa: N802
    return S.mT(self)


def _pow(self: Tensor, exponent: Any) -> Tensor:
    if self.dtype.kind == "b" and isinstance(exponent, int) and not isinstance(exponent, bool):
        return F.pow(self.to(np.int64), exponent)  # bool ** 2 is int64 (NumPy: int8)
    return F.pow(self, exponent)


def _rpow(self: Tensor, base: Any) -> Tensor:
    if isinstance(base, np.generic):
        base = base.item()
    if not isinstance(base, (int, float)):
        return F.pow(base, self)
    x = self
    if isinstance(base, float) and x.dtype.kind in "iub":  # 2.5 ** int tensor is float
        x = x.to(F.get_default_dtype())
    elif x.dtype.kind == "b":  # 2 ** bool tensor is int64, not bool
        x = x.to(np.int64)
    return F.pow(F.as_tensor(base, dtype=x.dtype), x)


def _abs(self: Tensor) -> Tensor:
    return F.abs(self)


def _new_tensor(data: Any, dtype: Any, requires_grad: bool = False) -> Tensor:
    from .tensor import tensor

    return tensor(data, dtype=dtype, requires_grad=requires_grad)


def _softmax(self: Tensor, dim: int, dtype: Any = None) -> Tensor:
    from .nn import functional as NF

    return NF.softmax(self, dim, dtype=dtype)


def _log_softmax(self: Tensor, dim: int, dtype: Any = None) -> Tensor:
    from .nn import functional as NF

    return NF.log_softmax(self, dim, dtype=dtype)


METHODS = {
    # operators
    "__add__": F.add, "__radd__": _r(F.add), "__sub__": F.sub, "__rsub__": _r(F.sub),
    "__mul__": F.mul, "__rmul__": _r(F.mul), "__truediv__": F.div, "__rtruediv__": _r(F.div),
    "__pow__": _pow, "__rpow__": _rpow, "__matmul__": F.matmul, "__rmatmul__": _r(F.matmul),
    "__neg__": F.neg, "__pos__": lambda self: self, "__abs__": _abs,
    "__eq__": F.eq, "__ne__": F.ne, "__lt__": F.lt, "__le__": F.le, "__gt__": F.gt,
    "__ge__": F.ge, "__and__": F.logical_and, "__or__": F.logical_or,
    "__invert__": F.logical_not, "__getitem__": F.getitem,
    # methods with PyTorch's names
    "add": F.add, "sub": F.sub, "mul": F.mul, "div": F.div, "neg": F.neg, "pow": F.pow,
    "matmul": F.matmul, "mm": F.mm, "exp": F.exp, "log": F.log, "log1p": F.log1p,
    "expm1": F.expm1, "sqrt": F.sqrt, "rsqrt": F.rsqrt, "abs": F.abs, "sign": F.sign,
    "sin": F.sin, "cos": F.cos, "tanh": F.tanh, "sigmoid": F.sigmoid, "relu": F.relu,
    "square": F.square, "clamp": F.clamp, "clip": F.clamp, "maximum": F.maximum,
    "minimum": F.minimum, "eq": F.eq, "ne": F.ne, "lt": F.lt, "le": F.le, "gt": F.gt,
    "ge": F.ge, "isnan": F.isnan, "logical_not": F.logical_not, "sum": F.sum, "mean": F.mean,
    "var": F.var, "std": F.std, "amax": F.amax, "amin": F.amin, "max": F.max, "min": F.min,
    "argmax": F.argmax, "argmin": F.argmin, "logsumexp": F.logsumexp, "reshape": F.reshape,
    "view": _view, "permute": _permute, "transpose": _transpose, "swapaxes": F.transpose,
    "squeeze": F.squeeze, "unsqueeze": F.unsqueeze, "flatten": F.flatten, "expand": _expand,
    "broadcast_to": F.broadcast_to, "flip": F.flip, "split": F.split, "chunk": F.chunk,
    "gather": F.gather, "index_select": F.index_select,
    "expand_as": lambda self, other: F.broadcast_to(self, other.shape),
    "view_as": lambda self, other: F.reshape(self, other.shape),
    "reshape_as": lambda self, other: F.reshape(self, other.shape),
    "cumsum": F.cumsum, "sort": F.sort, "argsort": F.argsort, "topk": F.topk,
    "repeat": F.repeat, "tile": F.tile, "roll": F.roll, "unbind": F.unbind, "tril": F.tril,
    "triu": F.triu, "masked_fill": F.masked_fill, "bmm": F.bmm, "dot": F.dot, "outer": F.outer,
    "floor": F.floor, "ceil": F.ceil, "round": F.round, "trunc": F.trunc, "isinf": F.isinf,
    "isfinite": F.isfinite, "softmax": _softmax, "log_softmax": _log_softmax,
    "where": lambda self, condition, other: F.where(condition, self, other),
    "prod": F.prod, "norm": F.norm, "equal": F.equal, "allclose": F.allclose,
    "nonzero": F.nonzero, "argwhere": F.argwhere, "count_nonzero": F.count_nonzero,
    "lerp": F.lerp, "diagonal": F.diagonal,
    "addmm": lambda self, mat1, mat2, *, beta=1, alpha=1: F.addmm(self, mat1, mat2, beta=beta,
                                                                   alpha=alpha),
    "clamp_min": lambda self, min: F.clamp(self, min=min),
    "clamp_max": lambda self, max: F.clamp(self, max=max),
    "type_as": lambda self, other: self.to(other.dtype),
    "int": lambda self: self.to(np.int32),
    "new_zeros": lambda self, *size, dtype=None, requires_grad=False, device=None: C.zeros(
        *size, dtype=dtype or self.dtype, requires_grad=requires_grad,
        device=self.device if device is None else device),
    "new_ones": lambda self, *size, dtype=None, requires_grad=False, device=None: C.ones(
        *size, dtype=dtype or self.dtype, requires_grad=requires_grad,
        device=self.device if device is None else device),
    "new_empty": lambda self, *size, dtype=None, requires_grad=False, device=None: C.zeros(
        *size, dtype=dtype or self.dtype, requires_grad=requires_grad,
        device=self.device if device is None else device),
    "new_full": lambda self, size, fill_value, dtype=None, requires_grad=False, device=None:
        C.full(size, fill_value, dtype=dtype or self.dtype, requires_grad=requires_grad,
               device=self.device if device is None else device),
    "new_tensor": lambda self, data, dtype=None, requires_grad=False: _new_tensor(
        data, dtype or self.dtype, requires_grad),
    "all": lambda self: Tensor._wrap(np.asarray(self._data.all())),
    "any": lambda self: Tensor._wrap(np.asarray(self._data.any())),
}  # fmt: skip


def _scatter(self: Tensor, dim: int, index: Any, src: Any = None, value: Any = None,
             *, reduce: str | None = None) -> Tensor:  # fmt: skip
    if src is not None and not isinstance(src, Tensor):  # scatter(dim, index, 2.0): a value
        src, value = None, src
    return F.scatter(self, dim, index, src, value=value, reduce=reduce)


def _inplace_method(name: str, fn: Any, other_at: int | None = None) -> Any:
    """``Tensor.<name>_``: ``fn(self, ...)`` written back into self by ``Tensor._inplace``;
    ``other_at`` is the position of the argument that may be a tensor requiring grad."""

    def method(self: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        other = args[other_at] if other_at is not None and len(args) > other_at else None
        return self._inplace(name, fn, *args, other=other, **kwargs)

    method.__name__ = name
    method.__doc__ = f"In-place ``{name[:-1]}``: ``self = {name[:-1]}(self, ...)``; returns self."
    return method


# In-place math methods, all through the one helper (Tensor._inplace, hence Tensor._update).
INPLACE = {
    "exp_": F.exp, "expm1_": F.expm1, "log_": F.log, "log1p_": F.log1p, "log2_": F.log2,
    "log10_": F.log10, "sqrt_": F.sqrt, "rsqrt_": F.rsqrt, "abs_": F.abs, "neg_": F.neg,
    "sign_": F.sign, "sin_": F.sin, "cos_": F.cos, "tanh_": F.tanh, "sigmoid_": F.sigmoid,
    "square_": F.square, "reciprocal_": F.reciprocal, "floor_": F.floor, "ceil_": F.ceil,
    "round_": F.round, "trunc_": F.trunc,
    "clamp_min_": lambda x, min: F.clamp(x, min=min),
    "clamp_max_": lambda x, max: F.clamp(x, max=max),
    "clip_": F.clamp,
}  # fmt: skip
INPLACE_WITH_TENSOR = {  # name: (function, position of the tensor argument)
    "pow_": (F.pow, 0), "lerp_": (F.lerp, 0), "addcmul_": (F.addcmul, 0),
    "addcdiv_": (F.addcdiv, 0), "scatter_": (_scatter, 2), "scatter_add_": (F.scatter_add, 2),
    "remainder_": (F.remainder, 0), "fmod_": (F.fmod, 0), "floor_divide_": (F.floor_divide, 0),
}  # fmt: skip
METHODS.update({
    "nelement": Tensor.numel, "t": F.t, "log2": F.log2, "log10": F.log10,
    "reciprocal": F.reciprocal, "cumprod": F.cumprod, "scatter": _scatter,
    "scatter_add": F.scatter_add, "masked_select": F.masked_select, "narrow": F.narrow,
    "addcmul": F.addcmul, "addcdiv": F.addcdiv, "is_floating_point": F.is_floating_point,
    "multinomial": lambda self, num_samples, replacement=False, *, generator=None:
        C.multinomial(self, num_samples, replacement, generator=generator),
    "element_size": lambda self: int(self.dtype.itemsize), "true_divide": F.div,
    "remainder": F.remainder, "fmod": F.fmod, "floor_divide": F.floor_divide,
    "__mod__": F.remainder, "__rmod__": _r(F.remainder), "__floordiv__": F.floor_divide,
    "__rfloordiv__": _r(F.floor_divide),
})  # fmt: skip
METHODS.update({name: _inplace_method(name, fn) for name, fn in INPLACE.items()})
METHODS.update({n: _inplace_method(n, fn, at) for n, (fn, at) in INPLACE_WITH_TENSOR.items()})

for _name, _fn in METHODS.items():
    setattr(Tensor, _name, _fn)
Tensor.T = property(_T)  # type: ignore[attr-defined]
Tensor.mT = property(_mT)  # type: ignore[attr-defined]
