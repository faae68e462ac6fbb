"""SGD with momentum, dampening, nesterov, weight decay and maximize: torch's update rule,
the first step's momentum buffer being the gradient itself. One C++ call per group."""
from .. import _C
from ..autograd.grad_mode import no_grad
from .optimizer import _ignored_kwargs_doc, Optimizer, _check_fused, _params_with_grad, _value, required


class SGD(Optimizer):
    __doc__ = """Implements stochastic gradient descent (torch.optim.SGD), optionally with momentum,
    dampening, Nesterov momentum, weight decay and maximize.
""" + _ignored_kwargs_doc("foreach", "fused", "differentiable")

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *, maximize=False,
                 foreach=None, differentiable=False, fused=None):
        if isinstance(lr, _C.Tensor):
            if lr.numel() != 1:
                raise ValueError("Tensor lr must be 1-element")
            lr = lr.item()
        if lr is not required and lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay, nesterov=nesterov,
                        maximize=maximize, foreach=foreach, differentiable=differentiable, fused=fused)
        super().__init__(params, defaults)
        _check_fused(fused, foreach, differentiable)

    def step(self, closure=None):
        loss = None if closure is None else self._closure(closure)
        state = self.state
        for g in self.param_groups:
            ps = g["params"]
            momentum = g["momentum"]
            bufs = [state[p].get("momentum_buffer") if p in state else None for p in ps] if momentum != 0 else None
            created = _C._sgd_step(ps, bufs, _value(g["lr"]), momentum, g["dampening"], _value(g["weight_decay"]),
                                   g["nesterov"], g["maximize"])
            if created is not None:  # first step: the C++ side made the momentum buffers
                for p, b in zip(ps, created):
                    if b is not None:
                        state[p]["momentum_buffer"] = b
        return loss

    def _capture(self, fn, args, kwargs, guards, fallback):
        if fn is not SGD.step._ember_opaque or args or kwargs or len(self.param_groups) != 1:
            return super()._capture(fn, args, kwargs, guards, fallback)
        g = self.param_groups[0]
        self._guard_groups(guards)
        bufs = []
        for p in g["params"]:
            st = self._guard_state(guards, p, ("momentum_buffer",))
            bufs.append(None if st is None else st.get("momentum_buffer"))
        _C._capture_sgd(g, g["params"], bufs, fallback)
        return True

    @no_grad()
    def _reference_step(self):
        """torch's single-tensor SGD, written with ember ops (for tests)."""
        for g in self.param_groups:
            for p in g["params"]:
                if p.grad is None:
                    continue
                d = -p.grad if g["maximize"] else p.grad
                if g["weight_decay"] != 0:
                    d = d + g["weight_decay"] * p
                if g["momentum"] != 0:
                    st = self.state[p]
                    buf = st.get("momentum_buffer")
                    if buf is None:
                        buf = d.clone()
                    else:
                        buf = buf * g["momentum"] + (1 - g["dampening"]) * d
                    st["momentum_buffer"] = buf
                    d = d + g["momentum"] * buf if g["nesterov"] else buf
                p.sub_(g["lr"] * d)
