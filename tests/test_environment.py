"""The torch environment surface, checked against the real torch 2.13 (CPU build) installed as the oracle:
devices and moving tensors to them, cuda / mps / accelerator / backends queries, deterministic switches,
print options (tensor reprs compared character for character), torch.__version__ comparisons, the
default dtype, is_tensor / numel, autograd.Variable, the legacy typed constructors, Tensor.type(),
Tensor.new_*(), numpy interop, and testing.assert_close's verdicts and messages.

Everything here runs in-process without install_as_torch(), so ember prints 'ember.float32' where torch
prints 'torch.float32'; _norm() maps ember's names onto torch's before comparing.
"""
import copy
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest

import ember

torch = pytest.importorskip("torch")

E, T = ember, torch


def _norm(s):
    """ember's text with torch's names (the only intended difference when not installed as torch)."""
    ns = ember._torch_compat._NAMESPACE
    return (str(s).replace("<class 'ember._C.Tensor'>", "<class 'torch.Tensor'>")
            .replace("ember._C.Tensor", "Tensor").replace(ns + ".", "torch."))


def _outcome(fn):
    """('ok', normalised repr) or (exception type name, normalised message)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = fn()
    except Exception as e:  # noqa: BLE001
        return type(e).__name__, _norm(e)
    return "ok", _norm(repr(r))


def _same(fn_of_module):
    """Run fn(torch) and fn(ember); assert the same result or the same exception and message."""
    t, e = _outcome(lambda: fn_of_module(T)), _outcome(lambda: fn_of_module(E))
    assert e == t
    return e


@pytest.fixture(autouse=True)
def _restore_global_state():
    yield
    for m in (T, E):
        m.set_printoptions(profile="default")
        m.set_default_dtype(m.float32)


# ---- devices ----------------------------------------------------------------------------------

DEVICE_ARGS = [("cpu",), ("cuda",), ("cuda:0",), ("cuda", 0), ("cuda", 1), ("cuda:1",), ("mps",), ("mps", 0),
               ("cpu", 0), ("cpu:0",), ("cpu", 1), ("meta",), ("xpu:3",)]


@pytest.mark.parametrize("args", DEVICE_ARGS, ids=str)
def test_device_construction_matches_torch(args):
    t, e = T.device(*args), E.device(*args)
    assert (repr(e), str(e), e.type, e.index, hash(e)) == (repr(t), str(t), t.type, t.index, hash(t))
    assert E.device(e) == e and E.device(type=e.type, index=e.index) == e
    assert pickle.loads(pickle.dumps(e)) == e and copy.deepcopy(e) == e
    assert {e: 1}[E.device(*args)] == 1


@pytest.mark.parametrize("args", [("foo",), ("CUDA",), (" cuda",), ("cuda:x",), ("cuda:-1",), ("cuda:01",),
                                  ("cuda:",), ("cuda", -1), ("cuda:0", 1), ("cuda", "1"), ("cuda", 1.0),
                                  ("cuda", True), (1.0,), (None,), (), (0,), (-1,), ("",)], ids=str)
def test_device_construction_errors_match_torch(args):
    kind, _ = _same(lambda m: m.device(*args))
    assert kind != "ok"


def test_device_equality_matches_torch():
    for m in (T, E):
        d = m.device
        assert d("cuda") != d("cuda:0") and d("cuda", 0) == d("cuda:0")
        assert d("cpu") != d("cpu", 0)
        assert (d("cpu") == "cpu") is False and (d("cpu") != "cpu") is True
        assert d("cpu") != None  # noqa: E711
    assert E.ones(2).device == E.device("cpu") and repr(E.ones(2).device) == "device(type='cpu')"


MOVES = {
    "to_cuda": lambda m: m.ones(2).to("cuda"),
    "to_cuda1": lambda m: m.ones(2).to("cuda:1"),
    "to_device_obj": lambda m: m.ones(2).to(m.device("cuda")),
    "to_kw": lambda m: m.ones(2).to(device="cuda"),
    "to_cuda_dtype": lambda m: m.ones(2).to("cuda", m.float64),
    "to_mps": lambda m: m.ones(2).to("mps"),
    "to_vulkan": lambda m: m.ones(2).to("vulkan"),
    "to_xpu": lambda m: m.ones(2).to("xpu"),
    "cuda()": lambda m: m.ones(2).cuda(),
    "cuda(0)": lambda m: m.ones(2).cuda(0),
    "zeros_cuda": lambda m: m.zeros(2, device="cuda"),
    "randn_cuda": lambda m: m.randn(2, device=m.device("cuda", 0)),
    "tensor_cuda": lambda m: m.tensor([1.0], device="cuda"),
    "tensor_mps": lambda m: m.tensor([1.0], device="mps"),
    "as_tensor_mps": lambda m: m.as_tensor([1.0], device="mps"),
    "arange_cuda": lambda m: m.arange(3, device="cuda"),
    "zeros_like_cuda": lambda m: m.zeros_like(m.ones(2), device="cuda"),
    "new_zeros_cuda": lambda m: m.ones(2).new_zeros(2, device="cuda"),
    "new_tensor_cuda": lambda m: m.ones(2).new_tensor([1], device="cuda"),
    "zeros_xpu": lambda m: m.zeros(2, device="xpu"),
    "zeros_index": lambda m: m.zeros(2, device=0),
    "to_cpu0": lambda m: m.ones(2).to("cpu:0").device,
    "zeros_cpu": lambda m: m.zeros(2, device="cpu").device,
    "cpu()": lambda m: m.ones(2).cpu(),
}


@pytest.mark.parametrize("name", list(MOVES))
def test_moving_to_other_devices_raises_as_cpu_only_torch(name):
    _same(MOVES[name])


@pytest.mark.parametrize("make", [lambda m: m.zeros(2, device="mps"), lambda m: m.rand(2, device="mps"),
                                  lambda m: m.zeros_like(m.ones(1), device="mps"),
                                  lambda m: m.ones(2, device="vulkan")])
def test_factory_on_unlinked_backend_raises_torchs_dispatch_error(make):
    for m in (T, E):
        with pytest.raises(NotImplementedError) as info:
            make(m)
        if m is T:
            expected = str(info.value)
    # ember keeps the first sentences of torch's (very long) dispatcher message
    assert expected.startswith(str(info.value))


# ---- cuda / mps / accelerator / backends queries ------------------------------------------------

QUERIES = {
    "cuda.is_available": lambda m: m.cuda.is_available(),
    "cuda.device_count": lambda m: m.cuda.device_count(),
    "cuda.manual_seed": lambda m: m.cuda.manual_seed(0),
    "cuda.manual_seed_all": lambda m: m.cuda.manual_seed_all(0),
    "cuda.synchronize": lambda m: m.cuda.synchronize(),
    "cuda.empty_cache": lambda m: m.cuda.empty_cache(),
    "cuda.current_device": lambda m: m.cuda.current_device(),
    "cuda.get_device_name": lambda m: m.cuda.get_device_name(),
    "cuda.is_initialized": lambda m: m.cuda.is_initialized(),
    "cuda.memory_allocated": lambda m: m.cuda.memory_allocated(),
    "cuda.max_memory_allocated": lambda m: m.cuda.max_memory_allocated(),
    "cuda.is_bf16_supported": lambda m: m.cuda.is_bf16_supported(),
    "cuda.get_device_properties": lambda m: m.cuda.get_device_properties(0),
    "cuda.seed": lambda m: m.cuda.seed(),
    "cuda.get_rng_state_all": lambda m: m.cuda.get_rng_state_all(),
    "mps.is_available": lambda m: m.backends.mps.is_available(),
    "mps.is_built": lambda m: m.backends.mps.is_built(),
    "cudnn.flags": lambda m: (m.backends.cudnn.enabled, m.backends.cudnn.benchmark, m.backends.cudnn.deterministic,
                              m.backends.cudnn.allow_tf32),
    "cudnn.is_available": lambda m: m.backends.cudnn.is_available(),
    "cudnn.version": lambda m: m.backends.cudnn.version(),
    "backends.cuda": lambda m: (m.backends.cuda.is_built(), m.backends.cuda.matmul.allow_tf32),
    "accelerator.is_available": lambda m: m.accelerator.is_available(),
    "accelerator.current_accelerator": lambda m: m.accelerator.current_accelerator(),
    "accelerator.device_count": lambda m: m.accelerator.device_count(),
    "accelerator.current_device_index": lambda m: m.accelerator.current_device_index(),
    "accelerator.synchronize": lambda m: m.accelerator.synchronize(),
    "xpu.is_available": lambda m: m.xpu.is_available(),
    "version.cuda": lambda m: (m.version.cuda, m.version.hip, m.version.__version__),
    "inference_mode": lambda m: (m.inference_mode is not None, callable(m.inference_mode)),
    "matmul_precision": lambda m: m.get_float32_matmul_precision(),
    "get_device": lambda m: m.ones(1).get_device(),
    "tensor_flags": lambda m: (m.ones(1).is_cuda, m.ones(1).is_cpu, m.ones(1).is_mps, m.ones(1).is_meta),
    "dtype_flags": lambda m: [(d.is_floating_point, d.is_signed, d.itemsize)
                              for d in (m.float32, m.float64, m.int64, m.bool)],
}


@pytest.mark.parametrize("name", list(QUERIES))
def test_environment_queries_match_cpu_only_torch(name):
    _same(QUERIES[name])


def test_cudnn_flags_are_settable_and_modules_importable():
    import importlib
    for name in ("ember.cuda", "ember.backends.cudnn", "ember.backends.mps", "ember.accelerator", "ember.version"):
        assert importlib.import_module(name) is not None
    E.backends.cudnn.benchmark = True
    try:
        assert E.backends.cudnn.benchmark is True
    finally:
        E.backends.cudnn.benchmark = False


def test_inference_mode_disables_grad():
    x = E.ones(2, requires_grad=True)
    with E.inference_mode():
        y = x * 2
    assert not y.requires_grad


def _set_deterministic(m):
    # torch.use_deterministic_algorithms imports torch._inductor (seconds); its C half takes the same arguments
    return T._C._set_deterministic_algorithms if m is T else E.use_deterministic_algorithms


def test_deterministic_algorithms_match_torch():
    try:
        for m in (T, E):
            assert m.are_deterministic_algorithms_enabled() is False
            _set_deterministic(m)(True)
            assert (m.are_deterministic_algorithms_enabled(), m.is_deterministic_algorithms_warn_only_enabled()) == (
                True, False)
            _set_deterministic(m)(True, warn_only=True)
            assert m.is_deterministic_algorithms_warn_only_enabled() is True
            _set_deterministic(m)(False)
            assert m.are_deterministic_algorithms_enabled() is False
        for bad in (1, "x", None):
            _same(lambda m: _set_deterministic(m)(bad))
    finally:
        T._C._set_deterministic_algorithms(False)
        E.use_deterministic_algorithms(False)


# ---- printing -------------------------------------------------------------------------------------

def _tensors(m):
    t = m.tensor
    return [
        t([1., 2., 3.]), t([0., float("nan")]), t([0., float("inf"), -float("inf"), 1.5]), t([1e-5, 1.0]),
        t([1e9, 1.0]), t([-0.0, 1.]), t(3.5), t(3), t(True), t(1e-8), t([[1, 2], [300, -4]]), t([True, False]),
        t([]), m.zeros(0, 3), m.zeros(2, 0, dtype=m.int64), t([], dtype=m.float64), m.arange(2000),
        m.arange(2000.).reshape(40, 50), m.arange(5000).reshape(10, 10, 50), m.arange(-18., 19.) / 18,
        (m.arange(-18., 19.) / 18).reshape(37, 1), t([1.5, 2.25], dtype=m.float64), t([1.5, 2.25], requires_grad=True),
        t([1.5, 2.25], requires_grad=True) * 2, m.arange(30.).reshape(2, 3, 5) / 7, m.arange(100.) * 1234.5678,
        m.arange(60.).reshape(3, 20) * 1e-5, t([[1e-10, 1.], [2., 3.]], dtype=m.float64),
        m.ones(2, 10, dtype=m.float64, requires_grad=True) / 3, t([123456.789]), m.arange(1100.) / 3,
    ]


PRINT_OPTIONS = [{}, dict(precision=2), dict(precision=8), dict(sci_mode=True), dict(sci_mode=False),
                 dict(linewidth=40), dict(threshold=5), dict(edgeitems=1, threshold=5),
                 dict(edgeitems=0, threshold=5), dict(profile="short"), dict(profile="full"),
                 dict(precision=1, linewidth=200), dict(profile="full", precision=2)]


@pytest.mark.parametrize("options", PRINT_OPTIONS, ids=str)
def test_tensor_repr_matches_torch_under_printoptions(options):
    T.set_printoptions(**options)
    E.set_printoptions(**options)
    for tt, et in zip(_tensors(T), _tensors(E)):
        assert _norm(repr(et)) == repr(tt)
        assert _norm(str(et)) == str(tt)


def test_printoptions_profile_default_restores_and_options_are_readable():
    E.set_printoptions(precision=2, threshold=5, edgeitems=1, linewidth=50, sci_mode=True)
    E.set_printoptions(profile="default")
    assert ember._tensor_str.get_printoptions() == dict(precision=4, threshold=1000, edgeitems=3, linewidth=80,
                                                         sci_mode=None)
    with ember._tensor_str.printoptions(precision=1):
        assert repr(E.tensor([1.25])) == "tensor([1.2])"
    assert repr(E.tensor([1.25])) == "tensor([1.2500])"


@pytest.mark.parametrize("default", ["float32", "float64"])
def test_repr_dtype_suffix_follows_default_dtype(default):
    T.set_default_dtype(getattr(T, default))
    E.set_default_dtype(getattr(E, default))
    for make in (lambda m: m.tensor([1.5], dtype=m.float32), lambda m: m.tensor([1.5], dtype=m.float64),
                 lambda m: m.tensor([], dtype=m.float32), lambda m: m.tensor([], dtype=m.float64),
                 lambda m: m.tensor([], dtype=m.int64), lambda m: m.tensor([1, 2])):
        assert _norm(repr(make(E))) == repr(make(T))


def test_dtype_and_size_repr_use_the_namespace():
    ns = ember._torch_compat._NAMESPACE
    assert repr(E.float32) == str(E.float32) == ns + ".float32"
    assert repr(E.ones(2, 3).shape) == ns + ".Size([2, 3])" and str(E.Size([])) == ns + ".Size([])"


# ---- version ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("other", ["2.0", "2.13", "2.13.0", "2.13.0+cpu", "2.13.1", "2.14.0a0", "3", "1.13.1",
                                   (2, 0), (2, 13), (2, 13, 0), [3], "abc", "2.13.0+cu121", 2, 2.0, None])
def test_version_compares_like_torch_version(other):
    assert str(E.__version__) == str(T.__version__) == "2.13.0+cpu"
    for op in ("__ge__", "__gt__", "__le__", "__lt__", "__eq__", "__ne__"):
        _same(lambda m: getattr(m.__version__, op)(other))
    for cmp in (lambda v: v >= other, lambda v: v < other, lambda v: v == other):
        _same(lambda m: cmp(m.__version__))


def test_version_is_a_str_with_torch_behaviour():
    v = E.__version__
    assert isinstance(v, str) and hash(v) == hash("2.13.0+cpu") and v.split(".")[0] == "2"
    assert v >= "2.0" and not v < "2.0" and f"{v}" == "2.13.0+cpu"
    assert E.version.__version__ == "2.13.0+cpu" and type(E.version.__version__) is str
    assert E.version.ember == "0.1.0" and E.version.cuda is None


# ---- default dtype ----------------------------------------------------------------------------------

FACTORIES = {
    "tensor_float": lambda m: m.tensor([1.0]), "tensor_scalar": lambda m: m.tensor(1.5),
    "tensor_int": lambda m: m.tensor([1]), "tensor_mixed": lambda m: m.tensor([1, 2.5]),
    "tensor_bool": lambda m: m.tensor([True]), "tensor_np32": lambda m: m.tensor(np.array([1.0], np.float32)),
    "zeros": lambda m: m.zeros(2), "ones": lambda m: m.ones(2), "empty": lambda m: m.empty(2),
    "rand": lambda m: m.rand(2), "randn": lambda m: m.randn(2), "full_float": lambda m: m.full((2,), 1.5),
    "full_int": lambda m: m.full((2,), 1), "arange_float": lambda m: m.arange(0., 1., .5),
    "arange_int": lambda m: m.arange(3), "linspace": lambda m: m.linspace(0, 1, 3), "eye": lambda m: m.eye(2),
    "randint": lambda m: m.randint(0, 3, (2,)), "as_tensor": lambda m: m.as_tensor([1.0]),
    "legacy_Tensor": lambda m: m.Tensor([1]), "FloatTensor": lambda m: m.FloatTensor([1]),
    "zeros_like_f32": lambda m: m.zeros_like(m.ones(2, dtype=m.float32)),
    "new_tensor": lambda m: m.ones(2, dtype=m.float32).new_tensor([1.]),
    "Variable_empty": lambda m: m.autograd.Variable(),
}


@pytest.mark.parametrize("default", ["float32", "float64"])
@pytest.mark.parametrize("name", list(FACTORIES))
def test_default_dtype_drives_factories_like_torch(default, name):
    T.set_default_dtype(getattr(T, default))
    E.set_default_dtype(getattr(E, default))
    assert E.get_default_dtype() is getattr(E, default)
    assert _norm(FACTORIES[name](E).dtype) == str(FACTORIES[name](T).dtype)


@pytest.mark.parametrize("bad", ["int64", "bool", "string"])
def test_set_default_dtype_rejects_non_floating_like_torch(bad):
    _same(lambda m: m.set_default_dtype("float64" if bad == "string" else getattr(m, bad)))


def test_set_default_tensor_type_is_deprecated_and_sets_dtype():
    for m in (T, E):  # torch warns once per process
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            m.set_default_tensor_type(m.DoubleTensor)
            assert m.get_default_dtype() == m.float64 and m.zeros(1).dtype == m.float64
            m.set_default_tensor_type("torch.FloatTensor")
            assert m.get_default_dtype() == m.float32
        assert len([w for w in caught if "set_default_tensor_type" in str(w.message)]) <= 1
    _same(lambda m: m.set_default_tensor_type(m.LongTensor))
    for m in (T, E):
        with pytest.raises(AttributeError, match="has no attribute 'nope'"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m.set_default_tensor_type("torch.nope")


def test_is_tensor_and_numel_match_torch():
    for arg in (lambda m: m.ones(2, 3), lambda m: [1, 2], lambda m: 3.0, lambda m: m.nn.Parameter(m.ones(1))):
        _same(lambda m: m.is_tensor(arg(m)))
        _same(lambda m: m.numel(arg(m)))


# ---- autograd.Variable ----------------------------------------------------------------------------

def test_variable_is_the_old_wrapper_returning_a_tensor():
    from ember.autograd import Variable
    t = E.ones(2)
    v = Variable(t, requires_grad=True)
    assert type(v) is E.Tensor and v.requires_grad and v.is_leaf and v is not t and not t.requires_grad
    v.detach()[0] = 5.0  # shares the data, as torch's Variable(t) does
    assert t.tolist() == [5.0, 1.0]
    assert isinstance(E.ones(1), Variable) and not isinstance([1], Variable)
    assert Variable(t).requires_grad is False and Variable(t, False).requires_grad is False
    w = Variable(E.ones(2, requires_grad=True) * 2)
    assert w.is_leaf and w.grad_fn is None and not w.requires_grad
    assert Variable().shape == (0,)
    (v * v).sum().backward()
    assert v.grad.tolist() == [10.0, 2.0]
    with pytest.warns(UserWarning, match="volatile was removed"):
        Variable(t, volatile=True)
    _same(lambda m: m.autograd.Variable([1, 2]))
    _same(lambda m: m.autograd.Variable(m.tensor([1.5, 2.5]), requires_grad=True))
    assert E.autograd.Variable is Variable and ember.autograd.variable.Variable is Variable


# ---- legacy typed constructors and Tensor.type() ----------------------------------------------------

LEGACY = {
    "F(2,3).shape": lambda m: m.FloatTensor(2, 3).shape,
    "F(list)": lambda m: m.FloatTensor([1, 2]),
    "F()": lambda m: m.FloatTensor(),
    "F(tuple)": lambda m: m.FloatTensor((2, 3)),
    "F(Size).shape": lambda m: m.FloatTensor(m.Size([2, 3])).shape,
    "F(nested)": lambda m: m.FloatTensor([[1, 2], [3, 4]]),
    "F(ndarray)": lambda m: m.FloatTensor(np.array([1, 2])),
    "F(float tensor)": lambda m: m.FloatTensor(m.tensor([1., 2.])),
    "F(long tensor)": lambda m: m.FloatTensor(m.tensor([1, 2])),
    "D(list)": lambda m: m.DoubleTensor([1, 2]),
    "L(floats)": lambda m: m.LongTensor([1.7, 2]),
    "L(3).shape": lambda m: m.LongTensor(3).shape,
    "B(list)": lambda m: m.BoolTensor([1, 0]),
    "F(2.5)": lambda m: m.FloatTensor(2.5),
    "F(-1)": lambda m: m.FloatTensor(-1),
    "F(str)": lambda m: m.FloatTensor("a"),
    "F(2,str)": lambda m: m.FloatTensor(2, "a"),
    "F(device cpu)": lambda m: m.FloatTensor([1, 2], device="cpu"),
    "F(device cuda)": lambda m: m.FloatTensor([1, 2], device="cuda"),
    "cuda.F(2)": lambda m: m.cuda.FloatTensor(2),
    "isinstance": lambda m: [isinstance(m.ones(2), m.FloatTensor), isinstance(m.ones(2), m.DoubleTensor),
                             isinstance(m.ones(2).double(), m.DoubleTensor), isinstance(m.tensor([1]), m.LongTensor),
                             isinstance(m.tensor([True]), m.BoolTensor), isinstance(1, m.FloatTensor),
                             isinstance(m.nn.Parameter(m.ones(1)), m.FloatTensor),
                             isinstance(m.ones(1), m.cuda.FloatTensor)],
    "subclass": lambda m: (issubclass(m.Tensor, m.FloatTensor), issubclass(m.FloatTensor, m.Tensor)),
    "class attrs": lambda m: (m.FloatTensor.dtype, m.LongTensor.dtype, m.FloatTensor.is_cuda, m.FloatTensor.__name__),
    "class repr": lambda m: (repr(m.FloatTensor), repr(m.cuda.DoubleTensor)),
}


@pytest.mark.parametrize("name", list(LEGACY))
def test_legacy_constructors_match_torch(name):
    if name == "F(long tensor)":  # torch's message spells out TensorOptions; the type is what programs see
        for m in (T, E):
            with pytest.raises(TypeError, match="expected TensorOptions"):
                LEGACY[name](m)
        return
    _same(LEGACY[name])


TYPE_CALLS = {
    "type()": lambda m: [x.type() for x in (m.ones(1), m.tensor([1]), m.tensor([True]), m.ones(1).double(),
                                            m.nn.Parameter(m.ones(1)))],
    "type(None)": lambda m: m.ones(2).type(None),
    "type(float64)": lambda m: m.ones(2).type(m.float64),
    "type(str)": lambda m: m.ones(2).type("torch.DoubleTensor"),
    "type(class)": lambda m: m.ones(2).type(m.LongTensor),
    "type(dtype=)": lambda m: m.ones(2).type(dtype=m.int64),
    "type(same) is self": lambda m: [(x.type(m.float32) is x, x.type("torch.FloatTensor") is x,
                                      x.type(m.FloatTensor) is x) for x in [m.ones(2)]],
    "type(grad)": lambda m: m.ones(2, requires_grad=True).type(m.float64).requires_grad,
    "type(grad same)": lambda m: m.ones(2, requires_grad=True).type(m.float32),
    "type(cuda str)": lambda m: m.ones(2).type("torch.cuda.FloatTensor"),
    "type(cuda class)": lambda m: m.ones(2).type(m.cuda.FloatTensor),
    "type(foo)": lambda m: m.ones(2).type("foo"),
    "type(torch.foo)": lambda m: m.ones(2).type("torch.foo"),
    "type(torch.float64)": lambda m: m.ones(2).type("torch.float64"),
    "type(5)": lambda m: m.ones(2).type(5),
}


@pytest.mark.parametrize("name", list(TYPE_CALLS))
def test_tensor_type_matches_torch(name):
    _same(TYPE_CALLS[name])


def test_tensor_type_names_follow_namespace():
    ns = ember._torch_compat._NAMESPACE
    assert E.ones(1).type() == ns + ".FloatTensor"
    assert E.ones(2).type("ember.DoubleTensor").dtype == E.float64  # ember's own spelling is accepted too


# ---- new_* ------------------------------------------------------------------------------------------

NEW = {
    "new_zeros(3)": lambda m: m.ones(2, dtype=m.float64).new_zeros(3),
    "new_zeros(2,3)": lambda m: m.ones(2, dtype=m.float64).new_zeros(2, 3),
    "new_zeros((2,3))": lambda m: m.ones(2).new_zeros((2, 3)),
    "new_zeros(Size)": lambda m: m.ones(2).new_zeros(m.Size([1, 2])),
    "new_zeros dtype": lambda m: m.ones(2).new_zeros([2, 3], dtype=m.int64),
    "new_zeros grad": lambda m: m.ones(2).new_zeros(2, requires_grad=True),
    "new_zeros from grad": lambda m: m.ones(2, requires_grad=True).new_zeros(2),
    "new_ones": lambda m: m.tensor([1, 2]).new_ones(2),
    "new_ones bool": lambda m: m.tensor([True]).new_ones(2),
    "new_full": lambda m: m.ones(2, dtype=m.float64).new_full((2,), 3),
    "new_full dtype": lambda m: m.ones(2, dtype=m.float64).new_full((2,), 3.5, dtype=m.float32),
    "new_full int": lambda m: m.tensor([1, 2]).new_full((2,), 2.5),
    "new_full bool fill": lambda m: m.ones(2).new_full((2,), True),
    "new_full int size": lambda m: m.ones(2).new_full(2, 3),
    "new_empty shape": lambda m: (m.ones(2, dtype=m.float64).new_empty(2, 3).shape,
                                  m.ones(2, dtype=m.float64).new_empty(2).dtype),
    "new_empty dtype grad": lambda m: (m.ones(2).new_empty((2,), dtype=m.int64).dtype,
                                       m.ones(2).new_empty(2, requires_grad=True).requires_grad),
    "new_tensor ints": lambda m: m.ones(2, dtype=m.float64).new_tensor([1, 2]),
    "new_tensor floats": lambda m: m.tensor([1, 2]).new_tensor([1.5]),
    "new_tensor dtype": lambda m: m.ones(2).new_tensor([1, 2], dtype=m.int64),
    "new_tensor grad": lambda m: m.ones(2).new_tensor([1, 2], requires_grad=True),
    "new_tensor tensor": lambda m: m.ones(2, dtype=m.float64).new_tensor(m.tensor([1.5, 2.5])),
    "new_tensor ndarray": lambda m: m.ones(2).new_tensor(np.array([1, 2], dtype=np.int64)),
    "new_tensor scalar": lambda m: m.ones(2, dtype=m.float64).new_tensor(3),
    "new_zeros()": lambda m: m.ones(2).new_zeros(),
    "new_zeros(-1)": lambda m: m.ones(2).new_zeros(-1),
    "new_zeros(2.5)": lambda m: m.ones(2).new_zeros(2.5),
    "new(2)": lambda m: m.ones(2, dtype=m.float64).new(2).shape,
    "new(list)": lambda m: m.ones(2, dtype=m.float64).new([1, 2]),
    "new()": lambda m: m.ones(2, dtype=m.int64).new(),
}


@pytest.mark.parametrize("name", list(NEW))
def test_new_methods_match_torch(name):
    _same(NEW[name])


def test_new_tensor_copies_and_is_a_leaf():
    src = E.tensor([1.0, 2.0], requires_grad=True)
    with pytest.warns(UserWarning, match="new_tensor"):
        c = src.new_tensor(src)
    c[0] = 9.0
    assert src.tolist() == [1.0, 2.0] and c.is_leaf and not c.requires_grad


# ---- numpy interop ------------------------------------------------------------------------------------

NUMPY = {
    "t*nd": lambda m: m.ones(2) * np.array([2., 3.]),
    "t+nd": lambda m: m.ones(2) + np.array([2., 3.]),
    "t-nd": lambda m: m.ones(2) - np.array([2., 3.]),
    "t/nd": lambda m: m.ones(2) / np.array([2., 4.]),
    "t**nd": lambda m: m.tensor([2., 3.]) ** np.array([2., 1.]),
    "t*nd f32": lambda m: m.ones(2) * np.array([2., 3.], dtype=np.float32),
    "t*nd int": lambda m: m.ones(2) * np.array([2, 3]),
    "long*nd float": lambda m: m.ones(2, dtype=m.int64) * np.array([2.5, 3.]),
    "long*nd int": lambda m: m.ones(2, dtype=m.int64) * np.array([2, 3]),
    "t*nd 0d": lambda m: m.ones(2) * np.array(2.0),
    "t*nd 2d": lambda m: m.ones(2, 2) * np.ones((2, 2)),
    "t@nd": lambda m: m.ones(2) @ np.array([2., 3.]),
    "nd*t": lambda m: np.array([2., 3.]) * m.ones(2),
    "nd+t": lambda m: np.array([2., 3.]) + m.ones(2),
    "nd-t": lambda m: np.array([2., 3.]) - m.ones(2),
    "nd@t": lambda m: np.array([2., 3.]) @ m.ones(2),
    "nd0d*t": lambda m: np.array(2.) * m.ones(2),
    "npscalar*t": lambda m: np.float64(3) * m.ones(2),
    "t*npscalar": lambda m: m.ones(2) * np.float32(3),
    "np.exp(t)": lambda m: np.exp(m.ones(2)),
    "np.add(nd,t)": lambda m: np.add(np.array([2., 3.]), m.ones(2)),
    "np.maximum": lambda m: np.maximum(m.tensor([0.25, 2.]), 0.5),
    "np.where": lambda m: np.where(m.ones(2) > 0, m.ones(2), 0),
    "np.asarray": lambda m: np.asarray(m.tensor([1.5, 2.5])),
    "np.array dtype": lambda m: np.array(m.tensor([1.5, 2.5]), dtype=np.float64),
    "np.asarray int": lambda m: np.asarray(m.tensor([1.5, 2.5]), dtype=np.int64),
    "np.asarray 0d": lambda m: np.asarray(m.tensor(1.5)),
    "np.asarray list": lambda m: np.asarray([m.tensor(1.5), m.tensor(2.5)]),
    "np.concatenate": lambda m: np.concatenate([m.ones(2), m.ones(2)]),
    "np.asarray grad": lambda m: np.asarray(m.ones(2, requires_grad=True)),
    "np.array grad": lambda m: np.array(m.ones(2, requires_grad=True)),
    "np.array grad dtype": lambda m: np.array(m.ones(2, requires_grad=True), dtype=np.float64),
    "t grad*nd": lambda m: m.ones(2, requires_grad=True) * np.array([2., 3.]),
    "np.sin(t grad)": lambda m: np.sin(m.ones(1, requires_grad=True)),
    "numpy() grad": lambda m: m.ones(2, requires_grad=True).numpy(),
    "float(npscalar*t)": lambda m: float(np.float64(1.5) * m.tensor(2.)),
}


@pytest.mark.parametrize("name", list(NUMPY))
def test_numpy_interop_matches_torch(name):
    kind, text = _same(NUMPY[name])
    if name.startswith("t*nd") or name.startswith("t+") or name == "np.exp(t)":
        assert kind == "ok" and text.startswith("tensor(")  # a tensor, never a silent ndarray


def test_numpy_result_is_an_ember_tensor_and_asarray_shares_memory():
    r = E.ones(2) * np.array([2., 3.])
    assert type(r) is E.Tensor and r.dtype == E.float64 and r.tolist() == [2.0, 3.0]
    x = E.tensor([1.0, 2.0])
    a = np.asarray(x)
    a[0] = 7.0
    assert x.tolist() == [7.0, 2.0]
    assert np.array(x, copy=True) is not None and np.array(x, copy=True)[0] == 7.0


# ---- testing.assert_close -----------------------------------------------------------------------------

def _close_cases(m):
    t = m.tensor
    nan, inf = float("nan"), float("inf")
    return [
        (t([1., 2., 3.]), t([1., 2.5, 3.]), {}),
        (t([1., 2., 3.]), t([1., 2., 3. + 1e-6]), {}),
        (t([1., 2., 3.]), t([1., 2., 3. + 1e-4]), {}),
        (t([1., 2., 3.], dtype=m.float64), t([1., 2., 3. + 1e-6], dtype=m.float64), {}),
        (t([1, 2, 3]), t([1, 2, 4]), {}),
        (t([1, 2, 3]), t([1., 2., 3.]), {}),
        (t([1, 2, 3]), t([1., 2., 3.]), dict(check_dtype=False)),
        (t([1., 2.]), t([1., 2.], dtype=m.float64), {}),
        (t([1., 2.]), t([1., 2.1], dtype=m.float64), dict(check_dtype=False)),
        (t([1., nan]), t([1., nan]), {}),
        (t([1., nan]), t([1., nan]), dict(equal_nan=True)),
        (t([1., inf]), t([1., inf]), {}),
        (t([1., inf]), t([1., -inf]), {}),
        (t([1., 2.]), t([1., 2., 3.]), {}),
        (t([[1., 2.]]), t([1., 2.]), {}),
        (t(1.), t(1.5), {}),
        (t([True, False]), t([True, True]), {}),
        (t([0., 2.]), t([1e-6, 2.]), {}),
        (t([0., 2.]), t([1., 2.]), {}),
        (t([[1., 2.], [3., 4.]]), t([[1., 2.], [3., 5.]]), {}),
        (m.arange(1000.), m.arange(1000.) + 0.5, {}),
        (t([1., 2., 3., 4., 5.]), t([1., 2., 3., 4., 5.]) * 1.01, {}),
        (t([1e10]), t([1.0001e10]), {}),
        (t([-1e-9, 5.]), t([1e-9, 5.5]), dict(atol=0, rtol=0)),
        (t([1., 2.]), t([1., 2.1]), dict(rtol=0.1, atol=0)),
        (t([1., 2.]), t([1., 2.1]), dict(atol=0.2, rtol=0)),
        (t([1., 2.]), t([1., 2.1]), dict(rtol=0.1)),
        (t([1., 2.]), t([1., 2.1]), dict(atol=0.1)),
        (t([1, 2]), t([1, 3]), dict(atol=1, rtol=0)),
        (t([1., 2.]), t([1., 2.5]), dict(msg="custom")),
        (t([1., 2.]), t([1., 2.5]), dict(msg=lambda s: "Header\n" + s + "\nFooter")),
        (t([1., 2.]), t([1., 2.]).requires_grad_(), {}),
        (t([1., 2.]), t([1., 2.]).reshape(2, 1), {}),
        (1.0, 1.0 + 1e-8, {}), (1.0, 1.5, {}), (1, 2, {}), (1, 1.0, {}), (1, 1.0, dict(check_dtype=False)),
        (True, False, {}), (True, True, {}), (None, None, {}), (None, 1, {}), ("a", "a", {}),
        (np.float64(1.0), 1.5, {}), (float("nan"), float("nan"), dict(equal_nan=True)),
        ([t(1.), t(2.)], [t(1.), t(2.5)], {}), ((1.0, 2.0), (1.0, 2.0), {}), ([t(1.)], [t(1.), t(2.)], {}),
        ({"a": t(1.)}, {"a": t(2.)}, {}), ({"a": t(1.)}, {"b": t(1.)}, {}),
        ({"a": [t(1.), {"b": t([1., 2.])}]}, {"a": [t(1.), {"b": t([1., 3.])}]}, {}),
        (np.array([1., 2.]), np.array([1., 2.5]), {}),
        (t([1., 2.]), np.array([1., 2.], dtype=np.float32), {}),
        (t([1., 2.]), [1., 2.], {}), (t([1.]), 1.0, {}), (1.0, t([1.]), {}),
        (m.nn.Parameter(t([1., 2.])), t([1., 2.5]), {}),
    ]


@pytest.mark.parametrize("i", range(len(_close_cases(T))))
def test_assert_close_matches_torch(i):
    def run(m):
        a, e, kw = _close_cases(m)[i]
        return m.testing.assert_close(a, e, **kw)
    _same(run)


def test_assert_close_is_torch_testing_assert_close():
    import ember.testing
    assert E.testing.assert_close is ember.testing.assert_close
    with pytest.raises(AssertionError, match=r"Mismatched elements: 1 / 3 \(33.3%\)"):
        ember.testing.assert_close(E.tensor([1., 2., 3.]), E.tensor([1., 2.5, 3.]))
    with pytest.warns(FutureWarning):
        ember.testing.assert_allclose(E.tensor([1., 2.]), [1., 2.00001])


def test_typename_default_device_and_interop_threads():
    for e, t in [(ember.ones(2), torch.ones(2)), (ember.ones(2, dtype=ember.int8), torch.ones(2, dtype=torch.int8)),
                 (3, 3), ("a", "a")]:
        assert ember.typename(e).split(".")[-1] == torch.typename(t).split(".")[-1]
    assert ember.typename(ember.nn.Linear(1, 1)) == "ember.nn.modules.linear.Linear"
    assert str(ember.get_default_device()) == str(torch.get_default_device()) == "cpu"
    code = ("import ember; ember.set_num_interop_threads(3); assert ember.get_num_interop_threads() == 3\n"
            "try:\n    ember.set_num_interop_threads(2)\nexcept RuntimeError:\n    print('refused')")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "refused", r.stderr
    with pytest.raises(RuntimeError):
        ember.set_num_interop_threads(0)
