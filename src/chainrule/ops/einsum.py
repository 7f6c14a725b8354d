"""``einsum`` as one primitive that contracts its operands pair by pair with ``matmul``.

The primitive works on a *canonical* spec: each operand's subscripts as a tuple of integer
labels (no ellipsis, no size-1 broadcasting: :func:`chainrule.einsum` has resolved those), and
the output's. Its forward takes diagonals of repeated labels and sums labels private to one
operand, then contracts pairs along a path found by ``numpy.einsum_path`` (greedy; cached per
spec and shapes), each pair as one batched ``matmul``. The gradient of operand ``i`` is again an
einsum, of the output gradient with the other operands; labels the gradient lacks (summed
inside operand ``i`` alone) are broadcast back and repeated labels put back on the diagonal
(:data:`diag_embed`), so every rule is differentiable again.
"""

from __future__ import annotations

import string
from collections import OrderedDict
from typing import Any

import numpy as np

from .elementwise import _xp
from .primitive import Primitive, per_input, tangent_sum
from .shape import expand, reshape

Spec = tuple  # (tuple of per-operand label tuples, output label tuple)
_LETTERS = string.ascii_letters


def _unique(labels: tuple) -> tuple:
    return tuple(dict.fromkeys(labels))


def _diagonal(a: Any, labels: tuple) -> tuple:
    """A view of ``a`` with each repeated label's diagonal taken once: (view, unique labels)."""
    u = _unique(labels)
    if len(u) == len(labels):
        return a, labels
    xp = _xp(a)
    shape, strides = [], []
    for lab in u:
        dims = [d for d, x in enumerate(labels) if x == lab]
        shape.append(min(a.shape[d] for d in dims))
        strides.append(int(np.sum([a.strides[d] for d in dims])))
    return xp.lib.stride_tricks.as_strided(a, tuple(shape), tuple(strides), writeable=False), u


def _sum_out(a: Any, labels: tuple, keep: set) -> tuple:
    axes = tuple(d for d, lab in enumerate(labels) if lab not in keep)
    if not axes:
        return a, labels
    return a.sum(axis=axes), tuple(lab for lab in labels if lab in keep)


def _pair(a: Any, la: tuple, b: Any, lb: tuple, keep: set) -> tuple:
    """Contract ``a`` and ``b`` over their shared labels not in ``keep`` with one matmul."""
    a, la = _sum_out(a, la, keep | set(lb))
    b, lb = _sum_out(b, lb, keep | set(la))
    sb = set(lb)
    batch = [x for x in la if x in sb and x in keep]
    contr = [x for x in la if x in sb and x not in keep]
    fa = [x for x in la if x not in sb]
    fb = [x for x in lb if x not in set(la)]
    size = dict(zip(la, a.shape)) | dict(zip(lb, b.shape))

    def n(labels: list) -> int:
        return int(np.prod([size[x] for x in labels], dtype=np.int64))

    at = a.transpose([la.index(x) for x in batch + fa + contr])
    bt = b.transpose([lb.index(x) for x in batch + contr + fb])
    if batch:
        out = at.reshape(n(batch), n(fa), n(contr)) @ bt.reshape(n(batch), n(contr), n(fb))
    else:
        out = at.reshape(n(fa), n(contr)) @ bt.reshape(n(contr), n(fb))
    labels = tuple(batch + fa + fb)
    return out.reshape([size[x] for x in labels]), labels


_PATHS: OrderedDict = OrderedDict()


def _path(ins: list, shapes: list, out: tuple) -> list:
    """The contraction order (pairs of positions in the shrinking operand list), cached."""
    key = (tuple(ins), tuple(shapes), out)
    hit = _PATHS.get(key)
    if hit is not None:
        _PATHS.move_to_end(key)
        return hit
    names: dict = {}
    for lab in [x for labs in ins for x in labs] + list(out):
        names.setdefault(lab, _LETTERS[len(names) % len(_LETTERS)])
    if len(names) > len(_LETTERS):  # too many labels for einsum_path: contract left to right
        path = [(0, 1)] * (len(ins) - 1)
    else:
        eq = ",".join("".join(names[x] for x in labs) for labs in ins)
        eq += "->" + "".join(names[x] for x in out)
        views = [np.broadcast_to(np.empty((), np.float32), s) for s in shapes]
        path = [tuple(p) for p in np.einsum_path(eq, *views, optimize="greedy")[0][1:]]
    _PATHS[key] = path
    if len(_PATHS) > 512:
        _PATHS.popitem(last=False)
    return path


