"""``chainrule.func`` (grad, value_and_grad, vjp, jvp, jacrev, hessian) against ``torch.func``."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.func as tf

import chainrule as cr
import chainrule.func as cf

RNG = np.random.default_rng(11)
X = RNG.standard_normal((3,))
W = RNG.standard_normal((2, 3))


def M(x):  # noqa: N802 - the library the argument belongs to
    return cr if isinstance(x, cr.Tensor) else torch


def close(ours, theirs, rtol=1e-10):
    if isinstance(theirs, (tuple, list)):
        assert len(ours) == len(theirs)
        for o, t in zip(ours, theirs):
            close(o, t, rtol)
        return
    o = ours.detach().numpy() if isinstance(ours, cr.Tensor) else np.asarray(ours)
    np.testing.assert_allclose(o, theirs.detach().numpy(), rtol=rtol, atol=1e-12)


def t64(a, lib):
    return lib.tensor(a, dtype=lib.float64)


SCALAR_FUNS = {
    "cubic": lambda x: (x**3).sum(),
    "logsumexp": lambda x: M(x).logsumexp(x * 2, 0),
    "tanh_mlp": lambda x: M(x).tanh(M(x).tanh(x) * x).sum() ** 2,
    "sigmoid_neuron": lambda x: M(x).sigmoid(x[0] * x[1] + x[2]),
}


@pytest.mark.parametrize("name", SCALAR_FUNS)
def test_grad_value_and_grad_and_hessian_match_torch_func(name):
    f = SCALAR_FUNS[name]
    close(cf.grad(f)(t64(X, cr)), tf.grad(f)(t64(X, torch)))
    (v, g) = cf.value_and_grad(f)(t64(X, cr))
    (tv, tg) = tf.grad_and_value(f)(t64(X, torch))[::-1]
    close(v, tv)
    close(g, tg)
    close(cf.hessian(f)(t64(X, cr)), tf.hessian(f)(t64(X, torch)))


def test_grad_composes_into_higher_derivatives():
    def f(x):
        return M(x).sin(x).sum() * x.sum()

    def g1(x):
        return cf.grad(f)(x).sum() if isinstance(x, cr.Tensor) else tf.grad(f)(x).sum()

    def g2(x):
        return cf.grad(g1)(x).sum() if isinstance(x, cr.Tensor) else tf.grad(g1)(x).sum()

    close(cf.grad(g2)(t64(X, cr)), tf.grad(g2)(t64(X, torch)))


def test_grad_with_several_argnums_and_aux():
    def loss(w, x):
        y = M(w).tanh(w @ x)
        return (y * y).sum(), y

    ours, aux = cf.grad(loss, argnums=(0, 1), has_aux=True)(t64(W, cr), t64(X, cr))
    theirs, taux = tf.grad(loss, argnums=(0, 1), has_aux=True)(t64(W, torch), t64(X, torch))
    close(ours, theirs)
    close(aux, taux)
    close(cf.grad(loss, argnums=-1, has_aux=True)(t64(W, cr), t64(X, cr))[0], theirs[1])


VECTOR_FUNS = {
    "elementwise": (lambda x: M(x).exp(x) * x, [X]),
    "matvec": (lambda w, x: M(w).tanh(w @ x), [W, X]),
    "outer_softmax": (lambda x: M(x).outer(x, x).softmax(1), [X]),
}


@pytest.mark.parametrize("name", VECTOR_FUNS)
def test_jacrev_vjp_and_jvp_match_torch_func(name):
    f, arrays = VECTOR_FUNS[name]
    ours = [t64(a, cr) for a in arrays]
    theirs = [t64(a, torch) for a in arrays]
    nums = tuple(range(len(arrays)))
    close(cf.jacrev(f, argnums=nums)(*ours), tf.jacrev(f, argnums=nums)(*theirs))
    out, back = cf.vjp(f, *ours)
    tout, tback = tf.vjp(f, *theirs)
    close(out, tout)
    v = RNG.standard_normal(tuple(tout.shape))
    close(back(t64(v, cr)), tback(t64(v, torch)))
    tangents = [RNG.standard_normal(a.shape) for a in arrays]
    close(
        cf.jvp(f, ours, [t64(t, cr) for t in tangents]),
        tf.jvp(f, tuple(theirs), tuple(t64(t, torch) for t in tangents)),
    )


def test_transforms_leave_grad_alone_work_under_no_grad_and_return_plain_tensors():
    x = cr.tensor(X, dtype=cr.float64, requires_grad=True)
    with cr.no_grad():
        g = cf.grad(lambda x: (x * x).sum())(x)
    assert x.grad is None and not g.requires_grad and g.is_leaf
    np.testing.assert_allclose(g.numpy(), 2 * X)
    assert cf.grad(lambda x: cr.tensor(3.0))(cr.ones(2)).tolist() == [0.0, 0.0]


def test_a_transform_inside_a_graph_is_differentiated_by_backward():
    x = cr.tensor(X, dtype=cr.float64, requires_grad=True)
    y = cf.grad(lambda x: (x**3).sum())(x).sum()  # sum 3 x^2
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 6 * X)


ERRORS = [
    (lambda: cf.grad(lambda x: x * 2)(cr.ones(3)), RuntimeError, r"scalar.*shape \(3,\)"),
    (lambda: cf.grad(lambda x: 1.0)(cr.ones(3)), TypeError, "must return a Tensor"),
    (lambda: cf.grad(lambda x: x.sum(), argnums=2)(cr.ones(3)), ValueError, "argnums 2"),
    (lambda: cf.grad(lambda x: x.sum())(cr.tensor([1, 2])), TypeError, "floating-point.*int64"),
    (lambda: cf.grad(lambda x: x.sum(), has_aux=True)(cr.ones(2)), TypeError, "has_aux"),
    (lambda: cf.vjp(lambda x: x * 2, cr.ones(3))[1](cr.ones(2)), ValueError, r"cotangent.*\(2,\)"),
    (lambda: cf.jvp(lambda x: x, (cr.ones(3),), (cr.ones(2),)), ValueError, r"tangent 0.*\(2,\)"),
    (lambda: cf.hessian(lambda x: x.sum(), argnums=(0,)), TypeError, "one int"),
]


@pytest.mark.parametrize("fn, exc, match", ERRORS)
def test_misuse_gets_a_clear_error(fn, exc, match):
    with pytest.raises(exc, match=match):
        fn()


CLOSURES = {
    "grad of grad over a closed-over x": lambda L, g, x: g(
        lambda x: g(lambda y: (x * y * y).sum())(L.tensor(3.0))
    )(x),
    "value inside grad": lambda L, g, x: g(
        lambda x: (L is cr and cf.value_and_grad or tf.grad_and_value)(lambda y: (x * y * y).sum())(
            L.tensor(3.0)
        )[0 if L is cr else 1]
    )(x),
    "grad of jvp": lambda L, g, x: g(
        lambda x: (cf.jvp if L is cr else tf.jvp)(
            lambda y: x * y * y, (L.tensor(3.0),), (L.tensor(1.0),)
        )[1]
    )(x),
    "grad of vjp": lambda L, g, x: g(
        lambda x: (cf.vjp if L is cr else tf.vjp)(lambda y: x * y * y, L.tensor(3.0))[1](
            L.tensor(1.0)
        )[0]
    )(x),
}


@pytest.mark.parametrize("name", CLOSURES)
def test_nested_transforms_differentiate_through_closed_over_tensors(name):
    ours = CLOSURES[name](cr, cf.grad, cr.tensor(2.0))
    theirs = CLOSURES[name](torch, tf.grad, torch.tensor(2.0))
    assert abs(ours.item() - theirs.item()) < 1e-6 and ours.item() != 0
    assert not ours.requires_grad  # nothing outside: the result leaves the graph


def test_jacrev_of_jacrev_through_a_closure_and_backward_through_a_transform():
    y0 = np.array([0.5, 1.0])
    ours = cf.jacrev(lambda x: cf.jacrev(lambda y: x * y.sin())(cr.tensor(y0)).sum(0))(
        cr.tensor([1.0, 2.0])
    )
    theirs = tf.jacrev(lambda x: tf.jacrev(lambda y: x * y.sin())(torch.tensor(y0)).sum(0))(
        torch.tensor([1.0, 2.0])
    )
    close(ours, theirs, rtol=1e-6)
    x = cr.tensor(2.0, requires_grad=True)
    g = cf.grad(lambda y: x * y * y)(cr.tensor(3.0))  # 2 x y: depends on x, so stays in graph
    g.backward()
    assert x.grad.item() == 6.0
