"""Engine switches, kept per thread: grad mode (whether ops record the graph), anomaly mode and
whether cheap activations are recomputed in backward.

``no_grad`` turns recording off and ``enable_grad`` on, in the calling thread only, as in PyTorch:
another thread that trains a model at the same time is not affected. ``detect_anomaly`` makes
each node remember the line that created it and backward stop at the first NaN or infinity.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from .node import Node

F = TypeVar("F", bound=Callable[..., Any])


# How many threads have a watch set: while none has, recording a node skips reading the
# thread-local watch (a thread-local read costs as much as the rest of a small op's bookkeeping).
WATCHERS = [0]


# How many threads have grad mode off: while none has, an op knows grad mode is on without
# reading the thread-local state (as WATCHERS). Counted under a lock: a lost update would let
# a thread record inside no_grad. (A thread that ends inside no_grad leaves the count above
# zero: ops then read the thread-local state again, slower but still right.)
GRAD_OFF = [0]
_COUNTS = threading.Lock()


class _State(threading.local):
    """Per-thread engine state; class attributes are each new thread's defaults."""

    _enabled = True
    anomaly = False  # anomaly mode: remember where nodes were made, check backward for NaN/inf
    recompute = True  # cheap ops' outputs are recomputed in backward, not kept (autograd.recompute)
    _watch: Any = None

    @property
    def enabled(self) -> bool:
        """Grad mode: whether ops record the graph."""
        return self._enabled

    @enabled.setter
    def enabled(self, mode: bool) -> None:
        mode = bool(mode)
        if mode != self._enabled:
            with _COUNTS:
                GRAD_OFF[0] += -1 if mode else 1
        self._enabled = mode

    @property
    def watch(self) -> Any:
        """Called with each node recorded (anomaly traces, in-place bookkeeping), or None."""
        return self._watch

    @watch.setter
    def watch(self, fn: Any) -> None:
        if (fn is None) != (self._watch is None):
            with _COUNTS:
                WATCHERS[0] += 1 if fn is not None else -1
        self._watch = fn


STATE = _State()


def is_grad_enabled() -> bool:
    """True while operations are recorded for backward (in this thread).

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


class _ModeContext:
    """A context manager and decorator that sets one attribute of the thread's state."""

    attr = "enabled"
    mode: Any = True

    def __enter__(self) -> None:
        self.prev = getattr(STATE, self.attr)
        setattr(STATE, self.attr, self.mode)

    def __exit__(self, *exc: Any) -> None:
        setattr(STATE, self.attr, self.prev)

    def __call__(self, fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self._fresh():
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    def _fresh(self) -> _ModeContext:
        return self.__class__()


class no_grad(_ModeContext):
    """Within this block (or decorated function) no graph is recorded.

    Example:
        >>> import chainrule as cr
        >>> w = cr.tensor([1.0], requires_grad=True)
        >>> with cr.no_grad():
        ...     (w * 2).requires_grad
        False
    """

    mode = False


class enable_grad(_ModeContext):
    """Within this block (or decorated function) the graph is recorded, even inside ``no_grad``.

    Example:
        >>> with no_grad():
        ...     with enable_grad():
        ...         is_grad_enabled()
        True
    """

    mode = True


def is_anomaly_enabled() -> bool:
    """True while anomaly mode is on in this thread.

    Example:
        >>> with detect_anomaly():
        ...     is_anomaly_enabled()
        True
    """
    return STATE.anomaly


def _set_anomaly(mode: bool) -> None:
    STATE.anomaly = mode
    STATE.watch = Node.record_trace if mode else None


class detect_anomaly(_ModeContext):
    """Anomaly mode, as PyTorch's ``torch.autograd.detect_anomaly``: within this block (or
    decorated function) every recorded node keeps the stack of the line that created it, and a
    backward step that produces NaN or infinity raises ``RuntimeError`` naming the backward node,
    the forward op and the user's line that made it. It costs time: use it to hunt a NaN.

    Example:
        >>> import chainrule as cr
        >>> x = cr.tensor([-1.0, 4.0], requires_grad=True)
        >>> with detect_anomaly():
        ...     y = (x.sqrt() * 2).sum()                 # sqrt(-1) is NaN
        ...     try:
        ...         y.backward()
        ...     except RuntimeError as e:
        ...         print(str(e).splitlines()[0])
        Function 'SqrtBackward' returned nan values in its 0th output.
    """

    def __init__(self, check_nan: bool = True) -> None:
        self.mode = bool(check_nan)

    def __enter__(self) -> None:
        self.prev = (STATE.anomaly, STATE.watch)
        _set_anomaly(self.mode)

    def __exit__(self, *exc: Any) -> None:
        STATE.anomaly, STATE.watch = self.prev

    def _fresh(self) -> _ModeContext:
        return detect_anomaly(self.mode)


class set_detect_anomaly(detect_anomaly):
    """Turn anomaly mode on or off: for the rest of the thread when called, or within a
    ``with`` block (restored after it), as ``torch.autograd.set_detect_anomaly``.

    Example:
        >>> _ = set_detect_anomaly(True); is_anomaly_enabled()
        True
        >>> _ = set_detect_anomaly(False); is_anomaly_enabled()
        False
    """

    def __init__(self, mode: bool, check_nan: bool = True) -> None:
        self.mode = bool(mode) and bool(check_nan)
        self.prev = (STATE.anomaly, STATE.watch)
        _set_anomaly(self.mode)

    def __enter__(self) -> None:
        pass

    def _fresh(self) -> _ModeContext:
        return set_detect_anomaly(self.mode)


def is_recompute_enabled() -> bool:
    """True while the outputs of cheap ops (GELU, SiLU, LayerNorm, RMSNorm) are recomputed in
    backward instead of kept (in this thread; on by default). See :class:`recompute`.

    Example:
        >>> with recompute(False):
        ...     is_recompute_enabled()
        False
    """
    return STATE.recompute


class recompute(_ModeContext):
    """Within this block (or decorated function), ``mode`` says whether the graph keeps the
    outputs of cheap ops or a recipe to recompute them.

    On (the default), an op that saves the output of a GELU, a SiLU, a LayerNorm or an RMSNorm
    for its own backward (the Linear after it: its weight's gradient needs its input) keeps the
    op and its inputs instead, which the graph holds anyway; backward runs that op's forward once
    more when it gets there. A transformer block's activations shrink by about a third (the GELU's
    4x-wide output and both LayerNorm outputs) for one extra elementwise pass each, the trade
    torch.compile's partitioner and ``jax.checkpoint``'s policies make for pointwise ops. The
    gradients are the same to the bit; off keeps every output, as PyTorch's eager mode does.

    Example:
        >>> import chainrule as cr
        >>> x = cr.randn(4, 8, requires_grad=True)
        >>> lin = cr.nn.Linear(8, 2)
        >>> with recompute(False):
        ...     lin(cr.nn.functional.gelu(x)).sum().backward()
        >>> x.grad.shape
        (4, 8)
    """

    attr = "recompute"

    def __init__(self, mode: bool = True) -> None:
        self.mode = bool(mode)

    def _fresh(self) -> _ModeContext:
        return recompute(self.mode)
