"""Adadelta with torch's single-tensor update, written over ember tensor ops."""
from .optimizer import (_ignored_kwargs_doc, _SingleTensorOptimizer, _addcmul_, _check_args, _check_lr, _scalar,
                        _value, _weight_decay, _zeros_like)


class Adadelta(_SingleTensorOptimizer):
    __doc__ = """Implements Adadelta (torch.optim.Adadelta): same defaults, validation, update and
    state ('step' 0-d float tensor, 'square_avg', 'acc_delta').
""" + _ignored_kwargs_doc("foreach", "capturable", "differentiable")

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, foreach=None, *, capturable=False,
                 maximize=False, differentiable=False):
        _check_lr(lr)
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        _check_args(eps=eps, weight_decay=weight_decay)
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize,
                        capturable=capturable, foreach=foreach, differentiable=differentiable)
        super().__init__(params, defaults)

    def _init_state(self, st, p, g):
        st["step"] = _scalar(0.0)
        st["square_avg"] = _zeros_like(p)
        st["acc_delta"] = _zeros_like(p)

    def _update(self, p, grad, st, g):
        rho, eps = g["rho"], g["eps"]
        grad = _weight_decay(p, grad, g)
        square_avg, acc_delta = st["square_avg"], st["acc_delta"]
        _addcmul_(square_avg.mul_(rho), grad, grad, 1 - rho)
        std = square_avg.add(eps).sqrt()
        delta = acc_delta.add(eps).sqrt()
        delta.div_(std).mul_(grad)
        _addcmul_(acc_delta.mul_(rho), delta, delta, 1 - rho)
        p.add_(delta, alpha=-_value(g["lr"]))
