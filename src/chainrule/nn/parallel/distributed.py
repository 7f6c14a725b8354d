"""``DistributedDataParallel``: one model replica per process, gradients averaged over MPI."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from ... import distributed as dist
from ...autograd import queue_callback
from ...autograd.engine import topological_order
from ...autograd.grad_mode import is_grad_enabled
from ...autograd.node import AccumulateGrad
from ...backend import array_module
from ...tensor import Tensor
from ..module import Module

_MB = 1024 * 1024
_FIRST_BUCKET_BYTES = 1 * _MB  # torch's dist._DEFAULT_FIRST_BUCKET_BYTES

_UNUSED_HINT = (
    "This error indicates that your module has parameters that were not used in producing the "
    "loss. Pass find_unused_parameters=True to DistributedDataParallel to reduce zeros for "
    "them, and make sure every output of forward takes part in the loss."
)


class _Bucket:
    """A run of parameters (same dtype and device) whose gradients are all-reduced together,
    through one flat buffer."""

    __slots__ = ("members", "offsets", "flat", "pending", "staged", "request")

    def __init__(self, members: list[int], params: list[Tensor]) -> None:
        self.members = members  # indices into the wrapper's parameter list
        sizes = [params[i].numel() for i in members]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64).tolist()
        first = params[members[0]]._data
        self.flat = array_module(first).zeros(self.offsets[-1], dtype=first.dtype)
        self.pending = len(members)
        self.staged: Any = None
        self.request: Any = None


class DistributedDataParallel(Module):
    """Data parallelism over MPI, as ``torch.nn.parallel.DistributedDataParallel``.

    Each process (rank) holds a replica of ``module`` and trains it on its own share of every
    batch (see :class:`~chainrule.data.DistributedSampler`). At wrap time the ranks check that
    they hold the same parameters (names, shapes, dtypes) and copy rank 0's parameters and
    buffers to every rank. During ``backward`` each parameter's gradient, once accumulated, is
    copied into a bucket (``bucket_cap_mb`` of gradients, in reverse parameter order: the order
    backward produces them); a full bucket's all-reduce starts at once, without blocking, so
    communication overlaps the rest of backward. When backward finishes, the wrapper waits for
    the all-reduces and writes the average over ranks into each ``.grad``: after ``backward``
    every rank holds the same gradients, and the same optimizer step keeps the replicas equal.

    Args:
        module: the model to replicate.
        broadcast_buffers: copy rank 0's buffers (BatchNorm running statistics) to every rank
            at the start of each forward (of a forward that follows a synced one, as torch).
        bucket_cap_mb: bucket size in MiB (default 25; the first bucket is 1 MiB by default).
        find_unused_parameters: ``False`` (default): every parameter must receive a gradient in
            each synced backward, else an error names the ones that did not. ``True``: the
            parameters that the forward's outputs do not depend on are reduced as zeros (or as
            their accumulated ``.grad``) without waiting for them; a parameter no rank used
            keeps its ``.grad`` as it was.
        init_sync: broadcast rank 0's parameters and buffers at wrap time (default ``True``).
        process_group: ``None``: the default group (the only one).
        device_ids, output_device, dim, check_reduction, static_graph: accepted for PyTorch
            compatibility (the model stays on its device; the graph is traced every step).
        gradient_as_bucket_view: must be ``False``: gradients are copied out of the buckets.

    Use :meth:`no_sync` to accumulate gradients locally over several backward passes; the
    first backward after it reduces the accumulated gradients. The wrapper's ``state_dict``
    names entries ``module.<name>`` as torch's; save ``ddp.module.state_dict()`` for a
    checkpoint that loads into the bare model.

    Example:
        >>> import chainrule as cr
        >>> import chainrule.distributed as dist
        >>> from chainrule.nn.parallel import DistributedDataParallel as DDP
        >>> dist.init_process_group("mpi")  # mpiexec -n N python this.py: one per rank
        >>> model = DDP(cr.nn.Linear(3, 1))
        >>> model(cr.ones(4, 3)).sum().backward()
        >>> model.module.weight.grad.shape
        (1, 3)
        >>> list(model.state_dict())
        ['module.weight', 'module.bias']
        >>> dist.destroy_process_group()
    """

    def __init__(
        self,
        module: Module,
        device_ids: Any = None,
        output_device: Any = None,
        dim: int = 0,
        broadcast_buffers: bool = True,
        init_sync: bool = True,
        process_group: Any = None,
        bucket_cap_mb: float | None = None,
        find_unused_parameters: bool = False,
        check_reduction: bool = False,
        gradient_as_bucket_view: bool = False,
        static_graph: bool = False,
    ) -> None:
        super().__init__()
        what = "DistributedDataParallel"
        dist._check_group(process_group, what)
        world = dist._world(what)
        if not isinstance(module, Module):
            raise TypeError(f"{what}: module must be a chainrule.nn.Module, got {type(module)}")
        if gradient_as_bucket_view:
            raise ValueError(f"{what}: gradient_as_bucket_view=True is not supported")
        if bucket_cap_mb is not None and not (
            isinstance(bucket_cap_mb, int | float) and bucket_cap_mb > 0
        ):
            raise ValueError(f"{what}: bucket_cap_mb must be positive, got {bucket_cap_mb!r}")
        self.module = module
        self.device_ids, self.output_device, self.dim = device_ids, output_device, dim
        self.broadcast_buffers = broadcast_buffers
        self.find_unused_parameters = find_unused_parameters
        self.static_graph = static_graph
        self.bucket_bytes_cap = int((25 if bucket_cap_mb is None else bucket_cap_mb) * _MB)
        self.require_backward_grad_sync = True
        self.require_forward_param_sync = True
        self._rank, self._world_size = world.rank, world.size
        named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
        self._names = [n for n, _ in named]
        self._params = [p for _, p in named]
        self._index = {id(p): i for i, p in enumerate(self._params)}
        self._buffers_list = [b for _, b in module.named_buffers()]
        _check_same_model(module, world)
        if init_sync:
            for t in [*(p for _, p in module.named_parameters()), *self._buffers_list]:
                dist.broadcast(t, src=0)
        self._first_cap = _FIRST_BUCKET_BYTES if bucket_cap_mb is None else self.bucket_bytes_cap
        self._make_buckets(list(reversed(range(len(self._params)))))
        self._arrival: list[int] | None = []  # the order gradients came in, first backward
        self._rebuild_due = False  # the first synced backward is done: regroup the buckets
        self._grad_hooks = [
            p.register_post_accumulate_grad_hook(lambda p, i=i: self._on_grad(i))
            for i, p in enumerate(self._params)
        ]
        self._armed = False  # a synced forward ran: its backward reduces gradients
        self._queued = False  # the end-of-backward callback is queued
        self._ready = np.zeros(len(self._params), dtype=bool)
        self._got_grad = np.zeros(len(self._params), dtype=bool)
        self._unused: list[int] = []
        self._next_bucket = 0
        self._comm_wait_seconds = 0.0  # time backward's end spent waiting for all-reduces

    # ----- construction ----------------------------------------------------------------
    def _make_buckets(self, order: list[int]) -> None:
        """Group the parameters, in the ``order`` their gradients are expected in, into buckets
        of at most the cap (a larger parameter gets a bucket of its own), one dtype and device
        per bucket."""
        buckets: list[_Bucket] = []
        run: list[int] = []
        size = 0
        key = None
        for i in order:
            p = self._params[i]
            nbytes = p._data.nbytes
            k = (p._data.dtype, type(p._data))
            cap = self._first_cap if not buckets else self.bucket_bytes_cap
            if run and (k != key or size + nbytes > cap):
                buckets.append(_Bucket(run, self._params))
                run, size = [], 0
            run.append(i)
            size += nbytes
            key = k
        if run:
            buckets.append(_Bucket(run, self._params))
        self._buckets = buckets
        self._slot = {}  # parameter index -> (bucket, start, stop) in the bucket's flat buffer
        for b in buckets:
            for k, i in enumerate(b.members):
                self._slot[i] = (b, b.offsets[k], b.offsets[k + 1])

    def _rebuild_buckets(self) -> None:
        """Once, after the first synced backward: regroup the buckets in the order the
        gradients actually arrived on rank 0 (sent to every rank, as the buckets must match),
        so that buckets fill, and their all-reduces start, in backward's order (as torch)."""
        arrival, self._arrival, self._rebuild_due = self._arrival, None, False
        order = dist._WORLD.comm.bcast(arrival, root=0)
        if sorted(order) == list(range(len(self._params))):
            self._make_buckets(order)

    # ----- forward -----------------------------------------------------------------------
    def forward(self, *inputs: Any, **kwargs: Any) -> Any:
        """Run the module; a forward with grad enabled (outside :meth:`no_sync`) arms the
        gradient all-reduce of the backward that follows."""
        if (
            self.require_forward_param_sync
            and self.broadcast_buffers
            and self._buffers_list
            and self._world_size > 1
        ):
            for b in self._buffers_list:
                dist.broadcast(b, src=0)
        sync = is_grad_enabled() and self.require_backward_grad_sync
        if sync and self._rebuild_due:
            self._rebuild_buckets()
        out = self.module(*inputs, **kwargs)
        self.require_forward_param_sync = sync
        self._prepare_for_backward(out if sync else None, sync)
        return out

    def _prepare_for_backward(self, out: Any, sync: bool) -> None:
        self._ready[:] = False
        self._got_grad[:] = False
        self._next_bucket = 0
        for b in self._buckets:
            b.pending = len(b.members)
            b.request = b.staged = None
        self._armed, self._queued = sync, False
        self._unused = []
        if sync and self.find_unused_parameters:
            nodes = topological_order(list(_tensors_in(out)))
            reached = {id(n.variable) for n in nodes if isinstance(n, AccumulateGrad)}
            self._unused = [i for i, p in enumerate(self._params) if id(p) not in reached]

    @contextlib.contextmanager
    def no_sync(self) -> Iterator[None]:
        """Inside, backward only accumulates gradients locally (no communication); the first
        synced backward after it all-reduces the accumulated gradients.

        Example:
            >>> import chainrule as cr
            >>> import chainrule.distributed as dist
            >>> from chainrule.nn.parallel import DistributedDataParallel as DDP
            >>> dist.init_process_group("mpi")
            >>> model = DDP(cr.nn.Linear(2, 1))
            >>> with model.no_sync():
            ...     model(cr.ones(1, 2)).sum().backward()  # local only
            >>> model(cr.ones(1, 2)).sum().backward()  # reduces both steps' sum
            >>> model.module.bias.grad
            tensor([2.])
            >>> dist.destroy_process_group()
        """
        old = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = old

    # ----- backward --------------------------------------------------------------------
    def _on_grad(self, i: int) -> None:
        """Post-accumulate hook of parameter ``i``: its gradient is final for this backward."""
        if not self._armed:
            return
        if not self._queued:
            queue_callback(self._finish_backward)
            self._queued = True
            for j in self._unused:  # find_unused_parameters: do not wait for these
                self._mark_ready(j)
        if self._ready[i]:
            raise RuntimeError(
                f"DistributedDataParallel: parameter {self._names[i]!r} received a gradient "
                f"after it was marked ready (rank {self._rank}): "
                + (
                    "it is used in the loss but not in forward's outputs, which "
                    "find_unused_parameters=True takes for unused; use it inside forward"
                    if i in self._unused
                    else "it got two gradients in one backward"
                )
            )
        self._got_grad[i] = True
        if self._arrival is not None:
            self._arrival.append(i)
        self._mark_ready(i)
        self._progress()

    def _mark_ready(self, i: int) -> None:
        b, lo, hi = self._slot[i]
        g = self._params[i].grad
        if g is None:
            b.flat[lo:hi] = 0
        else:
            b.flat[lo:hi] = g._data.reshape(-1)
        self._ready[i] = True
        b.pending -= 1
        # launch in bucket order, the same on every rank (MPI matches collectives by order)
        while (
            self._next_bucket < len(self._buckets) and self._buckets[self._next_bucket].pending == 0
        ):
            self._launch(self._buckets[self._next_bucket])
            self._next_bucket += 1

    def _launch(self, b: _Bucket) -> None:
        b.staged = dist._Staged(b.flat)
        mpi = dist._mpi()
        b.request = dist._start(
            "DistributedDataParallel all-reduce",
            lambda: dist._WORLD.comm.Iallreduce(mpi.IN_PLACE, b.staged.mpi, mpi.SUM),
        )

    def _progress(self) -> None:
        """Let MPI move the all-reduces in flight along (MPI progresses on its calls)."""
        reqs = [b.request for b in self._buckets[: self._next_bucket] if b.request is not None]
        if reqs:
            dist._mpi().Request.Testall(reqs)

    def _finish_backward(self) -> None:
        """End of backward: reduce what is left, wait, write the averages into ``.grad``."""
        self._armed = False
        if self._arrival is not None:  # the first synced backward (find_unused: the order
            self._rebuild_due = not self.find_unused_parameters  # may change: keep buckets)
            if not self._rebuild_due:
                self._arrival = None
        missing = np.flatnonzero(~self._ready).tolist()
        if missing and not self.find_unused_parameters:
            names = ", ".join(repr(self._names[i]) for i in missing)
            raise RuntimeError(
                f"DistributedDataParallel: parameters that did not receive a gradient in this "
                f"backward on rank {self._rank}: {names}. {_UNUSED_HINT}"
            )
        for i in missing:
            self._mark_ready(i)
        used = None
        mpi = dist._mpi()
        if self.find_unused_parameters:
            used = self._got_grad.astype(np.uint8)
            used_req = dist._start(
                "DistributedDataParallel all-reduce",
                lambda: dist._WORLD.comm.Iallreduce(mpi.IN_PLACE, used, mpi.MAX),
            )
        t0 = time.perf_counter()
        what = "DistributedDataParallel gradient all-reduce"
        dist._wait_all([b.request for b in self._buckets], what)
        if used is not None:
            dist._wait_all([used_req], what)
        self._comm_wait_seconds += time.perf_counter() - t0
        for b in self._buckets:
            flat = b.staged.result()
            flat /= self._world_size
            for k, i in enumerate(b.members):
                if used is not None and not used[i]:
                    continue  # no rank used it: its .grad stays as it was (torch)
                p = self._params[i]
                view = flat[b.offsets[k] : b.offsets[k + 1]].reshape(p._data.shape)
                if p.grad is None:
                    p.grad = Tensor._wrap(view.copy())
                else:
                    p.grad._mutate(lambda a, v=view: array_module(a).copyto(a, v))
            b.request = b.staged = None


