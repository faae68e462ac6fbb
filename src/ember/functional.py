"""The ops torch writes in Python (torch/functional.py and its neighbours): einsum, tensordot,
cdist/pdist, broadcast_tensors/broadcast_shapes, atleast_Nd, block_diag, cartesian_prod,
chain_matmul, trapezoid/trapz/cumulative_trapezoid, cov/corrcoef, vander, unravel_index, diff,
gradient. Each is built from ember's differentiable C++ ops, so autograd needs nothing of its own,
and each is declared once with `declare` (ember._op_registry) with torch's Python signature.

Semantics and error types follow torch's documentation and behaviour; the code is ember's own."""
import math
import numbers
import warnings

import numpy as _np

from . import _C
from ._factories import get_default_dtype, ones, tensor, zeros
from ._op_registry import declare
from ._tensor import Size

Tensor = _C.Tensor

__all__ = [
    "atleast_1d", "atleast_2d", "atleast_3d", "block_diag", "broadcast_shapes", "broadcast_tensors",
    "cartesian_prod", "cdist", "chain_matmul", "corrcoef", "cov", "cumulative_trapezoid", "diff", "einsum",
    "gradient", "pdist", "tensordot", "trapezoid", "trapz", "unravel_index", "vander",
]

_TYPE_NAMES = {"float32": "Float", "float64": "Double", "int64": "Long", "bool": "Bool", "int32": "Int",
               "int16": "Short", "int8": "Char", "uint8": "Byte", "float16": "Half", "bfloat16": "BFloat16"}


# ---------------------------------------------------------------------------------------------
# helpers

def _is_tensor(x):
    return isinstance(x, Tensor)


def _type_name(dt):
    """torch's name of a dtype in messages ("Float", "Long")."""
    name = str(dt).split(".")[-1]
    return _TYPE_NAMES.get(name, name)


def _is_bool(t):
    return t.dtype == _C.dtype.bool


def _is_float(t):
    return t.dtype.is_floating_point


def _wrap_dim(d, ndim):
    if not isinstance(d, numbers.Integral) or isinstance(d, bool):
        raise TypeError(f"dim must be an int, not {type(d).__name__}")
    n = max(ndim, 1)
    if not -n <= d < n:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {d})")
    return int(d) % n


def _prod(xs):
    p = 1
    for x in xs:
        p *= int(x)
    return p


def _check_list_element(t, i):
    """torch's TypeError for element i of a Tensor[] argument that is not a tensor."""
    if not _is_tensor(t):
        raise TypeError(f"expected Tensor as element {i} in argument 0, but got {type(t).__name__}")


def _broadcast_shape(shapes, mismatch):
    """The shape (a list) that `shapes` broadcast to. Where dimension i of shapes[k] (`s`) does not
    match dimension j of the shape so far (`out`), raises mismatch(k, s, i, j, out)."""
    ndim = max((len(s) for s in shapes), default=0)
    out = [1] * ndim
    for k, s in enumerate(shapes):
        for i, n in enumerate(s):
            j = ndim - len(s) + i
            if n == out[j] or n == 1:
                continue
            if out[j] == 1:
                out[j] = n
            else:
                raise mismatch(k, s, i, j, out)
    return out


def _broadcast_pair_msg(shapes):
    """The broadcast of several shapes, with torch's message for tensors that do not broadcast."""
    return _broadcast_shape(shapes, lambda k, s, i, j, out: RuntimeError(
        f"The size of tensor a ({out[j]}) must match the size of tensor b ({s[i]}) at non-singleton dimension {j}"))


def _write_out(out, result, name):
    """torch's out= contract for a Python-level op: `out` is resized to the result's shape and
    receives its values (cast to out's dtype where torch allows it); the call returns `out`.
    Goes through a C++ op with out= (an exact copy: where(True, r, r))."""
    if not _is_tensor(out):
        raise TypeError(f"{name}(): argument 'out' must be Tensor, not {type(out).__name__}")
    try:
        return _C.where(tensor(True), result, result, out=out)
    except RuntimeError as e:
        raise RuntimeError(str(e).replace("where()", f"{name}()")) from None


def _mm_dtype_check(name, *ts):
    for t in ts:
        if _is_bool(t):
            raise NotImplementedError(f"\"{name}\" not implemented for 'Bool'")


# ---------------------------------------------------------------------------------------------
# einsum

_NLETTERS = 52  # A-Z then a-z; ellipsis dimensions get labels from 52 on


def _letter_id(c):
    if "A" <= c <= "Z":
        return ord(c) - ord("A")
    if "a" <= c <= "z":
        return 26 + ord(c) - ord("a")
    return -1


def _id_letter(i):
    return chr(ord("A") + i) if i < 26 else chr(ord("a") + i - 26)


def _label_name(label):
    return _id_letter(label) if label < _NLETTERS else "..."


def _sublist_equation(args):
    """einsum(op0, sub0, op1, sub1, ..., [sub_out]) -> (equation, operands)."""
    def convert(sub):
        s = ""
        for x in sub:
            if x is Ellipsis:
                s += "..."
                continue
            if not isinstance(x, numbers.Integral) or isinstance(x, bool):
                raise TypeError(f"einsum(): subscripts in a subscript list must be integers or Ellipsis, "
                                f"got {type(x).__name__}")
            if not 0 <= x < _NLETTERS:
                raise ValueError("einsum(): subscript in subscript list is not within the valid range [0, 52)")
            s += _id_letter(int(x))
        return s

    operands = list(args[0::2])
    subs = list(args[1::2])
    out = None
    if len(operands) > len(subs):  # an odd count: the last entry is the output's subscripts
        out = operands.pop()
    eq = ",".join(convert(s) for s in subs)
    if out is not None:
        eq += "->" + convert(out)
    return eq, operands


