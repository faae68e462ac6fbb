"""Adamax (Adam with the infinity norm) with torch's single-tensor update, over ember tensor ops."""
from .. import _C
from .optimizer import (_ignored_kwargs_doc, _SingleTensorOptimizer, _check_args, _lerp_, _scalar, _value,
                        _weight_decay, _zeros_like)


class Adamax(_SingleTensorOptimizer):
    __doc__ = """Implements Adamax (torch.optim.Adamax): same defaults, validation, update and state
    ('step' 0-d float tensor, 'exp_avg', 'exp_inf').
""" + _ignored_kwargs_doc("foreach", "capturable", "differentiable")

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, foreach=None, *,
                 maximize=False, differentiable=False, capturable=False):
        _check_args(lr, eps=eps, betas=betas, weight_decay=weight_decay)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, foreach=foreach, maximize=maximize,
                        differentiable=differentiable, capturable=capturable)
        super().__init__(params, defaults)

    def _init_state(self, st, p, g):
        st["step"] = _scalar(0.0)
        st["exp_avg"] = _zeros_like(p)
        st["exp_inf"] = _zeros_like(p)

    def _update(self, p, grad, st, g):
        beta1, beta2 = g["betas"]
        grad = _weight_decay(p, grad, g)
        exp_avg, exp_inf = st["exp_avg"], st["exp_inf"]
        _lerp_(exp_avg, grad, 1 - beta1)
        exp_inf.copy_(_C.maximum(exp_inf.mul_(beta2), grad.abs().add(g["eps"])))
        clr = _value(g["lr"]) / (1 - beta1 ** st["step"].item())
        p.add_(exp_avg / exp_inf, alpha=-clr)
