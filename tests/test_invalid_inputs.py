"""Random invalid calls (hypothesis): mismatched shapes, wrong dtypes, bad dims, out-of-range
indices, negative sizes, non-tensor arguments, bad optimizer / DataLoader arguments. ember must
raise the exception type torch raises (a torch NotImplementedError counts as RuntimeError), the
message must name the offending shapes / values / dtypes, and nothing may change: the inputs'
values, shapes, strides, requires_grad, version counters and .grad, module parameters, optimizer
state. Every row is also run against torch to check the row itself. Calls that crashed the
interpreter at the time of writing run in a subprocess so that a segfault fails one test only.
test_errors.py holds the fixed one-row-per-error table; this file randomises around it."""
import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import ember  # noqa: E402
from helpers import dtype_name, to_np  # noqa: E402
from test_errors import N, S, _has  # noqa: E402

try:
    import torch
except ImportError:  # the ember half of every test still runs
    torch = None

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
LIBS = [ember] if torch is None else [torch, ember]  # the row check first
ERRORS = (TypeError, ValueError, RuntimeError, IndexError)


def xfail_bug(reason):
    return pytest.mark.xfail(strict=True, reason="bug: " + reason)


# ---------------------------------------------------------------------------------------------
# inputs built identically in both libraries, snapshots, the checker

class A:
    """A numpy array to pass as a tensor of library L. `view="t"` passes a transposed
    (non-contiguous) view with the array's shape; `param` wraps it in nn.Parameter."""

    def __init__(self, arr, requires_grad=False, view=None, param=False, grad=None):
        self.arr, self.requires_grad, self.view, self.param, self.grad = np.asarray(arr), requires_grad, view, param, grad

    def make(self, L):
        arr = self.arr
        if self.view == "t":
            base = L.tensor(np.ascontiguousarray(np.swapaxes(arr, -1, -2)))
            t = base.transpose(-1, -2)
            return t, base
        t = L.tensor(arr.copy())
        if self.param:
            t = L.nn.Parameter(t, requires_grad=self.requires_grad)
        elif self.requires_grad:
            t.requires_grad_(True)
        if self.grad is not None:
            t.grad = L.tensor(np.asarray(self.grad, dtype=arr.dtype))
        return t, None


def f32(*shape, seed=0, low=-2.0, high=2.0):
    return np.random.default_rng(seed).uniform(low, high, shape).astype(np.float32)


def i64(*values):
    return np.array(values, dtype=np.int64)


def snap(t):
    s = {"shape": tuple(t.shape), "stride": tuple(t.stride()), "dtype": dtype_name(t.dtype),
         "requires_grad": bool(t.requires_grad), "version": t._version, "data": to_np(t)}
    if t.is_leaf:
        s["grad"] = None if t.grad is None else to_np(t.grad)
    return s


def assert_same(before, t, what):
    after = snap(t)
    for k, v in before.items():
        w = after[k]
        if isinstance(v, np.ndarray) or isinstance(w, np.ndarray):
            same = (v is None) == (w is None) and (v is None or (v.shape == w.shape and v.dtype == w.dtype
                                                                   and np.array_equal(v, w, equal_nan=True)))
        else:
            same = v == w
        assert same, f"{what}: {k} changed by the failed call: {v!r} -> {w!r}"


def _message_ok(msg, mentions):
    for m in mentions:
        assert _has(msg, m), f"message {msg!r} does not mention {getattr(m, 'pattern', m)!r}"


def check_invalid(fn, inputs, exc, mentions=(), *, torch_exc=None, extra=None):
    """Run fn(L, *tensors) in ember and torch. ember must raise `exc` (a type or tuple) whose
    message mentions every item of `mentions` (see test_errors._has), and leave every input (and
    the base of every view, and whatever `extra(L, tensors)` returns: modules / parameters)
    unchanged. torch must raise `torch_exc` (default `exc`): the check of the row itself."""
    for L in LIBS:
        args, watch = [], []
        for a in inputs:
            if isinstance(a, A):
                t, base = a.make(L)
                args.append(t)
                watch.append(("input", t))
                if base is not None:
                    watch.append(("base of view", base))
            else:
                args.append(a)
        extras = extra(L, args) if extra is not None else {}
        for name, obj in list(extras.items()):
            watch.append((name, obj))
        before = [(name, t, snap(t)) for name, t in watch]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's mse_loss broadcast UserWarning
            with pytest.raises(BaseException) as info:
                fn(L, *args)
        err = info.value
        if L is ember:
            assert isinstance(err, exc), f"ember raised {type(err).__name__}: {err}; expected {exc}"
            assert isinstance(err, ERRORS), f"ember raised {type(err).__name__}: {err}"
            _message_ok(str(err), mentions)
            for name, t, b in before:
                assert_same(b, t, name)
        else:
            want = torch_exc or exc
            # torch's NotImplementedError for unsupported dtypes is a RuntimeError: the isinstance accepts it
            assert isinstance(err, want), f"row check: torch raised {type(err).__name__}: {err}; row says {want}"
    return True


def _module_params(L, m):
    return {f"param {n}": p for n, p in m.named_parameters()} | {f"buffer {n}": b for n, b in m.named_buffers()
                                                                   if b is not None}


# ---------------------------------------------------------------------------------------------
# strategies

@st.composite
def incompatible_shapes(draw, min_dims=1, max_dims=4):
    """Two shapes that do not broadcast, disagreeing (sizes a != b, both > 1) at exactly one
    aligned position; returns (shape_a, shape_b, a, b)."""
    sa = draw(st.lists(st.integers(1, 4), min_size=min_dims, max_size=max_dims))
    sb = draw(st.lists(st.integers(1, 4), min_size=min_dims, max_size=max_dims))
    k = draw(st.integers(1, min(len(sa), len(sb))))
    for j in range(1, min(len(sa), len(sb)) + 1):
        if j != k and sb[-j] not in (1, sa[-j]) and sa[-j] != 1:
            sb[-j] = sa[-j]
    a = draw(st.integers(2, 5))
    b = draw(st.integers(2, 5).filter(lambda v: v != a))
    sa[-k], sb[-k] = a, b
    return tuple(sa), tuple(sb), a, b


shapes = st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple)


# ---------------------------------------------------------------------------------------------
# mismatched shapes: binary ops, in-place ops, setitem, matmul, linear, losses, cat / stack

BINARY = {
    "add": lambda L, a, b: a + b,
    "sub": lambda L, a, b: L.sub(a, b),
    "mul": lambda L, a, b: a.mul(b),
    "div": lambda L, a, b: a / b,
    "pow": lambda L, a, b: a.pow(b),
    "remainder": lambda L, a, b: a.remainder(b),
    "maximum": lambda L, a, b: L.maximum(a, b),
    "minimum": lambda L, a, b: L.minimum(a, b),
    "eq": lambda L, a, b: a == b,
    "lt": lambda L, a, b: a < b,
    "where": lambda L, a, b: L.where(a > 0, a, b),
    "masked_fill": lambda L, a, b: a.masked_fill(b > 0, 0.0),
}


@SETTINGS
@given(sh=incompatible_shapes(), op=st.sampled_from(sorted(BINARY)), rg=st.booleans(), swap=st.booleans())
def test_binary_op_incompatible_shapes(sh, op, rg, swap):
    sa, sb, a, b = sh
    if swap:
        sa, sb = sb, sa
    grads = [f32(*sa, seed=5) if rg else None, None if rg else f32(*sb, seed=6)]  # existing .grad must survive
    check_invalid(BINARY[op], [A(f32(*sa), rg, grad=grads[0]), A(f32(*sb, seed=1), not rg, grad=grads[1])],
                  RuntimeError, [N(a), N(b)])


INPLACE = {
    "add_": lambda L, x, y: x.add_(y),
    "sub_": lambda L, x, y: x.sub_(y, alpha=2),
    "mul_": lambda L, x, y: x.mul_(y),
    "div_": lambda L, x, y: x.div_(y),
    "copy_": lambda L, x, y: x.copy_(y),
    "iadd": lambda L, x, y: x.__iadd__(y),
    "isub": lambda L, x, y: x.__isub__(y),
    "imul": lambda L, x, y: x.__imul__(y),
    "itruediv": lambda L, x, y: x.__itruediv__(y),
}


@st.composite
def inplace_bad_other(draw):
    """(self shape, other shape, sizes to mention): other either does not broadcast with self, or
    broadcasts only to a larger shape (the result would not fit in self)."""
    if draw(st.booleans()):
        sa, sb, a, b = draw(incompatible_shapes(min_dims=2 if draw(st.booleans()) else 1))
        return sa, sb, [N(a), N(b)]
    sa = draw(st.lists(st.integers(1, 4), min_size=1, max_size=3))
    if draw(st.booleans()) or all(s > 1 for s in sa):
        sb = [draw(st.integers(2, 4))] + list(sa)
    else:
        sb = list(sa)
        i = [j for j, s in enumerate(sa) if s == 1][0]
        sb[i] = draw(st.integers(2, 4))
    return tuple(sa), tuple(sb), [S(*sa), S(*sb)]


