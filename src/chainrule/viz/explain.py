"""``explain``: the backward pass as a table, one chain-rule step per row.

Each row is one edge of the graph walked backwards: an op's result hands its gradient (the
*upstream* gradient, d root / d result) to one operand, multiplied by the op's *local* derivative
(d result / d operand, with its formula from the op's rule). The product lands in the operand's
gradient; where an operand feeds two ops, the second product is added to the first, and the row
shows the sum (``a.grad = 0.5 + 1.5 = 2``).

``explain`` runs the engine's own backward walk read-only: it sees each step through a callback,
never writes any ``.grad``, runs no hook and frees nothing, so the user's ``backward()`` before
or after is unaffected.
"""

from __future__ import annotations

import builtins
import html
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..autograd.engine import run_backward
from ..tensor import Tensor
from ._walk import GNode, is_value_graph, walk
from .graph import fmt, summary

# Primitives whose Jacobian is diagonal: their local derivative is one number per element.
ELEMENTWISE = {
    "Add", "Sub", "Mul", "Div", "Neg", "Pow", "Exp", "Expm1", "Log", "Log1p", "Sqrt", "Sign",
    "Abs", "Sin", "Cos", "Tanh", "Sigmoid", "Relu", "Clamp", "Maximum", "Minimum", "Where",
    "Clone", "Cast",
}  # fmt: skip
_INFIX = {"+", "-", "*", "/", "@", "**"}


@dataclass
class Row:
    """One step of the backward pass: ``operand.grad += local * upstream``.

    ``local``, ``upstream``, ``contribution`` and ``total`` are floats for scalar graphs (Values,
    one-element tensors) and NumPy arrays for tensors; ``local`` is ``None`` where the local
    derivative is a full Jacobian (``MatMul``, ``Sum`` into a vector) and only the formula is
    shown. ``contributions`` lists every product that reached ``operand`` so far, so
    ``accumulates`` is True from the second one on. Row 0 is the seed, d root / d root = 1.

    Example:
        >>> Row(1, "f = a * b", "*", "f", "a", "d(a*b)/da = b", -3.0, 1.0, -3.0, -3.0).note
        'a.grad = -3'
    """

    step: int
    expr: str
    op: str
    node: str
    operand: str
    formula: str
    local: Any
    upstream: Any
    contribution: Any
    total: Any
    contributions: list = field(default_factory=list)
    count: int = 0
    node_index: int = -1  # the walk's index of the op's result (``-1`` for the seed row: none)
    operand_index: int = -1  # the walk's index of the operand (the seed row: the output's)
    slot: int = 0  # which argument of the op the operand is (``a * a``: slot 0, then 1)

    @property
    def accumulates(self) -> bool:
        """True when this product is added to an earlier one (the operand feeds several ops)."""
        return builtins.max(self.count, len(self.contributions)) > 1

    @property
    def note(self) -> str:
        """Where the product lands, with the sum spelled out when it accumulates (up to
        ``MAX_TERMS`` terms; past that, how many products the sum has)."""
        if not self.contributions and not self.count:
            self.contributions = [self.contribution]
        n = builtins.max(self.count, len(self.contributions))
        if n > 1:
            if n <= MAX_TERMS and all(_is_num(c) for c in self.contributions):
                terms = " + ".join(_num(c) for c in self.contributions)
                return f"{self.operand}.grad = {terms} = {_num(self.total)}"
            return f"{self.operand}.grad = sum of {n} products = {_num(self.total)}"
        return f"{self.operand}.grad = {_num(self.total)}"


MAX_TERMS = 6  # a note spells out a sum of at most this many products


def _so_far(got: list) -> tuple[list, int]:
    """The products an operand has received so far, as a Row keeps them: the list itself only
    while it is short (copying a long one on every row would make big graphs quadratic)."""
    return (list(got) if len(got) <= MAX_TERMS else []), len(got)


def _is_num(x: Any) -> bool:
    return x is not None and np.size(x) == 1


def _num(x: Any, max_elems: int = 4) -> str:
    if x is None:
        return "(Jacobian)"
    if np.size(x) == 1:
        return fmt(np.asarray(x).item())
    return summary(x, max_elems)


def _paren(name: str) -> str:
    """``(1+e)`` for a label that is itself an expression, so ``(1+e)**-1`` reads right."""
    plain = name.replace("_", "").replace(".", "").isalnum() or _is_number(name)
    return name if plain else f"({name})"


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def _expr(n: GNode) -> str:
    names = [_paren(i.name) for i in n.inputs]
    op = n.op
    if op.startswith("[") and names:
        return f"{n.name} = {names[0]}{op}"
    if op in _INFIX and len(names) == 2:
        return f"{n.name} = {names[0]} {op} {names[1]}"
    if op.startswith("**") and len(names) == 1:
        return f"{n.name} = {names[0]}{op}"
    if op in ("-", "neg") and len(names) == 1:
        return f"{n.name} = -{names[0]}"
    return f"{n.name} = {op}({', '.join(names)})"


