"""``draw_graph``: the expression graph with every value, every operation and every gradient.

One box per value (its name, its data, its gradient in red), one circle per operation, arrows
operand -> op -> result. Works for scalar ``Value`` graphs and ``Tensor`` graphs; the parameters
of an ``nn.Module`` are boxes labelled by name (``layers.0.weight``), so the weights are nodes of
the graph, the "surgery" that makes backpropagation a plain chain rule.
"""

from __future__ import annotations

import functools
import html
from pathlib import Path
from typing import Any

import numpy as np

from ._render import GraphvizNotFoundError, render_source  # noqa: F401 (re-exported)
from ._walk import GNode, is_value_graph, walk

GRAD_COLOR = "#c0392b"
_FILL = {"param": "#fff3c4", "value": "#eaf2fb", "input": "#eeeeee", "const": "#ffffff"}
_KEEP = object()  # "use the node's own .grad" (as opposed to a grad given for a frame)


def fmt(x: float, digits: int = 4) -> str:
    """A number with ``digits`` significant digits, without a trailing ``.0`` clutter.

    Example:
        >>> fmt(0.731058), fmt(-3.0), fmt(1234567.0)
        ('0.7311', '-3', '1.235e+06')
    """
    x = float(x)
    if x == 0:
        return "0"
    return f"{x:.{digits}g}"


def summary(arr: Any, max_elems: int = 4) -> str:
    """A short text for an array: its values when there are at most ``max_elems``, else its
    mean, min and max.

    Example:
        >>> summary(np.array([1.0, 2.5])), summary(np.arange(10.0))
        ('[1, 2.5]', 'mean 4.5 min 0 max 9')
    """
    a = np.asarray(arr.get() if hasattr(arr, "get") else arr)
    if a.ndim == 0:
        return fmt(a) if a.dtype.kind in "fciu" else str(a)
    if a.size <= max_elems:
        flat = ", ".join(fmt(v) if a.dtype.kind in "fciu" else str(v) for v in a.ravel())
        return f"[{flat}]"
    if a.size == 0:
        return "empty"
    if a.dtype.kind not in "fciu":
        return f"{int(a.sum())} true" if a.dtype.kind == "b" else a.dtype.name
    return f"mean {fmt(a.mean())} min {fmt(a.min())} max {fmt(a.max())}"


def _data_of(n: GNode) -> tuple[Any, Any]:
    """(data, grad) of a node as arrays / floats (grad ``None`` when absent)."""
    o = n.obj
    if n.kind == "const":
        return o, None
    if hasattr(o, "_prev"):
        return o.data, o.grad
    grad = o.grad._data if o.grad is not None else None
    return o._data, grad


def _plain(text: str) -> str:
    """A plain (quoted) DOT label: a backslash would escape DOT's closing quote."""
    return html.escape(text).replace("\\", "\\\\")


def _value_label(
    n: GNode, show_data: bool, show_grad: bool, max_elems: int, grad: Any = _KEEP
) -> str:
    data, own = _data_of(n)
    grad = own if grad is _KEEP else grad
    lines = [f"<b>{html.escape(n.name)}</b>"]
    is_tensor = not hasattr(n.obj, "_prev") and n.kind != "const"
    if is_tensor and np.ndim(data) > 0:
        lines.append(
            f"<font point-size='10'>shape {html.escape(str(tuple(np.shape(data))))}</font>"
        )
    if show_data and n.kind != "const":
        lines.append(f"data {html.escape(summary(data, max_elems))}")
    if show_grad and grad is not None:
        lines.append(
            f"<font color='{GRAD_COLOR}'>grad {html.escape(summary(grad, max_elems))}</font>"
        )
    return "<" + "<br/>".join(lines) + ">"


