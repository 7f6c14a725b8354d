"""Batching (``vmap``) below the tape: a :class:`BatchTrace` and a batching rule per primitive.

A :class:`BatchTracer` holds a value with one more dimension than the function sees, the batch
dimension, kept in front (``bdim`` is 0): its ``shape`` is the per-example shape. A primitive
called on one goes to :meth:`BatchTrace.process`, which looks up the primitive's rule in
:data:`RULES`: ``rule(n, values, batched, **params) -> (out, out_batched)``, where ``values`` are
the arguments with this trace's tracers taken apart (batch dim in front) and ``batched`` says
which are (a tuple for a list/tuple argument). Rules call primitives one level down, so values
that are tracers of lower levels (nested ``vmap``, forward mode) are transformed in turn.

Rules come by family (elementwise and broadcasting ops, reductions and other ops with an axis,
shape ops, gathers and scatters, matmul) plus per-op ones (convolution and its gradients: the
batch folded into N or, with a batched weight, into the channels of a grouped convolution;
batch norm: the batch folded into the channels, so the statistics are per example); a
primitive with no rule runs once per example and the results are stacked (:func:`fallback_ops`
names them; a one-time :class:`PerformanceWarning` says when that happens).

Example:
    >>> import numpy as np
    >>> from chainrule.ops import elementwise as E
    >>> t = BatchTrace(3)
    >>> x = BatchTracer(t, np.arange(6.0).reshape(3, 2))   # three examples of shape (2,)
    >>> x.shape, (E.mul(x, np.array([1.0, 10.0]))).value.tolist()
    ((2,), [[0.0, 10.0], [2.0, 30.0], [4.0, 50.0]])
"""

from __future__ import annotations

import importlib
import pkgutil
import warnings
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

from ..autograd.node import _SEQUENCE
from . import batchnorm as BN
from . import conv as C
from . import einsum as ES
from . import elementwise as E
from . import index as I
from . import linalg as L
from . import nnops as N
from . import reduce as R
from . import shape as S
from .primitive import Primitive, Trace, Tracer

BatchRule = Callable[..., tuple]


class PerformanceWarning(UserWarning):
    """Warned once per primitive that ``vmap`` runs example by example (no batching rule).

    Example:
        >>> issubclass(PerformanceWarning, UserWarning)
        True
    """


class BatchTracer(Tracer):
    """A batched value of a :class:`BatchTrace`: ``value`` has the batch dimension at ``bdim``
    (always 0 here), ``shape`` is the per-example shape.

    Example:
        >>> import numpy as np
        >>> BatchTracer(BatchTrace(4), np.zeros((4, 2, 3), np.float32))
        BatchTracer(shape=(2, 3), dtype=float32)
    """

    __slots__ = ("value", "bdim")

    def __init__(self, trace: Trace, value: Any, bdim: int = 0) -> None:
        super().__init__(trace)
        self.value = value
        self.bdim = bdim

    @property
    def shape(self) -> tuple:
        return tuple(self.value.shape[1:])

    @property
    def dtype(self) -> Any:
        return self.value.dtype

    def _concrete(self, *args: Any) -> Any:
        raise TypeError(
            "vmap: a batched value cannot be read as a Python value inside the vmapped "
            "function (.item(), float(), bool(), if on a tensor...): it has one value per "
            "example; compute with tensor ops (torch.where instead of if) or move it out of vmap"
        )

    item = tolist = any = all = __bool__ = __float__ = __int__ = __index__ = _concrete

    def grad_for(self, target: Any, g: Any) -> Any:
        """Sum out the batch of each vmap level that ``target`` (the node the gradient goes to)
        is outside of: the gradient of a tensor from outside the vmap (an argument with
        ``in_dims=None``, a tensor a function closes over) adds up over the examples; inside
        the vmap (a leaf that ``grad`` made there, a node recorded there) it stays one per
        example. ``g`` is this tracer or a tensor holding it (then the sum is recorded)."""
        d: Any = self
        while isinstance(d, BatchTracer) and _outside(target, d.trace):
            g = S.sum(vmap_out(g, _Key(d.trace), 0), (0,), False)
            d = getattr(g, "_data", g)
        return g


def _traces_of(v: Any) -> set:
    out = set()
    while isinstance(v, BatchTracer):
        out.add(v.trace)
        v = v.value
    return out


# Leaves made while vmap levels ran (by grad inside a vmapped function): id -> (ref, traces)
_INSIDE: dict[int, tuple] = {}


