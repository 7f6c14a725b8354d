"""Training curves as PNG (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path

from .loop import History


def plot_history(history: History, path: str | Path, title: str = "") -> Path:
    """Save loss and accuracy curves (train and test, per epoch) side by side as a PNG.

    Example:
        >>> import tempfile, os
        >>> from chainrule.train.loop import EpochRecord
        >>> h = History([EpochRecord(1, 0.9, 0.6, 0.8, 0.7, 0.1, 1.0, 10.0),
        ...              EpochRecord(2, 0.5, 0.8, 0.6, 0.75, 0.1, 1.0, 10.0)])
        >>> p = plot_history(h, os.path.join(tempfile.mkdtemp(), "curves.png"))
        >>> p.stat().st_size > 0
        True
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    epochs = history.column("epoch")
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot(epochs, history.column("train_loss"), "o-", label="train")
    ax_acc.plot(epochs, history.column("train_acc"), "o-", label="train")
    if any(v is not None for v in history.column("test_loss")):
        ax_loss.plot(epochs, history.column("test_loss"), "s-", label="test")
        ax_acc.plot(epochs, history.column("test_acc"), "s-", label="test")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    for ax in (ax_loss, ax_acc):  # epochs are whole numbers: no 1.2, 1.4... ticks
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_lm_history(history: list, path: str | Path, title: str = "") -> Path:
    """Save a language model's loss curves (train and validation, per evaluation step) as a PNG.

    ``history`` is :func:`chainrule.train.lm.fit_lm`'s list of records.

    Example:
        >>> import tempfile, os
        >>> from chainrule.train.lm import LMRecord
        >>> h = [LMRecord(10, 3.0, 3.1, 0.1, 1.0), LMRecord(20, 2.5, 2.6, 0.1, 2.0)]
        >>> p = plot_lm_history(h, os.path.join(tempfile.mkdtemp(), "curves.png"))
        >>> p.stat().st_size > 0
        True
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r.step for r in history]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(steps, [r.train_loss for r in history], "o-", label="train")
    if any(r.val_loss is not None for r in history):
        ax.plot(steps, [r.val_loss for r in history], "s-", label="validation")
    ax.set(xlabel="step", ylabel="cross-entropy loss (nats per character)", title=title or "loss")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
