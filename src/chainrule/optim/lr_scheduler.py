"""Learning-rate schedules: PyTorch's ``torch.optim.lr_scheduler``, value for value.

A scheduler changes ``group["lr"]`` in its optimizer's parameter groups each time its ``step()``
is called (once per epoch, or once per batch for :class:`OneCycleLR`), after the optimizer's own
``step()``. As in PyTorch, several schedules are *chainable*: their ``get_lr`` multiplies the
current rate rather than computing it from scratch, so two schedulers on one optimizer compose.
Seed 001's "larger at first, decreasing toward the end" is :class:`CosineAnnealingLR`,
:class:`StepLR` or :class:`ExponentialLR`; :class:`OneCycleLR` warms up first;
:class:`CosineAnnealingWarmRestarts` and :class:`CyclicLR` go round in cycles.
"""

from __future__ import annotations

import functools
import math
import numbers
import types
import warnings
import weakref
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal, SupportsFloat

from .optimizer import Optimizer

__all__ = [
    "LRScheduler",
    "LambdaLR",
    "MultiplicativeLR",
    "StepLR",
    "MultiStepLR",
    "ConstantLR",
    "LinearLR",
    "ExponentialLR",
    "SequentialLR",
    "PolynomialLR",
    "CosineAnnealingLR",
    "CosineAnnealingWarmRestarts",
    "CyclicLR",
    "ChainedScheduler",
    "ReduceLROnPlateau",
    "OneCycleLR",
]

EPOCH_DEPRECATION_WARNING = (
    "The epoch parameter in `scheduler.step()` was not necessary and is being deprecated where "
    "possible. Please use `scheduler.step()` to step the scheduler. During the deprecation, if "
    "epoch is different from None, the closed form is used instead of the new chainable form, "
    "where available."
)


def _lrs(optimizer: Optimizer, key: str = "lr") -> list[Any]:
    return [group[key] for group in optimizer.param_groups]


def _format_param(name: str, optimizer: Optimizer, param: Any) -> list[Any]:
    """One value per parameter group: ``param`` itself if it is a list or tuple, else repeated."""
    if isinstance(param, (list, tuple)):
        if len(param) != len(optimizer.param_groups):
            raise ValueError(
                f"{name} must have the same length as optimizer.param_groups. {name} has "
                f"{len(param)} values, param_groups has {len(optimizer.param_groups)}."
            )
        return list(param)
    return [param] * len(optimizer.param_groups)


def _momentum_key_is_beta1(optimizer: Optimizer, message: str) -> bool:
    """Whether the optimizer's momentum is ``betas[0]`` (else ``momentum``); ``ValueError(
    message)`` if it has neither, for the schedulers that cycle momentum."""
    if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
        raise ValueError(message)
    return "betas" in optimizer.defaults


def _set_momentum(group: dict[str, Any], momentum: float, use_beta1: bool) -> None:
    if use_beta1:
        group["betas"] = (momentum, *group["betas"][1:])
    else:
        group["momentum"] = momentum


def _init_momentum(
    optimizer: Optimizer, max_momentums: list[Any], base_momentums: list[Any], use_beta1: bool
) -> None:
    """Start each group's momentum at its ``max_momentum`` and record both bounds in it."""
    for m_max, m_base, group in zip(max_momentums, base_momentums, optimizer.param_groups):
        _set_momentum(group, m_max, use_beta1)
        group["max_momentum"] = m_max
        group["base_momentum"] = m_base


def _track_step_called(optimizer: Optimizer) -> None:
    """Wrap ``optimizer.step`` (on this instance, once) so that calling it sets
    ``optimizer._opt_called``, as PyTorch does: a scheduler stepped before its optimizer then
    warns, whatever the optimizer's class and however its ``step`` is written."""
    step = optimizer.step
    if hasattr(step, "_wrapped_by_lr_sched"):
        return
    func = getattr(step, "__func__", None)  # the class's function (no reference to the instance)
    plain = step if func is None else None  # or a plain function put on the instance
    opt_ref = weakref.ref(optimizer)

    @functools.wraps(func if func is not None else step)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        opt = opt_ref()
        opt._opt_called = True  # type: ignore[union-attr]
        call = plain if plain is not None else func.__get__(opt, type(opt))
        return call(*args, **kwargs)

    wrapper._wrapped_by_lr_sched = True  # type: ignore[attr-defined]
    optimizer.step = wrapper  # type: ignore[method-assign]


