"""Generates docs/api.md, ember's compatibility reference.

    python scripts/gen_api_docs.py           # (re)write docs/api.md
    python scripts/gen_api_docs.py --check   # exit 1 when the checked-in docs/api.md is out of date

What goes in:
  * every op of the op table (ember._op_registry.op_table(): the EMBER_OP declarations in cpp/ember/ops and the
    Python-level ones), grouped as torch's documentation groups them (the group comes from the op's name, else
    from the file that declares it), with its signature(s) and the forms it has: ember.X, Tensor.X, Tensor.X_,
    out=, operators;
  * the Tensor members outside the op table, ember's other top-level functions, and the Python-level API found
    by introspection: ember.nn (modules, functional, init, utils), ember.optim (optimizers, schedulers,
    swa_utils), ember.utils.data, ember.autograd;
  * the notable differences from torch: README.md's "Known limits" plus what the op table and the dtype enum
    say.

Deterministic: everything is sorted, addresses are stripped from default values. tests/test_docs.py regenerates
the file in memory and fails when the checked-in copy differs.
"""
from __future__ import annotations

import argparse
import inspect
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # for this one import: see scripts/_optable_tools.py
from _optable_tools import ROOT, grouped_ops, is_cpp_source, split_top, up_to_date, variants_of  # noqa: E402

del sys.path[0]
OUT = ROOT / "docs" / "api.md"

# --------------------------------------------------------------------------------------------- groups
# torch's documentation (docs/source/torch.rst) groups the math ops in these sections. An op goes to the section
# that lists its name; an op no section lists goes to its file's default (FILE_GROUPS) and Python-level ops to
# "Other operations".
CREATION = "Creation ops"
INDEXING = "Indexing, slicing, joining, mutating ops"
RANDOM = "Random sampling"
POINTWISE = "Pointwise ops"
REDUCTION = "Reduction ops"
COMPARISON = "Comparison ops"
OTHER = "Other operations"
BLAS = "BLAS and LAPACK operations"
LINALG = "torch.linalg"
NN = "Neural network functions (torch.nn.functional)"
METHODS = "Tensor-only methods"
GROUP_ORDER = [CREATION, INDEXING, RANDOM, POINTWISE, REDUCTION, COMPARISON, OTHER, BLAS, LINALG, NN, METHODS]

NAME_GROUPS = {
    CREATION: """tensor asarray as_tensor as_strided from_file from_numpy frombuffer zeros zeros_like ones ones_like
        arange range linspace logspace eye empty empty_like empty_strided full full_like complex polar heaviside""",
    INDEXING: """adjoint argwhere cat concat concatenate conj chunk dsplit column_stack dstack gather hsplit hstack
        index_add index_copy index_reduce index_select masked_select movedim moveaxis narrow narrow_copy nonzero
        permute reshape row_stack select scatter diagonal_scatter select_scatter slice_scatter scatter_add
        scatter_reduce split squeeze stack swapaxes swapdims t take take_along_dim tensor_split tile transpose unbind
        unravel_index unsqueeze vsplit vstack where""",
    RANDOM: """seed manual_seed initial_seed get_rng_state set_rng_state bernoulli multinomial normal poisson rand
        rand_like randint randint_like randn randn_like randperm bernoulli_ cauchy_ exponential_ geometric_
        log_normal_ normal_ random_ uniform_""",
    REDUCTION: """argmax argmin amax amin aminmax all any max min dist logsumexp mean nanmean median nanmedian mode
        norm nansum prod quantile nanquantile std std_mean sum unique unique_consecutive var var_mean
        count_nonzero""",
    COMPARISON: """allclose argsort eq equal ge greater_equal gt greater isclose isfinite isin isinf isposinf isneginf
        isnan isreal kthvalue le less_equal lt less maximum minimum fmax fmin ne not_equal sort topk msort""",
    OTHER: """atleast_1d atleast_2d atleast_3d bincount block_diag broadcast_tensors broadcast_to broadcast_shapes
        bucketize cartesian_prod cdist clone combinations corrcoef cov cross cummax cummin cumprod cumsum diag
        diag_embed diagflat diagonal diff einsum flatten flip fliplr flipud kron rot90 gcd histc histogram
        histogramdd meshgrid lcm logcumsumexp ravel renorm repeat_interleave roll searchsorted tensordot trace tril
        tril_indices triu triu_indices unflatten vander view_as_real view_as_complex resolve_conj resolve_neg""",
    BLAS: """addbmm addmm addmv addr baddbmm bmm chain_matmul cholesky cholesky_inverse cholesky_solve dot geqrf ger
        inner inverse det logdet slogdet lu lu_solve lu_unpack matmul matrix_power matrix_exp mm mv orgqr ormqr
        outer pinverse qr svd svd_lowrank pca_lowrank lobpcg trapz trapezoid cumulative_trapezoid
        triangular_solve vdot""",
    NN: """relu relu6 softmax log_softmax softmin gelu silu mish elu selu celu leaky_relu hardtanh threshold
        dropout linear bilinear embedding one_hot layer_norm batch_norm""",
}
NAME_TO_GROUP = {n: g for g, names in NAME_GROUPS.items() for n in names.split()}

