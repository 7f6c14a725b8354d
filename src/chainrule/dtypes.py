"""The dtypes chainrule names, as NumPy dtype objects, and PyTorch's promotion defaults."""

from __future__ import annotations

from typing import Any

import numpy as np

float32 = np.dtype("float32")
float64 = np.dtype("float64")
float16 = np.dtype("float16")
int64 = np.dtype("int64")
int32 = np.dtype("int32")
bool_ = np.dtype("bool")
float = float32  # noqa: A001 - PyTorch's alias
double = float64
long = int64

_default_float = float32


def get_default_dtype() -> np.dtype:
    """The dtype Python floats become (``float32``, as in PyTorch).

    Example:
        >>> get_default_dtype()
        dtype('float32')
    """
    return _default_float


def set_default_dtype(dtype: Any) -> None:
    """Make Python floats and float factories use ``dtype`` (float32 or float64).

    Example:
        >>> set_default_dtype(float64); set_default_dtype(float32)
    """
    global _default_float
    dt = np.dtype(dtype)
    if dt.kind != "f":
        raise TypeError(f"set_default_dtype: expected a floating dtype, got {dt}")
    _default_float = dt


def is_floating(dtype: Any) -> bool:
    """True for floating dtypes: the only ones that can require grad.

    Example:
        >>> is_floating(float32), is_floating(int64)
        (True, False)
    """
    return np.dtype(dtype).kind == "f"
