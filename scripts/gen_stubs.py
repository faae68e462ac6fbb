"""Generates the type stubs of the extension module: src/ember/_C.pyi (and the src/ember/py.typed marker).

    python scripts/gen_stubs.py           # (re)write src/ember/_C.pyi and src/ember/py.typed
    python scripts/gen_stubs.py --check   # exit 1 when the checked-in stub is out of date

Where the types come from:
  * ops: the op table (ember._op_registry.op_table(), i.e. the EMBER_OP schemas of cpp/ember/ops and the
    Python-level declarations). Each schema gives ember.X / Tensor.X / Tensor.X_ / operator stubs with torch's
    parameter names, defaults, keyword-only markers and return types (Tensor, named tuples, tuples, bool);
    several declarations of one name become @overload's in table order (the order the bindings try them).
  * everything else on the pybind classes (Tensor, Node, dtype) and the module's other functions: pybind11's
    docstring signatures; Python functions and properties attached to Tensor from src/ember: their
    inspect.signature. Where neither says more than `object`, _RETURNS below gives the type.

The output depends only on the op table and the classes (members sorted by name), so it is deterministic;
tests/test_docs.py fails when the checked-in stub differs from a fresh run.

The schema parser it shares with scripts/gen_api_docs.py and scripts/coverage.py is scripts/_optable_tools.py.
"""
from __future__ import annotations

import argparse
import inspect
import keyword
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # for this one import: see scripts/_optable_tools.py
from _optable_tools import (  # noqa: E402
    ROOT,
    Param,
    Schema,
    grouped_ops,
    is_cpp_source,
    split_top,
    up_to_date,
    variants_of,
)

del sys.path[0]

STUB = ROOT / "src" / "ember" / "_C.pyi"
PY_TYPED = ROOT / "src" / "ember" / "py.typed"


# --------------------------------------------------------------------------------------------- types
B = "builtins."
NUMBER = "_Number"
SEQ = "collections.abc.Sequence"

# Return types the introspected signatures cannot tell (pybind says `object`, or a Python function has no
# annotation). Keyed by "Class.member" or by "member" for any class; a value starting with "@" is a complete
# hand-written block of overloads.
_RETURNS = {
    "Tensor.shape": "Size",
    "Tensor.device": "_device",
    "Tensor.grad": "Tensor | None",
    "Tensor.grad_fn": "Node | None",
    "Tensor.item": NUMBER,
    "Tensor.numpy": "numpy.ndarray",
    "Tensor.tolist": "typing.Any",
    "Tensor.__iter__": "collections.abc.Iterator[Tensor]",
    "Tensor.__contains__": B + "bool",
    "Tensor.__array__": "numpy.ndarray",
    "Tensor.get_device": B + "int",
    "Tensor.type": "typing.Any",
    "Tensor.to": "Tensor",
    "Tensor.type_as": "Tensor",
    "Tensor.cpu": "Tensor",
    "Tensor.cuda": "Tensor",
    "Tensor.norm": "Tensor",
    "Tensor.int": "Tensor",
    "Tensor.new": "Tensor",
    "Tensor.new_empty": "Tensor",
    "Tensor.new_full": "Tensor",
    "Tensor.new_ones": "Tensor",
    "Tensor.new_tensor": "Tensor",
    "Tensor.new_zeros": "Tensor",
    "Tensor.size": "@size",
    "Tensor.stride": "@stride",
    "Node.next_functions": B + "tuple[" + B + "tuple[Node | None, " + B + "int], ...]",
    "Node.variable": "Tensor",
    "Generator.device": "_device",
    "__repr__": B + "str",
    "__str__": B + "str",
    "__format__": B + "str",
}

_BLOCKS = {
    "size": [
        "@typing.overload",
        "def size(self, dim: None = None) -> Size: ...",
        "@typing.overload",
        "def size(self, dim: " + B + "int) -> " + B + "int: ...",
    ],
    "stride": [
        "@typing.overload",
        "def stride(self, dim: None = None) -> " + B + "tuple[" + B + "int, ...]: ...",
        "@typing.overload",
        "def stride(self, dim: " + B + "int) -> " + B + "int: ...",
    ],
}