# The file an op is declared in, when its name is in no list above.
FILE_GROUPS = {
    "unary": POINTWISE, "binary": POINTWISE, "math": POINTWISE, "reduce": REDUCTION, "stats": REDUCTION,
    "sort": COMPARISON, "scan": OTHER, "shape": OTHER, "view": INDEXING, "index": INDEXING, "scatter": INDEXING,
    "matmul": BLAS, "linalg": LINALG, "factory": OTHER, "random": RANDOM, "sampling": RANDOM, "nn": NN,
    "loss": NN, "activation": NN,
}


def group_of(name, source, variants):
    if name.startswith("linalg_"):
        return LINALG
    if name in NAME_TO_GROUP:
        return NAME_TO_GROUP[name]
    if "function" not in variants:
        return METHODS
    if is_cpp_source(source):
        return FILE_GROUPS.get(Path(source).stem, OTHER)
    return OTHER


def rel_source(source):
    """cpp/ember/ops/unary.cpp for an absolute path of the build machine; a module name for Python-level ops."""
    if not is_cpp_source(source):
        return source
    p = source.replace("\\", "/")
    i = p.rfind("cpp/ember/")
    return p[i:] if i >= 0 else Path(p).name


# --------------------------------------------------------------------------------------------- forms
_BINARY_OPS = {"add": "+", "sub": "-", "mul": "*", "truediv": "/", "floordiv": "//", "mod": "%", "pow": "**",
               "matmul": "@", "and": "&", "or": "|", "xor": "^", "lshift": "<<", "rshift": ">>"}
_COMPARE_OPS = {"__eq__": "==", "__ne__": "!=", "__lt__": "<", "__le__": "<=", "__gt__": ">", "__ge__": ">="}
_UNARY_OPS = {"__neg__": "-a", "__abs__": "abs(a)", "__invert__": "~a", "__pos__": "+a"}


def operator_form(dunder):
    if dunder in _COMPARE_OPS:
        return f"a {_COMPARE_OPS[dunder]} b"
    if dunder in _UNARY_OPS:
        return _UNARY_OPS[dunder]
    core = dunder.strip("_")
    for prefix, fmt in (("r", "2 {} a"), ("i", "a {}= b"), ("", "a {} b")):
        if core.startswith(prefix) and core[len(prefix):] in _BINARY_OPS:
            return fmt.format(_BINARY_OPS[core[len(prefix):]]).replace("|", "\\|")
    return dunder


def function_form(name, decls):
    """Where the function lives: ember.X for the C++ table (re-exported by ember/_functions.py); a Python-level
    op is the function of the module that declares it (ember.linalg.vector_norm for linalg_vector_norm), re-exported
    as ember.X when ember has it."""
    import ember
    src = decls[0][2]
    if is_cpp_source(src):
        return f"ember.{name}"
    mod = sys.modules.get(src)
    short = name[len("linalg_"):] if name.startswith("linalg_") and src.endswith("linalg") else name
    if getattr(ember, name, None) is not None and mod is not None and getattr(ember, name) is getattr(mod, short, None):
        return f"ember.{name}"
    return f"{src}.{short}"


