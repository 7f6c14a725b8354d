"""The backward pass: order the nodes topologically (iteratively), then run the chain rule.

Gradients live in a side table keyed by node, one entry per output slot, popped as each node
runs; a node's rule turns the gradient of its outputs into gradients of its inputs, the engine
alone reduces a broadcast gradient back to its input's shape (``sum_to``) and routes it along
the input's edge. Leaves are reached through their ``AccumulateGrad`` nodes. ``backward``,
``autograd.grad``, ``explain`` and ``chainrule.func`` all run this one walk.
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from ..backend import array_module
from ..ops.primitive import _LIVE, Primitive, Tracer, saved_tensors
from ..ops.shape import sum_to
from ..tensor import Tensor, edge_of, ones_like, tensor
from .grad_mode import STATE, set_grad_enabled
from .node import AccumulateGrad, Node
from .remat import materialize

FREED = (
    "Trying to backward through the graph a second time (or directly access saved tensors "
    "after they have already been freed). Specify retain_graph=True when calling backward() "
    "or autograd.grad() the first time if you need to backward through the graph again."
)


class _Callbacks(threading.local):
    pending: list | None = None  # callbacks queued during the backward pass now running


_CALLBACKS = _Callbacks()


def queue_callback(callback: Any) -> None:
    """Run ``callback()`` once the backward pass now running has finished (call it from a hook;
    PyTorch's ``Variable._execution_engine.queue_callback``). Data-parallel training waits for
    its gradient all-reduces here.

    Example:
        >>> import chainrule as cr
        >>> w = cr.tensor([1.0], requires_grad=True)
        >>> done = []
        >>> _ = w.register_hook(lambda g: queue_callback(lambda: done.append(w.grad.item())))
        >>> (w * 2).sum().backward(); done
        [2.0]
    """
    if _CALLBACKS.pending is None:
        raise RuntimeError("queue_callback: no backward pass is running in this thread")
    _CALLBACKS.pending.append(callback)


def topological_order(roots: Sequence[Any]) -> list[Node]:
    """The nodes reachable from ``roots`` (tensors or nodes), each after all of its inputs'
    nodes (so reversed, each before its inputs: the order backward runs them).

    Iterative depth-first search, so a chain of any depth works (no recursion limit).

    Example:
        >>> import chainrule as cr
        >>> a = cr.tensor(1.0, requires_grad=True); b = a * 2; c = b + a
        >>> [n.name() for n in topological_order([c])]
        ['AccumulateGrad', 'MulBackward', 'AddBackward']
    """
    order: list = []
    seen: set[int] = set()
    stack: list = []
    for r in reversed(roots):
        if isinstance(r, Tensor):
            if not r._requires_grad:
                continue
            r = edge_of(r)[0]
        stack.append((r, False))
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        if node.saved is None:
            raise RuntimeError(FREED)
        for e in reversed(node.edges):  # first inputs first
            if e is not None and id(e[0]) not in seen:
                stack.append((e[0], False))
    return order


# on_node(node, grads of its outputs, gradients of its inputs after unbroadcasting)
OnNode = Callable[[Node, list, list], None]


def run_backward(
    roots: Sequence[Any],
    grad_roots: Sequence[Any],
    retain_graph: bool,
    create_graph: bool,
    inputs: Sequence[Any] | None = None,
    accumulate: bool = True,
    on_node: OnNode | None = None,
    hooks: bool = True,
) -> list | None:
    """Back-propagate ``grad_roots`` from ``roots``: the one walk behind ``backward``,
    ``autograd.grad``, ``explain`` and ``chainrule.func``.

    With ``accumulate`` the gradients that reach leaves (and tensors that ``retain_grad``) are
    added into ``.grad``; with ``inputs`` the gradients of those tensors are returned instead
    (and only the nodes between the roots and them run). ``on_node`` sees each step; ``hooks``
    off runs none of the user's hooks (a read-only walk).

    Example:
        >>> import chainrule as cr
        >>> x = cr.tensor(3.0, requires_grad=True)
        >>> run_backward([x * x], [cr.tensor(1.0)], False, False, inputs=[x], accumulate=False)
        [tensor(6.)]
    """
    grads: dict[Node, list] = {}
    root_nodes = []
    for r, g in zip(roots, grad_roots):
        node, slot, _ = edge_of(r)
        if node.saved is None:
            raise RuntimeError(FREED)
        root_nodes.append(node)
        g = g if create_graph else g._data
        buf = grads.setdefault(node, [None, False] * node.n_out)
        k = 2 * slot
        buf[k] = g if buf[k] is None else buf[k] + g
    wanted: dict[tuple, int] | None = None
    needed: set[int] | None = None
    if inputs is not None:
        wanted = {}
        for i, t in enumerate(inputs):
            node, slot, _ = edge_of(t)
            wanted[(id(node), slot)] = i
        needed = _needed(topological_order(root_nodes), {k[0] for k in wanted})
    results: list = [None] * len(inputs) if inputs is not None else []
    outer, _CALLBACKS.pending = _CALLBACKS.pending, []
    try:
        walk = _Walk(grads, wanted, results, retain_graph, create_graph, accumulate, hooks)
        walk.run(needed, on_node)
        callbacks = _CALLBACKS.pending
    finally:
        _CALLBACKS.pending = outer
    for cb in callbacks:
        cb()
    return results if inputs is not None else None


def _needed(order: list, targets: set[int]) -> set[int]:
    """The ids of the nodes of ``order`` (inputs first) from which a target can be reached."""
    need: set[int] = set()
    for node in order:
        if id(node) in targets or any(e is not None and id(e[0]) in need for e in node.edges):
            need.add(id(node))
    return need


class _Walk:
    """One backward pass over a topological order of nodes."""

    def __init__(
        self,
        grads: dict,
        wanted: dict | None,
        results: list,
        retain_graph: bool,
        create_graph: bool,
        accumulate: bool,
        hooks: bool,
    ) -> None:
        self.grads = grads
        self.wanted = wanted
        self.results = results
        self.retain = retain_graph
        self.create = create_graph
        self.accumulate = accumulate
        self.hooks = hooks

    def run(self, needed: set[int] | None, on_node: OnNode | None) -> None:
        """Run the nodes that have gradients waiting, highest sequence number first: each
        node's consumers were all made after it, so its gradient is complete when it runs.

        ``grads[node]`` is ``[g0, owned0, g1, owned1, ...]``: the gradient of each output slot
        and whether it is ours alone (no rule handed it back as the upstream gradient or a view
        of it), which lets a leaf take it as its ``.grad`` without a copy; only leaves read it.
        This loop runs once per node of every backward: it keeps to locals, and builds the list
        of output gradients only for nodes with several outputs.
        """
        grads = self.grads
        create = self.create
        hooks, wanted, retain = self.hooks, self.wanted, self.retain
        anomaly = STATE.anomaly
        heappop, heappush = heapq.heappop, heapq.heappush
        heap = [(-n.seq, n) for n in grads]
        heapq.heapify(heap)
        with set_grad_enabled(create):
            while heap:
                node = heappop(heap)[1]
                buf = grads.pop(node)
                if hooks and node.hooks is not None:
                    self._tensor_hooks(node, buf)
                if type(node) is AccumulateGrad:
                    self._leaf(node, buf[0], buf[1])
                    continue
                single = node.n_out == 1
                g0 = buf[0]
                gs = [g0] if single else buf[::2]
                if wanted is not None:
                    self._capture(node, gs)
                if node.saved is None:
                    raise RuntimeError(FREED)
                for i, vc, v in node.versions:
                    if vc.value != v:
                        raise RuntimeError(modified_in_place(node, i, vc.value, v))
                if node.remat:  # outputs of cheap ops it did not keep: make them again
                    materialize(node)
                fn = node.fn
                if fn.__class__ is Primitive:
                    # Primitive.backward, inlined: each edge's rule runs in the loop below,
                    # ``rule(g, ans, *args, **params)`` on the saved arrays (tensors in the graph
                    # with create_graph); the gradient goes on along its edge right away
                    in_grads = None
                    rules, variadic, params = fn.rules, fn._variadic, node.params
                    if create:
                        args, ans = saved_tensors(node)
                    else:
                        args, ans = node.saved, node.ans
                else:  # an autograd.Function: its backward gives every input's gradient
                    in_grads = fn.backward(node, g0 if single else gs, create)
                if on_node is not None:  # what on_node sees: the gradients sent along edges
                    done = [None] * len(node.edges)
                i = -1
                for e in node.edges:
                    i += 1
                    if e is None:
                        continue
                    if in_grads is None:
                        r = rules(i) if variadic else rules[i] if i < len(rules) else None
                        if r is None:
                            raise RuntimeError(f"{fn.name}: input {i} is not differentiable")
                        gi = r(g0, ans, *args, **params) if params else r(g0, ans, *args)
                    else:
                        gi = in_grads[i]
                    if gi is None:
                        continue
                    target, slot, shape = e
                    if _LIVE[0]:  # a transform may adjust it (sum over a vmap batch)
                        d = gi._data if isinstance(gi, Tensor) else gi
                        if isinstance(d, Tracer):
                            gi = d.grad_for(target, gi)
                    if gi.shape != shape:
                        gi = sum_to(gi, shape)
                    if on_node is not None:
                        done[i] = gi
                    if anomaly:
                        _check_finite(node, i, gi)
                    tbuf = grads.get(target)
                    k = 2 * slot
                    if tbuf is None:
                        if needed is not None and id(target) not in needed:
                            continue
                        tbuf = grads[target] = [None, False] * target.n_out
                        heappush(heap, (-target.seq, target))
                        prev = None
                    else:
                        prev = tbuf[k]
                    if prev is None:
                        tbuf[k] = gi
                        if type(target) is AccumulateGrad:  # ours alone, unless the rule
                            # handed back the upstream gradient or a view of it
                            tbuf[k + 1] = (
                                gi is not g0 if single else all(gi is not g for g in gs)
                            ) and getattr(gi, "base", None) is None
                    elif (
                        tbuf[k + 1]
                        and on_node is None
                        and not create
                        and type(prev) is type(gi) is np.ndarray
                        and prev.dtype == gi.dtype
                    ):
                        # a sum we made (third and later arrivals): nobody else holds it, so
                        # add in place instead of allocating (and page-faulting) a new array;
                        # not while on_node watches (explain keeps every running total)
                        np.add(prev, gi, out=prev)
                    else:
                        tbuf[k] = prev + gi
                        tbuf[k + 1] = True
                if on_node is not None:
                    on_node(node, gs, done)
                if not retain:  # node.release(), inlined: free what backward needed
                    node.saved = None
                    node.ans = None
                    node.versions = ()
                    node.edges = ()

    def _tensor_hooks(self, node: Node, buf: list) -> None:
        """Run the hooks of the non-leaf tensors that are outputs of ``node`` on their
        gradients in ``buf`` (see :meth:`run`); keep the gradients of those that
        ``retain_grad``."""
        for s in range(len(buf) // 2):
            g = buf[2 * s]
            if g is None:
                continue
            hooks = node.hooks.pre.get(s)
            if hooks:
                g = buf[2 * s] = _run_hooks(hooks, g, self.create)
                buf[2 * s + 1] = False  # a hook may have kept a reference
            ref = node.hooks.retains.get(s)
            t = ref() if ref is not None else None
            if t is not None and self.accumulate:
                _accumulate_grad(t, g, self.create, False)

    def _capture(self, node: Node, gs: list) -> None:
        """Keep the gradients (after hooks) of the outputs of ``node`` that autograd.grad
        asked for."""
        for s, g in enumerate(gs):
            i = self.wanted.get((id(node), s))
            if i is not None and g is not None:
                self.results[i] = g if self.create else Tensor._wrap(g)

    def _leaf(self, node: AccumulateGrad, g: Any, owned: bool) -> None:
        if g is None:
            return
        t = node.variable
        if self.hooks and t._hooks:
            g = _run_hooks(t._hooks, g, self.create)
            owned = False
        if self.wanted is not None:
            self._capture(node, [g])
        if self.accumulate:
            _accumulate_grad(t, g, self.create, owned)
            if self.hooks:
                for hook in getattr(t, "_post_hooks", None) or ():
                    hook(t)


def _check_finite(node: Node, i: int, g: Any) -> None:
    """Anomaly mode: stop at the first gradient with a NaN or an infinity."""
    arr = getattr(g, "_data", g)
    xp = array_module(arr)
    if arr.dtype.kind not in "fc" or bool(xp.isfinite(arr).all()):
        return
    kind = "nan" if bool(xp.isnan(arr).any()) else "inf"
    lines = [
        f"Function '{node.name()}' returned {kind} values in its {i}th output.",
        f"The forward op {node.op} that made it was called at:",
        _where(node),
    ]
    saved = node.saved if isinstance(node.saved, list) else []
    for j, a in enumerate(saved):  # a NaN made earlier in the forward pass: say by which op
        if not hasattr(a, "dtype") or a.dtype.kind not in "fc" or bool(xp.isfinite(a).all()):
            continue
        e = node.edges[j] if j < len(node.edges) else None
        if e is not None and not isinstance(e[0], AccumulateGrad):
            lines += [
                f"Its input {j} already held non-finite values in the forward pass, made by "
                f"{e[0].op} at:",
                _where(e[0]),
            ]
    raise RuntimeError("\n".join(lines))


def _where(node: Node) -> str:
    if getattr(node, "trace", None):
        return node.user_line()
    return (
        "  (the forward op ran outside anomaly mode: run the forward pass inside "
        "chainrule.autograd.detect_anomaly() to see its line)"
    )


def _run_hooks(hooks: list, g: Any, create_graph: bool) -> Any:
    """Pass a gradient through tensor hooks; a returned tensor replaces it."""
    shape, dtype = g.shape, g.dtype
    for hook in list(hooks):
        gt = g if isinstance(g, Tensor) else Tensor._wrap(g)
        new = hook(gt)
        if new is None:
            continue
        if not isinstance(new, Tensor):
            raise TypeError(f"a tensor hook must return a Tensor or None, got {type(new).__name__}")
        if new.shape != shape or new.dtype != dtype:
            raise RuntimeError(
                f"a tensor hook returned a gradient of shape {tuple(new.shape)} and dtype "
                f"{new.dtype} for a tensor of shape {tuple(shape)} and dtype {dtype}"
            )
        g = new if create_graph else new._data
    return g


def modified_in_place(node: Node, i: int, now: int, then: int) -> str:
    """The error for a node whose saved tensor was changed in place after it was recorded.

    Example:
        >>> import chainrule as cr
        >>> x = cr.tensor([1.0], requires_grad=True)
        >>> modified_in_place((x * x).grad_fn, 0, 1, 0)[:60]
        'one of the variables needed for gradient computation has bee'
    """
    what = "its output" if i < 0 else f"input {i}"
    shape = node.ans.shape if i < 0 else node.saved[i].shape
    dtype = node.ans.dtype if i < 0 else node.saved[i].dtype
    return (
        f"one of the variables needed for gradient computation has been modified by an inplace "
        f"operation: {what} [{dtype} {list(shape)}] of {node.name()} is at version {now}; "
        f"expected version {then} instead. Make the change out of place (y = y + ...), or "
        f".clone() before it (chainrule.autograd.detect_anomaly() shows where {node.op} ran)."
    )


def _accumulate_grad(t: Any, g: Any, create_graph: bool, owned: bool) -> None:
    if create_graph:
        gt = g if isinstance(g, Tensor) else Tensor._wrap(g)
        if gt.dtype != t.dtype:
            gt = gt.to(t.dtype)
        t.grad = gt if t.grad is None else t.grad + gt
        return
    if g.dtype != t._data.dtype:
        g = g.astype(t._data.dtype)
        owned = True
    if t.grad is None:
        t.grad = Tensor._wrap(g if owned else g.copy())
    elif t.grad.requires_grad:
        t.grad = t.grad + Tensor._wrap(g)
    else:
        t.grad._mutate(lambda a: a.__iadd__(g))


def _as_list(x: Any) -> list:
    if isinstance(x, Tensor):
        return [x]
    if x is None:
        return []
    return list(x)


def backward(
    tensors: Any,
    grad_tensors: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    inputs: Iterable[Any] | None = None,
) -> None:
    """Accumulate into ``.grad`` of the leaves the gradient of ``tensors`` (PyTorch semantics).

    Example:
        >>> import chainrule as cr
        >>> x = cr.tensor([1.0, 2.0], requires_grad=True)
        >>> backward((x * x).sum()); x.grad
        tensor([2., 4.])
    """
    outs = _as_list(tensors)
    gouts = _grad_outputs(outs, grad_tensors, "backward")
    if retain_graph is None:
        retain_graph = create_graph
    if inputs is not None:
        ins = _as_list(inputs)
        res = run_backward(outs, gouts, retain_graph, create_graph, ins, accumulate=False)
        for t, g in zip(ins, res):
            if g is not None:
                _accumulate_grad(t, g if create_graph else g._data, create_graph, False)
        return
    run_backward(outs, gouts, retain_graph, create_graph)


def _grad_outputs(outs: list, grads: Any, op: str) -> list:
    gl = _as_list(grads) if grads is not None else [None] * len(outs)
    if len(gl) != len(outs):
        raise ValueError(f"{op}: got {len(outs)} outputs but {len(gl)} gradients")
    result = []
    for o, g in zip(outs, gl):
        if not isinstance(o, Tensor):
            raise TypeError(f"{op}: expected Tensor outputs, got {type(o).__name__}")
        if not o.requires_grad:
            raise RuntimeError(
                f"{op}: element 0 of tensors does not require grad and does not have a grad_fn"
            )
        if g is None:
            if o.numel() != 1:
                raise RuntimeError(
                    f"{op}: grad can be implicitly created only for scalar outputs, but the "
                    f"output has shape {tuple(o.shape)}; pass gradient= (a tensor of that shape)"
                )
            g = ones_like(o)
        elif not isinstance(g, Tensor):
            g = tensor(g, dtype=o.dtype)
        if tuple(g.shape) != tuple(o.shape):
            raise RuntimeError(
                f"{op}: gradient has shape {tuple(g.shape)} but the output has shape "
                f"{tuple(o.shape)}"
            )
        result.append(g)
    return result


def grad(
    outputs: Any,
    inputs: Any,
    grad_outputs: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    allow_unused: bool = False,
) -> tuple:
    """Gradients of ``outputs`` with respect to ``inputs``, without touching any ``.grad``.

    With ``create_graph=True`` the returned gradients are themselves differentiable.

    Example:
        >>> import chainrule as cr
        >>> x = cr.tensor(2.0, requires_grad=True)
        >>> (dx,) = grad(x ** 3, x, create_graph=True)   # 3 x^2 = 12
        >>> grad(dx, x)[0]                                # 6 x = 12
        tensor(12.)
    """
    outs = _as_list(outputs)
    ins = _as_list(inputs)
    for i, t in enumerate(ins):
        if not t.requires_grad:
            raise RuntimeError(f"grad: input {i} does not require grad")
    gouts = _grad_outputs(outs, grad_outputs, "grad")
    if retain_graph is None:
        retain_graph = create_graph
    res = run_backward(outs, gouts, retain_graph, create_graph, ins, accumulate=False)
    assert res is not None
    for i, r in enumerate(res):
        if r is None and not allow_unused:
            raise RuntimeError(
                f"grad: input {i} was not used to compute the outputs; "
                "pass allow_unused=True to get None for it"
            )
    return tuple(res)
