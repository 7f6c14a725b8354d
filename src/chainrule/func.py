"""Function transforms, as in JAX and ``torch.func``: ``grad(f)`` *is* the derivative of ``f``.

Each transform takes a function of tensors and returns a new function; they compose, so
``grad(grad(f))`` is the second derivative and ``hessian(f)`` is ``jacrev(jacrev(f))``. They run
on the same engine as ``backward``: an input is entered into the graph as a fresh node, the
function runs, and :func:`chainrule.autograd.grad` reads the gradient off, keeping the graph
(``create_graph``) whenever an enclosing transform will differentiate the result again. No
``.grad`` is touched. ``jvp``, ``jacfwd``, ``hvp`` and ``linearize`` are forward mode: dual
numbers that run below the tape (:mod:`chainrule.autograd.forward_ad`), so they compose with the
reverse transforms in either order.

Example:
    >>> import chainrule as cr
    >>> from chainrule.func import grad
    >>> f = lambda x: (x ** 3).sum()
    >>> grad(f)(cr.tensor([1.0, 2.0]))          # 3 x^2
    tensor([ 3., 12.])
    >>> grad(lambda x: grad(f)(x).sum())(cr.tensor([1.0, 2.0]))   # 6 x
    tensor([ 6., 12.])
"""

from __future__ import annotations

import builtins
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from . import functions
from . import random as _random
from .autograd import engine
from .autograd.grad_mode import STATE, enable_grad
from .creation import zeros
from .ops.elementwise import clone
from .tensor import Tensor, tensor, zeros_like
from .utils.pytree import TreeSpec, tree_flatten, tree_unflatten

__all__ = [
    "grad", "value_and_grad", "vjp", "jvp", "jacrev", "jacobian", "hessian", "vmap",
    "functional_call", "jacfwd", "hvp", "linearize",
]  # fmt: skip


def _argnums(argnums: int | Sequence[int], n: int, op: str) -> tuple[int, ...]:
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    for i in nums:
        if not -n <= i < n:
            raise ValueError(f"{op}: argnums {argnums} out of range for {n} positional arguments")
    return tuple(i % n for i in nums)


def _enter(args: tuple, nums: tuple[int, ...], op: str) -> tuple[list, list, bool]:
    """Copy the differentiated arguments into the graph as fresh nodes.

    Called where the transform was called, before it turns grad mode on. An argument that is
    already in an enclosing graph (grad mode on, and it requires grad) is entered through
    ``clone``, so the inner derivative is taken with respect to this copy only and stays
    differentiable for the enclosing transform; any other becomes a new leaf.
    """
    recording = STATE.enabled
    args = list(args)
    entered = []
    for i in nums:
        a = args[i]
        if not isinstance(a, Tensor):
            a = tensor(a)
        if a.dtype.kind != "f":
            raise TypeError(f"{op}: argument {i} must be a floating-point tensor, got {a.dtype}")
        if a.requires_grad and recording:
            a = clone(a)
        else:
            a = a.detach().requires_grad_()
            _mark_made(a)
            if _random._VMAP:  # made inside vmap: its gradient stays one per example
                from .ops.batching import mark_inside

                mark_inside(a, _random._VMAP)
        args[i] = a
        entered.append(a)
    # Keep building graphs whenever grad mode is on: the function may close over tensors of an
    # enclosing graph (``grad(lambda x: grad(lambda y: x * y * y)(y0))``); ``_finish`` cuts
    # the results loose afterwards if nothing outside was reached.
    return args, entered, recording


def _enter_tree(args: tuple, nums: tuple[int, ...], op: str) -> tuple[list, list, bool, list]:
    """:func:`_enter` for arguments that are pytrees of tensors: every leaf of each argument in
    ``nums`` is entered; returns also each argument's structure (to pack the gradients)."""
    args = list(args)
    flat: list = []
    specs: list[TreeSpec] = []
    for i in nums:
        leaves, spec = tree_flatten(args[i])
        if not leaves:
            raise TypeError(f"{op}: argument {i} has no tensors to differentiate")
        specs.append(spec)
        flat.extend(leaves)
    pos = tuple(range(len(flat)))
    entered_args, entered, nested = _enter(tuple(flat), pos, op)
    k = 0
    for i, spec in zip(nums, specs):
        args[i] = tree_unflatten(entered_args[k : k + spec.num_leaves], spec)
        k += spec.num_leaves
    return args, entered, nested, specs


def _unflat(values: list, specs: list[TreeSpec]) -> list:
    """Flat per-leaf values back into one pytree per argument."""
    out, k = [], 0
    for spec in specs:
        out.append(tree_unflatten(values[k : k + spec.num_leaves], spec))
        k += spec.num_leaves
    return out


