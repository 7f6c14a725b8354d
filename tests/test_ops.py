"""Every op of issue 2 against PyTorch through ``oracle.check``: forward, gradient, second
derivative (float64) and central differences, swept over shapes with broadcasting, 0-d tensors,
size-1 and zero-size dimensions. One line per case.

``fn`` receives chainrule tensors and then torch tensors; ``M(x)`` is the matching module
(``chainrule`` or ``torch``), so ``M(x).exp(x)`` tests the function form and ``x.exp()`` the
method form with the same line.
"""

import numpy as np
import pytest
import torch

import chainrule as cr
from oracle import check


def M(x):  # noqa: N802 - the library the argument belongs to
    return cr if isinstance(x, cr.Tensor) else torch


def pad_fn(x, *args, **kw):
    return (
        cr.pad(x, *args, **kw)
        if isinstance(x, cr.Tensor)
        else torch.nn.functional.pad(x, *args, **kw)
    )


def key_of(x, key):
    """``key`` with lists/arrays turned into the argument's own tensor type."""
    conv = (
        (lambda k: cr.tensor(np.asarray(k)))
        if isinstance(x, cr.Tensor)
        else (lambda k: torch.tensor(np.asarray(k)))
    )
    if isinstance(key, tuple):
        return tuple(conv(k) if isinstance(k, (list, np.ndarray)) else k for k in key)
    return conv(key) if isinstance(key, (list, np.ndarray)) else key


# ----- elementwise unary --------------------------------------------------------------------
UNARY = {
    "neg": (lambda x: -x, False),
    "pos": (lambda x: +x, False),
    "exp": (lambda x: M(x).exp(x), False),
    "exp_method": (lambda x: x.exp(), False),
    "log": (lambda x: M(x).log(x), True),
    "sqrt": (lambda x: M(x).sqrt(x), True),
    "abs": (lambda x: M(x).abs(x), False),
    "abs_builtin": (lambda x: abs(x), False),
    "sin": (lambda x: M(x).sin(x), False),
    "cos": (lambda x: x.cos(), False),
    "tanh": (lambda x: M(x).tanh(x), False),
    "sigmoid": (lambda x: M(x).sigmoid(x), False),
    "relu": (lambda x: M(x).relu(x), False),
    "square": (lambda x: x.square(), False),
    "rsqrt": (lambda x: x.rsqrt(), True),
    "log1p": (lambda x: x.log1p(), True),
    "expm1": (lambda x: x.expm1(), False),
    "clamp_both": (lambda x: M(x).clamp(x, -0.5, 0.7), False),
    "clamp_min": (lambda x: x.clamp(min=0.1), False),
    "clamp_max": (lambda x: x.clamp(max=-0.1), False),
    "clip": (lambda x: x.clip(-0.3, 0.3), False),
    "pow_int": (lambda x: x**3, False),
    "pow_zero": (lambda x: x**0, False),
    "pow_half": (lambda x: x**0.5, True),
    "pow_neg": (lambda x: x**-1.5, True),
    "pow_fn": (lambda x: M(x).pow(x, 2), False),
    "rpow": (lambda x: 2.0**x, False),
    "radd": (lambda x: 1 + x, False),
    "rsub": (lambda x: 1.0 - x, False),
    "rmul": (lambda x: 3 * x, False),
    "rdiv": (lambda x: 1.0 / x, True),
    "add_number": (lambda x: x + 2.5, False),
    "sub_number": (lambda x: x - 2, False),
    "div_number": (lambda x: x / 4.0, False),
}  # fmt: skip
UNARY_SHAPES = [(), (1,), (5,), (2, 3), (2, 1, 3), (0, 3)]


@pytest.mark.parametrize("shape", UNARY_SHAPES, ids=str)
@pytest.mark.parametrize("name", list(UNARY))
def test_unary(name, shape):
    fn, positive = UNARY[name]
    check(fn, shapes=[shape], positive=positive, seed=len(name))


