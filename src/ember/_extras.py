"""More of torch's top-level names, built from ember's differentiable ops (so autograd needs nothing
of its own): stacking and splitting (hstack, tensor_split, ...), elementwise math (deg2rad, sinc,
fmax, float_power, ...), statistics (quantile, nanquantile, nanmedian, mode), index and dtype
utilities (tril_indices, promote_types, result_type, can_cast, ...), the constants pi / e / inf /
nan / newaxis, a few Tensor properties (nbytes, itemsize, H, mH, ...) and torch's top-level aliases
of torch.nn.functional functions (dropout, layer_norm, ...).

Each op is declared once with `declare` (ember._op_registry) under torch 2.13's signature; semantics,
result dtypes and error types follow torch. The code is ember's own."""
import builtins
import math
import numbers
import warnings

import numpy as _np

from . import _C
from ._factories import _check_tensor, arange, full, full_like, get_default_dtype, ones_like, overridable, tensor, zeros
from ._op_registry import declare, return_type
from .functional import _type_name

Tensor = _C.Tensor
_F32, _F64, _I64, _BOOL = _C.dtype.float32, _C.dtype.float64, _C.dtype.int64, _C.dtype.bool

pi = math.pi
e = math.e
inf = math.inf
nan = math.nan
newaxis = None

__all__ = [
    "pi", "e", "inf", "nan", "newaxis",
    "hstack", "vstack", "dstack", "column_stack", "row_stack", "tensor_split", "hsplit", "vsplit", "dsplit",
    "split_with_sizes", "trace", "diagflat", "deg2rad", "rad2deg", "sinc", "heaviside", "fmax", "fmin",
    "float_power", "dist", "renorm", "mvlgamma", "logspace", "hann_window", "hamming_window", "blackman_window",
    "bartlett_window", "kaiser_window", "gcd", "lcm", "matrix_power", "pinverse", "randint_like", "unique_consecutive",
    "diagonal_scatter", "select_scatter", "slice_scatter", "ldexp", "frexp", "adjoint", "asarray",
    "isin", "quantile", "nanquantile", "nanmedian", "mode",
    "tril_indices", "triu_indices", "range", "scalar_tensor", "is_nonzero", "is_signed", "is_complex",
    "promote_types", "result_type", "can_cast",
    "dropout", "alpha_dropout", "celu", "selu", "threshold", "hardshrink", "prelu", "rrelu", "embedding",
    "layer_norm", "batch_norm", "bilinear", "cosine_similarity", "pairwise_distance", "kl_div",
    "margin_ranking_loss", "triplet_margin_loss", "poisson_nll_loss", "hinge_embedding_loss",
    "cosine_embedding_loss", "binary_cross_entropy_with_logits",
]


def _category(d):
    """0 bool, 1 integer, 2 floating (torch's promotion categories)."""
    return 0 if d == _BOOL else 2 if d.is_floating_point else 1


# ---------------------------------------------------------------------------------------------
# helpers

def _check_tensors(tensors, fn):
    if isinstance(tensors, Tensor) or not isinstance(tensors, (list, tuple)):
        raise TypeError(f"{fn}(): argument 'tensors' (position 1) must be tuple of Tensors, not "
                        f"{type(tensors).__name__}")
    for t in tensors:
        _check_tensor(t, fn, "tensors")
    if not tensors:
        raise RuntimeError(f"{fn} expects a non-empty TensorList")
    return list(tensors)


def _write_out(res, out):
    """out=: resize out (a tensor, or a tuple of them for a tuple result), copy the result in and
    return out, as torch's out= variants."""
    if out is None:
        return res
    if isinstance(res, tuple):
        if not isinstance(out, (tuple, list)) or len(out) != len(res):
            raise TypeError(f"out must be a tuple of {len(res)} Tensors")
        for o, r in zip(out, res):
            _write_out(r, o)
        return getattr(type(res), "out_type", type(res))(*out) if hasattr(res, "_fields") else tuple(out)
    if not isinstance(out, Tensor):
        raise TypeError(f"argument 'out' must be Tensor, not {type(out).__name__}")
    if out.dtype != res.dtype:
        raise RuntimeError(f"Expected out tensor to have dtype {res.dtype}, but got {out.dtype} instead")
    if tuple(out.shape) != tuple(res.shape):
        out.resize_(tuple(res.shape))
    from .autograd import no_grad
    with no_grad():
        out.copy_(res)
    return out


def _to_float(x):
    """Integer and bool tensors as the default float dtype (torch's int -> float promotion)."""
    return x if x.dtype.is_floating_point else x.to(get_default_dtype())


def _wrap_dim(d, ndim):
    if not isinstance(d, numbers.Integral) or isinstance(d, builtins.bool):
        raise TypeError(f"dim must be an int, not {type(d).__name__}")
    n = max(ndim, 1)
    if not -n <= d < n:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {d})")
    return int(d) % n


def _inplace(name, fn):
    """Tensor.<name>_: the out-of-place result copied into self (through autograd), self returned."""
    def method(self, *args, **kwargs):
        res = fn(self.clone(), *args, **kwargs)
        if res.dtype != self.dtype:
            raise RuntimeError(f"result type {_type_name(res.dtype)} can't be cast to the desired output type "
                               f"{_type_name(self.dtype)}")
        self.copy_(res)
        return self
    method.__name__ = name + "_"
    method.__doc__ = f"In-place {name}."
    setattr(Tensor, name + "_", method)


# ---------------------------------------------------------------------------------------------
# stacking and splitting

@declare("hstack(Tensor[] tensors, *, Tensor? out=None) -> Tensor")
def hstack(tensors, *, out=None):
    """Concatenate along dim 1 (dim 0 for 1-D tensors), after atleast_1d."""
    ts = [t.reshape(1) if t.dim() == 0 else t for t in _check_tensors(tensors, "hstack")]
    return _write_out(_C.cat(ts, 0 if ts[0].dim() == 1 else 1), out)


@declare("vstack(Tensor[] tensors, *, Tensor? out=None) -> Tensor")
def vstack(tensors, *, out=None):
    """Concatenate along dim 0, after atleast_2d."""
    ts = [t.reshape(1, -1) if t.dim() < 2 else t for t in _check_tensors(tensors, "vstack")]
    return _write_out(_C.cat(ts, 0), out)


@declare("row_stack(Tensor[] tensors, *, Tensor? out=None) -> Tensor")
def row_stack(tensors, *, out=None):
    """Alias of vstack."""
    ts = [t.reshape(1, -1) if t.dim() < 2 else t for t in _check_tensors(tensors, "row_stack")]
    return _write_out(_C.cat(ts, 0), out)


def _at3(t):
    if t.dim() == 0:
        return t.reshape(1, 1, 1)
    if t.dim() == 1:
        return t.reshape(1, -1, 1)
    if t.dim() == 2:
        return t.unsqueeze(-1)
    return t


@declare("dstack(Tensor[] tensors, *, Tensor? out=None) -> Tensor")
def dstack(tensors, *, out=None):
    """Concatenate along dim 2, after atleast_3d."""
    return _write_out(_C.cat([_at3(t) for t in _check_tensors(tensors, "dstack")], 2), out)


@declare("column_stack(Tensor[] tensors, *, Tensor? out=None) -> Tensor")
def column_stack(tensors, *, out=None):
    """Concatenate along dim 1, 0-D and 1-D tensors as columns."""
    ts = [t.reshape(-1, 1) if t.dim() <= 1 else t for t in _check_tensors(tensors, "column_stack")]
    return _write_out(_C.cat(ts, 1), out)


