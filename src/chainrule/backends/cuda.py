"""``chainrule.backends.cuda``: ``matmul.allow_tf32`` and friends, as plain flags (CuPy's matrix
products run in the tensors' own precision).

Example:
    >>> import chainrule as cr
    >>> cr.backends.cuda.matmul.allow_tf32 = True
    >>> cr.backends.cuda.is_built()
    False
"""

from __future__ import annotations

from types import SimpleNamespace

matmul = SimpleNamespace(allow_tf32=False, allow_fp16_reduced_precision_reduction=True)


def is_built() -> bool:
    """True when the CuPy backend is usable (chainrule has no separate CUDA build).

    Example:
        >>> isinstance(is_built(), bool)
        True
    """
    from ..backend import cupy_module

    return cupy_module() is not None
