"""The torch environment surface, answered as a CPU-only torch 2.13 answers it, and install_as_torch().

What is here: the cuda / backends / accelerator / version modules, torch.__version__ (a
TorchVersion), deterministic-algorithm and matmul-precision switches, the legacy typed tensor
classes (FloatTensor, DoubleTensor, LongTensor, BoolTensor), Tensor.type(), Tensor.new_*(),
Tensor.cuda(), thread counts, Generator.

Running torch programs on ember
-------------------------------
The supported forms are

    python -m ember program.py [args]       # runs program.py as __main__ with ember as torch

and, inside a program or a test,

    import ember
    ember.install_as_torch()                # then: import torch, import torch.nn as nn, ...

install_as_torch() registers ember and every one of its submodules under torch's names in
sys.modules (torch.nn, torch.nn.functional, torch.optim.lr_scheduler, torch.utils.data,
torch.backends.cudnn, ...) and adds an import hook so that any other `torch.X` import resolves
to `ember.X` (or fails with "No module named 'torch.X'" when ember has no such module; the real
torch is never loaded). From then on dtypes print as torch.float32, sizes as torch.Size([...]),
and x.type() answers 'torch.FloatTensor', as torch prints them.

`import ember as torch` alone only binds a name: a later `import torch.nn` (or `from torch.optim
import ...`) goes to the import system, which loads the real torch if it is installed, or fails.
Use one of the two forms above.

Version: ember.__version__ (torch.__version__ under install_as_torch) is a TorchVersion of
"2.13.0+cpu", the torch release whose API and printing ember follows, so version checks such as
`if torch.__version__ >= "2.0":` take the branch they take on torch 2.13 (CPU build). ember's own
release is ember.version.ember.
"""
import importlib
import importlib.abc
import importlib.util
import os
import re
import sys
import types
import warnings
from collections.abc import Iterable

import numpy as np

from . import _C
from ._tensor import Size, _check_device

Tensor = _C.Tensor

EMBER_VERSION = "0.1.0"
TORCH_API_VERSION = "2.13.0+cpu"

# "ember" until install_as_torch(); then dtypes, Size, Tensor.type() and the legacy classes print as torch's
_NAMESPACE = "ember"

_NO_CUDA = "Torch not compiled with CUDA enabled"
_NO_ACCELERATOR = "Cannot access accelerator device when none is available."


_C.dtype.__repr__ = _C.dtype.__str__ = lambda self: _NAMESPACE + "." + self.name
Size.__repr__ = lambda self: _NAMESPACE + ".Size([" + ", ".join(str(s) for s in self) + "])"
Size.__str__ = Size.__repr__
for _name, _value in {"is_signed": lambda self: self.name != "bool" and not self.name.startswith("uint"),
                      "is_complex": lambda self: False}.items():
    if not hasattr(_C.dtype, _name):
        setattr(_C.dtype, _name, property(_value))


def _module(name, doc=None, **attrs):
    m = types.ModuleType(name, doc)
    m.__dict__.update(attrs)
    sys.modules[name] = m
    return m


# ---- version ----------------------------------------------------------------------------------

class InvalidVersion(ValueError):
    """A string that is not a PEP 440 version."""


_PEP440 = re.compile(r"""
    v?
    (?:(?P<epoch>[0-9]+)!)?
    (?P<release>[0-9]+(?:\.[0-9]+)*)
    (?P<pre>[-_\.]?(?P<pre_l>alpha|a|beta|b|preview|pre|c|rc)[-_\.]?(?P<pre_n>[0-9]+)?)?
    (?P<post>(?:-(?P<post_n1>[0-9]+))|(?:[-_\.]?(?P<post_l>post|rev|r)[-_\.]?(?P<post_n2>[0-9]+)?))?
    (?P<dev>[-_\.]?(?P<dev_l>dev)[-_\.]?(?P<dev_n>[0-9]+)?)?
    (?:\+(?P<local>[a-z0-9]+(?:[-_\.][a-z0-9]+)*))?
""", re.VERBOSE | re.IGNORECASE)
_PRE_LETTERS = {"alpha": "a", "a": "a", "beta": "b", "b": "b", "c": "rc", "pre": "rc", "preview": "rc", "rc": "rc"}


