"""Parallel training, as ``torch.nn.parallel``: :class:`DistributedDataParallel` over MPI.

Example:
    >>> from chainrule.nn.parallel import DistributedDataParallel
    >>> DistributedDataParallel.__name__
    'DistributedDataParallel'
"""

from .distributed import DistributedDataParallel

__all__ = ["DistributedDataParallel"]
