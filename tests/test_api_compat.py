"""The API surface that real PyTorch scripts reach for, against torch 2.13: devices and
``cuda``/``backends`` boilerplate, ``from_numpy``, ``multinomial``/``Generator``, ``Size``,
``out=``, ``__format__``, scatter/narrow/masked_select/cumprod/log2/log10, the in-place math
methods, top-level softmax/clone/numel/randperm/inference_mode, dtype names, and a clean
``nn.functional`` namespace."""

import warnings

import numpy as np
import pytest
import torch

import chainrule as cr
import chainrule.nn.functional as F
from oracle import check


def _np(t):
    return t.detach().numpy() if isinstance(t, (cr.Tensor, torch.Tensor)) else np.asarray(t)


# ----- devices ------------------------------------------------------------------------------
@pytest.mark.parametrize("spec", ["cpu", "cuda", "cuda:0", "cuda:3", "mps", "meta"])
def test_device_objects_match_torch(spec):
    d, td = cr.device(spec), torch.device(spec)
    assert (str(d), repr(d), d.type, d.index) == (str(td), repr(td), td.type, td.index)
    assert d == cr.device(d) and hash(d) == hash(cr.device(spec))


def test_device_with_index_argument_and_equality():
    assert cr.device("cuda", 1) == cr.device("cuda:1")
    assert repr(cr.device("cuda", 1)) == repr(torch.device("cuda", 1))
    assert cr.device(0) == cr.device("cuda:0")
    assert cr.device("cuda") != cr.device("cuda:0")  # as torch
    assert cr.device("cpu") == "cpu" and cr.device("cuda:1") == "cuda:1"  # (torch: False)
    assert cr.device("cpu") != "cuda" and cr.device("cpu") != "not a device"
    assert {cr.device("cpu"): 1}["cpu"] == 1


@pytest.mark.parametrize("bad", ["gpu", "cuda:x", "cpu:-1", "cuda:01"])
def test_bad_device_strings_are_refused_like_torch(bad):
    with pytest.raises(RuntimeError):
        torch.device(bad)
    with pytest.raises(RuntimeError):
        cr.device(bad)
    with pytest.raises(TypeError):
        cr.device(1.5)


def test_tensor_device_is_a_device_object():
    x = cr.zeros(2)
    assert x.device == cr.device("cpu") and x.device.type == "cpu" and not x.is_cuda
    assert repr(x.device) == repr(torch.zeros(2).device)
    assert x.to(cr.device("cpu")) is x and x.to("cpu") is x
    assert x.to(torch_like := cr.ones(1, dtype=cr.float64)).dtype == cr.float64 and torch_like.ndim
    assert x.to("cpu", cr.float64).dtype == cr.float64
    assert x.to(device="cpu", dtype=cr.float16, non_blocking=True).dtype == cr.float16
    y = x.to("cpu", copy=True)
    assert y is not x and (y == x).all()


def test_cuda_boilerplate_runs_without_a_gpu():
    device = cr.device("cuda" if cr.cuda.is_available() else "cpu")
    assert isinstance(cr.cuda.is_available(), bool)
    assert cr.cuda.device_count() == (0 if not cr.cuda.is_available() else cr.cuda.device_count())
    assert cr.backends.mps.is_available() is False
    cr.backends.cudnn.benchmark = True
    cr.backends.cudnn.deterministic = True
    cr.backends.cuda.matmul.allow_tf32 = False
    assert cr.backends.cudnn.deterministic is True
    cr.backends.cudnn.benchmark = cr.backends.cudnn.deterministic = False
    cr.cuda.manual_seed(0)
    cr.cuda.manual_seed_all(0)
    cr.cuda.synchronize()
    model = cr.nn.Linear(2, 1).to(device)
    assert model(cr.ones(3, 2, device=device)).device == device


@pytest.mark.skipif(cr.cuda.is_available(), reason="checks the message shown without a GPU")
def test_moving_to_cuda_without_a_gpu_says_how_to_get_one():
    for move in (
        lambda: cr.zeros(2).to("cuda"),
        lambda: cr.zeros(2).cuda(),
        lambda: cr.zeros(2, device="cuda"),
        lambda: cr.tensor([1.0], device=cr.device("cuda:0")),
        lambda: cr.nn.Linear(1, 1).to("cuda"),
        lambda: cr.set_default_device("cuda"),
    ):
        with pytest.raises(RuntimeError, match=r"pip install 'chainrule\[gpu\]'.*CUDA GPU"):
            move()
    with pytest.raises(RuntimeError):
        cr.cuda.current_device()
    assert cr.get_default_device() == "cpu"


