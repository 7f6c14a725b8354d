"""Training character-level language models (:mod:`chainrule.models`): the loss, a step-based
loop on random mini-batches of words (makemore's), and sampling words back out."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..autograd.grad_mode import no_grad
from ..creation import zeros
from ..data.text import CharTokenizer
from ..dtypes import int64
from ..models import generate
from ..nn import functional as F
from ..random import Generator
from ..tensor import Tensor

__all__ = ["LMRecord", "lm_loss", "evaluate_lm", "fit_lm", "history_dict", "sample_words"]


def lm_loss(logits: Tensor, targets: Tensor) -> Tensor:
    """Mean next-token cross-entropy of ``logits`` ``(B, T, V)`` against ``targets`` ``(B, T)``,
    over the positions whose target is not ``-1`` (padding).

    Example:
        >>> import chainrule as cr
        >>> logits = cr.zeros(1, 3, 27)  # uniform
        >>> round(lm_loss(logits, cr.tensor([[4, 0, -1]])).item(), 4)  # log(27)
        3.2958
    """
    B, T, V = logits.shape
    return F.cross_entropy(logits.reshape(B * T, V), targets.reshape(B * T), ignore_index=-1)


def evaluate_lm(model: Any, X: Tensor, Y: Tensor, batch_size: int = 1024) -> float:
    """Mean per-token loss of ``model`` on all of ``(X, Y)`` (eval mode, no graph).

    Example:
        >>> import chainrule as cr
        >>> from chainrule.models import Bigram
        >>> X, Y = CharTokenizer("ab").training_pairs(["ab", "ba"])
        >>> round(evaluate_lm(Bigram(3), X, Y), 4)  # log(3)
        1.0986
    """
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    with no_grad():
        for i in range(0, len(X), batch_size):
            yb = Y[i : i + batch_size]
            n = int((yb.numpy() != -1).sum())
            total += float(lm_loss(model(X[i : i + batch_size]), yb).item()) * n
            count += n
    model.train(was_training)
    return total / max(count, 1)


@dataclass
class LMRecord:
    """The losses measured at one evaluation of :func:`fit_lm`."""

    step: int
    train_loss: float
    val_loss: float | None
    lr: float
    seconds: float


def fit_lm(
    model: Any,
    X: Tensor,
    Y: Tensor,
    optimizer: Any,
    steps: int,
    batch_size: int = 32,
    scheduler: Any = None,
    generator: Generator | None = None,
    val: tuple[Tensor, Tensor] | None = None,
    eval_every: int | None = None,
    on_eval: Callable[[LMRecord], None] | None = None,
) -> list[LMRecord]:
    """Train ``model`` for ``steps`` optimizer steps, each on ``batch_size`` rows of ``(X, Y)``
    drawn at random (with replacement, as makemore); step ``scheduler`` every step.

    Every ``eval_every`` steps (default: ``steps // 10``) and after the last one, it records the
    mean training loss since the last record and the loss on ``val`` (if given), and calls
    ``on_eval`` with the :class:`LMRecord`.

    Example:
        >>> import chainrule as cr
        >>> from chainrule.models import Bigram
        >>> X, Y = CharTokenizer("ab").training_pairs(["ab", "abb", "ba"])
        >>> m = Bigram(3)
        >>> h = fit_lm(m, X, Y, cr.optim.Adam(m.parameters(), lr=0.1), steps=50, batch_size=3,
        ...            generator=cr.Generator().manual_seed(0))
        >>> h[-1].train_loss < 1.0986  # below log(3), the uniform model's loss
        True
    """
    if steps <= 0 or batch_size <= 0:
        raise ValueError(
            f"fit_lm: steps and batch_size must be positive, got {steps}, {batch_size}"
        )
    rng = generator.numpy if generator is not None else np.random.default_rng()
    every = eval_every or max(steps // 10, 1)
    history: list[LMRecord] = []
    model.train()
    t0 = time.perf_counter()
    loss_sum, loss_n = 0.0, 0
    for step in range(1, steps + 1):
        ix = Tensor._wrap(rng.integers(0, len(X), batch_size))
        loss = lm_loss(model(X[ix]), Y[ix])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        loss_sum += float(loss.item())
        loss_n += 1
        if step % every == 0 or step == steps:
            val_loss = evaluate_lm(model, *val) if val is not None else None
            rec = LMRecord(
                step, loss_sum / loss_n, val_loss, float(optimizer.param_groups[0]["lr"]),
                time.perf_counter() - t0,
            )  # fmt: skip
            history.append(rec)
            loss_sum, loss_n = 0.0, 0
            if on_eval is not None:
                on_eval(rec)
    return history


def history_dict(history: Sequence[LMRecord]) -> dict:
    """Plain data for JSON.

    Example:
        >>> history_dict([LMRecord(10, 2.5, None, 0.1, 1.0)])["evals"][0]["step"]
        10
    """
    return {"evals": [asdict(r) for r in history]}


def sample_words(
    model: Any, tokenizer: CharTokenizer, num: int = 20, temperature: float = 1.0,
    top_k: int | None = None, max_length: int = 32,
    generator: Generator | None = None,
) -> list[str]:  # fmt: skip
    """``num`` words sampled from ``model``: each starts at the boundary token and ends at the
    next one (or after ``max_length`` characters).

    Example:
        >>> import chainrule as cr
        >>> from chainrule.models import Bigram
        >>> words = sample_words(Bigram(3), CharTokenizer("ab"), num=5,
        ...                      generator=cr.Generator().manual_seed(0))
        >>> len(words), set("".join(words)) <= {"a", "b"}
        (5, True)
    """
    if num <= 0:
        raise ValueError(f"sample_words: num must be positive, got {num}")
    n = int(max_length)
    start = zeros(num, 1, dtype=int64)
    out = generate(model, start, n + 1, temperature, top_k, generator)[:, 1:].numpy()
    words = []
    for row in out:
        ends = np.flatnonzero(row == tokenizer.boundary_id)
        words.append(tokenizer.decode(row[: ends[0]] if len(ends) else row[:n]))
    return words
