"""Autograd engine tests: deep graphs without recursion, accumulation, retain_graph, grad modes,
autograd.grad / autograd.backward, custom Functions, version counters and graph freeing.
Most tests run on both ember and torch (the `L` fixture), so torch validates the test itself."""
import gc
import subprocess
import sys
import textwrap
import weakref

import numpy as np
import pytest

import ember
from helpers import to_np


@pytest.fixture(params=["ember", "torch"])
def L(request):
    if request.param == "torch":
        return pytest.importorskip("torch")
    return ember


def T(L, value, requires_grad=False, dtype=np.float32):
    t = L.tensor(np.asarray(value, dtype=dtype))
    if requires_grad:
        t.requires_grad_(True)
    return t


# --- deep graphs ------------------------------------------------------------------------------

def _run_python(code):
    """Run `code` in a fresh interpreter (so a stack overflow is a failed test, not a dead run)."""
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:{proc.stdout}\nstderr:{proc.stderr[-2000:]}"
    return proc.stdout


def test_100k_node_chain_backward_no_recursion():
    out = _run_python("""
        import ember
        x = ember.tensor([1.5], requires_grad=True)
        y = x
        for _ in range(100_000):
            y = y * 1.0 + 0.0
        y.sum().backward()
        print(float(x.grad[0]))
        del y
    """)
    assert float(out.strip()) == pytest.approx(1.0)


def test_100k_node_chain_freed_without_backward():
    # Destroying a deep graph must not recurse either (pytorch#5534).
    out = _run_python("""
        import ember
        x = ember.tensor([1.0], requires_grad=True)
        y = x
        for _ in range(100_000):
            y = y + 1.0
        del y
        print("ok")
    """)
    assert out.strip() == "ok"


# --- accumulation, retain_graph, second backward ------------------------------------------------

def test_grad_accumulates_across_backward_calls(L):
    x = T(L, [1.0, 2.0, 3.0], True)
    (x * x).sum().backward()
    np.testing.assert_allclose(to_np(x.grad), [2, 4, 6])
    (x * 3).sum().backward()
    np.testing.assert_allclose(to_np(x.grad), [5, 7, 9])
    x.grad = None
    (x * 3).sum().backward()
    np.testing.assert_allclose(to_np(x.grad), [3, 3, 3])


def test_grad_settable_to_tensor(L):
    x = T(L, [1.0, 2.0], True)
    x.grad = T(L, [10.0, 10.0])
    (x * 2).sum().backward()
    np.testing.assert_allclose(to_np(x.grad), [12, 12])
    x.grad.zero_()
    np.testing.assert_allclose(to_np(x.grad), [0, 0])


def test_diamond_graph_sums_gradients(L):
    x = T(L, [1.0, -2.0], True)
    y = x * 2
    z = y * y + y.exp() + y
    z.sum().backward()
    xv = np.array([1.0, -2.0])
    np.testing.assert_allclose(to_np(x.grad), 8 * xv + 2 * np.exp(2 * xv) + 2, rtol=1e-5)


def test_same_leaf_used_many_times(L):
    x = T(L, [3.0], True)
    y = x + x + x * x
    y.sum().backward()
    np.testing.assert_allclose(to_np(x.grad), [8.0])


def test_retain_graph_allows_second_backward(L):
    x = T(L, [1.0, 2.0], True)
    y = x.exp().sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(to_np(x.grad), 2 * np.exp([1.0, 2.0]), rtol=1e-5)


def test_second_backward_without_retain_raises(L):
    x = T(L, [1.0, 2.0], True)
    y = (x.exp() * x).sum()
    y.backward()
    with pytest.raises(RuntimeError):
        y.backward()


def test_backward_nonscalar_with_gradient(L):
    x = T(L, [[1.0, 2.0], [3.0, 4.0]], True)
    y = x * x
    y.backward(gradient=T(L, [[1.0, 0.0], [0.5, 2.0]]))
    np.testing.assert_allclose(to_np(x.grad), [[2, 0], [3, 16]])


def test_backward_positional_gradient(L):
    x = T(L, [1.0, 2.0], True)
    (x * 3).backward(T(L, [1.0, 1.0]))
    np.testing.assert_allclose(to_np(x.grad), [3, 3])


def test_backward_with_scalar_gradient_argument(L):
    x = T(L, [1.0, 2.0], True)
    (x * 3).sum().backward(T(L, 2.0))
    np.testing.assert_allclose(to_np(x.grad), [6, 6])


