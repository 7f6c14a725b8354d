"""``Optimizer``: the base class that holds parameter groups and per-parameter state.

:meth:`Optimizer.step` is a template, as PyTorch's optimizers are split: it runs the closure
(under ``enable_grad``), then for each parameter that has a gradient calls the optimizer's short
``_update(w, g, state, group)``. That reads the parameter's array ``w`` and gradient array ``g``
(NumPy or CuPy, through :func:`chainrule.backend.array_module`; neither is ever written, since a
gradient array may be shared), updates the parameter's ``state``, and returns the in-place write
that the template applies through ``p._mutate`` -- the one place a parameter's memory changes,
which bumps its version. The helpers below are shared, so each piece of update math has one
implementation: the gradient with weight decay and ``maximize`` (:func:`_effective_grad`, and
:func:`_decayed_grad` for the Adam family's optional decoupled decay), running averages
(:func:`_lerp_`, :func:`_ema_sq_`), bias corrections (:func:`_bias_correction`) and the write
itself (:func:`_writer`).
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from ..autograd.grad_mode import enable_grad
from ..backend import array_module, device_of, to_device
from ..ops import jit
from ..tensor import Tensor

ParamsT = Iterable[Tensor] | Iterable[dict[str, Any]] | Iterable[tuple[str, Tensor]]
Write = Callable[[Any], None]


def _check_non_negative(name: str, value: float) -> None:
    """Raise PyTorch's ``ValueError`` (``Invalid <name>: <value>``) for a negative setting."""
    if not 0.0 <= value:
        raise ValueError(f"Invalid {name}: {value}")


def _check_betas(betas: tuple[float, float]) -> None:
    """Raise PyTorch's ``ValueError`` unless both betas lie in ``[0, 1)``."""
    for i, beta in enumerate(betas[:2]):
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"Invalid beta parameter at index {i}: {beta}")


def _adam_defaults(
    lr: float, betas: tuple[float, float], eps: float, weight_decay: float, **options: Any
) -> dict[str, Any]:
    """The Adam family's checked defaults: ``lr``, ``betas``, ``eps`` and ``weight_decay``
    (each refused with PyTorch's ``ValueError`` if out of range), then ``options`` in order.

    Example:
        >>> _adam_defaults(1e-3, (0.9, 0.999), 1e-8, 0, maximize=False)["betas"]
        (0.9, 0.999)
    """
    _check_non_negative("learning rate", lr)
    _check_non_negative("epsilon value", eps)
    _check_betas(betas)
    _check_non_negative("weight_decay value", weight_decay)
    base = {"lr": lr, "betas": (float(betas[0]), float(betas[1])), "eps": eps}
    return {**base, "weight_decay": weight_decay, **options}


def _effective_grad(xp: Any, p: Any, g: Any, weight_decay: float, maximize: bool) -> Any:
    """``(-g if maximize else g) + weight_decay * p``; ``g`` itself is returned untouched (never
    written) when there is nothing to add, otherwise a new array."""
    if weight_decay != 0:
        d = xp.multiply(p, weight_decay)
        if maximize:
            d -= g
        else:
            d += g
        return d
    return -g if maximize else g


def _decayed_grad(xp: Any, p: Any, g: Any, group: dict[str, Any]) -> tuple[Any, float | None]:
    """The Adam family's weight decay: ``(gradient, shrink)``. With ``decoupled_weight_decay``
    (AdamW, NAdamW, RAdamW) the gradient is only negated for ``maximize`` and the weights are
    to be multiplied by ``shrink = 1 - lr * weight_decay``; otherwise the decay is added to the
    gradient (:func:`_effective_grad`) and ``shrink`` is ``None``."""
    weight_decay = group["weight_decay"]
    if weight_decay != 0 and group.get("decoupled_weight_decay", False):
        return (-g if group["maximize"] else g), 1 - group["lr"] * weight_decay
    return _effective_grad(xp, p, g, weight_decay, group["maximize"]), None


def _lerp_(xp: Any, start: Any, end: Any, weight: float, tmp: Any) -> None:
    """``start += weight * (end - start)`` in place, with PyTorch's ``lerp_`` rounding; ``tmp`` is
    a scratch array of the same shape."""
    xp.subtract(end, start, out=tmp)
    if abs(weight) < 0.5:
        tmp *= weight
        start += tmp
    else:
        tmp *= 1 - weight
        xp.subtract(end, tmp, out=start)