class _Infinity:
    def __lt__(self, other):
        return False

    def __gt__(self, other):
        return not isinstance(other, _Infinity)

    def __eq__(self, other):
        return isinstance(other, _Infinity)

    def __le__(self, other):
        return isinstance(other, _Infinity)

    def __ge__(self, other):
        return True

    __hash__ = object.__hash__


class _NegInfinity:
    def __lt__(self, other):
        return not isinstance(other, _NegInfinity)

    def __gt__(self, other):
        return False

    def __eq__(self, other):
        return isinstance(other, _NegInfinity)

    def __le__(self, other):
        return True

    def __ge__(self, other):
        return isinstance(other, _NegInfinity)

    __hash__ = object.__hash__


_INF, _NEG_INF = _Infinity(), _NegInfinity()


class Version:
    """A PEP 440 version ordered as packaging.version.Version orders it (the class torch's
    TorchVersion compares with)."""

    def __init__(self, text):
        m = _PEP440.fullmatch(str(text).strip())
        if m is None:
            raise InvalidVersion(f"Invalid version: {text!r}")
        release = tuple(int(x) for x in m.group("release").split("."))
        while len(release) > 1 and release[-1] == 0:
            release = release[:-1]
        pre = (_PRE_LETTERS[m.group("pre_l").lower()], int(m.group("pre_n") or 0)) if m.group("pre_l") else None
        post_n = m.group("post_n1") or m.group("post_n2")
        post = ("post", int(post_n or 0)) if m.group("post") else None
        dev = ("dev", int(m.group("dev_n") or 0)) if m.group("dev_l") else None
        local = m.group("local")
        if pre is None and post is None and dev is not None:
            pre_key = _NEG_INF
        else:
            pre_key = pre if pre is not None else _INF
        local_key = _NEG_INF if local is None else tuple(
            (int(p), "") if p.isdigit() else (_NEG_INF, p.lower()) for p in re.split(r"[-_.]", local))
        self._key = (int(m.group("epoch") or 0), release, pre_key, post if post is not None else _NEG_INF,
                     dev if dev is not None else _INF, local_key)

    def __lt__(self, other):
        return self._key < other._key

    def __le__(self, other):
        return self._key <= other._key

    def __eq__(self, other):
        return isinstance(other, Version) and self._key == other._key

    def __ge__(self, other):
        return self._key >= other._key

    def __gt__(self, other):
        return self._key > other._key

    def __hash__(self):
        return hash(self._key)


class TorchVersion(str):
    """torch.torch_version.TorchVersion: a str that compares as a version with strings ("2.0"),
    tuples ((2, 0)) and Version objects; an unparsable operand falls back to str comparison."""

    __slots__ = ()

    def _convert_to_version(self, inp):
        if isinstance(inp, Version):
            return inp
        if isinstance(inp, str):
            return Version(inp)
        if isinstance(inp, Iterable):
            return Version(".".join(str(item) for item in inp))
        raise InvalidVersion(inp)

    def _cmp_wrapper(self, cmp, method):
        try:
            return getattr(Version(self), method)(self._convert_to_version(cmp))
        except BaseException as e:
            if not isinstance(e, InvalidVersion):
                raise
            return getattr(super(), method)(cmp)

    def __gt__(self, other):
        return self._cmp_wrapper(other, "__gt__")

    def __lt__(self, other):
        return self._cmp_wrapper(other, "__lt__")

    def __eq__(self, other):
        return self._cmp_wrapper(other, "__eq__")

    def __ge__(self, other):
        return self._cmp_wrapper(other, "__ge__")

    def __le__(self, other):
        return self._cmp_wrapper(other, "__le__")

    __hash__ = str.__hash__


__version__ = TorchVersion(TORCH_API_VERSION)
version = _module("ember.version", "torch.version as a CPU-only torch 2.13 reports it; ember's own release is `ember`.",
                  __version__=str(__version__), ember=EMBER_VERSION, cuda=None, hip=None, rocm=None, xpu=None,
                  debug=False, git_version=None)


# ---- cuda / accelerator / backends ----------------------------------------------------------

def _raise_no_cuda(*args, **kwargs):
    raise AssertionError(_NO_CUDA)


def _raise_no_accelerator(*args, **kwargs):
    raise RuntimeError(_NO_ACCELERATOR)


def _none(*args, **kwargs):
    return None


def _zero(*args, **kwargs):
    return 0


def _false(*args, **kwargs):
    return False


