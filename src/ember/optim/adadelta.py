"""Adadelta with torch's single-tensor update, written over ember tensor ops."""
from ..autograd.grad_mode import no_grad
from .optimizer import (_ignored_kwargs_doc, Optimizer, _addcmul_, _check_lr, _grad_of, _scalar, _value,
                        _zeros_like)


class Adadelta(Optimizer):
    __doc__ = """Implements Adadelta (torch.optim.Adadelta): same defaults, validation, update and
    state ('step' 0-d float tensor, 'square_avg', 'acc_delta').
""" + _ignored_kwargs_doc("foreach", "capturable", "differentiable")

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, foreach=None, *, capturable=False,
                 maximize=False, differentiable=False):
        _check_lr(lr)
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize,
                        capturable=capturable, foreach=foreach, differentiable=differentiable)
        super().__init__(params, defaults)

    def __setstate__(self, state):
        super().__setstate__(state)
        for g in self.param_groups:
            for k, v in (("foreach", None), ("maximize", False), ("differentiable", False), ("capturable", False)):
                g.setdefault(k, v)

    def step(self, closure=None):
        loss = self._closure(closure)
        with no_grad():
            for g in self.param_groups:
                lr, rho, eps, wd = _value(g["lr"]), g["rho"], g["eps"], g["weight_decay"]
                for p in g["params"]:
                    if p.grad is None:
                        continue
                    st = self.state[p]
                    if len(st) == 0:
                        st["step"] = _scalar(0.0)
                        st["square_avg"] = _zeros_like(p)
                        st["acc_delta"] = _zeros_like(p)
                    st["step"].add_(1)
                    grad = _grad_of(p, g["maximize"])
                    if wd != 0:
                        grad = grad.add(p, alpha=wd)
                    square_avg, acc_delta = st["square_avg"], st["acc_delta"]
                    _addcmul_(square_avg.mul_(rho), grad, grad, 1 - rho)
                    std = square_avg.add(eps).sqrt()
                    delta = acc_delta.add(eps).sqrt()
                    delta.div_(std).mul_(grad)
                    _addcmul_(acc_delta.mul_(rho), delta, delta, 1 - rho)
                    p.add_(delta, alpha=-lr)
        return loss
