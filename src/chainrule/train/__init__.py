"""Training utilities behind the ``chainrule`` command: a fit loop, metrics, models, plots."""

from .loop import EpochRecord, History, evaluate, fit
from .metrics import accuracy, confusion_matrix, format_confusion_matrix
from .models import build_model

__all__ = [
    "EpochRecord", "History", "evaluate", "fit", "accuracy", "confusion_matrix",
    "format_confusion_matrix", "build_model",
]  # fmt: skip
