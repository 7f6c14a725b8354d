"""Checkpoints: ``save(obj, path)`` and ``load(path)``, in a format that never runs code on load.

A checkpoint is a zip archive (stored, not compressed) holding

- ``chainrule.json``: a manifest ``{"format": "chainrule-checkpoint", "version": 1, "root": ...}``
  that describes the saved object as a tree of tagged nodes (dicts keep their key order and
  their int/str/... keys; lists and tuples stay lists and tuples);
- ``arrays/<k>.npy``: one ``.npy`` file per tensor or array, read back with
  ``numpy.lib.format.read_array(..., allow_pickle=False)``, so dtypes (byte order included)
  and shapes come back exactly.

No pickle anywhere: loading a file can build only tensors, arrays, numbers, strings, bytes,
``None`` and containers of them. ``save`` writes to a temporary file in the target's folder,
flushes and fsyncs it, then renames it over the target (``os.replace``): a crash leaves either
the old file or the new one, never half of one.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import zipfile
from pathlib import Path
from typing import IO, Any

import numpy as np

from .backend import to_device
from .tensor import Tensor

__all__ = ["save", "load"]

FORMAT = "chainrule-checkpoint"
VERSION = 1
MANIFEST = "chainrule.json"
_PICKLE_MAGIC = (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")


def _where(trail: str) -> str:
    return f"obj{trail}" if trail else "the object"


class _Writer:
    """Turns an object into manifest nodes, collecting the arrays to store."""

    def __init__(self) -> None:
        self.arrays: list[np.ndarray] = []
        self._memo: dict[int, int] = {}  # id(tensor or array) -> array number
        self._alive: list[Any] = []  # keeps memoized objects alive, so ids stay unique
        self._open: set[int] = set()  # containers being walked: a cycle cannot be saved

    def _array(self, obj: Any, arr: np.ndarray, trail: str) -> dict[str, Any]:
        if arr.dtype.hasobject or arr.dtype.kind == "V":
            raise TypeError(
                f"save: cannot save an array of dtype {arr.dtype} at {_where(trail)}: "
                "only numeric, bool and string dtypes can be stored without pickle"
            )
        key = self._memo.get(id(obj))
        if key is None:
            key = len(self.arrays)
            self.arrays.append(arr)
            self._memo[id(obj)] = key
            self._alive.append(obj)
        return {"array": key, "dtype": arr.dtype.str, "shape": list(arr.shape)}

    def node(self, obj: Any, trail: str = "") -> dict[str, Any]:
        if obj is None:
            return {"t": "none"}
        if isinstance(obj, bool):
            return {"t": "bool", "v": obj}
        if isinstance(obj, Tensor):
            node = {"t": "tensor", **self._array(obj, to_device(obj._data, "cpu"), trail)}
            node["requires_grad"] = obj.requires_grad
            if obj.device != "cpu":
                node["device"] = obj.device.type
            if type(obj).__name__ == "Parameter":
                node["parameter"] = True
            return node
        if isinstance(obj, np.ndarray):
            return {"t": "ndarray", **self._array(obj, obj, trail)}
        if isinstance(obj, np.generic):
            return {"t": "npscalar", **self._array(obj, np.asarray(obj), trail)}
        if isinstance(obj, int):
            return {"t": "int", "v": int(obj)}
        if isinstance(obj, float):
            v = float(obj)
            return {"t": "float", "v": v if math.isfinite(v) else repr(v)}
        if isinstance(obj, str):
            return {"t": "str", "v": str(obj)}
        if isinstance(obj, bytes):
            return {"t": "bytes", "v": obj.hex()}
        if isinstance(obj, list | tuple | dict):
            if id(obj) in self._open:
                raise TypeError(f"save: {_where(trail)} contains itself (a circular reference)")
            self._open.add(id(obj))
            try:
                return self._container(obj, trail)
            finally:
                self._open.discard(id(obj))
        raise TypeError(
            f"save: cannot save an object of type {type(obj).__name__} at {_where(trail)}: "
            "checkpoints hold tensors, numpy arrays, numbers, strings, bytes, bools, None and "
            "dicts/lists/tuples of them (no pickle)"
        )

    def _container(self, obj: list | tuple | dict, trail: str) -> dict[str, Any]:
        if isinstance(obj, list | tuple):
            kind = "tuple" if isinstance(obj, tuple) else "list"
            return {"t": kind, "items": [self.node(x, f"{trail}[{i}]") for i, x in enumerate(obj)]}
        else:
            keys, values = [], []
            for k, v in obj.items():
                if not isinstance(k, str | int | float | bool | tuple | bytes) and k is not None:
                    raise TypeError(
                        f"save: cannot save a dict key of type {type(k).__name__} at "
                        f"{_where(trail)}: keys must be str, int, float, bool, None, bytes or tuple"
                    )
                keys.append(self.node(k, f"{trail}.keys()"))
                values.append(self.node(v, f"{trail}[{k!r}]"))
            return {"t": "dict", "keys": keys, "values": values}


def _write(f: IO[bytes], manifest: dict[str, Any], arrays: list[np.ndarray]) -> None:
    with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        zf.writestr(MANIFEST, json.dumps(manifest, separators=(",", ":"), allow_nan=False))
        for i, arr in enumerate(arrays):
            big = arr.nbytes > (1 << 31)
            with zf.open(f"arrays/{i}.npy", "w", force_zip64=big) as member:
                np.lib.format.write_array(member, arr, allow_pickle=False)


def _file_mode(path: Path) -> int:
    """The permission bits the file would get from a plain ``open(path, "w")``."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        pass
    umask = 0o022
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    umask = int(line.split()[1], 8)
    except OSError:
        pass
    return 0o666 & ~umask