def _split_at(input, indices, dim):
    """input[start:end] along dim for consecutive (start, end) of [0, *indices, n], with Python's
    slice rules (negative indices wrap, out-of-range ones clamp, end < start gives an empty piece)."""
    n = input.shape[dim]

    def norm(i):
        i = int(i)
        return max(0, min(n, i + n if i < 0 else i))
    bounds = [0] + [norm(i) for i in indices] + [n]
    return tuple(input.narrow(dim, a, max(b - a, 0)) if a < n else input.narrow(dim, n, 0)
                 for a, b in zip(bounds[:-1], bounds[1:]))


def _tensor_split(input, ios, dim, fn="tensor_split"):
    _check_tensor(input, fn)
    if input.dim() == 0:
        raise RuntimeError(f"{fn} expected at least a 1-dimensional tensor, but got a tensor with 0 dims")
    dim = _wrap_dim(dim, input.dim())
    if isinstance(ios, Tensor):
        if ios.dtype != _I64:
            raise RuntimeError("tensor_split expected tensor_indices_or_sections to have integer dtype, but got "
                               + _type_name(ios.dtype))
        if ios.dim() > 1:
            raise RuntimeError("tensor_split expected tensor_indices_or_sections to be a zero-dimensional or "
                               f"one-dimensional tensor, but got a tensor with {ios.dim()} dims")
        ios = int(ios.item()) if ios.dim() == 0 else [int(v) for v in ios.tolist()]
    if isinstance(ios, numbers.Integral) and not isinstance(ios, builtins.bool):
        sections = int(ios)
        if sections <= 0:
            raise RuntimeError(f"number of sections must be larger than 0, got {sections}")
        n = input.shape[dim]
        q, r = divmod(n, sections)
        sizes = [q + 1] * r + [q] * (sections - r)
        idx, acc = [], 0
        for s in sizes[:-1]:
            acc += s
            idx.append(acc)
        return _split_at(input, idx, dim)
    if isinstance(ios, (list, tuple)) and all(isinstance(i, numbers.Integral) and not isinstance(i, builtins.bool)
                                               for i in ios):
        return _split_at(input, ios, dim)
    raise TypeError(f"{fn}(): argument 'indices' must be tuple of ints, not {type(ios).__name__}")


_MISSING = object()


@declare("tensor_split.indices(Tensor input, int[] indices, int dim=0) -> Tensor[]", "function method")
@declare("tensor_split.sections(Tensor input, int sections, int dim=0) -> Tensor[]", "function method")
@overridable
def tensor_split(input, indices_or_sections=_MISSING, dim=0, *, sections=_MISSING, indices=_MISSING,
                 tensor_indices_or_sections=_MISSING):
    """Split into `sections` near-equal parts (the first n % sections one longer) or at `indices`."""
    given = [v for v in (indices_or_sections, sections, indices, tensor_indices_or_sections) if v is not _MISSING]
    if len(given) != 1:
        raise TypeError("tensor_split() missing required argument 'indices_or_sections'")
    return _tensor_split(input, given[0], dim)


def _dir_split(input, ios, dim, need, fn):
    _check_tensor(input, fn)
    if input.dim() < need:
        raise RuntimeError(f"torch.{fn} requires a tensor with at least {need} dimension, but got a tensor with "
                           f"{input.dim()} dimensions!")
    if isinstance(ios, numbers.Integral) and not isinstance(ios, builtins.bool):
        if ios == 0 or input.shape[dim] % ios:
            raise RuntimeError(f"torch.{fn} attempted to split along dimension {dim}, but the size of the dimension "
                               f"{input.shape[dim]} is not divisible by the split_size {ios}!")
    return _tensor_split(input, ios, dim, fn)


def _dir_args(fn, ios, args, sections, indices):
    if args:  # x.hsplit(1, 2): indices as varargs (the method form)
        ios = (ios,) + tuple(args)
    given = [v for v in (ios, sections, indices) if v is not _MISSING]
    if len(given) != 1:
        raise TypeError(f"{fn}() missing required argument 'indices_or_sections'")
    return given[0]


@declare("hsplit.array(Tensor input, int[] indices) -> Tensor[]", "function method")
@declare("hsplit.int(Tensor input, int sections) -> Tensor[]", "function method")
def hsplit(input, indices_or_sections=_MISSING, *args, sections=_MISSING, indices=_MISSING):
    """tensor_split along dim 1 (dim 0 for 1-D tensors); sections must divide the size."""
    ios = _dir_args("hsplit", indices_or_sections, args, sections, indices)
    _check_tensor(input, "hsplit")
    return _dir_split(input, ios, 1 if input.dim() > 1 else 0, 1, "hsplit")


@declare("vsplit.array(Tensor input, int[] indices) -> Tensor[]", "function method")
@declare("vsplit.int(Tensor input, int sections) -> Tensor[]", "function method")
def vsplit(input, indices_or_sections=_MISSING, *args, sections=_MISSING, indices=_MISSING):
    """tensor_split along dim 0 of a tensor with at least 2 dims; sections must divide the size."""
    return _dir_split(input, _dir_args("vsplit", indices_or_sections, args, sections, indices), 0, 2, "vsplit")


@declare("dsplit.array(Tensor input, int[] indices) -> Tensor[]", "function method")
@declare("dsplit.int(Tensor input, int sections) -> Tensor[]", "function method")
def dsplit(input, indices_or_sections=_MISSING, *args, sections=_MISSING, indices=_MISSING):
    """tensor_split along dim 2 of a tensor with at least 3 dims; sections must divide the size."""
    return _dir_split(input, _dir_args("dsplit", indices_or_sections, args, sections, indices), 2, 3, "dsplit")


@declare("split_with_sizes(Tensor input, int[] split_sizes, int dim=0) -> Tensor[]", "function method")
def split_with_sizes(input, split_sizes, dim=0):
    """Split into pieces of the given sizes (which must sum to the size of dim)."""
    _check_tensor(input, "split_with_sizes")
    dim = _wrap_dim(dim, input.dim())
    sizes = [int(s) for s in split_sizes]
    if any(s < 0 for s in sizes) or sum(sizes) != input.shape[dim]:
        raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {input.shape[dim]} (input "
                           f"tensor's size at dimension {dim}), but got split_sizes={sizes}")
    return tuple(_C.split(input, sizes, dim))


# ---------------------------------------------------------------------------------------------
# math

@declare("trace(Tensor input) -> Tensor", "function method")
def trace(input):
    """Sum of the main diagonal of a matrix (int64 for integer inputs)."""
    _check_tensor(input, "trace")
    if input.dim() != 2:
        raise RuntimeError(f"trace: expected a matrix, but got tensor with dim {input.dim()}")
    if input.dtype == _BOOL:
        raise NotImplementedError("\"trace\" not implemented for 'Bool'")
    return input.diagonal().sum()


@declare("diagflat(Tensor input, int offset=0) -> Tensor", "function method")
def diagflat(input, offset=0):
    """The flattened input on the `offset` diagonal of a square matrix."""
    _check_tensor(input, "diagflat")
    return _C.diag(input.reshape(-1), int(offset))


@declare("deg2rad(Tensor input, *, Tensor? out=None) -> Tensor", "function method inplace")
def deg2rad(input, *, out=None):
    """Degrees to radians (integer inputs give the default float dtype)."""
    _check_tensor(input, "deg2rad")
    return _write_out(_to_float(input) * (math.pi / 180.0), out)


@declare("rad2deg(Tensor input, *, Tensor? out=None) -> Tensor", "function method inplace")
def rad2deg(input, *, out=None):
    """Radians to degrees (integer inputs give the default float dtype)."""
    _check_tensor(input, "rad2deg")
    return _write_out(_to_float(input) * (180.0 / math.pi), out)


