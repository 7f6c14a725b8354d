"""``chainrule.cuda``: is a GPU usable, how many, and the calls scripts make around them.

Tensors on ``'cuda'`` are CuPy arrays (see :mod:`chainrule.backend`); ``is_available()`` is True
only when CuPy imports and sees a GPU (``pip install 'chainrule[gpu]'`` on a machine with an
NVIDIA GPU).

Example:
    >>> import chainrule as cr
    >>> device = "cuda" if cr.cuda.is_available() else "cpu"
    >>> cr.zeros(2, device=device).device.type == device
    True
"""

from __future__ import annotations

from .backend import cupy_module, require_cupy

__all__ = [
    "is_available", "device_count", "current_device", "synchronize", "manual_seed",
    "manual_seed_all", "empty_cache", "get_device_name",
]  # fmt: skip


def is_available() -> bool:
    """True when CuPy is installed and can reach at least one GPU.

    Example:
        >>> isinstance(is_available(), bool)
        True
    """
    return cupy_module() is not None


def device_count() -> int:
    """The number of usable GPUs (0 without CuPy or a GPU).

    Example:
        >>> device_count() >= 0
        True
    """
    cp = cupy_module()
    return 0 if cp is None else int(cp.cuda.runtime.getDeviceCount())


def current_device() -> int:
    """The index of the current GPU (raises without one, as torch).

    Example:
        >>> is_available() or current_device()
        Traceback (most recent call last):
        ...
        RuntimeError: current_device(): the 'cuda' device needs CuPy ...
    """
    return int(require_cupy("current_device()").cuda.runtime.getDevice())


def get_device_name(device: int | None = None) -> str:
    """The name of GPU ``device`` (the current one by default).

    Example:
        >>> is_available() or get_device_name()
        Traceback (most recent call last):
        ...
        RuntimeError: get_device_name(): the 'cuda' device needs CuPy ...
    """
    cp = require_cupy("get_device_name()")
    idx = cp.cuda.runtime.getDevice() if device is None else int(getattr(device, "index", device))
    name = cp.cuda.runtime.getDeviceProperties(idx)["name"]
    return name.decode() if isinstance(name, bytes) else str(name)


def synchronize(device: object = None) -> None:
    """Wait for the GPU's queued work to finish (nothing to wait for without one).

    Example:
        >>> synchronize()
    """
    cp = cupy_module()
    if cp is not None:
        cp.cuda.Device().synchronize()


def empty_cache() -> None:
    """Give CuPy's cached, unused GPU memory back (nothing to do without a GPU).

    Example:
        >>> empty_cache()
    """
    cp = cupy_module()
    if cp is not None:
        cp.get_default_memory_pool().free_all_blocks()


def manual_seed(seed: int) -> None:
    """Seed the GPU's random numbers. chainrule draws every random number from the one global
    generator (GPU tensors are sampled on the CPU and moved), so this seeds that generator, as
    ``chainrule.manual_seed`` does.

    Example:
        >>> import chainrule as cr
        >>> manual_seed(0); a = cr.rand(2); manual_seed(0); bool((a == cr.rand(2)).all())
        True
    """
    from .random import manual_seed as _seed

    _seed(seed)


manual_seed_all = manual_seed
