"""ember: fast small-model training on the CPU with a PyTorch-compatible API.

The tensor, autograd graph and kernels live in the C++ extension ember._C; this package gives
them torch's module layout so that `import ember as torch` runs torch-style code.
"""
import builtins as _builtins

from . import _C  # OpenBLAS (scipy-openblas32) is loaded by _C on the first large product
from ._C import Tensor, dtype
from ._tensor import Size, device
from ._factories import (arange, as_tensor, empty, empty_like, eye, from_numpy, full, full_like, linspace, ones,
                         ones_like, rand, rand_like, randint, randn, randn_like, randperm, tensor, zeros, zeros_like)
from ._functions import *  # noqa: F401,F403
from ._functions import __all__ as _fn_all
from . import autograd, nn, optim, utils
from ._torch_compat import Generator, accelerator, backends, cuda, get_num_threads, install_as_torch, set_num_threads
from .serialization import load, save
from .autograd import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled

float32 = float = _C.dtype.float32
float64 = double = _C.dtype.float64
int64 = long = _C.dtype.int64
bool = _C.dtype.bool

__version__ = "0.1.0"


def manual_seed(seed):
    """Seed ember's own generator (xoshiro256**). Not torch's stream: same seed, different numbers."""
    _C.manual_seed(int(seed) & 0xFFFFFFFFFFFFFFFF)


initial_seed = _C.initial_seed


def is_tensor(obj):
    return isinstance(obj, Tensor)


def is_floating_point(t):
    return t.is_floating_point()


def numel(t):
    return t.numel()


def get_default_dtype():
    return float32


def set_default_device(d):
    device(d)
