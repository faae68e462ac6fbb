"""ember.optim breadth against torch.optim (torch 2.13 is the oracle): Adadelta, Adamax, NAdam,
RAdam, ASGD, Rprop and LBFGS trajectories (float64 tight, float32 ~1e-5), state_dict formats and
round trips, constructor signatures, defaults and error messages; the keyword surface of SGD, Adam,
AdamW, RMSprop and Adagrad; every lr scheduler's get_last_lr() sequence and state_dict; and
swa_utils (AveragedModel, EMA / SWA averaging functions, update_bn, SWALR).

Every initial value comes from numpy's default_rng, never from torch's random stream."""
import inspect
import math
import os
import sys
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import ember  # noqa: E402
import ember.nn  # noqa: E402
import ember.optim  # noqa: E402
import ember.optim.lr_scheduler  # noqa: E402
import ember.optim.swa_utils  # noqa: E402
import torch.optim.lr_scheduler  # noqa: E402
import torch.optim.swa_utils  # noqa: E402
from nn_helpers import rng, to_np  # noqa: E402

LIBS = {"ember": ember, "torch": torch}
NEW_OPTIMIZERS = ["Adadelta", "Adamax", "NAdam", "RAdam", "ASGD", "Rprop"]
ALL_OPTIMIZERS = NEW_OPTIMIZERS + ["LBFGS", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad"]


# --------------------------------------------------------------------------- a small fixed problem

def problem(lib, dtype="float64", seed=0):
    """Parameters of a 4-5-2 tanh network, as raw leaf tensors, and fixed data."""
    g = rng(seed)
    d = getattr(lib, dtype)
    shapes = [(4, 5), (5,), (5, 2), (2,)]
    params = [lib.nn.Parameter(lib.tensor(0.6 * g.standard_normal(s)).to(d)) for s in shapes]
    x = lib.tensor(g.standard_normal((12, 4))).to(d)
    y = lib.tensor(np.sin(g.standard_normal((12, 2)))).to(d)
    return params, x, y


def loss_fn(params, x, y):
    w1, b1, w2, b2 = params
    return (((x @ w1 + b1).tanh() @ w2 + b2 - y) ** 2).mean()


def make_opt(lib, params, name, kw, groups=None):
    cls = getattr(lib.optim, name)
    if groups is None:
        return cls(params, **kw)
    return cls([{"params": params[:2]}, {"params": params[2:], **groups}], **kw)


def run_steps(opt, params, x, y, steps):
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn(params, x, y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def trajectory(lib, name, kw, steps=30, dtype="float64", groups=None):
    params, x, y = problem(lib, dtype)
    opt = make_opt(lib, params, name, kw, groups)
    losses = run_steps(opt, params, x, y, steps)
    losses.append(loss_fn(params, x, y).item())
    return np.array(losses), [to_np(p) for p in params], opt, params


CONFIGS = [
    ("Adadelta", {}),
    ("Adadelta", {"lr": 0.5, "rho": 0.8, "eps": 1e-5}),
    ("Adadelta", {"lr": 0.5, "weight_decay": 0.1, "maximize": True}),
    ("Adamax", {}),
    ("Adamax", {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6}),
    ("Adamax", {"lr": 0.01, "weight_decay": 0.1, "maximize": True}),
    ("NAdam", {}),
    ("NAdam", {"lr": 0.01, "momentum_decay": 0.01}),
    ("NAdam", {"lr": 0.01, "weight_decay": 0.1}),
    ("NAdam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("NAdam", {"lr": 0.01, "betas": (0.85, 0.995), "maximize": True}),
    ("RAdam", {}),
    ("RAdam", {"lr": 0.01, "betas": (0.8, 0.9)}),  # rho_t > 5 from step 2 on: rectified branch
    ("RAdam", {"lr": 0.01, "weight_decay": 0.1}),
    ("RAdam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("RAdam", {"lr": 0.01, "maximize": True}),
    ("ASGD", {}),
    ("ASGD", {"lr": 0.05, "lambd": 0.01, "alpha": 0.5, "t0": 5}),  # averaging starts at step 6
    ("ASGD", {"lr": 0.05, "weight_decay": 0.01, "t0": 3, "maximize": True}),
    ("Rprop", {}),
    ("Rprop", {"lr": 0.05, "etas": (0.3, 1.5), "step_sizes": (1e-3, 0.1)}),
    ("Rprop", {"lr": 0.02, "maximize": True}),
]


def _id(cfg):
    name, kw = cfg
    return name + "-" + ("-".join(f"{k}={v}" for k, v in kw.items()) or "defaults")


@pytest.mark.parametrize("cfg", CONFIGS, ids=[_id(c) for c in CONFIGS])
def test_trajectory_float64_matches_torch(cfg):
    name, kw = cfg
    el, ep, _, _ = trajectory(ember, name, kw)
    tl, tp, _, _ = trajectory(torch, name, kw)
    assert np.all(np.isfinite(tl))
    assert abs(tl[-1] - tl[0]) > 1e-4, "the configuration must actually move the parameters"
    np.testing.assert_allclose(el, tl, rtol=1e-10, atol=1e-13, err_msg="losses")
    for a, b in zip(ep, tp):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12, err_msg="parameters")


@pytest.mark.parametrize("cfg", CONFIGS, ids=[_id(c) for c in CONFIGS])
def test_trajectory_float32_matches_torch(cfg):
    name, kw = cfg
    el, ep, eo, eps = trajectory(ember, name, kw, steps=20, dtype="float32")
    tl, tp, _, _ = trajectory(torch, name, kw, steps=20, dtype="float32")
    np.testing.assert_allclose(el, tl, rtol=1e-5, atol=1e-6, err_msg="losses")
    for a, b in zip(ep, tp):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=2e-6, err_msg="parameters")
    for p in eps:  # state tensors follow the parameter's dtype, the step counter stays float32
        for key, v in eo.state[p].items():
            if hasattr(v, "dtype") and key not in ("step", "eta", "mu", "mu_product"):
                assert v.dtype == ember.float32, key


@pytest.mark.parametrize("name,kw,groups", [
    ("Adadelta", {"lr": 1.0}, {"lr": 0.3, "rho": 0.5}),
    ("Adamax", {"lr": 0.01}, {"betas": (0.5, 0.9), "weight_decay": 0.1}),
    ("NAdam", {"lr": 0.01}, {"momentum_decay": 0.02, "decoupled_weight_decay": True, "weight_decay": 0.2}),
    ("RAdam", {"lr": 0.01}, {"lr": 0.05, "betas": (0.7, 0.9)}),
    ("ASGD", {"lr": 0.05}, {"t0": 2, "lambd": 0.1}),
    ("Rprop", {"lr": 0.01}, {"etas": (0.4, 1.1), "maximize": True}),
])
def test_per_group_options(name, kw, groups):
    el, ep, eo, _ = trajectory(ember, name, kw, steps=20, groups=groups)
    tl, tp, to, _ = trajectory(torch, name, kw, steps=20, groups=groups)
    np.testing.assert_allclose(el, tl, rtol=1e-10, atol=1e-13)
    for a, b in zip(ep, tp):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    assert _groups(eo) == _groups(to)


@pytest.mark.parametrize("name", NEW_OPTIMIZERS)
def test_closure_and_frozen_parameters(name):
    """step(closure) returns the closure's loss; a parameter whose grad is None is skipped and
    gets no state, as in torch."""
    res = {}
    for lname, lib in LIBS.items():
        params, x, y = problem(lib)
        opt = getattr(lib.optim, name)(params[:3] + [params[3]])
        params[3].requires_grad_(False)
        returned = []
        for _ in range(8):
            def closure():
                opt.zero_grad()
                loss = loss_fn(params, x, y)
                loss.backward()
                return loss
            returned.append(opt.step(closure).item())
        assert len(opt.state) == 3
        res[lname] = (returned, [to_np(p) for p in params])
    np.testing.assert_allclose(res["ember"][0], res["torch"][0], rtol=1e-10)
    for a, b in zip(res["ember"][1], res["torch"][1]):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(res["ember"][1][3], to_np(problem(ember)[0][3]))  # untouched
    params, _, _ = problem(ember)
    assert getattr(ember.optim, name)(params).step() is None


def test_changing_group_lr_between_steps():
    res = {}
    for lname, lib in LIBS.items():
        params, x, y = problem(lib)
        opt = lib.optim.NAdam(params, lr=0.01)
        losses = run_steps(opt, params, x, y, 5)
        opt.param_groups[0]["lr"] = 0.002
        losses += run_steps(opt, params, x, y, 5)
        res[lname] = losses
    np.testing.assert_allclose(res["ember"], res["torch"], rtol=1e-10)


# --------------------------------------------------------------------------- state dicts

def _groups(opt):
    return [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups]


def _describe(v):
    if hasattr(v, "detach"):
        return ("tensor", tuple(v.shape), str(v.dtype).split(".")[-1])
    if isinstance(v, list):
        return ("list", len(v), tuple(_describe(x)[0] for x in v))
    return ("value", type(v).__name__)


def _compare_state_dicts(esd, tsd, rtol=1e-10, atol=1e-13):
    assert list(esd) == list(tsd) == ["state", "param_groups"]
    assert esd["param_groups"] == tsd["param_groups"]
    for eg, tg in zip(esd["param_groups"], tsd["param_groups"]):
        assert list(eg) == list(tg)  # same keys in the same order
    assert sorted(esd["state"]) == sorted(tsd["state"])
    for i, ts in tsd["state"].items():
        es = esd["state"][i]
        assert list(es) == list(ts), i  # same keys in torch's insertion order
        for key in ts:
            assert _describe(es[key]) == _describe(ts[key]), (i, key)
            a, b = es[key], ts[key]
            if hasattr(b, "detach"):
                np.testing.assert_allclose(to_np(a), to_np(b), rtol=rtol, atol=atol, err_msg=key)
            elif isinstance(b, list):
                for u, v in zip(a, b):
                    if v is not None:
                        np.testing.assert_allclose(to_np(u), to_np(v), rtol=rtol, atol=atol, err_msg=key)
            elif isinstance(b, float):
                assert a == pytest.approx(b, rel=rtol), key
            else:
                assert a == b, key


STATE_CONFIGS = [
    ("Adadelta", {"lr": 0.5, "weight_decay": 0.1}),
    ("Adamax", {"lr": 0.01}),
    ("NAdam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("RAdam", {"lr": 0.01}),
    ("ASGD", {"lr": 0.05, "t0": 2}),
    ("Rprop", {"lr": 0.05}),
]


@pytest.mark.parametrize("cfg", STATE_CONFIGS, ids=[_id(c) for c in STATE_CONFIGS])
def test_state_dict_format_matches_torch(cfg):
    name, kw = cfg
    _, _, eo, _ = trajectory(ember, name, kw, steps=4)
    _, _, to, _ = trajectory(torch, name, kw, steps=4)
    _compare_state_dicts(eo.state_dict(), to.state_dict())
    step = eo.state_dict()["state"][0]["step"]
    assert step.dim() == 0 and step.dtype == ember.float32 and step.item() == 4.0


def _interrupted(lib, name, kw, to_lib=None):
    """10 steps, state_dict(), a fresh optimizer (other lr) on fresh parameters loads it, 10 more
    steps. With to_lib, the state dict is exported from torch through numpy into ember."""
    params, x, y = problem(lib)
    opt = make_opt(lib, params, name, kw)
    first = run_steps(opt, params, x, y, 10)
    saved, osd = [to_np(p) for p in params], opt.state_dict()
    lib2 = to_lib or lib
    params2, x2, y2 = problem(lib2, seed=5)
    with lib2.no_grad():
        for p, s in zip(params2, saved):
            p.copy_(lib2.tensor(s))
    opt2 = make_opt(lib2, params2, name, dict(kw, lr=0.123))
    opt2.load_state_dict(_to_ember(osd) if to_lib is ember else osd)
    assert opt2.param_groups[0]["lr"] == kw["lr"]
    x2, y2 = problem(lib2)[1:]
    second = run_steps(opt2, params2, x2, y2, 10)
    return np.array(first + second), [to_np(p) for p in params2], osd


@pytest.mark.parametrize("cfg", STATE_CONFIGS, ids=[_id(c) for c in STATE_CONFIGS])
def test_state_dict_round_trip(cfg):
    """An ember state_dict loads into a fresh ember optimizer, which then continues as torch's
    does after the same round trip, and as the uninterrupted run up to rounding: like torch,
    loading casts 0-d float32 state such as NAdam's 'mu_product' or ASGD's 'eta' to the
    parameter's dtype."""
    name, kw = cfg
    full, full_params, _, _ = trajectory(ember, name, kw, steps=20)
    e_losses, e_params, osd = _interrupted(ember, name, kw)
    t_losses, t_params, _ = _interrupted(torch, name, kw)
    np.testing.assert_allclose(e_losses, t_losses, rtol=1e-10, atol=0)
    for a, b in zip(e_params, t_params):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(e_losses, full[:20], rtol=1e-8, atol=0)
    for a, b in zip(e_params, full_params):  # (full_params is after 20 steps)
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-10)
    # loading copies: stepping the new optimizer leaves the saved dict alone
    assert osd["state"][0]["step"].item() == 10.0


def _to_ember(obj):
    if isinstance(obj, torch.Tensor):
        return ember.tensor(obj.detach().numpy().copy())
    if isinstance(obj, dict):
        return {k: _to_ember(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_to_ember(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_to_ember(v) for v in obj)
    return obj


@pytest.mark.parametrize("cfg", STATE_CONFIGS, ids=[_id(c) for c in STATE_CONFIGS])
def test_torch_state_dict_loads_into_ember(cfg):
    """A torch optimizer's state_dict, exported through numpy, continues in ember as it does
    when loaded back into torch."""
    name, kw = cfg
    e_losses, e_params, _ = _interrupted(torch, name, kw, to_lib=ember)
    t_losses, t_params, _ = _interrupted(torch, name, kw)
    np.testing.assert_allclose(e_losses, t_losses, rtol=1e-10, atol=0)
    for a, b in zip(e_params, t_params):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_load_state_dict_casts_state_to_param_dtype():
    """torch's policy: floating state takes the parameter's dtype, 'step' is kept as saved."""
    for lname, lib in LIBS.items():
        params, x, y = problem(lib, "float32")
        opt = lib.optim.ASGD(params, lr=0.05)
        run_steps(opt, params, x, y, 2)
        sd = opt.state_dict()
        params64, _, _ = problem(lib, "float64")
        opt64 = lib.optim.ASGD(params64, lr=0.05)
        opt64.load_state_dict(sd)
        st = opt64.state[params64[0]]
        got = {k: str(v.dtype).split(".")[-1] for k, v in st.items()}
        assert got == {"step": "float32", "eta": "float64", "mu": "float64", "ax": "float64"}, lname


# --------------------------------------------------------------------------- constructors

def _signature(fn):
    return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]


@pytest.mark.parametrize("name", ALL_OPTIMIZERS)
def test_constructor_signature_matches_torch(name):
    """Same parameter names, order, kinds (positional / keyword-only) and defaults as torch."""
    assert _signature(getattr(ember.optim, name).__init__) == _signature(getattr(torch.optim, name).__init__)


@pytest.mark.parametrize("name", ALL_OPTIMIZERS)
def test_defaults_param_groups_and_repr_match_torch(name):
    eo = getattr(ember.optim, name)(problem(ember)[0])
    to = getattr(torch.optim, name)(problem(torch)[0])
    assert eo.defaults == to.defaults
    assert _groups(eo) == _groups(to)
    assert eo.state_dict()["param_groups"] == to.state_dict()["param_groups"]
    assert repr(eo) == repr(to)
    assert isinstance(eo, ember.optim.Optimizer)


@pytest.mark.parametrize("name", [n for n in ALL_OPTIMIZERS if n != "LBFGS"])
def test_ignored_kwargs_accepted_and_documented(name):
    cls = getattr(ember.optim, name)
    accepted = set(inspect.signature(cls.__init__).parameters)
    tried = {k: v for k, v in dict(foreach=False, fused=False, capturable=False, differentiable=False,
                                   maximize=False).items() if k in accepted}
    assert "maximize" in tried and "foreach" in tried and "differentiable" in tried
    opt = cls(problem(ember)[0], **tried)
    for k, v in tried.items():
        assert opt.param_groups[0][k] == v
    doc = " ".join((cls.__doc__ or "").split())
    ignored = [k for k in ("foreach", "fused", "capturable", "differentiable") if k in accepted]
    listed = ", ".join(f"``{n}``" for n in ignored[:-1]) + f" and ``{ignored[-1]}``"
    assert f"Accepted and ignored: {listed}." in doc


BAD_ARGS = [
    ("Adadelta", {"lr": -1.0}), ("Adadelta", {"rho": 1.5}), ("Adadelta", {"rho": -0.1}), ("Adadelta", {"eps": -1e-3}),
    ("Adadelta", {"weight_decay": -0.1}),
    ("Adamax", {"lr": -1}), ("Adamax", {"eps": -1.0}), ("Adamax", {"betas": (1.0, 0.9)}),
    ("Adamax", {"betas": (0.9, -0.1)}), ("Adamax", {"weight_decay": -1}),
    ("NAdam", {"lr": -0.5}), ("NAdam", {"betas": (0.9, 1.0)}), ("NAdam", {"momentum_decay": -1e-3}),
    ("NAdam", {"weight_decay": -1}), ("NAdam", {"eps": -1}),
    ("RAdam", {"lr": -1e-3}), ("RAdam", {"betas": (-0.1, 0.9)}), ("RAdam", {"eps": -1}), ("RAdam", {"weight_decay": -2}),
    ("ASGD", {"lr": -0.1}), ("ASGD", {"weight_decay": -0.1}),
    ("Rprop", {"lr": -1}), ("Rprop", {"etas": (1.5, 1.2)}), ("Rprop", {"etas": (0.5, 0.9)}), ("Rprop", {"etas": (0.0, 2.0)}),
    ("LBFGS", {"lr": -1}),
    ("SGD", {"lr": -1}), ("SGD", {"momentum": -0.5}), ("SGD", {"weight_decay": -1}),
    ("SGD", {"nesterov": True, "momentum": 0.9, "dampening": 0.1}),
    ("SGD", {"fused": True, "differentiable": True}), ("SGD", {"fused": True, "foreach": True}),
    ("Adam", {"lr": -1}), ("Adam", {"eps": -1}), ("Adam", {"betas": (0.9, 1.0)}), ("Adam", {"weight_decay": -1}),
    ("Adam", {"fused": True, "differentiable": True}), ("Adam", {"fused": True, "foreach": True}),
    ("AdamW", {"lr": -1}), ("AdamW", {"fused": True, "foreach": True}),
    ("RMSprop", {"lr": -1}), ("RMSprop", {"alpha": -1}), ("RMSprop", {"momentum": -1}), ("RMSprop", {"eps": -1}),
    ("Adagrad", {"lr": -1}), ("Adagrad", {"lr_decay": -1}), ("Adagrad", {"initial_accumulator_value": -1}),
    ("Adagrad", {"fused": True, "foreach": True}),
]


@pytest.mark.parametrize("name,kw", BAD_ARGS, ids=[_id(c) for c in BAD_ARGS])
def test_bad_hyperparameters_raise_like_torch(name, kw):
    with pytest.raises(Exception) as t_err:
        getattr(torch.optim, name)(problem(torch)[0], **kw)
    with pytest.raises(type(t_err.value)) as e_err:
        getattr(ember.optim, name)(problem(ember)[0], **kw)
    assert str(e_err.value) == str(t_err.value)


def test_invalid_learning_rate_message():
    with pytest.raises(ValueError, match=r"^Invalid learning rate: -1$"):
        ember.optim.RAdam(problem(ember)[0], lr=-1)
    with pytest.raises(ValueError, match="Tensor lr must be 1-element"):
        ember.optim.NAdam(problem(ember)[0], lr=ember.tensor([0.1, 0.2]))


def test_tensor_lr_is_accepted_like_torch():
    res = {}
    for lname, lib in LIBS.items():
        params, x, y = problem(lib)
        opt = lib.optim.Adamax(params, lr=lib.tensor(0.01, dtype=lib.float64))
        res[lname] = run_steps(opt, params, x, y, 5)
        assert lib.is_tensor(opt.param_groups[0]["lr"])
    np.testing.assert_allclose(res["ember"], res["torch"], rtol=1e-10)


def test_named_parameters_like_torch():
    """torch 2.13 optimizers take model.named_parameters(): the names go to 'param_names'."""
    res = {}
    for lname, lib in LIBS.items():
        nn = lib.nn
        model = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2)).double()
        g = rng(21)
        with lib.no_grad():
            for p in model.parameters():
                p.copy_(lib.tensor(0.4 * g.standard_normal(tuple(p.shape))))
        opt = lib.optim.RAdam(model.named_parameters(), lr=0.01, decoupled_weight_decay=True, weight_decay=0.1)
        x = lib.tensor(g.standard_normal((6, 4)))
        for _ in range(5):
            opt.zero_grad()
            (model(x) ** 2).mean().backward()
            opt.step()
        res[lname] = (opt.state_dict()["param_groups"], [to_np(p) for p in model.parameters()])
        with pytest.raises(ValueError, match="all optimizer param groups should be with/without names"):
            opt.add_param_group({"params": [nn.Parameter(lib.zeros(2))]})
        with pytest.raises(ValueError, match="Some param names are missing"):
            lib.optim.Adamax([("a", nn.Parameter(lib.zeros(2))), nn.Parameter(lib.zeros(2))])
    assert res["ember"][0] == res["torch"][0]
    assert res["ember"][0][0]["param_names"] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    for a, b in zip(res["ember"][1], res["torch"][1]):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_add_param_group_and_non_leaf_like_torch():
    for lib in LIBS.values():
        params, _, _ = problem(lib)
        opt = lib.optim.ASGD(params[:2], lr=0.05)
        opt.add_param_group({"params": params[2:], "t0": 3})
        assert opt.param_groups[1]["t0"] == 3 and opt.param_groups[1]["lambd"] == 1e-4
        with pytest.raises(ValueError, match="some parameters appear in more than one parameter group"):
            opt.add_param_group({"params": [params[0]]})
        with pytest.raises(ValueError, match="can't optimize a non-leaf Tensor"):
            lib.optim.Rprop([params[0] * 2])
        with pytest.raises(ValueError, match="optimizer got an empty parameter list"):
            lib.optim.NAdam([])


# --------------------------------------------------------------------------- LBFGS

def lbfgs_problem(lib, dtype="float64"):
    """A small regularised logistic regression (smooth and convex)."""
    g = rng(3)
    X = g.standard_normal((32, 5))
    labels = (X @ g.standard_normal(5) + 0.5 * g.standard_normal(32) > 0).astype(float)
    d = getattr(lib, dtype)
    w = lib.nn.Parameter(lib.tensor(0.1 * g.standard_normal(5)).to(d))
    b = lib.nn.Parameter(lib.tensor(np.zeros(1)).to(d))
    return [w, b], lib.tensor(X).to(d), lib.tensor(labels).to(d)


def lbfgs_loss(params, X, y):
    p = (X @ params[0] + params[1]).sigmoid()
    return -(y * (p + 1e-12).log() + (1 - y) * (1 - p + 1e-12).log()).mean() + 0.05 * (params[0] ** 2).sum()


def lbfgs_run(lib, kw, steps, dtype="float64", problem_fn=lbfgs_problem, loss=lbfgs_loss):
    params, x, y = problem_fn(lib, dtype)
    opt = lib.optim.LBFGS(params, **kw)
    calls = []

    def closure():
        calls.append(1)
        opt.zero_grad()
        out = loss(params, x, y)
        out.backward()
        return out

    returned = [opt.step(closure).item() for _ in range(steps)]
    st = opt.state[params[0]]
    return dict(returned=returned, params=[to_np(p) for p in params], func_evals=st["func_evals"],
                n_iter=st["n_iter"], calls=len(calls), opt=opt, final=loss(params, x, y).item())


LBFGS_CONFIGS = [
    {},
    {"line_search_fn": "strong_wolfe"},
    {"max_iter": 5},
    {"line_search_fn": "strong_wolfe", "max_iter": 5},
    {"lr": 0.5, "history_size": 3, "max_iter": 7},
    {"line_search_fn": "strong_wolfe", "history_size": 2, "max_iter": 10, "max_eval": 12, "tolerance_grad": 1e-5,
     "tolerance_change": 1e-7},
    {"max_iter": 4, "max_eval": 2},
]


@pytest.mark.parametrize("kw", LBFGS_CONFIGS, ids=[str(k) for k in LBFGS_CONFIGS])
def test_lbfgs_matches_torch_float64(kw):
    e, t = lbfgs_run(ember, kw, 4), lbfgs_run(torch, kw, 4)
    assert t["final"] < t["returned"][0] - 0.05  # it optimises
    np.testing.assert_allclose(e["returned"], t["returned"], rtol=1e-12)
    for a, b in zip(e["params"], t["params"]):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    assert (e["func_evals"], e["n_iter"], e["calls"]) == (t["func_evals"], t["n_iter"], t["calls"])


@pytest.mark.parametrize("kw", [{}, {"line_search_fn": "strong_wolfe"}])
def test_lbfgs_nonconvex_first_steps_match_torch(kw):
    """On the tanh network, where the line search has to bracket and zoom."""
    def prob(lib, dtype):
        return problem(lib, dtype)
    e = lbfgs_run(ember, dict(kw, max_iter=8), 2, problem_fn=prob, loss=loss_fn)
    t = lbfgs_run(torch, dict(kw, max_iter=8), 2, problem_fn=prob, loss=loss_fn)
    np.testing.assert_allclose(e["returned"], t["returned"], rtol=1e-10)
    for a, b in zip(e["params"], t["params"]):
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-10)
    assert (e["func_evals"], e["n_iter"]) == (t["func_evals"], t["n_iter"])


