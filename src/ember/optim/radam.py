"""RAdam (rectified Adam, optional decoupled weight decay) with torch's single-tensor update,
over ember tensor ops."""
from ..autograd.grad_mode import no_grad
from .optimizer import (_ignored_kwargs_doc, Optimizer, _addcmul_, _check_lr, _grad_of, _lerp_, _scalar, _value,
                        _zeros_like)


class RAdam(Optimizer):
    __doc__ = """Implements RAdam (torch.optim.RAdam), incl. ``decoupled_weight_decay`` (RAdamW):
    same defaults, validation, update and state ('step' 0-d float tensor, 'exp_avg', 'exp_avg_sq').
""" + _ignored_kwargs_doc("foreach", "capturable", "differentiable")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, decoupled_weight_decay=False,
                 *, foreach=None, maximize=False, capturable=False, differentiable=False):
        _check_lr(lr)
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, maximize=maximize, foreach=foreach,
                        capturable=capturable, decoupled_weight_decay=decoupled_weight_decay,
                        differentiable=differentiable)
        super().__init__(params, defaults)

    def __setstate__(self, state):
        super().__setstate__(state)
        for g in self.param_groups:
            for k, v in (("foreach", None), ("maximize", False), ("differentiable", False), ("capturable", False),
                         ("decoupled_weight_decay", False)):
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
                        st["exp_avg_sq"] = _zeros_like(p)
                    grad = _grad_of(p, g["maximize"])
                    exp_avg, exp_avg_sq = st["exp_avg"], st["exp_avg_sq"]
                    st["step"].add_(1)
                    step = st["step"].item()
                    if wd != 0:
                        if g["decoupled_weight_decay"]:
                            p.mul_(1 - lr * wd)
                        else:
                            grad = grad.add(p, alpha=wd)
                    _lerp_(exp_avg, grad, 1 - beta1)
                    _addcmul_(exp_avg_sq.mul_(beta2), grad, grad, 1 - beta2)
                    bias_correction1 = 1 - beta1 ** step
                    bias_correction2 = 1 - beta2 ** step
                    bias_corrected_exp_avg = exp_avg / bias_correction1
                    rho_inf = 2 / (1 - beta2) - 1
                    rho_t = rho_inf - 2 * step * (beta2 ** step) / bias_correction2
                    if rho_t > 5.0:
                        rect = ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
                        adaptive_lr = (bias_correction2 ** 0.5) / exp_avg_sq.sqrt().add_(eps)
                        p.add_(bias_corrected_exp_avg * lr * adaptive_lr * rect, alpha=-1.0)
                    else:
                        p.add_(bias_corrected_exp_avg * lr, alpha=-1.0)
        return loss
