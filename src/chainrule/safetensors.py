"""Weights in the `safetensors <https://huggingface.co/docs/safetensors>`_ format, as
``safetensors.torch``: ``save_file``/``load_file``, ``save``/``load`` (bytes),
``save_model``/``load_model``, built on the ``safetensors`` package's NumPy API (install it with
``pip install safetensors`` or the ``train`` extra; it is imported only when used).

A ``state_dict`` written by PyTorch (``safetensors.torch.save_file(model.state_dict(), p)``)
loads into the chainrule module of the same architecture and parameter names
(``model.load_state_dict(load_file(p))``), and a file written here loads into PyTorch with
``safetensors.torch.load_file``. ``chainrule.save``/``chainrule.load`` keep their own format
(any object tree); this one holds a flat ``{name: tensor}`` dict and string metadata only.

bfloat16 (``BF16``, PyTorch's common half type) has no NumPy dtype: :func:`load_file` and
:func:`load` widen it to float32, which is exact (a bfloat16 is the top half of a float32).
The 8-bit float types (``F8_*``) are refused with a clear error.

Example:
    >>> import os, tempfile
    >>> import chainrule as cr
    >>> from chainrule.safetensors import load_file, save_file
    >>> path = os.path.join(tempfile.mkdtemp(), "model.safetensors")
    >>> model = cr.nn.Linear(3, 2)
    >>> save_file(model.state_dict(), path, metadata={"arch": "linear"})
    >>> other = cr.nn.Linear(3, 2)
    >>> other.load_state_dict(load_file(path))
    <All keys matched successfully>
    >>> bool((other.weight == model.weight).all())
    True
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from .backend import to_device
from .tensor import Tensor

__all__ = ["save", "save_file", "load", "load_file", "save_model", "load_model", "load_metadata"]

_MISSING = (
    "chainrule.safetensors.{name} needs the safetensors package, which is not installed: "
    "pip install safetensors (or pip install 'chainrule[train]')"
)


def _package(name: str) -> Any:
    try:
        import safetensors
        import safetensors.numpy
    except ImportError:
        raise ModuleNotFoundError(_MISSING.format(name=name), name="safetensors") from None
    return safetensors


def _arrays(tensors: Any, op: str) -> dict[str, np.ndarray]:
    """The ``{name: tensor}`` dict as contiguous CPU arrays, checked."""
    if not isinstance(tensors, Mapping):
        raise TypeError(
            f"{op}: expected a dict of name -> Tensor (a state_dict), got {type(tensors).__name__}"
        )
    out: dict[str, np.ndarray] = {}
    for key, t in tensors.items():
        if not isinstance(key, str):
            raise TypeError(f"{op}: keys must be strings, got {type(key).__name__} {key!r}")
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: {key!r} is a {type(t).__name__}, expected a chainrule Tensor")
        arr = np.asarray(to_device(t.detach()._data, "cpu"), order="C")  # keeps 0-d arrays 0-d
        if arr.dtype.kind not in "biufc":
            raise TypeError(f"{op}: {key!r} has dtype {arr.dtype}, which safetensors cannot hold")
        out[key] = arr
    return out


def _metadata(metadata: Any, op: str) -> dict[str, str] | None:
    if metadata is None:
        return None
    if not isinstance(metadata, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise TypeError(f"{op}: metadata must be a dict of str -> str, got {metadata!r}")
    return dict(metadata)


def save(tensors: Mapping[str, Tensor], metadata: Mapping[str, str] | None = None) -> bytes:
    """The safetensors bytes of ``tensors`` (a ``{name: Tensor}`` dict) with text ``metadata``.

    Example:
        >>> import chainrule as cr
        >>> data = save({"w": cr.ones(2, 2)})
        >>> load(data)["w"].tolist()
        [[1.0, 1.0], [1.0, 1.0]]
    """
    arrays = _arrays(tensors, "save")
    meta = _metadata(metadata, "save")
    return _package("save").numpy.save(arrays, metadata=meta)


def save_file(
    tensors: Mapping[str, Tensor], filename: str | os.PathLike,
    metadata: Mapping[str, str] | None = None,
) -> None:  # fmt: skip
    """Write ``tensors`` (a ``{name: Tensor}`` dict, such as ``model.state_dict()``) to
    ``filename`` in the safetensors format, with optional text ``metadata``.

    Example:
        >>> import os, tempfile
        >>> import chainrule as cr
        >>> p = os.path.join(tempfile.mkdtemp(), "w.safetensors")
        >>> save_file({"w": cr.arange(3)}, p, metadata={"note": "hi"})
        >>> load_metadata(p)
        {'note': 'hi'}
    """
    arrays = _arrays(tensors, "save_file")
    meta = _metadata(metadata, "save_file")
    _package("save_file").numpy.save_file(arrays, filename, metadata=meta)


_BITS = {"BF16": np.uint16}  # dtypes NumPy lacks that widen exactly to float32


def _widen(dtype: str, raw: Any, shape: list, name: str, op: str) -> np.ndarray:
    if dtype == "BF16":
        bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
        return bits.view(np.float32).reshape(tuple(shape))
    from safetensors.numpy import _TYPES

    if dtype not in _TYPES:
        raise TypeError(
            f"{op}: tensor {name!r} has dtype {dtype}, which NumPy (and so chainrule) cannot "
            "represent; convert it in PyTorch first (e.g. tensor.float())"
        )
    return np.frombuffer(raw, dtype=np.dtype(_TYPES[dtype]).newbyteorder("<")).reshape(tuple(shape))


def _from_raw(data: bytes, op: str, device: str) -> dict[str, Tensor]:
    pkg = _package(op)
    out = {}
    for name, view in pkg.deserialize(data):
        arr = _widen(view["dtype"], view["data"], view["shape"], name, op)
        out[name] = _tensor(arr, device)
    return out


def _tensor(arr: np.ndarray, device: str) -> Tensor:
    arr = np.array(arr, dtype=arr.dtype.newbyteorder("="))  # an owned, writable, native copy
    if arr.dtype.name == "bfloat16":  # NumPy got one from ml_dtypes (imported by jax): widen
        arr = arr.astype(np.float32)
    return Tensor._wrap(to_device(arr, str(device)) if str(device) != "cpu" else arr)


def load(data: bytes, device: str = "cpu") -> dict[str, Tensor]:
    """The ``{name: Tensor}`` dict held by safetensors bytes ``data`` (bfloat16 widened to
    float32).

    Example:
        >>> import chainrule as cr
        >>> load(save({"b": cr.tensor([True, False])}))["b"].tolist()
        [True, False]
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"load: expected bytes, got {type(data).__name__}")
    return _from_raw(bytes(data), "load", device)


