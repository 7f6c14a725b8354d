"""Bind the public functions to :class:`~chainrule.Tensor` as methods and operators."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import creation, functions
from .backend import array_module
from .ops import elementwise, index
from .ops import shape as S
from .random import default_rng
from .tensor import Tensor, _device_cls, as_device


def _r(fn: Any) -> Any:
    return lambda self, other: fn(other, self)


def _view(self: Tensor, *shape: Any) -> Tensor:
    return functions.reshape(self, *shape)


def _transpose(self: Tensor, dim0: int | None = None, dim1: int | None = None) -> Tensor:
    if dim0 is None and dim1 is None:  # NumPy habit: reverse all dims
        return functions.permute(self, tuple(reversed(range(self.ndim))))
    return functions.transpose(self, dim0, dim1)


def _permute(self: Tensor, *dims: Any) -> Tensor:
    return functions.permute(self, *dims)


def _expand(self: Tensor, *sizes: Any) -> Tensor:
    return functions.expand(self, *sizes)


def _T(self: Tensor) -> Tensor:  # noqa: N802
    return functions.permute(self, tuple(reversed(range(self.ndim)))) if self.ndim > 1 else self


def _mT(self: Tensor) -> Tensor:  # noqa: N802
    return S.mT(self)


def _pow(self: Tensor, exponent: Any) -> Tensor:
    if self.dtype.kind == "b" and isinstance(exponent, int) and not isinstance(exponent, bool):
        return functions.pow(self.to(np.int64), exponent)  # bool ** 2 is int64 (NumPy: int8)
    return functions.pow(self, exponent)


def _rpow(self: Tensor, base: Any) -> Tensor:
    if isinstance(base, np.generic):
        base = base.item()
    if not isinstance(base, (int, float)):
        return functions.pow(base, self)
    x = self
    if isinstance(base, float) and x.dtype.kind in "iub":  # 2.5 ** int tensor is float
        x = x.to(functions.get_default_dtype())
    elif x.dtype.kind == "b":  # 2 ** bool tensor is int64, not bool
        x = x.to(np.int64)
    return functions.pow(functions.as_tensor(base, dtype=x.dtype), x)


def _abs(self: Tensor) -> Tensor:
    return functions.abs(self)


def _new_tensor(data: Any, dtype: Any, requires_grad: bool = False) -> Tensor:
    from .tensor import tensor

    return tensor(data, dtype=dtype, requires_grad=requires_grad)


def _softmax(self: Tensor, dim: int, dtype: Any = None) -> Tensor:
    from .nn import functional as F

    return F.softmax(self, dim, dtype=dtype)


def _log_softmax(self: Tensor, dim: int, dtype: Any = None) -> Tensor:
    from .nn import functional as F

    return F.log_softmax(self, dim, dtype=dtype)


METHODS = {
    # operators
    "__add__": functions.add,
    "__radd__": _r(functions.add),
    "__sub__": functions.sub,
    "__rsub__": _r(functions.sub),
    "__mul__": functions.mul,
    "__rmul__": _r(functions.mul),
    "__truediv__": functions.div,
    "__rtruediv__": _r(functions.div),
    "__pow__": _pow,
    "__rpow__": _rpow,
    "__matmul__": functions.matmul,
    "__rmatmul__": _r(functions.matmul),
    "__neg__": functions.neg,
    "__pos__": lambda self: self,
    "__abs__": _abs,
    "__eq__": functions.eq,
    "__ne__": functions.ne,
    "__lt__": functions.lt,
    "__le__": functions.le,
    "__gt__": functions.gt,
    "__ge__": functions.ge,
    "__and__": functions.logical_and,
    "__or__": functions.logical_or,
    "__invert__": functions.logical_not,
    "__getitem__": functions.getitem,
    # methods with PyTorch's names
    "add": functions.add,
    "sub": functions.sub,
    "mul": functions.mul,
    "div": functions.div,
    "neg": functions.neg,
    "pow": functions.pow,
    "matmul": functions.matmul,
    "mm": functions.mm,
    "exp": functions.exp,
    "log": functions.log,
    "log1p": functions.log1p,
    "expm1": functions.expm1,
    "sqrt": functions.sqrt,
    "rsqrt": functions.rsqrt,
    "abs": functions.abs,
    "sign": functions.sign,
    "sin": functions.sin,
    "cos": functions.cos,
    "tanh": functions.tanh,
    "sigmoid": functions.sigmoid,
    "relu": functions.relu,
    "square": functions.square,
    "clamp": functions.clamp,
    "clip": functions.clamp,
    "maximum": functions.maximum,
    "minimum": functions.minimum,
    "eq": functions.eq,
    "ne": functions.ne,
    "lt": functions.lt,
    "le": functions.le,
    "gt": functions.gt,
    "ge": functions.ge,
    "isnan": functions.isnan,
    "logical_not": functions.logical_not,
    "sum": functions.sum,
    "mean": functions.mean,
    "var": functions.var,
    "std": functions.std,
    "amax": functions.amax,
    "amin": functions.amin,
    "max": functions.max,
    "min": functions.min,
    "argmax": functions.argmax,
    "argmin": functions.argmin,
    "logsumexp": functions.logsumexp,
    "reshape": functions.reshape,
    "view": _view,
    "permute": _permute,
    "transpose": _transpose,
    "swapaxes": functions.transpose,
    "squeeze": functions.squeeze,
    "unsqueeze": functions.unsqueeze,
    "flatten": functions.flatten,
    "expand": _expand,
    "broadcast_to": functions.broadcast_to,
    "flip": functions.flip,
    "split": functions.split,
    "chunk": functions.chunk,
    "gather": functions.gather,
    "index_select": functions.index_select,
    "expand_as": lambda self, other: functions.broadcast_to(self, other.shape),
    "view_as": lambda self, other: functions.reshape(self, other.shape),
    "reshape_as": lambda self, other: functions.reshape(self, other.shape),
    "cumsum": functions.cumsum,
    "sort": functions.sort,
    "argsort": functions.argsort,
    "topk": functions.topk,
    "repeat": functions.repeat,
    "tile": functions.tile,
    "roll": functions.roll,
    "unbind": functions.unbind,
    "tril": functions.tril,
    "triu": functions.triu,
    "masked_fill": functions.masked_fill,
    "bmm": functions.bmm,
    "dot": functions.dot,
    "outer": functions.outer,
    "floor": functions.floor,
    "ceil": functions.ceil,
    "round": functions.round,
    "trunc": functions.trunc,
    "isinf": functions.isinf,
    "isfinite": functions.isfinite,
    "softmax": _softmax,
    "log_softmax": _log_softmax,
    "where": lambda self, condition, other: functions.where(condition, self, other),
    "prod": functions.prod,
    "norm": functions.norm,
    "equal": functions.equal,
    "allclose": functions.allclose,
    "nonzero": functions.nonzero,
    "argwhere": functions.argwhere,
    "count_nonzero": functions.count_nonzero,
    "lerp": functions.lerp,
    "diagonal": functions.diagonal,
    "addmm": lambda self, mat1, mat2, *, beta=1, alpha=1: functions.addmm(
        self, mat1, mat2, beta=beta, alpha=alpha
    ),
    "clamp_min": lambda self, min: functions.clamp(self, min=min),
    "clamp_max": lambda self, max: functions.clamp(self, max=max),
    "type_as": lambda self, other: self.to(other.dtype),
    "int": lambda self: self.to(np.int32),
    "new_zeros": lambda self, *size, dtype=None, requires_grad=False, device=None: creation.zeros(
        *size,
        dtype=dtype or self.dtype,
        requires_grad=requires_grad,
        device=self.device if device is None else device,
    ),
    "new_ones": lambda self, *size, dtype=None, requires_grad=False, device=None: creation.ones(
        *size,
        dtype=dtype or self.dtype,
        requires_grad=requires_grad,
        device=self.device if device is None else device,
    ),
    "new_empty": lambda self, *size, dtype=None, requires_grad=False, device=None: creation.zeros(
        *size,
        dtype=dtype or self.dtype,
        requires_grad=requires_grad,
        device=self.device if device is None else device,
    ),
    "new_full": lambda self, size, fill_value, dtype=None, requires_grad=False, device=None: (
        creation.full(
            size,
            fill_value,
            dtype=dtype or self.dtype,
            requires_grad=requires_grad,
            device=self.device if device is None else device,
        )
    ),
    "new_tensor": lambda self, data, dtype=None, requires_grad=False: _new_tensor(
        data, dtype or self.dtype, requires_grad
    ),
    "all": lambda self: Tensor._wrap(np.asarray(self._data.all())),
    "any": lambda self: Tensor._wrap(np.asarray(self._data.any())),
}


def _scatter(self: Tensor, dim: int, index: Any, src: Any = None, value: Any = None,
             *, reduce: str | None = None) -> Tensor:  # fmt: skip
    if src is not None and not isinstance(src, Tensor):  # scatter(dim, index, 2.0): a value
        src, value = None, src
    return functions.scatter(self, dim, index, src, value=value, reduce=reduce)


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
    "exp_": functions.exp,
    "expm1_": functions.expm1,
    "log_": functions.log,
    "log1p_": functions.log1p,
    "log2_": functions.log2,
    "log10_": functions.log10,
    "sqrt_": functions.sqrt,
    "rsqrt_": functions.rsqrt,
    "abs_": functions.abs,
    "neg_": functions.neg,
    "sign_": functions.sign,
    "sin_": functions.sin,
    "cos_": functions.cos,
    "tanh_": functions.tanh,
    "sigmoid_": functions.sigmoid,
    "square_": functions.square,
    "reciprocal_": functions.reciprocal,
    "floor_": functions.floor,
    "ceil_": functions.ceil,
    "round_": functions.round,
    "trunc_": functions.trunc,
    "clamp_min_": lambda x, min: functions.clamp(x, min=min),
    "clamp_max_": lambda x, max: functions.clamp(x, max=max),
    "clip_": functions.clamp,
}
INPLACE_WITH_TENSOR = {  # name: (function, position of the tensor argument)
    "pow_": (functions.pow, 0),
    "lerp_": (functions.lerp, 0),
    "addcmul_": (functions.addcmul, 0),
    "addcdiv_": (functions.addcdiv, 0),
    "scatter_": (_scatter, 2),
    "scatter_add_": (functions.scatter_add, 2),
    "remainder_": (functions.remainder, 0),
    "fmod_": (functions.fmod, 0),
    "floor_divide_": (functions.floor_divide, 0),
}
METHODS.update(
    {
        "nelement": Tensor.numel,
        "t": functions.t,
        "log2": functions.log2,
        "log10": functions.log10,
        "reciprocal": functions.reciprocal,
        "cumprod": functions.cumprod,
        "scatter": _scatter,
        "scatter_add": functions.scatter_add,
        "masked_select": functions.masked_select,
        "narrow": functions.narrow,
        "addcmul": functions.addcmul,
        "addcdiv": functions.addcdiv,
        "is_floating_point": functions.is_floating_point,
        "multinomial": lambda self, num_samples, replacement=False, *, generator=None: (
            creation.multinomial(self, num_samples, replacement, generator=generator)
        ),
        "element_size": lambda self: int(self.dtype.itemsize),
        "true_divide": functions.div,
        "remainder": functions.remainder,
        "fmod": functions.fmod,
        "floor_divide": functions.floor_divide,
        "__mod__": functions.remainder,
        "__rmod__": _r(functions.remainder),
        "__floordiv__": functions.floor_divide,
        "__rfloordiv__": _r(functions.floor_divide),
    }
)
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
            f"{op}_",
            lambda old: getattr(functions, op)(old, other),
            lambda a: getattr(a, fn)(o),
            other,
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
        k = functions._key(key)
        v = value._data if isinstance(value, Tensor) else value

        def assign(a: Any) -> None:
            try:
                a[k] = v
            except IndexError as e:
                raise IndexError(f"setitem: {e} (tensor of shape {tuple(self.shape)})") from None

        self._update("setitem", lambda old: functions.setitem(old, key, value), assign, value)

    def _assign_all(self, op: str, value: Any) -> Tensor:
        v = value._data if isinstance(value, Tensor) else value
        return self._update(
            op,
            lambda old: functions.setitem(old, ..., value),
            lambda a: a.__setitem__(..., v),
            value,
        )

    def clamp_(self, min: Any = None, max: Any = None) -> Tensor:
        """Clamp into ``[min, max]`` in place."""
        return self._inplace("clamp_", functions.clamp, min, max)

    def masked_fill_(self, mask: Any, value: Any) -> Tensor:
        """Set the elements where the boolean ``mask`` is True to ``value``, in place."""
        m = mask._data if isinstance(mask, Tensor) else mask
        v = value._data if isinstance(value, Tensor) else value
        xp = array_module(self._data)
        return self._update(
            "masked_fill_", lambda old: functions.masked_fill(old, mask, value),
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
