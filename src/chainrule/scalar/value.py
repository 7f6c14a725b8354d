"""``Value``: one number in an expression graph, and its gradient (micrograd's ``Value``).

Every op records its operands and, computed right away in the forward pass, the local derivative
of its result with respect to each operand. Backward is then the chain rule in its plainest form:
visit the nodes in reverse topological order and add ``local * out.grad`` into each operand's
``grad``.

The graph, as ``chainrule.viz`` reads it (a contract: keep it):

- ``_prev``: the operands in argument order; ``a * a`` has ``_prev == (a, a)``.
- ``_op``: ``''`` for a leaf; ``'+'``, ``'-'``, ``'*'``, ``'/'`` (subtraction and division are
  their own ops, not micrograd's ``a + (-1 * b)`` and ``a * b**-1``); ``'neg'`` for ``-a``;
  ``'**k'`` for a power with its exponent (``'**2'``, ``'**-1'``, ``'**0.5'``); ``'relu'``,
  ``'tanh'``, ``'sigmoid'``, ``'exp'``, ``'log'``; ``'dot'`` for a fused ``w . x (+ b)`` (see
  ``dot``) and ``'sum'`` for a fused sum of many values (see ``sum``). A Python number operand
  becomes a leaf ``Value`` of its own.
- ``_local``: one float per ``_prev`` entry, d(self)/d(operand), computed in the forward pass.
- ``_formulas``: one string per ``_prev`` entry, the same derivative in words
  (``'d(a*b)/da = b'``).
- ``label``: a name for drawings (``''`` when unnamed).

How it is stored (what makes it quick). A scalar graph is millions of tiny objects, and on
CPython the cost of making them is dominated by the cyclic garbage collector, which runs after
every few hundred new container objects and, now and then, walks every live one. So an op makes
exactly one object: the result ``Value``, its one or two operands and their local derivatives in
slots of their own (``_a``, ``_b``, ``_la``, ``_lb``) rather than in two tuples (which would be
three objects per op, as in micrograd and microgpt). Fused ops (``dot``, ``sum``) keep their many
operands and local derivatives as tuples in ``_a`` and ``_la``, marked by ``_b is _MANY``.
``_prev``, ``_local`` and ``_formulas`` are read-only views built from the slots on request (the
formulas from ``_op``), so what the drawings read costs the forward pass nothing. The ops build
their result with ``object.__new__`` and slot writes, skipping ``__init__``'s argument handling;
the slots an op leaves unset (``_label``, the formulas of a hand-made node) read as their
defaults.
"""

from __future__ import annotations

import builtins
import math
import numbers
import operator
from collections.abc import Iterable

Number = int | float

_new = object.__new__