_HAS_GENERATOR = False  # ember._C binds a Generator class (set by generate())
_C_CLASSES = {"Tensor", "Node"}  # the classes of ember._C (set by generate())


def schema_param_type(p: Param, numbers: bool, index: int):
    """The Python type a schema parameter accepts (see `convert` in cpp/bindings/op_dispatch.cpp)."""
    b = p.base
    if p.list_n is not None:
        if b == "Tensor":
            t = SEQ + "[Tensor]"
        else:
            t = SEQ + "[" + B + "int]"
            if p.list_n >= 1:  # int[1]: a single int is accepted too
                t = B + "int | " + t
    elif b == "Tensor":
        # "numbers": tensor operands after the first also take Python numbers
        t = "Tensor | " + NUMBER if numbers and index > 0 and p.name != "out" else "Tensor"
    elif b == "Scalar":
        t = NUMBER + " | Tensor"  # a one-element tensor stands for its value
    elif b in ("int", "float", "bool", "str"):
        t = B + b
    elif b == "ScalarType":
        t = "_dtype"
    elif b == "Device":
        t = "_device | " + B + "str | " + B + "int"
    elif b == "Generator" and _HAS_GENERATOR:
        t = "Generator"
    else:  # Layout, MemoryFormat: accepted and ignored
        t = "typing.Any"
    if p.optional or p.default == "None":
        t += " | None"
    return t


def schema_return_type(s: Schema, tuple_names: dict):
    r = s.returns
    if not r:
        return "None"
    if s.ret_fields:
        if all(n for _, n in s.ret_fields):
            return tuple_names[(s.name, tuple(n for _, n in s.ret_fields))]
        return B + "tuple[" + ", ".join(_simple_return(t) for t, _ in s.ret_fields) + "]"
    return _simple_return(r)


def _simple_return(r):
    if r == "Tensor":
        return "Tensor"
    if r == "Tensor[]":
        return B + "tuple[Tensor, ...]"
    if r in ("bool", "int", "float", "str"):
        return B + r
    if r == "Scalar":
        return NUMBER
    return "typing.Any"


def pyname(name):
    return name + "_" if keyword.iskeyword(name) else name


def schema_params(s: Schema, method: bool, numbers: bool, drop_out=False):
    """The parameter list of a stub for schema `s` (a method drops the schema's first parameter, self)."""
    params = s.params[1:] if method else s.params
    offset = 1 if method else 0
    if drop_out:
        params = [p for p in params if p.name != "out"]
    parts = ["self"] if method else []
    star = False
    for k, p in enumerate(params):
        t = schema_param_type(p, numbers, k + offset)
        if p.varargs:
            # "Tensor[] *tensors": f(a, b) and f([a, b]) are both accepted
            el = "Tensor" if p.base == "Tensor" else B + "int"
            parts.append(f"*{pyname(p.name)}: {el} | {SEQ}[{el}]")
            star = True
            continue
        if p.kwonly and not star:
            parts.append("*")
            star = True
        # an optional without a default takes one only when no required positional follows it
        # (convolution's `Tensor? bias` comes before required ints)
        later_required = any(q.default is None and not q.optional and not q.kwonly and not q.varargs
                             for q in params[k + 1:])
        d = " = ..." if (p.default is not None or (p.optional and not later_required)) else ""
        parts.append(f"{pyname(p.name)}: {t}{d}")
    # a parameter named like a Python keyword (random_'s `from`) can only be passed by position
    kw = [i for i, part in enumerate(parts) if part.split(":")[0].endswith("_") and
          keyword.iskeyword(part.split(":")[0][:-1])]
    if kw and "*" not in parts[:kw[-1]] and not any(q.startswith("*") for q in parts[:kw[-1]]):
        parts.insert(kw[-1] + 1, "/")
    return parts


