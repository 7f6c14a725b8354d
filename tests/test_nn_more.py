"""The later nn layers against torch.nn: ParameterList/ParameterDict, Conv1d, AdaptiveAvgPool,
GroupNorm and Dropout2d (forward, input and parameter gradients, names, reprs, state dicts)."""

from __future__ import annotations

import copy
import warnings
from collections import OrderedDict

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn
from oracle import check

RTOL, ATOL = 1e-9, 1e-11


@pytest.fixture(autouse=True)
def _seed():
    cr.manual_seed(0)
    torch.manual_seed(0)


def _np(t):
    return t.detach().numpy() if isinstance(t, (cr.Tensor, torch.Tensor)) else np.asarray(t)


def _randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def compare(m, t, *inputs, rtol=RTOL, atol=ATOL):
    """Same float64 weights (torch's, loaded by name) and inputs: compare the output, the
    gradient of every input and of every parameter (same names), and the buffers."""
    m.double()
    t.double()
    m.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})
    xs = [cr.tensor(a, requires_grad=True) for a in inputs]
    ts = [torch.tensor(a, requires_grad=True) for a in inputs]
    out, tout = m(*xs), t(*ts)
    assert out.shape == tuple(tout.shape)
    np.testing.assert_allclose(_np(out), _np(tout), rtol=rtol, atol=atol, err_msg="forward")
    w = np.random.default_rng(1).standard_normal(tuple(tout.shape))
    (out * cr.tensor(w)).sum().backward()
    (tout * torch.tensor(w)).sum().backward()
    for i, (x, tx) in enumerate(zip(xs, ts)):
        np.testing.assert_allclose(
            _np(x.grad), _np(tx.grad), rtol=rtol, atol=atol, err_msg=f"grad of input {i}"
        )
    tparams = dict(t.named_parameters())
    assert [n for n, _ in m.named_parameters()] == list(tparams)
    for name, p in m.named_parameters():
        np.testing.assert_allclose(
            _np(p.grad), _np(tparams[name].grad), rtol=rtol, atol=atol, err_msg=f"grad of {name}"
        )
    assert list(m.state_dict()) == list(t.state_dict())
    return out, tout


# ----- ParameterList / ParameterDict --------------------------------------------------------
def _holder(M, tensor):
    class Holder(M.Module):
        def __init__(self):
            super().__init__()
            self.plist = M.ParameterList(
                [M.Parameter(tensor(np.ones((3, 2)))), tensor(np.zeros(3))]
            )
            self.plist.append(tensor(np.full(3, 2.0)))
            self.pdict = M.ParameterDict({"scale": tensor(np.ones(2)), "bias": tensor(np.zeros(2))})
            self.pdict["extra"] = M.Parameter(tensor(np.ones((1,))))
            self.lin = M.Linear(3, 2)

        def forward(self, x):
            h = x @ self.plist[0].T + self.plist[1] + self.plist[-1].sum()
            h = self.lin(h) * self.pdict["scale"] + self.pdict["bias"]
            return h * self.pdict["extra"]

    return Holder()


def test_parameter_containers_register_like_torch():
    m = _holder(nn, lambda a: cr.tensor(a, dtype=cr.float32))
    t = _holder(torch.nn, lambda a: torch.tensor(a, dtype=torch.float32))
    keys = ["plist.0", "plist.1", "plist.2", "pdict.bias", "pdict.scale", "pdict.extra",
            "lin.weight", "lin.bias"]  # fmt: skip
    assert list(m.state_dict()) == list(t.state_dict()) == keys
    assert [n for n, _ in m.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert len(list(m.parameters())) == 8
    assert repr(m.plist) == repr(t.plist).replace("torch.", "chainrule.")
    assert repr(m.pdict) == repr(t.pdict).replace("torch.", "chainrule.")
    assert repr(m).replace("chainrule.", "") == repr(t).replace("torch.", "")
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in m.plist)
    compare(m, t, _randn(4, 2))


