"""Higher-order gradients (create_graph=True): for each op, a float64 ember.autograd.gradgradcheck
(finite differences of the gradient function) and a comparison with torch of the first gradient and
of the second gradient of (g * v).sum() with respect to every differentiable input and to the
grad_output itself (that last one is the derivative of the backward formula in its incoming
gradient, non-zero even for linear ops); then the semantics of create_graph / retain_graph /
backward(inputs=...) and the usual double-backward workloads (gradient penalty, PINN, MAML, custom
Functions, third derivatives), each against torch on the same numpy-made values."""
import warnings

import numpy as np
import pytest

import ember
from helpers import dtype_name, to_np

torch = pytest.importorskip("torch")

RTOL64, ATOL64 = 1e-10, 1e-12
RTOL32, ATOL32 = 1e-5, 1e-6


# --- inputs ------------------------------------------------------------------------------------

class Const:
    """A non-differentiable input (targets, indices, masks, class weights): passed as a tensor
    (or as a plain Python value when `raw`) and never differentiated."""

    def __init__(self, value, raw=False):
        self.value = value
        self.raw = raw


class NC:
    """A differentiable input made as a non-contiguous leaf: the transpose of a contiguous
    tensor holding value.T, detached so it is a leaf."""

    def __init__(self, value):
        self.value = value


def normal(*shape, seed=0, scale=1.0):
    return scale * np.random.default_rng(seed).standard_normal(shape)


def uniform(*shape, lo, hi, seed=0):
    return np.random.default_rng(seed).uniform(lo, hi, shape)


def away_from(a, points, margin=0.05):
    """a with every entry moved at least `margin` away from each of `points` (kinks of abs, relu,
    clamp, ...), so finite differences do not straddle one."""
    a = np.array(a, copy=True)
    for p in points:
        close = np.abs(a - p) < margin
        a[close] = p + np.where(a[close] >= p, margin, -margin)
    return a


def make_inputs(L, specs, dtype):
    """(all call arguments, the differentiable ones) for library L from the specs: numpy float
    arrays -> leaves of `dtype` that require grad; NC -> non-contiguous such leaves; Const ->
    tensors as they are (or raw Python values)."""
    ldtype = getattr(L, dtype)
    args, diff = [], []
    for s in specs:
        if isinstance(s, Const):
            args.append(s.value if s.raw else L.tensor(np.array(s.value, copy=True)))
        elif isinstance(s, NC):
            t = L.tensor(np.ascontiguousarray(np.asarray(s.value).T)).to(ldtype).t().detach()
            t.requires_grad_(True)
            args.append(t)
            diff.append(t)
        else:
            t = L.tensor(np.array(s, copy=True)).to(ldtype)
            t.requires_grad_(True)
            args.append(t)
            diff.append(t)
    return args, diff


def float_outputs(out):
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    return [o for o in outs if dtype_name(o.dtype) in ("float32", "float64") and o.requires_grad]


def second_order(L, fn, specs, dtype="float64", seed=7):
    """First gradients g_i of sum_k <out_k, go_k> (create_graph=True) and the gradients of
    sum_i <g_i, v_i> with respect to the differentiable inputs and the go_k, as numpy arrays
    (None where autograd.grad gives None). go and v come from a numpy RNG, by shape, so both
    libraries get the same values."""
    args, diff = make_inputs(L, specs, dtype)
    outs = float_outputs(fn(L, *args))
    g = np.random.default_rng(seed)
    ldtype = getattr(L, dtype)
    gos = [L.tensor(g.standard_normal(tuple(o.shape))).to(ldtype).requires_grad_(True) for o in outs]
    firsts = L.autograd.grad(outs, diff, gos, create_graph=True)
    vs = [L.tensor(g.standard_normal(tuple(d.shape))).to(ldtype) for d in diff]
    s = sum((gi * v).sum() for gi, v in zip(firsts, vs))
    seconds = L.autograd.grad(s, diff + gos, allow_unused=True)
    return ([to_np(f) for f in firsts], [None if h is None else to_np(h) for h in seconds],
            [tuple(o.shape) for o in outs])


def compare_with_torch(fn, specs, dtype="float64", rtol=None, atol=None):
    rtol = (RTOL64 if dtype == "float64" else RTOL32) if rtol is None else rtol
    atol = (ATOL64 if dtype == "float64" else ATOL32) if atol is None else atol
    t_first, t_second, t_shapes = second_order(torch, fn, specs, dtype)
    e_first, e_second, e_shapes = second_order(ember, fn, specs, dtype)
    assert e_shapes == t_shapes, f"output shapes {e_shapes} != torch {t_shapes}"
    for i, (e, t) in enumerate(zip(e_first, t_first)):
        assert e.dtype == t.dtype, f"first gradient {i}: dtype {e.dtype} != torch {t.dtype}"
        np.testing.assert_allclose(e, t, rtol=rtol, atol=atol, err_msg=f"first gradient of input {i}")
    n_in = len(e_first)
    for i, (e, t) in enumerate(zip(e_second, t_second)):
        what = f"input {i}" if i < n_in else f"grad_output {i - n_in}"
        if t is None and e is None:
            continue
        # An unused input: torch gives None; ember may give None or zeros (the numbers are what count).
        ref = np.zeros_like(e) if t is None else t
        got = np.zeros_like(t) if e is None else e
        assert got.shape == ref.shape, f"second gradient wrt {what}: shape {got.shape} != {ref.shape}"
        np.testing.assert_allclose(got, ref, rtol=rtol, atol=atol, err_msg=f"second gradient wrt {what}")


def run_gradgradcheck(fn, specs, **kw):
    args, _ = make_inputs(ember, specs, "float64")
    assert ember.autograd.gradgradcheck(lambda *a: fn(ember, *a), tuple(args), **kw) is True


# --- the op table ------------------------------------------------------------------------------

def sq(y):
    return y * y


def F(L):
    return L.nn.functional


