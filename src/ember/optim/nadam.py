"""NAdam (Adam with Nesterov momentum, optional decoupled weight decay) with torch's
single-tensor update, over ember tensor ops."""
from ..autograd.grad_mode import no_grad
from .optimizer import (_ignored_kwargs_doc, Optimizer, _addcmul_, _check_lr, _grad_of, _lerp_, _scalar, _value,
                        _zeros_like)


class NAdam(Optimizer):
    __doc__ = """Implements NAdam (torch.optim.NAdam), incl. ``momentum_decay`` and
    ``decoupled_weight_decay`` (NAdamW): same defaults, validation, update and state ('step' and
    'mu_product' 0-d float tensors, 'exp_avg', 'exp_avg_sq').
""" + _ignored_kwargs_doc("foreach", "capturable", "differentiable")

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, momentum_decay=4e-3,
                 decoupled_weight_decay=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False):
        _check_lr(lr)
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= momentum_decay:
            raise ValueError(f"Invalid momentum_decay value: {momentum_decay}")
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, momentum_decay=momentum_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize, foreach=foreach,
                        capturable=capturable, differentiable=differentiable)
        super().__init__(params, defaults)

    def __setstate__(self, state):
        super().__setstate__(state)
        for g in self.param_groups:
            for k, v in (("maximize", False), ("foreach", None), ("capturable", False), ("differentiable", False),
                         ("decoupled_weight_decay", False)):
                g.setdefault(k, v)

    def step(self, closure=None):
        loss = self._closure(closure)
        with no_grad():
            for g in self.param_groups:
                lr, eps, wd, md = _value(g["lr"]), g["eps"], g["weight_decay"], g["momentum_decay"]
                beta1, beta2 = g["betas"]
                for p in g["params"]:
                    if p.grad is None:
                        continue
                    st = self.state[p]
                    if len(st) == 0:
                        st["step"] = _scalar(0.0)
                        st["mu_product"] = _scalar(1.0)
                        st["exp_avg"] = _zeros_like(p)
                        st["exp_avg_sq"] = _zeros_like(p)
                    grad = _grad_of(p, g["maximize"])
                    exp_avg, exp_avg_sq, mu_product = st["exp_avg"], st["exp_avg_sq"], st["mu_product"]
                    st["step"].add_(1)
                    step = st["step"].item()
                    bias_correction2 = 1 - beta2 ** step
                    if wd != 0:
                        if g["decoupled_weight_decay"]:
                            p.mul_(1 - lr * wd)
                        else:
                            grad = grad.add(p, alpha=wd)
                    mu = beta1 * (1.0 - 0.5 * (0.96 ** (step * md)))
                    mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * md)))
                    mu_product.mul_(mu)
                    _lerp_(exp_avg, grad, 1 - beta1)
                    _addcmul_(exp_avg_sq.mul_(beta2), grad, grad, 1 - beta2)
                    denom = exp_avg_sq.div(bias_correction2).sqrt()
                    mp = mu_product.item()
                    mu_product_next = mp * mu_next
                    denom.add_(eps)
                    p.add_(grad / denom, alpha=-lr * (1.0 - mu) / (1.0 - mp))
                    p.add_(exp_avg / denom, alpha=(-lr * mu_next) / (1.0 - mu_product_next))
        return loss
