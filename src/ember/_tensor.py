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


class device:
    """ember runs on the CPU only; device('cpu') exists so torch code that names it runs."""

    def __init__(self, type="cpu", index=None):
        if isinstance(type, device):
            type = type.type
        type = str(type)
        if type.split(":")[0] != "cpu":
            raise RuntimeError(f"ember supports only the 'cpu' device, got {type!r}")
        self.type = "cpu"
        self.index = None

    def __repr__(self):
        return "device(type='cpu')"

    def __str__(self):
        return "cpu"

    def __eq__(self, other):
        return isinstance(other, (device, str)) and str(other).split(":")[0] == "cpu"

    def __hash__(self):
        return hash("cpu")


_CPU = device("cpu")


def _check_device(d):
    if d is not None:
        device(d)


def _tensor_repr(self, *, tensor_contents=None):
    return tensor_repr(self)


def _tolist(self):
    return self.detach().numpy().tolist()


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
    a = self.detach().numpy()
    return a if dtype is None else a.astype(dtype)


def _int_view(self):
    raise TypeError("ember has no int32 dtype; use .long()")


def _contains(self, item):
    return bool((self == item).sum().item() > 0)


def _norm(self, p="fro", dim=None, keepdim=False, dtype=None):
    """p-norm as a composite of differentiable ops (the gradient at an all-zero input is nan)."""
    if not self.dtype.is_floating_point:
        raise RuntimeError(f"linalg.vector_norm: Expected a floating point tensor as input. Got {self.dtype}")
    if p in ("fro", 2, 2.0):
        return (self * self).sum(dim, keepdim).sqrt()
    if p in (float("inf"), "inf"):
        a = self.abs()
        return a.max() if dim is None else a.max(dim, keepdim).values
    if p == 1:
        return self.abs().sum(dim, keepdim)
    return (self.abs() ** p).sum(dim, keepdim) ** (1.0 / p)


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
    "__contains__": _contains,
    "cpu": lambda self: self,
    "norm": _norm,
    "int": _int_view,
}.items():
    setattr(Tensor, _name, _fn)

Tensor.__hash__ = object.__hash__  # identity hash (tensors key optimizer state), at C speed
Tensor.device = property(lambda self: _CPU)
Tensor.is_cuda = property(lambda self: False)
Tensor.__array_priority__ = 1000  # numpy defers to Tensor's reflected operators
