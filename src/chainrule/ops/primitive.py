"""Primitives: one forward, one derivative rule per input, one formula per input, in one place.

A primitive is *dual*. Called with raw arrays it returns a raw array (the fast path the backward
pass uses); called with any :class:`~chainrule.Tensor` it returns a Tensor and, when grad is
enabled and an input requires grad, records a :class:`~chainrule.autograd.node.Node`. Derivative
rules are written with primitives and operators, so the same rule runs on arrays for a plain
backward and on Tensors for ``create_graph=True`` (higher derivatives).

A rule has the signature ``rule(g, ans, *inputs, **params)``: ``g`` the gradient of the output,
``ans`` the output itself, ``inputs`` the op's arguments; it returns the gradient of one input
(before unbroadcasting, which the engine does).

The node saves only what its rules read. Which arguments a rule reads is found once, from the
rule's own code: an argument used only for its ``.shape``, ``.ndim`` or ``.dtype`` is kept as a
:class:`Meta` (no array), one never used is not kept at all. So ``x + b`` saves nothing and
``x * 2`` saves only the 2, and an in-place change of ``x`` afterwards does not stop backward.
"""

from __future__ import annotations

import dis
import itertools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..autograd.grad_mode import GRAD_OFF, STATE, WATCHERS
from ..autograd.node import AccumulateGrad, Node, Version, op_node
from ..autograd.remat import Recompute, materialize
from ..tensor import Tensor, _root, edge_of

Rule = Callable[..., Any]

_wrap = Tensor._wrap
_F32, _F64 = np.dtype(np.float32), np.dtype(np.float64)
_META_ATTRS = frozenset({"shape", "ndim", "dtype"})
_LOADS = frozenset({"LOAD_FAST", "LOAD_FAST_CHECK", "LOAD_DEREF", "LOAD_CLOSURE"})


class Meta:
    """What a node keeps of an argument whose rule reads only its shape and dtype.

    Example:
        >>> import numpy as np
        >>> m = Meta(np.zeros((2, 3), np.float32)); m.shape, m.ndim, m.dtype
        ((2, 3), 2, dtype('float32'))
    """

    __slots__ = ("shape", "dtype")

    def __init__(self, a: Any) -> None:
        self.shape = a.shape
        self.dtype = a.dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        return f"Meta(shape={self.shape}, dtype={self.dtype})"


def reads(rule: Rule, n_args: int) -> tuple[frozenset, frozenset, int] | None:
    """``(values, metas, ans)``: which argument positions ``rule`` reads as values, which only
    for their shape/dtype, and how it reads ``ans`` (0 not, 1 shape only, 2 value); ``None``
    when it cannot be told (a rule taking ``*args``, or no Python code), meaning "everything".

    Example:
        >>> reads(lambda g, ans, a, b: g * b, 2)
        (frozenset({1}), frozenset(), 0)
        >>> reads(lambda g, ans, a, shape: g.reshape(a.shape), 2)
        (frozenset(), frozenset({0}), 0)
    """
    code = getattr(rule, "__code__", None)
    if code is None or code.co_flags & 0x0C:  # *args / **kwargs: cannot tell
        return None
    names = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
    value: set[str] = set()
    meta: set[str] = set()
    instrs = list(dis.get_instructions(code))
    for k, ins in enumerate(instrs):
        if ins.opname in _LOADS:
            nxt = instrs[k + 1] if k + 1 < len(instrs) else None
            shape_only = nxt is not None and nxt.opname == "LOAD_ATTR" and nxt.argval in _META_ATTRS
            (meta if shape_only else value).add(ins.argval)
        elif ins.opname == "LOAD_FAST_LOAD_FAST":
            value.update(ins.argval)
        elif ins.opname in ("STORE_FAST", "DELETE_FAST", "STORE_DEREF"):
            value.add(ins.argval)
    meta -= value
    pos = {nm: i - 2 for i, nm in enumerate(names[: code.co_argcount]) if i >= 2}
    values = frozenset(pos[nm] for nm in value if nm in pos and pos[nm] < n_args)
    metas = frozenset(pos[nm] for nm in meta if nm in pos and pos[nm] < n_args)
    if len(names) > 1:
        a = names[1]
        ans = 2 if a in value else 1 if a in meta else 0
    else:
        ans = 0
    return values, metas, ans


# How many traces (transform levels) are alive: while none is, a primitive never looks for
# tracers among its arguments, so the transforms cost nothing to code that does not use them.
_LIVE = [0]
_LEVELS = itertools.count(1)


