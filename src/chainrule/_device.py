"""``chainrule.device``: where a tensor's memory lives, as ``torch.device``; and the default device
that factories use when no ``device=`` is given (``set_default_device``).

A device is ``cpu`` (NumPy) or ``cuda[:index]`` (CuPy on an NVIDIA GPU, see
:mod:`chainrule.backend`). Every ``device=`` argument and ``.to()`` accept a device object, a
string such as ``"cuda:0"`` or a GPU index.
"""

from __future__ import annotations

from typing import Any

# The device types torch's parser knows: they construct, but only cpu and cuda hold tensors here.
_TYPES = (
    "cpu", "cuda", "ipu", "xpu", "mkldnn", "opengl", "opencl", "ideep", "hip", "ve", "fpga",
    "maia", "xla", "lazy", "vulkan", "mps", "meta", "hpu", "mtia", "privateuseone",
)  # fmt: skip


class device:  # noqa: N801 - PyTorch's name
    """A device: ``type`` (``'cpu'``, ``'cuda'``...) and ``index`` (``None`` or an int).

    ``device("cuda:1")``, ``device("cuda", 1)`` and ``device(device("cuda", 1))`` are the same
    device. Compares equal to another device with the same type and index, and (unlike torch)
    to the string that names it, so ``t.device == "cpu"`` holds.

    Example:
        >>> d = device("cuda:0")
        >>> d, str(d), d.type, d.index
        (device(type='cuda', index=0), 'cuda:0', 'cuda', 0)
        >>> device("cpu") == "cpu", device("cuda") == device("cuda:0")
        (True, False)
        >>> import chainrule as cr
        >>> with device("cpu"):             # the default device inside the block, as torch
        ...     cr.zeros(1).device
        device(type='cpu')
    """

    __slots__ = ("_type", "_index")

    def __init__(self, type: Any, index: int | None = None) -> None:  # noqa: A002
        if isinstance(type, device):
            if index is not None:
                raise TypeError("device(): an index cannot be given with a device object")
            self._type, self._index = type._type, type._index
            return
        if isinstance(type, int) and not isinstance(type, bool):  # device(0): cuda:0, as torch
            type, index = "cuda", type
        if not isinstance(type, str):
            got = builtin_type(type).__name__
            raise TypeError(f"device(): expected a string, an int or a device, got {got}")
        name, sep, idx = type.partition(":")
        if name not in _TYPES:
            raise RuntimeError(
                f"Expected one of {', '.join(_TYPES)} device type at start of device string: {type}"
            )
        if sep:
            if index is not None:
                raise RuntimeError(f"type (string) must not include an index because index was "
                                   f"passed explicitly: {type}")  # fmt: skip
            if not idx.isdigit() or (len(idx) > 1 and idx[0] == "0"):
                raise RuntimeError(f"Invalid device string: '{type}'")
            index = int(idx)
        if index is not None:
            if not isinstance(index, int) or isinstance(index, bool) or index < 0:
                raise RuntimeError(f"Device index must not be negative, got {index!r}")
        self._type, self._index = name, index

    @property
    def type(self) -> str:  # noqa: A003
        """The device type: ``'cpu'``, ``'cuda'``..."""
        return self._type

    @property
    def index(self) -> int | None:
        """The device index (``None`` when not given: the current device of that type)."""
        return self._index

    def __str__(self) -> str:
        return self._type if self._index is None else f"{self._type}:{self._index}"

    def __repr__(self) -> str:
        if self._index is None:
            return f"device(type='{self._type}')"
        return f"device(type='{self._type}', index={self._index})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            try:
                other = device(other)
            except (RuntimeError, TypeError):
                return False
        if not isinstance(other, device):
            return NotImplemented
        return self._type == other._type and self._index == other._index

    def __hash__(self) -> int:
        return hash(str(self))  # equal strings and devices hash alike

    def __reduce__(self) -> tuple:
        return (device, (self._type, self._index))

    def __enter__(self) -> device:
        """``with chainrule.device("cuda"):`` makes it the default device inside the block."""
        previous = get_default_device()
        set_default_device(self)  # may refuse ('cuda' without a GPU): nothing to undo then
        _stack.append(previous)
        return self

    def __exit__(self, *exc: Any) -> None:
        set_default_device(_stack.pop())


_stack: list = []


builtin_type = type


def as_device(d: Any) -> device:
    """``d`` (a device, a string such as ``"cuda:0"``, or a GPU index) as a :class:`device`.

    Example:
        >>> as_device("cpu")
        device(type='cpu')
    """
    return d if isinstance(d, device) else device(d)


_default = device("cpu")


def set_default_device(d: Any) -> None:
    """Make factories (``zeros``, ``randn``, ``tensor``...) put tensors on ``d`` when they are
    given no ``device=``; ``None`` restores the CPU. Moving to ``"cuda"`` needs CuPy and a GPU.

    Example:
        >>> import chainrule as cr
        >>> cr.set_default_device("cpu"); cr.get_default_device()
        device(type='cpu')
    """
    global _default
    new = device("cpu") if d is None else as_device(d)
    if new.type not in ("cpu", "cuda"):
        raise RuntimeError(f"set_default_device: chainrule tensors live on cpu or cuda, not {new}")
    if new.type == "cuda":
        from .backend import require_cupy

        require_cupy(f"set_default_device({str(new)!r})")
    _default = new


def get_default_device() -> device:
    """The device factories use when no ``device=`` is given (the CPU unless
    :func:`set_default_device` said otherwise).

    Example:
        >>> import chainrule as cr
        >>> cr.get_default_device()
        device(type='cpu')
    """
    return _default


def target(d: Any) -> device | None:
    """Where a factory given ``device=d`` puts its tensor: ``d``, else the default device, else
    ``None`` for the CPU (nothing to move)."""
    if d is None:
        return None if _default._type == "cpu" else _default
    return as_device(d)
