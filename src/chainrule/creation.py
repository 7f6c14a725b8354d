"""Factories: ``zeros, ones, full, arange, linspace, eye, rand, randn, randint`` and ``*_like``;
``multinomial`` draws category ids from rows of weights."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import dtypes
from ._device import target as _target_device
from .backend import array_module, to_device
from .random import Generator, default_rng, under_vmap
from .tensor import Tensor, ones_like, tensor, zeros_like  # noqa: F401 (tensor: doctests)

__all__ = [
    "zeros", "ones", "full", "empty", "arange", "linspace", "eye", "rand", "randn", "randint",
    "zeros_like", "ones_like", "full_like", "rand_like", "randn_like", "empty_like", "randperm",
    "from_numpy", "multinomial",
]  # fmt: skip


def _shape(size: Any, op: str) -> tuple:
    """``size`` given as ints, or one tuple/list of ints, checked: non-negative integers."""
    if isinstance(size, tuple) and len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    elif not isinstance(size, (tuple, list)):
        size = (size,)
    dims = tuple(int(s) if isinstance(s, Tensor) and s.numel() == 1 else s for s in size)
    if not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) for d in dims):
        raise TypeError(f"{op}: size must be a tuple of ints, got {tuple(size)}")
    if any(d < 0 for d in dims):
        raise ValueError(f"{op}: dimension sizes must be non-negative, got {tuple(dims)}")
    return tuple(int(d) for d in dims)


def _number(v: Any) -> Any:
    """A 0-d tensor as the Python number it holds (``arange(cr.tensor(3))``)."""
    return v.item() if isinstance(v, Tensor) else v


def _make(arr: Any, requires_grad: bool, device: Any) -> Tensor:
    d = _target_device(device)
    if d is not None:
        arr = to_device(arr, d)
    t = Tensor._wrap(arr)
    if requires_grad:
        t.requires_grad = True
    return t


def _float(dtype: Any) -> np.dtype:
    return np.dtype(dtype) if dtype is not None else dtypes.get_default_dtype()


def zeros(*size: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None) -> Tensor:
    """A tensor of zeros. Example: ``zeros(2, 3).shape == (2, 3)``.

    Example:
        >>> zeros(2)
        tensor([0., 0.])
    """
    return _make(np.zeros(_shape(size, "zeros"), _float(dtype)), requires_grad, device)


def ones(*size: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None) -> Tensor:
    """A tensor of ones.

    Example:
        >>> ones(2)
        tensor([1., 1.])
    """
    return _make(np.ones(_shape(size, "ones"), _float(dtype)), requires_grad, device)


def empty(*size: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None) -> Tensor:
    """An uninitialized tensor (here: zeros, so nothing undefined leaks).

    Example:
        >>> empty(2).shape
        (2,)
    """
    return zeros(*size, dtype=dtype, requires_grad=requires_grad, device=device)


def full(
    size: Any, fill_value: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None
) -> Tensor:
    """A tensor filled with ``fill_value`` (its dtype follows the value, as in PyTorch).

    Example:
        >>> full((2,), 7)
        tensor([7, 7])
    """
    if dtype is None:
        dtype = Tensor(fill_value).dtype
    shape = _shape(size, "full")
    return _make(np.full(shape, _number(fill_value), np.dtype(dtype)), requires_grad, device)


def arange(
    start: Any, end: Any = None, step: Any = 1, dtype: Any = None, requires_grad: bool = False,
    device: Any = None,
) -> Tensor:  # fmt: skip
    """Values from ``start`` up to (not including) ``end`` in steps of ``step``.

    Example:
        >>> arange(3)
        tensor([0, 1, 2])
    """
    start, end, step = _number(start), _number(end), _number(step)
    if end is None:
        start, end = 0, start
    if step == 0:
        raise ValueError("arange: step must be nonzero")
    if (end - start) * step < 0:
        raise ValueError(
            f"arange: upper bound and lower bound inconsistent with step sign "
            f"(start={start}, end={end}, step={step})"
        )
    if dtype is None:
        is_int = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
        dtype = dtypes.int64 if is_int else dtypes.get_default_dtype()
    elif np.dtype(dtype).kind in "iu" and int(step) == 0:
        raise ValueError(f"arange: step {step} is zero once cast to {np.dtype(dtype)}")
    return _make(np.arange(start, end, step).astype(dtype), requires_grad, device)


def linspace(
    start: float, end: float, steps: int, dtype: Any = None, requires_grad: bool = False,
    device: Any = None,
) -> Tensor:  # fmt: skip
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive.

    Example:
        >>> linspace(0, 1, 3)
        tensor([0. , 0.5, 1. ])
    """
    if int(steps) < 0:
        raise ValueError(f"linspace: number of steps must be non-negative, got {steps}")
    arr = np.linspace(_number(start), _number(end), int(steps)).astype(_float(dtype))
    return _make(arr, requires_grad, device)


