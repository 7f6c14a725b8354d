"""Forward-mode automatic differentiation: a :class:`JVPTrace` of dual numbers below the tape.

A :class:`JVPTracer` holds a primal value and its tangent. Every primitive called on one runs
twice in :meth:`JVPTrace.process`: its forward on the primals, then its ``jvp`` rule on the
tangents (rules are written with primitives, so they are traced again by any transform below,
and recorded by the tape above). No reverse pass runs, and nothing is recorded unless a tensor
requiring grad is involved.

The values enter and leave through three primitives that no trace intercepts:
:data:`dual_p`, :data:`primal_p` and :data:`tangent_p` (``torch.autograd.forward_ad``'s
:func:`dual_level`, :func:`make_dual` and :func:`unpack_dual` are built on them). Their reverse
rules make forward mode compose with the tape in both orders:

- reverse over forward (``grad`` of ``jvp``): the tape records ops on dual arrays, so its
  cotangents are dual too. A pair ``(p, t)`` of cotangents ``(c_p, c_t)`` travels as the dual
  number ``c_t + c_p e``: the transpose of multiplying by ``a + a' e`` is multiplying by it, so
  the reverse rules, run on dual numbers, carry both parts. Hence ``primal_p``'s rule sends
  ``g`` to ``dual(0, g)``, ``tangent_p``'s to ``dual(g, 0)``, and ``dual_p``'s takes the
  parts back apart.
- forward over reverse (``jvp`` of ``grad``, :func:`chainrule.func.hvp`): the reverse rules run
  on dual arrays and are differentiated in forward mode like any other function.

Example:
    >>> import numpy as np
    >>> trace = JVPTrace()
    >>> x = dual_p(np.array([1.0, 2.0]), np.array([1.0, 0.0]), trace)
    >>> y = np.sin(x) * x
    >>> tangent_p(y, trace)            # d(x sin x) = (sin x + x cos x) dx
    array([1.38177329, 0.        ])
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

import numpy as np

from ..ops.index import setitem
from ..ops.primitive import Primitive, Trace, Tracer
from ..ops.shape import expand
from ..tensor import Tensor, zeros_like


class JVPTracer(Tracer):
    """A dual number: ``primal + tangent * e`` with ``e^2 = 0``, of one :class:`JVPTrace`
    (``tangent`` ``None``: a known zero, as for a tensor of the tape entered by ``lift``).

    Example:
        >>> JVPTracer(JVPTrace(), np.zeros((2, 3)), np.ones((2, 3)))
        JVPTracer(shape=(2, 3), dtype=float64)
    """

    __slots__ = ("primal", "tangent", "base")

    def __init__(self, trace: JVPTrace, primal: Any, tangent: Any) -> None:
        super().__init__(trace)
        self.primal = primal
        self.tangent = tangent
        self.base = None  # the dual this one is a view of (its primal views that one's)

    @property
    def shape(self) -> tuple:
        return self.primal.shape

    @property
    def dtype(self) -> Any:
        return self.primal.dtype

    def __setitem__(self, key: Any, value: Any) -> None:
        """An in-place assignment into a tensor holding this dual value (``t[key] = v``):
        both parts are replaced by their assigned copies."""
        p, t = self.trace._split(value)
        mine = np.zeros_like(self.primal) if self.tangent is None else self.tangent
        self.primal = setitem(self.primal, p, key)
        self.tangent = setitem(mine, 0.0 if t is None else t, key)


class JVPTrace(Trace):
    """One level of forward mode. ``record`` (a list, or ``None``) keeps each step's primals
    and output, so :func:`chainrule.func.linearize` can run the tangents again without the
    primal computation.

    Example:
        >>> from chainrule.ops.elementwise import mul
        >>> t = JVPTrace()
        >>> y = mul(JVPTracer(t, np.array(3.0), np.array(1.0)), 2.0)
        >>> float(y.primal), float(y.tangent)
        (6.0, 2.0)
    """

    __slots__ = ("record", "closed", "finished")

    def __init__(self) -> None:
        super().__init__()
        self.record: list | None = None
        self.closed = False  # its dual_level has exited: its duals compute as their primals
        # the transform has returned: a backward pass through its duals now is reverse over
        # forward, whose cotangents are pairs coded as dual numbers (see the module docstring)
        self.finished = False

    def lift(self, args: tuple) -> list | None:
        """The tensors among ``args`` that need a gradient but hold no dual of this trace
        (closed over by the function), entered as duals with a zero tangent, through the
        recorded :data:`dual_p`: its reverse rule reads their gradient off the coded
        cotangent. ``None`` if there are none."""
        out = None
        for i, a in enumerate(args):
            if isinstance(a, Tensor) and a._requires_grad and not _own(a, self):
                out = list(args) if out is None else out
                out[i] = dual_p(a, None, self)
        return out

    def _split(self, a: Any) -> tuple[Any, Any]:
        if isinstance(a, JVPTracer) and a.trace is self:
            return a.primal, a.tangent
        if a.__class__ in (list, tuple) and any(
            isinstance(b, JVPTracer) and b.trace is self for b in a
        ):
            return type(a)(
                b.primal if isinstance(b, JVPTracer) and b.trace is self else b for b in a
            ), None
        return a, None

    def process(self, prim: Primitive, args: list, params: dict) -> Any:
        primals, tangents = [], []
        for a in args:
            p, t = self._split(a)
            primals.append(p)
            tangents.append(t)
        ans = prim(*primals, **params)
        if self.closed:
            return ans
        rule = prim.jvp
        if rule is None:
            raise NotImplementedError(
                f"{prim.name}: this primitive has no forward-mode (jvp) rule; give it one with "
                "Primitive(..., jvp=...)"
            )
        t = rule(tangents, ans, *primals, **params)
        if t is None:  # integers, booleans, known zeros: no tangent
            return ans
        t = fit_tangent(t, ans, prim.name)
        out = JVPTracer(self, ans, t)
        b = getattr(ans, "base", None)
        if b is not None:  # a view: so the tensor holding it is known as one (see Tensor._update)
            for a in args:
                if isinstance(a, JVPTracer) and a.trace is self:
                    if a.primal is b or getattr(a.primal, "base", None) is b:
                        out.base = a
                        break
        if self.record is not None:
            ids = [id(a) if isinstance(a, JVPTracer) and a.trace is self else None for a in args]
            self.record.append((prim, primals, params, ids, out))
        return out


def fit_tangent(t: Any, ans: Any, op: str) -> Any:
    """A jvp rule's tangent ``t`` broadcast to the shape of the output ``ans`` (a sum of terms
    may have one input's shape); an error naming ``op`` if it does not broadcast.

    Example:
        >>> fit_tangent(np.ones(3), np.zeros((2, 3)), "Add").shape
        (2, 3)
    """
    if tuple(t.shape) == tuple(ans.shape):
        return t
    shape = tuple(ans.shape)
    if len(t.shape) > len(shape) or any(
        n != 1 and n != m for n, m in zip(reversed(t.shape), reversed(shape))
    ):
        raise RuntimeError(
            f"{op}: its jvp rule gave a tangent of shape {tuple(t.shape)} for an output of "
            f"shape {shape}"
        )
    return expand(t, shape)


def _own(a: Any, trace: JVPTrace) -> bool:
    d = a._data if isinstance(a, Tensor) else a
    return isinstance(d, JVPTracer) and d.trace is trace


def _zeros(a: Any) -> Any:
    return zeros_like(a) if isinstance(a, Tensor) else np.zeros_like(a)


def _make_dual_fwd(p: Any, t: Any, trace: JVPTrace) -> Any:
    return JVPTracer(trace, p, t)


def _primal_fwd(d: Any, trace: JVPTrace) -> Any:
    return d.primal if isinstance(d, JVPTracer) and d.trace is trace else d


def _tangent_fwd(d: Any, trace: JVPTrace) -> Any:
    if isinstance(d, JVPTracer) and d.trace is trace and d.tangent is not None:
        return d.tangent
    return np.zeros_like(d.primal if isinstance(d, JVPTracer) and d.trace is trace else d)


def _dual_p_rule(g: Any, ans: Any, p: Any, t: Any, trace: JVPTrace) -> Any:
    # after the transform returned (reverse over forward): the e part of the coded cotangent;
    # inside it (a backward pass inside jvp, forward over reverse): the cotangent itself
    return tangent_p(g, trace) if trace.finished else g


# The cotangent of a dual value is the dual number (cotangent of its tangent) + (cotangent of
# its primal) e: see the module's docstring.
dual_p = Primitive(
    "MakeDual",
    _make_dual_fwd,
    [
        _dual_p_rule,
        lambda g, ans, p, t, trace: primal_p(g, trace),
    ],
    ["d dual(p, t)/dp: the e part of the gradient", "d dual(p, t)/dt: its real part"],
    jvp=lambda ts, ans, p, t, trace: (
        None if ts[0] is None and ts[1] is None else dual_p(_tz(ts[0], p), _tz(ts[1], t), trace)
    ),
    traced=False,
)
primal_p = Primitive(
    "PrimalOf",
    _primal_fwd,
    [lambda g, ans, d, trace: dual_p(_zeros(g), g, trace) if _own(d, trace) else g],
    ["d primal(d)/dd = dual(0, 1)"],
    jvp=lambda ts, ans, d, trace: None if ts[0] is None else primal_p(ts[0], trace),
    traced=False,
)
tangent_p = Primitive(
    "TangentOf",
    _tangent_fwd,
    [lambda g, ans, d, trace: dual_p(g, _zeros(g), trace) if _own(d, trace) else _zeros(g)],
    ["d tangent(d)/dd = dual(1, 0)"],
    jvp=lambda ts, ans, d, trace: None if ts[0] is None else tangent_p(ts[0], trace),
    traced=False,
)


def _tz(t: Any, like: Any) -> Any:
    return _zeros(like) if t is None else t


# ----- torch.autograd.forward_ad's API ---------------------------------------------------------
_LEVELS: list[JVPTrace] = []


@contextmanager
def dual_level() -> Iterator[int]:
    """A forward-mode level, as ``torch.autograd.forward_ad.dual_level``: :func:`make_dual`
    inside it makes dual tensors whose ops carry tangents. On exit the level closes: its dual
    tensors compute as their primals from then on, and :func:`unpack_dual` gives no tangent.

    Example:
        >>> import chainrule as cr
        >>> with dual_level():
        ...     y = make_dual(cr.tensor([2.0]), cr.tensor([1.0])) ** 3
        ...     unpack_dual(y).tangent
        tensor([12.])
    """
    trace = JVPTrace()
    _LEVELS.append(trace)
    try:
        yield len(_LEVELS) - 1
    finally:
        _LEVELS.remove(trace)
        trace.closed = True


def _level(level: int | None, op: str) -> JVPTrace:
    if not _LEVELS:
        raise RuntimeError(f"{op}: enter a forward AD level first (with dual_level(): ...)")
    if level is None:
        return _LEVELS[-1]
    if not 0 <= level < len(_LEVELS):
        raise RuntimeError(f"{op}: level {level} is not an active dual level")
    return _LEVELS[level]


def make_dual(tensor: Tensor, tangent: Tensor, *, level: int | None = None) -> Tensor:
    """A dual tensor of ``tensor`` with ``tangent`` at the innermost (or the given) level, as
    ``torch.autograd.forward_ad.make_dual``; shapes and dtypes must match.

    Example:
        >>> import chainrule as cr
        >>> with dual_level():
        ...     unpack_dual(make_dual(cr.tensor([1.0]), cr.tensor([5.0])).sin()).tangent
        tensor([2.7015])
    """
    trace = _level(level, "make_dual")
    if tuple(tensor.shape) != tuple(tangent.shape) or tensor.dtype != tangent.dtype:
        raise ValueError(
            f"make_dual: the tangent ({tangent.dtype} {list(tangent.shape)}) must have the "
            f"shape and dtype of the primal ({tensor.dtype} {list(tensor.shape)})"
        )
    if tensor.dtype.kind != "f":
        raise TypeError(f"make_dual: expected a floating-point primal, got {tensor.dtype}")
    return dual_p(tensor, tangent, trace)


class UnpackedDualTensor(NamedTuple):
    """``(primal, tangent)`` of a dual tensor; ``tangent`` is ``None`` for a plain one.

    Example:
        >>> UnpackedDualTensor(1, None).tangent is None
        True
    """

    primal: Any
    tangent: Any


def unpack_dual(tensor: Tensor, *, level: int | None = None) -> UnpackedDualTensor:
    """The primal and tangent of ``tensor`` at the innermost (or the given) level, as
    ``torch.autograd.forward_ad.unpack_dual`` (a view of both, differentiable by the tape).

    Example:
        >>> import chainrule as cr
        >>> unpack_dual(cr.tensor([1.0]))
        UnpackedDualTensor(primal=tensor([1.]), tangent=None)
    """
    if not _LEVELS:
        return UnpackedDualTensor(tensor, None)
    trace = _level(level, "unpack_dual")
    if not _own(tensor, trace):
        return UnpackedDualTensor(tensor, None)
    return UnpackedDualTensor(primal_p(tensor, trace), tangent_p(tensor, trace))
