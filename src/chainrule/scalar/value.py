"""``Value``: one number in an expression graph, and its gradient (micrograd's ``Value``).

Every op records its operands (``_prev``) and, computed right away in the forward pass, the local
derivative of its result with respect to each operand (``_local``) with the formula in words
(``_formulas``). Backward is then the chain rule in its plainest form: visit the nodes in reverse
topological order and add ``local * out.grad`` into each operand's ``grad``.

The graph, as ``chainrule.viz`` reads it (a contract: keep it):

- ``_prev``: the operands in argument order; ``a * a`` has ``_prev == (a, a)``.
- ``_op``: ``''`` for a leaf; ``'+'``, ``'-'``, ``'*'``, ``'/'`` (subtraction and division are
  their own ops, not micrograd's ``a + (-1 * b)`` and ``a * b**-1``); ``'neg'`` for ``-a``;
  ``'**k'`` for a power with its exponent (``'**2'``, ``'**-1'``, ``'**0.5'``); ``'relu'``,
  ``'tanh'``, ``'sigmoid'``, ``'exp'``, ``'log'``; and ``'dot'`` for a neuron's fused
  ``w . x + b`` (see ``dot``). A Python number operand becomes a leaf ``Value`` of its own.
- ``_local``: one float per ``_prev`` entry, d(self)/d(operand), computed in the forward pass.
- ``_formulas``: one string per ``_prev`` entry, the same derivative in words
  (``'d(a*b)/da = b'``).
- ``label``: a name for drawings (``''`` when unnamed).
"""

from __future__ import annotations

import math
import numbers
import operator
from collections.abc import Iterable

Number = int | float


