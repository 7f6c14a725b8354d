"""``gradcheck`` and ``gradgradcheck``: autograd's Jacobian against float64 central differences."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..tensor import Tensor
from .engine import grad


class GradcheckError(AssertionError):
    """Raised when analytical and numerical derivatives disagree; says where."""


def _outputs(fn: Callable, inputs: Sequence[Any]) -> list:
    out = fn(*inputs)
    outs = [out] if isinstance(out, Tensor) else list(out)
    return outs


def _numerical(fn: Callable, inputs: Sequence[Any], i: int, eps: float) -> list:
    x = inputs[i]
    flat = x._data.reshape(-1)
    cols = []
    for j in range(flat.size):
        orig = flat[j].copy()
        flat[j] = orig + eps
        plus = [o._data.astype(np.float64).reshape(-1).copy() for o in _outputs(fn, inputs)]
        flat[j] = orig - eps
        minus = [o._data.astype(np.float64).reshape(-1).copy() for o in _outputs(fn, inputs)]
        flat[j] = orig
        cols.append([(p - m) / (2 * eps) for p, m in zip(plus, minus)])
    # jac[k][out_elem, in_elem] for output k
    return [
        np.stack([c[k] for c in cols], axis=1) if cols else None
        for k in range(len(cols[0]) if cols else 0)
    ]


def gradcheck(
    fn: Callable,
    inputs: Any,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
) -> bool:
    """Check ``fn``'s gradients against central differences in float64.

    Raises :class:`GradcheckError` naming the output, the input and the element that disagree.

    Example:
        >>> import chainrule as cr
        >>> x = cr.tensor([0.5, -1.0], dtype=cr.float64, requires_grad=True)
        >>> gradcheck(lambda t: (t * t.sin()).sum(), (x,))
        True
    """
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    # Fresh contiguous leaves: the function is evaluated many times, an input may sit in a graph
    # of its own (a non-leaf), and perturbing goes through a flat view of each array.
    inputs = tuple(
        Tensor(x._data.copy(order="C"), requires_grad=x.requires_grad)
        if isinstance(x, Tensor) else x
        for x in inputs
    )  # fmt: skip
    diff = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not diff:
        raise ValueError("gradcheck: expects at least one input tensor to require grad")
    for i in diff:
        if inputs[i].dtype != np.float64:
            raise ValueError(f"gradcheck: input {i} is {inputs[i].dtype}; use float64 inputs")
    outs = _outputs(fn, inputs)
    for i in diff:
        if inputs[i].numel() == 0:  # nothing to perturb
            continue
        numeric = _numerical(fn, inputs, i, eps)
        for k, o in enumerate(outs):
            if not o.requires_grad:
                continue
            analytic = np.zeros((o.numel(), inputs[i].numel()))
            for r in range(o.numel()):
                go = np.zeros(o.shape, dtype=o.dtype)
                go.reshape(-1)[r] = 1
                outs_r = _outputs(fn, inputs)
                (gi,) = grad(outs_r[k], inputs[i], Tensor._wrap(go), allow_unused=True)
                if gi is not None:
                    analytic[r] = gi._data.reshape(-1)
            num = numeric[k]
            bad = ~np.isclose(analytic, num, rtol=rtol, atol=atol)
            if bad.any():
                r, c = np.argwhere(bad)[0]
                msg = (
                    f"gradcheck: Jacobian mismatch for output {k} with respect to input {i}, "
                    f"at output element {int(r)} and input element "
                    f"{tuple(int(v) for v in np.unravel_index(int(c), inputs[i].shape))}: "
                    f"numerical {num[r, c]:.8g} "
                    f"vs analytical {analytic[r, c]:.8g}"
                )
                if raise_exception:
                    raise GradcheckError(msg)
                return False
    return True


def gradgradcheck(
    fn: Callable,
    inputs: Any,
    grad_outputs: Any = None,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
) -> bool:
    """Check second derivatives: the gradient of ``fn`` (built with ``create_graph=True``) is
    itself checked by :func:`gradcheck`.

    Example:
        >>> import chainrule as cr
        >>> x = cr.tensor([0.5, -1.0], dtype=cr.float64, requires_grad=True)
        >>> gradgradcheck(lambda t: (t * t * t).sum(), (x,))
        True
    """
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    diff = [x for x in inputs if isinstance(x, Tensor) and x.requires_grad]
    outs = _outputs(fn, inputs)
    if grad_outputs is None:
        rng = np.random.default_rng(0)
        grad_outputs = [Tensor(rng.standard_normal(o.shape), requires_grad=True) for o in outs]
    gouts = list(grad_outputs)

    def first_grad(*args: Any) -> tuple:
        xs, gs = args[: len(inputs)], args[len(inputs) :]
        ys = _outputs(fn, xs)
        dxs = [x for x in xs if isinstance(x, Tensor) and x.requires_grad]
        res = grad(ys, dxs, list(gs), create_graph=True, allow_unused=True)
        return tuple(r if r is not None else d * 0 for r, d in zip(res, dxs))

    del diff
    return gradcheck(first_grad, tuple(inputs) + tuple(gouts), eps, atol, rtol, raise_exception)
