"""torch.linalg, the part written from ember's existing ops: vector_norm, norm, matrix_norm
('fro', 1, -1, inf, -inf), cross, multi_dot, vecdot, matmul, diagonal. The decompositions and
solvers (inv, solve, det, qr, cholesky, eigh, svd) come from C++; the norms that need singular
values (ord=2, -2, 'nuc') use the C++ svdvals."""
import math
import numbers

from . import _C
from ._op_registry import declare, return_type
from .functional import (
    _chain_product,
    _check_chain,
    _is_float,
    _is_tensor,
    _mm_dtype_check,
    _type_name,
    _wrap_dim,
    _write_out,
)

Tensor = _C.Tensor

__all__ = ["cross", "diagonal", "matmul", "matrix_norm", "multi_dot", "norm", "vander", "vecdot", "vector_norm"]

def _check_dtype_arg(name, A, dtype):
    """torch: the dtype= of a norm must not narrow the input's (float64 -> float32 is refused)."""
    if dtype is None:
        return
    if not dtype.is_floating_point:
        raise RuntimeError(f"{name}: dtype should be floating point or complex. Got {_type_name(dtype)}")
    if A.dtype.is_floating_point and A.dtype.itemsize > dtype.itemsize:
        raise RuntimeError(f"{name}: the dtype of the input ({_type_name(A.dtype)}) should be convertible "
                           f"without narrowing to the specified dtype ({_type_name(dtype)})")


def _check_float(name, A):
    if not _is_tensor(A):
        raise TypeError(f"{name}(): argument 'A' must be Tensor, not {type(A).__name__}")
    if not _is_float(A):
        raise RuntimeError(f"linalg.{name}: Expected a floating point or complex tensor as input. "
                           f"Got {_type_name(A.dtype)}")


def vector_norm(input, ord=2, dim=None, keepdim=False, *, dtype=None, out=None):
    """The ord-norm of x over dim (all elements by default); ember._C.linalg_vector_norm, whose
    gradient is 0 at zero (the 2-norm is zero-safe)."""
    x = input
    if _is_tensor(x):
        _check_dtype_arg("linalg.vector_norm", x, dtype)
    if out is not None:
        return _C.linalg_vector_norm(x, ord, dim, keepdim, dtype=dtype, out=out)
    res = _C.linalg_vector_norm(x, ord, dim, keepdim, dtype=dtype)
    if ord == 0 and x.requires_grad and not res.requires_grad:
        # the C++ ord=0 norm leaves the graph; torch's result is differentiable (gradient 0)
        zero = (x * 0).sum(dim, keepdim, dtype=res.dtype) if dim is not None else (x * 0).sum(dtype=res.dtype)
        res = res + zero
    return res


def _ord_name(ord):
    if isinstance(ord, float) and math.isinf(ord):
        return "inf" if ord > 0 else "-inf"
    return str(ord)


def _matrix_dims(dim, ndim):
    if isinstance(dim, numbers.Integral) or len(dim) != 2:
        n = 1 if isinstance(dim, numbers.Integral) else len(dim)
        raise RuntimeError(f"linalg.matrix_norm: dim must be a 2-tuple. Got {n}")
    d0, d1 = (_wrap_dim(d, ndim) for d in dim)
    if d0 == d1:
        raise RuntimeError(f"linalg.matrix_norm: dims must be different. Got ({d0}, {d1})")
    return d0, d1


def _drop_dims(r, dims):
    """Remove the size-1 dims `dims` (kept by keepdim=True reductions)."""
    shape = [s for i, s in enumerate(r.shape) if i not in dims]
    return r.reshape(shape)


@declare("linalg_matrix_norm(Tensor input, Scalar ord=\"fro\", int[] dim=[-2,-1], bool keepdim=False, *, "
         "ScalarType? dtype=None, Tensor? out=None) -> Tensor")
