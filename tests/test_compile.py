"""ember.compile / torch.compile's interface (Note [Compile] in src/ember/_dynamo/eval_frame.py)
against torch 2.13's: what it returns for a module (OptimizedModule: repr, `_orig_mod.` state_dict
keys, attributes, training flag, pickling), a function, `disable=True` and decorator use; its
errors (types and messages) for bad modes, backends and arguments; nn.Module.compile() in place;
torch.compiler / torch._dynamo helpers. torch's compiled objects are built but never called (that
would start inductor). A compiled model trains to exactly eager ember's weights (its calls are
replays of a recorded step: tests/test_capture.py)."""
import os
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import ember  # noqa: E402


def _mlp(lib):
    lib.manual_seed(0)
    return lib.nn.Sequential(lib.nn.Linear(3, 8), lib.nn.ReLU(), lib.nn.Linear(8, 2))


def _fill(model, seed=0):
    """Fixed weights from numpy (never either library's random stream)."""
    g = np.random.default_rng(seed)
    lib = ember if isinstance(next(model.parameters()), ember.Tensor) else torch
    with lib.no_grad():
        for p in model.parameters():
            p.copy_(lib.tensor(g.standard_normal(tuple(p.shape)).astype(np.float32)))
    return model


# --------------------------------------------------------------------------- the module wrapper

def test_compiled_module_repr_keys_and_type_like_torch():
    e, t = ember.compile(_mlp(ember)), torch.compile(_mlp(torch))
    assert type(e).__name__ == type(t).__name__ == "OptimizedModule"
    assert isinstance(e, ember.nn.Module)
    assert repr(e) == repr(t)
    assert list(e.state_dict().keys()) == list(t.state_dict().keys())
    assert [n for n, _ in e.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert [n for n, _ in e.named_modules()] == [n for n, _ in t.named_modules()]


def test_compiled_module_shares_the_original_parameters_and_attributes():
    m = _mlp(ember)
    c = ember.compile(m)
    assert c._orig_mod is m
    assert [id(p) for p in c.parameters()] == [id(p) for p in m.parameters()]
    assert c._orig_mod[0] is m[0] and len(c) == len(m) == 3  # len goes to the original
    for lib, mod in ((ember, c), (torch, torch.compile(_mlp(torch)))):
        with pytest.raises(TypeError, match="'OptimizedModule' object is not subscriptable"):
            mod[0]  # as torch's: indexing is a special method, looked up on the wrapper's type
    c.note = "set through the wrapper"
    assert m.note == "set through the wrapper"
    del c.note
    assert not hasattr(m, "note")
    with pytest.raises(AttributeError):
        c.no_such_attribute  # noqa: B018
    with pytest.raises(TypeError, match="does not support len"):
        len(ember.compile(ember.nn.Linear(2, 2)))


@pytest.mark.parametrize("lib", [ember, torch], ids=["ember", "torch"])
def test_compiled_module_training_flag_mirrors_the_original(lib):
    m = _mlp(lib)
    c = lib.compile(m)
    c.eval()
    assert not m.training and not c.training and not m[0].training
    m.train()
    assert c.training
    c.training = False
    assert m.training is False


def test_compiled_module_loads_either_state_dict_form():
    src = _fill(_mlp(ember), seed=1)
    for state in (src.state_dict(), ember.compile(src).state_dict()):  # plain keys, then `_orig_mod.` keys
        c = ember.compile(_fill(_mlp(ember), seed=2))
        assert not c.load_state_dict(state).missing_keys
        for p, q in zip(c.parameters(), src.parameters()):
            np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())
    # the plain module refuses the prefixed form, as torch's does (same keys in the message)
    errors = []
    for lib in (ember, torch):
        with pytest.raises(RuntimeError) as info:
            _mlp(lib).load_state_dict(lib.compile(_mlp(lib)).state_dict())
        errors.append(str(info.value).split("\n", 1)[1])
    assert errors[0] == errors[1]
    # strict still applies to the compiled form
    with pytest.raises(RuntimeError, match='Missing key'):
        ember.compile(_mlp(ember)).load_state_dict({"0.weight": ember.zeros(8, 3)})


def test_compiled_module_pickles_with_its_state():
    m = _fill(_mlp(ember), seed=3)
    c = pickle.loads(pickle.dumps(ember.compile(m, mode="max-autotune")))
    assert type(c).__name__ == "OptimizedModule" and c.dynamo_ctx.mode == "max-autotune"
    for (k, p), (k2, q) in zip(c.state_dict().items(), m.state_dict().items()):
        assert k == "_orig_mod." + k2
        np.testing.assert_array_equal(p.numpy(), q.numpy())


