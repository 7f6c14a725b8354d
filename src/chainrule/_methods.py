"""Bind the public functions to :class:`~chainrule.Tensor` as methods and operators."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import creation as C
from . import functions as F
from .backend import array_module
from .ops import elementwise, index
from .ops import shape as S
from .random import default_rng
from .tensor import Tensor, _device_cls, as_device


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


class _Writes:
    """The Tensor methods that call functions of the layers above Tensor (in-place ops,
    assignment, moves and copies): written here, where those layers are imported, and bound to
    Tensor below, so that ``tensor.py`` imports nothing above itself."""

    def to(self, *args: Any, **kwargs: Any) -> Tensor:
        """Move to a device and/or cast to a dtype; differentiable. As torch: ``to(device)``,
        ``to(dtype)``, ``to(device, dtype)``, ``to(other)`` (``other``'s device and dtype), with
        ``device=``, ``dtype=``, ``non_blocking=`` (accepted; copies are synchronous) and
        ``copy=True`` (a new tensor even when nothing changes). A device is a
        :class:`chainrule.device`, a string (``'cpu'``, ``'cuda:0'``) or a GPU index.

        Example:
            >>> import chainrule as cr
            >>> cr.tensor([1, 2]).to(cr.float32).dtype
            dtype('float32')
            >>> x = cr.zeros(2); x.to("cpu") is x, x.to(cr.device("cpu"), copy=True) is x
            (True, False)
        """
        device = kwargs.pop("device", None)
        dtype = kwargs.pop("dtype", None)
        copy = bool(kwargs.pop("copy", False))
        kwargs.pop("non_blocking", None)
        kwargs.pop("memory_format", None)
        if kwargs:
            raise TypeError(f"to() got unexpected keyword arguments {sorted(kwargs)}")
        bools = 0
        for a in args:
            if isinstance(a, Tensor):
                device, dtype = a.device, a.dtype
            elif isinstance(a, bool):  # to(device, dtype, non_blocking, copy)
                bools += 1
                copy = a if bools == 2 else copy
            elif isinstance(a, (str, _device_cls, int)):
                device = a
            elif a is not None:
                dtype = a
        t = self
        if device is not None:
            d = as_device(device)
            here = self.device
            if d.type != here.type or (d.index is not None and d.index != here.index):
                t = index.to_device(t, device=str(d))
        if dtype is not None and np.dtype(dtype) != t.dtype:
            t = index.cast(t, dtype=np.dtype(dtype))
        return t.clone() if copy and t is self else t

    def clone(self) -> Tensor:
        """A copy with its own memory; differentiable."""
        return elementwise.clone(self)

    def _arith_(self, op: str, other: Any) -> Tensor:
        fn = {"add": "__iadd__", "sub": "__isub__", "mul": "__imul__", "div": "__itruediv__"}[op]
        o = other._data if isinstance(other, Tensor) else other
        return self._update(
            f"{op}_", lambda old: getattr(F, op)(old, other), lambda a: getattr(a, fn)(o), other
        )

    def __setitem__(self, key: Any, value: Any) -> None:
        """``x[key] = value``: slices, integers, integer arrays and boolean masks; recorded (and
        differentiable in both ``x`` and ``value``) when either requires grad.

        Example:
            >>> import chainrule as cr
            >>> x = cr.zeros(4)
            >>> x[1:3] = cr.tensor([5.0, 6.0])
            >>> x
            tensor([0., 5., 6., 0.])
        """
        k = F._key(key)
        v = value._data if isinstance(value, Tensor) else value

        def assign(a: Any) -> None:
            try:
                a[k] = v
            except IndexError as e:
                raise IndexError(f"setitem: {e} (tensor of shape {tuple(self.shape)})") from None

        self._update("setitem", lambda old: F.setitem(old, key, value), assign, value)

    def _assign_all(self, op: str, value: Any) -> Tensor:
        v = value._data if isinstance(value, Tensor) else value
        return self._update(
            op, lambda old: F.setitem(old, ..., value), lambda a: a.__setitem__(..., v), value
        )

    def clamp_(self, min: Any = None, max: Any = None) -> Tensor:
        """Clamp into ``[min, max]`` in place."""
        return self._inplace("clamp_", F.clamp, min, max)

    def masked_fill_(self, mask: Any, value: Any) -> Tensor:
        """Set the elements where the boolean ``mask`` is True to ``value``, in place."""
        m = mask._data if isinstance(mask, Tensor) else mask
        v = value._data if isinstance(value, Tensor) else value
        xp = array_module(self._data)
        return self._update(
            "masked_fill_", lambda old: F.masked_fill(old, mask, value),
            lambda a: xp.copyto(a, xp.asarray(v, dtype=a.dtype), where=m), value,
        )  # fmt: skip

    def uniform_(self, a: float = 0.0, b: float = 1.0) -> Tensor:
        """Fill with samples from U(a, b) in place (the global generator)."""
        return self.copy_(Tensor._wrap(default_rng().uniform(a, b, self.shape)))

    def normal_(self, mean: float = 0.0, std: float = 1.0) -> Tensor:
        """Fill with samples from N(mean, std^2) in place (the global generator)."""
        return self.copy_(Tensor._wrap(default_rng().normal(mean, std, self.shape)))


for _name, _fn in vars(_Writes).items():
    if not _name.startswith("__") or _name == "__setitem__":
        METHODS[_name] = _fn
for _name, _fn in METHODS.items():
    setattr(Tensor, _name, _fn)
Tensor.T = property(_T)  # type: ignore[attr-defined]
Tensor.mT = property(_mT)  # type: ignore[attr-defined]
