"""The autograd engine: recorded graph, backward, grad modes, custom Functions, gradcheck."""

from .engine import backward, grad, queue_callback, topological_order
from .function import Function, FunctionCtx
from .grad_mode import (
    detect_anomaly,
    enable_grad,
    is_anomaly_enabled,
    is_grad_enabled,
    no_grad,
    set_detect_anomaly,
    set_grad_enabled,
)
from .gradcheck import GradcheckError, gradcheck, gradgradcheck
from .node import Node

__all__ = [
    "backward", "grad", "queue_callback", "topological_order", "Function", "FunctionCtx",
    "enable_grad", "is_grad_enabled", "no_grad", "set_grad_enabled", "GradcheckError", "gradcheck",
    "gradgradcheck", "Node", "detect_anomaly", "set_detect_anomaly", "is_anomaly_enabled",
]  # fmt: skip
