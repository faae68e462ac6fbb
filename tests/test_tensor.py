"""Tensor object tests: factories, dtypes and promotion, views sharing storage, indexing and
__setitem__, numpy interop, printing, item/tolist/clone, in-place ops. Tests that take the `L`
fixture run on both ember and torch, so torch checks the expectation itself."""
import numpy as np
import pytest

import ember
from helpers import dtype_name, rng, to_np


@pytest.fixture(params=["ember", "torch"])
def L(request):
    if request.param == "torch":
        return pytest.importorskip("torch")
    return ember


DTYPES = ["float32", "float64", "int64", "bool"]


# --- dtypes ---------------------------------------------------------------------------------------

def test_dtype_aliases():
    assert ember.float is ember.float32 or ember.float == ember.float32
    assert ember.double == ember.float64
    assert ember.long == ember.int64
    assert ember.float32 != ember.float64
    assert repr(ember.float32) == "ember.float32"
    assert str(ember.int64) == "ember.int64"
    assert repr(ember.bool) == "ember.bool"


@pytest.mark.parametrize("data,expected", [
    ([1, 2], "int64"), ([1.0, 2], "float32"), ([True, False], "bool"), (3, "int64"), (3.5, "float32"),
    (True, "bool"), ([[1, 2], [3.5, 4]], "float32"), ([[True], [False]], "bool"),
    (np.array([1.0], np.float64), "float64"), (np.array([1.0], np.float32), "float32"),
    (np.array([1], np.int64), "int64"), (np.array([True]), "bool"), (np.float64(2.0), "float64"),
])
def test_tensor_infers_dtype_like_torch(data, expected, L):
    t = L.tensor(data)
    assert dtype_name(t.dtype) == expected
    np.testing.assert_array_equal(to_np(t), np.asarray(data))


def test_tensor_explicit_dtype(L):
    assert dtype_name(L.tensor([1, 2], dtype=L.float32).dtype) == "float32"
    assert dtype_name(L.tensor([1.7, -2.7], dtype=L.int64).dtype) == "int64"
    np.testing.assert_array_equal(to_np(L.tensor([1.7, -2.7], dtype=L.int64)), [1, -2])
    assert dtype_name(L.tensor([0, 2], dtype=L.bool).dtype) == "bool"
    assert dtype_name(L.tensor(np.ones(2, np.float32), dtype=L.float64).dtype) == "float64"


def test_legacy_Tensor_constructor(L):
    t = L.Tensor([1, 2, 3])
    assert dtype_name(t.dtype) == "float32"
    np.testing.assert_array_equal(to_np(t), [1, 2, 3])
    assert tuple(L.Tensor(2, 3).shape) == (2, 3)


@pytest.mark.parametrize("conv,expected", [("float", "float32"), ("double", "float64"), ("long", "int64"),
                                           ("bool", "bool")])
def test_conversion_methods(conv, expected):
    x = ember.tensor([0.0, 1.5, -2.5])
    y = getattr(x, conv)()
    assert dtype_name(y.dtype) == expected
    np.testing.assert_array_equal(to_np(y), np.array([0.0, 1.5, -2.5]).astype(expected))


def test_to_dtype_and_device(L):
    x = L.tensor([1, 2])
    assert dtype_name(x.to(L.float64).dtype) == "float64"
    assert dtype_name(x.to(dtype=L.float32).dtype) == "float32"
    assert x.to("cpu") is x
    assert x.cpu() is x
    assert x.to(L.int64) is x  # no-op conversion returns self, as torch
    assert str(x.device) == "cpu"
    assert x.device == L.device("cpu")
    assert str(L.zeros(2, device="cpu").device) == "cpu"
    assert dtype_name(L.ones(2, device=L.device("cpu"), dtype=L.float64).dtype) == "float64"
    assert dtype_name(x.to("cpu", L.float64).dtype) == "float64"


def test_to_preserves_grad_path(L):
    x = L.tensor([1.0, 2.0], requires_grad=True)
    y = x.to(L.float64)
    assert y.requires_grad and not y.is_leaf
    (y * 2).sum().backward()
    assert dtype_name(x.grad.dtype) == "float32"
    np.testing.assert_array_equal(to_np(x.grad), [2, 2])