cuda = _module(
    "ember.cuda", "torch.cuda on a CPU-only build: queries answer 'no GPU', device operations raise.",
    is_available=_false, device_count=_zero, is_initialized=_false, is_bf16_supported=_false,
    manual_seed=_none, manual_seed_all=_none, seed=_none, seed_all=_none, empty_cache=_none,
    synchronize=_raise_no_cuda, current_device=_raise_no_cuda, get_device_name=_raise_no_cuda,
    get_device_properties=_raise_no_cuda, get_device_capability=_raise_no_cuda, set_device=_raise_no_cuda,
    get_rng_state=_raise_no_cuda, initial_seed=_raise_no_cuda, init=_raise_no_cuda, mem_get_info=_raise_no_cuda,
    current_stream=_raise_no_cuda, ipc_collect=_raise_no_cuda, get_rng_state_all=lambda: [],
    memory_allocated=_zero, max_memory_allocated=_zero, memory_reserved=_zero, max_memory_reserved=_zero,
    reset_peak_memory_stats=_none)

accelerator = _module(
    "ember.accelerator", "torch.accelerator with no accelerator present.",
    is_available=_false, device_count=_zero, current_accelerator=lambda check_available=False: None,
    current_device_index=_raise_no_accelerator, current_device_idx=_raise_no_accelerator,
    set_device_index=_raise_no_accelerator, set_device_idx=_raise_no_accelerator,
    synchronize=_raise_no_accelerator)

backends = _module("ember.backends", "torch.backends flags and queries as a CPU-only torch answers them.")
backends.mps = _module("ember.backends.mps", is_available=_false, is_built=_false)
backends.cudnn = _module("ember.backends.cudnn", enabled=True, benchmark=False, deterministic=False, allow_tf32=True,
                         benchmark_limit=10, is_available=_false, version=_none, is_acceptable=_false)
backends.mkldnn = _module("ember.backends.mkldnn", is_available=_false)  # ember uses neither oneDNN
backends.openmp = _module("ember.backends.openmp", is_available=_false)  # nor OpenMP (it has its own pool)
xpu = _module("ember.xpu", is_available=_false, device_count=_zero)
backends.cuda = _module("ember.backends.cuda", is_built=_false,
                        matmul=types.SimpleNamespace(allow_tf32=False, allow_fp16_reduced_precision_reduction=True,
                                                     allow_bf16_reduced_precision_reduction=True))


# ---- global switches --------------------------------------------------------------------------

_deterministic = {"mode": False, "warn_only": False}
_matmul_precision = ["highest"]


def use_deterministic_algorithms(mode, *, warn_only=False):
    """Recorded and reported (ember's kernels are deterministic for a given thread count anyway)."""
    if not isinstance(mode, bool):
        raise TypeError(f"_set_deterministic_algorithms(): argument 'mode' (position 1) must be bool, not "
                        f"{type(mode).__name__}")
    if not isinstance(warn_only, bool):
        raise TypeError(f"_set_deterministic_algorithms(): argument 'warn_only' must be bool, not "
                        f"{type(warn_only).__name__}")
    _deterministic["mode"] = mode
    _deterministic["warn_only"] = warn_only


def are_deterministic_algorithms_enabled():
    return _deterministic["mode"]


def is_deterministic_algorithms_warn_only_enabled():
    return _deterministic["warn_only"]


def set_float32_matmul_precision(precision):
    """Recorded only: ember's float32 products are always computed in float32."""
    if precision not in ("highest", "high", "medium"):
        warnings.warn(f"{precision} is not one of 'highest', 'high', or 'medium'; the current"
                      "setFloat32MatmulPrecision call has no effect.", UserWarning, stacklevel=2)
        return
    _matmul_precision[0] = precision


def get_float32_matmul_precision():
    return _matmul_precision[0]


def set_num_threads(n):
    _C.set_num_threads(int(n))


def get_num_threads():
    return _C.get_num_threads()


def set_flush_denormal(mode):
    """Flush subnormal floats to zero (as results and as inputs) in this thread's arithmetic, and in
    the work ember's worker threads run for it (Note [Flush denormal]); True where the CPU has the
    mode (x86-64, AArch64). Long training runs whose momentum decays into subnormals slow down
    several fold without it."""
    if type(mode) is not bool:
        raise RuntimeError(f"flush_denormal expects a bool, but got {type(mode).__name__}")
    return _C._set_flush_denormal(mode)


_interop_threads = []


