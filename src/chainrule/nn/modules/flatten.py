"""``Flatten`` and ``Unflatten``: reshape a range of dimensions."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ...tensor import Tensor
from ..module import Module


class Flatten(Module):
    """Merge dimensions ``start_dim..end_dim`` into one (the batch dimension stays by default).

    Example:
        >>> import chainrule as cr
        >>> cr.nn.Flatten()(cr.zeros(32, 1, 5, 5)).shape
        (32, 25)
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input: Tensor) -> Tensor:
        return input.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split dimension ``dim`` into ``unflattened_size``.

    Example:
        >>> import chainrule as cr
        >>> cr.nn.Unflatten(1, (2, 5))(cr.zeros(3, 10)).shape
        (3, 2, 5)
    """

    def __init__(self, dim: int, unflattened_size: Sequence[int]) -> None:
        super().__init__()
        self.dim = dim
        self.unflattened_size = tuple(int(s) for s in unflattened_size)

    def forward(self, input: Tensor) -> Tensor:
        d = self.dim % input.ndim if input.ndim else 0
        size = self.unflattened_size
        if -1 not in size and int(np.prod(size)) != input.shape[d]:
            raise ValueError(
                f"{self!r}: sizes {size} do not multiply to dimension {d} of the input, "
                f"shape {tuple(input.shape)}"
            )
        return input.reshape(*input.shape[:d], *size, *input.shape[d + 1 :])

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
