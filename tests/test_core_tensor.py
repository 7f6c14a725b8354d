"""Tensor construction, dtypes, factories, conversions, repr, in-place updates."""

import numpy as np
import pytest

import chainrule as cr


def test_dtype_rules():
    assert cr.tensor(1.5).dtype == cr.float32
    assert cr.tensor([1, 2]).dtype == cr.int64
    assert cr.tensor([True]).dtype == cr.bool
    assert cr.tensor(np.zeros(2)).dtype == cr.float64  # a float64 array stays float64
    assert cr.tensor([1, 2], dtype=cr.float64).dtype == cr.float64
    assert (cr.ones(2) * 2.5).dtype == cr.float32  # no silent float64 upcast from scalars
    assert (cr.ones(2) / 3).dtype == cr.float32


def test_factories():
    assert cr.zeros(2, 3).shape == (2, 3) and cr.ones((4,)).tolist() == [1.0] * 4
    assert cr.full((2,), 7).tolist() == [7, 7] and cr.full((1,), 0.5).dtype == cr.float32
    assert cr.arange(5).tolist() == [0, 1, 2, 3, 4] and cr.arange(0, 1, 0.5).dtype == cr.float32
    assert cr.linspace(0, 1, 5).tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert cr.eye(3).numpy().trace() == 3
    assert cr.zeros_like(cr.ones(2, 2)).tolist() == [[0.0, 0.0]] * 2
    assert cr.ones_like(cr.zeros(3, dtype=cr.float64)).dtype == cr.float64
    r = cr.randint(0, 5, (1000,))
    assert r.dtype == cr.int64 and 0 <= r.numpy().min() and r.numpy().max() < 5
    n = cr.randn(10_000)
    assert abs(n.numpy().mean()) < 0.05 and abs(n.numpy().std() - 1) < 0.05
    u = cr.rand(10_000)
    assert u.numpy().min() >= 0 and u.numpy().max() < 1


def test_manual_seed_reproduces():
    cr.manual_seed(3)
    a, b = cr.randn(5), cr.rand(5)
    cr.manual_seed(3)
    assert cr.randn(5).tolist() == a.tolist() and cr.rand(5).tolist() == b.tolist()


def test_conversions_and_facts():
    t = cr.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert t.shape == (2, 3) and t.ndim == 2 and t.size() == (2, 3) and t.size(1) == 3
    assert t.numel() == 6 and len(t) == 2 and t.dim() == 2
    assert t[1, 2].item() == 6.0 and t.tolist()[0] == [1.0, 2.0, 3.0]
    assert isinstance(t.numpy(), np.ndarray) and np.asarray(t).shape == (2, 3)
    assert np.asarray(t, dtype=np.float64).dtype == np.float64
    with pytest.raises(RuntimeError, match="detach"):
        cr.tensor([1.0], requires_grad=True).numpy()
    with pytest.raises(RuntimeError, match="cannot be converted to Scalar"):
        t.item()


def test_repr_shows_data_and_grad_fn():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    assert repr(x) == "tensor([1., 2.], requires_grad=True)"
    assert repr(x * 2) == "tensor([2., 4.], grad_fn=<MulBackward>)"
    assert "dtype=float64" in repr(cr.tensor(np.zeros(1)))


def test_inplace_updates():
    t = cr.ones(3)
    t += 1
    t *= cr.tensor([1.0, 2.0, 3.0])
    assert t.tolist() == [2.0, 4.0, 6.0]
    p = cr.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        p -= 1
    with cr.no_grad():
        p -= 1
    assert p.tolist() == [0.0, 1.0] and p.is_leaf


def test_manual_sgd_through_data():
    w = cr.tensor([1.0, -1.0], requires_grad=True)
    (w * w).sum().backward()
    w.data -= 0.1 * w.grad  # micrograd's p.data -= lr * p.grad
    assert w.tolist() == pytest.approx([0.8, -0.8])
    assert w.is_leaf and w.requires_grad


def test_leaf_grads_do_not_alias():
    a = cr.tensor([1.0, 2.0], requires_grad=True)
    b = cr.tensor([3.0, 4.0], requires_grad=True)
    (a + b).sum().backward()  # both receive the same upstream gradient
    a.grad *= 10
    assert b.grad.tolist() == [1.0, 1.0]
