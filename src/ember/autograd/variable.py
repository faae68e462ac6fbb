"""torch.autograd.Variable: the pre-0.4 wrapper, kept (as in torch) as a name that returns a plain tensor.

Variable(t) gives a new leaf that shares t's data (like t.detach()), with requires_grad as asked;
isinstance(x, Variable) is true for every tensor. volatile= is accepted and ignored with torch's warning.
"""
import warnings

from .. import _C


class VariableMeta(type):
    def __instancecheck__(cls, other):
        return isinstance(other, _C.Tensor)


class Variable(metaclass=VariableMeta):
    def __new__(cls, data=None, requires_grad=False, volatile=False):
        if volatile:
            warnings.warn("volatile was removed and now has no effect. Use `with torch.no_grad():` instead.",
                          UserWarning, stacklevel=2)
        if data is None:
            from .._factories import get_default_dtype
            return _C._empty([0], get_default_dtype())
        if not isinstance(data, _C.Tensor):
            raise TypeError(f"Variable data has to be a tensor, but got {type(data).__name__}")
        t = data.detach()
        if requires_grad:
            t.requires_grad_(True)
        return t


__all__ = ["Variable"]
