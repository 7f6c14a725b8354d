"""Data-parallel training over MPI: collectives, DistributedDataParallel, DistributedSampler,
the ``chainrule train`` command under ``mpiexec``, and failures that must end every rank.

The multi-process tests run small scripts under ``mpiexec -n 2`` (or 3) from the venv's MPICH,
each rank checking its own results (a failed assert aborts every rank with the rank named).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

import chainrule as cr
import chainrule.distributed as dist
from chainrule.data import DataLoader, DistributedSampler, TensorDataset
from chainrule.nn.parallel import DistributedDataParallel as DDP

SRC = Path(cr.__file__).resolve().parent.parent


def _mpiexec() -> str | None:
    here = Path(sys.executable).parent / "mpiexec"
    return str(here) if here.exists() else shutil.which("mpiexec")


MPIEXEC = _mpiexec()
needs_mpi = pytest.mark.skipif(
    not dist.is_available() or MPIEXEC is None,
    reason="needs mpi4py and mpiexec (pip install chainrule[distributed])",
)


def mpirun(tmp_path: Path, n: int, script: str, *args: str, timeout: float = 90):
    """Run ``script`` (Python source) on ``n`` ranks; return the finished process."""
    path = tmp_path / "job.py"
    path.write_text(textwrap.dedent(script))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), str(Path(__file__).parent)]),
        "OMP_NUM_THREADS": "1",  # n ranks on few cores: one BLAS thread each
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    cmd = [MPIEXEC, "-launcher", "fork", "-hosts", "localhost", "-n", str(n)]
    return subprocess.run(
        [*cmd, sys.executable, str(path), *args], capture_output=True, text=True,
        timeout=timeout, env=env, cwd=tmp_path,
    )  # fmt: skip


def assert_ok(proc, n: int, where: Path) -> None:
    """Every rank ran its script to the end."""
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for r in range(n):
        assert (where / f"ok.{r}").exists(), f"rank {r} did not finish: {proc.stdout}{proc.stderr}"


PRELUDE = """
import numpy as np
import chainrule as cr
import chainrule.distributed as dist
dist.init_process_group("mpi")
rank, size = dist.get_rank(), dist.get_world_size()
def done():  # a file per rank: lines that ranks print may interleave
    open(f"ok.{rank}", "w").close()
