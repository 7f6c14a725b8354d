"""``Tensor``: an array, the gradient that backward leaves in ``.grad``, and the node that made it.

Operators and methods call the primitives in :mod:`chainrule.ops`; the graph they record is run
backwards by :mod:`chainrule.autograd.engine`.
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np

from . import autograd, dtypes
from ._device import as_device
from ._device import device as _device_cls
from ._device import target as _target_device
from ._size import _CACHE as _SIZES
from ._size import Size, size_of
from .autograd.grad_mode import STATE
from .autograd.node import AccumulateGrad, NodeHooks, Version
from .backend import array_module, to_device

_CPU = _device_cls("cpu")
_ndarray = np.ndarray
_new = object.__new__


def _convert(data: Any, dtype: Any = None) -> Any:
    """Array for ``data``: Python floats become the default float dtype, as in PyTorch."""
    if data is None or isinstance(data, (str, bytes)):
        raise TypeError(f"tensor: cannot make a tensor from {type(data).__name__}")
    if isinstance(data, np.ndarray) and data.dtype.kind in "OUSVMm":
        raise TypeError(f"tensor: cannot make a tensor from a NumPy array of dtype {data.dtype}")
    if isinstance(data, Tensor):
        arr = data._data
        return arr if dtype is None else arr.astype(dtype, copy=False)
    if dtype is not None:
        xp = array_module(data)
        try:
            return xp.asarray(data, dtype=np.dtype(dtype))
        except OverflowError as e:  # NumPy 2: a Python int out of the dtype's range
            raise ValueError(f"tensor: {e} (dtype {np.dtype(dtype)})") from None
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
        if arr.dtype == np.uint64 and arr.size and arr.max() > np.iinfo(np.int64).max:
            # Python ints of 2**63 or more: NumPy holds them as uint64, int64 would wrap them
            raise ValueError(
                f"tensor: value {int(arr.max())} overflows int64 (the range is "
                "[-2**63, 2**63 - 1]); pass a float dtype to keep it"
            )
        arr = arr.astype(np.int64)
    elif arr.dtype == object and any(
        isinstance(v, int) and not -(2**63) <= v < 2**63 for v in arr.reshape(-1)
    ):  # NumPy keeps Python ints outside int64 and uint64 as objects
        raise ValueError(
            "tensor: an integer overflows int64 (the range is [-2**63, 2**63 - 1]); pass a "
            "float dtype to keep it"
        )
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

    __slots__ = (
        "_data", "_grad", "_requires_grad", "_node", "_slot", "_vc", "_vview", "_accum",
        "_retains_grad", "_hooks", "_post_hooks", "_base", "_remat", "__weakref__",
    )  # fmt: skip
    # _node, _slot: the node that made this tensor and which of its outputs it is (None: a leaf)
    # _vc: the version counter of the memory, shared with every view and detach() alias (None
    # until first needed; read it through _counter())
    # _vview: for a view, its base's grad_fn when it was taken (if the base gets another one
    # from an in-place op, the view's own grad_fn is stale)
    # _accum: a weak reference to a leaf's AccumulateGrad node
    # _hooks, _post_hooks: a leaf's gradient hooks (a non-leaf's live on its node)
    # _remat: for the output of a cheap op (GELU, SiLU, LayerNorm), how to make it again
    # (autograd.remat.Recompute), which the ops that save it keep instead of its array
    __array_ufunc__ = None  # let `ndarray * Tensor` reach Tensor.__rmul__
    __array_priority__ = 1000

    def __init__(self, data: Any, dtype: Any = None, requires_grad: bool = False) -> None:
        self._data = _convert(data, dtype)
        self._grad: Tensor | None = None
        self._node = None
        self._slot = 0
        self._vc: Version | None = None  # made on first need (most tensors never need one)
        self._accum = None
        self._retains_grad = False
        self._requires_grad = False
        self._hooks: list | None = None
        self._base: Tensor | None = None  # the tensor whose memory this one views
        self._post_hooks: list | None = None
        self._remat = None
        if requires_grad:
            self.requires_grad = True

    # A staticmethod, not a classmethod: every op's result is made here, and CPython calls a
    # classmethod through a bound method (about a third of this function's cost)
    @staticmethod
    def _wrap(arr: Any) -> Tensor:
        if arr.__class__ is not _ndarray and isinstance(arr, np.generic):  # a 0-d result
            arr = np.asarray(arr)  # NumPy ops on 0-d arrays return scalars: keep a 0-d array
        t = _new(Tensor)
        t._data = arr
        t._grad = None
        t._requires_grad = False
        t._node = None
        t._slot = 0
        t._vc = None
        t._accum = None
        t._retains_grad = False
        t._hooks = None
        t._base = None
        t._remat = None
        return t

    @property
    def _version(self) -> int:
        """How many times this tensor's memory was written in place (shared with its views)."""
        return self._counter().value

    def _counter(self) -> Version:
        """This memory's version counter (made on first use)."""
        vc = self._vc
        if vc is None:
            vc = self._vc = Version()
        return vc

    # ----- autograd state -------------------------------------------------------------
    @property
    def grad(self) -> Tensor | None:
        """The gradient that backward accumulated here (``None`` until then)."""
        return self._grad

    @grad.setter
    def grad(self, value: Tensor | None) -> None:
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(
                    f"assigned grad expected to be a Tensor or None but got {type(value).__name__}"
                )
            if value.shape != self.shape:
                raise RuntimeError(
                    f"assigned grad has shape {tuple(value.shape)} but the tensor has shape "
                    f"{tuple(self.shape)}"
                )
            if value.dtype != self.dtype:
                raise RuntimeError(
                    f"assigned grad has dtype {value.dtype} but the tensor has dtype {self.dtype}"
                )
        self._grad = value

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
        node = self._node
        if node is None or self._retains_grad:  # a leaf keeps its .grad anyway
            return
        self._retains_grad = True
        if node.hooks is None:
            node.hooks = NodeHooks()
        node.hooks.retains[self._slot] = weakref.ref(self)

    def register_hook(self, hook: Any) -> RemovableHandle:
        """Call ``hook(grad)`` each time backward computes this tensor's gradient, before it is
        used or accumulated into ``.grad``; a tensor ``hook`` returns replaces the gradient.
        The handle's ``remove()`` unregisters it. Handy to *watch* backprop: print, record or
        clip the gradient that flows through any intermediate tensor.

        Example:
            >>> import chainrule as cr
            >>> x = cr.tensor([1.0, 2.0], requires_grad=True)
            >>> y = x * 3
            >>> seen = []
            >>> h = y.register_hook(lambda g: seen.append(g.tolist()))
            >>> y.sum().backward(); seen
            [[1.0, 1.0]]
        """
        if not self._requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if not callable(hook):
            raise TypeError(f"register_hook: hook must be callable, got {type(hook).__name__}")
        node = self._node
        if node is None:
            if self._hooks is None:
                self._hooks = []
            hooks = self._hooks
        else:  # a non-leaf's hooks live on its node, keyed by which output it is
            if node.hooks is None:
                node.hooks = NodeHooks()
            hooks = node.hooks.pre.setdefault(self._slot, [])
        hooks.append(hook)
        return RemovableHandle(hooks, hook)

    def register_post_accumulate_grad_hook(self, hook: Any) -> RemovableHandle:
        """Call ``hook(tensor)`` on this leaf each time backward has accumulated its gradient
        into ``.grad`` (PyTorch's hook of the same name; data-parallel training starts the
        all-reduce of a gradient here, while backward goes on).

        Example:
            >>> import chainrule as cr
            >>> w = cr.tensor([1.0, 2.0], requires_grad=True)
            >>> seen = []
            >>> h = w.register_post_accumulate_grad_hook(lambda p: seen.append(p.grad.tolist()))
            >>> (w * 3).sum().backward(); seen
            [[3.0, 3.0]]
        """
        if not self._requires_grad or self._node is not None:
            raise RuntimeError(
                "post accumulate grad hooks can only be registered on leaf tensors that require "
                "grad"
            )
        if not callable(hook):
            raise TypeError(
                f"register_post_accumulate_grad_hook: hook must be callable, got "
                f"{type(hook).__name__}"
            )
        if getattr(self, "_post_hooks", None) is None:
            self._post_hooks = []
        self._post_hooks.append(hook)
        return RemovableHandle(self._post_hooks, hook)

    @property
    def retains_grad(self) -> bool:
        """True if this non-leaf tensor keeps its ``.grad``."""
        return self._retains_grad

    def detach(self) -> Tensor:
        """A tensor sharing this one's data (and its version: an in-place change of either is
        seen by backward), cut from the graph."""
        t = Tensor._wrap(self._data)
        t._vc = self._counter()
        return t

    def detach_(self) -> Tensor:
        """Cut this tensor from the graph in place."""
        self._node = None
        self._slot = 0
        self._requires_grad = False
        return self

    @property
    def data(self) -> Tensor:
        """This tensor's data as a tensor outside the graph (shares memory)."""
        return Tensor._wrap(self._data)

    @data.setter
    def data(self, value: Any) -> None:
        # New memory, with a version counter of its own. Nodes that saved the old array keep
        # it, so the recorded graph stays consistent with the forward pass that built it.
        self._data = value._data if isinstance(value, Tensor) else _convert(value)
        self._vc = None
        self._base = None
        self._remat = None

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
        autograd.backward(self, gradient, retain_graph, create_graph, inputs)

    # ----- array facts ---------------------------------------------------------------
    @property
    def shape(self) -> Size:
        """The size of each dimension, as a :class:`chainrule.Size` (a tuple).

        Example:
            >>> import chainrule as cr
            >>> cr.zeros(2, 3).shape
            (2, 3)
        """
        shape = self._data.shape
        return _SIZES.get(shape) or size_of(shape)

    @property
    def ndim(self) -> int:
        """The number of dimensions."""
        return self._data.ndim

    @property
    def dtype(self) -> np.dtype:
        """The element type (a NumPy dtype, e.g. ``chainrule.float32``)."""
        return self._data.dtype

    @property
    def device(self) -> _device_cls:
        """Where the data lives: ``device(type='cpu')`` or ``device(type='cuda', index=i)``. It
        compares equal to the string too (``t.device == "cpu"``).

        Example:
            >>> import chainrule as cr
            >>> cr.zeros(2).device
            device(type='cpu')
        """
        a = self._data
        if type(a).__module__.startswith("cupy"):
            return _device_cls("cuda", int(a.device.id))
        return _CPU

    @property
    def is_cuda(self) -> bool:
        """True if the data lives on a GPU."""
        return type(self._data).__module__.startswith("cupy")

    def dim(self) -> int:
        """The number of dimensions."""
        return self._data.ndim

    def size(self, dim: int | None = None) -> Any:
        """The shape (a :class:`chainrule.Size`), or the size of dimension ``dim`` as an int.

        Example:
            >>> import chainrule as cr
            >>> x = cr.zeros(2, 3)
            >>> x.size(), x.size(-1)
            ((2, 3), 3)
        """
        shape = self._data.shape
        if dim is None:
            return size_of(shape)
        n = max(len(shape), 1)
        if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool):
            raise TypeError(f"size(): dim must be an int, got {type(dim).__name__}")
        if not -n <= dim < n or not shape:
            raise IndexError(
                f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got "
                f"{dim})"
            )
        return shape[dim]

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

    def cpu(self) -> Tensor:
        """This tensor on the CPU."""
        return self.to("cpu")

    def cuda(self, device: Any = None, non_blocking: bool = False) -> Tensor:
        """This tensor on GPU ``device`` (the current one by default; needs CuPy and a GPU)."""
        if device is None:
            return self.to("cuda")
        d = as_device(device)
        if d.type != "cuda":
            raise RuntimeError(f"cuda(): invalid device {str(d)!r}, expected a cuda device")
        return self.to(d)

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

    def contiguous(self) -> Tensor:
        """This tensor (arrays are made contiguous where an op needs it)."""
        return self

    # ----- display --------------------------------------------------------------------
    def __repr__(self) -> str:
        if getattr(self._data, "_is_tracer", False):  # inside a transform (jvp, vmap)
            return f"tensor({self._data!r})"
        arr = to_device(self._data, "cpu")
        body = np.array2string(arr, separator=", ", prefix="tensor(", precision=4)
        extra = []
        if arr.dtype not in (dtypes.float32, dtypes.int64, dtypes.bool_):
            extra.append(f"dtype={arr.dtype}")
        if self.is_cuda:
            extra.append(f"device='{self.device}'")
        if self._node is not None:
            extra.append(f"grad_fn=<{self._node.name()}>")
        elif self.requires_grad:
            extra.append("requires_grad=True")
        return "tensor(" + ", ".join([body, *extra]) + ")"

    def __hash__(self) -> int:
        return id(self)

    def __format__(self, format_spec: str) -> str:
        """``f"{loss:.4f}"``: a 0-dim tensor formats as the number it holds, as in torch; other
        tensors accept only the empty format (their ``str``).

        Example:
            >>> import chainrule as cr
            >>> f"{cr.tensor(2.0) / 3:.4f}"
            '0.6667'
        """
        if self._data.ndim == 0:
            return format(self.item(), format_spec)
        if format_spec:
            raise TypeError(f"unsupported format string passed to {type(self).__name__}.__format__")
        return str(self)

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
    # Every write to a tensor's memory goes through ``_mutate``, which bumps the version counter
    # that the memory's views and aliases share; a node checks the versions of what it saved,
    # so backward refuses a node whose saved tensors were changed since (as PyTorch does).
    # While a graph is recorded an in-place op is recorded as its out-of-place form, whose
    # result is then written into the tensor's memory, and the tensor points at the new node.
    def _mutate(self, write: Any) -> Tensor:
        """The one way to change a tensor's memory: ``write(array)`` modifies the array in place,
        and the version that every view and alias of this memory shares is bumped, so a
        recorded node that saved the old contents refuses to run backward. Optimizers,
        ``nn.init``, ``load_state_dict``, running statistics and in-place ops all call it.

        Example:
            >>> import chainrule as cr
            >>> w = cr.zeros(2)
            >>> _ = w._mutate(lambda a: a.__iadd__(1)); w, w._version
            (tensor([1., 1.]), 1)
        """
        write(self._data)
        self._counter().value += 1
        return self

    def _update(self, op: str, out_of_place: Any, in_place: Any, other: Any = None) -> Tensor:
        """Apply an in-place op: ``in_place(array)`` mutates the array directly when no graph is
        recorded; otherwise ``out_of_place(tensor)`` computes the new value and is recorded."""
        if STATE.enabled:
            if self._requires_grad or (isinstance(other, Tensor) and other._requires_grad):
                self._record_in_place(op, out_of_place)
                return self
            if self._base is not None and _root(self)._requires_grad:
                raise RuntimeError(
                    f"{op}: a view was created in no_grad mode and is being modified in place "
                    f"with grad mode enabled; this is ambiguous and error-prone, and forbidden "
                    f"(as in PyTorch). Make the view outside no_grad, or modify it under no_grad"
                )
        trace = getattr(self._data, "trace", None)
        if trace is not None and not callable(trace):  # a transform's value (jvp, vmap): the
            if self._base is not None:  # in-place form would change only a copy: assign it whole
                raise RuntimeError(
                    f"{op}: in-place update of a view (a tensor of shape {tuple(self.shape)} "
                    f"that shares memory with another) inside a transform is not supported: "
                    f"the tensor it views would not change; use the out-of-place form "
                    f"(y = y + ...), or .clone() the view first"
                )
            res = out_of_place(self)
            self._mutate(lambda a: a.__setitem__(..., res._data))
            return self
        try:
            self._mutate(in_place)
        except (ValueError, TypeError) as e:
            oshape = tuple(np.shape(other._data if isinstance(other, Tensor) else other))
            raise RuntimeError(
                f"{op}: cannot update a tensor of shape {tuple(self.shape)} and dtype "
                f"{self.dtype} in place with a value of shape {oshape}: {e}"
            ) from None
        return self

    def _record_in_place(self, op: str, out_of_place: Any) -> None:
        if self._node is None and self._requires_grad:
            raise RuntimeError(
                f"{op}: a leaf Variable that requires grad is being used in an in-place "
                f"operation; wrap the update in chainrule.no_grad()"
            )
        if self._base is not None or getattr(self._data, "base", None) is not None:
            raise RuntimeError(
                f"{op}: in-place update of a view (a tensor of shape {tuple(self.shape)} that "
                f"shares memory with another) while a graph is recorded is not supported: the "
                f"tensor it views would not change; use the out-of-place form "
                f"(y = y + ...), or .clone() the view first"
            )
        # The op reads the old value through ``old``, with a counter of its own: what a node
        # recorded here saved of that memory is copied before the memory is overwritten (as
        # PyTorch keeps ``original_self``).
        old = Tensor._wrap(self._data)
        old._node, old._slot, old._requires_grad = self._node, self._slot, self._requires_grad
        old._accum = self._accum
        made: list = []
        prev = STATE.watch
        STATE.watch = made.append if prev is None else _chain(made.append, prev)
        try:
            res = out_of_place(old)
        finally:
            STATE.watch = prev
        if res.shape != self.shape:
            raise RuntimeError(
                f"{op}: the result has shape {tuple(res.shape)}, which cannot be written in place "
                f"into a tensor of shape {tuple(self.shape)}"
            )
        if res.dtype != self.dtype:
            if self.dtype.kind not in "fc":
                raise RuntimeError(
                    f"{op}: result type {res.dtype} can't be cast to the desired output type "
                    f"{self.dtype}"
                )
            res = res.to(self.dtype)
        if old._vc is not None:  # some node recorded here saved that memory
            for node in made:
                _keep_original(node, old._vc)
        new = res._data
        self._mutate(lambda a: a.__setitem__(..., new))
        self._node, self._slot, self._requires_grad = res._node, res._slot, res._requires_grad

    def __iadd__(self, other: Any) -> Tensor:
        return self._arith_("add", other)

    def __isub__(self, other: Any) -> Tensor:
        return self._arith_("sub", other)

    def __imul__(self, other: Any) -> Tensor:
        return self._arith_("mul", other)

    def __itruediv__(self, other: Any) -> Tensor:
        return self._arith_("div", other)

    def zero_(self) -> Tensor:
        """Fill with zeros in place."""
        return self.fill_(0)

    def fill_(self, value: Any) -> Tensor:
        """Fill with ``value`` (a number or a 0-d tensor) in place."""
        return self._assign_all("fill_", value)

    def copy_(self, src: Any) -> Tensor:
        """Copy ``src`` into this tensor in place (broadcasting; gradients flow to ``src``)."""
        return self._assign_all("copy_", src)

    def add_(self, other: Any, alpha: float = 1.0) -> Tensor:
        """``self += alpha * other`` in place."""
        return self._arith_("add", other if alpha == 1 else other * alpha)

    def sub_(self, other: Any, alpha: float = 1.0) -> Tensor:
        """``self -= alpha * other`` in place."""
        return self._arith_("sub", other if alpha == 1 else other * alpha)

    def mul_(self, other: Any) -> Tensor:
        """``self *= other`` in place."""
        return self._arith_("mul", other)

    def div_(self, other: Any) -> Tensor:
        """``self /= other`` in place."""
        return self._arith_("div", other)

    def _inplace(self, op: str, fn: Any, *args: Any, other: Any = None, **kwargs: Any) -> Tensor:
        """``self = fn(self, *args, **kwargs)`` in place: the one way every in-place math method
        (``exp_``, ``clamp_``, ``pow_``, ``scatter_``...) runs. Through :meth:`_update`: recorded
        out of place when a graph is being built, else computed and written into the memory.
        ``other`` is the tensor argument that may require grad (``pow_(exponent)``). The
        result must fit the dtype, as torch: ``exp_`` on an integer tensor is refused.

        Example:
            >>> import chainrule as cr
            >>> x = cr.tensor([0.0, 1.0]); _ = x._inplace("exp_", cr.exp); x
            tensor([1.    , 2.7183])
        """

        def write(a: Any) -> None:
            res = fn(Tensor._wrap(a), *args, **kwargs)._data
            if res.dtype != a.dtype and not np.can_cast(res.dtype, a.dtype, "same_kind"):
                raise TypeError(f"result type {res.dtype} can't be cast to {a.dtype}")
            a[...] = res

        return self._update(op, lambda old: fn(old, *args, **kwargs), write, other)

    def relu_(self) -> Tensor:
        """``max(self, 0)`` in place."""
        return self.clamp_(min=0)


