"""ember.multiprocessing (torch.multiprocessing): Python's multiprocessing, with ember tensors sent
between processes through shared memory (Note [Shared memory] in cpp/ember/core/storage.h).

Sending a tensor through a multiprocessing Queue or Pipe, or as a spawned Process's argument, moves
its storage into shared memory (Tensor.share_memory_(), in place, as torch does) and sends the
storage's memfd; the receiver maps the same pages, so writes on either side are seen by both
(Hogwild training: `model.share_memory()`, then processes that train it in place). A tensor over
memory ember does not own (from_numpy, frombuffer) is sent as a shared copy. Plain pickle (files,
ember.save) still copies the values.

The sharing strategies are torch's names; ember's memfds have no names, so nothing is left behind
whichever process dies first, and 'file_system' behaves as 'file_descriptor'."""
import multiprocessing
import os
import sys
import traceback
from multiprocessing import *  # noqa: F401,F403
from multiprocessing import reduction as _reduction

from .. import _C

__all__ = ["set_sharing_strategy", "get_sharing_strategy", "get_all_sharing_strategies", "spawn",
           "start_processes", "ProcessContext", "ProcessRaisedException", "ProcessExitedException",
           "SpawnContext"] + list(multiprocessing.__all__)

_STRATEGIES = {"file_descriptor", "file_system"}
_strategy = "file_descriptor"


def get_all_sharing_strategies():
    return set(_STRATEGIES)


def get_sharing_strategy():
    return _strategy


def set_sharing_strategy(new_strategy):
    global _strategy
    if new_strategy not in _STRATEGIES:
        raise AssertionError(f"invalid sharing strategy {new_strategy!r}; expected one of {sorted(_STRATEGIES)}")
    _strategy = new_strategy


# ---- tensors across processes --------------------------------------------------------------------

def _reduce_tensor(t):
    if t.requires_grad and not t.is_leaf:
        raise RuntimeError("Cowardly refusing to serialize non-leaf tensor which requires_grad, since autograd does "
                           "not support crossing process boundaries.  If you just want to transfer the data, call "
                           "detach() on the tensor before serializing (e.g., putting it on the queue).")
    src = t
    try:
        _C._share_memory(src)
    except ValueError:  # numpy's or a buffer's memory: a shared copy
        src = t.detach().clone()
        _C._share_memory(src)
    fd, offset, nbytes = _C._shared_handle(src)
    from ..nn import Parameter
    return (_rebuild_tensor, (_reduction.DupFd(fd), offset, nbytes, src.dtype, tuple(src.shape), tuple(src.stride()),
                              src.storage_offset(), t.requires_grad, isinstance(t, Parameter)))


def _rebuild_tensor(dupfd, offset, nbytes, dtype, shape, stride, storage_offset, requires_grad, is_param):
    fd = dupfd.detach()
    try:
        flat = _C._from_shared(fd, offset, nbytes, dtype)
    finally:
        os.close(fd)
    numel = flat.numel()
    whole = storage_offset == 0 and _numel(shape) == numel and tuple(stride) == _contiguous_strides(shape)
    t = flat.view(shape) if whole else _C._as_strided(flat, list(shape), list(stride), storage_offset)
    if is_param:
        from ..nn import Parameter
        return Parameter(t, requires_grad)
    if requires_grad:
        t = t.detach().requires_grad_(True)
    return t


def _numel(shape):
    n = 1
    for s in shape:
        n *= s
    return n


def _contiguous_strides(shape):
    out, acc = [], 1
    for s in reversed(shape):
        out.append(acc)
        acc *= max(s, 1)
    return tuple(reversed(out))


def _register():
    from ..nn import Parameter
    for cls in (_C.Tensor, Parameter):
        _reduction.ForkingPickler.register(cls, _reduce_tensor)


_register()


# ---- spawn ---------------------------------------------------------------------------------------

class ProcessException(Exception):
    def __init__(self, msg, error_index, pid):
        super().__init__(msg)
        self.msg, self.error_index, self.pid = msg, error_index, pid

    def __reduce__(self):
        return type(self), (self.msg, self.error_index, self.pid)


class ProcessRaisedException(ProcessException):
    """A process started by spawn() raised; the message holds its traceback."""


class ProcessExitedException(ProcessException):
    """A process started by spawn() exited with a non-zero code or a signal."""

    def __init__(self, msg, error_index, error_pid, exit_code, signal_name=None):
        super().__init__(msg, error_index, error_pid)
        self.exit_code, self.signal_name = exit_code, signal_name

    def __reduce__(self):
        return type(self), (self.msg, self.error_index, self.pid, self.exit_code, self.signal_name)


def _wrap(fn, i, args, error_queue):
    try:
        fn(i, *args)
    except KeyboardInterrupt:
        pass
    except Exception:
        error_queue.put(traceback.format_exc())
        sys.exit(1)


class ProcessContext:
    def __init__(self, processes, error_queues):
        self.processes, self.error_queues = processes, error_queues
        self.sentinels = {p.sentinel: i for i, p in enumerate(processes)}

    def pids(self):
        return [p.pid for p in self.processes]

    def join(self, timeout=None):
        """True once every process has exited cleanly; False while some run (after `timeout`
        seconds); raises for the first one that failed, after terminating the others."""
        if not self.sentinels:
            return True
        ready = multiprocessing.connection.wait(list(self.sentinels), timeout=timeout)
        failed = None
        for s in ready:
            i = self.sentinels.pop(s)
            p = self.processes[i]
            p.join()
            if p.exitcode != 0 and failed is None:
                failed = i
        if failed is None:
            return not self.sentinels
        for p in self.processes:
            if p.is_alive():
                p.terminate()
            p.join()
        p = self.processes[failed]
        if self.error_queues[failed].empty():
            code = p.exitcode
            if code < 0:
                import signal
                name = signal.Signals(-code).name
                raise ProcessExitedException(f"process {failed} terminated with signal {name}", failed, p.pid, code, name)
            raise ProcessExitedException(f"process {failed} terminated with exit code {code}", failed, p.pid, code)
        tb = self.error_queues[failed].get()
        raise ProcessRaisedException(f"\n\n-- Process {failed} terminated with the following error:\n{tb}", failed, p.pid)


SpawnContext = ProcessContext


def start_processes(fn, args=(), nprocs=1, join=True, daemon=False, start_method="spawn"):
    """Run fn(i, *args) for i in range(nprocs), each in its own process (torch.multiprocessing's)."""
    ctx = multiprocessing.get_context(start_method)
    processes, queues = [], []
    for i in range(nprocs):
        q = ctx.SimpleQueue()
        p = ctx.Process(target=_wrap, args=(fn, i, args, q), daemon=daemon)
        p.start()
        processes.append(p)
        queues.append(q)
    context = ProcessContext(processes, queues)
    if not join:
        return context
    while not context.join():
        pass
    return None


def spawn(fn, args=(), nprocs=1, join=True, daemon=False, start_method="spawn"):
    return start_processes(fn, args, nprocs, join, daemon, start_method)