def save(obj: Any, f: str | os.PathLike | IO[bytes]) -> None:
    """Save ``obj`` (a state dict, an optimizer state dict, metrics...) to a checkpoint file.

    ``obj`` may nest dicts, lists and tuples of tensors, NumPy arrays and scalars, Python
    numbers, strings, bytes, bools and ``None``; anything else raises ``TypeError`` naming where
    it sits, before the target is touched. A path is written atomically (temporary file in the
    same folder, fsync, ``os.replace``); a binary file object is written in place.

    Args:
        obj: what to save.
        f: a path, or a writable binary file object.

    Example:
        >>> import os, tempfile
        >>> import chainrule as cr
        >>> path = os.path.join(tempfile.mkdtemp(), "model.crt")
        >>> save({"weight": cr.tensor([[1.0, 2.0]]), "step": 3}, path)
        >>> load(path)
        {'weight': tensor([[1., 2.]]), 'step': 3}
    """
    writer = _Writer()
    manifest = {"format": FORMAT, "version": VERSION, "root": writer.node(obj)}
    if not isinstance(f, str | os.PathLike):
        _write(f, manifest, writer.arrays)
        return
    path = Path(f)
    folder = path.parent
    if not folder.is_dir():
        raise FileNotFoundError(f"save: cannot write {path}: folder {folder} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as out:
            _write(out, manifest, writer.arrays)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, _file_mode(path))
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:  # make the rename itself durable
        dfd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


def _describe_foreign(head: bytes, names: list[str] | None) -> str:
    if names is not None:
        if any(n.endswith("data.pkl") for n in names):
            return (
                "a PyTorch checkpoint (a zip holding data.pkl); chainrule does not unpickle. "
                "Convert it in PyTorch: save each tensor's .numpy() with numpy.savez, then load "
                "those arrays into chainrule tensors"
            )
        return f"a zip archive without {MANIFEST}, not a chainrule checkpoint"
    if head[:2] in _PICKLE_MAGIC:
        return "a Python pickle (e.g. a legacy torch.save file); chainrule never unpickles"
    if head[:6] == b"\x93NUMPY":
        return "a single .npy array; read it with numpy.load(path, allow_pickle=False)"
    if not head:
        return "an empty file"
    return f"not a chainrule checkpoint (it starts with {head[:16]!r})"


class _Reader:
    def __init__(self, zf: zipfile.ZipFile, name: str, map_location: str | None) -> None:
        self.zf = zf
        self.name = name
        self.map_location = map_location
        self._memo: dict[int, np.ndarray] = {}
        self._tensors: dict[int, Tensor] = {}

    def fail(self, what: str) -> ValueError:
        return ValueError(f"{self.name}: corrupt chainrule checkpoint: {what}")

    def _array(self, node: dict[str, Any], trail: str) -> tuple[int, np.ndarray]:
        key = node["array"]
        if not isinstance(key, int):
            raise self.fail(f"bad array reference {key!r} at {_where(trail)}")
        member = f"arrays/{key}.npy"
        arr = self._memo.get(key)
        if arr is None:
            try:
                with self.zf.open(member) as fh:
                    arr = np.lib.format.read_array(fh, allow_pickle=False)
            except KeyError:
                raise self.fail(f"{member} (for {_where(trail)}) is missing") from None
            except (zipfile.BadZipFile, ValueError, EOFError, OSError) as e:
                raise self.fail(f"{member} (for {_where(trail)}) cannot be read: {e}") from None
        if arr.dtype.str != node["dtype"] or list(arr.shape) != list(node["shape"]):
            raise self.fail(
                f"{member} holds {arr.dtype.str} {arr.shape}, the manifest says "
                f"{node['dtype']} {tuple(node['shape'])}"
            )
        self._memo[key] = arr
        return key, arr

    def node(self, node: Any, trail: str = "") -> Any:
        try:
            t = node["t"]
            if t == "none":
                return None
            if t in ("bool", "int", "str"):
                v = node["v"]
                if type(v) is not {"bool": bool, "int": int, "str": str}[t]:
                    raise self.fail(f"a {t} node holds {v!r} at {_where(trail)}")
                return v
            if t == "float":
                return float(node["v"])
            if t == "bytes":
                return bytes.fromhex(node["v"])
            if t in ("list", "tuple"):
                items = [self.node(x, f"{trail}[{i}]") for i, x in enumerate(node["items"])]
                return items if t == "list" else tuple(items)
            if t == "dict":
                keys = [self.node(k, f"{trail}.keys()") for k in node["keys"]]
                values = node["values"]
                if len(keys) != len(values):
                    raise self.fail(f"{len(keys)} keys but {len(values)} values at {_where(trail)}")
                return {k: self.node(v, f"{trail}[{k!r}]") for k, v in zip(keys, values)}
            if t == "ndarray":
                return self._array(node, trail)[1]
            if t == "npscalar":
                return self._array(node, trail)[1][()]
            if t == "tensor":
                return self._tensor(node, trail)
        except (KeyError, TypeError, AttributeError) as e:
            raise self.fail(f"malformed manifest entry at {_where(trail)} ({e!r})") from None
        raise self.fail(f"unknown node type {t!r} at {_where(trail)}")

    def _tensor(self, node: dict[str, Any], trail: str) -> Tensor:
        key, arr = self._array(node, trail)
        if key in self._tensors:  # the same tensor saved twice comes back as one object
            return self._tensors[key]
        device = self.map_location or node.get("device", "cpu")
        if device != "cpu":
            from .backend import cupy_module

            if cupy_module() is None:
                raise RuntimeError(
                    f"{self.name}: {_where(trail)} was saved on device {device!r}, which is not "
                    "available here; pass map_location='cpu'"
                )
            arr = to_device(arr, device)
        if node.get("parameter"):
            from .nn.parameter import Parameter

            t: Tensor = Parameter(arr, requires_grad=bool(node.get("requires_grad", True)))
        else:
            t = Tensor._wrap(arr)
            if node.get("requires_grad") and arr.dtype.kind in "fc":
                t.requires_grad = True
        self._tensors[key] = t
        return t