def _split_aux(out: Any, has_aux: bool, op: str) -> tuple[Any, Any]:
    if not has_aux:
        return out, None
    if not (isinstance(out, tuple) and len(out) == 2):
        raise TypeError(f"{op}: with has_aux=True the function must return (output, aux)")
    return out


def _scalar(out: Any, op: str) -> Tensor:
    if not isinstance(out, Tensor):
        raise TypeError(f"{op}: the function must return a Tensor, got {type(out).__name__}")
    if out.numel() != 1:
        raise RuntimeError(
            f"{op}: the function must return a scalar (one element), got shape {tuple(out.shape)}"
        )
    return out


def _gradients(out: Tensor, entered: list, nested: bool, cotangent: Any = None) -> list:
    """d out / d entered, zeros for inputs the output does not depend on."""
    if not out.requires_grad:
        return [zeros_like(a) for a in entered]
    gs = engine.grad(
        out, entered, grad_outputs=cotangent, retain_graph=True, create_graph=nested,
        allow_unused=True,
    )  # fmt: skip
    return [zeros_like(a) if g is None else g for a, g in zip(entered, gs)]


def _finish(values: list, entered: list, nested: bool) -> list:
    """The results as they leave a transform: still in the graph if they depend on a tensor
    outside it (an enclosing transform or backward will differentiate them), else detached."""
    if nested and _reaches_outside(values, entered):
        return values
    return [v.detach() if isinstance(v, Tensor) else v for v in values]


# The leaves the transforms make for their arguments, and the ids of those of the transforms
# still running (outermost first). A leaf of a finished inner transform is an internal detail;
# a user's tensor, or a leaf of an enclosing transform, is "outside".
_MADE: dict[int, weakref.ref] = {}
_ACTIVE: list[set[int]] = []


def _mark_made(t: Tensor) -> None:
    key = id(t)
    _MADE[key] = weakref.ref(t, lambda _, key=key: _MADE.pop(key, None))


def _is_made(t: Tensor) -> bool:
    ref = _MADE.get(id(t))
    return ref is not None and ref() is t


@contextmanager
def _running(entered: list) -> Iterator[None]:
    _ACTIVE.append({id(a) for a in entered})
    try:
        yield
    finally:
        _ACTIVE.pop()


def _reaches_outside(values: list, entered: list) -> bool:
    inside = {id(a) for a in entered}
    roots = [v for v in values if isinstance(v, Tensor) and v.requires_grad]
    if not roots:
        return False
    for node in engine.topological_order(roots):
        t = getattr(node, "variable", None)  # the leaf of an AccumulateGrad node
        if t is not None and id(t) not in inside:
            if not _is_made(t) or builtins.any(id(t) in s for s in _ACTIVE):
                return True
    return False


def _pack(values: list, argnums: int | Sequence[int]) -> Any:
    return values[0] if isinstance(argnums, int) else tuple(values)


def value_and_grad(
    func: Callable[..., Any], argnums: int | Sequence[int] = 0, has_aux: bool = False
) -> Callable[..., Any]:
    """A function returning ``(func(*args), gradient)``; with ``has_aux``, ``func`` returns
    ``(output, aux)`` and the result is ``((output, aux), gradient)``.

    Example:
        >>> import chainrule as cr
        >>> value_and_grad(lambda x: (x * x).sum())(cr.tensor([3.0]))
        (tensor(9.), tensor([6.]))
    """

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nums = _argnums(argnums, len(args), "grad")
        args2, entered, nested, specs = _enter_tree(args, nums, "grad")
        with enable_grad():
            with _running(entered):
                raw = func(*args2, **kwargs)
                out, aux = _split_aux(raw, has_aux, "grad")
                out = _scalar(out, "grad")
                gs = _gradients(out, entered, nested)
                value, *gs = _finish([out, *gs], entered, nested)
        return ((value, aux) if has_aux else value), _pack(_unflat(gs, specs), argnums)

    return wrapper


def grad(
    func: Callable[..., Any], argnums: int | Sequence[int] = 0, has_aux: bool = False
) -> Callable[..., Any]:
    """The gradient of a scalar-valued ``func`` with respect to argument(s) ``argnums``.

    Example:
        >>> import chainrule as cr
        >>> grad(lambda w, x: (w * x).sum(), argnums=(0, 1))(cr.tensor([2.0]), cr.tensor([5.0]))
        (tensor([5.]), tensor([2.]))
    """
    vg = value_and_grad(func, argnums, has_aux)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        (value, g) = vg(*args, **kwargs)
        return (g, value[1]) if has_aux else g

    return wrapper


