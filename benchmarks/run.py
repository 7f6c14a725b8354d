"""``make bench``: chainrule against PyTorch (CPU) at one BLAS thread and at two, in one table.

    python -m benchmarks.run [--quick] [--threads 1,2] [--only mlp,lenet] [--json PATH]

For each thread count a fresh process is started with ``OPENBLAS_NUM_THREADS`` /
``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` set before NumPy and PyTorch load and
``torch.set_num_threads`` to match, so chainrule and PyTorch run at the same thread count. In it
every row of ``BENCHES`` is measured: each workload timed interleaved (chainrule, PyTorch,
chainrule, ...), median of rounds, reported as the ratio chainrule / reference (below 1.0:
chainrule is faster). The runs are combined into one table (a column pair and a ratio per thread
count, the target, whether each thread count meets it), printed as text and as Markdown for the
README, and written to ``results.json`` with the machine's description.

Adding a row: write a function ``def my_row(rounds: int) -> list[dict]`` that builds its
workload, times it with ``interleave`` and returns ``row(...)``s, and decorate it with
``@bench()`` (``slow=True``: skipped by ``--quick``; ``once=True``: measured at the first thread
count only, for rows that fix their own thread count). Rows appear in registration order.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

import chainrule as cr
from benchmarks.common import dump, interleave, machine, markdown_table, ms, table
from benchmarks.gpt import memory_subprocess
from benchmarks.steps import TRAINING_STEPS
from benchmarks.workloads import (
    epoch_runs,
    mlp_batch,
    mlp_models,
    numpy_mlp_step,
    per_op_steps,
    train_steps,
)  # fmt: skip


@dataclass
class Bench:
    """One registered row function (see the module docstring)."""

    fn: Callable[[int], list[dict]]
    slow: bool = False
    once: bool = False


BENCHES: list[Bench] = []

# Rows whose step takes a few milliseconds run this many times the rounds: on the shared 2-core
# machine a median of 7 rounds of the LeNet step swung from 0.74 to 1.30 between two runs
# minutes apart (noise that lasts seconds); three times the rounds cost about a second more.
FAST_ROUNDS = 3


def bench(slow: bool = False, once: bool = False) -> Callable:
    """Register a row function ``fn(rounds) -> list[dict]`` in ``BENCHES``."""

    def register(fn: Callable[[int], list[dict]]) -> Callable[[int], list[dict]]:
        BENCHES.append(Bench(fn, slow, once))
        return fn

    return register


def row(
    name: str,
    a: float,
    b: float,
    target: float,
    unit: str = "time",
    reference: str = "PyTorch",
    faults: tuple[float, float] | None = None,
) -> dict:
    """One line of the table: chainrule's ``a`` against ``reference``'s ``b`` (seconds or MiB);
    ``faults``: each one's minor page faults per step (see ``interleave``)."""
    fmt = ms if unit == "time" else (lambda v: f"{v:.1f} MiB")
    r = {
        "workload": name, "reference_name": reference, "chainrule": fmt(a), "reference": fmt(b),
        "ratio": a / b, "target": target, "met": a / b <= target, "chainrule_s": a,
        "reference_s": b, "unit": unit,
    }  # fmt: skip
    if faults is not None:
        r["faults"] = [round(faults[0], 1), round(faults[1], 1)]
    return r


def step_row(
    name: str, cstep: Callable[[], Any], tstep: Callable[[], Any], target: float, rounds: int,
    inner: int = 1,
) -> dict:  # fmt: skip
    """The row of a training step in each library, timed interleaved, with its page faults."""
    pf: dict[str, float] = {}
    t = interleave({"cr": cstep, "torch": tstep}, rounds, inner=inner, faults=pf)
    return row(name, t["cr"], t["torch"], target, faults=(pf["cr"], pf["torch"]))


# ----- the rows -----------------------------------------------------------------------------
@bench()
def mlp(rounds: int) -> list[dict]:
    x, y = mlp_batch()
    tm, cm = mlp_models()
    cstep, tstep = train_steps(tm, cm, x, y)
    floor = numpy_mlp_step(tm, x, y)
    pf: dict[str, float] = {}
    t = interleave({"cr": cstep, "torch": tstep, "numpy": floor}, rounds * FAST_ROUNDS, inner=5,
                   faults=pf)  # fmt: skip
    s = TRAINING_STEPS["mlp"]  # built here too: the floor takes the PyTorch model's weights
    return [
        row(s.label, t["cr"], t["torch"], s.target, faults=(pf["cr"], pf["torch"])),
        row("  same, against the hand-written NumPy floor", t["cr"], t["numpy"], 1.15,
            reference="NumPy", faults=(pf["cr"], pf["numpy"])),
    ]  # fmt: skip


