"""Sliding-window primitives for convolution and pooling, each paired with its adjoint.

- ``im2col`` / ``col2im``: every window as a column, ``(c*kh*kw, n*oh*ow)``, built with one
  strided copy per kernel position, and back (kh*kw strided adds); conv2d is im2col and one
  matrix product ``W @ cols``.
- ``window_sum`` / ``window_spread``: the sum over each window (average pooling) and back.
- ``pool_gather`` / ``pool_scatter``: pick one element per window by flat index (max pooling)
  and send the gradient back there.

In every pair each primitive is the other's derivative rule, so all of them are differentiable
to any order. Loops run over kernel positions only, never over pixels. ``pads`` is
``(top, bottom, left, right)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .elementwise import _xp
from .primitive import Primitive, tangent_sum
from .shape import permute, reshape
from .shape import sum as sum_


def conv_output_size(size: int, k: int, s: int, lo: int, hi: int, d: int) -> int:
    """Output length of a sliding window: ``(size + lo + hi - d (k - 1) - 1) // s + 1``.

    Example:
        >>> conv_output_size(28, 3, 1, 0, 0, 1)
        26
    """
    return (size + lo + hi - d * (k - 1) - 1) // s + 1


def _padded(x: Any, pads: tuple, value: float) -> Any:
    if not any(pads):
        return x
    ph0, ph1, pw0, pw1 = pads
    return _xp(x).pad(x, ((0, 0), (0, 0), (ph0, ph1), (pw0, pw1)), constant_values=value)


def _out_hw(h: int, w: int, kernel: tuple, stride: tuple, pads: tuple, dilation: tuple) -> tuple:
    return (
        conv_output_size(h, kernel[0], stride[0], pads[0], pads[1], dilation[0]),
        conv_output_size(w, kernel[1], stride[1], pads[2], pads[3], dilation[1]),
    )


def _tap(i: int, j: int, oh: int, ow: int, stride: tuple, dilation: tuple) -> tuple:
    """The strided slice of the padded input that kernel position ``(i, j)`` reads."""
    (sh, sw), (dh, dw) = stride, dilation
    return (
        slice(None),
        slice(None),
        slice(i * dh, i * dh + sh * (oh - 1) + 1, sh),
        slice(j * dw, j * dw + sw * (ow - 1) + 1, sw),
    )


# ----- im2col / col2im -----------------------------------------------------------------------
def _im2col_fwd(
    x: Any, kernel: tuple, stride: tuple, pads: tuple, dilation: tuple, value: float
) -> Any:
    n, c, h, w = x.shape
    oh, ow = _out_hw(h, w, kernel, stride, pads, dilation)
    x = _padded(x, pads, value)
    kh, kw = kernel
    cols = _xp(x).empty((c, kh, kw, n, oh, ow), dtype=x.dtype)
    for i in range(kh):  # one long strided copy per kernel position, never per pixel
        for j in range(kw):
            cols[:, i, j] = x[_tap(i, j, oh, ow, stride, dilation)].transpose(1, 0, 2, 3)
    return cols.reshape(c * kh * kw, n * oh * ow)


def _col2im_fwd(
    cols: Any, shape: tuple, kernel: tuple, stride: tuple, pads: tuple, dilation: tuple
) -> Any:
    n, c, h, w = shape
    oh, ow = _out_hw(h, w, kernel, stride, pads, dilation)
    kh, kw = kernel
    g6 = cols.reshape(c, kh, kw, n, oh, ow)
    xp = _xp(cols)
    # accumulate channel-major, the order cols is in, then transpose once
    out = xp.zeros((c, n, h + pads[0] + pads[1], w + pads[2] + pads[3]), dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            out[_tap(i, j, oh, ow, stride, dilation)] += g6[:, i, j]
    inner = out[:, :, pads[0] : pads[0] + h, pads[2] : pads[2] + w]
    return xp.ascontiguousarray(inner.transpose(1, 0, 2, 3))


def _to_nchw_fwd(y: Any, n: int, oh: int, ow: int, b: Any = None) -> Any:
    o = y.shape[0]
    src = y.reshape(o, n, oh, ow).transpose(1, 0, 2, 3)
    out = _xp(y).empty((n, o, oh, ow), dtype=y.dtype)
    if b is None:
        out[...] = src
    else:  # the bias add and the layout change in one pass
        _xp(y).add(src, b.reshape(1, o, 1, 1), out=out)
    return out


def _to_nchw_rule_y(g: Any, ans: Any, y: Any, n: int, oh: int, ow: int, b: Any = None) -> Any:
    return reshape(permute(g, (1, 0, 2, 3)), y.shape)


def _to_nchw_rule_b(g: Any, ans: Any, y: Any, n: int, oh: int, ow: int, b: Any = None) -> Any:
    return sum_(g, (0, 2, 3), False)


def _to_nchw_jvp(ts: list, ans: Any, y: Any, n: int, oh: int, ow: int, b: Any = None) -> Any:
    return tangent_sum(
        ans,
        ts,
        lambda t: to_nchw(t, n, oh, ow),
        *[None] * 3,
        lambda t: reshape(t, (1, t.shape[0], 1, 1)),
    )


to_nchw = Primitive(
    "ToNCHW",
    _to_nchw_fwd,
    [_to_nchw_rule_y, None, None, None, _to_nchw_rule_b],
    [
        "d to_nchw(y)/dy: the gradient back in channel-major order",
        "",
        "",
        "",
        "d (y + b)/db = 1 (summed over batch and pixels)",
    ],
    jvp=_to_nchw_jvp,
)


im2col = Primitive(
    "Im2col",
    _im2col_fwd,
    [
        lambda g, ans, x, kernel, stride, pads, dilation, value: col2im(
            g, x.shape, kernel, stride, pads, dilation
        )
    ],
    ["d im2col(x)/dx: each window's gradient is added back where the window read (col2im)"],
    jvp=lambda ts, ans, x, kernel, stride, pads, dilation, value: (
        None if ts[0] is None else im2col(ts[0], kernel, stride, pads, dilation, 0.0)
    ),
)
col2im = Primitive(
    "Col2im",
    _col2im_fwd,
    [
        lambda g, ans, cols, shape, kernel, stride, pads, dilation: im2col(
            g, kernel, stride, pads, dilation, 0.0
        )
    ],
    ["d col2im(c)/dc: read the windows back out (im2col)"],
    jvp="linear",
)


# ----- window_sum / window_spread ------------------------------------------------------------
def _window_sum_fwd(x: Any, kernel: tuple, stride: tuple, pads: tuple, dilation: tuple) -> Any:
    n, c, h, w = x.shape
    oh, ow = _out_hw(h, w, kernel, stride, pads, dilation)
    xp = _padded(x, pads, 0.0)
    out = _xp(x).zeros((n, c, oh, ow), dtype=x.dtype)
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            out += xp[_tap(i, j, oh, ow, stride, dilation)]
    return out


def _window_spread_fwd(
    g: Any, shape: tuple, kernel: tuple, stride: tuple, pads: tuple, dilation: tuple
) -> Any:
    n, c, h, w = shape
    oh, ow = g.shape[2:]
    out = _xp(g).zeros((n, c, h + pads[0] + pads[1], w + pads[2] + pads[3]), dtype=g.dtype)
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            out[_tap(i, j, oh, ow, stride, dilation)] += g
    return out[:, :, pads[0] : pads[0] + h, pads[2] : pads[2] + w]


window_sum = Primitive(
    "WindowSum",
    _window_sum_fwd,
    [
        lambda g, ans, x, kernel, stride, pads, dilation: window_spread(
            g, x.shape, kernel, stride, pads, dilation
        )
    ],
    ["d window_sum(x)/dx_p = 1 for each window that covers p"],
    jvp="linear",
)
window_spread = Primitive(
    "WindowSpread",
    _window_spread_fwd,
    [
        lambda g, ans, a, shape, kernel, stride, pads, dilation: window_sum(
            g, kernel, stride, pads, dilation
        )
    ],
    ["d window_spread(a)/da: sum the gradient over each window (window_sum)"],
    jvp="linear",
)


# ----- max pooling: argmax per window, then pool_gather / pool_scatter -----------------------
def window_argmax(
    x: Any, kernel: tuple, stride: tuple, pads: tuple, dilation: tuple
) -> tuple[Any, bool]:
    """Flat index into ``h * w`` of the first maximum of each window, shape ``(n, c, oh, ow)``,
    and whether windows are disjoint (so each input element is picked at most once).

    Windows are scanned row by row, so at ties the first maximum wins, as in PyTorch; a NaN wins.

    Example:
        >>> import numpy as np
        >>> window_argmax(np.arange(16.0).reshape(1, 1, 4, 4), (2, 2), (2, 2), (0,) * 4, (1, 1))
        (array([[[[ 5,  7],
                 [13, 15]]]]), True)
    """
    while getattr(x, "primal", None) is not None:  # a dual number: the maxima of its values
        x = x.primal
    xp = _xp(x)
    n, c, h, w = x.shape
    oh, ow = _out_hw(h, w, kernel, stride, pads, dilation)
    src = _padded(x, pads, -np.inf)
    best = None
    tap = xp.zeros((n, c, oh, ow), dtype=np.int32)  # which kernel position holds the max
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            v = src[_tap(i, j, oh, ow, stride, dilation)]
            if best is None:
                best = v.copy()
                continue
            better = (v > best) | (v != v)
            xp.maximum(best, v, out=best)
            # arithmetic instead of masked assignment: several times faster in NumPy
            tap += better * (np.int32(i * kernel[1] + j) - tap)
    ti, tj = xp.divmod(tap, np.int32(kernel[1]))
    arg = (ti * (dilation[0] * w) + tj * dilation[1]).astype(np.int64)
    oy = xp.arange(oh).reshape(oh, 1) * stride[0] - pads[0]
    ox = xp.arange(ow) * stride[1] - pads[2]
    arg += oy * w + ox  # the window's top-left corner
    eff = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    disjoint = (stride[0] >= eff[0] or oh == 1) and (stride[1] >= eff[1] or ow == 1)
    return arg, disjoint


def _rows(idx: Any) -> Any:
    n, c = idx.shape[:2]
    return _xp(idx).arange(n * c).reshape(n, c, 1, 1)


def _pool_gather_fwd(x: Any, index: Any, disjoint: bool) -> Any:
    n, c, h, w = x.shape
    return x.reshape(n * c, h * w)[_rows(index), index]


def _pool_scatter_fwd(g: Any, shape: tuple, index: Any, disjoint: bool) -> Any:
    xp = _xp(g)
    n, c, h, w = shape
    if disjoint:  # each element is picked at most once: a plain assignment is exact
        out = xp.zeros((n * c, h * w), dtype=g.dtype)
        out[_rows(index), index] = g
        return out.reshape(shape)
    flat = (_rows(index) * (h * w) + index).reshape(-1)
    summed = xp.bincount(flat, weights=g.reshape(-1), minlength=n * c * h * w)
    return summed.astype(g.dtype, copy=False).reshape(shape)


pool_gather = Primitive(
    "PoolGather",
    _pool_gather_fwd,
    [lambda g, ans, x, index, disjoint: pool_scatter(g, x.shape, index, disjoint)],
    ["d max_pool(x)/dx = 1 at each window's (first) maximum, else 0"],
    jvp="linear",
)
pool_scatter = Primitive(
    "PoolScatter",
    _pool_scatter_fwd,
    [lambda g, ans, a, shape, index, disjoint: pool_gather(g, index, disjoint)],
    ["d pool_scatter(a)/da: read the gradient back at the picked elements"],
    jvp="linear",
)