def test_backward_inside_no_grad_still_computes(L):
    x = T(L, [1.0, 2.0], True)
    y = (x * x).sum()
    with L.no_grad():
        y.backward()
    np.testing.assert_allclose(to_np(x.grad), [2, 4])


def test_grad_is_float64_for_float64_leaf(L):
    x = T(L, [1.0, 2.0], True, dtype=np.float64)
    (x * 2.0).sum().backward()
    assert str(x.grad.dtype).endswith("float64")


def test_broadcast_grad_reduced_to_leaf_shape(L):
    a = T(L, np.ones((3, 1)), True)
    b = T(L, np.ones((4,)), True)
    (a * b).sum().backward()
    assert tuple(a.grad.shape) == (3, 1) and tuple(b.grad.shape) == (4,)
    np.testing.assert_allclose(to_np(a.grad), np.full((3, 1), 4.0))
    np.testing.assert_allclose(to_np(b.grad), np.full((4,), 3.0))


# --- leaves, grad_fn, detach ----------------------------------------------------------------------

def test_leaf_and_grad_fn_attributes(L):
    x = T(L, [1.0, 2.0], True)
    c = T(L, [1.0, 2.0])
    y = x * 2
    assert x.is_leaf and c.is_leaf and not y.is_leaf
    assert x.grad_fn is None and c.grad_fn is None
    assert y.grad_fn is not None and y.requires_grad
    assert y.grad_fn.name() == "MulBackward0"
    assert not (c * 2).requires_grad
    assert (c + x).requires_grad


def test_grad_fn_next_functions(L):
    x = T(L, [1.0, 2.0], True)
    y = (x * 2).sum()
    nf = y.grad_fn.next_functions
    assert len(nf) == 1 and nf[0][0].name() == "MulBackward0"
    acc = nf[0][0].next_functions[0][0]
    assert "AccumulateGrad" in acc.name()


def test_nonleaf_grad_is_none_unless_retained(L):
    x = T(L, [1.0, 2.0], True)
    y = x * 2
    z = x * 3
    z.retain_grad()
    (y.sum() + z.sum()).backward()
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert y.grad is None
    np.testing.assert_allclose(to_np(z.grad), [1, 1])


def test_requires_grad_settable_on_leaves(L):
    x = T(L, [1.0])
    assert not x.requires_grad
    x.requires_grad = True
    assert x.requires_grad and x.is_leaf
    x.requires_grad_(False)
    assert not x.requires_grad
    assert x.requires_grad_() is x and x.requires_grad


def test_tensor_factory_requires_grad_kwarg(L):
    x = L.tensor([1.0, 2.0], requires_grad=True)
    assert x.requires_grad and x.is_leaf
    z = L.zeros(2, 3, requires_grad=True)
    assert z.requires_grad


def test_detach_and_data(L):
    x = T(L, [1.0, 2.0], True)
    y = x * 2
    d = y.detach()
    assert not d.requires_grad and d.grad_fn is None and d.is_leaf
    d[0] = 100.0  # shares storage with y
    assert float(y.detach()[0]) == 100.0
    assert not x.data.requires_grad
    x.data[1] = 5.0
    assert float(x.detach()[1]) == 5.0
    assert x.requires_grad


def test_detach_inplace(L):
    x = T(L, [1.0, 2.0], True)
    y = x * 2
    y.detach_()
    assert not y.requires_grad and y.grad_fn is None and y.is_leaf


def test_data_assignment_keeps_leaf(L):
    x = T(L, [1.0, 2.0], True)
    x.data = T(L, [5.0, 6.0])
    assert x.requires_grad and x.is_leaf
    np.testing.assert_allclose(to_np(x), [5, 6])


# --- grad modes -----------------------------------------------------------------------------------

def test_no_grad_context(L):
    x = T(L, [1.0], True)
    assert L.is_grad_enabled()
    with L.no_grad():
        assert not L.is_grad_enabled()
        y = x * 2
        with L.enable_grad():
            assert L.is_grad_enabled()
            z = x * 2
        assert not L.is_grad_enabled()
    assert L.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad and z.grad_fn is not None


def test_no_grad_restores_on_exception(L):
    with pytest.raises(ValueError):
        with L.no_grad():
            raise ValueError("boom")
    assert L.is_grad_enabled()


