"""The fast scalar engine: one object per op (operands in slots), the fused ``sum`` and ``dot``
(without a bias), the graph views drawings read, and microgpt's model on chainrule.Value
(fused and plain) against microgpt's own minimal Value: the same loss and gradients."""

import importlib.util
import math
import random
from pathlib import Path

import numpy as np
import pytest
import torch

import chainrule as cr
from chainrule.scalar import Value, dot
from chainrule.scalar import sum as vsum
from chainrule.viz import draw_graph, explain

ROOT = Path(__file__).resolve().parents[1]


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _t(values):
    return [torch.tensor(v.data, dtype=torch.float64, requires_grad=True) for v in values]


# ----- sum --------------------------------------------------------------------------------------
def test_sum_is_one_node_and_matches_torch():
    xs = [Value(v) for v in (0.5, -1.25, 2.0, 3.5)]
    s = vsum(x * x for x in xs)  # a generator, as the built-in takes
    out = s * s
    out.backward()
    ts = _t(xs)
    tout = sum(t * t for t in ts) ** 2
    tout.backward()
    assert out.data == pytest.approx(tout.item(), rel=1e-12)
    for x, t in zip(xs, ts):
        assert x.grad == pytest.approx(t.grad.item(), rel=1e-12)
    assert s._op == "sum" and len(s._prev) == 4 and s._local == (1.0,) * 4
    assert s._formulas == ("d(sum a_i)/da_i = 1",) * 4


def test_sum_start_numbers_and_the_builtin_fallback():
    a, b = Value(1.0, label="a"), Value(2.0, label="b")
    s = vsum([a, 3, b], start=10)  # numbers become leaves; a start other than 0 comes first
    assert s.data == 16.0 and [p.data for p in s._prev] == [10.0, 1.0, 3.0, 2.0]
    assert s._prev[1] is a and s._prev[3] is b and s._prev[0]._op == ""
    s.backward()
    assert a.grad == b.grad == 1.0
    t = vsum([a, b], start=a)  # a Value start is an operand: a counts twice
    t.backward()
    assert t.data == 4.0 and a.grad == 1.0 + 2.0
    assert vsum([1, 2, 3]) == 6 and vsum([0.5, 0.25], 1) == 1.75  # no Value: the built-in
    assert vsum([]) == 0 and vsum([], start=a) is a
    assert vsum([np.float64(1.5), a]).data == 2.5
    assert type(vsum([Value(1), Value(2)]).data) is float
    with pytest.raises(TypeError, match="sum: Value needs a real number, got str"):
        vsum([a, "x"])


def test_sum_adds_in_the_builtin_order():
    random.seed(0)
    xs = [Value(random.uniform(-1, 1) * 10 ** random.randint(-8, 8)) for _ in range(50)]
    assert vsum(xs).data == sum(xs).data  # the same float additions, in the same order


# ----- dot --------------------------------------------------------------------------------------
def test_dot_without_bias_matches_torch_and_shared_operands_accumulate():
    w = [Value(v) for v in (0.3, -0.7, 1.1)]
    x = [Value(v) for v in (2.0, 0.5, -1.5)]
    z = dot(w, x) + dot(x, x)  # |x|^2: each x_i is both operands
    z.backward()
    tw, tx = (
        torch.tensor([v.data for v in w], dtype=torch.float64, requires_grad=True),
        (torch.tensor([v.data for v in x], dtype=torch.float64, requires_grad=True)),
    )
    tz = tw @ tx + tx @ tx
    tz.backward()
    assert z.data == pytest.approx(tz.item(), rel=1e-12)
    assert [v.grad for v in w] == pytest.approx(tw.grad.tolist(), rel=1e-12)
    assert [v.grad for v in x] == pytest.approx(tx.grad.tolist(), rel=1e-12)
    d = dot(w, x)
    assert d._op == "dot" and d._prev == (*w, *x) and len(d._local) == 6
    assert d._formulas == ("d(w.x + b)/dw_i = x_i",) * 3 + ("d(w.x + b)/dx_i = w_i",) * 3


def test_dot_edges_numbers_empty_and_bad_lengths():
    w = [Value(2.0), 3.0]  # a number weight becomes a leaf
    out = dot(w, [Value(1.0), Value(-1.0)], 0.5)
    assert out.data == -0.5 and out._prev[-1].data == 0.5 and len(out._formulas) == 5
    empty = dot([], [])
    assert empty.data == 0.0 and type(empty.data) is float and empty._prev == ()
    assert dot([], [], Value(1.5)).data == 1.5
    with pytest.raises(ValueError, match="dot: 2 weights but 1 inputs"):
        dot([Value(1.0), Value(2.0)], [Value(1.0)])
    with pytest.raises(TypeError, match="dot: Value needs a real number"):
        dot([Value(1.0)], [None])


