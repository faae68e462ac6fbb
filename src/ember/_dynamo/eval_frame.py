"""`ember.compile` (torch.compile under install_as_torch()) and the module it returns.

Note [Compile]: `ember.compile` takes torch.compile's arguments, checks them as torch does (the
same errors for an unknown mode or backend, mode together with options, a non-callable), and
returns what torch returns: an `OptimizedModule` for a module (the original under `_orig_mod`, so
state_dict keys carry torch's `_orig_mod.` prefix; attributes, `training` and pickling go through
to the original), a wrapper for a function, the object itself under `disable=True`, and a
decorator when called without one. `nn.Module.compile()` compiles its forward in place, keys
unchanged.

What a compiled call does: the first call runs eagerly and records every tensor call it makes;
later calls whose guards hold replay the recording in C++ (Note [Capture] in
cpp/ember/capture/capture.cpp, Note [Capture guards] in capture.py): for a module, its forward
(the autograd graph is built by the replay as eager builds it, so backward is eager's); for a
function, whatever it does, typically a whole training step. A call the recording cannot stand
for runs eagerly (up to 8 recordings per compiled object, torch's recompile limit), and
`fullgraph=True` raises Unsupported instead, naming what broke the capture. `mode`, `options`,
`dynamic` and `backend` are checked and kept (`dynamo_ctx`) and change nothing: every backend is
this capture. Unlike torch's, an OptimizedModule also loads a state_dict without the `_orig_mod.`
prefix (the original module's own), so checkpoints move both ways between a model and its
compiled form.
"""
import functools

from ..nn.modules.module import Module
from . import exc
from .capture import Captured, reset as _reset_captures

# torch._inductor.list_mode_options()'s modes, in its order (its error message lists them so)
_MODES = ("default", "lite", "reduce-overhead", "max-autotune-no-cudagraphs", "max-autotune")
# torch._dynamo.list_backends(None): the names torch.compile accepts for `backend`
_BACKENDS = ("aot_eager", "aot_eager_decomp_partition", "aot_eager_decomp_partition_crossref",
             "aot_eager_decomp_partition_with_mode", "aot_eager_default_partitioner", "aot_ts", "cudagraphs",
             "dynamo_accuracy_minifier_backend", "dynamo_minifier_backend", "eager", "eager_debug", "eager_noexcept",
             "inductor", "invoke_subgraph", "openxla", "openxla_eval", "pre_dispatch_eager", "ts", "tvm")
_DEBUG_BACKENDS = {"aot_eager", "aot_eager_decomp_partition", "aot_eager_decomp_partition_crossref",
                   "aot_eager_decomp_partition_with_mode", "aot_eager_default_partitioner", "aot_ts",
                   "dynamo_accuracy_minifier_backend", "dynamo_minifier_backend", "eager", "eager_debug",
                   "eager_noexcept", "invoke_subgraph", "openxla_eval", "pre_dispatch_eager", "ts"}


def list_backends(exclude_tags=("debug", "experimental")):
    """The backend names torch.compile accepts (torch's list; ember runs its own path for each)."""
    if exclude_tags:
        return sorted(b for b in _BACKENDS if b not in _DEBUG_BACKENDS)
    return sorted(_BACKENDS)


class CompileContext:
    """The arguments one compile call was given (torch's `dynamo_ctx`)."""

    def __init__(self, fullgraph, dynamic, backend, mode, options, name):
        self.fullgraph, self.dynamic, self.backend = fullgraph, dynamic, backend
        self.mode, self.options, self.name = mode, options, name

    def __repr__(self):
        return (f"CompileContext(backend={self.backend!r}, mode={self.mode!r}, fullgraph={self.fullgraph}, "
                f"dynamic={self.dynamic})")


def _context(fullgraph, dynamic, backend, mode, options, name):
    if mode is not None and options is not None:
        raise RuntimeError("Either mode or options can be specified, but both can't be specified at the same time.")
    if mode is None and options is None:
        mode = "default"
    if mode is not None and mode not in _MODES:
        raise RuntimeError(f"Unrecognized mode={mode}, should be one of: {', '.join(_MODES)}")
    if backend is None:
        backend = "inductor"
    if isinstance(backend, str):
        if backend not in _BACKENDS:
            raise exc.InvalidBackend(name=backend)
    elif not callable(backend):
        raise exc.InvalidBackend(name=backend)
    if options is not None and not isinstance(options, dict):
        raise TypeError(f"options must be a dict, got {type(options).__name__}")
    return CompileContext(fullgraph, dynamic, backend, mode, options, name)


