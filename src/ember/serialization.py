"""ember.save / ember.load: torch's zip checkpoint format both ways (_torch_zip.py), and ember's
own older format (pickle protocol 4 behind a magic header) still read and written on request.
Both are loaded by an unpickler that only resolves an allowlist of globals (tensor rebuilders,
dtypes, sizes and plain containers), so loading a file never runs code from it. Tensors and
Parameters also pickle normally (multiprocessing)."""
import collections
import io
import os
import pickle
import struct
import tempfile
import zipfile

import numpy as np

from . import _C, _torch_zip
from ._storage import _NP  # numpy's type of each dtype's bytes

_MAGIC = b"EMBER-SAVE-1\n"
_DTYPES = {name: getattr(_C.dtype, name) for name in ("float32", "float64", "int64", "bool", "int32", "int16", "int8",
                                                        "uint8", "float16", "bfloat16")}



def _rebuild_tensor(raw, dtype, shape, requires_grad):
    if dtype not in _DTYPES or not isinstance(raw, bytes) or not isinstance(shape, tuple):
        raise pickle.UnpicklingError("corrupt tensor record")
    if any(not isinstance(s, int) or s < 0 for s in shape):
        raise pickle.UnpicklingError(f"corrupt tensor shape {shape!r}")
    if dtype == "bool" and np.frombuffer(raw, np.uint8).max(initial=0) > 1:
        # a C++ bool holding 2 is UB: t == True is False, sum() counts 2, UBSan aborts
        raise pickle.UnpicklingError("corrupt bool tensor record (bytes other than 0 and 1)")
    arr = np.frombuffer(raw, dtype=_NP[dtype])
    n = 1
    for s in shape:
        n *= s
    if arr.size != n:
        raise pickle.UnpicklingError(f"tensor data holds {arr.size} elements, shape {list(shape)} needs {n}")
    t = _C._from_numpy_copy(arr.reshape(shape), None)
    if dtype == "bfloat16":
        t = t.view(_C.dtype.bfloat16)
    if requires_grad:
        t.requires_grad_(True)
    return t


def _rebuild_parameter(raw, dtype, shape, requires_grad):
    from .nn.parameter import Parameter
    return Parameter(_rebuild_tensor(raw, dtype, shape, False), bool(requires_grad))


def _tensor_args(t):
    d = t.detach()
    arr = np.ascontiguousarray((d.view(_C.dtype.int16) if d.dtype == _C.dtype.bfloat16 else d).numpy())
    return (arr.tobytes(), str(t.dtype).split(".")[-1], tuple(t.shape), bool(t.requires_grad))


def _reduce_tensor(self, proto):
    return (_rebuild_tensor, _tensor_args(self))


def _reduce_parameter(self, proto):
    return (_rebuild_parameter, _tensor_args(self))


def _encode(s, encoding="latin1"):  # protocol <= 2 writes bytes as _codecs.encode(str, "latin1")
    if type(s) is not str or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("corrupt bytes record")
    return s.encode("latin-1")


def _plain(kind):  # set/frozenset/bytearray from their items only: bytearray(2**34) would allocate
    def make(items=()):
        if type(items) not in (list, tuple, bytes, bytearray):
            raise pickle.UnpicklingError(f"corrupt {kind.__name__} record")
        return kind(items)
    return make


def _complex(re=0.0, im=0.0):
    if type(re) not in (int, float) or type(im) not in (int, float):
        raise pickle.UnpicklingError("corrupt complex record")
    return complex(re, im)


def _empty_bytes(*args):  # protocol <= 2 writes b"" as bytes()
    if args:
        raise pickle.UnpicklingError("corrupt bytes record")
    return b""


_ALLOWED = {
    ("ember.serialization", "_rebuild_tensor"): _rebuild_tensor,
    ("ember.serialization", "_rebuild_parameter"): _rebuild_parameter,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("_codecs", "encode"): _encode,
}
for _mod in ("builtins", "__builtin__"):  # protocol <= 2 (fix_imports) writes the Python 2 name
    _ALLOWED.update({(_mod, "set"): _plain(set), (_mod, "frozenset"): _plain(frozenset),
                     (_mod, "bytearray"): _plain(bytearray), (_mod, "complex"): _complex,
                     (_mod, "bytes"): _empty_bytes})


# torch.serialization.add_safe_globals: what a user trusts on top of the allowlist, (module, name) -> object
_SAFE = {}


def add_safe_globals(safe_globals):
    """Allow these globals (classes or functions, or (object, "module.name") pairs) in
    weights_only loading, as torch.serialization.add_safe_globals: a checkpoint holding, say, an
    argparse.Namespace then loads."""
    for g in safe_globals:
        if isinstance(g, tuple):
            obj, full = g
            mod, _, name = full.rpartition(".")
        else:
            obj, mod, name = g, g.__module__, g.__qualname__
        _SAFE[(mod, name)] = obj


def get_safe_globals():
    return list(_SAFE.values())


def clear_safe_globals():
    _SAFE.clear()


class safe_globals:
    """torch.serialization.safe_globals: add_safe_globals for the duration of a `with` block."""

    def __init__(self, safe_globals):
        self.globals = safe_globals

    def __enter__(self):
        self.saved = dict(_SAFE)
        add_safe_globals(self.globals)

    def __exit__(self, *exc):
        _SAFE.clear()
        _SAFE.update(self.saved)


