"""chainrule.viz: draw_graph checked structurally on its DOT source, explain's rows checked against
hand-derived chain-rule values and PyTorch."""

import math
import re
import shutil

import numpy as np
import pytest
import torch

import chainrule as cr
from chainrule.viz import GraphvizNotFoundError, draw_graph, explain, render

HAS_DOT = shutil.which("dot") is not None


def _parse(source):
    """(value/const node ids, op node ids, edges, id -> label) from a DOT source."""
    labels = dict(re.findall(r"^\s*((?:n|op|box)\d+) \[label=(<.*>|\"[^\"]*\"|\S+)", source, re.M))
    edges = set(re.findall(r"^\s*(\w+) -> (\w+)", source, re.M))
    values = {k for k in labels if k.startswith("n")}
    ops = {k for k in labels if k.startswith("op")}
    return values, ops, edges, labels


def _sigmoid_neuron():
    w = cr.tensor([2.0, -3.0, -3.0], requires_grad=True)
    x = cr.tensor([-1.0, -2.0], requires_grad=True)
    f = cr.sigmoid(w[0] * x[0] + w[1] * x[1] + w[2])
    return w, x, f


# ----- draw_graph ---------------------------------------------------------------------------------


def test_draw_graph_nodes_edges_and_labels():
    a = cr.tensor(2.0, requires_grad=True)
    b = cr.tensor(-3.0, requires_grad=True)
    c = cr.tensor(10.0, requires_grad=True)
    e = a * b
    f = e + c
    f.backward(retain_graph=True)
    g = draw_graph(f, params={"a": a, "b": b, "c": c})
    values, ops, edges, labels = _parse(g.source)
    assert len(values) == 5 and len(ops) == 2  # a, b, c, e, f; * and +
    name = {re.search(r"<b>(.*?)</b>", labels[k]).group(1): k for k in values}
    assert set(name) == {"a", "b", "c", "t2", "t4"}
    mul, add = sorted(ops, key=lambda k: int(k[2:]))
    assert (name["a"], mul) in edges and (name["b"], mul) in edges and (mul, name["t2"]) in edges
    assert (name["t2"], add) in edges and (name["c"], add) in edges and (add, name["t4"]) in edges
    assert len(edges) == 6
    assert labels[mul] == '"*"' and labels[add] == '"+"'
    # data and gradient: a.grad = b = -3, b.grad = a = 2
    assert "data 2" in labels[name["a"]] and "grad -3" in labels[name["a"]]
    assert "grad 2" in labels[name["b"]]
    assert "rankdir=LR" in g.source


def test_draw_graph_options():
    w, x, f = _sigmoid_neuron()
    f.backward(retain_graph=True)
    top = draw_graph(f, params={"w": w, "x": x}, rankdir="TB")
    assert "rankdir=TB" in top.source and "grad" in top.source
    plain = draw_graph(f, params={"w": w, "x": x}, show_grad=False, show_data=False)
    assert "grad" not in plain.source and "data" not in plain.source
    assert "shape (3,)" in plain.source
    with pytest.raises(ValueError, match="rankdir"):
        draw_graph(f, rankdir="XY")


def test_draw_graph_summarizes_big_tensors_and_draws_constants():
    x = cr.tensor(np.arange(12.0).reshape(3, 4), requires_grad=True)
    y = (x * 2).sum()
    src = draw_graph(y, params={"x": x}, max_elems=4).source
    assert "shape (3, 4)" in src and "mean 5.5 min 0 max 11" in src
    assert re.search(r"^\s*n\d+ \[label=2 ", src, re.M)  # the constant 2 is a plain-text node


def test_draw_graph_of_freed_graph_says_retain_graph():
    a = cr.tensor(2.0, requires_grad=True)
    f = a * a
    f.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        draw_graph(f)


@pytest.mark.skipif(not HAS_DOT, reason="Graphviz's dot binary is not installed")
def test_render_svg_and_png(tmp_path):
    w, x, f = _sigmoid_neuron()
    f.backward(retain_graph=True)
    g = draw_graph(f, params={"w": w, "x": x})
    svg = render(g, tmp_path / "n.svg")
    assert svg.exists() and "<svg" in svg.read_text()
    png = render(g, tmp_path / "n.png")
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_render_without_dot_says_how_to_install(tmp_path, monkeypatch):
    from chainrule.viz import _render

    a = cr.tensor(1.0, requires_grad=True)
    g = draw_graph(a * 2)
    monkeypatch.setattr(_render, "find_dot", lambda: None)  # neither dot nor the bundled one
    monkeypatch.setattr(_render, "find_bundled", lambda: None)
    with pytest.raises(GraphvizNotFoundError, match="apt-get install graphviz") as info:
        render(g, tmp_path / "x.svg")
    assert ".source" in str(info.value)


# ----- explain: Tensor graphs ---------------------------------------------------------------------


