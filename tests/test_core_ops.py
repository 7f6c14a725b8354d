"""Every tensor op against PyTorch (forward, gradient, second derivative, float64) and against
central differences, over shapes with broadcasting, 0-d tensors, size-1 and zero-size dims."""

import numpy as np
import pytest
import torch

import chainrule as cr
from oracle import check

R = np.random.default_rng(0)

# ----- elementwise and operators -----------------------------------------------------------
BINARY_SHAPES = [((3,), (3,)), ((2, 3), (3,)), ((2, 1, 4), (3, 1)), ((), (2, 2)), ((1,), ()),
                 ((0, 3), (3,)), ((2, 3), ())]  # fmt: skip
BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / (b * b + 0.5),
    "pow_tensor": lambda a, b: (a * a + 0.5) ** b,
    "maximum": lambda a, b: a.maximum(b) if hasattr(a, "maximum") else None,
    "minimum": lambda a, b: a.minimum(b),
}


@pytest.mark.parametrize("name", list(BINARY))
@pytest.mark.parametrize("sa, sb", BINARY_SHAPES)
def test_binary(name, sa, sb):
    check(BINARY[name], shapes=[sa, sb], seed=hash(name) % 100)


UNARY = {
    "neg": (lambda a: -a, False), "exp": (lambda a: a.exp(), False),
    "log": (lambda a: a.log(), True), "sqrt": (lambda a: a.sqrt(), True),
    "abs": (lambda a: a.abs(), False), "sin": (lambda a: a.sin(), False),
    "cos": (lambda a: a.cos(), False), "tanh": (lambda a: a.tanh(), False),
    "sigmoid": (lambda a: a.sigmoid(), False), "relu": (lambda a: a.relu(), False),
    "square": (lambda a: a.square(), False), "rsqrt": (lambda a: a.rsqrt(), True),
    "log1p": (lambda a: a.log1p(), True), "expm1": (lambda a: a.expm1(), False),
    "clamp": (lambda a: a.clamp(-0.5, 0.7), False), "clamp_min": (lambda a: a.clamp(min=0.1), False),
    "pow_scalar": (lambda a: a**3, False), "pow_neg": (lambda a: a**-1.5, True),
    "rpow": (lambda a: 2.0**a, False), "rsub": (lambda a: 1.0 - a, False),
    "rdiv": (lambda a: 1.0 / a, True), "radd_mul": (lambda a: 2 * a + 1, False),
}  # fmt: skip


@pytest.mark.parametrize("name", list(UNARY))
@pytest.mark.parametrize("shape", [(), (1,), (4,), (2, 3), (0, 2)])
def test_unary(name, shape):
    fn, positive = UNARY[name]
    check(fn, shapes=[shape], positive=positive, seed=len(name))


def test_where_and_comparisons():
    a, b = R.standard_normal((3, 4)), R.standard_normal((4,))
    check(lambda x, y: cr.where(x > y, x, y * 2) if isinstance(x, cr.Tensor)
          else torch.where(x > y, x, y * 2), arrays=[a, b])  # fmt: skip
    check(lambda x: cr.where(x > 0, x, 0.0) if isinstance(x, cr.Tensor)
          else torch.where(x > 0, x, 0.0), arrays=[a])  # fmt: skip
    x = cr.tensor([1.0, 2.0, 3.0])
    assert (x > 2).tolist() == [False, False, True] and (x == 2).dtype == cr.bool
    assert ((x >= 2) & (x <= 2)).tolist() == [False, True, False]
    assert not (x > 2).requires_grad


def test_reflected_operators_with_numbers_and_arrays():
    a = R.standard_normal((2, 3))
    arr = R.standard_normal((3,))
    check(lambda x: 3.0 - x * 2 + 1 / (x * x + 1), arrays=[a])
    x = cr.tensor(a, requires_grad=True)
    y = arr * x + arr  # NumPy array on the left reaches Tensor.__rmul__
    assert isinstance(y, cr.Tensor)
    np.testing.assert_allclose(y.detach().numpy(), arr * a + arr)