@pytest.mark.parametrize("kw", [{"max_iter": 3}, {"line_search_fn": "strong_wolfe", "max_iter": 3}])
def test_lbfgs_float32_first_step_matches_torch(kw):
    e, t = lbfgs_run(ember, kw, 1, "float32"), lbfgs_run(torch, kw, 1, "float32")
    for a, b in zip(e["params"], t["params"]):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert e["final"] == pytest.approx(t["final"], rel=1e-5)


def test_lbfgs_state_dict_format_and_round_trip():
    kw = {"line_search_fn": "strong_wolfe", "history_size": 3, "max_iter": 4}
    e, t = lbfgs_run(ember, kw, 3), lbfgs_run(torch, kw, 3)
    _compare_state_dicts(e["opt"].state_dict(), t["opt"].state_dict(), rtol=1e-9, atol=1e-12)
    full = lbfgs_run(ember, kw, 6)
    # resume from a state_dict after 3 steps in a fresh optimizer
    params, x, y = lbfgs_problem(ember)
    with ember.no_grad():
        for p, s in zip(params, e["params"]):
            p.copy_(ember.tensor(s))
    opt = ember.optim.LBFGS(params, **kw)
    opt.load_state_dict(e["opt"].state_dict())

    def closure():
        opt.zero_grad()
        out = lbfgs_loss(params, x, y)
        out.backward()
        return out

    resumed = [opt.step(closure).item() for _ in range(3)]
    np.testing.assert_array_equal(e["returned"] + resumed, full["returned"])
    for a, b in zip(params, full["params"]):
        np.testing.assert_array_equal(to_np(a), b)