class LRScheduler:
    """Base class of the learning-rate schedulers.

    Creating one records each group's starting rate as ``group["initial_lr"]`` (kept in
    ``base_lrs``) and takes the initial step (``last_epoch`` becomes 0). Subclasses implement
    :meth:`get_lr`: the rates for the epoch ``last_epoch``.

    Args:
        optimizer: the optimizer whose learning rates are scheduled.
        last_epoch: index of the last epoch; ``-1`` starts afresh. Only use another value when
            resuming, with ``initial_lr`` already in the groups.

    Example:
        >>> import chainrule as cr
        >>> class Halving(LRScheduler):
        ...     def get_lr(self):
        ...         return [base * 0.5**self.last_epoch for base in self.base_lrs]
        >>> opt = cr.optim.SGD([cr.tensor([1.0], requires_grad=True)], lr=1.0)
        >>> sched = Halving(opt)
        >>> for _ in range(3):
        ...     opt.step()
        ...     sched.step()
        >>> sched.last_epoch, sched.get_last_lr(), opt.param_groups[0]["initial_lr"]
        (3, [0.125], 1.0)
    """

    _get_lr_called_within_step: bool = False
    _is_initial: bool = False

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(
                        f"param 'initial_lr' is not specified in param_groups[{i}] when resuming "
                        "scheduler with last_epoch >= 0 (load the optimizer's state first, or "
                        "start with last_epoch=-1)"
                    )
        self.base_lrs: list[float] = _lrs(optimizer, "initial_lr")
        self.last_epoch = last_epoch
        _track_step_called(optimizer)
        self._initial_step()

    def _initial_step(self) -> None:
        """Reset the step count and take the initial step."""
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def state_dict(self) -> dict[str, Any]:
        """Every attribute except the optimizer, as in PyTorch.

        Example:
            >>> import chainrule as cr
            >>> opt = cr.optim.SGD([cr.tensor([1.0], requires_grad=True)], lr=0.1)
            >>> sd = StepLR(opt, step_size=2).state_dict()
            >>> sd["step_size"], sd["last_epoch"], sd["base_lrs"]
            (2, 0, [0.1])
        """
        return {key: value for key, value in self.__dict__.items() if key != "optimizer"}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state returned by :meth:`state_dict`.

        Example:
            >>> import chainrule as cr
            >>> opt = cr.optim.SGD([cr.tensor([1.0], requires_grad=True)], lr=0.1)
            >>> sched = StepLR(opt, step_size=2)
            >>> sched.load_state_dict({"last_epoch": 7}); sched.last_epoch
            7
        """
        self.__dict__.update(state_dict)

    def get_last_lr(self) -> list[float]:
        """The learning rates the last :meth:`step` set, one per parameter group.

        Example:
            >>> import chainrule as cr
            >>> opt = cr.optim.SGD([cr.tensor([1.0], requires_grad=True)], lr=0.1)
            >>> ExponentialLR(opt, gamma=0.5).get_last_lr()
            [0.1]
        """
        return self._last_lr

    def get_lr(self) -> list[float]:
        """The learning rates for epoch ``last_epoch`` (called by :meth:`step`; to read the
        current rates use :meth:`get_last_lr`).

        Example:
            >>> import chainrule as cr
            >>> opt = cr.optim.SGD([cr.tensor([1.0], requires_grad=True)], lr=0.1)
            >>> LambdaLR(opt, lambda epoch: 1.0).get_lr()  # doctest: +SKIP
            [0.1]
        """
        raise NotImplementedError

    def step(self, epoch: int | None = None) -> None:
        """Advance one epoch and write the new rates into the optimizer's groups.

        Call it after ``optimizer.step()``. ``epoch`` is deprecated (as in PyTorch): it sets
        ``last_epoch`` and uses the closed-form schedule where there is one.

        Example:
            >>> import chainrule as cr
            >>> opt = cr.optim.SGD([cr.tensor([1.0], requires_grad=True)], lr=1.0)
            >>> sched = ExponentialLR(opt, gamma=0.5)
            >>> opt.step(); sched.step(); opt.param_groups[0]["lr"]
            0.5
        """
        if self._step_count == 1:
            if not hasattr(self.optimizer.step, "_wrapped_by_lr_sched"):
                warnings.warn(
                    "Seems like `optimizer.step()` has been overridden after learning rate "
                    "scheduler initialization. Please, make sure to call `optimizer.step()` "
                    "before `lr_scheduler.step()`.",
                    UserWarning,
                    stacklevel=2,
                )
            elif not getattr(self.optimizer, "_opt_called", False):
                warnings.warn(
                    "Detected call of `lr_scheduler.step()` before `optimizer.step()`. You "
                    "should call them in the opposite order: `optimizer.step()` before "
                    "`lr_scheduler.step()`. Failure to do this will result in skipping the "
                    "first value of the learning rate schedule.",
                    UserWarning,
                    stacklevel=2,
                )
        self._step_count += 1
        if epoch is not None:
            warnings.warn(EPOCH_DEPRECATION_WARNING, UserWarning, stacklevel=2)
        self._update_lr(epoch)

    def _update_lr(self, epoch: int | None = None) -> None:
        self._get_lr_called_within_step = True
        try:
            if epoch is None:
                self.last_epoch += 1
                values = self.get_lr()
            else:
                self.last_epoch = epoch
                closed_form = getattr(self, "_get_closed_form_lr", None)
                values = closed_form() if closed_form is not None else self.get_lr()
        finally:
            self._get_lr_called_within_step = False
        for group, lr in zip(self.optimizer.param_groups, values):
            group["lr"] = lr
        self._last_lr: list[float] = _lrs(self.optimizer)

    def _warn_if_outside_step(self) -> None:
        if not self._get_lr_called_within_step:
            warnings.warn(
                "To get the last learning rate computed by the scheduler, please use "
                "`get_last_lr()`.",
                UserWarning,
                stacklevel=3,
            )


class _LambdaState:
    """``state_dict`` for schedulers holding user functions: only callable objects' attributes
    are saved (functions and lambdas are not), as in PyTorch."""

    lr_lambdas: list[Callable[[int], float]]
    __dict__: dict[str, Any]

    def state_dict(self) -> dict[str, Any]:
        state = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "lr_lambdas")}
        state["lr_lambdas"] = [
            None if isinstance(fn, types.FunctionType) else fn.__dict__.copy()
            for fn in self.lr_lambdas
        ]
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state = dict(state_dict)
        lr_lambdas = state.pop("lr_lambdas")
        self.__dict__.update(state)
        for fn, saved in zip(self.lr_lambdas, lr_lambdas):
            if saved is not None:
                fn.__dict__.update(saved)


def _lambdas(optimizer: Optimizer, lr_lambda: Any) -> list[Callable[[int], float]]:
    if not isinstance(lr_lambda, (list, tuple)):
        return [lr_lambda] * len(optimizer.param_groups)
    if len(lr_lambda) != len(optimizer.param_groups):
        raise ValueError(
            f"Expected {len(optimizer.param_groups)} lr_lambdas, but got {len(lr_lambda)}"
        )
    return list(lr_lambda)


class LambdaLR(_LambdaState, LRScheduler):
    """Set each group's rate to its initial rate times ``lr_lambda(epoch)``.

    Args:
        optimizer: the optimizer.
        lr_lambda: a function of the epoch index giving the factor, or one function per group.
        last_epoch: index of the last epoch (``-1`` starts afresh).

    Example:
        >>> import chainrule as cr
        >>> opt = cr.optim.SGD([cr.tensor([1.0], requires_grad=True)], lr=1.0)
        >>> sched = LambdaLR(opt, lr_lambda=lambda epoch: 1 / (1 + epoch))
        >>> lrs = []
        >>> for _ in range(3):
        ...     opt.step(); sched.step(); lrs.append(sched.get_last_lr()[0])
        >>> [round(lr, 4) for lr in lrs]
        [0.5, 0.3333, 0.25]
    """

    def __init__(
        self,
        optimizer: Optimizer,
        lr_lambda: Callable[[int], float] | list[Callable[[int], float]],
        last_epoch: int = -1,
    ) -> None:
        self.optimizer = optimizer
        self.lr_lambdas = _lambdas(optimizer, lr_lambda)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        """Initial rates times ``lr_lambda(last_epoch)``.

        Example:
            >>> import chainrule as cr
            >>> opt = cr.optim.SGD([cr.tensor([1.0], requires_grad=True)], lr=2.0)
            >>> LambdaLR(opt, lambda epoch: 0.5).get_last_lr()
            [1.0]
        """
        self._warn_if_outside_step()
        return [base * fn(self.last_epoch) for fn, base in zip(self.lr_lambdas, self.base_lrs)]


class MultiplicativeLR(_LambdaState, LRScheduler):
    """Multiply each group's rate by ``lr_lambda(epoch)`` at every step after the first.

    Example:
        >>> import chainrule as cr
        >>> opt = cr.optim.SGD([cr.tensor([1.0], requires_grad=True)], lr=1.0)
        >>> sched = MultiplicativeLR(opt, lr_lambda=lambda epoch: 0.5)
        >>> opt.step(); sched.step(); opt.step(); sched.step(); sched.get_last_lr()
        [0.25]
    """

    def __init__(
        self,
        optimizer: Optimizer,
        lr_lambda: Callable[[int], float] | list[Callable[[int], float]],
        last_epoch: int = -1,
    ) -> None:
        self.optimizer = optimizer
        self.lr_lambdas = _lambdas(optimizer, lr_lambda)
        for fn in self.lr_lambdas:
            if not callable(fn):
                raise TypeError(f"lr_lambda should be a function, but got {type(fn).__name__}")
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        """Current rates times ``lr_lambda(last_epoch)`` (unchanged on the initial step).

        Example:
            >>> import chainrule as cr
            >>> opt = cr.optim.SGD([cr.tensor([1.0], requires_grad=True)], lr=1.0)
            >>> MultiplicativeLR(opt, lambda epoch: 0.5).get_last_lr()
            [1.0]
        """
        self._warn_if_outside_step()
        if self._is_initial:
            return _lrs(self.optimizer)
        return [
            group["lr"] * fn(self.last_epoch)
            for fn, group in zip(self.lr_lambdas, self.optimizer.param_groups)
        ]


class StepLR(LRScheduler):
    """Multiply the rate by ``gamma`` every ``step_size`` epochs.

    Args:
        optimizer: the optimizer.
        step_size: period of the decay, in epochs.
        gamma: the factor.
        last_epoch: index of the last epoch (``-1`` starts afresh).

    Example:
        >>> import chainrule as cr
        >>> opt = cr.optim.SGD([cr.tensor([1.0], requires_grad=True)], lr=1.0)
        >>> sched = StepLR(opt, step_size=2, gamma=0.5)
        >>> lrs = []
        >>> for _ in range(5):
        ...     lrs.append(opt.param_groups[0]["lr"]); opt.step(); sched.step()
        >>> lrs
        [1.0, 1.0, 0.5, 0.5, 0.25]
    """

    def __init__(
        self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1
    ) -> None:
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        """Current rates, times ``gamma`` when ``last_epoch`` is a multiple of ``step_size``.

        Example:
            >>> import chainrule as cr
            >>> opt = cr.optim.SGD([cr.tensor([1.0], requires_grad=True)], lr=1.0)
            >>> StepLR(opt, step_size=1).get_last_lr()
            [1.0]
        """
        self._warn_if_outside_step()
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return _lrs(self.optimizer)
        return [group["lr"] * self.gamma for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self) -> list[float]:
        return [base * self.gamma ** (self.last_epoch // self.step_size) for base in self.base_lrs]


class MultiStepLR(LRScheduler):
    """Multiply the rate by ``gamma`` at each epoch listed in ``milestones``.

    Example:
        >>> import chainrule as cr
        >>> opt = cr.optim.SGD([cr.tensor([1.0], requires_grad=True)], lr=1.0)
        >>> sched = MultiStepLR(opt, milestones=[1, 3], gamma=0.5)
        >>> lrs = []
        >>> for _ in range(4):
        ...     lrs.append(opt.param_groups[0]["lr"]); opt.step(); sched.step()
        >>> lrs
        [1.0, 0.5, 0.5, 0.25]
    """

    def __init__(
        self,
        optimizer: Optimizer,
        milestones: Iterable[int],
        gamma: float = 0.1,
        last_epoch: int = -1,
    ) -> None:
        self.milestones = Counter(milestones)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        """Current rates, times ``gamma**n`` at a milestone listed ``n`` times.

        Example:
            >>> import chainrule as cr
            >>> opt = cr.optim.SGD([cr.tensor([1.0], requires_grad=True)], lr=1.0)
            >>> MultiStepLR(opt, milestones=[2]).get_last_lr()
            [1.0]
        """
        self._warn_if_outside_step()
        if self.last_epoch not in self.milestones:
            return _lrs(self.optimizer)
        factor = self.gamma ** self.milestones[self.last_epoch]
        return [group["lr"] * factor for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self) -> list[float]:
        milestones = sorted(Counter(self.milestones).elements())
        n = bisect_right(milestones, self.last_epoch)
        return [base * self.gamma**n for base in self.base_lrs]

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state returned by :meth:`state_dict` (``milestones`` stays a ``Counter``).

        Example:
            >>> import chainrule as cr
            >>> opt = cr.optim.SGD([cr.tensor([1.0], requires_grad=True)], lr=1.0)
            >>> s = MultiStepLR(opt, milestones=[2]); s.load_state_dict({"milestones": {5: 1}})
            >>> s.milestones
            Counter({5: 1})
        """
        super().load_state_dict(state_dict)
        self.milestones = Counter({int(k): v for k, v in dict(self.milestones).items()})


