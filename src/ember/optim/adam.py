"""Adam and AdamW (decoupled weight decay) with torch's bias correction and amsgrad; the step
count is a float tensor in state, as torch keeps it. One C++ call per group."""
import math

from .. import _C
from ..autograd.grad_mode import no_grad
from .optimizer import (_ignored_kwargs_doc, Optimizer, _check_args, _check_fused, _count_steps, _params_with_grad,
                        _value)


class Adam(Optimizer):
    __doc__ = """Implements Adam (torch.optim.Adam) with bias correction, amsgrad, maximize and
    (decoupled_weight_decay=True, as AdamW) decoupled weight decay.
""" + _ignored_kwargs_doc("foreach", "fused", "capturable", "differentiable")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *, foreach=None,
                 maximize=False, capturable=False, differentiable=False, fused=None, decoupled_weight_decay=False):
        if isinstance(lr, _C.Tensor):
            if foreach and not capturable:
                raise ValueError("lr as a Tensor is not supported for capturable=False and foreach=True")
            if lr.numel() != 1:
                raise ValueError("Tensor lr must be 1-element")
            lr = lr.item()
        _check_args(lr, eps=eps, betas=betas, weight_decay=weight_decay)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=maximize, foreach=foreach, capturable=capturable, differentiable=differentiable,
                        fused=fused, decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)
        _check_fused(fused, foreach, differentiable)

    def _init_state(self, p, amsgrad):
        st = self.state[p]
        if len(st) == 0:
            st["step"] = _C._scalar_tensor(0.0, _C.dtype.float32)
            st["exp_avg"] = _C._zeros(list(p.shape), p.dtype)
            st["exp_avg_sq"] = _C._zeros(list(p.shape), p.dtype)
            if amsgrad:
                st["max_exp_avg_sq"] = _C._zeros(list(p.shape), p.dtype)
        return st

    def step(self, closure=None):
        loss = self._closure(closure)
        for g in self.param_groups:
            ps, gs = _params_with_grad(g)
            if not ps:
                continue
            amsgrad = g["amsgrad"]
            states = [self._init_state(p, amsgrad) for p in ps]
            steps = [st["step"].item() + 1 for st in states]
            b1, b2 = g["betas"]
            _C._adam_step(ps, gs, [s["exp_avg"] for s in states], [s["exp_avg_sq"] for s in states],
                          [s["max_exp_avg_sq"] for s in states] if amsgrad else [None] * len(ps), steps,
                          _value(g["lr"]), b1, b2, g["eps"], g["weight_decay"], amsgrad, g["maximize"],
                          g["decoupled_weight_decay"])
            _count_steps(states)
        return loss

    def _capture(self, fn, args, kwargs, guards, fallback):
        if fn is not Adam.step._ember_opaque or args or kwargs or len(self.param_groups) != 1:
            return super()._capture(fn, args, kwargs, guards, fallback)
        g = self.param_groups[0]
        self._guard_groups(guards)
        sts = [self._guard_state(guards, p, ("step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq")) or {}
               for p in g["params"]]
        _C._capture_adam(g, g["params"], *([st.get(k) for st in sts]
                                           for k in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq", "step")), fallback)
        return True

    @no_grad()
    def _reference_step(self):
        """torch's single-tensor Adam/AdamW, written with ember ops (for tests)."""
        for g in self.param_groups:
            b1, b2 = g["betas"]
            for p in g["params"]:
                if p.grad is None:
                    continue
                st = self._init_state(p, g["amsgrad"])
                d = -p.grad if g["maximize"] else p.grad
                st["step"].add_(1)
                step = st["step"].item()
                if g["weight_decay"] != 0:
                    if g["decoupled_weight_decay"]:
                        p.mul_(1 - g["lr"] * g["weight_decay"])
                    else:
                        d = d + g["weight_decay"] * p
                st["exp_avg"].copy_(st["exp_avg"] + (d - st["exp_avg"]) * (1 - b1))
                st["exp_avg_sq"].copy_(st["exp_avg_sq"] * b2 + (1 - b2) * d * d)
                bc1, bc2 = 1 - b1 ** step, 1 - b2 ** step
                v = st["exp_avg_sq"]
                if g["amsgrad"]:
                    st["max_exp_avg_sq"].copy_(_C.maximum(st["max_exp_avg_sq"], v))
                    v = st["max_exp_avg_sq"]
                denom = v.sqrt() / math.sqrt(bc2) + g["eps"]
                p.sub_(g["lr"] / bc1 * st["exp_avg"] / denom)


class AdamW(Adam):
    __doc__ = """Implements AdamW (torch.optim.AdamW): Adam with decoupled weight decay (default 1e-2).
""" + _ignored_kwargs_doc("foreach", "fused", "capturable", "differentiable")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
                 maximize=False, foreach=None, capturable=False, differentiable=False, fused=None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach, maximize=maximize,
                         capturable=capturable, differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)
