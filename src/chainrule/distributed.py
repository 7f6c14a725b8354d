"""Collective communication over MPI, with ``torch.distributed``'s names.

Launch the processes with an MPI launcher (``mpiexec -n 4 python train.py``), call
:func:`init_process_group` once in each, then use the collectives: every process must call the
same collectives in the same order. Rank and world size come from ``MPI.COMM_WORLD``.

The collectives work in place on the tensor's own NumPy array (no copy when it is contiguous)
and bump its version, as every in-place write in chainrule does. CuPy arrays are handed to MPI
directly when the MPI library is CUDA-aware; otherwise they are staged through host memory
(:func:`cuda_aware_mpi` says which).

Every collective takes ``async_op``: with ``async_op=True`` it returns a :class:`Work` whose
``wait()`` finishes it. Waits poll the MPI request, so the process yields the CPU while it waits,
and give up after the group's ``timeout`` (default 30 minutes, as PyTorch) with an error naming
the collective. When the group has more than one process, :func:`init_process_group` installs
an exception hook: an uncaught error on any rank is printed with that rank's number and ends
every rank (``MPI_Abort``), so no rank waits forever for a rank that died.

Needs ``mpi4py`` and an MPI library: ``pip install chainrule[distributed]`` (the ``mpich``
wheel brings ``mpiexec``).

Example:
    >>> import chainrule as cr
    >>> import chainrule.distributed as dist
    >>> dist.init_process_group("mpi")  # in a single process: a world of one
    >>> t = cr.tensor([1.0, 2.0])
    >>> dist.all_reduce(t, op=dist.ReduceOp.SUM)
    >>> t, dist.get_rank(), dist.get_world_size()
    (tensor([1., 2.]), 0, 1)
    >>> dist.destroy_process_group()
"""

from __future__ import annotations

import ctypes
import datetime
import enum
import importlib.util
import os
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .backend import array_module
from .tensor import Tensor

INSTALL_HINT = "pip install chainrule[distributed]"
DEFAULT_TIMEOUT = datetime.timedelta(minutes=30)  # torch's default_pg_timeout

_NOT_INITIALIZED = (
    "Default process group has not been initialized, please make sure to call init_process_group."
)


class ReduceOp(enum.Enum):
    """How :func:`all_reduce` and :func:`reduce_scatter` combine the ranks' values.

    ``AVG`` is the sum divided by the world size (floating-point tensors only). On ``bool``
    tensors ``SUM`` and ``MAX`` are a logical or, ``PRODUCT`` and ``MIN`` a logical and (as
    PyTorch's NCCL backend). ``BAND``, ``BOR``, ``BXOR`` need integer or bool tensors.

    Example:
        >>> ReduceOp.SUM.name
        'SUM'
    """

    SUM = 0
    AVG = 1
    PRODUCT = 2
    MIN = 3
    MAX = 4
    BAND = 5
    BOR = 6
    BXOR = 7


class _World:
    """The default group: ``MPI.COMM_WORLD`` and its settings."""

    def __init__(self) -> None:
        self.comm: Any = None
        self.rank = -1
        self.size = -1
        self.timeout: float | None = None
        self.previous_hook: Any = None
        self.cuda_aware: bool | None = None


_WORLD = _World()


class group:  # noqa: N801 - torch's name: ``dist.group.WORLD``
    """Process groups: only the default one, ``group.WORLD``, exists (all ranks).

    Example:
        >>> group.WORLD is None
        True
    """

    WORLD = None


def is_available() -> bool:
    """True if ``mpi4py`` can be imported (``pip install chainrule[distributed]``); MPI is not
    started by this check.

    Example:
        >>> isinstance(is_available(), bool)
        True
    """
    return importlib.util.find_spec("mpi4py") is not None


def _mpi() -> Any:
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise ImportError(
            f"chainrule.distributed needs mpi4py and an MPI library ({e}); install them with "
            f"`{INSTALL_HINT}`"
        ) from None
    return MPI