# ----- binary ops with broadcasting ---------------------------------------------------------
BINARY = {
    "add": (lambda a, b: a + b, False),
    "sub": (lambda a, b: a - b, False),
    "mul": (lambda a, b: a * b, False),
    "div": (lambda a, b: a / b, True),
    "add_fn": (lambda a, b: M(a).add(a, b), False),
    "sub_fn": (lambda a, b: M(a).sub(a, b), False),
    "mul_fn": (lambda a, b: M(a).mul(a, b), False),
    "div_fn": (lambda a, b: M(a).div(a, b), True),
    "pow_tensor_exponent": (lambda a, b: a**b, True),
    "pow_fn": (lambda a, b: M(a).pow(a, b), True),
    "maximum": (lambda a, b: M(a).maximum(a, b), False),
    "minimum": (lambda a, b: M(a).minimum(a, b), False),
    "max_other": (lambda a, b: M(a).max(a, b), False),
    "min_other": (lambda a, b: M(a).min(a, b), False),
    "where": (lambda a, b: M(a).where(a > b, a, b), False),
    "same_tensor_twice": (lambda a, b: a * a + b, False),
}  # fmt: skip
BINARY_SHAPES = [
    ((3,), (3,)), ((2, 3), (3,)), ((3,), (2, 3)), ((2, 1), (1, 3)), ((2, 1, 4), (3, 1)),
    ((), (2, 2)), ((2, 2), ()), ((), ()), ((1,), ()), ((1, 1), (3,)), ((0, 3), (3,)),
    ((0, 3), (1, 1)), ((4, 0), ()),
]  # fmt: skip


@pytest.mark.parametrize("sa, sb", BINARY_SHAPES, ids=str)
@pytest.mark.parametrize("name", list(BINARY))
def test_binary(name, sa, sb):
    fn, positive = BINARY[name]
    check(fn, shapes=[sa, sb], positive=positive, seed=len(name))


def test_pow_with_tensor_exponent_negative_base_integer_exponent():
    base = np.array([-2.0, -1.5, 0.5, 3.0])
    check(
        lambda a, b: a**b,
        arrays=[base, np.array([2.0, 3.0, -1.0, 0.5])],
        requires_grad=[True, False],
    )


def test_pow_at_zero_base_matches_torch():
    a = np.array([0.0, 0.0, 0.0, 1.5])
    check(lambda x: x**2, arrays=[a], finite_differences=False)
    # torch's second derivative of x**y in x is NaN at x = 0 (it goes through log 0); ours is finite
    check(lambda x, y: x**y, arrays=[a, np.array([2.0, 1.0, 3.0, 2.0])], finite_differences=False,
          second=False)  # fmt: skip


def test_maximum_minimum_ties_split_the_gradient_like_torch():
    a, b = np.array([1.0, 2.0, 3.0]), np.array([1.0, 5.0, 3.0])
    check(lambda x, y: M(x).maximum(x, y), arrays=[a, b], finite_differences=False)
    check(lambda x, y: M(x).minimum(x, y), arrays=[a, b], finite_differences=False)


def test_clamp_with_tensor_bounds():
    rng = np.random.default_rng(1)
    x, lo = rng.standard_normal((3, 4)), rng.standard_normal(4) - 0.5
    hi = lo + 1.0
    check(lambda a, l, h: M(a).clamp(a, l, h), arrays=[x, lo, hi])
    check(lambda a, l: a.clamp(min=l), arrays=[x, lo])


# ----- reflected operators with Python numbers and NumPy arrays -----------------------------
ARR = np.random.default_rng(7).standard_normal((2, 3))
REFLECTED = {  # f(x, A): A is the NumPy array for chainrule, the same values as a torch tensor
    "array_add": lambda x, A: A + x, "add_array": lambda x, A: x + A,
    "array_sub": lambda x, A: A - x, "sub_array": lambda x, A: x - A,
    "array_mul": lambda x, A: A * x, "mul_array": lambda x, A: x * A,
    "array_div": lambda x, A: A / (x * x + 1), "div_array": lambda x, A: x / (A * A + 1),
    "array_pow": lambda x, A: abs(A) ** x, "pow_array": lambda x, A: abs(x) ** A,
    "array_matmul": lambda x, A: A.T @ x, "matmul_array": lambda x, A: x @ A.T,
    "number_pow": lambda x, A: 1.5**x, "int_sub": lambda x, A: 3 - x,
    "int_div": lambda x, A: 2 / (x * x + 1), "neg_number_mul": lambda x, A: -0.5 * x,
    "maximum_array": lambda x, A: M(x).maximum(x, A), "where_array": lambda x, A: M(x).where(x > 0, A, x),
}  # fmt: skip


@pytest.mark.parametrize("name", list(REFLECTED))
def test_reflected_forms(name):
    f = REFLECTED[name]
    check(lambda x: f(x, ARR), shapes=[(2, 3)], torch_fn=lambda x: f(x, torch.tensor(ARR)))


def test_ndarray_on_the_left_gives_a_tensor_in_the_graph():
    x = cr.tensor(ARR, requires_grad=True)
    for y in (ARR * x, ARR + x, ARR - x, ARR / (x + 5), ARR.T @ x, ARR**2 * x):
        assert isinstance(y, cr.Tensor) and y.requires_grad