@declare("sinc(Tensor input, *, Tensor? out=None) -> Tensor", "function method inplace")
def sinc(input, *, out=None):
    """sin(pi x) / (pi x), 1 at 0 (gradient 0 there)."""
    _check_tensor(input, "sinc")
    x = _to_float(input)
    zero = x == 0
    px = _C.where(zero, ones_like(x), x) * math.pi
    return _write_out(_C.where(zero, ones_like(x), px.sin() / px), out)


@declare("heaviside(Tensor input, Tensor values, *, Tensor? out=None) -> Tensor", "function method inplace")
def heaviside(input, values, *, out=None):
    """0 where input < 0, values where input == 0, 1 where input > 0 (input and values of one dtype)."""
    _check_tensor(input, "heaviside")
    _check_tensor(values, "heaviside", "values", 2)
    if input.dtype != values.dtype:
        raise RuntimeError("heaviside is not yet implemented for tensors with different dtypes")
    step = (input > 0).to(input.dtype)
    return _write_out(_C.where(input == 0, values.detach(), step), out)


def _nan_select(input, other, pick):
    nan_a, nan_b = input.isnan(), other.isnan()
    m = pick(input, other)
    return _C.where(nan_a, other.to(m.dtype), _C.where(nan_b, input.to(m.dtype), m))


@declare("fmax(Tensor input, Tensor other, *, Tensor? out=None) -> Tensor", "function method")
def fmax(input, other, *, out=None):
    """maximum, but a NaN loses to a number (NaN only where both are NaN)."""
    _check_tensor(input, "fmax")
    _check_tensor(other, "fmax", "other", 2)
    return _write_out(_nan_select(input, other, _C.maximum), out)


@declare("fmin(Tensor input, Tensor other, *, Tensor? out=None) -> Tensor", "function method")
def fmin(input, other, *, out=None):
    """minimum, but a NaN loses to a number (NaN only where both are NaN)."""
    _check_tensor(input, "fmin")
    _check_tensor(other, "fmin", "other", 2)
    return _write_out(_nan_select(input, other, _C.minimum), out)


@declare("float_power.Tensor_Tensor(Tensor input, Tensor exponent, *, Tensor? out=None) -> Tensor",
         "function method")
@declare("float_power.Tensor_Scalar(Tensor input, Scalar exponent, *, Tensor? out=None) -> Tensor",
         "function method")
def float_power(input, exponent, *, out=None):
    """pow in float64, whatever the dtypes."""
    _check_tensor(input, "float_power")
    ex = exponent.to(_F64) if isinstance(exponent, Tensor) else float(exponent)
    return _write_out(_C.pow(input.to(_F64), ex), out)


def _float_power_(self, exponent):
    if self.dtype != _F64:
        raise RuntimeError(f"the base given to float_power_ has dtype {_type_name(self.dtype)} but the operation's "
                           "result requires dtype Double")
    return self.copy_(float_power(self.clone(), exponent))


Tensor.float_power_ = _float_power_


@declare("dist(Tensor input, Tensor other, Scalar p=2) -> Tensor", "function method")
def dist(input, other, p=2):
    """The p-norm of input - other (broadcast)."""
    _check_tensor(input, "dist")
    _check_tensor(other, "dist", "other", 2)
    return _C.linalg_vector_norm(input - other, float(p))


@declare("mvlgamma(Tensor input, int p, *, Tensor? out=None) -> Tensor", "function method inplace")
def mvlgamma(input, p, *, out=None):
    """The log of the multivariate gamma function of dimension p:
    sum_{j<p} lgamma(x - j/2) + p(p-1)/4 log(pi)."""
    _check_tensor(input, "mvlgamma")
    if p < 1:
        raise RuntimeError("p has to be greater than or equal to 1")
    x = _to_float(input)
    shifts = arange(p, dtype=x.dtype) / 2
    res = (x.unsqueeze(-1) - shifts).lgamma().sum(-1) + p * (p - 1) / 4 * math.log(math.pi)
    return _write_out(res, out)


def _polygamma_method(self, n):
    """x.polygamma(n): torch's method form of polygamma(n, x)."""
    return _C.polygamma(n, self)


_C.Tensor.polygamma = _polygamma_method


@declare("renorm(Tensor input, Scalar p, int dim, Scalar maxnorm, *, Tensor? out=None) -> Tensor",
         "function method inplace")
def renorm(input, p, dim, maxnorm, *, out=None):
    """Each slice along dim whose p-norm exceeds maxnorm scaled to norm maxnorm (x maxnorm / (norm + 1e-7))."""
    _check_tensor(input, "renorm")
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"\"renorm_out\" not implemented for '{_type_name(input.dtype)}'")
    if p <= 0:
        raise RuntimeError("renorm: non-positive-norm not supported")
    if maxnorm < 0:
        raise RuntimeError(f"renorm: expected maxnorm to be >= 0 but got {maxnorm}")
    if input.dim() <= 1:
        raise RuntimeError(f"renorm: input needs at least 2 dimensions, got {input.dim()} dimensions")
    dim = _wrap_dim(dim, input.dim())
    others = [d for d in builtins.range(input.dim()) if d != dim]
    norm = _C.linalg_vector_norm(input, float(p), others, True)
    scale = _C.where(norm > maxnorm, maxnorm / (norm + 1e-7), ones_like(norm))
    return _write_out(input * scale, out)


@declare("logspace(Scalar start, Scalar end, int steps, float base=10.0, *, Tensor? out=None, ScalarType? dtype=None, "
         "Layout? layout=None, Device? device=None, bool? pin_memory=False, bool? requires_grad=False) -> Tensor")
def logspace(start, end, steps, base=10.0, *, out=None, dtype=None, layout=None, device=None, pin_memory=False,
             requires_grad=False):
    """base ** linspace(start, end, steps), in the default float dtype unless told."""
    if isinstance(start, Tensor):
        start = start.item()
    if isinstance(end, Tensor):
        end = end.item()
    if not isinstance(steps, numbers.Integral) or isinstance(steps, builtins.bool):
        raise TypeError(f"logspace(): argument 'steps' (position 3) must be int, not {type(steps).__name__}")
    if steps < 0:
        raise RuntimeError("number of steps must be non-negative")
    dt = dtype if dtype is not None else (out.dtype if out is not None else get_default_dtype())
    vals = _np.power(float(base), _np.linspace(float(start), float(end), int(steps)))
    if dt == _I64:
        vals = _np.trunc(vals)
    res = tensor(vals.astype(_np.float64)).to(dt)
    if requires_grad:
        res.requires_grad_(True)
    return _write_out(res, out)


@declare("isin.Tensor_Tensor(Tensor elements, Tensor test_elements, *, bool assume_unique=False, bool invert=False, "
         "Tensor? out=None) -> Tensor")
def isin(elements, test_elements, *, assume_unique=False, invert=False, out=None):
    """Whether each element is in test_elements (a bool tensor of elements' shape)."""
    e_is, t_is = isinstance(elements, Tensor), isinstance(test_elements, Tensor)
    if not e_is and not t_is:
        raise TypeError("isin() received an invalid combination of arguments: expected at least one Tensor")
    if not e_is:
        elements = tensor(elements, dtype=test_elements.dtype if isinstance(elements, builtins.bool) ==
                          (test_elements.dtype == _BOOL) else None)
    if not t_is:
        test_elements = tensor(test_elements)
    a = elements.detach().reshape(-1, 1)
    b = test_elements.detach().reshape(1, -1)
    if b.shape[1] == 0:
        hit = zeros(tuple(elements.shape), dtype=_BOOL)
    else:
        hit = (a == b).any(1).reshape(tuple(elements.shape))
    if invert:
        hit = hit.logical_not()
    return _write_out(hit, out)


# ---------------------------------------------------------------------------------------------
# statistics

_INTERPOLATIONS = ("linear", "lower", "higher", "midpoint", "nearest")