# ----- reductions ---------------------------------------------------------------------------
def _tr(fn_cr, fn_t):
    return lambda x: fn_cr(x) if isinstance(x, cr.Tensor) else fn_t(x)


REDUCTIONS = [
    ("sum_all", lambda x: x.sum(), lambda x: x.sum()),
    ("sum_dim", lambda x: x.sum(dim=1), lambda x: x.sum(dim=1)),
    ("sum_neg_keep", lambda x: x.sum(dim=-1, keepdim=True), lambda x: x.sum(dim=-1, keepdim=True)),
    ("sum_tuple", lambda x: x.sum(dim=(0, 2)), lambda x: x.sum(dim=(0, 2))),
    ("sum_axis_alias", lambda x: x.sum(axis=0, keepdims=True), lambda x: x.sum(dim=0, keepdim=True)),
    ("mean", lambda x: x.mean(dim=(1, 2)), lambda x: x.mean(dim=(1, 2))),
    ("var", lambda x: x.var(dim=1), lambda x: x.var(dim=1)),
    ("var_all", lambda x: x.var(), lambda x: x.var()),
    ("var_corr0", lambda x: x.var(dim=0, correction=0), lambda x: x.var(dim=0, correction=0)),
    ("std", lambda x: x.std(dim=2, keepdim=True), lambda x: x.std(dim=2, keepdim=True)),
    ("amax", lambda x: x.amax(dim=1), lambda x: x.amax(dim=1)),
    ("amin_tuple", lambda x: x.amin(dim=(0, 1)), lambda x: x.amin(dim=(0, 1))),
    ("max_all", lambda x: x.max(), lambda x: x.max()),
    ("max_dim", lambda x: x.max(dim=1).values, lambda x: x.max(dim=1).values),
    ("min_dim_keep", lambda x: x.min(dim=2, keepdim=True)[0], lambda x: x.min(dim=2, keepdim=True)[0]),
    ("logsumexp", lambda x: x.logsumexp(dim=1), lambda x: x.logsumexp(dim=1)),
    ("logsumexp_tuple", lambda x: x.logsumexp(dim=(0, 2)), lambda x: x.logsumexp(dim=(0, 2))),
]  # fmt: skip


@pytest.mark.parametrize("name, fc, ft", REDUCTIONS, ids=[r[0] for r in REDUCTIONS])
def test_reductions(name, fc, ft):
    check(_tr(fc, ft), shapes=[(2, 3, 4)])


def test_reductions_with_ties_share_gradient_like_torch():
    a = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]])
    check(
        _tr(lambda x: x.amax(dim=1), lambda x: x.amax(dim=1)), arrays=[a], finite_differences=False
    )
    check(_tr(lambda x: x.max(), lambda x: x.max()), arrays=[a], finite_differences=False)
    check(_tr(lambda x: x.max(dim=1).values, lambda x: x.max(dim=1).values), arrays=[a],
          finite_differences=False)  # fmt: skip


def test_max_min_return_forms_and_argmax():
    x = cr.tensor([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]])
    v, i = cr.max(x, dim=1)
    assert v.tolist() == [5.0, 7.0] and i.tolist() == [1, 0] and i.dtype == cr.int64
    assert cr.min(x, 0).indices.tolist() == [0, 1, 0]
    assert cr.max(x, cr.tensor(4.0)).tolist() == [[4.0, 5.0, 4.0], [7.0, 4.0, 4.0]]
    assert cr.argmax(x).item() == 3 and cr.argmax(x, dim=0, keepdim=True).shape == (1, 3)
    assert x.argmin(dim=1).tolist() == [0, 1]
    assert cr.sum(cr.tensor([True, True, False])).item() == 2


def test_reduction_of_zero_size_and_0d():
    check(lambda x: x.sum(), shapes=[(0, 3)])
    check(lambda x: x.sum(dim=0), shapes=[(0, 3)])
    check(lambda x: x.mean(), shapes=[()])
    with pytest.raises(RuntimeError, match="no elements"):
        cr.zeros(0, 3).amax()


