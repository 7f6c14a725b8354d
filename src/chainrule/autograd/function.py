"""``Function``: a user-defined op with its own forward and backward."""

from __future__ import annotations

import weakref
from typing import Any

from ..backend import array_module
from ..tensor import Tensor, edge_of
from .grad_mode import STATE, WATCHERS, no_grad, set_grad_enabled
from .node import Node


class FunctionCtx:
    """What ``forward`` leaves for ``backward``: saved tensors and any attributes set on it.

    A saved output of the Function is kept as its array and rebuilt on access, so the context
    never refers to the node that refers to it (no reference cycle: the graph is freed at once).
    """

    def __init__(self) -> None:
        self._saved: tuple = ()
        self._node: Any = None  # weak reference to the recorded node
        self.needs_input_grad: tuple = ()

    def save_for_backward(self, *tensors: Any) -> None:
        """Keep ``tensors`` for ``backward`` (read them back as ``ctx.saved_tensors``)."""
        self._saved = tensors

    @property
    def saved_tensors(self) -> tuple:
        """The tensors given to ``save_for_backward`` (outputs attached to the graph)."""
        out = []
        for s in self._saved:
            if isinstance(s, _SavedOutput):
                t = Tensor._wrap(s.array)
                t._vc = s.vc
                node = self._node() if self._node is not None else None
                if node is not None:
                    t._node, t._slot, t._requires_grad = node, s.slot, True
                s = t
            out.append(s)
        return tuple(out)


class _SavedOutput:
    __slots__ = ("array", "slot", "vc")

    def __init__(self, array: Any, slot: int, vc: Any) -> None:
        self.array, self.slot, self.vc = array, slot, vc


class _NoVersion:
    value = 0


def _counter_of(s: Any) -> Any:
    """The version counter of a saved tensor (anything else: a counter that stays at 0)."""
    return s._counter() if isinstance(s, Tensor) else _NoVersion


class _FunctionOp:
    """Adapter so the engine runs a ``Function`` like any primitive."""

    def __init__(self, cls: type, outputs: tuple) -> None:
        self.cls = cls
        self.name = cls.__name__
        self.outputs = outputs  # (shape, dtype) of each output

    def formula(self, i: int) -> str:
        return getattr(self.cls, "formula", "") or f"{self.name}.backward"

    def backward(self, node: Node, g: Any, create_graph: bool) -> list:
        ctx = node.saved
        for j, s in enumerate(ctx._saved):
            vc = s.vc if isinstance(s, _SavedOutput) else _counter_of(s)
            if vc.value != ctx._versions[j]:
                raise RuntimeError(
                    f"one of the variables needed for gradient computation has been modified "
                    f"by an inplace operation: saved tensor {j} of {self.name}Backward is at "
                    f"version {vc.value}; expected version {ctx._versions[j]} instead"
                )
        gs = [g] if node.n_out == 1 else list(g)
        gts = []
        for gk, (shape, dtype) in zip(gs, self.outputs):  # no gradient: zeros, as torch
            if gk is None:
                gk = ctx._xp.zeros(shape, dtype)
            gts.append(gk if isinstance(gk, Tensor) else Tensor._wrap(gk))
        with set_grad_enabled(create_graph):
            grads = self.cls.backward(ctx, *gts)
        if not isinstance(grads, tuple):
            grads = (grads,)
        n = len(node.edges)
        is_tensor = [bool(node.tmask >> i & 1) for i in range(n)]
        if len(grads) < n and len(grads) == sum(is_tensor):
            it = iter(grads)
            grads = tuple(next(it) if t else None for t in is_tensor)
        if len(grads) > n and all(gr is None for gr in grads[n:]):
            grads = grads[:n]  # trailing Nones for arguments left at their defaults, as torch
        if len(grads) != n:
            raise RuntimeError(
                f"{self.name}.backward returned an incorrect number of gradients "
                f"(expected {n}, got {len(grads)})"
            )
        out = []
        for e, gr in zip(node.edges, grads):
            if gr is None or e is None:
                out.append(None)
                continue
            shape = e[2]
            if not isinstance(gr, Tensor):
                gr = Tensor(gr)
            if tuple(gr.shape) != tuple(shape):
                raise RuntimeError(
                    f"{self.name}.backward returned a gradient of shape {tuple(gr.shape)} for an "
                    f"input of shape {tuple(shape)}"
                )
            out.append(gr if create_graph else gr._data)
        return out


