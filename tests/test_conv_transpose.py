"""F.conv_transpose2d / nn.ConvTranspose2d and F.interpolate / nn.Upsample against PyTorch:
values, gradients, second derivatives (tests/oracle.py), finite differences, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn
from oracle import check


def _both(name: str, *args: object, **kw: object) -> object:
    def fn(*xs: object) -> object:
        lib = torch.nn.functional if isinstance(xs[0], torch.Tensor) else F
        return getattr(lib, name)(*xs, *args, **kw)

    return fn


SWEEP = [  # stride, padding, output_padding, groups, dilation, bias
    (1, 0, 0, 1, 1, True),
    (2, 1, 1, 1, 1, False),
    (2, 0, 1, 2, 1, True),
    (3, 2, 2, 1, 2, True),
    ((2, 1), (0, 1), (1, 0), 1, (1, 2), True),
    (2, 0, 1, 1, 2, False),  # output padding beyond the padding: zero rows
    (1, 1, 0, 2, (2, 1), True),
    (1, 0, 1, 1, 2, True),  # output_padding < dilation with stride 1
]


@pytest.mark.parametrize("s,p,op,g,d,bias", SWEEP)
def test_conv_transpose2d_matches_torch(s, p, op, g, d, bias) -> None:  # noqa: ANN001
    shapes = [(2, 4, 4, 5), (4, 3, 3, 2)] + ([(3 * g,)] if bias else [])

    def fn(x, w, *b):  # noqa: ANN001, ANN202
        lib = torch.nn.functional if isinstance(x, torch.Tensor) else F
        return lib.conv_transpose2d(x, w, b[0] if b else None, s, p, op, g, d)

    check(fn, shapes=shapes, finite_differences=False)


def test_conv_transpose2d_finite_differences_and_unbatched() -> None:
    check(_both("conv_transpose2d", None, 2, 1, 1), shapes=[(1, 2, 3, 3), (2, 1, 2, 2)])
    check(_both("conv_transpose2d", stride=2), shapes=[(2, 3, 3), (2, 2, 3, 3)])


def test_conv_transpose_is_the_adjoint_of_conv() -> None:
    """<conv2d(x), y> == <x, conv_transpose2d(y)> for the same weight."""
    rng = np.random.default_rng(0)
    x = cr.tensor(rng.standard_normal((2, 3, 9, 8)))
    w = cr.tensor(rng.standard_normal((4, 3, 3, 3)))
    y = F.conv2d(x, w, stride=2, padding=1, dilation=1)
    v = cr.tensor(rng.standard_normal(y.shape))
    back = F.conv_transpose2d(v, w, stride=2, padding=1, output_padding=(0, 1))
    assert back.shape == x.shape
    np.testing.assert_allclose((y * v).sum().item(), (x * back).sum().item(), rtol=1e-10)


def test_float32_stays_float32() -> None:
    x = cr.randn(1, 2, 4, 4)
    w = cr.randn(2, 3, 3, 3)
    assert F.conv_transpose2d(x, w, stride=2).dtype == np.float32
    assert F.interpolate(x, scale_factor=2, mode="bilinear").dtype == np.float32


def test_module_loads_torch_weights() -> None:
    torch.manual_seed(0)
    t = torch.nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2)
    c = nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2)
    assert [(k, tuple(v.shape)) for k, v in t.state_dict().items()] == [
        (k, tuple(v.shape)) for k, v in c.state_dict().items()
    ]
    assert repr(c) == repr(t)
    c.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((2, 4, 5, 5)).astype(np.float32)
    tx, cx = torch.tensor(x, requires_grad=True), cr.tensor(x, requires_grad=True)
    to, co = t(tx), c(cx)
    np.testing.assert_allclose(co.detach().numpy(), to.detach().numpy(), rtol=1e-5, atol=1e-5)
    to.square().sum().backward()
    co.square().sum().backward()
    np.testing.assert_allclose(cx.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(c.weight.grad.numpy(), t.weight.grad.numpy(), rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(c.bias.grad.numpy(), t.bias.grad.numpy(), rtol=1e-4, atol=1e-3)
    for size in ([9, 9], [10, 10], [2, 6, 10, 9]):
        ts = t(tx, output_size=size)
        np.testing.assert_allclose(
            c(cx, output_size=size).detach().numpy(), ts.detach().numpy(), rtol=1e-5, atol=1e-5
        )


def test_init_bounds_follow_torch_fan_in() -> None:
    m = nn.ConvTranspose2d(16, 4, 3)  # torch's fan_in is weight.size(1) * 9 = 36
    assert np.abs(m.weight.detach().numpy()).max() <= 1 / 36**0.5
    assert np.abs(m.bias.detach().numpy()).max() <= 1 / 36**0.5


def _error(fn_t: object, fn_c: object) -> None:
    errs = []
    for fn in (fn_t, fn_c):
        try:
            fn()  # type: ignore[operator]
        except Exception as e:  # noqa: BLE001 - compared below
            errs.append((type(e), str(e)))
        else:
            errs.append(None)
    assert errs[0] is not None and errs[0] == errs[1], errs


@pytest.mark.parametrize(
    "x,w,kw",
    [
        ((1, 3, 5, 5), (4, 2, 3, 3), {}),
        ((1, 3, 5, 5), (3, 2, 3, 3), {"output_padding": 1}),
        ((1, 3, 5, 5), (3, 2, 3, 3), {"stride": 2, "output_padding": 2}),
        ((1, 3, 5, 5), (3, 2, 3, 3), {"padding": 5}),
        ((3, 5), (3, 2, 3, 3), {}),
    ],
)
def test_conv_transpose2d_errors_match_torch(x: tuple, w: tuple, kw: dict) -> None:
    _error(
        lambda: torch.nn.functional.conv_transpose2d(torch.zeros(x), torch.zeros(w), **kw),
        lambda: F.conv_transpose2d(cr.zeros(*x), cr.zeros(*w), **kw),
    )


def test_module_errors_match_torch() -> None:
    _error(
        lambda: torch.nn.ConvTranspose2d(3, 4, 3, padding_mode="reflect"),
        lambda: nn.ConvTranspose2d(3, 4, 3, padding_mode="reflect"),
    )
    with pytest.raises(
        ValueError,
        match=r"requested an output size of \[13, 13\], but valid "
        r"sizes range from \[11, 11\] to \[12, 12\] \(for an input of \[5, 5\]\)",
    ):
        nn.ConvTranspose2d(3, 4, 3, stride=2)(cr.zeros(1, 3, 5, 5), [13, 13])


# ----- interpolate / Upsample ----------------------------------------------------------------
SIZES_2D = [
    {"scale_factor": 2},
    {"size": (7, 3)},
    {"scale_factor": (1.7, 0.6)},
    {"size": 5},
    {"scale_factor": 3, "recompute_scale_factor": True},
    {"size": (1, 1)},
    {"scale_factor": 0.5},
]


@pytest.mark.parametrize("mode,align", [("nearest", None), ("bilinear", False), ("bilinear", True)])
@pytest.mark.parametrize("kw", SIZES_2D)
def test_interpolate_2d_matches_torch(mode: str, align: bool | None, kw: dict) -> None:
    check(_both("interpolate", mode=mode, align_corners=align, **kw), shapes=[(2, 3, 4, 5)],
          finite_differences=False)  # fmt: skip


@pytest.mark.parametrize("mode,align", [("nearest", None), ("linear", False), ("linear", True)])
@pytest.mark.parametrize("kw", [{"scale_factor": 2.5}, {"size": 7}, {"size": 2}, {"size": 1}])
def test_interpolate_1d_matches_torch(mode: str, align: bool | None, kw: dict) -> None:
    check(_both("interpolate", mode=mode, align_corners=align, **kw), shapes=[(2, 3, 5)])


def test_interpolate_finite_differences_2d() -> None:
    check(_both("interpolate", size=(3, 5), mode="bilinear"), shapes=[(1, 2, 4, 3)])


def test_upsample_module() -> None:
    for kw in ({"scale_factor": 2}, {"size": (3, 4), "mode": "bilinear", "align_corners": True},
               {"scale_factor": (2, 3)}):  # fmt: skip
        t, c = torch.nn.Upsample(**kw), nn.Upsample(**kw)
        assert repr(c) == repr(t)
        x = np.random.default_rng(0).standard_normal((2, 3, 4, 5)).astype(np.float32)
        np.testing.assert_allclose(
            c(cr.tensor(x)).numpy(), t(torch.tensor(x)).numpy(), rtol=1e-6, atol=1e-6
        )


@pytest.mark.parametrize(
    "shape,kw",
    [
        ((1, 3, 5, 5), {}),
        ((1, 3, 5, 5), {"size": 3, "scale_factor": 2}),
        ((1, 3, 5, 5), {"size": 3, "align_corners": True}),
        ((1, 2, 3), {"size": 3, "mode": "bilinear"}),
        ((1, 3, 5, 5), {"size": (3, 4, 5)}),
        ((1, 3, 5, 5), {"scale_factor": (2, 3, 3)}),
        ((1, 3, 5, 5), {"size": 0}),
        ((1, 3, 5, 5), {"scale_factor": 0.1}),
    ],
)
def test_interpolate_errors_match_torch(shape: tuple, kw: dict) -> None:
    _error(
        lambda: torch.nn.functional.interpolate(torch.zeros(shape), **kw),
        lambda: F.interpolate(cr.zeros(*shape), **kw),
    )


def test_interpolate_unsupported_mode() -> None:
    with pytest.raises(NotImplementedError, match="bicubic"):
        F.interpolate(cr.zeros(1, 1, 4, 4), scale_factor=2, mode="bicubic")
