"""Elementwise primitives: arithmetic, exp/log, trigonometric, activations, comparisons.

Each primitive is one forward and one rule per input; rules use the same primitives, so they
are differentiable again. ``g`` is the gradient of the output, ``ans`` the output.
"""

from __future__ import annotations

from typing import Any

import numpy

from ..backend import array_module
from . import jit
from .primitive import Primitive, no_tangent

_LN2 = 0.6931471805599453
_LN10 = 2.302585092994046


def _xp(*arrays: Any) -> Any:
    if arrays[0].__class__ is numpy.ndarray:  # the common case, first
        return numpy
    for a in arrays:
        if hasattr(a, "shape"):
            return array_module(a._data if hasattr(a, "_data") else a)
    return numpy


def _where_fwd(c: Any, a: Any, b: Any) -> Any:
    xp = _xp(c, a, b)
    # The gradient rules of relu, clamp, maximum... select against 0. NumPy's where is ~10x
    # slower than a masked product there, which is exact for finite values (+0 turns -0 into 0).
    if (
        isinstance(b, (int, float))
        and b == 0
        and getattr(getattr(c, "dtype", None), "kind", "") == "b"
        and c.shape == getattr(a, "shape", None)
        and a.dtype.kind == "f"
        and xp.isfinite(a).all()
    ):
        out = a * c
        out += 0
        return out
    return xp.where(c, a, b)


where = Primitive(
    "Where",
    _where_fwd,
    [
        None,
        lambda g, ans, c, a, b: where(c, g, 0),
        lambda g, ans, c, a, b: where(c, 0, g),
    ],
    ["", "d where(c, a, b)/da = c", "d where(c, a, b)/db = not c"],
    jvp="elementwise",
)

add = Primitive(
    "Add",
    lambda a, b: a + b,
    [lambda g, ans, a, b: g, lambda g, ans, a, b: g],
    ["d(a+b)/da = 1", "d(a+b)/db = 1"],
    jvp="elementwise",
)
sub = Primitive(
    "Sub",
    lambda a, b: a - b,
    [lambda g, ans, a, b: g, lambda g, ans, a, b: -g],
    ["d(a-b)/da = 1", "d(a-b)/db = -1"],
    jvp="elementwise",
)
mul = Primitive(
    "Mul",
    lambda a, b: a * b,
    [lambda g, ans, a, b: g * b, lambda g, ans, a, b: g * a],
    ["d(a*b)/da = b", "d(a*b)/db = a"],
    jvp="elementwise",
)
div = Primitive(
    "Div",
    lambda a, b: a / b,
    [lambda g, ans, a, b: g / b, lambda g, ans, a, b: -g * a / (b * b)],
    ["d(a/b)/da = 1/b", "d(a/b)/db = -a/b^2"],
    jvp="elementwise",
)
neg = Primitive("Neg", lambda a: -a, [lambda g, ans, a: -g], ["d(-a)/da = -1"], jvp="elementwise")


def _pow_base_rule(g: Any, ans: Any, a: Any, b: Any) -> Any:
    if isinstance(b, (int, float)):
        if b == 0:
            return g * 0
        return g * (b * a ** (b - 1))
    return where(b == 0, 0, g * b * a ** (b - 1))


def _pow_exp_rule(g: Any, ans: Any, a: Any, b: Any) -> Any:
    return where((a == 0) & (b >= 0), 0, g * ans * log(where(a == 0, 1, a)))


pow = Primitive(  # noqa: A001 - PyTorch's name
    "Pow",
    lambda a, b: a**b,
    [_pow_base_rule, _pow_exp_rule],
    ["d(a^b)/da = b*a^(b-1)", "d(a^b)/db = a^b*ln(a)"],
    jvp="elementwise",
)

