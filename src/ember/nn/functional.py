"""nn.functional: stateless functions under torch.nn.functional's names. linear and the main losses
are single fused C++ ops; the rest compose differentiable ember ops (gradients come from the
C++ autograd of those ops), with torch's defaults, keyword arguments, checks and messages."""
import math
import numbers
import warnings

import numpy as np

from .. import _C
from ..autograd.grad_mode import no_grad

Tensor = _C.Tensor
linear = _C.linear
sigmoid = _C.sigmoid
tanh = _C.tanh
_where = _C.where

# --------------------------------------------------------------------------- helpers

_TORCH_SCALAR_NAMES = {"float32": "Float", "float64": "Double", "int64": "Long", "bool": "Bool"}
_TORCH_TENSOR_NAMES = {"float32": "FloatTensor", "float64": "DoubleTensor", "int64": "LongTensor",
                       "bool": "BoolTensor"}
_FLT_MAX = {"float32": "3.40282e+38", "float64": "1.79769e+308"}


def _scalar_name(dtype):
    return _TORCH_SCALAR_NAMES.get(dtype.name, dtype.name)


def _legacy_reduction(size_average, reduce, reduction):
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    ret = ("mean" if size_average else "sum") if reduce else "none"
    warnings.warn(f"size_average and reduce args will be deprecated, please use reduction='{ret}' instead.",
                  stacklevel=3)
    return ret


def _get_reduction(reduction):
    """torch's _Reduction.get_enum check: the reduction string, or ValueError."""
    if reduction == "elementwise_mean":
        warnings.warn("reduction='elementwise_mean' is deprecated. Please use reduction='mean' instead.",
                      stacklevel=3)
        return "mean"
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return reduction


def _is_tensor_like(x):
    """A Tensor, or an object standing for one (Note [torch function]: vmap's batched values)."""
    return isinstance(x, Tensor) or hasattr(type(x), "__torch_function__")


def _check_tensor(x, name, fn, pos=None):
    if not _is_tensor_like(x):
        where = f" (position {pos})" if pos is not None else ""
        raise TypeError(f"{fn}(): argument '{name}'{where} must be Tensor, not {type(x).__name__}")


def _check_tensors(fn, **named):
    for i, (name, x) in enumerate(named.items()):
        if not _is_tensor_like(x):
            raise TypeError(f"{fn}(): argument '{name}' (position {i + 1}) must be Tensor, not {type(x).__name__}")


def _float_only(input, kernel, name="input"):
    """torch's kernels are only instantiated for floating types: NotImplementedError otherwise."""
    _check_tensor(input, name, kernel.split("_cpu")[0], 1)
    if not input.is_floating_point():
        raise NotImplementedError(f'"{kernel}" not implemented for \'{_scalar_name(input.dtype)}\'')


def _implicit_dim(ndim):
    return 0 if ndim in (0, 1, 3) else 1


def _get_softmax_dim(name, ndim, stacklevel):
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. "
                  "Change the call to include dim=X as an argument.", stacklevel=stacklevel)
    return _implicit_dim(ndim)


def _wrap_dim(dim, ndim):
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})")
    return dim % n


def _broadcast_shapes(*shapes):
    """torch.broadcast_shapes with torch's error message."""
    ndim = max(len(s) for s in shapes)
    out = [1] * ndim
    for s in shapes:
        s = (1,) * (ndim - len(s)) + tuple(s)
        for i, d in enumerate(s):
            if d == 1:
                continue
            if out[i] != 1 and out[i] != d:
                raise RuntimeError(f"The size of tensor a ({out[i]}) must match the size of tensor b ({d}) "
                                   f"at non-singleton dimension {i}")
            out[i] = d
    return tuple(out)


def _broadcast_tensors(*ts):
    shape = _broadcast_shapes(*(tuple(t.shape) for t in ts))
    return [t if tuple(t.shape) == shape else t.expand(*shape) for t in ts]


def _warn_size_mismatch(input, target, stacklevel=3):
    if tuple(target.shape) != tuple(input.shape):
        warnings.warn(f"Using a target size ({target.shape}) that is different to the input size ({input.shape}). "
                      "This will likely lead to incorrect results due to broadcasting. "
                      "Please ensure they have the same size.", stacklevel=stacklevel)


def _reduce(loss, reduction):
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"{reduction} is not a valid value for reduction")


def _inplace(input, fn):
    """torch's `inplace=True`: the result is written into `input`, which is returned. The value is
    computed out of place (on a clone when autograd records, so the graph never saves the tensor
    being overwritten) and copied in; autograd then sees input's new history."""
    if _C.is_grad_enabled() and input.requires_grad:
        if input.is_leaf:
            raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation.")
        out = fn(input.clone())
    else:
        out = fn(input)
    return input.copy_(out)


# log1p / expm1 / xlogy: the core's ops where the build has them, else composites (accurate to
# rounding for tiny arguments, unlike log(1 + x) / exp(x) - 1, and with the right gradients).
_core_log1p = getattr(_C, "log1p", None)
_core_expm1 = getattr(_C, "expm1", None)
_core_xlogy = getattr(_C, "xlogy", None)


def _log1p(x):
    """log(1 + x) for x >= 0 (composite: log(u) corrected by the rounding error of u = 1 + x)."""
    if _core_log1p is not None:
        return _core_log1p(x)
    u = 1 + x
    return u.log() + _where(u < math.inf, (x - (u - 1)) / u, 0.0)


def _expm1(x):
    """exp(x) - 1 for x <= 0 (composite: u - 1 corrected by the rounding error of u = exp(x))."""
    if _core_expm1 is not None:
        return _core_expm1(x)
    x = x.clamp(min=-60.0)  # exp underflows below this; expm1 is -1 to every digit
    u = x.exp()
    return (u - 1) + u * (x - u.log())


def _xlogy_self(t):
    """xlogy(t, t): t * log(t), 0 where t == 0."""
    if _core_xlogy is not None:
        return _core_xlogy(t, t)
    nz = t != 0
    return _where(nz, t * _where(nz, t, 1.0).log(), 0.0)


def _softplus0(z):
    """log(1 + exp(z)) without overflow: max(z, 0) + log1p(exp(-|z|)); gradient sigmoid(z),
    1/2 at z == 0."""
    pos = z > 0
    return _where(pos, z, 0.0) + _log1p(_where(pos, -z, z).exp())


def _vector_norm(x, p=2.0, dim=None, keepdim=False):
    """linalg.vector_norm over dim (None: all), with a zero gradient (torch's) at a zero vector."""
    if not x.is_floating_point():
        raise RuntimeError(f"linalg.vector_norm: Expected a floating point or complex tensor as input. "
                           f"Got {_scalar_name(x.dtype)}")
    if isinstance(dim, int):
        dim = (dim,)
    if dim is not None:
        dim = tuple(sorted({_wrap_dim(d, x.dim()) for d in dim}))
    p = float(p)
    if p == math.inf or p == -math.inf:
        a = x.abs()
        if dim is None:
            a = a.reshape(-1)
            dim = (0,)
            if keepdim:
                raise NotImplementedError("vector_norm(p=inf, dim=None, keepdim=True)")
        for d in reversed(dim):
            a = (a.max(d, True) if p > 0 else a.min(d, True)).values
        if not keepdim:
            for d in reversed(dim):
                a = a.squeeze(d)
        return a
    if p == 0:
        return (x != 0).to(x.dtype).sum(dim, keepdim) if dim is not None else (x != 0).to(x.dtype).sum()
    if p == 1:
        a = x.abs()
        return a.sum(dim, keepdim) if dim is not None else a.sum()
    s = (x * x) if p == 2 else x.abs() ** p
    s = s.sum(dim, keepdim) if dim is not None else s.sum()
    zero = s == 0  # (nan and inf propagate)
    safe = _where(zero, 1.0, s)
    root = safe.sqrt() if p == 2 else safe ** (1.0 / p)
    return _where(zero, 0.0, root)


# --------------------------------------------------------------------------- activations

def relu(input, inplace=False):
    if inplace:
        return relu_(input)
    return _C.relu(input)


def relu_(input):
    return _inplace(input, _C.relu)


def threshold(input, threshold, value, inplace=False):
    _check_tensor(input, "input", "threshold", 1)
    if not input.is_floating_point():
        value = int(value)

    def f(x):
        return _where(x <= threshold, value, x)
    return _inplace(input, f) if inplace else f(input)