def compile(model=None, *, fullgraph=False, dynamic=None, backend=None, mode=None, options=None,  # noqa: A001
            name=None, disable=False, recompile_limit=None, isolate_recompiles=False, shapes_spec=None):
    """torch.compile's signature and checks; the result records its first call and replays it
    (Note [Compile])."""
    if model is None:
        def decorate(model):
            if model is None:
                raise RuntimeError("Model can't be None")
            return compile(model, fullgraph=fullgraph, dynamic=dynamic, backend=backend, mode=mode, options=options,
                           name=name, disable=disable, recompile_limit=recompile_limit,
                           isolate_recompiles=isolate_recompiles, shapes_spec=shapes_spec)
        return decorate
    ctx = _context(fullgraph, dynamic, backend, mode, options, name)
    if disable:
        return model
    if isinstance(model, Module):
        return OptimizedModule(model, ctx)
    if not callable(model):
        raise AssertionError(f"A callable function is expected, but {type(model)} is provided.")
    return _compiled_function(model, ctx)


def _compiled_function(fn, ctx):
    captured = Captured(fn, fullgraph=ctx.fullgraph)

    @functools.wraps(fn)
    def compiled(*args, **kwargs):
        return captured(*args, **kwargs)

    compiled._torchdynamo_orig_callable = fn
    compiled.dynamo_ctx = ctx
    compiled._ember_capture = captured
    return compiled


class OptimizedModule(Module):
    """What `ember.compile(module)` returns: the original module as its one child `_orig_mod`,
    every attribute but its own read and written through to it (Note [Compile])."""

    _opt_mod_attributes = {"_orig_mod", "dynamo_ctx", "_torchdynamo_orig_callable", "forward", "__dict__",
                           "_ember_capture"}

    def __init__(self, mod, dynamo_ctx):
        super().__init__()
        Module.__setattr__(self, "_orig_mod", mod)
        self.__dict__["dynamo_ctx"] = dynamo_ctx
        self.__dict__["_torchdynamo_orig_callable"] = mod.__call__
        self.__dict__["_ember_capture"] = Captured(mod, fullgraph=dynamo_ctx.fullgraph)

    def forward(self, *args, **kwargs):
        return self.__dict__["_ember_capture"](*args, **kwargs)

    def __call__(self, *args, **kwargs):
        # straight to the original when the wrapper has no hooks of its own (a Python call less)
        d = self.__dict__
        if d["_forward_pre_hooks"] or d["_forward_hooks"]:
            return Module.__call__(self, *args, **kwargs)
        return d["_ember_capture"](*args, **kwargs)

    @property
    def training(self):
        return self._modules["_orig_mod"].training

    @training.setter
    def training(self, value):
        self._modules["_orig_mod"].training = value

    def train(self, mode=True):
        self._orig_mod.train(mode)
        return self

    def __len__(self):
        if hasattr(type(self._orig_mod), "__len__"):
            return len(self._orig_mod)
        raise TypeError(f"{type(self._orig_mod).__name__} does not support len()")

    def __getattr__(self, name):
        modules = self.__dict__.get("_modules")
        if modules is None or "_orig_mod" not in modules:
            raise AttributeError(name)
        if name == "_orig_mod":
            return modules["_orig_mod"]
        return getattr(modules["_orig_mod"], name)

    def __setattr__(self, name, value):
        if hasattr(type(self), name) or name in OptimizedModule._opt_mod_attributes:
            return Module.__setattr__(self, name, value)
        return setattr(self._orig_mod, name, value)

    def __delattr__(self, name):
        if hasattr(type(self), name) or name in OptimizedModule._opt_mod_attributes:
            return Module.__delattr__(self, name)
        return delattr(self._orig_mod, name)

    def __dir__(self):
        own = dir(self._orig_mod)
        return own + [a for a in super().__dir__() if a not in own]

    def __reduce__(self):
        return (self.__class__, (self._orig_mod, self.dynamo_ctx))

    def load_state_dict(self, state_dict, strict=True, assign=False):
        """As Module.load_state_dict; a state_dict of the original module (no `_orig_mod.` prefix on
        any key) is loaded into it, so either form loads (Note [Compile])."""
        if isinstance(state_dict, dict) and state_dict and not any(
                isinstance(k, str) and k.startswith("_orig_mod.") for k in state_dict):
            return self._orig_mod.load_state_dict(state_dict, strict=strict, assign=assign)
        return super().load_state_dict(state_dict, strict=strict, assign=assign)


def disable(fn=None, recursive=True, *, reason=None):
    """torch._dynamo.disable / torch.compiler.disable: nothing is traced in ember, so the function
    itself (or, without one, a decorator that returns it)."""
    if fn is None:
        return lambda f: f
    return fn


def reset():
    """torch._dynamo.reset(): forget every compiled object's recordings (each records again)."""
    _reset_captures()
