"""How much of torch's public API, as small-model code uses it, ember has: per module, the names that exist in
ember and the ones that also take torch's keyword arguments.

    python scripts/coverage.py               # print the Markdown table, write it (with the details) to docs/coverage.md
    python scripts/coverage.py --json        # the full result as JSON on stdout (no file written)
    python scripts/coverage.py --json out.json --no-write

The name list comes from the installed torch (2.13): each module's __all__ where it has one, else its public
callables (torch.Tensor: its public attributes), minus the EXCLUDE rules below (each with its reason).

"present": the name exists in the matching ember module (ember.X, ember.Tensor.X, ember.nn.X, ...).
"keyword-compatible": present, and every parameter torch's signature names can be passed by that name to ember.
Checked without calling anything. Torch's side: inspect.signature (Python functions and classes), else the
builtin's ATen schemas (every overload but the generated out= ones and TorchScript's scalar overloads; torch's
Python bindings take their names from them), else the signature lines of its docstring. Ember's side: the op
table schemas (all overloads, plus the aliases the bindings accept), else inspect.signature, else pybind11's
docstring signature; a **kwargs accepts any keyword. Names that are not callable (dtypes, constants,
properties, submodules) have no parameters and count as keyword-compatible; present callables whose signature
cannot be read on either side are "unverified".
"""
from __future__ import annotations

import argparse
import importlib
import inspect
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # for this one import: see scripts/_optable_tools.py
from _optable_tools import ROOT, grouped_ops, split_top, variants_of  # noqa: E402

del sys.path[0]
OUT = ROOT / "docs" / "coverage.md"

# (torch module, ember module). "torch.Tensor" is the class's attributes.
MODULES = [
    ("torch", "ember"),
    ("torch.Tensor", "ember.Tensor"),
    ("torch.nn", "ember.nn"),
    ("torch.nn.functional", "ember.nn.functional"),
    ("torch.nn.init", "ember.nn.init"),
    ("torch.optim", "ember.optim"),
    ("torch.optim.lr_scheduler", "ember.optim.lr_scheduler"),
    ("torch.utils.data", "ember.utils.data"),
    ("torch.autograd", "ember.autograd"),
    ("torch.linalg", "ember.linalg"),
    ("torch.multiprocessing", "ember.multiprocessing"),
    ("torch.func", "ember.func"),
]

