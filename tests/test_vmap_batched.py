"""ember.func.vmap's batched path (Note [Batched vmap] in ember/func/_batched.py) against torch.func.vmap on
the same fixed inputs: every family of batching rules (unary, broadcasting binary ops and operators,
reductions, softmax-likes, max/min/argmax, shape and view ops, indexing and item assignment, products,
linear, losses, convolutions and pools) with in_dims 0/1/-1/None and out_dims 0/1/tuples, each run with
the per-slice fallback forbidden where the rule covers the case; the fallback itself for an op without a
rule; gradients through vmap, per-sample gradients, vmap(jacrev), model ensembling; and torch's errors and
semantics (item, randomness, in-place, unbatched outputs)."""
import contextlib
import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import ember  # noqa: E402
import ember.func as efunc  # noqa: E402
import torch.func as tfunc  # noqa: E402
from ember.func import _batched  # noqa: E402

LIBS = {"ember": (ember, efunc), "torch": (torch, tfunc)}
N = 3  # the mapped size used throughout


def arr(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape)


def ints(*shape, high, seed=0):
    return np.random.default_rng(seed).integers(0, high, size=shape).astype(np.int64)


def mapped(shape, d, seed=0, n=N):
    """A float array whose logical shape is `shape` with the mapped size n inserted at in_dim d."""
    if d is None:
        return arr(*shape, seed=seed)
    s = list(shape)
    s.insert(d % (len(s) + 1), n)
    return arr(*s, seed=seed)


def np_of(x):
    if isinstance(x, _batched.BatchedTensor):
        raise AssertionError("a BatchedTensor escaped vmap")
    if isinstance(x, (tuple, list)):
        return [np_of(v) for v in x]
    if isinstance(x, dict):
        return {k: np_of(v) for k, v in x.items()}
    if isinstance(x, (ember.Tensor, torch.Tensor)):
        return x.detach().numpy()
    return x


def assert_same(a, b, tol=1e-12):
    a, b = np_of(a), np_of(b)
    if isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y, tol)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            assert_same(a[k], b[k], tol)
    elif isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray), (type(a), type(b))
        assert a.shape == b.shape, (a.shape, b.shape)
        assert a.dtype == b.dtype, (a.dtype, b.dtype)
        if a.dtype == bool or a.dtype.kind in "iu":
            np.testing.assert_array_equal(a, b)
        else:
            np.testing.assert_allclose(a, b, rtol=tol, atol=tol)
    else:
        assert a == b


def both(fn):
    """fn(L, F) for ember and torch."""
    return fn(ember, efunc), fn(torch, tfunc)


def errors_of(fn):
    out = []
    for L, F in LIBS.values():
        with pytest.raises(Exception) as e:
            fn(L, F)
        out.append(type(e.value))
    return out


def to_lib(L, v, dtype="float64"):
    if isinstance(v, np.ndarray):
        if v.dtype == bool or v.dtype.kind in "iu":
            return L.tensor(v)
        return L.tensor(v, dtype=getattr(L, dtype))
    if isinstance(v, dict):
        return {k: to_lib(L, e, dtype) for k, e in v.items()}
    if isinstance(v, (tuple, list)):
        return type(v)(to_lib(L, e, dtype) for e in v)
    return v


@contextlib.contextmanager
def no_fallback():
    """The per-slice fallback forbidden: every op must go through its batching rule."""
    calls = []

    def boom(func, args, kwargs):
        calls.append(getattr(func, "__name__", repr(func)))
        raise AssertionError(f"per-slice fallback taken for {calls[-1]!r}")
    orig = _batched._per_slice
    _batched._per_slice = boom
    try:
        yield calls
    finally:
        _batched._per_slice = orig
    assert not calls, f"per-slice fallback taken for {calls}"


@contextlib.contextmanager
def spy_fallback():
    calls = []
    orig = _batched._per_slice

    def spy(func, args, kwargs):
        calls.append(getattr(func, "__name__", repr(func)))
        return orig(func, args, kwargs)
    _batched._per_slice = spy
    try:
        yield calls
    finally:
        _batched._per_slice = orig


def run(L, F, make, inputs, in_dims, out_dims, dtype):
    return F.vmap(make(L), in_dims=in_dims, out_dims=out_dims)(*[to_lib(L, v, dtype) for v in inputs])


def torch_loop(make, inputs, in_dims, out_dims, dtype):
    """torch's answer slice by slice, stacked at out_dims (an int): the reference where torch.func.vmap
    itself cannot run the function (a limitation of its batching rules, not a different meaning)."""
    f = make(torch)
    xs = [to_lib(torch, v, dtype) for v in inputs]
    dims = in_dims if isinstance(in_dims, tuple) else (in_dims,) * len(xs)
    n = next(x.shape[d] for x, d in zip(xs, dims) if d is not None)
    outs = [f(*[x if d is None else x.select(d, i) for x, d in zip(xs, dims)]) for i in range(n)]
    if isinstance(outs[0], torch.Tensor):
        return torch.stack(outs, out_dims)
    return type(outs[0])(torch.stack([o[k] for o in outs], out_dims) for k in range(len(outs[0])))


def check(make, inputs, in_dims=0, out_dims=0, strict=True, tol=1e-12, dtype="float64", ref="vmap"):
    """vmap(make(L)) on the inputs for ember and torch: the same values; with strict, once more with the
    per-slice fallback forbidden (the batching rule must cover the case)."""
    t = (run(torch, tfunc, make, inputs, in_dims, out_dims, dtype) if ref == "vmap" else
         torch_loop(make, inputs, in_dims, out_dims, dtype))
    e = run(ember, efunc, make, inputs, in_dims, out_dims, dtype)
    assert_same(e, t, tol)
    if strict:
        with no_fallback():
            e2 = run(ember, efunc, make, inputs, in_dims, out_dims, dtype)
        assert_same(e2, t, tol)


def nnf(L):
    return L.nn.functional


def case(id, make, inputs, in_dims=0, out_dims=0, strict=True, tol=1e-12, dtype="float64"):
    return pytest.param(make, inputs, in_dims, out_dims, strict, tol, dtype, id=id)


CASE_ARGS = "make,inputs,in_dims,out_dims,strict,tol,dtype"
DIMS3 = (0, 1, -1)


# ---- unary ops -----------------------------------------------------------------------------------