"""


def with_prelude(body: str) -> str:
    """``body`` after the lines that start the process group."""
    return PRELUDE + textwrap.dedent(body)


# ----- collectives against NumPy ----------------------------------------------------------


@needs_mpi
def test_collectives_match_numpy(tmp_path):
    script = with_prelude(
        """
    R = dist.ReduceOp
    def data(r, shape=(3, 4), dtype=np.float64):
        return np.random.default_rng(r).standard_normal(shape).astype(dtype)
    every = np.stack([data(r) for r in range(size)])
    expect = {R.SUM: every.sum(0), R.AVG: every.mean(0), R.MAX: every.max(0),
              R.MIN: every.min(0), R.PRODUCT: every.prod(0)}
    for op, want in expect.items():
        for dtype in (np.float64, np.float32):
            t = cr.tensor(data(rank, dtype=dtype))
            v = t._version
            arr = t._data
            dist.all_reduce(t, op=op)
            assert t._data is arr, "all_reduce must work in place"
            assert t._version > v, "all_reduce must bump the version"
            assert t.dtype == dtype
            np.testing.assert_allclose(t.numpy(), want, rtol=1e-6 if dtype == np.float32 else 1e-12)
    # integers, bit ops, bools (SUM is a logical or), float16, a 0-d tensor, an empty one
    ints = np.stack([np.arange(6) * (r + 1) + r for r in range(size)]).astype(np.int64)
    for op, want in ((R.SUM, ints.sum(0)), (R.BXOR, np.bitwise_xor.reduce(ints, 0)),
                     (R.BAND, np.bitwise_and.reduce(ints, 0)), (R.MAX, ints.max(0))):
        t = cr.tensor(ints[rank]); dist.all_reduce(t, op); assert t.tolist() == want.tolist()
    b = cr.tensor(np.array([rank == 0, False, True]))
    dist.all_reduce(b); assert b.tolist() == [True, False, True]
    b = cr.tensor(np.array([rank == 0, True])); dist.all_reduce(b, R.MIN)
    assert b.tolist() == [size == 1, True]
    h = cr.tensor(np.full(3, rank + 1, np.float16)); dist.all_reduce(h)
    assert h.dtype == np.float16 and h.tolist() == [size * (size + 1) / 2] * 3
    s = cr.tensor(float(rank)); dist.all_reduce(s); assert s.shape == () and s.item() == sum(range(size))
    e = cr.zeros(0); dist.all_reduce(e); assert e.shape == (0,)
    # a non-contiguous view: reduced through a copy, written back into the base's memory
    base = cr.tensor(data(rank, (4, 3)))
    view = base.transpose(0, 1)
    dist.all_reduce(view)
    want = np.stack([data(r, (4, 3)) for r in range(size)]).sum(0)
    np.testing.assert_allclose(base.numpy(), want, rtol=1e-12)
    # async: a Work
    t = cr.tensor(data(rank))
    w = dist.all_reduce(t, op=R.AVG, async_op=True)
    assert w.wait() is True and w.is_completed()
    np.testing.assert_allclose(t.numpy(), every.mean(0), rtol=1e-12)
    # broadcast from the last rank
    t = cr.tensor(data(rank)); dist.broadcast(t, src=size - 1)
    np.testing.assert_array_equal(t.numpy(), data(size - 1))
    t = cr.tensor(np.arange(5) + 10 * rank); w = dist.broadcast(t, 0, async_op=True); w.wait()
    assert t.tolist() == list(range(5))
    # all_gather, into a list and into one tensor (concatenated and stacked)
    outs = [cr.zeros(3, 4, dtype="float64") for _ in range(size)]
    dist.all_gather(outs, cr.tensor(data(rank)))
    for r in range(size):
        np.testing.assert_array_equal(outs[r].numpy(), data(r))
    cat = cr.zeros(3 * size, 4, dtype="float64")
    dist.all_gather_into_tensor(cat, cr.tensor(data(rank)))
    np.testing.assert_array_equal(cat.numpy(), np.concatenate([data(r) for r in range(size)]))
    stk = cr.zeros(size, 3, 4, dtype="float64")
    assert dist.all_gather_into_tensor(stk, cr.tensor(data(rank))) is None
    np.testing.assert_array_equal(stk.numpy(), every)
    # reduce_scatter: rank r gets the reduction of block r
    blocks = np.stack([data(10 + r, (size, 2, 3)) for r in range(size)])  # [from rank, block]
    out = cr.zeros(2, 3, dtype="float64")
    dist.reduce_scatter(out, [cr.tensor(blocks[rank, j]) for j in range(size)])
    np.testing.assert_allclose(out.numpy(), blocks[:, rank].sum(0), rtol=1e-12)
    out = cr.zeros(2, 3, dtype="float64")
    dist.reduce_scatter_tensor(out, cr.tensor(blocks[rank].reshape(size * 2, 3)), op=R.MAX)
    np.testing.assert_array_equal(out.numpy(), blocks[:, rank].max(0))
    out = cr.zeros(2, 3, dtype="float64")
    w = dist.reduce_scatter_tensor(out, cr.tensor(blocks[rank]), op=R.AVG, async_op=True)
    w.wait(timeout=30)
    np.testing.assert_allclose(out.numpy(), blocks[:, rank].mean(0), rtol=1e-12)
    dist.barrier(); assert dist.barrier(async_op=True).wait()
    # bad input names the collective and the fault
    def raises(exc, text, fn, *a, **k):
        try:
            fn(*a, **k)
        except exc as e:
            assert text in str(e), str(e)
        else:
            raise AssertionError(f"no {exc.__name__} for {text}")
    raises(TypeError, "ReduceOp.AVG needs a floating-point", dist.all_reduce, cr.tensor([1]), R.AVG)
    raises(TypeError, "ReduceOp.BXOR needs an integer", dist.all_reduce, cr.tensor([1.0]), R.BXOR)
    raises(TypeError, "expected a chainrule Tensor", dist.all_reduce, np.ones(2))
    raises(TypeError, "op must be a dist.ReduceOp", dist.all_reduce, cr.ones(2), "sum")
    raises(ValueError, f"src={size} is not a rank", dist.broadcast, cr.ones(2), size)
    raises(ValueError, f"tensor_list must hold world_size={size}", dist.all_gather, [], cr.ones(2))
    raises(ValueError, "tensor_list[0] has shape (3,)", dist.all_gather,
           [cr.ones(3)] * size, cr.ones(2))
    raises(ValueError, "output_tensor has shape (1,)", dist.all_gather_into_tensor,
           cr.ones(1), cr.ones(2))
    raises(RuntimeError, "twice", dist.init_process_group, "mpi")
    dist.barrier()
    done()
    """
    )
    assert_ok(mpirun(tmp_path, 3, script), 3, tmp_path)


# ----- DistributedDataParallel equals one process on the whole batch -----------------------

DDP_SCRIPT = with_prelude(
    """
