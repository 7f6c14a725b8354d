"""BatchNorm's per-channel sums on every memory layout (channels-first contiguous and
channels-last: a product with ones; strided: einsum), float32 accuracy, and the batch-norm
bias gradient from them, against float64 NumPy and PyTorch; ReLU's gradient with and without
its Numba kernel."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import chainrule as cr
import chainrule.nn.functional as F
from chainrule.ops import batchnorm as BN
from chainrule.ops import jit as jit_kernels


def _layouts(a: np.ndarray) -> dict:
    return {
        "first": np.ascontiguousarray(a),
        "last": np.ascontiguousarray(np.moveaxis(a, 1, -1)).transpose(
            0, a.ndim - 1, *range(1, a.ndim - 1)
        ),  # noqa: E501
        "strided": np.asarray(a)[:, :, ::2] if a.ndim > 2 else a,
    }


@pytest.mark.parametrize("shape", [(4, 3, 6, 5), (5, 4, 7), (3, 2, 4, 3, 2), (0, 3, 4, 4)])
@pytest.mark.parametrize("layout", ["first", "last", "strided"])
def test_channel_sums_every_layout(shape, layout) -> None:  # noqa: ANN001
    rng = np.random.default_rng(0)
    a = _layouts(rng.standard_normal(shape).astype(np.float32))[layout]
    b = _layouts(rng.standard_normal(shape).astype(np.float32))[layout]
    if layout == "last":
        assert np.moveaxis(a, 1, -1).flags.c_contiguous
    axes = (0, *range(2, a.ndim))
    s = BN._channel_sum(a)
    assert s.dtype == np.float32 and s.shape == (shape[1],)
    np.testing.assert_allclose(s, a.astype(np.float64).sum(axes), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(
        BN._channel_sum(a, b), (a.astype(np.float64) * b).sum(axes), rtol=1e-5, atol=1e-4
    )


def test_float32_sums_keep_their_accuracy() -> None:
    # a large offset: a naive running float32 sum would lose digits
    rng = np.random.default_rng(1)
    a = (1000.0 + rng.standard_normal((64, 8, 32, 32))).astype(np.float32)
    exact = a.astype(np.float64).sum((0, 2, 3))
    for x in (a, np.ascontiguousarray(a.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)):
        np.testing.assert_allclose(BN._channel_sum(x), exact, rtol=2e-6)


def _last(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.moveaxis(a, 1, -1)).transpose(
        0, a.ndim - 1, *range(1, a.ndim - 1)
    )  # noqa: E501


@pytest.mark.parametrize("jit", ["1", "0"])
@pytest.mark.parametrize("shape", [(4, 5, 6, 3), (6, 5), (3, 5, 4)])
@pytest.mark.parametrize("last,glast", [(False, False), (True, False), (True, True)])
def test_batch_norm_grads_on_both_layouts_match_torch(jit, shape, last, glast, monkeypatch) -> None:  # noqa: ANN001, E501
    """The fused kernels (channels-last float32 rows) and the NumPy passes, against PyTorch."""
    monkeypatch.setitem(jit_kernels._state, "on", jit == "1")
    rng = np.random.default_rng(2)
    x = (3.0 + rng.standard_normal(shape)).astype(np.float32)
    w, b = rng.standard_normal(5).astype(np.float32), rng.standard_normal(5).astype(np.float32)
    g = rng.standard_normal(x.shape).astype(np.float32)
    xa = _last(x) if last else x
    ga = _last(g) if glast else g
    out = F.batch_norm(cr.tensor(xa), None, None, training=True)
    tout = torch.nn.functional.batch_norm(torch.tensor(x), None, None, training=True)
    np.testing.assert_allclose(out.numpy(), tout.numpy(), rtol=1e-4, atol=1e-4)
    cx, cw, cb = (
        cr.tensor(xa, requires_grad=True),
        cr.tensor(w, requires_grad=True),
        cr.tensor(b, requires_grad=True),
    )
    tx, tw, tb = (torch.tensor(v, requires_grad=True) for v in (x, w, b))
    out = F.batch_norm(cx, None, None, cw, cb, training=True)
    assert out.dtype == cr.float32
    out.backward(cr.tensor(ga))
    torch.nn.functional.batch_norm(tx, None, None, tw, tb, training=True).backward(torch.tensor(g))
    for c, t in ((cx, tx), (cw, tw), (cb, tb)):
        assert c.grad.dtype == cr.float32
        np.testing.assert_allclose(c.grad.numpy(), t.grad.numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("jit", ["1", "0"])
def test_relu_gradient_kernel_and_numpy_twin_agree(jit, monkeypatch) -> None:  # noqa: ANN001
    """ReLU's gradient with the Numba kernel (float32) and without it, on both layouts and
    with infinities and NaN in the gradient, against PyTorch."""
    monkeypatch.setitem(jit_kernels._state, "on", jit == "1")
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 4, 5, 2)).astype(np.float32)
    g = rng.standard_normal(x.shape).astype(np.float32)
    g.flat[:4] = [np.inf, -np.inf, np.nan, np.nan]
    x.flat[:4] = [-1.0, 1.0, -1.0, 1.0]
    for xa in (x, np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)):
        cx = cr.tensor(xa, requires_grad=True)
        tx = torch.tensor(x, requires_grad=True)
        F.relu(cx).backward(cr.tensor(g))
        torch.nn.functional.relu(tx).backward(torch.tensor(g))
        assert cx.grad.dtype == cr.float32
        np.testing.assert_array_equal(cx.grad.numpy(), tx.grad.numpy())