def test_dot_matches_the_sum_of_products_exactly():
    random.seed(1)
    w = [Value(random.gauss(0, 1)) for _ in range(64)]
    x = [Value(random.gauss(0, 1)) for _ in range(64)]
    assert dot(w, x).data == sum(a * b for a, b in zip(w, x)).data


# ----- storage and the graph views --------------------------------------------------------------
def test_graph_views_of_leaves_unary_binary_and_many():
    a, b = Value(2.0, label="a"), Value(-3.0)
    assert (a._prev, a._local, a._formulas, a._op, a.label, b.label) == ((), (), (), "", "a", "")
    n = a.exp()
    assert n._prev == (a,) and n._local == (math.exp(2.0),) and n.label == ""
    m = a * b
    assert m._prev == (a, b) and m._local == (-3.0, 2.0)
    s = vsum([a, b, m])
    assert s._prev == (a, b, m) and s._local == (1.0, 1.0, 1.0)
    m.label = "m"
    assert m.label == "m"
    assert (a**0.5)._formulas == ("d(a^0.5)/da = 0.5*a^-0.5",)
    assert (a ** np.int64(3))._op == "**3"


def test_a_hand_made_node_of_an_op_of_your_own():
    a, b = Value(2.0), Value(5.0)
    # max(a, b) as one node: the larger operand's local derivative is 1
    m = Value(5.0, (a, b), "max", _local=(0.0, 1.0), _formulas=("0", "1"))
    (m * 3).backward()
    assert (a.grad, b.grad) == (0.0, 3.0) and m._formulas == ("0", "1") and m._op == "max"
    three = Value(6.0, (a, b, a), "a+b+a", _local=(1, 1, 1))
    three.backward()
    assert a.grad == 2.0 and three._formulas == ("", "", "")
    with pytest.raises(ValueError, match="2 operands .* but 1 local derivatives"):
        Value(1.0, (a, b), "x", _local=(1.0,))
    with pytest.raises(TypeError, match="operands .* must be Values"):
        Value(1.0, (a, 2.0), "x", _local=(1.0, 1.0))


def test_backward_through_a_random_dag_matches_torch():
    rng = random.Random(5)
    pool = [Value(rng.uniform(0.5, 1.5)) for _ in range(6)]
    leaves = list(pool)
    tpool = _t(pool)
    for _ in range(200):
        k = rng.randrange(6)
        i, j = rng.randrange(len(pool)), rng.randrange(len(pool))
        if k == 0:
            pool.append(pool[i] * pool[j])
            tpool.append(tpool[i] * tpool[j])
        elif k == 1:
            pool.append(pool[i] - pool[j])
            tpool.append(tpool[i] - tpool[j])
        elif k == 2:
            pool.append(pool[i].tanh())
            tpool.append(tpool[i].tanh())
        elif k == 3:
            idx = [rng.randrange(len(pool)) for _ in range(5)]
            pool.append(vsum(pool[n] for n in idx))
            tpool.append(sum(tpool[n] for n in idx))
        elif k == 4:
            a = [rng.randrange(len(pool)) for _ in range(4)]
            b = [rng.randrange(len(pool)) for _ in range(4)]
            pool.append(dot([pool[n] for n in a], [pool[n] for n in b]) * 0.1)
            tpool.append(sum(tpool[m] * tpool[n] for m, n in zip(a, b)) * 0.1)
        else:
            pool.append(pool[i] / (pool[j] * pool[j] + 1.0))
            tpool.append(tpool[i] / (tpool[j] * tpool[j] + 1.0))
    out = vsum(pool[-20:])
    out.backward()
    sum(tpool[-20:]).backward()
    for v, t in zip(leaves, tpool):
        assert v.grad == pytest.approx(t.grad.item(), rel=1e-9, abs=1e-12)
    order = out.topological_order()
    place = {id(v): i for i, v in enumerate(order)}
    assert all(place[id(p)] < place[id(v)] for v in order for p in v._prev)


def test_intermediate_gradients_restart_and_leaves_accumulate():
    x = Value(2.0)
    h = vsum([x * x, x])
    y = dot([h, h], [x, Value(1.0)])  # h x + h
    y.backward()
    first = x.grad
    assert h.grad == pytest.approx(3.0)  # dy/dh = x + 1
    y.backward()
    assert x.grad == pytest.approx(2 * first) and h.grad == pytest.approx(3.0)
    leaf = Value(1.0)
    leaf.backward()
    leaf.backward()
    assert leaf.grad == 2.0


