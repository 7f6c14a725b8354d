"""Classification metrics on label arrays."""

from __future__ import annotations

from typing import Any

import numpy as np


def accuracy(logits: Any, target: Any) -> float:
    """Fraction of rows whose arg-max class equals ``target``.

    Example:
        >>> import chainrule as cr
        >>> accuracy(cr.tensor([[0.1, 0.9], [0.8, 0.2]]), cr.tensor([1, 1]))
        0.5
    """
    pred = np.asarray(logits).argmax(axis=1)
    return float((pred == np.asarray(target)).mean()) if pred.size else 0.0


def confusion_matrix(y_true: Any, y_pred: Any, num_classes: int | None = None) -> np.ndarray:
    """Counts ``m[i, j]`` of samples of true class ``i`` predicted as ``j``.

    Example:
        >>> confusion_matrix([0, 1, 1], [0, 1, 0]).tolist()
        [[1, 0], [1, 1]]
    """
    t = np.asarray(y_true, dtype=np.int64).reshape(-1)
    p = np.asarray(y_pred, dtype=np.int64).reshape(-1)
    if t.shape != p.shape:
        raise ValueError(f"confusion_matrix: {t.shape[0]} labels but {p.shape[0]} predictions")
    n = num_classes or int(max(t.max(initial=-1), p.max(initial=-1)) + 1)
    m = np.zeros((n, n), dtype=np.int64)
    np.add.at(m, (t, p), 1)
    return m


def format_confusion_matrix(m: np.ndarray, labels: list[str] | None = None) -> str:
    """A confusion matrix as an aligned text table (rows: true class, columns: predicted).

    Example:
        >>> print(format_confusion_matrix(np.array([[3, 1], [0, 4]])))
        true\\pred   0   1
                0   3   1
                1   0   4
    """
    labels = labels or [str(i) for i in range(m.shape[0])]
    w = max(3, max(len(s) for s in labels), len(str(int(m.max(initial=0)))))
    head = "true\\pred " + " ".join(s.rjust(w) for s in labels)
    rows = [
        labels[i].rjust(len("true\\pred")) + " " + " ".join(str(int(v)).rjust(w) for v in row)
        for i, row in enumerate(m)
    ]
    return "\n".join([head, *rows])
