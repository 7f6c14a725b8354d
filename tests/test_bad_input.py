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