X23 = normal(2, 3, seed=1)
X34 = normal(3, 4, seed=2)
POS23 = uniform(2, 3, lo=0.5, hi=2.0, seed=3)
POS34 = uniform(3, 4, lo=0.5, hi=2.0, seed=4)
TARGET5 = np.array([2, 0, 3, 1, 2], dtype=np.int64)
TARGET_IGN = np.array([2, -100, 3, 1, 2], dtype=np.int64)
CLASS_W = np.array([0.5, 1.0, 2.0, 1.5])

CASES = {
    # arithmetic (the second operand broadcast / the first transposed in some)
    "add_alpha": (lambda L, x, y: sq(L.add(x, y, alpha=2.5)), [X23, normal(3, seed=5)]),
    "sub_alpha": (lambda L, x, y: sq(L.sub(x.t(), y, alpha=0.5)), [normal(3, 2, seed=6), normal(2, 1, seed=7)]),
    "mul": (lambda L, x, y: x * y * 3.0, [X23, normal(2, 1, seed=8)]),
    "mul_self": (lambda L, x: x * x * x, [X23]),
    "div": (lambda L, x, y: x / y, [X23, POS23[:, :1] + 0.5]),
    "div_rscalar": (lambda L, x: 2.0 / x, [POS23]),
    "pow_scalar_int": (lambda L, x: x ** 3, [X23]),
    "pow_scalar_frac": (lambda L, x: x ** 2.5, [POS23]),
    "pow_scalar_base": (lambda L, x: 2.0 ** x, [X23]),
    "pow_tensor_tensor": (lambda L, x, y: x ** y, [POS23, normal(3, seed=9)]),
    "neg": (lambda L, x: sq(-x), [X23]),
    "abs": (lambda L, x: x.abs() * x, [away_from(X23, [0.0])]),
    # unary math
    "exp": (lambda L, x: x.exp(), [X23]),
    "log": (lambda L, x: x.log(), [POS23]),
    "sqrt": (lambda L, x: x.sqrt(), [POS23]),
    "rsqrt": (lambda L, x: x.rsqrt(), [POS23]),
    "sin": (lambda L, x: x.sin(), [X23]),
    "cos": (lambda L, x: x.cos(), [X23]),
    "tanh": (lambda L, x: x.tanh(), [X23]),
    "sigmoid": (lambda L, x: x.sigmoid(), [X23]),
    "erf": (lambda L, x: L.erf(x), [X23]),
    "log1p": (lambda L, x: x.log1p(), [POS23 - 0.4]),
    "expm1": (lambda L, x: x.expm1(), [X23]),
    "reciprocal": (lambda L, x: x.reciprocal(), [POS23]),
    "atan": (lambda L, x: L.atan(x), [X23]),
    "relu": (lambda L, x: x.relu() * x, [away_from(X23, [0.0])]),
    "clamp": (lambda L, x: sq(x.clamp(min=-0.5, max=0.5)), [away_from(X34, [-0.5, 0.5])]),
    "clamp_min": (lambda L, x: sq(L.clamp(x, min=0.2)), [away_from(X34, [0.2])]),
    "maximum": (lambda L, x, y: sq(L.maximum(x, y)), [X23, normal(2, 3, seed=10)]),
    "minimum": (lambda L, x, y: sq(L.minimum(x, y.t())), [X23, normal(3, 2, seed=11)]),
    "where": (lambda L, c, x, y: sq(L.where(c, x, y)),
              [Const(np.array([[True, False, True], [False, False, True]])), X23, normal(3, seed=12)]),
    # reductions
    "sum_all": (lambda L, x: sq(x.sum()), [X23]),
    "sum_dim": (lambda L, x: sq(x.sum(1)), [X34]),
    "sum_keepdim": (lambda L, x: sq(x.sum(0, keepdim=True)) * x, [X34]),
    "mean_all": (lambda L, x: sq(x.mean()), [X23]),
    "mean_dim": (lambda L, x: sq(x.mean(dim=0)), [X34]),
    "max_all": (lambda L, x: sq(x.max()), [X34]),
    "max_dim": (lambda L, x: sq(x.max(1)[0]), [X34]),
    "softmax": (lambda L, x: F(L).softmax(x, dim=1), [X34]),
    "log_softmax": (lambda L, x: F(L).log_softmax(x, dim=-1), [X34]),
    "softmax_dim0_transposed": (lambda L, x: L.softmax(x.t(), 0), [X34]),
    "logsumexp": (lambda L, x: L.logsumexp(x, dim=1), [X34]),
    "var_dim": (lambda L, x: x.var(1), [X34]),
    "var_keepdim": (lambda L, x: x.var(0, keepdim=True), [X34]),
    "std_all": (lambda L, x: x.std(), [X34]),
    "std_dim": (lambda L, x: x.std(dim=1), [X34]),
    "vector_norm": (lambda L, x: L.linalg.vector_norm(x), [X34]),
    "vector_norm_dim": (lambda L, x: L.linalg.vector_norm(x, 2, dim=1), [X34]),
    "norm_method": (lambda L, x: x.norm(), [X23]),
    "norm_dim": (lambda L, x: x.norm(2, dim=0), [X34]),
    "cumsum": (lambda L, x: sq(L.cumsum(x, dim=1)), [X34]),
    # products
    "matmul_2d": (lambda L, a, b: a @ b, [X23, X34]),
    "matmul_2d_noncontig_leaf": (lambda L, a, b: L.matmul(a, b), [NC(normal(2, 3, seed=13)), X34]),
    "matmul_3d": (lambda L, a, b: L.matmul(a, b), [normal(2, 2, 3, seed=14), normal(2, 3, 2, seed=15)]),
    "matmul_3d_broadcast": (lambda L, a, b: a @ b, [normal(2, 2, 3, seed=16), normal(3, 2, seed=17)]),
    "matmul_square": (lambda L, a: a @ a, [normal(3, 3, seed=18)]),
    "mm": (lambda L, a, b: L.mm(a, b.t()), [X23, normal(4, 3, seed=19)]),
    "bmm": (lambda L, a, b: L.bmm(a, b), [normal(2, 2, 3, seed=20), normal(2, 3, 2, seed=21)]),
    # views and shape ops
    "t": (lambda L, x: sq(x.t()), [X23]),
    "transpose": (lambda L, x: sq(x.transpose(0, 2)) * x.transpose(0, 2).sin(), [normal(2, 3, 2, seed=22)]),
    "permute": (lambda L, x: sq(x.permute(2, 0, 1)), [normal(2, 3, 2, seed=23)]),
    "reshape": (lambda L, x: sq(x.t().reshape(6)) @ L.tensor(np.arange(6.0)).to(x.dtype), [X23]),
    "view": (lambda L, x: sq(x.view(3, 2)), [X23]),
    "expand": (lambda L, x: sq(x.expand(2, 3, 4)), [normal(3, 1, seed=24)]),
    "unsqueeze": (lambda L, x: sq(x.unsqueeze(1)) * x.unsqueeze(0), [X23]),
    "squeeze": (lambda L, x: sq(x.squeeze(1)), [normal(3, 1, 2, seed=25)]),
    "slice_step": (lambda L, x: sq(x[1:, ::2]), [X34]),
    "index_int": (lambda L, x: sq(x[0]) * x[2], [X34]),
    "select": (lambda L, x: sq(x.select(1, 2)), [X34]),
    "cat": (lambda L, x, y: sq(L.cat([x, y.t()], dim=1)), [X23, normal(2, 2, seed=26)]),
    "stack": (lambda L, x, y: sq(L.stack([x, y * x], dim=1)), [X23, normal(2, 3, seed=27)]),
    "unbind": (lambda L, x: tuple(sq(t) for t in x.unbind(1)), [X23]),
    "clone": (lambda L, x: sq(x.clone()), [X23]),
    "gather": (lambda L, x, i: sq(L.gather(x, 1, i)),
               [X34, Const(np.array([[0, 3], [1, 1], [2, 0]], dtype=np.int64))]),
    "index_select": (lambda L, x, i: sq(L.index_select(x, 0, i)), [X34, Const(np.array([2, 0, 2], dtype=np.int64))]),
    # nn.functional
    "linear_bias_2d": (lambda L, x, w, b: F(L).linear(x, w, b), [X34, normal(2, 4, seed=28), normal(2, seed=29)]),
    "linear_nobias_2d": (lambda L, x, w: F(L).linear(x, w), [X34, normal(2, 4, seed=30)]),
    "linear_bias_3d": (lambda L, x, w, b: F(L).linear(x, w, b),
                       [normal(2, 2, 4, seed=31), normal(3, 4, seed=32), normal(3, seed=33)]),
    "linear_nobias_3d": (lambda L, x, w: F(L).linear(x, w), [normal(2, 2, 4, seed=34), normal(3, 4, seed=35)]),
    "mlp_relu": (lambda L, x, w1, b1, w2, b2: F(L).linear(F(L).relu(F(L).linear(x, w1, b1)), w2, b2),
                 [normal(3, 2, seed=36), normal(4, 2, seed=37), normal(4, seed=38), normal(2, 4, seed=39),
                  normal(2, seed=40)]),
    "mlp_tanh": (lambda L, x, w1, b1, w2, b2: F(L).linear(L.tanh(F(L).linear(x, w1, b1)), w2, b2),
                 [normal(3, 2, seed=41), normal(4, 2, seed=42), normal(4, seed=43), normal(2, 4, seed=44),
                  normal(2, seed=45)]),
    "mse_loss_mean": (lambda L, x, y: F(L).mse_loss(x, y), [X23, normal(2, 3, seed=46)]),
    "mse_loss_sum": (lambda L, x, y: F(L).mse_loss(x, y, reduction="sum"), [X23, normal(2, 3, seed=47)]),
    "cross_entropy": (lambda L, x, t: F(L).cross_entropy(x, t), [normal(5, 4, seed=48), Const(TARGET5)]),
    "cross_entropy_weight": (lambda L, x, t, w: F(L).cross_entropy(x, t, weight=w),
                             [normal(5, 4, seed=49), Const(TARGET5), Const(CLASS_W)]),
    "cross_entropy_ignore_index": (lambda L, x, t: F(L).cross_entropy(x, t, ignore_index=-100),
                                   [normal(5, 4, seed=50), Const(TARGET_IGN)]),
    "cross_entropy_label_smoothing": (lambda L, x, t: F(L).cross_entropy(x, t, label_smoothing=0.1),
                                      [normal(5, 4, seed=51), Const(TARGET5)]),
    "cross_entropy_sum_weight_smoothing": (
        lambda L, x, t, w: F(L).cross_entropy(x, t, weight=w, label_smoothing=0.2, reduction="sum"),
        [normal(5, 4, seed=52), Const(TARGET5), Const(CLASS_W)]),
    "nll_loss_log_softmax": (lambda L, x, t: F(L).nll_loss(F(L).log_softmax(x, 1), t),
                             [normal(5, 4, seed=53), Const(TARGET5)]),
    "nll_loss_weight_squared": (lambda L, x, t, w: sq(F(L).nll_loss(x, t, weight=w)),
                                [normal(5, 4, seed=54), Const(TARGET5), Const(CLASS_W)]),
    "bce_with_logits": (lambda L, x, y: F(L).binary_cross_entropy_with_logits(x, y),
                        [X23, Const(uniform(2, 3, lo=0.0, hi=1.0, seed=55))]),
    "gelu": (lambda L, x: F(L).gelu(x), [X23]),
    "gelu_tanh": (lambda L, x: F(L).gelu(x, approximate="tanh"), [X23]),
    "silu": (lambda L, x: F(L).silu(x), [X23]),
    "softplus": (lambda L, x: F(L).softplus(x), [X23]),
    "softplus_beta": (lambda L, x: F(L).softplus(x, beta=2.0, threshold=1.5), [away_from(X23, [0.75])]),
    "leaky_relu": (lambda L, x: F(L).leaky_relu(x, 0.1) * x, [away_from(X23, [0.0])]),
    "elu": (lambda L, x: F(L).elu(x, alpha=1.3), [away_from(X23, [0.0])]),
    "layer_norm": (lambda L, x, w, b: F(L).layer_norm(x, (4,), w, b),
                   [X34, normal(4, seed=56), normal(4, seed=57)]),
    "layer_norm_noaffine": (lambda L, x: F(L).layer_norm(x, (3, 4)), [normal(2, 3, 4, seed=58)]),
    "embedding": (lambda L, i, w: sq(F(L).embedding(i, w)),
                  [Const(np.array([[1, 0], [2, 1]], dtype=np.int64)), normal(3, 2, seed=59)]),
    "batch_norm_train": (lambda L, x, w, b: F(L).batch_norm(x, None, None, w, b, training=True),
                         [normal(4, 3, seed=106), normal(3, seed=107), normal(3, seed=108)]),
    # casts
    "to_float64_noop": (lambda L, x: sq(x.to(L.float64)) * x, [X23]),
}

