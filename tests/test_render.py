"""Rendering graphs to SVG/PNG: Graphviz's ``dot`` when it is there and works, else the bundled
``graphviz-pure`` of the ``viz`` extra; both paths are tested, the second even where ``dot`` is
installed (by PATH manipulation and by ``backend=``)."""

import io
import os
import re
import shutil
import stat

import numpy as np
import pytest

import chainrule as cr
from chainrule.viz import GraphvizNotFoundError, _render, draw_graph, render
from chainrule.viz._render import find_bundled, find_dot, render_source

BUNDLED = find_bundled()
needs_bundled = pytest.mark.skipif(BUNDLED is None, reason="graphviz-pure (viz extra) missing")
needs_dot = pytest.mark.skipif(find_dot() is None, reason="Graphviz's dot is not installed")


def _neuron():
    """The demo's neuron: relu(x @ w + b), after backward."""
    w = cr.tensor([0.5, -1.0, 2.0], requires_grad=True)
    b = cr.tensor(0.25, requires_grad=True)
    x = cr.tensor([1.0, 2.0, 3.0])
    y = cr.relu(x @ w + b)
    y.backward(retain_graph=True)
    return draw_graph(y, params={"x": x, "w": w, "b": b})


def _only_bundled_on_path(tmp_path, monkeypatch):
    """A PATH with graphviz-pure and no dot: a machine without system Graphviz."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    os.symlink(BUNDLED, bin_dir / "graphviz-pure")
    monkeypatch.setenv("PATH", str(bin_dir))
    assert shutil.which("dot") is None
    return bin_dir


def _titles(svg: str) -> set[str]:
    return set(re.findall(r'<g id="node\d+" class="node">\s*<title>([^<]+)</title>', svg))


@needs_bundled
def test_bundled_renders_svg_and_png_with_the_labels(tmp_path):
    g = _neuron()
    svg = render(g, tmp_path / "n.svg", backend="bundled")
    text = svg.read_text()
    assert text.lstrip().startswith("<?xml") and "<svg" in text
    for label in ("w", "b", "MatMul", "Relu", "grad 1", "shape (3,)"):
        assert f">{label}<" in text or label in text, label
    png = render(g, tmp_path / "n.png", backend="bundled")
    from PIL import Image

    im = Image.open(io.BytesIO(png.read_bytes()))
    assert im.format == "PNG" and im.width > 300 and im.height > 80
    # text was drawn: the picture is not just boxes (many distinct dark pixels)
    assert (np.asarray(im.convert("L")) < 100).sum() > 500


@needs_bundled
def test_auto_falls_back_to_bundled_when_dot_is_not_on_path(tmp_path, monkeypatch):
    _only_bundled_on_path(tmp_path, monkeypatch)
    data, used = render_source(_neuron().source, "png")
    assert used == "graphviz-pure" and data[:4] == b"\x89PNG"
    out = render(_neuron(), tmp_path / "n.svg")  # the default backend, no dot
    assert "graphviz-pure" in out.read_text()


@needs_bundled
def test_auto_falls_back_when_dot_is_there_but_broken(tmp_path, monkeypatch):
    bin_dir = _only_bundled_on_path(tmp_path, monkeypatch)
    fake = bin_dir / "dot"
    fake.write_text("#!/bin/sh\necho 'Format: \"png\" not recognized' >&2\nexit 1\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    assert find_dot() == str(fake)
    data, used = render_source(_neuron().source, "png")
    assert used == "graphviz-pure" and data[:4] == b"\x89PNG"
    with pytest.raises(RuntimeError, match="not recognized"):  # forced: the broken one's error
        render_source(_neuron().source, "png", backend="dot")


@needs_dot
def test_auto_prefers_a_working_system_dot():
    svg, used = render_source(_neuron().source, "svg")
    assert used == "dot" and b"<svg" in svg


@needs_dot
@needs_bundled
def test_bundled_and_system_dot_draw_the_same_nodes():
    src = _neuron().source
    ours = render_source(src, "svg", "bundled")[0].decode()
    theirs = render_source(src, "svg", "dot")[0].decode()
    assert _titles(ours) == _titles(theirs) and len(_titles(ours)) == 9  # 6 boxes, 3 ops
    assert ours.count("<path") == theirs.count("<path")  # the same edges


def test_no_renderer_at_all_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(_render, "find_bundled", lambda: None)
    with pytest.raises(GraphvizNotFoundError) as info:
        render(_neuron(), tmp_path / "x.svg")
    msg = str(info.value)
    assert "chainrule[viz]" in msg and "graphviz-pure" in msg
    assert "apt-get install graphviz" in msg and ".source" in msg
    assert not (tmp_path / "x.svg").exists()


@needs_bundled
def test_pdf_needs_system_graphviz(tmp_path, monkeypatch):
    _only_bundled_on_path(tmp_path, monkeypatch)
    with pytest.raises(GraphvizNotFoundError, match="cannot write pdf"):
        render(_neuron(), tmp_path / "x.pdf")


@needs_bundled
def test_bad_dot_text_reports_the_programs_message():
    with pytest.raises(RuntimeError, match="syntax error"):
        render_source("digraph { a -> ", "svg", backend="bundled")


def test_bad_backend_and_format_are_named(tmp_path):
    with pytest.raises(ValueError, match="backend must be one of"):
        render(_neuron(), tmp_path / "x.svg", backend="cairo")
    with pytest.raises(ValueError, match="unsupported format 'bmp'"):
        render(_neuron(), tmp_path / "x.bmp")


@needs_bundled
def test_render_accepts_dot_text_and_format_overrides_suffix(tmp_path):
    out = tmp_path / "new" / "graph.out"  # a missing folder is made
    out = render("digraph { a -> b }", out, format="svg", backend="bundled")
    assert "<svg" in out.read_text()


@needs_bundled
def test_jupyter_display_needs_no_system_dot(tmp_path, monkeypatch):
    _only_bundled_on_path(tmp_path, monkeypatch)
    bundle = _neuron()._repr_mimebundle_()
    assert bundle["image/svg+xml"].lstrip().startswith("<?xml")


@needs_bundled
def test_value_graph_renders_with_bundled(tmp_path):
    from chainrule.scalar import Value

    a, b = Value(2.0, label="a"), Value(-3.0, label="b")
    f = (a * b + a).tanh()
    f.backward()
    svg = render(draw_graph(f), tmp_path / "v.svg", backend="bundled").read_text()
    assert "tanh" in svg and "grad" in svg


@needs_bundled
def test_demo_writes_svg_and_png_without_system_dot(tmp_path, monkeypatch, capsys):
    from chainrule.cli import main

    _only_bundled_on_path(tmp_path, monkeypatch)
    out = tmp_path / "runs"
    assert main(["demo", "--epochs", "1", "--no-progress", "--out", str(out)]) == 0
    run = out / "demo"
    assert "<svg" in (run / "neuron.svg").read_text()
    assert (run / "neuron.png").read_bytes()[:4] == b"\x89PNG"
    printed = capsys.readouterr()
    assert "neuron.svg" in printed.out and "neuron.png" in printed.out
    assert "not found" not in printed.err


@needs_bundled
def test_graphviz_methods_fall_back_without_system_dot(tmp_path, monkeypatch):
    _only_bundled_on_path(tmp_path, monkeypatch)
    g = _neuron()
    assert g.pipe(format="png")[:4] == b"\x89PNG"
    assert "<svg" in g.pipe(format="svg", encoding="utf-8")
    out = g.render(outfile=tmp_path / "o.png")
    assert out == str(tmp_path / "o.png") and (tmp_path / "o.png").read_bytes()[:4] == b"\x89PNG"
    out = g.render("g", directory=tmp_path, format="svg", cleanup=True)
    assert out == str(tmp_path / "g.svg") and "<svg" in (tmp_path / "g.svg").read_text()
    assert not (tmp_path / "g").exists()  # cleanup removed the DOT file
