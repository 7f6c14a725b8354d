"""Optional fused elementwise kernels, compiled with Numba when it is installed.

NumPy evaluates an expression one pass over memory per operation; a kernel that needs twenty
operations per element (a float32 ``erf``) costs twenty passes. Numba fuses them into one
vectorized loop. Every kernel here has a NumPy twin in the op that calls it, which is what runs
when Numba is missing, the array is not a NumPy array (CuPy), or ``CHAINRULE_JIT=0`` is set
(read at import; :func:`set_enabled` switches afterwards);
the two agree to float32 rounding (``tests/test_fused_ops.py`` and
``tests/test_gpt_kernels.py`` check both).

Kernels are compiled on first use (cached on disk by Numba), never at ``import chainrule``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

# Eigen's float32 rational approximation of erf on [-4, 4] (beyond, erf is +-1 in float32):
# erf(z) = z P(z^2) / Q(z^2); absolute error about 1e-7
ERF32_P = (-2.72614225801306e-10, 2.77068142495902e-08, -2.10102402082508e-06,
           -5.69250639462346e-05, -7.34990630326855e-04, -2.95459980854025e-03,
           -1.60960333262415e-02)  # fmt: skip
ERF32_Q = (-1.45660718464996e-05, -2.13374055278905e-04, -1.68282697438203e-03,
           -7.37332916720468e-03, -1.42647390514189e-02)  # fmt: skip

_kernels: dict[str, Any] = {}
# "on": CHAINRULE_JIT read once, at import (a lookup of a variable that is not set costs
# ~0.7 us, and every kernel call asks); set_enabled changes it afterwards
_state: dict[str, Any] = {"numba": None, "on": os.environ.get("CHAINRULE_JIT", "1") != "0"}


def set_enabled(on: bool) -> bool:
    """Turn the Numba kernels on or off for the whole process (``CHAINRULE_JIT=0`` turns them
    off from the start); returns the previous setting.

    Example:
        >>> prev = set_enabled(False); enabled()
        False
        >>> _ = set_enabled(prev)
    """
    prev = bool(_state["on"])
    _state["on"] = bool(on)
    return prev


def enabled() -> bool:
    """Whether the Numba kernels are used (installed, and not turned off by ``CHAINRULE_JIT=0``
    or :func:`set_enabled`).

    Example:
        >>> isinstance(enabled(), bool)
        True
    """
    if not _state["on"]:
        return False
    if _state["numba"] is None:
        try:
            import numba  # noqa: F401

            _state["numba"] = True
        except ImportError:
            _state["numba"] = False
    return bool(_state["numba"])


def kernel(name: str, *arrays: Any) -> Callable[..., Any] | None:
    """The compiled kernel ``name`` if it can run on ``arrays`` (NumPy float32 arrays, Numba
    available), else ``None`` (the caller runs its NumPy twin).

    Example:
        >>> k = kernel("gelu_erf", np.zeros(3, np.float64))   # float64 keeps the NumPy path
        >>> k is None
        True
    """
    for a in arrays:
        if type(a) is not np.ndarray or a.dtype != np.float32:
            return None
    if not enabled():
        return None
    k = _kernels.get(name)
    if k is None:
        k = _BUILDERS[name]()
        # numba.vectorize gives a DUFunc, which would compile new loops for other types; its
        # NumPy ufunc runs the compiled float32 loops without the DUFunc's ~1.4 us of Python
        k = _kernels[name] = getattr(k, "ufunc", k)
    return k


# The kernels' constants as float32 globals (Numba freezes globals at compile time, so the
# arithmetic stays float32)
_f = np.float32
P0, P1, P2, P3, P4, P5, P6 = (_f(c) for c in ERF32_P)
Q0, Q1, Q2, Q3, Q4 = (_f(c) for c in ERF32_Q)
HALF, ONE, FOUR = _f(0.5), _f(1.0), _f(4.0)
RSQRT2, RSQRT2PI = _f(0.7071067811865476), _f(0.3989422804014327)


def _cdf32_scalar(x: Any) -> Any:
    """``Phi(x) = (1 + erf(x / sqrt 2)) / 2`` on one float32: the kernels' shared part, compiled
    as the global ``_cdf32`` that they call."""
    z = min(max(x * RSQRT2, -FOUR), FOUR)
    z2 = z * z
    num = ((((((P0 * z2 + P1) * z2 + P2) * z2 + P3) * z2 + P4) * z2 + P5) * z2 + P6) * z
    den = (((Q0 * z2 + Q1) * z2 + Q2) * z2 + Q3) * z2 + Q4
    return HALF + HALF * (num / den)


_cdf32: Any = None  # _cdf32_scalar compiled, once a kernel needs it

# exp on one float32, branch-free so that LLVM vectorizes the loops that call it (Numba's own
# np.exp is a scalar libm call per element, 4x slower than NumPy's SIMD exp): Cephes' expf,
# x = n ln2 + r, exp(r) by a degree-7 polynomial (error under 1 ulp), 2^n built in the
# exponent bits (two factors, so that n = 128 fits); below -87.3 it is 0 and above 88.7
# infinity, as expf; NaN stays NaN.
LOG2E, LN2_HI, LN2_LO = _f(1.4426950408889634), _f(0.693359375), _f(-2.12194440e-4)
E1, E2, E3, E4, E5, E6 = (
    _f(c)
    for c in (
        1.9875691500e-4,
        1.3981999507e-3,
        8.3334519073e-3,
        4.1665795894e-2,
        1.6666665459e-1,
        5.0000001201e-1,
    )
)
EXP_LO, EXP_HI, INF = _f(-87.33654), _f(88.72283), _f(np.inf)


def _exp32_scalar(x: Any) -> Any:
    """``exp(x)`` of one float32 (compiled as the global ``_exp32``)."""
    c = min(max(x, EXP_LO), EXP_HI)
    n = np.floor(c * LOG2E + HALF)
    r = c - n * LN2_HI
    r = r - n * LN2_LO
    p = (((((E1 * r + E2) * r + E3) * r + E4) * r + E5) * r + E6) * (r * r) + r + ONE
    k = np.int32(n)
    h = k >> np.int32(1)  # 2^n as 2^h 2^(n-h): each factor a normal float32 up to n = 128
    y = p * _f32_from_bits((h + np.int32(127)) << np.int32(23))
    y = y * _f32_from_bits((k - h + np.int32(127)) << np.int32(23))
    y = _f(0.0) if x < EXP_LO else y
    return INF if x > EXP_HI else y


_exp32: Any = None
_f32_from_bits: Any = None


def _build_exp32() -> None:
    import numba
    from numba.extending import intrinsic

    global _exp32, _f32_from_bits
    if _exp32 is not None:
        return

    @intrinsic
    def f32_from_bits(typingctx: Any, i: Any) -> Any:  # reinterpret an int32's bits
        sig = numba.types.float32(numba.types.int32)

        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            return builder.bitcast(args[0], context.get_value_type(numba.types.float32))

        return sig, codegen

    _f32_from_bits = f32_from_bits
    _exp32 = numba.njit(inline="always", cache=True)(_exp32_scalar)


def _gelu_erf(x: Any) -> Any:
    return x * _cdf32(x)


def _gelu_erf_backward(g: Any, x: Any) -> Any:
    """``g (Phi(x) + x phi(x))``, ``phi(x) = exp(-x^2 / 2) / sqrt(2 pi)``, in one pass."""
    return g * (_cdf32(x) + x * _exp32(x * x * -HALF) * RSQRT2PI)


def _build_gelu_erf() -> Callable[..., Any]:
    import numba

    global _cdf32
    if _cdf32 is None:
        _cdf32 = numba.njit(inline="always", cache=True)(_cdf32_scalar)
    return numba.vectorize(["float32(float32)"], cache=True)(_gelu_erf)


def _build_gelu_erf_backward() -> Callable[..., Any]:
    import numba

    _build_gelu_erf()  # compiles the shared _cdf32
    _build_exp32()
    sig = ["float32(float32, float32)"]
    return numba.vectorize(sig, cache=True)(_gelu_erf_backward)


_BUILDERS: dict[str, Callable[[], Any]] = {
    "gelu_erf": _build_gelu_erf,
    "gelu_erf_backward": _build_gelu_erf_backward,
}


# ----- SiLU (ops/nnops.py ``silu``) -----------------------------------------------------------
def _sigmoid32_scalar(x: Any) -> Any:
    """``sigmoid(x)`` of one float32 from ``e^-|x|`` (never overflows); a select, not a branch
    (compiled as the global ``_sigmoid32``)."""
    e = _exp32(-abs(x))
    r = ONE / (ONE + e)
    return r if x >= ZERO else e * r


def _silu32(x: Any) -> Any:
    return x * _sigmoid32(x)


def _silu32_backward(g: Any, x: Any) -> Any:
    """``g silu'(x) = g s (1 + x (1 - s))``, ``s = sigmoid(x)``, in one pass."""
    s = _sigmoid32(x)
    return g * (s * (ONE + x * (ONE - s)))


