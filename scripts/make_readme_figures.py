"""Generate the README's figures from seed 003's sigmoid neuron (CS231n: w = [2, -3, -3],
x = [-1, -2]): the graph with forward values and gradients, and the explanation table.

Writes docs/seed003_graph.svg, docs/seed003_graph.png and docs/seed003_explain.txt.
Run from the repository root: python scripts/make_readme_figures.py
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from chainrule.viz import draw_graph, explain, render

ROOT = Path(__file__).resolve().parent.parent


def _seed003():
    path = ROOT / "examples" / "seed003_sigmoid_neuron.py"
    spec = importlib.util.spec_from_file_location("seed003_sigmoid_neuron", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(out_dir: Path = ROOT / "docs") -> list[Path]:
    """Build the neuron, run backward, write the picture (SVG, PNG) and the table."""
    out_dir.mkdir(parents=True, exist_ok=True)
    f, _ = _seed003().build_neuron()
    table = explain(f)
    f.backward()
    graph = draw_graph(
        f,
        title="f = sigmoid(w0*x0 + w1*x1 + w2): each box: data, and its gradient df/d(box) in red",
    )
    written = [
        render(graph, out_dir / "seed003_graph.svg"),
        render(graph, out_dir / "seed003_graph.png"),
    ]
    txt = out_dir / "seed003_explain.txt"
    txt.write_text(str(table) + "\n")
    written.append(txt)
    return written


if __name__ == "__main__":
    for p in main():
        print(p.relative_to(ROOT))
