"""Cheap activations recomputed in backward (autograd.remat): same gradients, less memory, and
every in-place change still caught."""

from __future__ import annotations

import threading
import tracemalloc

import numpy as np
import pytest
import torch

import chainrule as cr
import chainrule.nn.functional as F
from chainrule.autograd.remat import Recompute
from chainrule.ops import nnops

RNG = np.random.default_rng(0)


def _x(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


ACTIVATIONS = {
    "gelu": lambda x: F.gelu(x),
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "layer_norm": lambda x: F.layer_norm(x, (x.shape[-1],), W_LN, B_LN),
    "rms_norm": lambda x: F.rms_norm(x, (x.shape[-1],), W_LN),
    "silu": lambda x: F.silu(x),
}
W_LN = cr.tensor(_x(16) + 1, requires_grad=True)
B_LN = cr.tensor(_x(16), requires_grad=True)
TORCH_ACTIVATIONS = {
    "gelu": lambda x, w, b: torch.nn.functional.gelu(x),
    "gelu_tanh": lambda x, w, b: torch.nn.functional.gelu(x, approximate="tanh"),
    "layer_norm": lambda x, w, b: torch.nn.functional.layer_norm(x, (x.shape[-1],), w, b),
    "rms_norm": lambda x, w, b: torch.nn.functional.rms_norm(x, (x.shape[-1],), w),
    "silu": lambda x, w, b: torch.nn.functional.silu(x),
}


def _grads(name: str, mode: bool, x0: np.ndarray, w0: np.ndarray) -> list[np.ndarray]:
    x = cr.tensor(x0, requires_grad=True)
    w = cr.tensor(w0, requires_grad=True)
    for p in (W_LN, B_LN):
        p.grad = None
    with cr.autograd.recompute(mode):
        h = ACTIVATIONS[name](x)
        out = (F.linear(h, w) ** 2).sum()
    out.backward()
    return [t.grad.numpy() for t in (x, w, W_LN, B_LN) if t.grad is not None]


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_the_consumer_keeps_a_recipe_and_the_gradients_are_the_same_to_the_bit(name: str) -> None:
    x0, w0 = _x(8, 16), _x(5, 16)
    h = ACTIVATIONS[name](cr.tensor(x0, requires_grad=True))
    node = F.linear(h, cr.tensor(w0, requires_grad=True)).grad_fn
    assert type(node.saved[0]) is Recompute and node.remat
    with cr.autograd.recompute(False):
        h = ACTIVATIONS[name](cr.tensor(x0, requires_grad=True))
    node = F.linear(h, cr.tensor(w0, requires_grad=True)).grad_fn
    assert type(node.saved[0]) is np.ndarray and not node.remat
    on, off = _grads(name, True, x0, w0), _grads(name, False, x0, w0)
    assert len(on) == len(off)
    for a, b in zip(on, off):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_recomputed_gradients_match_pytorch(name: str) -> None:
    x0, w0 = _x(8, 16), _x(5, 16)
    got = _grads(name, True, x0, w0)
    tx = torch.tensor(x0, requires_grad=True)
    tw = torch.tensor(w0, requires_grad=True)
    tln_w = torch.tensor(W_LN.detach().numpy(), requires_grad=True)
    tln_b = torch.tensor(B_LN.detach().numpy(), requires_grad=True)
    h = TORCH_ACTIVATIONS[name](tx, tln_w, tln_b)
    (torch.nn.functional.linear(h, tw) ** 2).sum().backward()
    want = [t.grad.numpy() for t in (tx, tw, tln_w, tln_b) if t.grad is not None]
    assert len(got) == len(want)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-4)


def test_second_order_through_a_recomputed_output() -> None:
    """create_graph: the recomputed array enters the graph attached to the GELU's node."""
    x0, w0 = _x(4, 16), _x(3, 16)
    results = []
    for mode in (True, False):
        x = cr.tensor(x0.astype(np.float64), requires_grad=True)
        w = cr.tensor(w0.astype(np.float64), requires_grad=True)
        with cr.autograd.recompute(mode):
            out = (F.linear(F.gelu(x), w) ** 2).sum()
        (gw,) = cr.autograd.grad(out, [w], create_graph=True)
        (gx,) = cr.autograd.grad((gw * gw).sum(), [x])
        results.append(gx.numpy())
    np.testing.assert_array_equal(*results)
    tx = torch.tensor(x0.astype(np.float64), requires_grad=True)
    tw = torch.tensor(w0.astype(np.float64), requires_grad=True)
    out = (torch.nn.functional.linear(torch.nn.functional.gelu(tx), tw) ** 2).sum()
    (tgw,) = torch.autograd.grad(out, [tw], create_graph=True)
    (tgx,) = torch.autograd.grad((tgw * tgw).sum(), [tx])
    np.testing.assert_allclose(results[0], tgx.numpy(), rtol=1e-9, atol=1e-9)