def spread_variant(s: Schema, method: bool):
    """torch's varargs form x.view(2, 3): a leading int[] parameter may be spread out (bind() in op_dispatch.cpp)."""
    params = s.params[1:] if method else s.params
    if not params or params[0].kwonly:
        return None
    p = params[0]
    if p.base != "int" or p.list_n != 0:
        return None
    if len([q for q in params if not q.kwonly and q.default is None and not q.optional]) > 1:
        return None  # other required positionals would follow the spread ints
    rest = [q for q in params[1:]]
    parts = ["self"] if method else []
    parts.append(f"*{pyname(p.name)}: {B}int")
    for q in rest:
        parts.append(f"{pyname(q.name)}: {schema_param_type(q, False, 1)} = ...")
    return parts


def op_defs(name, decls, kind, tuple_names):
    """Stub lines for one op-table binding. kind: function | method | inplace | dunder (with the dunder name)."""
    method = kind != "function"
    sigs = []
    for s, vs, _ in decls:
        if method and (not s.params or s.params[0].base != "Tensor" or s.params[0].list_n is not None):
            continue
        numbers = "numbers" in vs
        ret = schema_return_type(s, tuple_names)
        if kind == "inplace":
            sigs.append((schema_params(s, True, numbers, drop_out=True), "Tensor"))
        else:
            sigs.append((schema_params(s, method, numbers), ret))
        sp = spread_variant(s, method)
        if sp is not None and kind in ("function", "method", "inplace"):
            sigs.append((sp, "Tensor" if kind == "inplace" else ret))
    fname = name if kind == "function" else name if kind == "method" else name + "_" if kind == "inplace" else kind
    if kind.startswith("__"):
        return dunder_defs(kind, decls)
    kept = []
    for sg in sigs:
        if not any(_subsumes(k[0], sg[0]) for k in kept):
            kept.append(sg)
    sigs = kept
    lines = []
    for params, ret in sigs:
        if len(sigs) > 1:
            lines.append("@typing.overload")
        lines.append(f"def {fname}({', '.join(params)}) -> {ret}: ...")
    return lines


def _split_param(p):
    decl, _, default = p.partition(" = ")
    name, _, ty = decl.partition(": ")
    return name, frozenset(ty.split(" | ")), bool(default)


def _subsumes(a, b):
    """Parameter list `a` accepts every call `b` accepts (b would be an unreachable overload after a)."""
    if len(a) != len(b):
        return False
    for pa, pb in zip(a, b):
        na, ta, da = _split_param(pa)
        nb, tb, db = _split_param(pb)
        if na != nb or da != db or not tb <= ta:
            return False
    return True


_UNARY_DUNDERS = {"__neg__", "__abs__", "__invert__", "__pos__"}


def dunder_defs(dunder, decls):
    if dunder in _UNARY_DUNDERS:
        return [f"def {dunder}(self) -> Tensor: ..."]
    if dunder in ("__eq__", "__ne__"):  # torch's stubs do the same: a Tensor, not object's bool
        return [f"def {dunder}(self, other: typing.Any) -> Tensor: ...  # type: ignore[override]"]
    return [f"def {dunder}(self, other: Tensor | {NUMBER}) -> Tensor: ..."]


# --------------------------------------------------------------------------------------------- pybind docstrings
_BUILTIN_TYPES = {"bool", "int", "float", "str", "bytes", "list", "tuple", "dict", "set", "object", "None"}
_TOKEN = re.compile(r"[A-Za-z_][\w.]*")