def _module_scopes(collapse: Any, params: Any) -> list[tuple[str, str, set[int]]]:
    """(cluster name, title, ids of its parameters) for each module to collapse."""
    if collapse is None:
        return []
    mods = collapse if isinstance(collapse, (list, tuple)) else [collapse]
    mod_names: dict[int, str] = {}
    if params is not None and hasattr(params, "named_modules"):
        mod_names = {id(m): name for name, m in params.named_modules()}
    scopes = []
    for k, m in enumerate(mods):
        if not hasattr(m, "parameters"):
            raise TypeError(f"collapse expects Modules, got {type(m).__name__}")
        name = mod_names.get(id(m)) or ""
        title = f"{name}: {type(m).__name__}" if name else type(m).__name__
        scopes.append((f"cluster_{k}", title, {id(p) for p in m.parameters()}))
    return scopes


def _assign_scopes(nodes: list[GNode], scopes: list[tuple[str, str, set[int]]]) -> dict[int, int]:
    """Which module box each node goes in (node index -> scope index).

    The rule: a module's box holds its parameters, values computed from its parameters alone
    (such as ``weight.T``), and every op that reads one of those -- with that op's result. For a
    ``Linear`` layer that is ``x @ W.T + b``: the transpose, the matmul and the bias add; the
    activation after it reads no parameter of the layer, so it stays outside.
    """
    where: dict[int, int] = {}
    for s, (_, _, pids) in enumerate(scopes):
        pure: set[int] = set()  # node indices computed from this module's parameters alone
        for n in nodes:
            if id(n.obj) in pids and n.kind == "value":
                pure.add(n.index)
                where.setdefault(n.index, s)
            elif n.op and n.inputs:
                reads = [i.index in pure for i in n.inputs]
                if any(reads):
                    where.setdefault(n.index, s)
                    if all(r or i.kind == "const" for r, i in zip(reads, n.inputs)):
                        pure.add(n.index)
    return where


def draw_graph(
    root: Any,
    params: Any = None,
    rankdir: str = "LR",
    show_grad: bool = True,
    show_data: bool = True,
    collapse: Any = None,
    max_elems: int = 4,
    collapse_style: str = "cluster",
    title: str | None = None,
) -> Any:
    """Draw the graph that produced ``root`` (a ``Value`` or a ``Tensor``) as a Graphviz graph.

    Each value is a box with its name, its data (tensors: shape and the values, or mean/min/max
    when there are more than ``max_elems``) and, once backward has run, its gradient in red; each
    operation is a circle; arrows go operand -> op -> result. Parameters (yellow) are named from
    ``params``: a Module (``named_parameters()``, so ``layers.0.weight``) or a dict name -> tensor;
    Values use their labels; other values get ``t<k>``/``v<k>``, the names ``explain`` uses too.
    Tensors that need no gradient (the input ``x``) are grey; numbers are plain text.

    ``rankdir``: ``'LR'`` (left to right) or ``'TB'`` (top down). ``collapse``: a Module or a list
    of them; each gets a labelled box (``collapse_style='cluster'``) holding its parameters and the
    ops that read them (see :func:`_assign_scopes` for the rule), or is shrunk to one node
    (``collapse_style='box'``).

    Returns a ``graphviz.Digraph``: it shows inline in Jupyter, ``.source`` is the DOT text, and
    :func:`render` writes SVG or PNG.

    Example:
        >>> import chainrule as cr
        >>> a = cr.tensor(2.0, requires_grad=True)
        >>> b = cr.tensor(-3.0, requires_grad=True)
        >>> f = a * b
        >>> f.backward(retain_graph=True)          # keep the graph to draw it
        >>> g = draw_graph(f, params={"a": a, "b": b})
        >>> print(g.source.count("shape=box"), g.source.count("shape=circle"))
        3 1
        >>> "grad -3" in g.source                     # a.grad = b = -3
        True
    """
    if rankdir not in ("LR", "TB", "RL", "BT"):
        raise ValueError(f"rankdir must be 'LR', 'TB', 'RL' or 'BT', got {rankdir!r}")
    if collapse_style not in ("cluster", "box"):
        raise ValueError(f"collapse_style must be 'cluster' or 'box', got {collapse_style!r}")
    nodes = walk(root, params)
    scopes = _module_scopes(collapse, params)
    return _digraph(
        nodes, is_value_graph(root), scopes, collapse_style == "box", rankdir=rankdir,
        show_grad=show_grad, show_data=show_data, max_elems=max_elems, title=title,
    )  # fmt: skip