# Exclusion rules, first match wins: (reason, regex fully matching the name, modules it applies to or None = all).
EXCLUDE = [
    ("private: a leading underscore (dunders included; operators are counted through their named methods)",
     r"_.*", None),
    ("the fused recurrent kernels torch exposes at the top level (torch.lstm, torch.gru_cell, ...: nn.LSTM / GRU / "
     "RNN and their cells are counted)",
     r"rnn_.*|lstm|lstm_cell|gru|gru_cell|.*_rnn.*", None),
    ("CUDA / accelerator backends and mixed precision (ember computes on the CPU; the user-facing device API "
     "such as Tensor.cuda and is_cuda stays counted)",
     r".*cudnn.*|.*miopen.*|.*mkldnn.*|fbgemm_.*|is_vulkan.*|.*autocast.*|GradScaler|Stream|Event|.*_xla_.*"
     r"|.*_ipu_.*|.*_gpu_.*|get_device_module|record_stream|is_(xla|ipu|mps|meta|vulkan|maia|mtia|hpu|xpu)"
     r"|OutOfMemoryError|AcceleratorError|DataParallel|SyncBatchNorm|grouped_mm|scaled_mm|scaled_grouped_mm"
     r"|ScalingType|SwizzleType", None),
    ("distributed and multi-process internals",
     r"is_distributed|DistributedSampler|batch_norm_(backward_elemt|backward_reduce|elemt|gather_stats.*|stats"
     r"|update_stats)", None),
    ("quantization, and sub-byte / float8 / bit storage formats",
     r"quantize.*|dequantize|q_.*|qint.*|quint.*|qscheme|quantized_.*|fake_quantize.*|fused_moving_avg_obs_fake_quant"
     r"|choose_qparams.*|int_repr|empty_quantized|is_quantized|bits.*|float8_.*|float4_.*|uint[1-7]|int[1-7]", None),
    ("sparse tensors",
     r".*sparse.*|.*smm|spmm|hspmm|sspaddmm|saddmm|.*indices_copy|values_copy|coalesce|is_coalesced|indices|values"
     r"|crow_indices|col_indices|ccol_indices|row_indices|to_dense|dense_dim|sparse_dim",
     ("torch", "torch.Tensor", "torch.optim")),
    ("complex numbers (ember has no complex dtype)",
     r"complex.*|cfloat|cdouble|chalf|view_as_complex.*|view_as_real.*|conj|conj_physical_?|resolve_conj|is_conj"
     r"|polar|real|imag|stft|istft|eig|eigvals", None),
    ("TorchScript / JIT IR, torch.compile, fx, export, function transforms, symbolic shapes",
     r".*Type|Script.*|Graph.*|Block|Node|Value|Use|Code|CompilationUnit|ConcreteModuleType.*|FileCheck"
     r"|.*ArgumentSpec|Argument|FunctionSchema|ExecutionPlan|Gradient|IODescriptor|InferredType|JITException"
     r"|LiteScriptModule|StaticModule|TracingState|ErrorReport|CallStack|DeepCopyMemoTable|AliasDb|Capsule|Future"
     r"|fork|wait|Tag|OperatorInfo|DispatchKey.*|ExcludeDispatchKeyGuard|DisableTorchFunction.*|FatalError"
     r"|BufferDict|ModuleDict|ParameterDict|import_ir_module.*|parse_ir|parse_schema|parse_type_comment"
     r"|merge_type_from_type_comment|unify_type_list|AggregationType|AVG|SUM|LockingLogger|NoopLogger"
     r"|ThroughputBenchmark|Benchmark.*|PyTorchFile(Reader|Writer)|ScriptModuleSerializer|.*StorageContext"
     r"|Sym.*|sym_.*|compile|export|cond|vmap|hash_tensor|thread_safe_generator", ("torch",)),
    ("storage objects (ember's tensors share ref-counted storage without a Python storage API)",
     r".*Storage|is_storage|from_file|storage|untyped_storage|storage_type|set_", None),
    ("functionalization variants (*_copy) and ATen internals that torch does not document",
     r"(?!narrow_copy).*_copy|native_.*|slice_inverse|unsafe_.*|affine_grid_generator|constant_pad_nd"
     r"|embedding_renorm_|norm_except_dim|frobenius_norm|nuclear_norm|is_same_size|has_(lapack|mkl|openmp|spectral)"
     r"|cpp|init_num_threads|cudnn_is_acceptable|feature_dropout_?|feature_alpha_dropout_?|alpha_dropout_"
     r"|dropout_|rsub|fill|fill_|zero_|resize_as_", ("torch",)),
    ("in-place function forms torch.X_ (not in torch's documentation; the documented in-place form is Tensor.X_)",
     r"[a-z0-9_]+[a-z0-9]_", ("torch",)),
    ("named tensors and nested tensors (prototypes)",
     r"names|refine_names|align_to|align_as|rename_?|has_names|is_nested|nested_.*|to_padded_tensor",
     ("torch.Tensor",)),
    ("deprecated aliases torch keeps for old code",
     r"Container|NLLLoss2d", ("torch.nn",)),
    ("DataPipes (torchdata, deprecated)",
     r"DFIterDataPipe|DataChunk|IterDataPipe|MapDataPipe|functional_datapipe|guaranteed_datapipes_determinism"
     r"|non_deterministic|runtime_validation|runtime_validation_disabled|argument_validation", ("torch.utils.data",)),
    ("imported helpers, not part of the module's API (typing, __torch_function__ machinery, argument checks)",
     r"Callable|Optional|DType|Tensor|boolean_dispatch|handle_torch_function|has_torch_function.*"
     r"|assert_int_or_pair", ("torch.nn.functional",)),
]
_COMPILED = [(reason, re.compile(rx), mods) for reason, rx, mods in EXCLUDE]


def exclusion(module, name):
    for reason, rx, mods in _COMPILED:
        if (mods is None or module in mods) and rx.fullmatch(name):
            return reason
    return None


# --------------------------------------------------------------------------------------------- torch's names
def torch_object(module):
    import torch
    if module == "torch.Tensor":
        return torch.Tensor
    return importlib.import_module(module)