# ----- comparisons: bool tensors, no gradient -----------------------------------------------
COMPARE = {
    "eq": lambda a, b: a == b, "ne": lambda a, b: a != b, "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b, "gt": lambda a, b: a > b, "ge": lambda a, b: a >= b,
    "eq_fn": lambda a, b: M(a).eq(a, b), "lt_fn": lambda a, b: M(a).lt(a, b),
    "gt_number": lambda a, b: a > 0.1, "number_lt": lambda a, b: 0.1 < a,
    "and": lambda a, b: (a > 0) & (b > 0), "or": lambda a, b: (a > 0) | (b > 0),
    "not": lambda a, b: ~(a > b),
}  # fmt: skip


@pytest.mark.parametrize(
    "sa, sb", [((2, 3), (3,)), ((), (2,)), ((2, 1), (1, 4)), ((0, 2), (2,))], ids=str
)
@pytest.mark.parametrize("name", list(COMPARE))
def test_comparisons(name, sa, sb):
    rng = np.random.default_rng(0)
    a, b = rng.integers(-2, 3, sa).astype(float), rng.integers(-2, 3, sb).astype(float)
    x, y = cr.tensor(a, requires_grad=True), cr.tensor(b, requires_grad=True)
    out = COMPARE[name](x, y)
    ref = COMPARE[name](torch.tensor(a), torch.tensor(b))
    assert out.dtype == cr.bool and not out.requires_grad and out.grad_fn is None
    np.testing.assert_array_equal(out.numpy(), ref.numpy())


# ----- reductions ---------------------------------------------------------------------------
def R(fc, ft=None):
    """A reduction written once for both libraries, or with a torch spelling."""
    return lambda x: fc(x) if isinstance(x, cr.Tensor) else (ft or fc)(x)


REDUCTIONS = {
    "sum": R(lambda x: x.sum()),
    "sum_fn": R(lambda x: M(x).sum(x)),
    "sum_0": R(lambda x: x.sum(0)),
    "sum_neg": R(lambda x: x.sum(dim=-1)),
    "sum_keep": R(lambda x: x.sum(dim=1, keepdim=True)),
    "sum_tuple": R(lambda x: x.sum(dim=(0, 2))),
    "sum_tuple_neg_keep": R(lambda x: x.sum(dim=(-1, 0), keepdim=True)),
    "sum_axis_alias": R(lambda x: x.sum(axis=1, keepdims=True), lambda x: x.sum(dim=1, keepdim=True)),
    "sum_axis_tuple_alias": R(lambda x: cr.sum(x, axis=(0, 1)), lambda x: x.sum(dim=(0, 1))),
    "mean": R(lambda x: x.mean()),
    "mean_dim": R(lambda x: M(x).mean(x, dim=1)),
    "mean_tuple_keep": R(lambda x: x.mean(dim=(0, -1), keepdim=True)),
    "mean_axis_alias": R(lambda x: x.mean(axis=-1), lambda x: x.mean(dim=-1)),
    "var": R(lambda x: x.var()),
    "var_dim": R(lambda x: M(x).var(x, dim=1)),
    "var_tuple_keep": R(lambda x: x.var(dim=(0, 2), keepdim=True)),
    "var_correction0": R(lambda x: x.var(dim=0, correction=0)),
    "var_unbiased_false": R(lambda x: x.var(1, unbiased=False), lambda x: x.var(1, correction=0)),
    "var_correction2": R(lambda x: x.var(dim=-1, correction=2)),
    "var_axis_alias": R(lambda x: x.var(axis=0, keepdims=True), lambda x: x.var(dim=0, keepdim=True)),
    "std": R(lambda x: x.std()),
    "std_dim_keep": R(lambda x: M(x).std(x, dim=2, keepdim=True)),
    "std_correction0": R(lambda x: x.std(dim=(0, 1), correction=0)),
    "amax": R(lambda x: x.amax()),
    "amax_dim": R(lambda x: M(x).amax(x, dim=1)),
    "amax_tuple_keep": R(lambda x: x.amax(dim=(0, -1), keepdim=True)),
    "amax_axis_alias": R(lambda x: x.amax(axis=0), lambda x: x.amax(dim=0)),
    "amin": R(lambda x: M(x).amin(x)),
    "amin_dim_neg": R(lambda x: x.amin(dim=-2)),
    "max_all": R(lambda x: x.max()),
    "max_fn_all": R(lambda x: M(x).max(x)),
    "max_dim_values": R(lambda x: x.max(dim=1).values),
    "max_dim_tuple0": R(lambda x: M(x).max(x, 2)[0]),
    "max_dim_keep": R(lambda x: x.max(dim=-1, keepdim=True).values),
    "min_all": R(lambda x: x.min()),
    "min_dim_values": R(lambda x: M(x).min(x, dim=0).values),
    "min_dim_keep_unpack": R(lambda x: x.min(1, True)[0]),
    "logsumexp": R(lambda x: M(x).logsumexp(x, dim=1)),
    "logsumexp_neg_keep": R(lambda x: x.logsumexp(dim=-1, keepdim=True)),
    "logsumexp_tuple": R(lambda x: x.logsumexp(dim=(0, 2))),
}  # fmt: skip
ALL_DIMS = {
    "sum",
    "sum_fn",
    "mean",
    "var",
    "std",
    "amax",
    "amin",
    "max_all",
    "max_fn_all",
    "min_all",
}


