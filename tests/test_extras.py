"""ember._extras (hstack ... can_cast, constants, Tensor properties, torch's top-level nn.functional
aliases), utils.data's WeightedRandomSampler / ChainDataset / StackDataset / get_worker_info,
autograd.gradcheck / gradgradcheck / anomaly switches, and nn.RMSNorm / F.rms_norm, each against
torch 2.13 on the same fixed numpy inputs. (The ops' generic rows live in test_ops.py, in the
`ember._extras rows` block.)"""
import math
import warnings

import numpy as np
import pytest
from helpers import check_op, dtype_name, gradcheck, to_np

import ember

torch = pytest.importorskip("torch")

NAN = float("nan")


def arr(*shape, seed=0, kind="normal"):
    g = np.random.default_rng(seed)
    if kind == "pos":
        return g.uniform(0.5, 2.0, shape).astype(np.float32)
    return g.standard_normal(shape).astype(np.float32)


def both(fn):
    return (lambda *xs: fn(ember, *xs)), (lambda *xs: fn(torch, *xs))


def same(fn, inputs, grad=True, **kw):
    fe, ft = both(fn)
    return check_op(fe, ft, inputs, grad=grad, **kw)


# ---------------------------------------------------------------------------------------------
# values with NaN, ties, every interpolation

@pytest.mark.parametrize("name", ["fmax", "fmin"])
def test_fmax_fmin_nan(name):
    same(lambda L, x, y: getattr(L, name)(x, y), [np.array([NAN, 1.0, NAN, -2.0], np.float32),
                                                   np.array([2.0, NAN, NAN, 3.0], np.float32)], grad=False)


@pytest.mark.parametrize("interpolation", ["linear", "lower", "higher", "midpoint", "nearest"])
@pytest.mark.parametrize("name", ["quantile", "nanquantile"])
def test_quantile_interpolations(name, interpolation):
    q = lambda L, x: L.tensor([0.0, 0.3, 0.5, 0.75, 1.0], dtype=x.dtype)  # noqa: E731
    same(lambda L, x: getattr(L, name)(x, q(L, x), dim=1, interpolation=interpolation), [arr(3, 6)])
    same(lambda L, x: getattr(L, name)(x, 0.5, interpolation=interpolation, keepdim=True), [arr(4, 5)])
    gradcheck(lambda x: getattr(ember, name)(x, 0.35, dim=0, interpolation=interpolation), [arr(5, 3, seed=2)])


def test_quantile_nan_and_nanquantile_nan():
    x = np.array([[1.0, NAN, 2.0, 5.0], [3.0, 1.0, 2.0, 0.0], [NAN, NAN, NAN, NAN]], np.float32)
    for name in ["quantile", "nanquantile"]:
        for interp in ["linear", "nearest", "midpoint"]:
            same(lambda L, x: getattr(L, name)(x, 0.4, dim=1, interpolation=interp), [x], grad=False)
            same(lambda L, x: getattr(L, name)(x, 0.4, interpolation=interp), [x], grad=False)


def test_nanmedian_nan_and_ties():
    x = np.array([[NAN, 1.0, 2.0, 3.0], [4.0, NAN, NAN, 1.0], [NAN, NAN, NAN, NAN]], np.float32)
    same(lambda L, x: L.nanmedian(x[:2], 1, keepdim=True), [x], grad=False)
    same(lambda L, x: L.nanmedian(x, 1).values, [x], grad=False)  # (an all-NaN row's index is unspecified)
    same(lambda L, x: L.nanmedian(x), [x], grad=False)
    same(lambda L, x: x.nanmedian(dim=0), [arr(5, 3)])


def test_mode_ties_values_indices_and_grad():
    x = np.array([[1.0, 2.0, 2.0, 1.0, 3.0], [5.0, 4.0, 4.0, 5.0, 5.0]], np.float32)
    same(lambda L, x: L.mode(x), [x])
    same(lambda L, x: x.mode(0, keepdim=True), [x.T.copy()])
    r = ember.mode(ember.tensor(x))
    assert r._fields == ("values", "indices") and r.values is r[0]


