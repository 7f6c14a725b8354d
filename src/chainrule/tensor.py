"""``Tensor``: an array, the gradient that backward leaves in ``.grad``, and the node that made it.

Operators and methods call the primitives in :mod:`chainrule.ops`; the graph they record is run
backwards by :mod:`chainrule.autograd.engine`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import dtypes
from .autograd.grad_mode import STATE
from .backend import array_module, device_of, to_device


def _convert(data: Any, dtype: Any = None) -> Any:
    """Array for ``data``: Python floats become the default float dtype, as in PyTorch."""
    if isinstance(data, Tensor):
        arr = data._data
        return arr if dtype is None else arr.astype(dtype, copy=False)
    if dtype is not None:
        xp = array_module(data)
        return xp.asarray(data, dtype=np.dtype(dtype))
    if type(data).__module__.startswith("cupy"):
        return data
    if isinstance(data, np.ndarray):
        return data
    if isinstance(data, np.generic):
        return np.asarray(data)
    try:
        arr = np.asarray(data)
    except ValueError as e:  # ragged nested lists
        raise ValueError(f"tensor: cannot make a tensor from {type(data).__name__}: {e}") from None
    if arr.dtype == np.float64:
        arr = arr.astype(dtypes.get_default_dtype())
    elif arr.dtype.kind in "iu":
        arr = arr.astype(np.int64)
    elif arr.dtype.kind in "OUSVMm":  # objects, strings, dates: not numbers
        raise TypeError(f"tensor: cannot make a tensor from {type(data).__name__} data")
    return arr


class Tensor:
    """An n-dimensional array that records the operations applied to it.

    Example:
        >>> import chainrule as cr
        >>> w = cr.tensor([2.0, -3.0], requires_grad=True)
        >>> loss = (w * w).sum()
        >>> loss.backward()
        >>> w.grad
        tensor([ 4., -6.])
    """

    __slots__ = ("_data", "grad", "_requires_grad", "_node", "_retains_grad", "__weakref__")
    __array_ufunc__ = None  # let `ndarray * Tensor` reach Tensor.__rmul__
    __array_priority__ = 1000

    def __init__(self, data: Any, dtype: Any = None, requires_grad: bool = False) -> None:
        self._data = _convert(data, dtype)
        self.grad: Tensor | None = None
        self._node = None
        self._retains_grad = False
        self._requires_grad = False
        if requires_grad:
            self.requires_grad = True

    @classmethod
    def _wrap(cls, arr: Any) -> Tensor:
        t = object.__new__(Tensor)
        t._data = arr
        t.grad = None
        t._requires_grad = False
        t._node = None
        t._retains_grad = False
        return t

    # ----- autograd state -------------------------------------------------------------
    @property
    def requires_grad(self) -> bool:
        """Whether gradients flow to this tensor."""
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if value and self._data.dtype.kind not in "fc":
            raise RuntimeError(
                f"only tensors of floating point dtype can require gradients, got {self.dtype}"
            )
        if not value and self._node is not None:
            raise RuntimeError(
                "you can only change requires_grad flags of leaf variables; use .detach()"
            )
        self._requires_grad = bool(value)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set ``requires_grad`` in place and return self."""
        self.requires_grad = requires_grad
        return self

    @property
    def grad_fn(self) -> Any:
        """The node that made this tensor (``None`` for leaves)."""
        return self._node

    @property
    def is_leaf(self) -> bool:
        """True for tensors not made by a recorded op (user-made tensors, parameters)."""
        return self._node is None

    def retain_grad(self) -> None:
        """Keep ``.grad`` for this non-leaf tensor after backward."""
        if not self.requires_grad:
            raise RuntimeError("can't retain_grad on a tensor that does not require grad")
        self._retains_grad = True

    @property
    def retains_grad(self) -> bool:
        """True if this non-leaf tensor keeps its ``.grad``."""
        return self._retains_grad

    def detach(self) -> Tensor:
        """A tensor sharing this one's data, cut from the graph."""
        return Tensor._wrap(self._data)

    def detach_(self) -> Tensor:
        """Cut this tensor from the graph in place."""
        self._node = None
        self._requires_grad = False
        return self

    @property
    def data(self) -> Tensor:
        """This tensor's data as a tensor outside the graph (shares memory)."""
        return Tensor._wrap(self._data)

    @data.setter
    def data(self, value: Any) -> None:
        self._data = value._data if isinstance(value, Tensor) else _convert(value)

    def backward(
        self,
        gradient: Any = None,
        retain_graph: bool | None = None,
        create_graph: bool = False,
        inputs: Any = None,
    ) -> None:
        """Back-propagate from this tensor, seeding ``gradient`` (1.0 for a scalar).

        Example:
            >>> import chainrule as cr
            >>> x = cr.tensor(3.0, requires_grad=True)
            >>> (x * x).backward(); x.grad
            tensor(6.)
        """
        from .autograd.engine import backward

        backward(self, gradient, retain_graph, create_graph, inputs)

    # ----- array facts ---------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        """The size of each dimension."""
        return self._data.shape

    @property
    def ndim(self) -> int:
        """The number of dimensions."""
        return self._data.ndim

    @property
    def dtype(self) -> np.dtype:
        """The element type (a NumPy dtype, e.g. ``chainrule.float32``)."""
        return self._data.dtype

    @property
    def device(self) -> str:
        """``'cpu'`` or ``'cuda'``."""
        return device_of(self._data)

    def dim(self) -> int:
        """The number of dimensions."""
        return self._data.ndim

    def size(self, dim: int | None = None) -> Any:
        """The shape, or the size of dimension ``dim``."""
        return self._data.shape if dim is None else self._data.shape[dim]

    def numel(self) -> int:
        """The number of elements."""
        return int(self._data.size)

    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def item(self) -> Any:
        """The value of a one-element tensor as a Python number."""
        if self._data.size != 1:
            raise RuntimeError(
                f"item: a Tensor with {self._data.size} elements cannot be converted to Scalar"
            )
        return self._data.item()

    def tolist(self) -> Any:
        """The data as (nested) Python lists."""
        return to_device(self._data, "cpu").tolist()

    def numpy(self) -> np.ndarray:
        """The data as a NumPy array (shares memory on the CPU)."""
        if self.requires_grad:
            raise RuntimeError(
                "Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy()"
            )
        return to_device(self._data, "cpu")

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        arr = to_device(self._data, "cpu")
        return arr if dtype is None else arr.astype(dtype)

    def to(self, *args: Any, **kwargs: Any) -> Tensor:
        """Move to a device (``'cpu'``, ``'cuda'``) and/or cast to a dtype; differentiable.

        Example:
            >>> import chainrule as cr
            >>> cr.tensor([1, 2]).to(cr.float32).dtype
            dtype('float32')
        """
        from .ops import index

        device = kwargs.pop("device", None)
        dtype = kwargs.pop("dtype", None)
        for a in args:
            if isinstance(a, str):
                device = a
            else:
                dtype = a
        t = self
        if device is not None and str(device).split(":")[0] != self.device:
            t = index.to_device(t, device=str(device).split(":")[0])
        if dtype is not None and np.dtype(dtype) != t.dtype:
            t = index.cast(t, dtype=np.dtype(dtype))
        return t

    def cpu(self) -> Tensor:
        """This tensor on the CPU."""
        return self.to("cpu")

    def cuda(self) -> Tensor:
        """This tensor on the GPU (needs CuPy)."""
        return self.to("cuda")

    def float(self) -> Tensor:
        """Cast to float32."""
        return self.to(dtypes.float32)

    def double(self) -> Tensor:
        """Cast to float64."""
        return self.to(dtypes.float64)

    def long(self) -> Tensor:
        """Cast to int64."""
        return self.to(dtypes.int64)

    def bool(self) -> Tensor:
        """Cast to bool."""
        return self.to(dtypes.bool_)

    def type(self, dtype: Any) -> Tensor:
        """Cast to ``dtype``."""
        return self.to(dtype)

    def clone(self) -> Tensor:
        """A copy with its own memory; differentiable."""
        from .ops import elementwise

        return elementwise.clone(self)

    def contiguous(self) -> Tensor:
        """This tensor (arrays are made contiguous where an op needs it)."""
        return self

    # ----- display --------------------------------------------------------------------
    def __repr__(self) -> str:
        arr = to_device(self._data, "cpu")
        body = np.array2string(arr, separator=", ", prefix="tensor(", precision=4)
        extra = []
        if arr.dtype not in (dtypes.float32, dtypes.int64, dtypes.bool_):
            extra.append(f"dtype={arr.dtype}")
        if self.device != "cpu":
            extra.append(f"device='{self.device}'")
        if self._node is not None:
            extra.append(f"grad_fn=<{self._node.name()}>")
        elif self.requires_grad:
            extra.append("requires_grad=True")
        return "tensor(" + ", ".join([body, *extra]) + ")"

    def __hash__(self) -> int:
        return id(self)

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise RuntimeError(
                f"Boolean value of Tensor with {self._data.size} values is ambiguous"
            )
        return bool(self._data)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self._data.dtype.kind not in "iub" or self._data.size != 1:
            raise TypeError("only integer tensors of a single element can be used as an index")
        return int(self._data.item())

    def __iter__(self) -> Any:
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self._data.shape[0]))

    # ----- in-place ------------------------------------------------------------------
    def _inplace(self, op: str, other: Any) -> Tensor:
        from . import ops

        if STATE.enabled and (
            self.requires_grad or (isinstance(other, Tensor) and other.requires_grad)
        ):
            if self.is_leaf and self.requires_grad:
                raise RuntimeError(
                    f"a leaf Variable that requires grad is being used in an in-place "
                    f"operation ({op}); wrap the update in chainrule.no_grad()"
                )
            return getattr(ops, op)(self, other)  # out of place, and the name is rebound
        o = other._data if isinstance(other, Tensor) else other
        fn = {"add": "__iadd__", "sub": "__isub__", "mul": "__imul__", "div": "__itruediv__"}
        try:
            getattr(self._data, fn[op])(o)
        except (ValueError, TypeError) as e:
            raise RuntimeError(
                f"{op}_: cannot update a tensor of shape {tuple(self.shape)} and dtype "
                f"{self.dtype} in place with shape {tuple(np.shape(o))}: {e}"
            ) from None
        return self

    def __iadd__(self, other: Any) -> Tensor:
        return self._inplace("add", other)

    def __isub__(self, other: Any) -> Tensor:
        return self._inplace("sub", other)

    def __imul__(self, other: Any) -> Tensor:
        return self._inplace("mul", other)

    def __itruediv__(self, other: Any) -> Tensor:
        return self._inplace("div", other)

    def zero_(self) -> Tensor:
        """Fill with zeros in place."""
        self._data[...] = 0
        return self

    def fill_(self, value: Any) -> Tensor:
        """Fill with ``value`` in place."""
        self._data[...] = value
        return self

    def copy_(self, src: Any) -> Tensor:
        """Copy ``src`` into this tensor in place (broadcasting)."""
        self._data[...] = src._data if isinstance(src, Tensor) else src
        return self

    def add_(self, other: Any, alpha: float = 1.0) -> Tensor:
        """``self += alpha * other`` in place."""
        return self._inplace("add", other if alpha == 1 else other * alpha)

    def sub_(self, other: Any, alpha: float = 1.0) -> Tensor:
        """``self -= alpha * other`` in place."""
        return self._inplace("sub", other if alpha == 1 else other * alpha)

    def mul_(self, other: Any) -> Tensor:
        """``self *= other`` in place."""
        return self._inplace("mul", other)

    def div_(self, other: Any) -> Tensor:
        """``self /= other`` in place."""
        return self._inplace("div", other)

    def uniform_(self, a: float = 0.0, b: float = 1.0) -> Tensor:
        """Fill with samples from U(a, b) in place (the global generator)."""
        from .random import default_rng

        self._data[...] = default_rng().uniform(a, b, self.shape)
        return self

    def normal_(self, mean: float = 0.0, std: float = 1.0) -> Tensor:
        """Fill with samples from N(mean, std^2) in place (the global generator)."""
        from .random import default_rng

        self._data[...] = default_rng().normal(mean, std, self.shape)
        return self


