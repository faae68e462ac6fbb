"""How one batch is fetched from a dataset, the same in the main process and in a worker
(torch.utils.data._utils.fetch's two fetchers): a map-style dataset is indexed by the sampler's
indices, an iterable one is advanced. Both hand the samples to the collate function."""
import itertools

from ... import _C
from .dataset import Subset, TensorDataset


class _InfiniteConstantSampler:
    """The 'sampler' of an iterable dataset: None forever (a batch is batch_size Nones)."""

    def __iter__(self):
        return itertools.repeat(None)


class MapFetcher:
    def __init__(self, dataset, auto_collation, collate_fn, drop_last, default_collate=False):
        self.dataset = dataset
        self.auto_collation = auto_collation
        self.collate_fn = collate_fn
        # a batch of a TensorDataset (or a Subset of one) in one C++ call, or None
        self.gather = batch_gather(dataset) if default_collate and auto_collation else None
        self.getitems = getattr(dataset, "__getitems__", None)

    def fetch(self, index):
        if not self.auto_collation:
            return self.collate_fn(self.dataset[index])
        if self.gather is not None:
            batch = self.gather(index)
            if batch is not None:
                return batch
        if self.getitems is not None:
            return self.collate_fn(self.getitems(index))
        return self.collate_fn([self.dataset[i] for i in index])


class IterableFetcher:
    def __init__(self, dataset, auto_collation, collate_fn, drop_last, default_collate=False):
        self.it = iter(dataset)
        self.auto_collation = auto_collation
        self.collate_fn = collate_fn
        self.drop_last = drop_last
        self.ended = False

    def fetch(self, index):
        """The next batch; StopIteration once the dataset's iterator is done (a last short batch
        is returned first unless drop_last)."""
        if self.ended:
            raise StopIteration
        if not self.auto_collation:
            return self.collate_fn(next(self.it))
        data = list(itertools.islice(self.it, len(index)))
        if len(data) < len(index):
            self.ended = True
            if not data or self.drop_last:
                raise StopIteration
        return self.collate_fn(data)


def plain_tensor_dataset(ds):
    """A TensorDataset whose item access is TensorDataset's own (a subclass overriding
    __getitem__ or __getitems__ must be called, as torch does)."""
    t = type(ds)
    return (isinstance(ds, TensorDataset) and t.__getitem__ is TensorDataset.__getitem__
            and getattr(t, "__getitems__", None) is getattr(TensorDataset, "__getitems__", None))


def _plain_subset(ds):
    t = type(ds)
    return (t is Subset or (isinstance(ds, Subset) and t.__getitem__ is Subset.__getitem__
                            and t.__getitems__ is Subset.__getitems__))


def batch_gather(ds):
    """Under the default collate: a function from a batch of indices to the collated batch by one
    gather per tensor, the same tensors torch's per-sample path and default_collate give, for a
    plain TensorDataset or a Subset (of Subsets ...) of one; None for other datasets. For a Subset
    the function returns None where a batch must take the per-sample path (an index the gather
    would read differently: negative, or past the end)."""
    if plain_tensor_dataset(ds):
        return ds._gather
    chain = []
    while _plain_subset(ds):
        chain.append(ds.indices)
        ds = ds.dataset
    if not chain or not plain_tensor_dataset(ds):
        return None
    base = ds

    def gather(indices):
        for idx in chain:  # the outermost Subset's indices first, as Subset.__getitems__ maps them
            indices = [idx[i] for i in indices]
        return _C._gather_rows(list(base.tensors), indices)

    return gather