def launched_world_size() -> int:
    """How many processes an MPI launcher started this one with (``PMI_SIZE`` for MPICH and
    Intel MPI, ``OMPI_COMM_WORLD_SIZE`` for Open MPI, ``PMIX_SIZE``/``MPI_LOCALNRANKS``
    otherwise), read from the environment without starting MPI; 1 when not under a launcher.

    Example:
        >>> launched_world_size() >= 1
        True
    """
    for var in ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS"):
        v = os.environ.get(var)
        if v and v.isdigit():
            return int(v)
    return 1


def init_process_group(
    backend: str | None = None,
    init_method: str | None = None,
    timeout: datetime.timedelta | float | None = None,
    world_size: int = -1,
    rank: int = -1,
    store: Any = None,
    group_name: str = "",
    pg_options: Any = None,
    device_id: Any = None,
) -> None:
    """Join the default process group: every process that ``mpiexec`` started.

    Args:
        backend: ``"mpi"`` (or ``None``); the only backend.
        init_method, store, group_name, pg_options, device_id: accepted for PyTorch
            compatibility; MPI's launcher already connected the processes.
        timeout: how long a collective waits for the other ranks before it raises
            (a ``timedelta`` or seconds; default 30 minutes).
        world_size, rank: if given, must equal MPI's (``-1``: take MPI's).

    With more than one process, an uncaught exception on any rank prints the error with the
    rank's number and aborts every rank (``MPI_Abort``), so a failure never leaves the other
    ranks waiting; :func:`destroy_process_group` restores the previous hook.

    Example:
        >>> init_process_group(backend="mpi", timeout=60)
        >>> is_initialized(), get_world_size()
        (True, 1)
        >>> destroy_process_group()
    """
    if backend not in (None, "mpi"):
        raise ValueError(
            f"init_process_group: chainrule.distributed runs over MPI: backend must be 'mpi' "
            f"(or None), got {backend!r}"
        )
    if _WORLD.comm is not None:
        raise RuntimeError("trying to initialize the default process group twice!")
    seconds = _seconds(timeout, "init_process_group")
    MPI = _mpi()
    comm = MPI.COMM_WORLD
    for name, given, actual in (("world_size", world_size, comm.Get_size()),
                                ("rank", rank, comm.Get_rank())):  # fmt: skip
        if given not in (-1, None) and given != actual:
            raise ValueError(
                f"init_process_group: {name}={given} but MPI started this process with "
                f"{name}={actual}; leave {name} unset to take MPI's"
            )
    _WORLD.comm, _WORLD.rank, _WORLD.size = comm, comm.Get_rank(), comm.Get_size()
    _WORLD.timeout = seconds if seconds is not None else DEFAULT_TIMEOUT.total_seconds()
    if _WORLD.size > 1:
        _WORLD.previous_hook = sys.excepthook
        sys.excepthook = _abort_hook


def is_initialized() -> bool:
    """True between :func:`init_process_group` and :func:`destroy_process_group`.

    Example:
        >>> is_initialized()
        False
    """
    return _WORLD.comm is not None


def destroy_process_group(group: Any = None) -> None:
    """Leave the default process group (MPI itself stays up until the process ends).

    Example:
        >>> init_process_group("mpi"); destroy_process_group(); is_initialized()
        False
    """
    _check_group(group, "destroy_process_group")
    _world("destroy_process_group")
    if _WORLD.previous_hook is not None and sys.excepthook is _abort_hook:
        sys.excepthook = _WORLD.previous_hook
    _WORLD.__init__()


def get_rank(group: Any = None) -> int:
    """This process's number in the group, ``0 .. world_size - 1``.

    Example:
        >>> init_process_group("mpi"); get_rank()
        0
        >>> destroy_process_group()
    """
    _check_group(group, "get_rank")
    return _world("get_rank").rank


def get_world_size(group: Any = None) -> int:
    """How many processes the group has.

    Example:
        >>> init_process_group("mpi"); get_world_size()
        1
        >>> destroy_process_group()
    """
    _check_group(group, "get_world_size")
    return _world("get_world_size").size