def torch_names(module):
    """Every public name of a torch module before the exclusions."""
    obj = torch_object(module)
    if module == "torch.Tensor":
        return sorted(n for n in dir(obj) if not n.startswith("_"))
    names = list(getattr(obj, "__all__", None) or [])
    if module == "torch":
        import torch.functional
        names += torch.functional.__all__  # documented as torch.X, missing from torch.__all__ (unique, ...)
    if not names:
        for n in dir(obj):
            o = getattr(obj, n, None)
            if not n.startswith("_") and o is not None and callable(o) and not inspect.ismodule(o):
                names.append(n)
    return sorted(set(names))


# --------------------------------------------------------------------------------------------- signatures
def _doc_signature_names(doc, name):
    """Parameter names (those passable by keyword) from 'name(a, b=1, *, c=None) -> T' lines of a docstring;
    None when the docstring has no such line."""
    if not doc:
        return None
    rx = re.compile(r"^\s*(?:\.\. function:: )?" + re.escape(name) + r"\((.*)\)\s*->.*$")
    found, names = False, set()
    for line in doc.splitlines():
        m = rx.match(line)
        if not m:
            continue
        found = True
        for p in split_top(m.group(1)):
            p = p.split("=")[0].split(":")[0].strip()
            if not p or p.startswith("*") or p in ("/", "self") or not p.isidentifier():
                continue
            names.add(p)
    return names if found else None


def _aten_names(name, method, module):
    """Keyword names of torch's Python binding of a builtin, from its ATen schemas (every overload): `self` is
    `input` in a function and implicit in a method; an overload's output tensors (`Tensor(a!)` keyword-only
    arguments, whatever their schema name) are the binding's `out=`, which methods do not take."""
    import torch
    op = "linalg_" + name if module == "torch.linalg" else name
    try:
        schemas = torch._C._jit_get_schemas_for_operator("aten::" + op)
    except RuntimeError:
        return None
    # TorchScript registers overloads on Python scalars and lists under the same names (aten::add.int(int a,
    # int b) -> int); torch's Python bindings are the overloads that return tensors.
    def has_tensor(types):
        return any("Tensor" in str(t) for t in types)
    def generated(sch):  # out= overloads generated for functionalization: not bound in Python
        try:
            ov = getattr(getattr(torch.ops.aten, op), sch.overload_name or "default")
            return torch.Tag.generated in ov.tags
        except (AttributeError, RuntimeError):
            return False
    schemas = [sch for sch in schemas if not generated(sch)]
    picked = [sch for sch in schemas if has_tensor(r.type for r in sch.returns)]
    if not picked:
        picked = [sch for sch in schemas if has_tensor(a.type for a in sch.arguments)]
    if not picked:
        return None
    out = set()
    for sch in picked:
        outs = [a for a in sch.arguments if a.kwarg_only and a.alias_info is not None and a.alias_info.is_write]
        if method and outs:
            continue
        for a in sch.arguments:
            if a in outs:
                out.add("out")
            elif a.name == "self":
                if not method:
                    out.add("input")
            else:
                out.add(a.name)
    return out


# torch builtins with hand-written Python bindings whose ATen schemas (TorchScript's constructors) and docstrings
# do not give their keywords; the sets are what torch 2.13 accepts (checked by calling it).
_TORCH_MANUAL = {
    ("torch", "tensor"): {"data", "dtype", "device", "requires_grad", "pin_memory"},
    ("torch", "as_tensor"): {"data", "dtype", "device"},
    ("torch", "from_numpy"): set(),  # positional only
    ("torch", "set_num_threads"): set(),  # positional only
}


def torch_params(obj, name, method, module):
    """The parameter names torch's signature lets a caller pass by keyword, or None if unreadable: Python
    functions and classes by inspect.signature; builtins by their ATen schemas, else their docstring."""
    if (module, name) in _TORCH_MANUAL:
        return set(_TORCH_MANUAL[(module, name)])
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        names = _aten_names(name, method, module)
        if names is None:
            names = _doc_signature_names(getattr(obj, "__doc__", None), name)
        return names
    out = set()
    params = list(sig.parameters.values())
    if method and params and params[0].name == "self":
        params = params[1:]
    for p in params:
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self":
            out.add(p.name)
    return out


_ALIASES = {"keepdim": "keepdims", "dim": "axis", "input": "self"}  # bind() in cpp/bindings/op_dispatch.cpp


