"""Weight initialization, in place, as ``torch.nn.init``: xavier (Glorot) and kaiming (He),
uniform and normal, constants, ``eye_`` and ``orthogonal_``.

Samples come from the global generator (:func:`chainrule.manual_seed` makes them reproducible)
or from ``generator``. Every function writes into the tensor's array, records no graph and
returns the tensor.
"""

from __future__ import annotations

import math
import numbers
import warnings
from typing import Any

import numpy as np

from ..backend import to_device
from ..random import Generator, default_rng
from ..tensor import Tensor

__all__ = [
    "calculate_gain", "uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_",
    "eye_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_",
    "orthogonal_",
]  # fmt: skip


def _rng(generator: Generator | None) -> np.random.Generator:
    return generator.numpy if generator is not None else default_rng()


def _write(tensor: Tensor, values: Any) -> Tensor:
    arr = np.asarray(values).astype(tensor.dtype, copy=False)
    tensor._mutate(lambda a: a.__setitem__(..., to_device(arr, tensor.device)))
    return tensor


def _nonempty(tensor: Tensor) -> bool:
    if tensor.numel() == 0:
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=3)
        return False
    return True


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for ``nonlinearity``: the factor that keeps activations' variance
    steady through layers (1 for linear/sigmoid, 5/3 for tanh, sqrt(2) for relu,
    sqrt(2 / (1 + slope^2)) for leaky_relu, 3/4 for selu).

    Example:
        >>> round(calculate_gain("relu"), 4), round(calculate_gain("leaky_relu", 0.2), 4)
        (1.4142, 1.3868)
    """
    linear = [
        "linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
        "conv_transpose3d",
    ]  # fmt: skip
    if nonlinearity in linear or nonlinearity == "sigmoid":
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, numbers.Number) and not isinstance(param, bool):
            slope = float(param)  # type: ignore[arg-type]
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def _calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    """``(fan_in, fan_out)``: inputs and outputs per unit, counting the kernel's receptive field.

    A Linear weight ``(out, in)`` has fan_in ``in``; a Conv2d weight ``(out, in, kh, kw)`` has
    fan_in ``in * kh * kw``.

    Example:
        >>> import chainrule as cr
        >>> _calculate_fan_in_and_fan_out(cr.zeros(16, 3, 5, 5))
        (75, 400)
    """
    if tensor.ndim < 2:
        raise ValueError(
            "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions "
            f"(got shape {tuple(tensor.shape)})"
        )
    receptive = int(np.prod(tensor.shape[2:], dtype=np.int64)) if tensor.ndim > 2 else 1
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _calculate_correct_fan(tensor: Tensor, mode: str) -> int:
    mode = mode.lower()
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"Mode {mode} not supported, please use one of fan_in, fan_out")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def uniform_(
    tensor: Tensor, a: float = 0.0, b: float = 1.0, generator: Generator | None = None
) -> Tensor:
    """Fill with samples from U(a, b).

    Example:
        >>> import chainrule as cr
        >>> w = uniform_(cr.empty(1000), -1, 1)
        >>> bool((w >= -1).all() and (w < 1).all())
        True
    """
    if _nonempty(tensor):
        _write(tensor, _rng(generator).uniform(a, b, tensor.shape))
    return tensor


def normal_(
    tensor: Tensor, mean: float = 0.0, std: float = 1.0, generator: Generator | None = None
) -> Tensor:
    """Fill with samples from N(mean, std^2).

    Example:
        >>> import chainrule as cr
        >>> w = normal_(cr.empty(10000), 3.0, 0.5)
        >>> abs(w.mean().item() - 3.0) < 0.05
        True
    """
    if _nonempty(tensor):
        _write(tensor, _rng(generator).normal(mean, std, tensor.shape))
    return tensor


def trunc_normal_(
    tensor: Tensor,
    mean: float = 0.0,
    std: float = 1.0,
    a: float = -2.0,
    b: float = 2.0,
    generator: Generator | None = None,
) -> Tensor:
    """Fill with samples from N(mean, std^2) restricted to [a, b] (redrawn until inside).

    Example:
        >>> import chainrule as cr
        >>> w = trunc_normal_(cr.empty(1000), std=1.0, a=-0.5, b=0.5)
        >>> bool((w.abs() <= 0.5).all())
        True
    """
    if a >= b:
        raise ValueError(f"trunc_normal_: need a < b, got a={a}, b={b}")
    if not _nonempty(tensor):
        return tensor
    rng = _rng(generator)
    out = rng.normal(mean, std, tensor.shape)
    bad = (out < a) | (out > b)
    for _ in range(1000):
        if not bad.any():
            break
        out[bad] = rng.normal(mean, std, int(bad.sum()))
        bad = (out < a) | (out > b)
    if bad.any():  # [a, b] lies far in a tail: fall back to uniform there
        out[bad] = rng.uniform(a, b, int(bad.sum()))
    return _write(tensor, out)


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill with ``val``.

    Example:
        >>> import chainrule as cr
        >>> constant_(cr.empty(2), 0.3)
        tensor([0.3, 0.3])
    """
    if _nonempty(tensor):
        tensor._mutate(lambda a: a.fill(val))
    return tensor