def _ema_sq_(xp: Any, avg: Any, g: Any, decay: float, tmp: Any) -> None:
    """``avg = decay * avg + (1 - decay) * g * g`` in place (PyTorch's
    ``avg.mul_(decay).addcmul_(g, g, value=1 - decay)``); ``tmp`` is a scratch array."""
    avg *= decay
    xp.multiply(g, 1 - decay, out=tmp)
    tmp *= g
    avg += tmp


def _bias_correction(beta: float, step: int) -> float:
    """``1 - beta**step``: how much a running average started at zero falls short at ``step``."""
    return 1 - beta**step


def _writer(*deltas: Any, shrink: float | None = None) -> Write:
    """The in-place write of one update: ``w *= shrink`` (when given), then ``w += delta`` for
    each delta in turn (PyTorch adds some updates in two steps, and so rounds twice)."""

    def write(w: Any) -> None:
        if shrink is not None:
            w *= shrink
        for delta in deltas:
            w += delta

    return write


def _axpy_writer(d: Any, a: float) -> Write:
    """The in-place write ``w += a * d`` (``w.add_(d, alpha=a)``) of an update ``d`` that is
    not ours to scale in place (the gradient, a momentum buffer): one pass and no temporary
    where the float32 kernel runs, else NumPy's product and sum, rounded the same way."""

    def write(w: Any) -> None:
        k = jit.kernel("axpy", w, d)
        if k is not None and w.shape == d.shape and w.flags.c_contiguous and d.flags.c_contiguous:
            k(w.reshape(-1), d.reshape(-1), np.float32(a))
        else:
            w += array_module(w).multiply(d, a)

    return write


def _zeros_state(w: Any) -> Tensor:
    """A fresh state buffer of zeros shaped (and typed) as the parameter array ``w``."""
    return Tensor._wrap(array_module(w).zeros_like(w))