class ConstantLR(LRScheduler):
    """Multiply the rate by ``factor`` until epoch ``total_iters``, then restore it.

    Example:
        >>> import chainrule as cr
        >>> opt = cr.optim.SGD([cr.tensor([1.0], requires_grad=True)], lr=1.0)
        >>> sched = ConstantLR(opt, factor=0.5, total_iters=2)
        >>> lrs = []
        >>> for _ in range(3):
        ...     lrs.append(opt.param_groups[0]["lr"]); opt.step(); sched.step()
        >>> lrs
        [0.5, 0.5, 1.0]
    """

    def __init__(
        self,
        optimizer: Optimizer,
        factor: float = 1.0 / 3,
        total_iters: int = 5,
        last_epoch: int = -1,
    ) -> None:
        if factor > 1.0 or factor < 0:
            raise ValueError("Constant multiplicative factor expected to be between 0 and 1.")
        self.factor = factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        """Rates times ``factor`` at epoch 0, divided by it at ``total_iters``.

        Example:
            >>> import chainrule as cr
            >>> opt = cr.optim.SGD([cr.tensor([1.0], requires_grad=True)], lr=1.0)
            >>> ConstantLR(opt, factor=0.25).get_last_lr()
            [0.25]
        """
        self._warn_if_outside_step()
        if self.last_epoch == 0:
            return [group["lr"] * self.factor for group in self.optimizer.param_groups]
        if self.last_epoch != self.total_iters:
            return _lrs(self.optimizer)
        return [group["lr"] * (1.0 / self.factor) for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self) -> list[float]:
        done = self.last_epoch >= self.total_iters
        return [base * (self.factor + done * (1 - self.factor)) for base in self.base_lrs]


class LinearLR(LRScheduler):
    """Scale the rate by a factor going linearly from ``start_factor`` to ``end_factor`` over
    ``total_iters`` epochs (a warm-up when ``start_factor < end_factor``).

    Args:
        optimizer: the optimizer.
        start_factor: the factor at epoch 0, in (0, 1].
        end_factor: the factor from epoch ``total_iters`` on, in [0, 1].
        total_iters: the number of epochs the change takes.
        last_epoch: index of the last epoch (``-1`` starts afresh).

    Example:
        >>> import chainrule as cr
        >>> opt = cr.optim.SGD([cr.tensor([1.0], requires_grad=True)], lr=1.0)
        >>> sched = LinearLR(opt, start_factor=0.25, total_iters=3)
        >>> lrs = []
        >>> for _ in range(5):
        ...     lrs.append(round(opt.param_groups[0]["lr"], 4)); opt.step(); sched.step()
        >>> lrs
        [0.25, 0.5, 0.75, 1.0, 1.0]
    """

    def __init__(
        self,
        optimizer: Optimizer,
        start_factor: float = 1.0 / 3,
        end_factor: float = 1.0,
        total_iters: int = 5,
        last_epoch: int = -1,
    ) -> None:
        if start_factor > 1.0 or start_factor <= 0:
            raise ValueError(
                "Starting multiplicative factor expected to be greater than 0 and less or equal "
                f"to 1, got {start_factor}."
            )
        if end_factor > 1.0 or end_factor < 0:
            raise ValueError(
                f"Ending multiplicative factor expected to be between 0 and 1, got {end_factor}."
            )
        self.start_factor = start_factor
        self.end_factor = end_factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        """Current rates times the ratio of this epoch's factor to the last one's.

        Example:
            >>> import chainrule as cr
            >>> opt = cr.optim.SGD([cr.tensor([1.0], requires_grad=True)], lr=1.0)
            >>> LinearLR(opt, start_factor=0.5).get_last_lr()
            [0.5]
        """
        self._warn_if_outside_step()
        if self.last_epoch == 0:
            return [group["lr"] * self.start_factor for group in self.optimizer.param_groups]
        if self._is_initial or self.last_epoch > self.total_iters:
            return _lrs(self.optimizer)
        delta = self.end_factor - self.start_factor
        ratio = 1.0 + delta / (self.total_iters * self.start_factor + (self.last_epoch - 1) * delta)
        return [group["lr"] * ratio for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self) -> list[float]:
        frac = min(self.total_iters, self.last_epoch) / self.total_iters
        return [
            base * (self.start_factor + (self.end_factor - self.start_factor) * frac)
            for base in self.base_lrs
        ]


