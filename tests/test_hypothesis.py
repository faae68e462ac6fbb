"""Property tests against numpy: broadcasting of binary ops (forward and the reduced gradients),
incompatible shapes, dtype promotion (torch's rules, which numpy shares except int-with-float),
reductions over random dims, batched matmul broadcasting and basic indexing."""
import operator

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

import ember  # noqa: E402
from helpers import dtype_name, to_np  # noqa: E402

FAST = settings(max_examples=60, deadline=None, derandomize=True)  # the same examples in every CI run

BINARY = {
    "add": operator.add, "sub": operator.sub, "mul": operator.mul, "truediv": operator.truediv,
    "maximum": lambda a, b: (ember.maximum if isinstance(a, ember.Tensor) else np.maximum)(a, b),
    "lt": operator.lt, "eq": operator.eq,
}


def arrays_for(shape, seed):
    g = np.random.default_rng(seed)
    return g.uniform(0.5, 2.0, shape) * g.choice([-1.0, 1.0], shape)


def sum_to(g, shape):
    """Reduce a broadcast gradient back to `shape` (what autograd must do)."""
    while g.ndim > len(shape):
        g = g.sum(0)
    for i, s in enumerate(shape):
        if s == 1 and g.shape[i] != 1:
            g = g.sum(i, keepdims=True)
    return g


@FAST
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=4, max_side=4),
       op=st.sampled_from(sorted(BINARY)), seed=st.integers(0, 2**16))
def test_broadcast_forward_matches_numpy(shapes, op, seed):
    (sa, sb), out_shape = shapes.input_shapes, shapes.result_shape
    a, b = arrays_for(sa, seed), arrays_for(sb, seed + 1)
    f = BINARY[op]
    got = f(ember.tensor(a), ember.tensor(b))
    want = f(a, b)
    assert tuple(got.shape) == tuple(out_shape) == np.shape(want)
    np.testing.assert_allclose(to_np(got), want, rtol=1e-12)


@FAST
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=4, max_side=4),
       seed=st.integers(0, 2**16))
def test_broadcast_backward_reduces_to_input_shapes(shapes, seed):
    sa, sb = shapes.input_shapes
    a, b = arrays_for(sa, seed), arrays_for(sb, seed + 1)
    r = np.random.default_rng(seed + 2).standard_normal(shapes.result_shape)
    ea = ember.tensor(a).requires_grad_()
    eb = ember.tensor(b).requires_grad_()
    ((ea * eb + ea) * ember.tensor(r)).sum().backward()
    ga = sum_to(r * (np.broadcast_to(b, r.shape) + 1), sa)
    gb = sum_to(r * np.broadcast_to(a, r.shape), sb)
    assert tuple(ea.grad.shape) == tuple(sa) and tuple(eb.grad.shape) == tuple(sb)
    np.testing.assert_allclose(to_np(ea.grad), ga, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(to_np(eb.grad), gb, rtol=1e-10, atol=1e-12)


@FAST
@given(sa=hnp.array_shapes(min_dims=1, max_dims=3, max_side=4),
       sb=hnp.array_shapes(min_dims=1, max_dims=3, max_side=4))
def test_incompatible_shapes_raise_runtime_error(sa, sb):
    try:
        np.broadcast_shapes(sa, sb)
        compatible = True
    except ValueError:
        compatible = False
    assume(not compatible)
    with pytest.raises(RuntimeError):
        ember.ones(*sa) + ember.ones(*sb)
    with pytest.raises(RuntimeError):
        ember.maximum(ember.ones(*sa), ember.ones(*sb))


# --- dtype promotion --------------------------------------------------------------------------------

KIND = {"bool": 0, "int64": 1, "float32": 2, "float64": 2}
NP = {"bool": np.bool_, "int64": np.int64, "float32": np.float32, "float64": np.float64}
EMBER = {"bool": ember.bool, "int64": ember.int64, "float32": ember.float32, "float64": ember.float64}


def promote(a, b):
    """torch's rule for two dimensioned tensors: the higher category wins; within a category the
    wider type. numpy agrees except that it widens int64 with float32 to float64."""
    if KIND[a] != KIND[b]:
        return a if KIND[a] > KIND[b] else b
    if KIND[a] == 2:
        return "float64" if "float64" in (a, b) else "float32"
    return a


def promote_shapes(a, sa, b, sb):
    """torch's rule with zero-dim tensors: they only decide the dtype when their category is higher
    than that of every dimensioned operand."""
    dim = [t for t, s in ((a, sa), (b, sb)) if len(s) > 0]
    zero = [t for t, s in ((a, sa), (b, sb)) if len(s) == 0]
    if not dim or not zero:
        return promote(a, b)
    rd, rz = dim[0], zero[0]
    return rz if KIND[rz] > KIND[rd] else rd


def promote_scalar(t, s):
    """Tensor of dtype t with a Python scalar s: the scalar only matters if its category is higher."""
    ks = 0 if isinstance(s, bool) else 1 if isinstance(s, int) else 2
    if ks <= KIND[t]:
        return t
    return {1: "int64", 2: "float32"}[ks]


def values(dt, shape, seed):
    g = np.random.default_rng(seed)
    if dt == "bool":
        return g.random(shape) > 0.5
    if dt == "int64":
        return g.integers(1, 5, shape).astype(np.int64)
    return g.uniform(1.0, 4.0, shape).astype(NP[dt])


@FAST
@given(a=st.sampled_from(sorted(KIND)), b=st.sampled_from(sorted(KIND)),
       op=st.sampled_from(["add", "mul", "sub", "truediv", "maximum", "lt", "eq"]),
       shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=2, max_side=3), seed=st.integers(0, 999))
