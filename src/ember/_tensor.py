"""Python-side pieces of ember.Tensor (printing, conversions, iteration, backward) attached to the
C++ class, plus ember.Size and the named tuples torch returns. Nothing here sits on a hot path."""
import collections

import numpy as np

from . import _C
from ._tensor_str import tensor_repr

Tensor = _C.Tensor


class Size(tuple):
    """torch.Size: a tuple of ints with numel()."""

    def numel(self):
        n = 1
        for s in self:
            n *= s
        return n

    def __repr__(self):
        return "ember.Size([" + ", ".join(str(s) for s in self) + "])"

    def __getitem__(self, i):
        r = tuple.__getitem__(self, i)
        return Size(r) if isinstance(i, slice) else r


_C._set_size_type(Size)
_C.dtype.__repr__ = _C.dtype.__str__ = lambda self: "ember." + self.name


class _return_types:
    max = collections.namedtuple("max", ["values", "indices"])
    min = collections.namedtuple("min", ["values", "indices"])


# torch's device types, in c10::DeviceType order (the position is the type id torch hashes with)
_DEVICE_TYPES = ("cpu", "cuda", "mkldnn", "opengl", "opencl", "ideep", "hip", "fpga", "maia", "xla", "vulkan",
                 "metal", "xpu", "mps", "meta", "hpu", "ve", "lazy", "ipu", "mtia", "privateuseone")
_DEVICE_TYPE_LIST = ("cpu, cuda, ipu, xpu, mkldnn, opengl, opencl, ideep, hip, ve, fpga, maia, xla, lazy, vulkan, mps, "
                     "meta, hpu, mtia, privateuseone")
import builtins as _builtins  # noqa: E402 (device() has a parameter named type)
import re as _re  # noqa: E402

_DEVICE_STRING = _re.compile(r"([a-zA-Z_]+)(?::([1-9][0-9]*|0))?")
_NO_ACCELERATOR = "Cannot access accelerator device when none is available."
_MISSING = object()


class device:
    """torch.device: a (type, index) pair, constructed and compared as torch's is.

    Every torch device type can be named (device('cuda:0'), device('mps')), as on a CPU-only torch;
    ember computes on the CPU only, so moving a tensor to any other device raises what CPU-only
    torch raises (see _check_device)."""

    __slots__ = ("_type", "_index")

    def __init__(self, type=_MISSING, index=None):
        if isinstance(type, device):
            if index is not None:
                raise TypeError("device() received an invalid combination of arguments - got (device, int)")
            self._type, self._index = type._type, type._index
            return
        if isinstance(type, int) and not isinstance(type, bool) and index is None:
            # device(0): torch reads a bare index as the current accelerator's, and there is none
            if type < 0:
                raise RuntimeError("Device index must not be negative")
            raise RuntimeError(_NO_ACCELERATOR)
        if not isinstance(type, str):
            if type is _MISSING:
                raise TypeError("device() received an invalid combination of arguments - got (), but expected one "
                                "of:\n * (torch.device device)\n * (str type, int index = -1)\n")
            got = _builtins.type(type).__name__
            raise TypeError(f"device() received an invalid combination of arguments - got ({got}), but expected one "
                            f"of:\n * (torch.device device)\n      didn't match because some of the arguments have "
                            f"invalid types: (!{got}!)\n * (str type, int index = -1)\n")
        if index is not None and (not isinstance(index, int) or isinstance(index, bool)):
            raise TypeError("device(): argument 'index' (position 2) must be int, not "
                            f"{_builtins.type(index).__name__}")
        if not type:
            raise RuntimeError("Device string must not be empty")
        m = _DEVICE_STRING.fullmatch(type)  # c10's parser: ([a-zA-Z_]+)(?::([1-9]\d*|0))?
        if m is None:
            raise RuntimeError(f"Invalid device string: '{type}'")
        name, idx = m.group(1), m.group(2)
        if name not in _DEVICE_TYPES:
            raise RuntimeError(f"Expected one of {_DEVICE_TYPE_LIST} device type at start of device string: {type}")
        if idx is not None and index is not None:
            raise RuntimeError(f"type (string) must not include an index because index was passed explicitly: {type}")
        if idx is not None:
            index = int(idx)
        if index is not None and index < 0:
            raise RuntimeError("Device index must not be negative")
        self._type, self._index = name, index

    @property
    def type(self):
        return self._type

    @property
    def index(self):
        return self._index

    def __repr__(self):
        if self._index is None:
            return f"device(type='{self._type}')"
        return f"device(type='{self._type}', index={self._index})"

    def __str__(self):
        return self._type if self._index is None else f"{self._type}:{self._index}"

    def __eq__(self, other):
        if not isinstance(other, device):
            return NotImplemented
        return self._type == other._type and self._index == other._index

    def __hash__(self):
        return (_DEVICE_TYPES.index(self._type) << 16) | ((-1 if self._index is None else self._index) & 0xFF)

    def __reduce__(self):
        return (device, (self._type,) if self._index is None else (self._type, self._index))

    def __enter__(self):
        _check_device(self, "factory")
        return self

    def __exit__(self, *exc):
        return None


