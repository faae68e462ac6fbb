"""The storage dtypes (uint8, int8, int16, int32, float16, bfloat16; Note [Storage dtypes] in
docs/architecture.md) beyond what the op-table rows check (tests/test_ops.py runs every row again
in these dtypes): conversions bit for bit, the promotion lattice, numpy and Python crossings,
legacy names, indexing, in-place ops, autograd, modules, optimizers and checkpoints, each against
torch on the same inputs."""
import itertools
import pickle
import warnings

import numpy as np
import pytest
from helpers import assert_close, to_np

import ember

torch = pytest.importorskip("torch")

NEW = ["uint8", "int8", "int16", "int32", "float16", "bfloat16"]
ALL = ["bool", "int64", "float32", "float64"] + NEW
HALF = ["float16", "bfloat16"]


def E(name):
    return getattr(ember, name)


def T(name):
    return getattr(torch, name)


def _bits(t, lib):
    """The raw bits of a 2-byte float tensor as int64 numbers."""
    return to_np(t.view(lib.int16)).astype(np.int64)


# ---- conversions --------------------------------------------------------------------------------

_HARD_FLOATS = np.array([0.0, -0.0, 1.0, -1.5, 65504.0, 65519.99, 65520.0, 1e6, -1e6, 6.1e-5, 5.96e-8, 2.98e-8,
                         1e-40, -1e-40, 3.3895e38, 1.0009765625, 1.00048828125, 1.001953125, 0.1, 1 / 3,
                         np.inf, -np.inf, np.nan], dtype=np.float32)


@pytest.mark.parametrize("dtype", HALF)
def test_float_to_half_types_bit_exact(dtype):
    """Round to nearest even, subnormals, overflow to inf and NaN give torch's bits."""
    g = np.random.default_rng(0)
    x = np.concatenate([_HARD_FLOATS, g.standard_normal(2000).astype(np.float32) * 10.0 ** g.integers(-9, 6, 2000)])
    e = ember.tensor(x).to(E(dtype))
    t = torch.tensor(x).to(T(dtype))
    np.testing.assert_array_equal(_bits(e, ember), _bits(t, torch))
    # and back: every 16-bit pattern widens to torch's float32
    pats = np.arange(-2 ** 15, 2 ** 15, dtype=np.int16)
    ew = ember.tensor(pats).view(E(dtype)).float()
    tw = torch.tensor(pats).view(T(dtype)).float()
    np.testing.assert_array_equal(to_np(ew).view(np.int32), to_np(tw).view(np.int32))


@pytest.mark.parametrize("src,dst", list(itertools.product(ALL, ALL)))
def test_casts_between_every_pair_match_torch(src, dst):
    vals = np.array([0, 1, -1, 2.5, -2.5, 127, 128, -129, 255, 256, 300.7, -300.7, 40000, -40000, 1e10, -1e10])
    # the source holds values it can represent (float -> integer out of range is undefined in C++)
    if src not in ("float32", "float64") + tuple(HALF) and src != "bool":
        info = np.iinfo(src)
        vals = np.trunc(vals[(vals >= info.min) & (vals <= info.max)])
    e = ember.tensor(vals).to(E(src))
    t = torch.tensor(vals).to(T(src))
    assert_close(e, t, rtol=0, atol=0)
    ok = np.ones(len(vals), bool)
    if src in ("float32", "float64") + tuple(HALF) and dst not in ("float32", "float64", "bool") + tuple(HALF):
        info, held = np.iinfo(dst), to_np(t.to(torch.float64))
        ok = (held >= info.min) & (held <= info.max)
    e, t = e.to(E(dst)), t.to(T(dst))
    assert str(e.dtype).split(".")[-1] == dst
    assert_close(to_np(e)[ok], to_np(t)[ok], rtol=0, atol=0)


@pytest.mark.parametrize("a,b", list(itertools.product(ALL, ALL)))
def test_promote_types_is_torchs_lattice(a, b):
    assert str(ember.promote_types(E(a), E(b))).split(".")[-1] == str(torch.promote_types(T(a), T(b))).split(".")[-1]


@pytest.mark.parametrize("dtype", NEW)
@pytest.mark.parametrize("number", [2, -3, 2.5, True])
def test_python_numbers_and_0d_tensors_promote_as_torch(dtype, number):
    x = np.array([1, 2, 3])
    e, t = ember.tensor(x).to(E(dtype)), torch.tensor(x).to(T(dtype))
    for fe, ft in [(lambda u: u + number, lambda u: u + number), (lambda u: number * u, lambda u: number * u),
                   (lambda u: u + ember.tensor(number), lambda u: u + torch.tensor(number)),
                   (lambda u: u < number, lambda u: u < number)]:
        re, rt = fe(e), ft(t)
        assert str(re.dtype).split(".")[-1] == str(rt.dtype).split(".")[-1]
        assert_close(re, rt, rtol=1e-2, atol=1e-2)