@SETTINGS
@given(case=inplace_bad_other(), op=st.sampled_from(sorted(INPLACE)), view=st.booleans(), rg=st.booleans())
def test_inplace_op_bad_shape_leaves_self_unchanged(case, op, view, rg):
    sa, sb, mentions = case
    view = view and len(sa) >= 2
    if op == "copy_":  # copy_ reports the two shapes in either spelling
        mentions = []
    check_invalid(INPLACE[op], [A(f32(*sa), view="t" if view else None), A(f32(*sb, seed=1), rg)], RuntimeError,
                  mentions)


def test_inplace_op_bad_shape_message_names_both_shapes():
    for op in ("add_", "mul_", "copy_"):
        check_invalid(INPLACE[op], [A(f32(2, 3)), A(f32(4, 3))], RuntimeError, [N(2), N(4)])


@SETTINGS
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple), data=st.data())
def test_setitem_value_of_wrong_shape(shape, data):
    """x[idx] = v where v does not broadcast to x[idx]'s shape."""
    kind = data.draw(st.sampled_from(["all", "int", "slice", "tensor_index", "mask"]))
    n0 = shape[0]
    if kind == "all":
        idx, region = slice(None), shape
    elif kind == "int":
        i = data.draw(st.integers(-n0, n0 - 1))
        idx, region = i, shape[1:]
    elif kind == "slice":
        idx, region = slice(0, 1), (1,) + shape[1:]
    elif kind == "tensor_index":
        rows = data.draw(st.lists(st.integers(0, n0 - 1), min_size=1, max_size=3))
        idx, region = i64(*rows), (len(rows),) + shape[1:]
    else:
        m = np.zeros(shape, dtype=bool)
        m.reshape(-1)[: data.draw(st.integers(1, int(np.prod(shape))))] = True
        idx, region = m, (int(m.sum()),)
    if len(region) == 0:
        bad = (data.draw(st.integers(2, 4)),)  # a 1-element target cannot take 2+ values
    else:
        bad = list(region)
        j = data.draw(st.integers(0, len(region) - 1))
        bad[j] = region[j] + data.draw(st.integers(1, 3))
        bad = tuple(bad)

    def fn(L, x, v):
        i = L.tensor(idx) if isinstance(idx, np.ndarray) else idx
        x[i] = v

    check_invalid(fn, [A(f32(*shape)), A(f32(*bad, seed=1))], RuntimeError)


@SETTINGS
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple), data=st.data())
def test_setitem_out_of_range_index_writes_nothing(shape, data):
    """The valid leading entries of an index list must not be written when a later one is out of
    range (torch itself writes them; ember must not)."""
    n0 = shape[0]
    good = data.draw(st.lists(st.integers(0, n0 - 1), min_size=1, max_size=3))
    bad = data.draw(st.one_of(st.integers(n0, n0 + 5), st.integers(-n0 - 5, -n0 - 1)))
    as_tensor = data.draw(st.booleans())
    value = data.draw(st.sampled_from(["scalar", "tensor"]))

    def fn(L, x):
        i = L.tensor(i64(*good, bad)) if as_tensor else [*good, bad]
        x[i] = 7.0 if value == "scalar" else L.full((len(good) + 1,) + shape[1:], 7.0)

    check_invalid(fn, [A(f32(*shape))], IndexError, [N(bad), N(n0)])


@SETTINGS
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple), extra=st.integers(1, 3))
def test_setitem_mask_of_wrong_shape(shape, extra):
    bad = (shape[0] + extra,) + shape[1:]

    def fn(L, x, m):
        x[m] = 1.0

    check_invalid(fn, [A(f32(*shape)), A(np.ones(bad, dtype=bool))], IndexError, [N(shape[0] + extra)])


@st.composite
def matmul_bad(draw):
    n, m, bsz = draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.integers(1, 3))
    k1 = draw(st.integers(1, 5))
    k2 = draw(st.integers(1, 5).filter(lambda v: v != k1))
    da, db = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    sa = {1: (k1,), 2: (n, k1), 3: (bsz, n, k1)}[da]
    sb = {1: (k2,), 2: (k2, m), 3: (bsz, k2, m)}[db]
    return sa, sb, k1, k2


@SETTINGS
@given(case=matmul_bad(), rg=st.booleans())
def test_matmul_inner_dim_mismatch(case, rg):
    sa, sb, k1, k2 = case
    check_invalid(lambda L, a, b: a @ b, [A(f32(*sa), rg), A(f32(*sb, seed=1), rg)], RuntimeError, [N(k1), N(k2)])
    if len(sa) == len(sb) == 2:
        check_invalid(lambda L, a, b: L.mm(a, b), [A(f32(*sa)), A(f32(*sb, seed=1))], RuntimeError, [N(k1), N(k2)])
    if len(sa) == len(sb) == 3:
        check_invalid(lambda L, a, b: L.bmm(a, b), [A(f32(*sa)), A(f32(*sb, seed=1))], RuntimeError, [N(k1), N(k2)])


@SETTINGS
@given(b1=st.integers(2, 4), b2=st.integers(2, 4), k=st.integers(1, 3))
def test_matmul_batch_dim_mismatch(b1, b2, k):
    if b1 == b2:
        b2 += 1
    check_invalid(lambda L, a, b: a @ b, [A(f32(b1, 2, k)), A(f32(b2, k, 2))], RuntimeError, [N(b1), N(b2)])
    check_invalid(lambda L, a, b: L.bmm(a, b), [A(f32(b1, 2, k)), A(f32(b2, k, 2))], RuntimeError, [N(b1), N(b2)])


@SETTINGS
@given(fin=st.integers(1, 5), fout=st.integers(1, 4), got=st.integers(1, 6), lead=st.lists(st.integers(1, 3), max_size=2),
       bias=st.booleans())
def test_linear_wrong_in_features(fin, fout, got, lead, bias):
    if got == fin:
        got += 1
    mods = {}

    def fn(L, x):
        return mods[L](x)

    def extra(L, args):
        m = L.nn.Linear(fin, fout, bias=bias)
        mods[L] = m
        return _module_params(L, m)

    check_invalid(fn, [A(f32(*lead, got), True)], RuntimeError, [N(fin), N(got)], extra=extra)


@SETTINGS
@given(dt=st.sampled_from(["int64", "bool", "float64"]), lead=st.lists(st.integers(1, 3), min_size=1, max_size=2))
def test_linear_wrong_input_dtype(dt, lead):
    mods = {}
    arr = {"int64": np.ones((*lead, 3), np.int64), "bool": np.ones((*lead, 3), bool),
           "float64": np.ones((*lead, 3), np.float64)}[dt]

    def extra(L, args):
        mods[L] = L.nn.Linear(3, 2)
        return _module_params(L, mods[L])

    names = {"int64": ("int64", "Long"), "bool": ("bool",), "float64": ("float64", "Double")}[dt]
    check_invalid(lambda L, x: mods[L](x), [A(arr)], RuntimeError, [names, ("float32", "Float")], extra=extra)
    check_invalid(lambda L, x, w: L.nn.functional.linear(x, w), [A(arr), A(f32(2, 3), True)], RuntimeError, [names])


@SETTINGS
@given(n=st.integers(1, 4), fin=st.integers(1, 4), fout=st.integers(1, 4), bad=st.integers(1, 6))
def test_functional_linear_bias_of_wrong_size(n, fin, fout, bad):
    if bad in (fout, 1):
        bad = fout + 1 if fout + 1 != 1 else fout + 2
    check_invalid(lambda L, x, w, b: L.nn.functional.linear(x, w, b),
                  [A(f32(n, fin)), A(f32(fout, fin), True), A(f32(bad), True)], RuntimeError, [N(bad)])


ELEMENTWISE_LOSSES = {
    "mse": lambda L, x, y: L.nn.functional.mse_loss(x, y),
    "l1": lambda L, x, y: L.nn.functional.l1_loss(x, y, reduction="sum"),
    "smooth_l1": lambda L, x, y: L.nn.SmoothL1Loss(reduction="none")(x, y),
    "huber": lambda L, x, y: L.nn.HuberLoss(delta=0.5)(x, y),
}


@SETTINGS
@given(sh=incompatible_shapes(max_dims=3), loss=st.sampled_from(sorted(ELEMENTWISE_LOSSES)))
def test_elementwise_loss_incompatible_shapes(sh, loss):
    sa, sb, a, b = sh
    check_invalid(ELEMENTWISE_LOSSES[loss], [A(f32(*sa), True), A(f32(*sb, seed=1))], RuntimeError, [N(a), N(b)])


