"""vmap: every primitive's batching rule against a Python loop over the examples (all ways of
batching its array arguments, batch dim first and last), the transforms alone and composed
against JAX (jax.vmap, jax.grad, jax.jacrev, jax.hessian) and torch.func, per-example gradients
of a real model through functional_call, pytrees, randomness, dtypes and bad input."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
import torch

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn
from chainrule.func import functional_call, grad, hessian, jacrev, value_and_grad, vjp, vmap
from chainrule.ops import batching as B
from chainrule.ops import batchnorm as BN
from chainrule.ops import conv as C
from chainrule.ops import einsum as ES
from chainrule.ops import elementwise as E
from chainrule.ops import index as I
from chainrule.ops import linalg as L
from chainrule.ops import nnops as N
from chainrule.ops import reduce as R
from chainrule.ops import shape as S

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy

N_BATCH = 3


# ----- argument specs: arrays that can be batched, anything else is static --------------------
class Arr:
    def __init__(self, shape: tuple, kind: str = "f", high: int = 0) -> None:
        self.shape, self.kind, self.high = shape, kind, high

    def draw(self, rng: np.random.Generator, lead: tuple = ()) -> np.ndarray:
        shape = lead + self.shape
        if self.kind == "f":
            return rng.standard_normal(shape)
        if self.kind == "p":
            return rng.uniform(0.5, 2.0, shape)
        if self.kind == "u":
            return rng.uniform(0.05, 0.95, shape)
        if self.kind == "b":
            return rng.standard_normal(shape) > 0
        if self.kind == "i":
            return rng.integers(0, self.high, shape)
        if self.kind == "perm":  # distinct indices along the last dim
            out = np.argsort(rng.standard_normal(shape[:-1] + (self.high,)), axis=-1)
            return out[..., : shape[-1]]
        raise ValueError(self.kind)


f34, p34, f4 = Arr((3, 4)), Arr((3, 4), "p"), Arr((4,))
UNARY = [E.neg, E.exp, E.expm1, E.sign, E.floor, E.ceil, E.round, E.trunc, E.abs, E.sin, E.cos,
         E.tanh, E.sigmoid, E.relu, E.clone, N.erf, N.log_sigmoid]  # fmt: skip
POSITIVE = [E.log, E.log1p, E.log2, E.log10, E.sqrt]
BINARY = [E.add, E.sub, E.mul, E.div, E.remainder, E.fmod, E.maximum, E.minimum, E.eq, E.ne,
          E.lt, E.le, E.gt, E.ge]  # fmt: skip

CASES: list = (
    [(p, [f34], {}) for p in UNARY]
    + [(p, [p34], {}) for p in POSITIVE]
    + [(p, [f34, f4], {}) for p in BINARY]
    + [(p, [Arr((2, 1, 4)), Arr((3, 1))], {}) for p in (E.add, E.mul)]
    + [
        (E.pow, [p34, f4], {}),
        (E.where, [Arr((3, 4), "b"), f34, f4], {}),
        (E.clamp, [f34, -0.5, Arr((4,))], {}),
        (E.clamp, [f34, None, 0.3], {}),
        (I.cast, [f34, np.dtype(np.float32)], {}),
        (I.to_device, [f34, "cpu"], {}),
        (N.bce, [Arr((3, 4), "u"), Arr((3, 4), "u")], {}),
        (S.sum, [f34, (1,), True], {}),
        (S.sum, [f34, None, False], {}),
        (R.amax, [f34, (0,), False], {}),
        (R.amin, [f34, None, True], {}),
        (R.norm2, [f34, (1,), False], {}),
        (R.prod, [f34, 1, False], {}),
        (R.argmax, [f34, 1], {}),
        (R.argmax, [f34, None], {}),
        (R.argmin, [f34, 0], {}),
        (R.cumsum, [f34, 1], {}),
        (R.cumprod, [f34, 0], {}),
        (R.prod_others, [f34, 1], {}),
        (S.flip, [f34, (0, 1)], {}),
        (N.softmax, [f34, 1], {}),
        (N.softmax, [f34], {"axis": 0}),
        (N.log_softmax, [f34, -1], {}),
        (S.reshape, [Arr((2, 3, 4)), (4, -1)], {}),
        (S.permute, [Arr((2, 3, 4)), (2, 0, 1)], {}),
        (S.expand, [Arr((3, 1)), (2, 3, 4)], {}),
        (S.pad, [f34, ((1, 0), (0, 2)), 0.5], {}),
        (S.cat, [f34, Arr((2, 4))], {"axis": 0}),
        (S.cat, [f34, Arr((3, 1))], {"axis": -1}),
        (L.matmul, [f34, Arr((4, 5))], {}),
        (L.matmul, [f4, Arr((4, 5))], {}),
        (L.matmul, [f34, f4], {}),
        (L.matmul, [f4, f4], {}),
        (L.matmul, [Arr((2, 3, 4)), Arr((4, 5))], {}),
        (L.matmul, [Arr((2, 3, 4)), Arr((2, 4, 5))], {}),
        (L.matmul, [Arr((3, 1)), Arr((1, 5))], {}),
        (N.linear, [f34, Arr((5, 4)), Arr((5,))], {}),
        (N.linear, [f4, Arr((5, 4))], {}),
        (I.gather, [f34, 1, Arr((3, 2), "i", 4)], {}),
        (N.take_along, [f34, 1, Arr((3,), "i", 4)], {}),
        (I.scatter_add, [Arr((3, 2)), (3, 4), 1, Arr((3, 2), "i", 4)], {}),
        (N.put_along, [Arr((3,)), (3, 4), 1, Arr((3,), "i", 4)], {}),
        (N.nll_pick, [f34, Arr((3,), "i", 4), 3], {}),
        (I.scatter, [f34, Arr((3, 2)), 1, Arr((3, 2), "perm", 4), None], {}),
        (I.scatter, [f34, Arr((3, 2)), 1, Arr((3, 2), "i", 4), "add"], {}),
        (I.getitem, [Arr((3, 4, 5)), (slice(1, 3), Ellipsis, None)], {}),
        (I.getitem, [Arr((3, 4, 5)), (1, slice(None, None, -2))], {}),
        (I.getitem, [Arr((3, 4, 5)), (np.array([0, 2, 2]),)], {}),
        (I.getitem, [Arr((3, 4, 5)), (slice(None), np.array([[1], [0]]), np.array([1, 3]))], {}),
        (I.getitem, [Arr((3, 4, 5)), (np.array([0, 1]), slice(None), np.array([1, 2]))], {}),
        (I.getitem, [Arr((3, 4, 5)), (0, slice(None), np.array([1, 2]))], {}),
        (I.getitem, [f34, np.array([True, False, True])], {}),
        (I.index_put, [Arr((2, 4)), (3, 4), (np.array([0, 0]),)], {}),
        (I.index_put, [Arr((2, 4)), (3, 4, 5), (np.array([0, 1]), slice(None), np.array([1, 2]))],
         {}),
        (I.index_put, [Arr((2, 5)), (3, 4, 5), (slice(1, 3), 2)], {}),
        (ES.einsum_p, [f34, Arr((4, 5))], {"spec": (((0, 1), (1, 2)), (0, 2))}),
        (ES.einsum_p, [Arr((4, 4)), Arr((4,))], {"spec": (((0, 0), (0,)), (0,))}),
        (ES.einsum_p, [f34, f4, Arr((3,))], {"spec": (((0, 1), (1,), (0,)), ())}),
        (ES.diag_embed, [Arr((3,)), (0, 0), (3, 3)], {}),
        (I.setitem, [f34, Arr((4,)), (slice(0, 2),)], {}),
        (I.setitem, [f34, 7.0, (np.array([True, False, True]),)], {}),
        (I.setitem, [Arr((3, 4, 5)), Arr((2, 4)), (np.array([0, 1]), slice(None), np.array([1, 2]))],
         {}),
        (E.masked, [f34, Arr((3, 4), "b")], {}),
        # convolution: x, w, stride, pads (t, b, l, r), dilation, groups, bias; the columns-
        # layout switch (few channels per group) flips when the vmap batch joins the channels
        (C.conv2d, [Arr((2, 4, 6, 6)), Arr((6, 4, 3, 3)), (1, 1), (1, 1, 1, 1), (1, 1), 1,
                    Arr((6,))], {}),
        (C.conv2d, [Arr((2, 2, 5, 5)), Arr((3, 2, 3, 3)), (1, 1), (0, 0, 0, 0), (1, 1), 1], {}),
        (C.conv2d, [Arr((2, 4, 7, 8)), Arr((6, 2, 3, 2)), (2, 1), (1, 0, 2, 1), (2, 1), 2,
                    Arr((6,))], {}),
        (C.conv2d, [Arr((2, 4, 6, 6)), Arr((4, 1, 3, 3)), (1, 2), (1, 1, 1, 1), (1, 1), 4], {}),
        # conv2d_input_grad: g, w, the input's shape, ...; stride 1 with O <= C takes the
        # adjoint-convolution path, the others the scatter of window gradients
        (C.conv2d_input_grad, [Arr((2, 6, 6, 6)), Arr((6, 4, 3, 3)), (2, 4, 6, 6), (1, 1),
                               (1, 1, 1, 1), (1, 1), 1], {}),
        (C.conv2d_input_grad, [Arr((2, 3, 2, 2)), Arr((3, 4, 3, 3)), (2, 4, 6, 6), (1, 1),
                               (0, 0, 0, 0), (2, 2), 1], {}),
        (C.conv2d_input_grad, [Arr((2, 6, 2, 10)), Arr((6, 2, 3, 2)), (2, 4, 7, 8), (2, 1),
                               (1, 0, 2, 1), (2, 1), 2], {}),
        (C.conv2d_input_grad, [Arr((2, 4, 6, 3)), Arr((4, 1, 3, 3)), (2, 4, 6, 6), (1, 2),
                               (1, 1, 1, 1), (1, 1), 4], {}),
        # conv2d_weight_grad: g, x, the weight's shape, ... (per-example weight gradients)
        (C.conv2d_weight_grad, [Arr((2, 6, 6, 6)), Arr((2, 4, 6, 6)), (6, 4, 3, 3), (1, 1),
                                (1, 1, 1, 1), (1, 1), 1], {}),
        (C.conv2d_weight_grad, [Arr((2, 3, 3, 3)), Arr((2, 2, 5, 5)), (3, 2, 3, 3), (1, 1),
                                (0, 0, 0, 0), (1, 1), 1], {}),
        (C.conv2d_weight_grad, [Arr((2, 6, 2, 10)), Arr((2, 4, 7, 8)), (6, 2, 3, 2), (2, 1),
                                (1, 0, 2, 1), (2, 1), 2], {}),
        (C.conv2d_weight_grad, [Arr((2, 4, 6, 3)), Arr((2, 4, 6, 6)), (4, 1, 3, 3), (1, 2),
                                (1, 1, 1, 1), (1, 1), 4], {}),
        # batch_norm_train: x, weight, bias, mean, invstd, eps (the statistics are inputs)
        (BN.batch_norm_train, [Arr((4, 3, 5)), Arr((3,)), Arr((3,)), Arr((3,)), Arr((3,), "p"),
                               1e-5], {}),
        (BN.batch_norm_train, [Arr((5, 3)), None, None, Arr((3,)), Arr((3,), "p"), 1e-5], {}),
        (BN.batch_norm_train, [Arr((2, 3, 2, 2)), Arr((3,)), None, Arr((3,)), Arr((3,), "p"),
                               1e-5], {}),
    ]
)  # fmt: skip


# ----- fused transformer ops: GELU, its fused gradient, layer/RMS norm, attention --------------
from chainrule.ops import attention as A  # noqa: E402

CASES += [
    (N.gelu, [f34], {"approximate": "none"}),
    (N.gelu, [f34], {"approximate": "tanh"}),
    (N.gelu_backward, [f34, f34, "none"], {}),
    (N.gelu_backward, [f34, f34, "tanh"], {}),
    (N.silu, [f34], {}),
    (N.silu_backward, [f34, f34], {}),
    (N.layer_norm, [Arr((2, 3, 4)), Arr((3, 4)), Arr((3, 4))], {"axes": (1, 2), "eps": 1e-5}),
    (N.layer_norm, [f34, None, f4], {"axes": (1,), "eps": 1e-5}),
    (N.layer_norm, [f34, f4, None, (1,), 1e-5], {}),
    (N.rms_norm, [Arr((2, 3, 4)), f4], {"axes": (2,), "eps": 1e-6}),
    (N.rms_norm, [f34, None, (0, 1), 1e-6], {}),
    (A.sdpa, [Arr((2, 3, 4)), Arr((2, 5, 4)), Arr((2, 5, 4)), None, None],
     {"scale": 0.5, "causal": False, "saved": A.Saved()}),
    (A.sdpa, [Arr((3, 4)), Arr((5, 4)), Arr((5, 4)), None, None, 0.5, True, A.Saved()], {}),
    (A.sdpa, [Arr((2, 3, 4)), Arr((2, 5, 4)), Arr((2, 5, 4)), Arr((3, 5)), Arr((2, 3, 5), "p")],
     {"scale": 0.5, "causal": False, "saved": A.Saved()}),
]  # fmt: skip


def _case_id(case: tuple) -> str:
    prim, args, kw = case
    shapes = ",".join(str(a.shape) if isinstance(a, Arr) else type(a).__name__ for a in args)
    return f"{prim.name}[{shapes}]{''.join(kw)}"


def _loop(prim, per_example: list, batched: list, kw: dict) -> np.ndarray:
    outs = []
    for i in range(N_BATCH):
        args = [a[i] if b else a for a, b in zip(per_example, batched)]
        outs.append(np.asarray(prim(*args, **kw)))
    return np.stack(outs)


@pytest.mark.parametrize("case", CASES, ids=_case_id)
@pytest.mark.parametrize("dim", [0, -1])
def test_every_batching_rule_matches_a_loop(case, dim):
    prim, specs, kw = case
    rng = np.random.default_rng(0)
    arrays = [i for i, a in enumerate(specs) if isinstance(a, Arr)]
    for r in range(1, len(arrays) + 1):
        for subset in itertools.combinations(arrays, r):
            batched = [i in subset for i in range(len(specs))]
            vals = [
                (a.draw(rng, (N_BATCH,)) if b else a.draw(rng)) if isinstance(a, Arr) else a
                for a, b in zip(specs, batched)
            ]
            ref = _loop(prim, vals, batched, kw)
            ins, dims = [], []
            for v, b, spec in zip(vals, batched, specs):
                if b:
                    d = dim % v.ndim
                    ins.append(cr.tensor(np.moveaxis(v, 0, d)))
                    dims.append(d - v.ndim if dim < 0 else d)
                else:
                    ins.append(cr.tensor(v) if isinstance(spec, Arr) else v)
                    dims.append(None)
            with warnings.catch_warnings():
                warnings.simplefilter("error", B.PerformanceWarning)
                out = vmap(lambda *xs: prim(*xs, **kw), in_dims=tuple(dims))(*ins)
            assert out.dtype == ref.dtype, (subset, out.dtype, ref.dtype)
            np.testing.assert_allclose(
                out.numpy(), ref, rtol=1e-12, atol=1e-12, err_msg=f"{subset}"
            )


# rules tested through the functions that use them (conv2d, conv_transpose2d, avg_pool2d)
CONV = {C.window_sum, C.window_spread, C.pool_gather, C.pool_scatter}


def test_every_rule_has_a_case_and_the_fallback_is_listed():
    tested = {prim for prim, _, _ in CASES} | CONV
    assert set(B.RULES) <= tested, sorted(p.name for p in set(B.RULES) - tested)
    names = {p.name for p in B.all_primitives()}
    fallback = set(B.fallback_ops())
    assert fallback == {p.name for p in B.all_primitives() if p not in B.RULES}
    assert fallback < names
    # The ops that run example by example today (the fused attention): a new primitive
    # without a rule shows up here, so it is a decision, not an accident.
    assert fallback <= set()


def test_the_fallback_loops_warns_once_and_is_right():
    from chainrule.ops.primitive import Primitive

    # a primitive with no batching rule (every one of chainrule's has one now)
    rowdot = Primitive("MyRowDot", lambda a, b: np.einsum("ij,ij->i", a, b), [None, None])
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((3, 2, 4)), rng.standard_normal((2, 4))
    with pytest.warns(B.PerformanceWarning, match="no batching rule for MyRowDot"):
        out = vmap(rowdot, in_dims=(0, None))(cr.tensor(a), cr.tensor(b))
    np.testing.assert_allclose(out.numpy(), np.einsum("nij,ij->ni", a, b), rtol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # only once
        vmap(rowdot, in_dims=(0, None))(cr.tensor(a), cr.tensor(b))


def test_attention_under_vmap_matches_torch_func_without_a_loop():
    rng = np.random.default_rng(1)
    q, k, v = (rng.standard_normal((3, 2, 4, 5)) for _ in range(3))
    f = lambda a, b, c: F.scaled_dot_product_attention(a, b, c, is_causal=True)  # noqa: E731
    tf = lambda a, b, c: torch.nn.functional.scaled_dot_product_attention(a, b, c, is_causal=True)  # noqa: E731
    ref = torch.func.vmap(tf)(torch.tensor(q), torch.tensor(k), torch.tensor(v))
    with warnings.catch_warnings():
        warnings.simplefilter("error", B.PerformanceWarning)
        out = vmap(f)(cr.tensor(q), cr.tensor(k), cr.tensor(v))
        np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-10, atol=1e-12)
        # per-example gradients through attention and layer norm (vmap of grad)
        w = rng.standard_normal(5)

        def loss(a, b, c, w):
            return (F.layer_norm(f(a, b, c), (5,), w) ** 2).sum()

        got = vmap(grad(loss, argnums=(0, 1, 2)), in_dims=(0, 0, 0, None))(
            *(cr.tensor(t) for t in (q, k, v, w))
        )

    def tloss(a, b, c, w):
        return (torch.nn.functional.layer_norm(tf(a, b, c), (5,), w) ** 2).sum()

    want = torch.func.vmap(torch.func.grad(tloss, argnums=(0, 1, 2)), in_dims=(0, 0, 0, None))(
        *(torch.tensor(t) for t in (q, k, v, w))
    )
    for g, wnt in zip(got, want):
        np.testing.assert_allclose(g.numpy(), wnt.numpy(), rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize(
    "name,kw",
    [
        ("conv2d", {"padding": 1}),
        ("conv2d", {"stride": 2, "dilation": 1}),
        ("conv_transpose2d", {"stride": 2}),
        ("avg_pool2d", {}),
        ("max_pool2d", {}),
        ("max_pool2d", {"stride": 1}),
    ],
)
def test_conv_and_pool_batching_match_torch_func(name, kw):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 2, 4, 6, 6))
    w = rng.standard_normal((4, 4, 3, 3))
    b = rng.standard_normal(4)
    if name.endswith("pool2d"):
        cf = lambda a: getattr(F, name)(a, 2, **kw)  # noqa: E731
        tf = lambda a: getattr(torch.nn.functional, name)(a, 2, **kw)  # noqa: E731
    else:
        cf = lambda a: getattr(F, name)(a, cr.tensor(w), cr.tensor(b), **kw)  # noqa: E731
        tf = lambda a: getattr(torch.nn.functional, name)(a, torch.tensor(w), torch.tensor(b), **kw)  # noqa: E731
    with warnings.catch_warnings():
        warnings.simplefilter("error", B.PerformanceWarning)
        out = vmap(cf)(cr.tensor(x))
        g = vmap(grad(lambda a: (cf(a) ** 2).sum()))(cr.tensor(x))
    ref = torch.func.vmap(tf)(torch.tensor(x))
    rg = torch.func.vmap(torch.func.grad(lambda a: (tf(a) ** 2).sum()))(torch.tensor(x))
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(g.numpy(), rg.numpy(), rtol=1e-10, atol=1e-12)


def test_per_example_gradients_of_a_cnn_match_torch_func():
    torch.manual_seed(0)
    tm = torch.nn.Sequential(torch.nn.Conv2d(1, 3, 3, padding=1), torch.nn.ReLU(),
                             torch.nn.MaxPool2d(2), torch.nn.Conv2d(3, 2, 1), torch.nn.AvgPool2d(2),
                             torch.nn.Flatten(), torch.nn.Linear(2, 2))  # fmt: skip
    cm = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(3, 2, 1),
                       nn.AvgPool2d(2), nn.Flatten(), nn.Linear(2, 2))  # fmt: skip
    cm.load_state_dict({k: cr.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    cm = cm.double()
    tm = tm.double()
    x = np.random.default_rng(0).standard_normal((5, 1, 4, 4))
    y = np.array([0, 1, 1, 0, 1])
    cp = {k: v.detach() for k, v in cm.named_parameters()}
    tp = {k: v.detach() for k, v in tm.named_parameters()}

    def closs(p, xi, yi):
        return F.cross_entropy(functional_call(cm, p, (xi[None],)), yi[None])

    def tloss(p, xi, yi):
        out = torch.func.functional_call(tm, p, (xi[None],))
        return torch.nn.functional.cross_entropy(out, yi[None])

    with warnings.catch_warnings():
        warnings.simplefilter("error", B.PerformanceWarning)
        got = vmap(grad(closs), in_dims=(None, 0, 0))(cp, cr.tensor(x), cr.tensor(y))
    ref = torch.func.vmap(torch.func.grad(tloss), in_dims=(None, 0, 0))(
        tp, torch.tensor(x), torch.tensor(y)
    )
    for k in ref:
        np.testing.assert_allclose(got[k].numpy(), ref[k].numpy(), rtol=1e-10, atol=1e-12)


def test_einsum_under_vmap_matches_jax():
    a = np.random.default_rng(1).standard_normal((4, 2, 3))
    b = np.random.default_rng(2).standard_normal((3, 5))
    out = vmap(lambda x, y: cr.einsum("ij,jk->ki", x, y), in_dims=(0, None))(
        cr.tensor(a), cr.tensor(b)
    )
    ref = jax.vmap(lambda x, y: jnp.einsum("ij,jk->ki", x, y), in_axes=(0, None))(a, b)
    np.testing.assert_allclose(out.numpy(), np.asarray(ref), rtol=1e-12)


def test_conv_with_a_batched_weight():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 1, 2, 5, 5))
    w = rng.standard_normal((4, 2, 3, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", B.PerformanceWarning)
        out = vmap(lambda a: F.conv2d(a, cr.tensor(w), padding=1))(cr.tensor(x))
    ref = torch.func.vmap(lambda a: torch.nn.functional.conv2d(a, torch.tensor(w), padding=1))(
        torch.tensor(x)
    )
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-10, atol=1e-12)


# ----- against JAX -----------------------------------------------------------------------------
def cr_f(x, w):
    h = F.softmax(x @ w, dim=-1)
    return (h.cumsum(-1)[..., ::2] * x.sum()).tanh().sum(0) + cr.exp(x[0]).sum()


def jax_f(x, w):
    h = jax.nn.softmax(x @ w, axis=-1)
    return jnp.tanh(jnp.cumsum(h, -1)[..., ::2] * x.sum()).sum(0) + jnp.exp(x[0]).sum()


def _data():
    rng = np.random.default_rng(0)
    return rng.standard_normal((5, 3, 4)), rng.standard_normal((4, 6))


@pytest.mark.parametrize("in_dims,move", [(0, 0), (1, 1), (-1, 2), ((0, None), 0), ((2, None), 2)])
def test_vmap_matches_jax_for_in_dims(in_dims, move):
    x, w = _data()
    xb = np.moveaxis(x, 0, move)
    if isinstance(in_dims, tuple):
        got = vmap(cr_f, in_dims=in_dims)(cr.tensor(xb), cr.tensor(w))
        ref = jax.jit(jax.vmap(jax_f, in_axes=in_dims))(xb, w)
    else:
        wb = np.moveaxis(np.stack([w] * 5), 0, in_dims % 3)
        got = vmap(cr_f, in_dims=in_dims)(cr.tensor(xb), cr.tensor(wb))
        ref = jax.jit(jax.vmap(jax_f, in_axes=in_dims))(xb, wb)
    np.testing.assert_allclose(got.numpy(), np.asarray(ref), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("out_dims", [0, 1, -1])
def test_out_dims_match_jax(out_dims):
    x, w = _data()
    got = vmap(cr_f, in_dims=(0, None), out_dims=out_dims)(cr.tensor(x), cr.tensor(w))
    ref = jax.jit(jax.vmap(jax_f, in_axes=(0, None), out_axes=out_dims))(x, w)
    assert got.shape == ref.shape
    np.testing.assert_allclose(got.numpy(), np.asarray(ref), rtol=1e-10, atol=1e-12)


def test_nested_vmap_matches_jax():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 5, 3, 4))
    w = rng.standard_normal((5, 4, 6))
    got = vmap(vmap(cr_f, in_dims=(0, 0)), in_dims=(0, None))(cr.tensor(x), cr.tensor(w))
    ref = jax.jit(jax.vmap(jax.vmap(jax_f, in_axes=(0, 0)), in_axes=(0, None)))(x, w)
    np.testing.assert_allclose(got.numpy(), np.asarray(ref), rtol=1e-10, atol=1e-12)
    got = vmap(vmap(cr_f, in_dims=(1, None)), in_dims=(0, 0))(
        cr.tensor(np.moveaxis(x, 1, 2)), cr.tensor(w[:2])
    )
    ref = jax.jit(jax.vmap(jax.vmap(jax_f, in_axes=(1, None)), in_axes=(0, 0)))(
        np.moveaxis(x, 1, 2), w[:2]
    )
    np.testing.assert_allclose(got.numpy(), np.asarray(ref), rtol=1e-10, atol=1e-12)


def cr_s(x, w):  # scalar
    return cr_f(x, w).sum() + (x * x).sum()


def jax_s(x, w):
    return jax_f(x, w).sum() + (x * x).sum()


def _close(a, b, rtol=1e-9):
    a = a.numpy() if isinstance(a, cr.Tensor) else a
    np.testing.assert_allclose(a, np.asarray(b), rtol=rtol, atol=1e-10)


def test_vmap_grad_and_grad_vmap_match_jax():
    x, w = _data()
    X, W = cr.tensor(x), cr.tensor(w)
    _close(
        vmap(grad(cr_s), in_dims=(0, None))(X, W),
        jax.jit(jax.vmap(jax.grad(jax_s), (0, None)))(x, w),
    )
    got = vmap(grad(cr_s, argnums=1), in_dims=(0, None))(X, W)
    _close(got, jax.jit(jax.vmap(jax.grad(jax_s, argnums=1), (0, None)))(x, w))

    def cr_total(x, w):
        return vmap(cr_s, in_dims=(0, None))(x, w).sum()

    def jax_total(x, w):
        return jax.vmap(jax_s, in_axes=(0, None))(x, w).sum()

    gx, gw = grad(cr_total, argnums=(0, 1))(X, W)
    rx, rw = jax.jit(jax.grad(jax_total, argnums=(0, 1)))(x, w)
    _close(gx, rx)
    _close(gw, rw)
    # backward through vmap by .backward(), and create_graph through it
    Xr = cr.tensor(x, requires_grad=True)
    vmap(cr_s, in_dims=(0, None))(Xr, W).sum().backward()
    _close(Xr.grad, rx)


def test_vmap_jacrev_jacrev_vmap_and_vmap_hessian_match_jax():
    x, w = _data()
    X, W = cr.tensor(x[:, 0]), cr.tensor(w)

    def cr_v(v, w):
        return F.softmax(v @ w, dim=-1) * v.sum()

    def jax_v(v, w):
        return jax.nn.softmax(v @ w, axis=-1) * v.sum()

    _close(
        vmap(jacrev(cr_v), (0, None))(X, W),
        jax.jit(jax.vmap(jax.jacrev(jax_v), (0, None)))(x[:, 0], w),
    )
    _close(
        jacrev(vmap(cr_v, (0, None)))(X, W),
        jax.jit(jax.jacrev(jax.vmap(jax_v, (0, None))))(x[:, 0], w),
    )

    def cr_h(v, w):
        return (F.softmax(v @ w, dim=-1) ** 2).sum() * v.tanh().sum()

    def jax_h(v, w):
        return (jax.nn.softmax(v @ w, axis=-1) ** 2).sum() * jnp.tanh(v).sum()

    _close(
        vmap(hessian(cr_h), (0, None))(X, W),
        jax.jit(jax.vmap(jax.hessian(jax_h), (0, None)))(x[:, 0], w),
    )
    _close(hessian(lambda v: vmap(cr_h, (0, None))(v, W).sum())(X),
           jax.jit(jax.hessian(lambda v: jax.vmap(jax_h, (0, None))(v, w).sum()))(x[:, 0]))  # fmt: skip
    # vmap of vmap of grad
    _close(vmap(vmap(grad(cr_h), (0, None)), (0, None))(cr.tensor(x), W),
           jax.jit(jax.vmap(jax.vmap(jax.grad(jax_h), (0, None)), (0, None)))(x, w))  # fmt: skip


def test_vjp_and_value_and_grad_inside_vmap():
    x, w = _data()
    X = cr.tensor(x[:, 0])

    def f(v):
        out, back = vjp(lambda u: u.sin() * 2, v)
        return back(cr.ones_like(out))[0]

    _close(vmap(f)(X), 2 * np.cos(x[:, 0]))
    val, g = vmap(value_and_grad(lambda v: (v**3).sum()))(X)
    _close(val, (x[:, 0] ** 3).sum(-1))
    _close(g, 3 * x[:, 0] ** 2)


# ----- a real model: per-example gradients against torch.func ------------------------------
def _mlp():
    torch.manual_seed(0)
    tm = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3))
    cm = nn.Sequential(nn.Linear(6, 5), nn.Tanh(), nn.Linear(5, 3))
    cm.load_state_dict({k: cr.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    return tm, cm


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_per_example_gradients_of_a_model_match_torch_func(dtype):
    tm, cm = _mlp()
    tm = tm.to(torch.float64) if dtype == np.float64 else tm
    cm = cm.double() if dtype == np.float64 else cm
    rng = np.random.default_rng(0)
    x = rng.standard_normal((7, 6)).astype(dtype)
    y = rng.integers(0, 3, 7)

    def closs(p, xi, yi):
        return F.cross_entropy(functional_call(cm, p, (xi[None],)), yi[None])

    def tloss(p, xi, yi):
        return torch.nn.functional.cross_entropy(torch.func.functional_call(tm, p, (xi[None],)),
                                                 yi[None])  # fmt: skip

    own = dict(cm.named_parameters())
    cp = {k: v.detach() for k, v in cm.named_parameters()}
    tp = {k: v.detach() for k, v in tm.named_parameters()}
    with warnings.catch_warnings():
        warnings.simplefilter("error", B.PerformanceWarning)
        got = vmap(grad(closs), in_dims=(None, 0, 0))(cp, cr.tensor(x), cr.tensor(y))
    ref = torch.func.vmap(torch.func.grad(tloss), in_dims=(None, 0, 0))(
        tp, torch.tensor(x), torch.tensor(y)
    )
    assert set(got) == set(ref)
    for k in got:
        assert got[k].dtype == dtype
        assert got[k].shape == tuple(ref[k].shape)
        np.testing.assert_allclose(got[k].numpy(), ref[k].numpy(), rtol=1e-5 if dtype == np.float32
                                   else 1e-11, atol=1e-6 if dtype == np.float32 else 1e-13)  # fmt: skip
    # ... and the same as a loop of grad, and the module's own parameters are back
    for i in range(7):
        gi = grad(closs)(cp, cr.tensor(x[i]), cr.tensor(y[i]))
        for k in got:
            np.testing.assert_allclose(got[k].numpy()[i], gi[k].numpy(), rtol=1e-5, atol=1e-6)
    assert all(p is own[k] for k, p in cm.named_parameters())


def test_per_example_gradients_with_a_batched_target_and_ignore_index():
    _, cm = _mlp()
    cm = cm.double()
    x = np.random.default_rng(1).standard_normal((4, 2, 6))
    y = np.array([[0, 1], [2, -100], [1, 1], [-100, 0]])
    cp = {k: v.detach() for k, v in cm.named_parameters()}

    def loss(p, xi, yi):
        return F.cross_entropy(functional_call(cm, p, xi), yi)

    got = vmap(grad(loss), in_dims=(None, 0, 0))(cp, cr.tensor(x), cr.tensor(y))
    for i in range(4):
        gi = grad(loss)(cp, cr.tensor(x[i]), cr.tensor(y[i]))
        for k in got:
            np.testing.assert_allclose(got[k].numpy()[i], gi[k].numpy(), rtol=1e-10, atol=1e-12)


# ----- pytrees in and out ----------------------------------------------------------------------
def test_pytrees_in_and_out_with_in_dims_trees():
    rng = np.random.default_rng(0)
    a, b, c = rng.standard_normal((4, 3)), rng.standard_normal((3, 4)), rng.standard_normal(3)

    def f(d, t):
        return {"s": d["a"] * t[1], "pair": (d["b"].sum(), t[0])}

    out = vmap(f, in_dims=({"a": 0, "b": 1}, (None, 0)), out_dims={"s": 1, "pair": (0, None)})(
        {"a": cr.tensor(a), "b": cr.tensor(b)}, (cr.tensor(c), cr.tensor(a))
    )
    np.testing.assert_allclose(out["s"].numpy(), (a * a).T)
    np.testing.assert_allclose(out["pair"][0].numpy(), b.sum(0))
    np.testing.assert_allclose(out["pair"][1].numpy(), c)
    # the same against torch.func
    ref = torch.func.vmap(
        f, in_dims=({"a": 0, "b": 1}, (None, 0)), out_dims={"s": 1, "pair": (0, None)}
    )(  # fmt: skip
        {"a": torch.tensor(a), "b": torch.tensor(b)}, (torch.tensor(c), torch.tensor(a))
    )
    np.testing.assert_allclose(out["s"].numpy(), ref["s"].numpy())


def test_grad_jacrev_vjp_take_pytrees():
    p = {"w": cr.tensor([1.0, 2.0]), "b": (cr.tensor(3.0),)}
    g = grad(lambda p: (p["w"] ** 2).sum() * p["b"][0])(p)
    assert set(g) == {"w", "b"} and isinstance(g["b"], tuple)
    np.testing.assert_allclose(g["w"].numpy(), [6.0, 12.0])
    np.testing.assert_allclose(g["b"][0].numpy(), 5.0)
    j = jacrev(lambda p: {"y": p["w"] * p["b"][0]})(p)
    np.testing.assert_allclose(j["y"]["w"].numpy(), 3 * np.eye(2))
    np.testing.assert_allclose(j["y"]["b"][0].numpy(), [1.0, 2.0])
    out, back = vjp(lambda d: [d["w"] * 2, d["b"][0] * d["w"]], p)
    (gp,) = back([cr.ones(2), cr.ones(2)])
    np.testing.assert_allclose(gp["w"].numpy(), [5.0, 5.0])
    np.testing.assert_allclose(gp["b"][0].numpy(), 3.0)
    h = hessian(lambda v: (v**3).sum())(cr.tensor([1.0, 2.0]))
    np.testing.assert_allclose(h.numpy(), np.diag([6.0, 12.0]))


# ----- randomness ------------------------------------------------------------------------------
def test_randomness_error_same_different():
    x = cr.ones(4, 1000)
    with pytest.raises(RuntimeError, match="randomness='error'"):
        vmap(lambda v: F.dropout(v, 0.5))(x)
    with pytest.raises(RuntimeError, match="randomness='error'"):
        vmap(lambda v: v + cr.randn(1000))(x)
    same = vmap(lambda v: F.dropout(v, 0.5), randomness="same")(x).numpy()
    assert (same == same[0]).all() and 0.3 < (same[0] == 0).mean() < 0.7
    diff = vmap(lambda v: F.dropout(v, 0.5), randomness="different")(x).numpy()
    assert not (diff == diff[0]).all()
    assert set(np.unique(diff)) <= {0.0, 2.0}
    assert 0.4 < (diff == 0).mean() < 0.6
    r = vmap(lambda v: v * 0 + cr.rand(1000), randomness="different")(x).numpy()
    assert not np.allclose(r[0], r[1]) and (r >= 0).all() and (r < 1).all()
    r = vmap(lambda v: v * 0 + cr.randn(1000), randomness="same")(x).numpy()
    assert np.allclose(r[0], r[1])
    assert r.dtype == np.float32
    # nested: different over the outer batch only
    r = vmap(vmap(lambda v: v * 0 + cr.rand(()), randomness="same"), randomness="different")(
        cr.ones(3, 2)
    ).numpy()
    assert (r[:, 0] == r[:, 1]).all() and len(set(r[:, 0])) == 3
    # and the same seed gives the same draws
    cr.manual_seed(1)
    a = vmap(lambda v: v * cr.randn(5), randomness="different")(cr.ones(2, 5))
    cr.manual_seed(1)
    b = vmap(lambda v: v * cr.randn(5), randomness="different")(cr.ones(2, 5))
    np.testing.assert_array_equal(a.numpy(), b.numpy())


# ----- details ---------------------------------------------------------------------------------
def test_float32_stays_float32_and_non_tensor_args_pass_through():
    x = cr.randn(4, 3)
    out = vmap(lambda v, k, scale=1.0: (v * k * scale).sum(), in_dims=(0, None))(x, 3, scale=2.0)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.numpy(), 6 * x.numpy().sum(1), rtol=1e-6)
    g = vmap(grad(lambda v: (v * v).sum()))(x)
    assert g.dtype == np.float32


def test_an_unbatched_output_is_broadcast_and_chunk_size_splits():
    out = vmap(lambda v: cr.tensor([1.0, 2.0]))(cr.ones(3, 2))
    np.testing.assert_allclose(out.numpy(), [[1.0, 2.0]] * 3)
    x = np.random.default_rng(0).standard_normal((10, 3))
    f = lambda v: (v.exp() * v).sum()  # noqa: E731
    a = vmap(grad(f), chunk_size=3)(cr.tensor(x))
    b = vmap(grad(f))(cr.tensor(x))
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12)


def test_a_batched_index_tensor():
    table = cr.tensor(np.arange(12.0).reshape(6, 2))
    idx = cr.tensor([[0, 5], [1, 1], [3, 2]])
    out = vmap(lambda i: table[i], in_dims=0)(idx)
    np.testing.assert_allclose(out.numpy(), table.numpy()[idx.numpy()])


def test_bad_input_errors_name_the_argument():
    with pytest.raises(ValueError, match=r"args\[0\] has size 3 in dim 0 but args\[1\]\['w'\] "
                       r"has size 4"):  # fmt: skip
        vmap(lambda a, d: a + d["w"])(cr.ones(3), {"w": cr.ones(4)})
    with pytest.raises(ValueError, match="in_dims has 1 entries but the function got 2"):
        vmap(lambda a, b: a, in_dims=(0,))(cr.ones(3), cr.ones(3))
    with pytest.raises(ValueError, match=r"in_dim=2 for args\[0\] is out of range"):
        vmap(lambda a: a, in_dims=2)(cr.ones(3, 2))
    with pytest.raises(ValueError, match="only Tensors can be mapped"):
        vmap(lambda a, k: a * k)(cr.ones(3), 2)
    with pytest.raises(ValueError, match="at least one positional argument"):
        vmap(lambda a: a, in_dims=None)(cr.ones(3))
    with pytest.raises(ValueError, match="randomness must be one of"):
        vmap(lambda a: a, randomness="maybe")
    with pytest.raises(ValueError, match="out_dims is None"):
        vmap(lambda a: a * 2, out_dims=None)(cr.ones(3))
    with pytest.raises(ValueError, match="must return Tensors"):
        vmap(lambda a: 3)(cr.ones(3))
    with pytest.raises(TypeError, match="cannot be read as a Python value"):
        vmap(lambda a: a * float(a.sum()))(cr.ones(3, 2))
    with pytest.raises(TypeError, match="cannot be read as a Python value"):
        vmap(lambda a: a if a.sum() > 0 else -a)(cr.ones(3, 2))


def test_functional_call_restores_on_error_strict_and_ties():
    lin = nn.Linear(2, 2)
    w0 = lin.weight

    def boom(x):
        raise KeyError("x")

    lin.register_forward_hook(lambda m, i, o: boom(o))
    with pytest.raises(KeyError):
        functional_call(lin, {"weight": cr.zeros(2, 2)}, (cr.ones(2),))
    assert lin.weight is w0
    lin = nn.Linear(2, 2)
    with pytest.raises(RuntimeError, match="missing keys"):
        functional_call(lin, {"weight": cr.zeros(2, 2)}, (cr.ones(2),), strict=True)
    with pytest.raises(ValueError, match="appeared in multiple dictionaries"):
        functional_call(lin, ({"bias": cr.ones(2)}, {"bias": cr.ones(2)}), (cr.ones(2),))
    out = functional_call(lin, [{"weight": cr.zeros(2, 2)}, {"bias": cr.ones(2)}], cr.ones(2))
    np.testing.assert_allclose(out.numpy(), [1.0, 1.0])

    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(2, 2, bias=False)
            self.b = nn.Linear(2, 2, bias=False)
            self.b.weight = self.a.weight

        def forward(self, x):
            return self.b(self.a(x))

    m = Tied()
    out = functional_call(m, {"a.weight": cr.eye(2) * 2}, (cr.ones(2),))
    np.testing.assert_allclose(out.numpy(), [4.0, 4.0])  # b follows a: tie_weights
    w = m.a.weight.detach().numpy()
    out = functional_call(m, {"a.weight": cr.eye(2) * 2}, (cr.ones(2),), tie_weights=False)
    np.testing.assert_allclose(out.detach().numpy(), w @ np.full(2, 2.0), rtol=1e-6)
    assert m.a.weight is m.b.weight


def test_gradients_of_tensors_from_outside_add_up_over_the_batch():
    x, w = _data()
    X, W = cr.tensor(x), cr.tensor(w)
    # a closure over the differentiated tensor, as in JAX
    got = grad(lambda w_: vmap(lambda v: cr_f(v, w_))(X).sum())(W)
    ref = jax.jit(jax.grad(lambda w_: jax.vmap(lambda v: jax_f(v, w_))(x).sum()))(w)
    _close(got, ref)
    # .backward() into a model's own parameters through vmap = without vmap
    _, cm = _mlp()
    cm = cm.double()
    xs = np.random.default_rng(2).standard_normal((5, 6))
    vmap(lambda v: cm(v).tanh().sum())(cr.tensor(xs)).sum().backward()
    got = {k: p.grad.numpy().copy() for k, p in cm.named_parameters()}
    cm.zero_grad()
    cm(cr.tensor(xs)).tanh().sum().backward()
    for k, p in cm.named_parameters():
        np.testing.assert_allclose(got[k], p.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_attention_dropout_follows_the_randomness_policy():
    q = cr.tensor(np.broadcast_to(np.random.default_rng(2).standard_normal((1, 6, 5)), (2, 6, 5)))

    def f(a):
        return F.scaled_dot_product_attention(a, a, a, dropout_p=0.5)

    with pytest.raises(RuntimeError, match="randomness='error'"):
        vmap(f)(q)
    same = vmap(f, randomness="same")(q).numpy()
    np.testing.assert_array_equal(same[0], same[1])  # one mask for the batch
    diff = vmap(f, randomness="different")(q).numpy()
    assert not np.array_equal(diff[0], diff[1])  # one mask per example
