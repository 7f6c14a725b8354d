"""Random compositions of ops against PyTorch: hypothesis draws expression trees over three
inputs whose shapes broadcast against each other, and ``oracle.check`` compares the forward,
gradient and second derivative with PyTorch and the gradient with finite differences."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import chainrule as cr
from oracle import check


def M(x):  # noqa: N802
    import torch

    return cr if isinstance(x, cr.Tensor) else torch


UNARY = [
    lambda a: a.tanh(),
    lambda a: a.sin(),
    lambda a: a.sigmoid(),
    lambda a: -a,
    lambda a: a * a,
    lambda a: (a * a + 1).log(),
    lambda a: (a * a + 0.5).sqrt(),
    lambda a: (a * 0.5).exp(),
    lambda a: a.cos() * 2.0,
    lambda a: 1.5 - a,
    lambda a: (a.abs() + 0.5) ** 1.5,
    lambda a: a.sum(dim=-1, keepdim=True),
    lambda a: a.mean(dim=0, keepdim=True) if a.ndim else a,
    lambda a: a.logsumexp(dim=-1, keepdim=True) if a.ndim else a,
    lambda a: a.amax(dim=-1, keepdim=True) if a.ndim else a,
    lambda a: a.flip(-1) if a.ndim else a,
    lambda a: a.clamp(-0.8, 0.9),
]
BINARY = [
    lambda a, b: a + b,
    lambda a, b: a - b,
    lambda a, b: a * b,
    lambda a, b: a / (b * b + 1),
    lambda a, b: (a * a + 0.5) ** b.tanh(),
    lambda a, b: M(a).maximum(a, b * 1.01 + 0.003),
    lambda a, b: M(a).where(b > 0, a, b * 2),
]


@st.composite
def programs(draw):
    """A base shape, three input shapes that broadcast to it, and a random expression tree."""
    ndim = draw(st.integers(0, 3))
    base = tuple(draw(st.integers(1, 3)) for _ in range(ndim))
    shapes = []
    for _ in range(3):
        keep = draw(st.integers(0, ndim))  # a trailing suffix, some dims squashed to 1
        shapes.append(tuple(1 if draw(st.booleans()) else s for s in base[ndim - keep :]))
    steps = []
    for _ in range(draw(st.integers(1, 7))):
        if draw(st.booleans()):
            steps.append(("u", draw(st.integers(0, len(UNARY) - 1)), draw(st.integers(0, 9))))
        else:
            steps.append(
                ("b", draw(st.integers(0, len(BINARY) - 1)), draw(st.integers(0, 9)),
                 draw(st.integers(0, 9)))
            )  # fmt: skip
    return shapes, steps


def evaluate(steps, *xs):
    """Run the program: each step reads earlier values (inputs first) and appends its result."""
    vals = list(xs)
    for step in steps:
        if step[0] == "u":
            vals.append(UNARY[step[1]](vals[step[2] % len(vals)]))
        else:
            vals.append(BINARY[step[1]](vals[step[2] % len(vals)], vals[step[3] % len(vals)]))
    out = vals[-1]
    for v in vals[len(xs) :]:  # every intermediate reaches the output, so every path is tested
        out = out + v.sum() * 0.1
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(program=programs(), seed=st.integers(0, 2**16))
def test_random_compositions_match_torch(program, seed):
    shapes, steps = program
    check(lambda *xs: evaluate(steps, *xs), shapes=shapes, seed=seed)


@settings(max_examples=25, deadline=None)
@given(
    sa=st.lists(st.integers(1, 3), min_size=1, max_size=3),
    sb=st.lists(st.integers(1, 3), min_size=1, max_size=3),
    seed=st.integers(0, 2**16),
)
def test_random_matmul_chains_match_torch(sa, sb, seed):
    # (..., m, k) @ (..., k, n) then a nonlinearity and a second product with broadcasting
    a_shape = (*sa[:-1], 2, 3) if len(sa) > 1 else (3,)
    b_shape = (*sb[:-1], 3, 2) if len(sb) > 1 else (3,)
    batch_a, batch_b = a_shape[:-2], b_shape[:-2]
    try:
        np.broadcast_shapes(batch_a, batch_b)
    except ValueError:
        return
    check(lambda a, b: ((a @ b).tanh() * 2 + (a @ b)).sum(-1) if (a @ b).ndim else (a @ b).tanh(),
          shapes=[a_shape, b_shape], seed=seed)  # fmt: skip


@settings(max_examples=25, deadline=None)
@given(
    shape=st.lists(st.integers(1, 4), min_size=1, max_size=3),
    seed=st.integers(0, 2**16),
    data=st.data(),
)
def test_random_reshape_index_reduce_pipelines_match_torch(shape, seed, data):
    shape = tuple(shape)
    ndim = len(shape)
    perm = tuple(data.draw(st.permutations(range(ndim))))
    dim = data.draw(st.integers(-ndim, ndim - 1))
    idx = np.asarray(data.draw(st.lists(st.integers(0, shape[0] - 1), min_size=1, max_size=5)))
    keep = data.draw(st.booleans())

    def fn(x):
        y = x[idx.tolist()] if isinstance(x, cr.Tensor) else x[M(x).tensor(idx)]
        y = (y.exp() * y).permute(*perm).reshape(-1, *y.permute(*perm).shape[1:])
        return y.sum(dim=dim, keepdim=keep) + y.var(dim=dim, keepdim=keep, correction=0)

    check(fn, shapes=[shape], seed=seed)
