"""torch.compiler (Note [Compile] in ember/_dynamo/eval_frame.py): compile, and the helpers programs
call around it; ember traces nothing, so the markers return what they mark."""
from .._dynamo.eval_frame import compile, disable, list_backends, reset  # noqa: A004


def is_compiling():
    return False


def is_dynamo_compiling():
    return False


def is_exporting():
    return False


def allow_in_graph(fn):
    return fn


def assume_constant_result(fn):
    return fn


def cudagraph_mark_step_begin():
    """No CUDA graphs on a CPU: nothing to mark."""


__all__ = ["allow_in_graph", "assume_constant_result", "compile", "cudagraph_mark_step_begin", "disable",
           "is_compiling", "is_dynamo_compiling", "is_exporting", "list_backends", "reset"]