# gradgradcheck settings per case, where the defaults (eps=1e-6, atol=1e-5, rtol=1e-3) cannot work.
GGC_KW = {}

# Cases compared with torch in float32 too (RTOL32/ATOL32: float32 kernels may round differently).
FLOAT32_CASES = ["tanh", "exp", "div", "softmax", "log_softmax", "matmul_3d", "linear_bias_3d", "gelu", "layer_norm",
                 "mse_loss_mean", "cross_entropy_label_smoothing", "mlp_tanh", "var_dim"]


@pytest.mark.parametrize("name", list(CASES))
def test_gradgradcheck(name):
    fn, specs = CASES[name]
    run_gradgradcheck(fn, specs, **GGC_KW.get(name, {}))


@pytest.mark.parametrize("name", list(CASES))
def test_second_order_matches_torch_float64(name):
    fn, specs = CASES[name]
    compare_with_torch(fn, specs, "float64")


@pytest.mark.parametrize("name", FLOAT32_CASES)
def test_second_order_matches_torch_float32(name):
    fn, specs = CASES[name]
    compare_with_torch(fn, specs, "float32")


# Casts between dtypes: the float32 round trip loses precision, so gradgradcheck uses a larger step and
# tolerances (the function is quadratic in x, so central differences carry only the rounding error,
# ~1e-7 relative / eps), and the torch comparison float32 tolerances.
def _cast_round_trip(L, x):
    y = x.to(L.float32)
    return (y * y * 3.0).to(L.float64) * x