@SETTINGS
@given(sa=shapes, sb=shapes, logits=st.booleans(), module=st.booleans())
def test_bce_target_shape_must_equal_input_shape(sa, sb, logits, module):
    if sa == sb:
        sb = sb + (2,)
    if logits:
        fn = (lambda L, x, y: L.nn.BCEWithLogitsLoss()(x, y)) if module else \
            (lambda L, x, y: L.nn.functional.binary_cross_entropy_with_logits(x, y))
        x = f32(*sa)
    else:
        fn = (lambda L, x, y: L.nn.BCELoss()(x, y)) if module else \
            (lambda L, x, y: L.nn.functional.binary_cross_entropy(x, y))
        x = f32(*sa, low=0.1, high=0.9)
    check_invalid(fn, [A(x, True), A(f32(*sb, seed=1, low=0.0, high=1.0))], ValueError, [S(*sa), S(*sb)])


@SETTINGS
@given(n=st.integers(1, 5), m=st.integers(0, 6), c=st.integers(2, 5), loss=st.sampled_from(["ce", "nll", "CE", "NLL"]))
def test_class_loss_batch_size_mismatch(n, m, c, loss):
    if m == n:
        m += 1
    fn = {"ce": lambda L, x, t: L.nn.functional.cross_entropy(x, t),
          "nll": lambda L, x, t: L.nn.functional.nll_loss(x, t),
          "CE": lambda L, x, t: L.nn.CrossEntropyLoss(reduction="sum")(x, t),
          "NLL": lambda L, x, t: L.nn.NLLLoss(reduction="none")(x, t)}[loss]
    check_invalid(fn, [A(f32(n, c), True), A(np.zeros(m, np.int64))], ValueError, [N(n), N(m)])


@st.composite
def cat_bad(draw):
    """A list of 2-4 shapes of one rank that differ in a dimension other than the cat dim."""
    nd = draw(st.integers(1, 3))
    base = draw(st.lists(st.integers(1, 4), min_size=nd, max_size=nd))
    dim = draw(st.integers(-nd, nd - 1))
    count = draw(st.integers(2, 4))
    shapes_ = []
    for _ in range(count):
        s = list(base)
        s[dim] = draw(st.integers(1, 3))
        shapes_.append(s)
    others = [j for j in range(nd) if j != dim % nd]
    if not others:  # rank 1: make one tensor rank 2 instead
        bad = draw(st.integers(0, count - 1))
        shapes_[bad] = shapes_[bad] + [2]
        return [tuple(s) for s in shapes_], dim, ()
    j = draw(st.sampled_from(others))
    bad = draw(st.integers(1, count - 1))
    good = shapes_[0][j]
    shapes_[bad][j] = good + draw(st.integers(1, 3))
    return [tuple(s) for s in shapes_], dim, (N(good), N(shapes_[bad][j]))


@SETTINGS
@given(case=cat_bad(), rg=st.booleans())
def test_cat_mismatched_shapes(case, rg):
    shapes_, dim, mentions = case
    check_invalid(lambda L, *ts: L.cat(list(ts), dim=dim), [A(f32(*s, seed=i), rg) for i, s in enumerate(shapes_)],
                  RuntimeError, mentions)


@SETTINGS
@given(base=shapes, count=st.integers(2, 4), data=st.data())
def test_stack_mismatched_shapes(base, count, data):
    bad = data.draw(st.integers(1, count - 1))
    other = list(base)
    j = data.draw(st.integers(0, len(base) - 1))
    other[j] += data.draw(st.integers(1, 3))
    shapes_ = [base] * count
    shapes_[bad] = tuple(other)
    dim = data.draw(st.integers(-len(base) - 1, len(base)))
    check_invalid(lambda L, *ts: L.stack(list(ts), dim=dim), [A(f32(*s, seed=i)) for i, s in enumerate(shapes_)],
                  RuntimeError, [S(*base), S(*other)])


# ---------------------------------------------------------------------------------------------
# wrong dtypes

DTYPE_CASES = {
    # name: (fn, inputs, exc, mentions)
    "nll_float_target": (lambda L, x, t: L.nn.functional.nll_loss(x, t), [A(f32(3, 4), True), A(np.zeros(3, np.float32))],
                         RuntimeError, [("float", "Float")]),
    "ce_bool_target": (lambda L, x, t: L.nn.functional.cross_entropy(x, t), [A(f32(3, 4), True), A(np.zeros(3, bool))],
                       RuntimeError, [("bool", "Bool")]),
    "ce_float_target_of_wrong_shape": (lambda L, x, t: L.nn.CrossEntropyLoss()(x, t),
                                       [A(f32(3, 4), True), A(np.zeros(3, np.float32))], RuntimeError, []),
    "ce_int_input": (lambda L, x, t: L.nn.functional.cross_entropy(x, t), [A(np.ones((2, 3), np.int64)), A(i64(0, 1))],
                     RuntimeError, [("int64", "Long")]),
    "mse_int": (lambda L, x, t: L.nn.functional.mse_loss(x, t), [A(i64(1, 2)), A(i64(1, 2))], RuntimeError,
                [("int64", "Long")]),
    "mean_int": (lambda L, x: x.mean(0), [A(np.ones((2, 3), np.int64))], RuntimeError, [("int64", "Long")]),
    "mean_bool": (lambda L, x: x.mean(), [A(np.ones(3, bool))], RuntimeError, [("bool", "Bool")]),
    "var_int": (lambda L, x: x.var(), [A(i64(1, 2, 3))], RuntimeError, []),
    "bool_sub": (lambda L, x, y: x - y, [A(np.ones(3, bool)), A(np.zeros(3, bool))], RuntimeError, []),
    "bool_neg": (lambda L, x: -x, [A(np.ones(3, bool))], RuntimeError, []),
    "bool_matmul": (lambda L, x, y: x @ y, [A(np.ones((2, 2), bool)), A(np.ones((2, 2), bool))], RuntimeError, []),
    "int_inplace_float": (lambda L, x: x.mul_(0.5), [A(i64(1, 2))], RuntimeError, [("int64", "Long")]),
    "int_inplace_div": (lambda L, x, y: x.div_(y), [A(i64(4, 2)), A(i64(2, 2))], RuntimeError, [("int64", "Long")]),
    "bool_inplace_add_float": (lambda L, x: x.add_(1.5), [A(np.ones(2, bool))], RuntimeError, [("bool", "Bool")]),
    "where_float_cond": (lambda L, c, x: L.where(c, x, x), [A(f32(3)), A(f32(3))], RuntimeError, ["bool"]),
    "masked_fill_float_mask": (lambda L, x, m: x.masked_fill(m, 0.0), [A(f32(3)), A(f32(3))], RuntimeError, ["bool"]),
    "index_select_float_index": (lambda L, x, i: x.index_select(0, i), [A(f32(3)), A(np.zeros(1, np.float32))],
                                 RuntimeError, []),
    "gather_float_index": (lambda L, x, i: x.gather(1, i), [A(f32(2, 2)), A(np.zeros((2, 1), np.float32))],
                           RuntimeError, []),
    "scatter_add_float_index": (lambda L, x, i, s: x.scatter_add(0, i, s), [A(f32(3)), A(np.zeros(1, np.float32)),
                                                                            A(f32(1))], RuntimeError, []),
    "embedding_float_index": (lambda L, i: L.nn.Embedding(4, 2)(i), [A(np.zeros(2, np.float32))], RuntimeError, []),
    "embedding_bool_index": (lambda L, i: L.nn.Embedding(4, 2)(i), [A(np.zeros(2, bool))], RuntimeError, []),
    "one_hot_float": (lambda L, i: L.nn.functional.one_hot(i, 3), [A(np.zeros(2, np.float32))], RuntimeError, []),
    "one_hot_bool": (lambda L, i: L.nn.functional.one_hot(i, 3), [A(np.zeros(2, bool))], RuntimeError, []),
    "getitem_float_index": (lambda L, x, i: x[i], [A(f32(3)), A(np.zeros(1, np.float32))], IndexError, []),
    "matmul_mixed_float": (lambda L, x, y: x @ y, [A(f32(2, 2)), A(np.ones((2, 2)))], RuntimeError,
                           [("float32", "Float"), ("float64", "Double")]),
    "layer_norm_int": (lambda L, x: L.nn.LayerNorm(2)(x), [A(np.ones((2, 2), np.int64))], RuntimeError, []),
    "batch_norm_int": (lambda L, x: L.nn.BatchNorm1d(2)(x), [A(np.ones((3, 2), np.int64))], RuntimeError, []),
    "int_requires_grad": (lambda L, x: x.requires_grad_(), [A(i64(1, 2))], RuntimeError, ["floating point"]),
    "bce_out_of_range_input": (lambda L, x, y: L.nn.functional.binary_cross_entropy(x, y),
                               [A(np.array([0.5, 1.5], np.float32), True), A(np.ones(2, np.float32))], RuntimeError,
                               ["between 0 and 1"]),
    "softmax_int": (lambda L, x: L.softmax(x, 0), [A(i64(1, 2))], RuntimeError, [("int64", "Long")]),
    "log_softmax_bool": (lambda L, x: L.nn.functional.log_softmax(x, 0), [A(np.ones(2, bool))], RuntimeError,
                         [("bool", "Bool")]),
    "norm_int": (lambda L, x: x.norm(), [A(i64(3, 4))], RuntimeError, [("int64", "Long")]),
    "relu_bool": (lambda L, x: L.relu(x), [A(np.ones(2, bool))], RuntimeError, [("bool", "Bool")]),
    "bce_int_target": (lambda L, x, y: L.nn.functional.binary_cross_entropy(x, y),
                       [A(f32(2, low=0.1, high=0.9), True), A(i64(0, 1))], RuntimeError, [("int64", "Long")]),
    "bce_float64_target": (lambda L, x, y: L.nn.BCELoss()(x, y),
                           [A(f32(2, low=0.1, high=0.9), True), A(np.ones(2))], RuntimeError,
                           [("float64", "Double")]),
    "bce_with_logits_int_target": (lambda L, x, y: L.nn.functional.binary_cross_entropy_with_logits(x, y),
                                   [A(f32(2), True), A(i64(0, 1))], RuntimeError, [("int64", "Long")]),
    "ce_weight_dtype": (lambda L, x, t, w: L.nn.functional.cross_entropy(x, t, weight=w),
                        [A(np.ones((2, 3)), True), A(i64(0, 1)), A(np.ones(3, np.float32))], RuntimeError,
                        [("float32", "Float")]),
}


