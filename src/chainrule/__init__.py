"""chainrule: reverse-mode automatic differentiation you can see.

Example:
    >>> import chainrule as cr
    >>> w = cr.tensor([2.0, -3.0, -3.0], requires_grad=True)
    >>> x = cr.tensor([-1.0, -2.0])
    >>> f = cr.sigmoid(w[0] * x[0] + w[1] * x[1] + w[2])
    >>> f.backward()
    >>> f"{f.item():.2f}", [f"{g:.2f}" for g in w.grad.tolist()]
    ('0.73', ['-0.20', '-0.39', '0.20'])
"""

from . import (
    _methods,  # noqa: F401  (binds operators and methods to Tensor)
    autograd,
)
from .autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .creation import (
    arange,
    empty,
    eye,
    full,
    full_like,
    linspace,
    multinomial,
    ones,
    rand,
    rand_like,
    randint,
    randn,
    randn_like,
    zeros,
)
from .dtypes import (
    bool_,
    double,
    float16,
    float32,
    float64,
    get_default_dtype,
    int32,
    int64,
    long,
    set_default_dtype,
)
from .functions import (
    abs,
    add,
    addmm,
    allclose,
    amax,
    amin,
    argmax,
    argmin,
    argsort,
    argwhere,
    bmm,
    broadcast_to,
    cat,
    ceil,
    chunk,
    clamp,
    clip,
    concat,
    concatenate,
    cos,
    count_nonzero,
    cumsum,
    diagonal,
    div,
    dot,
    einsum,
    eq,
    equal,
    exp,
    expand,
    expm1,
    flatten,
    flip,
    floor,
    gather,
    ge,
    gt,
    index_select,
    isfinite,
    isinf,
    isnan,
    le,
    lerp,
    log,
    log1p,
    logical_and,
    logical_not,
    logical_or,
    logsumexp,
    lt,
    masked_fill,
    matmul,
    max,
    maximum,
    mean,
    min,
    minimum,
    mm,
    mul,
    ne,
    neg,
    nonzero,
    norm,
    outer,
    pad,
    permute,
    pow,
    prod,
    relu,
    repeat,
    reshape,
    roll,
    round,
    rsqrt,
    sigmoid,
    sign,
    sin,
    sort,
    split,
    sqrt,
    square,
    squeeze,
    stack,
    std,
    sub,
    sum,
    swapaxes,
    tanh,
    tile,
    topk,
    transpose,
    tril,
    triu,
    true_divide,
    trunc,
    unbind,
    unsqueeze,
    var,
    where,
)
from .random import Generator, manual_seed
from .scalar import Value
from .serialization import load, save
from .tensor import Tensor, as_tensor, ones_like, tensor, zeros_like

_SUBMODULES = ("nn", "optim", "data", "viz", "scalar", "backend", "func", "distributed")


def __getattr__(name: str):  # lazy: `import chainrule` stays quick
    if name in _SUBMODULES:
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'chainrule' has no attribute {name!r}")


bool = bool_  # noqa: A001 - PyTorch's name (chainrule.bool)
float = float32  # noqa: A001
__version__ = "0.1.0"
