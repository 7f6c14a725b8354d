"""Forward-mode transforms against the passes they build on: ``jvp`` against the forward pass
alone (target <= 3x) and ``hvp`` (forward over reverse) against a gradient (target <= 4x), on
the bench MLP (784-256-128-10, batch 128, derivatives with respect to the input) and on a
scalar function of a 1000-vector. torch.func's ratios on the same workloads for reference.
Timed interleaved in one process, medians, one thread.

    OPENBLAS_NUM_THREADS=1 python -m benchmarks.bench_transforms
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

import chainrule as cr  # noqa: E402
import chainrule.nn.functional as F  # noqa: E402
from benchmarks.common import interleave, ms, table  # noqa: E402
from benchmarks.workloads import mlp_models  # noqa: E402
from chainrule.func import grad, hvp, jvp  # noqa: E402


def workloads() -> list[tuple]:
    """(name, chainrule f, torch f, input shape): f maps one input to a scalar (for grad/hvp);
    the MLP's logits are what jvp pushes a tangent through."""
    tm, cm = mlp_models()
    for p in [*tm.parameters(), *cm.parameters()]:
        p.requires_grad_(False)  # derivatives with respect to the input only
    y = np.random.default_rng(1).integers(0, 10, 128)
    cy, ty = cr.tensor(y), torch.from_numpy(y)
    return [
        ("MLP 784-256-128-10, batch 128", cm, tm,
         lambda x: F.cross_entropy(cm(x), cy),
         lambda x: torch.nn.functional.cross_entropy(tm(x), ty), (128, 784)),
        ("scalar f of a 1000-vector", lambda x: (x.tanh() ** 2 * x.exp()).sum(),
         lambda x: (x.tanh() ** 2 * x.exp()).sum(), None, None, (1000,)),
    ]  # fmt: skip


def time_transforms(cf, tf, closs, tloss, c: tuple, t: tuple, rounds: int) -> dict:  # noqa: ANN001
    """Medians of forward, jvp, grad and hvp in chainrule and in torch.func.

    Each library's four are interleaved among themselves, the libraries one after the other:
    the figures are ratios within one library, and at two threads PyTorch's OpenMP workers,
    still spinning after its calls, slowed the chainrule call after them (grad 1.4 -> 3.1 ms,
    hvp 2.8 -> 7.1 ms, on this 2-core machine).
    """
    (cx, cv), (tx, tv) = c, t
    with cr.no_grad():  # the transforms' own work: no tape of anything else
        mine = interleave(
            {
                "fwd": lambda: cf(cx),
                "jvp": lambda: jvp(cf, (cx,), (cv,)),
                "grad": lambda: grad(closs)(cx),
                "hvp": lambda: hvp(closs, (cx,), (cv,)),
            },
            rounds,
        )
    theirs = interleave(
        {
            "t_fwd": lambda: tf(tx),
            "t_jvp": lambda: torch.func.jvp(tf, (tx,), (tv,)),
            "t_grad": lambda: torch.func.grad(tloss)(tx),
            "t_hvp": lambda: torch.func.jvp(torch.func.grad(tloss), (tx,), (tv,)),
        },
        rounds,
    )
    return {**mine, **theirs}


def main(rounds: int = 30) -> list[dict]:
    torch.set_num_threads(1)
    rows = []
    rng = np.random.default_rng(0)
    for name, cf, tf, closs, tloss, shape in workloads():
        closs = closs or cf
        tloss = tloss or tf
        x = rng.standard_normal(shape).astype(np.float32)
        v = rng.standard_normal(shape).astype(np.float32)
        t = time_transforms(cf, tf, closs, tloss, (cr.tensor(x), cr.tensor(v)),
                  (torch.from_numpy(x), torch.from_numpy(v)), rounds)  # fmt: skip
        for what, a, b, target in (
            ("jvp / forward", "jvp", "fwd", 3.0),
            ("hvp / grad", "hvp", "grad", 4.0),
        ):
            ratio = t[a] / t[b]
            rows.append({
                "workload": f"{name}: {what}",
                "chainrule": ms(t[a]),
                "reference": ms(t[b]),
                "ratio": ratio,
                "target": f"<= {target:g}x",
                "met": ratio <= target,
                "torch_ratio": t["t_" + a] / t["t_" + b],
            })  # fmt: skip
    print(table(rows))
    print("absolute (ms): " + ", ".join(f"{k} {v * 1e3:.3f}" for k, v in t.items()))
    print("torch.func, same ratios: " + ", ".join(f"{r['torch_ratio']:.2f}" for r in rows))
    return rows


if __name__ == "__main__":
    main()
