"""Pooling: ``MaxPool2d``, ``AvgPool2d``, ``AdaptiveAvgPool1d`` and ``AdaptiveAvgPool2d``."""

from __future__ import annotations

from typing import Any

from ...tensor import Tensor
from .. import functional as F
from ..module import Module


def _check_input(module: Module, input: Tensor) -> None:
    if input.ndim not in (3, 4):
        raise ValueError(
            f"{module!r} expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, "
            f"got shape {tuple(input.shape)}"
        )


class MaxPool2d(Module):
    """The maximum over each ``kernel_size`` window, moved by ``stride`` (default: the kernel
    size). Input ``(N, C, H, W)`` or ``(C, H, W)``.

    Example:
        >>> import chainrule as cr
        >>> pool = cr.nn.MaxPool2d(2)
        >>> pool
        MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
        >>> pool(cr.arange(16.0).reshape(1, 1, 4, 4))
        tensor([[[[ 5.,  7.],
                  [13., 15.]]]])
    """

    def __init__(
        self,
        kernel_size: Any,
        stride: Any = None,
        padding: Any = 0,
        dilation: Any = 1,
        return_indices: bool = False,
        ceil_mode: bool = False,
    ) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode

    def forward(self, input: Tensor) -> Any:
        _check_input(self, input)
        kwargs: dict = {}
        if self.return_indices:
            kwargs["return_indices"] = True
        if self.ceil_mode:
            kwargs["ceil_mode"] = True
        if self.dilation != 1:
            kwargs["dilation"] = self.dilation
        return F.max_pool2d(input, self.kernel_size, self.stride, self.padding, **kwargs)

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"dilation={self.dilation}, ceil_mode={self.ceil_mode}"
        )


class AvgPool2d(Module):
    """The mean over each ``kernel_size`` window, moved by ``stride`` (default: the kernel
    size). Zero padding counts in the mean unless ``count_include_pad=False``.

    Example:
        >>> import chainrule as cr
        >>> pool = cr.nn.AvgPool2d(2)
        >>> pool
        AvgPool2d(kernel_size=2, stride=2, padding=0)
        >>> pool(cr.arange(16.0).reshape(1, 1, 4, 4))
        tensor([[[[ 2.5,  4.5],
                  [10.5, 12.5]]]])
    """

    def __init__(
        self,
        kernel_size: Any,
        stride: Any = None,
        padding: Any = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override: int | None = None,
    ) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def forward(self, input: Tensor) -> Tensor:
        _check_input(self, input)
        kwargs: dict = {}
        if self.ceil_mode:
            kwargs["ceil_mode"] = True
        if not self.count_include_pad:
            kwargs["count_include_pad"] = False
        if self.divisor_override is not None:
            kwargs["divisor_override"] = self.divisor_override
        return F.avg_pool2d(input, self.kernel_size, self.stride, self.padding, **kwargs)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


def _check_output_size(name: str, output_size: Any, n: int) -> Any:
    sizes = output_size if isinstance(output_size, (tuple, list)) else (output_size,) * n
    if isinstance(output_size, (tuple, list)) and len(sizes) != n:
        raise ValueError(f"{name}: output_size must be an int or a {n}-tuple, got {output_size!r}")
    for v in sizes:
        if v is None and n > 1:
            continue
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ValueError(
                f"{name}: output_size entries must be non-negative ints"
                f"{' or None' if n > 1 else ''}, got {output_size!r}"
            )
    return tuple(output_size) if isinstance(output_size, list) else output_size


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed output size ``(oh, ow)`` whatever the input size, with
    PyTorch's bins: output row ``i`` averages input rows ``floor(i*H/oh)`` to
    ``ceil((i+1)*H/oh) - 1``. ``output_size`` is an int or a pair; ``None`` keeps that size.

    Example:
        >>> import chainrule as cr
        >>> pool = cr.nn.AdaptiveAvgPool2d((1, 1))
        >>> pool
        AdaptiveAvgPool2d(output_size=(1, 1))
        >>> pool(cr.arange(8.0).reshape(2, 2, 2))
        tensor([[[1.5]],
        <BLANKLINE>
                [[5.5]]])
        >>> cr.nn.AdaptiveAvgPool2d((None, 3))(cr.zeros(2, 4, 5, 7)).shape
        (2, 4, 5, 3)
    """

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        self.output_size = _check_output_size("AdaptiveAvgPool2d", output_size, 2)

    def forward(self, input: Tensor) -> Tensor:
        _check_input(self, input)
        return F.adaptive_avg_pool2d(input, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveAvgPool1d(Module):
    """Average pooling of ``(N, C, L)`` or ``(C, L)`` inputs to a fixed length, with the bins
    of :class:`AdaptiveAvgPool2d`.

    Example:
        >>> import chainrule as cr
        >>> cr.nn.AdaptiveAvgPool1d(2)(cr.tensor([[1.0, 2.0, 3.0, 4.0]]))
        tensor([[1.5, 3.5]])
    """

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        self.output_size = _check_output_size("AdaptiveAvgPool1d", output_size, 1)

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim not in (2, 3):
            raise ValueError(
                f"{self!r} expected a 2-D (C, L) or 3-D (N, C, L) input, "
                f"got shape {tuple(input.shape)}"
            )
        return F.adaptive_avg_pool1d(input, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"
