"""Table-driven op tests: every differentiable op against torch (forward + backward of a random
projection) and against central finite differences in float64; non-differentiable ops against
torch; and a coverage check that every op ember exposes has a row."""
import inspect

import numpy as np
import pytest

import ember
from helpers import assert_close, check_op, dtype_name, gradcheck, rng, to_np

# ---------------------------------------------------------------------------------------------
# Input specs. A case lists its inputs as specs; `make_inputs` turns them into numpy arrays.


class F:
    """A float input of `shape`: standard normal, or `kind` in {'pos', 'away', 'unit', 'prod'}."""

    def __init__(self, *shape, kind="normal"):
        self.shape = shape
        self.kind = kind

    def make(self, g, dtype):
        if self.kind == "pos":
            a = g.uniform(0.5, 2.0, self.shape)
        elif self.kind == "away":  # away from zero: |x| in [0.5, 2]
            a = g.uniform(0.5, 2.0, self.shape) * g.choice([-1.0, 1.0], self.shape)
        elif self.kind == "unit":  # values near 1 in magnitude (products stay moderate)
            a = g.uniform(0.7, 1.3, self.shape) * g.choice([-1.0, 1.0], self.shape)
        else:
            a = g.standard_normal(self.shape)
        return np.asarray(a, dtype=dtype)


class Const:
    """A fixed (integer or bool) array, not differentiated."""

    def __init__(self, value, dtype=np.int64):
        self.value = np.asarray(value, dtype=dtype)

    def make(self, g, dtype):
        return self.value.copy()


class Fixed:
    """A float input with fixed values (in the test's float dtype)."""

    def __init__(self, value):
        self.value = value

    def make(self, g, dtype):
        return np.asarray(self.value, dtype=dtype)


class Mask:
    """A random boolean mask of `shape` with at least one True."""

    def __init__(self, *shape):
        self.shape = shape

    def make(self, g, dtype):
        m = g.random(self.shape) > 0.5
        m.reshape(-1)[0] = True
        return m


class Case:
    def __init__(self, name, fn, *inputs, id=None, atol=1e-5, rtol=1e-4):
        self.name = name  # the op this row covers (ember / torch function or method name)
        self.fn = fn  # fn(lib, *tensors), lib is the ember or the torch module
        self.inputs = inputs
        self.id = id
        self.atol = atol
        self.rtol = rtol


def make_inputs(case, dtype, seed=0):
    g = rng(seed)
    return [s.make(g, dtype) for s in case.inputs]


def ids(cases):
    seen = {}
    res = []
    for c in cases:
        base = c.name + ("-" + c.id if c.id else "")
        n = seen.get(base, 0)
        seen[base] = n + 1
        res.append(base if n == 0 else f"{base}-{n}")
    return res


# ---------------------------------------------------------------------------------------------
# Differentiable ops.

UNARY = {
    "neg": (lambda L, x: L.neg(x), lambda L, x: -x, "normal"),
    "abs": (lambda L, x: L.abs(x), lambda L, x: x.abs(), "away"),
    "exp": (lambda L, x: L.exp(x), lambda L, x: x.exp(), "normal"),
    "log": (lambda L, x: L.log(x), lambda L, x: x.log(), "pos"),
    "sqrt": (lambda L, x: L.sqrt(x), lambda L, x: x.sqrt(), "pos"),
    "sin": (lambda L, x: L.sin(x), lambda L, x: x.sin(), "normal"),
    "cos": (lambda L, x: L.cos(x), lambda L, x: x.cos(), "normal"),
    "tanh": (lambda L, x: L.tanh(x), lambda L, x: x.tanh(), "normal"),
    "sigmoid": (lambda L, x: L.sigmoid(x), lambda L, x: x.sigmoid(), "normal"),
    "relu": (lambda L, x: L.relu(x), lambda L, x: x.relu(), "away"),
}

UNARY_CASES = []
for _name, (_fn, _meth, _kind) in UNARY.items():
    UNARY_CASES += [
        Case(_name, _fn, F(5, kind=_kind), id="1d"),
        Case(_name, _fn, F(kind=_kind), id="0d"),
        Case(_name, _fn, F(2, 3, 4, kind=_kind), id="3d"),
        Case(_name, _meth, F(3, 4, kind=_kind), id="method"),
        Case(_name, lambda L, x, _f=_fn: _f(L, x.t()), F(4, 3, kind=_kind), id="nc_t"),
        Case(_name, lambda L, x, _f=_fn: _f(L, x[::2, 1:4]), F(6, 5, kind=_kind), id="nc_slice"),
    ]
UNARY_CASES += [
    Case("sigmoid", lambda L, x: L.sigmoid(x), Fixed([-30.0, -5.0, 0.0, 5.0, 30.0]), id="extreme"),
    Case("clamp", lambda L, x: L.clamp(x, -0.5, 0.5), F(3, 4), id="both"),
    Case("clamp", lambda L, x: L.clamp(x, min=0.1), F(3, 4), id="min"),
    Case("clamp", lambda L, x: x.clamp(max=-0.2), F(3, 4), id="max_method"),
    Case("clamp", lambda L, x: x.t().clamp(-1.0, 1.0), F(4, 3), id="nc_t"),
    Case("clip", lambda L, x: L.clip(x, -0.5, 0.5), F(3, 4)),
    Case("square", lambda L, x: L.square(x), F(3, 4)),
    Case("erf", lambda L, x: x.erf(), F(3, 4)),
]

BINARY_OPS = {
    "add": (lambda L, x, y: x + y, "normal"),
    "sub": (lambda L, x, y: x - y, "normal"),
    "mul": (lambda L, x, y: x * y, "normal"),
    "div": (lambda L, x, y: x / y, "away"),
    "pow": (lambda L, x, y: x ** y, "normal"),
    "maximum": (lambda L, x, y: L.maximum(x, y), "normal"),
    "minimum": (lambda L, x, y: L.minimum(x, y), "normal"),
}

