"""DataLoader worker processes: the worker's loop, get_worker_info(), the channel between a worker
and the main process, and how a batch's tensors cross it.

Note [DataLoader workers]
Each worker is a process (from the DataLoader's multiprocessing context: fork by default on Linux,
spawn and forkserver too) joined to the main process by its own Unix socketpair. The main process
sends it tasks, (task number, the batch's indices); the worker answers each task, in the order
received, with (task number, batch), a stop marker (an iterable dataset that is done), or an
ExceptionWrapper holding the exception and its formatted traceback. Because each worker answers
its own tasks in order, the main process gets batch k by reading the next answer of the worker it
sent task k to: batches come back in the sampler's order with no reordering buffer. Tasks go to the
workers round-robin, prefetch_factor per worker outstanding.

A batch's tensors do not go through pickle. The batch is pickled with each tensor replaced by a
persistent id; the tensors' elements are copied, 64-byte aligned, into one block: a memfd (an
anonymous shared-memory file) when the block is 64 KiB or more, else the end of the message. The
memfd's descriptor crosses the socket with SCM_RIGHTS; the main process maps each tensor's part of
it as that tensor's shared storage (Note [Shared memory]; zero copies on the main side, and
is_shared() as torch's worker batches). The memfd has no name, so nothing is left in /dev/shm
whichever process dies first: the memory is freed when the last tensor over it is.

A worker ends when it receives None, or when its socket reaches end-of-file: the main process
died. Under fork a worker first closes its copies of every main-side socket (its own and other
loaders'), so the main process's death is always seen as end-of-file."""
import array
import io
import mmap
import os
import pickle
import random
import socket
import struct
import sys
import traceback

import numpy as np

from ... import _C
from ..._storage import _NP as NP_DTYPE

_HEADER = struct.Struct("<QQQQ")  # tensor table's length, the object's pickle's, a memfd follows (0/1), block length
_SHM_MIN = 1 << 16
_ALIGN = 64

# The main-side sockets of live workers: a forked worker closes its copies of them.
MAIN_ENDS = set()

_worker_info = None


class WorkerInfo:
    """What get_worker_info() returns inside a worker: id, num_workers, seed, dataset (this worker's
    copy). Read-only once made, as torch's."""
    __initialized = False

    def __init__(self, **kwargs):
        for k, v in kwargs.items():
            setattr(self, k, v)
        self.__keys = tuple(kwargs.keys())
        self.__initialized = True

    def __setattr__(self, key, val):
        if self.__initialized:
            raise RuntimeError(f"Cannot assign attributes to {self.__class__.__name__} objects")
        return super().__setattr__(key, val)

    def __repr__(self):
        items = [f"{k}={getattr(self, k)}" for k in self.__keys]
        return f"{self.__class__.__name__}({', '.join(items)})"


def get_worker_info():
    """In a DataLoader worker process: its WorkerInfo (id, num_workers, seed, dataset). In the main
    process: None."""
    return _worker_info


class KeyErrorMessage(str):
    """A KeyError's message printed as written (KeyError repr()s its argument)."""

    def __repr__(self):
        return self


class ExceptionWrapper:
    """An exception caught in a worker, with its traceback as text, re-raised in the main process
    as torch does: 'Caught ValueError in DataLoader worker process 0.\\nOriginal Traceback ...'."""

    def __init__(self, exc_info=None, where="in background"):
        if exc_info is None:
            exc_info = sys.exc_info()
        self.exc_type = exc_info[0]
        self.exc_msg = "".join(traceback.format_exception(*exc_info))
        self.where = where

    def reraise(self):
        msg = f"Caught {self.exc_type.__name__} {self.where}.\nOriginal {self.exc_msg}"
        if self.exc_type is KeyError:
            msg = KeyErrorMessage(msg)
        elif getattr(self.exc_type, "message", None):
            raise self.exc_type(message=msg)
        try:
            exception = self.exc_type(msg)
        except Exception:
            raise RuntimeError(msg) from None
        raise exception

    def __reduce__(self):  # an exception class that cannot be pickled travels as RuntimeError
        exc_type = self.exc_type
        try:
            pickle.dumps(exc_type)
        except Exception:
            exc_type = RuntimeError
        return (_rebuild_wrapper, (exc_type, self.exc_msg, self.where))