def mark_inside(t: Any, traces: Any) -> None:
    """Record that tensor ``t`` was made inside the running vmap levels ``traces``, so its
    gradient stays batched by them (see :meth:`BatchTracer.grad_for`).

    Example:
        >>> import chainrule as cr
        >>> t = cr.ones(2); mark_inside(t, [BatchTrace(2)]); id(t) in _INSIDE
        True
    """
    key = id(t)
    _INSIDE[key] = (weakref.ref(t, lambda _, key=key: _INSIDE.pop(key, None)), frozenset(traces))


def _outside(target: Any, trace: BatchTrace) -> bool:
    var = getattr(target, "variable", None)
    if var is None:  # a node: outside if recorded before the vmap began
        return target.seq < trace.start
    if trace in _traces_of(var._data):
        return False
    hit = _INSIDE.get(id(var))
    return hit is None or hit[0]() is not var or trace not in hit[1]


class _Key(Tracer):
    """Passed to :data:`vmap_in` / :data:`vmap_out` so that their own trace handles them, above
    any tracer of a lower level among the other arguments."""

    __slots__ = ()
    shape = ()
    dtype = np.dtype(bool)


class BatchTrace(Trace):
    """One ``vmap`` level: ``size`` examples, ``randomness`` the policy for random ops inside.

    Example:
        >>> BatchTrace(8).size
        8
    """

    __slots__ = ("size", "randomness", "start")

    def __init__(self, size: int, randomness: str = "error") -> None:
        super().__init__()
        self.size = size
        self.randomness = randomness
        self.start = next(_SEQUENCE)  # nodes numbered below were recorded before this vmap

    def unwrap(self, a: Any) -> tuple[Any, Any]:
        """``(value, batched)`` of an argument: this trace's tracers become their values."""
        if isinstance(a, BatchTracer) and a.trace is self:
            return a.value, True
        if a.__class__ in (list, tuple):
            parts = [self.unwrap(b) for b in a]
            return a.__class__(p[0] for p in parts), tuple(p[1] for p in parts)
        return a, False

    def process(self, prim: Primitive, args: list, params: dict) -> Any:
        if prim is vmap_in:
            a, _, dim = args
            return BatchTracer(self, _move_to_front(a, dim))
        if prim is vmap_out:
            a, _, dim = args
            v, b = self.unwrap(a)
            v = v if b else broadcast(v, self.size)
            return _move_from_front(v, dim)
        vals, bat = [], []
        for a in args:
            v, b = self.unwrap(a)
            vals.append(v)
            bat.append(b)
        rule = RULES.get(prim)
        if rule is None:
            out, ob = fallback(prim, self.size, vals, bat, params)
        else:
            out, ob = rule(self.size, vals, bat, **params)
        return BatchTracer(self, out) if ob else out


def _no_forward(*args: Any) -> Any:
    raise RuntimeError("vmap_in/vmap_out run only through their trace")


# Entering and leaving a vmap are primitives, so the tape records them and reverse mode
# composes with vmap in either order: each one's derivative is the other.
vmap_in = Primitive(
    "VmapIn",
    _no_forward,
    [lambda g, ans, a, key, dim: vmap_out(g, key, dim)],
    ["d vmap_in(a)/da: the batched gradient, its batch dim moved back to in_dim"],
    jvp="linear",  # a dual number of a forward mode begun inside the vmap: batch both parts
)
vmap_out = Primitive(
    "VmapOut",
    _no_forward,
    [lambda g, ans, a, key, dim: vmap_in(g, key, dim)],
    ["d vmap_out(a)/da: the gradient, its out_dim taken as the batch dim"],
    jvp="linear",
)


# ----- helpers (all through primitives, so lower-level tracers pass) -------------------------
def _move_to_front(v: Any, dim: int) -> Any:
    if dim == 0:
        return v
    axes = (dim,) + tuple(i for i in range(v.ndim) if i != dim)
    return S.permute(v, axes)


def _move_from_front(v: Any, dim: int) -> Any:
    if dim == 0:
        return v
    rest = list(range(1, v.ndim))
    rest.insert(dim, 0)
    return S.permute(v, tuple(rest))


def _move(v: Any, src: int, dst: int) -> Any:
    return _move_from_front(_move_to_front(v, src), dst)


def broadcast(v: Any, n: int) -> Any:
    """An unbatched value repeated ``n`` times along a new front dimension.

    Example:
        >>> broadcast(np.array([1.0, 2.0]), 2).tolist()
        [[1.0, 2.0], [1.0, 2.0]]
    """
    if not hasattr(v, "shape"):
        v = np.asarray(v)
    return S.expand(S.reshape(v, (1, *v.shape)), (n, *v.shape))


def _rank(v: Any, b: bool) -> int:
    return v.ndim - 1 if b else getattr(v, "ndim", 0)


