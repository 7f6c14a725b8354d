"""A small ResNet training step in chainrule and PyTorch, from the same weights.

    OPENBLAS_NUM_THREADS=1 python -m benchmarks.resnet [--threads 1] [--rounds 15]

The network (one builder, parameterized by the ``nn`` namespace, so both libraries build the
same layers): a 3x3 stem conv 3->16 with BatchNorm and ReLU, two residual blocks at 16
channels (conv3x3-BN-ReLU-conv3x3-BN, identity shortcut, ReLU), one stride-2 block to 32
channels (1x1 stride-2 conv + BN on the shortcut), AdaptiveAvgPool2d(1), Linear to 10 classes.
A step is forward, cross-entropy, backward, SGD(lr=0.05, momentum=0.9) on a 32 x 3 x 32 x 32
batch.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import numpy as np

Step = Callable[[], Any]


def build(nn: Any) -> Any:
    """The ResNet, built from ``nn`` (``torch.nn`` or ``chainrule.nn``)."""

    class Block(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.relu = nn.ReLU()
            self.short = None
            if stride != 1 or cin != cout:
                self.short = nn.Sequential(
                    nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
                )

        def forward(self, x: Any) -> Any:
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return self.relu(out + (x if self.short is None else self.short(x)))

    class ResNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16),
                                      nn.ReLU())  # fmt: skip
            self.layers = nn.Sequential(Block(16, 16), Block(16, 16), Block(16, 32, 2))
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(32, 10)

        def forward(self, x: Any) -> Any:
            return self.fc(self.pool(self.layers(self.stem(x))).flatten(1))

    return ResNet()


def models(seed: int = 0) -> tuple[Any, Any]:
    """``(torch_model, chainrule_model)`` with identical weights and buffers."""
    import torch

    import chainrule as cr
    from benchmarks.workloads import copy_weights

    torch.manual_seed(seed)
    tm = build(torch.nn)
    cm = build(cr.nn)
    copy_weights(tm, cm)
    return tm, cm


def resnet_steps(batch: int = 32, seed: int = 0) -> tuple[Step, Step]:
    """``(chainrule_step, torch_step)``: forward, cross-entropy, backward and an SGD step with
    momentum 0.9, on the same batch from the same weights."""
    import torch

    import chainrule as cr
    import chainrule.nn.functional as F
    from chainrule import optim

    tm, cm = models(seed)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, 3, 32, 32)).astype(np.float32)
    y = rng.integers(0, 10, batch).astype(np.int64)
    topt = torch.optim.SGD(tm.parameters(), lr=0.05, momentum=0.9)
    copt = optim.SGD(cm.parameters(), lr=0.05, momentum=0.9)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    cx, cy = cr.tensor(x), cr.tensor(y)

    def torch_step() -> None:
        topt.zero_grad()
        torch.nn.functional.cross_entropy(tm(tx), ty).backward()
        topt.step()

    def chainrule_step() -> None:
        copt.zero_grad()
        F.cross_entropy(cm(cx), cy).backward()
        copt.step()

    return chainrule_step, torch_step


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=15)
    args = ap.parse_args()
    import torch

    from benchmarks.common import interleave
    from benchmarks.workloads import cnn_models, train_steps

    torch.set_num_threads(args.threads)
    t = interleave(dict(zip(("cr", "torch"), resnet_steps())), args.rounds)
    print(f"ResNet step: chainrule {t['cr'] * 1e3:.1f} ms, PyTorch {t['torch'] * 1e3:.1f} ms, "
          f"ratio {t['cr'] / t['torch']:.2f}")  # fmt: skip
    rng = np.random.default_rng(0)
    xc = rng.standard_normal((64, 1, 28, 28)).astype(np.float32)
    yc = rng.integers(0, 10, 64).astype(np.int64)
    t = interleave(dict(zip(("cr", "torch"), train_steps(*cnn_models(), xc, yc))), args.rounds, 3)
    print(f"LeNet step:  chainrule {t['cr'] * 1e3:.2f} ms, PyTorch {t['torch'] * 1e3:.2f} ms, "
          f"ratio {t['cr'] / t['torch']:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
