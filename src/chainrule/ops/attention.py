"""Scaled dot-product attention as one fused primitive.

``out = dropout(softmax(q k^T * scale + mask)) v`` runs as one NumPy forward (two matmuls, an
in-place softmax) and one backward that writes the softmax derivative out,
``dS = P * (dP - rowsum(dP * P))`` with ``rowsum(dP * P) = rowsum(dO * O)`` (the FlashAttention
identity, dropout included), instead of a chain of a dozen small primitives each saving its own
``(..., L, S)`` intermediate. Only each row's log-sum-exp is kept for backward, which
recomputes the probabilities from it (one matmul, one exp), so the ``(..., L, S)`` probabilities
of every layer are not held between forward and backward (PyTorch's CPU kernel does the same).

The rules are written with primitives, so they are differentiable again: called on tensors
(``create_graph=True``) they recompute the probabilities from the inputs with primitives.
Rows whose every key is masked out give zeros (output and gradients), as PyTorch 2.13 does.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from ..tensor import Tensor
from . import jit
from .elementwise import _xp, where
from .linalg import matmul
from .nnops import row_max, row_sum, softmax
from .primitive import Primitive, Tracer, tangent_sum
from .shape import mT, sum


class Saved:
    """What one attention call keeps for its backward: the log-sum-exp of each row of scores
    (``(..., L, 1)``, from which backward recomputes the probabilities with one matmul and one
    exp, as FlashAttention does: nothing of size ``(..., L, S)`` is kept between forward and
    backward), and, during one backward pass, the pieces its rules share (so ``q``, ``k`` and
    the mask compute ``dS`` once between them). ``last`` is the index of the last input needing
    a gradient: its rule drops the shared pieces once used.

    Example:
        >>> Saved(last=2)
        <attention saved: lse=no>
    """

    __slots__ = ("lse", "shared", "last")

    def __init__(self, last: int = -1) -> None:
        self.lse: Any = None
        self.shared: Any = None
        self.last = last

    def __repr__(self) -> str:
        return f"<attention saved: lse={'no' if self.lse is None else 'yes'}>"


def causal_keep(n_query: int, n_key: int, xp: Any = np) -> Any:
    """The boolean ``(L, S)`` mask of ``is_causal``: query ``i`` sees keys ``j <= i`` (aligned
    top-left, as PyTorch's ``tril``).

    Example:
        >>> causal_keep(2, 3).astype(int).tolist()
        [[1, 0, 0], [1, 1, 0]]
    """
    return xp.tri(n_query, n_key, dtype=bool)


def _dead_rows(s: Any) -> Any:
    """Rows (``(..., L, 1)``) of the scores with no finite entry: every key masked out."""
    return s.max(axis=-1, keepdims=True) == -np.inf


@functools.lru_cache(maxsize=16)
def _causal_bias(n_query: int, n_key: int, dtype: Any) -> Any:
    """0 where query ``i`` sees key ``j``, ``-inf`` elsewhere: added in place to the scores."""
    bias = np.where(causal_keep(n_query, n_key), 0.0, -np.inf).astype(dtype)
    bias.flags.writeable = False
    return bias


def _t_copy(a: Any, xp: Any) -> Any:
    """``a``'s last two axes swapped, as a C-contiguous copy: OpenBLAS multiplies small
    matrices ~1.6x faster as ``A @ B`` than as ``A @ B^T`` of a view (GPT's (T, hd) heads)."""
    return xp.ascontiguousarray(xp.swapaxes(a, -1, -2))


def _scores_arrays(q: Any, k: Any, mask: Any, scale: float, causal: bool) -> Any:
    """``q k^T * scale`` with the causal and explicit masks applied (``-inf``: masked out)."""
    xp = _xp(q)
    s = q @ _t_copy(k, xp)
    s *= scale
    if causal:
        if xp is np:
            s += _causal_bias(s.shape[-2], s.shape[-1], s.dtype)
        else:
            s = xp.where(causal_keep(s.shape[-2], s.shape[-1], xp), s, -np.inf)
    if mask is not None:
        s = xp.where(mask, s, -np.inf) if mask.dtype == bool else s + mask
    return s


def _rows3(a: Any) -> Any:
    """``a`` (..., L, S) as (n, L, S), a view (``a`` is a fresh C-contiguous product)."""
    return a.reshape(-1, *a.shape[-2:])


def _probs_arrays(q: Any, k: Any, mask: Any, scale: float, causal: bool) -> tuple:
    """``(P, lse)``: the probabilities and each row's log-sum-exp (finite for a fully masked
    row, whose probabilities are all 0, so ``exp(s - lse)`` gives them again)."""
    xp = _xp(q)
    kern = jit.kernel("attention_probs", q, k) if mask is None else None
    if kern is not None and q.shape[-2] and k.shape[-2]:  # one pass per row, in place
        s = q @ _t_copy(k, xp)
        lse = np.empty(s.shape[:-1] + (1,), s.dtype)
        kern(_rows3(s), s.dtype.type(scale), causal, lse.reshape(-1, s.shape[-2]))
        return s, lse
    s = _scores_arrays(q, k, mask, scale, causal)
    if s.shape[-1] == 0:
        return s, None
    m = row_max(s)
    m[m == -np.inf] = 0  # a fully masked row: exp(-inf - 0) = 0 everywhere, no NaN
    s -= m
    xp.exp(s, out=s)
    den = row_sum(s)
    den[den == 0] = 1
    s /= den
    m += xp.log(den)
    return s, m


def _probs_again(q: Any, k: Any, mask: Any, scale: float, causal: bool, lse: Any) -> Any:
    """The probabilities of the forward pass from its saved row log-sum-exp."""
    s = _scores_arrays(q, k, mask, scale, causal)
    if lse is not None:
        s -= lse
        _xp(s).exp(s, out=s)
    return s


def _probs_tensors(q: Any, k: Any, mask: Any, scale: float, causal: bool) -> Any:
    """The probabilities again, with primitives (differentiable in q, k and a float mask)."""
    s = matmul(q, mT(k)) * scale
    if causal:
        s = where(causal_keep(s.shape[-2], s.shape[-1], _xp(s)), s, -np.inf)
    if mask is not None:
        mask_data = mask._data if isinstance(mask, Tensor) else mask
        s = where(mask, s, -np.inf) if mask_data.dtype == bool else s + mask
    if s.shape[-1] == 0:
        return s
    dead = _dead_rows(s._data if isinstance(s, Tensor) else s)
    if getattr(dead, "_is_tracer", False):  # a transform's value (a batch): cannot ask any()
        return where(dead, 0.0, softmax(where(dead, 0.0, s), axis=s.ndim - 1))
    if dead.any():
        return softmax(where(dead, 0.0, s), axis=s.ndim - 1) * (~dead).astype(s.dtype)
    return softmax(s, axis=s.ndim - 1)


def _sdpa_fwd(
    q: Any, k: Any, v: Any, mask: Any, drop: Any, scale: float, causal: bool, saved: Saved
) -> Any:
    p, saved.lse = _probs_arrays(q, k, mask, scale, causal)
    return _heads_inner((p if drop is None else p * drop), v)


def _heads_inner(p: Any, v: Any) -> Any:
    """``p @ v`` for (..., H, L, S) @ (..., H, S, Ev), laid out in memory as (..., L, H, Ev)
    (as PyTorch's kernel): the usual ``y.transpose(1, 2).reshape(B, T, C)`` that merges the heads
    is then a view, so the node that saves the merged heads shares this output's memory."""
    if type(p) is not np.ndarray or type(v) is not np.ndarray or p.ndim < 4:
        return p @ v
    shape = np.broadcast_shapes(p.shape[:-2], v.shape[:-2]) + (p.shape[-2], v.shape[-1])
    buf = np.empty(shape[:-3] + (shape[-2], shape[-3], shape[-1]), np.result_type(p, v))
    out = np.swapaxes(buf, -2, -3)
    np.matmul(p, v, out=out)
    return out


def _fused_grads(
    g: Any, ans: Any, q: Any, k: Any, v: Any, scale: float, causal: bool, saved: Saved
) -> tuple | None:
    """``(P, dS * scale)`` by the Numba kernel (float32 arrays, no mask, no dropout): the
    probabilities again from the saved log-sum-exp and the score gradient in one pass per row,
    in the buffers of the two products ``q k^T`` and ``dO v^T``; ``None`` where it cannot run."""
    kern = jit.kernel("attention_grads", q, k, v, g, ans)
    if kern is None or saved.lse is None:
        return None
    s = q @ _t_copy(k, np)
    dp = g @ _t_copy(v, np)
    if s.shape != dp.shape or s.size == 0:
        return None
    dsum = row_sum(g * ans)  # rowsum(dP * P) = rowsum(dO * O)
    rows = s.shape[-2]
    kern(_rows3(s), _rows3(dp), dsum.reshape(-1, rows), s.dtype.type(scale), causal,
         saved.lse.reshape(-1, rows))  # fmt: skip
    return s, dp


def _shared(
    g: Any, ans: Any, q: Any, k: Any, v: Any, mask: Any, drop: Any, scale: float, causal: bool,
    saved: Saved, need_ds: bool,
) -> dict:  # fmt: skip
    """The dropped-out probabilities ``pd`` and (if ``need_ds``) the score gradient ``ds``,
    computed once per backward pass (keyed on the incoming gradient ``g``)."""
    sh = saved.shared
    if sh is None or sh["g"] is not g:
        fused = None
        if need_ds and drop is None and mask is None:
            fused = _fused_grads(g, ans, q, k, v, scale, causal, saved)
        if fused is not None:  # dS * scale: the q and k gradients need no more pass
            sh = saved.shared = {"g": g, "p": fused[0], "pd": fused[0], "ds_scaled": fused[1]}
            return sh
        # create_graph, or a transform's tracers (forward over reverse): recompute with primitives
        if isinstance(q, (Tensor, Tracer)) or isinstance(k, (Tensor, Tracer)):
            p = _probs_tensors(q, k, mask, scale, causal)
        else:
            m = mask._data if isinstance(mask, Tensor) else mask
            p = _probs_again(q, k, m, scale, causal, saved.lse)
        sh = saved.shared = {"g": g, "p": p, "pd": p if drop is None else p * drop}
    if "ds_scaled" in sh:
        return sh
    if need_ds and "ds" not in sh:
        p = sh["p"]
        dp = matmul(g, mT(v))
        if drop is not None:
            dp = dp * drop
        # softmax backward: dS = P * (dP - rowsum(dP * P)), and rowsum(dP * P) = rowsum(dO * O)
        if type(dp) is np.ndarray and type(p) is np.ndarray:  # in place, rows summed by a GEMV
            dp -= row_sum(g * ans)
            dp *= p
            sh["ds"] = dp
        else:
            sh["ds"] = p * (dp - sum(g * ans, (ans.ndim - 1,), True))
    return sh


def _matmul_like(a: Any, b: Any, like: Any) -> Any:
    """``a @ b`` written in the memory layout of ``like`` (the input whose gradient it is, when
    the shapes agree): GPT's heads are transposed views of a (B, T, 3C) projection, so their
    gradients in that layout go back through the transposes and reshapes as views, uncopied."""
    shape = np.broadcast_shapes(a.shape[:-2], b.shape[:-2]) + (a.shape[-2], b.shape[-1])
    if shape != like.shape or like.flags.c_contiguous:
        return a @ b
    out = np.empty_like(like)
    return np.matmul(a, b, out=out)


def _rule(i: int) -> Any:
    def rule(
        g: Any, ans: Any, q: Any, k: Any, v: Any, mask: Any, drop: Any, scale: float,
        causal: bool, saved: Saved,
    ) -> Any:  # fmt: skip
        sh = _shared(g, ans, q, k, v, mask, drop, scale, causal, saved, need_ds=i != 2)
        if "ds_scaled" in sh:  # the kernel path: arrays, written in the layout of the input
            if i == 0:
                out = _matmul_like(sh["ds_scaled"], k, q)
            elif i == 1:
                out = _matmul_like(np.swapaxes(sh["ds_scaled"], -1, -2), q, k)
            elif i == 2:
                out = _matmul_like(np.swapaxes(sh["pd"], -1, -2), g, v)
            else:
                out = sh["ds_scaled"] / scale
        elif i == 0:
            out = matmul(sh["ds"], k) * scale
        elif i == 1:
            out = matmul(mT(sh["ds"]), q) * scale
        elif i == 2:
            out = matmul(mT(sh["pd"]), g)
        else:
            out = sh["ds"]
        if i == saved.last:  # backward is done with this node: free P and dS
            saved.shared = None
        return out

    return rule


def _mask_rule(i: int) -> Any:
    return _rule(i) if i < 4 else None


def _sdpa_jvp(
    ts: list, ans: Any, q: Any, k: Any, v: Any, mask: Any, drop: Any, scale: float,
    causal: bool, saved: Saved,
) -> Any:  # fmt: skip
    """``dO = dP_d V + P_d dV`` with ``dP = P * (dS - rowsum(P * dS))`` and
    ``dS = (dQ K^T + Q dK^T) * scale + dmask``; rows with every key masked stay 0 (P is 0)."""
    tq, tk, tv, tm = ts[:4]
    if tq is None and tk is None and tv is None and tm is None:
        return None
    p = _probs_tensors(q, k, mask, scale, causal)  # primitives: arrays, tensors or tracers
    pd = p if drop is None else p * drop
    out = None if tv is None else matmul(pd, tv)
    ds = tangent_sum(
        p, [tq, tk, tm], lambda t: matmul(t, mT(k)) * scale, lambda t: matmul(q, mT(t)) * scale,
        lambda t: t,
    )  # fmt: skip
    if ds is not None:
        dp = p * (ds - sum(p * ds, (p.ndim - 1,), True))
        dp = matmul(dp if drop is None else dp * drop, v)
        out = dp if out is None else out + dp
    return out


sdpa = Primitive(
    "ScaledDotProductAttention",
    _sdpa_fwd,
    _mask_rule,
    [
        "dQ = dS K * scale, dS = P * (dP - rowsum(dO * O)), dP = dO V^T",
        "dK = dS^T Q * scale",
        "dV = P^T dO",
        "d mask = dS",
    ],
    jvp=_sdpa_jvp,
)
