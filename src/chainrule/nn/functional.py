"""``chainrule.nn.functional``: activations, losses and layers as functions, PyTorch's signatures.

Conventionally imported as ``F``. Everything is built from primitives, so every function here is
differentiable, twice over.
"""

from __future__ import annotations

import math
import operator
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import functions as _functions
from ..autograd.grad_mode import is_grad_enabled, no_grad
from ..backend import array_module
from ..functions import pad, relu, sigmoid, tanh
from ..ops import attention as A
from ..ops import batchnorm as BN
from ..ops import conv as C
from ..ops import elementwise as E
from ..ops import index as I
from ..ops import linalg as L
from ..ops import nnops as N
from ..ops import shape as S
from ..ops.batching import BatchTracer, nchw_call
from ..ops.primitive import Tracer
from ..random import default_rng
from ..tensor import Tensor, as_tensor

__all__ = [
    "relu", "leaky_relu", "elu", "gelu", "silu", "softplus", "sigmoid", "logsigmoid", "tanh",
    "softmax",
    "log_softmax", "cross_entropy", "nll_loss", "binary_cross_entropy",
    "binary_cross_entropy_with_logits", "mse_loss", "l1_loss", "huber_loss", "smooth_l1_loss",
    "linear", "conv1d", "conv2d", "conv_transpose2d", "interpolate", "max_pool2d", "avg_pool2d",
    "adaptive_avg_pool1d",
    "adaptive_avg_pool2d", "dropout", "dropout2d", "embedding", "batch_norm", "layer_norm",
    "group_norm", "one_hot", "pad",
    "scaled_dot_product_attention", "rms_norm",
]  # fmt: skip


def __dir__() -> list[str]:
    """``dir(F)`` lists the functions, not the modules this one imports (as torch's)."""
    return sorted(__all__)


