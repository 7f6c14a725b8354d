"""The fast convolution, BatchNorm and ReLU primitives against PyTorch: values, gradients and
second derivatives in float64 (tests/oracle.py), float32 kept and close, finite differences,
BatchNorm's running statistics in every mode, and the benchmark ResNet step end to end."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn
from chainrule.ops import batchnorm as BN
from chainrule.ops import conv as C
from oracle import check, check_conv2d_float32

CONV_SWEEP = [  # N, C, H, W, O, kernel, stride, padding, dilation, groups, bias
    (2, 4, 7, 6, 6, 3, 1, 1, 1, 1, True),  # channels-last windows
    (2, 1, 7, 6, 3, 3, 1, 0, 1, 1, True),  # one channel: channel-major columns
    (2, 4, 7, 6, 6, 3, 2, 1, 1, 2, False),  # strided, grouped
    (2, 4, 9, 8, 4, 3, 2, 0, 2, 4, True),  # depthwise, dilated, strided
    (1, 3, 5, 5, 2, 1, 2, 0, 1, 1, False),  # 1x1 stride 2 (the ResNet shortcut)
    (2, 6, 6, 7, 4, (2, 3), (1, 2), (1, 0), (2, 1), 2, True),  # uneven everything
    (2, 5, 7, 6, 3, 3, 1, 2, 3, 1, True),  # dilated, padded
    (2, 5, 4, 4, 3, 1, 1, 1, 1, 1, True),  # padding wider than the kernel reach
    (2, 8, 5, 5, 8, 3, 3, 1, 1, 1, False),  # stride 3: unused last input row
    (2, 8, 7, 7, 16, 3, 1, 0, 1, 1, True),  # LeNet's 8 -> 16: input gradient by columns
]


def _conv_fn(k, s, p, d, g):  # noqa: ANN001, ANN202
    def fn(x, w, *b):  # noqa: ANN001, ANN202
        lib = torch.nn.functional if isinstance(x, torch.Tensor) else F
        return lib.conv2d(x, w, b[0] if b else None, s, p, d, g)

    return fn


@pytest.mark.parametrize("n,c,h,w,o,k,s,p,d,g,bias", CONV_SWEEP)
def test_conv2d_values_grads_second_derivatives(n, c, h, w, o, k, s, p, d, g, bias) -> None:  # noqa: ANN001
    kk = (k, k) if isinstance(k, int) else k
    shapes = [(n, c, h, w), (o, c // g, *kk)] + ([(o,)] if bias else [])
    check(_conv_fn(k, s, p, d, g), shapes=shapes, finite_differences=False)


@pytest.mark.parametrize("case", [CONV_SWEEP[0], CONV_SWEEP[1], CONV_SWEEP[3], CONV_SWEEP[4]])
def test_conv2d_finite_differences(case) -> None:  # noqa: ANN001
    n, c, h, w, o, k, s, p, d, g, bias = case
    rng = np.random.default_rng(1)
    x = cr.tensor(rng.standard_normal((1, c, min(h, 5), min(w, 5))), requires_grad=True)
    wt = cr.tensor(rng.standard_normal((o, c // g, k, k)), requires_grad=True)
    assert cr.autograd.gradcheck(lambda a, b: F.conv2d(a, b, None, s, p, d, g), (x, wt))
    assert cr.autograd.gradgradcheck(lambda a, b: F.conv2d(a, b, None, s, p, d, g), (x, wt))


def test_conv_gradient_primitives_are_each_others_rules() -> None:
    """conv2d_input_grad and conv2d_weight_grad, called as ops, against finite differences."""
    rng = np.random.default_rng(2)
    geo = ((2, 1), (1, 0, 1, 1), (1, 1), 1)
    g = cr.tensor(rng.standard_normal((1, 3, 2, 4)), requires_grad=True)
    w = cr.tensor(rng.standard_normal((3, 2, 3, 3)), requires_grad=True)
    x = cr.tensor(rng.standard_normal((1, 2, 4, 4)), requires_grad=True)
    assert cr.autograd.gradcheck(lambda a, b: C.conv2d_input_grad(a, b, (1, 2, 4, 4), *geo), (g, w))
    assert cr.autograd.gradcheck(
        lambda a, b: C.conv2d_weight_grad(a, b, (3, 2, 3, 3), *geo), (g, x)
    )


@pytest.mark.parametrize("case", [CONV_SWEEP[0], CONV_SWEEP[1], CONV_SWEEP[2]])
def test_conv2d_float32_stays_float32(case) -> None:  # noqa: ANN001
    n, c, h, w, o, k, s, p, d, g, bias = case
    rng = np.random.default_rng(3)
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    wt = rng.standard_normal((o, c // g, k, k)).astype(np.float32)
    b = rng.standard_normal(o).astype(np.float32)
    check_conv2d_float32(x, wt, b, s, p, d, g)


def test_conv2d_output_is_a_channels_last_view_that_behaves() -> None:
    """The result lives channels-last in memory; every op still sees (N, O, OH, OW)."""
    x = cr.randn(2, 16, 5, 5)
    w = cr.randn(8, 16, 3, 3)
    y = F.conv2d(x, w, padding=1)
    ref = torch.nn.functional.conv2d(torch.tensor(x.numpy()), torch.tensor(w.numpy()), padding=1)
    np.testing.assert_allclose(y.view(2, -1).numpy(), ref.reshape(2, -1).numpy(), atol=1e-4)
    np.testing.assert_allclose(y[1, 3].numpy(), ref[1, 3].numpy(), atol=1e-4)
    assert y.flatten(1).shape == (2, 200)


def test_conv2d_without_grad_and_empty_batch() -> None:
    w = cr.randn(4, 3, 3, 3, requires_grad=True)
    with cr.no_grad():
        assert F.conv2d(cr.randn(2, 3, 6, 6), w).shape == (2, 4, 4, 4)
    out = F.conv2d(cr.zeros(0, 3, 6, 6), w, padding=1)
    assert out.shape == (0, 4, 6, 6)
    out.sum().backward()
    assert w.grad.shape == w.shape and float(w.grad.abs().sum()) == 0.0


def test_conv_transpose2d_and_conv1d_still_match() -> None:
    check(
        lambda x, w: (torch.nn.functional if isinstance(x, torch.Tensor) else F).conv_transpose2d(
            x, w, None, 2, 1, 1
        ),
        shapes=[(2, 4, 3, 3), (4, 3, 3, 3)],
        finite_differences=False,
    )
    check(
        lambda x, w: (torch.nn.functional if isinstance(x, torch.Tensor) else F).conv1d(
            x, w, None, 2, 1, 1, 1
        ),
        shapes=[(2, 4, 9), (5, 4, 3)],
        finite_differences=False,
    )


# ----- BatchNorm ------------------------------------------------------------------------------
def _bn_fn(training: bool, affine: bool):  # noqa: ANN202
    def fn(x, *wb):  # noqa: ANN001, ANN202
        lib = torch.nn.functional if isinstance(x, torch.Tensor) else F
        w, b = wb if affine else (None, None)
        return lib.batch_norm(x, None, None, w, b, training=training, eps=1e-3)

    return fn


@pytest.mark.parametrize("shape", [(4, 3, 5, 6), (6, 3), (5, 3, 4)])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_train_values_grads_second_derivatives(shape, affine) -> None:  # noqa: ANN001
    shapes = [shape] + ([(3,), (3,)] if affine else [])
    check(_bn_fn(True, affine), shapes=shapes, finite_differences=False, rtol=1e-6, atol=1e-8)


def test_batch_norm_finite_differences() -> None:
    rng = np.random.default_rng(4)
    x = cr.tensor(rng.standard_normal((3, 2, 2, 2)), requires_grad=True)
    w = cr.tensor(rng.standard_normal(2), requires_grad=True)
    b = cr.tensor(rng.standard_normal(2), requires_grad=True)
    fn = _bn_fn(True, True)
    assert cr.autograd.gradcheck(fn, (x, w, b))
    assert cr.autograd.gradgradcheck(fn, (x, w, b))


def test_batch_norm_on_a_channels_last_conv_output() -> None:
    """BatchNorm after a convolution (channels-last memory) matches torch, grads included."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 16, 6, 6))
    w = rng.standard_normal((16, 16, 3, 3)) * 0.1

    def fn(x, w, g, b):  # noqa: ANN001, ANN202
        lib = torch.nn.functional if isinstance(x, torch.Tensor) else F
        return lib.relu(lib.batch_norm(lib.conv2d(x, w, padding=1), None, None, g, b, True))

    check(fn, arrays=[x, w, rng.standard_normal(16), rng.standard_normal(16)],
          finite_differences=False)  # fmt: skip


