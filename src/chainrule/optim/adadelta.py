"""Adadelta: PyTorch's ``torch.optim.Adadelta``."""

from __future__ import annotations

from typing import Any

from ..backend import array_module
from .optimizer import (
    Optimizer,
    ParamsT,
    Write,
    _check_non_negative,
    _effective_grad,
    _ema_sq_,
    _writer,
    _zeros_state,
)


class Adadelta(Optimizer):
    """Adadelta: steps scaled by the ratio of running RMS of past updates to that of the
    gradients, so the units of the update match the parameter's (``torch.optim.Adadelta``).

    For each parameter ``p`` with gradient ``g`` (``-g`` if ``maximize``)::

        g = g + weight_decay * p
        v = rho * v + (1 - rho) * g * g
        delta = sqrt(u + eps) / sqrt(v + eps) * g
        u = rho * u + (1 - rho) * delta * delta
        p = p - lr * delta

    Args:
        params: tensors (or parameter-group dicts) to optimize.
        lr: coefficient that scales ``delta`` before it is applied.
        rho: decay rate of the running averages of squared gradients and squared updates.
        eps: added inside both square roots for numerical stability.
        weight_decay: L2 penalty.
        foreach: accepted for PyTorch compatibility and ignored.
        maximize: maximize the objective instead of minimizing it.

    Example:
        >>> import chainrule as cr
        >>> w = cr.tensor([1.0, -2.0], requires_grad=True)
        >>> opt = cr.optim.Adadelta([w], lr=1.0, rho=0.5, eps=1e-2)
        >>> (w * w).sum().backward(); opt.step()
        >>> [round(v, 4) for v in w.tolist()]
        [0.8589, -1.8587]
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1.0,
        rho: float = 0.9,
        eps: float = 1e-6,
        weight_decay: float = 0,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
    ) -> None:
        _check_non_negative("learning rate", lr)
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        _check_non_negative("epsilon value", eps)
        _check_non_negative("weight_decay value", weight_decay)
        defaults = {
            "lr": lr,
            "rho": rho,
            "eps": eps,
            "weight_decay": weight_decay,
            "maximize": maximize,
        }
        super().__init__(params, defaults)

    def _update(self, w: Any, g: Any, state: dict[str, Any], group: dict[str, Any]) -> Write:
        xp = array_module(w)
        if len(state) == 0:
            state["step"] = 0
            state["square_avg"] = _zeros_state(w)
            state["acc_delta"] = _zeros_state(w)
        state["step"] += 1
        rho, eps = float(group["rho"]), float(group["eps"])
        g = _effective_grad(xp, w, g, float(group["weight_decay"]), group["maximize"])

        tmp = xp.empty_like(w)
        v = state["square_avg"]._mutate(lambda v: _ema_sq_(xp, v, g, rho, tmp))._data
        std = xp.add(v, eps, out=xp.empty_like(w))
        xp.sqrt(std, out=std)
        u = state["acc_delta"]
        delta = xp.add(u._data, eps, out=xp.empty_like(w))
        xp.sqrt(delta, out=delta)
        delta /= std
        delta *= g
        u._mutate(lambda u: _ema_sq_(xp, u, delta, rho, tmp))
        return _writer(xp.multiply(delta, -float(group["lr"]), out=std))
