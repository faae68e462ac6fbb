"""ember.func against torch.func on the same fixed float64 inputs: functional_call (dicts, tuples of
dicts, strict, tied weights, buffers, gradients into the supplied tensors, the module restored),
stack_module_state, and the transforms grad, grad_and_value, vjp, jvp, jacrev, jacfwd and hessian
(argnums, has_aux, pytrees, torch's errors), nested in one another through create_graph."""
import re

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import ember  # noqa: E402
import ember.func as efunc  # noqa: E402
import torch.func as tfunc  # noqa: E402

LIBS = {"ember": (ember, efunc), "torch": (torch, tfunc)}


def arr(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape)


def np_of(x):
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
        assert a.shape == b.shape
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
        out.append((type(e.value), str(e.value)))
    return out


def mlp(L, seed=0):
    m = L.nn.Sequential(L.nn.Linear(3, 4), L.nn.Tanh(), L.nn.Linear(4, 2)).double()
    with L.no_grad():
        for i, p in enumerate(m.parameters()):
            p.copy_(L.tensor(arr(*p.shape, seed=seed + i)))
    return m


# ---- functional_call -----------------------------------------------------------------------------

def test_functional_call_with_given_parameters_and_their_gradients():
    def run(L, F):
        m = mlp(L)
        params = {k: L.tensor(arr(*v.shape, seed=7)).requires_grad_() for k, v in m.named_parameters()}
        x = L.tensor(arr(5, 3, seed=3))
        out = F.functional_call(m, params, (x,))
        out.pow(2).sum().backward()
        plain = m(x)
        return out, plain, {k: v.grad for k, v in params.items()}, [p.grad for p in m.parameters()]
    (eo, ep, eg, emg), (to, tp, tg, tmg) = both(run)
    assert_same(eo, to)
    assert_same(ep, tp)  # the module's own parameters are back
    assert_same(eg, tg)
    assert all(g is None for g in emg) and all(g is None for g in tmg)


def test_functional_call_forms():
    def run(L, F):
        m = mlp(L)
        sd = {k: v * 2 for k, v in m.state_dict().items()}
        first = dict(list(sd.items())[:2])
        rest = dict(list(sd.items())[2:])
        x = L.tensor(arr(2, 3, seed=1))
        return (F.functional_call(m, (first, rest), x),  # a tuple of dicts; a lone argument
                F.functional_call(m, {"0.weight": sd["0.weight"]}, args=(x,)),  # partial: the rest are the module's
                F.functional_call(m, sd, (), {"input": x}))
    e, t = both(run)
    assert_same(e, t)


@pytest.mark.parametrize("case", ["repeated", "not_dicts", "bad_type", "unexpected", "missing"])
def test_functional_call_errors_as_torch(case):
    def run(L, F):
        m = mlp(L)
        sd = dict(m.state_dict())
        x = L.ones(1, 3, dtype=L.float64)
        if case == "repeated":
            return F.functional_call(m, (sd, {"0.bias": sd["0.bias"]}), (x,))
        if case == "not_dicts":
            return F.functional_call(m, (sd, [1]), (x,))
        if case == "bad_type":
            return F.functional_call(m, 3, (x,))
        if case == "unexpected":
            return F.functional_call(m, {**sd, "extra": x}, (x,), strict=True)
        del sd["2.bias"]
        return F.functional_call(m, sd, (x,), strict=True)
    e, t = errors_of(run)
    assert e == t


def test_functional_call_tied_weights_and_buffers():
    def run(L, F):
        class Tied(L.nn.Module):
            def __init__(self):
                super().__init__()
                self.a = L.nn.Linear(2, 2, bias=False).double()
                self.b = L.nn.Linear(2, 2, bias=False).double()
                self.b.weight = self.a.weight
                self.bn = L.nn.BatchNorm1d(2).double()

            def forward(self, x):
                return self.bn(self.b(self.a(x)))
        m = Tied()
        with L.no_grad():
            m.a.weight.copy_(L.tensor(arr(2, 2, seed=9)))  # (b's too: tied)
        w = L.tensor(arr(2, 2, seed=4))
        mean = L.zeros(2, dtype=L.float64)
        x = L.tensor(arr(6, 2, seed=5))
        out = F.functional_call(m, {"a.weight": w, "bn.running_mean": mean}, (x,))  # b.weight follows a.weight
        untied = F.functional_call(m, {"a.weight": w}, (x,), tie_weights=False)
        return out, untied, mean  # the running mean was updated in the given tensor
    e, t = both(run)
    assert_same(e, t)
    errs = errors_of(lambda L, F: F.functional_call(run_tied := _tied(L), {"a.weight": L.ones(2, 2), "b.weight":
                                                                           L.zeros(2, 2)}, (L.ones(1, 2),)))
    assert errs[0] == errs[1]


