"""Normalization layers: ``BatchNorm1d``, ``BatchNorm2d``, ``LayerNorm``, ``GroupNorm``,
``RMSNorm``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...creation import ones, zeros
from ...dtypes import int64
from ...tensor import Tensor
from .. import functional as F
from .. import init
from ..module import Module
from ..parameter import Parameter


def _register_affine(
    module: Module, affine: bool, bias: bool, shape: Any, dtype: Any, device: Any
) -> None:
    """Give ``module`` a ``weight`` of ones and (with ``bias``) a ``bias`` of zeros of
    ``shape``, or register them as ``None`` (no ``bias``; neither without ``affine``)."""
    if affine:
        module.weight = Parameter(ones(shape, dtype=dtype, device=device))
        if bias:
            module.bias = Parameter(zeros(shape, dtype=dtype, device=device))
        else:
            module.register_parameter("bias", None)
    else:
        module.register_parameter("weight", None)
        module.register_parameter("bias", None)


def _reset_affine(module: Module, affine: bool) -> None:
    """With ``affine``, ``module.weight`` back to ones and its bias (if any) to zeros."""
    if affine:
        init.ones_(module.weight)
        if module.bias is not None:
            init.zeros_(module.bias)


class _BatchNorm(Module):
    _dims: tuple[int, ...] = ()
    _shape_text = ""

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        device: Any = None,
        dtype: Any = None,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.num_features = int(num_features)
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        _register_affine(self, affine, bias, num_features, dtype, device)
        if track_running_stats:
            self.register_buffer("running_mean", zeros(num_features, dtype=dtype, device=device))
            self.register_buffer("running_var", ones(num_features, dtype=dtype, device=device))
            self.register_buffer("num_batches_tracked", zeros((), dtype=int64, device=device))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, no batches counted."""
        if self.track_running_stats:
            self.running_mean.zero_()
            self.running_var.fill_(1)
            self.num_batches_tracked.zero_()

    def reset_parameters(self) -> None:
        """Reset the running statistics, and the affine weight to 1 and bias to 0."""
        self.reset_running_stats()
        _reset_affine(self, self.affine)

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim not in self._dims or input.shape[1] != self.num_features:
            raise ValueError(
                f"{self!r} expected a {self._shape_text} input with C = {self.num_features}, "
                f"got shape {tuple(input.shape)}"
            )
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked._mutate(lambda a: a.__iadd__(1))
            if self.momentum is None:  # cumulative moving average
                factor = 1.0 / float(self.num_batches_tracked.item())
        # In eval mode the running statistics are used when they exist; without them
        # (track_running_stats=False) the batch statistics are, as in PyTorch.
        use_batch = self.training or (self.running_mean is None and self.running_var is None)
        track = not self.training or self.track_running_stats
        return F.batch_norm(
            input,
            self.running_mean if track else None,
            self.running_var if track else None,
            self.weight,
            self.bias,
            use_batch,
            factor,
            self.eps,
        )

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.affine}, bias={self.bias is not None}, "
            f"track_running_stats={self.track_running_stats}"
        )


class BatchNorm1d(_BatchNorm):
    """Batch normalization over ``(N, C)`` or ``(N, C, L)`` inputs, per channel ``C``.

    Training mode normalizes with the batch's mean and (biased) variance and updates
    ``running_mean``/``running_var`` (with the unbiased variance) by ``momentum``
    (``None``: a cumulative average); eval mode normalizes with the running statistics.

    Example:
        >>> import chainrule as cr
        >>> bn = cr.nn.BatchNorm1d(2)
        >>> bn(cr.tensor([[1.0, 10.0], [3.0, 30.0]])).detach()
        tensor([[-1., -1.],
                [ 1.,  1.]])
        >>> bn.running_mean, bn.num_batches_tracked
        (tensor([0.2, 2. ]), tensor(1))
    """

    _dims = (2, 3)
    _shape_text = "(N, C) or (N, C, L)"


class BatchNorm2d(_BatchNorm):
    """Batch normalization over ``(N, C, H, W)`` inputs, per channel ``C`` (see
    :class:`BatchNorm1d`).

    Example:
        >>> import chainrule as cr
        >>> bn = cr.nn.BatchNorm2d(3)
        >>> bn
        BatchNorm2d(3, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)
        >>> bn(cr.randn(4, 3, 5, 5)).shape
        (4, 3, 5, 5)
    """

    _dims = (4,)
    _shape_text = "(N, C, H, W)"


