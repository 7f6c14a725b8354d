"""Data-parallel scaling: one Fashion-MNIST MLP epoch on 1 process and on N MPI processes.

    python -m benchmarks.bench_distributed [--processes 2] [--batch-size 128]

Each process runs one BLAS thread, so N processes use N cores; the per-process batch is the
given one (as torch's DDP), so an epoch on N processes takes 1/N of the steps per process.
Reported: epoch seconds, the communication time per step that backward's end waits for
(``exposed``), a blocking all-reduce of the whole gradient alone (``allreduce``), and the
scaling efficiency ``T1 / (N * TN)``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def _worker(batch_size: int, warmup: int) -> dict:
    """One rank: train one epoch data-parallel (or plainly in a world of one)."""
    import chainrule as cr
    import chainrule.distributed as dist
    import chainrule.nn.functional as F
    from chainrule import nn, optim
    from chainrule.data import DataLoader, DistributedSampler, TensorDataset
    from chainrule.data.datasets import load_fashion_mnist
    from chainrule.nn.parallel import DistributedDataParallel

    dist.init_process_group("mpi")
    rank, size = dist.get_rank(), dist.get_world_size()
    X, y = load_fashion_mnist(train=True)
    X = cr.tensor(X.numpy().reshape(len(X), -1).astype(np.float32))
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                          nn.Linear(128, 10))  # fmt: skip
    ds = TensorDataset(X, y)
    if size > 1:
        trained = DistributedDataParallel(model)
        loader = DataLoader(ds, batch_size=batch_size, sampler=DistributedSampler(ds, seed=0))
    else:
        trained = model
        loader = DataLoader(ds, batch_size=batch_size, shuffle=True)
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step(xb, yb) -> None:
        opt.zero_grad()
        F.cross_entropy(trained(xb), yb).backward()
        opt.step()

    batches = iter(loader)
    for _ in range(warmup):  # first steps: buckets regrouped, caches warm
        step(*next(batches))
    if size > 1:
        trained._comm_wait_seconds = 0.0
    dist.barrier()
    t0 = time.perf_counter()
    steps = 0
    for xb, yb in loader:  # one whole epoch
        step(xb, yb)
        steps += 1
    dist.barrier()
    seconds = time.perf_counter() - t0
    grad_bytes = sum(p._data.nbytes for p in model.parameters())
    flat = cr.zeros(grad_bytes // 4)
    times = []
    for _ in range(20):  # the all-reduce of one step's gradients, on its own
        dist.barrier()
        t = time.perf_counter()
        dist.all_reduce(flat)
        times.append(time.perf_counter() - t)
    exposed = trained._comm_wait_seconds / steps if size > 1 else 0.0
    return {
        "rank": rank, "processes": size, "epoch_s": seconds, "steps": steps,
        "batch_per_process": batch_size, "grad_bytes": grad_bytes,
        "exposed_comm_per_step_s": exposed, "allreduce_s": float(np.median(times)),
    }  # fmt: skip


def run(processes: int, batch_size: int = 128, warmup: int = 5) -> dict:
    """Launch the worker on ``processes`` ranks under the venv's ``mpiexec``; rank 0's record."""
    mpiexec = Path(sys.executable).parent / "mpiexec"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1"}  # fmt: skip
    cmd = [str(mpiexec), "-launcher", "fork", "-hosts", "localhost", "-n", str(processes),
           sys.executable, "-m", "benchmarks.bench_distributed", "--worker",
           "--batch-size", str(batch_size), "--warmup", str(warmup)]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"mpiexec -n {processes} failed: {out.stderr[-2000:]}")
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("{")][-1]
    return json.loads(line)


def measure(processes: int = 2, batch_size: int = 128, rounds: int = 3) -> dict:
    """Epoch time on 1 and on ``processes`` ranks (median of ``rounds``, interleaved),
    communication per step, efficiency, and the machine's load while it ran."""
    runs: dict[int, list[dict]] = {1: [], processes: []}
    for _ in range(rounds):
        for n in runs:
            runs[n].append(run(n, batch_size))

    def median(n: int) -> dict:
        recs = sorted(runs[n], key=lambda r: r["epoch_s"])
        return recs[len(recs) // 2]

    one, many = median(1), median(processes)
    return {
        "one": one, "many": many, "efficiency": one["epoch_s"] / (processes * many["epoch_s"]),
        "load_average_1min": os.getloadavg()[0], "cpus": os.cpu_count(),
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    if args.worker:
        rec = _worker(args.batch_size, args.warmup)
        if rec["rank"] == 0:
            print(json.dumps(rec), flush=True)
        return
    print(json.dumps(measure(args.processes, args.batch_size, args.rounds), indent=2))


if __name__ == "__main__":
    main()