def _tied(L):
    m = L.nn.Module()
    m.a = L.nn.Linear(2, 2, bias=False)
    m.b = L.nn.Linear(2, 2, bias=False)
    m.b.weight = m.a.weight
    return m


def test_functional_call_restores_the_module_when_the_call_raises():
    m = mlp(ember)
    before = {k: v for k, v in m.named_parameters()}
    with pytest.raises(RuntimeError):
        efunc.functional_call(m, {"0.weight": ember.ones(4, 3, dtype=ember.float64)}, (ember.ones(2, 5),))
    assert all(before[k] is v for k, v in m.named_parameters())


# ---- stack_module_state --------------------------------------------------------------------------

def test_stack_module_state_as_torch():
    def run(L, F):
        models = [mlp(L, seed=s) for s in range(3)]
        params, buffers = F.stack_module_state(models)
        return ({k: (tuple(v.shape), v.requires_grad, v.is_leaf) for k, v in params.items()}, params, buffers)
    (e_meta, e_p, e_b), (t_meta, t_p, t_b) = both(run)
    assert e_meta == t_meta and list(e_meta) == list(t_meta)
    assert_same(e_p, t_p)
    assert e_b == t_b == {}


@pytest.mark.parametrize("case", ["empty", "classes", "modes"])
def test_stack_module_state_errors_as_torch(case):
    def run(L, F):
        if case == "empty":
            return F.stack_module_state([])
        if case == "classes":
            return F.stack_module_state([L.nn.Linear(2, 2), L.nn.Sequential(L.nn.Linear(2, 2))])
        return F.stack_module_state([L.nn.Linear(2, 2), L.nn.Linear(2, 2).eval()])
    e, t = errors_of(run)
    assert e == t


# ---- grad, grad_and_value ------------------------------------------------------------------------

def loss3(x, y, z):
    return ((x.sin() * y).sum() + (x * z["w"]).pow(2).mean() + z["b"].exp().sum())


@pytest.mark.parametrize("argnums", [0, 1, -1, (0, 2), (2, 0, 1)])
def test_grad_argnums_and_pytrees_as_torch(argnums):
    def run(L, F):
        x, y = L.tensor(arr(2, 3)), L.tensor(arr(2, 3, seed=1))
        z = {"w": L.tensor(arr(3, seed=2)), "b": L.tensor(arr(2, seed=3))}
        return F.grad(loss3, argnums=argnums)(x, y, z)
    e, t = both(run)
    assert_same(e, t)


def test_grad_and_value_with_aux_and_unused_inputs():
    def run(L, F):
        x, y = L.tensor(arr(4)), L.tensor(arr(4, seed=1))

        def f(a, b):
            return (a * a).sum(), {"mean": a.mean(), "parts": [a[0], a[1:]]}
        g, (value, aux) = F.grad_and_value(f, argnums=(0, 1), has_aux=True)(x, y)  # b unused: zeros
        return g, value, aux, F.grad(f, has_aux=True)(x, y)
    e, t = both(run)
    assert_same(e, t)


@pytest.mark.parametrize("case", ["vector", "no_aux_tuple", "argnum_range", "argnums_empty", "argnums_dup",
                                  "argnums_type", "not_tensor", "aux_not_tensor"])
