"""``explore``: step through the forward and the backward pass of your own graph, in a browser.

``explore(output)`` writes one self-contained HTML page (every script and style inside it, no
network) that draws the graph with its values and a stepper: first the forward pass, one op at a
time in topological order, then the backward pass one chain-rule step at a time, the very rows
of :func:`~chainrule.viz.explain` (same walk, same numbers): the op lights up, its local
derivative shows as a formula and a number, times the upstream gradient, and the product lands in
the operand's ``.grad`` (with the sum spelled out where a value feeds several ops). Clicking a
parameter highlights every path from the output to it with the product of the local derivatives
along each path; the sum of those products is its gradient (seed 002: for one weight, draw only
what its partial derivative needs).

Python computes every number the page shows and embeds it as JSON; the page's script only lays
the graph out and renders it.
"""

from __future__ import annotations

import html
import json
import math
import os
from importlib import resources
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from ._walk import GNode, is_value_graph, walk
from .explain import Explanation, Row, _explain_tensors, _explain_values, _expr
from .graph import _FILL, GRAD_COLOR, _assign_scopes, _module_scopes, fmt, summary

MAX_PATHS = 64  # paths listed per parameter (their number can grow exponentially with depth)
MAX_NODES = 2000  # a graph larger than this is refused unless max_nodes= says otherwise
EXACT_ELEMS = 64  # arrays up to this size carry every number for checks; larger ones: stats


class Explorer:
    """The explorer page of :func:`explore`: ``html`` (the whole page), ``save(path)``, and an
    inline display in Jupyter (``_repr_html_``, an ``<iframe srcdoc>`` so its script runs even
    where the notebook sanitizes HTML).

    ``data`` is what the page shows, as plain Python (nodes, steps, rows, paths).

    Example:
        >>> from chainrule import Value
        >>> a, b = Value(2.0, label="a"), Value(-3.0, label="b")
        >>> ex = explore(a * b + a)
        >>> ex.html.startswith("<!DOCTYPE html>"), len(ex.data["steps"])
        (True, 8)
        >>> "<iframe" in ex._repr_html_()
        True
    """

    def __init__(self, data: dict, height: int = 720) -> None:
        self.data = data
        self.height = height
        self.html = _page(data)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the page to ``path`` (its folder is created) and return the path.

        Example:
            >>> import tempfile, os
            >>> from chainrule import Value
            >>> x = Value(3.0, label="x")
            >>> p = explore(x * x).save(os.path.join(tempfile.mkdtemp(), "x.html"))
            >>> p.read_text().count("<script")
            2
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.html, encoding="utf-8")
        return path

    def _repr_html_(self) -> str:
        doc = html.escape(self.html, quote=True)
        return (
            f'<iframe srcdoc="{doc}" style="width:100%;height:{self.height}px;border:1px solid '
            '#ddd" sandbox="allow-scripts"></iframe>'
        )

    def __repr__(self) -> str:
        d = self.data
        return (
            f"Explorer({d['title']!r}: {len(d['nodes'])} nodes, {d['n_forward']} forward and "
            f"{len(d['rows'])} backward steps)"
        )


