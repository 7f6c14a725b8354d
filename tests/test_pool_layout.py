"""Max pooling on channels-last memory (a convolution's output): the argmax, the gather and
the scatter work in that layout (no copy to channels-first) and give channels-last results;
values and gradients against PyTorch for disjoint and overlapping windows, padding and
dilation, float32 and float64, and inside vmap and jvp."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import func
from chainrule.ops import conv as C
from chainrule.ops import jit


def _last(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)


def _leaf(a: np.ndarray) -> cr.Tensor:
    """A leaf tensor whose memory is channels-last (as PyTorch's channels_last format)."""
    t = cr.Tensor._wrap(_last(a))  # (cr.tensor copies to channels-first, as torch.tensor)
    assert C._is_channels_last(t._data)
    return t.requires_grad_()


POOLS = [  # kernel, stride, padding, dilation
    (2, 2, 0, 1),  # disjoint (LeNet)
    (3, 2, 1, 1),  # overlapping, padded (ResNet's stem pool)
    (2, 1, 0, 2),  # dilated, overlapping
    ((3, 2), (2, 1), (1, 0), 1),  # uneven
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("k,s,p,d", POOLS)
def test_max_pool_on_channels_last_input(k, s, p, d, dtype, kernels) -> None:  # noqa: ANN001
    """Values, gradient and layout against PyTorch, with the Numba gather/scatter kernels
    (float32) and with NumPy's fancy indexing."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 5, 7, 6)).astype(dtype)
    x[0, 1, :3, :3] = 1.0  # ties: the first maximum wins, as in PyTorch
    xl = _last(x)
    assert C._is_channels_last(xl) and not C._is_channels_last(x)
    cx = _leaf(x)
    tx = torch.tensor(x, requires_grad=True)
    out = F.max_pool2d(cx, k, s, p, d)
    tout = torch.nn.functional.max_pool2d(tx, k, s, p, d)
    assert C._is_channels_last(out._data)  # the layout carries through
    np.testing.assert_array_equal(out.detach().numpy(), tout.detach().numpy())
    g = rng.standard_normal(tout.shape).astype(dtype)
    out.backward(cr.tensor(g))
    tout.backward(torch.tensor(g))
    assert cx.grad.dtype == cx.dtype
    pads = (p, p, p, p) if isinstance(p, int) else (p[0], p[0], p[1], p[1])
    kk, ss, dd = (v if isinstance(v, tuple) else (v, v) for v in (k, s, d))
    idx, disjoint = C.window_argmax(_last(x), kk, ss, pads, dd)
    assert C._is_channels_last(idx)
    assert C._is_channels_last(C.pool_scatter(g, x.shape, idx, disjoint))
    np.testing.assert_allclose(cx.grad.numpy(), tx.grad.numpy(), rtol=1e-6, atol=1e-6)


def test_max_pool_channels_last_second_derivative_and_transforms() -> None:
    rng = np.random.default_rng(1)
    x = _last(rng.standard_normal((2, 3, 6, 6)))
    tx = torch.tensor(np.ascontiguousarray(x), requires_grad=True)
    cx = _leaf(x)
    (gc,) = cr.autograd.grad((F.max_pool2d(cx, 3, 2, 1) ** 2).sum(), cx, create_graph=True)
    (gt,) = torch.autograd.grad((torch.nn.functional.max_pool2d(tx, 3, 2, 1) ** 2).sum(), tx,
                                create_graph=True)  # fmt: skip
    np.testing.assert_allclose(gc.detach().numpy(), gt.detach().numpy(), rtol=1e-12)
    (ggc,) = cr.autograd.grad(gc.sum(), cx)
    (ggt,) = torch.autograd.grad(gt.sum(), tx)
    np.testing.assert_allclose(ggc.numpy(), ggt.numpy(), rtol=1e-12)
    t = rng.standard_normal(x.shape)
    _, tan = func.jvp(lambda a: F.max_pool2d(a, 2), (cr.tensor(x),), (cr.tensor(t),))
    _, ttan = torch.func.jvp(lambda a: torch.nn.functional.max_pool2d(a, 2), (torch.tensor(x),),
                             (torch.tensor(t),))  # fmt: skip
    np.testing.assert_allclose(tan.numpy(), ttan.numpy(), rtol=1e-12)
    xs = np.stack([x, 2 * x])
    v = func.vmap(func.grad(lambda a: (F.max_pool2d(a, 3, 2, 1) ** 2).sum()))(cr.tensor(xs))
    tv = torch.func.vmap(
        torch.func.grad(lambda a: (torch.nn.functional.max_pool2d(a, 3, 2, 1) ** 2).sum())
    )(torch.tensor(xs))
    np.testing.assert_allclose(v.numpy(), tv.numpy(), rtol=1e-12)


def test_few_channel_conv_output_is_channels_last() -> None:
    """The first convolution of an image network (1 to 3 channels) hands back channels-last
    memory like every other convolution, so BatchNorm, ReLU, pooling and the residual sums
    after it see one layout."""
    rng = np.random.default_rng(2)
    x, w, b = rng.standard_normal((2, 3, 8, 8)), rng.standard_normal((4, 3, 3, 3)), np.ones(4)
    y = F.conv2d(cr.tensor(x), cr.tensor(w), cr.tensor(b), padding=1)
    assert C._is_channels_last(y._data)
    ref = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(w), torch.tensor(b), padding=1)
    np.testing.assert_allclose(y.numpy(), ref.numpy(), rtol=1e-12)


@pytest.mark.parametrize("k,s,p,d", POOLS + [(3, 1, 1, 2), (2, 3, 1, 1)])
def test_argmax_kernel_matches_numpy_loop(k, s, p, d, monkeypatch) -> None:  # noqa: ANN001
    """The fused channels-last argmax (Numba, float32) against the NumPy loop, with ties,
    NaN, infinities and padding; and the max-pool value/gradient against PyTorch with NaN."""
    rng = np.random.default_rng(5)
    x = rng.integers(-2, 3, (2, 3, 7, 6)).astype(np.float32)  # many ties
    x[0, 0, 1, 1] = x[1, 2, 3, 4] = x[1, 2, 3, 5] = np.nan
    x[0, 1, :2, :2] = -np.inf
    xl = _last(x)
    pads = (p, p, p, p) if isinstance(p, int) else (p[0], p[0], p[1], p[1])
    kk, ss, dd = (v if isinstance(v, tuple) else (v, v) for v in (k, s, d))
    fast = C.window_argmax(xl, kk, ss, pads, dd)
    monkeypatch.setitem(jit._state, "on", False)
    slow = C.window_argmax(xl, kk, ss, pads, dd)
    assert fast[1] == slow[1]
    np.testing.assert_array_equal(fast[0], slow[0])
    np.testing.assert_array_equal(C.window_argmax(x, kk, ss, pads, dd)[0], slow[0])
    monkeypatch.setitem(jit._state, "on", True)
    cx, tx = _leaf(x), torch.tensor(x, requires_grad=True)
    out, tout = F.max_pool2d(cx, k, s, p, d), torch.nn.functional.max_pool2d(tx, k, s, p, d)
    np.testing.assert_array_equal(out.detach().numpy(), tout.detach().numpy())
    out.sum().backward()
    tout.sum().backward()
    np.testing.assert_array_equal(cx.grad.numpy(), tx.grad.numpy())
