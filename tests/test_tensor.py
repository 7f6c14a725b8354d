"""Tensor construction, dtype rules, factories, array facts, conversions, repr, float32 kept
float32, in-place updates and ``.data`` for manual SGD."""

import numpy as np
import pytest
import torch

import chainrule as cr


# ----- construction and dtype rules ---------------------------------------------------------
@pytest.mark.parametrize(
    "data, dtype",
    [
        (1.5, cr.float32), ([1.0, 2.0], cr.float32), ([[1, 2.5]], cr.float32), ([1, 2], cr.int64),
        (3, cr.int64), (True, cr.bool), ([True, False], cr.bool), (np.ones(2), cr.float64),
        (np.ones(2, dtype=np.float32), cr.float32), (np.arange(3), cr.int64),
        (np.array([True]), cr.bool), (np.float64(2.0), cr.float64), ([], cr.float32),
        (np.ones(2, dtype=np.int32), cr.int32),
    ],
    ids=lambda v: type(v).__name__,
)  # fmt: skip
def test_dtype_rules_follow_pytorch(data, dtype):
    t = cr.tensor(data)
    assert t.dtype == dtype
    assert str(torch.tensor(data).dtype).split(".")[1] == str(np.dtype(dtype)) or dtype == cr.bool


def test_explicit_dtype_and_requires_grad():
    t = cr.tensor([1, 2], dtype=cr.float64, requires_grad=True)
    assert t.dtype == cr.float64 and t.requires_grad and t.is_leaf
    assert cr.tensor(2.5, dtype=cr.int64).item() == 2
    assert cr.tensor([[1.0, 2.0]]).shape == (1, 2) and cr.tensor(1.0).shape == ()


def test_tensor_copies_its_data_and_as_tensor_shares_it():
    a = np.ones(3)
    t = cr.tensor(a)
    a[0] = 5
    assert t.tolist() == [1.0, 1.0, 1.0]
    s = cr.as_tensor(a)
    a[1] = 7
    assert s.tolist() == [5.0, 7.0, 1.0]
    src = cr.tensor([1.0, 2.0], requires_grad=True)
    c = cr.tensor(src)
    c += 1
    assert src.tolist() == [1.0, 2.0] and not c.requires_grad


def test_bad_data_is_a_clear_error():
    with pytest.raises(TypeError, match="tensor: cannot make a tensor from str"):
        cr.tensor("abc")
    with pytest.raises(TypeError, match="tensor: cannot make a tensor"):
        cr.tensor([object()])
    with pytest.raises(ValueError, match="tensor: cannot make a tensor from list"):
        cr.tensor([[1.0, 2.0], [3.0]])


# ----- factories ----------------------------------------------------------------------------
def test_factories_shapes_values_and_dtypes():
    assert cr.zeros(2, 3).shape == (2, 3) and cr.zeros((2, 3)).shape == (2, 3)
    assert cr.ones([4]).tolist() == [1.0] * 4 and cr.ones(2).dtype == cr.float32
    assert cr.zeros(2, dtype=cr.int64).dtype == cr.int64 and cr.zeros(()).shape == ()
    assert cr.zeros(0, 3).shape == (0, 3)
    assert cr.full((2, 2), 1.5).tolist() == [[1.5, 1.5], [1.5, 1.5]]
    assert cr.full((2,), 1.5).dtype == cr.float32 and cr.full((2,), 3).dtype == cr.int64
    assert cr.full((2,), True).dtype == cr.bool
    assert cr.arange(4).tolist() == [0, 1, 2, 3] and cr.arange(4).dtype == cr.int64
    assert cr.arange(1, 7, 2).tolist() == [1, 3, 5] and cr.arange(5, 0, -2).tolist() == [5, 3, 1]
    assert cr.arange(0, 1, 0.25).tolist() == [0.0, 0.25, 0.5, 0.75]
    assert cr.arange(0, 1, 0.25).dtype == cr.float32 and cr.arange(3.0).dtype == cr.float32
    np.testing.assert_allclose(cr.linspace(0, 1, 5).numpy(), torch.linspace(0, 1, 5).numpy())
    assert cr.linspace(0, 1, 5).dtype == cr.float32 and cr.linspace(2, 3, 1).tolist() == [2.0]
    assert cr.eye(3).tolist() == np.eye(3).tolist() and cr.eye(2, 3).shape == (2, 3)
    assert cr.eye(2, dtype=cr.float64).dtype == cr.float64
    x = cr.tensor([[1, 2]])
    assert cr.zeros_like(x).tolist() == [[0, 0]] and cr.zeros_like(x).dtype == cr.int64
    assert cr.ones_like(x, dtype=cr.float32).dtype == cr.float32
    assert cr.ones_like(cr.zeros(2), requires_grad=True).requires_grad
    assert cr.zeros(2, requires_grad=True).requires_grad


