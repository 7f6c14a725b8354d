"""Stride-1 convolutions with enough channels run by kernel positions (one product per tap on
the flattened padded image, no columns): values, gradients and second derivatives against
PyTorch in float64, float32 against PyTorch, the weight gradient from the saved padded input
and from the primitive, the primitives' own rules, jvp and vmap, and shape checks of the
gradient primitives."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import func
from chainrule.ops import conv as C
from chainrule.ops import jit
from oracle import check, check_conv2d_float32

TAP_SWEEP = [  # N, C, H, W, O, kernel, padding, dilation, bias
    (2, 12, 7, 6, 5, 3, 1, 1, True),  # the ResNet 3x3
    (2, 16, 7, 6, 4, 3, 2, 2, False),  # dilated, padded
    (2, 13, 6, 7, 3, (2, 3), (1, 0), (2, 1), True),  # uneven kernel, padding, dilation
    (2, 12, 5, 5, 4, 1, 0, 1, True),  # 1x1, nothing to crop
    (1, 12, 4, 5, 3, 1, 1, 1, False),  # 1x1 padded
    (2, 12, 5, 4, 20, 3, 0, 1, False),  # more outputs than inputs, no padding
    (1, 12, 3, 3, 2, 3, 3, 1, True),  # padding wider than the kernel reach
    (2, 8, 7, 6, 16, 3, 0, 1, True),  # 8 channels, 16 outputs: LeNet's second convolution
]


def _fn(p, d):  # noqa: ANN001, ANN202
    def fn(x, w, *b):  # noqa: ANN001, ANN202
        lib = torch.nn.functional if isinstance(x, torch.Tensor) else F
        return lib.conv2d(x, w, b[0] if b else None, 1, p, d)

    return fn


@pytest.mark.parametrize("n,c,h,w,o,k,p,d,bias", TAP_SWEEP)
def test_tap_conv_values_grads_second_derivatives(
    n, c, h, w, o, k, p, d, bias, monkeypatch
) -> None:  # noqa: ANN001, E501
    if n == 1:  # NumPy's products and additions (no SciPy gemm) on some cases
        monkeypatch.setattr(C, "_GEMM", {np.dtype(np.float32): None, np.dtype(np.float64): None})
    kk = (k, k) if isinstance(k, int) else k
    x = np.zeros((n, c, h, w))
    assert C._by_taps(x, kk, (1, 1), 1, o)
    shapes = [(n, c, h, w), (o, c, *kk)] + ([(o,)] if bias else [])
    check(_fn(p, d), shapes=shapes, finite_differences=False)


@pytest.mark.parametrize("blas", [True, False])
@pytest.mark.parametrize("case", [TAP_SWEEP[0], TAP_SWEEP[2], TAP_SWEEP[4]])
def test_tap_conv_float32(case, blas, monkeypatch) -> None:  # noqa: ANN001
    """With SciPy's accumulating gemm and with NumPy's products and additions."""
    if not blas:
        monkeypatch.setattr(C, "_GEMM", {np.dtype(np.float32): None, np.dtype(np.float64): None})
    else:  # SciPy's gemm, as with one BLAS thread
        monkeypatch.setattr(C, "_GEMM", {})
        monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
        assert C._accumulating_gemm(np.float32) is not None
    n, c, h, w, o, k, p, d, bias = case
    kk = (k, k) if isinstance(k, int) else k
    rng = np.random.default_rng(3)
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    wt = rng.standard_normal((o, c, *kk)).astype(np.float32)
    b = rng.standard_normal(o).astype(np.float32)
    check_conv2d_float32(x, wt, b, 1, p, d)


def test_tap_conv_keeps_the_padded_input_not_columns() -> None:
    x = np.ones((2, 16, 5, 5))
    saved = C.saved_input(x, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1, 4)
    assert saved.shape == (2, 7, 7, 16)  # 9x smaller than the columns
    assert C.saved_input(x, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 2, 4).ndim == 3  # grouped
    assert C.saved_input(x[:, :3], (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1, 4).ndim == 3  # few


def test_compiled_tap_conv_saves_the_unpadded_input(kernels, monkeypatch) -> None:  # noqa: ANN001
    """With the compiled block loops (Numba, one BLAS thread) the input is kept unpadded and
    channels-last, and each block is padded in cache; else the padded copy is kept."""
    monkeypatch.setattr(C, "_GEMM", {})
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    x = np.ones((2, 16, 5, 5), np.float32)
    saved = C.saved_input(x, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1, 4)
    assert saved.shape == ((2, 5, 5, 16) if kernels == "jit" else (2, 7, 7, 16))
    assert C._pads_left(saved, x, (1, 1, 1, 1)) == ((1, 1, 1, 1) if kernels == "jit" else C.NO_PADS)
    # crops (negative padding) are applied at once
    assert C.saved_input(x, (3, 3), (1, 1), (-1, 1, 0, 0), (1, 1), 1, 4).shape == (2, 5, 5, 16)


def test_tap_conv_gradient_primitives_against_finite_differences() -> None:
    """conv2d_input_grad / conv2d_weight_grad on the tap path, called as ops."""
    rng = np.random.default_rng(2)
    geo = ((1, 1), (1, 0, 2, 1), (1, 2), 1)
    g = cr.tensor(rng.standard_normal((1, 3, 4, 3)), requires_grad=True)
    w = cr.tensor(rng.standard_normal((3, 12, 3, 3)), requires_grad=True)
    x = cr.tensor(rng.standard_normal((1, 12, 5, 4)), requires_grad=True)
    assert cr.autograd.gradcheck(
        lambda a, b: C.conv2d_input_grad(a, b, (1, 12, 5, 4), *geo), (g, w)
    )
    assert cr.autograd.gradcheck(
        lambda a, b: C.conv2d_weight_grad(a, b, (3, 12, 3, 3), *geo), (g, x)
    )
    # the weight gradient from the saved padded input equals the primitive's
    dw = C.conv2d_weight_grad(g.detach().numpy(), x.detach().numpy(), (3, 12, 3, 3), *geo)
    tx = torch.tensor(x.detach().numpy(), requires_grad=True)
    tw = torch.tensor(w.detach().numpy(), requires_grad=True)
    ty = torch.nn.functional.conv2d(
        torch.nn.functional.pad(tx, (2, 1, 1, 0)), tw, None, 1, 0, (1, 2)
    )
    ty.backward(torch.tensor(g.detach().numpy()))
    np.testing.assert_allclose(dw, tw.grad.numpy(), rtol=1e-10)


def test_tap_conv_jvp_and_vmap_against_torch_func() -> None:
    rng = np.random.default_rng(4)
    x, t = rng.standard_normal((2, 2, 12, 5, 5)), rng.standard_normal((2, 2, 12, 5, 5))
    w = rng.standard_normal((4, 12, 3, 3))

    def cf(a):  # noqa: ANN001, ANN202
        return F.conv2d(a, cr.tensor(w), padding=1)

    def tf(a):  # noqa: ANN001, ANN202
        return torch.nn.functional.conv2d(a, torch.tensor(w), padding=1)

    out, tan = func.jvp(cf, (cr.tensor(x[0]),), (cr.tensor(t[0]),))
    tout, ttan = torch.func.jvp(tf, (torch.tensor(x[0]),), (torch.tensor(t[0]),))
    np.testing.assert_allclose(out.numpy(), tout.numpy(), rtol=1e-10)
    np.testing.assert_allclose(tan.numpy(), ttan.numpy(), rtol=1e-10)
    g = func.vmap(func.grad(lambda a: (cf(a) ** 2).sum()))(cr.tensor(x))
    tg = torch.func.vmap(torch.func.grad(lambda a: (tf(a) ** 2).sum()))(torch.tensor(x))
    np.testing.assert_allclose(g.numpy(), tg.numpy(), rtol=1e-10)


@pytest.mark.parametrize("op", ["input", "weight"])
def test_gradient_primitives_check_the_gradient_shape(op) -> None:  # noqa: ANN001
    geo = ((1, 1), (1, 1, 1, 1), (1, 1), 1)
    w = np.ones((4, 3, 3, 3))
    x = np.ones((2, 3, 5, 5))
    g = np.ones((2, 4, 4, 5))  # the output is (2, 4, 5, 5)
    with pytest.raises(ValueError, match=rf"conv2d_{op}_grad: .*\(2, 4, 4, 5\).*\(2, 4, 5, 5\)"):
        if op == "input":
            C.conv2d_input_grad(g, w, x.shape, *geo)
        else:
            C.conv2d_weight_grad(g, x, w.shape, *geo)


@pytest.mark.parametrize("c,o,p,d", [(4, 12, 1, 1), (8, 12, 0, 1), (3, 14, 2, 2)])
def test_input_grad_by_taps_for_few_input_channels(c, o, p, d) -> None:  # noqa: ANN001
    """Few input channels (columns forward) but a wide output gradient: the input gradient is
    the convolution of the gradient by kernel positions."""
    assert not C._by_taps(np.zeros((1, c, 1, 1)), (3, 3), (1, 1), 1, o)
    assert C._by_taps(np.zeros((1, o, 1, 1)), (3, 3), (1, 1), 1, c)
    check(_fn(p, d), shapes=[(2, c, 7, 6), (o, c, 3, 3)], finite_differences=False)


def test_accumulating_gemm_only_with_one_blas_thread(monkeypatch) -> None:  # noqa: ANN001
    """SciPy's OpenBLAS is a second thread pool: used only when BLAS runs one thread."""
    for var in ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert C._single_threaded_blas()
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")  # takes precedence
    assert not C._single_threaded_blas()
    monkeypatch.setattr(C, "_GEMM", {})
    assert C._accumulating_gemm(np.float32) is None
    x, w = np.ones((1, 12, 4, 4), np.float32), np.ones((2, 12, 3, 3), np.float32)
    ref = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(w), padding=1).numpy()
    np.testing.assert_allclose(C.conv2d(x, w, (1, 1), (1,) * 4, (1, 1), 1), ref, rtol=1e-6)