def threshold_(input, threshold, value):
    return globals()["threshold"](input, threshold, value, inplace=True)


def _hardtanh(x, min_val, max_val):
    if not x.is_floating_point():  # (torch keeps an integer input's dtype: the bounds are cast to it)
        return x.clamp(int(min_val), int(max_val))
    # torch's gradient is 1 strictly inside (min_val, max_val), 0 at the bounds
    return _where(x <= min_val, min_val, _where(x >= max_val, max_val, x))


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    if min_val > max_val:
        raise ValueError("min_val cannot be greater than max_val")
    _check_tensor(input, "input", "hardtanh", 1)
    if inplace:
        return _inplace(input, lambda x: _hardtanh(x, min_val, max_val))
    return _hardtanh(input, min_val, max_val)


def hardtanh_(input, min_val=-1.0, max_val=1.0):
    return hardtanh(input, min_val, max_val, inplace=True)


def relu6(input, inplace=False):
    return hardtanh(input, 0.0, 6.0, inplace)


def _elu(x, alpha, scale, input_scale):
    neg = _expm1(_where(x > 0, 0.0, x) * input_scale) * (alpha * scale)
    return _where(x > 0, x * scale if scale != 1 else x, neg)


def elu(input, alpha=1.0, inplace=False):
    _float_only(input, "elu_cpu")
    if inplace:
        return _inplace(input, lambda x: _elu(x, alpha, 1.0, 1.0))
    return _elu(input, alpha, 1.0, 1.0)


def elu_(input, alpha=1.0):
    return elu(input, alpha, inplace=True)


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def selu(input, inplace=False):
    _float_only(input, "elu_cpu")
    if inplace:
        return _inplace(input, lambda x: _elu(x, _SELU_ALPHA, _SELU_SCALE, 1.0))
    return _elu(input, _SELU_ALPHA, _SELU_SCALE, 1.0)


def selu_(input):
    return selu(input, inplace=True)


def celu(input, alpha=1.0, inplace=False):
    if alpha == 0:
        raise RuntimeError("ZeroDivisionError: alpha cannot be 0 for CELU")
    _float_only(input, "elu_cpu")
    if inplace:
        return _inplace(input, lambda x: _elu(x, alpha, 1.0, 1.0 / alpha))
    return _elu(input, alpha, 1.0, 1.0 / alpha)


def celu_(input, alpha=1.0):
    return celu(input, alpha, inplace=True)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    _float_only(input, "leaky_relu_cpu")

    def f(x):
        return _where(x > 0, x, x * negative_slope)
    return _inplace(input, f) if inplace else f(input)


def leaky_relu_(input, negative_slope=0.01):
    return leaky_relu(input, negative_slope, inplace=True)


def prelu(input, weight):
    _check_tensor(input, "input", "prelu", 1)
    _check_tensor(weight, "weight", "prelu", 2)
    _float_only(input, "prelu_cpu")
    if weight.dim() > 1:
        raise RuntimeError(f"prelu: Expected `weight` to be a scalar or 1D tensor, but got: ndim = {weight.dim()}")
    channels = input.shape[1] if input.dim() >= 2 else 1
    n = weight.numel()
    if n != 1 and n != channels:
        raise RuntimeError(f"Mismatch of parameter numbers and input channel size. Found parameter numbers = {n} "
                           f"and channel size = {channels}.")
    if n == 1:
        w = weight.reshape(())
    else:
        w = weight.reshape(*([channels] + [1] * (input.dim() - 2)))
    return _where(input > 0, input, w * input)


def rrelu(input, lower=1.0 / 8, upper=1.0 / 3, training=False, inplace=False):
    if lower > upper:
        raise RuntimeError("Lower bound should be less than or equal to the upper bound")
    _float_only(input, "rrelu_with_noise_out_cpu" if training else "leaky_relu_cpu")
    if not training:
        return leaky_relu(input, (lower + upper) / 2, inplace)

    def f(x):
        noise = _C._rand(list(x.shape), x.dtype) * (upper - lower) + lower
        return _where(x > 0, x, x * noise)
    return _inplace(input, f) if inplace else f(input)


def rrelu_(input, lower=1.0 / 8, upper=1.0 / 3, training=False):
    return rrelu(input, lower, upper, training, inplace=True)


def gelu(input, approximate="none"):
    _float_only(input, "GeluKernelImpl")
    if approximate not in ("none", "tanh"):
        raise ValueError(f"approximate argument must be either none or tanh, got {approximate!r}")
    return _C._gelu(input, approximate == "tanh")


def logsigmoid(input):
    _float_only(input, "log_sigmoid_cpu")
    return -_softplus0(-input)


def softplus(input, beta=1.0, threshold=20.0):
    _float_only(input, "softplus_cpu")
    z = input * beta if beta != 1 else input
    soft = _softplus0(z)
    if beta != 1:
        soft = soft / beta
    return _where(z > threshold, input, soft)


def silu(input, inplace=False):
    _float_only(input, "silu_cpu")

    def f(x):
        return x * _C.sigmoid(x)
    return _inplace(input, f) if inplace else f(input)


def mish(input, inplace=False):
    _float_only(input, "mish_cpu")

    def f(x):
        return x * _C.tanh(_softplus0(x))
    return _inplace(input, f) if inplace else f(input)


_ONE_SIXTH_F32 = float(np.float32(1.0) / np.float32(6.0))


def hardsigmoid(input, inplace=False):
    _float_only(input, "hardsigmoid_cpu")

    def f(x):
        # torch's backward multiplies by the float32 constant 1/6 (also for float64): same here
        xd = x.detach()
        mid = (xd + 3) / 6 + (x - xd) * _ONE_SIXTH_F32
        return _where(x <= -3, 0.0, _where(x >= 3, 1.0, mid))
    return _inplace(input, f) if inplace else f(input)


def hardswish(input, inplace=False):
    _float_only(input, "hardswish_cpu")

    def f(x):
        # torch's gradient: 0 for x <= -3, x / 3 + 1/2 for -3 < x < 3, 1 from 3 on
        return _where(x <= -3, x * 0.0, _where(x >= 3, x, x * (x + 3) / 6))  # (x * 0: -0.0, and nan at -inf)
    return _inplace(input, f) if inplace else f(input)


def softsign(input):
    return input / (input.abs() + 1)


def tanhshrink(input):
    return input - input.tanh()


def softshrink(input, lambd=0.5):
    _float_only(input, "softshrink_check")
    if lambd < 0:
        raise RuntimeError(f"lambda must be in range [0, {_FLT_MAX.get(input.dtype.name, 'inf')}] for input dtype "
                           f"{_scalar_name(input.dtype)}, but found {lambd:g}")
    return _where(input > lambd, input - lambd, _where(input < -lambd, input + lambd, input * 0.0))


def hardshrink(input, lambd=0.5):
    _float_only(input, "hardshrink_cpu")
    return _where(input >= -lambd, _where(input <= lambd, 0.0, input), input)


def glu(input, dim=-1):
    _check_tensor(input, "input", "glu", 1)
    if input.dim() == 0:
        raise RuntimeError("glu does not support scalars because halving size must be even")
    d = _wrap_dim(dim, input.dim())
    if input.shape[d] % 2:
        raise RuntimeError(f"Halving dimension must be even, but dimension {d} is size {input.shape[d]}")
    _float_only(input, "glu_cpu")
    a, b = input.chunk(2, d)
    return a * _C.sigmoid(b)


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    if dim is None:
        dim = _get_softmax_dim("softmax", input.dim(), _stacklevel)
    return _C.softmax(input if dtype is None else input.to(dtype), dim)


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    if dim is None:
        dim = _get_softmax_dim("log_softmax", input.dim(), _stacklevel)
    return _C.log_softmax(input if dtype is None else input.to(dtype), dim)


def softmin(input, dim=None, _stacklevel=3, dtype=None):
    if dim is None:
        dim = _get_softmax_dim("softmin", input.dim(), _stacklevel)
    if dtype is not None:
        input = input.to(dtype)
    return _C.softmax(-input, dim)


