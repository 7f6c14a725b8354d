"""Ready-made data sets, none of them downloaded.

- Generators (NumPy only): :func:`make_moons`, :func:`make_circles`, :func:`make_spirals`.
- Tables shipped with scikit-learn (the ``train`` extra): :func:`load_digits`,
  :func:`load_breast_cancer`.
- Words shipped with PyPI's ``names`` package (the ``train`` extra): :func:`load_names`, the
  1990 US census name lists, for character-level language models (makemore, GPT).
- Images read from IDX files on disk: :func:`load_fashion_mnist`, :func:`load_mnist` (looked for
  in ``$CHAINRULE_DATA``, then where Debian's ``dataset-fashion-mnist`` installs them), with the
  IDX reader :func:`read_idx`.
- Helpers so training code needs no scikit-learn: :func:`split_train_test`, :func:`standardize`.

Every loader of samples returns ``(X, y)`` as chainrule tensors: ``X`` float32, ``y`` int64;
:func:`load_names` returns a list of words.
"""

from __future__ import annotations

import gzip
import importlib.util
import math
import os
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..random import Generator
from ..tensor import Tensor

__all__ = [
    "FASHION_MNIST_CLASSES",
    "load_breast_cancer",
    "load_digits",
    "load_fashion_mnist",
    "load_mnist",
    "load_names",
    "make_circles",
    "make_moons",
    "make_spirals",
    "read_idx",
    "split_train_test",
    "standardize",
]

FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
"""Fashion-MNIST's class names, by label."""


def _rng(random_state: Any) -> np.random.Generator:
    """A NumPy generator from an int seed, ``None``, a NumPy or a chainrule generator."""
    if isinstance(random_state, Generator):
        return random_state.numpy
    if isinstance(random_state, np.random.Generator):
        return random_state
    if random_state is None or isinstance(random_state, int | np.integer):
        return np.random.default_rng(random_state)
    raise TypeError(
        "random_state must be an int, None, a numpy Generator or a chainrule.Generator, "
        f"got {type(random_state).__name__}"
    )


def _check_n(n_samples: Any, minimum: int = 1) -> int:
    if isinstance(n_samples, bool) or not isinstance(n_samples, int | np.integer):
        raise TypeError(f"n_samples must be an int, got {type(n_samples).__name__}")
    if n_samples < minimum:
        raise ValueError(f"n_samples must be at least {minimum}, got {n_samples}")
    return int(n_samples)


def _finish(
    X: np.ndarray, y: np.ndarray, noise: float | None, rng: np.random.Generator, shuffle: bool
) -> tuple[Tensor, Tensor]:
    if shuffle:
        perm = rng.permutation(len(y))
        X, y = X[perm], y[perm]
    if noise is not None:
        if noise < 0:
            raise ValueError(f"noise must be non-negative, got {noise}")
        X = X + rng.normal(scale=noise, size=X.shape)
    return Tensor._wrap(X.astype(np.float32)), Tensor._wrap(y.astype(np.int64))


def make_moons(
    n_samples: int = 100,
    noise: float | None = None,
    random_state: Any = None,
    shuffle: bool = True,
) -> tuple[Tensor, Tensor]:
    """Two interleaving half circles (scikit-learn's ``make_moons``, in NumPy).

    Class 0 is the upper moon (``n_samples // 2`` points), class 1 the lower one. Without
    noise and shuffling the points are exactly scikit-learn's.

    Args:
        n_samples: total number of points.
        noise: standard deviation of Gaussian noise added to the coordinates.
        random_state: int seed, ``None``, or a NumPy / chainrule generator.
        shuffle: shuffle the samples.

    Returns:
        ``X`` float32 of shape ``(n_samples, 2)``, ``y`` int64 in ``{0, 1}``.

    Example:
        >>> X, y = make_moons(100, noise=0.1, random_state=0)
        >>> X.shape, X.dtype, y.dtype, int(y.sum())
        ((100, 2), dtype('float32'), dtype('int64'), 50)
    """
    n = _check_n(n_samples)
    rng = _rng(random_state)
    n_out = n // 2
    n_in = n - n_out
    t_out = np.linspace(0, np.pi, n_out)
    t_in = np.linspace(0, np.pi, n_in)
    X = np.vstack(
        [
            np.append(np.cos(t_out), 1 - np.cos(t_in)),
            np.append(np.sin(t_out), 1 - np.sin(t_in) - 0.5),
        ]
    ).T
    y = np.hstack([np.zeros(n_out, dtype=np.int64), np.ones(n_in, dtype=np.int64)])
    return _finish(X, y, noise, rng, shuffle)