BINARY_CASES = []
for _name, (_fn, _kind) in BINARY_OPS.items():
    xk = "pos" if _name == "pow" else "normal"
    yk = _kind
    BINARY_CASES += [
        Case(_name, _fn, F(3, 4, kind=xk), F(3, 4, kind=yk), id="same"),
        Case(_name, _fn, F(3, 4, kind=xk), F(4, kind=yk), id="bcast_row"),
        Case(_name, _fn, F(3, 1, kind=xk), F(1, 4, kind=yk), id="bcast_outer"),
        Case(_name, _fn, F(2, 1, 4, kind=xk), F(3, 1, kind=yk), id="bcast_3d"),
        Case(_name, _fn, F(kind=xk), F(2, 3, kind=yk), id="bcast_0d"),
        Case(_name, lambda L, x, y, _f=_fn: _f(L, x.t(), y), F(4, 3, kind=xk), F(3, 4, kind=yk), id="nc_t"),
        Case(_name, lambda L, x, y, _f=_fn: _f(L, x[:, ::2], y[1:]), F(3, 8, kind=xk), F(4, 4, kind=yk),
             id="nc_slice"),
        Case(_name, lambda L, x, y, _f=_fn: _f(L, x, y.expand(3, 4)), F(3, 4, kind=xk), F(1, 4, kind=yk),
             id="nc_expand"),
    ]
BINARY_CASES += [
    Case("add", lambda L, x, y: L.add(x, y), F(3, 4), F(4), id="fn"),
    Case("add", lambda L, x: x + 2, F(3, 4), id="scalar"),
    Case("add", lambda L, x: 2.5 + x, F(3, 4), id="rscalar"),
    Case("add", lambda L, x, y: x.add(y, alpha=2.0), F(3, 4), F(4), id="alpha"),
    Case("sub", lambda L, x, y: L.sub(x, y), F(3, 4), F(4), id="fn"),
    Case("sub", lambda L, x: x - 1.5, F(3, 4), id="scalar"),
    Case("sub", lambda L, x: 2 - x, F(3, 4), id="rscalar"),
    Case("mul", lambda L, x, y: L.mul(x, y), F(3, 4), F(4), id="fn"),
    Case("mul", lambda L, x: x * 3, F(3, 4), id="scalar"),
    Case("mul", lambda L, x: 0.5 * x, F(3, 4), id="rscalar"),
    Case("mul", lambda L, x: x * x, F(3, 4), id="same_tensor"),
    Case("div", lambda L, x, y: L.div(x, y), F(3, 4), F(4, kind="away"), id="fn"),
    Case("div", lambda L, x: x / 4, F(3, 4), id="scalar"),
    Case("div", lambda L, x: 10.0 / x, F(3, 4, kind="away"), id="rscalar"),
    Case("pow", lambda L, x, y: L.pow(x, y), F(3, 4, kind="pos"), F(4), id="fn"),
    Case("pow", lambda L, x: x ** 2, F(3, 4), id="sq"),
    Case("pow", lambda L, x: x ** 3, F(3, 4), id="cube"),
    Case("pow", lambda L, x: x ** 0.5, F(3, 4, kind="pos"), id="sqrt"),
    Case("pow", lambda L, x: x ** -1.5, F(3, 4, kind="pos"), id="negexp"),
    Case("pow", lambda L, x: 2 ** x, F(3, 4), id="rscalar"),
    Case("pow", lambda L, x: x.pow(2), F(3, 4), id="method"),
    Case("where", lambda L, c, x, y: L.where(c, x, y), Mask(3, 4), F(3, 4), F(3, 4), id="same"),
    Case("where", lambda L, c, x, y: L.where(c, x, y), Mask(3, 1), F(1, 4), F(3, 4), id="bcast"),
    Case("where", lambda L, c, x, y: L.where(c, x.t(), y), Mask(3, 4), F(4, 3), F(4), id="nc_t"),
    Case("where", lambda L, x: L.where(x > 0, x, 0.0), F(3, 4), id="scalar_other"),
    Case("where", lambda L, x, y: L.where(x > y, x, y), F(2, 3), F(3), id="cond_from_cmp"),
]

RED_DIMS = [None, 0, -1, 1, (0, 2), (-1, 0)]


def _red(name, dim, keepdim):
    if dim is None:
        return lambda L, x: getattr(x, name)()
    return lambda L, x: getattr(x, name)(dim=dim, keepdim=keepdim)


REDUCTION_CASES = []
for _name in ["sum", "mean", "prod", "var", "std"]:
    _kind = "unit" if _name == "prod" else "normal"
    for _dim in RED_DIMS:
        if _name == "prod" and isinstance(_dim, tuple):
            continue  # torch.prod takes a single dim
        for _kd in ([False] if _dim is None else [False, True]):
            REDUCTION_CASES.append(Case(_name, _red(_name, _dim, _kd), F(2, 3, 4, kind=_kind),
                                        id=f"dim{_dim}-kd{int(_kd)}".replace(" ", "")))
    REDUCTION_CASES += [
        Case(_name, lambda L, x, _n=_name: getattr(L, _n)(x, 1), F(3, 4, kind=_kind), id="fn"),
        Case(_name, lambda L, x, _n=_name: getattr(x.transpose(0, 2), _n)(1), F(2, 3, 4, kind=_kind), id="nc_t"),
        Case(_name, lambda L, x, _n=_name: getattr(x[:, ::2], _n)(), F(3, 6, kind=_kind), id="nc_slice"),
        Case(_name, lambda L, x, _n=_name: getattr(x, _n)(0), F(5, kind=_kind), id="1d"),
    ]
