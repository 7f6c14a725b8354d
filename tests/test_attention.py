"""Attention and transformer layers, RMSNorm and einsum against PyTorch: values, gradients
(inputs and parameters, same weights loaded from a torch state_dict), second derivatives and
float64 finite differences; masks, layouts and bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn
from oracle import check

DT = {np.float64: torch.float64, np.float32: torch.float32}
TOL = {np.float64: (1e-9, 1e-11), np.float32: (1e-4, 1e-5)}


@pytest.fixture(autouse=True)
def _seed():
    cr.manual_seed(0)
    torch.manual_seed(0)


def _np(t):
    return t.detach().numpy() if isinstance(t, (cr.Tensor, torch.Tensor)) else np.asarray(t)


def _close(a, b, dtype=np.float64, msg=""):
    rtol, atol = TOL[dtype]
    np.testing.assert_allclose(_np(a), _np(b), rtol=rtol, atol=atol, err_msg=msg)


# ----- scaled_dot_product_attention ----------------------------------------------------------
def _sdpa_pair(shapes, dtype=np.float64, mask=None, seed=0, **kw):
    """Run both libraries on the same q, k, v (and mask); return outputs and gradients."""
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s).astype(dtype) for s in shapes]
    xs = [cr.tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = F.scaled_dot_product_attention(*xs, attn_mask=None if mask is None else cr.tensor(mask),
                                         **kw)  # fmt: skip
    tout = TF.scaled_dot_product_attention(
        *ts, attn_mask=None if mask is None else torch.tensor(mask), **kw
    )
    w = rng.standard_normal(tout.shape).astype(dtype)
    (out * cr.tensor(w)).sum().backward()
    (tout * torch.tensor(w)).sum().backward()
    return out, tout, [x.grad for x in xs], [t.grad for t in ts]


SDPA_CASES = [
    ("plain", [(2, 3, 4, 8), (2, 3, 5, 8), (2, 3, 5, 6)], None, {}),
    ("causal square", [(2, 3, 5, 8), (2, 3, 5, 8), (2, 3, 5, 8)], None, {"is_causal": True}),
    ("causal L<S", [(2, 4, 8), (2, 6, 8), (2, 6, 3)], None, {"is_causal": True}),
    ("causal L>S", [(1, 6, 4), (1, 3, 4), (1, 3, 4)], None, {"is_causal": True}),
    ("scale", [(2, 3, 4, 8), (2, 3, 5, 8), (2, 3, 5, 6)], None, {"scale": 0.37}),
    ("bool mask 2d", [(2, 3, 4, 8), (2, 3, 5, 8), (2, 3, 5, 6)], "bool45", {}),
    ("bool mask per head", [(2, 3, 4, 8), (2, 3, 5, 8), (2, 3, 5, 6)], "bool345", {}),
    ("float mask", [(2, 3, 4, 8), (2, 3, 5, 8), (2, 3, 5, 6)], "float2145", {}),
    ("batch broadcast", [(2, 3, 4, 8), (3, 5, 8), (3, 5, 6)], None, {}),
    ("3-d", [(6, 4, 8), (6, 5, 8), (6, 5, 2)], "bool45", {}),
    ("2-d", [(4, 8), (5, 8), (5, 8)], None, {}),
    ("gqa", [(2, 6, 4, 8), (2, 2, 5, 8), (2, 2, 5, 6)], None, {"enable_gqa": True}),
    ("gqa mask", [(2, 6, 4, 8), (2, 3, 5, 8), (2, 3, 5, 6)], "bool645", {"enable_gqa": True}),
    ("gqa causal", [(1, 4, 5, 8), (1, 1, 5, 8), (1, 1, 5, 8)], None,
     {"enable_gqa": True, "is_causal": True}),
]  # fmt: skip


def _mask(kind, seed=1, dtype=np.float64):
    rng = np.random.default_rng(seed)
    if kind is None:
        return None
    if kind.startswith("bool"):
        shape = tuple(int(c) for c in kind[4:])
        m = rng.random(shape) > 0.4
        m[..., 0] = True  # every row keeps a key: fully masked rows are tested on their own
        return m
    shape = tuple(int(c) for c in kind[5:])
    return rng.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name,shapes,mask,kw", SDPA_CASES, ids=[c[0] for c in SDPA_CASES])
def test_sdpa_matches_torch(name, shapes, mask, kw, dtype):
    out, tout, g, tg = _sdpa_pair(shapes, dtype, _mask(mask, dtype=dtype), **kw)
    assert out.shape == tuple(tout.shape) and out.dtype == dtype
    _close(out, tout, dtype, "forward")
    for i, (a, b) in enumerate(zip(g, tg)):
        _close(a, b, dtype, f"gradient of input {i}")


@pytest.mark.parametrize("kind", ["bool", "float"])
def test_sdpa_fully_masked_rows_give_zeros(kind):
    keep = np.ones((4, 5), bool)
    keep[1] = False
    mask = keep if kind == "bool" else np.where(keep, 0.0, -np.inf)
    out, tout, g, tg = _sdpa_pair([(2, 4, 8), (2, 5, 8), (2, 5, 8)], mask=mask)
    assert np.all(_np(out)[:, 1] == 0) and not np.isnan(_np(out)).any()
    _close(out, tout)
    for a, b in zip(g, tg):
        assert not np.isnan(_np(a)).any()
        _close(a, b)


def test_sdpa_float_mask_gradient():
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal(s) for s in [(2, 4, 3), (2, 5, 3), (2, 5, 3)])
    m = rng.standard_normal((4, 5))
    check(
        lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m),
        arrays=[q, k, v, m],
        torch_fn=lambda q, k, v, m: TF.scaled_dot_product_attention(q, k, v, attn_mask=m),
    )


@pytest.mark.parametrize("kw", [{}, {"is_causal": True}, {"scale": 0.5}])
def test_sdpa_second_derivatives_and_gradcheck(kw):
    """Values, gradients, second derivatives (create_graph through the fused rules) vs torch,
    and float64 finite differences."""
    check(
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v, **kw),
        shapes=[(2, 3, 4), (2, 5, 4), (2, 5, 3)],
        torch_fn=lambda q, k, v: TF.scaled_dot_product_attention(q, k, v, **kw),
    )


def test_sdpa_second_derivatives_with_masked_rows():
    keep = np.ones((3, 4), bool)
    keep[2] = False
    check(
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=cr.tensor(keep)),
        shapes=[(3, 2), (4, 2), (4, 2)],
        torch_fn=lambda q, k, v: TF.scaled_dot_product_attention(
            q, k, v, attn_mask=torch.tensor(keep)
        ),
    )


def test_sdpa_dropout():
    rng = np.random.default_rng(0)
    q, k, v = (cr.tensor(rng.standard_normal(s), requires_grad=True)
               for s in [(2, 3, 4), (2, 5, 4), (2, 5, 3)])  # fmt: skip

    def f(q, k, v):
        cr.manual_seed(7)  # the same dropout mask on every call
        return F.scaled_dot_product_attention(q, k, v, dropout_p=0.4)

    assert cr.autograd.gradcheck(f, [q, k, v])
    a, b = f(q, k, v), F.scaled_dot_product_attention(q, k, v)
    assert not np.allclose(_np(a), _np(b))  # some probabilities were dropped
    assert np.all(_np(F.scaled_dot_product_attention(q, k, v, dropout_p=1.0)) == 0)
    # the expected output is the plain one
    cr.manual_seed(1)
    qs, ks, vs = (cr.tensor(rng.standard_normal(s)) for s in [(1, 2, 4), (1, 8, 4), (1, 8, 2)])
    many = np.mean([_np(F.scaled_dot_product_attention(qs, ks, vs, dropout_p=0.5))
                    for _ in range(3000)], axis=0)  # fmt: skip
    np.testing.assert_allclose(many, _np(F.scaled_dot_product_attention(qs, ks, vs)), atol=0.08)


def test_sdpa_empty_and_no_grad():
    q = cr.randn(2, 0, 4)
    out = F.scaled_dot_product_attention(q, cr.randn(2, 3, 4), cr.randn(2, 3, 5))
    assert out.shape == (2, 0, 5)
    with cr.no_grad():
        y = F.scaled_dot_product_attention(*(cr.randn(2, 3, 4, requires_grad=True),) * 3)
    assert not y.requires_grad


def test_sdpa_bad_input():
    q, k, v = cr.randn(2, 3, 4), cr.randn(2, 5, 4), cr.randn(2, 5, 6)
    with pytest.raises(ValueError, match="scaled_dot_product_attention.*must be"):
        F.scaled_dot_product_attention(q, cr.randn(2, 5, 3), v)
    with pytest.raises(ValueError, match="should not be set when is_causal"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=cr.ones(3, 5), is_causal=True)
    with pytest.raises(TypeError, match="attn_mask must be boolean or of the query's dtype"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=cr.ones(3, 5, dtype=cr.float64))
    with pytest.raises(ValueError, match="does not broadcast"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=cr.ones(3, 4, dtype=cr.bool_))
    with pytest.raises(ValueError, match="enable_gqa"):
        F.scaled_dot_product_attention(cr.randn(1, 3, 2, 4), cr.randn(1, 2, 2, 4),
                                       cr.randn(1, 2, 2, 4), enable_gqa=True)  # fmt: skip
    with pytest.raises(ValueError, match="dropout_p"):
        F.scaled_dot_product_attention(q, k, v, dropout_p=1.5)
    with pytest.raises(TypeError, match="same dtype"):
        F.scaled_dot_product_attention(q, k.double(), v)


# ----- MultiheadAttention --------------------------------------------------------------------
def _load(m, t):
    sd = {k: v.detach().numpy() for k, v in t.state_dict().items()}
    m.load_state_dict(sd)
    assert list(m.state_dict()) == list(sd)


def _param_grads_close(m, t, dtype, rtol=None):
    mine = dict(m.named_parameters())
    names = [n for n, _ in t.named_parameters()]
    assert sorted(mine) == sorted(names)
    for n, p in t.named_parameters():
        _close(mine[n].grad, p.grad, dtype, f"gradient of {n}")


MHA_CASES = [
    ("self", {}, {}, "self", True),
    ("batch_first", {"batch_first": True}, {}, "self", True),
    ("cross no weights", {}, {"need_weights": False}, "cross", True),
    ("kdim vdim", {"kdim": 3, "vdim": 5}, {"average_attn_weights": False}, "cross", True),
    ("bias_kv zero_attn", {"add_bias_kv": True, "add_zero_attn": True}, {}, "cross", True),
    ("bias_kv sdpa", {"add_bias_kv": True}, {"need_weights": False}, "cross", True),
    ("no bias", {"bias": False}, {}, "self", True),
    ("unbatched", {}, {}, "self", False),
    ("unbatched cross", {"kdim": 3, "vdim": 5}, {"need_weights": False}, "cross", False),
    ("kpm", {}, {"key_padding_mask": "kpm"}, "cross", True),
    ("kpm sdpa", {}, {"key_padding_mask": "kpm", "need_weights": False}, "cross", True),
    ("kpm float", {}, {"key_padding_mask": "kpm_float"}, "cross", True),
    ("causal hint", {}, {"attn_mask": "causal", "is_causal": True, "need_weights": False},
     "self", True),
    ("causal mask weights", {}, {"attn_mask": "causal"}, "self", True),
    ("bool attn_mask", {}, {"attn_mask": "bool2d", "need_weights": False}, "self", True),
    ("3d attn_mask", {}, {"attn_mask": "float3d"}, "self", True),
    ("3d attn_mask sdpa", {}, {"attn_mask": "float3d", "need_weights": False}, "self", True),
    ("masks together", {}, {"attn_mask": "causal", "key_padding_mask": "kpm_self",
                            "need_weights": False}, "self", True),
]  # fmt: skip

E_, H_, L_, S_, N_ = 8, 2, 4, 5, 3


def _mha_masks(fkw, dtype, rng):
    out = {}
    for k, v in fkw.items():
        if not isinstance(v, str):
            out[k] = (v, v)
            continue
        if v == "kpm":
            a = rng.random((N_, S_)) > 0.7
            a[:, 0] = False
        elif v == "kpm_self":
            a = np.zeros((N_, L_), bool)
            a[0, -1] = True
        elif v == "kpm_float":
            a = rng.standard_normal((N_, S_)).astype(dtype)
        elif v == "causal":
            a = np.triu(np.full((L_, L_), -np.inf), 1).astype(dtype)
        elif v == "bool2d":
            a = rng.random((L_, L_)) > 0.6
            np.fill_diagonal(a, False)
        else:  # float3d
            a = rng.standard_normal((N_ * H_, L_, L_)).astype(dtype)
        out[k] = (cr.tensor(a), torch.tensor(a))
    return out


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name,kw,fkw,kind,batched", MHA_CASES, ids=[c[0] for c in MHA_CASES])
def test_multihead_attention_matches_torch(name, kw, fkw, kind, batched, dtype):
    rng = np.random.default_rng(0)
    t = torch.nn.MultiheadAttention(E_, H_, **kw, dtype=DT[dtype])
    m = nn.MultiheadAttention(E_, H_, **kw, dtype=dtype)
    _load(m, t)
    bf = kw.get("batch_first", False)

    def shape(n, d):
        return ((N_, n, d) if bf else (n, N_, d)) if batched else (n, d)

    if kind == "self":
        x = rng.standard_normal(shape(L_, E_)).astype(dtype)
        xs = [cr.tensor(x, requires_grad=True)] * 3
        ts = [torch.tensor(x, requires_grad=True)] * 3
    else:
        arrays = [rng.standard_normal(shape(n, d)).astype(dtype)
                  for n, d in ((L_, E_), (S_, kw.get("kdim", E_)), (S_, kw.get("vdim", E_)))]  # fmt: skip
        xs = [cr.tensor(a, requires_grad=True) for a in arrays]
        ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    masks = _mha_masks(fkw, dtype, rng)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out, w = m(*xs, **{k: v[0] for k, v in masks.items()})
        tout, tw = t(*ts, **{k: v[1] for k, v in masks.items()})
    _close(out, tout, dtype, "output")
    assert (w is None) == (tw is None)
    g = rng.standard_normal(tout.shape).astype(dtype)
    loss, tloss = (out * cr.tensor(g)).sum(), (tout * torch.tensor(g)).sum()
    if w is not None:
        _close(w, tw, dtype, "attention weights")
        gw = rng.standard_normal(tw.shape).astype(dtype)
        loss, tloss = loss + (w * cr.tensor(gw)).sum(), tloss + (tw * torch.tensor(gw)).sum()
    loss.backward()
    tloss.backward()
    _param_grads_close(m, t, dtype)
    for i, (a, b) in enumerate(zip(xs, ts)):
        _close(a.grad, b.grad, dtype, f"gradient of input {i}")


def test_multihead_attention_parameters_and_init():
    m = nn.MultiheadAttention(8, 2)
    t = torch.nn.MultiheadAttention(8, 2)
    assert list(m.state_dict()) == list(t.state_dict())
    assert m.in_proj_weight.shape == (24, 8) and m.q_proj_weight is None
    assert np.all(_np(m.in_proj_bias) == 0) and np.all(_np(m.out_proj.bias) == 0)
    bound = np.sqrt(6 / (24 + 8))  # xavier_uniform on (3E, E)
    assert np.abs(_np(m.in_proj_weight)).max() <= bound
    m2 = nn.MultiheadAttention(8, 2, kdim=3, vdim=5, add_bias_kv=True)
    t2 = torch.nn.MultiheadAttention(8, 2, kdim=3, vdim=5, add_bias_kv=True)
    assert list(m2.state_dict()) == list(t2.state_dict())
    assert m2.in_proj_weight is None and m2.k_proj_weight.shape == (8, 3)
    assert m2.bias_k.shape == (1, 1, 8)


def test_multihead_attention_dropout_train_and_eval():
    t = torch.nn.MultiheadAttention(8, 2, dropout=0.5)
    m = nn.MultiheadAttention(8, 2, dropout=0.5)
    _load(m, t)
    x = np.random.default_rng(0).standard_normal((4, 2, 8)).astype(np.float32)
    m.eval()
    t.eval()
    _close(m(cr.tensor(x), cr.tensor(x), cr.tensor(x))[0], t(*[torch.tensor(x)] * 3)[0],
           np.float32)  # fmt: skip
    m.train()
    a = m(cr.tensor(x), cr.tensor(x), cr.tensor(x), need_weights=False)[0]
    b = m(cr.tensor(x), cr.tensor(x), cr.tensor(x), need_weights=False)[0]
    assert not np.allclose(_np(a), _np(b))


def test_multihead_attention_bad_input():
    m = nn.MultiheadAttention(8, 2)
    x = cr.randn(4, 3, 8)
    with pytest.raises(ValueError, match="divisible by num_heads"):
        nn.MultiheadAttention(8, 3)
    with pytest.raises(ValueError, match="expected query with 8 features"):
        m(cr.randn(4, 3, 7), x, x)
    with pytest.raises(ValueError, match="key and value must be 3-D"):
        m(x, cr.randn(4, 8), cr.randn(4, 8))
    with pytest.raises(RuntimeError, match="need attn_mask"):
        m(x, x, x, is_causal=True)
    with pytest.raises(ValueError, match="2D attn_mask"):
        m(x, x, x, attn_mask=cr.zeros(4, 5))
    with pytest.raises(ValueError, match="key_padding_mask of shape"):
        m(x, x, x, key_padding_mask=cr.zeros(3, 5, dtype=cr.bool_))
    with pytest.raises(TypeError, match="only bool and floating types of attn_mask"):
        m(x, x, x, attn_mask=cr.zeros(4, 4, dtype=cr.int64))


# ----- transformer layers --------------------------------------------------------------------
LAYER_CASES = [
    ("post-norm relu", {}),
    ("pre-norm", {"norm_first": True}),
    ("gelu batch_first", {"activation": "gelu", "batch_first": True}),
    ("no bias", {"bias": False}),
    ("callable activation", {"activation": "silu"}),
    ("eps", {"layer_norm_eps": 1e-3, "norm_first": True}),
]

D_, NH_, FF_ = 16, 4, 32


def _activation_kw(kw):
    if kw.get("activation") == "silu":
        return {**kw, "activation": F.silu}, {**kw, "activation": TF.silu}
    return kw, kw


def _seq_input(rng, batch_first, seq, dtype, batch=3):
    shape = (batch, seq, D_) if batch_first else (seq, batch, D_)
    a = rng.standard_normal(shape).astype(dtype)
    return cr.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("masks", ["none", "causal", "causal+padding"])
@pytest.mark.parametrize("name,kw", LAYER_CASES, ids=[c[0] for c in LAYER_CASES])
def test_encoder_layer_matches_torch(name, kw, masks, dtype):
    rng = np.random.default_rng(0)
    ckw, tkw = _activation_kw(kw)
    t = torch.nn.TransformerEncoderLayer(D_, NH_, FF_, dropout=0.1, dtype=DT[dtype], **tkw)
    m = nn.TransformerEncoderLayer(D_, NH_, FF_, dropout=0.1, dtype=dtype, **ckw)
    _load(m, t)
    t.eval()
    m.eval()
    bf = kw.get("batch_first", False)
    x, tx = _seq_input(rng, bf, 5, dtype)
    fk, tk = {}, {}
    if masks != "none":
        cm = nn.Transformer.generate_square_subsequent_mask(5, dtype=dtype)
        tm = torch.nn.Transformer.generate_square_subsequent_mask(5, dtype=DT[dtype])
        _close(cm, tm, dtype)
        fk, tk = {"src_mask": cm, "is_causal": True}, {"src_mask": tm, "is_causal": True}
    if masks == "causal+padding":
        pad = np.zeros((3, 5), bool)
        pad[1, 3:] = True
        fk["src_key_padding_mask"], tk["src_key_padding_mask"] = cr.tensor(pad), torch.tensor(pad)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out, tout = m(x, **fk), t(tx, **tk)
    _close(out, tout, dtype, "output")
    g = rng.standard_normal(tout.shape).astype(dtype)
    (out * cr.tensor(g)).sum().backward()
    (tout * torch.tensor(g)).sum().backward()
    _param_grads_close(m, t, dtype)
    _close(x.grad, tx.grad, dtype, "input gradient")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name,kw", LAYER_CASES, ids=[c[0] for c in LAYER_CASES])
def test_decoder_layer_matches_torch(name, kw, dtype):
    rng = np.random.default_rng(1)
    ckw, tkw = _activation_kw(kw)
    t = torch.nn.TransformerDecoderLayer(D_, NH_, FF_, dropout=0.0, dtype=DT[dtype], **tkw)
    m = nn.TransformerDecoderLayer(D_, NH_, FF_, dropout=0.0, dtype=dtype, **ckw)
    _load(m, t)
    bf = kw.get("batch_first", False)
    x, tx = _seq_input(rng, bf, 4, dtype)
    mem, tmem = _seq_input(rng, bf, 6, dtype)
    mask = np.triu(np.full((4, 4), -np.inf), 1).astype(dtype)
    mpad = np.zeros((3, 6), bool)
    mpad[2, 4:] = True
    out = m(x, mem, tgt_mask=cr.tensor(mask), tgt_is_causal=True,
            memory_key_padding_mask=cr.tensor(mpad))  # fmt: skip
    tout = t(tx, tmem, tgt_mask=torch.tensor(mask), tgt_is_causal=True,
             memory_key_padding_mask=torch.tensor(mpad))  # fmt: skip
    _close(out, tout, dtype, "output")
    g = rng.standard_normal(tout.shape).astype(dtype)
    (out * cr.tensor(g)).sum().backward()
    (tout * torch.tensor(g)).sum().backward()
    _param_grads_close(m, t, dtype)
    _close(x.grad, tx.grad, dtype, "target gradient")
    _close(mem.grad, tmem.grad, dtype, "memory gradient")


@pytest.mark.parametrize("batch_first", [False, True])
def test_encoder_and_decoder_stacks(batch_first):
    rng = np.random.default_rng(2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tl = torch.nn.TransformerEncoderLayer(D_, NH_, FF_, dropout=0.0, dtype=torch.float64,
                                              batch_first=batch_first)  # fmt: skip
        t = torch.nn.TransformerEncoder(tl, 2, norm=torch.nn.LayerNorm(D_, dtype=torch.float64))
    m = nn.TransformerEncoder(
        nn.TransformerEncoderLayer(D_, NH_, FF_, dropout=0.0, dtype=np.float64,
                                   batch_first=batch_first),
        2, norm=nn.LayerNorm(D_, dtype=np.float64),
    )  # fmt: skip
    assert m.layers[0] is not m.layers[1] and m.layers[0].linear1.weight is not (
        m.layers[1].linear1.weight
    )
    _load(m, t)
    x, tx = _seq_input(rng, batch_first, 5, np.float64)
    mask = nn.Transformer.generate_square_subsequent_mask(5, dtype=cr.float64)
    tmask = torch.nn.Transformer.generate_square_subsequent_mask(5, dtype=torch.float64)
    out, tout = m(x, mask=mask), t(tx, mask=tmask)  # the mask is recognised as causal
    _close(out, tout)
    out.sum().backward()
    tout.sum().backward()
    _param_grads_close(m, t, np.float64)
    td = torch.nn.TransformerDecoder(
        torch.nn.TransformerDecoderLayer(D_, NH_, FF_, dropout=0.0, dtype=torch.float64,
                                         batch_first=batch_first), 2)  # fmt: skip
    md = nn.TransformerDecoder(
        nn.TransformerDecoderLayer(D_, NH_, FF_, dropout=0.0, dtype=np.float64,
                                   batch_first=batch_first), 2)  # fmt: skip
    _load(md, td)
    y, ty = _seq_input(rng, batch_first, 4, np.float64)
    dmask = nn.Transformer.generate_square_subsequent_mask(4, dtype=cr.float64)
    tdmask = torch.nn.Transformer.generate_square_subsequent_mask(4, dtype=torch.float64)
    _close(md(y, out, tgt_mask=dmask), td(ty, tout, tgt_mask=tdmask))


def test_transformer_matches_torch():
    rng = np.random.default_rng(3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = torch.nn.Transformer(D_, NH_, 2, 2, FF_, dtype=torch.float64)
    m = nn.Transformer(D_, NH_, 2, 2, FF_, dtype=np.float64)
    assert list(m.state_dict()) == list(t.state_dict())
    _load(m, t)
    m.eval()
    t.eval()
    src, tsrc = _seq_input(rng, False, 6, np.float64, batch=2)
    tgt, ttgt = _seq_input(rng, False, 4, np.float64, batch=2)
    mask = nn.Transformer.generate_square_subsequent_mask(4, dtype=cr.float64)
    tmask = torch.nn.Transformer.generate_square_subsequent_mask(4, dtype=torch.float64)
    spad = np.zeros((2, 6), bool)
    spad[0, 5] = True
    out = m(src, tgt, tgt_mask=mask, src_key_padding_mask=cr.tensor(spad),
            memory_key_padding_mask=cr.tensor(spad))  # fmt: skip
    tout = t(tsrc, ttgt, tgt_mask=tmask, src_key_padding_mask=torch.tensor(spad),
             memory_key_padding_mask=torch.tensor(spad))  # fmt: skip
    _close(out, tout)
    (out**2).sum().backward()
    (tout**2).sum().backward()
    _param_grads_close(m, t, np.float64)
    _close(src.grad, tsrc.grad)
    _close(tgt.grad, ttgt.grad)


def test_transformer_init_and_errors():
    m = nn.Transformer(D_, NH_, 1, 1, FF_)
    w = _np(m.encoder.layers[0].linear1.weight)
    assert np.abs(w).max() <= np.sqrt(6 / (D_ + FF_)) + 1e-7  # xavier_uniform
    with pytest.raises(RuntimeError, match="feature number"):
        m(cr.randn(3, 2, D_ + 1), cr.randn(3, 2, D_))
    with pytest.raises(RuntimeError, match="batch number"):
        m(cr.randn(3, 2, D_), cr.randn(3, 3, D_))
    with pytest.raises(RuntimeError, match="activation should be relu/gelu"):
        nn.TransformerEncoderLayer(D_, NH_, activation="tanh")


def test_transformer_unbatched():
    t = torch.nn.TransformerEncoderLayer(D_, NH_, FF_, dropout=0.0, dtype=torch.float64)
    m = nn.TransformerEncoderLayer(D_, NH_, FF_, dropout=0.0, dtype=np.float64)
    _load(m, t)
    x = np.random.default_rng(4).standard_normal((5, D_))
    _close(m(cr.tensor(x)), t(torch.tensor(x)))


# ----- RMSNorm -------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    "shape,ns,kw",
    [((3, 4), 4, {}), ((2, 3, 4), (3, 4), {"eps": 1e-3}), ((5, 6), [6], {"elementwise_affine": False})],
)  # fmt: skip
def test_rms_norm_module_matches_torch(shape, ns, kw, dtype):
    t = torch.nn.RMSNorm(ns, **kw, dtype=DT[dtype])
    m = nn.RMSNorm(ns, **kw, dtype=dtype)
    assert repr(m) == repr(t)
    if t.weight is not None:
        with torch.no_grad():
            t.weight.uniform_(0.5, 1.5)
    _load(m, t)
    x = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    xc, xt = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, tout = m(xc), t(xt)
    _close(out, tout, dtype)
    (out**3).sum().backward()
    (tout**3).sum().backward()
    _close(xc.grad, xt.grad, dtype)
    if t.weight is not None:
        _close(m.weight.grad, t.weight.grad, dtype)


def test_rms_norm_functional():
    check(lambda x, w: F.rms_norm(x, (4,), w, eps=1e-6), shapes=[(3, 4), (4,)],
          torch_fn=lambda x, w: TF.rms_norm(x, (4,), w, eps=1e-6))  # fmt: skip
    check(lambda x: F.rms_norm(x, (2, 3)), shapes=[(2, 2, 3)],
          torch_fn=lambda x: TF.rms_norm(x, (2, 3)))  # fmt: skip
    with pytest.raises(ValueError, match="rms_norm: normalized_shape"):
        F.rms_norm(cr.randn(3, 4), (5,))
    with pytest.raises(ValueError, match="rms_norm: weight"):
        F.rms_norm(cr.randn(3, 4), (4,), cr.ones(3))


# ----- einsum --------------------------------------------------------------------------------
EINSUM_CASES = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("ii->", [(3, 3)]),
    ("ii", [(3, 3)]),
    ("ii->i", [(3, 3)]),
    ("i,j->ij", [(3,), (4,)]),
    ("i,i", [(4,), (4,)]),
    ("...ij,...jk", [(2, 1, 3, 4), (5, 4, 2)]),
    ("...ij,...jk->...ik", [(3, 2, 3), (3, 4)]),
    ("i...->...", [(2, 3, 4)]),
    ("...", [(2, 3)]),
    ("iij,jk->ik", [(3, 3, 2), (2, 4)]),
    ("iji->j", [(3, 2, 3)]),
    ("ijk->kji", [(2, 3, 4)]),
    ("ba,cb", [(3, 2), (4, 3)]),
    ("ij->", [(2, 3)]),
    ("ij->j", [(2, 3)]),
    ("ij,ij->ij", [(2, 3), (2, 3)]),
    ("ij,jk", [(2, 1), (3, 4)]),
    (",i->i", [(), (3,)]),
    ("bhqd,bhkd->bhqk", [(2, 3, 4, 5), (2, 3, 6, 5)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)]),
    ("abc,cd,bd->a", [(2, 3, 4), (4, 5), (3, 5)]),
    ("ij,kl,jk,li->", [(2, 3), (4, 5), (3, 4), (5, 2)]),
    ("ab,ab,ab->", [(2, 3), (2, 3), (1, 3)]),
    ("bn,anm,bm->ba", [(2, 3), (4, 3, 5), (2, 5)]),
    ("i,j,k->ijk", [(2,), (3,), (2,)]),
]


@pytest.mark.parametrize("eq,shapes", EINSUM_CASES, ids=[c[0] for c in EINSUM_CASES])
def test_einsum_matches_torch(eq, shapes):
    """Values, gradients, second derivatives vs torch.einsum, and finite differences."""
    check(lambda *xs: cr.einsum(eq, *xs), shapes=shapes,
          torch_fn=lambda *xs: torch.einsum(eq, *xs))  # fmt: skip


@pytest.mark.parametrize("eq,shapes", EINSUM_CASES[:8], ids=[c[0] for c in EINSUM_CASES[:8]])
def test_einsum_float32(eq, shapes):
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    xs = [cr.tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, tout = cr.einsum(eq, *xs), torch.einsum(eq, *ts)
    assert out.dtype == np.float32
    _close(out, tout, np.float32)
    out.sum().backward()
    tout.sum().backward()
    for a, b in zip(xs, ts):
        _close(a.grad, b.grad, np.float32)


def test_einsum_forms_and_no_alias():
    a, b = np.arange(6.0).reshape(2, 3), np.arange(3.0)
    want = torch.einsum("ij,j->i", torch.tensor(a), torch.tensor(b)).numpy()
    assert np.allclose(_np(cr.einsum("ij,j->i", [cr.tensor(a), cr.tensor(b)])), want)
    assert np.allclose(_np(cr.einsum(cr.tensor(a), [0, 1], cr.tensor(b), [1], [0])), want)
    tw = torch.einsum(torch.tensor(a), [0, Ellipsis], [Ellipsis]).numpy()
    assert np.allclose(_np(cr.einsum(cr.tensor(a), [0, Ellipsis], [Ellipsis])), tw)
    assert np.allclose(_np(cr.einsum("i j -> j i", cr.tensor(a))), a.T)  # spaces allowed
    x = cr.tensor(a)
    y = cr.einsum("ij->ij", x)
    y.add_(1)
    assert np.all(_np(x) == a)  # a new tensor, never a view of the operand
    assert cr.einsum("ii->i", cr.tensor(np.eye(3))).tolist() == [1.0, 1.0, 1.0]


def test_einsum_bad_input():
    a = cr.randn(2, 3)
    with pytest.raises(ValueError, match="einsum.*2 operand subscripts but 1"):
        cr.einsum("ij,jk", a)
    with pytest.raises(ValueError, match="einsum.*do not fit an operand of shape"):
        cr.einsum("ijk", a)
    with pytest.raises(ValueError, match="subscript 'j' has size 3 in one operand and 4"):
        cr.einsum("ij,jk", a, cr.randn(4, 2))
    with pytest.raises(ValueError, match="output subscript 'z'"):
        cr.einsum("ij->z", a)
    with pytest.raises(ValueError, match="repeat a subscript"):
        cr.einsum("ij->ii", a)
    with pytest.raises(ValueError, match="invalid subscript '1'"):
        cr.einsum("i1", a)
    with pytest.raises(TypeError, match="same dtype"):
        cr.einsum("ij,ij", a, a.double())
    with pytest.raises(TypeError, match="einsum"):
        cr.einsum()


def test_sdpa_retain_graph_and_freed_probabilities():
    """A second backward through a retained graph recomputes the probabilities again (only the
    rows' log-sum-exp is kept, never the probabilities)."""
    rng = np.random.default_rng(5)
    xs = [cr.tensor(rng.standard_normal(s), requires_grad=True) for s in [(3, 4), (5, 4), (5, 2)]]
    out = F.scaled_dot_product_attention(*xs, is_causal=True)
    out.sum().backward(retain_graph=True)
    first = [_np(x.grad).copy() for x in xs]
    saved = out.grad_fn.params["saved"]
    assert saved.shared is None and saved.lse.shape == (3, 1)
    out.sum().backward()
    for x, g in zip(xs, first):
        np.testing.assert_allclose(_np(x.grad), 2 * g, rtol=1e-12)
