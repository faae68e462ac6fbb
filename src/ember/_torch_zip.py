"""torch.save's file format, written and read by ember.save / ember.load.

Note [torch checkpoint format]: a zip archive of uncompressed records under one directory
(`<name>/`): `data.pkl`, a protocol-2 pickle of the saved object in which a tensor is
`torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, OrderedDict())`
(a Parameter wraps it in `torch._utils._rebuild_parameter`) and each storage is a persistent id
`("storage", torch.FloatStorage, key, "cpu", numel)` whose bytes are the record `data/<key>`
(aligned to 64 bytes in the file, as torch writes them); plus `version`, `byteorder`,
`.format_version`, `.storage_alignment`. Tensors sharing a storage share one record, so views
saved together load as views of one storage again.

Writing needs no torch: a pure-Python pickler writes torch's global names for ember's tensors,
dtypes and sizes. Reading never imports torch and never runs code from the file (with
weights_only=True, the default as in torch 2.6+): the unpickler resolves only torch's tensor
rebuilders, storage types, dtypes, Size and device and plain containers; every record is checked
(compression refused, sizes against the storage's numel and the archive, views against their
storage) before a tensor is made over it. `mmap=True` maps the records' bytes from the file.
"""
import collections
import encodings.cp437  # noqa: F401 (zipfile decodes names with it: imported now, not while a file loads)
import io
import os
import pickle
import struct
import zipfile

import numpy as np

from . import _C
from ._storage import _NP

_STORAGES = {"FloatStorage": "float32", "DoubleStorage": "float64", "HalfStorage": "float16",
             "BFloat16Storage": "bfloat16", "LongStorage": "int64", "IntStorage": "int32", "ShortStorage": "int16",
             "CharStorage": "int8", "ByteStorage": "uint8", "BoolStorage": "bool"}
_STORAGE_OF = {d: s for s, d in _STORAGES.items()}
# numpy's type of each dtype's bytes (bfloat16, which numpy lacks, travels as its int16 bits)
_ALIGN = 64


def _dtype_name(dt):
    return str(dt).split(".")[-1]


# ------------------------------------------------------------------------------------- writing

class _Global:
    """A name in torch's namespace, written into the pickle as a GLOBAL (torch need not be present)."""

    def __init__(self, module, name):
        self.module, self.name = module, name

    def __call__(self, *args):  # (never called: only pickled)
        raise RuntimeError(f"{self.module}.{self.name} is a placeholder")


_REBUILD_TENSOR = _Global("torch._utils", "_rebuild_tensor_v2")
_REBUILD_PARAMETER = _Global("torch._utils", "_rebuild_parameter")
_SIZE = _Global("torch", "Size")
_DEVICE = _Global("torch", "device")
_STORAGE_TYPES = {d: _Global("torch", s) for d, s in _STORAGE_OF.items()}


class _StorageRef:
    def __init__(self, t):
        self.t = t


