"""NAdam (Adam with Nesterov momentum, optional decoupled weight decay) with torch's
single-tensor update, over ember tensor ops."""
from .optimizer import (_ignored_kwargs_doc, _SingleTensorOptimizer, _addcmul_, _check_args, _lerp_, _scalar,
                        _value, _weight_decay, _zeros_like)


class NAdam(_SingleTensorOptimizer):
    __doc__ = """Implements NAdam (torch.optim.NAdam), incl. ``momentum_decay`` and
    ``decoupled_weight_decay`` (NAdamW): same defaults, validation, update and state ('step' and
    'mu_product' 0-d float tensors, 'exp_avg', 'exp_avg_sq').
""" + _ignored_kwargs_doc("foreach", "capturable", "differentiable")

    _group_setstate_defaults = (("maximize", False), ("foreach", None), ("capturable", False),
                                ("differentiable", False), ("decoupled_weight_decay", False))

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, momentum_decay=4e-3,
                 decoupled_weight_decay=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False):
        _check_args(lr, eps=eps, betas=betas, weight_decay=weight_decay)
        if not 0.0 <= momentum_decay:
            raise ValueError(f"Invalid momentum_decay value: {momentum_decay}")
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, momentum_decay=momentum_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize, foreach=foreach,
                        capturable=capturable, differentiable=differentiable)
        super().__init__(params, defaults)

    def _init_state(self, st, p, g):
        st["step"] = _scalar(0.0)
        st["mu_product"] = _scalar(1.0)
        st["exp_avg"] = _zeros_like(p)
        st["exp_avg_sq"] = _zeros_like(p)

    def _update(self, p, grad, st, g):
        lr, md = _value(g["lr"]), g["momentum_decay"]
        beta1, beta2 = g["betas"]
        exp_avg, exp_avg_sq, mu_product = st["exp_avg"], st["exp_avg_sq"], st["mu_product"]
        step = st["step"].item()
        bias_correction2 = 1 - beta2 ** step
        grad = _weight_decay(p, grad, g, g["decoupled_weight_decay"])
        mu = beta1 * (1.0 - 0.5 * (0.96 ** (step * md)))
        mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * md)))
        mu_product.mul_(mu)
        _lerp_(exp_avg, grad, 1 - beta1)
        _addcmul_(exp_avg_sq.mul_(beta2), grad, grad, 1 - beta2)
        denom = exp_avg_sq.div(bias_correction2).sqrt()
        mp = mu_product.item()
        mu_product_next = mp * mu_next
        denom.add_(g["eps"])
        p.add_(grad / denom, alpha=-lr * (1.0 - mu) / (1.0 - mp))
        p.add_(exp_avg / denom, alpha=(-lr * mu_next) / (1.0 - mu_product_next))