class LayerNorm(Module):
    """Normalize over the last ``len(normalized_shape)`` dimensions of each sample, then scale
    by ``weight`` and shift by ``bias`` (elementwise, when ``elementwise_affine``).

    Example:
        >>> import chainrule as cr
        >>> ln = cr.nn.LayerNorm(4)
        >>> ln
        LayerNorm((4,), eps=1e-05, elementwise_affine=True, bias=True)
        >>> y = ln(cr.tensor([[1.0, 2.0, 3.0, 4.0]]))
        >>> round(y.mean().item(), 6), round(y.var(correction=0).item(), 3)
        (0.0, 1.0)
    """

    def __init__(
        self,
        normalized_shape: int | Sequence[int],
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(int(s) for s in normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        _register_affine(self, elementwise_affine, bias, self.normalized_shape, dtype, device)

    def reset_parameters(self) -> None:
        """Weight back to ones, bias to zeros."""
        _reset_affine(self, self.elementwise_affine)

    def forward(self, input: Tensor) -> Tensor:
        n = len(self.normalized_shape)
        if tuple(input.shape[input.ndim - n :]) != self.normalized_shape or input.ndim < n:
            raise ValueError(
                f"{self!r} expected an input whose last dimensions are {self.normalized_shape}, "
                f"got shape {tuple(input.shape)}"
            )
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, "
            f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}"
        )


class GroupNorm(Module):
    """Group normalization: split the ``num_channels`` channels of each sample into
    ``num_groups`` groups and normalize each group (over its channels and all positions) to
    mean 0 and variance 1; then, with ``affine``, scale and shift per channel. Independent of
    the batch, so the same in training and eval mode. Input ``(N, C, *)``.

    Example:
        >>> import chainrule as cr
        >>> gn = cr.nn.GroupNorm(2, 4)
        >>> gn
        GroupNorm(2, 4, eps=1e-05, affine=True, bias=True)
        >>> y = gn(cr.randn(3, 4, 5))
        >>> y.shape, round(y[0, :2].mean().item(), 6) == 0.0
        ((3, 4, 5), True)
    """

    def __init__(
        self,
        num_groups: int,
        num_channels: int,
        eps: float = 1e-5,
        affine: bool = True,
        device: Any = None,
        dtype: Any = None,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__()
        for name, v in (("num_groups", num_groups), ("num_channels", num_channels)):
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise ValueError(f"GroupNorm: {name} must be a positive integer, got {v!r}")
        if num_channels % num_groups != 0:
            raise ValueError(
                f"GroupNorm: num_channels ({num_channels}) must be divisible by num_groups "
                f"({num_groups})"
            )
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.eps = eps
        self.affine = affine
        _register_affine(self, affine, bias, num_channels, dtype, device)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Weight back to ones, bias to zeros.

        Example:
            >>> import chainrule as cr
            >>> gn = cr.nn.GroupNorm(1, 2); gn.reset_parameters(); gn.weight.tolist()
            [1.0, 1.0]
        """
        _reset_affine(self, self.affine)

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim < 2 or input.shape[1] != self.num_channels:
            raise ValueError(
                f"{self!r} expected an (N, {self.num_channels}, *) input, got shape "
                f"{tuple(input.shape)}"
            )
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
            f"bias={self.bias is not None}"
        )


class RMSNorm(Module):
    """Root-mean-square normalization over the last ``len(normalized_shape)`` dimensions,
    ``x / sqrt(mean(x^2) + eps)``, then scaled by ``weight`` (ones at first) when
    ``elementwise_affine``; ``eps=None`` means the input dtype's machine epsilon, as in PyTorch.

    Example:
        >>> import chainrule as cr
        >>> rms = cr.nn.RMSNorm(2)
        >>> rms
        RMSNorm((2,), eps=None, elementwise_affine=True)
        >>> rms(cr.tensor([[3.0, -3.0]]))
        tensor([[ 1., -1.]], grad_fn=<RMSNormBackward>)
    """

    def __init__(
        self,
        normalized_shape: int | Sequence[int],
        eps: float | None = None,
        elementwise_affine: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(int(s) for s in normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(ones(self.normalized_shape, dtype=dtype, device=device))
        else:
            self.register_parameter("weight", None)

    def reset_parameters(self) -> None:
        """Weight back to ones.

        Example:
            >>> import chainrule as cr
            >>> m = cr.nn.RMSNorm(2); m.reset_parameters(); m.weight.tolist()
            [1.0, 1.0]
        """
        if self.weight is not None:
            init.ones_(self.weight)

    def forward(self, input: Tensor) -> Tensor:
        return F.rms_norm(input, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
        )
