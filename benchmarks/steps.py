"""The training steps that ``make bench`` times interleaved and ``make bench-alone`` times each
in a process of its own: one row each, with its label, its target and how to build it.

Example:
    >>> TRAINING_STEPS["lstm"].target
    1.5
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from benchmarks.gpt import GPT_LABELS, gpt_steps
from benchmarks.resnet import resnet_steps
from benchmarks.workloads import (
    Step,
    cnn_batch,
    cnn_models,
    lstm_steps,
    mlp_batch,
    mlp_models,
    train_steps,
)


@dataclass(frozen=True)
class TrainingStep:
    """A row's label and target (chainrule / PyTorch), and ``build() -> (chainrule step,
    PyTorch step)`` from the same weights."""

    label: str
    target: float
    build: Callable[[], tuple[Step, Step]]


TRAINING_STEPS: dict[str, TrainingStep] = {
    "mlp": TrainingStep("MLP 784-256-128-10, batch 128, SGD step", 0.9,
                        lambda: train_steps(*mlp_models(), *mlp_batch())),
    "lenet": TrainingStep("LeNet CNN, batch 64, 28x28, SGD step", 1.0,
                          lambda: train_steps(*cnn_models(), *cnn_batch())),
    # conv3x3 + BatchNorm2d + ReLU blocks, a stride-2 stage, adaptive pool, batch 32
    "resnet": TrainingStep("ResNet 3 blocks, 3x32x32, batch 32, SGD+momentum", 1.0, resnet_steps),
    "lstm": TrainingStep("LSTM 64->128, seq 32, batch 32, Adam step", 1.5, lstm_steps),
    # GPT training step: forward, cross-entropy, backward, AdamW
    "gpt_small": TrainingStep(f"GPT {GPT_LABELS['small']}, AdamW step", 1.0,
                              lambda: gpt_steps("small")),
    "gpt_larger": TrainingStep(f"GPT {GPT_LABELS['larger']}, AdamW step", 1.0,
                               lambda: gpt_steps("larger")),
}  # fmt: skip