def test_lbfgs_errors_like_torch():
    for lib in LIBS.values():
        params, _, _ = problem(lib)
        with pytest.raises(ValueError, match=r"LBFGS doesn't support per-parameter options \(parameter groups\)"):
            lib.optim.LBFGS([{"params": params[:2]}, {"params": params[2:]}])
        opt = lib.optim.LBFGS(params, line_search_fn="backtracking")
        x, y = problem(lib)[1:]

        def closure():
            opt.zero_grad()
            out = loss_fn(params, x, y)
            out.backward()
            return out

        with pytest.raises(RuntimeError, match="only 'strong_wolfe' is supported"):
            opt.step(closure)
        with pytest.raises(TypeError):
            opt.step()  # the closure is required
    assert ember.optim.LBFGS(problem(ember)[0]).defaults["max_eval"] == 25


def test_lbfgs_stops_at_optimum():
    """Already optimal (gradient below tolerance_grad): one evaluation, no state beyond counters."""
    for lib in LIBS.values():
        p = lib.nn.Parameter(lib.tensor([0.0, 0.0], dtype=lib.float64))
        opt = lib.optim.LBFGS([p])

        def closure():
            opt.zero_grad()
            out = (p ** 2).sum()
            out.backward()
            return out

        assert opt.step(closure).item() == 0.0
        assert opt.state[p] == {"func_evals": 1, "n_iter": 0}