def _einsum_fwd(*arrays: Any, spec: Spec) -> Any:
    ins, out = spec
    ops, labs = [], []
    for i, (a, la) in enumerate(zip(arrays, ins)):
        a, la = _diagonal(a, la)
        others = {x for j, lb in enumerate(ins) if j != i for x in lb}
        a, la = _sum_out(a, la, others | set(out))
        ops.append(a)
        labs.append(la)
    if len(ops) > 2:
        path = _path(labs, [a.shape for a in ops], out)
    else:
        path = [(0, 1)] if len(ops) == 2 else []
    for step in path:  # einsum_path's convention: contract, drop, append the result
        picked = [(ops.pop(p), labs.pop(p)) for p in sorted(step, reverse=True)]
        rest = set(out) | {x for lb in labs for x in lb}
        a, la = picked[0]
        for k, (b, lb) in enumerate(picked[1:], 2):
            a, la = _pair(a, la, b, lb, rest | {x for _, lc in picked[k:] for x in lc})
        ops.append(a)
        labs.append(la)
    a, la = _sum_out(ops[0], labs[0], set(out))
    res = a.transpose([la.index(x) for x in out]) if la != out else a
    xp = _xp(res)
    if any(xp.may_share_memory(res, x) for x in arrays):  # never an alias of an operand
        res = res.copy()
    return res


def _diag_embed_fwd(a: Any, labels: tuple, shape: tuple) -> Any:
    """Zeros of ``shape`` (whose dims carry ``labels``, some repeated) with ``a`` (one dim per
    unique label) on the diagonals."""
    xp = _xp(a)
    out = xp.zeros(shape, dtype=a.dtype)
    u = _unique(labels)
    strides = [int(np.sum([out.strides[d] for d, x in enumerate(labels) if x == lab])) for lab in u]
    view = xp.lib.stride_tricks.as_strided(out, a.shape, strides)
    view[...] = a  # a fresh local array, not a tensor's memory
    return out


diag_embed = Primitive(
    "DiagEmbed",
    _diag_embed_fwd,
    [lambda g, ans, a, labels, shape: einsum_p(g, spec=((labels,), _unique(labels)))],
    ["d diag_embed(a)/da: read the gradient's diagonal back"],
    jvp="linear",
)


def _einsum_rule(i: int, g: Any, ans: Any, *operands: Any, spec: Spec) -> Any:
    ins, out = spec
    mine = ins[i]
    u = _unique(mine)
    have = set(out) | {x for j, lb in enumerate(ins) if j != i for x in lb}
    got = tuple(x for x in u if x in have)
    others = [a for j, a in enumerate(operands) if j != i]
    r = einsum_p(g, *others, spec=((out, *(lb for j, lb in enumerate(ins) if j != i)), got))
    size = dict(zip(mine, operands[i].shape))
    if len(got) < len(u):  # labels summed inside operand i alone: the gradient broadcasts
        r = reshape(r, tuple(size[x] if x in have else 1 for x in u))
        r = expand(r, tuple(size[x] for x in u))
    if len(u) < len(mine):
        r = diag_embed(r, mine, tuple(operands[i].shape))
    return r


def _einsum_jvp(ts: list, ans: Any, *operands: Any, spec: Spec) -> Any:
    """Multilinear: one einsum per operand that has a tangent, the tangent in its place."""
    terms = [
        (lambda t, i=i: einsum_p(*operands[:i], t, *operands[i + 1 :], spec=spec))
        for i in range(len(operands))
    ]
    return tangent_sum(ans, ts, *terms)


einsum_p = Primitive(
    "Einsum",
    _einsum_fwd,
    per_input(_einsum_rule),
    lambda i: f"d einsum/d operand{i}: einsum of the output gradient with the other operands",
    jvp=_einsum_jvp,
)


_ELLIPSIS = 1000  # labels of the dimensions under "..." are _ELLIPSIS + k


def _term(term: str, ndim: int, equation: str) -> tuple:
    """(letters before '...', letters after, has_ellipsis) of one operand's subscripts."""
    if term.count("...") > 1 or term.replace("...", "").count("."):
        raise ValueError(f"einsum(): invalid ellipsis in subscripts {term!r} of {equation!r}")
    for c in term.replace("...", ""):
        if c not in _LETTERS:
            raise ValueError(
                f"einsum(): invalid subscript {c!r} in {equation!r}: subscripts must be letters "
                "in [a-zA-Z]"
            )
    head, dots, tail = term.partition("...")
    return head, tail, bool(dots)


