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
the old file or the new one, never half of one (and the next save of that target removes the
temporary file a killed save left).

``load`` trusts nothing in the file: every malformed file raises ``ValueError`` naming it.
Members must be stored (never decompressed), lie inside the file and not overlap; each array's
declared dtype and shape are checked against the manifest and its member's size before anything
is allocated, so a forged size or shape cannot make ``load`` allocate more than the file holds.
"""

from __future__ import annotations

import json
import math
import os
import re
import struct
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
MAX_DEPTH = 200  # containers nested deeper than this are refused by save and by load
# what a malformed zip can make zipfile raise; load turns each into a ValueError naming the file
_ZIP_ERRORS = (
    zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, struct.error,
    NotImplementedError, RuntimeError, OverflowError, IndexError, KeyError, MemoryError,
)  # fmt: skip


def _storable(dtype: np.dtype) -> bool:
    """The dtypes ``save`` writes (and so the only ones ``load`` reads): no objects, no void."""
    return not (dtype.hasobject or dtype.kind == "V")


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
        if not _storable(arr.dtype):
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

    def node(self, obj: Any, trail: str = "", depth: int = 0) -> dict[str, Any]:
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
            if depth >= MAX_DEPTH:
                raise ValueError(
                    f"save: {_where(trail)} is nested more than {MAX_DEPTH} containers deep"
                )
            self._open.add(id(obj))
            try:
                return self._container(obj, trail, depth + 1)
            finally:
                self._open.discard(id(obj))
        raise TypeError(
            f"save: cannot save an object of type {type(obj).__name__} at {_where(trail)}: "
            "checkpoints hold tensors, numpy arrays, numbers, strings, bytes, bools, None and "
            "dicts/lists/tuples of them (no pickle)"
        )

    def _container(self, obj: list | tuple | dict, trail: str, depth: int) -> dict[str, Any]:
        if isinstance(obj, list | tuple):
            kind = "tuple" if isinstance(obj, tuple) else "list"
            items = [self.node(x, f"{trail}[{i}]", depth) for i, x in enumerate(obj)]
            return {"t": kind, "items": items}
        else:
            keys, values = [], []
            for k, v in obj.items():
                if not isinstance(k, str | int | float | bool | tuple | bytes) and k is not None:
                    raise TypeError(
                        f"save: cannot save a dict key of type {type(k).__name__} at "
                        f"{_where(trail)}: keys must be str, int, float, bool, None, bytes or tuple"
                    )
                keys.append(self.node(k, f"{trail}.keys()", depth))
                values.append(self.node(v, f"{trail}[{k!r}]", depth))
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
    _remove_stale_temps(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=folder)
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


def _remove_stale_temps(path: Path) -> None:
    """Delete the temporary files that saves of ``path`` killed midway (SIGKILL, power loss) left
    in its folder: ``.<name>.<pid>.<random>.tmp`` whose process is gone. A save still running in
    another live process keeps its file."""
    prefix = f".{path.name}."
    pattern = re.compile(r"(\d+)\.[a-z0-9_]{8}\.tmp")
    try:
        names = os.listdir(path.parent)
    except OSError:
        return
    for name in names:
        m = pattern.fullmatch(name[len(prefix) :]) if name.startswith(prefix) else None
        if m is None or _alive(int(m.group(1))):
            continue
        try:
            os.unlink(path.parent / name)
        except OSError:
            pass


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True  # another thread of this process may be saving the same target
    if os.name != "posix":
        return True  # no cheap liveness test: keep the file
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


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


class _Corrupt(ValueError):
    """A malformed checkpoint (a ``ValueError``, with the file's name in the message)."""


class _Reader:
    def __init__(
        self, zf: zipfile.ZipFile, infos: dict, name: str, map_location: str | None
    ) -> None:
        self.zf = zf
        self.infos = infos
        self.name = name
        self.map_location = map_location
        self._memo: dict[int, np.ndarray] = {}
        self._tensors: dict[int, Tensor] = {}

    def fail(self, what: str) -> ValueError:
        return _Corrupt(f"{self.name}: corrupt chainrule checkpoint: {what}")

    def _declared(self, node: dict[str, Any], member: str, where: str) -> tuple:
        """The dtype, shape and byte count the manifest declares, checked before any read."""
        dt, shape = node["dtype"], node["shape"]
        try:
            dtype = np.dtype(dt) if isinstance(dt, str) else None
        except (TypeError, ValueError):
            dtype = None
        if dtype is None or not _storable(dtype):
            raise self.fail(
                f"{member} (for {where}) cannot be read: dtype {dt!r} is not one that save writes "
                "(numeric, bool or string; object and void dtypes would need pickle)"
            )
        if (
            not isinstance(shape, list)
            or len(shape) > 64
            or any(type(n) is not int or n < 0 for n in shape)
        ):
            raise self.fail(f"bad shape {shape!r} for {where}")
        count = math.prod(shape)
        if dtype.itemsize == 0 and count:
            raise self.fail(f"{member} (for {where}) declares a zero-size dtype {dt!r}")
        return dtype, tuple(shape), count * dtype.itemsize

    def _array(self, node: dict[str, Any], trail: str) -> tuple[int, np.ndarray]:
        key = node["array"]
        if type(key) is not int or key < 0:
            raise self.fail(f"bad array reference {key!r} at {_where(trail)}")
        member, where = f"arrays/{key}.npy", _where(trail)
        dtype, shape, nbytes = self._declared(node, member, where)
        arr = self._memo.get(key)
        if arr is None:
            info = self.infos.get(member)
            if info is None:
                raise self.fail(f"{member} (for {where}) is missing")
            if nbytes > info.file_size:
                raise self.fail(
                    f"{member} (for {where}): the manifest declares {dtype.str} {shape} "
                    f"({nbytes} bytes) but the member holds only {info.file_size} bytes"
                )
            try:
                with self.zf.open(info) as fh:  # the .npy header, checked before the data
                    version = np.lib.format.read_magic(fh)
                    if version == (1, 0):
                        hshape, _, hdtype = np.lib.format.read_array_header_1_0(fh)
                    elif version == (2, 0):
                        hshape, _, hdtype = np.lib.format.read_array_header_2_0(fh)
                    else:
                        raise ValueError(f"unsupported .npy version {version}")
                    header = fh.tell()
                if hdtype.str != dtype.str or tuple(hshape) != shape:
                    raise self.fail(
                        f"{member} holds {hdtype.str} {tuple(hshape)}, the manifest says "
                        f"{dtype.str} {shape}"
                    )
                if header + nbytes != info.file_size:
                    raise self.fail(
                        f"{member} (for {where}) is {info.file_size} bytes, not the "
                        f"{header + nbytes} its header and shape {shape} need"
                    )
                with self.zf.open(info) as fh:  # sizes agree: the allocation is what is stored
                    arr = np.lib.format.read_array(fh, allow_pickle=False)
            except _Corrupt:
                raise
            except _ZIP_ERRORS as e:
                raise self.fail(f"{member} (for {where}) cannot be read: {e}") from None
            self._memo[key] = arr
        if arr.dtype.str != dtype.str or arr.shape != shape:
            raise self.fail(
                f"{member} holds {arr.dtype.str} {arr.shape}, the manifest says {dtype.str} {shape}"
            )
        return key, arr

    def node(self, node: Any, trail: str = "", depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise self.fail(f"containers nested more than {MAX_DEPTH} deep at {_where(trail)}")
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
                v = node["v"]
                if type(v) not in (int, float) and v not in ("nan", "inf", "-inf"):
                    raise self.fail(f"a float node holds {v!r} at {_where(trail)}")
                return float(v)
            if t == "bytes":
                return bytes.fromhex(node["v"])
            if t in ("list", "tuple"):
                items = [
                    self.node(x, f"{trail}[{i}]", depth + 1) for i, x in enumerate(node["items"])
                ]
                return items if t == "list" else tuple(items)
            if t == "dict":
                keys = [self.node(k, f"{trail}.keys()", depth + 1) for k in node["keys"]]
                values = node["values"]
                if len(keys) != len(values):
                    raise self.fail(f"{len(keys)} keys but {len(values)} values at {_where(trail)}")
                return {k: self.node(v, f"{trail}[{k!r}]", depth + 1) for k, v in zip(keys, values)}
            if t == "ndarray":
                return self._array(node, trail)[1]
            if t == "npscalar":
                arr = self._array(node, trail)[1]
                if arr.ndim:
                    raise self.fail(f"a NumPy scalar of shape {arr.shape} at {_where(trail)}")
                return arr[()]
            if t == "tensor":
                return self._tensor(node, trail)
        except _Corrupt:
            raise
        except (KeyError, TypeError, AttributeError, ValueError, OverflowError) as e:
            raise self.fail(f"malformed manifest entry at {_where(trail)} ({e!r})") from None
        raise self.fail(f"unknown node type {t!r} at {_where(trail)}")

    def _tensor(self, node: dict[str, Any], trail: str) -> Tensor:
        key, arr = self._array(node, trail)
        if key in self._tensors:  # the same tensor saved twice comes back as one object
            return self._tensors[key]
        device = self.map_location or node.get("device", "cpu")
        if device not in ("cpu", "cuda"):
            raise self.fail(f"unknown device {device!r} for {_where(trail)}")
        grad = node.get("requires_grad", bool(node.get("parameter")))
        if type(grad) is not bool or (grad and arr.dtype.kind not in "fc"):
            raise self.fail(
                f"requires_grad={grad!r} for a {arr.dtype} tensor at {_where(trail)} (only "
                "floating tensors can require gradients)"
            )
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

            t: Tensor = Parameter(arr, requires_grad=grad)
        else:
            t = Tensor._wrap(arr)
            if grad:
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
        weights_only: accepted for PyTorch code (``torch.load(path, weights_only=True)``).
            chainrule's format never unpickles, so loading is always what PyTorch calls
            weights-only: only tensors, arrays, numbers, strings, bytes, ``None`` and containers
            come back, and ``weights_only=False`` does not enable loading code.

    Raises:
        FileNotFoundError: if the path does not exist.
        ValueError: naming the file and the problem, for a truncated, corrupt, forged or foreign
            file (a text file, a pickle, a PyTorch ``.pt``, a zip bomb, overlapping members,
            absurd shapes, dtypes that ``save`` never writes).

    Example:
        >>> import io
        >>> import chainrule as cr
        >>> buf = io.BytesIO()
        >>> save({"state": {0: {"momentum_buffer": cr.zeros(2)}}, "lr": 0.1}, buf)
        >>> _ = buf.seek(0)
        >>> load(buf, map_location="cpu")["state"][0]["momentum_buffer"]
        tensor([0., 0.])
    """
    if weights_only not in (None, True, False):
        raise TypeError(f"load: weights_only must be a bool, got {weights_only!r}")
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
    except _ZIP_ERRORS as e:
        raise ValueError(
            f"{name}: truncated or corrupt checkpoint (the zip directory cannot be read: {e})"
        ) from None
    with zf:
        names = zf.namelist()
        if MANIFEST not in names:
            raise ValueError(
                f"{name}: not a chainrule checkpoint: {_describe_foreign(head, names)}"
            )
        infos = _check_members(zf, name)
        try:
            with zf.open(infos[MANIFEST]) as mf:
                manifest = json.loads(mf.read().decode("utf-8"))
        except (*_ZIP_ERRORS, UnicodeDecodeError, RecursionError) as e:
            what = "nested too deeply" if isinstance(e, RecursionError) else e
            raise ValueError(
                f"{name}: corrupt checkpoint: unreadable {MANIFEST} ({what})"
            ) from None
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
        try:
            return _Reader(zf, infos, name, map_location).node(manifest["root"])
        except RecursionError:
            raise ValueError(
                f"{name}: corrupt checkpoint: the manifest is nested too deeply"
            ) from None


def _check_members(zf: zipfile.ZipFile, name: str) -> dict[str, zipfile.ZipInfo]:
    """The members by name, after checking what the central directory declares, before any
    member is read: each one stored (save never compresses, so nothing is ever decompressed and
    a DEFLATE bomb has nothing to expand), not encrypted, named once, and lying inside the file
    before the directory without overlapping another (a forged size cannot reach past the end)."""

    def bad(what: str) -> ValueError:
        return ValueError(f"{name}: corrupt chainrule checkpoint: {what}")

    infos: dict[str, zipfile.ZipInfo] = {}
    spans = []
    for info in zf.infolist():
        member = info.filename
        if member in infos:
            raise bad(f"member {member} appears twice")
        if info.flag_bits & 0x1:
            raise bad(f"member {member} is encrypted")
        if info.compress_type != zipfile.ZIP_STORED:
            raise bad(
                f"member {member} is compressed (method {info.compress_type}); chainrule "
                "checkpoints store their members uncompressed"
            )
        if info.compress_size != info.file_size:
            raise bad(
                f"member {member} declares {info.file_size} bytes but stores {info.compress_size}"
            )
        try:
            raw = len(member.encode("utf-8" if info.flag_bits & 0x800 else "cp437"))
        except UnicodeEncodeError:
            raw = len(member)
        start = info.header_offset
        spans.append((start, start + 30 + raw + info.compress_size, member))
        infos[member] = info
    spans.sort()
    end_of_data = getattr(zf, "start_dir", None)
    for i, (start, end, member) in enumerate(spans):
        if start < 0:
            raise bad(f"member {member} starts before the file")
        if i + 1 < len(spans) and end > spans[i + 1][0]:
            raise bad(f"members {member} and {spans[i + 1][2]} overlap")
        if end_of_data is not None and end > end_of_data:
            raise bad(
                f"member {member} declares {infos[member].file_size} bytes, more than the file "
                "holds (truncated, or a forged size)"
            )
    return infos