def get_backend(group: Any = None) -> str:
    """The backend of the group: always ``"mpi"``.

    Example:
        >>> init_process_group("mpi"); get_backend()
        'mpi'
        >>> destroy_process_group()
    """
    _check_group(group, "get_backend")
    _world("get_backend")
    return "mpi"


def cuda_aware_mpi() -> bool:
    """Whether the MPI library can read and write GPU memory (``MPIX_Query_cuda_support``);
    when not, collectives on CuPy tensors copy through host memory. The environment variable
    ``CHAINRULE_CUDA_AWARE_MPI=0`` or ``=1`` overrides the check.

    Example:
        >>> init_process_group("mpi"); isinstance(cuda_aware_mpi(), bool)
        True
        >>> destroy_process_group()
    """
    w = _world("cuda_aware_mpi")
    if w.cuda_aware is None:
        env = os.environ.get("CHAINRULE_CUDA_AWARE_MPI")
        w.cuda_aware = env == "1" if env in ("0", "1") else _query_cuda_support()
    return w.cuda_aware


def _query_cuda_support() -> bool:
    """Ask the loaded MPI library (MPICH >= 4, Open MPI) through ``MPIX_Query_cuda_support``."""
    try:
        with open("/proc/self/maps") as f:
            libs = {ln.split()[-1] for ln in f if "libmpi" in ln and ".so" in ln}
    except OSError:
        return False
    for lib in sorted(libs):
        try:
            query = ctypes.CDLL(lib).MPIX_Query_cuda_support
        except (OSError, AttributeError):
            continue
        query.restype = ctypes.c_int
        return bool(query())
    return False


class Work:
    """A collective in flight (``async_op=True``): :meth:`wait` finishes it.

    Example:
        >>> import chainrule as cr
        >>> init_process_group("mpi")
        >>> t = cr.tensor([3.0])
        >>> w = all_reduce(t, async_op=True)
        >>> w.wait(), w.is_completed(), t
        (True, True, tensor([3.]))
        >>> destroy_process_group()
    """

    def __init__(self, request: Any, what: str, finish: Callable[[], None] | None = None) -> None:
        self._request = request
        self._what = what
        self._finish = finish
        self._done = False

    def wait(self, timeout: datetime.timedelta | float | None = None) -> bool:
        """Block until the collective has finished on this rank (and its result is in the
        tensors); raise ``RuntimeError`` after ``timeout`` (default: the group's)."""
        if not self._done:
            seconds = _seconds(timeout, "Work.wait")
            _wait(self._request, self._what, seconds if seconds else _WORLD.timeout)
            self._complete()
        return True

    def is_completed(self) -> bool:
        """True once the collective has finished (checks without blocking)."""
        if not self._done and self._request.Test():
            self._complete()
        return self._done

    def is_success(self) -> bool:
        """True once the collective has finished (an MPI failure raises instead)."""
        return self.is_completed()

    def _complete(self) -> None:
        self._done = True
        if self._finish is not None:
            self._finish()


_SPIN_SECONDS = 0.05  # poll flat out this long (MPI moves a collective on only in its calls)


def _wait(request: Any, what: str, timeout: float | None) -> None:
    """Wait for an MPI request; raise after ``timeout`` seconds.

    MPI makes progress on a non-blocking collective only inside MPI calls, so the first
    ``_SPIN_SECONDS`` poll without pause (yielding the core to any other runnable process
    between polls, which matters when ranks outnumber cores); a longer wait backs off to
    sleeps of up to 1 ms, so a rank that waits for a slow or stuck peer does not burn a core.
    """
    if request.Test():
        return
    start = time.monotonic()
    deadline = None if timeout is None else start + timeout
    pause = 1e-5
    while not request.Test():
        now = time.monotonic()
        if deadline is not None and now > deadline:
            raise RuntimeError(
                f"{what}: timed out after {timeout:g} s waiting for the other ranks on rank "
                f"{_WORLD.rank} of {_WORLD.size} (a rank may have failed, or the ranks called "
                f"different collectives)"
            )
        if now - start < _SPIN_SECONDS:
            _yield()
        else:
            time.sleep(pause)
            pause = min(pause * 2, 1e-3)


