"""Neural-network building blocks: modules, layers, losses, initialization, functional ops.

Example:
    >>> import chainrule as cr
    >>> from chainrule import nn
    >>> import chainrule.nn.functional as F
    >>> _ = cr.manual_seed(0)
    >>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    >>> loss = F.cross_entropy(model(cr.randn(5, 4)), cr.tensor([0, 1, 2, 1, 0]))
    >>> loss.backward()
    >>> model[0].weight.grad.shape
    (8, 4)
"""

from . import functional, init, parallel, utils
from .module import Module
from .modules import (
    ELU,
    GELU,
    AdaptiveAvgPool1d,
    AdaptiveAvgPool2d,
    AvgPool2d,
    BatchNorm1d,
    BatchNorm2d,
    BCELoss,
    BCEWithLogitsLoss,
    Conv1d,
    Conv2d,
    CrossEntropyLoss,
    Dropout,
    Dropout2d,
    Embedding,
    Flatten,
    GroupNorm,
    HuberLoss,
    Identity,
    L1Loss,
    LayerNorm,
    LeakyReLU,
    Linear,
    LogSoftmax,
    MaxPool2d,
    ModuleDict,
    ModuleList,
    MSELoss,
    NLLLoss,
    ParameterDict,
    ParameterList,
    ReLU,
    Sequential,
    Sigmoid,
    SiLU,
    SmoothL1Loss,
    Softmax,
    Softplus,
    Tanh,
    Unflatten,
)
from .parameter import Parameter

__all__ = [
    "functional", "init", "utils", "Module", "Parameter", "Sequential", "ModuleList",
    "ModuleDict", "Identity", "Flatten", "Unflatten", "Linear", "ReLU", "LeakyReLU", "GELU",
    "SiLU", "ELU", "Sigmoid", "Tanh", "Softmax", "LogSoftmax", "Softplus", "Dropout", "Conv2d",
    "MaxPool2d", "AvgPool2d", "BatchNorm1d", "BatchNorm2d", "LayerNorm", "Embedding", "MSELoss",
    "ParameterList", "ParameterDict", "Conv1d", "AdaptiveAvgPool1d", "AdaptiveAvgPool2d",
    "GroupNorm", "Dropout2d",
    "L1Loss", "BCELoss", "BCEWithLogitsLoss", "CrossEntropyLoss", "NLLLoss", "HuberLoss",
    "SmoothL1Loss",
]  # fmt: skip
