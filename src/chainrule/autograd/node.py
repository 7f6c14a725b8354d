"""The recorded graph: nodes joined by edges, as PyTorch's autograd graph.

Each op that records makes one :class:`Node` (a tensor's ``grad_fn``). A node holds its inputs as
*edges*, ``(producer node, output slot)`` pairs (``None`` for an input that needs no gradient);
a leaf tensor that requires grad is reached through its :class:`AccumulateGrad` node. Tensors are
values that point at the node (and slot) that made them, nothing more: the graph never refers to
a tensor by identity, so an in-place op that gives a tensor a new ``grad_fn`` leaves the nodes
recorded before it untouched.

What a node keeps for backward is only what its rules read (``saved``, with the version each
saved tensor had), so it checks exactly those: a tensor changed in place after an op *saved* it
makes backward refuse, one the op never needed does not.
"""

from __future__ import annotations

import itertools
import os
import traceback
from typing import Any

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Every node gets the next number: a node's inputs were all made before it, so running the
# nodes in decreasing number is a topological order (PyTorch's sequence_nr).
_SEQUENCE = itertools.count()


class Version:
    """The version counter of one piece of memory, shared by every tensor that views it (slices,
    reshapes, ``detach()`` aliases); each in-place write bumps it.

    Example:
        >>> v = Version(); v.value += 1; v.value
        1
    """

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0


class Node:
    """The ``grad_fn`` of a tensor: which op (``fn``) made it, from which inputs.

    ``edges`` has one entry per argument of the op: ``(node, slot, shape)`` for a tensor that
    requires grad (the shape lets the engine unbroadcast its gradient), else ``None``. ``saved``
    holds the arguments as the rules see them: the array of each tensor a rule reads (a
    :class:`~chainrule.ops.primitive.Meta` where a rule reads only its shape, ``None`` where none
    reads it; a constant tensor's array), and non-tensor arguments as given; ``tmask`` has bit
    ``i`` set where argument ``i`` is a tensor; ``versions`` the ``(index, counter, value)`` of
    each saved tensor at record time (index -1: the output); ``ans`` the output array where a
    rule reads it. Backward frees them unless ``retain_graph=True``. Where ``remat`` is set, some
    saved entries are :class:`~chainrule.autograd.remat.Recompute` recipes for arrays backward
    makes again.

    Example:
        >>> import chainrule as cr
        >>> a = cr.tensor(2.0, requires_grad=True)
        >>> f = (a * 3).grad_fn
        >>> f.name(), f.next_functions
        ('MulBackward', ((<AccumulateGrad>, 0), (None, 0)))
    """

    __slots__ = (
        "fn", "edges", "saved", "versions", "params", "tmask", "ans", "n_out", "seq",
        "trace", "hooks", "remat", "__weakref__",
    )  # fmt: skip

    def __init__(
        self,
        fn: Any,
        edges: tuple,
        saved: Any = None,
        versions: tuple = (),
        params: dict | None = None,
        tmask: int = 0,
        ans: Any = None,
        n_out: int = 1,
    ) -> None:
        self.fn = fn
        self.edges = edges
        self.saved = saved
        self.versions = versions
        self.params = params if params is not None else {}
        self.tmask = tmask
        self.ans = ans
        self.n_out = n_out
        self.seq = next(_SEQUENCE)
        self.hooks: NodeHooks | None = None  # hooks of the non-leaf tensors it made
        self.remat = False  # whether saved holds a Recompute (an output made again in backward)

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
        return self.saved is None

    @property
    def next_functions(self) -> tuple:
        """``(node, slot)`` for each input, ``(None, 0)`` for one that needs no gradient (as
        PyTorch's ``grad_fn.next_functions``)."""
        return tuple((None, 0) if e is None else (e[0], e[1]) for e in self.edges)

    def release(self) -> None:
        """Free what backward needed (after a backward without ``retain_graph``)."""
        self.saved = None
        self.ans = None
        self.versions = ()
        # Drop the edges too: the leaves' AccumulateGrad nodes then go with this graph, and the
        # next forward pass makes fresh ones, numbered after the nodes before them, so backward
        # reaches each leaf right after its last consumer (what lets DDP overlap its
        # all-reduces with the rest of backward).
        self.edges = ()

    def record_trace(self) -> None:
        """Remember where this node was made (anomaly mode)."""
        self.trace = traceback.format_stack()[:-3]

    def user_line(self) -> str:
        """The innermost line of the creation stack outside chainrule itself (anomaly mode)."""
        trace = getattr(self, "trace", None) or []
        for entry in reversed(trace):
            first = entry.strip().splitlines()[0] if entry.strip() else ""
            if _PACKAGE not in first:
                return entry.rstrip()
        return (trace or ["  (unknown)"])[-1].rstrip()

    def __repr__(self) -> str:
        return f"<{self.name()}>"


_new = object.__new__


def op_node(fn: Any, edges: list, saved: list, versions: Any, params: dict, tmask: int,
            ans: Any) -> Node:  # fmt: skip
    """The node of one op with one output: ``Node(fn, edges, saved, versions, params, tmask,
    ans)``, made without the class call. Every recorded op makes one here, and CPython's call
    of a class whose ``__init__`` is Python code costs about twice this plain function, so the
    fields are set here directly (keep them in step with :meth:`Node.__init__`).

    Example:
        >>> n = op_node(None, [], [], (), {}, 0, None); n.n_out, n.hooks, n.edges
        (1, None, [])
    """
    node = _new(Node)
    node.fn = fn
    node.edges = edges
    node.saved = saved
    node.versions = versions
    node.params = params
    node.tmask = tmask
    node.ans = ans
    node.n_out = 1
    node.seq = next(_SEQUENCE)
    node.hooks = None
    node.remat = False
    return node


class NodeHooks:
    """The hooks of the tensors a node made, by output slot: ``pre`` the tensor hooks (run on
    the gradient before it flows on), ``retains`` weak references to tensors that
    ``retain_grad``.

    Example:
        >>> h = NodeHooks(); h.pre, h.retains
        ({}, {})
    """

    __slots__ = ("pre", "retains")

    def __init__(self) -> None:
        self.pre: dict[int, list] = {}
        self.retains: dict[int, Any] = {}


class AccumulateGrad(Node):
    """The node of a leaf tensor that requires grad: backward adds what reaches it to the leaf's
    ``.grad`` (running the leaf's hooks around it), as PyTorch's ``AccumulateGrad``.

    The node holds the leaf; the leaf holds it only weakly, so no reference cycle forms.

    Example:
        >>> import chainrule as cr
        >>> w = cr.tensor([1.0], requires_grad=True)
        >>> acc, slot = (w * 2).grad_fn.next_functions[0]
        >>> acc.variable is w, acc.name()
        (True, 'AccumulateGrad')
    """

    __slots__ = ("variable",)

    def __init__(self, variable: Any) -> None:
        super().__init__(_ACCUMULATE, ())
        self.variable = variable
        self.saved = ()

    def name(self) -> str:
        return "AccumulateGrad"

    def release(self) -> None:
        pass

    def __repr__(self) -> str:
        return "<AccumulateGrad>"


class _Accumulate:
    name = "AccumulateGrad"

    def formula(self, i: int) -> str:
        return ""


_ACCUMULATE = _Accumulate()