def test_the_output_is_not_kept_after_the_forward_pass() -> None:
    x = cr.tensor(_x(256, 1024), requires_grad=True)  # GELU's output: 1 MiB
    w = cr.tensor(_x(4, 1024), requires_grad=True)
    held = {}
    for mode in (True, False):
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        with cr.autograd.recompute(mode):
            out = F.linear(F.gelu(x), w).sum()
        held[mode] = tracemalloc.get_traced_memory()[0] - base
        tracemalloc.stop()
        out.backward()
    assert held[False] - held[True] >= 0.9 * 2**20


def test_an_output_changed_in_place_before_its_use_is_saved_as_changed() -> None:
    """Written through a view (no graph), the output is no longer the op's: it is kept."""
    x0, w0 = _x(4, 16), _x(3, 16)
    x, w = cr.tensor(x0, requires_grad=True), cr.tensor(w0, requires_grad=True)
    h = F.gelu(x)
    with cr.no_grad():
        h[:2].mul_(3.0)
    node = F.linear(h, w).grad_fn
    assert type(node.saved[0]) is np.ndarray
    F.linear(h, w).sum().backward()
    tx, tw = torch.tensor(x0, requires_grad=True), torch.tensor(w0, requires_grad=True)
    th = torch.nn.functional.gelu(tx)
    with torch.no_grad():
        th[:2].mul_(3.0)
    torch.nn.functional.linear(th, tw).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_an_output_changed_in_place_after_its_use_is_refused() -> None:
    x, w = cr.tensor(_x(4, 16), requires_grad=True), cr.tensor(_x(3, 16), requires_grad=True)
    h = F.gelu(x)
    out = F.linear(h, w).sum()
    with cr.no_grad():
        h.mul_(2.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.backward()


def test_an_input_changed_in_place_after_the_use_is_refused_by_the_recipe() -> None:
    w_ln = cr.tensor(_x(16), requires_grad=True)
    x, w = cr.tensor(_x(4, 16), requires_grad=True), cr.tensor(_x(3, 16), requires_grad=True)
    h = F.layer_norm(x * 1.0, (16,), w_ln)
    out = F.linear(h, w).sum()
    with cr.no_grad():
        w_ln.add_(1.0)  # the LayerNorm's weight: its output would come out different now
    with pytest.raises(RuntimeError, match=r"input 1 \[float32 \[16\]\] of LayerNorm, whose"):
        out.backward()


def test_two_consumers_share_one_recomputation(monkeypatch: pytest.MonkeyPatch) -> None:
    x = cr.tensor(_x(4, 16), requires_grad=True)
    w1, w2 = cr.tensor(_x(3, 16), requires_grad=True), cr.tensor(_x(2, 16), requires_grad=True)
    h = F.gelu(x)
    out = F.linear(h, w1).sum() + (F.linear(h, w2) ** 2).sum()
    calls = []
    forward = nnops.gelu.forward
    monkeypatch.setattr(nnops.gelu, "forward", lambda *a, **k: calls.append(1) or forward(*a, **k))
    out.backward()
    assert len(calls) == 1
    assert h.grad_fn.saved is None  # released as usual


def test_a_retained_graph_recomputes_on_each_backward() -> None:
    x = cr.tensor(_x(4, 16), requires_grad=True)
    w = cr.tensor(_x(3, 16), requires_grad=True)
    out = F.linear(F.gelu(x), w).sum()
    out.backward(retain_graph=True)
    first = [x.grad.numpy().copy(), w.grad.numpy().copy()]
    out.backward()
    np.testing.assert_array_equal(x.grad.numpy(), 2 * first[0])
    np.testing.assert_array_equal(w.grad.numpy(), 2 * first[1])
    with cr.autograd.recompute(False):
        want = F.gelu(x).detach().numpy().sum(axis=0)
    np.testing.assert_allclose(first[1], np.tile(want, (3, 1)), rtol=1e-6)


def test_the_switch_is_per_thread_and_a_decorator() -> None:
    seen = []
    with cr.autograd.recompute(False):
        t = threading.Thread(target=lambda: seen.append(cr.autograd.is_recompute_enabled()))
        t.start()
        t.join()
        assert not cr.autograd.is_recompute_enabled()
    assert seen == [True] and cr.autograd.is_recompute_enabled()

    @cr.autograd.recompute(False)
    def inside() -> bool:
        return cr.autograd.is_recompute_enabled()

    assert inside() is False and cr.autograd.is_recompute_enabled()


def test_the_graph_with_a_recipe_draws_and_explains_as_without() -> None:
    from chainrule.viz import draw_graph, explain

    x0, w0 = _x(2, 4), _x(3, 4)
    sources, totals = [], []
    for mode in (True, False):
        x, w = cr.tensor(x0, requires_grad=True), cr.tensor(w0, requires_grad=True)
        with cr.autograd.recompute(mode):
            out = F.linear(F.gelu(x), w).sum()
        sources.append(draw_graph(out, params={"x": x, "w": w}).source)
        rows = explain(out, params={"x": x, "w": w}).rows
        totals.append([np.asarray(r.total).tolist() for r in rows if r.operand in ("x", "w")])
    assert sources[0] == sources[1] and "Gelu" in sources[0]
    assert totals[0] == totals[1] and totals[0]
