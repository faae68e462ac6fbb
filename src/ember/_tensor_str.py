"""Tensor printing in torch's format: tensor([[1., 2.]], requires_grad=True), grad_fn=<MulBackward0>.

A port of torch/_tensor_str.py (torch 2.13) over numpy: the same print options (set_printoptions:
precision, threshold, edgeitems, linewidth, sci_mode, profile), the same formatter rules (integer
mode, scientific mode chosen from the non-zero finite values, widths from those values only),
summarisation with '...', line wrapping, and suffixes (dtype= when not the default dtype, int64 or
bool; size= for empty tensors; grad_fn= / requires_grad=) placed on their own line when they
would overflow it.
"""
import contextlib
import dataclasses
import math

import numpy as np


@dataclasses.dataclass
class __PrinterOptions:
    precision: int = 4
    threshold: float = 1000
    edgeitems: int = 3
    linewidth: int = 80
    sci_mode: "bool | None" = None


PRINT_OPTS = __PrinterOptions()


def set_printoptions(precision=None, threshold=None, edgeitems=None, linewidth=None, profile=None, sci_mode=None):
    """torch.set_printoptions. profile is one of 'default', 'short', 'full' (others are ignored, as
    torch ignores them); sci_mode=None (the default, also when omitted) lets the formatter choose."""
    if profile is not None:
        if profile == "default":
            PRINT_OPTS.precision = 4
            PRINT_OPTS.threshold = 1000
            PRINT_OPTS.edgeitems = 3
            PRINT_OPTS.linewidth = 80
        elif profile == "short":
            PRINT_OPTS.precision = 2
            PRINT_OPTS.threshold = 1000
            PRINT_OPTS.edgeitems = 2
            PRINT_OPTS.linewidth = 80
        elif profile == "full":
            PRINT_OPTS.precision = 4
            PRINT_OPTS.threshold = math.inf
            PRINT_OPTS.edgeitems = 3
            PRINT_OPTS.linewidth = 80
    if precision is not None:
        PRINT_OPTS.precision = precision
    if threshold is not None:
        PRINT_OPTS.threshold = threshold
    if edgeitems is not None:
        PRINT_OPTS.edgeitems = edgeitems
    if linewidth is not None:
        PRINT_OPTS.linewidth = linewidth
    PRINT_OPTS.sci_mode = sci_mode


def get_printoptions():
    """The current options as a dict that set_printoptions(**options) accepts."""
    return dataclasses.asdict(PRINT_OPTS)


@contextlib.contextmanager
def printoptions(**kwargs):
    """Temporarily change the print options (the arguments of set_printoptions)."""
    old = get_printoptions()
    set_printoptions(**kwargs)
    try:
        yield
    finally:
        set_printoptions(**old)


class _Formatter:
    """Chooses integer / fixed / scientific mode and the column width from the values shown."""

    def __init__(self, values, floating):
        self.floating_dtype = floating
        self.int_mode = True
        self.sci_mode = False
        self.max_width = 1
        flat = values.reshape(-1)
        if not floating:
            for v in flat.tolist():
                self.max_width = max(self.max_width, len(f"{v}"))
            return
        nonzero_finite = flat[np.isfinite(flat) & (flat != 0)]
        if nonzero_finite.size == 0:
            return
        absolute = np.abs(nonzero_finite).astype(np.float64)
        amin, amax = float(absolute.min()), float(absolute.max())
        self.int_mode = bool(np.all(nonzero_finite == np.ceil(nonzero_finite)))
        if PRINT_OPTS.sci_mode is None:
            self.sci_mode = amax / amin > 1000.0 or amax > 1.0e8 or amin < 1.0e-4
        else:
            self.sci_mode = PRINT_OPTS.sci_mode
        vals = nonzero_finite.tolist()
        p = PRINT_OPTS.precision
        if self.sci_mode:
            width = max(len(f"{v:.{p}e}") for v in vals)
        elif self.int_mode:
            width = max(len(f"{v:.0f}") + 1 for v in vals)
        else:
            width = max(len(f"{v:.{p}f}") for v in vals)
        self.max_width = max(self.max_width, width)

    def width(self):
        return self.max_width

    def format(self, value):
        if self.floating_dtype:
            p = PRINT_OPTS.precision
            if self.sci_mode:
                ret = f"{value:{self.max_width}.{p}e}"
            elif self.int_mode:
                ret = f"{value:.0f}"
                if not (math.isinf(value) or math.isnan(value)):
                    ret += "."
            else:
                ret = f"{value:.{p}f}"
        else:
            ret = f"{value}"
        return (self.max_width - len(ret)) * " " + ret