@pytest.mark.parametrize("name", sorted(DTYPE_CASES))
def test_wrong_dtype(name):
    fn, inputs, exc, mentions = DTYPE_CASES[name]
    check_invalid(fn, inputs, exc, mentions)


# ---------------------------------------------------------------------------------------------
# bad dims

DIM_OPS = {
    # name: (fn(L, x, d), valid range size as a function of ndim)
    "sum": (lambda L, x, d: x.sum(d), 0),
    "sum_keepdim": (lambda L, x, d: x.sum(dim=(d,), keepdim=True), 0),
    "mean": (lambda L, x, d: x.mean(d), 0),
    "max": (lambda L, x, d: x.max(d), 0),
    "argmax": (lambda L, x, d: x.argmax(d), 0),
    "var": (lambda L, x, d: x.var(d), 0),
    "prod": (lambda L, x, d: x.prod(d), 0),
    "softmax": (lambda L, x, d: x.softmax(d), 0),
    "log_softmax": (lambda L, x, d: L.log_softmax(x, d), 0),
    "F.softmax": (lambda L, x, d: L.nn.functional.softmax(x, dim=d), 0),
    "transpose": (lambda L, x, d: x.transpose(0, d), 0),
    "squeeze": (lambda L, x, d: x.squeeze(d), 0),
    "unsqueeze": (lambda L, x, d: x.unsqueeze(d), 1),
    "flatten": (lambda L, x, d: x.flatten(d), 0),
    "size": (lambda L, x, d: x.size(d), 0),
    "cat": (lambda L, x, d: L.cat([x, x], dim=d), 0),
    "stack": (lambda L, x, d: L.stack([x, x], dim=d), 1),
    "split": (lambda L, x, d: x.split(1, dim=d), 0),
    "chunk": (lambda L, x, d: x.chunk(2, dim=d), 0),
    "index_select": (lambda L, x, d: x.index_select(d, L.tensor([0])), 0),
    "narrow": (lambda L, x, d: x.narrow(d, 0, 1), 0),
    "select": (lambda L, x, d: x.select(d, 0), 0),
    "gather": (lambda L, x, d: x.gather(d, L.zeros(x.shape, dtype=L.int64)), 0),
    "Flatten": (lambda L, x, d: L.nn.Flatten(0, d)(x), 0),
    "LogSoftmax": (lambda L, x, d: L.nn.LogSoftmax(dim=d)(x), 0),
}
NEEDS_NDIM1 = {"cat", "transpose", "narrow", "select", "index_select", "split", "chunk", "gather", "Flatten"}


@SETTINGS
@given(shape=st.lists(st.integers(1, 3), min_size=0, max_size=3).map(tuple), op=st.sampled_from(sorted(DIM_OPS)),
       data=st.data(), rg=st.booleans())
def test_dim_out_of_range(shape, op, data, rg):
    fn, extra = DIM_OPS[op]
    if (op in NEEDS_NDIM1 or op in ("flatten", "Flatten")) and len(shape) == 0:
        shape = (2,)  # 0-d flatten: test_flatten_0d_dim_out_of_range
    hi = max(len(shape) + extra, 1)  # a 0-d tensor accepts dims -1 and 0
    d = data.draw(st.one_of(st.integers(hi, hi + 4), st.integers(-hi - 4, -hi - 1)))
    check_invalid(lambda L, x: fn(L, x, d), [A(f32(*shape), rg)], IndexError, [N(d), "range"])


@pytest.mark.parametrize("dims", [(5,), (-2,), (0, 3)])
def test_flatten_0d_dim_out_of_range(dims):
    check_invalid(lambda L, x: x.flatten(*dims), [A(np.float32(1.0))], IndexError, ["range"])


@SETTINGS
@given(shape=st.lists(st.integers(1, 3), min_size=1, max_size=4).map(tuple), data=st.data(),
       op=st.sampled_from(["sum", "mean", "var", "permute"]))
def test_duplicate_dims(shape, data, op):
    nd = len(shape)
    d = data.draw(st.integers(0, nd - 1))
    alias = data.draw(st.sampled_from([d, d - nd]))
    if op == "permute":
        dims = list(range(nd))
        if nd == 1:
            dims = [0, 0]
        else:
            other = (d + 1) % nd
            dims[other] = alias  # d now appears twice, `other` is missing
        check_invalid(lambda L, x: x.permute(*dims), [A(f32(*shape))], RuntimeError)
        return
    check_invalid(lambda L, x: getattr(x, op)(dim=(d, alias)), [A(f32(*shape), True)], RuntimeError,
                  [N(d), "multiple"])


# ---------------------------------------------------------------------------------------------
# out-of-range indices

def _oob(n):
    """An index outside [-n, n)."""
    return st.one_of(st.integers(n, n + 6), st.integers(-n - 6, -n - 1), st.sampled_from([2**62, -2**62]))


@SETTINGS
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple), data=st.data())
def test_getitem_int_out_of_range(shape, data):
    pos = data.draw(st.integers(0, len(shape) - 1))
    bad = data.draw(_oob(shape[pos]))
    before = [data.draw(st.integers(-s, s - 1)) if data.draw(st.booleans()) else slice(None) for s in shape[:pos]]
    idx = tuple(before) + (bad,)
    check_invalid(lambda L, x: x[idx], [A(f32(*shape), True)], IndexError, [N(bad), N(shape[pos])])


@SETTINGS
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple), data=st.data())
def test_getitem_tensor_or_list_index_out_of_range(shape, data):
    n0 = shape[0]
    good = data.draw(st.lists(st.integers(-n0, n0 - 1), max_size=3))
    bad = data.draw(_oob(n0))
    vals = good + [bad]
    kind = data.draw(st.sampled_from(["tensor", "list"]))
    check_invalid(lambda L, x: x[L.tensor(i64(*vals)) if kind == "tensor" else vals], [A(f32(*shape))], IndexError,
                  [N(bad), N(n0)])


def test_getitem_message_names_the_right_dimension():
    check_invalid(lambda L, x: x[1, -4], [A(f32(2, 3))], IndexError, ["dimension 1"])


@SETTINGS
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple), data=st.data(),
       op=st.sampled_from(["index_select", "gather", "embedding", "Embedding", "narrow", "select", "index_add"]))
def test_index_out_of_range(shape, data, op):
    n0 = shape[0]
    bad = data.draw(st.one_of(st.integers(n0, n0 + 6), st.sampled_from([2**62])))
    if op == "index_select":
        fn, exc = (lambda L, x: x.index_select(0, L.tensor(i64(0, bad)))), IndexError
    elif op == "gather":
        def fn(L, x):
            idx = np.zeros((1,) + shape[1:], np.int64)
            idx.reshape(-1)[-1] = bad
            return x.gather(0, L.tensor(idx))
        exc = RuntimeError
    elif op == "embedding":
        shape = shape[:2] if len(shape) >= 2 else (n0, 2)
        fn, exc = (lambda L, w: L.nn.functional.embedding(L.tensor(i64(0, bad)), w)), IndexError
    elif op == "Embedding":
        mods = {}

        def extra(L, args):
            mods[L] = L.nn.Embedding(n0, 3)
            return _module_params(L, mods[L])

        check_invalid(lambda L: mods[L](L.tensor([[0, bad]])), [], IndexError, [N(bad)], extra=extra)
        return
    elif op == "narrow":  # start beyond the size (start == size with length 1 is test_narrow_bad_start_or_length)
        bad = max(bad, n0 + 1)
        fn, exc = (lambda L, x: x.narrow(0, bad, 1)), IndexError
    elif op == "select":
        fn, exc = (lambda L, x: x.select(0, bad)), IndexError
    else:  # torch raises IndexError for a 1-d self, RuntimeError for 2-d (and for 2**62): either is accepted
        fn, exc = (lambda L, x: x.index_add(0, L.tensor(i64(bad)), L.ones((1,) + shape[1:]))), (IndexError, RuntimeError)
    check_invalid(fn, [A(f32(*shape), True)], exc, [N(bad)])


