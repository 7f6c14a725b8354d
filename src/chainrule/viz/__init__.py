"""See backpropagation: draw the graph (``draw_graph``), explain each chain-rule step
(``explain``), animate the backward pass (``animate``) and step through both passes in a
browser (``explore``), for scalar ``Value`` graphs and ``Tensor`` graphs alike.

Example:
    >>> import chainrule as cr
    >>> from chainrule.viz import explain
    >>> a = cr.tensor(2.0, requires_grad=True)
    >>> [round(r.contribution, 2) for r in explain(a * a, params={"a": a}).rows[1:]]
    [2.0, 2.0]
"""

from .animate import animate
from .explain import Explanation, Row, explain
from .explore import Explorer, explore
from .graph import GraphvizNotFoundError, draw_graph, render

__all__ = [
    "draw_graph", "render", "explain", "animate", "Explanation", "Row", "GraphvizNotFoundError",
    "explore", "Explorer",
]  # fmt: skip
