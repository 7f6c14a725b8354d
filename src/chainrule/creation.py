"""Factories: ``zeros, ones, full, arange, linspace, eye, rand, randn, randint`` and ``*_like``;
``multinomial`` draws category ids from rows of weights."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import dtypes
from .backend import to_device
from .random import Generator, default_rng
from .tensor import Tensor, ones_like, zeros_like

__all__ = [
    "zeros", "ones", "full", "empty", "arange", "linspace", "eye", "rand", "randn", "randint",
    "multinomial", "zeros_like", "ones_like", "full_like", "rand_like", "randn_like",
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
    if device is not None:
        arr = to_device(arr, str(device))
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
    return generator.numpy if generator is not None else default_rng()


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


def multinomial(
    input: Tensor, num_samples: int, replacement: bool = False, *,
    generator: Generator | None = None,
) -> Tensor:  # fmt: skip
    """``num_samples`` category ids per row, drawn with probabilities proportional to the
    non-negative weights ``input`` (1-d: one distribution; 2-d: one per row), as
    ``torch.multinomial``.

    Without ``replacement`` a row's ids are distinct (each draw leaves out the ids already
    drawn), so a row needs at least ``num_samples`` non-zero weights.

    Returns:
        int64 ids of shape ``(num_samples,)`` or ``(rows, num_samples)``.

    Example:
        >>> import chainrule as cr
        >>> g = cr.Generator().manual_seed(0)
        >>> multinomial(cr.tensor([0.0, 1.0, 0.0]), 4, replacement=True, generator=g).tolist()
        [1, 1, 1, 1]
        >>> sorted(multinomial(cr.tensor([[1.0, 1.0, 2.0]]), 3, generator=g)[0].tolist())
        [0, 1, 2]
    """
    op = "multinomial"
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(input).__name__}")
    if input.ndim not in (1, 2):
        raise ValueError(f"{op}: input must be 1-d or 2-d, got {input.ndim}-d {tuple(input.shape)}")
    if input.dtype.kind != "f":
        raise TypeError(f"{op}: input must be a floating tensor of weights, got {input.dtype}")
    if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)):
        raise TypeError(f"{op}: num_samples must be an int, got {type(num_samples).__name__}")
    if num_samples <= 0:
        raise ValueError(f"{op}: num_samples must be positive, got {num_samples}")
    w = np.asarray(to_device(input._data, "cpu"), dtype=np.float64)
    rows = w.reshape(-1, w.shape[-1])
    n = rows.shape[1]
    if n == 0:
        raise ValueError(f"{op}: input has no categories (shape {tuple(input.shape)})")
    if not np.isfinite(rows).all() or (rows < 0).any():
        raise ValueError(f"{op}: weights must be finite and non-negative")
    totals = rows.sum(axis=1)
    if (totals <= 0).any():
        raise ValueError(f"{op}: a row of weights sums to zero (row {int(np.argmin(totals))})")
    if not replacement and num_samples > n:
        raise ValueError(
            f"{op}: cannot draw {num_samples} distinct samples from {n} categories without "
            "replacement"
        )
    rng = _rng(generator)
    r = np.arange(len(rows))[:, None]
    if replacement:  # inverse CDF; row k's CDF is shifted to [k, k + 1] so one search serves all
        cdf = np.cumsum(rows, axis=1)
        u = rng.random((len(rows), int(num_samples))) * cdf[:, -1:]  # u < the row's total
        ids = np.searchsorted((cdf + r).ravel(), (u + r).ravel(), side="right")
        ids = np.minimum(ids.reshape(u.shape) - r * n, n - 1)
        for k, j in zip(*np.nonzero(rows[r, ids] == 0)):  # a rounding tie from the shift: redo
            ids[k, j] = np.searchsorted(cdf[k], u[k, j], side="right")
    else:  # Gumbel top-k: sequential draws without replacement, all at once
        if (np.count_nonzero(rows, axis=1) < num_samples).any():
            raise ValueError(
                f"{op}: a row has fewer than num_samples={num_samples} non-zero weights, too "
                "few categories to draw without replacement"
            )
        with np.errstate(divide="ignore"):
            keys = np.log(rows) - np.log(-np.log(rng.random(rows.shape)))
        ids = np.argsort(-keys, axis=1, kind="stable")[:, : int(num_samples)]
    out = ids.astype(np.int64).reshape(w.shape[:-1] + (int(num_samples),))
    return _make(out, False, input.device if input.device != "cpu" else None)


def full_like(t: Tensor, fill_value: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of ``t``'s shape filled with ``fill_value``.

    Example:
        >>> full_like(zeros(2), 3.0)
        tensor([3., 3.])
    """
    out = ones_like(t, dtype=dtype)
    value = _number(fill_value)
    out._mutate(lambda a: a.fill(value))  # cast to the dtype: 2.7 in an int tensor is 2
    return out.requires_grad_(requires_grad) if requires_grad else out


def rand_like(t: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Uniform samples with ``t``'s shape and dtype.

    Example:
        >>> rand_like(zeros(3)).shape
        (3,)
    """
    return rand(*t.shape, dtype=dtype or t.dtype, requires_grad=requires_grad, device=t.device)


def randn_like(t: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Normal samples with ``t``'s shape and dtype.

    Example:
        >>> randn_like(zeros(3)).shape
        (3,)
    """
    return randn(*t.shape, dtype=dtype or t.dtype, requires_grad=requires_grad, device=t.device)
