"""``inference_mode``: torch's faster ``no_grad`` for evaluation, here the same as ``no_grad``."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from .autograd.grad_mode import no_grad


class inference_mode:  # noqa: N801 - PyTorch's name
    """Context manager and decorator: within it no graph is recorded, as :class:`no_grad`.
    ``inference_mode(False)`` does nothing. Usable bare (``@inference_mode``) or called
    (``@inference_mode()``), as torch.

    torch additionally marks the tensors made inside as *inference tensors* that autograd
    later refuses to save; chainrule does not (they are ordinary tensors that do not require
    grad), so code that works under torch works here.

    Example:
        >>> import chainrule as cr
        >>> w = cr.tensor([1.0], requires_grad=True)
        >>> with cr.inference_mode():
        ...     (w * 2).requires_grad
        False
        >>> @cr.inference_mode
        ... def f(x):
        ...     return cr.is_grad_enabled()
        >>> f(w)
        False
    """

    def __new__(cls, mode: Any = True) -> Any:
        if isinstance(mode, bool):
            return super().__new__(cls)
        if not callable(mode):
            raise TypeError(f"inference_mode: mode must be a bool, got {type(mode).__name__}")
        return cls()(mode)  # bare decorator: @inference_mode

    def __init__(self, mode: bool = True) -> None:
        self.mode = mode
        self._ctx: no_grad | None = None

    def __enter__(self) -> None:
        if self.mode:
            self._ctx = no_grad()
            self._ctx.__enter__()

    def __exit__(self, *exc: Any) -> None:
        if self._ctx is not None:
            self._ctx.__exit__(*exc)
            self._ctx = None

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with inference_mode(mode):
                return fn(*args, **kwargs)

        return wrapper

    def clone(self) -> inference_mode:
        """A fresh context with the same mode (torch's API)."""
        return inference_mode(self.mode)
