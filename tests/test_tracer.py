"""The tracer hook that forward mode and vmap build on: a trace that only unwraps its tracers
(computing what plain arrays compute) must give the same values and gradients as plain arrays,
through tensors, the tape and the engine."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule.ops import primitive
from chainrule.ops.primitive import Trace, Tracer


class Box(Tracer):
    __slots__ = ("value",)

    def __init__(self, trace: Trace, value: np.ndarray) -> None:
        super().__init__(trace)
        self.value = value

    @property
    def shape(self) -> tuple:
        return self.value.shape

    @property
    def dtype(self) -> np.dtype:
        return self.value.dtype


class Unbox(Trace):
    """Runs every primitive on the values inside, boxes the result, and counts the calls."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def process(self, prim, args, params):
        self.calls.append(prim.name)
        out = prim(*[unbox(a, self) for a in args], **params)
        return Box(self, out)


def unbox(a, trace):
    if isinstance(a, Box) and a.trace is trace:
        return a.value
    if a.__class__ in (list, tuple):
        return type(a)(unbox(b, trace) for b in a)
    return a


def boxed(t: cr.Tensor, trace: Trace) -> cr.Tensor:
    out = cr.Tensor._wrap(Box(trace, t._data))
    out.requires_grad_(t.requires_grad)
    return out


def loss_fn(x, w, b):
    h = F.gelu(x @ w + b)
    return F.cross_entropy(F.layer_norm(h, (h.shape[-1],)), cr.tensor([0, 2, 1]))


@pytest.mark.parametrize(
    "fn",
    [
        lambda x, w, b: (x * x + 2 * x / (1 + x.abs())).sum(),
        lambda x, w, b: (x @ w + b).tanh().mean(),
        lambda x, w, b: F.relu(x @ w).max(dim=1).values.sum(),
        lambda x, w, b: F.softmax(x @ w, dim=-1)[:, 1].sum(),
        lambda x, w, b: (x.T.reshape(-1)[2:] ** 2).sum(),
        loss_fn,
    ],
)
def test_an_identity_trace_changes_nothing(fn):
    rng = np.random.default_rng(0)
    x = cr.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    w = cr.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    b = cr.tensor(rng.standard_normal(3), requires_grad=True)
    ref = fn(x, w, b)
    ref.backward()
    trace = Unbox()
    xs = [boxed(t, trace) for t in (x, w, b)]
    out = fn(*xs)
    out.backward()
    assert isinstance(out._data, Box)
    np.testing.assert_allclose(out._data.value, ref._data, rtol=1e-12)
    for t, r in zip(xs, (x, w, b)):
        if r.grad is None:  # not used by fn
            assert t.grad is None
            continue
        assert isinstance(t.grad._data, Box)
        np.testing.assert_allclose(t.grad._data.value, r.grad._data, rtol=1e-10, atol=1e-12)
    assert trace.calls  # the primitives did go through the trace


def test_traces_cost_nothing_once_gone():
    before = primitive._LIVE[0]
    t = Unbox()
    assert primitive._LIVE[0] == before + 1
    del t
    assert primitive._LIVE[0] == before


def test_a_tracer_refuses_to_become_an_array():
    b = Box(Unbox(), np.zeros(2))
    with pytest.raises(TypeError, match="inside a transform"):
        np.asarray(b)
    with pytest.raises(TypeError, match="numpy.cumsum has no primitive"):
        np.cumsum(b)


def test_a_tensor_holding_a_tracer_prints_what_it_is():
    t = cr.Tensor._wrap(Box(Unbox(), np.zeros((2, 3))))
    assert repr(t) == "tensor(Box(shape=(2, 3), dtype=float64))"
