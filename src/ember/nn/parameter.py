"""nn.Parameter: a Tensor subclass that Modules register; requires_grad=True by default."""
from .. import _C


class Parameter(_C.Tensor):
    def __init__(self, data=None, requires_grad=True):
        if data is None:
            data = _C._empty([0], _C.dtype.float32)
        super().__init__(data)
        if requires_grad:
            self.requires_grad_(True)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()

    def __reduce_ex__(self, proto):
        from ..serialization import _rebuild_parameter, _tensor_args
        return (_rebuild_parameter, _tensor_args(self))

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        r = Parameter(self.detach().clone(), self.requires_grad)
        memo[id(self)] = r
        return r


class _BufferMeta(type):
    """isinstance(t, Buffer) is true for tensors made by Buffer(...), as in torch."""

    def __instancecheck__(cls, inst):
        return isinstance(inst, _C.Tensor) and getattr(inst, "_is_buffer", False)


class Buffer(metaclass=_BufferMeta):
    """nn.Buffer(data, *, persistent=True): marks a tensor to be registered as a buffer when assigned
    to a Module attribute (persistent=False keeps it out of state_dict). Returns a plain tensor (a
    detached alias of data), as torch's does."""

    def __new__(cls, data=None, *, persistent=True):
        t = _C._empty([0], _C.dtype.float32) if data is None else data.detach()
        t.requires_grad_(data is not None and data.requires_grad)
        t._is_buffer = True
        t.persistent = persistent
        return t