class Trace:
    """One level of a transform (forward mode, vmap...) that runs *below* the tape.

    A trace wraps the arrays it transforms in its own :class:`Tracer` objects. When a primitive
    is called and some argument is a tracer, the trace of the highest level among them handles
    the call in :meth:`process`: it takes its own tracers apart, calls the primitive one level
    down (on their values, which may be tracers of lower levels or plain arrays) and wraps the
    result (JAX's design: interpreters stacked by level). The tape records tensors whose arrays
    are tracers like any others, so reverse mode composes with the transforms in either order.
    Levels grow with creation, so a transform entered inside another handles its ops first.

    Example:
        >>> class Count(Trace):
        ...     calls = 0
        ...     def process(self, prim, args, params):
        ...         Count.calls += 1
        ...         return prim(*[a.value if isinstance(a, Tracer) else a for a in args], **params)
        >>> class Box(Tracer):
        ...     __slots__ = ("value",)
        ...     def __init__(self, trace, value):
        ...         super().__init__(trace)
        ...         self.value = value
        >>> import numpy as np
        >>> from chainrule.ops.elementwise import mul
        >>> mul(Box(Count(), np.array([2.0])), 3.0), Count.calls
        (array([6.]), 1)
    """

    __slots__ = ("level", "__weakref__")
    # lift(args) -> args or None: a trace may replace the tensors of a recorded op that are
    # not its own values (forward mode enters them as duals, so the tape's cotangents for them
    # are read off correctly)
    lift = None

    def __init__(self) -> None:
        self.level = next(_LEVELS)
        _LIVE[0] += 1

    def __del__(self) -> None:
        _LIVE[0] -= 1

    def process(self, prim: Primitive, args: list, params: dict) -> Any:
        """Run ``prim`` on ``args`` (some of them this trace's tracers); return the result."""
        raise NotImplementedError


