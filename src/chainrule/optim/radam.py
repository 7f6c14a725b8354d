"""RAdam: PyTorch's ``torch.optim.RAdam`` (Adam with a rectified adaptive learning rate)."""

from __future__ import annotations

from typing import Any

from ..backend import array_module
from .optimizer import (
    Optimizer,
    ParamsT,
    Write,
    _adam_defaults,
    _bias_correction,
    _decayed_grad,
    _ema_sq_,
    _lerp_,
    _writer,
    _zeros_state,
)


class RAdam(Optimizer):
    """RAdam: Adam that takes plain momentum steps until its variance estimate is trustworthy,
    then rectified Adam steps (``torch.optim.RAdam``).

    For each parameter ``p`` with gradient ``g`` (``-g`` if ``maximize``), at step ``t``::

        g = g + weight_decay * p      (or p = p * (1 - lr * weight_decay) if decoupled)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * t * beta2**t / (1 - beta2**t)
        m_hat = m / (1 - beta1**t)
        p = p - lr * m_hat * sqrt(1 - beta2**t) / (sqrt(v) + eps) * r_t    (rho_t > 5)
        p = p - lr * m_hat                                                   (otherwise)

    with ``r_t = sqrt((rho_t - 4) (rho_t - 2) rho_inf / ((rho_inf - 4) (rho_inf - 2) rho_t))``.

    Args:
        params: tensors (or parameter-group dicts) to optimize.
        lr: learning rate.
        betas: decay rates of the running averages of the gradient and of its square.
        eps: added to the denominator for numerical stability.
        weight_decay: L2 penalty (added to the gradient), or decoupled decay.
        decoupled_weight_decay: decay the weights directly, as AdamW does (RAdamW).
        foreach: accepted for PyTorch compatibility and ignored.
        maximize: maximize the objective instead of minimizing it.

    Example:
        >>> import chainrule as cr
        >>> w = cr.tensor([1.0, -2.0], requires_grad=True)
        >>> opt = cr.optim.RAdam([w], lr=0.1)
        >>> (w * w).sum().backward(); opt.step()
        >>> [round(v, 4) for v in w.tolist()]  # early steps are plain momentum steps: lr * g
        [0.8, -1.6]
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        decoupled_weight_decay: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
    ) -> None:
        defaults = _adam_defaults(
            lr,
            betas,
            eps,
            weight_decay,
            maximize=maximize,
            decoupled_weight_decay=decoupled_weight_decay,
        )
        super().__init__(params, defaults)

    def _update(self, w: Any, g: Any, state: dict[str, Any], group: dict[str, Any]) -> Write:
        xp = array_module(w)
        if len(state) == 0:
            state["step"] = 0
            state["exp_avg"] = _zeros_state(w)
            state["exp_avg_sq"] = _zeros_state(w)
        step = state["step"] = state["step"] + 1
        lr = float(group["lr"])
        beta1, beta2 = float(group["betas"][0]), float(group["betas"][1])
        g, shrink = _decayed_grad(xp, w, g, group)

        tmp = xp.empty_like(w)
        m = state["exp_avg"]._mutate(lambda m: _lerp_(xp, m, g, 1 - beta1, tmp))._data
        v = state["exp_avg_sq"]._mutate(lambda v: _ema_sq_(xp, v, g, beta2, tmp))._data
        bias_correction2 = _bias_correction(beta2, step)
        update = xp.divide(m, _bias_correction(beta1, step), out=xp.empty_like(w))
        update *= lr
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * step * (beta2**step) / bias_correction2
        if rho_t > 5.0:  # the variance is tractable: a rectified Adam step
            xp.sqrt(v, out=tmp)
            tmp += float(group["eps"])
            xp.divide(bias_correction2**0.5, tmp, out=tmp)  # the adaptive learning rate
            update *= tmp
            update *= (
                (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
            ) ** 0.5
        xp.negative(update, out=update)
        return _writer(update, shrink=shrink)