@bench()
def lenet(rounds: int) -> list[dict]:
    s = TRAINING_STEPS["lenet"]
    return [step_row(s.label, *s.build(), s.target, rounds * FAST_ROUNDS, inner=3)]


@bench()
def resnet(rounds: int) -> list[dict]:
    s = TRAINING_STEPS["resnet"]
    return [step_row(s.label, *s.build(), s.target, rounds)]


@bench()
def lstm(rounds: int) -> list[dict]:
    s = TRAINING_STEPS["lstm"]
    return [step_row(s.label, *s.build(), s.target, rounds, inner=3)]


@bench()
def gpt(rounds: int) -> list[dict]:
    steps = (TRAINING_STEPS["gpt_small"], TRAINING_STEPS["gpt_larger"])
    return [step_row(s.label, *s.build(), s.target, rounds) for s in steps]


@bench()
def transforms(rounds: int) -> list[dict]:
    # issue 12's targets: jvp <= 3x a forward pass, hvp <= 4x a gradient (the bench MLP, with
    # respect to its input), vmap(grad) over 64 examples >= 10x faster than a loop of grad
    from benchmarks.bench_transforms import time_transforms, workloads
    from benchmarks.bench_vmap import steps

    name, cf, tf, closs, tloss, shape = workloads()[0]
    rng = np.random.default_rng(0)
    x, v = (rng.standard_normal(shape).astype(np.float32) for _ in range(2))
    t = time_transforms(cf, tf, closs, tloss, (cr.tensor(x), cr.tensor(v)),
                        (torch.from_numpy(x), torch.from_numpy(v)), rounds)  # fmt: skip
    ways = steps(64)
    # the ratio within chainrule timed without PyTorch's calls between (see time_transforms)
    pe = interleave({k: ways[k] for k in ("vmap(grad)", "loop of grad")}, max(rounds // 2, 3))
    pt = interleave({k: ways[k] for k in ("vmap(grad)", "torch.func.vmap(grad)")},
                    max(rounds // 2, 3))  # fmt: skip
    return [
        row("jvp of the MLP, against its forward pass", t["jvp"], t["fwd"], 3.0,
            reference="forward"),
        row("hvp of the MLP's loss, against its gradient", t["hvp"], t["grad"], 4.0,
            reference="grad"),
        row("per-example grads, 64 examples: vmap(grad)", pe["vmap(grad)"], pe["loop of grad"],
            0.1, reference="loop of grad"),
        row("  same, against torch.func.vmap(grad)", pt["vmap(grad)"],
            pt["torch.func.vmap(grad)"], 1.0),
    ]  # fmt: skip


@bench()
def per_op(rounds: int) -> list[dict]:
    cstep, tstep = per_op_steps()
    t = interleave({"cr": cstep, "torch": tstep}, rounds * FAST_ROUNDS, inner=5)
    return [row("100 x (mul, add, tanh) on (4,), fwd+bwd", t["cr"], t["torch"], 0.8)]


@bench()
def scalar_microgpt(rounds: int) -> list[dict]:
    from benchmarks.bench_scalar import in_fresh_process

    g = in_fresh_process("microgpt", rounds=max(rounds // 2, 3))
    return [
        row("scalar: microgpt step, Value + fused dot/sum", g["fused_s"], g["minimal_s"], 0.5,
            reference="minimal Value"),
        row("  same, microgpt's code unchanged", g["plain_s"], g["minimal_s"], 0.5,
            reference="minimal Value"),
    ]  # fmt: skip


@bench()
def scalar_micrograd(rounds: int) -> list[dict]:
    from benchmarks.bench_scalar import in_fresh_process

    try:
        s = in_fresh_process("micrograd", rounds=max(rounds // 3, 3))
    except RuntimeError as e:
        print(f"(scalar benchmark against micrograd skipped: {e})")
        return []
    return [row("scalar: micrograd demo step vs micrograd", s["chainrule_s"], s["micrograd_s"],
                0.33, reference="micrograd")]  # fmt: skip


@bench(slow=True)
def fashion_epoch(rounds: int) -> list[dict]:
    try:
        X, Y = cr_fashion()
    except (FileNotFoundError, RuntimeError) as e:
        print(f"(Fashion-MNIST epoch skipped: {e})")
        return []
    cep, tep = epoch_runs(X, Y)
    t = interleave({"cr": cep, "torch": tep}, 3)
    return [row("Fashion-MNIST MLP epoch incl. data loading", t["cr"], t["torch"], 1.0)]


@bench(slow=True, once=True)
def data_parallel(rounds: int) -> list[dict]:
    try:
        from benchmarks.bench_distributed import measure as dp_measure

        dp = dp_measure(processes=2)
    except (FileNotFoundError, RuntimeError, ImportError) as e:
        print(f"(data-parallel epoch skipped: {e})")
        return []
    one, two = dp["one"], dp["many"]
    r = row("Fashion-MNIST MLP epoch, 2 MPI ranks vs 1", two["epoch_s"], one["epoch_s"], 0.75,
            reference="1 rank")  # fmt: skip
    r["note"] = (
        f"data parallel (1 BLAS thread per rank, {dp['cpus']} cores, load average "
        f"{dp['load_average_1min']:.1f} at the end): epoch {one['epoch_s']:.2f} s on 1 "
        f"rank, {two['epoch_s']:.2f} s on 2 (scaling efficiency {dp['efficiency']:.0%}); "
        f"per step on 2 ranks: {two['epoch_s'] / two['steps'] * 1e3:.2f} ms, of which "
        f"{two['exposed_comm_per_step_s'] * 1e3:.2f} ms waiting for the gradient "
        f"all-reduce; all-reduce of the {two['grad_bytes'] / 1e6:.2f} MB gradient alone "
        f"{two['allreduce_s'] * 1e3:.3f} ms"
    )
    r["detail"] = dp
    return [r]


@bench()
def mlp_memory(rounds: int) -> list[dict]:
    mem = {lib: _memory(lib) for lib in ("chainrule", "torch")}
    c, t = mem["chainrule"], mem["torch"]
    r = row("peak memory of one MLP step (batch 1024)", c["step_peak_mb"], t["step_peak_mb"],
            1.2, "mem")  # fmt: skip
    growth = c["rss_after_1000_mb"] - c["rss_after_10_mb"]
    r["note"] = (
        f"resident set after 10 / 1000 MLP steps: chainrule {c['rss_after_10_mb']:.1f} / "
        f"{c['rss_after_1000_mb']:.1f} MiB (growth {growth:+.1f} MiB), PyTorch "
        f"{t['rss_after_10_mb']:.1f} / {t['rss_after_1000_mb']:.1f} MiB"
    )
    r["detail"] = mem
    return [r]


@bench()
def gpt_memory(rounds: int) -> list[dict]:
    rows = []
    for config in ("small", "larger"):  # peak memory of one GPT step, a fresh process each
        gm = {lib: memory_subprocess(lib, config) for lib in ("chainrule", "torch")}
        r = row(f"peak memory of one GPT {config} step", gm["chainrule"]["step_peak_mb"],
                gm["torch"]["step_peak_mb"], 1.0, "mem")  # fmt: skip
        r["detail"] = gm
        rows.append(r)
    return rows


def cr_fashion() -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST training images, flattened float32, and labels."""
    from chainrule.data.datasets import load_fashion_mnist

    X, y = load_fashion_mnist(train=True)
    return X.numpy().reshape(len(X), -1).astype(np.float32), y.numpy().astype(np.int64)


def _memory(lib: str) -> dict:
    """The MLP step's memory in a fresh process (at this process's thread count)."""
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.memory", lib], capture_output=True, text=True,
        check=True, env=os.environ.copy(),
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


# ----- running ------------------------------------------------------------------------------
def thread_env(threads: int) -> dict[str, str]:
    """The environment that gives NumPy's BLAS (and PyTorch's OpenMP) ``threads`` threads."""
    n = str(threads)
    return {"OPENBLAS_NUM_THREADS": n, "OMP_NUM_THREADS": n, "MKL_NUM_THREADS": n,
            "BENCH_THREADS": n}  # fmt: skip


def worker(threads: int, quick: bool, first: bool, only: list[str] | None = None) -> dict:
    """Every registered row (or those named in ``only``) at ``threads`` threads (this process
    was started with them)."""
    torch.set_num_threads(threads)
    rounds = 7 if quick else 25
    rows: list[dict] = []
    for b in BENCHES:
        if (b.slow and quick) or (b.once and not first) or (only and b.fn.__name__ not in only):
            continue
        print(f"[{threads} thread{'s' * (threads > 1)}] {b.fn.__name__} ...", flush=True)
        for r in b.fn(rounds):
            r["threads"] = threads
            rows.append(r)
    return {"threads": threads, "machine": machine(), "rows": rows}


def run_threads(threads: int, quick: bool, first: bool, only: str | None = None) -> dict:
    """``worker`` in a fresh process with the thread count set before NumPy and PyTorch load."""
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "rows.json"
        cmd = [sys.executable, "-m", "benchmarks.run", "--worker", str(threads), "--out", str(out)]
        cmd += ["--quick"] * quick + ["--first"] * first + (["--only", only] if only else [])
        subprocess.run(cmd, check=True, env={**os.environ, **thread_env(threads)})
        return json.loads(out.read_text())


def combine(runs: list[dict]) -> list[dict]:
    """One entry per workload, with each thread count's measurement under ``by_threads``."""
    merged: dict[str, dict] = {}
    for run in runs:
        for r in run["rows"]:
            m = merged.setdefault(
                r["workload"],
                {"workload": r["workload"], "reference_name": r["reference_name"],
                 "target": r["target"], "by_threads": {}},
            )  # fmt: skip
            m["by_threads"][str(run["threads"])] = r
    return list(merged.values())


def fault_lines(rows: list[dict], counts: list[int]) -> str:
    """Minor page faults per step, chainrule / reference, of the rows that counted them.

    Example:
        >>> r = {"workload": "w", "by_threads": {"1": {"faults": [3.0, 0.0]}}}
        >>> print(fault_lines([r], [1]))
        minor page faults per step, chainrule / reference (1 thread):
          w: 3 / 0
    """
    head = " | ".join(f"{n} thread{'s' * (n > 1)}" for n in counts)
    lines = [f"minor page faults per step, chainrule / reference ({head}):"]
    for r in rows:
        cells = []
        for n in counts:
            f = r["by_threads"].get(str(n), {}).get("faults")
            cells.append("-" if f is None else f"{f[0]:.0f} / {f[1]:.0f}")
        if any(c != "-" for c in cells):
            lines.append(f"  {r['workload'].strip()}: " + " | ".join(cells))
    return "\n".join(lines)


TWO_THREADS_NOTE = (
    "with more than one thread, each block waited benchmarks.common.SETTLE_S seconds and made "
    "one untimed call first,\nso that the other library's spinning thread pools had gone idle; "
    "`make bench-alone` times each library's steps\nin a process of its own"
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer rounds, no slow epochs")
    ap.add_argument("--threads", default="1,2", help="thread counts, comma-separated")
    ap.add_argument("--json", default="benchmarks/results.json", help="where to write results")
    ap.add_argument("--only", help="run only these rows (function names, comma-separated)")
    ap.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("--first", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        only = args.only.split(",") if args.only else None
        dump(args.out, worker(args.worker, args.quick, args.first, only))
        return
    counts = [int(t) for t in args.threads.split(",")]
    start = machine()
    runs = [run_threads(n, args.quick, i == 0, args.only) for i, n in enumerate(counts)]
    rows = combine(runs)
    end = machine()
    desc = {**start, "load_average_end": end["load_average"]}
    desc["blas"] = {f"{r['threads']} threads": r["machine"]["blas"] for r in runs}  # as each ran
    desc.pop("torch_threads", None)
    print(f"\nmachine: {json.dumps(desc)}\n")
    print(table(rows, counts))
    for r in rows:
        for m in r["by_threads"].values():
            if "note" in m:
                print(m["note"])
                break
    print(fault_lines(rows, counts))
    if any(n > 1 for n in counts):
        print(TWO_THREADS_NOTE)
    print("\nMarkdown, for the README:\n")
    print(markdown_table(rows, counts))
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    dump(args.json, {"machine": desc, "threads": counts, "quick": args.quick, "rows": rows,
                     "runs": runs})  # fmt: skip
    print(f"\nresults written to {args.json}")


if __name__ == "__main__":
    main()
