"""ember.autograd.Function: forward and backward written in Python with ember ops; the graph
node is a C++ node that calls back into `backward` (see Note [Python function node])."""
from .. import _C


class FunctionCtx:
    def __init__(self):
        self._saved = ()
        self.needs_input_grad = ()

    def save_for_backward(self, *tensors):
        self._saved = tensors

    @property
    def saved_tensors(self):
        if self._saved is None:
            raise RuntimeError("Trying to backward through the graph a second time (or directly access saved "
                               "tensors after they have already been freed).")
        for t, v in zip(self._saved, getattr(self, "_versions", ())):
            if isinstance(t, _C.Tensor) and t._version != v:
                raise RuntimeError("one of the variables needed for gradient computation has been modified by an "
                                   f"inplace operation: [{t.dtype} {list(t.shape)}] is at version {t._version}; "
                                   f"expected version {v} instead.")
        out_nrs = getattr(self, "_out_nrs", None)
        if out_nrs and _C.is_grad_enabled():  # a double backward: saved outputs with their history again
            return tuple(_C._saved_output(s, nr) if nr is not None else s for s, nr in zip(self._saved, out_nrs))
        return self._saved

    def mark_non_differentiable(self, *args):
        pass

    def set_materialize_grads(self, value):
        pass


class Function:
    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("You must implement the forward function for custom autograd.Function.")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("You must implement the backward function for custom autograd.Function.")

    @classmethod
    def apply(cls, *args):
        ctx = FunctionCtx()
        ctx.needs_input_grad = tuple(isinstance(a, _C.Tensor) and a.requires_grad for a in args)
        prev = _C.is_grad_enabled()
        _C._set_grad_enabled(False)
        try:
            out = cls.forward(ctx, *args)
        finally:
            _C._set_grad_enabled(prev)
        outs = out if isinstance(out, tuple) else (out,)
        tensors_out = [o for o in outs if isinstance(o, _C.Tensor)]
        # Saved outputs become history-free aliases: no cycle output -> node -> ctx -> output.
        if ctx._saved:
            ctx._out_nrs = tuple(next((i for i, o in enumerate(tensors_out) if s is o), None) for s in ctx._saved)
            ctx._saved = tuple(s.detach() if nr is not None else s for s, nr in zip(ctx._saved, ctx._out_nrs))
            ctx._versions = tuple(s._version if isinstance(s, _C.Tensor) else None for s in ctx._saved)
        inputs = [a if isinstance(a, _C.Tensor) else None for a in args]

        def run_backward(*grads):
            return cls.backward(ctx, *grads)

        _C._attach_function(tensors_out, inputs, run_backward, cls.__name__ + "Backward",
                            getattr(cls.backward, "_once_differentiable", False))
        return out


def once_differentiable(fn):
    """torch.autograd.function.once_differentiable: the decorated backward runs under no_grad, and a
    double backward through its gradients raises instead of treating them as constants."""
    import functools

    @functools.wraps(fn)
    def wrapper(ctx, *args):
        prev = _C.is_grad_enabled()
        _C._set_grad_enabled(False)
        try:
            return fn(ctx, *args)
        finally:
            _C._set_grad_enabled(prev)
    wrapper._once_differentiable = True
    return wrapper