def test_random_factories():
    cr.manual_seed(0)
    r, n = cr.rand(1000), cr.randn(1000)
    assert r.dtype == cr.float32 and n.dtype == cr.float32
    assert 0 <= r.numpy().min() and r.numpy().max() < 1 and abs(r.numpy().mean() - 0.5) < 0.05
    assert abs(n.numpy().mean()) < 0.1 and abs(n.numpy().std() - 1) < 0.1
    i = cr.randint(3, 7, (500,))
    assert i.dtype == cr.int64 and set(i.tolist()) == {3, 4, 5, 6}
    assert cr.randint(5, (2, 3)).shape == (2, 3) and cr.randint(0, 5, size=(4,)).shape == (4,)
    assert cr.rand(2, 3, dtype=cr.float64).dtype == cr.float64
    assert cr.randn(2, requires_grad=True).requires_grad


def test_manual_seed_reproduces_every_random_factory():
    def draw():
        return (cr.rand(3).tolist(), cr.randn(2, 2).tolist(), cr.randint(0, 100, (4,)).tolist(),
                cr.zeros(3).uniform_(-1, 1).tolist(), cr.zeros(3).normal_(0, 2).tolist())  # fmt: skip

    cr.manual_seed(123)
    first = draw()
    cr.manual_seed(123)
    assert draw() == first
    cr.manual_seed(124)
    assert draw() != first


def test_generator_argument_is_independent_of_the_global_seed():
    g1, g2 = cr.Generator().manual_seed(5), cr.Generator().manual_seed(5)
    a = cr.randn(4, generator=g1).tolist()
    cr.randn(10)  # the global generator does not disturb g2
    assert cr.randn(4, generator=g2).tolist() == a


# ----- facts and conversions ----------------------------------------------------------------
def test_array_facts():
    x = cr.zeros(2, 3, 4)
    assert x.shape == (2, 3, 4) and x.ndim == 3 and x.dim() == 3 and x.dtype == cr.float32
    assert x.size() == (2, 3, 4) and x.size(1) == 3 and x.size(-1) == 4
    assert x.numel() == 24 and len(x) == 2 and cr.tensor(1.0).numel() == 1
    assert cr.zeros(0, 5).numel() == 0


def test_conversions():
    x = cr.tensor([[1.5, 2.0]], requires_grad=True)
    assert x.tolist() == [[1.5, 2.0]] and cr.tensor(3).tolist() == 3
    assert cr.tensor([2.5]).item() == 2.5 and isinstance(cr.tensor(3).item(), int)
    assert float(cr.tensor(2.5)) == 2.5 and int(cr.tensor(7)) == 7
    arr = np.asarray(x)  # __array__ works even for tensors that require grad, as data
    assert isinstance(arr, np.ndarray) and arr.dtype == np.float32 and arr.tolist() == [[1.5, 2.0]]
    assert np.asarray(x, dtype=np.float64).dtype == np.float64
    with pytest.raises(RuntimeError, match=r"detach\(\)\.numpy\(\)"):
        x.numpy()
    d = x.detach().numpy()
    d[0, 0] = 9  # numpy() shares memory, as in PyTorch
    assert x.tolist() == [[9.0, 2.0]]
    with pytest.raises(RuntimeError, match="2 elements cannot be converted"):
        x.item()
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(cr.ones(2))
    assert [v.item() for v in cr.tensor([1.0, 2.0])] == [1.0, 2.0]
    with pytest.raises(TypeError, match="0-d"):
        len(cr.tensor(1.0))


