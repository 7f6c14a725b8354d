"""RMSprop: PyTorch's ``torch.optim.RMSprop``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..backend import array_module
from ..tensor import Tensor
from .optimizer import Optimizer, ParamsT, _check_non_negative, _effective_grad, _lerp_


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

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; return ``closure()`` if one is given.

        Example:
            >>> import chainrule as cr
            >>> w = cr.tensor([3.0], requires_grad=True)
            >>> opt = cr.optim.RMSprop([w], lr=0.1, alpha=0.75)
            >>> (w * w).sum().backward(); opt.step(); round(w.item(), 4)
            2.8
        """
        loss = self._closure_loss(closure)
        for group in self.param_groups:
            lr = float(group["lr"])
            alpha = float(group["alpha"])
            eps = float(group["eps"])
            weight_decay = float(group["weight_decay"])
            momentum = float(group["momentum"])
            centered = group["centered"]
            maximize = group["maximize"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                w = p._data
                xp = array_module(w)
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = 0
                    state["square_avg"] = Tensor._wrap(xp.zeros_like(w))
                    if momentum > 0:
                        state["momentum_buffer"] = Tensor._wrap(xp.zeros_like(w))
                    if centered:
                        state["grad_avg"] = Tensor._wrap(xp.zeros_like(w))
                state["step"] += 1
                g = _effective_grad(xp, w, p.grad._data, weight_decay, maximize)

                v = state["square_avg"]._data
                tmp = xp.empty_like(w)
                v *= alpha
                xp.multiply(g, 1 - alpha, out=tmp)
                tmp *= g
                v += tmp
                if centered:
                    a = state["grad_avg"]._data
                    _lerp_(xp, a, g, 1 - alpha, tmp)
                    xp.multiply(a, a, out=tmp)
                    xp.subtract(v, tmp, out=tmp)
                    xp.sqrt(tmp, out=tmp)
                else:
                    xp.sqrt(v, out=tmp)
                tmp += eps  # tmp is now the denominator
                xp.divide(g, tmp, out=tmp)
                if momentum > 0:
                    buf = state["momentum_buffer"]._data
                    buf *= momentum
                    buf += tmp
                    xp.multiply(buf, -lr, out=tmp)
                else:
                    tmp *= -lr
                w += tmp
        return loss