def _cast_up(L, x):
    y = x.to(L.float64)
    return (y.sin() * y).to(L.float32)


def test_gradgradcheck_cast_float32_round_trip():
    run_gradgradcheck(_cast_round_trip, [X23], eps=1e-3, atol=1e-3, rtol=1e-2)


def test_cast_float32_round_trip_matches_torch():
    compare_with_torch(_cast_round_trip, [X23], "float64", rtol=1e-6, atol=1e-7)


def test_cast_float32_to_float64_matches_torch():
    compare_with_torch(_cast_up, [X23], "float32")


# --- nn.Sequential MLPs ------------------------------------------------------------------------

def _twin_mlps(act, seed=0):
    g = np.random.default_rng(seed)
    mods = []
    for L in (ember, torch):
        m = L.nn.Sequential(L.nn.Linear(3, 5), getattr(L.nn, act)(), L.nn.Linear(5, 2)).double()
        mods.append(m)
    with torch.no_grad(), ember.no_grad():
        for (name, tp), (ename, ep) in zip(mods[1].named_parameters(), mods[0].named_parameters()):
            assert name == ename
            arr = 0.7 * g.standard_normal(tuple(tp.shape))
            tp.copy_(torch.tensor(arr))
            ep.copy_(ember.tensor(arr))
    return mods


@pytest.mark.parametrize("act", ["ReLU", "Tanh"])
def test_sequential_mlp_second_order_matches_torch(act):
    x_np = normal(4, 3, seed=60)
    go_np = normal(4, 2, seed=61)
    v_np = normal(4, 3, seed=62)
    res = {}
    for L, m in zip((ember, torch), _twin_mlps(act)):
        x = L.tensor(x_np.copy(), requires_grad=True)
        params = list(m.parameters())
        gx, = L.autograd.grad(m(x), x, L.tensor(go_np.copy()), create_graph=True)
        s = (gx * L.tensor(v_np.copy())).sum() + (gx * gx).sum()
        res[L.__name__] = [to_np(gx)] + [_np_or_none(h) for h in L.autograd.grad(s, [x] + params, allow_unused=True)]
    assert_results_match(res["ember"], res["torch"], none_as_zero=True)


@pytest.mark.parametrize("act", ["ReLU", "Tanh"])
def test_sequential_mlp_gradgradcheck(act):
    m, _ = _twin_mlps(act)
    x = ember.tensor(normal(4, 3, seed=63), requires_grad=True)
    assert ember.autograd.gradgradcheck(lambda a: m(a), (x,))


# --- semantics ---------------------------------------------------------------------------------