def _pad(v: Any, r: int) -> Any:
    """Batched ``v`` with ones inserted after the batch dim up to per-example rank ``r``."""
    extra = r - (v.ndim - 1)
    if extra <= 0:
        return v
    return S.reshape(v, (v.shape[0],) + (1,) * extra + tuple(v.shape[1:]))


def _front(v: Any, b: Any, n: int) -> Any:
    return v if b else broadcast(v, n)


def _axis(axis: Any, r: int) -> Any:
    """A per-example axis param (int, tuple or None = all) shifted past the batch dim."""
    if axis is None:
        return tuple(range(1, r + 1))
    if isinstance(axis, (tuple, list)):
        return tuple((a % r if r else 0) + 1 for a in axis)
    return (axis % r if r else 0) + 1


# ----- families --------------------------------------------------------------------------------
def elementwise(prim: Primitive) -> BatchRule:
    """The rule of a broadcasting op: batched arguments get ones after the batch dim up to the
    highest per-example rank, so broadcasting lines the batch dims up.

    Example:
        >>> rule = elementwise(E.add)
        >>> rule(2, [np.zeros((2, 3)), np.ones((4, 3))], [True, False])[0].shape
        (2, 4, 3)
    """

    def rule(n: int, vals: list, bat: list, **params: Any) -> tuple:
        r = max(_rank(v, b) for v, b in zip(vals, bat))
        args = [_pad(v, r) if b else v for v, b in zip(vals, bat)]
        return prim(*args, **params), True

    return rule


def _arg_rule(prim: Primitive) -> BatchRule:
    def rule(n: int, vals: list, bat: list, **params: Any) -> tuple:
        a = vals[0]
        axis = vals[1] if len(vals) > 1 else params.pop("axis", None)
        if axis is None:
            return prim(S.reshape(a, (a.shape[0], -1)), 1), True
        return prim(a, _axis(axis, a.ndim - 1)), True

    return rule


def _axis_pos_rule(prim: Primitive, k: int = 1, name: str = "axis") -> BatchRule:
    """The rule of an op with one batched array and an axis param (position ``k`` or keyword
    ``name``): reductions, softmax, cumsum, flip... The axis moves one to the right; ``None``
    (all axes) becomes every per-example axis.

    Example:
        >>> _axis_pos_rule(S.sum)(2, [np.ones((2, 3)), None, False], [True, False, False])[0]
        array([3., 3.])
    """

    def rule(n: int, vals: list, bat: list, **params: Any) -> tuple:
        r = vals[0].ndim - 1
        if len(vals) > k:
            vals = list(vals)
            vals[k] = _axis(vals[k], r)
        elif name in params:
            params[name] = _axis(params[name], r)
        return prim(*vals, **params), True

    return rule


def _reshape_rule(n: int, vals: list, bat: list) -> tuple:
    a, shape = vals
    return S.reshape(a, (a.shape[0], *shape)), True


def _permute_rule(n: int, vals: list, bat: list) -> tuple:
    a, axes = vals
    return S.permute(a, (0, *(x + 1 for x in axes))), True


def _expand_rule(n: int, vals: list, bat: list) -> tuple:
    a, shape = vals
    return S.expand(_pad(a, len(shape)), (a.shape[0], *shape)), True


def _pad_rule(n: int, vals: list, bat: list) -> tuple:
    a, widths, value = vals
    return S.pad(a, ((0, 0), *widths), value), True


def _cat_rule(n: int, vals: list, bat: list, axis: int) -> tuple:
    arrays = [_front(v, b, n) for v, b in zip(vals, bat)]
    r = arrays[0].ndim - 1
    return S.cat(*arrays, axis=_axis(axis, r)), True


def _matmul(n: int, a: Any, ba: bool, b: Any, bb: bool) -> Any:
    if not bb and b.ndim == 2:  # one GEMM: (n, ..., k) @ (k, m)
        return L.matmul(a, b)
    if not ba and a.ndim == 2:
        if b.ndim == 2:  # b per example (k,): (n, k) @ a^T
            return L.matmul(b, S.mT(a))
        return L.matmul(a, b)
    ra, rb = _rank(a, ba), _rank(b, bb)
    a = a if ba else S.reshape(a, (1, *a.shape))
    b = b if bb else S.reshape(b, (1, *b.shape))
    if ra == 1:
        a = S.reshape(a, (a.shape[0], 1, a.shape[1]))
    if rb == 1:
        b = S.reshape(b, (*b.shape, 1))
    r = max(a.ndim, b.ndim) - 1
    if a.shape[-1] == 1:  # an outer product: NumPy's stacked matmul has no BLAS path for k=1
        out = E.mul(_pad(a, r), _pad(b, r))
    else:
        out = L.matmul(_pad(a, r), _pad(b, r))
    if ra == 1 or rb == 1:
        shape = list(out.shape)
        if rb == 1:
            del shape[-1]
        if ra == 1:
            del shape[-2 if rb != 1 else -1]
        out = S.reshape(out, tuple(shape))
    return out


