"""Datasets: ``Dataset``, ``TensorDataset``, ``Subset``, ``ConcatDataset`` and ``random_split``.

They follow ``torch.utils.data``: a map-style dataset has ``__len__`` and ``__getitem__``;
an iterable-style one has ``__iter__``.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from ..random import Generator, default_generator
from ..tensor import Tensor, as_tensor


class Dataset:
    """A map-style dataset: subclasses define ``__getitem__(i)`` and ``__len__()``.

    ``a + b`` concatenates two datasets.

    Example:
        >>> class Squares(Dataset):
        ...     def __len__(self): return 4
        ...     def __getitem__(self, i): return i, i * i
        >>> ds = Squares()
        >>> len(ds), ds[3]
        (4, (3, 9))
        >>> len(ds + ds)
        8
    """

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __add__(self, other: Dataset) -> ConcatDataset:
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """An iterable-style dataset: subclasses define ``__iter__`` (a stream of samples).

    A :class:`~chainrule.data.DataLoader` batches what it yields, in order.

    Example:
        >>> class Count(IterableDataset):
        ...     def __iter__(self): return iter(range(5))
        >>> from chainrule.data import DataLoader
        >>> [b.tolist() for b in DataLoader(Count(), batch_size=2)]
        [[0, 1], [2, 3], [4]]
    """

    def __iter__(self) -> Iterator[Any]:
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")


class TensorDataset(Dataset):
    """Samples are the rows of tensors that share their first dimension.

    ``ds[i]`` is ``(t0[i], t1[i], ...)``. A :class:`~chainrule.data.DataLoader` over a
    ``TensorDataset`` (or a :class:`Subset` of one) takes each batch with one fancy index per
    tensor instead of collating sample by sample.

    Args:
        *tensors: tensors (or arrays, converted with ``as_tensor``) with equal ``len``.

    Example:
        >>> import chainrule as cr
        >>> ds = TensorDataset(cr.tensor([[1.0, 2.0], [3.0, 4.0]]), cr.tensor([0, 1]))
        >>> len(ds)
        2
        >>> ds[1]
        (tensor([3., 4.]), tensor(1))
    """

    def __init__(self, *tensors: Any) -> None:
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        ts = tuple(t if isinstance(t, Tensor) else as_tensor(t) for t in tensors)
        for i, t in enumerate(ts):
            if t.ndim == 0:
                raise ValueError(f"TensorDataset: tensor {i} is 0-dimensional; it has no samples")
        sizes = [t.shape[0] for t in ts]
        if any(s != sizes[0] for s in sizes):
            raise ValueError(
                f"Size mismatch between tensors: first dimensions are {sizes}; "
                "every tensor of a TensorDataset needs the same number of samples"
            )
        self.tensors: tuple[Tensor, ...] = ts

    def __getitem__(self, index: Any) -> tuple[Tensor, ...]:
        return tuple(
            t[index] if t.requires_grad else Tensor._wrap(t._data[index]) for t in self.tensors
        )

    def __len__(self) -> int:
        return self.tensors[0].shape[0]


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order.

    Example:
        >>> ds = Subset(list("abcde"), [4, 0])
        >>> len(ds), ds[0], ds[1]
        (2, 'e', 'a')
    """

    def __init__(self, dataset: Any, indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = indices

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, list):
            return self.dataset[[self.indices[i] for i in index]]
        return self.dataset[self.indices[index]]

    def __len__(self) -> int:
        return len(self.indices)


class ConcatDataset(Dataset):
    """Several datasets one after the other.

    Example:
        >>> ds = ConcatDataset([[1, 2], [3, 4, 5]])
        >>> len(ds), ds[2], ds[-1]
        (5, 3, 5)
    """

    def __init__(self, datasets: Sequence[Any]) -> None:
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: datasets should not be an empty iterable")
        for d in self.datasets:
            if isinstance(d, IterableDataset):
                raise TypeError("ConcatDataset does not support IterableDataset")
        self.cumulative_sizes: list[int] = []
        total = 0
        for d in self.datasets:
            total += len(d)
            self.cumulative_sizes.append(total)

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, index: int) -> Any:
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"index {index} is out of range for a dataset of size {n}")
        d = bisect.bisect_right(self.cumulative_sizes, index)
        start = self.cumulative_sizes[d - 1] if d > 0 else 0
        return self.datasets[d][index - start]


def _split_lengths(n: int, lengths: Sequence[int | float]) -> list[int]:
    """Integer lengths from ``lengths`` (counts, or fractions summing to 1), as PyTorch does."""
    lengths = list(lengths)
    if not lengths:
        raise ValueError("random_split: lengths must not be empty")
    fractions = any(isinstance(x, float) for x in lengths)
    if fractions:
        if not math.isclose(sum(lengths), 1.0) or any(not 0 <= x <= 1 for x in lengths):
            raise ValueError(
                f"random_split: fractions must lie in [0, 1] and sum to 1, got {lengths}"
            )
        sizes = [int(math.floor(n * f)) for f in lengths]
        for i in range(n - sum(sizes)):  # hand out the remainder round-robin
            sizes[i % len(sizes)] += 1
        return sizes
    if any(int(x) != x or x < 0 for x in lengths):
        raise ValueError(f"random_split: lengths must be non-negative integers, got {lengths}")
    if sum(lengths) != n:
        raise ValueError(
            f"Sum of input lengths ({sum(lengths)}) does not equal the length of the input "
            f"dataset ({n})!"
        )
    return [int(x) for x in lengths]


def random_split(
    dataset: Any, lengths: Sequence[int | float], generator: Generator | None = None
) -> list[Subset]:
    """Split ``dataset`` into non-overlapping random :class:`Subset` s of the given lengths.

    Args:
        dataset: a map-style dataset.
        lengths: sizes that sum to ``len(dataset)``, or fractions that sum to 1 (each part gets
            ``floor(n * fraction)``; the remainder is handed out one by one from the first).
        generator: the :class:`~chainrule.Generator` for the permutation (default: the global
            one that :func:`chainrule.manual_seed` seeds).

    Example:
        >>> import chainrule as cr
        >>> g = cr.Generator().manual_seed(0)
        >>> train, val = random_split(range(10), [0.8, 0.2], generator=g)
        >>> len(train), len(val), sorted(list(train) + list(val)) == list(range(10))
        (8, 2, True)
    """
    n = len(dataset)
    sizes = _split_lengths(n, lengths)
    rng = (generator if generator is not None else default_generator()).numpy
    perm = rng.permutation(n).tolist()
    out, start = [], 0
    for size in sizes:
        out.append(Subset(dataset, perm[start : start + size]))
        start += size
    return out


def _tensor_source(dataset: Any) -> tuple[tuple[Any, ...], np.ndarray | None] | None:
    """``(arrays, index_map)`` when ``dataset`` is a TensorDataset, or Subsets of one, else None.

    ``index_map`` maps the dataset's indices to rows of the arrays (``None``: identity). Tensors
    that require grad are left to the general path, so batches keep their graph. Only the exact
    classes qualify: a subclass may override ``__getitem__`` (say, to augment each sample), and
    that override must run.
    """
    index_map = None
    while type(dataset) is Subset:
        idx = np.asarray(dataset.indices, dtype=np.int64)
        index_map = idx if index_map is None else idx[index_map]
        dataset = dataset.dataset
    if type(dataset) is not TensorDataset or any(t.requires_grad for t in dataset.tensors):
        return None
    return tuple(t._data for t in dataset.tensors), index_map
