"""ember.optim against torch.optim: 50-step trajectories on a fixed float64 MLP (SGD momentum,
nesterov, weight decay, Adam bias correction, AdamW decoupling, RMSprop, Adagrad), state_dict
format and round trips, closures, param groups, lr schedulers and gradient clipping."""
import math
import os
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import ember  # noqa: E402
import ember.nn  # noqa: E402
import ember.optim  # noqa: E402
import ember.optim.lr_scheduler  # noqa: E402
import torch.optim.lr_scheduler  # noqa: E402
from nn_helpers import assert_close, rng, to_np  # noqa: E402

LIBS = {"ember": ember, "torch": torch}


def build(lib, seed=0):
    """A float64 3-5-1 tanh MLP with fixed weights and fixed data."""
    nn = lib.nn
    model = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 1)).double()
    g = rng(seed)
    with lib.no_grad():
        for p in model.parameters():
            p.copy_(lib.tensor(0.5 * g.standard_normal(tuple(p.shape))))
    x = lib.tensor(g.standard_normal((16, 3)))
    y = lib.tensor(np.sin(to_np(x).sum(1, keepdims=True)))
    return model, x, y


def loss_fn(model, x, y):
    return ((model(x) - y) ** 2).mean()


def make_opt(lib, model, name, kwargs, groups=None):
    cls = getattr(lib.optim, name)
    if groups is None:
        return cls(model.parameters(), **kwargs)
    return cls([{"params": model[0].parameters()},
                {"params": model[2].parameters(), **groups}], **kwargs)


def trajectory(lib, name, kwargs, steps=50, groups=None):
    model, x, y = build(lib)
    opt = make_opt(lib, model, name, kwargs, groups)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn(model, x, y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    losses.append(loss_fn(model, x, y).item())
    return np.array(losses), [to_np(p) for p in model.parameters()], opt, model


CONFIGS = [
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.05, "momentum": 0.9}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.3}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    ("SGD", {"lr": 0.1, "weight_decay": 0.05}),
    ("SGD", {"lr": 0.05, "momentum": 0.8, "weight_decay": 0.01, "nesterov": True}),
    ("SGD", {"lr": 0.01, "maximize": True}),
    ("SGD", {"lr": 0.01, "momentum": 0.9, "weight_decay": 0.01, "maximize": True}),
    ("Adam", {}),
    ("Adam", {"lr": 0.01}),
    ("Adam", {"lr": 0.02, "betas": (0.8, 0.99), "eps": 1e-6}),
    ("Adam", {"lr": 0.01, "weight_decay": 0.1}),
    ("Adam", {"lr": 0.01, "amsgrad": True}),
    ("Adam", {"lr": 0.01, "amsgrad": True, "weight_decay": 0.05}),
    ("Adam", {"lr": 0.01, "maximize": True}),
    ("AdamW", {"lr": 0.01}),
    ("AdamW", {"lr": 0.01, "weight_decay": 0.1}),
    ("AdamW", {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True, "betas": (0.85, 0.995)}),
    ("RMSprop", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01, "alpha": 0.9, "eps": 1e-6}),
    ("RMSprop", {"lr": 0.01, "centered": True}),
    ("RMSprop", {"lr": 0.005, "momentum": 0.5}),
    ("RMSprop", {"lr": 0.005, "centered": True, "momentum": 0.5, "weight_decay": 0.01}),
    ("Adagrad", {"lr": 0.1}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.01}),
    ("Adagrad", {"lr": 0.1, "weight_decay": 0.01}),
    ("Adagrad", {"lr": 0.1, "initial_accumulator_value": 0.1, "eps": 1e-8}),
]


def _id(cfg):
    name, kw = cfg
    return name + "-" + ("-".join(f"{k}={v}" for k, v in kw.items()) or "defaults")


@pytest.mark.parametrize("cfg", CONFIGS, ids=[_id(c) for c in CONFIGS])
def test_trajectory_matches_torch(cfg):
    name, kw = cfg
    el, ep, _, _ = trajectory(ember, name, kw)
    tl, tp, _, _ = trajectory(torch, name, kw)
    assert np.all(np.isfinite(tl))
    np.testing.assert_allclose(el, tl, rtol=1e-6, atol=1e-12, err_msg="losses")
    for a, b in zip(ep, tp):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9, err_msg="parameters")