import sys
from chainrule import nn
from chainrule.nn.parallel import DistributedDataParallel as DDP

def make(kind):
    cr.manual_seed(0)
    if kind == "mlp":
        return nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 8), nn.ReLU(),
                             nn.Linear(8, 3)).double()
    return nn.Sequential(nn.Linear(5, 12), nn.BatchNorm1d(12), nn.ReLU(),
                         nn.Linear(12, 3)).double()

def optimizer(name, params):
    return (cr.optim.SGD(params, lr=0.1, momentum=0.9) if name == "sgd"
            else cr.optim.Adam(params, lr=0.01))

def batches(steps, per_rank):
    g = np.random.default_rng(42)
    return [(g.standard_normal((size * per_rank, 5)), g.integers(0, 3, size * per_rank))
            for _ in range(steps)]

loss_fn = nn.CrossEntropyLoss()
for kind in ("mlp", "bn"):
    for opt_name in ("sgd", "adam"):
        for cap in (None, 0.0005):  # default buckets, and many small buckets
            steps, B = 4, 6
            data = batches(steps, B)
            # one process: the whole batch; BatchNorm normalizes each rank's share separately
            # (DDP has no SyncBatchNorm) and keeps rank 0's running statistics
            ref = make(kind)
            ropt = optimizer(opt_name, ref.parameters())
            bn = [m for m in ref.modules() if isinstance(m, nn.BatchNorm1d)]
            for X, y in data:
                ropt.zero_grad()
                if kind == "mlp":
                    loss = loss_fn(ref(cr.tensor(X)), cr.tensor(y))
                else:
                    losses = []
                    for r in range(size):
                        if r == 1:
                            kept = [[b.clone() for b in m.buffers()] for m in bn]
                        sl = slice(r * B, (r + 1) * B)
                        losses.append(loss_fn(ref(cr.tensor(X[sl])), cr.tensor(y[sl])))
                    if size > 1:
                        for m, saved in zip(bn, kept):
                            for b, v in zip(m.buffers(), saved):
                                b.copy_(v)
                    loss = sum(losses[1:], losses[0]) / size
                loss.backward()
                ropt.step()
            # data parallel: rank r trains on its share
            model = make(kind)
            if rank == 1:  # a different start: wrapping copies rank 0's weights
                for p in model.parameters():
                    p.data = p.data + 1.0
            ddp = DDP(model, bucket_cap_mb=cap)
            opt = optimizer(opt_name, ddp.parameters())
            launched_at = []  # how many gradients were ready when each bucket's all-reduce began
            launch = ddp._launch
            ddp._launch = lambda b: (launched_at.append(int(ddp._ready.sum())), launch(b))
            for X, y in data:
                sl = slice(rank * B, (rank + 1) * B)
                opt.zero_grad()
                loss_fn(ddp(cr.tensor(X[sl])), cr.tensor(y[sl])).backward()
                opt.step()
            if cap is not None:  # after the first step (buckets regrouped in arrival order),
                # a bucket's all-reduce starts as soon as it is full, before backward ends
                n_params = len(list(model.parameters()))
                last = launched_at[-len(ddp._buckets):]
                assert len(ddp._buckets) > 1, len(ddp._buckets)
                assert last[0] < n_params and last == sorted(last), launched_at
            for (name, p), q in zip(model.named_parameters(), ref.parameters()):
                err = np.abs(p.detach().numpy() - q.detach().numpy()).max()
                assert err < 1e-6, f"{kind} {opt_name} cap={cap} {name}: off by {err}"
                every = cr.zeros(size, *p.shape, dtype="float64")
                dist.all_gather_into_tensor(every, p.detach())
                assert (every.numpy() == p.detach().numpy()).all(), f"replicas differ at {name}"
            if rank == 0:
                for b, rb in zip(model.buffers(), ref.buffers()):
                    np.testing.assert_allclose(b.numpy(), rb.numpy(), rtol=1e-9, atol=1e-12)
            # a forward broadcasts rank 0's buffers (running statistics) to every rank
            ddp.eval()
            with cr.no_grad():
                ddp(cr.tensor(data[0][0][:2]))
            for b in model.buffers():
                every = cr.zeros(size, *b.shape, dtype=b.dtype)
                dist.all_gather_into_tensor(every, b)
                assert (every.numpy() == b.numpy()).all(), "buffers differ across ranks"
            # the wrapper's state_dict is the module's under "module."
            assert list(ddp.state_dict()) == ["module." + k for k in model.state_dict()]
