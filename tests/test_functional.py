"""chainrule.nn.functional against torch.nn.functional: forward, gradient, second derivative
(float64), finite differences on small sizes; plus stability, dtype and statistics checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import chainrule as cr
import chainrule.nn.functional as F
from chainrule.ops.nnops import erf
from oracle import check

rng = np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _fresh_rng() -> None:
    """Each test draws the same numbers whatever runs before it (xdist reorders tests)."""
    global rng
    rng = np.random.default_rng(0)


def _ints(high: int, shape: tuple, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, high, shape).astype(np.int64)


# ----- erf ------------------------------------------------------------------------------------
def test_erf_matches_torch_to_float64_rounding() -> None:
    x = np.concatenate(
        [np.linspace(-8, 8, 40001), np.logspace(-300, 2, 3000), -np.logspace(-300, 2, 3000)]
    )
    x = np.concatenate([x, [0.0, -0.0, 0.46875, 4.0, -4.0, 6.0, 27.0, np.inf, -np.inf, 1e300]])
    ours, ref = erf(x), torch.erf(torch.tensor(x)).numpy()
    np.testing.assert_allclose(ours, ref, rtol=1e-15, atol=1e-300)
    assert np.isnan(erf(np.array([np.nan])))[0]
    assert erf(np.ones(2, np.float32)).dtype == np.float32


# ----- activations ----------------------------------------------------------------------------
ACTIVATIONS = [
    (F.relu, TF.relu),
    (lambda x: F.leaky_relu(x, 0.2), lambda x: TF.leaky_relu(x, 0.2)),
    (F.leaky_relu, TF.leaky_relu),
    (F.gelu, TF.gelu),
    (lambda x: F.gelu(x, approximate="tanh"), lambda x: TF.gelu(x, approximate="tanh")),
    (F.softplus, TF.softplus),
    (lambda x: F.softplus(x, beta=2.0, threshold=1.0), lambda x: TF.softplus(x, 2.0, 1.0)),
    (F.sigmoid, torch.sigmoid),
    (F.tanh, torch.tanh),
    (F.elu, TF.elu),
    (lambda x: F.elu(x, alpha=0.5), lambda x: TF.elu(x, alpha=0.5)),
    (F.silu, TF.silu),
    (F.logsigmoid, TF.logsigmoid),
    (lambda x: F.softmax(x, dim=1), lambda x: TF.softmax(x, dim=1)),
    (lambda x: F.softmax(x, dim=-1), lambda x: TF.softmax(x, dim=-1)),
    (lambda x: F.log_softmax(x, dim=1), lambda x: TF.log_softmax(x, dim=1)),
    (lambda x: F.log_softmax(x, dim=0), lambda x: TF.log_softmax(x, dim=0)),
]


@pytest.mark.parametrize("i", range(len(ACTIVATIONS)))
def test_activation(i: int) -> None:
    ours, theirs = ACTIVATIONS[i]
    check(ours, shapes=[(3, 4, 2)], torch_fn=theirs)


@pytest.mark.parametrize("i", range(len(ACTIVATIONS)))
def test_activation_on_awkward_values(i: int) -> None:
    # exact zeros (kinks), threshold crossings and huge values; the gradient only
    ours, theirs = ACTIVATIONS[i]
    x = np.array([[-1e4, -30.0, -1.0, 0.0, 0.5, 1.0, 10.0, 30.0, 1e4]])
    check(ours, arrays=[x], torch_fn=theirs, second=False, finite_differences=False)


def test_activations_keep_float32() -> None:
    x = cr.randn(3, 5, requires_grad=True)
    for fn in (F.gelu, F.softplus, F.elu, F.silu, F.leaky_relu, F.log_softmax, F.softmax):
        y = fn(x)
        assert y.dtype == np.float32, fn
        (g,) = cr.autograd.grad(y.sum(), [x])
        assert g.dtype == np.float32, fn


def test_softmax_implicit_dim_matches_torch() -> None:
    x = rng.standard_normal((2, 3, 4))
    with pytest.warns(UserWarning):
        want = TF.softmax(torch.tensor(x)).numpy()
    np.testing.assert_allclose(F.softmax(cr.tensor(x)).numpy(), want, rtol=1e-12)


# ----- losses ---------------------------------------------------------------------------------
def _ce(kw: dict) -> tuple:
    def ours(x: cr.Tensor, t: cr.Tensor, *w: cr.Tensor) -> cr.Tensor:
        return F.cross_entropy(x, t, *(w or (None,)), **kw)

    def theirs(x: torch.Tensor, t: torch.Tensor, *w: torch.Tensor) -> torch.Tensor:
        return TF.cross_entropy(x, t, *(w or (None,)), **kw)

    return ours, theirs


CE_CASES = [
    {},
    {"reduction": "sum"},
    {"reduction": "none"},
    {"label_smoothing": 0.2},
    {"label_smoothing": 0.3, "reduction": "sum"},
    {"label_smoothing": 0.3, "reduction": "none"},
    {"ignore_index": 1},
    {"ignore_index": 1, "label_smoothing": 0.1},
    {"ignore_index": 2, "reduction": "none"},
]


@pytest.mark.parametrize("kw", CE_CASES)
@pytest.mark.parametrize("shape", [(5, 4), (3, 4, 2, 2), (4,)])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_class_indices(kw: dict, shape: tuple, weighted: bool) -> None:
    x = rng.standard_normal(shape)
    t = _ints(
        shape[1] if len(shape) > 1 else shape[0], shape[:1] + shape[2:] if len(shape) > 1 else ()
    )
    arrays = [x, t] + ([np.array([0.5, 1.0, 2.0, 0.3])] if weighted else [])
    req = [True, False, False]
    ours, theirs = _ce(kw)
    nothing_counts = (t == kw.get("ignore_index", -100)).all()  # NaN loss: no finite differences
    check(ours, arrays=arrays, torch_fn=theirs, requires_grad=req,
          finite_differences=not nothing_counts)  # fmt: skip


@pytest.mark.parametrize("kw", [{}, {"reduction": "sum"}, {"reduction": "none"},
                                {"label_smoothing": 0.25}])  # fmt: skip
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_class_probabilities(kw: dict, weighted: bool) -> None:
    x = rng.standard_normal((3, 4, 2))
    p = np.abs(rng.standard_normal((3, 4, 2)))
    p /= p.sum(1, keepdims=True)
    arrays = [x, p] + ([np.array([0.5, 1.0, 2.0, 0.3])] if weighted else [])
    ours, theirs = _ce(kw)
    # the gradient with respect to the probabilities is checked too
    check(ours, arrays=arrays, torch_fn=theirs, requires_grad=[True, True, False])


@pytest.mark.parametrize("kw", [{}, {"reduction": "sum"}, {"reduction": "none"},
                                {"ignore_index": 0}, {"ignore_index": 0, "reduction": "sum"}])  # fmt: skip
@pytest.mark.parametrize("weighted", [False, True])
def test_nll_loss(kw: dict, weighted: bool) -> None:
    x = rng.standard_normal((6, 3, 2))
    arrays = [x, _ints(3, (6, 2))] + ([np.array([0.2, 1.5, 0.7])] if weighted else [])

    def ours(x: cr.Tensor, t: cr.Tensor, *w: cr.Tensor) -> cr.Tensor:
        return F.nll_loss(x, t, *(w or (None,)), **kw)

    def theirs(x: torch.Tensor, t: torch.Tensor, *w: torch.Tensor) -> torch.Tensor:
        return TF.nll_loss(x, t, *(w or (None,)), **kw)

    check(ours, arrays=arrays, torch_fn=theirs, requires_grad=[True, False, False])


def test_cross_entropy_repeated_targets_add_up() -> None:
    # every row picks class 0: the put_along adjoint must not collide across rows
    check(F.cross_entropy, arrays=[rng.standard_normal((5, 3)), np.zeros(5, np.int64)],
          torch_fn=TF.cross_entropy)  # fmt: skip


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_class_index_nll_is_one_node_and_second_order_right(reduction: str) -> None:
    # in range, unweighted, nothing to ignore: log-softmax then one NllLoss node, as in torch
    x, t = rng.standard_normal((6, 5)), np.array([0, 4, 4, 2, 1, 3])
    loss = F.cross_entropy(cr.tensor(x, requires_grad=True), cr.tensor(t), reduction=reduction)
    assert loss.grad_fn.name() == "NllLossBackward"
    assert loss.grad_fn.next_functions[0][0].name() == "LogSoftmaxBackward"
    check(lambda a: F.cross_entropy(a, cr.tensor(t), reduction=reduction), arrays=[x],
          torch_fn=lambda a: TF.cross_entropy(a, torch.tensor(t), reduction=reduction))  # fmt: skip
    # a target equal to ignore_index, or one out of range, takes the general path
    t[2] = -100
    general = F.cross_entropy(cr.tensor(x, requires_grad=True), cr.tensor(t)).grad_fn
    assert general.name() != "NllLossBackward"


def test_cross_entropy_all_ignored_is_nan_like_torch() -> None:
    x, t = rng.standard_normal((2, 3)), np.array([-100, -100])
    ours = F.cross_entropy(cr.tensor(x), cr.tensor(t)).item()
    assert math.isnan(ours) and math.isnan(TF.cross_entropy(torch.tensor(x), torch.tensor(t)))


@pytest.mark.parametrize("fn", ["cross_entropy", "nll_loss"])
def test_class_loss_errors_name_op_and_shapes(fn: str) -> None:
    ours = getattr(F, fn)
    x = cr.randn(3, 5)
    with pytest.raises(ValueError, match=rf"{fn}.*\(3, 5\).*\(3,\).*\(4,\)"):
        ours(x, cr.tensor([0, 1, 2, 3]))
    with pytest.raises((TypeError, ValueError), match=rf"{fn}.*float32.*\(3,\)"):
        ours(x, cr.tensor([0.0, 1.0, 2.0]))
    with pytest.raises(IndexError, match=rf"{fn}.*5.*5 classes"):
        ours(x, cr.tensor([0, 5, 1]))
    with pytest.raises(ValueError, match=rf"{fn}.*reduction"):
        ours(x, cr.tensor([0, 1, 2]), reduction="avg")


def _pair_check(ours: object, theirs: object, shape: tuple = (3, 4), **kw: object) -> None:
    x = rng.standard_normal(shape)
    y = rng.standard_normal(shape)
    check(lambda a, b: ours(a, b, **kw), arrays=[x, y], torch_fn=lambda a, b: theirs(a, b, **kw))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize(
    "name,kw",
    [("mse_loss", {}), ("l1_loss", {}), ("huber_loss", {}), ("huber_loss", {"delta": 0.4}),
     ("smooth_l1_loss", {}), ("smooth_l1_loss", {"beta": 0.3}), ("smooth_l1_loss", {"beta": 0.0})],
)  # fmt: skip
def test_regression_losses(name: str, kw: dict, reduction: str) -> None:
    _pair_check(getattr(F, name), getattr(TF, name), reduction=reduction, **kw)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
def test_binary_cross_entropy(reduction: str, weighted: bool) -> None:
    x = 1 / (1 + np.exp(-rng.standard_normal((4, 3))))
    t = rng.uniform(0, 1, (4, 3))
    arrays = [x, t] + ([rng.uniform(0.5, 2, (3,))] if weighted else [])
    check(
        lambda a, b, *w: F.binary_cross_entropy(a, b, *(w or (None,)), reduction=reduction),
        arrays=arrays,
        torch_fn=lambda a, b, *w: TF.binary_cross_entropy(a, b, *(w or (None,)), reduction=reduction),
        requires_grad=[True, True, False],
    )  # fmt: skip


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("pos", [False, True])
def test_binary_cross_entropy_with_logits(reduction: str, weighted: bool, pos: bool) -> None:
    x, t = rng.standard_normal((4, 3)) * 3, rng.uniform(0, 1, (4, 3))
    w = rng.uniform(0.5, 2, (3,)) if weighted else None
    pw = rng.uniform(0.5, 3, (3,)) if pos else None

    def run(lib: object, fn: object, a: object, b: object) -> object:
        wt = None if w is None else lib.tensor(w)
        pt = None if pw is None else lib.tensor(pw)
        return fn(a, b, weight=wt, reduction=reduction, pos_weight=pt)

    check(
        lambda a, b: run(cr, F.binary_cross_entropy_with_logits, a, b),
        arrays=[x, t],
        torch_fn=lambda a, b: run(torch, TF.binary_cross_entropy_with_logits, a, b),
    )


def test_losses_are_stable_at_large_logits() -> None:
    big = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 5.0]], np.float32)
    cases = [
        (lambda x: F.cross_entropy(x, cr.tensor([1, 0])),
         lambda x: TF.cross_entropy(x, torch.tensor([1, 0]))),
        (lambda x: F.cross_entropy(x, cr.tensor([1, 0]), label_smoothing=0.1),
         lambda x: TF.cross_entropy(x, torch.tensor([1, 0]), label_smoothing=0.1)),
        (lambda x: F.log_softmax(x, 1).sum(), lambda x: TF.log_softmax(x, 1).sum()),
        (lambda x: F.softmax(x, 1)[:, 0].sum(), lambda x: TF.softmax(x, 1)[:, 0].sum()),
        (lambda x: F.binary_cross_entropy_with_logits(x, cr.ones(2, 3) * 0.3),
         lambda x: TF.binary_cross_entropy_with_logits(x, torch.ones(2, 3) * 0.3)),
        (lambda x: F.binary_cross_entropy(F.sigmoid(x), cr.ones(2, 3) * 0.3),
         lambda x: TF.binary_cross_entropy(torch.sigmoid(x), torch.ones(2, 3) * 0.3)),
        (lambda x: F.softplus(x).sum(), lambda x: TF.softplus(x).sum()),
        (lambda x: F.gelu(x).sum(), lambda x: TF.gelu(x).sum()),
    ]  # fmt: skip
    for ours, theirs in cases:
        x = cr.tensor(big, requires_grad=True)
        tx = torch.tensor(big, requires_grad=True)
        loss, tloss = ours(x), theirs(tx)
        loss.backward()
        tloss.backward()
        assert loss.dtype == np.float32 and x.grad.dtype == np.float32
        assert np.isfinite(loss.item()) and np.isfinite(x.grad.numpy()).all()
        np.testing.assert_allclose(loss.item(), tloss.item(), rtol=1e-5)
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_loss_shape_mismatch_errors() -> None:
    with pytest.raises(ValueError, match=r"mse_loss.*\(3,\).*\(2,\)"):
        F.mse_loss(cr.zeros(2), cr.zeros(3))
    with pytest.raises(ValueError, match="binary_cross_entropy.*probabilities"):
        F.binary_cross_entropy(cr.tensor([1.5]), cr.tensor([1.0]))
    with pytest.raises(ValueError, match=r"cross_entropy.*\(2,\).*\(2, 3\)"):
        F.cross_entropy(cr.zeros(2, 3), cr.zeros(2))


# ----- linear and conv2d ----------------------------------------------------------------------
@pytest.mark.parametrize("xshape", [(4, 3), (2, 5, 3), (3,)])
@pytest.mark.parametrize("bias", [False, True])
def test_linear(xshape: tuple, bias: bool) -> None:
    shapes = [xshape, (2, 3)] + ([(2,)] if bias else [])
    check(F.linear, shapes=shapes, torch_fn=TF.linear)


CONV_CASES = [
    {},
    {"stride": 2},
    {"padding": 1},
    {"padding": (2, 1), "stride": (1, 2)},
    {"dilation": 2},
    {"dilation": (1, 2), "padding": 2, "stride": 2},
    {"padding": "same"},
    {"padding": "same", "dilation": 2},
    {"padding": "valid"},
    {"groups": 2},
    {"groups": 4, "padding": 1, "stride": 2},
]


@pytest.mark.parametrize("kw", CONV_CASES)
@pytest.mark.parametrize("bias", [False, True])
def test_conv2d(kw: dict, bias: bool) -> None:
    groups = kw.get("groups", 1)
    shapes = [(2, 4, 6, 5), (4, 4 // groups, 3, 2)] + ([(4,)] if bias else [])
    check(lambda *a: F.conv2d(*a, **kw), shapes=shapes, torch_fn=lambda *a: TF.conv2d(*a, **kw))


def test_conv2d_even_kernel_same_padding_and_unbatched() -> None:
    kw = {"padding": "same"}
    check(lambda *a: F.conv2d(*a, **kw), shapes=[(1, 2, 5, 4), (3, 2, 2, 4)],
          torch_fn=lambda *a: TF.conv2d(*a, **kw))  # fmt: skip
    check(lambda *a: F.conv2d(*a, stride=2), shapes=[(2, 5, 5), (3, 2, 3, 3), (3,)],
          torch_fn=lambda *a: TF.conv2d(*a, stride=2))  # fmt: skip


def test_conv2d_bigger_float32_matches_torch() -> None:
    x = rng.standard_normal((4, 3, 16, 16)).astype(np.float32)
    w = rng.standard_normal((8, 3, 5, 5)).astype(np.float32)
    xs, ws = cr.tensor(x, requires_grad=True), cr.tensor(w, requires_grad=True)
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    y = F.conv2d(F.relu(F.conv2d(xs, ws, padding=2)), cr.tensor(w[:, :1].repeat(8, 1)))
    ty = TF.conv2d(TF.relu(TF.conv2d(tx, tw, padding=2)), torch.tensor(w[:, :1].repeat(8, 1)))
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-4, atol=1e-3)
    g = rng.standard_normal(y.shape).astype(np.float32)
    (y * cr.tensor(g)).sum().backward()
    (ty * torch.tensor(g)).sum().backward()
    assert xs.grad.dtype == np.float32 and ws.grad.dtype == np.float32
    for ours, theirs in ((ws.grad, tw.grad), (xs.grad, tx.grad)):
        scale = np.abs(theirs.numpy()).max()
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-4, atol=1e-5 * scale)


def test_conv2d_errors() -> None:
    with pytest.raises(ValueError, match=r"conv2d.*\(1, 3, 5, 5\).*3 channels.*\(2, 2, 3, 3\)"):
        F.conv2d(cr.zeros(1, 3, 5, 5), cr.zeros(2, 2, 3, 3))
    with pytest.raises(ValueError, match="conv2d.*larger than the padded input"):
        F.conv2d(cr.zeros(1, 1, 2, 2), cr.zeros(1, 1, 3, 3))
    with pytest.raises(ValueError, match="conv2d.*'same'.*strided"):
        F.conv2d(cr.zeros(1, 1, 4, 4), cr.zeros(1, 1, 3, 3), stride=2, padding="same")
    with pytest.raises(ValueError, match=r"conv2d.*\(5,\)"):
        F.conv2d(cr.zeros(5), cr.zeros(1, 1, 3, 3))


# ----- pooling --------------------------------------------------------------------------------
POOL_CASES = [
    {"kernel_size": 2},
    {"kernel_size": 3, "stride": 1},
    {"kernel_size": (2, 3), "stride": (1, 2), "padding": (1, 1)},
    {"kernel_size": 3, "stride": 2, "padding": 1},
    {"kernel_size": 2, "stride": 2, "ceil_mode": True},
    {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True},
]
MAX_ONLY = [{"kernel_size": 2, "dilation": 2}, {"kernel_size": 2, "stride": 1, "dilation": (1, 2)}]


@pytest.mark.parametrize("kw", POOL_CASES + MAX_ONLY)
def test_max_pool2d(kw: dict) -> None:
    # a permutation: no ties, so the gradient is defined and finite differences apply
    x = rng.permutation(2 * 3 * 7 * 6).reshape(2, 3, 7, 6) / 10.0
    check(lambda a: F.max_pool2d(a, **kw), arrays=[x], torch_fn=lambda a: TF.max_pool2d(a, **kw))
    ours, idx = F.max_pool2d(cr.tensor(x), return_indices=True, **kw)
    _, tidx = TF.max_pool2d(torch.tensor(x), return_indices=True, **kw)
    np.testing.assert_array_equal(idx.numpy(), tidx.numpy())


@pytest.mark.parametrize(
    "kw", [{"kernel_size": 2}, {"kernel_size": 3, "stride": 1}, {"kernel_size": 2, "padding": 1}]
)
def test_max_pool2d_ties_send_the_gradient_to_one_element(kw: dict) -> None:
    check(lambda a: F.max_pool2d(a, **kw), arrays=[np.ones((1, 2, 4, 4))],
          torch_fn=lambda a: TF.max_pool2d(a, **kw), finite_differences=False)  # fmt: skip


def test_max_pool2d_unbatched_and_float32() -> None:
    x = rng.standard_normal((3, 6, 6)).astype(np.float32)
    out, idx = F.max_pool2d(cr.tensor(x), 2, return_indices=True)
    tout, tidx = TF.max_pool2d(torch.tensor(x), 2, return_indices=True)
    assert out.dtype == np.float32 and out.shape == tuple(tout.shape)
    np.testing.assert_array_equal(out.numpy(), tout.numpy())
    np.testing.assert_array_equal(idx.numpy(), tidx.numpy())


@pytest.mark.parametrize("kw", POOL_CASES)
@pytest.mark.parametrize("include", [True, False])
def test_avg_pool2d(kw: dict, include: bool) -> None:
    kw = {**kw, "count_include_pad": include}
    check(lambda a: F.avg_pool2d(a, **kw), shapes=[(2, 3, 7, 6)],
          torch_fn=lambda a: TF.avg_pool2d(a, **kw))  # fmt: skip


def test_avg_pool2d_divisor_override_and_unbatched() -> None:
    kw = {"kernel_size": 2, "padding": 1, "divisor_override": 3}
    check(lambda a: F.avg_pool2d(a, **kw), shapes=[(2, 5, 5)],
          torch_fn=lambda a: TF.avg_pool2d(a, **kw))  # fmt: skip


def test_pool_errors() -> None:
    with pytest.raises(ValueError, match="max_pool2d.*padding 2.*half"):
        F.max_pool2d(cr.zeros(1, 1, 6, 6), 2, padding=2)
    with pytest.raises(ValueError, match=r"avg_pool2d.*\(4, 4\)"):
        F.avg_pool2d(cr.zeros(4, 4), 2)
    with pytest.raises(ValueError, match="max_pool2d.*larger than the padded input"):
        F.max_pool2d(cr.zeros(1, 1, 2, 2), 3)


# ----- dropout, embedding, normalization, one_hot ---------------------------------------------
def test_dropout_statistics_and_modes() -> None:
    x = cr.ones(200, 500, requires_grad=True)
    cr.manual_seed(3)
    y = F.dropout(x, p=0.3)
    kept = y.detach().numpy() != 0
    assert abs(kept.mean() - 0.7) < 0.01  # 100 000 draws: 5 sigma is 0.0072
    np.testing.assert_allclose(y.detach().numpy()[kept], 1 / 0.7, rtol=1e-6)
    assert y.dtype == np.float32
    y.sum().backward()
    np.testing.assert_array_equal(
        x.grad.numpy(), y.detach().numpy()
    )  # the gradient is the same mask
    cr.manual_seed(3)
    np.testing.assert_array_equal(
        F.dropout(x, p=0.3).detach().numpy(), y.detach().numpy()
    )  # reproducible
    assert F.dropout(x, p=0.3, training=False) is x
    assert F.dropout(x, p=0.0) is x
    assert (F.dropout(x, p=1.0).detach().numpy() == 0).all()
    with pytest.raises(ValueError, match="dropout.*1.5"):
        F.dropout(x, p=1.5)


@pytest.mark.parametrize("padding_idx", [None, 1, -1])
def test_embedding(padding_idx: int | None) -> None:
    idx = np.array([[0, 1, 3], [3, 3, 2]])
    # padding_idx zeroes a gradient on purpose: no finite differences there
    check(lambda i, w: F.embedding(i, w, padding_idx), arrays=[idx, rng.standard_normal((4, 3))],
          torch_fn=lambda i, w: TF.embedding(i, w, padding_idx),
          finite_differences=padding_idx is None)  # fmt: skip


@pytest.mark.parametrize("shape", [(5, 3), (4, 3, 2, 2), (3, 3, 4)])
@pytest.mark.parametrize("affine", [False, True])
def test_batch_norm_training_and_running_stats(shape: tuple, affine: bool) -> None:
    c = shape[1]
    rm0, rv0 = rng.standard_normal(c), rng.uniform(0.5, 2, c)
    extra = [rng.standard_normal(c), rng.standard_normal(c)] if affine else []
    state: dict = {}

    def run(lib: object, fn: object, x: object, *wb: object) -> object:
        rm, rv = lib.tensor(rm0.copy()), lib.tensor(rv0.copy())
        out = fn(x, rm, rv, *(wb or (None, None)), training=True, momentum=0.2, eps=1e-3)
        state.setdefault(lib.__name__, (rm, rv))  # the first call: gradcheck perturbs x later
        return out

    check(lambda x, *wb: run(cr, F.batch_norm, x, *wb), arrays=[rng.standard_normal(shape), *extra],
          torch_fn=lambda x, *wb: run(torch, TF.batch_norm, x, *wb))  # fmt: skip
    for ours, theirs in zip(state["chainrule"], state["torch"]):
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12)


@pytest.mark.parametrize("affine", [False, True])
def test_batch_norm_eval(affine: bool) -> None:
    rm, rv = rng.standard_normal(3), rng.uniform(0.5, 2, 3)
    extra = [rng.standard_normal(3), rng.standard_normal(3)] if affine else []
    check(lambda x, *wb: F.batch_norm(x, cr.tensor(rm), cr.tensor(rv), *(wb or (None, None))),
          arrays=[rng.standard_normal((4, 3, 2)), *extra],
          torch_fn=lambda x, *wb: TF.batch_norm(x, torch.tensor(rm), torch.tensor(rv),
                                                *(wb or (None, None))))  # fmt: skip


def test_batch_norm_float32_and_errors() -> None:
    x = cr.randn(8, 3)
    rm, rv = cr.zeros(3), cr.ones(3)
    out = F.batch_norm(x, rm, rv, training=True)
    assert out.dtype == rm.dtype == rv.dtype == np.float32
    with pytest.raises(ValueError, match="batch_norm.*more than 1 value"):
        F.batch_norm(cr.randn(1, 3), None, None, training=True)


@pytest.mark.parametrize("ns", [(4,), (3, 4)])
@pytest.mark.parametrize("affine", [False, True])
def test_layer_norm(ns: tuple, affine: bool) -> None:
    extra = [rng.standard_normal(ns), rng.standard_normal(ns)] if affine else []
    check(lambda x, *wb: F.layer_norm(x, ns, *wb), arrays=[rng.standard_normal((2, 3, 4)), *extra],
          torch_fn=lambda x, *wb: TF.layer_norm(x, ns, *wb))  # fmt: skip


def test_one_hot_and_pad() -> None:
    t = np.array([[0, 2], [1, 4]])
    for k in (-1, 6):
        want = TF.one_hot(torch.tensor(t), k).numpy()
        got = F.one_hot(cr.tensor(t), k)
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got.numpy(), want)
    with pytest.raises(ValueError, match="one_hot"):
        F.one_hot(cr.tensor([3]), 2)
    assert F.pad is cr.pad


def test_zero_size_batches() -> None:
    x = cr.zeros(0, 3, 4, 4, requires_grad=True)
    y = F.max_pool2d(F.conv2d(x, cr.ones(2, 3, 3, 3), padding=1), 2)
    assert y.shape == (0, 2, 2, 2)
    assert F.avg_pool2d(x, 2).shape == (0, 3, 2, 2)
    loss = F.cross_entropy(
        cr.zeros(0, 5, requires_grad=True), cr.zeros(0, dtype=cr.int64), reduction="sum"
    )
    assert loss.item() == 0.0
    y.sum().backward()
    assert x.grad.shape == x.shape


def test_second_derivative_of_a_small_cnn_loss() -> None:
    # Hessian-vector product through conv, relu, max-pool, linear and cross-entropy
    x = rng.standard_normal((2, 1, 6, 6))
    w = rng.standard_normal((3, 1, 3, 3))
    v = rng.standard_normal((4, 12))
    t = np.array([1, 3])

    def ours(w: cr.Tensor, v: cr.Tensor) -> cr.Tensor:
        h = F.max_pool2d(F.softplus(F.conv2d(cr.tensor(x), w)), 2)
        return F.cross_entropy(F.linear(h.reshape(2, -1), v), cr.tensor(t))

    def theirs(w: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        h = TF.max_pool2d(TF.softplus(TF.conv2d(torch.tensor(x), w)), 2)
        return TF.cross_entropy(TF.linear(h.reshape(2, -1), v), torch.tensor(t))

    check(ours, arrays=[w, v], torch_fn=theirs, finite_differences=False)