# ---------------------------------------------------------------------------------------------
# methods, in-place forms, out=, Tensor properties

@pytest.mark.parametrize("name,args", [("deg2rad", ()), ("rad2deg", ()), ("sinc", ()), ("renorm", (2, 0, 1.0))])
def test_inplace_methods(name, args):
    def fn(L, x):
        y = x.clone()
        r = getattr(y, name + "_")(*args)
        assert r is y
        return y
    same(fn, [arr(3, 4)])


def test_heaviside_and_float_power_inplace():
    same(lambda L, x, v: x.clone().heaviside_(v), [np.array([-1.0, 0.0, 2.0], np.float32),
                                                   np.array([0.5, 0.25, 0.0], np.float32)], grad=False)
    same(lambda L, x: x.to(L.float64).clone().float_power_(2), [arr(3, kind="pos")])
    for L in (ember, torch):
        with pytest.raises(RuntimeError):
            L.ones(3).float_power_(2)


def test_methods_and_split_forms():
    x = arr(2, 4, 6)
    same(lambda L, x: x.tensor_split([1, 4], dim=2), [x])
    same(lambda L, x: x.tensor_split(L.tensor([1, 3]), dim=1), [x])
    same(lambda L, x: L.tensor_split(x, L.tensor(3), 2), [x])
    same(lambda L, x: x.hsplit(2), [x])
    same(lambda L, x: x.dsplit([1, 5]), [x])
    same(lambda L, x: x.vsplit(2), [x])
    same(lambda L, x: L.tensor_split(x, [-2, 10, 1], dim=-1), [x])
    same(lambda L, x: (L.deg2rad(x > 0), L.rad2deg(x > 0)), [x], grad=False)
    same(lambda L, x: x.split_with_sizes([3, 1], dim=1), [x])
    same(lambda L, x: (x.trace(), x.diagflat(1), x.fmax(x.flip(0)), x.dist(x.flip(0), 3)), [arr(3, 3)])
    same(lambda L, x: L.hstack([x[0], L.tensor(1.0)]), [arr(2, 3)])
    same(lambda L, x: (L.column_stack([x, x[:, 0]]), L.dstack([x[0], x[1]]), L.vstack([x[0]])), [arr(2, 3)])


def test_out_variants():
    def fn(L, x):
        o1, o2 = L.zeros(0), L.zeros(0)
        vals, idx = L.zeros(0), L.zeros(0, dtype=L.int64)
        r1 = L.hstack([x, x], out=o1)
        r2 = L.quantile(x, 0.25, dim=0, out=o2)
        r3 = L.mode(x, 1, out=(vals, idx))
        assert r1 is o1 and r2 is o2 and r3[0] is vals and r3[1] is idx
        return o1, o2, vals, idx
    same(fn, [arr(3, 4)], grad=False)


def test_tensor_properties():
    for dt in ["float32", "float64", "int64", "bool"]:
        e, t = ember.zeros(2, 3, dtype=getattr(ember, dt)), torch.zeros(2, 3, dtype=getattr(torch, dt))
        assert (e.nbytes, e.itemsize) == (t.nbytes, t.itemsize)
        assert (e.is_signed(), e.is_complex(), ember.is_signed(e)) == \
            (t.is_signed(), t.is_complex(), torch.is_signed(t))
    e, t = ember.ones(2, 3), torch.ones(2, 3)
    assert e.is_same_size(ember.ones(2, 3)) and not e.is_same_size(ember.ones(3, 2))
    assert t.is_same_size(torch.ones(2, 3))
    same(lambda L, x: (x.H, x.mH, x.adjoint()), [arr(3, 4)])
    same(lambda L, x: (x.mH, x.adjoint()), [arr(2, 3, 4)])
    same(lambda L, x: (x.sum_to_size(1, 4), x.sum_to_size((3, 1)), x.sum_to_size(4)), [arr(3, 4)])
    for L in (ember, torch):
        with pytest.raises(RuntimeError):
            _ = L.ones(3).mH
        with pytest.raises(RuntimeError):
            L.ones(2, 3).sum_to_size(2)
        assert L.tensor([2.0]).is_nonzero() and not L.tensor(0).is_nonzero()


