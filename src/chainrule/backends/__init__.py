"""``chainrule.backends``: the flags scripts set for torch's backends (``cudnn.benchmark``,
``cudnn.deterministic``, ``mps.is_available()``...).

chainrule's kernels are NumPy (and CuPy) calls: no cuDNN algorithm search to switch on, no TF32,
no Apple GPU. The flags are kept as plain attributes, so scripts that set or read them run.

Example:
    >>> import chainrule as cr
    >>> cr.backends.cudnn.benchmark = True
    >>> cr.backends.mps.is_available()
    False
"""

from . import cpu, cuda, cudnn, mps

__all__ = ["cpu", "cuda", "cudnn", "mps"]