def make_circles(
    n_samples: int = 100,
    noise: float | None = None,
    factor: float = 0.8,
    random_state: Any = None,
    shuffle: bool = True,
) -> tuple[Tensor, Tensor]:
    """A large circle (class 0) around a smaller one (class 1), as scikit-learn's.

    Args:
        n_samples: total number of points (``n_samples // 2`` on the outer circle).
        noise: standard deviation of Gaussian noise added to the coordinates.
        factor: radius of the inner circle relative to the outer one, in ``[0, 1)``.
        random_state: int seed, ``None``, or a NumPy / chainrule generator.
        shuffle: shuffle the samples.

    Returns:
        ``X`` float32 of shape ``(n_samples, 2)``, ``y`` int64 in ``{0, 1}``.

    Example:
        >>> X, y = make_circles(10, factor=0.5, shuffle=False)
        >>> [round(float(r), 3) for r in (X ** 2).sum(dim=1).sqrt()[[0, -1]]]
        [1.0, 0.5]
    """
    n = _check_n(n_samples)
    if not 0 <= factor < 1:
        raise ValueError(f"factor has to be between 0 and 1, got {factor}")
    rng = _rng(random_state)
    n_out = n // 2
    n_in = n - n_out
    t_out = np.linspace(0, 2 * np.pi, n_out, endpoint=False)
    t_in = np.linspace(0, 2 * np.pi, n_in, endpoint=False)
    X = np.vstack(
        [
            np.append(np.cos(t_out), np.cos(t_in) * factor),
            np.append(np.sin(t_out), np.sin(t_in) * factor),
        ]
    ).T
    y = np.hstack([np.zeros(n_out, dtype=np.int64), np.ones(n_in, dtype=np.int64)])
    return _finish(X, y, noise, rng, shuffle)


def make_spirals(
    n_samples: int = 100,
    n_classes: int = 2,
    noise: float | None = None,
    random_state: Any = None,
    shuffle: bool = True,
    turns: float = 1.0,
) -> tuple[Tensor, Tensor]:
    """``n_classes`` interleaved spiral arms around the origin (the CS231n toy problem).

    Arm ``k`` starts at angle ``2*pi*k / n_classes`` and winds ``turns`` times around the
    origin while its radius grows from 0.1 to 1. Classes get ``n_samples // n_classes`` points
    each (the first ``n_samples % n_classes`` classes one more).

    Args:
        n_samples: total number of points.
        n_classes: number of arms (2 or more).
        noise: standard deviation of Gaussian noise added to the coordinates.
        random_state: int seed, ``None``, or a NumPy / chainrule generator.
        shuffle: shuffle the samples.
        turns: how many times each arm winds around the origin.

    Returns:
        ``X`` float32 of shape ``(n_samples, 2)``, ``y`` int64 in ``0 .. n_classes - 1``.

    Example:
        >>> X, y = make_spirals(300, n_classes=3, noise=0.05, random_state=0)
        >>> X.shape, sorted(set(y.tolist()))
        ((300, 2), [0, 1, 2])
    """
    n = _check_n(n_samples)
    if not isinstance(n_classes, int) or n_classes < 2:
        raise ValueError(f"n_classes must be an int >= 2, got {n_classes!r}")
    rng = _rng(random_state)
    xs, ys = [], []
    for k in range(n_classes):
        m = n // n_classes + (1 if k < n % n_classes else 0)
        t = np.linspace(0.0, 1.0, m)
        r = 0.1 + 0.9 * t
        theta = 2 * np.pi * k / n_classes + 2 * np.pi * turns * t
        xs.append(np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1))
        ys.append(np.full(m, k, dtype=np.int64))
    return _finish(np.concatenate(xs), np.concatenate(ys), noise, rng, shuffle)