def _val(L, dt):
    return {"float32": L.tensor([1.5, 2.0]), "float64": L.tensor([1.5, 2.0], dtype=L.float64),
            "int64": L.tensor([3, 2]), "bool": L.tensor([True, False])}[dt]


PROMO = [(op, a, b) for op in ["add", "mul", "truediv", "sub", "maximum", "eq", "lt"] for a in DTYPES
         for b in DTYPES + ["pyint", "pyfloat", "pybool"] if not (op == "maximum" and b.startswith("py"))]


@pytest.mark.parametrize("op,a,b", PROMO, ids=["-".join(p) for p in PROMO])
def test_type_promotion_matches_torch(op, a, b):
    torch = pytest.importorskip("torch")
    import operator

    def run(L):
        x = _val(L, a)
        y = {"pyint": 2, "pyfloat": 2.5, "pybool": True}.get(b) if b.startswith("py") else _val(L, b)
        if op == "maximum":
            return L.maximum(x, y)
        return getattr(operator, op)(x, y)

    try:
        expected = run(torch)
    except (RuntimeError, TypeError) as e:
        with pytest.raises(type(e)):
            run(ember)
        return
    got = run(ember)
    assert dtype_name(got.dtype) == dtype_name(expected.dtype)
    np.testing.assert_allclose(to_np(got).astype(np.float64), to_np(expected).astype(np.float64), rtol=1e-6)


def test_promotion_examples_from_spec():
    assert ember.tensor([1, 2]).dtype == ember.int64
    assert (ember.tensor([1, 2]) * 2.5).dtype == ember.float32
    assert (ember.tensor([1.0]) + ember.tensor([1.0], dtype=ember.float64)).dtype == ember.float64
    assert (ember.tensor([3]) / ember.tensor([2])).dtype == ember.float32
    assert (ember.tensor([3]) / ember.tensor([2])).item() == 1.5
    assert (ember.tensor([1.0]) < 2).dtype == ember.bool
    assert (2.5 * ember.tensor([1], dtype=ember.float64)).dtype == ember.float64
    assert (ember.tensor([1, 2]) + 1).dtype == ember.int64


def test_python_float_scalar_keeps_float64_precision():
    x = ember.tensor([1.0], dtype=ember.float64)
    y = x + 1e-10
    assert y.item() == 1.0 + 1e-10


# --- factories ------------------------------------------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda L: L.zeros(2, 3), lambda L: L.zeros((2, 3)), lambda L: L.zeros([4]), lambda L: L.zeros(()),
    lambda L: L.ones(3, 1, dtype=L.int64), lambda L: L.ones(2, dtype=L.bool), lambda L: L.full((2, 2), 7),
    lambda L: L.full((2, 2), 7.0), lambda L: L.full((3,), True), lambda L: L.full([2], 1.5, dtype=L.float64),
    lambda L: L.arange(5), lambda L: L.arange(2, 7), lambda L: L.arange(0, 1, 0.25), lambda L: L.arange(1.0, 4.0),
    lambda L: L.arange(10, 0, -3), lambda L: L.arange(5, dtype=L.float32), lambda L: L.linspace(0, 1, 5),
    lambda L: L.linspace(-2, 2, 1), lambda L: L.linspace(0, 1, 4, dtype=L.float64), lambda L: L.eye(3),
    lambda L: L.eye(2, 4), lambda L: L.eye(3, dtype=L.int64), lambda L: L.zeros(0, 3),
    lambda L: L.zeros_like(L.tensor([[1, 2]])), lambda L: L.ones_like(L.tensor([1.0, 2.0])),
    lambda L: L.full_like(L.tensor([1.0, 2.0]), 3), lambda L: L.zeros_like(L.tensor([1, 2]), dtype=L.float64),
    lambda L: L.ones_like(L.tensor([True])),
], ids=lambda f: "")
def test_deterministic_factories_match_torch(make):
    torch = pytest.importorskip("torch")
    e, t = make(ember), make(torch)
    assert tuple(e.shape) == tuple(t.shape)
    assert dtype_name(e.dtype) == dtype_name(t.dtype)
    np.testing.assert_allclose(to_np(e), to_np(t), rtol=1e-6)


