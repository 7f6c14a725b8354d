"""``chainrule.utils``: ``chainrule.utils.data`` is :mod:`chainrule.data`, under torch's name;
``chainrule.utils.malloc`` keeps glibc from returning a step's memory to the kernel.

Example:
    >>> from chainrule.utils.data import DataLoader
    >>> import chainrule.data
    >>> DataLoader is chainrule.data.DataLoader
    True
"""

from . import data, malloc

__all__ = ["data", "malloc"]
