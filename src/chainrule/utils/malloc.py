"""``chainrule.utils.malloc``: keep glibc from handing a training step's arrays back to the kernel.

A training step allocates the same large arrays every time (activations, gradients, im2col
columns) and frees them all by its end. glibc's ``malloc`` serves a request above its *mmap
threshold* with a fresh ``mmap``, and gives the top of its heap back to the kernel once more than
its *trim threshold* lies free there. Both start at 128 KiB and rise on their own only when the
process frees an mmapped block bigger than the current threshold (to that block's size, and the
trim threshold to twice it). Until something does, every step's large arrays land on fresh pages:
each page costs a minor page fault on first write (1-3 us in a VM), and a small CNN's step can
spend a third of its time there (LeNet of ``make bench``: 1,286 faults a step, 6.9 ms; 0 faults,
4.5 ms once the thresholds have risen).

:func:`raise_thresholds` does at import what glibc's own rule would do after the process freed
one 32 MiB array: it mallocs and frees such a block, which lifts the mmap threshold to 32 MiB and
the trim threshold to 64 MiB. glibc's dynamic adjustment stays on (``mallopt`` would turn it
off), and a threshold the user set (``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_``,
``GLIBC_TUNABLES``) turns the adjustment off, so this then changes nothing. The cost: up to
64 MiB freed at the top of the heap is kept for reuse instead of being returned. Set
``CHAINRULE_MALLOC_TUNE=0`` before importing chainrule to leave the allocator as it is.
Elsewhere than glibc (macOS, musl, Windows) it does nothing.

Example:
    >>> from chainrule.utils import malloc
    >>> malloc.thresholds_raised() in (True, False)   # True on glibc, unless switched off
    True
"""

from __future__ import annotations

import ctypes
import os

# glibc adjusts the thresholds only for a freed block of at most 32 MiB on 64-bit
# (DEFAULT_MMAP_THRESHOLD_MAX), and the size it compares carries the IS_MMAPPED flag bit: a
# request this far under 32 MiB makes a 32 MiB - 4 KiB mapping, which still qualifies.
SEED_BYTES = (32 << 20) - 8192

_state: dict[str, bool] = {"raised": False}


class _Mallinfo2(ctypes.Structure):
    _fields_ = [  # noqa: RUF012  (ctypes' own declaration)
        (name, ctypes.c_size_t)
        for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
            "fordblks", "keepcost",
        )
    ]  # fmt: skip


def _glibc() -> ctypes.CDLL | None:
    """The process's C library when it is glibc, else None."""
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return None
        return ctypes.CDLL(None)
    except (AttributeError, ValueError, OSError):  # no confstr (Windows), or no such name
        return None


def _user_fixed() -> bool:
    """Whether the environment fixes a threshold (which turns glibc's adjustment off)."""
    tunables = os.environ.get("GLIBC_TUNABLES", "")
    return any(f"MALLOC_{k.upper()}_" in os.environ or f"glibc.malloc.{k}" in tunables
               for k in ("mmap_threshold", "trim_threshold", "top_pad", "mmap_max"))  # fmt: skip


def raise_thresholds(nbytes: int = SEED_BYTES) -> bool:
    """Raise glibc's dynamic mmap and trim thresholds by freeing one mmapped block of
    ``nbytes`` (see the module docstring); True if the block was mmapped, so glibc adjusted
    its thresholds. False, doing nothing, where there is no glibc or the environment fixes a
    threshold; False too where glibc served the block from its heap (its thresholds were
    already higher).

    Example:
        >>> from chainrule.utils.malloc import raise_thresholds
        >>> isinstance(raise_thresholds(), bool)
        True
    """
    libc = _glibc()
    if libc is None or _user_fixed():
        return False
    malloc, free = libc.malloc, libc.free
    malloc.restype, malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    free.restype, free.argtypes = None, [ctypes.c_void_p]
    info = getattr(libc, "mallinfo2", None)  # glibc >= 2.33
    if info is not None:
        info.restype = _Mallinfo2
        before = info().hblks
    block = malloc(nbytes)  # never written: the kernel backs none of its pages
    if not block:
        return False
    mapped = info is None or info().hblks > before
    free(block)
    _state["raised"] = _state["raised"] or mapped  # a later call finds them raised already
    return mapped


def thresholds_raised() -> bool:
    """Whether :func:`raise_thresholds` ran in this process and glibc mmapped its block (the
    import does it unless ``CHAINRULE_MALLOC_TUNE=0``).

    Example:
        >>> from chainrule.utils.malloc import thresholds_raised
        >>> isinstance(thresholds_raised(), bool)
        True
    """
    return _state["raised"]


if os.environ.get("CHAINRULE_MALLOC_TUNE", "1") != "0":
    raise_thresholds()