_yield = getattr(os, "sched_yield", lambda: None)


def _wait_all(requests: Sequence[Any], what: str) -> None:
    for r in requests:
        _wait(r, what, _WORLD.timeout)


# ----- the collectives -------------------------------------------------------------------


def all_reduce(
    tensor: Tensor, op: ReduceOp = ReduceOp.SUM, group: Any = None, async_op: bool = False
) -> Work | None:
    """Combine ``tensor`` across all ranks with ``op``; every rank gets the result, in place.

    Example:
        >>> import chainrule as cr
        >>> init_process_group("mpi")
        >>> t = cr.tensor([1.0, 4.0])
        >>> all_reduce(t, op=ReduceOp.AVG); t
        tensor([1., 4.])
        >>> destroy_process_group()
    """
    what = "all_reduce"
    w = _prepare(what, group, tensor)
    mpi_op = _mpi_op(what, op, tensor)
    buf = _Staged(tensor._data)
    request = _start(what, lambda: w.comm.Iallreduce(_mpi().IN_PLACE, buf.mpi, mpi_op))

    def finish() -> None:
        _average(buf.mpi, op, w.size)
        buf.write_back(tensor)

    return _finish(Work(request, what, finish), async_op)


def broadcast(
    tensor: Tensor, src: int = 0, group: Any = None, async_op: bool = False
) -> Work | None:
    """Copy ``tensor`` of rank ``src`` into ``tensor`` on every rank, in place.

    Example:
        >>> import chainrule as cr
        >>> init_process_group("mpi")
        >>> t = cr.tensor([5, 6])
        >>> broadcast(t, src=0); t
        tensor([5, 6])
        >>> destroy_process_group()
    """
    what = "broadcast"
    w = _prepare(what, group, tensor)
    _check_rank(what, "src", src, w.size)
    buf = _Staged(tensor._data)
    request = _start(what, lambda: w.comm.Ibcast(buf.mpi, root=src))
    return _finish(Work(request, what, lambda: buf.write_back(tensor)), async_op)


def all_gather(
    tensor_list: list[Tensor], tensor: Tensor, group: Any = None, async_op: bool = False
) -> Work | None:
    """Fill ``tensor_list[r]`` with ``tensor`` of rank ``r``, on every rank.

    ``tensor_list`` holds ``world_size`` tensors of ``tensor``'s shape and dtype.

    Example:
        >>> import chainrule as cr
        >>> init_process_group("mpi")
        >>> out = [cr.zeros(2)]
        >>> all_gather(out, cr.tensor([1.0, 2.0])); out
        [tensor([1., 2.])]
        >>> destroy_process_group()
    """
    what = "all_gather"
    w = _prepare(what, group, tensor)
    if not isinstance(tensor_list, list | tuple) or len(tensor_list) != w.size:
        n = len(tensor_list) if isinstance(tensor_list, list | tuple) else type(tensor_list)
        raise ValueError(f"{what}: tensor_list must hold world_size={w.size} tensors, got {n}")
    for i, t in enumerate(tensor_list):
        _check_like(what, f"tensor_list[{i}]", t, tensor)
    xp = array_module(tensor._data)
    send = _Staged(tensor._data)
    recv = _Staged(xp.empty((w.size, *tensor._data.shape), tensor._data.dtype))
    request = _start(what, lambda: w.comm.Iallgather(send.mpi, recv.mpi))

    def finish() -> None:
        out = recv.result()
        for i, t in enumerate(tensor_list):
            t._mutate(lambda a, i=i: xp.copyto(a, out[i]))

    return _finish(Work(request, what, finish), async_op)