def test_grad_errors_as_torch(case):
    def run(L, F):
        x = L.ones(3, dtype=L.float64)
        if case == "vector":
            return F.grad(lambda a: a * 2)(x)
        if case == "no_aux_tuple":
            return F.grad(lambda a: a.sum(), has_aux=True)(x)
        if case == "argnum_range":
            return F.grad(lambda a: a.sum(), argnums=1)(x)
        if case == "argnums_empty":
            return F.grad(lambda a: a.sum(), argnums=())(x)
        if case == "argnums_dup":
            return F.grad(lambda a, b: a.sum(), argnums=(0, 0))(x, x)
        if case == "argnums_type":
            return F.grad(lambda a: a.sum(), argnums=[0])(x)
        if case == "aux_not_tensor":
            return F.grad(lambda a: (a.sum(), {"n": 3}), has_aux=True)(x)
        return F.grad(lambda a: a * 2)(2.0)
    e, t = errors_of(run)
    assert e == t


def test_grad_of_a_module_loss_through_functional_call():
    """torch.func's pattern: the gradient of a loss with respect to a dict of parameters."""
    def run(L, F):
        m = mlp(L)
        params = {k: v.detach() for k, v in m.named_parameters()}
        x, y = L.tensor(arr(6, 3, seed=8)), L.tensor(arr(6, 2, seed=9))

        def loss(p):
            return L.nn.functional.mse_loss(F.functional_call(m, p, (x,)), y)
        return F.grad(loss)(params)
    e, t = both(run)
    assert_same(e, t)


# ---- vjp, jacrev, jacfwd -------------------------------------------------------------------------

def test_vjp_as_torch():
    def run(L, F):
        x, y = L.tensor(arr(2, 3)), L.tensor(arr(2, 3, seed=1))
        out, fn = F.vjp(lambda a, b: (a.exp() * b, (a - b).sum(1)), x, y)
        ct = (L.tensor(arr(2, 3, seed=4)), L.tensor(arr(2, seed=5)))
        first, second = fn(ct), fn(ct)  # callable more than once
        value, fn2, aux = F.vjp(lambda a: (a.tanh(), {"s": a.sum()}), x, has_aux=True)
        return out, first, second, value, fn2(L.ones(2, 3, dtype=L.float64)), aux
    e, t = both(run)
    assert_same(e, t)


@pytest.mark.parametrize("api", ["jacrev", "jacfwd"])
@pytest.mark.parametrize("case", ["vector", "matrix_in", "two_args", "tuple_out", "scalar_out"])
def test_jacobians_as_torch(api, case):
    def run(L, F):
        x, y = L.tensor(arr(3)), L.tensor(arr(2, 3, seed=1))
        jac = getattr(F, api)
        if case == "vector":
            return jac(lambda a: a.sin() * a.sum())(x)
        if case == "matrix_in":
            return jac(lambda b: (b @ b.t()).exp())(y)
        if case == "two_args":
            return jac(lambda a, b: b @ a, argnums=(0, 1))(x, y)
        if case == "tuple_out":
            return jac(lambda a: (a.exp(), a.sum()))(x)
        return jac(lambda b: (b ** 3).mean(), argnums=0)(y)
    e, t = both(run)
    assert_same(e, t, tol=1e-10)


def test_jacrev_has_aux_and_chunk_size_check():
    def run(L, F):
        x = L.tensor(arr(3))
        return F.jacrev(lambda a: (a * a, {"n": a.norm()}), has_aux=True)(x)
    e, t = both(run)
    assert_same(e, t)
    errs = errors_of(lambda L, F: F.jacrev(lambda a: a, chunk_size=0))
    assert errs[0] == errs[1]


def test_nested_transforms():
    """Transforms inside transforms (higher-order gradients through create_graph): torch's numbers."""
    def run(L, F):
        x, w = L.tensor(arr(2, 3, seed=1)), L.tensor(arr(3, 2, seed=2))
        f = lambda a, b: (L.tanh(a @ b) ** 2).sum() + (a.sin() * a).sum()  # noqa: E731
        out = {
            "grad_grad": F.grad(lambda a: F.grad(lambda c: (c ** 3).sum())(a).sum())(x[0]),
            "hessian": F.hessian(f)(x, w),
            "hessian_argnums": F.hessian(f, argnums=(0, 1))(x, w),
            "jacfwd_jacrev": F.jacfwd(F.jacrev(lambda a: L.sigmoid(a) * a))(x[1]),
            "jvp": F.jvp(lambda a: L.tanh(a @ w), (x,), (L.ones_like(x),)),
            "jvp_aux": F.jvp(lambda a: (a.exp().sum(0), a.cos()), (x,), (x * 0.5,), has_aux=True),
            "grad_of_vjp": F.grad(lambda a: F.vjp(lambda c: c.exp() * a, a)[1](L.ones_like(a))[0].sum())(x),
        }
        out["jvp_value_requires_grad"] = out["jvp"][0].requires_grad
        return out
    e, t = both(run)
    assert_same(e, t)
    # and nothing is left behind: a plain transform is first-order again afterwards
    x = ember.tensor(arr(3))
    g = efunc.grad(lambda a: (a ** 3).sum())(x)
    assert not g.requires_grad
    assert_same(g, 3 * x ** 2)