exp = Primitive(
    "Exp",
    lambda a: _xp(a).exp(a),
    [lambda g, ans, a: g * ans],
    ["d(e^a)/da = e^a"],
    jvp="elementwise",
)
expm1 = Primitive(
    "Expm1",
    lambda a: _xp(a).expm1(a),
    [lambda g, ans, a: g * (ans + 1)],
    ["d(e^a - 1)/da = e^a"],
    jvp="elementwise",
)
log = Primitive(
    "Log",
    lambda a: _xp(a).log(a),
    [lambda g, ans, a: g / a],
    ["d ln(a)/da = 1/a"],
    jvp="elementwise",
)
log1p = Primitive(
    "Log1p",
    lambda a: _xp(a).log1p(a),
    [lambda g, ans, a: g / (a + 1)],
    ["d ln(1+a)/da = 1/(1+a)"],
    jvp="elementwise",
)
log2 = Primitive(
    "Log2",
    lambda a: _xp(a).log2(a),
    [lambda g, ans, a: g / (a * _LN2)],
    ["d log2(a)/da = 1/(a ln 2)"],
    jvp="elementwise",
)
log10 = Primitive(
    "Log10",
    lambda a: _xp(a).log10(a),
    [lambda g, ans, a: g / (a * _LN10)],
    ["d log10(a)/da = 1/(a ln 10)"],
    jvp="elementwise",
)
sqrt = Primitive(
    "Sqrt",
    lambda a: _xp(a).sqrt(a),
    [lambda g, ans, a: g / (2 * ans)],
    ["d sqrt(a)/da = 1/(2 sqrt(a))"],
    jvp="elementwise",
)


def _sign_fwd(a: Any) -> Any:
    return _xp(a).sign(a)


sign = Primitive(
    "Sign", _sign_fwd, [lambda g, ans, a: g * 0], ["d sign(a)/da = 0"], jvp="elementwise"
)


def _step_fn(name: str, np_name: str) -> Primitive:
    """A piecewise-constant op (floor, ceil...): its gradient is 0 almost everywhere."""
    return Primitive(
        name,
        lambda a: getattr(_xp(a), np_name)(a) if a.dtype.kind == "f" else a.copy(),
        [lambda g, ans, a: g * 0],
        [f"d {np_name}(a)/da = 0"],
        jvp="elementwise",
    )


floor = _step_fn("Floor", "floor")
ceil = _step_fn("Ceil", "ceil")
round = _step_fn("Round", "round")  # noqa: A001 - PyTorch's name; halves go to even, as torch
trunc = _step_fn("Trunc", "trunc")
remainder = Primitive(
    "Remainder",
    lambda a, b: _xp(a, b).mod(a, b),  # the sign of the divisor, as Python's % and torch
    [lambda g, ans, a, b: g, lambda g, ans, a, b: -g * floor(a / b)],
    ["d (a mod b)/da = 1", "d (a mod b)/db = -floor(a/b)"],
    jvp="elementwise",
)
fmod = Primitive(
    "Fmod",
    lambda a, b: _xp(a, b).fmod(a, b),  # the sign of the dividend, as C's fmod
    [lambda g, ans, a, b: g, lambda g, ans, a, b: -g * trunc(a / b)],
    ["d fmod(a, b)/da = 1", "d fmod(a, b)/db = -trunc(a/b)"],
    jvp="elementwise",
)
abs = Primitive(  # noqa: A001 - PyTorch's name
    "Abs",
    lambda a: _xp(a).abs(a),
    [lambda g, ans, a: g * sign(a)],
    ["d|a|/da = sign(a)"],
    jvp="elementwise",
)
sin = Primitive(
    "Sin",
    lambda a: _xp(a).sin(a),
    [lambda g, ans, a: g * cos(a)],
    ["d sin(a)/da = cos(a)"],
    jvp="elementwise",
)
cos = Primitive(
    "Cos",
    lambda a: _xp(a).cos(a),
    [lambda g, ans, a: -g * sin(a)],
    ["d cos(a)/da = -sin(a)"],
    jvp="elementwise",
)
tanh = Primitive(
    "Tanh",
    lambda a: _xp(a).tanh(a),
    [lambda g, ans, a: g * (1 - ans * ans)],
    ["d tanh(a)/da = 1 - tanh(a)^2"],
    jvp="elementwise",
)


def _sigmoid_fwd(a: Any) -> Any:
    xp = _xp(a)
    e = xp.exp(-xp.abs(a))  # never overflows
    r = 1 / (1 + e)
    # where(a >= 0, r, e * r) to the bit, as products: NumPy's where over a mask of mixed signs
    # ran 9 ms of the 23 on 2M float32 values (7 ms this way). 1 - e + e rounds to exactly 1
    # (1 - e is off by at most 2^-25), and NaN stays NaN (NaN * 0 is NaN).
    num = (1 - e) * (a >= 0)
    num += e
    num *= r
    return num


sigmoid = Primitive(
    "Sigmoid",
    _sigmoid_fwd,
    [lambda g, ans, a: g * ans * (1 - ans)],
    ["d sigma(a)/da = sigma(a)*(1 - sigma(a))"],
    jvp="elementwise",
)


