"""Forward mode (chainrule.func.jvp / jacfwd / hvp / linearize and the jvp rule of every
primitive), checked against JAX (jax.jvp, float64 on the CPU), torch.func and central finite
differences, alone and composed with reverse mode."""

from __future__ import annotations

import importlib
import pkgutil

import numpy as np
import pytest
import torch

import chainrule as cr
import chainrule.nn.functional as F
from chainrule.autograd import forward_ad
from chainrule.func import grad, hessian, hvp, jacfwd, jacrev, jvp, linearize, vmap
from chainrule.ops import nnops as N
from chainrule.ops.primitive import Primitive

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy
jnn = jax.nn


def _all_primitives() -> dict[str, Primitive]:
    found = {}
    for pkg in ("chainrule.ops", "chainrule.nn", "chainrule.autograd"):
        mod = importlib.import_module(pkg)
        names = [pkg] + [
            m.name for m in pkgutil.walk_packages(mod.__path__, pkg + ".") if not m.ispkg
        ]
        for name in names:
            for v in vars(importlib.import_module(name)).values():
                if isinstance(v, Primitive):
                    found[v.name] = v
    for name in ("chainrule.functions", "chainrule.func"):
        for v in vars(importlib.import_module(name)).values():
            if isinstance(v, Primitive):
                found[v.name] = v
    return found


def test_every_primitive_has_a_jvp_rule():
    prims = _all_primitives()
    assert len(prims) > 60
    missing = sorted(n for n, p in prims.items() if p.jvp is None)
    assert not missing, f"primitives without a jvp rule (Primitive(..., jvp=...)): {missing}"


def test_a_primitive_without_a_jvp_rule_raises_naming_it():
    square = Primitive("MySquare", lambda a: a * a, [lambda g, ans, a: 2 * a * g])

    def f(x):
        return square(x)

    with pytest.raises(NotImplementedError, match="MySquare: this primitive has no forward-mode"):
        jvp(f, (cr.tensor([1.0]),), (cr.tensor([1.0]),))


# ----- every primitive's jvp against jax.jvp and finite differences ---------------------------
R = np.random.default_rng(0)
A34 = R.standard_normal((3, 4))
B34 = R.standard_normal((3, 4))
P34 = R.uniform(0.5, 2.0, (3, 4))
B4 = R.standard_normal(4)
M45 = R.standard_normal((4, 5))
IMG = R.standard_normal((2, 3, 6, 6))
KER = R.standard_normal((4, 3, 3, 3))
BIAS = R.standard_normal(4)
IDX = np.array([2, 0, 2])
Q = R.standard_normal((2, 3, 4))
K = R.standard_normal((2, 5, 4))
V = R.standard_normal((2, 5, 4))
T = cr.tensor


def _jax_sdpa(q, k, v):
    s = q @ jnp.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    return jnn.softmax(s, axis=-1) @ v


def _jax_conv(x, w, b):
    y = jax.lax.conv_general_dilated(x, w, (1, 1), ((1, 1), (1, 1)))
    return y + b.reshape(1, -1, 1, 1)


def _jax_norm(x, w, b, axes, eps=1e-5, rms=False):
    d = x if rms else x - x.mean(axes, keepdims=True)
    y = d / jnp.sqrt((d * d).mean(axes, keepdims=True) + eps)
    return y * (1 if w is None else w) + (0 if b is None else b)


def _jax_bn(x, w, b):
    y = _jax_norm(x, None, None, (0, 2, 3))
    return y * w.reshape(1, -1, 1, 1) + b.reshape(1, -1, 1, 1)