# ----- scikit-learn's shipped tables -----------------------------------------------------
_SKLEARN_MISSING = (
    "{name} reads the copy of the data set that ships with scikit-learn, which is not "
    "installed: pip install scikit-learn (or pip install 'chainrule[train]')"
)


def _sklearn_file(name: str, filename: str) -> Path | None:
    """Path of a data file shipped with scikit-learn, found without importing it."""
    try:
        spec = importlib.util.find_spec("sklearn")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(_SKLEARN_MISSING.format(name=name), name="sklearn")
    path = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / filename
    return path if path.is_file() else None


def load_digits() -> tuple[Tensor, Tensor]:
    """The 8x8 handwritten digits shipped with scikit-learn (1797 images, values 0..16).

    Needs scikit-learn installed (the ``train`` extra); nothing is downloaded.

    Returns:
        ``X`` float32 of shape ``(1797, 64)`` (pixel intensities 0..16), ``y`` int64 in 0..9.

    Example:
        >>> X, y = load_digits()
        >>> X.shape, X.dtype, y.dtype, int(y.max())
        ((1797, 64), dtype('float32'), dtype('int64'), 9)
    """
    path = _sklearn_file("load_digits", "digits.csv.gz")
    if path is None:  # a scikit-learn with another layout: ask it
        from sklearn.datasets import load_digits as sk_load

        X, y = sk_load(return_X_y=True)
    else:
        table = np.loadtxt(path, delimiter=",")
        X, y = table[:, :-1], table[:, -1]
    return Tensor._wrap(np.asarray(X, dtype=np.float32)), Tensor._wrap(np.asarray(y, np.int64))


def load_breast_cancer() -> tuple[Tensor, Tensor]:
    """The Wisconsin breast-cancer table shipped with scikit-learn (569 samples, 30 features).

    Labels follow scikit-learn: 0 = malignant, 1 = benign. The features are raw (unscaled):
    see :func:`standardize`. Needs scikit-learn installed (the ``train`` extra).

    Returns:
        ``X`` float32 of shape ``(569, 30)``, ``y`` int64 in ``{0, 1}``.

    Example:
        >>> X, y = load_breast_cancer()
        >>> X.shape, X.dtype, y.dtype, int(y.sum())
        ((569, 30), dtype('float32'), dtype('int64'), 357)
    """
    path = _sklearn_file("load_breast_cancer", "breast_cancer.csv")
    if path is None:
        from sklearn.datasets import load_breast_cancer as sk_load

        X, y = sk_load(return_X_y=True)
    else:
        table = np.loadtxt(path, delimiter=",", skiprows=1)
        X, y = table[:, :-1], table[:, -1]
    return Tensor._wrap(np.asarray(X, dtype=np.float32)), Tensor._wrap(np.asarray(y, np.int64))


# ----- words shipped with the `names` package ---------------------------------------------
_NAMES_FILES = {
    "female": ("dist.female.first",),
    "male": ("dist.male.first",),
    "first": ("dist.female.first", "dist.male.first"),
    "last": ("dist.all.last",),
}