def test_parameter_list_indexing_and_growth():
    t0 = cr.tensor([1.0, 2.0])
    pl = nn.ParameterList([t0])
    assert isinstance(pl[0], nn.Parameter)
    pl[0]._data[0] = 5.0
    assert t0.tolist() == [5.0, 2.0]  # wrapping shares memory, as torch's Parameter(t)
    pl.extend([cr.ones(3), cr.ones(4)])
    pl += [cr.ones(5)]
    assert len(pl) == 4 and [p.shape for p in pl] == [(2,), (3,), (4,), (5,)]
    assert pl[-1].shape == (5,) and pl[-4] is pl[0]
    sub = pl[1:4:2]
    assert isinstance(sub, nn.ParameterList) and [p.shape for p in sub] == [(3,), (5,)]
    assert sub[0] is pl[1]  # the same parameters, not copies
    assert list(sub.state_dict()) == ["0", "1"]
    new = nn.Parameter(cr.zeros(7))
    pl[1] = new
    assert pl[1] is new and [n for n, _ in pl.named_parameters()] == ["0", "1", "2", "3"]
    pl.extend(pl)  # a snapshot of itself
    assert len(pl) == 8
    assert "0" not in dir(pl)
    with pytest.raises(IndexError, match="ParameterList: index 8 is out of range for 8"):
        pl[8]
    with pytest.raises(IndexError, match="index -9"):
        pl[-9] = cr.ones(1)
    with pytest.raises(TypeError, match="ParameterList indices must be integers"):
        pl["0"]
    with pytest.raises(TypeError, match="ParameterList holds parameters .* got int 3"):
        pl.append(3)
    with pytest.raises(TypeError, match="ParameterList.extend .* got Tensor"):
        pl.extend(cr.ones(3))
    with pytest.raises(RuntimeError, match="ParameterList should not be called"):
        pl(cr.ones(1))
    assert repr(nn.ParameterList()) == repr(torch.nn.ParameterList()) == "ParameterList()"
    one = nn.ParameterList([cr.ones(2, 3, dtype=cr.float64)])
    tone = torch.nn.ParameterList([torch.ones(2, 3, dtype=torch.float64)])
    assert repr(one) == repr(tone).replace("torch.", "chainrule.")


def test_parameter_dict_mapping_api_like_torch():
    pd = nn.ParameterDict({"b": cr.ones(1), "a": cr.ones(2)})
    td = torch.nn.ParameterDict({"b": torch.ones(1), "a": torch.ones(2)})
    assert list(pd) == list(td) == ["a", "b"]  # a plain dict's keys are sorted, as in torch
    od = OrderedDict([("z", cr.ones(1)), ("y", cr.ones(1))])
    assert list(nn.ParameterDict(od)) == ["z", "y"]
    assert list(nn.ParameterDict([("q", cr.ones(1)), ("p", cr.ones(1))])) == ["q", "p"]
    pd.update([("c", cr.zeros(3))])
    assert list(pd.keys()) == ["a", "b", "c"] and "c" in pd and "d" not in pd
    assert [v.shape for v in pd.values()] == [(2,), (1,), (3,)]
    assert [k for k, _ in pd.items()] == ["a", "b", "c"]
    assert list(reversed(pd)) == ["c", "b", "a"]
    assert pd.get("d") is None and pd.get("a") is pd["a"]
    assert pd.setdefault("d", cr.ones(4)).shape == (4,) and len(pd) == 4
    pd["a"] = cr.zeros(5)  # replacing keeps the key's place
    assert list(pd) == ["a", "b", "c", "d"] and pd["a"].shape == (5,)
    assert pd.pop("d").shape == (4,) and "d" not in pd
    del pd["c"]
    assert list(pd.state_dict()) == ["a", "b"]
    key, value = pd.popitem()
    assert key == "b" and value.shape == (1,) and list(pd) == ["a"]
    cp = pd.copy()
    assert cp["a"] is pd["a"] and cp is not pd
    both = pd | nn.ParameterDict({"e": cr.ones(1)})
    assert list(both) == ["a", "e"] and list(pd) == ["a"]
    pd |= nn.ParameterDict({"f": cr.ones(1)})
    assert list(pd) == ["a", "f"]
    fk = pd.fromkeys(["x", "y"], cr.ones(2))
    assert list(fk) == ["x", "y"] and fk["x"].shape == (2,)
    pd.clear()
    assert len(pd) == 0 and repr(pd) == "ParameterDict()"
    with pytest.raises(KeyError):
        pd["missing"]
    with pytest.raises(TypeError, match="ParameterDict keys must be strings, got int 1"):
        pd[1] = cr.ones(1)
    with pytest.raises(KeyError, match="name can.*t contain"):
        pd["a.b"] = cr.ones(1)
    with pytest.raises(TypeError, match="ParameterDict holds parameters .* got str 'x'"):
        pd["a"] = "x"
    with pytest.raises(ValueError, match="element #0 should be a \\(key, value\\) pair"):
        pd.update([("a", cr.ones(1), 3)])
    with pytest.raises(TypeError, match="ParameterDict.update should be called with"):
        pd.update(5)
    with pytest.raises(RuntimeError, match="ParameterDict should not be called"):
        pd(cr.ones(1))