def gumbel_softmax(logits, tau=1, hard=False, eps=1e-10, dim=-1):
    if eps != 1e-10:
        warnings.warn("`eps` parameter is deprecated and has no effect.", stacklevel=2)
    if not logits.is_floating_point():
        raise RuntimeError("Exponential distribution is a continuous probability distribution. dtype must be a "
                           f"floating point but you specified {_scalar_name(logits.dtype)}")
    # Exp(1) samples as -log(1 - U), drawn in float64 so that an exact zero is (practically) impossible
    with no_grad():
        u = _C._rand(list(logits.shape), _C.dtype.float64)
        e = (-(1 - u).log()).clamp(min=1e-300)
        gumbels = (-e.log()).to(logits.dtype)
    y_soft = _C.softmax((logits + gumbels) / tau, dim)
    if not hard:
        return y_soft
    index = y_soft.argmax(dim, True)
    y_hard = _C.scatter_add(_C._zeros(list(logits.shape), logits.dtype), dim, index,
                            _C._ones(list(index.shape), logits.dtype))
    return y_hard - y_soft.detach() + y_soft


# --------------------------------------------------------------------------- distances, normalisation

def normalize(input, p=2.0, dim=1, eps=1e-12, out=None):
    denom = _vector_norm(input, p, dim, True).clamp(min=eps)
    res = input / denom
    if out is not None:
        with no_grad():
            out.copy_(res)
        return out
    return res


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    _check_tensor(x1, "x1", "cosine_similarity", 1)
    _check_tensor(x2, "x2", "cosine_similarity", 2)
    if not (x1.is_floating_point() or x2.is_floating_point()):
        raise RuntimeError(f"expected common dtype to be floating point, yet common dtype is "
                           f"{_scalar_name(x1.dtype)}")
    if not x1.is_floating_point():
        x1 = x1.to(x2.dtype)
    if not x2.is_floating_point():
        x2 = x2.to(x1.dtype)
    x1, x2 = _broadcast_tensors(x1, x2)
    dim = _wrap_dim(dim, x1.dim())

    def clamped_norm(x):
        # torch clamps the norm in place under no_grad: the value is max(norm, eps), the gradient
        # that of the norm itself
        n = _vector_norm(x, 2, dim, True)
        nd = n.detach()
        return n + (nd.clamp(min=eps) - nd)
    return ((x1 / clamped_norm(x1)) * (x2 / clamped_norm(x2))).sum(dim)


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    _check_tensor(x1, "x1", "pairwise_distance", 1)
    _check_tensor(x2, "x2", "pairwise_distance", 2)
    output_dim = max(x1.dim(), x2.dim())
    diff = x1 - x2 + eps
    if output_dim == 0:
        return _vector_norm(diff, p, None, False)
    return _vector_norm(diff, p, output_dim - 1, keepdim)


def bilinear(input1, input2, weight, bias=None):
    if input1.dim() != input2.dim():
        raise RuntimeError(f"bilinear(): input dimensions do not match: got {input1.dim()} and {input2.dim()}")
    for i in range(input1.dim() - 1):
        if input1.shape[i] != input2.shape[i]:
            raise RuntimeError(f"bilinear(): input batch dimensions do not match at dim {i}: got {input1.shape[i]} "
                               f"and {input2.shape[i]}")
    if input1.shape[-1] != weight.shape[1]:
        raise RuntimeError(f"bilinear(): input1 size does not match weight size: got {input1.shape[-1]} "
                           f"but expected {weight.shape[1]}")
    if input2.shape[-1] != weight.shape[2]:
        raise RuntimeError(f"bilinear(): input2 size does not match weight size: got {input2.shape[-1]} "
                           f"but expected {weight.shape[2]}")
    if bias is not None and bias.shape[0] != weight.shape[0]:
        raise RuntimeError(f"bilinear(): bias size does not match weight size: got {bias.shape[0]} "
                           f"but expected {weight.shape[0]}")
    o, i, j = weight.shape
    lead = tuple(input1.shape[:-1])
    x1 = input1.reshape(-1, i)
    x2 = input2.reshape(-1, j)
    t = x1.matmul(weight.permute(1, 0, 2).reshape(i, o * j)).reshape(-1, o, j)
    y = (t * x2.unsqueeze(1)).sum(2)
    if bias is not None:
        y = y + bias
    return y.reshape(*lead, o)


# --------------------------------------------------------------------------- padding

_PAD_MODES = ("constant", "reflect", "replicate", "circular")


def _constant_pad(input, pad, value):
    out = input
    ndim = input.dim()
    for k in range(len(pad) // 2):
        d = ndim - 1 - k
        lo, hi = pad[2 * k], pad[2 * k + 1]
        n = out.shape[d]
        if n + lo + hi < 0:
            raise RuntimeError("narrow(): length must be non-negative.")
        if lo < 0 or hi < 0:
            start = max(-lo, 0)
            out = out.narrow(d, start, n - start - max(-hi, 0))
        parts = []
        if lo > 0:
            shape = list(out.shape)
            shape[d] = lo
            parts.append(_C._full(shape, value, out.dtype))
        parts.append(out)
        if hi > 0:
            shape = list(out.shape)
            shape[d] = hi
            parts.append(_C._full(shape, value, out.dtype))
        if len(parts) > 1:
            out = _C.cat(parts, d)
    return out


def _pad_index(n, lo, hi, mode):
    j = np.arange(-lo, n + hi)
    if mode == "reflect":
        j = np.abs(j)
        j = np.where(j >= n, 2 * (n - 1) - j, j)
    elif mode == "replicate":
        j = np.clip(j, 0, n - 1)
    else:
        j = np.mod(j, n)
    return j.astype(np.int64)


def pad(input, pad, mode="constant", value=None):
    if mode not in _PAD_MODES:
        raise NotImplementedError(f"Unrecognised padding mode {mode}")
    _check_tensor(input, "input", "pad", 1)
    pad = [int(p) for p in pad]
    ndim = input.dim()
    if len(pad) % 2:
        raise RuntimeError("Padding length must be divisible by 2")
    if len(pad) > 2 * ndim:
        raise RuntimeError(f"Padding length should be less than or equal to two times the input dimension but got "
                           f"padding length {len(pad)} and input of dimension {ndim}")
    if mode == "constant":
        return _constant_pad(input, pad, 0.0 if value is None else value)
    if value is not None and value != 0:
        raise RuntimeError(f'Padding mode "{mode}" doesn\'t take in value argument')
    k = len(pad) // 2
    if not (k in (1, 2, 3) and ndim in (k + 1, k + 2)):
        raise NotImplementedError(
            f"Padding size {len(pad)} is not supported for {ndim}D input tensor.\n"
            "Supported combinations for non-constant padding:\n"
            "  - 2D or 3D input: padding size = 2 (pads last dimension)\n"
            "  - 3D or 4D input: padding size = 4 (pads last 2 dimensions)\n"
            "  - 4D or 5D input: padding size = 6 (pads last 3 dimensions)")
    shape = list(input.shape)
    for i in range(k):
        d = ndim - 1 - i
        lo, hi, n = pad[2 * i], pad[2 * i + 1], shape[d]
        if mode == "reflect":
            if not (lo < n and hi < n):
                raise RuntimeError(f"Argument #{4 + 2 * i}: Padding size should be less than the corresponding input "
                                   f"dimension, but got: padding ({lo}, {hi}) at dimension {d} of input {shape}")
        elif mode == "replicate":
            if any(s == 0 for s in shape[ndim - k:]):
                raise RuntimeError(f"Expected {k + 1}D or {k + 2}D (batch mode) tensor with possibly 0 batch size and "
                                   f"other non-zero dimensions for input, but got: {shape}")
        else:
            if lo > n or hi > n:
                raise RuntimeError("Padding value causes wrapping around more than once.")
        if n + lo + hi <= 0:
            if mode == "circular":
                raise RuntimeError("Negative padding value is resulting in an empty dimension.")
            raise RuntimeError(f"input (size {n} at dimension {d}) is too small. Calculated output size: {n + lo + hi}")
    out = input
    for i in range(k):
        d = ndim - 1 - i
        lo, hi, n = pad[2 * i], pad[2 * i + 1], shape[d]
        if lo == 0 and hi == 0:
            continue
        if mode == "circular" and (lo < 0 or hi < 0):
            # torch crops first, then wraps around the cropped content
            start = max(-lo, 0)
            n = n - start - max(-hi, 0)
            out = out.narrow(d, start, n)
            lo, hi = max(lo, 0), max(hi, 0)
            if lo == 0 and hi == 0:
                continue
        idx = _C._from_numpy_copy(_pad_index(n, lo, hi, mode), None)
        out = _C.index_select(out, d, idx)
    return out


# --------------------------------------------------------------------------- sparse / dropout

def one_hot(tensor, num_classes=-1):
    return _C.one_hot(tensor, num_classes)


def _embedding_renorm_(weight, input, max_norm, norm_type):
    with no_grad():
        idx = np.unique(input.detach().numpy().reshape(-1))
        if idx.size == 0:
            return
        uidx = _C._from_numpy_copy(idx.astype(np.int64), None)
        rows = _C.index_select(weight, 0, uidx)
        norms = _vector_norm(rows, norm_type, 1, True)
        scale = _where(norms > max_norm, max_norm / (norms + 1e-7), 1.0)
        weight.copy_(_C.index_add(weight, 0, uidx, rows * (scale - 1)))


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,
              sparse=False):
    _check_tensor(input, "indices", "embedding", 2)
    _check_tensor(weight, "weight", "embedding", 1)
    if padding_idx is not None:
        if padding_idx > 0:
            if padding_idx >= weight.shape[0]:
                raise AssertionError("Padding_idx must be within num_embeddings")
        elif padding_idx < 0:
            if padding_idx < -weight.shape[0]:
                raise AssertionError("Padding_idx must be within num_embeddings")
            padding_idx = weight.shape[0] + padding_idx
    if input.dtype != _C.dtype.int64:
        raise RuntimeError("Expected tensor for argument #1 'indices' to have one of the following scalar types: "
                           f"Long, Int; but got {str(input.dtype).rsplit('.', 1)[0]}."
                           f"{_TORCH_TENSOR_NAMES.get(input.dtype.name, input.dtype.name)} "
                           "instead (while checking arguments for embedding)")
    if max_norm is not None:
        _embedding_renorm_(weight, input, max_norm, norm_type)
    flat = input.reshape(-1)
    out = _C.index_select(weight, 0, flat)
    if padding_idx is not None and _C.is_grad_enabled() and weight.requires_grad:
        # the padding row's entries take no gradient (their value is still the row's)
        out = _where((flat == padding_idx).unsqueeze(1), out.detach(), out)
    if scale_grad_by_freq and _C.is_grad_enabled() and weight.requires_grad:
        ids = flat.numpy()
        counts = np.bincount(ids, minlength=weight.shape[0]) if ids.size else np.zeros(0)
        scale = _C._from_numpy_copy((1.0 / counts[ids]).reshape(-1, 1), weight.dtype)
        od = out.detach()
        out = od + (out - od) * scale  # same values; the gradient of each row divided by its count
    return out.reshape(*input.shape, weight.shape[1])


