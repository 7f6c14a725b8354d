"""Neurons, layers and networks of ``Value``s: micrograd's ``nn``, with named weights."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from .value import Value, dot


class Module:
    """Something with parameters: ``parameters()`` and ``zero_grad()``.

    Example:
        >>> Module().parameters()
        []
    """

    def parameters(self) -> list[Value]:
        """Every weight and bias, in a fixed order (the base class has none).

        Example:
            >>> len(Neuron(3).parameters())
            4
        """
        return []

    def zero_grad(self) -> None:
        """Set every parameter's ``grad`` to 0 (gradients accumulate otherwise).

        Example:
            >>> n = Neuron(2); n([1.0, 2.0]).backward(); n.zero_grad()
            >>> [p.grad for p in n.parameters()]
            [0.0, 0.0, 0.0]
        """
        for p in self.parameters():
            p.grad = 0.0


class Neuron(Module):
    """``relu(w . x + b)`` (or linear with ``nonlin=False``); weights from U(-1, 1), bias 0.

    ``fused=True`` (default) computes ``w . x + b`` as one ``dot`` node whose operands are the
    weights, the inputs and the bias; ``fused=False`` builds it gate by gate (``*`` and ``+`` per
    input), as micrograd does, to see every step. Weights are drawn from ``rng`` (a
    ``random.Random``) or, as in micrograd, from the ``random`` module (``random.seed(...)``).

    Example:
        >>> random.seed(0)
        >>> n = Neuron(2, name="n")
        >>> [p.label for p in n.parameters()]
        ['n.w[0]', 'n.w[1]', 'n.b']
        >>> n([1.0, -1.0]).data >= 0
        True
    """

    def __init__(
        self,
        nin: int,
        nonlin: bool = True,
        fused: bool = True,
        name: str = "",
        rng: random.Random | None = None,
    ) -> None:
        if not isinstance(nin, int) or nin < 1:
            raise ValueError(f"Neuron: nin must be a positive int, got {nin!r}")
        uniform = (rng or random).uniform
        prefix = f"{name}." if name else ""
        self.w = [Value(uniform(-1, 1), label=f"{prefix}w[{i}]") for i in range(nin)]
        self.b = Value(0.0, label=f"{prefix}b")
        self.nonlin = nonlin
        self.fused = fused

    def __call__(self, x: Sequence[Value | float]) -> Value:
        if len(x) != len(self.w):
            raise ValueError(f"Neuron: expected {len(self.w)} inputs, got {len(x)}")
        if self.fused:
            act = dot(self.w, x, self.b)
        else:
            act = self.b
            for wi, xi in zip(self.w, x):
                act = wi * xi + act
        return act.relu() if self.nonlin else act

    def parameters(self) -> list[Value]:
        return self.w + [self.b]

    def __repr__(self) -> str:
        return f"{'ReLU' if self.nonlin else 'Linear'}Neuron({len(self.w)})"


class Layer(Module):
    """``nout`` neurons reading the same inputs (seed 001's layer).

    Example:
        >>> len(Layer(3, 32).parameters())
        128
    """

    def __init__(self, nin: int, nout: int, name: str = "", **kwargs: Any) -> None:
        if not isinstance(nout, int) or nout < 1:
            raise ValueError(f"Layer: nout must be a positive int, got {nout!r}")
        prefix = f"{name}." if name else ""
        self.neurons = [Neuron(nin, name=f"{prefix}neurons.{i}", **kwargs) for i in range(nout)]

    def __call__(self, x: Sequence[Value | float]) -> Value | list[Value]:
        # wrap plain numbers once, so every neuron shares one input node per x_i
        x = [xi if isinstance(xi, Value) else Value(xi) for xi in x]
        out = [n(x) for n in self.neurons]
        return out[0] if len(out) == 1 else out

    def parameters(self) -> list[Value]:
        return [p for n in self.neurons for p in n.parameters()]

    def __repr__(self) -> str:
        return f"Layer of [{', '.join(str(n) for n in self.neurons)}]"


class MLP(Module):
    """Layers composed, the last one linear: ``MLP(2, [16, 16, 1])`` has 337 parameters.

    Parameters are labelled by position (``'layers.0.neurons.3.w[1]'``, ``'layers.2.neurons.0.b'``)
    so drawings show the weights as named nodes. ``seed`` draws the weights from
    ``random.Random(seed)``; without it they come from the ``random`` module, as in micrograd.

    Example:
        >>> random.seed(1)
        >>> model = MLP(2, [16, 16, 1])
        >>> len(model.parameters()), model.parameters()[0].label
        (337, 'layers.0.neurons.0.w[0]')
        >>> MLP(2, [3, 1], seed=0)([1.0, 2.0]).data == MLP(2, [3, 1], seed=0)([1.0, 2.0]).data
        True
    """

    def __init__(
        self, nin: int, nouts: Sequence[int], fused: bool = True, seed: int | None = None
    ) -> None:
        if not nouts:
            raise ValueError("MLP: nouts must list at least one layer size, got []")
        sizes = [nin, *nouts]
        rng = None if seed is None else random.Random(seed)
        last = len(nouts) - 1
        self.layers = [
            Layer(
                sizes[i], sizes[i + 1], name=f"layers.{i}", nonlin=i != last, fused=fused, rng=rng
            )
            for i in range(len(nouts))
        ]

    def __call__(self, x: Sequence[Value | float]) -> Value | list[Value]:
        out: Value | list[Value] = list(x)
        for layer in self.layers:
            out = layer(out if isinstance(out, list) else [out])
        return out

    def parameters(self) -> list[Value]:
        return [p for layer in self.layers for p in layer.parameters()]

    def __repr__(self) -> str:
        return f"MLP of [{', '.join(str(layer) for layer in self.layers)}]"