@pytest.mark.gpu
@pytest.mark.skipif(not cr.cuda.is_available(), reason="needs CuPy and a GPU")
def test_cuda_tensors_use_the_cupy_backend():
    x = cr.randn(3, 4, device="cuda", requires_grad=True)
    assert x.is_cuda and x.device == cr.device("cuda", 0) and str(x.device) == "cuda:0"
    (x.cpu() * 2).sum().backward()
    assert x.grad.is_cuda and np.allclose(x.grad.cpu().numpy(), 2)
    m = cr.nn.Linear(4, 2).to(cr.device("cuda"))
    assert m(x).device == "cuda:0"


def test_every_factory_takes_device():
    made = [
        cr.tensor([1.0], device="cpu"), cr.zeros(2, device="cpu"), cr.ones(2, device="cpu"),
        cr.randn(2, device="cpu"), cr.rand(2, device="cpu"), cr.arange(3, device="cpu"),
        cr.full((2,), 1.0, device="cpu"), cr.empty(2, device="cpu"),
        cr.linspace(0, 1, 3, device="cpu"), cr.eye(2, device="cpu"),
        cr.randint(0, 3, (2,), device="cpu"), cr.randperm(3, device="cpu"),
        cr.as_tensor([1.0], device="cpu"),
    ]  # fmt: skip
    base = cr.ones(2, 3)
    made += [
        f(base, device=cr.device("cpu"))
        for f in (cr.zeros_like, cr.ones_like, cr.rand_like, cr.randn_like, cr.empty_like)
    ]
    made += [cr.full_like(base, 2.0, device="cpu"), base.new_zeros(2, device="cpu")]
    made += [base.new_ones(2, device="cpu"), base.new_empty(2, device="cpu")]
    made += [base.new_full((2,), 1.0, device="cpu")]
    assert all(t.device == cr.device("cpu") for t in made)


def test_default_device_round_trip():
    assert repr(cr.get_default_device()) == repr(torch.get_default_device())
    cr.set_default_device("cpu")
    cr.set_default_device(None)
    assert repr(cr.get_default_device()) == "device(type='cpu')"
    with pytest.raises(RuntimeError, match="cpu or cuda"):
        cr.set_default_device("mps")


def test_module_to_device_and_dtype():
    m = cr.nn.Linear(2, 2)
    assert m.to(cr.device("cpu")) is m and m.to("cpu", cr.float64).weight.dtype == cr.float64
    assert m.to(device=cr.device("cpu"), non_blocking=True).weight.device == "cpu"


# ----- from_numpy -----------------------------------------------------------------------------
def test_from_numpy_shares_memory_both_ways():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    t, tt = cr.from_numpy(a), torch.from_numpy(a.copy())
    assert t.dtype == cr.float32 and t.shape == tuple(tt.shape)
    a[0, 0] = 100.0
    assert t[0, 0].item() == 100.0
    t.mul_(2)
    assert a[1, 2] == 10.0 and t.numpy() is a
    assert cr.from_numpy(np.zeros(2)).dtype == cr.float64  # kept, not made float32


@pytest.mark.parametrize(
    "arr",
    [np.array([object()]), np.array(["a"]), np.array(["2020-01-01"], dtype="datetime64[D]")],
    ids=["object", "str", "datetime"],
)
def test_from_numpy_refuses_what_torch_refuses(arr):
    with pytest.raises(TypeError) as ours:
        cr.from_numpy(arr)
    with pytest.raises(TypeError) as theirs:
        torch.from_numpy(arr)
    assert str(ours.value).split(".")[0] == str(theirs.value).split(".")[0]


def test_from_numpy_other_bad_inputs():
    with pytest.raises(TypeError, match=r"expected np.ndarray \(got list\)"):
        cr.from_numpy([1, 2])
    with pytest.raises(ValueError, match="byte order"):
        cr.from_numpy(np.ones(2, dtype=">f4"))
    for dt in ("int8", "uint8", "int16", "uint16", "int32", "bool", "complex64", "float16"):
        assert str(cr.from_numpy(np.ones(2, dtype=dt)).dtype) == dt


# ----- multinomial and Generator ----------------------------------------------------------------
def _chi2(counts: np.ndarray, p: np.ndarray) -> float:
    expected = counts.sum() * p / p.sum()
    keep = expected > 0
    assert (counts[~keep] == 0).all(), "a category of weight 0 was drawn"
    return float(((counts[keep] - expected[keep]) ** 2 / expected[keep]).sum())


