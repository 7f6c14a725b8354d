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
from .autograd import engine
from .autograd.grad_mode import STATE, enable_grad
from .creation import zeros
from .ops.elementwise import clone
from .tensor import Tensor, tensor, zeros_like

__all__ = [
    "grad", "value_and_grad", "vjp", "jvp", "jacrev", "jacobian", "hessian", "jacfwd", "hvp",
    "linearize",
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
        args[i] = a
        entered.append(a)
    # Keep building graphs whenever grad mode is on: the function may close over tensors of an
    # enclosing graph (``grad(lambda x: grad(lambda y: x * y * y)(y0))``); ``_finish`` cuts
    # the results loose afterwards if nothing outside was reached.
    return args, entered, recording


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
        args2, entered, nested = _enter(args, nums, "grad")
        with enable_grad():
            with _running(entered):
                raw = func(*args2, **kwargs)
                out, aux = _split_aux(raw, has_aux, "grad")
                out = _scalar(out, "grad")
                gs = _gradients(out, entered, nested)
                value, *gs = _finish([out, *gs], entered, nested)
        return ((value, aux) if has_aux else value), _pack(gs, argnums)

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
    ``v^T J``, one gradient per primal: the backward pass as a function.

    Example:
        >>> import chainrule as cr
        >>> out, back = vjp(lambda x: x * x, cr.tensor([1.0, 2.0]))
        >>> back(cr.ones(2))
        (tensor([2., 4.]),)
    """
    nums = tuple(range(len(primals)))
    args, entered, nested = _enter(primals, nums, "vjp")
    with enable_grad():
        with _running(entered):
            out = func(*args)
    if not isinstance(out, Tensor):
        raise TypeError(f"vjp: the function must return a Tensor, got {type(out).__name__}")

    def back(cotangent: Any) -> tuple:
        v = cotangent if isinstance(cotangent, Tensor) else tensor(cotangent, dtype=out.dtype)
        if tuple(v.shape) != tuple(out.shape):
            raise ValueError(
                f"vjp: cotangent has shape {tuple(v.shape)} but the output has shape "
                f"{tuple(out.shape)}"
            )
        create = nested or v.requires_grad
        with enable_grad():
            return tuple(_finish(_gradients(out, entered, create, v), entered, create))

    (value,) = _finish([out], entered, nested)
    return value, back


def jacrev(func: Callable[..., Any], argnums: int | Sequence[int] = 0) -> Callable[..., Any]:
    """The Jacobian of ``func`` by reverse mode: one backward pass per output element. The
    result has shape ``output.shape + input.shape`` (a tuple of them for several argnums).

    Example:
        >>> import chainrule as cr
        >>> jacrev(lambda x: x * x)(cr.tensor([1.0, 2.0]))
        tensor([[2., 0.],
                [0., 4.]])
    """

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nums = _argnums(argnums, len(args), "jacrev")
        args2, entered, nested = _enter(args, nums, "jacrev")
        with enable_grad():
            with _running(entered):
                out = func(*args2, **kwargs)
            if not isinstance(out, Tensor):
                raise TypeError(
                    f"jacrev: the function must return a Tensor, got {type(out).__name__}"
                )
            flat = functions.reshape(out, (-1,))
            rows: list[list] = [[] for _ in entered]
            for k in range(flat.shape[0]):
                for r, g in zip(rows, _gradients(flat[k], entered, nested)):
                    r.append(g)
            jacs = [
                functions.reshape(functions.stack(r) if r else zeros((0, *a.shape), dtype=a.dtype),
                          tuple(out.shape) + tuple(a.shape))
                for r, a in zip(rows, entered)
            ]  # fmt: skip
        return _pack(_finish(jacs, entered, nested), argnums)

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
