"""chainrule.serialization: pickle-free checkpoints, atomic writes, clear errors on bad files."""

from __future__ import annotations

import io
import json
import math
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

import chainrule as cr
from chainrule import serialization
from chainrule.serialization import load, save


def state() -> dict:
    rng = np.random.default_rng(0)
    return {
        "model": {
            "0.weight": cr.tensor(rng.normal(size=(4, 3)).astype(np.float32)),
            "0.bias": cr.tensor(np.zeros(4, np.float64)),
            "bn.num_batches_tracked": cr.tensor(np.array(7, np.int64)),
            "mask": cr.tensor(np.array([True, False])),
            "empty": cr.tensor(np.zeros((0, 5), np.float16)),
        },
        "optimizer": {
            "state": {0: {"step": 10, "exp_avg": cr.tensor(np.ones((4, 3), np.float32))}},
            "param_groups": [
                {"params": [0, 1], "lr": 1e-3, "betas": (0.9, 0.999), "nesterov": False}
            ],
        },
        "metrics": {"acc": [0.5, 0.75], "best": None, "name": "mlp-ünïcode", "nan": math.nan},
        "arrays": (np.arange(6, dtype=">i4").reshape(2, 3), np.float32(2.5), np.int8(-3)),
        "big_int": 2**70,
        "raw": b"\x00\xff",
        (1, "tuple-key"): -0.0,
    }


def assert_same(a, b, where="obj"):
    assert type(a) is type(b), (where, type(a), type(b))
    if isinstance(a, cr.Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape, where
        assert np.array_equal(a.numpy(), b.numpy()), where
    elif isinstance(a, np.ndarray | np.generic):
        assert a.dtype == b.dtype and np.shape(a) == np.shape(b), where
        assert np.array_equal(a, b), where
    elif isinstance(a, dict):
        assert list(a) == list(b), where
        for k in a:
            assert_same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b), where
    else:
        assert a == b and repr(a) == repr(b), where


def test_round_trip_nested_state(tmp_path):
    obj = state()
    path = tmp_path / "ckpt.crt"
    save(obj, path)
    back = load(path)
    assert_same(obj, back)
    assert back["arrays"][0].dtype.str == ">i4"  # byte order kept exactly
    assert back["model"]["0.weight"].requires_grad is False
    assert load(str(path), map_location="cpu")["big_int"] == 2**70


def test_round_trip_file_objects_parameters_and_sharing():
    p = cr.nn.Parameter(cr.tensor([1.0, 2.0]))
    t = cr.tensor([3.0])
    buf = io.BytesIO()
    save({"p": p, "a": t, "b": t, "g": cr.tensor([1.0], requires_grad=True)}, buf)
    buf.seek(0)
    back = load(buf)
    assert type(back["p"]).__name__ == "Parameter" and back["p"].requires_grad
    assert back["a"] is back["b"]  # shared tensors stay shared
    assert back["g"].requires_grad and back["g"].is_leaf


def test_module_and_optimizer_state_dicts_round_trip(tmp_path):
    model = cr.nn.Sequential(cr.nn.Linear(3, 4), cr.nn.ReLU(), cr.nn.Linear(4, 2))
    path = tmp_path / "model.crt"
    save(model.state_dict(), path)
    other = cr.nn.Sequential(cr.nn.Linear(3, 4), cr.nn.ReLU(), cr.nn.Linear(4, 2))
    other.load_state_dict(load(path))
    x = cr.randn(5, 3)
    assert np.array_equal(model(x).detach().numpy(), other(x).detach().numpy())


def test_format_is_a_zip_with_a_json_manifest_and_no_pickle(tmp_path):
    path = tmp_path / "c.crt"
    save(state(), path)
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        manifest = json.loads(zf.read("chainrule.json"))
        blobs = b"".join(zf.read(n) for n in names)
    assert manifest["format"] == "chainrule-checkpoint" and manifest["version"] == 1
    assert all(n == "chainrule.json" or n.startswith("arrays/") for n in names)
    assert b"\x80\x04" not in blobs and b"\x80\x05" not in blobs  # no pickle protocol header