def all_gather_into_tensor(
    output_tensor: Tensor, input_tensor: Tensor, group: Any = None, async_op: bool = False
) -> Work | None:
    """Gather ``input_tensor`` of every rank into ``output_tensor``, rank by rank.

    ``output_tensor`` has shape ``(world_size * n, ...)`` (the inputs concatenated along dim 0)
    or ``(world_size, n, ...)`` (stacked) for an input of shape ``(n, ...)``.

    Example:
        >>> import chainrule as cr
        >>> init_process_group("mpi")
        >>> out = cr.zeros(2)
        >>> all_gather_into_tensor(out, cr.tensor([7.0, 8.0])); out
        tensor([7., 8.])
        >>> destroy_process_group()
    """
    what = "all_gather_into_tensor"
    w = _prepare(what, group, output_tensor, input_tensor)
    _check_split(what, "output_tensor", output_tensor, "input_tensor", input_tensor, w.size)
    send = _Staged(input_tensor._data)
    recv = _Staged(output_tensor._data)
    request = _start(what, lambda: w.comm.Iallgather(send.mpi, recv.mpi))
    return _finish(Work(request, what, lambda: recv.write_back(output_tensor)), async_op)


def reduce_scatter(
    output: Tensor,
    input_list: list[Tensor],
    op: ReduceOp = ReduceOp.SUM,
    group: Any = None,
    async_op: bool = False,
) -> Work | None:
    """Reduce ``input_list[r]`` across ranks with ``op`` and put the result in ``output`` of
    rank ``r``.

    Example:
        >>> import chainrule as cr
        >>> init_process_group("mpi")
        >>> out = cr.zeros(2)
        >>> reduce_scatter(out, [cr.tensor([1.0, 2.0])]); out
        tensor([1., 2.])
        >>> destroy_process_group()
    """
    what = "reduce_scatter"
    w = _prepare(what, group, output)
    if not isinstance(input_list, list | tuple) or len(input_list) != w.size:
        n = len(input_list) if isinstance(input_list, list | tuple) else type(input_list)
        raise ValueError(f"{what}: input_list must hold world_size={w.size} tensors, got {n}")
    for i, t in enumerate(input_list):
        _check_like(what, f"input_list[{i}]", t, output)
    mpi_op = _mpi_op(what, op, output)
    xp = array_module(output._data)
    send = _Staged(xp.stack([t._data for t in input_list]))
    return _reduce_scatter(what, w, send, output, op, mpi_op, async_op)


def reduce_scatter_tensor(
    output: Tensor,
    input: Tensor,  # noqa: A002 - torch's name
    op: ReduceOp = ReduceOp.SUM,
    group: Any = None,
    async_op: bool = False,
) -> Work | None:
    """Reduce ``input`` across ranks with ``op`` and scatter it: rank ``r`` gets block ``r``.

    ``input`` has shape ``(world_size * n, ...)`` or ``(world_size, n, ...)`` for an
    ``output`` of shape ``(n, ...)``.

    Example:
        >>> import chainrule as cr
        >>> init_process_group("mpi")
        >>> out = cr.zeros(2)
        >>> reduce_scatter_tensor(out, cr.tensor([1.0, 2.0]), op=ReduceOp.MAX); out
        tensor([1., 2.])
        >>> destroy_process_group()
    """
    what = "reduce_scatter_tensor"
    w = _prepare(what, group, output, input)
    _check_split(what, "input", input, "output", output, w.size)
    mpi_op = _mpi_op(what, op, output)
    send = _Staged(input._data)
    return _reduce_scatter(what, w, send, output, op, mpi_op, async_op)


def _reduce_scatter(
    what: str, w: _World, send: _Staged, output: Tensor, op: ReduceOp, mpi_op: Any, async_op: bool
) -> Work | None:
    recv = _Staged(output._data)
    request = _start(what, lambda: w.comm.Ireduce_scatter_block(send.mpi, recv.mpi, mpi_op))

    def finish() -> None:
        _average(recv.mpi, op, w.size)
        recv.write_back(output)

    return _finish(Work(request, what, finish), async_op)


def barrier(
    group: Any = None,
    async_op: bool = False,
    device_ids: Any = None,
    timeout: datetime.timedelta | float | None = None,
) -> Work | None:
    """Wait until every rank has called ``barrier`` (raise after ``timeout``, default: the
    group's).

    Example:
        >>> init_process_group("mpi"); barrier(timeout=5.0); destroy_process_group()
    """
    what = "barrier"
    w = _prepare(what, group)
    work = Work(_start(what, w.comm.Ibarrier), what)
    if async_op:
        return work
    work.wait(timeout)
    return None