def test_grad_mode_decorators(L):
    x = T(L, [1.0], True)

    @L.no_grad()
    def f(t):
        return t * 2

    @L.enable_grad()
    def g(t):
        return t * 2

    @L.set_grad_enabled(False)
    def h(t):
        return t * 2

    assert not f(x).requires_grad
    assert L.is_grad_enabled()
    assert not h(x).requires_grad
    assert L.is_grad_enabled()
    with L.no_grad():
        assert g(x).requires_grad
        assert not L.is_grad_enabled()
    assert f.__name__ == "f"


def test_set_grad_enabled_context_and_call(L):
    x = T(L, [1.0], True)
    with L.set_grad_enabled(False):
        assert not (x * 2).requires_grad
        with L.set_grad_enabled(True):
            assert (x * 2).requires_grad
    assert L.is_grad_enabled()
    L.set_grad_enabled(False)
    try:
        assert not L.is_grad_enabled()
    finally:
        L.set_grad_enabled(True)
    assert L.is_grad_enabled()


def test_autograd_namespace_grad_modes(L):
    assert L.autograd.no_grad is L.no_grad or callable(L.autograd.no_grad)
    with L.autograd.no_grad():
        assert not L.is_grad_enabled()
    assert L.is_grad_enabled()


def test_inplace_update_under_no_grad(L):
    w = T(L, [1.0, 2.0], True)
    (w * w).sum().backward()
    with L.no_grad():
        w -= 0.1 * w.grad
        w.grad.zero_()
    assert w.is_leaf and w.requires_grad and w.grad_fn is None
    np.testing.assert_allclose(to_np(w), [0.8, 1.6], rtol=1e-6)
    (w * 1).sum().backward()
    np.testing.assert_allclose(to_np(w.grad), [1, 1])


# --- autograd.grad / autograd.backward --------------------------------------------------------

def test_autograd_grad_basic(L):
    x = T(L, [1.0, 2.0], True)
    w = T(L, [3.0, -1.0], True)
    y = (x * w).sum()
    gx, gw = L.autograd.grad(y, [x, w])
    np.testing.assert_allclose(to_np(gx), [3, -1])
    np.testing.assert_allclose(to_np(gw), [1, 2])
    assert x.grad is None and w.grad is None  # grad() does not accumulate into .grad


def test_autograd_grad_single_input_returns_tuple(L):
    x = T(L, [2.0], True)
    res = L.autograd.grad((x ** 3).sum(), x)
    assert isinstance(res, tuple) and len(res) == 1
    np.testing.assert_allclose(to_np(res[0]), [12.0])


def test_autograd_grad_with_grad_outputs_and_retain(L):
    x = T(L, [1.0, 2.0], True)
    y = x.exp()
    (g,) = L.autograd.grad([y], [x], grad_outputs=[T(L, [1.0, 2.0])], retain_graph=True)
    np.testing.assert_allclose(to_np(g), np.exp([1.0, 2.0]) * [1, 2], rtol=1e-5)
    (g2,) = L.autograd.grad(y.sum(), x)
    np.testing.assert_allclose(to_np(g2), np.exp([1.0, 2.0]), rtol=1e-5)


def test_autograd_grad_unused_input(L):
    x = T(L, [1.0], True)
    u = T(L, [1.0], True)
    y = (x * 2).sum()
    with pytest.raises(RuntimeError):
        L.autograd.grad(y, [x, u], retain_graph=True)
    gx, gu = L.autograd.grad(y, [x, u], allow_unused=True)
    assert gu is None
    np.testing.assert_allclose(to_np(gx), [2.0])


def test_autograd_grad_intermediate_input(L):
    x = T(L, [1.0, 2.0], True)
    h = x * 3
    y = (h * h).sum()
    (gh,) = L.autograd.grad(y, h)
    np.testing.assert_allclose(to_np(gh), [6, 12])


def test_autograd_backward_function(L):
    x = T(L, [1.0, 2.0], True)
    a = (x * 2).sum()
    b = x * x
    L.autograd.backward([a, b], [None, T(L, [1.0, 1.0])])
    np.testing.assert_allclose(to_np(x.grad), [4, 6])
    y = (x * 5).sum()
    L.autograd.backward(y)
    np.testing.assert_allclose(to_np(x.grad), [9, 11])


# --- custom Function ------------------------------------------------------------------------------

def _exp_function(L):
    class MyExp(L.autograd.Function):
        @staticmethod
        def forward(ctx, i):
            result = i.exp()
            ctx.save_for_backward(result)
            return result

        @staticmethod
        def backward(ctx, grad_output):
            (result,) = ctx.saved_tensors
            return grad_output * result
    return MyExp


