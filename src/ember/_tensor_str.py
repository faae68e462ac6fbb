"""Tensor printing in torch's format: tensor([[1., 2.]], requires_grad=True), grad_fn=<MulBackward0>.

Follows torch/_tensor_str.py's rules (precision 4, integer mode, scientific mode, 80 columns,
summarised with '...' past 1000 elements), reading values through numpy.
"""
import math

import numpy as np

PRECISION = 4
THRESHOLD = 1000
EDGEITEMS = 3
LINEWIDTH = 80


class _Formatter:
    def __init__(self, values, floating):
        self.floating = floating
        self.int_mode = True
        self.sci_mode = False
        self.width = 1
        vals = np.asarray(values).ravel()
        if not floating:
            strs = [str(v) for v in (vals.astype(bool) if vals.dtype == np.bool_ else vals.astype(np.int64))]
            if vals.dtype == np.bool_:
                strs = [str(bool(v)) for v in vals]
            self.width = max((len(s) for s in strs), default=1)
            return
        finite = vals[np.isfinite(vals)].astype(np.float64)
        nonzero = np.abs(finite[finite != 0])
        self.int_mode = bool(np.all(np.ceil(finite) == finite))
        if nonzero.size == 0:
            self.width = max((len(self.format(float(v))) for v in vals), default=1)
            return
        amin, amax = float(nonzero.min()), float(nonzero.max())
        if self.int_mode:
            if amax / amin > 1000.0 or amax > 1e8:
                self.sci_mode = True
        else:
            if amax / amin > 1000.0 or amax > 1e8 or amin < 1e-4:
                self.sci_mode = True
        self.width = max(len(self.format(float(v))) for v in vals)

    @staticmethod
    def _fmt_special(v):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return None

    def format(self, v):
        if not self.floating:
            return str(v)
        v = float(v)
        s = self._fmt_special(v)
        if s is not None:
            return s
        if self.sci_mode:
            return f"{v:.{PRECISION}e}"
        if self.int_mode:
            return f"{v:.0f}."
        return f"{v:.{PRECISION}f}"

    def pad(self, v):
        return self.format(v).rjust(self.width)


def _format_block(arr, fmt, indent, summarize):
    if arr.ndim == 0:
        return fmt.pad(arr.item())
    if arr.ndim == 1:
        n = arr.shape[0]
        if summarize and n > 2 * EDGEITEMS:
            items = [fmt.pad(x) for x in arr[:EDGEITEMS].tolist()] + [" ..."] + [fmt.pad(x) for x in arr[-EDGEITEMS:].tolist()]
        else:
            items = [fmt.pad(x) for x in arr.tolist()]
        per_line = max(1, math.floor((LINEWIDTH - indent) / (fmt.width + 2)))
        lines = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
        return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"
    n = arr.shape[0]
    if summarize and n > 2 * EDGEITEMS:
        parts = [_format_block(arr[i], fmt, indent + 1, summarize) for i in range(EDGEITEMS)] + ["..."] + [
            _format_block(arr[i], fmt, indent + 1, summarize) for i in range(n - EDGEITEMS, n)]
    else:
        parts = [_format_block(arr[i], fmt, indent + 1, summarize) for i in range(n)]
    sep = "," + "\n" * (arr.ndim - 1) + " " * (indent + 1)
    return "[" + sep.join(parts) + "]"


def _summary_values(arr):
    if arr.ndim == 0:
        return arr.reshape(1)
    if all(s <= 2 * EDGEITEMS for s in arr.shape):
        return arr
    idx = tuple(np.r_[0:min(EDGEITEMS, s), max(s - EDGEITEMS, min(EDGEITEMS, s)):s] for s in arr.shape)
    return arr[np.ix_(*idx)]


def tensor_repr(t, prefix="tensor("):
    import ember
    arr = t.detach().numpy()
    floating = t.dtype in (ember.float32, ember.float64)
    summarize = arr.size > THRESHOLD
    suffixes = []
    if arr.size == 0 and arr.ndim != 1:
        body = "[]"
        suffixes.append("size=" + str(tuple(arr.shape)))
    elif arr.size == 0:
        body = "[]"
    else:
        fmt = _Formatter(_summary_values(arr) if summarize else arr, floating)
        body = _format_block(arr, fmt, len(prefix), summarize)
    if t.dtype not in (ember.float32, ember.int64, ember.bool):
        suffixes.append("dtype=" + repr(t.dtype))
    if t.grad_fn is not None:
        suffixes.append("grad_fn=<" + t.grad_fn.name() + ">")
    elif t.requires_grad:
        suffixes.append("requires_grad=True")
    # torch's rule: a suffix that would overflow the line goes on a line of its own
    last_line_len = len(prefix) + len(body) if "\n" not in body else len(body) - body.rfind("\n") + 1
    for suffix in suffixes:
        if last_line_len + len(suffix) + 2 > LINEWIDTH:
            body += ",\n" + " " * len(prefix) + suffix
            last_line_len = len(prefix) + len(suffix)
        else:
            body += ", " + suffix
            last_line_len += len(suffix) + 2
    return prefix + body + ")"