def set_num_interop_threads(n):
    """Recorded only (ember has no inter-op pool); as torch, it may be set once, before it is read."""
    n = int(n)
    if n <= 0:
        raise RuntimeError("Expected positive number of threads")
    if _interop_threads:
        raise RuntimeError("Error: cannot set number of interop threads after parallel work has started or "
                           "set_num_interop_threads called")
    _interop_threads.append(n)


def get_num_interop_threads():
    """The value set by set_num_interop_threads, else ember's thread count."""
    if not _interop_threads:
        _interop_threads.append(_C.get_num_threads())
    return _interop_threads[0]


def get_default_device():
    """Always the CPU: ember runs on the CPU only."""
    from ._tensor import device
    return device("cpu")


def typename(obj):
    """torch.typename: 'torch.FloatTensor' for a tensor (ember.* before install_as_torch), else the
    object's qualified type name."""
    if isinstance(obj, _C.Tensor):
        return obj.type()
    module = getattr(obj, "__module__", "") or ""
    qual = getattr(obj, "__qualname__", None) or type(obj).__qualname__
    if not hasattr(obj, "__qualname__"):
        module = type(obj).__module__
    return qual if module in ("", "builtins") else f"{module}.{qual}"


class Generator(_C.Generator):
    """torch.Generator: ember's xoshiro256** stream (not torch's numbers for the same seed), accepted
    as generator= by every sampling op, the samplers and random_split; manual_seed / seed /
    initial_seed / get_state / set_state as torch's."""

    def __init__(self, device="cpu"):
        from ._tensor import _as_device
        if _as_device(device).type == "cuda":
            raise RuntimeError(_CUDA_LIBRARY.replace("Cannot initialize CUDA", "Cannot get CUDA generator"))
        _check_device(device)
        super().__init__()


# ---- legacy typed tensor classes --------------------------------------------------------------

_LEGACY = {}  # dtype -> class


class tensortype(type):
    """Metaclass of FloatTensor & co.: calling one builds a tensor of its dtype (the legacy
    constructor), and isinstance(x, FloatTensor) is true for float32 tensors, as in torch."""

    def __instancecheck__(cls, obj):
        return not cls.is_cuda and isinstance(obj, Tensor) and obj.dtype == cls.dtype

    def __subclasscheck__(cls, sub):
        return sub is cls

    def __call__(cls, *args, device=None):
        if cls.is_cuda:
            raise TypeError(f"type {_NAMESPACE}.cuda.{cls.__name__} not available. Torch not compiled with CUDA "
                            "enabled.")
        from ._factories import _legacy_new
        return _legacy_new(*args, dtype=cls.dtype, device=device)

    def __repr__(cls):
        return f"<class '{_NAMESPACE}.{'cuda.' if cls.is_cuda else ''}{cls.__name__}'>"


tensortype.__module__ = "ember"


def _legacy_class(name, dtype, is_cuda=False):
    cls = tensortype(name, (), {"dtype": dtype, "is_cuda": is_cuda, "is_sparse": False,
                                "__module__": "ember.cuda" if is_cuda else "ember"})
    if not is_cuda:
        _LEGACY[dtype] = cls
    return cls


FloatTensor = _legacy_class("FloatTensor", _C.dtype.float32)
DoubleTensor = _legacy_class("DoubleTensor", _C.dtype.float64)
LongTensor = _legacy_class("LongTensor", _C.dtype.int64)
BoolTensor = _legacy_class("BoolTensor", _C.dtype.bool)
IntTensor = _legacy_class("IntTensor", _C.dtype.int32)
ShortTensor = _legacy_class("ShortTensor", _C.dtype.int16)
CharTensor = _legacy_class("CharTensor", _C.dtype.int8)
ByteTensor = _legacy_class("ByteTensor", _C.dtype.uint8)
HalfTensor = _legacy_class("HalfTensor", _C.dtype.float16)
BFloat16Tensor = _legacy_class("BFloat16Tensor", _C.dtype.bfloat16)
for _cls in (FloatTensor, DoubleTensor, LongTensor, BoolTensor, IntTensor, ShortTensor, CharTensor, ByteTensor,
             HalfTensor, BFloat16Tensor):
    setattr(cuda, _cls.__name__, _legacy_class(_cls.__name__, _cls.dtype, is_cuda=True))