def vjp(func: Callable[..., Any], *primals: Any) -> tuple[Any, Callable[[Any], tuple]]:
    """``func(*primals)`` and a function mapping a cotangent ``v`` (shaped like the output) to
    ``v^T J``, one gradient per primal: the backward pass as a function. Primals, output and
    cotangent may be pytrees (nested tuples, lists, dicts) of tensors.

    Example:
        >>> import chainrule as cr
        >>> out, back = vjp(lambda x: x * x, cr.tensor([1.0, 2.0]))
        >>> back(cr.ones(2))
        (tensor([2., 4.]),)
    """
    nums = tuple(range(len(primals)))
    args, entered, nested, specs = _enter_tree(primals, nums, "vjp")
    with enable_grad():
        with _running(entered):
            out = func(*args)
    outs, ospec = tree_flatten(out)
    for o in outs:
        if not isinstance(o, Tensor):
            raise TypeError(
                f"vjp: the function must return Tensors (or a pytree of them), "
                f"got {type(o).__name__}"
            )

    def back(cotangent: Any) -> tuple:
        vs, vspec = tree_flatten(cotangent)
        if vspec != ospec:
            raise ValueError(f"vjp: cotangent has structure {vspec} but the output has {ospec}")
        vs = [v if isinstance(v, Tensor) else tensor(v, dtype=o.dtype) for v, o in zip(vs, outs)]
        for v, o in zip(vs, outs):
            if tuple(v.shape) != tuple(o.shape):
                raise ValueError(
                    f"vjp: cotangent has shape {tuple(v.shape)} but the output has shape "
                    f"{tuple(o.shape)}"
                )
        create = nested or builtins.any(v.requires_grad for v in vs)
        with enable_grad():
            live = [(o, v) for o, v in zip(outs, vs) if o.requires_grad]
            if not live:
                gs = [zeros_like(a) for a in entered]
            else:
                got = engine.grad(
                    [o for o, _ in live], entered, grad_outputs=[v for _, v in live],
                    retain_graph=True, create_graph=create, allow_unused=True,
                )  # fmt: skip
                gs = [zeros_like(a) if g is None else g for a, g in zip(entered, got)]
            return tuple(_unflat(_finish(gs, entered, create), specs))

    value = tree_unflatten(_finish(outs, entered, nested), ospec)
    return value, back


def jacrev(func: Callable[..., Any], argnums: int | Sequence[int] = 0) -> Callable[..., Any]:
    """The Jacobian of ``func`` by reverse mode: one backward pass per output element. The
    result has shape ``output.shape + input.shape`` (a tuple of them for several argnums). With
    pytrees, as in JAX: the output's structure, each leaf replaced by the inputs' structure.

    Example:
        >>> import chainrule as cr
        >>> jacrev(lambda x: x * x)(cr.tensor([1.0, 2.0]))
        tensor([[2., 0.],
                [0., 4.]])
    """

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nums = _argnums(argnums, len(args), "jacrev")
        args2, entered, nested, specs = _enter_tree(args, nums, "jacrev")
        with enable_grad():
            with _running(entered):
                out = func(*args2, **kwargs)
            outs, ospec = tree_flatten(out)
            per_out = []
            for o in outs:
                if not isinstance(o, Tensor):
                    raise TypeError(
                        f"jacrev: the function must return Tensors, got {type(o).__name__}"
                    )
                flat = functions.reshape(o, (-1,))
                rows: list[list] = [[] for _ in entered]
                for k in range(flat.shape[0]):
                    for r, g in zip(rows, _gradients(flat[k], entered, nested)):
                        r.append(g)
                jacs = [
                    functions.reshape(
                        functions.stack(r) if r else zeros((0, *a.shape), dtype=a.dtype),
                        tuple(o.shape) + tuple(a.shape),
                    )
                    for r, a in zip(rows, entered)
                ]
                per_out.append(_pack(_unflat(_finish(jacs, entered, nested), specs), argnums))
        return tree_unflatten(per_out, ospec)

    return wrapper


jacobian = jacrev


def hessian(func: Callable[..., Any], argnums: int = 0) -> Callable[..., Any]:
    """The Hessian of a scalar ``func``: ``jacrev(jacrev(func))``, shape ``x.shape + x.shape``.

    Example:
        >>> import chainrule as cr
        >>> hessian(lambda x: (x[0] * x[1]) ** 2)(cr.tensor([1.0, 2.0]))
        tensor([[8., 8.],
                [8., 2.]])
    """
    if not isinstance(argnums, int):
        raise TypeError(f"hessian: argnums must be one int, got {argnums!r}")
    return jacrev(jacrev(func, argnums), argnums)