def _rebuild_wrapper(exc_type, exc_msg, where):
    w = ExceptionWrapper.__new__(ExceptionWrapper)
    w.exc_type, w.exc_msg, w.where = exc_type, exc_msg, where
    return w


class Stop:
    """A worker's answer once its iterable dataset is exhausted."""

    def __init__(self, worker_id):
        self.worker_id = worker_id


RESUME = "resume"  # a persistent worker's new epoch (and its acknowledgement)


# ---- the channel ---------------------------------------------------------------------------------

class _Pickler(pickle.Pickler):
    def __init__(self, file):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.tensors = []

    def persistent_id(self, obj):
        if isinstance(obj, _C.Tensor):
            self.tensors.append(obj)
            return len(self.tensors) - 1
        return None


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, tensors):
        super().__init__(file)
        self.tensors = tensors

    def persistent_load(self, pid):
        return self.tensors[pid]


def _dtype_name(t):
    return str(t.dtype).rsplit(".", 1)[-1]


def _shared(fd, name, shape, offset):
    """A tensor of dtype `name` and `shape` over the shared-memory file `fd` at byte `offset`: its
    own shared storage (is_shared(), as a batch from torch's workers)."""
    dtype = getattr(_C.dtype, name)
    count = 1
    for s in shape:
        count *= s
    if count == 0:
        return _C._empty(list(shape), dtype)
    return _C._from_shared(fd, offset, count * np.dtype(NP_DTYPE[name]).itemsize, dtype).view(shape)


def _over(block, name, shape, offset):
    """A tensor of dtype `name` and `shape` over `block` at byte `offset` (numpy-backed, no copy)."""
    count = 1
    for s in shape:
        count *= s
    arr = np.frombuffer(block, dtype=NP_DTYPE[name], count=count, offset=offset).reshape(shape)
    t = _C._from_numpy(arr)
    return t.view(getattr(_C.dtype, name)) if name == "bfloat16" else t


class Channel:
    """One end of a worker's socketpair: objects framed as (header, pickle, block), tensors in the
    block, the block in a memfd passed with SCM_RIGHTS when it is large."""

    def __init__(self, sock):
        self.sock = sock

    def fileno(self):
        return self.sock.fileno()

    def close(self):
        self.sock.close()

    def send(self, obj):
        buf = _BytesOut()
        p = _Pickler(buf)
        p.dump(obj)
        tensors = p.tensors
        metas, size = [], 0
        for t in tensors:
            size = -(-size // _ALIGN) * _ALIGN
            metas.append((_dtype_name(t), tuple(t.shape), size, t.requires_grad, type(t) is not _C.Tensor))
            size += t.numel() * t.element_size()
        head = pickle.dumps(metas, protocol=pickle.HIGHEST_PROTOCOL) if tensors else b""
        obj = buf.getvalue()
        if size < _SHM_MIN:
            block = bytearray(size)
            _fill(block, tensors, metas)
            self.sock.sendall(b"".join([_HEADER.pack(len(head), len(obj), 0, size), head, obj, block]))
            return
        fd = os.memfd_create("ember-batch", os.MFD_CLOEXEC)
        try:
            os.ftruncate(fd, size)
            mm = mmap.mmap(fd, size)
            _fill(mm, tensors, metas)
            mm.close()
            data = b"".join([_HEADER.pack(len(head), len(obj), 1, size), head, obj])
            n = self.sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]))])
            if n < len(data):
                self.sock.sendall(memoryview(data)[n:])
        finally:
            os.close(fd)

    def recv(self):
        """The next object; EOFError when the other end is closed."""
        hsize = _HEADER.size
        msg, anc, _, _ = self.sock.recvmsg(hsize, socket.CMSG_SPACE(4 * array.array("i").itemsize))
        fds = []
        for level, kind, data in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                a = array.array("i")
                a.frombytes(data[:len(data) - len(data) % a.itemsize])
                fds.extend(a)
        try:
            if not msg:
                raise EOFError
            if len(msg) < hsize:
                msg += self._recv_exact(hsize - len(msg))
            nhead, nobj, has_fd, block_size = _HEADER.unpack_from(msg)
            body = self._recv_exact(nhead + nobj)
            if has_fd:
                if not fds:
                    raise EOFError
                block = fds[0]
            else:
                block = self._recv_exact(block_size) if block_size else b""
            tensors = []
            if nhead:
                for name, shape, offset, requires_grad, is_param in pickle.loads(body[:nhead]):
                    t = _shared(block, name, shape, offset) if has_fd else _over(block, name, shape, offset)
                    if is_param:
                        from ...nn import Parameter
                        t = Parameter(t, requires_grad)
                    elif requires_grad:
                        t.requires_grad_(True)
                    tensors.append(t)
        finally:
            for fd in fds:
                os.close(fd)
        return _Unpickler(io.BytesIO(memoryview(body)[nhead:]), tensors).load()

    def _recv_exact(self, n):
        buf = bytearray(n)
        view = memoryview(buf)
        got = 0
        while got < n:
            k = self.sock.recv_into(view[got:], n - got)
            if k == 0:
                raise EOFError
            got += k
        return buf


