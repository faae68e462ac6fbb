"""Optimizer base: param_groups, state, zero_grad (one C++ call), state_dict / load_state_dict in
torch's format. Subclasses implement step() as one fused C++ call per parameter group and keep
a readable reference update (`_reference_step`) for tests."""
from collections import defaultdict
from copy import deepcopy

from .. import _C
from .._dynamo.capture import opaque
from ..autograd.grad_mode import no_grad

Tensor = _C.Tensor


class _RequiredParameter:
    def __repr__(self):
        return "<required parameter>"


required = _RequiredParameter()


class Optimizer:
    def __init__(self, params, defaults):
        self.defaults = defaults
        self.state = defaultdict(dict)
        self.param_groups = []
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of Tensors or dicts, but got "
                            + type(params).__name__)
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for g in param_groups:
            self.add_param_group(g)

    def add_param_group(self, param_group):
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            param_group["params"] = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, but the ordering of "
                            "tensors in sets will change between runs. Please use a list instead.")
        else:
            param_group["params"] = list(params)
        # named parameters, e.g. model.named_parameters(): torch keeps the names as 'param_names'
        names = [p[0] for p in param_group["params"] if isinstance(p, tuple)]
        param_group["params"] = [p[1] if isinstance(p, tuple) else p for p in param_group["params"]]
        if names:
            if len(names) != len(param_group["params"]):
                raise ValueError("all optimizer params should be with/without names. Some param names are missing")
            param_group["param_names"] = names
        for p in param_group["params"]:
            if not isinstance(p, Tensor):
                raise TypeError("optimizer can only optimize Tensors, but one of the params is " + type(p).__name__)
            if not self.defaults.get("differentiable", None) and not (p.is_leaf or p.retains_grad):
                raise ValueError("can't optimize a non-leaf Tensor")
        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError(f"parameter group didn't specify a value of required optimization parameter {name}")
            param_group.setdefault(name, default)
        if len({id(p) for p in param_group["params"]}) != len(param_group["params"]):
            import warnings
            warnings.warn("optimizer contains a parameter group with duplicate parameters; in future, this will cause "
                          "an error; see github.com/pytorch/pytorch/issues/40967 for more information", stacklevel=3)
        seen = set()
        for g in self.param_groups:
            seen.update(id(p) for p in g["params"])
            if ("param_names" in param_group) != ("param_names" in g):
                current_group_txt = "with names" if "param_names" in param_group else "without names"
                raise ValueError("all optimizer param groups should be with/without names. "
                                 f"cannot add param group {current_group_txt} to the optimizer")
        if any(id(p) in seen for p in param_group["params"]):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    def __init_subclass__(cls, **kwargs):
        # a compiled step replays an optimizer by calling these again (Note [Capture guards])
        super().__init_subclass__(**kwargs)
        for name in ("step", "zero_grad"):
            f = cls.__dict__.get(name)
            if f is not None and not hasattr(f, "_ember_opaque"):
                setattr(cls, name, opaque(f))

    def _capture(self, fn, args, kwargs, guards, fallback):
        """Called after `fn` (step or zero_grad) ran while a compiled step records: keep it as a
        native replay step and return True, or return False (the replay then calls the Python
        method again). Note [Capture guards] in ember/_dynamo/capture.py."""
        if fn is _RAW_ZERO_GRAD:
            set_to_none = kwargs.get("set_to_none", args[0] if args else True)
            if len(args) + len(kwargs) > 1 or not isinstance(set_to_none, bool):
                return False
            self._guard_groups(guards)
            _C._capture_zero_grads([p for g in self.param_groups for p in g["params"]], set_to_none)
            return True
        return False

    def _guard_groups(self, guards):
        """A native replay step keeps the parameters: guard the groups' lists of them."""
        guards.seqs.append((self.param_groups, tuple(self.param_groups)))
        for g in self.param_groups:
            guards.keys.append((g, "params", g["params"]))
            guards.seqs.append((g["params"], tuple(g["params"])))

    def _guard_state(self, guards, p, keys):
        st = self.state.get(p)
        if st is None:
            return None
        for k in keys:
            if k in st:
                guards.keys.append((st, k, st[k]))
        return st

    @opaque
    def zero_grad(self, set_to_none=True):
        params = [p for g in self.param_groups for p in g["params"]]
        _C._zero_grads(params, set_to_none)

    def step(self, closure=None):
        raise NotImplementedError

    def _closure(self, closure):
        if closure is None:
            return None
        from ..autograd.grad_mode import enable_grad
        with enable_grad():
            return closure()

    # ---- state dicts
    def state_dict(self):
        index = {}
        groups = []
        for g in self.param_groups:
            packed = {k: v for k, v in g.items() if k != "params"}
            ids = []
            for p in g["params"]:
                if id(p) not in index:
                    index[id(p)] = len(index)
                ids.append(index[id(p)])
            packed["params"] = ids
            groups.append(packed)
        state = {index[id(p)]: v for p, v in self.state.items() if id(p) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        state_dict = deepcopy(state_dict)
        groups, saved = self.param_groups, state_dict["param_groups"]
        if len(groups) != len(saved):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(a["params"]) != len(b["params"]) for a, b in zip(groups, saved)):
            raise ValueError("loaded state dict contains a parameter group that doesn't match the size of optimizer's group")
        id_map = {}
        for g, sg in zip(groups, saved):
            for p, i in zip(g["params"], sg["params"]):
                id_map[i] = p
        self.state = defaultdict(dict)
        for k, v in state_dict["state"].items():
            if k not in id_map:
                continue
            p = id_map[k]
            self.state[p] = _cast_state(p, v)
        for g, sg in zip(groups, saved):
            params, names = g["params"], g.get("param_names")
            g.clear()
            g.update({k: v for k, v in sg.items() if k != "params"})
            g["params"] = params
            if names is not None and "param_names" not in g:
                g["param_names"] = names

    def __repr__(self):
        s = type(self).__name__ + " ("
        for i, g in enumerate(self.param_groups):
            s += "\nParameter Group {0}\n".format(i)
            for k in sorted(g):
                if k != "params":
                    s += f"    {k}: {g[k]}\n"
        return s + ")"

    def __getstate__(self):
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    # (key, default) pairs that a param group unpickled from an older torch/ember may lack
    _group_setstate_defaults = ()

    def __setstate__(self, state):
        self.__dict__.update(state)
        for g in self.param_groups:
            for k, v in self._group_setstate_defaults:
                g.setdefault(k, v)


