"""See backpropagation: draw the graph (``draw_graph``), explain each chain-rule step
(``explain``) and animate the backward pass (``animate``), for scalar ``Value`` graphs and
``Tensor`` graphs alike.

Example:
    >>> import chainrule as cr
    >>> from chainrule.viz import explain
    >>> a = cr.tensor(2.0, requires_grad=True)
    >>> [round(r.contribution, 2) for r in explain(a * a, params={"a": a}).rows[1:]]
    [2.0, 2.0]
"""

from .animate import animate
from .explain import Explanation, Row, explain
from .graph import GraphvizNotFoundError, draw_graph, render

__all__ = [
    "draw_graph", "render", "explain", "animate", "Explanation", "Row", "GraphvizNotFoundError",
]  # fmt: skip