class _BytesOut:
    """A pickle target that keeps its chunks (one join at the end)."""

    def __init__(self):
        self.parts = []
        self._value = None

    def write(self, b):
        self.parts.append(bytes(b))
        return len(b)

    def getvalue(self):
        if self._value is None:
            self._value = b"".join(self.parts)
        return self._value


def _fill(block, tensors, metas):
    for t, (name, shape, offset, _, _) in zip(tensors, metas):
        if t.numel():
            _over(block, name, shape, offset).copy_(t.detach())


# ---- the worker ----------------------------------------------------------------------------------

def _seed_worker(base_seed, worker_id):
    """torch's per-worker seeds: Python's random and ember's generator get base_seed + worker_id;
    numpy gets the SeedSequence state of (worker_id, base_seed) torch gives it."""
    seed = base_seed + worker_id
    random.seed(seed)
    _C.manual_seed(seed & 0xFFFFFFFFFFFFFFFF)
    ss = np.random.SeedSequence([worker_id, base_seed & 0xFFFFFFFF, base_seed >> 32])
    np.random.seed(ss.generate_state(4))
    return seed


def worker_loop(sock, make_fetcher, dataset, base_seed, init_fn, worker_id, num_workers):
    global _worker_info
    for s in list(MAIN_ENDS):  # forked: the main process's sockets are not ours to hold
        s.close()
    MAIN_ENDS.clear()
    chan = Channel(sock)
    try:
        _C.set_num_threads(1)
        seed = _seed_worker(base_seed, worker_id)
        _worker_info = WorkerInfo(id=worker_id, num_workers=num_workers, seed=seed, dataset=dataset)
        where = f"in DataLoader worker process {worker_id}"
        init_error = fetcher = None
        try:
            if init_fn is not None:
                init_fn(worker_id)
            fetcher = make_fetcher(dataset)
        except Exception:
            init_error = ExceptionWrapper(where=where)
        ended = False
        while True:
            try:
                task = chan.recv()
            except (EOFError, OSError):
                break
            if task is None:
                break
            if task == RESUME:
                if fetcher is not None and ended:
                    try:
                        fetcher = make_fetcher(dataset)
                        ended = False
                    except Exception:
                        init_error = ExceptionWrapper(where=where)
                chan.send(RESUME)
                continue
            idx, index = task
            if init_error is not None:
                data, init_error = init_error, None
            elif ended or fetcher is None:
                data = Stop(worker_id)
            else:
                try:
                    data = fetcher.fetch(index)
                except StopIteration:
                    data, ended = Stop(worker_id), True
                except Exception:
                    data = ExceptionWrapper(where=where)
            try:
                chan.send((idx, data))
            except (BrokenPipeError, ConnectionResetError):
                break
            except Exception:
                chan.send((idx, ExceptionWrapper(where=where)))
            del data
    except KeyboardInterrupt:
        pass  # the main process handles ^C
    finally:
        chan.close()
