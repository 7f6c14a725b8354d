"""The scalar engine on two steps:

- microgpt's step (Karpathy's scalar GPT: 1 layer, ``n_embd`` 16, 4 heads, block 16, RMSNorm,
  ReLU MLP, one name per step, forward + backward + microgpt's Adam), against microgpt's own
  minimal ``__slots__`` Value (``benchmarks/minimal_value.py``) running microgpt's code. The
  model is ``examples/microgpt_scalar_vs_tensor.py``'s; chainrule.Value runs it twice: with its
  fused ``dot``/``sum`` (each sum of products one node) and with microgpt's code unchanged
  (every multiply and add a node).
- micrograd's demo step: MLP(2, [16, 16, 1]) on 100 make_moons points, full batch, SVM
  max-margin loss + L2 (1e-4), forward + backward + SGD update, against the ``micrograd``
  package.

    python -m benchmarks.bench_scalar [--rounds N]
"""

from __future__ import annotations

import importlib.util
import json
import random
import subprocess
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path
from types import ModuleType
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
    t = interleave({"chainrule": ours, "micrograd": theirs}, rounds, own_garbage=True)
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


@cache
def microgpt_model() -> ModuleType:
    """``examples/microgpt_scalar_vs_tensor.py``: the scalar model both engines run."""
    path = Path(__file__).resolve().parents[1] / "examples" / "microgpt_scalar_vs_tensor.py"
    spec = importlib.util.spec_from_file_location("microgpt_scalar_vs_tensor", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def microgpt_data(n_names: int = 8, seed: int = 42) -> tuple[dict, list[list[int]]]:
    """microgpt's weights (N(0, 0.08), the example's ``init_weights``) and ``n_names`` names as
    token lists (BOS name BOS), shuffled as microgpt does."""
    from chainrule.data.datasets import load_names
    from chainrule.data.text import CharTokenizer

    ex = microgpt_model()
    words = load_names()
    random.Random(seed).shuffle(words)
    words = [w for w in words if len(w) < ex.BLOCK]
    tok = CharTokenizer.from_texts(words)
    return ex.init_weights(tok.vocab_size, seed), [[0, *tok.encode(w), 0] for w in words[:n_names]]


def microgpt_step(
    value_cls: type, ops: Any, weights: dict, names: list[list[int]], lr: float = 0.01
) -> tuple[Callable[[], float], list]:
    """microgpt's training step on ``value_cls``: the loss of the next name (in turn), backward,
    then microgpt's Adam (beta1 0.85, beta2 0.99) on every parameter, which zeroes its grad.
    Returns the step and the parameters."""
    ex = microgpt_model()
    sd = {k: [[value_cls(float(x)) for x in row] for row in a] for k, a in weights.items()}
    params = [p for mat in sd.values() for row in mat for p in row]
    m = [0.0] * len(params)
    v = [0.0] * len(params)
    count = [0]

    def step() -> float:
        t = count[0]
        loss = ex.scalar_loss(sd, names[t % len(names)], ops)
        loss.backward()
        c1, c2 = 1 - 0.85 ** (t + 1), 1 - 0.99 ** (t + 1)
        for i, p in enumerate(params):
            m[i] = 0.85 * m[i] + 0.15 * p.grad
            v[i] = 0.99 * v[i] + 0.01 * p.grad**2
            p.data -= lr * (m[i] / c1) / ((v[i] / c2) ** 0.5 + 1e-8)
            p.grad = 0
        count[0] = t + 1
        return loss.data

    return step, params


def microgpt_measure(rounds: int = 10) -> dict:
    """Median seconds per microgpt step: chainrule.Value with its fused ops, chainrule.Value on
    microgpt's code, and the minimal Value on microgpt's code, interleaved in blocks of five
    steps that each pay for their own garbage (``interleave(..., own_garbage=True)``).

    Before timing, the three compute the loss and the gradients of the first name from the same
    weights; they must agree (loss to 1e-12, gradients to 1e-12 of the largest).
    """
    from benchmarks.minimal_value import MinimalValue
    from chainrule.scalar import Value

    ex = microgpt_model()
    weights, names = microgpt_data()
    engines = {
        "fused": (Value, ex.FUSED),
        "plain": (Value, ex.PLAIN),
        "minimal": (MinimalValue, ex.PLAIN),
    }
    first = {}
    for name, (cls, ops) in engines.items():
        sd = {k: [[cls(float(x)) for x in row] for row in a] for k, a in weights.items()}
        loss = ex.scalar_loss(sd, names[0], ops)
        loss.backward()
        first[name] = (loss.data, [p.grad for mat in sd.values() for row in mat for p in row])
        del sd, loss  # no graph stays alive while the steps are timed
    ref_loss, ref_grads = first["minimal"]
    scale = max(map(abs, ref_grads))
    for name, (loss, grads) in first.items():
        diff = max(abs(a - b) for a, b in zip(grads, ref_grads))
        if abs(loss - ref_loss) > 1e-12 * abs(ref_loss) or diff > 1e-12 * scale:
            raise RuntimeError(
                f"microgpt step: {name} disagrees with the minimal Value: loss {loss} vs "
                f"{ref_loss}, largest gradient difference {diff:.3g}"
            )
    steps = {
        name: microgpt_step(cls, ops, weights, names)[0] for name, (cls, ops) in engines.items()
    }
    # blocks of five steps that pay for their own garbage: microgpt's recursive build_topo
    # closure makes every graph a reference cycle, and with single interleaved steps its
    # collection mostly landed in the next engine's step (about 23 ms a step)
    t = interleave(steps, rounds, inner=5, own_garbage=True)
    return {
        "workload": "microgpt step (1 layer, n_embd 16, 4 heads, one name, fwd + bwd + Adam)",
        "fused_s": t["fused"],
        "plain_s": t["plain"],
        "minimal_s": t["minimal"],
        "ratio_fused": t["fused"] / t["minimal"],
        "ratio_plain": t["plain"] / t["minimal"],
        "first_loss": ref_loss,
        "rounds": rounds,
        "machine": machine(),
    }


def in_fresh_process(which: str, rounds: int) -> dict:
    """``microgpt_measure`` or ``measure`` (``which``: ``'microgpt'``, ``'micrograd'``) in a new
    Python process without PyTorch. A scalar graph is hundreds of thousands of objects, so the
    garbage collector's passes over everything alive, a cost proportional to the whole heap,
    are a large part of these steps: measured inside ``benchmarks.run``, after PyTorch and the
    other rows have filled the heap, the figures would depend on what ran before."""
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_scalar", "--which", which, "--rounds",
         str(rounds), "--json"], capture_output=True, text=True, check=False,
    )  # fmt: skip
    if out.returncode != 0:
        raise RuntimeError(f"benchmarks.bench_scalar --which {which} failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="timed rounds per engine")
    parser.add_argument("--which", choices=["microgpt", "micrograd", "both"], default="both")
    parser.add_argument("--json", action="store_true", help="print only the results, as JSON")
    args = parser.parse_args()
    results = {}
    if args.which in ("microgpt", "both"):
        g = results["microgpt"] = microgpt_measure(args.rounds)
        if not args.json:
            print(
                f"microgpt step: chainrule.Value fused {g['fused_s'] * 1e3:.1f} ms, on "
                f"microgpt's code {g['plain_s'] * 1e3:.1f} ms, minimal Value "
                f"{g['minimal_s'] * 1e3:.1f} ms; ratios {g['ratio_fused']:.3f} (fused) and "
                f"{g['ratio_plain']:.3f} (same code), target <= 0.5"
            )
    if args.which in ("micrograd", "both"):
        r = results["micrograd"] = measure(args.rounds)
        if not args.json:
            print(
                f"micrograd demo step: chainrule {r['chainrule_s'] * 1e3:.1f} ms, micrograd "
                f"{r['micrograd_s'] * 1e3:.1f} ms, ratio chainrule/micrograd {r['ratio']:.3f} "
                f"({r['speedup']:.1f}x faster; target ratio <= 0.33)"
            )
    print(json.dumps(results[args.which] if args.which != "both" else results))


if __name__ == "__main__":
    main()
