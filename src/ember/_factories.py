"""Tensor creation with torch's signatures (size as varargs or a sequence; dtype, device,
requires_grad keywords), over the raw factories of the C++ core.

Floating results without an explicit dtype take the default dtype (get_default_dtype /
set_default_dtype, float32 unless changed), as torch's factories do; device= accepts the CPU and
raises what a CPU-only torch raises for any other device."""
import functools
import numbers
import warnings
from collections.abc import Callable

import numpy as np

from . import _C
from ._tensor import Tensor, _check_device

float32 = _C.dtype.float32
float64 = _C.dtype.float64
int64 = _C.dtype.int64
bool_ = _C.dtype.bool

_NP_TO_DTYPE = {np.dtype(np.float32): float32, np.dtype(np.float64): float64, np.dtype(np.float16): _C.dtype.float16,
                np.dtype(np.int64): int64, np.dtype(np.int32): _C.dtype.int32, np.dtype(np.int16): _C.dtype.int16,
                np.dtype(np.int8): _C.dtype.int8, np.dtype(np.uint8): _C.dtype.uint8, np.dtype(np.bool_): bool_}


_default_dtype = float32


def get_default_dtype():
    """The dtype floating factories (tensor([1.0]), zeros, randn, ...) use when none is given."""
    return _default_dtype


def set_default_dtype(d):
    """torch.set_default_dtype: a floating dtype (float32, float64, float16 or bfloat16)."""
    global _default_dtype
    if not isinstance(d, _C.dtype):
        raise TypeError("invalid dtype object: only floating-point types are supported as the default type")
    if not d.is_floating_point:
        raise TypeError("only floating-point types are supported as the default type")
    _default_dtype = d


def _float_dtype(dtype):
    return _default_dtype if dtype is None else dtype


def _size(size, name):
    if len(size) == 1 and not isinstance(size[0], numbers.Integral):
        size = tuple(size[0])
    for s in size:
        if not isinstance(s, numbers.Integral) or isinstance(s, bool):
            raise TypeError(f"{name}(): argument 'size' must be a sequence of ints, but got {type(s).__name__}")
    return [int(s) for s in size]


def _check_tensor(x, fn, arg="input", pos=1):
    if not isinstance(x, Tensor):
        raise TypeError(f"{fn}(): argument '{arg}' (position {pos}) must be Tensor, not {type(x).__name__}")


def _finish(t, requires_grad):
    if requires_grad:
        t.requires_grad_(True)
    return t


def _make(raw, name, sampling=False) -> Callable[..., Tensor]:
    # torch's forms: zeros(2, 3), zeros((2, 3)), zeros(size=(2, 3)); samplers also take generator=
    def factory(*args, size=None, generator=None, dtype=None, device=None, requires_grad=False, out=None, layout=None,
                pin_memory=False, memory_format=None) -> Tensor:
        _check_device(device, "factory")
        if size is not None:
            if args:
                raise TypeError(f"{name}() got multiple values for argument 'size'")
            args = (size,)
        extra = {"generator": generator} if sampling else {}
        if generator is not None and not sampling:
            raise TypeError(f"{name}() got an unexpected keyword argument 'generator'")
        t = _finish(raw(_size(args, name), _float_dtype(dtype), **extra), requires_grad)
        if out is not None:
            out.resize_(t.shape).copy_(t)
            return out
        return t
    factory.__name__ = name
    return factory


zeros = _make(_C._zeros, "zeros")
ones = _make(_C._ones, "ones")
empty = _make(_C._empty, "empty")
rand = _make(_C._rand, "rand", sampling=True)
randn = _make(_C._randn, "randn", sampling=True)