def _parse_einsum(equation, operands):
    """-> (per-operand label lists with ellipsis dims as labels >= 52, output labels)."""
    arrow = equation.find("->")
    lhs = equation if arrow < 0 else equation[:arrow]
    nops = len(operands)

    # the subscripts of each operand: letter ids, and "..." as the marker -1
    op_subs = [[]]
    found_ell = False
    i = 0
    while i < len(lhs):
        c = lhs[i]
        if c == " ":
            pass
        elif c == ".":
            cur = len(op_subs) - 1
            if found_ell:
                raise RuntimeError(f"einsum(): found '.' for operand {cur} for which an ellipsis was already found")
            if not (i + 2 < len(lhs) and lhs[i + 1] == "." and lhs[i + 2] == "."):
                raise RuntimeError(f"einsum(): found '.' for operand {cur} that is not part of any ellipsis")
            i += 2
            op_subs[-1].append(-1)
            found_ell = True
        elif c == ",":
            if len(op_subs) >= nops:
                raise RuntimeError("einsum(): fewer operands were provided than specified in the equation")
            op_subs.append([])
            found_ell = False
        else:
            lid = _letter_id(c)
            if lid < 0:
                raise RuntimeError(f"einsum(): invalid subscript given at index {i} in the equation string, "
                                   "subscripts must be in [a-zA-Z]")
            op_subs[-1].append(lid)
        i += 1
    if len(op_subs) != nops:
        raise RuntimeError("einsum(): more operands were provided than specified in the equation")

    # number of dims each ellipsis covers
    ell_dims = []
    for k, (subs, op) in enumerate(zip(op_subs, operands)):
        nlabels = sum(1 for s in subs if s >= 0)
        ndim = op.dim()
        if -1 in subs:
            if nlabels > ndim:
                raise RuntimeError(f"einsum(): the number of subscripts in the equation ({nlabels}) is more than "
                                   f"the number of dimensions ({ndim}) for operand {k}")
            ell_dims.append(ndim - nlabels)
        else:
            if nlabels != ndim:
                raise RuntimeError(f"einsum(): the number of subscripts in the equation ({nlabels}) does not match "
                                   f"the number of dimensions ({ndim}) for operand {k} and no ellipsis was given")
            ell_dims.append(0)
    max_ell = max(ell_dims, default=0)
    any_ell = any(-1 in subs for subs in op_subs)

    # labels per dimension; ellipsis dims are right-aligned across operands (numpy broadcasting)
    op_labels = []
    for subs, e in zip(op_subs, ell_dims):
        labels = []
        for s in subs:
            if s == -1:
                labels.extend(_NLETTERS + max_ell - e + j for j in range(e))
            else:
                labels.append(s)
        op_labels.append(labels)

    letters_seen = {s for subs in op_subs for s in subs if s >= 0}
    if arrow < 0:
        counts = {}
        for subs in op_subs:
            for s in subs:
                if s >= 0:
                    counts[s] = counts.get(s, 0) + 1
        out = [_NLETTERS + j for j in range(max_ell)] if any_ell else []
        out += sorted(s for s, n in counts.items() if n == 1)
    else:
        rhs = equation[arrow + 2:]
        out = []
        out_ell = False
        j = 0
        while j < len(rhs):
            c = rhs[j]
            if c == " ":
                pass
            elif c == ".":
                if out_ell:
                    raise RuntimeError("einsum(): found '.' for output but an ellipsis (...) was already found")
                if not (j + 2 < len(rhs) and rhs[j + 1] == "." and rhs[j + 2] == "."):
                    raise RuntimeError("einsum(): found '.' for output that is not part of any ellipsis (...)")
                j += 2
                out_ell = True
                out.extend(_NLETTERS + k for k in range(max_ell))
            else:
                lid = _letter_id(c)
                if lid < 0:
                    raise RuntimeError(f"einsum(): invalid subscript given at index {arrow + 2 + j} in the equation "
                                       "string, subscripts must be in [a-zA-Z]")
                if lid in out:
                    raise RuntimeError(f"einsum(): output subscript {c} appears more than once in the output")
                if lid not in letters_seen:
                    raise RuntimeError(f"einsum(): output subscript {c} does not appear in the equation for any "
                                       "input operand")
                out.append(lid)
            j += 1
    return op_labels, out


def _take_diagonals(op, labels, k):
    """A label repeated within one operand selects a diagonal (diagonal() moves it last)."""
    labels = list(labels)
    while True:
        dup = None
        for i, lab in enumerate(labels):
            if lab in labels[i + 1:]:
                dup = (i, labels.index(lab, i + 1))
                break
        if dup is None:
            return op, labels
        d1, d2 = dup
        n1, n2 = op.size(d1), op.size(d2)
        if n1 != n2:
            raise RuntimeError(f"einsum(): subscript {_label_name(labels[d1])} is repeated for operand {k} but "
                               f"the sizes don't match, {n2} != {n1}")
        lab = labels[d1]
        op = op.diagonal(0, d1, d2)
        labels = [x for j, x in enumerate(labels) if j not in (d1, d2)] + [lab]


def _sum_labels(op, labels, drop):
    if not drop:
        return op, labels
    dims = [labels.index(lab) for lab in drop]
    return op.sum(dims), [lab for lab in labels if lab not in drop]


def _permute_to(op, labels, order):
    perm = [labels.index(lab) for lab in order]
    if perm != list(range(len(perm))):
        op = op.permute(perm)
    return op


def _contract_pair(a, la, b, lb, keep):
    """sum over the labels shared by a and b that are not in `keep`, as one (batched) matrix
    product; labels shared and kept are batch dims. -> (result, labels)."""
    # a label shared by both but broadcast (size 1 in one of them) and not kept: each side sums it
    bcast = [lab for lab in la if lab in lb and lab not in keep and a.size(la.index(lab)) != b.size(lb.index(lab))]
    a, la = _sum_labels(a, la, bcast)
    b, lb = _sum_labels(b, lb, bcast)

    batch = [lab for lab in la if lab in lb and lab in keep]
    contract = [lab for lab in la if lab in lb and lab not in keep]
    a_only = [lab for lab in la if lab not in lb]
    b_only = [lab for lab in lb if lab not in la]
    a_size = {lab: a.size(i) for i, lab in enumerate(la)}
    b_size = {lab: b.size(i) for i, lab in enumerate(lb)}
    ba = [a_size[lab] for lab in batch]
    bb = [b_size[lab] for lab in batch]
    ms = [a_size[lab] for lab in a_only]
    ns = [b_size[lab] for lab in b_only]

    if not contract:  # an outer / elementwise product: broadcasting multiply (torch promotes here)
        a = _permute_to(a, la, batch + a_only).reshape(ba + ms + [1] * len(ns))
        b = _permute_to(b, lb, batch + b_only).reshape(bb + [1] * len(ms) + ns)
        return a * b, batch + a_only + b_only

    _mm_dtype_check("bmm", a, b)
    ks = [a_size[lab] for lab in contract]
    m, n, k = _prod(ms), _prod(ns), _prod(ks)
    a = _permute_to(a, la, batch + a_only + contract)
    b = _permute_to(b, lb, batch + contract + b_only)
    if not batch:
        r = a.reshape(m, k).mm(b.reshape(k, n))
        out_batch = []
    elif ba == bb:
        nb = _prod(ba)
        r = a.reshape(nb, m, k).bmm(b.reshape(nb, k, n))
        out_batch = ba
    else:  # batch dims broadcast (size 1 against n): matmul broadcasts them
        r = a.reshape(ba + [m, k]).matmul(b.reshape(bb + [k, n]))
        out_batch = [max(x, y) if min(x, y) != 0 else 0 for x, y in zip(ba, bb)]
    return r.reshape(out_batch + ms + ns), batch + a_only + b_only


