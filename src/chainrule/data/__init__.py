"""Data loading, as ``torch.utils.data``: datasets, ``DataLoader`` and ``random_split``.

Ready-made data (moons, circles, spirals, digits, breast cancer, MNIST, Fashion-MNIST) is in
:mod:`chainrule.data.datasets`; nothing is ever downloaded.

Example:
    >>> import chainrule as cr
    >>> from chainrule.data import DataLoader, TensorDataset
    >>> X, y = cr.randn(10, 3), cr.randint(0, 2, (10,))
    >>> loader = DataLoader(TensorDataset(X, y), batch_size=4, shuffle=True,
    ...                     generator=cr.Generator().manual_seed(0))
    >>> [tuple(xb.shape) for xb, yb in loader]
    [(4, 3), (4, 3), (2, 3)]
"""

from ..random import Generator
from .dataloader import (
    BatchSampler,
    DataLoader,
    DistributedSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    default_collate,
)
from .dataset import (
    ConcatDataset,
    Dataset,
    IterableDataset,
    Subset,
    TensorDataset,
    random_split,
)


def __getattr__(name: str):  # lazy: `datasets` is only imported when used
    if name == "datasets":
        import importlib

        return importlib.import_module(".datasets", __name__)
    raise AttributeError(f"module 'chainrule.data' has no attribute {name!r}")


__all__ = [
    "BatchSampler",
    "ConcatDataset",
    "DataLoader",
    "Dataset",
    "DistributedSampler",
    "Generator",
    "IterableDataset",
    "RandomSampler",
    "Sampler",
    "SequentialSampler",
    "Subset",
    "TensorDataset",
    "datasets",
    "default_collate",
    "random_split",
]
