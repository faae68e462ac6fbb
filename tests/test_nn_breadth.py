"""Breadth of ember.nn against torch.nn: every activation in nn.functional and as a module, the
losses (each reduction, broadcasting, weights), padding, distances, bilinear, the containers
ParameterList / ParameterDict, nn.init and nn.utils. Inputs are numpy arrays from
np.random.default_rng (never torch's stream); values and gradients are compared with torch (and
with finite differences in float64); random-sampling functions are checked statistically."""
import math
import os
import re
import sys
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import ember  # noqa: E402
import ember.nn as enn  # noqa: E402
import ember.nn.functional as EF  # noqa: E402
import torch.nn as tnn  # noqa: E402
import torch.nn.functional as TF  # noqa: E402
from helpers import assert_close, check_op, gradcheck, rng, to_np  # noqa: E402

LIBS = ((ember, enn, EF), (torch, tnn, TF))


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def x_of(shape, seed=0, scale=3.0, dtype=np.float64):
    return (rng(seed).standard_normal(shape) * scale).astype(dtype)


# Points where the activations change branch (and the float32 overflow region), for the forward
# values and the gradients at the kinks: torch's convention there is matched exactly.
SPECIAL = np.array([-100.0, -25.0, -6.0, -3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0, 6.0, 20.0, 25.0, 100.0])

# --------------------------------------------------------------------------- activations

ACTS = {
    "softplus": lambda F, x: F.softplus(x),
    "softplus_beta_threshold": lambda F, x: F.softplus(x, beta=2.0, threshold=3.0),
    "softplus_beta_half": lambda F, x: F.softplus(x, 0.5, 20),
    "elu": lambda F, x: F.elu(x),
    "elu_alpha": lambda F, x: F.elu(x, alpha=0.7),
    "selu": lambda F, x: F.selu(x),
    "celu": lambda F, x: F.celu(x),
    "celu_alpha": lambda F, x: F.celu(x, alpha=2.5),
    "silu": lambda F, x: F.silu(x),
    "gelu": lambda F, x: F.gelu(x),
    "gelu_tanh": lambda F, x: F.gelu(x, approximate="tanh"),
    "mish": lambda F, x: F.mish(x),
    "hardtanh": lambda F, x: F.hardtanh(x),
    "hardtanh_bounds": lambda F, x: F.hardtanh(x, min_val=-2.0, max_val=0.5),
    "relu6": lambda F, x: F.relu6(x),
    "relu": lambda F, x: F.relu(x),
    "hardsigmoid": lambda F, x: F.hardsigmoid(x),
    "hardswish": lambda F, x: F.hardswish(x),
    "softsign": lambda F, x: F.softsign(x),
    "tanhshrink": lambda F, x: F.tanhshrink(x),
    "softshrink": lambda F, x: F.softshrink(x),
    "softshrink_lambd": lambda F, x: F.softshrink(x, lambd=1.5),
    "hardshrink": lambda F, x: F.hardshrink(x),
    "hardshrink_lambd": lambda F, x: F.hardshrink(x, 2.0),
    "logsigmoid": lambda F, x: F.logsigmoid(x),
    "leaky_relu": lambda F, x: F.leaky_relu(x, 0.2),
    "rrelu_eval": lambda F, x: F.rrelu(x),
    "rrelu_eval_bounds": lambda F, x: F.rrelu(x, 0.1, 0.5, training=False),
    "threshold": lambda F, x: F.threshold(x, 0.5, -2.0),
}

# functions of a tensor with a dimension argument: (fn, shapes)
DIM_ACTS = {
    "glu_last": lambda F, x: F.glu(x),
    "glu_dim0": lambda F, x: F.glu(x, 0),
    "softmin_dim1": lambda F, x: F.softmin(x, dim=1),
    "softmin_dim0": lambda F, x: F.softmin(x, 0),
    "softmin_dtype": lambda F, x: F.softmin(x, -1, dtype=(ember if F is EF else torch).float64),
    "normalize": lambda F, x: F.normalize(x),
    "normalize_p1_dim0": lambda F, x: F.normalize(x, p=1, dim=0),
    "normalize_p3_last": lambda F, x: F.normalize(x, 3.0, -1),
    "normalize_pinf": lambda F, x: F.normalize(x, p=math.inf, dim=1),
}


@pytest.mark.parametrize("shape", [(4, 6), (2, 3, 4), (7,)])
@pytest.mark.parametrize("name", list(ACTS))
def test_activation_matches_torch_float64(name, shape):
    fn = ACTS[name]
    check_op(lambda x: fn(EF, x), lambda x: fn(TF, x), [x_of(shape, seed=len(name))], atol=1e-10, rtol=1e-9)


@pytest.mark.parametrize("name", list(ACTS))
def test_activation_matches_torch_float32(name):
    fn = ACTS[name]
    check_op(lambda x: fn(EF, x), lambda x: fn(TF, x), [x_of((5, 8), seed=3, dtype=np.float32)], atol=2e-6,
             rtol=2e-5)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", list(ACTS))
def test_activation_branch_points_and_overflow(name, dtype):
    """Values and gradients at the kinks (0, +-lambd, +-3, the softplus threshold ...) and far out
    in the tails (no inf / nan leaking from an unselected branch)."""
    if name == "gelu":
        pytest.skip("gelu: smooth, covered above")
    fn = ACTS[name]
    x = SPECIAL.astype(dtype)
    outs = check_op(lambda x: fn(EF, x), lambda x: fn(TF, x), [x], atol=1e-6 if dtype == np.float32 else 1e-12,
                    rtol=1e-5 if dtype == np.float32 else 1e-10)
    assert np.all(np.isfinite(to_np(outs[0])))


COMPOSITE_USERS = ["softplus", "softplus_beta_threshold", "elu_alpha", "selu", "celu_alpha", "mish", "logsigmoid"]


def test_gelu_float32_kernel_matches_torch_over_its_range():
    """float32 GELU runs ember's own erfc / tanh polynomials (kernels/vmath.h), contiguous and
    strided, forward and backward, both approximations: within 1e-6 of torch's float32 everywhere
    on [-12, 12]; and the exact form x * Phi(x) = x erfc(-x / sqrt 2) / 2 within 2e-5 relative of
    the float64 value, even on the negative side where torch's 0.5 x (1 + erf(x / sqrt 2)) cancels
    (in float64 too)."""
    x = np.linspace(-12, 12, 4795).astype(np.float32)
    g = np.cos(np.arange(x.size)).astype(np.float32)
    for approx in ("none", "tanh"):
        for prep in (lambda t: t, lambda t: t.reshape(-1, 7)[:, ::2]):
            xe, xt = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
            ye, yt = EF.gelu(prep(xe), approximate=approx), TF.gelu(prep(xt), approximate=approx)
            np.testing.assert_allclose(ye.detach().numpy(), yt.detach().numpy(), rtol=1.3e-6, atol=1e-6)
            ye.backward(ember.tensor(g[:ye.numel()].reshape(ye.shape)))
            yt.backward(torch.tensor(g[:yt.numel()].reshape(tuple(yt.shape))))
            # (torch's float32 backward is 0 around x = -5.2, where Phi(x) + x phi(x) is -2.7e-6)
            np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=2e-6, atol=5e-6)
    exact = np.array([0.5 * v * math.erfc(-v / math.sqrt(2)) for v in x.astype(np.float64)])
    # (the error grows as x^2 2^-25, from rounding the exponent -x^2 / 2: 1.2e-5 at x = -12)
    np.testing.assert_allclose(EF.gelu(ember.tensor(x)).numpy(), exact, rtol=2e-5)
    assert EF.gelu(ember.tensor([1.0], requires_grad=True)).grad_fn.name() == "GeluBackward0"
    with pytest.raises(ValueError, match="approximate argument must be either none or tanh"):
        EF.gelu(ember.tensor([1.0]), approximate="erf")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_log1p_expm1_xlogy_composites_match_torch(monkeypatch, dtype):
    """The Python composites used while the core lacks log1p / expm1 / xlogy (forced here even when
    the build has them): values and gradients at the branch points and on random inputs."""
    for attr in ("_core_log1p", "_core_expm1", "_core_xlogy"):
        monkeypatch.setattr(EF, attr, None)
    tol = dict(atol=1e-6, rtol=1e-5) if dtype == np.float32 else dict(atol=1e-12, rtol=1e-10)
    for name in COMPOSITE_USERS:
        for x in (SPECIAL.astype(dtype), x_of((4, 5), 2, dtype=dtype), np.array([1e-9, -1e-9, 1e-30], dtype)):
            check_op(lambda t: ACTS[name](EF, t), lambda t: ACTS[name](TF, t), [x], **tol)
        gradcheck(lambda t: ACTS[name](EF, t), [x_of((2, 3), 3)])
    kl = _make_loss_inputs("kl_div", rng(4), (3, 4))
    check_op(lambda a, b: EF.kl_div(a, b, reduction="sum"), lambda a, b: TF.kl_div(a, b, reduction="sum"),
             [k.astype(dtype) for k in kl], **tol)
    x = np.array([-500.0, -60.0, -1e-8, 0.0, 60.0, 500.0], dtype)
    check_op(lambda a: EF.soft_margin_loss(a, ember.ones(6, dtype=a.dtype), reduction="none"),
             lambda a: TF.soft_margin_loss(a, torch.ones(6, dtype=a.dtype), reduction="none"), [x], **tol)


@pytest.mark.parametrize("name", list(ACTS))
def test_activation_nan_and_inf_like_torch(name):
    x = np.array([np.nan, np.inf, -np.inf, -1.0, 0.0, 2.0])
    check_op(lambda t: ACTS[name](EF, t), lambda t: ACTS[name](TF, t), [x], grad=False)


@pytest.mark.parametrize("name", ["softplus_beta_threshold", "elu_alpha", "selu", "celu_alpha", "silu", "gelu", "gelu_tanh",
                                  "mish",
                                  "hardsigmoid", "hardswish", "softsign", "tanhshrink", "softshrink", "logsigmoid",
                                  "hardtanh_bounds", "threshold"])
def test_activation_gradcheck(name):
    fn = ACTS[name]
    x = x_of((3, 5), seed=7)
    gradcheck(lambda t: fn(EF, t), [x])


@pytest.mark.parametrize("name", list(DIM_ACTS))
@pytest.mark.parametrize("shape", [(4, 6), (2, 4, 6)])
def test_dim_functions_match_torch(name, shape):
    fn = DIM_ACTS[name]
    check_op(lambda x: fn(EF, x), lambda x: fn(TF, x), [x_of(shape, seed=5)], atol=1e-10, rtol=1e-9)
    if name != "normalize_pinf":
        gradcheck(lambda t: fn(EF, t), [x_of(shape, seed=6)])


def test_normalize_zero_vector_has_zero_gradient_like_torch():
    x = np.zeros((2, 3))
    x[1] = [1.0, 2.0, -2.0]
    check_op(lambda t: EF.normalize(t, dim=1), lambda t: TF.normalize(t, dim=1), [x], atol=1e-12)


def test_prelu_matches_torch():
    for shape, wshape in [((4, 3), (3,)), ((2, 3, 5), (3,)), ((2, 3, 2, 2), (1,)), ((6,), (1,)), ((4, 3), ())]:
        x = x_of(shape, seed=1)
        w = rng(2).uniform(-0.5, 0.5, wshape)
        check_op(EF.prelu, TF.prelu, [x, w], atol=1e-12)
    gradcheck(EF.prelu, [x_of((2, 3, 4), seed=4), rng(5).uniform(0.1, 0.5, (3,))])


@pytest.mark.parametrize("name", ["hardtanh", "hardtanh_bounds", "relu6", "relu", "threshold", "softsign",
                                  "tanhshrink"])
def test_activation_integer_input_like_torch(name):
    """The activations torch defines for integer tensors keep (or promote) the dtype as torch does."""
    fn = ACTS[name]
    x = np.array([[1, -2, 0], [3, 7, -8]], dtype=np.int64)
    check_op(lambda t: fn(EF, t), lambda t: fn(TF, t), [x], grad=False)


def test_softmin_implicit_dim_warns_like_torch():
    x = x_of((3, 4))
    for lib, _, F in LIBS:
        with pytest.warns(UserWarning, match="Implicit dimension choice for softmin"):
            F.softmin(lib.tensor(x))
    check_op(lambda t: EF.softmin(t), lambda t: TF.softmin(t), [x])


