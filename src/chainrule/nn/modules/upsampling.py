"""``Upsample``: :func:`~chainrule.nn.functional.interpolate` as a layer."""

from __future__ import annotations

from typing import Any

from ...tensor import Tensor
from .. import functional as F
from ..module import Module


class Upsample(Module):
    """Resize ``(N, C, L)`` or ``(N, C, H, W)`` inputs to ``size`` or by ``scale_factor``,
    modes ``'nearest'``, ``'linear'``, ``'bilinear'`` (``align_corners`` for the linear ones),
    as PyTorch's ``nn.Upsample``.

    Example:
        >>> import chainrule as cr
        >>> up = cr.nn.Upsample(scale_factor=2, mode="bilinear")
        >>> up
        Upsample(scale_factor=2.0, mode='bilinear')
        >>> up(cr.zeros(1, 3, 4, 5)).shape
        (1, 3, 8, 10)
    """

    def __init__(
        self,
        size: Any = None,
        scale_factor: Any = None,
        mode: str = "nearest",
        align_corners: bool | None = None,
        recompute_scale_factor: bool | None = None,
    ) -> None:
        super().__init__()
        self.name = type(self).__name__
        self.size = size
        if isinstance(scale_factor, (tuple, list)):
            self.scale_factor: Any = tuple(float(f) for f in scale_factor)
        else:
            self.scale_factor = float(scale_factor) if scale_factor is not None else None
        self.mode = mode
        self.align_corners = align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, input: Tensor) -> Tensor:
        return F.interpolate(
            input, self.size, self.scale_factor, self.mode, self.align_corners,
            recompute_scale_factor=self.recompute_scale_factor,
        )  # fmt: skip

    def extra_repr(self) -> str:
        if self.scale_factor is not None:
            info = f"scale_factor={self.scale_factor!r}"
        else:
            info = f"size={self.size!r}"
        return info + f", mode={self.mode!r}"
