"""Autograd semantics (PyTorch's), higher-order derivatives, custom Functions, gradcheck,
graph freeing, and random op compositions against PyTorch."""

import gc
import weakref

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule.autograd import Function, GradcheckError, grad, gradcheck, gradgradcheck


def test_grad_accumulates_across_backward_calls():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    (x * 3).sum().backward()
    assert x.grad.tolist() == [5.0, 7.0]


def test_tensor_used_twice_gets_both_paths():
    x = cr.tensor(3.0, requires_grad=True)
    y = x * x + x.exp() * x
    y.backward()
    assert x.grad.item() == pytest.approx(2 * 3 + np.exp(3) * 4, rel=1e-6)


def test_second_backward_without_retain_graph_says_so():
    x = cr.tensor(2.0, requires_grad=True)
    y = x * x
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()
    z = x * x
    z.backward(retain_graph=True)
    z.backward()
    assert x.grad.item() == 4.0 + 4.0 + 4.0


def test_nonscalar_backward_needs_gradient():
    x = cr.ones(2, 3, requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match=r"implicitly created only for scalar outputs.*\(2, 3\)"):
        y.backward()
    y.backward(cr.ones(2, 3))
    assert x.grad.tolist() == [[2.0] * 3] * 2
    with pytest.raises(RuntimeError, match="gradient has shape"):
        (x * 2).backward(cr.ones(3))


def test_autograd_grad_does_not_touch_dot_grad():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    w = cr.tensor([3.0, 4.0], requires_grad=True)
    (gx,) = grad((x * w).sum(), x)
    assert gx.tolist() == [3.0, 4.0] and x.grad is None and w.grad is None
    (gx,) = grad(x * w, x, grad_outputs=cr.tensor([1.0, 10.0]))
    assert gx.tolist() == [3.0, 40.0]
    unused = cr.tensor(1.0, requires_grad=True)
    with pytest.raises(RuntimeError, match="allow_unused=True"):
        grad((x * 2).sum(), [x, unused])
    assert grad((x * 2).sum(), [x, unused], allow_unused=True)[1] is None


def test_deep_chain_of_100k_ops():
    x = cr.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0
    y.backward()
    assert x.grad.item() == 1.0


def test_no_grad_enable_grad_and_leaf_state():
    x = cr.tensor([1.0], requires_grad=True)
    with cr.no_grad():
        y = x * 2
        with cr.enable_grad():
            z = x * 2
    assert not y.requires_grad and y.grad_fn is None and y.is_leaf
    assert z.requires_grad and z.grad_fn.name() == "MulBackward" and not z.is_leaf

    @cr.no_grad()
    def f(t):
        return t * 3

    assert not f(x).requires_grad
    d = (x * 2).detach()
    assert d.is_leaf and not d.requires_grad
    assert cr.tensor([1.0]).requires_grad_().requires_grad


def test_retain_grad_for_intermediates():
    x = cr.tensor(2.0, requires_grad=True)
    y = x * 3
    y.retain_grad()
    (y * y).backward()
    assert y.grad.item() == 12.0 and x.grad.item() == 36.0


def test_integer_tensor_cannot_require_grad():
    with pytest.raises(RuntimeError, match="floating point"):
        cr.tensor([1, 2], requires_grad=True)


def test_graph_is_freed_after_backward():
    x = cr.tensor(np.ones(1000), requires_grad=True)
    h = x.exp()
    ref = weakref.ref(h)
    loss = (h * 2).sum()
    del h
    gc.collect()
    assert ref() is not None  # the graph holds it until backward
    loss.backward()
    gc.collect()
    assert ref() is None


# ----- higher order -----------------------------------------------------------------------
def test_second_derivatives_match_torch():
    a = np.random.default_rng(0).standard_normal((3, 3))
    x = cr.tensor(a, requires_grad=True)
    t = torch.tensor(a, requires_grad=True)

    def f(m, lib):
        return (lib.tanh(m @ m) * m.sigmoid()).sum() + (m**3).logsumexp(dim=1).sum()

    (gx,) = grad(f(x, cr), x, create_graph=True)
    (gt,) = torch.autograd.grad(f(t, torch), t, create_graph=True)
    np.testing.assert_allclose(gx.detach().numpy(), gt.detach().numpy(), rtol=1e-10)
    v = np.random.default_rng(1).standard_normal((3, 3))
    (hx,) = grad((gx * cr.tensor(v)).sum(), x)  # Hessian-vector product
    (ht,) = torch.autograd.grad((gt * torch.tensor(v)).sum(), t)
    np.testing.assert_allclose(hx.numpy(), ht.numpy(), rtol=1e-9)