def test_empty_shapes(L):
    assert tuple(L.empty(2, 3).shape) == (2, 3)
    assert dtype_name(L.empty(2, dtype=L.int64).dtype) == "int64"
    assert tuple(L.empty_like(L.ones(4, 1)).shape) == (4, 1)


def test_random_factories_shapes_and_ranges():
    ember.manual_seed(0)
    r = ember.rand(200, 50)
    assert tuple(r.shape) == (200, 50) and r.dtype == ember.float32
    a = to_np(r)
    assert a.min() >= 0 and a.max() < 1 and 0.45 < a.mean() < 0.55
    n = to_np(ember.randn(10000))
    assert abs(n.mean()) < 0.05 and abs(n.std() - 1) < 0.05
    assert ember.randn(2, 3, dtype=ember.float64).dtype == ember.float64
    ri = ember.randint(3, 7, (1000,))
    assert ri.dtype == ember.int64
    v = to_np(ri)
    assert v.min() == 3 and v.max() == 6
    assert tuple(ember.randint(5, (2, 3)).shape) == (2, 3)
    p = ember.randperm(20)
    assert p.dtype == ember.int64
    assert sorted(to_np(p).tolist()) == list(range(20))
    assert tuple(ember.rand_like(ember.zeros(3, 2)).shape) == (3, 2)
    assert ember.randn_like(ember.zeros(3, dtype=ember.float64)).dtype == ember.float64
    assert ember.rand(2, requires_grad=True).requires_grad


def test_manual_seed_determinism():
    ember.manual_seed(1234)
    a = to_np(ember.rand(10))
    b = to_np(ember.randn(5))
    ember.manual_seed(1234)
    np.testing.assert_array_equal(to_np(ember.rand(10)), a)
    np.testing.assert_array_equal(to_np(ember.randn(5)), b)
    ember.manual_seed(4321)
    assert not np.array_equal(to_np(ember.rand(10)), a)
    ember.manual_seed(7)
    p1 = to_np(ember.randperm(10))
    x = ember.empty(100).uniform_(-2, 3)
    ember.manual_seed(7)
    np.testing.assert_array_equal(to_np(ember.randperm(10)), p1)
    np.testing.assert_array_equal(to_np(ember.empty(100).uniform_(-2, 3)), to_np(x))


def test_uniform_and_normal_inplace():
    ember.manual_seed(3)
    x = ember.zeros(5000)
    assert x.uniform_(-2.0, 3.0) is x
    a = to_np(x)
    assert a.min() >= -2 and a.max() < 3 and abs(a.mean() - 0.5) < 0.1
    y = ember.zeros(5000, dtype=ember.float64)
    y.normal_(mean=1.0, std=2.0)
    b = to_np(y)
    assert abs(b.mean() - 1.0) < 0.15 and abs(b.std() - 2.0) < 0.15


# --- size / shape ---------------------------------------------------------------------------------

def test_size_shape_dim_numel_len(L):
    x = L.zeros(2, 3, 4)
    assert x.size() == (2, 3, 4) and x.shape == (2, 3, 4)
    assert isinstance(x.shape, tuple)
    assert x.size(1) == 3 and x.size(-1) == 4 and x.shape[0] == 2
    assert x.dim() == 3 and x.ndim == 3
    assert x.numel() == 24 and L.numel(x) == 24
    assert len(x) == 2
    assert L.tensor(5.0).shape == () and L.tensor(5.0).dim() == 0
    assert list(x.shape) == [2, 3, 4]
    assert x.stride() == (12, 4, 1)


# --- views share storage --------------------------------------------------------------------------

