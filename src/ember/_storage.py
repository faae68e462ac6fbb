"""What torch programs and libraries built on torch (safetensors) ask of a tensor's memory:
`Tensor.untyped_storage()` (a description of the storage: its address and size), `Tensor.layout`
(always `strided`: ember has no sparse tensors), `frombuffer`, and torch's complex dtypes as names
(ember has no complex tensors; code that lists dtypes, as safetensors does, still imports)."""
import warnings

import numpy as np

from . import _C

# numpy's type of each dtype's bytes (bfloat16, which numpy lacks, travels as its int16 bits);
# serialization.py and _torch_zip.py read it too
_NP = {"float32": np.float32, "float64": np.float64, "int64": np.int64, "bool": np.bool_, "int32": np.int32,
       "int16": np.int16, "int8": np.int8, "uint8": np.uint8, "float16": np.float16, "bfloat16": np.int16}


class layout:
    """torch.layout; ember's tensors are all `strided`."""

    def __init__(self, name):
        self._name = name

    def __repr__(self):
        return f"ember.{self._name}"

    def __reduce__(self):
        return self._name


strided = layout("strided")


class _ComplexDtype:
    """torch.complex64 / complex128 as names: ember has no complex tensors, so any use of one as a
    tensor's dtype raises."""

    is_complex, is_floating_point, is_signed = True, False, True

    def __init__(self, name, itemsize):
        self._name, self.itemsize = name, itemsize

    def __repr__(self):
        return f"ember.{self._name}"


complex64 = cfloat = _ComplexDtype("complex64", 8)
complex128 = cdouble = _ComplexDtype("complex128", 16)


class UntypedStorage:
    """torch.UntypedStorage, as far as code outside torch uses it: `Tensor.untyped_storage()` (the
    bytes a tensor views: their address, size and device, for code that compares storages), and a
    file's bytes (`from_file`, sliced and read with `asarray`, as safetensors loads). It is a view
    of ember memory; it owns nothing a tensor does not."""

    def __init__(self, tensor=None, _bytes=None):
        self._t, self._bytes = tensor, _bytes

    @staticmethod
    def from_file(filename, shared=False, nbytes=0):
        """The first `nbytes` bytes of a file, mapped (copy-on-write unless shared=True)."""
        size = int(nbytes)
        arr = (np.memmap(filename, dtype=np.uint8, mode="r+" if shared else "c", shape=(size,)) if size
               else np.zeros(0, np.uint8))
        return UntypedStorage(_bytes=_C._from_numpy(arr))

    def untyped(self):
        return self

    def _as_bytes(self):
        """A uint8 tensor over exactly these bytes."""
        if self._bytes is None:
            raise NotImplementedError("the storage of a tensor cannot be read as bytes in ember; use the tensor")
        return self._bytes

    def __getitem__(self, index):
        if not isinstance(index, slice):
            return int(self._as_bytes()[index].item())
        return UntypedStorage(_bytes=self._as_bytes()[index])

    def data_ptr(self):
        if self._bytes is not None:
            return self._bytes.data_ptr()
        t = self._t
        return t.data_ptr() - t.storage_offset() * t.element_size()

    def nbytes(self):
        if self._bytes is not None:
            return self._bytes.numel()
        n = _C._storage_info(self._t)[1]
        if n == 0:  # memory ember does not own (a numpy array's): what the tensor reaches
            t = self._t
            n = (t.storage_offset() + t.numel()) * t.element_size() if t.numel() else 0
        return n

    size = nbytes

    def __len__(self):
        return self.nbytes()

    def element_size(self):
        return 1

    @property
    def device(self):
        from ._tensor import device
        return device("cpu")

    def __repr__(self):
        return f"UntypedStorage(nbytes={self.nbytes()}, data_ptr={self.data_ptr():#x})"


def untyped_storage(self):
    """The storage this tensor views (torch.Tensor.untyped_storage)."""
    return UntypedStorage(self)


def frombuffer(buffer, *, dtype, count=-1, offset=0, requires_grad=False):
    """torch.frombuffer: a 1-D tensor over an object exposing the buffer protocol, sharing its
    memory. A read-only buffer (bytes) is copied instead, with torch's warning about it."""
    if not isinstance(dtype, _C.dtype):
        raise TypeError(f"frombuffer(): argument 'dtype' must be torch.dtype, not {type(dtype).__name__}")
    name = str(dtype).split(".")[-1]
    item = np.dtype(_NP[name]).itemsize
    mv = memoryview(buffer)
    nbytes = mv.nbytes
    if offset < 0 or offset > nbytes:
        raise ValueError(f"offset ({offset} bytes) must be non-negative and no greater than buffer length "
                         f"({nbytes} bytes) minus 1")
    if count <= 0 and count != -1:
        raise ValueError(f"count must be either -1 or a positive number, got {count}")
    if count == -1:
        if (nbytes - offset) % item:
            raise ValueError(f"buffer length ({nbytes - offset} bytes) after offset ({offset} bytes) must be a "
                             f"multiple of element size ({item})")
        count = (nbytes - offset) // item
        if count == 0:
            raise ValueError("both buffer length (0) and count (-1) must not be 0")
    elif offset + count * item > nbytes:
        raise ValueError(f"requested buffer length ({count} * {item} bytes) after offset ({offset} bytes) must not "
                         f"be greater than actual buffer length ({nbytes} bytes)")
    arr = np.frombuffer(buffer, dtype=_NP[name], count=count, offset=offset)
    if not arr.flags.writeable:
        warnings.warn("The given buffer is not writable: ember copies it (torch would share it, and writing "
                      "through the tensor would be undefined behavior).", UserWarning, stacklevel=2)
        arr = arr.copy()
    t = _C._from_numpy(arr)
    if name == "bfloat16":
        t = t.view(_C.dtype.bfloat16)
    if requires_grad:
        t.requires_grad_(True)
    return t


_C.Tensor.untyped_storage = untyped_storage
_C.Tensor.layout = property(lambda self: strided, doc="torch.Tensor.layout: always ember.strided")