class Value:
    """A scalar that remembers how it was computed, so that ``backward()`` can differentiate it.

    Example:
        >>> a, b = Value(2.0, label="a"), Value(-3.0, label="b")
        >>> c = a * b + a          # a is used twice: its gradient adds both paths
        >>> c.backward()
        >>> c.data, a.grad, b.grad
        (-4.0, -2.0, 2.0)
    """

    __slots__ = ("data", "grad", "_prev", "_op", "_local", "_formulas", "label")

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
        self._prev = _prev
        self._op = _op
        self._local = _local
        self._formulas = _formulas
        self.label = label

    # ----- arithmetic ---------------------------------------------------------------------
    def __add__(self, other: Value | Number) -> Value:
        o = other if isinstance(other, Value) else Value(other)
        return Value(self.data + o.data, (self, o), "+", "", _ONES, _ADD)

    def __radd__(self, other: Number) -> Value:
        return Value(other) + self

    def __sub__(self, other: Value | Number) -> Value:
        o = other if isinstance(other, Value) else Value(other)
        return Value(self.data - o.data, (self, o), "-", "", _SUB_LOCAL, _SUB)

    def __rsub__(self, other: Number) -> Value:
        return Value(other) - self

    def __mul__(self, other: Value | Number) -> Value:
        o = other if isinstance(other, Value) else Value(other)
        return Value(self.data * o.data, (self, o), "*", "", (o.data, self.data), _MUL)

    def __rmul__(self, other: Number) -> Value:
        return Value(other) * self

    def __truediv__(self, other: Value | Number) -> Value:
        o = other if isinstance(other, Value) else Value(other)
        if o.data == 0:
            raise ZeroDivisionError(f"Value division by zero ({self.data} / 0)")
        q = self.data / o.data
        return Value(q, (self, o), "/", "", (1.0 / o.data, -q / o.data), _DIV)

    def __rtruediv__(self, other: Number) -> Value:
        return Value(other) / self

    def __rpow__(self, base: Number) -> Value:
        raise TypeError(
            f"{type(base).__name__} ** Value is not supported: the exponent must be an int or "
            "float (use (v * math.log(base)).exp() for base^v)"
        )

    def __neg__(self) -> Value:
        return Value(-self.data, (self,), "neg", "", (-1.0,), _NEG)

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
        if self.data == 0 and k < 0:
            raise ZeroDivisionError(f"Value ** {k}: 0 cannot be raised to a negative power")
        out = _power(self.data, k)
        if isinstance(out, complex):
            raise ValueError(f"Value ** {k}: a negative base {self.data} gives a complex result")
        local = k * _power(self.data, k - 1) if k != 0 else 0.0
        return Value(out, (self,), f"**{k}", "", (float(local),), (f"d(a^{k})/da = {k}*a^{k - 1}",))

    # ----- functions ----------------------------------------------------------------------
    def relu(self) -> Value:
        """``max(x, 0)``; local derivative 1 where ``x > 0``, else 0.

        Example:
            >>> Value(-2.0).relu().data, Value(3.0).relu()._local
            (0.0, (1.0,))
        """
        pos = self.data > 0
        return Value(self.data if pos else 0.0, (self,), "relu", "", (1.0 if pos else 0.0,), _RELU)

    def tanh(self) -> Value:
        """Hyperbolic tangent; local derivative ``1 - tanh(x)^2``.

        Example:
            >>> t = Value(0.0).tanh(); t.data, t._local
            (0.0, (1.0,))
        """
        t = math.tanh(self.data)
        return Value(t, (self,), "tanh", "", (1.0 - t * t,), _TANH)

    def sigmoid(self) -> Value:
        """``1 / (1 + e^-x)``, one gate with local derivative ``s (1 - s)`` (seed 003).

        Example:
            >>> s = Value(0.0).sigmoid(); s.data, s._local
            (0.5, (0.25,))
        """
        x = self.data
        s = 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))
        return Value(s, (self,), "sigmoid", "", (s * (1.0 - s),), _SIGMOID)

    def exp(self) -> Value:
        """``e^x``; its local derivative is ``e^x`` again.

        Example:
            >>> e = Value(0.0).exp(); e.data, e._formulas
            (1.0, ('d e^a/da = e^a',))
        """
        e = math.exp(self.data) if self.data < 710 else math.inf  # overflows to inf, as torch
        return Value(e, (self,), "exp", "", (e,), _EXP)

    def log(self) -> Value:
        """Natural logarithm (``x > 0``); local derivative ``1/x``.

        Example:
            >>> Value(4.0).log()._local
            (0.25,)
        """
        if self.data <= 0:
            raise ValueError(f"Value.log: the logarithm needs a positive number, got {self.data}")
        return Value(math.log(self.data), (self,), "log", "", (1.0 / self.data,), _LOG)

    # ----- backward -----------------------------------------------------------------------
    def topological_order(self) -> list[Value]:
        """Every node this one depends on, each after its operands (iterative: no recursion
        limit). ``backward`` visits this list in reverse.

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
        order = self.topological_order()
        for v in order:
            if v._prev:
                v.grad = 0.0
        self.grad = 1.0 if self._prev else self.grad + 1.0
        for v in reversed(order):
            g = v.grad
            for p, local in zip(v._prev, v._local):
                p.grad += local * g

    def __repr__(self) -> str:
        return f"Value(data={self.data:.6g}, grad={self.grad:.6g})"


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


def dot(weights: Iterable[Value], inputs: Iterable[Value | Number], bias: Value) -> Value:
    """``sum_i w_i x_i + b`` as one node whose operands are every weight, every input and the
    bias (the weights stay nodes of the graph, seed 002), with local derivatives ``x_i``, ``w_i``
    and ``1``. One node instead of ``2n`` keeps the scalar engine quick.

    Example:
        >>> w = [Value(2.0), Value(-3.0)]; b = Value(-3.0)
        >>> z = dot(w, [-1.0, -2.0], b)
        >>> z.backward(); z.data, [wi.grad for wi in w], b.grad
        (1.0, [-1.0, -2.0], 1.0)
    """
    ws = tuple(weights)
    xs = tuple(inputs)
    n = len(ws)
    if n != len(xs):
        raise ValueError(f"dot: {n} weights but {len(xs)} inputs")
    if not set(map(type, xs)) <= _VALUE_TYPE:  # C-speed check; wrap numbers only when present
        xs = tuple(x if isinstance(x, Value) else Value(x) for x in xs)
    wd = list(map(_data, ws))
    xd = list(map(_data, xs))
    # b + w0*x0 + w1*x1 + ..., in micrograd's order
    total = sum(map(_mul, wd, xd), bias.data)
    formulas = _DOT_FORMULAS.get(n)
    if formulas is None:
        formulas = _DOT_FORMULAS[n] = (_DOT_W,) * n + (_DOT_X,) * n + (_DOT_B,)
    return Value(total, ws + xs + (bias,), "dot", "", (*xd, *wd, 1.0), formulas)


_data = operator.attrgetter("data")
_mul = operator.mul
_VALUE_TYPE = {Value}
_DOT_FORMULAS: dict[int, tuple[str, ...]] = {}
_ONES = (1.0, 1.0)
_SUB_LOCAL = (1.0, -1.0)
_ADD = ("d(a+b)/da = 1", "d(a+b)/db = 1")
_SUB = ("d(a-b)/da = 1", "d(a-b)/db = -1")
_MUL = ("d(a*b)/da = b", "d(a*b)/db = a")
_DIV = ("d(a/b)/da = 1/b", "d(a/b)/db = -a/b^2")
_NEG = ("d(-a)/da = -1",)
_RELU = ("d relu(a)/da = 1 if a > 0 else 0",)
_TANH = ("d tanh(a)/da = 1 - tanh(a)^2",)
_SIGMOID = ("d sigma(a)/da = sigma(a)*(1 - sigma(a))",)
_EXP = ("d e^a/da = e^a",)
_LOG = ("d ln(a)/da = 1/a",)
_DOT_W = "d(w.x + b)/dw_i = x_i"
_DOT_X = "d(w.x + b)/dx_i = w_i"
_DOT_B = "d(w.x + b)/db = 1"