def full(size, fill_value, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    _check_device(device, "factory")
    if dtype is None:
        dtype = (bool_ if isinstance(fill_value, bool) else int64 if isinstance(fill_value, numbers.Integral)
                 else _default_dtype)
    return _finish(_C._full(_size((size,), "full"), fill_value, dtype), requires_grad)


def overridable(fn):
    """A Python-level op that hands a call whose first argument is a foreign object defining
    __torch_function__ to it (Note [torch function]; torch's handle_torch_function)."""
    @functools.wraps(fn)
    def op(*args, **kwargs):
        if args and not isinstance(args[0], Tensor) and hasattr(type(args[0]), "__torch_function__"):
            return type(args[0]).__torch_function__(op, (type(args[0]),), args, kwargs)
        return fn(*args, **kwargs)
    return op


def _like(raw, name) -> Callable[..., Tensor]:
    def factory(input, *, dtype=None, device=None, requires_grad=False, memory_format=None) -> Tensor:
        _check_tensor(input, name)
        _check_device(device, "factory", "aten::empty_strided")
        return _finish(raw(list(input.shape), input.dtype if dtype is None else dtype), requires_grad)
    factory.__name__ = factory.__qualname__ = name
    return overridable(factory)


zeros_like = _like(_C._zeros, "zeros_like")
ones_like = _like(_C._ones, "ones_like")
empty_like = _like(_C._empty, "empty_like")
rand_like = _like(_C._rand, "rand_like")
randn_like = _like(_C._randn, "randn_like")


@overridable
def full_like(input, fill_value, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    _check_tensor(input, "full_like")
    _check_device(device, "factory", "aten::empty_strided")
    return _finish(_C._full(list(input.shape), fill_value, input.dtype if dtype is None else dtype), requires_grad)


def arange(start, end=None, step=1, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    _check_device(device, "factory")
    if end is None:
        start, end = 0, start
    vals = [v.item() if isinstance(v, Tensor) else v for v in (start, end, step)]
    if dtype is None:
        dtype = int64 if all(isinstance(v, numbers.Integral) for v in vals) else _default_dtype
    return _finish(_C._arange(float(vals[0]), float(vals[1]), float(vals[2]), dtype), requires_grad)


def linspace(start, end, steps, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    _check_device(device, "factory")
    return _finish(_C._linspace(float(start), float(end), int(steps), _float_dtype(dtype)), requires_grad)


def eye(n, m=None, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    _check_device(device, "factory")
    return _finish(_C._eye(int(n), -1 if m is None else int(m), _float_dtype(dtype)), requires_grad)


def randint(low, high=None, size=None, *, dtype=None, device=None, requires_grad=False, generator=None) -> Tensor:
    _check_device(device, "factory")
    if size is None:
        if high is None or isinstance(high, numbers.Integral):
            raise TypeError("randint() missing required argument 'size'")
        low, high, size = 0, low, high
    elif high is None:
        low, high = 0, low
    return _C._randint(int(low), int(high), _size((size,), "randint"), int64 if dtype is None else dtype,
                       generator=generator)


def randperm(n, *, dtype=None, device=None, requires_grad=False, generator=None) -> Tensor:
    _check_device(device, "factory")
    return _C._randperm(int(n), int64 if dtype is None else dtype, generator=generator)


def _infer_dtype(data):
    """torch.tensor's inference: bools -> bool, ints -> int64, floats -> the default dtype; numpy keeps its dtype."""
    if isinstance(data, np.ndarray) or isinstance(data, np.generic):
        return None
    arr = np.asarray(data)
    if arr.dtype == np.bool_:
        return bool_
    if arr.dtype.kind in "iu":
        return int64
    return _default_dtype


def tensor(data, *, dtype=None, device=None, requires_grad=False, pin_memory=False) -> Tensor:
    _check_device(device)
    if isinstance(data, Tensor):
        warnings.warn("To copy construct from a tensor, it is recommended to use sourceTensor.detach().clone() or "
                      "sourceTensor.detach().clone().requires_grad_(True), rather than torch.tensor(sourceTensor).",
                      UserWarning, stacklevel=2)
        t = data.detach().clone() if dtype is None else data.detach()._to_dtype(dtype, True)
        return _finish(t, requires_grad)
    if dtype is None:
        dtype = _infer_dtype(data)
    try:
        arr = np.asarray(data)
    except (ValueError, TypeError) as e:
        raise ValueError(f"could not convert {type(data).__name__} to a tensor: {e}") from None
    if arr.dtype == object:
        raise TypeError(f"could not infer a tensor dtype from {type(data).__name__} with ragged or non-numeric elements")
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"can't convert data of numpy dtype {arr.dtype} to a tensor")
    return _finish(_C._from_numpy_copy(arr, dtype), requires_grad)


def as_tensor(data, dtype=None, device=None) -> Tensor:
    _check_device(device)
    if isinstance(data, Tensor):
        return data if dtype is None or data.dtype == dtype else data._to_dtype(dtype, False)
    if isinstance(data, np.ndarray) and dtype is None and data.dtype in _NP_TO_DTYPE and data.strides and min(data.strides) >= 0:
        return _C._from_numpy(data)
    return tensor(data, dtype=dtype, device=device)


def from_numpy(arr) -> Tensor:
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(arr).__name__})")
    return _C._from_numpy(arr)


class _LegacyTensorMeta(type(Tensor)):
    pass


def _legacy_new(*args, dtype=None, device=None):
    """ember.Tensor(data) / ember.Tensor(2, 3): the legacy constructor, in the default dtype; the typed
    ones (FloatTensor, LongTensor ...) pass their dtype. Sizes give uninitialised memory, as torch."""
    if device is not None:
        d = _check_device_type(device)
        if d != "cpu":
            raise RuntimeError(f"legacy constructor expects device type: cpu but device type: {d} was passed")
    if dtype is None:
        dtype = _default_dtype
    if len(args) == 0:
        return _C._empty([0], dtype)
    if len(args) == 1 and isinstance(args[0], Tensor):
        if args[0].dtype != dtype:
            raise TypeError(f"expected {_options(dtype)} (got {_options(args[0].dtype)})")
        return args[0]
    from ._tensor import Size
    if len(args) == 1 and isinstance(args[0], Size):
        args = tuple(args[0])
    if all(isinstance(a, numbers.Integral) and not isinstance(a, bool) for a in args) and (
            len(args) != 1 or not isinstance(args[0], np.ndarray)):
        for a in args:
            if a < 0:
                raise RuntimeError(f"Trying to create tensor with negative dimension {a}: {[int(x) for x in args]}")
        return _C._empty([int(a) for a in args], dtype)
    if len(args) == 1:
        data = args[0]
        if isinstance(data, str):
            raise TypeError("new(): invalid data type 'str'")
        if isinstance(data, (numbers.Number, np.generic)):
            raise TypeError(f"new(): data must be a sequence (got {type(data).__name__})")
        return tensor(data, dtype=dtype)
    for i, a in enumerate(args):
        if not isinstance(a, numbers.Integral):
            raise TypeError(f"new(): argument 'size' failed to unpack the object at pos {i + 1} with error "
                            f"\"type must be tuple of ints,but got {type(a).__name__}\"")
    raise TypeError(f"new(): invalid arguments {args!r}")


_CPP_TYPE_NAMES = {"float32": "float", "float64": "double", "int64": "long int", "bool": "bool", "int32": "int",
                   "float16": "c10::Half", "bfloat16": "c10::BFloat16", "uint8": "unsigned char", "int16": "short int",
                   "int8": "signed char"}


def _options(dtype):
    return (f"TensorOptions(dtype={_CPP_TYPE_NAMES.get(dtype.name, dtype.name)}, device=cpu, layout=Strided, "
            "requires_grad=false (default), pinned_memory=false (default), memory_format=(nullopt))")


def _check_device_type(d):
    from ._tensor import _as_device
    return _as_device(d).type
