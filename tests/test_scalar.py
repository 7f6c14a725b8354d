"""The scalar engine: Value against PyTorch, deep chains, seed 003, and micrograd's demo."""

import math
import random

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

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
        y = (y + 0.5) * 0.99999
    y.backward()
    assert x.grad == pytest.approx(0.99999**50_000, rel=1e-9)
    assert len(y.topological_order()) == 1 + 4 * 50_000  # x, then per step: 0.5, +, 0.99999, *


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
    first_loss = None
    for k in range(100):
        scores = [model(r) for r in rows]
        losses = [(1 + -float(yi) * si).relu() for yi, si in zip(y, scores)]
        loss = sum(losses) * (1.0 / len(losses)) + 1e-4 * sum(p * p for p in model.parameters())
        first_loss = loss.data if first_loss is None else first_loss
        acc = sum((s.data > 0) == (yi > 0) for s, yi in zip(scores, y)) / len(y)
        if acc == 1.0:  # micrograd's demo gets here (about step 50); no need to go on
            break
        model.zero_grad()
        loss.backward()
        lr = 1.0 - 0.9 * k / 100  # micrograd's demo: a decaying learning rate
        for p in model.parameters():
            p.data -= lr * p.grad
    assert acc >= 0.95
    assert loss.data < 0.2 * first_loss


def _mixed(a, b, exp, log, relu, tanh, sigmoid):
    """One expression with every op, reflected ones included; works on Values and tensors."""
    c = 3 - a * b + 2 / (1 + b**2)
    d = -c + relu(a - 0.5) * 4 + tanh(c / 5) - b / 2.5
    e = sigmoid(d) * exp(a / 4) + log(1 + b * b) ** 1.5
    f = e * e - a + 1.5 * b
    return f - 2 / (1.0 + sigmoid(f))


@settings(max_examples=40, deadline=None)
@given(
    st.floats(-3, 3, allow_nan=False, allow_infinity=False),
    st.floats(-3, 3, allow_nan=False, allow_infinity=False),
)
def test_every_op_and_reflected_op_against_torch(a0, b0):
    a, b = Value(a0, label="a"), Value(b0, label="b")
    out = _mixed(
        a, b, Value.exp, Value.log, Value.relu, Value.tanh, Value.sigmoid
    )  # fmt: skip
    out.backward()
    at = torch.tensor(a0, dtype=torch.double, requires_grad=True)
    bt = torch.tensor(b0, dtype=torch.double, requires_grad=True)
    ot = _mixed(at, bt, torch.exp, torch.log, torch.relu, torch.tanh, torch.sigmoid)
    ot.backward()
    assert out.data == pytest.approx(ot.item(), rel=1e-10, abs=1e-12)
    assert a.grad == pytest.approx(at.grad.item(), rel=1e-9, abs=1e-12)
    assert b.grad == pytest.approx(bt.grad.item(), rel=1e-9, abs=1e-12)


def test_every_node_records_one_local_and_formula_per_operand():
    a, b = Value(1.5), Value(-0.5)
    out = _mixed(a, b, Value.exp, Value.log, Value.relu, Value.tanh, Value.sigmoid)
    ops = set()
    for v in out.topological_order():
        assert len(v._local) == len(v._formulas) == len(v._prev)
        assert all(type(x) is float for x in v._local)
        assert (v._op == "") == (v._prev == ())
        ops.add(v._op)
    assert {
        "+",
        "-",
        "*",
        "/",
        "neg",
        "**2",
        "**1.5",
        "relu",
        "tanh",
        "sigmoid",
        "exp",
        "log",
    } <= ops