device.__module__ = "ember"
_CPU = device("cpu")

# What a CPU-only torch raises for a tensor moved to (kind "to": .to(), tensor(data, device=))
# or allocated on (kind "factory": zeros(..., device=)) a device it was not built with.
_BACKEND_NAMES = {"mps": "MPS", "vulkan": "Vulkan", "opengl": "OpenGL", "opencl": "OpenCL", "ipu": "IPU", "xla": "XLA",
                  "hip": "HIP", "ve": "VE", "fpga": "FPGA", "maia": "MAIA", "lazy": "Lazy", "mkldnn": "MkldnnCPU",
                  "ideep": "IDEEP", "metal": "Metal", "hpu": "HPU"}


def _as_device(d):
    if isinstance(d, device):
        return d
    if isinstance(d, int) and not isinstance(d, bool):
        if d < 0:
            raise RuntimeError("Device index must not be negative")
        raise RuntimeError(_NO_ACCELERATOR)
    return device(d)


def _check_device(d, kind="to", op="aten::empty.memory_format"):
    """Accept None and the CPU (any index); raise torch's CPU-build error for every other device."""
    if d is None:
        return
    d = _as_device(d)
    t = d.type
    if t == "cpu":
        return
    if t == "cuda":
        raise AssertionError("Torch not compiled with CUDA enabled")
    if t == "xpu":
        raise AssertionError("Torch not compiled with XPU enabled")
    if t == "mtia":
        raise AssertionError("Torch not compiled with MTIA enabled")
    if t == "meta":
        raise NotImplementedError("ember does not support the 'meta' device: its tensors always hold data on the CPU")
    if kind == "factory":
        raise NotImplementedError(
            f"Could not run '{op}' with arguments from the '{_BACKEND_NAMES.get(t, t.upper())}' backend. This could "
            "be because the operator doesn't exist for this backend, or was omitted during the selective/custom "
            "build process (if using custom build).")
    raise RuntimeError(f"PyTorch is not linked with support for {t} devices")


def _tensor_repr(self, *, tensor_contents=None):
    return tensor_repr(self)


def _tolist(self):
    t = self.detach()
    return (t.float() if t.dtype == _C.dtype.bfloat16 else t).numpy().tolist()


def _to(self, *args, **kwargs):
    dtype = kwargs.pop("dtype", None)
    copy = kwargs.pop("copy", False)
    _check_device(kwargs.pop("device", None))
    kwargs.pop("non_blocking", None)
    if kwargs:
        raise TypeError(f"to() got unexpected keyword arguments {sorted(kwargs)}")
    for a in args:
        if isinstance(a, _C.dtype):
            dtype = a
        elif isinstance(a, Tensor):
            dtype = a.dtype
        elif isinstance(a, (str, device)):
            _check_device(a)
        elif a is not None:
            raise TypeError(f"to() received an invalid combination of arguments: {a!r}")
    if dtype is None:
        return self.clone() if copy else self
    return self._to_dtype(dtype, copy)


def _type_as(self, other):
    return self._to_dtype(other.dtype, False)


def _iter(self):
    if self.dim() == 0:
        raise TypeError("iteration over a 0-d tensor")
    return (self[i] for i in range(self.shape[0]))


def _format(self, spec):
    if self.dim() == 0:
        return format(self.item(), spec)
    return format(repr(self), spec)


def _array(self, dtype=None, copy=None):
    """np.asarray(t) / np.array(t): t.numpy() as torch does, so a tensor that requires grad raises
    torch's RuntimeError ("Can't call numpy() on Tensor that requires grad...") instead of converting."""
    a = self.numpy()
    if dtype is not None and np.dtype(dtype) != a.dtype:
        if copy is False:
            raise ValueError("Unable to avoid copy while creating an array as requested "
                             f"(dtype {a.dtype} -> {np.dtype(dtype)})")
        return a.astype(dtype)
    return a.copy() if copy else a


def _array_wrap(self, array, context=None, return_scalar=False):
    """numpy's result of a ufunc on a tensor (np.exp(t), and t * ndarray, which numpy computes when
    ember's operator declines the ndarray) comes back as a tensor, as torch's __array_wrap__ does."""
    from ._factories import from_numpy
    array = np.asarray(array)
    kind = array.dtype.kind
    if kind == "f" and array.dtype not in (np.float16, np.float32, np.float64):
        array = array.astype(np.float64)
    elif kind in "iu" and array.dtype not in (np.int64, np.int32, np.int16, np.int8, np.uint8):
        array = array.astype(np.int64)
    elif kind not in "biuf":
        return array
    if not array.flags.writeable or any(s < 0 for s in array.strides):
        array = array.copy()
    return from_numpy(array)