def forms_of(name, decls):
    vs = variants_of(decls)
    forms = []
    if "function" in vs:
        forms.append(f"`{function_form(name, decls)}`")
        if name.startswith("linalg_") and is_cpp_source(decls[0][2]):
            linalg = sys.modules.get("ember.linalg")
            if linalg is not None and hasattr(linalg, name[len("linalg_"):]):
                forms.append(f"`ember.linalg.{name[len('linalg_'):]}`")
    if "method" in vs:
        forms.append(f"`Tensor.{name}`")
    if "inplace" in vs:
        forms.append(f"`Tensor.{name}_`")
    if any(p.name == "out" for s, _, _ in decls for p in s.params):
        forms.append("`out=`")
    ops = [operator_form(v) for v in vs if v.startswith("__")]
    forms += [f"`{o}`" for o in ops]
    if "numbers" in vs:
        forms.append("numbers as operands")
    return forms


def md_code(text):
    return "`" + text.replace("|", "\\|") + "`"


# --------------------------------------------------------------------------------------------- introspection
_ADDR = re.compile(r" at 0x[0-9a-fA-F]+")


def signature_text(obj, name=None):
    """inspect.signature, else pybind11's docstring signature; '' when neither says anything."""
    try:
        sig = str(inspect.signature(obj))
    except (TypeError, ValueError):
        doc = (getattr(obj, "__doc__", None) or "").strip().splitlines()
        sig = ""
        if doc:
            m = re.match(r"^\w*(\(.*\))\s*(->.*)?$", doc[0])
            if m:
                sig = m.group(1) + (" " + m.group(2) if m.group(2) else "")
    return tidy_signature(sig)


def tidy_signature(sig):
    """pybind11's typing-flavoured signatures, shortened to what a reader needs."""
    sig = _ADDR.sub("", sig)
    sig = re.sub(r"\bself: [\w.]+", "self", sig)
    sig = re.sub(r"\(arg0: [\w.]+\)", "(self)", sig)
    sig = sig.replace("typing.SupportsFloat | typing.SupportsIndex", "float")
    sig = sig.replace("typing.SupportsInt | typing.SupportsIndex", "int")
    sig = sig.replace("collections.abc.Sequence", "Sequence").replace("ember._C.", "")
    return sig


def kind_of(obj):
    """What a name is, for the third column (docstrings are left out: they change more often than the API)."""
    if isinstance(obj, property):
        return "property (settable)" if obj.fset is not None else "property"
    if inspect.ismodule(obj):
        return "submodule"
    if isinstance(obj, type):
        return "class"
    if callable(obj):
        return "function"
    return "value"


def public_names(mod):
    """A module's public API: its __all__, else the public names whose objects were defined in ember (not
    imported helpers such as math or numpy)."""
    names = getattr(mod, "__all__", None)
    if names is None:
        names = []
        for n in dir(mod):
            if n.startswith("_"):
                continue
            o = getattr(mod, n)
            if inspect.ismodule(o):
                continue
            m = getattr(o, "__module__", None) or ""
            if callable(o) and m.startswith("ember"):
                names.append(n)
    return sorted(set(names))


def api_table(rows):
    out = ["| name | signature | kind |", "|---|---|---|"]
    for n, sig, kind in rows:
        kind = kind.replace("|", "\\|")
        out.append(f"| `{n}` | {md_code(sig) if sig else ''} | {kind} |")
    return out


def rows_for(mod, names, prefix):
    rows = []
    for n in names:
        o = getattr(mod, n, None)
        if o is None:
            continue
        if inspect.ismodule(o):
            rows.append((prefix + n, "", "submodule"))
            continue
        sig = signature_text(o) if callable(o) else ""
        rows.append((prefix + n, sig, kind_of(o) if callable(o) else f"value `{_ADDR.sub('', repr(o))}`"))
    return rows


# --------------------------------------------------------------------------------------------- sections
def ops_section(groups):
    by_group = {g: [] for g in GROUP_ORDER}
    for name, decls in groups.items():
        vs = variants_of(decls)
        g = group_of(name, decls[0][2], vs)
        by_group.setdefault(g, []).append((name, decls))
    lines = ["## Ops from the op table", "",
             "Each row is one name of `ember._op_registry.op_table()`; several signatures are overloads, tried in "
             "this order. The signature is torch's (same parameter names; `*` starts the keyword-only ones). "
             "Forms: `ember.X` (function), `Tensor.X` (method), `Tensor.X_` (in place), `out=` (writes into a "
             "given tensor), operators (`a + b`, reflected `2 + a`, augmented `a += b`), \"numbers as operands\" "
             "(tensor operands after the first also take Python numbers). Every form takes the same keywords, "
             "plus torch's aliases `keepdims` (for `keepdim`), `axis` (for `dim`) and `self` (for `input`).", ""]
    for g in GROUP_ORDER + sorted(set(by_group) - set(GROUP_ORDER)):
        items = by_group.get(g) or []
        if not items:
            continue
        lines += [f"### {g}", "", "| op | signature | forms | declared in |", "|---|---|---|---|"]
        for name, decls in sorted(items):
            sigs = "<br>".join(md_code(s.text) for s, _, _ in decls)
            srcs = sorted({rel_source(src) for _, _, src in decls})
            lines.append(f"| `{name}` | {sigs} | {', '.join(forms_of(name, decls))} | "
                         f"{', '.join('`' + s + '`' for s in srcs)} |")
        lines.append("")
    return lines, {g: len(v) for g, v in by_group.items() if v}