def load_names(kind: str = "first") -> list[str]:
    """Names from the 1990 US census lists that ship inside PyPI's ``names`` package (0.3.0),
    lowercased, in the lists' order (most frequent first), each once.

    ``kind`` picks the list: ``"first"`` (female then male first names, 5163 distinct: 331
    names are on both lists), ``"female"`` (4275), ``"male"`` (1219) or ``"last"`` (88799).
    Every name is ASCII ``a..z``, 2 to 11 letters for first names: the corpus of makemore and
    char-level GPTs here (:class:`chainrule.data.text.CharTokenizer`). The files are read where
    ``names`` is installed, without importing it; nothing is downloaded.

    Raises:
        ModuleNotFoundError: if ``names`` is not installed, saying how to install it.
        ValueError: for an unknown ``kind``.

    Example:
        >>> words = load_names()
        >>> len(words), words[:3], max(len(w) for w in words)
        (5163, ['mary', 'patricia', 'linda'], 11)
    """
    if kind not in _NAMES_FILES:
        raise ValueError(
            f"load_names: unknown kind {kind!r}: choose one of {', '.join(_NAMES_FILES)}"
        )
    try:
        spec = importlib.util.find_spec("names")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "load_names reads the census name lists that ship with the `names` package, which "
            "is not installed: pip install names (or pip install 'chainrule[train]')",
            name="names",
        )
    folder = Path(list(spec.submodule_search_locations)[0])
    seen: dict[str, None] = {}  # insertion-ordered set
    for filename in _NAMES_FILES[kind]:
        path = folder / filename
        if not path.is_file():
            raise FileNotFoundError(
                f"load_names: {path} is missing: the installed `names` package is not the "
                "expected 0.3.0 layout (pip install names==0.3.0)"
            )
        for line in path.read_text(encoding="ascii").splitlines():
            fields = line.split()
            if fields:
                word = fields[0].lower()
                if not (word.isascii() and word.isalpha()):
                    raise ValueError(f"load_names: {path}: unexpected entry {fields[0]!r}")
                seen.setdefault(word)
    return list(seen)