def _build_silu() -> Callable[..., Any]:
    import numba

    global _sigmoid32
    _build_exp32()
    if _sigmoid32 is None:
        _sigmoid32 = numba.njit(inline="always", cache=True)(_sigmoid32_scalar)
    return numba.vectorize(["float32(float32)"], cache=True)(_silu32)


def _build_silu_backward() -> Callable[..., Any]:
    import numba

    _build_silu()
    return numba.vectorize(["float32(float32, float32)"], cache=True)(_silu32_backward)


_sigmoid32: Any = None
_BUILDERS["silu"] = _build_silu
_BUILDERS["silu_backward"] = _build_silu_backward


# ----- ReLU (ops/elementwise.py ``relu``) ----------------------------------------------------
# On the float32 bits as int32: a float compare on NaN raises the invalid flag (a warning from
# the ufunc), integer ops never do. Nonnegative bits (+0 up to +inf and +NaN) are kept, as is a
# negative NaN; every other negative (-0 included) becomes +0: np.maximum(x, 0) to the bit,
# in one pass (NumPy's float32 maximum ran 4-5x slower than an add over the same memory).
I32_ABS, I32_INF, I32_ZERO = np.int32(0x7FFFFFFF), np.int32(0x7F800000), np.int32(0)


def _relu_bits(i: Any) -> Any:
    """``max(x, 0)`` on the bits ``i`` of a float32 ``x``."""
    return i if (i >= I32_ZERO or (i & I32_ABS) > I32_INF) else I32_ZERO


