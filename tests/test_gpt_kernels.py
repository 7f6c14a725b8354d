"""The Numba kernels of the GPT step (ops/jit.py): the layer-norm row kernels (forward, input
and weight gradients), the vectorizable float32 exp and the one-pass GELU backward built on it.
Each against PyTorch's float32 and against its NumPy twin (CHAINRULE_JIT=0), with the awkward
inputs: no weight or bias, several normalized axes, non-contiguous and empty inputs, NaN and
infinities, float64 (which keeps the NumPy path)."""

import numpy as np
import pytest
import torch

import chainrule as cr
import chainrule.nn.functional as F
from chainrule.ops import jit

TF = torch.nn.functional


def _layer_norm_pair(x, ns, affine, dtype=np.float32, atol=2e-6):
    rng = np.random.default_rng(1)
    w = rng.standard_normal(ns).astype(dtype) if affine[0] else None
    b = rng.standard_normal(ns).astype(dtype) if affine[1] else None
    g = rng.standard_normal(x.shape).astype(dtype)
    cx = cr.tensor(x, requires_grad=True)
    tx = torch.tensor(x, requires_grad=True)
    cw, tw = (None, None) if w is None else (cr.tensor(w, requires_grad=True),
                                             torch.tensor(w, requires_grad=True))  # fmt: skip
    cb, tb = (None, None) if b is None else (cr.tensor(b, requires_grad=True),
                                             torch.tensor(b, requires_grad=True))  # fmt: skip
    out = F.layer_norm(cx, ns, cw, cb)
    tout = TF.layer_norm(tx, ns, tw, tb)
    assert out.dtype == cx.dtype
    np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), atol=atol, rtol=1e-5)
    out.backward(cr.tensor(g))
    tout.backward(torch.tensor(g))
    pairs = [(cx, tx)] + [(c, t) for c, t in ((cw, tw), (cb, tb)) if c is not None]
    for c, t in pairs:
        assert c.grad.dtype == c.dtype
        np.testing.assert_allclose(c.grad.numpy(), t.grad.numpy(), atol=atol * 20, rtol=1e-4)


@pytest.mark.parametrize("affine", [(True, True), (True, False), (False, True), (False, False)])
@pytest.mark.parametrize("shape, ns", [((8, 32, 64), (64,)), ((5, 7), (7,)), ((3, 4, 6), (4, 6)),
                                       ((7,), (7,))])  # fmt: skip
def test_layer_norm_float32_kernels_against_torch(kernels, shape, ns, affine):
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32) * 3 + 1
    _layer_norm_pair(x, ns, affine)
    if kernels == "jit":
        assert {"layer_norm", "layer_norm_dx"} <= set(jit._kernels)


def test_layer_norm_kernels_on_odd_layouts(kernels):
    rng = np.random.default_rng(2)
    base = rng.standard_normal((16, 8, 32)).astype(np.float32)
    _layer_norm_pair(base.transpose(1, 0, 2), (32,), (True, True))  # not C-contiguous
    _layer_norm_pair(np.zeros((0, 32), np.float32), (32,), (True, True))  # no rows
    _layer_norm_pair(np.full((4, 16), 3.0, np.float32), (16,), (True, True))  # zero variance
    _layer_norm_pair(base.astype(np.float64), (32,), (True, True), np.float64, atol=1e-12)


def test_layer_norm_kernels_agree_with_numpy_twin_and_propagate_nan(monkeypatch):
    if not jit.enabled():
        pytest.skip("numba is not installed")
    rng = np.random.default_rng(3)
    x = rng.standard_normal((64, 48)).astype(np.float32) * 5
    x[3, 7] = np.nan
    w, b = rng.standard_normal(48).astype(np.float32), rng.standard_normal(48).astype(np.float32)
    g = rng.standard_normal(x.shape).astype(np.float32)
    runs = {}
    for flag in ("1", "0"):
        monkeypatch.setitem(jit._state, "on", flag == "1")
        ts = [cr.tensor(a, requires_grad=True) for a in (x, w, b)]
        out = F.layer_norm(ts[0], (48,), ts[1], ts[2])
        out.backward(cr.tensor(g))
        runs[flag] = [out.detach().numpy()] + [t.grad.numpy() for t in ts]
    for a, b_ in zip(runs["1"], runs["0"]):
        np.testing.assert_allclose(a, b_, atol=1e-4, rtol=1e-5)  # NaN where the twin has it
    assert np.isnan(runs["1"][0][3]).all() and not np.isnan(runs["1"][0][4]).any()