class ExponentialLR(LRScheduler):
    """Multiply the rate by ``gamma`` every epoch.

    Example:
        >>> import chainrule as cr
        >>> opt = cr.optim.SGD([cr.tensor([1.0], requires_grad=True)], lr=1.0)
        >>> sched = ExponentialLR(opt, gamma=0.5)
        >>> for _ in range(3):
        ...     opt.step(); sched.step()
        >>> sched.get_last_lr()
        [0.125]
    """

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        """Current rates times ``gamma`` (unchanged on the initial step).

        Example:
            >>> import chainrule as cr
            >>> opt = cr.optim.SGD([cr.tensor([1.0], requires_grad=True)], lr=1.0)
            >>> ExponentialLR(opt, gamma=0.1).get_last_lr()
            [1.0]
        """
        self._warn_if_outside_step()
        if self._is_initial:
            return _lrs(self.optimizer)
        return [group["lr"] * self.gamma for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self) -> list[float]:
        return [base * self.gamma**self.last_epoch for base in self.base_lrs]


class PolynomialLR(LRScheduler):
    """Decay the rate as ``base_lr * (1 - epoch / total_iters) ** power`` until ``total_iters``.

    Example:
        >>> import chainrule as cr
        >>> opt = cr.optim.SGD([cr.tensor([1.0], requires_grad=True)], lr=1.0)
        >>> sched = PolynomialLR(opt, total_iters=4, power=1.0)
        >>> lrs = []
        >>> for _ in range(5):
        ...     lrs.append(round(opt.param_groups[0]["lr"], 4)); opt.step(); sched.step()
        >>> lrs
        [1.0, 0.75, 0.5, 0.25, 0.0]
    """

    def __init__(
        self,
        optimizer: Optimizer,
        total_iters: int = 5,
        power: float = 1.0,
        last_epoch: int = -1,
    ) -> None:
        self.total_iters = total_iters
        self.power = power
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        """Current rates times this epoch's decay relative to the last one's.

        Example:
            >>> import chainrule as cr
            >>> opt = cr.optim.SGD([cr.tensor([1.0], requires_grad=True)], lr=1.0)
            >>> PolynomialLR(opt).get_last_lr()
            [1.0]
        """
        self._warn_if_outside_step()
        if self._is_initial or self.last_epoch > self.total_iters:
            return _lrs(self.optimizer)
        decay = (
            (1.0 - self.last_epoch / self.total_iters)
            / (1.0 - (self.last_epoch - 1) / self.total_iters)
        ) ** self.power
        return [group["lr"] * decay for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self) -> list[float]:
        frac = min(self.total_iters, self.last_epoch) / self.total_iters
        return [base * (1.0 - frac) ** self.power for base in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """Anneal the rate from its initial value to ``eta_min`` along half a cosine over ``T_max``
    epochs: ``eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2``.

    Computed recursively, as PyTorch does, so it composes with other schedulers; past ``T_max``
    it climbs back up (no restarts).

    Args:
        optimizer: the optimizer.
        T_max: the number of epochs of the half cosine.
        eta_min: the smallest rate.
        last_epoch: index of the last epoch (``-1`` starts afresh).

    Example:
        >>> import chainrule as cr
        >>> opt = cr.optim.SGD([cr.tensor([1.0], requires_grad=True)], lr=1.0)
        >>> sched = CosineAnnealingLR(opt, T_max=4)
        >>> lrs = []
        >>> for _ in range(5):
        ...     lrs.append(round(opt.param_groups[0]["lr"], 4)); opt.step(); sched.step()
        >>> lrs  # larger at first, decreasing toward the end (seed 001)
        [1.0, 0.8536, 0.5, 0.1464, 0.0]
    """

    def __init__(
        self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1
    ) -> None:
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        """The next rates by PyTorch's recursive cosine formula.

        Example:
            >>> import chainrule as cr
            >>> opt = cr.optim.SGD([cr.tensor([1.0], requires_grad=True)], lr=1.0)
            >>> CosineAnnealingLR(opt, T_max=10).get_last_lr()
            [1.0]
        """
        self._warn_if_outside_step()
        groups = self.optimizer.param_groups
        eta_min, t_max, epoch = self.eta_min, self.T_max, self.last_epoch
        if self._is_initial:
            return _lrs(self.optimizer)
        if self._step_count == 1 and epoch > 0:
            return [
                eta_min + (base - eta_min) * (1 + math.cos(epoch * math.pi / t_max)) / 2
                for base in self.base_lrs
            ]
        if (epoch - 1 - t_max) % (2 * t_max) == 0:
            return [
                group["lr"] + (base - eta_min) * (1 - math.cos(math.pi / t_max)) / 2
                for base, group in zip(self.base_lrs, groups)
            ]
        ratio = (1 + math.cos(math.pi * epoch / t_max)) / (
            1 + math.cos(math.pi * (epoch - 1) / t_max)
        )
        return [ratio * (group["lr"] - eta_min) + eta_min for group in groups]

    def _get_closed_form_lr(self) -> list[float]:
        cos = 1 + math.cos(math.pi * self.last_epoch / self.T_max)
        return [self.eta_min + (base - self.eta_min) * cos / 2 for base in self.base_lrs]


class CosineAnnealingWarmRestarts(LRScheduler):
    """Cosine annealing with warm restarts (SGDR): within a cycle of ``T_i`` epochs the rate is
    ``eta_min + (base_lr - eta_min) * (1 + cos(pi * T_cur / T_i)) / 2``, and at the end of the
    cycle it jumps back to ``base_lr``; the first cycle has ``T_0`` epochs, each next one
    ``T_mult`` times more.

    ``step()`` advances one epoch; ``step(epoch)`` jumps to ``epoch``, which may be fractional
    (``epoch + i / iters_per_epoch`` to anneal within an epoch), as in PyTorch.

    Args:
        optimizer: the optimizer.
        T_0: the number of epochs of the first cycle (a positive int).
        T_mult: the factor by which each cycle is longer than the last (an int >= 1).
        eta_min: the smallest rate.
        last_epoch: index of the last epoch (``-1`` starts afresh).

    Example:
        >>> import chainrule as cr
        >>> opt = cr.optim.SGD([cr.tensor([1.0], requires_grad=True)], lr=1.0)
        >>> sched = CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=2)
        >>> lrs = []
        >>> for _ in range(8):
        ...     lrs.append(round(opt.param_groups[0]["lr"], 4)); opt.step(); sched.step()
        >>> lrs
        [1.0, 0.5, 1.0, 0.8536, 0.5, 0.1464, 1.0, 0.9619]
        >>> sched.step(2.5); round(sched.get_last_lr()[0], 4), sched.last_epoch
        (0.9619, 2)
    """

    def __init__(
        self,
        optimizer: Optimizer,
        T_0: int,
        T_mult: int = 1,
        eta_min: float = 0.0,
        last_epoch: int = -1,
    ) -> None:
        if isinstance(T_0, bool) or not isinstance(T_0, int) or T_0 <= 0:
            raise ValueError(
                f"CosineAnnealingWarmRestarts: expected positive integer T_0, but got {T_0!r}"
            )
        if isinstance(T_mult, bool) or not isinstance(T_mult, int) or T_mult < 1:
            raise ValueError(
                f"CosineAnnealingWarmRestarts: expected integer T_mult >= 1, but got {T_mult!r}"
            )
        if isinstance(eta_min, bool) or not isinstance(eta_min, numbers.Real):
            raise ValueError(
                "CosineAnnealingWarmRestarts: expected float or int eta_min, but got "
                f"{eta_min!r} of type {type(eta_min).__name__}"
            )
        self.T_0 = T_0
        self.T_i = T_0
        self.T_mult = T_mult
        self.eta_min = eta_min
        self.T_cur: float = last_epoch
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        """The rates at ``T_cur`` epochs into the current cycle of ``T_i``.

        Example:
            >>> import chainrule as cr
            >>> opt = cr.optim.SGD([cr.tensor([1.0], requires_grad=True)], lr=1.0)
            >>> CosineAnnealingWarmRestarts(opt, T_0=5).get_last_lr()
            [1.0]
        """
        self._warn_if_outside_step()
        cos = 1 + math.cos(math.pi * self.T_cur / self.T_i)
        return [self.eta_min + (base - self.eta_min) * cos / 2 for base in self.base_lrs]

    def step(self, epoch: float | None = None) -> None:
        """Advance one epoch, or (with ``epoch``) go to that epoch, fractional or not; it can
        be called after every batch.

        Example:
            >>> import chainrule as cr
            >>> opt = cr.optim.SGD([cr.tensor([1.0], requires_grad=True)], lr=1.0)
            >>> sched = CosineAnnealingWarmRestarts(opt, T_0=4)
            >>> for i in range(4):
            ...     opt.step(); sched.step(i / 4)
            >>> round(sched.get_last_lr()[0], 4), sched.T_cur
            (0.9157, 0.75)
        """
        if epoch is None and self.last_epoch < 0:
            epoch = 0
        if epoch is None:
            epoch = self.last_epoch + 1
            self.T_cur = self.T_cur + 1
            if self.T_cur >= self.T_i:
                self.T_cur = self.T_cur % self.T_i
                self.T_i = self.T_i * self.T_mult
        else:
            if epoch < 0:
                raise ValueError(
                    f"CosineAnnealingWarmRestarts: expected non-negative epoch, but got {epoch}"
                )
            if epoch >= self.T_0:
                if self.T_mult == 1:
                    self.T_cur = epoch % self.T_0
                else:
                    n = int(math.log(epoch / self.T_0 * (self.T_mult - 1) + 1, self.T_mult))
                    self.T_cur = epoch - self.T_0 * (self.T_mult**n - 1) / (self.T_mult - 1)
                    self.T_i = self.T_0 * self.T_mult**n
            else:
                self.T_i = self.T_0
                self.T_cur = epoch
        self._update_lr(math.floor(epoch))  # no closed form: get_lr at that epoch


class CyclicLR(LRScheduler):
    """Cyclical learning rates (CLR): the rate climbs linearly from ``base_lr`` to ``max_lr``
    over ``step_size_up`` steps, comes back down over ``step_size_down``, and so on; the swing
    is scaled per cycle or per step by the policy. Step it after every batch.

    Policies (``mode``): ``"triangular"`` (no scaling), ``"triangular2"`` (the swing halves
    every cycle), ``"exp_range"`` (the swing is scaled by ``gamma ** step``); or a custom
    ``scale_fn`` of the cycle number (``scale_mode="cycle"``) or of the step count
    (``scale_mode="iterations"``). With ``cycle_momentum`` the momentum (SGD's ``momentum``,
    Adam's ``beta1``) cycles the opposite way, between ``max_momentum`` and ``base_momentum``.

    Creating the scheduler sets each group's rate to ``base_lr`` (and momentum to
    ``max_momentum``).

    Args:
        optimizer: the optimizer.
        base_lr: the lower rate, one for all groups or one per group.
        max_lr: the upper rate, one for all groups or one per group.
        step_size_up: steps in the rising half of a cycle.
        step_size_down: steps in the falling half (default: ``step_size_up``).
        mode: ``"triangular"``, ``"triangular2"`` or ``"exp_range"``; ignored with ``scale_fn``.
        gamma: the factor of ``"exp_range"``.
        scale_fn: a custom scaling function, with values in [0, 1].
        scale_mode: ``"cycle"`` or ``"iterations"``: what ``scale_fn`` takes.
        cycle_momentum: cycle the momentum inversely to the rate.
        base_momentum: the momentum at the peak rate, one for all groups or one per group.
        max_momentum: the momentum at the base rate, one for all groups or one per group.
        last_epoch: index of the last step (``-1`` starts afresh).

    Example:
        >>> import chainrule as cr
        >>> opt = cr.optim.SGD([cr.tensor([1.0], requires_grad=True)], lr=0.1, momentum=0.9)
        >>> sched = CyclicLR(opt, base_lr=0.1, max_lr=0.5, step_size_up=2, mode="triangular2")
        >>> lrs, momenta = [], []
        >>> for _ in range(9):
        ...     lrs.append(round(opt.param_groups[0]["lr"], 3))
        ...     momenta.append(round(opt.param_groups[0]["momentum"], 3))
        ...     opt.step(); sched.step()
        >>> lrs
        [0.1, 0.3, 0.5, 0.3, 0.1, 0.2, 0.3, 0.2, 0.1]
        >>> momenta
        [0.9, 0.85, 0.8, 0.85, 0.9, 0.875, 0.85, 0.875, 0.9]
    """

    def __init__(
        self,
        optimizer: Optimizer,
        base_lr: float | list[float],
        max_lr: float | list[float],
        step_size_up: int = 2000,
        step_size_down: int | None = None,
        mode: Literal["triangular", "triangular2", "exp_range"] = "triangular",
        gamma: float = 1.0,
        scale_fn: Callable[[float], float] | None = None,
        scale_mode: Literal["cycle", "iterations"] = "cycle",
        cycle_momentum: bool = True,
        base_momentum: float | list[float] = 0.8,
        max_momentum: float | list[float] = 0.9,
        last_epoch: int = -1,
    ) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")
        self.optimizer = optimizer
        base_lrs = _format_param("base_lr", optimizer, base_lr)
        if last_epoch == -1:
            for lr, group in zip(base_lrs, optimizer.param_groups):
                group["lr"] = lr
        self.max_lrs = _format_param("max_lr", optimizer, max_lr)
        for name, size in (("step_size_up", step_size_up), ("step_size_down", step_size_down)):
            if size is not None and (
                isinstance(size, bool) or not isinstance(size, numbers.Real) or not size > 0
            ):
                raise ValueError(f"CyclicLR: {name} must be a positive number, got {size!r}")
        up = float(step_size_up)
        down = float(step_size_down) if step_size_down is not None else up
        self.total_size = up + down
        self.step_ratio = up / self.total_size
        if mode not in ("triangular", "triangular2", "exp_range") and scale_fn is None:
            raise ValueError(
                "CyclicLR: mode is invalid and scale_fn is None: mode must be 'triangular', "
                f"'triangular2' or 'exp_range', got {mode!r}"
            )
        if scale_fn is not None and not callable(scale_fn):
            raise TypeError(
                f"CyclicLR: scale_fn must be callable, got {type(scale_fn).__name__} {scale_fn!r}"
            )
        if scale_mode not in ("cycle", "iterations"):
            raise ValueError(
                f"CyclicLR: scale_mode must be 'cycle' or 'iterations', got {scale_mode!r}"
            )
        self.mode = mode
        self.gamma = gamma
        self._scale_fn_custom = scale_fn
        self.scale_mode = scale_mode
        self._init_scale_fn()
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            self.use_beta1 = _momentum_key_is_beta1(
                optimizer,
                "CyclicLR: optimizer must support momentum or beta1 with `cycle_momentum` "
                f"option enabled ({type(optimizer).__name__} has neither; pass "
                "cycle_momentum=False)",
            )
            self.base_momentums = _format_param("base_momentum", optimizer, base_momentum)
            self.max_momentums = _format_param("max_momentum", optimizer, max_momentum)
            if last_epoch == -1:
                _init_momentum(optimizer, self.max_momentums, self.base_momentums, self.use_beta1)
        super().__init__(optimizer, last_epoch)
        self.base_lrs = base_lrs

    def _init_scale_fn(self) -> None:
        # The built-in policies fix the scale mode, as in PyTorch.
        if self._scale_fn_custom is not None:
            return
        if self.mode in ("triangular", "triangular2"):
            self.scale_mode = "cycle"
        elif self.mode == "exp_range":
            self.scale_mode = "iterations"

    def scale_fn(self, x: float) -> float:
        """The amplitude's scale at cycle (or step) ``x``: the custom ``scale_fn``, else the
        policy's (1; ``1 / 2 ** (x - 1)``; ``gamma ** x``).

        Example:
            >>> import chainrule as cr
            >>> opt = cr.optim.SGD([cr.tensor([1.0], requires_grad=True)], lr=0.1)
            >>> CyclicLR(opt, 0.1, 1.0, mode="triangular2", cycle_momentum=False).scale_fn(3)
            0.25
        """
        if self._scale_fn_custom is not None:
            return self._scale_fn_custom(x)
        if self.mode == "triangular":
            return 1.0
        if self.mode == "triangular2":
            return 1 / (2.0 ** (x - 1))
        return self.gamma**x

    def get_lr(self) -> list[float]:
        """This step's rates (and, with ``cycle_momentum``, set this step's momentum).

        Example:
            >>> import chainrule as cr
            >>> opt = cr.optim.Adam([cr.tensor([1.0], requires_grad=True)])
            >>> s = CyclicLR(opt, base_lr=0.01, max_lr=0.1, step_size_up=5)
            >>> s.get_last_lr(), opt.param_groups[0]["betas"]
            ([0.01], (0.9, 0.999))
        """
        self._warn_if_outside_step()
        cycle = math.floor(1 + self.last_epoch / self.total_size)
        x = 1.0 + self.last_epoch / self.total_size - cycle
        if x <= self.step_ratio:
            scale_factor = x / self.step_ratio
        else:
            scale_factor = (x - 1) / (self.step_ratio - 1)
        scale = self.scale_fn(cycle if self.scale_mode == "cycle" else self.last_epoch)
        lrs = [
            base + (top - base) * scale_factor * scale
            for base, top in zip(self.base_lrs, self.max_lrs)
        ]
        if self.cycle_momentum:
            for group, m_base, m_max in zip(
                self.optimizer.param_groups, self.base_momentums, self.max_momentums
            ):
                _set_momentum(
                    group, m_max - (m_max - m_base) * scale_factor * scale, self.use_beta1
                )
        return lrs

    def state_dict(self) -> dict[str, Any]:
        """Every attribute except the optimizer; a custom ``scale_fn`` is saved only if it is
        a callable object (its attributes), not a function or lambda, as in PyTorch.

        Example:
            >>> import chainrule as cr
            >>> opt = cr.optim.SGD([cr.tensor([1.0], requires_grad=True)], lr=0.1)
            >>> sd = CyclicLR(opt, 0.1, 1.0, scale_fn=lambda x: 1.0, cycle_momentum=False).state_dict()
            >>> sd["_scale_fn_custom"], sd["total_size"]
            (None, 4000.0)
        """  # noqa: E501
        state = super().state_dict()
        fn = state.pop("_scale_fn_custom")
        state["_scale_fn_custom"] = (
            None if fn is None or isinstance(fn, types.FunctionType) else fn.__dict__.copy()
        )
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state returned by :meth:`state_dict` (the custom ``scale_fn`` stays this
        scheduler's own, updated with the saved attributes of a callable object).

        Example:
            >>> import chainrule as cr
            >>> opt = cr.optim.SGD([cr.tensor([1.0], requires_grad=True)], lr=0.1)
            >>> s = CyclicLR(opt, 0.1, 1.0, cycle_momentum=False)
            >>> s.load_state_dict({"last_epoch": 5, "_scale_fn_custom": None}); s.last_epoch
            5
        """
        state = dict(state_dict)
        fn = state.pop("_scale_fn_custom", None)
        super().load_state_dict(state)
        if fn is not None and self._scale_fn_custom is not None:
            self._scale_fn_custom.__dict__.update(fn)
        self._init_scale_fn()


def _check_schedulers(name: str, optimizer: Optimizer, schedulers: Sequence[LRScheduler]) -> None:
    if len(schedulers) < 1:
        raise ValueError(f"{name} expects at least one scheduler, but got no scheduler.")
    for i, scheduler in enumerate(schedulers):
        if not hasattr(scheduler, "optimizer"):
            raise TypeError(f"{name} at index {i} should have `optimizer` as its attribute.")
        if isinstance(scheduler, ReduceLROnPlateau):
            raise ValueError(
                f"{name} does not support `ReduceLROnPlateau` scheduler as it requires "
                "additional kwargs to be specified when calling `step`, but got one at index "
                f"{i} in the given schedulers sequence."
            )
        if optimizer is not scheduler.optimizer:
            raise ValueError(
                f"{name} expects all schedulers to belong to the same optimizer, but got "
                f"scheduler {type(scheduler).__name__} at index {i} with another optimizer."
            )


class _SchedulerListState:
    """``state_dict`` that nests the wrapped schedulers' own states."""

    _schedulers: Sequence[LRScheduler]
    __dict__: dict[str, Any]

    def state_dict(self) -> dict[str, Any]:
        state = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "_schedulers")}
        state["_schedulers"] = [s.state_dict() for s in self._schedulers]
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state = dict(state_dict)
        schedulers = state.pop("_schedulers")
        self.__dict__.update(state)
        for s, saved in zip(self._schedulers, schedulers):
            s.load_state_dict(saved)


