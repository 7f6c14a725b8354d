"""``chainrule.nn.functional``: activations, losses and layers as functions, PyTorch's signatures.

Conventionally imported as ``F``. Everything is built from primitives, so every function here is
differentiable, twice over.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import functions as T
from ..autograd.grad_mode import no_grad
from ..functions import pad, relu, sigmoid, tanh
from ..ops import elementwise as E
from ..ops import index as I
from ..ops import neural as N
from ..ops import shape as S
from ..random import default_rng
from ..tensor import Tensor, as_tensor

__all__ = [
    "relu", "leaky_relu", "elu", "gelu", "silu", "softplus", "sigmoid", "tanh", "softmax",
    "log_softmax", "cross_entropy", "nll_loss", "binary_cross_entropy",
    "binary_cross_entropy_with_logits", "mse_loss", "l1_loss", "huber_loss", "smooth_l1_loss",
    "linear", "conv2d", "max_pool2d", "avg_pool2d", "dropout", "embedding", "batch_norm",
    "layer_norm", "one_hot", "pad",
]  # fmt: skip


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
        return T.mean(loss)
    if reduction == "sum":
        return T.sum(loss)
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
    return E.where(x > 0, x, E.expm1(E.minimum(x, 0)) * alpha)


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """Gaussian error linear unit ``x * Phi(x)``; ``approximate='tanh'`` uses the tanh formula.

    Example:
        >>> import chainrule as cr
        >>> gelu(cr.tensor([0.0, 1.0]))
        tensor([0.    , 0.8413])
    """
    x = _t(input)
    if approximate == "none":
        return x * 0.5 * (N.erf(x * (1 / math.sqrt(2))) + 1)
    if approximate == "tanh":
        inner = (x + x * x * x * 0.044715) * math.sqrt(2 / math.pi)
        return x * 0.5 * (E.tanh(inner) + 1)
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


def silu(input: Tensor) -> Tensor:
    """``x * sigmoid(x)`` (also called swish).

    Example:
        >>> import chainrule as cr
        >>> silu(cr.tensor([0.0]))
        tensor([0.])
    """
    x = _t(input)
    return x * E.sigmoid(x)


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """``log(1 + e^(beta x)) / beta``, and ``x`` itself where ``beta x > threshold``.

    Example:
        >>> import chainrule as cr
        >>> softplus(cr.tensor([0.0, 100.0]))
        tensor([  0.6931, 100.    ])
    """
    x = _t(input)
    bx = x * beta
    soft = E.log1p(E.exp(E.minimum(bx, threshold))) / beta
    return E.where(bx > threshold, x, soft)


def _dim(dim: int | None, x: Tensor, op: str) -> int:
    if dim is None:  # PyTorch's legacy implicit choice
        dim = 0 if x.ndim in (0, 1, 3) else 1
    return S.normalize_dim(dim, x.ndim, op)


def softmax(input: Tensor, dim: int | None = None, dtype: Any = None) -> Tensor:
    """``e^x / sum(e^x)`` along ``dim``, computed stably.

    Example:
        >>> import chainrule as cr
        >>> softmax(cr.tensor([1.0, 1.0]), dim=0)
        tensor([0.5, 0.5])
    """
    x = _t(input) if dtype is None else _t(input).to(dtype)
    return N.softmax(x, axis=_dim(dim, x, "softmax"))


def log_softmax(input: Tensor, dim: int | None = None, dtype: Any = None) -> Tensor:
    """``x - logsumexp(x)`` along ``dim``: one fused, stable primitive.

    Example:
        >>> import chainrule as cr
        >>> log_softmax(cr.tensor([1e4, 1e4]), dim=0)
        tensor([-0.6931, -0.6931])
    """
    x = _t(input) if dtype is None else _t(input).to(dtype)
    return N.log_softmax(x, axis=_dim(dim, x, "log_softmax"))


# ----- losses -------------------------------------------------------------------------------
def _check_class_target(input: Tensor, target: Tensor, op: str) -> None:
    if target.dtype.kind not in "iu":
        raise TypeError(
            f"{op}: class-index target must be an integer tensor, got {target.dtype} "
            f"(for class probabilities pass a float target of the input's shape {input.shape})"
        )
    want = input.shape[:1] + input.shape[2:] if input.ndim >= 2 else ()
    if target.shape != want:
        raise ValueError(
            f"{op}: input of shape {input.shape} needs a target of shape {want}, got {target.shape}"
        )


def nll_loss(
    input: Tensor, target: Tensor, weight: Tensor | None = None, ignore_index: int = -100,
    reduction: str = "mean",
) -> Tensor:  # fmt: skip
    """Negative log-likelihood of class indices ``target`` under log-probabilities ``input``
    of shape ``(N, C)`` or ``(N, C, d1, ...)`` (or ``(C,)`` with a 0-d target).

    Example:
        >>> import chainrule as cr
        >>> nll_loss(cr.tensor([[-0.5, -1.0], [-2.0, -0.1]]), cr.tensor([0, 1]))
        tensor(0.3)
    """
    x, t = _t(input), _t(target)
    _check_class_target(x, t, "nll_loss")
    if x.ndim == 1:
        x, t = S.reshape(x, (1, x.shape[0])), S.reshape(t, (1,))
    c = x.shape[1]
    ti = t._data
    ignored = ti == ignore_index
    has_ignored = bool(ignored.any())
    safe = np.where(ignored, 0, ti) if has_ignored else ti
    if safe.size and (safe.min() < 0 or safe.max() >= c):
        bad = int(safe[(safe < 0) | (safe >= c)].reshape(-1)[0])
        raise IndexError(f"nll_loss: target {bad} is out of bounds for {c} classes")
    picked = I.gather(x, 1, np.expand_dims(safe, 1))
    picked = S.reshape(picked, picked.shape[:1] + picked.shape[2:])
    if weight is None and not has_ignored:
        if reduction == "mean":
            return -S.sum(picked, None, False) / max(picked._data.size, 1)
        return _reduce(-picked, reduction, "nll_loss")
    w = np.ones(c, dtype=x.dtype) if weight is None else _t(weight)._data.astype(x.dtype)
    wt = w[safe] * (~ignored)
    loss = -picked * wt
    if reduction == "mean":
        return S.sum(loss, None, False) / wt.sum()
    return _reduce(loss, reduction, "nll_loss")


def cross_entropy(
    input: Tensor, target: Tensor, weight: Tensor | None = None, ignore_index: int = -100,
    reduction: str = "mean", label_smoothing: float = 0.0,
) -> Tensor:  # fmt: skip
    """Cross-entropy between logits ``input`` (N, C, ...) and class indices or class
    probabilities ``target``; log-softmax and NLL fused for stability.

    Example:
        >>> import chainrule as cr
        >>> cross_entropy(cr.tensor([[1e4, -1e4]]), cr.tensor([1]))
        tensor(20000.)
    """
    x, t = _t(input), _t(target)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    cdim = 1 if x.ndim >= 2 else 0
    logp = N.log_softmax(x, axis=cdim)
    c = x.shape[cdim]
    wshape = (c,) + (1,) * (x.ndim - cdim - 1)
    w = None if weight is None else _t(weight)._data.astype(x.dtype).reshape(wshape)
    if t.dtype.kind == "f":  # class probabilities
        if t.shape != x.shape:
            raise ValueError(
                f"cross_entropy: probability target must have the input's shape {x.shape}, "
                f"got {t.shape}"
            )
        if label_smoothing:
            t = t * (1 - label_smoothing) + label_smoothing / c
        terms = logp * t if w is None else logp * t * w
        loss = -S.sum(terms, (cdim,), False)
        if reduction == "mean":
            return S.sum(loss, None, False) / max(loss._data.size, 1)
        return _reduce(loss, reduction, "cross_entropy")
    nll = nll_loss(logp, t, weight, ignore_index, reduction)
    if not label_smoothing:
        return nll
    _check_class_target(x, t, "cross_entropy")
    keep = (t._data != ignore_index)[:, None] if x.ndim >= 2 else np.asarray(True)
    if x.ndim >= 2:
        keep = np.expand_dims(t._data != ignore_index, cdim)
    terms = logp if w is None else logp * w
    smooth = -S.sum(terms * keep, (cdim,), False) / c
    if reduction == "mean":
        if w is None:
            denom = max(int(keep.sum()), 1)
        else:
            safe = np.where(t._data == ignore_index, 0, t._data)
            denom = float((w.reshape(-1)[safe] * (t._data != ignore_index)).sum())
        smooth = S.sum(smooth, None, False) / denom
    else:
        smooth = _reduce(smooth, reduction, "cross_entropy")
    return nll * (1 - label_smoothing) + smooth * label_smoothing


def _same_shape(x: Tensor, t: Tensor, op: str) -> None:
    if x.shape != t.shape:
        raise ValueError(
            f"{op}: target shape {t.shape} differs from input shape {x.shape}; "
            "they must match (no broadcasting, as in PyTorch)"
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
    loss = N.bce(x, t)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction, "binary_cross_entropy")


def binary_cross_entropy_with_logits(
    input: Tensor, target: Tensor, weight: Tensor | None = None, reduction: str = "mean",
    pos_weight: Tensor | None = None,
) -> Tensor:  # fmt: skip
    """Sigmoid and binary cross-entropy in one stable formula:
    ``(1 - t) x + (1 + (pos_weight - 1) t) (log(1 + e^-|x|) + max(-x, 0))``.

    Example:
        >>> import chainrule as cr
        >>> binary_cross_entropy_with_logits(cr.tensor([1e4, -1e4]), cr.tensor([1.0, 0.0]))
        tensor(0.)
    """
    x, t = _t(input), _t(target)
    _same_shape(x, t, "binary_cross_entropy_with_logits")
    softplus_neg = E.log1p(E.exp(-E.abs(x))) + E.relu(-x)  # log(1 + e^-x), stably
    if pos_weight is None:
        loss = (1 - t) * x + softplus_neg
    else:
        loss = (1 - t) * x + (1 + (pos_weight - 1) * t) * softplus_neg
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
    if w.ndim != 2 or x.ndim == 0 or x.shape[-1] != w.shape[1]:
        raise ValueError(
            f"linear: input of shape {x.shape} cannot be multiplied with weight of shape "
            f"{w.shape} (expects input (*, {w.shape[-1] if w.ndim else '?'}))"
        )
    if bias is None:
        return N.linear(x, w)
    b = _t(bias)
    if b.shape not in ((w.shape[0],), ()):
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


def conv2d(
    input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1, padding: Any = 0,
    dilation: Any = 1, groups: int = 1,
) -> Tensor:  # fmt: skip
    """2-D cross-correlation of ``input`` (N, C, H, W) with ``weight`` (O, C/groups, kh, kw):
    im2col (every window as a row, one copy) and one matrix product per group.

    Example:
        >>> import chainrule as cr
        >>> conv2d(cr.ones(1, 1, 4, 4), cr.ones(2, 1, 3, 3), padding=1).shape
        (1, 2, 4, 4)
    """
    x, w = _t(input), _t(weight)
    unbatched = x.ndim == 3
    if unbatched:
        x = S.reshape(x, (1, *x.shape))
    if x.ndim != 4 or w.ndim != 4:
        raise ValueError(
            f"conv2d: expected input (N, C, H, W) or (C, H, W) and weight (O, C/groups, kh, kw), "
            f"got input {tuple(input.shape)} and weight {w.shape}"
        )
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    if groups < 1 or c % groups or o % groups or cg * groups != c:
        raise ValueError(
            f"conv2d: input has {c} channels but weight {w.shape} with groups={groups} "
            f"expects {cg * groups}"
        )
    stride_, dilation_ = _pair(stride, "stride", "conv2d"), _pair(dilation, "dilation", "conv2d")
    pads = _conv_padding(padding, (kh, kw), dilation_, stride_)
    oh = N.conv_output_size(h, kh, stride_[0], pads[0], pads[1], dilation_[0])
    ow = N.conv_output_size(wd, kw, stride_[1], pads[2], pads[3], dilation_[1])
    if oh <= 0 or ow <= 0:
        raise ValueError(
            f"conv2d: kernel {(kh, kw)} (dilation {dilation_}) is larger than the padded input "
            f"{(h + pads[0] + pads[1], wd + pads[2] + pads[3])}"
        )
    outs = []
    og = o // groups
    for gi in range(groups):
        xg = x if groups == 1 else I.getitem(x, (slice(None), slice(gi * cg, (gi + 1) * cg)))
        wg = w if groups == 1 else I.getitem(w, slice(gi * og, (gi + 1) * og))
        cols = N.im2col(xg, (kh, kw), stride_, pads, dilation_, 0.0)  # (n*oh*ow, cg*kh*kw)
        bg = None
        if bias is not None:
            bg = bias if groups == 1 else I.getitem(_t(bias), slice(gi * og, (gi + 1) * og))
        y = N.linear(cols, S.reshape(wg, (og, cg * kh * kw)), *(() if bg is None else (bg,)))
        outs.append(y)
    y = outs[0] if groups == 1 else S.cat(*outs, axis=1)
    y = S.permute(S.reshape(y, (n, oh, ow, o)), (0, 3, 1, 2))
    return S.reshape(y, y.shape[1:]) if unbatched else y


def _pool_geometry(
    h: int, w: int, kernel: tuple, stride: tuple, padding: tuple, dilation: tuple, ceil: bool,
    op: str,
) -> tuple:  # fmt: skip
    """Output size and (top, bottom, left, right) padding of a pooling window."""
    out, pads = [], []
    for size, k, s, p, d in zip((h, w), kernel, stride, padding, dilation):
        if p > k // 2:
            raise ValueError(f"{op}: padding {p} should be at most half the kernel size {k}")
        eff = d * (k - 1) + 1
        num = size + 2 * p - eff
        o = (-(-num // s) if ceil else num // s) + 1
        if ceil and (o - 1) * s >= size + p:  # the last window must start inside the input
            o -= 1
        if o <= 0:
            raise ValueError(
                f"{op}: kernel {k} is larger than the padded input size {size + 2 * p}"
            )
        extra = max((o - 1) * s + eff - (size + 2 * p), 0)
        out.append(o)
        pads += [p, p + extra]
    return out[0], out[1], tuple(pads)


def _pool_args(kernel_size: Any, stride: Any, padding: Any, dilation: Any, op: str) -> tuple:
    k = _pair(kernel_size, "kernel_size", op)
    s = k if stride is None or stride == () or stride == [] else _pair(stride, "stride", op)
    return k, s, _pair(padding, "padding", op), _pair(dilation, "dilation", op)


def max_pool2d(
    input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
    ceil_mode: bool = False, return_indices: bool = False,
) -> Any:  # fmt: skip
    """Maximum over each window; the gradient goes to the (first) maximal element, as PyTorch.

    Example:
        >>> import chainrule as cr
        >>> max_pool2d(cr.arange(16.0).reshape(1, 1, 4, 4), 2)
        tensor([[[[ 5.,  7.],
                  [13., 15.]]]])
    """
    x = _t(input)
    unbatched = x.ndim == 3
    if unbatched:
        x = S.reshape(x, (1, *x.shape))
    if x.ndim != 4:
        raise ValueError(f"max_pool2d: expected input (N, C, H, W) or (C, H, W), got {x.shape}")
    k, s, p, d = _pool_args(kernel_size, stride, padding, dilation, "max_pool2d")
    n, c, h, w = x.shape
    oh, ow, pads = _pool_geometry(h, w, k, s, p, d, ceil_mode, "max_pool2d")
    flat = S.reshape(x, (n * c, 1, h, w))
    if k == s and d == (1, 1) and not any(pads) and h % k[0] == 0 and w % k[1] == 0:
        # non-overlapping windows: a reshape and one transposing copy instead of im2col
        win = S.reshape(x, (n * c, oh, k[0], ow, k[1]))
        win = S.reshape(S.permute(win, (0, 1, 3, 2, 4)), (n * c * oh * ow, k[0] * k[1]))
    else:
        win = N.im2col(flat, k, s, pads, d, -np.inf)
    arg = win._data.argmax(axis=1)[:, None]
    out = S.reshape(I.gather(win, 1, arg), (n, c, oh, ow))
    if unbatched:
        out = S.reshape(out, out.shape[1:])
    if not return_indices:
        return out
    ky, kx = arg[:, 0] // k[1], arg[:, 0] % k[1]
    oy, ox = np.divmod(np.arange(oh * ow), ow)
    rows = np.tile(oy, n * c) * s[0] - pads[0] + ky * d[0]
    cols = np.tile(ox, n * c) * s[1] - pads[2] + kx * d[1]
    idx = (rows * w + cols).reshape(out.shape).astype(np.int64)
    return out, Tensor._wrap(idx)


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
    x = _t(input)
    unbatched = x.ndim == 3
    if unbatched:
        x = S.reshape(x, (1, *x.shape))
    if x.ndim != 4:
        raise ValueError(f"avg_pool2d: expected input (N, C, H, W) or (C, H, W), got {x.shape}")
    k, s, p, d = _pool_args(kernel_size, stride, padding, 1, "avg_pool2d")
    n, c, h, w = x.shape
    oh, ow, pads = _pool_geometry(h, w, k, s, p, d, ceil_mode, "avg_pool2d")
    win = N.im2col(S.reshape(x, (n * c, 1, h, w)), k, s, pads, d, 0.0)
    total = S.sum(win, (1,), False)
    if divisor_override:
        div: Any = float(divisor_override)
    else:
        # count the window cells inside the input (or inside input + padding when they count)
        inside = np.zeros((1, 1, h + 2 * p[0], w + 2 * p[1]), dtype=x.dtype)
        if count_include_pad:
            inside[...] = 1
        else:
            inside[:, :, p[0] : p[0] + h, p[1] : p[1] + w] = 1
        extra = (0, pads[1] - p[0], 0, pads[3] - p[1])
        cnt = N.im2col(inside, k, s, extra, d, 0.0).sum(axis=1)
        div = np.tile(cnt, n * c)
    out = S.reshape(total / div, (n, c, oh, ow))
    return S.reshape(out, out.shape[1:]) if unbatched else out


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
        return x * 0
    keep = default_rng().random(x.shape) >= p
    mask = keep.astype(x.dtype) * (1.0 / (1.0 - p))
    return x * mask


def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None) -> Tensor:
    """Rows of ``weight`` at the integer indices ``input``; the ``padding_idx`` row gets no
    gradient.

    Example:
        >>> import chainrule as cr
        >>> embedding(cr.tensor([[0, 2]]), cr.eye(3)).shape
        (1, 2, 3)
    """
    idx, w = _t(input), _t(weight)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"embedding: indices must be an integer tensor, got {idx.dtype}")
    num = w.shape[0]
    if idx.numel() and (idx._data.min() < -num or idx._data.max() >= num):
        raise IndexError(f"embedding: index out of range for {num} embeddings")
    out = I.getitem(w, idx._data)
    if padding_idx is None or not w.requires_grad:
        return out
    pad_row = padding_idx % num
    with no_grad():
        frozen = I.getitem(w, idx._data)
    keep = np.expand_dims(idx._data % num != pad_row, -1)
    return E.where(keep, out, frozen)


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
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, c) + (1,) * (x.ndim - 2)
    if training:
        n = x.numel() // c
        if n <= 1:
            raise ValueError(
                "batch_norm: expected more than 1 value per channel when training, "
                f"got input {x.shape}"
            )
        mean = S.sum(x, axes, True) / n
        d = x - mean
        var = S.sum(d * d, axes, True) / n
        if running_mean is not None and running_var is not None:
            m = momentum
            rm, rv = running_mean._data, running_var._data
            rm *= 1 - m
            rm += m * mean._data.reshape(-1)
            rv *= 1 - m
            rv += m * var._data.reshape(-1) * (n / (n - 1))
        out = d / E.sqrt(var + eps)
    else:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm: running_mean and running_var are needed in eval mode")
        rm = running_mean._data.reshape(shape)
        rv = running_var._data.reshape(shape)
        out = (x - rm) / np.sqrt(rv + eps).astype(x.dtype)
    if weight is not None:
        out = out * S.reshape(_t(weight), shape)
    if bias is not None:
        out = out + S.reshape(_t(bias), shape)
    return out


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
    axes = tuple(range(x.ndim - len(ns), x.ndim))
    n = int(np.prod(ns))
    mean = S.sum(x, axes, True) / n
    d = x - mean
    var = S.sum(d * d, axes, True) / n
    out = d / E.sqrt(var + eps)
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
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
    k = int(t._data.max()) + 1 if num_classes < 0 else num_classes
    if t.numel() and (t._data.min() < 0 or t._data.max() >= k):
        raise ValueError(
            f"one_hot: class values must be in [0, {k}), got {t._data.min()}..{t._data.max()}"
        )
    return Tensor._wrap((t._data[..., None] == np.arange(k)).astype(np.int64))
