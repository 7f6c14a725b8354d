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


def require_cupy(what: str) -> ModuleType:
    """The ``cupy`` module, or a ``RuntimeError`` saying that ``what`` needs CuPy and a GPU and
    how to get them.

    Example:
        >>> try:
        ...     _ = require_cupy("x.to('cuda')")
        ... except RuntimeError as e:
        ...     assert "pip install 'chainrule[gpu]'" in str(e)
    """
    cp = cupy_module()
    if cp is None:
        raise RuntimeError(
            f"{what}: the 'cuda' device needs CuPy and an NVIDIA GPU with a working CUDA driver, "
            f"and none is usable here. Install the GPU backend with pip install 'chainrule[gpu]' "
            f"on a machine with a CUDA GPU, or keep the tensors on 'cpu' "
            f"(chainrule.cuda.is_available() tells which)."
        )
    return cp


def to_device(a: Any, device: Any) -> Any:
    """Move array ``a`` to ``device`` (``"cpu"``, ``"cuda"``, ``"cuda:1"``, a
    :class:`chainrule.device` or a GPU index), copying only if it must.

    Example:
        >>> to_device(np.ones(2), "cpu").tolist()
        [1.0, 1.0]
    """
    from ._device import as_device

    try:
        d = as_device(device)
    except (RuntimeError, TypeError) as e:
        raise ValueError(f"unknown device {device!r}: expected 'cpu' or 'cuda' ({e})") from None
    if d.type == "cpu":
        return a.get() if device_of(a) == "cuda" else a
    if d.type == "cuda":
        cp = require_cupy(f"moving a tensor to {str(d)!r}")
        if d.index is None:
            return cp.asarray(a)
        if d.index >= cp.cuda.runtime.getDeviceCount():
            raise RuntimeError(
                f"CUDA error: invalid device ordinal {d.index} "
                f"({cp.cuda.runtime.getDeviceCount()} GPUs)"
            )
        if device_of(a) == "cuda" and a.device.id == d.index:
            return a
        with cp.cuda.Device(d.index):
            return cp.asarray(a)
    raise ValueError(f"unknown device {str(d)!r}: chainrule tensors live on 'cpu' or 'cuda'")
