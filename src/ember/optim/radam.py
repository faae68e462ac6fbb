"""RAdam (rectified Adam, optional decoupled weight decay) with torch's single-tensor update,
over ember tensor ops."""
from .optimizer import (_ignored_kwargs_doc, _SingleTensorOptimizer, _addcmul_, _check_args, _lerp_, _scalar,
                        _value, _weight_decay, _zeros_like)


class RAdam(_SingleTensorOptimizer):
    __doc__ = """Implements RAdam (torch.optim.RAdam), incl. ``decoupled_weight_decay`` (RAdamW):
    same defaults, validation, update and state ('step' 0-d float tensor, 'exp_avg', 'exp_avg_sq').
""" + _ignored_kwargs_doc("foreach", "capturable", "differentiable")

    _group_setstate_defaults = _SingleTensorOptimizer._group_setstate_defaults + (("decoupled_weight_decay", False),)

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, decoupled_weight_decay=False,
                 *, foreach=None, maximize=False, capturable=False, differentiable=False):
        _check_args(lr, eps=eps, betas=betas, weight_decay=weight_decay)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, maximize=maximize, foreach=foreach,
                        capturable=capturable, decoupled_weight_decay=decoupled_weight_decay,
                        differentiable=differentiable)
        super().__init__(params, defaults)

    def _init_state(self, st, p, g):
        st["step"] = _scalar(0.0)
        st["exp_avg"] = _zeros_like(p)
        st["exp_avg_sq"] = _zeros_like(p)

    def _update(self, p, grad, st, g):
        lr = _value(g["lr"])
        beta1, beta2 = g["betas"]
        exp_avg, exp_avg_sq = st["exp_avg"], st["exp_avg_sq"]
        step = st["step"].item()
        grad = _weight_decay(p, grad, g, g["decoupled_weight_decay"])
        _lerp_(exp_avg, grad, 1 - beta1)
        _addcmul_(exp_avg_sq.mul_(beta2), grad, grad, 1 - beta2)
        bias_correction1 = 1 - beta1 ** step
        bias_correction2 = 1 - beta2 ** step
        bias_corrected_exp_avg = exp_avg / bias_correction1
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * step * (beta2 ** step) / bias_correction2
        if rho_t > 5.0:
            rect = ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
            adaptive_lr = (bias_correction2 ** 0.5) / exp_avg_sq.sqrt().add_(g["eps"])
            p.add_(bias_corrected_exp_avg * lr * adaptive_lr * rect, alpha=-1.0)
        else:
            p.add_(bias_corrected_exp_avg * lr, alpha=-1.0)