def test_unsaveable_objects_name_where_they_are(tmp_path):
    path = tmp_path / "x.crt"
    with pytest.raises(TypeError, match=r"set at obj\['a'\]\[1\]"):
        save({"a": [1, {2}]}, path)
    with pytest.raises(TypeError, match="dtype object"):
        save(np.array([None]), path)
    loop: list = []
    loop.append(loop)
    with pytest.raises(TypeError, match="circular"):
        save(loop, path)
    assert not path.exists()


def _leftovers(folder: Path, keep: str) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name != keep)


def test_failed_save_leaves_the_old_checkpoint_and_no_temp_files(tmp_path, monkeypatch):
    path = tmp_path / "model.crt"
    save({"version": 1, "w": cr.ones(3)}, path)
    before = path.read_bytes()

    with pytest.raises(TypeError):  # fails before writing anything
        save({"version": 2, "bad": object()}, path)
    assert path.read_bytes() == before and _leftovers(tmp_path, "model.crt") == []

    real_write_array = np.lib.format.write_array
    calls = {"n": 0}

    def crash_mid_write(fp, arr, **kw):  # the second array write dies, as a full disk would
        calls["n"] += 1
        if calls["n"] == 2:
            fp.write(b"partial")
            raise OSError("No space left on device")
        return real_write_array(fp, arr, **kw)

    monkeypatch.setattr(np.lib.format, "write_array", crash_mid_write)
    with pytest.raises(OSError, match="No space"):
        save({"version": 3, "a": cr.zeros(1000), "b": cr.zeros(1000)}, path)
    assert calls["n"] == 2
    assert path.read_bytes() == before and _leftovers(tmp_path, "model.crt") == []
    monkeypatch.undo()
    assert load(path)["version"] == 1

    save({"version": 4}, path)  # a good save replaces it
    assert load(path) == {"version": 4} and _leftovers(tmp_path, "model.crt") == []


def test_saved_file_gets_normal_permissions(tmp_path):
    path, plain = tmp_path / "p.crt", tmp_path / "plain"
    save({"a": 1}, path)
    plain.write_bytes(b"")  # what open() gives under the current umask
    assert os.stat(path).st_mode & 0o777 == os.stat(plain).st_mode & 0o777


def _good_bytes() -> bytes:
    buf = io.BytesIO()
    save({"w": cr.arange(100.0), "n": 1}, buf)
    return buf.getvalue()


@pytest.mark.parametrize("cut", [0.1, 0.5, 0.9, 0.99])
def test_truncated_files_give_clear_errors(tmp_path, cut):
    data = _good_bytes()
    path = tmp_path / "t.crt"
    path.write_bytes(data[: int(len(data) * cut)])
    with pytest.raises(ValueError, match="truncated or corrupt") as e:
        load(path)
    assert str(path) in str(e.value)


def test_corrupted_array_bytes_are_detected(tmp_path):
    data = bytearray(_good_bytes())
    i = data.index(b"\x93NUMPY")
    data[i + 200] ^= 0xFF  # flip bits inside the array data
    path = tmp_path / "c.crt"
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"c\.crt: corrupt chainrule checkpoint: arrays/0\.npy"):
        load(path)


def _zip_with(path: Path, files: dict) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        for name, content in files.items():
            zf.writestr(name, content)