class EmberSigs:
    """Parameter names ember accepts by keyword: op table first, then introspection."""

    def __init__(self):
        self.groups = grouped_ops()

    def table_params(self, name, method):
        decls = self.groups.get(name[:-1] if method == "inplace" else name)
        if not decls:
            return None
        out = set()
        for s, _, _ in decls:
            params = s.params[1:] if method else s.params
            for p in params:
                if method == "inplace" and p.name == "out":
                    continue
                out.add(p.name)
                if p.name in _ALIASES:
                    out.add(_ALIASES[p.name])
        return out

    def params(self, obj, name, kind):
        """kind: 'function' (ember.X), 'method' (Tensor.X), 'class'/'other'. Returns (names, accepts_any) or None."""
        tname = type(obj).__name__
        variants = variants_of(self.groups.get(name, [])) if name in self.groups else []
        if kind == "function" and tname == "builtin_function_or_method" and "function" in variants:
            return self.table_params(name, False), False
        if kind == "method" and tname == "method_descriptor":
            if name in self.groups and "method" in variants:
                return self.table_params(name, True), False
            if name.endswith("_") and name[:-1] in self.groups:
                return self.table_params(name, "inplace"), False
        try:
            sig = inspect.signature(obj)
        except (TypeError, ValueError):
            return self._pybind(obj, kind)
        out, any_kw = set(), False
        params = list(sig.parameters.values())
        if kind == "method" and params and params[0].name == "self":
            params = params[1:]
        for p in params:
            if p.kind == p.VAR_KEYWORD:
                any_kw = True
            elif p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
                out.add(p.name)
        return out, any_kw

    @staticmethod
    def _pybind(obj, kind):
        doc = getattr(obj, "__doc__", None) or ""
        lines = doc.splitlines()
        sigs = [ln for ln in lines if re.match(r"^\s*(\d+\.\s+)?\w+\(.*\)\s*->", ln)]
        if not sigs:
            return None
        out, any_kw = set(), False
        for ln in sigs:
            inner = ln[ln.index("(") + 1:ln.rindex(")", 0, ln.rindex("->"))]
            for p in split_top(inner):
                nm = p.split(":")[0].split("=")[0].strip()
                if nm.startswith("**"):
                    any_kw = True
                elif nm and not nm.startswith("*") and nm not in ("self", "/") and not re.fullmatch(r"arg\d+", nm):
                    out.add(nm)
        return out, any_kw


# --------------------------------------------------------------------------------------------- measuring
def ember_module(name):
    import ember
    if name == "ember.Tensor":
        return ember.Tensor
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def measure(module, ember_name, sigs):
    tobj = torch_object(module)
    eobj = ember_module(ember_name)
    is_cls = module == "torch.Tensor"
    names = torch_names(module)
    excluded = {}
    counted = []
    for n in names:
        r = exclusion(module, n)
        if r:
            excluded[n] = r
        else:
            counted.append(n)
    present, missing, kw_ok, mismatch, unverified = [], [], [], {}, []
    for n in counted:
        if eobj is None or not hasattr(eobj, n):
            missing.append(n)
            continue
        present.append(n)
        t = getattr(tobj, n, None)
        e = getattr(eobj, n)
        if is_cls:
            t = inspect.getattr_static(tobj, n, t)
            e = inspect.getattr_static(eobj, n, e)
        t_callable = callable(t) and not inspect.ismodule(t) and not isinstance(t, property)
        e_callable = callable(e) and not inspect.ismodule(e) and not isinstance(e, property)
        if not t_callable:
            kw_ok.append(n)
            continue
        tp = torch_params(t, n, is_cls, module)
        kind = "method" if is_cls else ("class" if isinstance(e, type) else "function")
        ep = sigs.params(e, n, kind) if e_callable else None
        if tp is None or ep is None:
            unverified.append(n)
            continue
        accepted, any_kw = ep
        miss = sorted(tp - accepted) if not any_kw else []
        if miss:
            mismatch[n] = miss
        else:
            kw_ok.append(n)
    return {
        "module": module,
        "ember_module": ember_name if eobj is not None else None,
        "total": len(counted),
        "present": len(present),
        "keyword_compatible": len(kw_ok),
        "missing": missing,
        "keyword_mismatch": mismatch,
        "unverified": unverified,
        "excluded": excluded,
    }