def _check_label_sizes(ops, labels):
    seen = {}
    for k, (op, labs) in enumerate(zip(ops, labels)):
        for i, lab in enumerate(labs):
            n = op.size(i)
            prev = seen.get(lab)
            if prev is None or prev == 1:
                seen[lab] = n
            elif n != 1 and n != prev:
                if lab < _NLETTERS:
                    raise RuntimeError(f"einsum(): subscript {_id_letter(lab)} has size {n} for operand {k} which "
                                       f"does not broadcast with previously seen size {prev}")
                raise RuntimeError(f"einsum(): dimension {lab - _NLETTERS} covered by ellipsis in operand {k} has "
                                   f"size {n} which does not broadcast with previously seen ellipsis with size "
                                   f"{prev} for the respective dimension")


@declare("einsum(str equation, Tensor[] *operands) -> Tensor")
def einsum(*args):
    """Einstein summation: einsum("ij,jk->ik", a, b), einsum("ij,jk", [a, b]) or the sublist
    form einsum(a, [0, 1], b, [1, 2], [0, 2]). Repeated subscripts in one operand take diagonals,
    `...` broadcasts, subscripts absent from the output are summed; operands are contracted left
    to right, each pair as one batched matrix product."""
    if len(args) < 2:
        raise ValueError("einsum(): must specify the equation string and at least one operand, "
                         "or at least one operand and its subscripts list")
    if isinstance(args[0], str):
        equation, operands = args[0], list(args[1:])
        if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
            return einsum(equation, *operands[0])
    else:
        equation, operands = _sublist_equation(args)
    for i, op in enumerate(operands):
        if not _is_tensor(op):
            raise TypeError(f"einsum(): expected Tensor as element {i} in argument 1, but got {type(op).__name__}")

    op_labels, out = _parse_einsum(equation, operands)

    ops, labels = [], []
    for k, (op, labs) in enumerate(zip(operands, op_labels)):
        op, labs = _take_diagonals(op, labs, k)
        ops.append(op)
        labels.append(labs)
    _check_label_sizes(ops, labels)

    # labels each operand still needs to keep: those of the output and of the other operands
    def needed_by(others):
        s = set(out)
        for labs in others:
            s.update(labs)
        return s

    res, rl = ops[0], labels[0]
    for i in range(1, len(ops)):
        b, lb = ops[i], labels[i]
        keep = needed_by(labels[i + 1:])
        # sum early what only one side has and nothing later needs
        res, rl = _sum_labels(res, rl, [lab for lab in rl if lab not in lb and lab not in keep])
        b, lb = _sum_labels(b, lb, [lab for lab in lb if lab not in rl and lab not in keep])
        res, rl = _contract_pair(res, rl, b, lb, keep)
    res, rl = _sum_labels(res, rl, [lab for lab in rl if lab not in out])
    return _permute_to(res, rl, out)


# ---------------------------------------------------------------------------------------------
# tensordot

def _int_list(x):
    if isinstance(x, Tensor):
        x = x.tolist()
    if isinstance(x, (list, tuple)) and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in x):
        return [int(v) for v in x]
    raise TypeError(f"tensordot(): argument 'dims_self' (position 3) must be tuple of ints, not {type(x).__name__}")


@declare("tensordot(Tensor a, Tensor b, int dims=2, *, Tensor? out=None) -> Tensor")
def tensordot(a, b, dims=2, out=None):
    """Sum of products over dims of a and b: dims=n (the last n of a with the first n of b), a
    pair of lists ([dims of a], [dims of b]) or a tensor holding either."""
    if not _is_tensor(a) or not _is_tensor(b):
        raise TypeError("tensordot(): arguments 'a' and 'b' must be Tensors")
    if isinstance(dims, Tensor):
        dims = dims.item() if dims.numel() == 1 else dims.tolist()
    if isinstance(dims, numbers.Integral) and not isinstance(dims, bool):
        dims = int(dims)
        if dims < 0:
            raise RuntimeError(f"tensordot expects dims >= 0, but got dims={dims}")
        if dims > min(a.dim(), b.dim()):
            raise RuntimeError(f"tensordot expects dims < ndim_a or ndim_b, but got dims={dims}")
        dims_a = list(range(a.dim() - dims, a.dim()))
        dims_b = list(range(dims))
    elif isinstance(dims, (list, tuple)):
        if len(dims) != 2:
            raise ValueError("too many values to unpack (expected 2)" if len(dims) > 2
                             else f"not enough values to unpack (expected 2, got {len(dims)})")
        dims_a, dims_b = _int_list(dims[0]), _int_list(dims[1])
    else:
        raise RuntimeError("tensordot expects dims to be int or tuple[list[int], list[int]] or list[list[int]] "
                           f"containing two lists, but got dims={dims}")
    if len(dims_a) != len(dims_b):
        raise RuntimeError("both dimension lists should have same length")
    if a.dtype != b.dtype:
        raise RuntimeError("both inputs should have same dtype")
    dims_a = [_wrap_dim(d, a.dim()) for d in dims_a]
    dims_b = [_wrap_dim(d, b.dim()) for d in dims_b]
    for ds in (dims_a, dims_b):
        for d in ds:
            if ds.count(d) > 1:
                raise RuntimeError(f"dim {d} appears multiple times in the list of dims")

    # a contracted size 1 against n broadcasts: the other side is summed over that dim first
    sum_a, sum_b = [], []
    for da, db in zip(dims_a, dims_b):
        sa, sb = a.size(da), b.size(db)
        if sa == sb:
            continue
        if sb == 1:
            sum_a.append(da)
        elif sa == 1:
            sum_b.append(db)
        else:
            raise RuntimeError(f"contracted dimensions need to match, but first has size {sa} in dim {da} and "
                               f"second has size {sb} in dim {db}")
    if sum_a:
        a = a.sum(sum_a, keepdim=True)
    if sum_b:
        b = b.sum(sum_b, keepdim=True)

    _mm_dtype_check("addmm_impl_cpu_", a, b)
    free_a = [d for d in range(a.dim()) if d not in dims_a]
    free_b = [d for d in range(b.dim()) if d not in dims_b]
    sa = [a.size(d) for d in free_a]
    sb = [b.size(d) for d in free_b]
    k = _prod(a.size(d) for d in dims_a)
    am = a.permute(free_a + dims_a).reshape(_prod(sa), k)
    bm = b.permute(dims_b + free_b).reshape(k, _prod(sb))
    res = am.mm(bm).reshape(sa + sb)
    return res if out is None else _write_out(out, res, "tensordot")