def explore(
    output: Any,
    path: str | os.PathLike | None = None,
    *,
    params: Any = None,
    grad: Any = None,
    collapse: Any = None,
    title: str | None = None,
    max_paths: int = MAX_PATHS,
    max_nodes: int = MAX_NODES,
    max_elems: int = 4,
) -> Explorer:
    """An interactive page that steps through the forward and backward pass of ``output``.

    ``output``: a scalar ``Value`` or a ``Tensor`` whose graph is still in memory (call this
    before ``backward()``, or after ``backward(retain_graph=True)``; a Value graph any time).
    Nothing is written into any ``.grad``: the gradients shown are computed by the engine's own
    backward walk, as :func:`~chainrule.viz.explain` does, and the backward steps are its rows.

    ``params``: names for the weights, as for :func:`~chainrule.viz.draw_graph` (a Module, a
    scalar MLP, or a dict name -> tensor / Value). ``grad``: the seed gradient for a non-scalar
    output. ``collapse`` (tensor graphs): a Module, a list of Modules, or ``True`` for every
    module of ``params`` that holds parameters of its own; each becomes one box on the page that
    a click expands (the rule for what goes in it is draw_graph's). ``max_paths``: how many
    output -> parameter paths to list per parameter (the page says how many there are in all).
    ``max_nodes``: larger graphs raise ``ValueError``. With ``path`` the page is also saved.

    Tensor nodes show their shape and a few values (``max_elems``; larger arrays: mean, min and
    max).

    Example:
        >>> from chainrule import Value
        >>> w, x, b = Value(2.0, label="w"), Value(-1.0, label="x"), Value(0.5, label="b")
        >>> ex = explore((w * x + b).tanh())
        >>> [s["phase"] for s in ex.data["steps"]]
        ['start', 'forward', 'forward', 'forward', 'backward', 'backward', 'backward', \
'backward', 'backward', 'backward']
        >>> p = ex.data["paths"][str(ex.data["names"].index("w"))]
        >>> p["count"], round(p["sum"], 6) == round(p["grad"], 6)
        (1, True)
    """
    if max_paths < 0:
        raise ValueError(f"explore: max_paths must be >= 0, got {max_paths}")
    nodes = walk(output, params)
    if len(nodes) > max_nodes:
        raise ValueError(
            f"explore: the graph has {len(nodes)} nodes, more than max_nodes={max_nodes}; explore "
            "a smaller piece (one sample, one neuron), collapse modules, or pass max_nodes="
        )
    values = is_value_graph(output)
    if values:
        if collapse is not None:
            raise ValueError("explore: collapse= groups nn.Module ops; a Value graph has none")
        rows = _explain_values(nodes, 1.0 if grad is None else float(grad))
    else:
        rows = _explain_tensors(nodes, grad)
    if collapse is True:
        collapse = _own_param_modules(params)
    scopes = _module_scopes(collapse, params) if collapse else []
    where = _assign_scopes(nodes, scopes)
    data = _build(nodes, rows, values, scopes, where, max_paths, max_elems)
    data["title"] = title or f"Backpropagation through {nodes[-1].name}"
    ex = Explorer(data)
    if path is not None:
        ex.save(path)
    return ex


def _own_param_modules(params: Any) -> list:
    if params is None or not hasattr(params, "named_modules"):
        raise ValueError("explore: collapse=True needs params= to be a Module (its layers)")
    return [m for _, m in params.named_modules() if any(True for _ in m.parameters(recurse=False))]


# ----- numbers as the page gets them --------------------------------------------------------


def _host(x: Any) -> Any:
    x = getattr(x, "_data", x)
    return np.asarray(x.get() if hasattr(x, "get") else x)


def _json_num(x: float) -> Any:
    """A float for JSON: non-finite values travel as strings ('inf', 'nan')."""
    x = float(x)
    return x if math.isfinite(x) else repr(x)


def _nums(x: Any) -> Any:
    """The numbers behind a shown value: a float, every element of a small array, or
    ``{"mean", "min", "max"}`` of a large one (``None`` for no value)."""
    if x is None:
        return None
    a = _host(x)
    if a.dtype.kind not in "fiub":
        return None
    if a.size == 1:
        return _json_num(a.item())
    if a.size <= EXACT_ELEMS:
        return [_json_num(v) for v in a.ravel().tolist()]
    if a.size == 0:
        return []
    f = a.astype(np.float64)
    return {"mean": _json_num(f.mean()), "min": _json_num(f.min()), "max": _json_num(f.max())}


def _text(x: Any, max_elems: int) -> str:
    if x is None:
        return ""
    a = _host(x)
    return fmt(a.item()) if a.size == 1 and a.dtype.kind in "fiu" else summary(a, max_elems)


def _role(n: GNode, values: bool) -> str:
    """'param', 'input', 'const' or 'value': the colour draw_graph gives the node."""
    if n.kind == "const":
        return "const"
    named_leaf = values and n.is_leaf and not n.name.lstrip("-")[:1].isdigit()
    if (n.is_param and n.requires_grad) or named_leaf:
        return "param"
    if n.is_leaf and (values or not n.requires_grad):
        return "input"
    return "value"


def _data_of(n: GNode) -> Any:
    o = n.obj
    if n.kind == "const":
        return o
    return o.data if hasattr(o, "_prev") else o._data


