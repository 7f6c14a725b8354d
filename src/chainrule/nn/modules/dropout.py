"""``Dropout`` and ``Dropout2d``: zero random elements (or whole channels) while training,
scaling the rest by ``1 / (1 - p)``."""

from __future__ import annotations

from ...tensor import Tensor
from .. import functional as F
from ..module import Module


class Dropout(Module):
    """In training mode, zero each element with probability ``p`` and scale the survivors by
    ``1 / (1 - p)``; in eval mode, the identity. Draws from the global generator.

    ``inplace=True`` writes the result into the input (recorded like any in-place op).

    Example:
        >>> import chainrule as cr
        >>> drop = cr.nn.Dropout(0.5)
        >>> y = drop(cr.ones(1000))
        >>> sorted(set(y.tolist()))
        [0.0, 2.0]
        >>> drop.eval()(cr.ones(3))
        tensor([1., 1., 1.])
    """

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout(input, self.p, self.training, self.inplace)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout2d(Module):
    """In training mode, zero each whole channel (each ``(n, c)`` feature map of an
    ``(N, C, H, W)`` input) with probability ``p`` and scale the others by ``1 / (1 - p)``;
    in eval mode, the identity. A 3-D input is read as ``(N, C, L)``, as in PyTorch.

    Example:
        >>> import chainrule as cr
        >>> drop = cr.nn.Dropout2d(0.5)
        >>> drop
        Dropout2d(p=0.5, inplace=False)
        >>> y = drop(cr.ones(4, 8, 3, 3))  # each 3x3 map is all 0 or all 2
        >>> bool((y.amax((2, 3)) == y.amin((2, 3))).all()), sorted(set(y.reshape(-1).tolist()))
        (True, [0.0, 2.0])
        >>> drop.eval()(cr.ones(1, 1, 1, 2))
        tensor([[[[1., 1.]]]])
    """

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(
                f"Dropout2d: dropout probability has to be between 0 and 1, but got {p}"
            )
        self.p = p
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout2d(input, self.p, self.training, self.inplace)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"