def load_file(filename: str | os.PathLike, device: str = "cpu") -> dict[str, Tensor]:
    """The ``{name: Tensor}`` dict stored in the safetensors file ``filename``, in the file's
    order; pass it to ``model.load_state_dict``. bfloat16 tensors come back as float32 (exact).

    Example:
        >>> import os, tempfile
        >>> import chainrule as cr
        >>> p = os.path.join(tempfile.mkdtemp(), "w.safetensors")
        >>> save_file({"w": cr.tensor([[1.5, 2.0]], dtype=cr.float64)}, p)
        >>> w = load_file(p)["w"]
        >>> w.dtype, w.tolist()
        (dtype('float64'), [[1.5, 2.0]])
    """
    pkg = _package("load_file")
    if not os.path.isfile(filename):
        raise FileNotFoundError(f"load_file: no such file: {os.fspath(filename)!r}")
    try:
        with pkg.safe_open(filename, framework="np") as f:
            return {k: _tensor(f.get_tensor(k), device) for k in f.keys()}
    except (TypeError, AttributeError):  # a dtype NumPy lacks (bfloat16): widen the raw bytes
        with open(filename, "rb") as fh:
            return _from_raw(fh.read(), "load_file", device)


def load_metadata(filename: str | os.PathLike) -> dict[str, str]:
    """The text metadata of the safetensors file ``filename`` (``{}`` if it has none).

    Example:
        >>> import os, tempfile
        >>> import chainrule as cr
        >>> p = os.path.join(tempfile.mkdtemp(), "w.safetensors")
        >>> save_file({"w": cr.zeros(1)}, p)
        >>> load_metadata(p)
        {}
    """
    pkg = _package("load_metadata")
    with pkg.safe_open(filename, framework="np") as f:
        return dict(f.metadata() or {})


def save_model(
    model: Any, filename: str | os.PathLike, metadata: Mapping[str, str] | None = None
) -> None:
    """``save_file(model.state_dict(), filename, metadata)``, as ``safetensors.torch.save_model``.

    Example:
        >>> import os, tempfile
        >>> import chainrule as cr
        >>> p = os.path.join(tempfile.mkdtemp(), "m.safetensors")
        >>> save_model(cr.nn.Linear(2, 1), p)
        >>> sorted(load_file(p))
        ['bias', 'weight']
    """
    save_file(model.state_dict(), filename, metadata=metadata)


def load_model(
    model: Any, filename: str | os.PathLike, strict: bool = True, device: str = "cpu"
) -> tuple[list[str], list[str]]:
    """Load the safetensors file ``filename`` into ``model``; return ``(missing, unexpected)``
    key lists, as ``safetensors.torch.load_model``.

    Example:
        >>> import os, tempfile
        >>> import chainrule as cr
        >>> p = os.path.join(tempfile.mkdtemp(), "m.safetensors")
        >>> save_model(cr.nn.Linear(2, 1), p)
        >>> load_model(cr.nn.Linear(2, 1), p)
        ([], [])
    """
    result = model.load_state_dict(load_file(filename, device=device), strict=strict)
    return list(result.missing_keys), list(result.unexpected_keys)