NEGATIVE_INDEX_CASES = {
    "index_select": (lambda L, x: x.index_select(0, L.tensor([-1])), IndexError),
    "gather": (lambda L, x: x.gather(0, L.tensor([[-1, 0]])), RuntimeError),
    "embedding": (lambda L, x: L.nn.functional.embedding(L.tensor([0, -1]), x), IndexError),
    "index_add": (lambda L, x: x.index_add(0, L.tensor([-1]), L.ones(1, 2)), (IndexError, RuntimeError)),
    "scatter_add": (lambda L, x: x.scatter_add(0, L.tensor([[-1, 0]]), L.ones(1, 2)), RuntimeError),
}


@pytest.mark.parametrize("op", sorted(NEGATIVE_INDEX_CASES))
def test_negative_index_is_out_of_range(op):
    fn, exc = NEGATIVE_INDEX_CASES[op]
    check_invalid(fn, [A(f32(3, 2), True)], exc, [N(-1)])


NARROW_BUGS = {
    "start_plus_length_past_end": ((0, 3, 1), RuntimeError, [], "narrow(0, 3, 1) on size 3 raises IndexError (torch: "
                                   "RuntimeError 'start (3) + length (1) exceeds dimension size (3)')"),
    "overflowing_start_and_length": ((0, 2**62, 2**62), IndexError, [], "narrow(0, 2**62, 2**62) on size 3 returns an "
                                     "empty tensor (start + length overflows; torch: IndexError 'start out of range')"),
    "negative_length": ((0, 0, -1), RuntimeError, [], "narrow(0, 0, -1) raises IndexError (torch: RuntimeError "
                        "'narrow(): length must be non-negative.')"),
    "negative_start_message": ((0, -4, 1), IndexError, [N(-4)], "narrow(0, -4, 1) on size 3 reports 'start (-1)', "
                               "not the -4 it was given (torch: 'start out of range ... but got -4')"),
}


NARROW_FIXED = set(NARROW_BUGS)  # every one fixed; kept as regression tests


@pytest.mark.parametrize("name", [k if k in NARROW_FIXED else pytest.param(k, marks=xfail_bug(v[3]))
                                  for k, v in NARROW_BUGS.items()])
def test_narrow_bad_start_or_length(name):
    args, exc, mentions, _ = NARROW_BUGS[name]
    check_invalid(lambda L, x: x.narrow(*args), [A(f32(3))], exc, mentions)


def test_narrow_start_out_of_range():
    check_invalid(lambda L, x: x.narrow(0, 5, 0), [A(f32(3))], IndexError, [N(5)])


@SETTINGS
@given(n=st.integers(1, 4), c=st.integers(2, 5), data=st.data(), module=st.booleans(),
       loss=st.sampled_from(["ce", "nll"]))
def test_class_target_out_of_range(n, c, data, module, loss):
    bad = data.draw(st.one_of(st.integers(c, c + 5), st.integers(-50, -1).filter(lambda v: v != -100),
                              st.sampled_from([2**62])))
    pos = data.draw(st.integers(0, n - 1))
    t = np.zeros(n, np.int64)
    t[pos] = bad
    name = {"ce": ("cross_entropy", "CrossEntropyLoss"), "nll": ("nll_loss", "NLLLoss")}[loss]

    def fn(L, x, t_):
        f = getattr(L.nn, name[1])() if module else getattr(L.nn.functional, name[0])
        return f(x, t_)

    check_invalid(fn, [A(f32(n, c), True), A(t)], IndexError, [N(bad)])


@SETTINGS
@given(n=st.integers(1, 4), c=st.integers(1, 5), data=st.data())
def test_one_hot_out_of_range(n, c, data):
    bad = data.draw(st.one_of(st.integers(c, c + 5), st.integers(-5, -1)))
    vals = np.zeros(n, np.int64)
    vals[data.draw(st.integers(0, n - 1))] = bad
    check_invalid(lambda L, t: L.nn.functional.one_hot(t, c), [A(vals)], RuntimeError, ["num_classes"] if bad >= c
                  else [])


# ---------------------------------------------------------------------------------------------
# negative and overflowing sizes

FACTORIES = {
    "zeros": lambda L, s: L.zeros(*s),
    "ones": lambda L, s: L.ones(s),
    "empty": lambda L, s: L.empty(*s),
    "full": lambda L, s: L.full(s, 1.5),
    "rand": lambda L, s: L.rand(*s),
    "randn": lambda L, s: L.randn(s),
    "randint": lambda L, s: L.randint(0, 3, s),
    "Linear": lambda L, s: L.nn.Linear(s[0], s[-1]),
}


@SETTINGS
@given(shape=st.lists(st.integers(-5, 4), min_size=1, max_size=3).filter(lambda s: min(s) < 0).map(tuple),
       op=st.sampled_from(sorted(FACTORIES)))
def test_factory_negative_size(shape, op):
    neg = min(shape)
    if op == "Linear":
        shape = (shape[0], shape[-1]) if min(shape[0], shape[-1]) < 0 else (neg, 2)
        neg = min(shape)
    check_invalid(lambda L: FACTORIES[op](L, shape), [], RuntimeError, [N(neg)])


@SETTINGS
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple), data=st.data(),
       op=st.sampled_from(["view", "reshape"]))
def test_view_reshape_negative_size(shape, data, op):
    n = int(np.prod(shape))
    neg = data.draw(st.integers(-6, -2))
    new = [neg, n] if data.draw(st.booleans()) else [n, neg]
    check_invalid(lambda L, x: getattr(x, op)(*new), [A(f32(*shape), True)], RuntimeError, [N(neg)])


@SETTINGS
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple), data=st.data())
def test_view_reshape_wrong_numel(shape, data):
    n = int(np.prod(shape))
    m = data.draw(st.integers(1, 30).filter(lambda v: v != n))
    op = data.draw(st.sampled_from(["view", "reshape"]))
    check_invalid(lambda L, x: getattr(x, op)(m), [A(f32(*shape), True)], RuntimeError, [N(m), N(n)])


@SETTINGS
@given(shape=st.lists(st.integers(1, 3), min_size=1, max_size=3).map(tuple), data=st.data())
def test_expand_incompatible(shape, data):
    """expand to a size that is neither the existing size nor allowed (existing size != 1)."""
    j = data.draw(st.integers(0, len(shape) - 1))
    shape = list(shape)
    shape[j] = max(shape[j], 2)
    new = list(shape)
    new[j] = shape[j] + data.draw(st.integers(1, 3))
    check_invalid(lambda L, x: x.expand(*new), [A(f32(*shape), True)], RuntimeError, [N(shape[j]), N(new[j])])


@pytest.mark.parametrize("new", [(-2, 3), (-5, -1), (3, -2, 3)])
def test_expand_negative_size(new):
    check_invalid(lambda L, x: x.expand(*new), [A(f32(1, 3))], RuntimeError)


def test_expand_negative_size_of_non_singleton_dim():
    check_invalid(lambda L, x: x.expand(2, -3), [A(f32(1, 3))], RuntimeError, [N(-3)])


@pytest.mark.parametrize("case", ["zeros", "full", "expand_sum"])
def test_size_overflow(case):
    fn = {"zeros": lambda L: L.zeros(2**40, 2**40), "full": lambda L: L.full((2**62, 4), 1.0),
          "expand_sum": lambda L: L.ones(1, 1).expand(2**40, 2**40).sum()}[case]
    check_invalid(fn, [], RuntimeError)


# ---------------------------------------------------------------------------------------------
# non-tensor arguments

BAD_VALUES = {"str": "abc", "list_of_str": ["a"], "object": object(), "dict": {"a": 1}}