@pytest.mark.parametrize("name", list(REDUCTIONS))
def test_reductions_3d(name):
    check(REDUCTIONS[name], shapes=[(2, 3, 4)], seed=len(name))


@pytest.mark.parametrize("shape", [(), (1,), (3, 1), (1, 1, 1)], ids=str)
@pytest.mark.parametrize("name", sorted(ALL_DIMS - {"var", "std"}))
def test_reductions_over_all_dims_small_shapes(name, shape):
    check(REDUCTIONS[name], shapes=[shape], seed=len(name))


@pytest.mark.parametrize("dim", [0, -1, None])
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("op", ["sum", "mean", "amax", "amin", "logsumexp", "var", "std"])
def test_reductions_on_0d_and_1d(op, dim, keepdim):
    for shape in [(), (4,)]:
        if op in ("var", "std") and shape == ():
            continue  # one element: a 0/0 variance
        if op == "logsumexp" and dim is None:
            fn = R(lambda x: M(x).logsumexp(x, dim=tuple(range(x.ndim)), keepdim=keepdim))
        else:
            fn = R(lambda x: getattr(M(x), op)(x, dim=dim, keepdim=keepdim) if dim is not None
                   else getattr(x, op)())  # fmt: skip
        check(fn, shapes=[shape])


ZERO_SIZE = {
    "sum_all": R(lambda x: x.sum()),
    "sum_empty_dim": R(lambda x: x.sum(dim=0)),
    "sum_full_dim": R(lambda x: x.sum(dim=1, keepdim=True)),
    "mean_full_dim": R(lambda x: x.mean(dim=1)),
    "amax_full_dim": R(lambda x: x.amax(dim=1)),
    "amin_full_dim_keep": R(lambda x: x.amin(dim=-1, keepdim=True)),
    "max_dim": R(lambda x: x.max(dim=1).values),
    "logsumexp_full_dim": R(lambda x: x.logsumexp(dim=1)),
    "logsumexp_empty_dim": R(lambda x: x.logsumexp(dim=0)),
    "var_full_dim": R(lambda x: x.var(dim=1)),
}  # fmt: skip


@pytest.mark.parametrize("name", list(ZERO_SIZE))
def test_reductions_of_zero_size_tensors(name):
    check(ZERO_SIZE[name], shapes=[(0, 3)])


def test_reducing_an_empty_dimension_to_an_extreme_is_an_error():
    for fn in (lambda x: x.amax(), lambda x: x.amax(dim=0), lambda x: x.max(dim=0),
               lambda x: x.min(), lambda x: x.argmax(dim=0)):  # fmt: skip
        with pytest.raises((RuntimeError, IndexError), match="no elements|empty"):
            fn(cr.zeros(0, 3))


def test_ties_share_the_gradient_like_torch():
    a = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]])
    for name in [
        "amax",
        "amax_dim",
        "amin",
        "max_all",
        "min_all",
        "max_dim_values",
        "amax_tuple_keep",
    ]:
        check(REDUCTIONS[name], arrays=[a[None]], finite_differences=False)


def test_max_min_return_forms():
    a = np.random.default_rng(3).standard_normal((3, 4))
    x, tx = cr.tensor(a), torch.tensor(a)
    for dim in (0, 1, -1):
        for keepdim in (False, True):
            for op in ("max", "min"):
                out, ref = getattr(cr, op)(x, dim, keepdim), getattr(torch, op)(tx, dim, keepdim)
                values, indices = out  # unpacks like torch.return_types
                assert out.values is values and out.indices is indices
                np.testing.assert_array_equal(values.numpy(), ref.values.numpy())
                np.testing.assert_array_equal(indices.numpy(), ref.indices.numpy())
                assert indices.dtype == cr.int64 and not indices.requires_grad
                out_m = getattr(x, op)(dim=dim, keepdim=keepdim)
                np.testing.assert_array_equal(out_m.indices.numpy(), ref.indices.numpy())
    assert cr.max(x).shape == () and cr.max(x).item() == a.max()


