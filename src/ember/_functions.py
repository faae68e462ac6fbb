"""torch's free functions: every op the C++ op table declares with the "function" variant
(ember._C._op_table(), see cpp/ember/ops/registry.h) re-exported under its name; the Python-level
ops are declared in functional.py and _extras.py."""
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


__all__ = _table
