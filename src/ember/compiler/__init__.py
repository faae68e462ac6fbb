"""torch.compiler (Note [Compile] in ember/_dynamo/eval_frame.py): compile, and the helpers programs
call around it; the markers return what they mark (ember records whatever a compiled call does)."""
from .._dynamo import is_compiling
from .._dynamo.eval_frame import compile, disable, list_backends, reset  # noqa: A004


def is_dynamo_compiling():
    return is_compiling()


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