# ----- the page's data ----------------------------------------------------------------------


def _build(
    nodes: list[GNode],
    rows: list[Row],
    values: bool,
    scopes: list,
    where: dict,
    max_paths: int,
    max_elems: int,
) -> dict:
    final: dict[int, Row] = {}
    for r in rows:
        final[r.operand_index] = r
    out_nodes = []
    for n in nodes:
        data = _data_of(n)
        shape = None if values or n.kind == "const" else list(np.shape(_host(data)))
        last = final.get(n.index)
        out_nodes.append({
            "name": n.name, "op": n.op, "role": _role(n, values), "shape": shape,
            "value": _text(data, max_elems), "valueNum": _nums(data),
            "inputs": [[i.index, s] for i, s in zip(n.inputs, n.slots)],
            "group": where.get(n.index),
            "grad": None if last is None else _text(last.total, max_elems),
            "gradNum": None if last is None else _nums(last.total),
            "leaf": n.is_leaf, "requiresGrad": bool(n.requires_grad) and n.kind != "const",
        })  # fmt: skip
    cells = Explanation(rows, nodes[-1].name)
    out_rows = []
    for r in rows:
        out_rows.append({
            "node": r.node_index, "operand": r.operand_index, "slot": r.slot,
            "expr": r.expr, "formula": r.formula,
            "local": "" if r.step == 0 else _text_or_jacobian(r.local, max_elems),
            "localNum": None if r.step == 0 else _nums(r.local),
            "upstream": "" if r.step == 0 else _text(r.upstream, max_elems),
            "product": _text(r.contribution, max_elems), "productNum": _nums(r.contribution),
            "total": _text(r.total, max_elems), "totalNum": _nums(r.total),
            "note": r.note, "accumulates": r.accumulates, "cells": cells._cells(r),
        })  # fmt: skip
    steps: list[dict] = [{"phase": "start"}]
    for n in nodes:
        if n.op:
            steps.append({"phase": "forward", "node": n.index, "text": _forward_text(n, values)})
    n_forward = len(steps) - 1
    steps += [{"phase": "backward", "row": k} for k in range(len(rows))]
    return {
        "kind": "value" if values else "tensor",
        "nodes": out_nodes,
        "names": [n.name for n in nodes],
        "rows": out_rows,
        "steps": steps,
        "n_forward": n_forward,
        "columns": list(Explanation.COLUMNS),
        "groups": [{"title": s[1]} for s in scopes],
        "paths": _paths(nodes, rows, final, max_paths, max_elems),
        "max_paths": max_paths,
        "colors": {**_FILL, "grad": GRAD_COLOR},
        "root": nodes[-1].index,
    }


def _text_or_jacobian(x: Any, max_elems: int) -> str:
    return "(Jacobian)" if x is None else _text(x, max_elems)


def _forward_text(n: GNode, values: bool) -> str:
    """``t2 = a * b = 2 * -3 = -6`` (Values); ``t3 = MatMul(x, W): shape (1, 3) = [...]``."""
    expr = _expr(n)
    if not values:
        data = _host(_data_of(n))
        shape = f": shape {tuple(data.shape)}" if data.ndim else ""
        return f"{expr}{shape} = {_text(data, 4)}"
    vals = [SimpleNamespace(name=fmt(i.obj.data)) for i in n.inputs]
    with_numbers = _expr(SimpleNamespace(name="", op=n.op, inputs=vals))[3:]
    return f"{expr} = {with_numbers} = {fmt(n.obj.data)}"