def translate_type(t):
    """A pybind11 docstring type as the stub writes it (a C++ type pybind11 cannot name becomes typing.Any)."""
    t = re.sub(r"[A-Za-z_]\w*(?:::[A-Za-z_]\w*)+\s*\**", "typing.Any", t)
    if re.search(r"[^\w.\[\], |]", t):
        return "typing.Any"

    def sub(m):
        n = m.group(0)
        end = m.end()
        nxt = m.string[end:end + 1]
        if n in ("Tensor", "ember._C.Tensor"):
            return "Tensor"
        if n in ("ember._C.dtype", "dtype"):
            return "_dtype"
        if n.startswith("ember._C.") and n[len("ember._C."):] in _C_CLASSES:
            return n[len("ember._C."):]
        if n in _C_CLASSES:
            return n
        if n == "Number":
            return NUMBER
        if n == "object":
            return "typing.Any"
        if n == "None":
            return "None"
        if n in ("list", "set") and nxt != "[":
            return B + n + "[typing.Any]"
        if n == "dict" and nxt != "[":
            return B + "dict[typing.Any, typing.Any]"
        if n == "tuple" and nxt != "[":
            return B + "tuple[typing.Any, ...]"
        if n in _BUILTIN_TYPES:
            return B + n
        if n.startswith(("typing.", "collections.abc.", "numpy.")):
            return n
        return "typing.Any"
    return _TOKEN.sub(sub, t)


_PYBIND_SIG = re.compile(r"^\s*(?:\d+\.\s+)?(\w+)\((.*)\)\s*->\s*(.+?)\s*$")


def pybind_signatures(doc):
    """[(params text, return text)] from a pybind11 docstring (one per overload)."""
    if not doc:
        return []
    lines = doc.splitlines()
    if len(lines) > 1 and lines[1].strip() == "Overloaded function.":
        cand = [ln for ln in lines[2:] if re.match(r"^\d+\.\s", ln)]
    else:
        cand = lines[:1]
    out = []
    for ln in cand:
        m = _PYBIND_SIG.match(ln)
        if m:
            out.append((m.group(2), m.group(3)))
    return out


def pybind_params(ptext, method):
    parts = split_top(ptext)
    out = []
    positional_only = False
    for k, p in enumerate(parts):
        if method and k == 0:
            out.append("self")
            continue
        if p == "/":
            positional_only = False  # pybind11 marked it itself
            out.append("/")
            continue
        if p.startswith("**"):
            out.append(p.split(":")[0].strip() + ": typing.Any")
            continue
        if p.startswith("*"):
            nm = p.split(":")[0].strip()
            out.append(nm + ": typing.Any")
            continue
        decl, eq, _ = p.partition("=")
        nm, _, ty = decl.partition(":")
        nm = nm.strip()
        ty = translate_type(ty.strip()) if ty.strip() else "typing.Any"
        if re.fullmatch(r"arg\d+", nm):
            positional_only = True  # pybind11 has no name for it: positional only
        out.append(f"{nm}: {ty}" + (" = ..." if eq else ""))
    if positional_only:
        last = max(i for i, p in enumerate(out) if re.match(r"arg\d+:", p))
        out.insert(last + 1, "/")
    return out


def pybind_defs(name, obj, method, ret_override=None):
    sigs = pybind_signatures(getattr(obj, "__doc__", None))
    if not sigs:
        params = ["self", "*args: typing.Any", "**kwargs: typing.Any"] if method else [
            "*args: typing.Any", "**kwargs: typing.Any"]
        ret = "None" if name == "__init__" else ret_override or "typing.Any"
        return [f"def {name}({', '.join(params)}) -> {ret}: ..."]
    lines = []
    for ptext, rtext in sigs:
        if len(sigs) > 1:
            lines.append("@typing.overload")
        ret = ret_override or translate_type(rtext)
        if name == "__init__":
            ret = "None"
        lines.append(f"def {name}({', '.join(pybind_params(ptext, method))}) -> {ret}: ...")
    return lines