@pytest.mark.parametrize("op", ["argmax", "argmin"])
def test_argmax_argmin(op):
    a = np.random.default_rng(4).standard_normal((3, 4, 2))
    x, tx = cr.tensor(a, requires_grad=True), torch.tensor(a)
    cases = [
        {},
        {"dim": 0},
        {"dim": -1},
        {"dim": 1, "keepdim": True},
        {"dim": None, "keepdim": True},
    ]
    for kw in cases:
        out, ref = getattr(x, op)(**kw), getattr(tx, op)(**kw)
        assert out.shape == tuple(ref.shape), kw
        np.testing.assert_array_equal(out.numpy(), ref.numpy())
        assert out.dtype == cr.int64 and not out.requires_grad
    np.testing.assert_array_equal(
        getattr(cr, op)(x, axis=1).numpy(), getattr(tx, op)(dim=1).numpy()
    )
    assert getattr(cr, op)(cr.tensor(2.0)).item() == 0


def test_logsumexp_is_stable():
    x = cr.tensor([[1e4, 1e4], [-1e4, 0.0]], requires_grad=True)
    out = x.logsumexp(dim=1)
    ref = torch.tensor([[1e4, 1e4], [-1e4, 0.0]]).logsumexp(dim=1)
    np.testing.assert_allclose(out.detach().numpy(), ref.numpy(), rtol=1e-6)
    out.sum().backward()
    assert np.isfinite(x.grad.numpy()).all()
    y = cr.tensor([-np.inf, -np.inf], requires_grad=True)
    assert y.logsumexp(dim=0).item() == -np.inf


def test_sum_of_bool_and_int_tensors_is_int64():
    assert cr.sum(cr.tensor([True, True, False])).item() == 2
    assert cr.tensor([1, 2], dtype=cr.int32).sum().dtype == cr.int64


# ----- shape ops ----------------------------------------------------------------------------
SHAPE_OPS = {
    "reshape": lambda x: x.reshape(4, 6),
    "reshape_tuple": lambda x: x.reshape((6, 4)),
    "reshape_infer": lambda x: x.reshape(-1, 2),
    "reshape_fn": lambda x: M(x).reshape(x, (2, -1)),
    "reshape_same": lambda x: x.reshape(2, 3, 4),
    "view": lambda x: x.view(2, 12),
    "view_infer": lambda x: x.view(-1),
    "permute": lambda x: x.permute(2, 0, 1),
    "permute_tuple_neg": lambda x: x.permute((-1, 0, -2)),
    "permute_fn": lambda x: M(x).permute(x, (1, 2, 0)),
    "transpose": lambda x: x.transpose(0, 2),
    "transpose_neg": lambda x: M(x).transpose(x, -1, -2),
    "T_2d": lambda x: x.reshape(6, 4).T,
    "T_1d": lambda x: x.reshape(24).T,
    "mT": lambda x: x.mT,
    "squeeze_all": lambda x: x.reshape(1, 2, 1, 12, 1).squeeze(),
    "squeeze_dim": lambda x: x.reshape(1, 24, 1).squeeze(0),
    "squeeze_neg": lambda x: x.reshape(1, 24, 1).squeeze(-1),
    "squeeze_not_one": lambda x: x.squeeze(1),
    "squeeze_tuple": lambda x: x.reshape(1, 24, 1).squeeze((0, 2)),
    "unsqueeze": lambda x: x.unsqueeze(1),
    "unsqueeze_last": lambda x: x.unsqueeze(3),
    "unsqueeze_neg": lambda x: M(x).unsqueeze(x, -1),
    "flatten": lambda x: x.flatten(),
    "flatten_start": lambda x: x.flatten(1),
    "flatten_range": lambda x: M(x).flatten(x, 0, 1),
    "flatten_neg": lambda x: x.flatten(-2, -1),
    "expand": lambda x: x[:, :1, :].expand(2, 5, 4),
    "expand_keep": lambda x: x[:1].expand(3, -1, -1),
    "expand_new_dims": lambda x: x[0, 0].expand(2, 3, 4),
    "expand_tuple": lambda x: x[:, :1].expand((2, 3, 4)),
    "expand_as": lambda x: x[:1, :1, :1].expand_as(x),
    "broadcast_to": lambda x: M(x).broadcast_to(x[0, :1], (2, 5, 4)),
    "flip": lambda x: x.flip(0),
    "flip_tuple": lambda x: M(x).flip(x, (1, 2)),
    "flip_neg": lambda x: x.flip(-1),
    "chunk": lambda x: x.chunk(2, dim=1)[1] * 2,
    "chunk_uneven": lambda x: M(x).cat(x.chunk(3, dim=1), dim=1) * x,
    "chunk_more_than_size": lambda x: x.chunk(5, dim=0)[1],
    "split_int": lambda x: x.split(3, dim=2)[1],
    "split_sizes": lambda x: x.split([1, 3], dim=2)[1] * x.split([1, 3], dim=2)[0],
    "split_fn_neg_dim": lambda x: M(x).split(x, 2, -1)[0],
    "split_all_pieces": lambda x: M(x).cat([p * (i + 1) for i, p in enumerate(x.split(1, 1))], 1),
    "cat_self": lambda x: M(x).cat([x, x * 2], dim=0),
    "cat_neg": lambda x: M(x).cat([x, x[..., :1]], dim=-1),
    "cat_three": lambda x: M(x).cat([x[:, :1], x, x[:, 2:]], 1),
    "stack": lambda x: M(x).stack([x, x.exp()]),
    "stack_neg": lambda x: M(x).stack([x, x * x], dim=-1),
    "stack_mid": lambda x: M(x).stack([x[0], x[1], x[0]], dim=1),
}  # fmt: skip