class _Pickler(pickle._Pickler):
    """pickle's pure-Python pickler (it lets save_global write any name), protocol 2 as torch's."""

    def __init__(self, f):
        super().__init__(f, protocol=2)
        self.records = {}    # key -> bytes
        self.keys = {}       # storage identity -> (key, dtype name)

    def save_global(self, obj, name=None):
        if isinstance(obj, _Global):
            self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode("utf-8"))
            self.memoize(obj)
            return
        if isinstance(obj, _C.dtype):
            self.write(pickle.GLOBAL + f"torch\n{_dtype_name(obj)}\n".encode("utf-8"))
            self.memoize(obj)
            return
        super().save_global(obj, name)

    def reducer_override(self, obj):
        from .nn.parameter import Parameter
        from ._tensor import Size, device
        if isinstance(obj, _Global):
            return obj.name  # a global: save_global above
        if isinstance(obj, _C.Tensor):
            if isinstance(obj, Parameter):
                return (_REBUILD_PARAMETER, (obj.detach(), obj.requires_grad, collections.OrderedDict()))
            return (_REBUILD_TENSOR, (_StorageRef(obj), obj.storage_offset(), tuple(obj.shape), tuple(obj.stride()),
                                      obj.requires_grad, collections.OrderedDict()))
        if isinstance(obj, _C.dtype):
            return _dtype_name(obj)  # a global: save_global above
        if isinstance(obj, Size):
            return (_SIZE, (tuple(obj),))
        if isinstance(obj, device):
            return (_DEVICE, (str(obj),))
        return NotImplemented

    def persistent_id(self, obj):
        if type(obj) is not _StorageRef:
            return None
        t = obj.t.detach()
        dt = _dtype_name(t.dtype)
        ident, nbytes = _C._storage_info(t)
        if nbytes == 0 and t.numel() > 0:
            ident = None  # memory ember does not own (a numpy array's): this tensor's elements only
        if ident is not None and ident in self.keys:
            key, kept = self.keys[ident]
            if kept != dt:
                raise RuntimeError("Cannot save multiple tensors or storages that view the same data as different types")
        else:
            key = str(len(self.records))
            if ident is None:
                data = np.ascontiguousarray(_numpy_bytes(t)).tobytes()
            else:
                data = _C._storage_bytes(t)
            self.records[key] = data
            if ident is not None:
                self.keys[ident] = (key, dt)
        size = np.dtype(_NP[dt]).itemsize
        return ("storage", _STORAGE_TYPES[dt], key, "cpu", len(self.records[key]) // size)


def _numpy_bytes(t):
    return (t.view(_C.dtype.int16) if t.dtype == _C.dtype.bfloat16 else t).numpy()


def _archive_name(f):
    if isinstance(f, (str, os.PathLike)):
        base = os.path.splitext(os.path.basename(os.fspath(f)))[0]
        return base or "archive"
    return "archive"


def write(obj, fh, name):
    """The archive of `obj` into the binary file `fh` (torch.save's format)."""
    buf = io.BytesIO()
    p = _Pickler(buf)
    p.dump(obj)
    records = [("data.pkl", buf.getvalue()), (".format_version", b"1"), (".storage_alignment", b"64"),
               ("byteorder", b"little")]
    records += [(f"data/{k}", v) for k, v in p.records.items()]
    records += [("version", b"3\n")]
    start = fh.tell() if fh.seekable() else 0
    with zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED, allowZip64=True) as z:
        for rec, data in records:
            info = zipfile.ZipInfo(f"{name}/{rec}", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED
            if rec.startswith("data/"):  # align the bytes to 64 in the file, as torch does ("FB" padding)
                here = fh.tell() - start + 30 + len(info.filename.encode("utf-8")) + 4
                pad = (-here) % _ALIGN
                info.extra = b"FB" + struct.pack("<H", pad) + b"Z" * pad
            z.writestr(info, data)


# ------------------------------------------------------------------------------------- reading

class _StorageType:
    def __init__(self, dtype):
        self.dtype = dtype


class _Storage:
    def __init__(self, base, dtype):
        self.base, self.dtype = base, dtype


def _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, backward_hooks=None, metadata=None):
    if type(storage) is not _Storage:
        raise pickle.UnpicklingError("corrupt tensor record (no storage)")
    if type(offset) is not int or type(size) not in (tuple, list) or type(stride) not in (tuple, list) or any(
            type(v) is not int for v in list(size) + list(stride)) or type(requires_grad) is not bool:
        raise pickle.UnpicklingError(f"corrupt tensor record (size {size!r}, stride {stride!r}, offset {offset!r})")
    if len(size) > 64:
        raise pickle.UnpicklingError(f"corrupt tensor record ({len(size)} dimensions)")
    try:
        t = _C._as_strided(storage.base, list(size), list(stride), offset)
    except (ValueError, RuntimeError, OverflowError, TypeError) as e:
        raise pickle.UnpicklingError(f"corrupt tensor record ({e})") from None
    if storage.dtype == "bfloat16":
        t = t.view(_C.dtype.bfloat16)
    if requires_grad:
        t.requires_grad_(True)
    return t


def _rebuild_parameter(data, requires_grad, backward_hooks=None):
    from .nn.parameter import Parameter
    if not isinstance(data, _C.Tensor) or type(requires_grad) is not bool:
        raise pickle.UnpicklingError("corrupt parameter record")
    return Parameter(data, requires_grad)


def _size(dims=()):
    from ._tensor import Size
    if type(dims) not in (tuple, list) or any(type(d) is not int for d in dims):
        raise pickle.UnpicklingError("corrupt torch.Size record")
    return Size(dims)


def _device(spec="cpu", index=None):
    from ._tensor import device
    if type(spec) is not str:
        raise pickle.UnpicklingError("corrupt torch.device record")
    return device(spec) if index is None else device(spec, index)