def compute():
    import torch

    import ember  # noqa: F401
    sigs = EmberSigs()
    rows = [measure(m, e, sigs) for m, e in MODULES]
    tot = {k: sum(r[k] for r in rows) for k in ("total", "present", "keyword_compatible")}
    return {"torch_version": torch.__version__, "modules": rows, "all": tot,
            "exclusion_rules": [{"reason": r, "pattern": rx, "modules": list(m) if m else None}
                                for r, rx, m in EXCLUDE]}


def pct(a, b):
    return f"{100.0 * a / b:.0f}%" if b else "-"


def table(result):
    lines = ["| torch module | ember module | names | present | keyword-compatible | present % |",
             "|---|---|---:|---:|---:|---:|"]
    for r in result["modules"]:
        lines.append(f"| `{r['module']}` | {('`' + r['ember_module'] + '`') if r['ember_module'] else '(none)'} | "
                     f"{r['total']} | {r['present']} | {r['keyword_compatible']} | {pct(r['present'], r['total'])} |")
    a = result["all"]
    lines.append(f"| **all** | | {a['total']} | {a['present']} | {a['keyword_compatible']} | "
                 f"{pct(a['present'], a['total'])} |")
    return "\n".join(lines)


def markdown(result):
    out = ["# ember's coverage of torch's API", "",
           f"<!-- Generated by `python scripts/coverage.py` against torch {result['torch_version']}; do not edit. -->",
           "",
           "Which of torch's public names (as small-model code uses them) exist in ember, and which of those take "
           "the same keyword arguments. Names come from the installed torch: each module's `__all__`, else its "
           "public callables (`torch.Tensor`: its public attributes), minus the exclusions listed at the end. "
           "\"keyword-compatible\": every parameter name of torch's signature is accepted by ember (checked "
           "from the signatures and the op table, without calling anything; non-callables count as compatible). "
           "How it is measured: `scripts/coverage.py`.", "", table(result), ""]
    for r in result["modules"]:
        out += [f"## `{r['module']}`", ""]
        out.append(f"{r['present']} of {r['total']} present, {r['keyword_compatible']} keyword-compatible"
                   + (f", {len(r['unverified'])} unverified" if r["unverified"] else "") + ".")
        out.append("")
        if r["keyword_mismatch"]:
            out.append("Present, but torch's keywords not all accepted (name: missing keywords):")
            out.append("")
            for n, miss in sorted(r["keyword_mismatch"].items()):
                out.append(f"- `{n}`: {', '.join('`' + m + '`' for m in miss)}")
            out.append("")
        if r["unverified"]:
            out.append("Present, signature not readable on one side: " +
                       ", ".join(f"`{n}`" for n in r["unverified"]) + ".")
            out.append("")
        if r["missing"]:
            out.append(f"Missing ({len(r['missing'])}): " + ", ".join(f"`{n}`" for n in r["missing"]) + ".")
            out.append("")
    out += ["## Exclusions", "", "Rules applied in order (first match wins), with the names each one removed:", ""]
    by_reason = {}
    for r in result["modules"]:
        for n, reason in r["excluded"].items():
            by_reason.setdefault(reason, []).append(f"{r['module']}.{n}" if r["module"] != "torch" else f"torch.{n}")
    for rule in result["exclusion_rules"]:
        names = by_reason.get(rule["reason"], [])
        scope = ", ".join(f"`{m}`" for m in rule["modules"]) if rule["modules"] else "all modules"
        shown = [n for n in names if not n.split(".")[-1].startswith("_")]
        line = f"- **{rule['reason']}** ({scope}; {len(names)} names)"
        if shown and rule["pattern"] != "_.*":
            line += ": " + ", ".join(f"`{n}`" for n in shown)
        out.append(line)
    return "\n".join(out).rstrip() + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", nargs="?", const="-", metavar="PATH",
                    help="write the full result as JSON to PATH (default: stdout) instead of printing the table")
    ap.add_argument("--no-write", action="store_true", help="do not write docs/coverage.md")
    args = ap.parse_args(argv)
    result = compute()
    if not args.no_write and not args.json:
        OUT.parent.mkdir(exist_ok=True)
        OUT.write_text(markdown(result))
    if args.json:
        text = json.dumps(result, indent=1, sort_keys=True)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text + "\n")
    else:
        print(table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