done()
"""
)


@needs_mpi
@pytest.mark.parametrize("n", [2, 3])
def test_ddp_matches_one_process_on_the_whole_batch(tmp_path, n):
    assert_ok(mpirun(tmp_path, n, DDP_SCRIPT), n, tmp_path)


@needs_mpi
def test_no_sync_accumulation_equals_one_big_step(tmp_path):
    script = with_prelude(
        """
    from chainrule import nn
    from chainrule.nn.parallel import DistributedDataParallel as DDP
    def make():
        cr.manual_seed(1)
        return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2)).double()
    g = np.random.default_rng(7)
    micro, B = 3, 5
    X = g.standard_normal((micro, size * B, 4)); Y = g.standard_normal((micro, size * B, 2))
    mse = nn.MSELoss()
    ref = make()
    ropt = cr.optim.SGD(ref.parameters(), lr=0.05)
    for m in range(micro):  # one process: the sum of the micro-batches' mean losses
        mse(ref(cr.tensor(X[m])), cr.tensor(Y[m])).backward()
    ropt.step()
    model = make()
    ddp = DDP(model)
    opt = cr.optim.SGD(ddp.parameters(), lr=0.05)
    sl = slice(rank * B, (rank + 1) * B)
    local = make()
    with ddp.no_sync():
        for m in range(micro - 1):
            mse(ddp(cr.tensor(X[m, sl])), cr.tensor(Y[m, sl])).backward()
            mse(local(cr.tensor(X[m, sl])), cr.tensor(Y[m, sl])).backward()
    for p, q in zip(model.parameters(), local.parameters()):  # no communication happened
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-12)
    mse(ddp(cr.tensor(X[-1, sl])), cr.tensor(Y[-1, sl])).backward()  # reduces everything
    opt.step()
    for (name, p), q in zip(model.named_parameters(), ref.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-9, atol=1e-12)
        err = np.abs(p.detach().numpy() - q.detach().numpy()).max()
        assert err < 1e-9, f"{name}: {err}"
    done()
    """
    )
    assert_ok(mpirun(tmp_path, 2, script), 2, tmp_path)


@needs_mpi
def test_unused_parameters(tmp_path):
    script = with_prelude(
        """
    from chainrule import nn
    from chainrule.nn.parallel import DistributedDataParallel as DDP
    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(3, 2).double(); self.b = nn.Linear(3, 2).double()
            self.never = nn.Linear(3, 2).double()
        def forward(self, x, use_b):
            return self.a(x) + (self.b(x) if use_b else 0.0)
    cr.manual_seed(0)
    x = cr.tensor(np.random.default_rng(rank).standard_normal((4, 3)))
    # find_unused_parameters=True: 'b' used on rank 0 only, 'never' on no rank
    ddp = DDP(Branchy(), find_unused_parameters=True)
    ddp(x, use_b=rank == 0).sum().backward()
    m = ddp.module
    ref = Branchy(); ref.load_state_dict(m.state_dict())
    xs = [cr.tensor(np.random.default_rng(r).standard_normal((4, 3))) for r in range(size)]
    for r in range(size):
        ref(xs[r], use_b=r == 0).sum().backward()
    for name in ("a.weight", "a.bias", "b.weight", "b.bias"):
        got = dict(m.named_parameters())[name].grad
        want = dict(ref.named_parameters())[name].grad.numpy() / size
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-12, err_msg=name)
    assert m.never.weight.grad is None  # used by no rank: left as it was (torch)
    # again, with grads already there (a second iteration)
    ddp(x, use_b=rank == 0).sum().backward()
    np.testing.assert_allclose(m.a.bias.grad.numpy(), 2 * ref.a.bias.grad.numpy() / size)
    # find_unused_parameters=False: a clear error that names the parameters
    strict = DDP(Branchy())
    try:
        strict(x, use_b=True).sum().backward()
    except RuntimeError as e:
        msg = str(e)
        assert "'never.weight', 'never.bias'" in msg and f"on rank {rank}" in msg, msg
        assert "find_unused_parameters=True" in msg, msg
    else:
        raise AssertionError("no error for unused parameters")
    done()
    """
    )
    assert_ok(mpirun(tmp_path, 2, script), 2, tmp_path)


# ----- failures end every rank ------------------------------------------------------------


@needs_mpi
def test_an_error_on_one_rank_ends_every_rank(tmp_path):
    script = with_prelude(
        """
    import time
    dist.barrier()
    if rank == 1:
        raise ValueError("boom on purpose")
    dist.all_reduce(cr.ones(3))  # the others wait for rank 1, which never comes
    time.sleep(60)
    """
    )
    proc = mpirun(tmp_path, 3, script, timeout=60)
    assert proc.returncode != 0
    assert "rank 1 of 3 failed with ValueError: boom on purpose" in proc.stderr, proc.stderr


@needs_mpi
def test_collective_timeout(tmp_path):
    script = """
    import time
    import chainrule as cr
    import chainrule.distributed as dist
    dist.init_process_group("mpi", timeout=0.5)
    if dist.get_rank() == 0:
        dist.all_reduce(cr.ones(2))  # rank 1 never joins
    time.sleep(30)
    """
    proc = mpirun(tmp_path, 2, script, timeout=60)
    assert proc.returncode != 0
    assert "all_reduce: timed out after 0.5 s waiting for the other ranks on rank 0" in proc.stderr


@needs_mpi
def test_models_that_differ_across_ranks_fail_at_wrap_time(tmp_path):
    script = with_prelude(
        """
    from chainrule import nn
    from chainrule.nn.parallel import DistributedDataParallel as DDP
    DDP(nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2 + rank)))
    """
    )
    proc = mpirun(tmp_path, 2, script, timeout=60)
    assert proc.returncode != 0
    assert (
        "the ranks' models differ: entry 2 is '1.weight' of shape (2, 4) and dtype float32 on "
        "rank 0 but '1.weight' of shape (3, 4) and dtype float32 on rank 1"
    ) in proc.stderr, proc.stderr


# ----- the command --------------------------------------------------------------------------


@needs_mpi
def test_cli_trains_data_parallel_and_writes_once(tmp_path):
    script = """
    import sys
    from chainrule.cli import main
    sys.exit(main(sys.argv[1:]))
    """
    args = ["train", "--dataset", "digits", "--model", "mlp", "--hidden", "32", "--epochs", "2",
            "--no-progress", "--out", str(tmp_path / "runs"), "--name", "dp"]  # fmt: skip
    proc = mpirun(tmp_path, 2, script, *args)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert out.count("chainrule: mlp") == 1 and "data-parallel over 2 processes" in out, out
    assert out.count("wrote ") == 1 and out.count("epoch   2") == 1, out
    run = tmp_path / "runs" / "dp"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["processes"] == 2
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["dp"]
    # the checkpoint loads into a model in this single process
    from chainrule.cli import load_dataset
    from chainrule.train import build_model

    state = cr.load(run / "model.crt")
    model = build_model("mlp", (1, 8, 8), 10, hidden=(32,))
    model.load_state_dict(state["model"])
    d = load_dataset("digits", 0)
    acc = (model(d["X_test"]).argmax(1).numpy() == d["y_test"].numpy()).mean()
    assert abs(acc - metrics["test_accuracy"]) < 1e-9


@needs_mpi
def test_cli_error_on_a_rank_ends_the_job(tmp_path):
    script = """
    import sys
    from chainrule.cli import main
    sys.exit(main(sys.argv[1:]))
    """
    (tmp_path / "file").write_text("not a folder")
    args = ["train", "--dataset", "moons", "--epochs", "1", "--out", str(tmp_path / "file")]
    proc = mpirun(tmp_path, 2, script, *args, timeout=60)
    assert proc.returncode != 0
    assert "chainrule: error (rank 0 of 2): --out:" in proc.stderr, proc.stderr


# ----- in one process -------------------------------------------------------------------------


@pytest.fixture
def world_of_one():
    dist.init_process_group("mpi")
    yield
    dist.destroy_process_group()


def test_not_initialized_errors():
    assert not dist.is_initialized()
    for fn, args in ((dist.get_rank, ()), (dist.all_reduce, (cr.ones(1),)), (dist.barrier, ())):
        with pytest.raises(ValueError, match=r"Default process group has not been initialized"):
            fn(*args)
    with pytest.raises(ValueError, match="DistributedDataParallel: Default process group"):
        DDP(cr.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="get_world_size: Default process group"):
        DistributedSampler(range(4))


def test_bad_backend_and_missing_mpi4py(monkeypatch):
    with pytest.raises(ValueError, match="backend must be 'mpi'.*got 'nccl'"):
        dist.init_process_group("nccl")
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    with pytest.raises(ImportError, match=r"pip install chainrule\[distributed\]"):
        dist.init_process_group("mpi")
    assert not dist.is_initialized()


@needs_mpi
def test_world_of_one_ddp_gives_local_gradients(world_of_one):
    cr.manual_seed(0)
    ref = cr.nn.Sequential(cr.nn.Linear(3, 4), cr.nn.ReLU(), cr.nn.Linear(4, 1))
    model = cr.nn.Sequential(cr.nn.Linear(3, 4), cr.nn.ReLU(), cr.nn.Linear(4, 1))
    model.load_state_dict(ref.state_dict())
    ddp = DDP(model, bucket_cap_mb=1e-5)
    x = cr.randn(5, 3)
    ddp(x).pow(2).sum().backward()
    ref(x).pow(2).sum().backward()
    for p, q in zip(model.parameters(), ref.parameters()):
        np.testing.assert_array_equal(p.grad.numpy(), q.grad.numpy())
    assert dist.get_backend() == "mpi" and dist.get_world_size() == 1
    with pytest.raises(ValueError, match="only the default group"):
        dist.all_reduce(cr.ones(1), group="sub")
    with pytest.raises(TypeError, match="MPI cannot send tensors of dtype"):
        dist.broadcast(cr.Tensor._wrap(np.array(["a"])))


# ----- DistributedSampler: torch's partition ------------------------------------------------


@pytest.mark.parametrize("drop_last", [False, True])
@pytest.mark.parametrize("replicas", [1, 2, 3, 4, 7])
@pytest.mark.parametrize("n", [0, 1, 2, 5, 6, 10, 13])
def test_sampler_partition_equals_torch(n, replicas, drop_last):
    ds = list(range(n))
    for rank in range(replicas):
        ours = DistributedSampler(ds, num_replicas=replicas, rank=rank, shuffle=False,
                                  drop_last=drop_last)  # fmt: skip
        theirs = torch.utils.data.DistributedSampler(
            ds, num_replicas=replicas, rank=rank, shuffle=False, drop_last=drop_last
        )
        assert list(ours) == list(theirs) and len(ours) == len(theirs)
        assert (ours.num_samples, ours.total_size) == (theirs.num_samples, theirs.total_size)


@pytest.mark.parametrize("drop_last", [False, True])
@pytest.mark.parametrize("n, replicas", [(10, 3), (12, 4), (3, 5), (17, 2)])
def test_shuffled_sampler_covers_exactly(n, replicas, drop_last):
    for epoch in range(3):
        parts = []
        for rank in range(replicas):
            s = DistributedSampler(range(n), replicas, rank, shuffle=True, seed=5,
                                   drop_last=drop_last)  # fmt: skip
            s.set_epoch(epoch)
            parts.append(list(s))
        assert len({len(p) for p in parts}) == 1  # every rank the same number of samples
        flat = [i for p in parts for i in p]
        total = len(parts[0]) * replicas
        if drop_last:  # disjoint, and only the remainder is missing
            assert len(set(flat)) == len(flat) == total == n - n % replicas
        else:  # every index, plus the padding repeated from the start of the permutation
            assert set(flat) == set(range(n)) and len(flat) == total
            counts = np.bincount(flat, minlength=n)
            assert counts.max() <= -(-total // n) and counts.sum() == total
    orders = []
    for epoch in (0, 1):
        s = DistributedSampler(range(50), 2, 0, seed=1)
        s.set_epoch(epoch)
        orders.append(list(s))
    assert orders[0] != orders[1]  # set_epoch reshuffles
    s = DistributedSampler(range(50), 2, 0, seed=1)
    assert list(s) == orders[0] == list(s)  # and a pass is reproducible


def test_sampler_in_a_dataloader_and_bad_arguments():
    X = cr.arange(22.0).reshape(11, 2)
    ds = TensorDataset(X, cr.arange(11))
    s = DistributedSampler(ds, num_replicas=3, rank=2, shuffle=True, seed=3)
    loader = DataLoader(ds, batch_size=2, sampler=s)
    got = [i for _, yb in loader for i in yb.tolist()]
    assert got == list(s) and len(loader) == 2
    with pytest.raises(
        ValueError, match=r"Invalid rank 3, rank should be in the interval \[0, 2\]"
    ):
        DistributedSampler(ds, num_replicas=3, rank=3)
    with pytest.raises(ValueError, match="num_replicas must be positive"):
        DistributedSampler(ds, num_replicas=0, rank=0)