# --------------------------------------------------------------------------- lr schedulers

def _sched_opt(lib, name="SGD"):
    a = lib.nn.Parameter(lib.zeros(2))
    b = lib.nn.Parameter(lib.zeros(3))
    if name == "Adam":
        return lib.optim.Adam([{"params": [a]}, {"params": [b], "lr": 0.01}], lr=0.1)
    return lib.optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.01}], lr=0.1, momentum=0.9)


def _mk(m, cls, *args, **kw):
    return getattr(m, cls)(*args, **kw)


SCHEDULERS = {
    "MultiplicativeLR": lambda m, o: m.MultiplicativeLR(o, lr_lambda=lambda e: 0.95),
    "MultiplicativeLR_list": lambda m, o: m.MultiplicativeLR(o, lr_lambda=[lambda e: 0.9, lambda e: 1.0 + 0.01 * e]),
    "ConstantLR": lambda m, o: m.ConstantLR(o),
    "ConstantLR_custom": lambda m, o: m.ConstantLR(o, factor=0.5, total_iters=4),
    "LinearLR": lambda m, o: m.LinearLR(o),
    "LinearLR_custom": lambda m, o: m.LinearLR(o, start_factor=0.2, end_factor=0.7, total_iters=8),
    "PolynomialLR": lambda m, o: m.PolynomialLR(o),
    "PolynomialLR_custom": lambda m, o: m.PolynomialLR(o, total_iters=10, power=2.0),
    "CosineAnnealingWarmRestarts": lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=5),
    "CosineAnnealingWarmRestarts_mult": lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2, eta_min=0.001),
    "CyclicLR": lambda m, o: m.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=4),
    "CyclicLR_triangular2": lambda m, o: m.CyclicLR(o, base_lr=[0.01, 0.001], max_lr=[0.1, 0.05], step_size_up=3,
                                                    step_size_down=5, mode="triangular2"),
    "CyclicLR_exp_range": lambda m, o: m.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=4, mode="exp_range",
                                                  gamma=0.9, base_momentum=0.7, max_momentum=0.95),
    "CyclicLR_scale_fn": lambda m, o: m.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=2,
                                                 scale_fn=lambda x: 0.9 ** x, scale_mode="iterations",
                                                 cycle_momentum=False),
    "OneCycleLR": lambda m, o: m.OneCycleLR(o, max_lr=0.1, total_steps=25),
    "OneCycleLR_linear_3phase": lambda m, o: m.OneCycleLR(o, max_lr=[0.1, 0.05], epochs=5, steps_per_epoch=5,
                                                          anneal_strategy="linear", three_phase=True,
                                                          pct_start=0.25, div_factor=10.0, final_div_factor=100.0),
    "OneCycleLR_no_momentum": lambda m, o: m.OneCycleLR(o, max_lr=0.2, total_steps=25, cycle_momentum=False),
    "SequentialLR": lambda m, o: m.SequentialLR(o, schedulers=[m.LinearLR(o, start_factor=0.1, total_iters=4),
                                                               m.ExponentialLR(o, gamma=0.9)], milestones=[5]),
    "SequentialLR_three": lambda m, o: m.SequentialLR(o, schedulers=[m.ConstantLR(o, factor=0.5, total_iters=3),
                                                                     m.StepLR(o, step_size=2, gamma=0.5),
                                                                     m.CosineAnnealingLR(o, T_max=6)],
                                                      milestones=[4, 10]),
    "ChainedScheduler": lambda m, o: m.ChainedScheduler([m.ConstantLR(o, factor=0.1, total_iters=3),
                                                         m.ExponentialLR(o, gamma=0.9)]),
    "ChainedScheduler_opt": lambda m, o: m.ChainedScheduler([m.LinearLR(o, total_iters=6),
                                                             m.MultiStepLR(o, milestones=[3, 8])], optimizer=o),
    # the existing schedulers, through the new base class
    "StepLR": lambda m, o: m.StepLR(o, step_size=3, gamma=0.5),
    "MultiStepLR": lambda m, o: m.MultiStepLR(o, milestones=[2, 5, 5, 9], gamma=0.3),
    "ExponentialLR": lambda m, o: m.ExponentialLR(o, gamma=0.9),
    "CosineAnnealingLR": lambda m, o: m.CosineAnnealingLR(o, T_max=7, eta_min=0.001),
    "LambdaLR": lambda m, o: m.LambdaLR(o, lr_lambda=lambda e: 1.0 / (e + 1)),
    "ReduceLROnPlateau": lambda m, o: m.ReduceLROnPlateau(o, factor=0.5, patience=2, min_lr=[0.01, 0.001]),
}
ADAM_SCHEDULERS = {"CyclicLR", "OneCycleLR", "CyclicLR_exp_range", "OneCycleLR_linear_3phase"}
METRICS = [1.0, 0.9, 0.95, 0.95, 0.96, 0.97, 0.8, 0.85, 0.85, 0.85, 0.85, 0.7, 0.7, 0.71, 0.69, 0.69,
           0.69, 0.69, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]