def _build_relu_bits() -> Callable[..., Any]:
    import numba

    return numba.vectorize(["int32(int32)"], cache=True)(_relu_bits)


_BUILDERS["relu_bits"] = _build_relu_bits


# ----- ReLU's gradient (ops/elementwise.py ``masked``) -------------------------------------
def _masked(g: Any, m: Any) -> Any:
    """``g`` where the mask is set, else 0: NumPy's ``where(m, g, 0)`` in one pass (exact for
    infinities and NaN, which a product with the mask is not)."""
    return g if m else ZERO


ZERO = _f(0.0)


def _build_masked() -> Callable[..., Any]:
    import numba

    return numba.vectorize(["float32(float32, boolean)"], cache=True)(_masked)


_BUILDERS["masked"] = _build_masked


# ----- batch normalization (ops/batchnorm.py) on channels-last rows (P, C) -----------------
# NumPy needs a pass (and a temporary) per operation of x * scale + shift or of the closed
# form backward g a + x b + c; over contiguous (pixels, channels) rows each is one loop, and
# the per-channel sums (float64 accumulators) one read of the inputs.
def _bn_stats(x: Any) -> Any:
    """Per-channel ``(mean, sum of squared deviations)`` of the rows ``x`` (P, C), two passes,
    float64 accumulators."""
    p, c = x.shape
    s = np.zeros(c, np.float64)
    for i in range(p):
        for k in range(c):
            s[k] += x[i, k]
    mean = s / max(p, 1)
    q = np.zeros(c, np.float64)
    for i in range(p):
        for k in range(c):
            d = x[i, k] - mean[k]
            q[k] += d * d
    return mean, q


def _bn_sums(g: Any, x: Any) -> Any:
    """Per-channel ``(sum(g), sum(g x))`` of the rows ``g`` and ``x`` (P, C), one pass."""
    p, c = g.shape
    sg = np.zeros(c, np.float64)
    sgx = np.zeros(c, np.float64)
    for i in range(p):
        for k in range(c):
            v = g[i, k]
            sg[k] += v
            sgx[k] += v * x[i, k]
    return sg, sgx


def _bn_affine(x: Any, a: Any, b: Any, out: Any) -> Any:
    """``out = x a + b`` over the rows (P, C), ``a`` and ``b`` per channel, one pass."""
    p, c = x.shape
    for i in range(p):
        for k in range(c):
            out[i, k] = x[i, k] * a[k] + b[k]
    return out


def _bn_backward(g: Any, x: Any, a: Any, b: Any, c0: Any, out: Any) -> Any:
    """``out = g a + x b + c0`` over the rows (P, C), per-channel coefficients, one pass."""
    p, c = g.shape
    for i in range(p):
        for k in range(c):
            out[i, k] = g[i, k] * a[k] + x[i, k] * b[k] + c0[k]
    return out


def _njit(fn: Callable[..., Any], helpers: bool = False, **options: Any) -> Callable[[], Any]:
    """The builder of ``fn`` compiled by ``numba.njit(cache=True, **options)``; with
    ``helpers``, the row-reduction helpers it calls are compiled first."""

    def build() -> Callable[..., Any]:
        import numba

        if helpers:
            _build_helpers()
        return numba.njit(cache=True, **options)(fn)

    return build


_BUILDERS["bn_stats"] = _njit(_bn_stats)
_BUILDERS["bn_sums"] = _njit(_bn_sums)
_BUILDERS["bn_affine"] = _njit(_bn_affine)
_BUILDERS["bn_backward"] = _njit(_bn_backward)


def _masked_positive(g: Any, a: Any) -> Any:
    """``g`` where ``a > 0``, else 0 (ReLU's gradient from its output), one pass."""
    return g if a > ZERO else ZERO


def _build_masked_positive() -> Callable[..., Any]:
    import numba

    return numba.vectorize(["float32(float32, float32)"], cache=True)(_masked_positive)


_BUILDERS["masked_positive"] = _build_masked_positive


