"""``chainrule.backends.cudnn``: the flags torch scripts set; chainrule convolves with NumPy or
CuPy matrix products, not cuDNN, so they change nothing (results are deterministic anyway).

Example:
    >>> import chainrule as cr
    >>> cr.backends.cudnn.deterministic = True; cr.backends.cudnn.benchmark = False
    >>> cr.backends.cudnn.is_available()
    False
"""

from __future__ import annotations

enabled: bool = True
benchmark: bool = False
deterministic: bool = False
allow_tf32: bool = True


def is_available() -> bool:
    """Always False: chainrule does not call cuDNN.

    Example:
        >>> is_available()
        False
    """
    return False


def version() -> None:
    """``None``: no cuDNN is loaded (torch also returns ``None`` without it).

    Example:
        >>> version() is None
        True
    """
    return None
