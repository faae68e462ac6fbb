"""Gradient clipping with torch's semantics (total norm over all grads, in place)."""
import math

from ... import _C
from ...autograd.grad_mode import no_grad


def _grads(parameters):
    if isinstance(parameters, _C.Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    grads = _grads(parameters)
    if not grads:
        return _C._scalar_tensor(0.0, None)
    norm_type = float(norm_type)
    with no_grad():
        if norm_type == math.inf:
            total = max(g.abs().max().item() for g in grads)
        else:
            total = sum((g.abs() ** norm_type).sum().item() for g in grads) ** (1.0 / norm_type)
        if error_if_nonfinite and not math.isfinite(total):
            raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, "
                               "so it cannot be clipped.")
        coef = float(max_norm) / (total + 1e-6)
        if coef < 1:
            for g in grads:
                g.mul_(coef)
    return _C._scalar_tensor(total, grads[0].dtype)


def clip_grad_value_(parameters, clip_value, foreach=None):
    clip_value = float(clip_value)
    with no_grad():
        for g in _grads(parameters):
            g.clamp_(min=-clip_value, max=clip_value)