# ----- vmap ------------------------------------------------------------------------------------
_RANDOMNESS = ("error", "different", "same")


def _dims_tree(dims: Any, tree: Any, where: str, op: str) -> list:
    """``dims`` (an int/None for the whole ``tree``, or a pytree prefix of it) as one entry per
    leaf of ``tree``."""
    if dims is None or isinstance(dims, int) and not isinstance(dims, bool):
        return [dims] * len(tree_flatten(tree)[0])
    if isinstance(dims, dict) and isinstance(tree, dict):
        if set(dims) != set(tree):
            raise ValueError(
                f"{op}: {where} has keys {sorted(tree)} but its dims have keys {sorted(dims)}"
            )
        return [d for k in tree for d in _dims_tree(dims[k], tree[k], f"{where}[{k!r}]", op)]
    if isinstance(dims, (tuple, list)) and isinstance(tree, (tuple, list)):
        if len(dims) != len(tree):
            raise ValueError(
                f"{op}: {where} has {len(tree)} entries but its dims {dims!r} have {len(dims)}"
            )
        return [
            d for i, (x, t) in enumerate(zip(dims, tree))
            for d in _dims_tree(x, t, f"{where}[{i}]", op)
        ]  # fmt: skip
    raise ValueError(
        f"{op}: the dims {dims!r} given for {where} do not match its structure "
        f"({type(tree).__name__}); give an int, None, or a tree of them shaped like it"
    )


def _paths(tree: Any, prefix: str) -> list[str]:
    from .utils.pytree import tree_flatten_with_path

    return [prefix + p for p, _ in tree_flatten_with_path(tree)[0]]