NON_TENSOR = {
    # name: (fn(L, x, v), exc); x is a float tensor, v the bad value
    "add": (lambda L, x, v: x + v, TypeError),
    "torch.add": (lambda L, x, v: L.add(x, v), TypeError),
    "mul_": (lambda L, x, v: x.mul_(v), TypeError),
    "add_": (lambda L, x, v: x.add_(v), TypeError),
    "matmul": (lambda L, x, v: L.matmul(x, v), TypeError),
    "mm": (lambda L, x, v: L.mm(x, v), TypeError),
    "cat_element": (lambda L, x, v: L.cat([x, v]), TypeError),
    "stack_element": (lambda L, x, v: L.stack([x, v]), TypeError),
    "copy_": (lambda L, x, v: x.copy_(v), TypeError),
    "setitem_value": (lambda L, x, v: x.__setitem__(0, v), TypeError),
    "cross_entropy_target": (lambda L, x, v: L.nn.functional.cross_entropy(x, v), TypeError),
    "cross_entropy_input": (lambda L, x, v: L.nn.functional.cross_entropy(v, L.tensor([0, 1])), TypeError),
    "linear_weight": (lambda L, x, v: L.nn.functional.linear(x, v), TypeError),
    "Linear_input": (lambda L, x, v: L.nn.Linear(2, 2)(v), TypeError),
    "relu": (lambda L, x, v: L.nn.functional.relu(v), TypeError),
    "index_select_index": (lambda L, x, v: x.index_select(0, v), TypeError),
    "mse_input": (lambda L, x, v: L.nn.functional.mse_loss(v, x), (TypeError, AttributeError)),
    "clamp_": (lambda L, x, v: x.clamp_(v), TypeError),
    "zeros_size": (lambda L, x, v: L.zeros(v), TypeError),
    "reshape_size": (lambda L, x, v: x.reshape(v), TypeError),
    "tensor_data": (lambda L, x, v: L.tensor(v), (TypeError, RuntimeError)),
    "sum_dim": (lambda L, x, v: x.sum(v), TypeError),
    "view_size": (lambda L, x, v: x.view(v), TypeError),
    "cat_not_a_list": (lambda L, x, v: L.cat(x), TypeError),
    "embedding_list": (lambda L, x, v: L.nn.Embedding(3, 2)([0, 1]), TypeError),
    "dropout_train_input": (lambda L, x, v: L.nn.Dropout(0.5).train()(v), TypeError),
    "dropout_eval_input": (lambda L, x, v: L.nn.Dropout(0.5).eval()(v), TypeError),
    "zeros_like": (lambda L, x, v: L.zeros_like(v), TypeError),
    "layer_norm_input": (lambda L, x, v: L.nn.LayerNorm(2)(v), TypeError),
}


def test_getitem_huge_int():
    """x[2**70] (and in a tuple or a slice): torch's ValueError 'Overflow when unpacking long long'."""
    for fn in (lambda L, x: x[2**70], lambda L, x: x[0, 2**70], lambda L, x: x[: 2**70 + 1, 2**70]):
        check_invalid(fn, [A(f32(2, 2))], ValueError, torch_exc=(ValueError, IndexError))


@SETTINGS
@given(name=st.sampled_from(sorted(NON_TENSOR)), bad=st.sampled_from(sorted(BAD_VALUES)))
def test_non_tensor_argument(name, bad):
    fn, exc = NON_TENSOR[name]
    v = BAD_VALUES[bad]
    if name == "tensor_data" and bad == "dict":
        v = object()
    ember_exc = TypeError if exc == (TypeError, AttributeError) else exc
    check_invalid(lambda L, x: fn(L, x, v), [A(f32(2, 2), True)], ember_exc, torch_exc=exc)


# None where a tensor is needed crashed the interpreter (a null tensor reached C++): each call runs
# in a fresh interpreter, so a crash fails only its own test.
NONE_ARGS = {
    "exp": "ember.exp(None)",
    "abs": "ember.abs(None)",
    "relu": "ember.relu(None)",
    "sigmoid": "ember.sigmoid(None)",
    "tanh": "ember.tanh(None)",
    "clone": "ember.clone(None)",
    "transpose": "ember.transpose(None, 0, 1)",
    "reshape": "ember.reshape(None, (4,))",
    "unsqueeze": "ember.unsqueeze(None, 0)",
    "matmul": "ember.matmul(x, None)",
    "mm": "ember.mm(x, None)",
    "maximum": "ember.maximum(x, None)",
    "where_cond": "ember.where(None, x, x)",
    "copy_": "x.copy_(None)",
    "masked_fill": "x.masked_fill(None, 0.0)",
    "index_select": "x.index_select(0, None)",
    "gather": "x.gather(0, None)",
    "index_add": "x.index_add(0, None, x)",
    "expand_as": "x.expand_as(None)",
    "softmax": "ember.nn.functional.softmax(None, 0)",
    "log_softmax": "ember.log_softmax(None, 0)",
    "one_hot": "ember.nn.functional.one_hot(None)",
    "linear_input": "ember.nn.functional.linear(None, x)",
    "linear_weight": "ember.nn.functional.linear(x, None)",
    "Linear": "ember.nn.Linear(2, 2)(None)",
    "Sequential": "ember.nn.Sequential(ember.nn.Linear(2, 2), ember.nn.ReLU())(None)",
    "mse_loss_target": "ember.nn.MSELoss()(x, None)",
    "bce_target": "ember.nn.functional.binary_cross_entropy(x.sigmoid(), None)",
    "bce_with_logits_target": "ember.nn.functional.binary_cross_entropy_with_logits(x, None)",
    "nll_loss_target": "ember.nn.functional.nll_loss(x, None)",
    "embedding_weight": "ember.nn.functional.embedding(ember.tensor([0]), None)",
    "autograd_grad_input": "ember.autograd.grad(x.sum(), [None])",
    "add": "x + None",
    "add_": "x.add_(None)",
    "cat": "ember.cat([x, None])",
    "cross_entropy_target": "ember.nn.functional.cross_entropy(x, None)",
}

NONE_RAISES = {"autograd_grad_input": RuntimeError}  # torch's type where it is not TypeError

# All isolated cases run in one fresh interpreter (ember and numpy only, one BLAS thread), each in
# a forked child of it: a crash costs one child, and the whole batch costs one interpreter start.
_FORK_RUNNER = r"""
import json, os, sys
import numpy as np
import ember
cases = json.loads(sys.stdin.read())
results = {}
for name, src in cases.items():
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        out = []
        try:
            exec(src, {"np": np, "json": json, "ember": ember, "print": out.append, "__name__": "case"})
            data = out[-1] if out else json.dumps({"error": "no result printed"})
        except BaseException as e:
            data = json.dumps({"error": f"the case itself failed: {type(e).__name__}: {e}"})
        os.write(w, data.encode())
        os._exit(0)
    os.close(w)
    chunks = []
    while True:
        b = os.read(r, 1 << 16)
        if not b:
            break
        chunks.append(b)
    os.close(r)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        results[name] = {"crash": f"killed by signal {os.WTERMSIG(status)}"}
    else:
        text = b"".join(chunks).decode()
        results[name] = json.loads(text) if text else {"crash": f"exit status {os.WEXITSTATUS(status)}, no output"}
print(json.dumps(results))
"""
_ISOLATED = {}  # name -> source; filled below, run once on first use
_ISOLATED_RESULTS = {}


def isolated_result(name):
    """The JSON result of isolated case `name`; fails the test if its child process crashed."""
    if not _ISOLATED_RESULTS:
        env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
        r = subprocess.run([sys.executable, "-c", _FORK_RUNNER], input=json.dumps(_ISOLATED), capture_output=True,
                           text=True, timeout=300, env=env)
        assert r.returncode == 0, f"isolated runner failed ({r.returncode}):\n{r.stderr[-3000:]}"
        _ISOLATED_RESULTS.update(json.loads(r.stdout.strip().splitlines()[-1]))
    res = _ISOLATED_RESULTS[name]
    if "crash" in res:
        pytest.fail(f"the interpreter died: {res['crash']}")
    assert "error" not in res, res["error"]
    return res


_NONE_BODY = """
x = ember.tensor(np.arange(4.0, dtype=np.float32).reshape(2, 2), requires_grad=True)
before = x.detach().numpy().copy()
res = {{"exc": None}}
try:
    {expr}
except BaseException as e:
    res = {{"exc": type(e).__name__, "mro": [c.__name__ for c in type(e).__mro__], "msg": str(e)[:300]}}
res["unchanged"] = bool(np.array_equal(before, x.detach().numpy())) and x._version == 0
print(json.dumps(res))
"""


_ISOLATED.update({"none:" + k: _NONE_BODY.format(expr=v) for k, v in NONE_ARGS.items()})


@pytest.mark.parametrize("name", list(NONE_ARGS))
def test_none_instead_of_tensor(name):
    expected = NONE_RAISES.get(name, TypeError)
    if torch is not None:  # row check
        x = torch.tensor(np.arange(4.0, dtype=np.float32).reshape(2, 2), requires_grad=True)
        with pytest.raises((expected, AttributeError)):
            eval(NONE_ARGS[name].replace("ember", "torch"), {"torch": torch, "x": x})
    res = isolated_result("none:" + name)
    assert res["exc"] is not None, "no exception raised"
    assert expected.__name__ in res["mro"], f"raised {res['exc']}: {res['msg']}"
    assert res["unchanged"]