@pytest.mark.parametrize("name", list(SHAPE_OPS))
def test_shape_ops(name):
    check(SHAPE_OPS[name], shapes=[(2, 3, 4)], seed=len(name))


SHAPE_EDGE = [
    ("reshape_0d_to_1", (), lambda x: x.reshape(1, 1)),
    ("reshape_1_to_0d", (1,), lambda x: x.reshape(())),
    ("view_0d", (), lambda x: x.view(-1)),
    ("unsqueeze_0d", (), lambda x: x.unsqueeze(0)),
    ("squeeze_0d", (), lambda x: x.squeeze()),
    ("flatten_0d", (), lambda x: x.flatten()),
    ("T_0d", (), lambda x: x.T),
    ("expand_0d", (), lambda x: x.expand(3, 2)),
    ("flip_1d", (5,), lambda x: x.flip(0)),
    ("transpose_1d", (3,), lambda x: x.transpose(0, -1)),
    ("reshape_zero", (0, 3), lambda x: x.reshape(3, 0)),
    ("reshape_zero_infer", (0, 3), lambda x: x.reshape(-1, 3, 1)),
    ("permute_zero", (0, 3), lambda x: x.permute(1, 0)),
    ("expand_size1", (1, 3), lambda x: x.expand(0, 3)),
    ("cat_zero_piece", (2, 3), lambda x: M(x).cat([x[:0], x, x[:, :0].reshape(0, 3)], 0)),
    ("stack_0d", (), lambda x: M(x).stack([x, x * 2, x])),
    ("split_zero", (0, 4), lambda x: x.split(2, dim=1)[1]),
    ("flatten_size1", (1, 1, 3), lambda x: x.flatten(0, 1)),
]  # fmt: skip


@pytest.mark.parametrize("name, shape, fn", SHAPE_EDGE, ids=[s[0] for s in SHAPE_EDGE])
def test_shape_ops_edge_shapes(name, shape, fn):
    check(fn, shapes=[shape])


def test_split_and_chunk_piece_shapes_match_torch():
    x, tx = cr.zeros(7, 5), torch.zeros(7, 5)
    cases = [("split", 2, 0), ("split", 3, 1), ("split", [2, 5], 0), ("split", 10, 0),
             ("chunk", 3, 0), ("chunk", 4, 0), ("chunk", 2, 1), ("chunk", 10, 1)]  # fmt: skip
    for op, arg, dim in cases:
        got = [t.shape for t in getattr(x, op)(arg, dim)]
        assert got == [tuple(t.shape) for t in getattr(tx, op)(arg, dim)], (op, arg, dim)


PADS = [
    ("constant_1d", (3, 4), (1, 2), {}),
    ("constant_value", (3, 4), (2, 0, 1, 1), {"value": 0.5}),
    ("constant_3dims", (2, 3, 4), (1, 1, 0, 2, 1, 0), {}),
    ("constant_negative", (3, 5), (-1, 2, 1, -2), {}),
    ("constant_0d_pad_none", (3,), (0, 0), {}),
    ("constant_zero_size", (0, 3), (1, 1), {}),
    ("reflect_1d", (2, 5), (2, 3), {"mode": "reflect"}),
    ("reflect_2d", (1, 4, 5), (1, 2, 3, 1), {"mode": "reflect"}),
    ("replicate_1d", (2, 3), (3, 1), {"mode": "replicate"}),
    ("replicate_2d", (1, 3, 4), (2, 0, 1, 3), {"mode": "replicate"}),
    ("circular_1d", (2, 4), (2, 3), {"mode": "circular"}),
    ("circular_2d", (1, 3, 4), (1, 2, 2, 1), {"mode": "circular"}),
]  # fmt: skip