def _jax_pool(x, op, init):
    return jax.lax.reduce_window(x, init, op, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")


# (id, chainrule function, jax function, inputs). Inputs are the primals; tangents are random.
CASES = [
    ("add", lambda a, b: a + b, lambda a, b: a + b, (A34, B4)),
    ("sub", lambda a, b: a - b, lambda a, b: a - b, (A34, B4)),
    ("mul", lambda a, b: a * b, lambda a, b: a * b, (A34, B34)),
    ("div", lambda a, b: a / b, lambda a, b: a / b, (A34, P34)),
    ("neg", lambda a: -a, lambda a: -a, (A34,)),
    ("pow", lambda a, b: a**b, lambda a, b: a**b, (P34, B34)),
    ("pow_scalar", lambda a: a**3, lambda a: a**3, (A34,)),
    ("exp", cr.exp, jnp.exp, (A34,)),
    ("expm1", cr.expm1, jnp.expm1, (A34,)),
    ("log", cr.log, jnp.log, (P34,)),
    ("log1p", cr.log1p, jnp.log1p, (P34,)),
    ("log2", cr.log2, jnp.log2, (P34,)),
    ("log10", cr.log10, jnp.log10, (P34,)),
    ("sqrt", cr.sqrt, jnp.sqrt, (P34,)),
    ("sign", lambda a: cr.sign(a) * a, lambda a: jnp.sign(a) * a, (A34,)),
    ("floor", lambda a: cr.floor(a) + a, lambda a: jnp.floor(a) + a, (A34,)),
    ("ceil", lambda a: cr.ceil(a) * a, lambda a: jnp.ceil(a) * a, (A34,)),
    ("round", lambda a: cr.round(a) + a, lambda a: jnp.round(a) + a, (A34,)),
    ("trunc", lambda a: cr.trunc(a) + a, lambda a: jnp.trunc(a) + a, (A34,)),
    ("remainder", cr.remainder, jnp.remainder, (A34 * 3, P34)),
    ("fmod", cr.fmod, jnp.fmod, (A34 * 3, P34)),
    ("abs", cr.abs, jnp.abs, (A34,)),
    ("sin", cr.sin, jnp.sin, (A34,)),
    ("cos", cr.cos, jnp.cos, (A34,)),
    ("tanh", cr.tanh, jnp.tanh, (A34,)),
    ("sigmoid", cr.sigmoid, jnn.sigmoid, (A34,)),
    ("relu", F.relu, jnn.relu, (A34,)),
    ("clamp", lambda a: cr.clamp(a, -0.5, 0.5), lambda a: jnp.clip(a, -0.5, 0.5), (A34,)),
    ("maximum", cr.maximum, jnp.maximum, (A34, B34)),
    ("minimum", cr.minimum, jnp.minimum, (A34, B34)),
    ("clone", lambda a: a.clone(), lambda a: a, (A34,)),
    ("where_cmp", lambda a, b: cr.where(a > b, a, b * 2), lambda a, b: jnp.where(a > b, a, b * 2),
     (A34, B34)),
    ("eq_ne_le_ge_lt", lambda a: a * (a >= 0) + a * (a < 0) * 2 + a * (a == a) * (a != 0) * (a <= 9),
     lambda a: a * (a >= 0) + a * (a < 0) * 2 + a * (a == a) * (a != 0) * (a <= 9), (A34,)),
    ("amax", lambda a: a.amax(dim=1), lambda a: a.max(axis=1), (A34,)),
    ("amin", lambda a: a.amin(dim=0, keepdim=True), lambda a: a.min(axis=0, keepdims=True),
     (A34,)),
    ("max_ties", lambda a: (a * 0 + 1).amax() * a, lambda a: (a * 0 + 1).max() * a, (A34,)),
    ("argmax", lambda a: a[0, a.argmax(dim=1)] * a[a.argmin(dim=0)[1], :3],
     lambda a: a[0, a.argmax(axis=1)] * a[a.argmin(axis=0)[1], :3], (A34,)),
    ("cumsum", lambda a: cr.cumsum(a, dim=1), lambda a: jnp.cumsum(a, axis=1), (A34,)),
    ("cumprod", lambda a: cr.cumprod(a, dim=1), lambda a: jnp.cumprod(a, axis=1), (A34,)),
    ("cumprod_zeros", lambda a: cr.cumprod(a * T([1.0, 0.0, 1.0, 1.0]), dim=1),
     lambda a: jnp.cumprod(a * jnp.array([1.0, 0.0, 1.0, 1.0]), axis=1), (A34,)),
    ("prod", lambda a: cr.prod(a, dim=1), lambda a: jnp.prod(a, axis=1), (A34,)),
    ("norm", lambda a: a.norm(dim=1), lambda a: jnp.linalg.norm(a, axis=1), (A34,)),
    ("reshape_permute", lambda a: a.reshape(4, 3).T, lambda a: a.reshape(4, 3).T, (A34,)),
    ("expand", lambda b: b.expand(3, 4), lambda b: jnp.broadcast_to(b, (3, 4)), (B4,)),
    ("sum", lambda a: a.sum(dim=0), lambda a: a.sum(axis=0), (A34,)),
    ("flip", lambda a: cr.flip(a, (1,)), lambda a: jnp.flip(a, 1), (A34,)),
    ("pad", lambda a: F.pad(a, (1, 2), value=3.0), lambda a: jnp.pad(a, ((0, 0), (1, 2)),
     constant_values=3.0), (A34,)),
    ("cat", lambda a, b: cr.cat([a, b * 2, a], dim=0), lambda a, b: jnp.concatenate([a, b * 2, a]),
     (A34, B34)),
    ("getitem", lambda a: a[1:, ::2] * a[IDX[:2], 1:3], lambda a: a[1:, ::2] * a[IDX[:2], 1:3], (A34,)),
    ("setitem", lambda a, b: _setitem(a, b), lambda a, b: a.at[0, 1:3].set(b[0, :2] * 2), (A34, B34)),
    ("gather", lambda a: cr.gather(a, 1, T(np.array([[0, 3], [1, 1], [2, 0]]))),
     lambda a: jnp.take_along_axis(a, np.array([[0, 3], [1, 1], [2, 0]]), axis=1), (A34,)),
    ("scatter_add", lambda a, b: a.scatter_add(1, T(np.array([[0, 0], [1, 3], [2, 2]])), b[:, :2]),
     lambda a, b: a.at[np.arange(3)[:, None], np.array([[0, 0], [1, 3], [2, 2]])].add(b[:, :2]),
     (A34, B34)),
    ("scatter", lambda a, b: a.scatter(1, T(np.array([[0, 1], [1, 3], [2, 0]])), b[:, :2]),
     lambda a, b: a.at[np.arange(3)[:, None], np.array([[0, 1], [1, 3], [2, 0]])].set(b[:, :2]),
     (A34, B34)),
    ("cast", lambda a: a.float().double() * a, lambda a: a.astype(np.float32).astype(a.dtype) * a,
     (A34,)),
    ("matmul", lambda a, m: a @ m, lambda a, m: a @ m, (A34, M45)),
    ("matmul_vec", lambda a, b: (a @ b) * (b @ b), lambda a, b: (a @ b) * (b @ b), (A34, B4)),
    ("log_softmax", lambda a: F.log_softmax(a, dim=1), lambda a: jnn.log_softmax(a, axis=1),
     (A34,)),
    ("softmax", lambda a: F.softmax(a, dim=0), lambda a: jnn.softmax(a, axis=0), (A34,)),
    ("gelu_erf", F.gelu, lambda a: jnn.gelu(a, approximate=False), (A34,)),
    ("linear", lambda a, m, b: F.linear(a, m.T, b[:4] * 0 + b[0]),
     lambda a, m, b: a @ m + (b[:4] * 0 + b[0]), (A34, M45.T.copy().T[:, :4], B4)),
    ("bce", lambda p, t: F.binary_cross_entropy(p, t),
     lambda p, t: -(t * jnp.log(p) + (1 - t) * jnp.log1p(-p)).mean(),
     (R.uniform(0.1, 0.9, (3, 4)), R.uniform(0, 1, (3, 4)))),
    ("logsigmoid", F.logsigmoid, jnn.log_sigmoid, (A34,)),
    ("cross_entropy", lambda a: F.cross_entropy(a, T(IDX)),
     lambda a: -jnn.log_softmax(a, axis=1)[np.arange(3), IDX].mean(), (A34,)),
    ("nll_pick", lambda a: N.nll_pick(F.log_softmax(a, dim=1), IDX, 3),
     lambda a: -jnn.log_softmax(a, axis=1)[np.arange(3), IDX].mean(), (A34,)),
    ("conv2d", lambda x, w, b: F.conv2d(x, w, b, padding=1), _jax_conv, (IMG, KER, BIAS)),
    ("avg_pool", lambda x: F.avg_pool2d(x, 2), lambda x: _jax_pool(x, jax.lax.add, 0.0) / 4,
     (IMG,)),
    ("max_pool", lambda x: F.max_pool2d(x, 2), lambda x: _jax_pool(x, jax.lax.max, -np.inf),
     (IMG,)),
    ("einsum", lambda a, m: cr.einsum("ij,jk->ik", a, m), lambda a, m: jnp.einsum("ij,jk->ik", a, m),
     (A34, M45)),
    ("einsum_diag", lambda a: cr.einsum("ii->i", a[:, :3]), lambda a: jnp.einsum("ii->i", a[:, :3]),
     (A34,)),
    ("sdpa", F.scaled_dot_product_attention, _jax_sdpa, (Q, K, V)),
    # the fused ops (one primitive each)
    ("gelu_tanh", lambda a: F.gelu(a, approximate="tanh"), lambda a: jnn.gelu(a, approximate=True),
     (A34,)),
    ("gelu_backward", lambda g, a: N.gelu_backward(g, a, "none"),
     lambda g, a: jax.jvp(lambda z: jnn.gelu(z, approximate=False), (a,), (g,))[1], (B34, A34)),
    ("gelu_backward_tanh", lambda g, a: N.gelu_backward(g, a, "tanh"),
     lambda g, a: jax.jvp(lambda z: jnn.gelu(z, approximate=True), (a,), (g,))[1], (B34, A34)),
    ("erf", N.erf, jax.scipy.special.erf, (A34,)),
    ("silu", F.silu, jnn.silu, (A34,)),
    ("silu_backward", N.silu_backward,
     lambda g, a: jax.jvp(jnn.silu, (a,), (g,))[1], (B34, A34)),
    ("layer_norm", lambda a, w, b: F.layer_norm(a, (4,), w, b),
     lambda a, w, b: _jax_norm(a, w, b, (-1,)), (A34, B4, B4 * 2)),
    ("layer_norm_2d_plain", lambda q: F.layer_norm(q, (3, 4)),
     lambda q: _jax_norm(q, None, None, (-2, -1)), (Q,)),
    ("rms_norm", lambda a, w: F.rms_norm(a, (4,), w, eps=1e-6),
     lambda a, w: _jax_norm(a, w, None, (-1,), 1e-6, rms=True), (A34, B4)),
    ("rms_norm_2d_plain", lambda q: F.rms_norm(q, (3, 4), eps=1e-6),
     lambda q: _jax_norm(q, None, None, (-2, -1), 1e-6, rms=True), (Q,)),
    ("batch_norm", lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), _jax_bn,
     (IMG, BIAS[:3], BIAS[1:])),
    ("conv2d_groups_stride", lambda x, w: F.conv2d(x, w, stride=2, groups=3),
     lambda x, w: jax.lax.conv_general_dilated(x, w, (2, 2), "VALID", feature_group_count=3),
     (IMG, R.standard_normal((6, 1, 3, 3)))),
]  # fmt: skip


