"""NAdam: PyTorch's ``torch.optim.NAdam`` (Adam with Nesterov momentum)."""

from __future__ import annotations

from typing import Any

from ..backend import array_module
from ..dtypes import get_default_dtype
from .optimizer import (
    Optimizer,
    ParamsT,
    Write,
    _adam_defaults,
    _bias_correction,
    _check_non_negative,
    _decayed_grad,
    _ema_sq_,
    _lerp_,
    _writer,
    _zeros_state,
)


class NAdam(Optimizer):
    """NAdam: Adam whose momentum looks one step ahead, as Nesterov's (``torch.optim.NAdam``).

    For each parameter ``p`` with gradient ``g`` (``-g`` if ``maximize``), at step ``t``::

        g = g + weight_decay * p      (or p = p * (1 - lr * weight_decay) if decoupled: NAdamW)
        mu_t = beta1 * (1 - 0.5 * 0.96 ** (t * momentum_decay))
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        denom = sqrt(v / (1 - beta2**t)) + eps
        p = p - lr * (1 - mu_t) / (1 - mu_1 ... mu_t) * g / denom
              - lr * mu_{t+1} / (1 - mu_1 ... mu_{t+1}) * m / denom

    The running product ``mu_product`` is kept in the state, in the default float dtype, as
    PyTorch keeps it.

    Args:
        params: tensors (or parameter-group dicts) to optimize.
        lr: learning rate.
        betas: decay rates of the running averages of the gradient and of its square.
        eps: added to the denominator for numerical stability.
        weight_decay: L2 penalty (added to the gradient), or decoupled decay.
        momentum_decay: how fast the momentum coefficient ``mu_t`` approaches ``beta1``.
        decoupled_weight_decay: decay the weights directly, as AdamW does (NAdamW).
        foreach: accepted for PyTorch compatibility and ignored.
        maximize: maximize the objective instead of minimizing it.

    Example:
        >>> import chainrule as cr
        >>> w = cr.tensor([1.0, -2.0], requires_grad=True)
        >>> opt = cr.optim.NAdam([w], lr=0.1)
        >>> for _ in range(3):
        ...     opt.zero_grad()
        ...     (w * w).sum().backward()
        ...     opt.step()
        >>> [round(v, 4) for v in w.tolist()]
        [0.7527, -1.7475]
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum_decay: float = 4e-3,
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
            momentum_decay=momentum_decay,
            decoupled_weight_decay=decoupled_weight_decay,
            maximize=maximize,
        )
        _check_non_negative("momentum_decay value", momentum_decay)
        super().__init__(params, defaults)

    def _update(self, w: Any, g: Any, state: dict[str, Any], group: dict[str, Any]) -> Write:
        xp = array_module(w)
        if len(state) == 0:
            state["step"] = 0
            state["mu_product"] = 1.0
            state["exp_avg"] = _zeros_state(w)
            state["exp_avg_sq"] = _zeros_state(w)
        step = state["step"] = state["step"] + 1
        lr = float(group["lr"])
        beta1, beta2 = float(group["betas"][0]), float(group["betas"][1])
        momentum_decay = float(group["momentum_decay"])
        g, shrink = _decayed_grad(xp, w, g, group)

        mu = beta1 * (1.0 - 0.5 * (0.96 ** (step * momentum_decay)))
        mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * momentum_decay)))
        scalar = get_default_dtype().type  # torch keeps the product in a 0-dim default-dtype tensor
        mu_product = state["mu_product"] = float(scalar(state["mu_product"]) * scalar(mu))
        mu_product_next = mu_product * mu_next

        tmp = xp.empty_like(w)
        m = state["exp_avg"]._mutate(lambda m: _lerp_(xp, m, g, 1 - beta1, tmp))._data
        v = state["exp_avg_sq"]._mutate(lambda v: _ema_sq_(xp, v, g, beta2, tmp))._data
        denom = xp.divide(v, _bias_correction(beta2, step), out=xp.empty_like(w))
        xp.sqrt(denom, out=denom)
        denom += float(group["eps"])
        xp.divide(g, denom, out=tmp)
        tmp *= -lr * (1.0 - mu) / (1.0 - mu_product)
        xp.divide(m, denom, out=denom)
        denom *= (-lr * mu_next) / (1.0 - mu_product_next)
        return _writer(tmp, denom, shrink=shrink)
