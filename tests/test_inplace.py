"""In-place updates inside a recorded graph, ``x[key] = value``, and the version counter that
stops backward from using a tensor changed since it was recorded (PyTorch's semantics)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import chainrule as cr
from oracle import check

RNG = np.random.default_rng(7)
A = RNG.standard_normal((3, 4))
B = RNG.standard_normal((3, 4))


def both(fn):
    """Run ``fn(lib, a, b)`` with chainrule and torch on float64 leaves; return values and grads."""
    out = []
    for lib in (cr, torch):
        a = lib.tensor(A, dtype=lib.float64, requires_grad=True)
        b = lib.tensor(B, dtype=lib.float64, requires_grad=True)
        y = fn(lib, a, b)
        (y * lib.tensor(np.arange(y.numel()).reshape(y.shape), dtype=lib.float64)).sum().backward()
        out.append([np.asarray(t.detach().numpy()) for t in (y, a.grad, b.grad)])
    return out


INPLACE = {
    "add_": lambda lib, a, b: (a * 2).add_(b, alpha=3),
    "sub_": lambda lib, a, b: (a * 2).sub_(b),
    "mul_": lambda lib, a, b: (a + 1).mul_(b),
    "div_": lambda lib, a, b: (a + 1).div_(b * b + 1),
    "iadd_twice": lambda lib, a, b: _iadd(a * 1, b),
    "clamp_": lambda lib, a, b: (a * b).clamp_(-0.5, 0.5),
    "relu_": lambda lib, a, b: (a * b).relu_(),
    "fill_": lambda lib, a, b: (a * b).fill_(2.0) * a,
    "copy_": lambda lib, a, b: (a * 1).copy_(b * 3),
    "copy_broadcast": lambda lib, a, b: (a * 1).copy_(b[0] * 3),
    "zero_then_add": lambda lib, a, b: (a * 1).zero_().add_(b),
    "constant_add_tensor": lambda lib, a, b: lib.zeros(3, 4, dtype=lib.float64).add_(a * b),
    # operands computed from the very tensor being updated
    "y += y": lambda lib, a, b: _iadd(a * b, a),
    "add_ own multiple": lambda lib, a, b: _apply(a * b, lambda y: y.add_(y * 2)),
    "sub_ own mean": lambda lib, a, b: _apply(a * b, lambda y: y.sub_(y.mean())),
    "mul_ own sigmoid": lambda lib, a, b: _apply(a * b, lambda y: y.mul_(y.sigmoid())),
    "setitem from itself": lambda lib, a, b: _apply(a * b, lambda y: y.__setitem__(0, y[1] * 2)),
}


def _apply(y, f):
    f(y)
    return y


def _iadd(y, b):
    y += b
    y += y
    return y


@pytest.mark.parametrize("name", INPLACE)
def test_inplace_in_a_graph_matches_torch(name):
    ours, theirs = both(INPLACE[name])
    for o, t in zip(ours, theirs):
        np.testing.assert_allclose(o, t, rtol=1e-12, atol=1e-12)


def _setitem(key, value_from_b):
    def fn(lib, a, b):
        y = a * 1
        y[key] = value_from_b(b)
        return y * a

    return fn


KEYS = {
    "int": (1, lambda b: b[0] * 2),
    "slice": ((slice(None), slice(1, 3)), lambda b: b[:, :2].exp()),
    "broadcast_value": ((slice(0, 2),), lambda b: b[2]),
    "scalar_value": ((0, 0), lambda b: b[1, 1] * 5),
    "int_array": (([0, 2],), lambda b: b[:2] * b[1:]),
    "bool_mask": (A > 0, lambda b: b[A > 0]),
    "ellipsis": ((Ellipsis, 3), lambda b: b[:, 0]),
}


@pytest.mark.parametrize("name", KEYS)
def test_setitem_in_a_graph_matches_torch(name):
    key, value = KEYS[name]
    ours, theirs = both(_setitem(key, value))
    for o, t in zip(ours, theirs):
        np.testing.assert_allclose(o, t, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["int", "slice", "broadcast_value", "int_array", "bool_mask"])
def test_setitem_functional_form_against_torch_and_finite_differences(name):
    key, _ = KEYS[name]
    a = A
    v_shape = np.asarray(A)[key].shape

    def fn(x, v):
        if isinstance(x, torch.Tensor):
            y = x.clone()
            y[key] = v
            return y
        return cr.functions.setitem(x, key, v)

    check(fn, arrays=[a, RNG.standard_normal(v_shape)])


def test_setitem_without_a_graph_writes_in_place_and_accepts_tensor_keys():
    x = cr.zeros(2, 3)
    data = x._data
    x[0] = 1.0
    x[1, cr.tensor([0, 2])] = cr.tensor([5.0, 6.0])
    x[x > 5] = -1
    assert x._data is data and x.tolist() == [[1.0, 1.0, 1.0], [5.0, 0.0, -1.0]]
    assert x._version == 3 and x.dtype == cr.float32


def test_setitem_errors_name_the_problem():
    x = cr.zeros(2, 3)
    with pytest.raises(IndexError, match=r"setitem: .*\(tensor of shape \(2, 3\)\)"):
        x[5] = 1.0
    with pytest.raises(RuntimeError, match=r"setitem: .*shape \(2, 3\).*shape \(4,\)"):
        x[:] = cr.ones(4)
    w = cr.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        w[0] = 1.0
    with pytest.raises(ValueError, match=r"setitem: cannot assign a value of shape \(4,\)"):
        y = w * 1
        y[:] = cr.ones(4, requires_grad=True)
    assert w.tolist() == [0.0, 0.0, 0.0]


def test_inplace_method_on_a_non_leaf_changes_the_tensor_itself():
    # Regression: ``h.add_(1)`` on a non-leaf used to compute out of place and drop the result.
    a = cr.tensor([1.0, 2.0], requires_grad=True)
    h = a * 2
    same = h.add_(1)
    assert same is h and h.tolist() == [3.0, 5.0] and h.grad_fn.name() == "AddBackward"
    (h * h).sum().backward()
    assert a.grad.tolist() == [12.0, 20.0]  # d/da (2a + 1)^2 = 4 (2a + 1)


def test_inplace_keeps_the_dtype_of_the_tensor():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = x * 1
    y.add_(cr.tensor([1.0, 1.0], dtype=cr.float64))
    assert y.dtype == cr.float32
    i = cr.tensor([1, 2])
    with pytest.raises(RuntimeError, match="add_: result type float32 can.t be cast.*int64"):
        i.add_(x)


def test_inplace_on_a_view_in_a_graph_is_refused():
    a = cr.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    y = a * 1
    row = y[0]
    with pytest.raises(RuntimeError, match=r"mul_: in-place update of a view.*\.clone\(\)"):
        row.mul_(2)
    row = y[0].clone()
    row.mul_(2)
    assert row.tolist() == [2.0, 4.0] and y.tolist() == [[1.0, 2.0], [3.0, 4.0]]


def test_without_a_graph_a_view_writes_through_to_its_base():
    x = cr.zeros(4)
    x[1:3].fill_(7.0)
    x.reshape(2, 2)[1].add_(1.0)
    assert x.tolist() == [0.0, 7.0, 8.0, 1.0]


def test_backward_refuses_an_input_modified_after_it_was_used():
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    x = cr.tensor([3.0, 4.0])
    y = (x * w).sum()  # dy/dw = x, read at backward time
    x.mul_(2)
    with pytest.raises(RuntimeError, match=r"modified by an inplace operation: input 0 "
                       r"\[float32 \[2\]\] of MulBackward is at version 1"):  # fmt: skip
        y.backward()


def test_backward_refuses_an_output_modified_under_no_grad():
    a = cr.tensor([0.5, 1.0], requires_grad=True)
    y = a.exp()  # dy/da = y itself
    with cr.no_grad():
        y.mul_(2)
    with pytest.raises(RuntimeError, match="its output.*of ExpBackward"):
        y.sum().backward()
    t = torch.tensor([0.5, 1.0], requires_grad=True)
    ty = t.exp()
    with torch.no_grad():
        ty.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        ty.sum().backward()


def test_backward_refuses_parameters_updated_by_an_optimizer_step():
    for lib in (cr, torch):
        lin = lib.nn.Linear(3, 2)
        opt = lib.optim.SGD(lin.parameters(), lr=0.1)
        x = lib.randn(4, 3, requires_grad=True)  # so the weight is saved, for x's gradient
        lin(x).sum().backward()
        loss = lin(x).sum()  # recorded with the weights as they are now
        opt.step()  # changes them in place
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            loss.backward()


def test_an_optimizer_step_on_weights_no_node_saved_is_fine_as_torch():
    # With a constant input, d loss / d weight = x: the weight itself was never saved.
    grads = []
    for lib in (cr, torch):
        lib.manual_seed(0)
        lin = lib.nn.Linear(3, 2)
        opt = lib.optim.SGD(lin.parameters(), lr=0.1)
        x = lib.ones(4, 3)
        lin(x).sum().backward()
        loss = lin(x).sum()
        opt.step()
        opt.zero_grad()
        loss.backward()
        grads.append(lin.weight.grad.tolist())
    assert grads[0] == grads[1] == [[4.0] * 3] * 2


def test_a_tensor_recorded_before_an_inplace_rebase_still_back_propagates_correctly():
    # z saved y's old array; y.mul_ records a new node and leaves that array untouched, but z's
    # node now refers to a tensor at a newer version, so backward through it is refused.
    a = cr.tensor([1.0, 2.0], requires_grad=True)
    y = a * 1
    z = y * y
    y.mul_(3)
    (y.sum()).backward(retain_graph=True)
    assert a.grad.tolist() == [3.0, 3.0]
    with pytest.raises(RuntimeError, match="MulBackward"):
        z.sum().backward()


VIEW_CHANGES = {
    "slice of the input under no_grad": lambda L, x, w: _no_grad(L, lambda: x[:2].mul_(2)),
    "transpose of the input under no_grad": lambda L, x, w: _no_grad(L, lambda: x.T.mul_(2)),
    "reshape of the input under no_grad": lambda L, x, w: _no_grad(L, lambda: x.reshape(4).add_(1)),
    "row of the input via unbind": lambda L, x, w: _no_grad(L, lambda: x.unbind(0)[0].zero_()),
    "detached alias of the input": lambda L, x, w: x.detach().add_(10),
    "slice of a constant factor": lambda L, x, w: w[:1].mul_(5),
}


def _no_grad(lib, f):
    with lib.no_grad():
        f()


@pytest.mark.parametrize("name", VIEW_CHANGES)
def test_a_change_through_a_view_or_alias_is_seen_by_backward_as_torch(name):
    for lib in (cr, torch):
        x = lib.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
        w = lib.ones(2, 2)
        loss = (x * x * w).sum()
        VIEW_CHANGES[name](lib, x, w)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            loss.backward()


def test_replacing_data_keeps_the_recorded_graph_consistent():
    # ``.data =`` gives the tensor new memory; the node that saved the old array keeps it, so
    # the gradient is that of the forward pass as it ran, never a mix of old and new.
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()  # backward reads y itself
    y.data = cr.zeros(2)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.exp([1.0, 2.0]), rtol=1e-6)


def test_views_of_untouched_tensors_back_propagate_normally():
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    c = cr.ones(3)
    (x[:2] * c[:2] * x.reshape(3, 1)[:2, 0]).sum().backward()
    assert x.grad.tolist() == [2.0, 4.0, 0.0]


def test_clamp_in_place_on_an_int_tensor_with_float_bounds_is_refused_as_torch():
    with pytest.raises(RuntimeError, match="clamp_: .*float32 can't be cast to int64"):
        cr.tensor([1, 2, 3]).clamp_(min=2.5)
    assert cr.tensor([1, 2, 3]).clamp_(min=2).tolist() == [2, 2, 3]