# ----- optimizers' updates (optim/optimizer.py ``_axpy_writer``) ----------------------------
def _axpy(w: Any, d: Any, a: Any) -> None:
    """``w += a * d`` on flat float32 arrays in one pass over memory, rounded as NumPy's two
    passes round it (the product, then the sum: no fused multiply-add). A loop, not a
    ``vectorize``: Numba's ufunc loop runs a broadcast scalar 4x slower than this."""
    for i in range(w.size):
        w[i] = w[i] + a * d[i]


_BUILDERS["axpy"] = _njit(_axpy)


# ----- max pooling's argmax (ops/conv.py ``window_argmax``) on channels-last images -------
def _pool_argmax(x: Any, kh: int, kw: int, sh: int, sw: int, dh: int, dw: int, pt: int,
                 pl: int, arg: Any) -> Any:  # fmt: skip
    """For each window of the channels-last image ``x`` (N, H, W, C), the flat index into
    ``H * W`` of its first maximum (a later NaN wins, as in PyTorch), written to ``arg``
    (N, OH, OW, C); the padding is never picked (a window of -inf picks its first element
    inside the image). One pass, no padded copy."""
    n_, h, w, c = x.shape
    oh, ow = arg.shape[1], arg.shape[2]
    best = np.empty(c, x.dtype)
    for n in range(n_):
        for oy in range(oh):
            for ox in range(ow):
                first = True
                for i in range(kh):
                    yy = oy * sh - pt + i * dh
                    for j in range(kw):
                        xx = ox * sw - pl + j * dw
                        if yy < 0 or yy >= h or xx < 0 or xx >= w:
                            continue  # padding is never picked
                        pos = yy * w + xx
                        for k in range(c):
                            v = x[n, yy, xx, k]
                            if first or v > best[k] or v != v:
                                best[k] = v
                                arg[n, oy, ox, k] = pos
                        first = False
    return arg


_BUILDERS["pool_argmax"] = _njit(_pool_argmax)


