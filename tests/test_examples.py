"""Every seed example runs, and its numbers are the seeds' numbers (computed here independently)."""

import importlib.util
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_seed000_logistic_regression(capsys):
    r = _load("seed000_logistic_regression").main()
    np.testing.assert_allclose(r["grad_W"], r["grad_W_hand"], rtol=1e-10)
    assert r["grad_w0"] == pytest.approx(r["grad_w0_hand"], rel=1e-10)
    assert r["loss_after"] < 0.5 * r["loss_before"] and r["accuracy"] >= 0.85
    np.testing.assert_allclose(r["hidden_grad_W1"], r["hidden_grad_W1_hand"], rtol=1e-10)
    assert "mean((p-y)x)" in capsys.readouterr().out


def test_seed001_chain_rule():
    r = _load("seed001_chain_rule").main()
    assert r["add"] == (1.0, 1.0) and r["mul"] == (-3.0, 2.0)
    assert r["dfdx"] == 16.0
    assert r["chain"] == {"a": 1.0, "w1": 2.0, "x1": 0.5, "w2": 3.0}
    z = 0.05 + 0.2 * 1 - 0.4 * -2 + 0.1 * 3
    assert r["neuron"]["z"] == pytest.approx(z) and r["neuron"]["dw"] == [1.0, -2.0, 3.0]
    for numeric, auto in r["five_layer_checks"]:
        assert numeric == pytest.approx(auto, rel=1e-5, abs=1e-8)
    lrs = [lr for lr, _ in r["lrs"]]
    assert lrs[0] > 10 * lrs[-1] and all(a >= b for a, b in zip(lrs, lrs[1:]))
    assert r["loss_final"] < 0.05 * r["loss_first"]


def test_seed002_weights_as_nodes(tmp_path):
    r = _load("seed002_weights_as_nodes").main(tmp_path)
    assert (r["n_weights"], r["n_biases"]) == (3 * 4 + 4 * 2, 4 + 2)
    assert r["grad_theta"].shape == (26,)
    np.testing.assert_allclose(r["dz1"], r["dz1_hand"], rtol=1e-12)
    np.testing.assert_allclose(r["dz2"], r["dz2_hand"], rtol=1e-12)
    for name in ("layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias"):
        assert f"<b>{name}</b>" in r["dot_source"]
    if shutil.which("dot"):
        assert r["picture"].exists()


def test_seed003_sigmoid_neuron(tmp_path):
    r = _load("seed003_sigmoid_neuron").main(tmp_path)
    s = 1 / (1 + math.exp(-(2 * -1 + -3 * -2 - 3)))
    assert round(r["f"], 2) == 0.73 and r["f"] == pytest.approx(s)
    assert [round(g, 2) for g in r["dx"]] == [0.39, -0.59]
    assert [round(g, 2) for g in r["dw"]] == [-0.2, -0.39, 0.2]
    ds = s * (1 - s)
    np.testing.assert_allclose(r["one_gate_dw"], [-ds, -2 * ds, ds], rtol=1e-12)
    np.testing.assert_allclose(r["one_gate_dx"], [2 * ds, -3 * ds], rtol=1e-12)
    rows = r["rows"]
    assert (
        rows[0].contribution == 1.0 and len(rows) == 1 + 2 * 6 + 2
    )  # *, *, +, +, *-1, +1; exp, 1/x
    assert {row.operand: row.total for row in rows}["w2"] == pytest.approx(ds)
    if shutil.which("dot"):
        assert "<svg" in r["picture"].read_text()


def test_seed000_cost_of_a_gradient(tmp_path):
    r = _load("seed000_cost_of_a_gradient").main(max_n=1000, budget=0.2, out_dir=tmp_path)
    assert r["agreement"] < 1e-8  # central differences, forward and reverse mode agree
    assert r["sizes"] == [10, 100, 1000]
    assert (tmp_path / "cost_of_a_gradient.png").exists()
    assert all(len(r["seconds"][m]) == 3 for m in ("central", "forward", "reverse"))
