"""The per-op fast paths (issue 9) keep PyTorch's results: numbers entering + - * / as 0-d
arrays, grad mode read through the GRAD_OFF count, the engine running rules inline."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

import chainrule as cr
from chainrule.autograd.grad_mode import GRAD_OFF, STATE
from chainrule.viz import explain


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("op", ["add", "sub", "mul", "truediv"])
@pytest.mark.parametrize("number", [1.01, -0.0, 0.0, 3, -2, 1e300, float("inf")])
def test_tensor_and_number_match_torch(dtype: str, op: str, number: float) -> None:
    x0 = np.array([0.5, -1.5, 2.0], dtype=dtype)
    for swap in (False, True):
        c = cr.tensor(x0, requires_grad=True)
        t = torch.tensor(x0, requires_grad=True)
        f = getattr(type(c), f"__{'r' if swap else ''}{op}__")
        ft = getattr(torch.Tensor, f"__{'r' if swap else ''}{op}__")
        with np.errstate(all="ignore"):
            yc = f(c, number)
            yc.sum().backward()
        yt = ft(t, number)
        yt.sum().backward()
        assert yc.dtype == getattr(cr, dtype)
        np.testing.assert_array_equal(yc.detach().numpy(), yt.detach().numpy())
        np.testing.assert_array_equal(
            np.signbit(yc.detach().numpy()), np.signbit(yt.detach().numpy())
        )
        np.testing.assert_allclose(c.grad.numpy(), t.grad.numpy(), rtol=1e-6)


def test_number_arrays_are_read_only_and_shared() -> None:
    from chainrule.functions import _number_as_array
    from chainrule.ops import elementwise as E

    a = _number_as_array(E.mul, 1.25, np.ones(2, np.float32))
    assert a.dtype == np.float32 and a.ndim == 0 and not a.flags.writeable
    assert _number_as_array(E.mul, 1.25, np.ones(3, np.float32)) is a
    assert _number_as_array(E.mul, 0.0, np.ones(2, np.float32)) == 0.0  # zeros stay numbers
    assert _number_as_array(E.pow, 2.0, np.ones(2, np.float32)) == 2.0  # only + - * /
    assert _number_as_array(E.mul, 2, np.ones(2, np.int64)) == 2  # ints keep NumPy's rules


def test_int_and_bool_tensors_with_numbers_keep_dtypes() -> None:
    assert (cr.tensor([1, 2]) * 2).dtype == cr.int64
    assert (cr.tensor([1, 2]) * 1.5).dtype == cr.float32
    assert (cr.tensor([True]) + 1).dtype == cr.int64
    assert (2 - cr.tensor([1, 2])).tolist() == [1, 0]


def test_double_backward_through_number_ops() -> None:
    x = cr.tensor([0.3, -0.7], requires_grad=True)
    tx = torch.tensor([0.3, -0.7], requires_grad=True)
    (g,) = cr.autograd.grad((x * 1.5 - 0.25).tanh().sum(), x, create_graph=True)
    (gt,) = torch.autograd.grad((tx * 1.5 - 0.25).tanh().sum(), tx, create_graph=True)
    np.testing.assert_allclose(g.detach().numpy(), gt.detach().numpy(), rtol=1e-6)
    g.sum().backward()
    gt.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-5)


def test_grad_off_counts_threads_with_grad_mode_off() -> None:
    assert GRAD_OFF[0] == 0
    w = cr.tensor([1.0], requires_grad=True)
    seen: list = []
    started, release = threading.Event(), threading.Event()

    def other() -> None:
        with cr.no_grad():
            started.set()
            release.wait()
            seen.append((w * 2).requires_grad)

    th = threading.Thread(target=other)
    th.start()
    started.wait()
    assert GRAD_OFF[0] == 1
    assert (w * 2).requires_grad  # this thread still records
    release.set()
    th.join()
    assert seen == [False] and GRAD_OFF[0] == 0
    with cr.no_grad():
        with cr.no_grad():
            assert GRAD_OFF[0] == 1 and not (w * 2).requires_grad
        with cr.enable_grad():
            assert GRAD_OFF[0] == 0 and STATE.enabled
    assert GRAD_OFF[0] == 0


def test_explain_sees_function_and_primitive_gradients() -> None:
    class Double(cr.autograd.Function):
        @staticmethod
        def forward(ctx, a):  # noqa: ANN001, ANN205
            return a * 2

        @staticmethod
        def backward(ctx, g):  # noqa: ANN001, ANN205
            return g * 2

    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = (Double.apply(x) * 3.0).sum()
    table = explain(y)
    assert "Double" in str(table)
    y.backward()
    assert x.grad.tolist() == [6.0, 6.0]


def test_gradient_summed_in_place_from_the_third_arrival_matches_torch():
    """A tensor read by four ops gets four gradients: the engine sums the third and later into
    the sum it made itself, never into an array a rule handed back (here ``add`` hands its
    upstream gradient to both inputs)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 4)).astype(np.float32)
    x = cr.tensor(a, requires_grad=True)
    h = x * 2.0
    h.retain_grad()
    y = (h + h) + h * h + h.tanh() + h
    y.sum().backward()
    tx = torch.tensor(a, requires_grad=True)
    th = tx * 2.0
    th.retain_grad()
    ty = (th + th) + th * th + th.tanh() + th
    ty.sum().backward()
    np.testing.assert_allclose(h.grad.numpy(), th.grad.numpy(), rtol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-6)