def _sched_setup(lib, name, opt_name="SGD"):
    opt = _sched_opt(lib, opt_name)
    return opt, SCHEDULERS[name](lib.optim.lr_scheduler, opt)


def _snapshot(opt, sched):
    return (list(sched.get_last_lr()), [g["lr"] for g in opt.param_groups],
            [g.get("momentum") for g in opt.param_groups], [g.get("betas") for g in opt.param_groups])


def _sched_steps(opt, sched, name, epochs, start=0):
    seq = []
    for epoch in range(start, start + epochs):
        opt.step()
        if name.startswith("ReduceLROnPlateau"):
            sched.step(METRICS[epoch])
        else:
            sched.step()
        seq.append(_snapshot(opt, sched))
    return seq


def _assert_same_seq(e_seq, t_seq):
    assert len(e_seq) == len(t_seq)
    for epoch, (e, t) in enumerate(zip(e_seq, t_seq)):
        for k, what in enumerate(("get_last_lr", "group lr", "momentum", "betas")):
            if t[k][0] is None:
                assert e[k] == t[k], (epoch, what)
            else:
                np.testing.assert_allclose(np.array(e[k], dtype=float), np.array(t[k], dtype=float), rtol=1e-12,
                                           atol=1e-15, err_msg=f"{what} at epoch {epoch}")


def _opt_name(name):
    return "Adam" if name in ADAM_SCHEDULERS else "SGD"


@pytest.mark.parametrize("name", list(SCHEDULERS))
def test_scheduler_matches_torch(name):
    out = {}
    for lname, lib in LIBS.items():
        opt, sched = _sched_setup(lib, name, _opt_name(name))
        out[lname] = [_snapshot(opt, sched)] + _sched_steps(opt, sched, name, 24)
    _assert_same_seq(out["ember"], out["torch"])
    lrs = [s[0][0] for s in out["torch"]]
    assert len(set(lrs)) > 1 or name.startswith("CyclicLR_scale")  # the schedule does something


@pytest.mark.parametrize("name", list(SCHEDULERS))
def test_scheduler_state_dict_matches_torch_and_resumes(name):
    opt_name = _opt_name(name)
    opt, sched = _sched_setup(ember, name, opt_name)
    full = _sched_steps(opt, sched, name, 20)
    opt, sched = _sched_setup(ember, name, opt_name)
    first = _sched_steps(opt, sched, name, 9)
    osd, ssd = opt.state_dict(), sched.state_dict()
    topt, tsched = _sched_setup(torch, name, opt_name)
    _sched_steps(topt, tsched, name, 9)
    tssd = tsched.state_dict()
    assert sorted(ssd) == sorted(tssd)
    for key, tv in tssd.items():
        ev = ssd[key]
        if isinstance(tv, (int, float, str, bool)) or tv is None:
            assert ev == tv, key
        elif isinstance(tv, list) and all(isinstance(v, (int, float)) for v in tv):
            np.testing.assert_allclose(np.array(ev, dtype=float), np.array(tv, dtype=float), rtol=1e-12, err_msg=key)
    opt2, sched2 = _sched_setup(ember, name, opt_name)
    opt2.load_state_dict(osd)
    sched2.load_state_dict(ssd)
    second = _sched_steps(opt2, sched2, name, 11, start=9)
    _assert_same_seq(first + second, full)


def test_scheduler_state_dict_keeps_callable_object_state():
    class Factor:
        def __init__(self, f):
            self.f = f

        def __call__(self, epoch):
            return self.f

    for lib in LIBS.values():
        opt = _sched_opt(lib)
        sched = lib.optim.lr_scheduler.MultiplicativeLR(opt, lr_lambda=[Factor(0.5), lambda e: 0.9])
        sd = sched.state_dict()
        assert sd["lr_lambdas"] == [{"f": 0.5}, None]
        fresh = Factor(0.1)
        sched2 = lib.optim.lr_scheduler.MultiplicativeLR(_sched_opt(lib), lr_lambda=[fresh, lambda e: 0.9])
        sched2.load_state_dict(sd)
        assert fresh.f == 0.5


@pytest.mark.parametrize("name,epochs", [("StepLR", [3, 7, 2]), ("MultiStepLR", [4, 6, 10]),
                                         ("ExponentialLR", [2, 5]), ("CosineAnnealingLR", [3, 9]),
                                         ("LinearLR", [2, 7, 1]), ("ConstantLR", [1, 6]), ("PolynomialLR", [3, 8]),
                                         ("CosineAnnealingWarmRestarts", [2, 7, 3.5]),
                                         ("CosineAnnealingWarmRestarts_mult", [1, 4, 10, 2.5])])
def test_scheduler_step_with_epoch_uses_closed_form(name, epochs):
    out = {}
    for lname, lib in LIBS.items():
        opt, sched = _sched_setup(lib, name)
        seq = []
        for epoch in epochs:
            opt.step()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                sched.step(epoch)
            if "WarmRestarts" not in name:
                assert any("epoch parameter in `scheduler.step()`" in str(w.message) for w in caught)
            seq.append(_snapshot(opt, sched))
        out[lname] = seq
    _assert_same_seq(out["ember"], out["torch"])


BAD_SCHEDULERS = [
    ("ConstantLR", {"factor": 1.5}), ("LinearLR", {"start_factor": 0}), ("LinearLR", {"end_factor": 2.0}),
    ("CosineAnnealingWarmRestarts", {"T_0": 0}), ("CosineAnnealingWarmRestarts", {"T_0": 2.5}),
    ("CosineAnnealingWarmRestarts", {"T_0": 2, "T_mult": 0}), ("CosineAnnealingWarmRestarts", {"T_0": 2, "eta_min": "x"}),
    ("OneCycleLR", {"max_lr": 0.1}), ("OneCycleLR", {"max_lr": 0.1, "total_steps": 0}),
    ("OneCycleLR", {"max_lr": 0.1, "epochs": 0, "steps_per_epoch": 3}),
    ("OneCycleLR", {"max_lr": 0.1, "total_steps": 10, "pct_start": 1.5}),
    ("OneCycleLR", {"max_lr": 0.1, "total_steps": 10, "anneal_strategy": "exp"}),
    ("OneCycleLR", {"max_lr": [0.1, 0.2, 0.3], "total_steps": 10}),
    ("CyclicLR", {"base_lr": 0.01, "max_lr": 0.1, "mode": "sawtooth"}),
    ("MultiplicativeLR", {"lr_lambda": 0.5}), ("MultiplicativeLR", {"lr_lambda": [lambda e: 1.0]}),
    ("LambdaLR", {"lr_lambda": [lambda e: 1.0] * 3}),
    ("ReduceLROnPlateau", {"factor": 1.0}), ("ReduceLROnPlateau", {"mode": "avg"}),
    ("ReduceLROnPlateau", {"threshold_mode": "pct"}), ("ReduceLROnPlateau", {"min_lr": [0.1]}),
    ("StepLR", {"step_size": 2, "last_epoch": 3}),
]


@pytest.mark.parametrize("name,kw", BAD_SCHEDULERS, ids=[_id(c) for c in BAD_SCHEDULERS])
def test_bad_scheduler_arguments_raise_like_torch(name, kw):
    with pytest.raises(Exception) as t_err:
        getattr(torch.optim.lr_scheduler, name)(_sched_opt(torch), **kw)
    with pytest.raises(type(t_err.value)) as e_err:
        getattr(ember.optim.lr_scheduler, name)(_sched_opt(ember), **kw)
    assert str(e_err.value) == str(t_err.value)


def test_scheduler_composition_errors_like_torch():
    for lib in LIBS.values():
        m = lib.optim.lr_scheduler
        o1, o2 = _sched_opt(lib), _sched_opt(lib)
        with pytest.raises(ValueError, match="expects at least one scheduler"):
            m.SequentialLR(o1, schedulers=[], milestones=[])
        with pytest.raises(ValueError, match="number of milestones to be equal to 2"):
            m.SequentialLR(o1, schedulers=[m.StepLR(o1, 2), m.StepLR(o1, 3)], milestones=[1, 2])
        with pytest.raises(ValueError, match="expects all schedulers to belong to the same optimizer"):
            m.SequentialLR(o1, schedulers=[m.StepLR(o1, 2), m.StepLR(o2, 3)], milestones=[1])
        with pytest.raises(ValueError, match="does not support `ReduceLROnPlateau`"):
            m.ChainedScheduler([m.StepLR(o1, 2), m.ReduceLROnPlateau(o1)])
        with pytest.raises(TypeError, match="is not an Optimizer"):
            m.StepLR(object(), 2)
        with pytest.raises(ValueError, match="optimizer must support momentum or beta1"):
            m.CyclicLR(lib.optim.Adagrad([lib.nn.Parameter(lib.zeros(2))]), base_lr=0.01, max_lr=0.1)
        sched = m.OneCycleLR(o2, max_lr=0.1, total_steps=3)
        for _ in range(3):
            o2.step()
            sched.step()
        with pytest.raises(ValueError, match="Tried to step 4 times. The specified number of total steps is 3"):
            sched.step()


def test_scheduler_call_order_warnings_like_torch():
    for lib in LIBS.values():
        opt = _sched_opt(lib)
        sched = lib.optim.lr_scheduler.StepLR(opt, 2)
        with pytest.warns(UserWarning, match="Detected call of `lr_scheduler.step\\(\\)` before `optimizer.step\\(\\)`"):
            sched.step()
        opt = _sched_opt(lib)
        sched = lib.optim.lr_scheduler.ExponentialLR(opt, 0.5)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            opt.step()
            sched.step()  # right order: silent
        with pytest.warns(UserWarning, match="please use `get_last_lr\\(\\)`"):
            sched.get_lr()


def test_scheduler_resume_with_last_epoch():
    """Resuming needs 'initial_lr' in the groups (KeyError otherwise); with it, the schedule
    continues from last_epoch as in torch."""
    out = {}
    for lname, lib in LIBS.items():
        opt = _sched_opt(lib)
        for g in opt.param_groups:
            g["initial_lr"] = g["lr"]
        sched = lib.optim.lr_scheduler.PolynomialLR(opt, total_iters=12, power=1.5, last_epoch=4)
        out[lname] = [_snapshot(opt, sched)] + _sched_steps(opt, sched, "PolynomialLR", 6)
        with pytest.raises(KeyError, match="param 'initial_lr' is not specified in param_groups\\[0\\]"):
            lib.optim.lr_scheduler.StepLR(_sched_opt(lib), 2, last_epoch=3)
    _assert_same_seq(out["ember"], out["torch"])


def test_scheduler_drives_a_new_optimizer_like_torch():
    res = {}
    for lname, lib in LIBS.items():
        params, x, y = problem(lib)
        opt = lib.optim.RAdam(params, lr=0.02)
        sched = lib.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.05, total_steps=15)
        losses = []
        for _ in range(15):
            losses += run_steps(opt, params, x, y, 1)
            sched.step()
        res[lname] = (losses, [to_np(p) for p in params])
    np.testing.assert_allclose(res["ember"][0], res["torch"][0], rtol=1e-10)
    for a, b in zip(res["ember"][1], res["torch"][1]):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_scheduler_with_tensor_lr_updates_in_place():
    out = {}
    for lname, lib in LIBS.items():
        p = lib.nn.Parameter(lib.zeros(2, dtype=lib.float64))
        lr = lib.tensor(0.1, dtype=lib.float64)
        opt = lib.optim.Adamax([p], lr=lr)
        group_lr = opt.param_groups[0]["lr"]
        sched = lib.optim.lr_scheduler.ExponentialLR(opt, gamma=0.5)
        seq = []
        for _ in range(3):
            opt.step()
            sched.step()
            seq.append(float(sched.get_last_lr()[0]))
        assert lib.is_tensor(opt.param_groups[0]["lr"])
        assert opt.param_groups[0]["lr"] is group_lr  # filled in place
        out[lname] = seq
    assert out["ember"] == out["torch"] == [0.05, 0.025, 0.0125]


# --------------------------------------------------------------------------- swa_utils

def _bn_model(lib):
    nn = lib.nn
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Tanh(), nn.Linear(4, 2)).double()
    g = rng(11)
    with lib.no_grad():
        for p in model.parameters():
            p.copy_(lib.tensor(0.5 * g.standard_normal(tuple(p.shape))))
    return model


def _swa_train(lib, make_avg, steps=8, use_buffers=False):
    model = _bn_model(lib)
    avg = make_avg(lib, model)
    opt = lib.optim.SGD(model.parameters(), lr=0.1, momentum=0.5)
    g = rng(12)
    xs = [lib.tensor(g.standard_normal((6, 3))) for _ in range(steps)]
    for x in xs:
        opt.zero_grad()
        (model(x) ** 2).mean().backward()
        opt.step()
        avg.update_parameters(model)
    out = avg(xs[0])
    return avg, model, to_np(out)


def _avg_state(avg):
    return {k: to_np(v) for k, v in avg.state_dict().items()}


SWA_CASES = {
    "swa_default": lambda lib, m: lib.optim.swa_utils.AveragedModel(m),
    "swa_buffers": lambda lib, m: lib.optim.swa_utils.AveragedModel(m, use_buffers=True),
    "ema_multi": lambda lib, m: lib.optim.swa_utils.AveragedModel(
        m, multi_avg_fn=lib.optim.swa_utils.get_ema_multi_avg_fn(0.9)),
    "ema_multi_buffers": lambda lib, m: lib.optim.swa_utils.AveragedModel(
        m, multi_avg_fn=lib.optim.swa_utils.get_ema_multi_avg_fn(0.7), use_buffers=True),
    "swa_multi": lambda lib, m: lib.optim.swa_utils.AveragedModel(
        m, multi_avg_fn=lib.optim.swa_utils.get_swa_multi_avg_fn()),
    "ema_avg_fn": lambda lib, m: lib.optim.swa_utils.AveragedModel(
        m, avg_fn=lib.optim.swa_utils.get_ema_avg_fn(0.8)),
    "swa_avg_fn": lambda lib, m: lib.optim.swa_utils.AveragedModel(m, avg_fn=lib.optim.swa_utils.get_swa_avg_fn()),
    "custom_avg_fn": lambda lib, m: lib.optim.swa_utils.AveragedModel(
        m, avg_fn=lambda avg, cur, n: 0.5 * avg + 0.5 * cur),
}


@pytest.mark.parametrize("case", list(SWA_CASES))
def test_averaged_model_matches_torch(case):
    e_avg, e_model, e_out = _swa_train(ember, SWA_CASES[case])
    t_avg, t_model, t_out = _swa_train(torch, SWA_CASES[case])
    es, ts = _avg_state(e_avg), _avg_state(t_avg)
    assert list(es) == list(ts)  # 'n_averaged' then 'module.…'
    assert es["n_averaged"] == ts["n_averaged"] == 8 and es["n_averaged"].dtype == np.int64
    for k in ts:
        np.testing.assert_allclose(es[k], ts[k], rtol=1e-10, atol=1e-12, err_msg=k)
    np.testing.assert_allclose(e_out, t_out, rtol=1e-10, atol=1e-12)
    # the average differs from the last model (it really averages)
    assert not np.allclose(es["module.0.weight"], to_np(e_model[0].weight))


def test_averaged_model_is_a_deep_copy_and_rejects_two_fns():
    model = _bn_model(ember)
    avg = ember.optim.swa_utils.AveragedModel(model)
    assert avg.module is not model and avg.module[0].weight is not model[0].weight
    assert isinstance(avg, ember.nn.Module)
    assert int(avg.n_averaged) == 0
    sw = ember.optim.swa_utils
    with pytest.raises(AssertionError, match="Only one of avg_fn and multi_avg_fn should be provided"):
        sw.AveragedModel(model, avg_fn=sw.get_swa_avg_fn(), multi_avg_fn=sw.get_swa_multi_avg_fn())
    for fn in (sw.get_ema_multi_avg_fn, sw.get_ema_avg_fn):
        with pytest.raises(ValueError, match=r"Invalid decay value 1.5 provided. Please provide a value in \[0,1\] range."):
            fn(1.5)


def test_update_bn_matches_torch():
    res = {}
    for lname, lib in LIBS.items():
        model = _bn_model(lib)
        model.eval()
        g = rng(13)
        loader = [(lib.tensor(g.standard_normal((5, 3))), lib.tensor(np.zeros(5))) for _ in range(4)]
        loader.append(lib.tensor(g.standard_normal((7, 3))))  # a bare tensor batch
        bn = model[1]
        momentum = bn.momentum
        lib.optim.swa_utils.update_bn(loader, model)
        assert bn.momentum == momentum and not model.training
        res[lname] = {k: to_np(v) for k, v in model.state_dict().items() if k.startswith("1.running")}
        res[lname]["n"] = to_np(bn.num_batches_tracked)
    for k in res["torch"]:
        np.testing.assert_allclose(res["ember"][k], res["torch"][k], rtol=1e-12, atol=1e-14, err_msg=k)
    assert res["ember"]["n"] == 5
    # a model without batch norm is left alone
    lin = ember.nn.Linear(3, 2)
    ember.optim.swa_utils.update_bn([ember.zeros(2, 3)], lin)


@pytest.mark.parametrize("kw", [{"swa_lr": 0.05}, {"swa_lr": [0.05, 0.5], "anneal_epochs": 4, "anneal_strategy": "linear"},
                                {"swa_lr": 0.02, "anneal_epochs": 0}, {"swa_lr": 0.3, "anneal_epochs": 3}])
def test_swalr_matches_torch(kw):
    out = {}
    for lname, lib in LIBS.items():
        opt = _sched_opt(lib)
        sched = lib.optim.swa_utils.SWALR(opt, **kw)
        out[lname] = [_snapshot(opt, sched)] + _sched_steps(opt, sched, "SWALR", 14)
    _assert_same_seq(out["ember"], out["torch"])


def test_swalr_state_dict_round_trip_and_errors():
    opt = _sched_opt(ember)
    sched = ember.optim.swa_utils.SWALR(opt, swa_lr=0.05, anneal_epochs=6)
    full = _sched_steps(opt, sched, "SWALR", 10)
    opt = _sched_opt(ember)
    sched = ember.optim.swa_utils.SWALR(opt, swa_lr=0.05, anneal_epochs=6)
    first = _sched_steps(opt, sched, "SWALR", 4)
    osd, ssd = opt.state_dict(), sched.state_dict()
    tsd = torch.optim.swa_utils.SWALR(_sched_opt(torch), swa_lr=0.05, anneal_epochs=6).state_dict()
    assert sorted(ssd) == sorted(tsd) and "anneal_func" not in ssd
    opt2 = _sched_opt(ember)
    sched2 = ember.optim.swa_utils.SWALR(opt2, swa_lr=0.9, anneal_strategy="linear")
    opt2.load_state_dict(osd)
    sched2.load_state_dict(ssd)
    _assert_same_seq(first + _sched_steps(opt2, sched2, "SWALR", 6), full)
    for lib in LIBS.values():
        with pytest.raises(ValueError, match="anneal_strategy must be one of 'cos' or 'linear', instead got exp"):
            lib.optim.swa_utils.SWALR(_sched_opt(lib), swa_lr=0.1, anneal_strategy="exp")
        with pytest.raises(ValueError, match="anneal_epochs must be equal or greater than 0, got -1"):
            lib.optim.swa_utils.SWALR(_sched_opt(lib), swa_lr=0.1, anneal_epochs=-1)


def test_public_names_match_torch():
    for mod_e, mod_t in ((ember.optim.lr_scheduler, torch.optim.lr_scheduler),
                         (ember.optim.swa_utils, torch.optim.swa_utils)):
        assert sorted(mod_e.__all__) == sorted(mod_t.__all__)
        for n in mod_t.__all__:
            assert callable(getattr(mod_e, n)), n
    for n in ALL_OPTIMIZERS:
        assert n in ember.optim.__all__