def tensor_extras_section(groups):
    import ember
    T = ember.Tensor
    table_names = set()
    for name, decls in groups.items():
        vs = variants_of(decls)
        if "method" in vs:
            table_names.add(name)
        if "inplace" in vs:
            table_names.add(name + "_")
        table_names.update(v for v in vs if v.startswith("__"))
    rows = []
    for n in sorted(vars(T)):
        if n in table_names or (n.startswith("_") and not (n.startswith("__") and n.endswith("__"))):
            continue
        if n in ("__dict__", "__doc__", "__module__", "__hash__", "__init__", "__array_priority__"):
            continue
        v = vars(T)[n]
        if isinstance(v, property):
            rows.append((f"Tensor.{n}", "", kind_of(v)))
        elif callable(v):
            rows.append((f"Tensor.{n}", signature_text(v), "method"))
    lines = ["## Tensor members outside the op table", "",
             "Properties, conversions and autograd entry points bound directly in `cpp/bindings/tensor.cpp` and "
             "`cpp/bindings/indexing.cpp`, and the Python-level members that `src/ember` attaches to the class.", ""]
    return lines + api_table(rows) + [""]


def toplevel_section(groups):
    import ember
    table = set(groups)
    names = [n for n in dir(ember) if not n.startswith("_") and n not in table]
    rows, mods, dtypes = [], [], []
    for n in sorted(names):
        o = getattr(ember, n)
        if inspect.ismodule(o):
            mods.append(n)
        elif isinstance(o, ember.dtype):
            dtypes.append(f"`ember.{n}` = `{o!r}`")
        elif callable(o):
            rows.append((f"ember.{n}", signature_text(o), kind_of(o)))
    lines = ["## Other top-level names", "",
             "Functions and classes of `ember` outside the op table (factories, seeding, grad mode, serialization, "
             "torch-compatibility shims).", ""]
    lines += api_table(rows) + [""]
    lines += ["dtypes: " + ", ".join(dtypes) + ".", "",
              "Submodules: " + ", ".join(f"`ember.{m}`" for m in mods) + ".", ""]
    return lines


def nn_module_group(cls):
    stem = cls.__module__.rsplit(".", 1)[-1]
    return {"container": "Containers", "module": "Containers", "linear": "Linear layers",
            "activation": "Non-linear activations", "normalization": "Normalization layers",
            "batchnorm": "Normalization layers", "dropout": "Dropout layers", "sparse": "Sparse layers",
            "distance": "Distance functions", "loss": "Loss functions", "padding": "Padding layers",
            "flatten": "Utilities", "parameter": "Parameters", "upsampling": "Vision layers",
            "pixelshuffle": "Vision layers", "channelshuffle": "Shuffle layers", "fold": "Conv"}.get(stem, stem.replace("_", " ").capitalize())


def functional_group(name):
    if name.endswith("_loss") or name in ("cross_entropy", "nll_loss", "kl_div", "binary_cross_entropy",
                                           "binary_cross_entropy_with_logits", "gaussian_nll_loss"):
        return "Loss functions"
    if "dropout" in name:
        return "Dropout functions"
    if name in ("linear", "bilinear"):
        return "Linear functions"
    if name.startswith("embedding") or name == "one_hot":
        return "Sparse functions"
    if name in ("pairwise_distance", "cosine_similarity", "pdist"):
        return "Distance functions"
    if name in ("pad", "interpolate", "upsample", "upsample_nearest", "upsample_bilinear", "grid_sample", "affine_grid",
                "pixel_shuffle", "pixel_unshuffle", "channel_shuffle"):
        return "Vision functions"
    return "Non-linear activation functions"


