"""chainrule.optim.lr_scheduler beside torch.optim.lr_scheduler, step for step.

Each schedule runs on a chainrule optimizer and a torch optimizer with the same two parameter
groups; after every step the learning rates (and, for OneCycleLR, the momentum / beta1) must
agree to 1e-12.
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
import torch
from torch.optim import lr_scheduler as TS

import chainrule as cr
from chainrule import optim
from chainrule.optim import lr_scheduler as S

LRS = (0.1, 0.02)


def make_pair(opt_name="SGD", **kwargs):
    cr_groups = [{"params": [cr.tensor([1.0], requires_grad=True)], "lr": lr} for lr in LRS]
    th_groups = [{"params": [torch.tensor([1.0], requires_grad=True)], "lr": lr} for lr in LRS]
    return getattr(optim, opt_name)(cr_groups, **kwargs), getattr(torch.optim, opt_name)(
        th_groups, **kwargs
    )


def assert_same_groups(opt, topt, step, keys=("lr",)):
    for g, tg in zip(opt.param_groups, topt.param_groups):
        for key in keys:
            a, b = g[key], tg[key]
            if isinstance(a, tuple):
                np.testing.assert_allclose(a, b, rtol=1e-12, atol=0, err_msg=f"{key} step {step}")
            else:
                assert a == pytest.approx(b, rel=1e-12, abs=1e-300), f"{key} step {step}"


def run_pair(make, steps=30, opt_name="SGD", opt_kwargs=None, keys=("lr",)):
    opt, topt = make_pair(opt_name, **(opt_kwargs or {}))
    sched, tsched = make(S, opt), make(TS, topt)
    assert_same_groups(opt, topt, 0, keys)
    lrs = []
    for step in range(1, steps + 1):
        opt.step()
        topt.step()
        sched.step()
        tsched.step()
        assert_same_groups(opt, topt, step, keys)
        np.testing.assert_allclose(sched.get_last_lr(), tsched.get_last_lr(), rtol=1e-12)
        assert getattr(sched, "last_epoch", None) == getattr(tsched, "last_epoch", None)
        lrs.append(sched.get_last_lr()[0])
    return sched, tsched, lrs


SCHEDULES = {
    "StepLR": lambda M, o: M.StepLR(o, step_size=4, gamma=0.5),
    "MultiStepLR": lambda M, o: M.MultiStepLR(o, milestones=[3, 7, 7, 15], gamma=0.3),
    "ExponentialLR": lambda M, o: M.ExponentialLR(o, gamma=0.9),
    "CosineAnnealingLR": lambda M, o: M.CosineAnnealingLR(o, T_max=10),
    "CosineAnnealingLR-eta_min": lambda M, o: M.CosineAnnealingLR(o, T_max=7, eta_min=0.001),
    "LinearLR": lambda M, o: M.LinearLR(o, start_factor=0.1, end_factor=0.9, total_iters=12),
    "LinearLR-decay": lambda M, o: M.LinearLR(o, start_factor=1.0, end_factor=0.05,
                                              total_iters=8),
    "ConstantLR": lambda M, o: M.ConstantLR(o, factor=0.4, total_iters=6),
    "PolynomialLR": lambda M, o: M.PolynomialLR(o, total_iters=15, power=2.5),
    "LambdaLR": lambda M, o: M.LambdaLR(o, lr_lambda=lambda e: 1 / (1 + 0.3 * e)),
    "LambdaLR-per-group": lambda M, o: M.LambdaLR(
        o, lr_lambda=[lambda e: 0.95**e, lambda e: (e % 5 + 1) / 5]),
    "MultiplicativeLR": lambda M, o: M.MultiplicativeLR(o, lr_lambda=lambda e: 0.9 + 0.01 * e),
    "OneCycleLR": lambda M, o: M.OneCycleLR(o, max_lr=1.0, total_steps=31),
    "OneCycleLR-linear": lambda M, o: M.OneCycleLR(
        o, max_lr=[0.5, 2.0], epochs=5, steps_per_epoch=7, anneal_strategy="linear",
        pct_start=0.25),
    "OneCycleLR-three-phase": lambda M, o: M.OneCycleLR(
        o, max_lr=0.8, total_steps=40, three_phase=True, div_factor=10.0,
        final_div_factor=100.0, base_momentum=[0.8, 0.7], max_momentum=0.9),
    "OneCycleLR-no-momentum": lambda M, o: M.OneCycleLR(
        o, max_lr=0.3, total_steps=30, cycle_momentum=False),
}  # fmt: skip


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_schedule_matches_torch(name):
    keys = ("lr", "momentum") if name.startswith("OneCycleLR") else ("lr",)
    run_pair(SCHEDULES[name], steps=30, opt_kwargs={"momentum": 0.9}, keys=keys)


def test_one_cycle_cycles_adam_beta1_like_torch():
    make = lambda M, o: M.OneCycleLR(o, max_lr=0.01, total_steps=25)  # noqa: E731
    run_pair(make, steps=24, opt_name="Adam", keys=("lr", "betas"))


def test_one_cycle_refuses_to_step_past_total_steps():
    opt, _ = make_pair(momentum=0.9)
    sched = S.OneCycleLR(opt, max_lr=1.0, total_steps=3)
    for _ in range(3):
        opt.step()
        sched.step()
    with pytest.raises(ValueError, match="Tried to step 4 times"):
        sched.step()


def test_cosine_annealing_decreases_toward_the_end_seed_001():
    _, _, lrs = run_pair(lambda M, o: M.CosineAnnealingLR(o, T_max=20), steps=20)
    assert all(a > b for a, b in zip(lrs, lrs[1:]))
    assert lrs[-1] == pytest.approx(0.0, abs=1e-15)


# ----- combinations -------------------------------------------------------------------------


def test_two_chainable_schedulers_on_one_optimizer():
    def make(M, o):
        return [M.LinearLR(o, start_factor=0.2, total_iters=5), M.CosineAnnealingLR(o, T_max=25)]

    opt, topt = make_pair(momentum=0.9)
    scheds, tscheds = make(S, opt), make(TS, topt)
    for step in range(30):
        opt.step()
        topt.step()
        for s, ts in zip(scheds, tscheds):
            s.step()
            ts.step()
        assert_same_groups(opt, topt, step)


def test_sequential_lr_matches_torch():
    def make(M, o):
        warm = M.LinearLR(o, start_factor=0.1, total_iters=5)
        flat = M.ConstantLR(o, factor=0.5, total_iters=4)
        decay = M.ExponentialLR(o, gamma=0.8)
        return M.SequentialLR(o, schedulers=[warm, flat, decay], milestones=[5, 12])

    run_pair(make, steps=30)


def test_chained_scheduler_matches_torch():
    def make(M, o):
        return M.ChainedScheduler([M.ConstantLR(o, factor=0.3, total_iters=4),
                                   M.ExponentialLR(o, gamma=0.9)])  # fmt: skip

    run_pair(make, steps=25)


@pytest.mark.parametrize(
    "opt_name,opt_kwargs,sched",
    [
        ("SGD", {"momentum": 0.9, "nesterov": True},
         lambda M, o: M.OneCycleLR(o, max_lr=0.2, total_steps=21)),
        ("Adam", {}, lambda M, o: M.OneCycleLR(o, max_lr=0.05, total_steps=21)),
        ("AdamW", {"weight_decay": 0.1}, lambda M, o: M.CosineAnnealingLR(o, T_max=20)),
        ("RMSprop", {"momentum": 0.5}, lambda M, o: M.StepLR(o, step_size=3, gamma=0.5)),
    ],
)  # fmt: skip
def test_training_with_a_schedule_matches_torch(opt_name, opt_kwargs, sched):
    rng = np.random.default_rng(5)
    a = rng.normal(size=(4, 3))
    target = rng.normal(size=(6, 3))
    x = rng.normal(size=(6, 4))
    w = cr.tensor(a.copy(), requires_grad=True)
    tw = torch.tensor(a.copy(), requires_grad=True)
    opt = getattr(optim, opt_name)([w], lr=0.01, **opt_kwargs)
    topt = getattr(torch.optim, opt_name)([tw], lr=0.01, foreach=False, **opt_kwargs)
    s, ts = sched(S, opt), sched(TS, topt)
    for step in range(20):
        opt.zero_grad()
        topt.zero_grad()
        ((cr.tensor(x) @ w - cr.tensor(target)) ** 2).mean().backward()
        ((torch.tensor(x) @ tw - torch.tensor(target)) ** 2).mean().backward()
        opt.step()
        topt.step()
        s.step()
        ts.step()
        np.testing.assert_allclose(
            w._data, tw.detach().numpy(), rtol=1e-10, atol=1e-12, err_msg=f"step {step}"
        )


# ----- ReduceLROnPlateau --------------------------------------------------------------------

METRICS = [5.0, 4.0, 4.0, 3.9999, 4.1, 4.0, 3.0, 3.0, 3.0, 3.0, 2.9, 2.95, 3.0, 3.0, 3.0,
           3.0, 3.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1]  # fmt: skip


@pytest.mark.parametrize(
    "kwargs,sign",
    [
        ({}, 1),
        ({"patience": 1, "factor": 0.5}, 1),
        ({"patience": 2, "factor": 0.3, "threshold": 0.05, "threshold_mode": "abs"}, 1),
        ({"patience": 1, "cooldown": 2, "factor": 0.5, "min_lr": [0.01, 0.005]}, 1),
        ({"patience": 0, "factor": 0.5, "min_lr": 0.009, "eps": 2e-3}, 1),
        ({"mode": "max", "patience": 1, "factor": 0.5, "threshold": 0.01}, -1),
        ({"mode": "max", "patience": 2, "threshold_mode": "abs", "cooldown": 1}, -1),
    ],
)  # fmt: skip
def test_reduce_on_plateau_matches_torch(kwargs, sign):
    opt, topt = make_pair()
    sched, tsched = S.ReduceLROnPlateau(opt, **kwargs), TS.ReduceLROnPlateau(topt, **kwargs)
    for step, m in enumerate(METRICS):
        sched.step(sign * m)
        tsched.step(sign * m)
        assert_same_groups(opt, topt, step)
        assert sched.get_last_lr() == tsched.get_last_lr()
        assert (sched.best, sched.num_bad_epochs, sched.cooldown_counter) == (
            tsched.best, tsched.num_bad_epochs, tsched.cooldown_counter)  # fmt: skip
    assert opt.param_groups[0]["lr"] < LRS[0] or kwargs.get("patience", 10) >= 10


def test_reduce_on_plateau_accepts_a_tensor_metric_and_checks_options():
    opt, _ = make_pair()
    sched = S.ReduceLROnPlateau(opt, patience=0)
    sched.step(cr.tensor(1.0))
    sched.step(cr.tensor(2.0))
    assert sched.get_last_lr() == pytest.approx([0.01, 0.002])
    with pytest.raises(ValueError, match="Factor should be < 1.0"):
        S.ReduceLROnPlateau(opt, factor=1.5)
    with pytest.raises(ValueError, match="mode 'up' is unknown"):
        S.ReduceLROnPlateau(opt, mode="up")
    with pytest.raises(ValueError, match="expected 2 min_lrs, got 3"):
        S.ReduceLROnPlateau(opt, min_lr=[0, 0, 0])


# ----- state, warnings, errors --------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["StepLR", "MultiStepLR", "CosineAnnealingLR", "LinearLR", "OneCycleLR"]
)
def test_state_dict_round_trip_continues_identically(name):
    opt, _ = make_pair(momentum=0.9)
    sched = SCHEDULES[name](S, opt)
    for _ in range(7):
        opt.step()
        sched.step()
    opt_sd, sd = copy.deepcopy(opt.state_dict()), copy.deepcopy(sched.state_dict())
    assert "optimizer" not in sd
    opt2, _ = make_pair(momentum=0.9)
    sched2 = SCHEDULES[name](S, opt2)
    opt2.load_state_dict(opt_sd)
    sched2.load_state_dict(sd)
    for _ in range(15):
        for o, s in ((opt, sched), (opt2, sched2)):
            o.step()
            s.step()
        assert sched.get_last_lr() == sched2.get_last_lr()
        assert [g["lr"] for g in opt.param_groups] == [g["lr"] for g in opt2.param_groups]


def test_initial_lr_is_recorded_and_resuming_needs_it():
    opt, _ = make_pair()
    sched = S.ExponentialLR(opt, gamma=0.5)
    assert [g["initial_lr"] for g in opt.param_groups] == list(LRS) == sched.base_lrs
    fresh, _ = make_pair()
    with pytest.raises(KeyError, match="initial_lr"):
        S.StepLR(fresh, step_size=2, last_epoch=3)


def test_deprecated_epoch_argument_uses_the_closed_form_like_torch():
    opt, topt = make_pair()
    sched, tsched = S.StepLR(opt, step_size=3, gamma=0.5), TS.StepLR(topt, step_size=3, gamma=0.5)
    opt.step()
    topt.step()
    with pytest.warns(UserWarning, match="epoch parameter"):
        sched.step(7)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tsched.step(7)
    assert_same_groups(opt, topt, 7)


def test_scheduler_stepped_before_optimizer_warns():
    opt, _ = make_pair()
    sched = S.StepLR(opt, step_size=2)
    with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
        sched.step()
    opt2, _ = make_pair()
    sched2 = S.StepLR(opt2, step_size=2)
    opt2.step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sched2.step()


def test_scheduler_needs_an_optimizer():
    with pytest.raises(TypeError, match="is not an Optimizer"):
        S.StepLR(object(), step_size=1)
    opt, _ = make_pair()
    with pytest.raises(ValueError, match="start_factor|Starting multiplicative factor"):
        S.LinearLR(opt, start_factor=0.0)
    with pytest.raises(ValueError, match="either total_steps OR"):
        S.OneCycleLR(opt, max_lr=1.0)
    adagrad = optim.Adagrad([cr.tensor([1.0], requires_grad=True)])
    with pytest.raises(ValueError, match="must support momentum or beta1"):
        S.OneCycleLR(adagrad, max_lr=1.0, total_steps=10)


# ----- CosineAnnealingWarmRestarts and CyclicLR ---------------------------------------------

CYCLIC = {
    "CAWR": lambda M, o: M.CosineAnnealingWarmRestarts(o, T_0=10),
    "CAWR-mult-eta": lambda M, o: M.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2,
                                                                 eta_min=0.001),
    "CAWR-T0-1": lambda M, o: M.CosineAnnealingWarmRestarts(o, T_0=1, T_mult=3),
    "CyclicLR": lambda M, o: M.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=5),
    "CyclicLR-triangular2-per-group": lambda M, o: M.CyclicLR(
        o, base_lr=[0.01, 0.002], max_lr=[0.1, 0.05], step_size_up=4, step_size_down=7,
        mode="triangular2", base_momentum=[0.8, 0.85], max_momentum=0.95),
    "CyclicLR-exp_range": lambda M, o: M.CyclicLR(
        o, base_lr=0.001, max_lr=0.01, step_size_up=6, mode="exp_range", gamma=0.97),
    "CyclicLR-scale_fn-cycle": lambda M, o: M.CyclicLR(
        o, base_lr=0.01, max_lr=0.2, step_size_up=3, step_size_down=2,
        scale_fn=lambda x: 1 / x, scale_mode="cycle"),
    "CyclicLR-scale_fn-iterations": lambda M, o: M.CyclicLR(
        o, base_lr=0.01, max_lr=0.2, step_size_up=4, scale_fn=lambda x: 0.99**x,
        scale_mode="iterations"),
    "CyclicLR-no-momentum": lambda M, o: M.CyclicLR(
        o, base_lr=0.05, max_lr=0.5, step_size_up=3, cycle_momentum=False),
}  # fmt: skip


@pytest.mark.parametrize("name", list(CYCLIC))
def test_cyclic_schedules_match_torch_for_60_steps(name):
    keys = ("lr", "momentum") if name.startswith("CyclicLR") else ("lr",)
    sched, tsched, lrs = run_pair(CYCLIC[name], steps=60, opt_kwargs={"momentum": 0.9},
                                  keys=keys)  # fmt: skip
    assert max(lrs) > min(lrs)
    if name.startswith("CAWR"):
        assert (sched.T_cur, sched.T_i) == (tsched.T_cur, tsched.T_i)


@pytest.mark.parametrize("mode", ["triangular", "exp_range"])
def test_cyclic_lr_cycles_adam_beta1_like_torch(mode):
    make = lambda M, o: M.CyclicLR(o, base_lr=0.001, max_lr=0.01, step_size_up=4,  # noqa: E731
                                   mode=mode, gamma=0.95, base_momentum=0.85,
                                   max_momentum=0.95)  # fmt: skip
    run_pair(make, steps=45, opt_name="Adam", keys=("lr", "betas"))


def test_cyclic_lr_sets_the_base_rate_and_momentum_at_creation():
    opt, topt = make_pair(momentum=0.5)
    S.CyclicLR(opt, base_lr=0.003, max_lr=0.03, base_momentum=0.7, max_momentum=0.9)
    TS.CyclicLR(topt, base_lr=0.003, max_lr=0.03, base_momentum=0.7, max_momentum=0.9)
    assert_same_groups(opt, topt, 0, ("lr", "momentum", "initial_lr", "max_momentum",
                                      "base_momentum"))  # fmt: skip
    assert [g["lr"] for g in opt.param_groups] == [0.003, 0.003]


def test_cosine_warm_restarts_fractional_and_explicit_epochs_match_torch():
    for kwargs in ({"T_0": 4}, {"T_0": 3, "T_mult": 2, "eta_min": 0.005}):
        opt, topt = make_pair()
        sched = S.CosineAnnealingWarmRestarts(opt, **kwargs)
        tsched = TS.CosineAnnealingWarmRestarts(topt, **kwargs)
        iters = 7
        epochs = [e + i / iters for e in range(12) for i in range(iters)]
        epochs += [26, None, None, 5.5, None, 0, None, 40.25, 3]  # interleaved, as torch allows
        for step, epoch in enumerate(epochs):
            opt.step()
            topt.step()
            sched.step(epoch)
            tsched.step(epoch)
            assert_same_groups(opt, topt, step)
            assert sched.get_last_lr() == pytest.approx(tsched.get_last_lr(), rel=1e-12)
            assert (sched.last_epoch, sched.T_i) == (tsched.last_epoch, tsched.T_i)
            assert sched.T_cur == pytest.approx(tsched.T_cur, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("name", list(CYCLIC))
def test_cyclic_state_dict_round_trip_and_torch_keys(name):
    opt, topt = make_pair(momentum=0.9)
    sched, tsched = CYCLIC[name](S, opt), CYCLIC[name](TS, topt)
    assert sorted(sched.state_dict()) == sorted(tsched.state_dict())
    for _ in range(9):
        opt.step()
        sched.step()
        topt.step()
        tsched.step()
    opt_sd, sd = copy.deepcopy(opt.state_dict()), copy.deepcopy(sched.state_dict())
    assert "optimizer" not in sd
    # ours into a fresh one of ours, and torch's into another: both continue identically
    opt2, _ = make_pair(momentum=0.9)
    sched2 = CYCLIC[name](S, opt2)
    opt2.load_state_dict(opt_sd)
    sched2.load_state_dict(sd)
    opt3, _ = make_pair(momentum=0.9)
    sched3 = CYCLIC[name](S, opt3)
    opt3.load_state_dict(opt_sd)
    tsd = tsched.state_dict()
    sched3.load_state_dict({k: (list(v) if isinstance(v, list) else v) for k, v in tsd.items()})
    for step in range(40):
        for o, s in ((opt, sched), (opt2, sched2), (opt3, sched3), (topt, tsched)):
            o.step()
            s.step()
        assert sched.get_last_lr() == sched2.get_last_lr()
        assert sched3.get_last_lr() == pytest.approx(tsched.get_last_lr(), rel=1e-12)
        assert_same_groups(opt3, topt, step)


def test_cyclic_lr_saves_callable_objects_but_not_lambdas_like_torch():
    class Halve:
        def __init__(self):
            self.factor = 0.5

        def __call__(self, x):
            return self.factor**x

    opt, _ = make_pair(momentum=0.9)
    fn = Halve()
    sched = S.CyclicLR(opt, 0.01, 0.1, step_size_up=2, scale_fn=fn)
    sd = sched.state_dict()
    assert sd["_scale_fn_custom"] == {"factor": 0.5}
    fn.factor = 0.9
    sched.load_state_dict(sd)
    assert fn.factor == 0.5 and "_scale_fn_custom" in sd  # the caller's dict is left alone
    lam = S.CyclicLR(opt, 0.01, 0.1, scale_fn=lambda x: 1.0).state_dict()
    assert lam["_scale_fn_custom"] is None


def test_cyclic_schedulers_check_their_arguments():
    opt, _ = make_pair(momentum=0.9)
    with pytest.raises(
        ValueError, match="CosineAnnealingWarmRestarts: .*positive integer T_0, but got 0"
    ):
        S.CosineAnnealingWarmRestarts(opt, T_0=0)
    with pytest.raises(ValueError, match="CosineAnnealingWarmRestarts: .*T_0, but got 2.5"):
        S.CosineAnnealingWarmRestarts(opt, T_0=2.5)
    with pytest.raises(ValueError, match="CosineAnnealingWarmRestarts: .*T_mult >= 1, but got 0"):
        S.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=0)
    with pytest.raises(ValueError, match="CosineAnnealingWarmRestarts: .*eta_min, but got 'x'"):
        S.CosineAnnealingWarmRestarts(opt, T_0=2, eta_min="x")
    sched = S.CosineAnnealingWarmRestarts(opt, T_0=2)
    with pytest.raises(ValueError, match="non-negative epoch, but got -1"):
        sched.step(-1)
    with pytest.raises(ValueError, match="CyclicLR: mode is invalid .* got 'sawtooth'"):
        S.CyclicLR(opt, 0.01, 0.1, mode="sawtooth")
    with pytest.raises(ValueError, match="CyclicLR: scale_mode must be .* got 'epochs'"):
        S.CyclicLR(opt, 0.01, 0.1, scale_fn=lambda x: 1.0, scale_mode="epochs")
    with pytest.raises(ValueError, match="CyclicLR: step_size_up must be a positive number, got 0"):
        S.CyclicLR(opt, 0.01, 0.1, step_size_up=0)
    with pytest.raises(ValueError, match="CyclicLR: step_size_down must be .* got -2"):
        S.CyclicLR(opt, 0.01, 0.1, step_size_down=-2)
    with pytest.raises(ValueError, match="max_lr must have the same length as optimizer"):
        S.CyclicLR(opt, 0.01, [0.1, 0.2, 0.3])
    adagrad = optim.Adagrad([cr.tensor([1.0], requires_grad=True)])
    with pytest.raises(ValueError, match="CyclicLR: optimizer must support momentum or beta1"):
        S.CyclicLR(adagrad, 0.01, 0.1)
    S.CyclicLR(adagrad, 0.01, 0.1, cycle_momentum=False)  # fine without momentum
    assert "CosineAnnealingWarmRestarts" in S.__all__ and "CyclicLR" in S.__all__
