"""ember.autograd: grad mode context managers, backward / grad in one C++ call each, and
custom differentiable functions (Function with ctx.save_for_backward)."""
import functools

from .. import _C
from . import functional
from .function import Function, FunctionCtx
from .grad_mode import enable_grad, no_grad, set_grad_enabled, inference_mode, is_grad_enabled
from .variable import Variable
from ._checks import (GradcheckError, detect_anomaly, gradcheck, gradgradcheck, is_anomaly_check_nan_enabled,
                      is_anomaly_enabled, set_detect_anomaly)


def _as_list(x):
    if x is None:
        return None
    if isinstance(x, _C.Tensor):
        return [x]
    return list(x)


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    tensors = _as_list(tensors)
    grads = _as_list(grad_tensors) or [None] * len(tensors)
    if len(grads) != len(tensors):
        raise RuntimeError(f"grad_tensors has {len(grads)} entries but tensors has {len(tensors)}")
    if retain_graph is None:
        retain_graph = create_graph
    _C._backward(tensors, grads, bool(retain_graph), bool(create_graph), inputs)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=None,
         is_grads_batched=False, materialize_grads=False):
    if is_grads_batched:
        raise NotImplementedError("ember.autograd.grad: is_grads_batched=True is not supported")
    if materialize_grads and allow_unused is False:
        raise ValueError("Expected allow_unused to be True or not passed when materialize_grads=True, "
                         "but got: allow_unused=False.")
    outputs = _as_list(outputs)
    inputs = _as_list(inputs)
    for i in inputs:
        if not isinstance(i, _C.Tensor):
            raise RuntimeError(f"all inputs have to be Tensors or GradientEdges, but got {type(i).__name__}")
    grads = _as_list(grad_outputs) or [None] * len(outputs)
    if len(grads) != len(outputs):
        raise RuntimeError(f"grad requires one grad_output per output (got {len(grads)} grad_outputs and "
                           f"{len(outputs)} outputs)")
    if retain_graph is None:
        retain_graph = create_graph
    res = _C._grad(outputs, grads, inputs, bool(retain_graph), bool(allow_unused) or materialize_grads,
                   bool(create_graph))
    if materialize_grads:
        res = [r if r is not None else _C._zeros(list(i.shape), i.dtype) for r, i in zip(res, inputs)]
    return tuple(res)


__all__ = ["Function", "FunctionCtx", "functional", "backward", "grad", "no_grad", "enable_grad", "set_grad_enabled",
           "inference_mode", "is_grad_enabled", "Variable", "GradcheckError", "gradcheck", "gradgradcheck",
           "detect_anomaly", "set_detect_anomaly", "is_anomaly_enabled", "is_anomaly_check_nan_enabled"]