def test_casts():
    x = cr.tensor([1.7, -2.2])
    assert x.double().dtype == cr.float64 and x.long().tolist() == [1, -2]
    assert x.to(cr.float64).dtype == cr.float64 and x.to("cpu").device == "cpu"
    assert x.to(dtype=cr.float64).dtype == cr.float64 and x.bool().tolist() == [True, True]
    assert cr.tensor([1, 0]).float().dtype == cr.float32


def test_repr_shows_data_and_grad_fn():
    assert repr(cr.tensor([1.0, 2.5])) == "tensor([1. , 2.5])"
    assert repr(cr.tensor([1, 2])) == "tensor([1, 2])"
    assert repr(cr.tensor([1.0], dtype=cr.float64)) == "tensor([1.], dtype=float64)"
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    assert repr(w) == "tensor([1., 2.], requires_grad=True)"
    assert repr(w * 2) == "tensor([2., 4.], grad_fn=<MulBackward>)"
    assert repr((w * 2).sum()) == "tensor(6., grad_fn=<SumBackward>)"
    assert "grad_fn=<MatMulBackward>" in repr(w @ w)
    assert repr(cr.tensor(True)) == "tensor(True)"


# ----- float32 stays float32 ----------------------------------------------------------------
def test_float32_stays_float32_with_python_and_numpy_scalars():
    x = cr.randn(3, 4, requires_grad=True)
    scalars = [2.5, 3, np.float64(0.5), np.float32(2.0), np.int64(2), True]
    for s in scalars:
        for y in (x + s, s + x, x - s, s - x, x * s, s * x, x / s, x.abs() ** s, cr.maximum(x, s)):
            assert y.dtype == cr.float32, (s, y)
    y = ((x * 2.5 + 1) ** 2 / 3.0 - x.exp()).tanh().sum(dim=1).mean() + (x @ x.T).sum() * 0.5
    y = y + x.var() + x.std(dim=0).sum() + x.logsumexp(dim=1).sum() + x.amax() + x.sigmoid().sum()
    y = y + cr.where(x > 0, x, 0.1).sum() + x.clamp(-1.0, 1.0).sum() + (2.0**x).sum()
    assert y.dtype == cr.float32
    y.backward()
    assert x.grad.dtype == cr.float32


def test_promotion_follows_pytorch_not_numpy():
    f, i = cr.ones(2), cr.tensor([1, 2])
    ti = torch.tensor([1, 2])
    cases = [
        (f + i, torch.ones(2) + ti), (i * 2.5, ti * 2.5), (2.5 * i, 2.5 * ti), (i / 2, ti / 2),
        (i / i, ti / ti), (7 / i, 7 / ti), (i + 1, ti + 1), (i**2, ti**2), (2.5**i, 2.5**ti),
        (2**i, 2**ti), (i**0.5, ti**0.5), (f + cr.tensor(1.0, dtype=cr.float64),
         torch.ones(2) + torch.tensor(1.0, dtype=torch.float64)),
        (cr.tensor([True]) + 1.5, torch.tensor([True]) + 1.5), (i.exp(), ti.exp()),
        (i.sqrt(), ti.sqrt()), (i.sigmoid(), ti.sigmoid()), (i.log1p(), ti.log1p()),
    ]  # fmt: skip
    for got, ref in cases:
        assert str(got.dtype) == str(ref.dtype).split(".")[1], (got, ref)
        np.testing.assert_allclose(got.numpy(), ref.numpy(), rtol=1e-6)


