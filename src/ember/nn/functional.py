"""ember.nn.functional: stateless functions under torch.nn.functional's names."""
from .. import _C

relu = _C.relu
sigmoid = _C.sigmoid
tanh = _C.tanh


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    if dim is None:
        dim = 0 if input.dim() in (0, 1, 3) else 1  # torch's legacy implicit-dim rule
    return _C.softmax(input if dtype is None else input.to(dtype), dim)


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    if dim is None:
        dim = 0 if input.dim() in (0, 1, 3) else 1
    return _C.log_softmax(input if dtype is None else input.to(dtype), dim)


def one_hot(tensor, num_classes=-1):
    return _C.one_hot(tensor, num_classes)