# ----- shape ops ----------------------------------------------------------------------------
SHAPE_OPS = [
    ("reshape", lambda x: x.reshape(4, 6), None),
    ("reshape_infer", lambda x: x.reshape(-1, 2), None),
    ("view", lambda x: x.view(2, 12), None),
    ("permute", lambda x: x.permute(2, 0, 1), None),
    ("transpose", lambda x: x.transpose(0, 2), None),
    ("T_2d", lambda x: x.reshape(6, 4).T, None),
    ("mT", lambda x: x.mT, None),
    ("squeeze", lambda x: x.reshape(1, 24, 1).squeeze(), None),
    ("squeeze_dim", lambda x: x.reshape(1, 24, 1).squeeze(0), None),
    ("unsqueeze", lambda x: x.unsqueeze(1), None),
    ("unsqueeze_neg", lambda x: x.unsqueeze(-1), None),
    ("flatten", lambda x: x.flatten(), None),
    ("flatten_1", lambda x: x.flatten(1), None),
    ("expand", lambda x: x[:, :1, :].expand(2, 5, 4), None),
    ("expand_neg", lambda x: x[:1].expand(3, -1, -1), None),
    ("flip", lambda x: x.flip(0), lambda x: x.flip(0)),
    ("flip_tuple", lambda x: x.flip((1, 2)), lambda x: x.flip((1, 2))),
    ("broadcast_to", lambda x: cr.broadcast_to(x[0, 0], (3, 4)), lambda x: torch.broadcast_to(x[0, 0], (3, 4))),
    ("chunk", lambda x: x.chunk(2, dim=1)[1] * 2, None),
    ("split_int", lambda x: x.split(2, dim=2)[1], None),
    ("split_sizes", lambda x: x.split([1, 3], dim=2)[1] * x.split([1, 3], dim=2)[0], None),
]  # fmt: skip


@pytest.mark.parametrize("name, fn, tfn", SHAPE_OPS, ids=[s[0] for s in SHAPE_OPS])
def test_shape_ops(name, fn, tfn):
    check(fn, shapes=[(2, 3, 4)], torch_fn=tfn)


def test_cat_stack():
    check(lambda a, b: cr.cat([a, b * 2], dim=1) if isinstance(a, cr.Tensor) else torch.cat([a, b * 2], dim=1),
          shapes=[(2, 3), (2, 1)])  # fmt: skip
    check(lambda a, b: cr.stack([a, b], dim=-1) if isinstance(a, cr.Tensor) else torch.stack([a, b], dim=-1),
          shapes=[(2, 3), (2, 3)])  # fmt: skip
    check(
        lambda a: cr.cat([a, a], 0) if isinstance(a, cr.Tensor) else torch.cat([a, a], 0),
        shapes=[(0, 2)],
    )


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("pad", [(1, 2), (2, 0, 1, 1)])
def test_pad(mode, pad):
    tf = lambda x: torch.nn.functional.pad(x, pad, mode=mode)  # noqa: E731
    if mode != "constant":  # torch pads the trailing dims of a batched (N, C, ...) input
        check(
            lambda x: cr.pad(x, pad, mode=mode) if isinstance(x, cr.Tensor) else tf(x),
            shapes=[(1, 2, 5) if len(pad) == 2 else (1, 2, 4, 5)],
        )
    else:
        check(lambda x: cr.pad(x, pad, value=0.5) if isinstance(x, cr.Tensor)
              else torch.nn.functional.pad(x, pad, value=0.5), shapes=[(3, 4)])  # fmt: skip


# ----- indexing -----------------------------------------------------------------------------
INDEX_KEYS = [
    ("int", 1), ("neg_int", -1), ("slice", slice(1, 3)), ("step", (slice(None), slice(None, None, 2))),
    ("none_ellipsis", (None, Ellipsis, 0)),
    ("int_array_repeats", ([0, 2, 0, 0],)), ("2d_int_arrays", ([0, 1, 1], [2, 0, 2])),
    ("mixed", (slice(None), [3, 3, 1])), ("bool_mask", "mask"),
]  # fmt: skip