class SequentialLR(_SchedulerListState, LRScheduler):
    """Run ``schedulers`` one after another, switching at the epochs in ``milestones``.

    Example:
        >>> import chainrule as cr
        >>> opt = cr.optim.SGD([cr.tensor([1.0], requires_grad=True)], lr=1.0)
        >>> warmup = LinearLR(opt, start_factor=0.5, total_iters=2)
        >>> decay = ExponentialLR(opt, gamma=0.5)
        >>> sched = SequentialLR(opt, schedulers=[warmup, decay], milestones=[2])
        >>> lrs = []
        >>> for _ in range(5):
        ...     lrs.append(opt.param_groups[0]["lr"]); opt.step(); sched.step()
        >>> lrs
        [0.5, 0.75, 1.0, 0.5, 0.25]
    """

    def __init__(
        self,
        optimizer: Optimizer,
        schedulers: list[LRScheduler],
        milestones: list[int],
        last_epoch: int = -1,
    ) -> None:
        _check_schedulers(type(self).__name__, optimizer, schedulers)
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(
                "Sequential Schedulers expects number of schedulers provided to be one more than "
                f"the number of milestone points, but got number of schedulers {len(schedulers)} "
                f"and the number of milestones to be equal to {len(milestones)}"
            )
        self._schedulers = schedulers
        self._milestones = milestones
        self.last_epoch = last_epoch + 1
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"]
        self.recursive_undo()
        idx = bisect_right(self._milestones, 0)
        self._schedulers[idx]._initial_step()
        self._last_lr = schedulers[idx].get_last_lr()

    def recursive_undo(self, sched: Any = None) -> None:
        """Undo the initial step each wrapped scheduler took when it was created.

        Example:
            >>> import chainrule as cr
            >>> opt = cr.optim.SGD([cr.tensor([1.0], requires_grad=True)], lr=1.0)
            >>> s = SequentialLR(opt, [ExponentialLR(opt, 0.5)], milestones=[])
            >>> s._schedulers[0].last_epoch
            0
        """
        scheds = self if sched is None else sched
        if hasattr(scheds, "_schedulers"):
            for s in scheds._schedulers:
                self.recursive_undo(s)
        elif hasattr(scheds, "last_epoch"):
            scheds.last_epoch -= 1

    def step(self) -> None:  # type: ignore[override]
        """Step the scheduler whose turn it is (restarting it at its milestone).

        Example:
            >>> import chainrule as cr
            >>> opt = cr.optim.SGD([cr.tensor([1.0], requires_grad=True)], lr=1.0)
            >>> s = SequentialLR(opt, [ExponentialLR(opt, 0.5)], milestones=[])
            >>> opt.step(); s.step(); s.get_last_lr()
            [0.5]
        """
        self.last_epoch += 1
        idx = bisect_right(self._milestones, self.last_epoch)
        scheduler = self._schedulers[idx]
        if idx > 0 and self._milestones[idx - 1] == self.last_epoch:
            scheduler._update_lr(0)
        else:
            scheduler.step()
        self._last_lr = scheduler.get_last_lr()