def _pair(dtype: str, cls: str, **kw: object) -> tuple:
    tm = getattr(torch.nn, cls)(3, **kw).to(getattr(torch, dtype))
    cm = getattr(nn, cls)(3, **kw).to(getattr(cr, dtype))
    if tm.weight is not None:
        with torch.no_grad():
            tm.weight.copy_(torch.tensor([0.5, -1.5, 2.0]))
            tm.bias.copy_(torch.tensor([0.1, 0.2, -0.3]))
    cm.load_state_dict({k: cr.tensor(v.numpy()) for k, v in tm.state_dict().items()})
    return tm, cm


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    "kw",
    [{}, {"momentum": None}, {"affine": False}, {"track_running_stats": False}, {"eps": 0.1}],
)
def test_batch_norm_modules_running_stats_and_eval(dtype, kw) -> None:  # noqa: ANN001
    rng = np.random.default_rng(6)
    tol = {"rtol": 1e-4, "atol": 1e-5} if dtype == "float32" else {"rtol": 1e-10, "atol": 1e-12}
    for cls, shape in (("BatchNorm2d", (4, 3, 5, 5)), ("BatchNorm1d", (8, 3))):
        tm, cm = _pair(dtype, cls, **kw)
        for step in range(3):  # three training steps, then eval
            x = (rng.standard_normal(shape) * 2 + step).astype(dtype)
            tx, cx = torch.tensor(x, requires_grad=True), cr.tensor(x, requires_grad=True)
            gy = rng.standard_normal(shape).astype(dtype)
            tout, out = tm(tx), cm(cx)
            tout.backward(torch.tensor(gy))
            out.backward(cr.tensor(gy))
            assert out.dtype == getattr(cr, dtype) and cx.grad.dtype == getattr(cr, dtype)
            np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), **tol)
            np.testing.assert_allclose(cx.grad.numpy(), tx.grad.numpy(), **tol)
            if tm.weight is not None:
                np.testing.assert_allclose(cm.weight.grad.numpy(), tm.weight.grad.numpy(), **tol)
                np.testing.assert_allclose(cm.bias.grad.numpy(), tm.bias.grad.numpy(), **tol)
            for name, buf in tm.named_buffers():
                np.testing.assert_allclose(getattr(cm, name).numpy(), buf.numpy(), **tol)
        tm.eval()
        cm.eval()
        x = rng.standard_normal(shape).astype(dtype)
        tx, cx = torch.tensor(x, requires_grad=True), cr.tensor(x, requires_grad=True)
        tout, out = tm(tx), cm(cx)
        tout.sum().backward()
        out.sum().backward()
        np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), **tol)
        np.testing.assert_allclose(cx.grad.numpy(), tx.grad.numpy(), **tol)
        if tm.weight is not None:
            np.testing.assert_allclose(cm.weight.grad.numpy(), tm.weight.grad.numpy(), **tol)