# ----- IDX files (MNIST, Fashion-MNIST) --------------------------------------------------
_IDX_TYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzipped or not, into a NumPy array.

    The header is checked: two zero bytes, a known type code, the number of dimensions, the
    sizes; the data must be exactly as long as the sizes say.

    Raises:
        ValueError: naming the file, if it is not IDX, is truncated, has trailing bytes, or is
            a broken gzip stream.

    Example:
        >>> import tempfile, os
        >>> d = tempfile.mkdtemp(); p = os.path.join(d, "x-idx1-ubyte")
        >>> with open(p, "wb") as f:
        ...     _ = f.write(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9]))
        >>> read_idx(p)
        array([7, 8, 9], dtype=uint8)
    """
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as e:
            raise ValueError(f"{path}: corrupt or truncated gzip file ({e})") from None
    if len(raw) < 4:
        raise ValueError(f"{path}: truncated IDX file ({len(raw)} bytes, no complete header)")
    z0, z1, code, ndim = raw[:4]
    if z0 or z1 or code not in _IDX_TYPES or ndim == 0:
        raise ValueError(
            f"{path}: not an IDX file (magic number 0x{raw[:4].hex()}; expected 0x0000TTNN with "
            "a type code TT in 08,09,0b,0c,0d,0e and NN dimensions)"
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: truncated IDX header ({len(raw)} of {header} bytes)")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = _IDX_TYPES[code]
    expected = header + math.prod(dims) * dtype.itemsize
    if len(raw) != expected:
        what = "truncated" if len(raw) < expected else "corrupt (trailing bytes)"
        raise ValueError(
            f"{path}: {what} IDX file: the header says shape {dims} ({expected} bytes), "
            f"the file has {len(raw)} bytes"
        )
    arr = np.frombuffer(raw, dtype=dtype, count=math.prod(dims), offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="))  # native byte order, writable


_SYSTEM_DATA = Path("/usr/share/datasets")  # where Debian's dataset-* packages install

_IDX_NAMES = {
    "images": ("{p}-images-idx3-ubyte", "{p}-images.idx3-ubyte"),
    "labels": ("{p}-labels-idx1-ubyte", "{p}-labels.idx1-ubyte"),
}


def _find(folder: Path, kind: str, prefix: str) -> Path | None:
    for pattern in _IDX_NAMES[kind]:
        for suffix in (".gz", ""):
            p = folder / (pattern.format(p=prefix) + suffix)
            if p.is_file():
                return p
    return None


def _load_idx_set(
    title: str,
    subdirs: Sequence[str],
    system_dir: str,  # under _SYSTEM_DATA
    how_to_get: str,
    train: bool,
    flatten: bool,
    root: str | os.PathLike | None,
) -> tuple[Tensor, Tensor]:
    prefix = "train" if train else "t10k"
    env = os.environ.get("CHAINRULE_DATA")
    folders: list[Path] = []
    for base in [root] if root is not None else [env] if env else []:
        folders += [Path(base) / s for s in subdirs] + [Path(base)]
    if root is None:
        folders.append(_SYSTEM_DATA / system_dir)
    for folder in folders:
        images, labels = _find(folder, "images", prefix), _find(folder, "labels", prefix)
        if images is not None and labels is not None:
            break
    else:
        files = ", ".join(
            f"{n.format(p=p)}[.gz]" for p in ("train", "t10k") for n in
            (_IDX_NAMES["images"][0], _IDX_NAMES["labels"][0])
        )  # fmt: skip
        env_note = "" if env or root is not None else " ($CHAINRULE_DATA is not set)"
        raise FileNotFoundError(
            f"{title} ({'train' if train else 'test'} split) not found: looked for "
            f"{prefix}-images-idx3-ubyte[.gz] and {prefix}-labels-idx1-ubyte[.gz] in "
            f"{', '.join(str(f) for f in folders)}{env_note}. chainrule never downloads data. "
            f"{how_to_get}set $CHAINRULE_DATA to a folder (or its {subdirs[0]}/ subfolder) "
            f"holding the four IDX files: {files}."
        )
    X = read_idx(images)
    y = read_idx(labels)
    if X.ndim != 3 or X.shape[1:] != (28, 28) or X.dtype != np.uint8:
        raise ValueError(
            f"{images}: expected uint8 images of shape (N, 28, 28), got {X.dtype} {X.shape}"
        )
    if y.ndim != 1 or y.dtype != np.uint8:
        raise ValueError(f"{labels}: expected a 1-d uint8 label file, got {y.dtype} {y.shape}")
    if len(X) != len(y):
        raise ValueError(f"{images} holds {len(X)} images but {labels} holds {len(y)} labels")
    if len(y) and int(y.max()) > 9:
        raise ValueError(f"{labels}: labels must be 0..9, found {int(y.max())}")
    out = X.astype(np.float32)
    np.divide(out, 255.0, out=out)
    out = out.reshape(len(out), -1) if flatten else out.reshape(len(out), 1, 28, 28)
    return Tensor._wrap(out), Tensor._wrap(y.astype(np.int64))


def load_fashion_mnist(
    train: bool = True, flatten: bool = False, root: str | os.PathLike | None = None
) -> tuple[Tensor, Tensor]:
    """Fashion-MNIST (Zalando's clothing images) from IDX files on disk; never downloaded.

    Looks in ``root`` if given; otherwise in ``$CHAINRULE_DATA/fashion-mnist``,
    ``$CHAINRULE_DATA/FashionMNIST/raw`` (torchvision's layout), ``$CHAINRULE_DATA``, then
    ``/usr/share/datasets/fashion-mnist`` (Debian's ``dataset-fashion-mnist`` package). Files may be
    gzipped or not. Class names: :data:`FASHION_MNIST_CLASSES`.

    Args:
        train: the 60000 training images if True, else the 10000 test images.
        flatten: return images of shape ``(N, 784)`` instead of ``(N, 1, 28, 28)``.
        root: a folder to read instead of the search path.

    Returns:
        ``X`` float32 in ``[0, 1]`` of shape ``(N, 1, 28, 28)`` (or ``(N, 784)``), ``y`` int64
        in 0..9.

    Raises:
        FileNotFoundError: saying where it looked and how to get the files.
        ValueError: for a corrupt or truncated file.

    Example:
        >>> import chainrule as cr
        >>> try:
        ...     X, y = load_fashion_mnist(train=False)
        ... except FileNotFoundError:  # not installed here
        ...     X, y = cr.zeros(10000, 1, 28, 28), cr.zeros(10000, dtype=cr.int64)
        >>> X.shape, X.dtype, y.dtype
        ((10000, 1, 28, 28), dtype('float32'), dtype('int64'))
    """
    return _load_idx_set(
        "Fashion-MNIST",
        ("fashion-mnist", "FashionMNIST/raw", "fashion_mnist"),
        "fashion-mnist",
        "Install them with `sudo apt-get install dataset-fashion-mnist` (Debian/Ubuntu), or ",
        train,
        flatten,
        root,
    )


def load_mnist(
    train: bool = True, flatten: bool = False, root: str | os.PathLike | None = None
) -> tuple[Tensor, Tensor]:
    """MNIST handwritten digits from IDX files on disk; never downloaded.

    Looks in ``root`` if given; otherwise in ``$CHAINRULE_DATA/mnist``,
    ``$CHAINRULE_DATA/MNIST/raw`` (torchvision's layout), ``$CHAINRULE_DATA``, then
    ``/usr/share/datasets/mnist``. It needs ``train-images-idx3-ubyte``,
    ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``
    (each may end in ``.gz``).

    Args:
        train: the 60000 training images if True, else the 10000 test images.
        flatten: return images of shape ``(N, 784)`` instead of ``(N, 1, 28, 28)``.
        root: a folder to read instead of the search path.

    Returns:
        ``X`` float32 in ``[0, 1]`` of shape ``(N, 1, 28, 28)`` (or ``(N, 784)``), ``y`` int64
        in 0..9.

    Raises:
        FileNotFoundError: naming the four files and where it looked.
        ValueError: for a corrupt or truncated file.

    Example:
        >>> import chainrule as cr
        >>> try:
        ...     X, y = load_mnist(train=False, flatten=True)
        ... except FileNotFoundError:  # not on this machine
        ...     X, y = cr.zeros(10000, 784), cr.zeros(10000, dtype=cr.int64)
        >>> X.shape, X.dtype, y.dtype
        ((10000, 784), dtype('float32'), dtype('int64'))
    """
    return _load_idx_set(
        "MNIST",
        ("mnist", "MNIST/raw"),
        "mnist",
        "Copy them from any MNIST distribution and ",
        train,
        flatten,
        root,
    )


# ----- splitting and scaling --------------------------------------------------------------
def _as_array(a: Any) -> np.ndarray:
    return a._data if isinstance(a, Tensor) else np.asarray(a)


def _take(a: Any, idx: np.ndarray) -> Any:
    return Tensor._wrap(a._data[idx]) if isinstance(a, Tensor) else np.asarray(a)[idx]


def split_train_test(
    X: Any,
    y: Any,
    test_fraction: float = 0.2,
    seed: Any = None,
    stratify: bool | Any = False,
) -> tuple[Any, Any, Any, Any]:
    """Shuffle and split ``(X, y)`` into train and test parts, like scikit-learn's
    ``train_test_split`` (same return order).

    Args:
        X, y: tensors or arrays with the same first dimension.
        test_fraction: fraction of samples in the test part (its size is rounded up), or an int
            count.
        seed: int seed, ``None``, or a NumPy / chainrule generator.
        stratify: ``True`` to keep each class's share of ``y`` in both parts (or an array of
            group labels to stratify by).

    Returns:
        ``X_train, X_test, y_train, y_test``: tensors for tensor inputs, arrays otherwise.

    Example:
        >>> import chainrule as cr
        >>> X, y = cr.arange(20.0).reshape(10, 2), cr.tensor([0] * 5 + [1] * 5)
        >>> Xtr, Xte, ytr, yte = split_train_test(X, y, test_fraction=0.2, seed=0, stratify=True)
        >>> Xtr.shape, Xte.shape, sorted(yte.tolist())
        ((8, 2), (2, 2), [0, 1])
    """
    n = len(_as_array(X))
    if len(_as_array(y)) != n:
        raise ValueError(f"X and y have different lengths: {n} and {len(_as_array(y))}")
    if isinstance(test_fraction, int | np.integer) and not isinstance(test_fraction, bool):
        n_test = int(test_fraction)
    elif isinstance(test_fraction, float) and 0 < test_fraction < 1:
        n_test = math.ceil(test_fraction * n)
    else:
        raise ValueError(f"test_fraction must be a float in (0, 1) or an int, got {test_fraction}")
    if not 0 < n_test < n:
        raise ValueError(
            f"test_fraction={test_fraction} leaves {n_test} test and {n - n_test} train samples "
            f"out of {n}: both parts need at least one"
        )
    rng = _rng(seed)
    if stratify is False or stratify is None:
        perm = rng.permutation(n)
        test, train = perm[:n_test], perm[n_test:]
    else:
        groups = _as_array(y) if stratify is True else _as_array(stratify)
        if len(groups) != n:
            raise ValueError(f"stratify has {len(groups)} labels for {n} samples")
        classes, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
        quota = counts * (n_test / n)
        take = np.floor(quota).astype(np.int64)
        short = n_test - int(take.sum())  # largest remainders get one more
        take[np.argsort(-(quota - take), kind="stable")[:short]] += 1
        test_parts, train_parts = [], []
        for c in range(len(classes)):
            members = rng.permutation(np.flatnonzero(inverse == c))
            test_parts.append(members[: take[c]])
            train_parts.append(members[take[c] :])
        test = rng.permutation(np.concatenate(test_parts))
        train = rng.permutation(np.concatenate(train_parts))
    return _take(X, train), _take(X, test), _take(y, train), _take(y, test)


def standardize(
    train: Any, *others: Any, return_stats: bool = False, eps: float = 0.0
) -> tuple[Any, ...]:
    """Scale features to zero mean and unit variance, with statistics fitted on ``train`` only.

    Each of ``train, *others`` becomes ``(x - mean) / std`` with ``train``'s per-feature mean
    and (population) standard deviation over the first dimension; constant features get
    ``std = 1``. ``eps > 0`` divides by ``std + eps`` instead, which keeps nearly constant
    features (image borders) from blowing up. Float tensors stay tensors of their dtype; arrays
    stay arrays.

    Args:
        train: the data that fixes mean and std.
        *others: more data (test, validation) scaled the same way.
        return_stats: also return ``mean`` and ``std`` (arrays) at the end.
        eps: added to every standard deviation.

    Returns:
        A tuple: the scaled ``train``, then each of ``others`` (then ``mean, std``).

    Example:
        >>> import chainrule as cr
        >>> tr, te = standardize(cr.tensor([[0.0, 5.0], [2.0, 5.0]]), cr.tensor([[4.0, 6.0]]))
        >>> tr.tolist(), te.tolist()
        ([[-1.0, 0.0], [1.0, 0.0]], [[3.0, 1.0]])
    """
    base = _as_array(train)
    if base.dtype.kind != "f":
        base = base.astype(np.float32)
    mean = base.mean(axis=0)
    std = base.std(axis=0)
    std = std + eps if eps > 0 else np.where(std == 0, np.ones_like(std), std)
    out: list[Any] = []
    for a in (train, *others):
        arr = _as_array(a)
        dtype = arr.dtype if arr.dtype.kind == "f" else base.dtype
        scaled = ((arr - mean) / std).astype(dtype, copy=False)
        out.append(Tensor._wrap(scaled) if isinstance(a, Tensor) else scaled)
    if return_stats:
        out += [mean, std]
    return tuple(out)
