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
from ._device import device, get_default_device, set_default_device
from ._inference_mode import inference_mode
from ._size import Size
from .autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .creation import (
    arange,
    empty,
    empty_like,
    eye,
    from_numpy,
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
    randperm,
    zeros,
)
from .dtypes import (
    bool_,
    cdouble,
    cfloat,
    complex64,
    complex128,
    double,
    dtype,
    finfo,
    float16,
    float32,
    float64,
    get_default_dtype,
    half,
    iinfo,
    int8,
    int16,
    int32,
    int64,
    long,
    set_default_dtype,
    short,
    uint8,
    uint16,
    uint32,
    uint64,
)
from .functions import (
    abs,
    add,
    addcdiv,
    addcmul,
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
    clone,
    concat,
    concatenate,
    cos,
    count_nonzero,
    cumprod,
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
    floor_divide,
    fmod,
    gather,
    ge,
    gt,
    index_select,
    is_floating_point,
    is_tensor,
    isfinite,
    isinf,
    isnan,
    le,
    lerp,
    log,
    log1p,
    log2,
    log10,
    log_softmax,
    logical_and,
    logical_not,
    logical_or,
    logsumexp,
    lt,
    masked_fill,
    masked_select,
    matmul,
    max,
    maximum,
    mean,
    min,
    minimum,
    mm,
    mul,
    narrow,
    ne,
    neg,
    nonzero,
    norm,
    numel,
    outer,
    pad,
    permute,
    pow,
    prod,
    reciprocal,
    relu,
    remainder,
    repeat,
    reshape,
    roll,
    round,
    rsqrt,
    scatter,
    scatter_add,
    sigmoid,
    sign,
    sin,
    softmax,
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
    t,
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
from .utils import malloc as _malloc  # noqa: F401  (raises glibc's thresholds: see its docstring)

_SUBMODULES = (
    "nn", "optim", "data", "viz", "scalar", "backend", "func", "cuda", "backends", "utils",
    "distributed",
)  # fmt: skip


def __getattr__(name: str):  # lazy: `import chainrule` stays quick
    if name in _SUBMODULES:
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'chainrule' has no attribute {name!r}")


bool = bool_  # noqa: A001 - PyTorch's names (chainrule.bool, .float, .int)
float = float32  # noqa: A001
int = int32  # noqa: A001
__version__ = "0.1.0"