@pytest.mark.parametrize("name,kw,groups", [
    ("SGD", {"lr": 0.1, "momentum": 0.9}, {"lr": 0.01, "momentum": 0.5}),
    ("Adam", {"lr": 0.01}, {"lr": 0.05, "betas": (0.5, 0.9), "weight_decay": 0.1}),
    ("RMSprop", {"lr": 0.01}, {"centered": True}),
])
def test_per_group_options(name, kw, groups):
    el, ep, eo, _ = trajectory(ember, name, kw, steps=20, groups=groups)
    tl, tp, to, _ = trajectory(torch, name, kw, steps=20, groups=groups)
    np.testing.assert_allclose(el, tl, rtol=1e-6, atol=1e-12)
    for a, b in zip(ep, tp):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9)
    assert _groups(eo) == _groups(to)


def test_adamw_decouples_weight_decay():
    adam, _, _, _ = trajectory(ember, "Adam", {"lr": 0.01, "weight_decay": 0.1}, steps=20)
    adamw, _, _, _ = trajectory(ember, "AdamW", {"lr": 0.01, "weight_decay": 0.1}, steps=20)
    assert np.max(np.abs(adam - adamw)) > 1e-6
    # one step by hand: p <- p*(1 - lr*wd) - lr * m_hat/(sqrt(v_hat)+eps); first step m_hat = g, v_hat = g*g
    p = ember.nn.Parameter(ember.tensor([2.0, -3.0], dtype=ember.float64))
    opt = ember.optim.AdamW([p], lr=0.1, weight_decay=0.5)
    (p * ember.tensor([1.0, -4.0], dtype=ember.float64)).sum().backward()
    opt.step()
    g = np.array([1.0, -4.0])
    expected = np.array([2.0, -3.0]) * (1 - 0.1 * 0.5) - 0.1 * g / (np.abs(g) + 1e-8)
    np.testing.assert_allclose(to_np(p), expected, rtol=1e-12)


def test_sgd_first_step_momentum_buffer():
    """torch initialises the momentum buffer with the raw gradient (no dampening on step 1)."""
    p = ember.nn.Parameter(ember.tensor([1.0, 2.0], dtype=ember.float64))
    opt = ember.optim.SGD([p], lr=0.1, momentum=0.9, dampening=0.5)
    (p * ember.tensor([3.0, -1.0], dtype=ember.float64)).sum().backward()
    opt.step()
    np.testing.assert_allclose(to_np(opt.state[p]["momentum_buffer"]), [3.0, -1.0])
    np.testing.assert_allclose(to_np(p), [1.0 - 0.3, 2.0 + 0.1])
    opt.step()  # same gradient: buf = 0.9*buf + 0.5*g
    np.testing.assert_allclose(to_np(opt.state[p]["momentum_buffer"]), [0.9 * 3 + 1.5, -0.9 - 0.5])


# --------------------------------------------------------------------------- state_dict

def _groups(opt):
    return [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups]


def _as_comparable(v):
    if hasattr(v, "detach"):
        return ("tensor", tuple(v.shape), to_np(v).tolist())
    return ("value", v)


STATE_CONFIGS = [
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    ("Adam", {"lr": 0.01}),
    ("Adam", {"lr": 0.01, "amsgrad": True}),
    ("AdamW", {"lr": 0.01, "weight_decay": 0.1}),
    ("RMSprop", {"lr": 0.01, "centered": True, "momentum": 0.5}),
    ("Adagrad", {"lr": 0.1}),
]


