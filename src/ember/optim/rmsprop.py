"""RMSprop (centered, momentum, weight decay) with torch's update; one C++ call per group."""
from .. import _C
from .optimizer import _ignored_kwargs_doc, Optimizer, _check_lr, _count_steps, _params_with_grad, _value


class RMSprop(Optimizer):
    __doc__ = """Implements RMSprop (torch.optim.RMSprop), optionally centered, with momentum and
    weight decay.
""" + _ignored_kwargs_doc("foreach", "capturable", "differentiable")

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False,
                 capturable=False, foreach=None, maximize=False, differentiable=False):
        _check_lr(lr)
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= momentum:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= alpha:
            raise ValueError(f"Invalid alpha value: {alpha}")
        defaults = dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered, weight_decay=weight_decay,
                        capturable=capturable, foreach=foreach, maximize=maximize, differentiable=differentiable)
        super().__init__(params, defaults)

    def step(self, closure=None):
        loss = self._closure(closure)
        for g in self.param_groups:
            ps, gs = _params_with_grad(g)
            if not ps:
                continue
            states = []
            for p in ps:
                st = self.state[p]
                if len(st) == 0:
                    st["step"] = _C._scalar_tensor(0.0, _C.dtype.float32)
                    st["square_avg"] = _C._zeros(list(p.shape), p.dtype)
                    if g["momentum"] > 0:
                        st["momentum_buffer"] = _C._zeros(list(p.shape), p.dtype)
                    if g["centered"]:
                        st["grad_avg"] = _C._zeros(list(p.shape), p.dtype)
                states.append(st)
            _C._rmsprop_step(ps, gs, [s["square_avg"] for s in states], [s.get("momentum_buffer") for s in states],
                             [s.get("grad_avg") for s in states], _value(g["lr"]), g["alpha"], g["eps"],
                             g["weight_decay"], g["momentum"], g["centered"], g["maximize"])
            _count_steps(states)
        return loss