def test_explain_seed003_tensor_rows_match_hand_chain_rule():
    w, x, f = _sigmoid_neuron()
    e = explain(f, params={"w": w, "x": x})
    s = 1 / (1 + math.exp(-(2 * -1 + -3 * -2 + -3)))  # sigma(1)
    ds = s * (1 - s)
    rows = e.rows
    assert rows[0].contribution == 1.0 and rows[0].step == 0
    assert rows[1].op == "Sigmoid" and "sigma" in rows[1].formula
    assert rows[1].local == pytest.approx(ds) and rows[1].contribution == pytest.approx(ds)
    # the last product to reach w and x is their full gradient: [x0, x1, 1] * ds and [w0, w1] * ds
    last = {r.operand: r for r in rows}
    np.testing.assert_allclose(last["w"].total, np.array([-1.0, -2.0, 1.0]) * ds, rtol=1e-6)
    np.testing.assert_allclose(last["x"].total, np.array([2.0, -3.0]) * ds, rtol=1e-6)
    assert last["w"].accumulates and len(last["w"].contributions) == 3
    # every row is local * upstream where the local derivative is a number
    for r in rows[1:]:
        if isinstance(r.local, float):
            assert r.contribution == pytest.approx(r.local * r.upstream)
    # reverse topological order: a node's row comes after every row that feeds its gradient
    seen = set()
    for r in rows[1:]:
        assert r.operand not in seen or r.accumulates or r.operand in ("w", "x")
        seen.add(r.operand)
    assert w.grad is None and x.grad is None  # explain did not touch .grad
    f.backward()  # the user's own backward still works afterwards
    np.testing.assert_allclose(w.grad.numpy(), last["w"].total, rtol=1e-6)


def test_explain_accumulates_where_a_tensor_is_used_twice():
    a = cr.tensor(0.5, requires_grad=True)
    b = cr.tensor(3.0, requires_grad=True)
    f = a * b + a  # df/da = b + 1 = 4
    rows = explain(f, params={"a": a, "b": b}).rows
    to_a = [r for r in rows if r.operand == "a"]
    assert [r.contribution for r in to_a] == [1.0, 3.0]
    assert not to_a[0].accumulates and to_a[1].accumulates
    assert to_a[1].note == "a.grad = 1 + 3 = 4"
    assert [r.step for r in rows] == list(range(len(rows)))


def test_explain_vector_graph_against_torch():
    rng = np.random.default_rng(0)
    W0, x0, b0 = rng.standard_normal((3, 4)), rng.standard_normal(4), rng.standard_normal(3)
    W = cr.tensor(W0, requires_grad=True)
    b = cr.tensor(b0, requires_grad=True)
    x = cr.tensor(x0)
    loss = cr.tanh(W @ x + b).sum()
    rows = explain(loss, params={"W": W, "b": b, "x": x}).rows
    Wt = torch.tensor(W0, requires_grad=True)
    bt = torch.tensor(b0, requires_grad=True)
    torch.tanh(Wt @ torch.tensor(x0) + bt).sum().backward()
    last = {r.operand: r for r in rows}
    np.testing.assert_allclose(last["W"].total, Wt.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(last["b"].total, bt.grad.numpy(), rtol=1e-10)
    assert "x" not in last  # x needs no gradient: no row sends it one
    matmul = next(r for r in rows if r.op == "MatMul")
    assert matmul.local is None and "(Jacobian)" in str(explain(loss))
    tanh = next(r for r in rows if r.op == "Tanh")
    y = np.tanh(W0 @ x0 + b0)
    np.testing.assert_allclose(tanh.local, 1 - y**2, rtol=1e-10)  # elementwise: one per element


def test_explain_text_and_html():
    a = cr.tensor(2.0, requires_grad=True)
    e = explain(a * a, params={"a": a})
    text = str(e)
    assert "local derivative" in text and "d(a*b)/da = b" in text
    assert "a.grad = 2 + 2 = 4" in text and "accumulates" in text
    html = e._repr_html_()
    assert "<table>" in html and "<td>d(a*b)/db = a</td>" in html


def test_explain_freed_graph_and_nonscalar_root():
    a = cr.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ValueError, match="grad="):
        explain(a * 2)
    rows = explain(a * 2, grad=np.array([1.0, 10.0])).rows
    np.testing.assert_allclose(rows[-1].total, [2.0, 20.0])
    f = (a * a).sum()
    f.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        explain(f)


# ----- Modules: parameter names and collapsing -------------------------------------------------


def test_draw_graph_names_module_parameters_and_collapses():
    from chainrule import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.Sequential(nn.Linear(3, 4), nn.Sigmoid(), nn.Linear(4, 2))

        def forward(self, x):
            return self.layers(x)

    model = Net()
    loss = model(cr.ones(3)).sum()
    src = draw_graph(loss, params=model).source
    for name in ("layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias"):
        assert f"<b>{name}</b>" in src
    g = draw_graph(loss, params=model, collapse=[model.layers[0], model.layers[2]])
    clusters = re.findall(r"subgraph (cluster_\d+) \{", g.source)
    assert len(clusters) == 2
    assert 'label="layers.0: Linear"' in g.source or 'label="layers.0: Linear' in g.source
    body = g.source.split("subgraph cluster_0")[1].split("}")[0]
    assert "<b>layers.0.weight</b>" in body and "<b>layers.2.weight</b>" not in body
    assert "Sigmoid" not in body  # the activation reads no parameter of the layer: outside
    boxed = draw_graph(loss, params=model, collapse=model.layers[0], collapse_style="box")
    assert "layers.0.weight" not in boxed.source and "layers.0: Linear" in boxed.source