def _quantile(input, q, dim, keepdim, interpolation, out, ignore_nan, fn):
    _check_tensor(input, fn)
    if input.dtype not in (_F32, _F64):  # torch has no half-precision quantile
        raise RuntimeError(f"{fn}() input tensor must be either float or double dtype")
    if interpolation not in _INTERPOLATIONS:
        raise RuntimeError(f"{fn}() interpolation must be one of linear, lower, higher, midpoint or nearest. "
                           f"Got {interpolation}")
    if input.numel() == 0:
        raise RuntimeError(f"{fn}() input tensor must be non-empty")
    scalar_q = not isinstance(q, Tensor)
    if scalar_q:
        qv = [float(q)]
    else:
        if q.dim() > 1:
            raise RuntimeError(f"{fn}() q must be a scalar or 1D tensor")
        if q.dtype != input.dtype:
            raise RuntimeError(f"{fn}() q tensor must be same dtype as the input tensor")
        qv = [float(v) for v in q.detach().reshape(-1).tolist()]
        scalar_q = q.dim() == 0
    if any(not 0 <= v <= 1 for v in qv):
        raise RuntimeError(f"{fn}() q values must be in the range [0, 1]")
    if dim is None:
        x = input.reshape(-1)
        d = 0
        out_shape = [1] * input.dim() if keepdim else []
    else:
        d = _wrap_dim(dim, input.dim())
        x = input if input.dim() > 0 else input.reshape(1)
        out_shape = list(input.shape)
        if keepdim:
            out_shape[d] = 1
        else:
            del out_shape[d]
    x = x.movedim(d, -1)  # [..., n]
    n = x.shape[-1]
    srt = x.sort(-1).values  # NaN last
    nan_mask = x.isnan()
    dt = input.dtype
    if ignore_nan:
        count = (~nan_mask).sum(-1, keepdim=True).to(dt)  # [..., 1]
    else:
        count = full_like(srt.narrow(-1, 0, 1), float(n))
    qt = tensor(qv, dtype=dt)  # [nq]
    rank = qt * (count - 1).clamp(min=0)  # [..., nq]
    lo = rank.floor()
    hi = rank.ceil()
    if interpolation == "nearest":
        lo = hi = _np_round_half_even(rank)
    lo_i, hi_i = lo.to(_I64), hi.to(_I64)
    vlo = srt.gather(-1, lo_i)
    vhi = srt.gather(-1, hi_i)
    if interpolation == "linear":
        val = vlo + (vhi - vlo) * (rank - lo)
    elif interpolation == "lower":
        val = vlo
    elif interpolation == "higher":
        val = vhi
    elif interpolation == "midpoint":
        val = (vlo + vhi) * 0.5
    else:
        val = vlo
    bad = (count == 0) if ignore_nan else nan_mask.any(-1, keepdim=True)
    val = _C.where(bad.expand(tuple(val.shape)), full_like(val, math.nan), val)
    val = val.movedim(-1, 0)  # [nq, ...]
    res = val.reshape([len(qv)] + out_shape)
    if scalar_q:
        res = res.reshape(out_shape)
    return _write_out(res, out)


def _np_round_half_even(t):
    return t.round()


@declare("quantile(Tensor input, Tensor q, int? dim=None, bool keepdim=False, *, str interpolation='linear', "
         "Tensor? out=None) -> Tensor", "function method")
@declare("quantile.scalar(Tensor input, float q, int? dim=None, bool keepdim=False, *, str interpolation='linear', "
         "Tensor? out=None) -> Tensor", "function method")
def quantile(input, q, dim=None, keepdim=False, *, interpolation="linear", out=None):
    """The q-quantiles along dim (of all elements when dim is None); NaN where a slice has a NaN."""
    return _quantile(input, q, dim, keepdim, interpolation, out, False, "quantile")


@declare("nanquantile(Tensor input, Tensor q, int? dim=None, bool keepdim=False, *, str interpolation='linear', "
         "Tensor? out=None) -> Tensor", "function method")
@declare("nanquantile.scalar(Tensor input, float q, int? dim=None, bool keepdim=False, *, "
         "str interpolation='linear', Tensor? out=None) -> Tensor", "function method")
def nanquantile(input, q, dim=None, keepdim=False, *, interpolation="linear", out=None):
    """quantile ignoring NaNs (NaN only for an all-NaN slice)."""
    return _quantile(input, q, dim, keepdim, interpolation, out, True, "nanquantile")


_nanmedian_type = return_type("nanmedian", ["values", "indices"])
_mode_type = return_type("mode", ["values", "indices"])


@declare("nanmedian(Tensor input) -> Tensor", "function method")
@declare("nanmedian.dim(Tensor input, int dim, bool keepdim=False, *, Tensor[]? out=None) -> (Tensor values, "
         "Tensor indices)", "function method")
def nanmedian(input, dim=None, keepdim=False, *, out=None):
    """The lower median ignoring NaNs (NaN for an all-NaN slice); with dim, (values, indices)."""
    _check_tensor(input, "nanmedian")
    if dim is None:
        if input.numel() == 0:
            return full([], math.nan, dtype=input.dtype) if input.dtype.is_floating_point else input.reshape(-1)[:0]
        return nanmedian(input.reshape(-1), 0).values
    d = _wrap_dim(dim, input.dim())
    x = (input if input.dim() > 0 else input.reshape(1)).movedim(d, -1)
    s = x.sort(-1, stable=True)
    if input.dtype.is_floating_point:
        count = (~x.isnan()).sum(-1, keepdim=True)
    else:
        count = full_like(s.indices.narrow(-1, 0, 1), x.shape[-1])
    k = ((count - 1).clamp(min=0)) // 2
    vals = s.values.gather(-1, k)
    idx = s.indices.gather(-1, k)
    if keepdim and input.dim() > 0:
        vals, idx = vals.movedim(-1, d), idx.movedim(-1, d)
    else:
        vals, idx = vals.squeeze(-1), idx.squeeze(-1)
    return _write_out(_nanmedian_type(vals, idx), out)


@declare("mode(Tensor input, int dim=-1, bool keepdim=False, *, Tensor[]? out=None) -> (Tensor values, "
         "Tensor indices)", "function method")
def mode(input, dim=-1, keepdim=False, *, out=None):
    """The most frequent value along dim (the smallest of equally frequent ones) and the index of
    its last occurrence."""
    _check_tensor(input, "mode")
    d = _wrap_dim(dim, input.dim())
    x = (input if input.dim() > 0 else input.reshape(1)).movedim(d, -1)
    n = x.shape[-1]
    if n == 0:
        raise IndexError("mode(): Expected reduction dim 0 to have non-zero size.")
    xd = x.detach()
    eq = xd.unsqueeze(-1) == xd.unsqueeze(-2)  # [..., n, n]
    counts = eq.sum(-1)  # [..., n]
    best = counts.amax(-1, keepdim=True)
    cand = counts == best
    # smallest value among the most frequent
    big = full_like(xd, math.inf) if xd.dtype.is_floating_point else full_like(xd, 2 ** 62)
    src = xd if xd.dtype != _BOOL else xd.to(_I64)
    big = big if xd.dtype != _BOOL else full_like(src, 2)
    vmin = _C.where(cand, src, big).amin(-1, keepdim=True)
    hit = (src == vmin)
    pos = arange(n).expand(tuple(hit.shape))
    idx = _C.where(hit, pos, full_like(pos, -1)).amax(-1, keepdim=True)
    vals = x.gather(-1, idx)
    if keepdim and input.dim() > 0:
        vals, idx = vals.movedim(-1, d), idx.movedim(-1, d)
    else:
        vals, idx = vals.squeeze(-1), idx.squeeze(-1)
    return _write_out(_mode_type(vals, idx), out)


# ---------------------------------------------------------------------------------------------
# factories and dtype utilities