def matrix_norm(input, ord="fro", dim=(-2, -1), keepdim=False, *, dtype=None, out=None):
    """Matrix norms over the two dims `dim`: 'fro', 1 / -1 (max / min column sum of |A|),
    inf / -inf (max / min row sum); 2 / -2 / 'nuc': largest / smallest / sum of singular values."""
    A = input
    if not _is_tensor(A):
        raise TypeError(f"matrix_norm(): argument 'input' must be Tensor, not {type(A).__name__}")
    if A.dim() < 2:
        raise RuntimeError("linalg.matrix_norm: The input tensor A must have at least 2 dimensions.")
    _check_float("matrix_norm", A)
    d0, d1 = _matrix_dims(dim, A.dim())
    if isinstance(ord, str):
        if ord not in ("fro", "nuc"):
            raise RuntimeError(f"linalg.matrix_norm: Order {ord} not supported.")
    elif isinstance(ord, bool) or not isinstance(ord, numbers.Real) or ord not in (1, -1, 2, -2, math.inf, -math.inf):
        raise RuntimeError(f"linalg.matrix_norm: Order {_ord_name(ord)} not supported.")
    _check_dtype_arg("linalg.matrix_norm", A, dtype)
    if dtype is not None:
        A = A.to(dtype)
    if ord in ("nuc", 2, -2):  # from the singular values (the matrix dims moved last)
        S = _C.linalg_svdvals(_C.movedim(A, [d0, d1], [-2, -1]))
        res = S.sum(-1) if ord == "nuc" else (S.amax(-1) if ord == 2 else S.amin(-1))
        if keepdim:
            res = res.unsqueeze(min(d0 % A.dim(), d1 % A.dim())).unsqueeze(max(d0 % A.dim(), d1 % A.dim()))
        return res if out is None else out.resize_(res.shape).copy_(res)
    if ord == "fro":
        res = _C.linalg_vector_norm(A, 2, [d0, d1], keepdim)
    else:
        # 1: max over columns of the column sums (sum over d0); inf: max over rows of the row sums
        sum_dim, red_dim = (d0, d1) if abs(ord) == 1 else (d1, d0)
        s = A.abs().sum(sum_dim, keepdim=True)
        if ord > 0:
            # the sums are >= 0, so an empty max is 0 (as torch)
            r = s.sum(red_dim, keepdim=True) if s.size(red_dim) == 0 else s.amax(red_dim, keepdim=True)
        else:
            r = s.amin(red_dim, keepdim=True)
        res = r if keepdim else _drop_dims(r, (d0, d1))
    return res if out is None else _write_out(out, res, "linalg_matrix_norm")


@declare("linalg_norm(Tensor input, Scalar? ord=None, int[1]? dim=None, bool keepdim=False, *, ScalarType? dtype=None, "
         "Tensor? out=None) -> Tensor")
def norm(input, ord=None, dim=None, keepdim=False, *, dtype=None, out=None):
    """A vector norm (dim an int or 1-tuple, or a 1-D input) or a matrix norm (dim a 2-tuple, or a
    2-D input with ord given, or a str ord); with neither ord nor dim, the 2-norm of all elements."""
    A = input
    if not _is_tensor(A):
        raise TypeError(f"norm(): argument 'input' must be Tensor, not {type(A).__name__}")
    if dim is not None:
        dim = [dim] if isinstance(dim, numbers.Integral) else list(dim)
        if len(dim) not in (1, 2):
            raise RuntimeError(f"linalg.norm: If dim is specified, it must be of length 1 or 2. Got {dim}")
    elif ord is not None and A.dim() not in (1, 2):
        raise RuntimeError(f"linalg.norm: If dim is not specified but ord is, the input must be 1D or 2D. "
                           f"Got {A.dim()}D.")
    matrix = isinstance(ord, str) or (dim is not None and len(dim) == 2) \
        or (dim is None and ord is not None and A.dim() == 2)
    if matrix:
        return matrix_norm(A, "fro" if ord is None else ord, (-2, -1) if dim is None else dim, keepdim,
                           dtype=dtype, out=out)
    return vector_norm(A, 2 if ord is None else ord, dim, keepdim, dtype=dtype, out=out)