# ----- helpers ---------------------------------------------------------------------------


def _world(what: str) -> _World:
    if _WORLD.comm is None:
        raise ValueError(f"{what}: {_NOT_INITIALIZED}")
    return _WORLD


def _check_group(group: Any, what: str) -> None:
    if group is not None:
        raise ValueError(
            f"{what}: chainrule.distributed has only the default group (group=None or "
            f"dist.group.WORLD), got {group!r}"
        )


def _check_rank(what: str, name: str, r: Any, size: int) -> None:
    if not isinstance(r, int | np.integer) or isinstance(r, bool) or not 0 <= r < size:
        raise ValueError(f"{what}: {name}={r!r} is not a rank of a world of {size}")


def _prepare(what: str, group: Any, *tensors: Any) -> _World:
    _check_group(group, what)
    w = _world(what)
    for t in tensors:
        if not isinstance(t, Tensor):
            raise TypeError(f"{what}: expected a chainrule Tensor, got {type(t).__name__}")
        if t._data.dtype.kind not in "biufc":
            raise TypeError(f"{what}: MPI cannot send tensors of dtype {t.dtype}")
    return w


def _check_like(what: str, name: str, t: Any, ref: Tensor) -> None:
    if not isinstance(t, Tensor):
        raise TypeError(f"{what}: {name} must be a chainrule Tensor, got {type(t).__name__}")
    if t.shape != ref.shape or t.dtype != ref.dtype:
        raise ValueError(
            f"{what}: {name} has shape {tuple(t.shape)} and dtype {t.dtype}, expected shape "
            f"{tuple(ref.shape)} and dtype {ref.dtype}"
        )


def _check_split(
    what: str, big_name: str, big: Tensor, small_name: str, small: Tensor, size: int
) -> None:
    """``big`` must be ``size`` copies of ``small`` concatenated along dim 0 or stacked."""
    s, b = tuple(small.shape), tuple(big.shape)
    cat = (size * s[0], *s[1:]) if s else (size,)
    if big.dtype != small.dtype or b not in (cat, (size, *s)):
        raise ValueError(
            f"{what}: {big_name} has shape {b} and dtype {big.dtype}; for a {small_name} of shape "
            f"{s} and dtype {small.dtype} in a world of {size} it must have shape {cat} or "
            f"{(size, *s)} and the same dtype"
        )


_BOOL_OPS = {ReduceOp.SUM: "LOR", ReduceOp.MAX: "LOR", ReduceOp.PRODUCT: "LAND",
             ReduceOp.MIN: "LAND", ReduceOp.BAND: "LAND", ReduceOp.BOR: "LOR",
             ReduceOp.BXOR: "LXOR"}  # fmt: skip
_MPI_OPS = {ReduceOp.SUM: "SUM", ReduceOp.AVG: "SUM", ReduceOp.PRODUCT: "PROD",
            ReduceOp.MIN: "MIN", ReduceOp.MAX: "MAX", ReduceOp.BAND: "BAND",
            ReduceOp.BOR: "BOR", ReduceOp.BXOR: "BXOR"}  # fmt: skip


def _mpi_op(what: str, op: Any, t: Tensor) -> Any:
    if not isinstance(op, ReduceOp):
        raise TypeError(f"{what}: op must be a dist.ReduceOp (SUM, AVG, ...), got {op!r}")
    kind = t._data.dtype.kind
    if kind == "b":
        if op is ReduceOp.AVG:
            raise TypeError(f"{what}: ReduceOp.AVG needs a floating-point tensor, got {t.dtype}")
        return getattr(_mpi(), _BOOL_OPS[op])
    if op is ReduceOp.AVG and kind not in "fc":
        raise TypeError(f"{what}: ReduceOp.AVG needs a floating-point tensor, got {t.dtype}")
    if op in (ReduceOp.BAND, ReduceOp.BOR, ReduceOp.BXOR) and kind not in "iu":
        raise TypeError(
            f"{what}: ReduceOp.{op.name} needs an integer or bool tensor, got {t.dtype}"
        )
    if op in (ReduceOp.MIN, ReduceOp.MAX) and kind == "c":
        raise TypeError(f"{what}: ReduceOp.{op.name} is not defined for complex {t.dtype}")
    return getattr(_mpi(), _MPI_OPS[op])