@pytest.mark.parametrize("cfg", STATE_CONFIGS, ids=[_id(c) for c in STATE_CONFIGS])
def test_state_dict_format_matches_torch(cfg):
    name, kw = cfg
    _, _, eo, _ = trajectory(ember, name, kw, steps=3)
    _, _, to, _ = trajectory(torch, name, kw, steps=3)
    esd, tsd = eo.state_dict(), to.state_dict()
    assert list(esd) == list(tsd) == ["state", "param_groups"]
    assert esd["param_groups"] == tsd["param_groups"]  # keys, defaults and 'params' indices
    for eg, tg in zip(esd["param_groups"], tsd["param_groups"]):
        assert list(eg) == list(tg)
    assert sorted(esd["state"]) == sorted(tsd["state"])
    for i in tsd["state"]:
        es, ts = esd["state"][i], tsd["state"][i]
        assert sorted(es) == sorted(ts), i
        for key in ts:
            a, b = _as_comparable(es[key]), _as_comparable(ts[key])
            assert a[0] == b[0], f"state[{i}][{key!r}]: ember {a[0]}, torch {b[0]}"
            if a[0] == "tensor":
                assert a[1] == b[1], key
                np.testing.assert_allclose(np.array(a[2]), np.array(b[2]), rtol=1e-6, atol=1e-12, err_msg=key)
            else:
                assert a == b
    esd["param_groups"][0]["lr"] = 123.0  # state_dict() packs copies of the groups
    assert eo.param_groups[0]["lr"] == kw["lr"]


@pytest.mark.parametrize("cfg", STATE_CONFIGS, ids=[_id(c) for c in STATE_CONFIGS])
def test_optimizer_repr_matches_torch(cfg):
    name, kw = cfg
    _, _, eo, _ = trajectory(ember, name, kw, steps=1)
    _, _, to, _ = trajectory(torch, name, kw, steps=1)
    assert repr(eo) == repr(to)


def test_default_param_groups_match_torch():
    for name in ("SGD", "Adam", "AdamW", "RMSprop", "Adagrad"):
        em, _, _ = build(ember)
        tm, _, _ = build(torch)
        eo, to = getattr(ember.optim, name)(em.parameters()), getattr(torch.optim, name)(tm.parameters())
        assert eo.defaults == to.defaults, name
        assert _groups(eo) == _groups(to), name
        esd, tsd = eo.state_dict(), to.state_dict()
        assert esd["param_groups"] == tsd["param_groups"], name
        # (Adagrad creates its state in the constructor)
        assert {k: sorted(v) for k, v in esd["state"].items()} == {k: sorted(v) for k, v in tsd["state"].items()}


def _continue(lib, opt, model, x, y, steps):
    out = []
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn(model, x, y)
        loss.backward()
        opt.step()
        out.append(loss.item())
    return out


