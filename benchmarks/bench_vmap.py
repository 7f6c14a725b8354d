"""Per-example gradients of the bench MLP (784-256-128-10) for a batch of examples:
``vmap(grad(loss))`` against a Python loop of ``grad``, and against ``torch.func.vmap(grad)``
on the same weights, one thread each, interleaved (medians of many rounds).

    OPENBLAS_NUM_THREADS=1 python -m benchmarks.bench_vmap [--batch 64 --rounds 20]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

import chainrule as cr
import chainrule.nn.functional as F
from benchmarks.common import interleave, ms
from benchmarks.workloads import mlp_models
from chainrule.func import functional_call, grad, vmap


def steps(batch: int) -> dict:
    """The three ways of computing per-example gradients, each a no-argument callable."""
    tm, cm = mlp_models()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, 784)).astype(np.float32)
    y = rng.integers(0, 10, batch)
    cx, cy = cr.tensor(x), cr.tensor(y)
    tx, ty = torch.tensor(x), torch.tensor(y)
    cp = {k: v.detach() for k, v in cm.named_parameters()}
    tp = {k: v.detach() for k, v in tm.named_parameters()}

    def closs(p: dict, xi: cr.Tensor, yi: cr.Tensor) -> cr.Tensor:
        return F.cross_entropy(functional_call(cm, p, (xi[None],)), yi[None])

    def tloss(p: dict, xi: torch.Tensor, yi: torch.Tensor) -> torch.Tensor:
        out = torch.func.functional_call(tm, p, (xi[None],))
        return torch.nn.functional.cross_entropy(out, yi[None])

    per_example = vmap(grad(closs), in_dims=(None, 0, 0))
    tper_example = torch.func.vmap(torch.func.grad(tloss), in_dims=(None, 0, 0))
    g = grad(closs)

    def loop() -> list:
        return [g(cp, cx[i], cy[i]) for i in range(batch)]

    # the three agree before anything is timed
    got = per_example(cp, cx, cy)
    ref = tper_example(tp, tx, ty)
    looped = loop()
    for k in got:
        np.testing.assert_allclose(got[k].numpy(), ref[k].numpy(), rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(
            got[k].numpy(), np.stack([d[k].numpy() for d in looped]), rtol=1e-4, atol=1e-6
        )
    return {
        "vmap(grad)": lambda: per_example(cp, cx, cy),
        "loop of grad": loop,
        "torch.func.vmap(grad)": lambda: tper_example(tp, tx, ty),
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--rounds", type=int, default=20)
    a = p.parse_args()
    torch.set_num_threads(1)
    t = interleave(steps(a.batch), a.rounds)
    print(f"per-example gradients, MLP 784-256-128-10, batch {a.batch} (medians of {a.rounds})")
    for k, v in t.items():
        print(f"  {k:24s} {ms(v)}")
    print(f"  loop / vmap(grad)        {t['loop of grad'] / t['vmap(grad)']:.1f}x")
    print(f"  vmap(grad) / torch.func  {t['vmap(grad)'] / t['torch.func.vmap(grad)']:.1f}x")


if __name__ == "__main__":
    main()
