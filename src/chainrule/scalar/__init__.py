"""The scalar engine: ``Value`` and micrograd-shaped ``Neuron``, ``Layer``, ``MLP``."""

from .nn import MLP, Layer, Module, Neuron
from .value import Value, dot

__all__ = ["Value", "dot", "Module", "Neuron", "Layer", "MLP"]
