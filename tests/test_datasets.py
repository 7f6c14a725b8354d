"""chainrule.data.datasets: generators, scikit-learn tables, IDX files, split and scaling."""

from __future__ import annotations

import gzip
import importlib.util
import struct
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule.data import datasets as ds

# ----- generators ---------------------------------------------------------------------------
GENERATORS = {
    "moons": lambda **kw: ds.make_moons(**kw),
    "circles": lambda **kw: ds.make_circles(factor=0.5, **kw),
    "spirals": lambda **kw: ds.make_spirals(**kw),
}


@pytest.mark.parametrize("name", list(GENERATORS))
def test_generator_shapes_dtypes_balance_determinism(name):
    make = GENERATORS[name]
    X, y = make(n_samples=201, noise=0.1, random_state=0)
    assert X.shape == (201, 2) and X.dtype == np.float32 and y.dtype == np.int64
    counts = np.bincount(y.numpy())
    assert counts.tolist() in ([100, 101], [101, 100])
    assert np.all(np.abs(X.numpy()) < 3)
    X2, y2 = make(n_samples=201, noise=0.1, random_state=0)
    X3, _ = make(n_samples=201, noise=0.1, random_state=1)
    assert np.array_equal(X.numpy(), X2.numpy()) and np.array_equal(y.numpy(), y2.numpy())
    assert not np.array_equal(X.numpy(), X3.numpy())
    gen = cr.Generator().manual_seed(0)
    X4, _ = make(n_samples=201, noise=0.1, random_state=gen)
    assert X4.shape == (201, 2)


def test_moons_and_circles_match_scikit_learn_without_noise():
    skd = pytest.importorskip("sklearn.datasets")
    for ours, theirs in [
        (ds.make_moons(51, shuffle=False), skd.make_moons(51, shuffle=False)),
        (
            ds.make_circles(51, factor=0.3, shuffle=False),
            skd.make_circles(51, factor=0.3, shuffle=False),
        ),
    ]:
        np.testing.assert_allclose(ours[0].numpy(), theirs[0], atol=1e-6)
        assert np.array_equal(ours[1].numpy(), theirs[1])


def test_circles_radii_and_errors():
    X, y = ds.make_circles(100, factor=0.4, random_state=0)
    r = np.linalg.norm(X.numpy(), axis=1)
    np.testing.assert_allclose(r[y.numpy() == 0], 1.0, atol=1e-6)
    np.testing.assert_allclose(r[y.numpy() == 1], 0.4, atol=1e-6)
    with pytest.raises(ValueError, match="factor"):
        ds.make_circles(10, factor=1.5)
    with pytest.raises(ValueError, match="n_samples"):
        ds.make_moons(0)
    with pytest.raises(TypeError, match="random_state"):
        ds.make_moons(10, random_state="seed")


