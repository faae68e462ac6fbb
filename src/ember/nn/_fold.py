"""F.unfold and F.fold as torch writes them: Python functions that make every size argument a pair
(torch's _pair) and call im2col / col2im (torch._C._nn.im2col / col2im; here _C._im2col /
_C._col2im, cpp/ember/ops/fold.cpp, which checks the pairs and the shapes with torch's messages).
The pairs are read as torch's argument parser reads a tuple of ints, TypeError messages included.
functional.py re-exports both."""
import collections.abc
import operator

from .. import _C

Tensor = _C.Tensor


def _pair(x):
    """torch.nn.modules.utils._pair: an iterable as a tuple, anything else twice."""
    if isinstance(x, collections.abc.Iterable):
        return tuple(x)
    return (x, x)


def _type_name(x):
    if isinstance(x, Tensor):
        return "Tensor"
    t = type(x)
    return f"numpy.{t.__name__}" if t.__module__ == "numpy" else t.__name__


def _ints(values, fn, name, pos):
    """A tuple of ints as torch's parser takes it: Python ints and anything with __index__ (numpy
    integers, one-element integer tensors); a bool only after the first element."""
    res = []
    for i, v in enumerate(values):
        try:
            if i == 0 and isinstance(v, bool):
                raise TypeError
            n = operator.index(v)
        except TypeError:
            if i == 0:
                raise TypeError(f"{fn}(): argument '{name}' (position {pos}) must be tuple of ints, but found element "
                                f"of type {_type_name(v)} at pos 0") from None
            raise TypeError(f"{fn}(): argument '{name}' failed to unpack the object at pos {i + 1} with error "
                            f"\"type must be tuple of ints,but got {_type_name(v)}\"") from None
        if not -2**63 <= n < 2**63:
            raise TypeError(f"{fn}(): argument '{name}' failed to unpack the object at pos {i + 1} with error "
                            "\"Overflow when unpacking long long\"")
        res.append(n)
    return res


def _check_input(input, fn):
    if not isinstance(input, Tensor):
        raise TypeError(f"{fn}(): argument 'input' (position 1) must be Tensor, not {type(input).__name__}")


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """Extracts sliding local blocks: (N, C, H, W) or (C, H, W) -> (N, C * kh * kw, L) or
    (C * kh * kw, L), column l holding the values of block l (zero padding included)."""
    pairs = [_pair(kernel_size), _pair(dilation), _pair(padding), _pair(stride)]
    _check_input(input, "im2col")
    names = ("kernel_size", "dilation", "padding", "stride")
    return _C._im2col(input, *(_ints(v, "im2col", n, i + 2) for i, (n, v) in enumerate(zip(names, pairs))))


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """Combines sliding local blocks into a tensor: (N, C * kh * kw, L) or (C * kh * kw, L) ->
    (N, C, *output_size) or (C, *output_size), values of overlapping blocks summed."""
    pairs = [_pair(output_size), _pair(kernel_size), _pair(dilation), _pair(padding), _pair(stride)]
    _check_input(input, "col2im")
    names = ("output_size", "kernel_size", "dilation", "padding", "stride")
    return _C._col2im(input, *(_ints(v, "col2im", n, i + 2) for i, (n, v) in enumerate(zip(names, pairs))))
