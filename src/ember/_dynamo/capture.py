"""Recording a compiled function's call and replaying it (ember.compile; Note [Capture] in
cpp/ember/capture/capture.cpp says how tensor calls are recorded and why a replay repeats them).

Note [Capture guards]: a replay skips the Python of the step, so it is used only when that Python
would do the same tensor calls with the same Python values. What the recording depended on:

- the arguments: tensors by shape, strides, dtype, requires_grad, history, .grad presence and
  memory sharing (checked in C++, Program.mismatch); everything else by value (numbers, strings,
  None, dtypes, and containers of these) or, for other objects, by identity;
- the tensors the step used that existed before it (parameters, buffers, data): the same objects
  (they are reached only through the guarded Python state below) with the same metadata;
- grad mode and the default dtype;
- the Python state the step's own code can read: every global its functions name (by identity),
  the compiled function's closure cells, and the objects these lead to: a Module's whole tree
  (every attribute of every submodule, its parameter, buffer, submodule and hook dicts), a plain
  object's attributes, a list's or dict's items (one level);
- an optimizer or LR scheduler is replayed by calling its step() again (an opaque step, reading
  its hyper-parameters then: a scheduler changing lr does not force a new recording); its state is
  guarded only when the step's code names it (param_groups, get_last_lr, ...).

A step may return a value it read from a tensor last (`return loss.item()`, after its last tensor
call, as a float the step returns unchanged): the replay reads it again from the replayed tensor.
A recording is refused (the call stays eager) when the step does what a replay cannot repeat:
reads a tensor's value into Python otherwise (.item() before a later tensor call or as an int,
bool(t), .tolist(), printing), calls Python's
`random` or any non-pure C function from user code (print, list.append, next, time, numpy),
changes any guarded Python state (a global, a module attribute), uses a tensor the recorder did
not see being made, a Python autograd Function or hook, an explicit Generator, or returns a
Python object other than numbers, strings and None. `fullgraph=True` raises Unsupported naming it.

What is not guarded: attributes of objects reached only through calls' results (not through a
global, a closure cell, an argument or a module), and builtins rebound after the recording.
"""
import builtins
import functools
import gc
import os
import sys
import threading
import types
import weakref

from .. import _C
from . import exc

_EMBER_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# ember's own code that a step may run, trusted to do nothing a replay would miss beyond the
# tensor calls it records (its C calls other than ember's are not checked)
_TRUSTED = tuple(os.path.join(_EMBER_DIR, p) for p in (
    "nn", "_tensor.py", "functional.py", "_factories.py", "autograd", "linalg.py", "_functions.py",
    "_op_registry.py", "optim", "_tensor_str.py", "_dynamo"))

_state = threading.local()
_all = weakref.WeakSet()  # every Captured, for reset()
_Tensor = _C.Tensor
_MISSING = object()


def _limit():
    """torch._dynamo.config.recompile_limit (torch's default 8): recordings per compiled object."""
    from . import config
    return int(config.recompile_limit)


def reset():
    """Forget every recording (torch._dynamo.reset / torch.compiler.reset)."""
    for c in list(_all):
        c.clear()


# C functions user code may call during a recording: pure, no side effects
_PURE_BUILTINS = {getattr(builtins, n) for n in (
    "len", "isinstance", "issubclass", "hasattr", "getattr", "callable", "abs", "min", "max", "sum", "round",
    "divmod", "pow", "id", "hash", "repr", "format", "sorted", "any", "all", "iter", "ord", "chr")}
_PURE_MODULES = {"math", "_operator", "operator", "builtins"}
_PURE_FUNCTIONS = {("_abc", "_abc_instancecheck"), ("_abc", "_abc_subclasscheck")}  # isinstance with an ABC
_PURE_METHOD_TYPES = (str, bytes, tuple, int, float, bool, complex, frozenset, type(None))
_PURE_METHODS = {(dict, n) for n in ("get", "keys", "values", "items", "copy", "__getitem__", "__contains__")} | {
    (list, n) for n in ("index", "count", "copy", "__getitem__", "__contains__")} | {
    (set, n) for n in ("__contains__", "issubset", "issuperset", "union", "intersection", "difference", "copy")}