def vmap(
    func: Callable[..., Any],
    in_dims: Any = 0,
    out_dims: Any = 0,
    randomness: str = "error",
    *,
    chunk_size: int | None = None,
) -> Callable[..., Any]:
    """``func`` mapped over a batch dimension of its inputs, as ``torch.func.vmap``: the function
    is written for one example and runs on all at once, each primitive by its batching rule
    (:mod:`chainrule.ops.batching`). ``in_dims`` says which dim of each positional argument is
    the batch (an int, ``None`` for an unbatched argument, or a tuple with one entry per argument,
    each an int/None or a pytree like that argument); ``out_dims`` where the batch goes in the
    outputs (pytrees too). Keyword arguments are not batched. ``randomness``: random ops inside
    raise (``'error'``), draw independently per example (``'different'``) or draw once for the
    batch (``'same'``). ``chunk_size`` maps that many examples at a time. Composes with
    ``grad``, ``jacrev``, ``hessian`` and itself in any order.

    Example:
        >>> import chainrule as cr
        >>> vmap(lambda x, w: x @ w, in_dims=(0, None))(cr.ones(5, 3), cr.ones(3, 2)).shape
        (5, 2)
        >>> x = cr.tensor([[1.0, 2.0], [3.0, 4.0]])
        >>> vmap(grad(lambda v: (v ** 2).sum()))(x)      # one gradient per row
        tensor([[2., 4.],
                [6., 8.]])
    """
    if randomness not in _RANDOMNESS:
        raise ValueError(
            f"vmap: randomness must be one of {', '.join(map(repr, _RANDOMNESS))}, "
            f"got {randomness!r}"
        )
    if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size < 1):
        raise ValueError(f"vmap: chunk_size must be a positive int or None, got {chunk_size!r}")
    if not callable(func):
        raise TypeError(f"vmap: func must be callable, got {type(func).__name__}")

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if isinstance(in_dims, (tuple, list)):
            if len(in_dims) != len(args):
                raise ValueError(
                    f"vmap: in_dims has {len(in_dims)} entries but the function got "
                    f"{len(args)} positional arguments"
                )
            dims = _dims_tree(tuple(in_dims), args, "args", "vmap")
        elif in_dims is None or isinstance(in_dims, int):
            dims = _dims_tree(in_dims, args, "args", "vmap")
        else:
            raise ValueError(f"vmap: in_dims must be an int, None or a tuple, got {in_dims!r}")
        leaves, spec = tree_flatten(args)
        names = _paths(args, "args")
        size, first = None, None
        norm: list = []
        for leaf, d, name in zip(leaves, dims, names):
            if d is None:
                norm.append(None)
                continue
            if not isinstance(leaf, Tensor):
                raise ValueError(
                    f"vmap: got in_dim={d} for {name}, of type {type(leaf).__name__}; only "
                    "Tensors can be mapped over (give None for it in in_dims)"
                )
            if not -max(leaf.ndim, 1) <= d < max(leaf.ndim, 1) or leaf.ndim == 0:
                raise ValueError(
                    f"vmap: in_dim={d} for {name} is out of range for a tensor of shape "
                    f"{tuple(leaf.shape)}"
                )
            d %= leaf.ndim
            n = leaf.shape[d]
            if size is None:
                size, first = n, (name, d)
            elif n != size:
                raise ValueError(
                    f"vmap: expected all mapped inputs to have the same size in their mapped "
                    f"dim: {first[0]} has size {size} in dim {first[1]} but {name} has size "
                    f"{n} in dim {d}"
                )
            norm.append(d)
        if size is None:
            raise ValueError(
                "vmap: at least one positional argument must be a Tensor mapped over "
                "(in_dims not None)"
            )
        if chunk_size is not None and size > chunk_size:
            return _chunked(func, leaves, spec, norm, size, kwargs)
        return _vmap_once(func, leaves, spec, norm, size, kwargs)

    def _vmap_once(func: Any, leaves: list, spec: Any, norm: list, size: int, kwargs: dict):
        from . import random as _random
        from .ops.batching import BatchTrace, BatchTracer, _Key, vmap_in, vmap_out

        trace = BatchTrace(size, randomness)
        key = _Key(trace)
        inner = [x if d is None else vmap_in(x, key, d) for x, d in zip(leaves, norm)]
        _random._VMAP.append(trace)
        try:
            out = func(*tree_unflatten(inner, spec), **kwargs)
        finally:
            _random._VMAP.pop()
        outs, ospec = tree_flatten(out)
        odims = _dims_tree(out_dims, out, "the output", "vmap")
        res = []
        for o, d, name in zip(outs, odims, _paths(out, "output")):
            if not isinstance(o, Tensor):
                raise ValueError(
                    f"vmap: the function must return Tensors (or pytrees of them); {name} is "
                    f"a {type(o).__name__}"
                )
            batched = isinstance(o._data, BatchTracer) and o._data.trace is trace
            if d is None:
                if batched:
                    raise ValueError(
                        f"vmap: out_dims is None for {name}, but it depends on the mapped "
                        "inputs (it has a batch dim)"
                    )
                res.append(o)
                continue
            r = o.ndim + 1
            if not -r <= d < r:
                raise ValueError(
                    f"vmap: out_dim={d} for {name} is out of range for a batched output of {r} dims"
                )
            res.append(vmap_out(o, key, d % r))
        return tree_unflatten(res, ospec)

    def _chunked(func: Any, leaves: list, spec: Any, norm: list, size: int, kwargs: dict):
        parts = []
        for lo in range(0, size, chunk_size):
            hi = min(lo + chunk_size, size)
            sub = [
                x if d is None else functions.narrow(x, d, lo, hi - lo)
                for x, d in zip(leaves, norm)
            ]
            parts.append(_vmap_once(func, sub, spec, norm, hi - lo, kwargs))
        flat0, ospec = tree_flatten(parts[0])
        odims = _dims_tree(out_dims, parts[0], "the output", "vmap")
        flats = [tree_flatten(p)[0] for p in parts]
        res = []
        for k, d in enumerate(odims):
            if d is None:
                res.append(flats[0][k])
            else:
                res.append(functions.cat([f[k] for f in flats], d % (flat0[k].ndim)))
        return tree_unflatten(res, ospec)

    wrapper.__wrapped__ = func  # type: ignore[attr-defined]
    return wrapper


