"""The op tests, driven by the op table: ember._C._op_table() (ops declared in C++ with EMBER_OP)
plus the ops ember declares in Python (ember._op_registry.op_table()).

Every op of the table has rows here. A row runs one call in ember and in torch on the same inputs
and compares shapes, dtypes and values, and for differentiable ops the gradients of a random
projection (DIFF_CASES) and central finite differences in float64 (test_gradcheck); NONDIFF_CASES
compare forward only, RANDOM_CASES compare distributions. From the table itself, not by hand, come
the generic tests: Tensor.X, Tensor.X_ (x.clone().X_(...) on the first row's arguments), out=,
Python numbers for `numbers` ops, every operator dunder, keyword calls with the schema's names,
float64, and the signature check against torch's Python signatures. BAD lists bad calls and the
exception type torch raises for them. The coverage tests fail for a table op (or overload, or
in-place form) without rows, and for a differentiable op without a gradient check.

Known disagreements with torch are strict xfails whose reason starts with "bug:"."""
import ast
import functools
import inspect
import operator
import re

import numpy as np
import pytest
from helpers import assert_close, check_op, dtype_name, gradcheck, rng, to_np

import ember

# Known-bug rows run as strict xfails; pytest formats each xfail's traceback, and for a module this
# size that means re-walking its syntax tree per frame (a quarter second apiece). The frames of this
# module are hidden for xfail-marked tests only (their reason says what fails); a real failure keeps
# its whole traceback (as does an xfail run with --runxfail).
_IN_XFAIL = False


def __tracebackhide__(excinfo):  # noqa: N807 (pytest's hook name)
    return _IN_XFAIL


@pytest.fixture(autouse=True)
def _hide_frames_of_known_bugs(request):
    global _IN_XFAIL
    _IN_XFAIL = request.node.get_closest_marker("xfail") is not None and not request.config.getoption("runxfail")
    yield
    _IN_XFAIL = False


# ---------------------------------------------------------------------------------------------
# Input specs. A case lists its inputs as specs; `make_inputs` turns them into numpy arrays.


def _nonint(g, shape):
    """Away from the jumps of floor/ceil/round/trunc: n + f with |f| in [0.1, 0.4] or [0.6, 0.9]."""
    n = g.integers(-3, 4, shape)
    f = g.uniform(0.1, 0.4, shape) + g.choice([0.0, 0.5], shape)
    return n + f * g.choice([-1.0, 1.0], shape)


class F:
    """A float input of `shape` (in the test's float dtype), drawn according to `kind`."""

    KINDS = {
        "normal": lambda g, s: g.standard_normal(s),
        "pos": lambda g, s: g.uniform(0.5, 2.0, s),
        "away": lambda g, s: g.uniform(0.5, 2.0, s) * g.choice([-1.0, 1.0], s),  # |x| in [0.5, 2]
        "unit": lambda g, s: g.uniform(0.7, 1.3, s) * g.choice([-1.0, 1.0], s),  # products stay moderate
        "open_unit": lambda g, s: g.uniform(-0.9, 0.9, s),  # asin, acos, atanh, erfinv, tan
        "gt1": lambda g, s: g.uniform(1.2, 3.0, s),  # acosh
        "gtm1": lambda g, s: g.uniform(-0.6, 2.0, s),  # log1p
        "nonint": _nonint,  # floor, ceil, round, trunc, frac
        "coarse": lambda g, s: g.integers(-2, 3, s) / 2.0,  # many ties and zeros (comparisons, logical ops)
        "prob": lambda g, s: g.uniform(0.05, 0.95, s),  # logit, bernoulli
    }

    def __init__(self, *shape, kind="normal"):
        assert kind in self.KINDS, kind
        self.shape = shape
        self.kind = kind

    def make(self, g, dtype):
        return np.asarray(self.KINDS[self.kind](g, self.shape), dtype=dtype)


class Ints:
    """A random int64 input in [low, high); `nonzero` replaces zeros by 1 (divisors)."""

    def __init__(self, *shape, low=-3, high=4, nonzero=False):
        self.shape, self.low, self.high, self.nonzero = shape, low, high, nonzero

    def make(self, g, dtype):
        a = g.integers(self.low, self.high, self.shape)
        if self.nonzero:
            a = np.where(a == 0, 1, a)
        return np.asarray(a, dtype=np.int64)


class Const:
    """A fixed array of `dtype` (int64 unless told), not differentiated unless floating."""

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
        m = np.asarray(g.random(self.shape) > 0.5)
        m.reshape(-1)[0] = True
        return m


class Case:
    """One row: `fn(lib, *tensors)` run with lib = ember and lib = torch on the same `inputs`.

    `name` is the op the row covers (a table name, or a Python-level op). `mirror`: where torch
    raises for these inputs ember must raise the same type (dtype sweeps: int64 / bool inputs of an
    op torch may refuse them for). `bug`: a known disagreement with torch, run as a strict xfail."""

    def __init__(self, name, fn, *inputs, id=None, atol=1e-5, rtol=1e-4, mirror=False, bug=None, bug_in=None,
                 torch_grad=True):
        self.bug_in = bug_in  # the tests the bug shows in (None: every test of the row)
        self.torch_grad = torch_grad  # False: torch's gradient is wrong here; finite differences only
        self.name = name
        self.fn = fn
        self.inputs = inputs
        self.id = id
        self.atol = atol
        self.rtol = rtol
        self.mirror = mirror
        self.bug = bug

    def __repr__(self):
        return f"Case({self.name}-{self.id})"


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


def xfail_bug(reason):
    return pytest.mark.xfail(strict=True, reason="bug: " + reason)


def _marks(name, bug=None):
    if bug:
        return [xfail_bug(bug)]
    if name in UNREACHABLE:
        return [xfail_bug(UNREACHABLE[name])]
    return []


def params(cases, test=None):
    """pytest params of `cases`: ids from `ids`, a strict xfail on rows with a known bug (in `test`)."""
    return [pytest.param(c, id=i, marks=_marks(c.name, c.bug if c.bug and (c.bug_in is None or test in c.bug_in)
                                               else None)) for c, i in zip(cases, ids(cases))]


def mark_bug(cases, name, ids_, reason, tests=None):
    """Mark the rows `ids_` (None: every row) of op `name` as a known bug shown in `tests`."""
    hit = [c for c in cases if c.name == name and (ids_ is None or c.id in ids_)]
    assert hit and (ids_ is None or len(hit) == len(ids_)), (name, ids_)
    for c in hit:
        c.bug, c.bug_in = reason, tests


def _lib_fn(lib, name):
    """ember.X / torch.X, or lib.linalg.X for a table name linalg_X (torch's namespaces)."""
    for prefix in ("linalg_", "special_", "fft_"):
        if name.startswith(prefix) and hasattr(lib, prefix[:-1]):
            return getattr(getattr(lib, prefix[:-1]), name[len(prefix):], None)
    return getattr(lib, name, None)


def _tensorize(lib, out):
    """Python results (bool of equal(), a Size of broadcast_shapes()) as tensors, to compare."""
    if isinstance(out, (bool, int, float)):
        return lib.tensor(out)
    if isinstance(out, tuple) and not hasattr(out, "_fields") and all(isinstance(v, int) for v in out):
        return lib.tensor(list(out), dtype=lib.int64)
    return out


def _run(case, lib):
    return lambda *xs: _tensorize(lib, case.fn(lib, *xs))


def _is_tensor(x):
    return isinstance(x, ember.Tensor) or (type(x).__module__.startswith("torch") and hasattr(x, "grad_fn"))


def _is_number(x):
    return isinstance(x, (bool, int, float)) and not _is_tensor(x)


def _item(t):
    """The first element of a tensor as a Python number of its kind (bool, int or float)."""
    return to_np(t).reshape(-1)[0].item()


def compare(fe, ft, inputs, *, grad, mirror=False, atol=1e-5, rtol=1e-4):
    """check_op(fe, ft, inputs); with `mirror`, when torch raises ember must raise the same type."""
    if mirror:
        import torch
        try:
            ft(*[torch.tensor(a.copy()) if isinstance(a, np.ndarray) else a for a in inputs])
        except Exception as e:  # noqa: BLE001 (any exception type torch raises)
            with pytest.raises(Exception) as info:
                fe(*[ember.tensor(a.copy()) if isinstance(a, np.ndarray) else a for a in inputs])
            # torch's "X not implemented for 'Bool'" is a NotImplementedError, ember's a RuntimeError
            # (its base class): one BAD row keeps that difference visible
            want = RuntimeError if type(e) is NotImplementedError else type(e)
            assert type(info.value) in (type(e), want), f"ember raised {info.value!r}, torch {e!r}"
            return
    check_op(fe, ft, inputs, grad=grad, atol=atol, rtol=rtol)


# ---------------------------------------------------------------------------------------------
# The op table: schemas parsed, and a binder that tells which overload a call resolves to.


def _split_top(s):
    """Split on the commas outside brackets and quotes."""
    parts, depth, cur, quote = [], 0, "", None
    for ch in s:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        else:
            depth += ch in "(["
            depth -= ch in ")]"
        if ch == "," and depth == 0 and not quote:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [p.strip() for p in parts if p.strip()]


class Param:
    def __init__(self, type, name, default, kwonly):
        self.type, self.name, self.default, self.kwonly = type, name, default, kwonly

    @property
    def required(self):
        return self.default is None


class Schema:
    """A parsed schema: "name.overload(Type name=default, *, ...) -> returns"."""

    def __init__(self, text, variants="", file=""):
        self.text = text
        i = text.index("(")
        self.name, _, self.overload = text[:i].partition(".")
        depth = 0
        for j in range(i, len(text)):
            depth += (text[j] == "(") - (text[j] == ")")
            if depth == 0:
                break
        self.returns = text[j + 1:].strip()[2:].strip()  # after "->"
        self.params = []
        kw = False
        for p in _split_top(text[i + 1:j]):
            if p == "*":
                kw = True
                continue
            decl, eq, default = p.partition("=")
            typ, _, name = decl.strip().rpartition(" ")
            self.params.append(Param(typ.strip(), name, default.strip() if eq else None, kw))
        self.variants = set(variants.split())
        self.file = file.replace("\\", "/").split("/")[-1]

    @property
    def full_name(self):
        return self.name + ("." + self.overload if self.overload else "")

    @property
    def has_out(self):
        return any(p.name == "out" and p.kwonly for p in self.params)

    def __repr__(self):
        return self.text


def _op_table():
    """Every op declaration: the C++ table plus the ops declared in Python (ember._op_registry)."""
    try:
        from ember._op_registry import op_table
    except ImportError:
        return ember._C._op_table()
    return op_table()


TABLE = [Schema(s, v, f) for s, v, f in _op_table()]
TABLE_NAMES = list(dict.fromkeys(s.name for s in TABLE))
VARIANTS = {n: set().union(*(s.variants for s in TABLE if s.name == n)) for n in TABLE_NAMES}
SCHEMAS = {n: [s for s in TABLE if s.name == n] for n in TABLE_NAMES}

def _unreachable(name):
    """Why a table function is missing at torch's name in ember (ember.linalg.inv for linalg_inv)."""
    for prefix in ("linalg_", "special_", "fft_"):
        if name.startswith(prefix) and "function" in VARIANTS.get(name, ()):
            mod = getattr(ember, prefix[:-1], None)
            if mod is None or not hasattr(mod, name[len(prefix):]):
                return (f"ember.{prefix[:-1]}.{name[len(prefix):]} does not exist: the table declares {name}, "
                        f"reachable only as ember.{name} (torch has no torch.{name})")
    return None


UNREACHABLE = {n: r for n in TABLE_NAMES for r in [_unreachable(n)] if r}

# keyword aliases ember (like torch's numpy-compatible parser) accepts
_KW_ALIASES = {"keepdims": "keepdim", "axis": "dim"}


def _accepts(typ, v, number_ok):
    base = typ.rstrip("?")
    if v is None:
        return typ.endswith("?")
    if base == "Tensor":
        return _is_tensor(v) or (number_ok and _is_number(v))
    if base in ("Scalar", "float"):
        return _is_number(v)
    if base == "int":
        return isinstance(v, int) and not isinstance(v, bool)
    if base.startswith("int["):
        if isinstance(v, int) and not isinstance(v, bool):
            return True
        return isinstance(v, (list, tuple)) and all(isinstance(i, int) and not isinstance(i, bool) for i in v)
    if base == "bool":
        return isinstance(v, bool)
    if base == "str":
        return isinstance(v, str)
    if base == "ScalarType":
        return type(v).__name__ == "dtype"
    if base == "Tensor[]":
        return isinstance(v, (list, tuple)) and all(_is_tensor(t) for t in v)
    return True  # MemoryFormat, Generator, Device: not told apart here


def bind(schema, args, kwargs):
    """The schema's parameter names bound to a call's arguments (a method's self first), or None
    when the call does not fit the schema."""
    args = tuple(args)
    pos = [p for p in schema.params if not p.kwonly]
    if pos and len(args) > len(pos) and pos[-1].type.startswith("int[") \
            and all(isinstance(v, int) for v in args[len(pos) - 1:]):  # x.view(2, 3): size as varargs
        args = args[:len(pos) - 1] + (tuple(args[len(pos) - 1:]),)
    if len(args) > len(pos) and not (pos and pos[-1].name.startswith("*")):
        return None
    names = {p.name: p for p in schema.params}
    first_tensor = next((p.name for p in schema.params if p.type.rstrip("?") == "Tensor"), None)
    numbers = "numbers" in schema.variants
    bound = {}
    if pos and pos[-1].name.startswith("*"):  # Tensor[] *tensors: the rest of the positionals
        n = len(pos) - 1
        rest = args[n:]
        args = args[:n] + ((list(rest[0]) if len(rest) == 1 and isinstance(rest[0], (list, tuple)) else list(rest)),)
    for p, v in zip(pos, args):
        bound[p.name] = v
    for k, v in kwargs.items():
        k = k if k in names else _KW_ALIASES.get(k, k)
        if k not in names or k in bound:
            return None
        bound[k] = v
    for p in schema.params:
        if p.name not in bound:
            if p.required:
                return None
        elif p.name.startswith("*"):  # Tensor[] *tensors: each a Tensor; int[] *shapes: each an int[] or int
            if not all(_accepts(p.type[:-2], v, False) or _accepts(p.type, v, False) for v in bound[p.name]):
                return None
        elif not _accepts(p.type, bound[p.name], numbers and p.name != first_tensor):
            return None
    return bound


def resolve(name, args, kwargs, variant):
    """The first schema of `name` having `variant` that the call binds to, and the binding."""
    for s in SCHEMAS.get(name, []):
        if variant in s.variants:
            b = bind(s, args, kwargs)
            if b is not None:
                return s, b
    return None, None


# operator dunder -> (op name) from the table; dunder -> (kind, operator function)
DUNDERS = {d: n for n in TABLE_NAMES for d in VARIANTS[n] if d.startswith("__")}
_UNARY_OPERATORS = {"neg", "pos", "abs", "invert"}


def _dunder_operator(d):
    """('unary' | 'binary' | 'reflected' | 'inplace', operator function) of a dunder name."""
    base = d[2:-2]
    if base in _UNARY_OPERATORS:
        return "unary", getattr(operator, base)
    if base.startswith("i") and hasattr(operator, base):
        return "inplace", getattr(operator, base)
    for b in (base, base + "_"):
        if hasattr(operator, b):
            return "binary", getattr(operator, b)
    for b in (base[1:], base[1:] + "_"):
        if base.startswith("r") and hasattr(operator, b):
            return "reflected", getattr(operator, b)
    raise AssertionError(f"unknown dunder {d}")


# ---------------------------------------------------------------------------------------------
# Rows. DIFF_CASES: differentiable (forward and backward against torch, float64 gradcheck);
# NONDIFF_CASES: forward only (exact dtype). test_nondiff_row_is_not_differentiable checks with
# torch that no NONDIFF row has an output torch would differentiate.

# name -> kind of float input (the op's domain); int64 inputs for the dtype sweep drawn from
# INT_KIND[kind]
UNARY = {
    "neg": "normal", "negative": "normal", "positive": "normal", "abs": "away", "absolute": "away",
    "sign": "away", "sgn": "away", "square": "normal", "relu": "away",
    "exp": "normal", "exp2": "normal", "expm1": "normal",
    "log": "pos", "log2": "pos", "log10": "pos", "log1p": "gtm1",
    "sqrt": "pos", "rsqrt": "pos", "reciprocal": "away",
    "sin": "normal", "cos": "normal", "tan": "open_unit",
    "asin": "open_unit", "arcsin": "open_unit", "acos": "open_unit", "arccos": "open_unit",
    "atan": "normal", "arctan": "normal",
    "sinh": "normal", "cosh": "normal", "tanh": "normal",
    "asinh": "normal", "arcsinh": "normal", "acosh": "gt1", "arccosh": "gt1", "atanh": "open_unit",
    "arctanh": "open_unit",
    "sigmoid": "normal", "erf": "normal", "erfc": "normal", "erfinv": "open_unit", "lgamma": "nonint",
    "digamma": "nonint", "i0": "normal",
    "floor": "nonint", "ceil": "nonint", "trunc": "nonint", "fix": "nonint", "round": "nonint", "frac": "nonint",
}
INT_KIND = {"normal": dict(low=-3, high=4), "pos": dict(low=1, high=5), "away": dict(low=-3, high=4, nonzero=True),
            "open_unit": dict(low=0, high=1), "gt1": dict(low=1, high=5), "gtm1": dict(low=0, high=5),
            "nonint": dict(low=-3, high=4)}


def _unary_rows(name, kind):
    fn = lambda L, x, _n=name: getattr(L, _n)(x)  # noqa: E731
    return [
        Case(name, fn, F(5, kind=kind), id="1d"),
        Case(name, fn, F(kind=kind), id="0d"),
        Case(name, fn, F(2, 3, 4, kind=kind), id="3d"),
        Case(name, lambda L, x, _n=name: getattr(x, _n)(), F(3, 4, kind=kind), id="method"),
        Case(name, lambda L, x, _f=fn: _f(L, x.t()), F(4, 3, kind=kind), id="nc_t"),
        Case(name, lambda L, x, _f=fn: _f(L, x[::2, 1:4]), F(6, 5, kind=kind), id="nc_slice"),
    ]


UNARY_CASES = []
UNARY_DTYPE_CASES = []  # int64 and bool inputs: torch's result dtype (or torch's error)
for _name, _kind in UNARY.items():
    UNARY_CASES += _unary_rows(_name, _kind)
    _fn = lambda L, x, _n=_name: getattr(L, _n)(x)  # noqa: E731
    UNARY_DTYPE_CASES += [Case(_name, _fn, Ints(3, 4, **INT_KIND[_kind]), id="int64", mirror=True),
                          Case(_name, _fn, Mask(2, 3), id="bool", mirror=True)]
UNARY_CASES += [
    Case("sigmoid", lambda L, x: L.sigmoid(x), Fixed([-30.0, -5.0, 0.0, 5.0, 30.0]), id="extreme"),
    Case("round", lambda L, x: L.round(x, decimals=1), Fixed([[1.234, -2.371], [0.017, 9.96]]), id="decimals1"),
    Case("round", lambda L, x: x.round(decimals=-1), Fixed([14.0, 251.0, -37.0, 3.0]), id="decimals_neg"),
    Case("round", lambda L, x: L.round(x, decimals=0), F(3, 4, kind="nonint"), id="decimals0"),
    Case("clamp", lambda L, x: L.clamp(x, -0.5, 0.5), F(3, 4), id="both"),
    Case("clamp", lambda L, x: L.clamp(x, min=0.1), F(3, 4), id="min"),
    Case("clamp", lambda L, x: x.clamp(max=-0.2), F(3, 4), id="max_method"),
    Case("clamp", lambda L, x: x.t().clamp(-1.0, 1.0), F(4, 3), id="nc_t"),
    Case("clamp", lambda L, x: L.clamp(x, -1, 1), F(), id="0d_int_bounds"),
    Case("clamp", lambda L, x: L.clamp(x, 1.0, -1.0), F(2, 3), id="min_gt_max"),
    Case("clamp", lambda L, x, lo, hi: L.clamp(x, lo, hi), F(3, 4), F(4), F(3, 1), id="tensor_bcast"),
    Case("clamp", lambda L, x, lo: x.clamp(min=lo), F(3, 4), F(3, 4), id="tensor_min_method"),
    Case("clamp", lambda L, x, hi: L.clamp(x, max=hi), F(2, 3, 4), F(4), id="tensor_max"),
    Case("clamp", lambda L, x, lo, hi: L.clamp(x.t(), lo, hi[:, ::2]), F(4, 3), F(1, 4), F(3, 8), id="tensor_nc"),
    Case("clamp", lambda L, x, lo: L.clamp(x, lo), F(), F(3), id="tensor_0d_self"),
    Case("clip", lambda L, x: L.clip(x, -0.5, 0.5), F(3, 4)),
    Case("clip", lambda L, x: x.clip(min=0.0), F(2, 3, 4), id="min_method"),
    Case("clip", lambda L, x, lo, hi: L.clip(x, lo, hi), F(3, 4), F(4), F(3, 1), id="tensor"),
    Case("clip", lambda L, x, hi: x.t().clip(max=hi), F(4, 3), F(3, 1), id="tensor_nc"),
    Case("clamp_min", lambda L, x: L.clamp_min(x, 0.2), F(3, 4), id="scalar"),
    Case("clamp_min", lambda L, x: x.clamp_min(-1), F(2, 3, 4), id="method_int"),
    Case("clamp_min", lambda L, x, m: L.clamp_min(x, m), F(3, 4), F(4), id="tensor"),
    Case("clamp_min", lambda L, x, m: L.clamp_min(x.t(), m), F(4, 3), F(3, 1), id="tensor_nc"),
    Case("clamp_min", lambda L, x: L.clamp_min(x, 0.0), F(), id="0d"),
    Case("clamp_max", lambda L, x: L.clamp_max(x, 0.2), F(3, 4), id="scalar"),
    Case("clamp_max", lambda L, x: x.clamp_max(1), F(2, 3, 4), id="method_int"),
    Case("clamp_max", lambda L, x, m: L.clamp_max(x, m), F(3, 4), F(3, 1), id="tensor"),
    Case("clamp_max", lambda L, x, m: x[:, ::2].clamp_max(m), F(3, 8), F(4), id="tensor_nc"),
    Case("clamp_max", lambda L, x: L.clamp_max(x, -0.5), F(), id="0d"),
]
UNARY_DTYPE_CASES += [
    Case("clamp", lambda L, x: L.clamp(x, -1, 2), Ints(3, 4), id="int64"),
    Case("clamp", lambda L, x, lo, hi: L.clamp(x, lo, hi), Ints(3, 4), Ints(4), Ints(3, 1), id="int64_tensor"),
    Case("clamp", lambda L, x: L.clamp(x, -0.5, 1.5), Ints(3, 4), id="int64_float_bounds", mirror=True),
    Case("clip", lambda L, x: x.clip(0, 2), Ints(3, 4), id="int64"),
    Case("clamp_min", lambda L, x: L.clamp_min(x, 0), Ints(3, 4), id="int64"),
    Case("clamp_max", lambda L, x, m: L.clamp_max(x, m), Ints(3, 4), Ints(4), id="int64_tensor"),
    Case("round", lambda L, x: L.round(x), Ints(3, 4), id="int64"),
    Case("round", lambda L, x: L.round(x, decimals=1), Ints(3, 4), id="int64_decimals", mirror=True),
]

# name -> (fn, kind of x, kind of y); binary rows: shapes, broadcasting, 0-d, non-contiguous
BINARY_OPS = {
    "add": (lambda L, x, y: x + y, "normal", "normal"),
    "sub": (lambda L, x, y: x - y, "normal", "normal"),
    "subtract": (lambda L, x, y: L.subtract(x, y), "normal", "normal"),
    "mul": (lambda L, x, y: x * y, "normal", "normal"),
    "multiply": (lambda L, x, y: L.multiply(x, y), "normal", "normal"),
    "div": (lambda L, x, y: x / y, "normal", "away"),
    "divide": (lambda L, x, y: L.divide(x, y), "normal", "away"),
    "true_divide": (lambda L, x, y: L.true_divide(x, y), "normal", "away"),
    "pow": (lambda L, x, y: x ** y, "pos", "normal"),
    "maximum": (lambda L, x, y: L.maximum(x, y), "normal", "normal"),
    "minimum": (lambda L, x, y: L.minimum(x, y), "normal", "normal"),
    "max": (lambda L, x, y: L.max(x, y), "normal", "normal"),
    "min": (lambda L, x, y: L.min(x, y), "normal", "normal"),
    "remainder": (lambda L, x, y: L.remainder(x, y), "normal", "away"),
}


def _binary_rows(name, fn, xk, yk):
    return [
        Case(name, fn, F(3, 4, kind=xk), F(3, 4, kind=yk), id="same"),
        Case(name, fn, F(3, 4, kind=xk), F(4, kind=yk), id="bcast_row"),
        Case(name, fn, F(3, 1, kind=xk), F(1, 4, kind=yk), id="bcast_outer"),
        Case(name, fn, F(2, 1, 4, kind=xk), F(3, 1, kind=yk), id="bcast_3d"),
        Case(name, fn, F(kind=xk), F(2, 3, kind=yk), id="bcast_0d"),
        Case(name, fn, F(kind=xk), F(kind=yk), id="0d_0d"),
        Case(name, lambda L, x, y, _f=fn: _f(L, x.t(), y), F(4, 3, kind=xk), F(3, 4, kind=yk), id="nc_t"),
        Case(name, lambda L, x, y, _f=fn: _f(L, x[:, ::2], y[1:]), F(3, 8, kind=xk), F(4, 4, kind=yk),
             id="nc_slice"),
        Case(name, lambda L, x, y, _f=fn: _f(L, x, y.expand(3, 4)), F(3, 4, kind=xk), F(1, 4, kind=yk),
             id="nc_expand"),
    ]


_INT_Y = {"normal": dict(), "away": dict(nonzero=True)}
BINARY_CASES = []
BINARY_DTYPE_CASES = []
for _name, (_fn, _xk, _yk) in BINARY_OPS.items():
    BINARY_CASES += _binary_rows(_name, _fn, _xk, _yk)
    _ix = dict(low=1, high=4) if _xk == "pos" else {}
    _iy = dict(low=0, high=3) if _name == "pow" else _INT_Y[_yk]
    BINARY_CASES.append(Case(_name, _fn, Ints(3, 4, **_ix), F(4, kind=_yk), id="int_float"))
    BINARY_DTYPE_CASES += [
        Case(_name, _fn, Ints(3, 4, **_ix), Ints(4, **_iy), id="int64", mirror=True),
        Case(_name, _fn, Mask(3, 4), Mask(4), id="bool", mirror=True),
        Case(_name, _fn, Mask(3, 4), Ints(4, **_iy), id="bool_int", mirror=True),
    ]
BINARY_CASES += [
    Case("add", lambda L, x, y: L.add(x, y), F(3, 4), F(4), id="fn"),
    Case("add", lambda L, x: x + 2, F(3, 4), id="scalar"),
    Case("add", lambda L, x: 2.5 + x, F(3, 4), id="rscalar"),
    Case("add", lambda L, x, y: x.add(y, alpha=2.0), F(3, 4), F(4), id="alpha"),
    Case("add", lambda L, x, y: L.add(x, y, alpha=-3), F(2, 3), F(2, 3), id="alpha_int"),
    Case("add", lambda L, x: L.add(x, 1.5, alpha=2), F(3), id="scalar_alpha"),
    Case("sub", lambda L, x, y: L.sub(x, y), F(3, 4), F(4), id="fn"),
    Case("sub", lambda L, x: x - 1.5, F(3, 4), id="scalar"),
    Case("sub", lambda L, x: 2 - x, F(3, 4), id="rscalar"),
    Case("sub", lambda L, x, y: x.sub(y, alpha=0.5), F(3, 4), F(3, 1), id="alpha"),
    Case("subtract", lambda L, x, y: x.subtract(y, alpha=2), F(3, 4), F(4), id="alpha_method"),
    Case("mul", lambda L, x, y: L.mul(x, y), F(3, 4), F(4), id="fn"),
    Case("mul", lambda L, x: x * 3, F(3, 4), id="scalar"),
    Case("mul", lambda L, x: 0.5 * x, F(3, 4), id="rscalar"),
    Case("mul", lambda L, x: x * x, F(3, 4), id="same_tensor"),
    Case("multiply", lambda L, x: L.multiply(x, -2), F(3, 4), id="scalar"),
    Case("div", lambda L, x, y: L.div(x, y), F(3, 4), F(4, kind="away"), id="fn"),
    Case("div", lambda L, x: x / 4, F(3, 4), id="scalar"),
    Case("div", lambda L, x: 10.0 / x, F(3, 4, kind="away"), id="rscalar"),
    Case("div", lambda L, x, y: L.div(x, y, rounding_mode="trunc"), F(3, 4), F(4, kind="away"), id="trunc"),
    Case("div", lambda L, x, y: x.div(y, rounding_mode="floor"), F(3, 4), F(3, 4, kind="away"), id="floor_method"),
    Case("div", lambda L, x, y: L.div(x, y, rounding_mode=None), F(3, 4), F(4, kind="away"), id="mode_none"),
    Case("div", lambda L, x: L.div(x, 0.75, rounding_mode="floor"), F(3, 4), id="floor_scalar"),
    Case("divide", lambda L, x, y: L.divide(x, y, rounding_mode="floor"), F(2, 3), F(3, kind="away"), id="floor"),
    Case("true_divide", lambda L, x: x.true_divide(3), F(3, 4), id="scalar_method"),
    Case("pow", lambda L, x, y: L.pow(x, y), F(3, 4, kind="pos"), F(4), id="fn"),
    Case("pow", lambda L, x: x ** 2, F(3, 4), id="sq"),
    Case("pow", lambda L, x: x ** 3, F(3, 4), id="cube"),
    Case("pow", lambda L, x: x ** 0.5, F(3, 4, kind="pos"), id="sqrt"),
    Case("pow", lambda L, x: x ** -1.5, F(3, 4, kind="pos"), id="negexp"),
    Case("pow", lambda L, x: 2 ** x, F(3, 4), id="rscalar"),
    Case("pow", lambda L, x: x.pow(2), F(3, 4), id="method"),
    Case("pow", lambda L, x: L.pow(2.5, x), F(3, 4), id="scalar_self"),
    Case("pow", lambda L, x: L.pow(3, x.t()), F(4, 3), id="scalar_self_nc"),
    Case("pow", lambda L, x: L.pow(self=2, exponent=x), F(5), id="scalar_self_kw"),
    Case("remainder", lambda L, x, y: x % y, F(3, 4), F(4, kind="away"), id="op"),
    Case("remainder", lambda L, x: L.remainder(x, 0.7), F(3, 4), id="scalar"),
    Case("remainder", lambda L, x: x % -1.5, F(3, 4), id="scalar_neg"),
    Case("max", lambda L, x, y: x.max(y), F(3, 4), F(4), id="other_method"),
    Case("min", lambda L, x, y: L.min(x, other=y), F(3, 4), F(3, 1), id="other_kw"),
    Case("maximum", lambda L, x, y: L.maximum(x, y), Ints(3, 4), F(4), id="int_float"),
    Case("where", lambda L, c, x, y: L.where(c, x, y), Mask(3, 4), F(3, 4), F(3, 4), id="same"),
    Case("where", lambda L, c, x, y: L.where(c, x, y), Mask(3, 1), F(1, 4), F(3, 4), id="bcast"),
    Case("where", lambda L, c, x, y: L.where(c, x.t(), y), Mask(3, 4), F(4, 3), F(4), id="nc_t"),
    Case("where", lambda L, x: L.where(x > 0, x, 0.0), F(3, 4), id="scalar_other"),
    Case("where", lambda L, x: L.where(x > 0, 1.5, x), F(3, 4), id="scalar_input"),
    Case("where", lambda L, x, y: L.where(x > y, x, y), F(2, 3), F(3), id="cond_from_cmp"),
    Case("where", lambda L, c, x, y: L.where(c, x, y), Mask(), F(), F(2, 3), id="0d"),
    Case("where", lambda L, c, x, y: L.where(condition=c, input=x, other=y), Mask(2, 3), F(3), F(2, 1), id="kw"),
    Case("where", lambda L, c, x, y: L.where(c, x, y), Mask(3, 4), Ints(3, 4), F(4), id="int_float"),
    Case("masked_fill", lambda L, x, m: x.masked_fill(m, 0.5), F(3, 4), Mask(3, 4)),
    Case("masked_fill", lambda L, x, m: L.masked_fill(x, m, -1), F(3, 4), Mask(4), id="bcast_int_value"),
    Case("masked_fill", lambda L, x, m, v: L.masked_fill(x, m, v), F(3, 4), Mask(3, 1), F(), id="tensor_value"),
    Case("masked_fill", lambda L, x, m: x.t().masked_fill(m, 2.0), F(4, 3), Mask(3, 4), id="nc_t"),
    Case("masked_fill", lambda L, x, m: L.masked_fill(x, m, 3.0), F(), Mask(), id="0d"),
    Case("masked_fill", lambda L, x, m: L.masked_fill(x, mask=m, value=0.0), F(2, 3, 4), Mask(3, 4), id="kw"),
]
BINARY_DTYPE_CASES += [
    Case("add", lambda L, x, y: L.add(x, y, alpha=2), Ints(3, 4), Ints(4), id="int64_alpha"),
    Case("add", lambda L, x: x + 1.5, Ints(3, 4), id="int64_float_scalar"),
    Case("add", lambda L, x: x + True, Mask(3, 4), id="bool_bool_scalar"),
    Case("mul", lambda L, x: x * 2, Mask(3, 4), id="bool_int_scalar"),
    Case("div", lambda L, x, y: L.div(x, y, rounding_mode="floor"), Ints(3, 4, low=-9, high=9),
         Ints(4, nonzero=True), id="int64_floor"),
    Case("div", lambda L, x, y: L.div(x, y, rounding_mode="trunc"), Ints(3, 4, low=-9, high=9),
         Ints(4, nonzero=True), id="int64_trunc"),
    Case("pow", lambda L, x: L.pow(2, x), Ints(3, 4, low=0, high=5), id="int64_scalar_self"),
    Case("pow", lambda L, x: x ** 2, Ints(3, 4), id="int64_scalar"),
    Case("pow", lambda L, x: x ** 0.5, Ints(3, 4, low=0, high=9), id="int64_float_scalar"),
    Case("where", lambda L, c, x, y: L.where(c, x, y), Mask(2, 3), Const([1, 2, 3]), Const([[4], [5]]),
         id="int"),
    Case("where", lambda L, c: L.where(c, 1.0, 0.0), Mask(2, 3), id="scalars"),
    Case("where", lambda L, c: L.where(c, 2, -1), Mask(3), id="int_scalars"),
    Case("masked_fill", lambda L, x, m: L.masked_fill(x, m, 7), Ints(3, 4), Mask(3, 4), id="int64"),
    Case("masked_fill", lambda L, x, m: L.masked_fill(x, m, True), Mask(3, 4), Mask(4), id="bool"),
]