# ----- Value graphs (the scalar engine) ---------------------------------------------------------


def _value_class():
    from chainrule.scalar import Value

    return Value


def test_value_graph_draw_and_explain_seed003():
    Value = _value_class()
    w0, x0, w1, x1, w2 = (
        Value(v, label=n)
        for v, n in [(2.0, "w0"), (-1.0, "x0"), (-3.0, "w1"), (-2.0, "x1"), (-3.0, "w2")]
    )
    dot = w0 * x0 + w1 * x1 + w2
    dot.label = "dot"
    f = dot.sigmoid()
    f.label = "f"
    e = explain(f)
    s = 1 / (1 + math.exp(-1.0))
    assert e.rows[1].operand == "dot" and e.rows[1].local == pytest.approx(s * (1 - s))
    last = {r.operand: r for r in e.rows}
    hand = {
        "w0": -1 * s * (1 - s),
        "x0": 2 * s * (1 - s),
        "w1": -2 * s * (1 - s),
        "x1": -3 * s * (1 - s),
        "w2": s * (1 - s),
    }
    for k, v in hand.items():
        assert last[k].total == pytest.approx(v)
    assert all(v.grad == 0 for v in (w0, x0, w1, x1, w2))  # explain did not touch .grad
    f.backward()
    assert w0.grad == pytest.approx(hand["w0"])
    values, ops, edges, labels = _parse(draw_graph(f).source)
    assert len(values) == 10 and len(ops) == 5  # 5 leaves, w0x0, w1x1, 2 sums, f
    assert any("<b>w0</b>" in lab and "grad -0.1966" in lab for lab in labels.values())


def test_value_graph_accumulation():
    a = _value_class()(0.5, label="a")
    b = a * 3.0
    b.label = "b"
    f = b + a  # a feeds the product and the sum: df/da = 3 + 1
    f.label = "f"
    rows = explain(f).rows
    to_a = [r for r in rows if r.operand == "a"]
    assert [r.contribution for r in to_a] == [1.0, 3.0]
    assert to_a[1].note == "a.grad = 1 + 3 = 4" and to_a[1].accumulates


# ----- regressions from the audit -----------------------------------------------------------
def test_explain_refuses_a_graph_whose_tensors_changed_in_place_as_backward_does():
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    c = cr.tensor([3.0, 4.0])
    loss = (w * c).sum()
    c.add_(100)
    with pytest.raises(RuntimeError, match="explain: .*modified by an inplace operation"):
        explain(loss, params={"w": w})
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()


def test_explain_stays_linear_when_one_node_feeds_thousands_of_ops():
    x, y = cr.Value(0.5, label="x"), cr.Value(0.0, label="y0")
    for _ in range(3000):
        y = y + x
    e = explain(y)
    assert e.rows[-1].note == "x.grad = sum of 3000 products = 3000"
    assert len(str(e)) < 2_000_000  # was 18.6 MB, each row spelling out every earlier term
    rows = explain(x * 2 + x * 3, params={"x": x}).rows
    assert [r.note for r in rows if r.operand == "x"][-1] in (
        "x.grad = 3 + 2 = 5",
        "x.grad = 2 + 3 = 5",
    )


def test_explain_checks_the_shape_of_grad_and_names_the_given_seed():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ValueError, match=r"explain: grad has shape \(3,\) but the output .*\(2,\)"):
        explain(x * 2, grad=np.ones(3))
    assert explain(x * 2, grad=np.full(2, 2.0)).rows[0].formula == "the given grad"
    assert explain((x * 2).sum()).rows[0].formula.endswith("= 1")


def test_draw_graph_and_explain_take_a_scalar_model_and_name_foreign_objects():
    from chainrule.scalar import MLP

    m = MLP(2, [3, 1], seed=0)
    out = m([1.0, -1.0])
    assert "layers.0" in draw_graph(out, params=m).source
    assert explain(out, params=m).rows
    with pytest.raises(TypeError, match=r"got torch\.Tensor"):
        draw_graph(torch.ones(2))


def test_labels_with_a_backslash_still_make_valid_dot():
    class Odd(cr.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1

        @staticmethod
        def backward(ctx, g):
            return g

    Odd.__name__ = "Odd\\"
    x = cr.tensor(1.0, requires_grad=True)
    g = draw_graph(Odd.apply(x) * 2)
    if shutil.which("dot"):
        assert "<svg" in g.pipe(format="svg").decode()


def test_a_named_input_is_not_coloured_as_a_weight():
    x = cr.tensor([1.0, 2.0])
    w = cr.tensor([0.5, 0.5], requires_grad=True)
    src = draw_graph((w * x).sum(), params={"x": x, "w": w}).source
    fills = dict(re.findall(r"<b>(\w+)</b>.*?fillcolor=\"(#[0-9a-f]+)\"", src, flags=re.S))
    assert fills["x"] != fills["w"]