def _legendre(L):
    class LegendrePolynomial3(L.autograd.Function):
        @staticmethod
        def forward(ctx, input):
            ctx.save_for_backward(input)
            return 0.5 * (5 * input ** 3 - 3 * input)

        @staticmethod
        def backward(ctx, grad_output):
            (input,) = ctx.saved_tensors
            return grad_output * 1.5 * (5 * input ** 2 - 1)
    return LegendrePolynomial3


def test_custom_function_exp(L):
    MyExp = _exp_function(L)
    x = T(L, [0.5, -1.0], True)
    y = MyExp.apply(x)
    assert y.requires_grad and y.grad_fn is not None
    (y * T(L, [1.0, 2.0])).sum().backward()
    np.testing.assert_allclose(to_np(y), np.exp([0.5, -1.0]), rtol=1e-6)
    np.testing.assert_allclose(to_np(x.grad), np.exp([0.5, -1.0]) * [1, 2], rtol=1e-6)


def test_custom_function_legendre_in_graph(L):
    P3 = _legendre(L)
    x = T(L, [0.3, -0.7, 1.2], True, dtype=np.float64)
    y = P3.apply(x * 2) + x
    y.sum().backward()
    xv = np.array([0.3, -0.7, 1.2])
    np.testing.assert_allclose(to_np(x.grad), 2 * 1.5 * (5 * (2 * xv) ** 2 - 1) + 1, rtol=1e-10)


def test_custom_function_multiple_inputs_and_non_tensor_arg(L):
    class ScaledMul(L.autograd.Function):
        @staticmethod
        def forward(ctx, a, b, scale):
            ctx.save_for_backward(a, b)
            ctx.scale = scale
            return a * b * scale

        @staticmethod
        def backward(ctx, g):
            a, b = ctx.saved_tensors
            return g * b * ctx.scale, g * a * ctx.scale, None

    a = T(L, [1.0, 2.0], True)
    b = T(L, [3.0, 4.0], True)
    ScaledMul.apply(a, b, 2.0).sum().backward()
    np.testing.assert_allclose(to_np(a.grad), [6, 8])
    np.testing.assert_allclose(to_np(b.grad), [2, 4])


