"""chainrule.nn.init against torch.nn.init: fans, gains, distributions, reproducibility."""

import math

import numpy as np
import pytest
import torch

import chainrule as cr
from chainrule.nn import init

SHAPES = [(3, 4), (16, 3, 5, 5), (8, 2, 3), (1, 1), (6, 4, 2, 3, 2)]


@pytest.mark.parametrize("shape", SHAPES)
def test_fan_in_and_fan_out_equal_torch(shape):
    expected = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    assert init._calculate_fan_in_and_fan_out(cr.empty(*shape)) == expected
    for mode in ("fan_in", "fan_out"):
        assert init._calculate_correct_fan(cr.empty(*shape), mode) == (
            torch.nn.init._calculate_correct_fan(torch.empty(shape), mode)
        )


def test_fan_errors():
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init._calculate_fan_in_and_fan_out(cr.empty(5))
    with pytest.raises(ValueError, match="fan_avg"):
        init.kaiming_uniform_(cr.empty(3, 3), mode="fan_avg")


@pytest.mark.parametrize(
    "nonlinearity,param",
    [
        ("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None), ("relu", None),
        ("leaky_relu", None), ("leaky_relu", 0.2), ("leaky_relu", math.sqrt(5)), ("selu", None),
        ("conv_transpose2d", None),
    ],
)  # fmt: skip
def test_calculate_gain_equals_torch(nonlinearity, param):
    assert init.calculate_gain(nonlinearity, param) == pytest.approx(
        torch.nn.init.calculate_gain(nonlinearity, param), rel=1e-12
    )


def test_calculate_gain_errors():
    with pytest.raises(ValueError, match="Unsupported nonlinearity"):
        init.calculate_gain("swish")
    with pytest.raises(ValueError, match="not a valid number"):
        init.calculate_gain("leaky_relu", "0.1")


@pytest.fixture(autouse=True)
def _seed():
    cr.manual_seed(0)


def _tol(n):  # five standard errors of a sample mean / relative standard deviation
    return 5 / math.sqrt(n)


def _uniform_check(w, bound):
    a = np.asarray(w, dtype=np.float64)
    assert a.min() >= -bound and a.max() <= bound
    assert a.min() < -0.99 * bound and a.max() > 0.99 * bound  # the whole interval is used
    assert a.std() == pytest.approx(bound / math.sqrt(3), rel=_tol(a.size))
    assert abs(a.mean()) < _tol(a.size) * bound


def _normal_check(w, std):
    a = np.asarray(w, dtype=np.float64)
    assert a.std() == pytest.approx(std, rel=_tol(a.size))
    assert abs(a.mean()) < _tol(a.size) * std
    # a normal (not a uniform) sample: about 4.6% of it lies beyond two standard deviations
    assert np.mean(np.abs(a) > 2 * std) == pytest.approx(0.0455, abs=_tol(a.size) * 0.21)


@pytest.mark.parametrize("shape", [(300, 200), (64, 32, 3, 3)])
def test_xavier(shape):
    fan_in, fan_out = init._calculate_fan_in_and_fan_out(cr.empty(*shape))
    std = 1.5 * math.sqrt(2.0 / (fan_in + fan_out))
    w = init.xavier_uniform_(cr.empty(*shape), gain=1.5)
    _uniform_check(w, math.sqrt(3) * std)
    _normal_check(init.xavier_normal_(cr.empty(*shape), gain=1.5), std)


@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
@pytest.mark.parametrize("nonlinearity,a", [("relu", 0), ("leaky_relu", 0.1), ("tanh", 0)])
def test_kaiming(mode, nonlinearity, a):
    shape = (120, 80, 3, 3)
    fan = torch.nn.init._calculate_correct_fan(torch.empty(shape), mode)
    std = torch.nn.init.calculate_gain(nonlinearity, a) / math.sqrt(fan)
    w = init.kaiming_uniform_(cr.empty(*shape), a=a, mode=mode, nonlinearity=nonlinearity)
    _uniform_check(w, math.sqrt(3) * std)
    w = init.kaiming_normal_(cr.empty(*shape), a=a, mode=mode, nonlinearity=nonlinearity)
    _normal_check(w, std)


def test_uniform_normal_constant_eye():
    _uniform_check(init.uniform_(cr.empty(50000), -2.0, 2.0), 2.0)
    w = init.normal_(cr.empty(50000), mean=3.0, std=0.5)
    _normal_check(w - 3.0, 0.5)
    assert init.constant_(cr.empty(2, 2), 0.25).tolist() == [[0.25, 0.25], [0.25, 0.25]]
    assert init.ones_(cr.zeros(3)).tolist() == [1.0, 1.0, 1.0]
    assert init.zeros_(cr.ones(3)).tolist() == [0.0, 0.0, 0.0]
    np.testing.assert_array_equal(init.eye_(cr.empty(3, 4)).numpy(), torch.eye(3, 4).numpy())
    with pytest.raises(ValueError, match="2 dimensions"):
        init.eye_(cr.empty(2, 2, 2))


def test_trunc_normal_and_orthogonal():
    w = init.trunc_normal_(cr.empty(20000), mean=0.0, std=1.0, a=-1.0, b=2.0)
    a = w.numpy()
    assert a.min() >= -1.0 and a.max() <= 2.0
    t = torch.nn.init.trunc_normal_(torch.empty(200000, dtype=torch.float64), 0.0, 1.0, -1.0, 2.0)
    assert a.mean() == pytest.approx(t.mean().item(), abs=0.03)
    assert a.std() == pytest.approx(t.std().item(), rel=0.03)
    for shape in [(4, 6), (6, 4), (3, 2, 2)]:
        q = init.orthogonal_(cr.empty(*shape, dtype=cr.float64), gain=2.0).numpy()
        q = q.reshape(shape[0], -1)
        small = min(q.shape)
        gram = q @ q.T if q.shape[0] == small else q.T @ q
        np.testing.assert_allclose(gram, 4.0 * np.eye(small), atol=1e-12)


def test_initializers_write_in_place_keep_dtype_and_return_the_tensor():
    p = cr.nn.Parameter(cr.zeros(10, 10, dtype=cr.float64))
    data = p._data
    out = init.kaiming_uniform_(p)
    assert out is p and p._data is data and p.dtype == cr.float64
    assert p.requires_grad and p.grad_fn is None
    assert np.abs(data).sum() > 0


def test_global_seed_and_generator_make_initialization_reproducible():
    cr.manual_seed(7)
    a = init.xavier_normal_(cr.empty(5, 5)).numpy().copy()
    lin_a = cr.nn.Linear(4, 3)
    cr.manual_seed(7)
    b = init.xavier_normal_(cr.empty(5, 5)).numpy().copy()
    lin_b = cr.nn.Linear(4, 3)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(lin_a.weight.detach().numpy(), lin_b.weight.detach().numpy())
    np.testing.assert_array_equal(lin_a.bias.detach().numpy(), lin_b.bias.detach().numpy())
    c = init.xavier_normal_(cr.empty(5, 5)).numpy()
    assert not np.array_equal(a, c)
    g1, g2 = cr.Generator(3), cr.Generator(3)
    np.testing.assert_array_equal(
        init.uniform_(cr.empty(4), generator=g1).numpy(),
        init.uniform_(cr.empty(4), generator=g2).numpy(),
    )


def test_zero_element_tensor_warns_and_is_left_alone():
    with pytest.warns(UserWarning, match="zero-element"):
        init.kaiming_uniform_(cr.empty(0, 3))
    with pytest.warns(UserWarning, match="zero-element"):
        init.normal_(cr.empty(0))


@pytest.mark.parametrize(
    "make_cr,make_torch,fan_in",
    [
        (lambda: cr.nn.Linear(50, 400), lambda: torch.nn.Linear(50, 400), 50),
        (lambda: cr.nn.Conv2d(8, 64, 5), lambda: torch.nn.Conv2d(8, 64, 5), 200),
        (
            lambda: cr.nn.Conv2d(8, 256, 3, groups=4),
            lambda: torch.nn.Conv2d(8, 256, 3, groups=4),
            18,
        ),
    ],
)
def test_default_initialization_of_linear_and_conv_matches_torch(make_cr, make_torch, fan_in):
    # kaiming_uniform_(a=sqrt(5)) gives U(-1/sqrt(fan_in), 1/sqrt(fan_in)); so does the bias
    torch.manual_seed(0)
    m, t = make_cr(), make_torch()
    bound = 1 / math.sqrt(fan_in)
    w = m.weight.detach().numpy()
    assert w.dtype == np.float32 and w.shape == tuple(t.weight.shape)
    _uniform_check(w, bound)
    assert np.abs(t.weight.detach().numpy()).max() <= bound  # the same bound as torch's
    b = m.bias.detach().numpy()
    assert np.abs(b).max() <= bound
    assert b.std() == pytest.approx(t.bias.detach().numpy().std(), rel=0.35)