class Optimizer:
    """Base class of all optimizers: parameter groups, per-parameter state, ``zero_grad``.

    ``params`` is an iterable of tensors, of ``(name, tensor)`` pairs (as from
    ``named_parameters()``), or of dicts, each one parameter group with its own options
    (``{"params": [...], "lr": 0.1}``); options a group leaves out come from ``defaults``.

    Example:
        >>> import chainrule as cr
        >>> w = cr.tensor([1.0, 2.0], requires_grad=True)
        >>> b = cr.tensor([0.0], requires_grad=True)
        >>> opt = cr.optim.SGD([{"params": [w]}, {"params": [b], "lr": 0.5}], lr=0.1)
        >>> [g["lr"] for g in opt.param_groups]
        [0.1, 0.5]
        >>> (w * w).sum().backward()
        >>> opt.step(); [round(v, 4) for v in w.tolist()]
        [0.8, 1.6]
        >>> opt.zero_grad(); w.grad is None
        True
    """

    def __init__(self, params: ParamsT, defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        if isinstance(params, Tensor):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Tensors or "
                f"dicts, but got {type(params).__name__}"
            )
        self.state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for param_group in param_groups:
            self.add_param_group(param_group)

    def __repr__(self) -> str:
        out = self.__class__.__name__ + " ("
        for i, group in enumerate(self.param_groups):
            out += f"\nParameter Group {i}\n"
            for key in sorted(group.keys()):
                if key != "params":
                    out += f"    {key}: {group[key]}\n"
        return out + ")"

    def __getstate__(self) -> dict[str, Any]:
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    # ----- parameter groups -------------------------------------------------------------
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a parameter group (a dict with ``"params"`` and any per-group options).

        Useful when fine-tuning: frozen layers can be made trainable and added as training goes.

        Example:
            >>> import chainrule as cr
            >>> opt = cr.optim.SGD([cr.tensor([1.0], requires_grad=True)], lr=0.1)
            >>> opt.add_param_group({"params": [cr.tensor([2.0], requires_grad=True)], "lr": 0.01})
            >>> [g["lr"] for g in opt.param_groups]
            [0.1, 0.01]
        """
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, but the "
                "ordering of tensors in sets will change between runs. Please use a list instead."
            )
        else:
            params = list(params)
        tensors: list[Tensor] = []
        names: list[str] = []
        for p in params:
            if isinstance(p, tuple):
                names.append(p[0])
                tensors.append(p[1])
            else:
                tensors.append(p)
        param_group["params"] = tensors
        if names:
            if len(names) != len(tensors):
                raise ValueError(
                    "all optimizer params should be with/without names. Some param names are "
                    "missing"
                )
            param_group["param_names"] = names
        for p in tensors:
            if not isinstance(p, Tensor):
                raise TypeError(
                    "optimizer can only optimize Tensors, but one of the params is "
                    + type(p).__name__
                )
            if not (p.is_leaf or p.retains_grad):
                raise ValueError("can't optimize a non-leaf Tensor")
        for name, default in self.defaults.items():
            param_group.setdefault(name, default)
        ids = [id(p) for p in tensors]
        if len(ids) != len(set(ids)):
            warnings.warn(
                "optimizer contains a parameter group with duplicate parameters; "
                "in future, this will cause an error",
                stacklevel=3,
            )
        seen: set[int] = set()
        for group in self.param_groups:
            seen.update(id(p) for p in group["params"])
            if ("param_names" in param_group) != ("param_names" in group):
                which = "with names" if "param_names" in param_group else "without names"
                raise ValueError(
                    "all optimizer param groups should be with/without names. "
                    f"cannot add param group {which} to the optimizer"
                )
        if not seen.isdisjoint(ids):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    # ----- gradients and steps ----------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all optimized tensors.

        With ``set_to_none=True`` (the default) each ``.grad`` becomes ``None``: less memory, and a
        parameter that then gets no gradient is skipped by ``step``. Otherwise each ``.grad``
        keeps its tensor, now holding zeros (a fresh array: a gradient array may be shared).

        Example:
            >>> import chainrule as cr
            >>> w = cr.tensor([1.0, 2.0], requires_grad=True)
            >>> opt = cr.optim.SGD([w], lr=0.1)
            >>> (w * w).sum().backward()
            >>> opt.zero_grad(set_to_none=False); w.grad
            tensor([0., 0.])
        """
        for group in self.param_groups:
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    if g._node is not None:
                        g.detach_()
                    g._requires_grad = False
                    g.data = array_module(g._data).zeros_like(g._data)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update the parameters once; ``closure`` (if given) re-evaluates and returns the loss.

        The closure runs with gradients enabled (even inside ``no_grad``); then every parameter
        whose ``.grad`` is not ``None`` takes its update, group by group.

        Example:
            >>> import chainrule as cr
            >>> w = cr.tensor([1.0], requires_grad=True)
            >>> opt = cr.optim.SGD([w], lr=0.25)
            >>> def closure():
            ...     opt.zero_grad()
            ...     loss = (w * w).sum()
            ...     loss.backward()
            ...     return loss
            >>> opt.step(closure).item(), w.item()
            (1.0, 0.5)
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        state = self.state
        for group in self.param_groups:
            for p in group["params"]:
                grad = p.grad
                if grad is None:
                    continue
                p._mutate(self._update(p._data, grad._data, state[p], group))
        return loss

    def _update(self, w: Any, g: Any, state: dict[str, Any], group: dict[str, Any]) -> Write:
        """One parameter's update: read its array ``w`` and gradient array ``g`` (never write
        them), update ``state`` (creating it when empty; its tensors are written through their
        own ``_mutate``), and return the in-place write of the parameter (see :func:`_writer`),
        which :meth:`step` applies through ``p._mutate``.

        Example:
            >>> import chainrule as cr
            >>> from chainrule.backend import array_module
            >>> from chainrule.optim.optimizer import Optimizer, _writer
            >>> class SignSGD(Optimizer):
            ...     def __init__(self, params, lr=0.5):
            ...         super().__init__(params, {"lr": lr})
            ...     def _update(self, w, g, state, group):
            ...         return _writer(array_module(g).sign(g) * -group["lr"])
            >>> w = cr.tensor([1.0, -2.0], requires_grad=True)
            >>> opt = SignSGD([w])
            >>> (w * w).sum().backward(); opt.step(); w.tolist(), w._version
            ([0.5, -1.5], 1)
        """
        raise NotImplementedError(
            f"{type(self).__name__} must implement _update (or override step)"
        )

    # ----- checkpoints ------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The optimizer's state in PyTorch's layout: ``{"state": ..., "param_groups": ...}``.

        ``state`` maps a parameter's index (counting through the groups in order) to its state
        (tensors, which are copies, and numbers such as ``step``); each entry of
        ``param_groups`` holds the group's options and its ``params`` as those indices. The
        parameters themselves are not saved.

        Example:
            >>> import chainrule as cr
            >>> w = cr.tensor([1.0, 2.0], requires_grad=True)
            >>> opt = cr.optim.SGD([w], lr=0.1, momentum=0.9)
            >>> (w * w).sum().backward(); opt.step()
            >>> sd = opt.state_dict()
            >>> sd["state"]
            {0: {'momentum_buffer': tensor([2., 4.])}}
            >>> sd["param_groups"][0]["params"], sd["param_groups"][0]["momentum"]
            ([0], 0.9)
        """
        index: dict[int, int] = {}
        groups = []
        start = 0
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for i, p in enumerate(group["params"], start):
                index.setdefault(id(p), i)
            packed["params"] = [index[id(p)] for p in group["params"]]
            start += len(packed["params"])
            groups.append(packed)
        state = {
            (index[id(k)] if isinstance(k, Tensor) else k): _copy_state(v)
            for k, v in self.state.items()
        }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state from :meth:`state_dict` (parameters are matched by their order).

        Tensors in the state are copied, cast to each parameter's float dtype and moved to its
        device. Load the optimizer after creating any LR scheduler, whose creation resets the
        learning rates.

        Example:
            >>> import chainrule as cr
            >>> w = cr.tensor([1.0, 2.0], requires_grad=True)
            >>> opt = cr.optim.Adam([w], lr=0.1)
            >>> (w * w).sum().backward(); opt.step()
            >>> opt2 = cr.optim.Adam([w], lr=0.5)
            >>> opt2.load_state_dict(opt.state_dict())
            >>> opt2.param_groups[0]["lr"], opt2.state[w]["step"]
            (0.1, 1)
        """
        groups = self.param_groups
        saved_groups = [dict(g) for g in state_dict["param_groups"]]
        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        for g, s in zip(groups, saved_groups):
            if len(g["params"]) != len(s["params"]):
                raise ValueError(
                    "loaded state dict contains a parameter group that doesn't match the size "
                    "of optimizer's group"
                )
        id_map = {
            saved_id: p
            for g, s in zip(groups, saved_groups)
            for saved_id, p in zip(s["params"], g["params"])
        }
        state: defaultdict[Any, dict[str, Any]] = defaultdict(dict)
        for k, v in state_dict["state"].items():
            key = int(k) if isinstance(k, str) and k.isdigit() else k
            if key in id_map:
                param = id_map[key]
                state[param] = {name: _cast(param, name, value) for name, value in v.items()}
            else:
                state[key] = v
        new_groups = []
        for g, s in zip(groups, saved_groups):
            s["params"] = g["params"]
            if "param_names" in g and "param_names" not in s:
                s["param_names"] = g["param_names"]
            if isinstance(s.get("betas"), list):
                s["betas"] = tuple(s["betas"])
            new_groups.append(s)
        self.__setstate__({"state": state, "param_groups": new_groups})


def _copy_state(value: Any) -> Any:
    if isinstance(value, Tensor):
        return Tensor._wrap(value._data.copy())
    if isinstance(value, dict):
        return {k: _copy_state(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_copy_state(v) for v in value)
    return value


def _cast(param: Tensor, name: str, value: Any) -> Any:
    """A private copy of one loaded state value, on ``param``'s device and float dtype."""
    if name == "step":
        if isinstance(value, Tensor):
            value = value.item()
        return int(value) if float(value).is_integer() else float(value)
    if isinstance(value, (list, tuple)):  # e.g. LBFGS's history of directions
        return type(value)(_cast(param, "", v) for v in value)
    if isinstance(value, Tensor) or hasattr(value, "__array__"):
        arr = value._data if isinstance(value, Tensor) else value
        arr = to_device(arr, device_of(param._data))
        xp = array_module(arr)
        dtype = param._data.dtype if param._data.dtype.kind == "f" else None
        return Tensor._wrap(xp.array(arr, dtype=dtype, copy=True))
    return value