@pytest.mark.parametrize("dtype", NEW)
def test_dtype_attributes_and_names(dtype):
    e, t = E(dtype), T(dtype)
    assert e.itemsize == t.itemsize
    assert e.is_floating_point == t.is_floating_point
    assert e.is_signed == t.is_signed
    assert repr(e) == "ember." + dtype


def test_torch_aliases():
    assert ember.int is ember.int32 and ember.short is ember.int16 and ember.half is ember.float16
    for name in ["int", "short", "half"]:
        assert str(getattr(ember, name)).split(".")[-1] == str(getattr(torch, name)).split(".")[-1]


# ---- crossings: numpy, Python, repr, legacy names -----------------------------------------------

@pytest.mark.parametrize("np_dtype", [np.int32, np.int16, np.int8, np.uint8, np.float16])
def test_numpy_round_trip_keeps_dtype_and_shares_memory(np_dtype):
    a = np.arange(6, dtype=np_dtype).reshape(2, 3)
    e, t = ember.from_numpy(a), torch.from_numpy(a)
    assert str(e.dtype).split(".")[-1] == str(t.dtype).split(".")[-1]
    a[0, 0] = 5
    assert e[0, 0].item() == 5
    assert e.numpy().dtype == np_dtype
    assert ember.tensor(a).dtype == e.dtype


def test_bfloat16_numpy_raises_as_torch():
    for lib in (ember, torch):
        with pytest.raises(TypeError, match="BFloat16"):
            lib.ones(2, dtype=lib.bfloat16).numpy()


@pytest.mark.parametrize("dtype", NEW)
def test_item_tolist_repr(dtype):
    vals = [1.5, -2.0, 3.25] if dtype in HALF else [1, 2, 3]
    e, t = ember.tensor(vals).to(E(dtype)), torch.tensor(vals).to(T(dtype))
    assert e.tolist() == t.tolist()
    assert e[1].item() == t[1].item() and type(e[1].item()) is type(t[1].item())
    assert repr(e).replace("ember.", "torch.") == repr(t)


@pytest.mark.parametrize("method,dtype", [("int", "int32"), ("short", "int16"), ("char", "int8"), ("byte", "uint8"),
                                          ("half", "float16"), ("bfloat16", "bfloat16")])
def test_conversion_methods_and_type_strings(method, dtype):
    e = getattr(ember.tensor([1.7, -2.2]), method)()
    t = getattr(torch.tensor([1.7, -2.2]), method)()
    assert str(e.dtype).split(".")[-1] == dtype
    assert_close(e, t, rtol=0, atol=0)
    assert e.type().split(".")[-1] == t.type().split(".")[-1]
    assert e.type(ember.float32).dtype == ember.float32


@pytest.mark.parametrize("name", ["IntTensor", "ShortTensor", "CharTensor", "ByteTensor", "HalfTensor",
                                  "BFloat16Tensor"])
def test_legacy_constructors(name):
    e, t = getattr(ember, name)([1, 2]), getattr(torch, name)([1, 2])
    assert str(e.dtype).split(".")[-1] == str(t.dtype).split(".")[-1]
    assert isinstance(e, getattr(ember, name))
    assert ember.tensor([1.0]).type(f"torch.{name}").dtype == e.dtype


@pytest.mark.parametrize("dtype", NEW)
def test_factories_with_dtype(dtype):
    for fe in [lambda L: L.zeros(2, 3, dtype=getattr(L, dtype)), lambda L: L.ones(4, dtype=getattr(L, dtype)),
               lambda L: L.full((2,), 7, dtype=getattr(L, dtype)), lambda L: L.arange(5, dtype=getattr(L, dtype)),
               lambda L: L.eye(3, dtype=getattr(L, dtype)), lambda L: L.zeros_like(L.ones(3), dtype=getattr(L, dtype))]:
        e, t = fe(ember), fe(torch)
        assert str(e.dtype).split(".")[-1] == dtype
        assert_close(e, t, rtol=0, atol=0)


