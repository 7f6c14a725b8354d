"""``chainrule.backends.mps``: Apple's Metal GPU, which chainrule does not use.

Example:
    >>> is_available(), is_built()
    (False, False)
"""

from __future__ import annotations


def is_available() -> bool:
    """Always False: chainrule runs on NumPy (CPU) or CuPy (NVIDIA GPUs), never on Metal.

    Example:
        >>> is_available()
        False
    """
    return False


def is_built() -> bool:
    """Always False: no Metal backend is built into chainrule.

    Example:
        >>> is_built()
        False
    """
    return False