_RAW_ZERO_GRAD = Optimizer.zero_grad._ember_opaque


def _cast_state(param, value, key=None):
    """torch's load_state_dict policy: floating-point state tensors take the parameter's dtype,
    except 'step'; dicts and lists (LBFGS's history) are walked recursively."""
    if isinstance(value, Tensor):
        if key != "step" and param.is_floating_point() and value.is_floating_point():
            return value._to_dtype(param.dtype, False).contiguous()
        return value
    if isinstance(value, dict):
        return {k: _cast_state(param, v, k) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_cast_state(param, v) for v in value)
    return value


def _params_with_grad(group):
    ps, gs = [], []
    for p in group["params"]:
        if p.grad is not None:
            ps.append(p)
            gs.append(p.grad)
    return ps, gs


def _count_steps(states):
    """Advance each state's step counter, after the fused update succeeded (a failed step must
    leave the state as it was)."""
    with no_grad():
        for st in states:
            st["step"].add_(1)


# ---- helpers shared by the optimizers written in Python over ember tensor ops

def _scalar_dtype():
    """The dtype of 0-d state scalars ('step', 'eta', 'mu_product'...): torch's _get_scalar_dtype()."""
    from .. import get_default_dtype  # noqa: PLC0415 (ember is fully imported by the time a step runs)
    return _C.dtype.float64 if get_default_dtype() == _C.dtype.float64 else _C.dtype.float32


def _scalar(value, dtype=None):
    return _C._scalar_tensor(float(value), dtype if dtype is not None else _scalar_dtype())