VIEW_FNS = {
    "view": lambda x: x.view(6, 2), "reshape": lambda x: x.reshape(3, 4), "view_neg": lambda x: x.view(-1),
    "transpose": lambda x: x.transpose(0, 1), "t": lambda x: x.t(), "T": lambda x: x.T,
    "permute": lambda x: x.permute(1, 0), "unsqueeze": lambda x: x.unsqueeze(0), "squeeze": lambda x: x[None].squeeze(0),
    "flatten": lambda x: x.flatten(), "expand": lambda x: x[:1].expand(3, 4), "int": lambda x: x[1],
    "col": lambda x: x[:, 0], "slices": lambda x: x[1:3, ::2], "none": lambda x: x[..., None],
    "neg_step_free": lambda x: x[-2:], "narrow": lambda x: x.narrow(1, 1, 2), "select": lambda x: x.select(0, 2),
    "detach": lambda x: x.detach(), "chained": lambda x: x.t()[1:, ::2].unsqueeze(-1),
}


@pytest.mark.parametrize("name", list(VIEW_FNS))
def test_views_share_storage(name):
    x = ember.arange(12.0).reshape(3, 4)
    v = VIEW_FNS[name](x)
    before = to_np(x)
    if v.numel() == 0:
        return
    idx = tuple(0 for _ in v.shape)
    v[idx] = -100.0
    after = to_np(x)
    assert (after == -100.0).sum() == 1, f"{name}: writing through the view did not change the base"
    assert (after != before).sum() == 1


@pytest.mark.parametrize("name", list(VIEW_FNS))
def test_view_metadata_matches_torch(name):
    torch = pytest.importorskip("torch")
    e = VIEW_FNS[name](ember.arange(12.0).reshape(3, 4))
    t = VIEW_FNS[name](torch.arange(12.0).reshape(3, 4))
    assert tuple(e.shape) == tuple(t.shape)
    assert tuple(e.stride()) == tuple(t.stride())
    assert e.storage_offset() == t.storage_offset()
    assert e.is_contiguous() == t.is_contiguous()
    np.testing.assert_array_equal(to_np(e), to_np(t))


def test_view_writes_through_base_to_view(L):
    x = L.zeros(2, 3)
    v = x.t()
    x[1, 2] = 5.0
    assert float(v[2, 1]) == 5.0
    x.add_(1)
    assert float(v[0, 0]) == 1.0


@pytest.mark.parametrize("fn", [lambda x, L: x[L.tensor([0, 2])], lambda x, L: x[x > 5],
                                lambda x, L: x.t().reshape(-1), lambda x, L: x.clone(),
                                lambda x, L: x.t().contiguous(), lambda x, L: x.index_select(0, L.tensor([1]))])
def test_copies_do_not_share_storage(fn, L):
    x = L.arange(12.0).reshape(3, 4)
    c = fn(x, L)
    c.fill_(-1.0)
    np.testing.assert_array_equal(to_np(x), np.arange(12.0).reshape(3, 4))


def test_contiguous_returns_self_when_contiguous(L):
    x = L.zeros(2, 3)
    assert x.contiguous() is x
    assert not x.t().is_contiguous()
    c = x.t().contiguous()
    assert c.is_contiguous() and c.shape == (3, 2)


def test_view_on_noncontiguous_raises_but_reshape_copies(L):
    x = L.arange(6.0).reshape(2, 3).t()
    with pytest.raises(RuntimeError):
        x.view(6)
    np.testing.assert_array_equal(to_np(x.reshape(6)), [0, 3, 1, 4, 2, 5])


# --- indexing and __setitem__ ---------------------------------------------------------------------

GETITEM = [
    lambda x, L: x[1], lambda x, L: x[-1, 2], lambda x, L: x[:, 0], lambda x, L: x[1:3, ::2],
    lambda x, L: x[..., None], lambda x, L: x[None], lambda x, L: x[:, None, 1], lambda x, L: x[..., 1:],
    lambda x, L: x[1:1], lambda x, L: x[-3:-1, -2], lambda x, L: x[L.tensor([2, 0, 2])],
    lambda x, L: x[L.tensor([[0], [1]])], lambda x, L: x[:, L.tensor([3, 0])],
    lambda x, L: x[L.tensor([True, False, True])], lambda x, L: x[x > 4], lambda x, L: x[x.sum(1) > 10],
    lambda x, L: x[L.tensor([0, 2]), L.tensor([1, 3])], lambda x, L: x[L.tensor(1)],
    lambda x, L: x[0][1], lambda x, L: x[::3, 1:10], lambda x, L: x[[0, 2]],
]


