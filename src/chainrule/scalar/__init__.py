"""The scalar engine: ``Value``, its fused ``dot`` and ``sum``, and micrograd-shaped ``Neuron``,
``Layer``, ``MLP``.

``sum`` is a drop-in for the built-in ``sum`` (it is the built-in on anything without a
``Value``); import it by name where you want sums of Values to be one node.
"""

from .nn import MLP, Layer, Module, Neuron
from .value import Value, dot, sum  # noqa: A004

__all__ = ["Value", "dot", "sum", "Module", "Neuron", "Layer", "MLP"]
