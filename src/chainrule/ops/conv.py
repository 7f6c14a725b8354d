"""Sliding-window primitives for convolution and pooling, each paired with its adjoint.

- ``conv2d`` / ``conv2d_input_grad`` / ``conv2d_weight_grad``: the convolution and its two
  gradients, each the others' derivative rule. Images are handled channels-last in memory:
  every window is one strided view of the padded image, copied to a column matrix in one pass,
  and one matrix product with the weight gives the result, channels-last too (handed back as
  an (N, O, OH, OW) view, no copy). With few channels the columns are built channel-major.
  Stride-1 convolutions with enough channels build no columns at all: one small product per
  kernel position on the flattened padded image, accumulated (:func:`_tap_conv`).
- ``window_sum`` / ``window_spread``: the sum over each window (average pooling) and back.
- ``pool_gather`` / ``pool_scatter``: pick one element per window by flat index (max pooling)
  and send the gradient back there.

In every pair each primitive is the other's derivative rule, so all of them are differentiable
to any order. Loops run over kernel positions only, never over pixels. ``pads`` is
``(top, bottom, left, right)``.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..tensor import Tensor
from . import jit
from .batchnorm import _channel_sum
from .elementwise import _xp
from .primitive import Primitive, Tracer, tangent_sum
from .shape import reshape
from .shape import sum as sum_


def conv_output_size(size: int, k: int, s: int, lo: int, hi: int, d: int) -> int:
    """Output length of a sliding window: ``(size + lo + hi - d (k - 1) - 1) // s + 1``.

    Example:
        >>> conv_output_size(28, 3, 1, 0, 0, 1)
        26
    """
    return (size + lo + hi - d * (k - 1) - 1) // s + 1


def _padded(x: Any, pads: tuple, value: float) -> Any:
    if min(pads) < 0:  # a negative pad crops
        h, w = x.shape[2:]
        x = x[
            :, :, max(-pads[0], 0) : h - max(-pads[1], 0), max(-pads[2], 0) : w - max(-pads[3], 0)
        ]
        pads = tuple(max(p, 0) for p in pads)
    if not any(pads):
        return x
    ph0, ph1, pw0, pw1 = pads
    xp = _xp(x)
    if _is_channels_last(x):  # padded in its own layout (a channels-last image stays one)
        xh = xp.pad(x.transpose(0, 2, 3, 1), ((0, 0), (ph0, ph1), (pw0, pw1), (0, 0)),
                    constant_values=value)  # fmt: skip
        return xh.transpose(0, 3, 1, 2)
    return xp.pad(x, ((0, 0), (0, 0), (ph0, ph1), (pw0, pw1)), constant_values=value)


def _is_channels_last(a: Any) -> bool:
    """Whether the (N, C, H, W) array ``a`` lives channels-last in memory (and not also
    channels-first, as with one channel or one pixel), e.g. a convolution's output."""
    return a.ndim == 4 and not a.flags.c_contiguous and a.transpose(0, 2, 3, 1).flags.c_contiguous


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
    eff = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    disjoint = (stride[0] >= eff[0] or oh == 1) and (stride[1] >= eff[1] or ow == 1)
    if _is_channels_last(x) and (k := jit.kernel("pool_argmax", x)) is not None:
        # one fused pass over the channels-last image (the NumPy loop below: ~5 per tap)
        arg = np.empty((n, oh, ow, c), dtype=np.int64)
        k(x.transpose(0, 2, 3, 1), *kernel, *stride, *dilation, pads[0], pads[2], arg)
        return arg.transpose(0, 3, 1, 2), disjoint
    src = _padded(x, pads, -np.inf)
    kh, kw = kernel
    code = np.int8 if kh * kw <= 127 else np.int32  # a small code: less memory to sweep
    best = None
    tap = None  # which kernel position holds the max, in the input's memory layout
    for i in range(kh):
        for j in range(kw):
            v = src[_tap(i, j, oh, ow, stride, dilation)]
            if best is None:
                best = v.copy(order="K")  # the layout of the input
                tap = xp.zeros_like(best, dtype=code)
                continue
            better = v > best
            better |= xp.isnan(v)  # a NaN wins
            xp.maximum(best, v, out=best)
            # arithmetic instead of masked assignment: several times faster in NumPy
            tap += better * (code(i * kw + j) - tap)
    # each kernel position's offset from its window's corner, looked up per window
    offsets = [i * dilation[0] * w + j * dilation[1] for i in range(kh) for j in range(kw)]
    table = xp.asarray(offsets, dtype=np.int64)
    if _is_channels_last(tap):  # looked up in memory order: a channels-last result
        arg = table[tap.transpose(0, 2, 3, 1)].transpose(0, 3, 1, 2)
    else:
        arg = table[tap]
    oy = xp.arange(oh).reshape(oh, 1) * stride[0] - pads[0]
    ox = xp.arange(ow) * stride[1] - pads[2]
    arg += oy * w + ox  # the window's top-left corner
    if any(p > 0 for p in pads):
        # a window whose elements are all -inf keeps its first tap, which may lie in the
        # padding: it picks its first element inside the image instead (as PyTorch)
        def first_inside(o: int, s: int, p: int, d: int) -> Any:
            start = xp.arange(o) * s - p
            return start + d * xp.maximum(0, -(start // d))

        fy = first_inside(oh, stride[0], pads[0], dilation[0]).reshape(oh, 1)
        fx = first_inside(ow, stride[1], pads[2], dilation[1])
        arg = xp.where(best == -np.inf, fy * w + fx, arg)
    return arg, disjoint


def _rows(idx: Any) -> Any:
    n, c = idx.shape[:2]
    return _xp(idx).arange(n * c).reshape(n, c, 1, 1)


def _flat_last(index: Any, h: int, w: int) -> Any:
    """Flat positions in channels-last (N, H, W, C) memory of the picks ``index`` (N, C, OH, OW)
    (into each ``h * w`` map), shaped (N, OH, OW, C)."""
    xp = _xp(index)
    n, c = index.shape[:2]
    base = xp.arange(n).reshape(n, 1, 1, 1) * (h * w)
    flat = index.transpose(0, 2, 3, 1) + base
    flat *= c
    flat += xp.arange(c)
    return flat


def _pool_gather_fwd(x: Any, index: Any, disjoint: bool) -> Any:
    n, c, h, w = x.shape
    if _is_channels_last(x):  # read in place (no copy to channels-first); channels-last out
        if _is_channels_last(index) and (k := jit.kernel("pool_gather_last", x)) is not None:
            out = np.empty((n,) + index.shape[2:] + (c,), dtype=x.dtype)
            k(x.transpose(0, 2, 3, 1), index.transpose(0, 2, 3, 1), out)
            return out.transpose(0, 3, 1, 2)
        flat = _flat_last(index, h, w)
        return x.transpose(0, 2, 3, 1).reshape(-1)[flat].transpose(0, 3, 1, 2)
    return x.reshape(n * c, h * w)[_rows(index), index]


def _pool_scatter_fwd(g: Any, shape: tuple, index: Any, disjoint: bool) -> Any:
    xp = _xp(g)
    n, c, h, w = shape
    if _is_channels_last(index):  # the picks of a channels-last input: a channels-last result
        gh = g.transpose(0, 2, 3, 1)
        if (k := jit.kernel("pool_scatter_last", g)) is not None:
            out = np.zeros((n, h, w, c), dtype=g.dtype)
            return k(gh, index.transpose(0, 2, 3, 1), out).transpose(0, 3, 1, 2)
        flat = _flat_last(index, h, w)
        if disjoint:
            out = xp.zeros(n * h * w * c, dtype=g.dtype)
            out[flat] = gh
        else:
            out = xp.bincount(flat.reshape(-1), weights=gh.reshape(-1), minlength=n * h * w * c)
            out = out.astype(g.dtype, copy=False)
        return out.reshape(n, h, w, c).transpose(0, 3, 1, 2)
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


# ----- direct convolution in channels-last memory -------------------------------------------
# conv2d, its input gradient and its weight gradient, three primitives each of which is the
# derivative rule of the others (all three are linear in each argument), so every order of
# derivative is one of them again. Internally the image is channels-last (N, H, W, C): every
# window is then one strided view of the padded image, copied to the columns in ONE pass, and
# the matrix product (N*OH*OW, kh*kw*C) @ (kh*kw*C, O) leaves the result channels-last too.
# The (N, O, OH, OW) tensor handed back is a transposed view of that memory (no copy); the
# next convolution reads it channels-last for free, and elementwise ops keep its layout.
def _channels_last(x: Any, pads: tuple) -> Any:
    """``x`` (N, C, H, W) as a C-contiguous (N, H + t + b, W + l + r, C) array, zero-padded by
    ``pads = (t, b, l, r)``; a negative pad crops."""
    xp = _xp(x)
    xh = x.transpose(0, 2, 3, 1)
    if min(pads) < 0:
        n, h, w, _ = xh.shape
        xh = xh[:, max(-pads[0], 0) : h - max(-pads[1], 0), max(-pads[2], 0) : w - max(-pads[3], 0)]
        pads = tuple(max(p, 0) for p in pads)
    t, b, l, r = pads
    if not (t or b or l or r):
        return xh if xh.flags.c_contiguous else xp.ascontiguousarray(xh)
    n, h, w, c = xh.shape
    out = xp.empty((n, h + t + b, w + l + r, c), dtype=x.dtype)
    out[:, :t] = 0  # zero the border only; the inside is written once
    out[:, t + h :] = 0
    out[:, t : t + h, :l] = 0
    out[:, t : t + h, l + w :] = 0
    out[:, t : t + h, l : l + w] = xh
    return out


def _columns(x: Any, kernel: tuple, stride: tuple, pads: tuple, dilation: tuple, groups: int):
    """Every window of ``x`` (N, C, H, W) as a row: ``(groups, N*OH*OW, kh*kw*C/groups)``,
    one strided copy in all."""
    xp = _xp(x)
    n, c, h, w = x.shape
    oh, ow = _out_hw(h, w, kernel, stride, pads, dilation)
    src = _channels_last(x, pads)
    kh, kw = kernel
    s0, s1, s2, s3 = src.strides
    win = xp.lib.stride_tricks.as_strided(
        src,
        (n, oh, ow, kh, kw, c),
        (s0, s1 * stride[0], s2 * stride[1], s1 * dilation[0], s2 * dilation[1], s3),
    )
    if groups == 1:
        cols = xp.empty((n, oh, ow, kh, kw, c), dtype=x.dtype)
        cols[...] = win
        return cols.reshape(1, n * oh * ow, kh * kw * c)
    cg = c // groups
    cols = xp.empty((groups, n, oh, ow, kh, kw, cg), dtype=x.dtype)
    cols[...] = win.reshape(n, oh, ow, kh, kw, groups, cg).transpose(5, 0, 1, 2, 3, 4, 6)
    return cols.reshape(groups, n * oh * ow, kh * kw * cg)


def _few_channels(c: int, kw: int, groups: int, dw: int) -> bool:
    """Whether a window row would be too short for the one channels-last copy to be fast
    (e.g. the first layer of an image network, 1 to 3 channels): then the columns are built
    channel-major instead, one long strided copy per kernel position."""
    return (c // groups) * (kw if dw == 1 else 1) < 12


def _columns_t(x: Any, kernel: tuple, stride: tuple, pads: tuple, dilation: tuple, groups: int):
    """The transpose of :func:`_columns`, ``(groups, kh*kw*C/groups, N*OH*OW)``, one strided
    copy per kernel position (fast when C is small)."""
    xp = _xp(x)
    n, c, h, w = x.shape
    oh, ow = _out_hw(h, w, kernel, stride, pads, dilation)
    src = _padded(x, pads, 0.0)
    kh, kw = kernel
    cg = c // groups
    cols = xp.empty((groups, kh, kw, cg, n, oh, ow), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            tap = src[_tap(i, j, oh, ow, stride, dilation)]
            cols[:, i, j] = tap.reshape(n, groups, cg, oh, ow).transpose(1, 2, 0, 3, 4)
    return cols.reshape(groups, kh * kw * cg, n * oh * ow)


def _weight_rows(w: Any, groups: int) -> Any:
    """Weight (O, C/g, kh, kw) as (g, O/g, kh*kw*C/g), the column order of :func:`_columns`."""
    o, cg, kh, kw = w.shape
    wg = w.reshape(groups, o // groups, cg, kh, kw).transpose(0, 1, 3, 4, 2)
    return _xp(w).ascontiguousarray(wg).reshape(groups, o // groups, kh * kw * cg)


def _grouped_rows(g: Any, groups: int) -> Any:
    """Output gradient (N, O, OH, OW) as (g, N*OH*OW, O/g) rows (channels-last)."""
    gh = g.transpose(0, 2, 3, 1)
    if not gh.flags.c_contiguous:
        gh = _xp(g).ascontiguousarray(gh)
    rows = gh.reshape(-1, g.shape[1])
    if groups == 1:
        return rows[None]
    return rows.reshape(rows.shape[0], groups, -1).transpose(1, 0, 2)


def _by_taps(x: Any, kernel: tuple, stride: tuple, groups: int, out_channels: int) -> bool:
    """Whether the convolution runs as one small product per kernel position on the flattened
    padded image (:func:`_tap_conv`) instead of through columns: stride 1, no groups, and
    enough channels for products that deep to be fast: 12 input channels, or 8 with 16 or
    more outputs (measured: LeNet's 8 -> 16 convolution by kernel positions made its step 14%
    faster; with 8 outputs the columns stay ahead, 0.9 against 1.5 ms at 13x13)."""
    c = x.shape[1]
    return stride == (1, 1) and groups == 1 and (c >= 12 or (c >= 8 and out_channels >= 16))


def _tap_offsets(kernel: tuple, dilation: tuple, wp: int) -> list:
    """The row offset of each kernel position in the flattened padded (N*Hp*Wp, C) image."""
    return [i * dilation[0] * wp + j * dilation[1] for i in range(kernel[0]) for j in range(kernel[1])]  # fmt: skip  # noqa: E501


_GEMM: dict[Any, Any] = {}


def _single_threaded_blas() -> bool:
    """Whether OpenBLAS runs one thread (its environment variables, read once at its load, in
    its order of precedence)."""
    for var in ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS"):
        if os.environ.get(var):
            return os.environ[var].strip() == "1"
    return os.cpu_count() == 1


def _accumulating_gemm(dtype: Any) -> Any:
    """BLAS ``gemm`` (SciPy's wrapper) for ``dtype``, which adds a product into its output in
    place (``beta=1``), or ``None`` (NumPy then multiplies into a temporary and adds it: one
    more pass over the output per kernel position) when SciPy is not installed or BLAS runs
    several threads: SciPy's OpenBLAS is a second thread pool, and two pools spinning on the
    same cores made a two-thread ResNet step 2.8x slower (measured)."""
    key = np.dtype(dtype)
    if key not in _GEMM:
        if not _single_threaded_blas():
            _GEMM[key] = None
            return None
        try:
            from scipy.linalg import blas

            _GEMM[key] = blas.get_blas_funcs("gemm", dtype=key) if key.char in "fd" else None
        except ImportError:  # pragma: no cover - SciPy is in the test extra
            _GEMM[key] = None
    return _GEMM[key]


# The accumulator of one block of images is kept this small so that it and the image rows
# it reads stay in the core's L2 cache (1 MiB here) across all kernel positions: over the
# whole batch a 16-channel 32x32 accumulator is 2.4 MB, swept once per position (measured: a
# 3x3 conv 16->16 on 32 images, 3.1 -> 2.0 ms with blocks of 3 images).
BLOCK_BYTES = 256 * 1024
NO_PADS = (0, 0, 0, 0)
# With the products called from compiled code (no call overhead, ``jit.tap_conv_blocks``)
# smaller blocks pay: 1-3 images of 32x32x16 or 16x16x32 were fastest (measured).
BLAS_BLOCK_BYTES = 128 * 1024


def _image_block(n: int, rows_per_image: int, width: int, itemsize: int,
                 budget: int | None = None) -> int:  # fmt: skip
    """How many images one block of :func:`_tap_conv` holds: ``width`` values per row, at most
    ``budget`` (:data:`BLOCK_BYTES`) of accumulator, at least one image."""
    budget = BLOCK_BYTES if budget is None else budget
    return max(1, min(n, budget // max(1, rows_per_image * width * itemsize)))


def _blas_blocks(name: str, *arrays: Any) -> Any:
    """The compiled block loop ``name`` (``jit.tap_conv_blocks`` or ``tap_weight_grad_blocks``)
    when it can run here: float32 NumPy arrays, Numba on, and a BLAS it can call
    (:func:`jit.sgemm_address`; SciPy's only with one BLAS thread, see
    :func:`_accumulating_gemm`); else ``None``."""
    if type(arrays[0]) is not np.ndarray or not jit.enabled():
        return None
    address, int_bytes = jit.sgemm_address()
    if not address or (int_bytes == 4 and not _single_threaded_blas()):
        return None
    return jit.kernel(name, *arrays)


def _tap_source(x: Any, pads: tuple) -> tuple:
    """What a convolution by kernel positions reads of ``x`` (N, C, H, W): ``(image, pads
    still to apply)``, the image channels-last (N, H', W', C). With the compiled block loops
    the image is not padded here (they pad one block at a time, in cache: no padded copy of
    the batch); otherwise it is the padded copy, nothing left to apply."""
    if min(pads) >= 0 and any(pads) and _blas_blocks("tap_conv_blocks", x) is not None:
        return _channels_last(x, NO_PADS), pads
    return _channels_last(x, pads), NO_PADS


def _pads_left(src: Any, x: Any, pads: tuple) -> tuple:
    """The padding still to apply to ``src``, a saved :func:`_tap_source` image of ``x``
    (unpadded when its height and width are the input's)."""
    return pads if src.shape[1:3] == x.shape[2:] else NO_PADS


def _tap_input(src: Any, pad: tuple, name: str, other: Any, compiled: bool = True) -> tuple:
    """``(blocks, src, pad, Hp, Wp)`` for a convolution by kernel positions of ``src`` with
    ``pad`` still to apply: the compiled block loop ``name`` (or ``None``: then ``src`` comes
    back padded and ``pad`` is none), and the padded height and width."""
    blocks = _blas_blocks(name, src, other) if compiled and src.flags.c_contiguous else None
    if any(pad) and blocks is None:
        src, pad = _pad_now(src, pad), NO_PADS
    return blocks, src, pad, src.shape[1] + pad[0] + pad[1], src.shape[2] + pad[2] + pad[3]


def _pad_now(src: Any, pad: tuple) -> Any:
    """The channels-last ``src`` (N, H, W, C) padded by ``pad`` (a copy)."""
    return _channels_last(src.transpose(0, 3, 1, 2), pad)


def _tap_conv(src: Any, w: Any, out_hw: tuple, dilation: tuple, b: Any = None,
              pad: tuple = NO_PADS) -> Any:  # fmt: skip
    """Stride-1 convolution of the channels-last image ``src`` (N, H, W, C), padded by ``pad``
    to (N, Hp, Wp, C), with ``w`` (O, C, kh, kw), without columns: with the padded image
    flattened to ``X`` (N*Hp*Wp, C), output pixel ``q`` (on the padded grid) is
    ``sum_t X[q + off_t] @ W_t``, so each kernel position is ONE product of a contiguous row
    range of ``X`` with the (C, O) weight slice, accumulated; the valid grid is cropped in the
    last addition. The images go in blocks of a few (:func:`_image_block`), all positions of
    one block before the next, so that its accumulator stays in cache. With Numba and a BLAS
    it can call, the block loop is compiled (``jit.tap_conv_blocks``) and pads each block
    itself; otherwise ``src`` is padded here (see :func:`_tap_source`). Returns
    (N, OH, OW, O)."""
    xp = _xp(src)
    o, _, kh, kw = w.shape
    blocks, src, pad, hp, wp = _tap_input(src, pad, "tap_conv_blocks", w, kh * kw > 1)
    n, c = src.shape[0], src.shape[3]
    oh, ow = out_hw
    offs = _tap_offsets((kh, kw), dilation, wp)
    rows = n * hp * wp
    span = rows - offs[-1]  # every valid output pixel q has q + off_t inside the image
    flat = src.reshape(-1, c)  # (rows, C) once padded
    wt = xp.ascontiguousarray(w.transpose(2, 3, 1, 0)).reshape(kh * kw, c, o)
    out = xp.empty((n, oh, ow, o), dtype=src.dtype)
    if out.size == 0:
        return out
    if len(offs) == 1:
        if span == n * oh * ow:  # nothing to crop (a 1x1 kernel without padding)
            xp.matmul(flat, wt[0], out=out.reshape(-1, o))
        else:
            y = flat @ wt[0]
            out[...] = y.reshape(n, hp, wp, o)[:, :oh, :ow]
        if b is not None:
            out += b
        return out
    per = hp * wp
    if blocks is not None:
        k = _image_block(n, per, o, 4, BLAS_BLOCK_BYTES)
        acc = np.empty((k * per, o), dtype=np.float32)
        scratch = np.zeros((k * per + offs[-1] if any(pad) else 0, c), dtype=np.float32)
        blocks(*jit.sgemm_address(), src, pad[0], pad[2], hp, wp, wt, np.array(offs, np.int64),
               k, scratch, acc, out)  # fmt: skip
        if b is not None:
            out += b
        return out
    gemm = _accumulating_gemm(src.dtype) if type(src) is np.ndarray else None
    k = _image_block(n, per, o, src.itemsize)
    acc = xp.empty((k * per, o), dtype=src.dtype)
    tmp = None if gemm else xp.empty((k * per, o), dtype=src.dtype)
    for i0 in range(0, n, k):
        m = min(k, n - i0)
        s, e = i0 * per, min((i0 + m) * per, span)  # rows past span are cropped anyway
        a = acc[: e - s]
        xp.matmul(flat[s + offs[0] : e + offs[0]], wt[0], out=a)
        if gemm:
            a_t = a.T  # column-major views: C += X_t W_t is C^T += W_t^T X_t^T
            for t in range(1, len(offs)):
                gemm(1.0, wt[t].T, flat[s + offs[t] : e + offs[t]].T, beta=1.0, c=a_t,
                     overwrite_c=1)  # fmt: skip
        else:
            for t in range(1, len(offs)):
                xp.matmul(flat[s + offs[t] : e + offs[t]], wt[t], out=tmp[: e - s])
                a += tmp[: e - s]
        blk = acc[: m * per].reshape(m, hp, wp, o)[:, :oh, :ow]
        if b is None:
            out[i0 : i0 + m] = blk
        else:
            xp.add(blk, b, out=out[i0 : i0 + m])
    return out


def _tap_weight_grad(g: Any, src: Any, shape: tuple, dilation: tuple,
                     pad: tuple = NO_PADS) -> Any:  # fmt: skip
    """The weight gradient of :func:`_tap_conv`: ``dW_t = X[off_t : off_t + L].T @ G`` with the
    output gradient ``G`` laid on the padded grid (zeros outside the valid outputs), one
    product per kernel position, no columns; in blocks of images as the forward, each block's
    products added into ``dW``. ``src`` and ``pad`` as for :func:`_tap_conv`."""
    xp = _xp(src)
    o, _, kh, kw = shape
    blocks, src, pad, hp, wp = _tap_input(src, pad, "tap_weight_grad_blocks", g)
    n, c = src.shape[0], src.shape[3]
    oh, ow = g.shape[2:]
    offs = _tap_offsets((kh, kw), dilation, wp)
    rows = n * hp * wp
    span = rows - offs[-1]
    if n == 0:
        return xp.zeros(shape, dtype=g.dtype)
    flat = src.reshape(-1, c)
    gl = g.transpose(0, 2, 3, 1)
    per = hp * wp
    if blocks is not None:
        k = _image_block(n, per, o, 4, BLAS_BLOCK_BYTES)
        grid = np.zeros((k, hp, wp, o), dtype=np.float32)
        dw = np.empty((kh * kw, c, o), dtype=np.float32)
        scratch = np.zeros((k * per + offs[-1] if any(pad) else 0, c), dtype=np.float32)
        blocks(*jit.sgemm_address(), src, pad[0], pad[2], hp, wp, gl, np.array(offs, np.int64),
               k, scratch, grid, dw)  # fmt: skip
        return np.ascontiguousarray(dw.reshape(kh, kw, c, o).transpose(3, 2, 0, 1))
    k = _image_block(n, per, o, g.dtype.itemsize)
    grid = xp.zeros((k, hp, wp, o), dtype=g.dtype)  # its border stays zero
    gflat = grid.reshape(k * per, o)
    dw = xp.empty((kh * kw, c, o), dtype=g.dtype)
    part = xp.empty((c, o), dtype=g.dtype)
    for i0 in range(0, n, k):
        m = min(k, n - i0)
        s, e = i0 * per, min((i0 + m) * per, span)
        grid[:m, :oh, :ow] = gl[i0 : i0 + m]
        gb = gflat[: e - s]
        for t, off in enumerate(offs):
            if i0 == 0:
                xp.matmul(flat[s + off : e + off].T, gb, out=dw[t])
            else:
                xp.matmul(flat[s + off : e + off].T, gb, out=part)
                dw[t] += part
    return xp.ascontiguousarray(dw.reshape(kh, kw, c, o).transpose(3, 2, 0, 1))


def saved_input(x: Any, kernel: tuple, stride: tuple, pads: tuple, dilation: tuple, groups: int,
                out_channels: int):  # fmt: skip
    """What :data:`conv2d` keeps of its input ``x`` for the weight gradient (its ``cols``
    argument) when the weight has ``out_channels`` outputs: the channels-last image when the
    convolution runs by kernel positions (stride 1, no groups, enough channels; see
    :func:`_tap_source`: padded (N, Hp, Wp, C), or unpadded where the compiled block loops pad
    it), else the :func:`columns`.

    Example:
        >>> import numpy as np
        >>> x = np.ones((2, 16, 5, 5))
        >>> saved_input(x, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1, 8).shape
        (2, 7, 7, 16)
        >>> saved_input(x, (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), 1, 8).shape
        (1, 18, 144)
    """
    if _by_taps(x, kernel, stride, groups, out_channels):
        return _tap_source(x, pads)[0]
    return columns(x, kernel, stride, pads, dilation, groups)


def columns(x: Any, kernel: tuple, stride: tuple, pads: tuple, dilation: tuple, groups: int):
    """The windows of the array ``x`` as the column matrix :data:`conv2d` multiplies:
    ``(groups, N*OH*OW, kh*kw*C/groups)`` (channels-last) or, for few channels, its transpose.

    Example:
        >>> import numpy as np
        >>> columns(np.ones((2, 16, 5, 5)), (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1).shape
        (1, 50, 144)
    """
    if _few_channels(x.shape[1], kernel[1], groups, dilation[1]):
        return _columns_t(x, kernel, stride, pads, dilation, groups)
    return _columns(x, kernel, stride, pads, dilation, groups)


def _conv2d_fwd(
    x: Any, w: Any, stride: tuple, pads: tuple, dilation: tuple, groups: int, b: Any = None,
    cols: Any = None,
) -> Any:  # fmt: skip
    n, _, h, wd = x.shape
    o, _, kh, kw = w.shape
    oh, ow = _out_hw(h, wd, (kh, kw), stride, pads, dilation)
    if _by_taps(x, (kh, kw), stride, groups, o):
        src, pad = _tap_source(x, pads) if cols is None else (cols, _pads_left(cols, x, pads))
        return _tap_conv(src, w, (oh, ow), dilation, b, pad).transpose(0, 3, 1, 2)
    if cols is None:
        cols = columns(x, (kh, kw), stride, pads, dilation, groups)
    rows = _weight_rows(w, groups)
    if groups == 1 and _few_channels(x.shape[1], kw, groups, dilation[1]):
        # channel-major columns (K, N*OH*OW), read transposed: the result is channels-last
        y = cols[0].T @ rows[0].T
        if b is not None:
            y += b
        return y.reshape(n, oh, ow, o).transpose(0, 3, 1, 2)
    if _few_channels(x.shape[1], kw, groups, dilation[1]):  # channel-major: (O, N*OH*OW)
        y = (rows @ cols).reshape(o, n, oh, ow).transpose(1, 0, 2, 3)
        # back to (N, O, OH, OW) memory in the same pass as the bias: the layers after an
        # image network's first convolution (pooling, its gradient) run faster on it
        out = _xp(y).empty(y.shape, dtype=y.dtype)
        if b is None:
            out[...] = y
        else:
            _xp(y).add(y, b.reshape(1, o, 1, 1), out=out)
        return out
    if groups == 1:
        y = cols[0] @ rows[0].T  # (N*OH*OW, O): channels-last
    else:
        y = (cols @ rows.transpose(0, 2, 1)).transpose(1, 0, 2).reshape(-1, o)
    if b is not None:
        y += b
    return y.reshape(n, oh, ow, o).transpose(0, 3, 1, 2)


def _flipped(w: Any, groups: int) -> Any:
    """The weight of the adjoint convolution: (O, C/g, kh, kw) -> (C, O/g, kh, kw), each
    kernel turned by 180 degrees."""
    o, cg, kh, kw = w.shape
    wg = w.reshape(groups, o // groups, cg, kh, kw).transpose(0, 2, 1, 3, 4)[..., ::-1, ::-1]
    return wg.reshape(groups * cg, o // groups, kh, kw)


def _check_grad_shape(op: str, g: Any, n: int, h: int, wd: int, w_shape: tuple, stride: tuple,
                      pads: tuple, dilation: tuple) -> None:  # fmt: skip
    """The output gradient ``g`` must have the convolution's output shape."""
    oh, ow = _out_hw(h, wd, w_shape[2:], stride, pads, dilation)
    want = (n, w_shape[0], oh, ow)
    if tuple(g.shape) != want:
        raise ValueError(
            f"{op}: the output gradient has shape {tuple(g.shape)}, but the convolution of an "
            f"input of {n} images of {h}x{wd} with weight {tuple(w_shape)} (stride {stride}, pads "
            f"{pads}, dilation {dilation}) has output shape {want}"
        )


def _conv2d_input_grad_fwd(
    g: Any, w: Any, shape: tuple, stride: tuple, pads: tuple, dilation: tuple, groups: int
) -> Any:
    xp = _xp(g)
    n, c, h, wd = shape
    o, cg, kh, kw = w.shape
    _check_grad_shape("conv2d_input_grad", g, n, h, wd, w.shape, stride, pads, dilation)
    (sh, sw), (dh, dw) = stride, dilation
    eh, ew = dh * (kh - 1), dw * (kw - 1)
    if stride == (1, 1) and (o <= c or (c >= 12 and _by_taps(g, (kh, kw), stride, groups, c))):
        # the adjoint is a convolution of g with the turned kernels; through columns (as wide
        # as g has channels) it pays unless g has more channels than the input, by kernel
        # positions (no columns) unless it has few outputs: each position's product then has
        # only c rows (measured, 3x3 at one thread: LeNet's 8 -> 16 at 13x13 by positions
        # 1.22 ms, below 0.58 ms; 3 -> 64 at 32x32 3.09 against 2.21 ms; 12 -> 24 at 20x20
        # 1.81 against 1.76, 16 -> 32 at 16x16 1.10 against 1.58 ms)
        adj = (eh - pads[0], h - g.shape[2] + pads[0], ew - pads[2], wd - g.shape[3] + pads[2])
        return _conv2d_fwd(g, _flipped(w, groups), (1, 1), adj, dilation, groups)
    # every window's gradient (one product), added back where the window read; a few images
    # at a time, so that their windows' gradients are added while still in cache
    oh, ow = g.shape[2:]
    rows = _grouped_rows(g, groups)  # (g, N*OH*OW, O/g)
    wrows = _weight_rows(w, groups)  # (g, O/g, kh*kw*cg)
    hp, wp = h + pads[0] + pads[1], wd + pads[2] + pads[3]
    out = xp.zeros((n, max(hp, (oh - 1) * sh + eh + 1), max(wp, (ow - 1) * sw + ew + 1), c),
                   dtype=g.dtype)  # fmt: skip
    per = oh * ow
    k = _image_block(n, per, kh * kw * cg * groups, g.dtype.itemsize)
    for i0 in range(0, n, k):
        m = min(k, n - i0)
        dcols = rows[:, i0 * per : (i0 + m) * per] @ wrows  # (g, m*OH*OW, kh*kw*cg)
        blk = out[i0 : i0 + m]
        if groups == 1 and (add := jit.kernel("col2im_add", dcols, blk)) is not None:
            add(dcols.reshape(m, oh, ow, kh, kw, c), sh, sw, dh, dw, blk)
            continue
        d = dcols.reshape(groups, m, oh, ow, kh, kw, cg).transpose(1, 2, 3, 4, 5, 0, 6)
        view = blk.reshape(blk.shape[:3] + (groups, cg))
        for i in range(kh):
            for j in range(kw):
                view[:, i * dh : i * dh + sh * (oh - 1) + 1 : sh, j * dw : j * dw + sw * (ow - 1) + 1 : sw] += d[:, :, :, i, j]  # fmt: skip  # noqa: E501
    inner = out[:, pads[0] : pads[0] + h, pads[2] : pads[2] + wd]
    return inner.transpose(0, 3, 1, 2)


def _weight_grad(g: Any, cols: Any, shape: tuple, groups: int, few: bool) -> Any:
    """The weight gradient from the output gradient and the input's :func:`columns`."""
    o, cg, kh, kw = shape
    if few and groups == 1 and g.transpose(0, 2, 3, 1).flags.c_contiguous:
        # channels-last g (every convolution's output): its rows (P, O) as they lie in memory
        dw = (cols[0] @ g.transpose(0, 2, 3, 1).reshape(-1, o)).T  # (O, kh*kw*cg)
    elif few:  # cols (g, kh*kw*cg, P)
        gc = g.transpose(1, 0, 2, 3)
        if not gc.flags.c_contiguous:
            gc = _xp(g).ascontiguousarray(gc)
        dw = gc.reshape(groups, o // groups, -1) @ cols.transpose(0, 2, 1)
    else:  # cols (g, P, kh*kw*cg)
        dw = _grouped_rows(g, groups).transpose(0, 2, 1) @ cols  # (g, O/g, kh*kw*cg)
    dw = dw.reshape(o, kh, kw, cg).transpose(0, 3, 1, 2)
    return _xp(g).ascontiguousarray(dw)


def _conv2d_weight_grad_fwd(
    g: Any, x: Any, shape: tuple, stride: tuple, pads: tuple, dilation: tuple, groups: int
) -> Any:
    kernel = shape[2:]
    n, _, h, wd = x.shape
    _check_grad_shape("conv2d_weight_grad", g, n, h, wd, shape, stride, pads, dilation)
    if _by_taps(x, kernel, stride, groups, shape[0]):
        src, pad = _tap_source(x, pads)
        return _tap_weight_grad(g, src, shape, dilation, pad)
    cols = columns(x, kernel, stride, pads, dilation, groups)
    return _weight_grad(g, cols, shape, groups, _few_channels(x.shape[1], kernel[1], groups,
                                                              dilation[1]))  # fmt: skip


def _conv_x(g: Any, ans: Any, x: Any, w: Any, stride, pads, dilation, groups, b=None, cols=None):
    return conv2d_input_grad(g, w, x.shape, stride, pads, dilation, groups)


def _conv_w(g: Any, ans: Any, x: Any, w: Any, stride, pads, dilation, groups, b=None, cols=None):
    if cols is not None and not isinstance(g, (Tensor, Tracer)) and not isinstance(x, Tensor):
        # a plain backward: the columns (or padded input) the forward built, not built again
        if cols.ndim == 4:
            return _tap_weight_grad(g, cols, w.shape, dilation, _pads_left(cols, x, pads))
        few = _few_channels(x.shape[1], w.shape[3], groups, dilation[1])
        return _weight_grad(g, cols, w.shape, groups, few)
    return conv2d_weight_grad(g, x, w.shape, stride, pads, dilation, groups)


def _conv_b(g: Any, ans: Any, x: Any, w: Any, stride, pads, dilation, groups, b=None, cols=None):
    if isinstance(g, (Tensor, Tracer)):
        return sum_(g, (0, 2, 3), False)
    return _channel_sum(g)  # a product with ones: fast on channels-last memory too


# All three are linear in each argument: a jvp is the op on one tangent plus the op on the other.
def _conv_jvp(
    ts: list, ans: Any, x: Any, w: Any, stride, pads, dilation, groups, b=None, cols=None
):
    return tangent_sum(
        ans,
        ts,
        lambda t: conv2d(t, w, stride, pads, dilation, groups),
        lambda t: conv2d(x, t, stride, pads, dilation, groups),
        None,
        None,
        None,
        None,
        lambda t: reshape(t, (t.shape[0], 1, 1)),
    )


def _conv_input_grad_jvp(ts: list, ans: Any, g: Any, w: Any, shape, stride, pads, dilation, groups):
    return tangent_sum(
        ans,
        ts,
        lambda t: conv2d_input_grad(t, w, shape, stride, pads, dilation, groups),
        lambda t: conv2d_input_grad(g, t, shape, stride, pads, dilation, groups),
    )


def _conv_weight_grad_jvp(
    ts: list, ans: Any, g: Any, x: Any, shape, stride, pads, dilation, groups
):
    return tangent_sum(
        ans,
        ts,
        lambda t: conv2d_weight_grad(t, x, shape, stride, pads, dilation, groups),
        lambda t: conv2d_weight_grad(g, t, shape, stride, pads, dilation, groups),
    )


conv2d = Primitive(
    "Conv2d",
    _conv2d_fwd,
    [_conv_x, _conv_w, None, None, None, None, _conv_b],
    [
        "d conv(x, W)/dx: the transposed convolution of the gradient (conv2d_input_grad)",
        "d conv(x, W)/dW: the gradient correlated with the input windows (conv2d_weight_grad)",
        "",
        "",
        "",
        "",
        "d (conv + b)/db = 1 (summed over batch and pixels)",
    ],
    jvp=_conv_jvp,
)
conv2d_input_grad = Primitive(
    "Conv2dInputGrad",
    _conv2d_input_grad_fwd,
    [
        lambda u, ans, g, w, shape, stride, pads, dilation, groups: conv2d(
            u, w, stride, pads, dilation, groups
        ),
        lambda u, ans, g, w, shape, stride, pads, dilation, groups: conv2d_weight_grad(
            g, u, w.shape, stride, pads, dilation, groups
        ),
    ],
    [
        "d conv2d_input_grad(g, W)/dg: the convolution itself (conv2d)",
        "d conv2d_input_grad(g, W)/dW: conv2d_weight_grad",
    ],
    jvp=_conv_input_grad_jvp,
)
conv2d_weight_grad = Primitive(
    "Conv2dWeightGrad",
    _conv2d_weight_grad_fwd,
    [
        lambda u, ans, g, x, shape, stride, pads, dilation, groups: conv2d(
            x, u, stride, pads, dilation, groups
        ),
        lambda u, ans, g, x, shape, stride, pads, dilation, groups: conv2d_input_grad(
            g, u, x.shape, stride, pads, dilation, groups
        ),
    ],
    [
        "d conv2d_weight_grad(g, x)/dg: the convolution of x with the gradient (conv2d)",
        "d conv2d_weight_grad(g, x)/dx: conv2d_input_grad",
    ],
    jvp=_conv_weight_grad_jvp,
)