@pytest.mark.parametrize("i", range(len(GETITEM)))
def test_getitem_matches_torch(i):
    torch = pytest.importorskip("torch")
    e = GETITEM[i](ember.arange(12).reshape(3, 4), ember)
    t = GETITEM[i](torch.arange(12).reshape(3, 4), torch)
    assert tuple(e.shape) == tuple(t.shape)
    assert dtype_name(e.dtype) == dtype_name(t.dtype)
    np.testing.assert_array_equal(to_np(e), to_np(t))


SETITEM = [
    lambda x, L: x.__setitem__(0, 5.0), lambda x, L: x.__setitem__((1, 2), -1.0),
    lambda x, L: x.__setitem__((slice(None), 0), L.tensor([7.0, 8.0, 9.0])),
    lambda x, L: x.__setitem__(slice(0, 2), L.tensor([1.0, 2.0, 3.0, 4.0])),  # broadcast a row
    lambda x, L: x.__setitem__((slice(None), slice(None, None, 2)), 0.5),
    lambda x, L: x.__setitem__(x > 5, 0.0), lambda x, L: x.__setitem__(L.tensor([0, 2]), 3.0),
    lambda x, L: x.__setitem__(Ellipsis, L.tensor(2.0)), lambda x, L: x.__setitem__(-1, L.tensor([[1.0] * 4])),
    lambda x, L: x.__setitem__((slice(None), 1), 4),
    lambda x, L: x.t().__setitem__(0, L.tensor([1.0, 2.0, 3.0])),
    lambda x, L: x.__setitem__(x < 3, L.tensor([10.0, 20.0, 30.0])),
    lambda x, L: x[1].__setitem__(slice(1, 3), L.tensor([5.0, 6.0], dtype=L.float64)),
]


@pytest.mark.parametrize("i", range(len(SETITEM)))
def test_setitem_matches_torch(i):
    torch = pytest.importorskip("torch")
    e = ember.arange(12.0).reshape(3, 4)
    t = torch.arange(12.0).reshape(3, 4)
    SETITEM[i](e, ember)
    SETITEM[i](t, torch)
    np.testing.assert_array_equal(to_np(e), to_np(t))
    assert dtype_name(e.dtype) == "float32"


def test_setitem_int_tensor_casts_value(L):
    x = L.zeros(3, dtype=L.int64)
    x[1] = 2.7
    np.testing.assert_array_equal(to_np(x), [0, 2, 0])


def test_setitem_is_differentiable(L):
    # torch records in-place writes into non-leaf tensors (CopySlices).
    x = L.tensor([1.0, 2.0, 3.0], requires_grad=True)
    v = L.tensor([5.0], requires_grad=True)
    h = x * 2
    h[1:2] = v * 3
    (h * L.tensor([1.0, 10.0, 100.0])).sum().backward()
    np.testing.assert_allclose(to_np(x.grad), [2, 0, 200])
    np.testing.assert_allclose(to_np(v.grad), [30])


# --- numpy interop --------------------------------------------------------------------------------

def test_from_numpy_shares_memory():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = ember.from_numpy(a)
    assert t.dtype == ember.float32 and t.shape == (2, 3)
    a[0, 0] = 100
    assert t[0, 0].item() == 100
    t[1, 2] = -5
    assert a[1, 2] == -5
    t.add_(1)
    assert a[0, 1] == 2


@pytest.mark.parametrize("dt", [np.float32, np.float64, np.int64, np.bool_])
def test_from_numpy_dtypes(dt):
    a = np.array([[1, 0], [0, 1]], dtype=dt)
    t = ember.from_numpy(a)
    assert dtype_name(t.dtype) == np.dtype(dt).name.replace("bool", "bool")
    np.testing.assert_array_equal(t.numpy(), a)