def _check_same_model(module: Module, world: Any) -> None:
    """Every rank must hold the same parameters: names, shapes, dtypes, in the same order."""
    mine = [(n, tuple(p.shape), str(p.dtype)) for n, p in module.named_parameters()]
    mine += [("buffer " + n, tuple(b.shape), str(b.dtype)) for n, b in module.named_buffers()]
    every = world.comm.allgather(mine)
    ref = every[0]
    for r, theirs in enumerate(every[1:], start=1):
        if theirs == ref:
            continue
        for k in range(max(len(ref), len(theirs))):
            a = ref[k] if k < len(ref) else None
            b = theirs[k] if k < len(theirs) else None
            if a != b:
                break
        raise ValueError(
            "DistributedDataParallel: the ranks' models differ: entry "
            f"{k} is {_describe(a)} on rank 0 but {_describe(b)} on rank {r}; every rank must "
            "build the same model"
        )


def _describe(entry: Any) -> str:
    if entry is None:
        return "missing"
    name, shape, dtype = entry
    return f"{name!r} of shape {shape} and dtype {dtype}"


def _tensors_in(obj: Any) -> Iterator[Tensor]:
    """The tensors inside a forward's output (nested tuples, lists, dicts)."""
    if isinstance(obj, Tensor):
        if obj.requires_grad:
            yield obj
    elif isinstance(obj, list | tuple):
        for o in obj:
            yield from _tensors_in(o)
    elif isinstance(obj, dict):
        for o in obj.values():
            yield from _tensors_in(o)