# ---------------------------------------------------------------------------------------------
# distances

_CDIST_MODES = ("use_mm_for_euclid_dist_if_necessary", "use_mm_for_euclid_dist", "donot_use_mm_for_euclid_dist")


def _safe_sqrt(x):
    """sqrt with gradient 0 where x <= 0 (torch's distances at zero distance)."""
    pos = x > 0
    return _C.where(pos, _C.where(pos, x, ones((), dtype=x.dtype)).sqrt(), zeros((), dtype=x.dtype))


def _rows_norm(d, p):
    """The p-norm over the last dim of differences d, zero-safe."""
    if d.size(-1) == 0:
        return d.abs().sum(-1)
    if p == 0 and d.requires_grad:
        # the count's gradient: zeros for cdist / pdist in torch (vector_norm's own is None)
        return _C.linalg_vector_norm(d.detach(), 0, -1) + (d * 0).sum(-1)
    return _C.linalg_vector_norm(d, p, -1)


@declare('cdist(Tensor x1, Tensor x2, float p=2.0, str compute_mode="use_mm_for_euclid_dist_if_necessary") '
         "-> Tensor")
def cdist(x1, x2, p=2.0, compute_mode="use_mm_for_euclid_dist_if_necessary"):
    """p-norm distances between the rows of x1 (B..., P, M) and of x2 (B..., R, M): (B..., P, R).
    The gradient is 0 at zero distance (as torch)."""
    if compute_mode not in _CDIST_MODES:
        raise ValueError(f"{compute_mode} is not a valid value for compute_mode")
    for name, x in (("X1", x1), ("X2", x2)):
        if not _is_tensor(x):
            raise TypeError(f"cdist(): argument '{name.lower()}' must be Tensor, not {type(x).__name__}")
    for name, x in (("X1", x1), ("X2", x2)):
        if not _is_float(x):
            raise RuntimeError(f"cdist only supports floating-point dtypes, {name} got: {_type_name(x.dtype)}")
    for name, x in (("X1", x1), ("X2", x2)):
        if x.dim() < 2:
            raise RuntimeError(f"cdist only supports at least 2D tensors, {name} got: {x.dim()}D")
    if x1.size(-1) != x2.size(-1):
        raise RuntimeError(f"X1 and X2 must have the same number of columns. X1: {x1.size(-1)} X2: {x2.size(-1)}")
    if x1.dtype != x2.dtype:
        raise RuntimeError(f"expected scalar type {_type_name(x1.dtype)} but found {_type_name(x2.dtype)}")
    if x1.dtype.itemsize < 4:
        raise RuntimeError(f"\"cdist\" not implemented for '{_type_name(x1.dtype)}'")
    p = float(p)
    if p < 0 or math.isnan(p):
        raise RuntimeError("cdist only supports non-negative p values")
    _broadcast_pair_msg([tuple(x1.shape[:-2]), tuple(x2.shape[:-2])])
    P, R, M = x1.size(-2), x2.size(-2), x1.size(-1)

    use_mm = p == 2.0 and (compute_mode == "use_mm_for_euclid_dist"
                           or (compute_mode == "use_mm_for_euclid_dist_if_necessary" and (P > 25 or R > 25)))
    if M > 0 and use_mm:
        # |a - b|^2 = |a|^2 + |b|^2 - 2 a.b as one batched product
        n1 = (x1 * x1).sum(-1, keepdim=True)
        n2 = (x2 * x2).sum(-1, keepdim=True).transpose(-2, -1)
        d2 = (n1 + n2) - 2 * x1.matmul(x2.transpose(-2, -1))
        return _safe_sqrt(d2.clamp_min(0))
    d = x1.unsqueeze(-2) - x2.unsqueeze(-3)  # (B..., P, R, M)
    return _rows_norm(d, p)


@declare("pdist(Tensor input, float p=2) -> Tensor")
def pdist(input, p=2):
    """The p-norm distances between the rows i < j of an (N, M) input, row-major: N(N-1)/2 values."""
    if not _is_tensor(input):
        raise TypeError(f"pdist(): argument 'input' must be Tensor, not {type(input).__name__}")
    if input.dim() != 2:
        raise RuntimeError(f"pdist only supports 2D tensors, got: {input.dim()}D")
    if not _is_float(input) or input.dtype.itemsize < 4:  # (torch has no half-precision pdist)
        raise RuntimeError("pdist only supports floating-point dtypes")
    p = float(p)
    if p < 0 or math.isnan(p):
        raise RuntimeError("pdist only supports non-negative p values")
    n = input.size(0)
    rows, cols = _np.triu_indices(n, 1)
    i = tensor(rows.astype(_np.int64))
    j = tensor(cols.astype(_np.int64))
    return _rows_norm(input.index_select(0, i) - input.index_select(0, j), p)


# ---------------------------------------------------------------------------------------------
# broadcasting and shapes

@declare("broadcast_tensors(Tensor[] *tensors) -> Tensor[]")
def broadcast_tensors(*tensors):
    """The tensors expanded to their common broadcast shape (views), as a tuple."""
    for i, t in enumerate(tensors):
        _check_list_element(t, i)
    shape = _broadcast_pair_msg([tuple(t.shape) for t in tensors])
    return tuple(t if list(t.shape) == shape else t.expand(shape) for t in tensors)


