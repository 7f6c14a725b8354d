"""One walker for both kinds of graph: scalar ``Value`` graphs and ``Tensor`` graphs.

``walk(root)`` returns the graph as :class:`GNode` objects in topological order (every operand
before the op that reads it), with the names that both the picture and the explanation table use,
so a row of ``explain`` and a box of ``draw_graph`` always carry the same name. Reading the graph
never changes it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# Symbols for the arithmetic primitives; other ops keep their names ('MatMul', 'Sigmoid').
_SYMBOLS = {"Add": "+", "Sub": "-", "Mul": "*", "Div": "/", "Neg": "neg", "Pow": "**"}


@dataclass(eq=False)
class GNode:
    """One value of the graph (a ``Value``, a ``Tensor`` or a constant operand) and its op.

    ``inputs`` are the operands of the op that made it, in argument order (a node used twice
    appears twice); ``slots`` the argument position of each operand; ``op`` is ``''`` for leaves
    and constants.

    Example:
        >>> import chainrule as cr
        >>> a = cr.tensor(2.0, requires_grad=True)
        >>> nodes = walk(a * 3, {"a": a})
        >>> [(n.name, n.op, [i.name for i in n.inputs]) for n in nodes]
        [('a', '', []), ('3', '', []), ('t2', '*', ['a', '3'])]
    """

    index: int
    obj: Any
    name: str
    op: str = ""
    inputs: list[GNode] = field(default_factory=list)
    slots: list[int] = field(default_factory=list)
    kind: str = "value"  # 'value' (Value or Tensor) | 'const' (a number or array operand)
    is_param: bool = False
    requires_grad: bool = True

    @property
    def is_leaf(self) -> bool:
        """True for values no op made (inputs, parameters, constants)."""
        return not self.op


def is_value_graph(root: Any) -> bool:
    """True for a scalar-engine ``Value`` (it has ``_prev``), False for a ``Tensor``.

    Example:
        >>> import chainrule as cr
        >>> is_value_graph(cr.tensor(1.0))
        False
    """
    return hasattr(root, "_prev") and hasattr(root, "_op")


def param_names(params: Any) -> dict[int, str]:
    """``id(tensor) -> name`` from a Module (``named_parameters()``), a dict, or ``None``.

    Example:
        >>> import chainrule as cr
        >>> w = cr.tensor([1.0], requires_grad=True)
        >>> param_names({"w": w})[id(w)]
        'w'
    """
    if params is None:
        return {}
    if hasattr(params, "named_parameters"):
        items: Iterable = params.named_parameters()
    elif isinstance(params, Mapping):
        items = params.items()
    elif hasattr(params, "parameters"):  # a scalar-engine model: its Values carry their names
        items = [(getattr(v, "label", "") or f"p{i}", v) for i, v in enumerate(params.parameters())]
    else:
        raise TypeError(
            "params must be a Module (its named_parameters() name the weights), a scalar model "
            f"(chainrule.scalar.MLP) or a dict name -> tensor, got {type(params).__name__}"
        )
    return {id(t): str(name) for name, t in items}


def op_label(fn: Any, inputs: tuple) -> str:
    """How an op of a Tensor graph is shown: a symbol for arithmetic, else its name.

    Example:
        >>> import chainrule as cr
        >>> w = cr.tensor([1.0, 2.0], requires_grad=True)
        >>> op_label(w[0].grad_fn.fn, w[0].grad_fn.inputs)
        '[0]'
    """
    name = fn.name
    if name in _SYMBOLS:
        return _SYMBOLS[name]
    if name == "Index" and len(inputs) > 1:
        return f"[{_index_text(inputs[1])}]"
    return name


def _index_text(key: Any) -> str:
    keys = key if isinstance(key, tuple) else (key,)
    parts = []
    for k in keys:
        if isinstance(k, slice):
            parts.append(
                ":".join("" if v is None else str(v) for v in (k.start, k.stop, k.step)).rstrip(":")
                or ":"
            )
        elif k is Ellipsis:
            parts.append("...")
        else:
            parts.append(str(k) if np.ndim(k) == 0 else "idx")
    return ", ".join(parts)


def _is_operand(fn: Any, i: int, a: Any) -> bool:
    """A non-tensor argument is drawn only where the op differentiates (``a * 3``'s 3), not
    where it is a setting (``reshape``'s shape, ``a[0]``'s index)."""
    if isinstance(a, (bool, str)) or a is None:
        return False
    if not isinstance(a, (int, float, np.ndarray, np.generic)):
        return False
    rule = getattr(fn, "rule", None)
    return rule is not None and rule(i) is not None


def walk(root: Any, params: Any = None) -> list[GNode]:
    """The graph of ``root`` as :class:`GNode` objects, each after all of its operands.

    Iterative, so deep graphs are fine. Names: a ``Value``'s label, a tensor's parameter name from
    ``params`` (a Module or a dict name -> tensor), else a generic ``v<k>`` (Values) or ``t<k>``
    (tensors), ``k`` being the position in this order; constants (numbers, unlabelled leaf
    Values) are named by their value.

    Example:
        >>> import chainrule as cr
        >>> x = cr.tensor(3.0, requires_grad=True)
        >>> [n.name for n in walk(x * x + 1)]
        ['t0', 't1', '1', 't3']
    """
    names = param_names(params)
    if is_value_graph(root):
        for k, v in params.items() if isinstance(params, Mapping) else ():
            names[id(v)] = str(k)
        return _walk_values(root, names)
    return _walk_tensors(root, names)


def _walk_values(root: Any, names: dict[int, str]) -> list[GNode]:
    order = root.topological_order()
    nodes: dict[int, GNode] = {}
    for i, v in enumerate(order):
        name = names.get(id(v)) or getattr(v, "label", "")
        if not name:  # an unlabelled constant (the 1 of `e + 1`) is named by its value
            name = f"{v.data:.4g}" if not v._prev else f"v{i}"
        n = GNode(i, v, name, op=v._op or "")
        n.inputs = [nodes[id(p)] for p in v._prev]
        n.slots = list(range(len(v._prev)))
        nodes[id(v)] = n
    return list(nodes.values())


def _walk_tensors(root: Any, names: dict[int, str]) -> list[GNode]:
    from ..tensor import Tensor

    if not isinstance(root, Tensor):
        kind = type(root)
        raise TypeError(
            f"expected a chainrule Tensor or Value, got {kind.__module__}.{kind.__qualname__}"
        )
    out: list[GNode] = []
    made: dict[int, GNode] = {}
    seen: set[int] = set()
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        t, done = stack.pop()
        node = t._node
        if done:
            g = GNode(len(out), t, "", requires_grad=t.requires_grad)
            if node is not None:
                g.op = op_label(node.fn, node.inputs)
                for i, a in enumerate(node.inputs):
                    if isinstance(a, Tensor):
                        g.inputs.append(made[id(a)])
                    elif _is_operand(node.fn, i, a):
                        c = GNode(len(out), a, _const_name(a), kind="const", requires_grad=False)
                        out.append(c)
                        g.inputs.append(c)
                    else:
                        continue
                    g.slots.append(i)
                g.index = len(out)
            g.is_param = id(t) in names
            g.name = names.get(id(t)) or f"t{g.index}"
            out.append(g)
            made[id(t)] = g
            continue
        if id(t) in seen:
            continue
        seen.add(id(t))
        stack.append((t, True))
        if node is None:
            continue
        if node.inputs is None:
            raise RuntimeError(
                f"the graph of this tensor was freed by backward() (its {node.name()} node is "
                "released); run backward(retain_graph=True) to keep it for drawing/explaining"
            )
        for a in reversed(node.inputs):
            if isinstance(a, Tensor) and id(a) not in seen:
                stack.append((a, False))
    return out


def _const_name(a: Any) -> str:
    if np.ndim(a) == 0:
        return f"{float(a):.4g}"
    return f"const{tuple(np.shape(a))}"