def cross(input, other, *, dim=-1, out=None):
    """The cross product of 3-vectors along dim (broadcasting); ember._C.linalg_cross."""
    if _is_tensor(input) and _is_tensor(other) and input.dim() != other.dim():
        raise RuntimeError("linalg.cross: inputs must have the same number of dimensions.")
    if out is None:
        return _C.linalg_cross(input, other, dim=dim)
    return _C.linalg_cross(input, other, dim=dim, out=out)


@declare("linalg_multi_dot(Tensor[] tensors, *, Tensor? out=None) -> Tensor")
def multi_dot(tensors, *, out=None):
    """The product of two or more matrices in the cheapest order; the first may be a row vector
    and the last a column vector (1-D), which are squeezed out of the result."""
    if _is_tensor(tensors) or not isinstance(tensors, (list, tuple)):
        raise TypeError(f"linalg_multi_dot(): argument 'tensors' (position 1) must be tuple of Tensors, "
                        f"not {type(tensors).__name__}")
    if len(tensors) < 2:
        raise RuntimeError(f"multi_dot(): expected at least 2 tensors but got {len(tensors)}")
    mats = _check_chain(list(tensors), True)
    _mm_dtype_check("addmm_impl_cpu_", *mats)
    res = _chain_product(mats)
    if tensors[0].dim() == 1 and tensors[-1].dim() == 1:
        res = res.reshape(())
    elif tensors[0].dim() == 1:
        res = res.squeeze(0)
    elif tensors[-1].dim() == 1:
        res = res.squeeze(-1)
    return res if out is None else _write_out(out, res, "linalg_multi_dot")


@declare("linalg_vecdot(Tensor x, Tensor y, *, int dim=-1, Tensor? out=None) -> Tensor")
def vecdot(x, y, *, dim=-1, out=None):
    """The dot product of x and y along dim, broadcasting the other dims."""
    for name, t in (("x", x), ("y", y)):
        if not _is_tensor(t):
            raise TypeError(f"vecdot(): argument '{name}' must be Tensor, not {type(t).__name__}")
    if not _is_float(x):
        raise RuntimeError(f"linalg.vecdot: Expected a floating point or complex tensor as input. "
                           f"Got {_type_name(x.dtype)}")
    if x.dtype != y.dtype:
        raise RuntimeError(f"linalg.vecdot: Expected x and y to have the same dtype, but found x of type "
                           f"{_type_name(x.dtype)} and y of type {_type_name(y.dtype)} instead")
    res = (x * y).sum(dim)
    return res if out is None else _write_out(out, res, "linalg_vecdot")


@declare("linalg_matmul(Tensor input, Tensor other, *, Tensor? out=None) -> Tensor")
def matmul(input, other, *, out=None):
    """Alias of ember.matmul."""
    if out is None:
        return _C.matmul(input, other)
    return _C.matmul(input, other, out=out)


@declare("linalg_diagonal(Tensor A, *, int offset=0, int dim1=-2, int dim2=-1) -> Tensor")
def diagonal(A, *, offset=0, dim1=-2, dim2=-1):
    """Alias of ember.diagonal with the matrix dims last by default."""
    return _C.diagonal(A, offset, dim1, dim2)


# ---- the LAPACK-backed ops of the C++ op table (cpp/ember/ops/linalg.cpp), under torch.linalg's names
inv = _C.linalg_inv
det = _C.linalg_det
slogdet = _C.linalg_slogdet
solve = _C.linalg_solve
cholesky = _C.linalg_cholesky
qr = _C.linalg_qr
eigh = _C.linalg_eigh
eigvalsh = _C.linalg_eigvalsh
svd = _C.linalg_svd
svdvals = _C.linalg_svdvals


_InvEx = return_type("linalg_inv_ex", ["inverse", "info"])
_CholeskyEx = return_type("linalg_cholesky_ex", ["L", "info"])