def python_defs(name, fn, ret):
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return [f"def {name}(self, *args: typing.Any, **kwargs: typing.Any) -> {ret}: ..."]
    parts, star = [], False
    for k, p in enumerate(sig.parameters.values()):
        if k == 0 and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            parts.append("self")
            continue
        if p.kind == p.VAR_POSITIONAL:
            parts.append(f"*{p.name}: typing.Any")
            star = True
            continue
        if p.kind == p.VAR_KEYWORD:
            parts.append(f"**{p.name}: typing.Any")
            continue
        if p.kind == p.KEYWORD_ONLY and not star:
            parts.append("*")
            star = True
        d = " = ..." if p.default is not p.empty else ""
        parts.append(f"{p.name}: typing.Any{d}")
    if parts and parts[0] != "self":
        parts.insert(0, "self")
    return [f"def {name}({', '.join(parts)}) -> {ret}: ..."]


def _annotation_text(fn):
    try:
        ann = inspect.signature(fn).return_annotation
    except (TypeError, ValueError):
        return None
    if ann is inspect.Signature.empty:
        return None
    if isinstance(ann, str):
        return ann
    return getattr(ann, "__name__", None)


def return_override(cls_name, member):
    return _RETURNS.get(f"{cls_name}.{member}") or _RETURNS.get(member)


# --------------------------------------------------------------------------------------------- classes
def class_member_lines(cls, cls_name, op_members, skip=()):
    """Stub lines for the members of a pybind class: properties, pybind methods, Python functions attached
    from src/ember, and `op_members` (name -> lines from the op table) for what the op table bound."""
    from ember._op_registry import python_ops
    py_ops = python_ops()
    names = sorted(set(vars(cls)) | set(op_members))
    out = []
    for n in names:
        if n in skip or n in ("__dict__", "__doc__", "__module__", "__weakref__", "_pybind11_conduit_v1_",
                              "__hash__", "__getstate__", "__setstate__", "__entries", "__members__"):
            continue
        v = vars(cls).get(n)
        ov = return_override(cls_name, n)
        if ov and ov.startswith("@"):
            out += _BLOCKS[ov[1:]]
            continue
        if v is None or type(v).__name__ == "method_descriptor":
            if n in op_members:
                out += op_members[n]
            continue
        if isinstance(v, property):
            out += property_lines(cls_name, n, v)
        elif isinstance(v, cls):  # enum value (dtype.float32)
            out.append(f"{n}: typing.ClassVar[_dtype]")
        elif inspect.isfunction(v):
            if n in py_ops and n in op_members:  # a Python-level op declared with the "method" variant
                out += op_members[n]
                continue
            ret = ov or _annotation_text(v) or ("builtins.bool" if n.startswith("is_") else "typing.Any")
            out += python_defs(n, v, ret)
        elif type(v).__name__ in ("instancemethod", "builtin_function_or_method") or callable(v):
            target = getattr(v, "__func__", v)
            out += pybind_defs(n, target, True, ov)
        else:
            out.append(f"{n}: {B}{type(v).__name__}")
    return out


def property_lines(cls_name, name, prop):
    ov = return_override(cls_name, name)
    if ov:
        ret = ov
    else:
        sigs = pybind_signatures(getattr(prop.fget, "__doc__", None) and name + (prop.fget.__doc__ or ""))
        if sigs:
            ret = translate_type(sigs[0][1])
        else:
            ret = _annotation_text(prop.fget) if inspect.isfunction(prop.fget) else None
            ret = ret or (B + "bool" if name.startswith("is_") else "typing.Any")
    lines = ["@property", f"def {name}(self) -> {ret}: ..."]
    if prop.fset is not None:
        lines += [f"@{name}.setter", f"def {name}(self, value: {ret}) -> None: ..."]
    return lines


# --------------------------------------------------------------------------------------------- the stub
HEADER = '''"""Type stubs of ember._C (the C++ extension). Generated by scripts/gen_stubs.py from the op table and the
pybind11 classes: do not edit; run `python scripts/gen_stubs.py` after adding or changing an op."""
# ruff: noqa: E501
import builtins
import collections.abc
import typing

import numpy

from ember._tensor import Size
from ember._tensor import device as _device

_Number = builtins.int | builtins.float | builtins.bool
'''