def _to_ember(obj):
    if isinstance(obj, torch.Tensor):
        return ember.tensor(obj.detach().numpy().copy())
    if isinstance(obj, dict):
        return {k: _to_ember(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_to_ember(v) for v in obj]
    return obj


@pytest.mark.parametrize("cfg", STATE_CONFIGS, ids=[_id(c) for c in STATE_CONFIGS])
def test_load_state_dict_round_trip(cfg):
    name, kw = cfg
    full, _, _, _ = trajectory(ember, name, kw, steps=20)
    model, x, y = build(ember)
    opt = make_opt(ember, model, name, kw)
    first = _continue(ember, opt, model, x, y, 10)
    msd, osd = model.state_dict(), opt.state_dict()
    model2, _, _ = build(ember, seed=1)
    model2.load_state_dict(msd)
    opt2 = make_opt(ember, model2, name, dict(kw, lr=0.5))
    opt2.load_state_dict(osd)
    assert opt2.param_groups[0]["lr"] == kw["lr"]
    second = _continue(ember, opt2, model2, x, y, 10)
    np.testing.assert_allclose(first + second, full[:20], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("cfg", STATE_CONFIGS, ids=[_id(c) for c in STATE_CONFIGS])
def test_torch_state_dict_loads_into_ember_optimizer(cfg):
    """A torch optimizer state exported through numpy continues in ember as in torch."""
    name, kw = cfg
    tm, tx, ty = build(torch)
    to = make_opt(torch, tm, name, kw)
    _continue(torch, to, tm, tx, ty, 5)
    em, ex, ey = build(ember)
    with ember.no_grad():
        for p in em.parameters():
            p.zero_()
    em.load_state_dict(_to_ember(tm.state_dict()))
    eo = make_opt(ember, em, name, kw)
    eo.load_state_dict(_to_ember(to.state_dict()))
    tl = _continue(torch, to, tm, tx, ty, 10)
    el = _continue(ember, eo, em, ex, ey, 10)
    np.testing.assert_allclose(el, tl, rtol=1e-6, atol=1e-12)


def test_step_closure():
    results = {}
    for lname, lib in LIBS.items():
        model, x, y = build(lib)
        opt = lib.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        calls = []

        def closure():
            calls.append(1)
            opt.zero_grad()
            loss = loss_fn(model, x, y)
            loss.backward()
            return loss

        returned = [opt.step(closure).item() for _ in range(10)]
        assert len(calls) == 10
        results[lname] = (returned, [to_np(p) for p in model.parameters()])
    np.testing.assert_allclose(results["ember"][0], results["torch"][0], rtol=1e-6)
    for a, b in zip(results["ember"][1], results["torch"][1]):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-12)
    model, x, y = build(ember)
    assert ember.optim.Adam(model.parameters()).step() is None


def test_zero_grad_set_to_none():
    model, x, y = build(ember)
    opt = ember.optim.SGD(model.parameters(), lr=0.1)
    loss_fn(model, x, y).backward()
    opt.zero_grad(set_to_none=False)
    for p in model.parameters():
        assert p.grad is not None and tuple(p.grad.shape) == tuple(p.shape) and not np.any(to_np(p.grad))
    loss_fn(model, x, y).backward()
    opt.zero_grad()  # default set_to_none=True
    assert all(p.grad is None for p in model.parameters())
    opt.zero_grad(set_to_none=False)  # grads that are None stay None
    assert all(p.grad is None for p in model.parameters())


def test_add_param_group():
    results = {}
    for lname, lib in LIBS.items():
        model, x, y = build(lib)
        opt = lib.optim.SGD(model[0].parameters(), lr=0.1, momentum=0.9)
        opt.add_param_group({"params": model[2].parameters(), "lr": 0.01})
        assert len(opt.param_groups) == 2
        with pytest.raises(ValueError):
            opt.add_param_group({"params": [model[0].weight]})
        losses = _continue(lib, opt, model, x, y, 15)
        results[lname] = (losses, _groups(opt), opt.state_dict()["param_groups"])
    np.testing.assert_allclose(results["ember"][0], results["torch"][0], rtol=1e-6)
    assert results["ember"][1] == results["torch"][1]
    assert results["ember"][2] == results["torch"][2]


def test_constructor_errors_like_torch():
    model, _, _ = build(ember)
    params = list(model.parameters())
    with pytest.raises(ValueError):
        ember.optim.SGD(params, lr=-0.1)
    with pytest.raises(ValueError):
        ember.optim.SGD(params, lr=0.1, nesterov=True)  # nesterov needs momentum > 0
    with pytest.raises(ValueError):
        ember.optim.Adam(params, betas=(1.0, 0.9))
    with pytest.raises(ValueError):
        ember.optim.SGD([], lr=0.1)
    opt = ember.optim.Adam(iter(params))  # a generator of parameters is fine
    assert len(opt.param_groups[0]["params"]) == len(params)
    assert isinstance(opt, ember.optim.Optimizer)


# --------------------------------------------------------------------------- lr schedulers

S = "lr_scheduler"
SCHEDULERS = {
    "StepLR": lambda m, o: m.StepLR(o, step_size=3, gamma=0.5),
    "MultiStepLR": lambda m, o: m.MultiStepLR(o, milestones=[2, 5, 9], gamma=0.3),
    "ExponentialLR": lambda m, o: m.ExponentialLR(o, gamma=0.9),
    "CosineAnnealingLR": lambda m, o: m.CosineAnnealingLR(o, T_max=7, eta_min=0.001),
    "CosineAnnealingLR_default": lambda m, o: m.CosineAnnealingLR(o, T_max=10),
    "LambdaLR": lambda m, o: m.LambdaLR(o, lr_lambda=lambda e: 1.0 / (e + 1)),
    "LambdaLR_list": lambda m, o: m.LambdaLR(o, lr_lambda=[lambda e: 0.95 ** e, lambda e: 1.0 + e]),
    "ReduceLROnPlateau": lambda m, o: m.ReduceLROnPlateau(o, mode="min", factor=0.5, patience=2),
    "ReduceLROnPlateau_max": lambda m, o: m.ReduceLROnPlateau(o, mode="max", factor=0.1, patience=1,
                                                              threshold=0.01, cooldown=2, min_lr=1e-4),
    "ReduceLROnPlateau_abs": lambda m, o: m.ReduceLROnPlateau(o, factor=0.3, patience=0, threshold=0.05,
                                                              threshold_mode="abs"),
}
METRICS = [1.0, 0.9, 0.95, 0.95, 0.96, 0.97, 0.8, 0.85, 0.85, 0.85, 0.85, 0.7, 0.7, 0.71, 0.69, 0.69,
           0.69, 0.69, 0.5, 0.5, 0.5, 0.5]


def _sched_setup(lib, name):
    a = lib.nn.Parameter(lib.zeros(2))
    b = lib.nn.Parameter(lib.zeros(3))
    opt = lib.optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.01}], lr=0.1, momentum=0.9)
    sched = SCHEDULERS[name](getattr(lib.optim, S), opt)
    return opt, sched


