"""``chainrule.Size``: the type of ``Tensor.shape`` and ``Tensor.size()``, as ``torch.Size``."""

from __future__ import annotations

import operator
from typing import Any, SupportsIndex

import numpy as np


class Size(tuple):
    """A tuple of dimension sizes, as ``torch.Size``: slicing and ``+`` give a ``Size`` again, and
    ``numel()`` is the number of elements a tensor of this shape holds. It prints as the tuple it
    is, ``(2, 3)`` (torch: ``torch.Size([2, 3])``), so shapes read the same as NumPy's.

    Example:
        >>> import chainrule as cr
        >>> s = cr.zeros(2, 3, 4).shape
        >>> s, s.numel(), s[1:], type(s[1:]).__name__, s == (2, 3, 4)
        ((2, 3, 4), 24, (3, 4), 'Size', True)
    """

    __slots__ = ()

    def __new__(cls, sizes: Any = ()) -> Size:
        try:
            dims = tuple(operator.index(s) for s in sizes)
        except TypeError:
            bad = next(s for s in sizes if not isinstance(s, (int, np.integer)))
            raise TypeError(
                f"Size: expected a sequence of ints, but got an element of type "
                f"{type(bad).__name__} ({bad!r})"
            ) from None
        return tuple.__new__(cls, dims)

    def numel(self) -> int:
        """The number of elements of a tensor with this shape (1 for ``()``).

        Example:
            >>> Size([2, 3]).numel()
            6
        """
        n = 1
        for s in self:
            n *= s
        return n

    def __getitem__(self, key: SupportsIndex | slice) -> Any:  # type: ignore[override]
        out = tuple.__getitem__(self, key)
        return tuple.__new__(Size, out) if isinstance(key, slice) else out

    def __add__(self, other: Any) -> Size:  # type: ignore[override]
        if not isinstance(other, tuple):
            return NotImplemented
        return Size(tuple.__add__(self, other))

    def __radd__(self, other: Any) -> Size:
        if not isinstance(other, tuple):
            return NotImplemented
        return Size(tuple.__add__(other, self))

    def __mul__(self, n: SupportsIndex) -> Size:  # type: ignore[override]
        return tuple.__new__(Size, tuple.__mul__(self, n))

    __rmul__ = __mul__

    def __reduce__(self) -> tuple:
        return (Size, (tuple(self),))


_CACHE: dict = {}
_new = tuple.__new__


def size_of(shape: tuple) -> Size:
    """``shape`` (an array's tuple) as a :class:`Size`, from a small cache: ``Tensor.shape`` is
    read on every op, and a dict hit costs a fifth of building a tuple subclass.

    Example:
        >>> size_of((2, 3)) is size_of((2, 3))
        True
    """
    s = _CACHE.get(shape)
    if s is None:
        if len(_CACHE) >= 4096:  # many distinct shapes (varying lengths): start over
            _CACHE.clear()
        s = _CACHE[shape] = _new(Size, shape)
    return s