def test_gradient_through_a_promoted_0d_float64_tensor():
    x = cr.ones(3, requires_grad=True)
    s = cr.tensor(2.0, dtype=cr.float64, requires_grad=True)
    y = x * s
    assert y.dtype == cr.float32
    y.sum().backward()
    assert s.grad.dtype == cr.float64 and s.grad.item() == 3.0 and x.grad.tolist() == [2.0] * 3


# ----- in-place updates and .data -----------------------------------------------------------
def test_inplace_operators_modify_data_when_no_graph_is_involved():
    x = cr.tensor([1.0, 2.0])
    alias = x
    x += 1
    x *= cr.tensor([2.0, 3.0])
    x -= np.array([1.0, 1.0])
    x /= 2
    assert x is alias and x.tolist() == [1.5, 4.0] and x.dtype == cr.float32
    x.add_(1.0, alpha=2).sub_(cr.tensor([1.0, 1.0])).mul_(2).div_(4)
    assert x.tolist() == [1.25, 2.5]
    assert x.zero_().tolist() == [0.0, 0.0] and x.fill_(3).tolist() == [3.0, 3.0]
    assert x.copy_(cr.tensor([5.0, 6.0])).tolist() == [5.0, 6.0]
    assert x.copy_(cr.tensor(1.0)).tolist() == [1.0, 1.0]


def test_inplace_errors():
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    for op in (lambda: w.__iadd__(1), lambda: w.mul_(2), lambda: w.sub_(w), lambda: w.div_(2)):
        with pytest.raises(RuntimeError, match="leaf Variable that requires grad.*in-place"):
            op()
    assert w.tolist() == [1.0, 2.0]
    x = cr.ones(2)
    with pytest.raises(RuntimeError, match=r"add_: .*shape \(2,\).*shape \(3,\)"):
        x += cr.ones(3)
    with pytest.raises(RuntimeError, match="int64"):
        i = cr.tensor([1, 2])
        i += 1.5


def test_inplace_on_a_non_leaf_is_recorded():
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    y = w * 1
    y += w
    y *= w
    y.sum().backward()  # y = 2 w^2
    assert w.grad.tolist() == [4.0, 8.0]


def test_data_for_manual_sgd_outside_and_under_no_grad():
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    (w * w).sum().backward()
    w.data -= 0.1 * w.grad  # outside no_grad: .data is outside the graph
    assert w.is_leaf and w.requires_grad and w.grad_fn is None
    np.testing.assert_allclose(w.detach().numpy(), [0.8, 1.6])
    with cr.no_grad():
        w -= 0.5 * w.grad
        w.data -= 0.0 * w.grad
    assert w.is_leaf and w.requires_grad and w.grad_fn is None
    np.testing.assert_allclose(w.detach().numpy(), [-0.2, -0.4], atol=1e-7)
    assert w.dtype == cr.float32
    d = w.data
    assert not d.requires_grad and d.is_leaf
    w.data = cr.tensor([7.0, 8.0])
    assert w.tolist() == [7.0, 8.0] and w.requires_grad
    w.grad = None
    (w * 3).sum().backward()
    assert w.grad.tolist() == [3.0, 3.0]


def test_sgd_loop_fits_a_line():
    cr.manual_seed(0)
    X = cr.randn(64, 1)
    y = 3 * X - 1
    w, b = cr.zeros(1, requires_grad=True), cr.zeros(1, requires_grad=True)
    for _ in range(200):
        loss = ((X * w + b - y) ** 2).mean()
        w.grad = b.grad = None
        loss.backward()
        with cr.no_grad():
            w -= 0.1 * w.grad
            b -= 0.1 * b.grad
    np.testing.assert_allclose([w.item(), b.item()], [3.0, -1.0], atol=1e-3)