# ----- functional_call -------------------------------------------------------------------------
def functional_call(
    module: Any,
    parameter_and_buffer_dicts: Any,
    args: Any = None,
    kwargs: dict | None = None,
    *,
    tie_weights: bool = True,
    strict: bool = False,
) -> Any:
    """Call ``module`` with the given parameters and buffers (by their ``state_dict`` names)
    standing in for its own, as ``torch.func.functional_call``: they are swapped in for the call
    and the module's own are put back afterwards, also when the call raises. ``args`` is one
    argument or a tuple of them; a list of dicts is merged (a key given twice is an error).
    With ``tie_weights`` a tensor shared by several names (tied weights) follows the one given;
    ``strict`` requires every parameter and buffer to be given and no other names.

    Example:
        >>> import chainrule as cr
        >>> lin = cr.nn.Linear(2, 1)
        >>> p = {"weight": cr.ones(1, 2), "bias": cr.zeros(1)}
        >>> functional_call(lin, p, (cr.tensor([[1.0, 2.0]]),))
        tensor([[3.]])
        >>> per_example = vmap(grad(lambda p, x: functional_call(lin, p, (x,)).sum()),
        ...                    in_dims=(None, 0))(p, cr.tensor([[1.0, 2.0], [3.0, 4.0]]))
        >>> per_example["weight"]
        tensor([[[1., 2.]],
        <BLANKLINE>
                [[3., 4.]]])
    """
    if isinstance(parameter_and_buffer_dicts, dict):
        given = dict(parameter_and_buffer_dicts)
    elif isinstance(parameter_and_buffer_dicts, (list, tuple)):
        given = {}
        for d in parameter_and_buffer_dicts:
            for k, v in d.items():
                if k in given:
                    raise ValueError(
                        f"functional_call: {k!r} appeared in multiple dictionaries; behavior "
                        "of functional_call is ambiguous"
                    )
                given[k] = v
    else:
        raise TypeError(
            "functional_call: parameter_and_buffer_dicts must be a dict or a sequence of "
            f"dicts, got {type(parameter_and_buffer_dicts).__name__}"
        )
    owned = dict(_all_named(module, "_parameters") + _all_named(module, "_buffers"))
    if strict:
        missing = sorted(set(owned) - set(given))
        unexpected = sorted(set(given) - set(owned))
        if missing or unexpected:
            raise RuntimeError(
                "functional_call: Error(s) in reparametrizing for "
                f"{type(module).__name__}: missing keys {missing}, unexpected keys {unexpected}"
            )
    if tie_weights:  # names sharing one tensor follow the one given
        by_id: dict[int, list[str]] = {}
        for n, t in owned.items():
            by_id.setdefault(id(t), []).append(n)
        for names in by_id.values():
            hit = [n for n in names if n in given]
            if hit:
                for n in hit[1:]:
                    if given[n] is not given[hit[0]]:
                        raise ValueError(
                            f"functional_call: {hit[0]!r} and {n!r} are tied in the module "
                            "but were given different values"
                        )
                for n in names:
                    given.setdefault(n, given[hit[0]])
    saved = []
    try:
        for name, value in given.items():
            owner, attr = _owner(module, name)
            if owner is None:
                if strict:
                    raise RuntimeError(f"functional_call: the module has no {name!r}")
                continue
            store = "_parameters" if attr in owner._parameters else "_buffers"
            saved.append((getattr(owner, store), attr, getattr(owner, store)[attr]))
            getattr(owner, store)[attr] = value
        if args is None:
            args = ()
        elif not isinstance(args, tuple):
            args = (args,)
        return module(*args, **(kwargs or {}))
    finally:
        for store, attr, old in reversed(saved):
            store[attr] = old


def _all_named(module: Any, store: str) -> list:
    """(name, tensor) for every registered parameter or buffer, shared ones under each name."""
    out = []
    for prefix, m in module.named_modules(remove_duplicate=False):
        for n, t in getattr(m, store).items():
            if t is not None:
                out.append((f"{prefix}.{n}" if prefix else n, t))
    return out


def _owner(module: Any, name: str) -> tuple[Any, str]:
    *path, attr = name.split(".")
    m = module
    for p in path:
        m = m._modules.get(p) if hasattr(m, "_modules") else None
        if m is None:
            return None, attr
    if attr in m._parameters or attr in m._buffers:
        return m, attr
    return None, attr


# ----- forward mode: a JVPTrace of dual numbers below the tape (chainrule.autograd.forward_ad) ---
def _tensors(xs: Any, op: str, what: str) -> tuple[tuple, bool]:
    """``xs`` (a tensor or a tuple/list of them) as a tuple of tensors, and whether it was one."""
    single = not isinstance(xs, (tuple, list))
    items = (xs,) if single else tuple(xs)
    out = []
    for i, x in enumerate(items):
        if not isinstance(x, Tensor):
            try:
                x = tensor(x)
            except Exception:
                raise TypeError(
                    f"{op}: {what} {i} must be a Tensor, got {type(x).__name__}"
                ) from None
        out.append(x)
    return tuple(out), single


def _check_tangents(primals: tuple, tangents: tuple, op: str) -> None:
    if len(primals) != len(tangents):
        raise ValueError(f"{op}: got {len(primals)} primals but {len(tangents)} tangents")
    for i, (p, t) in enumerate(zip(primals, tangents)):
        if p.dtype.kind != "f":
            raise TypeError(f"{op}: primal {i} must be a floating-point tensor, got {p.dtype}")
        if tuple(p.shape) != tuple(t.shape):
            raise ValueError(
                f"{op}: tangent {i} has shape {tuple(t.shape)} but its primal has shape "
                f"{tuple(p.shape)}"
            )
        if p.dtype != t.dtype:
            raise TypeError(
                f"{op}: tangent {i} has dtype {t.dtype} but its primal has dtype {p.dtype}"
            )


