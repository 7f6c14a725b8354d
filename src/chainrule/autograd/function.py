"""``Function``: a user-defined op with its own forward and backward."""

from __future__ import annotations

from typing import Any

from .grad_mode import STATE, no_grad, set_grad_enabled
from .node import Node


class FunctionCtx:
    """What ``forward`` leaves for ``backward``: saved tensors and any attributes set on it."""

    def __init__(self) -> None:
        self.saved_tensors: tuple = ()
        self.needs_input_grad: tuple = ()

    def save_for_backward(self, *tensors: Any) -> None:
        """Keep ``tensors`` for ``backward`` (read them back as ``ctx.saved_tensors``)."""
        self.saved_tensors = tensors


def _record(cls: type, args: tuple, ctx: FunctionCtx, outputs: tuple | None = None) -> Node:
    """The node of one ``Function`` call, with the input versions and arrays it saw (so that
    backward notices an input changed or replaced in place since)."""
    from ..tensor import Tensor, version_of

    version = sum(version_of(a) for a in args if isinstance(a, Tensor))
    arrays = {"arrays": [getattr(a, "_data", None) for a in args]}
    return Node(_FunctionOp(cls, outputs), args, arrays, ctx, version)


class _Gradients:
    """The gradients of a multi-output ``Function``'s outputs, gathered on its one node: each
    output's node hands back its own slot, and the engine adds these up like arrays."""

    shape = ()  # the shape of the handle tensor the node belongs to: no unbroadcasting

    def __init__(self, n: int, k: int | None = None, g: Any = None) -> None:
        self.slots: list = [None] * n
        if k is not None:
            self.slots[k] = g

    def __add__(self, other: _Gradients) -> _Gradients:
        out = _Gradients(len(self.slots))
        out.slots = [
            b if a is None else a if b is None else a + b for a, b in zip(self.slots, other.slots)
        ]
        return out


class _Output:
    """The op that picks output ``k`` of a multi-output ``Function`` off its node."""

    def __init__(self, k: int, n: int, name: str) -> None:
        self.k, self.n, self.name = k, n, f"{name}[{k}]"

    def formula(self, i: int) -> str:
        return f"output {self.k} of the Function"

    def backward(self, node: Node, g: Any, ans: Any, create_graph: bool) -> list:
        return [_Gradients(self.n, self.k, g)]


class _FunctionOp:
    """Adapter so the engine runs a ``Function`` like any primitive."""

    def __init__(self, cls: type, outputs: tuple | None = None) -> None:
        self.cls = cls
        self.name = cls.__name__
        self.outputs = outputs  # (shape, dtype) of each output of a multi-output Function

    def formula(self, i: int) -> str:
        return getattr(self.cls, "formula", "") or f"{self.name}.backward"

    def backward(self, node: Node, g: Any, ans: Any, create_graph: bool) -> list:
        from ..ops.primitive import replaced_in_place
        from ..tensor import Tensor

        for i, a in enumerate(node.inputs or ()):
            if isinstance(a, Tensor) and a._data is not node.params["arrays"][i]:
                raise RuntimeError(replaced_in_place(self.name, i, a))
        if self.outputs is None:
            gts = [g if isinstance(g, Tensor) else Tensor._wrap(g)]
        else:  # an output that got no gradient gets zeros, as torch
            import numpy as np

            gts = []
            for gk, (shape, dtype) in zip(g.slots, self.outputs):
                gk = Tensor._wrap(np.zeros(shape, dtype)) if gk is None else gk
                gts.append(gk if isinstance(gk, Tensor) else Tensor._wrap(gk))
        with set_grad_enabled(create_graph):
            grads = self.cls.backward(node.ctx, *gts)
        if not isinstance(grads, tuple):
            grads = (grads,)
        tensor_args = [a for a in node.inputs or () if isinstance(a, Tensor)]
        if len(grads) < len(node.inputs or ()) and len(grads) == len(tensor_args):
            it = iter(grads)
            grads = tuple(next(it) if isinstance(a, Tensor) else None for a in node.inputs or ())
        n = len(node.inputs or ())
        if len(grads) > n and all(gr is None for gr in grads[n:]):
            grads = grads[:n]  # trailing Nones for arguments left at their defaults, as torch
        if len(grads) != n:
            raise RuntimeError(
                f"{self.name}.backward returned an incorrect number of gradients "
                f"(expected {n}, got {len(grads)})"
            )
        out = []
        for a, gr in zip(node.inputs or (), grads):
            if gr is None or not isinstance(a, Tensor) or not a.requires_grad:
                out.append(None)
                continue
            if not isinstance(gr, Tensor):
                gr = Tensor(gr)
            if tuple(gr.shape) != tuple(a.shape):
                raise RuntimeError(
                    f"{self.name}.backward returned a gradient of shape {tuple(gr.shape)} for an "
                    f"input of shape {tuple(a.shape)}"
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
        from ..tensor import Tensor

        ctx = FunctionCtx()
        ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        with no_grad():
            out = cls.forward(ctx, *args, **kwargs)
        if isinstance(out, tuple):
            return cls._apply_many(ctx, args, out)
        if not isinstance(out, Tensor):
            raise TypeError(
                f"{cls.__name__}.forward must return a Tensor or a tuple of Tensors, got "
                f"{type(out).__name__}"
            )
        if any(ctx.needs_input_grad) and STATE.enabled:
            res = Tensor._wrap(out._data)
            res.requires_grad = True
            res._node = _record(cls, args, ctx)
            # A saved output is the recorded output, so a differentiable backward can be
            # differentiated again through it (as in PyTorch).
            ctx.saved_tensors = tuple(res if t is out else t for t in ctx.saved_tensors)
            return res
        return out

    @classmethod
    def _apply_many(cls, ctx: FunctionCtx, args: tuple, outs: tuple) -> tuple:
        """Record a multi-output Function: one node (on a hidden 0-d handle tensor) runs
        ``backward`` with one gradient per output; each output reads its slot of that node."""
        import numpy as np

        from ..tensor import Tensor

        for i, o in enumerate(outs):
            if not isinstance(o, Tensor):
                raise TypeError(
                    f"{cls.__name__}.forward must return Tensors, got {type(o).__name__} "
                    f"at position {i}"
                )
        if not (any(ctx.needs_input_grad) and STATE.enabled):
            return outs
        handle = Tensor._wrap(np.zeros(()))
        handle._requires_grad = True
        handle._node = _record(cls, args, ctx, tuple((o.shape, o.dtype) for o in outs))
        results = []
        for k, o in enumerate(outs):
            r = Tensor._wrap(o._data)
            if o.dtype.kind in "fc":
                r._requires_grad = True
                r._node = Node(_Output(k, len(outs), cls.__name__), (handle,), {}, None, 0)
            results.append(r)
        swap = {id(o): r for o, r in zip(outs, results)}
        ctx.saved_tensors = tuple(swap.get(id(t), t) for t in ctx.saved_tensors)
        return tuple(results)