def nn_section():
    import ember.nn as nn
    import ember.nn.functional as F
    import ember.nn.init as init
    import ember.nn.utils as nn_utils
    lines = ["## ember.nn", "", "### Modules", "",
             "The classes of `ember.nn`, grouped as torch's `torch.nn` page groups them (by the file that defines "
             "them); the signature is the constructor's.", ""]
    groups = {}
    for n in dir(nn):
        o = getattr(nn, n)
        if n.startswith("_") or not isinstance(o, type) or not o.__module__.startswith("ember.nn"):
            continue
        groups.setdefault(nn_module_group(o), []).append((f"nn.{n}", signature_text(o), "class"))
    for g in sorted(groups):
        lines += [f"#### {g}", ""] + api_table(sorted(groups[g])) + [""]
    lines += ["### ember.nn.functional", ""]
    fgroups = {}
    for n in public_names(F):
        o = getattr(F, n)
        if isinstance(o, type) or not callable(o):
            continue
        fgroups.setdefault(functional_group(n), []).append((f"F.{n}", signature_text(o), "function"))
    for g in sorted(fgroups):
        lines += [f"#### {g}", ""] + api_table(sorted(fgroups[g])) + [""]
    lines += ["### ember.nn.init", ""] + api_table(rows_for(init, public_names(init), "init.")) + [""]
    lines += ["### ember.nn.utils", ""] + api_table(rows_for(nn_utils, public_names(nn_utils), "nn.utils.")) + [""]
    return lines


def optim_section():
    import ember.optim as optim
    import ember.optim.lr_scheduler as sched
    lines = ["## ember.optim", "", "### Optimizers", ""]
    opt_names = [n for n in public_names(optim) if isinstance(getattr(optim, n), type)]
    lines += api_table(rows_for(optim, opt_names, "optim.")) + [""]
    lines += ["### Learning-rate schedulers (ember.optim.lr_scheduler)", ""]
    lines += api_table(rows_for(sched, public_names(sched), "lr_scheduler.")) + [""]
    swa = getattr(optim, "swa_utils", None)
    if swa is not None:
        lines += ["### ember.optim.swa_utils", ""]
        lines += api_table(rows_for(swa, public_names(swa), "swa_utils.")) + [""]
    return lines


def data_section():
    import ember.utils.data as data
    return (["## ember.utils.data", ""] + api_table(rows_for(data, public_names(data), "data.")) + [""])


def autograd_section():
    import ember.autograd as ag
    rows = rows_for(ag, public_names(ag), "autograd.")
    fn = getattr(ag, "Function", None)
    if fn is not None:
        for n in ("apply", "forward", "backward"):
            if hasattr(fn, n):
                rows.append((f"autograd.Function.{n}", signature_text(getattr(fn, n)), "static/class method"))
    ctx = getattr(ag, "FunctionCtx", None)
    if ctx is not None:
        for n in sorted(vars(ctx)):
            if not n.startswith("_"):
                v = vars(ctx)[n]
                rows.append((f"autograd.FunctionCtx.{n}", "" if isinstance(v, property) else signature_text(v),
                             kind_of(v) if isinstance(v, property) else "method"))
    return ["## ember.autograd", ""] + api_table(rows) + [""]


def known_limits():
    """README.md's "Known limits:" paragraph, split into its clauses."""
    readme = ROOT / "README.md"
    if not readme.exists():
        return []
    text = readme.read_text()
    m = re.search(r"Known limits:(.*?)(?:\n\s*\n|$)", text, re.S)
    if not m:
        return []
    para = " ".join(m.group(1).split()).rstrip(".")
    clauses = split_top(para, sep=";", quotes="`", opening="(", closing=")")
    return [c[0].upper() + c[1:] for c in clauses if c]