def _tri_indices(row, col, offset, dtype, requires_grad, lower):
    for name, v in (("row", row), ("col", col), ("offset", offset)):
        if not isinstance(v, numbers.Integral) or isinstance(v, builtins.bool):
            raise TypeError(f"argument '{name}' must be int, not {type(v).__name__}")
    if row < 0 or col < 0:
        raise RuntimeError(f"row must be non-negative, got{row}" if row < 0 else f"col must be non-negative, got{col}")
    dtype = _I64 if dtype is None else dtype
    if dtype not in (_I64,):
        raise RuntimeError(f"\"{'tril' if lower else 'triu'}_indices\" not implemented for '{_type_name(dtype)}'")
    r, c = (_np.tril_indices if lower else _np.triu_indices)(row, offset, col)
    res = tensor(_np.stack([r, c]).astype(_np.int64).reshape(2, -1), dtype=dtype)
    if requires_grad:
        raise RuntimeError("Only Tensors of floating point and complex dtype can require gradients")
    return res


@declare("tril_indices(int row, int col, int offset=0, *, ScalarType? dtype=None, Layout? layout=None, "
         "Device? device=None, bool? pin_memory=False, bool? requires_grad=False) -> Tensor")
def tril_indices(row, col, offset=0, *, dtype=None, layout=None, device=None, pin_memory=False,
                 requires_grad=False):
    """The (row, column) indices of the lower triangle of a row x col matrix, as a 2 x N tensor."""
    return _tri_indices(row, col, offset, dtype, requires_grad, True)


@declare("triu_indices(int row, int col, int offset=0, *, ScalarType? dtype=None, Layout? layout=None, "
         "Device? device=None, bool? pin_memory=False, bool? requires_grad=False) -> Tensor")
def triu_indices(row, col, offset=0, *, dtype=None, layout=None, device=None, pin_memory=False,
                 requires_grad=False):
    """The (row, column) indices of the upper triangle of a row x col matrix, as a 2 x N tensor."""
    return _tri_indices(row, col, offset, dtype, requires_grad, False)


@declare("range(Scalar start, Scalar end, Scalar step=1, *, Tensor? out=None, ScalarType? dtype=None, "
         "Device? device=None, bool? requires_grad=False, bool? pin_memory=False) -> Tensor")
def range(start, end, step=1, *, out=None, dtype=None, device=None, requires_grad=False, pin_memory=False):
    """Deprecated (use arange): start, start + step, ... up to and including end, in the default
    float dtype unless told."""
    warnings.warn("torch.range is deprecated and will be removed in a future release because its behavior is "
                  "inconsistent with Python's range builtin. Instead, use torch.arange, which produces values in "
                  "[start, end).", UserWarning, stacklevel=2)
    if step == 0:
        raise RuntimeError("step must be nonzero")
    if (step > 0 and start > end) or (step < 0 and start < end):
        raise RuntimeError("upper bound and larger bound inconsistent with step sign")
    n = int(math.floor((end - start) / step)) + 1
    dt = dtype if dtype is not None else (out.dtype if out is not None else get_default_dtype())
    vals = start + step * _np.arange(n, dtype=_np.float64)
    res = tensor(vals).to(dt)
    if requires_grad:
        res.requires_grad_(True)
    return _write_out(res, out)


@declare("scalar_tensor(Scalar s, *, ScalarType? dtype=None, Layout? layout=None, Device? device=None, "
         "bool? pin_memory=False, bool? requires_grad=False) -> Tensor")
def scalar_tensor(s, *, dtype=None, layout=None, device=None, pin_memory=False,
                requires_grad=False):
    """A 0-d tensor of s, in the default float dtype unless told."""
    if isinstance(s, Tensor):
        s = s.item()
    if not isinstance(s, numbers.Number):
        raise TypeError(f"scalar_tensor(): argument 's' (position 1) must be Number, not {type(s).__name__}")
    res = tensor(float(s) if not isinstance(s, builtins.bool) else s).to(dtype or get_default_dtype())
    if requires_grad:
        res.requires_grad_(True)
    return res


@declare("is_nonzero(Tensor input) -> bool", "function method")
def is_nonzero(input):
    """bool(input) of a one-element tensor."""
    _check_tensor(input, "is_nonzero")
    n = input.numel()
    if n == 0:
        raise RuntimeError("Boolean value of Tensor with no values is ambiguous")
    if n > 1:
        raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
    return builtins.bool(input.item() != 0)


@declare("is_signed(Tensor input) -> bool", "function method")
def is_signed(input):
    """Whether the dtype is signed (every ember dtype but bool and uint8)."""
    _check_tensor(input, "is_signed")
    return input.dtype.is_signed


@declare("is_complex(Tensor input) -> bool", "function method")
def is_complex(input):
    """Whether the dtype is complex (never, in ember)."""
    _check_tensor(input, "is_complex")
    return False


def _check_dtype(d, fn, arg, pos):
    if not isinstance(d, _C.dtype):
        raise TypeError(f"{fn}(): argument '{arg}' (position {pos}) must be torch.dtype, not {type(d).__name__}")


def promote_types(type1, type2):
    """The smallest dtype both convert to (torch's lattice: bool < integers < floating)."""
    _check_dtype(type1, "promote_types", "type1", 1)
    _check_dtype(type2, "promote_types", "type2", 2)
    return _C._promote_types(type1, type2)


def _operand(x):
    """(category, dtype, priority): priority 2 for a dimensioned tensor, 1 for a 0-d tensor, 0 for a number."""
    if isinstance(x, Tensor):
        return _category(x.dtype), x.dtype, 2 if x.dim() > 0 else 1
    if isinstance(x, builtins.bool):
        return 0, _BOOL, 0
    if isinstance(x, numbers.Integral):
        return 1, _I64, 0
    if isinstance(x, numbers.Real):
        return 2, get_default_dtype(), 0
    raise TypeError(f"result_type(): argument 'other' must be Tensor or Number, not {type(x).__name__}")


def result_type(tensor, other):
    """The dtype of an arithmetic op on tensor and other (torch's promotion: dimensioned tensors
    over 0-d tensors over Python numbers, within a category bool < integer < float)."""
    ops = [_operand(tensor), _operand(other)]
    res = None
    for prio in (2, 1, 0):
        tier = [o for o in ops if o[2] == prio]
        if not tier:
            continue
        best = tier[0]
        for o in tier[1:]:
            best = (builtins.max(best[0], o[0]), _C._promote_types(best[1], o[1]), prio)
        if res is None:
            res = best[1]
        elif best[0] > _category(res):  # a lower tier wins only by category
            res = best[1] if prio else (_BOOL, _I64, get_default_dtype())[best[0]]
    return res


def can_cast(from_, to):
    """Whether casting from_ to `to` is allowed by torch's casting rules (no float -> integer,
    no non-bool -> bool)."""
    _check_dtype(from_, "can_cast", "from_", 1)
    _check_dtype(to, "can_cast", "to", 2)
    return _category(from_) <= _category(to)


# ---------------------------------------------------------------------------------------------
# Tensor properties and methods torch has

def _nbytes(self):
    return self.numel() * self.element_size()


def _itemsize(self):
    return self.element_size()


def _is_same_size(self, other):
    _check_tensor(other, "is_same_size", "other", 1)
    return tuple(self.shape) == tuple(other.shape)


def _sum_to_size(self, *size):
    """Sum self down to `size` (which self must expand to)."""
    if len(size) == 1 and isinstance(size[0], (list, tuple)):
        size = size[0]
    size = tuple(int(s) for s in size)
    shape = tuple(self.shape)
    if len(size) > len(shape) or any(s != 1 and s != shape[len(shape) - len(size) + i] for i, s in enumerate(size)):
        raise RuntimeError(f"size {{{list(size)}}} is not expandable to size {{{list(shape)}}}.")
    lead = len(shape) - len(size)
    res = self
    if lead:
        res = res.sum(tuple(builtins.range(lead)))
    dims = tuple(i for i, s in enumerate(size) if s == 1 and res.shape[i] != 1)
    if dims:
        res = res.sum(dims, keepdim=True)
    return res


