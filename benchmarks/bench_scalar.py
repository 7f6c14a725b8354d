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

from benchmarks.common import interleave


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
    """Median seconds per step for chainrule.scalar and micrograd, interleaved."""
    from micrograd.nn import MLP as MicroMLP

    from chainrule.scalar import MLP

    X, y = moons()
    random.seed(1337)
    ours = demo_step(MLP(2, [16, 16, 1]), X, y)
    random.seed(1337)
    theirs = demo_step(MicroMLP(2, [16, 16, 1]), X, y)
    t = interleave({"chainrule": ours, "micrograd": theirs}, rounds)
    return {"chainrule_s": t["chainrule"], "micrograd_s": t["micrograd"],
            "ratio": t["chainrule"] / t["micrograd"]}  # fmt: skip


if __name__ == "__main__":
    r = measure()
    print(
        f"scalar demo step: chainrule {r['chainrule_s'] * 1e3:.1f} ms, micrograd "
        f"{r['micrograd_s'] * 1e3:.1f} ms, ratio {r['ratio']:.3f} (target <= 0.33)"
    )
    print(json.dumps(r))