def test_from_numpy_noncontiguous_array():
    a = np.arange(12.0).reshape(3, 4)[:, ::2]
    t = ember.from_numpy(a)
    np.testing.assert_array_equal(to_np(t), a)
    a[0, 1] = -1
    assert t[0, 1].item() == -1


def test_from_numpy_keeps_array_alive():
    t = ember.from_numpy(np.arange(1000, dtype=np.float64))
    import gc
    gc.collect()
    _ = [np.ones(1000) for _ in range(50)]
    assert t.sum().item() == sum(range(1000))


def test_numpy_is_zero_copy():
    t = ember.zeros(2, 3)
    a = t.numpy()
    assert a.dtype == np.float32 and a.shape == (2, 3)
    a[0, 1] = 4.0
    assert t[0, 1].item() == 4.0
    t[1, 1] = 7.0
    assert a[1, 1] == 7.0


def test_numpy_of_views():
    t = ember.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(t.t().numpy(), np.arange(12.0).reshape(3, 4).T)
    np.testing.assert_array_equal(t[1:, ::2].numpy(), np.arange(12.0).reshape(3, 4)[1:, ::2])
    np.testing.assert_array_equal(ember.tensor(3).numpy(), np.array(3))
    np.testing.assert_array_equal(ember.tensor([True, False]).numpy(), [True, False])


def test_numpy_requires_grad_raises(L):
    x = L.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError):
        x.numpy()
    np.testing.assert_array_equal(x.detach().numpy(), [1.0])
    with pytest.raises(RuntimeError):
        (x * 2).numpy()


def test_tensor_from_numpy_copies(L):
    a = np.ones(3)
    t = L.tensor(a)
    a[0] = 5
    assert t[0].item() == 1.0


def test_as_tensor_and_np_asarray(L):
    t = L.tensor([[1.0, 2.0]])
    np.testing.assert_array_equal(np.asarray(t), [[1.0, 2.0]])
    assert dtype_name(L.as_tensor([1, 2]).dtype) == "int64"


# --- item / tolist / clone ------------------------------------------------------------------------

def test_item(L):
    a = L.tensor(2.5).item()
    assert isinstance(a, float) and a == 2.5
    b = L.tensor([7]).item()
    assert isinstance(b, int) and b == 7
    c = L.tensor(True).item()
    assert isinstance(c, bool) and c is True
    assert L.tensor([[3.0]], dtype=L.float64).item() == 3.0
    assert L.tensor([1.0], requires_grad=True).item() == 1.0


def test_tolist(L):
    assert L.tensor([[1, 2], [3, 4]]).tolist() == [[1, 2], [3, 4]]
    assert L.tensor(3).tolist() == 3
    assert L.tensor([True, False]).tolist() == [True, False]
    lst = L.tensor([0.5, 1.5]).tolist()
    assert lst == [0.5, 1.5] and all(isinstance(v, float) for v in lst)
    assert L.arange(6).reshape(2, 3).t().tolist() == [[0, 3], [1, 4], [2, 5]]
    assert L.zeros(0).tolist() == []


def test_clone(L):
    x = L.tensor([1.0, 2.0], requires_grad=True)
    c = x.clone()
    assert not c.is_leaf and c.requires_grad
    with L.no_grad():
        c.add_(1)
    assert x[0].item() == 1.0
    y = L.arange(6.0).reshape(2, 3).t().clone()
    np.testing.assert_array_equal(to_np(y), np.arange(6.0).reshape(2, 3).T)


def test_python_scalar_conversions(L):
    assert float(L.tensor([2.5])) == 2.5
    assert int(L.tensor(3)) == 3
    assert bool(L.tensor([1]))
    assert not bool(L.tensor(0.0))
    with pytest.raises(RuntimeError):
        bool(L.tensor([1, 2]))


def test_iteration(L):
    rows = list(L.arange(6).reshape(3, 2))
    assert len(rows) == 3 and rows[2].tolist() == [4, 5]


# --- in-place ops ---------------------------------------------------------------------------------

