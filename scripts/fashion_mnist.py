"""Full Fashion-MNIST runs with the ``chainrule`` command: an MLP and a CNN on all 60 000
training images, evaluated on the 10 000 test images.

    python scripts/fashion_mnist.py [--out runs] [--mlp-epochs 15] [--cnn-epochs 8]

Targets (issue 4): MLP >= 88 % and CNN >= 90 % test accuracy. Prints each run's accuracy and
wall time and exits non-zero if a target is missed. Needs Debian's dataset-fashion-mnist
package (or the IDX files in $CHAINRULE_DATA).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from chainrule.cli import main as chainrule_main

TARGETS = {"mlp": 0.88, "cnn": 0.90}


def run(model: str, epochs: int, out: str, extra: list[str]) -> dict:
    """Train one model on the full data set via the CLI; return its metrics and wall time."""
    name = f"fashion-mnist-{model}"
    argv = [
        "train", "--dataset", "fashion-mnist", "--model", model, "--epochs", str(epochs),
        "--batch-size", "128", "--optimizer", "adam", "--lr", "1e-3", "--schedule", "cosine",
        "--out", out, "--name", name, "--no-progress", *extra,
    ]  # fmt: skip
    t0 = time.perf_counter()
    status = chainrule_main(argv)
    wall = time.perf_counter() - t0
    if status != 0:
        raise SystemExit(f"{model}: chainrule train exited with status {status}")
    metrics = json.loads((Path(out) / name / "metrics.json").read_text())
    metrics["wall_seconds"] = wall
    return metrics


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--out", default="runs")
    ap.add_argument("--mlp-epochs", type=int, default=15)
    ap.add_argument("--cnn-epochs", type=int, default=8)
    args = ap.parse_args()
    results = {
        "mlp": run("mlp", args.mlp_epochs, args.out, ["--hidden", "256,128"]),
        "cnn": run("cnn", args.cnn_epochs, args.out, []),
    }
    ok = True
    print("\nFashion-MNIST, full training set:")
    for model, m in results.items():
        met = m["test_accuracy"] >= TARGETS[model]
        ok &= met
        print(
            f"  {model}: test accuracy {m['test_accuracy']:.4f} (target {TARGETS[model]:.2f}, "
            f"{'met' if met else 'MISSED'}), {len(m['epochs'])} epochs, training "
            f"{m['train_seconds']:.0f} s, wall {m['wall_seconds']:.0f} s"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
