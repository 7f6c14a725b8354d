"""The autograd engine: recorded graph, backward, grad modes, custom Functions, gradcheck.

Layers, lowest first: ``grad_mode`` and ``node`` (the per-thread switches and the graph's nodes)
sit below :class:`~chainrule.Tensor` and the primitives, which record nodes; ``engine``,
``function`` and ``checks`` (gradcheck) sit above them, since they run on tensors. So this
package loads the lower two at once and the upper three on first use, and no module needs a
function-local import to break a cycle.
"""

from __future__ import annotations

import importlib
from typing import Any

from .grad_mode import (
    detect_anomaly,
    enable_grad,
    is_anomaly_enabled,
    is_grad_enabled,
    is_recompute_enabled,
    no_grad,
    recompute,
    set_detect_anomaly,
    set_grad_enabled,
)
from .node import AccumulateGrad, Node

_UPPER = {
    "backward": "engine", "grad": "engine", "queue_callback": "engine",
    "topological_order": "engine", "Function": "function", "FunctionCtx": "function",
    "GradcheckError": "checks", "gradcheck": "checks", "gradgradcheck": "checks",
}  # fmt: skip


def __getattr__(name: str) -> Any:
    module = _UPPER.get(name)
    if module is None:
        raise AttributeError(f"module 'chainrule.autograd' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "backward", "grad", "queue_callback", "topological_order", "Function", "FunctionCtx",
    "enable_grad", "is_grad_enabled", "no_grad", "set_grad_enabled", "GradcheckError", "gradcheck",
    "gradgradcheck", "Node", "AccumulateGrad", "detect_anomaly", "set_detect_anomaly",
    "is_anomaly_enabled", "recompute", "is_recompute_enabled",
]  # fmt: skip