class _SafeUnpickler(pickle._Unpickler):
    """The pure-Python unpickler, on purpose: its memo is a dict and it reads counted data with
    file.read(n), so a lying length or memo index costs nothing. The C unpickler allocates (and
    zeroes) 16*n bytes for LONG_BINPUT n -- a 23-byte file takes 256 MB, 2**28 takes 4 GB -- and
    allocates the declared size of BINBYTES8/BYTEARRAY8 before reading. Tensor data is one
    BINBYTES per tensor, so large checkpoints load as fast; opcode-heavy files are ~5x slower."""
    dispatch = dict(pickle._Unpickler.dispatch)

    def find_class(self, module, name):
        fn = _ALLOWED.get((module, name))
        if fn is None:
            fn = _SAFE.get((module, name))
        if fn is None:
            raise pickle.UnpicklingError(
                f"refused to load the global {module}.{name}: only tensors, parameters and plain "
                f"containers are allowed. If you trust this class or function, allow it with "
                f"ember.serialization.add_safe_globals([{name}]) or the safe_globals([...]) context manager "
                f"(torch's names); pass weights_only=False only for files you trust")
        return fn

    def load_ext(self):  # copyreg._extension_cache hands out objects without find_class
        raise pickle.UnpicklingError("extension codes (EXT1/EXT2/EXT4) are not supported")
    for _op in (pickle.EXT1, pickle.EXT2, pickle.EXT4):
        dispatch[_op[0]] = load_ext
    del _op

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("persistent ids are not supported")

    def load_build(self):  # state only for OrderedDict (state_dict._metadata) and allowed classes, like torch
        t = type(self.stack[-2])
        if t is not collections.OrderedDict and not any(t is c for c in _SAFE.values()):
            raise pickle.UnpicklingError(f"refused to set the state of a {t.__name__}")
        pickle._Unpickler.load_build(self)
    dispatch[pickle.BUILD[0]] = load_build

    def load_bytearray8(self):  # pickle._Unpickler allocates bytearray(declared length) first
        n, = struct.unpack("<Q", self.read(8))
        data = self.read(n)
        if len(data) != n:
            raise pickle.UnpicklingError("the file is truncated")
        self.append(bytearray(data))
    dispatch[pickle.BYTEARRAY8[0]] = load_bytearray8


def save(obj, f, pickle_module=None, pickle_protocol=2, _use_new_zipfile_serialization=True,
         _disable_byteorder_record=False):
    """torch.save: torch's zip checkpoint format (Note [torch checkpoint format] in _torch_zip.py),
    which torch.load reads; `_use_new_zipfile_serialization=False` writes ember's own older format
    (a header and one pickle). A path is written atomically: to a temporary file in the same
    directory, flushed to disk, then renamed over the target, so a crash never leaves a partial
    checkpoint where the previous one was."""
    def write(fh):
        if _use_new_zipfile_serialization:
            _torch_zip.write(obj, fh, _torch_zip._archive_name(f))
        else:
            fh.write(_MAGIC + pickle.dumps(obj, protocol=pickle_protocol if pickle_protocol else 4))
    if isinstance(f, (str, os.PathLike)):
        path = os.fspath(f)
        d = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=d)
        try:
            with os.fdopen(fd, "wb") as fh:
                write(fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
    else:
        write(f)


_ZIP = b"PK\x03\x04"


def load(f, map_location=None, pickle_module=None, *, weights_only=True, mmap=None, **kwargs):
    """torch.load for files written by torch.save (torch's zip format) or by ember.save (either
    format). weights_only=True (the default, as torch 2.6+) resolves only tensors, parameters,
    dtypes, sizes and plain containers: nothing in the file is executed. mmap=True maps the
    tensors' bytes from the file (a path to a torch-format file; writes stay in memory)."""
    path = os.fspath(f) if isinstance(f, (str, os.PathLike)) else None
    if path is not None:
        fh = open(path, "rb")
    else:
        fh = f
    try:
        head = fh.read(len(_MAGIC))
        if head.startswith(_ZIP):
            if path is None:
                fh = io.BytesIO(head + fh.read())
            try:
                return _torch_zip.read(fh, path, map_location, weights_only, bool(mmap and path is not None),
                                       _SafeUnpickler, _ALLOWED)
            except pickle.UnpicklingError as e:
                raise pickle.UnpicklingError(f"ember.load: {e}") from None
            except (EOFError, ValueError, TypeError, IndexError, KeyError, AttributeError, MemoryError, OverflowError,
                    RecursionError, UnicodeDecodeError, struct.error, zipfile.BadZipFile, OSError) as e:
                raise RuntimeError(f"ember.load: the file is truncated or corrupted ({type(e).__name__}: {e})") from None
        data = head + fh.read()
    finally:
        if path is not None:
            fh.close()
    if not data.startswith(_MAGIC):
        raise RuntimeError("ember.load: not a file written by ember.save or torch.save (neither torch's zip format "
                           "nor ember's header; torch's legacy format, torch.save(..., "
                           "_use_new_zipfile_serialization=False), is not read)")
    body = io.BytesIO(data[len(_MAGIC):])
    try:
        if weights_only:
            return _SafeUnpickler(body).load()
        return pickle.load(body)
    except pickle.UnpicklingError as e:
        raise pickle.UnpicklingError(f"ember.load: {e}") from None
    except (EOFError, ValueError, TypeError, IndexError, KeyError, AttributeError, MemoryError, OverflowError,
            RecursionError, UnicodeDecodeError, struct.error) as e:
        raise RuntimeError(f"ember.load: the file is truncated or corrupted ({type(e).__name__}: {e})") from None


_C.Tensor.__reduce_ex__ = _reduce_tensor