def _unpack_out(out: Any, trace: Any, op: str) -> tuple[Any, Any]:
    """The primal and tangent parts of ``func``'s output (a tensor or a tuple of tensors)."""
    from .autograd.forward_ad import primal_p, tangent_p

    if isinstance(out, (tuple, list)):
        parts = [_unpack_out(o, trace, op) for o in out]
        return type(out)(p for p, _ in parts), type(out)(t for _, t in parts)
    if not isinstance(out, Tensor):
        raise TypeError(
            f"{op}: the function must return a Tensor or a tuple of Tensors, got "
            f"{type(out).__name__}"
        )
    return primal_p(out, trace), tangent_p(out, trace)


def _run_jvp(func: Callable[..., Any], primals: tuple, tangents: tuple, has_aux: bool,
             op: str, record: list | None = None) -> tuple:  # fmt: skip
    from .autograd.forward_ad import JVPTrace, dual_p, primal_p

    trace = JVPTrace()
    trace.record = record
    duals = [dual_p(p, t, trace) for p, t in zip(primals, tangents)]
    try:
        out, aux = _split_aux(func(*duals), has_aux, op)
    finally:
        trace.record = None
        trace.finished = True
    value, tangent = _unpack_out(out, trace, op)
    if has_aux:
        aux = _map_tensors(aux, lambda a: primal_p(a, trace))
    return value, tangent, aux, duals, out


def _map_tensors(x: Any, fn: Callable[[Tensor], Any]) -> Any:
    if isinstance(x, Tensor):
        return fn(x)
    if isinstance(x, (tuple, list)):
        return type(x)(_map_tensors(v, fn) for v in x)
    if isinstance(x, dict):
        return {k: _map_tensors(v, fn) for k, v in x.items()}
    return x


def jvp(func: Callable[..., Any], primals: Any, tangents: Any, *, has_aux: bool = False) -> tuple:
    """``(func(*primals), J @ tangents)`` by forward mode, as ``torch.func.jvp``/``jax.jvp``:
    one pass of dual numbers (each primitive's ``jvp`` rule runs beside its forward), no
    reverse pass. ``primals`` and ``tangents`` are tuples of tensors of the same shapes and
    dtypes; ``func`` returns a tensor or a tuple of tensors (``(output, aux)`` with
    ``has_aux``, giving ``(output, jvp_out, aux)``). Composes with the other transforms:
    ``jvp(grad(f))`` is forward over reverse, ``grad`` of a jvp reverse over forward.

    Example:
        >>> import chainrule as cr
        >>> jvp(lambda x: x ** 2, (cr.tensor([3.0]),), (cr.tensor([1.0]),))
        (tensor([9.]), tensor([6.]))
    """
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError("jvp: primals and tangents must be tuples (of tensors)")
    ps, _ = _tensors(primals, "jvp", "primal")
    ts, _ = _tensors(tangents, "jvp", "tangent")
    _check_tangents(ps, ts, "jvp")
    value, tangent, aux, _, _ = _run_jvp(func, ps, ts, has_aux, "jvp")
    return (value, tangent, aux) if has_aux else (value, tangent)


def jacfwd(
    func: Callable[..., Any], argnums: int | Sequence[int] = 0, has_aux: bool = False
) -> Callable[..., Any]:
    """The Jacobian of ``func`` by forward mode, as ``torch.func.jacfwd``: one jvp per input
    element (a basis tangent each), so it suits functions with fewer inputs than outputs. The
    result has shape ``output.shape + input.shape`` (a tuple of them for several argnums); with
    ``has_aux`` the result is ``(jacobian, aux)``.

    Example:
        >>> import chainrule as cr
        >>> jacfwd(lambda x: x * x)(cr.tensor([1.0, 2.0]))
        tensor([[2., 0.],
                [0., 4.]])
    """

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nums = _argnums(argnums, len(args), "jacfwd")
        args = list(args)
        for i in nums:
            a = args[i] if isinstance(args[i], Tensor) else tensor(args[i])
            if a.dtype.kind != "f":
                raise TypeError(
                    f"jacfwd: argument {i} must be a floating-point tensor, got {a.dtype}"
                )
            args[i] = a
        cols: list[list] = [[] for _ in nums]
        out = aux = None
        for slot, i in enumerate(nums):
            x = args[i]
            n = x.numel()
            for k in range(n):
                basis = functions.reshape(_basis(x, k), tuple(x.shape))

                def f(xi: Tensor, i: int = i) -> Any:
                    return func(*args[:i], xi, *args[i + 1 :], **kwargs)

                value, tangent, aux, _, _ = _run_jvp(f, (x,), (basis,), has_aux, "jacfwd")
                out = value
                if not isinstance(tangent, Tensor):
                    raise TypeError("jacfwd: the function must return one Tensor")
                cols[slot].append(tangent)
            if n == 0:
                out = func(*args, **kwargs)
                out = out[0] if has_aux else out
        jacs = []
        for slot, i in enumerate(nums):
            x, c = args[i], cols[slot]
            oshape = tuple(out.shape)
            if c:
                j = functions.stack(c, dim=-1)  # out.shape + (n,)
            else:
                j = zeros(oshape + (0,), dtype=x.dtype)
            jacs.append(functions.reshape(j, oshape + tuple(x.shape)))
        res = _pack(jacs, argnums)
        return (res, aux) if has_aux else res

    return wrapper