def test_exp32_kernel_accuracy_and_limits():
    if not jit.enabled():
        pytest.skip("numba is not installed")
    import numba

    jit._build_exp32()
    exp32 = numba.vectorize(["float32(float32)"])(lambda v: jit._exp32(v))
    x = np.linspace(-87, 88.5, 200001, dtype=np.float32)
    ref = np.exp(x.astype(np.float64))
    rel = np.abs(exp32(x) - ref) / ref
    assert rel.max() < 2 * np.finfo(np.float32).eps
    edge = np.array([-np.inf, -1000.0, -88.0, 0.0, 89.0, np.inf, np.nan], np.float32)
    got = exp32(edge)
    np.testing.assert_array_equal(got[:2], [0.0, 0.0])
    assert 0 <= got[2] < 1e-38 and got[3] == 1.0 and np.isinf(got[4]) and np.isinf(got[5])
    assert np.isnan(got[6])
    assert exp32(x).dtype == np.float32


def test_gelu_backward_kernel_against_torch_and_twin(kernels):
    rng = np.random.default_rng(4)
    x = (rng.standard_normal((16, 64, 96)) * 4).astype(np.float32)
    x.reshape(-1)[:6] = [0.0, -0.0, 9.5, -9.5, 40.0, -40.0]
    g = rng.standard_normal(x.shape).astype(np.float32)
    cx, tx = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    F.gelu(cx).backward(cr.tensor(g))
    TF.gelu(tx).backward(torch.tensor(g))
    assert cx.grad.dtype == cr.float32
    np.testing.assert_allclose(cx.grad.numpy(), tx.grad.numpy(), atol=2e-6, rtol=1e-5)


def _sdpa_pair(shapes, causal, atol=2e-6, scale=None):
    rng = np.random.default_rng(5)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    cs = [cr.tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = F.scaled_dot_product_attention(*cs, is_causal=causal, scale=scale)
    tout = TF.scaled_dot_product_attention(*ts, is_causal=causal, scale=scale)
    assert out.dtype == cr.float32
    np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), atol=atol, rtol=1e-5)
    g = rng.standard_normal(tuple(tout.shape)).astype(np.float32)
    out.backward(cr.tensor(g))
    tout.backward(torch.tensor(g))
    for c, t in zip(cs, ts):
        assert c.grad.dtype == cr.float32 and c.grad.shape == tuple(t.shape)
        np.testing.assert_allclose(c.grad.numpy(), t.grad.numpy(), atol=atol * 5, rtol=1e-4)


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize(
    "shapes",
    [
        [(4, 3, 16, 8)] * 3,  # GPT's (B, H, T, hd)
        [(2, 5, 8), (2, 7, 8), (2, 7, 4)],  # L < S, Ev != E
        [(2, 9, 8), (2, 4, 8), (2, 4, 8)],  # L > S: causal rows past S see every key
        [(3, 2, 6, 8), (1, 2, 6, 8), (3, 1, 6, 8)],  # batch dims broadcast
        [(6, 8), (1, 3, 6, 8), (1, 3, 6, 8)],  # q broadcast against k and v
        [(1, 6, 8), (1, 6, 8), (4, 6, 8)],  # only v carries the batch: the NumPy path
    ],
)
def test_attention_kernels_against_torch(kernels, shapes, causal):
    _sdpa_pair(shapes, causal)


def test_attention_kernels_large_scores_and_scale(kernels):
    _sdpa_pair([(2, 2, 12, 16)] * 3, True, atol=2e-5, scale=3.0)  # peaked rows: exp far below 1
    _sdpa_pair([(2, 1, 8)] * 3, True)  # a single key and query