class Explanation:
    """The table of :func:`explain`: ``str()`` for a terminal, HTML in Jupyter, ``.rows`` data.

    Example:
        >>> import chainrule as cr
        >>> x = cr.tensor(3.0, requires_grad=True)
        >>> e = explain(x * x, params={"x": x})
        >>> e.rows[-1].note                       # both factors are x: 3 + 3
        'x.grad = 3 + 3 = 6'
        >>> "<table" in e._repr_html_()
        True
    """

    COLUMNS = ("step", "node", "to", "local derivative", "local", "upstream", "local*upstream",
               "lands in")  # fmt: skip

    def __init__(self, rows: list[Row], root_name: str) -> None:
        self.rows = rows
        self.root_name = root_name

    def _cells(self, r: Row) -> list[str]:
        local = "" if r.step == 0 else _num(r.local)
        upstream = "" if r.step == 0 else _num(r.upstream)
        return [str(r.step), r.expr, r.operand, r.formula, local, upstream, _num(r.contribution),
                r.note + ("  <- accumulates" if r.accumulates else "")]  # fmt: skip

    def __str__(self) -> str:
        table = [list(self.COLUMNS)] + [self._cells(r) for r in self.rows]
        widths = [max(len(row[c]) for row in table) for c in range(len(self.COLUMNS))]
        right = {0, 4, 5, 6}
        lines = []
        for k, row in enumerate(table):
            cells = [
                c.rjust(w) if i in right else c.ljust(w)
                for i, (c, w) in enumerate(zip(row, widths))
            ]
            lines.append("  ".join(cells).rstrip())
            if k == 0:
                lines.append("  ".join("-" * w for w in widths))
        head = (
            f"Backward pass of {self.root_name}, in reverse topological order: each row is one "
            "chain-rule step,\noperand.grad += local derivative * upstream gradient."
        )
        return head + "\n\n" + "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in self.COLUMNS)
        body = []
        for r in self.rows:
            cells = [html.escape(c) for c in self._cells(r)]
            cells[6] = f"<span style='color:#c0392b'>{cells[6]}</span>"
            style = " style='background:#fdebd0'" if r.accumulates else ""
            body.append(f"<tr{style}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        return (
            f"<p>Backward pass of <b>{html.escape(self.root_name)}</b>: "
            "operand.grad += local derivative &times; upstream gradient</p>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
        )


def explain(root: Any, params: Any = None, grad: Any = None) -> Explanation:
    """The backward pass of ``root`` (a ``Value`` or a small ``Tensor`` graph) step by step.

    Rows come in reverse topological order, one per (op, operand) edge, after a seed row
    d root / d root = ``grad`` (1 by default; a non-scalar tensor root needs ``grad``). Names are
    those of :func:`draw_graph`: Value labels, parameter names from ``params`` (a Module or a dict
    name -> tensor or Value), else ``t<k>`` / ``v<k>``.

    ``explain`` computes the gradients itself, in a side table, from the graph as recorded: it
    does not touch ``.grad`` and frees nothing, so call it before or after your own
    ``backward()``. A Tensor graph must still be in memory: call it before ``backward()``, or
    after ``backward(retain_graph=True)``. Values store their local derivatives at forward time,
    so a Value graph can be explained any time.

    Example:
        >>> import chainrule as cr
        >>> a = cr.tensor(2.0, requires_grad=True)
        >>> b = cr.tensor(-3.0, requires_grad=True)
        >>> e = explain(a * b + a, params={"a": a, "b": b})
        >>> [(r.operand, r.formula, r.contribution) for r in e.rows[2:]]
        [('a', 'd(a+b)/db = 1', 1.0), ('a', 'd(a*b)/da = b', -3.0), ('b', 'd(a*b)/db = a', 2.0)]
        >>> e.rows[-2].note                       # a feeds both the sum and the product
        'a.grad = 1 + -3 = -2'
    """
    nodes = walk(root, params)
    if is_value_graph(root):
        rows = _explain_values(nodes, 1.0 if grad is None else float(grad))
    else:
        rows = _explain_tensors(nodes, grad)
    return Explanation(rows, nodes[-1].name)


