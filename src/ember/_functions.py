"""torch's free functions: every op the C++ op table declares with the "function" variant
(ember._C._op_table(), see cpp/ember/ops/registry.h) re-exported under its name, plus the few
functions that are plain Python."""
from . import _C

Tensor = _C.Tensor


def _table_functions():
    names = []
    for schema, variants, _file in _C._op_table():
        name = schema.split("(")[0].split(".")[0]
        if "function" in variants.split() and name not in names:
            names.append(name)
    return names


_table = _table_functions()
globals().update({n: getattr(_C, n) for n in _table})


def norm(input, p="fro", dim=None, keepdim=False, dtype=None):
    return input.norm(p, dim, keepdim)


def dot(a, b):
    if a.dim() != 1 or b.dim() != 1:
        raise RuntimeError(f"1D tensors expected, but got {a.dim()}D and {b.dim()}D tensors")
    return matmul(a, b)  # noqa: F821 (from the op table)


__all__ = _table + ["norm", "dot"]