@declare("broadcast_shapes(int[] *shapes) -> int[]")
def broadcast_shapes(*shapes):
    """The shape the given shapes broadcast to (without making tensors), as a Size."""
    norm = []
    for s in shapes:
        if isinstance(s, numbers.Integral) and not isinstance(s, bool):
            s = (int(s),)
        elif isinstance(s, (list, tuple)):
            for i, v in enumerate(s):
                if not isinstance(v, numbers.Integral) or isinstance(v, bool):
                    raise TypeError(f"torch.Size() takes an iterable of 'int' (item {i} is '{type(v).__name__}')")
            s = tuple(int(v) for v in s)
        else:
            raise TypeError(f"broadcast_shapes(): expected an int or a sequence of ints, got {type(s).__name__}")
        if any(v < 0 for v in s):
            raise ValueError("Attempting to broadcast a dimension with negative length!")
        norm.append(s)
    return Size(_broadcast_shape(norm, lambda k, s, i, j, out: RuntimeError(
        f"Attempting to broadcast a dimension of length {s[i]} at {i - len(s)}! Mismatching argument at index {k} had "
        f"{s}; but expected shape should be broadcastable to {out}")))


def _atleast(tensors, fn):
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        return tuple(fn(t) for t in tensors[0])
    if len(tensors) == 1:
        return fn(tensors[0])
    return tuple(fn(t) for t in tensors)


def _check_tensor(name, t):
    if not _is_tensor(t):
        raise TypeError(f"{name}(): argument 'input' must be Tensor, not {type(t).__name__}")


def _atleast_1d(t):
    _check_tensor("atleast_1d", t)
    return t.reshape(1) if t.dim() == 0 else t


def _atleast_2d(t):
    _check_tensor("atleast_2d", t)
    if t.dim() == 0:
        return t.reshape(1, 1)
    return t.unsqueeze(0) if t.dim() == 1 else t


def _atleast_3d(t):
    _check_tensor("atleast_3d", t)
    if t.dim() == 0:
        return t.reshape(1, 1, 1)
    if t.dim() == 1:
        return t.unsqueeze(0).unsqueeze(-1)
    return t.unsqueeze(-1) if t.dim() == 2 else t


@declare("atleast_1d(Tensor[] *tensors) -> Tensor[]")
def atleast_1d(*tensors):
    """Each tensor viewed with at least one dim; one tensor -> a tensor, several or a list -> a tuple."""
    return _atleast(tensors, _atleast_1d)


@declare("atleast_2d(Tensor[] *tensors) -> Tensor[]")
def atleast_2d(*tensors):
    """Each tensor viewed with at least two dims ((n) -> (1, n))."""
    return _atleast(tensors, _atleast_2d)


@declare("atleast_3d(Tensor[] *tensors) -> Tensor[]")
def atleast_3d(*tensors):
    """Each tensor viewed with at least three dims ((n) -> (1, n, 1), (m, n) -> (m, n, 1))."""
    return _atleast(tensors, _atleast_3d)


# ---------------------------------------------------------------------------------------------
# block_diag, cartesian_prod, chain_matmul

@declare("block_diag(Tensor[] *tensors) -> Tensor")
def block_diag(*tensors):
    """The block-diagonal matrix of the inputs (0-D -> 1x1, 1-D (n) -> 1xn); dtypes promote."""
    blocks = []
    for i, t in enumerate(tensors):
        _check_list_element(t, i)
        if t.dim() > 2:
            raise RuntimeError(f"torch.block_diag: Input tensors must have 2 or fewer dimensions. "
                               f"Input {i} has {t.dim()} dimensions")
        blocks.append(t.reshape(1, 1) if t.dim() == 0 else t.reshape(1, -1) if t.dim() == 1 else t)
    if not blocks:
        return zeros(1, 0)
    total = sum(b.size(1) for b in blocks)
    rows = []
    left = 0
    for b in blocks:
        r, c = b.size(0), b.size(1)
        parts = []
        if left:
            parts.append(zeros(r, left, dtype=b.dtype))
        parts.append(b)
        if total - left - c:
            parts.append(zeros(r, total - left - c, dtype=b.dtype))
        rows.append(_C.cat(parts, 1) if len(parts) > 1 else b)
        left += c
    return _C.cat(rows, 0)  # (a new tensor even for one block)


@declare("cartesian_prod(Tensor[] *tensors) -> Tensor")
def cartesian_prod(*tensors):
    """All tuples of one element of each 1-D input, as the rows of a (prod of lengths, k) tensor
    (itertools.product's order); one input is returned as it is."""
    if not tensors:
        raise RuntimeError("meshgrid expects a non-empty TensorList")
    for i, t in enumerate(tensors):
        _check_list_element(t, i)
        if t.dim() != 1:
            raise RuntimeError(f"Expect a 1D vector, but got shape {list(t.shape)}")
    if len(tensors) == 1:
        return tensors[0]
    if any(t.dtype != tensors[0].dtype for t in tensors):
        raise RuntimeError("meshgrid expects all tensors to have the same dtype")
    grids = _C.meshgrid(*tensors, indexing="ij")
    return _C.stack([g.reshape(-1) for g in grids], 1)


def _chain_product(mats):
    """The product of 2-D matrices in the cheapest order (matrix-chain dynamic programming)."""
    n = len(mats)
    if n == 1:
        return mats[0]
    if n == 2:
        return mats[0].mm(mats[1])
    dims = [m.size(0) for m in mats] + [mats[-1].size(1)]
    cost = [[0] * n for _ in range(n)]
    split = [[0] * n for _ in range(n)]
    for length in range(1, n):
        for i in range(n - length):
            j = i + length
            best = None
            for k in range(i, j):
                c = cost[i][k] + cost[k + 1][j] + dims[i] * dims[k + 1] * dims[j + 1]
                if best is None or c < best:
                    best, split[i][j] = c, k
            cost[i][j] = best

    def mul(i, j):
        if i == j:
            return mats[i]
        k = split[i][j]
        return mul(i, k).mm(mul(k + 1, j))

    out = mul(0, n - 1)
    del mul  # (it refers to itself: a reference cycle that would keep the matrices until a gc pass)
    return out