def test_multinomial_with_replacement_follows_the_weights():
    w = np.array([1.0, 0.0, 3.0, 6.0, 0.5])  # unnormalized, with a zero
    g = cr.Generator().manual_seed(0)
    s = cr.multinomial(cr.tensor(w), 20000, replacement=True, generator=g)
    assert s.dtype == cr.int64 and s.shape == (20000,)
    counts = np.bincount(s.numpy(), minlength=5)
    assert _chi2(counts, w) < 18.5  # chi-square, 3 degrees of freedom, p = 0.9997


def test_multinomial_rows_are_independent_distributions():
    w = np.array([[0.2, 0.8, 0.0], [0.0, 0.0, 1.0], [5.0, 5.0, 10.0]], dtype=np.float32)
    s = cr.tensor(w).multinomial(6000, replacement=True, generator=cr.Generator(1))
    assert s.shape == (3, 6000)
    for row, weights in zip(s.numpy(), w):
        counts = np.bincount(row, minlength=3)
        assert _chi2(counts, weights.astype(np.float64)) < 16.3  # 2 d.o.f.


def test_multinomial_without_replacement():
    w = np.array([1.0, 2.0, 3.0, 4.0])
    g = cr.Generator().manual_seed(0)
    # every draw of all categories is a permutation
    s = cr.multinomial(cr.tensor(np.tile(w, (2000, 1))), 4, generator=g).numpy()
    assert (np.sort(s, axis=1) == np.arange(4)).all()
    # the first pick is proportional to the weights, the second to the weights left
    assert _chi2(np.bincount(s[:, 0], minlength=4), w) < 18.5
    first_is_3 = s[:, 0] == 3
    left = np.array([1.0, 2.0, 3.0, 0.0])
    assert _chi2(np.bincount(s[first_is_3, 1], minlength=4), left) < 18.5
    # categories of weight 0 come after every positive one, as torch
    z = cr.multinomial(cr.tensor([0.1, 0.0, 0.9]), 3).tolist()
    assert sorted(z[:2]) == [0, 2] and z[2] == 1
    assert torch.multinomial(torch.tensor([0.1, 0.0, 0.9]), 3).tolist()[2] == 1


def test_multinomial_is_reproducible_with_a_seed():
    p = cr.tensor([0.3, 0.3, 0.4])
    cr.manual_seed(5)
    a = cr.multinomial(p, 10, replacement=True)
    cr.manual_seed(5)
    assert (cr.multinomial(p, 10, replacement=True) == a).all()
    g1, g2 = cr.Generator().manual_seed(3), cr.Generator().manual_seed(3)
    assert (cr.multinomial(p, 3, generator=g1) == cr.multinomial(p, 3, generator=g2)).all()
    assert cr.Generator("cpu").device == cr.device("cpu")  # torch.Generator(device)


@pytest.mark.parametrize(
    "probs, n, kwargs",
    [
        ([-1.0, 1.0], 1, {}), ([float("inf"), 1.0], 1, {}), ([float("nan"), 1.0], 1, {}),
        ([0.0, 0.0], 1, {}), ([1.0, 1.0], 3, {}), ([[1.0, 1.0], [0.0, 0.0]], 1, {}),
        ([[[1.0]]], 1, {}), ([1.0, 1.0], 0, {}), ([1, 2], 1, {}),
        ([[1.0, 1.0], [0.0, 0.0]], 2, {"replacement": True}),
    ],
    ids=["negative", "inf", "nan", "zero_sum", "too_many", "zero_row", "3d", "zero_samples",
         "integer", "zero_row_replacement"],
)  # fmt: skip
def test_multinomial_errors_as_torch(probs, n, kwargs):
    with pytest.raises(RuntimeError) as theirs:
        torch.multinomial(torch.tensor(probs), n, **kwargs)
    with pytest.raises(RuntimeError) as ours:
        cr.multinomial(cr.tensor(probs), n, **kwargs)
    assert str(ours.value).split(" (")[0].split(",")[0] in str(theirs.value)


# ----- Size, nelement, size(dim), __format__ ----------------------------------------------------
def test_size_is_a_tuple_with_torch_behaviour():
    x, tx = cr.zeros(2, 3, 4), torch.zeros(2, 3, 4)
    s, ts = x.shape, tx.shape
    assert isinstance(s, cr.Size) and isinstance(s, tuple) and x.size() == s
    assert s == ts == (2, 3, 4) and s.numel() == ts.numel() == x.nelement() == tx.nelement()
    assert type(s[1:]) is cr.Size and s[1:] == ts[1:] and type(s[0]) is int
    assert type(s + (5,)) is cr.Size and s + (5,) == ts + (5,)
    assert type((1,) + s) is cr.Size and cr.Size([]).numel() == torch.Size([]).numel() == 1
    assert [x.size(d) for d in (0, -1, 2)] == [tx.size(d) for d in (0, -1, 2)]
    with pytest.raises(IndexError, match=r"Dimension out of range \(expected to be in range of "):
        x.size(3)
    with pytest.raises(TypeError):
        cr.Size([2.5])
    assert cr.zeros(*s).shape == s and np.zeros(s).shape == s
    import pickle

    assert pickle.loads(pickle.dumps(s)) == s and type(pickle.loads(pickle.dumps(s))) is cr.Size


