"""The primitives, grouped by family. Each is a forward, a rule per input and formula text.

Public, argument-checking wrappers live in :mod:`chainrule.functions`. Where a module imports
one of these families under a short name, the name is the same everywhere (``E`` elementwise,
``I`` index, ``L`` linalg, ``N`` nnops, ``R`` reduce, ``S`` shape, ``C`` conv, ``A`` attention),
and ``F`` is always :mod:`chainrule.nn.functional`, as in PyTorch code; other modules are
imported under their own names (``tests/test_imports.py`` checks both).
"""

from . import tracer  # noqa: F401, E402 - attaches the array methods of Tracer
from .elementwise import (  # noqa: F401
    abs,
    add,
    ceil,
    clamp,
    clone,
    cos,
    div,
    exp,
    expm1,
    floor,
    fmod,
    log,
    log1p,
    log2,
    log10,
    maximum,
    minimum,
    mul,
    neg,
    pow,
    relu,
    remainder,
    round,
    sigmoid,
    sign,
    sin,
    sqrt,
    sub,
    tanh,
    trunc,
    where,
)
from .index import cast, gather, getitem, index_put, scatter, scatter_add, to_device  # noqa: F401
from .linalg import matmul  # noqa: F401
from .primitive import Primitive, per_input  # noqa: F401
from .reduce import amax, amin, cumprod, cumsum, norm2, prod  # noqa: F401
from .shape import cat, expand, flip, pad, permute, reshape, sum, sum_to  # noqa: F401
