"""Dataset, TensorDataset, Subset, random_split. TensorDataset has a batched gather so the
DataLoader takes a whole batch in one C++ call per tensor."""
import collections.abc
import math
import numbers
from typing import Generic, TypeVar

from ... import _C

Tensor = _C.Tensor
_T_co = TypeVar("_T_co", covariant=True)


class Dataset(Generic[_T_co]):
    """A map-style dataset: __getitem__ (and usually __len__). Generic, as torch's: `Dataset[int]`."""

    def __getitem__(self, index):
        raise NotImplementedError("Subclasses of Dataset should implement __getitem__.")

    def __add__(self, other):
        return ConcatDataset([self, other])


class IterableDataset(Dataset[_T_co], collections.abc.Iterable):
    """An iterable-style dataset: __iter__ yields the samples. The DataLoader draws no indices for
    it; with workers, each worker iterates its own copy (shard it through get_worker_info())."""

    def __add__(self, other):
        from ._extras import ChainDataset
        return ChainDataset([self, other])


class TensorDataset(Dataset):
    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        n = tensors[0].shape[0] if tensors[0].dim() else None
        if any(t.dim() == 0 or t.shape[0] != n for t in tensors):
            raise ValueError("Size mismatch between tensors: " + ", ".join(str(list(t.shape)) for t in tensors))
        self.tensors = tensors

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def _gather(self, indices):
        """The DataLoader fast path: one gather per tensor for a whole batch (`indices`: int64
        tensor or list of ints). Not __getitems__, which torch defines as a list of samples."""
        idx = indices if isinstance(indices, Tensor) else _C._from_numpy_copy(_as_index_array(indices), None)
        return [_C.index_select(t, 0, idx) for t in self.tensors]

    def __len__(self):
        return self.tensors[0].shape[0]


def _as_index_array(indices):
    import numpy as np
    return np.asarray(indices, dtype=np.int64)


class Subset(Dataset):
    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = indices

    def __getitem__(self, idx):
        if isinstance(idx, list):
            return self.dataset[[self.indices[i] for i in idx]]
        return self.dataset[self.indices[idx]]

    def __getitems__(self, indices):
        mapped = [self.indices[i] for i in indices]
        if hasattr(self.dataset, "__getitems__"):
            return self.dataset.__getitems__(mapped)
        return [self.dataset[i] for i in mapped]

    def __len__(self):
        return len(self.indices)


class ConcatDataset(Dataset):
    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("datasets should not be an empty iterable")
        self.cumulative_sizes = []
        total = 0
        for d in self.datasets:
            total += len(d)
            self.cumulative_sizes.append(total)

    def __len__(self):
        return self.cumulative_sizes[-1] if self.cumulative_sizes else 0

    def __getitem__(self, idx):
        if idx < 0:
            if -idx > len(self):
                raise ValueError("absolute value of index should not exceed dataset length")
            idx += len(self)
        import bisect
        d = bisect.bisect_right(self.cumulative_sizes, idx)
        prev = self.cumulative_sizes[d - 1] if d > 0 else 0
        return self.datasets[d][idx - prev]


def random_split(dataset, lengths, generator=None):
    n = len(dataset)
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        sizes = [int(math.floor(n * frac)) for frac in lengths]
        for i in range(n - sum(sizes)):
            sizes[i % len(sizes)] += 1
        lengths = sizes
    if sum(lengths) != n:
        raise ValueError("Sum of input lengths does not equal the length of the input dataset!")
    from .sampler import _permutation
    perm = _permutation(n, generator)
    out, offset = [], 0
    for length in lengths:
        if not isinstance(length, numbers.Integral) or length < 0:
            raise ValueError(f"lengths must be non-negative integers, got {length!r}")
        out.append(Subset(dataset, perm[offset:offset + length]))
        offset += length
    return out