def _vector_str(arr, indent, summarize, formatter):
    element_length = formatter.width() + 2
    elements_per_line = max(1, math.floor((PRINT_OPTS.linewidth - indent) / element_length))
    e = PRINT_OPTS.edgeitems
    if summarize and not e:
        data = ["..."]
    elif summarize and arr.shape[0] > 2 * e:
        data = ([formatter.format(v) for v in arr[:e].tolist()] + [" ..."]
                + [formatter.format(v) for v in arr[-e:].tolist()])
    else:
        data = [formatter.format(v) for v in arr.tolist()]
    lines = [", ".join(data[i:i + elements_per_line]) for i in range(0, len(data), elements_per_line)]
    return "[" + ("," + "\n" + " " * (indent + 1)).join(lines) + "]"


def _tensor_str_with_formatter(arr, indent, summarize, formatter):
    dim = arr.ndim
    if dim == 0:
        return formatter.format(arr.item())
    if dim == 1:
        return _vector_str(arr, indent, summarize, formatter)
    e = PRINT_OPTS.edgeitems
    n = arr.shape[0]
    if summarize and n > 2 * e:
        slices = ([_tensor_str_with_formatter(arr[i], indent + 1, summarize, formatter) for i in range(e)] + ["..."]
                  + [_tensor_str_with_formatter(arr[i], indent + 1, summarize, formatter) for i in range(n - e, n)])
    else:
        slices = [_tensor_str_with_formatter(arr[i], indent + 1, summarize, formatter) for i in range(n)]
    return "[" + ("," + "\n" * (dim - 1) + " " * (indent + 1)).join(slices) + "]"


def _summarized_data(arr):
    """The values a summarised print shows (edgeitems from each end of every dimension)."""
    dim = arr.ndim
    e = PRINT_OPTS.edgeitems
    if dim == 0:
        return arr
    if dim == 1:
        # (with edgeitems=0 torch keeps arr[-0:], the whole row, and so does this)
        return np.concatenate((arr[:e], arr[-e:])) if arr.shape[0] > 2 * e else arr
    if not e:
        return np.empty([0] * dim, dtype=arr.dtype)
    if arr.shape[0] > 2 * e:
        rows = [arr[i] for i in range(e)] + [arr[i] for i in range(arr.shape[0] - e, arr.shape[0])]
    else:
        rows = list(arr)
    return np.stack([_summarized_data(r) for r in rows])


def _tensor_str(arr, indent, floating):
    if arr.size == 0:
        return "[]"
    summarize = arr.size > PRINT_OPTS.threshold
    formatter = _Formatter(_summarized_data(arr) if summarize else arr, floating)
    return _tensor_str_with_formatter(arr, indent, summarize, formatter)


def _add_suffixes(tensor_str, suffixes, indent, force_newline):
    tensor_strs = [tensor_str]
    last_line_len = len(tensor_str) - tensor_str.rfind("\n") + 1
    for suffix in suffixes:
        suffix_len = len(suffix)
        if force_newline or last_line_len + suffix_len + 2 > PRINT_OPTS.linewidth:
            tensor_strs.append(",\n" + " " * indent + suffix)
            last_line_len = indent + suffix_len
            force_newline = False
        else:
            tensor_strs.append(", " + suffix)
            last_line_len += suffix_len + 2
    tensor_strs.append(")")
    return "".join(tensor_strs)


_PARAMETER = []


def _is_plain(t):
    from . import _C
    if type(t) is _C.Tensor:
        return True
    if not _PARAMETER:
        from .nn.parameter import Parameter
        _PARAMETER.append(Parameter)
    return type(t) is _PARAMETER[0]


def tensor_repr(t, prefix=None):
    """repr(t) as torch prints it (prefix 'tensor(', or the subclass name for Tensor subclasses
    other than Parameter)."""
    from . import _C
    from ._factories import get_default_dtype
    if prefix is None:
        prefix = "tensor(" if _is_plain(t) else f"{type(t).__name__}("
    indent = len(prefix)
    arr = t.detach()
    arr = (arr.float() if arr.dtype == _C.dtype.bfloat16 else arr).numpy()  # numpy has no bfloat16
    dtype = t.dtype
    default = get_default_dtype()
    has_default_dtype = dtype in (default, _C.dtype.int64, _C.dtype.bool)
    suffixes = []
    if arr.size == 0:
        # the shape is shown unless it is (0,), and the dtype unless it is the default (no values to infer it from)
        if arr.ndim != 1:
            suffixes.append("size=" + str(tuple(arr.shape)))
        if dtype != default:
            suffixes.append("dtype=" + str(dtype))
        tensor_str = "[]"
    else:
        if not PRINT_OPTS.edgeitems:
            suffixes.append("size=" + str(tuple(arr.shape)))
        if not has_default_dtype:
            suffixes.append("dtype=" + str(dtype))
        tensor_str = _tensor_str(arr, indent, dtype.is_floating_point)
    grad_fn = t.grad_fn
    if grad_fn is not None:
        suffixes.append("grad_fn=<" + grad_fn.name() + ">")
    elif t.requires_grad:
        suffixes.append("requires_grad=True")
    return _add_suffixes(prefix + tensor_str, suffixes, indent, force_newline=False)