def test_newtons_method_with_second_derivatives():
    # DeZero's example: minimise f(x) = x^4 - 2x^2 from x = 2 with x <- x - f'(x) / f''(x).
    x = cr.tensor(2.0, dtype=cr.float64, requires_grad=True)
    for _ in range(10):
        y = x**4 - 2 * x**2
        (g1,) = grad(y, x, create_graph=True)
        (g2,) = grad(g1, x)
        with cr.no_grad():
            x -= g1.detach() / g2
    assert x.item() == pytest.approx(1.0, abs=1e-12)


def test_third_derivative():
    x = cr.tensor(0.7, dtype=cr.float64, requires_grad=True)
    (d1,) = grad(x.sin() * x, x, create_graph=True)
    (d2,) = grad(d1, x, create_graph=True)
    (d3,) = grad(d2, x)
    # d3/dx3 [x sin x] = -3 sin x - x cos x
    assert d3.item() == pytest.approx(-3 * np.sin(0.7) - 0.7 * np.cos(0.7), rel=1e-12)


# ----- Function and gradcheck ---------------------------------------------------------------
class Sigmoid(Function):
    @staticmethod
    def forward(ctx, x):
        s = 1 / (1 + (-x).exp())
        ctx.save_for_backward(s)
        return s

    @staticmethod
    def backward(ctx, g):
        (s,) = ctx.saved_tensors
        return g * s * (1 - s)


class WrongSquare(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * x  # should be 2 x


def test_function_seed003_gate():
    w = cr.tensor([2.0, -3.0, -3.0], requires_grad=True)
    x = cr.tensor([-1.0, -2.0], requires_grad=True)
    f = Sigmoid.apply(w[0] * x[0] + w[1] * x[1] + w[2])
    assert f.grad_fn.name() == "SigmoidBackward"
    f.backward()
    assert round(f.item(), 2) == 0.73
    assert [round(v, 2) for v in x.grad.tolist()] == [0.39, -0.59]
    assert [round(v, 2) for v in w.grad.tolist()] == [-0.2, -0.39, 0.2]


def test_function_with_create_graph_and_gradcheck():
    x = cr.tensor([0.3, -1.2], dtype=cr.float64, requires_grad=True)
    assert gradcheck(Sigmoid.apply, (x,))
    assert gradgradcheck(Sigmoid.apply, (x,))


def test_gradcheck_names_input_and_element():
    x = cr.tensor([0.5, 2.0], dtype=cr.float64, requires_grad=True)
    with pytest.raises(
        GradcheckError, match=r"input 0, at output element 0 and input element \(0,\)"
    ):
        gradcheck(WrongSquare.apply, (x,))
    with pytest.raises(ValueError, match="float64"):
        gradcheck(lambda t: t * 2, (cr.tensor([1.0], requires_grad=True),))


# ----- random compositions against torch ----------------------------------------------------
UNARY = ["exp", "tanh", "sigmoid", "sin", "relu", "abs", "neg", "square"]
BINARY = ["add", "sub", "mul", "maximum"]
SHAPES = [(3,), (2, 3), (1, 3), (2, 1), ()]


def _apply(lib, op, *args):
    if op == "neg":
        return -args[0]
    if op == "square":
        return args[0] * args[0]
    if lib is torch and op == "maximum":
        return torch.maximum(*torch.broadcast_tensors(*args))
    return getattr(lib, op)(*args)


@settings(max_examples=60, deadline=None)
@given(
    program=st.lists(
        st.tuples(st.sampled_from(UNARY + BINARY), st.integers(0, 10), st.integers(0, 10)),
        min_size=1, max_size=8,
    ),
    shapes=st.lists(st.sampled_from(SHAPES), min_size=2, max_size=3),
    seed=st.integers(0, 1000),
)  # fmt: skip
def test_random_compositions_match_torch(program, shapes, seed):
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s) * 0.8 for s in shapes]
    xs = [cr.tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    vals_c, vals_t = list(xs), list(ts)
    for op, i, j in program:
        a_c, a_t = vals_c[i % len(vals_c)], vals_t[i % len(vals_t)]
        if op in BINARY:
            b_c, b_t = vals_c[j % len(vals_c)], vals_t[j % len(vals_t)]
            vals_c.append(_apply(cr, op, a_c, b_c))
            vals_t.append(_apply(torch, op, a_t, b_t))
        else:
            vals_c.append(_apply(cr, op, a_c))
            vals_t.append(_apply(torch, op, a_t))
    out_c, out_t = vals_c[-1].sum(), vals_t[-1].sum()
    np.testing.assert_allclose(out_c.item(), out_t.item(), rtol=1e-10, atol=1e-12)
    if not out_t.requires_grad:
        return
    g_c = grad(out_c, xs, allow_unused=True)
    g_t = torch.autograd.grad(out_t, ts, allow_unused=True)
    for a, b in zip(g_c, g_t):
        if b is None:
            assert a is None
        else:
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-9, atol=1e-12)