def test_transform_of_inputs_that_require_grad_stays_differentiable():
    """grad(f)(x) with x requiring grad composes with ordinary autograd, as torch.func's."""
    def run(L, F):
        x = L.tensor(arr(4, seed=3), requires_grad=True)
        g = F.grad(lambda a: (a.sin() * a ** 2).sum())(x)
        g.pow(2).sum().backward()
        return g.requires_grad, x.grad
    e, t = both(run)
    assert_same(e, t)


# ---- vmap (a loop over the mapped dimension: results as torch's) ---------------------------------

@pytest.mark.parametrize("case", ["plain", "in_dims_tuple", "negative_dims", "pytree_in", "out_dims", "nested",
                                  "kwargs", "grad_inside", "jacrev_inside"])
def test_vmap_as_torch(case):
    def run(L, F):
        x, y = L.tensor(arr(4, 3)), L.tensor(arr(3, 5, seed=1))
        if case == "plain":
            return F.vmap(lambda a: a.sin() * a.sum())(x)
        if case == "in_dims_tuple":
            return F.vmap(lambda a, b: a @ b, in_dims=(0, None))(x, y)
        if case == "negative_dims":
            return F.vmap(lambda a, b: a * b.sum(), in_dims=(-1, 1))(y, L.tensor(arr(2, 5, seed=2)))
        if case == "pytree_in":
            return F.vmap(lambda d: d["a"] * d["b"], in_dims=({"a": 0, "b": None},))({"a": x, "b": L.tensor(arr(3))})
        if case == "out_dims":
            return F.vmap(lambda a: (a * 2, a.sum(), a[:2]), out_dims=(1, 0, -1))(x)
        if case == "nested":
            return F.vmap(F.vmap(lambda a, b: a * b, in_dims=(0, None)), in_dims=(None, 0))(x[0], x)
        if case == "kwargs":
            return F.vmap(lambda a, scale=1.0: a * scale)(x, scale=3.0)
        if case == "grad_inside":
            return F.vmap(F.grad(lambda a, b: (a.exp() * b).sum()), in_dims=(0, None))(x, L.tensor(arr(3, seed=4)))
        return F.vmap(F.jacrev(lambda a: a.tanh() * a[0]))(x)
    e, t = both(run)
    assert_same(e, t)


def test_gradients_flow_through_vmap_to_stacked_parameters():
    """The ensembling recipe: stacked parameters (leaves), vmap over functional_call, one loss,
    backward: every model's gradient lands in its slice of the stacked parameters."""
    def run(L, F):
        models = [mlp(L, seed=s) for s in range(3)]
        params, buffers = F.stack_module_state(models)
        x = L.tensor(arr(5, 3, seed=11))

        def fmodel(p, b, inp):
            return F.functional_call(models[0], (p, b), (inp,))
        out = F.vmap(fmodel, in_dims=(0, 0, None))(params, buffers, x)
        out.pow(2).mean().backward()
        return out, {k: v.grad for k, v in params.items()}
    e, t = both(run)
    assert_same(e, t)


def test_vmap_randomness():
    x = ember.zeros(4, 3)
    with pytest.raises(RuntimeError, match="called random operation while in randomness error mode"):
        efunc.vmap(lambda a: a + ember.rand(3))(x)
    same = efunc.vmap(lambda a: a + ember.rand(3), randomness="same")(x)
    assert all(same[i].tolist() == same[0].tolist() for i in range(4))
    different = efunc.vmap(lambda a: a + ember.rand(3), randomness="different")(x)
    assert len({tuple(r) for r in different.tolist()}) == 4