def _seed_row(n: GNode, seed: Any) -> Row:
    s = seed if np.size(seed) != 1 else float(np.asarray(seed).item())
    formula = f"d{n.name}/d{n.name} = 1" if np.all(np.asarray(s) == 1) else "the given grad"
    return Row(0, f"{n.name} (output)", "", n.name, n.name, formula, 1.0, None, s, s, [s],
               operand_index=n.index)  # fmt: skip


def _explain_values(nodes: list[GNode], seed: float) -> list[Row]:
    grads: dict[int, float] = {nodes[-1].index: seed}
    received: dict[int, list] = {nodes[-1].index: [seed]}
    rows = [_seed_row(nodes[-1], seed)]
    for n in reversed(nodes):
        g = grads.get(n.index)
        if not n.op or g is None:
            continue
        v = n.obj
        formulas = getattr(v, "_formulas", ()) or ()
        for operand, slot in zip(n.inputs, n.slots):
            local = float(v._local[slot])
            c = local * g
            grads[operand.index] = grads.get(operand.index, 0.0) + c
            got = received.setdefault(operand.index, [])
            got.append(c)
            rows.append(
                Row(
                    len(rows),
                    _expr(n),
                    n.op,
                    n.name,
                    operand.name,
                    formulas[slot] if slot < len(formulas) else "",
                    local,
                    g,
                    c,
                    grads[operand.index],
                    *_so_far(got),
                    n.index,
                    operand.index,
                    slot,
                )  # fmt: skip
            )
    return rows


def _as_out(a: Any) -> Any:
    a = np.asarray(a.get() if hasattr(a, "get") else a)
    return float(a.item()) if a.size == 1 else a


def _explain_tensors(nodes: list[GNode], grad: Any) -> list[Row]:
    root = nodes[-1].obj
    if grad is None:
        if root.numel() != 1:
            raise ValueError(
                f"explain: the output has shape {tuple(root.shape)}; pass grad= (an array of "
                "that shape), as for backward()"
            )
        grad = np.ones_like(root._data)
    seed = np.asarray(getattr(grad, "_data", grad), dtype=root.dtype)
    if seed.shape != tuple(root.shape) and seed.size != 1:
        raise ValueError(
            f"explain: grad has shape {seed.shape} but the output has shape {tuple(root.shape)}"
        )
    seed = np.broadcast_to(seed.reshape(()) if seed.size == 1 else seed, root.shape).copy()
    rows = [_seed_row(nodes[-1], _as_out(seed))]
    if not root.requires_grad or root.grad_fn is None:
        return rows
    for n in nodes:
        if n.node is not None and n.node.n_out > 1:
            raise NotImplementedError(
                f"explain: a multi-output Function ({n.node.fn.name}) is not supported; "
                "draw_graph shows it, and backward differentiates it"
            )
    # The engine's own walk, read-only (no .grad written, no hook run, nothing freed); each
    # step hands over the node's upstream gradient and what it sends to each input.
    steps: dict[int, tuple] = {}

    def on_node(node: Any, gs: list, in_grads: list) -> None:
        locals_ = None
        if gs[0].size == 1 or node.fn.name in ELEMENTWISE:
            locals_ = node.fn.backward(node, np.ones_like(gs[0]), False)
        steps[id(node)] = (gs[0], list(in_grads), locals_)

    try:
        run_backward([root], [Tensor._wrap(seed)], True, False, accumulate=False,
                     on_node=on_node, hooks=False)  # fmt: skip
    except RuntimeError as e:
        if "retain_graph" in str(e):
            raise RuntimeError(
                "explain: this graph was freed by backward(); call explain() before backward(), "
                "or run backward(retain_graph=True)"
            ) from None
        raise RuntimeError(f"explain: {e}") from None
    totals: dict[int, Any] = {nodes[-1].index: seed}
    received: dict[int, list] = {nodes[-1].index: [_as_out(seed)]}
    for n in reversed(nodes):
        if not n.op or id(n.node) not in steps:
            continue
        g, in_grads, locals_ = steps.pop(id(n.node))
        for operand, slot in zip(n.inputs, n.slots):
            gi = in_grads[slot] if slot < len(in_grads) else None
            if gi is None:
                continue  # a constant, or a tensor that needs no gradient
            prev = totals.get(operand.index)
            totals[operand.index] = gi if prev is None else prev + gi
            got = received.setdefault(operand.index, [])
            got.append(_as_out(gi))
            local = None if locals_ is None or locals_[slot] is None else _as_out(locals_[slot])
            rows.append(
                Row(len(rows), _expr(n), n.op, n.name, operand.name, n.node.fn.formula(slot),
                    local, _as_out(g), _as_out(gi), _as_out(totals[operand.index]),
                    *_so_far(got), n.index, operand.index, slot)
            )  # fmt: skip
    return rows