def ones_(tensor: Tensor) -> Tensor:
    """Fill with ones.

    Example:
        >>> import chainrule as cr
        >>> ones_(cr.empty(2))
        tensor([1., 1.])
    """
    return constant_(tensor, 1.0)


def zeros_(tensor: Tensor) -> Tensor:
    """Fill with zeros.

    Example:
        >>> import chainrule as cr
        >>> zeros_(cr.ones(2))
        tensor([0., 0.])
    """
    return constant_(tensor, 0.0)


def eye_(tensor: Tensor) -> Tensor:
    """Fill a 2-D tensor with the identity matrix (ones on the diagonal).

    Example:
        >>> import chainrule as cr
        >>> eye_(cr.empty(2, 3))
        tensor([[1., 0., 0.],
                [0., 1., 0.]])
    """
    if tensor.ndim != 2:
        raise ValueError(f"eye_: only tensors with 2 dimensions are supported, got {tensor.shape}")
    return _write(tensor, np.eye(*tensor.shape))


def orthogonal_(tensor: Tensor, gain: float = 1.0, generator: Generator | None = None) -> Tensor:
    """Fill with a (semi-)orthogonal matrix (Saxe et al. 2013); dims after the first are
    flattened.

    Example:
        >>> import chainrule as cr
        >>> w = orthogonal_(cr.empty(3, 3, dtype=cr.float64))
        >>> cr.allclose(w @ w.T, cr.eye(3, dtype=cr.float64))
        True
    """
    if tensor.ndim < 2:
        raise ValueError(
            f"orthogonal_: only tensors with 2 or more dimensions are supported, got {tensor.shape}"
        )
    if not _nonempty(tensor):
        return tensor
    rows = tensor.shape[0]
    cols = tensor.numel() // rows
    flat = _rng(generator).standard_normal((rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q = q * np.sign(np.diag(r))  # make the decomposition unique, so q is uniformly distributed
    if rows < cols:
        q = q.T
    return _write(tensor, gain * q.reshape(tensor.shape))


def xavier_uniform_(
    tensor: Tensor, gain: float = 1.0, generator: Generator | None = None
) -> Tensor:
    """Glorot uniform: U(-a, a) with ``a = gain * sqrt(6 / (fan_in + fan_out))``.

    Example:
        >>> import chainrule as cr
        >>> w = xavier_uniform_(cr.empty(30, 20))
        >>> bool((w.abs() <= (6 / 50) ** 0.5).all())
        True
    """
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    a = math.sqrt(3.0) * std
    return uniform_(tensor, -a, a, generator)


def xavier_normal_(tensor: Tensor, gain: float = 1.0, generator: Generator | None = None) -> Tensor:
    """Glorot normal: N(0, std^2) with ``std = gain * sqrt(2 / (fan_in + fan_out))``.

    Example:
        >>> import chainrule as cr
        >>> w = xavier_normal_(cr.empty(200, 200))
        >>> abs(w.std().item() - (2 / 400) ** 0.5) < 0.005
        True
    """
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return normal_(tensor, 0.0, std, generator)


def kaiming_uniform_(
    tensor: Tensor,
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator: Generator | None = None,
) -> Tensor:
    """He uniform: U(-bound, bound) with ``bound = gain * sqrt(3 / fan)``, where ``gain`` is
    ``calculate_gain(nonlinearity, a)`` and ``fan`` the fan_in or fan_out (``mode``).

    Example:
        >>> import chainrule as cr
        >>> w = kaiming_uniform_(cr.empty(50, 24), nonlinearity="relu")
        >>> bool((w.abs() <= (6 / 24) ** 0.5).all())
        True
    """
    if tensor.numel() == 0:
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=2)
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    gain = calculate_gain(nonlinearity, a)
    bound = math.sqrt(3.0) * gain / math.sqrt(fan)
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(
    tensor: Tensor,
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator: Generator | None = None,
) -> Tensor:
    """He normal: N(0, std^2) with ``std = gain / sqrt(fan)``.

    Example:
        >>> import chainrule as cr
        >>> w = kaiming_normal_(cr.empty(400, 100), mode="fan_in", nonlinearity="relu")
        >>> abs(w.std().item() - (2 / 100) ** 0.5) < 0.005
        True
    """
    if tensor.numel() == 0:
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=2)
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    std = calculate_gain(nonlinearity, a) / math.sqrt(fan)
    return normal_(tensor, 0.0, std, generator)