UNARY = [
    ("relu", lambda L: lambda x: L.relu(x)),
    ("F.relu", lambda L: lambda x: nnf(L).relu(x)),
    ("tanh", lambda L: lambda x: x.tanh()),
    ("sigmoid", lambda L: lambda x: L.sigmoid(x)),
    ("exp", lambda L: lambda x: L.exp(x)),
    ("log", lambda L: lambda x: (x.abs() + 0.5).log()),
    ("neg", lambda L: lambda x: L.neg(x)),
    ("-x", lambda L: lambda x: -x),
    ("abs()", lambda L: lambda x: abs(x)),
    ("abs", lambda L: lambda x: x.abs()),
    ("sin", lambda L: lambda x: L.sin(x)),
    ("cos", lambda L: lambda x: x.cos()),
    ("sqrt", lambda L: lambda x: L.sqrt(x.abs())),
    ("rsqrt", lambda L: lambda x: (x.abs() + 1).rsqrt()),
    ("square", lambda L: lambda x: L.square(x)),
    ("log1p", lambda L: lambda x: x.abs().log1p()),
    ("expm1", lambda L: lambda x: L.expm1(x)),
    ("erf", lambda L: lambda x: L.erf(x)),
    ("sign", lambda L: lambda x: x.sign()),
    ("reciprocal", lambda L: lambda x: (x.abs() + 1).reciprocal()),
    ("floor", lambda L: lambda x: L.floor(x * 3)),
    ("ceil", lambda L: lambda x: (x * 3).ceil()),
    ("round", lambda L: lambda x: L.round(x * 3)),
    ("trunc", lambda L: lambda x: (x * 3).trunc()),
    ("atan", lambda L: lambda x: L.atan(x)),
    ("sinh", lambda L: lambda x: L.sinh(x)),
    ("clamp", lambda L: lambda x: x.clamp(-0.5, 0.5)),
    ("clamp_kw", lambda L: lambda x: L.clamp(x, min=-0.3)),
    ("clip", lambda L: lambda x: x.clip(max=0.2)),
    ("clamp_min", lambda L: lambda x: x.clamp_min(0.1)),
    ("nan_to_num", lambda L: lambda x: L.nan_to_num(L.log(x), nan=0.5, neginf=-3.0)),
    ("clone", lambda L: lambda x: x.clone() * 2),
    ("contiguous", lambda L: lambda x: x.contiguous()),
    ("detach", lambda L: lambda x: x.detach()),
    ("float", lambda L: lambda x: x.float().double()),
    ("to", lambda L: lambda x: x.to(L.float32).to(L.float64)),
    ("long", lambda L: lambda x: (x * 3).long()),
    ("bool", lambda L: lambda x: (x > 0).int().bool()),
    ("logical_not", lambda L: lambda x: L.logical_not(x > 0)),
    ("~", lambda L: lambda x: ~(x > 0)),
    ("isnan", lambda L: lambda x: L.isnan(L.log(x))),
    ("isfinite", lambda L: lambda x: L.isfinite(L.log(x))),
    ("zeros_like", lambda L: lambda x: L.zeros_like(x)),
    ("ones_like", lambda L: lambda x: L.ones_like(x) + x),
    ("full_like", lambda L: lambda x: L.full_like(x, 2.5)),
    ("F.gelu", lambda L: lambda x: nnf(L).gelu(x)),
    ("F.gelu_tanh", lambda L: lambda x: nnf(L).gelu(x, approximate="tanh")),
    ("F.softplus", lambda L: lambda x: nnf(L).softplus(x)),
    ("F.silu", lambda L: lambda x: nnf(L).silu(x)),
    ("F.elu", lambda L: lambda x: nnf(L).elu(x)),
    ("F.leaky_relu", lambda L: lambda x: nnf(L).leaky_relu(x, 0.1)),
    ("F.hardtanh", lambda L: lambda x: nnf(L).hardtanh(x)),
    ("F.relu6", lambda L: lambda x: nnf(L).relu6(x * 4)),
    ("F.layer_norm", lambda L: lambda x: nnf(L).layer_norm(x, (5,))),
    # a scalar second operand: still one batched call
    ("x+2", lambda L: lambda x: x + 2),
    ("2-x", lambda L: lambda x: 2 - x),
    ("2/x", lambda L: lambda x: 2 / (x.abs() + 1)),
    ("x*3", lambda L: lambda x: 3 * x),
    ("x**2", lambda L: lambda x: x ** 2),
    ("2**x", lambda L: lambda x: 2 ** x),
    ("x//0.3", lambda L: lambda x: x // 0.3),
    ("x%0.3", lambda L: lambda x: x % 0.3),
    ("x>0", lambda L: lambda x: x > 0),
    ("x==x", lambda L: lambda x: x == x),
]


@pytest.mark.parametrize(CASE_ARGS, [
    case(f"{name}-in{DIMS3[i % 3]}-out{DIMS3[(i // 3) % 3]}", mk, [mapped((4, 5), DIMS3[i % 3], seed=i)],
         DIMS3[i % 3], DIMS3[(i // 3) % 3])
    for i, (name, mk) in enumerate(UNARY)])
def test_unary(make, inputs, in_dims, out_dims, strict, tol, dtype):
    check(make, inputs, in_dims, out_dims, strict, tol, dtype)


def test_unary_layer_norm_with_unbatched_affine():
    w, b = arr(4, 5, seed=1), arr(4, 5, seed=2)
    check(lambda L: lambda x, w, b: nnf(L).layer_norm(x, (4, 5), w, b), [mapped((2, 4, 5), 1), w, b],
          (1, None, None))


def test_type_as_unbatched_other():
    # Tensor.type_as has a rule ("type_as" in _UNARY)
    check(lambda L: lambda x, y: x.type_as(y), [mapped((4, 5), 0), np.zeros((2,), dtype=np.float32)],
          (0, None), tol=1e-6)


@pytest.mark.parametrize("dtype", ["float32"])
def test_unary_float32(dtype):
    check(lambda L: lambda x: nnf(L).gelu(x.tanh() * 2).exp(), [mapped((4, 5), 1)], 1, 0, tol=1e-5, dtype=dtype)


# ---- broadcasting binary ops ---------------------------------------------------------------------

BINARY = [
    ("add", lambda L: lambda a, b: L.add(a, b)),
    ("add_alpha", lambda L: lambda a, b: L.add(a, b, alpha=2.0)),
    ("sub", lambda L: lambda a, b: a.sub(b)),
    ("mul", lambda L: lambda a, b: L.mul(a, b)),
    ("div", lambda L: lambda a, b: a.div(b.abs() + 1)),
    ("pow", lambda L: lambda a, b: L.pow(a.abs() + 0.5, b)),
    ("maximum", lambda L: lambda a, b: L.maximum(a, b)),
    ("minimum", lambda L: lambda a, b: a.minimum(b)),
    ("atan2", lambda L: lambda a, b: L.atan2(a, b)),
    ("+", lambda L: lambda a, b: a + b),
    ("-", lambda L: lambda a, b: a - b),
    ("*", lambda L: lambda a, b: a * b),
    ("/", lambda L: lambda a, b: a / (b.abs() + 1)),
    ("**", lambda L: lambda a, b: (a.abs() + 0.5) ** b),
    ("//", lambda L: lambda a, b: a // (b.abs() + 0.5)),
    ("%", lambda L: lambda a, b: a % (b.abs() + 0.5)),
    (">", lambda L: lambda a, b: a > b),
    ("<=", lambda L: lambda a, b: a <= b),
    ("==", lambda L: lambda a, b: (a > 0) == (b > 0)),
    ("ne", lambda L: lambda a, b: L.ne(a > 0, b > 0)),
    ("&", lambda L: lambda a, b: (a > 0) & (b < 0)),
    ("|", lambda L: lambda a, b: (a > 0) | (b > 0)),
    ("logical_and", lambda L: lambda a, b: L.logical_and(a > 0, b > 0)),
    ("where", lambda L: lambda a, b: L.where(a > 0, a, b)),
    ("where_cond_b", lambda L: lambda a, b: L.where(b > 0, a, 0.5)),
    ("masked_fill", lambda L: lambda a, b: a.masked_fill(b > 0, 0.25)),
    ("lerp", lambda L: lambda a, b: L.lerp(a, b, 0.3)),
    ("addcmul", lambda L: lambda a, b: L.addcmul(a, a, b, value=0.5)),
    ("max_binary", lambda L: lambda a, b: L.max(a, b)),
    ("min_binary", lambda L: lambda a, b: L.min(a, b)),
]

# (a's logical shape, a's in_dim, b's logical shape, b's in_dim)
OPERANDS = {
    "bb": ((4, 5), 0, (4, 5), 1),
    "b_u": ((4, 5), 0, (4, 5), None),
    "b_ubcast": ((4, 5), -1, (5,), None),
    "u_b": ((4, 5), None, (5,), 0),
    "b_blow": ((4, 5), 0, (5,), 0),
    "blow_b": ((5,), 0, (4, 5), 1),
    "b_bscalar": ((4, 5), 1, (), 0),
    "bscalar_u": ((), 0, (4, 5), None),
}


def _binary_inputs(cfg):
    sa, da, sb, db = OPERANDS[cfg]
    return [mapped(sa, da, seed=1), mapped(sb, db, seed=2)], (da, db)


@pytest.mark.parametrize(CASE_ARGS, [
    case(f"{name}-{cfg}-out{(0, 1)[i % 2]}", mk, *_binary_inputs(cfg), (0, 1)[i % 2])
    for i, (name, mk) in enumerate(BINARY) for cfg in OPERANDS])
def test_binary(make, inputs, in_dims, out_dims, strict, tol, dtype):
    check(make, inputs, in_dims, out_dims, strict, tol, dtype)


def test_masked_fill_batched_self_unbatched_mask():
    m = arr(4, 5, seed=5) > 0
    check(lambda L: lambda a, m: a.masked_fill(m, -1.0), [mapped((4, 5), 1), m], (1, None))


def test_masked_fill_unbatched_self_batched_mask():
    m = mapped((4, 5), 0, seed=5) > 0
    check(lambda L: lambda a, m: a.masked_fill(m, -1.0), [arr(4, 5), m], (None, 0))


def test_where_three_batched_operands_different_ranks():
    check(lambda L: lambda c, a, b: L.where(c > 0, a, b),
          [mapped((4, 1), 0, seed=1), mapped((5,), 1, seed=2), mapped((), 0, seed=3)], (0, 1, 0))


def test_binary_float32():
    check(lambda L: lambda a, b: (a * b + a / (b.abs() + 1)).exp(), [mapped((4, 5), 0), mapped((5,), None, 1)],
          (0, None), 1, tol=1e-5, dtype="float32")


# ---- reductions ----------------------------------------------------------------------------------

REDUCE = [
    ("sum", lambda L: lambda x: x.sum()),
    ("sum_dim", lambda L: lambda x: L.sum(x, 1)),
    ("sum_neg_keep", lambda L: lambda x: x.sum(dim=-1, keepdim=True)),
    ("sum_tuple", lambda L: lambda x: x.sum((0, 2))),
    ("sum_tuple_neg_keep", lambda L: lambda x: L.sum(x, dim=(-1, 0), keepdim=True)),
    ("sum_dim_None", lambda L: lambda x: x.sum(dim=None)),
    ("mean", lambda L: lambda x: x.mean()),
    ("mean_neg", lambda L: lambda x: x.mean(-2)),
    ("mean_tuple", lambda L: lambda x: L.mean(x, dim=(0, 1))),
    ("mean_keep", lambda L: lambda x: x.mean(0, keepdim=True)),
    ("amax", lambda L: lambda x: x.amax(1)),
    ("amax_tuple_keep", lambda L: lambda x: L.amax(x, dim=(0, -1), keepdim=True)),
    ("amin", lambda L: lambda x: x.amin(-1)),
    ("var", lambda L: lambda x: x.var()),
    ("var_dim", lambda L: lambda x: x.var(1)),
    ("var_unbiased_keep", lambda L: lambda x: x.var(dim=-1, unbiased=False, keepdim=True)),
    ("var_correction_tuple", lambda L: lambda x: L.var(x, dim=(0, 2), correction=0)),
    ("std", lambda L: lambda x: x.std()),
    ("std_dim", lambda L: lambda x: L.std(x, 0)),
    ("std_neg_keep", lambda L: lambda x: x.std(dim=-1, keepdim=True)),
    ("logsumexp", lambda L: lambda x: x.logsumexp(1)),
    ("logsumexp_tuple_keep", lambda L: lambda x: L.logsumexp(x, dim=(-1, 0), keepdim=True)),
    ("norm", lambda L: lambda x: x.norm()),
    ("norm_dim", lambda L: lambda x: x.norm(dim=1)),
    ("norm_p1_neg_keep", lambda L: lambda x: x.norm(p=1, dim=-1, keepdim=True)),
    ("norm_fn_positional", lambda L: lambda x: L.norm(x, 2, 1)),
    ("norm_tuple", lambda L: lambda x: x.norm(dim=(0, 2))),
    ("prod_dim", lambda L: lambda x: x.prod(1)),
    ("all_dim", lambda L: lambda x: (x > -1).all(1)),
    ("any", lambda L: lambda x: (x > 1).any(-1)),
    ("nansum", lambda L: lambda x: L.nansum(x, 1)),
    ("count_nonzero", lambda L: lambda x: L.count_nonzero(x > 0, 1)),
]


@pytest.mark.parametrize(CASE_ARGS, [
    case(f"{name}-in{DIMS3[i % 3]}-out{(0, -1)[i % 2]}", mk, [mapped((4, 5, 6), DIMS3[i % 3], seed=i)],
         DIMS3[i % 3], (0, -1)[i % 2])
    for i, (name, mk) in enumerate(REDUCE)])
def test_reduce(make, inputs, in_dims, out_dims, strict, tol, dtype):
    check(make, inputs, in_dims, out_dims, strict, tol, dtype)


def test_reduce_float32():
    check(lambda L: lambda x: (x.exp().sum(-1), x.var(0), x.logsumexp(1)), [mapped((4, 5), 1)], 1, (0, 1, 0),
          tol=1e-5, dtype="float32")


# ---- along a dim: softmax, log_softmax, cumsum ...

ALONG = [
    ("F.softmax", lambda L: lambda x: nnf(L).softmax(x, dim=-1)),
    ("softmax_method", lambda L: lambda x: x.softmax(1)),
    ("log_softmax", lambda L: lambda x: L.log_softmax(x, 0)),
    ("F.log_softmax", lambda L: lambda x: nnf(L).log_softmax(x, dim=1)),
    ("cumsum", lambda L: lambda x: x.cumsum(dim=-2)),
    ("cumsum_fn", lambda L: lambda x: L.cumsum(x, 1)),
    ("cumprod", lambda L: lambda x: x.cumprod(0)),
    ("logcumsumexp", lambda L: lambda x: x.logcumsumexp(-1)),
    ("argsort", lambda L: lambda x: x.argsort(dim=-1)),
]


@pytest.mark.parametrize(CASE_ARGS, [
    case(f"{name}-in{DIMS3[i % 3]}-out{(0, 1)[i % 2]}", mk, [mapped((4, 5, 6), DIMS3[i % 3], seed=i)], DIMS3[i % 3],
         (0, 1)[i % 2])
    for i, (name, mk) in enumerate(ALONG)])
def test_along_dim(make, inputs, in_dims, out_dims, strict, tol, dtype):
    check(make, inputs, in_dims, out_dims, strict, tol, dtype)


# ---- max / min / argmax

MAXMIN = [
    ("max", lambda L: lambda x: x.max()),
    ("max_dim", lambda L: lambda x: x.max(1)),
    ("max_dim_keep", lambda L: lambda x: x.max(dim=-1, keepdim=True)),
    ("max_fn_dim", lambda L: lambda x: tuple(L.max(x, 0))),
    ("max_fn_positional_keep", lambda L: lambda x: tuple(L.max(x, 1, True))),
    ("min", lambda L: lambda x: L.min(x)),
    ("min_dim_values", lambda L: lambda x: x.min(-2).values),
    ("min_dim_indices", lambda L: lambda x: x.min(dim=2).indices),
    ("argmax", lambda L: lambda x: x.argmax()),
    ("argmax_dim", lambda L: lambda x: L.argmax(x, 1)),
    ("argmax_keep", lambda L: lambda x: x.argmax(dim=-1, keepdim=True)),
    ("argmin", lambda L: lambda x: x.argmin()),
    ("argmin_dim", lambda L: lambda x: x.argmin(0)),
]


@pytest.mark.parametrize(CASE_ARGS, [
    case(f"{name}-in{DIMS3[i % 3]}-out{(0, -1)[i % 2]}", mk, [mapped((4, 5, 6), DIMS3[i % 3], seed=i)],
         DIMS3[i % 3], (0, -1)[i % 2])
    for i, (name, mk) in enumerate(MAXMIN)])
def test_max_min(make, inputs, in_dims, out_dims, strict, tol, dtype):
    check(make, inputs, in_dims, out_dims, strict, tol, dtype)


def test_max_dim_out_dims_tuple():
    check(lambda L: lambda x: tuple(x.max(1)), [mapped((4, 5), 0)], 0, (1, 0))


# ---- shape ops -----------------------------------------------------------------------------------

SHAPE = [
    ("reshape", lambda L: lambda x: x.reshape(4, 30)),
    ("reshape_tuple", lambda L: lambda x: x.reshape((6, 5, 4))),
    ("reshape_-1", lambda L: lambda x: x.reshape(-1)),
    ("reshape_fn", lambda L: lambda x: L.reshape(x, (2, -1, 6))),
    ("view", lambda L: lambda x: x.contiguous().view(20, 6)),
    ("view_-1", lambda L: lambda x: x.contiguous().view(-1, 3)),
    ("view_as", lambda L: lambda x: x.contiguous().view_as(L.zeros(120))),
    ("reshape_as", lambda L: lambda x: x.reshape_as(L.zeros(5, 24))),
    ("flatten", lambda L: lambda x: x.flatten()),
    ("flatten_start", lambda L: lambda x: x.flatten(1)),
    ("flatten_fn", lambda L: lambda x: L.flatten(x, 0, 1)),
    ("flatten_neg", lambda L: lambda x: x.flatten(-2, -1)),
    ("unflatten", lambda L: lambda x: x.unflatten(1, (5, 1))),
    ("unflatten_neg", lambda L: lambda x: x.unflatten(-1, (2, 3))),
    ("unsqueeze0", lambda L: lambda x: x.unsqueeze(0)),
    ("unsqueeze_neg", lambda L: lambda x: L.unsqueeze(x, -1)),
    ("unsqueeze_mid", lambda L: lambda x: x.unsqueeze(2)),
    ("squeeze_all", lambda L: lambda x: x[:, :1, None].squeeze()),
    ("squeeze_dim", lambda L: lambda x: x[:, :1].squeeze(1)),
    ("squeeze_dim_noop", lambda L: lambda x: x.squeeze(0)),
    ("squeeze_neg", lambda L: lambda x: x[..., :1].squeeze(-1)),
    ("squeeze_tuple", lambda L: lambda x: x[:1, :, :1].squeeze((0, 2))),
    ("transpose", lambda L: lambda x: x.transpose(0, 1)),
    ("transpose_neg", lambda L: lambda x: L.transpose(x, -1, -3)),
    ("swapaxes", lambda L: lambda x: x.swapaxes(0, 2)),
    ("t", lambda L: lambda x: x[0].t()),
    ("t_fn", lambda L: lambda x: L.t(x[:, 0])),
    ("T", lambda L: lambda x: x[:, :, 0].T),
    ("mT", lambda L: lambda x: x.mT),
    ("permute", lambda L: lambda x: x.permute(2, 0, 1)),
    ("permute_tuple_neg", lambda L: lambda x: x.permute((-1, 1, 0))),
    ("permute_fn", lambda L: lambda x: L.permute(x, (1, 2, 0))),
    ("movedim", lambda L: lambda x: x.movedim(0, -1)),
    ("movedim_tuple", lambda L: lambda x: L.movedim(x, (0, 1), (2, 0))),
    # (torch's vmap has no batching rule for moveaxis: its reference is the same movedim)
    ("moveaxis", lambda L: lambda x: (x.moveaxis if L is ember else x.movedim)(-1, 0)),
    ("expand_new_dims", lambda L: lambda x: x[:, :, :1].expand(2, 4, 5, 7)),
    ("expand_minus1", lambda L: lambda x: x[:, :1].expand(-1, 3, 6)),
    ("expand_tuple", lambda L: lambda x: x[:1].expand((4, 5, 6))),
    ("expand_as_unbatched", lambda L: lambda x: x[:, :1, :].expand_as(L.zeros(2, 4, 5, 6))),
    ("select", lambda L: lambda x: x.select(1, 2)),
    ("select_neg", lambda L: lambda x: L.select(x, -1, -1)),
    ("narrow", lambda L: lambda x: x.narrow(1, 1, 3)),
    ("narrow_neg", lambda L: lambda x: L.narrow(x, -1, 2, 4)),
    ("unbind", lambda L: lambda x: x.unbind(1)),
    ("unbind_default", lambda L: lambda x: L.unbind(x)),
    ("unbind_neg", lambda L: lambda x: x.unbind(dim=-1)),
    ("split", lambda L: lambda x: x.split(2, dim=1)),
    ("split_sizes", lambda L: lambda x: L.split(x, [1, 3], 0)),
    ("split_default", lambda L: lambda x: x.split(3)),
    ("chunk", lambda L: lambda x: x.chunk(2, -1)),
    ("chunk_fn", lambda L: lambda x: L.chunk(x, 3, dim=1)),
    ("tensor_split", lambda L: lambda x: L.tensor_split(x, 3, dim=2)),
]


@pytest.mark.parametrize(CASE_ARGS, [
    case(f"{name}-in{d}-out{o}", mk, [mapped((4, 5, 6), d, seed=i)], d, o)
    for i, (name, mk) in enumerate(SHAPE)
    for d, o in ([(0, 0), (0, 1)] if name.startswith("view") else [(DIMS3[i % 3], (0, 1, -1)[(i // 3) % 3])])])
def test_shape(make, inputs, in_dims, out_dims, strict, tol, dtype):
    check(make, inputs, in_dims, out_dims, strict, tol, dtype)


def test_expand_as_batched_other():
    check(lambda L: lambda x, y: x.expand_as(y), [mapped((4, 1), 0), mapped((2, 4, 6), 1, seed=1)], (0, 1))


CAT = [
    ("cat_unbatched", lambda L: lambda x, y: L.cat([x, y], dim=1), ((4, 5), 0, (4, 2), None)),
    ("cat_both", lambda L: lambda x, y: L.cat([x, y * 2], -1), ((4, 5), 1, (4, 3), -1)),
    ("cat_default", lambda L: lambda x, y: L.cat((y, x)), ((4, 5), -1, (2, 5), None)),
    ("cat_three", lambda L: lambda x, y: L.cat([x, y, x], 0), ((4, 5), 0, (1, 5), 1)),
    ("concat", lambda L: lambda x, y: L.concat([x, y], dim=-2), ((4, 5), 0, (3, 5), 0)),
    ("stack_default", lambda L: lambda x, y: L.stack([x, y]), ((4, 5), 0, (4, 5), None)),
    ("stack_neg", lambda L: lambda x, y: L.stack([x, y], dim=-1), ((4, 5), 1, (4, 5), 0)),
    ("stack_mid", lambda L: lambda x, y: L.stack((x, x, y), 1), ((4, 5), -1, (4, 5), None)),
    ("stack_1d", lambda L: lambda x, y: L.stack([x, y], 1), ((5,), 0, (5,), 0)),
]


@pytest.mark.parametrize(CASE_ARGS, [
    case(f"{name}-out{i % 2}", mk, [mapped(sa, da, seed=1), mapped(sb, db, seed=2)], (da, db), i % 2)
    for i, (name, mk, (sa, da, sb, db)) in enumerate(CAT)])
def test_cat_stack(make, inputs, in_dims, out_dims, strict, tol, dtype):
    check(make, inputs, in_dims, out_dims, strict, tol, dtype)


# ---- indexing ------------------------------------------------------------------------------------

GETITEM = [
    ("int", lambda L: lambda x: x[0]),
    ("neg_int", lambda L: lambda x: x[-1]),
    ("slice", lambda L: lambda x: x[:, 1]),
    ("slices_step", lambda L: lambda x: x[1:3, ::2]),
    ("neg_slice", lambda L: lambda x: x[-2:, :, 1:-1]),
    ("None", lambda L: lambda x: x[None]),
    ("None_mid", lambda L: lambda x: x[:, None, 2]),
    ("ellipsis", lambda L: lambda x: x[..., 0]),
    ("int_ellipsis_None", lambda L: lambda x: x[0, ..., None]),
    ("ellipsis_slice", lambda L: lambda x: x[..., 1:4, :]),
    ("index_tensor", lambda L: lambda x: x[L.tensor([2, 0, 2])]),
    ("index_tensor_dim1", lambda L: lambda x: x[:, L.tensor([4, 1])]),
    ("index_tensor_2d", lambda L: lambda x: x[L.tensor([[0, 1], [3, 2]])]),
    ("index_tensor_ellipsis", lambda L: lambda x: x[..., L.tensor([5, 0])]),
    ("int_then_index_tensor", lambda L: lambda x: x[0, :, L.tensor([2, 0])]),
    ("two_adjacent_index_tensors", lambda L: lambda x: x[L.tensor([0, 3]), L.tensor([1, 4])]),
    ("two_separated_index_tensors", lambda L: lambda x: x[L.tensor([0, 3]), :, L.tensor([1, 5])]),
    ("index_tensor_slice_index_tensor", lambda L: lambda x: x[L.tensor([2, 0]), 1:3, L.tensor([5, 1])]),
]


@pytest.mark.parametrize(CASE_ARGS, [
    case(f"{name}-in{DIMS3[i % 3]}", mk, [mapped((4, 5, 6), DIMS3[i % 3], seed=i)], DIMS3[i % 3], (0, 1)[i % 2])
    for i, (name, mk) in enumerate(GETITEM)])
def test_getitem(make, inputs, in_dims, out_dims, strict, tol, dtype):
    check(make, inputs, in_dims, out_dims, strict, tol, dtype)


def test_getitem_with_unbatched_index_tensor_argument():
    check(lambda L: lambda x, i: x[i] * 2, [mapped((4, 5), 1), np.array([3, 3, 0], dtype=np.int64)], (1, None))


def _setitems(L):
    def f(x):
        y = x.clone()
        y[0] = 0.0
        y[:, 1] = 5.0
        y[..., -1] = -2.0
        y[1:3, ::2] = 7.5
        y[2] = L.ones(6, dtype=x.dtype)
        return y
    return f


@pytest.mark.parametrize("d", DIMS3)
def test_setitem_scalar(d):
    check(_setitems, [mapped((4, 5, 6), d)], d, 0)


def test_setitem_index_tensor_scalar():
    def mk(L):
        def f(x):
            y = x * 1
            y[L.tensor([0, 2])] = 3.0
            return y
        return f
    check(mk, [mapped((4, 5), 0)], 0, 1)


# ---- products ------------------------------------------------------------------------------------

M_, K_, P_, B_, NM = 3, 4, 5, 2, 7  # rows, inner, columns, the operands' own batch, the mapped size
A_SHAPES = {1: (K_,), 2: (M_, K_), 3: (B_, M_, K_)}
B_SHAPES = {1: (K_,), 2: (K_, P_), 3: (B_, K_, P_)}
# combinations matmul's rule declines (NotImplemented: per slice by design, Note [Batched vmap])
MATMUL_DECLINED = {(1, True, 3, False), (3, False, 1, True), (3, False, 2, True), (3, False, 3, True),
                   (1, False, 1, True)}


def _matmul_cases():
    out = []
    for na in (1, 2, 3):
        for nb in (1, 2, 3):
            for ba, bb in ((True, False), (False, True), (True, True)):
                da = (0, -1, 1)[(na + nb) % 3] if ba else None
                db = (1, 0, -1)[(na * nb) % 3] if bb else None
                ins = [mapped(A_SHAPES[na], da, seed=1, n=NM), mapped(B_SHAPES[nb], db, seed=2, n=NM)]
                strict = (na, ba, nb, bb) not in MATMUL_DECLINED
                for opname, mk in (("matmul", lambda L: lambda a, b: L.matmul(a, b)),
                                   ("@", lambda L: lambda a, b: a @ b)):
                    out.append(case(f"{opname}-{na}d{'b' if ba else 'u'}-{nb}d{'b' if bb else 'u'}", mk, ins,
                                    (da, db), (na + nb) % 2, strict))
                if na == nb == 2:
                    out.append(case(f"mm-{'b' if ba else 'u'}{'b' if bb else 'u'}",
                                    lambda L: lambda a, b: L.mm(a, b), ins, (da, db), 0))
                    out.append(case(f"Tensor.mm-{'b' if ba else 'u'}{'b' if bb else 'u'}",
                                    lambda L: lambda a, b: a.mm(b), ins, (da, db), 1))
                if na == nb == 3:
                    out.append(case(f"bmm-{'b' if ba else 'u'}{'b' if bb else 'u'}",
                                    lambda L: lambda a, b: L.bmm(a, b), ins, (da, db), 0, not (ba is False)))
    return out


@pytest.mark.parametrize(CASE_ARGS, _matmul_cases())
def test_matmul(make, inputs, in_dims, out_dims, strict, tol, dtype):
    check(make, inputs, in_dims, out_dims, strict, tol, dtype)


def test_rmatmul_unbatched_tensor_at_batched():
    check(lambda L: lambda a, b: a @ b, [arr(M_, K_), mapped((K_, P_), 0, n=NM)], (None, 0))


def test_matmul_float32():
    check(lambda L: lambda a, b: a @ b, [mapped((M_, K_), 0, n=NM), mapped((K_, P_), None)], (0, None), 0,
          tol=1e-5, dtype="float32")


def _linear_cases():
    out = []
    x_shapes = {1: (4,), 2: (5, 4), 3: (2, 5, 4)}
    for xd in (1, 2, 3):
        for has_bias in (False, True):
            for bx in (True, False):
                for bw in (True, False):
                    for bb in ((True, False) if has_bias else (False,)):
                        if not (bx or bw or bb):
                            continue
                        dx = (0, 1)[xd % 2] if bx else None
                        dw = (0, -1)[xd % 2] if bw else None
                        db = 0 if bb else None
                        ins = [mapped(x_shapes[xd], dx, seed=1), mapped((3, 4), dw, seed=2)]
                        dims = (dx, dw)
                        if has_bias:
                            ins.append(mapped((3,), db, seed=3))
                            dims += (db,)
                            mk = (lambda L: lambda x, w, b: nnf(L).linear(x, w, b))
                        else:
                            mk = (lambda L: lambda x, w: nnf(L).linear(x, w))
                        tag = "".join(c for c, on in (("x", bx), ("w", bw), ("b", bb)) if on)
                        out.append(case(f"linear-x{xd}d-{'bias' if has_bias else 'nobias'}-batched_{tag}", mk, ins,
                                        dims, xd % 2))
    return out


@pytest.mark.parametrize(CASE_ARGS, _linear_cases())
def test_linear(make, inputs, in_dims, out_dims, strict, tol, dtype):
    check(make, inputs, in_dims, out_dims, strict, tol, dtype)


def test_linear_bias_keyword():
    check(lambda L: lambda x, w, b: nnf(L).linear(x, w, bias=b),
          [mapped((5, 4), 0), mapped((3, 4), 0, seed=1), mapped((3,), None, seed=2)], (0, 0, None))


# ---- losses --------------------------------------------------------------------------------------

@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("target_batched", [True, False])
def test_mse_loss(reduction, target_batched):
    dt = 1 if target_batched else None
    check(lambda L: lambda a, t: nnf(L).mse_loss(a, t, reduction=reduction),
          [mapped((5, 2), 0), mapped((5, 2), dt, seed=1)], (0, dt))


def test_mse_loss_unbatched_input_batched_target():
    check(lambda L: lambda a, t: nnf(L).mse_loss(a, t), [arr(5, 2), mapped((5, 2), -1, seed=1)], (None, -1))


def _targets(batched, seed):
    t = ints(N, 6, high=4, seed=seed) if batched else ints(6, high=4, seed=seed)
    t.flat[1] = 1  # some targets equal to the ignore_index used below
    t.flat[4] = 1
    return t


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("opts", ["plain", "weight", "ignore_index", "label_smoothing", "all"])
@pytest.mark.parametrize("target_batched", [True, False])
def test_cross_entropy(reduction, opts, target_batched):
    w = np.array([0.5, 2.0, 1.0, 1.5])
    kw = {}
    if opts in ("ignore_index", "all"):
        kw["ignore_index"] = 1
    if opts in ("label_smoothing", "all"):
        kw["label_smoothing"] = 0.2

    def mk(L):
        def f(x, t, w):
            return nnf(L).cross_entropy(x, t, weight=w if opts in ("weight", "all") else None, reduction=reduction,
                                        **kw)
        return f
    dt = 0 if target_batched else None
    # torch.func.vmap cannot map weight + ignore_index + label_smoothing with reduction='mean' over the
    # targets (its masked_select has no batching rule): torch's per-slice results are the reference there
    loop = target_batched and opts == "all" and reduction == "mean"
    check(mk, [mapped((6, 4), 1), _targets(target_batched, 3), w], (1, dt, None), ref="loop" if loop else "vmap")


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_cross_entropy_unbatched_logits_batched_targets(label_smoothing):
    # with label smoothing torch.func.vmap raises (an in-place op inside its implementation): per-slice torch
    check(lambda L: lambda x, t: nnf(L).cross_entropy(x, t, label_smoothing=label_smoothing),
          [arr(6, 4), _targets(True, 3)], (None, 0), ref="loop" if label_smoothing else "vmap")


def test_cross_entropy_one_sample_per_slice():
    check(lambda L: lambda x, t: nnf(L).cross_entropy(x, t), [mapped((4,), 0), ints(N, high=4, seed=2)], (0, 0))


def test_cross_entropy_probability_targets():
    p = np.abs(mapped((6, 4), 0, seed=2))
    p = p / p.sum(-1, keepdims=True)
    check(lambda L: lambda x, p: nnf(L).cross_entropy(x, p, label_smoothing=0.1), [mapped((6, 4), 0), p], (0, 0))


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("opts", ["plain", "weight_ignore"])
def test_nll_loss(reduction, opts):
    w = np.array([0.5, 2.0, 1.0, 1.5])

    def mk(L):
        def f(x, t, w):
            kw = {"weight": w, "ignore_index": 1} if opts == "weight_ignore" else {}
            return nnf(L).nll_loss(nnf(L).log_softmax(x, -1), t, reduction=reduction, **kw)
        return f
    check(mk, [mapped((6, 4), -1), _targets(True, 4), w], (-1, 0, None))


# ---- convolutions and pools ----------------------------------------------------------------------

@pytest.mark.parametrize("d", [0, 1])
@pytest.mark.parametrize("opts", ["plain", "bias_stride_padding"])
def test_conv1d(d, opts):
    kw = {"stride": 2, "padding": 1} if opts != "plain" else {}

    def mk(L):
        return lambda x, w, b: nnf(L).conv1d(x, w, b if opts != "plain" else None, **kw)
    check(mk, [mapped((2, 3, 8), d), arr(4, 3, 3, seed=1), arr(4, seed=2)], (d, None, None), d)


@pytest.mark.parametrize("d", [0, -1])
@pytest.mark.parametrize("opts", ["plain", "bias_stride_padding", "dilation_groups"])
def test_conv2d(d, opts):
    kw = {"plain": {}, "bias_stride_padding": {"stride": 2, "padding": 1},
          "dilation_groups": {"dilation": 2, "groups": 2, "padding": 2}}[opts]
    w = arr(4, 1, 3, 3, seed=1) if opts == "dilation_groups" else arr(4, 2, 3, 3, seed=1)

    def mk(L):
        return lambda x, w, b: nnf(L).conv2d(x, w, b if opts != "plain" else None, **kw)
    check(mk, [mapped((2, 2, 6, 7), d), w, arr(4, seed=2)], (d, None, None))


def test_conv2d_float32():
    check(lambda L: lambda x, w: nnf(L).conv2d(x, w, padding=1), [mapped((2, 2, 6, 7), 0), arr(4, 2, 3, 3, seed=1)],
          (0, None), tol=1e-5, dtype="float32")


def test_conv2d_unbatched_per_slice_input():
    # a (C, H, W) slice: conv's rule covers (N, C, H, W) slices only, this one runs per slice
    check(lambda L: lambda x, w: nnf(L).conv2d(x, w), [mapped((2, 6, 7), 0), arr(4, 2, 3, 3, seed=1)], (0, None),
          strict=False)


def test_conv2d_batched_weight():
    # per-sample weights: conv's rule needs unbatched weights, this one runs per slice
    check(lambda L: lambda x, w: nnf(L).conv2d(x, w), [mapped((2, 2, 6, 7), 0), mapped((4, 2, 3, 3), 0, seed=1)],
          (0, 0), strict=False)


POOLS = [
    ("max_pool2d", lambda L: lambda x: nnf(L).max_pool2d(x, 2)),
    ("max_pool2d_stride_pad_indices", lambda L: lambda x: nnf(L).max_pool2d(x, 3, stride=2, padding=1,
                                                                              return_indices=True)),
    ("max_pool2d_ceil", lambda L: lambda x: nnf(L).max_pool2d(x, (2, 3), ceil_mode=True)),
    ("avg_pool2d", lambda L: lambda x: nnf(L).avg_pool2d(x, 2)),
    ("avg_pool2d_pad_exclude", lambda L: lambda x: nnf(L).avg_pool2d(x, 3, stride=2, padding=1,
                                                                       count_include_pad=False)),
    ("adaptive_avg_pool2d", lambda L: lambda x: nnf(L).adaptive_avg_pool2d(x, (2, 3))),
    ("adaptive_avg_pool2d_1", lambda L: lambda x: nnf(L).adaptive_avg_pool2d(x, 1)),
]


@pytest.mark.parametrize(CASE_ARGS, [
    case(f"{name}-in{(0, 1, -1)[i % 3]}", mk, [mapped((2, 3, 6, 7), (0, 1, -1)[i % 3], seed=i)], (0, 1, -1)[i % 3],
         (0, 1)[i % 2])
    for i, (name, mk) in enumerate(POOLS)])
def test_pool(make, inputs, in_dims, out_dims, strict, tol, dtype):
    check(make, inputs, in_dims, out_dims, strict, tol, dtype)


def test_small_cnn_under_vmap_takes_no_fallback():
    def mk(L):
        F = nnf(L)

        def f(x, w1, w2, b2):
            h = F.max_pool2d(F.relu(F.conv2d(x, w1, padding=1)), 2)
            h = F.adaptive_avg_pool2d(h, (1, 1)).flatten(1)
            return F.log_softmax(F.linear(h, w2, b2), dim=-1)
        return f
    check(mk, [mapped((2, 2, 6, 6), 0), arr(3, 2, 3, 3, seed=1), arr(4, 3, seed=2), arr(4, seed=3)],
          (0, None, None, None))


# ---- the fallback for an op without a rule -------------------------------------------------------

def test_op_without_rule_goes_through_fallback():
    assert "flip" not in _batched.RULES and "roll" not in _batched.RULES

    def mk(L):
        return lambda x, y: L.flip(x, (0,)) * 2 + L.roll(y, 1, -1)
    ins = [mapped((4, 5), 1), mapped((4, 5), 0, seed=1)]
    t = run(torch, tfunc, mk, ins, (1, 0), 1, "float64")
    with spy_fallback() as calls:
        e = run(ember, efunc, mk, ins, (1, 0), 1, "float64")
    assert_same(e, t)
    assert "flip" in calls and "roll" in calls


def test_fallback_method_form():
    def mk(L):
        return lambda x: x.flip(-1).tril()
    ins = [mapped((4, 5), -1)]
    t = run(torch, tfunc, mk, ins, -1, 0, "float64")
    with spy_fallback() as calls:
        e = run(ember, efunc, mk, ins, -1, 0, "float64")
    assert_same(e, t)
    assert calls[:1] == ["flip"]


def test_ops_with_rules_do_not_touch_fallback_spy():
    def mk(L):
        return lambda x, w: (nnf(L).softmax(x @ w, -1).sum(0) + x.mean(0)[:2].unsqueeze(0)).tanh()
    ins = [mapped((4, 5), 0), arr(5, 2, seed=1)]
    t = run(torch, tfunc, mk, ins, (0, None), 0, "float64")
    with spy_fallback() as calls:
        e = run(ember, efunc, mk, ins, (0, None), 0, "float64")
    assert_same(e, t)
    assert calls == []


# ---- metadata ------------------------------------------------------------------------------------

def test_logical_metadata_inside_vmap():
    def mk(L):
        def f(x):
            assert tuple(x.shape) == (4, 5) and x.dim() == 2 and x.ndim == 2 and len(x) == 4
            assert x.size(-1) == 5 and tuple(x.size()) == (4, 5) and x.numel() == 20
            return x * x.shape[0] + x.size(1)
        return f
    check(mk, [mapped((4, 5), 1)], 1, 0)


# ---- gradients -----------------------------------------------------------------------------------

def test_gradients_flow_through_vmap_to_inputs():
    def go(L, F):
        x = L.tensor(mapped((4,), 1), requires_grad=True)   # (4, N): in_dim 1
        w = L.tensor(arr(4, 5, seed=1), requires_grad=True)  # unbatched
        b = L.tensor(mapped((5,), 0, seed=2), requires_grad=True)

        def f(x, w, b):
            h = (x.tanh() @ w + b).sigmoid()
            return nnf(L).log_softmax(h, -1) * x.sum()
        out = F.vmap(f, in_dims=(1, None, 0), out_dims=1)(x, w, b)
        out.pow(2).sum().backward()
        return out, x.grad, w.grad, b.grad
    e, t = both(go)
    assert_same(e, t)


@pytest.mark.parametrize("rows", [5, 1, 0])
@pytest.mark.parametrize("shared_w", [False, True])
def test_gradients_of_a_batched_linear_layer(rows, shared_w):
    """A stack of linear layers (one weight and bias per slice, or one weight for all) under vmap: the
    input's, weights' and biases' gradients are torch's, also with no rows; float64 gradcheck."""
    def go(L, F):
        x = L.tensor(arr(N, rows, 4, seed=3), requires_grad=True)
        w = L.tensor(arr(5, 4, seed=4) if shared_w else arr(N, 5, 4, seed=4), requires_grad=True)
        b = L.tensor(arr(N, 5, seed=5), requires_grad=True)
        out = F.vmap(nnf(L).linear, in_dims=(0, None if shared_w else 0, 0))(x, w, b)
        (out * L.tensor(arr(*out.shape, seed=6))).sum().backward()
        return out, x.grad, w.grad, b.grad
    e, t = both(go)
    assert_same(e, t)
    x = ember.tensor(arr(N, rows, 4, seed=3), requires_grad=True)
    w = ember.tensor(arr(5, 4, seed=4) if shared_w else arr(N, 5, 4, seed=4), requires_grad=True)
    b = ember.tensor(arr(N, 5, seed=5), requires_grad=True)
    f = efunc.vmap(ember.nn.functional.linear, in_dims=(0, None if shared_w else 0, 0))
    assert ember.autograd.gradcheck(f, (x, w, b))


def test_gradients_through_vmap_shape_ops_and_losses():
    def go(L, F):
        x = L.tensor(mapped((6, 4), 0), requires_grad=True)
        t = L.tensor(_targets(True, 3))

        def f(x, t):
            z = x.reshape(2, 3, 4).transpose(0, 1).flatten(1)[:, :4]
            return nnf(L).cross_entropy(z * 2, t[:3], label_smoothing=0.1) + x.norm(dim=-1).mean()
        out = F.vmap(f)(x, t)
        out.sum().backward()
        return out, x.grad
    e, t = both(go)
    assert_same(e, t)


def mlp(L, seed=0):
    m = L.nn.Sequential(L.nn.Linear(3, 4), L.nn.Tanh(), L.nn.Linear(4, 2)).double()
    with L.no_grad():
        for i, p in enumerate(m.parameters()):
            p.copy_(L.tensor(arr(*p.shape, seed=seed + i)))
    return m


@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_per_sample_gradients(loss):
    def go(L, F):
        m = mlp(L)
        params = {k: v.detach() for k, v in m.named_parameters()}
        x = L.tensor(arr(5, 3, seed=11))
        y = L.tensor(arr(5, 2, seed=12)) if loss == "mse" else L.tensor(ints(5, high=2, seed=12))

        def compute_loss(params, xi, yi):
            out = F.functional_call(m, params, (xi.unsqueeze(0),))
            if loss == "mse":
                return nnf(L).mse_loss(out, yi.unsqueeze(0))
            return nnf(L).cross_entropy(out, yi.unsqueeze(0))
        g = F.vmap(F.grad(compute_loss), in_dims=(None, 0, 0))(params, x, y)
        gv = F.vmap(F.grad_and_value(compute_loss), in_dims=(None, 0, 0))(params, x, y)
        return g, gv
    e, t = both(go)
    assert_same(e, t)


def test_per_sample_gradients_without_fallback():
    def go(L, F):
        m = mlp(L)
        params = {k: v.detach() for k, v in m.named_parameters()}
        x = L.tensor(arr(5, 3, seed=11))
        y = L.tensor(arr(5, 2, seed=12))

        def compute_loss(params, xi, yi):
            return nnf(L).mse_loss(F.functional_call(m, params, (xi,)), yi)
        return F.vmap(F.grad(compute_loss), in_dims=(None, 0, 0))(params, x, y)
    t = go(torch, tfunc)
    with no_fallback():
        e = go(ember, efunc)
    assert_same(e, t)


def test_vmap_of_jacrev():
    def go(L, F):
        W = L.tensor(arr(2, 3, seed=1))

        def f(x):
            return (W @ x).tanh() * x[:2]
        x = L.tensor(arr(N, 3, seed=2))
        return F.vmap(F.jacrev(f))(x)
    e, t = both(go)
    assert_same(e, t)


def test_vmap_of_jacrev_argnums_and_unbatched_input():
    def go(L, F):
        def f(x, w):
            return (w @ x).sin() + x.sum()
        x = L.tensor(arr(3, N, seed=2))
        w = L.tensor(arr(2, 3, seed=3))
        return F.vmap(F.jacrev(f, argnums=(0, 1)), in_dims=(1, None))(x, w)
    e, t = both(go)
    assert_same(e, t)


def test_vmap_of_vjp():
    def go(L, F):
        def g(x, v):
            out, fn = F.vjp(lambda a: a.exp() * a.sum(), x)
            return out, fn(v)[0]
        return F.vmap(g)(L.tensor(arr(N, 4, seed=1)), L.tensor(arr(N, 4, seed=2)))
    e, t = both(go)
    assert_same(e, t)


def _ensemble(L, F, x_in_dim):
    models = []
    for k in range(4):
        m = L.nn.Sequential(L.nn.Linear(3, 5), L.nn.ReLU(), L.nn.Linear(5, 2)).double()
        with L.no_grad():
            for i, p in enumerate(m.parameters()):
                p.copy_(L.tensor(arr(*p.shape, seed=10 * k + i)))
        models.append(m)
    params, buffers = F.stack_module_state(models)
    base = copy.deepcopy(models[0])

    def fmodel(params, buffers, x):
        return F.functional_call(base, (params, buffers), (x,))
    x = L.tensor(arr(6, 3, seed=99) if x_in_dim is None else arr(4, 6, 3, seed=99))
    out = F.vmap(fmodel, in_dims=(0, 0, x_in_dim))(params, buffers, x)
    out.pow(2).sum().backward()
    return out, {k: v.grad for k, v in params.items()}, [m(x if x_in_dim is None else x[i])
                                                          for i, m in enumerate(models)]


@pytest.mark.parametrize("x_in_dim", [None, 0])
def test_model_ensembling(x_in_dim):
    (eo, eg, eplain), (to, tg, tplain) = both(lambda L, F: _ensemble(L, F, x_in_dim))
    assert_same(eo, to)
    assert_same(eg, tg)
    assert_same(eplain, tplain)
    assert_same(eo, np.stack(np_of(eplain)))  # each model's own output


def test_model_ensembling_without_fallback():
    t = _ensemble(torch, tfunc, None)
    with no_fallback():
        e = _ensemble(ember, efunc, None)
    assert_same(e, t)


def _mlp_chain(L, layers, k, bias_last, relu_last, dtype):
    mods = []
    for i, (fin, fout) in enumerate(layers):
        last = i == len(layers) - 1
        mods.append(L.nn.Linear(fin, fout, bias=bias_last or not last))
        if not last or relu_last:
            mods.append(L.nn.ReLU())
    m = L.nn.Sequential(*mods).to(getattr(L, dtype))
    with L.no_grad():
        for i, p in enumerate(m.parameters()):
            p.copy_(L.tensor(arr(*p.shape, seed=10 * k + i)))
    return m


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("x_shape,x_in_dim", [((6, 3), 0), ((6, 3), None), ((0, 3), 0), ((3,), 0), ((2, 4, 3), 0),
                                             ((6, 3), 1)])
@pytest.mark.parametrize("bias_last,relu_last", [(True, False), (False, True)])
def test_ensemble_linear_relu_chain_as_one_op(monkeypatch, dtype, x_shape, x_in_dim, bias_last, relu_last):
    """An ensemble's Sequential of Linear/ReLU under vmap over functional_call runs as one fused op
    (_C._batched_mlp): outputs, every stacked parameter's gradient and the input's are torch's, for
    batched and shared inputs, no rows, a 1-D input, extra leading dims, no last bias, a last ReLU."""
    layers = [(3, 7), (7, 9), (9, 2)]

    def go(L, F):
        models = [_mlp_chain(L, layers, k, bias_last, relu_last, dtype) for k in range(N)]
        params, buffers = F.stack_module_state(models)
        base = copy.deepcopy(models[0])
        shape = x_shape if x_in_dim is None else x_shape[:x_in_dim] + (N,) + x_shape[x_in_dim:]
        x = L.tensor(arr(*shape, seed=7), dtype=getattr(L, dtype), requires_grad=True)
        out = F.vmap(lambda p, b, xb: F.functional_call(base, (p, b), (xb,)), in_dims=(0, 0, x_in_dim))(params, buffers, x)
        (out * L.tensor(arr(*out.shape, seed=8), dtype=getattr(L, dtype))).sum().backward()
        return out, {k: v.grad for k, v in params.items()}, x.grad
    tol = 1e-12 if dtype == "float64" else 2e-5
    calls = []
    fused = ember._C._batched_mlp
    monkeypatch.setattr(ember._C, "_batched_mlp", lambda *a: calls.append(1) or fused(*a))
    with no_fallback():
        e = go(ember, efunc)
    assert calls == [1]
    assert_same(e, go(torch, tfunc), tol)


def _fused_chain_fn(relu_last):
    def f(x, *flat):
        ws, bs = flat[0::2], flat[1::2]
        out = ember._C._batched_mlp(x, list(ws), list(bs), [True] * (len(ws) - 1) + [relu_last])
        return out
    return f


@pytest.mark.parametrize("relu_last", [False, True])
def test_batched_mlp_gradcheck_and_gradgradcheck(relu_last):
    """The fused op's first and second derivatives (its create_graph recompute) against finite
    differences in float64, with one weight shared by every slice (stride 0, as vmap(grad) gives)."""
    g = np.random.default_rng(0)
    x = ember.tensor(g.standard_normal((3, 4, 2)) + 0.1, requires_grad=True)
    w0 = ember.tensor(g.standard_normal((5, 2)), requires_grad=True)
    flat = [w0.unsqueeze(0).expand(3, 5, 2), ember.tensor(g.standard_normal((3, 5)), requires_grad=True),
            ember.tensor(g.standard_normal((3, 2, 5)), requires_grad=True), ember.tensor(g.standard_normal((3, 2)), requires_grad=True)]
    f = _fused_chain_fn(relu_last)

    def h(x, w0, *rest):
        return f(x, w0.unsqueeze(0).expand(3, 5, 2), *rest)
    ins = (x, w0) + tuple(flat[1:])
    assert f(x, *flat).grad_fn.name() == ("ReluBackward0" if relu_last else "BatchedMlpBackward0")
    assert ember.autograd.gradcheck(h, ins)
    assert ember.autograd.gradgradcheck(h, ins)


@pytest.mark.parametrize("relu", [(False, False, True), (True, False, False), (False, True, True)])
@pytest.mark.parametrize("frozen", [0, 1, 2])
def test_batched_mlp_gradients_without_gates_and_with_frozen_layers(relu, frozen):
    """The fused op's backward against torch's bmm chain, float64: layers without a ReLU between
    them (a gradient flows through the inner buffers ungated) and the first `frozen` layers
    needing no gradient (the chain back stops early; the input needs one only when none is frozen)."""
    layers = [(3, 7), (7, 5), (5, 2)]

    def go(L, fused):
        x = L.tensor(arr(N, 4, 3, seed=1), dtype=L.float64, requires_grad=frozen == 0)
        ws = [L.tensor(arr(N, o, i, seed=2 + j), dtype=L.float64, requires_grad=j >= frozen)
              for j, (i, o) in enumerate(layers)]
        bs = [L.tensor(arr(N, o, seed=9 + j), dtype=L.float64, requires_grad=j >= frozen)
              for j, (i, o) in enumerate(layers)]
        if fused:
            out = ember._C._batched_mlp(x, ws, bs, list(relu))
        else:
            out = x
            for w, b, r in zip(ws, bs, relu):
                out = L.bmm(out, w.transpose(1, 2)) + b.unsqueeze(1)
                out = out.relu() if r else out
        (out * L.tensor(arr(*out.shape, seed=20), dtype=L.float64)).sum().backward()
        return [out, x.grad] + [t.grad for t in ws + bs]
    assert_same(go(ember, True), go(torch, False))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shared_w", [False, True])
def test_batched_linear_weight_gradients_past_the_caches_are_exact(dtype, shared_w):
    """Per-slice weight gradients larger than 16x a core's L2 (vmap(grad)'s per-sample gradients) are
    written with streaming stores (Note [Streaming products]): the same values as numpy's, for rows
    of a length that is no multiple of a vector (each row starts at a different alignment), several
    rows per slice, and a weight shared by every slice (stride 0); and for a small stack, below the
    threshold, the same values through the ordinary products."""
    l2 = ember._C._gemm_info(False)["l2"]
    out, inp, rows = 37, 1029, 3
    item = out * inp * np.dtype(dtype).itemsize
    for slices in (2, 16 * l2 // item + 1):
        g = np.random.default_rng(slices)
        x = g.standard_normal((slices, rows, inp)).astype(dtype)
        w = g.standard_normal((out, inp) if shared_w else (slices, out, inp)).astype(dtype)
        gy = g.standard_normal((slices, rows, out)).astype(dtype)
        W = ember.tensor(w, requires_grad=True)
        Wb = W.unsqueeze(0).expand(slices, out, inp) if shared_w else W
        y = ember._C._batched_linear(ember.tensor(x), Wb, None)
        if shared_w:
            gw = ember.autograd.grad(y, Wb, ember.tensor(gy))[0].numpy()
        else:
            y.backward(ember.tensor(gy))
            gw = W.grad.numpy()
        np.testing.assert_allclose(gw, np.einsum("sro,sri->soi", gy, x), rtol=1e-5 if dtype == "float32" else 1e-12,
                                   atol=1e-4 if dtype == "float32" else 1e-12)


def _rnn_models(L, kind, kw, dtype):
    ms = []
    for k in range(N):
        m = getattr(L.nn, kind)(3, 4, **kw).to(getattr(L, dtype))
        with L.no_grad():
            for i, p in enumerate(m.parameters()):
                p.copy_(L.tensor(arr(*p.shape, seed=10 * k + i) * 0.5))
        ms.append(m)
    return ms


def _rnn_loss(L, out, state, dtype):
    """A fixed weighting of the output and the final state(s), summed."""
    parts = [out] + (list(state) if isinstance(state, tuple) else [state])
    return sum((t * L.tensor(arr(*t.shape, seed=30 + j), dtype=getattr(L, dtype))).sum() for j, t in enumerate(parts))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("with_h0", [False, True])
@pytest.mark.parametrize("kind,kw", [("LSTM", dict(num_layers=2, bidirectional=True)), ("LSTM", dict(proj_size=3)),
                                     ("GRU", dict(batch_first=True)), ("RNN", dict(nonlinearity="relu", num_layers=2))])
def test_ensemble_of_rnn_layers_as_one_op(kind, kw, with_h0, dtype):
    """An ensemble's RNN/LSTM/GRU under vmap over functional_call runs each layer's recurrence for
    every model as one op (Note [Batched RNN layers]; torch 2.13's vmap has no rule for these layers
    and raises): the output, final states and every stacked parameter's gradient are those of torch
    running the models one after the other, with no initial state and with a batched one."""
    bf = kw.get("batch_first", False)
    x = arr(*((2, 5, 3) if bf else (5, 2, 3)), seed=7)
    layers = kw.get("num_layers", 1) * (2 if kw.get("bidirectional") else 1)
    hs = (layers, 2, kw.get("proj_size") or 4)
    h0 = arr(N, *hs, seed=8) if with_h0 else None
    c0 = arr(N, layers, 2, 4, seed=9) if with_h0 and kind == "LSTM" else None

    ms = _rnn_models(ember, kind, kw, dtype)
    params, buffers = efunc.stack_module_state(ms)
    base = copy.deepcopy(ms[0])
    xe = ember.tensor(x, dtype=getattr(ember, dtype))
    if with_h0:
        state = ember.tensor(h0, dtype=getattr(ember, dtype))
        if kind == "LSTM":
            state = (state, ember.tensor(c0, dtype=getattr(ember, dtype)))
        fn = efunc.vmap(lambda p, b, x, st: efunc.functional_call(base, (p, b), (x, st)), in_dims=(0, 0, None, 0))
        args = (params, buffers, xe, state)
    else:
        fn = efunc.vmap(lambda p, b, x: efunc.functional_call(base, (p, b), (x,)), in_dims=(0, 0, None))
        args = (params, buffers, xe)
    with no_fallback():
        out, st = fn(*args)
    _rnn_loss(ember, out, st, dtype).backward()
    got = [out, st, {k: v.grad for k, v in params.items()}]

    tms = _rnn_models(torch, kind, kw, dtype)
    outs, sts = [], []
    for k, m in enumerate(tms):
        xt = torch.tensor(x, dtype=getattr(torch, dtype))
        if with_h0:
            s0 = torch.tensor(h0[k], dtype=getattr(torch, dtype))
            if kind == "LSTM":
                s0 = (s0, torch.tensor(c0[k], dtype=getattr(torch, dtype)))
            o, s = m(xt, s0)
        else:
            o, s = m(xt)
        outs.append(o)
        sts.append(s)
    tout = torch.stack(outs)
    tst = tuple(torch.stack([s[j] for s in sts]) for j in range(2)) if kind == "LSTM" else torch.stack(sts)
    _rnn_loss(torch, tout, tst, dtype).backward()
    names = [n for n, _ in tms[0].named_parameters()]
    want = [tout, tst, {n: torch.stack([dict(m.named_parameters())[n].grad for m in tms]) for n in names}]
    assert_same(got, want, 1e-10 if dtype == "float64" else 2e-5)


def test_batched_rnn_layer_gradcheck_gradgradcheck_and_errors():
    """The batched recurrence (_C._rnn_layer with slices) against finite differences, first and
    second order (its create_graph recompute runs each slice's recurrence from differentiable ops),
    for a GRU with a weight shared by both slices (stride 0); and a slice count the tensors do not
    have is refused naming the shape."""
    g = np.random.default_rng(1)
    xp = ember.tensor(g.standard_normal((2, 3, 2, 6)) * 0.5, requires_grad=True)
    h0 = ember.tensor(g.standard_normal((2, 2, 2)) * 0.5, requires_grad=True)
    w = ember.tensor(g.standard_normal((6, 2)) * 0.5, requires_grad=True)
    b = ember.tensor(g.standard_normal((2, 6)) * 0.5, requires_grad=True)

    def f(xp, h0, w, b):
        out, hn, _ = ember._C._rnn_layer(3, xp, h0, None, w.unsqueeze(0).expand(2, 6, 2), b, None, False, [], 2)
        return out, hn
    assert ember.autograd.gradcheck(f, (xp, h0, w, b))
    assert ember.autograd.gradgradcheck(f, (xp, h0, w, b))
    with pytest.raises(RuntimeError, match=r"rnn: expected every tensor to have 3 slices in front, got \[2, 3, 2, 6\]"):
        ember._C._rnn_layer(3, xp, h0, None, w.unsqueeze(0).expand(2, 6, 2), b, None, False, [], 3)


def test_batched_mlp_errors_name_the_shapes():
    x = ember.zeros(3, 4, 2)
    with pytest.raises(RuntimeError, match=r"batched_mlp\(\): layer 1 expected input \(B, N, 5\)"):
        ember._C._batched_mlp(x, [ember.zeros(3, 5, 2), ember.zeros(3, 2, 4)], [None, None], [True, False])
    with pytest.raises(ValueError, match="one bias slot and one relu flag per weight"):
        ember._C._batched_mlp(x, [ember.zeros(3, 5, 2)], [], [True])


def test_ensemble_chain_with_a_hook_runs_module_by_module():
    """A forward hook on a child must see its output: the fused path steps aside."""
    seen = []
    models = [_mlp_chain(ember, [(3, 4), (4, 2)], k, True, False, "float64") for k in range(N)]
    params, buffers = efunc.stack_module_state(models)
    base = copy.deepcopy(models[0])
    base[1].register_forward_hook(lambda m, i, o: seen.append(tuple(o.shape)))
    x = ember.tensor(arr(N, 6, 3, seed=1))
    out = efunc.vmap(lambda p, b, xb: efunc.functional_call(base, (p, b), (xb,)))(params, buffers, x)
    assert seen == [(6, 4)]
    ref = np.stack([m(x[i]).detach().numpy() for i, m in enumerate(models)])
    np.testing.assert_allclose(out.detach().numpy(), ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("x_dim,i_dim,dim", [(0, None, 0), (0, None, 1), (None, 0, 0), (None, 0, -1), (0, 0, 0),
                                              (0, 0, 1), (1, 0, 1), (0, 0, -1)])
@pytest.mark.parametrize("scalar_index", [False, True])
def test_index_select(x_dim, i_dim, dim, scalar_index):
    """Batched table, batched indices or both, 1-D and 0-d indices (a 0-d index keeps its dim, size 1)."""
    shape = () if scalar_index else (4,)
    idx = ints(*shape, high=2, seed=5) if i_dim is None else ints(N, *shape, high=2, seed=5)
    # (torch 2.13's vmap of index_select with a 0-d index does not keep a dim of size 1 as its eager
    # op does: the reference is then its loop)
    check(lambda L: lambda x, i: L.index_select(x, dim, i), [mapped((3, 3, 2), x_dim, seed=1), idx],
          (x_dim, i_dim), ref="loop" if scalar_index else "vmap")


@pytest.mark.parametrize("dims", [(0, 0, 0, None), (0, None, None, None), (None, 0, 1, None), (0, 0, 0, 0)])
@pytest.mark.parametrize("causal", [False, True])
def test_scaled_dot_product_attention(dims, causal):
    """Batched and shared queries, keys, values and masks (a float mask per slice) through attention's
    fused op."""
    if causal and dims[3] is not None:
        dims = dims[:3] + (None,)
    ins = [mapped((2, 3, 4), dims[0], seed=1), mapped((2, 5, 4), dims[1], seed=2), mapped((2, 5, 4), dims[2], seed=3)]
    if dims[3] is None:
        check(lambda L: lambda q, k, v: nnf(L).scaled_dot_product_attention(q, k, v, is_causal=causal), ins, dims[:3])
    else:
        ins.append(mapped((2, 3, 5), dims[3], seed=4))
        check(lambda L: lambda q, k, v, m: nnf(L).scaled_dot_product_attention(q, k, v, attn_mask=m), ins, dims)


def _ensemble_of(L, make, x, n=3):
    models = []
    for k in range(n):
        m = make(L).double()
        with L.no_grad():
            for i, p in enumerate(m.parameters()):
                p.copy_(L.tensor(arr(*p.shape, seed=10 * k + i)))
        models.append(m)
    params, buffers = L.func.stack_module_state(models)
    base = copy.deepcopy(models[0])
    out = L.func.vmap(lambda p, b, xb: L.func.functional_call(base, (p, b), (xb,)), in_dims=(0, 0, None))(params, buffers, x)
    (out * L.tensor(arr(*out.shape, seed=9))).sum().backward()
    return out, {k: v.grad for k, v in params.items()}


@pytest.mark.parametrize("name", ["layer_norm", "embedding", "transformer_layer"])
def test_ensembles_of_layer_norm_embedding_and_attention_models(name):
    """Stacked LayerNorm weights and biases, stacked Embedding tables, a transformer encoder layer
    (attention's fused op): torch's outputs and gradients, every op through a batching rule."""
    if name == "transformer_layer":
        make = lambda L: L.nn.TransformerEncoderLayer(4, 2, 8, dropout=0.0, batch_first=True)  # noqa: E731
        x = lambda L: L.tensor(arr(2, 3, 4, seed=3))  # noqa: E731
    elif name == "layer_norm":
        make = lambda L: L.nn.Sequential(L.nn.Linear(4, 6), L.nn.LayerNorm(6), L.nn.GELU(), L.nn.Linear(6, 2))  # noqa: E731
        x = lambda L: L.tensor(arr(5, 4, seed=3))  # noqa: E731
    else:
        make = lambda L: L.nn.Sequential(L.nn.Embedding(7, 3), L.nn.Flatten(), L.nn.Linear(6, 2))  # noqa: E731
        x = lambda L: L.tensor(ints(5, 2, high=7, seed=3))  # noqa: E731
    t = _ensemble_of(torch, make, x(torch))
    with no_fallback():
        e = _ensemble_of(ember, make, x(ember))
    assert_same(e, t)


def test_layer_norm_weight_of_the_wrong_size_is_refused():
    with pytest.raises(RuntimeError, match=r"layer_norm: expected weight and bias of 8 elements.*weight \[16\]"):
        ember._C._layer_norm(ember.zeros(2, 8), 8, ember.ones(16), None, 1e-5)


# ---- errors and semantics ------------------------------------------------------------------------

def test_item_inside_vmap_raises():
    e, t = errors_of(lambda L, F: F.vmap(lambda x: x * x.sum().item())(L.tensor(arr(N, 4))))
    assert e is t is RuntimeError


@pytest.mark.parametrize("what", ["randn", "rand_like"])
def test_random_op_with_randomness_error_raises(what):
    def go(L, F):
        def f(x):
            return x + (L.randn(4, dtype=x.dtype) if what == "randn" else L.rand_like(x))
        return F.vmap(f)(L.tensor(arr(N, 4)))
    e, t = errors_of(go)
    assert e is t is RuntimeError


@pytest.mark.parametrize("op", ["add_", "iadd", "copy_", "mul_", "setitem"])
def test_inplace_on_unbatched_self_with_batched_other_raises(op):
    def go(L, F):
        def f(x, y):
            if op == "add_":
                y.add_(x)
            elif op == "iadd":
                y += x
            elif op == "copy_":
                y.copy_(x)
            elif op == "mul_":
                y.mul_(x)
            else:
                y[0] = x[0]
            return y
        return F.vmap(f, in_dims=(0, None))(L.tensor(arr(N, 4, 5)), L.tensor(arr(4, 5, seed=1)))
    e, t = errors_of(go)
    assert e is t is RuntimeError


@pytest.mark.parametrize("d", DIMS3)
def test_inplace_on_batched_self(d):
    def mk(L):
        def f(x, y):
            z = x.clone()
            z.add_(1)
            z.mul_(y)
            z += 0.5
            z -= x
            z.clamp_(min=-0.7)
            z.masked_fill_(z > 1, 1.0)
            return z
        return f
    check(mk, [mapped((4, 5), d), mapped((5,), 0, seed=1)], (d, 0), 0)


@pytest.mark.parametrize("d", DIMS3)
def test_inplace_on_batched_input_writes_through(d):
    def go(L, F):
        x = L.tensor(mapped((4, 5), d))
        y = L.tensor(arr(5, seed=1))

        def f(x, y):
            x.add_(1)
            x.mul_(y)
            return x * 2
        out = F.vmap(f, in_dims=(d, None))(x, y)
        return out, x
    e, t = both(go)
    assert_same(e, t)


def test_inplace_batched_self_without_fallback():
    def mk(L):
        def f(x, y):
            z = x * 1
            z.add_(y)
            z.mul_(2)
            z.exp_()
            return z
        return f
    check(mk, [mapped((4, 5), 0), arr(5, seed=1)], (0, None), 1)


def _expanded_vs_torch(f, inputs, in_dims, out_dims):
    """ember's vmap of f (an output not depending on the mapped inputs) against torch's vmap of f and of f
    with that output made to depend on them (+ 0 * a mapped input): torch expands an unbatched output at
    out_dim 0 only (at other out_dims its _remove_batch_dim expands to the wrong sizes, or reads a negative
    out_dim past the sizes), the batched form is the meaning it has there."""
    e = run(ember, efunc, lambda L: f(L, False), inputs, in_dims, out_dims, "float64")
    t = run(torch, tfunc, lambda L: f(L, True), inputs, in_dims, out_dims, "float64")
    assert_same(e, t)
    if out_dims == 0 or out_dims == (0, 0):
        assert_same(e, run(torch, tfunc, lambda L: f(L, False), inputs, in_dims, out_dims, "float64"))
    with no_fallback():
        assert_same(run(ember, efunc, lambda L: f(L, False), inputs, in_dims, out_dims, "float64"), t)


@pytest.mark.parametrize("out_dims", [0, 1, (0, 0), (0, 1), (1, -1), -1])
def test_unbatched_output_is_expanded(out_dims):
    def f(L, tie):
        return lambda x, y: (x * 2, y.exp() + 1 + (0 * x.sum() if tie else 0))
    _expanded_vs_torch(f, [mapped((4, 3), 0), arr(2, 3, seed=1)], (0, None), out_dims)


@pytest.mark.parametrize("out_dims", [0, 1, -1])
def test_output_independent_of_inputs_is_expanded(out_dims):
    def f(L, tie):
        return lambda x: L.ones(2, 3, dtype=L.float64) * 3 + (0 * x.sum() if tie else 0)
    _expanded_vs_torch(f, [mapped((4,), 0)], 0, out_dims)


def test_out_dims_none_for_unbatched_output():
    def go(L, F):
        y = L.tensor(arr(2, 3, seed=1))
        out = F.vmap(lambda x, y: (x.sum(0), y * 3), in_dims=(0, None), out_dims=(0, None))(
            L.tensor(arr(N, 4, seed=2)), y)
        return out
    e, t = both(go)
    assert_same(e, t)
    assert tuple(e[1].shape) == (2, 3)


def test_out_dims_none_for_batched_output_raises():
    e, t = errors_of(lambda L, F: F.vmap(lambda x: x * 2, out_dims=None)(L.tensor(arr(N, 4))))
    assert e is t is ValueError


def test_in_dims_mix_with_nested_inputs_and_out_dims_tuple():
    def go(L, F):
        a = L.tensor(mapped((4,), 1))
        b = L.tensor(arr(4, seed=1))
        c = L.tensor(mapped((2, 4), -1, seed=2))

        def f(pair, c):
            a, b = pair
            return (a * b).sum(), (c @ a, b + 1)
        return F.vmap(f, in_dims=((1, None), -1), out_dims=(0, (1, 0)))((a, b), c)
    e, t = both(go)
    assert_same(e, t)


@pytest.mark.parametrize("case", ["x_w_b_batched", "x_shared", "groups_stride_dilation", "conv1d"])
def test_conv_with_batched_weights_is_one_grouped_convolution(case):
    """An ensemble of convolutions: batched weights run as one grouped convolution (no per-slice
    fallback); results and the gradients into the stacked weights are torch's."""
    rng = np.random.default_rng(11)
    xs, bs = rng.normal(size=(3, 2, 4, 7, 7)), rng.normal(size=(3, 6))
    ws = rng.normal(size=(3, 6, 2 if case == "groups_stride_dilation" else 4, 3, 3))
    if case == "conv1d":
        xs, ws = rng.normal(size=(3, 2, 4, 9)), rng.normal(size=(3, 5, 4, 3))

    def run(L, F):
        x, w, b = to_lib(L, xs), to_lib(L, ws), to_lib(L, bs)
        w.requires_grad_(True)
        Fn = L.nn.functional
        if case == "x_w_b_batched":
            out = F.vmap(lambda a, c, d: Fn.conv2d(a, c, d, stride=2, padding=1))(x, w, b)
        elif case == "x_shared":
            out = F.vmap(lambda c, d: Fn.conv2d(x[0], c, d, padding="same"), in_dims=(0, 0))(w, b)
        elif case == "groups_stride_dilation":
            out = F.vmap(lambda a, c: Fn.conv2d(a, c, stride=(1, 2), dilation=2, groups=2))(x, w)
        else:
            out = F.vmap(lambda a, c: Fn.conv1d(a, c, padding=1))(x, w)
        (out ** 2).sum().backward()
        return out, w.grad
    if case == "x_shared":  # padding='same' with batched weights: the per-slice fallback
        e, t = both(run)
    else:
        with no_fallback():
            e = run(ember, efunc)
        t = run(torch, tfunc)
    assert_same(e, t, 1e-10)


def test_an_ensemble_with_mismatched_layers_names_the_logical_shapes():
    """A chain whose layers do not fit raises linear's RuntimeError with one model's shapes (torch's
    vmap raises a RuntimeError from its batched product)."""
    models = [ember.nn.Sequential(ember.nn.Linear(3, 4), ember.nn.ReLU(), ember.nn.Linear(5, 2)) for _ in range(2)]
    params, buffers = efunc.stack_module_state(models)
    base = copy.deepcopy(models[0])
    f = efunc.vmap(lambda p, b, x: efunc.functional_call(base, (p, b), (x,)), in_dims=(0, 0, None))
    with pytest.raises(RuntimeError, match=r"mat1 and mat2 shapes cannot be multiplied \(6x4 and 5x2\)"):
        f(params, buffers, ember.zeros(6, 3))


# ---- batched randomness (Note [Batched randomness]) ----------------------------------------------

def _counted(fn):
    calls = []

    def f(*a):
        calls.append(1)
        return fn(*a)
    return f, calls


def _ensemble_of_identical(L, F, layers, n=6):
    m = L.nn.Sequential(*layers(L))
    with L.no_grad():
        for i, p in enumerate(m.parameters()):
            p.copy_(L.tensor(arr(*p.shape, seed=10 + i), dtype=p.dtype))
    params, buffers = F.stack_module_state([copy.deepcopy(m) for _ in range(n)])
    return m, params, buffers


def _slices_equal(out):
    return [bool((out[i] == out[0]).all()) for i in range(out.shape[0])]


@pytest.mark.parametrize("mode", ["same", "different"])
def test_dropout_ensemble_runs_batched_with_randomness(mode):
    """An ensemble with Dropout under vmap(randomness='same'/'different') runs its function once, on
    the batched values, with no per-slice fallback: identical models on one input give identical slices
    under 'same' and not under 'different' (as torch's); every output is the undropped value times 0 or
    1/(1-p); and the gradients are the ones that mask gives."""
    for L, F in LIBS.values():
        m, params, buffers = _ensemble_of_identical(L, F, lambda L: [L.nn.Linear(4, 16), L.nn.ReLU(), L.nn.Dropout(0.5)])
        x = L.tensor(arr(5, 4, seed=3), dtype=L.float32)
        f, calls = _counted(lambda p, b, xx: F.functional_call(m, (p, b), (xx,)))
        ctx = no_fallback() if L is ember else contextlib.nullcontext()
        with ctx:
            out = F.vmap(f, in_dims=(0, 0, None), randomness=mode)(params, buffers, x)
        assert len(calls) == 1
        eq = _slices_equal(out)
        assert all(eq) if mode == "same" else not all(eq[1:])
        ref = m.eval()(x).detach().numpy()
        o = out.detach().numpy()
        keep = np.isclose(o, 2 * ref, rtol=1e-6, atol=0)
        assert np.all(keep | (o == 0))
        live = ref > 0
        assert 0.25 < keep[:, live].mean() < 0.75
        # gradients: d(sum out)/d(bias) of slice i is the mask's sum over rows, times 2, where live
        out.sum().backward()
        gb = params["0.bias"].grad.numpy()
        np.testing.assert_allclose(gb, (2.0 * (keep & live[None])).sum(1), rtol=1e-6)
        m.train()


@pytest.mark.parametrize("mode", ["same", "different"])
def test_random_ops_on_batched_inputs_draw_per_slice_or_shared(mode):
    """rand_like of a batched tensor (its rule), bernoulli of batched probabilities and uniform_ of a
    batched tensor with a given generator (the per-slice fallback, which draws for each slice, or
    replays one slice's draws under 'same') stay batched. torch agrees under 'different'; under 'same'
    it refuses random ops of batched inputs, where ember gives every slice the same draws."""
    g = ember.Generator().manual_seed(3)
    x = ember.zeros(N, 50, dtype=ember.float64)
    f, calls = _counted(lambda a: ember.rand_like(a) + ember.bernoulli(a + 0.5) + a.clone().uniform_(generator=g))
    out = efunc.vmap(f, randomness=mode)(x)
    assert len(calls) == 1
    eq = _slices_equal(out)
    assert all(eq) if mode == "same" else not any(eq[1:])
    tg = torch.Generator().manual_seed(3)

    def tf(a):
        return torch.rand_like(a) + torch.bernoulli(a + 0.5) + a.clone().uniform_(generator=tg)
    if mode == "same":
        with pytest.raises(RuntimeError, match="same randomness with a batched tensor input"):
            tfunc.vmap(tf, randomness=mode)(torch.zeros(N, 50))
    else:
        assert _slices_equal(tfunc.vmap(tf, randomness=mode)(torch.zeros(N, 50))) == eq


@pytest.mark.parametrize("mode", ["same", "different"])
@pytest.mark.parametrize("draw", ["factory", "generator", "dropout"])
def test_draws_of_unbatched_values_shared_or_per_index(mode, draw):
    """Draws of unbatched values inside the function (randn(8), from the default or a given
    generator, dropout of an unbatched tensor): under 'same' one value for every slice, in the batched
    run; under 'different' the draw is stopped before it takes a number, and the function runs once
    per index with the generator put back. The slices' equality matches torch's."""
    outs = []
    for L, F in LIBS.values():
        g = L.Generator().manual_seed(5)

        def fn(a):
            if draw == "factory":
                return a + L.randn(64, dtype=a.dtype)
            if draw == "generator":
                return a + L.randn(64, dtype=a.dtype, generator=g)
            return a + L.nn.functional.dropout(L.ones(64, dtype=a.dtype), 0.5)  # (64: no two masks alike)
        f, calls = _counted(fn)
        before = L.get_rng_state()
        out = F.vmap(f, randomness=mode)(L.zeros(N, 64, dtype=L.float64))
        outs.append(_slices_equal(out))
        if L is ember:
            assert len(calls) == (1 if mode == "same" else 1 + N)
            if draw == "factory":  # the stream goes on from where it was, as if the attempt had not drawn
                ember.set_rng_state(before)
                np.testing.assert_array_equal(out[0].numpy(), ember.randn(64, dtype=ember.float64).numpy())
            assert ember.randn(3).shape == (3,)  # the guard is off again
    assert outs[0] == outs[1]
    assert all(outs[0]) if mode == "same" else not any(outs[0][1:])


def test_a_write_before_a_draw_without_a_rule_raises_instead_of_running_twice():
    """The per-index re-run would repeat an in-place write to a tensor made before the call (here a
    running count): vmap raises, naming the draw, and the write happened once."""
    count = ember.zeros(1)

    def f(a):
        count.add_(1)
        return a + ember.randn(3)
    with pytest.raises(RuntimeError, match=r"randomness='different'.*normal_ drew random numbers outside a "
                                           r"batching rule.*written in place to a tensor made before"):
        efunc.vmap(f, randomness="different")(ember.zeros(N, 3))
    assert count.item() == 1.0
    ember.randn(3)  # the guard is off again


def test_writes_to_its_own_tensors_or_before_a_rule_draw_stay_batched():
    """Writes to tensors the function made, and a write to an older one followed only by draws that
    have rules (dropout), keep the batched run; the write happens once."""
    count = ember.zeros(1)

    def f(a):
        t = a * 2
        t.add_(1)
        count.add_(1)
        return ember.nn.functional.dropout(t, 0.5)
    g, calls = _counted(f)
    out = efunc.vmap(g, randomness="different")(ember.ones(N, 40))
    assert len(calls) == 1 and count.item() == 1.0
    assert set(np.unique(out.numpy())) <= {0.0, 6.0}


def test_an_error_inside_the_batched_run_releases_the_guard():
    def f(a):
        raise KeyError("boom")
    with pytest.raises(KeyError):
        efunc.vmap(f, randomness="same")(ember.zeros(N, 3))
    assert ember.randn(2).shape == (2,)
    assert ember._C._draws_blocked(False) is False