def _check_p(p):
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def _keep_mask(shape, p, dtype):
    return (_C._rand(list(shape), dtype) >= p).to(dtype)


def _scaled_mask(shape, p, dtype):
    """(rand(shape) >= p).to(dtype) * (1 / (1 - p)): for float32/float64 in one pass (_C._dropout_mask,
    the same draws and values)."""
    if dtype in (_C.dtype.float32, _C.dtype.float64):
        return _C._dropout_mask(list(shape), p, 1.0 / (1.0 - p), dtype)
    return _keep_mask(shape, p, dtype) * (1.0 / (1.0 - p))


def _mask_of(input, shape, draw):
    """draw(shape) for `input`: under a batched vmap with randomness='same'/'different', a mask per
    slice or a shared one (Note [Batched randomness])."""
    if type(input) is not _C.Tensor:
        from ..func import _batched
        if isinstance(input, _batched.BatchedTensor) and _batched.randomness() is not None:
            return _batched.dropout_mask(input, shape, draw)
    return draw(shape)


def _dropout_impl(input, p, training, inplace, feature, alpha):
    _check_tensor(input, "input", "dropout", 1)
    if not training or p == 0.0 or input.numel() == 0:
        return input
    if p == 1.0:
        return _inplace(input, lambda x: x * 0.0) if inplace else input * 0.0
    dtype = input.dtype if input.is_floating_point() else _C.dtype.float32
    if feature:
        if input.dim() < 2:
            raise RuntimeError("Feature dropout requires at least 2 dimensions in the input")
        shape = list(input.shape[:2]) + [1] * (input.dim() - 2)
    else:
        shape = list(input.shape)

    def f(x):
        if not alpha:
            return x * _mask_of(x, shape, lambda s: _scaled_mask(s, p, dtype))
        keep = _mask_of(x, shape, lambda s: _keep_mask(s, p, dtype))
        a_ = 1.7580993408473766
        a = 1.0 / math.sqrt((a_ * a_ * p + 1) * (1 - p))
        b = (keep - 1) * (a_ * a) + a_ * a * p
        return x * (keep * a) + b
    return _inplace(input, f) if inplace else f(input)


def dropout(input, p=0.5, training=True, inplace=False):
    _check_p(p)
    return _dropout_impl(input, p, training, inplace, False, False)


def alpha_dropout(input, p=0.5, training=False, inplace=False):
    _check_p(p)
    return _dropout_impl(input, p, training, inplace, False, True)


def feature_alpha_dropout(input, p=0.5, training=False, inplace=False):
    _check_p(p)
    return _dropout_impl(input, p, training, inplace, True, True)


def _unbatched_feature_dropout(input, p, training, inplace):
    """Channel-wise dropout of an input without its batch dimension: as a batch of one."""
    if inplace:
        return _inplace(input, lambda x: _dropout_impl(x.unsqueeze(0), p, training, False, True, False).squeeze(0))
    return _dropout_impl(input.unsqueeze(0), p, training, False, True, False).squeeze(0)


def _warn_feature_dropout_dim(n, d):
    """torch's deprecation warning of dropout{n}d for a {d}-D input (reported at dropout{n}d's caller)."""
    warnings.warn(f"dropout{n}d: Received a {d}-D input to dropout{n}d, which is deprecated and will result in an "
                  "error in a future release. To retain the behavior and silence this warning, please use "
                  f"dropout instead. Note that dropout{n}d exists to provide channel-wise dropout on inputs with {n} "
                  f"spatial dimensions, a channel dimension, and an optional batch dimension (i.e. {n + 1}D or "
                  f"{n + 2}D inputs).", stacklevel=3)


def dropout1d(input, p=0.5, training=True, inplace=False):
    _check_p(p)
    d = input.dim()
    if d not in (2, 3):
        raise RuntimeError(f"dropout1d: Expected 2D or 3D input, but received a {d}D input. Note that dropout1d "
                           "exists to provide channel-wise dropout on inputs with 1 spatial dimension, a channel "
                           "dimension, and an optional batch dimension (i.e. 2D or 3D inputs).")
    if d == 2:
        return _unbatched_feature_dropout(input, p, training, inplace)
    return _dropout_impl(input, p, training, inplace, True, False)


def dropout2d(input, p=0.5, training=True, inplace=False):
    _check_p(p)
    d = input.dim()
    if d not in (3, 4):
        _warn_feature_dropout_dim(2, d)
    if d == 3:
        warnings.warn("dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D dropout behavior "
                      "is desired - input is interpreted as shape (N, C, L), where C is the channel dim. This behavior "
                      "will change in a future release to interpret the input as one without a batch dimension, i.e. "
                      "shape (C, H, W). To maintain the 1D channel-wise dropout behavior, please switch to using "
                      "dropout1d instead.", stacklevel=2)
    return _dropout_impl(input, p, training, inplace, True, False)


def dropout3d(input, p=0.5, training=True, inplace=False):
    _check_p(p)
    d = input.dim()
    if d not in (4, 5):
        _warn_feature_dropout_dim(3, d)
    if d == 4:
        return _unbatched_feature_dropout(input, p, training, inplace)
    return _dropout_impl(input, p, training, inplace, True, False)


# --------------------------------------------------------------------------- regression losses

