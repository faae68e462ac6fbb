"""Adamax (Adam with the infinity norm) with torch's single-tensor update, over ember tensor ops."""
from .. import _C
from ..autograd.grad_mode import no_grad
from .optimizer import (_ignored_kwargs_doc, Optimizer, _check_lr, _grad_of, _lerp_, _scalar, _value,
                        _zeros_like)


class Adamax(Optimizer):
    __doc__ = """Implements Adamax (torch.optim.Adamax): same defaults, validation, update and state
    ('step' 0-d float tensor, 'exp_avg', 'exp_inf').
""" + _ignored_kwargs_doc("foreach", "capturable", "differentiable")

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, foreach=None, *,
                 maximize=False, differentiable=False, capturable=False):
        _check_lr(lr)
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, foreach=foreach, maximize=maximize,
                        differentiable=differentiable, capturable=capturable)
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
                lr, eps, wd = _value(g["lr"]), g["eps"], g["weight_decay"]
                beta1, beta2 = g["betas"]
                for p in g["params"]:
                    if p.grad is None:
                        continue
                    st = self.state[p]
                    if len(st) == 0:
                        st["step"] = _scalar(0.0)
                        st["exp_avg"] = _zeros_like(p)
                        st["exp_inf"] = _zeros_like(p)
                    grad = _grad_of(p, g["maximize"])
                    st["step"].add_(1)
                    if wd != 0:
                        grad = grad.add(p, alpha=wd)
                    exp_avg, exp_inf = st["exp_avg"], st["exp_inf"]
                    _lerp_(exp_avg, grad, 1 - beta1)
                    exp_inf.copy_(_C.maximum(exp_inf.mul_(beta2), grad.abs().add(eps)))
                    clr = lr / (1 - beta1 ** st["step"].item())
                    p.add_(exp_avg / exp_inf, alpha=-clr)
        return loss
