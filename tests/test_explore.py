"""chainrule.viz.explore, the Python side: the steps are explain's rows, the gradients and path
products match PyTorch, path counts and caps are exact, and the page is self-contained."""

import html
import json
import re

import numpy as np
import pytest
import torch

import chainrule as cr
from chainrule import Value, nn
from chainrule.viz import Explorer, explain, explore


def _blob(page: str) -> dict:
    m = re.search(r'<script type="application/json" id="explore-data">(.*?)</script>', page, re.S)
    return json.loads(m.group(1))


def _value_graph():
    """Seed 003's neuron sigmoid(w0 x0 + w1 x1 + w2), plus w0 used a second time."""
    w0, w1, w2 = Value(2.0, label="w0"), Value(-3.0, label="w1"), Value(-3.0, label="w2")
    x0, x1 = Value(-1.0, label="x0"), Value(-2.0, label="x1")
    z = w0 * x0 + w1 * x1 + w2
    out = z.sigmoid() * w0
    out.label = "out"
    return {"w0": w0, "w1": w1, "w2": w2, "x0": x0, "x1": x1}, out


def _torch_value_graph():
    t = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True)
         for k, v in dict(w0=2.0, w1=-3.0, w2=-3.0, x0=-1.0, x1=-2.0).items()}  # fmt: skip
    out = torch.sigmoid(t["w0"] * t["x0"] + t["w1"] * t["x1"] + t["w2"]) * t["w0"]
    out.backward()
    return t, out


def _brute_paths(v, target):
    """Every path root -> target through ``_prev`` (each operand occurrence is its own edge),
    as the list of local derivatives along it: an oracle independent of explore."""
    if v is target:
        return [[]]
    out = []
    for p, local in zip(v._prev, v._local):
        out += [[local] + rest for rest in _brute_paths(p, target)]
    return out


def test_value_steps_are_explains_rows_and_grads_match_torch():
    leaves, out = _value_graph()
    ex = explore(out)
    d = ex.data
    rows = explain(out).rows
    assert [s["phase"] for s in d["steps"]].count("backward") == len(rows) == len(d["rows"])
    assert [r["note"] for r in d["rows"]] == [r.note for r in rows]
    assert [r["formula"] for r in d["rows"]] == [r.formula for r in rows]
    assert [r["totalNum"] for r in d["rows"]] == pytest.approx([r.total for r in rows])
    # the forward steps visit every op once, each after its operands
    fwd = [s["node"] for s in d["steps"] if s["phase"] == "forward"]
    assert fwd == [i for i, n in enumerate(d["nodes"]) if n["op"]]
    for i in fwd:
        assert all(j < i for j, _ in d["nodes"][i]["inputs"])
    t, t_out = _torch_value_graph()
    assert d["nodes"][d["root"]]["valueNum"] == pytest.approx(t_out.item())
    for name, tt in t.items():
        node = d["nodes"][d["names"].index(name)]
        assert node["gradNum"] == pytest.approx(tt.grad.item(), rel=1e-12)
        assert node["role"] == "param"
    # explore writes no .grad (as explain)
    assert all(v.grad == 0.0 for v in leaves.values())


def test_value_forward_text_has_the_numbers():
    a, b = Value(2.0, label="a"), Value(-3.0, label="b")
    ex = explore(a * b)
    assert ex.data["steps"][1]["text"] == "v2 = a * b = 2 * -3 = -6"


def test_paths_products_sum_to_the_gradient():
    leaves, out = _value_graph()
    d = explore(out).data
    t, _ = _torch_value_graph()
    for name, leaf in leaves.items():
        info = d["paths"][str(d["names"].index(name))]
        brute = _brute_paths(out, leaf)
        assert info["count"] == len(brute) and not info["truncated"]
        assert sorted(p["product"] for p in info["paths"]) == pytest.approx(
            sorted(float(np.prod(b)) for b in brute)
        )
        assert info["sum"] == pytest.approx(t[name].grad.item(), rel=1e-12)
        assert info["grad"] == pytest.approx(t[name].grad.item(), rel=1e-12)
        for p in info["paths"]:  # a path is a chain of rows: root -> ... -> the leaf
            rs = [d["rows"][k] for k in p["rows"]]
            assert rs[0]["node"] == d["root"] and rs[-1]["operand"] == d["names"].index(name)
            assert all(a["operand"] == b["node"] for a, b in zip(rs, rs[1:]))
    w0 = d["paths"][str(d["names"].index("w0"))]
    assert w0["count"] == 2  # w0 feeds the neuron and the final product


def test_path_count_is_exact_and_the_list_capped():
    x = Value(1.5, label="x")
    y = x
    for _ in range(12):  # y = y * y: 2^12 paths from y to x
        y = y * y * Value(1.0)
    d = explore(y, max_paths=10).data
    info = d["paths"][str(d["names"].index("x"))]
    assert info["count"] == 2**12 and info["truncated"] and len(info["paths"]) == 10
    assert len({tuple(p["rows"]) for p in info["paths"]}) == 10
    assert explore(y, max_paths=0).data["paths"][str(d["names"].index("x"))]["paths"] == []