for _name in ["max", "min"]:
    REDUCTION_CASES += [
        Case(_name, lambda L, x, _n=_name: getattr(x, _n)(), F(2, 3, 4), id="all"),
        Case(_name, lambda L, x, _n=_name: getattr(x, _n)(1), F(2, 3, 4), id="dim1"),
        Case(_name, lambda L, x, _n=_name: getattr(x, _n)(dim=-1, keepdim=True), F(2, 3, 4), id="dim-1-kd"),
        Case(_name, lambda L, x, _n=_name: getattr(x, _n)(0, True), F(2, 3, 4), id="dim0-kd-pos"),
        Case(_name, lambda L, x, _n=_name: getattr(L, _n)(x), F(3, 4), id="fn_all"),
        Case(_name, lambda L, x, _n=_name: getattr(L, _n)(x, dim=0), F(3, 4), id="fn_dim"),
        Case(_name, lambda L, x, _n=_name: getattr(x.t(), _n)(0), F(3, 4), id="nc_t"),
        Case(_name, lambda L, x, _n=_name: getattr(x, _n)(1).values, F(3, 4), id="values_attr"),
    ]
for _name in ["var", "std"]:
    REDUCTION_CASES += [
        Case(_name, lambda L, x, _n=_name: getattr(x, _n)(1, unbiased=False), F(3, 4), id="unbiased_false"),
        Case(_name, lambda L, x, _n=_name: getattr(x, _n)(dim=1, correction=0), F(3, 4), id="correction0"),
    ]

SOFTMAX_CASES = []
for _name in ["softmax", "log_softmax"]:
    SOFTMAX_CASES += [
        Case(_name, lambda L, x, _n=_name: getattr(L, _n)(x, dim=-1), F(3, 5), id="last"),
        Case(_name, lambda L, x, _n=_name: getattr(L, _n)(x, 0), F(3, 5), id="first"),
        Case(_name, lambda L, x, _n=_name: getattr(x, _n)(1), F(2, 3, 4), id="middle_method"),
        Case(_name, lambda L, x, _n=_name: getattr(L, _n)(x, 0), F(6), id="1d"),
        Case(_name, lambda L, x, _n=_name: getattr(L, _n)(x.t(), -1), F(5, 3), id="nc_t"),
        Case(_name, lambda L, x, _n=_name: getattr(L.nn.functional, _n)(x, dim=1), F(3, 4), id="functional"),
    ]

MATMUL_CASES = []
_MM_SHAPES = [
    ((4,), (4,), "1d1d"), ((3, 4), (4,), "2d1d"), ((4,), (4, 5), "1d2d"), ((3, 4), (4, 5), "2d2d"),
    ((2, 3, 4), (4, 5), "3d2d"), ((4,), (2, 4, 5), "1d3d"), ((2, 3, 4), (4,), "3d1d"),
    ((2, 3, 4), (2, 4, 5), "3d3d"), ((2, 1, 3, 4), (3, 4, 2), "bcast_batch"), ((1, 3, 4), (2, 4, 5), "bcast1"),
    ((17, 33), (33, 20), "medium"),
]
for _a, _b, _id in _MM_SHAPES:
    MATMUL_CASES.append(Case("matmul", lambda L, x, y: x @ y, F(*_a), F(*_b), id=_id))
MATMUL_CASES += [
    Case("matmul", lambda L, x, y: L.matmul(x, y), F(3, 4), F(4, 2), id="fn"),
    Case("matmul", lambda L, x, y: x.matmul(y), F(2, 3, 4), F(4, 2), id="method"),
    Case("matmul", lambda L, x, y: x.t() @ y, F(4, 3), F(4, 2), id="nc_lhs_t"),
    Case("matmul", lambda L, x, y: x @ y.t(), F(3, 4), F(2, 4), id="nc_rhs_t"),
    Case("matmul", lambda L, x, y: x[:, ::2] @ y[1:], F(3, 8), F(5, 2), id="nc_slice"),
    Case("matmul", lambda L, x, y: x.transpose(1, 2) @ y, F(2, 4, 3), F(2, 4, 5), id="nc_batched"),
    Case("matmul", lambda L, x, y: x @ y, F(64, 70), F(70, 48), id="large_blas", atol=1e-4),
    Case("mm", lambda L, x, y: L.mm(x, y), F(3, 4), F(4, 5), id="fn"),
    Case("mm", lambda L, x, y: x.mm(y.t()), F(3, 4), F(5, 4), id="method_nc"),
    Case("bmm", lambda L, x, y: L.bmm(x, y), F(2, 3, 4), F(2, 4, 5), id="fn"),
    Case("bmm", lambda L, x, y: x.bmm(y.transpose(1, 2)), F(2, 3, 4), F(2, 5, 4), id="method_nc"),
    Case("dot", lambda L, x, y: L.dot(x, y), F(5), F(5)),
]