def test_format_of_a_0dim_tensor():
    for v in (1.23456, -2.0):
        assert format(cr.tensor(v), ".4f") == format(torch.tensor(v), ".4f")
    assert f"{cr.tensor(3):04d}" == f"{torch.tensor(3):04d}"
    assert f"loss {cr.tensor(0.5, requires_grad=True) * 2:.3f}" == "loss 1.000"
    assert format(cr.tensor([1.0, 2.0]), "") == str(cr.tensor([1.0, 2.0]))
    with pytest.raises(TypeError, match="unsupported format string"):
        format(cr.tensor([1.2]), ".3f")


# ----- out= ----------------------------------------------------------------------------------
@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "matmul"])
def test_out_writes_into_the_given_tensor(op):
    a, b = np.arange(1.0, 5.0).reshape(2, 2), np.full((2, 2), 2.0)
    o, to = cr.zeros(2, 2), torch.zeros(2, 2)
    r = getattr(cr, op)(cr.tensor(a), cr.tensor(b), out=o)
    tr = getattr(torch, op)(torch.tensor(a, dtype=torch.float32), torch.tensor(b).float(), out=to)
    assert r is o and np.allclose(o.numpy(), tr.numpy()) and o._version == 1


def test_out_refused_when_it_or_an_input_requires_grad():
    a = cr.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="out=... arguments don't support automatic diff"):
        cr.add(a, 1, out=cr.zeros(2))
    with pytest.raises(RuntimeError, match="out=... arguments don't support automatic diff"):
        cr.mul(cr.ones(2), 1, out=cr.zeros(2, requires_grad=True))
    with cr.no_grad():  # no graph: allowed, as torch
        o = cr.zeros(2)
        cr.mul(a, 3, out=o)
    assert o.tolist() == [3.0, 3.0]