def generate():
    global _HAS_GENERATOR
    import ember
    from ember import _C

    global _C_CLASSES
    _HAS_GENERATOR = isinstance(getattr(_C, "Generator", None), type)
    _C_CLASSES = {n for n in dir(_C) if isinstance(getattr(_C, n), type) and n != "dtype"}
    groups = grouped_ops()
    cpp_groups = {n: [d for d in decls if is_cpp_source(d[2])] for n, decls in groups.items()}

    # Named tuples returned by ops (ember._C.return_types.X)
    tuple_names, tuple_lines = {}, []
    for decls in groups.values():
        for s, _, _ in decls:
            if s.ret_fields and all(n for _, n in s.ret_fields):
                key = (s.name, tuple(n for _, n in s.ret_fields))
                if key in tuple_names:
                    continue
                taken = any(k[0] == s.name for k in tuple_names)
                cls = "_ret_" + s.name + (f"_{len(tuple_names)}" if taken else "")
                tuple_names[key] = cls
                tuple_lines.append(f"class {cls}(typing.NamedTuple):  # ember.return_types.{s.name}")
                for t, n in s.ret_fields:
                    tuple_lines.append(f"    {n}: {_simple_return(t)}")
                tuple_lines.append("")

    # Tensor members bound from the op table (C++ and Python-level declarations)
    tensor_ops = {}
    for name, decls in groups.items():
        vs = variants_of(decls)
        if "method" in vs:
            tensor_ops[name] = op_defs(name, decls, "method", tuple_names)
        if "inplace" in vs:
            tensor_ops[name + "_"] = op_defs(name, decls, "inplace", tuple_names)
        for v in vs:
            if v.startswith("__"):
                tensor_ops[v] = dunder_defs(v, decls)

    lines = [HEADER]
    lines += tuple_lines

    # classes, alphabetically
    classes = sorted(n for n in dir(_C) if isinstance(getattr(_C, n), type))
    for cn in classes:
        cls = getattr(_C, cn)
        lines.append(f"class {cn}:")
        members = class_member_lines(cls, cn, tensor_ops if cn == "Tensor" else {})
        lines += ["    " + ln for ln in members] or ["    ..."]
        lines.append("")

    # dtype under a name no Tensor member shadows (Tensor.dtype is a property)
    lines += ["_dtype = dtype", ""]

    # module-level functions: op-table functions (C++ declarations), then the other bindings
    funcs = {}
    for name, decls in cpp_groups.items():
        if decls and "function" in variants_of(decls):
            funcs[name] = op_defs(name, decls, "function", tuple_names)
    values = {}
    for n in dir(_C):
        if n.startswith("__") or n in funcs:
            continue
        o = getattr(_C, n)
        if isinstance(o, type) or inspect.ismodule(o):
            continue
        if not callable(o):  # module attributes such as default_generator
            t = type(o)
            values[n] = t.__name__ if getattr(_C, t.__name__, None) is t else B + t.__name__
            continue
        funcs[n] = pybind_defs(n, o, False)
    for n in sorted(values):
        lines.append(f"{n}: {values[n]}")
    for n in sorted(funcs):
        lines += funcs[n]
    lines.append("")
    lines.append("return_types: typing.Any  # the submodule of named tuples; see the _ret_* classes above")
    text = "\n".join(lines).rstrip() + "\n"
    del ember
    return text


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if src/ember/_C.pyi is out of date")
    args = ap.parse_args(argv)
    text = generate()
    if args.check:
        return 0 if up_to_date(STUB, text, "gen_stubs.py", also=PY_TYPED.exists()) else 1
    STUB.write_text(text)
    if not PY_TYPED.exists():
        PY_TYPED.write_text("")
    print(f"wrote {STUB.relative_to(ROOT)} ({text.count(chr(10))} lines) and {PY_TYPED.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