def differences_section(groups):
    import ember
    lines = ["## Notable differences from torch", "",
             "From README.md (\"Known limits\"):", ""]
    lines += [f"- {c}." for c in known_limits()] or ["- (README.md has no \"Known limits\" paragraph)"]
    lines += ["", "From the code:", ""]
    dts = sorted(ember.dtype.__members__)
    lines.append(f"- dtypes: ember has exactly {', '.join('`' + d + '`' for d in dts)} (`ember.dtype.__members__`); "
                 "torch's other dtypes (`float16`, `bfloat16`, `int32`, `int16`, `int8`, `uint8`, complex, ...) do not "
                 "exist (`Tensor.int()` raises).")
    cuda = getattr(ember, "cuda", None)
    if cuda is not None and hasattr(cuda, "is_available"):
        lines.append(f"- Devices: CPU only. `ember.cuda.is_available()` is `{cuda.is_available()}`; `device=` "
                     "accepts `'cpu'` and raises what a CPU-only torch raises for any other device.")
    seed_doc = (inspect.getdoc(ember.manual_seed) or "").replace("\n", " ")
    lines.append("- Random numbers: `ember.manual_seed`: " + (seed_doc or "seeds ember's own generator.") +
                 " ember's sampling functions, dropout, `nn.init` and `DataLoader(shuffle=True)` draw from ember's "
                 "own generators, so no seed reproduces torch's numbers.")
    gen_ops, ignored_ops = set(), set()
    for name, decls in groups.items():
        for s, _, _ in decls:
            for p in s.params:
                if p.base == "Generator":
                    gen_ops.add(name)
                if p.base in ("MemoryFormat", "Layout"):
                    ignored_ops.add(name)
    if gen_ops:
        lines.append("- `generator=` (" + ", ".join(f"`{n}`" for n in sorted(gen_ops)) + ") takes an "
                     "`ember.Generator`: ember's own stream, so a seeded generator does not give torch's numbers "
                     "either.")
    if ignored_ops:
        lines.append("- `memory_format=` / `layout=` are accepted and ignored by " +
                     ", ".join(f"`{n}`" for n in sorted(ignored_ops)) + " (ember tensors are always strided).")
    method_only = sorted(n for n, d in groups.items() if "function" not in variants_of(d))
    if method_only:
        lines.append("- Method-only ops (no `ember.X` function form): " + ", ".join(f"`{n}`" for n in method_only) +
                     ".")
    lines.append("- Convolution, pooling, recurrent and attention layers (`nn.Conv*`, `nn.*Pool*`, `nn.RNN`/`LSTM`/"
                 "`GRU`, `nn.Transformer*`, `nn.MultiheadAttention`, `F.scaled_dot_product_attention`), sliding "
                 "blocks and shuffles (`nn.Unfold`/`Fold`, `nn.PixelShuffle`/`PixelUnshuffle`, `nn.ChannelShuffle`), resizing "
                 "(`F.interpolate`, `nn.Upsample`) "
                 "are in `ember.nn` with torch's names. [coverage.md](coverage.md) "
                 "lists, module by module, which of torch's other names ember has and which take torch's keywords.")
    lines.append("")
    return lines


def generate():
    groups = grouped_ops()
    ops_lines, counts = ops_section(groups)
    n_decl = sum(len(d) for d in groups.values())
    head = ["# ember API reference", "",
            "<!-- Generated by scripts/gen_api_docs.py from the op table and by introspecting src/ember. Do not edit: "
            "run `python scripts/gen_api_docs.py`. -->", "",
            f"ember's public API as a torch compatibility reference: {len(groups)} ops ({n_decl} declarations) from "
            "the op table, grouped as torch's documentation groups them, then the Python-level API. "
            "Architecture: [architecture.md](architecture.md); coverage of torch's API by name: "
            "[coverage.md](coverage.md).", "",
            "## Contents", ""]
    head += [f"- [{g}](#{anchor(g)}) ({counts[g]})" for g in GROUP_ORDER + sorted(set(counts) - set(GROUP_ORDER))
             if g in counts]
    for title in ("Tensor members outside the op table", "Other top-level names", "ember.nn", "ember.optim",
                  "ember.utils.data", "ember.autograd", "Notable differences from torch"):
        head.append(f"- [{title}](#{anchor(title)})")
    head.append("")
    body = (ops_lines + tensor_extras_section(groups) + toplevel_section(groups) + nn_section() + optim_section() +
            data_section() + autograd_section() + differences_section(groups))
    return "\n".join(head + body).rstrip() + "\n"


def anchor(title):
    """GitHub's heading anchor."""
    a = title.strip().lower()
    a = re.sub(r"[^\w\- ]", "", a)
    return a.replace(" ", "-")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if docs/api.md is out of date")
    args = ap.parse_args(argv)
    text = generate()
    if args.check:
        return 0 if up_to_date(OUT, text, "gen_api_docs.py") else 1
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(text)
    print(f"wrote {OUT.relative_to(ROOT)} ({len(text.splitlines())} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