JOIN_CASES = [
    Case("cat", lambda L, x, y: L.cat([x, y]), F(2, 3), F(4, 3), id="dim0"),
    Case("cat", lambda L, x, y: L.cat([x, y], dim=1), F(2, 3), F(2, 5), id="dim1"),
    Case("cat", lambda L, x, y, z: L.cat((x, y, z), -1), F(2, 1), F(2, 3), F(2, 2), id="three_neg"),
    Case("cat", lambda L, x, y: L.cat([x.t(), y], 0), F(3, 2), F(1, 3), id="nc_t"),
    Case("cat", lambda L, x: L.cat([x, x * 2], 0), F(4), id="same_input"),
    Case("stack", lambda L, x, y: L.stack([x, y]), F(2, 3), F(2, 3), id="dim0"),
    Case("stack", lambda L, x, y: L.stack((x, y), dim=1), F(2, 3), F(2, 3), id="dim1"),
    Case("stack", lambda L, x, y, z: L.stack([x, y, z], -1), F(4), F(4), F(4), id="neg"),
    Case("stack", lambda L, x, y: L.stack([x.t(), y], 0), F(3, 2), F(2, 3), id="nc_t"),
    Case("split", lambda L, x: x.split(2), F(5, 3), id="uneven"),
    Case("split", lambda L, x: L.split(x, 2, dim=1), F(3, 4), id="fn_dim1"),
    Case("split", lambda L, x: x.split([1, 3, 2], dim=1), F(2, 6), id="sizes"),
    Case("split", lambda L, x: [p * 1 for p in x.t().split(2)], F(3, 4), id="nc_t"),
    Case("chunk", lambda L, x: x.chunk(3), F(7, 2), id="uneven"),
    Case("chunk", lambda L, x: L.chunk(x, 2, dim=-1), F(3, 4), id="fn_dim"),
    Case("chunk", lambda L, x: x.chunk(2, 1)[1], F(3, 4), id="one_piece"),
    Case("gather", lambda L, x, i: L.gather(x, 1, i), F(3, 4), Const([[0, 3], [1, 1], [2, 0]]), id="dim1"),
    Case("gather", lambda L, x, i: x.gather(0, i), F(3, 4), Const([[0, 1, 2, 0], [2, 2, 1, 0]]), id="dim0"),
    Case("gather", lambda L, x, i: L.gather(x.t(), 1, i), F(4, 3), Const([[0, 3], [1, 1], [2, 0]]), id="nc_t"),
    Case("index_select", lambda L, x, i: L.index_select(x, 0, i), F(4, 3), Const([2, 0, 2]), id="dim0_dup"),
    Case("index_select", lambda L, x, i: x.index_select(1, i), F(3, 4), Const([3, 1]), id="dim1"),
    Case("index_select", lambda L, x, i: L.index_select(x.t(), 0, i), F(3, 4), Const([1, 3, 1]), id="nc_t"),
    Case("narrow", lambda L, x: L.narrow(x, 1, 1, 2), F(3, 4)),
    Case("select", lambda L, x: L.select(x, 1, 2), F(3, 4)),
    Case("index_add", lambda L, x, i, s: L.index_add(x, 0, i, s), F(4, 3), Const([0, 2, 0]), F(3, 3)),
    Case("scatter_add", lambda L, x, i, s: L.scatter_add(x, 1, i, s), F(3, 4), Const([[0, 3], [1, 1], [2, 0]]),
         F(3, 2)),
]

INDEX_CASES = [
    Case("getitem", lambda L, x: x[1], F(3, 4), id="int"),
    Case("getitem", lambda L, x: x[-1], F(3, 4), id="negint"),
    Case("getitem", lambda L, x: x[:, 0], F(3, 4), id="col"),
    Case("getitem", lambda L, x: x[1:3, ::2], F(4, 5), id="slices"),
    Case("getitem", lambda L, x: x[..., None], F(2, 3), id="ellipsis_none"),
    Case("getitem", lambda L, x: x[None, 1:, ..., -2], F(3, 4, 5), id="mixed"),
    Case("getitem", lambda L, x: x[1:][::2], F(6, 2), id="slice_of_slice"),
    Case("getitem", lambda L, x: x[1, 2], F(3, 4), id="scalar"),
    Case("getitem", lambda L, x, i: x[i], F(4, 3), Const([2, 0, 2, 3]), id="int_tensor_dup"),
    Case("getitem", lambda L, x, i: x[:, i], F(3, 4), Const([3, 1]), id="int_tensor_dim1"),
    Case("getitem", lambda L, x, i: x[i], F(4, 3), Const([[0, 1], [3, 3]]), id="int_tensor_2d"),
    Case("getitem", lambda L, x, m: x[m], F(3, 4), Mask(3, 4), id="bool_mask"),
    Case("getitem", lambda L, x, m: x[m], F(3, 4), Mask(3), id="bool_rows"),
    Case("getitem", lambda L, x: x[x > 0], F(3, 4), id="bool_from_cmp"),
    Case("getitem", lambda L, x, i: x.t()[i], F(3, 4), Const([0, 3]), id="nc_int_tensor"),
]