def test_out_dtype_and_resize_rules():
    with pytest.raises(RuntimeError, match="can't be cast to the desired output type"):
        cr.add(cr.ones(2), 1.5, out=cr.zeros(2, dtype=cr.int64))
    o = cr.zeros(2)
    cr.add(cr.ones(2, dtype=cr.int64), 1, out=o)  # int result into a float out: cast
    assert o.dtype == cr.float32 and o.tolist() == [2.0, 2.0]
    with pytest.warns(UserWarning, match="resized"):
        o = cr.zeros(3)
        cr.add(cr.ones(2), 1, out=o)
    assert o.shape == (2,) and o.tolist() == [2.0, 2.0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        e = cr.empty(0)
        cr.matmul(cr.ones(2, 3), cr.ones(3, 4), out=e)  # an empty out resizes silently
    assert e.shape == (2, 4)


def test_div_rounding_mode_matches_torch():
    a, b = np.array([-7.0, 7.5, -0.5, 3.0]), np.array([2.0, -2.0, 3.0, 3.0])
    for mode in (None, "trunc", "floor"):
        ours = cr.div(cr.tensor(a), cr.tensor(b), rounding_mode=mode)
        assert np.array_equal(
            ours.numpy(), torch.div(torch.tensor(a), torch.tensor(b), rounding_mode=mode).numpy()
        )
        ia, ib = np.array([-7, 7, -1, 9]), np.array([2, -2, 3, 3])
        oi = cr.div(cr.tensor(ia), cr.tensor(ib), rounding_mode=mode)
        ti = torch.div(torch.tensor(ia), torch.tensor(ib), rounding_mode=mode)
        assert np.array_equal(oi.numpy(), ti.numpy()) and str(oi.dtype) == str(ti.dtype)[6:]
    with pytest.raises(ValueError, match="rounding_mode"):
        cr.div(cr.ones(1), 2, rounding_mode="round")


# ----- new differentiable functions --------------------------------------------------------------
@pytest.mark.parametrize("name", ["log2", "log10", "reciprocal"])
def test_log2_log10_reciprocal_functions_and_methods(name):
    check(lambda x: getattr(x, name)(), shapes=[(3, 4)], positive=True)
    check(lambda x: getattr(cr if isinstance(x, cr.Tensor) else torch, name)(x), shapes=[(5,)],
          positive=True)  # fmt: skip
    assert getattr(cr, name)(cr.tensor([1, 10])).dtype == cr.float32  # ints give floats


@pytest.mark.parametrize(
    "values",
    [None, [2.0, 0.0, 3.0, -1.5], [0.0, 1.5, 0.0, 2.0], [1.5, -2.0, 0.5, 0.0]],
    ids=["random", "one_zero", "two_zeros", "last_zero"],
)
def test_cumprod_values_and_gradients_also_at_zeros(values):
    if values is None:
        check(lambda x: x.cumprod(1), shapes=[(3, 5)])
        check(lambda x: x.cumprod(0), shapes=[(4, 2)])
        check(lambda x: x.cumprod(-1), shapes=[()])
        return
    rows = np.array([values, values[::-1], [1.0, 2.0, -1.0, 0.5]])
    # gradients at zeros against torch and finite differences; second derivatives where smooth
    check(lambda x: x.cumprod(1), arrays=[rows], second=False)
    check(lambda x: x.cumprod(0), arrays=[rows.T], second=False)


def test_cumprod_second_derivative_with_a_zero():
    a = np.array([1.5, 0.0, 2.0, -1.0])
    check(lambda x: (x.cumprod(0) * x).sum() * x, arrays=[a], finite_differences=False)


def test_cumprod_of_integers_and_dtype():
    assert cr.cumprod(cr.tensor([1, 2, 3]), 0).tolist() == [1, 2, 6]
    assert cr.cumprod(cr.tensor([1, 2, 3]), 0).dtype == cr.int64
    assert cr.cumprod(cr.tensor([1, 2]), 0, dtype=cr.float64).dtype == cr.float64


def test_scatter_values_and_gradients():
    idx = np.array([[0, 2], [1, 0]])  # smaller than self: only those places change
    x0, s0 = np.random.default_rng(0).standard_normal((2, 4)), np.arange(4.0).reshape(2, 2)

    def ours(x, s):
        i = cr.tensor(idx) if isinstance(x, cr.Tensor) else torch.tensor(idx)
        return x.scatter(1, i, s) * 1.5

    check(ours, arrays=[x0, s0])
    check(
        lambda x, s: (cr if isinstance(x, cr.Tensor) else torch).scatter_add(
            x, 0, (cr.tensor if isinstance(x, cr.Tensor) else torch.tensor)([[1, 0], [1, 1]]), s
        ),
        arrays=[x0, s0],
    )  # repeated indices add up
    check(lambda x: x.scatter(1, (cr.tensor if isinstance(x, cr.Tensor) else torch.tensor)(idx),
                              2.5), arrays=[x0])  # fmt: skip
    # src larger than index: its corner is read (torch's backward fails on this shape, so
    # the gradient is checked against finite differences only)
    big = cr.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    tbig = torch.tensor(np.arange(6.0).reshape(2, 3))
    out = cr.tensor(x0).scatter(1, cr.tensor(idx), big)
    assert np.array_equal(out.detach().numpy(),
                          torch.tensor(x0).scatter(1, torch.tensor(idx), tbig).numpy())  # fmt: skip
    assert cr.autograd.gradcheck(lambda s: cr.tensor(x0).scatter(1, cr.tensor(idx), s), [big])
    v = cr.zeros(3, 3).scatter(0, cr.tensor([[0, 1, 2]]), value=7.0)
    tv = torch.zeros(3, 3).scatter(0, torch.tensor([[0, 1, 2]]), value=7.0)
    assert np.array_equal(v.numpy(), tv.numpy())


@pytest.mark.parametrize("reduce", ["add", "multiply"])
def test_scatter_reduce_argument(reduce):
    x, s, i = np.full((2, 3), 2.0), np.arange(1.0, 7.0).reshape(2, 3), np.array([[0, 1, 1]])
    ours = cr.tensor(x).scatter(0, cr.tensor(i), cr.tensor(s), reduce=reduce)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch: the reduce= of scatter is deprecated
        theirs = torch.tensor(x).scatter(0, torch.tensor(i), torch.tensor(s), reduce=reduce)
    assert np.array_equal(ours.numpy(), theirs.numpy())
    a = cr.tensor(x)
    assert a.scatter_(0, cr.tensor(i), 3.0, reduce=reduce) is a
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ta = torch.tensor(x).scatter_(0, torch.tensor(i), 3.0, reduce=reduce)
    assert np.array_equal(a.numpy(), ta.numpy())


def test_scatter_multiply_has_no_derivative_and_bad_args_are_refused():
    x = cr.ones(2, 2, requires_grad=True)
    y = (x * 1).scatter(0, cr.tensor([[0, 1]]), cr.ones(1, 2), reduce="multiply")
    with pytest.raises(RuntimeError, match="derivative for scatter with reduce='multiply'"):
        y.sum().backward()
    with pytest.raises(RuntimeError, match="reduce argument must be either add or multiply"):
        cr.zeros(3).scatter(0, cr.tensor([0]), 1.0, reduce="max")
    with pytest.raises(IndexError, match="out of bounds"):
        cr.zeros(3).scatter(0, cr.tensor([3]), 1.0)
    with pytest.raises(RuntimeError, match="same number of dimensions"):
        cr.zeros(3, 2).scatter(0, cr.tensor([0]), 1.0)
    with pytest.raises(RuntimeError, match="self.dtype to be equal to src.dtype"):
        cr.zeros(3).scatter(0, cr.tensor([0]), cr.ones(1, dtype=cr.float64))
    with pytest.raises(RuntimeError, match="Expected dtype int64 for index"):
        cr.zeros(3).scatter(0, cr.tensor([0.0]), 1.0)


def test_scatter_inplace_records_a_graph_for_non_leaves():
    w = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    tw = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    src, tsrc = cr.tensor([5.0], requires_grad=True), torch.tensor([5.0], requires_grad=True)
    y = w * 2
    y.scatter_(0, cr.tensor([1]), src)
    ty = tw * 2
    ty.scatter_(0, torch.tensor([1]), tsrc)
    (y * y).sum().backward()
    (ty * ty).sum().backward()
    assert np.allclose(w.grad.numpy(), tw.grad.numpy())
    assert np.allclose(src.grad.numpy(), tsrc.grad.numpy())
    y2 = w * 1
    y2.scatter_add_(0, cr.tensor([0, 0]), src.expand(2))
    y2.sum().backward()


def test_masked_select_and_narrow():
    x = np.random.default_rng(1).standard_normal((3, 4))
    m = np.array([True, False, True, True])
    lib = lambda t: cr if isinstance(t, cr.Tensor) else torch  # noqa: E731
    check(lambda t: lib(t).masked_select(t, lib(t).tensor(m)), arrays=[x])
    check(lambda t: t.masked_select(t > 0), arrays=[x])
    check(lambda t: t.narrow(1, -3, 2), arrays=[x])
    check(lambda t: lib(t).narrow(t, 0, 1, 2), arrays=[x])
    with pytest.raises(RuntimeError, match=r"start \(2\) \+ length \(2\) exceeds dimension size"):
        cr.ones(2, 3).narrow(1, 2, 2)
    with pytest.raises(ValueError, match="cannot be broadcast"):
        cr.ones(2, 3).masked_select(cr.tensor([True, False]))


def test_t_transposes_matrices_only():
    check(lambda x: x.t(), shapes=[(2, 3)])
    check(lambda x: x.t(), shapes=[(3,)])
    assert cr.t(cr.ones(2, 5)).shape == torch.t(torch.ones(2, 5)).shape
    with pytest.raises(RuntimeError, match="t\\(\\) expects a tensor with <= 2 dimensions"):
        cr.ones(2, 2, 2).t()


def test_addcmul_addcdiv_match_torch():
    check(lambda a, b, c: a.addcmul(b, c, value=0.5), shapes=[(2, 3), (3,), (2, 1)])
    check(lambda a, b, c: a.addcdiv(b, c, value=-2), shapes=[(2, 3), (2, 3), (3,)])


# ----- in-place math methods ---------------------------------------------------------------------
UNARY_INPLACE = [
    "exp_", "expm1_", "log_", "log1p_", "log2_", "log10_", "sqrt_", "rsqrt_", "abs_", "neg_",
    "sign_", "sin_", "cos_", "tanh_", "sigmoid_", "square_", "reciprocal_", "floor_", "ceil_",
    "round_", "trunc_", "relu_",
]  # fmt: skip


@pytest.mark.parametrize("name", UNARY_INPLACE)
def test_unary_inplace_methods_match_torch(name):
    a = np.abs(np.random.default_rng(0).standard_normal((3, 4))) + 0.25
    x, tx = cr.tensor(a), torch.tensor(a)
    assert getattr(x, name)() is x and x._version == 1
    getattr(tx, name)()
    np.testing.assert_allclose(x.numpy(), tx.numpy(), rtol=1e-12)
    # on a non-leaf in a graph: recorded, and the gradient is torch's
    w, tw = cr.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    y, ty = w * 1.5, tw * 1.5
    getattr(y, name)()
    getattr(ty, name)()
    (y * y).sum().backward()
    (ty * ty).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    "name, args",
    [("pow_", (2,)), ("pow_", (0.5,)), ("clamp_min_", (0.5,)), ("clamp_max_", (0.7,)),
     ("clamp_", (0.4, 0.8)), ("clip_", (0.4, 0.8)), ("mul_", (3.0,)), ("lerp_", (2.0, 0.25))],
)  # fmt: skip
def test_inplace_methods_with_arguments_match_torch(name, args):
    a = np.random.default_rng(2).random((2, 5))
    x, tx = cr.tensor(a), torch.tensor(a)
    getattr(x, name)(*args)
    targs = [torch.tensor(v, dtype=torch.float64) if name == "lerp_" and i == 0 else v
             for i, v in enumerate(args)]  # fmt: skip
    getattr(tx, name)(*targs)
    np.testing.assert_allclose(x.numpy(), tx.numpy(), rtol=1e-12)