def _both(fn):
    """fn(L) run for ember and torch (warnings silenced: torch warns about backward(create_graph=True))."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(ember), fn(torch)


def _leaf(L, arr):
    return L.tensor(np.array(arr, dtype=np.float64), requires_grad=True)


def _np_or_none(t):
    return None if t is None else to_np(t)


def assert_results_match(e, t, rtol=RTOL64, atol=ATOL64, none_as_zero=False):
    """Two lists of numpy arrays / None equal. For .grad attributes (none_as_zero=False) None must be
    exactly where torch has None (an optimizer skips a None grad but applies weight decay / momentum to
    zeros); for autograd.grad results (none_as_zero=True) a None and a zero tensor are the same answer
    (whether torch's graph reaches an input with a zero derivative is a detail of its formulas)."""
    assert len(e) == len(t), f"{len(e)} results, torch {len(t)}"
    for i, (a, b) in enumerate(zip(e, t)):
        if none_as_zero and (a is None) != (b is None):
            a = np.zeros_like(b) if a is None else a
            b = np.zeros_like(a) if b is None else b
        assert (a is None) == (b is None), f"result {i}: ember {'None' if a is None else 'a tensor'}, " \
                                           f"torch {'None' if b is None else 'a tensor'}"
        if a is not None:
            np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=f"result {i}")


def test_create_graph_grad_requires_grad_and_retains_graph():
    def run(L):
        x = _leaf(L, X23)
        y = (x ** 3).sum()
        g, = L.autograd.grad(y, x, create_graph=True)
        assert g.requires_grad and g.grad_fn is not None
        g2, = L.autograd.grad(y, x, create_graph=True)  # retain_graph defaulted to True
        g3, = L.autograd.grad(y, x)  # retain_graph=create_graph=False: frees the graph
        assert not g3.requires_grad and g3.grad_fn is None
        with pytest.raises(RuntimeError):
            L.autograd.grad(y, x)
        h, = L.autograd.grad(g.sum(), x)
        return [to_np(t) for t in (g, g2, g3, h)]
    e, t = _both(run)
    for a, b in zip(e, t):
        np.testing.assert_allclose(a, b, rtol=RTOL64, atol=ATOL64)


def test_grad_without_create_graph_is_constant():
    def run(L):
        x = _leaf(L, X23)
        g, = L.autograd.grad((x ** 3).sum(), x)
        assert not g.requires_grad and g.grad_fn is None
        return to_np(g)
    e, t = _both(run)
    np.testing.assert_allclose(e, t, rtol=RTOL64, atol=ATOL64)


def test_backward_create_graph_then_backward_of_grad():
    def run(L):
        x = _leaf(L, X23)
        (x ** 3).sum().backward(create_graph=True)
        g1 = x.grad
        assert g1.requires_grad and g1.grad_fn is not None
        first = to_np(g1)
        x.grad.sum().backward()  # accumulates d(sum 3x^2)/dx = 6x into x.grad
        res = first, to_np(x.grad)
        x.grad = None  # breaks the parameter <-> gradient cycle backward(create_graph=True) makes (torch's advice)
        return res
    (e1, e2), (t1, t2) = _both(run)
    np.testing.assert_allclose(e1, t1, rtol=RTOL64, atol=ATOL64)
    np.testing.assert_allclose(e2, t2, rtol=RTOL64, atol=ATOL64)
    np.testing.assert_allclose(e2, 3 * X23 ** 2 + 6 * X23, rtol=RTOL64, atol=ATOL64)


def test_backward_create_graph_twice_accumulates_out_of_place():
    def run(L):
        x = _leaf(L, X23)
        (x ** 3).sum().backward(create_graph=True)
        g1 = x.grad
        before = to_np(g1)
        (x.grad * x).sum().backward(create_graph=True)  # second pass also builds a graph
        assert x.grad.grad_fn is not None
        out_of_place = x.grad is not g1
        # x.grad now depends on x twice over; differentiate it once more
        h, = L.autograd.grad(x.grad.sum(), x)
        res = before, to_np(g1), to_np(x.grad), out_of_place, to_np(h)
        x.grad = None  # (the cycle, as above)
        return res
    e, t = _both(run)
    assert e[3] == t[3], f"out-of-place accumulation: ember {e[3]}, torch {t[3]}"
    for i in (0, 1, 2, 4):
        np.testing.assert_allclose(e[i], t[i], rtol=RTOL64, atol=ATOL64, err_msg=f"result {i}")


def test_allow_unused_grad_outputs_materialize():
    def run(L):
        x, y, z = _leaf(L, X23), _leaf(L, normal(2, 3, seed=70)), _leaf(L, normal(3, seed=71))
        out = x.sin() * y  # non-scalar: needs grad_outputs
        go = L.tensor(normal(2, 3, seed=72))
        gx, gy, gz = L.autograd.grad(out, [x, y, z], go, create_graph=True, allow_unused=True)
        assert gz is None
        with pytest.raises(RuntimeError):
            L.autograd.grad(out, [x, z], go, retain_graph=True)  # allow_unused defaults to False
        # (gy = go * sin(x) reaches back into out's graph: retain it for the call below, as torch needs)
        hx, hz = L.autograd.grad((gx * gy).sum(), [x, z], allow_unused=True, retain_graph=True)
        assert hz is None
        mx, my, mz = L.autograd.grad(out, [x, y, z], go, create_graph=True, materialize_grads=True)
        assert mz is not None and tuple(mz.shape) == (3,) and not np.any(to_np(mz))
        # second order through a materialized grad: zeros do not break the graph of the others
        hx2, hy2 = L.autograd.grad((mx * my).sum() + mz.sum() * 0, [x, y], allow_unused=True)
        return [to_np(t) for t in (gx, gy, hx, mx, my, hx2, hy2)]
    e, t = _both(run)
    for i, (a, b) in enumerate(zip(e, t)):
        np.testing.assert_allclose(a, b, rtol=RTOL64, atol=ATOL64, err_msg=f"result {i}")


def test_grad_outputs_requiring_grad_are_differentiated():
    # The gradient is linear in grad_outputs: d<g, v>/d go = J v (the "double-backward trick" for a JVP).
    def run(L):
        x = _leaf(L, X34)
        go = _leaf(L, normal(3, 2, seed=73))
        w = L.tensor(normal(4, 2, seed=74))
        gx, = L.autograd.grad((x @ w).tanh(), x, go, create_graph=True)
        jv, = L.autograd.grad((gx * L.tensor(normal(3, 4, seed=75))).sum(), go)
        return to_np(gx), to_np(jv)
    e, t = _both(run)
    for a, b in zip(e, t):
        np.testing.assert_allclose(a, b, rtol=RTOL64, atol=ATOL64)


