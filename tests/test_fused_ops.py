"""The fused transformer primitives: GELU (exact and tanh, with their fused backward), LayerNorm,
RMSNorm, the row max/sum behind softmax and attention, attention's recomputed probabilities, the
embedding scatter-add and batched linear. Values, gradients and second derivatives against
PyTorch in float64 (plus finite differences), float32 against PyTorch's float32, with and without
the optional Numba kernels."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

import chainrule as cr
import chainrule.nn.functional as F
from chainrule.ops.nnops import erf, row_max, row_sum
from oracle import check

TF = torch.nn.functional
ROOT = Path(__file__).resolve().parent.parent


def _f32_pair(fn_cr, fn_t, arrays, rtol=1e-5, atol=1e-6):
    """Values and gradients of a float32 op against PyTorch's float32."""
    xs = [cr.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    ts = [torch.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    out, tout = fn_cr(*xs), fn_t(*ts)
    assert out.dtype == cr.float32
    np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), rtol=rtol, atol=atol)
    w = np.random.default_rng(1).standard_normal(tout.shape).astype(np.float32)
    (out * cr.tensor(w)).sum().backward()
    (tout * torch.tensor(w)).sum().backward()
    for x, t in zip(xs, ts):
        if t.grad is not None:
            assert x.grad.dtype == cr.float32
            np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=rtol, atol=atol * 10)