def _adjoint(self):
    if self.dim() < 2:
        raise RuntimeError("tensor.adjoint() is only supported on matrices or batches of matrices. Got 1-D tensor."
                           if self.dim() == 1 else "tensor.adjoint() is only supported on matrices or batches of "
                           "matrices. Got 0-D tensor.")
    return self.transpose(-2, -1)


def _H(self):
    if self.dim() == 2:
        return self.transpose(0, 1)
    if self.dim() == 0:
        return self
    raise RuntimeError(f"tensor.H is only supported on matrices (2-D tensors). Got {self.dim()}-D tensor.")


def _mH(self):
    if self.dim() < 2:
        raise RuntimeError(f"tensor.mH is only supported on matrices or batches of matrices. Got {self.dim()}-D "
                           "tensor.")
    return self.transpose(-2, -1)


Tensor.nbytes = property(_nbytes)
Tensor.itemsize = property(_itemsize)
Tensor.is_same_size = _is_same_size
Tensor.sum_to_size = _sum_to_size
Tensor.adjoint = _adjoint
Tensor.H = property(_H)
Tensor.mH = property(_mH)
for _n, _f in (("deg2rad", deg2rad), ("rad2deg", rad2deg), ("sinc", sinc), ("heaviside", heaviside),
               ("renorm", renorm), ("mvlgamma", mvlgamma)):
    _inplace(_n, _f)


# ---------------------------------------------------------------------------------------------
# torch's top-level aliases of torch.nn.functional functions

_REDUCTIONS = {0: "none", 1: "mean", 2: "sum"}


def _red(reduction):
    """torch's top-level losses take the reduction as an int (0 none, 1 mean, 2 sum; their default is
    0, the unreduced loss, unlike nn.functional's 'mean'); names work too."""
    if isinstance(reduction, str):
        return reduction
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return _REDUCTIONS[reduction]


def _F():
    from .nn import functional
    return functional


def dropout(input, p, train):
    """torch.dropout(input, p, train): nn.functional.dropout(input, p, training=train)."""
    return _F().dropout(input, p, train)


def alpha_dropout(input, p, train):
    """torch.alpha_dropout(input, p, train): nn.functional.alpha_dropout(input, p, training=train)."""
    return _F().alpha_dropout(input, p, train)


def celu(input, alpha=1.0):
    return _F().celu(input, alpha)


def selu(input):
    return _F().selu(input)


def threshold(input, threshold, value, *, out=None):
    return _write_out(_F().threshold(input, threshold, value), out)


def hardshrink(input, lambd=0.5, *, out=None):
    return _write_out(_F().hardshrink(input, lambd), out)


def prelu(input, weight):
    return _F().prelu(input, weight)


def rrelu(input, lower=0.125, upper=1.0 / 3.0, training=False, generator=None):
    """nn.functional.rrelu (in training the slopes come from ember's default generator)."""
    return _F().rrelu(input, lower, upper, training)


def embedding(weight, indices, padding_idx=-1, scale_grad_by_freq=False, sparse=False):
    """torch.embedding(weight, indices, ...): the rows of weight at indices (weight first, as torch's)."""
    return _F().embedding(indices, weight, padding_idx=None if padding_idx < 0 else padding_idx,
                          scale_grad_by_freq=scale_grad_by_freq, sparse=sparse)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-05, cudnn_enable=True):
    return _F().layer_norm(input, normalized_shape, weight, bias, eps)


def batch_norm(input, weight, bias, running_mean, running_var, training, momentum, eps, cudnn_enabled):
    return _F().batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps)


def bilinear(input1, input2, weight, bias=None):
    return _F().bilinear(input1, input2, weight, bias)


def cosine_similarity(x1, x2, dim=1, eps=1e-08):
    return _F().cosine_similarity(x1, x2, dim, eps)


def pairwise_distance(x1, x2, p=2, eps=1e-06, keepdim=False):
    return _F().pairwise_distance(x1, x2, p, eps, keepdim)


def kl_div(input, target, reduction=0, *, log_target=False):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _F().kl_div(input, target, reduction=_red(reduction), log_target=log_target)


def margin_ranking_loss(input1, input2, target, margin=0.0, reduction=0):
    return _F().margin_ranking_loss(input1, input2, target, margin, reduction=_red(reduction))


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2, eps=1e-06, swap=False, reduction=0):
    return _F().triplet_margin_loss(anchor, positive, negative, margin, p, eps, swap, reduction=_red(reduction))


def poisson_nll_loss(input, target, log_input, full, eps, reduction):
    return _F().poisson_nll_loss(input, target, log_input, full, eps=eps, reduction=_red(reduction))


def hinge_embedding_loss(input, target, margin=1.0, reduction=0):
    return _F().hinge_embedding_loss(input, target, margin, reduction=_red(reduction))


def cosine_embedding_loss(input1, input2, target, margin=0.0, reduction=0):
    return _F().cosine_embedding_loss(input1, input2, target, margin, reduction=_red(reduction))


def binary_cross_entropy_with_logits(input, target, weight=None, pos_weight=None, reduction=0):
    return _F().binary_cross_entropy_with_logits(input, target, weight, reduction=_red(reduction),
                                                 pos_weight=pos_weight)


# ---- windows, integer gcd/lcm, and torch-namespace aliases of linalg ------------------------------

def _window(name, window_length, periodic, dtype, requires_grad, values):
    """The shared frame of torch's window functions: length checks, the dtype (the default float
    dtype; floating only), and `values(n, N)` evaluated at n = 0..L-1 with N = L (periodic) or L-1."""
    if window_length < 0:
        raise RuntimeError(f"{name} requires non-negative window length, got window length={window_length}")
    dt = get_default_dtype() if dtype is None else dtype
    if not dt.is_floating_point:
        raise RuntimeError(f"{name} expects floating point dtypes, got: {dt}")
    if window_length == 0:
        res = zeros(0, dtype=dt)
    elif window_length == 1:
        res = full((1,), 1.0, dtype=dt)
    else:
        n = arange(window_length, dtype=dt)
        res = values(n, float(window_length if periodic else window_length - 1))
    return res.requires_grad_(True) if requires_grad else res


_WINDOW_TAIL = ("*, ScalarType? dtype=None, Layout? layout=None, Device? device=None, bool? pin_memory=False, "
                "bool requires_grad=False) -> Tensor")


def _declare_window(name, *overloads):
    """Declares a window function under each of torch's overloads ((overload name, leading params))."""
    def deco(fn):
        for ov, params in overloads:
            declare(f"{name}{'.' + ov if ov else ''}({params}, {_WINDOW_TAIL}")(fn)
        return fn
    return deco


@_declare_window("hann_window", ("", "int window_length"), ("periodic", "int window_length, bool periodic"))
def hann_window(window_length, periodic=True, *, dtype=None, layout=None, device=None, pin_memory=False,
                requires_grad=False):
    """0.5 - 0.5 cos(2 pi n / N)."""
    return _window("hann_window", window_length, periodic, dtype, requires_grad,
                   lambda n, N: 0.5 - 0.5 * (n * (2 * math.pi / N)).cos())


@_declare_window("hamming_window", ("", "int window_length"), ("periodic", "int window_length, bool periodic"),
                 ("periodic_alpha", "int window_length, bool periodic, float alpha"),
                 ("periodic_alpha_beta", "int window_length, bool periodic, float alpha, float beta"))