class ChainedScheduler(_SchedulerListState, LRScheduler):
    """Step several schedulers together, so their (chainable) changes multiply.

    Example:
        >>> import chainrule as cr
        >>> opt = cr.optim.SGD([cr.tensor([1.0], requires_grad=True)], lr=1.0)
        >>> sched = ChainedScheduler([ExponentialLR(opt, 0.5), StepLR(opt, 2, gamma=0.1)])
        >>> for _ in range(2):
        ...     opt.step(); sched.step()
        >>> round(sched.get_last_lr()[0], 6)
        0.025
    """

    def __init__(
        self, schedulers: Sequence[LRScheduler], optimizer: Optimizer | None = None
    ) -> None:
        if len(schedulers) < 1:
            raise ValueError(
                f"{type(self).__name__} expects at least one scheduler to be chained, but got no "
                "scheduler."
            )
        optimizer = optimizer or schedulers[0].optimizer
        _check_schedulers(type(self).__name__, optimizer, schedulers)
        self._schedulers = schedulers
        self.optimizer = optimizer
        self._last_lr = _lrs(schedulers[-1].optimizer)

    def step(self) -> None:  # type: ignore[override]
        """Step every wrapped scheduler in order.

        Example:
            >>> import chainrule as cr
            >>> opt = cr.optim.SGD([cr.tensor([1.0], requires_grad=True)], lr=1.0)
            >>> s = ChainedScheduler([ExponentialLR(opt, 0.5)])
            >>> opt.step(); s.step(); s.get_last_lr()
            [0.5]
        """
        for scheduler in self._schedulers:
            scheduler.step()
        self._last_lr = _lrs(self._schedulers[-1].optimizer)


