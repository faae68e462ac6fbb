"""Tensor creation with torch's signatures (size as varargs or a sequence; dtype, device,
requires_grad keywords), over the raw factories of the C++ core."""
import numbers

import numpy as np

from . import _C
from ._tensor import Tensor, _check_device

float32 = _C.dtype.float32
float64 = _C.dtype.float64
int64 = _C.dtype.int64
bool_ = _C.dtype.bool

_NP_TO_DTYPE = {np.dtype(np.float32): float32, np.dtype(np.float64): float64,
                np.dtype(np.int64): int64, np.dtype(np.bool_): bool_}


def _size(size, name):
    if len(size) == 1 and not isinstance(size[0], numbers.Integral):
        size = tuple(size[0])
    for s in size:
        if not isinstance(s, numbers.Integral) or isinstance(s, bool):
            raise TypeError(f"{name}(): argument 'size' must be a sequence of ints, but got {type(s).__name__}")
    return [int(s) for s in size]


def _finish(t, requires_grad):
    if requires_grad:
        t.requires_grad_(True)
    return t


def _make(raw, name):
    def factory(*size, dtype=None, device=None, requires_grad=False, out=None, layout=None, pin_memory=False):
        _check_device(device)
        return _finish(raw(_size(size, name), dtype or float32), requires_grad)
    factory.__name__ = name
    return factory


zeros = _make(_C._zeros, "zeros")
ones = _make(_C._ones, "ones")
empty = _make(_C._empty, "empty")
rand = _make(_C._rand, "rand")
randn = _make(_C._randn, "randn")


def full(size, fill_value, *, dtype=None, device=None, requires_grad=False):
    _check_device(device)
    if dtype is None:
        dtype = bool_ if isinstance(fill_value, bool) else int64 if isinstance(fill_value, numbers.Integral) else float32
    return _finish(_C._full(_size((size,), "full"), fill_value, dtype), requires_grad)


def _like(raw, name):
    def factory(input, *, dtype=None, device=None, requires_grad=False, memory_format=None):
        _check_device(device)
        return _finish(raw(list(input.shape), dtype or input.dtype), requires_grad)
    factory.__name__ = name
    return factory


zeros_like = _like(_C._zeros, "zeros_like")
ones_like = _like(_C._ones, "ones_like")
empty_like = _like(_C._empty, "empty_like")
rand_like = _like(_C._rand, "rand_like")
randn_like = _like(_C._randn, "randn_like")


def full_like(input, fill_value, *, dtype=None, device=None, requires_grad=False):
    _check_device(device)
    return _finish(_C._full(list(input.shape), fill_value, dtype or input.dtype), requires_grad)


def arange(start, end=None, step=1, *, dtype=None, device=None, requires_grad=False):
    _check_device(device)
    if end is None:
        start, end = 0, start
    vals = [v.item() if isinstance(v, Tensor) else v for v in (start, end, step)]
    if dtype is None:
        dtype = int64 if all(isinstance(v, numbers.Integral) for v in vals) else float32
    return _finish(_C._arange(float(vals[0]), float(vals[1]), float(vals[2]), dtype), requires_grad)


def linspace(start, end, steps, *, dtype=None, device=None, requires_grad=False):
    _check_device(device)
    return _finish(_C._linspace(float(start), float(end), int(steps), dtype or float32), requires_grad)


def eye(n, m=None, *, dtype=None, device=None, requires_grad=False):
    _check_device(device)
    return _finish(_C._eye(int(n), -1 if m is None else int(m), dtype or float32), requires_grad)


def randint(low, high=None, size=None, *, dtype=None, device=None, requires_grad=False, generator=None):
    _check_device(device)
    if size is None:
        if high is None or isinstance(high, numbers.Integral):
            raise TypeError("randint() missing required argument 'size'")
        low, high, size = 0, low, high
    elif high is None:
        low, high = 0, low
    return _C._randint(int(low), int(high), _size((size,), "randint"), dtype or int64)


def randperm(n, *, dtype=None, device=None, requires_grad=False, generator=None):
    _check_device(device)
    return _C._randperm(int(n), dtype or int64)


def _infer_dtype(data):
    """torch.tensor's inference: bools -> bool, ints -> int64, floats -> float32; numpy keeps its dtype."""
    if isinstance(data, np.ndarray) or isinstance(data, np.generic):
        return None
    arr = np.asarray(data)
    if arr.dtype == np.bool_:
        return bool_
    if arr.dtype.kind in "iu":
        return int64
    return float32


def tensor(data, *, dtype=None, device=None, requires_grad=False, pin_memory=False):
    _check_device(device)
    if isinstance(data, Tensor):
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


def as_tensor(data, dtype=None, device=None):
    if isinstance(data, Tensor) and (dtype is None or data.dtype == dtype):
        return data
    if isinstance(data, np.ndarray) and dtype is None and data.dtype in _NP_TO_DTYPE and data.strides and min(data.strides) >= 0:
        return _C._from_numpy(data)
    return tensor(data, dtype=dtype, device=device)


def from_numpy(arr):
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(arr).__name__})")
    return _C._from_numpy(arr)


class _LegacyTensorMeta(type(Tensor)):
    pass


def _legacy_new(*args):
    """ember.Tensor(data) / ember.Tensor(2, 3): the legacy float32 constructor."""
    if len(args) == 0:
        return _C._empty([0], float32)
    if len(args) == 1 and isinstance(args[0], Tensor):
        return args[0]
    if all(isinstance(a, numbers.Integral) and not isinstance(a, bool) for a in args):
        return _C._empty([int(a) for a in args], float32)
    if len(args) == 1:
        return tensor(args[0], dtype=float32)
    raise TypeError(f"Tensor(): invalid arguments {args!r}")