INPLACE = {
    "relu": lambda F, x: F.relu(x, inplace=True),
    "relu_": lambda F, x: F.relu_(x),
    "elu": lambda F, x: F.elu(x, 0.5, inplace=True),
    "elu_": lambda F, x: F.elu_(x),
    "selu": lambda F, x: F.selu(x, inplace=True),
    "celu": lambda F, x: F.celu(x, 2.0, True),
    "silu": lambda F, x: F.silu(x, inplace=True),
    "mish": lambda F, x: F.mish(x, inplace=True),
    "hardtanh": lambda F, x: F.hardtanh(x, -0.5, 2.0, inplace=True),
    "hardtanh_": lambda F, x: F.hardtanh_(x),
    "relu6": lambda F, x: F.relu6(x, inplace=True),
    "hardsigmoid": lambda F, x: F.hardsigmoid(x, inplace=True),
    "hardswish": lambda F, x: F.hardswish(x, True),
    "leaky_relu": lambda F, x: F.leaky_relu(x, 0.3, inplace=True),
    "leaky_relu_": lambda F, x: F.leaky_relu_(x, 0.3),
    "threshold": lambda F, x: F.threshold(x, 0.2, 5.0, inplace=True),
    "threshold_": lambda F, x: F.threshold_(x, 0.2, 5.0),
    "rrelu_eval": lambda F, x: F.rrelu(x, inplace=True),
    "dropout_p0": lambda F, x: F.dropout(x, 0.0, inplace=True),
}


@pytest.mark.parametrize("name", list(INPLACE))
def test_inplace_variants_match_torch(name):
    """inplace=True writes into (and returns) the input; gradients flow through the new history;
    a leaf that requires grad is refused with torch's RuntimeError."""
    fn = INPLACE[name]
    x = x_of((3, 4), seed=9)
    proj = rng(10).standard_normal((3, 4))
    res = {}
    for lib, _, F in LIBS:
        leaf = lib.tensor(x.copy()).requires_grad_(True)
        y = leaf * 1.0
        out = fn(F, y)
        assert out is y
        (out * lib.tensor(proj)).sum().backward()
        res[lib.__name__] = (to_np(y), to_np(leaf.grad))
        if name != "dropout_p0":  # (torch returns a p=0 dropout's input untouched, leaf or not)
            with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
                fn(F, lib.tensor(x.copy()).requires_grad_(True))
        plain = lib.tensor(x.copy())
        assert fn(F, plain) is plain
    assert_close(res["ember"][0], res["torch"][0], 1e-12, 1e-12)
    assert_close(res["ember"][1], res["torch"][1], 1e-12, 1e-12)


# --------------------------------------------------------------------------- activation modules

MODULES = [
    lambda nn: nn.Softplus(),
    lambda nn: nn.Softplus(beta=2, threshold=10),
    lambda nn: nn.ELU(),
    lambda nn: nn.ELU(alpha=0.5, inplace=True),
    lambda nn: nn.SELU(),
    lambda nn: nn.SELU(inplace=True),
    lambda nn: nn.CELU(),
    lambda nn: nn.CELU(2.0, True),
    lambda nn: nn.SiLU(),
    lambda nn: nn.SiLU(inplace=True),
    lambda nn: nn.Mish(),
    lambda nn: nn.Hardtanh(),
    lambda nn: nn.Hardtanh(-2, 3, inplace=True),
    lambda nn: nn.ReLU6(),
    lambda nn: nn.ReLU6(inplace=True),
    lambda nn: nn.ReLU(inplace=True),
    lambda nn: nn.Hardsigmoid(),
    lambda nn: nn.Hardsigmoid(inplace=True),
    lambda nn: nn.Hardswish(),
    lambda nn: nn.Softsign(),
    lambda nn: nn.Tanhshrink(),
    lambda nn: nn.Softshrink(),
    lambda nn: nn.Softshrink(1.5),
    lambda nn: nn.Hardshrink(lambd=0.25),
    lambda nn: nn.LogSigmoid(),
    lambda nn: nn.GLU(),
    lambda nn: nn.GLU(dim=1),
    lambda nn: nn.PReLU(),
    lambda nn: nn.PReLU(num_parameters=3, init=0.1),
    lambda nn: nn.RReLU(),
    lambda nn: nn.RReLU(0.1, 0.3, inplace=True),
    lambda nn: nn.Threshold(0.1, 20),
    lambda nn: nn.Threshold(0.1, 20.0, inplace=True),
    lambda nn: nn.Softmin(dim=1),
    lambda nn: nn.Softmin(),
    lambda nn: nn.Softmax2d(),
    lambda nn: nn.CosineSimilarity(),
    lambda nn: nn.CosineSimilarity(dim=0, eps=1e-6),
    lambda nn: nn.PairwiseDistance(),
    lambda nn: nn.PairwiseDistance(p=1.0, keepdim=True),
    lambda nn: nn.AlphaDropout(),
    lambda nn: nn.AlphaDropout(0.2, inplace=True),
    lambda nn: nn.FeatureAlphaDropout(0.1),
    lambda nn: nn.Dropout1d(0.3),
    lambda nn: nn.Dropout2d(),
    lambda nn: nn.Dropout3d(p=0.1),
    lambda nn: nn.Bilinear(3, 4, 5),
    lambda nn: nn.Bilinear(3, 4, 5, bias=False),
    lambda nn: nn.Unflatten(1, (2, 3)),
    lambda nn: nn.Unflatten(-1, [2, -1]),
    lambda nn: nn.Identity(54, unused="argument", other=1.0),
    lambda nn: nn.ConstantPad1d(2, 3.5),
    lambda nn: nn.ConstantPad2d((1, 0, 2, 3), -1.0),
    lambda nn: nn.ConstantPad3d(1, 0.0),
    lambda nn: nn.ZeroPad1d((1, 2)),
    lambda nn: nn.ZeroPad2d(2),
    lambda nn: nn.ZeroPad3d((1, 1, 0, 0, 2, 2)),
    lambda nn: nn.ReflectionPad1d(2),
    lambda nn: nn.ReflectionPad2d((1, 1, 2, 0)),
    lambda nn: nn.ReflectionPad3d(1),
    lambda nn: nn.ReplicationPad1d((3, 1)),
    lambda nn: nn.ReplicationPad2d(1),
    lambda nn: nn.ReplicationPad3d(2),
    lambda nn: nn.CircularPad1d(1),
    lambda nn: nn.CircularPad2d((1, 2, 0, 1)),
    lambda nn: nn.Sequential(nn.Linear(4, 6), nn.Mish(), nn.Dropout1d(0.1), nn.Linear(6, 6), nn.Hardswish(),
                             nn.Unflatten(1, (2, 3)), nn.ZeroPad1d(1), nn.Softmin(dim=-1)),
    # losses
    lambda nn: nn.KLDivLoss(),
    lambda nn: nn.KLDivLoss(reduction="batchmean", log_target=True),
    lambda nn: nn.HuberLoss(delta=0.5),
    lambda nn: nn.SoftMarginLoss(),
    lambda nn: nn.MultiLabelSoftMarginLoss(),
    lambda nn: nn.MultiLabelMarginLoss(reduction="sum"),
    lambda nn: nn.MultiMarginLoss(p=2, margin=0.5),
    lambda nn: nn.MarginRankingLoss(margin=0.2),
    lambda nn: nn.HingeEmbeddingLoss(margin=2.0),
    lambda nn: nn.CosineEmbeddingLoss(0.1),
    lambda nn: nn.TripletMarginLoss(),
    lambda nn: nn.TripletMarginLoss(margin=0.5, p=1, swap=True),
    lambda nn: nn.TripletMarginWithDistanceLoss(),
    lambda nn: nn.PoissonNLLLoss(log_input=False, full=True),
    lambda nn: nn.GaussianNLLLoss(full=True),
    lambda nn: nn.CrossEntropyLoss(ignore_index=2),
    lambda nn: nn.Embedding(10, 3, padding_idx=-2, max_norm=1.5, norm_type=1.0, scale_grad_by_freq=True,
                            sparse=True),
    lambda nn: nn.Embedding(4, 2, max_norm=2),
]


@pytest.mark.parametrize("i", range(len(MODULES)))
def test_module_repr_matches_torch(i):
    assert repr(MODULES[i](enn)) == repr(MODULES[i](tnn))


def test_module_attributes_and_defaults_match_torch():
    for make in MODULES:
        e, t = make(enn), make(tnn)
        for k, v in vars(t).items():
            if k.startswith("_") or k == "training" or k in ("distance_function",):
                continue
            assert getattr(e, k) == v, f"{type(t).__name__}.{k}"
        assert [n for n, _ in e.named_parameters()] == [n for n, _ in t.named_parameters()]
        assert [n for n, _ in e.named_buffers()] == [n for n, _ in t.named_buffers()]


ACT_MODULES = {
    "Softplus": (lambda nn: nn.Softplus(beta=1.5, threshold=4), (4, 5)),
    "ELU": (lambda nn: nn.ELU(0.3), (4, 5)),
    "SELU": (lambda nn: nn.SELU(), (4, 5)),
    "CELU": (lambda nn: nn.CELU(1.5), (4, 5)),
    "SiLU": (lambda nn: nn.SiLU(), (4, 5)),
    "Mish": (lambda nn: nn.Mish(), (4, 5)),
    "Hardtanh": (lambda nn: nn.Hardtanh(-0.5, 2.5), (4, 5)),
    "ReLU6": (lambda nn: nn.ReLU6(), (4, 5)),
    "Hardsigmoid": (lambda nn: nn.Hardsigmoid(), (4, 5)),
    "Hardswish": (lambda nn: nn.Hardswish(), (4, 5)),
    "Softsign": (lambda nn: nn.Softsign(), (4, 5)),
    "Tanhshrink": (lambda nn: nn.Tanhshrink(), (4, 5)),
    "Softshrink": (lambda nn: nn.Softshrink(0.7), (4, 5)),
    "Hardshrink": (lambda nn: nn.Hardshrink(0.7), (4, 5)),
    "LogSigmoid": (lambda nn: nn.LogSigmoid(), (4, 5)),
    "GLU": (lambda nn: nn.GLU(1), (4, 6)),
    "PReLU": (lambda nn: nn.PReLU(3), (4, 3, 2)),
    "PReLU_single": (lambda nn: nn.PReLU(), (4, 5)),
    "RReLU_eval": (lambda nn: nn.RReLU(0.2, 0.4).eval(), (4, 5)),
    "Threshold": (lambda nn: nn.Threshold(0.3, -1.0), (4, 5)),
    "Softmin": (lambda nn: nn.Softmin(1), (4, 5)),
    "Softmax2d": (lambda nn: nn.Softmax2d(), (2, 3, 2, 2)),
    "AlphaDropout_eval": (lambda nn: nn.AlphaDropout(0.3).eval(), (4, 5)),
    "Dropout2d_eval": (lambda nn: nn.Dropout2d(0.3).eval(), (2, 3, 4, 4)),
    "Unflatten": (lambda nn: nn.Unflatten(1, (2, 3)), (4, 6)),
    "Unflatten_infer": (lambda nn: nn.Unflatten(-1, (-1, 2)), (3, 2, 4)),
    "ZeroPad2d": (lambda nn: nn.ZeroPad2d((1, 2, 0, 1)), (2, 3, 4)),
    "ReflectionPad2d": (lambda nn: nn.ReflectionPad2d(2), (1, 2, 3, 4)),
    "ReplicationPad1d": (lambda nn: nn.ReplicationPad1d((0, 3)), (2, 3, 4)),
    "CircularPad1d": (lambda nn: nn.CircularPad1d(2), (2, 3)),
}


@pytest.mark.parametrize("name", list(ACT_MODULES))
def test_activation_modules_forward_backward_match_torch(name):
    make, shape = ACT_MODULES[name]
    em, tm = make(enn).double(), make(tnn).double()
    with torch.no_grad(), ember.no_grad():
        for (_, tp), (_, ep) in zip(tm.named_parameters(), em.named_parameters()):
            arr = rng(1).uniform(-0.5, 0.5, tuple(tp.shape))
            tp.copy_(torch.tensor(arr))
            ep.copy_(ember.tensor(arr))
    x = x_of(shape, seed=4)
    check_op(em, tm, [x], atol=1e-12, rtol=1e-10)
    if not list(tm.parameters()):
        return
    proj = rng(8).standard_normal(tuple(tm(torch.tensor(x)).shape))
    for lib, m in ((ember, em), (torch, tm)):
        (m(lib.tensor(x)) * lib.tensor(proj)).sum().backward()
    for (n, tp), (_, ep) in zip(tm.named_parameters(), em.named_parameters()):
        assert_close(ep.grad, tp.grad, 1e-10, 1e-12, msg=n)


def test_prelu_module_default_init_and_float32():
    m = enn.PReLU(4)
    assert m.weight.dtype == ember.float32 and tuple(m.weight.shape) == (4,)
    assert np.all(to_np(m.weight) == np.float32(0.25))
    assert m.weight.requires_grad