class RemovableHandle:
    """What ``register_hook`` returns: ``remove()`` takes the hook off again.

    Example:
        >>> import chainrule as cr
        >>> x = cr.tensor(1.0, requires_grad=True)
        >>> h = x.register_hook(lambda g: g * 2); h.remove()
        >>> (x * 5).backward(); x.grad
        tensor(5.)
    """

    def __init__(self, hooks: list, hook: Any) -> None:
        self._hooks, self._hook = hooks, hook

    def remove(self) -> None:
        """Unregister the hook (a second call does nothing)."""
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)


def edge_of(t: Tensor) -> tuple:
    """The edge by which a node reads ``t``: ``(node that made it, output slot, shape)``, or for
    a leaf that requires grad its :class:`~chainrule.autograd.node.AccumulateGrad` node (made on
    first use; the leaf holds it weakly).

    Example:
        >>> import chainrule as cr
        >>> w = cr.tensor(1.0, requires_grad=True)
        >>> edge_of(w)[0].variable is w, edge_of(w * 2)[0].name()
        (True, 'MulBackward')
    """
    node = t._node
    if node is not None:
        return (node, t._slot, t._data.shape)
    ref = t._accum
    acc = ref() if ref is not None else None
    if acc is None:
        acc = AccumulateGrad(t)
        t._accum = weakref.ref(acc)
    return (acc, 0, t._data.shape)