def _weighted_mean_loss(loss, weight, input, reduction, mean_by_weight):
    if tuple(weight.shape) != tuple(input.shape):
        raise ValueError("Weights and input must have the same size.")
    loss = loss * weight
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    if reduction == "mean":
        return loss.sum() / weight.sum() if mean_by_weight else loss.mean()
    raise ValueError(f"Invalid reduction mode: {reduction}. Expected one of 'none', 'mean', 'sum'.")


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    _check_tensor(input, "input", "mse_loss")
    _check_tensor(target, "target", "mse_loss")
    _warn_size_mismatch(input, target)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if weight is not None:
        d = input - target
        return _weighted_mean_loss(d * d, weight, input, reduction, True)
    return _C._mse_loss(input, target, _get_reduction(reduction))


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    _check_tensor(input, "input", "l1_loss")
    _check_tensor(target, "target", "l1_loss")
    _warn_size_mismatch(input, target)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if weight is not None:
        return _weighted_mean_loss((input - target).abs(), weight, input, reduction, True)
    return _reduce((input - target).abs(), _get_reduction(reduction))


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    _check_tensors("smooth_l1_loss", input=input, target=target)
    _warn_size_mismatch(input, target)
    reduction = _get_reduction(_legacy_reduction(size_average, reduce, reduction))
    if beta < 0:
        raise RuntimeError("smooth_l1_loss does not support negative values for beta.")
    d = (input - target).abs()
    if beta == 0:
        loss = d
    else:
        loss = _where(d < beta, 0.5 * d * d / beta, d - 0.5 * beta)
    return _reduce(loss, reduction)


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    _check_tensors("huber_loss", input=input, target=target)
    _warn_size_mismatch(input, target)
    if weight is None:
        reduction = _get_reduction(reduction)
    if delta <= 0:
        raise RuntimeError("huber_loss does not support non-positive values for delta.")
    d = (input - target).abs()
    loss = _where(d < delta, 0.5 * d * d, delta * (d - 0.5 * delta))
    if weight is not None:
        return _weighted_mean_loss(loss, weight, input, reduction, False)
    return _reduce(loss, reduction)


def soft_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    _check_tensors("soft_margin_loss", input=input, target=target)
    reduction = _get_reduction(_legacy_reduction(size_average, reduce, reduction))
    # torch's formula as it is (log1p(exp(.)): inf once exp overflows, as torch prints)
    return _reduce(_log1p((-input * target).exp()), reduction)


def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    _check_tensors("kl_div", input=input, target=target)
    if size_average is not None or reduce is not None:
        red = _legacy_reduction(size_average, reduce, reduction)
    else:
        if reduction == "mean":
            warnings.warn("reduction: 'mean' divides the total loss by both the batch size and the support size."
                          "'batchmean' divides only by the batch size, and aligns with the KL div math definition."
                          "'mean' will be changed to behave the same as 'batchmean' in the next major release.",
                          stacklevel=2)
        red = "sum" if reduction == "batchmean" else _get_reduction(reduction)
    if not input.is_floating_point() or not target.is_floating_point():
        raise RuntimeError("kl_div: Integral inputs not supported.")
    if log_target:
        out = target.exp() * (target - input)
    else:
        out = _xlogy_self(target) - target * input
    reduced = _reduce(out, red)
    if reduction == "batchmean" and input.dim() != 0:
        reduced = reduced / input.shape[0]
    return reduced


def poisson_nll_loss(input, target, log_input=True, full=False, size_average=None, eps=1e-8, reduce=None,
                     reduction="mean"):
    _check_tensors("poisson_nll_loss", input=input, target=target)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(reduction + " is not a valid value for reduction")
    if log_input:
        loss = input.exp() - target * input
    else:
        loss = input - target * (input + eps).log()
    if full:
        stirling = target * target.log() - target + 0.5 * (2 * math.pi * target).log()
        loss = loss + stirling.masked_fill(target <= 1, 0)
    return _reduce(loss, reduction)


def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction="mean"):
    _check_tensors("gaussian_nll_loss", input=input, target=target)
    if isinstance(var, numbers.Real) and not isinstance(var, Tensor):
        if var < 0:
            raise ValueError("var has negative entry/entries")
        var = _C._full(list(input.shape), float(var), input.dtype)
    elif bool((var < 0).sum().item()):
        raise ValueError("var has negative entry/entries")
    vs, ins = tuple(var.shape), tuple(input.shape)
    if vs != ins:
        if ins[:-1] == vs:
            var = var.unsqueeze(-1)
        elif len(ins) == len(vs) and sum(y for x, y in zip(ins, vs) if x != y) == 1:
            pass
        else:
            raise ValueError("var is of incorrect size")
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(reduction + " is not valid")
    vd = var.detach()
    var = var + (vd.clamp(min=eps) - vd)  # torch clamps a clone under no_grad: the gradient passes unclamped
    d = input - target
    loss = 0.5 * (var.log() + d * d / var)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction)


# --------------------------------------------------------------------------- margin / embedding losses

def margin_ranking_loss(input1, input2, target, margin=0, size_average=None, reduce=None, reduction="mean"):
    _check_tensors("margin_ranking_loss", input1=input1, input2=input2, target=target)
    reduction = _get_reduction(_legacy_reduction(size_average, reduce, reduction))
    if input1.dim() != input2.dim() or input1.dim() != target.dim():
        raise RuntimeError(f"margin_ranking_loss : All input tensors should have same dimension but got sizes: "
                           f"input1: {input1.shape}, input2: {input2.shape}, target: {target.shape} ")
    return _reduce((-target * (input1 - input2) + margin).clamp(min=0), reduction)


def hinge_embedding_loss(input, target, margin=1.0, size_average=None, reduce=None, reduction="mean"):
    _check_tensors("hinge_embedding_loss", input=input, target=target)
    reduction = _get_reduction(_legacy_reduction(size_average, reduce, reduction))
    margin_clamp = (margin - input).clamp(min=0)
    out = _where(target != 1, margin_clamp, 0.0) + _where(target != -1, input, 0.0)
    return _reduce(out, reduction)


def cosine_embedding_loss(input1, input2, target, margin=0, size_average=None, reduce=None, reduction="mean"):
    _check_tensors("cosine_embedding_loss", input1=input1, input2=input2, target=target)
    reduction = _get_reduction(_legacy_reduction(size_average, reduce, reduction))
    td = target.dim()
    if td not in (0, 1):
        raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
    if td == 1:
        if input1.dim() != 2 or input2.dim() != 2:
            raise RuntimeError(f"1D target tensor expects 2D input tensors, but found inputs with sizes "
                               f"{list(input1.shape)} and {list(input2.shape)}.")
    elif input1.dim() != 1 or input2.dim() != 1:
        raise RuntimeError(f"0D target tensor expects 1D input tensors, but found inputs with sizes "
                           f"{list(input1.shape)} and {list(input2.shape)}.")
    eps = 1e-12
    prod_sum = (input1 * input2).sum(td)
    mag1 = (input1 * input1).sum(td) + eps
    mag2 = (input2 * input2).sum(td) + eps
    cos = prod_sum / (mag1 * mag2).sqrt()
    out = _where(target == 1, 1 - cos, 0.0) + _where(target == -1, (cos - margin).clamp(min=0), 0.0)
    return _reduce(out, reduction)


def multi_margin_loss(input, target, p=1, margin=1.0, weight=None, size_average=None, reduce=None, reduction="mean"):
    _check_tensors("multi_margin_loss", input=input, target=target)
    reduction = _get_reduction(_legacy_reduction(size_average, reduce, reduction))
    if p != 1 and p != 2:
        raise ValueError("only p == 1 and p == 2 supported")
    if weight is not None and weight.dim() != 1:
        raise ValueError("weight must be one-dimensional")
    nd = input.dim()
    if not ((input.numel() > 0 and nd <= 1) or (nd == 2 and input.shape[1] > 0)):
        raise RuntimeError(f"Expected non-empty vector or matrix with optional 0-dim batch size, but got: "
                           f"{list(input.shape)}")
    nframe = 1 if nd <= 1 else input.shape[0]
    c = input.numel() if nd <= 1 else input.shape[1]
    if target.dim() > 1 or target.numel() != nframe:
        raise RuntimeError(f"multi_margin_loss: target tensor should be 1-D with size equal to the number of input "
                           f"samples (batch size). Expected target size [{nframe}], but got {list(target.shape)}. "
                           f"Input has shape {list(input.shape)}.")
    if weight is not None and weight.numel() != c:
        raise RuntimeError(f"inconsistent weight size, expected {c} but got {list(weight.shape)}")
    t = target.reshape(-1)
    if t.numel() and (t.min().item() < 0 or t.max().item() >= c):
        raise RuntimeError("target out of range")
    x = input.reshape(nframe, c)
    xy = x.gather(1, t.unsqueeze(1))
    z = margin - xy + x
    z = _where(z > 0, z, 0.0)  # torch's kernel takes z > 0 strictly (no gradient at z == 0)
    h = z if p == 1 else z * z
    h = h * (1 - _C.one_hot(t, c).to(x.dtype))
    if weight is not None:
        h = h * weight.index_select(0, t).unsqueeze(1)
    loss = h.sum(1) / c
    if reduction == "none" and nd <= 1:
        loss = loss.reshape(())
    return _reduce(loss, reduction)


