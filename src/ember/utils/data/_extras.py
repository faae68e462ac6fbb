"""WeightedRandomSampler (draws with ember.multinomial and ember's generator), ChainDataset,
StackDataset, under torch.utils.data's names and signatures."""
import numbers

from ... import _C
from .dataset import Dataset, IterableDataset
from .sampler import Sampler


class WeightedRandomSampler(Sampler):
    """num_samples indices drawn from [0, len(weights)) with probabilities proportional to weights
    (with or without replacement), from `generator` or ember's default generator."""

    def __init__(self, weights, num_samples, replacement=True, generator=None):
        if not isinstance(num_samples, numbers.Integral) or isinstance(num_samples, bool) or num_samples <= 0:
            raise ValueError(f"num_samples should be a positive integer value, but got num_samples={num_samples}")
        if not isinstance(replacement, bool):
            raise ValueError(f"replacement should be a boolean value, but got replacement={replacement}")
        if isinstance(weights, _C.Tensor):
            w = weights
        else:
            from ... import tensor
            w = tensor(list(weights), dtype=_C.dtype.float64)
        w = w.detach().to(_C.dtype.float64)
        if w.dim() != 1:
            raise ValueError(f"weights should be a 1d sequence but given weights have shape {tuple(w.shape)}")
        self.weights = w
        self.num_samples = int(num_samples)
        self.replacement = replacement
        self.generator = generator

    def __iter__(self):
        from ... import multinomial
        rand = multinomial(self.weights, self.num_samples, self.replacement, generator=self.generator)
        yield from iter(rand.tolist())

    def __len__(self):
        return self.num_samples


class ChainDataset(IterableDataset):
    """The concatenation of iterable datasets, iterated one after the other."""

    def __init__(self, datasets):
        self.datasets = datasets

    def __iter__(self):
        for d in self.datasets:
            if not isinstance(d, IterableDataset):
                raise AssertionError("ChainDataset only supports IterableDataset")
            yield from d

    def __len__(self):
        total = 0
        for d in self.datasets:
            if not isinstance(d, IterableDataset):
                raise AssertionError("ChainDataset only supports IterableDataset")
            total += len(d)
        return total


class StackDataset(Dataset):
    """Datasets of one length side by side: item i is the tuple (or, with keywords, the dict) of
    their items i."""

    def __init__(self, *args, **kwargs):
        if args and kwargs:
            raise ValueError("Supported either ``tuple``- (via ``args``) or``dict``- (via ``kwargs``) like "
                             "input/output, but both types are given.")
        datasets = args or tuple(kwargs.values())
        if not datasets:
            raise ValueError("At least one dataset should be passed")
        self._length = len(datasets[0])
        if any(len(d) != self._length for d in datasets):
            raise ValueError("Size mismatch between datasets")
        self.datasets = dict(kwargs) if kwargs else tuple(args)

    def __getitem__(self, index):
        if isinstance(self.datasets, dict):
            return {k: d[index] for k, d in self.datasets.items()}
        return tuple(d[index] for d in self.datasets)

    def __len__(self):
        return self._length