@pytest.mark.parametrize("case", ["sizes", "in_dims_none", "in_dims_range", "non_tensor_out", "non_tensor_in",
                                  "randomness", "in_dims_type"])
def test_vmap_errors_as_torch(case):
    def run(L, F):
        x, y = L.ones(3, 2), L.ones(4, 2)
        if case == "sizes":
            return F.vmap(lambda a, b: a + b)(x, y)
        if case == "in_dims_none":
            return F.vmap(lambda a: a, in_dims=None)(x)
        if case == "in_dims_range":
            return F.vmap(lambda a: a, in_dims=2)(x)
        if case == "non_tensor_out":
            return F.vmap(lambda a: 3)(x)
        if case == "non_tensor_in":
            return F.vmap(lambda a: a)(3.0)
        if case == "randomness":
            return F.vmap(lambda a: a, randomness="bogus")(x)
        return F.vmap(lambda a: a, in_dims="x")(x)
    e, t = errors_of(run)
    assert e == t


def test_linearize_functionalize_batch_norm_and_debug_unwrap():
    def run(L, F):
        x = L.tensor(arr(3, seed=5))
        out, jvp_fn = F.linearize(lambda a: a.sin() * a.exp(), x)
        m = L.nn.Sequential(L.nn.Linear(3, 4), L.nn.BatchNorm1d(4))
        F.replace_all_batch_norm_modules_(m)
        y = x.clone()
        F.functionalize(lambda a: a.add_(1))(y)
        return (out, jvp_fn(L.ones_like(x)), jvp_fn(x), m[1].running_mean is None, m[1].running_var is None,
                m[1].track_running_stats, y, F.debug_unwrap(x) is x)
    e, t = both(run)
    assert_same(e, t)
    with pytest.raises(RuntimeError, match="invalid argument for remove"):
        efunc.functionalize(lambda a: a, remove="views")
    seen = efunc.vmap(lambda a: efunc.debug_unwrap(a).shape[0] + 0 * a.sum())(ember.ones(4, 2))
    assert seen.tolist() == [4.0] * 4  # inside vmap the unwrapped value holds every slice


def test_transforms_leave_no_reference_cycles():
    """A transform's results are freed as soon as they are dropped, without a garbage-collector pass
    (a cycle through a pytree helper kept per-sample gradients' 100 MB alive until gc ran, and every
    call then page-faulted a fresh buffer)."""
    import gc
    w, x = ember.randn(4, 3), ember.randn(5, 3)

    def loss(w, s):
        return ember.nn.functional.linear(s.unsqueeze(0), w).tanh().sum()
    calls = [lambda: efunc.vmap(efunc.grad(loss), in_dims=(None, 0))(w, x),
             lambda: efunc.grad(loss)(w, x[0]), lambda: efunc.jacrev(loss)(w, x[0]),
             lambda: efunc.vjp(lambda w: loss(w, x[0]), w)[1](ember.tensor(1.0)),
             lambda: efunc.vmap(lambda a, b: a * b)(x, x)]
    for call in calls:
        call()  # (first calls import and cache what they need)
    gc.collect()
    gc.disable()
    try:
        for call in calls:
            for _ in range(3):
                call()
        assert gc.collect() == 0
    finally:
        gc.enable()


# ---- rearrange (einops' pattern language) ---------------------------------------------------------

_REARRANGE = [("b c h w -> b h w c", {}), ("b c h (w1 w2) -> b (c w1) h w2", {"w1": 2}), ("b ... -> (b ...)", {}),
              ("... w -> w ...", {}), ("b c h w -> b c h w 1", {}), ("b c h w -> (b c h w)", {}),
              ("b c h w -> b c () h w", {}), ("(b1 b2) c h w -> b1 b2 c h w", {"b1": 2}),
              ("b c h (w1 w2) -> w2 b c h w1", {"w2": 3}), ("b ... w -> b w ...", {}), ("b c ... -> b (c ...)", {}),
              ("b c h w -> (w b) (h c)", {}), ("b c (h1 h2) w -> b c h1 (h2 w)", {"h1": 2, "h2": 2}),
              ("... -> ...", {}), ("b c h w -> b c h w", {}), ("  b   c h w->b(c h)w ", {})]


