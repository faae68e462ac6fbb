"""The Python side of the op table. Most ops are declared in C++ (EMBER_OP in cpp/ember/ops/*.cpp,
listed by ember._C._op_table()); the few that torch itself writes in Python (torch/functional.py:
einsum, tensordot, cdist, ...) are declared here with the same schema syntax:

    @declare("tensordot(Tensor a, Tensor b, int dims=2, *, Tensor? out=None) -> Tensor")
    def tensordot(a, b, dims=2, out=None): ...

`op_table()` is the union that tests, the API reference and the stubs read."""
from . import _C

_PY_OPS = []  # (schema, variants, module, function)


def declare(schema, variants="function"):
    """Register a Python-level op; with the "method" variant it also becomes Tensor.<name>."""
    def deco(fn):
        _PY_OPS.append((schema, variants, fn.__module__, fn))
        if "method" in variants.split():
            setattr(_C.Tensor, schema.split("(")[0].split(".")[0], fn)
        return fn
    return deco


def return_type(name, fields):
    """A named tuple type for a Python-level op's results, as torch.return_types.<name>, registered
    next to the C++ ops' ones (ember._C.return_types); its `out_type` is torch's <name>_out, the
    type an out=(...) call returns."""
    import collections
    t = collections.namedtuple(name, fields)
    t.out_type = collections.namedtuple(name + "_out", fields)
    for typ in (t, t.out_type):
        typ.__module__ = "ember.return_types"
        setattr(_C.return_types, typ.__name__, typ)
    return t


def op_table():
    """Every op declaration: (schema, variants, where it is defined)."""
    return [tuple(r) for r in _C._op_table()] + [(s, v, m) for s, v, m, _ in _PY_OPS]


def python_ops():
    """name -> function for the Python-level ops."""
    return {s.split("(")[0].split(".")[0]: f for s, _, _, f in _PY_OPS}
