"""BatchNorm1d/2d/3d (running statistics as buffers), InstanceNorm1d/2d/3d, GroupNorm, LayerNorm, RMSNorm and
LocalResponseNorm."""
import numbers

from ... import _C
from ..._factories import get_default_dtype
from .. import functional as F
from ..parameter import Parameter
from .module import Module


def _register_running_stats(module, num_features, dtype, track):
    """The buffers of a batch / instance norm: running_mean (zeros), running_var (ones) and
    num_batches_tracked, or all three None when it does not track running statistics."""
    if track:
        module.register_buffer("running_mean", _C._zeros([num_features], dtype))
        module.register_buffer("running_var", _C._ones([num_features], dtype))
        module.register_buffer("num_batches_tracked", _C._scalar_tensor(0, _C.dtype.int64))
    else:
        for name in ("running_mean", "running_var", "num_batches_tracked"):
            module.register_buffer(name, None)


class _BatchNorm(Module):
    _dims = (2, 3)

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True, device=None,
                 dtype=None, bias=True):
        super().__init__()
        dtype = dtype or get_default_dtype()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        self.use_bias = affine and bias
        if affine:
            self.weight = Parameter(_C._ones([num_features], dtype))
        else:
            self.register_parameter("weight", None)
        if self.use_bias:
            self.bias = Parameter(_C._zeros([num_features], dtype))
        else:
            self.register_parameter("bias", None)
        _register_running_stats(self, num_features, dtype, track_running_stats)

    def _check_input_dim(self, input):
        if input.dim() not in self._dims:
            want = " or ".join(f"{d}D" for d in self._dims)
            raise ValueError(f"expected {want} input (got {input.dim()}D input)")

    def forward(self, input):
        self._check_input_dim(input)
        use_batch = self.training or self.running_mean is None
        track = (self.training and self.track_running_stats) or not use_batch
        running_mean, running_var = (self.running_mean, self.running_var) if track else (None, None)
        if not (use_batch and F._values_per_channel(input) == 1):  # that ValueError comes first, as in torch
            # before num_batches_tracked moves: a rejected input changes nothing
            F._check_batch_norm_sizes(input, running_mean, running_var, self.weight, self.bias)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:  # cumulative moving average
                factor = 1.0 / float(self.num_batches_tracked.item())
        return F.batch_norm(input, running_mean, running_var, self.weight, self.bias, use_batch, factor, self.eps)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.use_bias}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    _dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    _dims = (4,)


class BatchNorm3d(_BatchNorm):
    _dims = (5,)


class _InstanceNorm(Module):
    _nd = 1

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=False, track_running_stats=False, device=None,
                 dtype=None):
        super().__init__()
        dtype = dtype or get_default_dtype()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = Parameter(_C._ones([num_features], dtype))
            self.bias = Parameter(_C._zeros([num_features], dtype))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        _register_running_stats(self, num_features, dtype, track_running_stats)

    def forward(self, input):
        n = self._nd
        if input.dim() not in (n + 1, n + 2):
            raise ValueError(f"expected {n + 1}D or {n + 2}D input (got {input.dim()}D input)")
        if input.dim() == n + 1:
            return self._run(input.unsqueeze(0)).squeeze(0)
        return self._run(input)

    def _run(self, input):
        return F.instance_norm(input, self.running_mean, self.running_var, self.weight, self.bias,
                               self.training or not self.track_running_stats, self.momentum if self.momentum is not None
                               else 0.0, self.eps)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.affine}, track_running_stats={self.track_running_stats}")


class InstanceNorm1d(_InstanceNorm):
    _nd = 1


class InstanceNorm2d(_InstanceNorm):
    _nd = 2


class InstanceNorm3d(_InstanceNorm):
    _nd = 3


class GroupNorm(Module):
    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True, bias=True, device=None, dtype=None):
        super().__init__()
        if num_channels % num_groups != 0:
            raise ValueError("num_channels must be divisible by num_groups")
        dtype = dtype or get_default_dtype()
        self.num_groups, self.num_channels, self.eps, self.affine = num_groups, num_channels, eps, affine
        self.use_bias = affine and bias
        if affine:
            self.weight = Parameter(_C._ones([num_channels], dtype))
        else:
            self.register_parameter("weight", None)
        if self.use_bias:
            self.bias = Parameter(_C._zeros([num_channels], dtype))
        else:
            self.register_parameter("bias", None)

    def forward(self, input):
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, bias={self.use_bias}"


class LocalResponseNorm(Module):
    def __init__(self, size, alpha=1e-4, beta=0.75, k=1.0):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, input):
        return F.local_response_norm(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self):
        return "{size}, alpha={alpha}, beta={beta}, k={k}".format(**self.__dict__)


def _as_shape(normalized_shape):
    """LayerNorm / RMSNorm's normalized_shape: an int or a sequence of ints, as a tuple."""
    if isinstance(normalized_shape, numbers.Integral):
        return (normalized_shape,)
    return tuple(normalized_shape)


class LayerNorm(Module):
    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True, device=None, dtype=None):
        super().__init__()
        dtype = dtype or get_default_dtype()
        self.normalized_shape = _as_shape(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        self.use_bias = elementwise_affine and bias
        if elementwise_affine:
            self.weight = Parameter(_C._ones(list(self.normalized_shape), dtype))
            if bias:
                self.bias = Parameter(_C._zeros(list(self.normalized_shape), dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, input):
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.use_bias}")


class RMSNorm(Module):
    """Root-mean-square normalization over the last dims (torch.nn.RMSNorm): eps=None is the
    machine epsilon of the input's dtype; elementwise_affine adds a weight (ones), no bias."""

    def __init__(self, normalized_shape, eps=None, elementwise_affine=True, device=None, dtype=None):
        super().__init__()
        dtype = dtype or get_default_dtype()
        self.normalized_shape = _as_shape(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(_C._ones(list(self.normalized_shape), dtype))
        else:
            self.register_parameter("weight", None)

    def reset_parameters(self):
        if self.weight is not None:
            from ...autograd.grad_mode import no_grad
            with no_grad():
                self.weight.fill_(1.0)

    def forward(self, x):
        return F.rms_norm(x, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