@pytest.mark.parametrize("name, key", INDEX_KEYS, ids=[k[0] for k in INDEX_KEYS])
def test_indexing(name, key):
    a = R.standard_normal((3, 4))
    if key == "mask":
        m = a > 0
        check(
            lambda x: x[cr.tensor(m)] if isinstance(x, cr.Tensor) else x[torch.tensor(m)],
            arrays=[a],
        )
        return
    tkey = (
        tuple(torch.tensor(k) if isinstance(k, list) else k for k in key)
        if isinstance(key, tuple)
        else key
    )
    check(lambda x: x[key] if isinstance(x, cr.Tensor) else x[tkey], arrays=[a])


def test_negative_step_slices():  # torch has no negative steps: compare with flip
    check(
        lambda x: x[::-2, 1:] if isinstance(x, cr.Tensor) else x.flip(0)[::2, 1:], shapes=[(5, 3)]
    )


def test_repeated_indices_accumulate():
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    x[[0, 0, 2, 0]].sum().backward()
    assert x.grad.tolist() == [3.0, 0.0, 1.0]


def test_gather_and_index_select():
    a = R.standard_normal((3, 4))
    idx = np.array([[0, 0, 3], [1, 2, 1], [3, 3, 3]])
    check(lambda x, i: x.gather(1, i), arrays=[a, idx])
    check(lambda x, i: x.gather(0, i), arrays=[a, np.array([[0, 2, 2, 1], [0, 0, 0, 0]])])
    check(lambda x, i: x.index_select(1, i), arrays=[a, np.array([3, 0, 3])])
    with pytest.raises(IndexError, match="out of range"):
        cr.tensor(a).gather(1, cr.tensor([[5]]))


# ----- matmul -------------------------------------------------------------------------------
MATMUL_SHAPES = [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4)), ((5, 2, 3), (3,)),
                 ((3,), (5, 3, 4)), ((5, 2, 3), (5, 3, 4)), ((5, 2, 3), (3, 4)), ((2, 3), (5, 3, 4)),
                 ((2, 1, 2, 3), (5, 3, 4)), ((0, 3), (3, 2))]  # fmt: skip


@pytest.mark.parametrize("sa, sb", MATMUL_SHAPES)
def test_matmul(sa, sb):
    check(lambda a, b: a @ b, shapes=[sa, sb])


# ----- errors name the op and the shapes ----------------------------------------------------
def test_errors_name_op_and_shapes():
    with pytest.raises(ValueError, match=r"add: shapes \(2, 3\) and \(4,\) cannot be broadcast"):
        cr.ones(2, 3) + cr.ones(4)
    with pytest.raises(
        ValueError, match=r"matmul: shapes \(2, 3\) and \(2, 3\) cannot be multiplied"
    ):
        cr.ones(2, 3) @ cr.ones(2, 3)
    with pytest.raises(
        ValueError, match=r"reshape: shape \(5,\) is invalid for input of shape \(2, 3\)"
    ):
        cr.ones(2, 3).reshape(5)
    with pytest.raises(IndexError, match="Dimension out of range"):
        cr.ones(2, 3).sum(dim=2)
    with pytest.raises(ValueError, match="cat: sizes of tensors must match"):
        cr.cat([cr.ones(2, 3), cr.ones(3, 2)], dim=0)
    with pytest.raises(ValueError, match="matmul: both arguments need at least 1 dimension"):
        cr.matmul(cr.tensor(1.0), cr.ones(2))


# ----- dtypes -------------------------------------------------------------------------------
def test_float32_stays_float32():
    x = cr.randn(3, 4, requires_grad=True)
    y = ((x * 2.5 + 1) ** 2 / 3.0 - x.exp()).tanh().sum(dim=1).mean() + (x @ x.T).sum() * 0.5
    assert y.dtype == cr.float32
    y.backward()
    assert x.grad.dtype == cr.float32
