"""Timing helpers shared by the benchmarks: interleaved rounds, medians, a results table."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any


def interleave(fns: dict[str, Callable[[], Any]], rounds: int, inner: int = 1) -> dict[str, float]:
    """Median seconds per call of each function, timed A B A B ... over ``rounds`` rounds.

    Interleaving spreads machine noise (other processes, turbo, thermal) evenly over the
    contenders; each is warmed up once first.
    """
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            for _ in range(inner):
                fn()
            times[name].append((time.perf_counter() - t0) / inner)
    return {k: statistics.median(v) for k, v in times.items()}


def machine() -> dict:
    """What the figures were measured on."""
    import numpy as np

    info = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": platform.machine(),
        "processor": _cpu_name(),
        "cpus": os.cpu_count(),
    }
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    except ImportError:
        pass
    return info


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def table(rows: list[dict]) -> str:
    """Rows of {workload, chainrule, reference, ratio, target} as an aligned text table."""
    head = f"{'workload':44s} {'chainrule':>12s} {'reference':>12s} {'ratio':>7s} {'target':>8s}"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['workload']:44s} {r['chainrule']:>12s} {r['reference']:>12s} "
            f"{r['ratio']:7.2f} {r['target']:>8s}{'' if r.get('met', True) else '  (missed)'}"
        )
    return "\n".join(lines)


def dump(path: str, payload: dict) -> None:
    """Write ``payload`` as JSON."""
    with open(path, "w") as f:
        json.dump(payload, f, indent=2)


def ms(seconds: float) -> str:
    """Seconds as a short millisecond string."""
    return f"{seconds * 1e3:.3f} ms"
