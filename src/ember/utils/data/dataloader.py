"""DataLoader: batches from a sampler (map-style datasets) or from the dataset's own iterator
(IterableDataset), collated by torch's default rules (a dataset's __getitems__, when present,
returns the list of samples, as torch defines it), in the main process or, with num_workers > 0,
in worker processes (Note [DataLoader workers] in _worker.py).

The main process's fast path: a TensorDataset under the default collate, or a Subset of one
(random_split's train/validation parts, Subsets of Subsets), gathers each batch with one
index_select per tensor, no per-sample Python."""
import functools
import itertools
import multiprocessing
import os
import select
import signal
import socket
import time
import warnings

from ... import _C
from . import _worker
from ._worker import get_worker_info  # noqa: F401  (torch.utils.data.dataloader.get_worker_info)
from ._collate import default_collate, default_convert
from ._fetch import IterableFetcher, MapFetcher, _InfiniteConstantSampler, plain_tensor_dataset
from .dataset import IterableDataset
from .sampler import BatchSampler, RandomSampler, SequentialSampler

_FROZEN = ("batch_size", "batch_sampler", "sampler", "drop_last", "dataset", "persistent_workers")


class DataLoader:
    _initialized = False

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None, num_workers=0,
                 collate_fn=None, pin_memory=False, drop_last=False, timeout=0, worker_init_fn=None,
                 multiprocessing_context=None, generator=None, *, prefetch_factor=None, persistent_workers=False,
                 pin_memory_device="", in_order=True):
        if num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to disable multiprocessing.")
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError("prefetch_factor option could only be specified in multiprocessing.let num_workers > 0 "
                             "to enable multiprocessing, otherwise set prefetch_factor to None.")
        if num_workers > 0 and prefetch_factor is None:
            prefetch_factor = 2
        elif prefetch_factor is not None and prefetch_factor < 0:
            raise ValueError("prefetch_factor option should be non-negative")
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")
        self.dataset = dataset
        self.num_workers = num_workers
        self.prefetch_factor = prefetch_factor
        self.pin_memory = pin_memory
        self.pin_memory_device = pin_memory_device
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.in_order = in_order
        self._iterable = isinstance(dataset, IterableDataset)
        if self._iterable:
            if shuffle not in {False, None}:
                raise ValueError("DataLoader with IterableDataset: expected unspecified shuffle option, "
                                 f"but got shuffle={shuffle}")
            if sampler is not None:
                raise ValueError("DataLoader with IterableDataset: expected unspecified sampler option, "
                                 f"but got sampler={sampler}")
            if batch_sampler is not None:
                raise ValueError("DataLoader with IterableDataset: expected unspecified batch_sampler option, "
                                 f"but got batch_sampler={batch_sampler}")
        else:
            shuffle = bool(shuffle)
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, and drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None:
            if drop_last:
                raise ValueError("batch_size=None option disables auto-batching and is mutually exclusive with drop_last")
        elif not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0:
            raise ValueError(f"batch_size should be a positive integer value, but got batch_size={batch_size}")
        if sampler is None:
            if self._iterable:
                sampler = _InfiniteConstantSampler()
            else:
                sampler = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.generator = generator
        self._default_collate = collate_fn is None
        self.collate_fn = collate_fn or (default_collate if batch_sampler is not None else default_convert)
        self.persistent_workers = persistent_workers
        self._iterator = None
        self._len_called = None
        self._initialized = True
        self.check_worker_number_rationality()

    def __setattr__(self, attr, val):
        if self._initialized and attr in _FROZEN:
            raise ValueError(f"{attr} attribute should not be set after {type(self).__name__} is initialized")
        if attr == "multiprocessing_context":
            val = _check_context(val, self.num_workers)
        super().__setattr__(attr, val)

    @property
    def _auto_collation(self):
        return self.batch_sampler is not None

    @property
    def _index_sampler(self):
        return self.batch_sampler if self._auto_collation else self.sampler

    def _make_fetcher(self):
        kind = IterableFetcher if self._iterable else MapFetcher
        return functools.partial(kind, auto_collation=self._auto_collation, collate_fn=self.collate_fn,
                                 drop_last=self.drop_last, default_collate=self._default_collate)

    def __iter__(self):
        if self.pin_memory:
            warnings.warn("'pin_memory' argument is set as true but no accelerator is found, then device pinned "
                          "memory won't be used.", stacklevel=2)
        if self.num_workers == 0:
            return self._single_process()
        if self.persistent_workers:
            if self._iterator is None or self._iterator._shutdown:  # (shut down by a timeout or a dead worker)
                self._iterator = _MultiProcessingIter(self)
            else:
                self._iterator._reset(self)
            return self._iterator
        return _MultiProcessingIter(self)

    def _single_process(self):
        _base_seed(self.generator)  # drawn as with workers, so the shuffle order does not depend on num_workers
        if (not self._iterable and self._default_collate and type(self.batch_sampler) is BatchSampler
                and plain_tensor_dataset(self.dataset)):
            yield from self._tensor_batches()
            return
        fetch = self._make_fetcher()(self.dataset).fetch
        n = 0
        for index in self._index_sampler:
            try:
                batch = fetch(index)
            except StopIteration:
                return
            n += 1
            if self._iterable:
                _check_length(self.dataset, self._len_called, n, 0)
            yield batch

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
        if self._iterable:
            length = self._len_called = len(self.dataset)
            if self.batch_size is not None:
                length = length // self.batch_size if self.drop_last else -(-length // self.batch_size)
            return length
        return len(self._index_sampler)

    def check_worker_number_rationality(self):
        """torch's warning when more workers are asked for than this process may use CPUs."""
        if not self.num_workers:
            return
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        if cpus is None or self.num_workers > cpus:
            suggest = ("DataLoader is not able to compute a suggested max number of worker in current system."
                       if cpus is None else
                       f"Our suggested max number of worker in current system is {cpus}"
                       f"{'' if hasattr(os, 'sched_getaffinity') else ' (`cpuset` is not taken into account)'}, "
                       "which is smaller than what this DataLoader is going to create.")
            warnings.warn(f"This DataLoader will create {self.num_workers} worker processes in total. {suggest} "
                          "Please be aware that excessive worker creation might get DataLoader running slow or even "
                          "freeze, lower the worker number to avoid potential slowness/freeze if necessary.",
                          stacklevel=4)


