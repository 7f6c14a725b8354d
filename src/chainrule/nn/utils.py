"""Helpers on parameters: flatten them into one vector and back, call a module with other
parameters, and clip gradients (``torch.nn.utils`` names).

Seed 002 looks at the cost as a function ``C: R^(#W + #b) -> R`` of all weights and biases;
:func:`parameters_to_vector` and :func:`functional_call` make that function concrete.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from ..backend import array_module, to_device
from ..functions import cat
from ..tensor import Tensor

__all__ = [
    "parameters_to_vector", "vector_to_parameters", "functional_call", "get_total_norm",
    "clip_grads_with_norm_", "clip_grad_norm_", "clip_grad_value_",
]  # fmt: skip


def _as_list(parameters: Any) -> list:
    if isinstance(parameters, Tensor):
        return [parameters]
    return list(parameters)


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """All ``parameters`` flattened and joined into one vector (differentiable: gradients
    flow back to each parameter).

    Example:
        >>> import chainrule as cr
        >>> layer = cr.nn.Linear(3, 2)          # #W = 6, #b = 2
        >>> parameters_to_vector(layer.parameters()).shape
        (8,)
    """
    params = _as_list(parameters)
    if not params:
        raise ValueError("parameters_to_vector: got no parameters")
    device = params[0].device
    for i, p in enumerate(params):
        if not isinstance(p, Tensor):
            raise TypeError(f"parameters_to_vector: expected Tensors, got {type(p).__name__}")
        if p.device != device:
            raise ValueError(
                f"parameters_to_vector: found parameters on {device} and {p.device} (item {i})"
            )
    return cat([p.reshape(-1) for p in params])


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Copy consecutive slices of ``vec`` into ``parameters`` (the inverse of
    :func:`parameters_to_vector`). It writes the data, so no gradient flows through it, as in
    PyTorch; use :func:`functional_call` for a differentiable ``C(theta)``.

    Example:
        >>> import chainrule as cr
        >>> layer = cr.nn.Linear(2, 1)
        >>> vector_to_parameters(cr.tensor([1.0, 2.0, 3.0]), layer.parameters())
        >>> layer.weight.tolist(), layer.bias.tolist()
        ([[1.0, 2.0]], [3.0])
    """
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected chainrule.Tensor, but got: {type(vec).__name__}")
    if vec.ndim != 1:
        raise ValueError(f"vector_to_parameters: vec must be 1-D, got shape {tuple(vec.shape)}")
    params = _as_list(parameters)
    total = sum(p.numel() for p in params)
    if total != vec.shape[0]:
        raise ValueError(
            f"vector_to_parameters: vec has {vec.shape[0]} elements but the parameters hold {total}"
        )
    pointer = 0
    data = vec._data
    for p in params:
        n = p.numel()
        chunk = to_device(data[pointer : pointer + n], p.device).reshape(p.shape)
        p._mutate(lambda a, chunk=chunk: a.__setitem__(..., chunk))
        pointer += n


def functional_call(
    module: Any,
    parameters_and_buffers: Mapping[str, Tensor],
    args: Any = (),
    kwargs: Mapping[str, Any] | None = None,
    *,
    strict: bool = False,
) -> Any:
    """Call ``module`` with some of its parameters/buffers replaced by the given tensors (by
    dotted name, as in ``state_dict``), then put the originals back. The replacements may be
    results of operations, so gradients flow to whatever they were computed from.

    Example (seed 002's cost as a function of one vector ``theta`` in R^(#W + #b)):
        >>> import math, chainrule as cr
        >>> from chainrule import nn
        >>> net = nn.Sequential(nn.Linear(2, 2), nn.Sigmoid(), nn.Linear(2, 1))
        >>> x, y = cr.tensor([[0.5, -1.0]]), cr.tensor([[1.0]])
        >>> names = [n for n, _ in net.named_parameters()]
        >>> shapes = [p.shape for p in net.parameters()]
        >>> def C(theta):
        ...     pieces, i = {}, 0
        ...     for name, shape in zip(names, shapes):
        ...         n = math.prod(shape)
        ...         pieces[name] = theta[i:i + n].reshape(shape); i += n
        ...     return 0.5 * ((functional_call(net, pieces, (x,)) - y) ** 2).sum()
        >>> theta = parameters_to_vector(net.parameters()).detach().requires_grad_()
        >>> C(theta).backward()
        >>> theta.grad.shape                    # dC/dtheta: 6 weights + 3 biases
        (9,)
    """
    kwargs = dict(kwargs or {})
    if not isinstance(args, tuple):
        args = (args,)
    saved: list = []
    known = {n for n, _ in module.named_parameters(remove_duplicate=False)}
    known |= {n for n, _ in module.named_buffers(remove_duplicate=False)}
    if strict:
        missing = sorted(known - set(parameters_and_buffers))
        if missing:
            raise RuntimeError(f"functional_call: missing key(s): {', '.join(missing)}")
    for name in parameters_and_buffers:
        if name not in known:
            raise RuntimeError(
                f"functional_call: {type(module).__name__} has no parameter or buffer {name!r}"
            )
    try:
        for name, value in parameters_and_buffers.items():
            path, _, attr = name.rpartition(".")
            owner = module.get_submodule(path)
            store = owner._parameters if attr in owner._parameters else owner._buffers
            saved.append((store, attr, store[attr]))
            store[attr] = value
        return module(*args, **kwargs)
    finally:
        for store, attr, old in reversed(saved):
            store[attr] = old