def test_custom_function_forward_runs_without_grad_and_backward_in_no_grad(L):
    seen = {}

    class Probe(L.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            seen["fwd"] = L.is_grad_enabled()
            return x * 2

        @staticmethod
        def backward(ctx, g):
            seen["bwd"] = L.is_grad_enabled()
            return g * 2

    x = T(L, [1.0], True)
    y = Probe.apply(x)
    y.sum().backward()
    assert seen == {"fwd": False, "bwd": False}
    np.testing.assert_allclose(to_np(x.grad), [2.0])


def test_custom_function_no_grad_input(L):
    MyExp = _exp_function(L)
    y = MyExp.apply(T(L, [1.0]))
    assert not y.requires_grad


# --- version counter ------------------------------------------------------------------------------

def test_inplace_on_saved_input_makes_backward_raise(L):
    x = T(L, [1.0, 2.0], True)
    w = T(L, [3.0, 4.0])
    y = x * w  # saves w for x's gradient
    w.add_(1.0)
    with pytest.raises(RuntimeError):
        y.sum().backward()


def test_inplace_on_saved_output_makes_backward_raise(L):
    x = T(L, [1.0, 2.0], True)
    y = x.exp()  # saves its result
    y.mul_(2)
    with pytest.raises(RuntimeError):
        y.sum().backward()


def test_inplace_on_saved_view_base_makes_backward_raise(L):
    x = T(L, [1.0, 2.0, 3.0], True)
    w = T(L, [3.0, 4.0, 5.0])
    y = x[1:] * w[1:]
    w[2] = 0.0  # in-place on the base of the saved view
    with pytest.raises(RuntimeError):
        y.sum().backward()


def test_inplace_via_setitem_on_saved_tensor_raises(L):
    x = T(L, [1.0, 2.0], True)
    h = x * 2
    y = h * h  # saves h
    with L.no_grad():
        h[0] = 5.0
    with pytest.raises(RuntimeError):
        y.sum().backward()


def test_custom_function_saved_tensor_modified_raises(L):
    MyExp = _exp_function(L)
    x = T(L, [1.0, 2.0], True)
    y = MyExp.apply(x)
    y.add_(1.0)
    with pytest.raises(RuntimeError):
        y.sum().backward()


def test_version_counter_increments(L):
    x = T(L, [1.0, 2.0])
    v0 = x._version
    x.add_(1.0)
    x.mul_(2.0)
    assert x._version >= v0 + 2
    v = x[0:1]
    v.fill_(3.0)
    assert x._version >= v0 + 3  # views share the counter


def test_inplace_not_saved_is_fine(L):
    x = T(L, [1.0, 2.0], True)
    h = x + 1  # AddBackward saves nothing
    h.mul_(3)  # MulBackward saves the scalar only
    h.sum().backward()
    np.testing.assert_allclose(to_np(x.grad), [3, 3])


# --- graph freed ----------------------------------------------------------------------------------

class _Payload:
    pass


def _tracked_function(L, refs):
    class Tracked(L.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            p = _Payload()
            refs.append(weakref.ref(p))
            ctx.payload = p
            out = x * 2
            ctx.save_for_backward(out)  # saving an output must not create an uncollectable cycle
            return out

        @staticmethod
        def backward(ctx, g):
            return g * 2
    return Tracked


def test_graph_freed_when_outputs_dropped(L):
    refs = []
    Tracked = _tracked_function(L, refs)
    x = T(L, [1.0, 2.0], True)
    y = Tracked.apply(x)
    loss = (y * y).sum()
    loss.backward()
    del y, loss
    gc.collect()
    assert refs[0]() is None, "ctx (graph node) still alive after the graph's outputs were dropped"
    np.testing.assert_allclose(to_np(x.grad), [8, 16])


def test_graph_freed_without_backward(L):
    refs = []
    Tracked = _tracked_function(L, refs)
    x = T(L, [1.0, 2.0], True)
    y = Tracked.apply(x).exp()
    del y
    gc.collect()
    assert refs[0]() is None


def test_saved_tensors_released_after_backward(L):
    refs = []

    class SaveTemp(L.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            tmp = x * 3
            refs.append(weakref.ref(tmp))
            ctx.save_for_backward(tmp)
            return x * 2

        @staticmethod
        def backward(ctx, g):
            (tmp,) = ctx.saved_tensors
            return g * 2 + tmp * 0

    x = T(L, [1.0, 2.0], True)
    y = SaveTemp.apply(x)
    y.sum().backward()
    gc.collect()
    assert refs[0]() is None, "saved tensor still referenced after backward without retain_graph"
    with pytest.raises(RuntimeError):
        y.sum().backward()


def test_leaf_not_kept_alive_by_dropped_graph(L):
    x = T(L, [1.0, 2.0], True)
    r = weakref.ref(x)
    y = (x * 2).exp().sum()
    y.backward()
    del x, y
    gc.collect()
    assert r() is None


def test_intermediate_tensors_freed_after_graph_dropped(L):
    x = T(L, [0.5, 1.5], True)
    y = x.exp()  # saves its own output
    z = y * y  # saves y twice
    w = z.sigmoid().sum()
    refs = [weakref.ref(t) for t in (y, z, w)]
    w.backward()
    del y, z, w
    gc.collect()
    assert all(r() is None for r in refs)
    assert x.grad is not None


# ---- in-place writes through views rebase the root's history (torch's CopySlices)
def _copyslices_cases():
    def mul_column(L, w):
        x = w * 2
        x[:, 1].mul_(3)
        return x

    def setitem_through_view(L, w):
        x = w * 2
        x.view(12)[3:5] = L.tensor([10.0, 11.0], dtype=w.dtype)
        return x

    def chained_index_setitem(L, w):
        x = w.clone()
        x[0][1] = w[1, 1] * 5
        return x

    def narrow_copy_(L, w):
        x = w * 1
        x.narrow(1, 1, 2).copy_(w[:, :2] ** 2)
        return x

    def transposed_view_add_(L, w):
        x = w + 0
        x.t()[1].add_(w[:, 0])
        return x

    def two_writes(L, w):
        x = w.tanh()
        x = x * 1
        x[0].zero_()
        x[:, 2].add_(w[:, 3])
        return x * w
    return [mul_column, setitem_through_view, chained_index_setitem, narrow_copy_, transposed_view_add_, two_writes]


@pytest.mark.parametrize("fn", _copyslices_cases(), ids=lambda f: f.__name__)
def test_inplace_through_view_matches_torch(fn):
    import torch
    w0 = np.arange(12.0).reshape(3, 4) / 7 - 0.5
    res = []
    for L in (ember, torch):
        w = L.tensor(w0, requires_grad=True)
        y = fn(L, w)
        (y * L.tensor(np.linspace(-1, 1, 12).reshape(3, 4))).sum().backward()
        res.append((y.detach().numpy().copy(), w.grad.numpy().copy()))
    np.testing.assert_allclose(res[0][0], res[1][0], rtol=1e-12)
    np.testing.assert_allclose(res[0][1], res[1][1], rtol=1e-12)


def test_inplace_through_view_gradcheck():
    def f(w):
        x = w * 1.5
        x[1:, ::2].mul_(w[:2, :2] + 1)
        return x.sin()
    from helpers import gradcheck
    gradcheck(f, [np.random.default_rng(0).standard_normal((3, 4))])


def test_inplace_on_view_of_leaf_raises_as_torch():
    import torch
    for L in (ember, torch):
        w = L.ones(3, requires_grad=True)
        with pytest.raises(RuntimeError, match="view of a leaf Variable that requires grad"):
            w[0].mul_(2)


# ---- Tensor.register_hook ---------------------------------------------------------------------

def _hook_run(lib):
    """Leaf and non-leaf hooks, a replacement, an observer, retain_grad, removal; returns what was seen."""
    x = lib.tensor([1.0, -2.0, 3.0], requires_grad=True)
    seen = []
    hx = x.register_hook(lambda g: seen.append(("x", g.tolist())))
    x.register_hook(lambda g: g * 2)
    y = x * x
    y.register_hook(lambda g: g + 1)
    y.retain_grad()
    z = y.sum() * 3
    z.backward()
    first = (x.grad.tolist(), y.grad.tolist())
    hx.remove()
    hx.remove()  # twice is harmless
    x.grad = None
    (x * 2).sum().backward()
    (gx,) = lib.autograd.grad((x * x).sum(), [x])
    return seen, first, x.grad.tolist(), gx.tolist()


def test_register_hook_matches_torch():
    torch = pytest.importorskip("torch")
    assert _hook_run(ember) == _hook_run(torch)


def test_register_hook_errors_as_torch():
    torch = pytest.importorskip("torch")
    for lib in (ember, torch):
        with pytest.raises(RuntimeError, match="doesn't require gradient"):
            lib.ones(2).register_hook(lambda g: g)
        x = lib.ones(2, requires_grad=True)
        x.register_hook(lambda g: lib.ones(3))
        with pytest.raises(RuntimeError):
            (x * 2).sum().backward()
        y = lib.ones(2, requires_grad=True)
        y.register_hook(lambda g: 1 / 0)
        with pytest.raises(ZeroDivisionError):
            (y * 2).sum().backward()
        assert y.grad is None  # nothing accumulated


def test_hook_handle_context_manager_and_gc():
    import gc
    import weakref
    x = ember.ones(2, requires_grad=True)
    calls = []

    class Hook:
        def __call__(self, g):
            calls.append(1)

    h = Hook()
    ref = weakref.ref(h)
    with x.register_hook(h):
        (x * 2).sum().backward()
    (x * 2).sum().backward()
    assert calls == [1]
    del h
    gc.collect()
    assert ref() is None  # the removed hook is not kept alive


def _graph(fn, lib):
    """The names of a grad_fn graph, depth first, with AccumulateGrad's variable marked by name."""
    if fn is None:
        return None
    return (type(fn).__name__, tuple(_graph(f, lib) for f, _ in fn.next_functions))


@pytest.mark.parametrize("shape,bias,grad_x,relu", [((4, 3), True, False, False), ((5, 4, 3), True, False, False),
                                                    ((4, 3), False, False, False), ((5, 4, 3), False, True, False),
                                                    ((4, 3), True, True, False), ((3,), True, False, False),
                                                    ((4, 3), True, False, True)])
def test_linear_grad_fn_graph_is_torchs(shape, bias, grad_x, relu):
    """nn.Linear's fused node shows torch's graph: AddmmBackward0 -> (AccumulateGrad, None, TBackward0), ..."""
    torch = pytest.importorskip("torch")
    graphs = []
    for lib in (ember, torch):
        lin = lib.nn.Linear(3, 2, bias=bias)
        x = lib.ones(*shape, requires_grad=grad_x) * 1 if grad_x else lib.ones(*shape)
        y = lin(x)
        y = lib.relu(y) if relu else y
        graphs.append(_graph(y.grad_fn, lib))
        t = [f for f, _ in y.grad_fn.next_functions if f is not None and type(f).__name__ == "TBackward0"]
        if t:
            assert t[0].next_functions[0][0].variable is lin.weight
    assert graphs[0] == graphs[1]