_CUDA_LIBRARY = (
    "Cannot initialize CUDA without ATen_cuda library. PyTorch splits its backend into two shared libraries: a CPU "
    "library and a CUDA library; this error has occurred because you are trying to use some CUDA functionality, but "
    "the CUDA library has not been loaded by the dynamic linker for some reason.  The CUDA library MUST be loaded, "
    "EVEN IF you don't directly use any symbols from the CUDA library! One common culprit is a lack of "
    "-Wl,--no-as-needed in your link arguments; many dynamic linkers will delete dynamic library dependencies if you "
    "don't depend on any of their symbols.  You can check if this has occurred by using ldd on your binary to see if "
    "there is a dependency on *_cuda.so library.")


def _type_name(dtype):
    cls = _LEGACY.get(dtype)
    name = cls.__name__ if cls is not None else dtype.name.capitalize() + "Tensor"
    return _NAMESPACE + "." + name


def _parse_type(t):
    """A dtype for Tensor.type()'s argument: a dtype, a legacy class, or its name as a string."""
    if isinstance(t, _C.dtype):
        return t
    if isinstance(t, tensortype):
        if t.is_cuda:
            raise RuntimeError(_CUDA_LIBRARY)
        return t.dtype
    if isinstance(t, str):
        for ns in ("torch.", "ember."):
            if t.startswith(ns + "cuda."):
                raise RuntimeError(_CUDA_LIBRARY)
            if t.startswith(ns):
                for dtype, cls in _LEGACY.items():
                    if t[len(ns):] == cls.__name__:
                        return dtype
        raise ValueError(f"invalid type: '{t}'")
    raise TypeError("dtype must be a type, str, or dtype object")


_warned_default_tensor_type = []


def set_default_tensor_type(t):
    """Deprecated in torch (it warns the same way, once): sets the default dtype from a legacy class or its name."""
    if not _warned_default_tensor_type:
        _warned_default_tensor_type.append(True)
        warnings.warn("torch.set_default_tensor_type() is deprecated as of PyTorch 2.1, please use "
                      "torch.set_default_dtype() and torch.set_default_device() as alternatives.", UserWarning,
                      stacklevel=2)
    from ._factories import set_default_dtype
    if isinstance(t, str):  # torch imports the dotted name
        import ember
        obj = ember
        for part in t.split(".")[1:]:
            obj = getattr(obj, part)
        t = obj
    dtype = _parse_type(t)
    if not dtype.is_floating_point:
        raise TypeError("only floating-point types are supported as the default type")
    set_default_dtype(dtype)


# ---- Tensor methods: type(), new_*(), cuda() --------------------------------------------------

def _tensor_type(self, dtype=None, non_blocking=False, **kwargs):
    """x.type() -> 'torch.FloatTensor' ('ember.FloatTensor' before install_as_torch);
    x.type(torch.float64 / 'torch.DoubleTensor' / torch.DoubleTensor) casts (x itself when it already has that type)."""
    if dtype is None:
        return _type_name(self.dtype)
    d = _parse_type(dtype)
    if d == self.dtype:
        return self
    return self.to(d)


def _sizes(args, name):
    from ._factories import _size
    if not args:
        raise TypeError(f'{name}() missing 1 required positional arguments: "size"')
    for a in args if len(args) > 1 or isinstance(args[0], (int, np.integer)) else ():
        if not isinstance(a, (int, np.integer)) or isinstance(a, bool):
            raise TypeError(f"{name}(): argument 'size' (position 1) must be tuple of ints, not {type(a).__name__}")
    if len(args) == 1 and isinstance(args[0], float):
        raise TypeError(f"{name}(): argument 'size' (position 1) must be tuple of ints, not float")
    size = _size(args, name)
    for s in size:
        if s < 0:
            raise RuntimeError(f"Trying to create tensor with negative dimension {s}: {size}")
    return size


def _new_factory(raw, name):
    def method(self, *size, dtype=None, device=None, requires_grad=False, layout=None, pin_memory=False):
        _check_device(device, "factory")
        t = raw(_sizes(size, name), self.dtype if dtype is None else dtype)
        return t.requires_grad_(True) if requires_grad else t
    method.__name__ = name
    return method


def _new_full(self, size, fill_value, *, dtype=None, device=None, requires_grad=False, layout=None,
              pin_memory=False):
    _check_device(device, "factory")
    if not isinstance(size, (tuple, list, Size)):
        raise TypeError(f"new_full(): argument 'size' (position 1) must be tuple of ints, not {type(size).__name__}")
    t = _C._full(_sizes(tuple(size), "new_full"), fill_value, self.dtype if dtype is None else dtype)
    return t.requires_grad_(True) if requires_grad else t