def _t(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else as_tensor(x)


def _pair(v: Any, name: str, op: str) -> tuple[int, int]:
    if isinstance(v, int):
        return (v, v)
    v = tuple(int(i) for i in v)
    if len(v) != 2:
        raise ValueError(f"{op}: {name} must be an int or a pair, got {v}")
    return v  # type: ignore[return-value]


def _reduce(loss: Tensor, reduction: str, op: str) -> Tensor:
    if reduction == "mean":
        return _functions.mean(loss)
    if reduction == "sum":
        return _functions.sum(loss)
    if reduction == "none":
        return loss
    raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


# ----- activations ---------------------------------------------------------------------------
def leaky_relu(input: Tensor, negative_slope: float = 0.01) -> Tensor:
    """``x`` where positive, ``negative_slope * x`` elsewhere.

    Example:
        >>> import chainrule as cr
        >>> leaky_relu(cr.tensor([-1.0, 2.0]), 0.1)
        tensor([-0.1,  2. ])
    """
    x = _t(input)
    return E.where(x > 0, x, x * negative_slope)


def elu(input: Tensor, alpha: float = 1.0) -> Tensor:
    """``x`` where positive, ``alpha * (e^x - 1)`` elsewhere.

    Example:
        >>> import chainrule as cr
        >>> elu(cr.tensor([0.0, 1.0]))
        tensor([0., 1.])
    """
    x = _t(input)
    return E.where(x > 0, x, E.expm1(E.where(x > 0, 0, x)) * alpha)


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """Gaussian error linear unit ``x * Phi(x)``; ``approximate='tanh'`` uses the tanh formula.

    One fused primitive whose backward is one fused primitive too (so it is differentiable to
    any order); float32 stays float32, with a Numba kernel when Numba is installed.

    Example:
        >>> import chainrule as cr
        >>> gelu(cr.tensor([0.0, 1.0]))
        tensor([0.    , 0.8413])
    """
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return N.gelu(_floating(_t(input), "gelu"), approximate=approximate)


def silu(input: Tensor) -> Tensor:
    """``x * sigmoid(x)`` (also called swish), one fused primitive.

    Example:
        >>> import chainrule as cr
        >>> silu(cr.tensor([0.0]))
        tensor([0.])
    """
    return N.silu(_floating(_t(input), "silu"))


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """``log(1 + e^(beta x)) / beta``, and ``x`` itself where ``beta x > threshold``.

    Example:
        >>> import chainrule as cr
        >>> softplus(cr.tensor([0.0, 100.0]))
        tensor([  0.6931, 100.    ])
    """
    x = _t(input)
    bx = x * beta
    big = bx > threshold
    soft = E.log1p(E.exp(E.where(big, 0, bx))) / beta  # exp never sees the large values
    return E.where(big, x, soft)


def logsigmoid(input: Tensor) -> Tensor:
    """``log(sigmoid(x))``, one stable primitive (finite for any ``x``).

    Example:
        >>> import chainrule as cr
        >>> logsigmoid(cr.tensor([0.0, -1e4]))
        tensor([-6.9315e-01, -1.0000e+04])
    """
    return N.log_sigmoid(_t(input))


def _dim(dim: int | None, x: Tensor, op: str) -> int:
    if dim is None:  # PyTorch's legacy implicit choice
        dim = 0 if x.ndim in (0, 1, 3) else 1
    return S.normalize_dim(dim, x.ndim, op)


def _floating(x: Tensor, op: str, name: str = "input") -> Tensor:
    if x._data.dtype.kind not in "fc":
        raise TypeError(
            f"{op}: expected a floating {name}, got {x.dtype} (pass dtype=chainrule.float32 or "
            "call .float() first)"
        )
    return x


def softmax(input: Tensor, dim: int | None = None, dtype: Any = None) -> Tensor:
    """``e^x / sum(e^x)`` along ``dim``, computed stably.

    Example:
        >>> import chainrule as cr
        >>> softmax(cr.tensor([1.0, 1.0]), dim=0)
        tensor([0.5, 0.5])
    """
    x = _floating(_t(input) if dtype is None else _t(input).to(dtype), "softmax")
    axis = _dim(dim, x, "softmax")
    if x.numel() == 0:  # nothing to normalize: an empty result of the same shape
        return x * 0
    if x.ndim == 0:  # one element: its softmax is 1, computed on a 1-element view
        return S.reshape(N.softmax(S.reshape(x, (1,)), axis=0), ())
    return N.softmax(x, axis=axis)


def log_softmax(input: Tensor, dim: int | None = None, dtype: Any = None) -> Tensor:
    """``x - logsumexp(x)`` along ``dim``: one fused, stable primitive.

    Example:
        >>> import chainrule as cr
        >>> log_softmax(cr.tensor([1e4, 1e4]), dim=0)
        tensor([-0.6931, -0.6931])
    """
    x = _floating(_t(input) if dtype is None else _t(input).to(dtype), "log_softmax")
    axis = _dim(dim, x, "log_softmax")
    if x.numel() == 0:
        return x * 0
    if x.ndim == 0:
        return S.reshape(N.log_softmax(S.reshape(x, (1,)), axis=0), ())
    return N.log_softmax(x, axis=axis)


# ----- losses -------------------------------------------------------------------------------
def _check_class_target(input: Tensor, target: Tensor, op: str) -> None:
    want = input.shape[:1] + input.shape[2:] if input.ndim >= 2 else ()
    if target.dtype.kind not in "iu":
        raise TypeError(
            f"{op}: class-index target must be an integer tensor of shape {want}, got "
            f"{target.dtype} of shape {target.shape} (class probabilities need a float target "
            f"of the input's shape {input.shape})"
        )
    if target.shape != want:
        raise ValueError(
            f"{op}: input of shape {input.shape} needs a target of shape {want}, got {target.shape}"
        )


def _nll(
    logp: Tensor, target: Tensor, weight: Any, ignore_index: int, reduction: str, op: str
) -> Tensor:
    """NLL of class indices: one pick per position (``take_along``), so no scatter-add."""
    _check_class_target(logp, target, op)
    _reduce_name(reduction, op)
    if logp.ndim == 1:  # unbatched: (C,) with a 0-d target
        loss = _nll(S.reshape(logp, (1, -1)), S.reshape(target, (1,)), weight, ignore_index,
                    reduction, op)  # fmt: skip
        return S.reshape(loss, ()) if reduction == "none" else loss
    c = logp.shape[1]
    ti = target._data
    if isinstance(ti, Tracer):  # inside vmap: no checks or branches on the target's values
        return _nll_traced(logp, ti, weight, ignore_index, reduction, op)
    if (
        weight is None and reduction != "none" and ti.ndim == 1 and ti.size
        and not 0 <= ignore_index < c and not isinstance(logp._data, Tracer)
    ):  # fmt: skip
        if ti.min() >= 0 and ti.max() < c:  # all in range, so none ignored: one node
            return N.nll_pick(logp, ti, ti.size if reduction == "mean" else 1)
    ignored = ti == ignore_index
    has_ignored = bool(ignored.any())
    safe = array_module(ti).where(ignored, 0, ti) if has_ignored else ti
    if safe.size and (safe.min() < 0 or safe.max() >= c):
        bad = int(safe[(safe < 0) | (safe >= c)].reshape(-1)[0])
        raise IndexError(f"{op}: target {bad} is out of bounds for {c} classes")
    picked = N.take_along(logp, 1, safe)
    if weight is None and not has_ignored:
        if reduction == "mean":
            return S.sum(picked, None, False) / -max(picked.numel(), 1)
        return -S.sum(picked, None, False) if reduction == "sum" else -picked
    if weight is None:
        wt = (~ignored).astype(logp.dtype)
    else:
        w = _t(weight)
        if w.shape != (c,):
            raise ValueError(f"{op}: weight must have shape ({c},) for {c} classes, got {w.shape}")
        wt = w._data.astype(logp.dtype, copy=False)[safe] * ~ignored
    if reduction == "mean":
        return -_weighted_mean(picked, wt)
    return _reduce(picked * -wt, reduction, op)


def _nll_traced(
    logp: Tensor, ti: Any, weight: Any, ignore_index: int, reduction: str, op: str
) -> Tensor:
    """:func:`_nll` for a target whose values are traced (batched by ``vmap``): ignored targets
    are masked out arithmetically rather than found first."""
    keep = E.ne(ti, ignore_index)
    safe = E.where(keep, ti, 0)
    picked = N.take_along(logp, 1, safe)
    wt = I.cast(keep, logp.dtype)
    if weight is not None:
        w = _t(weight)
        wt = wt * I.getitem(w._data.astype(logp.dtype, copy=False), safe)
    if reduction == "mean":
        return -E.div(S.sum(E.mul(picked, wt), None, False), S.sum(wt, None, False))
    return _reduce(E.mul(picked, -wt), reduction, op)


def _weighted_mean(terms: Tensor, w: Any) -> Tensor:
    """``sum(terms * w) / sum(w)``; NaN when nothing counts, as in PyTorch, with a zero
    (not NaN) gradient."""
    total = float(w.sum())
    if total == 0:
        return S.sum(terms * (w * 0), None, False) + float("nan")
    return S.sum(terms * (w / total), None, False)


def _reduce_name(reduction: str, op: str) -> None:
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def nll_loss(
    input: Tensor, target: Tensor, weight: Tensor | None = None, ignore_index: int = -100,
    reduction: str = "mean",
) -> Tensor:  # fmt: skip
    """Negative log-likelihood of class indices ``target`` under log-probabilities ``input``
    of shape ``(N, C)`` or ``(N, C, d1, ...)`` (or ``(C,)`` with a 0-d target).

    With ``weight`` the mean divides by the summed weights of the counted targets; targets equal
    to ``ignore_index`` count for nothing, as in PyTorch.

    Example:
        >>> import chainrule as cr
        >>> nll_loss(cr.tensor([[-0.5, -1.0], [-2.0, -0.1]]), cr.tensor([0, 1]))
        tensor(0.3)
    """
    return _nll(_t(input), _t(target), weight, ignore_index, reduction, "nll_loss")


def cross_entropy(
    input: Tensor, target: Tensor, weight: Tensor | None = None, ignore_index: int = -100,
    reduction: str = "mean", label_smoothing: float = 0.0,
) -> Tensor:  # fmt: skip
    """Cross-entropy between logits ``input`` (N, C, ...) and class indices or class
    probabilities ``target``; one fused log-softmax, then NLL, so logits of any size are safe.

    Example:
        >>> import chainrule as cr
        >>> cross_entropy(cr.tensor([[1e4, -1e4]]), cr.tensor([1]))
        tensor(20000.)
    """
    x, t = _t(input), _t(target)
    op = "cross_entropy"
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{op}: label_smoothing must be in [0, 1], got {label_smoothing}")
    _reduce_name(reduction, op)
    if x.ndim == 0:
        raise ValueError(f"{op}: input must have a class dimension, got a 0-d tensor")
    _floating(x, op)
    cdim = 1 if x.ndim >= 2 else 0
    c = x.shape[cdim]
    if t.dtype.kind == "f" and t.shape != x.shape:
        raise ValueError(
            f"{op}: target of shape {t.shape} and dtype {t.dtype} fits neither form: class "
            f"indices need an integer target of shape {x.shape[:1] + x.shape[2:]}, class "
            f"probabilities a float target of the input's shape {x.shape}"
        )
    logp = N.log_softmax(x, cdim)  # (class-index targets are checked by _nll)
    wshape = (c,) + (1,) * (x.ndim - cdim - 1)
    w = None
    if weight is not None:
        w = _t(weight)._data.astype(x.dtype, copy=False)
        if w.shape != (c,):
            raise ValueError(f"{op}: weight must have shape ({c},) for {c} classes, got {w.shape}")
    if t.dtype.kind == "f":  # class probabilities
        if label_smoothing:
            t = t * (1 - label_smoothing) + label_smoothing / c
        terms = logp * t if w is None else logp * t * w.reshape(wshape)
        loss = S.sum(terms, (cdim,), False)
        if reduction == "mean":
            return S.sum(loss, None, False) / -max(loss.numel(), 1)
        return -_reduce(loss, reduction, op)
    nll = _nll(logp, t, weight, ignore_index, reduction, op)
    if not label_smoothing:
        return nll
    # PyTorch's smoothing term: -sum_c w_c logp_c / C, zero at ignored targets, and for the
    # mean divided like the NLL (by the count or the summed weights of counted targets)
    kept = t._data != ignore_index
    keep = np.expand_dims(kept, cdim).astype(x.dtype) if x.ndim >= 2 else kept.astype(x.dtype)
    terms = logp * keep if w is None else logp * (w.reshape(wshape) * keep)
    smooth = S.sum(terms, (cdim,), False) * (-1.0 / c)
    if reduction == "mean":
        ts = np.where(kept, t._data, 0)
        denom = float(kept.sum() if w is None else (w[ts] * kept).sum())
        smooth = S.sum(smooth, None, False) * (1 / denom) if denom else smooth.sum() * 0 + math.nan
    else:
        smooth = _reduce(smooth, reduction, op)
    return nll * (1 - label_smoothing) + smooth * label_smoothing


def _same_shape(x: Tensor, t: Tensor, op: str) -> None:
    if x.shape != t.shape:
        raise ValueError(
            f"{op}: target shape {t.shape} differs from input shape {x.shape}; "
            "they must match (no broadcasting, as in PyTorch)"
        )


def _weight_fits(w: Any, x: Tensor, name: str, op: str) -> None:
    """A ``weight``/``pos_weight`` must broadcast to the input's shape (not widen it)."""
    if w is None:
        return
    shape = tuple(np.shape(w._data if isinstance(w, Tensor) else w))
    try:
        fits = np.broadcast_shapes(shape, x.shape) == x.shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(
            f"{op}: {name} of shape {shape} does not broadcast to the input's shape {x.shape}"
        )


def binary_cross_entropy(
    input: Tensor, target: Tensor, weight: Tensor | None = None, reduction: str = "mean"
) -> Tensor:
    """Binary cross-entropy of probabilities ``input`` against ``target`` in [0, 1] (logs
    clamped at -100, as in PyTorch).

    Example:
        >>> import chainrule as cr
        >>> binary_cross_entropy(cr.tensor([0.5]), cr.tensor([1.0]))
        tensor(0.6931)
    """
    x, t = _t(input), _t(target)
    _same_shape(x, t, "binary_cross_entropy")
    xd = x._data
    if xd.size and (xd.min() < 0 or xd.max() > 1):
        raise ValueError("binary_cross_entropy: input values must be probabilities in [0, 1]")
    _weight_fits(weight, x, "weight", "binary_cross_entropy")
    loss = N.bce(x, t)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction, "binary_cross_entropy")


def binary_cross_entropy_with_logits(
    input: Tensor, target: Tensor, weight: Tensor | None = None, reduction: str = "mean",
    pos_weight: Tensor | None = None,
) -> Tensor:  # fmt: skip
    """Sigmoid and binary cross-entropy in one stable formula:
    ``(1 - t) x - (1 + (pos_weight - 1) t) log(sigmoid(x))``.

    Example:
        >>> import chainrule as cr
        >>> binary_cross_entropy_with_logits(cr.tensor([1e4, -1e4]), cr.tensor([1.0, 0.0]))
        tensor(0.)
    """
    x, t = _t(input), _t(target)
    op = "binary_cross_entropy_with_logits"
    _same_shape(x, t, op)
    _weight_fits(weight, x, "weight", op)
    _weight_fits(pos_weight, x, "pos_weight", op)
    neg_log_p = -N.log_sigmoid(x)  # log(1 + e^-x), stably
    if pos_weight is None:
        loss = (1 - t) * x + neg_log_p
    else:
        loss = (1 - t) * x + (1 + (_t(pos_weight) - 1) * t) * neg_log_p
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction, "binary_cross_entropy_with_logits")


def mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Mean squared error ``(x - y)^2`` (seed 001's loss).

    Example:
        >>> import chainrule as cr
        >>> mse_loss(cr.tensor([1.0, 3.0]), cr.tensor([0.0, 1.0]))
        tensor(2.5)
    """
    x, t = _t(input), _t(target)
    _same_shape(x, t, "mse_loss")
    d = x - t
    return _reduce(d * d, reduction, "mse_loss")


def l1_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Mean absolute error ``|x - y|``.

    Example:
        >>> import chainrule as cr
        >>> l1_loss(cr.tensor([1.0, 3.0]), cr.tensor([0.0, 1.0]))
        tensor(1.5)
    """
    x, t = _t(input), _t(target)
    _same_shape(x, t, "l1_loss")
    return _reduce(E.abs(x - t), reduction, "l1_loss")


def huber_loss(
    input: Tensor, target: Tensor, reduction: str = "mean", delta: float = 1.0
) -> Tensor:
    """``0.5 d^2`` where ``|d| < delta``, else ``delta (|d| - 0.5 delta)``, with ``d = x - y``.

    Example:
        >>> import chainrule as cr
        >>> huber_loss(cr.tensor([0.5, 3.0]), cr.tensor([0.0, 0.0]))
        tensor(1.3125)
    """
    if not delta > 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    x, t = _t(input), _t(target)
    _same_shape(x, t, "huber_loss")
    d = x - t
    a = E.abs(d)
    loss = E.where(a < delta, d * d * 0.5, (a - 0.5 * delta) * delta)
    return _reduce(loss, reduction, "huber_loss")


def smooth_l1_loss(
    input: Tensor, target: Tensor, reduction: str = "mean", beta: float = 1.0
) -> Tensor:
    """``0.5 d^2 / beta`` where ``|d| < beta``, else ``|d| - 0.5 beta``.

    Example:
        >>> import chainrule as cr
        >>> smooth_l1_loss(cr.tensor([0.5, 3.0]), cr.tensor([0.0, 0.0]))
        tensor(1.3125)
    """
    if not beta >= 0:
        raise ValueError(f"smooth_l1_loss: beta must be non-negative, got {beta}")
    x, t = _t(input), _t(target)
    _same_shape(x, t, "smooth_l1_loss")
    d = x - t
    a = E.abs(d)
    if beta == 0:
        return _reduce(a, reduction, "smooth_l1_loss")
    loss = E.where(a < beta, d * d * (0.5 / beta), a - 0.5 * beta)
    return _reduce(loss, reduction, "smooth_l1_loss")


# ----- layers -------------------------------------------------------------------------------
def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``input @ weight.T + bias``, one fused primitive.

    Example:
        >>> import chainrule as cr
        >>> linear(cr.ones(2, 3), cr.ones(4, 3), cr.zeros(4)).shape
        (2, 4)
    """
    x, w = _t(input), _t(weight)
    xa, wa = x._data, w._data  # the arrays' shapes: every call of every Linear checks them
    if wa.ndim != 2 or xa.ndim == 0 or xa.shape[-1] != wa.shape[1]:
        raise ValueError(
            f"linear: input of shape {x.shape} cannot be multiplied with weight of shape "
            f"{w.shape} (expects input (*, {w.shape[-1] if w.ndim else '?'}))"
        )
    b = None if bias is None else _t(bias)
    if xa.dtype != wa.dtype or (b is not None and b._data.dtype != wa.dtype):
        _functions.check_same_dtype("linear", input=x, weight=w, bias=b)
    if b is None:
        return N.linear(x, w)
    if b._data.shape not in ((wa.shape[0],), ()):
        raise ValueError(f"linear: bias of shape {b.shape} does not fit weight {w.shape}")
    return N.linear(x, w, b)


def _conv_padding(padding: Any, kernel: tuple, dilation: tuple, stride: tuple) -> tuple:
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0, 0, 0)
        if padding == "same":
            if stride != (1, 1):
                raise ValueError("conv2d: padding='same' is not supported for strided convolutions")
            th, tw = dilation[0] * (kernel[0] - 1), dilation[1] * (kernel[1] - 1)
            return (th // 2, th - th // 2, tw // 2, tw - tw // 2)
        raise ValueError(
            f"conv2d: padding must be an int, a pair, 'valid' or 'same', got {padding!r}"
        )
    ph, pw = _pair(padding, "padding", "conv2d")
    return (ph, ph, pw, pw)


def _batched(x: Tensor, op: str) -> tuple[Tensor, bool]:
    if x.ndim == 3:
        return S.reshape(x, (1, *x.shape)), True
    if x.ndim != 4:
        raise ValueError(f"{op}: expected input (N, C, H, W) or (C, H, W), got shape {x.shape}")
    return x, False


def conv2d(
    input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1, padding: Any = 0,
    dilation: Any = 1, groups: int = 1,
) -> Tensor:  # fmt: skip
    """2-D cross-correlation of ``input`` (N, C, H, W) or (C, H, W) with ``weight``
    (O, C/groups, kh, kw): every window as a row of a channels-last column matrix (one
    strided copy) and one matrix product with the weight (batched over groups); the result is
    channels-last in memory, which the next convolution reads without a copy.

    Example:
        >>> import chainrule as cr
        >>> conv2d(cr.ones(1, 1, 4, 4), cr.ones(2, 1, 3, 3), padding=1).shape
        (1, 2, 4, 4)
    """
    x, w = _t(input), _t(weight)
    if x.ndim not in (3, 4) or w.ndim != 4:
        raise ValueError(
            f"conv2d: expected input (N, C, H, W) or (C, H, W) and weight (O, C/groups, kh, kw), "
            f"got input {x.shape} and weight {w.shape}"
        )
    x, unbatched = _batched(x, "conv2d")
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    b = None if bias is None else _t(bias)
    _functions.check_same_dtype("conv2d", input=x, weight=w, bias=b)
    if kh < 1 or kw < 1:
        raise ValueError(
            f"conv2d: kernel size should be greater than zero, but weight {w.shape} has a "
            f"{kh} x {kw} kernel"
        )
    if groups < 1 or o % groups or cg * groups != c:
        raise ValueError(
            f"conv2d: input {x.shape} has {c} channels but weight {w.shape} with groups={groups} "
            f"expects {cg * groups} (and out channels {o} divisible by groups)"
        )
    stride_, dilation_ = _pair(stride, "stride", "conv2d"), _pair(dilation, "dilation", "conv2d")
    if min(stride_) < 1 or min(dilation_) < 1:
        raise ValueError(f"conv2d: stride {stride_} and dilation {dilation_} must be positive")
    pads = _conv_padding(padding, (kh, kw), dilation_, stride_)
    if min(pads) < 0:
        raise ValueError(f"conv2d: padding must be non-negative, got {padding!r}")
    oh = C.conv_output_size(h, kh, stride_[0], pads[0], pads[1], dilation_[0])
    ow = C.conv_output_size(wd, kw, stride_[1], pads[2], pads[3], dilation_[1])
    if oh <= 0 or ow <= 0:
        raise ValueError(
            f"conv2d: kernel {(kh, kw)} (dilation {dilation_}) is larger than the padded input "
            f"{(h + pads[0] + pads[1], wd + pads[2] + pads[3])}"
        )
    if b is not None and b.shape != (o,):
        raise ValueError(f"conv2d: bias must have shape ({o},) for weight {w.shape}, got {b.shape}")
    cols = None
    # built once, kept for the weight gradient (not for a value inside a transform, e.g. vmap)
    if w._requires_grad and is_grad_enabled() and not isinstance(x._data, Tracer):
        cols = C.saved_input(x._data, (kh, kw), stride_, pads, dilation_, groups, o)
    y = C.conv2d(x, w, stride_, pads, dilation_, groups, b, cols)
    return S.reshape(y, y.shape[1:]) if unbatched else y


def _out_size_transposed(size: int, k: int, s: int, p: int, d: int, op: int) -> int:
    return (size - 1) * s - 2 * p + d * (k - 1) + op + 1


def conv_transpose2d(
    input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1, padding: Any = 0,
    output_padding: Any = 0, groups: int = 1, dilation: Any = 1,
) -> Tensor:  # fmt: skip
    """2-D transposed convolution ("deconvolution") of ``input`` (N, C_in, H, W) or
    (C_in, H, W) with ``weight`` (C_in, C_out/groups, kh, kw), as PyTorch: the gradient of
    :func:`conv2d` with respect to its input, computed by the same primitive conv2d's
    backward uses (:data:`~chainrule.ops.conv.conv2d_input_grad`); output size
    ``(H - 1) stride - 2 padding + dilation (kh - 1) + output_padding + 1``.

    Example:
        >>> import chainrule as cr
        >>> conv_transpose2d(cr.ones(1, 1, 2, 2), cr.ones(1, 1, 2, 2), stride=2).shape
        (1, 1, 4, 4)
        >>> conv_transpose2d(cr.ones(1, 1, 2, 2), cr.ones(1, 1, 2, 2))
        tensor([[[[1., 2., 1.],
                  [2., 4., 2.],
                  [1., 2., 1.]]]])
    """
    x, w = _t(input), _t(weight)
    if x.ndim not in (3, 4):
        raise RuntimeError(
            "Expected 3D (unbatched) or 4D (batched) input to conv_transpose2d, but got input "
            f"of size: {list(x.shape)}"
        )
    if w.ndim != 4:
        raise RuntimeError(
            f"conv_transpose2d: expected weight (C_in, C_out/groups, kh, kw), got {list(w.shape)}"
        )
    x, unbatched = _batched(x, "conv_transpose2d")
    n, c, h, wd = x.shape
    cin, og, kh, kw = w.shape
    if groups < 1 or cin % groups:
        raise RuntimeError(
            f"conv_transpose2d: weight {list(w.shape)} has {cin} input channels, not divisible "
            f"by groups={groups}"
        )
    if cin != c:
        raise RuntimeError(
            f"Given transposed=1, weight of size {list(w.shape)}, expected input{list(x.shape)} "
            f"to have {cin} channels, but got {c} channels instead"
        )
    st, pd = (
        _pair(stride, "stride", "conv_transpose2d"),
        _pair(padding, "padding", "conv_transpose2d"),
    )
    opd = _pair(output_padding, "output_padding", "conv_transpose2d")
    dl = _pair(dilation, "dilation", "conv_transpose2d")
    if min(st) < 1 or min(dl) < 1 or min(pd) < 0 or min(opd) < 0:
        raise RuntimeError(
            f"conv_transpose2d: stride {st} and dilation {dl} must be positive, padding {pd} and "
            f"output_padding {opd} non-negative"
        )
    if any(o >= s and o >= d for o, s, d in zip(opd, st, dl)):
        raise RuntimeError(
            "output padding must be smaller than either stride or dilation, but got "
            f"output_padding_height: {opd[0]} output_padding_width: {opd[1]} stride_height: "
            f"{st[0]} stride_width: {st[1]} dilation_height: {dl[0]} dilation_width: {dl[1]}"
        )
    oh, ow = (_out_size_transposed(v, k, s, p, d, o)
              for v, k, s, p, d, o in zip((h, wd), (kh, kw), st, pd, dl, opd))  # fmt: skip
    if oh <= 0 or ow <= 0:
        raise RuntimeError(
            f"Given input size per channel: ({h} x {wd}). Calculated output size per channel: "
            f"({oh} x {ow}). Output size is too small"
        )
    b = None if bias is None else _t(bias)
    o = og * groups
    if b is not None and b.shape != (o,):
        raise RuntimeError(
            f"conv_transpose2d: bias must have shape ({o},) for weight {list(w.shape)}, got "
            f"{list(b.shape)}"
        )
    # the input gradient of the convolution whose weight this is, at the output's size
    pads = (pd[0], pd[0], pd[1], pd[1])
    # output_padding >= stride (allowed below the dilation) leaves a last output row that the
    # convolution reads one more input row for: that row is zero
    ch = C.conv_output_size(oh, kh, st[0], pd[0], pd[0], dl[0])
    cw = C.conv_output_size(ow, kw, st[1], pd[1], pd[1], dl[1])
    if (ch, cw) != (h, wd):
        x = S.pad(x, ((0, 0), (0, 0), (0, ch - h), (0, cw - wd)), 0.0)
    y = C.conv2d_input_grad(x, w, (n, o, oh, ow), st, pads, dl, groups)
    if b is not None:
        y = y + S.reshape(b, (1, o, 1, 1))
    return S.reshape(y, y.shape[1:]) if unbatched else y


_INTERP_MODES = ("nearest", "linear", "bilinear")


def _interp_matrix(size: int, out: int, scale: float | None, mode: str, align: bool,
                   dtype: Any, xp: Any) -> Any:  # fmt: skip
    """(out, size) matrix mapping one axis of the input to the output, PyTorch's source
    coordinates: nearest ``floor(dst * in/out)``; linear ``dst * (in-1)/(out-1)`` with
    ``align_corners``, else ``(dst + 0.5) in/out - 0.5`` clamped at 0, between its two
    neighbours. ``scale`` (from ``scale_factor``) replaces ``in/out`` when given."""
    m = np.zeros((out, size))
    dst = np.arange(out)
    rows = np.arange(out)
    if mode == "nearest":  # in float32, as PyTorch computes it
        r = np.float32(1.0 / scale) if scale else np.float32(size) / np.float32(out)
        src = np.minimum(np.floor(dst.astype(np.float32) * r).astype(np.int64), size - 1)
        m[rows, src] = 1.0
    else:
        if align:
            src = dst * ((size - 1) / (out - 1)) if out > 1 else np.zeros(out)
        else:
            r = 1.0 / scale if scale else size / out
            src = np.maximum((dst + 0.5) * r - 0.5, 0.0)
        i0 = np.minimum(np.floor(src).astype(np.int64), size - 1)
        i1 = np.minimum(i0 + 1, size - 1)
        lam = src - i0
        np.add.at(m, (rows, i0), 1.0 - lam)
        np.add.at(m, (rows, i1), lam)
    return xp.asarray(m.astype(dtype))


def interpolate(
    input: Tensor, size: Any = None, scale_factor: Any = None, mode: str = "nearest",
    align_corners: bool | None = None, recompute_scale_factor: bool | None = None,
    antialias: bool = False,
) -> Tensor:  # fmt: skip
    """Resize the spatial dims of ``input`` (N, C, L) or (N, C, H, W) to ``size`` or by
    ``scale_factor``, as PyTorch: modes ``'nearest'``, ``'linear'`` (3-D) and ``'bilinear'``
    (4-D), ``align_corners`` for the linear ones. Each axis is one product with a fixed
    (out, in) interpolation matrix, so the gradient (and every higher one) is exact.

    Example:
        >>> import chainrule as cr
        >>> x = cr.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
        >>> interpolate(x, scale_factor=2)[0, 0, 0]
        tensor([1., 1., 2., 2.])
        >>> interpolate(x, size=3, mode="bilinear", align_corners=True)[0, 0]
        tensor([[1. , 1.5, 2. ],
                [2. , 2.5, 3. ],
                [3. , 3.5, 4. ]])
    """
    x = _t(input)
    if mode not in _INTERP_MODES:
        raise NotImplementedError(
            f"interpolate: mode {mode!r} is not supported; chainrule has {', '.join(_INTERP_MODES)}"
        )
    if antialias:
        raise NotImplementedError("interpolate: antialias=True is not supported")
    if mode == "nearest" and align_corners is not None:
        raise ValueError(
            "align_corners option can only be set with the interpolating modes: linear | "
            "bilinear | bicubic | trilinear"
        )
    need = {"linear": 3, "bilinear": 4}.get(mode)
    if need is not None and x.ndim != need:
        raise NotImplementedError(f"Got {x.ndim}D input, but {mode} mode needs {need}D input")
    if x.ndim not in (3, 4):
        raise NotImplementedError(
            f"interpolate: expected a 3-D (N, C, L) or 4-D (N, C, H, W) input, got {x.ndim}-D"
        )
    if x.dtype.kind != "f":
        raise TypeError(f"interpolate: expected a floating input, got {x.dtype}")
    dims = x.ndim - 2
    in_sizes = tuple(x.shape[2:])
    if (size is None) == (scale_factor is None):
        raise ValueError(
            "either size or scale_factor should be defined"
            if size is None
            else "only one of size or scale_factor should be defined"
        )
    scales: tuple = (None,) * dims
    if size is not None:
        sizes = tuple(size) if isinstance(size, (tuple, list)) else (size,) * dims
        if len(sizes) != dims:
            raise ValueError(
                "Input and output must have the same number of spatial dimensions, but got "
                f"input with spatial dimensions of {list(in_sizes)} and output size of {size}. "
                "Please provide input tensor in (N, C, d1, d2, ...,dK) format and output size "
                "in (o1, o2, ...,oK) format."
            )
        sizes = tuple(int(s) for s in sizes)
    else:
        sf = (
            tuple(scale_factor) if isinstance(scale_factor, (tuple, list))
            else (scale_factor,) * dims
        )  # fmt: skip
        if len(sf) != dims:
            raise ValueError(
                "Input and scale_factor must have the same number of spatial dimensions, but "
                f"got input with spatial dimensions of {list(in_sizes)} and scale_factor of "
                f"shape {scale_factor}. Please provide input tensor in (N, C, d1, d2, ...,dK) "
                "format and scale_factor in (s1, s2, ...,sK) format."
            )
        sizes = tuple(int(math.floor(v * float(s))) for v, s in zip(in_sizes, sf))
        if not recompute_scale_factor:
            scales = tuple(float(s) for s in sf)
    if min(sizes) <= 0 or min(in_sizes) <= 0:
        names = ("W",) if dims == 1 else ("H", "W")
        ins = ", ".join(f"{k}: {v}" for k, v in zip(names, in_sizes))
        outs = ", ".join(f"{k}: {v}" for k, v in zip(names, sizes))
        raise RuntimeError(
            f"Input and output sizes should be greater than 0, but got input ({ins}) output "
            f"({outs})"
        )
    xp = array_module(x._data)
    align = bool(align_corners)
    out = x
    # the last axis: x @ A^T; the one before it (2-D): A @ x
    mw = _interp_matrix(in_sizes[-1], sizes[-1], scales[-1], mode, align, x.dtype, xp)
    out = L.matmul(out, Tensor._wrap(mw.T))
    if dims == 2:
        mh = _interp_matrix(in_sizes[0], sizes[0], scales[0], mode, align, x.dtype, xp)
        out = L.matmul(Tensor._wrap(mh), out)
    return out


def _single(v: Any, name: str, op: str) -> int:
    if isinstance(v, (tuple, list)):
        if len(v) != 1:
            raise ValueError(f"{op}: {name} must be an int or a 1-tuple, got {tuple(v)}")
        v = v[0]
    try:
        return int(v)
    except (TypeError, ValueError):
        raise TypeError(f"{op}: {name} must be an int or a 1-tuple, got {v!r}") from None


def conv1d(
    input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1, padding: Any = 0,
    dilation: Any = 1, groups: int = 1,
) -> Tensor:  # fmt: skip
    """1-D cross-correlation of ``input`` (N, C, L) or (C, L) with ``weight`` (O, C/groups, k).

    Composed from :func:`conv2d` over a height-1 axis, so it differentiates the same way.
    ``padding`` is an int, a 1-tuple, ``'valid'`` or ``'same'`` (stride 1 only).

    Example:
        >>> import chainrule as cr
        >>> conv1d(cr.ones(1, 2, 5), cr.ones(3, 2, 3), padding=1)
        tensor([[[4., 6., 6., 6., 4.],
                 [4., 6., 6., 6., 4.],
                 [4., 6., 6., 6., 4.]]])
    """
    x, w = _t(input), _t(weight)
    if x.ndim not in (2, 3) or w.ndim != 3:
        raise ValueError(
            f"conv1d: expected input (N, C, L) or (C, L) and weight (O, C/groups, k), got input "
            f"{x.shape} and weight {w.shape}"
        )
    c, o, cg = x.shape[-2], w.shape[0], w.shape[1]
    if groups < 1 or o % groups or cg * groups != c:
        raise ValueError(
            f"conv1d: input {x.shape} has {c} channels but weight {w.shape} with groups={groups} "
            f"expects {cg * groups} (and out channels {o} divisible by groups)"
        )
    _functions.check_same_dtype(
        "conv1d", input=x, weight=w, bias=None if bias is None else _t(bias)
    )
    if w.shape[2] < 1:
        raise ValueError(
            f"conv1d: kernel size should be greater than zero, but weight {w.shape} has size "
            f"{w.shape[2]}"
        )
    s, d = _single(stride, "stride", "conv1d"), _single(dilation, "dilation", "conv1d")
    if s < 1 or d < 1:
        raise ValueError(f"conv1d: stride {s} and dilation {d} must be positive")
    if isinstance(padding, str):
        if padding not in ("same", "valid"):
            raise ValueError(
                f"conv1d: padding must be an int, a 1-tuple, 'valid' or 'same', got {padding!r}"
            )
        if padding == "same" and s != 1:
            raise ValueError("conv1d: padding='same' is not supported for strided convolutions")
        pad2: Any = padding
    else:
        p = _single(padding, "padding", "conv1d")
        if p < 0:
            raise ValueError(f"conv1d: padding must be non-negative, got {p}")
        pad2 = (0, p)
    if bias is not None and _t(bias).shape != (o,):
        raise ValueError(
            f"conv1d: bias must have shape ({o},) for weight {w.shape}, got {_t(bias).shape}"
        )
    eff = d * (w.shape[2] - 1) + 1
    length = x.shape[-1] + (2 * pad2[1] if isinstance(pad2, tuple) else 0)
    if padding != "same" and eff > length:
        raise ValueError(
            f"conv1d: kernel {w.shape[2]} (dilation {d}) is larger than the padded input "
            f"length {length}"
        )
    x2 = S.reshape(x, (*x.shape[:-1], 1, x.shape[-1]))  # a height-1 image
    y = conv2d(x2, S.reshape(w, (o, cg, 1, w.shape[2])), bias, (1, s), pad2, (1, d), groups)
    return S.reshape(y, (*y.shape[:-2], y.shape[-1]))


def _pool_geometry(
    h: int, w: int, kernel: tuple, stride: tuple, padding: tuple, dilation: tuple, ceil: bool,
    op: str,
) -> tuple:  # fmt: skip
    """(top, bottom, left, right) padding of a pooling window, with PyTorch's output size rule:
    in ``ceil_mode`` the last window may hang over the end but must start inside the input."""
    pads = []
    for size, k, s, p, d in zip((h, w), kernel, stride, padding, dilation):
        if k < 1 or s < 1 or d < 1 or p < 0:
            raise ValueError(
                f"{op}: kernel_size {kernel}, stride {stride}, dilation {dilation} must be "
                f"positive and padding {padding} non-negative"
            )
        if p > k // 2:
            raise ValueError(f"{op}: padding {p} should be at most half the kernel size {k}")
        eff = d * (k - 1) + 1
        num = size + 2 * p - eff
        o = (-(-num // s) if ceil else num // s) + 1
        if ceil and (o - 1) * s >= size + p:
            o -= 1
        if o <= 0:
            raise ValueError(
                f"{op}: kernel {k} (dilation {d}) is larger than the padded input size "
                f"{size + 2 * p}"
            )
        pads += [p, p + max((o - 1) * s + eff - (size + 2 * p), 0)]
    return tuple(pads)


def _pool_args(kernel_size: Any, stride: Any, padding: Any, dilation: Any, op: str) -> tuple:
    k = _pair(kernel_size, "kernel_size", op)
    s = k if stride is None or stride == () or stride == [] else _pair(stride, "stride", op)
    return k, s, _pair(padding, "padding", op), _pair(dilation, "dilation", op)


def max_pool2d(
    input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
    ceil_mode: bool = False, return_indices: bool = False,
) -> Any:  # fmt: skip
    """Maximum over each window; the gradient goes to the first maximal element, as PyTorch.

    The argmax runs on arrays (one strided comparison per kernel position); the output is a
    gather at those indices, whose rule is a plain assignment when windows do not overlap.

    Example:
        >>> import chainrule as cr
        >>> max_pool2d(cr.arange(16.0).reshape(1, 1, 4, 4), 2)
        tensor([[[[ 5.,  7.],
                  [13., 15.]]]])
    """
    x, unbatched = _batched(_t(input), "max_pool2d")
    k, s, p, d = _pool_args(kernel_size, stride, padding, dilation, "max_pool2d")
    pads = _pool_geometry(x.shape[2], x.shape[3], k, s, p, d, ceil_mode, "max_pool2d")
    idx, disjoint = _nchw_call(C.window_argmax, x._data, k, s, pads, d)
    out = C.pool_gather(x, idx, disjoint)
    if unbatched:
        out, idx = S.reshape(out, out.shape[1:]), idx[0]
    return (out, Tensor._wrap(idx)) if return_indices else out


def avg_pool2d(
    input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
    count_include_pad: bool = True, divisor_override: int | None = None,
) -> Tensor:  # fmt: skip
    """Mean over each window (PyTorch's divisor rules for padding and ``ceil_mode``).

    Example:
        >>> import chainrule as cr
        >>> avg_pool2d(cr.arange(16.0).reshape(1, 1, 4, 4), 2)
        tensor([[[[ 2.5,  4.5],
                  [10.5, 12.5]]]])
    """
    x, unbatched = _batched(_t(input), "avg_pool2d")
    k, s, p, d = _pool_args(kernel_size, stride, padding, 1, "avg_pool2d")
    h, w = x.shape[2:]
    pads = _pool_geometry(h, w, k, s, p, d, ceil_mode, "avg_pool2d")
    total = C.window_sum(x, k, s, pads, d)
    if divisor_override:
        out = total / float(divisor_override)
    elif not any(pads):
        out = total * (1.0 / (k[0] * k[1]))
    else:
        # count the cells of each window inside the input (or inside input + padding); the
        # overhang that ceil_mode adds never counts
        xp = array_module(x._data)
        if count_include_pad:
            ones, cpads = xp.ones((1, 1, h + 2 * p[0], w + 2 * p[1]), x.dtype), (0, pads[1] - p[0])
            cpads += (0, pads[3] - p[1])
        else:
            ones, cpads = xp.ones((1, 1, h, w), x.dtype), pads
        out = total / C.window_sum(ones, k, s, cpads, d)
    return S.reshape(out, out.shape[1:]) if unbatched else out


def _adaptive_sizes(output_size: Any, in_sizes: tuple, op: str) -> tuple:
    n = len(in_sizes)
    if isinstance(output_size, (tuple, list)):
        sizes = tuple(output_size)
        if len(sizes) != n:
            raise ValueError(
                f"{op}: output_size must be an int or a {n}-tuple (None keeps a size), got "
                f"{output_size!r}"
            )
    else:
        sizes = (output_size,) * n
    out = []
    for size, keep in zip(sizes, in_sizes):
        if size is None:
            out.append(keep)
            continue
        try:
            v = operator.index(size)
        except TypeError:
            raise TypeError(
                f"{op}: output_size entries must be ints or None, got {output_size!r}"
            ) from None
        if v < 0:
            raise ValueError(
                f"{op}: elements of output_size must be greater than or equal to 0, got "
                f"{output_size!r}"
            )
        out.append(v)
    return tuple(out)


def _bin_matrix(size: int, out: int, dtype: Any, xp: Any) -> Any:
    """(out, size) averaging matrix: row i is 1/count on PyTorch's bin
    [floor(i*size/out), ceil((i+1)*size/out))."""
    m = np.zeros((out, size))
    for i in range(out):
        start, end = (i * size) // out, -(-((i + 1) * size) // out)
        m[i, start:end] = 1.0 / (end - start)
    return xp.asarray(m.astype(dtype))


def adaptive_avg_pool2d(input: Tensor, output_size: Any) -> Tensor:
    """Mean over PyTorch's adaptive bins: output row ``i`` of ``oh`` averages input rows
    ``floor(i*H/oh)`` to ``ceil((i+1)*H/oh) - 1`` (columns likewise). ``output_size`` is an int
    or a pair; ``None`` in it keeps that size. Input (N, C, H, W) or (C, H, W).

    A (1, 1) output is a mean, evenly dividing sizes a reshape and a mean; otherwise each axis
    is one product with a fixed averaging matrix.

    Example:
        >>> import chainrule as cr
        >>> adaptive_avg_pool2d(cr.arange(16.0).reshape(1, 4, 4), (2, 1))
        tensor([[[ 3.5],
                 [11.5]]])
    """
    x = _t(input)
    if x.ndim not in (3, 4):
        raise ValueError(
            f"adaptive_avg_pool2d: expected input (N, C, H, W) or (C, H, W), got shape {x.shape}"
        )
    h, w = x.shape[-2:]
    oh, ow = _adaptive_sizes(output_size, (h, w), "adaptive_avg_pool2d")
    if (h == 0 or w == 0) and oh * ow:
        raise ValueError(
            f"adaptive_avg_pool2d: input {x.shape} has an empty spatial dimension, so no "
            f"({oh}, {ow}) output can be averaged from it"
        )
    if x.dtype.kind != "f":
        raise TypeError(f"adaptive_avg_pool2d: expected a floating input, got {x.dtype}")
    lead, n = x.shape[:-2], x.ndim
    xp = array_module(x._data)
    if (oh, ow) == (h, w):
        return S.reshape(x, x.shape)
    if oh * ow == 0:  # an empty result, still connected to the graph
        return S.sum(x, (n - 2, n - 1), True) * xp.zeros((oh, ow), x.dtype)
    if (oh, ow) == (1, 1):
        return S.sum(x, (n - 2, n - 1), True) * (1.0 / (h * w))
    if h % oh == 0 and w % ow == 0:
        kh, kw = h // oh, w // ow
        blocks = S.reshape(x, (*lead, oh, kh, ow, kw))
        return S.sum(blocks, (n - 1, n + 1), False) * (1.0 / (kh * kw))
    out = x
    if ow != w:
        out = L.matmul(out, Tensor._wrap(_bin_matrix(w, ow, x.dtype, xp).T))
    if oh != h:
        out = L.matmul(Tensor._wrap(_bin_matrix(h, oh, x.dtype, xp)), out)
    return out


def adaptive_avg_pool1d(input: Tensor, output_size: Any) -> Tensor:
    """Mean over PyTorch's adaptive bins along the last axis of (N, C, L) or (C, L) input
    (see :func:`adaptive_avg_pool2d`).

    Example:
        >>> import chainrule as cr
        >>> adaptive_avg_pool1d(cr.tensor([[1.0, 2.0, 3.0, 4.0, 5.0]]), 2)  # bins [0, 3), [2, 5)
        tensor([[2., 4.]])
    """
    x = _t(input)
    if x.ndim not in (2, 3):
        raise ValueError(
            f"adaptive_avg_pool1d: expected input (N, C, L) or (C, L), got shape {x.shape}"
        )
    if isinstance(output_size, (tuple, list)):
        if len(output_size) != 1:
            raise ValueError(
                f"adaptive_avg_pool1d: output_size must be an int or a 1-tuple, got {output_size!r}"
            )
        output_size = output_size[0]
    if output_size is None:
        raise TypeError("adaptive_avg_pool1d: output_size must be an int, got None")
    y = adaptive_avg_pool2d(S.reshape(x, (*x.shape[:-1], 1, x.shape[-1])), (1, output_size))
    return S.reshape(y, (*y.shape[:-2], y.shape[-1]))


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by ``1 / (1 - p)`` (training
    only); draws from chainrule's global generator, so ``manual_seed`` makes it reproducible.

    Example:
        >>> import chainrule as cr
        >>> dropout(cr.ones(3), p=0.5, training=False)
        tensor([1., 1., 1.])
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: probability has to be between 0 and 1, but got {p}")
    x = _t(input)
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return _maybe_inplace(x, x * 0, inplace)
    keep = default_rng().random(x.shape, dtype=np.float32) >= p
    if not isinstance(keep, Tracer):  # inside vmap(randomness='different') it is batched
        keep = array_module(x._data).asarray(keep)
    mask = keep.astype(x.dtype)
    mask *= 1.0 / (1.0 - p)
    return _maybe_inplace(x, x * mask, inplace)


def _nchw_call(fn: Any, a: Any, *args: Any) -> Any:
    """``fn(a, *args)``; inside ``vmap`` through its batching of NCHW array functions."""
    if isinstance(a, Tracer):
        return nchw_call(fn, a, *args)
    return fn(a, *args)


def _maybe_inplace(x: Tensor, out: Tensor, inplace: bool) -> Tensor:
    """``inplace=True``: write ``out`` into ``x`` (recorded like any in-place op) and return it."""
    return x.copy_(out) if inplace else out


def dropout2d(
    input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False
) -> Tensor:
    """Zero whole channels: each ``(n, c)`` feature map of a (N, C, H, W) input is zeroed with
    probability ``p`` and the rest scaled by ``1 / (1 - p)`` (training only).

    As in PyTorch, a 3-D input is read as (N, C, L) (one mask per ``(n, c)`` pair, with a
    warning), not as an unbatched (C, H, W) one.

    Example:
        >>> import chainrule as cr
        >>> _ = cr.manual_seed(0)
        >>> y = dropout2d(cr.ones(1, 6, 2, 2), p=0.5)
        >>> sorted(set(y.reshape(6, 4).mean(1).tolist()))
        [0.0, 2.0]
        >>> dropout2d(cr.ones(1, 1, 1, 2), training=False)
        tensor([[[[1., 1.]]]])
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout2d: probability has to be between 0 and 1, but got {p}")
    x = _t(input)
    if x.ndim not in (3, 4):
        raise ValueError(
            f"dropout2d: expected input (N, C, H, W) (or (N, C, L)), got shape {x.shape}"
        )
    if x.ndim == 3:
        warnings.warn(
            "dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D "
            "dropout behavior is desired - input is interpreted as shape (N, C, L), where C is "
            "the channel dim. To maintain the 1D channel-wise dropout behavior, please switch "
            "to using dropout1d instead.",
            UserWarning,
            stacklevel=2,
        )
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return _maybe_inplace(x, x * 0, inplace)
    u = default_rng().random(x.shape[:2], dtype=np.float32)
    mask = array_module(x._data).asarray(u >= p).astype(x.dtype)
    mask *= 1.0 / (1.0 - p)
    return _maybe_inplace(x, x * mask.reshape(x.shape[:2] + (1,) * (x.ndim - 2)), inplace)


def embedding(
    input: Tensor,
    weight: Tensor,
    padding_idx: int | None = None,
    max_norm: float | None = None,
    norm_type: float = 2.0,
    scale_grad_by_freq: bool = False,
    sparse: bool = False,
) -> Tensor:
    """Rows of ``weight`` at the integer indices ``input``; the ``padding_idx`` row gets no
    gradient. Every index must lie in ``[0, num_embeddings)``: as in PyTorch, a negative one is
    an error, not a count from the end. With ``max_norm``, each looked-up row whose
    ``norm_type``-norm exceeds it is first rescaled to that norm, in ``weight`` itself (as
    PyTorch: an in-place change, seen by any graph that saved the weight).

    Example:
        >>> import chainrule as cr
        >>> embedding(cr.tensor([[0, 2]]), cr.eye(3)).shape
        (1, 2, 3)
    """
    idx, w = _t(input), _t(weight)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"embedding: indices must be an integer tensor, got {idx.dtype}")
    num = w.shape[0]
    if idx.numel():
        lo, hi = int(idx._data.min()), int(idx._data.max())
        if lo < 0 or hi >= num:
            raise IndexError(
                f"embedding: index {lo if lo < 0 else hi} is out of range for "
                f"num_embeddings={num} (indices must lie in [0, {num}))"
            )
    if scale_grad_by_freq or sparse:
        raise NotImplementedError(
            "embedding: scale_grad_by_freq and sparse gradients are not supported (chainrule "
            "has no sparse tensors); leave them False"
        )
    if max_norm is not None:
        _renorm_rows_(w, idx._data, float(max_norm), float(norm_type))
    out = I.getitem(w, idx._data)
    if padding_idx is None or not w.requires_grad:
        return out
    pad_row = padding_idx % num
    with no_grad():
        frozen = I.getitem(w, idx._data)
    keep = np.expand_dims(idx._data % num != pad_row, -1)
    return E.where(keep, out, frozen)


def _renorm_rows_(w: Tensor, idx: Any, max_norm: float, norm_type: float) -> None:
    """PyTorch's ``embedding_renorm_``: rows of ``w`` used by ``idx`` with a norm over
    ``max_norm`` are scaled down to it, in place."""
    xp = array_module(w._data)
    rows = xp.unique(idx.reshape(-1))
    norms = xp.linalg.norm(w._data[rows].astype(np.float64), ord=norm_type, axis=1)
    big = norms > max_norm
    if not bool(big.any()):
        return
    rows, scale = rows[big], (max_norm / (norms[big] + 1e-7)).astype(w.dtype)

    def write(a: Any) -> None:
        a[rows] *= scale[:, None]

    w._mutate(write)


def _blend_(running: Any, new: Any, momentum: float) -> None:
    """``running = (1 - momentum) * running + momentum * new``, in place."""
    running *= 1 - momentum
    running += momentum * new


def batch_norm(
    input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
    weight: Tensor | None = None, bias: Tensor | None = None, training: bool = False,
    momentum: float = 0.1, eps: float = 1e-5,
) -> Tensor:  # fmt: skip
    """Normalize over the batch (and spatial) dimensions per channel (dimension 1).

    In training it uses the batch statistics and updates ``running_mean``/``running_var`` in
    place (the running variance with the unbiased estimate, as PyTorch); otherwise it uses them.

    Example:
        >>> import chainrule as cr
        >>> out = batch_norm(cr.tensor([[1.0], [3.0]]), None, None, training=True)
        >>> [round(v, 3) for v in out.reshape(-1).tolist()]
        [-1.0, 1.0]
    """
    x = _t(input)
    if x.ndim < 2:
        raise ValueError(f"batch_norm: expected at least 2 dimensions (N, C, ...), got {x.shape}")
    c = x.shape[1]
    for name, v in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):  # fmt: skip
        if v is not None and _t(v).numel() != c:
            raise ValueError(
                f"batch_norm: {name} should contain {c} elements (one per channel of input "
                f"{x.shape}), not {_t(v).numel()}"
            )
    shape = (1, c) + (1,) * (x.ndim - 2)
    if training:
        n = x.numel() // c
        if n <= 1:
            raise ValueError(
                "batch_norm: expected more than 1 value per channel when training, "
                f"got input {x.shape}"
            )
        mean, var, invstd = BN.batch_stats(x._data, eps)
        if running_mean is not None and running_var is not None:
            if isinstance(mean, BatchTracer):  # as torch.func.vmap
                raise RuntimeError(
                    "batch_norm: got a batched tensor as input (inside vmap) while the "
                    "running_mean or running_var, which will be updated in place, were not "
                    "batched. If you are using a module and do not need eval mode, set "
                    "track_running_stats=False; or call it in eval mode"
                )
            m = momentum
            unbiased = var * (n / (n - 1))
            running_mean._mutate(lambda a: _blend_(a, mean, m))
            running_var._mutate(lambda a: _blend_(a, unbiased, m))
        # one primitive: normalize, scale and shift, its backward in closed form
        w = None if weight is None else _t(weight)
        b = None if bias is None else _t(bias)
        w = w if w is None or w.shape == (c,) else S.reshape(w, (c,))
        b = b if b is None or b.shape == (c,) else S.reshape(b, (c,))
        return BN.batch_norm_train(x, w, b, mean, invstd, eps)
    if running_mean is None or running_var is None:
        raise ValueError("batch_norm: running_mean and running_var are needed in eval mode")
    # eval: one multiply-add per element with the running statistics folded into it
    xp = array_module(x._data)
    rm = running_mean._data.reshape(shape)
    inv = (1.0 / xp.sqrt(running_var._data.reshape(shape) + eps)).astype(x.dtype)
    scale: Any = inv if weight is None else S.reshape(_t(weight), shape) * inv
    shift: Any = scale * (-rm)
    if bias is not None:
        shift = shift + S.reshape(_t(bias), shape)
    return x * scale + shift


