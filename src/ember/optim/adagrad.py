"""Adagrad with lr decay and initial accumulator value; one C++ call per group."""
from .. import _C
from .optimizer import (_ignored_kwargs_doc, Optimizer, _check_fused, _check_lr, _count_steps, _params_with_grad,
                        _value)


class Adagrad(Optimizer):
    __doc__ = """Implements Adagrad (torch.optim.Adagrad) with lr decay, weight decay and an initial
    accumulator value; its state is created in the constructor, as torch does.
""" + _ignored_kwargs_doc("foreach", "fused", "differentiable")

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10,
                 foreach=None, *, maximize=False, differentiable=False, fused=None):
        _check_lr(lr)
        if not 0.0 <= lr_decay:
            raise ValueError(f"Invalid lr_decay value: {lr_decay}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= initial_accumulator_value:
            raise ValueError(f"Invalid initial_accumulator_value value: {initial_accumulator_value}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, foreach=foreach, maximize=maximize,
                        differentiable=differentiable, fused=fused)
        super().__init__(params, defaults)
        _check_fused(fused, foreach, differentiable)
        for g in self.param_groups:
            for p in g["params"]:
                st = self.state[p]
                st["step"] = _C._scalar_tensor(0.0, _C.dtype.float32)
                st["sum"] = _C._full(list(p.shape), float(g["initial_accumulator_value"]), p.dtype)

    def step(self, closure=None):
        loss = self._closure(closure)
        for g in self.param_groups:
            ps, gs = _params_with_grad(g)
            if not ps:
                continue
            states = [self.state[p] for p in ps]
            steps = [st["step"].item() + 1 for st in states]
            _C._adagrad_step(ps, gs, [st["sum"] for st in states], steps, _value(g["lr"]), g["lr_decay"],
                             g["weight_decay"], g["eps"], g["maximize"])
            _count_steps(states)
        return loss
