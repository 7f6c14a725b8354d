"""The scalar engine: Value against PyTorch, deep chains, seed 003, and micrograd's demo."""

import math
import random

import pytest
import torch

from chainrule.scalar import MLP, Layer, Neuron, Value, dot


def test_micrograd_sanity_check_against_torch():
    x = Value(-4.0)
    z = 2 * x + 2 + x
    q = z.relu() + z * x
    h = (z * z).relu()
    y = h + q + q * x
    y.backward()
    xt = torch.tensor([-4.0], dtype=torch.double, requires_grad=True)
    zt = 2 * xt + 2 + xt
    qt = zt.relu() + zt * xt
    ht = (zt * zt).relu()
    yt = ht + qt + qt * xt
    yt.backward()
    assert y.data == pytest.approx(yt.item(), rel=1e-12)
    assert x.grad == pytest.approx(xt.grad.item(), rel=1e-12)


def test_micrograd_more_ops_against_torch():
    a, b = Value(-4.0), Value(2.0)
    c = a + b
    d = a * b + b**3
    c += c + 1
    c += 1 + c + (-a)
    d += d * 2 + (b + a).relu()
    d += 3 * d + (b - a).relu()
    e = c - d
    f = e**2
    g = f / 2.0
    g += 10.0 / f
    g.backward()
    at = torch.tensor([-4.0], dtype=torch.double, requires_grad=True)
    bt = torch.tensor([2.0], dtype=torch.double, requires_grad=True)
    ct = at + bt
    dt = at * bt + bt**3
    ct = ct + ct + 1
    ct = ct + 1 + ct + (-at)
    dt = dt + dt * 2 + (bt + at).relu()
    dt = dt + 3 * dt + (bt - at).relu()
    et = ct - dt
    ft = et**2
    gt = ft / 2.0
    gt = gt + 10.0 / ft
    gt.backward()
    assert g.data == pytest.approx(gt.item(), rel=1e-12)
    assert a.grad == pytest.approx(at.grad.item(), rel=1e-12)
    assert b.grad == pytest.approx(bt.grad.item(), rel=1e-12)


@pytest.mark.parametrize("fn", ["tanh", "sigmoid", "exp", "log", "relu"])
@pytest.mark.parametrize("x", [-2.5, -0.3, 0.7, 3.0])
def test_unary_functions_against_torch(fn, x):
    x = abs(x) if fn == "log" else x
    v = Value(x)
    out = getattr(v, fn)() * 3.0
    out.backward()
    t = torch.tensor(x, dtype=torch.double, requires_grad=True)
    ot = getattr(torch, fn)(t) * 3.0
    ot.backward()
    assert out.data == pytest.approx(ot.item(), rel=1e-12)
    assert v.grad == pytest.approx(t.grad.item(), rel=1e-12, abs=1e-15)


def test_seed003_sigmoid_neuron_numbers():
    w = [Value(2.0, label="w0"), Value(-3.0, label="w1"), Value(-3.0, label="w2")]
    x = [Value(-1.0, label="x0"), Value(-2.0, label="x1")]
    f = (w[0] * x[0] + w[1] * x[1] + w[2]).sigmoid()
    f.backward()
    assert round(f.data, 2) == 0.73
    assert [round(v.grad, 2) for v in x] == [0.39, -0.59]
    assert [round(v.grad, 2) for v in w] == [-0.2, -0.39, 0.2]


def test_node_used_twice_accumulates_both_paths():
    a = Value(3.0)
    b = a * a  # d/da = 2a = 6
    c = b + a  # + 1
    c.backward()
    assert a.grad == 7.0
    assert b._prev == (a, a)


def test_deep_chain_has_no_recursion_limit():
    x = Value(1.0)
    y = x
    for _ in range(50_000):
        y = y * 1.0 + 0.0
    y.backward()
    assert x.grad == 1.0
    assert len(y.topological_order()) > 100_000


def test_local_derivatives_and_formulas_are_recorded():
    a, b = Value(2.0), Value(-3.0)
    m = a * b
    assert m._op == "*" and m._local == (-3.0, 2.0)
    assert m._formulas == ("d(a*b)/da = b", "d(a*b)/db = a")
    s = (a / b).tanh()
    assert s._formulas == ("d tanh(a)/da = 1 - tanh(a)^2",)
    assert s._local[0] == pytest.approx(1 - math.tanh(2 / -3) ** 2)
    p = a**3
    assert p._op == "**3" and p._local == (12.0,)


def test_dot_node_equals_gates():
    random.seed(0)
    fused, gates = Neuron(3, fused=True), Neuron(3, fused=False)
    for p, q in zip(fused.parameters(), gates.parameters()):
        q.data = p.data
    xs = [0.5, -1.5, 2.0]
    a, b = fused(xs), gates(xs)
    a.backward()
    b.backward()
    assert a.data == pytest.approx(b.data)
    for p, q in zip(fused.parameters(), gates.parameters()):
        assert p.grad == pytest.approx(q.grad)
    assert dot([Value(1.0)], [2.0], Value(0.5))._formulas[0] == "d(w.x + b)/dw_i = x_i"


def test_errors_are_clear():
    with pytest.raises(TypeError, match="exponent must be an int or float"):
        Value(2.0) ** Value(3.0)
    with pytest.raises(ValueError, match="positive"):
        Value(-1.0).log()
    with pytest.raises(ValueError, match="expected 2 inputs, got 3"):
        Neuron(2)([1.0, 2.0, 3.0])


def test_mlp_shape_and_parameter_names():
    random.seed(0)
    model = MLP(2, [16, 16, 1])
    params = model.parameters()
    assert len(params) == 337
    assert params[0].label == "layers.0.neurons.0.w[0]"
    assert params[-1].label == "layers.2.neurons.0.b"
    assert len(Layer(3, 32).parameters()) == 32 * 4
    model.zero_grad()
    assert all(p.grad == 0 for p in params)


def test_mlp_learns_micrograd_moons_demo():
    from sklearn.datasets import make_moons

    X, y = make_moons(n_samples=100, noise=0.1, random_state=1)
    y = y * 2 - 1
    random.seed(1337)
    model = MLP(2, [16, 16, 1])
    rows = [list(map(float, r)) for r in X]
    for k in range(100):
        scores = [model(r) for r in rows]
        losses = [(1 + -float(yi) * si).relu() for yi, si in zip(y, scores)]
        loss = sum(losses) * (1.0 / len(losses)) + 1e-4 * sum(p * p for p in model.parameters())
        model.zero_grad()
        loss.backward()
        lr = 1.0 - 0.9 * k / 100  # micrograd's demo: a decaying learning rate
        for p in model.parameters():
            p.data -= lr * p.grad
    acc = sum((s.data > 0) == (yi > 0) for s, yi in zip(scores, y)) / len(y)
    assert acc >= 0.95