def _setitem(a, b):
    out = a.clone()
    out[0, 1:3] = b[0, :2] * 2
    return out


def _tangents(inputs, seed=1):
    rng = np.random.default_rng(seed)
    return tuple(rng.standard_normal(np.shape(x)) for x in inputs)


def _fd(fn, xs, ts, eps=1e-6):
    def at(s):
        return fn(*[T(x + s * t) for x, t in zip(xs, ts)]).numpy()

    return (at(eps) - at(-eps)) / (2 * eps)


@pytest.mark.parametrize("name,fn,jfn,xs", CASES, ids=[c[0] for c in CASES])
def test_jvp_matches_jax_and_finite_differences(name, fn, jfn, xs):
    ts = _tangents(xs)
    out, tan = jvp(fn, tuple(T(x) for x in xs), tuple(T(t) for t in ts))
    jout, jtan = jax.jvp(jfn, tuple(jnp.asarray(x) for x in xs), tuple(jnp.asarray(t) for t in ts))
    np.testing.assert_allclose(out.numpy(), np.asarray(jout), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(tan.numpy(), np.asarray(jtan), rtol=1e-6, atol=1e-8)
    assert tan.dtype == out.dtype == cr.float64
    if name == "cast":  # through float32: finite differences in float64 see its rounding
        return
    np.testing.assert_allclose(tan.numpy(), _fd(fn, xs, ts), rtol=1e-5, atol=1e-6)


def _scalar_case(fn):
    def s(*xs):
        y = fn(*xs)
        return (y * y).sum() if y.dtype.kind == "f" else y

    return s


@pytest.mark.parametrize("name,fn,jfn,xs", CASES, ids=[c[0] for c in CASES])
def test_hvp_matches_jax(name, fn, jfn, xs):
    """Forward over reverse: the reverse rules of every op run on dual numbers."""
    if name in ("cumprod_zeros", "max_pool", "max_ties"):
        pytest.skip("jax's gradient differs at ties / zeros by convention")
    ts = _tangents(xs)

    def jscalar(*a):
        y = jfn(*a)
        return (y * y).sum()

    got = hvp(_scalar_case(fn), tuple(T(x) for x in xs), tuple(T(t) for t in ts))
    got = got if isinstance(got, tuple) else (got,)
    nums = tuple(range(len(xs)))
    _, want = jax.jvp(jax.grad(jscalar, argnums=nums), tuple(map(jnp.asarray, xs)),
                      tuple(map(jnp.asarray, ts)))  # fmt: skip
    for g, w in zip(got, want):
        np.testing.assert_allclose(g.numpy(), np.asarray(w), rtol=1e-5, atol=1e-7)


def test_the_cases_reach_every_primitive(monkeypatch):
    """Each primitive's jvp rule is exercised by some case above (directly, by hvp through
    the reverse rules, or as part of another op's rule)."""
    seen = set()
    orig = forward_ad.JVPTrace.process

    def spy(self, prim, args, params):
        seen.add(prim.name)
        return orig(self, prim, args, params)

    monkeypatch.setattr(forward_ad.JVPTrace, "process", spy)
    for _, fn, _, xs in CASES:
        ps, ts = tuple(T(x) for x in xs), tuple(T(t) for t in _tangents(xs))
        jvp(fn, ps, ts)
        try:
            hvp(_scalar_case(fn), ps, ts)
        except RuntimeError:  # prod_others at zeros: unsupported, as in reverse mode
            pass
    # second order of prod reaches ProdOthers' jvp; nested jvp reaches the dual primitives'
    x = T(P34)
    jvp(lambda y: jvp(lambda z: cr.prod(z, dim=1), (y,), (y,))[1], (x,), (x,))
    # dual numbers of a forward mode begun inside a vmap cross its boundary: vmap_in/vmap_out's
    _vmap_of_jvp_of_grad_of_outside()
    _vjp_of_vmap_with_a_dual_cotangent()
    exempt = {"MakeDual", "PrimalOf", "TangentOf", "ToDevice"}  # no trace sees them; CPU
    missing = sorted(set(_all_primitives()) - seen - exempt)
    assert not missing, f"primitives whose jvp rule no test case reaches: {missing}"


# ----- the transforms, alone and composed -----------------------------------------------------
def f_scalar(x):
    return (cr.sin(x) * x.exp()).sum() + (x**3).sum() / 7


def j_scalar(x):
    return (jnp.sin(x) * jnp.exp(x)).sum() + (x**3).sum() / 7


X = R.standard_normal(5)
VX = R.standard_normal(5)


def test_jvp_runs_no_reverse_pass_and_records_no_node(monkeypatch):
    from chainrule.autograd import engine

    def boom(*a, **k):
        raise AssertionError("a reverse pass ran")

    monkeypatch.setattr(engine, "grad", boom)
    monkeypatch.setattr(engine, "backward", boom)
    out, tan = jvp(lambda x: F.gelu(x @ T(M45)).sum(dim=1), (T(A34),), (T(B34),))
    assert out.grad_fn is None and tan.grad_fn is None
    assert not out.requires_grad and not tan.requires_grad


def test_jacfwd_equals_jacrev_and_jax():
    fn = lambda x: cr.tanh(x[:3, None] * x[None, 1:]) * x.sum()  # noqa: E731
    jf = lambda x: jnp.tanh(x[:3, None] * x[None, 1:]) * x.sum()  # noqa: E731
    a, b = jacfwd(fn)(T(X)), jacrev(fn)(T(X))
    assert a.shape == (3, 4, 5)
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-10)
    np.testing.assert_allclose(a.numpy(), np.asarray(jax.jacfwd(jf)(X)), rtol=1e-10)