def _new_tensor(self, data, dtype=None, device=None, requires_grad=False, layout=None, pin_memory=False):
    """A copy of data as a tensor of this tensor's dtype (or dtype=), a leaf like torch.tensor(data)."""
    _check_device(device)
    from ._factories import tensor
    if isinstance(data, Tensor):
        warnings.warn("To copy construct from a tensor, it is recommended to use sourceTensor.detach().clone() or "
                      "sourceTensor.detach().clone().requires_grad_(True), rather than "
                      "tensor.new_tensor(sourceTensor).", UserWarning, stacklevel=2)
        t = data.detach()._to_dtype(self.dtype if dtype is None else dtype, True)
    else:
        t = tensor(data, dtype=self.dtype if dtype is None else dtype)
    return t.requires_grad_(True) if requires_grad else t


def _new(self, *args, device=None):
    """x.new(...): the legacy constructor in x's dtype."""
    from ._factories import _legacy_new
    return _legacy_new(*args, dtype=self.dtype, device=device)


def _tensor_cuda(self, device=None, non_blocking=False, memory_format=None):
    if isinstance(device, int) and not isinstance(device, bool):
        raise RuntimeError(_NO_ACCELERATOR)
    raise AssertionError(_NO_CUDA)


for _name, _fn in {
    "type": _tensor_type,
    "new_zeros": _new_factory(_C._zeros, "new_zeros"),
    "new_ones": _new_factory(_C._ones, "new_ones"),
    "new_empty": _new_factory(_C._empty, "new_empty"),
    "new_full": _new_full,
    "new_tensor": _new_tensor,
    "new": _new,
    "cuda": _tensor_cuda,
}.items():
    setattr(Tensor, _name, _fn)
for _name, _value in {"get_device": lambda self: -1}.items():
    if not hasattr(Tensor, _name):
        setattr(Tensor, _name, _value)
for _name, _value in {"is_cpu": True, "is_mps": False, "is_meta": False, "is_sparse": False,
                      "is_quantized": False}.items():
    if not hasattr(Tensor, _name):
        setattr(Tensor, _name, property(lambda self, _v=_value: _v))


# ---- install_as_torch -------------------------------------------------------------------------

class _TorchAliasFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Resolves `import torch.X` to ember.X for modules not registered up front."""

    def find_spec(self, fullname, path=None, target=None):
        if not fullname.startswith("torch."):
            return None
        ember_name = "ember" + fullname[len("torch"):]
        try:
            module = importlib.import_module(ember_name)
        except ModuleNotFoundError as e:
            if e.name is not None and (ember_name == e.name or ember_name.startswith(e.name + ".")):
                return None  # no such ember module: the import fails as "No module named 'torch.X'"
            raise
        spec = importlib.util.spec_from_loader(fullname, self)
        spec.loader_state = module
        return spec

    def create_module(self, spec):
        module = spec.loader_state
        spec.loader_state = (module, module.__spec__)
        return module

    def exec_module(self, module):
        # the import system has just pointed module.__spec__ at the torch.X spec; ember.X keeps its own
        module.__spec__ = module.__spec__.loader_state[1]


_FINDER = _TorchAliasFinder()


def _ember_modules():
    import ember
    for name in ("testing", "autograd.variable"):
        try:
            importlib.import_module("ember." + name)
        except ImportError:
            pass
    mods = {name: m for name, m in list(sys.modules.items())
            if m is not None and (name == "ember" or name.startswith("ember.")) and name != "ember.__main__"}
    return ember, mods


def install_as_torch():
    """Register ember as torch: `import torch`, `import torch.nn as nn`, `from torch.optim.lr_scheduler
    import StepLR`, `import torch.backends.cudnn as cudnn` ... then give ember's modules, and dtypes,
    sizes and type names print as torch's. Returns the ember module. Idempotent."""
    global _NAMESPACE
    ember, mods = _ember_modules()
    current = sys.modules.get("torch")
    if current is not None and current is not ember and not getattr(current, "__ember_shim__", False):
        warnings.warn("install_as_torch(): the real torch was already imported; its modules are replaced in "
                      "sys.modules, but objects taken from it before this call stay torch's", RuntimeWarning,
                      stacklevel=2)
        for name in [n for n in sys.modules if n == "torch" or n.startswith("torch.")]:
            del sys.modules[name]
    for name, m in mods.items():
        sys.modules["torch" + name[len("ember"):]] = m
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)
    _shadow_torch_on_path()
    _NAMESPACE = "torch"
    for cls, module in _TORCH_MODULE_NAMES():
        cls.__module__ = module
    return ember