# pybind11 functions of ember._C a step may call: recorded in C++, pure, or refusing themselves
_C_OK = {
    "linear", "_mlp", "_sequential_mlp", "_linear_relu", "_max_pool", "_avg_pool", "_adaptive_avg_pool",
    "_adaptive_max_pool", "_im2col", "_col2im", "_upsample", "_rnn_layer", "_sdpa", "_layer_norm", "_gelu",
    "_mse_loss", "_cross_entropy", "_nll_loss", "_bce_with_logits", "_bce", "_zero_grads", "_gather_batch",
    "_gather_rows", "_empty", "_zeros", "_ones", "_full", "_arange", "_linspace", "_eye", "_rand", "_randn",
    "_randint", "_randperm", "_dropout_mask", "_scalar_tensor", "one_hot", "_backward", "_grad", "_attach_function",
    "_set_grad_enabled", "is_grad_enabled", "manual_seed", "initial_seed", "get_num_threads", "_promote_types",
    "size", "stride", "dim", "ndimension", "numel", "nelement", "element_size", "storage_offset",
    "is_contiguous", "is_floating_point", "__len__", "requires_grad_", "retain_grad", "backward", "detach_",
    "numpy", "item", "float", "double", "long", "bool", "int", "short", "char", "byte", "half", "bfloat16",
    "_to_dtype", "copy_", "fill_", "zero_", "__bool__", "__float__", "__int__", "__index__", "__getitem__",
    "__setitem__", "_register_hook", "_remove_hook", "_become_view", "__init__", "_capture_sgd", "_capture_adam",
    "_capture_zero_grads", "_capture_pause", "_capture_resume", "_capture_opaque", "_capture_begin", "_capture_end",
    "_capture_abort", "__repr__", "__str__", "name"}
# names whose use in the step's code means it reads an optimizer's or scheduler's state
_STATE_NAMES = {"param_groups", "state", "defaults", "get_last_lr", "last_epoch", "_last_lr", "base_lrs",
                "state_dict", "_step_count"}


def _recording():
    return getattr(_state, "rec", None)


def opaque(fn):
    """Marks a method (Optimizer.step, LRScheduler.step) that a replay calls again in Python
    instead of repeating the tensor calls it made (Note [Capture guards])."""
    @functools.wraps(fn)
    def step(self, *args, **kwargs):
        rec = getattr(_state, "rec", None)
        if rec is None or rec.paused:
            return fn(self, *args, **kwargs)
        return rec.opaque(fn, self, args, kwargs)
    step._ember_opaque = fn
    return step


def _is_module(obj):
    from ..nn.modules.module import Module
    return isinstance(obj, Module)


def _is_opaque_owner(obj):
    from ..optim.lr_scheduler import LRScheduler
    from ..optim.optimizer import Optimizer
    return isinstance(obj, (Optimizer, LRScheduler))