def _base_seed(generator):
    """The seed of an epoch's workers (worker i seeds itself with base + i), drawn as torch draws it
    for every epoch, workers or not."""
    from ... import empty
    return empty((), dtype=_C.dtype.int64).random_(generator=generator).item()


def _check_length(dataset, len_called, n, num_workers):
    """torch's warning when an IterableDataset yields more batches than len(dataloader) said."""
    if len_called is not None and n > len_called:
        msg = (f"Length of IterableDataset {dataset} was reported to be {len_called}(when accessing "
               f"len(dataloader)), but {n} samples have been fetched. ")
        if num_workers > 0:
            msg += ("For multiprocessing data-loading, this could be caused by not properly configuring the "
                    "IterableDataset replica at each worker. Please see "
                    "https://pytorch.org/docs/stable/data.html#torch.utils.data.IterableDataset for examples.")
        warnings.warn(msg, stacklevel=3)


def _check_context(ctx, num_workers):
    if ctx is None:
        return None
    if num_workers <= 0:
        raise ValueError("multiprocessing_context can only be used with multi-process loading (num_workers > 0), "
                         f"but got num_workers={num_workers}")
    if isinstance(ctx, str):
        methods = multiprocessing.get_all_start_methods()
        if ctx not in methods:
            raise ValueError(f"multiprocessing_context option should specify a valid start method in {methods!r}, "
                             f"but got multiprocessing_context={ctx!r}")
        ctx = multiprocessing.get_context(ctx)
    if not isinstance(ctx, multiprocessing.context.BaseContext):
        raise TypeError("multiprocessing_context option should be a valid context object or a string specifying "
                        f"the start method, but got multiprocessing_context={ctx}")
    return ctx