def test_dtype_promotion_tensor_tensor(a, b, op, shapes, seed):
    x, y = values(a, shapes.input_shapes[0], seed), values(b, shapes.input_shapes[1], seed + 1)
    ex, ey = ember.tensor(x), ember.tensor(y)
    f = BINARY[op]
    assume(not (op == "sub" and "bool" in (a, b)))  # torch raises; covered in test_errors.py
    got = f(ex, ey)
    p = promote_shapes(a, shapes.input_shapes[0], b, shapes.input_shapes[1])
    if op in ("lt", "eq"):
        expected = "bool"
    elif op == "truediv":
        expected = p if KIND[p] == 2 else "float32"
    else:
        expected = p
    assert dtype_name(got.dtype) == expected
    if (KIND[a] == KIND[b] or "bool" in (a, b)) and x.ndim and y.ndim and op not in ("truediv", "lt", "eq"):
        assert np.result_type(x, y) == np.dtype(NP[expected])  # numpy's own promotion agrees here
    with np.errstate(divide="ignore", invalid="ignore"):
        want = f(x.astype(np.float64), y.astype(np.float64))
    if expected == "bool":
        want = np.asarray(want) != 0
    # a float32 result carries float32 rounding of operands up to 4 (a 0-d float64 operand is
    # rounded to float32 first, as torch does): 1 ulp of 4 absolute, beyond rtol when a - b is small
    atol = 5e-7 if expected == "float32" else 0
    np.testing.assert_allclose(to_np(got).astype(np.float64), np.asarray(want, dtype=np.float64), rtol=1e-6, atol=atol)


@FAST
@given(t=st.sampled_from(sorted(KIND)), s=st.sampled_from([True, 2, 3, 2.5, -1.5]),
       op=st.sampled_from(["add", "mul", "radd", "rmul"]), seed=st.integers(0, 999))
def test_dtype_promotion_tensor_scalar(t, s, op, seed):
    x = values(t, (3,), seed)
    ex = ember.tensor(x)
    got = {"add": lambda: ex + s, "mul": lambda: ex * s, "radd": lambda: s + ex, "rmul": lambda: s * ex}[op]()
    expected = promote_scalar(t, s)
    if t == "bool" and isinstance(s, bool):
        expected = "bool"
    assert dtype_name(got.dtype) == expected
    want = (x.astype(np.float64) + float(s)) if "add" in op else (x.astype(np.float64) * float(s))
    if expected == "bool":
        want = want != 0
    np.testing.assert_allclose(to_np(got).astype(np.float64), np.asarray(want, dtype=np.float64), rtol=1e-6)


@FAST
@given(src=st.sampled_from(sorted(KIND)), dst=st.sampled_from(sorted(KIND)), seed=st.integers(0, 999))
def test_to_dtype_matches_numpy_astype(src, dst, seed):
    x = values(src, (2, 3), seed)
    if src != "bool":
        x = x * np.asarray(-1, dtype=x.dtype) if src != "int64" else x - 3
    got = ember.tensor(x).to(EMBER[dst])
    assert dtype_name(got.dtype) == dst
    np.testing.assert_array_equal(to_np(got), x.astype(NP[dst]))