@pytest.mark.parametrize("pattern,lengths", _REARRANGE)
def test_rearrange_as_torch(pattern, lengths):
    """torch.func.rearrange's values and gradients for transposes, merges, splits (sized by keyword),
    unit dims, ellipses, and the pattern's whitespace."""
    x = np.random.default_rng(0).normal(size=(2, 3, 4, 6))
    out = {}
    for L, F in ((ember, efunc), (torch, tfunc)):
        t = L.tensor(x, requires_grad=True)
        y = F.rearrange(t, pattern, **lengths)
        (y * L.tensor(np.arange(y.numel(), dtype=np.float64).reshape(tuple(y.shape)))).sum().backward()
        out[L.__name__] = (tuple(y.shape), y.detach().numpy(), t.grad.numpy())
    assert out["ember"][0] == out["torch"][0]
    np.testing.assert_array_equal(out["ember"][1], out["torch"][1])
    np.testing.assert_array_equal(out["ember"][2], out["torch"][2])


def test_rearrange_of_a_list_stacks_it_first():
    ys = [np.zeros((3, 4)), np.ones((3, 4)), np.full((3, 4), 2.0)]
    got = efunc.rearrange([ember.tensor(y) for y in ys], "n a b -> a (n b)").numpy()
    np.testing.assert_array_equal(got, tfunc.rearrange([torch.tensor(y) for y in ys], "n a b -> a (n b)").numpy())


@pytest.mark.parametrize("pattern,lengths,err,msg", [
    ("b c h w", {}, ValueError, "Pattern must contain a single '->' separator"),
    ("b c h w -> b c", {}, ValueError, r"Identifiers only on one side of rearrange expression \(should be on both\)"),
    ("b b h w -> b h w", {}, ValueError, "Indexing expression contains duplicate dimension 'b'"),
    ("b c h w -> b (c c) h w", {}, ValueError, "Indexing expression contains duplicate dimension 'c'"),
    ("b c h w -> b c h w", {"q": 1}, ValueError, r"Identifiers not found in rearrange expression: \{'q'\}"),
    ("b c h -> b c h", {}, ValueError, r"Number of dimensions in pattern \(3\) must be equal to the number of "
                                       r"dimensions in the tensor \(4\)"),
    ("b c (h q) w -> b c h q w", {}, "bind", "cannot infer the sizes of two dimensions at once"),
    ("b c h w -> b c h w", {"h": 5}, "bind", r"Dimension sizes to do not match \(4 != 5\)"),
    ("b c (h q) w -> b c h q w", {"h": 3}, "bind", r"inferred dimension does not evenly fit into larger dimension: "
                                                    r"4 vs \(3, '\?'\)"),
])
def test_rearrange_errors_as_torch(pattern, lengths, err, msg):
    """torch's exception types and messages (a size that cannot be bound: DimensionBindError; torch's
    names the axes by its internal dims, ember by the pattern's)."""
    x = np.zeros((2, 3, 4, 6))
    for L, F in ((ember, efunc), (torch, tfunc)):
        with pytest.raises(Exception) as info:
            F.rearrange(L.tensor(x), pattern, **lengths)
        if err == "bind":
            assert type(info.value).__name__ == "DimensionBindError"
        else:
            assert type(info.value) is err
        assert re.search(msg, str(info.value)), (L.__name__, str(info.value))


def test_rearrange_unit_axis_over_a_larger_dim_raises():
    """A "1" on the left over a dim that is not 1 is an error (einops'); torch 2.13's native version
    silently sums that dim (b 1 -> b of [[0..5], [6..11]] gives [15, 51]), which ember does not copy."""
    with pytest.raises(Exception, match=r"Dimension sizes to do not match \(6 != 1\)"):
        efunc.rearrange(ember.arange(12.0).reshape(2, 6), "b 1 -> b")
    np.testing.assert_array_equal(efunc.rearrange(ember.arange(2.0).reshape(2, 1), "b 1 -> b").numpy(), [0.0, 1.0])