def test_parameter_containers_move_copy_load_and_train():
    m = _holder(nn, lambda a: cr.tensor(a, dtype=cr.float32)).double()
    assert all(p.dtype == np.float64 for p in m.parameters())
    clone = copy.deepcopy(m)
    assert clone.plist[0] is not m.plist[0]
    np.testing.assert_array_equal(_np(clone.pdict["scale"]), _np(m.pdict["scale"]))
    t = _holder(torch.nn, lambda a: torch.tensor(a, dtype=torch.float64))
    sd = {k: v.detach().numpy() + 1 for k, v in t.state_dict().items()}
    assert repr(m.load_state_dict(sd)) == "<All keys matched successfully>"
    np.testing.assert_array_equal(_np(m.plist[2]), np.full(3, 3.0))
    with pytest.raises(RuntimeError, match="Missing key.*plist.1"):
        m.load_state_dict({k: v for k, v in sd.items() if k != "plist.1"})
    opt = cr.optim.SGD(m.parameters(), lr=0.1)
    before = _np(m.pdict["extra"]).copy()
    m(cr.tensor(_randn(4, 2))).sum().backward()
    opt.step()
    assert not np.array_equal(_np(m.pdict["extra"]), before)


# ----- Conv1d -------------------------------------------------------------------------------
CONV1D = {
    "basic": (lambda M: M.Conv1d(3, 4, 3), (2, 3, 9)),
    "stride_pad": (lambda M: M.Conv1d(3, 4, 4, stride=2, padding=2), (2, 3, 11)),
    "tuples": (lambda M: M.Conv1d(2, 3, (3,), stride=(2,), padding=(1,), dilation=(2,)),
               (3, 2, 10)),
    "groups_dilation_nobias": (
        lambda M: M.Conv1d(4, 6, 3, dilation=2, groups=2, bias=False), (2, 4, 12)),
    "depthwise": (lambda M: M.Conv1d(3, 6, 5, groups=3, padding=2), (2, 3, 8)),
    "same_odd": (lambda M: M.Conv1d(2, 3, 5, padding="same"), (2, 2, 7)),
    "same_even_dilated": (lambda M: M.Conv1d(2, 3, 4, padding="same", dilation=3), (2, 2, 13)),
    "valid": (lambda M: M.Conv1d(2, 3, 3, padding="valid"), (1, 2, 6)),
    "reflect": (lambda M: M.Conv1d(2, 3, 3, padding=2, padding_mode="reflect"), (2, 2, 6)),
    "replicate_same": (
        lambda M: M.Conv1d(2, 3, 4, padding="same", padding_mode="replicate"), (2, 2, 6)),
    "circular": (lambda M: M.Conv1d(2, 2, 3, padding=1, padding_mode="circular"), (2, 2, 5)),
    "unbatched": (lambda M: M.Conv1d(3, 2, 3, padding=1), (3, 7)),
}  # fmt: skip


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("name", list(CONV1D))
def test_conv1d_matches_torch(name):
    make, shape = CONV1D[name]
    m, t = make(nn), make(torch.nn)
    assert repr(m) == repr(t)
    assert m.weight.shape == tuple(t.weight.shape)
    compare(m, t, _randn(*shape))


