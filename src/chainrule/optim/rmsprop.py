"""RMSprop: PyTorch's ``torch.optim.RMSprop``."""

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
    _lerp_,
    _writer,
    _zeros_state,
)
from .sgd import _momentum_


class RMSprop(Optimizer):
    """RMSprop: steps divided by a running root-mean-square of the gradient.

    For each parameter ``p`` with gradient ``g`` (``-g`` if ``maximize``)::

        g = g + weight_decay * p
        v = alpha * v + (1 - alpha) * g * g
        avg = sqrt(v - a * a) + eps   with a = alpha * a + (1 - alpha) * g   (centered)
        avg = sqrt(v) + eps                                                  (otherwise)
        b = momentum * b + g / avg;  p = p - lr * b     (momentum > 0)
        p = p - lr * g / avg                            (otherwise)

    Args:
        params: tensors (or parameter-group dicts) to optimize.
        lr: learning rate.
        alpha: smoothing constant of the running averages.
        eps: added to the denominator for numerical stability.
        weight_decay: L2 penalty.
        momentum: momentum factor.
        centered: normalize by an estimate of the gradient's variance instead of its second
            moment.
        foreach: accepted for PyTorch compatibility and ignored.
        maximize: maximize the objective instead of minimizing it.

    Example:
        >>> import chainrule as cr
        >>> w = cr.tensor([1.0, -2.0], requires_grad=True)
        >>> opt = cr.optim.RMSprop([w], lr=0.01)
        >>> (w * w).sum().backward(); opt.step()
        >>> [round(v, 4) for v in w.tolist()]  # first step: lr / sqrt(1 - alpha) = 0.1
        [0.9, -1.9]
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
    ) -> None:
        _check_non_negative("learning rate", lr)
        _check_non_negative("epsilon value", eps)
        _check_non_negative("momentum value", momentum)
        _check_non_negative("weight_decay value", weight_decay)
        _check_non_negative("alpha value", alpha)
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "alpha": alpha,
            "eps": eps,
            "centered": centered,
            "weight_decay": weight_decay,
            "maximize": maximize,
        }
        super().__init__(params, defaults)

    def _update(self, w: Any, g: Any, state: dict[str, Any], group: dict[str, Any]) -> Write:
        xp = array_module(w)
        momentum = float(group["momentum"])
        if len(state) == 0:
            state["step"] = 0
            state["square_avg"] = _zeros_state(w)
            if momentum > 0:
                state["momentum_buffer"] = _zeros_state(w)
            if group["centered"]:
                state["grad_avg"] = _zeros_state(w)
        state["step"] += 1
        alpha = float(group["alpha"])
        g = _effective_grad(xp, w, g, float(group["weight_decay"]), group["maximize"])

        tmp = xp.empty_like(w)
        v = state["square_avg"]._mutate(lambda v: _ema_sq_(xp, v, g, alpha, tmp))._data
        if group["centered"]:
            a = state["grad_avg"]._mutate(lambda a: _lerp_(xp, a, g, 1 - alpha, tmp))._data
            xp.multiply(a, a, out=tmp)
            xp.subtract(v, tmp, out=tmp)
            xp.sqrt(tmp, out=tmp)
        else:
            xp.sqrt(v, out=tmp)
        tmp += float(group["eps"])  # tmp is now the denominator
        xp.divide(g, tmp, out=tmp)
        lr = float(group["lr"])
        if momentum > 0:
            buf = state["momentum_buffer"]._mutate(lambda b: _momentum_(b, momentum, tmp))._data
            xp.multiply(buf, -lr, out=tmp)
        else:
            tmp *= -lr
        return _writer(tmp)