def _pool_gather_last(x: Any, index: Any, out: Any) -> Any:
    """``out[n, oy, ox, c] = x[n, p // W, p % W, c]``, ``p = index[n, oy, ox, c]`` (a flat
    position in the H x W map): max pooling's values at its picks, channels-last, one pass."""
    n_, oh, ow, c_ = index.shape
    w = x.shape[2]
    for n in range(n_):
        for oy in range(oh):
            for ox in range(ow):
                for c in range(c_):
                    p = index[n, oy, ox, c]
                    out[n, oy, ox, c] = x[n, p // w, p % w, c]
    return out


def _pool_scatter_last(g: Any, index: Any, out: Any) -> Any:
    """``out[n, p // W, p % W, c] += g[n, oy, ox, c]`` at every pick (``out`` zeroed, all
    channels-last): max pooling's gradient, one pass; overlapping windows add up."""
    n_, oh, ow, c_ = index.shape
    w = out.shape[2]
    for n in range(n_):
        for oy in range(oh):
            for ox in range(ow):
                for c in range(c_):
                    p = index[n, oy, ox, c]
                    out[n, p // w, p % w, c] += g[n, oy, ox, c]
    return out


_BUILDERS["pool_gather_last"] = _njit(_pool_gather_last)
_BUILDERS["pool_scatter_last"] = _njit(_pool_scatter_last)


# ----- a strided convolution's input gradient (ops/conv.py) --------------------------------
def _col2im_add(d: Any, sh: int, sw: int, dh: int, dw: int, out: Any) -> Any:
    """``out[n, oy sh + i dh, ox sw + j dw] += d[n, oy, ox, i, j]`` for every window of the
    channels-last ``out`` (N, H, W, C), ``d`` (N, OH, OW, kh, kw, C) the windows' gradients:
    every window added back where it read, in one pass over ``d``."""
    n_, oh, ow, kh, kw, c = d.shape
    for n in range(n_):
        for oy in range(oh):
            for ox in range(ow):
                for i in range(kh):
                    y = oy * sh + i * dh
                    for j in range(kw):
                        x = ox * sw + j * dw
                        for k in range(c):
                            out[n, y, x, k] += d[n, oy, ox, i, j, k]
    return out


_BUILDERS["col2im_add"] = _njit(_col2im_add)


# ----- convolutions by kernel positions, BLAS called from compiled code (ops/conv.py) -------
# A block of images takes one product per kernel position; through a Python wrapper each
# costs about 2.5 us of call overhead (some 1000 calls in a ResNet step), from Numba what a C
# call costs, so blocks can be smaller and stay in L1/L2 (measured: a 3x3 16->16 convolution
# of 32 images 2.9 -> 1.8 ms). The BLAS is NumPy's own OpenBLAS where its library is found
# (one thread pool with NumPy's products; 64-bit integers), else SciPy's Cython BLAS table
# (32-bit). Fortran ABI: every argument a pointer. The function's address is an argument of
# the kernels, not a global, so that they are cached on disk as the others.
_SGEMM: list = []


def _numpy_sgemm() -> tuple[int, int]:
    """``(address, 8)`` of ``sgemm`` in the OpenBLAS that NumPy's wheels bundle, or (0, 0)."""
    import ctypes
    import glob

    libs = os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs")
    for path in sorted(glob.glob(os.path.join(libs, "libscipy_openblas64_*.so*"))):
        try:
            fn = ctypes.CDLL(path).scipy_sgemm_64_
        except (OSError, AttributeError):
            continue
        return int(ctypes.cast(fn, ctypes.c_void_p).value), 8
    return 0, 0


def sgemm_address() -> tuple[int, int]:
    """``(address, bytes of its integers)`` of a Fortran ``sgemm`` that compiled code can
    call: NumPy's OpenBLAS (ILP64) when found, else SciPy's Cython BLAS (32-bit integers),
    else ``(0, 0)``.

    Example:
        >>> address, int_bytes = sgemm_address()
        >>> int_bytes in (0, 4, 8) and (address > 0) == (int_bytes > 0)
        True
    """
    if not _SGEMM:
        found = _numpy_sgemm()
        if not found[0]:
            try:
                from numba.extending import get_cython_function_address

                found = int(get_cython_function_address("scipy.linalg.cython_blas", "sgemm")), 4
            except (ImportError, ValueError):
                found = (0, 0)
        _SGEMM.append(found)
    return _SGEMM[0]


_call13: Any = None  # compiled: calls a 13-pointer void function at an address
_pad_block_jit: Any = None
_block_rows_jit: Any = None
_gemm_jit: Any = None
_gemm_workspace_jit: Any = None


def _gemm_workspace() -> tuple:
    """What :func:`_gemm` points BLAS at: room for the six integer arguments (32- and 64-bit),
    the scalars ``(alpha = 1, beta = 0, beta = 1)`` and the characters ``'N', 'T'``."""
    scalars = np.ones(3, np.float32)
    scalars[1] = 0.0
    return np.empty(6, np.int32), np.empty(6, np.int64), scalars, np.array([78, 84], np.uint8)


def _gemm(sgemm: int, isz: int, ws: tuple, ta: int, tb: int, m: int, n: int, k: int, a: int,
          lda: int, b: int, ldb: int, beta: int, c: int, ldc: int) -> None:  # fmt: skip
    """``C = op(A) op(B) + beta C`` (column-major, ``op`` transposes where ``ta``/``tb`` is 1,
    ``beta`` 0 or 1) by the Fortran ``sgemm`` at address ``sgemm`` with ``isz``-byte integers;
    ``a``, ``b``, ``c`` are data addresses, ``ws`` a :func:`_gemm_workspace`."""
    d32, d64, scalars, chars = ws
    for i, v in enumerate((m, n, k, lda, ldb, ldc)):
        d32[i], d64[i] = v, v
    d = d64.ctypes.data if isz == 8 else d32.ctypes.data  # the integers, isz bytes apart
    t, f = chars.ctypes.data, scalars.ctypes.data
    _call13(sgemm, t + ta, t + tb, d, d + isz, d + 2 * isz, f, a, d + 3 * isz, b, d + 4 * isz,
            f + 4 + 4 * beta, c, d + 5 * isz)  # fmt: skip


def _pad_block(x: Any, i0: int, m: int, pt: int, pl: int, hp: int, wp: int, rows: Any) -> None:
    """Images ``i0 .. i0 + m`` of the channels-last ``x`` (N, H, W, C) into the zero-bordered
    flattened padded ``rows`` (>= m * Hp * Wp, C), each at its offset (top ``pt``, left
    ``pl``): the padding of a block, made in cache instead of a padded copy of the batch."""
    h, w, c = x.shape[1], x.shape[2], x.shape[3]
    for j in range(m):
        for y in range(h):
            base = (j * hp + pt + y) * wp + pl
            for xx in range(w):
                for q in range(c):
                    rows[base + xx, q] = x[i0 + j, y, xx, q]


def _block_rows(x: Any, flat: Any, scratch: Any, direct: bool, i0: int, m: int, pt: int,
                pl: int, hp: int, wp: int, span: int) -> tuple:  # fmt: skip
    """``(rows, first row, how many)`` that the products of block ``i0 .. i0 + m`` read: the
    already padded image's own rows (``direct``), or ``scratch`` with the block padded into it."""
    per = hp * wp
    if direct:
        return flat, i0 * per, min((i0 + m) * per, span) - i0 * per
    _pad_block_jit(x, i0, m, pt, pl, hp, wp, scratch)
    return scratch, 0, m * per


def _build_blas_helpers() -> None:
    import numba
    from llvmlite import ir
    from numba.extending import intrinsic

    global _call13, _pad_block_jit, _block_rows_jit, _gemm_jit, _gemm_workspace_jit
    if _call13 is not None:
        return
    _pad_block_jit = numba.njit(inline="always", cache=True)(_pad_block)
    _block_rows_jit = numba.njit(inline="always", cache=True)(_block_rows)

    @intrinsic
    def call13(typingctx: Any, fn: Any, a0: Any, a1: Any, a2: Any, a3: Any, a4: Any, a5: Any,
               a6: Any, a7: Any, a8: Any, a9: Any, a10: Any, a11: Any, a12: Any) -> Any:  # fmt: skip  # noqa: E501
        sig = numba.types.void(fn, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12)

        def codegen(context: Any, builder: Any, signature: Any, llargs: Any) -> None:
            ptr = ir.IntType(8).as_pointer()
            fnty = ir.FunctionType(ir.VoidType(), [ptr] * 13)
            target = builder.inttoptr(llargs[0], fnty.as_pointer())
            builder.call(target, [builder.inttoptr(v, ptr) for v in llargs[1:]])

        return sig, codegen

    _call13 = call13
    _gemm_jit = numba.njit(inline="always", cache=True)(_gemm)  # (after _call13: it calls it)
    _gemm_workspace_jit = numba.njit(inline="always", cache=True)(_gemm_workspace)


def _tap_conv_blocks(sgemm: int, isz: int, x: Any, pt: int, pl: int, hp: int, wp: int, wt: Any,
                     offs: Any, k: int, scratch: Any, acc: Any, out: Any) -> Any:  # fmt: skip
    """The blocks of ``ops.conv._tap_conv``: for each block of ``k`` images of the
    channels-last ``x`` (N, H, W, C), padded (by ``pt`` on top, ``pl`` on the left, to
    Hp x Wp) into ``scratch`` block by block unless it already is Hp x Wp, and flattened to
    rows ``X``: ``acc = sum_t X[off_t : off_t + L] @ wt[t]`` (``acc^T = sum_t W_t^T X_t^T``
    column-major: one sgemm per position, the first with beta 0), then the block's valid
    grid copied into ``out`` (N, OH, OW, O)."""
    n, oh, ow, o = out.shape
    c = x.shape[3]
    flat = x.reshape(x.shape[0] * x.shape[1] * x.shape[2], c)
    direct = x.shape[1] == hp and x.shape[2] == wp
    span = flat.shape[0] - offs[-1]
    ws = _gemm_workspace_jit()
    for i0 in range(0, n, k):
        m = min(k, n - i0)
        src, s0, rows = _block_rows_jit(x, flat, scratch, direct, i0, m, pt, pl, hp, wp, span)
        for t in range(offs.shape[0]):  # acc^T (O x rows) = W_t^T (O x C) X_t^T (C x rows)
            px = src[s0 + offs[t] :].ctypes.data
            _gemm_jit(sgemm, isz, ws, 0, 0, o, rows, c, wt[t].ctypes.data, o, px, c, min(t, 1),
                      acc.ctypes.data, o)  # fmt: skip
        for j in range(m):
            for y in range(oh):
                for xx in range(ow):
                    r = (j * hp + y) * wp + xx
                    for q in range(o):
                        out[i0 + j, y, xx, q] = acc[r, q]
    return out


def _tap_weight_grad_blocks(sgemm: int, isz: int, x: Any, pt: int, pl: int, hp: int, wp: int,
                            g: Any, offs: Any, k: int, scratch: Any, grid: Any,
                            dw: Any) -> Any:  # fmt: skip
    """The blocks of ``ops.conv._tap_weight_grad``: for each block of ``k`` images, ``x``
    padded and flattened to rows ``X`` as in :func:`_tap_conv_blocks`, the output gradient
    ``g`` (N, OH, OW, O) laid on the zero-bordered padded grid ``grid`` (k, Hp, Wp, O), and
    ``dw[t] += X[off_t : off_t + L]^T G`` (``dW_t^T += G^T X_t`` column-major, one sgemm per
    position, beta 0 on the first block)."""
    n, oh, ow, o = g.shape
    c = x.shape[3]
    flat = x.reshape(x.shape[0] * x.shape[1] * x.shape[2], c)
    direct = x.shape[1] == hp and x.shape[2] == wp
    span = flat.shape[0] - offs[-1]
    ws = _gemm_workspace_jit()
    pg = grid.ctypes.data
    for i0 in range(0, n, k):
        m = min(k, n - i0)
        src, s0, rows = _block_rows_jit(x, flat, scratch, direct, i0, m, pt, pl, hp, wp, span)
        for j in range(m):
            for y in range(oh):
                for xx in range(ow):
                    for q in range(o):
                        grid[j, y, xx, q] = g[i0 + j, y, xx, q]
        for t in range(offs.shape[0]):  # dW_t^T (O x C) += G^T (O x rows) X_t (rows x C)
            _gemm_jit(sgemm, isz, ws, 0, 1, o, c, rows, pg, o, src[s0 + offs[t] :].ctypes.data,
                      c, min(i0, 1), dw[t].ctypes.data, o)  # fmt: skip
    return dw


def _blas_builder(fn: Callable[..., Any]) -> Callable[[], Any]:
    """The builder of a kernel that calls BLAS through ``_call13`` (compiled first)."""
    build = _njit(fn)

    def with_call13() -> Callable[..., Any]:
        _build_blas_helpers()
        return build()

    return with_call13


_BUILDERS["tap_conv_blocks"] = _blas_builder(_tap_conv_blocks)
_BUILDERS["tap_weight_grad_blocks"] = _blas_builder(_tap_weight_grad_blocks)


# ----- row kernels: layer norm, attention's softmax, log-softmax --------------------------------
# One loop per row, the row in cache. Only the row reductions (sums, maxima: the helpers below)
# may be reassociated, which lets LLVM vectorize them; the elementwise loops keep IEEE order
# (reassociating ``(x - m) - c`` into ``x - (m + c)`` loses digits when x is large). No
# ``nnan``/``ninf``: NaN and infinities propagate as in the NumPy twins.
_SUM_MATH = {"reassoc", "contract", "nsz"}
_ELEM_MATH = {"contract", "nsz"}


def _row_stats(x: Any, i: int, n: int, eps: Any) -> tuple:
    """``(mean, 1/std)`` of row ``i`` of ``x`` (float32, two passes, as NumPy's twin)."""
    s = _f(0.0)
    for j in range(n):
        s += x[i, j]
    mean = s / _f(n)
    v = _f(0.0)
    for j in range(n):
        d = x[i, j] - mean
        v += d * d
    return mean, _f(1.0) / np.sqrt(v / _f(n) + eps)


def _row_dy_sums(g: Any, x: Any, w: Any, has_w: bool, i: int, m: Any, r: Any) -> tuple:
    """``(sum(dy), sum(dy x_hat))`` over row ``i``, ``dy = g w``."""
    n = x.shape[1]
    sdy = _f(0.0)
    sdyx = _f(0.0)
    for j in range(n):
        dy = g[i, j] * w[j] if has_w else g[i, j]
        sdy += dy
        sdyx += dy * ((x[i, j] - m) * r)
    return sdy, sdyx


def _row_sum(a: Any, i: int) -> Any:
    s = _f(0.0)
    for j in range(a.shape[1]):
        s += a[i, j]
    return s


def _row_max_sumexp(a: Any, i: int, lim: int, scale: Any) -> tuple:
    """``(m, sum(exp(a * scale - m)))`` over ``a[i, :lim]``, ``m`` the maximum (0 if -inf)."""
    m = -INF
    for j in range(lim):
        m = max(m, a[i, j] * scale)
    if m == -INF:  # an all -inf row: zeros, not NaN (as PyTorch's attention)
        m = _f(0.0)
    t = _f(0.0)
    for j in range(lim):
        t += _exp32(a[i, j] * scale - m)
    return m, t


_helpers: dict[str, Any] = {}


def _build_helpers() -> None:
    import numba

    _build_exp32()
    if _helpers:
        return
    for fn in (_row_stats, _row_dy_sums, _row_sum, _row_max_sumexp):
        _helpers[fn.__name__] = numba.njit(cache=True, fastmath=_SUM_MATH)(fn)
    globals().update({name + "_jit": f for name, f in _helpers.items()})


_row_stats_jit: Any = None
_row_dy_sums_jit: Any = None
_row_sum_jit: Any = None
_row_max_sumexp_jit: Any = None


def _njit_rows(fn: Callable[..., Any], math: set = _ELEM_MATH) -> Callable[[], Any]:
    """The builder of a row kernel: its helpers first, then ``fn`` with the ``math`` flags."""
    return _njit(fn, helpers=True, fastmath=math, nogil=True)


def _layer_norm_rows(x: Any, w: Any, b: Any, eps: Any, out: Any) -> None:
    """``out = (x - mean) / std * w + b`` per row (``w``/``b`` of size 0: absent)."""
    rows, n = x.shape
    has_w, has_b = w.shape[0] == n, b.shape[0] == n
    for i in range(rows):
        m, r = _row_stats_jit(x, i, n, eps)
        for j in range(n):
            y = (x[i, j] - m) * r
            if has_w:
                y *= w[j]
            if has_b:
                y += b[j]
            out[i, j] = y


def _layer_norm_rows_dx(g: Any, x: Any, w: Any, eps: Any, out: Any) -> None:
    """``dx = (dy - mean(dy) - x_hat mean(dy x_hat)) / std`` per row, ``dy = g w``."""
    rows, n = x.shape
    has_w = w.shape[0] == n
    for i in range(rows):
        m, r = _row_stats_jit(x, i, n, eps)
        sdy, sdyx = _row_dy_sums_jit(g, x, w, has_w, i, m, r)
        a, c = sdy / _f(n), sdyx / _f(n)
        for j in range(n):
            dy = g[i, j] * w[j] if has_w else g[i, j]
            out[i, j] = (dy - a - (x[i, j] - m) * r * c) * r


def _layer_norm_rows_dw(g: Any, x: Any, eps: Any, acc: Any) -> None:
    """``acc += sum over rows of g x_hat`` (``acc`` float64, size n)."""
    rows, n = x.shape
    for i in range(rows):
        m, r = _row_stats_jit(x, i, n, eps)
        for j in range(n):
            acc[j] += g[i, j] * ((x[i, j] - m) * r)


# the layer-norm kernels are reassociated whole (their sums then vectorize in place): nothing
# in them subtracts numbers of very different size (tests/test_gpt_kernels.py checks 1e4 + x)
_BUILDERS["layer_norm"] = _njit_rows(_layer_norm_rows, _SUM_MATH)
_BUILDERS["layer_norm_dx"] = _njit_rows(_layer_norm_rows_dx, _SUM_MATH)
_BUILDERS["layer_norm_dw"] = _njit_rows(_layer_norm_rows_dw, _SUM_MATH)


# attention's softmax over the rows of (n, L, S) float32 scores; is_causal: query i sees keys
# j <= i (the rest of its row is 0); no explicit mask, no dropout here (the op's NumPy path
# handles those)
def _attention_probs(s: Any, scale: Any, causal: bool, lse: Any) -> None:
    """In place: ``s <- softmax(s * scale)`` per row, ``lse`` (n, L) its log-sum-exp."""
    nb, rows, cols = s.shape
    for b in range(nb):
        sb = s[b]
        for i in range(rows):
            lim = min(i + 1, cols) if causal else cols
            m, t = _row_max_sumexp_jit(sb, i, lim, scale)
            r = _f(1.0) / t if t > 0 else _f(0.0)
            for j in range(lim):
                sb[i, j] = _exp32(sb[i, j] * scale - m) * r
            for j in range(lim, cols):
                sb[i, j] = _f(0.0)
            lse[b, i] = m + np.log(t) if t > 0 else m


def _attention_grads(s: Any, dp: Any, dsum: Any, scale: Any, causal: bool, lse: Any) -> None:
    """In place, from the raw scores ``s = q k^T`` and ``dp = dO v^T``: ``s <- P`` (again, from
    ``lse``) and ``dp <- P (dP - dsum) * scale``, the score gradient times the scale."""
    nb, rows, cols = s.shape
    for b in range(nb):
        for i in range(rows):
            lim = min(i + 1, cols) if causal else cols
            c = lse[b, i]
            d = dsum[b, i]
            for j in range(lim):
                p = _exp32(s[b, i, j] * scale - c)
                s[b, i, j] = p
                dp[b, i, j] = p * (dp[b, i, j] - d) * scale
            for j in range(lim, cols):
                s[b, i, j] = _f(0.0)
                dp[b, i, j] = _f(0.0)


_BUILDERS["attention_probs"] = _njit_rows(_attention_probs)
_BUILDERS["attention_grads"] = _njit_rows(_attention_grads)


# log-softmax over the last axis of (rows, n) float32 arrays (cross-entropy's)
def _log_softmax_rows(x: Any, out: Any) -> None:
    """``out = (x - max) - log(sum(exp(x - max)))`` per row (the NumPy twin's rounding)."""
    rows, n = x.shape
    one = _f(1.0)
    for i in range(rows):
        m, t = _row_max_sumexp_jit(x, i, n, one)  # an all -inf row: NaN below, as the twin's
        lt = np.log(t)
        for j in range(n):
            out[i, j] = (x[i, j] - m) - lt


def _log_softmax_rows_grad(g: Any, ans: Any, out: Any) -> None:
    """``out = g - exp(ans) * sum(g)`` per row."""
    rows, n = g.shape
    for i in range(rows):
        s = _row_sum_jit(g, i)
        for j in range(n):
            out[i, j] = g[i, j] - _exp32(ans[i, j]) * s


_BUILDERS["log_softmax"] = _njit_rows(_log_softmax_rows)
_BUILDERS["log_softmax_grad"] = _njit_rows(_log_softmax_rows_grad)


# embedding's backward: rows of g added into out at their indices (repeats add up)
def _add_rows_kernel(out: Any, idx: Any, g: Any) -> None:
    """``out[idx[r]] += g[r]`` for every row ``r`` of the (rows, n) ``g`` (indices in range)."""
    n = g.shape[1]
    for r in range(idx.shape[0]):
        dst = out[idx[r]]
        src = g[r]
        for j in range(n):
            dst[j] += src[j]


_BUILDERS["add_rows"] = _njit_rows(_add_rows_kernel)
