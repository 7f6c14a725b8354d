"""Malformed checkpoint files: ``chainrule.load`` raises ValueError naming the file for every one
(no zlib.error, EOFError, RecursionError, NotImplementedError or MemoryError leaks out), refuses
forged sizes and shapes before allocating or decompressing anything, and a killed ``save`` leaves
nothing behind for later."""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import textwrap
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

import chainrule as cr
from chainrule.serialization import MAX_DEPTH, load, save

CD = struct.Struct("<4s4B4HL2L5H2L")  # a zip central directory entry (as zipfile reads it)
CD_METHOD, CD_CRC, CD_CSIZE, CD_USIZE, CD_NAME_LEN, CD_OFFSET = 6, 9, 10, 11, 12, 18


def good_bytes() -> bytes:
    buf = io.BytesIO()
    save({"w": cr.arange(12.0).reshape(3, 4), "b": cr.tensor([1, 2, 3]), "n": 7, "s": "x"}, buf)
    return buf.getvalue()


def manifest(root: dict) -> str:
    return json.dumps({"format": "chainrule-checkpoint", "version": 1, "root": root})


def npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, allow_pickle=False)
    return buf.getvalue()


def make_zip(files: dict, compression: int = zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        for name, content in files.items():
            zf.writestr(name, content)
    return buf.getvalue()


def patch_central(data: bytes, member: str, **fields: int) -> bytes:
    """``data`` with the central directory entry of ``member`` changed (method, csize, usize,
    offset, crc): what a forger edits."""
    out = bytearray(data)
    index = {"method": CD_METHOD, "csize": CD_CSIZE, "usize": CD_USIZE, "offset": CD_OFFSET,
             "crc": CD_CRC}  # fmt: skip
    at = 0
    while (at := out.find(b"PK\x01\x02", at)) >= 0:
        entry = list(CD.unpack_from(out, at))
        name = bytes(out[at + CD.size : at + CD.size + entry[CD_NAME_LEN]])
        if name == member.encode():
            for key, value in fields.items():
                entry[index[key]] = value
            CD.pack_into(out, at, *entry)
            return bytes(out)
        at += 4
    raise AssertionError(f"{member} not in the central directory")


def refused(tmp_path: Path, data: bytes, match: str, name: str = "bad.crt") -> ValueError:
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(ValueError, match=match) as e:
        load(path)
    assert str(path) in str(e.value)
    return e.value


def tensor_file(node_extra: dict, arr: np.ndarray | None = None, payload: bytes | None = None):
    arr = np.arange(4, dtype=np.float32) if arr is None else arr
    node = {"t": "tensor", "array": 0, "dtype": arr.dtype.str, "shape": list(arr.shape)}
    node.update(node_extra)
    return make_zip(
        {"chainrule.json": manifest(node), "arrays/0.npy": npy(arr) if payload is None else payload}
    )


# ----- damage: truncation, bit flips, wrong magic ----------------------------------------------
def test_every_truncation_raises_value_error_naming_the_file(tmp_path):
    data = good_bytes()
    path = tmp_path / "cut.crt"
    for n in range(len(data)):
        path.write_bytes(data[:n])
        with pytest.raises(ValueError) as e:
            load(path)
        assert str(path) in str(e.value), n


def test_every_bit_flip_is_refused_or_harmless(tmp_path):
    data = good_bytes()
    want = load(io.BytesIO(data))
    path = tmp_path / "flip.crt"
    refused_count = 0
    for i in range(len(data)):
        flipped = bytearray(data)
        flipped[i] ^= 0x10
        path.write_bytes(bytes(flipped))
        try:
            got = load(path)
        except ValueError as e:
            assert str(path) in str(e), i
            refused_count += 1
            continue
        # a flip the format does not depend on (a timestamp, an attribute): same values
        assert got.keys() == want.keys(), i
        assert got["n"] == 7 and got["s"] == "x", i
        for k in ("w", "b"):
            assert got[k].dtype == want[k].dtype and got[k].tolist() == want[k].tolist(), i
    assert refused_count > len(data) // 2


@pytest.mark.parametrize("magic", [b"PK\x03\x05", b"XK\x03\x04", b"\x00\x00\x00\x00"])
def test_wrong_magic(tmp_path, magic):
    refused(tmp_path, magic + good_bytes()[4:], "not a chainrule checkpoint")


# ----- forged sizes: bombs, overlaps, sizes beyond the file -------------------------------------
def test_deflate_bomb_is_refused_without_decompressing(tmp_path):
    zeros = bytes(200 * 1024 * 1024)  # 200 MB of zeros deflate to about 200 KB
    arr_node = {"t": "ndarray", "array": 0, "dtype": "|u1", "shape": [len(zeros) - 128]}
    data = make_zip(
        {"chainrule.json": manifest(arr_node), "arrays/0.npy": zeros}, zipfile.ZIP_DEFLATED
    )
    del zeros
    assert len(data) < 1024 * 1024
    tracemalloc.start()
    try:
        refused(tmp_path, data, r"member .* is compressed .*store their members uncompressed")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * 1024 * 1024  # nothing near 200 MB was inflated or allocated


def test_a_compressed_manifest_is_refused_too(tmp_path):
    data = make_zip({"chainrule.json": manifest({"t": "none"})}, zipfile.ZIP_DEFLATED)
    refused(tmp_path, data, r"chainrule\.json is compressed")


@pytest.mark.parametrize("size", [2**31, 2**32 - 1])
def test_a_stored_member_declaring_more_bytes_than_the_file_holds(tmp_path, size):
    data = tensor_file({})
    data = patch_central(data, "arrays/0.npy", csize=size, usize=size)
    refused(tmp_path, data, r"arrays/0\.npy declares \d+ bytes, more than the file holds")


def test_declared_and_stored_sizes_must_agree(tmp_path):
    data = patch_central(tensor_file({}), "arrays/0.npy", usize=10**6)
    refused(tmp_path, data, r"arrays/0\.npy declares 1000000 bytes but stores")


def test_overlapping_members_are_refused(tmp_path):
    files = {
        "chainrule.json": manifest({"t": "list", "items": [
            {"t": "ndarray", "array": i, "dtype": "<f8", "shape": [1000]} for i in range(2)]}),
        "arrays/0.npy": npy(np.zeros(1000)),
        "arrays/1.npy": npy(np.zeros(1000)),
    }  # fmt: skip
    data = make_zip(files)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        first = zf.getinfo("arrays/0.npy").header_offset
    data = patch_central(data, "arrays/1.npy", offset=first)  # both read the same bytes
    refused(tmp_path, data, r"members arrays/0\.npy and arrays/1\.npy overlap")


def test_encrypted_members_are_refused(tmp_path):
    data = bytearray(tensor_file({}))
    at = data.find(b"PK\x01\x02")
    while at >= 0:
        flags = struct.unpack_from("<H", data, at + 8)[0]
        struct.pack_into("<H", data, at + 8, flags | 1)
        at = data.find(b"PK\x01\x02", at + 4)
    refused(tmp_path, bytes(data), "is encrypted")


# ----- forged manifests: shapes, dtypes, nesting --------------------------------------------
@pytest.mark.parametrize("shape", [[10**12], [10**6, 10**6], [2**40, 2**40, 2**40]])
def test_absurd_shapes_are_refused_before_allocating(tmp_path, shape):
    data = tensor_file({"shape": shape})
    tracemalloc.start()
    try:
        refused(tmp_path, data, r"the manifest declares <f4 .* but the member holds only \d+ bytes")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * 1024 * 1024


def test_an_npy_header_with_an_absurd_shape_is_refused_before_allocating(tmp_path):
    good = npy(np.arange(4, dtype=np.float32))
    header_end = good.index(b"\n") + 1
    buf = io.BytesIO()  # numpy's own writer, so only the shape is a lie
    np.lib.format.write_array_header_1_0(
        buf, {"descr": "<f4", "fortran_order": False, "shape": (10**12,)}
    )
    forged = buf.getvalue() + good[header_end:]
    refused(tmp_path, tensor_file({}, payload=forged),
            r"arrays/0\.npy holds <f4 \(1000000000000,\), the manifest says <f4 \(4,\)")  # fmt: skip


def test_trailing_bytes_after_the_array_are_refused(tmp_path):
    payload = npy(np.arange(4, dtype=np.float32)) + b"\x00" * 64
    refused(tmp_path, tensor_file({}, payload=payload), r"arrays/0\.npy .* is \d+ bytes, not the")


@pytest.mark.parametrize(
    "shape", [[-1], [True], [2.0], "4", [[4]], [1] * 65], ids=["neg", "bool", "float", "str", "nested", "65dims"]
)  # fmt: skip
def test_malformed_shapes(tmp_path, shape):
    refused(tmp_path, tensor_file({"shape": shape}), "bad shape")


@pytest.mark.parametrize(
    "dtype, why",
    [("|O", "object"), ("|V8", "void"), ("(1000000,)<f8", "subarray"), ("<q9", "unknown"),
     ("not a dtype", "garbage"), (7, "not a string"), ("[('a', '<f4')]", "structured")],
)  # fmt: skip
def test_dtypes_save_refuses_are_refused_by_load(tmp_path, dtype, why):
    refused(
        tmp_path,
        tensor_file({"dtype": dtype}),
        r"cannot be read: dtype .* is not one that save writes",
    )


def test_the_dtypes_save_refuses_match():
    for arr in (np.array([object()]), np.zeros(2, dtype=[("a", "<f4")]), np.zeros(2, "V8")):
        with pytest.raises(TypeError, match="cannot save an array of dtype"):
            save(arr, io.BytesIO())


def test_an_object_npy_behind_a_numeric_manifest_is_refused(tmp_path):
    buf = io.BytesIO()
    np.save(buf, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    data = tensor_file({"dtype": "<f4", "shape": [1]}, payload=buf.getvalue())
    refused(tmp_path, data, r"arrays/0\.npy")


def test_deeply_nested_json_is_refused(tmp_path):
    depth = 100_000
    text = (
        '{"format": "chainrule-checkpoint", "version": 1, "root": '
        + "[" * depth
        + "]" * depth
        + "}"
    )
    refused(tmp_path, make_zip({"chainrule.json": text}), "unreadable chainrule.json")


def test_deeply_nested_nodes_are_refused(tmp_path):
    node: dict = {"t": "none"}
    for _ in range(MAX_DEPTH + 5):
        node = {"t": "list", "items": [node]}
    refused(
        tmp_path, make_zip({"chainrule.json": manifest(node)}), f"nested more than {MAX_DEPTH} deep"
    )


def test_save_refuses_what_load_would_refuse_and_round_trips_up_to_the_limit():
    deep: list = []
    for _ in range(MAX_DEPTH + 1):
        deep = [deep]
    with pytest.raises(ValueError, match=f"nested more than {MAX_DEPTH} containers deep"):
        save(deep, io.BytesIO())
    ok: list = []
    for _ in range(MAX_DEPTH - 1):
        ok = [ok]
    buf = io.BytesIO()
    save(ok, buf)
    buf.seek(0)
    assert load(buf) == ok


@pytest.mark.parametrize(
    "root, match",
    [
        ({"t": "int", "v": 10**5000}, "unreadable chainrule.json"),
        ({"t": "float", "v": "abc"}, "a float node holds 'abc'"),
        ({"t": "float", "v": [1]}, "a float node holds"),
        ({"t": "bytes", "v": "zz"}, "malformed manifest entry"),
        ({"t": "bytes", "v": 5}, "malformed manifest entry"),
        ({"t": "dict", "keys": [{"t": "list", "items": []}], "values": [{"t": "none"}]}, "malformed manifest entry"),
        ({"t": "list", "items": 5}, "malformed manifest entry"),
        ({"t": "list", "items": None}, "malformed manifest entry"),
        ({"t": "tensor", "array": -1, "dtype": "<f4", "shape": [4]}, "bad array reference -1"),
        ({"t": "tensor", "array": True, "dtype": "<f4", "shape": [4]}, "bad array reference True"),
        ({"t": "tensor", "array": "0", "dtype": "<f4", "shape": [4]}, "bad array reference '0'"),
        ({"t": "npscalar", "array": 0, "dtype": "<f4", "shape": [4]}, "a NumPy scalar of shape"),
        (["not", "a", "node"], "malformed manifest entry"),
        ("none", "malformed manifest entry"),
    ],
)  # fmt: skip
def test_malformed_nodes(tmp_path, root, match):
    text = manifest(root) if not isinstance(root, dict) or root.get("v") != 10**5000 else (
        '{"format": "chainrule-checkpoint", "version": 1, "root": {"t": "int", "v": '
        + "9" * 5000 + "}}"
    )  # fmt: skip
    files = {"chainrule.json": text, "arrays/0.npy": npy(np.arange(4, dtype=np.float32))}
    refused(tmp_path, make_zip(files), match)


def test_tensor_flags_are_checked(tmp_path):
    ints = np.arange(3)
    refused(tmp_path, tensor_file({"parameter": True}, arr=ints), r"requires_grad=True for a int64")
    refused(tmp_path, tensor_file({"requires_grad": True}, arr=ints), r"requires_grad=True")
    refused(tmp_path, tensor_file({"requires_grad": "yes"}), r"requires_grad='yes'")
    refused(tmp_path, tensor_file({"device": "tpu"}), r"unknown device 'tpu'")
    refused(tmp_path, tensor_file({"device": ["cpu"]}), r"unknown device")
    path = tmp_path / "int_param.crt"  # an integer Parameter saved for real loads
    save({"p": cr.nn.Parameter(cr.tensor([1, 2]), requires_grad=False)}, path)
    p = load(path)["p"]
    assert isinstance(p, cr.nn.Parameter) and not p.requires_grad and p.tolist() == [1, 2]


def test_a_duplicated_member_is_refused(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf, pytest.warns(UserWarning, match="Duplicate name"):
        zf.writestr("chainrule.json", manifest({"t": "none"}))
        zf.writestr("chainrule.json", manifest({"t": "int", "v": 1}))
    refused(tmp_path, buf.getvalue(), "chainrule.json appears twice")


def test_round_trip_still_exact_after_all_checks(tmp_path):
    state = {
        "f32": cr.randn(3, 4), "f64": cr.randn(2, dtype=cr.float64), "i": cr.tensor([1, -2]),
        "b": cr.tensor([True, False]), "empty": cr.zeros(0, 3), "scalar": cr.tensor(2.5),
        "np": np.asfortranarray(np.arange(6.0).reshape(2, 3)), "s": np.array(["ab", "c"]),
        "npscalar": np.float32(1.5), "dt": np.array(["2020-01-01"], dtype="datetime64[D]"),
        "nested": [(1, 2.5, None, b"\x00\xff"), {"k": float("inf")}],
    }  # fmt: skip
    path = tmp_path / "ok.crt"
    save(state, path)
    got = load(path)
    for k in ("f32", "f64", "i", "b", "empty", "scalar"):
        assert got[k].dtype == state[k].dtype and got[k].shape == state[k].shape
        np.testing.assert_array_equal(got[k].numpy(), state[k].numpy())
    for k in ("np", "s", "dt"):
        assert got[k].dtype == state[k].dtype
        np.testing.assert_array_equal(got[k], state[k])
    assert got["npscalar"] == np.float32(1.5) and got["nested"] == state["nested"]


# ----- weights_only, as in torch.load -----------------------------------------------------------
@pytest.mark.parametrize("weights_only", [True, False, None])
def test_weights_only_is_accepted(tmp_path, weights_only):
    path = tmp_path / "w.crt"
    save({"w": cr.ones(2)}, path)
    assert load(path, weights_only=weights_only)["w"].tolist() == [1.0, 1.0]
    tpath = tmp_path / "w.pt"
    torch.save({"w": torch.ones(2)}, tpath)
    assert torch.load(tpath, weights_only=bool(weights_only))["w"].tolist() == [1.0, 1.0]


def test_weights_only_false_never_unpickles(tmp_path):
    torch.save({"w": torch.ones(2)}, tmp_path / "model.pt")
    with pytest.raises(ValueError, match="chainrule does not unpickle"):
        load(tmp_path / "model.pt", weights_only=False)
    with pytest.raises(TypeError, match="weights_only must be a bool"):
        load(tmp_path / "model.pt", weights_only="yes")


# ----- a save killed midway -------------------------------------------------------------------
KILLED_SAVE = textwrap.dedent(
    """
    import os, signal, sys
    import numpy as np
    import chainrule as cr
    real = np.lib.format.write_array
    calls = []
    def die_midway(fp, arr, **kw):
        calls.append(1)
        if len(calls) == 2:
            fp.write(b"partial")
            os.kill(os.getpid(), signal.SIGKILL)  # no except, no finally: a real kill
        return real(fp, arr, **kw)
    np.lib.format.write_array = die_midway
    cr.save({"version": 2, "a": cr.zeros(1000), "b": cr.zeros(1000)}, sys.argv[1])
    """
)


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL")
def test_a_killed_save_leaves_the_old_file_and_the_next_save_removes_its_temp(tmp_path):
    path = tmp_path / "model.crt"
    save({"version": 1}, path)
    before = path.read_bytes()
    proc = subprocess.run([sys.executable, "-c", KILLED_SAVE, str(path)], capture_output=True)
    assert proc.returncode == -9, proc.stderr
    assert path.read_bytes() == before  # the target was never half-written
    stale = [p.name for p in tmp_path.iterdir() if p.name != "model.crt"]
    assert len(stale) == 1 and stale[0].startswith(".model.crt.") and stale[0].endswith(".tmp")
    assert load(path) == {"version": 1}

    (tmp_path / "other.crt").write_bytes(b"")  # other targets' files are not touched
    live = tmp_path / f".model.crt.{os.getppid()}.abcdefgh.tmp"  # a save running in a live process
    live.write_bytes(b"")
    save({"version": 3}, path)
    assert load(path) == {"version": 3}
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["model.crt", "other.crt", live.name]
    )