FLOOR_DIVIDE_CASES = []  # torch marks floor_divide's backward not implemented: forward only
for _fn, _id in [(lambda L, x, y: L.floor_divide(x, y), "fn"), (lambda L, x, y: x // y, "op")]:
    FLOOR_DIVIDE_CASES += [
        Case("floor_divide", _fn, F(3, 4), F(3, 4, kind="away"), id=_id + "_same"),
        Case("floor_divide", _fn, F(2, 1, 4), F(3, 1, kind="away"), id=_id + "_bcast"),
        Case("floor_divide", _fn, Ints(3, 4, low=-9, high=9), Ints(4, nonzero=True), id=_id + "_int64"),
    ]
FLOOR_DIVIDE_CASES += [
    Case("floor_divide", lambda L, x, y: L.floor_divide(x.t(), y), F(4, 3), F(4, kind="away"), id="nc_t"),
    Case("floor_divide", lambda L, x, y: L.floor_divide(x, y), F(), F(kind="away"), id="0d"),
    Case("floor_divide", lambda L, x: x.floor_divide(2), Ints(3, 4, low=-9, high=9), id="int64_scalar"),
    Case("floor_divide", lambda L, x: L.floor_divide(x, 0.5), F(3, 4), id="scalar"),
    Case("floor_divide", lambda L, x, y: x // y, Const([-7, 7, 5, -5]), Const([2, -2, 3, 3]), id="int_signs"),
    Case("floor_divide", lambda L, x, y: L.floor_divide(x, y), Ints(3, 4), F(4, kind="away"), id="int_float"),
    Case("floor_divide", lambda L, x, y: L.floor_divide(x, y), Mask(3, 4), Mask(4), id="bool", mirror=True),
    Case("remainder", lambda L, x, y: x % y, Const([-7, 7, 5, -5]), Const([2, -2, 3, 3]), id="int_signs"),
]


def _cmp_rows(name, fn):
    return [
        Case(name, fn, F(3, 4, kind="coarse"), F(3, 4, kind="coarse"), id="float"),
        Case(name, fn, F(3, 1, kind="coarse"), F(4, kind="coarse"), id="bcast"),
        Case(name, fn, Ints(3, 4), Ints(4), id="int64"),
        Case(name, fn, Mask(3, 4), Mask(3, 4), id="bool"),
        Case(name, fn, Ints(3, 4), F(4, kind="coarse"), id="int_float"),
        Case(name, fn, Mask(2, 3), Ints(3), id="bool_int"),
        Case(name, fn, F(kind="coarse"), F(2, 3, kind="coarse"), id="0d"),
        Case(name, lambda L, x, y, _f=fn: _f(L, x.t(), y[:, ::2]), F(4, 3, kind="coarse"), F(3, 8, kind="coarse"),
             id="nc"),
        Case(name, lambda L, x, _n=name: getattr(L, _n)(x, 0.5), F(3, 4, kind="coarse"), id="scalar"),
        Case(name, lambda L, x, _n=name: getattr(L, _n)(x, 1.5), Ints(3, 4), id="int_float_scalar"),
        Case(name, lambda L, x, _n=name: getattr(x, _n)(1), Ints(2, 3), id="method_int_scalar"),
    ]


COMPARISONS = {"eq": operator.eq, "ne": operator.ne, "lt": operator.lt, "le": operator.le, "gt": operator.gt,
               "ge": operator.ge, "greater": operator.gt, "greater_equal": operator.ge, "less": operator.lt,
               "less_equal": operator.le, "not_equal": operator.ne}
LOGICAL = ["logical_and", "logical_or", "logical_xor"]
BITWISE = {"bitwise_and": operator.and_, "bitwise_or": operator.or_, "bitwise_xor": operator.xor}
SHIFTS = {"bitwise_left_shift": operator.lshift, "bitwise_right_shift": operator.rshift}

CMP_CASES = []
for _name in COMPARISONS:
    CMP_CASES += _cmp_rows(_name, lambda L, x, y, _n=_name: getattr(L, _n)(x, y))
for _name, _op in list(COMPARISONS.items())[:6]:
    CMP_CASES.append(Case(_name, lambda L, x, y, _o=_op: _o(x, y), F(2, 1, 3, kind="coarse"), F(4, 1, kind="coarse"),
                          id="operator"))
CMP_CASES += [
    Case("lt", lambda L, x: 0.5 < x, F(3, 4), id="rscalar"),
    Case("lt", lambda L, x, y: x < y, Const([1, 2, 3]), Const([1.5, 1.5, 3.5], np.float64), id="int_vs_float64"),
    Case("eq", lambda L, x: x == 2, Const([1, 2, 3]), id="int_scalar"),
    Case("gt", lambda L, x: x.t()[1:] > 0, F(3, 4), id="view"),
]
for _name in LOGICAL:
    CMP_CASES += _cmp_rows(_name, lambda L, x, y, _n=_name: getattr(L, _n)(x, y))[:8]
    CMP_CASES.append(Case(_name, lambda L, x, y, _n=_name: getattr(x, _n)(y), F(3, 4, kind="coarse"), Mask(4),
                          id="method_float_bool"))
CMP_CASES += [
    Case("logical_not", lambda L, x: L.logical_not(x), F(3, 4, kind="coarse"), id="float"),
    Case("logical_not", lambda L, x: L.logical_not(x), Ints(3, 4), id="int64"),
    Case("logical_not", lambda L, x: x.logical_not(), Mask(2, 3), id="bool_method"),
    Case("logical_not", lambda L, x: L.logical_not(x > 0), F(3, 4), id="cmp"),
    Case("logical_not", lambda L, x: L.logical_not(x.t()), F(3, 4, kind="coarse"), id="nc_t"),
    Case("logical_not", lambda L, x: L.logical_not(x), F(kind="coarse"), id="0d"),
]
BITWISE_CASES = []
for _name, _op in BITWISE.items():
    _fn = lambda L, x, y, _n=_name: getattr(L, _n)(x, y)  # noqa: E731
    BITWISE_CASES += [
        Case(_name, _fn, Ints(3, 4, low=-20, high=20), Ints(3, 4, low=-20, high=20), id="int64"),
        Case(_name, _fn, Ints(3, 1, low=0, high=16), Ints(4, low=-8, high=8), id="bcast"),
        Case(_name, _fn, Mask(3, 4), Mask(4), id="bool"),
        Case(_name, _fn, Mask(3, 4), Ints(4), id="bool_int"),
        Case(_name, _fn, Ints(low=0, high=9), Ints(2, 3), id="0d"),
        Case(_name, lambda L, x, y, _f=_fn: _f(L, x.t(), y), Ints(4, 3), Ints(3, 4), id="nc_t"),
        Case(_name, lambda L, x, _n=_name: getattr(L, _n)(x, 6), Ints(3, 4, low=0, high=16), id="scalar"),
        Case(_name, lambda L, x, _n=_name: getattr(x, _n)(True), Mask(3, 4), id="bool_scalar_method"),
        Case(_name, lambda L, x, y, _o=_op: _o(x, y), Ints(2, 3, low=0, high=16), Ints(3), id="operator"),
        Case(_name, lambda L, x, _o=_op: _o(5, x), Ints(2, 3), id="roperator"),
    ]
for _name, _op in SHIFTS.items():
    _fn = lambda L, x, y, _n=_name: getattr(L, _n)(x, y)  # noqa: E731
    BITWISE_CASES += [
        Case(_name, _fn, Ints(3, 4, low=-50, high=50), Ints(3, 4, low=0, high=8), id="int64"),
        Case(_name, _fn, Ints(3, 1, low=-50, high=50), Ints(4, low=0, high=8), id="bcast"),
        Case(_name, _fn, Ints(low=1, high=9), Ints(2, 3, low=0, high=8), id="0d"),
        Case(_name, lambda L, x, y, _f=_fn: _f(L, x.t(), y), Ints(4, 3, low=-50, high=50), Ints(3, 4, low=0, high=8),
             id="nc_t"),
        Case(_name, lambda L, x, _n=_name: getattr(x, _n)(3), Ints(3, 4, low=-50, high=50), id="scalar_method"),
        Case(_name, lambda L, x, y, _o=_op: _o(x, y), Ints(2, 3, low=-50, high=50), Ints(3, low=0, high=8),
             id="operator"),
        Case(_name, lambda L, x, _o=_op: _o(1000, x), Ints(2, 3, low=0, high=8), id="roperator"),
        Case(_name, _fn, Mask(3, 4), Mask(4), id="bool", mirror=True),
        Case(_name, _fn, Const([1, -8, 2**62, -2**62, 7]), Const([63, 63, 1, 1, 64]), id="edge_widths"),
    ]
BITWISE_CASES += [
    Case("bitwise_not", lambda L, x: L.bitwise_not(x), Ints(3, 4, low=-20, high=20), id="int64"),
    Case("bitwise_not", lambda L, x: x.bitwise_not(), Mask(3, 4), id="bool_method"),
    Case("bitwise_not", lambda L, x: ~x, Ints(2, 3), id="operator"),
    Case("bitwise_not", lambda L, x: ~x, Mask(2, 3), id="operator_bool"),
    Case("bitwise_not", lambda L, x: L.bitwise_not(x.t()), Ints(3, 4), id="nc_t"),
    Case("bitwise_not", lambda L, x: L.bitwise_not(x), Ints(), id="0d"),
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
        Case(_name, lambda L, x, _n=_name: getattr(L, _n)(x, axis=1, keepdims=True), F(3, 4, kind=_kind),
             id="axis_keepdims"),
    ]
    if _name != "var" and _name != "std":
        REDUCTION_CASES += [
            Case(_name, lambda L, x, _n=_name: getattr(L, _n)(x), F(kind=_kind), id="0d"),
            Case(_name, lambda L, x, _n=_name: getattr(x, _n)(0, keepdim=True), F(kind=_kind), id="0d_dim0"),
            Case(_name, lambda L, x, _n=_name: getattr(L, _n)(x, 1, dtype=L.float64), F(3, 4, kind=_kind),
                 id="dtype64"),
        ]
for _name in ["max", "min"]:
    REDUCTION_CASES += [
        Case(_name, lambda L, x, _n=_name: getattr(x, _n)(), F(2, 3, 4), id="all"),
        Case(_name, lambda L, x, _n=_name: getattr(x, _n)(1), F(2, 3, 4), id="dim1"),
        Case(_name, lambda L, x, _n=_name: getattr(x, _n)(dim=-1, keepdim=True), F(2, 3, 4), id="dim-1-kd"),
        Case(_name, lambda L, x, _n=_name: getattr(x, _n)(0, True), F(2, 3, 4), id="dim0-kd-pos"),
        Case(_name, lambda L, x, _n=_name: getattr(L, _n)(x), F(3, 4), id="fn_all"),
        Case(_name, lambda L, x, _n=_name: getattr(L, _n)(x, dim=0), F(3, 4), id="fn_dim"),
        Case(_name, lambda L, x, _n=_name: getattr(L, _n)(x, axis=1, keepdims=True), F(3, 4), id="axis_keepdims"),
        Case(_name, lambda L, x, _n=_name: getattr(x.t(), _n)(0), F(3, 4), id="nc_t"),
        Case(_name, lambda L, x, _n=_name: getattr(x, _n)(1).values, F(3, 4), id="values_attr"),
        Case(_name, lambda L, x, _n=_name: getattr(x, _n)(), F(), id="0d"),
        Case(_name, lambda L, x, _n=_name: getattr(L, _n)(x, 0), F(), id="0d_dim0"),
    ]
for _name in ["var", "std"]:
    REDUCTION_CASES += [
        Case(_name, lambda L, x, _n=_name: getattr(x, _n)(1, unbiased=False), F(3, 4), id="unbiased_false"),
        Case(_name, lambda L, x, _n=_name: getattr(x, _n)(dim=1, correction=0), F(3, 4), id="correction0"),
        Case(_name, lambda L, x, _n=_name: getattr(L, _n)(x, dim=1, correction=2, keepdim=True), F(3, 5),
             id="correction2"),
        Case(_name, lambda L, x, _n=_name: getattr(x, _n)(False), F(3, 4), id="unbiased_pos"),
        Case(_name, lambda L, x, _n=_name: getattr(L, _n)(x, True), F(2, 3, 4), id="unbiased_fn"),
        Case(_name, lambda L, x, _n=_name: getattr(L, _n)(x, unbiased=False), F(6), id="unbiased_kw"),
    ]

SOFTMAX_CASES = []
for _name in ["softmax", "log_softmax"]:
    SOFTMAX_CASES += [
        Case(_name, lambda L, x, _n=_name: getattr(L, _n)(x, dim=-1), F(3, 5), id="last"),
        Case(_name, lambda L, x, _n=_name: getattr(L, _n)(x, 0), F(3, 5), id="first"),
        Case(_name, lambda L, x, _n=_name: getattr(x, _n)(1), F(2, 3, 4), id="middle_method"),
        Case(_name, lambda L, x, _n=_name: getattr(L, _n)(x, 0), F(6), id="1d"),
        Case(_name, lambda L, x, _n=_name: getattr(L, _n)(x, 0), F(), id="0d"),
        Case(_name, lambda L, x, _n=_name: getattr(L, _n)(x.t(), -1), F(5, 3), id="nc_t"),
        Case(_name, lambda L, x, _n=_name: getattr(L, _n)(x, 1, dtype=L.float64), F(3, 4), id="dtype64"),
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
    Case("mm", lambda L, x, y: L.mm(x[::2], y), F(6, 3), F(3, 1), id="nc_slice"),
    Case("bmm", lambda L, x, y: L.bmm(x, y), F(2, 3, 4), F(2, 4, 5), id="fn"),
    Case("bmm", lambda L, x, y: x.bmm(y.transpose(1, 2)), F(2, 3, 4), F(2, 5, 4), id="method_nc"),
    Case("bmm", lambda L, x, y: L.bmm(x, y), F(1, 1, 3), F(1, 3, 1), id="tiny"),
    Case("dot", lambda L, x, y: L.dot(x, y), F(5), F(5)),
    Case("dot", lambda L, x, y: L.dot(x[::2], y[1:4]), F(6), F(5), id="nc"),
    Case("dot", lambda L, x, y: x.dot(y), F(3), F(3), id="method"),
]
MATMUL_DTYPE_CASES = [
    Case("matmul", lambda L, x, y: x @ y, Const([[1, 2], [3, 4]]), Const([[1, 0], [2, 1]]), id="int64"),
    Case("matmul", lambda L, x, y: L.matmul(x, y), Ints(2, 3, 4), Ints(4), id="int64_3d1d"),
    Case("mm", lambda L, x, y: L.mm(x, y), Ints(3, 4), Ints(4, 2), id="int64"),
    Case("bmm", lambda L, x, y: L.bmm(x, y), Ints(2, 3, 4), Ints(2, 4, 2), id="int64"),
    Case("dot", lambda L, x, y: L.dot(x, y), Ints(5), Ints(5), id="int64"),
]

JOIN_CASES = [
    Case("cat", lambda L, x, y: L.cat([x, y]), F(2, 3), F(4, 3), id="dim0"),
    Case("cat", lambda L, x, y: L.cat([x, y], dim=1), F(2, 3), F(2, 5), id="dim1"),
    Case("cat", lambda L, x, y, z: L.cat((x, y, z), -1), F(2, 1), F(2, 3), F(2, 2), id="three_neg"),
    Case("cat", lambda L, x, y: L.cat([x.t(), y], 0), F(3, 2), F(1, 3), id="nc_t"),
    Case("cat", lambda L, x: L.cat([x, x * 2], 0), F(4), id="same_input"),
    Case("cat", lambda L, x: L.cat([x]), F(2, 3), id="single"),
    Case("cat", lambda L, x, y: L.cat([x, y], axis=1), F(2, 3), F(2, 1), id="axis"),
    Case("cat", lambda L, i, x: L.cat([i, x]), Ints(1, 3), F(2, 3), id="int_float"),
    Case("concat", lambda L, x, y: L.concat([x, y]), F(2, 3), F(1, 3), id="dim0"),
    Case("concat", lambda L, x, y: L.concat((x, y.t()), dim=-1), F(2, 3), F(4, 2), id="nc_t"),
    Case("concatenate", lambda L, x, y: L.concatenate([x, y]), F(2, 3), F(1, 3), id="default"),
    Case("concatenate", lambda L, x, y: L.concatenate([x, y], axis=1), F(2, 3), F(2, 2), id="axis"),
    Case("concatenate", lambda L, x, y: L.concatenate([x, y], dim=1), F(2, 3), F(2, 2), id="dim_kw"),
    Case("stack", lambda L, x, y: L.stack([x, y]), F(2, 3), F(2, 3), id="dim0"),
    Case("stack", lambda L, x, y: L.stack((x, y), dim=1), F(2, 3), F(2, 3), id="dim1"),
    Case("stack", lambda L, x, y, z: L.stack([x, y, z], -1), F(4), F(4), F(4), id="neg"),
    Case("stack", lambda L, x, y: L.stack([x.t(), y], 0), F(3, 2), F(2, 3), id="nc_t"),
    Case("stack", lambda L, x, y: L.stack([x, y]), F(), F(), id="0d"),
    Case("stack", lambda L, x, y: L.stack([x, y], dim=2), F(2, 3), F(2, 3), id="last_new"),
    Case("split", lambda L, x: x.split(2), F(5, 3), id="uneven"),
    Case("split", lambda L, x: L.split(x, 2, dim=1), F(3, 4), id="fn_dim1"),
    Case("split", lambda L, x: x.split([1, 3, 2], dim=1), F(2, 6), id="sizes"),
    Case("split", lambda L, x: x.split([1, 2], 1), F(2, 3), id="sizes_positional_dim"),
    Case("split", lambda L, x: L.split(x, [2, 0, 1]), F(3, 2), id="sizes_fn_zero"),
    Case("split", lambda L, x: [p * 1 for p in x.t().split(2)], F(3, 4), id="nc_t"),
    Case("split", lambda L, x: L.split(x, 10), F(3, 2), id="bigger_than_dim"),
    Case("chunk", lambda L, x: x.chunk(3), F(7, 2), id="uneven"),
    Case("chunk", lambda L, x: L.chunk(x, 2, dim=-1), F(3, 4), id="fn_dim"),
    Case("chunk", lambda L, x: x.chunk(2, 1)[1], F(3, 4), id="one_piece"),
    Case("chunk", lambda L, x: L.chunk(x, 4), F(6, 2), id="fewer_pieces"),
    Case("chunk", lambda L, x: L.chunk(x.t(), 2), F(3, 4), id="nc_t"),
    Case("gather", lambda L, x, i: L.gather(x, 1, i), F(3, 4), Const([[0, 3], [1, 1], [2, 0]]), id="dim1"),
    Case("gather", lambda L, x, i: x.gather(0, i), F(3, 4), Const([[0, 1, 2, 0], [2, 2, 1, 0]]), id="dim0"),
    Case("gather", lambda L, x, i: L.gather(x.t(), 1, i), F(4, 3), Const([[0, 3], [1, 1], [2, 0]]), id="nc_t"),
    Case("gather", lambda L, x, i: L.gather(x, -1, i, sparse_grad=False), F(2, 3, 4), Ints(2, 3, 2, low=0, high=4),
         id="3d_kw"),
    Case("gather", lambda L, x, i: L.gather(x, 0, i), F(5), Const([4, 0, 4]), id="1d"),
    Case("index_select", lambda L, x, i: L.index_select(x, 0, i), F(4, 3), Const([2, 0, 2]), id="dim0_dup"),
    Case("index_select", lambda L, x, i: x.index_select(1, i), F(3, 4), Const([3, 1]), id="dim1"),
    Case("index_select", lambda L, x, i: L.index_select(x.t(), 0, i), F(3, 4), Const([1, 3, 1]), id="nc_t"),
    Case("index_select", lambda L, x, i: L.index_select(x, -1, i), F(2, 3, 4), Const([0, 3, 3, 1]), id="3d_neg"),
    Case("index_select", lambda L, x, i: L.index_select(x, 0, i), F(4, 3), Const(2), id="0d_index"),
    Case("index_select", lambda L, x, i: L.index_select(x, 0, i), F(3, 2), Const([], np.int64), id="empty_index"),
    Case("narrow", lambda L, x: L.narrow(x, 1, 1, 2), F(3, 4)),
    Case("narrow", lambda L, x: x.narrow(0, -2, 2), F(4, 3), id="neg_start_method"),
    Case("narrow", lambda L, x: L.narrow(x.t(), -1, 0, 1), F(3, 4), id="nc_t"),
    Case("select", lambda L, x: L.select(x, 1, 2), F(3, 4)),
    Case("select", lambda L, x: x.select(0, -1), F(3, 4), id="neg_index_method"),
    Case("select", lambda L, x: L.select(x, -1, 0), F(2, 3, 4), id="3d"),
    Case("select", lambda L, x: L.select(x, 0, 1), F(3), id="to_0d"),
    Case("index_add", lambda L, x, i, s: L.index_add(x, 0, i, s), F(4, 3), Const([0, 2, 0]), F(3, 3)),
    Case("index_add", lambda L, x, i, s: x.index_add(1, i, s, alpha=2.0), F(2, 4), Const([3, 3]), F(2, 2),
         id="dim1_alpha_method"),
    Case("index_add", lambda L, x, i, s: L.index_add(x.t(), 0, i, s), F(3, 4), Const([1]), F(1, 3), id="nc_t"),
    Case("index_add", lambda L, x, i, s: L.index_add(x, 0, i, s), F(5), Const([4, 4, 0]), F(3), id="1d"),
    Case("scatter_add", lambda L, x, i, s: L.scatter_add(x, 1, i, s), F(3, 4), Const([[0, 3], [1, 1], [2, 0]]),
         F(3, 2)),
    Case("scatter_add", lambda L, x, i, s: x.scatter_add(0, i, s), F(3, 4), Const([[0, 1, 2, 0], [2, 2, 1, 0]]),
         F(2, 4), id="dim0_method"),
    # src larger than index: torch 2.13's backward raises "ScatterAddBackward0 returned an invalid
    # gradient ... got [3] but expected shape compatible with [5]"; ember gives src's gradient its
    # shape, zero where src was not read (checked by finite differences)
    Case("scatter_add", lambda L, x, i, s: L.scatter_add(x, 0, i, s), F(4), Const([3, 3, 0]), F(5), id="1d_src_larger",
         torch_grad=False),
    Case("scatter_add", lambda L, x, i, s: L.scatter_add(x.t(), -1, i, s), F(4, 3), Const([[0], [2], [2]]), F(3, 2),
         id="nc_t", torch_grad=False),
]
JOIN_DTYPE_CASES = [
    Case("cat", lambda L, x, y: L.cat([x, y]), Const([1, 2]), Const([3]), id="int"),
    Case("cat", lambda L, x, y: L.cat([x, y]), Mask(2), Ints(3), id="bool_int"),
    Case("stack", lambda L, x, y: L.stack([x, y]), Ints(2, 3), Ints(2, 3), id="int64"),
    Case("split", lambda L, x: L.split(x, 2), Ints(5), id="int64"),
    Case("chunk", lambda L, x: x.chunk(2), Mask(3, 2), id="bool"),
    Case("gather", lambda L, x, i: L.gather(x, 1, i), Ints(2, 3), Const([[2], [0]]), id="int64"),
    Case("index_select", lambda L, x, i: L.index_select(x, 0, i), Mask(3, 2), Const([2, 2]), id="bool"),
    Case("index_add", lambda L, x, i, s: L.index_add(x, 0, i, s, alpha=3), Ints(3), Const([0, 0]), Ints(2),
         id="int64_alpha"),
    Case("scatter_add", lambda L, x, i, s: L.scatter_add(x, 0, i, s), Ints(3), Const([1, 1]), Ints(2), id="int64"),
    Case("narrow", lambda L, x: L.narrow(x, 0, 1, 1), Ints(3), id="int64"),
    Case("select", lambda L, x: L.select(x, 0, 1), Mask(3, 2), id="bool"),
    Case("where", lambda L, c: L.where(c), Mask(3, 4), id="cond_only"),
    Case("where", lambda L, c: L.where(c), Ints(2, 3), id="cond_only_int"),
    Case("where", lambda L, c: L.where(c), F(2, 3, kind="coarse"), id="cond_only_float"),
    Case("where", lambda L, c: L.where(c.t()), Mask(3, 4), id="cond_only_nc"),
    Case("nonzero", lambda L, x: L.nonzero(x), Const([[0, 1, 0], [2, 0, 3]])),
    Case("nonzero", lambda L, x: x.nonzero(), Mask(2, 3, 4), id="3d_bool_method"),
    Case("nonzero", lambda L, x: L.nonzero(x), F(5, kind="coarse"), id="float_1d"),
    Case("nonzero", lambda L, x: L.nonzero(x, as_tuple=True), Mask(3, 4), id="as_tuple"),
    Case("nonzero", lambda L, x: L.nonzero(x.t()), Ints(3, 4), id="nc_t"),
    Case("nonzero", lambda L, x: L.nonzero(x), Const([0, 0]), id="none"),
    Case("nonzero", lambda L, x: L.nonzero(x), Const(3), id="0d"),
    Case("nonzero", lambda L, x: L.nonzero(x, as_tuple=True), Const(3), id="0d_as_tuple"),
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
    # in-place view ops on a non-leaf: the result is self, with the view's history
    Case("t_", lambda L, x: (x * 1).t_(), F(3, 4), id="nonleaf"),
    Case("transpose_", lambda L, x: (x * 1).transpose_(0, 2), F(2, 3, 4), id="nonleaf"),
    Case("swapaxes_", lambda L, x: (x * 1).swapaxes_(1, 0), F(2, 3), id="nonleaf"),
    Case("swapdims_", lambda L, x: (x + 0)[1:].swapdims_(0, 1), F(4, 3), id="nonleaf_of_view"),
    Case("squeeze_", lambda L, x: (x * 1).squeeze_(), F(1, 3, 1), id="all"),
    Case("squeeze_", lambda L, x: (x * 1).squeeze_(dim=2), F(1, 3, 1), id="dim_kw"),
    Case("unsqueeze_", lambda L, x: (x * 1).unsqueeze_(-1), F(2, 3), id="last"),
    Case("unsqueeze_", lambda L, x: (x * 2).unsqueeze_(0).mul(x), F(3), id="then_used"),
    Case("view", lambda L, x: x.view(12), F(3, 4), id="flat"),
    Case("view", lambda L, x: x.view(-1, 2), F(3, 4), id="infer"),
    Case("view", lambda L, x: x.view(2, 2, 3), F(3, 4), id="3d"),
    Case("view", lambda L, x: x.view((4, 3)), F(3, 4), id="tuple"),
    Case("view", lambda L, x: x.view(size=(2, 6)), F(3, 4), id="kw"),
    Case("view", lambda L, x: x.view(1, 1), F(), id="0d"),
    Case("view", lambda L, x: x.view(()), F(1), id="to_0d"),
    Case("reshape", lambda L, x: x.reshape(4, 3), F(3, 4), id="method"),
    Case("reshape", lambda L, x: L.reshape(x, (2, -1)), F(3, 4), id="fn"),
    Case("reshape", lambda L, x: x.t().reshape(-1), F(3, 4), id="nc_copy"),
    Case("reshape", lambda L, x: L.reshape(x, shape=(3, 1)), F(3), id="fn_kw"),
    Case("reshape", lambda L, x: L.reshape(x, (1,)), F(), id="0d"),
    Case("transpose", lambda L, x: x.transpose(0, 1), F(3, 4), id="2d"),
    Case("transpose", lambda L, x: L.transpose(x, -1, 0), F(2, 3, 4), id="fn_neg"),
    Case("transpose", lambda L, x: L.transpose(x, 0, 0), F(2, 3), id="same_dim"),
    Case("transpose", lambda L, x: L.transpose(x, 0, -1), F(), id="0d"),
    Case("swapaxes", lambda L, x: L.swapaxes(x, 0, 1), F(3, 4), id="2d"),
    Case("swapaxes", lambda L, x: x.swapaxes(-1, 0), F(2, 3, 4), id="method_neg"),
    Case("swapaxes", lambda L, x: L.swapaxes(x.t(), 0, 1), F(3, 4), id="nc_t"),
    Case("swapdims", lambda L, x: L.swapdims(x, 0, 1), F(3, 4), id="2d"),
    Case("swapdims", lambda L, x: x.swapdims(2, 1), F(2, 3, 4), id="method"),
    Case("swapdims", lambda L, x: L.swapdims(x[:, ::2], 1, 0), F(3, 6), id="nc_slice"),
    Case("t", lambda L, x: x.t(), F(3, 4), id="method"),
    Case("t", lambda L, x: L.t(x), F(4), id="1d"),
    Case("t", lambda L, x: L.t(x), F(), id="0d"),
    Case("t", lambda L, x: L.t(x[::2]), F(6, 2), id="nc"),
    Case("permute", lambda L, x: x.permute(2, 0, 1), F(2, 3, 4), id="args"),
    Case("permute", lambda L, x: L.permute(x, (1, 2, 0)), F(2, 3, 4), id="fn_tuple"),
    Case("permute", lambda L, x: L.permute(x, (-1, 0)), F(3, 4), id="neg"),
    Case("permute", lambda L, x: L.permute(x, ()), F(), id="0d"),
    Case("T", lambda L, x: x.T, F(3, 4), id="2d"),
    Case("unsqueeze", lambda L, x: x.unsqueeze(1), F(3, 4), id="mid"),
    Case("unsqueeze", lambda L, x: L.unsqueeze(x, -1), F(3, 4), id="fn_neg"),
    Case("unsqueeze", lambda L, x: x.unsqueeze(0), F(), id="0d"),
    Case("unsqueeze", lambda L, x: L.unsqueeze(x.t(), 2), F(3, 4), id="nc_last"),
    Case("squeeze", lambda L, x: x.squeeze(), F(1, 3, 1, 4), id="all"),
    Case("squeeze", lambda L, x: x.squeeze(1), F(3, 1, 4), id="dim"),
    Case("squeeze", lambda L, x: L.squeeze(x, 0), F(3, 4), id="noop"),
    Case("squeeze", lambda L, x: L.squeeze(x, (0, 2)), F(1, 3, 1, 4), id="dims_tuple"),
    Case("squeeze", lambda L, x: x.squeeze(dim=-1), F(3, 1), id="kw_neg"),
    Case("squeeze", lambda L, x: L.squeeze(x), F(), id="0d"),
    Case("squeeze", lambda L, x: L.squeeze(x, 0), F(1), id="to_0d"),
    Case("flatten", lambda L, x: x.flatten(), F(2, 3, 4), id="all"),
    Case("flatten", lambda L, x: L.flatten(x, 1), F(2, 3, 4), id="start"),
    Case("flatten", lambda L, x: x.flatten(0, 1), F(2, 3, 4), id="range"),
    Case("flatten", lambda L, x: x.transpose(0, 2).flatten(), F(2, 3, 4), id="nc"),
    Case("flatten", lambda L, x: L.flatten(x), F(), id="0d"),
    Case("flatten", lambda L, x: L.flatten(x, start_dim=-2, end_dim=-1), F(2, 3, 4), id="kw_neg"),
    Case("expand", lambda L, x: x.expand(3, 4), F(1, 4), id="row"),
    Case("expand", lambda L, x: x.expand(2, 3, 4), F(3, 1), id="new_dims"),
    Case("expand", lambda L, x: x.expand(-1, 5), F(3, 1), id="minus_one"),
    Case("expand", lambda L, x: x.expand((2, 3)), F(), id="0d_tuple"),
    Case("expand", lambda L, x: x.t().expand(2, 4, 3), F(3, 4), id="nc"),
    Case("expand", lambda L, x: x.expand(size=(3, 2), implicit=False), F(3, 1), id="kw"),
    Case("expand", lambda L, x, y: x.expand_as(y), F(1, 4), F(3, 4), id="as"),
    Case("expand_as", lambda L, x, y: x.expand_as(y), F(3, 1), F(2, 3, 4)),
    Case("expand_as", lambda L, x, y: x.expand_as(y.t()), F(4), F(4, 3), id="nc"),
    Case("view_as", lambda L, x, y: x.view_as(y), F(3, 4), F(4, 3)),
    Case("view_as", lambda L, x, y: x.view_as(y), F(1), F(), id="0d"),
    Case("reshape_as", lambda L, x, y: x.reshape_as(y), F(3, 4), F(2, 6)),
    Case("reshape_as", lambda L, x, y: x.t().reshape_as(y), F(3, 4), F(12), id="nc"),
    Case("mT", lambda L, x: x.mT, F(2, 3, 4)),
    Case("contiguous", lambda L, x: x.t().contiguous(), F(3, 4)),
    Case("contiguous", lambda L, x: x.contiguous(), F(2, 3), id="already"),
    Case("contiguous", lambda L, x: x[:, ::2].contiguous(), F(3, 6), id="nc_slice"),
    Case("clone", lambda L, x: L.clone(x), F(3, 4)),
    Case("clone", lambda L, x: x.t().clone(), F(3, 4), id="nc_method"),
    Case("clone", lambda L, x: L.clone(x), F(), id="0d"),
    Case("linear", lambda L, x, w, b: L.nn.functional.linear(x, w, b), F(5, 3), F(4, 3), F(4)),
    Case("linear", lambda L, x, w: L.nn.functional.linear(x, w), F(2, 5, 3), F(4, 3), id="nobias_3d"),
    Case("views_chain", lambda L, x: x.t().unsqueeze(0).expand(2, 4, 3).permute(2, 0, 1).reshape(6, 4),
         F(3, 4)),
    Case("norm", lambda L, x: x.norm(), F(3, 4), id="fro"),
    Case("norm", lambda L, x: L.norm(x, dim=1), F(3, 4), id="dim"),
    Case("norm", lambda L, x: x.t().norm(p=1, dim=0, keepdim=True), F(3, 4, kind="away"), id="p1_nc"),
    Case("norm", lambda L, x: L.norm(x, 2, 0), F(2, 3), id="positional"),
]
VIEW_DTYPE_CASES = [
    # view(dtype): the same bytes as another dtype of the same size
    Case("view", lambda L, x: x.detach().view(L.int32), F(3, 4), id="dtype_float_bits"),
    Case("view", lambda L, x: x.t().view(L.float64), Ints(2, 3), id="dtype_nc_int64_as_float64"),
    Case("view", lambda L, x: x.to(L.float16).view(L.bfloat16).float(), F(5), id="dtype_half_bits"),
    # resize_ leaves new elements uninitialized: compare kept elements, or only the shape
    Case("resize_", lambda L, x: x.detach().clone().resize_(2, 2), F(3, 4), id="shrink"),
    Case("resize_", lambda L, x: x.detach().clone().resize_((6,)), F(2, 3), id="same_numel_tuple"),
    Case("resize_", lambda L, x: tuple(x.detach().clone().resize_(4, 5).shape), F(2, 3), id="grow_shape"),
    Case("resize_", lambda L, x: x.t().contiguous().resize_([3]), Ints(2, 3), id="nc_int64_list"),
    Case("resize_", lambda L, x: x.detach().clone().resize_(()), F(3), id="to_0d"),
    Case("resize_as_", lambda L, x, y: x.detach().clone().resize_as_(y), F(3, 4), F(2, 3), id="shrink"),
    Case("resize_as_", lambda L, x, y: tuple(x.detach().clone().resize_as_(y).shape), F(2), F(3, 4), id="grow_shape"),
    Case("resize_as_", lambda L, x, y: x.clone().resize_as_(y.t()), Mask(2, 3), F(3, 1), id="bool"),
    Case("detach", lambda L, x: L.detach(x), F(3, 4), id="fn"),
    Case("detach", lambda L, x: x.t().detach(), F(3, 4), id="nc_method"),
    Case("detach", lambda L, x: (x * 2).detach(), F(), id="0d_nonleaf"),
    Case("detach", lambda L, x: L.detach(x), Ints(3), id="int64"),
    Case("clone", lambda L, x: L.clone(x), Ints(2, 3), id="int64"),
    Case("contiguous", lambda L, x: x.t().contiguous(), Mask(2, 3), id="bool"),
    Case("reshape", lambda L, x: L.reshape(x, (-1,)), Ints(2, 3), id="int64"),
    Case("transpose", lambda L, x: L.transpose(x, 0, 1), Mask(2, 3), id="bool"),
    Case("swapaxes", lambda L, x: L.swapaxes(x, 0, 1), Ints(2, 3), id="int64"),
    Case("swapdims", lambda L, x: L.swapdims(x, 0, 1), Mask(2, 3), id="bool"),
    Case("permute", lambda L, x: L.permute(x, (1, 0)), Ints(2, 3), id="int64"),
    Case("squeeze", lambda L, x: L.squeeze(x), Ints(1, 3), id="int64"),
    Case("unsqueeze", lambda L, x: L.unsqueeze(x, 0), Mask(3), id="bool"),
    Case("flatten", lambda L, x: L.flatten(x), Ints(2, 3), id="int64"),
    Case("t", lambda L, x: L.t(x), Ints(2, 3), id="int64"),
    Case("view", lambda L, x: x.view(-1), Ints(2, 3), id="int64"),
    Case("expand", lambda L, x: x.expand(2, 3), Mask(1, 3), id="bool"),
    Case("expand_as", lambda L, x, y: x.expand_as(y), Ints(3), F(2, 3), id="int64"),
    Case("view_as", lambda L, x, y: x.view_as(y), Ints(6), Ints(2, 3), id="int64"),
    Case("reshape_as", lambda L, x, y: x.reshape_as(y), Mask(6), Ints(3, 2), id="bool"),
]


class Mat:
    """A batch of n x n float matrices: 'wellcond' (2I + 0.3 N), 'spd' (B B^T / n + I) or 'sym'
    (symmetric, well separated eigenvalues)."""

    def __init__(self, *shape, kind="wellcond"):
        self.shape, self.kind = shape, kind

    def make(self, g, dtype):
        n = self.shape[-1]
        eye = np.eye(n)
        b = g.standard_normal(self.shape)
        if self.kind == "spd":
            a = b @ np.swapaxes(b, -1, -2) / n + eye
        elif self.kind == "sym":
            q, _ = np.linalg.qr(b)
            a = q @ (np.arange(1, n + 1) * eye) @ np.swapaxes(q, -1, -2)
            a = (a + np.swapaxes(a, -1, -2)) / 2
        else:
            a = 2 * eye + 0.3 * b
        return np.asarray(a, dtype=dtype)


class Sorted:
    """A sorted float (or int64) 1-d input of n distinct values."""

    def __init__(self, n, ints=False):
        self.n, self.ints = n, ints

    def make(self, g, dtype):
        if self.ints:
            return np.sort(g.choice(np.arange(-20, 20), self.n, replace=False)).astype(np.int64)
        return np.asarray(np.sort(g.uniform(-2, 2, self.n)), dtype=dtype)


# binary math ops: same generator as BINARY_OPS
MATH_BINARY = {
    "atan2": ("normal", "away"), "arctan2": ("normal", "away"), "hypot": ("away", "away"),
    "fmod": ("normal", "away"), "copysign": ("normal", "away"), "xlogy": ("normal", "pos"),
    "logaddexp": ("normal", "normal"), "logaddexp2": ("normal", "normal"),
}
MATH_CASES = []
MATH_DTYPE_CASES = []
for _name, (_xk, _yk) in MATH_BINARY.items():
    _fn = lambda L, x, y, _n=_name: getattr(L, _n)(x, y)  # noqa: E731
    MATH_CASES += _binary_rows(_name, _fn, _xk, _yk)[:7]
    MATH_CASES.append(Case(_name, lambda L, x, y, _n=_name: getattr(x, _n)(y), F(3, 4, kind=_xk), F(4, kind=_yk),
                           id="method"))
    if _name != "hypot":  # torch: "hypot_cpu" not implemented for Long with Float
        MATH_CASES.append(Case(_name, _fn, Ints(3, 4, nonzero=True), F(4, kind=_yk), id="int_float"))
    MATH_DTYPE_CASES += [
        Case(_name, _fn, Ints(3, 4, nonzero=True), Ints(4, low=1, high=4), id="int64", mirror=True),
        Case(_name, _fn, Mask(3, 4), Mask(4), id="bool", mirror=True),
    ]
MATH_CASES += [
    Case("polygamma", lambda L, x: L.polygamma(1, x), F(3, 4, kind="nonint"), id="trigamma"),
    Case("polygamma", lambda L, x: L.polygamma(2, x), F(5, kind="pos"), id="n2"),
    Case("polygamma", lambda L, x: L.polygamma(3, x.t()), F(4, 3, kind="nonint"), id="n3_nc"),
    Case("polygamma", lambda L, x: L.polygamma(0, x), F(5, kind="pos"), id="n0_is_digamma"),
    Case("polygamma", lambda L, x: x.polygamma(1), F(2, 3, kind="gt1"), id="method"),
    Case("mvlgamma", lambda L, x: L.mvlgamma(x, 3), F(2, 3, kind="gt1"), id="p3"),
    Case("mvlgamma", lambda L, x: x.mvlgamma(p=1), F(4, kind="pos"), id="p1_method_kw"),
    Case("fmod", lambda L, x: L.fmod(x, 1.5), F(3, 4), id="scalar"),
    Case("fmod", lambda L, x: x.fmod(-0.7), F(2, 3), id="scalar_neg_method"),
    Case("copysign", lambda L, x: L.copysign(x, -1), F(3, 4, kind="away"), id="scalar"),
    Case("xlogy", lambda L, x: L.xlogy(x, 2.0), F(3, 4), id="scalar"),
    Case("xlogy", lambda L, y: L.xlogy(3, y), F(3, 4, kind="pos"), id="scalar_self"),
    Case("lerp", lambda L, x, y: L.lerp(x, y, 0.3), F(3, 4), F(3, 4), id="scalar"),
    Case("lerp", lambda L, x, y: x.lerp(y, 0.75), F(3, 4), F(4), id="scalar_bcast_method"),
    Case("lerp", lambda L, x, y, w: L.lerp(x, y, w), F(3, 4), F(3, 4), F(3, 4), id="tensor"),
    Case("lerp", lambda L, x, y, w: L.lerp(x, y, w), F(3, 1), F(4), F(3, 4), id="tensor_bcast"),
    Case("lerp", lambda L, x, y, w: L.lerp(x.t(), y, w), F(4, 3), F(3, 4), F(), id="nc_0d_weight"),
    Case("lerp", lambda L, x, y: L.lerp(x, y, weight=2), F(2, 3), F(2, 3), id="kw_int_weight"),
    Case("addcmul", lambda L, x, a, b: L.addcmul(x, a, b), F(3, 4), F(3, 4), F(3, 4), id="same"),
    Case("addcmul", lambda L, x, a, b: L.addcmul(x, a, b, value=0.5), F(3, 4), F(4), F(3, 1), id="bcast_value"),
    Case("addcmul", lambda L, x, a, b: x.addcmul(a.t(), b, value=-2), F(3, 4), F(4, 3), F(3, 4), id="nc_method"),
    Case("addcmul", lambda L, x, a, b: L.addcmul(x, a, b), F(), F(2), F(2), id="0d_self"),
    Case("addcdiv", lambda L, x, a, b: L.addcdiv(x, a, b), F(3, 4), F(3, 4), F(3, 4, kind="away"), id="same"),
    Case("addcdiv", lambda L, x, a, b: L.addcdiv(x, a, b, value=0.5), F(3, 4), F(4), F(3, 1, kind="away"),
         id="bcast_value"),
    Case("addcdiv", lambda L, x, a, b: x.addcdiv(a.t(), b, value=3), F(3, 4), F(4, 3), F(3, 4, kind="away"),
         id="nc_method"),
    Case("logit", lambda L, x: L.logit(x), F(3, 4, kind="prob"), id="plain"),
    Case("logit", lambda L, x: x.logit(eps=0.2), F(3, 4, kind="prob"), id="eps_method"),
    Case("logit", lambda L, x: L.logit(x, 0.05), F(2, 3, 4, kind="prob"), id="eps_3d"),
    Case("logit", lambda L, x: L.logit(x.t()), F(4, 3, kind="prob"), id="nc_t"),
    Case("logit", lambda L, x: L.logit(x), F(kind="prob"), id="0d"),
    Case("nan_to_num", lambda L, x: L.nan_to_num(x), F(3, 4), id="finite"),
    Case("nan_to_num", lambda L, x: L.nan_to_num(x, nan=2.0, posinf=9.0, neginf=-9.0), F(2, 3), id="values_kw"),
    Case("nan_to_num", lambda L, x: x.t().nan_to_num(0.5), F(3, 4), id="nc_positional_method"),
]
MATH_DTYPE_CASES += [
    Case("fmod", lambda L, x, y: L.fmod(x, y), Ints(3, 4, low=-9, high=9), Ints(4, nonzero=True), id="int64_signs"),
    Case("copysign", lambda L, x: L.copysign(x, -2), Ints(3, 4), id="int64_scalar"),
    Case("nan_to_num", lambda L, x: L.nan_to_num(x), Ints(3), id="int64"),
    Case("logit", lambda L, x: L.logit(x), Ints(3, low=0, high=2), id="int64", mirror=True),
    Case("lerp", lambda L, x, y: L.lerp(x, y, 0.5), Ints(3), Ints(3), id="int64", mirror=True),
    Case("addcmul", lambda L, x, a, b: L.addcmul(x, a, b, value=2), Ints(3), Ints(3), Ints(3), id="int64"),
    Case("addcdiv", lambda L, x, a, b: L.addcdiv(x, a, b), Ints(3), Ints(3), Ints(3, nonzero=True), id="int64",
         mirror=True),
]
_SPECIAL = Fixed([float("nan"), float("inf"), -float("inf"), 0.0, -0.0, 1.5, -2.0])
for _name in ["isnan", "isinf", "isposinf", "isneginf", "isfinite", "isreal", "signbit"]:
    _fn = lambda L, x, _n=_name: getattr(L, _n)(x)  # noqa: E731
    MATH_DTYPE_CASES += [
        Case(_name, _fn, _SPECIAL, id="special"),
        Case(_name, lambda L, x, _n=_name: getattr(x.t(), _n)(), F(3, 4), id="nc_method"),
        Case(_name, _fn, Ints(2, 3), id="int64"),
        Case(_name, _fn, Mask(3), id="bool", mirror=True),
        Case(_name, _fn, F(), id="0d"),
    ]
MATH_DTYPE_CASES += [
    Case("equal", lambda L, x: L.equal(x, x.clone()), F(3, 4), id="same"),
    Case("equal", lambda L, x, y: L.equal(x, y), F(3, 4), F(3, 4), id="different"),
    Case("equal", lambda L, x, y: x.equal(y), F(3, 4), F(4), id="shapes_method"),
    Case("equal", lambda L, x: L.equal(x, x.float()), Ints(3), id="int_float"),
    Case("equal", lambda L, x: L.equal(x.t(), x.t().contiguous()), F(3, 4), id="nc"),
    Case("isclose", lambda L, x, y: L.isclose(x, y), F(3, 4, kind="coarse"), F(3, 4, kind="coarse"), id="plain"),
    Case("isclose", lambda L, x: L.isclose(x, x + 1e-3, rtol=0.0, atol=1e-2), F(3, 4), id="atol"),
    Case("isclose", lambda L, x, y: x.isclose(y, 0.5, 0.1), F(3, 4), F(4), id="bcast_positional_method"),
    Case("isclose", lambda L, x: L.isclose(x, x, equal_nan=True), Fixed([float("nan"), 1.0, float("inf")]),
         id="equal_nan"),
    Case("isclose", lambda L, x: L.isclose(x, x), Fixed([float("nan"), 1.0, float("inf")]), id="nan"),
    Case("isclose", lambda L, x, y: L.isclose(x, y), Ints(3), Ints(3), id="int64"),
    Case("allclose", lambda L, x: L.allclose(x, x + 1e-9), F(3, 4), id="true"),
    Case("allclose", lambda L, x, y: L.allclose(x, y, rtol=0.5, atol=2.0), F(3, 4), F(4), id="kw_bcast"),
    Case("allclose", lambda L, x, y: x.allclose(y), F(3, 4), F(3, 4), id="false_method"),
    Case("allclose", lambda L, x: L.allclose(x, x, equal_nan=True), Fixed([float("nan"), 1.0]), id="equal_nan"),
]

MATMUL_CASES += [
    Case("vdot", lambda L, x, y: L.vdot(x, y), F(5), F(5)),
    Case("vdot", lambda L, x, y: x.vdot(y[::2]), F(3), F(6), id="nc_method"),
    Case("inner", lambda L, x, y: L.inner(x, y), F(4), F(4), id="1d"),
    Case("inner", lambda L, x, y: L.inner(x, y), F(2, 4), F(3, 4), id="2d"),
    Case("inner", lambda L, x, y: x.inner(y), F(2, 3, 4), F(4), id="3d_1d_method"),
    Case("inner", lambda L, x, y: L.inner(x, y), F(), F(2, 3), id="0d"),
    Case("mv", lambda L, m, v: L.mv(m, v), F(3, 4), F(4)),
    Case("mv", lambda L, m, v: m.t().mv(v), F(4, 3), F(4), id="nc_method"),
    Case("outer", lambda L, x, y: L.outer(x, y), F(3), F(4)),
    Case("outer", lambda L, x, y: x.outer(y[::2]), F(2), F(6), id="nc_method"),
    Case("ger", lambda L, x, y: L.ger(x, y), F(3), F(2)),
    Case("addmm", lambda L, c, a, b: L.addmm(c, a, b), F(3, 5), F(3, 4), F(4, 5), id="plain"),
    Case("addmm", lambda L, c, a, b: L.addmm(c, a, b, beta=0.5, alpha=2), F(5), F(3, 4), F(4, 5), id="bcast_coefs"),
    Case("addmm", lambda L, c, a, b: c.addmm(a.t(), b, alpha=-1), F(3, 5), F(4, 3), F(4, 5), id="nc_method"),
    Case("addmm", lambda L, c, a, b: L.addmm(c, a, b, beta=0), F(3, 2), F(3, 4), F(4, 2), id="beta0"),
    Case("addmv", lambda L, c, m, v: L.addmv(c, m, v), F(3), F(3, 4), F(4), id="plain"),
    Case("addmv", lambda L, c, m, v: c.addmv(m.t(), v, beta=2, alpha=0.5), F(), F(4, 3), F(4), id="nc_0d_coefs"),
    Case("addr", lambda L, c, x, y: L.addr(c, x, y), F(3, 4), F(3), F(4), id="plain"),
    Case("addr", lambda L, c, x, y: c.addr(x, y, beta=0.5, alpha=3), F(4), F(3), F(4), id="bcast_coefs"),
    Case("baddbmm", lambda L, c, a, b: L.baddbmm(c, a, b), F(2, 3, 5), F(2, 3, 4), F(2, 4, 5), id="plain"),
    Case("baddbmm", lambda L, c, a, b: c.baddbmm(a, b.transpose(1, 2), beta=0.5, alpha=-1), F(3, 5), F(2, 3, 4),
         F(2, 5, 4), id="bcast_nc_coefs"),
    Case("addbmm", lambda L, c, a, b: L.addbmm(c, a, b), F(3, 5), F(2, 3, 4), F(2, 4, 5), id="plain"),
    Case("addbmm", lambda L, c, a, b: c.addbmm(a, b, beta=2, alpha=0.5), F(5), F(2, 3, 4), F(2, 4, 5),
         id="bcast_coefs"),
    Case("kron", lambda L, x, y: L.kron(x, y), F(2, 3), F(3, 2), id="2d"),
    Case("kron", lambda L, x, y: x.kron(y), F(3), F(2, 2), id="1d_2d_method"),
    # torch 2.13's kron raises "view size is not compatible" for a transposed input and a 1-d other
    # (a torch bug); it gets a contiguous copy, ember the transposed view
    Case("kron", lambda L, x, y: L.kron(x.t() if L is ember else x.t().contiguous(), y), F(3, 2), F(2), id="nc"),
    Case("cross", lambda L, x, y: L.cross(x, y, dim=1), F(4, 3), F(4, 3), id="dim1"),
    Case("cross", lambda L, x, y: x.cross(y, 0), F(3, 2), F(3, 1), id="dim0_bcast_method"),
    Case("cross", lambda L, x, y: L.cross(x, y, dim=-1), F(2, 2, 3), F(2, 1, 3), id="bcast"),
    Case("linalg_cross", lambda L, x, y: L.linalg.cross(x, y), F(4, 3), F(4, 3), id="default_dim"),
    Case("linalg_cross", lambda L, x, y: L.linalg.cross(x, y, dim=0), F(3, 2), F(3, 1), id="dim0_bcast"),
    Case("linalg_cross", lambda L, x, y: L.linalg.cross(x.t(), y), F(3, 4), F(1, 3), id="nc"),
    Case("linalg_matmul", lambda L, x, y: L.linalg.matmul(x, y), F(2, 3, 4), F(4, 2), id="3d2d"),
    Case("linalg_matmul", lambda L, x, y: L.linalg.matmul(x.t(), y), F(4, 3), F(4), id="nc_2d1d"),
    Case("linalg_multi_dot", lambda L, a, b, c: L.linalg.multi_dot([a, b, c]), F(2, 3), F(3, 4), F(4, 2),
         id="three"),
    Case("linalg_multi_dot", lambda L, a, b, c: L.linalg.multi_dot((a, b.t(), c)), F(3), F(2, 3), F(2),
         id="vectors_nc"),
    Case("linalg_vecdot", lambda L, x, y: L.linalg.vecdot(x, y), F(3, 4), F(3, 4), id="plain"),
    Case("linalg_vecdot", lambda L, x, y: L.linalg.vecdot(x, y, dim=0), F(3, 4), F(3, 1), id="dim0_bcast"),
    Case("linalg_vecdot", lambda L, x, y: L.linalg.vecdot(x.t(), y), F(4, 3), F(4), id="nc"),
    Case("linalg_diagonal", lambda L, a: L.linalg.diagonal(a), F(2, 3, 4), id="default"),
    Case("linalg_diagonal", lambda L, a: L.linalg.diagonal(a, offset=1, dim1=0, dim2=2), F(3, 2, 4), id="kw"),
    Case("linalg_diagonal", lambda L, a: L.linalg.diagonal(a.mT, offset=-1), F(3, 4), id="nc_neg"),
    Case("linalg_matrix_norm", lambda L, a: L.linalg.matrix_norm(a), F(3, 4), id="fro"),
    Case("linalg_matrix_norm", lambda L, a: L.linalg.matrix_norm(a, 1), F(2, 3, 4, kind="away"), id="ord1_batched"),
    Case("linalg_matrix_norm", lambda L, a: L.linalg.matrix_norm(a, ord=-float("inf"), keepdim=True), F(3, 4,
         kind="away"), id="neginf_keepdim"),
    Case("linalg_matrix_norm", lambda L, a: L.linalg.matrix_norm(a, float("inf"), dim=(0, 2)), F(3, 2, 4,
         kind="away"), id="inf_dims"),
    Case("linalg_matrix_norm", lambda L, a: L.linalg.matrix_norm(a, -1, dtype=L.float64), F(3, 3, kind="away"),
         id="ordm1_dtype"),
    Case("linalg_matrix_norm", lambda L, a: L.linalg.matrix_norm(a, "nuc"), F(3, 4), id="nuc"),
    Case("linalg_matrix_norm", lambda L, a: L.linalg.matrix_norm(a, 2), F(3, 4), id="ord2"),
    Case("linalg_matrix_norm", lambda L, a: L.linalg.matrix_norm(a.mT, -2), F(2, 3, 4), id="ordm2_nc"),
    Case("linalg_norm", lambda L, x: L.linalg.norm(x), F(5), id="vector"),
    Case("linalg_norm", lambda L, x: L.linalg.norm(x), F(3, 4), id="matrix_default"),
    Case("linalg_norm", lambda L, x: L.linalg.norm(x, 3.0, dim=1), F(3, 4), id="vector_dim"),
    Case("linalg_norm", lambda L, x: L.linalg.norm(x, "fro", dim=(0, 1), keepdim=True), F(3, 4), id="fro_keepdim"),
    Case("linalg_norm", lambda L, x: L.linalg.norm(x.t(), float("inf")), F(3, 4, kind="away"), id="matrix_inf_nc"),
    Case("linalg_matrix_power", lambda L, a: L.linalg.matrix_power(a, 3), Mat(3, 3), id="3"),
    Case("linalg_matrix_power", lambda L, a: L.linalg.matrix_power(a.mT, -2), Mat(3, 3), id="neg_nc"),
    Case("linalg_matrix_power", lambda L, a: L.linalg.matrix_power(a, 1), F(2, 2), id="1"),
    Case("linalg_pinv", lambda L, a: L.linalg.pinv(a), F(4, 3), id="tall"),
    Case("linalg_pinv", lambda L, a: L.linalg.pinv(a.mT), F(2, 4, 3), id="wide_batched_nc"),
    Case("linalg_pinv", lambda L, a: L.linalg.pinv(_sym(L, a), hermitian=True), Mat(3, 3, kind="sym"), id="hermitian"),
    # torch 2.13's gradient of a truncated pinv is wrong (finite differences agree with ember's)
    Case("linalg_pinv", lambda L, a: L.linalg.pinv(a, atol=0.5), F(3, 3), id="atol_truncated", torch_grad=False),
    Case("linalg_inv_ex", lambda L, a: L.linalg.inv_ex(a)[0], Mat(2, 3, 3), id="batched"),
    Case("linalg_inv_ex", lambda L, a: L.linalg.inv_ex(a).inverse, Mat(3, 3), id="field"),
    Case("linalg_cholesky_ex", lambda L, a: L.linalg.cholesky_ex(_spd(L, a), upper=True)[0], F(2, 3, 3), id="upper"),
    Case("linalg_cholesky_ex", lambda L, a: L.linalg.cholesky_ex(_spd(L, a)).L, F(3, 3), id="field"),
    Case("linalg_matrix_power", lambda L, a: L.linalg.matrix_power(a, 0), Mat(2, 2, 2), id="0_batched"),
]
MATMUL_DTYPE_CASES += [
    Case("vdot", lambda L, x, y: L.vdot(x, y), Ints(4), Ints(4), id="int64"),
    Case("inner", lambda L, x, y: L.inner(x, y), Ints(2, 3), Ints(3), id="int64"),
    Case("mv", lambda L, m, v: L.mv(m, v), Ints(2, 3), Ints(3), id="int64"),
    Case("outer", lambda L, x, y: L.outer(x, y), Ints(2), Mask(3), id="int_bool"),
    Case("ger", lambda L, x, y: L.ger(x, y), Ints(2), Ints(3), id="int64"),
    Case("addmm", lambda L, c, a, b: L.addmm(c, a, b, alpha=2), Ints(2, 2), Ints(2, 3), Ints(3, 2), id="int64"),
    Case("addmv", lambda L, c, m, v: L.addmv(c, m, v), Ints(2), Ints(2, 3), Ints(3), id="int64"),
    Case("addr", lambda L, c, x, y: L.addr(c, x, y), Ints(2, 3), Ints(2), Ints(3), id="int64"),
    Case("baddbmm", lambda L, c, a, b: L.baddbmm(c, a, b), Ints(2, 2, 2), Ints(2, 2, 3), Ints(2, 3, 2), id="int64"),
    Case("addbmm", lambda L, c, a, b: L.addbmm(c, a, b), Ints(2, 2), Ints(2, 2, 3), Ints(2, 3, 2), id="int64"),
    Case("kron", lambda L, x, y: L.kron(x, y), Ints(2, 2), Ints(2), id="int64"),
    Case("cross", lambda L, x, y: L.cross(x, y, dim=0), Ints(3), Ints(3), id="int64"),
    Case("linalg_cross", lambda L, x, y: L.linalg.cross(x, y), Ints(2, 3), Ints(2, 3), id="int64"),
    Case("linalg_matmul", lambda L, x, y: L.linalg.matmul(x, y), Ints(2, 3), Ints(3), id="int64"),
    Case("linalg_multi_dot", lambda L, a, b: L.linalg.multi_dot([a, b]), Ints(2, 3), Ints(3, 2), id="int64"),
    Case("linalg_vecdot", lambda L, x, y: L.linalg.vecdot(x, y), Ints(2, 3), Ints(3), id="int64", mirror=True),
    Case("linalg_diagonal", lambda L, a: L.linalg.diagonal(a), Mask(3, 3), id="bool"),
    Case("linalg_matrix_norm", lambda L, a: L.linalg.matrix_norm(a), Ints(2, 2), id="int64", mirror=True),
    Case("linalg_norm", lambda L, x: L.linalg.norm(x), Ints(3), id="int64", mirror=True),
    Case("linalg_matrix_power", lambda L, a: L.linalg.matrix_power(a, 2), Ints(2, 2), id="int64"),
    Case("linalg_matrix_rank", lambda L, a: L.linalg.matrix_rank(a), F(3, 4), id="full"),
    Case("linalg_matrix_rank", lambda L, a, b: L.linalg.matrix_rank(a @ b), F(2, 4, 1), F(1, 4), id="rank1_batched"),
    Case("linalg_matrix_rank", lambda L, a: L.linalg.matrix_rank(a, atol=1.0, rtol=0.0), Mat(3, 3), id="atol"),
    Case("linalg_matrix_rank", lambda L, a: L.linalg.matrix_rank(_sym(L, a), hermitian=True), Mat(3, 3, kind="sym"),
         id="hermitian"),
    Case("linalg_inv_ex", lambda L, a: L.linalg.inv_ex(a), Mat(3, 3), id="info"),
    Case("linalg_cholesky_ex", lambda L, a: L.linalg.cholesky_ex(a)[1], Fixed([[1.0, 2.0], [2.0, 1.0]]),
         id="info_not_pd", bug="linalg.cholesky_ex(a) of a matrix that is not positive-definite raises; torch "
         "returns info=2", bug_in={"nondiff"}),
]

def _spd(L, b):
    """A symmetric positive definite matrix from any b (so finite differences stay symmetric)."""
    n = b.shape[-1]
    return b @ b.mT / n + L.eye(n, dtype=b.dtype)


def _sym(L, a):
    return a + a.mT


LINALG_CASES = [
    Case("linalg_inv", lambda L, a: L.linalg.inv(a), Mat(3, 3), id="3x3"),
    Case("linalg_inv", lambda L, a: L.linalg.inv(a), Mat(2, 4, 4), id="batched"),
    Case("linalg_inv", lambda L, a: L.linalg.inv(a.mT), Mat(3, 3), id="nc"),
    Case("linalg_inv", lambda L, a: L.linalg.inv(a), Mat(1, 1), id="1x1"),
    Case("inverse", lambda L, a: L.inverse(a), Mat(3, 3), id="fn"),
    Case("inverse", lambda L, a: a.inverse(), Mat(2, 3, 3), id="batched_method"),
    Case("linalg_det", lambda L, a: L.linalg.det(a), Mat(3, 3), id="3x3"),
    Case("linalg_det", lambda L, a: L.linalg.det(a), Mat(2, 2, 4, 4), id="batched"),
    Case("linalg_det", lambda L, a: L.linalg.det(a.mT), Mat(2, 2), id="nc"),
    Case("det", lambda L, a: L.det(a), Mat(4, 4), id="fn"),
    Case("det", lambda L, a: a.det(), Mat(3, 2, 2), id="batched_method"),
    Case("det", lambda L, a: L.det(a), F(3, 3), id="random"),
    Case("linalg_slogdet", lambda L, a: L.linalg.slogdet(a).logabsdet, Mat(4, 4), id="field"),
    Case("linalg_slogdet", lambda L, a: L.linalg.slogdet(-a)[1], Mat(2, 3, 3), id="batched_neg"),
    Case("linalg_slogdet", lambda L, a: L.linalg.slogdet(a), Mat(3, 3), id="sign"),
    Case("slogdet", lambda L, a: L.slogdet(a).logabsdet, Mat(3, 3), id="fn"),
    Case("slogdet", lambda L, a: a.slogdet()[1], F(2, 3, 3), id="batched_method"),
    Case("slogdet", lambda L, a: L.slogdet(-a), Mat(3, 3), id="sign"),
    Case("logdet", lambda L, a: L.logdet(a), Mat(3, 3, kind="spd"), id="fn"),
    Case("logdet", lambda L, a: a.logdet(), Mat(2, 4, 4, kind="spd"), id="batched_method"),
    Case("linalg_solve", lambda L, a, b: L.linalg.solve(a, b), Mat(3, 3), F(3, 2), id="matrix"),
    Case("linalg_solve", lambda L, a, b: L.linalg.solve(a, b), Mat(3, 3), F(3), id="vector"),
    Case("linalg_solve", lambda L, a, b: L.linalg.solve(a, b), Mat(2, 3, 3), F(3, 1), id="batched_bcast"),
    Case("linalg_solve", lambda L, a, b: L.linalg.solve(a, b, left=False), Mat(3, 3), F(2, 3), id="right"),
    Case("linalg_solve", lambda L, a, b: L.linalg.solve(a.mT, b.t()), Mat(3, 3), F(4, 3), id="nc"),
    Case("linalg_cholesky", lambda L, a: L.linalg.cholesky(_spd(L, a)), F(3, 3), id="lower"),
    Case("linalg_cholesky", lambda L, a: L.linalg.cholesky(_spd(L, a), upper=True), F(2, 4, 4), id="upper_batched"),
    Case("cholesky", lambda L, a: L.cholesky(_spd(L, a)), F(3, 3), id="fn"),
    Case("cholesky", lambda L, a: _spd(L, a).cholesky(True), F(2, 3, 3), id="upper_method"),
    Case("linalg_qr", lambda L, a: [m.abs() for m in L.linalg.qr(a)], F(4, 3), id="tall"),
    Case("linalg_qr", lambda L, a: [m.abs() for m in L.linalg.qr(a, mode="complete")], F(3, 3), id="complete"),
    Case("linalg_qr", lambda L, a: (lambda q, r: q @ r)(*L.linalg.qr(a)), F(3, 5), id="wide_product"),
    Case("qr", lambda L, a: [m.abs() for m in L.qr(a)], F(4, 3), id="fn"),
    Case("qr", lambda L, a: [m.abs() for m in a.qr(some=False)], F(3, 3), id="full_method"),
    Case("linalg_eigh", lambda L, a: (lambda w, v: [w, v.abs()])(*L.linalg.eigh(_sym(L, a))), Mat(4, 4, kind="sym"),
         id="lower"),
    Case("linalg_eigh", lambda L, a: L.linalg.eigh(_sym(L, a), UPLO="U").eigenvalues, Mat(2, 3, 3, kind="sym"),
         id="upper_batched"),
    Case("linalg_eigvalsh", lambda L, a: L.linalg.eigvalsh(_sym(L, a)), Mat(4, 4, kind="sym"), id="lower"),
    Case("linalg_eigvalsh", lambda L, a: L.linalg.eigvalsh(_sym(L, a), "U"), Mat(2, 3, 3, kind="sym"),
         id="upper_batched"),
    Case("linalg_svd", lambda L, a: (lambda u, s, vh: [u.abs(), s, vh.abs()])(*L.linalg.svd(a, full_matrices=False)),
         F(4, 3), id="reduced"),
    Case("linalg_svd", lambda L, a: L.linalg.svd(a).S, F(2, 3, 5), id="full_batched_values"),
    Case("linalg_svdvals", lambda L, a: L.linalg.svdvals(a), F(4, 3), id="tall"),
    Case("linalg_svdvals", lambda L, a: L.linalg.svdvals(a.mT), F(2, 4, 3), id="batched_nc"),
    Case("svd", lambda L, a: (lambda u, s, v: [u.abs(), s, v.abs()])(*L.svd(a)), F(4, 3), id="fn"),
    Case("svd", lambda L, a: L.svd(a, compute_uv=False), F(4, 3), id="values_only"),
    Case("svd", lambda L, a: a.svd(compute_uv=False).S, F(3, 5), id="values_method"),
]

SCAN_CASES = []
for _name in ["cumsum", "cumprod", "logcumsumexp", "cummax", "cummin"]:
    _kind = "unit" if _name == "cumprod" else "normal"
    SCAN_CASES += [
        Case(_name, lambda L, x, _n=_name: getattr(L, _n)(x, 0), F(5, kind=_kind), id="1d"),
        Case(_name, lambda L, x, _n=_name: getattr(L, _n)(x, dim=1), F(3, 4, kind=_kind), id="dim1_kw"),
        Case(_name, lambda L, x, _n=_name: getattr(x, _n)(-1), F(2, 3, 4, kind=_kind), id="3d_method"),
        Case(_name, lambda L, x, _n=_name: getattr(L, _n)(x.t(), 0), F(3, 4, kind=_kind), id="nc_t"),
        Case(_name, lambda L, x, _n=_name: getattr(L, _n)(x, 0), F(kind=_kind), id="0d"),
    ]
SCAN_CASES += [
    Case("cumsum", lambda L, x: L.cumsum(x, 1, dtype=L.float64), F(3, 4), id="dtype64"),
    Case("cumprod", lambda L, x: L.cumprod(x, 0, dtype=L.float64), F(3, 2, kind="unit"), id="dtype64"),
    Case("cumprod", lambda L, x: L.cumprod(x, 0), Fixed([2.0, 0.0, 3.0, 0.5]), id="with_zero"),
]
SCAN_DTYPE_CASES = [
    # (torch does not differentiate mode='r': no Q)
    Case("linalg_qr", lambda L, a: L.linalg.qr(a, "r").R.abs(), F(2, 3, 3), id="r_batched"),
    Case("cumsum", lambda L, x: L.cumsum(x, 1), Ints(3, 4), id="int64"),
    Case("cumsum", lambda L, x: L.cumsum(x, 0), Mask(5), id="bool"),
    Case("cumsum", lambda L, x: L.cumsum(x, 0, dtype=L.float32), Ints(4), id="int_dtype"),
    Case("cumprod", lambda L, x: x.cumprod(0), Ints(4), id="int64"),
    Case("cummax", lambda L, x: L.cummax(x, 1), Ints(3, 5), id="int64_ties"),
    Case("cummin", lambda L, x: L.cummin(x, 0), Mask(5), id="bool"),
    Case("logcumsumexp", lambda L, x: L.logcumsumexp(x, 0), Ints(4), id="int64", mirror=True),
]

SCATTER_CASES = [
    Case("scatter", lambda L, x, i, s: L.scatter(x, 1, i, s), F(3, 4), Const([[0, 3], [1, 2], [3, 0]]), F(3, 2),
         id="src"),
    Case("scatter", lambda L, x, i, s: x.scatter(0, i, s), F(3, 4), Const([[0, 1, 2, 0], [2, 0, 1, 1]]), F(2, 4),
         id="src_dim0_method"),
    # torch 2.13's backward raises for src larger than index (as scatter_add's, below)
    Case("scatter", lambda L, x, i, s: L.scatter(x.t(), 1, i, s), F(4, 3), Const([[2], [0], [3]]), F(3, 2),
         id="src_nc_larger", torch_grad=False),
    Case("scatter", lambda L, x, i: L.scatter(x, 1, i, 0.5), F(3, 4), Const([[0, 3], [1, 2], [3, 0]]), id="value"),
    Case("scatter", lambda L, x, i: x.scatter(0, i, value=-1), F(3), Const([2, 0]), id="value_kw_method"),
    Case("scatter_reduce", lambda L, x, i, s: L.scatter_reduce(x, 1, i, s, "sum"), F(3, 4),
         Const([[0, 0], [1, 3], [3, 3]]), F(3, 2), id="sum"),
    Case("scatter_reduce", lambda L, x, i, s: x.scatter_reduce(0, i, s, "prod"), F(3, kind="unit"),
         Const([0, 2, 0, 1]), F(4, kind="unit"), id="prod_method"),
    Case("scatter_reduce", lambda L, x, i, s: L.scatter_reduce(x, 0, i, s, "mean", include_self=False), F(3),
         Const([0, 2, 0, 0]), F(4), id="mean_exclude_self"),
    Case("scatter_reduce", lambda L, x, i, s: L.scatter_reduce(x, 1, i, s, reduce="amax"), F(2, 3),
         Const([[0, 2], [1, 1]]), F(2, 2), id="amax_kw"),
    Case("scatter_reduce", lambda L, x, i, s: L.scatter_reduce(x, 0, i, s, "amin", include_self=True), F(3),
         Const([1, 1, 2]), F(3), id="amin"),
    Case("index_copy", lambda L, x, i, s: L.index_copy(x, 0, i, s), F(4, 3), Const([3, 0]), F(2, 3)),
    Case("index_copy", lambda L, x, i, s: x.index_copy(1, i, s), F(2, 4), Const([1, 2, 0]), F(2, 3), id="dim1_method"),
    Case("index_copy", lambda L, x, i, s: L.index_copy(x.t(), 0, i, s), F(3, 4), Const([2]), F(1, 3), id="nc_t"),
    Case("index_fill", lambda L, x, i: L.index_fill(x, 1, i, -2.0), F(3, 4), Const([0, 2]), id="scalar"),
    Case("index_fill", lambda L, x, i: x.index_fill(0, i, 1), F(4), Const([3, 3]), id="dup_method"),
    Case("index_fill", lambda L, x, i, v: L.index_fill(x, 0, i, v), F(3, 2), Const([1]), F(), id="tensor_value"),
    Case("index_fill", lambda L, x, i: L.index_fill(x.t(), -1, i, 0.0), F(3, 4), Const([1]), id="nc_t"),
    Case("index_put", lambda L, x, i, v: L.index_put(x, (i,), v), F(4, 3), Const([2, 0]), F(2, 3), id="rows"),
    Case("index_put", lambda L, x, i, j, v: x.index_put((i, j), v), F(3, 4), Const([0, 2]), Const([3, 1]), F(2),
         id="points_method"),
    Case("index_put", lambda L, x, i, v: L.index_put(x, [i], v, accumulate=True), F(4), Const([1, 1, 3]), F(3),
         id="accumulate_dup"),
    Case("index_put", lambda L, x, i, v: L.index_put(x, (i,), v), F(4, 3), Const([1]), F(3), id="bcast_values"),
    Case("index_put", lambda L, x, m, v: L.index_put(x, (m,), v), F(3, 4), Mask(3, 4), F(), id="bool_mask"),
    Case("masked_select", lambda L, x, m: L.masked_select(x, m), F(3, 4), Mask(3, 4), id="same"),
    Case("masked_select", lambda L, x, m: x.masked_select(m), F(3, 4), Mask(4), id="bcast_method"),
    Case("masked_select", lambda L, x, m: L.masked_select(x.t(), m), F(4, 3), Mask(3, 4), id="nc_t"),
    Case("masked_scatter", lambda L, x, m, s: L.masked_scatter(x, m, s), F(3, 4), Mask(3, 4), F(12), id="same"),
    Case("masked_scatter", lambda L, x, m, s: x.masked_scatter(m, s), F(3, 4), Mask(4), F(3, 5),
         id="bcast_larger_method"),
    Case("take", lambda L, x, i: L.take(x, i), F(3, 4), Const([0, 11, 5, 5]), id="1d_index"),
    Case("take", lambda L, x, i: x.t().take(i), F(3, 4), Const([[1, -1], [2, 0]]), id="nc_2d_neg_method"),
    Case("take_along_dim", lambda L, x, i: L.take_along_dim(x, i, dim=1), F(3, 4), Const([[0, 3], [1, 1], [2, 0]]),
         id="dim1"),
    Case("take_along_dim", lambda L, x, i: L.take_along_dim(x, i), F(3, 4), Const([0, 11, 3]), id="flat"),
    Case("take_along_dim", lambda L, x, i: x.take_along_dim(i, 0), F(3, 4), Const([[2, 0, 1, 1]]),
         id="bcast_method"),
]
SCATTER_DTYPE_CASES = [
    Case("scatter", lambda L, x, i, s: L.scatter(x, 1, i, s, reduce="add"), F(3, 4),
         Const([[0, 0], [1, 3], [3, 3]]), F(3, 2), id="reduce_add"),
    Case("scatter", lambda L, x, i, s: x.scatter(0, i, s, reduce="multiply"), Ints(3), Const([0, 2, 0]), Ints(3),
         id="reduce_multiply_int64_method"),
    Case("scatter", lambda L, x, i: L.scatter(x, 0, i, 2.0, reduce="add"), F(3), Const([1, 1, 0]),
         id="value_reduce_add"),
    Case("scatter", lambda L, x, i: L.scatter(x, 1, i, 3, reduce="multiply"), Ints(2, 3), Const([[2], [0]]),
         id="value_reduce_multiply"),
    Case("scatter", lambda L, x, i, s: L.scatter(x, 0, i, s), Ints(4), Const([3, 1]), Ints(2), id="int64"),
    Case("scatter_reduce", lambda L, x, i, s: L.scatter_reduce(x, 0, i, s, "sum"), Ints(3), Const([0, 0, 2]),
         Ints(3), id="int64"),
    Case("scatter_reduce", lambda L, x, i, s: L.scatter_reduce(x, 0, i, s, "mean"), Ints(3, low=0, high=9),
         Const([0, 0, 2]), Ints(3, low=0, high=9), id="int64_mean"),
    Case("index_copy", lambda L, x, i, s: L.index_copy(x, 0, i, s), Mask(3), Const([2]), Mask(1), id="bool"),
    Case("index_fill", lambda L, x, i: L.index_fill(x, 0, i, 7), Ints(3), Const([0, 2]), id="int64"),
    Case("index_put", lambda L, x, i, v: L.index_put(x, (i,), v, True), Ints(4), Const([0, 0]), Ints(2),
         id="int64_accumulate"),
    Case("masked_select", lambda L, x, m: L.masked_select(x, m), Ints(2, 3), Mask(2, 3), id="int64"),
    Case("masked_scatter", lambda L, x, m, s: L.masked_scatter(x, m, s), Ints(2, 3), Mask(3), Ints(6), id="int64"),
    Case("take", lambda L, x, i: L.take(x, i), Mask(2, 3), Const([5, 0]), id="bool"),
    Case("take_along_dim", lambda L, x, i: L.take_along_dim(x, i, 1), Ints(2, 3), Const([[2], [0]]), id="int64"),
    Case("argwhere", lambda L, x: L.argwhere(x), Const([[0, 1, 0], [2, 0, 3]])),
    Case("argwhere", lambda L, x: x.argwhere(), Mask(2, 3, 2), id="3d_bool_method"),
    Case("argwhere", lambda L, x: L.argwhere(x.t()), F(3, 4, kind="coarse"), id="nc_float"),
    Case("argwhere", lambda L, x: L.argwhere(x), Const(0), id="0d_false"),
    Case("argwhere", lambda L, x: L.argwhere(x), Const([0, 0]), id="none"),
]

SHAPE_CASES = [
    Case("tril", lambda L, x: L.tril(x), F(3, 4), id="plain"),
    Case("tril", lambda L, x: x.tril(1), F(2, 3, 4), id="batched_pos_method"),
    Case("tril", lambda L, x: L.tril(x.t(), diagonal=-1), F(4, 3), id="nc_neg_kw"),
    Case("triu", lambda L, x: L.triu(x), F(3, 4), id="plain"),
    Case("triu", lambda L, x: x.triu(-1), F(2, 4, 3), id="batched_neg_method"),
    Case("triu", lambda L, x: L.triu(x.t(), diagonal=2), F(4, 3), id="nc_pos_kw"),
    Case("diag_embed", lambda L, x: L.diag_embed(x), F(3), id="1d"),
    Case("diag_embed", lambda L, x: x.diag_embed(offset=1), F(2, 3), id="offset_method"),
    Case("diag_embed", lambda L, x: L.diag_embed(x, -1, 0, 2), F(2, 3), id="dims"),
    Case("diag", lambda L, x: L.diag(x), F(3), id="1d"),
    Case("diag", lambda L, x: L.diag(x, 1), F(3), id="1d_offset"),
    Case("diag", lambda L, x: x.diag(), F(3, 4), id="2d_method"),
    Case("diag", lambda L, x: L.diag(x.t(), diagonal=-1), F(3, 4), id="2d_nc_neg"),
    Case("diagonal", lambda L, x: L.diagonal(x), F(3, 4), id="2d"),
    Case("diagonal", lambda L, x: x.diagonal(1, 1, 2), F(2, 3, 4), id="3d_method"),
    Case("diagonal", lambda L, x: L.diagonal(x.t(), offset=-1), F(3, 4), id="nc_neg"),
    Case("roll", lambda L, x: L.roll(x, 2), F(3, 4), id="flat"),
    Case("roll", lambda L, x: x.roll(1, 0), F(3, 4), id="dim_method"),
    Case("roll", lambda L, x: L.roll(x, (1, -2), (0, 1)), F(3, 4), id="two_dims"),
    Case("roll", lambda L, x: L.roll(x.t(), shifts=-1, dims=1), F(3, 4), id="nc_kw"),
    Case("flip", lambda L, x: L.flip(x, [0]), F(3, 4), id="dim0"),
    Case("flip", lambda L, x: x.flip((0, 2)), F(2, 3, 4), id="two_method"),
    Case("flip", lambda L, x: L.flip(x.t(), dims=(-1,)), F(3, 4), id="nc_kw"),
    Case("flip", lambda L, x: L.flip(x, ()), F(3), id="none"),
    Case("fliplr", lambda L, x: L.fliplr(x), F(3, 4)),
    Case("fliplr", lambda L, x: x.transpose(0, 2).fliplr(), F(2, 3, 4), id="nc_method"),
    Case("flipud", lambda L, x: L.flipud(x), F(3, 4)),
    Case("flipud", lambda L, x: x.flipud(), F(4), id="1d_method"),
    Case("rot90", lambda L, x: L.rot90(x), F(3, 4), id="plain"),
    Case("rot90", lambda L, x: x.rot90(2, [1, 2]), F(2, 3, 4), id="k2_method"),
    Case("rot90", lambda L, x: L.rot90(x, -1), F(3, 4), id="neg"),
    Case("rot90", lambda L, x: L.rot90(x.t(), k=3, dims=(1, 0)), F(3, 4), id="nc_kw"),
    Case("repeat", lambda L, x: x.repeat(2, 3), F(2, 3), id="2d"),
    Case("repeat", lambda L, x: x.repeat(2, 1, 2), F(3), id="new_dims"),
    Case("repeat", lambda L, x: x.t().repeat((1, 2)), F(2, 3), id="nc_tuple"),
    Case("repeat", lambda L, x: x.repeat(3), F(), id="0d"),
    Case("tile", lambda L, x: L.tile(x, (2,)), F(2, 3), id="fewer_dims"),
    Case("tile", lambda L, x: x.tile((2, 1, 2)), F(3), id="more_dims_method"),
    Case("tile", lambda L, x: L.tile(x.t(), (1, 2)), F(2, 3), id="nc"),
    Case("repeat_interleave", lambda L, x: L.repeat_interleave(x, 2), F(2, 3), id="int_flat"),
    Case("repeat_interleave", lambda L, x: x.repeat_interleave(2, dim=1), F(2, 3), id="int_dim_method"),
    Case("repeat_interleave", lambda L, x, r: L.repeat_interleave(x, r, dim=0), F(3, 2), Const([1, 0, 3]),
         id="tensor_dim0"),
    Case("repeat_interleave", lambda L, x, r: x.t().repeat_interleave(r, 0, output_size=4), F(3, 2), Const([1, 3]),
         id="tensor_nc_output_size"),
    Case("movedim", lambda L, x: L.movedim(x, 0, 2), F(2, 3, 4), id="int"),
    Case("movedim", lambda L, x: x.movedim((0, 1), (2, 0)), F(2, 3, 4), id="tuple_method"),
    Case("moveaxis", lambda L, x: L.moveaxis(x, -1, 0), F(2, 3, 4), id="int"),
    Case("moveaxis", lambda L, x: x.t().moveaxis(0, 1), F(3, 4), id="nc_method"),
    Case("unflatten", lambda L, x: L.unflatten(x, 1, (2, 3)), F(4, 6), id="plain"),
    Case("unflatten", lambda L, x: x.unflatten(0, (-1, 2)), F(6, 2), id="infer_method"),
    Case("unflatten", lambda L, x: L.unflatten(x.t(), -1, [2, 2]), F(4, 3), id="nc"),
    Case("ravel", lambda L, x: L.ravel(x), F(2, 3, 4), id="3d"),
    Case("ravel", lambda L, x: x.t().ravel(), F(3, 4), id="nc_method"),
    Case("ravel", lambda L, x: L.ravel(x), F(), id="0d"),
    Case("unbind", lambda L, x: L.unbind(x), F(3, 2), id="dim0"),
    Case("unbind", lambda L, x: x.unbind(1), F(2, 3), id="dim1_method"),
    Case("unbind", lambda L, x: L.unbind(x.t(), dim=-1), F(3, 2), id="nc_kw"),
    Case("narrow_copy", lambda L, x: L.narrow_copy(x, 1, 1, 2), F(3, 4)),
    Case("narrow_copy", lambda L, x: x.t().narrow_copy(0, 2, 2), F(3, 4), id="nc_method"),
    Case("broadcast_to", lambda L, x: L.broadcast_to(x, (3, 4)), F(4), id="row"),
    Case("broadcast_to", lambda L, x: x.broadcast_to((2, 3, 4)), F(3, 1), id="new_dims_method"),
    Case("broadcast_to", lambda L, x: L.broadcast_to(x, (-1, 2)), F(3, 1), id="minus_one"),
    Case("broadcast_to", lambda L, x: L.broadcast_to(x, (2, 2)), F(), id="0d"),
    Case("meshgrid", lambda L, x, y: L.meshgrid(x, y, indexing="ij"), F(3), F(4), id="ij"),
    Case("meshgrid", lambda L, x, y: L.meshgrid([x, y], indexing="xy"), F(3), F(4), id="xy_list"),
    Case("meshgrid", lambda L, x, y, z: L.meshgrid(x, y, z, indexing="ij"), F(2), F(3), F(), id="three_0d"),
]
SHAPE_DTYPE_CASES = [
    Case("tril", lambda L, x: L.tril(x, -1), Ints(3, 3), id="int64"),
    Case("triu", lambda L, x: L.triu(x), Mask(3, 4), id="bool"),
    Case("diag_embed", lambda L, x: L.diag_embed(x), Ints(2, 2), id="int64"),
    Case("diag", lambda L, x: L.diag(x), Ints(3), id="int64"),
    Case("diagonal", lambda L, x: L.diagonal(x), Mask(3, 3), id="bool"),
    Case("roll", lambda L, x: L.roll(x, 1), Ints(4), id="int64"),
    Case("flip", lambda L, x: L.flip(x, [1]), Mask(2, 3), id="bool"),
    Case("fliplr", lambda L, x: L.fliplr(x), Ints(2, 3), id="int64"),
    Case("flipud", lambda L, x: L.flipud(x), Ints(2, 3), id="int64"),
    Case("rot90", lambda L, x: L.rot90(x), Ints(2, 3), id="int64"),
    Case("repeat", lambda L, x: x.repeat(2), Mask(2), id="bool"),
    Case("tile", lambda L, x: L.tile(x, (2,)), Ints(3), id="int64"),
    Case("repeat_interleave", lambda L, r: L.repeat_interleave(r), Const([2, 0, 1]), id="repeats_only"),
    Case("repeat_interleave", lambda L, r: L.repeat_interleave(r, output_size=4), Const([1, 3]),
         id="repeats_only_output_size"),
    Case("repeat_interleave", lambda L, x: L.repeat_interleave(x, 2), Ints(3), id="int64"),
    Case("movedim", lambda L, x: L.movedim(x, 1, 0), Ints(2, 3), id="int64"),
    Case("moveaxis", lambda L, x: L.moveaxis(x, 1, 0), Mask(2, 3), id="bool"),
    Case("unflatten", lambda L, x: L.unflatten(x, 0, (2, 2)), Ints(4), id="int64"),
    Case("ravel", lambda L, x: L.ravel(x), Ints(2, 3), id="int64"),
    Case("unbind", lambda L, x: L.unbind(x), Mask(2, 3), id="bool"),
    Case("narrow_copy", lambda L, x: L.narrow_copy(x, 0, 1, 2), Ints(4), id="int64"),
    Case("broadcast_to", lambda L, x: L.broadcast_to(x, (2, 3)), Ints(3), id="int64"),
    Case("meshgrid", lambda L, x, y: L.meshgrid(x, y, indexing="ij"), Ints(2), Ints(3), id="int64"),
]

SORT_CASES = [
    Case("sort", lambda L, x: L.sort(x), F(3, 4), id="plain"),
    Case("sort", lambda L, x: x.sort(0, descending=True), F(3, 4), id="dim0_desc_method"),
    Case("sort", lambda L, x: L.sort(x.t(), dim=-1, stable=True), F(3, 4), id="nc_stable"),
    Case("sort", lambda L, x: L.sort(x), F(), id="0d"),
    Case("sort", lambda L, x: L.sort(x, 1, True).values, F(2, 5), id="positional_values"),
    Case("msort", lambda L, x: L.msort(x), F(4, 3)),
    Case("msort", lambda L, x: x.t().msort(), F(3, 4), id="nc_method"),
    Case("topk", lambda L, x: L.topk(x, 2), F(3, 5), id="plain"),
    Case("topk", lambda L, x: x.topk(3, dim=0, largest=False), F(4, 3), id="smallest_method"),
    Case("topk", lambda L, x: L.topk(x.t(), 1, -1, True, True), F(3, 4), id="nc_positional"),
    Case("topk", lambda L, x: L.topk(x, 5).values, F(5), id="all"),
    Case("kthvalue", lambda L, x: L.kthvalue(x, 2), F(3, 5), id="plain"),
    Case("kthvalue", lambda L, x: x.kthvalue(1, 0, keepdim=True), F(3, 4), id="dim0_keepdim_method"),
    Case("kthvalue", lambda L, x: L.kthvalue(x.t(), 3, dim=-1), F(4, 3), id="nc"),
    Case("median", lambda L, x: L.median(x), F(3, 5), id="all_odd"),
    Case("median", lambda L, x: x.median(), F(4), id="all_even_method"),
    Case("median", lambda L, x: L.median(x, 1), F(3, 4), id="dim_even"),
    Case("median", lambda L, x: x.median(dim=0, keepdim=True), F(3, 4), id="dim_keepdim_method"),
    Case("median", lambda L, x: L.median(x.t(), -1), F(3, 5), id="nc"),
    Case("median", lambda L, x: L.median(x), F(), id="0d"),
]
SORT_DTYPE_CASES = [
    Case("argsort", lambda L, x: L.argsort(x), F(3, 4), id="plain"),
    Case("argsort", lambda L, x: x.argsort(0, True), F(3, 4), id="desc_method"),
    Case("argsort", lambda L, x: L.argsort(x.t(), dim=1, stable=True), F(3, 4), id="nc_stable"),
    Case("sort", lambda L, x: L.sort(x, stable=True), Ints(3, 6), id="int64_ties_stable"),
    Case("sort", lambda L, x: L.sort(x, descending=True, stable=True), Mask(8), id="bool_stable"),
    Case("argsort", lambda L, x: L.argsort(x, stable=True), Ints(10), id="int64_ties_stable"),
    Case("argsort", lambda L, x: L.argsort(x, stable=True, descending=True), F(2, 6, kind="coarse"),
         id="float_ties_desc_stable"),
    Case("msort", lambda L, x: L.msort(x), Ints(4, 2), id="int64"),
    Case("topk", lambda L, x: L.topk(x, 2), Sorted(6, ints=True), id="int64"),
    Case("kthvalue", lambda L, x: L.kthvalue(x, 3), Sorted(5, ints=True), id="int64"),
    Case("median", lambda L, x: L.median(x), Ints(7), id="int64"),
    Case("unique", lambda L, x: L.unique(x), Ints(10), id="plain"),
    Case("unique", lambda L, x: x.unique(return_inverse=True), Ints(3, 4), id="inverse_method"),
    Case("unique", lambda L, x: L.unique(x, return_counts=True), F(10, kind="coarse"), id="counts_float"),
    Case("unique", lambda L, x: L.unique(x, True, True, True), Mask(6), id="all_bool"),
    Case("unique", lambda L, x: L.unique(x, dim=0), Const([[1, 2], [0, 1], [1, 2]]), id="dim0"),
    Case("unique", lambda L, x: L.unique(x.t(), return_inverse=True, dim=1), Const([[1, 2], [1, 2], [0, 3]]),
         id="dim1_nc_inverse"),
    Case("searchsorted", lambda L, s, x: L.searchsorted(s, x), Sorted(6), F(3, 4), id="plain"),
    Case("searchsorted", lambda L, s, x: L.searchsorted(s, x, right=True), Sorted(6, ints=True), Ints(5),
         id="right_int64"),
    Case("searchsorted", lambda L, s, x: L.searchsorted(s, x, side="right", out_int32=True), Sorted(6), F(4),
         id="side_int32"),
    Case("searchsorted", lambda L, s: L.searchsorted(s, 0.5), Sorted(6), id="scalar"),
    Case("searchsorted", lambda L, s, x, p: L.searchsorted(s, x, sorter=p), Const([3.0, 1.0, 2.0], np.float32),
         F(4), Const([1, 2, 0]), id="sorter"),
    Case("searchsorted", lambda L, s, x: L.searchsorted(s, x), Const([[1, 3, 5], [2, 4, 6]]),
         Const([[0, 3, 7], [4, 4, 1]]), id="batched"),
    Case("bucketize", lambda L, x, b: L.bucketize(x, b), F(3, 4), Sorted(5), id="plain"),
    Case("bucketize", lambda L, x, b: L.bucketize(x, b, right=True, out_int32=True), Ints(6), Sorted(5, ints=True),
         id="right_int32"),
    Case("bucketize", lambda L, x, b: L.bucketize(x.t(), b), F(3, 4), Sorted(3), id="nc"),
    Case("histc", lambda L, x: L.histc(x, 5), F(50), id="auto_range"),
    Case("histc", lambda L, x: x.histc(bins=4, min=-1, max=1), F(6, 5), id="range_method"),
    Case("histc", lambda L, x: L.histc(x, 3, 0, 3), Fixed([0.0, 1.0, 2.0, 3.0, 3.5, -1.0]), id="edges"),
    Case("bincount", lambda L, x: L.bincount(x), Ints(10, low=0, high=5), id="plain"),
    Case("bincount", lambda L, x, w: x.bincount(w), Ints(8, low=0, high=4), F(8), id="weights_method"),
    Case("bincount", lambda L, x: L.bincount(x, minlength=7), Ints(5, low=0, high=3), id="minlength"),
    Case("bincount", lambda L, x: L.bincount(x), Const([], np.int64), id="empty"),
]

STATS_CASES = []
for _name in ["amax", "amin", "logsumexp", "nansum", "nanmean"]:
    _all = _name not in ("logsumexp",)
    STATS_CASES += [
        Case(_name, lambda L, x, _n=_name: getattr(L, _n)(x, 1), F(3, 4), id="dim1"),
        Case(_name, lambda L, x, _n=_name: getattr(x, _n)((0, 2), keepdim=True), F(2, 3, 4), id="dims_keepdim_method"),
        Case(_name, lambda L, x, _n=_name: getattr(L, _n)(x.t(), dim=-1), F(3, 4), id="nc_kw"),
        Case(_name, lambda L, x, _n=_name: getattr(L, _n)(x, 0), F(), id="0d"),
    ]
    if _all:
        STATS_CASES.append(Case(_name, lambda L, x, _n=_name: getattr(L, _n)(x), F(3, 4), id="all"))
STATS_CASES += [
    Case("amax", lambda L, x: L.amax(x, 1), Fixed([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]]), id="ties"),
    Case("amin", lambda L, x: x.amin(()), F(2, 3), id="empty_dims"),
    Case("logsumexp", lambda L, x: L.logsumexp(x, (0, 1)), Fixed([[1000.0, 1000.0], [-5.0, 0.0]]), id="large"),
    Case("nansum", lambda L, x: L.nansum(x, 1), Fixed([[1.0, float("nan"), 2.0], [float("nan"), float("nan"), 0.5]]),
         id="nan"),
    Case("nansum", lambda L, x: L.nansum(x, dtype=L.float64), F(3, 4), id="dtype64"),
    Case("nanmean", lambda L, x: x.nanmean(0), Fixed([[1.0, float("nan")], [3.0, 4.0]]), id="nan_method"),
    Case("nanmean", lambda L, x: L.nanmean(x, dim=1, keepdim=True, dtype=L.float64), F(2, 3), id="dtype64"),
    Case("aminmax", lambda L, x: L.aminmax(x), F(3, 4), id="all"),
    Case("aminmax", lambda L, x: x.aminmax(dim=1), F(3, 4), id="dim_method"),
    Case("aminmax", lambda L, x: L.aminmax(x.t(), dim=0, keepdim=True), F(3, 4), id="nc_keepdim"),
    Case("aminmax", lambda L, x: L.aminmax(x).max, F(5), id="field"),
    Case("norm", lambda L, x: x.norm(), F(3, 4), id="fro"),
    Case("norm", lambda L, x: L.norm(x, dim=1), F(3, 4), id="dim"),
    Case("norm", lambda L, x: x.t().norm(p=1, dim=0, keepdim=True), F(3, 4, kind="away"), id="p1_nc"),
    Case("norm", lambda L, x: L.norm(x, 2, 0), F(2, 3), id="positional"),
    Case("norm", lambda L, x: L.norm(x, float("inf"), dim=(0, 1)), F(3, 4), id="inf"),
    Case("norm", lambda L, x: L.norm(x, 3.0), F(2, 3, 4), id="p3"),
    Case("norm", lambda L, x: L.norm(x, dtype=L.float64), F(3), id="dtype64"),
    Case("norm", lambda L, x: L.norm(x), F(), id="0d"),
    Case("norm", lambda L, x: L.norm(x, "fro", dim=(0, 1)), F(3, 4), id="str_fro"),
    Case("norm", lambda L, x: x.norm(p="fro"), F(2, 3), id="str_method"),
    Case("linalg_vector_norm", lambda L, x: L.linalg.vector_norm(x), F(3, 4), id="default"),
    Case("linalg_vector_norm", lambda L, x: L.linalg.vector_norm(x, 1, dim=1), F(3, 4, kind="away"), id="ord1_dim"),
    Case("linalg_vector_norm", lambda L, x: L.linalg.vector_norm(x, ord=float("inf"), dim=(0, 2), keepdim=True),
         F(2, 3, 4), id="inf_keepdim"),
    Case("linalg_vector_norm", lambda L, x: L.linalg.vector_norm(x.t(), -float("inf"), 0), F(3, 4), id="neginf_nc"),
    Case("linalg_vector_norm", lambda L, x: L.linalg.vector_norm(x, 3.5, dtype=L.float64), F(4), id="ord_dtype"),
    Case("std_mean", lambda L, x: L.std_mean(x), F(3, 4), id="all"),
    Case("std_mean", lambda L, x: L.std_mean(x, 1, keepdim=True), F(3, 4), id="dim_keepdim"),
    Case("std_mean", lambda L, x: L.std_mean(x.t(), dim=(0,), correction=0), F(3, 4), id="nc_correction"),
    Case("std_mean", lambda L, x: L.std_mean(x, 0, False), F(3, 4), id="unbiased_false"),
    Case("var_mean", lambda L, x: L.var_mean(x), F(3, 4), id="all"),
    Case("var_mean", lambda L, x: L.var_mean(x, (0, 2), keepdim=True), F(2, 3, 4), id="dims_keepdim"),
    Case("var_mean", lambda L, x: L.var_mean(x, dim=1, correction=2), F(3, 5), id="correction"),
]
STATS_DTYPE_CASES = []
for _name in ["all", "any"]:
    _fn = lambda L, x, _n=_name: getattr(L, _n)(x)  # noqa: E731
    STATS_DTYPE_CASES += [
        Case(_name, _fn, Mask(3, 4), id="bool_all"),
        Case(_name, lambda L, x, _n=_name: getattr(x, _n)(1), Mask(3, 4), id="dim_method"),
        Case(_name, lambda L, x, _n=_name: getattr(L, _n)(x, dim=(0, 2), keepdim=True), Mask(2, 3, 2),
             id="dims_keepdim"),
        Case(_name, lambda L, x, _n=_name: getattr(L, _n)(x, 0), F(3, 4, kind="coarse"), id="float"),
        Case(_name, lambda L, x, _n=_name: getattr(L, _n)(x.t(), -1), Ints(3, 4), id="int64_nc"),
        Case(_name, _fn, F(0, 2), id="empty"),
        Case(_name, _fn, Mask(), id="0d"),
    ]
STATS_DTYPE_CASES += [
    Case("count_nonzero", lambda L, x: L.count_nonzero(x), F(3, 4, kind="coarse"), id="all"),
    Case("count_nonzero", lambda L, x: x.count_nonzero(1), Ints(3, 4), id="dim_method"),
    Case("count_nonzero", lambda L, x: L.count_nonzero(x, dim=(0, 2)), Mask(2, 3, 2), id="dims_bool"),
    Case("count_nonzero", lambda L, x: L.count_nonzero(x.t(), 0), Ints(3, 4), id="nc"),
    Case("amax", lambda L, x: L.amax(x, 0), Ints(3, 4), id="int64"),
    Case("amin", lambda L, x: L.amin(x), Mask(3, 4), id="bool"),
    Case("aminmax", lambda L, x: L.aminmax(x, dim=0), Ints(3, 4), id="int64"),
    Case("nansum", lambda L, x: L.nansum(x), Ints(3, 4), id="int64"),
    Case("nanmean", lambda L, x: L.nanmean(x), Ints(3, 4), id="int64", mirror=True),
    Case("logsumexp", lambda L, x: L.logsumexp(x, 0), Ints(3, 4), id="int64"),
    Case("norm", lambda L, x: L.norm(x), Ints(3), id="int64", mirror=True),
    Case("std_mean", lambda L, x: L.std_mean(x), Ints(3), id="int64", mirror=True),
]

# Python-level functions of ember (ember.functional)
FUNCTIONAL_CASES = [
    Case("atleast_1d", lambda L, x: L.atleast_1d(x), F(), id="0d"),
    Case("atleast_1d", lambda L, x, y: L.atleast_1d(x, y), F(3), F(2, 2), id="two"),
    Case("atleast_2d", lambda L, x: L.atleast_2d(x), F(3), id="1d"),
    Case("atleast_2d", lambda L, x, y: L.atleast_2d((x, y)), F(), F(2, 3), id="tuple"),
    Case("atleast_3d", lambda L, x: L.atleast_3d(x), F(3), id="1d"),
    Case("atleast_3d", lambda L, x, y: L.atleast_3d(x, y), F(2, 3), F(), id="two"),
    Case("block_diag", lambda L, x, y: L.block_diag(x, y), F(2, 3), F(1, 2), id="2d"),
    Case("block_diag", lambda L, x, y, z: L.block_diag(x, y, z), F(2), F(), F(2, 2), id="mixed"),
    Case("broadcast_tensors", lambda L, x, y: L.broadcast_tensors(x, y), F(3, 1), F(4), id="two"),
    Case("broadcast_tensors", lambda L, x, y, z: L.broadcast_tensors(x, y, z), F(2, 1, 1), F(3, 1), F(), id="three"),
    Case("cartesian_prod", lambda L, x, y: L.cartesian_prod(x, y), F(2), F(3), id="two"),
    Case("cartesian_prod", lambda L, x: L.cartesian_prod(x), F(3), id="one"),
    Case("cdist", lambda L, x, y: L.cdist(x, y), F(3, 2), F(4, 2), id="p2"),
    Case("cdist", lambda L, x, y: L.cdist(x, y, p=1.0), F(2, 3, 2), F(2, 4, 2), id="p1_batched"),
    Case("chain_matmul", lambda L, a, b, c: L.chain_matmul(a, b, c), F(2, 3), F(3, 4), F(4, 2)),
    Case("corrcoef", lambda L, x: L.corrcoef(x), F(3, 6)),
    Case("corrcoef", lambda L, x: L.corrcoef(x), F(5), id="1d"),
    Case("cov", lambda L, x: L.cov(x), F(3, 6), id="plain"),
    Case("cov", lambda L, x: L.cov(x, correction=0), F(5), id="1d_correction0"),
    Case("cov", lambda L, x, w: L.cov(x, aweights=w), F(2, 5), F(5, kind="pos"), id="aweights"),
    Case("cov", lambda L, x, f: L.cov(x, fweights=f), F(2, 5), Ints(5, low=1, high=4), id="fweights"),
    Case("cumulative_trapezoid", lambda L, y: L.cumulative_trapezoid(y), F(3, 5), id="plain"),
    Case("cumulative_trapezoid", lambda L, y, x: L.cumulative_trapezoid(y, x, dim=0), F(4, 2), Sorted(4), id="x_dim0"),
    Case("cumulative_trapezoid", lambda L, y: L.cumulative_trapezoid(y, dx=0.5), F(5), id="dx"),
    Case("diff", lambda L, x: L.diff(x), F(5), id="1d"),
    Case("diff", lambda L, x: L.diff(x, n=2, dim=0), F(4, 3), id="n2_dim0"),
    Case("diff", lambda L, x, p, a: L.diff(x, prepend=p, append=a), F(2, 3), F(2, 1), F(2, 2), id="pend"),
    Case("einsum", lambda L, x, y: L.einsum("ij,jk->ik", x, y), F(2, 3), F(3, 4), id="matmul"),
    Case("einsum", lambda L, x: L.einsum("ii->i", x), F(3, 3), id="diag"),
    Case("einsum", lambda L, x, y: L.einsum("bij,bj->bi", [x, y]), F(2, 3, 4), F(2, 4), id="list"),
    Case("einsum", lambda L, x: L.einsum("...ij->...ji", x), F(2, 3, 4), id="ellipsis"),
    Case("gradient", lambda L, x: L.gradient(x), F(5), id="1d"),
    Case("gradient", lambda L, x: L.gradient(x, spacing=2.0, dim=1), F(3, 4), id="spacing_dim"),
    Case("gradient", lambda L, x: L.gradient(x, edge_order=2), F(3, 4), id="edge2"),
    Case("pdist", lambda L, x: L.pdist(x), F(4, 3), id="p2"),
    Case("pdist", lambda L, x: L.pdist(x, p=1), F(3, 2), id="p1"),
    Case("tensordot", lambda L, x, y: L.tensordot(x, y), F(2, 3, 4), F(3, 4, 2), id="dims2"),
    Case("tensordot", lambda L, x, y: L.tensordot(x, y, dims=([0], [1])), F(3, 4), F(2, 3), id="lists"),
    Case("tensordot", lambda L, x, y: L.tensordot(x, y, 0), F(2), F(3), id="outer"),
    Case("trapezoid", lambda L, y: L.trapezoid(y), F(3, 5), id="plain"),
    Case("trapezoid", lambda L, y, x: L.trapezoid(y, x), F(5), Sorted(5), id="x"),
    Case("trapezoid", lambda L, y: L.trapezoid(y, dx=0.5, dim=0), F(4, 3), id="dx_dim"),
    Case("trapz", lambda L, y: L.trapz(y), F(3, 5), id="plain"),
    Case("trapz", lambda L, y, x: L.trapz(y, x, dim=0), F(4, 2), Sorted(4), id="x_dim"),
]
FUNCTIONAL_DTYPE_CASES = [
    Case("broadcast_shapes", lambda L: L.broadcast_shapes((3, 1), (4,), (2, 1, 1)), id="three"),
    Case("broadcast_shapes", lambda L: L.broadcast_shapes(5, (1,)), id="int"),
    Case("unravel_index", lambda L, i: L.unravel_index(i, (3, 4)), Const([0, 5, 11]), id="plain"),
    Case("unravel_index", lambda L, i: L.unravel_index(i, (2, 3, 2)), Const(7), id="0d"),
    Case("vander", lambda L, x: L.vander(x, 3), Ints(3), id="int64"),
    # torch's own vander backward raises ("modified by an inplace operation"): forward only
    Case("vander", lambda L, x: L.vander(x), F(4), id="plain"),
    Case("vander", lambda L, x: L.vander(x, N=3, increasing=True), F(4), id="n_increasing"),
    Case("einsum", lambda L, x, y: L.einsum("i,i->", x, y), Ints(3), Ints(3), id="int64"),
    Case("block_diag", lambda L, x, y: L.block_diag(x, y), Ints(2, 2), Ints(1), id="int64"),
    Case("cartesian_prod", lambda L, x, y: L.cartesian_prod(x, y), Ints(2), Ints(2), id="int64"),
    Case("diff", lambda L, x: L.diff(x), Ints(5), id="int64"),
    Case("diff", lambda L, x: L.diff(x), Mask(4), id="bool"),
]

# >>> ember._extras rows (src/ember/_extras.py: hstack ... can_cast, torch's top-level nn.functional aliases) >>>
EXTRAS_CASES = [
    Case("diagonal_scatter", lambda L, x, s: L.diagonal_scatter(x, s), F(3, 3), F(3), id="main"),
    Case("diagonal_scatter", lambda L, x, s: x.diagonal_scatter(s, 1, 1, 2), F(2, 3, 4), F(2, 3),
         id="offset_dims_method"),
    Case("select_scatter", lambda L, x, s: L.select_scatter(x, s, 0, 1), F(3, 4), F(4), id="row"),
    Case("select_scatter", lambda L, x, s: x.t().select_scatter(s, 1, -1), F(3, 4), F(4), id="nc_method"),
    Case("slice_scatter", lambda L, x, s: L.slice_scatter(x, s, 1, 1, 3), F(3, 4), F(3, 2), id="cols"),
    Case("slice_scatter", lambda L, x, s: x.slice_scatter(s, step=2), F(4, 3), F(2, 3), id="step_method"),
    Case("ldexp", lambda L, x, e: x.ldexp(e), F(4), F(4, kind="coarse"), id="float_exp_method"),
    # (integer exponents >= 0: torch 2.13's gradient is 0 where one is negative, 2 ** e computed in integers)
    Case("ldexp", lambda L, x, e: L.ldexp(x, e), F(3, 4), Ints(4, low=0, high=4), id="int_exp"),
    Case("linalg_vander", lambda L, x: L.linalg.vander(x), F(4), id="square"),
    Case("linalg_vander", lambda L, x: L.linalg.vander(x, N=3), F(2, 4, kind="unit"), id="batched_N"),
    Case("adjoint", lambda L, x: L.adjoint(x), F(2, 3, 4), id="batched"),
    Case("frexp", lambda L, x: L.frexp(x), F(3, 4), id="plain"),
    Case("frexp", lambda L, x: x.frexp(), Fixed([0.3, 0.75, -3.5, 1e-3, -6.1e5]), id="fixed_method"),
    Case("fill_diagonal_", lambda L, x: x.clone().fill_diagonal_(5.0), F(3, 4), id="wide"),
    Case("fill_diagonal_", lambda L, x: x.clone().fill_diagonal_(-1, wrap=True), F(7, 3), id="tall_wrap"),
    Case("fill_diagonal_", lambda L, x: x.clone().fill_diagonal_(2, False), F(7, 3), id="tall"),
    Case("fill_diagonal_", lambda L, x: x.clone().fill_diagonal_(1), F(2, 2, 2), id="3d"),
    Case("matrix_power", lambda L, a: L.matrix_power(a, 3), F(3, 3, kind="unit"), id="cube"),
    Case("matrix_power", lambda L, a: a.matrix_power(2), F(2, 3, 3, kind="unit"), id="batched_method"),
    Case("pinverse", lambda L, a: L.pinverse(a), F(4, 3), id="tall"),
    Case("pinverse", lambda L, a: a.pinverse(rcond=1e-6), F(3, 5), id="wide_method"),
    Case("where", lambda L, x, c, y: x.where(c, y), F(3, 4), Mask(3, 4), F(4), id="method"),
    Case("hstack", lambda L, x, y: L.hstack([x, y]), F(2, 3), F(2, 2), id="2d"),
    Case("hstack", lambda L, x, y: L.hstack((x, y)), F(3), F(2), id="1d"),
    Case("vstack", lambda L, x, y: L.vstack([x, y]), F(3), F(2, 3), id="mixed"),
    Case("row_stack", lambda L, x, y: L.row_stack([x, y]), F(2, 3), F(1, 3), id="2d"),
    Case("dstack", lambda L, x, y: L.dstack([x, y]), F(2, 3), F(2, 3), id="2d"),
    Case("column_stack", lambda L, x, y: L.column_stack([x, y]), F(3), F(3, 2), id="mixed"),
    Case("tensor_split", lambda L, x: L.tensor_split(x, 3, dim=1), F(2, 7), id="sections"),
    Case("tensor_split", lambda L, x: L.tensor_split(x, [1, 3]), F(5, 2), id="indices"),
    Case("hsplit", lambda L, x: L.hsplit(x, 2), F(3, 4), id="int"),
    Case("hsplit", lambda L, x: L.hsplit(x, [1, 3]), F(2, 5), id="array"),
    Case("vsplit", lambda L, x: L.vsplit(x, 2), F(4, 3), id="int"),
    Case("vsplit", lambda L, x: L.vsplit(x, [1]), F(3, 2), id="array"),
    Case("dsplit", lambda L, x: L.dsplit(x, 2), F(2, 2, 4), id="int"),
    Case("dsplit", lambda L, x: L.dsplit(x, [1, 2]), F(2, 2, 3), id="array"),
    Case("split_with_sizes", lambda L, x: L.split_with_sizes(x, [1, 3], 1), F(2, 4), id="dim1"),
    Case("trace", lambda L, x: L.trace(x), F(3, 4), id="wide"),
    Case("diagflat", lambda L, x: L.diagflat(x), F(3), id="1d"),
    Case("diagflat", lambda L, x: L.diagflat(x, -1), F(2, 2), id="2d_offset"),
    Case("deg2rad", lambda L, x: L.deg2rad(x), F(2, 3), id="plain"),
    Case("rad2deg", lambda L, x: L.rad2deg(x), F(2, 3), id="plain"),
    Case("sinc", lambda L, x: L.sinc(x), F(3, 4), id="plain"),
    Case("sinc", lambda L, x: L.sinc(x), Fixed([0.0, 0.5, -1.5, 1.0]), id="zero"),
    Case("fmax", lambda L, x, y: L.fmax(x, y), F(3, 4), F(4), id="bcast"),
    Case("fmin", lambda L, x, y: L.fmin(x, y), F(3, 4), F(4), id="bcast"),
    Case("float_power", lambda L, x, y: L.float_power(x, y), F(3, kind="pos"), F(3), id="tensor"),
    Case("float_power", lambda L, x: L.float_power(x, 2.5), F(2, 3, kind="pos"), id="scalar"),
    Case("dist", lambda L, x, y: L.dist(x, y), F(3, 4), F(4), id="p2"),
    Case("dist", lambda L, x, y: L.dist(x, y, 1), F(5), F(5), id="p1"),
    Case("renorm", lambda L, x: L.renorm(x, 2, 0, 1.0), F(3, 4), id="p2_dim0"),
    Case("renorm", lambda L, x: L.renorm(x, 1, 1, 2.0), F(3, 4), id="p1_dim1"),
    Case("quantile", lambda L, x: L.quantile(x, 0.3), F(3, 5), id="all"),
    Case("quantile", lambda L, x: L.quantile(x, L.tensor([0.25, 0.9], dtype=x.dtype), dim=1, keepdim=True), F(3, 5),
         id="tensor_q_dim"),
    Case("quantile", lambda L, x: L.quantile(x, 0.4, 0, interpolation="midpoint"), F(4, 3), id="midpoint"),
    Case("nanquantile", lambda L, x: L.nanquantile(x, 0.5, dim=-1, interpolation="lower"), F(2, 5), id="lower"),
    Case("nanquantile", lambda L, x: L.nanquantile(x, L.tensor(0.7, dtype=x.dtype), interpolation="higher"),
         F(6), id="tensor_q_higher"),
    Case("nanmedian", lambda L, x: L.nanmedian(x), F(5), id="all"),
    Case("nanmedian", lambda L, x: L.nanmedian(x, 1), F(3, 4), id="dim"),
    Case("mode", lambda L, x: L.mode(x), F(2, 5), id="distinct"),  # ties: test_extras.py (no finite differences)
    Case("celu", lambda L, x: L.celu(x, 0.5), F(3, 4)),
    Case("selu", lambda L, x: L.selu(x), F(3, 4)),
    Case("threshold", lambda L, x: L.threshold(x, 0.1, -1.0), F(3, 4)),
    Case("hardshrink", lambda L, x: L.hardshrink(x, 0.3), F(3, 4)),
    Case("prelu", lambda L, x, w: L.prelu(x, w), F(2, 3, 4), F(3)),
    Case("embedding", lambda L, w, i: L.embedding(w, i), F(5, 3), Const([[0, 4], [2, 2]])),
    Case("layer_norm", lambda L, x, w, b: L.layer_norm(x, [4], w, b), F(2, 3, 4), F(4), F(4)),
    Case("batch_norm", lambda L, x, w, b: L.batch_norm(x, w, b, None, None, True, 0.1, 1e-5, False), F(4, 3), F(3),
         F(3)),
    Case("bilinear", lambda L, a, b, w, c: L.bilinear(a, b, w, c), F(2, 3), F(2, 4), F(5, 3, 4), F(5)),
    Case("cosine_similarity", lambda L, x, y: L.cosine_similarity(x, y), F(3, 4), F(3, 4)),
    Case("pairwise_distance", lambda L, x, y: L.pairwise_distance(x, y), F(3, 4), F(3, 4)),
    Case("kl_div", lambda L, x, y: L.kl_div(x.log_softmax(1), y.softmax(1), 2), F(3, 4), F(3, 4)),
    Case("margin_ranking_loss", lambda L, x, y, t: L.margin_ranking_loss(x, y, t, 0.1, 1), F(5), F(5),
         Const([1.0, -1.0, 1.0, -1.0, 1.0], np.float32)),
    Case("triplet_margin_loss", lambda L, a, p, n: L.triplet_margin_loss(a, p, n), F(3, 4), F(3, 4), F(3, 4)),
    Case("poisson_nll_loss", lambda L, x, y: L.poisson_nll_loss(x, y, True, False, 1e-8, 1), F(3, 4),
         F(3, 4, kind="pos")),
    Case("hinge_embedding_loss", lambda L, x, t: L.hinge_embedding_loss(x, t), F(4),
         Const([1.0, -1.0, -1.0, 1.0], np.float32)),
    Case("cosine_embedding_loss", lambda L, x, y, t: L.cosine_embedding_loss(x, y, t, 0.2, 2), F(3, 4), F(3, 4),
         Const([1.0, -1.0, 1.0], np.float32)),
    Case("binary_cross_entropy_with_logits", lambda L, x, y: L.binary_cross_entropy_with_logits(x, y),
         F(3, 4), F(3, 4, kind="prob")),
    Case("dropout", lambda L, x: L.dropout(x, 0.5, False), F(3, 4), id="eval"),
    Case("alpha_dropout", lambda L, x: L.alpha_dropout(x, 0.5, False), F(3, 4), id="eval"),
    Case("rrelu", lambda L, x: L.rrelu(x), F(3, 4), id="eval"),
]
EXTRAS_DTYPE_CASES = [  # (NaN inputs of fmax/quantile/nanmedian: test_extras.py, torch differentiates them)
    Case("deg2rad", lambda L, x: L.deg2rad(x), Ints(4), id="int64"),
    Case("trace", lambda L, x: L.trace(x), Ints(3, 3), id="int64"),
    Case("heaviside", lambda L, x, v: L.heaviside(x, v), F(3, 4, kind="coarse"), F(4), id="plain"),
    Case("isin", lambda L, x, y: L.isin(x, y), Ints(3, 4), Const([0, 2, 7]), id="plain"),
    Case("isin", lambda L, x, y: L.isin(x, y, invert=True), Ints(5), Const([1, -1]), id="invert"),
    Case("logspace", lambda L: L.logspace(0, 2, 5), id="plain"),
    Case("logspace", lambda L: L.logspace(-1.0, 1.0, 4, base=2.0, dtype=L.float64), id="base_dtype"),
    Case("mode", lambda L, x: L.mode(x, 0, keepdim=True), Const([[1, 2], [1, 3], [2, 3]]), id="int64_dim0"),
    Case("tril_indices", lambda L: L.tril_indices(3, 4), id="plain"),
    Case("tril_indices", lambda L: L.tril_indices(4, 3, -1), id="offset"),
    Case("triu_indices", lambda L: L.triu_indices(3, 3), id="plain"),
    Case("triu_indices", lambda L: L.triu_indices(3, 5, 2), id="offset"),
    Case("range", lambda L: L.range(0, 4), id="ints"),
    Case("range", lambda L: L.range(1.0, 2.0, 0.25, dtype=L.float64), id="step"),
    Case("scalar_tensor", lambda L: L.scalar_tensor(3), id="int"),
    Case("scalar_tensor", lambda L: L.scalar_tensor(2.5, dtype=L.float64), id="dtype"),
    Case("is_nonzero", lambda L, x: L.is_nonzero(x), Const([0]), id="zero"),
    Case("is_nonzero", lambda L, x: L.is_nonzero(x), Fixed([1.5]), id="float"),
    Case("is_signed", lambda L, x: L.is_signed(x), Mask(3), id="bool"),
    Case("is_signed", lambda L, x: L.is_signed(x), F(3), id="float"),
    Case("is_complex", lambda L, x: L.is_complex(x), F(3), id="float"),
    Case("promote_types", lambda L: L.zeros(0, dtype=L.promote_types(L.int64, L.float32)), id="int_float"),
    Case("promote_types", lambda L: L.zeros(0, dtype=L.promote_types(L.bool, L.int64)), id="bool_int"),
    Case("result_type", lambda L, x, y: L.zeros(0, dtype=L.result_type(x, y)), Ints(3), F(), id="tensor_0d"),
    Case("result_type", lambda L, x: L.zeros(0, dtype=L.result_type(x, 2.5)), Ints(3), id="scalar"),
    Case("can_cast", lambda L: L.can_cast(L.float64, L.float32), id="down"),
    Case("can_cast", lambda L: L.can_cast(L.float32, L.int64), id="float_int"),
]
FUNCTIONAL_CASES += EXTRAS_CASES
FUNCTIONAL_DTYPE_CASES += EXTRAS_DTYPE_CASES
# <<< ember._extras rows <<<

# More rows for the same ops: other shapes, 0-d, non-contiguous views, int64 / bool, keywords.
EXTRAS_MORE_CASES = [
    Case("hstack", lambda L, x, y: L.hstack([x.t(), y]), F(3, 2), F(2, 1), id="nc_t"),
    Case("hstack", lambda L, x, y: L.hstack([x, y]), F(), F(2), id="0d"),
    Case("vstack", lambda L, x, y: L.vstack((x.t(), y)), F(3, 2), F(1, 3), id="nc_t"),
    Case("vstack", lambda L, x, y: L.vstack([x, y]), F(), F(), id="0d"),
    Case("row_stack", lambda L, x, y: L.row_stack((x, y[::2])), F(3), F(6), id="1d_nc"),
    Case("dstack", lambda L, x, y: L.dstack([x, y]), F(3), F(3), id="1d"),
    Case("dstack", lambda L, x, y: L.dstack([x.t(), y]), F(3, 2), F(2, 3, 2), id="nc_3d"),
    Case("column_stack", lambda L, x, y: L.column_stack([x, y.t()]), F(3), F(2, 3), id="nc_t"),
    Case("column_stack", lambda L, x, y: L.column_stack([x, y]), F(), F(1), id="0d"),
    Case("tensor_split", lambda L, x: x.tensor_split(2), F(5), id="sections_method"),
    Case("tensor_split", lambda L, x: L.tensor_split(x.t(), [1], dim=-1), F(4, 3), id="indices_nc"),
    Case("tensor_split", lambda L, x: L.tensor_split(x, 4, 0), F(2, 3), id="more_sections_than_rows"),
    Case("hsplit", lambda L, x: x.hsplit(3), F(6), id="1d_method"),
    Case("vsplit", lambda L, x: x.t().vsplit([2]), F(2, 4), id="nc_method"),
    Case("dsplit", lambda L, x: x.dsplit(1), F(1, 2, 2), id="one_method"),
    Case("split_with_sizes", lambda L, x: x.split_with_sizes([2, 1]), F(3, 2), id="dim0_method"),
    Case("split_with_sizes", lambda L, x: L.split_with_sizes(x.t(), [1, 1, 2], dim=-1), F(4, 2), id="nc"),
    Case("trace", lambda L, x: x.trace(), F(4, 3), id="tall_method"),
    Case("trace", lambda L, x: L.trace(x.t()), F(3, 3), id="nc"),
    Case("diagflat", lambda L, x: x.diagflat(offset=2), F(2), id="offset_method"),
    Case("diagflat", lambda L, x: L.diagflat(x), F(), id="0d"),
    Case("diagflat", lambda L, x: L.diagflat(x.t()), F(2, 3), id="nc"),
    Case("deg2rad", lambda L, x: x.deg2rad(), F(2, 3, 4), id="3d_method"),
    Case("deg2rad", lambda L, x: L.deg2rad(x.t()), F(3, 4), id="nc_t"),
    Case("deg2rad", lambda L, x: L.deg2rad(x), F(), id="0d"),
    Case("rad2deg", lambda L, x: x.rad2deg(), F(5), id="method"),
    Case("rad2deg", lambda L, x: L.rad2deg(x[::2]), F(6, 2), id="nc"),
    Case("rad2deg", lambda L, x: L.rad2deg(x), F(), id="0d"),
    Case("sinc", lambda L, x: x.sinc(), F(2, 3), id="method"),
    Case("sinc", lambda L, x: L.sinc(x.t()), F(3, 2), id="nc_t"),
    Case("sinc", lambda L, x: L.sinc(x), F(), id="0d"),
    Case("fmax", lambda L, x, y: x.fmax(y), F(3, 4), F(3, 4), id="same_method"),
    Case("fmax", lambda L, x, y: L.fmax(x.t(), y), F(4, 3), F(3, 1), id="nc_bcast"),
    Case("fmax", lambda L, x, y: L.fmax(x, y), F(), F(2), id="0d"),
    Case("fmin", lambda L, x, y: x.fmin(y), F(3, 4), F(3, 4), id="same_method"),
    Case("fmin", lambda L, x, y: L.fmin(x.t(), y), F(4, 3), F(3, 1), id="nc_bcast"),
    Case("fmin", lambda L, x, y: L.fmin(x, y), F(), F(2), id="0d"),
    Case("fmin", lambda L, x, y: L.fmin(x, y), Ints(3), F(3), id="int_float"),
    Case("float_power", lambda L, x, y: x.float_power(y), F(3, 4, kind="pos"), F(4), id="bcast_method"),
    Case("float_power", lambda L, x: L.float_power(x.t(), 2), F(3, 2), id="nc_int_exponent"),
    Case("float_power", lambda L, x, y: L.float_power(x, y), Ints(3, low=1, high=4), F(3), id="int_float"),
    Case("dist", lambda L, x, y: x.dist(y, p=3), F(2, 3), F(2, 3), id="p3_method"),
    Case("dist", lambda L, x, y: L.dist(x.t(), y, float("inf")), F(3, 2), F(2, 3), id="inf_nc"),
    Case("dist", lambda L, x, y: L.dist(x, y), F(), F(3), id="0d_bcast"),
    Case("renorm", lambda L, x: x.renorm(2, 1, 0.5), F(2, 3, 4), id="3d_method"),
    Case("renorm", lambda L, x: L.renorm(x.t(), p=1, dim=0, maxnorm=1.0), F(3, 4), id="nc_kw"),
    Case("quantile", lambda L, x: x.quantile(0.75, dim=0), F(5, 2), id="dim0_method"),
    Case("quantile", lambda L, x: L.quantile(x.t(), 0.5, -1, True, interpolation="nearest"), F(4, 3),
         id="nc_nearest"),
    Case("quantile", lambda L, x: L.quantile(x, 0.2, interpolation="lower"), F(), id="0d"),
    Case("nanquantile", lambda L, x: x.nanquantile(0.5), F(3, 4), id="all_method"),
    Case("nanquantile", lambda L, x: L.nanquantile(x.t(), 0.3, 0), F(3, 5), id="nc_dim"),
    Case("nanmedian", lambda L, x: x.nanmedian(0, keepdim=True), F(3, 4), id="dim_keepdim_method"),
    Case("nanmedian", lambda L, x: L.nanmedian(x.t(), -1), F(3, 4), id="nc"),
    Case("nanmedian", lambda L, x: L.nanmedian(x), F(), id="0d"),
    Case("mode", lambda L, x: x.mode(0), F(3, 4), id="dim0_method"),
    Case("mode", lambda L, x: L.mode(x.t(), keepdim=True), F(3, 4), id="nc_keepdim"),
    Case("celu", lambda L, x: L.celu(x.t()), F(3, 4), id="nc_default"),
    Case("celu", lambda L, x: L.celu(x, alpha=2.0), F(), id="0d_kw"),
    Case("selu", lambda L, x: L.selu(x[::2]), F(4, 3), id="nc"),
    Case("selu", lambda L, x: L.selu(x), F(2, 3, 4), id="3d"),
    Case("threshold", lambda L, x: L.threshold(x.t(), 0.0, 2.0), F(3, 4, kind="away"), id="nc"),
    Case("hardshrink", lambda L, x: L.hardshrink(x), F(2, 3, 4, kind="away"), id="default_3d"),
    Case("prelu", lambda L, x, w: L.prelu(x.t(), w), F(3, 4), F(1), id="nc_single_weight"),
    Case("embedding", lambda L, w, i: L.embedding(w.t(), i), F(3, 5), Const([4, 0, 4]), id="nc_1d_dup"),
    Case("layer_norm", lambda L, x: L.layer_norm(x.t(), (3,)), F(3, 4), id="nc_no_affine"),
    Case("cosine_similarity", lambda L, x, y: L.cosine_similarity(x, y, dim=0), F(4, 3), F(4, 1), id="dim0_bcast"),
    Case("pairwise_distance", lambda L, x, y: L.pairwise_distance(x.t(), y, p=1.0), F(4, 3), F(4), id="nc_p1"),
]
EXTRAS_MORE_DTYPE_CASES = [
    Case("frexp", lambda L, x: L.frexp(x), Ints(3), id="int", mirror=True),
    Case("linalg_vander", lambda L, x: L.linalg.vander(x, N=2), Ints(3), id="int"),
    Case("hann_window", lambda L: L.hann_window(5), id="periodic"),
    Case("hann_window", lambda L: L.hann_window(6, periodic=False, dtype=L.float64), id="symmetric_f64"),
    Case("hann_window", lambda L: L.hann_window(1), id="one"),
    Case("hann_window", lambda L: L.hann_window(0), id="empty"),
    Case("hamming_window", lambda L: L.hamming_window(7), id="default"),
    Case("hamming_window", lambda L: L.hamming_window(4, False, 0.5, 0.5, dtype=L.float64), id="alpha_beta"),
    Case("hamming_window", lambda L: L.hamming_window(5, False), id="symmetric"),
    Case("hamming_window", lambda L: L.hamming_window(5, True, 0.6), id="alpha"),
    Case("blackman_window", lambda L: L.blackman_window(8, dtype=L.float64), id="default"),
    Case("blackman_window", lambda L: L.blackman_window(5, periodic=False), id="symmetric"),
    Case("bartlett_window", lambda L: L.bartlett_window(5), id="default"),
    Case("bartlett_window", lambda L: L.bartlett_window(6, False), id="symmetric"),
    Case("kaiser_window", lambda L: L.kaiser_window(6), id="default"),
    Case("kaiser_window", lambda L: L.kaiser_window(6, False), id="symmetric"),
    Case("kaiser_window", lambda L: L.kaiser_window(5, False, beta=5.0, dtype=L.float64), id="beta"),
    Case("hann_window", lambda L: L.hann_window(3, dtype=L.int64), id="int_dtype", mirror=True),
    Case("gcd", lambda L, x, y: L.gcd(x, y), Ints(3, 4, low=-20, high=20), Ints(4, low=-9, high=9), id="bcast"),
    Case("gcd", lambda L, x, y: x.gcd(y), Const([0, 6, -4]), Const([0, 4, 6]), id="zeros_method"),
    Case("gcd", lambda L, x, y: L.gcd(x, y), F(3), F(3), id="float", mirror=True),
    Case("lcm", lambda L, x, y: L.lcm(x, y), Ints(3, 4, low=-20, high=20), Ints(4, low=-9, high=9), id="bcast"),
    Case("lcm", lambda L, x, y: x.lcm(y), Const([0, 6, -4]), Const([0, 4, 6]), id="zeros_method"),
    Case("unique_consecutive", lambda L, x: L.unique_consecutive(x), Const([1, 1, 2, 2, 3, 1, 1, 2]), id="plain"),
    Case("unique_consecutive", lambda L, x: L.unique_consecutive(x, return_inverse=True, return_counts=True),
         Const([[1, 1], [2, 2], [2, 2]]), id="inverse_counts_2d"),
    Case("unique_consecutive", lambda L, x: L.unique_consecutive(x, return_counts=True, dim=0),
         Const([[1, 2], [1, 2], [3, 4], [1, 2]]), id="dim0_counts"),
    Case("unique_consecutive", lambda L, x: L.unique_consecutive(x), Const([], np.int64), id="empty"),
    Case("hstack", lambda L, x, y: L.hstack([x, y]), Ints(2), Mask(3), id="int_bool"),
    Case("vstack", lambda L, x, y: L.vstack([x, y]), Ints(2, 2), Ints(2), id="int64"),
    Case("dstack", lambda L, x, y: L.dstack([x, y]), Mask(2), Mask(2), id="bool"),
    Case("column_stack", lambda L, x, y: L.column_stack([x, y]), Ints(3), Ints(3), id="int64"),
    Case("row_stack", lambda L, x, y: L.row_stack([x, y]), Ints(3), Ints(3), id="int64"),
    Case("tensor_split", lambda L, x: L.tensor_split(x, 2), Ints(5), id="int64"),
    Case("hsplit", lambda L, x: L.hsplit(x, 2), Mask(2, 4), id="bool"),
    Case("vsplit", lambda L, x: L.vsplit(x, 2), Ints(4, 2), id="int64"),
    Case("dsplit", lambda L, x: L.dsplit(x, [1]), Ints(1, 2, 3), id="int64"),
    Case("split_with_sizes", lambda L, x: L.split_with_sizes(x, [1, 2]), Ints(3), id="int64"),
    Case("trace", lambda L, x: L.trace(x), Mask(3, 3), id="bool", mirror=True),
    Case("diagflat", lambda L, x: L.diagflat(x), Ints(3), id="int64"),
    Case("rad2deg", lambda L, x: L.rad2deg(x), Ints(3), id="int64"),
    Case("rad2deg", lambda L, x: L.rad2deg(x), Mask(3), id="bool", mirror=True),
    Case("deg2rad", lambda L, x: L.deg2rad(x), Mask(3), id="bool", mirror=True),
    Case("sinc", lambda L, x: L.sinc(x), Ints(4), id="int64"),
    Case("fmax", lambda L, x, y: L.fmax(x, y), Ints(3, 4), Ints(4), id="int64"),
    Case("float_power", lambda L, x: L.float_power(x, 2), Ints(4), id="int64"),
    Case("heaviside", lambda L, x, v: x.heaviside(v), Ints(3, 4), Ints(4), id="int64_method"),
    Case("heaviside", lambda L, x, v: L.heaviside(x.t(), v), F(4, 3, kind="coarse"), F(), id="nc_0d_values"),
    Case("heaviside", lambda L, x, v: L.heaviside(x, v), F(3, kind="coarse"), Ints(3), id="float_int", mirror=True),
    Case("isin", lambda L, x, y: L.isin(x, y), F(3, 4, kind="coarse"), F(3, kind="coarse"), id="float"),
    Case("isin", lambda L, x, y: L.isin(x.t(), y, assume_unique=True), Ints(3, 4), Const([0, 1]), id="nc_unique"),
    Case("isin", lambda L, x, y: L.isin(x, y), Ints(), Ints(4), id="0d"),
    Case("mode", lambda L, x: L.mode(x), Mask(2, 5), id="bool"),
    Case("nanmedian", lambda L, x: L.nanmedian(x), Ints(5), id="int64"),
    Case("quantile", lambda L, x: L.quantile(x, 0.5), Ints(5), id="int64", mirror=True),
    Case("dist", lambda L, x, y: L.dist(x, y), Ints(3), Ints(3), id="int64", mirror=True),
    Case("renorm", lambda L, x: L.renorm(x, 2, 0, 1.0), Ints(2, 2), id="int64", mirror=True),
    Case("is_nonzero", lambda L, x: L.is_nonzero(x), Mask(), id="bool_0d"),
    Case("is_signed", lambda L, x: x.is_signed(), Ints(2), id="int64_method"),
    Case("is_complex", lambda L, x: x.is_complex(), Ints(2), id="int64_method"),
    Case("scalar_tensor", lambda L: L.scalar_tensor(True), id="bool"),
    Case("range", lambda L: L.range(3, -1, -1), id="negative_step"),
    Case("logspace", lambda L: L.logspace(1, 1, 1), id="one_step"),
    Case("tril_indices", lambda L: L.tril_indices(1, 1), id="1x1"),
    Case("triu_indices", lambda L: L.triu_indices(4, 2, -1), id="neg_offset"),
]
FUNCTIONAL_CASES += EXTRAS_MORE_CASES
FUNCTIONAL_DTYPE_CASES += EXTRAS_MORE_DTYPE_CASES


# ---------------------------------------------------------------------------------------------
# Random ops: ember's generator is not torch's, so a row compares what can be compared: shape,
# dtype, requires_grad, and the sample's distribution (quantiles and mean) with torch's sample of
# the same call, within the sampling error of N draws.

N_RANDOM = 20000


class RCase(Case):
    """A random row: fn(L, *inputs) returns one sample tensor (or a tuple, the first compared);
    `discrete`: compare value frequencies instead of quantiles."""

    def __init__(self, name, fn, *inputs, id=None, discrete=False, bug=None):
        super().__init__(name, fn, *inputs, id=id, bug=bug)
        self.discrete = discrete


RANDOM_CASES = [
    RCase("randint_like", lambda L: L.randint_like(L.zeros(N_RANDOM), 5), id="high", discrete=True),
    RCase("randint_like", lambda L: L.randint_like(L.zeros(N_RANDOM, dtype=L.int64), -2, 3, dtype=L.int32),
          id="low_high_dtype", discrete=True),
    RCase("uniform_", lambda L: L.empty(N_RANDOM).uniform_(), id="default"),
    RCase("uniform_", lambda L: L.empty(N_RANDOM, dtype=L.float64).uniform_(-2, 3), id="range_float64"),
    RCase("uniform_", lambda L: L.zeros(100, 200).t().uniform_(to=0.5), id="nc_kw"),
    RCase("normal_", lambda L: L.empty(N_RANDOM).normal_(), id="default"),
    RCase("normal_", lambda L: L.empty(N_RANDOM).normal_(2.0, std=0.5), id="mean_std"),
    RCase("random_", lambda L: L.empty(N_RANDOM).random_(10), id="to", discrete=True),
    RCase("random_", lambda L: L.zeros(N_RANDOM, dtype=L.int64).random_(-3, 4), id="from_to_int64", discrete=True),
    RCase("random_", lambda L: (L.empty(N_RANDOM).random_() / 2.0 ** 24), id="default_float32"),
    RCase("random_", lambda L: L.empty(N_RANDOM, dtype=L.bool).random_(), id="default_bool", discrete=True),
    RCase("exponential_", lambda L: L.empty(N_RANDOM).exponential_(), id="default"),
    RCase("exponential_", lambda L: L.empty(N_RANDOM).exponential_(lambd=3.0), id="lambd"),
    RCase("geometric_", lambda L: L.empty(N_RANDOM).geometric_(0.3), id="p", discrete=True),
    RCase("cauchy_", lambda L: L.empty(N_RANDOM).cauchy_(), id="default"),
    RCase("cauchy_", lambda L: L.empty(N_RANDOM).cauchy_(1.0, sigma=0.5), id="median_sigma"),
    RCase("log_normal_", lambda L: L.empty(N_RANDOM).log_normal_(), id="default"),
    RCase("log_normal_", lambda L: L.empty(N_RANDOM).log_normal_(0.0, 0.5), id="mean_std"),
    RCase("bernoulli", lambda L, p: L.bernoulli(p.expand(N_RANDOM, 3)), Fixed([0.2, 0.5, 0.9]), id="tensor",
          discrete=True),
    RCase("bernoulli", lambda L, p: p.expand(N_RANDOM, 2).bernoulli(0.3), Fixed([0.0, 1.0]), id="p_method",
          discrete=True),
    RCase("bernoulli", lambda L, p: L.bernoulli(p.expand(N_RANDOM, 3)), Fixed([0.0, 1.0, 0.5]), id="edges",
          discrete=True),
    RCase("bernoulli_", lambda L: L.empty(N_RANDOM).bernoulli_(), id="default", discrete=True),
    RCase("bernoulli_", lambda L: L.empty(N_RANDOM, dtype=L.float64).bernoulli_(p=0.8), id="float_p",
          discrete=True),
    RCase("bernoulli_", lambda L, p: L.empty(N_RANDOM, 3).bernoulli_(p), Fixed([0.1, 0.5, 1.0]), id="tensor_p",
          discrete=True),
    RCase("normal", lambda L, m, s: L.normal(m.expand(N_RANDOM, 2), s), Fixed([0.0, 5.0]), Fixed([1.0, 0.1]),
          id="tensor_tensor"),
    RCase("normal", lambda L, m: L.normal(m.expand(N_RANDOM, 2), 2.0), Fixed([0.0, -3.0]), id="tensor_float"),
    RCase("normal", lambda L, s: L.normal(1.0, s.expand(N_RANDOM, 2)), Fixed([0.5, 2.0]), id="float_tensor"),
    RCase("normal", lambda L: L.normal(2.0, 3.0, size=(N_RANDOM,)), id="float_float"),
    RCase("normal", lambda L: L.normal(0.0, 1.0, (N_RANDOM, 2), dtype=L.float64), id="float_float_dtype"),
    RCase("multinomial", lambda L, p: L.multinomial(p, N_RANDOM, replacement=True), Fixed([0.1, 0.0, 0.6, 0.3]),
          id="replacement", discrete=True),
    RCase("multinomial", lambda L, p: p.expand(N_RANDOM // 10, 4).multinomial(2), Fixed([1.0, 2.0, 3.0, 4.0]),
          id="no_replacement_batched", discrete=True),
    RCase("poisson", lambda L, r: L.poisson(r.expand(N_RANDOM, 3)), Fixed([0.5, 3.0, 20.0]), id="rates",
          discrete=True),
]


def _random_sample(case, lib):
    out = case.fn(lib, *[lib.tensor(a) for a in make_inputs(case, np.float32)])
    if isinstance(out, (tuple, list)):
        out = out[0]
    return out


@pytest.mark.parametrize("case", params(RANDOM_CASES, "random"))
def test_random_vs_torch(case):
    """Same shape, dtype and distribution as torch's sample of the same call."""
    torch = pytest.importorskip("torch")
    ember.manual_seed(1234)
    torch.manual_seed(1234)
    e, t = _random_sample(case, ember), _random_sample(case, torch)
    assert tuple(e.shape) == tuple(t.shape)
    assert dtype_name(e.dtype) == dtype_name(t.dtype)
    a, b = to_np(e).astype(np.float64), to_np(t).astype(np.float64)
    cols = a.reshape(a.shape[0], -1) if a.ndim > 1 and a.shape[0] >= 1000 else a.reshape(-1, 1)
    tcols = b.reshape(cols.shape)
    for j in range(cols.shape[1]):
        x, y = cols[:, j], tcols[:, j]
        assert np.isfinite(x).all() == np.isfinite(y).all()
        if case.discrete:  # the frequency of every value either draws
            vals = np.union1d(x, y)
            fx, fy = (np.bincount(np.searchsorted(vals, z), minlength=len(vals)) / len(z) for z in (x, y))
            tol = 0.01 + 4 * np.sqrt(fy * (1 - fy) / len(x))
            assert (np.abs(fx - fy) <= tol).all(), f"column {j}: frequencies of {vals.tolist()}: {fx} vs torch {fy}"
        else:  # deciles, within a few standard errors
            q = [0.1, 0.25, 0.5, 0.75, 0.9]
            qx, qy = np.quantile(x, q), np.quantile(y, q)
            spread = np.quantile(y, 0.75) - np.quantile(y, 0.25)
            np.testing.assert_allclose(qx, qy, atol=0.06 * spread, rtol=0.03, err_msg=f"column {j}: quantiles {q}")


@pytest.mark.parametrize("name", ["uniform_", "normal_", "bernoulli", "normal"])
def test_random_is_reproducible_under_manual_seed(name):
    case = next(c for c in RANDOM_CASES if c.name == name)
    ember.manual_seed(7)
    a = to_np(_random_sample(case, ember))
    ember.manual_seed(7)
    b = to_np(_random_sample(case, ember))
    np.testing.assert_array_equal(a, b)


RANDOM_GRAD_CASES = [  # torch differentiates these: ember's backward against finite differences (re-seeded)
    Case("normal", lambda L, m, s: (L.manual_seed(3), L.normal(m, s))[1], F(3, 4), F(3, 4, kind="pos"),
         id="tensor_tensor"),
    Case("normal", lambda L, m: (L.manual_seed(3), L.normal(m, 2.0))[1], F(5), id="tensor_float"),
    Case("normal", lambda L, s: (L.manual_seed(3), L.normal(0.5, s))[1], F(2, 3, kind="pos"), id="float_tensor"),
    Case("bernoulli", lambda L, p: (L.manual_seed(3), L.bernoulli(p))[1], F(6, kind="prob"), id="tensor"),
    Case("poisson", lambda L, r: (L.manual_seed(3), L.poisson(r))[1], F(6, kind="pos"), id="rates"),
]


@pytest.mark.parametrize("case", params(RANDOM_GRAD_CASES, "random_grad"))
def test_random_grad(case):
    """requires_grad as torch's, and ember's backward against finite differences in float64."""
    torch = pytest.importorskip("torch")
    from helpers import _outputs
    t_out = _outputs(case.fn(torch, *_torch_leaves(torch, make_inputs(case, np.float32))))
    e_out = _outputs(case.fn(ember, *[ember.tensor(a, requires_grad=True) for a in make_inputs(case, np.float32)]))
    assert [o.requires_grad for o in e_out] == [o.requires_grad for o in t_out]
    gradcheck(_run(case, ember), make_inputs(case, np.float64, seed=1))

REDUCTION_DTYPE_CASES = [
    Case("argmax", lambda L, x: x.argmax(), F(3, 4), id="all"),
    Case("argmax", lambda L, x: L.argmax(x, dim=1), F(3, 4), id="dim"),
    Case("argmax", lambda L, x: x.argmax(0, keepdim=True), F(3, 4), id="keepdim"),
    Case("argmax", lambda L, x: x.t().argmax(-1), F(3, 4), id="nc"),
    Case("argmax", lambda L, x: x.argmax(1), Const([[1, 5, 2], [7, 0, 7]]), id="int_tie"),
    Case("argmax", lambda L, x: L.argmax(x, axis=-1, keepdims=True), F(2, 3, 4), id="axis_keepdims"),
    Case("argmax", lambda L, x: L.argmax(x), F(), id="0d"),
    Case("argmax", lambda L, x: L.argmax(x, 0), F(), id="0d_dim0"),
    Case("argmax", lambda L, x: L.argmax(x, 0), Mask(3, 2), id="bool", mirror=True),
    Case("argmin", lambda L, x: x.argmin(), F(3, 4), id="all"),
    Case("argmin", lambda L, x: L.argmin(x, dim=0), F(3, 4), id="dim"),
    Case("argmin", lambda L, x: x.argmin(1, keepdim=True), F(3, 4), id="keepdim"),
    Case("argmin", lambda L, x: L.argmin(x[:, ::2], 1), F(3, 6), id="nc"),
    Case("argmin", lambda L, x: x.argmin(0), Const([[3, 1], [1, 1], [1, 0]]), id="int_tie"),
    Case("argmin", lambda L, x: L.argmin(x), F(), id="0d"),
    Case("one_hot", lambda L, x: L.nn.functional.one_hot(x), Const([0, 2, 1, 2]), id="infer"),
    Case("one_hot", lambda L, x: L.nn.functional.one_hot(x, num_classes=5), Const([[0, 4], [1, 1]]), id="n"),
    Case("max", lambda L, x: x.max(1), Const([[1, 5, 2], [7, 0, 3]]), id="int"),
    Case("max", lambda L, x: L.max(x), Mask(2, 3), id="bool"),
    Case("min", lambda L, x: L.min(x, 0), Ints(3, 4), id="int64"),
    Case("max", lambda L, x, y: L.max(x, y), Ints(3, 4), Ints(4), id="other_int64"),
    Case("sum", lambda L, x: x.sum(), Const([[1, 5, 2], [7, 0, 3]]), id="int_stays_int64"),
    Case("sum", lambda L, x: x.sum(0), Const([[True, False], [True, True]], np.bool_), id="bool_to_int64"),
    Case("sum", lambda L, x: L.sum(x, 1, dtype=L.float32), Ints(3, 4), id="int_dtype_float"),
    Case("sum", lambda L, x: L.sum(x, (0, 1), keepdim=True), Ints(2, 3, 2), id="int_dims"),
    Case("mean", lambda L, x: x.float().mean(), Const([1, 2, 4]), id="int_as_float"),
    Case("mean", lambda L, x: L.mean(x, dtype=L.float64), Ints(3, 4), id="int_dtype"),
    Case("mean", lambda L, x: L.mean(x), Ints(3, 4), id="int64", mirror=True),
    Case("prod", lambda L, x: x.prod(1), Const([[1, 5, 2], [7, 1, 3]]), id="int"),
    Case("prod", lambda L, x: L.prod(x), Mask(2, 3), id="bool"),
    Case("var", lambda L, x: L.var(x), Ints(3, 4), id="int64", mirror=True),
    Case("std", lambda L, x: L.std(x, 0), Ints(3, 4), id="int64", mirror=True),
    Case("softmax", lambda L, x: L.softmax(x, 0, dtype=L.float32), Ints(3, 4), id="int_dtype"),
    Case("log_softmax", lambda L, x: L.log_softmax(x, 1), Ints(3, 4), id="int64", mirror=True),
]


# Convolution and pooling (cpp/ember/ops/conv.cpp, pool.cpp): strides, padding (also 'same' with an
# even kernel), dilation, groups, transposes with output_padding, unbatched inputs, views.
CONV_CASES = [
    Case("convolution", lambda L, x, w, b: L.convolution(x, w, b, [2, 1], [1, 0], [1, 2], False, [0, 0], 2),
         F(2, 4, 7, 8), F(6, 2, 3, 2), F(6), id="2d_groups"),
    Case("convolution", lambda L, x, w: L.convolution(x, w, None, [2], [1], [1], True, [1], 1),
         F(2, 3, 5), F(3, 2, 3), id="1d_transposed"),
    Case("conv1d", lambda L, x, w, b: L.conv1d(x, w, b, 2, 1, 1, 1), F(2, 3, 9), F(4, 3, 3), F(4), id="stride_pad"),
    Case("conv1d", lambda L, x, w: L.conv1d(x, w, None, 1, "same", 2), F(3, 10), F(2, 3, 4), id="same_unbatched"),
    Case("conv1d", lambda L, x, w: L.conv1d(x.transpose(1, 2), w, padding="valid"), F(2, 8, 3), F(4, 3, 2),
         id="valid_view"),
    Case("conv2d", lambda L, x, w, b: L.conv2d(x, w, b, (2, 1), (1, 2), (2, 1), 1), F(2, 3, 8, 7), F(4, 3, 3, 2), F(4),
         id="mixed"),
    Case("conv2d", lambda L, x, w: L.conv2d(x, w, groups=4), F(1, 4, 5, 5), F(4, 1, 3, 3), id="depthwise"),
    Case("conv2d", lambda L, x, w: L.conv2d(x, w, padding="same"), F(2, 2, 5, 6), F(3, 2, 2, 4), id="same_even"),
    Case("conv2d", lambda L, x, w: L.conv2d(x, w), F(2, 4, 3, 3), F(5, 4, 1, 1), id="1x1"),
    Case("conv3d", lambda L, x, w, b: L.conv3d(x, w, b, 1, 1), F(1, 2, 4, 3, 5), F(3, 2, 2, 2, 3), F(3), id="pad"),
    Case("conv3d", lambda L, x, w: L.conv3d(x, w, None, 1, "same"), F(2, 3, 3, 4), F(2, 2, 3, 2, 2),
         id="same_unbatched"),
    Case("conv_transpose1d", lambda L, x, w, b: L.conv_transpose1d(x, w, b, 2, 1, 1, 1, 2), F(2, 3, 5), F(3, 2, 3),
         F(2), id="all_args"),
    Case("conv_transpose2d", lambda L, x, w, b: L.conv_transpose2d(x, w, b, 2, 1, 1, 2), F(2, 4, 3, 4), F(4, 3, 3, 3),
         F(6), id="groups_output_padding"),
    Case("conv_transpose2d", lambda L, x, w: L.conv_transpose2d(x, w, dilation=2), F(3, 4, 3), F(3, 2, 2, 2),
         id="dilation_unbatched"),
    Case("conv_transpose3d", lambda L, x, w: L.conv_transpose3d(x, w, stride=(1, 2, 1)), F(1, 2, 2, 3, 2),
         F(2, 3, 2, 2, 2), id="stride"),
    Case("max_pool1d", lambda L, x: L.max_pool1d(x, 3, 2, 1, 1, True), F(2, 3, 10), id="ceil_pad"),
    Case("max_pool1d_with_indices", lambda L, x: L.max_pool1d_with_indices(x, 2, 1, 0, 2), F(2, 9), id="dilation"),
    Case("max_pool2d", lambda L, x: L.max_pool2d(x, (3, 2), (2, 1), 1, 1, True), F(2, 3, 7, 8), id="ceil_pad"),
    Case("max_pool3d", lambda L, x: L.max_pool3d(x, 2, 1, 0, (1, 2, 1)), F(1, 2, 3, 6, 4), id="dilation"),
    Case("avg_pool1d", lambda L, x: L.avg_pool1d(x, 3, 2, 1, True, False), F(2, 3, 10), id="ceil_exclude_pad"),
    Case("avg_pool1d", lambda L, x: L.avg_pool1d(x, 4, padding=2), F(3, 9), id="include_pad_unbatched"),
    Case("adaptive_avg_pool1d", lambda L, x: L.adaptive_avg_pool1d(x, 4), F(2, 3, 10), id="uneven"),
    Case("adaptive_max_pool1d", lambda L, x: L.adaptive_max_pool1d(x, 3), F(2, 7), id="uneven"),
    # the shuffles (cpp/ember/ops/fold.cpp): leading batch dims, unbatched inputs, views
    Case("pixel_shuffle", lambda L, x: L.pixel_shuffle(x, 2), F(2, 8, 3, 2), id="4d"),
    Case("pixel_shuffle", lambda L, x: L.pixel_shuffle(x.transpose(-1, -2), 3), F(2, 1, 9, 2, 3), id="5d_view"),
    Case("pixel_unshuffle", lambda L, x: L.pixel_unshuffle(x, 2), F(2, 2, 4, 6), id="4d"),
    Case("pixel_unshuffle", lambda L, x: L.pixel_unshuffle(x, 3), F(1, 6, 3), id="unbatched"),
    Case("channel_shuffle", lambda L, x: L.channel_shuffle(x, 3), F(2, 6, 2, 2), id="4d"),
    Case("channel_shuffle", lambda L, x: L.channel_shuffle(x[:, ::2], 2), F(2, 8, 3), id="3d_view"),
]
CONV_DTYPE_CASES = [
    Case("conv2d", lambda L, x, w: L.conv2d(x, w, padding=1), Ints(1, 2, 4, 4), Ints(3, 2, 3, 3), id="int64"),
    Case("max_pool2d", lambda L, x: L.max_pool2d(x, 2), Ints(2, 4, 4), id="int64"),
    Case("avg_pool1d", lambda L, x: L.avg_pool1d(x, 2), Ints(2, 3, 6), id="int64", mirror=True),
    Case("pixel_shuffle", lambda L, x: L.pixel_shuffle(x, 2), Ints(1, 4, 2, 3), id="int64"),
    Case("pixel_unshuffle", lambda L, x: L.pixel_unshuffle(x, 2), Ints(1, 2, 2, 4), id="int64"),
    Case("channel_shuffle", lambda L, x: L.channel_shuffle(x, 2), Ints(1, 4, 3), id="int64"),
]

DIFF_CASES = UNARY_CASES + BINARY_CASES + MATH_CASES + REDUCTION_CASES + STATS_CASES + SOFTMAX_CASES \
    + MATMUL_CASES + LINALG_CASES + SCAN_CASES + JOIN_CASES + SCATTER_CASES + SHAPE_CASES + SORT_CASES \
    + INDEX_CASES + VIEW_CASES + FUNCTIONAL_CASES + CONV_CASES
NONDIFF_CASES = UNARY_DTYPE_CASES + BINARY_DTYPE_CASES + FLOOR_DIVIDE_CASES + CMP_CASES + BITWISE_CASES \
    + MATH_DTYPE_CASES + REDUCTION_DTYPE_CASES + STATS_DTYPE_CASES + MATMUL_DTYPE_CASES + SCAN_DTYPE_CASES \
    + JOIN_DTYPE_CASES + SCATTER_DTYPE_CASES + SHAPE_DTYPE_CASES + SORT_DTYPE_CASES + VIEW_DTYPE_CASES \
    + FUNCTIONAL_DTYPE_CASES + CONV_DTYPE_CASES
GRADCHECK_CASES = [c for c in DIFF_CASES if c.id != "large_blas"]  # "medium" covers it, far fewer evaluations
ALL_CASES = DIFF_CASES + NONDIFF_CASES
_DIFF = set(map(id, DIFF_CASES))
ROWS = {}
for _c in ALL_CASES + RANDOM_CASES:
    ROWS.setdefault(_c.name, []).append(_c)
RANDOM_NAMES = {c.name for c in RANDOM_CASES}  # no value comparison: no generic replay tests

# ---------------------------------------------------------------------------------------------
# Known bugs: rows where ember disagrees with torch, run as strict xfails (an xpass fails: the
# bug is fixed, drop its line here).

# (none at the moment: mark_bug(DIFF_CASES, name, [row ids], "what differs") pins one)


def _has_float_input(case):
    return any(isinstance(s, (F, Fixed)) or (isinstance(s, Const) and s.value.dtype.kind == "f")
               for s in case.inputs)


@pytest.mark.parametrize("case", params(DIFF_CASES, "vs_torch"))
def test_vs_torch(case):
    torch = pytest.importorskip("torch")
    check_op(_run(case, ember), _run(case, torch), make_inputs(case, np.float32), atol=case.atol, rtol=case.rtol,
             grad=case.torch_grad)


@pytest.mark.parametrize("case", params(GRADCHECK_CASES, "gradcheck"))
def test_gradcheck(case):
    gradcheck(_run(case, ember), make_inputs(case, np.float64, seed=1))


@pytest.mark.parametrize("case", params(NONDIFF_CASES, "nondiff"))
def test_nondiff_vs_torch(case):
    torch = pytest.importorskip("torch")
    compare(_run(case, ember), _run(case, torch), make_inputs(case, np.float32), grad=False, mirror=case.mirror)


def _torch_differentiates(outs):
    """Floating outputs torch differentiates: requires_grad, and a backward that is implemented
    (floor_divide's and unique's outputs require grad in torch, but backward raises)."""
    res = []
    for o in outs:
        if not (_is_tensor(o) and o.dtype.is_floating_point and o.requires_grad):
            continue
        try:
            o.sum().backward(retain_graph=True)
        except (RuntimeError, NotImplementedError):
            continue
        res.append(o)
    return res


def _torch_leaves(torch, arrays, grad=True):
    return [torch.tensor(a.copy(), requires_grad=grad and a.dtype.kind == "f") if isinstance(a, np.ndarray) else a
            for a in arrays]


@pytest.mark.parametrize("case", params([c for c in NONDIFF_CASES if _has_float_input(c) and not c.mirror], "classify"))
def test_nondiff_row_is_not_differentiable(case):
    """A forward-only row must be one torch does not differentiate either (else: a DIFF row)."""
    torch = pytest.importorskip("torch")
    from helpers import _outputs
    outs = _outputs(case.fn(torch, *_torch_leaves(torch, make_inputs(case, np.float64))))
    assert not _torch_differentiates(outs), f"torch differentiates {case.name} here: make it a DIFF_CASES row"


# ---------------------------------------------------------------------------------------------
# Which calls the rows make: a stand-in for `L` records every L.X(...) call (used to derive the
# method / in-place / out= / numbers / dunder / keyword tests from the first row of an op), and a
# TorchFunctionMode records every function and method call torch sees (overload coverage).


class _LibRecorder:
    def __init__(self, lib, prefix="", calls=None):
        self._lib = lib
        self._prefix = prefix
        self.calls = [] if calls is None else calls

    def __getattr__(self, n):
        obj = getattr(self._lib, n)
        if n in ("linalg", "special", "fft") and not self._prefix:
            return _LibRecorder(obj, n + "_", self.calls)
        if inspect.ismodule(obj) or isinstance(obj, type) or not callable(obj):
            return obj

        def call(*a, **k):
            self.calls.append((self._prefix + n, a, k))
            return obj(*a, **k)
        return call


def _torch_inputs(case, grad=False, dtype=np.float32):
    import torch
    return _torch_leaves(torch, make_inputs(case, dtype), grad)


@functools.cache
def _fn_calls(case):
    """The L.X(...) calls a row makes (run in torch): [(name, args, kwargs)]."""
    import torch
    rec = _LibRecorder(torch)
    try:
        case.fn(rec, *_torch_inputs(case))
    except Exception:  # noqa: BLE001 (a mirrored row torch refuses)
        pass
    return rec.calls


def _replay(case, lib, name, k, action):
    """fn(*inputs): run the row with lib, take its k-th call of L.<name> and return action(lib,
    args, kwargs) instead of the row's result."""
    def fn(*xs):
        rec = _LibRecorder(lib)
        case.fn(rec, *xs)
        _, a, kw = [c for c in rec.calls if c[0] == name][k]
        return _tensorize(lib, action(lib, list(a), dict(kw)))
    return fn


def _sources(name, self_tensor=True):
    """(row, k) for every call ember.<name>(...) in the rows of `name` (with a tensor first argument
    when `self_tensor`), first row first."""
    for case in ROWS.get(name, []):
        if case.bug:
            continue
        calls = [c for c in _fn_calls(case) if c[0] == name]
        for k, (_, a, kw) in enumerate(calls):
            if not self_tensor or (a and _is_tensor(a[0])):
                yield case, k, a, kw


def _torch_runs(case, name, k, action, grad):
    import torch
    from helpers import _outputs
    try:
        outs = _outputs(_replay(case, torch, name, k, action)(*_torch_inputs(case, grad)))
        if grad:
            loss = sum(o.sum() for o in outs if _is_tensor(o) and o.requires_grad)
            if _is_tensor(loss):
                loss.backward()
    except Exception:  # noqa: BLE001 (torch refuses this replay)
        return False
    return True


def _first_source(name, action, pred=lambda a, kw: True, grad=True, self_tensor=True):
    """(row, k, grad): the first call of `name` in its rows that `pred` accepts and whose replay
    torch runs, with gradients when torch can (its in-place asinh_ has no derivative), else without."""
    found = [(case, k) for case, k, a, kw in _sources(name, self_tensor) if pred(a, kw)]
    for with_grad in ([True, False] if grad else [False]):
        for case, k in found:
            g = with_grad and id(case) in _DIFF
            if _torch_runs(case, name, k, action, g):
                return case, k, g
    return None


SIGN_AMBIGUOUS = {"linalg_qr", "qr", "linalg_svd", "svd", "linalg_eigh"}  # Q, U, V, eigenvectors: up to sign


def _canonical(name, action):
    if name not in SIGN_AMBIGUOUS:
        return action

    def act(lib, a, kw):
        from helpers import _outputs
        return [o.abs() for o in _outputs(action(lib, a, kw))]
    return act


def _check_replay(name, action, pred=lambda a, kw: True, what="", grad=True, self_tensor=True):
    pytest.importorskip("torch")
    import torch
    action = _canonical(name, action)
    src = _first_source(name, action, pred, grad, self_tensor)
    assert src is not None, f"no row of {name} calls ember.{name}(...) in a form {what} can be derived from (or " \
                            f"torch refuses every such call: {SCHEMAS[name]}): add one"
    case, k, g = src
    check_op(_replay(case, ember, name, k, action), _replay(case, torch, name, k, action),
             make_inputs(case, np.float32), grad=g, atol=case.atol, rtol=case.rtol)


_REPLAYED = [n for n in TABLE_NAMES if n not in RANDOM_NAMES]

# generic tests that show a known bug: (test, op) -> reason
GENERIC_BUGS = {
}


def _generic(names, test):
    return [pytest.param(n, id=n, marks=_marks(n, GENERIC_BUGS.get((test, n)))) for n in names]


METHOD_NAMES = [n for n in _REPLAYED if "method" in VARIANTS[n]]
INPLACE_NAMES = [n for n in _REPLAYED if "inplace" in VARIANTS[n]]
OUT_NAMES = [n for n in _REPLAYED if any(s.has_out for s in SCHEMAS[n])]
NUMBERS_NAMES = [n for n in _REPLAYED if "numbers" in VARIANTS[n]]
FUNCTION_NAMES = [n for n in _REPLAYED if "function" in VARIANTS[n]]


@pytest.mark.parametrize("name", _generic(METHOD_NAMES, "method"))
def test_method_variant(name):
    """Tensor.X: the first row calling ember.X(t, ...) replayed as t.X(...); a method-only op's
    rows call the method (checked on the calls torch sees)."""
    if "function" in VARIANTS[name]:
        _check_replay(name, lambda lib, a, kw: getattr(a[0], name)(*a[1:], **kw), what="Tensor." + name)
    else:
        called = {(n, v) for n, v, *_ in _torch_calls()}
        assert (name, "method") in called, f"no row calls Tensor.{name}"
        assert ROWS.get(name), f"no row for {name}"


def _inplace(name):
    def act(lib, a, kw):
        t = a[0].clone()
        r = getattr(t, name + "_")(*a[1:], **kw)
        assert r is t, f"{name}_ does not return self"
        return t
    return act


@pytest.mark.parametrize("name", _generic(INPLACE_NAMES, "inplace"))
def test_inplace_variant(name):
    """Tensor.X_: x.clone().X_(...) with the arguments of the first row calling ember.X(x, ...)
    that torch's X_ accepts, against torch (values, and gradients through the in-place op)."""
    _check_replay(name, _inplace(name), what=f"Tensor.{name}_")


def _out_call(name):
    def act(lib, a, kw):
        fn = _lib_fn(lib, name)
        ref = fn(*a, **kw)
        res = []
        for n in (0, None):
            if _is_tensor(ref):
                out = lib.zeros(0 if n == 0 else tuple(ref.shape), dtype=ref.dtype)
            else:  # (Q, R) = qr(a, out=(q, r))
                out = tuple(lib.zeros(0 if n == 0 else tuple(r.shape), dtype=r.dtype) for r in ref)
            r = fn(*a, **kw, out=out)
            assert r is out or (isinstance(out, tuple) and all(x is y for x, y in zip(r, out))), \
                "out= call does not return out"
            if hasattr(ref, "_fields"):  # torch.return_types.topk -> topk_out for the out= form
                assert type(r).__name__ == type(ref).__name__ + "_out", type(r).__name__
            res.append(out)
        return res
    return act


def _binds_with_out(name):
    def pred(a, kw):
        s, _ = resolve(name, a, kw, "function")
        return s is not None and s.has_out and "out" not in kw
    return pred


@pytest.mark.parametrize("name", _generic(OUT_NAMES, "out"))
def test_out_variant(name):
    """out=: an empty out (resized) and one of the right shape (written in place), each returned as
    the result."""
    _check_replay(name, _out_call(name), _binds_with_out(name), what="out=", grad=False, self_tensor=False)


def _numbers_positions(name, a, kw):
    """Where a Python number may replace a tensor argument: ('pos', i) or ('kw', key)."""
    s, b = resolve(name, a, kw, "function")
    if s is None or "numbers" not in s.variants:
        return []
    tensors = [p for p in s.params if p.type.rstrip("?") == "Tensor" and p.name != "out"]
    res = []
    pos_names = [p.name for p in s.params if not p.kwonly]
    for p in tensors[1:]:
        if p.name in b and _is_tensor(b[p.name]):
            res.append(("kw", p.name) if p.name in kw else ("pos", pos_names.index(p.name)))
    return res


def _with_number(name, where):
    def act(lib, a, kw):
        kind, i = where
        if kind == "pos":
            a[i] = _item(a[i])
        else:
            kw[i] = _item(kw[i])
        return _lib_fn(lib, name)(*a, **kw)
    return act


@pytest.mark.parametrize("name", _generic(NUMBERS_NAMES, "numbers"))
def test_numbers_variant(name):
    """`numbers`: every Tensor operand after the first given as a Python number (the first element
    of the row's tensor, so bool, int or float as its dtype) against torch."""
    pytest.importorskip("torch")
    src = next(((c, k, a, kw) for c, k, a, kw in _sources(name) if _numbers_positions(name, a, kw)), None)
    assert src is not None, f"no row calls ember.{name}(tensor, tensor, ...)"
    for where in _numbers_positions(name, src[2], src[3]):
        _check_replay(name, _with_number(name, where), lambda a, kw, _w=where: _w in _numbers_positions(name, a, kw),
                      what="a Python number operand")


def _dunder_action(d):
    name = DUNDERS[d]
    kind, op = _dunder_operator(d)

    def act(lib, a, kw):
        if kind == "unary":
            return op(a[0])
        if kind == "binary":
            return op(a[0], a[1])
        if kind == "inplace":
            t = a[0].clone()
            r = op(t, a[1])
            assert r is t, f"{d} does not return self"
            return t
        if "numbers" in VARIANTS[name]:  # number OP tensor
            return op(_item(a[0]), a[1])
        return getattr(a[1], d)(a[0])
    need = {"unary": 1, "binary": 2, "inplace": 2, "reflected": 2}[kind]

    def pred(a, kw):
        if kind == "reflected":
            return len(a) >= 2 and _is_tensor(a[1]) and not kw
        return len(a) >= need and not kw
    return act, pred


@pytest.mark.parametrize("dunder", _generic(sorted(DUNDERS), "dunder"))
def test_dunder_variant(dunder):
    """Every operator dunder of the table (x + y, 2 - x, x += y, ~x, ...) on the arguments of the
    first row calling ember.X(x, y) that torch accepts in that form."""
    act, pred = _dunder_action(dunder)
    _check_replay(DUNDERS[dunder], act, pred, what=dunder)


def _as_keywords(name):
    def act(lib, a, kw):
        s, b = resolve(name, a, kw, "function")
        star = [i for i, p in enumerate(s.params) if p.name.startswith("*")]
        pos = []
        if star:  # what comes before *tensors stays positional
            pos = [b.pop(p.name) for p in s.params[:star[0]]] + list(b.pop(s.params[star[0]].name))
        return _lib_fn(lib, name)(*pos, **b)
    return act


@pytest.mark.parametrize("name", _generic(FUNCTION_NAMES, "keyword"))
def test_keyword_call(name):
    """ember.X(input=..., other=..., dim=...): the first row's call with every argument passed by
    its schema name, against torch given the same keywords."""
    _check_replay(name, _as_keywords(name), lambda a, kw: resolve(name, a, kw, "function")[0] is not None,
                  what="keyword arguments", self_tensor=False)


def _first_float_row(name):
    if name in RANDOM_NAMES:
        return None
    return next((c for c in ROWS.get(name, []) if _has_float_input(c) and not c.bug and not c.mirror), None)


@pytest.mark.parametrize("name", _generic([n for n in TABLE_NAMES if _first_float_row(n)], "float64"))
def test_vs_torch_float64(name):
    """The first row of each op with a floating input, in float64 with tight tolerances."""
    torch = pytest.importorskip("torch")
    case = _first_float_row(name)
    check_op(_run(case, ember), _run(case, torch), make_inputs(case, np.float64), grad=id(case) in _DIFF,
             atol=1e-10, rtol=1e-9)


# ---------------------------------------------------------------------------------------------
# Storage dtypes (Note [Storage dtypes]): every row again with its float inputs in float16 or
# bfloat16, or its random integer inputs (Ints) in int32, int16, int8 or uint8 (where the values
# fit), compared with torch on the same inputs: result dtypes, values and, for differentiable
# rows, gradients. Where torch raises for the dtype, ember must raise the same exception type.

_STORAGE_TOL = {"float16": 2e-2, "bfloat16": 8e-2}
_INT_RANGE = {"int32": (-2**31, 2**31 - 1), "int16": (-2**15, 2**15 - 1), "int8": (-128, 127), "uint8": (0, 255)}


def _storage_rows():
    rows = []
    for c in ALL_CASES:
        if c.bug or c.mirror:
            continue
        if any(isinstance(s, (F, Fixed)) for s in c.inputs):
            rows += [(c, d) for d in ("float16", "bfloat16")]
        ints = [a for s, a in zip(c.inputs, make_inputs(c, np.float32)) if isinstance(s, Ints)]
        if ints:
            lo, hi = min(int(a.min(initial=0)) for a in ints), max(int(a.max(initial=0)) for a in ints)
            rows += [(c, d) for d, (a, b) in _INT_RANGE.items() if a <= lo and hi <= b]
    return rows


_STORAGE_ROWS = _storage_rows()


def _storage_convert(case, dtype):
    """Input k of `case` in `dtype` when it is a float input (float dtypes) or an Ints input."""
    floating = dtype in _STORAGE_TOL

    def convert(lib, k, t):
        spec = case.inputs[k]
        if isinstance(spec, (F, Fixed)) if floating else isinstance(spec, Ints):
            return t.to(getattr(lib, dtype))
        return t
    return convert


_STORAGE_BUGS: dict = {}  # (op, row id, dtype) -> what differs from torch (a strict xfail)


@pytest.mark.parametrize("case,dtype", [
    pytest.param(c, d, id=f"{i}-{d}", marks=[xfail_bug(_STORAGE_BUGS[c.name, c.id, d])]
                 if (c.name, c.id, d) in _STORAGE_BUGS else [])
    for (c, d), i in zip(_STORAGE_ROWS, ids([c for c, _ in _STORAGE_ROWS]))])
def test_storage_dtype_vs_torch(case, dtype):
    torch = pytest.importorskip("torch")
    inputs = make_inputs(case, np.float32)
    convert = _storage_convert(case, dtype)
    tol = _STORAGE_TOL.get(dtype, 1e-5)
    grad = id(case) in _DIFF and dtype in _STORAGE_TOL and case.torch_grad
    fe, ft = _run(case, ember), _run(case, torch)

    def args(lib):
        return [convert(lib, k, lib.tensor(a.copy())) if isinstance(a, np.ndarray) else a for k, a in enumerate(inputs)]
    try:
        ft(*args(torch))
    except Exception as e:  # noqa: BLE001 (torch refuses the dtype: ember must refuse it the same way)
        with pytest.raises(Exception) as info:
            fe(*args(ember))
        want = RuntimeError if type(e) is NotImplementedError else type(e)
        assert type(info.value) in (type(e), want), f"ember raised {info.value!r}, torch {e!r}"
        return
    check_op(fe, ft, inputs, grad=grad, atol=tol, rtol=tol, convert=convert)


# ---------------------------------------------------------------------------------------------
# Edge cases: empty tensors, ties, signed zeros, extreme values, poles (each compared with torch,
# forward and backward; no finite differences at these points).

EDGE_CASES = [
    Case("sum", lambda L, x: x.sum(), F(0, 3), id="empty_all"),
    Case("sum", lambda L, x: x.sum(0), F(0, 3), id="empty_dim"),
    Case("mean", lambda L, x: x.mean((0, 1)), F(2, 3, 4), id="tuple_first_two"),
    Case("prod", lambda L, x: x.prod(1), F(2, 0), id="empty_dim"),
    Case("matmul", lambda L, x, y: x @ y, F(0, 3), F(3, 2), id="empty_rows"),
    Case("matmul", lambda L, x, y: x @ y, F(2, 0), F(0, 3), id="empty_inner"),
    Case("cat", lambda L, x, y: L.cat([x, y]), F(0, 3), F(2, 3), id="with_empty"),
    Case("exp", lambda L, x: x.exp(), F(0), id="empty"),
    Case("add", lambda L, x, y: x + y, F(0, 3), F(3), id="empty_bcast"),
    Case("max", lambda L, x: x.max(), Fixed([1.0, 3.0, 3.0, -2.0]), id="ties_all"),
    Case("min", lambda L, x: x.min(), Fixed([[1.0, -3.0], [-3.0, 2.0]]), id="ties_all"),
    Case("max", lambda L, x: x.max(1), Fixed([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]]), id="ties_dim"),
    Case("max", lambda L, x, y: L.max(x, y), Fixed([1.0, 2.0, 3.0]), Fixed([1.0, 0.0, 3.0]), id="other_ties"),
    Case("maximum", lambda L, x, y: L.maximum(x, y), Fixed([1.0, 2.0, 3.0]), Fixed([1.0, 0.0, 3.0]), id="ties"),
    Case("minimum", lambda L, x, y: L.minimum(x, y), Fixed([1.0, float("nan")]), Fixed([float("nan"), 0.0]),
         id="nan"),
    Case("clamp", lambda L, x: x.clamp(-1.0, 1.0), Fixed([-1.0, 0.0, 1.0, 2.0]), id="at_bounds"),
    Case("clamp", lambda L, x: x.clamp(-1.0, 1.0), Fixed([float("nan"), 3.0]), id="nan"),
    Case("abs", lambda L, x: x.abs(), Fixed([-1.0, 0.0, 2.0]), id="at_zero"),
    Case("sign", lambda L, x: x.sign(), Fixed([-2.0, 0.0, 3.0, float("nan")]), id="at_zero_nan"),
    Case("sgn", lambda L, x: L.sgn(x), Fixed([-0.0, 0.0, -3.0]), id="at_zero"),
    Case("relu", lambda L, x: x.relu(), Fixed([-1.0, 0.0, 2.0]), id="at_zero"),
    Case("sqrt", lambda L, x: x.sqrt(), Fixed([0.0, 4.0, -1.0]), id="at_zero_neg"),
    Case("rsqrt", lambda L, x: x.rsqrt(), Fixed([0.0, 4.0, -1.0]), id="at_zero_neg"),
    Case("log", lambda L, x: x.log(), Fixed([0.0, 1.0, -1.0]), id="at_zero_neg"),
    Case("log2", lambda L, x: x.log2(), Fixed([0.0, 8.0, -1.0]), id="at_zero_neg"),
    Case("log10", lambda L, x: x.log10(), Fixed([0.0, 100.0, -1.0]), id="at_zero_neg"),
    Case("log1p", lambda L, x: x.log1p(), Fixed([-1.0, 1e-10, -2.0]), id="pole"),
    Case("expm1", lambda L, x: x.expm1(), Fixed([1e-10, -1e-10, 0.0]), id="tiny"),
    Case("reciprocal", lambda L, x: x.reciprocal(), Fixed([0.0, -0.0, 4.0]), id="at_zero"),
    Case("acosh", lambda L, x: x.acosh(), Fixed([1.0, 0.5]), id="at_one"),
    Case("atanh", lambda L, x: x.atanh(), Fixed([1.0, -1.0, 2.0]), id="at_one"),
    Case("asin", lambda L, x: x.asin(), Fixed([1.5, -1.0, 0.0]), id="outside"),
    Case("erfinv", lambda L, x: x.erfinv(), Fixed([1.0, -1.0, 0.0, 1.5]), id="at_one"),
    Case("div", lambda L, x, y: x / y, Fixed([1.0, -1.0, 0.0]), Fixed([0.0, 0.0, 0.0]), id="by_zero"),
    Case("remainder", lambda L, x, y: x % y, Fixed([5.0, -5.0, 0.0, 3.0]), Fixed([0.0, 3.0, -2.0, float("inf")]),
         id="zero_inf"),
    Case("exp", lambda L, x: x.exp(), Fixed([100.0, -100.0]), id="overflow"),
    Case("exp2", lambda L, x: x.exp2(), Fixed([200.0, -200.0, 0.5]), id="overflow"),
    Case("softmax", lambda L, x: x.softmax(-1), Fixed([[-1e4, 0.0, 1e4]]), id="extreme"),
    Case("log_softmax", lambda L, x: x.log_softmax(-1), Fixed([[-1e4, 0.0, 1e4]]), id="extreme"),
    Case("tanh", lambda L, x: x.tanh(), Fixed([-50.0, 50.0]), id="saturated"),
    Case("pow", lambda L, x: x ** 2, Fixed([0.0, -1.0]), id="at_zero"),
    Case("pow", lambda L, x: x ** 0.0, Fixed([0.0, 2.0]), id="exp_zero"),
    Case("pow", lambda L, x, y: x ** y, Fixed([-2.0, -2.0, 0.0]), Fixed([2.0, 0.5, 0.0]), id="neg_base"),
    Case("var", lambda L, x: x.var(1), Fixed([[1.0, 1.0, 1.0]]), id="constant"),
    Case("var", lambda L, x: x.var(), Fixed([2.0]), id="one_element"),
    Case("std", lambda L, x: x.std(1), Fixed([[1.0, 2.0, 3.0], [2.0, 2.0, 2.5]]), id="rows"),
    Case("prod", lambda L, x: x.prod(), Fixed([2.0, 0.0, 3.0]), id="one_zero"),
    Case("prod", lambda L, x: x.prod(1), Fixed([[2.0, 0.0, 0.0], [1.0, 0.0, 3.0]]), id="two_zeros"),
    Case("round", lambda L, x: x.round(), Fixed([0.5, 1.5, 2.5, -0.5, -1.5, -2.5]), id="half_even"),
    Case("round", lambda L, x: x.round(decimals=2), Fixed([1e30, -1e-30, 123.456]), id="decimals_extreme"),
    Case("floor", lambda L, x: x.floor(), Fixed([-0.0, 2.0, -2.0, float("inf")]), id="integral"),
    Case("frac", lambda L, x: x.frac(), Fixed([-2.5, 2.0, float("inf")]), id="integral_inf"),
    Case("erfc", lambda L, x: x.erfc(), Fixed([-10.0, 10.0, 30.0]), id="tails"),
    Case("nan_to_num", lambda L, x: x.nan_to_num(), Fixed([float("nan"), float("inf"), -float("inf"), 1.5]),
         id="defaults"),
    Case("nan_to_num", lambda L, x: L.nan_to_num(x, nan=2.0, posinf=9.0, neginf=-9.0),
         Fixed([[float("nan"), float("inf")], [-float("inf"), -0.5]]), id="values"),
    Case("nan_to_num", lambda L, x: L.nan_to_num(x.t(), 0.5), Fixed([[float("nan"), 2.0], [3.0, float("inf")]]),
         id="nc_positional"),
    Case("nansum", lambda L, x: L.nansum(x), Fixed([float("nan"), float("nan")]), id="all_nan"),
    Case("nanmean", lambda L, x: L.nanmean(x, 0), Fixed([[float("nan"), 1.0], [float("nan"), 3.0]]), id="all_nan_col"),
    Case("logit", lambda L, x: L.logit(x), Fixed([0.0, 1.0, 0.5]), id="bounds"),
    Case("logit", lambda L, x: L.logit(x, eps=0.1), Fixed([0.0, 1.0, 0.05]), id="bounds_eps"),
    Case("xlogy", lambda L, x, y: L.xlogy(x, y), Fixed([0.0, 0.0, 1.0]), Fixed([0.0, float("nan"), 0.0]),
         id="zero_x"),
    Case("hypot", lambda L, x, y: L.hypot(x, y), Fixed([0.0, 3.0, 1e30]), Fixed([0.0, 4.0, 1e30]), id="zero_large"),
    Case("atan2", lambda L, x, y: L.atan2(x, y), Fixed([0.0, -0.0, 1.0, -1.0]), Fixed([-1.0, -1.0, 0.0, 0.0]),
         id="axes"),
    Case("copysign", lambda L, x, y: L.copysign(x, y), Fixed([1.0, 2.0, 3.0]), Fixed([-0.0, 0.0, float("nan")]),
         id="signed_zero"),
    Case("fmod", lambda L, x, y: L.fmod(x, y), Fixed([5.0, -5.0, 1.0]), Fixed([0.0, 3.0, float("inf")]),
         id="zero_inf"),
    Case("cumprod", lambda L, x: L.cumprod(x, 0), Fixed([2.0, 0.0, 3.0, 0.0, 4.0]), id="zeros"),
    Case("logcumsumexp", lambda L, x: L.logcumsumexp(x, 0), Fixed([-float("inf"), 0.0, 1000.0]), id="extreme"),
    Case("logsumexp", lambda L, x: L.logsumexp(x, 0), Fixed([-float("inf"), -float("inf")]), id="all_neg_inf"),
    Case("amax", lambda L, x: L.amax(x), Fixed([1.0, float("nan"), 2.0]), id="nan"),
    Case("sort", lambda L, x: L.sort(x), Fixed([3.0, float("nan"), -1.0, float("inf")]), id="nan_inf"),
    Case("topk", lambda L, x: L.topk(x, 2), Fixed([1.0, float("nan"), 3.0]), id="nan"),
    Case("median", lambda L, x: L.median(x), Fixed([1.0, float("nan"), 3.0]), id="nan"),
    Case("cummax", lambda L, x: L.cummax(x, 0), Fixed([1.0, 3.0, 3.0, 2.0]), id="ties"),
    Case("kthvalue", lambda L, x: L.kthvalue(x, 2), Fixed([2.0, 1.0, 2.0, 5.0]), id="ties"),
    Case("linalg_vector_norm", lambda L, x: L.linalg.vector_norm(x), Fixed([0.0, 0.0]), id="zero"),
    Case("norm", lambda L, x: L.norm(x, 0), Fixed([0.0, 1.5, -2.0]), id="p0"),
]


@pytest.mark.parametrize("case", params(EDGE_CASES, "edge"))
def test_edge_cases_vs_torch(case):
    torch = pytest.importorskip("torch")
    with np.errstate(all="ignore"):
        check_op(_run(case, ember), _run(case, torch), make_inputs(case, np.float32))


# ---------------------------------------------------------------------------------------------
# Bad calls: ember raises exactly the exception type torch raises (checked against torch too).

BAD = [
    ("conv2d_channels", lambda L: L.conv2d(L.ones(1, 3, 5, 5), L.ones(2, 2, 3, 3)), RuntimeError),
    ("conv2d_kernel_too_big", lambda L: L.conv2d(L.ones(1, 1, 2, 2), L.ones(1, 1, 3, 3)), RuntimeError),
    ("conv2d_dtypes", lambda L: L.conv2d(L.ones(1, 1, 3, 3), L.ones(1, 1, 2, 2, dtype=L.float64)), RuntimeError),
    ("conv2d_bias_size", lambda L: L.conv2d(L.ones(1, 1, 3, 3), L.ones(2, 1, 2, 2), L.ones(3)), RuntimeError),
    ("conv2d_input_dims", lambda L: L.conv2d(L.ones(3, 3), L.ones(1, 1, 2, 2)), RuntimeError),
    ("conv2d_stride_len", lambda L: L.conv2d(L.ones(1, 1, 3, 3), L.ones(1, 1, 2, 2), stride=(1, 1, 1)), RuntimeError),
    ("conv2d_zero_stride", lambda L: L.conv2d(L.ones(1, 1, 3, 3), L.ones(1, 1, 2, 2), stride=0), RuntimeError),
    ("conv2d_negative_padding", lambda L: L.conv2d(L.ones(1, 1, 3, 3), L.ones(1, 1, 2, 2), padding=-1), RuntimeError),
    ("conv2d_same_strided", lambda L: L.conv2d(L.ones(1, 1, 3, 3), L.ones(1, 1, 2, 2), stride=2, padding="same"),
     RuntimeError),
    ("conv2d_bad_padding_str", lambda L: L.conv2d(L.ones(1, 1, 3, 3), L.ones(1, 1, 2, 2), padding="full"),
     RuntimeError),
    ("conv_transpose2d_output_padding",
     lambda L: L.conv_transpose2d(L.ones(1, 1, 3, 3), L.ones(1, 1, 2, 2), stride=2, output_padding=2), RuntimeError),
    ("max_pool2d_pad_too_big", lambda L: L.max_pool2d(L.ones(1, 1, 4, 4), 3, padding=2), RuntimeError),
    ("max_pool2d_output_too_small", lambda L: L.max_pool2d(L.ones(1, 1, 2, 2), 3), RuntimeError),
    ("avg_pool1d_input_dims", lambda L: L.avg_pool1d(L.ones(1, 1, 1, 4), 2), RuntimeError),
    ("pixel_shuffle_channels", lambda L: L.pixel_shuffle(L.ones(7, 3, 3), 2), RuntimeError),
    ("pixel_shuffle_2d", lambda L: L.pixel_shuffle(L.ones(4, 4), 2), RuntimeError),
    ("pixel_shuffle_float_factor", lambda L: L.pixel_shuffle(L.ones(4, 4, 4), 2.0), TypeError),
    ("pixel_unshuffle_width", lambda L: L.pixel_unshuffle(L.ones(1, 4, 5), 2), RuntimeError),
    ("channel_shuffle_groups", lambda L: L.channel_shuffle(L.ones(1, 6, 3), 4), RuntimeError),
    ("add_shapes", lambda L: L.add(L.ones(2, 3), L.ones(4)), RuntimeError),
    ("add_unknown_kw", lambda L: L.add(L.ones(2), L.ones(2), bogus=1), TypeError),
    ("add_str", lambda L: L.add(L.ones(2), "a"), TypeError),
    ("add_alpha_float_for_ints",
     lambda L: L.add(L.ones(2, dtype=L.int64), L.ones(2, dtype=L.int64), alpha=0.5), RuntimeError),
    ("add_inplace_bcast_grows_self", lambda L: L.ones(3).add_(L.ones(2, 3)), RuntimeError),
    ("add_inplace_leaf_requires_grad", lambda L: L.ones(2, requires_grad=True).add_(1), RuntimeError),
    ("add_out_cannot_cast", lambda L: L.add(L.ones(2), L.ones(2), out=L.zeros(2, dtype=L.int64)), RuntimeError),
    ("topk_out_not_tuple", lambda L: L.topk(L.ones(3), 2, out=L.empty(0)), TypeError),
    ("topk_out_tuple_too_short", lambda L: L.topk(L.ones(3), 2, out=(L.empty(0),)), TypeError),
    ("softmax_out_tuple", lambda L: L.softmax(L.ones(3), 0, out=(L.empty(0),)), TypeError),
    ("sub_bools", lambda L: L.sub(L.ones(2, dtype=L.bool), L.ones(2, dtype=L.bool)), RuntimeError),
    ("neg_bool", lambda L: L.neg(L.ones(2, dtype=L.bool)), RuntimeError),
    ("sqrt_missing_input", lambda L: L.sqrt(), TypeError),
    ("sqrt_list", lambda L: L.sqrt([1.0, 2.0]), TypeError),
    ("sqrt_inplace_int", lambda L: L.tensor([1, 4]).sqrt_(), RuntimeError),
    ("sqrt_two_inputs", lambda L: L.sqrt(L.ones(2), L.ones(2)), TypeError),
    ("div_bad_rounding_mode", lambda L: L.div(L.ones(2), L.ones(2), rounding_mode="nearest"), RuntimeError),
    ("div_rounding_mode_not_str", lambda L: L.div(L.ones(2), L.ones(2), rounding_mode=1), TypeError),
    ("pow_int_negative_exponent", lambda L: L.pow(L.tensor([2, 3]), -1), RuntimeError),
    ("remainder_int_by_zero", lambda L: L.tensor([1, 2]) % 0, RuntimeError),
    ("floor_divide_int_by_zero", lambda L: L.tensor([1, 2]) // L.tensor([1, 0]), RuntimeError),
    pytest.param("bitwise_not_float", lambda L: ~L.ones(2), TypeError,
                 marks=xfail_bug("~float tensor: ember raises RuntimeError, torch TypeError")),
    ("bitwise_and_float", lambda L: L.bitwise_and(L.ones(2), L.ones(2)), NotImplementedError),
    ("lshift_float", lambda L: L.ones(2) << L.ones(2), NotImplementedError),
    ("floor_bool", lambda L: L.floor(L.ones(2, dtype=L.bool)), NotImplementedError),
    ("frac_int", lambda L: L.frac(L.tensor([1, 2])), NotImplementedError),
    ("round_decimals_int", lambda L: L.round(L.tensor([1, 2]), decimals=1), NotImplementedError),
    ("log_softmax_int", lambda L: L.log_softmax(L.tensor([1, 2]), 0), NotImplementedError),
    ("hypot_int", lambda L: L.hypot(L.tensor([1, 2]), L.tensor([1, 2])), NotImplementedError),
    ("mm_bool", lambda L: L.mm(L.ones(2, 2, dtype=L.bool), L.ones(2, 2, dtype=L.bool)), NotImplementedError),
    ("histc_int", lambda L: L.histc(L.tensor([1, 2])), NotImplementedError),
    ("lerp_int_scalar_weight", lambda L: L.lerp(L.tensor([1, 2]), L.tensor([1, 2]), 0.5), NotImplementedError),
    ("relu_bool", lambda L: L.nn.functional.relu(L.ones(2, dtype=L.bool)), RuntimeError),
    ("argmin_bool", lambda L: L.ones(2, dtype=L.bool).argmin(0), RuntimeError),
    ("addcdiv_bool", lambda L: L.addcdiv(*[L.ones(2, dtype=L.bool)] * 3), RuntimeError),
    ("logical_and_shapes", lambda L: L.logical_and(L.ones(2), L.ones(3)), RuntimeError),
    ("eq_shapes", lambda L: L.ones(2, 3) == L.ones(3, 2), RuntimeError),
    ("clamp_no_bounds", lambda L: L.clamp(L.ones(2)), RuntimeError),
    ("clamp_min_missing", lambda L: L.clamp_min(L.ones(2)), TypeError),
    ("round_decimals_float", lambda L: L.round(L.ones(2), decimals=0.5), TypeError),
    ("round_decimals_positional", lambda L: L.round(L.ones(2), 1), TypeError),
    ("masked_fill_float_mask", lambda L: L.ones(2).masked_fill(L.ones(2), 0.0), RuntimeError),
    ("masked_fill_value_not_0d", lambda L: L.ones(2).masked_fill(L.ones(2) > 0, L.ones(2)), RuntimeError),
    ("where_float_condition", lambda L: L.where(L.ones(2), L.ones(2), L.ones(2)), RuntimeError),
    ("sum_dim_out_of_range", lambda L: L.ones(2, 3).sum(2), IndexError),
    ("sum_dim_str", lambda L: L.ones(2, 3).sum("a"), TypeError),
    ("sum_dtype_str", lambda L: L.ones(2).sum(dtype="float"), TypeError),
    ("mean_int", lambda L: L.tensor([1, 2]).mean(), RuntimeError),
    ("max_dim_out_of_range", lambda L: L.ones(2, 3).max(3), IndexError),
    ("max_empty", lambda L: L.ones(0).max(), RuntimeError),
    ("max_dim_empty", lambda L: L.ones(0, 2).max(0), IndexError),
    ("argmax_empty", lambda L: L.ones(0).argmax(), IndexError),
    ("var_unbiased_and_correction", lambda L: L.var(L.ones(3), 0, True, correction=1), TypeError),
    ("std_mean_unbiased_and_correction", lambda L: L.std_mean(L.ones(3), unbiased=True, correction=1), TypeError),
    ("softmax_no_dim", lambda L: L.softmax(L.ones(3)), TypeError),
    ("softmax_dim_out_of_range", lambda L: L.softmax(L.ones(3), 1), IndexError),
    ("matmul_shapes", lambda L: L.ones(2, 3) @ L.ones(2, 3), RuntimeError),
    ("matmul_0d", lambda L: L.matmul(L.tensor(1.0), L.ones(2)), RuntimeError),
    ("matmul_dtypes", lambda L: L.matmul(L.ones(2, 2), L.ones(2, 2, dtype=L.float64)), RuntimeError),
    ("mm_1d", lambda L: L.mm(L.ones(3), L.ones(3)), RuntimeError),
    ("bmm_2d", lambda L: L.bmm(L.ones(2, 3), L.ones(3, 2)), RuntimeError),
    ("dot_sizes", lambda L: L.dot(L.ones(3), L.ones(4)), RuntimeError),
    ("dot_2d", lambda L: L.dot(L.ones(2, 2), L.ones(2, 2)), RuntimeError),
    ("cat_empty_list", lambda L: L.cat([]), ValueError),
    ("cat_shapes", lambda L: L.cat([L.ones(2, 3), L.ones(2, 4)]), RuntimeError),
    ("cat_dim_out_of_range", lambda L: L.cat([L.ones(2), L.ones(2)], dim=1), IndexError),
    ("cat_not_a_list", lambda L: L.cat(L.ones(2)), TypeError),
    ("cat_0d", lambda L: L.cat([L.tensor(1.0), L.tensor(2.0)]), RuntimeError),
    ("stack_shapes", lambda L: L.stack([L.ones(2), L.ones(3)]), RuntimeError),
    ("stack_empty_list", lambda L: L.stack([]), RuntimeError),
    ("split_zero", lambda L: L.split(L.ones(4), 0), RuntimeError),
    ("split_sizes_sum", lambda L: L.ones(4).split([1, 2]), RuntimeError),
    ("chunk_zero", lambda L: L.chunk(L.ones(4), 0), RuntimeError),
    ("gather_float_index", lambda L: L.gather(L.ones(2, 2), 1, L.ones(2, 2)), RuntimeError),
    ("gather_index_out_of_range", lambda L: L.gather(L.ones(2, 2), 1, L.tensor([[0, 5], [1, 0]])), RuntimeError),
    ("gather_dims_differ", lambda L: L.gather(L.ones(2, 2), 1, L.tensor([0, 1])), RuntimeError),
    ("index_select_out_of_range", lambda L: L.index_select(L.ones(3), 0, L.tensor([3])), IndexError),
    ("index_select_2d_index", lambda L: L.index_select(L.ones(3), 0, L.tensor([[0]])), IndexError),
    ("index_select_float_index", lambda L: L.index_select(L.ones(3), 0, L.ones(1)), RuntimeError),
    ("index_add_1d_out_of_range", lambda L: L.ones(1).index_add(0, L.tensor([1]), L.ones(1)), IndexError),
    ("index_add_2d_out_of_range", lambda L: L.ones(2, 2).index_add(0, L.tensor([2]), L.ones(1, 2)), RuntimeError),
    ("inf_norm_empty_dim", lambda L: L.ones(0, 2).norm(p=float("inf"), dim=0), RuntimeError),
    ("index_add_source_shape", lambda L: L.index_add(L.ones(3, 2), 0, L.tensor([0]), L.ones(2, 2)), RuntimeError),
    ("scatter_add_float_index", lambda L: L.scatter_add(L.ones(3), 0, L.ones(2), L.ones(2)), RuntimeError),
    ("view_wrong_numel", lambda L: L.ones(2, 3).view(4), RuntimeError),
    ("view_incompatible_strides", lambda L: L.ones(2, 3).t().view(6), RuntimeError),
    ("view_two_minus_ones", lambda L: L.ones(6).view(-1, -1), RuntimeError),
    ("reshape_wrong_numel", lambda L: L.ones(2, 3).reshape(4), RuntimeError),
    ("permute_repeated_dim", lambda L: L.ones(2, 3).permute(0, 0), RuntimeError),
    ("permute_too_few_dims", lambda L: L.ones(2, 3).permute(0), RuntimeError),
    ("transpose_dim_out_of_range", lambda L: L.ones(2, 3).transpose(0, 2), IndexError),
    ("swapaxes_dim_out_of_range", lambda L: L.swapaxes(L.ones(2), 0, 1), IndexError),
    ("squeeze_dim_out_of_range", lambda L: L.ones(2).squeeze(1), IndexError),
    ("unsqueeze_dim_out_of_range", lambda L: L.ones(2).unsqueeze(3), IndexError),
    ("flatten_start_after_end", lambda L: L.ones(2, 3, 4).flatten(2, 0), RuntimeError),
    ("expand_fewer_dims", lambda L: L.ones(2, 3).expand(3), RuntimeError),
    ("expand_non_singleton", lambda L: L.ones(2, 3).expand(4, 3), RuntimeError),
    ("select_index_out_of_range", lambda L: L.ones(2, 3).select(1, 3), IndexError),
    ("narrow_past_end", lambda L: L.ones(4).narrow(0, 2, 3), RuntimeError),
    ("narrow_start_out_of_range", lambda L: L.ones(4).narrow(0, 5, 0), IndexError),
    ("narrow_negative_length", lambda L: L.ones(4).narrow(0, 1, -1), RuntimeError),
    ("t_3d", lambda L: L.ones(2, 3, 4).t(), RuntimeError),
    ("nonzero_as_tuple_str", lambda L: L.nonzero(L.ones(2), as_tuple="yes"), TypeError),
    ("view_as_not_tensor", lambda L: L.ones(2).view_as([1, 2]), TypeError),
]


def _bad_params():
    res = []
    for row in BAD:
        name, fn, exc = row.values if hasattr(row, "values") else row
        res.append(pytest.param(fn, exc, id=name, marks=row.marks if hasattr(row, "values") else ()))
    return res


@pytest.mark.parametrize("fn,exc", _bad_params())
def test_bad_input_raises_as_torch(fn, exc):
    torch = pytest.importorskip("torch")
    with pytest.raises(Exception) as t_info:
        fn(torch)
    assert type(t_info.value) is exc, f"torch raises {t_info.value!r}, the table says {exc.__name__}"
    with pytest.raises(Exception) as e_info:
        fn(ember)
    assert type(e_info.value) is exc, f"ember raises {e_info.value!r}, torch {t_info.value!r}"


# ---------------------------------------------------------------------------------------------
# Coverage, from the table: every op has rows that compare it with torch; every overload is
# called by some row; a differentiable op has a gradient check.

SPEC_OPS = [
    "add", "sub", "mul", "div", "pow", "neg", "abs", "exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid",
    "relu", "clamp", "maximum", "minimum", "where", "sum", "mean", "max", "min", "prod", "var", "std", "softmax",
    "log_softmax", "matmul", "mm", "bmm", "cat", "stack", "split", "chunk", "gather", "index_select", "view",
    "reshape", "transpose", "t", "permute", "T", "unsqueeze", "squeeze", "flatten", "expand", "eq", "ne", "lt",
    "le", "gt", "ge", "argmax", "argmin",
]
SPEC_METHOD_ONLY = {"view", "expand", "T"}

# Public names of ember that are not ops (factories and state are tested in test_tensor.py,
# test_autograd.py, test_environment.py).
NOT_OPS = {
    "Generator", "Size", "Tensor", "Node", "dtype", "device", "accelerator", "autograd", "backends", "cuda", "xpu",
    "nn", "optim", "utils", "serialization", "testing", "version", "load", "save", "install_as_torch",
    "manual_seed", "initial_seed", "get_num_threads", "set_num_threads", "set_flush_denormal", "is_grad_enabled", "set_grad_enabled",
    "get_num_interop_threads", "set_num_interop_threads", "get_default_device", "typename",
    "enable_grad", "no_grad", "inference_mode", "is_tensor", "is_floating_point", "numel", "get_default_dtype",
    "set_default_dtype", "set_default_device", "set_default_tensor_type", "set_printoptions",
    "are_deterministic_algorithms_enabled", "is_deterministic_algorithms_warn_only_enabled",
    "use_deterministic_algorithms", "get_float32_matmul_precision", "set_float32_matmul_precision",
    "float", "double", "long", "bool", "float32", "float64", "int64", "BoolTensor", "DoubleTensor", "FloatTensor",
    "LongTensor", "return_types", "seed", "get_rng_state", "set_rng_state",
    "compiler", "compile",  # torch.compile's interface (test_compile.py)
    "func", "vmap", "multiprocessing",  # torch.func (test_func.py), torch.multiprocessing (test_multiprocessing.py)
    # factories (test_tensor.py)
    "tensor", "as_tensor", "asarray", "from_numpy", "frombuffer", "zeros", "ones", "full", "empty", "arange",
    "linspace", "eye",
    "rand",
    "randn", "randint", "randperm", "zeros_like", "ones_like", "full_like", "empty_like", "rand_like",
    "randn_like",
}


def _python_ops():
    """Public callables of ember, ember._C and ember.linalg (as linalg_X) that the table does not
    declare: ops written in Python (dot, linalg.pinv, ...) unless listed in NOT_OPS."""
    names = set()
    for mod, prefix in ((ember, ""), (ember._C, ""), (getattr(ember, "linalg", None), "linalg_")):
        for n in dir(mod) if mod is not None else ():
            if n.startswith("_"):
                continue
            obj = getattr(mod, n)
            n = prefix + n
            if n in VARIANTS or n in NOT_OPS or getattr(obj, "__module__", "") == \
                    "ember._op_registry":
                continue
            if inspect.ismodule(obj) or isinstance(obj, type) or type(obj).__name__ == "dtype" or not callable(obj):
                continue
            names.add(n)
    return names


def _public_ops():
    """Every table name with a function or method variant, every in-place form X_, and the
    Python-level ops."""
    names = set()
    for n in TABLE_NAMES:
        names.add(n)  # (every table name has a function or method variant, or operator dunders only)
        if "inplace" in VARIANTS[n]:
            names.add(n + "_")
    return sorted(names | _python_ops())


@pytest.mark.parametrize("name", SPEC_OPS)
def test_spec_op_exists_and_has_row(name):
    if name in SPEC_METHOD_ONLY:
        assert hasattr(ember.Tensor, name), f"ember.Tensor.{name} missing"
    else:
        assert hasattr(ember, name) or hasattr(ember.Tensor, name), f"ember.{name} missing"
    assert name in ROWS, f"op {name} has no row in the op tables"


@pytest.mark.parametrize("name", _public_ops())
def test_public_op_has_row(name):
    """The rule: an op without a row comparing it with torch fails, and so does a differentiable
    op without a float64 gradient check; X_ is covered by test_inplace_variant, which needs a row
    calling ember.X(x, ...) that torch's X_ accepts."""
    torch = pytest.importorskip("torch")
    base = name[:-1]
    if name.endswith("_") and "inplace" in VARIANTS.get(base, ()):
        assert _first_source(base, _canonical(base, _inplace(base))) is not None, \
            f"no row of {base} calls ember.{base}(x, ...) with arguments torch's {name} accepts"
        return
    rows = ROWS.get(name)
    assert rows, f"{name} is a public op but no row covers it"
    from helpers import _outputs
    if name in RANDOM_NAMES:
        outs = _outputs(rows[0].fn(torch, *_torch_leaves(torch, make_inputs(rows[0], np.float64))))
        if _torch_differentiates(outs):
            assert any(c.name == name for c in RANDOM_GRAD_CASES), f"torch differentiates {name}: add a gradient row"
        return
    if any(id(c) in _DIFF for c in rows):
        assert any(c.name == name for c in GRADCHECK_CASES), f"{name} is differentiable but has no gradcheck row"
        return
    # forward-only rows: torch must not differentiate the op on floating inputs either
    arrays = [a.astype(np.float64) if isinstance(a, np.ndarray) else a for a in make_inputs(rows[0], np.float64)]
    try:
        outs = _outputs(rows[0].fn(torch, *_torch_leaves(torch, arrays)))
    except (RuntimeError, TypeError, IndexError):
        return  # torch refuses floating inputs: nothing to differentiate
    assert not _torch_differentiates(outs), f"torch differentiates {name}: it needs DIFF_CASES rows (gradcheck)"


@functools.cache
def _torch_calls():
    """Every function / method call torch sees while running every row: (op, variant, schema
    text it binds to or None, row)."""
    import torch
    from torch.overrides import TorchFunctionMode
    seen = []

    class Record(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            seen.append((func, args, kwargs))
            return func(*args, **kwargs)

    res = []
    for case in ALL_CASES + EDGE_CASES + RANDOM_CASES + RANDOM_GRAD_CASES:
        seen.clear()
        inputs = _torch_inputs(case)
        try:
            with Record():
                case.fn(torch, *inputs)
        except Exception:  # noqa: BLE001 (a mirrored row torch refuses)
            pass
        for n, args, kwargs in _fn_calls(case):
            if n in VARIANTS:
                s, _ = resolve(n, args, kwargs, "function")
                res.append((n, "function", s.text if s else None, case))
        for func, args, kwargs in seen:
            n = getattr(func, "__name__", "")
            if _lib_fn(torch, n) is func:
                variant = "function"
            elif getattr(torch.Tensor, n, None) is func:
                variant = "method"
            else:
                continue
            op = n
            if n in VARIANTS:
                pass
            elif n in DUNDERS:
                op = DUNDERS[n]
            elif n.endswith("_") and n[:-1] in VARIANTS:
                op, variant = n[:-1], "inplace"
            if op not in VARIANTS:
                continue
            s, _ = resolve(op, args, kwargs, variant)
            res.append((op, variant, s.text if s else None, case))
    return res


@pytest.mark.parametrize("schema", [s.text for s in TABLE])
def test_schema_has_row(schema):
    """Every overload of the table is called (as function or method) by some row."""
    pytest.importorskip("torch")
    assert any(s == schema for _, _, s, _ in _torch_calls()), f"no row calls the overload {schema}"


@pytest.mark.parametrize("name", _generic(TABLE_NAMES, "variants"))
def test_variants_exist_in_ember_and_torch(name):
    """What the table declares exists in ember and is torch API too."""
    torch = pytest.importorskip("torch")
    for v in sorted(VARIANTS[name]):
        if v in ("numbers", "any_dtype", "int64_result", "no_half"):  # argument and dtype policies, not bindings
            continue
        for lib in (ember, torch):
            if v == "function":
                assert callable(_lib_fn(lib, name)), f"{lib.__name__}.{name}"
            else:
                attr = name + "_" if v == "inplace" else name if v == "method" else v
                assert callable(getattr(lib.Tensor, attr, None)), f"{lib.__name__}.Tensor.{attr}"


def test_tables_are_nonempty_and_unique_ids():
    all_ids = ids(DIFF_CASES) + ids(NONDIFF_CASES) + ids(EDGE_CASES)
    assert len(set(ids(DIFF_CASES))) == len(ids(DIFF_CASES))
    assert len(set(ids(NONDIFF_CASES))) == len(ids(NONDIFF_CASES))
    assert len(all_ids) > 1000
    assert len({(r.values if hasattr(r, "values") else r)[0] for r in BAD}) == len(BAD)


def test_dtype_name_helper():
    assert dtype_name(ember.float32) == "float32"
    assert dtype_name(ember.int64) == "int64"


# ---------------------------------------------------------------------------------------------
# Signatures: every schema of the table against torch's Python signature of the same op: its
# stubs (torch/_C/_VariableFunctions.pyi for torch.X, class TensorBase of torch/_C/__init__.pyi
# for method-only ops, `self` read as `input`), inspect.signature for ops torch writes in Python
# (torch.split, torch.einsum), the docstring's first line for torch.linalg. The overload of torch
# closest to the schema is compared: parameter names, order, defaults, keyword-only markers and
# whether out= exists must agree, but for the deliberate differences below.

SIGNATURE_ALLOWLIST = {
    "unique_consecutive": "torch's is a Python (*args, **kwargs) function; this is its documented signature",
    "divide": "one schema for torch's divide(input, other, *, out) and divide(input, other, *, rounding_mode, out)",
    "contiguous": "torch's default memory_format=torch.contiguous_format; ember has one memory format",
    "nan_to_num": "nan=0.0 is what torch's nan=None means (None accepted too)",
    "normal.float_float": "pin_memory=None: ignored (CPU only); torch's default False",
    "meshgrid": "indexing='ij' is what torch's indexing=None means (torch also warns)",
    "argsort": "one schema for torch's argsort(input, dim, descending) and argsort(input, *, stable, dim, descending)",
    "sort": "one schema for torch's sort(input, dim, descending, *, out) and sort(input, *, stable, dim, descending, "
            "out); no out=",
    "norm": "p=2 over all elements is torch's p='fro'; out= not supported, dtype keyword-only",
    "norm.str": "as norm",
    "tensordot": "out= keyword-only, as every ember op (torch's Python tensordot takes it positionally)",
    "trapezoid": "one schema for torch's trapezoid(y, x, *, dim) and trapezoid(y, *, dx, dim)",
    "trapz": "one schema for torch's trapz(y, x, *, dim) and trapz(y, *, dx, dim)",
    "cumulative_trapezoid": "one schema for torch's cumulative_trapezoid(y, x, *, dim) and (y, *, dx, dim)",
    "gradient": "spacing=1 is what torch's spacing=None means",
    "sum": "one schema for torch's sum(input, *, dtype) and sum(input, dim, keepdim, *, dtype, out): "
           "dim=None reduces everything",
    "mean": "one schema for torch's mean(input, *, dtype) and mean(input, dim, keepdim, *, dtype, out)",
    "prod": "one schema for torch's prod(input, *, dtype) and prod(input, dim, keepdim, *, dtype, out)",
    "var": "one schema for torch's var(input, dim, unbiased, keepdim, *, out) and var(input, dim, *, correction, "
           "keepdim, out): unbiased and correction both accepted, keepdim positional",
    "std": "one schema for torch's std(input, dim, unbiased, keepdim) and std(input, dim, *, correction, keepdim)",
    "std_mean": "as std: torch's two overloads in one schema",
    "var_mean": "as var: torch's two overloads in one schema",
    "var.unbiased": "torch's var(input, unbiased=True): ember requires the bool (var(x) is the main schema)",
    "std.unbiased": "torch's std(input, unbiased=True): ember requires the bool (std(x) is the main schema)",
    "squeeze": "one schema for torch's squeeze(input), squeeze(input, dim), squeeze(input, dim: tuple)",
    "round": "one schema for torch's round(input, *, out) and round(input, *, decimals, out)",
    "max": "torch's max(input) also takes out=; ember has no out= for the full reduction",
    "min": "torch's min(input) also takes out=; ember has no out= for the full reduction",
    "max.dim": "torch's max(input, dim, keepdim, *, out=(values, indices)): no out tuple in ember",
    "min.dim": "torch's min(input, dim, keepdim, *, out=(values, indices)): no out tuple in ember",
    "max.other": "torch's max(input, other, *, out): ember has no out= here",
    "min.other": "torch's min(input, other, *, out): ember has no out= here",
}


def _literal(text):
    """A default as a comparable value: 0 == 0.0, [0, 1] == (0, 1), "L" == 'L'."""
    if text is None:
        return "<required>"
    try:
        v = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text.strip()
    if isinstance(v, list):
        v = tuple(v)
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return v


def _fmt_sig(params):
    """[(name, default, kwonly)] -> "(a, b=1, *, out=None)"."""
    res, star = [], False
    for name, default, kw in params:
        if kw and not star and not name.startswith("*"):
            res.append("*")
            star = True
        res.append(name + ("" if default == "<required>" else f"={default!r}"))
    return "(" + ", ".join(res) + ")"


def _pyname(name):
    """`from` is a Python keyword: torch's stubs spell it from_ (either side may)."""
    return "from" if name == "from_" else name


def _from_ast(fn, method=False):
    a = fn.args
    pos = a.posonlyargs + a.args
    defaults = [None] * (len(pos) - len(a.defaults)) + [ast.unparse(d) for d in a.defaults]
    params = [(_pyname(p.arg), _literal(d), False) for p, d in zip(pos, defaults)]
    if method:
        params = [("input", "<required>", False)] + params[1:]
    if a.vararg:
        params.append(("*" + a.vararg.arg, "<required>", False))
    params += [(p.arg, _literal(ast.unparse(d)) if d is not None else "<required>", True)
               for p, d in zip(a.kwonlyargs, a.kw_defaults)]
    return params


@functools.cache
def _stubs():
    """torch's stubs: {("function" | "method", name): [params of each overload]}."""
    import os

    import torch
    res = {}
    d = os.path.join(os.path.dirname(torch.__file__), "_C")
    for fname, kind in (("_VariableFunctions.pyi", "function"), ("__init__.pyi", "method")):
        path = os.path.join(d, fname)
        if not os.path.exists(path):
            continue
        tree = ast.parse(open(path).read())
        body = tree.body
        if kind == "method":
            body = next((n.body for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "TensorBase"), [])
        for n in body:
            if isinstance(n, ast.FunctionDef):
                res.setdefault((kind, n.name), []).append(_from_ast(n, method=kind == "method"))
    return res


def _from_doc(fn):
    """The signature on the first line of a docstring: "linalg.inv(A, *, out=None) -> Tensor"."""
    line = (fn.__doc__ or "").strip().splitlines()[0] if (fn.__doc__ or "").strip() else ""
    m = re.match(r"^[\w.]+\((.*)\)", line)
    if not m:
        return None
    tree = ast.parse(f"def f({m.group(1)}): pass")
    return _from_ast(tree.body[0])


@functools.cache
def _aten():
    import torch
    res = {}
    for s in torch._C._jit_get_all_schemas():
        text = str(s)
        if text.startswith("aten::"):
            sch = Schema(text[len("aten::"):])
            res.setdefault(sch.name, []).append(sch)
    return res


def _jit_signatures(name):
    """torch.linalg's builtins from their aten schemas: `self` read as `input`, an out overload as
    out=None (torch.linalg binds every out overload)."""
    def key(s):
        return [(p.name, p.type) for p in s.params if not ("!" in p.type and p.kwonly)]
    overloads = _aten().get(name, [])
    outs = [key(o) for o in overloads if any("!" in p.type and p.kwonly for p in o.params)]
    res = []
    for a in overloads:
        if any("!" in p.type and p.kwonly for p in a.params) or any("Dimname" in p.type for p in a.params):
            continue
        params = [("input" if p.name == "self" and p.type.startswith("Tensor") else p.name, _literal(p.default),
                   p.kwonly) for p in a.params]
        if key(a) in outs:
            params.append(("out", None, True))
        res.append(params)
    return res


def torch_signatures(schema):
    """Candidate Python signatures of torch for a table schema (one per overload)."""
    import torch
    fn = _lib_fn(torch, schema.name)
    if "function" in schema.variants and fn is not None:
        if inspect.isfunction(fn):  # written in Python
            ps = list(inspect.signature(fn).parameters.values())
            if any(p.kind == p.VAR_KEYWORD for p in ps) or [p.name for p in ps] == ["args"]:  # (*args): docstring
                sig = _from_doc(fn)
                return [sig] if sig else []
            return [[(("*" + p.name) if p.kind == p.VAR_POSITIONAL else p.name,
                      "<required>" if p.default is p.empty else _literal(repr(p.default)),
                      p.kind == p.KEYWORD_ONLY) for p in ps]]
        if schema.name.split("_")[0] in ("linalg", "special", "fft"):
            return _jit_signatures(schema.name)
        sigs = _stubs().get(("function", schema.name))
    else:
        sigs = _stubs().get(("method", schema.name))
    if sigs is None:  # no stubs installed: the docstring's first line
        sig = _from_doc(fn if fn is not None else getattr(torch.Tensor, schema.name))
        sigs = [sig] if sig else []
    return sigs


def ember_params(schema):
    return [(_pyname(p.name), _literal(p.default), p.kwonly) for p in schema.params]


def signature_diff(schema):
    """None when torch has an overload with the schema's signature, else (ember's, torch's closest)."""
    ours = ember_params(schema)
    cands = torch_signatures(schema)
    if not cands:
        return _fmt_sig(ours), "(no such op in torch)"
    if ours in cands:
        return None

    def score(c):
        return sum(2 * (x[0] == y[0]) + (x == y) for x, y in zip(ours, c)) - abs(len(c) - len(ours))
    return _fmt_sig(ours), _fmt_sig(max(cands, key=score))


SIGNATURE_GAPS: dict = {}  # not deliberate, known: a signature that differs from torch's (a test fails when fixed)

SIGNATURE_BUGS: dict = {}  # op -> how its schema differs from torch's (a strict xfail)


def _signature_params():
    res = []
    for s in TABLE:
        marks = [xfail_bug(SIGNATURE_BUGS[s.full_name])] if s.full_name in SIGNATURE_BUGS else []
        res.append(pytest.param(s.text, id=s.full_name, marks=marks))
    return res


@pytest.mark.parametrize("text", _signature_params())
def test_signature_matches_torch(text):
    pytest.importorskip("torch")
    schema = next(s for s in TABLE if s.text == text)
    diff = signature_diff(schema)
    if schema.full_name in SIGNATURE_ALLOWLIST or schema.full_name in SIGNATURE_GAPS:
        assert diff is not None, f"{schema.full_name} now agrees with torch: remove it from SIGNATURE_ALLOWLIST/GAPS"
    else:
        assert diff is None, f"{schema.full_name}: ember {diff[0]}\n{' ' * len(schema.full_name)}   torch {diff[1]}"


def test_signature_allowlist_names_table_schemas():
    assert set(SIGNATURE_ALLOWLIST) | set(SIGNATURE_BUGS) | set(SIGNATURE_GAPS) <= {s.full_name for s in TABLE}


# ---------------------------------------------------------------------------------------------
# Single checks.

def test_comparison_results_do_not_require_grad():
    x = ember.tensor([1.0, -2.0], requires_grad=True)
    for r in (x > 0, x == x, x.argmax(), x.argmin(), x.detach(), ember.logical_not(x), x.nonzero()):
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


def test_relu_and_clamp_give_positive_zero():
    x = ember.tensor([-2.0, -0.5, 3.0])
    for y in (x.relu(), x.clamp(min=0.0), ember.maximum(x, ember.zeros(3)), x.clamp_min(0.0)):
        assert not np.signbit(to_np(y)).any(), to_np(y)


def test_detach_shares_storage_and_inplace_bumps_version():
    x = ember.tensor([1.0, 2.0])
    d = x.detach()
    d.add_(1.0)
    np.testing.assert_array_equal(to_np(x), [2.0, 3.0])
    v = x._version
    x.mul_(2)
    assert x._version > v


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


def test_binder_resolves_overloads():
    x = ember.ones(2, 3)
    assert resolve("max", (x, 1), {}, "function")[0].full_name == "max.dim"
    assert resolve("max", (x, x), {}, "function")[0].full_name == "max.other"
    assert resolve("var", (x, True), {}, "method")[0].full_name == "var.unbiased"
    assert resolve("pow", (2, x), {}, "function")[0].full_name == "pow.Scalar"
    assert resolve("clamp", (x,), {"min": x}, "function")[0].full_name == "clamp.Tensor"
    assert resolve("sum", (x,), {"axis": 0, "keepdims": True}, "function")[0].full_name == "sum"
    assert resolve("add", (x, "a"), {}, "function") == (None, None)


# ---------------------------------------------------------------------------------------------
# Kernels: the GEMM paths and int64 corner cases.

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
        (lambda L: L.div(L.tensor([lo]), -1, rounding_mode="floor")),  # (torch itself dies of SIGFPE on "trunc")
        (lambda L: L.tensor([lo, 5]) << 1),
        (lambda L: L.tensor([lo]) >> 63),
    ]
    for f in cases:
        np.testing.assert_array_equal(to_np(f(ember)), to_np(f(torch)))


@pytest.mark.parametrize("name,args", [("t_", ()), ("transpose_", (0, 1)), ("swapaxes_", (1, 0)),
                                       ("swapdims_", (0, 1)), ("squeeze_", ()), ("unsqueeze_", (1,))])
def test_inplace_view_ops_are_self_and_refuse_grad_leaves(name, args):
    torch = pytest.importorskip("torch")
    for lib in (ember, torch):
        x = lib.arange(6.0).reshape(2, 3)
        y = getattr(x, name)(*args)
        assert y is x
        assert tuple(x.shape) == tuple(getattr(lib.arange(6.0).reshape(2, 3), name[:-1])(*args).shape)
        leaf = lib.ones(2, 3, requires_grad=True)
        with pytest.raises(RuntimeError, match="leaf Variable"):
            getattr(leaf, name)(*args)
        with lib.no_grad():
            getattr(leaf, name)(*args)  # allowed without grad mode; stays a leaf that requires grad
        assert leaf.requires_grad and leaf.is_leaf