@pytest.mark.parametrize("name, shape, pad, kw", PADS, ids=[p[0] for p in PADS])
def test_pad(name, shape, pad, kw):
    check(lambda x: pad_fn(x, pad, **kw), shapes=[shape])


# ----- indexing -----------------------------------------------------------------------------
INDEX = [
    ("int", (3, 4), 1),
    ("neg_int", (3, 4), -1),
    ("int_int", (3, 4), (2, -1)),
    ("int_0d_result_1d", (5,), 3),
    ("slice", (5, 4), slice(1, 4)),
    ("slice_step", (5, 4), (slice(None), slice(None, None, 2))),
    ("slice_neg_bounds", (5, 4), (slice(-3, -1), slice(1, None))),
    ("slice_empty", (5, 4), slice(3, 1)),
    ("slice_past_end", (5, 4), slice(2, 100)),
    ("none", (3, 4), (None, slice(None), None)),
    ("ellipsis", (2, 3, 4), (Ellipsis, 1)),
    ("none_ellipsis_int", (2, 3, 4), (None, Ellipsis, 0)),
    ("ellipsis_middle", (2, 3, 4), (0, Ellipsis, slice(1, 3))),
    ("int_array", (5, 3), [4, 0, 2]),
    ("int_array_repeats", (4, 3), [0, 2, 0, 0, 3]),
    ("int_array_negative", (4, 3), [-1, 0, -1]),
    ("int_array_2d", (4, 3), [[0, 1], [1, 3], [3, 3]]),
    ("two_int_arrays", (4, 3), ([0, 1, 1, 0], [2, 0, 2, 2])),
    ("int_array_broadcast", (4, 3), ([[0], [3]], [0, 2, 2])),
    ("slice_then_array", (4, 5), (slice(1, None), [3, 3, 1])),
    ("array_then_slice", (4, 5), ([1, 1, 2], slice(None, None, 2))),
    ("int_and_array", (2, 4, 3), (1, [0, 0, 3])),
    ("arrays_split_by_slice", (3, 4, 5), ([0, 2, 2], slice(None), [1, 4, 1])),
    ("ellipsis_array", (2, 3, 4), (Ellipsis, [3, 0, 3])),
    ("empty_int_array", (3, 4), np.array([], dtype=np.int64)),
    ("0d_from_0d", (), ()),
    ("0d_ellipsis", (), Ellipsis),
    ("0d_none", (), None),
]  # fmt: skip


@pytest.mark.parametrize("name, shape, key", INDEX, ids=[k[0] for k in INDEX])
def test_indexing(name, shape, key):
    check(lambda x: x[key_of(x, key)], shapes=[shape], seed=len(name))


def test_indexing_with_python_lists_and_tensors_as_keys():
    a = np.random.default_rng(2).standard_normal((4, 3))
    check(
        lambda x: x[[0, 3, 3]] if isinstance(x, cr.Tensor) else x[torch.tensor([0, 3, 3])],
        arrays=[a],
    )
    check(
        lambda x: x[:, [2, 2]] if isinstance(x, cr.Tensor) else x[:, torch.tensor([2, 2])],
        arrays=[a],
    )


MASKS = [
    ("full_mask", (3, 4), lambda a: a > 0),
    ("row_mask", (3, 4), lambda a: np.array([True, False, True])),
    ("all_false", (3, 4), lambda a: np.zeros((3, 4), dtype=bool)),
    ("mask_then_slice", (3, 4), lambda a: (np.array([False, True, True]), slice(1, 3))),
    ("slice_then_mask", (3, 4), lambda a: (slice(None), np.array([True, False, False, True]))),
    ("mask_3d_leading", (2, 3, 4), lambda a: a[..., 0] > 0),
    ("mask_0d_true", (), lambda a: np.array(True)),
]  # fmt: skip


@pytest.mark.parametrize("name, shape, make", MASKS, ids=[m[0] for m in MASKS])
def test_boolean_masks(name, shape, make):
    a = np.random.default_rng(5).standard_normal(shape)
    key = make(a)
    check(lambda x: x[key_of(x, key)], arrays=[a])


def test_negative_step_slices_against_flip():  # torch has no negative steps
    check(R(lambda x: x[::-1], lambda x: x.flip(0)), shapes=[(5, 3)])
    check(R(lambda x: x[::-2, 1:], lambda x: x.flip(0)[::2, 1:]), shapes=[(5, 3)])
    check(R(lambda x: x[:, 3:0:-1], lambda x: x[:, 1:4].flip(1)), shapes=[(2, 5)])
    check(R(lambda x: x[..., ::-3], lambda x: x.flip(-1)[..., ::3]), shapes=[(2, 3, 7)])


