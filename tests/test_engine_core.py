"""The engine core (issue 8): nodes with edges, versions per storage, state per thread, anomaly
mode. Each case is checked against PyTorch where PyTorch has the call."""

from __future__ import annotations

import gc
import sys
import threading

import numpy as np
import pytest
import torch

import chainrule as cr
from chainrule.autograd.function import Function
from chainrule.ops.shape import sum_to

LIBS = [cr, torch]


def _linear(lib, seed=0):
    lib.manual_seed(seed)
    m = lib.nn.Linear(3, 2)
    with lib.no_grad():
        m.weight.copy_(lib.tensor([[1.0, -2.0, 0.5], [0.3, 0.2, -1.0]]))
        m.bias.copy_(lib.tensor([0.1, -0.2]))
    return m


@pytest.mark.parametrize(
    "change",
    [
        lambda lib, m: lib.nn.init.constant_(m.weight, 5.0),
        lambda lib, m: lib.nn.init.normal_(m.weight),
        lambda lib, m: m.load_state_dict({k: v * 2 for k, v in m.state_dict().items()}),
    ],
    ids=["init.constant_", "init.normal_", "load_state_dict"],
)
def test_a_weight_changed_after_the_forward_pass_is_refused_as_torch(change):
    for lib in LIBS:
        m = _linear(lib)
        x = lib.tensor([[1.0, 2.0, 3.0]], requires_grad=True)  # x's gradient reads the weight
        loss = m(x).pow(2).sum()
        change(lib, m)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            loss.backward()


def test_sgd_momentum_on_zero_dim_parameters_matches_torch():
    # PyTorch's dynamic_net tutorial: 0-dim Parameters, SGD with momentum.
    x = np.linspace(-1.0, 1.0, 50)
    y = np.sin(x)
    out = []
    for lib in LIBS:
        params = [lib.nn.Parameter(lib.tensor(v)) for v in (0.1, -0.2, 0.3)]
        opt = lib.optim.SGD(params, lr=1e-3, momentum=0.9)
        xt, yt = lib.tensor(x, dtype=lib.float32), lib.tensor(y, dtype=lib.float32)
        for _ in range(30):
            a, b, c = params
            loss = (a + b * xt + c * xt**2 - yt).pow(2).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
        out.append([p.item() for p in params])
    np.testing.assert_allclose(out[0], out[1], rtol=1e-5)


def test_zero_dim_tensors_hold_arrays_and_update_in_place():
    for lib in LIBS:
        counts = lib.zeros((3, 3), dtype=lib.int32)
        counts[1, 2] += 1
        counts[1, 2] += 1
        assert counts[1, 2].item() == 2
        s = lib.tensor(1.5)
        s += 1
        assert s.item() == 2.5
    assert isinstance((cr.tensor(2.0) * 3)._data, np.ndarray)


def test_grad_mode_is_per_thread():
    started, release = threading.Event(), threading.Event()
    seen = {}

    def in_no_grad():
        with cr.no_grad():
            started.set()
            release.wait(5)
            seen["worker"] = cr.is_grad_enabled()

    t = threading.Thread(target=in_no_grad)
    t.start()
    started.wait(5)
    w = cr.tensor([1.0], requires_grad=True)
    seen["main"] = (w * 2).requires_grad  # the other thread's no_grad does not reach here
    release.set()
    t.join()
    assert seen == {"worker": False, "main": True}
    assert cr.is_grad_enabled()


def test_two_threads_train_separate_models_at_once():
    errors, results = [], {}

    def train(k):
        try:
            cr.manual_seed(k)
            m = cr.nn.Linear(4, 1)
            opt = cr.optim.SGD(m.parameters(), lr=0.1)
            x, y = cr.randn(32, 4), cr.randn(32, 1)
            for i in range(200):
                if i % 7 == 0:
                    with cr.no_grad():  # overlapping no_grad blocks in both threads
                        m(x)
                loss = ((m(x) - y) ** 2).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
            results[k] = loss.item()
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=train, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 2 and cr.is_grad_enabled()


def test_backward_leaves_grad_mode_alone_in_other_threads():
    flags = []
    w = cr.tensor([1.0], requires_grad=True)

    def record_during_backward(g):
        t = threading.Thread(target=lambda: flags.append(cr.is_grad_enabled()))
        t.start()
        t.join()
        return g

    y = w * 2
    y.register_hook(record_during_backward)
    y.sum().backward()
    assert flags == [True]


def test_sum_to_refuses_a_gradient_of_the_wrong_shape():
    with pytest.raises(RuntimeError, match=r"\(3, 2\) cannot be reduced to .*\(2, 3\)"):
        sum_to(np.ones((3, 2)), (2, 3))
    assert sum_to(np.ones((4, 2, 3)), (2, 1)).shape == (2, 1)