def test_compiled_model_trains_exactly_as_eager():
    g = np.random.default_rng(4)
    x, y = ember.tensor(g.standard_normal((16, 3)).astype(np.float32)), ember.tensor(g.integers(0, 2, 16))
    results = []
    for compiled in (False, True):
        model = _fill(_mlp(ember), seed=5)
        net = ember.compile(model) if compiled else model
        opt = ember.optim.Adam(net.parameters(), lr=0.01)
        losses = []
        for _ in range(5):
            opt.zero_grad()
            loss = ember.nn.functional.cross_entropy(net(x), y)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        results.append((losses, [p.detach().numpy().copy() for p in model.parameters()]))
    assert results[0][0] == results[1][0]
    for a, b in zip(results[0][1], results[1][1]):
        np.testing.assert_array_equal(a, b)


def test_module_compile_in_place_keeps_keys_and_results():
    m = _fill(_mlp(ember), seed=6)
    x = ember.tensor(np.ones((2, 3), np.float32))
    before = m(x).detach().numpy()
    t = _mlp(torch)
    assert m.compile(mode="reduce-overhead") is None and t.compile(mode="reduce-overhead") is None
    assert list(m.state_dict()) == list(t.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    np.testing.assert_array_equal(m(x).detach().numpy(), before)
    with pytest.raises(RuntimeError, match="Unrecognized mode"):
        m.compile(mode="fastest")


# --------------------------------------------------------------------------- functions, decorators

def test_compiled_function_wraps_like_torch():
    def step(a, b=1):
        """doc"""
        return a * 2 + b

    for lib in (ember, torch):
        f = lib.compile(step)
        assert f.__name__ == "step" and f.__doc__ == "doc" and f._torchdynamo_orig_callable is step
        assert f.__wrapped__ is step
    x = ember.tensor([1.0, 2.0])
    np.testing.assert_array_equal(ember.compile(step)(x, b=3).numpy(), step(x, b=3).numpy())


def test_decorator_forms():
    @ember.compile
    def f(x):
        return x + 1

    @ember.compile(fullgraph=True, dynamic=False, backend="eager")
    def g(x):
        return x * 3

    x = ember.tensor([1.0, 2.0])
    assert f(x).tolist() == [2.0, 3.0] and g(x).tolist() == [3.0, 6.0]
    assert g.dynamo_ctx.fullgraph is True and g.dynamo_ctx.backend == "eager"
    for lib in (ember, torch):
        with pytest.raises(RuntimeError, match="Model can't be None"):
            lib.compile()(None)


def test_disable_returns_the_object_itself():
    m, f = _mlp(ember), (lambda x: x)
    assert ember.compile(m, disable=True) is m and ember.compile(f, disable=True) is f
    t = _mlp(torch)
    assert torch.compile(t, disable=True) is t


# --------------------------------------------------------------------------- errors, as torch's

BAD = {
    "unknown_mode": dict(mode="fastest"),
    "mode_and_options": dict(mode="default", options={"max_autotune": True}),
    "unknown_backend": dict(backend="no-such-backend"),
}


@pytest.mark.parametrize("name", list(BAD))
def test_bad_arguments_raise_like_torch(name):
    raised = []
    for lib in (ember, torch):
        with pytest.raises(Exception) as info:
            lib.compile(_mlp(lib), **BAD[name])
        raised.append(info.value)
    e, t = raised
    assert type(e).__name__ == type(t).__name__ and isinstance(e, RuntimeError)
    assert str(e) == str(t)


def test_non_callable_raises_like_torch():
    for lib in (ember, torch):
        with pytest.raises(AssertionError, match="A callable function is expected, but <class 'int'> is provided."):
            lib.compile(3)


def test_every_torch_mode_and_backend_is_accepted():
    from torch._inductor import list_mode_options
    for mode in list_mode_options():
        ember.compile(_mlp(ember), mode=mode)
    assert ember._dynamo.list_backends() == torch._dynamo.list_backends()
    # (torch's debug list also holds backends that fail on purpose, for its own tests)
    assert ember._dynamo.list_backends(None) == [b for b in torch._dynamo.list_backends(None) if "TESTING_ONLY" not in b]
    for backend in ember._dynamo.list_backends(None):
        ember.compile(_mlp(ember), backend=backend)
    ember.compile(_mlp(ember), backend=lambda gm, example_inputs: gm)  # a custom backend callable


def test_compiler_helpers():
    assert ember.compiler.is_compiling() is torch.compiler.is_compiling() is False
    assert ember.compiler.is_dynamo_compiling() is False and ember._dynamo.is_compiling() is False

    def f(x):
        return x

    assert ember.compiler.disable(f) is f and ember._dynamo.disable(f) is f
    assert ember.compiler.disable()(f) is f and ember.compiler.allow_in_graph(f) is f
    assert ember.compiler.reset() is None and ember._dynamo.reset() is None
    ember._dynamo.config.suppress_errors = True  # programs set it; accepted
    assert ember.compiler.compile is ember.compile


def test_torch_program_with_torch_compile_runs_under_ember(tmp_path):
    """`model = torch.compile(model)` in a torch program: `python -m ember` runs it and prints what
    the uncompiled program prints on ember."""
    body = textwrap.dedent("""
        import numpy as np
        import torch
        import torch.nn as nn
        model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
        g = np.random.default_rng(0)
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(torch.tensor(g.standard_normal(tuple(p.shape)).astype(np.float32)))
        COMPILE
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        x = torch.tensor(g.standard_normal((8, 3)).astype(np.float32))
        y = torch.tensor(g.standard_normal((8, 1)).astype(np.float32))
        for _ in range(3):
            opt.zero_grad()
            loss = nn.functional.mse_loss(model(x), y)
            loss.backward()
            opt.step()
            print(repr(loss.item()))
        print(sorted(model.state_dict())[0])
    """)
    out = []
    for line in ("model = torch.compile(model)", "pass"):
        script = tmp_path / "prog.py"
        script.write_text(body.replace("COMPILE", line))
        r = subprocess.run([sys.executable, "-m", "ember", str(script)], capture_output=True, text=True,
                           env={**os.environ, "PYTHONWARNINGS": "ignore"}, timeout=120)
        assert r.returncode == 0, r.stderr
        out.append(r.stdout.splitlines())
    assert out[0][:3] == out[1][:3]  # the losses
    assert out[0][3] == "_orig_mod.0.bias" and out[1][3] == "0.bias"


def test_hooks_on_the_wrapper_and_the_original_both_run():
    m = ember.nn.Linear(2, 2)
    c = ember.compile(m)
    seen = []
    m.register_forward_hook(lambda mod, args, out: seen.append("original"))
    handle = c.register_forward_pre_hook(lambda mod, args: seen.append("wrapper"))
    c(ember.ones(1, 2))
    assert seen == ["wrapper", "original"]
    handle.remove()
    c(ember.ones(1, 2))
    assert seen == ["wrapper", "original", "original"]


def test_compiled_state_dict_saves_and_loads_both_ways(tmp_path):
    """ember.save of a compiled model's state_dict (`_orig_mod.` keys) loads into a compiled model
    and, through the compiled form, from a plain model's file; values exact."""
    src = _fill(_mlp(ember), seed=7)
    compiled_file, plain_file = tmp_path / "compiled.pt", tmp_path / "plain.pt"
    ember.save(ember.compile(src).state_dict(), compiled_file)
    ember.save(src.state_dict(), plain_file)
    for path in (compiled_file, plain_file):
        dst = ember.compile(_fill(_mlp(ember), seed=8))
        dst.load_state_dict(ember.load(path))
        for p, q in zip(dst.parameters(), src.parameters()):
            np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())


def test_two_compiled_models_train_in_two_threads_as_one_after_the_other():
    import threading
    g = np.random.default_rng(9)
    x, y = ember.tensor(g.standard_normal((32, 3)).astype(np.float32)), ember.tensor(g.integers(0, 2, 32))

    def train(model, out):
        opt = ember.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        for _ in range(20):
            opt.zero_grad()
            ember.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
        out.append([p.detach().numpy().copy() for p in model.parameters()])

    alone, together = [], [[], []]
    for seed in (10, 11):
        train(ember.compile(_fill(_mlp(ember), seed)), alone)
    threads = [threading.Thread(target=train, args=(ember.compile(_fill(_mlp(ember), s)), together[i]))
               for i, s in enumerate((10, 11))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for a, b in zip(alone, [together[0][0], together[1][0]]):
        for p, q in zip(a, b):
            np.testing.assert_array_equal(p, q)