def test_constants():
    assert (ember.pi, ember.e, ember.inf) == (torch.pi, torch.e, torch.inf)
    assert math.isnan(ember.nan) and ember.newaxis is None is torch.newaxis


def test_range_warns_and_includes_end():
    with pytest.warns(UserWarning, match="deprecated"):
        r = ember.range(1, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = torch.range(1, 3)
        same(lambda L: L.range(0, 1, 0.3), [], grad=False)
    assert to_np(r).tolist() == t.tolist() and dtype_name(r.dtype) == "float32"


def test_factories_dtypes():
    same(lambda L: (L.logspace(0, 3, 4, dtype=L.int64), L.logspace(1, 0, 3, 3.0), L.tril_indices(0, 3),
                    L.triu_indices(4, 2, -1), L.scalar_tensor(True), L.scalar_tensor(1, dtype=L.int64)), [], grad=False)
    r = ember.scalar_tensor(2.0, requires_grad=True)
    assert r.requires_grad and r.dim() == 0


DTYPES = ["bool", "int64", "float32", "float64"]


def test_promote_types_and_can_cast_every_pair():
    for a in DTYPES:
        for b in DTYPES:
            ea, eb, ta, tb = getattr(ember, a), getattr(ember, b), getattr(torch, a), getattr(torch, b)
            assert dtype_name(ember.promote_types(ea, eb)) == dtype_name(torch.promote_types(ta, tb)), (a, b)
            assert ember.can_cast(ea, eb) == torch.can_cast(ta, tb), (a, b)


def test_result_type():
    cases = [
        lambda L: L.result_type(L.tensor([1]), 1.0),
        lambda L: L.result_type(L.tensor([1]), True),
        lambda L: L.result_type(L.tensor([True]), 2),
        lambda L: L.result_type(L.tensor([1.0]), L.tensor(1.0, dtype=L.float64)),
        lambda L: L.result_type(L.tensor([1]), L.tensor(1.0, dtype=L.float64)),
        lambda L: L.result_type(L.tensor(1, dtype=L.int64), L.tensor([True])),
        lambda L: L.result_type(L.tensor([1.0], dtype=L.float64), L.tensor([1.0])),
        lambda L: L.result_type(2, L.tensor([True])),
        lambda L: L.result_type(2, 3.5),
        lambda L: L.result_type(False, 3),
    ]
    for i, c in enumerate(cases):
        assert dtype_name(c(ember)) == dtype_name(c(torch)), i


# ---------------------------------------------------------------------------------------------
# errors: the exception type torch raises

BAD = [
    ("hstack_empty", lambda L: L.hstack([])),
    ("hstack_tensor", lambda L: L.hstack(L.ones(2))),
    ("trace_3d", lambda L: L.trace(L.ones(2, 2, 2))),
    ("tensor_split_0d", lambda L: L.tensor_split(L.tensor(1.0), 2)),
    ("tensor_split_zero_sections", lambda L: L.tensor_split(L.ones(4), 0)),
    ("tensor_split_float_tensor", lambda L: L.tensor_split(L.ones(4), L.tensor([1.0]))),
    ("hsplit_not_divisible", lambda L: L.hsplit(L.ones(2, 5), 2)),
    ("vsplit_1d", lambda L: L.vsplit(L.ones(4), 2)),
    ("dsplit_2d", lambda L: L.dsplit(L.ones(4, 4), 2)),
    ("split_with_sizes_sum", lambda L: L.split_with_sizes(L.ones(5), [2, 2])),
    ("split_dim", lambda L: L.tensor_split(L.ones(4), 2, dim=1)),
    ("quantile_int", lambda L: L.quantile(L.tensor([1, 2]), 0.5)),
    ("quantile_q_range", lambda L: L.quantile(L.ones(3), 1.5)),
    ("quantile_interp", lambda L: L.quantile(L.ones(3), 0.5, interpolation="cubic")),
    ("quantile_q_dtype", lambda L: L.quantile(L.ones(3), L.tensor([0.5], dtype=L.float64))),
    ("quantile_q_2d", lambda L: L.quantile(L.ones(3), L.ones(2, 2) / 2)),
    ("heaviside_dtypes", lambda L: L.heaviside(L.ones(3), L.tensor([1], dtype=L.int64))),
    ("is_nonzero_many", lambda L: L.is_nonzero(L.ones(2))),
    ("is_nonzero_empty", lambda L: L.is_nonzero(L.ones(0))),
    ("renorm_1d", lambda L: L.renorm(L.ones(3), 2, 0, 1.0)),
    ("renorm_int", lambda L: L.renorm(L.ones(3, 3, dtype=L.int64), 2, 0, 1)),
    ("renorm_p0", lambda L: L.renorm(L.ones(3, 3), 0, 0, 1.0)),
    ("mode_dim", lambda L: L.mode(L.ones(3), 1)),
    ("promote_types_str", lambda L: L.promote_types("float", L.int64)),
    ("range_step0", lambda L: L.range(0, 3, 0)),
    ("logspace_neg", lambda L: L.logspace(0, 1, -1)),
    ("tril_indices_neg", lambda L: L.tril_indices(-1, 3)),
    ("adjoint_1d", lambda L: L.ones(3).adjoint()),
    ("H_3d", lambda L: L.ones(2, 2, 2).H),
]


@pytest.mark.parametrize("fn", [pytest.param(f, id=i) for i, f in BAD])
def test_errors_as_torch(fn):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(Exception) as t_info:
            fn(torch)
        with pytest.raises(Exception) as e_info:
            fn(ember)
    want = RuntimeError if type(t_info.value) is NotImplementedError else type(t_info.value)
    assert type(e_info.value) in (type(t_info.value), want), f"ember {e_info.value!r}, torch {t_info.value!r}"


# ---------------------------------------------------------------------------------------------
# torch's top-level aliases of nn.functional functions

def test_top_level_aliases_reductions_and_forms():
    t3 = np.array([1.0, -1.0, 1.0], np.float32)
    for red in (0, 1, 2):
        same(lambda L, x, y: L.kl_div(x.log_softmax(1), y.log_softmax(1), red, log_target=True), [arr(3, 4),
             arr(3, 4, seed=1)])
        same(lambda L, x, y, t: L.cosine_embedding_loss(x, y, t, 0.1, red), [arr(3, 4), arr(3, 4, seed=1), t3])
        same(lambda L, x, t: L.hinge_embedding_loss(x, t, 0.5, red), [arr(3), t3])
        same(lambda L, x, y: L.binary_cross_entropy_with_logits(x, y, None, None, red),
             [arr(3, 4), arr(3, 4, seed=1, kind="pos") / 2.5])
        same(lambda L, x, y: L.poisson_nll_loss(x, y, False, True, 1e-8, red),
             [arr(3, 4, kind="pos"), arr(3, 4, seed=1, kind="pos")])
    same(lambda L, w, i: L.embedding(w, i, 1), [arr(4, 3), np.array([[0, 1], [3, 1]])])
    same(lambda L, x: L.layer_norm(x, (3, 4), None, None, 1e-3), [arr(2, 3, 4)])
    same(lambda L, x: (L.celu(x), L.hardshrink(x), L.threshold(x, 0.0, 2.0), L.dropout(x, 0.0, True)), [arr(3, 4)])
    same(lambda L, x, y: (L.cosine_similarity(x, y, 0), L.pairwise_distance(x, y, 1.0, 1e-6, True)),
         [arr(3, 4), arr(3, 4, seed=1)])
    for name in ["dropout", "alpha_dropout", "celu", "selu", "layer_norm", "kl_div",
                 "binary_cross_entropy_with_logits"]:
        assert callable(getattr(ember, name)) and name in ember._extras.__all__


# ---------------------------------------------------------------------------------------------
# nn.RMSNorm / F.rms_norm

@pytest.mark.parametrize("eps", [None, 1e-3])
def test_rms_norm_functional(eps):
    same(lambda L, x, w: L.nn.functional.rms_norm(x, [3, 4], w, eps), [arr(2, 3, 4), arr(3, 4, seed=1)])
    same(lambda L, x: L.nn.functional.rms_norm(x.to(L.float64), (4,), eps=eps), [arr(2, 3, 4) * 1e-5],
         atol=1e-9, rtol=1e-6)
    gradcheck(lambda x: ember.nn.functional.rms_norm(x, [4], eps=eps), [arr(3, 4)])
    with pytest.raises(RuntimeError):
        ember.nn.functional.rms_norm(ember.ones(2, 3), [4])


def test_rms_norm_module():
    x = arr(2, 5, 4)
    for affine in (True, False):
        me, mt = ember.nn.RMSNorm(4, elementwise_affine=affine), torch.nn.RMSNorm(4, elementwise_affine=affine)
        assert [n for n, _ in me.named_parameters()] == [n for n, _ in mt.named_parameters()]
        assert repr(me).replace("ember", "torch") == repr(mt)
        ye, yt = me(ember.tensor(x)), mt(torch.tensor(x))
        np.testing.assert_allclose(to_np(ye), to_np(yt), rtol=1e-5, atol=1e-6)
        if affine:
            ye.sum().backward()
            yt.sum().backward()
            np.testing.assert_allclose(to_np(me.weight.grad), to_np(mt.weight.grad), rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------------------------------------
# ember.utils.data

def test_weighted_random_sampler():
    from ember.utils.data import DataLoader, TensorDataset, WeightedRandomSampler
    ember.manual_seed(0)
    s = WeightedRandomSampler([0.1, 0.0, 0.6, 0.3], 20000)
    draws = np.array(list(s))
    assert len(s) == 20000 and draws.dtype.kind == "i"
    np.testing.assert_allclose(np.bincount(draws, minlength=4) / 20000, [0.1, 0.0, 0.6, 0.3], atol=0.02)
    s = WeightedRandomSampler(ember.tensor([1.0, 2.0, 3.0, 4.0]), 4, replacement=False)
    assert sorted(s) == [0, 1, 2, 3]
    g1, g2 = ember.Generator().manual_seed(3), ember.Generator().manual_seed(3)
    assert list(WeightedRandomSampler([1.0, 1.0, 1.0], 10, generator=g1)) == \
        list(WeightedRandomSampler([1.0, 1.0, 1.0], 10, generator=g2))
    for bad in [dict(num_samples=0), dict(num_samples=2, replacement=1)]:
        with pytest.raises(ValueError):
            WeightedRandomSampler([1.0, 2.0], **bad)
        with pytest.raises(ValueError):
            torch.utils.data.WeightedRandomSampler([1.0, 2.0], **bad)
    ds = TensorDataset(ember.arange(6))
    batches = list(DataLoader(ds, batch_size=2, sampler=WeightedRandomSampler([0, 0, 1, 0, 0, 0], 4)))
    assert [b[0].tolist() for b in batches] == [[2, 2], [2, 2]]


def test_chain_stack_datasets_and_worker_info():
    from torch.utils.data import StackDataset as TStack

    from ember.utils.data import ChainDataset, IterableDataset, StackDataset, get_worker_info
    a, b = [1, 2, 3], [4, 5]

    def chain(L, parts):
        class Part(L.utils.data.IterableDataset):
            def __init__(self, items):
                self.items = items

            def __iter__(self):
                return iter(self.items)

            def __len__(self):
                return len(self.items)
        return L.utils.data.ChainDataset([Part(p) for p in parts])

    for L in (ember, torch):
        assert list(chain(L, [a, b])) == [1, 2, 3, 4, 5] and len(chain(L, [a, b])) == 5
        with pytest.raises(AssertionError, match="only supports IterableDataset"):
            list(L.utils.data.ChainDataset([a, b]))  # plain lists are not iterable datasets
        d = chain(L, [a])
        assert list(d + chain(L, [b])) == [1, 2, 3, 4, 5]  # IterableDataset + IterableDataset chains
    assert issubclass(ChainDataset, IterableDataset)
    assert [StackDataset(a, [7, 8, 9])[i] for i in range(3)] == [TStack(a, [7, 8, 9])[i] for i in range(3)]
    assert StackDataset(x=a, y=[7, 8, 9])[1] == TStack(x=a, y=[7, 8, 9])[1]
    assert len(StackDataset(a, a)) == 3
    for L in (ember, torch):
        with pytest.raises(ValueError):
            L.utils.data.StackDataset(a, b)
    assert get_worker_info() is None is torch.utils.data.get_worker_info()


# ---------------------------------------------------------------------------------------------
# ember.autograd: gradcheck, gradgradcheck, anomaly mode

def test_gradcheck_and_gradgradcheck():
    ag = ember.autograd
    x = ember.tensor(arr(2, 3).astype(np.float64), requires_grad=True)
    y = ember.tensor(arr(3, 3).astype(np.float64), requires_grad=True).t()  # non-contiguous input
    assert ag.gradcheck(lambda a, b: (a.sin() @ b, a.sum()), (x, y)) is True
    assert ag.gradcheck(lambda a: a.exp(), x, eps=1e-6, atol=1e-5) is True

    class Wrong(ag.Function):
        @staticmethod
        def forward(ctx, a):
            return a * 2

        @staticmethod
        def backward(ctx, g):
            return g * 3
    assert issubclass(ag.GradcheckError, RuntimeError)
    with pytest.raises(ag.GradcheckError, match="Jacobian mismatch"):
        ag.gradcheck(Wrong.apply, (x,))
    assert ag.gradcheck(Wrong.apply, (x,), raise_exception=False) is False
    with pytest.raises(ValueError):
        ag.gradcheck(lambda a: a * 2, (x.detach(),))
    # gradgradcheck: second derivatives through create_graph, and it catches a wrong one (a backward
    # whose gradient drops its dependence on the input: right first derivative, second derivative 0)
    assert ag.gradgradcheck(lambda a, b: (a * a).sin() @ b, (x, y)) is True

    class FlatSecond(ag.Function):
        @staticmethod
        def forward(ctx, a):
            ctx.save_for_backward(a)
            return a * a

        @staticmethod
        def backward(ctx, g):
            a, = ctx.saved_tensors
            return g * 2 * a.detach()
    assert ag.gradcheck(FlatSecond.apply, (x,)) is True
    with pytest.raises(ag.GradcheckError, match="Jacobian mismatch"):
        ag.gradgradcheck(FlatSecond.apply, (x,))


def test_anomaly_mode_flag():
    ag = ember.autograd
    assert ag.is_anomaly_enabled() is False is torch.is_anomaly_enabled()
    with ag.detect_anomaly():
        assert ag.is_anomaly_enabled()
    assert not ag.is_anomaly_enabled()
    ag.set_detect_anomaly(True)
    assert ag.is_anomaly_enabled()
    ag.set_detect_anomaly(False)
    with ag.set_detect_anomaly(True):
        assert ag.is_anomaly_enabled()
    assert not ag.is_anomaly_enabled()

    @ag.detect_anomaly()
    def f():
        return ag.is_anomaly_enabled()
    assert f() and not ag.is_anomaly_enabled()


def test_apply_map_map2_as_torch():
    out = []
    for lib in (ember, torch):
        x = lib.arange(6.0).reshape(2, 3).t()  # non-contiguous: written back in place
        x.apply_(lambda v: v * 3 - 1)
        y = lib.tensor([1.0, 2.0, 3.0])
        y.map_(lib.tensor([10.0]), lambda a, b: a + b)  # the other tensor broadcasts
        z = lib.tensor([1, 2, 3])
        z.map2_(lib.tensor([1, 1, 1]), lib.tensor([2, 2, 2]), lambda a, b, c: a * b + c + 0.7)  # int: truncates
        with pytest.raises(RuntimeError, match="requires grad"):
            lib.ones(2, requires_grad=True).apply_(lambda v: v)
        out.append((x.tolist(), y.tolist(), z.tolist()))
    assert out[0] == out[1]