def multilabel_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    _check_tensors("multilabel_margin_loss", input=input, target=target)
    reduction = _get_reduction(_legacy_reduction(size_average, reduce, reduction))
    nd = input.dim()
    if not ((input.numel() > 0 and nd <= 1) or (nd == 2 and input.shape[1] > 0)):
        raise RuntimeError(f"Expected non-empty vector or matrix with optional 0-dim batch size, but got: "
                           f"{list(input.shape)}")
    if tuple(target.shape) != tuple(input.shape):
        raise RuntimeError(f"inconsistent target size: {list(target.shape)} for input of size: {list(input.shape)}")
    nframe = 1 if nd <= 1 else input.shape[0]
    c = input.numel() if nd <= 1 else input.shape[1]
    tn = target.reshape(nframe, c).numpy()
    if ((tn < -1) | (tn >= c)).any():
        raise RuntimeError("multilabel_margin_loss: target out of range")
    valid = np.cumprod(tn != -1, axis=1).astype(bool)  # targets up to the first -1
    is_target = np.zeros((nframe, c), bool)
    rows = np.nonzero(valid)
    is_target[rows[0], tn[rows]] = True
    x = input.reshape(nframe, c)
    idx = _C._from_numpy_copy(np.where(valid, tn, 0).astype(np.int64), None)
    xy = x.gather(1, idx)  # (N, K): the score of each listed target
    z = 1 - xy.unsqueeze(2) + x.unsqueeze(1)  # (N, K, C)
    z = _where(z > 0, z, 0.0)
    w = valid[:, :, None] & ~is_target[:, None, :]
    loss = (z * _C._from_numpy_copy(w.astype(np.float64), x.dtype)).sum((1, 2)) / c
    if reduction == "none" and nd <= 1:
        loss = loss.reshape(())
    return _reduce(loss, reduction)


def multilabel_soft_margin_loss(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    _check_tensors("multilabel_soft_margin_loss", input=input, target=target)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    loss = -(target * logsigmoid(input) + (1 - target) * logsigmoid(-input))
    if weight is not None:
        loss = loss * weight
    class_dim = input.dim() - 1
    c = input.shape[class_dim]
    loss = loss.sum(class_dim) / c
    if reduction == "none":
        return loss
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    raise ValueError(reduction + " is not valid")


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2, eps=1e-6, swap=False, size_average=None,
                        reduce=None, reduction="mean"):
    _check_tensors("triplet_margin_loss", anchor=anchor, positive=positive, negative=negative)
    reduction = _get_reduction(_legacy_reduction(size_average, reduce, reduction))
    if margin <= 0:
        raise ValueError(f"margin must be greater than 0, got {margin}")
    a, pd, nd = anchor.dim(), positive.dim(), negative.dim()
    if not (a == pd and pd == nd):
        raise RuntimeError(f"The anchor, positive, and negative tensors are expected to have the same number of "
                           f"dimensions, but got: anchor {a}D, positive {pd}D, and negative {nd}D inputs")
    dist_pos = pairwise_distance(anchor, positive, p, eps)
    dist_neg = pairwise_distance(anchor, negative, p, eps)
    if swap:
        dist_neg = _C.minimum(dist_neg, pairwise_distance(positive, negative, p, eps))
    return _reduce((margin + dist_pos - dist_neg).clamp(min=0), reduction)


def triplet_margin_with_distance_loss(anchor, positive, negative, *, distance_function=None, margin=1.0, swap=False,
                                      reduction="mean"):
    _check_tensors("triplet_margin_with_distance_loss", anchor=anchor, positive=positive, negative=negative)
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    if margin <= 0:
        raise ValueError(f"margin must be greater than 0, got {margin}")
    a, pd, nd = anchor.dim(), positive.dim(), negative.dim()
    if not (a == pd and pd == nd):
        raise RuntimeError(f"The anchor, positive, and negative tensors are expected to have the same number of "
                           f"dimensions, but got: anchor {a}D, positive {pd}D, and negative {nd}D inputs")
    if distance_function is None:
        distance_function = pairwise_distance
    dist_pos = distance_function(anchor, positive)
    dist_neg = distance_function(anchor, negative)
    if swap:
        dist_neg = _C.minimum(dist_neg, distance_function(positive, negative))
    return _reduce((margin + dist_pos - dist_neg).clamp(min=0), reduction)


# --------------------------------------------------------------------------- classification losses

def _flatten_classes(input, target):
    """(N, C, d1, ...) -> (N*d1*..., C) and matching targets; returns the 'none' output shape."""
    if input.dim() == 1:
        return input.unsqueeze(0), target.reshape(1), ()
    if input.dim() == 2:
        return input, target, None
    n, c = input.shape[0], input.shape[1]
    perm = [0] + list(range(2, input.dim())) + [1]
    flat = input.permute(*perm).reshape(-1, c)
    return flat, target.reshape(-1), (n,) + tuple(input.shape[2:])


def _check_class_weight(input, weight):
    """nll_loss's check (and cross_entropy's with class indices): the weight has the input's dtype."""
    if weight is not None and weight.dtype != input.dtype:
        raise RuntimeError(f"expected scalar type {_scalar_name(input.dtype)} but found {_scalar_name(weight.dtype)}")


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean",
                  label_smoothing=0.0):
    _check_tensor(input, "input", "cross_entropy")
    _check_tensor(target, "target", "cross_entropy")
    reduction = _get_reduction(_legacy_reduction(size_average, reduce, reduction))
    if tuple(target.shape) == tuple(input.shape) and not target.is_floating_point():
        # torch reads a target of the input's shape as class probabilities
        raise RuntimeError("Expected floating point type for target with class probabilities, got "
                           f"{_scalar_name(target.dtype)}")
    if input.dim() == 0:
        _wrap_dim(1, 0)  # torch's class dim 1 of a 0-d input: IndexError
    if target.is_floating_point():
        return _cross_entropy_probs(input, target, weight, reduction, label_smoothing)
    _check_class_weight(input, weight)
    x, t, none_shape = _flatten_classes(input, target)
    loss = _C._cross_entropy(x, t, weight, int(ignore_index), float(label_smoothing), reduction)
    if reduction == "none" and none_shape is not None:
        loss = loss.reshape(*none_shape) if none_shape != () else loss.reshape(())
    return loss


def _cross_entropy_probs(input, target, weight, reduction, label_smoothing):
    if not 0.0 <= label_smoothing <= 1.0:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing:g}")
    if input.shape != target.shape:
        # torch reads a float target of another shape as class indices of the wrong dtype
        names = {"float32": "Float", "float64": "Double"}
        raise RuntimeError("expected target dtype to be Long or Byte, but got "
                           f"{names.get(str(target.dtype).split('.')[-1], str(target.dtype))} (cross_entropy: a "
                           f"class-probability target must have the input's shape: input {list(input.shape)}, "
                           f"target {list(target.shape)})")
    class_dim = 0 if input.dim() == 1 else 1
    c = input.shape[class_dim]
    if label_smoothing > 0:
        target = target * (1 - label_smoothing) + label_smoothing / c
    logp = _C.log_softmax(input, class_dim)
    prod = logp * target
    if weight is not None:
        shape = [1] * input.dim()
        shape[class_dim] = c
        prod = prod * weight.reshape(*shape)
    loss = -prod.sum(class_dim)
    if reduction == "mean":
        return loss.sum() / (input.numel() / c if input.dim() > 1 else 1)
    return _reduce(loss, reduction)


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
    _check_tensors("nll_loss", input=input, target=target)
    reduction = _get_reduction(_legacy_reduction(size_average, reduce, reduction))
    _check_class_weight(input, weight)
    x, t, none_shape = _flatten_classes(input, target)
    loss = _C._nll_loss(x, t, weight, int(ignore_index), reduction)
    if reduction == "none" and none_shape is not None:
        loss = loss.reshape(*none_shape) if none_shape != () else loss.reshape(())
    return loss


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    _check_tensors("binary_cross_entropy", input=input, target=target)
    reduction = _get_reduction(_legacy_reduction(size_average, reduce, reduction))
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"Using a target size ({target.shape}) that is different to the input size ({input.shape}) "
                         "is deprecated. Please ensure they have the same size.")
    if target.dtype != input.dtype:
        raise RuntimeError(f"Found dtype {_scalar_name(target.dtype)} but expected {_scalar_name(input.dtype)}")
    if weight is not None and tuple(weight.shape) != tuple(input.shape):
        weight = weight.expand(*_broadcast_shapes(tuple(weight.shape), tuple(input.shape)))
    return _C._bce(input, target, weight, reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None, reduction="mean",
                                     pos_weight=None):
    _check_tensors("binary_cross_entropy_with_logits", input=input, target=target)
    reduction = _get_reduction(_legacy_reduction(size_average, reduce, reduction))
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"Target size ({target.shape}) must be the same as input size ({input.shape})")
    if target.dtype == _C.dtype.bool:  # torch: 1 - target
        raise RuntimeError("Subtraction, the `-` operator, with two bool tensors is not supported. Use the `^` or "
                           "`logical_xor()` operator instead.")
    if not target.is_floating_point():  # a float mixed with another float is fine (torch promotes)
        raise RuntimeError(f"result type {_scalar_name(input.dtype)} can't be cast to the desired output type "
                           f"{_scalar_name(target.dtype)}")
    if weight is not None and weight.shape != input.shape:
        weight = weight.expand(*input.shape)
    if pos_weight is not None and pos_weight.shape != input.shape:
        pos_weight = pos_weight.expand(*input.shape)
    return _C._bce_with_logits(input, target, weight, pos_weight, reduction)


