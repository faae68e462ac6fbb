"""ASGD (averaged SGD) with torch's single-tensor update, over ember tensor ops."""
from ..autograd.grad_mode import no_grad
from .optimizer import _ignored_kwargs_doc, Optimizer, _check_lr, _grad_of, _scalar, _value, _zeros_like


class ASGD(Optimizer):
    __doc__ = """Implements averaged SGD (torch.optim.ASGD): same defaults, validation, update and
    state ('step', 'eta', 'mu' 0-d float tensors and the running average 'ax').
""" + _ignored_kwargs_doc("foreach", "capturable", "differentiable")

    def __init__(self, params, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0, foreach=None,
                 maximize=False, differentiable=False, capturable=False):
        _check_lr(lr)
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay, foreach=foreach,
                        maximize=maximize, differentiable=differentiable, capturable=capturable)
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
                lr, lambd, alpha, t0, wd = _value(g["lr"]), g["lambd"], g["alpha"], g["t0"], g["weight_decay"]
                for p in g["params"]:
                    if p.grad is None:
                        continue
                    st = self.state[p]
                    if len(st) == 0:
                        st["step"] = _scalar(0.0)
                        st["eta"] = _scalar(lr)
                        st["mu"] = _scalar(1.0)
                        st["ax"] = _zeros_like(p)
                    grad = _grad_of(p, g["maximize"])
                    mu, ax, eta = st["mu"], st["ax"], st["eta"]
                    st["step"].add_(1)
                    if wd != 0:
                        grad = grad.add(p, alpha=wd)
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
        return loss