def tensor(data: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None) -> Tensor:
    """Make a tensor from data (numbers, nested lists, arrays). Python floats become float32.

    Example:
        >>> import chainrule as cr
        >>> cr.tensor([[1.0, 2.0]], requires_grad=True)
        tensor([[1., 2.]], requires_grad=True)
    """
    if isinstance(data, Tensor):
        data = data._data.copy()
    elif isinstance(data, np.ndarray) or type(data).__module__.startswith("cupy"):
        data = data.copy()
    t = Tensor(data, dtype=dtype)
    if device is not None:
        t._data = to_device(t._data, str(device))
    if requires_grad:
        t.requires_grad = True
    return t


def as_tensor(data: Any, dtype: Any = None) -> Tensor:
    """``data`` as a tensor, sharing memory with an array where it can.

    Example:
        >>> import numpy as np, chainrule as cr
        >>> a = np.zeros(2); cr.as_tensor(a).numpy() is a
        True
    """
    if isinstance(data, Tensor) and (dtype is None or data.dtype == np.dtype(dtype)):
        return data
    return Tensor(data, dtype=dtype)


def ones_like(t: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones with the shape (and dtype) of ``t``.

    Example:
        >>> import chainrule as cr
        >>> ones_like(cr.zeros(2))
        tensor([1., 1.])
    """
    xp = array_module(t._data)
    out = Tensor._wrap(xp.ones(t.shape, dtype=dtype or t.dtype))
    return out.requires_grad_(requires_grad) if requires_grad else out


def zeros_like(t: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros with the shape (and dtype) of ``t``.

    Example:
        >>> import chainrule as cr
        >>> zeros_like(cr.ones(2))
        tensor([0., 0.])
    """
    xp = array_module(t._data)
    out = Tensor._wrap(xp.zeros(t.shape, dtype=dtype or t.dtype))
    return out.requires_grad_(requires_grad) if requires_grad else out