def _shadow_torch_on_path():
    """Put ember's stand-in `torch` package (_as_torch/torch) on sys.path ahead of any real torch:
    processes started by multiprocessing's spawn or forkserver get the parent's sys.path, and
    import torch as ember through it (DataLoader workers, a user's own Pool)."""
    shim = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_as_torch")
    if shim in sys.path:
        return
    for i, entry in enumerate(sys.path):
        if os.path.isfile(os.path.join(entry or os.curdir, "torch", "__init__.py")):
            sys.path.insert(i, shim)
            return
    sys.path.append(shim)


def _TORCH_MODULE_NAMES():
    """Classes whose repr names their module, renamed as torch's under install_as_torch()."""
    from ._tensor import device
    from .autograd.variable import Variable, VariableMeta
    return [(device, "torch"), (Size, "torch"), (tensortype, "torch"), (FloatTensor, "torch"), (DoubleTensor, "torch"),
            (LongTensor, "torch"), (BoolTensor, "torch"), (Variable, "torch.autograd.variable"),
            (VariableMeta, "torch.autograd.variable")] + [
        (getattr(cuda, c.__name__), "torch.cuda") for c in (FloatTensor, DoubleTensor, LongTensor, BoolTensor)]


# ---- finfo / iinfo: machine limits of a dtype ---------------------------------------------------

def _g6(v):
    return f"{v:.6g}"


class finfo:  # noqa: N801 (torch's name)
    """Machine limits of a floating dtype (the default dtype when none is given), as torch.finfo."""

    _BF16 = dict(bits=16, eps=0.0078125, max=3.3895313892515355e38, tiny=1.1754943508222875e-38, resolution=0.01)

    def __init__(self, type=None):  # noqa: A002 (torch's parameter name)
        from ._factories import get_default_dtype
        d = get_default_dtype() if type is None else type
        if not isinstance(d, _C.dtype) or not d.is_floating_point:
            raise TypeError("torch.finfo() requires a floating point input type. Use torch.iinfo to handle "
                            "'torch.finfo'")
        name = str(d).split(".")[-1]
        if name == "bfloat16":
            v = self._BF16
            self.bits, self.eps, self.max, self.tiny, self.resolution = (v["bits"], v["eps"], v["max"], v["tiny"],
                                                                          v["resolution"])
        else:
            f = np.finfo(name)
            self.bits, self.eps, self.max, self.tiny = int(f.bits), float(f.eps), float(f.max), float(f.tiny)
            self.resolution = 10.0 ** -int(f.precision)
        self.min = -self.max
        self.smallest_normal = self.tiny
        self.dtype = name

    def __eq__(self, other):
        return isinstance(other, finfo) and self.dtype == other.dtype

    def __hash__(self):
        return hash(("finfo", self.dtype))

    def __repr__(self):
        return (f"finfo(resolution={_g6(self.resolution)}, min={_g6(self.min)}, max={_g6(self.max)}, "
                f"eps={_g6(self.eps)}, smallest_normal={_g6(self.smallest_normal)}, tiny={_g6(self.tiny)}, "
                f"dtype={self.dtype})")


class iinfo:  # noqa: N801 (torch's name)
    """Machine limits of an integer dtype, as torch.iinfo."""

    def __init__(self, type):  # noqa: A002 (torch's parameter name)
        if not isinstance(type, _C.dtype) or type.is_floating_point:
            raise TypeError("torch.iinfo() requires an integer input type. Use torch.finfo to handle 'torch.iinfo'")
        name = str(type).split(".")[-1]
        if name == "bool":
            raise TypeError(f"{type} is not supported by torch.iinfo")
        i = np.iinfo(name)
        self.bits, self.min, self.max, self.dtype = int(i.bits), int(i.min), int(i.max), name

    def __eq__(self, other):
        return isinstance(other, iinfo) and self.dtype == other.dtype

    def __hash__(self):
        return hash(("iinfo", self.dtype))

    def __repr__(self):
        return f"iinfo(min={_g6(self.min)}, max={_g6(self.max)}, dtype={self.dtype})"