def test_bilinear_matches_torch():
    g = rng(3)
    for lead in [(5,), (2, 3), ()]:
        x1, x2 = g.standard_normal(lead + (3,)), g.standard_normal(lead + (4,))
        w, b = g.standard_normal((2, 3, 4)), g.standard_normal(2)
        check_op(EF.bilinear, TF.bilinear, [x1, x2, w, b], atol=1e-10)
        check_op(lambda a, c, d: EF.bilinear(a, c, d), lambda a, c, d: TF.bilinear(a, c, d), [x1, x2, w], atol=1e-10)
    gradcheck(EF.bilinear, [g.standard_normal((3, 2)), g.standard_normal((3, 3)), g.standard_normal((2, 2, 3)),
                            g.standard_normal(2)])
    m = enn.Bilinear(3, 4, 6)
    bound = 1 / math.sqrt(3)
    assert tuple(m.weight.shape) == (6, 3, 4) and tuple(m.bias.shape) == (6,)
    assert np.abs(to_np(m.weight)).max() <= bound and np.abs(to_np(m.bias)).max() <= bound
    assert tuple(m(ember.randn(7, 3), ember.randn(7, 4)).shape) == (7, 6)


def test_unflatten_and_identity():
    x = ember.tensor(x_of((2, 12)))
    assert tuple(enn.Unflatten(1, (3, 4))(x).shape) == (2, 3, 4)
    assert tuple(enn.Unflatten(-1, (2, -1, 3))(x).shape) == (2, 2, 2, 3)
    assert enn.Identity(3, foo=4)(x) is x


# --------------------------------------------------------------------------- distances

@pytest.mark.parametrize("shapes,dim", [(((4, 5), (4, 5)), 1), (((4, 5), (5,)), 1), (((3, 1, 5), (1, 4, 5)), -1),
                                        (((4, 5), (4, 5)), 0), (((2, 3, 4), (2, 3, 4)), 1)])
def test_cosine_similarity_matches_torch(shapes, dim):
    g = rng(21)
    a, b = g.standard_normal(shapes[0]), g.standard_normal(shapes[1])
    check_op(lambda x, y: EF.cosine_similarity(x, y, dim), lambda x, y: TF.cosine_similarity(x, y, dim), [a, b],
             atol=1e-12)
    gradcheck(lambda x, y: EF.cosine_similarity(x, y, dim), [a, b])