def test_batch_stats() -> None:
    x = np.random.default_rng(7).standard_normal((5, 4, 3, 2)).astype(np.float32)
    mean, var, invstd = BN.batch_stats(x, 1e-5)
    assert mean.dtype == var.dtype == invstd.dtype == np.float32
    np.testing.assert_allclose(mean, x.mean(axis=(0, 2, 3)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(var, x.var(axis=(0, 2, 3)), rtol=1e-5)
    np.testing.assert_allclose(invstd, 1 / np.sqrt(x.var(axis=(0, 2, 3)) + 1e-5), rtol=1e-5)


# ----- ReLU -----------------------------------------------------------------------------------
def test_relu_grad_is_masked_and_exact_with_infinities() -> None:
    check(lambda x: x.relu(), shapes=[(3, 4)])
    x = cr.tensor([-1.0, 2.0, -3.0, 4.0], requires_grad=True)
    tx = torch.tensor([-1.0, 2.0, -3.0, 4.0], requires_grad=True)
    g = [np.inf, np.nan, -np.inf, 1.0]
    F.relu(x).backward(cr.tensor(g))
    torch.nn.functional.relu(tx).backward(torch.tensor(g))
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())  # 0 where masked, not NaN
    x32 = cr.randn(5, requires_grad=True)
    F.relu(x32).sum().backward()
    assert x32.grad.dtype == cr.float32


# ----- the benchmark network ------------------------------------------------------------------
def test_resnet_benchmark_step_matches_torch() -> None:
    from benchmarks.resnet import models

    tm, cm = models()
    tm, cm = tm.double(), cm.to(cr.float64)
    rng = np.random.default_rng(8)
    x = rng.standard_normal((4, 3, 16, 16))
    y = rng.integers(0, 10, 4)
    topt = torch.optim.SGD(tm.parameters(), lr=0.05, momentum=0.9)
    copt = cr.optim.SGD(cm.parameters(), lr=0.05, momentum=0.9)
    for _ in range(2):
        topt.zero_grad()
        copt.zero_grad()
        tl = torch.nn.functional.cross_entropy(tm(torch.tensor(x)), torch.tensor(y))
        cl = F.cross_entropy(cm(cr.tensor(x)), cr.tensor(y))
        tl.backward()
        cl.backward()
        np.testing.assert_allclose(cl.item(), tl.item(), rtol=1e-10)
        tgrads = dict(tm.named_parameters())
        for name, p in cm.named_parameters():
            np.testing.assert_allclose(
                p.grad.numpy(), tgrads[name].grad.numpy(), rtol=1e-7, atol=1e-10, err_msg=name
            )
        topt.step()
        copt.step()
    for name, buf in tm.named_buffers():
        np.testing.assert_allclose(cm.state_dict()[name].numpy(), buf.numpy(), rtol=1e-10)