# ----- GELU ----------------------------------------------------------------------------------
@pytest.mark.parametrize("approximate", ["none", "tanh"])
@pytest.mark.parametrize("shape", [(3, 4), (), (5,), (0, 3)])
def test_gelu_float64_against_torch_and_finite_differences(approximate, shape):
    check(
        lambda x: F.gelu(x, approximate=approximate), shapes=[shape],
        torch_fn=lambda x: TF.gelu(x, approximate=approximate),
    )  # fmt: skip


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_third_derivative(approximate):
    x0 = np.linspace(-4, 4, 9)
    x, t = cr.tensor(x0, requires_grad=True), torch.tensor(x0, requires_grad=True)
    (g,) = cr.autograd.grad(F.gelu(x, approximate=approximate).sum(), [x], create_graph=True)
    (gt,) = torch.autograd.grad(TF.gelu(t, approximate=approximate).sum(), [t], create_graph=True)
    (h,) = cr.autograd.grad(g.sum(), [x], create_graph=True)
    (ht,) = torch.autograd.grad(gt.sum(), [t], create_graph=True)
    (k,) = cr.autograd.grad(h.sum(), [x])
    (kt,) = torch.autograd.grad(ht.sum(), [t])
    np.testing.assert_allclose(h.detach().numpy(), ht.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(k.numpy(), kt.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_float32_against_torch(kernels, approximate):
    x = np.random.default_rng(0).standard_normal((4, 8, 33)).astype(np.float32) * 3
    x[0, 0, :6] = [0.0, -0.0, 9.5, -9.5, 30.0, -30.0]
    _f32_pair(
        lambda a: F.gelu(a, approximate=approximate),
        lambda a: TF.gelu(a, approximate=approximate), [x],
    )  # fmt: skip


def test_gelu_nan_and_infinities(kernels):
    x = np.array([np.nan, np.inf, -np.inf, 1.0, -1.0], np.float32)
    with np.errstate(invalid="ignore"):
        out = F.gelu(cr.tensor(x)).numpy()
    # NaN stays NaN; gelu(inf) = inf (PyTorch's vectorized CPU kernel gives NaN there); -inf
    # gives NaN (-inf * Phi(-inf) = -inf * 0), as in PyTorch
    assert np.isnan(out[0]) and out[1] == np.inf and np.isnan(out[2])
    np.testing.assert_allclose(out[3:], TF.gelu(torch.tensor(x[3:])).numpy(), rtol=1e-6)


# ----- SiLU ----------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(3, 4), (), (5,), (0, 3)])
def test_silu_float64_against_torch_and_finite_differences(shape):
    check(F.silu, shapes=[shape], torch_fn=TF.silu)


def test_silu_is_one_node_that_keeps_only_its_input_and_third_derivative():
    x0 = np.linspace(-6, 6, 13)
    x, t = cr.tensor(x0, requires_grad=True), torch.tensor(x0, requires_grad=True)
    y = F.silu(x)
    assert y.grad_fn.name() == "SiluBackward" and y.grad_fn.ans is None
    (g,) = cr.autograd.grad(y.sum(), [x], create_graph=True)
    (gt,) = torch.autograd.grad(TF.silu(t).sum(), [t], create_graph=True)
    (h,) = cr.autograd.grad(g.sum(), [x], create_graph=True)
    (ht,) = torch.autograd.grad(gt.sum(), [t], create_graph=True)
    (k,) = cr.autograd.grad(h.sum(), [x])
    (kt,) = torch.autograd.grad(ht.sum(), [t])
    np.testing.assert_allclose(g.detach().numpy(), gt.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(h.detach().numpy(), ht.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(k.numpy(), kt.numpy(), rtol=1e-9, atol=1e-12)


def test_silu_float32_extremes_and_module_against_torch(kernels):
    x = np.random.default_rng(4).standard_normal((4, 8, 33)).astype(np.float32) * 4
    x[0, 0, :8] = [0.0, -0.0, 30.0, -30.0, 100.0, -100.0, 1e-30, -1e-30]
    _f32_pair(F.silu, TF.silu, [x])
    special = np.array([np.inf, -np.inf, np.nan, -1e30, 1e30], np.float32)
    with np.errstate(invalid="ignore"):
        out = cr.nn.SiLU()(cr.tensor(special)).numpy()
    np.testing.assert_array_equal(out, TF.silu(torch.tensor(special)).numpy())
    with pytest.raises(TypeError, match="silu: expected a floating input"):
        F.silu(cr.tensor([1, 2]))


def test_gelu_module_and_bad_input():
    assert cr.nn.GELU("tanh")(cr.ones(2)).dtype == cr.float32
    with pytest.raises(ValueError, match="gelu: approximate must be 'none' or 'tanh'"):
        F.gelu(cr.ones(2), approximate="fast")
    with pytest.raises(TypeError, match="gelu: expected a floating input"):
        F.gelu(cr.tensor([1, 2]))


def test_erf_float32_stays_float32_and_matches_torch():
    x = np.linspace(-6, 6, 1001).astype(np.float32)
    out = erf(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, torch.erf(torch.tensor(x)).numpy(), atol=2e-7)


# ----- LayerNorm and RMSNorm -----------------------------------------------------------------
@pytest.mark.parametrize(
    "shapes, ns",
    [
        ([(3, 4), (4,), (4,)], (4,)),
        ([(2, 2, 3), (2, 3), (2, 3)], (2, 3)),
        ([(5,), (5,), (5,)], (5,)),
    ],
)
def test_layer_norm_float64(shapes, ns):
    check(lambda x, w, b: F.layer_norm(x, ns, w, b), shapes=shapes,
          torch_fn=lambda x, w, b: TF.layer_norm(x, ns, w, b))  # fmt: skip
    check(lambda x: F.layer_norm(x, ns), shapes=shapes[:1],
          torch_fn=lambda x: TF.layer_norm(x, ns))  # fmt: skip
    check(lambda x, w: F.layer_norm(x, ns, w), shapes=shapes[:2],
          torch_fn=lambda x, w: TF.layer_norm(x, ns, w))  # fmt: skip


def test_layer_norm_float32_and_module():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 16, 64)).astype(np.float32) * 3 + 1
    w, b = rng.standard_normal(64).astype(np.float32), rng.standard_normal(64).astype(np.float32)
    _f32_pair(lambda *a: F.layer_norm(a[0], (64,), a[1], a[2]),
              lambda *a: TF.layer_norm(a[0], (64,), a[1], a[2]), [x, w, b], atol=2e-6)  # fmt: skip
    m = cr.nn.LayerNorm(64)
    assert m(cr.tensor(x)).dtype == cr.float32
    x_nc = cr.tensor(np.ascontiguousarray(x.transpose(1, 0, 2))).transpose(0, 1)  # not contiguous
    np.testing.assert_allclose(
        F.layer_norm(x_nc, (64,)).numpy(), TF.layer_norm(torch.tensor(x), (64,)).numpy(),
        atol=2e-6,
    )  # fmt: skip


def test_layer_norm_bad_weight():
    with pytest.raises(ValueError, match=r"layer_norm: weight of shape \(3,\) does not match"):
        F.layer_norm(cr.ones(2, 4), (4,), cr.ones(3))
    with pytest.raises(ValueError, match="does not match the last dimensions"):
        F.layer_norm(cr.ones(2, 4), (3,))


@pytest.mark.parametrize("eps", [1e-5, None])
def test_rms_norm_float64(eps):
    check(lambda x, w: F.rms_norm(x, (4,), w, eps), shapes=[(3, 4), (4,)],
          torch_fn=lambda x, w: TF.rms_norm(x, (4,), w, eps))  # fmt: skip
    check(lambda x: F.rms_norm(x, (2, 3), eps=eps), shapes=[(2, 2, 3)],
          torch_fn=lambda x: TF.rms_norm(x, (2, 3), eps=eps))  # fmt: skip


def test_rms_norm_float32():
    rng = np.random.default_rng(0)
    x, w = (
        rng.standard_normal((8, 32)).astype(np.float32),
        rng.standard_normal(32).astype(np.float32),
    )
    _f32_pair(lambda a, b: F.rms_norm(a, (32,), b), lambda a, b: TF.rms_norm(a, (32,), b), [x, w])


# ----- row max / sum, softmax, attention -----------------------------------------------------
@pytest.mark.parametrize("shape", [(3, 5), (2, 3, 32), (4, 200), (6, 1), (2, 2), (0, 4), (4, 0)])
def test_row_max_and_sum(shape):
    a = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    if a.size:
        np.testing.assert_array_equal(row_max(a), a.max(axis=-1, keepdims=True))
    np.testing.assert_allclose(row_sum(a), a.sum(axis=-1, keepdims=True), rtol=1e-5, atol=1e-6)
    b = a.copy()
    if b.size:
        b[0, ..., 0] = np.nan
        assert np.isnan(row_max(b)[0]).all()


def test_softmax_rows_with_infinities_against_torch():
    x = np.random.default_rng(0).standard_normal((6, 40)).astype(np.float32)
    x[0, 3:] = -np.inf
    x[1, 0] = 1e4
    for f, tf in ((F.softmax, TF.softmax), (F.log_softmax, TF.log_softmax)):
        np.testing.assert_allclose(
            f(cr.tensor(x), dim=-1).numpy(), tf(torch.tensor(x), dim=-1).numpy(), atol=1e-6
        )


def test_causal_attention_float32_gpt_shapes():
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((4, 4, 16, 8)).astype(np.float32) for _ in range(3))
    _f32_pair(
        lambda a, b, c: F.scaled_dot_product_attention(a, b, c, is_causal=True),
        lambda a, b, c: TF.scaled_dot_product_attention(a, b, c, is_causal=True), [q, k, v],
    )  # fmt: skip


def test_attention_keeps_no_probabilities():
    q = cr.randn(2, 3, 5, 4, requires_grad=True)
    out = F.scaled_dot_product_attention(q, q, q, is_causal=True)
    saved = out.grad_fn.params["saved"]
    assert saved.lse.shape == (2, 3, 5, 1) and saved.shared is None
    check(lambda a, b, c: F.scaled_dot_product_attention(a, b, c, is_causal=True),
          shapes=[(2, 3, 4), (2, 3, 4), (2, 3, 2)],
          torch_fn=lambda a, b, c: TF.scaled_dot_product_attention(a, b, c, is_causal=True))  # fmt: skip


# ----- embedding and linear ------------------------------------------------------------------
@pytest.mark.parametrize("idx", [[[1, 2, 1], [9, 0, 1]], [3], [[0, 0, 0, 0]]])
def test_embedding_backward_repeats_add_up(idx):
    w0 = np.random.default_rng(0).standard_normal((10, 3))
    check(lambda w, i: F.embedding(i, w), arrays=[w0, np.array(idx)],
          torch_fn=lambda w, i: TF.embedding(i, w))  # fmt: skip


def test_index_backward_negative_and_empty_indices():
    w = cr.randn(6, 2, requires_grad=True)
    tw = torch.tensor(w.detach().numpy(), requires_grad=True)
    idx = np.array([[-1, 2, 5], [0, -1, -1]])
    g = np.random.default_rng(1).standard_normal((2, 3, 2)).astype(np.float32)
    w[cr.tensor(idx)].backward(cr.tensor(g))
    tw[torch.tensor(idx)].backward(torch.tensor(g))
    np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=1e-6)
    e = cr.randn(4, 3, requires_grad=True)
    F.embedding(cr.tensor(np.zeros((0,), np.int64)), e).sum().backward()
    assert np.array_equal(e.grad.numpy(), np.zeros((4, 3), np.float32))


