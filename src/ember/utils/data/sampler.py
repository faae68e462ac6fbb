"""Samplers: sequential, random (ember's generator, or an ember.Generator), batch."""
from itertools import islice as _islice

from ... import _C


def _permutation(n, generator=None):
    if generator is not None:
        return generator._permutation(n)
    return _C._randperm(n, _C.dtype.int64).tolist()


class Sampler:
    def __init__(self, data_source=None):
        pass

    def __iter__(self):
        raise NotImplementedError


class SequentialSampler(Sampler):
    def __init__(self, data_source):
        self.data_source = data_source

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self):
        return len(self.data_source)


class RandomSampler(Sampler):
    def __init__(self, data_source, replacement=False, num_samples=None, generator=None):
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = generator

    @property
    def num_samples(self):
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self):
        n = len(self.data_source)
        if self.replacement:
            return iter(_C._randint(0, n, [self.num_samples], _C.dtype.int64).tolist())
        perm = []
        while len(perm) < self.num_samples:
            perm.extend(_permutation(n, self.generator))
        return iter(perm[:self.num_samples])

    def __len__(self):
        return self.num_samples


class SubsetRandomSampler(Sampler):
    def __init__(self, indices, generator=None):
        self.indices = indices
        self.generator = generator

    def __iter__(self):
        return (self.indices[i] for i in _permutation(len(self.indices), self.generator))

    def __len__(self):
        return len(self.indices)


class BatchSampler(Sampler):
    def __init__(self, sampler, batch_size, drop_last):
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0:
            raise ValueError(f"batch_size should be a positive integer value, but got batch_size={batch_size}")
        self.sampler, self.batch_size, self.drop_last = sampler, batch_size, drop_last

    def __iter__(self):
        # islice takes the sampler's indices batch_size at a time in C (the sampler is advanced
        # exactly as an index-by-index loop would, and the batches are the same lists)
        it, bs = iter(self.sampler), self.batch_size
        while True:
            batch = list(_islice(it, bs))
            if len(batch) < bs and (self.drop_last or not batch):
                return
            yield batch

    def __len__(self):
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else (n + self.batch_size - 1) // self.batch_size