class Function:
    """Define an op by its forward and backward; use it with ``MyFunction.apply(...)``.

    Seed 003's sigmoid gate as one node, with local derivative sigma * (1 - sigma):

    Example:
        >>> import chainrule as cr
        >>> class Sigmoid(Function):
        ...     @staticmethod
        ...     def forward(ctx, x):
        ...         s = 1 / (1 + (-x).exp())
        ...         ctx.save_for_backward(s)
        ...         return s
        ...     @staticmethod
        ...     def backward(ctx, grad_output):
        ...         (s,) = ctx.saved_tensors
        ...         return grad_output * s * (1 - s)
        >>> w = cr.tensor([2.0, -3.0, -3.0], requires_grad=True)
        >>> x = cr.tensor([-1.0, -2.0])
        >>> f = Sigmoid.apply(w[0] * x[0] + w[1] * x[1] + w[2])
        >>> f.backward()
        >>> [round(v, 2) for v in w.grad.tolist()]
        [-0.2, -0.39, 0.2]
    """

    @staticmethod
    def forward(ctx: FunctionCtx, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("a Function subclass must define forward(ctx, *args)")

    @staticmethod
    def backward(ctx: FunctionCtx, *grad_outputs: Any) -> Any:
        raise NotImplementedError("a Function subclass must define backward(ctx, grad_output)")

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        """Run ``forward`` without recording, then record one node whose rule is ``backward``.
        ``forward`` may return one Tensor or a tuple of them (``backward`` then gets one
        gradient per output, zeros for outputs that received none)."""
        ctx = FunctionCtx()
        ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        with no_grad():
            out = cls.forward(ctx, *args, **kwargs)
        many = isinstance(out, tuple)
        outs = out if many else (out,)
        for i, o in enumerate(outs):
            if not isinstance(o, Tensor):
                where = f" at position {i}" if many else ""
                raise TypeError(
                    f"{cls.__name__}.forward must return a Tensor or a tuple of Tensors, got "
                    f"{type(o).__name__}{where}"
                )
        if not (any(ctx.needs_input_grad) and STATE.enabled):
            return out
        edges = tuple(
            edge_of(a) if isinstance(a, Tensor) and a.requires_grad else None for a in args
        )
        tmask = sum(1 << i for i, a in enumerate(args) if isinstance(a, Tensor))
        meta = tuple((o.shape, o.dtype) for o in outs)
        node = Node(_FunctionOp(cls, meta), edges, ctx, (), None, tmask, None, len(outs))
        if WATCHERS[0] and STATE.watch is not None:
            STATE.watch(node)
        ctx._node = weakref.ref(node)
        ctx._xp = array_module(outs[0]._data)
        results = []
        for k, o in enumerate(outs):
            r = Tensor._wrap(o._data)
            if o.dtype.kind in "fc":
                r._requires_grad = True
                r._node, r._slot = node, k
            results.append(r)
        # A saved output is the recorded output (so a differentiable backward can be
        # differentiated again through it, as in PyTorch), kept as its array.
        index = {id(o): k for k, o in enumerate(outs)}
        saved = []
        for s in ctx._saved:
            k = index.get(id(s))
            saved.append(_SavedOutput(s._data, k, results[k]._counter()) if k is not None else s)
        ctx._saved = tuple(saved)
        ctx._versions = tuple(
            (s.vc if isinstance(s, _SavedOutput) else _counter_of(s)).value for s in ctx._saved
        )
        return tuple(results) if many else results[0]