def test_conv1d_default_init_is_torchs():
    m = nn.Conv1d(6, 4, 5, groups=2)
    bound = 1 / np.sqrt(3 * 5)  # kaiming_uniform(a=sqrt(5)) and the bias: 1/sqrt(fan_in)
    w, b = _np(m.weight), _np(m.bias)
    assert w.dtype == np.float32 and np.abs(w).max() <= bound and np.abs(b).max() <= bound
    assert np.abs(w).max() > 0.8 * bound and np.std(w) == pytest.approx(bound / np.sqrt(3), rel=0.3)
    big = _np(nn.Conv1d(64, 64, 3).weight)
    assert np.std(big) == pytest.approx(1 / np.sqrt(3 * 64 * 3), rel=0.05)


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize(
    "kwargs,shapes",
    [
        ({}, [(2, 3, 7), (4, 3, 3), (4,)]),
        ({"stride": 2, "padding": 1, "dilation": 2}, [(1, 2, 9), (3, 2, 2), (3,)]),
        ({"groups": 2, "padding": "same"}, [(2, 4, 6), (4, 2, 4)]),
        ({"padding": "valid"}, [(3, 5), (2, 3, 2)]),
    ],
)
def test_functional_conv1d_matches_torch_twice_over(kwargs, shapes):
    check(lambda *a: F.conv1d(*a, **kwargs), shapes=shapes,
          torch_fn=lambda *a: TF.conv1d(*a, **kwargs))  # fmt: skip


def test_conv1d_errors_name_the_layer_and_the_value():
    with pytest.raises(ValueError, match="Conv1d: in_channels must be a positive integer, got 0"):
        nn.Conv1d(0, 2, 3)
    with pytest.raises(ValueError, match=r"in_channels \(3\) must be divisible by groups \(2\)"):
        nn.Conv1d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="Conv1d: kernel_size must be an int or a 1-tuple"):
        nn.Conv1d(2, 2, (3, 3))
    with pytest.raises(ValueError, match=r"Conv1d: stride must be positive, got \(0,\)"):
        nn.Conv1d(2, 2, 3, stride=0)
    with pytest.raises(ValueError, match="Conv1d: padding='same' is not supported for strided"):
        nn.Conv1d(2, 2, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="Conv1d: invalid padding string 'full'"):
        nn.Conv1d(2, 2, 3, padding="full")
    with pytest.raises(ValueError, match=r"Conv1d: padding must be non-negative, got \(-1,\)"):
        nn.Conv1d(2, 2, 3, padding=-1)
    with pytest.raises(ValueError, match="padding_mode must be one of .* got 'mirror'"):
        nn.Conv1d(2, 2, 3, padding_mode="mirror")
    with pytest.raises(ValueError, match=r"expected a \(N, 2, L\) or \(2, L\) input, got shape"):
        nn.Conv1d(2, 2, 3)(cr.ones(1, 3, 5))
    with pytest.raises(ValueError, match="conv1d: kernel 5 .* larger than the padded input"):
        F.conv1d(cr.ones(1, 1, 3), cr.ones(1, 1, 5))
    with pytest.raises(ValueError, match=r"conv1d: expected input \(N, C, L\)"):
        F.conv1d(cr.ones(1, 1, 3, 3), cr.ones(1, 1, 3))
    with pytest.raises(ValueError, match="conv1d: bias must have shape"):
        F.conv1d(cr.ones(1, 1, 3), cr.ones(2, 1, 3), cr.ones(3))


