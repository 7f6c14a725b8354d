"""``chainrule.backends.cpu``: what the CPU backend offers.

Example:
    >>> get_cpu_capability()
    'numpy'
"""

from __future__ import annotations


def get_cpu_capability() -> str:
    """``'numpy'``: the CPU kernels are NumPy's (torch names a SIMD level here).

    Example:
        >>> get_cpu_capability()
        'numpy'
    """
    return "numpy"