def test_foreign_and_malformed_files(tmp_path):
    cases = {}
    (tmp_path / "text.txt").write_text("hello, I am not a checkpoint\n")
    cases["text.txt"] = "starts with b'hello"
    (tmp_path / "empty").write_bytes(b"")
    cases["empty"] = "empty file"
    (tmp_path / "legacy.pkl").write_bytes(pickle.dumps({"a": 1}))
    cases["legacy.pkl"] = "pickle"
    torch.save({"w": torch.ones(2)}, tmp_path / "model.pt")
    cases["model.pt"] = "PyTorch checkpoint"
    np.save(tmp_path / "arr.npy", np.ones(2))
    cases["arr.npy"] = "numpy.load"
    _zip_with(tmp_path / "other.zip", {"readme.txt": "hi"})
    cases["other.zip"] = "without chainrule.json"
    _zip_with(tmp_path / "badjson.crt", {"chainrule.json": "{not json"})
    cases["badjson.crt"] = "unreadable chainrule.json"
    _zip_with(tmp_path / "notag.crt", {"chainrule.json": json.dumps({"root": {"t": "none"}})})
    cases["notag.crt"] = "no format tag"
    manifest = {"format": "chainrule-checkpoint", "version": 99, "root": {"t": "none"}}
    _zip_with(tmp_path / "future.crt", {"chainrule.json": json.dumps(manifest)})
    cases["future.crt"] = "newer than this chainrule"
    manifest = {"format": "chainrule-checkpoint", "version": 1}
    _zip_with(tmp_path / "noroot.crt", {"chainrule.json": json.dumps(manifest)})
    cases["noroot.crt"] = "no 'root'"
    node = {"t": "tensor", "array": 0, "dtype": "<f4", "shape": [2]}
    manifest = {
        "format": "chainrule-checkpoint",
        "version": 1,
        "root": {"t": "list", "items": [node]},
    }
    _zip_with(tmp_path / "missing.crt", {"chainrule.json": json.dumps(manifest)})
    cases["missing.crt"] = r"arrays/0\.npy \(for obj\[0\]\) is missing"
    manifest["root"] = {"t": "dict", "keys": [{"t": "str", "v": "a"}], "values": [{"v": 1}]}
    _zip_with(tmp_path / "nokey.crt", {"chainrule.json": json.dumps(manifest)})
    cases["nokey.crt"] = r"malformed manifest entry at obj\['a'\]"
    manifest["root"] = {"t": "object", "v": "os.system"}
    _zip_with(tmp_path / "unknown.crt", {"chainrule.json": json.dumps(manifest)})
    cases["unknown.crt"] = "unknown node type 'object'"
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.ones(3, np.float64))
    manifest["root"] = node
    _zip_with(
        tmp_path / "wrongdtype.crt",
        {"chainrule.json": json.dumps(manifest), "arrays/0.npy": buf.getvalue()},
    )
    cases["wrongdtype.crt"] = "the manifest says <f4"
    buf = io.BytesIO()
    np.save(buf, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    manifest["root"] = {"t": "ndarray", "array": 0, "dtype": "|O", "shape": [1]}
    _zip_with(
        tmp_path / "objarray.crt",
        {"chainrule.json": json.dumps(manifest), "arrays/0.npy": buf.getvalue()},
    )
    cases["objarray.crt"] = "cannot be read"

    for name, msg in cases.items():
        with pytest.raises(ValueError, match=msg) as e:
            load(tmp_path / name)
        assert str(tmp_path / name) in str(e.value), name
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "nope.crt")


def test_map_location(tmp_path):
    path = tmp_path / "m.crt"
    save({"a": cr.ones(2)}, path)
    assert load(path, map_location="cpu")["a"].device == "cpu"
    with pytest.raises(ValueError, match="map_location"):
        load(path, map_location={"cuda:0": "cpu"})
    # a checkpoint saved from a GPU loads on the CPU with map_location='cpu'
    with zipfile.ZipFile(path) as zf:
        files = {n: zf.read(n) for n in zf.namelist()}
    manifest = json.loads(files["chainrule.json"])
    manifest["root"]["values"][0]["device"] = "cuda"
    files["chainrule.json"] = json.dumps(manifest)
    _zip_with(tmp_path / "gpu.crt", files)
    assert load(tmp_path / "gpu.crt", map_location="cpu")["a"].tolist() == [1.0, 1.0]
    if cr.backend.cupy_module() is None:
        with pytest.raises(RuntimeError, match="map_location='cpu'"):
            load(tmp_path / "gpu.crt")


def test_module_has_no_pickle():
    src = Path(serialization.__file__).read_text()
    assert "import pickle" not in src and "allow_pickle=True" not in src


def test_save_into_a_missing_folder_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        save({"a": 1}, tmp_path / "no" / "x.crt")