# ----- bad input to factories and conversions: a clear error, never a silent tensor ----------
FACTORY_ERRORS = [
    (lambda: cr.zeros(2.0), TypeError, r"zeros: size must be a tuple of ints"),
    (lambda: cr.ones(-1), ValueError, r"ones: dimension sizes must be non-negative"),
    (lambda: cr.full((-1,), 2.0), ValueError, r"full: dimension sizes"),
    (lambda: cr.arange(0, -3), ValueError, "arange: upper bound and lower bound inconsistent"),
    (lambda: cr.arange(0, 1, 0.1, dtype=cr.int64), ValueError, "arange: step 0.1 is zero"),
    (lambda: cr.rand(3, dtype=cr.int64), TypeError, "rand: samples need a floating dtype"),
    (lambda: cr.randn(3, dtype=cr.int64), TypeError, "randn: samples need a floating dtype"),
    (lambda: cr.randint(5, 2, (3,)), ValueError, "randint: low must be less than high"),
    (lambda: cr.linspace(0, 1, -1), ValueError, "linspace: number of steps must be non-negative"),
    (lambda: cr.eye(-1), ValueError, "eye: sizes must be non-negative"),
    (lambda: cr.tensor(None), TypeError, "tensor: cannot make a tensor from NoneType"),
    (lambda: cr.tensor("abc", dtype=cr.bool), TypeError, "tensor: cannot make a tensor from str"),
    (lambda: cr.tensor(np.array([[1, 2]], dtype=object)), TypeError, "dtype object"),
]


@pytest.mark.parametrize("fn, exc, match", FACTORY_ERRORS)
def test_factories_reject_bad_arguments_as_torch_does(fn, exc, match):
    with pytest.raises(exc, match=match):
        fn()


def test_factories_accept_what_torch_accepts():
    assert (
        cr.arange(cr.tensor(3)).tolist() == [0, 1, 2] and cr.arange(cr.tensor(3)).dtype == cr.int64
    )
    assert cr.full_like(cr.tensor([1, 2]), 2.7).tolist() == [2, 2]
    assert cr.zeros((2, 3)).shape == (2, 3) and cr.zeros([2]).shape == (2,)
    assert cr.full(2, cr.tensor(1.5)).tolist() == [1.5, 1.5]


def test_grad_assignment_is_checked_like_torch():
    p = cr.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"assigned grad has shape \(1,\).*\(3,\)"):
        p.grad = cr.ones(1)
    with pytest.raises(RuntimeError, match="assigned grad has dtype float64.*float32"):
        p.grad = cr.ones(3, dtype=cr.float64)
    with pytest.raises(TypeError, match="Tensor or None but got list"):
        p.grad = [1.0, 2.0, 3.0]
    p.grad = cr.ones(3)
    assert p.grad.tolist() == [1.0, 1.0, 1.0]
    p.grad = None
    assert p.grad is None


def test_powers_of_bool_tensors_are_integers_as_in_torch():
    b = np.array([True, False])
    for ours, theirs in (
        (2 ** cr.tensor(b), 2 ** torch.tensor(b)),
        ((-1) ** cr.tensor(b), (-1) ** torch.tensor(b)),
        (cr.tensor(b) ** 2, torch.tensor(b) ** 2),
    ):
        assert ours.tolist() == theirs.tolist() and ours.dtype == cr.int64


def test_negative_seeds_are_accepted_and_reproducible():
    cr.manual_seed(-1)
    a = cr.rand(3)
    cr.manual_seed(-1)
    assert (a == cr.rand(3)).all()
    with pytest.raises(TypeError, match="manual_seed: seed must be an int"):
        cr.manual_seed(1.5)


def test_pad_that_crops_past_zero_is_an_error():
    assert cr.pad(cr.ones(2, 3), (-1, -1)).shape == (2, 1)
    with pytest.raises(ValueError, match=r"pad: padding \(-2, -2\) would leave dimension 1"):
        cr.pad(cr.ones(2, 3), (-2, -2))