def _average(a: Any, op: ReduceOp, size: int) -> None:
    if op is ReduceOp.AVG:
        a /= size


def _start(what: str, call: Callable[[], Any]) -> Any:
    """Start a non-blocking MPI call, turning an MPI error into one that names ``what``."""
    try:
        return call()
    except _mpi().Exception as e:
        raise RuntimeError(f"{what}: MPI refused the call: {e.Get_error_string()}") from None


def _finish(work: Work, async_op: bool) -> Work | None:
    if async_op:
        return work
    work.wait()
    return None


class _Staged:
    """The buffer MPI reads or writes for an array: the array itself when it is contiguous
    (and, on the GPU, when MPI is CUDA-aware), else a contiguous (host) copy that
    :meth:`write_back` copies into the tensor."""

    def __init__(self, a: Any) -> None:
        self.array = a
        self.gpu = type(a).__module__.startswith("cupy")
        if self.gpu and not cuda_aware_mpi():
            _warn_host_staging()
            self.mpi = a.get()  # a contiguous host copy
        elif self.gpu:
            self.mpi = a if a.flags.c_contiguous else a.copy()
            array_module(a).cuda.get_current_stream().synchronize()  # MPI reads the memory now
        else:
            self.mpi = a if a.flags.c_contiguous else np.ascontiguousarray(a)
        self.direct = self.mpi is a  # MPI works on the array's own memory
        if self.mpi.ndim == 0:
            self.mpi = self.mpi.reshape(1)  # a view: MPI takes 1-d buffers

    def result(self) -> Any:
        """What MPI wrote, on the array's device."""
        if self.gpu and not self.direct and isinstance(self.mpi, np.ndarray):
            return array_module(self.array).asarray(self.mpi)
        return self.mpi

    def write_back(self, t: Tensor) -> None:
        """Bump ``t``'s version (it was written in place) and copy a staged result into it."""
        if self.direct:
            t._mutate(lambda a: None)  # MPI wrote the tensor's own memory
            return
        out = self.result()
        t._mutate(lambda a: array_module(a).copyto(a, out.reshape(a.shape)))


_WARNED: list[bool] = []


def _warn_host_staging() -> None:
    """Say once per process that GPU tensors travel through host memory."""
    if not _WARNED:
        _WARNED.append(True)
        warnings.warn(
            "chainrule.distributed: the MPI library is not CUDA-aware (MPIX_Query_cuda_support "
            "says no), so collectives on GPU tensors copy them to host memory and back; set "
            "CHAINRULE_CUDA_AWARE_MPI=1 if it is",
            RuntimeWarning,
            stacklevel=4,
        )


def _seconds(timeout: Any, what: str) -> float | None:
    if timeout is None:
        return None
    if isinstance(timeout, datetime.timedelta):
        timeout = timeout.total_seconds()
    if not isinstance(timeout, int | float) or isinstance(timeout, bool) or timeout <= 0:
        raise ValueError(
            f"{what}: timeout must be a positive timedelta or seconds, got {timeout!r}"
        )
    return float(timeout)


def _abort_hook(exc_type: Any, exc: BaseException, tb: Any) -> None:
    """``sys.excepthook`` while the group is up: name the rank, then end every rank."""
    try:
        sys.stderr.write(
            f"chainrule.distributed: rank {_WORLD.rank} of {_WORLD.size} failed with "
            f"{exc_type.__name__}: {exc}; aborting all ranks\n"
        )
        traceback.print_exception(exc_type, exc, tb)
        sys.stderr.flush()
        sys.stdout.flush()
    finally:
        _abort(1)


def _abort(code: int = 1) -> None:
    """End every rank of the group now (``MPI_Abort``) with exit status ``code``."""
    comm = _WORLD.comm
    if comm is None:
        raise SystemExit(code)
    comm.Abort(code)