class _Many:
    """The marker in ``_b`` of a node with many operands (``dot``, ``sum``)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "_MANY"


_MANY = _Many()


class Value:
    """A scalar that remembers how it was computed, so that ``backward()`` can differentiate it.

    ``Value(data, _prev=(), _op='', label='', _local=(), _formulas=())`` makes a leaf from a
    number (``label`` names it in drawings), or, given operands ``_prev`` and one local
    derivative per operand in ``_local``, a node of an op of your own (``_op`` names it,
    ``_formulas`` may spell out its derivatives).

    Example:
        >>> a, b = Value(2.0, label="a"), Value(-3.0, label="b")
        >>> c = a * b + a          # a is used twice: its gradient adds both paths
        >>> c.backward()
        >>> c.data, a.grad, b.grad
        (-4.0, -2.0, 2.0)
    """

    # _a, _b: the operands (None, None for a leaf; _b None for one operand; a tuple and _MANY
    # for many); _la, _lb: their local derivatives (a tuple for many); _label: see ``label``;
    # _fs: formulas given to the constructor for an op of your own.
    __slots__ = ("data", "grad", "_a", "_b", "_la", "_lb", "_op", "_label", "_fs")

    def __init__(
        self,
        data: Number,
        _prev: tuple = (),
        _op: str = "",
        label: str = "",
        _local: tuple = (),
        _formulas: tuple = (),
    ) -> None:
        self.data = data if data.__class__ is float else _as_float(data)
        self.grad = 0.0
        self._op = _op
        self._label = label
        if _formulas:
            self._fs = tuple(_formulas)
        n = len(_prev)
        if len(_local) != n:
            raise ValueError(
                f"Value: {n} operands (_prev) but {len(_local)} local derivatives (_local); give "
                "one d(result)/d(operand) per operand"
            )
        if n == 0:
            self._a = None
            return
        for p in _prev:
            if not isinstance(p, Value):
                raise TypeError(f"Value: the operands (_prev) must be Values, got {p!r}")
        if n == 1:
            self._a, self._b, self._la = _prev[0], None, float(_local[0])
        elif n == 2:
            self._a, self._b = _prev
            self._la, self._lb = float(_local[0]), float(_local[1])
        else:
            self._a, self._b, self._la = tuple(_prev), _MANY, tuple(map(float, _local))

    # ----- the graph, as drawings read it -------------------------------------------------
    @property
    def _prev(self) -> tuple[Value, ...]:
        """The operands in argument order (``()`` for a leaf)."""
        a = self._a
        if a is None:
            return ()
        b = self._b
        if b is None:
            return (a,)
        return a if b is _MANY else (a, b)

    @property
    def _local(self) -> tuple[float, ...]:
        """d(self)/d(operand) for each operand in ``_prev``, computed in the forward pass."""
        if self._a is None:
            return ()
        b = self._b
        if b is None:
            return (self._la,)
        return self._la if b is _MANY else (self._la, self._lb)

    @property
    def _formulas(self) -> tuple[str, ...]:
        """The local derivatives in words, one per operand (``'d(a*b)/da = b'``)."""
        try:
            return self._fs
        except AttributeError:
            pass
        op = self._op
        f = _FORMULAS.get(op)
        if f is not None:
            return f
        n = len(self._prev)
        if op == "dot":
            w = n // 2
            return (_DOT_W,) * w + (_DOT_X,) * w + (_DOT_B,) * (n % 2)
        if op == "sum":
            return (_SUM,) * n
        if op.startswith("**"):
            k = float(op[2:])
            k = int(k) if k.is_integer() else k
            return (f"d(a^{k})/da = {k}*a^{k - 1}",)
        return ("",) * n

    @property
    def label(self) -> str:
        """A name for drawings (``''`` when unnamed); settable, as in micrograd's notebooks.

        Example:
            >>> c = Value(2.0) * 3; c.label = "c"; c.label
            'c'
        """
        try:
            return self._label
        except AttributeError:
            return ""

    @label.setter
    def label(self, name: str) -> None:
        self._label = name

    # ----- arithmetic ---------------------------------------------------------------------
    # Each op writes its result's slots itself (see the module docstring); ``other.__class__ is
    # not Value`` is the one check on the way, and wraps a number as a leaf.
    def __add__(self, other: Value | Number) -> Value:
        if other.__class__ is not Value:
            other = _const(other)
        v = _new(Value)
        v.data = self.data + other.data
        v.grad = 0.0
        v._a = self
        v._b = other
        v._la = 1.0
        v._lb = 1.0
        v._op = "+"
        return v

    def __radd__(self, other: Number) -> Value:
        # ``number + v``, as in the built-in ``sum``'s first step, ``0 + v``: ``__add__`` called
        # directly (no second operator dispatch), the number's leaf first (``_prev`` in order)
        return Value.__add__(_const(other), self)

    def __sub__(self, other: Value | Number) -> Value:
        if other.__class__ is not Value:
            other = _const(other)
        v = _new(Value)
        v.data = self.data - other.data
        v.grad = 0.0
        v._a = self
        v._b = other
        v._la = 1.0
        v._lb = -1.0
        v._op = "-"
        return v

    def __rsub__(self, other: Number) -> Value:
        return _const(other) - self

    def __mul__(self, other: Value | Number) -> Value:
        if other.__class__ is not Value:
            other = _const(other)
        a = self.data
        b = other.data
        v = _new(Value)
        v.data = a * b
        v.grad = 0.0
        v._a = self
        v._b = other
        v._la = b
        v._lb = a
        v._op = "*"
        return v

    def __rmul__(self, other: Number) -> Value:
        return _const(other) * self

    def __truediv__(self, other: Value | Number) -> Value:
        if other.__class__ is not Value:
            other = _const(other)
        b = other.data
        if b == 0:
            raise ZeroDivisionError(f"Value division by zero ({self.data} / 0)")
        q = self.data / b
        v = _new(Value)
        v.data = q
        v.grad = 0.0
        v._a = self
        v._b = other
        v._la = 1.0 / b
        v._lb = -q / b
        v._op = "/"
        return v

    def __rtruediv__(self, other: Number) -> Value:
        return _const(other) / self

    def __rpow__(self, base: Number) -> Value:
        raise TypeError(
            f"{type(base).__name__} ** Value is not supported: the exponent must be an int or "
            "float (use (v * math.log(base)).exp() for base^v)"
        )

    def __neg__(self) -> Value:
        return _unary(-self.data, self, -1.0, "neg")

    def __pow__(self, k: Number) -> Value:
        if isinstance(k, Value):
            raise TypeError(
                "Value ** Value is not supported: the exponent must be an int or float "
                "(use (b * a.log()).exp() for a^b with b a Value)"
            )
        if not isinstance(k, numbers.Real) or isinstance(k, bool):
            raise TypeError(f"Value ** {type(k).__name__}: the exponent must be an int or float")
        if isinstance(k, float) and k.is_integer():
            k = int(k)  # shown as a**2, not a**2.0
        elif not isinstance(k, (int, float)):
            k = int(k) if isinstance(k, numbers.Integral) else float(k)  # NumPy numbers
        x = self.data
        if x == 0 and k < 0:
            raise ZeroDivisionError(f"Value ** {k}: 0 cannot be raised to a negative power")
        out = _power(x, k)
        if isinstance(out, complex):
            raise ValueError(f"Value ** {k}: a negative base {x} gives a complex result")
        local = k * _power(x, k - 1) if k != 0 else 0.0
        return _unary(float(out), self, float(local), f"**{k}")

    # ----- functions ----------------------------------------------------------------------
    def relu(self) -> Value:
        """``max(x, 0)``; local derivative 1 where ``x > 0``, else 0.

        Example:
            >>> Value(-2.0).relu().data, Value(3.0).relu()._local
            (0.0, (1.0,))
        """
        x = self.data
        if x > 0:
            return _unary(x, self, 1.0, "relu")
        return _unary(0.0, self, 0.0, "relu")

    def tanh(self) -> Value:
        """Hyperbolic tangent; local derivative ``1 - tanh(x)^2``.

        Example:
            >>> t = Value(0.0).tanh(); t.data, t._local
            (0.0, (1.0,))
        """
        t = math.tanh(self.data)
        return _unary(t, self, 1.0 - t * t, "tanh")

    def sigmoid(self) -> Value:
        """``1 / (1 + e^-x)``, one gate with local derivative ``s (1 - s)`` (seed 003).

        Example:
            >>> s = Value(0.0).sigmoid(); s.data, s._local
            (0.5, (0.25,))
        """
        x = self.data
        s = 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))
        return _unary(s, self, s * (1.0 - s), "sigmoid")

    def exp(self) -> Value:
        """``e^x``; its local derivative is ``e^x`` again.

        Example:
            >>> e = Value(0.0).exp(); e.data, e._formulas
            (1.0, ('d e^a/da = e^a',))
        """
        try:
            e = math.exp(self.data)
        except OverflowError:  # overflows to inf, as torch
            e = math.inf
        return _unary(e, self, e, "exp")

    def log(self) -> Value:
        """Natural logarithm (``x > 0``); local derivative ``1/x``.

        Example:
            >>> Value(4.0).log()._local
            (0.25,)
        """
        x = self.data
        if x <= 0:
            raise ValueError(f"Value.log: the logarithm needs a positive number, got {x}")
        return _unary(math.log(x), self, 1.0 / x, "log")

    # ----- backward -----------------------------------------------------------------------
    def topological_order(self) -> list[Value]:
        """Every node this one depends on, leaves included, each after its operands
        (iterative: no recursion limit). ``backward`` visits the same nodes in reverse.

        Example:
            >>> a = Value(1.0, label="a"); b = a * 2
            >>> [v.label or v._op for v in (b + a).topological_order()]
            ['a', '', '*', '+']
        """
        # depth-first, with an explicit stack of (node, iterator over its operands)
        order: list[Value] = []
        seen = {self}
        nodes = [self]
        iters = [iter(self._prev)]
        while nodes:
            for p in iters[-1]:
                if p not in seen:
                    seen.add(p)
                    nodes.append(p)
                    iters.append(iter(p._prev))
                    break
            else:  # every operand is placed: place the node
                order.append(nodes.pop())
                iters.pop()
        return order

    def backward(self) -> None:
        """Seed ``d self / d self = 1`` and run the chain rule back through the graph.

        Gradients accumulate (``+=``), so a value used twice gets the sum over both paths, and
        leaves (the inputs and weights) keep adding up across calls until ``zero_grad()``, as
        in PyTorch. The gradients of intermediate values start from 0 on each call, so a second
        ``backward()`` adds exactly one more gradient to the leaves (micrograd's own ``Value``
        would add the stale intermediate ones again).

        Example:
            >>> x = Value(3.0); y = (x * x) * 2
            >>> y.backward(); x.grad
            12.0
            >>> y.backward(); x.grad
            24.0
        """
        if self._a is None:  # a leaf: d self / d self = 1, nothing to propagate
            self.grad += 1.0
            return
        order = _ops_in_order(self)
        self.grad = 1.0
        for v in reversed(order):
            g = v.grad
            b = v._b
            if b is None:
                v._a.grad += v._la * g
            elif b is _MANY:
                for p, local in zip(v._a, v._la):
                    p.grad += local * g
            else:
                v._a.grad += v._la * g
                b.grad += v._lb * g

    def __repr__(self) -> str:
        return f"Value(data={self.data:.6g}, grad={self.grad:.6g})"


def _ops_in_order(root: Value) -> list[Value]:
    """The op nodes (not the leaves: they pass nothing on) that ``root`` depends on, each after
    its operands, with their gradients reset to 0: ``backward``'s visit order, reversed.

    Iterative depth-first search; a node is placed once all of its operands are. A node on the
    stack is expanded when popped: it goes back on the stack with ``None`` above it, then its
    operands above that; popping that ``None`` later (its operands are all placed by then)
    places it. A node already expanded is skipped when met again.

    "Already expanded" needs no ``seen`` set: expanding a node resets its gradient to ``zero``,
    a ``0.0`` made by this call (``float(0)`` is a new object each time), so ``v.grad is zero``
    holds exactly for the nodes this walk has reached. Gradients from an earlier ``backward``,
    or another walk's zero, are other objects; the first ``+=`` in the chain rule replaces it.
    """
    zero = float(0)
    order: list[Value] = []
    append = order.append
    stack: list = [root]
    push = stack.append
    pop = stack.pop
    while stack:
        v = pop()
        if v is None:  # the node below has all its operands placed: place it
            append(pop())
            continue
        if v.grad is zero:  # pushed twice before it was expanded: expanded already
            continue
        v.grad = zero
        push(v)
        push(None)
        b = v._b
        if b is _MANY:
            for p in v._a:
                if p._a is not None and p.grad is not zero:
                    push(p)
            continue
        if b is not None and b._a is not None and b.grad is not zero:
            push(b)
        a = v._a
        if a._a is not None and a.grad is not zero:
            push(a)
    return order


def _unary(data: float, x: Value, local: float, op: str) -> Value:
    """The node of a one-operand op: ``data``, from ``x``, with d(data)/dx = ``local``."""
    v = _new(Value)
    v.data = data
    v.grad = 0.0
    v._a = x
    v._b = None
    v._la = local
    v._op = op
    return v


def _const(x: object) -> Value:
    """A number operand as a leaf ``Value`` (a ``Value`` of a subclass is used as it is)."""
    c = x.__class__
    if c is not float:
        if c is int:
            x = float(x)  # type: ignore[arg-type]
        elif isinstance(x, Value):
            return x
        else:
            x = _as_float(x)
    v = _new(Value)
    v.data = x
    v.grad = 0.0
    v._a = None
    v._op = ""
    return v


def _power(base: float, k: float) -> float | complex:
    """``base ** k`` in floats, where Python would raise: +-inf past the float range and at
    ``0 ** negative`` (a local derivative such as ``d sqrt(a)/da`` at 0), as torch gives."""
    try:
        return base**k
    except ZeroDivisionError:
        return math.inf
    except OverflowError:
        odd = float(k).is_integer() and int(k) % 2 == 1
        return -math.inf if base < 0 and odd else math.inf


def _as_float(data: object) -> float:
    if isinstance(data, Value):
        raise TypeError("Value(Value(...)): pass a number; use the Value itself instead")
    if not isinstance(data, numbers.Real) and not hasattr(data, "__float__"):
        raise TypeError(f"Value needs a real number, got {type(data).__name__}: {data!r}")
    return float(data)


def _values(xs: tuple, op: str) -> tuple[Value, ...]:
    """``xs`` with its numbers made leaves (a C-speed type check first: usually all Values)."""
    if set(map(type, xs)) <= _VALUE_TYPE:
        return xs
    try:
        return tuple(map(_const, xs))
    except TypeError as e:
        raise TypeError(f"{op}: {e}") from None


def dot(
    weights: Iterable[Value | Number],
    inputs: Iterable[Value | Number],
    bias: Value | Number | None = None,
) -> Value:
    """``sum_i w_i x_i (+ b)`` as one node whose operands are every weight, every input and the
    bias (the weights stay nodes of the graph, seed 002), with local derivatives ``x_i``,
    ``w_i`` and ``1``. One node instead of ``2n`` keeps the scalar engine quick: a neuron, a
    row of a matrix product, an attention score, a sum of squares (``dot(x, x)``).

    The sum is taken in order, ``b + w_0 x_0 + w_1 x_1 + ...`` (``0 + w_0 x_0 + ...`` without a
    bias), as ``sum(w * x for ...)`` adds it. Numbers among the weights or inputs become leaves.

    Example:
        >>> w = [Value(2.0), Value(-3.0)]; b = Value(-3.0)
        >>> z = dot(w, [-1.0, -2.0], b)
        >>> z.backward(); z.data, [wi.grad for wi in w], b.grad
        (1.0, [-1.0, -2.0], 1.0)
        >>> x = [Value(3.0), Value(4.0)]; dot(x, x).data   # |x|^2
        25.0
    """
    ws = weights if weights.__class__ is tuple else tuple(weights)
    xs = inputs if inputs.__class__ is tuple else tuple(inputs)
    n = len(ws)
    if n != len(xs):
        raise ValueError(f"dot: {n} weights but {len(xs)} inputs")
    ws = _values(ws, "dot")
    xs = _values(xs, "dot")
    wd = list(map(_data, ws))
    xd = list(map(_data, xs))
    v = _new(Value)
    v.grad = 0.0
    v._b = _MANY
    v._op = "dot"
    if bias is None:
        v.data = float(builtins.sum(map(_mul, wd, xd)))
        v._a = ws + xs
        xd += wd
        v._la = tuple(xd)
    else:
        if bias.__class__ is not Value:
            bias = _const(bias)
        v.data = builtins.sum(map(_mul, wd, xd), bias.data)
        v._a = (*ws, *xs, bias)
        v._la = (*xd, *wd, 1.0)
    return v


def sum(values: Iterable[Value | Number], start: Value | Number = 0) -> Value | Number:  # noqa: A001
    """``start + v_0 + v_1 + ...`` as one node with every ``v_i`` an operand (local derivative 1
    each), where the built-in ``sum`` would make ``n`` two-operand ``+`` nodes. A drop-in for
    the built-in: on an iterable without a ``Value`` it is the built-in ``sum``; a ``start``
    other than 0 is the first operand.

    Example:
        >>> from chainrule.scalar import sum
        >>> xs = [Value(1.0), Value(2.0), Value(3.0)]
        >>> s = sum(xs); s.backward()
        >>> s.data, s._op, len(s._prev), [x.grad for x in xs]
        (6.0, 'sum', 3, [1.0, 1.0, 1.0])
        >>> sum([1, 2, 3])
        6
    """
    vs = values if values.__class__ is tuple else tuple(values)
    if not vs:
        return start
    kinds = set(map(type, vs))
    if not kinds <= _VALUE_TYPE:
        if not any(issubclass(k, Value) for k in kinds) and not isinstance(start, Value):
            return builtins.sum(vs, start)  # no Value: the built-in sum
        vs = _values(vs, "sum")
    if not (start.__class__ is int and start == 0):
        vs = (_const(start), *vs)
    v = _new(Value)
    v.data = float(builtins.sum(map(_data, vs)))
    v.grad = 0.0
    v._a = vs
    v._b = _MANY
    v._la = (1.0,) * len(vs)
    v._op = "sum"
    return v


_data = operator.attrgetter("data")
_mul = operator.mul
_VALUE_TYPE = {Value}
_ADD = ("d(a+b)/da = 1", "d(a+b)/db = 1")
_SUB = ("d(a-b)/da = 1", "d(a-b)/db = -1")
_MUL = ("d(a*b)/da = b", "d(a*b)/db = a")
_DIV = ("d(a/b)/da = 1/b", "d(a/b)/db = -a/b^2")
_FORMULAS = {
    "": (),
    "+": _ADD,
    "-": _SUB,
    "*": _MUL,
    "/": _DIV,
    "neg": ("d(-a)/da = -1",),
    "relu": ("d relu(a)/da = 1 if a > 0 else 0",),
    "tanh": ("d tanh(a)/da = 1 - tanh(a)^2",),
    "sigmoid": ("d sigma(a)/da = sigma(a)*(1 - sigma(a))",),
    "exp": ("d e^a/da = e^a",),
    "log": ("d ln(a)/da = 1/a",),
}
_DOT_W = "d(w.x + b)/dw_i = x_i"
_DOT_X = "d(w.x + b)/dx_i = w_i"
_DOT_B = "d(w.x + b)/db = 1"
_SUM = "d(sum a_i)/da_i = 1"
