"""A node of the recorded graph: the operation that made a tensor, and the inputs it read."""

from __future__ import annotations

from typing import Any


class Node:
    """The ``grad_fn`` of a tensor: which op made it (``fn``) from which ``inputs``.

    ``inputs`` holds the op's arguments as given (tensors, arrays or numbers), ``params`` its
    keyword parameters, ``ctx`` what the op saved for backward (a primitive: the raw arrays
    of its inputs; a ``Function``: its ``ctx``), and ``version`` the tensors' versions then.
    Backward releases them unless ``retain_graph=True``.

    Example:
        >>> import chainrule as cr
        >>> a = cr.tensor(2.0, requires_grad=True)
        >>> (a * 3).grad_fn.name()
        'MulBackward'
    """

    __slots__ = ("fn", "inputs", "params", "ctx", "version")

    def __init__(
        self, fn: Any, inputs: tuple, params: dict, ctx: Any = None, version: int = 0
    ) -> None:
        self.fn = fn
        self.inputs: tuple | None = inputs
        self.params = params
        self.ctx = ctx
        # The sum of the ``_version`` of the tensor inputs and of the output when recorded.
        # Versions only grow, so backward sees any in-place change since as a larger sum.
        self.version = version

    def name(self) -> str:
        """PyTorch-style name of the backward function, e.g. ``'MulBackward'``."""
        return f"{self.fn.name}Backward"

    @property
    def op(self) -> str:
        """The forward op's name, e.g. ``'Mul'``."""
        return self.fn.name

    @property
    def released(self) -> bool:
        """True once backward has freed this node (run without ``retain_graph``)."""
        return self.inputs is None

    @property
    def next_functions(self) -> tuple:
        """The nodes (or ``None`` for leaves and constants) this node's inputs came from."""
        from ..tensor import Tensor

        return tuple((a._node if isinstance(a, Tensor) else None) for a in (self.inputs or ()))

    def release(self) -> None:
        self.inputs = None
        self.ctx = None

    def __repr__(self) -> str:
        return f"<{self.name()}>"
