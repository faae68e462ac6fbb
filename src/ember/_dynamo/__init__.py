"""torch._dynamo's names a program reaches for (Note [Compile] in eval_frame.py)."""
from types import SimpleNamespace

from . import exc
from .eval_frame import OptimizedModule, disable, list_backends, reset


def is_compiling():
    """False: ember traces nothing (a compiled module runs its eager path)."""
    return False


# torch._dynamo.config settings programs set (accepted and kept; nothing reads them)
config = SimpleNamespace(suppress_errors=False, verbose=False, cache_size_limit=8, recompile_limit=8,
                         accumulated_recompile_limit=256, capture_scalar_outputs=False,
                         capture_dynamic_output_shape_ops=False, optimize_ddp=True, automatic_dynamic_shapes=True,
                         assume_static_by_default=True)

__all__ = ["OptimizedModule", "config", "disable", "exc", "is_compiling", "list_backends", "reset"]
