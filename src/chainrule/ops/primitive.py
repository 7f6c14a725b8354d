"""Primitives: one forward, one derivative rule per input, one formula per input, in one place.

A primitive is *dual*. Called with raw arrays it returns a raw array (the fast path the backward
pass uses); called with any :class:`~chainrule.Tensor` it returns a Tensor and, when grad is
enabled and an input requires grad, records a :class:`~chainrule.autograd.node.Node`. Derivative
rules are written with primitives and operators, so the same rule runs on arrays for a plain
backward and on Tensors for ``create_graph=True`` (higher derivatives).

A rule has the signature ``rule(g, ans, *inputs, **params)``: ``g`` the gradient of the output,
``ans`` the output itself, ``inputs`` the op's arguments; it returns the gradient of one input
(before unbroadcasting, which the engine does).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..autograd.grad_mode import STATE
from ..autograd.node import Node
from ..tensor import Tensor, version_of

Rule = Callable[..., Any]


class Primitive:
    """An op with a forward on arrays and a derivative rule per input.

    Example:
        >>> import numpy as np
        >>> square = Primitive("Square", lambda a: a * a, [lambda g, ans, a: 2 * a * g],
        ...                    ["d(a^2)/da = 2a"])
        >>> square(np.array([3.0]))        # raw arrays in, raw array out
        array([9.])
    """

    __slots__ = ("name", "forward", "rules", "formulas")

    def __init__(
        self,
        name: str,
        forward: Callable[..., Any],
        rules: Sequence[Rule | None] | Callable[[int], Rule],
        formulas: Sequence[str] | Callable[[int], str] = (),
    ) -> None:
        self.name = name
        self.forward = forward
        self.rules = rules
        self.formulas = formulas

    def rule(self, i: int) -> Rule | None:
        """The derivative rule for input ``i`` (``None``: not differentiable there)."""
        r = self.rules
        if callable(r):
            return r(i)
        return r[i] if i < len(r) else None

    def formula(self, i: int) -> str:
        """The local derivative of input ``i`` as text, e.g. ``'d(a*b)/da = b'``."""
        f = self.formulas
        if callable(f):
            return f(i)
        return f[i] if i < len(f) else ""

    def __call__(self, *args: Any, **params: Any) -> Any:
        arrays = []
        is_tensor = needs = False
        version = 0
        for a in args:
            if isinstance(a, Tensor):
                is_tensor = True
                if a._requires_grad:
                    needs = True
                version += a._version if a._base is None else version_of(a)
                arrays.append(a._data)
            else:
                arrays.append(a)
        out = self.forward(*arrays, **params)
        if not is_tensor:
            return out
        t = Tensor._wrap(out)
        base = getattr(out, "base", None)
        if base is not None:  # a view (reshape, slice, transpose...): share the version
            for a in args:
                if isinstance(a, Tensor) and (base is a._data or base is a._data.base):
                    t._base = a
                    break
        if needs and STATE.enabled and out.dtype.kind in "fc":  # integer results: no gradient
            if t._base is not None:  # the output's version includes the viewed tensor's
                version += version_of(t)
            t._requires_grad = True
            t._node = Node(self, args, params, arrays, version)
        return t

    def backward(self, node: Node, g: Any, ans: Any, create_graph: bool) -> list:
        """Gradients of the inputs of ``node`` given ``g``, the gradient of its output ``ans``.

        The fast path hands the rules the raw arrays saved at forward time; with
        ``create_graph`` they get the tensors, so the rules record a graph of their own.
        """
        ins = node.inputs
        assert ins is not None
        args = ins if create_graph else node.ctx
        params = node.params
        out: list = []
        saved = node.ctx
        for i, a in enumerate(ins):
            if not isinstance(a, Tensor):
                out.append(None)
                continue
            if a._data is not saved[i]:
                raise RuntimeError(replaced_in_place(self.name, i, a))
            if a._requires_grad:
                r = self.rule(i)
                if r is None:
                    raise RuntimeError(f"{self.name}: input {i} is not differentiable")
                out.append(r(g, ans, *args, **params))
            else:
                out.append(None)
        return out

    def __repr__(self) -> str:
        return f"<primitive {self.name}>"


def replaced_in_place(op: str, i: int, a: Any) -> str:
    """The error for a node whose input tensor got a new array (an in-place op recorded after
    it, or ``.data =``) since the node read it.

    Example:
        >>> import chainrule as cr
        >>> replaced_in_place("Mul", 0, cr.zeros(2))[:60]
        'one of the variables needed for gradient computation has bee'
    """
    return (
        f"one of the variables needed for gradient computation has been modified by an inplace "
        f"operation: input {i} [{a.dtype} {list(a.shape)}] of {op}Backward was updated in place "
        f"after {op} read it. Make the change out of place (y = y + ...), or .clone() before it."
    )


def per_input(rule: Callable[..., Any]) -> Callable[[int], Rule]:
    """Adapt ``rule(i, g, ans, *inputs)`` for variadic ops (``cat``) to the per-input table.

    Example:
        >>> per_input(lambda i, g, ans, *xs: g)(0)(1, None)
        1
    """

    def make(i: int) -> Rule:
        return lambda g, ans, *args, **params: rule(i, g, ans, *args, **params)

    return make