# ----- AdaptiveAvgPool ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "output_size,shape",
    [
        (1, (2, 3, 5, 7)),  # a mean
        ((1, 1), (3, 4, 4)),  # unbatched
        ((2, 3), (2, 2, 6, 9)),  # divides evenly: reshape and mean
        ((3, 4), (2, 2, 7, 10)),  # overlapping bins
        ((5, 3), (1, 2, 4, 2)),  # more outputs than inputs
        ((None, 3), (2, 2, 5, 7)),  # None keeps the size
        ((4, None), (1, 3, 6, 5)),
        ((6, 5), (1, 2, 6, 5)),  # the identity
        (7, (2, 1, 13, 29)),
    ],
)
def test_adaptive_avg_pool2d_matches_torch(output_size, shape):
    m, t = nn.AdaptiveAvgPool2d(output_size), torch.nn.AdaptiveAvgPool2d(output_size)
    assert repr(m) == repr(t)
    compare(m, t, _randn(*shape))


def test_adaptive_avg_pool2d_empty_output_like_torch():
    x = cr.tensor(_randn(1, 2, 4, 4), requires_grad=True)
    out = F.adaptive_avg_pool2d(x, (0, 2))
    assert out.shape == tuple(TF.adaptive_avg_pool2d(torch.ones(1, 2, 4, 4), (0, 2)).shape)
    out.sum().backward()
    assert not np.any(_np(x.grad))


def test_functional_adaptive_avg_pool_matches_torch_twice_over():
    for size, shape in [((3, 2), (1, 2, 7, 5)), ((2, 2), (2, 1, 4, 6)), (1, (2, 3, 3))]:
        check(lambda x, size=size: F.adaptive_avg_pool2d(x, size), shapes=[shape],
              torch_fn=lambda x, size=size: TF.adaptive_avg_pool2d(x, size))  # fmt: skip
    for size, shape in [(3, (2, 2, 7)), (4, (3, 8)), (1, (2, 3, 5))]:
        check(lambda x, size=size: F.adaptive_avg_pool1d(x, size), shapes=[shape],
              torch_fn=lambda x, size=size: TF.adaptive_avg_pool1d(x, size))  # fmt: skip
    m, t = nn.AdaptiveAvgPool1d(3), torch.nn.AdaptiveAvgPool1d(3)
    assert repr(m) == repr(t)
    compare(m, t, _randn(2, 4, 10))
    x = cr.tensor(_randn(2, 3, 8, 8), dtype=cr.float32)
    assert F.adaptive_avg_pool2d(x, (3, 5)).dtype == np.float32


def test_adaptive_avg_pool_errors_name_the_op_and_the_value():
    with pytest.raises(ValueError, match=r"AdaptiveAvgPool2d: output_size .* got \(2, -1\)"):
        nn.AdaptiveAvgPool2d((2, -1))
    with pytest.raises(ValueError, match=r"AdaptiveAvgPool2d: output_size must be an int or a 2"):
        nn.AdaptiveAvgPool2d((1, 2, 3))
    with pytest.raises(ValueError, match="AdaptiveAvgPool1d: output_size .* got None"):
        nn.AdaptiveAvgPool1d(None)
    with pytest.raises(ValueError, match=r"expected a 3-D \(C, H, W\) or 4-D"):
        nn.AdaptiveAvgPool2d(1)(cr.ones(4, 4))
    with pytest.raises(ValueError, match=r"adaptive_avg_pool2d: elements of output_size .*-3"):
        F.adaptive_avg_pool2d(cr.ones(1, 4, 4), (-3, 1))
    with pytest.raises(TypeError, match="adaptive_avg_pool2d: expected a floating input"):
        F.adaptive_avg_pool2d(cr.ones(1, 4, 4, dtype=cr.int64), 2)
    with pytest.raises(ValueError, match="adaptive_avg_pool2d: input .* has an empty spatial"):
        F.adaptive_avg_pool2d(cr.ones(1, 0, 4), 2)