def test_spirals_three_classes_balanced_and_separated_without_noise():
    X, y = ds.make_spirals(300, n_classes=3, random_state=0)
    assert np.bincount(y.numpy()).tolist() == [100, 100, 100]
    r = np.linalg.norm(X.numpy(), axis=1)
    assert r.min() >= 0.1 - 1e-6 and r.max() <= 1 + 1e-6
    # without noise, the nearest neighbour of each point has its class
    P = X.numpy().astype(np.float64)
    d = ((P[:, None] - P[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    assert (y.numpy()[d.argmin(1)] == y.numpy()).mean() > 0.95
    with pytest.raises(ValueError, match="n_classes"):
        ds.make_spirals(10, n_classes=1)


# ----- scikit-learn's shipped tables -------------------------------------------------------
def test_digits_and_breast_cancer_match_scikit_learn():
    skd = pytest.importorskip("sklearn.datasets")
    X, y = ds.load_digits()
    assert X.shape == (1797, 64) and X.dtype == np.float32 and y.dtype == np.int64
    assert (
        X.numpy().min() == 0
        and X.numpy().max() == 16
        and sorted(set(y.tolist())) == list(range(10))
    )
    Xs, ys = skd.load_digits(return_X_y=True)
    assert np.array_equal(X.numpy(), Xs.astype(np.float32)) and np.array_equal(y.numpy(), ys)
    X, y = ds.load_breast_cancer()
    assert X.shape == (569, 30) and X.dtype == np.float32 and y.dtype == np.int64
    Xs, ys = skd.load_breast_cancer(return_X_y=True)
    assert np.array_equal(X.numpy(), Xs.astype(np.float32)) and np.array_equal(y.numpy(), ys)
    assert np.bincount(y.numpy()).tolist() == [212, 357]


def test_tables_without_scikit_learn_say_how_to_get_it(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == "sklearn" else real(n, *a)
    )
    for loader in (ds.load_digits, ds.load_breast_cancer):
        with pytest.raises(ModuleNotFoundError, match=r"pip install scikit-learn"):
            loader()


# ----- IDX files ----------------------------------------------------------------------------
def idx_bytes(arr: np.ndarray, code: int = 0x08) -> bytes:
    header = bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    be = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}[code]
    return header + arr.astype(be).tobytes()


def write_mnist_like(folder: Path, n: int, prefix: str, gz: bool, seed: int = 0) -> tuple:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    folder.mkdir(parents=True, exist_ok=True)
    for name, arr in (
        (f"{prefix}-images-idx3-ubyte", images),
        (f"{prefix}-labels-idx1-ubyte", labels),
    ):
        data = idx_bytes(arr)
        if gz:
            (folder / (name + ".gz")).write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)
    return images, labels


@pytest.mark.parametrize("code", [0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E])
@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_types_round_trip(tmp_path, code, gz):
    arr = (np.arange(24).reshape(2, 3, 4) - 5).astype(np.float64)
    if code == 0x08:
        arr = np.abs(arr)
    data = idx_bytes(arr, code)
    p = tmp_path / "a-idx3"
    p.write_bytes(gzip.compress(data) if gz else data)
    out = ds.read_idx(p)
    assert out.shape == (2, 3, 4) and out.dtype.isnative and out.flags.writeable
    np.testing.assert_array_equal(out, arr)


def test_read_idx_rejects_corrupt_files(tmp_path):
    good = idx_bytes(np.arange(10, dtype=np.uint8).reshape(2, 5))
    cases = {
        "truncated": (good[:-3], r"truncated IDX file.*\(2, 5\)"),
        "trailing": (good + b"\x00", "trailing bytes"),
        "magic": (b"\x01\x02" + good[2:], "not an IDX file"),
        "typecode": (good[:2] + b"\x07" + good[3:], "not an IDX file"),
        "header": (good[:6], "truncated IDX header"),
        "tiny": (b"\x00", "truncated IDX file"),
        "gz-truncated": (gzip.compress(good)[:-10], "corrupt or truncated gzip"),
        "gz-corrupt": (gzip.compress(good)[:12] + b"\xff" * 20, "corrupt or truncated gzip"),
        "text": (b"hello, world\n", "not an IDX file"),
    }
    for name, (data, msg) in cases.items():
        p = tmp_path / name
        p.write_bytes(data)
        with pytest.raises(ValueError, match=msg) as e:
            ds.read_idx(p)
        assert str(p) in str(e.value), name


@pytest.mark.parametrize("gz", [False, True])
def test_load_fashion_mnist_from_root(tmp_path, gz):
    images, labels = write_mnist_like(tmp_path, 7, "t10k", gz)
    X, y = ds.load_fashion_mnist(train=False, root=tmp_path)
    assert X.shape == (7, 1, 28, 28) and X.dtype == np.float32 and y.dtype == np.int64
    assert 0.0 <= X.numpy().min() and X.numpy().max() <= 1.0
    np.testing.assert_allclose(X.numpy()[:, 0] * 255, images, atol=1e-4)
    assert np.array_equal(y.numpy(), labels)
    Xf, _ = ds.load_fashion_mnist(train=False, root=tmp_path, flatten=True)
    assert Xf.shape == (7, 784) and np.array_equal(Xf.numpy(), X.numpy().reshape(7, -1))


def test_search_order_env_subfolder_then_env_then_system(tmp_path, monkeypatch):
    env, system = tmp_path / "env", tmp_path / "system"
    monkeypatch.setattr(ds, "_SYSTEM_DATA", system)
    monkeypatch.setenv("CHAINRULE_DATA", str(env))
    write_mnist_like(system / "mnist", 3, "train", gz=True, seed=1)
    assert len(ds.load_mnist()[1]) == 3  # only the system folder has it
    write_mnist_like(env, 4, "train", gz=False, seed=2)
    assert len(ds.load_mnist()[1]) == 4  # $CHAINRULE_DATA beats the system folder
    write_mnist_like(env / "mnist", 5, "train", gz=True, seed=3)
    assert len(ds.load_mnist()[1]) == 5  # and its mnist/ subfolder comes first
    with pytest.raises(FileNotFoundError):
        ds.load_mnist(train=False)


def test_missing_files_error_says_how_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setattr(ds, "_SYSTEM_DATA", tmp_path / "nothing")
    monkeypatch.delenv("CHAINRULE_DATA", raising=False)
    with pytest.raises(FileNotFoundError) as e:
        ds.load_fashion_mnist()
    msg = str(e.value)
    assert "sudo apt-get install dataset-fashion-mnist" in msg
    assert "$CHAINRULE_DATA" in msg and "never downloads" in msg
    assert str(tmp_path / "nothing" / "fashion-mnist") in msg
    monkeypatch.setenv("CHAINRULE_DATA", str(tmp_path / "mine"))
    with pytest.raises(FileNotFoundError) as e:
        ds.load_mnist(train=False)
    msg = str(e.value)
    for name in (
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ):
        assert name in msg
    assert str(tmp_path / "mine" / "mnist") in msg


def test_inconsistent_image_and_label_files(tmp_path):
    write_mnist_like(tmp_path, 4, "train", gz=False)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(3, np.uint8)))
    with pytest.raises(ValueError, match="4 images but .* 3 labels"):
        ds.load_mnist(root=tmp_path)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.full(4, 12, np.uint8)))
    with pytest.raises(ValueError, match="labels must be 0..9"):
        ds.load_mnist(root=tmp_path)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(idx_bytes(np.zeros((4, 8, 8), np.uint8)))
    with pytest.raises(ValueError, match=r"shape \(N, 28, 28\)"):
        ds.load_mnist(root=tmp_path)
    data = (tmp_path / "train-labels-idx1-ubyte").read_bytes()
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(data[:-1])
    with pytest.raises(ValueError, match="truncated"):
        ds.load_mnist(root=tmp_path)