def hamming_window(window_length, periodic=True, alpha=0.54, beta=0.46, *, dtype=None, layout=None, device=None,
                   pin_memory=False, requires_grad=False):
    """alpha - beta cos(2 pi n / N)."""
    return _window("hamming_window", window_length, periodic, dtype, requires_grad,
                   lambda n, N: alpha - beta * (n * (2 * math.pi / N)).cos())


@_declare_window("blackman_window", ("", "int window_length"), ("periodic", "int window_length, bool periodic"))
def blackman_window(window_length, periodic=True, *, dtype=None, layout=None, device=None, pin_memory=False,
                requires_grad=False):
    """0.42 - 0.5 cos(2 pi n / N) + 0.08 cos(4 pi n / N)."""
    return _window("blackman_window", window_length, periodic, dtype, requires_grad,
                   lambda n, N: 0.42 - 0.5 * (n * (2 * math.pi / N)).cos() + 0.08 * (n * (4 * math.pi / N)).cos())


@_declare_window("bartlett_window", ("", "int window_length"), ("periodic", "int window_length, bool periodic"))
def bartlett_window(window_length, periodic=True, *, dtype=None, layout=None, device=None, pin_memory=False,
                requires_grad=False):
    """1 - |2n / N - 1|."""
    return _window("bartlett_window", window_length, periodic, dtype, requires_grad,
                   lambda n, N: 1 - (n * (2 / N) - 1).abs())


@_declare_window("kaiser_window", ("", "int window_length"), ("periodic", "int window_length, bool periodic"),
                 ("beta", "int window_length, bool periodic, float beta"))
def kaiser_window(window_length, periodic=True, beta=12.0, *, dtype=None, layout=None, device=None,
                  pin_memory=False, requires_grad=False):
    """i0(beta sqrt(1 - ((n - N/2) / (N/2))^2)) / i0(beta)."""
    def values(n, N):
        half = N / 2
        r = 1 - ((n - half) / half) ** 2
        return (beta * r.clamp(min=0).sqrt()).i0() / float(_C.i0(tensor(beta, dtype=_F64)))
    return _window("kaiser_window", window_length, periodic, dtype, requires_grad, values)


def _int_binary(name, input, other, f, out):
    _check_tensor(input, name)
    o = other if isinstance(other, Tensor) else tensor(other)
    if input.dtype.is_floating_point or o.dtype.is_floating_point or input.dtype == _BOOL or o.dtype == _BOOL:
        bad = input.dtype if (input.dtype.is_floating_point or input.dtype == _BOOL) else o.dtype
        raise RuntimeError(f"\"{name}_cpu\" not implemented for '{_type_name(bad)}'")
    d = _C._promote_types(input.dtype, o.dtype)
    a, b = _np.broadcast_arrays(input.detach().numpy(), o.detach().numpy())
    return _write_out(tensor(f(a.astype(_np.int64), b.astype(_np.int64))).to(d), out)


@declare("gcd(Tensor input, Tensor other, *, Tensor? out=None) -> Tensor", "function method inplace")
def gcd(input, other, *, out=None):
    """The greatest common divisor of integer tensors (elementwise, broadcasting)."""
    return _int_binary("gcd", input, other, _np.gcd, out)


@declare("lcm(Tensor input, Tensor other, *, Tensor? out=None) -> Tensor", "function method inplace")
def lcm(input, other, *, out=None):
    """The least common multiple of integer tensors (elementwise, broadcasting)."""
    return _int_binary("lcm", input, other, _np.lcm, out)


for _n, _f in (("gcd", gcd), ("lcm", lcm)):
    _inplace(_n, _f)


@declare("matrix_power(Tensor input, int n, *, Tensor? out=None) -> Tensor", "function method")
def matrix_power(input, n, *, out=None):
    """torch.matrix_power: linalg.matrix_power under its older name."""
    from .linalg import matrix_power as _mp
    return _write_out(_mp(input, n), out)


@declare("pinverse(Tensor input, float rcond=1e-15) -> Tensor", "function method")
def pinverse(input, rcond=1e-15):
    """torch.pinverse: the pseudo-inverse, singular values below rcond * the largest dropped."""
    from .linalg import pinv
    return pinv(input, rtol=rcond)


@declare("randint_like(Tensor input, int high, *, MemoryFormat? memory_format=None, ScalarType? dtype=None, "
         "Layout? layout=None, Device? device=None, bool? pin_memory=False, bool requires_grad=False) -> Tensor")
@declare("randint_like.low(Tensor input, int low, int high, *, MemoryFormat? memory_format=None, "
         "ScalarType? dtype=None, Layout? layout=None, Device? device=None, bool? pin_memory=False, "
         "bool requires_grad=False) -> Tensor")
def randint_like(input, low=0, high=None, *, memory_format=None, dtype=None, layout=None, device=None,
                 pin_memory=False, requires_grad=False, generator=None):
    """randint with input's shape (and dtype unless given); randint_like(x, high) takes one bound as high."""
    from ._factories import randint
    _check_tensor(input, "randint_like")
    if high is None:
        low, high = 0, low
    return randint(low, high, tuple(input.shape), generator=generator,
                   dtype=input.dtype if dtype is None else dtype, requires_grad=requires_grad)


@declare("unique_consecutive(Tensor input, bool return_inverse=False, bool return_counts=False, int? dim=None) "
         "-> Tensor")
def unique_consecutive(input, return_inverse=False, return_counts=False, dim=None):
    """Collapses runs of equal consecutive values (or slices along dim); inverse and counts as torch."""
    _check_tensor(input, "unique_consecutive")
    x = input.detach()
    if dim is None:
        x = x.reshape(-1)
        d = 0
    else:
        d = dim % builtins.max(x.dim(), 1)
    n = x.shape[d] if x.dim() else 1
    if n == 0:
        vals, inv, cnt = x, zeros(0, dtype=_I64), zeros(0, dtype=_I64)
    else:
        xm = x.movedim(d, 0).reshape(n, -1)
        change = (xm[1:] != xm[:-1]).any(1) if n > 1 else zeros(0, dtype=_BOOL)
        starts = _C.cat([tensor([True]), change])
        inv = starts.long().cumsum(0) - 1
        idx = starts.nonzero().reshape(-1)
        vals = x.index_select(d, idx)
        ends = _C.cat([idx[1:], tensor([n])])
        cnt = ends - idx
    if dim is None:
        inv = inv.reshape(tuple(input.shape))
    if not return_inverse and not return_counts:
        return vals
    res = (vals,) + ((inv,) if return_inverse else ()) + ((cnt,) if return_counts else ())
    return res


def _where_method(self, condition, y):
    """x.where(condition, y): torch.where(condition, x, y)."""
    return _C.where(condition, self, y)


Tensor.where = _where_method


# ---- in-place view ops: the out-of-place view, then self takes its geometry (and history) --------

def _inplace_view(name, view):
    def method(self, *args, **kwargs):
        _C.Tensor._become_view(self, view(self, *args, **kwargs))
        return self
    method.__name__ = name
    method.__doc__ = f"In-place {name[:-1]}: self becomes its {name[:-1]} view (same storage)."
    return method


@declare("t_(Tensor input) -> Tensor", "method")
def t_(input):
    return _inplace_view("t_", Tensor.t)(input)


@declare("transpose_(Tensor input, int dim0, int dim1) -> Tensor", "method")
def transpose_(input, dim0, dim1):
    return _inplace_view("transpose_", Tensor.transpose)(input, dim0, dim1)


@declare("swapaxes_(Tensor input, int axis0, int axis1) -> Tensor", "method")
def swapaxes_(input, axis0, axis1):
    return _inplace_view("swapaxes_", Tensor.transpose)(input, axis0, axis1)