def test_jacfwd_argnums_and_aux():
    fn = lambda x, w: ((x @ w).sin(), x.sum())  # noqa: E731
    (jx, jw), aux = jacfwd(fn, argnums=(0, 1), has_aux=True)(T(A34[0]), T(M45))
    wx, ww = jax.jacfwd(lambda x, w: jnp.sin(x @ w), argnums=(0, 1))(A34[0], M45)
    np.testing.assert_allclose(jx.numpy(), np.asarray(wx), rtol=1e-10)
    np.testing.assert_allclose(jw.numpy(), np.asarray(ww), rtol=1e-10)
    assert float(aux) == pytest.approx(A34[0].sum()) and aux.grad_fn is None


def test_hvp_against_jax_and_the_hessian():
    got = hvp(f_scalar, (T(X),), (T(VX),))
    _, want = jax.jvp(jax.grad(j_scalar), (X,), (VX,))
    np.testing.assert_allclose(got.numpy(), np.asarray(want), rtol=1e-10)
    np.testing.assert_allclose(got.numpy(), hessian(f_scalar)(T(X)).numpy() @ VX, rtol=1e-10)


def test_linearize_matches_jvp_and_reuses_the_primal_pass():
    calls = []

    def fn(x):
        calls.append(1)
        return (x.sin() * x).cumsum(0), x.exp()

    out, f_jvp = linearize(fn, T(X))
    assert len(calls) == 1
    for seed in (1, 2):
        v = T(np.random.default_rng(seed).standard_normal(5))
        got = f_jvp(v)
        want = jvp(fn, (T(X),), (v,))[1]
        for g, w in zip(got, want):
            np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-12)
    assert len(calls) == 3  # the two jvp calls above; f_jvp ran no forward
    _, jl = jax.linearize(lambda x: jnp.cumsum(jnp.sin(x) * x), X)
    np.testing.assert_allclose(f_jvp(T(VX))[0].numpy(), np.asarray(jl(VX)), rtol=1e-12)
    np.testing.assert_allclose(out[0].numpy(), np.cumsum(np.sin(X) * X), rtol=1e-12)


