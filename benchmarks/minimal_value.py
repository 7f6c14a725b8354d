"""The scalar engine to beat: a minimal ``__slots__`` ``Value`` with local-gradient tuples, as in
Karpathy's microgpt (2026), the one learners run. Each op records its children and their local
gradients as two tuples; ``backward`` sorts the graph topologically (recursively), then adds
``local * v.grad`` into each child. Nothing else: no checks, no names, no formulas.

The benchmark (``benchmarks/bench_scalar.py``) runs microgpt's model on this class and on
``chainrule.Value`` from the same weights and tokens.
"""

from __future__ import annotations

import math


class MinimalValue:
    """microgpt's ``Value``.

    Example:
        >>> a, b = MinimalValue(2.0), MinimalValue(-3.0)
        >>> c = a * b + a
        >>> c.backward(); (c.data, a.grad, b.grad)
        (-4.0, -2.0, 2.0)
    """

    __slots__ = ("data", "grad", "_children", "_local_grads")

    def __init__(self, data: float, children: tuple = (), local_grads: tuple = ()) -> None:
        self.data = data
        self.grad = 0
        self._children = children
        self._local_grads = local_grads

    def __add__(self, other: MinimalValue | float) -> MinimalValue:
        other = other if isinstance(other, MinimalValue) else MinimalValue(other)
        return MinimalValue(self.data + other.data, (self, other), (1, 1))

    def __mul__(self, other: MinimalValue | float) -> MinimalValue:
        other = other if isinstance(other, MinimalValue) else MinimalValue(other)
        return MinimalValue(self.data * other.data, (self, other), (other.data, self.data))

    def __pow__(self, other: float) -> MinimalValue:
        return MinimalValue(self.data**other, (self,), (other * self.data ** (other - 1),))

    def log(self) -> MinimalValue:
        return MinimalValue(math.log(self.data), (self,), (1 / self.data,))

    def exp(self) -> MinimalValue:
        return MinimalValue(math.exp(self.data), (self,), (math.exp(self.data),))

    def relu(self) -> MinimalValue:
        return MinimalValue(max(0, self.data), (self,), (float(self.data > 0),))

    def __neg__(self) -> MinimalValue:
        return self * -1

    def __radd__(self, other: float) -> MinimalValue:
        return self + other

    def __sub__(self, other: MinimalValue | float) -> MinimalValue:
        return self + (-other)

    def __rsub__(self, other: float) -> MinimalValue:
        return other + (-self)

    def __rmul__(self, other: float) -> MinimalValue:
        return self * other

    def __truediv__(self, other: MinimalValue | float) -> MinimalValue:
        return self * other**-1

    def __rtruediv__(self, other: float) -> MinimalValue:
        return other * self**-1

    def backward(self) -> None:
        topo: list[MinimalValue] = []
        visited: set[MinimalValue] = set()

        def build_topo(v: MinimalValue) -> None:
            if v not in visited:
                visited.add(v)
                for child in v._children:
                    build_topo(child)
                topo.append(v)

        build_topo(self)
        self.grad = 1
        for v in reversed(topo):
            for child, local_grad in zip(v._children, v._local_grads):
                child.grad += local_grad * v.grad