def _digraph(
    nodes: list[GNode],
    values: bool,
    scopes: list[tuple[str, str, set[int]]],
    boxed: bool,
    *,
    rankdir: str = "LR",
    show_grad: bool = True,
    show_data: bool = True,
    max_elems: int = 4,
    title: str | None = None,
    grads: dict[int, Any] | None = None,
    node_attrs: dict[str, dict] | None = None,
    edge_attrs: dict[tuple[str, str], dict] | None = None,
) -> Any:
    """The DOT graph of walked ``nodes``: what :func:`draw_graph` returns, and each frame of
    ``animate`` (which passes ``grads``, node index -> the gradient to show, instead of each
    value's own ``.grad``, and extra DOT attributes per node id / per edge to highlight a step).
    """
    import graphviz

    where = _assign_scopes(nodes, scopes)
    node_attrs = node_attrs or {}
    edge_attrs = edge_attrs or {}

    g = _graph_class()("chainrule", format="svg")
    g.attr(rankdir=rankdir, fontname="Helvetica", nodesep="0.25", ranksep="0.35")
    if title:
        g.attr(label=title, labelloc="t", fontsize="16")
    g.attr("node", fontname="Helvetica", fontsize="12")
    g.attr("edge", color="#555555", arrowsize="0.7")

    # graphviz statements per scope: None = top level, s = module s
    body: dict[Any, list[tuple[str, str, dict]]] = {None: []}
    for n in nodes:
        s = where.get(n.index)
        if boxed and s is not None:
            continue
        if n.kind == "const":
            attrs = {
                "shape": "plaintext",
                "fontcolor": "#555555",
                **node_attrs.get(f"n{n.index}", {}),
            }
            label = _plain(n.name)
            body.setdefault(s, []).append((f"n{n.index}", label, attrs))
            continue
        named_leaf = values and n.is_leaf and not n.name.lstrip("-")[:1].isdigit()
        if (n.is_param and n.requires_grad) or named_leaf:  # a named input (data) is no weight
            fill = _FILL["param"]
        elif values and n.is_leaf:  # an unlabelled constant Value (the 1 of `e + 1`)
            fill = _FILL["input"]
        elif n.is_leaf and not values and not n.requires_grad:
            fill = _FILL["input"]
        else:
            fill = _FILL["value"]
        attrs = {"shape": "box", "style": "rounded,filled", "fillcolor": fill}
        attrs.update(node_attrs.get(f"n{n.index}", {}))
        grad = _KEEP if grads is None else grads.get(n.index)
        label = _value_label(n, show_data, show_grad, max_elems, grad)
        body.setdefault(s, []).append((f"n{n.index}", label, attrs))
        if n.op:
            attrs = {
                "shape": "circle",
                "style": "filled",
                "fillcolor": "#d6eaf8",
                "fontsize": "11" if len(n.op) > 3 else "14",
                "width": "0.45",
                "margin": "0.02",
                **node_attrs.get(f"op{n.index}", {}),
            }
            body[s].append((f"op{n.index}", _plain(n.op), attrs))

    def node_id(n: GNode) -> str:
        s = where.get(n.index)
        return f"box{s}" if boxed and s is not None else f"n{n.index}"

    for s, stmts in body.items():
        target = g
        sub = None
        if s is not None:
            sub = graphviz.Digraph(name=scopes[s][0])
            sub.attr(
                label=scopes[s][1], style="rounded,dashed", color="#7f8c8d", fontname="Helvetica"
            )
            target = sub
        for nid, label, attrs in stmts:
            target.node(nid, label, **attrs)
        if sub is not None:
            g.subgraph(sub)
    if boxed:
        for s in sorted(set(where.values())):
            g.node(
                f"box{s}",
                html.escape(scopes[s][1]),
                shape="box3d",
                style="filled",
                fillcolor="#fdebd0",
            )

    edges: set[tuple[str, str]] = set()
    for n in nodes:
        if not n.op:
            continue
        op_id = f"op{n.index}"
        inside = boxed and n.index in where
        if not inside:
            g.edge(op_id, f"n{n.index}", **edge_attrs.get((op_id, f"n{n.index}"), {}))
        for i in n.inputs:
            src, dst = node_id(i), (f"box{where[n.index]}" if inside else op_id)
            if src == dst:
                continue
            if boxed and (src, dst) in edges:
                continue
            edges.add((src, dst))
            g.edge(src, dst, **edge_attrs.get((src, dst), {}))
    return g