# --------------------------------------------------------------------------- normalisation

def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    _check_tensor(input, "input", "layer_norm", 1)
    if len(normalized_shape) == 0:
        raise RuntimeError("Expected normalized_shape to be at least 1-dimensional, i.e., containing at least one "
                           f"element, but got normalized_shape = {list(normalized_shape)}")
    if tuple(input.shape[input.dim() - len(normalized_shape):]) != tuple(normalized_shape):
        raise RuntimeError(f"Given normalized_shape={list(normalized_shape)}, expected input with shape "
                           f"[*, {', '.join(str(s) for s in normalized_shape)}], but got input of size "
                           f"{list(input.shape)}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != tuple(normalized_shape):
            raise RuntimeError(f"Expected {name} to be of same shape as normalized_shape, but got {name} of shape "
                               f"{list(t.shape)} and normalized_shape = {list(normalized_shape)}")
    _float_only(input, "LayerNormKernelImpl")
    return _C._layer_norm(input, math.prod(normalized_shape), weight, bias, float(eps))


def rms_norm(input, normalized_shape, weight=None, eps=None):
    """x / sqrt(mean(x**2 over the last len(normalized_shape) dims) + eps) * weight; eps=None is
    the machine epsilon of input's dtype (torch's default)."""
    if isinstance(normalized_shape, numbers.Integral):
        normalized_shape = (normalized_shape,)
    normalized_shape = tuple(normalized_shape)
    n = len(normalized_shape)
    if tuple(input.shape[input.dim() - n:]) != normalized_shape or n > input.dim():
        raise RuntimeError(f"Given normalized_shape={list(normalized_shape)}, expected input with shape "
                           f"[*, {', '.join(str(s) for s in normalized_shape)}], but got input of size "
                           f"{list(input.shape)}")
    if eps is None:
        eps = float(np.finfo(np.float64 if input.dtype == _C.dtype.float64 else np.float32).eps)
    dims = tuple(range(input.dim() - n, input.dim()))
    y = input * ((input * input).mean(dims, keepdim=True) + eps).rsqrt()
    if weight is not None:
        y = y * weight
    return y


def _values_per_channel(input):
    return input.shape[0] * math.prod(input.shape[2:])


def _check_batch_norm_sizes(input, running_mean, running_var, weight, bias):
    """torch's check of batch_norm's per-channel tensors (an empty input skips it: it passes through)."""
    if input.numel() == 0:
        return
    c = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight), ("bias", bias)):
        if t is not None and t.numel() != c:
            raise RuntimeError(f"{name} should contain {c} elements not {t.numel()}")


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    if input.dim() < 2:
        raise ValueError(f"Expected 2D or more input (got {input.dim()}D input)")
    if training and _values_per_channel(input) == 1:
        raise ValueError(f"Expected more than 1 value per channel when training, got input size {list(input.shape)}")
    if input.numel() == 0:  # torch: a copy of the empty input, running stats untouched, zero weight / bias grads
        y = input.clone()
        if weight is not None:
            y = y * weight[0]
        if bias is not None:
            y = y + bias[0]
        return y
    _check_batch_norm_sizes(input, running_mean, running_var, weight, bias)
    dims = (0, *range(2, input.dim()))
    shape = [1, input.shape[1]] + [1] * (input.dim() - 2)
    if training:
        n = _values_per_channel(input)
        mu = input.mean(dims, keepdim=True)
        xc = input - mu
        var = (xc * xc).mean(dims, keepdim=True)
        if running_mean is not None:
            with no_grad():
                running_mean.mul_(1 - momentum).add_(mu.reshape(-1) * momentum)
                running_var.mul_(1 - momentum).add_(var.reshape(-1) * (momentum * n / (n - 1)))
    else:
        xc = input - running_mean.reshape(*shape)
        var = running_var.reshape(*shape)
    y = xc / (var + eps).sqrt()
    if weight is not None:
        y = y * weight.reshape(*shape)
    if bias is not None:
        y = y + bias.reshape(*shape)
    return y


# --------------------------------------------------------------------------- convolution and pooling
# The convolutions are the C++ table ops (cpp/ember/ops/conv.cpp); the pools normalise torch's
# arguments here and run one C++ call (cpp/ember/ops/pool.cpp).

conv1d = _C.conv1d
conv2d = _C.conv2d
conv3d = _C.conv3d
conv_transpose1d = _C.conv_transpose1d
conv_transpose2d = _C.conv_transpose2d
conv_transpose3d = _C.conv_transpose3d


def _pool_ints(v, name=None):
    """A pooling size argument as a list of ints (None -> [] : the default)."""
    if v is None:
        return []
    if isinstance(v, numbers.Integral) or (isinstance(v, Tensor) and v.dim() == 0):
        return [int(v)]
    return [int(e) for e in v]


def _max_pool(nd, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    _check_tensor(input, "input", f"max_pool{nd}d", 1)
    out, idx = _C._max_pool(input, nd, _pool_ints(kernel_size), _pool_ints(stride), _pool_ints(padding),
                            _pool_ints(dilation), bool(ceil_mode))
    return (out, idx) if return_indices else out


def max_pool1d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                            return_indices=False):
    return _max_pool(1, input, kernel_size, stride, padding, dilation, ceil_mode, True)


def max_pool2d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                            return_indices=False):
    return _max_pool(2, input, kernel_size, stride, padding, dilation, ceil_mode, True)