@pytest.mark.parametrize(
    "make, op, local, formulas",
    [
        (lambda a, b: a - b, "-", (1.0, -1.0), ("d(a-b)/da = 1", "d(a-b)/db = -1")),
        (lambda a, b: a + b, "+", (1.0, 1.0), ("d(a+b)/da = 1", "d(a+b)/db = 1")),
        (lambda a, b: a / b, "/", (-1 / 3, -2 / 9), ("d(a/b)/da = 1/b", "d(a/b)/db = -a/b^2")),
        (lambda a, b: -a, "neg", (-1.0,), ("d(-a)/da = -1",)),
        (lambda a, b: a**2, "**2", (4.0,), ("d(a^2)/da = 2*a^1",)),
        (lambda a, b: a**-1, "**-1", (-0.25,), ("d(a^-1)/da = -1*a^-2",)),
        (lambda a, b: b.relu(), "relu", (0.0,), ("d relu(a)/da = 1 if a > 0 else 0",)),
        (lambda a, b: a.exp(), "exp", (math.exp(2),), ("d e^a/da = e^a",)),
        (lambda a, b: a.log(), "log", (0.5,), ("d ln(a)/da = 1/a",)),
        (lambda a, b: a.sigmoid(), "sigmoid", (0.10499358540350652,), None),
    ],
)
def test_op_local_derivative_and_formula(make, op, local, formulas):
    a, b = Value(2.0), Value(-3.0)
    out = make(a, b)
    assert out._op == op
    assert out._local == pytest.approx(local, rel=1e-12)
    if formulas is not None:
        assert out._formulas == formulas
    assert all(p in (a, b) for p in out._prev)


def test_number_operands_become_leaves_in_argument_order():
    a = Value(2.0, label="a")
    r = 10 - a  # __rsub__: the number is the left operand
    assert r._op == "-" and r._prev[1] is a and r._prev[0].data == 10.0 and r._prev[0]._op == ""
    q = 1 / a
    assert q._op == "/" and q._prev[1] is a and q.data == 0.5
    assert (3 * a)._prev[1] is a and (a + 1)._prev[0] is a


def test_augmented_assignment_builds_new_nodes():
    a = Value(2.0)
    c = a
    c += 1
    c *= a
    c -= 0.5
    c /= 2
    c.backward()
    assert c.data == pytest.approx(2.75) and a.grad == pytest.approx((2 * 2 + 1) / 2)
    assert c is not a and a.data == 2.0


def test_topological_order_is_the_backward_visit_order_reversed():
    a, b = Value(1.0, label="a"), Value(2.0, label="b")
    c = a * b
    d = c + a
    e = d * c
    order = e.topological_order()
    assert order[-1] is e
    assert len(order) == len({id(v) for v in order}) == 5
    position = {id(v): i for i, v in enumerate(order)}
    for v in order:
        assert all(position[id(p)] < position[id(v)] for p in v._prev)
    e.backward()  # e = (ab + a) ab: de/da = (b + 1) ab + (ab + a) b
    assert a.grad == pytest.approx(3 * 2 + 3 * 2) and b.grad == pytest.approx(2 + 3)


def test_backward_accumulates_until_zeroed_and_repr():
    x = Value(3.0)
    y = x * x
    y.backward()
    y.backward()
    assert x.grad == 12.0
    assert repr(x) == "Value(data=3, grad=12)"
    assert repr(Value(0.5)) == "Value(data=0.5, grad=0)"


@pytest.mark.parametrize(
    "bad, err, match",
    [
        (lambda: Value("1.5"), TypeError, "real number"),
        (lambda: Value(None), TypeError, "real number"),
        (lambda: Value(1.0) + [1], TypeError, "real number"),
        (lambda: 2 ** Value(3.0), TypeError, "exponent must be an int or float"),
        (lambda: Value(2.0) ** "2", TypeError, "exponent must be an int or float"),
        (lambda: Value(0.0) ** -1, ZeroDivisionError, "negative power"),
        (lambda: Value(-8.0) ** 0.5, ValueError, "complex"),
        (lambda: Value(1.0) / 0, ZeroDivisionError, "division by zero"),
        (lambda: Value(0.0).log(), ValueError, "positive"),
        (lambda: dot([Value(1.0)], [1.0, 2.0], Value(0.0)), ValueError, "1 weights but 2 inputs"),
        (lambda: Neuron(0), ValueError, "positive int"),
        (lambda: Layer(2, 0), ValueError, "positive int"),
    ],
)
def test_bad_input_raises_a_clear_error(bad, err, match):
    with pytest.raises(err, match=match):
        bad()