def test_tensor_mlp_grads_shapes_and_modules_match_torch():
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2))
    x = cr.randn(4, 3)
    y = cr.tensor([0, 1, 1, 0])
    loss = nn.functional.cross_entropy(model(x), y)
    d = explore(loss, params=model, collapse=True).data
    tm = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2))
    with torch.no_grad():
        for (_, p), (_, q) in zip(model.named_parameters(), tm.named_parameters()):
            q.copy_(torch.from_numpy(p.detach().numpy()))
    t_loss = torch.nn.functional.cross_entropy(
        tm(torch.from_numpy(x.numpy())), torch.from_numpy(y.numpy()).long()
    )
    t_loss.backward()
    assert d["nodes"][d["root"]]["valueNum"] == pytest.approx(t_loss.item(), rel=1e-5)
    assert [g["title"] for g in d["groups"]] == ["0: Linear", "2: Linear"]
    for name, q in tm.named_parameters():
        node = d["nodes"][d["names"].index(name)]
        assert node["shape"] == list(q.shape)
        assert node["group"] == int(name[0]) // 2
        np.testing.assert_allclose(node["gradNum"], q.grad.numpy().ravel(), rtol=1e-5, atol=1e-7)
        info = d["paths"][str(d["names"].index(name))]
        assert info["count"] == 1 and info["sum"] is None  # Jacobians: no scalar product
    assert d["kind"] == "tensor"
    assert not any(p.grad is not None for p in model.parameters())  # nothing written


def test_large_tensors_carry_stats_and_float32_values():
    w = cr.randn(10, 10, requires_grad=True)
    d = explore((w * 2.0).sum(), params={"w": w}).data
    node = d["nodes"][d["names"].index("w")]
    assert set(node["gradNum"]) == {"mean", "min", "max"} and node["gradNum"]["mean"] == 2.0
    assert node["value"].startswith("mean ")
    small = cr.tensor([1.0, 2.0], requires_grad=True)
    d = explore((small * small).sum(), params={"s": small}).data
    assert d["nodes"][0]["gradNum"] == [2.0, 4.0] and d["nodes"][0]["grad"] == "[2, 4]"


def test_non_scalar_output_needs_grad_and_constant_output():
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ValueError, match="pass grad="):
        explore(w * 3.0)
    d = explore(w * 3.0, params={"w": w}, grad=np.array([1.0, -1.0])).data
    assert d["nodes"][0]["gradNum"] == [3.0, -3.0]
    d = explore(cr.tensor(2.0)).data  # needs no gradient: just the value and the seed
    assert [s["phase"] for s in d["steps"]] == ["start", "backward"]


def test_non_finite_numbers_travel_as_text():
    x = Value(0.0, label="x")
    ex = explore(x**0.5)  # d sqrt(x)/dx at 0 is inf
    blob = _blob(ex.html)
    assert blob["rows"][1]["localNum"] == "inf"
    assert blob["nodes"][0]["gradNum"] in ("inf", "nan")


def test_page_is_self_contained_and_saves(tmp_path):
    leaves, out = _value_graph()
    target = tmp_path / "sub" / "page.html"
    ex = explore(out, target, title="A <neuron> & friends")
    page = target.read_text(encoding="utf-8")
    assert page == ex.html and page.startswith("<!DOCTYPE html>")
    assert "<title>A &lt;neuron&gt; &amp; friends</title>" in page
    assert not re.search(r"<script[^>]+src=|<link\b|@import|url\(http", page)
    assert set(re.findall(r"https?://[^\s\"')]+", page)) <= {"http://www.w3.org/2000/svg"}
    assert _blob(page)["title"] == "A <neuron> & friends"
    frame = ex._repr_html_()
    m = re.fullmatch(r'<iframe srcdoc="(.*)" style=".*" sandbox="allow-scripts"></iframe>', frame,
                     re.S)  # fmt: skip
    assert m and html.unescape(m.group(1)) == page and '"' not in m.group(1)
    assert isinstance(ex, Explorer) and "forward" in repr(ex)
    again = ex.save(tmp_path / "again.html")
    assert again.read_text(encoding="utf-8") == page


def test_bad_input_is_named():
    a = Value(1.0, label="a")
    with pytest.raises(ValueError, match="max_nodes"):
        explore(a * a + a, max_nodes=2)
    with pytest.raises(ValueError, match="collapse"):
        explore(a * a, collapse=True)
    with pytest.raises(ValueError, match="max_paths"):
        explore(a * a, max_paths=-1)
    with pytest.raises(TypeError, match="expected a chainrule Tensor or Value"):
        explore(np.ones(3))
    w = cr.tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError, match="collapse=True needs params"):
        explore((w * 2).sum(), collapse=True)
    y = (w * 2).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        explore(y)


def test_training_runs_write_an_explorer(tmp_path, capsys):
    from chainrule.cli import main

    args = ["train", "--dataset", "moons", "--model", "mlp", "--hidden", "8", "--epochs", "1",
            "--no-progress", "--quiet", "--out", str(tmp_path), "--name", "run"]  # fmt: skip
    assert main(args) == 0
    assert "explore.html" in capsys.readouterr().out
    d = _blob((tmp_path / "run" / "explore.html").read_text(encoding="utf-8"))
    assert d["kind"] == "tensor" and len(d["groups"]) == 2
    assert [g["title"] for g in d["groups"]] == ["1: Linear", "3: Linear"]
    assert {"1.weight", "1.bias", "3.weight", "3.bias"} <= set(d["names"])
    assert d["title"].startswith("One test sample through the trained")