class _Guards:
    """The Python state a recording depended on, as (dict, keys, values) triples compared by identity
    (Note [Capture guards])."""

    def __init__(self):
        self.dicts = []      # (dict, ((key, value), ...)): the whole dict
        self.keys = []       # (dict, key, value): one entry (a global the step's code names)
        self.cells = []      # (closure cell, its content)
        self.seqs = []       # (list or tuple, its items)
        self.seen = set()    # ids of the objects already guarded
        self.keep = []       # those objects, alive while the guard is
        self.owners = []     # optimizers and schedulers met (their state guarded once code reads it)
        self.state = False
        self.attrs = []      # (an object's __dict__, its items then): narrowed to the names code used

    def attr_snapshot(self, d):
        """An object's (or a module's) attributes: `finalize` keeps the ones the step's code names."""
        if id(d) in self.seen:
            return
        self.seen.add(id(d))
        self.keep.append(d)
        self.attrs.append((d, dict(d)))

    def finalize(self, names, user_names, full):
        """Guard each object's attributes named by the code that ran (`names`; every attribute when
        `full`), and every attribute holding a dict (a module's parameters, buffers, submodules and
        hooks, read by ember's C++ too); the names the step's own code uses (`user_names`) must
        also stay absent where they were (an instance attribute would shadow the class's)."""
        for d, snap in self.attrs:
            if full:
                self.dicts.append((d, tuple(snap.items())))
                continue
            for k, v in snap.items():
                if type(v) is dict or k in names:
                    self.keys.append((d, k, v))
            for k in user_names:
                if k not in snap:
                    self.keys.append((d, k, _MISSING))
        self.attrs = []

    def read_state(self):
        """The step's code names an optimizer's or scheduler's state: guard theirs from now on."""
        if not self.state:
            self.state = True
            for o in self.owners:
                self._owner_state(o)

    def _owner_state(self, o):
        self.snapshot(o.__dict__)
        for g in getattr(o, "param_groups", ()):
            self.snapshot(g)

    def snapshot(self, d):
        if id(d) in self.seen:
            return
        self.seen.add(id(d))
        self.keep.append(d)
        self.dicts.append((d, tuple(d.items())))

    def value(self, v, depth=0):
        """Guard what a value leads to: a module tree, an object's attributes, a container's items."""
        if id(v) in self.seen or v is None or isinstance(v, (int, float, str, bytes, bool, _C.Tensor, type,
                                                                  type(sys), type(len), functools.partial)):
            return
        if isinstance(v, Captured) or getattr(v, "_ember_capture", None) is not None:
            return  # another compiled object: its own guards
        if isinstance(v, types.MethodType):
            self.value(v.__self__, depth)
            self.value(v.__func__, depth)
            return
        if isinstance(v, types.FunctionType):  # a function: its closure cells
            self.seen.add(id(v))
            self.keep.append(v)
            for c in v.__closure__ or ():
                self.cells.append((c, c.cell_contents if _cell_full(c) else _MISSING))
                if _cell_full(c):
                    self.value(c.cell_contents, depth + 1)
            return
        if _is_module(v):
            for m in v.modules():
                if id(m.__dict__) in self.seen:
                    continue
                self.attr_snapshot(m.__dict__)
                for x in m.__dict__.values():
                    if isinstance(x, dict):
                        self.snapshot(x)
            return
        if _is_opaque_owner(v):
            self.seen.add(id(v))
            self.keep.append(v)
            self.owners.append(v)
            if self.state:
                self._owner_state(v)
            opt = getattr(v, "optimizer", None)
            if opt is not None:
                self.value(opt, depth + 1)
            return
        if depth > 1:
            return
        if isinstance(v, dict):
            self.snapshot(v)
            for x in list(v.values())[:64]:
                self.value(x, depth + 1)
        elif isinstance(v, (list, tuple)):
            self.seen.add(id(v))
            self.keep.append(v)
            self.seqs.append((v, tuple(v)))
            for x in v[:64]:
                self.value(x, depth + 1)
        elif hasattr(v, "__dict__") and isinstance(getattr(v, "__dict__", None), dict):
            self.attr_snapshot(v.__dict__)
            for x in list(v.__dict__.values())[:64]:
                self.value(x, depth + 1)

    def changed(self):
        """What no longer holds, or None."""
        for d, items in self.dicts:
            if len(d) != len(items):
                new = [k for k in d if all(k != k2 for k2, _ in items)]
                return f"keys added or removed: {new[:3] or [k for k, _ in items if k not in d][:3]}"
            for k, v in items:
                if d.get(k, _MISSING) is not v:
                    return f"{k!r} changed"
        for d, k, v in self.keys:
            if d.get(k, _MISSING) is not v:
                return f"{k!r} changed"
        for c, v in self.cells:
            if (c.cell_contents if _cell_full(c) else _MISSING) is not v:
                return "a closure variable changed"
        for s, items in self.seqs:
            if len(s) != len(items) or any(a is not b for a, b in zip(s, items)):
                return "a guarded list changed"
        return None


def _cell_full(c):
    try:
        c.cell_contents
        return True
    except ValueError:
        return False