INPLACE = [
    lambda x, L: x.add_(1.5), lambda x, L: x.add_(L.tensor([1.0, 2.0, 3.0])), lambda x, L: x.add_(x, alpha=2),
    lambda x, L: x.sub_(L.tensor([[1.0], [2.0]])), lambda x, L: x.mul_(-2), lambda x, L: x.mul_(L.tensor(3.0)),
    lambda x, L: x.div_(4), lambda x, L: x.div_(L.tensor([1.0, 2.0, 4.0])), lambda x, L: x.zero_(),
    lambda x, L: x.fill_(7.0), lambda x, L: x.copy_(L.tensor([9.0, 8.0, 7.0])),
    lambda x, L: x.copy_(L.tensor([[1, 2, 3], [4, 5, 6]])), lambda x, L: x.clamp_(0.5, 3.5),
    lambda x, L: x.clamp_(min=2), lambda x, L: x.t().mul_(2), lambda x, L: x[:, 1:].add_(10),
    lambda x, L: x.pow_(2),
]


@pytest.mark.parametrize("i", range(len(INPLACE)))
def test_inplace_matches_torch(i):
    torch = pytest.importorskip("torch")
    e = ember.arange(6.0).reshape(2, 3)
    t = torch.arange(6.0).reshape(2, 3)
    re_ = INPLACE[i](e, ember)
    rt = INPLACE[i](t, torch)
    np.testing.assert_allclose(to_np(e), to_np(t), rtol=1e-6)
    assert tuple(re_.shape) == tuple(rt.shape)
    np.testing.assert_allclose(to_np(re_), to_np(rt), rtol=1e-6)


def test_inplace_returns_self(L):
    x = L.zeros(3)
    assert x.add_(1) is x and x.mul_(2) is x and x.zero_() is x and x.fill_(1) is x
    assert x.copy_(L.ones(3)) is x and x.clamp_(0, 1) is x and x.sub_(1) is x and x.div_(2) is x


def test_augmented_assignment_is_inplace(L):
    x = L.ones(3)
    ident = id(x)
    x += 1
    x *= L.tensor([1.0, 2.0, 3.0])
    x -= 0.5
    x /= 2
    assert id(x) == ident
    np.testing.assert_allclose(to_np(x), [0.75, 1.75, 2.75])


def test_sgd_style_update_under_no_grad(L):
    g = rng(0)
    w = L.tensor(g.standard_normal(4).astype(np.float32), requires_grad=True)
    xs = L.tensor(g.standard_normal((8, 4)).astype(np.float32))
    ys = L.tensor(g.standard_normal(8).astype(np.float32))
    lr = 0.1
    losses = []
    for _ in range(5):
        loss = ((xs @ w - ys) ** 2).mean()
        losses.append(loss.item())
        loss.backward()
        with L.no_grad():
            w -= lr * w.grad
        w.grad = None
    assert w.is_leaf and w.requires_grad
    assert losses[-1] < losses[0]


def test_sgd_losses_match_torch():
    torch = pytest.importorskip("torch")

    def run(L):
        g = rng(0)
        w = L.tensor(g.standard_normal(4).astype(np.float32), requires_grad=True)
        xs = L.tensor(g.standard_normal((8, 4)).astype(np.float32))
        ys = L.tensor(g.standard_normal(8).astype(np.float32))
        out = []
        for _ in range(5):
            loss = ((xs @ w - ys) ** 2).mean()
            out.append(loss.item())
            loss.backward()
            with L.no_grad():
                w -= 0.1 * w.grad
                w.grad.zero_()
        return out

    np.testing.assert_allclose(run(ember), run(torch), rtol=1e-5)


# --- printing -------------------------------------------------------------------------------------

