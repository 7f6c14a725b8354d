"""The dtypes chainrule names, as NumPy dtype objects, and PyTorch's promotion defaults."""

from __future__ import annotations

from typing import Any

import numpy as np

float32 = np.dtype("float32")
float64 = np.dtype("float64")
float16 = np.dtype("float16")
complex64 = np.dtype("complex64")
complex128 = np.dtype("complex128")
int64 = np.dtype("int64")
int32 = np.dtype("int32")
int16 = np.dtype("int16")
int8 = np.dtype("int8")
uint8 = np.dtype("uint8")
uint16 = np.dtype("uint16")
uint32 = np.dtype("uint32")
uint64 = np.dtype("uint64")
bool_ = np.dtype("bool")
# PyTorch's aliases (``chainrule.float``, ``chainrule.int`` and ``chainrule.bool`` are bound in
# the package namespace, where they may shadow the builtins)
float = float32  # noqa: A001
double = float64
half = float16
cfloat = complex64
cdouble = complex128
long = int64
short = int16
dtype = np.dtype  # the type of every dtype: ``isinstance(x.dtype, chainrule.dtype)``
finfo = np.finfo  # ``chainrule.finfo(chainrule.float32).eps``, as torch.finfo
iinfo = np.iinfo

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
