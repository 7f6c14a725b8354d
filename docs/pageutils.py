"""Helpers for the executed code blocks of the tutorials (markdown-exec runs them while the site
builds; each page imports this in a hidden first block). They turn what a block made into HTML
for the page: a graph drawn by ``chainrule.viz.draw_graph`` as inline SVG, a matplotlib figure as
inline SVG, and the interactive explorer as an ``<iframe>`` holding its self-contained page."""

from __future__ import annotations

import html
import io
import tempfile
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display while the site builds

import matplotlib.pyplot as plt  # noqa: E402

def _inline(svg: str) -> str:
    """An SVG document as an element to put in a page (no XML prolog or DOCTYPE)."""
    return svg[svg.index("<svg") :]


def svg(graph: Any, caption: str = "") -> str:
    """A graph from ``draw_graph`` rendered by ``chainrule.viz.render``, as inline SVG."""
    from chainrule.viz import render

    with tempfile.TemporaryDirectory() as tmp:
        text = Path(render(graph, Path(tmp) / "graph.svg")).read_text()
    cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    return f'<figure class="cr-graph">{_inline(text)}{cap}</figure>'


def figure(fig: Any, caption: str = "") -> str:
    """A matplotlib figure as inline SVG (and closes it)."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    return f'<figure class="cr-plot">{_inline(buf.getvalue())}{cap}</figure>'


def embed(explorer: Any, height: int = 820) -> str:
    """The explorer's self-contained page (``explorer.html``, what ``explorer.save(path)``
    writes) in an ``<iframe>``: it runs offline, inside the tutorial."""
    return (
        '<iframe class="cr-explorer" title="chainrule explorer" sandbox="allow-scripts" '
        f'style="width:100%;height:{height}px;border:1px solid #ccc;border-radius:4px" '
        f'srcdoc="{html.escape(explorer.html, quote=True)}"></iframe>'
    )
