"""``chainrule.utils.data``, as ``torch.utils.data``: the same objects as :mod:`chainrule.data`.

Example:
    >>> import chainrule as cr
    >>> from chainrule.utils.data import DataLoader, TensorDataset
    >>> [tuple(x.shape) for x, in DataLoader(TensorDataset(cr.zeros(5, 2)), batch_size=2)]
    [(2, 2), (2, 2), (1, 2)]
"""

from typing import Any

from .. import data as _data
from ..data import (  # noqa: F401  (re-exported under torch.utils.data)
    BatchSampler,
    ConcatDataset,
    DataLoader,
    Dataset,
    Generator,
    IterableDataset,
    RandomSampler,
    Sampler,
    SequentialSampler,
    Subset,
    TensorDataset,
    default_collate,
    random_split,
)

__all__ = list(_data.__all__)


def __getattr__(name: str) -> Any:  # ``datasets`` stays lazy, as in chainrule.data
    return getattr(_data, name)