# ---------------------------------------------------------------------------------------------
# optimizer arguments

OPTIMIZERS = ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"]
NEG = st.floats(-10.0, -1e-6, allow_nan=False)

BAD_HYPER = {
    "SGD": {"lr": NEG, "momentum": NEG, "weight_decay": NEG},
    "Adam": {"lr": NEG, "eps": NEG, "weight_decay": NEG, "beta0": st.one_of(NEG, st.floats(1.0, 10.0)),
             "beta1": st.one_of(NEG, st.floats(1.0, 10.0))},
    "AdamW": {"lr": NEG, "eps": NEG, "weight_decay": NEG, "beta0": st.one_of(NEG, st.floats(1.0, 10.0)),
              "beta1": st.one_of(NEG, st.floats(1.0, 10.0))},
    "RMSprop": {"lr": NEG, "eps": NEG, "weight_decay": NEG, "momentum": NEG, "alpha": NEG},
    "Adagrad": {"lr": NEG, "eps": NEG, "weight_decay": NEG, "lr_decay": NEG, "initial_accumulator_value": NEG},
}


def _params(L, seed=0):
    a = L.nn.Parameter(L.tensor(f32(3, 2, seed=seed)))
    b = L.nn.Parameter(L.tensor(f32(2, seed=seed + 1)))
    a.grad = L.tensor(f32(3, 2, seed=seed + 2))
    return [a, b]


@st.composite
def bad_hyper(draw):
    name = draw(st.sampled_from(OPTIMIZERS))
    key = draw(st.sampled_from(sorted(BAD_HYPER[name])))
    value = draw(BAD_HYPER[name][key])
    return name, key, value


@SETTINGS
@given(case=bad_hyper())
def test_optimizer_invalid_hyperparameter(case):
    name, key, value = case
    kw = {key: value}
    if key.startswith("beta"):
        kw = {"betas": (value, 0.999) if key == "beta0" else (0.9, value)}
    ps = {}

    def extra(L, args):
        ps[L] = _params(L)
        return {f"param {i}": p for i, p in enumerate(ps[L])}

    check_invalid(lambda L: getattr(L.optim, name)(ps[L], **kw), [], ValueError, [repr(value).lower()], extra=extra)


OPT_STRUCTURE = {
    "empty_list": (lambda L, ps: L.optim.SGD([], lr=0.1), ValueError, ["empty"]),
    "empty_generator": (lambda L, ps: L.optim.Adam(iter([])), ValueError, ["empty"]),
    "single_tensor": (lambda L, ps: L.optim.Adam(ps[0]), TypeError, []),
    "float_param": (lambda L, ps: L.optim.SGD([ps[0], 0.5], lr=0.1), TypeError, ["float"]),
    "str_param": (lambda L, ps: L.optim.AdamW([ps[0], "w"]), TypeError, ["str"]),
    "None_param": (lambda L, ps: L.optim.RMSprop([None]), TypeError, ["NoneType"]),
    "list_param": (lambda L, ps: L.optim.Adagrad([ps[0], [1.0]]), TypeError, ["list"]),
    "numpy_param": (lambda L, ps: L.optim.SGD([np.ones(2)], lr=0.1), TypeError, ["ndarray"]),
    "None_params": (lambda L, ps: L.optim.SGD(None, lr=0.1), TypeError, []),
    "non_leaf": (lambda L, ps: L.optim.SGD([ps[0] * 2], lr=0.1), ValueError, ["leaf"]),
    "duplicate_across_groups": (lambda L, ps: L.optim.SGD([{"params": [ps[0]]}, {"params": [ps[1], ps[0]]}], lr=0.1),
                                ValueError, ["more than one"]),
    "add_param_group_duplicate": (lambda L, ps: L.optim.Adam([ps[0]]).add_param_group({"params": ps}), ValueError,
                                  ["more than one"]),
    "add_param_group_not_dict": (lambda L, ps: L.optim.Adam([ps[0]]).add_param_group([ps[1]]), TypeError, ["dict"]),
    "nesterov_without_momentum": (lambda L, ps: L.optim.SGD(ps, lr=0.1, nesterov=True), ValueError, ["Nesterov"]),
    "nesterov_with_dampening": (lambda L, ps: L.optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.5, nesterov=True),
                                ValueError, ["dampening"]),
    "group_lr_negative_str": (lambda L, ps: L.optim.SGD(ps, lr="0.1"), TypeError, []),
    "lr_None": (lambda L, ps: L.optim.SGD(ps, lr=None), TypeError, []),
}


@pytest.mark.parametrize("name", sorted(OPT_STRUCTURE))
def test_optimizer_invalid_params(name):
    fn, exc, mentions = OPT_STRUCTURE[name]
    ps = {}

    def extra(L, args):
        ps[L] = _params(L)
        return {f"param {i}": p for i, p in enumerate(ps[L])}

    check_invalid(lambda L: fn(L, ps[L]), [], exc, mentions, extra=extra)


@SETTINGS
@given(name=st.sampled_from(OPTIMIZERS), batch=st.integers(1, 3))
def test_add_param_group_failure_leaves_optimizer_unchanged(name, batch):
    """A rejected add_param_group must not leave a half-added group behind."""
    for L in LIBS:
        ps = _params(L)
        extra = L.nn.Parameter(L.ones(batch))
        opt = getattr(L.optim, name)([ps[0]], lr=0.1)
        groups_before = [dict((k, v) for k, v in g.items() if k != "params") for g in opt.param_groups]
        with pytest.raises(ValueError):
            opt.add_param_group({"params": [extra, ps[0]]})  # ps[0] is already optimised
        with pytest.raises(ValueError):
            opt.add_param_group({"params": [ps[0]]})
        assert len(opt.param_groups) == 1
        assert [dict((k, v) for k, v in g.items() if k != "params") for g in opt.param_groups] == groups_before
        assert [id(p) for p in opt.param_groups[0]["params"]] == [id(ps[0])]


# ---------------------------------------------------------------------------------------------
# optimizer.step() with a bad state / bad parameters: nothing may change. These run in a fresh
# interpreter because an unchecked state tensor is read and written out of bounds.

_STEP_BODY = """
L = {lib}
OPT, KIND = {opt!r}, {kind!r}
kw = {{"SGD": dict(lr=0.1, momentum=0.9), "RMSprop": dict(lr=0.01, momentum=0.9, centered=True)}}.get(OPT, dict(lr=0.1))
def P(*shape, seed=0):
    return L.nn.Parameter(L.tensor(np.random.default_rng(seed).uniform(-1, 1, shape).astype(np.float32)))
good = P(3, 2, seed=1)
bad = P(3, seed=2)
params = [bad, good] if {bad_first} else [good, bad]
opt = getattr(L.optim, OPT)(params, **kw)
for p in params:
    p.grad = L.ones(tuple(p.shape)) * 0.5
opt.step()
if KIND == "state_shape":  # a loaded state whose tensors do not match the parameter's shape
    sd = opt.state_dict()
    i = [id(p) for p in params].index(id(bad))
    for k, v in list(sd["state"][i].items()):
        if k != "step":
            sd["state"][i][k] = L.zeros(2)
    opt.load_state_dict(sd)
elif KIND == "param_resized":  # the parameter changed shape after its state was created
    bad.data = L.ones(5)
    bad.grad = L.ones(5)
elif KIND == "int_param":  # an int64 tensor with a gradient, in a fresh optimizer
    ip = L.ones(3, dtype=L.int64)
    ip.grad = L.ones(3, dtype=L.int64)
    params = [ip, good] if {bad_first} else [good, ip]
    bad = ip
    opt = getattr(L.optim, OPT)(params, **kw)
    good.grad = L.ones(3, 2) * 0.5
def snap():
    out = {{}}
    for n, p in (("good", good), ("bad", bad)):
        out[n + ".param"] = p.detach().numpy().copy()
        out[n + ".grad"] = None if p.grad is None else p.grad.numpy().copy()
        st = opt.state[p] if p in opt.state else {{}}
        for k, v in st.items():
            out[n + ".state." + k] = np.array(v.detach().numpy() if hasattr(v, "numpy") else v, copy=True)
    return out
before = snap()
res = {{"exc": None}}
try:
    opt.step()
except BaseException as e:
    res = {{"exc": type(e).__name__, "mro": [c.__name__ for c in type(e).__mro__], "msg": str(e)[:300]}}
after = snap()
changed = [k for k in before if k not in after or not np.array_equal(before[k], after[k], equal_nan=True)]
# lazily created state counts as a change unless it is the fresh state (zeros: step 0, empty moments)
changed += [k for k in after if k not in before and np.any(after[k] != 0)]
res["changed"] = sorted(changed)
print(json.dumps(res))
"""


def _step_case(lib, opt, kind, bad_first):
    return _STEP_BODY.format(lib=lib, opt=opt, kind=kind, bad_first=bad_first)