def test_inplace_with_a_tensor_argument_records_its_gradient():
    e, te = cr.tensor([2.0, 3.0], requires_grad=True), torch.tensor([2.0, 3.0], requires_grad=True)
    x, tx = cr.tensor([1.5, 0.5]), torch.tensor([1.5, 0.5])
    x.pow_(e)
    tx.pow_(te)
    x.sum().backward()
    tx.sum().backward()
    np.testing.assert_allclose(e.grad.numpy(), te.grad.numpy(), rtol=1e-6)
    m = cr.ones(2)
    m.addcmul_(cr.tensor([1.0, 2.0]), cr.tensor([3.0, 4.0]), value=0.5)
    assert m.tolist() == [2.5, 5.0]


def test_inplace_errors_as_torch():
    with pytest.raises(RuntimeError, match="can't be cast"):
        cr.ones(2, dtype=cr.int64).exp_()
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        cr.ones(2, requires_grad=True).exp_()
    w = cr.ones(2, requires_grad=True)
    with cr.no_grad():
        w.exp_()  # the optimizer pattern: fine without a graph
    assert np.allclose(w.detach().numpy(), np.e)
    i = cr.tensor([1, -2])
    assert i.abs_().tolist() == [1, 2] and i.neg_().tolist() == [-1, -2]
    assert i.square_().tolist() == [1, 4] and i.dtype == cr.int64


