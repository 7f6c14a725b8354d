"""Adam and AdamW: PyTorch's ``torch.optim.Adam`` and ``torch.optim.AdamW``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..backend import array_module
from ..tensor import Tensor
from .optimizer import Optimizer, ParamsT, _check_non_negative, _effective_grad, _lerp_


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
        _check_non_negative("learning rate", lr)
        _check_non_negative("epsilon value", eps)
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
        _check_non_negative("weight_decay value", weight_decay)
        defaults = {
            "lr": lr,
            "betas": (float(betas[0]), float(betas[1])),
            "eps": eps,
            "weight_decay": weight_decay,
            "amsgrad": amsgrad,
            "maximize": maximize,
            "decoupled_weight_decay": decoupled_weight_decay,
        }
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; return ``closure()`` if one is given.

        Example:
            >>> import chainrule as cr
            >>> w = cr.tensor([3.0], requires_grad=True)
            >>> opt = cr.optim.Adam([w], lr=0.5)
            >>> (w * w).sum().backward(); opt.step(); round(w.item(), 4)
            2.5
        """
        loss = self._closure_loss(closure)
        for group in self.param_groups:
            lr = float(group["lr"])
            beta1, beta2 = (float(b) for b in group["betas"])
            eps = float(group["eps"])
            weight_decay = float(group["weight_decay"])
            amsgrad = group["amsgrad"]
            maximize = group["maximize"]
            decoupled = group.get("decoupled_weight_decay", False)
            for p in group["params"]:
                if p.grad is None:
                    continue
                w = p._data
                xp = array_module(w)
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = 0
                    state["exp_avg"] = Tensor._wrap(xp.zeros_like(w))
                    state["exp_avg_sq"] = Tensor._wrap(xp.zeros_like(w))
                    if amsgrad:
                        state["max_exp_avg_sq"] = Tensor._wrap(xp.zeros_like(w))
                step = state["step"] = state["step"] + 1
                m = state["exp_avg"]._data
                v = state["exp_avg_sq"]._data

                g = p.grad._data
                if weight_decay != 0 and decoupled:
                    w *= 1 - lr * weight_decay
                    g = -g if maximize else g
                else:
                    g = _effective_grad(xp, w, g, weight_decay, maximize)

                tmp = xp.empty_like(w)
                _lerp_(xp, m, g, 1 - beta1, tmp)  # m = beta1 * m + (1 - beta1) * g
                v *= beta2
                xp.multiply(g, 1 - beta2, out=tmp)
                tmp *= g
                v += tmp

                bias_correction1 = 1 - beta1**step
                bias_correction2 = 1 - beta2**step
                step_size = lr / bias_correction1
                bias_correction2_sqrt = bias_correction2**0.5
                if amsgrad:
                    v_max = state["max_exp_avg_sq"]._data
                    xp.maximum(v_max, v, out=v_max)
                    xp.sqrt(v_max, out=tmp)
                else:
                    xp.sqrt(v, out=tmp)
                tmp /= bias_correction2_sqrt
                tmp += eps  # tmp is now the denominator
                xp.divide(m, tmp, out=tmp)
                tmp *= -step_size
                w += tmp
        return loss


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