# ----- GroupNorm ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "make,shape",
    [
        (lambda M: M.GroupNorm(2, 4), (3, 4, 5, 6)),
        (lambda M: M.GroupNorm(3, 6, eps=1e-3), (2, 6, 7)),
        (lambda M: M.GroupNorm(1, 3), (4, 3, 2, 2)),  # one group: like LayerNorm over (C, H, W)
        (lambda M: M.GroupNorm(4, 4), (2, 4, 3, 3)),  # one channel per group: InstanceNorm
        (lambda M: M.GroupNorm(2, 4, affine=False), (3, 4, 5)),
        (lambda M: M.GroupNorm(2, 4, bias=False), (3, 4, 2, 3)),
        (lambda M: M.GroupNorm(2, 6), (5, 6)),  # no spatial dimensions
    ],
)
def test_group_norm_matches_torch(make, shape):
    m, t = make(nn), make(torch.nn)
    assert repr(m) == repr(t)
    if m.weight is not None:  # random affine parameters, so their gradients differ per channel
        with torch.no_grad():
            t.weight.copy_(torch.tensor(_randn(t.weight.shape[0], seed=7)))
            if t.bias is not None:
                t.bias.copy_(torch.tensor(_randn(t.bias.shape[0], seed=8)))
    x = _randn(*shape) * 3 + 1
    compare(m, t, x, rtol=1e-8, atol=1e-10)
    m.eval(), t.eval()  # no running statistics: eval mode is the same
    np.testing.assert_allclose(_np(m(cr.tensor(x))), _np(t(torch.tensor(x))), rtol=1e-8)


def test_functional_group_norm_matches_torch_twice_over():
    check(lambda x, w, b: F.group_norm(x, 2, w, b, 1e-4), shapes=[(2, 4, 3), (4,), (4,)],
          torch_fn=lambda x, w, b: TF.group_norm(x, 2, w, b, 1e-4), rtol=1e-6, atol=1e-8)  # fmt: skip
    check(lambda x: F.group_norm(x, 3), shapes=[(2, 6, 2, 2)],
          torch_fn=lambda x: TF.group_norm(x, 3), rtol=1e-6, atol=1e-8)  # fmt: skip


def test_group_norm_errors_name_the_layer_and_the_value():
    with pytest.raises(ValueError, match=r"GroupNorm: num_channels \(4\) must be divisible by"):
        nn.GroupNorm(3, 4)
    with pytest.raises(ValueError, match="GroupNorm: num_groups must be a positive integer, got 0"):
        nn.GroupNorm(0, 4)
    with pytest.raises(ValueError, match=r"expected an \(N, 4, \*\) input, got shape \(2, 6, 3\)"):
        nn.GroupNorm(2, 4)(cr.ones(2, 6, 3))
    with pytest.raises(ValueError, match="group_norm: expected number of channels .*num_groups=4"):
        F.group_norm(cr.ones(2, 6, 3), 4)
    with pytest.raises(ValueError, match=r"group_norm: weight must have shape \(6,\)"):
        F.group_norm(cr.ones(2, 6, 3), 2, cr.ones(3))


