"""Function transforms, as in JAX and ``torch.func``: ``grad(f)`` *is* the derivative of ``f``.

Each transform takes a function of tensors and returns a new function; they compose, so
``grad(grad(f))`` is the second derivative and ``hessian(f)`` is ``jacrev(jacrev(f))``. They run
on the same engine as ``backward``: an input is entered into the graph as a fresh node, the
function runs, and :func:`chainrule.autograd.grad` reads the gradient off, keeping the graph
(``create_graph``) whenever an enclosing transform will differentiate the result again. No
``.grad`` is touched.

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

from . import functions
from .autograd import engine
from .autograd.grad_mode import STATE, enable_grad
from .creation import zeros
from .ops.elementwise import clone
from .tensor import Tensor, tensor, zeros_like

__all__ = ["grad", "value_and_grad", "vjp", "jvp", "jacrev", "jacobian", "hessian"]


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


def jvp(func: Callable[..., Any], primals: Sequence[Any], tangents: Sequence[Any]) -> tuple:
    """``(func(*primals), J @ tangents)``: a forward-mode derivative, computed as the derivative
    of a vector-Jacobian product with respect to its cotangent (the double-vjp trick).

    Example:
        >>> import chainrule as cr
        >>> jvp(lambda x: x ** 2, (cr.tensor([3.0]),), (cr.tensor([1.0]),))
        (tensor([9.]), tensor([6.]))
    """
    primals, tangents = tuple(primals), tuple(tangents)
    if len(primals) != len(tangents):
        raise ValueError(f"jvp: got {len(primals)} primals but {len(tangents)} tangents")
    for i, (p, t) in enumerate(zip(primals, tangents)):
        if tuple(getattr(p, "shape", ())) != tuple(getattr(t, "shape", ())):
            raise ValueError(
                f"jvp: tangent {i} has shape {tuple(t.shape)} but its primal has shape "
                f"{tuple(p.shape)}"
            )
    args, entered, nested = _enter(primals, tuple(range(len(primals))), "jvp")
    with enable_grad():
        with _running(entered):
            out = func(*args)
        if not isinstance(out, Tensor):
            raise TypeError(f"jvp: the function must return a Tensor, got {type(out).__name__}")
        u = zeros_like(out).requires_grad_()
        _mark_made(u)
        gs = _gradients(out, entered, True, u)  # J^T u, linear in u
        inner = sum(((g * t).sum() for g, t in zip(gs, tangents)), zeros_like(out).sum())
        if not inner.requires_grad:
            tangent_out = zeros_like(out)
        else:
            (tangent_out,) = engine.grad(
                inner, [u], retain_graph=nested, create_graph=nested, allow_unused=True
            )
            tangent_out = zeros_like(out) if tangent_out is None else tangent_out
    out, tangent_out = _finish([out, tangent_out], entered, nested)
    return out, tangent_out


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
