"""Grad mode: whether ops record the graph. ``no_grad`` turns recording off, ``enable_grad`` on."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class _State:
    enabled = True


STATE = _State()


def is_grad_enabled() -> bool:
    """True while operations are recorded for backward.

    Example:
        >>> with no_grad():
        ...     is_grad_enabled()
        False
    """
    return STATE.enabled


class set_grad_enabled:
    """Context manager (and decorator) that sets grad mode to ``mode``.

    Example:
        >>> with set_grad_enabled(False):
        ...     is_grad_enabled()
        False
    """

    def __init__(self, mode: bool = True) -> None:
        self.mode = bool(mode)
        self.prev = STATE.enabled
        STATE.enabled = self.mode

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc: Any) -> None:
        STATE.enabled = self.prev


class _GradModeContext:
    mode = True

    def __enter__(self) -> None:
        self.prev = STATE.enabled
        STATE.enabled = self.mode

    def __exit__(self, *exc: Any) -> None:
        STATE.enabled = self.prev

    def __call__(self, fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self.__class__():
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


class no_grad(_GradModeContext):
    """Within this block (or decorated function) no graph is recorded.

    Example:
        >>> import chainrule as cr
        >>> w = cr.tensor([1.0], requires_grad=True)
        >>> with cr.no_grad():
        ...     (w * 2).requires_grad
        False
    """

    mode = False


class enable_grad(_GradModeContext):
    """Within this block (or decorated function) the graph is recorded, even inside ``no_grad``.

    Example:
        >>> with no_grad():
        ...     with enable_grad():
        ...         is_grad_enabled()
        True
    """

    mode = True