REPRS = [
    lambda L: L.tensor([[1.0, 2.0]], requires_grad=True),
    lambda L: L.tensor([[1.0, 2.0]], requires_grad=True) * 2,
    lambda L: L.tensor([1.0, 2.0], requires_grad=True) + 1,
    lambda L: L.tensor([1.0, 2.0], requires_grad=True).sum(),
    lambda L: L.tensor([1.0, 2.0], requires_grad=True).mean(),
    lambda L: L.tensor([1.0, 2.0], requires_grad=True).exp(),
    lambda L: L.tensor([1.0, 2.0], requires_grad=True) / 3,
    lambda L: L.tensor([1.0, 2.0], requires_grad=True) - 3,
    lambda L: L.tensor([1, 2, 3]), lambda L: L.tensor([True, False]), lambda L: L.tensor(3.5),
    lambda L: L.tensor(7), lambda L: L.tensor([1.5, -2.25, 3.0]), lambda L: L.tensor([1.0, 2.0], dtype=L.float64),
    lambda L: L.tensor([[1, 2], [30, 400]]), lambda L: L.zeros(2, 3), lambda L: L.tensor([]),
    lambda L: L.tensor([0.001, 1000.0]), lambda L: L.tensor([1e-8, 1.0]), lambda L: L.tensor([1e10, 1.0]),
    lambda L: L.tensor([float("inf"), float("nan"), -1.0]), lambda L: L.arange(2000.0),
    lambda L: L.arange(24).reshape(2, 3, 4), lambda L: L.tensor([[0.1234567, 12.5], [-3.0, 0.0]]),
    lambda L: L.zeros(0, 3), lambda L: L.tensor(2.0, dtype=L.float64),
]


@pytest.mark.parametrize("i", range(len(REPRS)))
def test_repr_matches_torch(i):
    torch = pytest.importorskip("torch")
    e, t = REPRS[i](ember), REPRS[i](torch)
    assert repr(e) == repr(t).replace("torch", "ember")
    assert str(e) == str(t).replace("torch", "ember")


def test_repr_examples():
    assert repr(ember.tensor([[1.0, 2.0]], requires_grad=True)) == "tensor([[1., 2.]], requires_grad=True)"
    y = ember.tensor([1.0], requires_grad=True) * 2
    assert repr(y) == "tensor([2.], grad_fn=<MulBackward0>)"
    assert repr(ember.tensor([1.0], dtype=ember.float64)) == "tensor([1.], dtype=ember.float64)"


GRAD_FN_OPS = {
    "add": lambda x: x + 1, "sub": lambda x: x - x, "mul": lambda x: x * x, "div": lambda x: x / 2,
    "pow": lambda x: x ** 2, "neg": lambda x: -x, "exp": lambda x: x.exp(), "log": lambda x: x.abs().log(),
    "sum": lambda x: x.sum(), "sum_dim": lambda x: x.sum(0), "mean": lambda x: x.mean(), "mm": lambda x: x @ x.t(),
    "relu": lambda x: x.relu(), "sigmoid": lambda x: x.sigmoid(), "tanh": lambda x: x.tanh(),
    "view": lambda x: x.view(-1), "t": lambda x: x.t(), "transpose": lambda x: x.transpose(0, 1),
    "select": lambda x: x[0], "slice": lambda x: x[:, 1:], "cat": lambda x: __import__("ember").cat([x, x])
    if isinstance(x, ember.Tensor) else __import__("torch").cat([x, x]),
    "softmax": lambda x: x.softmax(-1), "log_softmax": lambda x: x.log_softmax(-1),
    "unsqueeze": lambda x: x.unsqueeze(0), "expand": lambda x: x[:1].expand(3, 2),
    "clone": lambda x: x.clone(), "max_dim": lambda x: x.max(1)[0], "index": lambda x: x[x > 0],
}


@pytest.mark.parametrize("name", list(GRAD_FN_OPS))
def test_grad_fn_names_match_torch(name):
    torch = pytest.importorskip("torch")
    a = np.array([[1.0, -2.0], [3.0, 4.0], [-0.5, 2.0]], dtype=np.float32)
    e = GRAD_FN_OPS[name](ember.tensor(a, requires_grad=True))
    t = GRAD_FN_OPS[name](torch.tensor(a, requires_grad=True))
    assert e.grad_fn.name() == t.grad_fn.name()
    assert repr(e) == repr(t).replace("torch", "ember")