def max_pool3d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                            return_indices=False):
    return _max_pool(3, input, kernel_size, stride, padding, dilation, ceil_mode, True)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    return _max_pool(1, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    return _max_pool(2, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    return _max_pool(3, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def _avg_pool(nd, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
    _check_tensor(input, "input", f"avg_pool{nd}d", 1)
    return _C._avg_pool(input, nd, _pool_ints(kernel_size), _pool_ints(stride), _pool_ints(padding), bool(ceil_mode),
                        bool(count_include_pad), None if divisor_override is None else int(divisor_override))


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    return _avg_pool(1, input, kernel_size, stride, padding, ceil_mode, count_include_pad, None)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    return _avg_pool(2, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)


def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    return _avg_pool(3, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)


def _adaptive_size(nd, input, output_size):
    """torch's output_size: an int for every dim, or one entry per dim where None keeps the input's size."""
    if isinstance(output_size, numbers.Integral):
        return [int(output_size)] * nd
    sizes = list(output_size)
    if len(sizes) == 1 and nd > 1:
        sizes = sizes * nd
    if len(sizes) != nd:
        raise ValueError(f"adaptive pool {nd}d: output_size must be an int or a tuple of {nd} ints, got {output_size}")
    return [int(input.shape[input.dim() - nd + i]) if v is None else int(v) for i, v in enumerate(sizes)]


def adaptive_avg_pool1d(input, output_size):
    _check_tensor(input, "input", "adaptive_avg_pool1d", 1)
    return _C._adaptive_avg_pool(input, 1, _adaptive_size(1, input, output_size))


def adaptive_avg_pool2d(input, output_size):
    _check_tensor(input, "input", "adaptive_avg_pool2d", 1)
    return _C._adaptive_avg_pool(input, 2, _adaptive_size(2, input, output_size))


def adaptive_avg_pool3d(input, output_size):
    _check_tensor(input, "input", "adaptive_avg_pool3d", 1)
    return _C._adaptive_avg_pool(input, 3, _adaptive_size(3, input, output_size))


def _adaptive_max(nd, input, output_size, return_indices):
    _check_tensor(input, "input", f"adaptive_max_pool{nd}d", 1)
    out, idx = _C._adaptive_max_pool(input, nd, _adaptive_size(nd, input, output_size))
    return (out, idx) if return_indices else out


def adaptive_max_pool1d_with_indices(input, output_size, return_indices=False):
    return _adaptive_max(1, input, output_size, True)


def adaptive_max_pool2d_with_indices(input, output_size, return_indices=False):
    return _adaptive_max(2, input, output_size, True)


def adaptive_max_pool3d_with_indices(input, output_size, return_indices=False):
    return _adaptive_max(3, input, output_size, True)


def adaptive_max_pool1d(input, output_size, return_indices=False):
    return _adaptive_max(1, input, output_size, return_indices)


def adaptive_max_pool2d(input, output_size, return_indices=False):
    return _adaptive_max(2, input, output_size, return_indices)


def adaptive_max_pool3d(input, output_size, return_indices=False):
    return _adaptive_max(3, input, output_size, return_indices)


def _lp_pool(nd, input, norm_type, kernel_size, stride, ceil_mode):
    """torch's definition: (sum over the window of x**p) ** (1/p), through avg_pool times the window size."""
    k = _pool_ints(kernel_size)
    k = k * nd if len(k) == 1 else k
    out = _avg_pool(nd, input.pow(norm_type), k, stride, 0, ceil_mode, True, None)
    return (_C.sign(out) * relu(_C.abs(out))).mul(math.prod(k)).pow(1.0 / norm_type)


def lp_pool1d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    return _lp_pool(1, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool2d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    return _lp_pool(2, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool3d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    return _lp_pool(3, input, norm_type, kernel_size, stride, ceil_mode)


def _max_unpool(nd, input, indices, kernel_size, stride, padding, output_size):
    k = _pool_ints(kernel_size)
    k = k * nd if len(k) == 1 else k
    s = _pool_ints(stride) or k
    s = s * nd if len(s) == 1 else s
    p = _pool_ints(padding)
    p = p * nd if len(p) == 1 else p
    spatial = list(input.shape[input.dim() - nd:])
    default = [(spatial[i] - 1) * s[i] - 2 * p[i] + k[i] for i in range(nd)]
    if output_size is None:
        size = default
    else:
        size = [int(v) for v in output_size]
        if len(size) == nd + 2 or len(size) == nd + 1:
            size = size[len(size) - nd:]
        if len(size) != nd:
            raise ValueError(f"output_size should be a sequence containing {nd} or {nd + 2} elements, but it has a "
                             f"length of '{len(size)}'")
        for i in range(nd):
            lo, hi = default[i] - s[i], default[i] + s[i]
            if not lo < size[i] < hi:
                raise ValueError(f'invalid output_size "{size}" (dim {i} must be between {lo} and {hi})')
    if indices.shape != input.shape:
        raise RuntimeError(f"Expected shape of indices to be same as that of the input tensor "
                           f"({list(input.shape)}) but got indices tensor with shape: {list(indices.shape)}")
    lead = list(input.shape[:input.dim() - nd])
    planes = math.prod(lead)
    n_out = math.prod(size)
    flat_idx = indices.reshape(planes, -1)
    if flat_idx.numel() and (int(flat_idx.min()) < 0 or int(flat_idx.max()) >= n_out):
        raise RuntimeError(f"Found an invalid max index: {int(flat_idx.max())} (output volumes are of size "
                           f"{'x'.join(str(v) for v in size)}")
    out = _C._zeros([planes, n_out], input.dtype).scatter(1, flat_idx, input.reshape(planes, -1))
    return out.reshape(*lead, *size)


def max_unpool1d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    return _max_unpool(1, input, indices, kernel_size, stride, padding, output_size)


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    return _max_unpool(2, input, indices, kernel_size, stride, padding, output_size)


def max_unpool3d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    return _max_unpool(3, input, indices, kernel_size, stride, padding, output_size)



def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None, use_input_stats=True,
                  momentum=0.1, eps=1e-5):
    """Each (sample, channel) normalised over its spatial dims; the running statistics (when given) move
    by the batch's average of the per-instance statistics, as torch's."""
    _check_tensor(input, "input", "instance_norm", 1)
    if input.dim() < 3:
        raise ValueError(f"Expected 3D or more input (got {input.dim()}D input)")
    shape = [1, input.shape[1]] + [1] * (input.dim() - 2)
    if use_input_stats:
        dims = tuple(range(2, input.dim()))
        mu = input.mean(dims, keepdim=True)
        xc = input - mu
        var = (xc * xc).mean(dims, keepdim=True)
        if running_mean is not None:
            n = math.prod(input.shape[2:])
            with no_grad():
                running_mean.mul_(1 - momentum).add_(mu.reshape(input.shape[0], -1).mean(0) * momentum)
                running_var.mul_(1 - momentum).add_(var.reshape(input.shape[0], -1).mean(0) *
                                                    (momentum * n / max(n - 1, 1)))
    else:
        xc = input - running_mean.reshape(*shape)
        var = running_var.reshape(*shape)
    y = xc / (var + eps).sqrt()
    if weight is not None:
        y = y * weight.reshape(*shape)
    if bias is not None:
        y = y + bias.reshape(*shape)
    return y


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    _check_tensor(input, "input", "group_norm", 1)
    if input.dim() < 2:
        raise RuntimeError(f"Expected at least 2 dimensions for input tensor but received {input.dim()}")
    n, c = input.shape[0], input.shape[1]
    if c % num_groups != 0:
        raise RuntimeError(f"Expected number of channels in input to be divisible by num_groups, but got input of "
                           f"shape {list(input.shape)} and num_groups={num_groups}")
    x = input.reshape(n, num_groups, -1)
    mu = x.mean(2, keepdim=True)
    xc = x - mu
    var = (xc * xc).mean(2, keepdim=True)
    y = (xc / (var + eps).sqrt()).reshape(*input.shape)
    shape = [1, c] + [1] * (input.dim() - 2)
    if weight is not None:
        y = y * weight.reshape(*shape)
    if bias is not None:
        y = y + bias.reshape(*shape)
    return y


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0):
    """torch's definition: x / (k + alpha * mean of x**2 over `size` neighbouring channels) ** beta."""
    dim = input.dim()
    if dim < 3:
        raise ValueError(f"Expected 3D or higher dimensionality input (got {dim} dimensions)")
    if input.numel() == 0:
        return input
    div = (input * input).unsqueeze(1)
    if dim == 3:
        div = pad(div, (0, 0, size // 2, (size - 1) // 2))
        div = avg_pool2d(div, (size, 1), stride=1).squeeze(1)
    else:
        sizes = input.shape
        div = div.reshape(sizes[0], 1, sizes[1], sizes[2], -1)
        div = pad(div, (0, 0, 0, 0, size // 2, (size - 1) // 2))
        div = avg_pool3d(div, (size, 1, 1), stride=1).squeeze(1)
        div = div.reshape(*sizes)
    div = div.mul(alpha).add(k).pow(beta)
    return input / div



# --------------------------------------------------------------------------- blocks and shuffles
# The shuffles are C++ table ops (cpp/ember/ops/fold.cpp), as torch's F.pixel_shuffle is
# torch.pixel_shuffle; unfold / fold are Python functions over im2col / col2im (_fold.py).

pixel_shuffle = _C.pixel_shuffle
pixel_unshuffle = _C.pixel_unshuffle
channel_shuffle = _C.channel_shuffle


from ._attention import multi_head_attention_forward, scaled_dot_product_attention  # noqa: E402,F401
from ._fold import fold, unfold  # noqa: E402,F401
from ._resize import interpolate, upsample, upsample_bilinear, upsample_nearest  # noqa: E402,F401