def _float32_conv_against_torch(n, c, h, o, k, s, p, d, groups=1, seed=5) -> None:  # noqa: ANN001
    """Output and both gradients of one float32 convolution (no bias) against PyTorch's."""
    rng = np.random.default_rng(seed)
    kk = (k, k) if isinstance(k, int) else k
    x = rng.standard_normal((n, c, h, h + 1)).astype(np.float32)
    w = rng.standard_normal((o, c // groups, *kk)).astype(np.float32)
    check_conv2d_float32(x, w, None, s, p, d, groups, seed=seed, grad_atol=2e-4)


@pytest.mark.parametrize("block_bytes", [1, 6000, None])
@pytest.mark.parametrize("blas", [True, False])
def test_tap_conv_in_blocks_of_images(block_bytes, blas, kernels, monkeypatch) -> None:  # noqa: ANN001
    """One image per block, blocks of two with a shorter last one, and the default: the same
    convolution and gradients with SciPy's accumulating gemm (called from Numba's compiled
    block loops, or through SciPy's wrapper without Numba) and with NumPy's products."""
    if block_bytes is not None:
        monkeypatch.setattr(C, "BLOCK_BYTES", block_bytes)
        monkeypatch.setattr(C, "BLAS_BLOCK_BYTES", block_bytes)
    monkeypatch.setattr(C, "_GEMM", {} if blas else {np.dtype(np.float32): None})
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    if block_bytes == 6000:  # 7x8 padded images of 12 values a row: 2 images a block
        assert C._image_block(5, 7 * 8, 12, 4) == 2
    used, kernel = set(), jit.kernel

    def spy(name, *arrays):  # noqa: ANN001, ANN202
        k = kernel(name, *arrays)
        used.update([name] if k is not None else [])
        return k

    monkeypatch.setattr(jit, "kernel", spy)
    _float32_conv_against_torch(5, 12, 5, 12, 3, 1, 1, 1)
    _float32_conv_against_torch(3, 16, 6, 20, (3, 2), 1, (2, 1), (1, 2))  # dilated, uneven
    compiled = {"tap_conv_blocks", "tap_weight_grad_blocks"} <= used
    assert compiled == (kernels == "jit" and jit.sgemm_address()[0] != 0)


@pytest.mark.parametrize("threads", ["1", "2"])
def test_compiled_tap_conv_on_scipys_blas(threads, monkeypatch) -> None:  # noqa: ANN001
    """Where NumPy's own OpenBLAS is not found, the compiled loops call SciPy's Cython BLAS
    (32-bit integers), and only with one BLAS thread (a second thread pool otherwise)."""
    if not jit.enabled():
        pytest.skip("numba is not installed")
    from numba.extending import get_cython_function_address

    scipy_sgemm = int(get_cython_function_address("scipy.linalg.cython_blas", "sgemm"))
    monkeypatch.setattr(jit, "_SGEMM", [(scipy_sgemm, 4)])
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", threads)
    x, w = np.ones((2, 7, 7, 16), np.float32), np.ones((8, 16, 3, 3), np.float32)
    assert (C._blas_blocks("tap_conv_blocks", x, w) is not None) == (threads == "1")
    _float32_conv_against_torch(3, 12, 6, 16, 3, 1, 1, 1)


@pytest.mark.parametrize("layout", ["channels_last", "channels_first"])
def test_tap_weight_grad_of_either_gradient_layout(layout, kernels, monkeypatch) -> None:  # noqa: ANN001
    """The weight gradient primitive on a float32 output gradient laid out either way in
    memory (a convolution's own output gradient is channels-last, a user's often not)."""
    monkeypatch.setattr(C, "_GEMM", {})
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    rng = np.random.default_rng(8)
    x = rng.standard_normal((3, 12, 6, 7)).astype(np.float32)
    g = rng.standard_normal((3, 6, 7, 16)).astype(np.float32).transpose(0, 3, 1, 2)
    if layout == "channels_first":
        g = np.ascontiguousarray(g)
    dw = C.conv2d_weight_grad(g, x, (16, 12, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1)
    tw = torch.zeros((16, 12, 3, 3), requires_grad=True)
    torch.nn.functional.conv2d(torch.tensor(x), tw, None, 1, 1).backward(torch.tensor(g))
    assert dw.dtype == np.float32
    np.testing.assert_allclose(dw, tw.grad.numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("block_bytes", [1, 25000, C.BLOCK_BYTES])
@pytest.mark.parametrize(
    "n,c,h,o,k,s,p,d,groups",
    [
        (5, 12, 9, 16, 3, 2, 1, 1, 1),  # the ResNet's stride-2 3x3
        (3, 12, 9, 16, 1, 2, 0, 1, 1),  # its 1x1 shortcut
        (4, 6, 11, 5, 3, 3, 2, 2, 1),  # stride 3, dilated
        (2, 12, 9, 6, (3, 2), (2, 1), 1, 1, 1),  # uneven stride and kernel
        (3, 8, 9, 12, 3, 2, 1, 1, 4),  # grouped: NumPy's strided additions
    ],
)
def test_strided_input_grad_in_blocks(n, c, h, o, k, s, p, d, groups, block_bytes, kernels,
                                      monkeypatch) -> None:  # fmt: skip  # noqa: ANN001
    """A strided convolution's input gradient adds every window's gradient back where it read
    (Numba's one pass, or NumPy's strided additions), a block of images at a time."""
    monkeypatch.setattr(C, "BLOCK_BYTES", block_bytes)
    if block_bytes == 25000:  # 5x5 windows of 108 values: 2 images a block, the last alone
        assert C._image_block(5, 25, 108, 4) == 2
    _float32_conv_against_torch(n, c, h, o, k, s, p, d, groups)
    if kernels == "jit" and groups == 1:
        assert "col2im_add" in jit._kernels