def test_repeated_indices_accumulate_never_overwrite():
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    x[[0, 0, 2, 0]].sum().backward()
    assert x.grad.tolist() == [3.0, 0.0, 1.0]
    m = cr.zeros(3, 2, requires_grad=True)
    (m[[1, 1], [0, 0]] * cr.tensor([2.0, 5.0])).sum().backward()
    assert m.grad.tolist() == [[0.0, 0.0], [7.0, 0.0], [0.0, 0.0]]
    g = cr.zeros(2, 3, requires_grad=True)
    g.gather(1, cr.tensor([[2, 2, 2], [0, 1, 0]])).sum().backward()
    assert g.grad.tolist() == [[0.0, 0.0, 3.0], [2.0, 1.0, 0.0]]
    s = cr.zeros(3, requires_grad=True)
    s.index_select(0, cr.tensor([1, 1, 1, 2])).sum().backward()
    assert s.grad.tolist() == [0.0, 3.0, 1.0]


GATHER = [
    ("dim1", (3, 4), 1, [[0, 0, 3], [1, 2, 1], [3, 3, 3]]),
    ("dim0", (3, 4), 0, [[0, 2, 2, 1], [0, 0, 0, 0]]),
    ("dim_neg", (3, 4), -1, [[1], [0], [3]]),
    ("3d", (2, 3, 4), 1, np.zeros((2, 5, 4), dtype=np.int64) + np.arange(5)[None, :, None] % 3),
    ("smaller_index", (4, 5), 1, [[0, 4], [1, 1]]),
    ("1d", (5,), 0, [4, 4, 0, 1]),
    ("empty_index", (3, 4), 1, np.zeros((3, 0), dtype=np.int64)),
]  # fmt: skip


@pytest.mark.parametrize("name, shape, dim, index", GATHER, ids=[g[0] for g in GATHER])
def test_gather(name, shape, dim, index):
    a = np.random.default_rng(6).standard_normal(shape)
    idx = np.asarray(index, dtype=np.int64)
    check(lambda x, i: M(x).gather(x, dim, i), arrays=[a, idx])


INDEX_SELECT = [
    ("dim0", (4, 3), 0, [3, 0, 3]),
    ("dim1", (4, 3), 1, [2, 2, 0, 1]),
    ("dim_neg", (2, 3, 4), -1, [0, 3]),
    ("1d", (5,), 0, [4, 0]),
    ("empty", (4, 3), 0, np.array([], dtype=np.int64)),
    ("0d_index", (4, 3), 1, np.array(2)),
]  # fmt: skip


@pytest.mark.parametrize("name, shape, dim, index", INDEX_SELECT, ids=[s[0] for s in INDEX_SELECT])
def test_index_select(name, shape, dim, index):
    a = np.random.default_rng(8).standard_normal(shape)
    check(lambda x, i: M(x).index_select(x, dim, i), arrays=[a, np.asarray(index, dtype=np.int64)])


# ----- matmul -------------------------------------------------------------------------------
MATMUL_SHAPES = [
    ((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4)), ((1, 1), (1, 1)),
    ((5, 2, 3), (3,)), ((3,), (5, 3, 4)), ((5, 2, 3), (5, 3, 4)), ((5, 2, 3), (3, 4)),
    ((2, 3), (5, 3, 4)), ((2, 1, 2, 3), (5, 3, 4)), ((1, 2, 3), (4, 3, 2)),
    ((3, 1, 2, 3), (1, 4, 3, 2)), ((2, 2, 3), (3,)), ((3,), (2, 2, 3, 1)),
    ((0, 3), (3, 2)), ((2, 0), (0, 3)), ((0,), (0,)), ((2, 3), (3, 0)), ((0, 2, 3), (3, 4)),
]  # fmt: skip


@pytest.mark.parametrize("sa, sb", MATMUL_SHAPES, ids=str)
def test_matmul(sa, sb):
    check(lambda a, b: a @ b, shapes=[sa, sb])


@pytest.mark.parametrize("form", ["fn", "method", "mm"])
def test_matmul_function_forms(form):
    fns = {"fn": lambda a, b: M(a).matmul(a, b), "method": lambda a, b: a.matmul(b),
           "mm": lambda a, b: M(a).mm(a, b)}  # fmt: skip
    check(fns[form], shapes=[(2, 3), (3, 4)])


# ----- differentiable casts -----------------------------------------------------------------
def test_to_dtype_is_differentiable():
    x = cr.tensor([1.5, -2.0], dtype=cr.float64, requires_grad=True)
    y = x.float()
    assert y.dtype == cr.float32
    (y * y).sum().backward()
    assert x.grad.dtype == cr.float64 and x.grad.tolist() == [3.0, -4.0]