def test_an_inplace_op_on_a_long_expression_has_no_size_limit():
    grads = []
    for lib in LIBS:
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = x * 3
        e = y + 1
        for _ in range(200):
            e = e + 1
        y.add_(e)  # y appears in e, 201 nodes up
        (y * y).sum().backward()
        grads.append(x.grad.tolist())
    assert grads[0] == grads[1]


def test_only_what_a_node_saved_is_checked_as_torch():
    out = []
    for lib in LIBS:
        x = lib.tensor([1.0, 1.0], requires_grad=True)
        y = (x * 2).sum()  # d/dx = 2: x itself is not saved
        with lib.no_grad():
            x.add_(1)
        y.backward()
        out.append(x.grad.tolist())
    assert out == [[2.0, 2.0], [2.0, 2.0]]


def test_inplace_ops_on_non_leaves_match_torch():
    for case in ("mul_by_other", "exp_", "add_self"):
        res = []
        for lib in LIBS:
            x = lib.tensor([0.5, -1.0, 2.0], requires_grad=True)
            w = lib.tensor([2.0, 3.0, -1.0], requires_grad=True)
            a = x * 1
            if case == "mul_by_other":
                a.mul_(w)  # w's gradient needs a's value before the change
            elif case == "exp_":
                a.exp_() if hasattr(a, "exp_") else a.copy_(a.exp())
            else:
                a.add_(a)
            (a * w).sum().backward()
            res.append((x.grad.tolist(), w.grad.tolist()))
        np.testing.assert_allclose(res[0], res[1], rtol=1e-6)


def test_a_value_saved_then_changed_in_place_is_refused_as_torch():
    for lib in LIBS:
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        a = x * 1
        a.mul_(a)  # the product saved a, which the write then changed
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            a.sum().backward()


def test_views_see_inplace_writes_to_their_base_as_torch():
    for lib in LIBS:
        x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        a = x * 1
        v = a[:2]
        a.mul_(10)
        assert v.tolist() == [10.0, 20.0]


def test_a_view_used_after_its_base_changed_grad_fn_is_refused():
    # PyTorch regenerates the view's grad_fn; chainrule refuses rather than skip the change.
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    a = x * 1
    v = a[:2]
    a.mul_(10)
    with pytest.raises(RuntimeError, match="view of a tensor that was modified"):
        v * 2


def test_a_view_made_under_no_grad_modified_with_grad_on_is_refused_as_torch():
    for lib in LIBS:
        y = lib.ones(3, requires_grad=True) * 1
        with lib.no_grad():
            v = y[0:2]
        with pytest.raises(RuntimeError, match="view was created in no_grad mode"):
            v.mul_(3)


def test_a_function_that_saves_its_output_is_freed_without_the_cycle_collector():
    class Exp(Function):
        @staticmethod
        def forward(ctx, x):
            out = x.exp()
            ctx.save_for_backward(out)
            return out

        @staticmethod
        def backward(ctx, g):
            (out,) = ctx.saved_tensors
            return g * out

    gc.disable()
    try:
        x = cr.tensor(np.ones(1000), requires_grad=True)
        y = Exp.apply(x)
        node = y.grad_fn
        import weakref

        ref = weakref.ref(node)
        y.sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), np.e * np.ones(1000), rtol=1e-6)
        del y, node
        assert ref() is None  # freed by reference counting alone, as in PyTorch
    finally:
        gc.enable()


def test_next_functions_are_node_slot_pairs_as_torch():
    names = []
    for lib in LIBS:
        a = lib.tensor(2.0, requires_grad=True)
        b = lib.tensor(3.0, requires_grad=True)
        f = a * b + a
        names.append(
            [
                (type(n).__name__ if lib is torch else n.name(), k)
                for n, k in f.grad_fn.next_functions
            ]
        )
    assert [(n.rstrip("0"), k) for n, k in names[1]] == names[0]
    acc = (cr.tensor(1.0, requires_grad=True) * 2).grad_fn.next_functions[0][0]
    assert acc.name() == "AccumulateGrad" and acc.next_functions == ()