def _zeros_like(p):
    return _C._zeros(list(p.shape), p.dtype)


def _check_lr(lr):
    if isinstance(lr, Tensor) and lr.numel() != 1:
        raise ValueError("Tensor lr must be 1-element")
    if not 0.0 <= lr:
        raise ValueError(f"Invalid learning rate: {lr}")


_UNCHECKED = object()


def _check_args(lr=_UNCHECKED, *, eps=_UNCHECKED, betas=_UNCHECKED, weight_decay=_UNCHECKED):
    """torch's constructor checks (and messages), in torch's order, for the arguments given."""
    if lr is not _UNCHECKED:
        _check_lr(lr)
    if eps is not _UNCHECKED and not 0.0 <= eps:
        raise ValueError(f"Invalid epsilon value: {eps}")
    if betas is not _UNCHECKED:
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
    if weight_decay is not _UNCHECKED and not 0.0 <= weight_decay:
        raise ValueError(f"Invalid weight_decay value: {weight_decay}")


def _check_fused(fused, foreach, differentiable):
    if fused:
        if differentiable:
            raise RuntimeError("`fused` does not support `differentiable`")
        if foreach:
            raise RuntimeError("`fused` and `foreach` cannot be `True` together.")


def _value(x):
    """torch's _get_value / _to_scalar: a Python number from a number or a one-element tensor."""
    return x.item() if isinstance(x, Tensor) else x


def _lerp_(t, end, weight):
    """t.lerp_(end, weight) for a scalar weight, with torch's two-sided formula."""
    if abs(weight) < 0.5:
        return t.add_((end - t) * weight)
    return t.copy_(end - (end - t) * (1 - weight))


def _addcmul_(t, a, b, value=1.0):
    """t.addcmul_(a, b, value=value)."""
    return t.add_(a * b, alpha=value)


def _addcdiv_(t, a, b, value=1.0):
    """t.addcdiv_(a, b, value=value)."""
    return t.add_(a / b, alpha=value)


def _grad_of(p, maximize):
    return -p.grad if maximize else p.grad


def _weight_decay(p, grad, group, decoupled=False):
    """The gradient with torch's L2 weight decay added, or (decoupled, AdamW-style) the parameter
    shrunk in place by lr * weight_decay and the gradient as it was."""
    wd = group["weight_decay"]
    if wd == 0:
        return grad
    if decoupled:
        p.mul_(1 - _value(group["lr"]) * wd)
        return grad
    return grad.add(p, alpha=wd)


class _SingleTensorOptimizer(Optimizer):
    """An optimizer written as torch's single-tensor update over ember tensor ops. step() walks the
    groups' parameters that have a gradient, fills an empty state with `_init_state(state, p, group)`,
    advances state['step'] and calls `_update(p, grad, state, group)` with the gradient already
    negated under maximize (weight decay is left to `_update`, see `_weight_decay`)."""

    _group_setstate_defaults = (("foreach", None), ("maximize", False), ("differentiable", False),
                                ("capturable", False))

    def _init_state(self, state, p, group):
        raise NotImplementedError

    def _update(self, p, grad, state, group):
        raise NotImplementedError

    def step(self, closure=None):
        loss = self._closure(closure)
        with no_grad():
            for g in self.param_groups:
                for p in g["params"]:
                    if p.grad is None:
                        continue
                    st = self.state[p]
                    if len(st) == 0:
                        self._init_state(st, p, g)
                    grad = _grad_of(p, g["maximize"])
                    st["step"].add_(1)
                    self._update(p, grad, st, g)
        return loss


def _ignored_kwargs_doc(*names):
    """The docstring paragraph on the torch keywords that ember accepts and ignores."""
    listed = ", ".join(f"``{n}``" for n in names[:-1]) + f" and ``{names[-1]}``"
    return f"""
    Accepted and ignored: {listed}.
    They are kept in the param groups, as torch keeps them, but ember's updates are already fused
    C++ calls or plain loops over ember tensor ops on the CPU: no multi-tensor kernels, CUDA graphs
    or autograd through the step."""