def _check_chain(mats, first_last_1d):
    """torch's multi_dot checks; returns the matrices with 1-D ends made 2-D."""
    n = len(mats)
    for i, t in enumerate(mats):
        _check_list_element(t, i)
    out = list(mats)
    if first_last_1d:
        if out[0].dim() not in (1, 2):
            raise RuntimeError(f"multi_dot(): the first tensor must be 1D or 2D but got {out[0].dim()}D")
        if out[-1].dim() not in (1, 2):
            raise RuntimeError(f"multi_dot(): the last tensor must be 1D or 2D but got {out[-1].dim()}D")
        for i in range(1, n - 1):
            if out[i].dim() != 2:
                raise RuntimeError(f"multi_dot(): tensor {i} must be 2D but got {out[i].dim()}D")
        if out[0].dim() == 1:
            out[0] = out[0].unsqueeze(0)
        if out[-1].dim() == 1:
            out[-1] = out[-1].unsqueeze(-1)
    for i in range(1, n):
        if out[i].dtype != out[0].dtype:
            raise RuntimeError(f"multi_dot(): all tensors must have be the same dtype but tensor 0 is "
                               f"{str(out[0].dtype).split('.')[-1]} and tensor {i} "
                               f"{str(out[i].dtype).split('.')[-1]}")
    for i in range(n - 1):
        if out[i].size(-1) != out[i + 1].size(0):
            raise RuntimeError(f"multi_dot(): tensors {i} and {i + 1} with shapes {list(mats[i].shape)} and "
                               f"{list(mats[i + 1].shape)} cannot be multiplied")
    return out


@declare("chain_matmul(Tensor[] *matrices, *, Tensor? out=None) -> Tensor")
def chain_matmul(*matrices, out=None):
    """The product of 2-D matrices in the cheapest order (deprecated in torch for linalg.multi_dot)."""
    warnings.warn("torch.chain_matmul is deprecated and will be removed in a future PyTorch release. "
                  "Use torch.linalg.multi_dot instead, which accepts a list of two or more tensors rather than "
                  "multiple parameters.", UserWarning, stacklevel=2)
    if not matrices:
        raise RuntimeError("chain_matmul(): Expected one or more matrices")
    for i, t in enumerate(matrices):
        _check_list_element(t, i)
        if t.dim() != 2:
            raise RuntimeError(f"Tensor dimension is {t.dim()}, expected 2 instead.")
    if len(matrices) == 1:
        res = matrices[0].clone()
    else:
        mats = _check_chain(matrices, False)
        _mm_dtype_check("addmm_impl_cpu_", *mats)
        res = _chain_product(mats)
    return res if out is None else _write_out(out, res, "chain_matmul")


# ---------------------------------------------------------------------------------------------
# integration, differences

def _trapezoid_prepare(name, y, x, dx, dim):
    if not _is_tensor(y):
        raise TypeError(f"{name}(): argument 'y' must be Tensor, not {type(y).__name__}")
    if x is not None and dx is not None:
        raise TypeError(f"{name}() received an invalid combination of arguments: pass either x or dx, not both")
    if x is not None and not _is_tensor(x):
        raise TypeError(f"{name}(): argument 'x' must be Tensor, not {type(x).__name__} (use dx= for a spacing)")
    if _is_bool(y):
        raise RuntimeError(f"{name}: received a bool input for `y`, but bool is not supported")
    if x is not None and _is_bool(x):
        raise RuntimeError(f"{name}: received a bool input for `x`, but bool is not supported")
    if y.dim() == 0:
        raise IndexError(f"Dimension specified as {dim} but tensor has no dimensions")
    return _wrap_dim(dim, y.dim())


def _x_spacing(name, y, x, dim):
    """The intervals of the sample points x, shaped to broadcast against y's intervals along dim."""
    n = y.size(dim)
    if x.dim() == 1:
        if x.size(0) != n:
            raise RuntimeError(f"{name}: There must be one `x` value for each sample point")
        d = x[1:] - x[:-1]
        shape = [1] * y.dim()
        shape[dim] = n - 1
        return d.reshape(shape)
    if x.dim() != y.dim():
        raise RuntimeError(f"{name}: x must be 1-D or have as many dimensions as y")
    m = x.size(dim)
    return x.narrow(dim, 1, m - 1) - x.narrow(dim, 0, m - 1)


@declare("trapezoid(Tensor y, Tensor? x=None, *, Scalar? dx=None, int dim=-1) -> Tensor")
def trapezoid(y, x=None, *, dx=None, dim=-1):
    """The trapezoidal rule along dim: with sample points x (1-D, or broadcasting with y), or a
    constant spacing dx (default 1)."""
    dim = _trapezoid_prepare("trapezoid", y, x, dx, dim)
    n = y.size(dim)
    if n == 0:
        return y.sum(dim) * 0.0
    if x is None:
        dx = 1 if dx is None else dx
        ends = y.select(dim, 0) + y.select(dim, n - 1)
        return (y.sum(dim) - ends * 0.5) * dx
    d = _x_spacing("trapezoid", y, x, dim)
    return (d * (y.narrow(dim, 1, n - 1) + y.narrow(dim, 0, n - 1))).sum(dim) / 2.0


@declare("trapz(Tensor y, Tensor? x=None, *, Scalar? dx=None, int dim=-1) -> Tensor")
def trapz(y, x=None, *, dx=None, dim=-1):
    """Alias of trapezoid."""
    return trapezoid(y, x, dx=dx, dim=dim)


@declare("cumulative_trapezoid(Tensor y, Tensor? x=None, *, Scalar? dx=None, int dim=-1) -> Tensor")
def cumulative_trapezoid(y, x=None, *, dx=None, dim=-1):
    """The running trapezoidal integral along dim (one value fewer than y along dim)."""
    dim = _trapezoid_prepare("cumulative_trapezoid", y, x, dx, dim)
    n = y.size(dim)
    if n == 0:
        return y * 0.0
    mids = y.narrow(dim, 1, n - 1) + y.narrow(dim, 0, n - 1)
    if x is None:
        areas = mids * ((1 if dx is None else dx) / 2.0)
    else:
        areas = _x_spacing("cumulative_trapezoid", y, x, dim) * mids / 2.0
    return areas.cumsum(dim)


@declare("diff(Tensor input, int n=1, int dim=-1, Tensor? prepend=None, Tensor? append=None, *, Tensor? out=None) "
         "-> Tensor", "function method")