def layer_norm(
    input: Tensor, normalized_shape: Sequence[int] | int, weight: Tensor | None = None,
    bias: Tensor | None = None, eps: float = 1e-5,
) -> Tensor:  # fmt: skip
    """Normalize over the last ``len(normalized_shape)`` dimensions of each sample.

    Example:
        >>> import chainrule as cr
        >>> [round(v, 3) for v in layer_norm(cr.tensor([[1.0, 3.0]]), (2,)).reshape(-1).tolist()]
        [-1.0, 1.0]
    """
    x = _t(input)
    ns = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if x.shape[x.ndim - len(ns) :] != ns:
        raise ValueError(
            f"layer_norm: normalized_shape {ns} does not match the last dimensions of {x.shape}"
        )
    _floating(x, "layer_norm")
    w = None if weight is None else _t(weight)
    b = None if bias is None else _t(bias)
    for name, p in (("weight", w), ("bias", b)):
        if p is not None and tuple(p.shape) != ns:
            raise ValueError(
                f"layer_norm: {name} of shape {tuple(p.shape)} does not match normalized_shape {ns}"
            )
    axes = tuple(range(x.ndim - len(ns), x.ndim))
    return N.layer_norm(x, w, b, axes=axes, eps=float(eps))


def group_norm(
    input: Tensor, num_groups: int, weight: Tensor | None = None, bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:  # fmt: skip
    """Normalize each sample over groups of ``C / num_groups`` channels (and all spatial
    positions), with the biased variance; then scale and shift per channel.

    Example:
        >>> import chainrule as cr
        >>> x = cr.tensor([[1.0, 3.0, 10.0, 30.0]])
        >>> [round(v, 3) for v in group_norm(x, 2).reshape(-1).tolist()]
        [-1.0, 1.0, -1.0, 1.0]
    """
    x = _t(input)
    if x.ndim < 2:
        raise ValueError(f"group_norm: expected input (N, C, *), got shape {x.shape}")
    n, c = x.shape[:2]
    if not isinstance(num_groups, (int, np.integer)) or num_groups < 1 or c % num_groups:
        raise ValueError(
            "group_norm: expected number of channels in input to be divisible by num_groups, "
            f"but got input of shape {x.shape} and num_groups={num_groups!r}"
        )
    g = int(num_groups)
    m = (c // g) * int(np.prod(x.shape[2:], dtype=np.int64))
    xg = S.reshape(x, (n, g, m))
    if m == 0:
        raise ValueError(f"group_norm: input {x.shape} has no values to normalize per group")
    mean = S.sum(xg, (2,), True) / m
    d = xg - mean
    var = S.sum(d * d, (2,), True) / m
    out = S.reshape(d / E.sqrt(var + eps), x.shape)
    shape = (1, c) + (1,) * (x.ndim - 2)
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and _t(t).shape != (c,):
            raise ValueError(
                f"group_norm: {name} must have shape ({c},) for input {x.shape}, got {_t(t).shape}"
            )
    if weight is not None:
        out = out * S.reshape(_t(weight), shape)
    if bias is not None:
        out = out + S.reshape(_t(bias), shape)
    return out


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """Integer class indices as one-hot rows (int64), ``num_classes`` wide.

    Example:
        >>> import chainrule as cr
        >>> one_hot(cr.tensor([0, 2]), 3)
        tensor([[1, 0, 0],
                [0, 0, 1]])
    """
    t = _t(tensor)
    if t.dtype.kind not in "iu":
        raise TypeError(f"one_hot: expected an integer tensor, got {t.dtype}")
    if num_classes < 0 and t.numel() == 0:
        raise ValueError("one_hot: cannot infer num_classes from an empty tensor; pass num_classes")
    k = int(t._data.max()) + 1 if num_classes < 0 else num_classes
    if t.numel() and (t._data.min() < 0 or t._data.max() >= k):
        raise ValueError(
            f"one_hot: class values must be in [0, {k}), got {t._data.min()}..{t._data.max()}"
        )
    return Tensor._wrap((t._data[..., None] == np.arange(k)).astype(np.int64))


# ----- attention and RMS normalization --------------------------------------------------------
def _attention_mask(attn_mask: Any, q: Tensor, n_key: int, op: str) -> Any:
    """``attn_mask`` checked: boolean (True: take part) or of the query's float dtype, and
    broadcastable to the scores ``(..., L, S)``. A tensor stays a tensor (a float mask can
    require grad); anything else becomes an array."""
    m = attn_mask if isinstance(attn_mask, Tensor) else np.asarray(attn_mask)
    kind = m.dtype.kind
    if kind != "b" and m.dtype != q.dtype:
        raise TypeError(
            f"{op}: attn_mask must be boolean or of the query's dtype {q.dtype}, got {m.dtype}"
        )
    try:
        np.broadcast_shapes(tuple(m.shape), tuple(q.shape[:-1]) + (n_key,))
    except ValueError:
        raise ValueError(
            f"{op}: attn_mask of shape {tuple(m.shape)} does not broadcast to the attention "
            f"scores {tuple(q.shape[:-1]) + (n_key,)} (query {tuple(q.shape)})"
        ) from None
    return m


def _group_heads(q: Tensor, k: Tensor, v: Tensor, mask: Any, op: str) -> tuple:
    """Grouped-query attention without copies: ``(..., Hq, L, E)`` queries become
    ``(..., Hkv, Hq / Hkv, L, E)`` and keys/values ``(..., Hkv, 1, S, E)``."""
    hq, hk = q.shape[-3], k.shape[-3]
    if hk != v.shape[-3] or hk == 0 or hq % hk:
        raise ValueError(
            f"{op}: enable_gqa needs the query heads ({hq}) to be a multiple of the key and "
            f"value heads ({hk}, {v.shape[-3]})"
        )
    group = hq // hk
    q = S.reshape(q, (*q.shape[:-3], hk, group, *q.shape[-2:]))
    k = S.reshape(k, (*k.shape[:-3], hk, 1, *k.shape[-2:]))
    v = S.reshape(v, (*v.shape[:-3], hk, 1, *v.shape[-2:]))
    if mask is not None:
        shape = (1,) * max(0, q.ndim - 1 - mask.ndim) + tuple(mask.shape)
        heads = (hk, group) if shape[-3] == hq else (1, 1)
        new = (*shape[:-3], *heads, *shape[-2:])
        mask = S.reshape(mask, new) if isinstance(mask, Tensor) else mask.reshape(new)
    return q, k, v, mask


def scaled_dot_product_attention(
    query: Tensor, key: Tensor, value: Tensor, attn_mask: Any = None, dropout_p: float = 0.0,
    is_causal: bool = False, scale: float | None = None, enable_gqa: bool = False,
) -> Tensor:  # fmt: skip
    """``softmax(query key^T * scale + mask) value``, as PyTorch's, in one fused primitive.

    ``query (..., L, E)``, ``key (..., S, E)``, ``value (..., S, Ev)`` -> ``(..., L, Ev)``; the
    batch dimensions broadcast. ``attn_mask`` is boolean (True: the key takes part, as in
    PyTorch) or a float mask added to the scores; it broadcasts to ``(..., L, S)``.
    ``is_causal`` lets query ``i`` see keys ``0..i``; ``scale`` defaults to ``1/sqrt(E)``;
    ``dropout_p`` drops probabilities (always: pass 0 at eval time); ``enable_gqa`` lets fewer
    key/value heads (dim -3) serve groups of query heads. A query whose keys are all masked out
    gets zeros, and zero gradients.

    Example:
        >>> import chainrule as cr
        >>> q = k = v = cr.ones(1, 2, 3, 4)
        >>> scaled_dot_product_attention(q, k, v, is_causal=True).shape
        (1, 2, 3, 4)
    """
    op = "scaled_dot_product_attention"
    q, k, v = _t(query), _t(key), _t(value)
    for name, t in (("query", q), ("key", k), ("value", v)):
        if t.ndim < 2 or t.dtype.kind != "f":
            raise ValueError(
                f"{op}: {name} must be a floating tensor with at least 2 dimensions, got "
                f"{t.dtype} of shape {tuple(t.shape)}"
            )
    if not q.dtype == k.dtype == v.dtype:
        raise TypeError(
            f"{op}: query, key and value must have the same dtype, got {q.dtype}, {k.dtype} "
            f"and {v.dtype}"
        )
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ValueError(
            f"{op}: query {tuple(q.shape)}, key {tuple(k.shape)} and value {tuple(v.shape)} "
            "must be (..., L, E), (..., S, E) and (..., S, Ev)"
        )
    if not 0.0 <= dropout_p <= 1.0:
        raise ValueError(f"{op}: dropout_p has to be between 0 and 1, but got {dropout_p}")
    mask = None
    if attn_mask is not None:
        if is_causal:
            raise ValueError(f"{op}: an explicit attn_mask should not be set when is_causal=True")
        mask = _attention_mask(attn_mask, q, k.shape[-2], op)
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    heads = q.shape[-3] if q.ndim >= 3 else None
    grouped = enable_gqa and q.ndim >= 3 and k.ndim >= 3 and k.shape[-3] != heads
    if grouped:
        q, k, v, mask = _group_heads(q, k, v, mask, op)
    drop = None
    if dropout_p > 0.0:
        lead = np.broadcast_shapes(
            q.shape[:-2], k.shape[:-2], tuple(mask.shape[:-2]) if mask is not None else ()
        )
        shape = (*lead, q.shape[-2], k.shape[-2])
        if dropout_p == 1.0:
            drop = np.zeros(shape, q.dtype)
        else:
            drop = (default_rng().random(shape, dtype=np.float32) >= dropout_p).astype(q.dtype)
            drop *= 1.0 / (1.0 - dropout_p)
        if not isinstance(drop, Tracer):  # inside vmap(randomness='different') it is batched
            drop = array_module(q._data).asarray(drop)
    inputs = (q, k, v, mask)
    last = max((i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad),
               default=-1)  # fmt: skip
    out = A.sdpa(q, k, v, mask, drop, scale=scale, causal=bool(is_causal), saved=A.Saved(last))
    if grouped:
        out = S.reshape(out, (*out.shape[:-4], heads, *out.shape[-2:]))
    return out


def rms_norm(
    input: Tensor, normalized_shape: Sequence[int] | int, weight: Tensor | None = None,
    eps: float | None = None,
) -> Tensor:  # fmt: skip
    """Root-mean-square normalization over the last ``len(normalized_shape)`` dimensions:
    ``x / sqrt(mean(x^2) + eps) * weight``; ``eps`` defaults to the dtype's machine epsilon,
    as in PyTorch.

    Example:
        >>> import chainrule as cr
        >>> rms_norm(cr.tensor([[3.0, -3.0]]), (2,))
        tensor([[ 1., -1.]])
    """
    x = _t(input)
    ns = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if x.ndim < len(ns) or tuple(x.shape[x.ndim - len(ns) :]) != ns:
        raise ValueError(
            f"rms_norm: normalized_shape {ns} does not match the last dimensions of "
            f"{tuple(x.shape)}"
        )
    if weight is not None and tuple(_t(weight).shape) != ns:
        raise ValueError(
            f"rms_norm: weight of shape {tuple(_t(weight).shape)} does not match "
            f"normalized_shape {ns}"
        )
    if eps is None:
        eps = float(np.finfo(x.dtype).eps)
    _floating(x, "rms_norm")
    axes = tuple(range(x.ndim - len(ns), x.ndim))
    w = None if weight is None else _t(weight)
    return N.rms_norm(x, w, axes=axes, eps=float(eps))
