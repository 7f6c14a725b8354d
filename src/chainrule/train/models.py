"""The models the ``chainrule`` command trains: logistic regression, an MLP, a small CNN."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .. import nn
from ..autograd.grad_mode import no_grad
from ..creation import zeros

MODELS = ("logreg", "mlp", "cnn")


def build_model(
    kind: str, input_shape: Sequence[int], num_classes: int, hidden: Sequence[int] = (128, 64)
) -> nn.Module:
    """A classifier for inputs of ``input_shape`` (without the batch dimension).

    ``logreg``: one linear layer (multinomial logistic regression). ``mlp``: linear layers of
    widths ``hidden`` with ReLU. ``cnn``: two 3x3 conv + ReLU + 2x2 max-pool blocks (16 and 32
    channels), then a linear classifier; it needs image inputs ``(C, H, W)``.

    Example:
        >>> build_model("mlp", (64,), 10, hidden=(32,))
        Sequential(
          (0): Flatten(start_dim=1, end_dim=-1)
          (1): Linear(in_features=64, out_features=32, bias=True)
          (2): ReLU()
          (3): Linear(in_features=32, out_features=10, bias=True)
        )
    """
    shape = tuple(int(s) for s in input_shape)
    features = int(np.prod(shape))
    if kind == "logreg":
        return nn.Sequential(nn.Flatten(), nn.Linear(features, num_classes))
    if kind == "mlp":
        layers: list[nn.Module] = [nn.Flatten()]
        width = features
        for h in hidden:
            layers += [nn.Linear(width, int(h)), nn.ReLU()]
            width = int(h)
        layers.append(nn.Linear(width, num_classes))
        return nn.Sequential(*layers)
    if kind == "cnn":
        if len(shape) != 3:
            raise ValueError(
                f"model 'cnn' needs image inputs (channels, height, width), got shape {shape}; "
                "use --model mlp or logreg for this dataset"
            )
        body = nn.Sequential(
            nn.Conv2d(shape[0], 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        )  # fmt: skip
        with no_grad():
            flat = body(zeros(1, *shape)).shape[1]
        head: list[nn.Module] = [nn.Linear(flat, 128), nn.ReLU(), nn.Linear(128, num_classes)]
        return nn.Sequential(*body, *head)
    raise ValueError(f"unknown model {kind!r}: choose one of {', '.join(MODELS)}")
