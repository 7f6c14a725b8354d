"""nn.RNN / LSTM / GRU and their cells against PyTorch: a torch module's state_dict loaded into
the chainrule module, then outputs, final states and the gradients of every parameter and of
the input (and initial states) compared; second derivatives; errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import chainrule as cr
from chainrule import nn

PAIRS = {
    "RNN": (torch.nn.RNN, nn.RNN),
    "LSTM": (torch.nn.LSTM, nn.LSTM),
    "GRU": (torch.nn.GRU, nn.GRU),
}
CELLS = {
    "RNNCell": (torch.nn.RNNCell, nn.RNNCell),
    "LSTMCell": (torch.nn.LSTMCell, nn.LSTMCell),
    "GRUCell": (torch.nn.GRUCell, nn.GRUCell),
}
TOL = {np.float64: dict(rtol=1e-9, atol=1e-11), np.float32: dict(rtol=1e-5, atol=1e-5)}


def _flat(res: tuple) -> list:
    """``(out, h)`` / ``(out, (h, c))`` / ``h`` / ``(h, c)`` as a flat list."""
    if not isinstance(res, tuple):
        return [res]
    out = []
    for r in res:
        out += list(r) if isinstance(r, tuple) else [r]
    return out


def _pair(name: str, args: tuple, kw: dict, dtype: type, table: dict = PAIRS) -> tuple:
    tcls, ccls = table[name]
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tm = tcls(*args, **kw).to(torch.float64 if dtype is np.float64 else torch.float32)
        cm = ccls(*args, **kw, dtype=cr.float64 if dtype is np.float64 else cr.float32)
    cm.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    return tm, cm


def compare(name: str, args: tuple, kw: dict, shape: tuple, states: list | None = None,
            dtype: type = np.float64, table: dict = PAIRS, train: bool = False) -> None:  # fmt: skip
    """Outputs, final states and all gradients (parameters, input, initial states)."""
    tm, cm = _pair(name, args, kw, dtype, table)
    tm.train(train)
    cm.train(train)
    rng = np.random.default_rng(1)
    arrays = [rng.standard_normal(shape).astype(dtype)]
    arrays += [rng.standard_normal(s).astype(dtype) for s in states or []]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    cs = [cr.tensor(a, requires_grad=True) for a in arrays]

    def hx(xs: list) -> tuple:
        if not states:
            return (xs[0],)
        return (xs[0], tuple(xs[1:])) if len(xs) == 3 else (xs[0], xs[1])

    tout, cout = _flat(tm(*hx(ts))), _flat(cm(*hx(cs)))
    assert len(tout) == len(cout)
    for a, b in zip(cout, tout):
        assert a.shape == tuple(b.shape)
        assert a.dtype == np.dtype(dtype)
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), **TOL[dtype])
    ws = [rng.standard_normal(tuple(b.shape)).astype(dtype) for b in tout]
    sum((b * torch.tensor(w)).sum() for b, w in zip(tout, ws)).backward()
    sum((a * cr.tensor(w)).sum() for a, w in zip(cout, ws)).backward()
    for i, (c, t) in enumerate(zip(cs, ts)):
        np.testing.assert_allclose(c.grad.numpy(), t.grad.numpy(), **TOL[dtype], err_msg=f"{i}")
    names = [n for n, _ in tm.named_parameters()]
    assert names == [n for n, _ in cm.named_parameters()]
    for n, p in tm.named_parameters():
        got = dict(cm.named_parameters())[n].grad
        np.testing.assert_allclose(got.numpy(), p.grad.numpy(), **TOL[dtype], err_msg=n)


@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"num_layers": 2},
        {"bidirectional": True},
        {"num_layers": 2, "bidirectional": True, "batch_first": True},
        {"bias": False, "num_layers": 2},
    ],
)
def test_layers_match_torch(name: str, kw: dict) -> None:
    shape = (3, 6, 4) if kw.get("batch_first") else (6, 3, 4)
    compare(name, (4, 5), kw, shape)


@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_given_initial_states(name: str, bidirectional: bool) -> None:
    d = 2 if bidirectional else 1
    states = [(2 * d, 3, 5)] * (2 if name == "LSTM" else 1)
    compare(name, (4, 5, 2), {"bidirectional": bidirectional}, (6, 3, 4), states)


@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU"])
def test_unbatched(name: str) -> None:
    compare(name, (4, 5, 2), {"bidirectional": True}, (6, 4))
    states = [(4, 5)] * (2 if name == "LSTM" else 1)
    compare(name, (4, 5, 2), {"bidirectional": True}, (6, 4), states)


def test_relu_rnn() -> None:
    compare("RNN", (4, 5, 2), {"nonlinearity": "relu", "bidirectional": True}, (6, 3, 4))
    compare("RNN", (4, 5), {"nonlinearity": "relu"}, (6, 3, 4), [(1, 3, 5)])


@pytest.mark.parametrize("kw", [{}, {"num_layers": 2, "bidirectional": True}])
def test_lstm_projection(kw: dict) -> None:
    d = 2 if kw else 1
    n = d * kw.get("num_layers", 1)
    compare("LSTM", (4, 6), {"proj_size": 3, **kw}, (5, 2, 4))
    compare("LSTM", (4, 6), {"proj_size": 3, **kw}, (5, 2, 4), [(n, 2, 3), (n, 2, 6)])


@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU"])
def test_float32(name: str) -> None:
    compare(name, (8, 16, 2), {"bidirectional": True}, (12, 4, 8), dtype=np.float32)


@pytest.mark.parametrize("name", ["RNNCell", "LSTMCell", "GRUCell"])
@pytest.mark.parametrize("bias", [True, False])
def test_cells_match_torch(name: str, bias: bool) -> None:
    states = [(3, 5)] * (2 if name == "LSTMCell" else 1)
    compare(name, (4, 5), {"bias": bias}, (3, 4), table=CELLS)
    compare(name, (4, 5), {"bias": bias}, (3, 4), states, table=CELLS)
    compare(name, (4, 5), {"bias": bias}, (4,), [(5,)] * len(states), table=CELLS)
    compare(name, (4, 5), {"bias": bias}, (3, 4), states, dtype=np.float32, table=CELLS)


def test_relu_cell() -> None:
    compare("RNNCell", (4, 5), {"nonlinearity": "relu"}, (3, 4), [(3, 5)], table=CELLS)


def test_parameter_names_shapes_and_init() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = torch.nn.LSTM(4, 6, num_layers=2, bidirectional=True, proj_size=3)
    c = nn.LSTM(4, 6, num_layers=2, bidirectional=True, proj_size=3)
    assert [(k, tuple(v.shape)) for k, v in t.state_dict().items()] == [
        (k, tuple(v.shape)) for k, v in c.state_dict().items()
    ]
    g = nn.GRU(10, 100)
    bound = 1 / 100**0.5
    for p in g.parameters():
        a = p.detach().numpy()
        assert np.abs(a).max() <= bound and np.abs(a).max() > 0.9 * bound  # U(-b, b), filled
    assert repr(c) == repr(t)
    assert repr(nn.GRUCell(4, 5, bias=False)) == repr(torch.nn.GRUCell(4, 5, bias=False))


def test_dropout_between_layers_only_in_training() -> None:
    x = cr.randn(5, 3, 4)
    m = nn.LSTM(4, 6, num_layers=3, dropout=0.5)
    m.eval()
    a, b = m(x)[0], m(x)[0]
    np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())  # eval: deterministic
    # eval with dropout equals the same weights without dropout (the torch comparison)
    compare("LSTM", (4, 6), {"num_layers": 3, "dropout": 0.5}, (5, 3, 4))
    m.train()
    cr.manual_seed(0)
    t1 = m(x)[0]
    cr.manual_seed(1)
    t2 = m(x)[0]
    assert not np.allclose(t1.detach().numpy(), t2.detach().numpy())
    # training with dropout=0 is the plain stack
    compare("GRU", (4, 5), {"num_layers": 2, "dropout": 0.0}, (5, 3, 4), train=True)
    # a single layer has no layer to drop between: training changes nothing (and warns)
    with pytest.warns(UserWarning, match="non-zero dropout expects num_layers greater than 1"):
        one = nn.RNN(4, 5, dropout=0.5)
    one.train()
    np.testing.assert_array_equal(one(x)[0].detach().numpy(), one(x)[0].detach().numpy())


def test_dropout_mask_matches_manual_stack() -> None:
    """Two stacked 1-layer LSTMs with F.dropout between them, under the same seed, give the
    2-layer LSTM with dropout in training."""
    m = nn.LSTM(4, 6, num_layers=2, dropout=0.3)
    l0, l1 = nn.LSTM(4, 6), nn.LSTM(6, 6)
    sd = m.state_dict()
    l0.load_state_dict({k: v for k, v in sd.items() if k.endswith("l0")})
    l1.load_state_dict({k.replace("l1", "l0"): v for k, v in sd.items() if k.endswith("l1")})
    x = cr.randn(5, 3, 4)
    cr.manual_seed(7)
    out = m(x)[0]
    cr.manual_seed(7)
    ref = l1(cr.nn.functional.dropout(l0(x)[0], 0.3, True))[0]
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-6)


@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU"])
def test_second_derivatives(name: str) -> None:
    """grad of (grad of the loss w.r.t. the input) . v, w.r.t. input and weights, as torch."""
    tm, cm = _pair(name, (3, 4), {"num_layers": 2, "bidirectional": True}, np.float64)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 2, 3))
    v = rng.standard_normal((4, 2, 3))
    tx, cx = torch.tensor(x, requires_grad=True), cr.tensor(x, requires_grad=True)
    res = []
    for lib, m, xx in ((torch, tm, tx), (cr, cm, cx)):
        out = _flat(m(xx))
        loss = sum((o * o).sum() for o in out)
        (gx,) = lib.autograd.grad(loss, xx, create_graph=True)
        s = (gx * lib.tensor(v)).sum()
        ps = [p for _, p in m.named_parameters()]
        res.append(lib.autograd.grad(s, [xx, *ps]))
    for a, b in zip(res[1], res[0]):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU"])
def test_gradcheck(name: str) -> None:
    m = PAIRS[name][1](2, 3, dtype=cr.float64)
    h0 = cr.randn(1, 2, 3, dtype=cr.float64, requires_grad=True)
    x = cr.randn(3, 2, 2, dtype=cr.float64, requires_grad=True)
    if name == "LSTM":
        c0 = cr.randn(1, 2, 3, dtype=cr.float64, requires_grad=True)
        assert cr.autograd.gradcheck(lambda a, b, c: m(a, (b, c))[0], [x, h0, c0])
    else:
        assert cr.autograd.gradcheck(lambda a, b: m(a, b)[0], [x, h0])


def test_training_lowers_loss() -> None:
    """An LSTM learns to output the running sum of its input."""
    cr.manual_seed(0)
    m = nn.LSTM(1, 16, batch_first=True)
    head = nn.Linear(16, 1)
    opt = cr.optim.Adam(list(m.parameters()) + list(head.parameters()), lr=0.02)
    x = cr.rand(32, 10, 1)
    y = cr.cumsum(x, 1)
    losses = []
    for _ in range(60):
        opt.zero_grad()
        loss = cr.nn.functional.mse_loss(head(m(x)[0]), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0]


def _raises_like_torch(make: object, call: object) -> None:
    errs = []
    for lib in ("torch", "cr"):
        try:
            call(make(lib), lib)  # type: ignore[operator]
        except Exception as e:  # noqa: BLE001 - compared below
            errs.append((type(e), str(e)))
        else:
            errs.append(None)
    assert errs[0] is not None and errs[0] == errs[1], errs


def _lib(lib: str) -> object:
    return torch if lib == "torch" else cr


@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize(
    "case",
    [
        "4d_input", "bad_input_size", "bad_layers", "bad_batch", "hx_dims_batched",
        "hx_dims_unbatched",
    ],
)  # fmt: skip
def test_layer_errors_match_torch(name: str, case: str) -> None:
    def make(lib: str) -> object:
        return getattr(_lib(lib).nn, name)(4, 5, 2)

    def call(m: object, lib: str) -> None:
        L = _lib(lib)
        x, h = {
            "4d_input": ((2, 3, 4, 4), None),
            "bad_input_size": ((2, 3, 3), None),
            "bad_layers": ((2, 3, 4), (1, 3, 5)),
            "bad_batch": ((2, 3, 4), (2, 4, 5)),
            "hx_dims_batched": ((2, 3, 4), (3, 5)),
            "hx_dims_unbatched": ((2, 4), (2, 1, 5)),
        }[case]
        args = [L.zeros(*x)]
        if h is not None:
            hx = L.zeros(*h)
            args.append((hx, hx) if name == "LSTM" else hx)
        m(*args)  # type: ignore[operator]

    _raises_like_torch(make, call)


def test_input_size_message() -> None:
    with pytest.raises(RuntimeError, match="input.size\\(-1\\) must be equal to input_size. "
                       "Expected 64, got 32"):  # fmt: skip
        nn.LSTM(64, 10)(cr.zeros(5, 2, 32))


@pytest.mark.parametrize("name", ["RNNCell", "LSTMCell", "GRUCell"])
@pytest.mark.parametrize("case", ["3d", "bad_input", "bad_batch", "bad_hidden", "1d_hx"])
def test_cell_errors_match_torch(name: str, case: str) -> None:
    def make(lib: str) -> object:
        return getattr(_lib(lib).nn, name)(4, 5)

    def call(m: object, lib: str) -> None:
        L = _lib(lib)
        x, h = {
            "3d": ((2, 3, 4), None),
            "bad_input": ((3, 3), None),
            "bad_batch": ((3, 4), (2, 5)),
            "bad_hidden": ((3, 4), (3, 6)),
            "1d_hx": ((3, 4), (5,)),
        }[case]
        args = [L.zeros(*x)]
        if h is not None:
            hx = L.zeros(*h)
            args.append((hx, hx) if name == "LSTMCell" else hx)
        m(*args)  # type: ignore[operator]

    _raises_like_torch(make, call)


@pytest.mark.parametrize(
    "kw",
    [
        {"dropout": 1.5}, {"hidden_size": 0}, {"num_layers": 0},
        {"nonlinearity": "sig"}, {"proj_size": 2, "mode": "GRU"}, {"proj_size": 5},
        {"proj_size": -1},
    ],
)  # fmt: skip
def test_constructor_errors_match_torch(kw: dict) -> None:
    kw = dict(kw)
    mode = kw.pop("mode", "RNN" if "nonlinearity" in kw else "LSTM")
    hidden = kw.pop("hidden_size", 5)

    def make(lib: str) -> object:
        return getattr(_lib(lib).nn, mode)(4, hidden, **kw)

    _raises_like_torch(make, lambda m, lib: None)


def test_dropout_must_be_a_number() -> None:
    with pytest.raises(ValueError, match="dropout should be a number in range"):
        nn.GRU(4, 5, dropout="x")  # type: ignore[arg-type]
