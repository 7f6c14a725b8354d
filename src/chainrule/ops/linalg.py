"""``matmul`` with NumPy's and PyTorch's rules: batching, broadcasting, and 1-D operands."""

from __future__ import annotations

from typing import Any

from .primitive import Primitive, tangent_sum
from .shape import mT, reshape


def _matmul_fwd(a: Any, b: Any) -> Any:
    try:
        return a @ b
    except ValueError:
        raise ValueError(
            f"matmul: shapes {tuple(a.shape)} and {tuple(b.shape)} cannot be multiplied "
            f"({a.shape[-1] if a.ndim else '?'} != "
            f"{b.shape[-2] if b.ndim > 1 else (b.shape[0] if b.ndim else '?')})"
        ) from None


def _grad_a(g: Any, ans: Any, a: Any, b: Any) -> Any:
    if b.ndim == 1:  # out[..., n] = a[..., n, k] b[k]   (or a[k] b[k] when a is 1-D too)
        if a.ndim == 1:
            return g * b
        return reshape(g, g.shape + (1,)) * b
    if a.ndim == 1:  # out[..., m] = a[k] b[..., k, m]
        gb = matmul(b, reshape(g, g.shape + (1,)))
        return reshape(gb, gb.shape[:-1])
    return matmul(g, mT(b))


def _grad_b(g: Any, ans: Any, a: Any, b: Any) -> Any:
    if a.ndim == 1:
        if b.ndim == 1:
            return g * a
        return reshape(a, (a.shape[0], 1)) * reshape(g, g.shape[:-1] + (1,) + g.shape[-1:])
    if b.ndim == 1:
        ga = matmul(mT(a), reshape(g, g.shape + (1,)))
        return reshape(ga, ga.shape[:-1])
    return matmul(mT(a), g)


matmul = Primitive(
    "MatMul",
    _matmul_fwd,
    [_grad_a, _grad_b],
    ["d(A@B)/dA = G @ B^T", "d(A@B)/dB = A^T @ G"],
    jvp=lambda ts, ans, a, b: tangent_sum(ans, ts, lambda t: matmul(t, b), lambda t: matmul(a, t)),
)
