"""Stochastic gradient descent, optionally with (Nesterov) momentum: PyTorch's ``SGD``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..backend import array_module
from ..tensor import Tensor
from .optimizer import Optimizer, ParamsT, _check_non_negative, _effective_grad


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

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; return ``closure()`` if one is given.

        Example:
            >>> import chainrule as cr
            >>> w = cr.tensor([3.0], requires_grad=True)
            >>> opt = cr.optim.SGD([w], lr=0.5)
            >>> (w * w).sum().backward(); opt.step(); w.item()
            0.0
        """
        loss = self._closure_loss(closure)
        for group in self.param_groups:
            lr = float(group["lr"])
            momentum = float(group["momentum"])
            dampening = float(group["dampening"])
            weight_decay = float(group["weight_decay"])
            nesterov = group["nesterov"]
            maximize = group["maximize"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                w = p._data
                g = p.grad._data
                xp = array_module(w)
                d = _effective_grad(xp, w, g, weight_decay, maximize)
                owned = d is not g  # d is a new array we may overwrite
                if momentum != 0:
                    state = self.state[p]
                    buf_t = state.get("momentum_buffer")
                    if buf_t is None:
                        buf = d if owned and not nesterov else d.copy()
                        state["momentum_buffer"] = Tensor._wrap(buf)
                    else:
                        buf = buf_t._data
                        buf *= momentum
                        if dampening == 0:
                            buf += d
                        elif owned:
                            d *= 1 - dampening
                            buf += d
                        else:
                            buf += xp.multiply(d, 1 - dampening)
                    if nesterov:
                        if owned:
                            d += xp.multiply(buf, momentum)
                        else:
                            d = xp.multiply(buf, momentum)
                            d += g
                            owned = True
                    else:
                        d, owned = buf, False
                if owned:
                    d *= -lr
                    w += d
                else:
                    w += xp.multiply(d, -lr)
        return loss
