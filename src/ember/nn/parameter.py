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