def test_backward_inputs_leaf():
    def run(L):
        x, w = _leaf(L, X23), _leaf(L, normal(2, 3, seed=76))
        ((x * w).sin().sum()).backward(inputs=[w])
        assert x.grad is None
        (x * w).cos().sum().backward(inputs=w)  # a single Tensor
        assert x.grad is None
        return [_np_or_none(x.grad), _np_or_none(w.grad)]
    assert_results_match(*_both(run))


def test_backward_inputs_nonleaf():
    def run(L):
        x, v = _leaf(L, X23), _leaf(L, normal(3, seed=77))
        h = x * 2.0  # non-leaf: its .grad is written as if it retained it
        ((h * v).exp().sum()).backward(inputs=[h])
        return [_np_or_none(x.grad), _np_or_none(v.grad), _np_or_none(h.grad)]
    assert_results_match(*_both(run))


def test_backward_inputs_with_create_graph():
    def run(L):
        x, w = _leaf(L, X23), _leaf(L, normal(2, 3, seed=78))
        (x ** 3 * w).sum().backward(inputs=[x], create_graph=True)
        assert w.grad is None and x.grad.grad_fn is not None
        first = to_np(x.grad)
        x.grad.sum().backward(inputs=[w])  # d(sum 3 x^2 w)/dw, into w only
        res = [first, _np_or_none(x.grad), _np_or_none(w.grad)]
        x.grad = w.grad = None  # (the cycle, as above)
        return res
    assert_results_match(*_both(run))


@pytest.mark.parametrize("L", [ember, torch], ids=["ember", "torch"])
def test_backward_inputs_empty_raises(L):
    x = _leaf(L, X23)
    with pytest.raises(RuntimeError):
        (x * x).sum().backward(inputs=[])


def test_gradient_penalty_wgan_gp():
    x_np = normal(6, 3, seed=80)

    def run(L):
        D = L.nn.Sequential(L.nn.Linear(3, 8), L.nn.Tanh(), L.nn.Linear(8, 1)).double()
        g = np.random.default_rng(81)
        with L.no_grad():
            for p in D.parameters():
                p.copy_(L.tensor(0.5 * g.standard_normal(tuple(p.shape))))
        x = L.tensor(x_np.copy(), requires_grad=True)
        gx, = L.autograd.grad(D(x).sum(), x, create_graph=True)
        penalty = ((gx.norm(2, dim=1) - 1) ** 2).mean()
        penalty.backward()
        # (the last bias does not reach the penalty: its .grad stays None in torch)
        return [to_np(penalty)] + [_np_or_none(p.grad) for p in D.parameters()] + [_np_or_none(x.grad)]
    assert_results_match(*_both(run))


def test_pinn_second_derivative():
    x_np = np.linspace(-1.0, 1.0, 7).reshape(7, 1)

    def run(L):
        net = L.nn.Sequential(L.nn.Linear(1, 6), L.nn.Tanh(), L.nn.Linear(6, 6), L.nn.Tanh(),
                              L.nn.Linear(6, 1)).double()
        g = np.random.default_rng(82)
        with L.no_grad():
            for p in net.parameters():
                p.copy_(L.tensor(0.8 * g.standard_normal(tuple(p.shape))))
        x = L.tensor(x_np.copy(), requires_grad=True)
        u = net(x)
        u_x, = L.autograd.grad(u.sum(), x, create_graph=True)
        u_xx, = L.autograd.grad(u_x.sum(), x, create_graph=True)
        loss = (u_xx + u).pow(2).mean()
        loss.backward()
        return [to_np(loss), to_np(u_x), to_np(u_xx)] + [_np_or_none(p.grad) for p in net.parameters()]
    assert_results_match(*_both(run))


@pytest.mark.parametrize("loss_kind", ["cross_entropy", "mse"])
def test_maml_inner_step(loss_kind):
    xs, xq = normal(6, 4, seed=83), normal(5, 4, seed=84)
    w_np, b_np = 0.5 * normal(3, 4, seed=85), 0.1 * normal(3, seed=86)
    ys, yq = np.array([0, 2, 1, 1, 0, 2]), np.array([2, 1, 0, 0, 1])
    ys_reg, yq_reg = normal(6, 3, seed=87), normal(5, 3, seed=88)

    def run(L):
        F_ = L.nn.functional
        w, b = _leaf(L, w_np), _leaf(L, b_np)

        def loss(w_, b_, x, y, y_reg):
            out = F_.linear(L.tensor(x), w_, b_)
            if loss_kind == "cross_entropy":
                return F_.cross_entropy(out, L.tensor(y))
            return F_.mse_loss(out.tanh(), L.tensor(y_reg))
        lr = 0.4
        fast_w, fast_b = w, b
        for _ in range(2):  # two inner steps: the outer gradient goes through both
            gw, gb = L.autograd.grad(loss(fast_w, fast_b, xs, ys, ys_reg), [fast_w, fast_b], create_graph=True)
            fast_w, fast_b = fast_w - lr * gw, fast_b - lr * gb
        outer = loss(fast_w, fast_b, xq, yq, yq_reg)
        outer.backward()
        return to_np(outer), to_np(w.grad), to_np(b.grad)
    e, t = _both(run)
    for i, (a, b) in enumerate(zip(e, t)):
        np.testing.assert_allclose(a, b, rtol=RTOL64, atol=ATOL64, err_msg=f"result {i}")


