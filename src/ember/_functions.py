"""torch's free functions that need keyword handling in Python (reductions, split, clamp ...);
the rest are the C++ functions of ember._C re-exported as they are."""
from . import _C
from ._C import (abs, add, floor_divide, remainder, bmm, cat, clamp, clone, cos, detach, div, eq, exp, flatten, gather, ge, gt, index_add,
                 index_select, le, log, log_softmax, logical_not, lt, matmul, maximum, minimum, mm, mul, narrow, ne, neg,
                 nonzero, permute, pow, relu, reshape, scatter_add, select, sigmoid, sign, sin, softmax, sqrt, squeeze,
                 stack, sub, t, tanh, transpose, unsqueeze, where)

Tensor = _C.Tensor


def _method(name):
    meth = getattr(Tensor, name)

    def fn(input, *args, **kwargs):
        return meth(input, *args, **kwargs)
    fn.__name__ = name
    return fn


sum = _method("sum")
mean = _method("mean")
prod = _method("prod")
var = _method("var")
std = _method("std")
max = _method("max")
min = _method("min")
argmax = _method("argmax")
argmin = _method("argmin")
split = _method("split")
chunk = _method("chunk")
clip = clamp


def norm(input, p="fro", dim=None, keepdim=False, dtype=None):
    return input.norm(p, dim, keepdim)


def square(input):
    return input * input


def dot(a, b):
    if a.dim() != 1 or b.dim() != 1:
        raise RuntimeError(f"1D tensors expected, but got {a.dim()}D and {b.dim()}D tensors")
    return matmul(a, b)


__all__ = ["abs", "add", "bmm", "cat", "clamp", "clip", "clone", "cos", "detach", "div", "eq", "exp", "flatten",
           "gather", "ge", "gt", "index_add", "index_select", "le", "log", "log_softmax", "logical_not", "lt", "matmul",
           "maximum", "minimum", "mm", "mul", "narrow", "ne", "neg", "nonzero", "permute", "pow", "relu", "reshape",
           "scatter_add", "select", "sigmoid", "sign", "sin", "softmax", "sqrt", "squeeze", "stack", "sub", "t", "tanh",
           "transpose", "unsqueeze", "where", "sum", "mean", "prod", "var", "std", "max", "min", "argmax", "argmin",
           "split", "chunk", "square", "dot", "norm", "floor_divide", "remainder"]
