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
    """The NumPy generator behind ``rand``, ``randn``, ``randint``, dropout and initializers
    (inside ``vmap``, one that follows its ``randomness`` policy: see :func:`under_vmap`).

    Example:
        >>> isinstance(default_rng(), np.random.Generator)
        True
    """
    return under_vmap(_default.numpy) if _VMAP else _default.numpy


# The vmap levels running now (outermost first): random draws follow their randomness policy
_VMAP: list = []


def under_vmap(rng: np.random.Generator) -> Any:
    """``rng`` as the random ops inside the running ``vmap`` levels see it: itself outside vmap
    and for ``randomness='same'``; for ``'different'``, draws get one sample per example (a
    batched value); for ``'error'``, a draw raises.

    Example:
        >>> under_vmap(default_rng()) is default_rng()
        True
    """
    if not _VMAP:
        return rng
    if any(t.randomness == "error" for t in _VMAP):
        raise RuntimeError(
            "vmap: called a random operation while in randomness='error' mode. Use "
            "randomness='same' (one draw for the whole batch) or 'different' (one per example) "
            "on vmap, or draw the random values outside vmap"
        )
    levels = [t for t in _VMAP if t.randomness == "different"]
    return _BatchedRNG(rng, levels) if levels else rng


class _BatchedRNG:
    """A generator whose draws carry one sample per example of each ``'different'`` level."""

    def __init__(self, rng: np.random.Generator, levels: list) -> None:
        self.rng = rng
        self.levels = levels

    def _wrap(self, draw: Any, size: Any) -> Any:
        from .ops.batching import BatchTracer

        size = () if size is None else (size,) if isinstance(size, int) else tuple(size)
        lead = tuple(t.size for t in self.levels)
        v = draw(lead + size)
        for t in self.levels:  # the outermost level's tracer is the innermost's value
            v = BatchTracer(t, v)
        return v

    def random(self, size: Any = None, dtype: Any = np.float64) -> Any:
        return self._wrap(lambda s: self.rng.random(s, dtype=dtype), size)

    def standard_normal(self, size: Any = None, dtype: Any = np.float64) -> Any:
        return self._wrap(lambda s: self.rng.standard_normal(s, dtype=dtype), size)

    def normal(self, loc: float = 0.0, scale: float = 1.0, size: Any = None) -> Any:
        return self._wrap(lambda s: self.rng.normal(loc, scale, s), size)

    def uniform(self, low: float = 0.0, high: float = 1.0, size: Any = None) -> Any:
        return self._wrap(lambda s: self.rng.uniform(low, high, s), size)

    def integers(self, low: Any, high: Any = None, size: Any = None, dtype: Any = np.int64,
                 endpoint: bool = False) -> Any:  # fmt: skip
        return self._wrap(lambda s: self.rng.integers(low, high, s, dtype, endpoint), size)

    def __getattr__(self, name: str) -> Any:
        raise NotImplementedError(
            f"vmap(randomness='different'): numpy.random.Generator.{name} is not supported "
            "inside vmap"
        )


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
