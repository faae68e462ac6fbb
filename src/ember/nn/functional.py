"""nn.functional: stateless functions under torch.nn.functional's names. linear and the losses
are single fused C++ ops; the rest compose ember ops."""
import math

from .. import _C
from ..autograd.grad_mode import no_grad

Tensor = _C.Tensor
linear = _C.linear
relu = _C.relu
sigmoid = _C.sigmoid
tanh = _C.tanh


def _legacy_reduction(size_average, reduce, reduction):
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    return ("mean" if size_average else "sum") if reduce else "none"


def _check_tensor(x, name, fn):
    if not isinstance(x, Tensor):
        raise TypeError(f"{fn}(): argument '{name}' must be Tensor, not {type(x).__name__}")


def _implicit_dim(ndim):
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    if dim is None:
        dim = _implicit_dim(input.dim())
    return _C.softmax(input if dtype is None else input.to(dtype), dim)


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    if dim is None:
        dim = _implicit_dim(input.dim())
    return _C.log_softmax(input if dtype is None else input.to(dtype), dim)


def relu_(input):
    with no_grad():
        return input.clamp_(min=0)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    return _C.where(input > 0, input, input * negative_slope)


def gelu(input, approximate="none"):
    if approximate == "tanh":
        inner = math.sqrt(2.0 / math.pi) * (input + 0.044715 * input * input * input)
        return 0.5 * input * (1.0 + _C.tanh(inner))
    if approximate != "none":
        raise ValueError(f"approximate argument must be either none or tanh, got {approximate!r}")
    return 0.5 * input * (1.0 + _C.erf(input * (1.0 / math.sqrt(2.0))))


def dropout(input, p=0.5, training=True, inplace=False):
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return input * 0.0
    keep = (_C._rand(list(input.shape), input.dtype if input.is_floating_point() else _C.dtype.float32) >= p)
    return input * keep.to(input.dtype) * (1.0 / (1.0 - p))


def one_hot(tensor, num_classes=-1):
    return _C.one_hot(tensor, num_classes)


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    _check_tensor(input, "input", "mse_loss")
    _check_tensor(target, "target", "mse_loss")
    return _C._mse_loss(input, target, _legacy_reduction(size_average, reduce, reduction))


def _reduce(loss, reduction):
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"{reduction} is not a valid value for reduction")


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    return _reduce((input - target).abs(), _legacy_reduction(size_average, reduce, reduction))


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    if beta < 0:
        raise RuntimeError("smooth_l1_loss does not support negative values for beta.")
    d = (input - target).abs()
    if beta == 0:
        loss = d
    else:
        loss = _C.where(d < beta, 0.5 * d * d / beta, d - 0.5 * beta)
    return _reduce(loss, _legacy_reduction(size_average, reduce, reduction))


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    d = (input - target).abs()
    loss = _C.where(d < delta, 0.5 * d * d, delta * (d - 0.5 * delta))
    return _reduce(loss, reduction)


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


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean",
                  label_smoothing=0.0):
    _check_tensor(input, "input", "cross_entropy")
    _check_tensor(target, "target", "cross_entropy")
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if target.is_floating_point():
        return _cross_entropy_probs(input, target, weight, reduction, label_smoothing)
    x, t, none_shape = _flatten_classes(input, target)
    loss = _C._cross_entropy(x, t, weight, int(ignore_index), float(label_smoothing), reduction)
    if reduction == "none" and none_shape is not None:
        loss = loss.reshape(*none_shape) if none_shape != () else loss.reshape(())
    return loss


def _cross_entropy_probs(input, target, weight, reduction, label_smoothing):
    if input.shape != target.shape:
        raise RuntimeError(f"cross_entropy: class-probability target must have the input's shape "
                           f"(input {list(input.shape)}, target {list(target.shape)})")
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
    _check_tensor(input, "input", "nll_loss")
    reduction = _legacy_reduction(size_average, reduce, reduction)
    x, t, none_shape = _flatten_classes(input, target)
    loss = _C._nll_loss(x, t, weight, int(ignore_index), reduction)
    if reduction == "none" and none_shape is not None:
        loss = loss.reshape(*none_shape) if none_shape != () else loss.reshape(())
    return loss


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    _check_tensor(input, "input", "binary_cross_entropy")
    reduction = _legacy_reduction(size_average, reduce, reduction)
    return _C._bce(input, target, weight, reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None, reduction="mean",
                                     pos_weight=None):
    _check_tensor(input, "input", "binary_cross_entropy_with_logits")
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if weight is not None and weight.shape != input.shape:
        weight = weight.expand(*input.shape)
    if pos_weight is not None and pos_weight.shape != input.shape:
        pos_weight = pos_weight.expand(*input.shape)
    return _C._bce_with_logits(input, target, weight, pos_weight, reduction)


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False, sparse=False):
    if input.dtype != _C.dtype.int64:
        raise RuntimeError(f"Expected tensor for argument #1 'indices' to have scalar type Long; but got {input.dtype}")
    out = _C.index_select(weight, 0, input.reshape(-1))
    return out.reshape(*input.shape, weight.shape[1])


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    dims = tuple(range(input.dim() - len(normalized_shape), input.dim()))
    if tuple(input.shape[input.dim() - len(normalized_shape):]) != tuple(normalized_shape):
        raise RuntimeError(f"Given normalized_shape={list(normalized_shape)}, expected input with shape "
                           f"[*, {', '.join(str(s) for s in normalized_shape)}], but got input of size {list(input.shape)}")
    mu = input.mean(dims, keepdim=True)
    xc = input - mu
    var = (xc * xc).mean(dims, keepdim=True)
    y = xc / (var + eps).sqrt()
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    if input.dim() not in (2, 3):
        raise ValueError(f"expected 2D or 3D input (got {input.dim()}D input)")
    dims = (0,) if input.dim() == 2 else (0, 2)
    shape = [1, input.shape[1]] + ([1] if input.dim() == 3 else [])
    if training:
        n = input.numel() // input.shape[1]
        if n <= 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got input size {list(input.shape)}")
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