def diff(input, n=1, dim=-1, prepend=None, append=None, *, out=None):
    """The n-th forward difference along dim (logical xor for bool), after concatenating
    prepend and append along dim."""
    if not _is_tensor(input):
        raise TypeError(f"diff(): argument 'input' must be Tensor, not {type(input).__name__}")
    if input.dim() == 0:
        raise RuntimeError("diff expects input to be at least one-dimensional")
    if not isinstance(n, numbers.Integral) or isinstance(n, bool):
        raise TypeError(f"diff(): argument 'n' must be int, not {type(n).__name__}")
    if n < 0:
        raise RuntimeError(f"order must be non-negative but got {n}")
    dim = _wrap_dim(dim, input.dim())
    parts = []
    for name, t in (("prepend", prepend), ("append", append)):
        if t is None:
            continue
        if not _is_tensor(t):
            raise TypeError(f"diff(): argument '{name}' must be Tensor, not {type(t).__name__}")
        if t.dim() != input.dim():
            raise RuntimeError("diff expects prepend or append to be the same dimension as input")
    x = input
    if prepend is not None or append is not None:
        parts = ([prepend] if prepend is not None else []) + [input] + ([append] if append is not None else [])
        x = _C.cat(parts, dim)
    for _ in range(n):
        m = x.size(dim)
        if m == 0:
            break
        hi, lo = x.narrow(dim, 1, m - 1), x.narrow(dim, 0, m - 1)
        x = _C.logical_xor(hi, lo) if _is_bool(x) else hi - lo
    return x if out is None else _write_out(out, x, "diff")


def _grad_dims(input, dim):
    if dim is None:
        return list(range(input.dim())), False
    dims = [dim] if isinstance(dim, numbers.Integral) else list(dim)
    dims = [_wrap_dim(d, input.dim()) for d in dims]
    for d in dims:
        if dims.count(d) > 1:
            raise RuntimeError(f"dim {d} appears multiple times in the list of dims")
    return dims, True


def _along(t, dim, ndim):
    shape = [1] * ndim
    shape[dim] = -1
    return t.reshape(shape)


@declare("gradient(Tensor input, *, Scalar? spacing=1, int? dim=None, int edge_order=1) -> Tensor[]")
def gradient(input, *, spacing=1, dim=None, edge_order=1):
    """Second-order central differences inside, first- or second-order one-sided differences at
    the ends, along each of `dim` (all dims by default): one tensor per dim. `spacing` is a
    scalar, one scalar per dim, or one 1-D tensor of coordinates per dim."""
    if not _is_tensor(input):
        raise TypeError(f"gradient(): argument 'input' must be Tensor, not {type(input).__name__}")
    if edge_order not in (1, 2) or isinstance(edge_order, bool):
        raise RuntimeError("torch.gradient only supports edge_order=1 and edge_order=2.")
    dims, dim_given = _grad_dims(input, dim)
    if isinstance(spacing, Tensor):
        raise TypeError("gradient(): argument 'spacing' must be a number, a list of numbers or a list of "
                        "1-D tensors, not a Tensor")
    if isinstance(spacing, (list, tuple)):
        spacings = list(spacing)
        if len(spacings) != len(dims):
            if dim_given:
                raise RuntimeError("torch.gradient expected spacing to be unspecified, a scalar or it's spacing and "
                                   "dim arguments to have the same length, but got a spacing argument of length "
                                   f"{len(spacings)} and a dim argument of length {len(dims)}.")
            raise RuntimeError("torch.gradient expected spacing to be unspecified, a scalar, or a list of length "
                               f"equal to 'self.dim() = {input.dim()}', since dim argument was not given, but got a "
                               f"list of length {len(spacings)}")
    else:
        spacings = [spacing] * len(dims)
    for d in dims:
        if input.size(d) < edge_order + 1:
            raise RuntimeError("torch.gradient expected each dimension size to be at least edge_order+1")
    f = input if _is_float(input) else input.to(get_default_dtype())
    nd = f.dim()
    res = []
    for d, h in zip(dims, spacings):
        n = f.size(d)

        def sl(start, length, d=d):
            return f.narrow(d, start, length)

        if _is_tensor(h):
            if h.dim() != 1:
                raise RuntimeError("torch.gradient expected each tensor to be on the same device and 1-D")
            x = h if _is_float(h) else h.to(f.dtype)
            dx = x[1:] - x[:-1]
            if n > 2:
                dx1, dx2 = dx[:-1], dx[1:]
                a = _along(-dx2 / (dx1 * (dx1 + dx2)), d, nd)
                b = _along((dx2 - dx1) / (dx1 * dx2), d, nd)
                c = _along(dx1 / (dx2 * (dx1 + dx2)), d, nd)
                interior = a * sl(0, n - 2) + b * sl(1, n - 2) + c * sl(2, n - 2)
            if edge_order == 1:
                first = (sl(1, 1) - sl(0, 1)) / dx[0]
                last = (sl(n - 1, 1) - sl(n - 2, 1)) / dx[n - 2]
            else:
                h1, h2 = dx[0], dx[1]
                first = (-(2 * h1 + h2) / (h1 * (h1 + h2)) * sl(0, 1) + (h1 + h2) / (h1 * h2) * sl(1, 1)
                         - h1 / (h2 * (h1 + h2)) * sl(2, 1))
                h1, h2 = dx[n - 3], dx[n - 2]
                last = (h2 / (h1 * (h1 + h2)) * sl(n - 3, 1) - (h1 + h2) / (h1 * h2) * sl(n - 2, 1)
                        + (2 * h2 + h1) / (h2 * (h1 + h2)) * sl(n - 1, 1))
        else:
            if not isinstance(h, numbers.Number) or isinstance(h, bool):
                raise TypeError(f"gradient(): spacing must be numbers or 1-D tensors, got {type(h).__name__}")
            if n > 2:
                interior = (sl(2, n - 2) - sl(0, n - 2)) / (2.0 * h)
            if edge_order == 1:
                first = (sl(1, 1) - sl(0, 1)) / h
                last = (sl(n - 1, 1) - sl(n - 2, 1)) / h
            else:
                first = (-1.5 * sl(0, 1) + 2.0 * sl(1, 1) - 0.5 * sl(2, 1)) / h
                last = (0.5 * sl(n - 3, 1) - 2.0 * sl(n - 2, 1) + 1.5 * sl(n - 1, 1)) / h
        parts = [first, interior, last] if n > 2 else [first, last]
        res.append(_C.cat(parts, d))
    return tuple(res)


# ---------------------------------------------------------------------------------------------
# statistics

