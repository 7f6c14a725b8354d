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

from ..autograd.engine import topological_order
from ..autograd.node import AccumulateGrad
from ..tensor import Tensor, edge_of

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
    node: Any = None  # the engine node that made it (a leaf: its AccumulateGrad node)
    slot: int = 0  # which output of that node it is

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
    out = {}
    for name, t in items:
        out[id(t)] = str(name)
        data = getattr(t, "_data", None)
        if data is not None:  # a constant input is met in the graph as its array
            out.setdefault(id(data), str(name))
    return out


def op_label(fn: Any, inputs: tuple) -> str:
    """How an op of a Tensor graph is shown: a symbol for arithmetic, else its name.

    Example:
        >>> import chainrule as cr
        >>> w = cr.tensor([1.0, 2.0], requires_grad=True)
        >>> op_label(w[0].grad_fn.fn, w[0].grad_fn.saved)
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
    if not isinstance(root, Tensor):
        kind = type(root)
        raise TypeError(
            f"expected a chainrule Tensor or Value, got {kind.__module__}.{kind.__qualname__}"
        )
    if not root.requires_grad:
        g = GNode(0, root, names.get(id(root)) or "t0", requires_grad=False)
        g.is_param = id(root) in names
        return [g]
    try:
        order = topological_order([root])
    except RuntimeError:
        raise RuntimeError(
            "the graph of this tensor was freed by backward() (its nodes are released); run "
            "backward(retain_graph=True) to keep it for drawing/explaining"
        ) from None
    values = _Values(root, edge_of(root), order)
    out: list[GNode] = []
    made: dict[tuple, GNode] = {}  # (id(node), slot) -> the value it made
    consts: dict[int, GNode] = {}  # id(array) -> a constant tensor operand

    def add(g: GNode, key: Any = None) -> GNode:
        key = id(g.obj) if key is None else key
        g.index = len(out)
        g.is_param = key in names
        g.name = names.get(key) or g.name or f"t{g.index}"
        out.append(g)
        return g

    for node in order:
        if type(node) is AccumulateGrad:
            made[(id(node), 0)] = add(GNode(0, node.variable, "", node=node))
            continue
        operands: list[GNode] = []
        slots: list[int] = []
        saved = _saved(node)
        for i, e in enumerate(node.edges):
            a = saved[i]
            if e is not None:
                operands.append(made[(id(e[0]), e[1])])
            elif node.tmask >> i & 1:  # a tensor that needs no gradient
                if a is None or not hasattr(a, "__array__") and not hasattr(a, "get"):
                    continue
                c = consts.get(id(a))
                if c is None:
                    c = GNode(0, Tensor._wrap(a), "", requires_grad=False)
                    c = consts[id(a)] = add(c, id(a))
                operands.append(c)
            elif _is_operand(node.fn, i, a):
                operands.append(add(GNode(0, a, _const_name(a), kind="const", requires_grad=False)))
            else:
                continue
            slots.append(i)
        label = op_label(node.fn, saved)
        for k in values.slots(node):
            g = GNode(
                0, values.tensor(node, k), "", op=label if node.n_out == 1 else f"{label}[{k}]"
            )
            g.inputs, g.slots, g.node, g.slot = operands, slots, node, k
            made[(id(node), k)] = add(g)
    return out


class _Values:
    """The forward value of each node output, for drawing: the root itself, a tensor that
    ``retain_grad``, an array some node saved, or else recomputed from the node's inputs (a
    node keeps only what backward needs, so most intermediate values are not kept)."""

    def __init__(self, root: Any, root_edge: tuple, order: list) -> None:
        self.root, self.root_edge = root, root_edge[:2]
        self.known: dict[tuple, Any] = {(id(root_edge[0]), root_edge[1]): root._data}
        self.used: dict[int, set] = {id(root_edge[0]): {root_edge[1]}}
        for node in order:
            for i, e in enumerate(node.edges):
                if e is None:
                    continue
                self.used.setdefault(id(e[0]), set()).add(e[1])
                a = _saved(node)[i]
                if a is not None and hasattr(a, "dtype") and hasattr(a, "size"):
                    self.known.setdefault((id(e[0]), e[1]), a)

    def slots(self, node: Any) -> list[int]:
        return sorted(self.used.get(id(node), {0}))

    def tensor(self, node: Any, k: int) -> Any:
        if (node, k) == self.root_edge:
            return self.root
        ref = node.hooks.retains.get(k) if node.hooks is not None else None
        t = ref() if ref is not None else None
        if t is not None:
            return t
        t = Tensor._wrap(self.value(node, k))
        t._requires_grad = True
        return t

    def value(self, node: Any, k: int) -> Any:

        key = (id(node), k)
        if key in self.known:
            return self.known[key]
        v = None
        if type(node) is AccumulateGrad:
            v = node.variable._data
        elif node.ans is not None and hasattr(node.ans, "size"):
            v = node.ans
        elif hasattr(node.fn, "forward"):  # a primitive: run its forward again on the inputs
            args = []
            saved = _saved(node)
            for i, e in enumerate(node.edges):
                args.append(saved[i] if e is None else self.value(e[0], e[1]))
            if not any(a is None and node.tmask >> i & 1 for i, a in enumerate(args)):
                v = node.fn.forward(*args, **node.params)
        if v is None:  # e.g. a custom Function's output no node kept: its shape is known
            v = np.full(_out_shape(node, k), np.nan, dtype=np.float32)
        self.known[key] = v
        return v


def _saved(node: Any) -> list:
    """A node's saved arguments (a custom Function keeps its own: none are known here)."""
    saved = node.saved
    return saved if isinstance(saved, list) else [None] * len(node.edges)


def _out_shape(node: Any, k: int) -> tuple:
    outs = getattr(node.fn, "outputs", None)
    return tuple(outs[k][0]) if outs else ()


def _const_name(a: Any) -> str:
    if np.ndim(a) == 0:
        return f"{float(a):.4g}"
    return f"const{tuple(np.shape(a))}"