def _vector_norm(xp: Any, arr: Any, norm_type: float) -> Any:
    a = xp.abs(arr)
    if norm_type == math.inf:
        return a.max() if a.size else xp.zeros((), a.dtype)
    if norm_type == -math.inf:
        return a.min()
    if norm_type == 0:
        return xp.asarray((a != 0).sum(), dtype=a.dtype)
    if norm_type == 1:
        return a.sum()
    if norm_type == 2:
        return xp.sqrt((a * a).sum())
    return (a**norm_type).sum() ** (1.0 / norm_type)


def get_total_norm(
    tensors: Iterable[Tensor] | Tensor,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach: bool | None = None,
) -> Tensor:
    """The ``norm_type``-norm of all ``tensors`` together, as if joined into one vector.

    Example:
        >>> import chainrule as cr
        >>> get_total_norm([cr.tensor([3.0]), cr.tensor([4.0])])
        tensor(5.)
    """
    ts = [t for t in _as_list(tensors) if t is not None]
    if not ts:
        return Tensor._wrap(np.zeros((), np.float32))
    norm_type = float(norm_type)
    xp = array_module(ts[0]._data)
    norms = [_vector_norm(xp, t._data, norm_type) for t in ts]
    total = _vector_norm(xp, xp.stack([xp.asarray(n, dtype=ts[0].dtype) for n in norms]), norm_type)
    if error_if_nonfinite and not bool(xp.isfinite(total)):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, "
            "so it cannot be clipped. To disable this error and scale the gradients by the "
            "non-finite norm anyway, set `error_if_nonfinite=False`"
        )
    return Tensor._wrap(xp.asarray(total, dtype=ts[0].dtype))


def clip_grads_with_norm_(
    parameters: Iterable[Tensor] | Tensor,
    max_norm: float,
    total_norm: Tensor,
    foreach: bool | None = None,
) -> None:
    """Scale the gradients by ``min(1, max_norm / (total_norm + 1e-6))`` in place.

    Example:
        >>> import chainrule as cr
        >>> p = cr.nn.Parameter(cr.zeros(2)); p.grad = cr.tensor([3.0, 4.0])
        >>> clip_grads_with_norm_([p], 1.0, cr.tensor(5.0)); p.grad
        tensor([0.6, 0.8])
    """
    grads = [p.grad for p in _as_list(parameters) if p.grad is not None]
    if not grads:
        return
    coef = float(max_norm) / (float(total_norm.item()) + 1e-6)
    coef = min(coef, 1.0)
    for g in grads:
        g._mutate(lambda a: a.__imul__(a.dtype.type(coef)))


def clip_grad_norm_(
    parameters: Iterable[Tensor] | Tensor,
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach: bool | None = None,
) -> Tensor:
    """Rescale the gradients in place so that their total norm (of all of them together) is at
    most ``max_norm``; returns the total norm before clipping.

    Example:
        >>> import chainrule as cr
        >>> p = cr.nn.Parameter(cr.zeros(2)); p.grad = cr.tensor([3.0, 4.0])
        >>> clip_grad_norm_([p], max_norm=1.0)
        tensor(5.)
        >>> p.grad
        tensor([0.6, 0.8])
    """
    params = _as_list(parameters)
    grads = [p.grad for p in params if p.grad is not None]
    total = get_total_norm(grads, norm_type, error_if_nonfinite, foreach)
    clip_grads_with_norm_(params, max_norm, total, foreach)
    return total


def clip_grad_value_(
    parameters: Iterable[Tensor] | Tensor, clip_value: float, foreach: bool | None = None
) -> None:
    """Clamp every gradient element to ``[-clip_value, clip_value]`` in place.

    Example:
        >>> import chainrule as cr
        >>> p = cr.nn.Parameter(cr.zeros(3)); p.grad = cr.tensor([-5.0, 0.5, 5.0])
        >>> clip_grad_value_(p, 1.0); p.grad
        tensor([-1. ,  0.5,  1. ])
    """
    clip_value = float(clip_value)
    for p in _as_list(parameters):
        if p.grad is not None:
            xp = array_module(p.grad._data)
            p.grad._mutate(lambda a, xp=xp: xp.clip(a, -clip_value, clip_value, out=a))