VIEW_CASES = [
    Case("view", lambda L, x: x.view(12), F(3, 4), id="flat"),
    Case("view", lambda L, x: x.view(-1, 2), F(3, 4), id="infer"),
    Case("view", lambda L, x: x.view(2, 2, 3), F(3, 4), id="3d"),
    Case("view", lambda L, x: x.view((4, 3)), F(3, 4), id="tuple"),
    Case("reshape", lambda L, x: x.reshape(4, 3), F(3, 4), id="method"),
    Case("reshape", lambda L, x: L.reshape(x, (2, -1)), F(3, 4), id="fn"),
    Case("reshape", lambda L, x: x.t().reshape(-1), F(3, 4), id="nc_copy"),
    Case("transpose", lambda L, x: x.transpose(0, 1), F(3, 4), id="2d"),
    Case("transpose", lambda L, x: L.transpose(x, -1, 0), F(2, 3, 4), id="fn_neg"),
    Case("t", lambda L, x: x.t(), F(3, 4), id="method"),
    Case("t", lambda L, x: L.t(x), F(4), id="1d"),
    Case("permute", lambda L, x: x.permute(2, 0, 1), F(2, 3, 4), id="args"),
    Case("permute", lambda L, x: L.permute(x, (1, 2, 0)), F(2, 3, 4), id="fn_tuple"),
    Case("T", lambda L, x: x.T, F(3, 4), id="2d"),
    Case("unsqueeze", lambda L, x: x.unsqueeze(1), F(3, 4), id="mid"),
    Case("unsqueeze", lambda L, x: L.unsqueeze(x, -1), F(3, 4), id="fn_neg"),
    Case("unsqueeze", lambda L, x: x.unsqueeze(0), F(), id="0d"),
    Case("squeeze", lambda L, x: x.squeeze(), F(1, 3, 1, 4), id="all"),
    Case("squeeze", lambda L, x: x.squeeze(1), F(3, 1, 4), id="dim"),
    Case("squeeze", lambda L, x: L.squeeze(x, 0), F(3, 4), id="noop"),
    Case("flatten", lambda L, x: x.flatten(), F(2, 3, 4), id="all"),
    Case("flatten", lambda L, x: L.flatten(x, 1), F(2, 3, 4), id="start"),
    Case("flatten", lambda L, x: x.flatten(0, 1), F(2, 3, 4), id="range"),
    Case("flatten", lambda L, x: x.transpose(0, 2).flatten(), F(2, 3, 4), id="nc"),
    Case("expand", lambda L, x: x.expand(3, 4), F(1, 4), id="row"),
    Case("expand", lambda L, x: x.expand(2, 3, 4), F(3, 1), id="new_dims"),
    Case("expand", lambda L, x: x.expand(-1, 5), F(3, 1), id="minus_one"),
    Case("expand", lambda L, x, y: x.expand_as(y), F(1, 4), F(3, 4), id="as"),
    Case("view_as", lambda L, x, y: x.view_as(y), F(3, 4), F(4, 3)),
    Case("reshape_as", lambda L, x, y: x.reshape_as(y), F(3, 4), F(2, 6)),
    Case("mT", lambda L, x: x.mT, F(2, 3, 4)),
    Case("contiguous", lambda L, x: x.t().contiguous(), F(3, 4)),
    Case("clone", lambda L, x: L.clone(x), F(3, 4)),
    Case("masked_fill", lambda L, x, m: x.masked_fill(m, 0.5), F(3, 4), Mask(3, 4)),
    Case("linear", lambda L, x, w, b: L.nn.functional.linear(x, w, b), F(5, 3), F(4, 3), F(4)),
    Case("linear", lambda L, x, w: L.nn.functional.linear(x, w), F(2, 5, 3), F(4, 3), id="nobias_3d"),
    Case("views_chain", lambda L, x: x.t().unsqueeze(0).expand(2, 4, 3).permute(2, 0, 1).reshape(6, 4),
         F(3, 4)),
    Case("norm", lambda L, x: x.norm(), F(3, 4), id="fro"),
    Case("norm", lambda L, x: L.norm(x, dim=1), F(3, 4), id="dim"),
    Case("norm", lambda L, x: x.t().norm(p=1, dim=0, keepdim=True), F(3, 4, kind="away"), id="p1_nc"),
]

DIFF_CASES = UNARY_CASES + BINARY_CASES + REDUCTION_CASES + SOFTMAX_CASES + MATMUL_CASES + JOIN_CASES \
    + INDEX_CASES + VIEW_CASES

def _run(case, lib):
    return lambda *xs: case.fn(lib, *xs)


@pytest.mark.parametrize("case", DIFF_CASES, ids=ids(DIFF_CASES))
def test_vs_torch(case):
    torch = pytest.importorskip("torch")
    inputs = make_inputs(case, np.float32)
    check_op(_run(case, ember), _run(case, torch), inputs, atol=case.atol, rtol=case.rtol)


GRADCHECK_CASES = [c for c in DIFF_CASES if c.id != "large_blas"]  # "medium" covers it, far fewer evaluations


@pytest.mark.parametrize("case", GRADCHECK_CASES, ids=ids(GRADCHECK_CASES))
def test_gradcheck(case):
    gradcheck(_run(case, ember), make_inputs(case, np.float64, seed=1))


@pytest.mark.parametrize("case", [c for c in DIFF_CASES if c.name in ("add", "mul", "matmul", "sum", "softmax")
                                  and c.id in ("same", "bcast_row", "2d2d", "dim1-kd0", "last")],
                         ids=lambda c: c.name)
def test_vs_torch_float64(case):
    torch = pytest.importorskip("torch")
    check_op(_run(case, ember), _run(case, torch), make_inputs(case, np.float64), atol=1e-10, rtol=1e-10)


# ---------------------------------------------------------------------------------------------
# Non-differentiable ops: compared with torch (forward only, exact dtype).