def _basis(x: Tensor, k: int) -> Tensor:
    e = zeros(x.numel(), dtype=x.dtype)
    e._mutate(lambda a: a.__setitem__(k, 1))
    return e


def hvp(func: Callable[..., Any], primals: Any, tangents: Any) -> Any:
    """The Hessian of a scalar ``func`` times ``tangents``, by forward over reverse:
    ``jvp(grad(func), primals, tangents)[1]`` (the ``torch.func`` recipe; JAX's cookbook), one
    forward and one backward pass of dual numbers, never the Hessian itself. ``primals`` and
    ``tangents`` are tuples; one tensor comes back for one primal, else a tuple.

    Example:
        >>> import chainrule as cr
        >>> hvp(lambda x: (x ** 3).sum(), (cr.tensor([1.0, 2.0]),), (cr.tensor([1.0, 1.0]),))
        tensor([ 6., 12.])
    """
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError("hvp: primals and tangents must be tuples (of tensors)")
    nums = 0 if len(primals) == 1 else tuple(range(len(primals)))
    return jvp(grad(func, argnums=nums), tuple(primals), tuple(tangents))[1]


def linearize(func: Callable[..., Any], *primals: Any) -> tuple[Any, Callable[..., Any]]:
    """``(func(*primals), jvp_fn)`` as ``torch.func.linearize``/``jax.linearize``:
    ``jvp_fn(*tangents)`` is ``J @ tangents`` at ``primals``. The primal computation runs once:
    each primitive's primals and output are kept, and ``jvp_fn`` runs only the ``jvp`` rules
    again on new tangents (the rules may recompute local derivatives such as ``cos(x)`` from
    the kept primals; there is no compiled linear graph). The kept values live as long as
    ``jvp_fn``; ``func``'s Python control flow must not depend on the tangents (it cannot).

    Example:
        >>> import chainrule as cr
        >>> out, f_jvp = linearize(lambda x: x.sin(), cr.tensor([0.0, 1.0]))
        >>> f_jvp(cr.tensor([1.0, 1.0]))
        tensor([1.    , 0.5403])
    """
    ps, _ = _tensors(primals, "linearize", "primal")
    zs = tuple(zeros_like(p) for p in ps)
    _check_tangents(ps, zs, "linearize")
    record: list = []
    value, _, _, duals, out = _run_jvp(func, ps, zs, False, "linearize", record)
    from .autograd.forward_ad import JVPTracer, fit_tangent

    in_ids = [id(d._data) for d in duals]  # duals stay alive with jvp_fn: the ids stay theirs
    outs = out if isinstance(out, (tuple, list)) else (out,)

    def jvp_fn(*tangents: Any) -> Any:
        ts, _ = _tensors(tangents, "linearize", "tangent")
        _check_tangents(ps, ts, "linearize")
        env: dict[int, Any] = dict(zip(in_ids, ts))
        assert len(duals) == len(in_ids)
        for prim, prim_args, params, ids, res in record:
            tin = [None if i is None else env.get(i) for i in ids]
            if all(t is None for t in tin):
                continue
            t = prim.jvp(tin, res.primal, *prim_args, **params)
            if t is not None:
                env[id(res)] = fit_tangent(t, res.primal, prim.name)
        result = []
        for o in outs:
            d = o._data
            t = env.get(id(d)) if isinstance(d, JVPTracer) else None
            if t is None:
                t = (
                    zeros_like(o)
                    if not isinstance(d, JVPTracer)
                    else Tensor._wrap(np.zeros_like(d.primal))
                )
            result.append(t if isinstance(t, Tensor) else Tensor._wrap(t))
        return type(out)(result) if isinstance(out, (tuple, list)) else result[0]

    return value, jvp_fn
