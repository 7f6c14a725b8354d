"""chainrule.optim beside torch.optim: the same parameters, the same gradient rule, 20 steps.

Gradients come from a fixed random quadratic, g = H p + c + noise_t, evaluated at each library's
own current parameters, so any difference in an update also changes the later gradients. The
third parameter gets a gradient only on even steps (a ``None`` grad must be skipped).
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

import chainrule as cr
from chainrule import optim

SHAPES = [(3, 4), (5,), (2, 3)]
STEPS = 20


class Problem:
    """A random quadratic over all parameters, plus per-step noise."""

    def __init__(self, seed: int = 0, shapes=SHAPES, steps: int = STEPS) -> None:
        rng = np.random.default_rng(seed)
        self.shapes = shapes
        self.sizes = [int(np.prod(s)) for s in shapes]
        n = sum(self.sizes)
        a = rng.normal(size=(n, n))
        self.H = a @ a.T / n + 0.5 * np.eye(n)
        self.c = rng.normal(size=n)
        self.noise = rng.normal(scale=0.3, size=(steps, n))
        self.init = [rng.normal(size=s) for s in shapes]

    def grads(self, arrays: list[np.ndarray], t: int) -> list[np.ndarray | None]:
        flat = np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in arrays])
        g = self.H @ flat + self.c + self.noise[t]
        out: list[np.ndarray | None] = []
        start = 0
        for i, (shape, size) in enumerate(zip(self.shapes, self.sizes)):
            gi = g[start : start + size].reshape(shape)
            start += size
            out.append(None if (i == 2 and t % 2 == 1) else gi)
        return out


def _groups(params, groups):
    if groups is None:
        return params
    return [dict(g, params=[params[i] for i in g["params"]]) for g in groups]


def _set_cr_grads(params, grads, dtype):
    for p, g in zip(params, grads):
        p.grad = None if g is None else cr.tensor(g.astype(dtype))


def _set_torch_grads(params, grads, dtype):
    for p, g in zip(params, grads):
        p.grad = None if g is None else torch.from_numpy(g.astype(dtype))


def run_beside_torch(
    name, kwargs, dtype=np.float64, groups=None, steps=STEPS, rtol=1e-10, atol=1e-12, seed=0
):
    prob = Problem(seed, steps=steps)
    cr_params = [cr.tensor(a.astype(dtype), requires_grad=True) for a in prob.init]
    th_params = [torch.tensor(a.astype(dtype), requires_grad=True) for a in prob.init]
    torch_kwargs = dict(kwargs, foreach=False)  # torch's single-tensor reference path
    opt = getattr(optim, name)(_groups(cr_params, groups), **kwargs)
    topt = getattr(torch.optim, name)(_groups(th_params, groups), **torch_kwargs)
    for t in range(steps):
        _set_cr_grads(cr_params, prob.grads([p._data for p in cr_params], t), dtype)
        _set_torch_grads(th_params, prob.grads([p.detach().numpy() for p in th_params], t), dtype)
        grads_before = [None if p.grad is None else p.grad._data.copy() for p in cr_params]
        opt.step()
        topt.step()
        for i, (p, q) in enumerate(zip(cr_params, th_params)):
            assert p.dtype == np.dtype(dtype), f"step {t}: dtype {p.dtype}"
            np.testing.assert_allclose(
                p._data,
                q.detach().numpy(),
                rtol=rtol,
                atol=atol,
                err_msg=f"{name}{kwargs} param {i} step {t}",
            )
            if grads_before[i] is not None:  # the gradient was read, never written
                np.testing.assert_array_equal(p.grad._data, grads_before[i])
    return opt, topt, cr_params, th_params


CASES = [
    ("SGD", {"lr": 0.05}),
    ("SGD", {"lr": 0.05, "momentum": 0.9}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.3}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    ("SGD", {"lr": 0.05, "weight_decay": 0.1}),
    ("SGD", {"lr": 0.05, "maximize": True}),
    ("SGD", {"lr": 0.05, "momentum": 0.8, "nesterov": True, "weight_decay": 0.1,
             "maximize": True}),
    ("SGD", {"lr": 0.05, "momentum": 0.5, "dampening": 0.5, "weight_decay": 0.01,
             "maximize": True}),
    ("Adam", {"lr": 0.05}),
    ("Adam", {"lr": 0.05, "amsgrad": True}),
    ("Adam", {"lr": 0.05, "weight_decay": 0.1}),
    ("Adam", {"lr": 0.05, "betas": (0.3, 0.5), "eps": 1e-3}),
    ("Adam", {"lr": 0.05, "maximize": True}),
    ("Adam", {"lr": 0.05, "weight_decay": 0.1, "amsgrad": True, "maximize": True}),
    ("Adam", {"lr": 0.05, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("AdamW", {"lr": 0.05}),
    ("AdamW", {"lr": 0.05, "weight_decay": 0.2, "amsgrad": True}),
    ("AdamW", {"lr": 0.05, "weight_decay": 0.2, "maximize": True, "betas": (0.2, 0.9)}),
    ("RMSprop", {}),
    ("RMSprop", {"lr": 0.01, "centered": True}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.9}),
    ("RMSprop", {"lr": 0.01, "weight_decay": 0.1}),
    ("RMSprop", {"lr": 0.01, "centered": True, "momentum": 0.9, "weight_decay": 0.1}),
    ("RMSprop", {"lr": 0.01, "alpha": 0.3, "centered": True, "maximize": True}),
    ("Adagrad", {}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.1}),
    ("Adagrad", {"lr": 0.1, "weight_decay": 0.1}),
    ("Adagrad", {"lr": 0.1, "initial_accumulator_value": 0.5, "eps": 1e-3}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.05, "weight_decay": 0.05, "maximize": True}),
]  # fmt: skip


@pytest.mark.parametrize("name,kwargs", CASES, ids=[f"{n}-{k}" for n, k in CASES])
def test_matches_torch_float64(name, kwargs):
    run_beside_torch(name, kwargs)


FLOAT32_CASES = [
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.1}),
    ("Adam", {"lr": 0.05, "amsgrad": True, "weight_decay": 0.1}),
    ("AdamW", {"lr": 0.05}),
    ("RMSprop", {"lr": 0.01, "centered": True, "momentum": 0.9}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.1}),
]


@pytest.mark.parametrize("name,kwargs", FLOAT32_CASES, ids=[n for n, _ in FLOAT32_CASES])
def test_matches_torch_float32_and_stays_float32(name, kwargs):
    opt, _, params, _ = run_beside_torch(name, kwargs, dtype=np.float32, rtol=1e-4, atol=1e-5)
    for p in params:
        assert p._data.dtype == np.float32
        for value in opt.state[p].values():
            if isinstance(value, cr.Tensor):
                assert value.dtype == np.float32


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop", "Adagrad"])
def test_param_groups_with_their_own_options(name):
    extra = {"SGD": {"momentum": 0.5}, "Adam": {"betas": (0.5, 0.9)},
             "RMSprop": {"momentum": 0.5}, "Adagrad": {"lr_decay": 0.1}}[name]  # fmt: skip
    groups = [{"params": [0], "lr": 0.1}, {"params": [1, 2], "lr": 0.01, **extra}]
    opt, _, _, _ = run_beside_torch(name, {"lr": 0.03}, groups=groups)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.01]


def test_plain_tensors_and_parameters_are_both_accepted():
    p = cr.nn.Parameter(cr.tensor([1.0, 2.0]))
    t = cr.tensor([3.0], requires_grad=True)
    opt = optim.SGD([p, t], lr=0.5)
    ((p * p).sum() + (t * t).sum()).backward()
    opt.step()
    assert p.tolist() == [0.0, 0.0] and t.tolist() == [0.0]
    assert isinstance(p, cr.nn.Parameter)


def test_named_parameters_are_accepted_and_names_kept():
    a = cr.tensor([1.0], requires_grad=True)
    opt = optim.Adam([("a", a)])
    assert opt.param_groups[0]["params"] == [a]
    assert opt.state_dict()["param_groups"][0]["param_names"] == ["a"]


# ----- state_dict ---------------------------------------------------------------------------


def _is_saveable(value) -> bool:
    """Tensors, numbers, strings, and dicts/lists/tuples of those (what chainrule.save takes)."""
    if isinstance(value, dict):
        return all(isinstance(k, (int, str)) and _is_saveable(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(_is_saveable(v) for v in value)
    return isinstance(value, (cr.Tensor, bool, int, float, str))


@pytest.mark.parametrize(
    "name,kwargs",
    [("SGD", {"lr": 0.05, "momentum": 0.9}), ("Adam", {"lr": 0.05, "amsgrad": True}),
     ("AdamW", {"lr": 0.05}), ("RMSprop", {"lr": 0.01, "centered": True, "momentum": 0.5}),
     ("Adagrad", {"lr": 0.1})],
)  # fmt: skip
def test_state_dict_layout_matches_torch(name, kwargs):
    groups = [{"params": [0]}, {"params": [1, 2], "lr": 0.02}]
    opt, topt, _, _ = run_beside_torch(name, kwargs, groups=groups, steps=3)
    sd, tsd = opt.state_dict(), topt.state_dict()
    assert _is_saveable(sd)
    assert sd["state"].keys() == tsd["state"].keys()
    for k, st in sd["state"].items():
        assert st.keys() == tsd["state"][k].keys()
        for key, value in st.items():
            np.testing.assert_allclose(
                np.asarray(value), tsd["state"][k][key].numpy(), rtol=1e-10, atol=1e-14
            )
    for g, tg in zip(sd["param_groups"], tsd["param_groups"]):
        assert g["params"] == tg["params"]
        for key in g:
            assert g[key] == tg[key], key


@pytest.mark.parametrize(
    "name,kwargs",
    [("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}), ("Adam", {"lr": 0.05}),
     ("AdamW", {"lr": 0.05, "amsgrad": True}), ("RMSprop", {"lr": 0.01, "momentum": 0.5}),
     ("Adagrad", {"lr": 0.1, "lr_decay": 0.1})],
)  # fmt: skip
def test_state_dict_round_trip_continues_identically(name, kwargs):
    prob = Problem(3)
    params = [cr.tensor(a, requires_grad=True) for a in prob.init]
    opt = getattr(optim, name)(params, **kwargs)
    for t in range(10):
        _set_cr_grads(params, prob.grads([p._data for p in params], t), np.float64)
        opt.step()
    sd = opt.state_dict()
    saved = copy.deepcopy(sd)
    clones = [cr.tensor(p._data.copy(), requires_grad=True) for p in params]
    opt2 = getattr(optim, name)(clones, lr=123.0)  # options come from the state dict
    opt2.load_state_dict(sd)
    assert opt2.param_groups[0]["lr"] == kwargs["lr"]
    for t in range(10, 20):
        for ps, o in ((params, opt), (clones, opt2)):
            _set_cr_grads(ps, prob.grads([p._data for p in ps], t), np.float64)
            o.step()
        for p, q in zip(params, clones):
            np.testing.assert_array_equal(p._data, q._data)
    # the state dict was a snapshot: the steps after it did not change it
    for k, st in saved["state"].items():
        for key, value in st.items():
            np.testing.assert_array_equal(np.asarray(sd["state"][k][key]), np.asarray(value))


def test_load_state_dict_casts_to_the_parameters_dtype():
    w = cr.tensor([1.0, 2.0], dtype=cr.float64, requires_grad=True)
    opt = optim.Adam([w])
    (w * w).sum().backward()
    opt.step()
    w32 = cr.tensor([1.0, 2.0], dtype=cr.float32, requires_grad=True)
    opt32 = optim.Adam([w32])
    opt32.load_state_dict(opt.state_dict())
    assert opt32.state[w32]["exp_avg"].dtype == np.float32
    assert opt32.state[w32]["step"] == 1


def test_load_state_dict_rejects_mismatched_groups():
    a, b = (cr.tensor([1.0], requires_grad=True) for _ in range(2))
    sd = optim.SGD([a, b], lr=0.1).state_dict()
    with pytest.raises(ValueError, match="doesn't match the size"):
        optim.SGD([a], lr=0.1).load_state_dict(sd)
    with pytest.raises(ValueError, match="different number of parameter groups"):
        optim.SGD([{"params": [a]}, {"params": [b]}], lr=0.1).load_state_dict(sd)


# ----- zero_grad, closure, None grads -------------------------------------------------------


def test_zero_grad_sets_to_none_or_zeros_without_touching_the_old_array():
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    opt = optim.SGD([w], lr=0.1)
    (w * w).sum().backward()
    opt.zero_grad()
    assert w.grad is None
    (w * w).sum().backward()
    old = w.grad._data
    opt.zero_grad(set_to_none=False)
    assert w.grad.tolist() == [0.0, 0.0]
    assert old.tolist() == [2.0, 4.0]  # a shared gradient array is left alone


def test_step_with_closure_returns_the_loss_like_torch():
    w = cr.tensor([1.0, -3.0], requires_grad=True)
    tw = torch.tensor([1.0, -3.0], requires_grad=True)
    opt, topt = optim.SGD([w], lr=0.01, momentum=0.9), torch.optim.SGD([tw], lr=0.01, momentum=0.9)

    def closure():
        opt.zero_grad()
        loss = (w * w * w * w).sum()
        loss.backward()
        return loss

    def tclosure():
        topt.zero_grad()
        loss = (tw**4).sum()
        loss.backward()
        return loss

    for _ in range(5):
        with cr.no_grad():  # the closure still records its graph (enable_grad inside step)
            loss = opt.step(closure)
        tloss = topt.step(tclosure)
        assert loss.item() == pytest.approx(tloss.item(), rel=1e-6)
    np.testing.assert_allclose(w._data, tw.detach().numpy(), rtol=1e-6)


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"])
def test_parameters_without_grad_are_skipped(name):
    a = cr.tensor([1.0, 2.0], requires_grad=True)
    b = cr.tensor([3.0], requires_grad=True)
    opt = getattr(optim, name)([a, b], lr=0.1)
    (a * a).sum().backward()
    opt.step()
    assert b.tolist() == [3.0]
    assert a.tolist() != [1.0, 2.0]
    if name != "Adagrad":  # Adagrad creates every state up front, as torch does
        assert b not in opt.state


# ----- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda p: optim.SGD(p, lr=-0.1), "Invalid learning rate: -0.1"),
        (lambda p: optim.SGD(p, momentum=-0.5), "Invalid momentum value: -0.5"),
        (lambda p: optim.SGD(p, weight_decay=-1.0), "Invalid weight_decay value: -1.0"),
        (lambda p: optim.SGD(p, nesterov=True), "Nesterov momentum requires a momentum"),
        (lambda p: optim.Adam(p, betas=(1.0, 0.999)), "Invalid beta parameter at index 0: 1.0"),
        (lambda p: optim.Adam(p, betas=(0.9, -0.1)), r"Invalid beta parameter at index 1: -0.1"),
        (lambda p: optim.Adam(p, eps=-1e-8), "Invalid epsilon value: -1e-08"),
        (lambda p: optim.AdamW(p, lr=-1.0), "Invalid learning rate: -1.0"),
        (lambda p: optim.RMSprop(p, alpha=-0.9), "Invalid alpha value: -0.9"),
        (lambda p: optim.RMSprop(p, momentum=-0.9), "Invalid momentum value: -0.9"),
        (lambda p: optim.Adagrad(p, lr_decay=-0.1), "Invalid lr_decay value: -0.1"),
        (lambda p: optim.Adagrad(p, initial_accumulator_value=-1),
         "Invalid initial_accumulator_value value: -1"),
    ],
)  # fmt: skip
def test_invalid_options_name_the_value(make, match):
    with pytest.raises(ValueError, match=match):
        make([cr.tensor([1.0], requires_grad=True)])


def test_empty_or_malformed_parameter_lists_say_so():
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.Adam([])
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD(iter([]), lr=0.1)
    w = cr.tensor([1.0], requires_grad=True)
    with pytest.raises(TypeError, match="iterable of Tensors or dicts"):
        optim.SGD(w, lr=0.1)
    with pytest.raises(TypeError, match="can only optimize Tensors"):
        optim.SGD([np.ones(2)], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.SGD([{"params": [w]}, {"params": [w]}], lr=0.1)
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([w * 2], lr=0.1)


def test_repr_lists_each_group():
    opt = optim.SGD([cr.tensor([1.0], requires_grad=True)], lr=0.1, momentum=0.9)
    text = repr(opt)
    assert text.startswith("SGD (\nParameter Group 0\n") and "    momentum: 0.9\n" in text