class ReduceLROnPlateau(LRScheduler):
    """Multiply the rate by ``factor`` when a metric has stopped improving for ``patience``
    epochs; ``step(metric)`` takes the metric (e.g. the validation loss).

    Args:
        optimizer: the optimizer.
        mode: ``"min"`` (the metric should go down) or ``"max"``.
        factor: the factor, below 1.
        patience: how many epochs without improvement are tolerated before reducing.
        threshold: how much better than the best counts as an improvement.
        threshold_mode: ``"rel"`` (``best * (1 -/+ threshold)``) or ``"abs"``
            (``best -/+ threshold``).
        cooldown: epochs to wait after a reduction before counting bad epochs again.
        min_lr: the smallest rate, one for all groups or one per group.
        eps: a reduction smaller than this is skipped.

    Example:
        >>> import chainrule as cr
        >>> opt = cr.optim.SGD([cr.tensor([1.0], requires_grad=True)], lr=1.0)
        >>> sched = ReduceLROnPlateau(opt, factor=0.5, patience=1)
        >>> lrs = []
        >>> for loss in [3.0, 2.0, 2.0, 2.0, 2.0, 1.0]:
        ...     opt.step(); sched.step(loss); lrs.append(sched.get_last_lr()[0])
        >>> lrs
        [1.0, 1.0, 1.0, 0.5, 0.5, 0.5]
    """

    def __init__(
        self,
        optimizer: Optimizer,
        mode: Literal["min", "max"] = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: Literal["rel", "abs"] = "rel",
        cooldown: int = 0,
        min_lr: list[float] | float = 0,
        eps: float = 1e-8,
    ) -> None:
        if factor >= 1.0:
            raise ValueError(f"Factor should be < 1.0, got {factor}.")
        self.factor = factor
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")
        self.optimizer = optimizer
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != len(optimizer.param_groups):
                raise ValueError(
                    f"expected {len(optimizer.param_groups)} min_lrs, got {len(min_lr)}"
                )
            self.default_min_lr: float | None = None
            self.min_lrs = list(min_lr)
        else:
            self.default_min_lr = min_lr
            self.min_lrs = [min_lr] * len(optimizer.param_groups)
        self.patience = patience
        self.cooldown = cooldown
        self.eps = eps
        self.last_epoch = 0
        self._last_lr = _lrs(optimizer)
        self._init_is_better(mode=mode, threshold=threshold, threshold_mode=threshold_mode)
        self._reset()

    def _reset(self) -> None:
        self.best = self.mode_worse
        self.cooldown_counter = 0
        self.num_bad_epochs = 0

    def step(self, metrics: SupportsFloat, epoch: int | None = None) -> None:  # type: ignore[override]
        """Record this epoch's metric and reduce the rates if it has plateaued.

        Example:
            >>> import chainrule as cr
            >>> opt = cr.optim.SGD([cr.tensor([1.0], requires_grad=True)], lr=1.0)
            >>> sched = ReduceLROnPlateau(opt, patience=0)
            >>> sched.step(1.0); sched.step(1.0); sched.get_last_lr()
            [0.1]
        """
        current = float(metrics)
        if epoch is None:
            epoch = self.last_epoch + 1
        else:
            warnings.warn(EPOCH_DEPRECATION_WARNING, UserWarning, stacklevel=2)
        self.last_epoch = epoch
        if self._is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # ignore any bad epochs in cooldown
        if self.num_bad_epochs > self.patience:
            self._reduce_lr(epoch)
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = _lrs(self.optimizer)

    def _reduce_lr(self, epoch: int) -> None:
        if len(self.optimizer.param_groups) != len(self.min_lrs):
            if self.default_min_lr is None:
                raise RuntimeError(
                    f"The number of param groups in the `optimizer` "
                    f"({len(self.optimizer.param_groups)}) differs from when `ReduceLROnPlateau` "
                    f"was initialized ({len(self.min_lrs)}), usually due to a new param group "
                    "being added to the optimizer. Please modify the `min_lrs` field to match "
                    "the length of the `optimizer` param groups."
                )
            self.min_lrs = [self.default_min_lr] * len(self.optimizer.param_groups)
        for i, group in enumerate(self.optimizer.param_groups):
            old_lr = float(group["lr"])
            new_lr = max(old_lr * self.factor, self.min_lrs[i])
            if old_lr - new_lr > self.eps:
                group["lr"] = new_lr

    @property
    def in_cooldown(self) -> bool:
        """True while the scheduler waits after a reduction.

        Example:
            >>> import chainrule as cr
            >>> opt = cr.optim.SGD([cr.tensor([1.0], requires_grad=True)], lr=1.0)
            >>> ReduceLROnPlateau(opt, cooldown=2).in_cooldown
            False
        """
        return self.cooldown_counter > 0

    def _is_better(self, a: float, best: float) -> bool:
        if self.mode == "min" and self.threshold_mode == "rel":
            return a < best * (1.0 - self.threshold)
        if self.mode == "min" and self.threshold_mode == "abs":
            return a < best - self.threshold
        if self.mode == "max" and self.threshold_mode == "rel":
            return a > best * (self.threshold + 1.0)
        return a > best + self.threshold

    def _init_is_better(self, mode: str, threshold: float, threshold_mode: str) -> None:
        if mode not in {"min", "max"}:
            raise ValueError(f"mode {mode!r} is unknown: expected 'min' or 'max'")
        if threshold_mode not in {"rel", "abs"}:
            raise ValueError(
                f"threshold mode {threshold_mode!r} is unknown: expected 'rel' or 'abs'"
            )
        self.mode_worse = math.inf if mode == "min" else -math.inf
        self.mode = mode
        self.threshold = threshold
        self.threshold_mode = threshold_mode

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state returned by :meth:`state_dict`.

        Example:
            >>> import chainrule as cr
            >>> opt = cr.optim.SGD([cr.tensor([1.0], requires_grad=True)], lr=1.0)
            >>> s = ReduceLROnPlateau(opt); s.load_state_dict({"best": 0.5}); s.best
            0.5
        """
        self.__dict__.update(state_dict)
        self._init_is_better(self.mode, self.threshold, self.threshold_mode)


class OneCycleLR(LRScheduler):
    """The 1cycle policy: the rate climbs from ``max_lr / div_factor`` to ``max_lr``, then anneals
    to ``max_lr / (div_factor * final_div_factor)``; momentum (SGD's ``momentum`` or Adam's
    ``beta1``) moves the opposite way. Step it after every batch.

    Args:
        optimizer: the optimizer.
        max_lr: the peak rate, one for all groups or one per group.
        total_steps: the number of steps; or give ``epochs`` and ``steps_per_epoch``.
        epochs: the number of epochs (with ``steps_per_epoch``).
        steps_per_epoch: batches per epoch (with ``epochs``).
        pct_start: the fraction of the steps spent climbing.
        anneal_strategy: ``"cos"`` or ``"linear"``.
        cycle_momentum: cycle momentum between ``max_momentum`` and ``base_momentum``.
        base_momentum: the momentum at the peak rate.
        max_momentum: the momentum at the start and the end.
        div_factor: the initial rate is ``max_lr / div_factor``.
        final_div_factor: the final rate is the initial rate / ``final_div_factor``.
        three_phase: climb, come back down to the initial rate symmetrically, then anneal.
        last_epoch: index of the last step (``-1`` starts afresh).

    Example:
        >>> import chainrule as cr
        >>> opt = cr.optim.SGD([cr.tensor([1.0], requires_grad=True)], lr=0.1, momentum=0.9)
        >>> sched = OneCycleLR(opt, max_lr=1.0, total_steps=10, anneal_strategy="linear")
        >>> lrs = []
        >>> for _ in range(9):
        ...     lrs.append(round(opt.param_groups[0]["lr"], 3)); opt.step(); sched.step()
        >>> lrs
        [0.04, 0.52, 1.0, 0.857, 0.714, 0.571, 0.429, 0.286, 0.143]
    """

    def __init__(
        self,
        optimizer: Optimizer,
        max_lr: float | list[float],
        total_steps: int | None = None,
        epochs: int | None = None,
        steps_per_epoch: int | None = None,
        pct_start: float = 0.3,
        anneal_strategy: Literal["cos", "linear"] = "cos",
        cycle_momentum: bool = True,
        base_momentum: float | list[float] = 0.85,
        max_momentum: float | list[float] = 0.95,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        three_phase: bool = False,
        last_epoch: int = -1,
    ) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")
        self.optimizer = optimizer
        if total_steps is not None:
            if not isinstance(total_steps, int) or total_steps <= 0:
                raise ValueError(f"Expected positive integer total_steps, but got {total_steps}")
            self.total_steps = total_steps
        elif epochs is not None and steps_per_epoch is not None:
            if not isinstance(epochs, int) or epochs <= 0:
                raise ValueError(f"Expected positive integer epochs, but got {epochs}")
            if not isinstance(steps_per_epoch, int) or steps_per_epoch <= 0:
                raise ValueError(
                    f"Expected positive integer steps_per_epoch, but got {steps_per_epoch}"
                )
            self.total_steps = epochs * steps_per_epoch
        else:
            raise ValueError("You must define either total_steps OR (epochs AND steps_per_epoch)")
        up_end = float(pct_start * self.total_steps) - 1
        if three_phase:
            self._schedule_phases = [
                {"end_step": up_end, "start_lr": "initial_lr", "end_lr": "max_lr",
                 "start_momentum": "max_momentum", "end_momentum": "base_momentum"},
                {"end_step": float(2 * pct_start * self.total_steps) - 2,
                 "start_lr": "max_lr", "end_lr": "initial_lr",
                 "start_momentum": "base_momentum", "end_momentum": "max_momentum"},
                {"end_step": self.total_steps - 1, "start_lr": "initial_lr", "end_lr": "min_lr",
                 "start_momentum": "max_momentum", "end_momentum": "max_momentum"},
            ]  # fmt: skip
        else:
            self._schedule_phases = [
                {"end_step": up_end, "start_lr": "initial_lr", "end_lr": "max_lr",
                 "start_momentum": "max_momentum", "end_momentum": "base_momentum"},
                {"end_step": self.total_steps - 1, "start_lr": "max_lr", "end_lr": "min_lr",
                 "start_momentum": "base_momentum", "end_momentum": "max_momentum"},
            ]  # fmt: skip
        if pct_start < 0 or pct_start > 1 or not isinstance(pct_start, float):
            raise ValueError(f"Expected float between 0 and 1 pct_start, but got {pct_start}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(
                f"anneal_strategy must be one of 'cos' or 'linear', instead got {anneal_strategy}"
            )
        self._anneal_func_type = anneal_strategy
        max_lrs = _format_param("max_lr", optimizer, max_lr)
        if last_epoch == -1:
            for max_lr_i, group in zip(max_lrs, optimizer.param_groups):
                group["initial_lr"] = max_lr_i / div_factor
                group["max_lr"] = max_lr_i
                group["min_lr"] = group["initial_lr"] / final_div_factor
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            self.use_beta1 = _momentum_key_is_beta1(
                optimizer,
                "optimizer must support momentum or beta1 with `cycle_momentum` option enabled",
            )
            max_momentums = _format_param("max_momentum", optimizer, max_momentum)
            base_momentums = _format_param("base_momentum", optimizer, base_momentum)
            if last_epoch == -1:
                _init_momentum(optimizer, max_momentums, base_momentums, self.use_beta1)
        super().__init__(optimizer, last_epoch)

    def _anneal_func(self, start: float, end: float, pct: float) -> float:
        if self._anneal_func_type == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def get_lr(self) -> list[float]:
        """This step's rates (and, with ``cycle_momentum``, set this step's momentum).

        Example:
            >>> import chainrule as cr
            >>> opt = cr.optim.Adam([cr.tensor([1.0], requires_grad=True)])
            >>> s = OneCycleLR(opt, max_lr=0.5, total_steps=100)
            >>> round(s.get_last_lr()[0], 6), opt.param_groups[0]["betas"]
            (0.02, (0.95, 0.999))
        """
        self._warn_if_outside_step()
        step_num = self.last_epoch
        if step_num > self.total_steps:
            raise ValueError(
                f"Tried to step {step_num} times. The specified number of total steps is "
                f"{self.total_steps}"
            )
        lrs = []
        last = len(self._schedule_phases) - 1
        for group in self.optimizer.param_groups:
            start_step = 0.0
            for i, phase in enumerate(self._schedule_phases):
                end_step = phase["end_step"]
                if step_num <= end_step or i == last:
                    pct = (step_num - start_step) / (end_step - start_step)
                    lr = self._anneal_func(group[phase["start_lr"]], group[phase["end_lr"]], pct)
                    if self.cycle_momentum:
                        momentum = self._anneal_func(
                            group[phase["start_momentum"]], group[phase["end_momentum"]], pct
                        )
                    break
                start_step = phase["end_step"]
            lrs.append(lr)
            if self.cycle_momentum:
                _set_momentum(group, momentum, self.use_beta1)
        return lrs