def test_linear_batched_input():
    check(lambda x, w, b: F.linear(x, w, b), shapes=[(2, 3, 4), (5, 4), (5,)],
          torch_fn=lambda x, w, b: TF.linear(x, w, b))  # fmt: skip
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((4, 7, 16)).astype(np.float32), rng.standard_normal((8, 16))
    _f32_pair(lambda a, b: F.linear(a, b), lambda a, b: TF.linear(a, b), [x, w.astype(np.float32)])


# ----- the benchmark's GPT: one training step, same weights ----------------------------------
def test_gpt_benchmark_step_matches_torch(kernels):
    spec = importlib.util.spec_from_file_location("bench_gpt", ROOT / "benchmarks" / "gpt.py")
    gpt = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gpt)
    cfg = dict(gpt.CONFIGS["small"], batch=4)
    cm, tm = gpt.gpt_models(cfg)
    x, y = gpt.gpt_batch(cfg)
    loss = F.cross_entropy(cm(cr.tensor(x)).view(-1, 65), cr.tensor(y).view(-1))
    tloss = TF.cross_entropy(tm(torch.from_numpy(x)).view(-1, 65), torch.from_numpy(y).view(-1))
    loss.backward()
    tloss.backward()
    assert abs(loss.item() - tloss.item()) < 1e-5
    tgrads = dict(tm.named_parameters())
    for name, p in cm.named_parameters():
        assert p.grad.dtype == cr.float32, name
        np.testing.assert_allclose(p.grad.numpy(), tgrads[name].grad.numpy(), atol=2e-5,
                                   err_msg=name)  # fmt: skip


@pytest.mark.parametrize("layout", ["contiguous", "channels_last", "0-d"])
def test_relu_float32_is_maximum_to_the_bit_and_matches_torch(kernels, layout):
    """The one-pass ReLU kernel (on the float32 bits) and NumPy's maximum: same bits for NaN of
    either sign, -0, infinities and subnormals, any layout, no floating-point warning."""
    import warnings

    special = [np.nan, -np.nan, -0.0, 0.0, -np.inf, np.inf, -1.0, 2.0, 1e-45, -1e-45]
    x = np.random.default_rng(5).standard_normal((4, 3, 5, 6)).astype(np.float32)
    x.reshape(-1)[: len(special)] = special
    if layout == "channels_last":
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    elif layout == "0-d":
        x = np.array(-np.nan, np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        t = cr.tensor(x, requires_grad=True)
        out = t.relu()
    want = np.maximum(x, np.float32(0))
    assert out.dtype == cr.float32 and out.shape == x.shape
    np.testing.assert_array_equal(out.detach().numpy().view(np.int32), want.view(np.int32))
    ref = torch.relu(torch.from_numpy(x.copy())).numpy()
    np.testing.assert_array_equal(out.detach().numpy(), ref)