def _paths(
    nodes: list[GNode], rows: list[Row], final: dict, max_paths: int, max_elems: int
) -> dict:
    """For each leaf that gets a gradient: the paths output -> leaf as lists of row numbers
    (each row is one edge, from an op's result to one operand), at most ``max_paths`` of them,
    with the product of the local derivatives along each, their exact count, and the gradient.
    """
    root = nodes[-1].index
    down: dict[int, list[int]] = {}  # node -> rows (edges) to its operands
    for k, r in enumerate(rows[1:], 1):
        down.setdefault(r.node_index, []).append(k)
    count = {root: 1}  # paths from the output to each node (each at most once: a DAG)
    for n in reversed(nodes):
        c = count.get(n.index, 0)
        for k in down.get(n.index, ()):
            o = rows[k].operand_index
            count[o] = count.get(o, 0) + c
    out: dict[str, Any] = {}
    for n in nodes:
        if not n.is_leaf or n.index not in final or n.index == root or n.kind == "const":
            continue
        reach = _reaching(nodes, n.index)
        found: list[list[int]] = []
        stack: list[tuple[int, list[int]]] = [(root, [])]
        while stack and len(found) < max_paths:
            at, so_far = stack.pop()
            if at == n.index:
                found.append(so_far)
                continue
            for k in reversed(down.get(at, ())):
                if rows[k].operand_index in reach:
                    stack.append((rows[k].operand_index, so_far + [k]))
        listed = []
        for p in found:
            locals_ = [rows[k].local for k in p]
            scalar = all(x is not None and np.size(x) == 1 for x in locals_)
            product = float(np.prod([float(_host(x).item()) for x in locals_])) if scalar else None
            listed.append({"rows": p, "product": None if product is None else _json_num(product),
                           "productText": "" if product is None else fmt(product)})  # fmt: skip
        products = [p["product"] for p in listed]
        total = count.get(n.index, 0)
        summable = products and all(isinstance(p, float) for p in products)
        out[str(n.index)] = {
            "count": total if total < 2**53 else str(total),
            "truncated": len(found) < total,
            "paths": listed,
            "sum": float(sum(products)) if summable else None,
            "sumText": fmt(sum(products)) if summable else "",
            "grad": _nums(final[n.index].total),
            "gradText": _text(final[n.index].total, max_elems),
        }
    return out


def _reaching(nodes: list[GNode], target: int) -> set[int]:
    """Indices of the nodes from which ``target`` can be reached by going to operands."""
    reach = {target}
    for n in nodes:
        if n.index > target and any(i.index in reach for i in n.inputs):
            reach.add(n.index)
    return reach


# ----- the page -------------------------------------------------------------------------------


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath("static", name).read_text(encoding="utf-8")


def _page(data: dict) -> str:
    blob = json.dumps(data, allow_nan=False, separators=(",", ":"))
    blob = blob.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    title = html.escape(data["title"])
    return _TEMPLATE.format(
        title=title, css=_asset("explore.css"), js=_asset("explore.js"), data=blob
    )


_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="chainrule.viz.explore">
<title>{title}</title>
<style>
{css}
</style>
</head>
<body>
<div id="app">
  <header><h1>{title}</h1>
  <div id="legend"></div></header>
  <div id="controls" role="toolbar" aria-label="stepper">
    <button id="first" title="first step (Home)">|&#x25C0;</button>
    <button id="prev" title="previous step (Left arrow)">&#x25C0;</button>
    <button id="play" title="play / pause (Space)">&#x25B6; play</button>
    <button id="next" title="next step (Right arrow)">&#x25B6;</button>
    <button id="last" title="last step (End)">&#x25B6;|</button>
    <select id="speed" title="play speed" aria-label="play speed">
      <option value="1800">slow</option><option value="900" selected>normal</option>
      <option value="300">fast</option><option value="80">very fast</option>
    </select>
    <input id="slider" type="range" min="0" value="0" aria-label="step">
    <span id="stepno"></span>
    <span class="spacer"></span>
    <button id="zoomout" title="zoom out">&minus;</button>
    <button id="fit" title="fit the graph to the window">fit</button>
    <button id="zoomin" title="zoom in">+</button>
  </div>
  <div id="main">
    <div id="canvas"><svg id="graph" xmlns="http://www.w3.org/2000/svg"></svg></div>
    <aside id="side">
      <section id="info" aria-live="polite"></section>
      <section id="pathsbox"><h2>Paths to a parameter</h2>
        <div id="paths"><p class="hint">Click a parameter (a yellow box) to see every path
        from the output to it: the product of the local derivatives along each path, and their
        sum, which is its gradient.</p></div></section>
    </aside>
  </div>
  <section id="tablebox"><h2>The backward pass, one row per chain-rule step
    (<code>explain</code>)</h2><div id="tablewrap"><table id="table"></table></div></section>
</div>
<script type="application/json" id="explore-data">{data}</script>
<script>
{js}
</script>
</body>
</html>
"""