def _flatten(obj, tensors, depth=0):
    """A hashable description of a call's arguments (or a result), tensors replaced by their index
    in `tensors`; other objects kept by value when immutable, else by identity."""
    if isinstance(obj, _C.Tensor):
        tensors.append(obj)
        return ("T", type(obj))
    t = type(obj)
    if obj is None or t in (int, float, bool, str, bytes, complex) or isinstance(obj, _C.dtype):
        return (t, obj)
    if depth < 8:
        if t in (tuple, list):
            return (t, tuple(_flatten(x, tensors, depth + 1) for x in obj))
        if t is dict:
            return (t, tuple((k, _flatten(v, tensors, depth + 1)) for k, v in obj.items()))
    return ("id", id(obj))


def _spec(args, kwargs):
    """(the tensor arguments, a description of the rest); positional tensors only: the count."""
    if not kwargs:
        for a in args:
            if type(a) is not _Tensor:
                break
        else:
            return args, len(args)
    tensors = []
    return tensors, _flatten((args, kwargs), tensors)


def _unflatten(spec, tensors, it, reads):
    kind = spec[0]
    if kind == "T":
        return tensors[next(it)]
    if kind == "R":  # a value the step read last (Tensor.item()): read again from the replay's tensor
        return reads[spec[1]].item()
    if kind in (tuple, list):
        return kind(_unflatten(s, tensors, it, reads) for s in spec[1])
    if kind is dict:
        return {k: _unflatten(s, tensors, it, reads) for k, s in spec[1]}
    return spec[1]


def _mark_reads(spec, reads, other):
    """The result's description with each float that is a value read (Tensor.item()) marked as such;
    `other` collects the other Python values in it (which may have been computed from a read)."""
    kind = spec[0]
    if kind is float:
        for k, r in enumerate(reads):
            if spec[1] is r:
                return ("R", k)
    if kind in (tuple, list):
        return (kind, tuple(_mark_reads(s, reads, other) for s in spec[1]))
    if kind is dict:
        return (kind, tuple((k, _mark_reads(s, reads, other)) for k, s in spec[1]))
    if kind not in ("T", type(None)):
        other.append(spec[1])
    return spec


