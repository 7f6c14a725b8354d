"""Recomputing cheap activations in backward instead of keeping them (rematerialization).

The backward rules of GELU, SiLU, LayerNorm and RMSNorm read only their inputs, never their output.
The op that consumes that output often does read it: the Linear after it, whose weight
gradient needs its input. So that consumer's node keeps a :class:`Recompute` in place of the
array. A Recompute is the op and the arguments it was called with, which the graph holds anyway
(the op's own node keeps its input, the module its parameters). After the forward pass the
output array is free. Backward runs the op's forward again when the consumer's gradient gets
there (:func:`materialize`), one extra elementwise pass, so the gradients are the same to the
bit.

The trade is torch.compile's min-cut partitioner's and ``jax.checkpoint``'s for pointwise ops;
:class:`~chainrule.autograd.recompute` turns it off.
"""

from __future__ import annotations

from typing import Any


class Recompute:
    """How to make again an output that a node did not keep: ``fn.forward(*args, **params)``.

    ``checks`` holds ``(position, counter, value)`` for each tensor argument at the time of the
    call. An argument written in place since then would make a different output, so
    :meth:`resolve` refuses it, as backward refuses a saved tensor changed in place. ``users``
    counts the nodes that hold this recipe. While more than one is still to run, the first
    result is kept for the others, so the op runs once per backward.

    Example:
        >>> import numpy as np
        >>> from chainrule.ops import nnops
        >>> x = np.array([-1.0, 0.0, 2.0])
        >>> r = Recompute(nnops.gelu, (x, "none"), {}, (), nnops.gelu.forward(x, "none"))
        >>> r.users = 1
        >>> r.resolve().round(4).tolist()
        [-0.1587, 0.0, 1.9545]
    """

    __slots__ = ("fn", "args", "params", "checks", "shape", "dtype", "users", "value")

    def __init__(self, fn: Any, args: tuple, params: dict, checks: tuple, out: Any) -> None:
        self.fn = fn
        self.args = args
        self.params = params
        self.checks = checks
        self.shape = out.shape  # what error messages and the graph's drawing read of a saved
        self.dtype = out.dtype  # array, without making it
        self.users = 0
        self.value: Any = None

    def resolve(self) -> Any:
        """The output, made again (or kept from the last user's call): one user fewer."""
        v = self.value
        if v is None:
            for j, vc, then in self.checks:
                if vc.value != then:
                    raise RuntimeError(self._modified(j, vc.value, then))
            v = self.fn.forward(*self.args, **self.params)
        self.users -= 1
        self.value = v if self.users > 0 else None
        return v

    def copy(self) -> Any:
        """A copy of the output (what a node keeps of memory about to be overwritten)."""
        return self.resolve()

    def _modified(self, j: int, now: int, then: int) -> str:
        a = self.args[j]
        return (
            f"one of the variables needed for gradient computation has been modified by an "
            f"inplace operation: input {j} [{a.dtype} {list(a.shape)}] of {self.fn.name}, whose "
            f"output backward recomputes, is at version {now}; expected version {then} instead. "
            f"Make the change out of place (y = y + ...), .clone() before it, or keep the "
            f"output instead (with chainrule.autograd.recompute(False): ...)."
        )


def materialize(node: Any) -> None:
    """Put the recomputed arrays in place of the :class:`Recompute` recipes ``node`` saved.

    Example:
        >>> import chainrule as cr
        >>> x = cr.randn(2, 3, requires_grad=True)
        >>> node = cr.nn.Linear(3, 1)(cr.nn.functional.gelu(x)).grad_fn
        >>> type(node.saved[0]).__name__
        'Recompute'
        >>> materialize(node); type(node.saved[0]).__name__
        'ndarray'
    """
    if not node.remat:
        return
    saved = node.saved
    for i, a in enumerate(saved):
        if a.__class__ is Recompute:
            saved[i] = a.resolve()
    node.remat = False