def _custom_functions(L):
    class Cube(L.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        def backward(ctx, g):
            x, = ctx.saved_tensors
            return 3 * x * x * g

    class Exp(L.autograd.Function):  # saves its output: the saved output must keep its graph
        @staticmethod
        def forward(ctx, x):
            y = x.exp()
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, g):
            y, = ctx.saved_tensors
            return g * y

    class MulAdd(L.autograd.Function):  # two inputs, a non-tensor argument
        @staticmethod
        def forward(ctx, a, b, k):
            ctx.save_for_backward(a, b)
            ctx.k = k
            return a * b + k * a

        @staticmethod
        def backward(ctx, g):
            a, b = ctx.saved_tensors
            return g * (b + ctx.k), g * a, None
    return Cube, Exp, MulAdd


@pytest.mark.parametrize("which", ["Cube", "Exp", "MulAdd"])
def test_custom_function_double_backward_matches_torch(which):
    def fn(L, *xs):
        f = dict(zip(["Cube", "Exp", "MulAdd"], _custom_functions(L)))[which]
        return f.apply(*xs, 1.5) if which == "MulAdd" else f.apply(*xs)
    specs = [X23, normal(2, 3, seed=90)] if which == "MulAdd" else [X23]
    compare_with_torch(fn, specs)


@pytest.mark.parametrize("which", ["Cube", "Exp", "MulAdd"])
def test_custom_function_gradgradcheck(which):
    Cube, Exp, MulAdd = _custom_functions(ember)
    if which == "MulAdd":
        run_gradgradcheck(lambda L, a, b: MulAdd.apply(a, b, 1.5), [X23, normal(2, 3, seed=90)])
    else:
        f = Cube if which == "Cube" else Exp
        run_gradgradcheck(lambda L, a: f.apply(a), [X23])


# convolutions and pools (double backward through their own primitives) and the fused attention
# (recomputed from differentiable ops): second derivatives as torch's
SPATIAL = {
    "scaled_dot_product_attention": (lambda L, q, k, v: F(L).scaled_dot_product_attention(q, k, v), sq,
                                     [normal(2, 3, 4, seed=103), normal(2, 5, 4, seed=104), normal(2, 5, 3, seed=105)]),
    "sdpa_causal_scale": (lambda L, q, k, v: F(L).scaled_dot_product_attention(q, k, v, is_causal=True, scale=0.6),
                          sq, [normal(2, 4, 4, seed=111), normal(2, 4, 4, seed=112), normal(2, 4, 3, seed=113)]),
    "sdpa_bool_mask": (lambda L, q, k, v: F(L).scaled_dot_product_attention(
        q, k, v, attn_mask=L.tensor(normal(2, 3, 5, seed=114) > -0.8)), sq,
        [normal(2, 3, 4, seed=115), normal(2, 5, 4, seed=116), normal(2, 5, 3, seed=117)]),
    "conv2d": (lambda L, x, w, b: F(L).conv2d(x, w, b, padding=1), sq,
               [normal(1, 2, 5, 5, seed=91), normal(3, 2, 3, 3, seed=92), normal(3, seed=93)]),
    "conv2d_stride_dilation": (lambda L, x, w: F(L).conv2d(x, w, stride=2, padding=2, dilation=2), sq,
                               [normal(2, 2, 7, 7, seed=94), normal(3, 2, 3, 3, seed=95)]),
    "conv2d_groups": (lambda L, x, w: F(L).conv2d(x, w, groups=2), sq,
                      [normal(1, 4, 5, 5, seed=106), normal(4, 2, 2, 2, seed=107)]),
    "conv1d": (lambda L, x, w: F(L).conv1d(x, w, padding=1), sq,
               [normal(1, 2, 5, seed=101), normal(2, 2, 3, seed=102)]),
    "conv_transpose2d": (lambda L, x, w, b: F(L).conv_transpose2d(x, w, b, stride=2), sq,
                         [normal(1, 3, 3, 3, seed=108), normal(3, 2, 2, 2, seed=109), normal(2, seed=110)]),
    "max_pool2d": (lambda L, x: F(L).max_pool2d(x, 2), sq, [normal(1, 1, 4, 4, seed=97)]),
    "avg_pool2d": (lambda L, x: F(L).avg_pool2d(x, 3, stride=2, padding=1), sq, [normal(1, 2, 5, 5, seed=98)]),
}


@pytest.mark.parametrize("name", list(SPATIAL))
def test_spatial_second_order_matches_torch(name):
    op, post, specs = SPATIAL[name]
    fn = lambda L, *a: post(op(L, *a))  # noqa: E731
    e = second_order(ember, fn, specs)
    t = second_order(torch, fn, specs)
    assert_results_match(e[0] + e[1], t[0] + t[1], none_as_zero=True)


@pytest.mark.parametrize("name", ["conv2d", "conv_transpose2d", "avg_pool2d", "sdpa_causal_scale"])
def test_spatial_gradgradcheck(name):
    op, post, specs = SPATIAL[name]
    run_gradgradcheck(lambda L, *a: post(op(L, *a)), specs)


# ---- recurrent layers: the fused recurrence recomputed step by step under create_graph ----------

RNN_CASES = {
    "lstm": ("LSTM", {}), "gru": ("GRU", {}), "rnn_tanh": ("RNN", {}), "rnn_relu": ("RNN", {"nonlinearity": "relu"}),
    "lstm_proj": ("LSTM", {"proj_size": 2}), "gru_bidirectional_2_layers": ("GRU", {"bidirectional": True, "num_layers": 2}),
    "lstm_batch_first": ("LSTM", {"batch_first": True}),
}


def _rnn_module(L, name):
    kind, kw = RNN_CASES[name]
    m = getattr(L.nn, kind)(3, 4, **kw).double()
    with L.no_grad():
        for i, p in enumerate(m.parameters()):
            p.copy_(L.linspace(-0.5, 0.5, p.numel(), dtype=L.float64).reshape(p.shape) * (1 + 0.1 * i))
    return m


def _rnn_specs(name):
    kind, kw = RNN_CASES[name]
    layers = kw.get("num_layers", 1) * (2 if kw.get("bidirectional") else 1)
    hout = kw.get("proj_size", 4)
    x = normal(2, 5, 3, seed=103) if kw.get("batch_first") else normal(5, 2, 3, seed=103)
    specs = [x, normal(layers, 2, hout, seed=104, scale=0.5)]
    if kind == "LSTM":
        specs.append(normal(layers, 2, 4, seed=105, scale=0.5))
    return specs


