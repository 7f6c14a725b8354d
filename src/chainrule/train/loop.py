"""``fit``: the training loop (forward, loss, backward, step) with progress and history."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..autograd.grad_mode import no_grad
from ..tensor import Tensor


@dataclass
class EpochRecord:
    """What one epoch measured."""

    epoch: int
    train_loss: float
    train_acc: float
    test_loss: float | None
    test_acc: float | None
    lr: float
    seconds: float
    samples_per_sec: float


@dataclass
class History:
    """The records of every epoch of a :func:`fit` run.

    Example:
        >>> h = History()
        >>> h.records.append(EpochRecord(1, 0.5, 0.8, None, None, 0.1, 1.0, 100.0))
        >>> h.column("train_acc")
        [0.8]
    """

    records: list[EpochRecord] = field(default_factory=list)

    def column(self, name: str) -> list:
        """One field across epochs, e.g. ``history.column('test_acc')``."""
        return [getattr(r, name) for r in self.records]

    def to_dict(self) -> dict:
        """Plain data for JSON."""
        return {"epochs": [asdict(r) for r in self.records]}


def evaluate(model: Any, loader: Iterable, loss_fn: Callable) -> tuple[float, float, np.ndarray]:
    """Mean loss, accuracy and predicted classes of ``model`` over ``loader`` (eval mode).

    Example:
        >>> import chainrule as cr
        >>> from chainrule.data import DataLoader, TensorDataset
        >>> model = cr.nn.Linear(2, 2)
        >>> data = DataLoader(TensorDataset(cr.randn(8, 2), cr.randint(0, 2, (8,))), batch_size=4)
        >>> loss, acc, pred = evaluate(model, data, cr.nn.CrossEntropyLoss())
        >>> pred.shape
        (8,)
    """
    was_training = model.training
    model.eval()
    total, correct, loss_sum, preds = 0, 0, 0.0, []
    with no_grad():
        for xb, yb in loader:
            out = model(xb)
            n = len(yb)
            loss_sum += float(loss_fn(out, yb).item()) * n
            p = out._data.argmax(axis=1)
            preds.append(p)
            correct += int((p == yb._data).sum())
            total += n
    model.train(was_training)
    pred = np.concatenate(preds) if preds else np.zeros(0, dtype=np.int64)
    return loss_sum / max(total, 1), correct / max(total, 1), pred


def fit(
    model: Any,
    train_loader: Iterable,
    optimizer: Any,
    loss_fn: Callable,
    epochs: int,
    scheduler: Any = None,
    test_loader: Iterable | None = None,
    progress: bool = True,
    on_epoch: Callable[[EpochRecord], None] | None = None,
) -> History:
    """Train ``model`` for ``epochs``: for each batch, forward, loss, ``backward()``, step.

    Shows a tqdm bar (loss, accuracy, samples/s) when ``progress`` and tqdm is installed.
    A ``ReduceLROnPlateau`` scheduler is stepped with the test loss (or train loss), any other
    scheduler once per epoch, except ``OneCycleLR`` which is stepped per batch.

    Data-parallel (a :class:`~chainrule.nn.parallel.DistributedDataParallel` model, a loader
    over a :class:`~chainrule.data.DistributedSampler`): the sampler's ``set_epoch`` is called
    before each epoch, and each epoch's loss, accuracy and samples/s are over all ranks.

    Example:
        >>> import chainrule as cr
        >>> from chainrule.data import DataLoader, TensorDataset
        >>> _ = cr.manual_seed(0)
        >>> X = cr.randn(64, 2); y = (X[:, 0] > 0).long()
        >>> model = cr.nn.Linear(2, 2)
        >>> opt = cr.optim.SGD(model.parameters(), lr=0.5)
        >>> h = fit(model, DataLoader(TensorDataset(X, y), batch_size=16), opt,
        ...         cr.nn.CrossEntropyLoss(), epochs=20, progress=False)
        >>> h.records[-1].train_acc > 0.9
        True
    """
    bar_factory = _tqdm() if progress else None
    set_epoch = getattr(getattr(train_loader, "sampler", None), "set_epoch", None)
    per_batch = type(scheduler).__name__ == "OneCycleLR"
    plateau = type(scheduler).__name__ == "ReduceLROnPlateau"
    history = History()
    for epoch in range(1, epochs + 1):
        model.train()
        t0 = time.perf_counter()
        seen = correct = 0
        loss_sum = 0.0
        bar = None
        if set_epoch is not None:  # a DistributedSampler: a new shuffle each epoch, as torch
            set_epoch(epoch - 1)
        if bar_factory is not None:  # disable=None: no bar when output is not a terminal
            bar = bar_factory(
                total=_len(train_loader), desc=f"epoch {epoch}/{epochs}", leave=False, disable=None
            )
        for xb, yb in train_loader:
            optimizer.zero_grad()
            out = model(xb)
            loss = loss_fn(out, yb)
            loss.backward()
            optimizer.step()
            if per_batch:
                scheduler.step()
            n = len(yb)
            seen += n
            loss_sum += float(loss.item()) * n
            correct += int((out._data.argmax(axis=1) == _labels(yb)).sum())
            if bar is not None:
                dt = time.perf_counter() - t0
                bar.set_postfix(
                    loss=f"{loss_sum / seen:.4f}", acc=f"{correct / seen:.3f}",
                    samples_s=f"{seen / max(dt, 1e-9):.0f}", refresh=False,
                )  # fmt: skip
                bar.update(1)
        if bar is not None:
            bar.close()
        seconds = time.perf_counter() - t0
        seen, correct, loss_sum = _totals_over_ranks(seen, correct, loss_sum)
        lr = float(optimizer.param_groups[0]["lr"])
        test_loss = test_acc = None
        if test_loader is not None:
            test_loss, test_acc, _ = evaluate(model, test_loader, loss_fn)
        train_loss = loss_sum / max(seen, 1)
        if scheduler is not None and not per_batch:
            if plateau:
                scheduler.step(test_loss if test_loss is not None else train_loss)
            else:
                scheduler.step()
        rec = EpochRecord(
            epoch, train_loss, correct / max(seen, 1), test_loss, test_acc, lr, seconds,
            seen / max(seconds, 1e-9),
        )  # fmt: skip
        history.records.append(rec)
        if on_epoch is not None:
            on_epoch(rec)
    return history


def _totals_over_ranks(seen: int, correct: int, loss_sum: float) -> tuple[int, int, float]:
    """The epoch's counts summed over the ranks of a data-parallel run (as they are otherwise)."""
    from .. import distributed as dist

    if not dist.is_initialized() or dist.get_world_size() == 1:
        return seen, correct, loss_sum
    t = Tensor._wrap(np.array([seen, correct, loss_sum], dtype=np.float64))
    dist.all_reduce(t)
    s, c, total = t._data.tolist()
    return int(s), int(c), total


def _labels(y: Any) -> np.ndarray:
    return y._data if isinstance(y, Tensor) else np.asarray(y)


def _len(loader: Any) -> int | None:
    try:
        return len(loader)
    except TypeError:
        return None


def _tqdm() -> Any:
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm
