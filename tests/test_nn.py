"""ember.nn against torch.nn: every layer and loss on identical inputs and weights (forward and
gradients, float64), init statistics, and the Module API (names, state_dict, repr, containers)."""
import math
import os
import sys
import zlib

import numpy as np
import pytest

torch = pytest.importorskip("torch")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import ember  # noqa: E402
import ember.nn as enn  # noqa: E402
import ember.nn.functional as EF  # noqa: E402
import torch.nn as tnn  # noqa: E402
import torch.nn.functional as TF  # noqa: E402
from nn_helpers import (assert_close, assert_grads_match, dtype_name, fill_like_torch,  # noqa: E402
                        numeric_grad, pair, rng, to_np)

RTOL = 1e-6


# --------------------------------------------------------------------------- layers

LAYERS = {
    "linear": (lambda nn: nn.Linear(4, 3), (5, 4)),
    "linear_nobias": (lambda nn: nn.Linear(4, 3, bias=False), (5, 4)),
    "linear_3d_input": (lambda nn: nn.Linear(4, 3), (2, 5, 4)),
    "linear_1d_input": (lambda nn: nn.Linear(4, 3), (4,)),
    "sequential": (lambda nn: nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 2)), (5, 4)),
    "sequential_tanh_sigmoid": (lambda nn: nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2),
                                                         nn.Sigmoid()), (4, 3)),
    "flatten": (lambda nn: nn.Flatten(), (2, 3, 4)),
    "flatten_0_1": (lambda nn: nn.Flatten(0, 1), (2, 3, 4)),
    "flatten_all": (lambda nn: nn.Flatten(0, -1), (2, 3, 4)),
    "identity": (lambda nn: nn.Identity(), (3, 4)),
    "relu": (lambda nn: nn.ReLU(), (4, 5)),
    "leaky_relu": (lambda nn: nn.LeakyReLU(), (4, 5)),
    "leaky_relu_0.2": (lambda nn: nn.LeakyReLU(0.2), (4, 5)),
    "sigmoid": (lambda nn: nn.Sigmoid(), (4, 5)),
    "tanh": (lambda nn: nn.Tanh(), (4, 5)),
    "gelu": (lambda nn: nn.GELU(), (4, 5)),
    "gelu_tanh": (lambda nn: nn.GELU(approximate="tanh"), (4, 5)),
    "softmax_dim1": (lambda nn: nn.Softmax(dim=1), (4, 5)),
    "softmax_dim0": (lambda nn: nn.Softmax(dim=0), (4, 5)),
    "softmax_3d": (lambda nn: nn.Softmax(dim=1), (2, 3, 4)),
    "log_softmax": (lambda nn: nn.LogSoftmax(dim=-1), (4, 5)),
    "log_softmax_dim0": (lambda nn: nn.LogSoftmax(dim=0), (4, 5)),
    "layer_norm": (lambda nn: nn.LayerNorm(5), (4, 5)),
    "layer_norm_2d_shape": (lambda nn: nn.LayerNorm([3, 5]), (2, 3, 5)),
    "layer_norm_no_affine": (lambda nn: nn.LayerNorm(5, elementwise_affine=False, eps=1e-3), (4, 5)),
    "batch_norm_train": (lambda nn: nn.BatchNorm1d(4), (8, 4)),
    "batch_norm_train_3d": (lambda nn: nn.BatchNorm1d(4), (6, 4, 3)),
    "batch_norm_no_affine": (lambda nn: nn.BatchNorm1d(4, affine=False), (8, 4)),
    "dropout_eval": (lambda nn: nn.Dropout(0.5).eval(), (4, 5)),
    "dropout_p0": (lambda nn: nn.Dropout(0.0), (4, 5)),
}


def _run_layer(name, seed=0):
    ctor, shape = LAYERS[name]
    em, tm = ctor(enn).double(), ctor(tnn).double()
    fill_like_torch(em, tm, seed)
    g = rng(seed + 1)
    x = g.standard_normal(shape)
    ex, tx = pair(x, requires_grad=True)
    eo, to = em(ex), tm(tx)
    return em, tm, ex, tx, eo, to, g


@pytest.mark.parametrize("name", list(LAYERS))
def test_layer_forward_backward_matches_torch(name):
    em, tm, ex, tx, eo, to, g = _run_layer(name)
    assert tuple(eo.shape) == tuple(to.shape)
    assert dtype_name(eo.dtype) == "float64"
    assert_close(eo, to, RTOL, 1e-10, msg="forward")
    proj = g.standard_normal(tuple(to.shape))
    ep, tp = pair(proj)
    (eo * ep).sum().backward()
    (to * tp).sum().backward()
    assert_close(ex.grad, tx.grad, RTOL, 1e-10, msg="input grad")
    assert_grads_match(em, tm, RTOL)
    e_buffers, t_buffers = list(em.named_buffers()), list(tm.named_buffers())
    assert [n for n, _ in e_buffers] == [n for n, _ in t_buffers]
    for (name, eb), (_, tb) in zip(e_buffers, t_buffers):
        assert_close(eb, tb, RTOL, 1e-10, msg=name)


def test_layer_float32_default():
    em, tm = enn.Linear(3, 2), tnn.Linear(3, 2)
    fill_like_torch(em, tm)
    assert dtype_name(em.weight.dtype) == "float32"
    x = rng(3).standard_normal((4, 3)).astype(np.float32)
    ex, tx = pair(x)
    assert_close(em(ex), tm(tx), 1e-5, 1e-6)
    assert dtype_name(em(ex).dtype) == "float32"


def test_linear_default_init_bounds():
    fan_in = 200
    layer = enn.Linear(fan_in, 64)
    w, b = to_np(layer.weight), to_np(layer.bias)
    bound = 1 / math.sqrt(fan_in)  # kaiming_uniform(a=sqrt(5)): gain*sqrt(3/fan_in) == 1/sqrt(fan_in)
    assert w.shape == (64, fan_in) and b.shape == (64,)
    assert np.all(np.abs(w) <= bound + 1e-7)
    assert np.abs(w).max() > 0.95 * bound
    assert abs(w.mean()) < 0.05 * bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.05 * bound
    assert np.all(np.abs(b) <= bound + 1e-7)
    assert np.abs(b).max() > 0.5 * bound
    assert len(np.unique(b)) > 60
    other = enn.Linear(fan_in, 64)
    assert not np.array_equal(to_np(other.weight), w), "two layers got the same init"
    assert layer.weight.requires_grad and layer.bias.requires_grad
    assert enn.Linear(3, 2, bias=False).bias is None


def test_dropout_train_and_eval():
    p = 0.3
    drop = enn.Dropout(p)
    assert drop.training
    x = ember.ones(400, 250, requires_grad=True)
    y = drop(x)
    out = to_np(y)
    zeros = np.mean(out == 0)
    assert abs(zeros - p) < 0.01
    kept = out[out != 0]
    np.testing.assert_allclose(kept, 1 / (1 - p), rtol=1e-6)
    y.sum().backward()
    np.testing.assert_allclose(to_np(x.grad), (out != 0) / (1 - p), rtol=1e-6)
    drop.eval()
    x2 = ember.tensor(rng(0).standard_normal((5, 6)))
    np.testing.assert_array_equal(to_np(drop(x2)), to_np(x2))
    np.testing.assert_array_equal(to_np(EF.dropout(x2, 0.5, training=False)), to_np(x2))
    assert np.all(to_np(EF.dropout(x2, 1.0, training=True)) == 0)
    assert np.mean(to_np(EF.dropout(ember.ones(10000), 0.5)) == 0) > 0.45  # training=True default
    assert repr(enn.Dropout(0.25)) == repr(tnn.Dropout(0.25))


def test_batchnorm_running_stats_and_eval():
    em, tm = enn.BatchNorm1d(3).double(), tnn.BatchNorm1d(3).double()
    assert [n for n, _ in em.named_buffers()] == ["running_mean", "running_var", "num_batches_tracked"]
    assert list(em.state_dict()) == list(tm.state_dict())
    g = rng(5)
    for step in range(3):
        x = g.standard_normal((6, 3)) * (step + 1) + step
        ex, tx = pair(x)
        assert_close(em(ex), tm(tx), RTOL, 1e-10)
    assert_close(em.running_mean, tm.running_mean, RTOL, 1e-12)
    assert_close(em.running_var, tm.running_var, RTOL, 1e-12)  # unbiased variance, momentum 0.1
    assert int(em.num_batches_tracked.item()) == 3
    assert dtype_name(em.num_batches_tracked.dtype) == "int64"
    assert not em.running_mean.requires_grad
    em.eval(), tm.eval()
    x = g.standard_normal((4, 3))
    ex, tx = pair(x, requires_grad=True)
    eo, to = em(ex), tm(tx)
    assert_close(eo, to, RTOL, 1e-10)
    before = to_np(em.running_mean)
    eo.sum().backward(), to.sum().backward()
    assert_close(ex.grad, tx.grad, RTOL, 1e-10)
    np.testing.assert_array_equal(to_np(em.running_mean), before)  # eval does not update


def test_batchnorm_cumulative_momentum():
    em, tm = enn.BatchNorm1d(2, momentum=None).double(), tnn.BatchNorm1d(2, momentum=None).double()
    g = rng(6)
    for _ in range(4):
        ex, tx = pair(g.standard_normal((5, 2)))
        em(ex), tm(tx)
    assert_close(em.running_mean, tm.running_mean, RTOL, 1e-12)
    assert_close(em.running_var, tm.running_var, RTOL, 1e-12)


def test_embedding():
    em, tm = enn.Embedding(7, 3).double(), tnn.Embedding(7, 3).double()
    fill_like_torch(em, tm)
    idx = np.array([[0, 3, 3], [6, 1, 3]], dtype=np.int64)
    ei, ti = pair(idx)
    eo, to = em(ei), tm(ti)
    assert tuple(eo.shape) == (2, 3, 3)
    assert_close(eo, to)
    proj = rng(1).standard_normal((2, 3, 3))
    ep, tp = pair(proj)
    (eo * ep).sum().backward()
    (to * tp).sum().backward()
    assert_close(em.weight.grad, tm.weight.grad)  # repeated index 3 accumulates
    init = to_np(enn.Embedding(500, 40).weight)
    assert abs(init.mean()) < 0.05 and abs(init.std() - 1) < 0.05  # N(0, 1) init
    assert repr(enn.Embedding(10, 3)) == repr(tnn.Embedding(10, 3))


# --------------------------------------------------------------------------- functional

FUNCTIONAL = {
    "relu": lambda F, x: F.relu(x),
    "leaky_relu": lambda F, x: F.leaky_relu(x, 0.2),
    "leaky_relu_default": lambda F, x: F.leaky_relu(x),
    "gelu": lambda F, x: F.gelu(x),
    "gelu_tanh": lambda F, x: F.gelu(x, approximate="tanh"),
    "sigmoid": lambda F, x: F.sigmoid(x),
    "tanh": lambda F, x: F.tanh(x),
    "softmax": lambda F, x: F.softmax(x, dim=1),
    "softmax_neg": lambda F, x: F.softmax(x, dim=-2),
    "log_softmax": lambda F, x: F.log_softmax(x, dim=1),
    "log_softmax_0": lambda F, x: F.log_softmax(x, dim=0),
}


@pytest.mark.parametrize("name", list(FUNCTIONAL))
def test_functional_matches_torch(name):
    g = rng(11)
    ex, tx = pair(g.standard_normal((4, 5)), requires_grad=True)
    eo, to = FUNCTIONAL[name](EF, ex), FUNCTIONAL[name](TF, tx)
    assert_close(eo, to)
    ep, tp = pair(g.standard_normal((4, 5)))
    (eo * ep).sum().backward(), (to * tp).sum().backward()
    assert_close(ex.grad, tx.grad)


@pytest.mark.parametrize("bias", [True, False])
def test_functional_linear(bias):
    g = rng(12)
    ex, tx = pair(g.standard_normal((6, 4)), True)
    ew, tw = pair(g.standard_normal((3, 4)), True)
    eb, tb = pair(g.standard_normal(3), True) if bias else (None, None)
    eo, to = EF.linear(ex, ew, eb), TF.linear(tx, tw, tb)
    assert_close(eo, to)
    ep, tp = pair(g.standard_normal((6, 3)))
    (eo * ep).sum().backward(), (to * tp).sum().backward()
    for e, t in [(ex, tx), (ew, tw)] + ([(eb, tb)] if bias else []):
        assert_close(e.grad, t.grad)


def test_functional_one_hot():
    idx = np.array([2, 0, 1, 2], dtype=np.int64)
    ei, ti = pair(idx)
    for kw in ({}, {"num_classes": 5}):
        eo, to = EF.one_hot(ei, **kw), TF.one_hot(ti, **kw)
        assert dtype_name(eo.dtype) == dtype_name(to.dtype) == "int64"
        np.testing.assert_array_equal(to_np(eo), to_np(to))
    e2, t2 = pair(np.array([[1, 0], [3, 2]], dtype=np.int64))
    np.testing.assert_array_equal(to_np(EF.one_hot(e2)), to_np(TF.one_hot(t2)))


# --------------------------------------------------------------------------- losses

def _ce_input(g, n=6, c=4):
    x = g.standard_normal((n, c)) * 1.5
    t = np.array([0, 1, 3, 1, 2, 0], dtype=np.int64)[:n]
    return x, t


def _loss_cases():
    cases = {}

    def add(name, module, functional, make, **kw):
        cases[name] = (module, functional, make, kw)

    reg = lambda g: (g.standard_normal((4, 3)), g.standard_normal((4, 3)))  # noqa: E731
    wide = lambda g: (2 * g.standard_normal((4, 3)), g.standard_normal((4, 3)))  # noqa: E731
    prob = lambda g: (g.uniform(0.05, 0.95, (4, 3)), g.uniform(0, 1, (4, 3)))  # noqa: E731
    logit = lambda g: (2 * g.standard_normal((4, 3)), g.uniform(0, 1, (4, 3)))  # noqa: E731
    w4 = np.array([0.5, 2.0, 1.0, 1.5])
    add("mse", "MSELoss", "mse_loss", reg)
    add("l1", "L1Loss", "l1_loss", reg)
    add("smooth_l1", "SmoothL1Loss", "smooth_l1_loss", wide)
    add("smooth_l1_beta", "SmoothL1Loss", "smooth_l1_loss", wide, beta=0.5)
    add("huber", "HuberLoss", None, wide)
    add("huber_delta", "HuberLoss", None, wide, delta=0.7)
    add("cross_entropy", "CrossEntropyLoss", "cross_entropy", _ce_input)
    add("cross_entropy_weight", "CrossEntropyLoss", "cross_entropy", _ce_input, weight=w4)
    add("cross_entropy_ignore", "CrossEntropyLoss", "cross_entropy", _ce_input, ignore_index=1)
    add("cross_entropy_smooth", "CrossEntropyLoss", "cross_entropy", _ce_input, label_smoothing=0.1)
    add("cross_entropy_weight_smooth", "CrossEntropyLoss", "cross_entropy", _ce_input, weight=w4,
        label_smoothing=0.2)
    add("cross_entropy_weight_ignore", "CrossEntropyLoss", "cross_entropy", _ce_input, weight=w4,
        ignore_index=0)
    add("cross_entropy_all", "CrossEntropyLoss", "cross_entropy", _ce_input, weight=w4, ignore_index=3,
        label_smoothing=0.15)
    add("nll", "NLLLoss", "nll_loss", _ce_input)
    add("nll_weight", "NLLLoss", "nll_loss", _ce_input, weight=w4)
    add("nll_ignore", "NLLLoss", "nll_loss", _ce_input, ignore_index=1)
    add("bce", "BCELoss", "binary_cross_entropy", prob)
    add("bce_weight", "BCELoss", "binary_cross_entropy", prob, weight=np.array([1.0, 0.5, 2.0]))
    add("bce_logits", "BCEWithLogitsLoss", "binary_cross_entropy_with_logits", logit)
    add("bce_logits_pos_weight", "BCEWithLogitsLoss", "binary_cross_entropy_with_logits", logit,
        pos_weight=np.array([0.5, 2.0, 3.0]))
    add("bce_logits_both", "BCEWithLogitsLoss", "binary_cross_entropy_with_logits", logit,
        weight=np.array([[1.0], [0.5], [2.0], [1.5]]), pos_weight=np.array([0.5, 2.0, 3.0]))
    return cases


LOSSES = _loss_cases()
REDUCTIONS = ["mean", "sum", "none"]


def _lib_kwargs(kw, lib):
    return {k: (lib.tensor(v.copy()) if isinstance(v, np.ndarray) else v) for k, v in kw.items()}


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", list(LOSSES))
def test_loss_matches_torch(name, reduction):
    module, functional, make, kw = LOSSES[name]
    g = rng(zlib.crc32(name.encode()))
    x, target = make(g)
    results = {}
    for lib, nn, F in ((ember, enn, EF), (torch, tnn, TF)):
        xt = lib.tensor(x.copy()).requires_grad_(True)
        tt = lib.tensor(target.copy())
        kwargs = _lib_kwargs(kw, lib)
        out = getattr(nn, module)(reduction=reduction, **kwargs)(xt, tt)
        if functional is not None:
            out_f = getattr(F, functional)(xt, tt, reduction=reduction, **kwargs)
            assert_close(out_f, out, 1e-12, 1e-14, msg="functional != module")
        proj = lib.tensor(rng(99).standard_normal(tuple(out.shape)))
        (out * proj).sum().backward()
        results[lib.__name__] = (out, xt.grad)
    (eo, eg), (to, tg) = results["ember"], results["torch"]
    assert tuple(eo.shape) == tuple(to.shape)
    assert dtype_name(eo.dtype) == "float64"
    assert_close(eo, to, RTOL, 1e-12, msg="loss value")
    assert_close(eg, tg, RTOL, 1e-12, msg="input gradient")


def test_loss_module_repr_and_defaults():
    for name in ("MSELoss", "L1Loss", "CrossEntropyLoss", "NLLLoss", "BCELoss", "BCEWithLogitsLoss",
                 "SmoothL1Loss", "HuberLoss"):
        e, t = getattr(enn, name)(), getattr(tnn, name)()
        assert e.reduction == t.reduction == "mean", name
        assert repr(e) == repr(t), name
    assert enn.CrossEntropyLoss().ignore_index == -100
    assert enn.CrossEntropyLoss().label_smoothing == 0.0


def test_cross_entropy_float32_large_logits_stable():
    x = np.array([[1000.0, 0.0, -1000.0], [-500.0, 500.0, 0.0]], dtype=np.float32)
    t = np.array([0, 2], dtype=np.int64)
    ex, tx = pair(x, True)
    et, tt = pair(t)
    eo, to = EF.cross_entropy(ex, et), TF.cross_entropy(tx, tt)
    assert np.isfinite(to_np(eo)).all()
    assert_close(eo, to, 1e-5, 1e-4)
    eo.backward(), to.backward()
    assert_close(ex.grad, tx.grad, 1e-5, 1e-6)


def test_bce_with_logits_large_logits_stable():
    x = np.array([[200.0, -200.0, 0.5]], dtype=np.float32)
    y = np.array([[0.0, 1.0, 1.0]], dtype=np.float32)
    ex, tx = pair(x, True)
    ey, ty = pair(y)
    eo = EF.binary_cross_entropy_with_logits(ex, ey)
    to = TF.binary_cross_entropy_with_logits(tx, ty)
    assert np.isfinite(to_np(eo)).all()
    assert_close(eo, to, 1e-5, 1e-4)
    eo.backward(), to.backward()
    assert_close(ex.grad, tx.grad, 1e-5, 1e-6)


GRADCHECK = ["mse", "cross_entropy", "cross_entropy_weight", "cross_entropy_ignore", "cross_entropy_smooth",
             "cross_entropy_all", "nll_weight", "bce", "bce_weight", "bce_logits", "bce_logits_pos_weight",
             "bce_logits_both"]


@pytest.mark.parametrize("reduction", ["mean", "none"])
@pytest.mark.parametrize("name", GRADCHECK)
def test_fused_loss_gradcheck(name, reduction):
    """ember's analytic gradient against central differences of ember's own forward (float64)."""
    module, functional, make, kw = LOSSES[name]
    g = rng(7)
    x, target = make(g)
    kwargs = _lib_kwargs(kw, ember)
    tt = ember.tensor(target.copy())
    fn = getattr(EF, functional)
    proj = None

    def f(arr):
        with ember.no_grad():
            out = fn(ember.tensor(arr.copy()), tt, reduction=reduction, **kwargs)
            return float((out * proj).sum().item())

    xt = ember.tensor(x.copy()).requires_grad_(True)
    out = fn(xt, tt, reduction=reduction, **kwargs)
    proj = ember.tensor(g.standard_normal(tuple(out.shape)))
    (out * proj).sum().backward()
    num = numeric_grad(f, x)
    np.testing.assert_allclose(to_np(xt.grad), num, rtol=1e-5, atol=1e-7)


# --------------------------------------------------------------------------- init

def test_init_functions():
    import ember.nn.init as einit
    import torch.nn.init as tinit

    for args in [("linear",), ("relu",), ("tanh",), ("sigmoid",), ("leaky_relu", 0.2), ("leaky_relu",)]:
        assert einit.calculate_gain(*args) == pytest.approx(tinit.calculate_gain(*args), rel=1e-12), args
    w = ember.empty(300, 200)
    assert einit.zeros_(w) is w and np.all(to_np(w) == 0)
    einit.ones_(w)
    assert np.all(to_np(w) == 1)
    einit.constant_(w, 0.25)
    assert np.all(to_np(w) == 0.25)
    einit.uniform_(w, -0.5, 2.0)
    a = to_np(w)
    assert a.min() >= -0.5 and a.max() <= 2.0 and abs(a.mean() - 0.75) < 0.02
    einit.normal_(w, mean=1.0, std=0.5)
    a = to_np(w)
    assert abs(a.mean() - 1.0) < 0.01 and abs(a.std() - 0.5) < 0.01
    fan_in, fan_out = 200, 300
    einit.xavier_uniform_(w, gain=2.0)
    bound = 2.0 * math.sqrt(6 / (fan_in + fan_out))
    a = to_np(w)
    assert np.abs(a).max() <= bound + 1e-6 and np.abs(a).max() > 0.95 * bound
    einit.xavier_normal_(w)
    assert abs(to_np(w).std() - math.sqrt(2 / (fan_in + fan_out))) < 0.003
    einit.kaiming_uniform_(w, nonlinearity="relu")
    bound = math.sqrt(2) * math.sqrt(3 / fan_in)
    a = to_np(w)
    assert np.abs(a).max() <= bound + 1e-6 and np.abs(a).max() > 0.95 * bound
    einit.kaiming_normal_(w, mode="fan_out", nonlinearity="relu")
    assert abs(to_np(w).std() - math.sqrt(2 / fan_out)) < 0.003
    p = enn.Linear(3, 3).weight
    einit.zeros_(p)  # works on a parameter that requires grad, without recording history
    assert p.grad_fn is None and p.requires_grad


# --------------------------------------------------------------------------- Module API

def make_net(lib):
    nn = lib.nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(4, 6)
            self.bn = nn.BatchNorm1d(6)
            self.act = nn.ReLU()
            self.blocks = nn.ModuleList([nn.Linear(6, 6), nn.Linear(6, 6, bias=False)])
            self.heads = nn.ModuleDict({"b": nn.Linear(6, 2), "a": nn.Linear(6, 3)})
            self.seq = nn.Sequential(nn.Tanh(), nn.Linear(5, 2))
            self.scale = nn.Parameter(lib.ones(2))
            self.register_buffer("offset", lib.zeros(2))
            self.register_buffer("scratch", lib.zeros(1), persistent=False)

        def forward(self, x):
            h = self.act(self.bn(self.fc1(x)))
            for block in self.blocks:
                h = lib.tanh(block(h))
            out = lib.cat([self.heads["b"](h), self.heads["a"](h)], dim=1)
            return self.seq(out) * self.scale + self.offset

    return Net()


def test_named_parameters_order_and_names():
    en, tn = make_net(ember), make_net(torch)
    e = [(n, tuple(p.shape)) for n, p in en.named_parameters()]
    t = [(n, tuple(p.shape)) for n, p in tn.named_parameters()]
    assert e == t
    assert len(list(en.parameters())) == len(t)
    assert all(isinstance(p, enn.Parameter) for p in en.parameters())
    assert all(isinstance(p, ember.Tensor) for p in en.parameters())


def test_state_dict_keys_and_shapes():
    en, tn = make_net(ember), make_net(torch)
    esd, tsd = en.state_dict(), tn.state_dict()
    assert list(esd) == list(tsd)
    for k in tsd:
        assert tuple(esd[k].shape) == tuple(tsd[k].shape), k
        assert dtype_name(esd[k].dtype) == dtype_name(tsd[k].dtype), k
        assert not esd[k].requires_grad, k
    assert "scratch" not in esd
    assert [n for n, _ in en.named_buffers()] == [n for n, _ in tn.named_buffers()]
    assert len(list(en.buffers())) == len(list(tn.buffers()))
    assert [n for n, _ in en.named_modules()] == [n for n, _ in tn.named_modules()]
    assert [n for n, _ in en.named_children()] == [n for n, _ in tn.named_children()]
    assert [type(m).__name__ for m in en.children()] == [type(m).__name__ for m in tn.children()]
    assert [type(m).__name__ for m in en.modules()] == [type(m).__name__ for m in tn.modules()]


def test_load_torch_state_dict_through_numpy():
    en, tn = make_net(ember), make_net(torch)
    g = rng(21)
    tn(torch.tensor(g.standard_normal((8, 4)), dtype=torch.float32))  # moves the BN running stats
    with torch.no_grad():
        tn.offset.copy_(torch.tensor([0.1, -0.2]))
    sd = {k: ember.tensor(v.detach().numpy().copy()) for k, v in tn.state_dict().items()}
    result = en.load_state_dict(sd)
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert repr(result) == repr(tn.load_state_dict(tn.state_dict()))
    for k, v in tn.state_dict().items():
        np.testing.assert_array_equal(to_np(en.state_dict()[k]), v.numpy(), err_msg=k)
    x = g.standard_normal((5, 4)).astype(np.float32)
    for mode in ("eval", "train"):
        getattr(en, mode)(), getattr(tn, mode)()
        ex, tx = pair(x)
        assert_close(en(ex), tn(tx), 1e-5, 1e-6, msg=mode)
    assert int(en.bn.num_batches_tracked.item()) == int(tn.bn.num_batches_tracked.item())


def test_load_state_dict_strict_false_and_errors():
    en, tn = make_net(ember), make_net(torch)
    esd, tsd = dict(en.state_dict()), dict(tn.state_dict())
    for sd in (esd, tsd):
        del sd["fc1.bias"], sd["bn.running_var"]
    esd["extra.weight"], tsd["extra.weight"] = ember.zeros(2), torch.zeros(2)
    er, tr = en.load_state_dict(esd, strict=False), tn.load_state_dict(tsd, strict=False)
    assert er.missing_keys == tr.missing_keys
    assert er.unexpected_keys == tr.unexpected_keys
    assert repr(er) == repr(tr)
    missing, unexpected = er  # a namedtuple, like torch's _IncompatibleKeys
    assert missing == tr.missing_keys and unexpected == tr.unexpected_keys
    with pytest.raises(RuntimeError, match="fc1.bias"):
        en.load_state_dict(esd)
    bad = dict(en.state_dict())
    bad["fc1.weight"] = ember.zeros(3, 3)
    with pytest.raises(RuntimeError, match="size mismatch"):
        en.load_state_dict(bad, strict=False)


def test_load_state_dict_copies_values():
    em = enn.Linear(2, 2)
    src = {"weight": ember.ones(2, 2), "bias": ember.zeros(2)}
    em.load_state_dict(src)
    src["weight"][0, 0] = 5.0  # the module owns its own copy
    assert to_np(em.weight)[0, 0] == 1.0
    assert isinstance(em.weight, enn.Parameter) and em.weight.requires_grad


def test_state_dict_entries_are_live():
    em = enn.Sequential(enn.Linear(3, 2))
    em.state_dict()["0.weight"][0] = 1
    np.testing.assert_array_equal(to_np(em[0].weight)[0], np.ones(3, dtype=np.float32))
    sd = em.state_dict()
    with ember.no_grad():
        em[0].bias.fill_(7.0)
    np.testing.assert_array_equal(to_np(sd["0.bias"]), [7.0, 7.0])
    # the lab's idiom
    lab = enn.Linear(1, 1)
    lab.state_dict()["weight"][0] = -15
    lab.state_dict()["bias"][0] = -10
    assert lab.weight.item() == -15 and lab.bias.item() == -10
    assert lab.weight.requires_grad


def test_train_eval_flags():
    en = make_net(ember)
    assert en.training and all(m.training for m in en.modules())
    assert en.eval() is en
    assert not en.training and not any(m.training for m in en.modules())
    assert en.train() is en and all(m.training for m in en.modules())
    en.train(False)
    assert not any(m.training for m in en.modules())
    en.seq.train()
    assert en.seq.training and en.seq[1].training and not en.training


def test_zero_grad():
    em = enn.Sequential(enn.Linear(3, 2), enn.ReLU(), enn.Linear(2, 1))
    em(ember.ones(4, 3)).sum().backward()
    assert all(p.grad is not None for p in em.parameters())
    em.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not np.any(to_np(p.grad)) for p in em.parameters())
    em(ember.ones(4, 3)).sum().backward()
    em.zero_grad()  # torch's default: set_to_none=True
    assert all(p.grad is None for p in em.parameters())


def test_apply_order_and_return():
    seen_e, seen_t = [], []
    en, tn = make_net(ember), make_net(torch)
    assert en.apply(lambda m: seen_e.append(type(m).__name__)) is en
    tn.apply(lambda m: seen_t.append(type(m).__name__))
    assert seen_e == seen_t

    def init(m):
        if isinstance(m, enn.Linear):
            enn.init.constant_(m.weight, 0.5)

    en.apply(init)
    assert np.all(to_np(en.blocks[1].weight) == 0.5) and np.all(to_np(en.fc1.weight) == 0.5)


def test_requires_grad_():
    en = make_net(ember)
    assert en.requires_grad_(False) is en
    assert not any(p.requires_grad for p in en.parameters())
    en.fc1.requires_grad_()
    assert [n for n, p in en.named_parameters() if p.requires_grad] == ["fc1.weight", "fc1.bias"]


REPRS = [
    lambda nn: nn.Sequential(nn.Linear(2, 3), nn.ReLU()),
    lambda nn: nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Dropout(0.2), nn.Linear(8, 1, bias=False), nn.Sigmoid()),
    lambda nn: nn.Linear(3, 1, bias=False),
    lambda nn: nn.LeakyReLU(0.2),
    lambda nn: nn.LeakyReLU(),
    lambda nn: nn.GELU(),
    lambda nn: nn.GELU(approximate="tanh"),
    lambda nn: nn.Softmax(dim=1),
    lambda nn: nn.LogSoftmax(dim=-1),
    lambda nn: nn.Flatten(),
    lambda nn: nn.Flatten(0, 2),
    lambda nn: nn.Identity(),
    lambda nn: nn.BatchNorm1d(4),
    lambda nn: nn.BatchNorm1d(4, momentum=None, affine=False),
    lambda nn: nn.LayerNorm(5),
    lambda nn: nn.LayerNorm([2, 5], eps=1e-3, elementwise_affine=False),
    lambda nn: nn.Embedding(10, 3),
    lambda nn: nn.Dropout(),
    lambda nn: nn.ModuleList([nn.Linear(2, 2), nn.ReLU()]),
    lambda nn: nn.ModuleDict({"enc": nn.Linear(2, 2), "act": nn.Sigmoid()}),
    lambda nn: nn.Sequential(nn.Sequential(nn.Linear(1, 2)), nn.ModuleList([nn.Tanh()])),
    lambda nn: nn.CrossEntropyLoss(label_smoothing=0.1),
]


@pytest.mark.parametrize("i", range(len(REPRS)))
def test_repr_matches_torch(i):
    assert repr(REPRS[i](enn)) == repr(REPRS[i](tnn))


def test_custom_module_repr():
    assert repr(make_net(ember)) == repr(make_net(torch))


def test_sequential_api():
    e = enn.Sequential(enn.Linear(2, 3), enn.ReLU(), enn.Linear(3, 1))
    assert len(e) == 3
    assert isinstance(e[0], enn.Linear) and isinstance(e[-1], enn.Linear) and isinstance(e[1], enn.ReLU)
    sub = e[1:]
    assert isinstance(sub, enn.Sequential) and len(sub) == 2 and sub[0] is e[1]
    assert [type(m).__name__ for m in e] == ["Linear", "ReLU", "Linear"]
    assert e.append(enn.Sigmoid()) is e
    assert len(e) == 4 and [n for n, _ in e.named_children()] == ["0", "1", "2", "3"]
    assert list(e.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    out = e(ember.ones(5, 2))
    assert tuple(out.shape) == (5, 1) and np.all((to_np(out) > 0) & (to_np(out) < 1))
    from collections import OrderedDict
    named = enn.Sequential(OrderedDict([("fc", enn.Linear(2, 2)), ("act", enn.ReLU())]))
    assert list(named.state_dict()) == ["fc.weight", "fc.bias"]
    assert isinstance(named.fc, enn.Linear) and named[0] is named.fc
    tn = tnn.Sequential(OrderedDict([("fc", tnn.Linear(2, 2)), ("act", tnn.ReLU())]))
    assert repr(named) == repr(tn)


def test_module_list_and_dict():
    ml = enn.ModuleList([enn.Linear(2, 2) for _ in range(3)])
    assert len(ml) == 3 and isinstance(ml[-1], enn.Linear)
    ml.append(enn.ReLU())
    ml.extend([enn.Tanh(), enn.Sigmoid()])
    assert len(ml) == 6 and [type(m).__name__ for m in ml][3:] == ["ReLU", "Tanh", "Sigmoid"]
    assert len(list(ml.parameters())) == 6
    holder = enn.Module()
    holder.layers = ml
    assert [n for n, _ in holder.named_parameters()][:2] == ["layers.0.weight", "layers.0.bias"]
    md = enn.ModuleDict({"x": enn.Linear(2, 1)})
    md["y"] = enn.Linear(1, 1)
    md.update({"z": enn.ReLU()})
    assert len(md) == 3 and "y" in md and "w" not in md
    assert list(md.keys()) == ["x", "y", "z"]
    assert [k for k, _ in md.items()] == ["x", "y", "z"]
    assert isinstance(list(md.values())[0], enn.Linear)
    assert list(md.state_dict()) == ["x.weight", "x.bias", "y.weight", "y.bias"]


def test_parameter_basics():
    p = enn.Parameter(ember.tensor([1.0, 2.0]))
    assert isinstance(p, ember.Tensor) and isinstance(p, enn.Parameter)
    assert p.requires_grad and p.is_leaf
    assert not enn.Parameter(ember.tensor([1.0]), requires_grad=False).requires_grad
    assert repr(p) == repr(tnn.Parameter(torch.tensor([1.0, 2.0])))


def test_attribute_registration():
    m = enn.Module()
    m.w = enn.Parameter(ember.zeros(2))
    m.plain = ember.zeros(3)  # plain tensors are not registered
    m.sub = enn.Linear(1, 1)
    m.register_parameter("extra", enn.Parameter(ember.ones(1)))
    m.add_module("other", enn.ReLU())
    assert [n for n, _ in m.named_parameters()] == ["w", "extra", "sub.weight", "sub.bias"]
    assert list(m.state_dict()) == ["w", "extra", "sub.weight", "sub.bias"]
    assert [n for n, _ in m.named_children()] == ["sub", "other"]
    with pytest.raises(AttributeError):
        m.missing_attribute
    m.register_parameter("none_param", None)
    assert m.none_param is None
    assert "none_param" not in m.state_dict()


def test_shared_parameters_counted_once():
    lin = enn.Linear(2, 2)
    e = enn.Sequential(lin, enn.ReLU(), lin)
    tl = tnn.Linear(2, 2)
    t = tnn.Sequential(tl, tnn.ReLU(), tl)
    assert len(list(e.parameters())) == len(list(t.parameters())) == 2
    assert [n for n, _ in e.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert list(e.state_dict()) == list(t.state_dict())


def test_to_float_double():
    e = enn.Sequential(enn.Linear(2, 3), enn.BatchNorm1d(3))
    assert e.double() is e
    assert all(dtype_name(p.dtype) == "float64" for p in e.parameters())
    assert dtype_name(e[1].running_mean.dtype) == "float64"
    assert dtype_name(e[1].num_batches_tracked.dtype) == "int64"  # integer buffers keep their dtype
    e.float()
    assert all(dtype_name(p.dtype) == "float32" for p in e.parameters())
    assert e.to("cpu") is e and e.to(ember.device("cpu")) is e
    e.to(ember.float64)
    assert all(dtype_name(p.dtype) == "float64" for p in e.parameters())
    assert all(isinstance(p, enn.Parameter) and p.requires_grad for p in e.parameters())
    out = e(ember.ones(4, 2, dtype=ember.float64))
    out.sum().backward()
    assert all(p.grad is not None for p in e.parameters())


def test_cross_entropy_unbatched_and_kdim():
    g = rng(40)
    cases = [
        (g.standard_normal(4), np.array(2, dtype=np.int64)),  # unbatched: (C,) and a 0-d target
        (g.standard_normal((3, 4, 5)), g.integers(0, 4, (3, 5)).astype(np.int64)),  # (N, C, d)
    ]
    for x, t in cases:
        for kw in ({}, {"reduction": "none"}, {"label_smoothing": 0.1}, {"weight": np.array([1.0, 2.0, 0.5, 1.0])}):
            ex, tx = pair(x, True)
            et, tt = pair(t)
            eo = EF.cross_entropy(ex, et, **_lib_kwargs(kw, ember))
            to = TF.cross_entropy(tx, tt, **_lib_kwargs(kw, torch))
            assert_close(eo, to, msg=str(kw))
            eo.sum().backward(), to.sum().backward()
            assert_close(ex.grad, tx.grad, msg=str(kw))


def test_bce_clamps_log_like_torch():
    x = np.array([0.0, 1.0, 0.5, 1.0])
    y = np.array([1.0, 0.0, 1.0, 1.0])
    ex, tx = pair(x)
    ey, ty = pair(y)
    eo = EF.binary_cross_entropy(ex, ey, reduction="none")
    to = TF.binary_cross_entropy(tx, ty, reduction="none")
    assert np.isfinite(to_np(eo)).all()
    assert_close(eo, to)


def test_parameters_recurse_false_and_prefix():
    en, tn = make_net(ember), make_net(torch)
    assert [n for n, _ in en.named_parameters(recurse=False)] == [n for n, _ in tn.named_parameters(recurse=False)]
    assert len(list(en.parameters(recurse=False))) == 1
    assert [n for n, _ in en.named_parameters(prefix="net")] == [n for n, _ in tn.named_parameters(prefix="net")]
    assert [n for n, _ in en.named_buffers(recurse=False)] == [n for n, _ in tn.named_buffers(recurse=False)]


def test_noncontiguous_inputs_to_fused_ops():
    """Transposed / strided inputs must give the same results as contiguous ones (fused kernels)."""
    g = rng(50)
    base = g.standard_normal((4, 6))
    em, tm = enn.Linear(4, 3).double(), tnn.Linear(4, 3).double()
    fill_like_torch(em, tm)
    ex, tx = pair(base, True)
    for f in (lambda a: a.t(), lambda a: a.t()[::2], lambda a: a[:, 1:5].t()):
        assert_close(em(f(ex)), tm(f(tx)))
    x3 = g.standard_normal((4, 2, 5))
    e3, t3 = pair(x3)
    assert_close(em(e3.permute(2, 1, 0)), tm(t3.permute(2, 1, 0)))
    logits = g.standard_normal((4, 6))
    target = np.array([1, 0, 3, 2, 2, 1], dtype=np.int64)
    el, tl = pair(logits, True)
    et, tt = pair(target)
    eo, to = EF.cross_entropy(el.t(), et, label_smoothing=0.1), TF.cross_entropy(tl.t(), tt, label_smoothing=0.1)
    assert_close(eo, to)
    eo.backward(), to.backward()
    assert_close(el.grad, tl.grad)
    ey, ty = pair(g.uniform(0, 1, (6, 4)))
    eo = EF.binary_cross_entropy_with_logits(el.t(), ey, pos_weight=ember.tensor([1.0, 2.0, 0.5, 1.0]).double())
    to = TF.binary_cross_entropy_with_logits(tl.t(), ty, pos_weight=torch.tensor([1.0, 2.0, 0.5, 1.0]).double())
    assert_close(eo, to)
    eo2, to2 = EF.mse_loss(el.t(), ey), TF.mse_loss(tl.t(), ty)
    assert_close(eo2, to2)
    eo3, to3 = EF.log_softmax(el.t(), dim=1), TF.log_softmax(tl.t(), dim=1)
    assert_close(eo3, to3)


def test_loss_target_gradients():
    g = rng(51)
    for fn in ("mse_loss", "l1_loss", "smooth_l1_loss"):
        ex, tx = pair(g.standard_normal((3, 4)), True)
        ey, ty = pair(g.standard_normal((3, 4)), True)
        eo, to = getattr(EF, fn)(ex, ey), getattr(TF, fn)(tx, ty)
        eo.backward(), to.backward()
        assert_close(ex.grad, tx.grad, msg=fn)
        assert_close(ey.grad, ty.grad, msg=fn)


def test_softmax_float32_large_values_stable():
    x = np.array([[1000.0, 999.0, -1000.0], [88.0, 89.0, 90.0]], dtype=np.float32)
    ex, tx = pair(x)
    for fn in ("softmax", "log_softmax"):
        eo, to = getattr(EF, fn)(ex, dim=1), getattr(TF, fn)(tx, dim=1)
        assert np.isfinite(to_np(eo)).all(), fn
        assert_close(eo, to, 1e-5, 1e-6, msg=fn)


def test_extra_repr_of_custom_module():
    def build(nn):
        class Scaled(nn.Module):
            def __init__(self):
                super().__init__()
                self.k = 3
                self.inner = nn.Linear(2, 2)

            def extra_repr(self):
                return f"k={self.k}"

            def forward(self, x):
                return self.inner(x) * self.k

        return nn.Sequential(Scaled(), nn.ReLU())

    assert repr(build(enn)) == repr(build(tnn))
    assert repr(enn.Module()) == repr(tnn.Module())


def test_sequential_fused_linear_relu_matches_unfused_and_finite_differences():
    """Sequential runs Linear+ReLU as one fused op (ember._C._linear_relu); its values and
    gradients must equal the layer-by-layer computation and finite differences, and a hook
    switches the fusion off."""
    import os
    import sys
    sys.path.insert(0, os.path.dirname(__file__))
    from helpers import gradcheck

    g = np.random.default_rng(7)
    x = g.standard_normal((4, 3))
    w1, b1 = g.standard_normal((5, 3)), g.standard_normal(5)
    w2, b2 = g.standard_normal((2, 5)), g.standard_normal(2)
    fused_op = ember._C._linear_relu
    gradcheck(lambda xx, a, b, c, d: fused_op(fused_op(xx, a, b), c, d), [x, w1, b1, w2, b2])
    # the whole chain as one op (Sequential's path): relu flags in every combination, a layer
    # without bias, a 3-D input
    for flags in ([True, True], [True, False], [False, True], [False, False]):
        gradcheck(lambda xx, a, b, c, d: ember._C._mlp(xx, [a, c], [b, d], flags), [x, w1, b1, w2, b2])
    gradcheck(lambda xx, a, c, d: ember._C._mlp(xx, [a, c], [None, d], [True, False]), [x, w1, w2, b2])
    gradcheck(lambda xx, a, b: ember._C._mlp(xx, [a], [b], [True]), [g.standard_normal((2, 4, 3)), w1, b1])

    def model(dtype):
        m = ember.nn.Sequential(ember.nn.Linear(3, 5), ember.nn.ReLU(), ember.nn.Linear(5, 2), ember.nn.ReLU())
        m = m.double() if dtype == ember.float64 else m
        with ember.no_grad():
            for lin, (w, b) in zip((m[0], m[2]), ((w1, b1), (w2, b2))):
                lin.weight.copy_(ember.tensor(w))
                lin.bias.copy_(ember.tensor(b))
        return m

    m = model(ember.float64)
    xs = ember.tensor(x, requires_grad=True)
    out = m(xs)
    assert out.grad_fn.name() == "ReluBackward0"
    ins = [ember.tensor(v, requires_grad=True) for v in (x, w1, b1, w2, b2)]
    ref = ember.relu(ember.relu(ins[0] @ ins[1].t() + ins[2]) @ ins[3].t() + ins[4])
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-12)
    out.sum().backward()
    ref.sum().backward()
    got = [xs.grad, m[0].weight.grad, m[0].bias.grad, m[2].weight.grad, m[2].bias.grad]
    for a, b in zip(got, ins):
        np.testing.assert_allclose(a.numpy(), b.grad.numpy(), rtol=1e-12, atol=1e-14)

    seen = []
    m = model(ember.float32)
    m[0].register_forward_hook(lambda mod, inp, o: seen.append(o.grad_fn.name()))
    m(ember.tensor(x, dtype=ember.float32))
    assert seen == ["AddmmBackward0"]  # with a hook, the Linear output exists on its own


@pytest.mark.parametrize("batch,fin,fout", [(4, 3, 5), (32, 64, 33), (128, 784, 256), (600, 1000, 40), (2, 9, 7)])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_linear_bias_relu_epilogue_on_every_gemm_path(batch, fin, fout, dtype):
    """Bias and ReLU are applied as the product is written (register-blocked kernel, its column
    tails and thread split) or after it (direct loop, OpenBLAS): values and gradients vs torch."""
    import torch
    g = np.random.default_rng(batch + fin + fout)
    x, w, b = g.standard_normal((batch, fin)), g.standard_normal((fout, fin)) / 10, g.standard_normal(fout)
    go = g.standard_normal((batch, fout))
    tol = dict(rtol=1e-10, atol=1e-10) if dtype == "float64" else dict(rtol=2e-4, atol=2e-4)
    for relu in (False, True):
        res = {}
        for lib in (ember, torch):
            dt = getattr(lib, dtype)
            ins = [lib.tensor(v, dtype=dt, requires_grad=True) for v in (x, w, b)]
            lin = lib.nn.functional.linear(ins[0], ins[1], ins[2])
            y = lib.relu(lin) if relu and lib is torch else (ember._C._linear_relu(*ins) if relu else lin)
            y.backward(lib.tensor(go, dtype=dt))
            res[lib] = [y.detach().numpy()] + [t.grad.numpy() for t in ins]
        for a, r in zip(res[ember], res[torch]):
            np.testing.assert_allclose(a, r, **tol)


def test_relu_gradient_passes_through_nan_as_torch():
    """torch's ReLU backward zeroes the gradient where the output is <= 0, so a NaN output lets
    it through; the same for relu, the fused Linear+ReLU and the fused chain (bias gradient too)."""
    import torch
    x = np.array([[np.nan, 1.0, -1.0], [0.5, -2.0, 3.0]], dtype=np.float32)
    w = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, -1.0]], dtype=np.float32)
    b = np.array([0.0, 0.5, -0.25], dtype=np.float32)
    go = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], dtype=np.float32)

    def grads(lib, fused):
        ins = [lib.tensor(v, requires_grad=True) for v in (x, w, b)]
        if lib is ember and fused == "chain":
            y = ember._C._mlp(ins[0], [ins[1]], [ins[2]], [True])
        elif lib is ember and fused == "linear":
            y = ember._C._linear_relu(ins[0], ins[1], ins[2])
        else:
            y = lib.relu(ins[0] @ ins[1].t() + ins[2])
        y.backward(lib.tensor(go))
        return [t.grad.numpy() for t in ins]

    ref = grads(torch, None)
    for fused in (None, "linear", "chain"):
        for a, r in zip(grads(ember, fused), ref):
            np.testing.assert_array_equal(a, r)
    xe = ember.tensor([np.nan, 1.0, -1.0, 0.0], requires_grad=True)
    ember.relu(xe).sum().backward()
    np.testing.assert_array_equal(xe.grad.numpy(), [1.0, 1.0, 0.0, 0.0])


def test_sequential_fused_chain_follows_module_changes_and_frozen_layers():
    """The fused chain is derived on every call: a swapped Parameter, a frozen layer or an added
    hook take effect at once, and the gradients equal the layer-by-layer ones."""
    g = np.random.default_rng(11)
    ws = [g.standard_normal((4, 3)), g.standard_normal((4, 4)), g.standard_normal((2, 4))]
    bs = [g.standard_normal(4), g.standard_normal(4), g.standard_normal(2)]
    x = ember.tensor(g.standard_normal((5, 3)))

    def build():
        m = ember.nn.Sequential(ember.nn.Linear(3, 4), ember.nn.ReLU(), ember.nn.Linear(4, 4), ember.nn.ReLU(),
                                ember.nn.Linear(4, 2)).double()
        with ember.no_grad():
            for lin, w, b in zip(m[::2], ws, bs):
                lin.weight.copy_(ember.tensor(w))
                lin.bias.copy_(ember.tensor(b))
        return m

    def reference(m, x):
        h = x
        for mod in m:  # module by module, no fusion
            h = mod.forward(h)
        return h

    m, r = build(), build()
    m[0].weight.requires_grad_(False)
    r[0].weight.requires_grad_(False)
    out, ref = m(x), reference(r, x)
    assert out.grad_fn.name() == "AddmmBackward0"
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-12)
    out.sum().backward()
    ref.sum().backward()
    assert m[0].weight.grad is None
    for a, b in zip(m.parameters(), r.parameters()):
        if b.grad is not None:
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-12)

    m[2].weight = ember.nn.Parameter(ember.zeros(4, 4, dtype=ember.float64))
    r[2].weight = ember.nn.Parameter(ember.zeros(4, 4, dtype=ember.float64))
    np.testing.assert_allclose(m(x).detach().numpy(), reference(r, x).detach().numpy(), rtol=1e-12)
    m[4].bias = None
    r[4].bias = None
    np.testing.assert_allclose(m(x).detach().numpy(), reference(r, x).detach().numpy(), rtol=1e-12)
    seen = []
    m[1].register_forward_hook(lambda mod, inp, o: seen.append(tuple(o.shape)))
    m(x)
    assert seen == [(5, 4)]


MODULES_WITH_STATE = [
    ("Linear", (3, 2)), ("Bilinear", (2, 3, 4)), ("Conv1d", (2, 3, 3)), ("Conv2d", (1, 2, 3)),
    ("ConvTranspose2d", (2, 1, 3)), ("Embedding", (5, 3)), ("LayerNorm", (4,)), ("BatchNorm1d", (3,)),
    ("BatchNorm2d", (3,)), ("GroupNorm", (2, 4)), ("PReLU", ()), ("LSTM", (2, 3)), ("GRU", (2, 3)), ("RNN", (2, 3)),
    ("MultiheadAttention", (4, 2)), ("TransformerEncoderLayer", (4, 2)),
]


@pytest.mark.parametrize("name,args", MODULES_WITH_STATE)
def test_modules_take_the_default_dtype_as_torch(name, args):
    """torch.set_default_dtype(float64) before building a model makes its parameters and floating
    buffers float64 (they were float32 whatever the default)."""
    got = {}
    for lib, mod in (("ember", enn), ("torch", tnn)):
        L = ember if lib == "ember" else torch
        old = L.get_default_dtype()
        L.set_default_dtype(L.float64)
        try:
            m = getattr(mod, name)(*args)
        finally:
            L.set_default_dtype(old)
        got[lib] = sorted({(n, str(t.dtype).split(".")[-1]) for n, t in list(m.named_parameters()) +
                           list(m.named_buffers())})
    assert got["ember"] == got["torch"]


@pytest.mark.parametrize("C", [1, 2, 3, 4, 5, 16, 31, 32, 33])
@pytest.mark.parametrize("rows", [0, 1, 63, 65, 200])
def test_softmax_and_cross_entropy_of_narrow_rows_match_torch(C, rows):
    """float32 rows of few classes run across the rows, in blocks of 64 (kernels/vmath.cpp) and
    split over threads: the values of torch's softmax, log_softmax and cross_entropy, with rows
    holding +inf, -inf and NaN, and every block boundary."""
    import torch
    g = np.random.default_rng(rows * 100 + C)
    x = (g.standard_normal((rows, C)) * 5).astype(np.float32)
    if rows > 3:
        x[1, 0] = np.inf
        x[2, :] = -np.inf
        x[3, C // 2] = np.nan
    y = g.integers(0, C, rows)
    for name in ("softmax", "log_softmax"):
        got = getattr(ember.nn.functional, name)(ember.tensor(x), 1).numpy()
        want = getattr(torch.nn.functional, name)(torch.tensor(x), 1).numpy()
        np.testing.assert_allclose(got, want, rtol=2e-6, atol=2e-6, equal_nan=True, err_msg=name)
    fin = np.isfinite(x).all(1)  # cross_entropy: the finite rows (torch gives NaN or inf elsewhere, as ember)
    xe = ember.tensor(x[fin], requires_grad=True)
    xt = torch.tensor(x[fin], requires_grad=True)
    for red in ("none", "sum"):
        le = ember.nn.functional.cross_entropy(xe, ember.tensor(y[fin]), reduction=red)
        lt = torch.nn.functional.cross_entropy(xt, torch.tensor(y[fin]), reduction=red)
        np.testing.assert_allclose(le.detach().numpy(), lt.detach().numpy(), rtol=1e-5, atol=1e-5)
    le.backward()
    lt.backward()
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("features", [1, 3, 4, 8, 9, 16, 31, 64, 65, 72, 130])
def test_linear_relu_backward_gate_and_bias_sums_match_torch(dtype, features):
    """The fused Linear+ReLU backward gates dL/dy by y > 0 and sums the bias gradient in one pass
    whose layout depends on the width (a scalar tail, 1 to 8 blocks of sums in registers, or block
    by block for wider rows): every branch against torch, with a NaN in the output (it passes the
    gate, as torch) and rows not a multiple of the row step."""
    g = np.random.default_rng(features)
    x = g.standard_normal((37, 5)).astype(dtype)
    w = g.standard_normal((features, 5)).astype(dtype)
    b = g.standard_normal(features).astype(dtype)
    x[3, :] = np.nan if features > 2 else x[3, :]  # a row of NaN outputs
    gy = g.standard_normal((37, features)).astype(dtype)
    grads = []
    for lib in (ember, torch):
        ins = [lib.tensor(v.copy(), requires_grad=True) for v in (x, w, b)]
        if lib is ember:
            y = ember._C._linear_relu(*ins)
        else:
            y = torch.relu(ins[0] @ ins[1].t() + ins[2])
        y.backward(lib.tensor(gy))
        grads.append([t.grad.detach().numpy() for t in ins])
    tol = 1e-5 if dtype == "float32" else 1e-12
    for e, t in zip(*grads):
        np.testing.assert_allclose(e, t, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("p", [0.1, 0.5, 0.33])
def test_dropout_fused_mask_equals_its_definition(dtype, p):
    """dropout's scaled mask is drawn in one pass (_C._dropout_mask): for the same seed it equals
    x * ((rand(shape) >= p).to(dtype) * (1 / (1 - p))), also for feature dropout's (N, C, 1) mask,
    and rand itself gives the values its one-at-a-time definition gives (a checked prefix)."""
    F = ember.nn.functional
    dt = getattr(ember, dtype)
    x = ember.tensor(np.random.default_rng(1).standard_normal((37, 65)), dtype=dt)
    ember.manual_seed(11)
    got = F.dropout(x, p)
    ember.manual_seed(11)
    ref = x * ((ember.rand(37, 65, dtype=dt) >= p).to(dt) * (1.0 / (1.0 - p)))
    assert bool((got == ref).all())
    x3 = x.reshape(37, 5, 13)
    ember.manual_seed(11)
    got = F.dropout1d(x3, p)
    ember.manual_seed(11)
    ref = x3 * ((ember.rand(37, 5, 1, dtype=dt) >= p).to(dt) * (1.0 / (1.0 - p)))
    assert bool((got == ref).all())
    # rand in blocks gives uniform()'s values: xoshiro256** from the generator's state, in Python
    ember.manual_seed(4)
    s = [int(v) & (2**64 - 1) for v in ember.get_rng_state().numpy()[:4]]
    a = ember.rand(2100, dtype=dt).numpy()  # (more than one block of 1024)
    m64 = 2**64 - 1

    def rotl(v, k):
        return ((v << k) | (v >> (64 - k))) & m64
    want = []
    for _ in range(2100):
        r = (rotl((s[1] * 5) & m64, 7) * 9) & m64
        t = (s[1] << 17) & m64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        want.append((r >> 11) * 2.0 ** -53)
    w = np.array(want).astype(a.dtype)
    w[w >= 1] = np.nextafter(a.dtype.type(1), a.dtype.type(0))
    np.testing.assert_array_equal(a, w)
