"""Random number generation: a global generator that ``manual_seed`` resets, and ``Generator``."""

from __future__ import annotations

from typing import Any

import numpy as np


class Generator:
    """A seeded source of randomness (wraps ``numpy.random.Generator``), as ``torch.Generator``.

    Example:
        >>> g = Generator().manual_seed(0)
        >>> int(g.numpy.integers(0, 10))
        8
    """

    def __init__(self, seed: Any = None, device: Any = "cpu") -> None:
        if isinstance(seed, str) or type(seed).__name__ == "device":  # torch: Generator(device)
            seed, device = None, seed
        from ._device import as_device

        self.device = as_device(device)  # samples are drawn on the CPU and moved
        self.numpy = np.random.default_rng(seed)
        self._seed = seed

    def manual_seed(self, seed: int) -> Generator:
        """Reset the generator from ``seed`` and return it (a negative seed is read as its
        64-bit two's complement, as torch does)."""
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
            raise TypeError(f"manual_seed: seed must be an int, got {type(seed).__name__}")
        self.numpy = np.random.default_rng(int(seed) & 0xFFFF_FFFF_FFFF_FFFF)
        self._seed = seed
        return self

    def initial_seed(self) -> int | None:
        """The seed last given."""
        return self._seed


_default = Generator()


def default_rng() -> np.random.Generator:
    """The NumPy generator behind ``rand``, ``randn``, ``randint``, dropout and initializers.

    Example:
        >>> isinstance(default_rng(), np.random.Generator)
        True
    """
    return _default.numpy


def default_generator() -> Generator:
    """The global :class:`Generator`.

    Example:
        >>> isinstance(default_generator(), Generator)
        True
    """
    return _default


def manual_seed(seed: int) -> Generator:
    """Seed the global generator, so ``rand``/``randn``/initialization are reproducible.

    Example:
        >>> import chainrule as cr
        >>> _ = cr.manual_seed(0); a = cr.rand(2)
        >>> _ = cr.manual_seed(0); bool((a == cr.rand(2)).all())
        True
    """
    return _default.manual_seed(seed)
