"""default_collate with torch's rules: tensors stack (one C++ call), numbers become int64 /
float64 tensors, mappings, tuples and lists collate per field."""
import collections.abc
import numbers

import numpy as np

from ... import _C

Tensor = _C.Tensor


def default_collate(batch):
    fast = _C._collate_tensors(batch)  # tensors, or tuples / lists of tensors: one C++ call
    if fast is not None:
        return fast
    elem = batch[0]
    if isinstance(elem, Tensor):
        return _C.stack(list(batch), 0)
    if isinstance(elem, np.ndarray):
        if elem.dtype.kind in "OSUa":
            raise TypeError(f"default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; "
                            f"found {elem.dtype}")
        return _C.stack([_C._from_numpy_copy(np.ascontiguousarray(b), None) for b in batch], 0)
    if isinstance(elem, np.generic):
        return _C._from_numpy_copy(np.asarray(batch), None)
    if isinstance(elem, bool):
        return _C._from_numpy_copy(np.asarray(batch, dtype=np.bool_), None)
    if isinstance(elem, numbers.Integral):
        try:
            return _C._from_numpy_copy(np.asarray(batch, dtype=np.int64), None)
        except OverflowError:
            raise ValueError("Overflow when unpacking long long") from None  # torch's error
    if isinstance(elem, float):
        return _C._from_numpy_copy(np.asarray(batch, dtype=np.float64), None)
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, collections.abc.Mapping):
        return {key: default_collate([d[key] for d in batch]) for key in elem}
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):
        return type(elem)(*(default_collate(s) for s in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        if any(len(e) != size for e in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        transposed = list(zip(*batch))
        if isinstance(elem, tuple):
            return [default_collate(s) for s in transposed]
        try:
            return type(elem)([default_collate(s) for s in transposed])
        except TypeError:
            return [default_collate(s) for s in transposed]
    raise TypeError(f"default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; "
                    f"found {type(elem)}")


def default_convert(data):
    if isinstance(data, np.ndarray):
        return _C._from_numpy_copy(data, None)
    return data