DEBIAN = Path("/usr/share/datasets/fashion-mnist")
HAVE_DEBIAN = (DEBIAN / "t10k-labels-idx1-ubyte.gz").exists() or (
    DEBIAN / "t10k-labels-idx1-ubyte"
).exists()


@pytest.mark.skipif(
    not HAVE_DEBIAN, reason="Debian's dataset-fashion-mnist is not installed (apt-get install it)"
)
def test_real_fashion_mnist(monkeypatch):
    monkeypatch.delenv("CHAINRULE_DATA", raising=False)
    for train, n in ((True, 60000), (False, 10000)):
        X, y = ds.load_fashion_mnist(train=train)
        assert X.shape == (n, 1, 28, 28) and X.dtype == np.float32 and y.dtype == np.int64
        assert np.bincount(y.numpy(), minlength=10).tolist() == [n // 10] * 10
        assert X.numpy().min() == 0.0 and X.numpy().max() == 1.0


# ----- split and scale ----------------------------------------------------------------------
def test_split_train_test_sizes_disjoint_and_types():
    X = cr.tensor(np.arange(50, dtype=np.float32)[:, None])
    y = cr.tensor(np.arange(50) % 2)
    Xtr, Xte, ytr, yte = ds.split_train_test(X, y, test_fraction=0.3, seed=0)
    assert isinstance(Xtr, cr.Tensor) and Xtr.shape == (35, 1) and Xte.shape == (15, 1)
    ids = np.concatenate([Xtr.numpy()[:, 0], Xte.numpy()[:, 0]]).astype(int)
    assert sorted(ids) == list(range(50))
    assert np.array_equal(ytr.numpy(), Xtr.numpy()[:, 0].astype(int) % 2)  # rows stay paired
    Xtr2, *_ = ds.split_train_test(X, y, test_fraction=0.3, seed=0)
    Xtr3, *_ = ds.split_train_test(X, y, test_fraction=0.3, seed=1)
    assert np.array_equal(Xtr.numpy(), Xtr2.numpy()) and not np.array_equal(
        Xtr.numpy(), Xtr3.numpy()
    )
    a = ds.split_train_test(X.numpy(), y.numpy(), test_fraction=10, seed=0)
    assert isinstance(a[0], np.ndarray) and len(a[1]) == 10


def test_split_train_test_stratified_keeps_class_shares():
    y = np.array([0] * 60 + [1] * 30 + [2] * 10)
    X = np.arange(100)
    _, Xte, ytr, yte = ds.split_train_test(X, y, test_fraction=0.2, seed=3, stratify=True)
    assert np.bincount(yte).tolist() == [12, 6, 2] and np.bincount(ytr).tolist() == [48, 24, 8]
    assert np.array_equal(y[Xte], yte)


def test_split_train_test_errors():
    with pytest.raises(ValueError, match="different lengths"):
        ds.split_train_test(np.zeros(5), np.zeros(4))
    with pytest.raises(ValueError, match="test_fraction"):
        ds.split_train_test(np.zeros(5), np.zeros(5), test_fraction=1.5)
    with pytest.raises(ValueError, match="both parts"):
        ds.split_train_test(np.zeros(5), np.zeros(5), test_fraction=0.99)


def test_standardize_fits_on_train_only():
    rng = np.random.default_rng(0)
    tr = cr.tensor(rng.normal(3.0, 2.0, size=(200, 3)).astype(np.float32))
    tr._data[:, 2] = 7.0  # a constant feature
    te = cr.tensor(np.full((2, 3), 5.0, np.float32))
    tr_s, te_s, mean, std = ds.standardize(tr, te, return_stats=True)
    assert isinstance(tr_s, cr.Tensor) and tr_s.dtype == np.float32
    np.testing.assert_allclose(tr_s.numpy()[:, :2].mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(tr_s.numpy()[:, :2].std(0), 1, atol=1e-5)
    assert np.all(tr_s.numpy()[:, 2] == 0) and std[2] == 1
    np.testing.assert_allclose(te_s.numpy(), np.tile((5.0 - mean) / std, (2, 1)), rtol=1e-6)