def test_grad_of_jvp_is_reverse_over_forward():
    def tangent_dot(x):
        return jvp(f_scalar, (x,), (T(VX),))[1]

    got = grad(tangent_dot)(T(X))
    want = jax.grad(lambda x: jax.jvp(j_scalar, (x,), (VX,))[1])(X)
    np.testing.assert_allclose(got.numpy(), np.asarray(want), rtol=1e-10)
    # and with .backward(), through both the primal and the tangent, and the tangent input
    x = T(X, requires_grad=True)
    v = T(VX, requires_grad=True)
    o, t = jvp(lambda y: y.sin() * y, (x,), (v,))
    (o.sum() + (t * t).sum()).backward()
    jgx, jgv = jax.grad(
        lambda x, v: (lambda o, t: o.sum() + (t * t).sum())(*jax.jvp(lambda y: jnp.sin(y) * y,
                                                                     (x,), (v,))), (0, 1))(X, VX)  # fmt: skip
    np.testing.assert_allclose(x.grad.numpy(), np.asarray(jgx), rtol=1e-10)
    np.testing.assert_allclose(v.grad.numpy(), np.asarray(jgv), rtol=1e-10)


def test_jacfwd_of_jacrev_is_the_hessian():
    np.testing.assert_allclose(
        jacfwd(jacrev(f_scalar))(T(X)).numpy(), np.asarray(jax.hessian(j_scalar)(X)), rtol=1e-10
    )
    np.testing.assert_allclose(
        jacrev(jacfwd(f_scalar))(T(X)).numpy(), np.asarray(jax.hessian(j_scalar)(X)), rtol=1e-10
    )


