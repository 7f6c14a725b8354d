"""vmap of the convolution primitives (conv2d and its two gradients), fused batch norm and
ReLU's masked gradient against torch.func: every subset of batched input / weight / bias,
stride, padding, dilation, groups (depthwise too), values and gradients (vmap of grad, jacrev,
second order), nested vmap, per-example gradients of a CNN with batch norm, float32, and the
error for running statistics under vmap. The rules alone are checked against a Python loop in
tests/test_vmap.py (every subset of batched arguments, batch dim first and last)."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
import torch

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn
from chainrule.func import functional_call, grad, jacrev, vmap
from chainrule.ops import batching as B

TF = torch.nn.functional
TOL = {"rtol": 1e-10, "atol": 1e-11}

CONFIGS = [
    ((4, 2, 6, 6), (3, 2, 3, 3), {"padding": 1}),
    (
        (2, 4, 7, 8),
        (6, 2, 3, 2),
        {"stride": (2, 1), "padding": (1, 2), "dilation": (2, 1), "groups": 2},
    ),  # fmt: skip
    ((2, 4, 6, 6), (4, 1, 3, 3), {"stride": 2, "padding": 1, "groups": 4}),  # depthwise
    ((2, 12, 5, 5), (8, 12, 1, 1), {}),  # many channels: the channels-last columns
]


def _no_fallback():
    w = warnings.catch_warnings()
    w.__enter__()
    warnings.simplefilter("error", B.PerformanceWarning)
    return w


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: str(c[2]))
@pytest.mark.parametrize(
    "batched", [s for r in (1, 2, 3) for s in itertools.combinations(range(3), r)]
)
def test_conv2d_under_vmap_values_and_gradients_match_torch_func(cfg, batched):
    xs, ws, kw = cfg
    nb = 3
    rng = np.random.default_rng(0)
    shapes = [xs, ws, (ws[0],)]
    arrays = [
        rng.standard_normal(((nb,) if i in batched else ()) + s) for i, s in enumerate(shapes)
    ]
    dims = tuple(0 if i in batched else None for i in range(3))

    def cf(x, w, b):
        return F.conv2d(x, w, b, **kw)

    def tf(x, w, b):
        return TF.conv2d(x, w, b, **kw)

    def closs(x, w, b):
        return (cf(x, w, b) ** 2 * cr.tanh(x).sum()).sum()

    def tloss(x, w, b):
        return (tf(x, w, b) ** 2 * torch.tanh(x).sum()).sum()

    ca = [cr.tensor(a) for a in arrays]
    ta = [torch.tensor(a) for a in arrays]
    ctx = _no_fallback()
    try:
        out = vmap(cf, in_dims=dims)(*ca)
        gs = vmap(grad(closs, argnums=(0, 1, 2)), in_dims=dims)(*ca)
    finally:
        ctx.__exit__(None, None, None)
    ref = torch.func.vmap(tf, in_dims=dims)(*ta)
    rgs = torch.func.vmap(torch.func.grad(tloss, argnums=(0, 1, 2)), in_dims=dims)(*ta)
    np.testing.assert_allclose(out.numpy(), ref.numpy(), **TOL)
    for g, r, name in zip(gs, rgs, ("input", "weight", "bias")):
        np.testing.assert_allclose(g.numpy(), r.numpy(), err_msg=name, **TOL)


@pytest.mark.parametrize("cfg", CONFIGS[:3], ids=lambda c: str(c[2]))
def test_jacrev_of_conv2d_batches_the_output_gradient_alone(cfg):
    # jacrev is vmap over the cotangents: conv2d_input_grad / conv2d_weight_grad with only g
    # batched (g folded into N, and into the weight gradient's output channels)
    xs, ws, kw = cfg
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal(xs), rng.standard_normal(ws)
    ctx = _no_fallback()
    try:
        jx, jw = jacrev(lambda a, b: F.conv2d(a, b, **kw), argnums=(0, 1))(
            cr.tensor(x), cr.tensor(w)
        )
    finally:
        ctx.__exit__(None, None, None)
    rx, rw = torch.func.jacrev(lambda a, b: TF.conv2d(a, b, **kw), argnums=(0, 1))(
        torch.tensor(x), torch.tensor(w)
    )
    np.testing.assert_allclose(jx.numpy(), rx.numpy(), **TOL)
    np.testing.assert_allclose(jw.numpy(), rw.numpy(), **TOL)


def test_second_order_per_example_through_conv2d():
    # vmap of jacrev of grad: the rules of the rules (each conv primitive's derivative is one
    # of the others) under vmap, with the weight batched
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 1, 2, 5, 5))
    w = rng.standard_normal((3, 2, 2, 3, 3))

    def closs(wi, xi):
        return (F.conv2d(xi, wi, padding=1) ** 3).sum()

    def tloss(wi, xi):
        return (TF.conv2d(xi, wi, padding=1) ** 3).sum()

    ctx = _no_fallback()
    try:
        got = vmap(jacrev(grad(closs), argnums=1))(cr.tensor(w), cr.tensor(x))
    finally:
        ctx.__exit__(None, None, None)
    ref = torch.func.vmap(torch.func.jacrev(torch.func.grad(tloss), argnums=1))(
        torch.tensor(w), torch.tensor(x)
    )
    np.testing.assert_allclose(got.numpy(), ref.numpy(), **TOL)


def test_nested_vmap_of_conv2d_and_conv_transpose2d():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 1, 2, 5, 5))
    w = rng.standard_normal((3, 4, 2, 3, 3))
    wt = rng.standard_normal((4, 2, 3, 3))
    inner = vmap(lambda a, b: F.conv_transpose2d(F.conv2d(a, b, stride=2), cr.tensor(wt), stride=2))
    tin = torch.func.vmap(
        lambda a, b: TF.conv_transpose2d(TF.conv2d(a, b, stride=2), torch.tensor(wt), stride=2)
    )
    ctx = _no_fallback()
    try:
        got = vmap(inner, in_dims=(0, None))(cr.tensor(x), cr.tensor(w))
    finally:
        ctx.__exit__(None, None, None)
    ref = torch.func.vmap(tin, in_dims=(0, None))(torch.tensor(x), torch.tensor(w))
    np.testing.assert_allclose(got.numpy(), ref.numpy(), **TOL)


def test_conv_transpose2d_with_a_batched_weight_and_its_gradients():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 4, 3, 3))
    w = rng.standard_normal((3, 4, 2, 3, 3))

    def closs(wi):
        return (F.conv_transpose2d(cr.tensor(x), wi, stride=2, groups=2) ** 2).sum()

    def tloss(wi):
        return (TF.conv_transpose2d(torch.tensor(x), wi, stride=2, groups=2) ** 2).sum()

    ctx = _no_fallback()
    try:
        got = vmap(grad(closs))(cr.tensor(w))
    finally:
        ctx.__exit__(None, None, None)
    ref = torch.func.vmap(torch.func.grad(tloss))(torch.tensor(w))
    np.testing.assert_allclose(got.numpy(), ref.numpy(), **TOL)


@pytest.mark.parametrize("shape", [(4, 3), (4, 3, 5), (2, 3, 4, 4)])
@pytest.mark.parametrize("batched", [(0,), (0, 1), (0, 1, 2), (1, 2)])
def test_batch_norm_training_statistics_are_per_example(shape, batched):
    nb = 3
    rng = np.random.default_rng(5)
    c = shape[1]
    shapes = [shape, (c,), (c,)]
    arrays = [
        rng.standard_normal(((nb,) if i in batched else ()) + s) for i, s in enumerate(shapes)
    ]
    dims = tuple(0 if i in batched else None for i in range(3))

    def cf(x, w, b):
        return F.batch_norm(x, None, None, w, b, training=True)

    def tf(x, w, b):
        return TF.batch_norm(x, None, None, w, b, training=True)

    def closs(x, w, b):
        return (cf(x, w, b) ** 3 * x).sum()

    def tloss(x, w, b):
        return (tf(x, w, b) ** 3 * x).sum()

    ca = [cr.tensor(a) for a in arrays]
    ta = [torch.tensor(a) for a in arrays]
    ctx = _no_fallback()
    try:
        out = vmap(cf, in_dims=dims)(*ca)
        gs = vmap(grad(closs, argnums=(0, 1, 2)), in_dims=dims)(*ca)
    finally:
        ctx.__exit__(None, None, None)
    ref = torch.func.vmap(tf, in_dims=dims)(*ta)
    rgs = torch.func.vmap(torch.func.grad(tloss, argnums=(0, 1, 2)), in_dims=dims)(*ta)
    np.testing.assert_allclose(out.numpy(), ref.numpy(), **TOL)
    for g, r, name in zip(gs, rgs, ("input", "weight", "bias")):
        np.testing.assert_allclose(g.numpy(), r.numpy(), err_msg=name, **TOL)


def test_batch_norm_with_running_statistics_under_vmap():
    x = cr.tensor(np.random.default_rng(6).standard_normal((3, 4, 2, 5, 5)))
    bn = nn.BatchNorm2d(2).double()
    with pytest.raises(RuntimeError, match="batch_norm: got a batched tensor.*running_mean.*"
                       "track_running_stats=False"):  # fmt: skip
        vmap(bn)(x)
    assert np.all(bn.running_mean.numpy() == 0)  # nothing was written
    # eval mode reads the running statistics: fine under vmap, as in torch.func
    tb = torch.nn.BatchNorm2d(2).double()
    bn.running_mean.copy_(cr.tensor([0.5, -1.0], dtype=cr.float64))
    tb.running_mean.copy_(torch.tensor([0.5, -1.0], dtype=torch.float64))
    bn.eval()
    tb.eval()
    np.testing.assert_allclose(
        vmap(bn)(x).detach().numpy(),
        torch.func.vmap(tb)(torch.tensor(x.numpy())).detach().numpy(),
        **TOL,
    )
    # without running statistics it trains per example
    bn2, tb2 = (
        nn.BatchNorm2d(2, track_running_stats=False).double(),
        torch.nn.BatchNorm2d(2, track_running_stats=False).double(),
    )
    np.testing.assert_allclose(
        vmap(bn2)(x).detach().numpy(),
        torch.func.vmap(tb2)(torch.tensor(x.numpy())).detach().numpy(),
        **TOL,
    )


def test_per_example_gradients_of_a_cnn_with_batch_norm_match_torch_func():
    torch.manual_seed(0)

    def build(m):
        return m.Sequential(
            m.Conv2d(2, 4, 3, padding=1), m.BatchNorm2d(4, track_running_stats=False), m.ReLU(),
            m.Conv2d(4, 4, 3, stride=2, padding=1, groups=4), m.ReLU(), m.Flatten(),
            m.Linear(16, 3),
        )  # fmt: skip

    tm, cm = build(torch.nn).double(), build(nn).double()
    cm.load_state_dict({k: cr.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    x = np.random.default_rng(7).standard_normal((5, 3, 2, 4, 4))  # 5 examples, each a batch of 3
    y = np.random.default_rng(8).integers(0, 3, (5, 3))
    cp = {k: v.detach() for k, v in cm.named_parameters()}
    tp = {k: v.detach() for k, v in tm.named_parameters()}

    def closs(p, xi, yi):
        return F.cross_entropy(functional_call(cm, p, (xi,)), yi)

    def tloss(p, xi, yi):
        return TF.cross_entropy(torch.func.functional_call(tm, p, (xi,)), yi)

    ctx = _no_fallback()
    try:
        got = vmap(grad(closs), in_dims=(None, 0, 0))(cp, cr.tensor(x), cr.tensor(y))
    finally:
        ctx.__exit__(None, None, None)
    ref = torch.func.vmap(torch.func.grad(tloss), in_dims=(None, 0, 0))(
        tp, torch.tensor(x), torch.tensor(y)
    )
    assert set(got) == set(ref)
    for k in ref:
        np.testing.assert_allclose(got[k].numpy(), ref[k].numpy(), err_msg=k, **TOL)


def test_float32_stays_float32_under_vmap():
    rng = np.random.default_rng(9)
    x = cr.tensor(rng.standard_normal((3, 2, 2, 5, 5)).astype(np.float32))
    w = cr.tensor(rng.standard_normal((3, 4, 2, 3, 3)).astype(np.float32))

    def f(a, b):
        return F.relu(F.batch_norm(F.conv2d(a, b, padding=1), None, None, training=True)).sum()

    g = vmap(grad(f, argnums=(0, 1)))(x, w)
    assert vmap(lambda a, b: F.conv2d(a, b))(x, w).dtype == cr.float32
    assert g[0].dtype == cr.float32 and g[1].dtype == cr.float32
    tg = torch.func.vmap(
        torch.func.grad(
            lambda a, b: TF.relu(
                TF.batch_norm(TF.conv2d(a, b, padding=1), None, None, training=True)
            ).sum(),  # fmt: skip
            argnums=(0, 1),
        )
    )(torch.tensor(x.numpy()), torch.tensor(w.numpy()))
    np.testing.assert_allclose(g[0].numpy(), tg[0].numpy(), rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(g[1].numpy(), tg[1].numpy(), rtol=1e-3, atol=1e-4)
