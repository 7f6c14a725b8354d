"""Adamax: PyTorch's ``torch.optim.Adamax`` (Adam with the infinity norm)."""

from __future__ import annotations

from typing import Any

from ..backend import array_module
from .optimizer import (
    Optimizer,
    ParamsT,
    Write,
    _adam_defaults,
    _bias_correction,
    _effective_grad,
    _lerp_,
    _writer,
    _zeros_state,
)


class Adamax(Optimizer):
    """Adamax: Adam whose second moment is replaced by a decaying infinity norm
    (``torch.optim.Adamax``).

    For each parameter ``p`` with gradient ``g`` (``-g`` if ``maximize``), at step ``t``::

        g = g + weight_decay * p
        m = beta1 * m + (1 - beta1) * g
        u = max(beta2 * u, |g| + eps)
        p = p - lr / (1 - beta1**t) * m / u

    Args:
        params: tensors (or parameter-group dicts) to optimize.
        lr: learning rate.
        betas: decay rates of the running average of the gradient and of the infinity norm.
        eps: added to ``|g|`` for numerical stability.
        weight_decay: L2 penalty.
        foreach: accepted for PyTorch compatibility and ignored.
        maximize: maximize the objective instead of minimizing it.

    Example:
        >>> import chainrule as cr
        >>> w = cr.tensor([1.0, -2.0], requires_grad=True)
        >>> opt = cr.optim.Adamax([w], lr=0.1)
        >>> (w * w).sum().backward(); opt.step()
        >>> [round(v, 4) for v in w.tolist()]  # the first step moves each weight by lr
        [0.9, -1.9]
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = _adam_defaults(lr, betas, eps, weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _update(self, w: Any, g: Any, state: dict[str, Any], group: dict[str, Any]) -> Write:
        xp = array_module(w)
        if len(state) == 0:
            state["step"] = 0
            state["exp_avg"] = _zeros_state(w)
            state["exp_inf"] = _zeros_state(w)
        step = state["step"] = state["step"] + 1
        beta1, beta2 = float(group["betas"][0]), float(group["betas"][1])
        g = _effective_grad(xp, w, g, float(group["weight_decay"]), group["maximize"])

        tmp = xp.empty_like(w)
        m = state["exp_avg"]._mutate(lambda m: _lerp_(xp, m, g, 1 - beta1, tmp))._data
        xp.abs(g, out=tmp)
        tmp += float(group["eps"])
        u = state["exp_inf"]._mutate(lambda u: _decayed_max_(xp, u, beta2, tmp))._data
        xp.divide(m, u, out=tmp)
        tmp *= -float(group["lr"]) / _bias_correction(beta1, step)
        return _writer(tmp)


def _decayed_max_(xp: Any, u: Any, decay: float, floor: Any) -> None:
    """``u = max(decay * u, floor)`` in place."""
    u *= decay
    xp.maximum(u, floor, out=u)