def _check_step_result(res, what):
    assert res["exc"] is not None, f"{what}: step() did not raise"
    assert "RuntimeError" in res["mro"], f"{what}: raised {res['exc']}: {res['msg']}"
    assert not res["changed"], f"{what}: the failed step changed {res['changed']}"


STEP_KINDS = ["state_shape", "param_resized", "int_param"]
_ISOLATED.update({f"step:{o}:{k}:{b}": _step_case("ember", o, k, b) for o in OPTIMIZERS for k in STEP_KINDS
                  for b in (True, False)})


@pytest.mark.parametrize("opt,kind,bad_first", [
    pytest.param(o, k, b, id=f"{o}-{k}-{'bad_first' if b else 'bad_last'}")
    for o in OPTIMIZERS for k in STEP_KINDS for b in (True, False)])
def test_optimizer_step_with_bad_state_changes_nothing(opt, kind, bad_first):
    if torch is not None:  # row check: torch raises a RuntimeError for the same setup
        ns = {"np": np, "json": json, "__name__": "row"}
        out = []
        ns["print"] = out.append
        exec(_step_case("torch", opt, kind, bad_first), ns | {"torch": torch})
        tres = json.loads(out[-1])
        assert tres["exc"] is not None and "RuntimeError" in tres["mro"], f"row check: torch gave {tres}"
    res = isolated_result(f"step:{opt}:{kind}:{bad_first}")
    _check_step_result(res, f"{opt}/{kind}")


@pytest.mark.parametrize("opt", OPTIMIZERS)
def test_optimizer_step_noncontiguous_parameter_matches_torch(opt):
    assert torch is not None
    results = {}
    for L in (ember, torch):
        a = L.nn.Parameter(L.tensor(f32(2, seed=1)))
        b = L.nn.Parameter(L.tensor(f32(2, 3, seed=2)).t())  # a transposed view
        o = getattr(L.optim, opt)([a, b], lr=0.1)
        a.grad = L.tensor(f32(2, seed=3))
        b.grad = L.tensor(f32(3, 2, seed=4))
        o.step()
        results[L] = (to_np(a), to_np(b))
    for e, t in zip(results[ember], results[torch]):
        np.testing.assert_allclose(e, t, rtol=2e-5, atol=1e-6)  # float32: the fused loop rounds differently


# ---------------------------------------------------------------------------------------------
# DataLoader: a raising dataset, bad arguments

class _Boom(Exception):
    pass


EXCEPTIONS = {"custom": _Boom, "KeyError": KeyError, "ValueError": ValueError, "IndexError": IndexError,
              "TypeError": TypeError, "ZeroDivisionError": ZeroDivisionError, "RuntimeError": RuntimeError}


def _raising_dataset(L, n, bad, exc_type, raised, base="Dataset"):
    if base == "TensorDataset":
        class D(L.utils.data.TensorDataset):
            def __getitem__(self, i):
                if i == bad:
                    raised.append(exc_type(f"sample {i} is corrupt"))
                    raise raised[-1]
                return super().__getitem__(i)
        return D(L.tensor(f32(n, 2)), L.tensor(np.arange(n)))

    class D(L.utils.data.Dataset):
        def __len__(self):
            return n

        def __getitem__(self, i):
            if i == bad:
                raised.append(exc_type(f"sample {i} is corrupt"))
                raise raised[-1]
            return L.tensor(f32(2, seed=i)), i
    return D()


@SETTINGS
@given(n=st.integers(1, 12), data=st.data(), exc=st.sampled_from(sorted(EXCEPTIONS)),
       batch_size=st.one_of(st.none(), st.integers(1, 5)), shuffle=st.booleans(), drop_last=st.booleans())
def test_dataloader_propagates_dataset_error_unchanged(n, data, exc, batch_size, shuffle, drop_last):
    bad = data.draw(st.integers(0, n - 1))
    if batch_size is not None and drop_last and (n // batch_size) * batch_size <= bad and not shuffle:
        drop_last = False  # the bad sample must be fetched
    for L in LIBS:
        raised = []
        ds = _raising_dataset(L, n, bad, EXCEPTIONS[exc], raised)
        kw = dict(batch_size=batch_size, shuffle=shuffle)
        if batch_size is not None:
            kw["drop_last"] = drop_last and not shuffle
        if shuffle:
            kw["generator"] = L.Generator().manual_seed(0)
        loader = L.utils.data.DataLoader(ds, **kw)
        with pytest.raises(EXCEPTIONS[exc]) as info:
            for _ in loader:
                pass
        assert raised and info.value is raised[0], f"{L.__name__}: a different exception came out: {info.value!r}"
        assert str(info.value) == f"sample {bad} is corrupt" or exc == "KeyError"


@pytest.mark.parametrize("batch_size", [1, 2])
def test_dataloader_tensor_dataset_subclass_getitem_error_propagates(batch_size):
    for L in LIBS:
        raised = []
        ds = _raising_dataset(L, 4, 2, KeyError, raised, base="TensorDataset")
        with pytest.raises(KeyError) as info:
            list(L.utils.data.DataLoader(ds, batch_size=batch_size))
        assert info.value is raised[0]


@SETTINGS
@given(bs=st.one_of(st.integers(-10, 0), st.floats(0.5, 4.5).filter(lambda v: v != int(v)), st.sampled_from(
    [True, False, "2", 2.0])))
def test_dataloader_bad_batch_size(bs):
    for L in LIBS:
        ds = L.utils.data.TensorDataset(L.tensor(f32(4, 2)))
        with pytest.raises(ValueError) as info:
            L.utils.data.DataLoader(ds, batch_size=bs)
        if L is ember:
            assert "batch_size" in str(info.value) and str(bs) in str(info.value)


@pytest.mark.parametrize("kw", [dict(num_workers=-1), dict(sampler=[0, 1], shuffle=True),
                                dict(batch_sampler=[[0, 1]], batch_size=2), dict(batch_sampler=[[0]], drop_last=True)],
                         ids=["negative_workers", "sampler_and_shuffle", "batch_sampler_and_batch_size",
                              "batch_sampler_and_drop_last"])
def test_dataloader_bad_arguments(kw):
    for L in LIBS:
        ds = L.utils.data.TensorDataset(L.tensor(f32(4, 2)))
        with pytest.raises(ValueError):
            L.utils.data.DataLoader(ds, **kw)


@SETTINGS
@given(n=st.integers(1, 6), m=st.integers(1, 6))
def test_tensor_dataset_size_mismatch(n, m):
    if n == m:
        m += 1
    with pytest.raises(ValueError) as info:  # torch raises AssertionError; a ValueError is the clean form
        ember.utils.data.TensorDataset(ember.ones(n, 2), ember.ones(m))
    assert _has(str(info.value), N(n)) and _has(str(info.value), N(m))
    if torch is not None:
        with pytest.raises(AssertionError):
            torch.utils.data.TensorDataset(torch.ones(n, 2), torch.ones(m))


# ---------------------------------------------------------------------------------------------
# random in-place uniform_ bounds (mutates on a call torch rejects)

def test_uniform_reversed_bounds():
    check_invalid(lambda L, x: x.uniform_(2.0, 1.0), [A(f32(3))], RuntimeError, [N(2), N(1)])


@pytest.mark.parametrize("case", ["2d_target", "0d_input"])
def test_cross_entropy_bad_target_rank(case):
    if case == "2d_target":
        check_invalid(lambda L, x, t: L.nn.functional.cross_entropy(x, t), [A(f32(2, 3), True), A(i64(0, 1)[:, None])],
                      RuntimeError)
    else:
        check_invalid(lambda L, x, t: L.nn.functional.cross_entropy(x, t), [A(np.float32(1.0), True), A(np.int64(0))],
                      RuntimeError)


def test_batchnorm_wrong_channel_count():
    mods = {}

    def extra(L, args):
        mods[L] = L.nn.BatchNorm1d(4)
        return _module_params(L, mods[L])

    check_invalid(lambda L, x: mods[L](x), [A(f32(2, 3))], RuntimeError, [N(3), N(4)], extra=extra)


def test_batchnorm_batch_of_one_in_training():
    """ValueError like torch. torch bumps num_batches_tracked before it checks; ember matches."""
    mods = {}
    for L in LIBS:
        m = L.nn.BatchNorm1d(3)
        mods[L] = m
        rm, rv = to_np(m.running_mean), to_np(m.running_var)
        with pytest.raises(ValueError) as info:
            m(L.tensor(f32(1, 3)))
        np.testing.assert_array_equal(to_np(m.running_mean), rm)
        np.testing.assert_array_equal(to_np(m.running_var), rv)
        if L is ember:
            assert _has(str(info.value), S(1, 3))
    if torch is not None:
        assert int(mods[ember].num_batches_tracked) == int(mods[torch].num_batches_tracked)
