"""Bad input never gives a silent wrong answer: each case raises a clear error naming the op
and the argument at fault, and the same call in PyTorch raises too (or gives the same values)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import chainrule as cr
import chainrule.nn.functional as F

FN = {cr: F, torch: TF}


def refused(call, error, match):
    """``call(lib)`` raises ``error`` matching ``match`` in chainrule, and raises in PyTorch."""
    with pytest.raises(error, match=match):
        call(cr)
    with pytest.raises(Exception):  # noqa: B017 - PyTorch's classes differ (RuntimeError, ...)
        call(torch)


def same(call):
    """``call(lib)`` gives the same values in chainrule and PyTorch."""
    a, b = call(cr), call(torch)
    np.testing.assert_allclose(np.asarray(a), b.detach().numpy(), rtol=1e-6)
    assert str(a.dtype) == str(b.dtype).replace("torch.", "")


# ----- 1. dims are integers, given once -------------------------------------------------------
NON_INTEGER_DIMS = {
    "sum(dim=0.5)": (lambda m: m.ones(2, 3).sum(dim=0.5), "sum: argument 'dim' must be int, not float"),
    "mean(dim='1')": (lambda m: m.ones(2, 3).mean(dim="1"), "mean: argument 'dim' must be int, not str"),
    "sum(dim=True)": (lambda m: m.ones(2, 3).sum(dim=True), "sum: argument 'dim' must be int, not bool"),
    "sum(dim=[0.0])": (lambda m: m.ones(2, 3).sum(dim=[0.0]), "sum: argument 'dim' must be int"),
    "transpose(0.5, 1)": (lambda m: m.ones(2, 3).transpose(0.5, 1), "transpose: argument 'dim0'"),
    "transpose 1-D (0.0, 0)": (lambda m: m.ones(3).transpose(0.0, 0), "transpose: argument 'dim0'"),
    "unsqueeze(0.5)": (lambda m: m.ones(2, 3).unsqueeze(0.5), "unsqueeze: argument 'dim'"),
    "reshape(2.5, 2)": (lambda m: m.ones(5).reshape(2.5, 2), "reshape: argument 'size' must be int"),
    "view(2.5, 2)": (lambda m: m.ones(5).view(2.5, 2), "reshape: argument 'size' must be int"),
    "expand(2.0, 3)": (lambda m: m.ones(1, 3).expand(2.0, 3), "expand: argument 'size' must be int"),
    "amax(dim=0.5)": (lambda m: m.amax(m.ones(2, 3), dim=0.5), "amax: argument 'dim'"),
    "amin(dim=0.5)": (lambda m: m.amin(m.ones(2, 3), dim=0.5), "amin: argument 'dim'"),
    "max(dim=0.5)": (lambda m: m.ones(2, 3).max(dim=0.5), "max: argument 'dim'"),
    "min(dim=0.5)": (lambda m: m.ones(2, 3).min(dim=0.5), "min: argument 'dim'"),
    "argmax(dim=0.5)": (lambda m: m.ones(2, 3).argmax(dim=0.5), "argmax: argument 'dim'"),
    "argmin(dim=0.5)": (lambda m: m.ones(2, 3).argmin(dim=0.5), "argmin: argument 'dim'"),
    "var(dim=0.5)": (lambda m: m.ones(2, 3).var(dim=0.5), "var: argument 'dim'"),
    "std(dim=0.5)": (lambda m: m.ones(2, 3).std(dim=0.5), "std: argument 'dim'"),
    "prod(dim=0.5)": (lambda m: m.ones(2, 3).prod(dim=0.5), "prod: argument 'dim'"),
    "logsumexp(dim=0.5)": (lambda m: m.ones(2, 3).logsumexp(dim=0.5), "logsumexp: argument 'dim'"),
    "cumsum(dim=0.5)": (lambda m: m.ones(2, 3).cumsum(dim=0.5), "cumsum: argument 'dim'"),
    "softmax(dim=0.5)": (lambda m: FN[m].softmax(m.ones(2, 3), dim=0.5), "softmax: argument 'dim'"),
    "log_softmax(dim=0.5)": (lambda m: FN[m].log_softmax(m.ones(2, 3), dim=0.5), "log_softmax: argument 'dim'"),
    "flip(0.5)": (lambda m: m.flip(m.ones(2, 3), (0.5,)), "flip: argument 'dim'"),
    "permute(0.5, 1)": (lambda m: m.ones(2, 3).permute(0.5, 1), "permute: argument 'dims'"),
    "squeeze(0.5)": (lambda m: m.ones(1, 3).squeeze(0.5), "squeeze: argument 'dim'"),
    "flatten(0.5)": (lambda m: m.ones(2, 3).flatten(0.5), "flatten: argument 'start_dim'"),
    "flatten 0-d (end_dim=0.5)": (lambda m: m.tensor(1.0).flatten(0, 0.5), "flatten: argument 'end_dim'"),
    "cat(dim=0.5)": (lambda m: m.cat([m.ones(2), m.ones(2)], 0.5), "cat: argument 'dim'"),
    "cat(dim=0.0)": (lambda m: m.cat([m.ones(2), m.ones(2)], 0.0), "cat: argument 'dim'"),
    "stack(dim=0.5)": (lambda m: m.stack([m.ones(2), m.ones(2)], 0.5), "stack: argument 'dim'"),
    "split(dim=0.5)": (lambda m: m.ones(4).split(2, dim=0.5), "split: argument 'dim'"),
    "unbind(0.5)": (lambda m: m.unbind(m.ones(2), 0.5), "unbind: argument 'dim'"),
    "sort(0.5)": (lambda m: m.sort(m.ones(2), 0.5), "sort: argument 'dim'"),
    "topk(dim=0.5)": (lambda m: m.topk(m.ones(2), 1, 0.5), "topk: argument 'dim'"),
    "gather(0.5)": (lambda m: m.gather(m.ones(2, 3), 0.5, m.tensor([[0]])), "gather: argument 'dim'"),
    "index_select(0.5)": (lambda m: m.index_select(m.ones(2, 3), 0.5, m.tensor([0])), "index_select: argument 'dim'"),
    "roll(dims=0.5)": (lambda m: m.roll(m.ones(2, 3), 1, 0.5), "roll: argument 'dims'"),
    "roll(shifts=0.5)": (lambda m: m.roll(m.ones(2, 3), 0.5, 0), "roll: argument 'shifts'"),
    "diagonal(dim1=0.5)": (lambda m: m.diagonal(m.ones(2, 3), 0, 0.5, 1), "diagonal: argument 'dim1'"),
    "count_nonzero(dim=0.5)": (lambda m: m.count_nonzero(m.ones(2, 3), dim=0.5), "count_nonzero: argument 'dim'"),
    "norm(dim=0.5)": (lambda m: m.norm(m.ones(2, 3), dim=0.5), "norm: argument 'dim'"),
}  # fmt: skip


@pytest.mark.parametrize("name", NON_INTEGER_DIMS)
def test_non_integer_dims_raise_type_error_naming_the_op(name):
    call, match = NON_INTEGER_DIMS[name]
    refused(call, TypeError, match)


DUPLICATE_DIMS = {
    "sum (0, 0)": lambda m: m.ones(2, 3).sum(dim=(0, 0)),
    "sum (0, -2)": lambda m: m.ones(2, 3).sum(dim=(0, -2)),
    "sum 0-d (0, -1)": lambda m: m.tensor(1.0).sum(dim=(0, -1)),
    "mean (1, -1)": lambda m: m.ones(2, 3).mean(dim=(1, -1)),
    "amax (0, 0)": lambda m: m.amax(m.ones(2, 3), dim=(0, 0)),
    "amin (0, 0)": lambda m: m.amin(m.ones(2, 3), dim=(0, 0)),
    "var (0, 0)": lambda m: m.var(m.ones(2, 3), dim=(0, 0)),
    "std (0, 0)": lambda m: m.std(m.ones(2, 3), dim=(0, 0)),
    "logsumexp (0, 0)": lambda m: m.logsumexp(m.ones(2, 3), dim=(0, 0)),
    "flip (0, 0)": lambda m: m.flip(m.ones(2, 3), (0, 0)),
    "squeeze (0, 0)": lambda m: m.ones(1, 3).squeeze((0, 0)),
    "count_nonzero (0, 0)": lambda m: m.count_nonzero(m.ones(2, 3), dim=(0, 0)),
    "norm (0, -2)": lambda m: m.norm(m.ones(2, 3), dim=(0, -2)),
}  # fmt: skip


@pytest.mark.parametrize("name", DUPLICATE_DIMS)
def test_duplicate_dims_are_refused(name):
    op = name.split()[0]
    refused(DUPLICATE_DIMS[name], ValueError, rf"{op}: dim \d appears multiple times")


def test_permute_with_a_repeated_dim_is_refused():
    refused(lambda m: m.ones(2, 3).permute(0, 0), ValueError, "permute: .*duplicate dims")
    refused(lambda m: m.ones(2, 3).permute(1, -1), ValueError, "permute: .*duplicate dims")


def test_integer_like_dims_still_work_as_in_torch():
    same(lambda m: m.arange(6.0).reshape(2, 3).sum(dim=np.int64(1)))
    same(lambda m: m.arange(6.0).reshape(2, 3).sum(dim=(np.int32(0), 1)))
    same(lambda m: m.arange(6.0).reshape(np.int64(3), 2).transpose(0, -1))
    same(lambda m: m.arange(6.0).reshape(2, 3).amax(dim=(-1,)))
    same(lambda m: m.arange(6.0).reshape(2, 3).flip((0, 1)))
    same(lambda m: m.ones(3).transpose(0, -1))


@pytest.mark.parametrize("data", [[2**63], 2**63, [[1, 2], [3, 2**64]], [-(2**63) - 1]])
def test_ints_beyond_int64_are_refused_not_wrapped(data):
    refused(lambda m: m.tensor(data), ValueError, "tensor: .*overflows int64")


def test_int64_extremes_and_explicit_dtypes():
    same(lambda m: m.tensor([2**63 - 1, -(2**63)]))
    with pytest.raises(ValueError, match="tensor: .*int64"):
        cr.tensor([2**63], dtype=cr.int64)
    with pytest.raises(Exception):  # noqa: B017
        torch.tensor([2**63], dtype=torch.int64)
    same(lambda m: m.tensor([2**63], dtype=m.float64))


# ----- 5. the command line ------------------------------------------------------------------
@pytest.mark.parametrize("value", ["-1", "0", "x"])
def test_demo_epochs_must_be_positive(value, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "chainrule.cli", "demo", "--epochs", value, "--out", str(tmp_path)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "argument --epochs: expected a positive integer" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not any(tmp_path.iterdir())  # refused before anything runs


# ----- 2. layer and loss arguments ------------------------------------------------------------
X4 = (1, 1, 5, 5)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda m: m.nn.Conv2d(1, 1, 0)(m.ones(*X4)), r"Conv2d: kernel_size must be positive"),
        (lambda m: m.nn.Conv2d(1, 1, (3, 0))(m.ones(*X4)), r"Conv2d: kernel_size must be positive"),
        (lambda m: m.nn.Conv2d(1, 1, 3, padding=-1)(m.ones(*X4)), r"Conv2d: padding must be non-negative"),
        (lambda m: m.nn.Conv2d(1, 1, 3, stride=0)(m.ones(*X4)), r"Conv2d: stride must be positive"),
        (lambda m: m.nn.Conv2d(1, 1, 3, dilation=0)(m.ones(*X4)), r"Conv2d: dilation must be positive"),
        (lambda m: m.nn.Conv1d(1, 1, 0)(m.ones(1, 1, 5)), r"Conv1d: kernel_size must be positive"),
        (lambda m: m.nn.Conv1d(1, 1, 3, padding=-1)(m.ones(1, 1, 5)), r"Conv1d: padding must be non-negative"),
        (lambda m: m.nn.Conv1d(1, 1, 3, stride=0)(m.ones(1, 1, 5)), r"Conv1d: stride must be positive"),
        (lambda m: FN[m].conv2d(m.ones(*X4), m.ones(1, 1, 3, 3), padding=-1), r"conv2d: padding must be non-negative"),
        (lambda m: FN[m].conv2d(m.ones(*X4), m.ones(1, 1, 3, 3), padding=(1, -1)), r"conv2d: padding must be non-negative"),
        (lambda m: FN[m].conv2d(m.ones(*X4), m.ones(1, 1, 0, 3)), r"conv2d: kernel size should be greater than zero"),
        (lambda m: FN[m].conv2d(m.ones(*X4), m.ones(1, 1, 3, 3), stride=0), r"conv2d: stride"),
        (lambda m: FN[m].conv1d(m.ones(1, 1, 5), m.ones(1, 1, 0)), r"conv1d: kernel size should be greater than zero"),
        (lambda m: FN[m].conv1d(m.ones(1, 1, 5), m.ones(1, 1, 3), padding=-1), r"conv1d: padding must be non-negative"),
    ],
)  # fmt: skip
def test_conv_sizes_and_padding_are_checked(call, match):
    refused(call, ValueError, match)


@pytest.mark.parametrize("delta", [0.0, -1.0])
def test_huber_delta_must_be_positive(delta):
    refused(lambda m: FN[m].huber_loss(m.ones(3), m.zeros(3), delta=delta), ValueError,
            f"huber_loss: delta must be positive, got {delta}")  # fmt: skip
    refused(lambda m: m.nn.HuberLoss(delta=delta)(m.ones(3), m.zeros(3)), ValueError,
            "huber_loss: delta must be positive")  # fmt: skip


def test_smooth_l1_beta_must_be_non_negative():
    refused(lambda m: FN[m].smooth_l1_loss(m.ones(3), m.zeros(3), beta=-1.0), ValueError,
            "smooth_l1_loss: beta must be non-negative, got -1.0")  # fmt: skip
    refused(lambda m: m.nn.SmoothL1Loss(beta=-0.5)(m.ones(3), m.zeros(3)), ValueError,
            "smooth_l1_loss: beta must be non-negative")  # fmt: skip
    same(lambda m: FN[m].smooth_l1_loss(m.tensor([0.5, 3.0]), m.zeros(2), beta=0.0))  # = l1


def test_one_hot_of_an_empty_tensor_needs_num_classes():
    refused(lambda m: FN[m].one_hot(m.zeros(0, dtype=m.int64)), ValueError,
            "one_hot: cannot infer num_classes from an empty tensor")  # fmt: skip
    same(lambda m: FN[m].one_hot(m.zeros(0, dtype=m.int64), 3))


@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize(
    "name, sizes",
    [("running_mean", (4, 3, 3, 3)), ("running_var", (3, 2, 3, 3)), ("weight", (3, 3, 4, 3)),
     ("bias", (3, 3, 3, 1))],
)  # fmt: skip
def test_batch_norm_stats_of_the_wrong_size_are_named(name, sizes, training):
    def call(m):
        rm, rv, w, b = (m.zeros(sizes[0]), m.ones(sizes[1]), m.ones(sizes[2]), m.zeros(sizes[3]))
        return FN[m].batch_norm(m.ones(2, 3), rm, rv, w, b, training=training)

    bad = [n for n, s in zip(("running_mean", "running_var", "weight", "bias"), sizes) if s != 3]
    assert bad == [name]
    refused(call, ValueError, f"batch_norm: {name} should contain 3 elements .*not")


def test_batch_norm_refusal_leaves_the_running_stats_alone():
    rm, rv = cr.zeros(4), cr.ones(4)
    with pytest.raises(ValueError, match="running_mean should contain 3"):
        F.batch_norm(cr.randn(5, 3), rm, rv, training=True)
    assert rm.tolist() == [0.0] * 4 and rv.tolist() == [1.0] * 4


# ----- 3. errors name the op the user called ----------------------------------------------------
@pytest.mark.parametrize(
    "call, match",
    [
        (lambda m: m.lerp(m.ones(2), m.ones(3), 0.5), r"lerp: shapes input \(2,\), end \(3,\)"),
        (lambda m: m.lerp(m.ones(2), m.ones(2), m.ones(3)), r"lerp: shapes .*weight \(3,\)"),
        (lambda m: m.ones(2).lerp(m.ones(3), 0.5), r"lerp: shapes"),
        (lambda m: m.clamp(m.ones(2), m.ones(3)), r"clamp: shapes input \(2,\), min \(3,\)"),
        (lambda m: m.clamp(m.ones(2), max=m.ones(3)), r"clamp: shapes .*max \(3,\)"),
        (lambda m: FN[m].binary_cross_entropy_with_logits(m.ones(2, 3), m.ones(2, 3), weight=m.ones(4)),
         r"binary_cross_entropy_with_logits: weight of shape \(4,\) does not broadcast to the input's shape \(2, 3\)"),
        (lambda m: FN[m].binary_cross_entropy_with_logits(m.ones(2, 3), m.ones(2, 3), pos_weight=m.ones(4)),
         r"binary_cross_entropy_with_logits: pos_weight of shape \(4,\)"),
        (lambda m: FN[m].binary_cross_entropy(m.ones(2, 3) / 2, m.ones(2, 3), weight=m.ones(4)),
         r"binary_cross_entropy: weight of shape \(4,\)"),
        (lambda m: m.ones(2, 3, 4) @ m.ones(5, 4, 2),
         r"matmul: shapes \(2, 3, 4\) and \(5, 4, 2\) cannot be multiplied: their batch dims \(2,\) and \(5,\) do not broadcast \(2 != 5"),
        (lambda m: m.ones(7, 2, 3, 4) @ m.ones(5, 1, 4, 2), r"batch dims \(7, 2\) and \(5, 1\) .*\(7 != 5 at batch dim 0"),
        (lambda m: m.ones(2, 3, 4) @ m.ones(2, 5, 2),
         r"the last dim of input \(4\) must equal the second-to-last dim of other \(5\)"),
        (lambda m: m.ones(3, 4) @ m.ones(5), r"the last dim of input \(4\) must equal the only dim of other \(5\)"),
        (lambda m: m.ones(4) @ m.ones(5, 2), r"last dim of input \(4\) .*other \(5\)"),
    ],
)  # fmt: skip
def test_errors_name_the_op_called_and_the_right_sizes(call, match):
    refused(call, ValueError, match)


def test_broadcasting_cases_that_are_fine_still_match_torch():
    same(lambda m: m.lerp(m.zeros(2, 3), m.ones(3), m.full((2, 1), 0.25)))
    same(lambda m: m.clamp(m.arange(6.0).reshape(2, 3), m.ones(3), m.full((2, 1), 4.0)))
    same(lambda m: m.ones(2, 1, 3, 4) @ m.ones(5, 4, 2))
    same(lambda m: FN[m].binary_cross_entropy_with_logits(
        m.ones(2, 3), m.ones(2, 3) / 2, weight=m.ones(3), pos_weight=m.full((3,), 2.0)))  # fmt: skip


# ----- 4. dtypes as PyTorch ------------------------------------------------------------------
@pytest.mark.parametrize(
    "call, match",
    [
        (lambda m: m.nn.Linear(3, 2)(m.ones(4, 3, dtype=m.float64)),
         r"linear: input, weight and bias must have the same dtype, but got float64, float32 and float32"),
        (lambda m: FN[m].linear(m.ones(4, 3), m.ones(2, 3), m.zeros(2, dtype=m.float64)), r"linear: .*float64"),
        (lambda m: FN[m].conv2d(m.ones(1, 1, 4, 4, dtype=m.float64), m.ones(1, 1, 3, 3)),
         r"conv2d: input and weight must have the same dtype, but got float64 and float32"),
        (lambda m: m.nn.Conv2d(1, 1, 3)(m.ones(1, 1, 4, 4, dtype=m.float64)), r"conv2d: .*float64"),
        (lambda m: m.nn.Conv1d(1, 1, 3)(m.ones(1, 1, 4, dtype=m.float64)), r"conv1d: .*float64"),
        (lambda m: m.ones(2, 3, dtype=m.int64) @ m.ones(3, 2), r"matmul: input and other .*int64 and float32"),
        (lambda m: m.ones(2, 3) @ m.ones(3, 2, dtype=m.float64), r"matmul: .*float32 and float64"),
        (lambda m: m.ones(3) @ m.ones(3, dtype=m.float64), r"matmul: .*float32 and float64"),
        (lambda m: m.mm(m.ones(2, 3), m.ones(3, 2, dtype=m.float64)), r"mm: input and mat2 .*float64"),
        (lambda m: m.bmm(m.ones(1, 2, 3), m.ones(1, 3, 2, dtype=m.float64)), r"bmm: .*float64"),
        (lambda m: m.dot(m.ones(3), m.ones(3, dtype=m.float64)), r"dot: .*float64"),
        (lambda m: m.addmm(m.ones(2), m.ones(2, 3), m.ones(3, 2, dtype=m.float64)), r"addmm: .*float64"),
        (lambda m: FN[m].softmax(m.ones(2, 3, dtype=m.int64), dim=1), r"softmax: expected a floating input, got int64"),
        (lambda m: m.ones(2, 3, dtype=m.int64).softmax(1), r"softmax: .*int64"),
        (lambda m: FN[m].log_softmax(m.ones(2, 3, dtype=m.int64), dim=1), r"log_softmax: .*int64"),
        (lambda m: FN[m].cross_entropy(m.ones(2, 3, dtype=m.int64), m.tensor([0, 1])), r"cross_entropy: .*int64"),
        (lambda m: m.where(m.ones(2), m.ones(2), m.zeros(2)), r"where: expected condition to be a bool tensor, but got float32"),
        (lambda m: m.where(m.ones(2, dtype=m.int64), m.ones(2), m.zeros(2)), r"where: .*int64"),
        (lambda m: m.ones(2).where(m.ones(2), m.zeros(2)), r"where: .*float32"),
    ],
)  # fmt: skip
def test_dtype_mismatches_raise_naming_the_dtypes(call, match):
    refused(call, TypeError, match)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda m: m.gather(m.ones(2, 3), 1, m.tensor([[-1], [0]])), r"gather: index out of range: index -1 for dimension 1 of size 3"),
        (lambda m: m.ones(2, 3).gather(0, m.tensor([[2, 0, 0]])), r"gather: .*index 2 for dimension 0 of size 2"),
        (lambda m: m.index_select(m.ones(2, 3), 1, m.tensor([-1])), r"index_select: .*index -1 for dimension 1 of size 3"),
        (lambda m: m.ones(2, 3).index_select(0, m.tensor([0, 2])), r"index_select: .*index 2 for dimension 0 of size 2"),
    ],
)  # fmt: skip
def test_negative_or_out_of_range_indices_are_refused(call, match):
    refused(call, IndexError, match)


@pytest.mark.parametrize(
    "call", [lambda m: m.mm(m.ones(2, 3, 4), m.ones(4, 2)), lambda m: m.mm(m.ones(3), m.ones(3, 2)),
             lambda m: m.ones(2, 3, 4).mm(m.ones(4, 2))],
)  # fmt: skip
def test_mm_takes_matrices_only(call):
    refused(call, ValueError, r"mm: expected two matrices \(2-D tensors\)")


def test_same_dtypes_and_explicit_conversions_work_as_in_torch():
    same(lambda m: m.ones(2, 3, dtype=m.int64) @ m.ones(3, 2, dtype=m.int64))
    same(lambda m: m.ones(2, 3, dtype=m.float64) @ m.ones(3, 2, dtype=m.float64))
    same(lambda m: m.mm(m.arange(6.0).reshape(2, 3), m.ones(3, 2)))
    same(lambda m: FN[m].softmax(m.arange(6).reshape(2, 3), dim=1, dtype=m.float32))
    same(lambda m: FN[m].log_softmax(m.arange(6).reshape(2, 3), dim=1, dtype=m.float64))
    same(lambda m: m.where(m.arange(3.0) > 0, m.ones(3), m.zeros(3)))
    same(lambda m: m.ones(2, 3).gather(1, m.tensor([[2], [0]])))
    same(lambda m: m.arange(6.0).reshape(2, 3).index_select(1, m.tensor([2, 0])))
    # a Python scalar or a 0-d tensor operand still follows PyTorch's promotion
    same(lambda m: m.ones(2, dtype=m.float32) * m.tensor(2.0, dtype=m.float64))