def _matmul_rule(n: int, vals: list, bat: list) -> tuple:
    (a, b), (ba, bb) = vals, bat
    return _matmul(n, a, ba, b, bb), True


def _linear_rule(n: int, vals: list, bat: list) -> tuple:
    x, w = vals[0], vals[1]
    bias = vals[2] if len(vals) > 2 else None
    bx, bw = bat[0], bat[1]
    bbias = bat[2] if len(bat) > 2 else False
    if not bw and not bbias:
        return N.linear(*vals), True
    wt = S.permute(w, (0, 2, 1)) if bw else S.mT(w)
    ob = bx or bw
    out = _matmul(n, x, bx, wt, bw) if ob else L.matmul(x, wt)
    if bias is not None:
        out, _ = elementwise(E.add)(n, [out, bias], [ob, bbias])
    return out, True


def _along_rule(prim: Primitive, shape_pos: int | None) -> BatchRule:
    """gather/take_along (a, axis, index) and scatter_add/put_along (g, shape, axis, index):
    the arrays get the batch dim, the axis shifts, the shape grows by it."""

    def rule(n: int, vals: list, bat: list) -> tuple:
        vals = list(vals)
        first = _front(vals[0], bat[0], n)
        r = first.ndim - 1
        vals[0] = first
        vals[-1] = _front(vals[-1], bat[-1], n)
        if shape_pos is not None:
            vals[shape_pos] = (n, *vals[shape_pos])
        vals[-2] = _axis(vals[-2], r if shape_pos is None else len(vals[shape_pos]) - 1)
        return prim(*vals), True

    return rule


def _nll_pick_rule(n: int, vals: list, bat: list) -> tuple:
    """nll_pick(logp (N, C), index (N,), div): each example's pick along its class axis, then
    its own sum over the rows."""
    logp, index, div = vals
    picked = N.take_along(_front(logp, bat[0], n), 2, _front(index, bat[1], n))
    return E.div(S.sum(picked, (1,), False), -div), True


def _scatter_rule(n: int, vals: list, bat: list) -> tuple:
    a, src, axis, index, reduce = vals
    a = _front(a, bat[0], n)
    if hasattr(src, "shape"):
        src = _front(src, bat[1], n)
    return I.scatter(a, src, _axis(axis, a.ndim - 1), _front(index, bat[3], n), reduce), True


def _einsum_rule(n: int, vals: list, bat: list, spec: tuple) -> tuple:
    """A new label for the batch, on the batched operands and in front of the output."""
    ins, out = spec
    b = 1 + max((x for lb in (*ins, out) for x in lb), default=-1)
    new = tuple((b, *lb) if bb else lb for lb, bb in zip(ins, bat))
    return ES.einsum_p(*vals, spec=(new, (b, *out))), True


def _diag_embed_rule(n: int, vals: list, bat: list) -> tuple:
    a, labels, shape = vals
    b = 1 + max(labels, default=-1)
    return ES.diag_embed(a, (b, *labels), (n, *shape)), True


# ----- conv and pooling: the batch folded into N, or into the channels (grouped conv) -------
def _fold(v: Any) -> Any:
    """(B, N, ...) -> (B * N, ...)."""
    return S.reshape(v, (v.shape[0] * v.shape[1], *v.shape[2:]))


