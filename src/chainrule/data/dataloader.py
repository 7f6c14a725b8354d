"""``DataLoader``: batches of samples from a dataset, shuffled by a seeded generator if asked.

Like ``torch.utils.data.DataLoader`` with ``num_workers=0``: everything runs in the calling
process. Over a :class:`~chainrule.data.TensorDataset` each batch is one fancy index per tensor.
"""

from __future__ import annotations

import collections.abc as abc
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from ..backend import array_module
from ..random import Generator, default_generator
from ..tensor import Tensor
from .dataset import IterableDataset, _tensor_source


class Sampler:
    """Base class of index samplers: ``__iter__`` yields dataset indices.

    Example:
        >>> list(SequentialSampler(range(3)))
        [0, 1, 2]
    """

    def __iter__(self) -> Iterator[int]:
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError


class SequentialSampler(Sampler):
    """Indices ``0, 1, ..., len(data_source) - 1``.

    Example:
        >>> len(SequentialSampler(range(5)))
        5
    """

    def __init__(self, data_source: Any) -> None:
        self.data_source = data_source

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)

    def _indices(self) -> np.ndarray:
        return np.arange(len(self.data_source), dtype=np.int64)


class RandomSampler(Sampler):
    """A fresh random permutation of the indices on every pass.

    Args:
        data_source: the dataset.
        generator: a :class:`~chainrule.Generator`; each pass draws from it, so a seeded
            generator gives the same sequence of epochs, each in a different order. Default:
            the global generator that :func:`chainrule.manual_seed` seeds.

    Example:
        >>> import chainrule as cr
        >>> s = RandomSampler(range(5), generator=cr.Generator().manual_seed(0))
        >>> sorted(s) == [0, 1, 2, 3, 4]
        True
    """

    def __init__(self, data_source: Any, generator: Generator | None = None) -> None:
        self.data_source = data_source
        self.generator = generator

    def _indices(self) -> np.ndarray:
        gen = self.generator if self.generator is not None else default_generator()
        return gen.numpy.permutation(len(self.data_source))

    def __iter__(self) -> Iterator[int]:
        return iter(self._indices().tolist())

    def __len__(self) -> int:
        return len(self.data_source)


