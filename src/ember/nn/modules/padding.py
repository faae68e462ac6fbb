"""Padding modules over F.pad, with torch's argument expansion and reprs. Each mode is one base
class; its 1d/2d/3d classes are generated from it with the dimensionality `_dim` as a class
attribute (they pad the last `_dim` dimensions, taking 2 * `_dim` padding sizes)."""
from .. import functional as F
from .module import Module

__all__ = ["CircularPad1d", "CircularPad2d", "CircularPad3d", "ConstantPad1d", "ConstantPad2d", "ConstantPad3d",
           "ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d", "ReplicationPad1d", "ReplicationPad2d",
           "ReplicationPad3d", "ZeroPad1d", "ZeroPad2d", "ZeroPad3d"]


def _ntuple(padding, n):
    if isinstance(padding, (list, tuple)):
        return tuple(padding)
    return (padding,) * n


class _PadNd(Module):
    _dim = 1
    _mode = "constant"

    def __init__(self, padding):
        super().__init__()
        self.padding = _ntuple(padding, 2 * self._dim)

    def forward(self, input):
        return F.pad(input, self.padding, self._mode)

    def extra_repr(self):
        return f"{self.padding}"


class _CircularPadNd(_PadNd):
    _mode = "circular"

    def forward(self, input):
        if input.dim() not in (self._dim + 1, self._dim + 2):
            raise ValueError(f"expected {self._dim + 1}D or {self._dim + 2}D input (got {input.dim()}D input)")
        return super().forward(input)


class _ConstantPadNd(_PadNd):
    def __init__(self, padding, value):
        super().__init__(padding)
        self.value = value

    def forward(self, input):
        return F.pad(input, self.padding, "constant", self.value)

    def extra_repr(self):
        return f"padding={self.padding}, value={self.value}"


class _ReflectionPadNd(_PadNd):
    _mode = "reflect"


class _ReplicationPadNd(_PadNd):
    _mode = "replicate"


class _ZeroPadNd(_ConstantPadNd):
    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self):
        return f"{self.padding}"


def _by_dim(name, *bases):
    """The classes `name`1d, `name`2d, `name`3d: `bases` (a base class, or a list of the three
    per-dimension bases) with `_dim` set to 1, 2, 3."""
    return [type(bases[0])(f"{name}{d}d", tuple(b[d - 1] if isinstance(b, list) else b for b in bases),
                           {"_dim": d, "__module__": __name__, "__qualname__": f"{name}{d}d"})
            for d in (1, 2, 3)]


CircularPad1d, CircularPad2d, CircularPad3d = _by_dim("CircularPad", _CircularPadNd)
ConstantPad1d, ConstantPad2d, ConstantPad3d = _by_dim("ConstantPad", _ConstantPadNd)
ReflectionPad1d, ReflectionPad2d, ReflectionPad3d = _by_dim("ReflectionPad", _ReflectionPadNd)
ReplicationPad1d, ReplicationPad2d, ReplicationPad3d = _by_dim("ReplicationPad", _ReplicationPadNd)
# torch's ZeroPadNd are ConstantPadNd subclasses
ZeroPad1d, ZeroPad2d, ZeroPad3d = _by_dim("ZeroPad", _ZeroPadNd, [ConstantPad1d, ConstantPad2d, ConstantPad3d])