def render(
    graph: Any,
    path: str | Path,
    format: str | None = None,  # noqa: A002
    backend: str = "auto",
) -> Path:
    """Write ``graph`` (from :func:`draw_graph`, or DOT text) to ``path`` as SVG or PNG (PDF
    with Graphviz installed).

    ``format`` defaults to the file's extension. ``backend='auto'`` uses Graphviz's ``dot``
    when it is installed and works, else the self-contained ``graphviz-pure`` that the ``viz``
    extra installs (SVG and PNG, the same Graphviz 16 layout, fonts built in); ``'dot'`` or
    ``'bundled'`` force one. Raises :class:`GraphvizNotFoundError`, saying what to install,
    when neither is there.

    Example:
        >>> import chainrule as cr, tempfile, os
        >>> a = cr.tensor(2.0, requires_grad=True)
        >>> g = draw_graph(a * a)
        >>> try:
        ...     out = render(g, os.path.join(tempfile.mkdtemp(), "graph.svg"))
        ... except GraphvizNotFoundError:
        ...     out = None                                # no renderer is installed here
        >>> out is None or "<svg" in out.read_text()
        True
    """
    path = Path(path)
    fmt_ = (format or path.suffix.lstrip(".") or "svg").lower()
    source = graph if isinstance(graph, str) else graph.source
    data, _ = render_source(source, fmt_, backend)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@functools.cache
def _graph_class() -> type:
    """The ``graphviz.Digraph`` subclass that :func:`draw_graph` returns. Where Graphviz's
    ``dot`` is missing, its Jupyter display, ``.pipe()`` and ``.render()`` fall back to the
    bundled renderer (:func:`render`'s programs), so it draws without a system Graphviz too.

    Example:
        >>> g = _graph_class()("g")
        >>> g.edge("a", "b")
        >>> "a -> b" in g.source
        True
    """
    import graphviz

    class Graph(graphviz.Digraph):
        def _repr_mimebundle_(self, include: Any = None, exclude: Any = None, **_: Any) -> dict:
            try:
                svg, _used = render_source(self.source, "svg")
            except RuntimeError as e:
                return {"text/plain": f"{self.source}\n({e})"}
            return {"image/svg+xml": svg.decode()}

        def pipe(self, format: str | None = None, **kwargs: Any) -> Any:  # noqa: A002
            try:
                return super().pipe(format, **kwargs)
            except graphviz.ExecutableNotFound:
                if any(kwargs.get(k) for k in ("renderer", "formatter", "neato_no_op", "engine")):
                    raise
                data, _used = render_source(self.source, format or self.format)
                enc = kwargs.get("encoding")
                return data.decode(enc) if enc else data

        def render(
            self,
            filename: Any = None,
            directory: Any = None,
            view: bool = False,
            cleanup: bool = False,
            format: str | None = None,  # noqa: A002
            **kwargs: Any,
        ) -> str:
            try:
                return super().render(
                    filename, directory=directory, view=view, cleanup=cleanup, format=format,
                    **kwargs,
                )  # fmt: skip
            except graphviz.ExecutableNotFound:
                outfile = kwargs.pop("outfile", None)
                if view or any(kwargs.get(k) for k in ("renderer", "formatter", "engine")):
                    raise
                if outfile is not None:
                    target = Path(outfile)
                    fmt_ = format or target.suffix.lstrip(".") or self.format
                else:
                    fmt_ = format or self.format
                    saved = Path(self.save(filename, directory=directory))
                    target = saved.with_name(f"{saved.name}.{fmt_}")
                    if cleanup:
                        saved.unlink()
                return str(render(self, target, fmt_))

    return Graph