def _check_weights(name, w, num_obs, integral):
    if not _is_tensor(w):
        raise TypeError(f"cov(): argument '{name}' must be Tensor, not {type(w).__name__}")
    if w.dim() > 1:
        raise RuntimeError(f"cov(): expected {name} to have one or fewer dimensions but got {name} with "
                           f"{w.dim()} dimensions")
    if integral and (w.dtype.is_floating_point or w.dtype == _C.dtype.bool):
        raise RuntimeError(f"cov(): expected {name} to have integral dtype but got {name} with "
                           f"{_type_name(w.dtype)} dtype")
    if not integral and not _is_float(w):
        raise RuntimeError(f"cov(): expected {name} to have floating point dtype but got {name} with "
                           f"{_type_name(w.dtype)} dtype")
    if w.numel() != num_obs:
        raise RuntimeError(f"cov(): expected {name} to have the same numel as there are observations in the input "
                           f"but got {w.numel()} != {num_obs}")
    if w.numel() and bool((w < 0).any().item()):
        raise RuntimeError(f"cov(): {name} cannot be negative")


@declare("cov(Tensor input, *, int correction=1, Tensor? fweights=None, Tensor? aweights=None) -> Tensor",
         "function method")
def cov(input, *, correction=1, fweights=None, aweights=None):
    """The covariance matrix of the variables (rows) of input over its observations (columns),
    with frequency weights (integers) and observation weights; a scalar for one variable."""
    if not _is_tensor(input):
        raise TypeError(f"cov(): argument 'input' must be Tensor, not {type(input).__name__}")
    if input.dim() > 2:
        raise RuntimeError(f"cov(): expected input to have two or fewer dimensions but got an input with "
                           f"{input.dim()} dimensions")
    if _is_bool(input):
        raise RuntimeError("cov(): bool dtype is not supported for input")
    if not isinstance(correction, numbers.Integral) or isinstance(correction, bool):
        raise TypeError(f"cov(): argument 'correction' must be int, not {type(correction).__name__}")
    x = input if input.dim() == 2 else input.reshape(1, -1)
    if not _is_float(x):
        x = x.to(get_default_dtype())
    num_obs = x.size(1)
    w = None
    if fweights is not None:
        _check_weights("fweights", fweights, num_obs, True)
        w = fweights
    if aweights is not None:
        _check_weights("aweights", aweights, num_obs, False)
        w = aweights if w is None else w * aweights

    if w is None:
        avg = x.mean(1)
        w_sum = num_obs
        norm = num_obs - correction
    else:
        w_sum = w.sum()
        avg = (x * w).sum(1) / w_sum
        if correction == 0:
            norm = w_sum
        elif aweights is None:
            norm = w_sum - correction
        else:
            norm = w_sum - correction * (w * aweights).sum() / w_sum
    norm_value = norm.item() if _is_tensor(norm) else norm
    if norm_value <= 0:
        warnings.warn("cov(): degrees of freedom is <= 0. Correction should be strictly less than the number of "
                      "observations.", UserWarning, stacklevel=2)
        norm = norm.clamp_min(0) if _is_tensor(norm) else 0
    xm = x - avg.unsqueeze(1)
    xw = xm if w is None else xm * w
    c = xw.mm(xm.t())
    c = c / norm if _is_tensor(norm) else c / float(norm)
    return c.squeeze()


@declare("corrcoef(Tensor input) -> Tensor", "function method")
def corrcoef(input):
    """Pearson correlation coefficients of the variables (rows) of input, clipped to [-1, 1]."""
    if not _is_tensor(input):
        raise TypeError(f"corrcoef(): argument 'input' must be Tensor, not {type(input).__name__}")
    if input.dim() > 2:
        raise RuntimeError(f"corrcoef(): expected input to have two or fewer dimensions but got an input with "
                           f"{input.dim()} dimensions")
    c = cov(input)
    if c.dim() == 0:
        return c / c
    sd = c.diagonal().sqrt()
    c = c / sd.unsqueeze(1)
    c = c / sd.unsqueeze(0)
    return c.clamp(-1, 1)


# ---------------------------------------------------------------------------------------------
# vander, unravel_index

@declare("vander(Tensor x, int? N=None, bool increasing=False) -> Tensor")
def vander(x, N=None, increasing=False):
    """The Vandermonde matrix: columns x^(N-1), ..., x^0 (x^0 first when increasing); bool -> int64."""
    if not _is_tensor(x):
        raise TypeError(f"vander(): argument 'x' must be Tensor, not {type(x).__name__}")
    if x.dim() != 1:
        raise RuntimeError("x must be a one-dimensional tensor.")
    n = x.size(0)
    N = n if N is None else N
    if not isinstance(N, numbers.Integral) or isinstance(N, bool):
        raise TypeError(f"vander(): argument 'N' must be int, not {type(N).__name__}")
    if N < 0:
        raise RuntimeError("N must be non-negative.")
    if _is_bool(x):
        x = x.to(_C.dtype.int64)
    if N == 0:
        return zeros(n, 0, dtype=x.dtype)
    cols = _C.cat([ones(n, 1, dtype=x.dtype), x.unsqueeze(1).expand(n, N - 1)], 1) if N > 1 \
        else ones(n, 1, dtype=x.dtype)
    res = cols.cumprod(1)
    return res if increasing else res.flip([1])


@declare("unravel_index(Tensor indices, int[] shape) -> Tensor[]")
def unravel_index(indices, shape):
    """Flat indices into a shape -> a tuple of coordinate tensors (int64), one per dim (indices
    out of range wrap around, as torch)."""
    if not _is_tensor(indices):
        raise TypeError(f"expected 'indices' to be integer tensor, but got {type(indices).__name__}")
    if indices.dtype != _C.dtype.int64:
        dt = str(indices.dtype).replace("ember", "torch")
        raise TypeError(f"expected 'indices' to be integer dtype, but got {dt}")
    if isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
        shape = (int(shape),)
    shape = tuple(shape)
    for v in shape:
        if not isinstance(v, numbers.Integral) or isinstance(v, bool):
            raise TypeError(f"expected 'shape' sequence to only contain ints, but got {type(v)}")
    if any(v < 0 for v in shape):
        raise ValueError(f"'shape' cannot have negative values, but got {shape}")
    if any(v == 0 for v in shape):
        raise RuntimeError(f"unravel_index: cannot unravel into a shape with a zero-sized dimension {shape}")
    res = []
    stride = _prod(shape)
    for v in shape:
        stride //= v
        res.append(_C.remainder(_C.floor_divide(indices, stride), v))
    return tuple(res)