def _sched_steps(opt, sched, name, epochs, start=0):
    seq = []
    for epoch in range(start, start + epochs):
        opt.step()
        if name.startswith("ReduceLROnPlateau"):
            sched.step(METRICS[epoch])
        else:
            sched.step()
        seq.append((list(sched.get_last_lr()), [g["lr"] for g in opt.param_groups]))
    return seq


@pytest.mark.parametrize("name", list(SCHEDULERS))
def test_scheduler_matches_torch(name):
    out = {}
    for lname, lib in LIBS.items():
        opt, sched = _sched_setup(lib, name)
        initial = (list(sched.get_last_lr()), [g["lr"] for g in opt.param_groups])
        out[lname] = [initial] + _sched_steps(opt, sched, name, 20)
    for epoch, (e, t) in enumerate(zip(out["ember"], out["torch"])):
        np.testing.assert_allclose(e[0], t[0], rtol=1e-12, atol=1e-15, err_msg=f"get_last_lr epoch {epoch}")
        np.testing.assert_allclose(e[1], t[1], rtol=1e-12, atol=1e-15, err_msg=f"group lr epoch {epoch}")


@pytest.mark.parametrize("name", ["StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR",
                                  "ReduceLROnPlateau"])
def test_scheduler_state_dict_round_trip(name):
    opt, sched = _sched_setup(ember, name)
    full = _sched_steps(opt, sched, name, 14)
    opt, sched = _sched_setup(ember, name)
    first = _sched_steps(opt, sched, name, 7)
    osd, ssd = opt.state_dict(), sched.state_dict()
    topt, tsched = _sched_setup(torch, name)
    _sched_steps(topt, tsched, name, 7)
    tssd = tsched.state_dict()
    for key in ("last_epoch", "_last_lr") + (("base_lrs",) if "base_lrs" in tssd else ()):
        assert key in ssd, key
        np.testing.assert_allclose(np.array(ssd[key], dtype=float), np.array(tssd[key], dtype=float),
                                   rtol=1e-12, err_msg=key)
    opt2, sched2 = _sched_setup(ember, name)
    opt2.load_state_dict(osd)
    sched2.load_state_dict(ssd)
    second = _sched_steps(opt2, sched2, name, 7, start=7)
    for e, t in zip(first + second, full):
        np.testing.assert_allclose(e[0], t[0], rtol=1e-12)
        np.testing.assert_allclose(e[1], t[1], rtol=1e-12)


# --------------------------------------------------------------------------- gradient clipping

def _grads_setup(lib, scale=1.0):
    g = rng(31)
    params = [lib.nn.Parameter(lib.tensor(g.standard_normal(s))) for s in [(3, 4), (4,), (2, 2)]]
    for p in params[:2]:  # the third parameter keeps grad None and must be skipped
        (p * lib.tensor(scale * g.standard_normal(tuple(p.shape)))).sum().backward()
    return params


