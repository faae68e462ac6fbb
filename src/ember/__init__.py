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
from .functional import *  # noqa: F401,F403  (einsum, tensordot, cdist, ...: ops torch writes in Python)
from ._extras import *  # noqa
from . import linalg
from . import autograd, nn, optim, utils
from . import _dynamo, compiler
from ._dynamo.eval_frame import compile  # noqa: A004 (torch.compile)
from ._torch_compat import (Generator, accelerator, backends, cuda, get_default_device, get_num_interop_threads,
                            get_num_threads, install_as_torch, set_flush_denormal, set_num_interop_threads, set_num_threads,
                            typename)
from ._torch_compat import (finfo, iinfo, BFloat16Tensor, BoolTensor, ByteTensor, CharTensor, DoubleTensor, FloatTensor, HalfTensor,
                            IntTensor, LongTensor, ShortTensor, are_deterministic_algorithms_enabled,
                            get_float32_matmul_precision, is_deterministic_algorithms_warn_only_enabled,
                            set_default_tensor_type, set_float32_matmul_precision, use_deterministic_algorithms,
                            version, xpu)
from ._factories import get_default_dtype, set_default_dtype
from ._tensor_str import set_printoptions
from . import testing
from .serialization import load, save
from .autograd import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled

float32 = float = _C.dtype.float32
float64 = double = _C.dtype.float64
int64 = long = _C.dtype.int64
bool = _C.dtype.bool
# storage dtypes: held and converted natively, computed in int64 / float32 (docs/architecture.md)
int32 = int = _C.dtype.int32  # (this module's functions use _builtins.int)
int16 = short = _C.dtype.int16
int8 = _C.dtype.int8
uint8 = _C.dtype.uint8
float16 = half = _C.dtype.float16
bfloat16 = _C.dtype.bfloat16
from ._storage import UntypedStorage, cdouble, cfloat, complex128, complex64, frombuffer, layout, strided  # noqa: E402

from .func import vmap  # noqa: E402  (torch.vmap is torch.func.vmap)
from . import multiprocessing  # noqa: E402  (as torch: tensors cross processes as shared storages once imported)
from ._torch_compat import __version__  # torch API version, TorchVersion("2.13.0+cpu"); ember's own: version.ember


default_generator = _C.default_generator


def manual_seed(seed):
    """Seed ember's default generator (xoshiro256**). Not torch's stream: same seed, different numbers."""
    return default_generator.manual_seed(_builtins.int(seed) & 0xFFFFFFFFFFFFFFFF)


def seed():
    """Seed the default generator from a non-deterministic source; returns the seed."""
    return default_generator.seed()


def get_rng_state():
    """The default generator's state (an int64 tensor; pass it back to set_rng_state)."""
    return default_generator.get_state()


def set_rng_state(new_state):
    default_generator.set_state(new_state)


initial_seed = _C.initial_seed


def is_tensor(obj):
    return isinstance(obj, Tensor)


def is_floating_point(t):
    return t.is_floating_point()


def numel(t):
    if not isinstance(t, Tensor):
        raise TypeError(f"numel(): argument 'input' (position 1) must be Tensor, not {type(t).__name__}")
    return t.numel()


def set_default_device(d):
    device(d)

