"""The benchmark workloads, each built twice (chainrule and PyTorch) from the same weights."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn, optim

Step = Callable[[], Any]


def copy_weights(src: torch.nn.Module, dst: nn.Module) -> None:
    """Give the chainrule model the PyTorch model's parameters (same names, same order)."""
    state = {k: v.detach().numpy().copy() for k, v in src.state_dict().items()}
    dst.load_state_dict({k: cr.tensor(v) for k, v in state.items()})


def mlp_models() -> tuple[torch.nn.Module, nn.Module]:
    """MLP 784-256-128-10 in both libraries with identical weights."""
    tm = torch.nn.Sequential(
        torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 128), torch.nn.ReLU(),
        torch.nn.Linear(128, 10),
    )  # fmt: skip
    cm = nn.Sequential(
        nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10)
    )
    copy_weights(tm, cm)
    return tm, cm


def cnn_models() -> tuple[torch.nn.Module, nn.Module]:
    """LeNet-style: conv 1->8 3x3, ReLU, pool 2, conv 8->16 3x3, ReLU, pool 2, linear 400->10."""
    tm = torch.nn.Sequential(
        torch.nn.Conv2d(1, 8, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(8, 16, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Flatten(),
        torch.nn.Linear(400, 10),
    )  # fmt: skip
    cm = nn.Sequential(
        nn.Conv2d(1, 8, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 16, 3), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 10),
    )  # fmt: skip
    copy_weights(tm, cm)
    return tm, cm


def mlp_batch(batch: int = 128, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The MLP rows' batch: ``batch`` random 784-vectors (float32) and class indices."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((batch, 784)).astype(np.float32), rng.integers(0, 10, batch)


def cnn_batch(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The LeNet rows' batch: 64 random 1x28x28 images (float32) and class indices."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((64, 1, 28, 28)).astype(np.float32), rng.integers(0, 10, 64)


def train_steps(
    tm: torch.nn.Module, cm: nn.Module, x: np.ndarray, y: np.ndarray, lr: float = 0.01
) -> tuple[Step, Step]:
    """One SGD step (forward, cross-entropy, backward, update) for each library."""
    topt = torch.optim.SGD(tm.parameters(), lr=lr)
    copt = optim.SGD(cm.parameters(), lr=lr)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    cx, cy = cr.tensor(x), cr.tensor(y)

    def torch_step() -> None:
        topt.zero_grad()
        loss = torch.nn.functional.cross_entropy(tm(tx), ty)
        loss.backward()
        topt.step()

    def chainrule_step() -> None:
        copt.zero_grad()
        loss = F.cross_entropy(cm(cx), cy)
        loss.backward()
        copt.step()

    return chainrule_step, torch_step


def lstm_steps(
    seq: int = 32, batch: int = 32, n_in: int = 64, hidden: int = 128
) -> tuple[Step, Step]:
    """One LSTM training step (1 layer, forward over the sequence, mean-square loss on the
    outputs, backward, Adam) in each library, from the same weights."""
    x = np.random.default_rng(0).standard_normal((seq, batch, n_in)).astype(np.float32)
    tm, cm = torch.nn.LSTM(n_in, hidden), nn.LSTM(n_in, hidden)
    copy_weights(tm, cm)
    topt, copt = torch.optim.Adam(tm.parameters(), 1e-3), optim.Adam(cm.parameters(), 1e-3)
    tx, cx = torch.from_numpy(x), cr.tensor(x)

    def torch_step() -> None:
        topt.zero_grad()
        out, _ = tm(tx)
        (out * out).mean().backward()
        topt.step()

    def chainrule_step() -> None:
        copt.zero_grad()
        out, _ = cm(cx)
        (out * out).mean().backward()
        copt.step()

    return chainrule_step, torch_step


def numpy_mlp_step(tm: torch.nn.Module, x: np.ndarray, y: np.ndarray, lr: float = 0.01) -> Step:
    """The floor: the same MLP step written by hand in NumPy, no autograd."""
    W = [p.detach().numpy().copy() for p in tm.parameters()]
    W1, b1, W2, b2, W3, b3 = W
    n = x.shape[0]
    rows = np.arange(n)

    def step() -> None:
        h1 = x @ W1.T
        h1 += b1
        a1 = np.maximum(h1, 0)
        h2 = a1 @ W2.T
        h2 += b2
        a2 = np.maximum(h2, 0)
        out = a2 @ W3.T
        out += b3
        out -= out.max(axis=1, keepdims=True)
        e = np.exp(out)
        p = e / e.sum(axis=1, keepdims=True)
        _ = -np.log(p[rows, y]).mean()
        p[rows, y] -= 1
        p /= n
        dW3, db3 = p.T @ a2, p.sum(0)
        d2 = p @ W3
        d2 *= h2 > 0
        dW2, db2 = d2.T @ a1, d2.sum(0)
        d1 = d2 @ W2
        d1 *= h1 > 0
        dW1, db1 = d1.T @ x, d1.sum(0)
        for w, g in ((W1, dW1), (b1, db1), (W2, dW2), (b2, db2), (W3, dW3), (b3, db3)):
            w -= lr * g

    return step


def per_op_steps(n_ops: int = 100) -> tuple[Step, Step]:
    """``n_ops`` times (mul, add, tanh) on a shape-(4,) tensor, then backward."""
    x0 = np.random.default_rng(0).random(4).astype(np.float32)

    def chainrule_step() -> None:
        x = cr.tensor(x0, requires_grad=True)
        y = x
        for _ in range(n_ops):
            y = (y * 1.01 + 0.1).tanh()
        y.sum().backward()

    def torch_step() -> None:
        x = torch.tensor(x0, requires_grad=True)
        y = x
        for _ in range(n_ops):
            y = (y * 1.01 + 0.1).tanh()
        y.sum().backward()

    return chainrule_step, torch_step


def epoch_runs(X: np.ndarray, y: np.ndarray, batch_size: int = 128) -> tuple[Step, Step]:
    """One MLP epoch over ``X`` (flattened images), shuffled loader included, in each library."""
    tm, cm = mlp_models()
    topt = torch.optim.SGD(tm.parameters(), lr=0.01, momentum=0.9)
    copt = optim.SGD(cm.parameters(), lr=0.01, momentum=0.9)
    tds = torch.utils.data.TensorDataset(torch.from_numpy(X), torch.from_numpy(y))
    tloader = torch.utils.data.DataLoader(tds, batch_size=batch_size, shuffle=True)
    cds = cr.data.TensorDataset(cr.tensor(X), cr.tensor(y))
    cloader = cr.data.DataLoader(cds, batch_size=batch_size, shuffle=True)

    def torch_epoch() -> None:
        for xb, yb in tloader:
            topt.zero_grad()
            torch.nn.functional.cross_entropy(tm(xb), yb).backward()
            topt.step()

    def chainrule_epoch() -> None:
        for xb, yb in cloader:
            copt.zero_grad()
            F.cross_entropy(cm(xb), yb).backward()
            copt.step()

    return chainrule_epoch, torch_epoch
