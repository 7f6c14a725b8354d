"""Which array library a tensor's data lives on: NumPy on the CPU, CuPy on a GPU.

Every op reaches its array functions through :func:`array_module`, so a CuPy array can stand
wherever a NumPy array stands.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

_cupy: ModuleType | None = None


def cupy_module() -> ModuleType | None:
    """Return the ``cupy`` module if it imports and a GPU is usable, else ``None``.

    Example:
        >>> cupy_module() is None or cupy_module().__name__ == "cupy"
        True
    """
    global _cupy
    if _cupy is None:
        try:
            import cupy  # type: ignore[import-not-found]

            cupy.cuda.runtime.getDeviceCount()
            _cupy = cupy
        except Exception:  # ImportError, or CUDA present but no device
            _cupy = False  # type: ignore[assignment]
    return _cupy or None


def array_module(a: Any) -> ModuleType:
    """Return ``numpy`` or ``cupy``: the module that owns array ``a``.

    Example:
        >>> array_module(np.zeros(2)).__name__
        'numpy'
    """
    if type(a).__module__.startswith("cupy"):
        return cupy_module()  # type: ignore[return-value]
    return np


def device_of(a: Any) -> str:
    """Return ``"cuda"`` for a CuPy array and ``"cpu"`` otherwise.

    Example:
        >>> device_of(np.zeros(2))
        'cpu'
    """
    return "cuda" if type(a).__module__.startswith("cupy") else "cpu"


def to_device(a: Any, device: str) -> Any:
    """Move array ``a`` to ``device`` (``"cpu"`` or ``"cuda"``), copying only if it must.

    Example:
        >>> to_device(np.ones(2), "cpu").tolist()
        [1.0, 1.0]
    """
    device = str(device).split(":")[0]
    if device == "cpu":
        return a.get() if device_of(a) == "cuda" else a
    if device == "cuda":
        cp = cupy_module()
        if cp is None:
            raise RuntimeError(
                "device 'cuda' needs CuPy and an NVIDIA GPU: pip install 'chainrule[gpu]'"
            )
        return cp.asarray(a)
    raise ValueError(f"unknown device {device!r}: expected 'cpu' or 'cuda'")
