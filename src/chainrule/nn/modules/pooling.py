"""2-D pooling: ``MaxPool2d`` and ``AvgPool2d``."""

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
