"""Stochastic gradient descent, optionally with (Nesterov) momentum: PyTorch's ``SGD``."""

from __future__ import annotations

from typing import Any

from ..backend import array_module
from ..tensor import Tensor
from .optimizer import (
    Optimizer,
    ParamsT,
    Write,
    _axpy_writer,
    _check_non_negative,
    _effective_grad,
    _writer,
)


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with momentum (PyTorch's ``torch.optim.SGD``).

    For each parameter ``p`` with gradient ``g`` (``-g`` if ``maximize``)::

        g = g + weight_decay * p
        b = g                                         (first step)
        b = momentum * b + (1 - dampening) * g        (later steps)
        g = g + momentum * b  if nesterov  else  b    (when momentum != 0)
        p = p - lr * g

    Args:
        params: tensors (or parameter-group dicts) to optimize.
        lr: learning rate.
        momentum: momentum factor.
        dampening: dampening for momentum.
        weight_decay: L2 penalty.
        nesterov: use Nesterov momentum (needs ``momentum > 0`` and ``dampening == 0``).
        maximize: maximize the objective instead of minimizing it.
        foreach: accepted for PyTorch compatibility and ignored (every update is already one
            vectorized array operation per parameter).

    Example:
        >>> import chainrule as cr
        >>> w = cr.tensor([1.0, -2.0], requires_grad=True)
        >>> opt = cr.optim.SGD([w], lr=0.1, momentum=0.9)
        >>> for _ in range(2):
        ...     opt.zero_grad()
        ...     (w * w).sum().backward()
        ...     opt.step()
        >>> [round(v, 4) for v in w.tolist()]
        [0.46, -0.92]
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float = 0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
    ) -> None:
        _check_non_negative("learning rate", lr)
        _check_non_negative("momentum value", momentum)
        _check_non_negative("weight_decay value", weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "weight_decay": weight_decay,
            "nesterov": nesterov,
            "maximize": maximize,
        }
        super().__init__(params, defaults)

    def _update(self, w: Any, g: Any, state: dict[str, Any], group: dict[str, Any]) -> Write:
        xp = array_module(w)
        momentum = float(group["momentum"])
        d = _effective_grad(xp, w, g, float(group["weight_decay"]), group["maximize"])
        owned = d is not g  # d is a new array (or scalar) we may overwrite
        if momentum != 0:
            buf_t = state.get("momentum_buffer")
            if buf_t is None:  # the first step: the buffer is the gradient itself
                buf = xp.asarray(d) if owned and not group["nesterov"] else xp.array(d, copy=True)
                state["momentum_buffer"] = buf_t = Tensor._wrap(buf)
            else:
                dampening = float(group["dampening"])
                step = d if dampening == 0 else xp.multiply(d, 1 - dampening)
                buf_t._mutate(lambda b: _momentum_(b, momentum, step))
            buf = buf_t._data
            if group["nesterov"]:
                if owned:
                    d += xp.multiply(buf, momentum)
                else:
                    d = xp.multiply(buf, momentum)
                    d += g
                    owned = True
            else:
                d, owned = buf, False
        lr = float(group["lr"])
        if owned:
            d *= -lr
            return _writer(d)
        return _axpy_writer(d, -lr)


def _momentum_(b: Any, momentum: float, d: Any) -> None:
    """``b = momentum * b + d`` in place (``b.mul_(momentum).add_(d)``)."""
    b *= momentum
    b += d