def _root(t: Tensor) -> Tensor:
    """The tensor whose memory the view ``t`` ultimately views."""
    while t._base is not None:
        t = t._base
    return t


def _chain(first: Any, second: Any) -> Any:
    def both(node: Any) -> None:
        first(node)
        second(node)

    return both


def _keep_original(node: Any, vc: Version) -> None:
    """Copy what ``node`` saved of the memory counted by ``vc`` (about to be overwritten)."""
    if not any(c is vc for _, c, _ in node.versions):
        return
    versions = []
    for i, c, v in node.versions:
        if c is vc:
            if i < 0:
                node.ans = node.ans.copy()
            else:
                node.saved[i] = node.saved[i].copy()
            c, v = Version(), 0
        versions.append((i, c, v))
    node.versions = tuple(versions)


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
    d = _target_device(device)
    if d is not None:
        t._data = to_device(t._data, d)
    if requires_grad:
        t.requires_grad = True
    return t


def as_tensor(data: Any, dtype: Any = None, device: Any = None) -> Tensor:
    """``data`` as a tensor, sharing memory with an array where it can (same dtype and device).

    Example:
        >>> import numpy as np, chainrule as cr
        >>> a = np.zeros(2); cr.as_tensor(a).numpy() is a
        True
    """
    if isinstance(data, Tensor) and (dtype is None or data.dtype == np.dtype(dtype)):
        t = data
    else:
        t = Tensor(data, dtype=dtype)
    d = _target_device(device) if device is not None or not isinstance(data, Tensor) else None
    return t.to(d) if d is not None else t


def ones_like(
    t: Tensor, dtype: Any = None, requires_grad: bool = False, device: Any = None
) -> Tensor:
    """A tensor of ones with the shape (and dtype) of ``t``.

    Example:
        >>> import chainrule as cr
        >>> ones_like(cr.zeros(2))
        tensor([1., 1.])
    """
    xp = array_module(t._data)
    out = Tensor._wrap(xp.ones(t.shape, dtype=dtype or t.dtype))
    if device is not None:
        out = out.to(device)
    return out.requires_grad_(requires_grad) if requires_grad else out


def zeros_like(
    t: Tensor, dtype: Any = None, requires_grad: bool = False, device: Any = None
) -> Tensor:
    """A tensor of zeros with the shape (and dtype) of ``t``.

    Example:
        >>> import chainrule as cr
        >>> zeros_like(cr.ones(2))
        tensor([0., 0.])
    """
    xp = array_module(t._data)
    out = Tensor._wrap(xp.zeros(t.shape, dtype=dtype or t.dtype))
    if device is not None:
        out = out.to(device)
    return out.requires_grad_(requires_grad) if requires_grad else out
