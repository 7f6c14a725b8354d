"""Check a chainrule function against PyTorch (forward, gradient, second derivative) and against
float64 central differences, in one call per op.

    check(lambda a, b: a * b, shapes=[(2, 3), (3,)])

``fn`` is called with chainrule tensors and, unchanged, with torch tensors, so it must use
methods and operators both libraries share; pass ``torch_fn`` where the spellings differ.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

import chainrule as cr


def _randn(rng: np.random.Generator, shape: tuple, positive: bool) -> np.ndarray:
    a = rng.standard_normal(shape)
    return np.abs(a) + 0.5 if positive else a


def _np(t: Any) -> np.ndarray:
    """Any tensor's values as an array (torch's ZeroTensor, from ops like abs, included)."""
    if isinstance(t, torch.Tensor):
        return t.detach().numpy(force=True)
    return t.detach().numpy()


def _grads_cr(out: cr.Tensor, xs: list, w: np.ndarray, create: bool) -> tuple:
    return cr.autograd.grad((out * cr.tensor(w)).sum(), xs, create_graph=create, allow_unused=True)


def check(
    fn: Callable[..., Any],
    shapes: Sequence[tuple] | None = None,
    arrays: Sequence[np.ndarray] | None = None,
    torch_fn: Callable[..., Any] | None = None,
    positive: bool = False,
    grad: bool = True,
    second: bool = True,
    finite_differences: bool = True,
    rtol: float = 1e-7,
    atol: float = 1e-9,
    seed: int = 0,
    requires_grad: Sequence[bool] | None = None,
) -> None:
    """Assert that ``fn`` matches PyTorch to rounding in float64, and finite differences.

    ``arrays`` may hold non-float inputs (indices, masks): those never require grad.
    """
    rng = np.random.default_rng(seed)
    if arrays is None:
        assert shapes is not None
        arrays = [_randn(rng, tuple(s), positive) for s in shapes]
    arrays = [np.asarray(a) for a in arrays]
    floating = [a.dtype.kind == "f" for a in arrays]
    req = list(requires_grad) if requires_grad is not None else floating
    xs = [cr.tensor(a, requires_grad=r and f) for a, r, f in zip(arrays, req, floating)]
    ts = [torch.tensor(a, requires_grad=r and f) for a, r, f in zip(arrays, req, floating)]
    out = fn(*xs)
    tout = (torch_fn or fn)(*ts)
    np.testing.assert_allclose(
        out.detach().numpy(), tout.detach().numpy(), rtol=rtol, atol=atol, err_msg="forward"
    )
    assert out.shape == tuple(tout.shape), f"shape {out.shape} != torch {tuple(tout.shape)}"
    diff = [i for i, x in enumerate(xs) if x.requires_grad]
    if not grad or not diff or not tout.requires_grad:
        return
    w = rng.standard_normal(tout.shape)
    g_cr = _grads_cr(out, [xs[i] for i in diff], w, create=second)
    g_t = torch.autograd.grad(
        (tout * torch.tensor(w)).sum(), [ts[i] for i in diff], create_graph=second,
        allow_unused=True,
    )  # fmt: skip
    for i, a, b in zip(diff, g_cr, g_t):
        if b is None:
            assert a is None or np.allclose(a.detach().numpy(), 0), f"grad of input {i}"
            continue
        np.testing.assert_allclose(
            a.detach().numpy(), b.detach().numpy(), rtol=rtol, atol=atol,
            err_msg=f"gradient of input {i}",
        )  # fmt: skip
    if second:
        pairs = [(a, b) for a, b in zip(g_cr, g_t) if b is not None and b.requires_grad]
        if pairs:
            v = [rng.standard_normal(b.shape) for _, b in pairs]
            s_t = sum((b * torch.tensor(vi)).sum() for (_, b), vi in zip(pairs, v))
            h_t = torch.autograd.grad(s_t, [ts[i] for i in diff], allow_unused=True)
            # A first derivative that does not depend on the inputs (relu: a mask) has no graph
            # in chainrule; torch keeps one whose second derivative is zero.
            live = [(a, vi) for (a, _), vi in zip(pairs, v) if a.requires_grad]
            if live:
                s_cr = sum((a * cr.tensor(vi)).sum() for a, vi in live)
                h_cr = cr.autograd.grad(s_cr, [xs[i] for i in diff], allow_unused=True)
            else:
                h_cr = (None,) * len(diff)
            for i, a, b in zip(diff, h_cr, h_t):
                if b is None or a is None:
                    other = b if a is None else a
                    assert other is None or np.allclose(_np(other), 0), (
                        f"second derivative of input {i}"
                    )
                    continue
                np.testing.assert_allclose(
                    a.numpy(), _np(b), rtol=max(rtol, 1e-6), atol=max(atol, 1e-8),
                    err_msg=f"second derivative of input {i}",
                )  # fmt: skip
    if finite_differences and sum(x.numel() for x in xs if x.requires_grad) <= 200:
        assert cr.autograd.gradcheck(fn, xs)


def check_conv2d_float32(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None = None,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
    seed: int = 0,
    grad_atol: float = 1e-4,
) -> None:
    """A float32 ``conv2d`` of ``x`` with ``w`` (and bias ``b``) against PyTorch's: the output
    and the gradients of every input, for one random output gradient, stay float32 and agree
    to ``rtol=1e-4, atol=1e-4`` (``grad_atol`` for the gradients)."""
    import chainrule.nn.functional as F

    arrays = [x, w] + ([] if b is None else [b])
    cs = [cr.tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = F.conv2d(cs[0], cs[1], None if b is None else cs[2], stride, padding, dilation, groups)
    tout = torch.nn.functional.conv2d(
        ts[0], ts[1], None if b is None else ts[2], stride, padding, dilation, groups
    )
    gy = np.random.default_rng(seed).standard_normal(tout.shape).astype(np.float32)
    out.backward(cr.tensor(gy))
    tout.backward(torch.tensor(gy))
    assert out.dtype == cr.float32
    np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), rtol=1e-4, atol=1e-4)
    for c, t in zip(cs, ts):
        assert c.grad.dtype == cr.float32
        np.testing.assert_allclose(c.grad.numpy(), t.grad.numpy(), rtol=1e-4, atol=grad_atol)
