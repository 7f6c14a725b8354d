"""Running sums, sorting, tiling, triangles, masked fills, batched products and rounding: each
against PyTorch (forward, gradient, second derivative) and float64 finite differences."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import chainrule as cr
from oracle import check


def M(x):  # noqa: N802 - the library the argument belongs to
    return cr if isinstance(x, cr.Tensor) else torch


def distinct(shape, seed=0):
    """Values without ties, so sorting is unambiguous and finite differences are exact."""
    n = int(np.prod(shape))
    return np.random.default_rng(seed).permutation(n).reshape(shape) / n + 0.01


CASES = {
    "cumsum_dim0": ((3, 4), lambda x: M(x).cumsum(x, 0)),
    "cumsum_neg_dim": ((2, 3, 4), lambda x: x.cumsum(-1)),
    "cumsum_0d": ((), lambda x: x.cumsum(0)),
    "sort": ((3, 5), lambda x: M(x).sort(x, dim=1).values),
    "sort_desc_dim0": ((4, 3), lambda x: x.sort(dim=0, descending=True)[0]),
    "topk": ((3, 6), lambda x: M(x).topk(x, 3).values),
    "topk_smallest_dim0": ((5, 2), lambda x: x.topk(2, dim=0, largest=False)[0]),
    "repeat": ((2, 3), lambda x: x.repeat(2, 3)),
    "repeat_new_dims": ((3,), lambda x: x.repeat(2, 1, 2)),
    "tile_short": ((2, 3), lambda x: M(x).tile(x, (2,))),
    "roll_flat": ((3, 4), lambda x: M(x).roll(x, 5)),
    "roll_dims": ((3, 4), lambda x: M(x).roll(x, (1, -1), (0, 1))),
    "unbind": ((3, 4), lambda x: M(x).unbind(x, 1)[2]),
    "tril": ((4, 4), lambda x: M(x).tril(x)),
    "triu_offset_batched": ((2, 3, 4), lambda x: x.triu(1)),
    "tril_negative": ((4, 3), lambda x: x.tril(-1)),
    "softmax_method": ((3, 4), lambda x: x.softmax(1)),
    "log_softmax_method": ((3, 4), lambda x: x.log_softmax(-1)),
    "floor": ((3, 4), lambda x: M(x).floor(x * 3) + x),
    "ceil": ((3, 4), lambda x: x.ceil() * x),
    "round": ((3, 4), lambda x: M(x).round(x * 3) + x * x),
    "round_decimals": ((3, 4), lambda x: M(x).round(x, decimals=1) + x),
    "trunc": ((3, 4), lambda x: x.trunc() - x),
}


@pytest.mark.parametrize("name", CASES)
def test_op_against_torch_and_finite_differences(name):
    shape, fn = CASES[name]
    check(fn, arrays=[distinct(shape, len(name))])


BINARY = {
    "bmm": ([(2, 3, 4), (2, 4, 5)], lambda a, b: M(a).bmm(a, b)),
    "dot": ([(5,), (5,)], lambda a, b: a.dot(b)),
    "outer": ([(3,), (4,)], lambda a, b: M(a).outer(a, b)),
    "masked_fill_tensor_value": ([(3, 4), ()], lambda x, v: x.masked_fill(x > 0, v)),
    "masked_fill_broadcast_mask": (
        [(3, 4), (4,)],
        lambda x, m: x.masked_fill(m > 0, 2.0) * m,
    ),
}


@pytest.mark.parametrize("name", BINARY)
def test_binary_op_against_torch_and_finite_differences(name):
    shapes, fn = BINARY[name]
    check(fn, shapes=shapes, seed=len(name))


def test_sort_indices_and_ties_match_torch_stable_sort():
    a = np.array([[3.0, 1.0, 3.0, 2.0, 1.0], [np.nan, 0.0, -1.0, np.nan, 5.0]])
    for descending in (False, True):
        ours = cr.sort(cr.tensor(a), dim=1, descending=descending)
        theirs = torch.sort(torch.tensor(a), dim=1, descending=descending, stable=True)
        np.testing.assert_array_equal(ours.values.numpy(), theirs.values.numpy())
        np.testing.assert_array_equal(ours.indices.numpy(), theirs.indices.numpy())
        assert ours.indices.dtype == cr.int64
        np.testing.assert_array_equal(
            cr.argsort(cr.tensor(a), descending=descending).numpy(),
            torch.argsort(torch.tensor(a), descending=descending, stable=True).numpy(),
        )


def test_integer_and_bool_inputs_keep_torch_dtypes():
    i = np.array([[3, 1, 2], [0, 5, 4]])
    assert cr.cumsum(cr.tensor(i), 1).tolist() == torch.cumsum(torch.tensor(i), 1).tolist()
    b = cr.tensor([True, False, True])
    assert cr.cumsum(b, 0).dtype == cr.int64 and cr.cumsum(b, 0).tolist() == [1, 1, 2]
    assert (
        cr.topk(cr.tensor(i), 2).values.tolist() == torch.topk(torch.tensor(i), 2).values.tolist()
    )
    assert cr.floor(cr.tensor(i)).dtype == cr.int64
    assert cr.tensor(i).masked_fill(cr.tensor(i) > 2, 1.7).tolist() == [[1, 1, 2], [0, 1, 1]]
    assert cr.cumsum(cr.tensor([1, 2]), 0, dtype=cr.float32).dtype == cr.float32


def test_isinf_isfinite_and_round_halves_to_even():
    x = [1.0, float("inf"), -float("inf"), float("nan"), 0.5, 1.5, 2.5]
    for name in ("isinf", "isfinite", "round"):
        ours = getattr(cr, name)(cr.tensor(x)).numpy()
        np.testing.assert_array_equal(ours, getattr(torch, name)(torch.tensor(x)).numpy())


def test_masked_fill_in_place_matches_torch_and_records_the_graph():
    a = np.random.default_rng(3).standard_normal((3, 4))
    out = []
    for lib in (cr, torch):
        x = lib.tensor(a, requires_grad=True)
        y = x * 2
        y.masked_fill_(y > 0, 0.5)
        (y * y).sum().backward()
        out.append((y.detach().numpy(), x.grad.numpy()))
    np.testing.assert_allclose(out[0][0], out[1][0])
    np.testing.assert_allclose(out[0][1], out[1][1])
    z = cr.zeros(2, 3)
    z.masked_fill_(cr.tensor([True, False, True]), 4.0)
    assert z.tolist() == [[4.0, 0.0, 4.0], [4.0, 0.0, 4.0]] and z._version == 1


ERRORS = [
    (lambda: cr.bmm(cr.ones(2, 3, 4), cr.ones(3, 4, 5)), ValueError, r"bmm: .*\(2, 3, 4\).*\(3, 4"),
    (lambda: cr.dot(cr.ones(3), cr.ones(4)), ValueError, r"dot: .*\(3,\) and \(4,\)"),
    (lambda: cr.outer(cr.ones(2, 2), cr.ones(3)), ValueError, r"outer: .*\(2, 2\)"),
    (lambda: cr.topk(cr.ones(3), 4), ValueError, r"topk: k \(4\) is out of range .*size 3"),
    (lambda: cr.sort(cr.ones(3), dim=2), IndexError, "sort"),
    (lambda: cr.cumsum(cr.ones(3), 1), IndexError, "cumsum"),
    (lambda: cr.repeat(cr.ones(2, 3), 2), ValueError, r"repeat: got 1 sizes .*2 dims"),
    (lambda: cr.roll(cr.ones(3), (1, 2), 0), ValueError, "roll: shifts"),
    (lambda: cr.tril(cr.ones(3)), ValueError, r"tril: .*shape \(3,\)"),
    (lambda: cr.masked_fill(cr.ones(3), cr.ones(3), 0.0), TypeError, "masked_fill: mask must"),
    (lambda: cr.masked_fill(cr.ones(3), cr.ones(4) > 0, 0.0), ValueError, r"mask of shape \(4,\)"),
]


@pytest.mark.parametrize("fn, exc, match", ERRORS)
def test_bad_arguments_name_the_op_and_the_shapes(fn, exc, match):
    with pytest.raises(exc, match=match):
        fn()


def test_new_activation_modules_match_torch():
    x = np.linspace(-3, 3, 13)
    for ours, theirs in ((cr.nn.SiLU(), torch.nn.SiLU()), (cr.nn.ELU(0.5), torch.nn.ELU(0.5))):
        np.testing.assert_allclose(
            ours(cr.tensor(x)).numpy(), theirs(torch.tensor(x)).numpy(), rtol=1e-12
        )


def test_cat_stack_where_clamp_logsumexp_promote_as_torch():
    f, i = np.array([1.5, 2.5], dtype=np.float32), np.array([1, 2])
    c = np.array([True, False])
    cases = [
        lambda L, f, i, c: L.cat([f, i]),
        lambda L, f, i, c: L.stack([i, f]),
        lambda L, f, i, c: L.where(c, i, f),
        lambda L, f, i, c: L.where(c, 1.0, i),
        lambda L, f, i, c: L.where(c, f, L.tensor(2.0, dtype=L.float64)),
        lambda L, f, i, c: L.clamp(i, 0.5, 1.5),
        lambda L, f, i, c: L.logsumexp(i, 0),
        lambda L, f, i, c: L.ones(2).where(c, 0.0),
    ]
    for fn in cases:
        ours = fn(cr, cr.tensor(f), cr.tensor(i), cr.tensor(c))
        theirs = fn(torch, torch.tensor(f), torch.tensor(i), torch.tensor(c))
        assert str(ours.dtype) == str(theirs.dtype).removeprefix("torch.")
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)


def test_numpy_keepdims_on_max_min_argmax_argmin_and_empty_list_index():
    x = cr.tensor(np.arange(6.0).reshape(2, 3))
    assert cr.max(x, 1, keepdims=True).values.shape == (2, 1)
    assert cr.min(x, axis=0, keepdims=True).indices.shape == (1, 3)
    assert cr.argmax(x, axis=1, keepdims=True).tolist() == [[2], [2]]
    assert cr.argmin(x, 1, keepdims=True).shape == (2, 1)
    assert x[[]].shape == (0, 3)


def test_zero_dim_inputs_to_gelu_softmax_log_softmax_and_gather():
    import torch.nn.functional as TF

    import chainrule.nn.functional as F

    for ours, theirs in (
        (F.gelu, TF.gelu),
        (lambda x: F.softmax(x, 0), lambda x: TF.softmax(x, 0)),
        (lambda x: F.log_softmax(x, -1), lambda x: TF.log_softmax(x, -1)),
        (lambda x: x.gather(0, cr.tensor(0)), lambda x: x.gather(0, torch.tensor(0))),
    ):
        x, tx = cr.tensor(0.5, requires_grad=True), torch.tensor(0.5, requires_grad=True)
        y, ty = ours(x), theirs(tx)
        y.backward()
        ty.backward()
        assert y.shape == () and abs(y.item() - ty.item()) < 1e-6
        assert abs(x.grad.item() - tx.grad.item()) < 1e-6


WITH_ZEROS = np.array([[2.0, 0.0, 3.0], [1.5, -2.0, 0.5]])
REDUCE = {
    "prod_all": ((2, 3), lambda x: M(x).prod(x)),
    "prod_dim": ((3, 4), lambda x: x.prod(1)),
    "prod_keepdim": ((3, 4), lambda x: M(x).prod(x, 0, keepdim=True)),
    "norm_fro": ((3, 4), lambda x: M(x).norm(x)),
    "norm_dim": ((3, 4), lambda x: x.norm(dim=1)),
    "norm_1_keepdim": ((3, 4), lambda x: M(x).norm(x, p=1, dim=0, keepdim=True)),
    "norm_inf": ((3, 4), lambda x: x.norm(p=float("inf"), dim=1)),
    "norm_3": ((3, 4), lambda x: x.norm(p=3, dim=(0, 1))),
    "diagonal": ((3, 4), lambda x: M(x).diagonal(x)),
    "diagonal_offset_dims": ((2, 3, 4), lambda x: x.diagonal(-1, 2, 1)),
    "lerp": ((3, 4), lambda x: M(x).lerp(x, x * x, 0.3)),
    "addmm": ((3, 3), lambda x: M(x).addmm(x[0], x, x.T, beta=0.5, alpha=2.0)),
    "clamp_min_max": ((3, 4), lambda x: x.clamp_min(0.3).clamp_max(0.7)),
}


@pytest.mark.parametrize("name", REDUCE)
def test_reduction_and_linear_algebra_ops_against_torch(name):
    shape, fn = REDUCE[name]
    check(fn, arrays=[distinct(shape, len(name))])


def test_prod_gradient_is_exact_where_inputs_are_zero():
    # first derivatives at zeros match torch; second derivatives there are refused, not wrong
    check(lambda x: x.prod(1), arrays=[WITH_ZEROS], second=False)
    check(lambda x: M(x).prod(x), arrays=[np.array([0.0, 0.0, 2.0])], second=False)
    x = cr.tensor(WITH_ZEROS, requires_grad=True)
    (g,) = cr.autograd.grad(x.prod(1).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="prod: the second derivative .* zeros"):
        g.sum().backward()


def test_norm_at_the_origin_has_zero_gradient_as_torch():
    x, tx = cr.zeros(3, requires_grad=True), torch.zeros(3, requires_grad=True)
    cr.norm(x).backward()
    torch.norm(tx).backward()
    assert x.grad.tolist() == tx.grad.tolist() == [0.0, 0.0, 0.0]
    assert cr.norm(cr.tensor([0.0, 2.0, -1.0]), p=0).item() == 2.0
    with pytest.raises(TypeError, match="norm: expected a floating tensor"):
        cr.norm(cr.tensor([1, 2]))
    with pytest.raises(ValueError, match="norm: unsupported p='nuc'"):
        cr.norm(cr.ones(2, 2), p="nuc")


def test_nonzero_count_equal_and_new_factories_match_torch():
    a = np.array([[0.0, 1.5, 0.0], [2.0, 0.0, -1.0]])
    x, t = cr.tensor(a), torch.tensor(a)
    assert x.nonzero().tolist() == t.nonzero().tolist()
    assert [i.tolist() for i in x.nonzero(as_tuple=True)] == [
        i.tolist() for i in t.nonzero(as_tuple=True)
    ]
    assert cr.argwhere(x).tolist() == torch.argwhere(t).tolist()
    assert cr.count_nonzero(x, dim=1).tolist() == torch.count_nonzero(t, dim=1).tolist()
    assert cr.equal(x, x.clone()) and not cr.equal(x, x[:1]) and x.allclose(x + 1e-12)
    f = cr.ones(2, dtype=cr.float64)
    assert f.new_zeros(2, 3).dtype == cr.float64 and f.new_zeros(2, 3).shape == (2, 3)
    assert f.new_ones((2,)).tolist() == [1.0, 1.0] and f.new_full((2,), 7).tolist() == [7.0, 7.0]
    assert f.new_tensor([1, 2]).dtype == cr.float64
    assert cr.ones(2).type_as(f).dtype == cr.float64 and f.int().dtype == cr.int32


def test_audit_regressions_against_torch():
    # flip copies: an in-place op on the result leaves the input alone
    x = cr.tensor([1.0, 2.0, 3.0])
    x.flip(0).add_(1)
    assert x.tolist() == [1.0, 2.0, 3.0]
    # norm with a general p has gradient 0 (not NaN) where a slice is all zeros
    a = np.array([[0.0, 0.0], [1.0, 2.0]])
    for p in (3, 0.5, 1.5):
        ours, theirs = cr.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
        ours.norm(p=p, dim=1).sum().backward()
        theirs.norm(p=p, dim=1).sum().backward()
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-12)
    # clamp with tensor bounds: at a tie the input keeps the whole gradient
    v = np.array([1.0, 0.5, 2.0])
    res = []
    for L in (cr, torch):
        t = L.tensor(v, requires_grad=True)
        m = L.ones(3, dtype=L.float64, requires_grad=True)
        (t.clamp_min(m) * L.tensor([1.0, 2.0, 3.0], dtype=L.float64)).sum().backward()
        res.append((t.grad.tolist(), m.grad.tolist()))
    assert res[0] == res[1]
    # addmm with beta=0 ignores input, NaN included
    nan = cr.full((2, 2), float("nan"))
    assert not cr.isnan(cr.addmm(nan, cr.ones(2, 2), cr.ones(2, 2), beta=0)).any()
    # tril keeps bool; softmax over an empty dim is empty
    assert cr.tril(cr.ones(2, 2, dtype=cr.bool)).dtype == cr.bool
    assert cr.zeros(2, 0).softmax(1).shape == (2, 0)
    assert cr.zeros(3).softmax(0, dtype=cr.float64).dtype == cr.float64
    assert cr.ones(1).new_zeros(2, requires_grad=True).requires_grad
    # integer results never require grad
    w = cr.tensor([1.5, 2.5], requires_grad=True)
    assert not w.long().requires_grad and w.long().grad_fn is None
    z = cr.zeros(3, dtype=cr.int64)
    z[:2] = w
    assert not z.requires_grad and z.tolist() == [1, 2, 0]


def test_a_hook_may_not_change_the_dtype():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    x.register_hook(lambda g: g.double())
    with pytest.raises(RuntimeError, match="hook returned a gradient .*float64.*float32"):
        (x * 2).sum().backward()


def test_dropout_inplace_writes_into_its_input():
    cr.manual_seed(0)
    x = cr.ones(4, 6)
    out = cr.nn.functional.dropout(x, 0.5, True, inplace=True)
    assert out is x and set(x.reshape(-1).tolist()) <= {0.0, 2.0} and x._version == 1
    y = cr.ones(2, 3, 4, 4)
    cr.nn.Dropout2d(0.5, inplace=True).train()(y)
    assert set(y.reshape(-1).tolist()) <= {0.0, 2.0}