def _masked_fwd(g: Any, mask: Any) -> Any:
    """``g`` where ``mask`` is set: a boolean mask, or (ReLU's rule) an array whose positive
    entries are the set ones, compared inside the fused kernel rather than in a pass of its
    own."""
    if type(mask) is numpy.ndarray:
        if mask.dtype == numpy.bool_:
            k = jit.kernel("masked", g)
            if k is not None:
                return k(g, mask)  # one fused pass (4x the two below)
        elif (k := jit.kernel("masked_positive", g, mask)) is not None:
            return k(g, mask)
    if mask.dtype != numpy.bool_:
        mask = mask > 0
    # A product with the mask is ~10x faster than where; it is exact unless g has an inf or
    # a NaN (inf * 0 is NaN, where gives 0), which one isfinite pass rules out.
    if _xp(g).isfinite(g).all():
        return g * mask
    return _xp(g).where(mask, g, 0)


masked = Primitive(  # relu's gradient: g where the mask is set (or positive), else 0
    "Masked",
    _masked_fwd,
    [lambda u, ans, g, mask: masked(u, mask)],
    ["d masked(g, m)/dg = m"],
    jvp="linear",  # linear in g; the mask is constant
)


def _relu_rule(g: Any, ans: Any, a: Any) -> Any:
    # on a plain NumPy backward the output itself is the mask (compared in the fused kernel);
    # tensors, transforms' values and other arrays get a boolean mask (no gradient through it)
    return masked(g, ans if type(ans) is numpy.ndarray else ans > 0)


def _relu_fwd(a: Any) -> Any:
    k = jit.kernel("relu_bits", a)
    if k is not None:  # one pass over the bits, the same result as maximum's to the bit
        return k(a.view(numpy.int32)).view(numpy.float32)
    return _xp(a).maximum(a, 0)


relu = Primitive(
    "Relu",
    _relu_fwd,
    [_relu_rule],
    ["d relu(a)/da = 1 if a > 0 else 0"],
    jvp="elementwise",
)


def _clamp_fwd(a: Any, lo: Any, hi: Any) -> Any:
    xp = _xp(a)
    if lo is not None:
        a = xp.maximum(a, lo)
    if hi is not None:
        a = xp.minimum(a, hi)
    return a


def _clamp_rule(g: Any, ans: Any, a: Any, lo: Any, hi: Any) -> Any:
    if lo is not None and hi is not None:
        return where((a >= lo) & (a <= hi), g, 0)
    return where(a >= lo, g, 0) if lo is not None else where(a <= hi, g, 0)


clamp = Primitive(
    "Clamp",
    _clamp_fwd,
    [_clamp_rule],
    ["d clamp(a)/da = 1 inside [min, max], else 0"],
    jvp="elementwise",
)

maximum = Primitive(
    "Maximum",
    lambda a, b: _xp(a, b).maximum(a, b),
    [
        lambda g, ans, a, b: where(a > b, g, where(a == b, g / 2, 0)),
        lambda g, ans, a, b: where(b > a, g, where(a == b, g / 2, 0)),
    ],
    ["d max(a,b)/da = 1 if a > b (1/2 on ties)", "d max(a,b)/db = 1 if b > a (1/2 on ties)"],
    jvp="elementwise",
)
minimum = Primitive(
    "Minimum",
    lambda a, b: _xp(a, b).minimum(a, b),
    [
        lambda g, ans, a, b: where(a < b, g, where(a == b, g / 2, 0)),
        lambda g, ans, a, b: where(b < a, g, where(a == b, g / 2, 0)),
    ],
    ["d min(a,b)/da = 1 if a < b (1/2 on ties)", "d min(a,b)/db = 1 if b < a (1/2 on ties)"],
    jvp="elementwise",
)


def _clone_fwd(a: Any) -> Any:
    return a.copy()


clone = Primitive("Clone", _clone_fwd, [lambda g, ans, a: g], ["d a/da = 1"], jvp="elementwise")


# Comparisons give bools and no gradient. Tensors compare their arrays directly (fast, in
# chainrule.functions); these primitives are what a comparison becomes on a transform's tracer.
eq = Primitive("Eq", lambda a, b: a == b, [None, None], jvp=no_tangent)
ne = Primitive("Ne", lambda a, b: a != b, [None, None], jvp=no_tangent)
lt = Primitive("Lt", lambda a, b: a < b, [None, None], jvp=no_tangent)
le = Primitive("Le", lambda a, b: a <= b, [None, None], jvp=no_tangent)
gt = Primitive("Gt", lambda a, b: a > b, [None, None], jvp=no_tangent)
ge = Primitive("Ge", lambda a, b: a >= b, [None, None], jvp=no_tangent)