class DistributedSampler(Sampler):
    """The share of a dataset's indices that one rank of a data-parallel job reads, as
    ``torch.utils.data.DistributedSampler``.

    The indices (shuffled from ``seed + epoch`` when ``shuffle``; the same on every rank) are
    padded by repeating them from the start until they divide evenly among ``num_replicas``
    (or, with ``drop_last``, cut to a multiple of it); rank ``r`` takes every
    ``num_replicas``-th index from position ``r``. PyTorch's partition exactly; the shuffled
    order itself comes from chainrule's generator, not torch's.

    Args:
        dataset: the dataset (only its length is used).
        num_replicas: the number of ranks (default: :func:`chainrule.distributed.get_world_size`).
        rank: this rank (default: :func:`chainrule.distributed.get_rank`).
        shuffle: a new permutation each epoch (call :meth:`set_epoch` before each epoch).
        seed: the shuffle's seed; must be the same on every rank.
        drop_last: drop the tail that does not divide evenly, instead of padding.

    Example:
        >>> [list(DistributedSampler(range(5), num_replicas=2, rank=r, shuffle=False))
        ...  for r in range(2)]
        [[0, 2, 4], [1, 3, 0]]
        >>> len(DistributedSampler(range(5), num_replicas=2, rank=0, drop_last=True))
        2
    """

    def __init__(
        self,
        dataset: Any,
        num_replicas: int | None = None,
        rank: int | None = None,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
    ) -> None:
        if num_replicas is None or rank is None:
            from .. import distributed as dist

            if not dist.is_available():
                raise RuntimeError(
                    "DistributedSampler: requires the distributed package (num_replicas and "
                    f"rank unset): {dist.INSTALL_HINT}"
                )
            num_replicas = dist.get_world_size() if num_replicas is None else num_replicas
            rank = dist.get_rank() if rank is None else rank
        for name, v in (("num_replicas", num_replicas), ("rank", rank)):
            if not isinstance(v, int | np.integer) or isinstance(v, bool):
                raise TypeError(f"DistributedSampler: {name} must be an int, got {v!r}")
        if num_replicas <= 0:
            raise ValueError(
                f"DistributedSampler: num_replicas must be positive, got {num_replicas}"
            )
        if rank >= num_replicas or rank < 0:
            raise ValueError(
                f"Invalid rank {rank}, rank should be in the interval [0, {num_replicas - 1}]"
            )
        self.dataset = dataset
        self.num_replicas = int(num_replicas)
        self.rank = int(rank)
        self.epoch = 0
        self.drop_last = drop_last
        n = len(dataset)
        if drop_last and n % self.num_replicas != 0:
            self.num_samples = math.ceil((n - self.num_replicas) / self.num_replicas)
        else:
            self.num_samples = math.ceil(n / self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas
        self.shuffle = shuffle
        self.seed = seed

    def _indices(self) -> np.ndarray:
        n = len(self.dataset)
        if self.shuffle:
            idx = Generator().manual_seed(self.seed + self.epoch).numpy.permutation(n)
        else:
            idx = np.arange(n, dtype=np.int64)
        # padding repeats the indices from the start (cyclically), as torch's list arithmetic
        idx = idx[: self.total_size] if self.drop_last else np.resize(idx, self.total_size)
        return idx[self.rank : self.total_size : self.num_replicas]

    def __iter__(self) -> Iterator[int]:
        return iter(self._indices().tolist())

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch: with ``shuffle``, each epoch gets its own permutation (the same on
        every rank). Call it before iterating each epoch.

        Example:
            >>> s = DistributedSampler(range(6), num_replicas=2, rank=0, seed=1)
            >>> s.set_epoch(1); len(list(s))
            3
        """
        self.epoch = epoch


class BatchSampler(Sampler):
    """Group the indices of ``sampler`` into lists of ``batch_size``.

    Example:
        >>> list(BatchSampler(SequentialSampler(range(5)), batch_size=2, drop_last=False))
        [[0, 1], [2, 3], [4]]
    """

    def __init__(self, sampler: Iterable[int], batch_size: int, drop_last: bool) -> None:
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0:
            raise ValueError(f"batch_size should be a positive integer value, got {batch_size!r}")
        self.sampler = sampler
        self.batch_size = batch_size
        self.drop_last = drop_last

    def __iter__(self) -> Iterator[list[int]]:
        batch: list[int] = []
        for i in self.sampler:
            batch.append(i)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self) -> int:
        n = len(self.sampler)  # type: ignore[arg-type]
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)


_COLLATE_ERROR = (
    "default_collate: batch must contain tensors, numpy arrays, numbers, strings, dicts or "
    "lists; found {}"
)


def _stack(arrays: list[Any]) -> Tensor:
    return Tensor._wrap(array_module(arrays[0]).stack(arrays))


def default_collate(batch: Sequence[Any]) -> Any:
    """Merge a list of samples into a batch, as ``torch.utils.data.default_collate``.

    Tensors and NumPy arrays are stacked along a new first dimension; Python ints, floats and
    bools become int64, float64 and bool tensors (PyTorch's choice); strings stay a list;
    tuples and lists are collated position by position (giving a list), dicts key by key,
    recursively.

    Example:
        >>> import chainrule as cr
        >>> default_collate([(cr.tensor([1.0, 2.0]), 0), (cr.tensor([3.0, 4.0]), 1)])
        [tensor([[1., 2.],
                [3., 4.]]), tensor([0, 1])]
        >>> default_collate([{"x": 1.5, "name": "a"}, {"x": 2.5, "name": "b"}])
        {'x': tensor([1.5, 2.5], dtype=float64), 'name': ['a', 'b']}
    """
    if len(batch) == 0:
        raise ValueError("default_collate: cannot collate an empty batch")
    elem = batch[0]
    if isinstance(elem, Tensor):
        if any(b.requires_grad for b in batch):
            from ..functions import stack

            return stack(list(batch))
        return _stack([b._data for b in batch])
    if isinstance(elem, np.ndarray | np.generic) or type(elem).__module__.startswith("cupy"):
        if getattr(elem, "dtype", None) is not None and elem.dtype.kind in "OSUV":
            raise TypeError(_COLLATE_ERROR.format(f"numpy arrays of dtype {elem.dtype}"))
        return _stack([np.asarray(b) if isinstance(b, np.generic) else b for b in batch])
    if isinstance(elem, bool):
        return Tensor._wrap(np.array(batch, dtype=np.bool_))
    if isinstance(elem, int):
        return Tensor._wrap(np.array(batch, dtype=np.int64))
    if isinstance(elem, float):
        return Tensor._wrap(np.array(batch, dtype=np.float64))
    if isinstance(elem, str | bytes):
        return list(batch)
    if isinstance(elem, abc.Mapping):
        out = {key: default_collate([d[key] for d in batch]) for key in elem}
        try:
            return type(elem)(out) if type(elem) is not dict else out
        except TypeError:
            return out
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return type(elem)(*(default_collate(list(s)) for s in zip(*batch)))
    if isinstance(elem, abc.Sequence):
        size = len(elem)
        if any(len(b) != size for b in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        return [default_collate(list(s)) for s in zip(*batch)]
    raise TypeError(_COLLATE_ERROR.format(type(elem)))


class DataLoader:
    """Iterate over a dataset in batches.

    Args:
        dataset: a map-style dataset (``__len__`` and ``__getitem__``; a list works) or an
            :class:`~chainrule.data.IterableDataset`.
        batch_size: samples per batch (``None``: yield single samples, uncollated).
        shuffle: reshuffle the indices at the start of every epoch (every ``iter()``).
        sampler: an iterable of indices, instead of ``shuffle``.
        batch_sampler: an iterable of index lists, instead of ``batch_size``/``shuffle``/
            ``sampler``/``drop_last``.
        num_workers: accepted for PyTorch compatibility; must be 0 (loading runs in-process).
        collate_fn: merges a list of samples into a batch (default :func:`default_collate`).
        drop_last: drop the last batch if it is smaller than ``batch_size``.
        generator: the :class:`~chainrule.Generator` that shuffling draws from; a seeded one
            makes the whole sequence of epochs reproducible (each epoch in a new order).
            Default: the global generator (:func:`chainrule.manual_seed`).

    Over a :class:`~chainrule.data.TensorDataset` (or :class:`~chainrule.data.Subset` s of
    one) with the default collation, each batch is taken with one fancy index per tensor: the
    same batches as sample-by-sample collation, much faster.

    Example:
        >>> import chainrule as cr
        >>> from chainrule.data import TensorDataset
        >>> ds = TensorDataset(cr.arange(10.0).reshape(5, 2), cr.tensor([0, 1, 0, 1, 0]))
        >>> loader = DataLoader(ds, batch_size=2)
        >>> len(loader)
        3
        >>> [(x.shape, y.tolist()) for x, y in loader]
        [((2, 2), [0, 1]), ((2, 2), [0, 1]), ((1, 2), [0])]
        >>> g = cr.Generator().manual_seed(0)
        >>> loader = DataLoader(ds, batch_size=5, shuffle=True, generator=g)
        >>> sorted(next(iter(loader))[1].tolist())
        [0, 0, 0, 1, 1]
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int | None = 1,
        shuffle: bool | None = None,
        sampler: Iterable[int] | None = None,
        batch_sampler: Iterable[Sequence[int]] | None = None,
        num_workers: int = 0,
        collate_fn: Callable[[list[Any]], Any] | None = None,
        drop_last: bool = False,
        generator: Generator | None = None,
    ) -> None:
        if num_workers != 0:
            raise ValueError(
                f"num_workers={num_workers}: chainrule's DataLoader loads in the calling process; "
                "use num_workers=0"
            )
        if generator is not None and not isinstance(generator, Generator):
            raise TypeError(
                f"generator must be a chainrule.Generator, got {type(generator).__name__}"
            )
        self.dataset = dataset
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.generator = generator
        self.num_workers = num_workers
        self._iterable = isinstance(dataset, IterableDataset)
        if self._iterable:
            if shuffle:
                raise ValueError(
                    "DataLoader with IterableDataset: expected unspecified shuffle option, "
                    f"but got shuffle={shuffle}"
                )
            if sampler is not None or batch_sampler is not None:
                raise ValueError("DataLoader with IterableDataset takes no sampler/batch_sampler")
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError(
                    "batch_sampler option is mutually exclusive with batch_size, shuffle, "
                    "sampler, and drop_last"
                )
            batch_size = None
            self.batch_size = None
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually "
                             "exclusive with drop_last")  # fmt: skip
        if sampler is None and not self._iterable:
            sampler = (
                RandomSampler(dataset, generator=generator)
                if shuffle
                else SequentialSampler(dataset)
            )
        self.sampler = sampler
        if batch_size is not None and batch_sampler is None and not self._iterable:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)  # type: ignore[arg-type]
        elif batch_size is not None and self._iterable:
            BatchSampler([], batch_size, drop_last)  # validates batch_size
        self.batch_sampler = batch_sampler
        self.collate_fn = collate_fn

    def __len__(self) -> int:
        if self._iterable:
            n = len(self.dataset)  # raises TypeError if the stream has no length
            if self.batch_size is None:
                return n
            return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        if self.batch_sampler is not None:
            return len(self.batch_sampler)  # type: ignore[arg-type]
        return len(self.sampler)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[Any]:
        if (
            self.collate_fn is None
            and type(self.batch_sampler) is BatchSampler
            and self.batch_sampler.sampler is self.sampler
            and isinstance(self.sampler, SequentialSampler | RandomSampler | DistributedSampler)
        ):
            source = _tensor_source(self.dataset)
            if source is not None:
                return self._iter_tensors(*source)
        if self._iterable:
            return self._iter_stream()
        return self._iter_map()

    def _iter_tensors(
        self, arrays: tuple[Any, ...], index_map: np.ndarray | None
    ) -> Iterator[list[Tensor]]:
        """The fast path: one fancy index per tensor per batch."""
        idx = self.sampler._indices()  # type: ignore[union-attr]
        if index_map is not None:
            idx = index_map[idx]
        bs = self.batch_sampler.batch_size  # type: ignore[union-attr]
        n = len(idx)
        stop = n - n % bs if self.batch_sampler.drop_last else n  # type: ignore[union-attr]
        wrap = Tensor._wrap
        for start in range(0, stop, bs):
            b = idx[start : start + bs]
            yield [wrap(a[b]) for a in arrays]

    def _iter_map(self) -> Iterator[Any]:
        ds = self.dataset
        if self.batch_sampler is None:  # batch_size=None: single samples, not collated
            for i in self.sampler:  # type: ignore[union-attr]
                yield ds[i] if self.collate_fn is None else self.collate_fn(ds[i])
            return
        collate = self.collate_fn or default_collate
        for indices in self.batch_sampler:
            yield collate([ds[i] for i in indices])

    def _iter_stream(self) -> Iterator[Any]:
        if self.batch_size is None:
            for sample in self.dataset:
                yield sample if self.collate_fn is None else self.collate_fn(sample)
            return
        collate = self.collate_fn or default_collate
        batch: list[Any] = []
        for sample in self.dataset:
            batch.append(sample)
            if len(batch) == self.batch_size:
                yield collate(batch)
                batch = []
        if batch and not self.drop_last:
            yield collate(batch)