class Tracer:
    """An array-like value of a :class:`Trace`: it stands where a NumPy array stands inside a
    tensor or a derivative rule. Subclasses give ``shape`` and ``dtype`` (of the value a user's
    function sees) and whatever they carry; operators and array methods run as primitives
    (attached in :mod:`chainrule.ops.tracer`), so they reach :meth:`Trace.process`.

    Example:
        >>> Tracer.base is None
        True
    """

    __slots__ = ("trace",)
    __array_priority__ = 1000  # ndarray (op) Tracer defers to the tracer's reflected operator
    base = None  # never a NumPy view: tensors holding tracers share no version counter
    _is_tracer = True  # how tensor.py, below this module, tells a tracer from an array
    shape: tuple
    dtype: Any

    def __init__(self, trace: Trace) -> None:
        self.trace = trace

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d tracer")
        return self.shape[0]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(shape={tuple(self.shape)}, dtype={self.dtype})"

    def grad_for(self, target: Any, g: Any) -> Any:
        """``g`` (this tracer, or a tensor holding it) as the gradient that goes to node
        ``target``; the engine asks before routing a gradient along an edge. A transform whose
        tracers can carry more than the target's value has (a vmap batch, for a tensor from
        outside the vmap) removes it here."""
        return g

    def __array__(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(
            f"{type(self).__name__}: a value inside a transform cannot be turned into a NumPy "
            "array (an op reached NumPy without going through a primitive, or a traced value "
            "was read with .numpy()/.item()/float() inside the transformed function)"
        )


def top_tracer(args: Sequence[Any]) -> Tracer | None:
    """The tracer of the highest level among ``args`` (looking one level into lists and
    tuples), or ``None``.

    Example:
        >>> top_tracer([1.0, None]) is None
        True
    """
    top = None
    for a in args:
        if a.__class__ in (list, tuple):
            b = top_tracer(a)
            if b is not None and (top is None or b.trace.level > top.trace.level):
                top = b
        elif isinstance(a, Tracer) and (top is None or a.trace.level > top.trace.level):
            top = a
    return top


class Primitive:
    """An op with a forward on arrays and a derivative rule per input.

    Example:
        >>> import numpy as np
        >>> square = Primitive("Square", lambda a: a * a, [lambda g, ans, a: 2 * a * g],
        ...                    ["d(a^2)/da = 2a"])
        >>> square(np.array([3.0]))        # raw arrays in, raw array out
        array([9.])

    ``jvp`` is the forward-mode rule, ``jvp(tangents, ans, *args, **params)`` -> the output's
    tangent (see :mod:`chainrule.autograd.forward_ad`); ``"elementwise"`` and ``"linear"``
    name the two common forms. Without one, forward mode raises naming the primitive.

        >>> cube = Primitive("Cube", lambda a: a ** 3, [lambda g, ans, a: 3 * a * a * g],
        ...                  jvp="elementwise")
        >>> cube.jvp([np.array([1.0])], np.array([8.0]), np.array([2.0]))
        array([12.])
    """

    __slots__ = (
        "name", "forward", "rules", "formulas", "_plans", "_variadic", "jvp", "traced",
        "recompute",
    )  # fmt: skip

    def __init__(
        self,
        name: str,
        forward: Callable[..., Any],
        rules: Sequence[Rule | None] | Callable[[int], Rule],
        formulas: Sequence[str] | Callable[[int], str] = (),
        jvp: Rule | str | None = None,
        traced: bool = True,
        recompute: bool = False,
    ) -> None:
        self.name = name
        self.forward = forward
        self.rules = rules
        self.formulas = formulas
        self._variadic = callable(rules)
        # The forward-mode rule ``jvp(tangents, ans, *args, **params)`` -> the output's tangent
        # (``tangents`` aligned with ``args``, ``None`` where an argument has none; returns
        # ``None`` when the output has no tangent). "elementwise": the Jacobian is diagonal, so
        # the jvp is the sum of the reverse rules applied to the tangents; "linear": the op is
        # linear in its first argument (the others static), so the jvp is the op on its tangent.
        if jvp == "elementwise":
            jvp = self._elementwise_jvp
        elif jvp == "linear":
            jvp = self._linear_jvp
        self.jvp = jvp
        # False: the forward takes tracers as they are (the ops that build and take apart a
        # transform's values); no trace intercepts it
        self.traced = traced
        # True: cheap to run again, and no rule of its own reads its output, so an op that saves
        # the output keeps a Recompute instead (autograd.remat) while autograd.recompute is on
        self.recompute = recompute
        # n | mask << 8 | tmask << 32 (number of arguments, which need a gradient, which are
        # tensors) -> what a node keeps; see _plan
        self._plans: dict[int, tuple] = {}

    def rule(self, i: int) -> Rule | None:
        """The derivative rule for input ``i`` (``None``: not differentiable there)."""
        r = self.rules
        if callable(r):
            return r(i)
        return r[i] if i < len(r) else None

    def formula(self, i: int) -> str:
        """The local derivative of input ``i`` as text, e.g. ``'d(a*b)/da = b'``."""
        f = self.formulas
        if callable(f):
            return f(i)
        return f[i] if i < len(f) else ""

    def _elementwise_jvp(self, tangents: Sequence[Any], ans: Any, *args: Any, **params: Any) -> Any:
        out = None
        for i, t in enumerate(tangents):
            if t is None:
                continue
            r = self.rule(i)
            if r is None:
                raise RuntimeError(f"{self.name}: input {i} is not differentiable")
            term = r(t, ans, *args, **params)
            out = term if out is None else out + term
        return out  # the trace broadcasts it to the output's shape

    def _linear_jvp(self, tangents: Sequence[Any], ans: Any, *args: Any, **params: Any) -> Any:
        t = tangents[0]
        return None if t is None else self(t, *args[1:], **params)

    def _plan(self, n: int, mask: int, tmask: int) -> tuple:
        """What a node keeps for ``n`` arguments, those in ``tmask`` tensors and those in
        ``mask`` needing a gradient: ``(edges, metas, dropped, checked, ans)``, the positions
        that get an edge, that are kept as a :class:`Meta`, that are not kept at all, and whose
        saved array is version-checked; ``ans`` is 2 (keep the output), 1 (its shape) or 0."""
        kinds = [0] * n
        ans = 0
        for i in range(n):
            if not mask >> i & 1:
                continue
            r = self.rule(i)
            info = None if r is None else reads(r, n)
            if info is None:
                kinds = [2] * n
                ans = 2
                break
            values, metas, a = info
            for j in values:
                kinds[j] = 2
            for j in metas:
                kinds[j] = max(kinds[j], 1)
            ans = max(ans, a)
        tensors = [i for i in range(n) if tmask >> i & 1]
        edges = tuple(i for i in tensors if mask >> i & 1)
        metas = tuple(i for i in edges if kinds[i] == 1)
        dropped = tuple(i for i in edges if kinds[i] == 0)
        # A constant tensor is always kept (so the graph can be drawn), checked if a rule reads it
        checked = tuple(i for i in tensors if kinds[i] == 2)
        plan = (edges, metas, dropped, checked, ans)
        self._plans[n | mask << 8 | tmask << 32] = plan
        return plan

    def __call__(self, *args: Any, **params: Any) -> Any:
        for a in args:
            if isinstance(a, Tensor):
                break
        else:  # arrays in, array out: the path derivative rules take
            if _LIVE[0] and self.traced and (top := top_tracer(args)) is not None:
                return top.trace.process(self, list(args), params)
            return self.forward(*args, **params)
        arrays = []
        tmask = mask = 0
        bit = 1
        for a in args:
            if isinstance(a, Tensor):
                tmask |= bit
                if a._requires_grad:
                    mask |= bit
                arrays.append(a._data)
            else:
                arrays.append(a)
            bit <<= 1
        if _LIVE[0] and self.traced and (top := top_tracer(arrays)) is not None:
            if mask and STATE.enabled and top.trace.lift is not None:
                lifted = top.trace.lift(args)  # tensors of the tape entered into the trace
                if lifted is not None:
                    return self(*lifted, **params)
            out = top.trace.process(self, arrays, params)
            traced = True
        else:
            out = self.forward(*arrays, **params) if params else self.forward(*arrays)
            traced = False
        t = _wrap(out)
        out = t._data
        base = out.base
        if base is not None:  # a view (reshape, slice, transpose...): share the version counter
            for a in args:
                if isinstance(a, Tensor) and (base is a._data or base is a._data.base):
                    t._vc = a._counter()
                    t._base = a
                    t._vview = _root(a)._node  # its grad_fn is stale once this changes
                    break
        # (GRAD_OFF: no thread has grad mode off, so this one has it on without asking)
        if not (mask and (not GRAD_OFF[0] or STATE.enabled)):
            return t
        dt = out.dtype
        if not (dt is _F32 or dt is _F64 or dt.kind in "fc"):  # ints: no gradient
            return t
        # Record the node: edges to the inputs that need a gradient, and only what rules read.
        t._requires_grad = True
        n = len(args)
        plan = self._plans.get(n | mask << 8 | tmask << 32) or self._plan(n, mask, tmask)
        edge_at, metas, dropped, checked, ans_kind = plan
        edges = [None] * n
        for i in edge_at:
            a = args[i]
            node = a._node
            if node is not None:
                if a._base is not None and _root(a)._node is not a._vview:
                    raise RuntimeError(stale_view(self.name, i, a))
                edges[i] = (node, a._slot, a._data.shape)
            else:
                edges[i] = edge_of(a)
        if self.recompute and not ans_kind and not traced and STATE.recompute:
            t._remat = _recipe(self, args, arrays, params, out)
        saved = arrays  # non-tensor arguments as given, tensors as their arrays
        for i in metas:
            saved[i] = Meta(saved[i])
        for i in dropped:
            saved[i] = None
        versions: Any = ()
        remat = False
        if checked:
            versions = []
            for i in checked:
                a = args[i]
                vc = a._vc
                if vc is None:
                    vc = a._vc = Version()
                elif a._remat is not None and vc.value:  # written since: not the op's output
                    a._remat = None
                if a._remat is not None:  # a cheap op's output: keep how to make it again
                    saved[i] = a._remat
                    a._remat.users += 1
                    remat = True
                versions.append((i, vc, vc.value))
        ans = None
        if ans_kind:
            ans = t._data
            if ans_kind == 2:
                vc = t._vc
                if vc is None:
                    vc = t._vc = Version()
                versions = [*versions, (-1, vc, vc.value)]
            else:
                ans = Meta(ans)
        t._node = node = op_node(self, edges, saved, versions, params, tmask, ans)
        if remat:
            node.remat = True
        if WATCHERS[0] and STATE.watch is not None:  # anomaly mode, or an in-place op recorded
            STATE.watch(node)
        return t

    def backward(self, node: Node, g: Any, create_graph: bool) -> list:
        """Gradients of the inputs of ``node`` given ``g``, the gradient of its output.

        The fast path hands the rules the raw arrays saved at forward time; with
        ``create_graph`` they get tensors that are in the graph, so the rules record a graph of
        their own.
        """
        materialize(node)
        args = node.saved
        ans = node.ans
        if create_graph:
            args, ans = saved_tensors(node)
        params = node.params
        rules = self.rules
        out: list = []
        for i, e in enumerate(node.edges):
            if e is None:
                out.append(None)
                continue
            # self.rule(i), inlined: this runs once per edge of every backward
            r = rules(i) if self._variadic else (rules[i] if i < len(rules) else None)
            if r is None:
                raise RuntimeError(f"{self.name}: input {i} is not differentiable")
            out.append(r(g, ans, *args, **params))
        return out

    def __repr__(self) -> str:
        return f"<primitive {self.name}>"


def tangent_sum(ans: Any, tangents: Sequence[Any], *terms: Callable[[Any], Any]) -> Any:
    """The jvp of an op linear in each argument: ``sum_i terms[i](tangents[i])`` over the
    arguments that have a tangent (the trace broadcasts it to the output's shape); ``None`` if
    none has.

    Example:
        >>> import numpy as np
        >>> tangent_sum(np.zeros(2), [None, np.ones(2)], lambda t: 2 * t, lambda t: 3 * t)
        array([3., 3.])
    """
    out = None
    for t, term in zip(tangents, terms):
        if t is not None and term is not None:  # None: an integer argument
            v = term(t)
            out = v if out is None else out + v
    return out


def zeros_of(a: Any) -> Any:
    """Zeros shaped like ``a`` (an array or a tracer): the tangent of an argument that has none.

    Example:
        >>> import numpy as np
        >>> zeros_of(np.ones(2, np.float32))
        array([0., 0.], dtype=float32)
    """
    return np.zeros_like(a)


def no_tangent(tangents: Sequence[Any], ans: Any, *args: Any, **params: Any) -> None:
    """The jvp rule of an op whose output has no tangent (comparisons, argmax: integers and
    booleans).

    Example:
        >>> no_tangent([1.0], True) is None
        True
    """
    return None


def saved_tensors(node: Node) -> tuple[list, Any]:
    """The saved arguments (and output) of ``node`` as tensors that are in the graph: each saved
    array comes back attached to the node that produced it (a leaf as the leaf itself), so rules
    run on them record differentiable gradients (``create_graph=True``).

    Example:
        >>> import chainrule as cr
        >>> x = cr.tensor(3.0, requires_grad=True)
        >>> args, ans = saved_tensors((x * x).grad_fn)
        >>> args[0] is x, ans
        (True, None)
    """
    materialize(node)
    counters = {i: vc for i, vc, _ in node.versions}
    args = list(node.saved)
    for i, e in enumerate(node.edges):
        a = args[i]
        if a is None or isinstance(a, Meta) or not node.tmask >> i & 1:
            continue
        if e is not None and isinstance(e[0], AccumulateGrad) and e[0].variable._data is a:
            args[i] = e[0].variable
            continue
        t = Tensor._wrap(a)
        if i in counters:
            t._vc = counters[i]
        if e is not None:
            t._requires_grad = True
            t._node, t._slot = e[0], e[1]
        args[i] = t
    ans = node.ans
    if ans is not None and not isinstance(ans, Meta):
        t = Tensor._wrap(ans)
        t._requires_grad = True
        t._node, t._slot = node, 0
        if -1 in counters:
            t._vc = counters[-1]
        ans = t
    return args, ans


def _recipe(fn: Primitive, args: tuple, arrays: list, params: dict, out: Any) -> Recompute:
    """How to make ``out`` again: ``fn`` on the arrays it was called with, and the version of
    each tensor argument now (a change in place since would make another output)."""
    checks = []
    for j, a in enumerate(args):
        if isinstance(a, Tensor):
            vc = a._counter()
            checks.append((j, vc, vc.value))
    return Recompute(fn, tuple(arrays), params, tuple(checks), out)


def stale_view(op: str, i: int, a: Any) -> str:
    """The error for a view used after its base got a new ``grad_fn`` by an in-place op.

    Example:
        >>> import chainrule as cr
        >>> stale_view("Mul", 0, cr.zeros(2))[:42]
        'Mul: input 0 is a view of a tensor that wa'
    """
    return (
        f"{op}: input {i} is a view of a tensor that was modified by an in-place operation "
        f"after the view was taken [{a.dtype} {list(a.shape)}]; its gradient would skip that "
        f"operation. Take the view after the in-place op, or .clone() it before"
    )


def per_input(rule: Callable[..., Any]) -> Callable[[int], Rule]:
    """Adapt ``rule(i, g, ans, *inputs)`` for variadic ops (``cat``) to the per-input table.

    Example:
        >>> per_input(lambda i, g, ans, *xs: g)(0)(1, None)
        1
    """

    def make(i: int) -> Rule:
        return lambda g, ans, *args, **params: rule(i, g, ans, *args, **params)

    return make
