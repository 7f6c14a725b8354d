"""Timing helpers shared by the benchmarks: interleaved rounds, medians, a results table."""

from __future__ import annotations

import gc
import json
import os
import platform
import resource
import statistics
import time
from collections.abc import Callable
from typing import Any

from chainrule.ops.conv import _single_threaded_blas

# Seconds each block waits before it starts when several threads run: OpenBLAS's idle workers
# busy-wait about 2^28 cycles (some 80 ms here) before they sleep, and PyTorch's OpenMP workers
# spin too, so a block started right after the other library's found a core taken: PyTorch's
# two-thread GPT step measured 26-33 ms interleaved so, 14-18 ms after a 0.1 s wait, as alone.
# After the wait one untimed call wakes the block's own pools (without it PyTorch's MLP step
# still read 3.8-4.4 ms, against 1.5-2.9 with it and 1.3-1.8 alone).
SETTLE_S = 0.0 if _single_threaded_blas() else 0.1


def interleave(
    fns: dict[str, Callable[[], Any]],
    rounds: int,
    inner: int = 1,
    own_garbage: bool = False,
    faults: dict[str, float] | None = None,
) -> dict[str, float]:
    """Median seconds per call of each function, timed A B A B ... over ``rounds`` rounds of
    ``inner`` consecutive calls each.

    Interleaving spreads machine noise (other processes, turbo, thermal) evenly over the
    contenders; each is warmed up once first. With ``own_garbage``, each block of calls starts
    after a ``gc.collect()`` outside its timing and ends with one inside it, so each function
    pays for its own cyclic garbage and for no one else's (a graph of reference cycles left by
    one engine was otherwise collected in the next one's time).

    With more than one thread each block first waits :data:`SETTLE_S` seconds for the thread
    pools of the block before to go idle, then makes one untimed call.

    ``faults``, if given, gets each function's minor page faults per call (this process's,
    from ``getrusage``): fresh pages touched for the first time, about 2-3 us each in a VM.
    Which arrays glibc serves from fresh pages depends on what ran before, so a step's time can
    move by milliseconds with them; the count says when that happened.

    Example:
        >>> interleave({"a": lambda: None}, rounds=2, own_garbage=True)["a"] >= 0
        True
    """
    for fn in fns.values():
        fn()
    wait = SETTLE_S if len(fns) > 1 else 0.0
    times: dict[str, list[float]] = {k: [] for k in fns}
    minflt = dict.fromkeys(fns, 0)
    for _ in range(rounds):
        for name, fn in fns.items():
            if wait:  # let the other's pools go idle, then wake this one's, untimed
                time.sleep(wait)
                fn()
            if own_garbage:
                gc.collect()
            f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            t0 = time.perf_counter()
            for _ in range(inner):
                fn()
            if own_garbage:
                gc.collect()
            times[name].append((time.perf_counter() - t0) / inner)
            minflt[name] += resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0
    if faults is not None:
        faults.update({k: v / (rounds * inner) for k, v in minflt.items()})
    return {k: statistics.median(v) for k, v in times.items()}


def machine() -> dict:
    """What the figures were measured on: CPU, cores, BLAS and its threads, versions, load."""
    import numpy as np

    info = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": platform.machine(),
        "processor": _cpu_name(),
        "cpus": os.cpu_count(),
        "load_average": round(os.getloadavg()[0], 2),
    }
    try:
        from importlib.metadata import version

        info["chainrule"] = version("chainrule")
    except Exception:  # noqa: BLE001 - not installed: a source checkout
        pass
    info["blas"] = _blas()
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    except ImportError:
        pass
    return info


def _blas() -> str:
    """NumPy's BLAS as ``'openblas 0.3.29 (2 threads)'``."""
    try:
        from threadpoolctl import threadpool_info

        for i in threadpool_info():
            if i.get("user_api") == "blas" and "numpy" in i.get("filepath", ""):
                return f"{i['internal_api']} {i.get('version')} ({i['num_threads']} threads)"
        for i in threadpool_info():
            if i.get("user_api") == "blas":
                return f"{i['internal_api']} {i.get('version')} ({i['num_threads']} threads)"
    except ImportError:
        pass
    import numpy as np

    try:
        cfg = np.show_config(mode="dicts")
        return str(cfg["Build Dependencies"]["blas"]["name"])
    except Exception:  # noqa: BLE001 - older NumPy
        return "unknown"


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _cells(r: dict, counts: list[int]) -> tuple[list[str], str]:
    """A combined row's measured cells per thread count and its met flags."""
    cells, met = [], []
    for n in counts:
        m = r["by_threads"].get(str(n))
        if m is None:
            cells += ["", "", ""]
            met.append("-")
        else:
            cells += [m["chainrule"], m["reference"], f"{m['ratio']:.2f}"]
            met.append("yes" if m["met"] else "NO")
    return cells, " / ".join(met)


def table(rows: list[dict], counts: list[int]) -> str:
    """Combined rows (see ``benchmarks.run.combine``) as an aligned text table: per thread count
    chainrule's figure, the reference's and the ratio; the target; met at each thread count."""
    head1 = f"{'':46s} {'':14s}"
    head2 = f"{'workload':46s} {'reference':14s}"
    for n in counts:
        label = f"{n} thread{'s' * (n > 1)}"
        head1 += f" {label:^33s}"
        head2 += f" {'chainrule':>12s} {'reference':>12s} {'ratio':>6s}"
    head1 += f" {'':>7s} {'met':>9s}"
    head2 += f" {'target':>7s} {'/'.join(map(str, counts)) + ' thr':>9s}"
    lines = [head1, head2, "-" * len(head2)]
    for r in rows:
        cells, met = _cells(r, counts)
        line = f"{r['workload']:46s} {r['reference_name']:14s}"
        for i in range(0, len(cells), 3):
            line += f" {cells[i]:>12s} {cells[i + 1]:>12s} {cells[i + 2]:>6s}"
        lines.append(line + f" {'<= ' + format(r['target'], 'g'):>7s} {met:>9s}")
    return "\n".join(lines)


def markdown_table(rows: list[dict], counts: list[int]) -> str:
    """The same table in Markdown, for the README."""
    head = ["workload", "against"]
    for n in counts:
        t = f"{n} thread{'s' * (n > 1)}"
        head += [f"chainrule ({t})", f"reference ({t})", f"ratio ({t})"]
    head += ["target", "met"]
    lines = [
        "| " + " | ".join(head) + " |",
        "|" + "|".join(["---"] * 2 + ["---:"] * (len(head) - 2)) + "|",
    ]
    for r in rows:
        cells, met = _cells(r, counts)
        name = r["workload"].strip()
        name = f"&nbsp;&nbsp;{name}" if r["workload"].startswith(" ") else name
        lines.append("| " + " | ".join([name, r["reference_name"], *cells,
                                         f"<= {r['target']:g}", met]) + " |")  # fmt: skip
    return "\n".join(lines)


def dump(path: str, payload: dict) -> None:
    """Write ``payload`` as JSON."""
    with open(path, "w") as f:
        json.dump(payload, f, indent=2)


def ms(seconds: float) -> str:
    """Seconds as a short millisecond string."""
    return f"{seconds * 1e3:.3f} ms"
