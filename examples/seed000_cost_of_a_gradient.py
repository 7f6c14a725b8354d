"""Seed 000, the cost side: what one gradient costs by central differences, by forward mode and by
reverse mode, as the number of parameters n grows from 10 to 100 000.

The function is the seed's logistic-regression loss L(w) = mean(log(1 + exp(-t * (X @ w)))) on 64
samples, so one evaluation costs about the same whatever method asks for it. The three ways:

* central differences: dL/dw_i ~ (L(w + h e_i) - L(w - h e_i)) / 2h, two evaluations per
  parameter: 2n passes;
* forward mode (``chainrule.func.jacfwd``): one jvp per input direction e_i: n passes, each a
  forward pass carrying a tangent;
* reverse mode (``chainrule.func.grad``): one forward pass and one backward pass, whatever n is.

Where doing every pass would take longer than ``budget`` seconds, the script times a sample of the
passes (the best of three runs) and multiplies by their number; the table says which figures are such estimates (the plot
draws them dashed). For small n it checks that the three gradients agree.

Run: python examples/seed000_cost_of_a_gradient.py [--max-n 100000] [--budget 2.0] [--out DIR]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import chainrule as cr
from chainrule.func import grad, jvp

SAMPLES = 64


def make_problem(n: int, seed: int = 0) -> tuple[Callable[[cr.Tensor], cr.Tensor], cr.Tensor]:
    """The loss L(w) of logistic regression with ``n`` weights on random data, and a point w."""
    rng = np.random.default_rng(seed)
    X = cr.tensor(rng.standard_normal((SAMPLES, n)) / np.sqrt(n))
    t = cr.tensor(np.where(rng.random(SAMPLES) < 0.5, -1.0, 1.0))
    w = cr.tensor(rng.standard_normal(n) * 0.1)

    def loss(w: cr.Tensor) -> cr.Tensor:
        return cr.nn.functional.softplus(-t * (X @ w)).mean()

    return loss, w


def central_differences(loss: Callable, w: cr.Tensor, idx: range, h: float = 1e-5) -> np.ndarray:
    """dL/dw_i for i in ``idx`` by central differences: two evaluations of L each."""
    base = w.numpy()
    out = np.empty(len(idx))
    with cr.no_grad():
        for k, i in enumerate(idx):
            e = np.zeros_like(base)
            e[i] = h
            up = loss(cr.tensor(base + e)).item()
            down = loss(cr.tensor(base - e)).item()
            out[k] = (up - down) / (2 * h)
    return out


def forward_mode(loss: Callable, w: cr.Tensor, idx: range) -> np.ndarray:
    """dL/dw_i for i in ``idx``: one jvp of L along e_i each (what ``jacfwd`` does)."""
    out = np.empty(len(idx))
    for k, i in enumerate(idx):
        e = np.zeros(w.shape[0])
        e[i] = 1.0
        out[k] = jvp(loss, (w,), (cr.tensor(e),))[1].item()
    return out


def reverse_mode(loss: Callable, w: cr.Tensor) -> np.ndarray:
    """The whole gradient from one forward and one backward pass."""
    return grad(loss)(w).numpy()


def _timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def cost(method: str, loss: Callable, w: cr.Tensor, budget: float) -> tuple[float, bool]:
    """Seconds for one whole gradient by ``method``, and whether that is an estimate (a sample
    of the passes timed and scaled up to all of them)."""
    n = w.shape[0]
    if method == "reverse":
        reverse_mode(loss, w)  # warm up
        return min(_timed(lambda: reverse_mode(loss, w)) for _ in range(5)), False
    per_param = {"central": central_differences, "forward": forward_mode}[method]
    per_param(loss, w, range(min(n, 3)))  # warm up
    sample = min(n, 20)
    t = min(_timed(lambda: per_param(loss, w, range(sample))) for _ in range(3))
    if t / sample * n <= budget:
        return _timed(lambda: per_param(loss, w, range(n))), False
    return t / sample * n, True


def check_agreement(n: int = 50) -> float:
    """The largest difference between the three gradients of an ``n``-parameter problem."""
    loss, w = make_problem(n)
    rev = reverse_mode(loss, w)
    fwd = forward_mode(loss, w, range(n))
    num = central_differences(loss, w, range(n))
    return float(max(np.abs(rev - fwd).max(), np.abs(rev - num).max()))


def main(
    max_n: int = 100_000, budget: float = 2.0, out_dir: str | Path | None = None
) -> dict[str, Any]:
    """Measure, print and (with ``out_dir``) plot the cost of one gradient by each method.

    Example:
        >>> r = main(max_n=100, budget=0.5)  # doctest: +ELLIPSIS
        three gradients agree to ...
        >>> sorted(r["seconds"])
        ['central', 'forward', 'reverse']
    """
    diff = check_agreement()
    print(f"three gradients agree to {diff:.1e} (50 parameters)")
    sizes = [n for n in (10, 100, 1_000, 10_000, 100_000) if n <= max_n]
    methods = ("central", "forward", "reverse")
    seconds: dict[str, list[float]] = {m: [] for m in methods}
    estimated: dict[str, list[bool]] = {m: [] for m in methods}
    print(f"\n{'n':>8}  {'central differences':>20}  {'forward mode':>14}  {'reverse mode':>13}")
    for n in sizes:
        loss, w = make_problem(n)
        cells = []
        for m in methods:
            s, est = cost(m, loss, w, budget)
            seconds[m].append(s)
            estimated[m].append(est)
            cells.append(f"{s * 1e3:>11.2f} ms{'*' if est else ' '}")
        print(f"{n:>8}  {cells[0]:>20}  {cells[1]:>14}  {cells[2]:>13}")
    print("  * estimated: a sample of the passes timed, times the number of passes")
    ratio = seconds["central"][-1] / seconds["reverse"][-1]
    print(
        f"\nat n = {sizes[-1]}: central differences cost {ratio:,.0f}x a reverse-mode gradient "
        f"(2n = {2 * sizes[-1]:,} passes against one forward and one backward)"
    )
    result = {"sizes": sizes, "seconds": seconds, "estimated": estimated, "agreement": diff}
    if out_dir is not None:
        result["plot"] = str(plot(result, Path(out_dir)))
    return result


def plot(result: dict[str, Any], out_dir: Path) -> Path:
    """Cost curves on log-log axes: measured solid, estimated dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    labels = {
        "central": "central differences (2n passes)",
        "forward": "forward mode (n jvps)",
        "reverse": "reverse mode (1 forward + 1 backward)",
    }
    sizes = np.array(result["sizes"])
    for m, label in labels.items():
        s = np.array(result["seconds"][m])
        est = np.array(result["estimated"][m])
        (line,) = ax.plot(sizes[~est], s[~est], "o-", label=label)
        if est.any():
            k = np.flatnonzero(est)
            k = np.concatenate([k[:1] - 1, k]) if k[0] > 0 else k
            ax.plot(sizes[k], s[k], "o--", color=line.get_color())
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("number of parameters n")
    ax.set_ylabel("seconds for one gradient")
    ax.set_title("The cost of one gradient of a logistic-regression loss")
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    path = out_dir / "cost_of_a_gradient.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-n", type=int, default=100_000)
    ap.add_argument("--budget", type=float, default=2.0, help="seconds before estimating")
    ap.add_argument("--out", default="runs/seed000", help="where the plot goes")
    args = ap.parse_args()
    r = main(args.max_n, args.budget, args.out)
    print(f"plot: {r['plot']}")