@pytest.mark.parametrize("max_norm,norm_type,scale", [
    (1.0, 2.0, 1.0), (1.0, 2, 1.0), (0.5, math.inf, 1.0), (2.0, 1.0, 1.0), (100.0, 2.0, 1.0),
    (1.0, 3.0, 5.0), (1.0, "inf", 1.0),
])
def test_clip_grad_norm_matches_torch(max_norm, norm_type, scale):
    res = {}
    for lname, lib in LIBS.items():
        params = _grads_setup(lib, scale)
        total = lib.nn.utils.clip_grad_norm_(params, max_norm, norm_type=norm_type)
        assert lib.is_tensor(total)
        res[lname] = (total.item(), [to_np(p.grad) for p in params[:2]], params[2].grad)
    assert res["ember"][0] == pytest.approx(res["torch"][0], rel=1e-12)
    for a, b in zip(res["ember"][1], res["torch"][1]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
    assert res["ember"][2] is None


def test_clip_grad_value_and_single_tensor():
    res = {}
    for lname, lib in LIBS.items():
        params = _grads_setup(lib)
        assert lib.nn.utils.clip_grad_value_(params, 0.3) is None
        single = _grads_setup(lib)[0]
        total = lib.nn.utils.clip_grad_norm_(single, 0.5)
        res[lname] = ([to_np(p.grad) for p in params[:2]], total.item(), to_np(single.grad))
    for a, b in zip(res["ember"][0], res["torch"][0]):
        np.testing.assert_allclose(a, b, rtol=0, atol=0)
        assert np.abs(a).max() <= 0.3
    assert res["ember"][1] == pytest.approx(res["torch"][1], rel=1e-12)
    np.testing.assert_allclose(res["ember"][2], res["torch"][2], rtol=1e-12)


def test_clip_grad_norm_in_training_loop():
    res = {}
    for lname, lib in LIBS.items():
        model, x, y = build(lib)
        opt = lib.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
        norms = []
        for _ in range(15):
            opt.zero_grad()
            loss_fn(model, x, y).backward()
            norms.append(float(lib.nn.utils.clip_grad_norm_(model.parameters(), max_norm=0.1)))
            opt.step()
        res[lname] = (norms, loss_fn(model, x, y).item())
    np.testing.assert_allclose(res["ember"][0], res["torch"][0], rtol=1e-6)
    assert res["ember"][1] == pytest.approx(res["torch"][1], rel=1e-6)


@pytest.mark.parametrize("name,kw", [("SGD", {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.01}),
                                     ("Adam", {"lr": 0.01}), ("AdamW", {"lr": 0.01}),
                                     ("RMSprop", {"lr": 0.01, "momentum": 0.3}), ("Adagrad", {"lr": 0.1})])
def test_changing_group_lr_and_frozen_params(name, kw):
    """Manual lr changes through param_groups take effect, and parameters whose grad is None
    (a frozen layer) are skipped, as in torch."""
    res = {}
    for lname, lib in LIBS.items():
        model, x, y = build(lib)
        opt = make_opt(lib, model, name, kw)
        losses = []
        for step in range(30):
            if step == 10:
                for group in opt.param_groups:
                    group["lr"] = group["lr"] * 0.3
            if step == 15:
                model[0].requires_grad_(False)
                for p in model[0].parameters():
                    p.grad = None
            if step == 22:
                model[0].requires_grad_(True)
            opt.zero_grad()
            loss = loss_fn(model, x, y)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        res[lname] = (losses, [to_np(p) for p in model.parameters()])
    np.testing.assert_allclose(res["ember"][0], res["torch"][0], rtol=1e-6, atol=1e-12)
    for a, b in zip(res["ember"][1], res["torch"][1]):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name,kw", [("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
                                     ("Adam", {"lr": 0.01}), ("RMSprop", {"lr": 0.01, "centered": True})])
def test_float32_trajectory(name, kw):
    res = {}
    for lname, lib in LIBS.items():
        model, x, y = build(lib)
        model.float()
        x, y = x.float(), y.float()
        opt = make_opt(lib, model, name, kw)
        res[lname] = _continue(lib, opt, model, x, y, 30)
    np.testing.assert_allclose(res["ember"], res["torch"], rtol=2e-5)