def test_numpy_numbers_are_accepted():
    np = pytest.importorskip("numpy")
    v = Value(np.float32(1.5)) * np.int64(2) + np.float64(0.5)
    assert v.data == 3.5 and type(v.data) is float
    assert (Value(2.0) ** np.int64(3)).data == 8.0


def test_dot_node_keeps_weights_and_shared_inputs_as_nodes():
    model = MLP(2, [3, 1], seed=0)
    out = model([0.5, -1.0])
    assert out._op == "dot"
    w = model.layers[1].neurons[0].w
    assert out._prev[:3] == tuple(w) and out._prev[-1] is model.layers[1].neurons[0].b
    assert out._local[:3] == tuple(h.data for h in out._prev[3:6])  # d/dw_i = x_i
    assert out._local[3:6] == tuple(wi.data for wi in w)  # d/dx_i = w_i
    labels = {v.label for v in out.topological_order()}
    assert {"layers.0.neurons.2.w[1]", "layers.1.neurons.0.b"} <= labels
    # the two network inputs are one node each, shared by the three first-layer neurons
    inputs = {id(v) for v in out.topological_order() if v._op == "" and v.label == ""}
    assert len(inputs) == 2


def test_mlp_seed_is_deterministic_and_fused_equals_gates():
    a, b = MLP(2, [4, 4, 1], seed=7), MLP(2, [4, 4, 1], seed=7, fused=False)
    assert [p.data for p in a.parameters()] == [p.data for p in b.parameters()]
    assert [p.data for p in MLP(2, [4, 1], seed=8).parameters()] != [
        p.data for p in MLP(2, [4, 1], seed=7).parameters()
    ]
    x = [0.3, -1.2]
    ya, yb = a(x), b(x)
    ya.backward()
    yb.backward()
    assert ya.data == pytest.approx(yb.data, rel=1e-12)
    for p, q in zip(a.parameters(), b.parameters()):
        assert p.grad == pytest.approx(q.grad, rel=1e-12, abs=1e-15)
    assert any(p.grad != 0 for p in a.parameters())


def test_mlp_matches_micrograd_package():
    from micrograd.nn import MLP as MicroMLP

    random.seed(3)
    ours = MLP(3, [5, 4, 1])
    random.seed(3)
    theirs = MicroMLP(3, [5, 4, 1])
    assert [p.data for p in ours.parameters()] == [p.data for p in theirs.parameters()]
    x = [0.5, -1.0, 2.0]
    yo, yt = ours(x), theirs(x)
    (yo * yo).backward()
    (yt * yt).backward()
    assert yo.data == pytest.approx(yt.data, rel=1e-12)
    for p, q in zip(ours.parameters(), theirs.parameters()):
        assert p.grad == pytest.approx(q.grad, rel=1e-12, abs=1e-15)


def test_a_second_backward_adds_one_more_gradient_to_the_leaves_as_torch():
    x = Value(3.0)
    z = (x * x) * 2
    z.backward()
    z.backward()
    tx = torch.tensor(3.0, requires_grad=True)
    tz = (tx * tx) * 2
    tz.backward(retain_graph=True)
    tz.backward()
    assert x.grad == tx.grad.item() == 24.0


def test_powers_and_exp_at_the_edges_give_inf_as_torch():
    a = Value(0.0)
    b = a**0.5
    b.backward()
    assert b.data == 0.0 and a.grad == math.inf
    assert (Value(10.0) ** 400).data == math.inf and (Value(-10.0) ** 401).data == -math.inf
    assert Value(1000.0).exp().data == math.inf
    with pytest.raises(ValueError, match="MLP: nouts must list at least one layer"):
        MLP(2, [])


def test_exponents_bool_refused_and_integral_floats_shown_as_ints():
    with pytest.raises(TypeError, match="Value \\*\\* bool"):
        Value(2.0) ** True
    assert (Value(3.0) ** 2.0)._op == "**2" and (Value(3.0) ** 2.0).data == 9.0