def test_jvp_of_jvp_and_perturbations_are_not_confused():
    inner = lambda x: jvp(f_scalar, (x,), (T(VX),))[1]  # noqa: E731
    got = jvp(inner, (T(X),), (T(VX),))[1]
    want = jax.jvp(lambda x: jax.jvp(j_scalar, (x,), (VX,))[1], (X,), (VX,))[1]
    np.testing.assert_allclose(float(got), float(want), rtol=1e-10)
    # d/dx [x * d/dy (x + y)] = 1 (Siskind & Pearlmutter's perturbation confusion)
    x0 = T(1.0, dtype=cr.float64)
    one = T(1.0, dtype=cr.float64)
    g = jvp(lambda x: x * jvp(lambda y: x + y, (x0,), (one,))[1], (x0,), (one,))[1]
    assert float(g) == 1.0


def test_against_torch_func_on_an_mlp():
    tm = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3)).double()
    w = [p.detach().numpy() for p in tm.parameters()]
    x = R.standard_normal((4, 6))
    v = R.standard_normal((4, 6))

    def cf(x):
        return F.linear(cr.tanh(F.linear(x, T(w[0]), T(w[1]))), T(w[2]), T(w[3]))

    o, t = jvp(cf, (T(x),), (T(v),))
    to, tt = torch.func.jvp(tm, (torch.from_numpy(x),), (torch.from_numpy(v),))
    np.testing.assert_allclose(o.numpy(), to.detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(t.numpy(), tt.detach().numpy(), rtol=1e-10)
    loss = lambda x: (cf(x) ** 2).sum()  # noqa: E731
    tloss = lambda x: (tm(x) ** 2).sum()  # noqa: E731
    _, th = torch.func.jvp(torch.func.grad(tloss), (torch.from_numpy(x),), (torch.from_numpy(v),))
    np.testing.assert_allclose(hvp(loss, (T(x),), (T(v),)).numpy(), th.detach().numpy(), rtol=1e-10)
    jf = torch.func.jacfwd(lambda x: tm(x).sum(0))(torch.from_numpy(x))
    np.testing.assert_allclose(
        jacfwd(lambda x: cf(x).sum(0))(T(x)).numpy(), jf.detach().numpy(), rtol=1e-10
    )


def test_float32_stays_float32():
    x = T(X.astype(np.float32))
    v = T(VX.astype(np.float32))
    o, t = jvp(lambda x: F.softmax(x * 2, dim=0).log(), (x,), (v,))
    assert o.dtype == t.dtype == cr.float32
    assert hvp(f_scalar, (x,), (v,)).dtype == cr.float32
    assert jacfwd(cr.sin)(x).dtype == cr.float32


def test_edge_cases_zero_dim_empty_and_constant_outputs():
    o, t = jvp(lambda x: x * x, (T(3.0, dtype=cr.float64),), (T(2.0, dtype=cr.float64),))
    assert o.shape == () and float(t) == 12.0
    o, t = jvp(lambda x: x.exp(), (cr.zeros(0),), (cr.zeros(0),))
    assert t.shape == (0,)
    o, t = jvp(lambda x: T([1.0, 2.0]), (T([1.0]),), (T([1.0]),))  # does not depend on x
    assert t.tolist() == [0.0, 0.0]
    o, (t1, t2) = jvp(lambda x, y: (x * y, x - y), (T([2.0]), T([3.0])), (T([1.0]), T([0.0])))
    assert t1.tolist() == [3.0] and t2.tolist() == [1.0]
    out, t, aux = jvp(lambda x: (x * 2, {"y": x + 1}), (T([1.0]),), (T([1.0]),), has_aux=True)
    assert t.tolist() == [2.0] and aux["y"].tolist() == [2.0]


def test_bad_input_names_the_transform_and_the_shapes():
    with pytest.raises(
        ValueError, match=r"jvp: tangent 0 has shape \(2,\) but its primal has shape \(3,\)"
    ):
        jvp(cr.sin, (cr.zeros(3),), (cr.zeros(2),))
    with pytest.raises(
        TypeError, match="jvp: tangent 0 has dtype float64 but its primal has dtype float32"
    ):
        jvp(cr.sin, (cr.zeros(3),), (cr.zeros(3, dtype=cr.float64),))
    with pytest.raises(ValueError, match="jvp: got 1 primals but 2 tangents"):
        jvp(cr.sin, (cr.zeros(3),), (cr.zeros(3), cr.zeros(3)))
    with pytest.raises(TypeError, match="jvp: primals and tangents must be tuples"):
        jvp(cr.sin, cr.zeros(3), cr.zeros(3))
    with pytest.raises(TypeError, match="jvp: primal 0 must be a floating-point tensor"):
        jvp(cr.sin, (T([1, 2]),), (T([1, 2]),))
    with pytest.raises(ValueError, match=r"matmul: shapes \(3,\) and \(2, 2\)"):
        jvp(lambda x: x @ cr.zeros(2, 2), (cr.zeros(3),), (cr.zeros(3),))
    _, f_jvp = linearize(cr.sin, cr.zeros(3))
    with pytest.raises(ValueError, match=r"linearize: tangent 0 has shape \(4,\)"):
        f_jvp(cr.zeros(4))


def test_the_forward_ad_api_matches_torch():
    import torch.autograd.forward_ad as tfw

    from chainrule.autograd.forward_ad import dual_level, make_dual, unpack_dual

    with dual_level():
        d = make_dual(T(A34), T(B34))
        y = F.softmax(d * 2, dim=1).log()
        p, t = unpack_dual(y)
        assert unpack_dual(T(A34)).tangent is None
    with tfw.dual_level():
        td = tfw.make_dual(torch.from_numpy(A34), torch.from_numpy(B34))
        tp, tt = tfw.unpack_dual(torch.softmax(td * 2, dim=1).log())
    np.testing.assert_allclose(p.numpy(), tp.numpy(), rtol=1e-12)
    np.testing.assert_allclose(t.numpy(), tt.numpy(), rtol=1e-12)
    assert unpack_dual(y).tangent is None  # the level is closed
    with pytest.raises(RuntimeError, match="make_dual: enter a forward AD level first"):
        make_dual(T(A34), T(B34))
    with dual_level(), pytest.raises(ValueError, match=r"make_dual: the tangent \(float64 \[4\]\)"):
        make_dual(T(A34), T(B4))


def test_in_place_ops_inside_a_transform_change_the_dual_value():
    def f(x):
        y = x.clone()
        y.mul_(2)
        y += x
        y[0] = 5.0
        y.exp_()
        return y

    def jf(x):
        return jnp.exp((3 * x).at[0].set(5.0))

    o, t = jvp(f, (T(X),), (T(VX),))
    jo, jt = jax.jvp(jf, (X,), (VX,))
    np.testing.assert_allclose(o.numpy(), np.asarray(jo), rtol=1e-12)
    np.testing.assert_allclose(t.numpy(), np.asarray(jt), rtol=1e-12)
    got = grad(lambda x: jvp(f, (x,), (T(VX),))[1].sum())(T(X))
    want = jax.grad(lambda x: jax.jvp(jf, (x,), (VX,))[1].sum())(X)
    np.testing.assert_allclose(got.numpy(), np.asarray(want), rtol=1e-10)


def test_closed_over_tensors_in_both_orders():
    w0 = R.standard_normal(5)

    def f(w, y):
        return (w * cr.sin(y) * y).sum()

    def jf(w, y):
        return (w * jnp.sin(y) * y).sum()

    # reverse over forward: grad in w of a jvp in y that closes over w
    got = grad(lambda w: jvp(lambda y: f(w, y), (T(X),), (T(VX),))[1])(T(w0))
    want = jax.grad(lambda w: jax.jvp(lambda y: jf(w, y), (X,), (VX,))[1])(w0)
    np.testing.assert_allclose(got.numpy(), np.asarray(want), rtol=1e-10)
    # forward over reverse: jvp in y of a grad in w that closes over y
    got = jvp(lambda y: grad(lambda w: f(w, y))(T(w0)), (T(X),), (T(VX),))[1]
    want = jax.jvp(lambda y: jax.grad(lambda w: jf(w, y))(w0), (X,), (VX,))[1]
    np.testing.assert_allclose(got.numpy(), np.asarray(want), rtol=1e-10)


def test_an_in_place_update_of_a_view_inside_jvp_raises_rather_than_being_lost():
    def f(x):
        y = x.clone()
        y[1:].mul_(10)
        return y

    with pytest.raises(
        RuntimeError, match=r"mul_: in-place update of a view .* inside a transform"
    ):
        jvp(f, (T(X),), (T(VX),))


# ----- forward mode and vmap composed -----------------------------------------------------------
XB = R.standard_normal((3, 4))
TB = R.standard_normal((3, 4))
W0 = R.standard_normal(4)


def _per_example(x):  # uses the fused ops, so their jvp and batching rules meet
    return F.layer_norm(F.gelu(x * T(W0)), (4,)).exp().sum()


def _jax_per_example(x):
    return jnp.exp(_jax_norm(jnn.gelu(x * W0, approximate=False), None, None, (-1,))).sum()


def _vmap_of_jvp_of_grad_of_outside():
    """Per example, the jvp of a gradient in a tensor from outside the vmap: the gradient leaves
    the batch (vmap_out) on a dual number of the forward mode inside the vmap."""
    w = T(W0, requires_grad=True)

    def one(x, t):
        def g(y):
            return cr.autograd.grad((cr.sin(y * w) * y).sum(), w)[0]

        return jvp(g, (x,), (t,))[1]

    return vmap(one)(T(XB), T(TB))


def _vjp_of_vmap_with_a_dual_cotangent():
    """A vjp of a vmapped function taken inside jvp in its cotangent: the dual cotangent enters
    the batch (vmap_in) in the backward pass."""
    x = T(XB, requires_grad=True)
    y = vmap(lambda r: cr.tanh(r) * r.sum())(x)
    return jvp(lambda c: cr.autograd.grad(y, x, c, retain_graph=True)[0], (T(TB),), (T(XB),))


def test_jvp_of_vmap_and_vmap_of_jvp_match_jax():
    want_o, want_t = jax.jvp(jax.vmap(_jax_per_example), (XB,), (TB,))
    o, t = jvp(vmap(_per_example), (T(XB),), (T(TB),))
    np.testing.assert_allclose(o.numpy(), np.asarray(want_o), rtol=1e-12)
    np.testing.assert_allclose(t.numpy(), np.asarray(want_t), rtol=1e-10)
    o, t = vmap(lambda x, v: jvp(_per_example, (x,), (v,)))(T(XB), T(TB))
    np.testing.assert_allclose(o.numpy(), np.asarray(want_o), rtol=1e-12)
    np.testing.assert_allclose(t.numpy(), np.asarray(want_t), rtol=1e-10)
    # forward over reverse, per example: vmap of hvp
    got = vmap(lambda x, v: hvp(_per_example, (x,), (v,)))(T(XB), T(TB))
    want = jax.vmap(lambda x, v: jax.jvp(jax.grad(_jax_per_example), (x,), (v,))[1])(XB, TB)
    np.testing.assert_allclose(got.numpy(), np.asarray(want), rtol=1e-10)


def test_vmap_in_and_out_carry_dual_numbers_of_an_inner_forward_mode():
    def jg(x, t):
        return jax.jvp(lambda y: jax.grad(lambda w: (jnp.sin(y * w) * y).sum())(W0), (x,), (t,))[1]

    np.testing.assert_allclose(
        _vmap_of_jvp_of_grad_of_outside().numpy(), np.asarray(jax.vmap(jg)(XB, TB)), rtol=1e-10
    )
    (o, t) = _vjp_of_vmap_with_a_dual_cotangent()
    _, pull = jax.vjp(jax.vmap(lambda r: jnp.tanh(r) * r.sum()), XB)
    np.testing.assert_allclose(o.numpy(), np.asarray(pull(TB)[0]), rtol=1e-12)
    np.testing.assert_allclose(t.numpy(), np.asarray(pull(XB)[0]), rtol=1e-12)  # linear in c


@pytest.mark.parametrize(
    "make,shape",
    [
        (lambda: cr.nn.BatchNorm1d(3), (4, 3)),
        (lambda: cr.nn.BatchNorm1d(3), (4, 3, 6)),
        (lambda: cr.nn.BatchNorm2d(3, affine=False), (4, 3, 2, 2)),
        (lambda: cr.nn.LayerNorm((2, 3)), (4, 2, 3)),
        (lambda: cr.nn.RMSNorm(3, eps=1e-6), (4, 3)),
        (lambda: cr.nn.Conv2d(3, 2, 3, stride=2, padding=1), (2, 3, 5, 5)),
    ],
)
def test_the_fused_layers_jacfwd_is_jacrev_and_float32_stays(make, shape):
    m = make().double()
    x = T(R.standard_normal(shape))
    a, b = jacfwd(m)(x), jacrev(m)(x)
    np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-9, atol=1e-12)
    m32 = make()
    x32 = T(R.standard_normal(shape).astype(np.float32))
    o, t = jvp(m32, (x32,), (T(R.standard_normal(shape).astype(np.float32)),))
    assert o.dtype == t.dtype == cr.float32