def load(
    f: str | os.PathLike | IO[bytes], map_location: Any = None, *, weights_only: bool | None = None
) -> Any:
    """Load an object written by :func:`save`.

    Args:
        f: a path, or a readable, seekable binary file object.
        map_location: ``None`` (tensors return to the device they were saved from), ``'cpu'``
            or ``'cuda'`` (or a :class:`chainrule.device`); as in PyTorch, ``'cpu'`` is how to
            load a GPU checkpoint on a CPU machine.
        weights_only: accepted for torch's signature; a chainrule checkpoint never holds code
            to unpickle, so loading is always as safe as torch's ``weights_only=True``.

    Raises:
        FileNotFoundError: if the path does not exist.
        ValueError: naming the file and the problem, for a truncated, corrupt or foreign file
            (a text file, a pickle, a PyTorch ``.pt``).

    Example:
        >>> import io
        >>> import chainrule as cr
        >>> buf = io.BytesIO()
        >>> save({"state": {0: {"momentum_buffer": cr.zeros(2)}}, "lr": 0.1}, buf)
        >>> _ = buf.seek(0)
        >>> load(buf, map_location="cpu")["state"][0]["momentum_buffer"]
        tensor([0., 0.])
    """
    if map_location is not None:
        if type(map_location).__name__ == "device":  # a chainrule.device
            map_location = str(map_location)
        if not isinstance(map_location, str) or map_location.split(":")[0] not in ("cpu", "cuda"):
            raise ValueError(
                f"load: map_location must be None, 'cpu' or 'cuda', got {map_location!r}"
            )
        map_location = map_location.split(":")[0]
    if isinstance(f, str | os.PathLike):
        name = str(f)
        with open(f, "rb") as fh:
            return _load(fh, name, map_location)
    return _load(f, getattr(f, "name", "<file object>"), map_location)


def _load(fh: IO[bytes], name: str, map_location: str | None) -> Any:
    head = fh.read(16)
    fh.seek(0)
    if head[:4] != b"PK\x03\x04":
        raise ValueError(f"{name}: not a chainrule checkpoint: {_describe_foreign(head, None)}")
    try:
        zf = zipfile.ZipFile(fh)
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise ValueError(
            f"{name}: truncated or corrupt checkpoint (the zip directory cannot be read: {e})"
        ) from None
    with zf:
        names = zf.namelist()
        if MANIFEST not in names:
            raise ValueError(
                f"{name}: not a chainrule checkpoint: {_describe_foreign(head, names)}"
            )
        try:
            manifest = json.loads(zf.read(MANIFEST).decode("utf-8"))
        except (zipfile.BadZipFile, UnicodeDecodeError, json.JSONDecodeError, OSError) as e:
            raise ValueError(f"{name}: corrupt checkpoint: unreadable {MANIFEST} ({e})") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise ValueError(f"{name}: not a chainrule checkpoint: {MANIFEST} has no format tag")
        version = manifest.get("version")
        if not isinstance(version, int) or version > VERSION:
            raise ValueError(
                f"{name}: checkpoint format version {version!r} is newer than this chainrule "
                f"reads ({VERSION}); upgrade chainrule"
            )
        if "root" not in manifest:
            raise ValueError(f"{name}: corrupt checkpoint: {MANIFEST} has no 'root' entry")
        return _Reader(zf, name, map_location).node(manifest["root"])