class Recording:
    """One recording in progress on this thread: the C++ recorder plus the Python side's checks.
    The Python state is guarded as it was when the code reading it was first called (the
    arguments and the compiled function's closure at the start); after the step, the same state
    must still be there, else the step changed what it reads and the recording is refused."""

    def __init__(self, fn, args, tensors):
        self.fn = fn
        self.calls = []
        self.codes = set()   # user code objects whose globals are guarded
        self.paused = 0
        self.why = None
        self.trust = {}      # code -> trusted (ember's own)
        self.seen_code = set()
        self.names = set()   # every name the code that ran uses (attribute reads among them)
        self.user_names = set()  # those of the step's own (untrusted) code, and its string constants
        self.full = False    # the code may read attributes by computed names
        self.g = _Guards()
        self.g.value(fn)
        for a in args:
            self.g.value(a)
        _C._capture_begin(tensors)

    def fail(self, why):
        if self.why is None:
            self.why = why

    def opaque(self, fn, obj, args, kwargs):
        for a in list(args) + list(kwargs.values()):
            if isinstance(a, _C.Tensor) or callable(a):
                self.fail(f"{type(obj).__name__}.{fn.__name__}() was given {type(a).__name__}")
        self.paused += 1
        _C._capture_pause()
        try:
            r = fn(obj, *args, **kwargs)
        finally:
            _C._capture_resume()
            self.paused -= 1
        if r is not None:
            self.fail(f"{type(obj).__name__}.{fn.__name__}() returned a value")
        call = functools.partial(fn, obj, *args, **kwargs)
        native = getattr(obj, "_capture", None)
        if native is None or not native(fn, args, kwargs, self.g, call):
            _C._capture_opaque(len(self.calls))
            self.calls.append(call)
        return r

    def _trusted(self, code):
        t = self.trust.get(code)
        if t is None:
            t = self.trust[code] = code.co_filename.startswith(_TRUSTED)
        return t

    def profile(self, frame, event, arg):
        if self.paused:
            return
        if event == "call":
            code = frame.f_code
            if code not in self.seen_code:
                self.seen_code.add(code)
                self.names.update(code.co_names)
            if not self._trusted(code) and code not in self.codes:
                self.codes.add(code)
                # attribute names as string constants (getattr(obj, "name")); reading __dict__ or
                # getattr with a computed name: every attribute is guarded
                self.user_names.update(code.co_names)
                self.user_names.update(c for c in code.co_consts if type(c) is str and c.isidentifier())
                if {"__dict__", "vars", "getattr", "setattr", "delattr"} & set(code.co_names):
                    self.full = True
                if set(code.co_names) & _STATE_NAMES:
                    self.g.read_state()
                glb = frame.f_globals
                for n in code.co_names:
                    v = glb.get(n, _MISSING)
                    if v is not _MISSING:
                        self.g.keys.append((glb, n, v))
                        self.g.value(v)
            if code.co_argcount and code.co_varnames[0] == "self":
                s = frame.f_locals.get("self")
                if s is not None and id(s) not in self.g.seen and _is_module(s):
                    self.g.value(s)
        elif event == "c_call":
            self._check_c_call(frame, arg)

    def _check_c_call(self, frame, f):
        mod = getattr(f, "__module__", None)
        owner = getattr(f, "__self__", None)
        if mod == "ember._C":
            if owner is None or isinstance(owner, _C.Tensor):
                return  # an op table function (recorded)
            if f.__name__ not in _C_OK:
                self.fail(f"ember._C.{f.__name__}() cannot be recorded")
            return
        if isinstance(owner, _C.Tensor):
            return  # a table method
        if self._trusted(frame.f_code):
            return
        if f in _PURE_BUILTINS or (mod in _PURE_MODULES and f not in (builtins.print, builtins.next, builtins.input,
                                                                      builtins.open, builtins.setattr,
                                                                      builtins.delattr, builtins.exec,
                                                                      builtins.eval, builtins.vars, builtins.globals,
                                                                      builtins.locals, builtins.__import__)):
            return
        if isinstance(owner, _PURE_METHOD_TYPES) or (mod, f.__name__) in _PURE_FUNCTIONS:
            return
        if f.__name__ == "__new__" and owner in (tuple, object, int, float, str, frozenset):
            return  # a named tuple (max(dim=...).values) or an object being made
        if (type(owner), f.__name__) in _PURE_METHODS:
            return
        name = f"{mod}.{f.__name__}" if mod else f"{type(owner).__name__}.{f.__name__}"
        self.fail(f"the step calls {name}(), which a replay cannot repeat")


class Entry:
    """A replayable recording: its program, the guards and how to rebuild the result."""

    def __init__(self, program, guards, spec, out_spec, calls, dtype):
        self.program, self.guards, self.spec, self.out_spec, self.calls = program, guards, spec, out_spec, calls
        self.dtype = dtype
        self.guard = _C._Guard(guards.dicts, guards.keys, [(c, c if v is _MISSING else v) for c, v in guards.cells],
                               guards.seqs, _MISSING)
        self.single = out_spec[0] == "T" and program.n_reads == 0

    def rebuild(self, outs):
        n = len(outs) - self.program.n_reads
        return _unflatten(self.out_spec, outs, iter(range(n)), outs[n:])


def _default_dtype():
    global _factories
    if _factories is None:
        from .. import _factories
    return _factories._default_dtype


_factories = None


