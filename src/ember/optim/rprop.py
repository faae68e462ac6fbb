"""Rprop (resilient backpropagation) with torch's single-tensor update, over ember tensor ops."""
from .. import _C
from .optimizer import _ignored_kwargs_doc, _SingleTensorOptimizer, _check_lr, _scalar, _value, _zeros_like


class Rprop(_SingleTensorOptimizer):
    __doc__ = """Implements the resilient backpropagation algorithm (torch.optim.Rprop): same
    defaults, validation, update and state ('step' 0-d float tensor, 'prev', 'step_size').
""" + _ignored_kwargs_doc("foreach", "capturable", "differentiable")

    def __init__(self, params, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50), *, capturable=False, foreach=None,
                 maximize=False, differentiable=False):
        _check_lr(lr)
        if not 0.0 < etas[0] < 1.0 < etas[1]:
            raise ValueError(f"Invalid eta values: {etas[0]}, {etas[1]}")
        defaults = dict(lr=lr, etas=etas, step_sizes=step_sizes, foreach=foreach, maximize=maximize,
                        differentiable=differentiable, capturable=capturable)
        super().__init__(params, defaults)

    def _init_state(self, st, p, g):
        st["step"] = _scalar(0.0)
        st["prev"] = _zeros_like(p)
        st["step_size"] = _C._full(list(p.shape), float(_value(g["lr"])), p.dtype)

    def _update(self, p, grad, st, g):
        etaminus, etaplus = g["etas"]
        step_size_min, step_size_max = g["step_sizes"]
        prev, step_size = st["prev"], st["step_size"]
        sign = grad.mul(prev).sign()
        negative = sign.lt(0)
        # torch: sign[sign > 0] = etaplus; sign[sign < 0] = etaminus; sign[sign == 0] = 1 (NaN stays)
        factor = _C.where(sign.gt(0), etaplus, _C.where(negative, etaminus, _C.where(sign.eq(0), 1.0, sign)))
        step_size.mul_(factor).clamp_(step_size_min, step_size_max)
        grad = _C.where(negative, 0.0, grad)  # for dir < 0, dfdx = 0
        p.sub_(grad.sign() * step_size)
        prev.copy_(grad)