class _MultiProcessingIter:
    """The iterator of a DataLoader with workers (Note [DataLoader workers]). Workers start when it
    is made and stop when the epoch ends (unless persistent_workers), when it is garbage-collected,
    or at exit."""

    def __init__(self, loader):
        loader.check_worker_number_rationality()
        self._n = loader.num_workers
        self._dataset = loader.dataset  # the iterator holds no reference to the loader, which may hold it
        self._timeout = loader.timeout
        self._in_order = loader.in_order
        self._persistent = loader.persistent_workers
        self._prefetch = loader.prefetch_factor
        self._iterable = loader._iterable
        self._shutdown = True
        self._base_seed = _base_seed(loader.generator)
        ctx = loader.multiprocessing_context or multiprocessing.get_context()
        import numpy.random  # noqa: F401  (workers seed it; importing it once here spares each forked worker 8 ms)
        make_fetcher = loader._make_fetcher()
        self._workers, self._chans = [], []
        self._shutdown = False
        try:
            for i in range(self._n):
                main_end, worker_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
                _worker.MAIN_ENDS.add(main_end)
                self._chans.append(_worker.Channel(main_end))
                w = ctx.Process(target=_worker.worker_loop, daemon=True,
                                args=(worker_end, make_fetcher, loader.dataset, self._base_seed,
                                      loader.worker_init_fn, i, self._n))
                try:
                    w.start()
                finally:
                    worker_end.close()
                self._workers.append(w)
        except BaseException:
            self._shutdown_workers()
            raise
        self._reset(loader, first_iter=True)

    def _reset(self, loader, first_iter=False):
        self._index_sampler = loader._index_sampler
        self._sampler_iter = iter(self._index_sampler)
        self._len_called = loader._len_called
        self._num_yielded = 0
        self._pending = {}  # task number -> worker, in task order
        self._send_idx = 0
        self._active = [True] * self._n
        self._rr = itertools.cycle(range(self._n))
        if not first_iter:  # persistent workers: end the last epoch's tasks, restart iterable datasets
            for chan in self._chans:
                chan.send(_worker.RESUME)
            for w in range(self._n):
                while self._recv(w) != _worker.RESUME:
                    pass
        for _ in range(self._prefetch * self._n):
            self._try_put_index()

    def __iter__(self):
        return self

    def __len__(self):
        return len(self._index_sampler)

    def _try_put_index(self):
        try:
            index = next(self._sampler_iter)
        except StopIteration:
            return
        for _ in range(self._n):
            w = next(self._rr)
            if self._active[w]:
                break
        else:
            return
        self._chans[w].send((self._send_idx, index))
        self._pending[self._send_idx] = w
        self._send_idx += 1

    def __next__(self):
        while True:
            if not self._pending:
                if not self._persistent:
                    self._shutdown_workers()
                raise StopIteration
            if self._in_order:
                w = next(iter(self._pending.values()))
            else:
                w = self._ready_worker()
            idx, data = self._recv(w)
            del self._pending[idx]
            if isinstance(data, _worker.Stop):
                if self._active[w]:
                    self._active[w] = False
                    self._try_put_index()
                continue
            self._try_put_index()
            if isinstance(data, _worker.ExceptionWrapper):
                data.reraise()
            self._num_yielded += 1
            if self._iterable:
                _check_length(self._dataset, self._len_called, self._num_yielded, self._n)
            return data

    def _ready_worker(self):
        waiting = set(self._pending.values())
        ready, _, _ = select.select([self._chans[w] for w in waiting], [], [], self._timeout or None)
        if not ready:
            self._shutdown_workers(stuck=True)
            raise RuntimeError(f"DataLoader timed out after {self._timeout} seconds")
        return self._chans.index(ready[0])

    def _recv(self, w):
        if self._shutdown:
            raise RuntimeError("DataLoader's worker processes have been shut down")
        chan = self._chans[w]
        if self._timeout > 0:
            ready, _, _ = select.select([chan], [], [], self._timeout)
            if not ready:
                self._shutdown_workers(stuck=True)
                raise RuntimeError(f"DataLoader timed out after {self._timeout} seconds")
        try:
            return chan.recv()
        except (EOFError, ConnectionResetError):
            pass
        proc = self._workers[w]
        proc.join(1.0)
        code = proc.exitcode
        how = (f"killed by signal: {signal.Signals(-code).name}" if code is not None and code < 0
               else f"exit code {code}")
        self._shutdown_workers()
        raise RuntimeError(f"DataLoader worker (pid(s) {proc.pid}) exited unexpectedly ({how})")

    def _shutdown_workers(self, stuck=False):
        """Ask the workers to end, give them 5 s in all (none if they are stuck in a task that timed
        out), then terminate the rest."""
        if self._shutdown:
            return
        self._shutdown = True
        for chan in self._chans:
            try:
                chan.send(None)
            except OSError:
                pass
        deadline = time.monotonic() + (0.0 if stuck else 5.0)
        for w in self._workers:
            w.join(max(0.0, deadline - time.monotonic()))
            if w.is_alive():
                w.terminate()
                w.join()
        for chan in self._chans:
            _worker.MAIN_ENDS.discard(chan.sock)
            chan.close()

    def __del__(self):
        try:
            self._shutdown_workers()
        except Exception:
            pass
