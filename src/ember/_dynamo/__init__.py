"""torch._dynamo's names a program reaches for (Note [Compile] in eval_frame.py)."""
from types import SimpleNamespace

from . import exc
from .capture import explain
from .eval_frame import OptimizedModule, disable, list_backends, reset


def is_compiling():
    """True while a compiled call is being recorded on this thread (torch: while dynamo traces)."""
    from .capture import _recording
    return _recording() is not None


# torch._dynamo.config settings programs set (accepted and kept; the recompile limit is
# capture.RECOMPILE_LIMIT, torch's default 8)
config = SimpleNamespace(suppress_errors=False, verbose=False, cache_size_limit=8, recompile_limit=8,
                         accumulated_recompile_limit=256, capture_scalar_outputs=False,
                         capture_dynamic_output_shape_ops=False, optimize_ddp=True, automatic_dynamic_shapes=True,
                         assume_static_by_default=True)

__all__ = ["OptimizedModule", "config", "disable", "exc", "explain", "is_compiling", "list_backends", "reset"]
