"""The scalar engine against the ``micrograd`` package on micrograd's own demo step:
MLP(2, [16, 16, 1]) on 100 make_moons points, full batch, SVM max-margin loss + L2 (1e-4),
forward + backward + SGD update.

    python -m benchmarks.bench_scalar
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks.common import interleave, machine


def moons() -> tuple[np.ndarray, np.ndarray]:
    """micrograd's demo data: 100 moons points, labels as -1 / +1."""
    from sklearn.datasets import make_moons

    X, y = make_moons(n_samples=100, noise=0.1, random_state=1)
    return X, y * 2 - 1


def demo_step(model: Any, X: np.ndarray, y: np.ndarray, lr: float = 0.01) -> Callable[[], float]:
    """micrograd's demo.ipynb training step for ``model`` (either library's MLP)."""
    rows = [list(map(float, xrow)) for xrow in X]
    labels = [float(v) for v in y]
    params = model.parameters()

    def step() -> float:
        scores = [model(r) for r in rows]
        losses = [(1 + -yi * si).relu() for yi, si in zip(labels, scores)]
        data_loss = sum(losses) * (1.0 / len(losses))
        reg_loss = 1e-4 * sum(p * p for p in params)
        total = data_loss + reg_loss
        model.zero_grad()
        total.backward()
        for p in params:
            p.data -= lr * p.grad
        return total.data

    return step


def measure(rounds: int = 10) -> dict:
    """Median seconds per step for chainrule.scalar and micrograd, interleaved A B A B.

    Both models start from the same weights (``random.seed(1337)`` before each, and both draw
    w ~ U(-1, 1) neuron by neuron with b = 0), so both run the identical step; the first losses
    are compared before any timing to make sure of it.
    """
    from micrograd.nn import MLP as MicroMLP

    from chainrule.scalar import MLP

    X, y = moons()
    random.seed(1337)
    ours = demo_step(MLP(2, [16, 16, 1]), X, y)
    random.seed(1337)
    theirs = demo_step(MicroMLP(2, [16, 16, 1]), X, y)
    first_ours, first_theirs = ours(), theirs()
    if abs(first_ours - first_theirs) > 1e-9 * max(1.0, abs(first_theirs)):
        raise RuntimeError(f"the engines disagree: loss {first_ours} vs {first_theirs}")
    t = interleave({"chainrule": ours, "micrograd": theirs}, rounds)
    return {
        "workload": "micrograd demo step: MLP(2, [16, 16, 1]), 100 moons, fwd + bwd + SGD",
        "chainrule_s": t["chainrule"],
        "micrograd_s": t["micrograd"],
        "ratio": t["chainrule"] / t["micrograd"],
        "speedup": t["micrograd"] / t["chainrule"],
        "first_loss": first_ours,
        "rounds": rounds,
        "machine": machine(),
    }


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="timed rounds per engine")
    r = measure(parser.parse_args().rounds)
    print(
        f"scalar demo step: chainrule {r['chainrule_s'] * 1e3:.1f} ms, micrograd "
        f"{r['micrograd_s'] * 1e3:.1f} ms, ratio chainrule/micrograd {r['ratio']:.3f} "
        f"({r['speedup']:.1f}x faster; target ratio <= 0.33)"
    )
    print(json.dumps(r))
