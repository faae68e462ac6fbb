"""ember.save / ember.load: pickle protocol 4 behind a magic header, loaded by an unpickler that
only resolves an allowlist of globals (ember's tensor rebuilders and OrderedDict), so loading a
file never runs code from it. Tensors and Parameters also pickle normally (multiprocessing)."""
import collections
import io
import os
import pickle

import numpy as np

from . import _C

_MAGIC = b"EMBER-SAVE-1\n"
_DTYPES = {"float32": _C.dtype.float32, "float64": _C.dtype.float64, "int64": _C.dtype.int64, "bool": _C.dtype.bool}
_NP = {"float32": np.float32, "float64": np.float64, "int64": np.int64, "bool": np.bool_}


def _rebuild_tensor(raw, dtype, shape, requires_grad):
    if dtype not in _DTYPES or not isinstance(raw, bytes) or not isinstance(shape, tuple):
        raise pickle.UnpicklingError("corrupt tensor record")
    if any(not isinstance(s, int) or s < 0 for s in shape):
        raise pickle.UnpicklingError(f"corrupt tensor shape {shape!r}")
    arr = np.frombuffer(raw, dtype=_NP[dtype])
    n = 1
    for s in shape:
        n *= s
    if arr.size != n:
        raise pickle.UnpicklingError(f"tensor data holds {arr.size} elements, shape {list(shape)} needs {n}")
    t = _C._from_numpy_copy(arr.reshape(shape), None)
    if requires_grad:
        t.requires_grad_(True)
    return t


def _rebuild_parameter(raw, dtype, shape, requires_grad):
    from .nn.parameter import Parameter
    return Parameter(_rebuild_tensor(raw, dtype, shape, False), bool(requires_grad))


def _tensor_args(t):
    arr = np.ascontiguousarray(t.detach().numpy())
    return (arr.tobytes(), str(t.dtype).split(".")[-1], tuple(t.shape), bool(t.requires_grad))


def _reduce_tensor(self, proto):
    return (_rebuild_tensor, _tensor_args(self))


def _reduce_parameter(self, proto):
    return (_rebuild_parameter, _tensor_args(self))


_ALLOWED = {
    ("ember.serialization", "_rebuild_tensor"): _rebuild_tensor,
    ("ember.serialization", "_rebuild_parameter"): _rebuild_parameter,
    ("collections", "OrderedDict"): collections.OrderedDict,
}


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        fn = _ALLOWED.get((module, name))
        if fn is None:
            raise pickle.UnpicklingError(
                f"ember.load refused to load the global {module}.{name}: only tensors, parameters and plain "
                "containers are allowed (pass weights_only=False only for files you trust)")
        return fn


def save(obj, f, pickle_module=None, pickle_protocol=4, **kwargs):
    data = _MAGIC + pickle.dumps(obj, protocol=pickle_protocol)
    if isinstance(f, (str, os.PathLike)):
        with open(f, "wb") as fh:
            fh.write(data)
    else:
        f.write(data)


def load(f, map_location=None, pickle_module=None, *, weights_only=True, mmap=None, **kwargs):
    if isinstance(f, (str, os.PathLike)):
        with open(f, "rb") as fh:
            data = fh.read()
    else:
        data = f.read()
    if not data.startswith(_MAGIC):
        raise RuntimeError("ember.load: not a file written by ember.save (missing header)")
    body = io.BytesIO(data[len(_MAGIC):])
    try:
        if weights_only:
            return _SafeUnpickler(body).load()
        return pickle.load(body)
    except pickle.UnpicklingError as e:
        raise pickle.UnpicklingError(f"ember.load: {e}") from None
    except (EOFError, ValueError, TypeError, IndexError, KeyError, AttributeError, MemoryError, OverflowError,
            RecursionError, UnicodeDecodeError) as e:
        raise RuntimeError(f"ember.load: the file is truncated or corrupted ({type(e).__name__}: {e})") from None


_C.Tensor.__reduce_ex__ = _reduce_tensor