def test_cosine_similarity_small_norm_eps_like_torch():
    a = np.array([[1e-10, 0.0, 0.0], [1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    b = np.array([[1.0, 1.0, 0.0], [1e-9, 0.0, 1e-9], [1.0, 0.0, 0.0]])
    check_op(lambda x, y: EF.cosine_similarity(x, y, eps=1e-8), lambda x, y: TF.cosine_similarity(x, y, eps=1e-8),
             [a, b], atol=1e-10)
    m_e, m_t = enn.CosineSimilarity(dim=1, eps=1e-6), tnn.CosineSimilarity(dim=1, eps=1e-6)
    check_op(m_e, m_t, [a, b], atol=1e-10)


@pytest.mark.parametrize("p", [2.0, 1.0, 3.0, math.inf, 0.5])
@pytest.mark.parametrize("keepdim", [False, True])
def test_pairwise_distance_matches_torch(p, keepdim):
    g = rng(22)
    for s1, s2 in [((4, 5), (4, 5)), ((4, 5), (5,)), ((6,), (6,)), ((2, 3, 4), (3, 4))]:
        a, b = g.standard_normal(s1), g.standard_normal(s2)
        check_op(lambda x, y: EF.pairwise_distance(x, y, p, 1e-6, keepdim),
                 lambda x, y: TF.pairwise_distance(x, y, p, 1e-6, keepdim), [a, b], atol=1e-10)
    if p != math.inf:
        gradcheck(lambda x, y: EF.pairwise_distance(x, y, p=p, keepdim=keepdim),
                  [g.standard_normal((3, 4)), g.standard_normal((3, 4))])
    check_op(enn.PairwiseDistance(p, keepdim=keepdim), tnn.PairwiseDistance(p, keepdim=keepdim),
             [g.standard_normal((3, 4)), g.standard_normal((3, 4))], atol=1e-10)


def test_pairwise_distance_identical_inputs_gradient_like_torch():
    a = x_of((3, 4))
    check_op(lambda x, y: EF.pairwise_distance(x, y, eps=0.0), lambda x, y: TF.pairwise_distance(x, y, eps=0.0),
             [a, a.copy()], atol=1e-12)


# --------------------------------------------------------------------------- padding

PADS = [
    ((2, 3), (1, 2), "constant", None),
    ((2, 3), (1, 2, 0, 3), "constant", 1.5),
    ((2, 3, 4), (-1, 2, 1, -1, 1, 1), "constant", -2.0),
    ((2, 3, 4), (0, 0, 2, 0), "constant", None),
    ((5,), (-2, -1), "constant", None),
    ((1, 2, 5), (2, 3), "reflect", None),
    ((2, 5), (4, 1), "reflect", None),
    ((1, 2, 4, 5), (1, 2, 3, 0), "reflect", None),
    ((2, 4, 5), (2, 2, 1, 3), "reflect", 0.0),
    ((1, 1, 3, 4, 5), (1, 2, 2, 1, 0, 2), "reflect", None),
    ((2, 2, 4), (-1, 2), "reflect", None),
    ((1, 2, 5), (3, 1), "replicate", None),
    ((2, 3, 4), (2, 5, 1, 0), "replicate", None),
    ((1, 2, 3, 3, 2), (1, 1, 2, 2, 3, 0), "replicate", None),
    ((2, 2, 4), (2, -1), "replicate", None),
    ((1, 2, 5), (2, 5), "circular", None),
    ((2, 3, 4, 3), (1, 3, 2, 0), "circular", None),
    ((1, 3, 2, 2), (2, 1, 1, 1, 0, 2), "circular", None),
    ((2, 2, 4), (-1, 2), "circular", None),
]


@pytest.mark.parametrize("shape,padding,mode,value", PADS)
def test_pad_matches_torch(shape, padding, mode, value):
    x = x_of(shape, seed=sum(shape))
    kw = {} if value is None else {"value": value}
    check_op(lambda t: EF.pad(t, padding, mode=mode, **kw), lambda t: TF.pad(t, padding, mode=mode, **kw), [x],
             atol=1e-12)


def test_pad_constant_int_and_gradcheck():
    idx = np.arange(6, dtype=np.int64).reshape(2, 3)
    check_op(lambda t: EF.pad(t, (1, 1), value=7), lambda t: TF.pad(t, (1, 1), value=7), [idx], grad=False)
    gradcheck(lambda t: EF.pad(t, (2, 1, 1, 2), mode="reflect"), [x_of((1, 3, 4))])


# --------------------------------------------------------------------------- losses

def _make_loss_inputs(name, g, shape):
    x = g.standard_normal(shape)
    if name in ("kl_div", "kl_div_batchmean"):
        return [np.log(g.dirichlet(np.ones(shape[-1]), size=shape[:-1])), g.dirichlet(np.ones(shape[-1]),
                                                                                         size=shape[:-1])]
    if name == "kl_div_log_target":
        return [g.standard_normal(shape), g.standard_normal(shape) * 0.5]
    if name in ("huber", "huber_delta", "smooth_l1", "l1", "mse"):
        return [x, g.standard_normal(shape)]
    if name == "huber_bcast":
        return [x, g.standard_normal(shape[-1:])]
    if name in ("soft_margin",):
        return [x, np.sign(g.standard_normal(shape))]
    if name in ("multilabel_soft_margin", "multilabel_soft_margin_w"):
        return [x, (g.random(shape) > 0.5).astype(np.float64)]
    if name.startswith("multi_margin"):
        return [x, g.integers(0, shape[-1], size=shape[:-1]).astype(np.int64)]
    if name.startswith("margin_ranking"):
        return [x, g.standard_normal(shape), np.sign(g.standard_normal(shape))]
    if name.startswith("hinge"):
        return [x, np.sign(g.standard_normal(shape))]
    if name.startswith("cosine_embedding"):
        return [x, g.standard_normal(shape), np.asarray(np.sign(g.standard_normal(shape[:-1])))]
    if name.startswith("triplet"):
        return [x, g.standard_normal(shape), g.standard_normal(shape)]
    if name.startswith("poisson_log"):
        return [x * 0.5, g.poisson(2.0, size=shape).astype(np.float64)]
    if name.startswith("poisson_rate"):
        return [g.uniform(0.1, 3.0, shape), g.poisson(2.0, size=shape).astype(np.float64)]
    if name.startswith("gaussian"):
        return [x, g.standard_normal(shape), g.uniform(0.2, 2.0, shape)]
    raise KeyError(name)


LOSS_FNS = {
    "kl_div": lambda F, x, t, **kw: F.kl_div(x, t, **kw),
    "kl_div_batchmean": lambda F, x, t, reduction: F.kl_div(x, t, reduction="batchmean" if reduction == "mean"
                                                           else reduction),
    "kl_div_log_target": lambda F, x, t, **kw: F.kl_div(x, t, log_target=True, **kw),
    "huber": lambda F, x, t, **kw: F.huber_loss(x, t, **kw),
    "huber_delta": lambda F, x, t, **kw: F.huber_loss(x, t, delta=0.4, **kw),
    "huber_bcast": lambda F, x, t, **kw: F.huber_loss(x, t, delta=1.5, **kw),
    "smooth_l1": lambda F, x, t, **kw: F.smooth_l1_loss(x, t, beta=0.5, **kw),
    "l1": lambda F, x, t, **kw: F.l1_loss(x, t, **kw),
    "mse": lambda F, x, t, **kw: F.mse_loss(x, t, **kw),
    "soft_margin": lambda F, x, t, **kw: F.soft_margin_loss(x, t, **kw),
    "multilabel_soft_margin": lambda F, x, t, **kw: F.multilabel_soft_margin_loss(x, t, **kw),
    "multilabel_soft_margin_w": lambda F, x, t, **kw: F.multilabel_soft_margin_loss(
        x, t, weight=(ember if F is EF else torch).tensor(np.linspace(0.5, 2.0, x.shape[-1])), **kw),
    "multi_margin": lambda F, x, t, **kw: F.multi_margin_loss(x, t, **kw),
    "multi_margin_p2": lambda F, x, t, **kw: F.multi_margin_loss(x, t, p=2, margin=0.7, **kw),
    "multi_margin_weight": lambda F, x, t, **kw: F.multi_margin_loss(
        x, t, weight=(ember if F is EF else torch).tensor(np.linspace(0.5, 2.0, x.shape[-1])), **kw),
    "margin_ranking": lambda F, a, b, y, **kw: F.margin_ranking_loss(a, b, y, **kw),
    "margin_ranking_m": lambda F, a, b, y, **kw: F.margin_ranking_loss(a, b, y, margin=0.5, **kw),
    "hinge": lambda F, x, t, **kw: F.hinge_embedding_loss(x, t, **kw),
    "hinge_m": lambda F, x, t, **kw: F.hinge_embedding_loss(x, t, margin=0.3, **kw),
    "cosine_embedding": lambda F, a, b, y, **kw: F.cosine_embedding_loss(a, b, y, **kw),
    "cosine_embedding_m": lambda F, a, b, y, **kw: F.cosine_embedding_loss(a, b, y, margin=0.2, **kw),
    "triplet": lambda F, a, p, n, **kw: F.triplet_margin_loss(a, p, n, **kw),
    "triplet_p1_swap": lambda F, a, p, n, **kw: F.triplet_margin_loss(a, p, n, margin=2.0, p=1, swap=True, **kw),
    "triplet_with_distance": lambda F, a, p, n, **kw: F.triplet_margin_with_distance_loss(a, p, n, **kw),
    "triplet_with_cosine": lambda F, a, p, n, **kw: F.triplet_margin_with_distance_loss(
        a, p, n, distance_function=lambda u, v: 1.0 - F.cosine_similarity(u, v, dim=-1), swap=True, margin=0.5,
        **kw),
    "poisson_log": lambda F, x, t, **kw: F.poisson_nll_loss(x, t, **kw),
    "poisson_log_full": lambda F, x, t, **kw: F.poisson_nll_loss(x, t, full=True, **kw),
    "poisson_rate": lambda F, x, t, **kw: F.poisson_nll_loss(x, t, log_input=False, **kw),
    "poisson_rate_full": lambda F, x, t, **kw: F.poisson_nll_loss(x, t, log_input=False, full=True, eps=1e-3, **kw),
    "gaussian": lambda F, x, t, v, **kw: F.gaussian_nll_loss(x, t, v, **kw),
    "gaussian_full": lambda F, x, t, v, **kw: F.gaussian_nll_loss(x, t, v, full=True, eps=0.5, **kw),
}

# shapes each loss accepts (the first is (N, C))
LOSS_SHAPES = {name: [(4, 5), (2, 3, 4)] for name in LOSS_FNS}
for _n in ("multi_margin", "multi_margin_p2", "multi_margin_weight", "cosine_embedding", "cosine_embedding_m"):
    LOSS_SHAPES[_n] = [(4, 5), (6,)]
for _n in ("triplet", "triplet_p1_swap", "triplet_with_distance", "triplet_with_cosine"):
    LOSS_SHAPES[_n] = [(4, 5), (6,)]


CONST_TARGET = {"soft_margin"}  # torch refuses a target that requires grad


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", list(LOSS_FNS))
def test_loss_matches_torch(name, reduction):
    fn = LOSS_FNS[name]
    for k, shape in enumerate(LOSS_SHAPES[name]):
        g = rng(100 + k + len(name))
        inputs = _make_loss_inputs(name, g, shape)
        if name in CONST_TARGET:
            t = inputs.pop()
            check_op(lambda *a: fn(EF, *a, ember.tensor(t), reduction=reduction),
                     lambda *a: fn(TF, *a, torch.tensor(t), reduction=reduction), inputs, atol=1e-10, rtol=1e-9)
            continue
        check_op(lambda *a: fn(EF, *a, reduction=reduction), lambda *a: fn(TF, *a, reduction=reduction), inputs,
                 atol=1e-10, rtol=1e-9)


GRADCHECK_LOSSES = ["kl_div", "kl_div_log_target", "huber_delta", "soft_margin", "multilabel_soft_margin_w",
                    "multi_margin_p2", "multi_margin_weight", "margin_ranking_m", "hinge_m", "cosine_embedding_m",
                    "triplet", "triplet_p1_swap", "poisson_log_full", "poisson_rate", "gaussian"]


@pytest.mark.parametrize("name", GRADCHECK_LOSSES)
def test_loss_gradcheck(name):
    fn = LOSS_FNS[name]
    inputs = _make_loss_inputs(name, rng(7), (3, 4))
    if name.startswith("poisson"):
        inputs[1] = inputs[1].astype(np.int64)  # a count target: no gradient taken
        fn0 = fn
        fn = lambda F, x, t, **kw: fn0(F, x, t.double(), **kw)  # noqa: E731
    if name in ("soft_margin", "multilabel_soft_margin_w", "hinge_m", "margin_ranking_m", "cosine_embedding_m"):
        inputs[-1] = inputs[-1].astype(np.int64)
        fn1 = fn
        fn = lambda F, *a, **kw: fn1(F, *a[:-1], a[-1].double(), **kw)  # noqa: E731
    gradcheck(lambda *a: fn(EF, *a, reduction="sum"), inputs)


LOSS_MODULES = {
    "KLDivLoss": (lambda nn: nn.KLDivLoss(reduction="batchmean"), "kl_div"),
    "KLDivLoss_log": (lambda nn: nn.KLDivLoss(reduction="sum", log_target=True), "kl_div_log_target"),
    "HuberLoss": (lambda nn: nn.HuberLoss(delta=0.4), "huber"),
    "SoftMarginLoss": (lambda nn: nn.SoftMarginLoss(), "soft_margin"),
    "MultiLabelSoftMarginLoss": (lambda nn: nn.MultiLabelSoftMarginLoss(reduction="none"), "multilabel_soft_margin"),
    "MultiMarginLoss": (lambda nn: nn.MultiMarginLoss(p=2, margin=0.3), "multi_margin"),
    "MarginRankingLoss": (lambda nn: nn.MarginRankingLoss(0.1), "margin_ranking"),
    "HingeEmbeddingLoss": (lambda nn: nn.HingeEmbeddingLoss(0.5, reduction="sum"), "hinge"),
    "CosineEmbeddingLoss": (lambda nn: nn.CosineEmbeddingLoss(margin=0.25), "cosine_embedding"),
    "TripletMarginLoss": (lambda nn: nn.TripletMarginLoss(margin=1.5, p=3, swap=True), "triplet"),
    "TripletMarginWithDistanceLoss": (lambda nn: nn.TripletMarginWithDistanceLoss(margin=0.5), "triplet"),
    "PoissonNLLLoss": (lambda nn: nn.PoissonNLLLoss(full=True), "poisson_log"),
    "GaussianNLLLoss": (lambda nn: nn.GaussianNLLLoss(eps=1e-3, reduction="none"), "gaussian"),
}


@pytest.mark.parametrize("name", list(LOSS_MODULES))
def test_loss_modules_match_torch(name):
    make, kind = LOSS_MODULES[name]
    inputs = _make_loss_inputs(kind, rng(5), (4, 5))
    if kind in CONST_TARGET:
        t = inputs.pop()
        em, tm = make(enn), make(tnn)
        check_op(lambda *a: em(*a, ember.tensor(t)), lambda *a: tm(*a, torch.tensor(t)), inputs, atol=1e-10)
        return
    check_op(make(enn), make(tnn), inputs, atol=1e-10, rtol=1e-9)


def test_gaussian_nll_var_shapes_like_torch():
    g = rng(8)
    x, t = g.standard_normal((4, 3)), g.standard_normal((4, 3))
    for v in [g.uniform(0.5, 2, (4, 3)), g.uniform(0.5, 2, (4,)), g.uniform(0.5, 2, (4, 1)), g.uniform(0.5, 2, (1, 3))]:
        check_op(lambda a, b, c: EF.gaussian_nll_loss(a, b, c), lambda a, b, c: TF.gaussian_nll_loss(a, b, c),
                 [x, t, v], atol=1e-12)
    check_op(lambda a, b: EF.gaussian_nll_loss(a, b, 0.7), lambda a, b: TF.gaussian_nll_loss(a, b, 0.7), [x, t],
             atol=1e-12)
    # var below eps: clamped in value, the gradient still flows to var (torch clamps a copy under no_grad)
    v = np.full((4, 3), 1e-8)
    check_op(lambda a, b, c: EF.gaussian_nll_loss(a, b, c, eps=1e-3),
             lambda a, b, c: TF.gaussian_nll_loss(a, b, c, eps=1e-3), [x, t, v], atol=1e-8, rtol=1e-9)


def test_multilabel_margin_loss_matches_torch():
    g = rng(9)
    x = g.standard_normal((4, 5))
    y = np.array([[3, 0, -1, 1, 4], [1, 2, 3, 4, 0], [-1, 1, 2, 0, 0], [4, -1, 0, 0, 0]], dtype=np.int64)
    for red in ("mean", "sum", "none"):
        check_op(lambda a, b: EF.multilabel_margin_loss(a, b, reduction=red),
                 lambda a, b: TF.multilabel_margin_loss(a, b, reduction=red), [x, y], atol=1e-12)
    check_op(lambda a, b: EF.multilabel_margin_loss(a, b), lambda a, b: TF.multilabel_margin_loss(a, b),
             [x[0], y[0]], atol=1e-12)
    gradcheck(lambda a: EF.multilabel_margin_loss(a, ember.tensor(y)), [x])


def test_margin_losses_at_the_kink_like_torch():
    """Inputs that sit exactly on the margin: torch's kernels (multi/multilabel margin) take no
    gradient there, its clamp_min-based losses (ranking, hinge, cosine embedding) do."""
    x = np.array([[1.0, 0.0, 0.0, 0.5], [0.0, 1.0, 2.0, 0.0]])
    t = np.array([0, 2], dtype=np.int64)
    y = np.array([[0, 3, -1, 0], [2, -1, 0, 0]], dtype=np.int64)
    check_op(lambda a, b: EF.multi_margin_loss(a, b, reduction="none"),
             lambda a, b: TF.multi_margin_loss(a, b, reduction="none"), [x, t], atol=1e-12)
    check_op(lambda a, b: EF.multi_margin_loss(a, b, p=2), lambda a, b: TF.multi_margin_loss(a, b, p=2), [x, t])
    check_op(lambda a, b: EF.multilabel_margin_loss(a, b), lambda a, b: TF.multilabel_margin_loss(a, b), [x, y])
    a, b = np.array([1.0, 2.0, 0.5]), np.array([1.0, 1.0, 1.0])
    yy = np.array([1.0, -1.0, 1.0])
    check_op(lambda p, q: EF.margin_ranking_loss(p, q, ember.tensor(yy), margin=0.0),
             lambda p, q: TF.margin_ranking_loss(p, q, torch.tensor(yy), margin=0.0), [a, b])
    check_op(lambda p: EF.hinge_embedding_loss(p, ember.tensor(-yy)),
             lambda p: TF.hinge_embedding_loss(p, torch.tensor(-yy)), [np.array([1.0, 2.0, 0.0])])


def test_multi_margin_loss_1d_input_and_float32():
    g = rng(10)
    for red in ("mean", "sum", "none"):
        check_op(lambda a, b: EF.multi_margin_loss(a, b, reduction=red),
                 lambda a, b: TF.multi_margin_loss(a, b, reduction=red),
                 [g.standard_normal(5), np.array(3, dtype=np.int64)], atol=1e-12)
    check_op(lambda a, b: EF.multi_margin_loss(a, b), lambda a, b: TF.multi_margin_loss(a, b),
             [g.standard_normal((6, 4)).astype(np.float32), g.integers(0, 4, 6)], atol=1e-6)


def test_kl_div_zero_target_and_batchmean_scalar():
    x = np.log(np.array([[0.2, 0.3, 0.5], [0.1, 0.1, 0.8]]))
    t = np.array([[0.0, 0.5, 0.5], [1.0, 0.0, 0.0]])
    for red in ("mean", "sum", "none", "batchmean"):
        check_op(lambda a, b: EF.kl_div(a, b, reduction=red), lambda a, b: TF.kl_div(a, b, reduction=red),
                 [x, t], grad=False, atol=1e-12)
        xe = ember.tensor(x).requires_grad_(True)
        xt = torch.tensor(x).requires_grad_(True)
        EF.kl_div(xe, ember.tensor(t), reduction="sum" if red == "none" else red).backward()
        TF.kl_div(xt, torch.tensor(t), reduction="sum" if red == "none" else red).backward()
        assert_close(xe.grad, xt.grad, 1e-12, 1e-12)
    check_op(lambda a, b: EF.kl_div(a, b, reduction="batchmean"), lambda a, b: TF.kl_div(a, b, reduction="batchmean"),
             [np.array(-0.5), np.array(0.3)], atol=1e-12)
    for lib, _, F in LIBS:
        with pytest.warns(UserWarning, match="batchmean"):
            F.kl_div(lib.tensor(x), lib.tensor(t))


def test_regression_losses_weight_argument():
    g = rng(12)
    x, t, w = g.standard_normal((3, 4)), g.standard_normal((3, 4)), g.uniform(0.1, 2.0, (3, 4))
    for red in ("mean", "sum", "none"):
        for name in ("mse_loss", "l1_loss", "huber_loss"):
            check_op(lambda a, b, c: getattr(EF, name)(a, b, reduction=red, weight=c),
                     lambda a, b, c: getattr(TF, name)(a, b, reduction=red, weight=c), [x, t, w], atol=1e-12)


def test_size_mismatch_warns_like_torch():
    for lib, _, F in LIBS:
        for fn in (F.mse_loss, F.l1_loss, F.huber_loss, F.smooth_l1_loss):
            with pytest.warns(UserWarning, match="that is different to the input size"):
                fn(lib.tensor(x_of((3, 4))), lib.tensor(x_of((4,))))


def test_legacy_size_average_reduce():
    x, t = x_of((3, 4)), np.sign(x_of((3, 4), 1))
    et, tt = ember.tensor(t), torch.tensor(t)
    for sa, rd in [(False, None), (None, False), (True, True), (False, True)]:
        check_op(lambda a: EF.soft_margin_loss(a, et, size_average=sa, reduce=rd),
                 lambda a: TF.soft_margin_loss(a, tt, size_average=sa, reduce=rd), [x])
        check_op(lambda a, b: EF.hinge_embedding_loss(a, b, size_average=sa, reduce=rd),
                 lambda a, b: TF.hinge_embedding_loss(a, b, size_average=sa, reduce=rd), [x, t])
        check_op(lambda a: enn.SoftMarginLoss(sa, rd)(a, et), lambda a: tnn.SoftMarginLoss(sa, rd)(a, tt), [x])
        assert enn.KLDivLoss(sa, rd).reduction == tnn.KLDivLoss(sa, rd).reduction


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_soft_margin_loss_large_margins_like_torch(dtype):
    """torch's formula, log1p(exp(-y x)): finite in float64, inf where float32's exp overflows."""
    x = np.array([-500.0, -60.0, 0.0, 60.0, 500.0], dtype)
    outs = check_op(lambda a: EF.soft_margin_loss(a, ember.ones(5, dtype=a.dtype), reduction="none"),
                    lambda a: TF.soft_margin_loss(a, torch.ones(5, dtype=a.dtype), reduction="none"), [x],
                    atol=1e-12, grad=dtype == np.float64)
    assert np.isinf(to_np(outs[0])[0]) == (dtype == np.float32)


# existing fused losses: the keyword arguments torch code uses, on the shapes torch accepts

def test_cross_entropy_options_match_torch():
    g = rng(13)
    x = g.standard_normal((4, 5, 3))
    t = g.integers(0, 5, (4, 3))
    t[0, 0] = 2
    w = g.uniform(0.5, 2.0, 5)
    we, wt = ember.tensor(w), torch.tensor(w)
    probs = g.dirichlet(np.ones(5), size=(4, 3)).transpose(0, 2, 1).copy()
    for red in ("mean", "sum", "none"):
        for kw in ({}, {"label_smoothing": 0.2}, {"ignore_index": 2}, {"ignore_index": 2, "label_smoothing": 0.1}):
            check_op(lambda a, b: EF.cross_entropy(a, b, weight=we, reduction=red, **kw),
                     lambda a, b: TF.cross_entropy(a, b, weight=wt, reduction=red, **kw), [x, t], atol=1e-12)
            check_op(lambda a, b: enn.CrossEntropyLoss(reduction=red, **kw)(a, b),
                     lambda a, b: tnn.CrossEntropyLoss(reduction=red, **kw)(a, b), [x[:, :, 0], t[:, 0]],
                     atol=1e-12)
        for ls in (0.0, 0.3):
            check_op(lambda a, b: EF.cross_entropy(a, b, weight=we, reduction=red, label_smoothing=ls),
                     lambda a, b: TF.cross_entropy(a, b, weight=wt, reduction=red, label_smoothing=ls),
                     [x, probs], atol=1e-12)
        check_op(lambda a, b: EF.nll_loss(a, b, weight=we, ignore_index=1, reduction=red),
                 lambda a, b: TF.nll_loss(a, b, weight=wt, ignore_index=1, reduction=red), [x, t], atol=1e-12)


def test_bce_weight_and_pos_weight_broadcast_match_torch():
    g = rng(14)
    x, t = g.standard_normal((4, 3)), (g.random((4, 3)) > 0.5).astype(np.float64)
    w, pw = g.uniform(0.5, 2.0, 3), g.uniform(0.5, 3.0, 3)
    (we, wt), (pe, pt) = [(ember.tensor(a), torch.tensor(a)) for a in (w, pw)]
    for red in ("mean", "sum", "none"):
        check_op(lambda a, b: EF.binary_cross_entropy_with_logits(a, b, we, reduction=red, pos_weight=pe),
                 lambda a, b: TF.binary_cross_entropy_with_logits(a, b, wt, reduction=red, pos_weight=pt),
                 [x, t], atol=1e-12)
        check_op(lambda a, b: EF.binary_cross_entropy(a.sigmoid(), b, we, reduction=red),
                 lambda a, b: TF.binary_cross_entropy(a.sigmoid(), b, wt, reduction=red), [x, t], atol=1e-12)


# --------------------------------------------------------------------------- embedding / one_hot

def test_embedding_padding_idx_max_norm_scale_grad_by_freq():
    g = rng(15)
    w = g.standard_normal((6, 3)) * 2
    idx = np.array([[0, 2, 5, 2], [1, 2, 0, 4]], dtype=np.int64)
    for kw in ({}, {"padding_idx": 2}, {"padding_idx": -1}, {"scale_grad_by_freq": True},
               {"padding_idx": 0, "scale_grad_by_freq": True}):
        check_op(lambda i, v: EF.embedding(i, v, **kw), lambda i, v: TF.embedding(i, v, **kw), [idx, w], atol=1e-12)
    for max_norm, norm_type in ((1.0, 2.0), (0.5, 1.0), (2.0, 3.0)):
        we, wt = ember.tensor(w.copy()), torch.tensor(w.copy())
        oe = EF.embedding(ember.tensor(idx), we, max_norm=max_norm, norm_type=norm_type)
        ot = TF.embedding(torch.tensor(idx), wt, max_norm=max_norm, norm_type=norm_type)
        assert_close(oe, ot, 1e-12, 1e-12)
        assert_close(we, wt, 1e-12, 1e-12)  # the rows used are renormalised in place


def test_embedding_module_padding_idx_gradient():
    em, tm = enn.Embedding(5, 3, padding_idx=1).double(), tnn.Embedding(5, 3, padding_idx=1).double()
    w = rng(16).standard_normal((5, 3))
    with ember.no_grad(), torch.no_grad():
        em.weight.copy_(ember.tensor(w))
        tm.weight.copy_(torch.tensor(w))
    idx = np.array([1, 0, 1, 3], dtype=np.int64)
    check_op(em, tm, [idx], atol=1e-12)
    for lib, m in ((ember, em), (torch, tm)):
        m(lib.tensor(idx)).sum().backward()
    assert_close(em.weight.grad, tm.weight.grad, 1e-12, 1e-12)
    assert np.all(to_np(em.weight.grad)[1] == 0)


def test_embedding_module_options_and_from_pretrained():
    w = rng(19).standard_normal((6, 3)) * 3
    idx = np.array([[0, 5, 2], [2, 2, 1]], dtype=np.int64)
    for kw in ({"max_norm": 1.0}, {"scale_grad_by_freq": True, "padding_idx": 1}, {"norm_type": 1.0, "max_norm": 2.0}):
        em = enn.Embedding.from_pretrained(ember.tensor(w.copy()), freeze=False, **kw)
        tm = tnn.Embedding.from_pretrained(torch.tensor(w.copy()), freeze=False, **kw)
        assert repr(em) == repr(tm)
        proj = rng(20).standard_normal((2, 3, 3))
        for lib, m in ((ember, em), (torch, tm)):
            (m(lib.tensor(idx)) * lib.tensor(proj)).sum().backward()
        assert_close(em.weight, tm.weight, 1e-12, 1e-12)
        assert_close(em.weight.grad, tm.weight.grad, 1e-12, 1e-12)
    frozen = enn.Embedding.from_pretrained(ember.tensor(w))
    assert not frozen.weight.requires_grad
    with pytest.raises(AssertionError, match="Shape of weight"):
        enn.Embedding(5, 3, _weight=ember.tensor(w))


def test_one_hot_matches_torch():
    idx = np.array([[0, 3], [2, 1]], dtype=np.int64)
    check_op(EF.one_hot, TF.one_hot, [idx], grad=False)
    check_op(lambda i: EF.one_hot(i, num_classes=6), lambda i: TF.one_hot(i, num_classes=6), [idx], grad=False)


# --------------------------------------------------------------------------- random: statistics and structure

def test_rrelu_training_samples_slopes_in_range():
    ember.manual_seed(0)
    x = ember.tensor(-np.abs(x_of((200, 50), 1)) - 0.1).requires_grad_(True)
    y = EF.rrelu(x, 0.1, 0.3, training=True)
    slope = to_np(y) / to_np(x)
    assert slope.min() >= 0.1 and slope.max() <= 0.3
    assert abs(slope.mean() - 0.2) < 0.005 and abs(slope.std() - 0.2 / math.sqrt(12)) < 0.005
    assert len(np.unique(slope.round(12))) > 1000
    y.sum().backward()
    np.testing.assert_allclose(to_np(x.grad), slope, rtol=1e-12)
    pos = ember.tensor(np.abs(x_of((10, 10), 2)) + 0.1)
    np.testing.assert_array_equal(to_np(EF.rrelu(pos, training=True)), to_np(pos))
    m = enn.RReLU(0.1, 0.3)
    assert not np.allclose(to_np(m(x)) / to_np(x), 0.2)
    np.testing.assert_allclose(to_np(m.eval()(x)) / to_np(x), 0.2)


@pytest.mark.parametrize("dim", [-1, 0])
def test_gumbel_softmax_soft_and_hard(dim):
    ember.manual_seed(1)
    logits = np.log(np.array([[0.1, 0.2, 0.7], [0.5, 0.25, 0.25]]))
    if dim == 0:
        logits = logits.T.copy()
    lg = ember.tensor(logits)
    n = 4000
    counts = np.zeros_like(logits)
    for _ in range(n // 100):
        batch = ember.tensor(np.repeat(logits[None], 100, 0))
        y = EF.gumbel_softmax(batch, tau=0.5, hard=True, dim=dim if dim < 0 else 1)
        a = to_np(y)
        assert set(np.unique(a)) <= {0.0, 1.0}
        np.testing.assert_array_equal(a.sum(dim if dim < 0 else 1), 1.0)
        counts += a.sum(0)
    freq = counts / n
    probs = np.exp(logits)
    assert np.abs(freq - probs).max() < 0.04  # argmax of logits + Gumbel noise ~ softmax(logits)
    soft = to_np(EF.gumbel_softmax(lg, tau=2.0, dim=dim))
    np.testing.assert_allclose(soft.sum(dim), 1.0, rtol=1e-12)
    assert np.all((soft > 0) & (soft < 1))
    # straight-through: the hard sample's gradient is the soft sample's
    x = ember.tensor(logits).requires_grad_(True)
    ember.manual_seed(5)
    yh = EF.gumbel_softmax(x, tau=0.7, hard=True, dim=dim)
    w = ember.tensor(rng(3).standard_normal(logits.shape))
    (yh * w).sum().backward()
    gh = to_np(x.grad)
    x2 = ember.tensor(logits).requires_grad_(True)
    ember.manual_seed(5)
    ys = EF.gumbel_softmax(x2, tau=0.7, hard=False, dim=dim)
    (ys * w).sum().backward()
    np.testing.assert_allclose(gh, to_np(x2.grad), rtol=1e-10, atol=1e-14)
    assert np.array_equal(to_np(yh).argmax(dim), to_np(ys).argmax(dim))


def test_gumbel_softmax_float32_and_errors():
    y = EF.gumbel_softmax(ember.tensor(x_of((4, 6), dtype=np.float32)), hard=True)
    assert y.dtype == ember.float32
    for lib, _, F in LIBS:
        with pytest.raises(RuntimeError):
            F.gumbel_softmax(lib.tensor([[1, 2]]))
        with pytest.warns(UserWarning, match="deprecated"):
            F.gumbel_softmax(lib.tensor([[1.0, 2.0]]), eps=1e-5)


def test_dropout_statistics_and_inplace():
    ember.manual_seed(2)
    x = ember.ones(200, 300)
    for p in (0.2, 0.5, 0.8):
        y = to_np(EF.dropout(x, p))
        assert abs((y == 0).mean() - p) < 0.01
        np.testing.assert_allclose(y[y != 0], 1 / (1 - p), rtol=1e-6)
    assert EF.dropout(x, 0.5, training=False) is x
    np.testing.assert_array_equal(to_np(EF.dropout(x, 1.0)), 0.0)
    z = ember.ones(50, 40)
    out = EF.dropout(z, 0.5, inplace=True)
    assert out is z and set(np.unique(to_np(z))) == {0.0, 2.0}
    leaf = ember.tensor(x_of((30, 40))).requires_grad_(True)
    y = leaf * 1.0
    assert EF.dropout(y, 0.25, inplace=True) is y
    y.sum().backward()
    ratio = to_np(y) / to_np(leaf).astype(np.float64)
    np.testing.assert_allclose(to_np(leaf.grad), ratio, rtol=1e-6)
    assert set(np.unique(ratio.round(6))) == {0.0, round(1 / 0.75, 6)}
    with pytest.raises(RuntimeError, match="leaf Variable"):
        EF.dropout(leaf, 0.25, inplace=True)


@pytest.mark.parametrize("fn,shape", [(EF.dropout1d, (20, 30, 40)), (EF.dropout1d, (30, 40)),
                                      (EF.dropout2d, (10, 30, 4, 5)), (EF.dropout3d, (5, 30, 2, 3, 4)),
                                      (EF.dropout3d, (30, 2, 3, 4)), (EF.feature_alpha_dropout, (10, 30, 4))])
def test_feature_dropout_zeroes_whole_channels(fn, shape):
    ember.manual_seed(3)
    x = ember.tensor(np.abs(x_of(shape)) + 1.0)
    kw = {"training": True} if fn is EF.feature_alpha_dropout else {}
    y = to_np(fn(x, 0.4, **kw))
    lead = 2 if len(shape) in (3, 5) or fn is EF.dropout2d or fn is EF.feature_alpha_dropout else 1
    ch = y.reshape(int(np.prod(shape[:lead])), -1)
    xv = to_np(x).reshape(ch.shape)
    ratio = ch / xv
    dropped = np.all(np.isclose(ratio, ratio[:, :1]), axis=1) if fn is not EF.feature_alpha_dropout else None
    if fn is EF.feature_alpha_dropout:
        const = np.array([np.allclose(r, r[0]) for r in ch])  # a dropped channel is one constant
        assert 0.25 < const.mean() < 0.55
    else:
        assert np.all(dropped)
        frac = (ch == 0).all(1).mean()
        assert 0.25 < frac < 0.55
        kept = ch[(ch != 0).all(1)]
        np.testing.assert_allclose(kept / xv[(ch != 0).all(1)], 1 / 0.6, rtol=1e-12)


def test_alpha_dropout_keeps_selu_statistics():
    ember.manual_seed(4)
    x = ember.tensor(rng(0).standard_normal((400, 500)))
    for p in (0.1, 0.3, 0.5):
        y = to_np(EF.alpha_dropout(x, p, training=True))
        assert abs(y.mean()) < 0.02 and abs(y.std() - 1.0) < 0.02
        a_ = 1.7580993408473766
        a = 1 / math.sqrt((a_ * a_ * p + 1) * (1 - p))
        dropped_value = -a_ * a + a_ * a * p
        frac = np.isclose(y, dropped_value).mean()
        assert abs(frac - p) < 0.01
    assert EF.alpha_dropout(x, 0.5) is x  # training=False by default, as in torch
    m = enn.AlphaDropout(0.2)
    assert m(x) is not x and m.eval()(x) is x


def test_dropout_bad_probability_raises_value_error():
    for lib, nn, F in LIBS:
        x = lib.tensor([1.0, 2.0])
        for fn in (F.dropout, F.alpha_dropout, F.feature_alpha_dropout, F.dropout1d, F.dropout2d, F.dropout3d):
            with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1, but got 1.5"):
                fn(x, 1.5)
        for cls in (nn.AlphaDropout, nn.Dropout1d, nn.Dropout2d, nn.FeatureAlphaDropout):
            with pytest.raises(ValueError):
                cls(-0.1)


# --------------------------------------------------------------------------- containers

def test_parameter_list_matches_torch():
    g = rng(17)
    arrs = [g.standard_normal((2, 3)), g.standard_normal(4)]
    pls = {}
    for lib, nn, _ in LIBS:
        pl = nn.ParameterList([nn.Parameter(lib.tensor(arrs[0])), lib.tensor(arrs[1].astype(np.float32))])
        pl.append(lib.tensor(np.zeros((1, 2, 1))))
        pl.extend([nn.Parameter(lib.tensor(np.ones(2)), requires_grad=False)])
        pl += [lib.tensor(np.ones(3))]
        pls[lib.__name__] = pl
    pe, pt = pls["ember"], pls["torch"]
    assert repr(pe) == repr(pt).replace("torch.", "ember.")
    assert len(pe) == len(pt) == 5
    assert [n for n, _ in pe.named_parameters()] == [n for n, _ in pt.named_parameters()]
    assert all(isinstance(p, enn.Parameter) for p in pe)
    assert [p.requires_grad for p in pe] == [p.requires_grad for p in pt]
    assert_close(pe[0], pt[0])
    assert_close(pe[-1], pt[-1])
    assert len(pe[1:4]) == 3 and isinstance(pe[1:4], enn.ParameterList)
    pe[1] = ember.zeros(4)
    assert isinstance(pe[1], enn.Parameter) and np.all(to_np(pe[1]) == 0)
    assert list(pe.state_dict()) == list(pt.state_dict())
    with pytest.raises(IndexError, match="index 5 is out of range"):
        pe[5]
    with pytest.raises(RuntimeError, match="ParameterList should not be called."):
        pe()
    with pytest.raises(TypeError):
        pe.extend(ember.zeros(2))

    class Net(enn.Module):
        def __init__(self):
            super().__init__()
            self.ws = enn.ParameterList([enn.Parameter(ember.ones(2)) for _ in range(3)])

        def forward(self, x):
            for w in self.ws:
                x = x * w
            return x
    net = Net()
    assert [n for n, _ in net.named_parameters()] == ["ws.0", "ws.1", "ws.2"]
    net(ember.ones(2)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())


def test_parameter_dict_matches_torch():
    g = rng(18)
    a, b = g.standard_normal((2, 2)), g.standard_normal(3)
    pds = {}
    for lib, nn, _ in LIBS:
        pd = nn.ParameterDict({"b": nn.Parameter(lib.tensor(b)), "a": lib.tensor(a)})
        pd["c"] = lib.tensor(np.ones(1, dtype=np.float32))
        pd.update([("d", nn.Parameter(lib.tensor(np.zeros(2))))])
        pds[lib.__name__] = pd
    pe, pt = pds["ember"], pds["torch"]
    assert repr(pe) == repr(pt).replace("torch.", "ember.")
    assert list(pe.keys()) == list(pt.keys()) == ["a", "b", "c", "d"]
    assert [n for n, _ in pe.named_parameters()] == [n for n, _ in pt.named_parameters()]
    assert "a" in pe and "z" not in pe and len(pe) == 4
    assert_close(pe["a"], pt["a"])
    assert isinstance(pe["a"], enn.Parameter)
    assert pe.get("z") is None
    v = pe.pop("c")
    assert tuple(v.shape) == (1,) and "c" not in pe and len(pe) == 3
    k, _ = pe.popitem()
    assert k == "d"
    pe2 = pe | enn.ParameterDict({"e": ember.ones(1)})
    assert list(pe2.keys()) == ["a", "b", "e"]
    assert pe.setdefault("f", ember.zeros(1)) is pe["f"]
    pe.clear()
    assert len(pe) == 0 and list(pe.parameters()) == []
    with pytest.raises(TypeError, match="not a string"):
        pe[1]
    with pytest.raises(RuntimeError, match="ParameterDict should not be called."):
        pe(1)


def test_reassigned_parameter_or_module_keeps_its_place_like_torch():
    names = {}
    for lib, nn, _ in LIBS:
        m = nn.Sequential(nn.Linear(2, 3), nn.PReLU(), nn.Linear(3, 1))
        m[0].weight = nn.Parameter(lib.zeros(3, 2))
        m[1] = nn.ReLU6()
        m.extra = nn.Parameter(lib.ones(1))
        m[2].bias = nn.Parameter(lib.ones(1))
        names[lib.__name__] = ([n for n, _ in m.named_parameters()], [n for n, _ in m.named_children()], repr(m))
    assert names["ember"] == names["torch"]


# --------------------------------------------------------------------------- nn.init

def test_calculate_gain_matches_torch():
    for nl in ("linear", "conv1d", "conv2d", "conv_transpose3d", "sigmoid", "tanh", "relu", "selu"):
        assert enn.init.calculate_gain(nl) == tnn.init.calculate_gain(nl)
    for p in (None, 0.2, 1, 0.0):
        assert enn.init.calculate_gain("leaky_relu", p) == tnn.init.calculate_gain("leaky_relu", p)
    assert enn.init.calculate_gain(nonlinearity="leaky_relu", param=0.3) == tnn.init.calculate_gain("leaky_relu", 0.3)


def test_orthogonal_():
    ember.manual_seed(6)
    for shape, gain in (((6, 4), 1.0), ((3, 8), 2.0), ((4, 2, 3), 0.5), ((5, 5), 1)):
        w = ember.empty(*shape)
        assert enn.init.orthogonal_(w, gain=gain) is w
        m = to_np(w).reshape(shape[0], -1).astype(np.float64)
        gram = m.T @ m if m.shape[0] >= m.shape[1] else m @ m.T
        np.testing.assert_allclose(gram, gain ** 2 * np.eye(gram.shape[0]), atol=1e-5)
    a, b = enn.init.orthogonal_(ember.empty(4, 4)), enn.init.orthogonal_(ember.empty(4, 4))
    assert not np.allclose(to_np(a), to_np(b))


def test_trunc_normal_():
    ember.manual_seed(7)

    def moments(mean, std, a, b):
        al, be = (a - mean) / std, (b - mean) / std
        phi = lambda z: math.exp(-z * z / 2) / math.sqrt(2 * math.pi)  # noqa: E731
        Phi = lambda z: 0.5 * (1 + math.erf(z / math.sqrt(2)))  # noqa: E731
        Z = Phi(be) - Phi(al)
        m = mean + std * (phi(al) - phi(be)) / Z
        v = std ** 2 * (1 + (al * phi(al) - be * phi(be)) / Z - ((phi(al) - phi(be)) / Z) ** 2)
        return m, math.sqrt(v)
    cases = ((0.0, 1.0, -2.0, 2.0), (0.5, 2.0, -1.0, 1.5), (0.0, 1.0, 1.0, 3.0), (0.0, 0.02, -0.04, 0.04))
    for mean, std, a, b in cases:
        w = ember.empty(300, 300)
        assert enn.init.trunc_normal_(w, mean=mean, std=std, a=a, b=b) is w
        v = to_np(w)
        assert v.min() >= np.float32(a) and v.max() <= np.float32(b)
        m, s = moments(mean, std, a, b)
        assert abs(v.mean() - m) < 0.01 * max(std, b - a) and abs(v.std() - s) < 0.01 * max(std, b - a)
    with pytest.warns(UserWarning, match="mean is more than 2 std"):
        enn.init.trunc_normal_(ember.empty(3), mean=5.0, a=-1, b=1)


def test_sparse_dirac_eye_match_torch():
    ember.manual_seed(8)
    w = ember.empty(10, 6)
    enn.init.sparse_(w, sparsity=0.3, std=0.5)
    v = to_np(w)
    assert np.all((v == 0).sum(0) == math.ceil(0.3 * 10))
    assert 0.3 < v[v != 0].std() < 0.7
    for shape, groups in (((4, 3, 5), 1), ((6, 2, 3, 3), 2), ((4, 4, 3, 3, 3), 4), ((2, 5, 4), 1)):
        e, t = ember.empty(*shape), torch.empty(*shape)
        enn.init.dirac_(e, groups)
        tnn.init.dirac_(t, groups)
        np.testing.assert_array_equal(to_np(e), t.numpy())
    for shape in ((3, 5), (4, 4), (5, 2)):
        e, t = ember.empty(*shape), torch.empty(*shape)
        assert enn.init.eye_(e) is e
        np.testing.assert_array_equal(to_np(e), to_np(tnn.init.eye_(t)))


def test_init_keyword_forms_and_bounds():
    ember.manual_seed(9)
    w = ember.empty(200, 300)
    enn.init.xavier_uniform_(w, gain=enn.init.calculate_gain("tanh"))
    bound = 5 / 3 * math.sqrt(6 / 500)
    v = to_np(w)
    assert v.max() <= bound and v.min() >= -bound and v.max() > 0.95 * bound
    enn.init.xavier_normal_(tensor=w, gain=2.0)
    assert abs(to_np(w).std() - 2 * math.sqrt(2 / 500)) < 0.005
    enn.init.kaiming_uniform_(w, a=0.1, mode="fan_out", nonlinearity="leaky_relu")
    bound = math.sqrt(3) * math.sqrt(2 / (1 + 0.01)) / math.sqrt(200)
    assert to_np(w).max() <= bound and to_np(w).max() > 0.95 * bound
    enn.init.kaiming_normal_(w, mode="fan_in", nonlinearity="relu")
    assert abs(to_np(w).std() - math.sqrt(2 / 300)) < 0.003
    enn.init.kaiming_normal_(w, nonlinearity="linear", mode="FAN_OUT")
    assert abs(to_np(w).std() - math.sqrt(1 / 200)) < 0.003
    with pytest.warns(UserWarning, match="zero-element"):
        enn.init.kaiming_uniform_(ember.empty(0, 3))
    with pytest.warns(FutureWarning, match="deprecated"):
        enn.init.xavier_uniform(ember.empty(3, 3))


INIT_ERRORS = [
    lambda nn, L: nn.init.orthogonal_(L.empty(3)),
    lambda nn, L: nn.init.sparse_(L.empty(3, 3, 3), 0.1),
    lambda nn, L: nn.init.dirac_(L.empty(3, 3)),
    lambda nn, L: nn.init.dirac_(L.empty(3, 3, 3), groups=2),
    lambda nn, L: nn.init.eye_(L.empty(3, 3, 3)),
    lambda nn, L: nn.init.calculate_gain("foo"),
    lambda nn, L: nn.init.calculate_gain("leaky_relu", True),
    lambda nn, L: nn.init.kaiming_uniform_(L.empty(3, 3), mode="foo"),
    lambda nn, L: nn.init.xavier_uniform_(L.empty(3)),
]


@pytest.mark.parametrize("i", range(len(INIT_ERRORS)))
def test_init_errors_match_torch(i):
    with pytest.raises(Exception) as te:
        INIT_ERRORS[i](tnn, torch)
    with pytest.raises(te.type) as ee:
        INIT_ERRORS[i](enn, ember)
    assert str(ee.value) == str(te.value)


# --------------------------------------------------------------------------- nn.utils

def _twin_params(seed, grads=True, scale=1.0, extra=None):
    g = rng(seed)
    shapes = [(3, 4), (4,), (2, 2, 2)]
    arrs = [g.standard_normal(s) for s in shapes]
    gr = [g.standard_normal(s) * scale for s in shapes]
    if extra is not None:
        gr[1][0] = extra
    out = {}
    for lib, nn, _ in LIBS:
        ps = [nn.Parameter(lib.tensor(a.astype(np.float32))) for a in arrs]
        if grads:
            for p, gg in zip(ps, gr):
                p.grad = lib.tensor(gg.astype(np.float32))
        out[lib.__name__] = ps
    return out["ember"], out["torch"]


def test_parameters_to_vector_and_back():
    pe, pt = _twin_params(20, grads=False)
    ve, vt = enn.utils.parameters_to_vector(pe), tnn.utils.parameters_to_vector(pt)
    assert_close(ve, vt, 0, 0)
    new = rng(21).standard_normal(ve.numel()).astype(np.float32)
    enn.utils.vector_to_parameters(ember.tensor(new), pe)
    tnn.utils.vector_to_parameters(torch.tensor(new), pt)
    for a, b in zip(pe, pt):
        assert_close(a, b, 0, 0)
        assert tuple(a.shape) == tuple(b.shape)
    with pytest.raises(TypeError, match="expected torch.Tensor, but got: list"):
        enn.utils.vector_to_parameters([1.0], pe)


@pytest.mark.parametrize("norm_type", [2.0, 1, 3.0, math.inf, "inf"])
@pytest.mark.parametrize("foreach", [None, True, False])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
def test_clip_grad_norm_matches_torch(norm_type, foreach, max_norm):
    pe, pt = _twin_params(22, scale=2.0)
    te = enn.utils.clip_grad_norm_(pe, max_norm, norm_type=norm_type, foreach=foreach)
    tt = tnn.utils.clip_grad_norm_(pt, max_norm, norm_type=norm_type, foreach=foreach)
    assert te.dtype == ember.float32 and te.dim() == 0
    assert_close(te, tt, 1e-6, 1e-7)
    for a, b in zip(pe, pt):
        assert_close(a.grad, b.grad, 1e-6, 1e-7)


def test_clip_grad_norm_single_tensor_generator_and_no_grads():
    pe, pt = _twin_params(23)
    assert_close(enn.utils.clip_grad_norm_(pe[0], 0.1), tnn.utils.clip_grad_norm_(pt[0], 0.1), 1e-6, 1e-7)
    assert_close(pe[0].grad, pt[0].grad, 1e-6, 1e-7)
    assert_close(enn.utils.clip_grad_norm_(iter(pe), 0.2), tnn.utils.clip_grad_norm_(iter(pt), 0.2), 1e-6, 1e-7)
    e0, t0 = _twin_params(24, grads=False)
    assert float(enn.utils.clip_grad_norm_(e0, 1.0)) == float(tnn.utils.clip_grad_norm_(t0, 1.0)) == 0.0
    with pytest.warns(UserWarning, match="empty generator"):
        enn.utils.clip_grad_norm_((p for p in []), 1.0)


@pytest.mark.parametrize("bad", [math.inf, math.nan])
def test_clip_grad_norm_error_if_nonfinite(bad):
    for lib, nn, _ in LIBS:
        pe, pt = _twin_params(25, extra=bad)
        ps = pe if lib is ember else pt
        with pytest.raises(RuntimeError, match="non-finite"):
            nn.utils.clip_grad_norm_(ps, 1.0, error_if_nonfinite=True)
    pe, pt = _twin_params(25, extra=bad)
    te = enn.utils.clip_grad_norm_(pe, 1.0, foreach=True)
    tt = tnn.utils.clip_grad_norm_(pt, 1.0, foreach=True)
    assert np.isnan(float(te)) == np.isnan(float(tt)) and np.isinf(float(te)) == np.isinf(float(tt))
    for a, b in zip(pe, pt):
        np.testing.assert_array_equal(np.isnan(to_np(a.grad)), np.isnan(b.grad.numpy()))


@pytest.mark.parametrize("foreach", [None, True, False])
def test_clip_grad_value_matches_torch(foreach):
    pe, pt = _twin_params(26, scale=3.0)
    assert enn.utils.clip_grad_value_(pe, 1.5, foreach=foreach) is None
    tnn.utils.clip_grad_value_(pt, 1.5, foreach=foreach)
    for a, b in zip(pe, pt):
        assert_close(a.grad, b.grad, 0, 0)
    enn.utils.clip_grad_value_(pe[0], clip_value=0.1)
    assert np.abs(to_np(pe[0].grad)).max() <= np.float32(0.1)


def test_get_total_norm_and_clip_grads_with_norm():
    pe, pt = _twin_params(27)
    ne = enn.utils.get_total_norm([p.grad for p in pe], 3.0)
    nt = tnn.utils.get_total_norm([p.grad for p in pt], 3.0)
    assert_close(ne, nt, 1e-6, 1e-7)
    enn.utils.clip_grads_with_norm_(pe, 0.5, ne)
    tnn.utils.clip_grads_with_norm_(pt, 0.5, nt)
    for a, b in zip(pe, pt):
        assert_close(a.grad, b.grad, 1e-6, 1e-7)


# --------------------------------------------------------------------------- bad inputs: torch's exception types

ERRORS = {
    "glu_odd": lambda L, nn, F: F.glu(L.ones(2, 3), 1),
    "glu_scalar": lambda L, nn, F: F.glu(L.tensor(1.0)),
    "glu_dim": lambda L, nn, F: F.glu(L.ones(2, 4), 2),
    "softshrink_neg": lambda L, nn, F: F.softshrink(L.ones(2, 3), -0.5),
    "celu_alpha0": lambda L, nn, F: F.celu(L.ones(2), 0.0),
    "hardtanh_bounds": lambda L, nn, F: F.hardtanh(L.ones(2), 2.0, 1.0),
    "Hardtanh_bounds": lambda L, nn, F: nn.Hardtanh(2.0, 1.0),
    "prelu_count": lambda L, nn, F: F.prelu(L.ones(2, 3), L.ones(2)),
    "prelu_1d": lambda L, nn, F: F.prelu(L.ones(3), L.ones(3)),
    "prelu_wdim": lambda L, nn, F: F.prelu(L.ones(2, 3), L.ones(3, 1)),
    "PReLU_mismatch": lambda L, nn, F: nn.PReLU(4)(L.ones(2, 3)),
    "rrelu_bounds": lambda L, nn, F: F.rrelu(L.ones(2), 0.5, 0.1, training=True),
    "softplus_int": lambda L, nn, F: F.softplus(L.tensor([1, 2])),
    "elu_int": lambda L, nn, F: F.elu(L.tensor([1, 2])),
    "selu_int": lambda L, nn, F: F.selu(L.tensor([1, 2])),
    "silu_int": lambda L, nn, F: F.silu(L.tensor([1, 2])),
    "mish_int": lambda L, nn, F: F.mish(L.tensor([1, 2])),
    "hardswish_int": lambda L, nn, F: F.hardswish(L.tensor([1, 2])),
    "logsigmoid_int": lambda L, nn, F: F.logsigmoid(L.tensor([1, 2])),
    "leaky_relu_int": lambda L, nn, F: F.leaky_relu(L.tensor([1, 2])),
    "softplus_none": lambda L, nn, F: F.softplus(None),
    "pad_odd": lambda L, nn, F: F.pad(L.ones(2, 3), (1,)),
    "pad_too_long": lambda L, nn, F: F.pad(L.ones(2, 3), (1, 1, 1, 1, 1, 1)),
    "pad_reflect_big": lambda L, nn, F: F.pad(L.ones(1, 1, 3), (3, 3), mode="reflect"),
    "pad_reflect_big_2d": lambda L, nn, F: F.pad(L.ones(1, 4, 3), (1, 1, 4, 0), mode="reflect"),
    "pad_reflect_1d_input": lambda L, nn, F: F.pad(L.ones(3), (1, 1), mode="reflect"),
    "pad_reflect_4_on_2d": lambda L, nn, F: F.pad(L.ones(3, 3), (1, 1, 1, 1), mode="replicate"),
    "pad_reflect_value": lambda L, nn, F: F.pad(L.ones(1, 1, 3), (1, 1), mode="reflect", value=1.0),
    "pad_mode": lambda L, nn, F: F.pad(L.ones(1, 1, 3), (1, 1), mode="foo"),
    "pad_circular_wrap": lambda L, nn, F: F.pad(L.ones(1, 1, 3), (4, 0), mode="circular"),
    "pad_replicate_empty": lambda L, nn, F: F.pad(L.ones(1, 1, 0), (1, 1), mode="replicate"),
    "pad_constant_negative": lambda L, nn, F: F.pad(L.ones(1, 1, 3), (-2, -2)),
    "normalize_int": lambda L, nn, F: F.normalize(L.tensor([[1, 2]])),
    "normalize_dim": lambda L, nn, F: F.normalize(L.ones(2, 3), dim=2),
    "cosine_similarity_int": lambda L, nn, F: F.cosine_similarity(L.tensor([[1, 2]]), L.tensor([[1, 2]])),
    "cosine_similarity_shapes": lambda L, nn, F: F.cosine_similarity(L.ones(2, 3), L.ones(4, 3)),
    "cosine_similarity_dim": lambda L, nn, F: F.cosine_similarity(L.ones(2, 3), L.ones(2, 3), dim=2),
    "pairwise_distance_shapes": lambda L, nn, F: F.pairwise_distance(L.ones(2, 3), L.ones(4, 3)),
    "bilinear_in2": lambda L, nn, F: F.bilinear(L.ones(2, 3), L.ones(2, 4), L.ones(5, 3, 3)),
    "bilinear_dims": lambda L, nn, F: F.bilinear(L.ones(2, 3), L.ones(4), L.ones(5, 3, 4)),
    "bilinear_batch": lambda L, nn, F: F.bilinear(L.ones(2, 3), L.ones(3, 4), L.ones(5, 3, 4)),
    "Bilinear_zero": lambda L, nn, F: nn.Bilinear(0, 2, 3),
    "Unflatten_int": lambda L, nn, F: nn.Unflatten(1, 3),
    "Unflatten_float": lambda L, nn, F: nn.Unflatten(1, (3, 2.0)),
    "Unflatten_size": lambda L, nn, F: nn.Unflatten(1, (2, 2))(L.ones(2, 3)),
    "kl_div_reduction": lambda L, nn, F: F.kl_div(L.ones(2), L.ones(2), reduction="foo"),
    "kl_div_int": lambda L, nn, F: F.kl_div(L.tensor([1, 2]), L.tensor([1, 2])),
    "huber_delta": lambda L, nn, F: F.huber_loss(L.ones(2), L.ones(2), delta=0.0),
    "huber_weight": lambda L, nn, F: F.huber_loss(L.ones(2, 3), L.ones(2, 3), weight=L.ones(3)),
    "HuberLoss_delta": lambda L, nn, F: nn.HuberLoss(delta="a"),
    "mse_weight": lambda L, nn, F: F.mse_loss(L.ones(2, 3), L.ones(2, 3), weight=L.ones(3)),
    "l1_reduction": lambda L, nn, F: F.l1_loss(L.ones(2), L.ones(2), reduction="foo"),
    "mse_reduction": lambda L, nn, F: F.mse_loss(L.ones(2), L.ones(2), reduction="foo"),
    "soft_margin_reduction": lambda L, nn, F: F.soft_margin_loss(L.ones(2), L.ones(2), reduction="avg"),
    "soft_margin_shapes": lambda L, nn, F: F.soft_margin_loss(L.ones(3), L.ones(4)),
    "multilabel_soft_margin_reduction": lambda L, nn, F: F.multilabel_soft_margin_loss(L.ones(2, 3), L.ones(2, 3),
                                                                                       reduction="foo"),
    "multi_margin_p": lambda L, nn, F: F.multi_margin_loss(L.ones(2, 3), L.tensor([0, 1]), p=3),
    "multi_margin_weight_2d": lambda L, nn, F: F.multi_margin_loss(L.ones(2, 3), L.tensor([0, 1]),
                                                                   weight=L.ones(1, 3)),
    "multi_margin_target_size": lambda L, nn, F: F.multi_margin_loss(L.ones(2, 3), L.tensor([0, 1, 2])),
    "multi_margin_target_range": lambda L, nn, F: F.multi_margin_loss(L.ones(2, 3), L.tensor([0, 5])),
    "multi_margin_3d": lambda L, nn, F: F.multi_margin_loss(L.ones(2, 3, 4), L.tensor([0, 1])),
    "multi_margin_weight_size": lambda L, nn, F: F.multi_margin_loss(L.ones(2, 3), L.tensor([0, 1]),
                                                                     weight=L.ones(2)),
    "MultiMarginLoss_p": lambda L, nn, F: nn.MultiMarginLoss(p=3),
    "MultiMarginLoss_weight": lambda L, nn, F: nn.MultiMarginLoss(weight=L.ones(2, 2)),
    "multilabel_margin_size": lambda L, nn, F: F.multilabel_margin_loss(L.ones(2, 3), L.tensor([[0, 1], [1, 2]])),
    "margin_ranking_dims": lambda L, nn, F: F.margin_ranking_loss(L.ones(3), L.ones(3), L.ones(3, 1)),
    "margin_ranking_shapes": lambda L, nn, F: F.margin_ranking_loss(L.ones(3), L.ones(3), L.ones(4)),
    "hinge_shapes": lambda L, nn, F: F.hinge_embedding_loss(L.ones(3), L.ones(4)),
    "hinge_reduction": lambda L, nn, F: F.hinge_embedding_loss(L.ones(3), L.ones(3), reduction="foo"),
    "cosine_embedding_target_2d": lambda L, nn, F: F.cosine_embedding_loss(L.ones(2, 3), L.ones(2, 3),
                                                                           L.ones(2, 1)),
    "cosine_embedding_1d_target": lambda L, nn, F: F.cosine_embedding_loss(L.ones(3), L.ones(3), L.ones(2)),
    "cosine_embedding_0d_target": lambda L, nn, F: F.cosine_embedding_loss(L.ones(2, 3), L.ones(2, 3),
                                                                           L.tensor(1.0)),
    "triplet_dims": lambda L, nn, F: F.triplet_margin_loss(L.ones(2, 3), L.ones(2, 3), L.ones(3)),
    "triplet_margin": lambda L, nn, F: F.triplet_margin_loss(L.ones(2, 3), L.ones(2, 3), L.ones(2, 3), margin=0),
    "TripletMarginLoss_margin": lambda L, nn, F: nn.TripletMarginLoss(margin=-1.0),
    "TripletMarginWithDistanceLoss_margin": lambda L, nn, F: nn.TripletMarginWithDistanceLoss(margin=0.0),
    "triplet_distance_reduction": lambda L, nn, F: F.triplet_margin_with_distance_loss(
        L.ones(2, 3), L.ones(2, 3), L.ones(2, 3), reduction="foo"),
    "poisson_reduction": lambda L, nn, F: F.poisson_nll_loss(L.ones(2), L.ones(2), reduction="foo"),
    "gaussian_negative_var": lambda L, nn, F: F.gaussian_nll_loss(L.ones(2, 3), L.ones(2, 3), -L.ones(2, 3)),
    "gaussian_negative_float": lambda L, nn, F: F.gaussian_nll_loss(L.ones(2, 3), L.ones(2, 3), -1.0),
    "gaussian_var_size": lambda L, nn, F: F.gaussian_nll_loss(L.ones(2, 3), L.ones(2, 3), L.ones(3, 3)),
    "gaussian_reduction": lambda L, nn, F: F.gaussian_nll_loss(L.ones(2, 3), L.ones(2, 3), L.ones(2, 3),
                                                               reduction="foo"),
    "bce_target_size": lambda L, nn, F: F.binary_cross_entropy(L.ones(2, 1) * 0.5, L.ones(2)),
    "bce_logits_target_size": lambda L, nn, F: F.binary_cross_entropy_with_logits(L.ones(2, 1), L.ones(2)),
    "cross_entropy_reduction": lambda L, nn, F: F.cross_entropy(L.ones(2, 3), L.tensor([0, 1]), reduction="x"),
    "embedding_padding_idx": lambda L, nn, F: F.embedding(L.tensor([0]), L.ones(3, 2), padding_idx=3),
    "embedding_float_indices": lambda L, nn, F: F.embedding(L.tensor([0.0]), L.ones(3, 2)),
    "embedding_index_range": lambda L, nn, F: F.embedding(L.tensor([5]), L.ones(3, 2)),
    "embedding_list": lambda L, nn, F: F.embedding([0, 1], L.ones(3, 2)),
    "one_hot_negative": lambda L, nn, F: F.one_hot(L.tensor([-1]), 3),
    "dropout_not_tensor": lambda L, nn, F: F.dropout("abc", 0.5),
    "ParameterList_call": lambda L, nn, F: nn.ParameterList()(),
    "ParameterList_index": lambda L, nn, F: nn.ParameterList([nn.Parameter(L.ones(1))])[3],
    "ParameterDict_call": lambda L, nn, F: nn.ParameterDict()(1),
    "ParameterDict_key": lambda L, nn, F: nn.ParameterDict()[1],
    "ParameterDict_missing": lambda L, nn, F: nn.ParameterDict()["a"],
    "clip_grad_nonfinite": lambda L, nn, F: nn.utils.clip_grad_norm_(
        [_with_grad(nn, L, [1.0, math.inf])], 1.0, error_if_nonfinite=True),
    "vector_to_parameters_short": lambda L, nn, F: nn.utils.vector_to_parameters(L.zeros(1), [L.zeros(2)]),
}

# messages that are torch's word for word (the rest check the type only: they name torch's internals)
SAME_MESSAGE = {"glu_odd", "glu_scalar", "softshrink_neg", "celu_alpha0", "hardtanh_bounds", "Hardtanh_bounds",
                "prelu_count", "prelu_1d", "prelu_wdim", "PReLU_mismatch", "rrelu_bounds", "softplus_int", "elu_int",
                "selu_int", "silu_int", "mish_int", "hardswish_int", "logsigmoid_int", "leaky_relu_int", "pad_odd",
                "pad_too_long", "pad_reflect_big", "pad_reflect_1d_input", "pad_reflect_4_on_2d",
                "pad_reflect_value", "pad_mode", "pad_circular_wrap", "pad_replicate_empty", "normalize_int",
                "normalize_dim", "cosine_similarity_int", "cosine_similarity_shapes", "cosine_similarity_dim",
                "bilinear_in2", "bilinear_dims", "bilinear_batch", "Bilinear_zero", "Unflatten_int",
                "Unflatten_float", "Unflatten_size", "kl_div_reduction", "kl_div_int", "huber_delta",
                "huber_weight", "HuberLoss_delta", "mse_weight", "l1_reduction", "soft_margin_reduction",
                "multilabel_soft_margin_reduction", "multi_margin_p", "multi_margin_weight_2d",
                "multi_margin_target_size", "multi_margin_target_range", "multi_margin_3d",
                "multi_margin_weight_size", "MultiMarginLoss_p", "MultiMarginLoss_weight", "hinge_reduction",
                "cosine_embedding_target_2d", "cosine_embedding_1d_target", "cosine_embedding_0d_target",
                "triplet_dims", "triplet_margin", "TripletMarginLoss_margin", "TripletMarginWithDistanceLoss_margin",
                "triplet_distance_reduction", "poisson_reduction", "gaussian_negative_var", "gaussian_negative_float",
                "gaussian_var_size", "gaussian_reduction", "cross_entropy_reduction", "embedding_padding_idx",
                "one_hot_negative", "embedding_float_indices", "softplus_none", "ParameterList_call",
                "ParameterList_index", "ParameterDict_call", "ParameterDict_key", "clip_grad_nonfinite"}


def _with_grad(nn, L, values):
    p = nn.Parameter(L.tensor(values))
    p.grad = L.tensor(values)
    return p


@pytest.mark.parametrize("name", list(ERRORS))
def test_bad_inputs_raise_torchs_exception(name):
    fn = ERRORS[name]
    with pytest.raises(Exception) as te:
        fn(torch, tnn, TF)
    with pytest.raises(Exception) as ee:
        fn(ember, enn, EF)
    assert ee.type is te.type or issubclass(ee.type, te.type), f"ember {ee.type.__name__}: {ee.value}; " \
                                                                f"torch {te.type.__name__}: {te.value}"
    if name in SAME_MESSAGE:
        assert str(ee.value) == str(te.value).replace("torch.", "ember.")


def test_buffer_assignment_registers_as_torch():
    out = []
    for lib in (ember, torch):
        nn = lib.nn

        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.a = nn.Buffer(lib.zeros(3))
                self.b = nn.Buffer(lib.ones(1), persistent=False)
                self.w = nn.Parameter(lib.ones(2))

        m = M()
        m.a = lib.arange(3.0)  # a registered buffer takes a plain tensor
        out.append((sorted(m.state_dict()), sorted(n for n, _ in m.named_buffers()), isinstance(m.a, nn.Buffer),
                    isinstance(lib.ones(1), nn.Buffer), m.a.tolist(), m.b.requires_grad,
                    nn.Buffer(lib.ones(1, requires_grad=True)).requires_grad))
    assert out[0] == out[1]


# --------------------------------------------------------------------------- layer_norm (one C++ op)

@pytest.mark.parametrize("shape,nshape", [((4, 5), (5,)), ((2, 3, 4), (3, 4)), ((3, 1, 7), (7,)), ((6,), (6,)),
                                          ((0, 5), (5,)), ((2, 300), (300,))])
@pytest.mark.parametrize("affine", ["both", "weight", "bias", "none"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_layer_norm_matches_torch(shape, nshape, affine, dtype):
    x = x_of(shape, 11, dtype=dtype) + 2.0  # (an offset: the mean matters)
    w = (1 + 0.3 * x_of(nshape, 12)).astype(dtype) if affine in ("both", "weight") else None
    b = x_of(nshape, 13, dtype=dtype) if affine in ("both", "bias") else None
    inputs = [x] + [t for t in (w, b) if t is not None]

    def fn(lib_F):
        def f(x, *wb):
            it = iter(wb)
            return lib_F.layer_norm(x, nshape, next(it) if w is not None else None, next(it) if b is not None else None,
                                    eps=1e-3)
        return f
    tol = dict(atol=1e-5, rtol=1e-4) if dtype == np.float32 else dict(atol=1e-12, rtol=1e-10)
    check_op(fn(EF), fn(TF), inputs, **tol)
    if dtype == np.float64 and 0 not in shape:
        gradcheck(fn(EF), inputs)


def test_layer_norm_views_names_and_errors():
    x = x_of((4, 6, 5), 3)
    # a transposed (non-contiguous) input and a strided weight
    check_op(lambda a, w: EF.layer_norm(a.transpose(0, 1), (4,), w[::2]),
             lambda a, w: TF.layer_norm(a.transpose(0, 1), (4,), w[::2]),
             [x_of((6, 5, 4), 4), x_of((8,), 5)], atol=1e-12, rtol=1e-10)
    y = EF.layer_norm(ember.tensor(x, requires_grad=True), (5,))
    assert y.grad_fn.name() == "NativeLayerNormBackward0"
    for bad_w, bad_b in (((2,), None), (None, (4,))):
        e1 = lambda s: ember.ones(s, dtype=ember.float64) if s else None  # noqa: E731
        t1 = lambda s: torch.ones(s, dtype=torch.float64) if s else None  # noqa: E731
        args = [ember.tensor(x), (5,), e1(bad_w), e1(bad_b)]
        targs = [torch.tensor(x), (5,), t1(bad_w), t1(bad_b)]
        with pytest.raises(RuntimeError) as te:
            TF.layer_norm(*targs)
        with pytest.raises(RuntimeError, match=str(te.value).split(",")[0]):
            EF.layer_norm(*args)
    with pytest.raises(NotImplementedError, match="LayerNormKernelImpl"):
        EF.layer_norm(ember.ones(2, 3, dtype=ember.int64), (3,))
    for xd, wd in (("float32", "float64"), ("float64", "float32")):
        with pytest.raises(RuntimeError) as te:
            TF.layer_norm(torch.ones(2, 3, dtype=getattr(torch, xd)), (3,), torch.ones(3, dtype=getattr(torch, wd)))
        with pytest.raises(RuntimeError, match=re.escape(str(te.value))):
            EF.layer_norm(ember.ones(2, 3, dtype=getattr(ember, xd)), (3,), ember.ones(3, dtype=getattr(ember, wd)))