# --- reductions, matmul, indexing ---------------------------------------------------------------------

@FAST
@given(shape=hnp.array_shapes(min_dims=1, max_dims=4, max_side=4), data=st.data(),
       op=st.sampled_from(["sum", "mean", "prod", "amax"]), keepdim=st.booleans())
def test_reductions_over_random_dims(shape, data, op, keepdim):
    nd = len(shape)
    dims = data.draw(st.lists(st.integers(-nd, nd - 1), min_size=1, max_size=nd,
                              unique_by=lambda d: d % nd))
    a = arrays_for(shape, 7)
    e = ember.tensor(a)
    if op in ("prod", "amax"):
        d = dims[0]
        if op == "prod":
            got, want = e.prod(d, keepdim=keepdim), a.prod(axis=d, keepdims=keepdim)
        else:
            got, want = e.max(d, keepdim=keepdim)[0], a.max(axis=d, keepdims=keepdim)
    else:
        got = getattr(e, op)(dim=tuple(dims), keepdim=keepdim)
        want = getattr(a, op)(axis=tuple(d % nd for d in dims), keepdims=keepdim)
    assert tuple(got.shape) == np.shape(want)
    np.testing.assert_allclose(to_np(got), want, rtol=1e-10)


@FAST
@given(shapes=hnp.mutually_broadcastable_shapes(signature="(m,n),(n,p)->(m,p)", max_dims=2,
                                                max_side=4),
       seed=st.integers(0, 999))
def test_batched_matmul_broadcasting_matches_numpy(shapes, seed):
    sa, sb = shapes.input_shapes
    a, b = arrays_for(sa, seed), arrays_for(sb, seed + 1)
    ea, eb = ember.tensor(a).requires_grad_(), ember.tensor(b).requires_grad_()
    out = ea @ eb
    want = a @ b
    assert tuple(out.shape) == want.shape
    np.testing.assert_allclose(to_np(out), want, rtol=1e-10, atol=1e-12)
    r = np.random.default_rng(seed + 2).standard_normal(want.shape)
    (out * ember.tensor(r)).sum().backward()
    ga = sum_to(r @ np.swapaxes(np.broadcast_to(b, want.shape[:-2] + b.shape[-2:]), -1, -2), sa)
    np.testing.assert_allclose(to_np(ea.grad), ga, rtol=1e-10, atol=1e-10)
    assert tuple(eb.grad.shape) == tuple(sb)


def _no_negative_steps(idx):
    parts = idx if isinstance(idx, tuple) else (idx,)
    return all(not (isinstance(p, slice) and p.step is not None and p.step < 0) for p in parts)


@FAST
@given(data=st.data(), shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5))
def test_basic_indexing_matches_numpy(data, shape):
    idx = data.draw(hnp.basic_indices(shape, allow_newaxis=True, allow_ellipsis=True))
    assume(_no_negative_steps(idx))
    a = np.arange(int(np.prod(shape)), dtype=np.float64).reshape(shape)
    e = ember.tensor(a)
    got = e[idx]
    want = a[idx]
    assert tuple(got.shape) == np.shape(want)
    np.testing.assert_array_equal(to_np(got), want)
    if got.numel() > 0 and got.dim() > 0:
        got.fill_(-1.0)  # a view: writes go to the base
        a2 = a.copy()
        a2[idx] = -1.0
        np.testing.assert_array_equal(to_np(e), a2)


@FAST
@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=4), data=st.data())
def test_integer_and_mask_indexing_matches_numpy(shape, data):
    a = np.arange(int(np.prod(shape)), dtype=np.float64).reshape(shape)
    ints = data.draw(st.lists(st.integers(-shape[0], shape[0] - 1), min_size=1, max_size=5))
    mask = data.draw(hnp.arrays(np.bool_, shape))
    e = ember.tensor(a)
    np.testing.assert_array_equal(to_np(e[ember.tensor(ints)]), a[np.array(ints)])
    np.testing.assert_array_equal(to_np(e[ember.tensor(mask)]), a[mask])