def test_multi_output_function_is_one_node_with_slots():
    class Split(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2, x * 3

        @staticmethod
        def backward(ctx, ga, gb):
            return ga * 2 + gb * 3

    x = cr.tensor([1.0, 2.0], requires_grad=True)
    a, b = Split.apply(x)
    assert a.grad_fn is b.grad_fn and (a._slot, b._slot) == (0, 1)
    (a.sum() + b.sum()).backward()
    assert x.grad.tolist() == [5.0, 5.0]


def test_detect_anomaly_names_the_backward_node_the_op_and_the_users_line():
    x = cr.tensor([0.0, 4.0], requires_grad=True)
    with cr.autograd.detect_anomaly():
        y = x.sqrt()  # d sqrt(x)/dx = inf at 0: the line the error must name
        z = (y * 2).sum()
        with pytest.raises(RuntimeError) as info:
            z.backward()
    msg = str(info.value)
    assert "Function 'SqrtBackward' returned inf values in its 0th output" in msg
    assert "forward op Sqrt" in msg
    assert "test_engine_core.py" in msg and "y = x.sqrt()" in msg
    assert not cr.autograd.is_anomaly_enabled()


def test_detect_anomaly_names_the_op_that_made_a_nan_in_the_forward_pass():
    x = cr.tensor([-1.0, 4.0])
    w = cr.tensor([1.0, 1.0], requires_grad=True)
    with cr.autograd.detect_anomaly():
        y = (x * w).log()  # log(-1): a NaN made in the forward pass
        z = (y * w).sum()
        with pytest.raises(RuntimeError) as info:
            z.backward()
    msg = str(info.value)
    assert "Function 'MulBackward' returned nan values" in msg
    assert "made by Log at" in msg and "y = (x * w).log()" in msg


def test_set_detect_anomaly_and_torch_agree_on_what_is_anomalous():
    for lib in LIBS:
        lib.autograd.set_detect_anomaly(True)
        try:
            x = lib.tensor([0.0], requires_grad=True)
            with pytest.raises(RuntimeError, match="returned nan values"):
                (x.sqrt() * 0).sum().backward()  # 0 * inf = nan in SqrtBackward
        finally:
            lib.autograd.set_detect_anomaly(False)


def test_without_anomaly_mode_a_nan_reaches_grad_silently_as_torch():
    x = cr.tensor([-1.0], requires_grad=True)
    x.log().sum().backward()
    assert np.isfinite(x.grad.numpy()).all()  # 1/x is finite; the NaN was only in the forward
    y = cr.tensor([-1.0], requires_grad=True)
    (y.log() * 2).sum().backward()
    assert x.grad is not None


def test_embedding_max_norm_renormalizes_rows_as_torch():
    w = np.array([[3.0, 4.0], [0.3, 0.4], [6.0, 8.0]], dtype=np.float32)
    idx = [[0, 2, 0]]
    out = []
    for lib in LIBS:
        e = lib.nn.Embedding(3, 2, max_norm=1.0)
        with lib.no_grad():
            e.weight.copy_(lib.tensor(w))
        y = e(lib.tensor(idx))
        y.sum().backward()
        out.append((y.tolist(), e.weight.tolist(), e.weight.grad.tolist()))
    np.testing.assert_allclose(out[0][0], out[1][0], rtol=1e-6)
    np.testing.assert_allclose(out[0][1], out[1][1], rtol=1e-6)
    np.testing.assert_allclose(out[0][2], out[1][2], rtol=1e-6)


def test_batchnorm_running_stats_bump_their_version():
    bn = cr.nn.BatchNorm1d(2)
    v0 = bn.running_mean._version
    bn(cr.randn(8, 2))
    assert bn.running_mean._version == v0 + 1 and bn.running_var._version > 0


def test_a_chain_of_100000_ops_back_propagates():
    x = cr.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0
    y.backward()
    assert x.grad.item() == 1.0
    assert sys.getrecursionlimit() < 100_000


def test_retain_grad_and_hooks_on_non_leaves_live_on_their_node():
    seen = []
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    h = x * 3
    h.retain_grad()
    h.register_hook(lambda g: seen.append(g.tolist()))
    (h * h).sum().backward()
    assert seen == [[6.0, 12.0]] and h.grad.tolist() == [6.0, 12.0]
    assert x.grad.tolist() == [18.0, 36.0]


def test_each_leaf_is_accumulated_right_after_its_last_consumer():
    # What lets data-parallel training start a gradient's all-reduce while backward goes on.
    m = cr.nn.Sequential(cr.nn.Linear(4, 8), cr.nn.ReLU(), cr.nn.Linear(8, 2))
    order = []
    for name, p in m.named_parameters():
        p.register_post_accumulate_grad_hook(lambda p, name=name: order.append(name))
    x = cr.randn(3, 4)
    for _ in range(2):  # the second step too, while the first step's loss is still alive
        order.clear()
        h = m[0](x)
        h.register_hook(lambda g: order.append("first layer's output"))
        loss = m[2](m[1](h)).sum()
        loss.backward()
        assert order == ["2.bias", "2.weight", "first layer's output", "0.bias", "0.weight"]