# ----- Dropout2d ----------------------------------------------------------------------------
def test_dropout2d_zeroes_whole_channels_at_rate_p():
    x = cr.ones(50, 40, 3, 4)
    d = nn.Dropout2d(0.3)
    assert repr(d) == repr(torch.nn.Dropout2d(0.3))
    y = d(x).numpy()
    maps = y.reshape(50, 40, 12)
    assert np.all(maps.min(-1) == maps.max(-1))  # one value per (n, c) map: the mask is per channel
    assert set(np.unique(maps)) <= {0.0, np.float32(1 / 0.7)}
    dropped = (maps[:, :, 0] == 0).mean()
    assert abs(dropped - 0.3) < 0.05  # 2000 channels: 5 standard errors is 0.051
    assert abs(y.mean() - 1.0) < 0.1  # unbiased in expectation
    # different samples get different masks
    assert not np.array_equal(maps[0, :, 0], maps[1, :, 0])
    np.testing.assert_array_equal(d.eval()(x).numpy(), x.numpy())  # identity in eval mode
    np.testing.assert_array_equal(F.dropout2d(x, 0.5, training=False).numpy(), x.numpy())
    assert not np.any(nn.Dropout2d(1.0)(x).numpy())
    np.testing.assert_array_equal(nn.Dropout2d(0.0)(x).numpy(), x.numpy())
    cr.manual_seed(3)
    a = nn.Dropout2d(0.5)(x).numpy()
    cr.manual_seed(3)
    np.testing.assert_array_equal(a, nn.Dropout2d(0.5)(x).numpy())  # the global generator


def test_dropout2d_gradient_is_the_mask_and_3d_input_is_n_c_l_like_torch():
    w = cr.tensor(_randn(4, 6, 2, 3), requires_grad=True)
    out = F.dropout2d(w, 0.5)
    out.sum().backward()
    mask = _np(out) / _np(w)
    np.testing.assert_allclose(_np(w.grad), mask)
    x = cr.ones(8, 10, 5)
    with pytest.warns(UserWarning, match="Received a 3D input to dropout2d"):
        y = nn.Dropout2d(0.5)(x).numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ty = torch.nn.Dropout2d(0.5)(torch.ones(8, 10, 5)).numpy()
    for arr in (y, ty):  # both libraries: one mask per (dim 0, dim 1) pair
        assert np.all(arr.min(-1) == arr.max(-1))


def test_dropout2d_errors():
    with pytest.raises(ValueError, match="Dropout2d: dropout probability .* got 1.5"):
        nn.Dropout2d(1.5)
    with pytest.raises(ValueError, match="dropout2d: probability .* got -0.1"):
        F.dropout2d(cr.ones(1, 1, 2, 2), -0.1)
    with pytest.raises(ValueError, match=r"dropout2d: expected input \(N, C, H, W\).*\(2, 3\)"):
        F.dropout2d(cr.ones(2, 3))


def test_new_names_are_exported():
    for name in ["ParameterList", "ParameterDict", "Conv1d", "AdaptiveAvgPool1d",
                 "AdaptiveAvgPool2d", "GroupNorm", "Dropout2d"]:  # fmt: skip
        assert name in nn.__all__ and getattr(nn, name) is getattr(nn.modules, name)
    for name in ["conv1d", "adaptive_avg_pool1d", "adaptive_avg_pool2d", "group_norm",
                 "dropout2d"]:  # fmt: skip
        assert name in F.__all__ and callable(getattr(F, name))


def test_new_layers_in_a_small_cnn_match_torch():
    def make(M):
        return M.Sequential(
            M.Conv1d(2, 4, 3, padding=1), M.GroupNorm(2, 4), M.ReLU(), M.Unflatten(1, (1, 4)),
            M.Conv2d(1, 3, 3, padding=1), M.Dropout2d(0.5).eval(), M.AdaptiveAvgPool2d((2, 3)),
            M.Flatten(), M.Linear(18, 2),
        )  # fmt: skip

    m, t = make(nn), make(torch.nn)
    m[5].eval(), t[5].eval()
    assert repr(m) == repr(t)
    compare(m, t, _randn(3, 2, 7), rtol=1e-8, atol=1e-10)