def parse(equation: str, shapes: list) -> tuple:
    """``equation`` for operands of ``shapes`` as a canonical spec, and for each operand the
    shape it takes first (its size-1 broadcast dimensions dropped) or ``None``.

    Example:
        >>> spec, new = parse("...ij,jk", [(5, 2, 3), (3, 4)])
        >>> [len(s) for s in spec[0]], spec[1] == (1000, ord("i"), ord("k")), new
        ([3, 2], True, [None, None])
    """
    eq = equation.replace(" ", "")
    if eq.count("->") > 1:
        raise ValueError(f"einsum(): more than one '->' in {equation!r}")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        raise ValueError(
            f"einsum(): the equation {equation!r} has {len(terms)} operand subscripts but "
            f"{len(shapes)} operands were given"
        )
    parts = [_term(t, len(s), equation) for t, s in zip(terms, shapes)]
    n_ell = []
    for (head, tail, dots), shape, term in zip(parts, shapes, terms):
        named = len(head) + len(tail)
        if (len(shape) < named) if dots else (len(shape) != named):
            raise ValueError(
                f"einsum(): the subscripts {term!r} of {equation!r} do not fit an operand of "
                f"shape {tuple(shape)} ({len(shape)} dimensions)"
            )
        n_ell.append(len(shape) - named)
    width = max(n_ell, default=0)
    ell = tuple(_ELLIPSIS + k for k in range(width))
    ins = []
    for (head, tail, _), k in zip(parts, n_ell):
        ins.append(tuple(map(ord, head)) + ell[width - k :] + tuple(map(ord, tail)))
    size: dict = {}
    for labs, shape in zip(ins, shapes):
        for lab, n in zip(labs, shape):
            m = size.get(lab, 1)
            if n != 1 and m != 1 and n != m:
                name = "..." if lab >= _ELLIPSIS else chr(lab)
                raise ValueError(
                    f"einsum(): operands do not broadcast with remapped shapes in {equation!r}: "
                    f"subscript {name!r} has size {m} in one operand and {n} in another"
                )
            size[lab] = max(m, n) if n != 1 else m
    new_ins, new_shapes = [], []
    for labs, shape in zip(ins, shapes):
        keep = [d for d, (lab, n) in enumerate(zip(labs, shape)) if n != 1 or size[lab] == 1]
        new_ins.append(tuple(labs[d] for d in keep))
        new_shapes.append(None if len(keep) == len(labs) else tuple(shape[d] for d in keep))
    if arrow:
        _, _, dots = _term(rhs, 0, equation)
        head, _, tail = rhs.partition("...")
        out = tuple(map(ord, head)) + (ell if dots else ()) + tuple(map(ord, tail))
        seen = {x for labs in ins for x in labs}
        for c in head + tail:
            if ord(c) not in seen:
                raise ValueError(
                    f"einsum(): output subscript {c!r} of {equation!r} does not appear in the "
                    "equation for any input operand"
                )
        if len(set(out)) != len(out):
            raise ValueError(f"einsum(): output subscripts of {equation!r} repeat a subscript")
    else:
        counts: dict = {}
        for labs in ins:
            for x in labs:
                if x < _ELLIPSIS:
                    counts[x] = counts.get(x, 0) + 1
        out = ell + tuple(sorted(x for x, c in counts.items() if c == 1))
    return (tuple(new_ins), out), new_shapes


def sublist_equation(args: tuple) -> tuple:
    """PyTorch's sublist form ``(op1, [0, 1], op2, [1, 2], [0, 2])`` as ``(equation,
    operands)``; label ``n`` is ``'A' + n`` below 26, ``'a' + n - 26`` from 26 to 51.

    Example:
        >>> sublist_equation(("x", [0, 1], "y", [1, Ellipsis], [0]))
        ('AB,B...->A', ['x', 'y'])
    """

    def letters(sub: Any) -> str:
        out = []
        for s in sub:
            if s is Ellipsis:
                out.append("...")
            elif isinstance(s, (int, np.integer)) and 0 <= s < 52:
                out.append(_LETTERS[26 + s] if s < 26 else _LETTERS[s - 26])
            else:
                raise ValueError(f"einsum(): subscript in a sublist must be in [0, 52), got {s!r}")
        return "".join(out)

    ops = list(args[0::2][: len(args) // 2])
    subs = [letters(s) for s in args[1::2][: len(args) // 2]]
    eq = ",".join(subs)
    if len(args) % 2:
        eq += "->" + letters(args[-1])
    return eq, ops