# ----- top-level functions ------------------------------------------------------------------------
def test_top_level_softmax_log_softmax_clone_numel():
    check(lambda x: (cr if isinstance(x, cr.Tensor) else torch).softmax(x, dim=1), shapes=[(3, 4)])
    check(lambda x: (cr if isinstance(x, cr.Tensor) else torch).log_softmax(x, 0), shapes=[(3, 4)])
    check(lambda x: (cr if isinstance(x, cr.Tensor) else torch).clone(x) * 2, shapes=[(2, 2)])
    assert cr.numel(cr.zeros(2, 3)) == torch.numel(torch.zeros(2, 3)) == 6
    assert cr.is_tensor(cr.nn.Parameter(cr.ones(1))) and not cr.is_tensor(np.ones(1))
    assert cr.is_floating_point(cr.ones(1)) and not cr.ones(1).long().is_floating_point()
    assert cr.ones(3).element_size() == torch.ones(3).element_size()


def test_randperm():
    p = cr.randperm(10, generator=cr.Generator().manual_seed(0))
    assert p.dtype == cr.int64 and sorted(p.tolist()) == list(range(10))
    assert cr.randperm(0).shape == (0,) and cr.randperm(4, dtype=cr.float32).dtype == cr.float32
    with pytest.raises(RuntimeError):
        cr.randperm(-1)


def test_inference_mode_context_and_decorator():
    w = cr.ones(2, requires_grad=True)
    with cr.inference_mode():
        assert not cr.is_grad_enabled() and not (w * 2).requires_grad
    assert cr.is_grad_enabled()
    with cr.inference_mode(False):
        assert (w * 2).requires_grad

    @cr.inference_mode()
    def called(x):
        return x * 2

    @cr.inference_mode
    def bare(x):
        return x * 2

    assert not called(w).requires_grad and not bare(w).requires_grad and bare.__name__ == "bare"
    with pytest.raises(TypeError):
        cr.inference_mode("yes")


# ----- dtypes and the nn.functional namespace ----------------------------------------------------
TORCH_DTYPES = [
    "float32", "float64", "float16", "int64", "int32", "int16", "int8", "uint8", "bool",
    "complex64", "complex128", "float", "double", "half", "long", "int", "short", "cfloat",
    "cdouble",
]  # fmt: skip


