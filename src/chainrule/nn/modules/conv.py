"""``Conv1d`` and ``Conv2d``: convolution (cross-correlation, as in every deep-learning
library); ``ConvTranspose2d``, its adjoint."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ...creation import empty
from ...tensor import Tensor
from .. import functional as F
from .. import init
from ..module import Module
from ..parameter import Parameter


def _pair(x: Any) -> tuple:
    if isinstance(x, (tuple, list)):
        if len(x) != 2:
            raise ValueError(f"expected an int or a pair of ints, got {x!r}")
        return tuple(int(v) for v in x)
    return (int(x), int(x))


_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


class _ConvNd(Module):
    """What :class:`Conv1d` and :class:`Conv2d` share: the argument checks, the attributes, the
    weight and bias and their initialization, and ``extra_repr``.

    A subclass sets ``_n`` (the number of spatial dimensions), the message texts below, and
    implements ``_check_counts`` and ``_ntuple``; ``_check_sizes`` and ``_check_padding`` are
    further checks it may add.
    """

    _n: int
    _transposed = False  # weight (in, out // groups, *k) instead of (out, in // groups, *k)
    _prefix: str  # what the error messages start with
    _bad_padding_string: str  # formatted with ``padding``
    _strided_same: str  # formatted with ``stride``

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Any,
        stride: Any = 1,
        padding: Any = 0,
        dilation: Any = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        p = self._prefix
        self._check_counts(in_channels, out_channels, groups)
        if in_channels % groups != 0:
            raise ValueError(
                f"{p}in_channels ({in_channels}) must be divisible by groups ({groups})"
            )
        if out_channels % groups != 0:
            raise ValueError(
                f"{p}out_channels ({out_channels}) must be divisible by groups ({groups})"
            )
        if padding_mode not in _PADDING_MODES:
            raise ValueError(
                f"{p}padding_mode must be one of 'zeros', 'reflect', 'replicate', 'circular', "
                f"got {padding_mode!r}"
            )
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        self.kernel_size = self._ntuple(kernel_size, "kernel_size")
        self.stride = self._ntuple(stride, "stride")
        self.dilation = self._ntuple(dilation, "dilation")
        self._check_sizes()
        self.groups = int(groups)
        self.padding_mode = padding_mode
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(self._bad_padding_string.format(padding=padding))
            if padding == "same" and self.stride != (1,) * self._n:
                raise ValueError(self._strided_same.format(stride=self.stride))
            self.padding: Any = padding
            self._reversed_padding_repeated_twice: tuple = ()
            for d, k in zip(reversed(self.dilation), reversed(self.kernel_size)):
                total = d * (k - 1) if padding == "same" else 0
                self._reversed_padding_repeated_twice += (total // 2, total - total // 2)
        else:
            self.padding = self._ntuple(padding, "padding")
            self._check_padding()
            self._reversed_padding_repeated_twice = tuple(
                q for v in reversed(self.padding) for q in (v, v)
            )
        shape = (
            (in_channels, out_channels // groups) if self._transposed
            else (out_channels, in_channels // groups)
        )  # fmt: skip
        self.weight = Parameter(empty(*shape, *self.kernel_size, dtype=dtype, device=device))
        if bias:
            self.bias = Parameter(empty(out_channels, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def _check_counts(self, in_channels: int, out_channels: int, groups: int) -> None:
        raise NotImplementedError

    def _ntuple(self, x: Any, name: str) -> tuple:
        raise NotImplementedError

    def _check_sizes(self) -> None:
        """Further checks of ``kernel_size``, ``stride`` and ``dilation``; none by default."""

    def _check_padding(self) -> None:
        """Further checks of a numeric ``padding``; none by default."""

    def reset_parameters(self) -> None:
        """Draw the weights again with PyTorch's default initialization:
        ``kaiming_uniform_(a=sqrt(5))`` for the weight, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for
        the bias.

        Example:
            >>> import chainrule as cr
            >>> c = cr.nn.Conv2d(1, 1, 2); c.reset_parameters(); bool((c.weight.abs() <= 0.5).all())
            True
            >>> c = cr.nn.Conv1d(2, 3, 4); c.reset_parameters()
            >>> bool((c.weight.abs() <= 1 / 8 ** 0.5).all())
            True
        """
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            if fan_in != 0:
                bound = 1 / math.sqrt(fan_in)
                init.uniform_(self.bias, -bound, bound)

    def extra_repr(self) -> str:
        s = (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}"
        )
        if self.padding != (0,) * self._n:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * self._n:
            s += f", dilation={self.dilation}"
        if getattr(self, "output_padding", (0,) * self._n) != (0,) * self._n:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class Conv2d(_ConvNd):
    """2-D convolution over ``(N, C_in, H, W)`` (or unbatched ``(C_in, H, W)``) inputs.

    ``weight`` has shape ``(out_channels, in_channels // groups, kH, kW)``. ``padding`` may be
    an int, a pair, ``'valid'`` (none) or ``'same'`` (output size = input size, stride 1);
    ``padding_mode`` one of ``'zeros', 'reflect', 'replicate', 'circular'``. Initialization
    is PyTorch's: ``kaiming_uniform_(a=sqrt(5))`` for the weight, U(-1/sqrt(fan_in),
    1/sqrt(fan_in)) for the bias.

    Example:
        >>> import chainrule as cr
        >>> conv = cr.nn.Conv2d(3, 8, kernel_size=3, padding=1)
        >>> conv
        Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
        >>> conv(cr.zeros(2, 3, 16, 16)).shape
        (2, 8, 16, 16)
    """

    _n = 2
    _prefix = ""
    _bad_padding_string = "Invalid padding string {padding!r}, should be one of 'valid', 'same'"
    _strided_same = "padding='same' is not supported for strided convolutions"

    def _check_counts(self, in_channels: int, out_channels: int, groups: int) -> None:
        if groups <= 0:
            raise ValueError("groups must be a positive integer")

    def _ntuple(self, x: Any, name: str) -> tuple:
        return _pair(x)

    def _check_sizes(self) -> None:
        for name, v in (("kernel_size", self.kernel_size), ("stride", self.stride),
                        ("dilation", self.dilation)):  # fmt: skip
            if min(v) <= 0:
                raise ValueError(f"Conv2d: {name} must be positive, got {v}")

    def _check_padding(self) -> None:
        if min(self.padding) < 0:
            raise ValueError(f"Conv2d: padding must be non-negative, got {self.padding}")

    def _conv(self, input: Tensor) -> Tensor:
        if self.padding_mode != "zeros":
            padded = F.pad(input, self._reversed_padding_repeated_twice, mode=self.padding_mode)
            return F.conv2d(
                padded, self.weight, self.bias, self.stride, 0, self.dilation, self.groups
            )
        padding = self.padding
        if isinstance(padding, str):
            pad = self._reversed_padding_repeated_twice
            if pad[0] != pad[1] or pad[2] != pad[3]:  # even kernel, 'same': pad unevenly first
                input = F.pad(input, pad)
                padding = 0
            else:
                padding = (pad[2], pad[0])
        return F.conv2d(
            input, self.weight, self.bias, self.stride, padding, self.dilation, self.groups
        )

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim not in (3, 4) or input.shape[-3] != self.in_channels:
            raise ValueError(
                f"{self!r} expected a (N, {self.in_channels}, H, W) or ({self.in_channels}, H, W) "
                f"input, got shape {tuple(input.shape)}"
            )
        if input.ndim == 3:
            return self._conv(input.unsqueeze(0)).squeeze(0)
        return self._conv(input)


def _single(x: Any, name: str) -> tuple:
    if isinstance(x, (tuple, list)):
        if len(x) != 1:
            raise ValueError(f"Conv1d: {name} must be an int or a 1-tuple, got {x!r}")
        x = x[0]
    if isinstance(x, bool) or not isinstance(x, (int, np.integer)):
        raise TypeError(f"Conv1d: {name} must be an int or a 1-tuple, got {x!r}")
    return (int(x),)


class Conv1d(_ConvNd):
    """1-D convolution over ``(N, C_in, L)`` (or unbatched ``(C_in, L)``) inputs.

    ``weight`` has shape ``(out_channels, in_channels // groups, k)``. ``padding`` may be an
    int, ``'valid'`` (none) or ``'same'`` (output length = input length, stride 1);
    ``padding_mode`` one of ``'zeros', 'reflect', 'replicate', 'circular'``. Initialization is
    PyTorch's (see :class:`Conv2d`). Computed by :func:`~chainrule.nn.functional.conv1d`, a
    height-1 :func:`~chainrule.nn.functional.conv2d`.

    Example:
        >>> import chainrule as cr
        >>> conv = cr.nn.Conv1d(4, 8, kernel_size=3, padding="same")
        >>> conv
        Conv1d(4, 8, kernel_size=(3,), stride=(1,), padding=same)
        >>> conv(cr.zeros(2, 4, 10)).shape, conv.weight.shape
        ((2, 8, 10), (8, 4, 3))
    """

    _n = 1
    _prefix = "Conv1d: "
    _bad_padding_string = (
        "Conv1d: invalid padding string {padding!r}, should be one of 'valid', 'same'"
    )
    _strided_same = (
        "Conv1d: padding='same' is not supported for strided convolutions (stride={stride})"
    )

    def _check_counts(self, in_channels: int, out_channels: int, groups: int) -> None:
        for name, v in (("in_channels", in_channels), ("out_channels", out_channels),
                        ("groups", groups)):  # fmt: skip
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0:
                raise ValueError(f"Conv1d: {name} must be a positive integer, got {v!r}")

    def _ntuple(self, x: Any, name: str) -> tuple:
        return _single(x, name)

    def _check_sizes(self) -> None:
        for name, v in (("kernel_size", self.kernel_size), ("stride", self.stride),
                        ("dilation", self.dilation)):  # fmt: skip
            if v[0] <= 0:
                raise ValueError(f"Conv1d: {name} must be positive, got {v}")

    def _check_padding(self) -> None:
        if self.padding[0] < 0:
            raise ValueError(f"Conv1d: padding must be non-negative, got {self.padding}")

    def _conv(self, input: Tensor) -> Tensor:
        pad = self._reversed_padding_repeated_twice
        if self.padding_mode != "zeros":
            padded = F.pad(input, pad, mode=self.padding_mode)
            return F.conv1d(
                padded, self.weight, self.bias, self.stride, 0, self.dilation, self.groups
            )
        padding = self.padding
        if isinstance(padding, str) and pad[0] != pad[1]:  # even kernel, 'same': pad unevenly
            input, padding = F.pad(input, pad), 0
        return F.conv1d(
            input, self.weight, self.bias, self.stride, padding, self.dilation, self.groups
        )

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim not in (2, 3) or input.shape[-2] != self.in_channels:
            raise ValueError(
                f"{self!r} expected a (N, {self.in_channels}, L) or ({self.in_channels}, L) "
                f"input, got shape {tuple(input.shape)}"
            )
        return self._conv(input)


class ConvTranspose2d(_ConvNd):
    """2-D transposed convolution over ``(N, C_in, H, W)`` (or unbatched ``(C_in, H, W)``)
    inputs, as PyTorch's: the gradient of :class:`Conv2d` with respect to its input, computed
    by :func:`~chainrule.nn.functional.conv_transpose2d`.

    ``weight`` has shape ``(in_channels, out_channels // groups, kH, kW)``; initialization is
    PyTorch's (see :class:`Conv2d`). The output is ``(H - 1) stride - 2 padding +
    dilation (kH - 1) + output_padding + 1`` high (likewise wide); ``forward(input,
    output_size)`` picks the ``output_padding`` that gives ``output_size``.

    Example:
        >>> import chainrule as cr
        >>> up = cr.nn.ConvTranspose2d(8, 4, kernel_size=3, stride=2, padding=1, output_padding=1)
        >>> cr.nn.ConvTranspose2d(8, 4, 3, stride=2, bias=False)
        ConvTranspose2d(8, 4, kernel_size=(3, 3), stride=(2, 2), bias=False)
        >>> up(cr.zeros(2, 8, 5, 5)).shape, up.weight.shape
        ((2, 4, 10, 10), (8, 4, 3, 3))
        >>> up(cr.zeros(2, 8, 5, 5), output_size=(9, 9)).shape
        (2, 4, 9, 9)
    """

    _n = 2
    _transposed = True
    _prefix = ""
    _bad_padding_string = "ConvTranspose2d: padding must be an int or a pair, got {padding!r}"
    _strided_same = ""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Any,
        stride: Any = 1,
        padding: Any = 0,
        output_padding: Any = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: Any = 1,
        padding_mode: str = "zeros",
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        if padding_mode != "zeros":
            raise ValueError('Only "zeros" padding mode is supported for ConvTranspose2d')
        if isinstance(padding, str):
            raise ValueError(self._bad_padding_string.format(padding=padding))
        super().__init__(
            in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
            padding_mode, device, dtype,
        )  # fmt: skip
        self.output_padding = _pair(output_padding)

    def _check_counts(self, in_channels: int, out_channels: int, groups: int) -> None:
        if groups <= 0:
            raise ValueError("groups must be a positive integer")

    def _ntuple(self, x: Any, name: str) -> tuple:
        return _pair(x)

    def _output_padding(self, input: Tensor, output_size: Any) -> tuple:
        """The ``output_padding`` that makes the output ``output_size`` (PyTorch's rule)."""
        if output_size is None:
            return self.output_padding
        size = [int(v) for v in output_size]
        if len(size) == input.ndim:  # (N, C, H, W) given: keep the spatial part
            size = size[2:]
        if len(size) != 2:
            raise ValueError(
                f"ConvTranspose2d expected output_size of 2 or 4 elements, got {len(size)}"
            )
        mins = [
            (input.shape[d - 2] - 1) * self.stride[d] - 2 * self.padding[d]
            + self.dilation[d] * (self.kernel_size[d] - 1) + 1
            for d in range(2)
        ]  # fmt: skip
        maxs = [m + s - 1 for m, s in zip(mins, self.stride)]
        for s, lo, hi in zip(size, mins, maxs):
            if not lo <= s <= hi:
                raise ValueError(
                    f"requested an output size of {size}, but valid sizes range from {mins} to "
                    f"{maxs} (for an input of {list(input.shape[-2:])})"
                )
        return tuple(s - m for s, m in zip(size, mins))

    def forward(self, input: Tensor, output_size: Any = None) -> Tensor:
        if input.ndim not in (3, 4) or input.shape[-3] != self.in_channels:
            raise ValueError(
                f"{self!r} expected a (N, {self.in_channels}, H, W) or ({self.in_channels}, H, W) "
                f"input, got shape {tuple(input.shape)}"
            )
        return F.conv_transpose2d(
            input, self.weight, self.bias, self.stride, self.padding,
            self._output_padding(input, output_size), self.groups, self.dilation,
        )  # fmt: skip