# ---- arithmetic semantics ----------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32"])
def test_integer_overflow_wraps_as_torch(dtype):
    info = np.iinfo(dtype)
    x = np.array([info.max, info.min, 0, 1])
    e, t = ember.tensor(x).to(E(dtype)), torch.tensor(x).to(T(dtype))
    for f in [lambda u: u + 1, lambda u: u - 1, lambda u: u * 3, lambda u: -u if dtype != "uint8" else u,
              lambda u: u + u, lambda u: u // 3, lambda u: u.sum(), lambda u: u.cumsum(0), lambda u: u.abs()]:
        re, rt = f(e), f(t)
        assert str(re.dtype).split(".")[-1] == str(rt.dtype).split(".")[-1]
        assert_close(re, rt, rtol=0, atol=0)


@pytest.mark.parametrize("dtype", ["int8", "uint8"])
def test_integer_division_and_mean_errors_as_torch(dtype):
    e, t = ember.tensor([1, 2]).to(E(dtype)), torch.tensor([1, 2]).to(T(dtype))
    assert (e / 2).dtype == ember.float32 and (t / 2).dtype == torch.float32
    with pytest.raises(RuntimeError):
        t.mean()
    with pytest.raises(RuntimeError):
        e.mean()


@pytest.mark.parametrize("dtype", HALF)
def test_half_sum_accumulates_in_float32(dtype):
    x = np.full(4096, 0.1, dtype=np.float32)
    e, t = ember.tensor(x).to(E(dtype)).sum(), torch.tensor(x).to(T(dtype)).sum()
    assert e.dtype == E(dtype)
    assert e.item() == t.item()


# ---- indexing and in-place -----------------------------------------------------------------------

def test_index_tensors_of_small_integer_dtypes():
    x = np.arange(12.0).reshape(3, 4)
    e, t = ember.tensor(x), torch.tensor(x)
    i32 = np.array([2, 0])
    assert_close(e[ember.tensor(i32).int()], t[torch.tensor(i32).int()])
    m8 = np.array([1, 0, 1], dtype=np.uint8)  # a uint8 index is a mask, as in torch
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch deprecates uint8 masks (but still takes them)
        assert_close(e[ember.tensor(m8)], t[torch.tensor(m8)])
    assert_close(e.index_select(1, ember.tensor(i32).int()), t.index_select(1, torch.tensor(i32).int()))
    with pytest.raises(RuntimeError, match="int32/int64"):
        torch.gather(t, 1, torch.tensor([[0]]).to(torch.int8))
    with pytest.raises(RuntimeError, match="int32/int64"):
        ember.gather(e, 1, ember.tensor([[0]]).to(ember.int8))


@pytest.mark.parametrize("dtype", NEW)
def test_setitem_views_and_inplace_ops(dtype):
    x = np.arange(12).reshape(3, 4)
    e, t = ember.tensor(x).to(E(dtype)), torch.tensor(x).to(T(dtype))
    for lib, u in ((ember, e), (torch, t)):
        u[0] = 5
        u[:, 1] = lib.tensor([1, 2, 3]).to(u.dtype)
        u[u > 9] = 0
        v = u.t()[1:]  # a view: writes reach u
        v.add_(1)
        u.mul_(2)
        u.clamp_(max=20)
        u[2].fill_(3)
    assert e.dtype == E(dtype)
    assert_close(e, t, rtol=0, atol=0)
    assert e.t().is_contiguous() == t.t().is_contiguous()


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int32"])
def test_inplace_float_into_int_refused_and_unchanged(dtype):
    e = ember.tensor([1, 2]).to(E(dtype))
    with pytest.raises(RuntimeError):
        torch.tensor([1, 2]).to(T(dtype)).add_(1.5)
    with pytest.raises(RuntimeError):
        e.add_(1.5)
    assert e.tolist() == [1, 2]


@pytest.mark.parametrize("dtype", HALF)
def test_samplers_fill_half_tensors(dtype):
    e = ember.empty(1000, dtype=E(dtype))
    e.uniform_(2, 3)
    assert e.dtype == E(dtype)
    v = e.float()
    assert 2 <= v.min().item() and v.max().item() <= 3
    e.normal_()
    assert abs(e.float().mean().item()) < 0.2
    assert ember.rand(5, dtype=E(dtype)).dtype == E(dtype)
    assert ember.randn(5, dtype=E(dtype)).dtype == E(dtype)


# ---- autograd, modules, optimizers, checkpoints ---------------------------------------------------

@pytest.mark.parametrize("dtype", HALF)
def test_half_leaf_gradients_accumulate_in_their_dtype(dtype):
    x = np.array([[0.5, -1.25, 2.0], [1.5, 0.25, -0.75]], dtype=np.float32)
    res = []
    for lib in (ember, torch):
        a = lib.tensor(x).to(getattr(lib, dtype)).requires_grad_(True)
        b = a[0] * a[1]  # a view of a leaf, used twice
        (b.sum() + (a * a).sum() + a.t()[1].exp().sum()).backward()
        (a * 3).sum().backward()
        (ga,) = lib.autograd.grad((a.sin() * 2).sum(), [a])
        res.append((a.grad, ga))
    (eg, ega), (tg, tga) = res
    assert eg.dtype == E(dtype) and ega.dtype == E(dtype)
    tol = 2e-2 if dtype == "float16" else 8e-2
    assert_close(eg, tg, rtol=tol, atol=tol)
    assert_close(ega, tga, rtol=tol, atol=tol)


def _mlp(lib, dtype):
    lib.manual_seed(0)
    m = lib.nn.Sequential(lib.nn.Linear(3, 4), lib.nn.Tanh(), lib.nn.Linear(4, 2))
    w = np.linspace(-1, 1, 12).reshape(4, 3)
    with lib.no_grad():
        m[0].weight.copy_(lib.tensor(w))
        m[0].bias.copy_(lib.tensor([0.1, -0.2, 0.3, 0.0]))
        m[2].weight.copy_(lib.tensor(w.T[:2] * 0.5))
        m[2].bias.copy_(lib.tensor([0.05, -0.05]))
    return getattr(m, {"float16": "half", "bfloat16": "bfloat16", "half": "half"}[dtype])()


# (not Adam in float16: torch's float16 Adam gives NaN here, its eps=1e-8 rounding to 0 in float16;
# ember's fused step computes in float32 and stays finite, see the README's known limits)
@pytest.mark.parametrize("dtype,opt", [("float16", "SGD"), ("bfloat16", "SGD"), ("bfloat16", "Adam")])
def test_half_model_trains_as_torch(dtype, opt):
    x = np.linspace(-2, 2, 24).reshape(8, 3)
    y = np.array([0, 1, 1, 0, 1, 0, 0, 1])
    out = []
    for lib in (ember, torch):
        m = _mlp(lib, dtype)
        kw = {"lr": 0.1, "momentum": 0.9} if opt == "SGD" else {"lr": 0.01}
        o = getattr(lib.optim, opt)(m.parameters(), **kw)
        xs = lib.tensor(x).to(getattr(lib, dtype))
        for _ in range(3):
            o.zero_grad()
            loss = lib.nn.functional.cross_entropy(m(xs), lib.tensor(y))
            loss.backward()
            o.step()
        out.append((loss, m[0].weight, m[2].bias))
    for e, t in zip(*out):
        assert e.dtype == E(dtype)
        tol = 3e-2 if dtype == "float16" else 1e-1
        assert_close(e, t, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", NEW)
def test_save_load_round_trip(dtype, tmp_path):
    x = ember.tensor([[1.5, -2.0], [3.0, 0.25]]).to(E(dtype))
    sd = {"x": x, "m": _mlp(ember, "half").state_dict()}
    ember.save(sd, tmp_path / "ck.pt")
    back = ember.load(tmp_path / "ck.pt")
    assert back["x"].dtype == x.dtype
    assert_close(back["x"], x, rtol=0, atol=0)
    assert back["m"]["0.weight"].dtype == ember.float16
    y = pickle.loads(pickle.dumps(x))
    assert y.dtype == x.dtype and y.tolist() == x.tolist()


# ---- finfo / iinfo ---------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [None, "float32", "float64", "float16", "bfloat16"])
def test_finfo_as_torch(dtype):
    e = ember.finfo() if dtype is None else ember.finfo(E(dtype))
    t = torch.finfo() if dtype is None else torch.finfo(T(dtype))
    for k in ["bits", "eps", "max", "min", "tiny", "smallest_normal", "resolution", "dtype"]:
        assert getattr(e, k) == getattr(t, k), k
    assert repr(e) == repr(t)
    assert ember.finfo(ember.float32) == ember.finfo(ember.float32)


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "int64"])
def test_iinfo_as_torch(dtype):
    e, t = ember.iinfo(E(dtype)), torch.iinfo(T(dtype))
    assert (e.bits, e.min, e.max, e.dtype) == (t.bits, t.min, t.max, t.dtype)
    assert repr(e) == repr(t)


def test_finfo_iinfo_refuse_the_other_kind():
    for lib in (ember, torch):
        with pytest.raises(TypeError, match="finfo"):
            lib.finfo(lib.int32)
        with pytest.raises(TypeError, match="iinfo"):
            lib.iinfo(lib.float32)
        with pytest.raises(TypeError):
            lib.iinfo(lib.bool)


def test_asarray_shares_or_copies_as_torch():
    for lib in (ember, torch):
        a = np.arange(4, dtype=np.int32)
        t = lib.asarray(a)
        a[0] = 7
        assert t[0].item() == 7 and str(t.dtype).endswith("int32")
        a[0] = 0
        c = lib.asarray(a, copy=True)
        a[1] = 9
        assert c[1].item() == 1
        x = lib.ones(3)
        assert lib.asarray(x) is x
        assert lib.asarray([1.5, 2]).dtype == lib.float32
        assert lib.asarray(x, dtype=lib.float64).dtype == lib.float64
        assert lib.asarray([1.0], requires_grad=True).requires_grad
