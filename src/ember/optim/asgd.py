"""ASGD (averaged SGD) with torch's single-tensor update, over ember tensor ops."""
from .optimizer import _ignored_kwargs_doc, _SingleTensorOptimizer, _check_args, _scalar, _value, _weight_decay, \
    _zeros_like


class ASGD(_SingleTensorOptimizer):
    __doc__ = """Implements averaged SGD (torch.optim.ASGD): same defaults, validation, update and
    state ('step', 'eta', 'mu' 0-d float tensors and the running average 'ax').
""" + _ignored_kwargs_doc("foreach", "capturable", "differentiable")

    def __init__(self, params, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0, foreach=None,
                 maximize=False, differentiable=False, capturable=False):
        _check_args(lr, weight_decay=weight_decay)
        defaults = dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay, foreach=foreach,
                        maximize=maximize, differentiable=differentiable, capturable=capturable)
        super().__init__(params, defaults)

    def _init_state(self, st, p, g):
        st["step"] = _scalar(0.0)
        st["eta"] = _scalar(_value(g["lr"]))
        st["mu"] = _scalar(1.0)
        st["ax"] = _zeros_like(p)

    def _update(self, p, grad, st, g):
        lr, lambd, alpha, t0 = _value(g["lr"]), g["lambd"], g["alpha"], g["t0"]
        mu, ax, eta = st["mu"], st["ax"], st["eta"]
        grad = _weight_decay(p, grad, g)
        eta_value = eta.item()
        p.mul_(1 - lambd * eta_value)
        p.add_(grad, alpha=-eta_value)
        mu_value = mu.item()
        if mu_value != 1:
            ax.add_(p.sub(ax).mul_(mu_value))
        else:
            ax.copy_(p)
        step = st["step"].item()
        # torch.as_tensor(python float) has the default dtype: the new values are rounded
        # to it even when eta / mu were loaded as float64
        eta.copy_(_scalar(lr / ((1 + lambd * lr * step) ** alpha)))
        mu.copy_(_scalar(1 / max(1, step - t0)))
