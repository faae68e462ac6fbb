"""DataLoader: batches from a sampler, collated by torch's default rules (a dataset's
__getitems__, when present, returns the list of samples, as torch defines it). The fast path: a
TensorDataset under the default collate, or a Subset of one (random_split's train/validation
parts, Subsets of Subsets), gathers each batch with one index_select per tensor, no per-sample
Python. Single process only (num_workers is accepted and ignored)."""
from ... import _C
from ._collate import default_collate
from .dataset import Subset, TensorDataset
from .sampler import BatchSampler, RandomSampler, SequentialSampler


class DataLoader:
    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None, num_workers=0,
                 collate_fn=None, pin_memory=False, drop_last=False, timeout=0, worker_init_fn=None,
                 multiprocessing_context=None, generator=None, *, prefetch_factor=None, persistent_workers=False,
                 pin_memory_device="", in_order=True):
        if num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to disable multiprocessing.")
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, and drop_last")
            batch_size, drop_last = None, False
        if batch_size is not None and (not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0):
            raise ValueError(f"batch_size should be a positive integer value, but got batch_size={batch_size}")
        self.dataset = dataset
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.num_workers = num_workers
        self.generator = generator
        if sampler is None:
            sampler = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
        self.sampler = sampler
        if batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.batch_sampler = batch_sampler
        self._default_collate = collate_fn is None
        self.collate_fn = collate_fn or default_collate
        self._fast = self._default_collate and batch_sampler is not None and _plain_tensor_dataset(dataset)
        self._subset_gather = (_subset_gather(dataset) if self._default_collate and batch_sampler is not None
                               and not self._fast else None)

    def __iter__(self):
        if self.batch_sampler is None:
            for i in self.sampler:
                yield self.dataset[i]
            return
        if self._fast and type(self.batch_sampler) is BatchSampler:
            yield from self._tensor_batches()
            return
        getitems = getattr(self.dataset, "__getitems__", None)
        for indices in self.batch_sampler:
            if self._fast:
                yield self.dataset._gather(indices)
            elif self._subset_gather is not None:
                batch = self._subset_gather(indices)
                yield batch if batch is not None else self.collate_fn(getitems(indices))
            elif getitems is not None:
                yield self.collate_fn(getitems(indices))
            else:
                yield self.collate_fn([self.dataset[i] for i in indices])

    def _tensor_batches(self):
        n = len(self.dataset)
        order = list(self.sampler) if not isinstance(self.sampler, SequentialSampler) else None
        idx = _C._arange(0.0, float(n), 1.0, _C.dtype.int64) if order is None else \
            _C._from_numpy_copy(__import__("numpy").asarray(order, dtype="int64"), None)
        m = idx.shape[0]
        bs = self.batch_size
        stop = m - m % bs if self.drop_last else m
        tensors = list(self.dataset.tensors)
        gather = _C._gather_batch
        for start in range(0, stop, bs):
            yield gather(tensors, idx, start, min(start + bs, m))

    def __len__(self):
        if self.batch_sampler is None:
            return len(self.sampler)
        return len(self.batch_sampler)


def _plain_tensor_dataset(ds):
    """A TensorDataset whose item access is TensorDataset's own (a subclass overriding
    __getitem__ or __getitems__ must be called, as torch does)."""
    t = type(ds)
    return (isinstance(ds, TensorDataset) and t.__getitem__ is TensorDataset.__getitem__
            and getattr(t, "__getitems__", None) is getattr(TensorDataset, "__getitems__", None))


def _plain_subset(ds):
    t = type(ds)
    return (t is Subset or (isinstance(ds, Subset) and t.__getitem__ is Subset.__getitem__
                            and t.__getitems__ is Subset.__getitems__))


def _subset_gather(ds):
    """For a Subset (of Subsets ...) of a plain TensorDataset whose item access is Subset's own: a
    function from a batch of indices to the collated batch by one gather, the same tensors torch's
    per-sample path and default_collate give; None where a batch must take that path (an index
    the gather would read differently: negative, or past the end)."""
    chain = []
    while _plain_subset(ds):
        chain.append(ds.indices)
        ds = ds.dataset
    if not chain or not _plain_tensor_dataset(ds):
        return None
    base = ds

    def gather(indices):
        for idx in chain:  # the outermost Subset's indices first, as Subset.__getitems__ maps them
            indices = [idx[i] for i in indices]
        return _C._gather_rows(list(base.tensors), indices)

    return gather