def _unfold(v: Any, n: int) -> Any:
    return S.reshape(v, (n, v.shape[0] // n, *v.shape[1:]))


def _window_rule(prim: Primitive, shape_pos: int | None) -> BatchRule:
    """window_sum(x, ...) / window_spread(g, shape, ...): NCHW in and out."""

    def rule(n: int, vals: list, bat: list) -> tuple:
        if builtins_any(_flat(bat[1:])):
            return fallback(prim, n, vals, bat, {})
        vals = list(vals)
        vals[0] = _fold(vals[0])
        if shape_pos is not None:
            sh = vals[shape_pos]
            vals[shape_pos] = (n * sh[0], *sh[1:])
        return _unfold(prim(*vals), n), True

    return rule


def _pool_rule(prim: Primitive, shape_pos: int | None) -> BatchRule:
    """pool_gather(x, index, disjoint) / pool_scatter(g, shape, index, disjoint)."""

    def rule(n: int, vals: list, bat: list) -> tuple:
        vals = list(vals)
        vals[0] = _fold(_front(vals[0], bat[0], n))
        k = 1 if shape_pos is None else 2
        vals[k] = _fold(_front(vals[k], bat[k], n))
        if shape_pos is not None:
            sh = vals[shape_pos]
            vals[shape_pos] = (n * sh[0], *sh[1:])
        return _unfold(prim(*vals), n), True

    return rule


def nchw_call(fn: Callable[..., tuple], x: Any, *args: Any) -> tuple:
    """``fn(x, *args) -> (array, flag)`` for an array function of an NCHW input (no gradient,
    e.g. the argmax of each pooling window) that may get a batched ``x``: the batch is folded
    into N and the array result comes back batched.

    Example:
        >>> t = BatchTrace(2)
        >>> out, flag = nchw_call(lambda a: (a * 2, True), BatchTracer(t, np.ones((2, 1, 1, 2, 2))))
        >>> out.shape, flag
        ((1, 1, 2, 2), True)
    """
    if not isinstance(x, BatchTracer):
        return fn(x, *args)
    v = x.value
    out, flag = nchw_call(fn, _fold(v), *args)
    return BatchTracer(x.trace, _unfold(out, v.shape[0])), flag


def _pos(vals: list, bat: list, k: int) -> tuple:
    """The ``k``-th argument and whether it is batched (``None``, False past the end)."""
    return (vals[k], bat[k]) if len(vals) > k else (None, False)


def _fold_in_channels(v: Any) -> Any:
    """(B, N, C, ...) -> (N, B * C, ...): one vmap example per block of C channels."""
    b, n = v.shape[:2]
    v = S.permute(v, (1, 0, *range(2, v.ndim)))
    return S.reshape(v, (n, b * v.shape[2], *v.shape[3:]))


def _unfold_channels(v: Any, b: int) -> Any:
    """(N, B * C, ...) -> (B, N, C, ...)."""
    v = S.reshape(v, (v.shape[0], b, v.shape[1] // b, *v.shape[2:]))
    return S.permute(v, (1, 0, *range(2, v.ndim)))


def _fold_out_channels(w: Any, groups: int) -> Any:
    """A batched weight (B, O, ...) as (O * B, ...) ordered (group, example, O/group) so that a
    ``groups``-group convolution with the unbatched input gives every example at once."""
    b, o = w.shape[:2]
    rest = tuple(w.shape[2:])
    w = S.reshape(w, (b, groups, o // groups, *rest))
    w = S.permute(w, (1, 0, 2, *range(3, w.ndim)))
    return S.reshape(w, (b * o, *rest))


def _unfold_out_channels(y: Any, b: int, groups: int) -> Any:
    """The output (N, O * B, ...) of :func:`_fold_out_channels`' weight -> (B, N, O, ...)."""
    n, ob = y.shape[:2]
    rest = tuple(y.shape[2:])
    o = ob // b
    y = S.reshape(y, (n, groups, b, o // groups, *rest))
    y = S.permute(y, (2, 0, 1, 3, *range(4, y.ndim)))
    return S.reshape(y, (b, n, o, *rest))


def _add_bias(out: Any, bias: Any, bb: bool) -> Any:
    """``out`` (B, N, O, OH, OW) or (N, O, OH, OW) plus a per-channel bias, batched or not."""
    if bias is None:
        return out
    if bb:
        return E.add(out, S.reshape(bias, (bias.shape[0], 1, bias.shape[1], 1, 1)))
    return E.add(out, S.reshape(bias, (bias.shape[0], 1, 1)))


def _conv2d_rule(n: int, vals: list, bat: list) -> tuple:
    """conv2d(x, w, stride, pads, dilation, groups, b=None, cols=None). Only x batched: the
    batch folded into N. The weight batched: its batch folded into the output channels
    (x unbatched) or, both batched, a grouped convolution with ``groups * B`` groups, each
    example's channels one block of groups. The bias is added after when it is batched; the
    columns cache (built for the unbatched layout) is never passed on."""
    (x, w, stride, pads, dilation, groups), (bx, bw) = vals[:6], bat[:2]
    bias, bb = _pos(vals, bat, 6)
    if not bw:
        if not bx:  # only the bias is batched
            return _add_bias(C.conv2d(x, w, stride, pads, dilation, groups), bias, True), True
        if bb:
            out = _unfold(C.conv2d(_fold(x), w, stride, pads, dilation, groups), n)
            return _add_bias(out, bias, True), True
        return _unfold(C.conv2d(_fold(x), w, stride, pads, dilation, groups, bias), n), True
    if not bx:
        y = C.conv2d(x, _fold_out_channels(w, groups), stride, pads, dilation, groups)
        out = _unfold_out_channels(y, n, groups)
    else:
        y = C.conv2d(_fold_in_channels(x), _fold(w), stride, pads, dilation, groups * n)
        out = _unfold_channels(y, n)
    return _add_bias(out, bias, bb), True


def _conv2d_input_grad_rule(n: int, vals: list, bat: list) -> tuple:
    """conv2d_input_grad(g, w, shape, ...): g alone batched folds into N; a batched weight
    makes it the input gradient of the grouped convolution of :func:`_conv2d_rule`."""
    (g, w, shape, stride, pads, dilation, groups), (bg, bw) = vals, bat[:2]
    if not bw:
        out = C.conv2d_input_grad(
            _fold(g), w, (n * shape[0], *shape[1:]), stride, pads, dilation, groups
        )
        return _unfold(out, n), True
    g = _front(g, bg, n)
    sh = (shape[0], n * shape[1], *shape[2:])
    out = C.conv2d_input_grad(
        _fold_in_channels(g), _fold(w), sh, stride, pads, dilation, groups * n
    )
    return _unfold_channels(out, n), True


def _conv2d_weight_grad_rule(n: int, vals: list, bat: list) -> tuple:
    """conv2d_weight_grad(g, x, shape, ...), one weight gradient per example (per-example
    gradients): g alone batched folds into the output channels; otherwise the weight gradient
    of the grouped convolution, ``(B * O, C/groups, kh, kw)`` -> ``(B, O, ...)``."""
    (g, x, shape, stride, pads, dilation, groups), (bg, bx) = vals, bat[:2]
    if not bx:  # the examples' output gradients as more output channels of one convolution
        gf = _fold_in_channels(g)  # (N, B * O, OH, OW), ordered (example, O)
        b, o = n, shape[0]
        # reorder the channels (example, group, O/group) -> (group, example, O/group)
        gf = S.reshape(gf, (gf.shape[0], b, groups, o // groups, *gf.shape[2:]))
        gf = S.permute(gf, (0, 2, 1, 3, 4, 5))
        gf = S.reshape(gf, (gf.shape[0], b * o, *gf.shape[4:]))
        dw = C.conv2d_weight_grad(gf, x, (b * o, *shape[1:]), stride, pads, dilation, groups)
        dw = S.reshape(dw, (groups, b, o // groups, *shape[1:]))
        dw = S.permute(dw, (1, 0, 2, 3, 4, 5))
        return S.reshape(dw, (b, *shape)), True
    g = _front(g, bg, n)
    dw = C.conv2d_weight_grad(
        _fold_in_channels(g), _fold_in_channels(x), (n * shape[0], *shape[1:]), stride, pads,
        dilation, groups * n,
    )  # fmt: skip
    return _unfold(dw, n), True


def _batch_norm_rule(n: int, vals: list, bat: list) -> tuple:
    """batch_norm_train(x, weight, bias, mean, invstd, eps): statistics per example, so the
    vmap batch is folded into the channels (x (B, N, C, ...) -> (N, B * C, ...)), every
    per-channel argument tiled or taken batched as (B * C,)."""
    x, eps = vals[0], vals[5]
    x = _front(x, bat[0], n)
    c = x.shape[2]

    def per_channel(v: Any, b: bool) -> Any:
        if v is None:
            return None
        return S.reshape(_front(v, b, n), (n * c,))

    w, bias, mean, inv = (per_channel(v, b) for v, b in zip(vals[1:5], bat[1:5]))
    out = BN.batch_norm_train(_fold_in_channels(x), w, bias, mean, inv, eps)
    return _unfold_channels(out, n), True


# ----- indexing with a key --------------------------------------------------------------------
def _is_array_index(k: Any) -> bool:
    return isinstance(k, list) or (hasattr(k, "shape") and not isinstance(k, slice))


def _key_batch_pos(parts: tuple) -> int:
    """Where the batch dim lands when ``(slice(None),) + parts`` indexes a batched array:
    0, unless NumPy moves the advanced indices' dims to the front (non-adjacent advanced ones,
    where integers count as advanced too)."""
    if not builtins_any(_is_array_index(k) for k in parts):
        return 0
    adv = [i for i, k in enumerate(parts) if _is_array_index(k) or isinstance(k, (int, np.integer))]
    if adv[-1] - adv[0] + 1 == len(adv):
        return 0
    shapes = []
    for k in parts:
        if _is_array_index(k):
            k = np.asarray(k) if isinstance(k, list) else k
            shapes.append((int(k.sum()),) if k.dtype.kind == "b" and k.ndim == 1 else k.shape)
    return len(np.broadcast_shapes(*shapes))


def builtins_any(it: Any) -> bool:
    for x in it:
        if x:
            return True
    return False


def _parts(key: Any) -> tuple:
    return key if isinstance(key, tuple) else (key,)


def _getitem_rule(n: int, vals: list, bat: list) -> tuple:
    a, key = vals
    if not bat[0]:
        parts, pb = (key, bat[1]) if isinstance(key, tuple) else ((key,), (bat[1],))
        if (
            pb[0]
            and not builtins_any(_flat(pb[1:]))
            and all(isinstance(k, slice) and k == slice(None) or k is Ellipsis for k in parts[1:])
        ):  # a[idx] with a batched index array: the batch dims come first already
            return I.getitem(a, key), True
        return fallback(I.getitem, n, vals, bat, {})
    if builtins_any(_flat(bat[1])):
        return fallback(I.getitem, n, vals, bat, {})
    parts = _parts(key)
    out = I.getitem(a, (slice(None), *parts))
    p = _key_batch_pos(parts)
    return (_move_to_front(out, p) if p else out), True


def _flat(b: Any) -> list:
    if isinstance(b, (tuple, list)):
        return [x for y in b for x in _flat(y)]
    return [b]


def _selected_rank(shape: tuple, key: Any) -> int:
    return np.broadcast_to(np.empty((), np.int8), shape)[key].ndim


def _index_put_rule(n: int, vals: list, bat: list) -> tuple:
    g, shape, key = vals
    if builtins_any(_flat(bat[2])):
        return fallback(I.index_put, n, vals, bat, {})
    g = _front(g, bat[0], n)
    parts = _parts(key)
    p = _key_batch_pos(parts)
    return I.index_put(_move_from_front(g, p), (n, *shape), (slice(None), *parts)), True


def _setitem_rule(n: int, vals: list, bat: list) -> tuple:
    a, v, key = vals
    if builtins_any(_flat(bat[2])):
        return fallback(I.setitem, n, vals, bat, {})
    a = _front(a, bat[0], n)
    parts = _parts(key)
    if bat[1]:
        v = _pad(v, _selected_rank(tuple(a.shape[1:]), key))
        v = _move_from_front(v, _key_batch_pos(parts))
    elif hasattr(v, "ndim") and v.ndim and _key_batch_pos(parts):
        v = _move_from_front(broadcast(v, n), _key_batch_pos(parts))
    return I.setitem(a, v, (slice(None), *parts)), True


# ----- the fallback ---------------------------------------------------------------------------
_WARNED: set[str] = set()


def _take(v: Any, b: Any, i: int) -> Any:
    if isinstance(b, tuple):
        return v.__class__(_take(x, bx, i) for x, bx in zip(v, b))
    return I.getitem(v, i) if b else v


def fallback(prim: Primitive, n: int, vals: list, bat: list, params: dict) -> tuple:
    """Run ``prim`` once per example and stack the results (for ops with no batching rule).

    Example:
        >>> import warnings
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")
        ...     out, _ = fallback(E.neg, 2, [np.array([[1.0], [2.0]])], [True], {})
        >>> out.tolist()
        [[-1.0], [-2.0]]
    """
    if prim.name not in _WARNED:
        _WARNED.add(prim.name)
        warnings.warn(
            f"vmap: there is no batching rule for {prim.name}, so it runs once per example "
            "(a Python loop over the batch); performance will suffer",
            PerformanceWarning,
            stacklevel=4,
        )
    if n == 0:
        raise RuntimeError(f"vmap: {prim.name} has no batching rule and the batch is empty")
    outs = [prim(*[_take(v, b, i) for v, b in zip(vals, bat)], **params) for i in range(n)]
    return S.cat(*[S.reshape(o, (1, *o.shape)) for o in outs], axis=0), True


# ----- the table ------------------------------------------------------------------------------
RULES: dict[Primitive, BatchRule] = {}

for _p in (
    E.where, E.add, E.sub, E.mul, E.div, E.neg, E.pow, E.exp, E.expm1, E.log, E.log1p, E.log2,
    E.log10, E.sqrt, E.sign, E.floor, E.ceil, E.round, E.trunc, E.remainder, E.fmod, E.abs,
    E.sin, E.cos, E.tanh, E.sigmoid, E.relu, E.clamp, E.maximum, E.minimum, E.clone, E.eq,
    E.ne, E.lt, E.le, E.gt, E.ge, I.cast, I.to_device, N.erf, N.bce, N.log_sigmoid,
):  # fmt: skip
    RULES[_p] = elementwise(_p)

RULES[R.argmax] = _arg_rule(R.argmax)
RULES[R.argmin] = _arg_rule(R.argmin)
for _p in (
    S.sum,
    R.amax,
    R.amin,
    R.norm2,
    R.prod,
    R.cumsum,
    R.cumprod,
    R.prod_others,
    S.flip,
    N.softmax,
    N.log_softmax,
):
    RULES[_p] = _axis_pos_rule(_p)
RULES[S.reshape] = _reshape_rule
RULES[S.permute] = _permute_rule
RULES[S.expand] = _expand_rule
RULES[S.pad] = _pad_rule
RULES[S.cat] = _cat_rule
RULES[L.matmul] = _matmul_rule
RULES[N.linear] = _linear_rule
RULES[I.gather] = _along_rule(I.gather, None)
RULES[N.take_along] = _along_rule(N.take_along, None)
RULES[I.scatter_add] = _along_rule(I.scatter_add, 1)
RULES[N.put_along] = _along_rule(N.put_along, 1)
RULES[N.nll_pick] = _nll_pick_rule
RULES[I.scatter] = _scatter_rule
RULES[ES.einsum_p] = _einsum_rule
RULES[C.window_sum] = _window_rule(C.window_sum, None)
RULES[C.window_spread] = _window_rule(C.window_spread, 1)
RULES[C.pool_gather] = _pool_rule(C.pool_gather, None)
RULES[C.pool_scatter] = _pool_rule(C.pool_scatter, 1)
RULES[C.conv2d] = _conv2d_rule
RULES[C.conv2d_input_grad] = _conv2d_input_grad_rule
RULES[C.conv2d_weight_grad] = _conv2d_weight_grad_rule
RULES[BN.batch_norm_train] = _batch_norm_rule
RULES[E.masked] = elementwise(E.masked)
RULES[ES.diag_embed] = _diag_embed_rule
RULES[I.getitem] = _getitem_rule
RULES[I.index_put] = _index_put_rule
RULES[I.setitem] = _setitem_rule


def all_primitives() -> list[Primitive]:
    """Every primitive defined in :mod:`chainrule.ops` (each once).

    Example:
        >>> E.add in all_primitives()
        True
    """
    ops = importlib.import_module(__name__.rpartition(".")[0])  # every module, new ones too
    seen: dict[int, Primitive] = {}
    for m in pkgutil.iter_modules(ops.__path__):
        mod = importlib.import_module(f"{ops.__name__}.{m.name}")
        for v in vars(mod).values():
            if isinstance(v, Primitive) and v not in (vmap_in, vmap_out):
                seen.setdefault(id(v), v)
    return list(seen.values())


def fallback_ops() -> list[str]:
    """The names of the primitives that ``vmap`` runs example by example (no batching rule).

    Example:
        >>> "Add" in fallback_ops()
        False
    """
    return sorted(p.name for p in all_primitives() if p not in RULES)


# ----- fused transformer ops -------------------------------------------------------------------
from . import attention as A  # noqa: E402  (kept in this block)


def _fused_backward_rule(prim: Primitive) -> BatchRule:
    """The rule of a fused ``dy * f'(a)`` (gelu_backward, silu_backward): its forward works
    in place on arrays of one shape, so both get the batch, in front."""

    def rule(n: int, vals: list, bat: list, **params: Any) -> tuple:
        dy, a, *rest = vals
        return prim(_front(dy, bat[0], n), _front(a, bat[1], n), *rest, **params), True

    return rule


def _norm_rule(prim: Primitive, arrays: int) -> BatchRule:
    """The rule of a normalization over trailing ``axes`` (layer_norm, rms_norm): ``x`` gets
    the batch in front, the affine arrays (normalized-shape, batched or not) broadcast against
    it, and the axes move one to the right."""

    def rule(n: int, vals: list, bat: list, **params: Any) -> tuple:
        x = _front(vals[0], bat[0], n)
        r = x.ndim - 1
        args = [x] + [_pad(v, r) if b else v for v, b in zip(vals[1:arrays], bat[1:arrays])]
        rest = list(vals[arrays:])
        if rest:  # axes given by position
            rest[0] = _axis(rest[0], r)
        else:
            params["axes"] = _axis(params["axes"], r)
        return prim(*args, *rest, **params), True

    return rule


def _sdpa_rule(n: int, vals: list, bat: list, **params: Any) -> tuple:
    # attention is batched over its leading dims already: the batch is one more of them; the
    # batched arrays (q, k, v, mask, dropout mask) get ones up to the highest per-example rank
    # so the matmuls broadcast it against the unbatched ones
    arrays = vals[:5]
    r = max(_rank(v, b) for v, b in zip(arrays, bat) if v is not None)
    args = [_pad(v, r) if b else v for v, b in zip(arrays, bat)]
    return A.sdpa(*args, *vals[5:], **params), True


RULES[N.gelu] = elementwise(N.gelu)
RULES[N.gelu_backward] = _fused_backward_rule(N.gelu_backward)
RULES[N.silu] = elementwise(N.silu)
RULES[N.silu_backward] = _fused_backward_rule(N.silu_backward)
RULES[N.layer_norm] = _norm_rule(N.layer_norm, 3)
RULES[N.rms_norm] = _norm_rule(N.rms_norm, 2)
RULES[A.sdpa] = _sdpa_rule
