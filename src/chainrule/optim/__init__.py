"""Optimizers and learning-rate schedules, with PyTorch's names, defaults and update math.

Each optimizer updates its parameters in place (through ``Tensor._mutate``, which bumps their
versions), reading ``p.grad`` and skipping parameters whose ``.grad`` is ``None``; the state it
keeps per parameter (momentum buffers, running averages) saves and loads in PyTorch's
``state_dict`` layout. First-order: :class:`SGD`, :class:`Adam`, :class:`AdamW`, :class:`NAdam`,
:class:`RAdam`, :class:`Adamax`, :class:`Adadelta`, :class:`RMSprop`, :class:`Adagrad`;
quasi-Newton: :class:`LBFGS` (with a closure, optionally a strong-Wolfe line search).

Example:
    >>> import chainrule as cr
    >>> w = cr.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = cr.optim.SGD([w], lr=0.1)
    >>> sched = cr.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    >>> for _ in range(3):
    ...     opt.zero_grad()
    ...     loss = (w * w).sum()
    ...     loss.backward()
    ...     opt.step()
    ...     sched.step()
    >>> [round(v, 4) for v in w.tolist()], sched.get_last_lr()
    ([0.684, -1.368], [0.0125])
"""

from . import lr_scheduler
from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .adamax import Adamax
from .lbfgs import LBFGS
from .nadam import NAdam
from .optimizer import Optimizer
from .radam import RAdam
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = [
    "Optimizer",
    "SGD",
    "Adam",
    "AdamW",
    "NAdam",
    "RAdam",
    "Adamax",
    "Adadelta",
    "RMSprop",
    "Adagrad",
    "LBFGS",
    "lr_scheduler",
]
