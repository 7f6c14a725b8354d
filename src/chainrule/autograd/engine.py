"""The backward pass: order the graph topologically (iteratively), then run the chain rule.

Gradients live in a side table keyed by tensor, popped as they are consumed; each node's rule
turns the gradient of its output into gradients of its inputs, and the engine alone reduces a
broadcast gradient back to its input's shape (``sum_to``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from typing import Any

from .grad_mode import STATE, set_grad_enabled

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


def topological_order(roots: Sequence[Any]) -> list:
    """Tensors reachable from ``roots`` that require grad, each after all of its inputs.

    Iterative depth-first search, so a chain of any depth works (no recursion limit).

    Example:
        >>> import chainrule as cr
        >>> a = cr.tensor(1.0, requires_grad=True); b = a * 2; c = b + a
        >>> [t is x for t, x in zip(topological_order([c]), [a, b, c])]
        [True, True, True]
    """
    from ..tensor import Tensor

    order: list = []
    seen: set[int] = set()
    stack: list = [(r, False) for r in reversed(roots)]
    while stack:
        t, done = stack.pop()
        if done:
            order.append(t)
            continue
        if id(t) in seen:
            continue
        seen.add(id(t))
        stack.append((t, True))
        node = t._node
        if node is None:
            continue
        if node.inputs is None:
            raise RuntimeError(FREED)
        for p in node.inputs:
            if isinstance(p, Tensor) and p.requires_grad and id(p) not in seen:
                stack.append((p, False))
    return order


def run_backward(
    roots: Sequence[Any],
    grad_roots: Sequence[Any],
    retain_graph: bool,
    create_graph: bool,
    inputs: Sequence[Any] | None = None,
    accumulate: bool = True,
) -> list | None:
    """Back-propagate ``grad_roots`` from ``roots``; the engine behind ``backward`` and ``grad``.

    With ``accumulate`` the gradients of leaves (and of tensors that ``retain_grad``) are added
    into ``.grad``; otherwise the gradients of ``inputs`` are returned and no ``.grad`` changes.

    Example:
        >>> import chainrule as cr
        >>> x = cr.tensor(3.0, requires_grad=True)
        >>> run_backward([x * x], [cr.tensor(1.0)], False, False, inputs=[x], accumulate=False)
        [tensor(6.)]
    """

    order = topological_order(roots)
    grads: dict[int, Any] = {}
    # Keys whose gradient array is ours alone. A rule may hand back the upstream gradient itself
    # or a view of it: such a shared array is copied before it becomes some leaf's .grad.
    owned: set[int] = set()
    for r, g in zip(roots, grad_roots):
        g = g if create_graph else g._data
        key = id(r)
        grads[key] = grads[key] + g if key in grads else g
    wanted = {id(t): i for i, t in enumerate(inputs)} if inputs is not None else None
    results: list = [None] * len(inputs) if inputs is not None else []

    outer, _CALLBACKS.pending = _CALLBACKS.pending, []
    try:
        _run(order, grads, owned, wanted, results, retain_graph, create_graph, accumulate)
        callbacks = _CALLBACKS.pending
    finally:
        _CALLBACKS.pending = outer
    for cb in callbacks:
        cb()
    return results if inputs is not None else None


def _run(order, grads, owned, wanted, results, retain_graph, create_graph, accumulate) -> None:
    from ..ops.shape import sum_to
    from ..tensor import Tensor, version_of

    with set_grad_enabled(create_graph):
        for k in range(len(order) - 1, -1, -1):
            t = order[k]
            order[k] = None  # let what backward no longer needs be freed as we go
            g = grads.pop(id(t), None)
            if g is None:
                continue
            if t._hooks:
                g = _run_hooks(t, g, create_graph)
                owned.discard(id(t))  # a hook may have kept a reference to the array
            if wanted is not None and id(t) in wanted:
                results[wanted[id(t)]] = g if create_graph else Tensor._wrap(g)
            node = t._node
            if node is None or t._retains_grad:
                if accumulate:
                    _accumulate_grad(t, g, create_graph, id(t) in owned)
                if node is None:
                    continue
            ins = node.inputs
            if ins is None:
                raise RuntimeError(FREED)
            in_grads = node.fn.backward(node, g, t if create_graph else t._data, create_graph)
            version = t._version if t._base is None else version_of(t)
            for p, gi in zip(ins, in_grads):
                if gi is None:
                    if isinstance(p, Tensor):
                        version += p._version if p._base is None else version_of(p)
                    continue
                version += p._version if p._base is None else version_of(p)
                if gi.shape != p.shape:
                    gi = sum_to(gi, p.shape)
                key = id(p)
                prev = grads.get(key)
                if prev is None:
                    grads[key] = gi
                    if gi is not g and getattr(gi, "base", None) is None:
                        owned.add(key)
                    else:  # the rule handed back the upstream gradient or a view of it
                        owned.discard(key)
                else:
                    grads[key] = prev + gi
                    owned.add(key)
            if version != node.version:
                raise RuntimeError(_modified_in_place(node, t))
            if not retain_graph:
                node.release()


def _run_hooks(t: Any, g: Any, create_graph: bool) -> Any:
    """Pass the gradient of ``t`` through its hooks; a returned tensor replaces it."""
    from ..tensor import Tensor

    for hook in list(t._hooks):
        gt = g if isinstance(g, Tensor) else Tensor._wrap(g)
        new = hook(gt)
        if new is None:
            continue
        if not isinstance(new, Tensor):
            raise TypeError(f"a tensor hook must return a Tensor or None, got {type(new).__name__}")
        if new.shape != t.shape or new.dtype != t.dtype:
            raise RuntimeError(
                f"a tensor hook returned a gradient of shape {tuple(new.shape)} and dtype "
                f"{new.dtype} for a tensor of shape {tuple(t.shape)} and dtype {t.dtype}"
            )
        g = new if create_graph else new._data
    return g


def _modified_in_place(node: Any, t: Any) -> str:
    from ..tensor import Tensor, version_of

    seen = [("output", t)] + [
        (f"input {i}", p) for i, p in enumerate(node.inputs or ()) if isinstance(p, Tensor)
    ]
    parts = ", ".join(
        f"{role} [{p.dtype} {list(p.shape)}] at version {version_of(p)}"
        for role, p in seen
        if version_of(p)
    )
    return (
        f"one of the variables needed for gradient computation has been modified by an "
        f"inplace operation: {node.name()} used tensors that changed since it was recorded "
        f"({parts}). Make the change out of place (y = y + ...), or .clone() before it."
    )


def _accumulate_grad(t: Any, g: Any, create_graph: bool, owned: bool) -> None:
    from ..tensor import Tensor

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
        t.grad._data += g
    for hook in t._post_hooks or ():
        hook(t)


def _as_list(x: Any) -> list:
    from ..tensor import Tensor

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
    from ..tensor import Tensor, ones_like, tensor

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
    prev = STATE.enabled
    res = run_backward(outs, gouts, retain_graph, create_graph, ins, accumulate=False)
    STATE.enabled = prev
    assert res is not None
    for i, r in enumerate(res):
        if r is None and not allow_unused:
            raise RuntimeError(
                f"grad: input {i} was not used to compute the outputs; "
                "pass allow_unused=True to get None for it"
            )
    return tuple(res)