NONDIFF_CASES = [
    Case("eq", lambda L, x, y: x == y, Const([[1, 2, 3], [4, 5, 6]]), Const([1, 0, 3]), id="op"),
    Case("eq", lambda L, x, y: L.eq(x, y), Const([1.0, 2.0], np.float32), Const([1.0, 3.0], np.float32), id="fn"),
    Case("eq", lambda L, x: x == 2, Const([1, 2, 3]), id="scalar"),
    Case("ne", lambda L, x, y: x != y, Const([[1, 2, 3], [4, 5, 6]]), Const([1, 0, 3]), id="op"),
    Case("ne", lambda L, x, y: L.ne(x, y), Const([1, 2]), Const([1, 3]), id="fn"),
    Case("lt", lambda L, x, y: x < y, F(3, 4), F(4), id="op"),
    Case("lt", lambda L, x, y: L.lt(x, y), F(3, 4), F(3, 4), id="fn"),
    Case("lt", lambda L, x: 0.5 < x, F(3, 4), id="rscalar"),
    Case("le", lambda L, x, y: x <= y, Const([1, 2, 3]), Const([2, 2, 2]), id="op"),
    Case("le", lambda L, x, y: L.le(x, y), F(3), F(3), id="fn"),
    Case("gt", lambda L, x, y: x > y, F(2, 1, 3), F(4, 1), id="op"),
    Case("gt", lambda L, x: L.gt(x, 0), F(3), id="fn_scalar"),
    Case("ge", lambda L, x, y: x >= y, Const([1, 2, 3]), Const([2, 2, 2]), id="op"),
    Case("ge", lambda L, x, y: L.ge(x, y), F(3), F(3), id="fn"),
    Case("lt", lambda L, x, y: x < y, Const([1, 2, 3]), Const([1.5, 1.5, 3.5], np.float64), id="int_vs_float"),
    Case("gt", lambda L, x: x.t()[1:] > 0, F(3, 4), id="nc"),
    Case("argmax", lambda L, x: x.argmax(), F(3, 4), id="all"),
    Case("argmax", lambda L, x: L.argmax(x, dim=1), F(3, 4), id="dim"),
    Case("argmax", lambda L, x: x.argmax(0, keepdim=True), F(3, 4), id="keepdim"),
    Case("argmax", lambda L, x: x.t().argmax(-1), F(3, 4), id="nc"),
    Case("argmin", lambda L, x: x.argmin(), F(3, 4), id="all"),
    Case("argmin", lambda L, x: L.argmin(x, dim=0), F(3, 4), id="dim"),
    Case("argmin", lambda L, x: x.argmin(1, keepdim=True), F(3, 4), id="keepdim"),
    Case("argmax", lambda L, x: x.argmax(1), Const([[1, 5, 2], [7, 0, 7]]), id="int_tie"),
    Case("one_hot", lambda L, x: L.nn.functional.one_hot(x), Const([0, 2, 1, 2]), id="infer"),
    Case("one_hot", lambda L, x: L.nn.functional.one_hot(x, num_classes=5), Const([[0, 4], [1, 1]]), id="n"),
    Case("sign", lambda L, x: L.sign(x), Const([-2.0, 0.0, 3.0], np.float32)),
    Case("logical_not", lambda L, x: L.logical_not(x > 0), F(3, 4)),
    Case("nonzero", lambda L, x: L.nonzero(x), Const([[0, 1, 0], [2, 0, 3]])),
    Case("max", lambda L, x: x.max(1), Const([[1, 5, 2], [7, 0, 3]]), id="int"),
    Case("sum", lambda L, x: x.sum(), Const([[1, 5, 2], [7, 0, 3]]), id="int_stays_int64"),
    Case("sum", lambda L, x: x.sum(0), Const([[True, False], [True, True]], np.bool_), id="bool_to_int64"),
    Case("mean", lambda L, x: x.float().mean(), Const([1, 2, 4]), id="int_as_float"),
    Case("prod", lambda L, x: x.prod(1), Const([[1, 5, 2], [7, 1, 3]]), id="int"),
    Case("matmul", lambda L, x, y: x @ y, Const([[1, 2], [3, 4]]), Const([[1, 0], [2, 1]]), id="int64"),
    Case("where", lambda L, c, x, y: L.where(c, x, y), Mask(2, 3), Const([1, 2, 3]), Const([[4], [5]]),
         id="int"),
    Case("cat", lambda L, x, y: L.cat([x, y]), Const([1, 2]), Const([3]), id="int"),
    Case("div", lambda L, x, y: x / y, Const([1, 2, 7]), Const([2, 2, 2]), id="int_true_div"),
    Case("maximum", lambda L, x, y: L.maximum(x, y), Const([1, 5]), Const([3, 2]), id="int"),
    Case("floor_divide", lambda L, x, y: x // y, Const([-7, 7, 5, -5]), Const([2, -2, 3, 3]), id="int"),
    Case("floor_divide", lambda L, x, y: L.floor_divide(x, y), F(3, 4), F(3, 4, kind="away"), id="float"),
    Case("remainder", lambda L, x, y: x % y, Const([-7, 7, 5, -5]), Const([2, -2, 3, 3]), id="int"),
    Case("remainder", lambda L, x, y: L.remainder(x, y), F(3, 4), F(4, kind="away"), id="float_bcast"),
]


@pytest.mark.parametrize("case", NONDIFF_CASES, ids=ids(NONDIFF_CASES))
def test_nondiff_vs_torch(case):
    torch = pytest.importorskip("torch")
    check_op(_run(case, ember), _run(case, torch), make_inputs(case, np.float32), grad=False)


def test_comparison_results_do_not_require_grad():
    x = ember.tensor([1.0, -2.0], requires_grad=True)
    for r in (x > 0, x == x, x.argmax(), x.argmin()):
        assert not r.requires_grad
        assert r.grad_fn is None


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_numerically_stable(name):
    torch = pytest.importorskip("torch")
    a = np.array([[1000.0, 1001.0, 1002.0], [-1000.0, -1001.0, -5000.0]], dtype=np.float32)
    e = getattr(ember, name)(ember.tensor(a), dim=1)
    t = getattr(torch, name)(torch.tensor(a), dim=1)
    assert np.isfinite(to_np(e)).all()
    np.testing.assert_allclose(to_np(e), to_np(t), rtol=1e-5, atol=1e-5)


def test_large_matmul_matches_numpy_float64():
    g = rng(3)
    a, b = g.standard_normal((130, 70)), g.standard_normal((70, 90))
    np.testing.assert_allclose(to_np(ember.tensor(a) @ ember.tensor(b)), a @ b, rtol=1e-10, atol=1e-10)
    a32, b32 = a.astype(np.float32), b.astype(np.float32)
    np.testing.assert_allclose(to_np(ember.tensor(a32) @ ember.tensor(b32)), a32 @ b32, rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------------------------------------
# Coverage: every op the tables are meant to cover exists in ember and has a row; every
# public op ember exposes (top level or bound in ember._C) has a row or is listed as non-op.

SPEC_OPS = [
    "add", "sub", "mul", "div", "pow", "neg", "abs", "exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid",
    "relu", "clamp", "maximum", "minimum", "where", "sum", "mean", "max", "min", "prod", "var", "std", "softmax",
    "log_softmax", "matmul", "mm", "bmm", "cat", "stack", "split", "chunk", "gather", "index_select", "view",
    "reshape", "transpose", "t", "permute", "T", "unsqueeze", "squeeze", "flatten", "expand", "eq", "ne", "lt",
    "le", "gt", "ge", "argmax", "argmin",
]
SPEC_METHOD_ONLY = {"view", "expand", "T"}

COVERED = {c.name for c in DIFF_CASES + NONDIFF_CASES}

# Public names that are not ops of these tables (factories and state are tested in
# test_tensor.py / test_autograd.py; `detach` in test_autograd.py).
NOT_OPS = {
    "Generator", "Size", "Tensor", "Node", "dtype", "device", "accelerator", "autograd", "backends", "cuda", "nn",
    "optim", "utils", "serialization", "load", "save", "install_as_torch", "manual_seed", "initial_seed",
    "get_num_threads", "set_num_threads", "is_grad_enabled", "set_grad_enabled", "enable_grad", "no_grad",
    "inference_mode", "is_tensor", "is_floating_point", "numel", "get_default_dtype", "set_default_device",
    "detach", "float", "double", "long", "bool", "float32", "float64", "int64",
    # factories (test_tensor.py)
    "tensor", "as_tensor", "from_numpy", "zeros", "ones", "full", "empty", "arange", "linspace", "eye", "rand",
    "randn", "randint", "randperm", "zeros_like", "ones_like", "full_like", "empty_like", "rand_like",
    "randn_like",
}


@pytest.mark.parametrize("name", SPEC_OPS)
def test_spec_op_exists_and_has_row(name):
    if name in SPEC_METHOD_ONLY:
        assert hasattr(ember.Tensor, name), f"ember.Tensor.{name} missing"
    else:
        assert hasattr(ember, name) or hasattr(ember.Tensor, name), f"ember.{name} missing"
    assert name in COVERED, f"op {name} has no row in the op tables"


def _public_ops():
    names = set()
    for n in dir(ember):
        obj = getattr(ember, n)
        if n.startswith("_") or inspect.ismodule(obj) or isinstance(obj, (type(ember.float32), type)):
            continue
        if callable(obj):
            names.add(n)
    for n in dir(ember._C):
        obj = getattr(ember._C, n)
        if n.startswith("_") or isinstance(obj, type):
            continue
        if callable(obj):
            names.add(n)
    return sorted(names - NOT_OPS)


@pytest.mark.parametrize("name", _public_ops())
def test_public_op_has_row(name):
    assert name in COVERED, f"ember.{name} is public but no op table row covers it"


def test_tables_are_nonempty_and_unique_ids():
    all_ids = ids(DIFF_CASES) + ids(NONDIFF_CASES)
    assert len(set(all_ids)) == len(all_ids)
    assert len(DIFF_CASES) > 200


def test_dtype_name_helper():
    assert dtype_name(ember.float32) == "float32"
    assert dtype_name(ember.int64) == "int64"


# ---------------------------------------------------------------------------------------------
# The helpers themselves must catch wrong gradients and wrong values.

def _wrong_grad_function():
    class WrongSquare(ember.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * x  # should be 2 * g * x
    return WrongSquare


def test_gradcheck_detects_wrong_backward():
    fn = _wrong_grad_function()
    with pytest.raises(AssertionError):
        gradcheck(lambda x: fn.apply(x), [np.array([1.0, -2.0, 0.5])])


def test_gradcheck_accepts_right_backward():
    gradcheck(lambda x: x * x, [np.array([1.0, -2.0, 0.5])])


def test_check_op_detects_wrong_forward_and_backward():
    pytest.importorskip("torch")
    a = [np.array([1.0, -2.0, 0.5], dtype=np.float32)]
    with pytest.raises(AssertionError):
        check_op(lambda x: x * 2, lambda x: x * 3, a)
    fn = _wrong_grad_function()
    with pytest.raises(AssertionError):
        check_op(lambda x: fn.apply(x), lambda x: x * x, a)
    check_op(lambda x: x * x, lambda x: x * x, a)


# ---------------------------------------------------------------------------------------------
# Edge cases: empty tensors, ties, signed zeros, extreme values (each compared with torch).

EDGE_CASES = [
    Case("sum", lambda L, x: x.sum(), F(0, 3), id="empty_all"),
    Case("sum", lambda L, x: x.sum(0), F(0, 3), id="empty_dim"),
    Case("matmul", lambda L, x, y: x @ y, F(0, 3), F(3, 2), id="empty_rows"),
    Case("matmul", lambda L, x, y: x @ y, F(2, 0), F(0, 3), id="empty_inner"),
    Case("cat", lambda L, x, y: L.cat([x, y]), F(0, 3), F(2, 3), id="with_empty"),
    Case("exp", lambda L, x: x.exp(), F(0), id="empty"),
    Case("max", lambda L, x: x.max(), Fixed([1.0, 3.0, 3.0, -2.0]), id="ties_all"),
    Case("min", lambda L, x: x.min(), Fixed([[1.0, -3.0], [-3.0, 2.0]]), id="ties_all"),
    Case("max", lambda L, x: x.max(1), Fixed([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]]), id="ties_dim"),
    Case("maximum", lambda L, x, y: L.maximum(x, y), Fixed([1.0, 2.0, 3.0]), Fixed([1.0, 0.0, 3.0]), id="ties"),
    Case("clamp", lambda L, x: x.clamp(-1.0, 1.0), Fixed([-1.0, 0.0, 1.0, 2.0]), id="at_bounds"),
    Case("abs", lambda L, x: x.abs(), Fixed([-1.0, 0.0, 2.0]), id="at_zero"),
    Case("relu", lambda L, x: x.relu(), Fixed([-1.0, 0.0, 2.0]), id="at_zero"),
    Case("sqrt", lambda L, x: x.sqrt(), Fixed([0.0, 4.0]), id="at_zero"),
    Case("log", lambda L, x: x.log(), Fixed([0.0, 1.0]), id="at_zero"),
    Case("div", lambda L, x, y: x / y, Fixed([1.0, -1.0, 0.0]), Fixed([0.0, 0.0, 0.0]), id="by_zero"),
    Case("exp", lambda L, x: x.exp(), Fixed([100.0, -100.0]), id="overflow"),
    Case("softmax", lambda L, x: x.softmax(-1), Fixed([[-1e4, 0.0, 1e4]]), id="extreme"),
    Case("log_softmax", lambda L, x: x.log_softmax(-1), Fixed([[-1e4, 0.0, 1e4]]), id="extreme"),
    Case("tanh", lambda L, x: x.tanh(), Fixed([-50.0, 50.0]), id="saturated"),
    Case("pow", lambda L, x: x ** 2, Fixed([0.0, -1.0]), id="at_zero"),
    Case("pow", lambda L, x: x ** 0.0, Fixed([0.0, 2.0]), id="exp_zero"),
    Case("var", lambda L, x: x.var(1), Fixed([[1.0, 1.0, 1.0]]), id="constant"),
    Case("std", lambda L, x: x.std(1), Fixed([[1.0, 2.0, 3.0], [2.0, 2.0, 2.5]]), id="rows"),
    Case("prod", lambda L, x: x.prod(), Fixed([2.0, 0.0, 3.0]), id="one_zero"),
    Case("mean", lambda L, x: x.mean((0, 1)), F(2, 3, 4), id="tuple_first_two"),
]


@pytest.mark.parametrize("case", EDGE_CASES, ids=ids(EDGE_CASES))
def test_edge_cases_vs_torch(case):
    torch = pytest.importorskip("torch")
    with np.errstate(all="ignore"):
        check_op(_run(case, ember), _run(case, torch), make_inputs(case, np.float32))


def test_relu_and_clamp_give_positive_zero():
    x = ember.tensor([-2.0, -0.5, 3.0])
    for y in (x.relu(), x.clamp(min=0.0), ember.maximum(x, ember.zeros(3))):
        assert not np.signbit(to_np(y)).any(), to_np(y)


@pytest.mark.parametrize("M,N,K", [(32, 64, 64), (7, 9, 300), (33, 17, 65), (1, 16, 1000), (13, 31, 7), (6, 8, 200),
                                   (100, 100, 50),
                                   # split over threads: register-blocked by columns with a ragged
                                   # tail, by rows (narrow C); large A (OpenBLAS when transposed),
                                   # OpenBLAS by rows; a wide B packed panel by panel
                                   (128, 333, 784), (500, 20, 300), (260, 700, 1100), (2000, 4, 600),
                                   (64, 1100, 4200)])
@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
def test_matmul_kernel_sizes_and_layouts(M, N, K, ta, tb):
    """Sizes that take each GEMM path (direct loop, register-blocked kernel with row and column
    tails, OpenBLAS, each split over threads) with transposed operands, against torch in float64
    and float32."""
    torch = pytest.importorskip("torch")
    g = rng(M * 1000 + N * 10 + K)
    a, b = g.standard_normal((M, K)), g.standard_normal((K, N))
    for dt in ("float64", "float32"):
        ea = ember.tensor(a.T.copy()).t() if ta else ember.tensor(a)
        eb = ember.tensor(b.T.copy()).t() if tb else ember.tensor(b)
        ea, eb = ea.to(getattr(ember, dt)), eb.to(getattr(ember, dt))
        ref = torch.tensor(a, dtype=getattr(torch, dt)) @ torch.tensor(b, dtype=getattr(torch, dt))
        tol = 1e-10 if dt == "float64" else 2e-4
        assert_close(ea @ eb, ref, rtol=tol, atol=tol * 10)


def test_int64_overflow_wraps_and_min_div_minus_one_as_torch():
    """int64 arithmetic wraps (as torch); INT64_MIN // -1 and % -1 used to kill the process (SIGFPE)."""
    torch = pytest.importorskip("torch")
    lo, hi = -2**63, 2**63 - 1
    cases = [
        (lambda L: L.tensor([lo, 7, -7]) // -1),
        (lambda L: L.tensor([lo, 7, -7]) % -1),
        (lambda L: L.tensor([lo, 7, -7, 5]) // L.tensor([-1, -2, 2, 3])),
        (lambda L: L.tensor([lo, 7, -7, 5]) % L.tensor([-1, -2, 2, -3])),
        (lambda L: L.tensor([hi]) + 1),
        (lambda L: L.tensor([lo]) - 1),
        (lambda L: L.tensor([hi]) * 3),
        (lambda L: -L.tensor([lo])),
        (lambda L: L.tensor([lo]).abs()),
        (lambda L: L.tensor([hi, hi]).sum()),
        (lambda L: L.tensor([hi, 3]).prod()),
    ]
    for f in cases:
        np.testing.assert_array_equal(to_np(f(ember)), to_np(f(torch)))
