"""The optimizer template (one ``step``, a short ``_update`` per optimizer, every parameter write
through ``_mutate``) and the optimizers added with it: NAdam, RAdam, Adamax, Adadelta, LBFGS.

Each optimizer trains the same small model from the same weights in chainrule and in torch, and
the parameters are compared after every step.
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
import torch

import chainrule as cr
from chainrule import nn, optim

# ----- a small model trained beside torch ---------------------------------------------------


def _data(seed: int = 0, n: int = 16, d_in: int = 4, d_out: int = 2):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d_in))
    y = rng.normal(size=(n, d_out))
    return x, y


def _models(dtype, seed: int = 0):
    """A 4-8-2 tanh MLP in both libraries with the same weights (in ``dtype``)."""
    torch.manual_seed(seed)
    tm = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    tm = tm.to(torch.float64 if dtype == np.float64 else torch.float32)
    cm = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))
    cm.to(cr.float64 if dtype == np.float64 else cr.float32)
    cm.load_state_dict(
        {k: cr.tensor(v.detach().numpy().copy()) for k, v in tm.state_dict().items()}
    )
    return cm, tm


def train_beside_torch(
    name, kwargs, dtype=np.float64, steps=20, rtol=1e-9, atol=1e-12, torch_grads=False
):
    """``steps`` optimizer steps on an MSE regression in both libraries, compared each step.

    Each library computes its own gradients, unless ``torch_grads``: then chainrule's
    parameters are given torch's gradients, which isolates the optimizers' arithmetic (in
    float32 the two libraries' forward and backward passes round differently, and Adam-like
    updates, which divide a gradient by its running RMS, magnify those differences over steps).
    """
    x, y = _data()
    cm, tm = _models(dtype)
    cx, cy = cr.tensor(x.astype(dtype)), cr.tensor(y.astype(dtype))
    tx, ty = torch.from_numpy(x.astype(dtype)), torch.from_numpy(y.astype(dtype))
    opt = getattr(optim, name)(cm.parameters(), **kwargs)
    topt = getattr(torch.optim, name)(tm.parameters(), **dict(kwargs, foreach=False))
    for t in range(steps):
        opt.zero_grad()
        topt.zero_grad()
        torch.nn.functional.mse_loss(tm(tx), ty).backward()
        if torch_grads:
            for p, q in zip(cm.parameters(), tm.parameters()):
                p.grad = cr.tensor(q.grad.numpy().copy())
        else:
            cr.nn.functional.mse_loss(cm(cx), cy).backward()
        opt.step()
        topt.step()
        for i, (p, q) in enumerate(zip(cm.parameters(), tm.parameters())):
            assert p._data.dtype == np.dtype(dtype)
            np.testing.assert_allclose(
                p._data, q.detach().numpy(), rtol=rtol, atol=atol,
                err_msg=f"{name}{kwargs}: parameter {i} after step {t + 1}",
            )  # fmt: skip
    return opt, topt, cm, tm


# ----- the template -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [{"momentum": 0.9}, {"momentum": 0.9, "nesterov": True},
     {"momentum": 0.9, "dampening": 0.3, "weight_decay": 0.1},
     {"momentum": 0.9, "maximize": True}, {"momentum": 0.5, "weight_decay": 0.2,
                                           "nesterov": True, "maximize": True}],
)  # fmt: skip
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sgd_momentum_on_0dim_parameters_matches_torch(kwargs, dtype):
    # PyTorch's "dynamic_net" tutorial: a polynomial in five 0-dim parameters, SGD with momentum
    # (once the momentum buffer of a 0-dim parameter stopped accumulating, and training diverged)
    rng = np.random.default_rng(1)
    init = rng.normal(size=4).astype(dtype)
    x = np.linspace(-1, 1, 50).astype(dtype)
    y = np.sin(x).astype(dtype)
    ps = [nn.Parameter(cr.tensor(v)) for v in init]
    qs = [torch.nn.Parameter(torch.tensor(v)) for v in init]
    assert all(p.shape == () for p in ps)
    opt = optim.SGD(ps, lr=0.05, **kwargs)
    topt = torch.optim.SGD(qs, lr=0.05, **kwargs)
    cx, tx = cr.tensor(x), torch.from_numpy(x)
    cy, ty = cr.tensor(y), torch.from_numpy(y)
    for t in range(25):
        opt.zero_grad()
        topt.zero_grad()
        a, b, c, d = ps
        ((a + b * cx + c * cx**2 + d * cx**3 - cy) ** 2).mean().backward()
        a, b, c, d = qs
        ((a + b * tx + c * tx**2 + d * tx**3 - ty) ** 2).mean().backward()
        opt.step()
        topt.step()
        for p, q in zip(ps, qs):
            assert p.shape == () and p._data.dtype == dtype
            tol = 1e-5 if dtype == np.float32 else 1e-12
            np.testing.assert_allclose(p._data, q.detach().numpy(), rtol=tol, atol=tol)
            np.testing.assert_allclose(
                opt.state[p]["momentum_buffer"]._data,
                topt.state[q]["momentum_buffer"].numpy(), rtol=tol, atol=tol,
                err_msg=f"momentum buffer after step {t + 1}",
            )  # fmt: skip


ALL = ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "NAdam", "RAdam", "Adamax", "Adadelta"]
KW = {"SGD": {"lr": 0.1, "momentum": 0.9}, "RMSprop": {"momentum": 0.5, "centered": True}}


@pytest.mark.parametrize("name", ALL)
def test_0dim_and_empty_parameters_match_torch(name):
    kwargs = KW.get(name, {})
    ps = [nn.Parameter(cr.tensor(1.5, dtype=cr.float64)), nn.Parameter(cr.zeros(0, 3))]
    qs = [torch.nn.Parameter(torch.tensor(1.5, dtype=torch.float64)), torch.nn.Parameter(
        torch.zeros(0, 3))]  # fmt: skip
    opt = getattr(optim, name)(ps, **kwargs)
    topt = getattr(torch.optim, name)(qs, **kwargs)
    for _ in range(5):
        for o, (w, e) in ((opt, ps), (topt, qs)):
            o.zero_grad()
            (w**3 - 2 * w + e.sum()).backward()
            o.step()
        np.testing.assert_allclose(ps[0]._data, qs[0].detach().numpy(), rtol=1e-12)
        assert ps[0].shape == () and ps[1].shape == (0, 3)


@pytest.mark.parametrize("name", ALL)
def test_step_bumps_each_updated_parameter_version_once(name):
    a = cr.tensor([1.0, 2.0], requires_grad=True)
    b = cr.tensor([3.0], requires_grad=True)
    opt = getattr(optim, name)([a, b], **KW.get(name, {}))
    saved = a * a  # saves a for backward
    (a * a).sum().backward()
    va, vb = a._version, b._version
    opt.step()
    assert a._version == va + 1 and b._version == vb  # b had no gradient: not written
    with pytest.raises(RuntimeError):
        saved.sum().backward()  # a changed in place since `saved` recorded it


@pytest.mark.parametrize("name", ALL)
def test_step_never_writes_the_gradient_and_keeps_float32(name):
    w = cr.tensor(np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3), requires_grad=True)
    opt = getattr(optim, name)([w], **KW.get(name, {}))
    for _ in range(3):
        opt.zero_grad()
        (w * w * w).sum().backward()
        g = w.grad._data.copy()
        opt.step()
        np.testing.assert_array_equal(w.grad._data, g)
    assert w._data.dtype == np.float32
    for value in opt.state[w].values():
        if isinstance(value, cr.Tensor):
            assert value.dtype == np.float32


def test_closure_runs_with_grad_enabled_inside_no_grad():
    w = cr.tensor([2.0], requires_grad=True)
    opt = optim.NAdam([w], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    with cr.no_grad():
        loss = opt.step(closure)
    assert loss.item() == 4.0 and w.item() < 2.0


def test_scheduler_warns_for_a_custom_optimizer_only_when_stepped_first():
    class Plain(optim.Optimizer):  # a user's optimizer that writes its own step (as in torch)
        def __init__(self, params, lr=0.1):
            super().__init__(params, {"lr": lr})

        def step(self, closure=None):
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        p._mutate(lambda a, g=p.grad._data, lr=group["lr"]: a.__isub__(lr * g))

    w = cr.tensor([1.0], requires_grad=True)
    opt = Plain([w])
    sched = optim.lr_scheduler.StepLR(opt, step_size=1)
    (w * w).sum().backward()
    opt.step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sched.step()
    assert w.item() == pytest.approx(0.8)
    opt2 = optim.Adadelta([cr.tensor([1.0], requires_grad=True)])
    sched2 = optim.lr_scheduler.StepLR(opt2, step_size=1)
    with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
        sched2.step()
    opt3 = optim.SGD([cr.tensor([1.0], requires_grad=True)])
    sched3 = optim.lr_scheduler.StepLR(opt3, step_size=1)
    opt3.step = lambda closure=None: None  # replaced after the scheduler wrapped it
    with pytest.warns(UserWarning, match="overridden after learning rate scheduler"):
        sched3.step()


def test_an_optimizer_without_update_says_so():
    class Half(optim.Optimizer):
        pass

    w = cr.tensor([1.0], requires_grad=True)
    (w * w).sum().backward()
    with pytest.raises(NotImplementedError, match="Half must implement _update"):
        Half([w], {"lr": 0.1}).step()


# ----- the new optimizers beside torch, step by step ----------------------------------------

NEW_CASES = [
    ("NAdam", {"lr": 0.01}),
    ("NAdam", {"lr": 0.01, "betas": (0.5, 0.8), "eps": 1e-4, "momentum_decay": 0.1}),
    ("NAdam", {"lr": 0.01, "weight_decay": 0.1}),
    ("NAdam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("NAdam", {"lr": 0.01, "weight_decay": 0.05, "maximize": True}),
    ("RAdam", {"lr": 0.01}),
    ("RAdam", {"lr": 0.01, "betas": (0.8, 0.9)}),  # rho_t > 5 from step 6: rectified steps
    ("RAdam", {"lr": 0.01, "betas": (0.8, 0.9), "weight_decay": 0.1}),
    ("RAdam", {"lr": 0.01, "betas": (0.8, 0.9), "weight_decay": 0.1,
               "decoupled_weight_decay": True}),
    ("RAdam", {"lr": 0.01, "betas": (0.7, 0.8), "eps": 1e-3, "maximize": True}),
    ("Adamax", {}),
    ("Adamax", {"lr": 0.05, "betas": (0.5, 0.7), "eps": 1e-3}),
    ("Adamax", {"lr": 0.05, "weight_decay": 0.1}),
    ("Adamax", {"lr": 0.05, "weight_decay": 0.1, "maximize": True}),
    ("Adadelta", {}),
    ("Adadelta", {"lr": 0.5, "rho": 0.5, "eps": 1e-3}),
    ("Adadelta", {"lr": 0.5, "weight_decay": 0.1}),
    ("Adadelta", {"lr": 0.5, "rho": 0.0, "maximize": True}),
    ("Adadelta", {"lr": 0.5, "rho": 1.0}),
]  # fmt: skip
OLD_CASES = [
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    ("Adam", {"lr": 0.01, "amsgrad": True, "weight_decay": 0.01}),
    ("AdamW", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01, "centered": True, "momentum": 0.5}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.01}),
]


@pytest.mark.parametrize("name,kwargs", NEW_CASES + OLD_CASES, ids=str)
def test_trains_like_torch_float64(name, kwargs):
    train_beside_torch(name, kwargs)


@pytest.mark.parametrize("name,kwargs", NEW_CASES + OLD_CASES, ids=str)
def test_trains_like_torch_float32(name, kwargs):
    opt, _, cm, _ = train_beside_torch(
        name, kwargs, dtype=np.float32, rtol=1e-5, atol=1e-6, torch_grads=True
    )
    for p in cm.parameters():
        for value in opt.state[p].values():
            if isinstance(value, cr.Tensor):
                assert value.dtype == np.float32


@pytest.mark.parametrize("name", ["NAdam", "RAdam", "Adamax", "Adadelta"])
def test_param_groups_with_their_own_options_match_torch(name):
    x, y = _data()
    cm, tm = _models(np.float64)
    extra = {"NAdam": {"momentum_decay": 0.05}, "RAdam": {"betas": (0.8, 0.9)},
             "Adamax": {"betas": (0.5, 0.9)}, "Adadelta": {"rho": 0.5}}[name]  # fmt: skip
    cps, tps = list(cm.parameters()), list(tm.parameters())
    opt = getattr(optim, name)([{"params": cps[:2]}, {"params": cps[2:], "lr": 0.03, **extra}])
    topt = getattr(torch.optim, name)(
        [{"params": tps[:2]}, {"params": tps[2:], "lr": 0.03, **extra}]
    )
    for _ in range(10):
        opt.zero_grad()
        topt.zero_grad()
        cr.nn.functional.mse_loss(cm(cr.tensor(x)), cr.tensor(y)).backward()
        torch.nn.functional.mse_loss(tm(torch.from_numpy(x)), torch.from_numpy(y)).backward()
        opt.step()
        topt.step()
    for p, q in zip(cps, tps):
        np.testing.assert_allclose(p._data, q.detach().numpy(), rtol=1e-10, atol=1e-13)


STATEFUL = [("NAdam", {"lr": 0.01}), ("RAdam", {"lr": 0.01, "betas": (0.8, 0.9)}),
            ("Adamax", {"lr": 0.05}), ("Adadelta", {"lr": 0.5})]  # fmt: skip


@pytest.mark.parametrize("name,kwargs", STATEFUL, ids=str)
def test_new_state_dict_layout_matches_torch(name, kwargs):
    opt, topt, _, _ = train_beside_torch(name, kwargs, steps=3)
    sd, tsd = opt.state_dict(), topt.state_dict()
    assert sd["state"].keys() == tsd["state"].keys()
    for k, st in sd["state"].items():
        assert st.keys() == tsd["state"][k].keys()
        for key, value in st.items():
            np.testing.assert_allclose(
                np.asarray(value), tsd["state"][k][key].numpy(), rtol=1e-10, atol=1e-14
            )
    for g, tg in zip(sd["param_groups"], tsd["param_groups"]):
        for key in g:
            assert g[key] == tg[key], key


@pytest.mark.parametrize("name,kwargs", STATEFUL, ids=str)
def test_new_state_dict_round_trip_continues_identically(name, kwargs, tmp_path):
    x, y = cr.tensor(_data()[0]), cr.tensor(_data()[1])
    cm, _ = _models(np.float64)
    opt = getattr(optim, name)(cm.parameters(), **kwargs)

    def train(model, o, steps):
        for _ in range(steps):
            o.zero_grad()
            cr.nn.functional.mse_loss(model(x), y).backward()
            o.step()

    train(cm, opt, 5)
    cr.save(opt.state_dict(), tmp_path / "opt.pt")
    clone = copy.deepcopy(cm)
    opt2 = getattr(optim, name)(clone.parameters(), lr=123.0)
    opt2.load_state_dict(cr.load(tmp_path / "opt.pt"))
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    train(cm, opt, 5)
    train(clone, opt2, 5)
    for p, q in zip(cm.parameters(), clone.parameters()):
        np.testing.assert_array_equal(p._data, q._data)


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda p: optim.NAdam(p, lr=-1.0), "Invalid learning rate: -1.0"),
        (lambda p: optim.NAdam(p, betas=(1.0, 0.9)), "Invalid beta parameter at index 0: 1.0"),
        (lambda p: optim.NAdam(p, momentum_decay=-0.1), "Invalid momentum_decay value: -0.1"),
        (lambda p: optim.NAdam(p, weight_decay=-0.1), "Invalid weight_decay value: -0.1"),
        (lambda p: optim.RAdam(p, eps=-1.0), "Invalid epsilon value: -1.0"),
        (lambda p: optim.RAdam(p, betas=(0.9, 1.5)), "Invalid beta parameter at index 1: 1.5"),
        (lambda p: optim.Adamax(p, betas=(-0.1, 0.9)), "Invalid beta parameter at index 0"),
        (lambda p: optim.Adamax(p, weight_decay=-2), "Invalid weight_decay value: -2"),
        (lambda p: optim.Adadelta(p, rho=1.5), "Invalid rho value: 1.5"),
        (lambda p: optim.Adadelta(p, lr=-0.5), "Invalid learning rate: -0.5"),
        (lambda p: optim.LBFGS(p, lr=-1), "Invalid learning rate: -1"),
        (lambda p: optim.LBFGS(p, line_search_fn="armijo"), "only 'strong_wolfe' is supported"),
    ],
)
def test_invalid_settings_say_which(make, match):
    with pytest.raises(ValueError, match=match):
        make([cr.tensor([1.0], requires_grad=True)])


def test_defaults_are_torchs():
    w, tw = cr.tensor([1.0], requires_grad=True), torch.tensor([1.0], requires_grad=True)
    for name in ["NAdam", "RAdam", "Adamax", "Adadelta", "LBFGS"]:
        ours = getattr(optim, name)([w]).defaults
        theirs = getattr(torch.optim, name)([tw]).defaults
        for key, value in ours.items():
            assert theirs[key] == value, (name, key)
        assert {k for k in theirs if k not in ours} <= {
            "foreach", "capturable", "differentiable", "fused"
        }, name  # fmt: skip


# ----- LBFGS ----------------------------------------------------------------------------


def _rosenbrock(x, y):
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2


def _lbfgs_beside_torch(make_loss, init, kwargs, steps, dtype=np.float64):
    """``steps`` LBFGS steps in both libraries; returns the points each closure evaluated at."""
    cps = [cr.tensor(np.asarray(v, dtype=dtype), requires_grad=True) for v in init]
    tps = [torch.tensor(np.asarray(v, dtype=dtype), requires_grad=True) for v in init]
    opt, topt = optim.LBFGS(cps, **kwargs), torch.optim.LBFGS(tps, **kwargs)
    seen: dict[str, list[np.ndarray]] = {"cr": [], "torch": []}

    def closure():
        opt.zero_grad()
        seen["cr"].append(np.concatenate([p._data.ravel() for p in cps]))
        loss = make_loss(*cps)
        loss.backward()
        return loss

    def tclosure():
        topt.zero_grad()
        seen["torch"].append(np.concatenate([p.detach().numpy().ravel() for p in tps]))
        loss = make_loss(*tps)
        loss.backward()
        return loss

    losses = []
    for _ in range(steps):
        loss, tloss = opt.step(closure), topt.step(tclosure)
        losses.append((loss.item(), tloss.item()))
        assert all(p._data.dtype == np.dtype(dtype) for p in cps)
    return opt, topt, cps, tps, seen, losses


ROSENBROCK_CASES = [(None, np.float64), ("strong_wolfe", np.float64), (None, np.float32)]


@pytest.mark.parametrize("line_search_fn,dtype", ROSENBROCK_CASES, ids=str)
def test_lbfgs_on_rosenbrock_follows_torchs_iterates(line_search_fn, dtype):
    kwargs = {"line_search_fn": line_search_fn, "max_iter": 10, "history_size": 5}
    if line_search_fn is None:
        kwargs["lr"] = 0.05  # a fixed step must be short on Rosenbrock's valley
    opt, topt, cps, tps, seen, losses = _lbfgs_beside_torch(
        lambda xy: _rosenbrock(xy[0], xy[1]), [[-1.2, 1.0]], kwargs, steps=6, dtype=dtype
    )
    rtol = 1e-9 if dtype == np.float64 else 1e-5
    assert len(seen["cr"]) == len(seen["torch"]) > 40  # every closure call, in the same order
    np.testing.assert_allclose(np.stack(seen["cr"]), np.stack(seen["torch"]), rtol=rtol, atol=rtol)
    np.testing.assert_allclose(*zip(*losses), rtol=rtol, atol=rtol)
    st, tst = opt.state[cps[0]], topt.state[tps[0]]
    assert (st["func_evals"], st["n_iter"]) == (tst["func_evals"], tst["n_iter"])
    if line_search_fn == "strong_wolfe":
        assert _rosenbrock(*cps[0].tolist()) < 1e-8  # it found the minimum at (1, 1)


def test_lbfgs_strong_wolfe_on_rosenbrock_in_float32_reaches_torchs_minimum():
    # In float32 the two libraries' dot products (BLAS) round differently in the last bit, and
    # on Rosenbrock's ill-conditioned valley the line search magnifies that after ~8
    # evaluations; both must still walk the valley to the minimum in as many evaluations.
    kwargs = {"line_search_fn": "strong_wolfe", "max_iter": 10, "history_size": 5}
    opt, topt, cps, tps, seen, _ = _lbfgs_beside_torch(
        lambda xy: _rosenbrock(xy[0], xy[1]), [[-1.2, 1.0]], kwargs, steps=6, dtype=np.float32
    )
    n = 8
    np.testing.assert_allclose(np.stack(seen["cr"][:n]), np.stack(seen["torch"][:n]), rtol=1e-6)
    np.testing.assert_allclose(cps[0]._data, [1.0, 1.0], atol=1e-5)
    np.testing.assert_allclose(tps[0].detach().numpy(), [1.0, 1.0], atol=1e-5)
    assert abs(len(seen["cr"]) - len(seen["torch"])) <= 5


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_lbfgs_on_a_tiny_regression_follows_torchs_iterates(line_search_fn, dtype):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 3))
    y = x @ np.array([[1.0], [-2.0], [0.5]]) + 0.3 + 0.05 * rng.normal(size=(20, 1))
    x, y = x.astype(dtype), y.astype(dtype)

    def loss_fn(w, b):
        lib = cr if isinstance(w, cr.Tensor) else torch
        xs = lib.tensor(x) if lib is cr else torch.from_numpy(x)
        ys = lib.tensor(y) if lib is cr else torch.from_numpy(y)
        return (((xs @ w + b) - ys) ** 2).mean()

    kwargs = {"line_search_fn": line_search_fn, "max_iter": 5, "history_size": 3}
    init = [rng.normal(size=(3, 1)), np.zeros(1)]
    opt, topt, cps, tps, seen, losses = _lbfgs_beside_torch(loss_fn, init, kwargs, 4, dtype)
    tol = 1e-9 if dtype == np.float64 else 1e-5
    assert len(seen["cr"]) == len(seen["torch"]) > 8
    np.testing.assert_allclose(np.stack(seen["cr"]), np.stack(seen["torch"]), rtol=tol, atol=tol)
    for p, q in zip(cps, tps):
        np.testing.assert_allclose(p._data, q.detach().numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(cps[0]._data.ravel(), [1.0, -2.0, 0.5], atol=0.05)


def test_lbfgs_state_dict_matches_torch_and_round_trips(tmp_path):
    kwargs = {"line_search_fn": "strong_wolfe", "max_iter": 3, "history_size": 4}
    opt, topt, cps, tps, _, _ = _lbfgs_beside_torch(
        lambda xy: _rosenbrock(xy[0], xy[1]), [[-1.2, 1.0]], kwargs, steps=2
    )
    sd, tsd = opt.state_dict(), topt.state_dict()
    assert sd["state"][0].keys() == tsd["state"][0].keys()
    for key, value in sd["state"][0].items():
        theirs = tsd["state"][0][key]
        if isinstance(value, list):
            assert len(value) == len(theirs), key
            for v, tv in zip(value, theirs):
                assert (v is None) == (tv is None), key
                if v is not None:
                    np.testing.assert_allclose(np.asarray(v), np.asarray(tv), rtol=1e-9)
        else:
            np.testing.assert_allclose(np.asarray(value), np.asarray(theirs), rtol=1e-9)
    assert sd["param_groups"][0] == {k: v for k, v in tsd["param_groups"][0].items()}
    # save, load into a fresh optimizer on a copy, and both continue alike
    cr.save(sd, tmp_path / "lbfgs.pt")
    clone = cr.tensor(cps[0]._data.copy(), requires_grad=True)
    opt2 = optim.LBFGS([clone], lr=7.0)
    opt2.load_state_dict(cr.load(tmp_path / "lbfgs.pt"))

    def closure_for(o, w):
        def closure():
            o.zero_grad()
            loss = _rosenbrock(w[0], w[1])
            loss.backward()
            return loss

        return closure

    for _ in range(2):
        opt.step(closure_for(opt, cps[0]))
        opt2.step(closure_for(opt2, clone))
    np.testing.assert_array_equal(cps[0]._data, clone._data)


def test_lbfgs_needs_a_closure_and_one_group():
    a, b = cr.tensor([1.0], requires_grad=True), cr.tensor([2.0], requires_grad=True)
    with pytest.raises(ValueError, match="doesn't support per-parameter options"):
        optim.LBFGS([{"params": [a]}, {"params": [b]}])
    opt = optim.LBFGS([a])
    with pytest.raises(ValueError, match="doesn't support per-parameter options"):
        opt.add_param_group({"params": [b]})
    with pytest.raises(TypeError, match="needs a closure"):
        opt.step(None)


def test_lbfgs_stops_at_once_when_already_optimal_and_skips_missing_grads():
    w = cr.tensor([1.0, 1.0], dtype=cr.float64, requires_grad=True)
    frozen = cr.tensor([5.0], dtype=cr.float64, requires_grad=True)  # gets no gradient
    opt = optim.LBFGS([w, frozen])
    calls = []

    def closure():
        opt.zero_grad()
        calls.append(1)
        loss = ((w - 1) ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    assert len(calls) == 1 and w.tolist() == [1.0, 1.0]
    w._mutate(lambda a: a.__setitem__(..., [3.0, -1.0]))
    opt.step(closure)
    np.testing.assert_allclose(w._data, [1.0, 1.0], atol=1e-7)
    assert frozen.tolist() == [5.0]


def test_lbfgs_works_with_a_scheduler_without_warning():
    w = cr.tensor([3.0], dtype=cr.float64, requires_grad=True)
    opt = optim.LBFGS([w], lr=0.5)
    sched = optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sched.step()
    assert opt.param_groups[0]["lr"] == 0.25