def test_attention_kernel_strided_inputs_like_gpt(kernels):
    """q, k, v as GPT makes them: views of one (B, T, 3C) projection, heads transposed."""
    rng = np.random.default_rng(6)
    B, T, H, hd = 3, 10, 2, 4
    x = rng.standard_normal((B, T, 3 * H * hd)).astype(np.float32)
    g = rng.standard_normal((B, T, H * hd)).astype(np.float32)
    grads = []
    for lib in (cr, torch):
        xt = lib.tensor(x, requires_grad=True)
        q, k, v = xt.split(H * hd, dim=2)
        q, k, v = (a.view(B, T, H, hd).transpose(1, 2) for a in (q, k, v))
        y = lib.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        y.transpose(1, 2).contiguous().view(B, T, H * hd).backward(lib.tensor(g))
        grads.append(xt.grad.numpy())
    np.testing.assert_allclose(grads[0], grads[1], atol=1e-5, rtol=1e-4)
    if kernels == "jit":  # the fused kernels ran (not a silent fallback)
        assert {"attention_probs", "attention_grads"} <= set(jit._kernels)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bias_gradients_by_gemv_against_torch(dtype):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((4, 6, 5)).astype(dtype)
    g = rng.standard_normal((4, 6, 3)).astype(dtype)
    cl, tl = cr.nn.Linear(5, 3), torch.nn.Linear(5, 3)
    if dtype == np.float64:
        cl, tl = cl.double(), tl.double()
    cl.load_state_dict({k: cr.tensor(v.detach().numpy()) for k, v in tl.state_dict().items()})
    out = cl(cr.tensor(x))
    assert out.grad_fn.saved[2] is not cl.bias._data  # the bias is kept as its shape only
    out.backward(cr.tensor(g))
    tl(torch.tensor(x)).backward(torch.tensor(g))
    assert cl.bias.grad.dtype == cl.bias.dtype
    np.testing.assert_allclose(cl.bias.grad.numpy(), tl.bias.grad.numpy(), rtol=1e-5, atol=1e-5)
    # a layer norm's bias over two axes; and second derivatives through the bias (tensors)
    b = cr.tensor(rng.standard_normal((6, 5)).astype(dtype), requires_grad=True)
    F.layer_norm(cr.tensor(x), (6, 5), None, b).backward(cr.tensor(x))
    np.testing.assert_allclose(b.grad.numpy(), x.sum(axis=0), rtol=1e-5, atol=1e-5)
    w = cr.tensor(rng.standard_normal((3, 5)).astype(dtype), requires_grad=True)
    bb = cr.tensor(np.zeros(3, dtype), requires_grad=True)
    (gb,) = cr.autograd.grad((F.linear(cr.tensor(x), w, bb) ** 2).sum(), [bb], create_graph=True)
    (gw,) = cr.autograd.grad(gb.sum(), [w])
    np.testing.assert_allclose(gw.numpy(), np.broadcast_to(2 * x.sum(axis=(0, 1)), (3, 5)),
                               rtol=1e-5)  # fmt: skip


def test_attention_output_merges_heads_without_a_copy():
    rng = np.random.default_rng(8)
    q, k, v = (cr.tensor(rng.standard_normal((2, 3, 5, 4)).astype(np.float32)) for _ in range(3))
    y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    merged = y.transpose(1, 2).contiguous().view(2, 5, 12)
    assert np.shares_memory(merged.numpy(), y.numpy())  # a view: the heads already lie inside
    ref = TF.scaled_dot_product_attention(*(torch.tensor(t.numpy()) for t in (q, k, v)),
                                          is_causal=True)  # fmt: skip
    np.testing.assert_allclose(y.numpy(), ref.numpy(), atol=2e-6)
    y3 = F.scaled_dot_product_attention(q[0], k[0], v[0])  # 3-D: a plain product
    assert y3.numpy().flags.c_contiguous


