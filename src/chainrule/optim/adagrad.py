"""Adagrad: PyTorch's ``torch.optim.Adagrad``."""

from __future__ import annotations

from typing import Any

from ..backend import array_module
from ..tensor import Tensor
from .optimizer import Optimizer, ParamsT, Write, _check_non_negative, _effective_grad, _writer


class Adagrad(Optimizer):
    """Adagrad: each weight's step is divided by the root of its summed squared gradients.

    For each parameter ``p`` with gradient ``g`` (``-g`` if ``maximize``), at step ``t``::

        g = g + weight_decay * p
        clr = lr / (1 + (t - 1) * lr_decay)
        s = s + g * g                  (s starts at initial_accumulator_value)
        p = p - clr * g / (sqrt(s) + eps)

    Args:
        params: tensors (or parameter-group dicts) to optimize.
        lr: learning rate.
        lr_decay: learning-rate decay per step.
        weight_decay: L2 penalty.
        initial_accumulator_value: starting value of the sums of squared gradients.
        eps: added to the denominator for numerical stability.
        foreach: accepted for PyTorch compatibility and ignored.
        maximize: maximize the objective instead of minimizing it.

    Example:
        >>> import chainrule as cr
        >>> w = cr.tensor([1.0, -2.0], requires_grad=True)
        >>> opt = cr.optim.Adagrad([w], lr=0.5)
        >>> (w * w).sum().backward(); opt.step()
        >>> w.tolist()  # the first step is lr * g / |g| = 0.5 per weight
        [0.5, -1.5]
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-2,
        lr_decay: float = 0,
        weight_decay: float = 0,
        initial_accumulator_value: float = 0,
        eps: float = 1e-10,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
    ) -> None:
        _check_non_negative("learning rate", lr)
        _check_non_negative("lr_decay value", lr_decay)
        _check_non_negative("weight_decay value", weight_decay)
        _check_non_negative("initial_accumulator_value value", initial_accumulator_value)
        _check_non_negative("epsilon value", eps)
        defaults = {
            "lr": lr,
            "lr_decay": lr_decay,
            "eps": eps,
            "weight_decay": weight_decay,
            "initial_accumulator_value": initial_accumulator_value,
            "maximize": maximize,
        }
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(self.state[p], p._data)

    def _init_state(self, state: dict[str, Any], w: Any) -> None:
        # As in PyTorch, the accumulator starts at the optimizer's default value (not a group's).
        state["step"] = 0
        init = self.defaults["initial_accumulator_value"]
        state["sum"] = Tensor._wrap(array_module(w).full_like(w, init))

    def _update(self, w: Any, g: Any, state: dict[str, Any], group: dict[str, Any]) -> Write:
        xp = array_module(w)
        if len(state) == 0:  # the state was cleared since __init__
            self._init_state(state, w)
        step = state["step"] = state["step"] + 1
        g = _effective_grad(xp, w, g, float(group["weight_decay"]), group["maximize"])
        clr = float(group["lr"]) / (1 + (step - 1) * float(group["lr_decay"]))
        tmp = xp.multiply(g, g, out=xp.empty_like(w))
        s = state["sum"]._mutate(lambda s: s.__iadd__(tmp))._data
        xp.sqrt(s, out=tmp)
        tmp += float(group["eps"])
        xp.divide(g, tmp, out=tmp)
        tmp *= -clr
        return _writer(tmp)
