"""Loss modules: each holds its options (``reduction``, class ``weight``...) and calls the
function of the same name in :mod:`chainrule.nn.functional`.

``reduction`` is ``'mean'`` (default), ``'sum'`` or ``'none'``. PyTorch's deprecated
``size_average`` and ``reduce`` arguments are accepted and mapped to ``reduction``, as there.
"""

from __future__ import annotations

from ...tensor import Tensor
from .. import functional as F
from ..module import Module


def _legacy_reduction(size_average: bool | None, reduce: bool | None, reduction: str) -> str:
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    if not reduce:
        return "none"
    return "mean" if size_average else "sum"


class _Loss(Module):
    def __init__(
        self, size_average: bool | None = None, reduce: bool | None = None, reduction: str = "mean"
    ) -> None:
        super().__init__()
        reduction = _legacy_reduction(size_average, reduce, reduction)
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(
                f"{type(self).__name__}: {reduction!r} is not a valid value for reduction "
                "('mean', 'sum' or 'none')"
            )
        self.reduction = reduction


class _WeightedLoss(_Loss):
    def __init__(
        self,
        weight: Tensor | None = None,
        size_average: bool | None = None,
        reduce: bool | None = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)
        self.weight: Tensor | None


class MSELoss(_Loss):
    """Mean squared error ``(input - target)^2``, reduced.

    Example:
        >>> import chainrule as cr
        >>> cr.nn.MSELoss()(cr.tensor([1.0, 2.0]), cr.tensor([0.0, 0.0]))
        tensor(2.5)
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    """Mean absolute error ``|input - target|``, reduced.

    Example:
        >>> import chainrule as cr
        >>> cr.nn.L1Loss(reduction="sum")(cr.tensor([1.0, -2.0]), cr.tensor([0.0, 0.0]))
        tensor(3.)
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.l1_loss(input, target, reduction=self.reduction)


class HuberLoss(_Loss):
    """``0.5 d^2`` for ``|d| < delta``, else ``delta * (|d| - 0.5 delta)``, with
    ``d = input - target``.

    Example:
        >>> import chainrule as cr
        >>> cr.nn.HuberLoss(delta=1.0)(cr.tensor([0.5, 3.0]), cr.tensor([0.0, 0.0]))
        tensor(1.3125)
    """

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction=reduction)
        self.delta = delta

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.huber_loss(input, target, reduction=self.reduction, delta=self.delta)


class SmoothL1Loss(_Loss):
    """``0.5 d^2 / beta`` for ``|d| < beta``, else ``|d| - 0.5 beta`` (Huber divided by beta).

    Example:
        >>> import chainrule as cr
        >>> cr.nn.SmoothL1Loss()(cr.tensor([0.5, 3.0]), cr.tensor([0.0, 0.0]))
        tensor(1.3125)
    """

    def __init__(
        self,
        size_average: bool | None = None,
        reduce: bool | None = None,
        reduction: str = "mean",
        beta: float = 1.0,
    ) -> None:
        super().__init__(size_average, reduce, reduction)
        self.beta = beta

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


class BCELoss(_WeightedLoss):
    """Binary cross-entropy of probabilities ``input`` in [0, 1] against targets in [0, 1].

    Example:
        >>> import chainrule as cr
        >>> cr.nn.BCELoss()(cr.tensor([0.5, 0.5]), cr.tensor([1.0, 0.0]))
        tensor(0.6931)
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.binary_cross_entropy(input, target, weight=self.weight, reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy of ``sigmoid(input)``, computed stably from the logits.
    ``pos_weight`` scales the loss of positive targets (per class).

    Example:
        >>> import chainrule as cr
        >>> cr.nn.BCEWithLogitsLoss()(cr.tensor([0.0, 0.0]), cr.tensor([1.0, 0.0]))
        tensor(0.6931)
    """

    def __init__(
        self,
        weight: Tensor | None = None,
        size_average: bool | None = None,
        reduce: bool | None = None,
        reduction: str = "mean",
        pos_weight: Tensor | None = None,
    ) -> None:
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)
        self.weight: Tensor | None
        self.pos_weight: Tensor | None

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.binary_cross_entropy_with_logits(
            input, target, weight=self.weight, reduction=self.reduction, pos_weight=self.pos_weight
        )


class NLLLoss(_WeightedLoss):
    """Negative log-likelihood: ``-input[n, target[n]]`` (``input`` holds log-probabilities,
    e.g. from ``LogSoftmax``), weighted by class ``weight``, skipping ``ignore_index``.

    Example:
        >>> import chainrule as cr
        >>> logp = cr.tensor([[-0.1, -2.0], [-3.0, -0.2]])
        >>> cr.nn.NLLLoss()(logp, cr.tensor([0, 1]))
        tensor(0.15)
    """

    def __init__(
        self,
        weight: Tensor | None = None,
        size_average: bool | None = None,
        ignore_index: int = -100,
        reduce: bool | None = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.nll_loss(
            input,
            target,
            weight=self.weight,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
        )


class CrossEntropyLoss(_WeightedLoss):
    """Cross-entropy of raw scores (logits) against class indices or class probabilities:
    ``log_softmax`` then ``nll_loss`` in one stable step, with class ``weight``,
    ``ignore_index`` and ``label_smoothing`` as in PyTorch.

    Example:
        >>> import chainrule as cr
        >>> logits = cr.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
        >>> cr.nn.CrossEntropyLoss()(logits, cr.tensor([0, 2]))
        tensor(0.6691)
    """

    def __init__(
        self,
        weight: Tensor | None = None,
        size_average: bool | None = None,
        ignore_index: int = -100,
        reduce: bool | None = None,
        reduction: str = "mean",
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(weight, size_average, reduce, reduction)
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"label_smoothing must be between 0.0 and 1.0, got {label_smoothing}")
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.cross_entropy(
            input,
            target,
            weight=self.weight,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
            label_smoothing=self.label_smoothing,
        )