@declare("swapdims_(Tensor input, int dim0, int dim1) -> Tensor", "method")
def swapdims_(input, dim0, dim1):
    return _inplace_view("swapdims_", Tensor.transpose)(input, dim0, dim1)


@declare("squeeze_(Tensor input) -> Tensor", "method")
@declare("squeeze_.dim(Tensor input, int[1] dim) -> Tensor", "method")
def squeeze_(input, dim=None):
    return _inplace_view("squeeze_", Tensor.squeeze)(input, *(() if dim is None else (dim,)))


@declare("unsqueeze_(Tensor input, int dim) -> Tensor", "method")
def unsqueeze_(input, dim):
    return _inplace_view("unsqueeze_", Tensor.unsqueeze)(input, dim)


# ---- scatter-into-a-copy ops, ldexp/frexp, fill_diagonal_, small aliases --------------------------

@declare("diagonal_scatter(Tensor input, Tensor src, int offset=0, int dim1=0, int dim2=1) -> Tensor",
         "function method")
def diagonal_scatter(input, src, offset=0, dim1=0, dim2=1):
    """A copy of input with the diagonal (offset, dim1, dim2) replaced by src (differentiable in both)."""
    _check_tensor(input, "diagonal_scatter")
    out = input.clone()
    out.diagonal(offset, dim1, dim2).copy_(src)
    return out


@declare("select_scatter(Tensor input, Tensor src, int dim, int index) -> Tensor", "function method")
def select_scatter(input, src, dim, index):
    """A copy of input with input.select(dim, index) replaced by src."""
    _check_tensor(input, "select_scatter")
    out = input.clone()
    out.select(dim, index).copy_(src)
    return out


@declare("slice_scatter(Tensor input, Tensor src, int dim=0, int? start=None, int? end=None, int step=1, *, "
         "Tensor? out=None) -> Tensor", "function method")
def slice_scatter(input, src, dim=0, start=None, end=None, step=1, *, out=None):
    """A copy of input with the slice start:end:step of dim replaced by src."""
    _check_tensor(input, "slice_scatter")
    index = [slice(None)] * builtins.max(input.dim(), 1)
    index[dim] = slice(start, end, step)
    res = input.clone()
    res[tuple(index)] = src
    return _write_out(res, out)


@declare("ldexp(Tensor input, Tensor other, *, Tensor? out=None) -> Tensor", "function method inplace")
def ldexp(input, other, *, out=None):
    """input * 2 ** other (a float result, as torch)."""
    _check_tensor(input, "ldexp")
    o = other if isinstance(other, Tensor) else tensor(other)
    x = _to_float(input)
    return _write_out(x * o.to(x.dtype).exp2(), out)


_Frexp = return_type("frexp", ["mantissa", "exponent"])


@declare("frexp(Tensor input, *, Tensor[]? out=None) -> (Tensor mantissa, Tensor exponent)", "function method")
def frexp(input, *, out=None):
    """(mantissa, exponent) with input = mantissa * 2 ** exponent, |mantissa| in [0.5, 1); exponent int32."""
    _check_tensor(input, "frexp")
    if not input.dtype.is_floating_point:
        raise RuntimeError("torch.frexp() only supports floating-point dtypes")
    _, e = _np.frexp(input.detach().float().numpy() if input.dtype == _C.dtype.bfloat16 else input.detach().numpy())
    # the mantissa as input * 2^-e: exact, and differentiable as torch's (d mantissa / d input = 2^-e)
    res = _Frexp(input * tensor(_np.exp2(-e.astype(_np.float64))).to(input.dtype), tensor(e.astype(_np.int32)))
    return _write_out(res, out)


@declare("fill_diagonal_(Tensor input, Scalar fill_value, bool wrap=False) -> Tensor", "method")
def fill_diagonal_(input, fill_value, wrap=False):
    """Fills the main diagonal in place (all dims equal beyond 2-D); wrap: a tall matrix's diagonal
    restarts every ncols + 1 rows, as numpy's fill_diagonal."""
    _check_tensor(input, "fill_diagonal_")
    if input.dim() < 2:
        raise RuntimeError("dimensions must larger than 1")
    if input.dim() > 2 and builtins.len(set(input.shape)) != 1:
        raise RuntimeError("all dimensions of input must be of equal length")
    if input.dim() == 2:
        n, m = input.shape
        limit = n * m if wrap and n > m + 1 else builtins.min(n, m) * m
        pos = arange(0, limit, m + 1)
        idx = (pos // m, pos % m)
    else:
        i = arange(input.shape[0])
        idx = (i,) * input.dim()
    input[idx] = fill_value
    return input


@declare("adjoint(Tensor input) -> Tensor")
def adjoint(input):
    """The conjugate transpose of the last two dims (the transpose, for ember's real dtypes); a view."""
    _check_tensor(input, "adjoint")
    return input.adjoint()


def asarray(obj, *, dtype=None, device=None, copy=None, requires_grad=False):
    """torch.asarray: a tensor sharing obj's memory when it can (a tensor, or a numpy array of an
    ember dtype) unless copy=True; copy=False raises when a copy is needed."""
    from ._factories import as_tensor
    from ._storage import UntypedStorage
    if isinstance(obj, UntypedStorage):  # its bytes, read as dtype (torch.asarray of a storage)
        obj = obj._as_bytes()
        if dtype is not None and dtype != obj.dtype:
            obj = obj.view(dtype)
    if copy:
        res = tensor(obj, dtype=dtype, device=device)
    else:
        res = as_tensor(obj, dtype=dtype, device=device)
        if copy is False and isinstance(obj, (Tensor, _np.ndarray)):
            same = res is obj if isinstance(obj, Tensor) else _np.shares_memory(res.numpy(), obj)
            if not same:
                raise ValueError("can't alias the input: a copy is needed for the requested dtype or device")
    if requires_grad:
        res = res.detach().requires_grad_(True) if isinstance(obj, Tensor) else res.requires_grad_(True)
    return res


def _is_neg(self):
    """False: ember has no lazy negation bit (torch's is for complex conjugate views)."""
    return False


def _resolve_neg(self):
    return self


Tensor.is_neg = _is_neg
Tensor.resolve_neg = _resolve_neg
Tensor.resolve_conj = _resolve_neg
for _n, _f in (("ldexp", ldexp),):
    _inplace(_n, _f)


# ---- apply_ / map_ / map2_: a Python callable per element (CPU tensors only, as torch) ------------

def _elementwise_py(self, name, others, fn):
    if self.requires_grad:
        raise RuntimeError(f"Can't call {name}() on Variable that requires grad. Use var.detach().{name}() instead.")
    arrs = [self.numpy()] + [_np.broadcast_to(o.detach().numpy(), tuple(self.shape)) for o in others]
    flat = [_np.ravel(a) for a in arrs]
    res = _np.empty(self.numel(), dtype=arrs[0].dtype)
    for k in builtins.range(self.numel()):
        res[k] = fn(*(f[k].item() for f in flat))
    self.copy_(tensor(res.reshape(tuple(self.shape))))
    return self


def _apply_(self, callable):  # noqa: A002 (torch's parameter name)
    """Replaces each element by callable(element), in place (slow: one Python call per element)."""
    return _elementwise_py(self, "apply_", (), callable)


def _map_(self, tensor, callable):  # noqa: A002
    """self[i] = callable(self[i], tensor[i]) in place (tensor broadcast to self's shape)."""
    return _elementwise_py(self, "map_", (tensor,), callable)


def _map2_(self, x, y, callable):  # noqa: A002
    """self[i] = callable(self[i], x[i], y[i]) in place."""
    return _elementwise_py(self, "map2_", (x, y), callable)


Tensor.apply_ = _apply_
Tensor.map_ = _map_
Tensor.map2_ = _map2_