def test_backward_over_shared_subgraphs_and_stale_gradients():
    # backward marks the nodes it reaches by resetting their gradient to a 0.0 of its own: a
    # second root over a shared subgraph, a gradient set by hand on an intermediate, and a
    # diamond lattice (each node reached along many paths) must all give torch's gradients
    x, w = Value(0.5), Value(-1.5)
    tx, tw = _t([x, w])
    h = (x * w).tanh()
    th = (tx * tw).tanh()
    y1, y2 = h * h + x, vsum([h, w * h, 2.0])
    (th * th + tx).backward(retain_graph=True)
    y1.backward()
    h.grad = 123.0  # stale, by hand: the next backward starts h over from 0
    (th + tw * th + 2.0).backward()
    y2.backward()
    assert x.grad == pytest.approx(tx.grad.item(), rel=1e-12)
    assert w.grad == pytest.approx(tw.grad.item(), rel=1e-12)
    assert h.grad == pytest.approx(1.0 + w.data)  # dy2/dh alone
    a, ta = Value(0.9), torch.tensor(0.9, dtype=torch.float64, requires_grad=True)
    row, trow = [a, a], [ta, ta]
    for _ in range(30):  # 2^30 paths from the top to a
        row = [row[0] * row[1], row[0] + row[1] * 0.5]
        trow = [trow[0] * trow[1], trow[0] + trow[1] * 0.5]
    out = row[0] + row[1]
    out.backward()
    (trow[0] + trow[1]).backward()
    assert a.grad == pytest.approx(ta.grad.item(), rel=1e-9)
    assert len(out.topological_order()) == len({id(v) for v in out.topological_order()})


def test_deep_chains_of_fused_nodes_need_no_recursion():
    x = Value(1.0)
    y = x
    for _ in range(30_000):
        y = vsum([y, y]) * 0.5 if y.data < 10 else dot([y], [Value(0.5)])
    y.backward()
    assert x.grad == pytest.approx(1.0)


def test_explain_and_draw_graph_read_fused_nodes():
    w = [Value(2.0, label="w0"), Value(-3.0, label="w1")]
    x = [Value(-1.0, label="x0"), Value(-2.0, label="x1")]
    s = dot(w, x)
    s.label = "s"
    f = vsum([s, w[0]])
    f.label = "f"
    rows = explain(f).rows
    assert any(r.formula == "d(sum a_i)/da_i = 1" for r in rows)
    assert any(r.formula == "d(w.x + b)/dw_i = x_i" and r.operand == "w1" for r in rows)
    total = {r.operand: r.total for r in rows}
    assert total["w0"] == pytest.approx(-1.0 + 1.0) and total["x1"] == pytest.approx(-3.0)
    src = draw_graph(f).source
    assert "dot" in src and "sum" in src and "<b>w0</b>" in src


def test_value_graphs_are_cheap_for_the_garbage_collector():
    import gc

    a, b = Value(1.0), Value(2.0)
    gc.collect()
    before = len(gc.get_objects())
    keep = [a * b for _ in range(1000)]
    # one tracked object per op (micrograd-style Values make three: itself and two tuples)
    assert len(gc.get_objects()) - before < 1100
    assert len(keep) == 1000


# ----- microgpt's model on both engines ---------------------------------------------------------
def test_microgpt_fused_plain_and_minimal_value_agree():
    ex = _load(ROOT / "examples" / "microgpt_scalar_vs_tensor.py", "microgpt_example")
    MinimalValue = _load(ROOT / "benchmarks" / "minimal_value.py", "minimal_value").MinimalValue
    weights = ex.init_weights(vocab_size=5, seed=3)
    tokens = [0, 3, 1, 4, 2, 0]
    results = {}
    for name, cls, ops in (
        ("fused", Value, ex.FUSED), ("plain", Value, ex.PLAIN), ("minimal", MinimalValue, ex.PLAIN)
    ):  # fmt: skip
        sd = {k: [[cls(float(x)) for x in row] for row in a] for k, a in weights.items()}
        loss = ex.scalar_loss(sd, tokens, ops)
        loss.backward()
        grads = np.array([p.grad for m in sd.values() for row in m for p in row], dtype=float)
        results[name] = (loss.data, grads)
    ref_loss, ref_grads = results["minimal"]
    for name in ("fused", "plain"):
        loss, grads = results[name]
        assert loss == pytest.approx(ref_loss, rel=1e-13), name
        np.testing.assert_allclose(grads, ref_grads, rtol=1e-10, atol=1e-15)
    assert np.abs(ref_grads).max() > 0
    # and the tensor engine agrees on the same name
    sd_t = {k: cr.tensor(a, requires_grad=True) for k, a in weights.items()}
    X = cr.tensor([tokens[:-1]])
    Y = cr.tensor([tokens[1:]])
    assert ex.tensor_loss(sd_t, X, Y).item() == pytest.approx(ref_loss, rel=1e-12)
