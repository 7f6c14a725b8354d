"""Optional fused elementwise kernels, compiled with Numba when it is installed.

NumPy evaluates an expression one pass over memory per operation; a kernel that needs twenty
operations per element (a float32 ``erf``) costs twenty passes. Numba fuses them into one
vectorized loop. Every kernel here has a NumPy twin in the op that calls it, which is what runs
when Numba is missing, the array is not a NumPy array (CuPy), or ``CHAINRULE_JIT=0`` is set;
the two agree to float32 rounding (``tests/test_fused_ops.py`` checks both).

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
_state: dict[str, Any] = {"numba": None}


def enabled() -> bool:
    """Whether the Numba kernels are used (installed, and not turned off by ``CHAINRULE_JIT=0``).

    Example:
        >>> isinstance(enabled(), bool)
        True
    """
    if os.environ.get("CHAINRULE_JIT", "1") == "0":
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
        k = _kernels[name] = _BUILDERS[name]()
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


def _gelu_erf(x: Any) -> Any:
    return x * _cdf32(x)


def _gelu_erf_backward(g: Any, x: Any, e: Any) -> Any:
    """``g (Phi(x) + x phi(x))``, with ``e = exp(-x^2 / 2)`` (NumPy's exp is vectorized)."""
    return g * (_cdf32(x) + x * e * RSQRT2PI)


def _build_gelu_erf() -> Callable[..., Any]:
    import numba

    global _cdf32
    if _cdf32 is None:
        _cdf32 = numba.njit(inline="always", cache=True)(_cdf32_scalar)
    return numba.vectorize(["float32(float32)"], cache=True)(_gelu_erf)


def _build_gelu_erf_backward() -> Callable[..., Any]:
    import numba

    _build_gelu_erf()  # compiles the shared _cdf32
    sig = ["float32(float32, float32, float32)"]
    return numba.vectorize(sig, cache=True)(_gelu_erf_backward)


_BUILDERS: dict[str, Callable[[], Any]] = {
    "gelu_erf": _build_gelu_erf,
    "gelu_erf_backward": _build_gelu_erf_backward,
}


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


def _njit(fn: Callable[..., Any]) -> Callable[[], Any]:
    def build() -> Callable[..., Any]:
        import numba

        return numba.njit(cache=True)(fn)

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
