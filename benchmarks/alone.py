"""``make bench-alone``: each library's training step in a process of its own, as its users run it.

    python -m benchmarks.alone [--threads 1,2] [--only mlp,lenet] [--pairs 2] [--scale 1]

``make bench`` times chainrule and PyTorch interleaved in one process, which spreads machine
noise evenly over both; but the two then share one C heap, and what one frees decides where the
other's arrays land. A step whose arrays land on fresh pages pays a minor page fault per page:
in one process PyTorch's large frees had lifted glibc's thresholds for chainrule, and the
interleaved LSTM row read 1.21 while chainrule's LSTM step alone, with 3,552 faults a step, was
2.1x PyTorch's alone. This runs each step in a fresh process per library, chainrule as imported
(``chainrule.utils.malloc`` raises the thresholds) and PyTorch with the allocator untouched
(``CHAINRULE_MALLOC_TUNE=0``: the models are built with chainrule too), in pairs of processes
ordered chainrule, PyTorch, then PyTorch, chainrule, ..., and reports each library's median over
its processes: the same step moves by 10-25% from one fresh process to the next here.

Example:
    >>> sorted(ROUNDS)[:2]
    ['gpt_larger', 'gpt_small']
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

import torch

from benchmarks.common import interleave, markdown_table, table
from benchmarks.run import combine, fault_lines, row, thread_env
from benchmarks.steps import TRAINING_STEPS
from chainrule.utils import malloc

# how many steps one process times, per step of benchmarks.steps.TRAINING_STEPS
ROUNDS = {"mlp": 300, "lenet": 150, "resnet": 25, "lstm": 60, "gpt_small": 50, "gpt_larger": 12}


def child(name: str, lib: str, threads: int, rounds: int) -> dict:
    """Seconds per step (median), minor page faults per step of one library's step, in this
    process, and whether chainrule raised glibc's thresholds in it."""
    torch.set_num_threads(threads)
    cstep, tstep = TRAINING_STEPS[name].build()
    step = cstep if lib == "chainrule" else tstep
    for _ in range(2):  # warm up: first calls compile kernels and settle the heap
        step()
    faults: dict[str, float] = {}
    seconds = interleave({lib: step}, rounds, faults=faults)[lib]
    return {"seconds": seconds, "faults": faults[lib], "malloc_tuned": malloc.thresholds_raised()}


def measure(name: str, lib: str, threads: int, rounds: int) -> dict:
    """``child`` in a fresh process at ``threads`` threads; PyTorch's with chainrule's
    allocator tuning off."""
    env = {**os.environ, **thread_env(threads)}
    if lib == "torch":
        env["CHAINRULE_MALLOC_TUNE"] = "0"
    cmd = [sys.executable, "-m", "benchmarks.alone", "--child", name, lib, str(threads),
           str(rounds)]  # fmt: skip
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"the {lib} {name} step at {threads} threads failed: "
                           f"{out.stderr[-2000:]}")  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(names: list[str], counts: list[int], scale: float, pairs: int = 2) -> list[dict]:
    """Rows (as ``benchmarks.run.row`` makes them) per thread count, from ``pairs`` pairs of
    processes in the order AB BA AB ..."""
    runs = []
    for n in counts:
        rows = []
        for name in names:
            s = TRAINING_STEPS[name]
            rounds = max(3, round(ROUNDS[name] * scale))
            print(f"[{n} thread{'s' * (n > 1)}] {name} ...", flush=True)
            got: dict[str, list[dict]] = {"chainrule": [], "torch": []}
            for p in range(pairs):
                for lib in ("chainrule", "torch")[:: 1 - 2 * (p % 2)]:
                    got[lib].append(measure(name, lib, n, rounds))
            t = {k: statistics.median(m["seconds"] for m in v) for k, v in got.items()}
            f = {k: statistics.median(m["faults"] for m in v) for k, v in got.items()}
            r = row(s.label, t["chainrule"], t["torch"], s.target,
                    faults=(f["chainrule"], f["torch"]))  # fmt: skip
            r["threads"] = n
            rows.append(r)
        runs.append({"threads": n, "rows": rows})
    return runs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", default="1,2", help="thread counts, comma-separated")
    ap.add_argument("--only", help="these steps only, comma-separated: " + ", ".join(ROUNDS))
    ap.add_argument("--scale", type=float, default=1.0, help="times the steps timed per process")
    ap.add_argument("--pairs", type=int, default=2, help="pairs of processes per step")
    ap.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        name, lib, threads, rounds = args.child
        print(json.dumps(child(name, lib, int(threads), int(rounds))))
        return
    names = args.only.split(",") if args.only else list(ROUNDS)
    unknown = sorted(set(names) - set(ROUNDS))
    if unknown:
        ap.error(f"unknown step {', '.join(unknown)}; the steps are {', '.join(ROUNDS)}")
    counts = [int(t) for t in args.threads.split(",")]
    rows = combine(run(names, counts, args.scale, args.pairs))
    print(f"\neach library alone in its process (median of {args.pairs} processes each):\n")
    print(table(rows, counts))
    print(fault_lines(rows, counts))
    print("\nMarkdown:\n")
    print(markdown_table(rows, counts))


if __name__ == "__main__":
    main()