@pytest.mark.parametrize("shape, dim", [((64, 65), 1), ((3, 5, 7), -1), ((4, 6), 0), ((9,), 0)])
def test_log_softmax_kernels_against_torch(kernels, shape, dim):
    rng = np.random.default_rng(9)
    x = (rng.standard_normal(shape) * 4).astype(np.float32)
    g = rng.standard_normal(shape).astype(np.float32)
    cx, tx = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, tout = F.log_softmax(cx, dim), TF.log_softmax(tx, dim)
    assert out.dtype == cr.float32
    np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), atol=2e-6)
    out.backward(cr.tensor(g))
    tout.backward(torch.tensor(g))
    np.testing.assert_allclose(cx.grad.numpy(), tx.grad.numpy(), atol=2e-6, rtol=1e-5)


def test_log_softmax_kernel_infinities_and_cross_entropy(kernels):
    x = np.array([[0.0, -np.inf, 1.0], [np.inf, 0.0, 1.0], [np.nan, 0.0, 1.0],
                  [-np.inf, -np.inf, -np.inf], [1e30, -1e30, 0.0]], np.float32)  # fmt: skip
    got = F.log_softmax(cr.tensor(x), 1).numpy()
    ref = TF.log_softmax(torch.tensor(x), 1).numpy()
    np.testing.assert_allclose(got, ref, atol=1e-6)  # NaN where torch has NaN
    rng = np.random.default_rng(10)
    logits = rng.standard_normal((32, 65)).astype(np.float32)
    target = rng.integers(0, 65, 32)
    cl, tl = cr.tensor(logits, requires_grad=True), torch.tensor(logits, requires_grad=True)
    loss = F.cross_entropy(cl, cr.tensor(target))
    tloss = TF.cross_entropy(tl, torch.tensor(target))
    np.testing.assert_allclose(loss.item(), tloss.item(), rtol=1e-6)
    loss.backward()
    tloss.backward()
    np.testing.assert_allclose(cl.grad.numpy(), tl.grad.numpy(), atol=1e-7)


def test_row_kernels_keep_digits_of_large_values(kernels):
    """Far from zero, (x - m) - c must not be reassociated into x - (m + c)."""
    rng = np.random.default_rng(11)
    x = (1e4 + rng.standard_normal((16, 64))).astype(np.float32)
    truth = x.astype(np.float64)
    lsm = truth - truth.max(1, keepdims=True)
    lsm -= np.log(np.exp(lsm).sum(1, keepdims=True))
    np.testing.assert_allclose(F.log_softmax(cr.tensor(x), 1).numpy(), lsm, atol=2e-5)
    xh = (truth - truth.mean(1, keepdims=True)) / np.sqrt(truth.var(1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(F.layer_norm(cr.tensor(x), (64,)).numpy(), xh, atol=2e-3)


@pytest.mark.parametrize("idx", [[[0, 2, 2], [5, 0, 2]], [[1]], [[3, -1]]])
def test_embedding_backward_kernel_against_torch(kernels, idx):
    rng = np.random.default_rng(12)
    w0 = rng.standard_normal((6, 5)).astype(np.float32)
    ii = np.array(idx) % 6
    g = rng.standard_normal(ii.shape + (5,)).astype(np.float32)
    w, tw = cr.tensor(w0, requires_grad=True), torch.tensor(w0, requires_grad=True)
    F.embedding(cr.tensor(ii), w).backward(cr.tensor(g))
    TF.embedding(torch.tensor(ii), tw).backward(torch.tensor(g))
    assert w.grad.dtype == cr.float32
    np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), atol=1e-6)
    x = cr.tensor(w0, requires_grad=True)  # indexing rows with negative indices adds up too
    x[cr.tensor(np.array(idx[0]))].sum().backward()
    want = np.zeros(6)
    np.add.at(want, np.array(idx[0]) % 6, 1.0)
    np.testing.assert_allclose(x.grad.numpy(), np.repeat(want[:, None], 5, 1))


def test_chainrule_jit_0_in_the_environment_turns_the_kernels_off_from_the_start():
    import os
    import subprocess
    import sys

    code = "from chainrule.ops import jit; print(jit.enabled()); jit.set_enabled(True)"
    env = dict(os.environ, CHAINRULE_JIT="0")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
