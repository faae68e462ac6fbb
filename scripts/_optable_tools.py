"""The op-table helpers that scripts/gen_stubs.py, scripts/gen_api_docs.py and scripts/coverage.py share: the
schema parser (the way cpp/bindings/op_dispatch.cpp reads an EMBER_OP schema), the op table grouped by name, and
the diff that the --check modes print.

The scripts import it with scripts/ put on sys.path only for that import: left there, scripts/coverage.py would
shadow the coverage package in the importing process (tests/test_docs.py loads coverage.py by path).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------------------------- schemas
@dataclass
class Param:
    name: str
    type: str  # as written, e.g. "int[1]?"
    base: str  # "int", "Tensor", ...
    list_n: int | None  # int[N]: N (0 for int[]); None when not a list
    optional: bool
    default: str | None  # as written; None when there is none
    kwonly: bool
    varargs: bool  # "Tensor[] *tensors"


@dataclass
class Schema:
    text: str
    name: str
    overload: str
    params: list[Param]
    returns: str  # as written after "->"
    ret_fields: list[tuple[str, str]] = field(default_factory=list)  # (type, name) of a tuple return

    @property
    def full_name(self):
        return self.name + ("." + self.overload if self.overload else "")


def split_top(s, sep=",", quotes="\"'", opening="[(", closing="])"):
    """Splits on commas (`sep`) outside brackets and quotes (as the C++ schema parser does); the parts are
    stripped, a blank last part is dropped."""
    out, cur, depth, quote = [], "", 0, False
    for c in s:
        if c in quotes:
            quote = not quote
        if not quote and c in opening:
            depth += 1
        if not quote and c in closing:
            depth -= 1
        if c == sep and depth == 0 and not quote:
            out.append(cur.strip())
            cur = ""
        else:
            cur += c
    if cur.strip():
        out.append(cur.strip())
    return out


def parse_schema(text):
    """Parses one op-table schema, e.g. "max.dim(Tensor input, int dim, bool keepdim=False) -> (Tensor values,
    Tensor indices)", the way cpp/bindings/op_dispatch.cpp does."""
    arrow = text.rfind("->")
    head = text if arrow < 0 else text[:arrow]
    lp, rp = head.find("("), head.rfind(")")
    full = head[:lp].strip()
    name, _, overload = full.partition(".")
    params, kwonly = [], False
    for p in split_top(head[lp + 1:rp]):
        if p == "*":
            kwonly = True
            continue
        decl, eq, default = p.partition("=")
        decl = decl.strip()
        ty, _, pname = decl.rpartition(" ")
        varargs = pname.startswith("*")
        pname = pname.lstrip("*")
        optional = ty.endswith("?")
        base = ty.rstrip("?")
        list_n = None
        if "[" in base:
            n = base[base.index("[") + 1:base.index("]")]
            list_n = int(n) if n else 0
            base = base[:base.index("[")]
        if base == "SymInt":
            base = "int"
        params.append(Param(pname, ty, base, list_n, optional, default.strip() if eq else None, kwonly, varargs))
    returns = text[arrow + 2:].strip() if arrow >= 0 else ""
    s = Schema(text, name, overload, params, returns)
    if returns.startswith("("):
        for e in split_top(returns[1:-1]):
            ty, _, fname = e.rpartition(" ")
            s.ret_fields.append((ty or e, fname if ty else ""))
    return s


def op_name(schema_text):
    return schema_text.split("(")[0].split(".")[0]


def grouped_ops(table=None):
    """name -> list of (Schema, variants of that declaration, source), names sorted, declarations in table order.
    The bindings give every variant of a name all of its declarations (the union); see bind_op_table."""
    if table is None:
        from ember._op_registry import op_table
        table = op_table()
    groups = {}
    for schema, variants, source in table:
        s = parse_schema(schema)
        groups.setdefault(s.name, []).append((s, variants.split(), source))
    return {k: groups[k] for k in sorted(groups)}


def variants_of(decls):
    out = []
    for _, vs, _ in decls:
        for v in vs:
            if v not in out:
                out.append(v)
    return out


def is_cpp_source(source):
    return source.endswith((".cpp", ".h", ".cc"))


# --------------------------------------------------------------------------------------------- --check
def show_diff(path, text, limit=60):
    """The first lines of the difference between the checked-in file and a fresh run, on stderr."""
    import difflib
    old = path.read_text().splitlines() if path.exists() else []
    diff = list(difflib.unified_diff(old, text.splitlines(), str(path.relative_to(ROOT)), "generated", lineterm="",
                                     n=1))
    for line in diff[:limit]:
        print(line, file=sys.stderr)
    if len(diff) > limit:
        print(f"... ({len(diff) - limit} more diff lines)", file=sys.stderr)


def up_to_date(path, text, script, also=True):
    """--check: whether the checked-in `path` holds `text` (and `also`); when not, prints the diff and the
    command that regenerates it on stderr."""
    ok = path.exists() and path.read_text() == text and also
    if not ok:
        show_diff(path, text)
        print(f"{path.relative_to(ROOT)} is out of date: run python scripts/{script}", file=sys.stderr)
    return ok
