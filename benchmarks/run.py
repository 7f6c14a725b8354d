"""``make bench``: chainrule against PyTorch (CPU, same thread count), side by side in one run.

    python -m benchmarks.run [--quick] [--json benchmarks/results.json]

Each workload is timed interleaved (chainrule, PyTorch, chainrule, ...), median of rounds, and
reported as the ratio chainrule time / PyTorch time (below 1.0: chainrule is faster).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import dump, interleave, machine, ms, table
from benchmarks.gpt import GPT_LABELS, gpt_steps, memory_subprocess
from benchmarks.workloads import (
    cnn_models,
    epoch_runs,
    lstm_steps,
    mlp_models,
    numpy_mlp_step,
    per_op_steps,
    train_steps,
)  # fmt: skip


def blas_threads() -> int:
    """How many threads NumPy's BLAS uses (PyTorch is given the same number)."""
    try:
        from threadpoolctl import threadpool_info

        counts = [i["num_threads"] for i in threadpool_info() if i.get("user_api") == "blas"]
        if counts:
            return int(max(counts))
    except ImportError:
        pass
    return os.cpu_count() or 1


def row(name: str, a: float, b: float, target: float, unit: str = "time") -> dict:
    """One line of the table."""
    fmt = ms if unit == "time" else (lambda v: f"{v:.1f} MiB")
    return {
        "workload": name, "chainrule": fmt(a), "reference": fmt(b), "ratio": a / b,
        "target": f"<= {target:g}", "met": a / b <= target, "chainrule_s": a, "reference_s": b,
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="fewer rounds, no Fashion-MNIST epoch")
    ap.add_argument("--json", default="benchmarks/results.json", help="where to write results")
    args = ap.parse_args()
    rounds = 7 if args.quick else 25
    torch.set_num_threads(blas_threads())
    rng = np.random.default_rng(0)
    rows = []
    notes: list[str] = []
    extra: dict = {}

    x = rng.standard_normal((128, 784)).astype(np.float32)
    y = rng.integers(0, 10, 128).astype(np.int64)
    tm, cm = mlp_models()
    cstep, tstep = train_steps(tm, cm, x, y)
    floor = numpy_mlp_step(tm, x, y)
    t = interleave({"cr": cstep, "torch": tstep, "numpy": floor}, rounds, inner=5)
    rows.append(row("MLP 784-256-128-10, batch 128, SGD step", t["cr"], t["torch"], 1.0))
    rows.append(row("  same, against the hand-written NumPy floor", t["cr"], t["numpy"], 1.15))

    xc = rng.standard_normal((64, 1, 28, 28)).astype(np.float32)
    yc = rng.integers(0, 10, 64).astype(np.int64)
    cstep, tstep = train_steps(*cnn_models(), xc, yc)
    t = interleave({"cr": cstep, "torch": tstep}, rounds, inner=3)
    rows.append(row("LeNet CNN, batch 64, 28x28, SGD step", t["cr"], t["torch"], 1.5))

    cstep, tstep = lstm_steps()
    t = interleave({"cr": cstep, "torch": tstep}, rounds, inner=3)
    rows.append(row("LSTM 64->128, seq 32, batch 32, Adam step", t["cr"], t["torch"], 1.5))

    for config in ("small", "larger"):  # GPT training step: forward, cross-entropy, backward, AdamW
        cstep, tstep = gpt_steps(config)
        t = interleave({"cr": cstep, "torch": tstep}, rounds)
        rows.append(row(f"GPT {GPT_LABELS[config]}, AdamW step", t["cr"], t["torch"], 1.0))

    cstep, tstep = per_op_steps()
    t = interleave({"cr": cstep, "torch": tstep}, rounds, inner=5)
    rows.append(row("100 x (mul, add, tanh) on (4,), fwd+bwd", t["cr"], t["torch"], 1.0))

    try:
        from benchmarks.bench_scalar import measure as scalar_measure

        s = scalar_measure(rounds=max(rounds // 3, 3))
        rows.append(
            row("scalar engine vs micrograd, demo step", s["chainrule_s"], s["micrograd_s"], 0.33)
        )
    except ImportError as e:
        print(f"(scalar benchmark skipped: {e})")

    if not args.quick:
        try:
            X, Y = cr_fashion()
            cep, tep = epoch_runs(X, Y)
            t = interleave({"cr": cep, "torch": tep}, 3)
            rows.append(row("Fashion-MNIST MLP epoch incl. data loading", t["cr"], t["torch"], 1.0))
        except (FileNotFoundError, RuntimeError) as e:
            print(f"(Fashion-MNIST epoch skipped: {e})")
        try:
            from benchmarks.bench_distributed import measure as dp_measure

            dp = dp_measure(processes=2)
            one, two = dp["one"], dp["many"]
            rows.append(
                row("Fashion-MNIST MLP epoch, 2 MPI ranks vs 1", two["epoch_s"], one["epoch_s"],
                    0.75)
            )  # fmt: skip
            notes.append(
                f"data parallel (1 BLAS thread per rank, {dp['cpus']} cores, load average "
                f"{dp['load_average_1min']:.1f} at the end): epoch {one['epoch_s']:.2f} s on 1 "
                f"rank, {two['epoch_s']:.2f} s on 2 (scaling efficiency {dp['efficiency']:.0%}); "
                f"per step on 2 ranks: {two['epoch_s'] / two['steps'] * 1e3:.2f} ms, of which "
                f"{two['exposed_comm_per_step_s'] * 1e3:.2f} ms waiting for the gradient "
                f"all-reduce; all-reduce of the {two['grad_bytes'] / 1e6:.2f} MB gradient alone "
                f"{two['allreduce_s'] * 1e3:.3f} ms"
            )
            extra["distributed"] = dp
        except (FileNotFoundError, RuntimeError, ImportError) as e:
            print(f"(data-parallel epoch skipped: {e})")

    mem = {lib: _memory(lib) for lib in ("chainrule", "torch")}
    c, r = mem["chainrule"], mem["torch"]
    rows.append(
        row(
            "peak memory of one MLP step (batch 1024)",
            c["step_peak_mb"],
            r["step_peak_mb"],
            1.2,
            "mem",
        )
    )
    growth = c["rss_after_1000_mb"] - c["rss_after_10_mb"]
    for config in ("small", "larger"):  # peak memory of one GPT step, a fresh process each
        gm = {lib: memory_subprocess(lib, config) for lib in ("chainrule", "torch")}
        rows.append(
            row(f"peak memory of one GPT {config} step", gm["chainrule"]["step_peak_mb"],
                gm["torch"]["step_peak_mb"], 1.0, "mem")
        )  # fmt: skip
        mem[f"gpt_{config}"] = gm

    print(f"\nmachine: {json.dumps(machine())}\n")
    print(table(rows))
    print(
        f"\nresident set after 10 / 1000 steps: chainrule {c['rss_after_10_mb']:.1f} / "
        f"{c['rss_after_1000_mb']:.1f} MiB (growth {growth:+.1f} MiB), PyTorch "
        f"{r['rss_after_10_mb']:.1f} / {r['rss_after_1000_mb']:.1f} MiB"
    )
    for note in notes:
        print(note)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    dump(args.json, {"machine": machine(), "rows": rows, "memory": mem, **extra})
    print(f"results written to {args.json}")


def cr_fashion() -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST training images, flattened float32, and labels."""
    from chainrule.data.datasets import load_fashion_mnist

    X, y = load_fashion_mnist(train=True)
    return X.numpy().reshape(len(X), -1).astype(np.float32), y.numpy().astype(np.int64)


def _memory(lib: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.memory", lib], capture_output=True, text=True,
        check=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