def _torch_globals():
    g = {("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
         ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
         ("torch", "Size"): _size, ("torch", "device"): _device}
    for s, d in _STORAGES.items():
        g[("torch", s)] = _StorageType(d)
    for d in _NP:
        g[("torch", d)] = getattr(_C.dtype, d)
    return g


class _Reader:
    """One archive being read: its records, checked before use."""

    def __init__(self, fp, path, map_location, mmap):
        """fp: the archive as a binary file object (the file itself when mapping it)."""
        self.fp, self.path, self.map_location, self.mmap = fp, path, map_location, mmap
        fp.seek(0, os.SEEK_END)
        self.size = fp.tell()
        fp.seek(0)
        try:
            self.zf = zipfile.ZipFile(fp)
            infos = self.zf.infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError, struct.error,
                UnicodeDecodeError, NotImplementedError) as e:  # (an unsupported zip version or compression)
            raise RuntimeError(f"ember.load: not a readable torch checkpoint archive ({type(e).__name__}: {e})") from None
        pkl = [i.filename for i in infos if i.filename.endswith("/data.pkl") and i.filename.count("/") == 1]
        if len(pkl) != 1:
            raise RuntimeError("ember.load: a torch checkpoint archive holds one <name>/data.pkl record "
                               f"(found {len(pkl)})")
        self.prefix = pkl[0][:-len("data.pkl")]
        self.infos = {i.filename: i for i in infos}
        self.storages = {}

    def record(self, name):
        info = self.infos.get(self.prefix + name)
        if info is None:
            raise pickle.UnpicklingError(f"the archive has no record {name!r}")
        if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1:
            raise pickle.UnpicklingError(f"record {name!r} is compressed or encrypted (torch writes them stored)")
        if info.file_size > self.size:
            raise pickle.UnpicklingError(f"record {name!r} claims {info.file_size} bytes in a {self.size}-byte file")
        return info

    def read(self, name):
        info = self.record(name)
        try:
            data = self.zf.read(info)
        except (zipfile.BadZipFile, ValueError, OSError, EOFError, struct.error, KeyError, NotImplementedError) as e:
            raise pickle.UnpicklingError(f"record {name!r} is truncated or corrupted ({type(e).__name__}: {e})") from None
        if len(data) != info.file_size:
            raise pickle.UnpicklingError(f"record {name!r} is truncated")
        return data

    def _data_offset(self, info):
        self.fp.seek(info.header_offset)
        h = self.fp.read(30)
        if len(h) != 30 or h[:4] != b"PK\x03\x04":
            raise pickle.UnpicklingError("corrupt local header")
        n, m = struct.unpack("<HH", h[26:30])
        return info.header_offset + 30 + n + m

    def storage(self, pid):
        if type(pid) is not tuple or len(pid) != 5 or pid[0] != "storage":
            raise pickle.UnpicklingError(f"unsupported persistent id {str(pid)[:60]!r}")
        _, kind, key, location, numel = pid
        if type(kind) is not _StorageType or type(key) is not str or type(location) is not str or type(numel) is not int:
            raise pickle.UnpicklingError("corrupt storage record")
        self._location(location)
        if key in self.storages:
            s = self.storages[key]
            if s.dtype != kind.dtype:
                raise pickle.UnpicklingError(f"storage {key!r} read as two dtypes")
            return s
        item = np.dtype(_NP[kind.dtype]).itemsize
        info = self.record(f"data/{key}")
        if numel < 0 or info.file_size != numel * item:
            raise pickle.UnpicklingError(f"storage {key!r} holds {info.file_size} bytes, {numel} {kind.dtype} "
                                         f"elements need {numel * item}")
        if self.mmap and self.path is not None:
            off = self._data_offset(info)
            if off + info.file_size > self.size:
                raise pickle.UnpicklingError(f"storage {key!r} runs past the end of the file")
            arr = (np.memmap(self.path, dtype=_NP[kind.dtype], mode="c", offset=off, shape=(numel,))
                   if numel else np.zeros(0, _NP[kind.dtype]))
        else:
            arr = np.frombuffer(bytearray(self.read(f"data/{key}")), dtype=_NP[kind.dtype])
        if kind.dtype == "bool" and np.asarray(arr).view(np.uint8).max(initial=0) > 1:
            raise pickle.UnpicklingError(f"corrupt bool storage {key!r} (bytes other than 0 and 1)")
        s = self.storages[key] = _Storage(_C._from_numpy(arr), kind.dtype)
        return s

    def _location(self, location):
        ml = self.map_location
        if ml is None and not location.startswith("cpu"):
            raise RuntimeError("Attempting to deserialize object on a CUDA device but torch.cuda.is_available() is "
                               "False. If you are running on a CPU-only machine, please use torch.load with "
                               "map_location=torch.device('cpu') to map your storages to the CPU.")


def read(fp, path, map_location, weights_only, mmap, unpickler_base, allowed):
    """The object in the archive `fp` (a binary file object; `path` its file when mmap=True)."""
    r = _Reader(fp, path, map_location, mmap)
    torch_names = _torch_globals()

    class Unpickler(unpickler_base):
        def find_class(self, module, name):
            fn = torch_names.get((module, name))
            if fn is not None:
                return fn
            if (module, name) in allowed or weights_only:
                return super().find_class(module, name)
            return pickle._Unpickler.find_class(self, module, name)  # weights_only=False: the file is trusted

        def persistent_load(self, pid):
            return r.storage(pid)

    return Unpickler(io.BytesIO(r.read("data.pkl"))).load()