def test_jvp_and_vmap_compose_through_conv_and_batch_norm():
    """Per-example CNN (each example a small batch of images, batch norm over its own batch):
    jvp of vmap, vmap of jvp and vmap of hvp against JAX, with no fallback loop."""
    import warnings

    from chainrule.ops.batching import PerformanceWarning

    w = R.standard_normal((4, 3, 3, 3))

    def f(x):
        y = F.batch_norm(F.conv2d(x, T(w), padding=1), None, None, training=True)
        return (F.relu(y) * y).sum()

    def jf(x):
        y = jax.lax.conv_general_dilated(x, w, (1, 1), ((1, 1), (1, 1)))
        y = _jax_norm(y, None, None, (0, 2, 3))
        return (jnn.relu(y) * y).sum()

    x, v = R.standard_normal((3, 2, 3, 5, 5)), R.standard_normal((3, 2, 3, 5, 5))
    want_o, want_t = jax.jvp(jax.vmap(jf), (x,), (v,))
    want_h = jax.vmap(lambda a, b: jax.jvp(jax.grad(jf), (a,), (b,))[1])(x, v)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PerformanceWarning)
        o, t = jvp(vmap(f), (T(x),), (T(v),))
        o2, t2 = vmap(lambda a, b: jvp(f, (a,), (b,)))(T(x), T(v))
        h = vmap(lambda a, b: hvp(f, (a,), (b,)))(T(x), T(v))
    for got, want in ((o, want_o), (t, want_t), (o2, want_o), (t2, want_t), (h, want_h)):
        np.testing.assert_allclose(got.numpy(), np.asarray(want), rtol=1e-9, atol=1e-10)