class Captured:
    """The capture and replay behind a compiled function or module (Note [Capture])."""

    def __init__(self, fn, fullgraph=False):
        self.fn = fn
        self.fullgraph = fullgraph
        self.entries = []
        self.recordings = 0
        self.reasons = []       # why recordings were refused (latest last)
        self.replays = 0
        _all.add(self)

    def clear(self):
        self.entries, self.recordings, self.reasons, self.replays = [], 0, [], 0

    def __call__(self, *args, **kwargs):
        if getattr(_state, "rec", None) is not None or sys.getprofile() is not None:
            return self.fn(*args, **kwargs)  # inside another recording, or a profiler is running
        tensors, spec = _spec(args, kwargs)
        dtype = _default_dtype()
        for e in self.entries:
            if e.spec == spec and e.dtype is dtype:
                outs = e.program.replay(tensors, e.calls, e.guard)  # None: a guard does not hold
                if outs is not None:
                    self.replays += 1
                    return outs[0] if e.single else e.rebuild(outs)
        if self.recordings >= _limit():
            return self.fn(*args, **kwargs)
        return self._record(args, kwargs, tensors, spec)

    def _record(self, args, kwargs, tensors, spec):
        self.recordings += 1
        dtype = _default_dtype()
        rec = Recording(self.fn, list(args) + list(kwargs.values()), tensors)
        _state.rec = rec
        collect = gc.isenabled()
        gc.disable()  # no collection (and no gc callbacks or finalizers) in the middle of the recording
        sys.setprofile(rec.profile)
        ok = False
        try:
            out = self.fn(*args, **kwargs)
            ok = True
        finally:
            sys.setprofile(None)
            _state.rec = None
            if collect:
                gc.enable()
            if not ok:
                _C._capture_abort()
        out_tensors = []
        out_spec = _flatten(out, out_tensors)
        if _has_identity(out_spec):
            rec.fail(f"the step returns a Python object ({type(out).__name__}) a replay cannot rebuild")
        program, why_c, reads = _C._capture_end(out_tensors)
        why = rec.why or why_c or None
        if reads and why is None:
            other = []
            out_spec = _mark_reads(out_spec, reads, other)
            if other:
                why = ("the step returns Python values next to a value it read from a tensor "
                       f"({other[0]!r}): they may be computed from it")
        rec.g.finalize(rec.names | rec.user_names, rec.user_names, rec.full)
        if why is None:
            changed = rec.g.changed()
            if changed:
                why = f"the step changed Python state it reads ({changed})"
        if why is not None:
            self.reasons.append(why)
            if self.fullgraph:
                raise exc.Unsupported(f"ember.compile(fullgraph=True): {why}")
            return out
        if len(self.entries) >= _limit():
            self.entries.pop(0)
        self.entries.append(Entry(program, rec.g, spec, out_spec, rec.calls, dtype))
        return out


class ExplainOutput:
    """What torch._dynamo.explain(fn)(*args) returns, for ember's capture: one graph (the recorded
    program) when the call can be replayed, else none and the reason it cannot."""

    def __init__(self, program, reasons):
        self.graphs = [program] if program is not None else []
        self.graph_count = len(self.graphs)
        self.graph_break_count = len(reasons)
        self.break_reasons = [types.SimpleNamespace(reason=r) for r in reasons]
        self.ops_per_graph = [list(program.step_names)] if program is not None else []
        self.op_count = sum(len(o) for o in self.ops_per_graph)

    def __str__(self):
        out = (f"Graph Count: {self.graph_count}\nGraph Break Count: {self.graph_break_count}\n"
               f"Op Count: {self.op_count}\n")
        if self.break_reasons:
            out += "Break Reasons:\n" + "".join(f"  Break Reason 1:\n    Reason: {b.reason}\n"
                                                   for b in self.break_reasons)
        if self.ops_per_graph:
            out += "Ops per Graph:\n  Ops 1:\n" + "".join(f"    {o}\n" for o in self.ops_per_graph[0])
        return out


def explain(fn):
    """torch._dynamo.explain: explain(fn)(*args, **kwargs) runs fn once (eagerly, recording) and
    says whether ember can replay it, and if not, why."""
    def run(*args, **kwargs):
        c = Captured(fn)
        c(*args, **kwargs)
        program = c.entries[0].program if c.entries else None
        return ExplainOutput(program, c.reasons)
    return run


def _has_identity(spec):
    if spec[0] == "id":
        return True
    if spec[0] in (tuple, list):
        return any(_has_identity(s) for s in spec[1])
    if spec[0] is dict:
        return any(_has_identity(s) for _, s in spec[1])
    return False