class RemovableHandle:
    """What register_hook returns: remove() unregisters the hook (once; later calls do nothing)."""

    def __init__(self, tensor, hook_id):
        self._tensor, self.id = tensor, hook_id

    def remove(self):
        if self._tensor is not None:
            _C.Tensor._remove_hook(self._tensor, self.id)
            self._tensor = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def _register_hook(self, hook):
    """Registers hook(grad) -> Tensor or None, called with the gradient of this tensor each time it
    is computed; a returned tensor replaces the gradient (for later hooks, .grad and the graph)."""
    if not callable(hook):
        raise TypeError(f"hook must be callable, got {type(hook).__name__}")
    return RemovableHandle(self, _C.Tensor._register_hook(self, hook))


def _contains(self, item):
    return bool((self == item).sum().item() > 0)


def _numel(self):
    return _C.Tensor.numel(self)


for _name, _fn in {
    "__repr__": _tensor_repr,
    "__str__": _tensor_repr,
    "tolist": _tolist,
    "to": _to,
    "type_as": _type_as,
    "__iter__": _iter,
    "__format__": _format,
    "__array__": _array,
    "__array_wrap__": _array_wrap,
    "__contains__": _contains,
    "register_hook": _register_hook,
    "cpu": lambda self: self,
}.items():
    setattr(Tensor, _name, _fn)

def _share_memory_(self):
    """Move this tensor's storage into shared memory, in place (Note [Shared memory]); processes
    forked afterwards, or sent the tensor through multiprocessing, share its values. Returns self."""
    _C._share_memory(self)
    return self


Tensor.share_memory_ = _share_memory_
Tensor.is_shared = lambda self: _C._is_shared(self)
Tensor.__hash__ = object.__hash__  # identity hash (tensors key optimizer state), at C speed
Tensor.device = property(lambda self: _CPU)
Tensor.is_cuda = property(lambda self: False)
Tensor.__array_priority__ = 1000  # numpy defers to Tensor's reflected operators


# ---- grad_fn objects typed by the real op's name, as torch's: type(y.grad_fn).__name__ == "AddmmBackward0"
class _GradFn:
    """Base of the per-op grad_fn classes (one subclass per backward node name, made on first use).
    Wraps the C++ node: name(), next_functions, variable (AccumulateGrad), identity by node."""

    __slots__ = ("_node",)

    def name(self):
        return self._node.name()

    @property
    def next_functions(self):
        layout = self._node._torch_layout() if hasattr(self._node, "_torch_layout") else ""
        if layout:
            return _torch_linear_next(self._node, layout)
        return tuple((_wrap_node(fn), nr) for fn, nr in self._node.next_functions)

    @property
    def variable(self):
        return self._node.variable

    def __eq__(self, other):
        return isinstance(other, _GradFn) and other._node is self._node

    def __hash__(self):
        return id(self._node)

    def __repr__(self):
        return f"<{self._node.name()} object at {hex(id(self._node))}>"


_GRAD_FN_TYPES = {}


class _TorchViewNode:
    """A node of torch's graph that an ember fused node stands for (nn.Linear's transpose of the
    weight, say): it has torch's name and edges, and is not itself run by ember's engine."""

    __slots__ = ("_name", "next_functions")

    def __init__(self, name, next_functions):
        self._name, self.next_functions = name, next_functions

    def name(self):
        return self._name


def _torch_linear_next(node, layout):
    """next_functions of ember's fused linear node as torch builds them for nn.Linear:
    [View|UnsafeView](Addmm(b, x, T(W)) | Mm(x, T(W))), under a Relu when ReLU is fused."""
    (x, xn), (w, wn), (b, bn) = node.next_functions
    _, dims, bias, *relu = layout.split(":")
    x_edge = (x, xn) if x is None or dims == "2d" else (_TorchViewNode("ViewBackward0", ((x, xn),)), 0)
    t_w = (None if w is None else _TorchViewNode("TBackward0", ((w, wn),)), 0)
    core = (_TorchViewNode("AddmmBackward0", ((b, bn), x_edge, t_w)) if bias == "bias"
            else _TorchViewNode("MmBackward0", (x_edge, t_w)))
    top = core if dims == "2d" else _TorchViewNode("ViewBackward0" if bias == "bias" else "UnsafeViewBackward0",
                                                   ((core, 0),))
    edges = ((top, 0),) if relu else top.next_functions  # the ember node is `top`, or the Relu above it
    return tuple((_wrap_node(fn), nr) for fn, nr in edges)


def _wrap_node(node):
    if node is None:
        return None
    name = node.name()
    cls = _GRAD_FN_TYPES.get(name)
    if cls is None:
        cls = _GRAD_FN_TYPES[name] = type(name, (_GradFn,), {"__slots__": (), "__module__": "ember.autograd.graph"})
    obj = object.__new__(cls)
    obj._node = node
    return obj


_raw_grad_fn = Tensor.grad_fn
Tensor.grad_fn = property(lambda self: _wrap_node(_raw_grad_fn.__get__(self)),
                          doc="The node that computed this tensor (None for leaves), typed by the op's name.")
