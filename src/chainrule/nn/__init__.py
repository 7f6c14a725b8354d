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
    GRU,
    LSTM,
    RNN,
    AdaptiveAvgPool1d,
    AdaptiveAvgPool2d,
    AvgPool2d,
    BatchNorm1d,
    BatchNorm2d,
    BCELoss,
    BCEWithLogitsLoss,
    Conv1d,
    Conv2d,
    ConvTranspose2d,
    CrossEntropyLoss,
    Dropout,
    Dropout2d,
    Embedding,
    Flatten,
    GroupNorm,
    GRUCell,
    HuberLoss,
    Identity,
    L1Loss,
    LayerNorm,
    LeakyReLU,
    Linear,
    LogSoftmax,
    LSTMCell,
    MaxPool2d,
    ModuleDict,
    ModuleList,
    MSELoss,
    MultiheadAttention,
    NLLLoss,
    ParameterDict,
    ParameterList,
    ReLU,
    RMSNorm,
    RNNBase,
    RNNCell,
    RNNCellBase,
    Sequential,
    Sigmoid,
    SiLU,
    SmoothL1Loss,
    Softmax,
    Softplus,
    Tanh,
    Transformer,
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
    Unflatten,
    Upsample,
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
    "MultiheadAttention", "RMSNorm", "Transformer", "TransformerEncoder", "TransformerDecoder",
    "TransformerEncoderLayer", "TransformerDecoderLayer",
    "SmoothL1Loss", "RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell",
    "GRUCell", "ConvTranspose2d", "Upsample",
]  # fmt: skip