def eye(
    n: int, m: int | None = None, dtype: Any = None, requires_grad: bool = False,
    device: Any = None,
) -> Tensor:  # fmt: skip
    """The identity matrix (``n`` by ``m``).

    Example:
        >>> eye(2)
        tensor([[1., 0.],
                [0., 1.]])
    """
    if n < 0 or (m is not None and m < 0):
        raise ValueError(f"eye: sizes must be non-negative, got n={n}, m={m}")
    return _make(np.eye(n, m, dtype=_float(dtype)), requires_grad, device)


def _float_only(dtype: Any, op: str) -> np.dtype:
    dt = _float(dtype)
    if dt.kind != "f":
        raise TypeError(f"{op}: samples need a floating dtype, got {dt}")
    return dt


def _rng(generator: Generator | None) -> np.random.Generator:
    return under_vmap(generator.numpy) if generator is not None else default_rng()


def rand(
    *size: Any, generator: Generator | None = None, dtype: Any = None,
    requires_grad: bool = False, device: Any = None,
) -> Tensor:  # fmt: skip
    """Uniform samples on [0, 1).

    Example:
        >>> bool(((rand(100) >= 0) & (rand(100) < 1)).all())
        True
    """
    arr = _rng(generator).random(_shape(size, "rand"), dtype=np.float64)
    arr = arr.astype(_float_only(dtype, "rand"))
    return _make(arr, requires_grad, device)


def randn(
    *size: Any, generator: Generator | None = None, dtype: Any = None,
    requires_grad: bool = False, device: Any = None,
) -> Tensor:  # fmt: skip
    """Standard normal samples.

    Example:
        >>> randn(2, 3).shape
        (2, 3)
    """
    arr = _rng(generator).standard_normal(_shape(size, "randn"))
    arr = arr.astype(_float_only(dtype, "randn"))
    return _make(arr, requires_grad, device)


def randint(
    low: int, high: int | None = None, size: Any = (), generator: Generator | None = None,
    dtype: Any = None, device: Any = None,
) -> Tensor:  # fmt: skip
    """Random integers in [low, high) (``randint(high, size)`` works too, as in PyTorch).

    Example:
        >>> bool((randint(0, 3, (50,)) < 3).all())
        True
    """
    if high is None:
        low, high = 0, low
    elif isinstance(high, (tuple, list)):
        low, high, size = 0, low, high
    shape = _shape(size, "randint")
    if low >= high:
        raise ValueError(f"randint: low must be less than high, got low={low} >= high={high}")
    arr = _rng(generator).integers(low, high, shape).astype(dtype or dtypes.int64)
    return _make(arr, False, device)


def full_like(
    t: Tensor, fill_value: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None
) -> Tensor:
    """A tensor of ``t``'s shape filled with ``fill_value``.

    Example:
        >>> full_like(zeros(2), 3.0)
        tensor([3., 3.])
    """
    xp = array_module(t._data)
    arr = xp.full(t.shape, _number(fill_value), dtype=dtype or t.dtype)  # 2.7 in int is 2
    return _make(arr, requires_grad, t.device if device is None else device)


def empty_like(
    t: Tensor, dtype: Any = None, requires_grad: bool = False, device: Any = None
) -> Tensor:
    """An uninitialized tensor of ``t``'s shape (here: zeros, so nothing undefined leaks).

    Example:
        >>> empty_like(ones(2, 3)).shape
        (2, 3)
    """
    return zeros_like(t, dtype=dtype, requires_grad=requires_grad, device=device)


def rand_like(
    t: Tensor, dtype: Any = None, requires_grad: bool = False, device: Any = None
) -> Tensor:
    """Uniform samples with ``t``'s shape and dtype.

    Example:
        >>> rand_like(zeros(3)).shape
        (3,)
    """
    return rand(
        *t.shape, dtype=dtype or t.dtype, requires_grad=requires_grad,
        device=t.device if device is None else device,
    )  # fmt: skip


def randn_like(
    t: Tensor, dtype: Any = None, requires_grad: bool = False, device: Any = None
) -> Tensor:
    """Normal samples with ``t``'s shape and dtype.

    Example:
        >>> randn_like(zeros(3)).shape
        (3,)
    """
    return randn(
        *t.shape, dtype=dtype or t.dtype, requires_grad=requires_grad,
        device=t.device if device is None else device,
    )  # fmt: skip


def randperm(
    n: int, *, generator: Generator | None = None, dtype: Any = None,
    requires_grad: bool = False, device: Any = None,
) -> Tensor:  # fmt: skip
    """A random permutation of ``0 .. n-1`` (int64 unless ``dtype`` says otherwise).

    Example:
        >>> sorted(randperm(5).tolist())
        [0, 1, 2, 3, 4]
    """
    n = _number(n)
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool):
        raise TypeError(f"randperm: n must be an int, got {type(n).__name__}")
    if n < 0:
        raise RuntimeError(f"randperm: n must be non-negative, got {n}")
    arr = _rng(generator).permutation(int(n)).astype(dtype or dtypes.int64)
    return _make(arr, requires_grad, device)


