"""``chainrule.utils``: ``chainrule.utils.data`` is :mod:`chainrule.data`, under torch's name.

Example:
    >>> from chainrule.utils.data import DataLoader
    >>> import chainrule.data
    >>> DataLoader is chainrule.data.DataLoader
    True
"""

from . import data

__all__ = ["data"]
