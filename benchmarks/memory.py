"""Memory of the MLP training step, measured in a fresh process per library.

    python -m benchmarks.memory chainrule|torch [batch]

Prints JSON: how far the resident set rises above its starting level during the first step
(the peak, from Linux's VmHWM after resetting it through /proc/self/clear_refs), and the
resident set after 10 and after 1000 steps (it must not grow). PyTorch runs at
``BENCH_THREADS`` threads (1 by default; ``benchmarks.run`` sets it with the BLAS threads).
"""

from __future__ import annotations

import json
import os
import sys


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def rss_mb() -> float:
    """Current resident set size in MiB."""
    return _status_mb("VmRSS")


def reset_peak() -> None:
    """Make the peak resident set (VmHWM) start again from the current size."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def step_peak_mb(step: object) -> float:
    """How far the resident set rises above its current level while ``step()`` runs."""
    before = rss_mb()
    reset_peak()
    step()  # type: ignore[operator]
    return _status_mb("VmHWM") - before


def bench_threads() -> int:
    """The thread count PyTorch gets here: ``BENCH_THREADS`` (1 by default)."""
    return int(os.environ.get("BENCH_THREADS", "1"))


def main(lib: str, batch: int = 1024) -> dict:
    import torch

    from benchmarks.workloads import mlp_batch, mlp_models, train_steps

    torch.set_num_threads(bench_threads())
    x, y = mlp_batch(batch)
    # one step of a one-example copy first, so code loaded on first use (Numba's kernels, with
    # the fast extra: about 130 MiB) is not counted; the measured step is a fresh model's first
    warm = train_steps(*mlp_models(), x[:1], y[:1])
    (warm[0] if lib == "chainrule" else warm[1])()
    tm, cm = mlp_models()
    cstep, tstep = train_steps(tm, cm, x, y)
    step = cstep if lib == "chainrule" else tstep
    peak = step_peak_mb(step)
    for _ in range(9):
        step()
    after10 = rss_mb()
    for _ in range(990):
        step()
    return {
        "lib": lib, "batch": batch, "step_peak_mb": peak, "rss_after_10_mb": after10,
        "rss_after_1000_mb": rss_mb(),
    }  # fmt: skip


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 1024)))