@pytest.mark.parametrize("name", TORCH_DTYPES)
def test_torch_dtype_names_exist_and_agree(name):
    ours, theirs = getattr(cr, name), getattr(torch, name)
    assert isinstance(ours, cr.dtype)
    assert str(theirs) == f"torch.{ours}" or (name == "bool" and ours == np.bool_)
    assert cr.zeros(1, dtype=ours).dtype == ours


def test_dtype_stays_a_numpy_dtype():
    x = cr.zeros(2)
    assert x.dtype == cr.float32 == np.float32 and np.dtype(x.dtype) is x.dtype
    assert str(x.dtype) == "float32"  # torch prints torch.float32: a known difference
    assert cr.finfo(cr.float32).eps == torch.finfo(torch.float32).eps
    assert cr.iinfo(cr.int64).max == torch.iinfo(torch.int64).max


def test_nn_functional_exports_only_its_functions():
    public = [n for n in dir(F) if not n.startswith("_")]
    leaked = {"np", "math", "operator", "warnings", "Any", "Sequence", "annotations", "T", "C",
              "E", "I", "L", "N", "S", "Tensor", "as_tensor", "no_grad", "default_rng",
              "array_module"}  # fmt: skip
    assert not leaked & set(public), sorted(leaked & set(public))
    assert set(public) == set(F.__all__)
    assert all(callable(getattr(F, n)) for n in public)
    for name in ("relu", "softmax", "cross_entropy", "conv2d", "pad", "one_hot"):
        assert name in public and hasattr(torch.nn.functional, name)


def test_utils_data_is_chainrule_data():
    from chainrule.utils.data import DataLoader, Dataset, TensorDataset, random_split

    assert DataLoader is cr.data.DataLoader and Dataset is cr.data.Dataset
    assert TensorDataset is cr.data.TensorDataset and random_split is cr.data.random_split
    assert cr.utils.data.datasets is cr.data.datasets


def test_load_takes_torch_keywords(tmp_path):
    path = tmp_path / "m.crt"
    cr.save({"w": cr.ones(2)}, path)
    assert cr.load(path, weights_only=True)["w"].tolist() == [1.0, 1.0]
    assert cr.load(path, map_location=cr.device("cpu"))["w"].device == "cpu"


@pytest.mark.parametrize("name", ["remainder", "fmod", "floor_divide"])
def test_remainder_fmod_floor_divide_match_torch(name):
    a = np.array([-7.5, -3.0, 2.25, 7.0, 5.5])
    b = np.array([2.0, -2.5, 1.5, -3.0, 2.0])
    fn = lambda x, y: getattr(x, name)(y)  # noqa: E731
    check(fn, arrays=[a, b], grad=name != "floor_divide", second=False)
    ia, ib = np.array([-7, 7, -1, 9, 0]), np.array([2, -2, 3, 3, 5])
    ours, theirs = fn(cr.tensor(ia), cr.tensor(ib)), fn(torch.tensor(ia), torch.tensor(ib))
    assert np.array_equal(ours.numpy(), theirs.numpy()) and ours.dtype == cr.int64
    with pytest.raises(ZeroDivisionError):
        fn(cr.tensor([1, 2]), cr.tensor([1, 0]))


def test_mod_and_floordiv_operators():
    x, tx = cr.arange(-4, 5), torch.arange(-4, 5)
    assert (x % 3).tolist() == (tx % 3).tolist() and (x // 3).tolist() == (tx // 3).tolist()
    assert (7 % cr.tensor([3, -3])).tolist() == (7 % torch.tensor([3, -3])).tolist()
    assert (7 // cr.tensor([2, -2])).tolist() == (7 // torch.tensor([2, -2])).tolist()
    f, tf = cr.tensor([5.5, -1.25]), torch.tensor([5.5, -1.25])
    assert (f % 2).tolist() == (tf % 2).tolist() and (f // 2).tolist() == (tf // 2).tolist()
    y = cr.tensor([5.0, 7.0])
    assert y.remainder_(3) is y and y.tolist() == [2.0, 1.0]


def test_device_as_a_context_manager():
    with cr.device("cpu") as d:
        assert d == "cpu" and cr.get_default_device() == "cpu" and cr.ones(1).device == "cpu"
    assert cr.get_default_device() == "cpu"
    if not cr.cuda.is_available():
        with pytest.raises(RuntimeError, match="chainrule\\[gpu\\]"):
            with cr.device("cuda"):
                pass
        assert cr.get_default_device() == "cpu"