def inv_ex(A, *, check_errors=False, out=None):
    """(inverse, info) as torch.linalg.inv_ex; a singular matrix raises (ember has no info path)."""
    return _InvEx(inv(A), _C._zeros(list(A.shape[:-2]), _C.dtype.int32))


def cholesky_ex(A, *, upper=False, check_errors=False, out=None):
    """(L, info) as torch.linalg.cholesky_ex; a matrix that is not positive-definite raises."""
    return _CholeskyEx(cholesky(A, upper=upper), _C._zeros(list(A.shape[:-2]), _C.dtype.int32))


def matrix_power(A, n):
    """A^n by repeated squaring (negative n: of the inverse)."""
    if n < 0:
        A, n = inv(A), -n
    result = None
    base = A
    while n:
        if n & 1:
            result = base if result is None else result @ base
        n >>= 1
        if n:
            base = base @ base
    if result is None:
        eye = _C._eye(A.shape[-1], A.shape[-1], A.dtype)
        eye = eye.expand(*A.shape) if A.dim() > 2 else eye
        if A.requires_grad:  # torch's A^0 is differentiable, with gradient 0 (where() passes none to A)
            return _C.where(_C._ones(list(A.shape), _C.dtype.bool), eye, A)
        return eye
    return result


def pinv(A, *, atol=None, rtol=None, hermitian=False):
    """Moore-Penrose pseudo-inverse from the SVD (singular values below the tolerance dropped)."""
    U, S, Vh = svd(A, full_matrices=False)
    if rtol is None:
        rtol = max(A.shape[-2], A.shape[-1]) * (1.1920928955078125e-07 if A.dtype == _C.dtype.float32 else 2.220446049250313e-16)
    cutoff = S.amax(-1, keepdim=True) * rtol
    if atol is not None:
        cutoff = _C.maximum(cutoff, _C.full_like(cutoff, atol) if hasattr(_C, "full_like") else cutoff * 0 + atol)
    s_inv = _C.where(S > cutoff, 1.0 / S, 0.0)
    return (Vh.mT * s_inv.unsqueeze(-2)) @ U.mT


def matrix_rank(A, *, atol=None, rtol=None, hermitian=False):
    S = svdvals(A)
    if rtol is None:
        rtol = max(A.shape[-2], A.shape[-1]) * (1.1920928955078125e-07 if A.dtype == _C.dtype.float32 else 2.220446049250313e-16)
    tol = S.amax(-1, keepdim=True) * rtol
    if atol is not None:
        tol = _C.maximum(tol, tol * 0 + atol)
    return (S > tol).sum(-1)


__all__ += ["inv", "inv_ex", "det", "slogdet", "solve", "cholesky", "cholesky_ex", "qr", "eigh", "eigvalsh", "svd",
            "svdvals", "matrix_power", "pinv", "matrix_rank"]


@declare("linalg_vander(Tensor x, *, int? N=None) -> Tensor")
def vander(x, *, N=None):
    """The Vandermonde matrix [x^0, x^1, ..., x^(N-1)] along a new last dim (N = x.shape[-1] by default)."""
    if not _is_tensor(x):
        raise TypeError(f"linalg.vander(): argument 'x' must be Tensor, not {type(x).__name__}")
    if x.dim() < 1:
        raise RuntimeError("linalg.vander: x must have at least one dimension")
    if x.dtype.is_floating_point and x.dtype.itemsize < 4:
        raise RuntimeError(f"linalg.vander supports floating point, complex, and integer tensors, but got "
                           f"{_type_name(x.dtype)}")
    n = x.shape[-1] if N is None else N
    if n < 0:
        raise RuntimeError(f"linalg.vander: N must be non-negative, got {n}")
    if n == 0:
        return _C._zeros(list(x.shape) + [0], x.dtype)
    powers = x.unsqueeze(-1).expand(*x.shape, n - 1).cumprod(-1) if n > 1 else x.unsqueeze(-1)[..., :0]
    return _C.cat([_C._ones(list(x.shape) + [1], x.dtype), powers], -1)