def _rnn_call(name):
    def fn(L, x, h0, c0=None):
        out, h = _rnn_module(L, name)(x, h0 if c0 is None else (h0, c0))
        return [out] + (list(h) if isinstance(h, tuple) else [h])
    return fn


@pytest.mark.parametrize("name", list(RNN_CASES))
def test_rnn_second_order_matches_torch(name):
    """RNN, LSTM (with projections) and GRU layers, bidirectional and stacked: second derivatives
    through the fused recurrence (in the input and the initial states, every output) are torch's."""
    specs = _rnn_specs(name)
    e = second_order(ember, _rnn_call(name), specs)
    t = second_order(torch, _rnn_call(name), specs)
    assert_results_match(e[0] + e[1], t[0] + t[1], none_as_zero=True)


@pytest.mark.parametrize("name", ["lstm", "gru", "rnn_tanh", "lstm_proj"])
def test_rnn_gradgradcheck(name):
    run_gradgradcheck(_rnn_call(name), _rnn_specs(name))


@pytest.mark.parametrize("name", ["lstm", "gru", "lstm_proj"])
def test_rnn_gradient_penalty_trains_the_weights_as_torch(name):
    """A gradient penalty on a recurrent model (d out / d x, then its norm backward): the weights'
    .grad are torch's, through packed sequences of unequal lengths too."""
    res = {}
    for L in (ember, torch):
        grads = []
        for packed in (False, True):
            m = _rnn_module(L, name)
            x = _leaf(L, normal(5, 2, 3, seed=106))
            inp = L.nn.utils.rnn.pack_padded_sequence(x, [5, 3]) if packed else x
            out = m(inp)[0]
            out = L.nn.utils.rnn.pad_packed_sequence(out)[0] if packed else out
            gx, = L.autograd.grad((out ** 2).sum(), x, create_graph=True)
            ((gx ** 2).sum() + out.sum()).backward()
            grads += [to_np(p.grad) for p in m.parameters()] + [to_np(x.grad)]
        res[L.__name__] = grads
    assert_results_match(res["ember"], res["torch"])


def _atan2(L, a, b):
    return L.atan2(a, b)


# ops probed for a missing double backward: (the op, what is computed from its output, inputs)
PROBES = {
    "atan2": (_atan2, sq, [normal(3, 4, seed=103), uniform(3, 4, lo=0.5, hi=2.0, seed=104)]),
}


@pytest.mark.parametrize("name", list(PROBES))
def test_missing_double_backward_raises_not_silent_number(name):
    """Differentiating a gradient made by a node that has no differentiable backward raises a
    RuntimeError naming the node (the grad_fn of the op's output) and saying it is not implemented:
    never a silently different number."""
    op, post, specs = PROBES[name]
    fn = lambda L, *a: post(op(L, *a))  # noqa: E731
    e_args, _ = make_inputs(ember, specs, "float64")
    node = op(ember, *e_args).grad_fn.name()
    with pytest.raises(RuntimeError, match=f"derivative for {node} is not implemented"):
        second_order(ember, fn, specs)


def test_missing_double_backward_first_order_still_works():
    """A gradient through a node without double backward, made with create_graph=True, has the
    right first-order numbers and can be used as a constant after .detach()."""
    op, post, specs = PROBES["atan2"]
    res = {}
    for L in (ember, torch):
        args, diff = make_inputs(L, specs, "float64")
        gx = L.autograd.grad(post(op(L, *args)).sum(), diff, create_graph=True)[0]
        h, = L.autograd.grad((gx.detach() * diff[0]).sum(), diff[0])
        res[L.__name__] = [to_np(gx), to_np(h)]
    assert_results_match(res["ember"], res["torch"])


@pytest.mark.parametrize("f", ["pow4", "sin"])
def test_third_order(f):
    x_np = normal(5, seed=100)

    def run(L):
        x = _leaf(L, x_np)
        y = x ** 4 if f == "pow4" else x.sin()
        d1, = L.autograd.grad(y.sum(), x, create_graph=True)
        d2, = L.autograd.grad(d1.sum(), x, create_graph=True)
        d3, = L.autograd.grad(d2.sum(), x, create_graph=True)
        d4, = L.autograd.grad(d3.sum(), x)
        return [to_np(t) for t in (d1, d2, d3, d4)]
    e, t = _both(run)
    for i, (a, b) in enumerate(zip(e, t)):
        np.testing.assert_allclose(a, b, rtol=RTOL64, atol=ATOL64, err_msg=f"derivative {i + 1}")
    exact = ([4 * x_np ** 3, 12 * x_np ** 2, 24 * x_np, 24 * np.ones(5)] if f == "pow4" else
             [np.cos(x_np), -np.sin(x_np), -np.cos(x_np), np.sin(x_np)])
    for i, (a, b) in enumerate(zip(e, exact)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12, err_msg=f"derivative {i + 1} (exact)")


def test_backward_create_graph_warns_about_the_cycle_as_torch():
    """backward(create_graph=True) warns (once per process, as torch's TORCH_WARN_ONCE) that the
    parameter and its gradient now reference each other."""
    import subprocess
    import sys
    code = ("import warnings, ember\nwarnings.simplefilter('always')\n"
            "x = ember.ones(3, requires_grad=True)\n"
            "with warnings.catch_warnings(record=True) as w:\n"
            "    warnings.simplefilter('always')\n"
            "    (x ** 3).sum().backward(create_graph=True)\n"
            "    x.grad = None\n"
            "    (x ** 3).sum().backward(create_graph=True)\n"
            "    x.grad = None\n"
            "print(len(w), w[0].category.__name__, 'reference cycle' in str(w[0].message))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["1", "UserWarning", "True"], out.stdout + out.stderr