_FROM_NUMPY = (
    "float64", "float32", "float16", "complex64", "complex128", "int64", "int32", "int16", "int8",
    "uint64", "uint32", "uint16", "uint8", "bool",
)  # fmt: skip


def from_numpy(ndarray: np.ndarray) -> Tensor:
    """A tensor that shares memory with ``ndarray``: writing either is seen by the other (as
    ``torch.from_numpy``). The dtype is kept (float64 stays float64); object, string and
    date arrays, and non-native byte order, are refused.

    Example:
        >>> a = np.zeros(3)
        >>> t = from_numpy(a); a[0] = 5.0; _ = t.add_(1)
        >>> t, a.tolist()
        (tensor([6., 1., 1.], dtype=float64), [6.0, 1.0, 1.0])
    """
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(ndarray).__name__})")
    dt = ndarray.dtype
    if dt.name not in _FROM_NUMPY:
        raise TypeError(
            f"can't convert np.ndarray of type numpy.{dt.type.__name__}. The only supported "
            f"types are: {', '.join(_FROM_NUMPY[:-1])}, and bool."
        )
    if not dt.isnative:
        raise ValueError(
            "given numpy array has byte order different from the native byte order. Conversion "
            "between byte orders is currently not supported."
        )
    return Tensor._wrap(ndarray)


def multinomial(
    input: Tensor, num_samples: int, replacement: bool = False, *,
    generator: Generator | None = None,
) -> Tensor:  # fmt: skip
    """Draw ``num_samples`` category indices from each row of ``input``: non-negative weights,
    1-D (one distribution) or 2-D (one per row), that need not sum to 1. Without replacement
    each index is drawn at most once per row, each draw proportional to the weights left;
    categories of weight 0 come only after every positive one is drawn (as torch).

    Example:
        >>> g = Generator().manual_seed(0)
        >>> multinomial(tensor([0.0, 1.0, 0.0]), 2, replacement=True, generator=g)
        tensor([1, 1])
        >>> sorted(multinomial(tensor([1.0, 2.0, 3.0]), 3, generator=g).tolist())
        [0, 1, 2]
    """
    if not isinstance(input, Tensor):
        raise TypeError(f"multinomial: input must be a Tensor, got {type(input).__name__}")
    if input.dtype.kind != "f":
        raise RuntimeError(
            f"multinomial only supports floating-point dtypes for input, got: {input.dtype}"
        )
    if input.ndim not in (1, 2):
        raise RuntimeError(f"prob_dist must be 1 or 2 dim, got shape {tuple(input.shape)}")
    k = _number(num_samples)
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool):
        raise TypeError(f"multinomial: num_samples must be an int, got {type(k).__name__}")
    if k <= 0:
        raise RuntimeError("cannot sample n_sample <= 0 samples")
    n = input.shape[-1]
    if not replacement and k > n:
        raise RuntimeError(
            f"cannot sample n_sample > prob_dist.size(-1) samples without replacement "
            f"(n_sample={k}, {n} categories)"
        )
    w = np.asarray(to_device(input._data, "cpu"), dtype=np.float64).reshape(-1, n)
    if not np.isfinite(w).all() or (w < 0).any():
        raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
    total = w.sum(axis=1, keepdims=True)
    if w.size == 0 or (total <= 0).any():
        raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
    rng = _rng(generator)
    rows = w.shape[0]
    if replacement:
        # Inverse CDF, all rows at once: row r's CDF is shifted into [r, r + 1] so one sorted
        # search serves every row; a weight-0 category has an empty interval.
        cdf = np.cumsum(w, axis=1) / total
        offs = np.arange(rows, dtype=np.float64)[:, None]
        u = rng.random((rows, int(k))) + offs
        idx = np.searchsorted((cdf + offs).ravel(), u.ravel(), side="right").reshape(rows, -1)
        idx -= np.arange(rows)[:, None] * n
        last = n - 1 - np.argmax(w[:, ::-1] > 0, axis=1)  # rounding must not pass the last
        idx = np.minimum(idx, last[:, None])
    else:
        # The exponential race: key_i = w_i / E_i with E_i ~ Exp(1); the k largest keys are a
        # draw without replacement, each pick proportional to the weights left.
        keys = w / rng.standard_exponential((rows, n))
        idx = np.argsort(-keys, axis=1, kind="stable")[:, : int(k)]
    idx = idx.astype(np.int64)
    if input.ndim == 1:
        idx = idx[0]
    return _make(idx, False, input.device)
