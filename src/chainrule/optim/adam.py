"""Adam and AdamW: PyTorch's ``torch.optim.Adam`` and ``torch.optim.AdamW``."""

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


class Adam(Optimizer):
    """Adam: steps scaled by running averages of the gradient and its square (``torch.optim.Adam``).

    For each parameter ``p`` with gradient ``g`` (``-g`` if ``maximize``), at step ``t``::

        g = g + weight_decay * p      (or p = p * (1 - lr * weight_decay) if decoupled)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        v_max = max(v_max, v)         (amsgrad: v_max replaces v below)
        p = p - lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

    Args:
        params: tensors (or parameter-group dicts) to optimize.
        lr: learning rate.
        betas: decay rates of the running averages of the gradient and of its square.
        eps: added to the denominator for numerical stability.
        weight_decay: L2 penalty (added to the gradient), or decoupled decay (AdamW).
        amsgrad: use the maximum of all second-moment averages so far (AMSGrad).
        maximize: maximize the objective instead of minimizing it.
        foreach: accepted for PyTorch compatibility and ignored.
        decoupled_weight_decay: decay the weights directly, as :class:`AdamW` does.

    Example:
        >>> import chainrule as cr
        >>> w = cr.tensor([1.0, -2.0], requires_grad=True)
        >>> opt = cr.optim.Adam([w], lr=0.1)
        >>> (w * w).sum().backward(); opt.step()
        >>> [round(v, 4) for v in w.tolist()]  # the first Adam step moves each weight by ~lr
        [0.9, -1.9]
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        decoupled_weight_decay: bool = False,
    ) -> None:
        defaults = _adam_defaults(
            lr,
            betas,
            eps,
            weight_decay,
            amsgrad=amsgrad,
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
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = _zeros_state(w)
        step = state["step"] = state["step"] + 1
        lr = float(group["lr"])
        beta1, beta2 = float(group["betas"][0]), float(group["betas"][1])
        g, shrink = _decayed_grad(xp, w, g, group)

        tmp = xp.empty_like(w)
        state["exp_avg"]._mutate(lambda m: _lerp_(xp, m, g, 1 - beta1, tmp))
        v = state["exp_avg_sq"]._mutate(lambda v: _ema_sq_(xp, v, g, beta2, tmp))._data
        if group["amsgrad"]:
            v = state["max_exp_avg_sq"]._mutate(lambda vm: xp.maximum(vm, v, out=vm))._data
        xp.sqrt(v, out=tmp)
        tmp /= _bias_correction(beta2, step) ** 0.5
        tmp += float(group["eps"])  # tmp is now the denominator
        xp.divide(state["exp_avg"]._data, tmp, out=tmp)
        tmp *= -lr / _bias_correction(beta1, step)
        return _writer(tmp, shrink=shrink)


class AdamW(Adam):
    """AdamW: Adam with decoupled weight decay (``torch.optim.AdamW``).

    Each step first shrinks the weights, ``p = p * (1 - lr * weight_decay)``, then takes the Adam
    step on the plain gradient, so the decay never enters the running averages.

    Args:
        params: tensors (or parameter-group dicts) to optimize.
        lr: learning rate.
        betas: decay rates of the running averages of the gradient and of its square.
        eps: added to the denominator for numerical stability.
        weight_decay: decoupled weight-decay coefficient.
        amsgrad: use the maximum of all second-moment averages so far (AMSGrad).
        maximize: maximize the objective instead of minimizing it.
        foreach: accepted for PyTorch compatibility and ignored.

    Example:
        >>> import chainrule as cr
        >>> w = cr.tensor([1.0, -2.0], requires_grad=True)
        >>> opt = cr.optim.AdamW([w], lr=0.1, weight_decay=0.5)
        >>> (w * w).sum().backward(); opt.step()
        >>> [round(v, 4) for v in w.tolist()]  # shrunk by 1 - 0.1 * 0.5, then the Adam step
        [0.85, -1.8]
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
    ) -> None:
        super().__init__(
            params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
            decoupled_weight_decay=True,
        )  # fmt: skip

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state from :meth:`state_dict`; the decay stays decoupled, as in PyTorch.

        Example:
            >>> import chainrule as cr
            >>> opt = cr.optim.AdamW([cr.tensor([1.0], requires_grad=True)])
            >>> opt.load_state_dict(opt.state_dict()); opt.param_groups[0]["decoupled_weight_decay"]
            True
        """
        super().load_state_dict(state_dict)
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True
