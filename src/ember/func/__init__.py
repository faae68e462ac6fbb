"""ember.func (torch.func): calling a module with parameters and buffers given from outside
(functional_call), and stacking the state of several models of one class (stack_module_state),
with torch's semantics and errors; the autograd transforms (grad, grad_and_value, vjp, jvp, jacrev,
jacfwd, hessian, nested in one another: _transforms.py), vmap (_vmap.py, batching rules in
_batched.py) and einops' rearrange (_rearrange.py)."""
from collections.abc import Sequence

from .. import _C
from ._transforms import _detach_tree, grad, grad_and_value, hessian, jacfwd, jacrev, jvp, vjp
from ._rearrange import rearrange
from ._vmap import vmap

__all__ = ["functional_call", "stack_module_state", "grad", "grad_and_value", "vjp", "jvp", "jacrev", "jacfwd",
           "hessian", "vmap", "linearize", "functionalize", "replace_all_batch_norm_modules_", "debug_unwrap",
           "rearrange"]


def linearize(func, *primals):
    """(func(*primals), jvp_fn): jvp_fn(*tangents) is the Jacobian-vector product at primals, as
    torch.func.linearize's (each call runs jvp again rather than replaying a traced linear graph)."""
    out = func(*primals)

    def jvp_fn(*tangents):
        return jvp(func, primals, tangents)[1]
    return _detach_tree(out), jvp_fn


def functionalize(func, *, remove="mutations"):
    """torch.func.functionalize: a function with func's results and its effect on its inputs (ember
    runs eagerly, so func itself, checked as torch checks its argument)."""
    if remove not in ("mutations", "mutations_and_views"):
        raise RuntimeError(f"functionalize(f, remove='mutations'): received invalid argument for remove={remove}. "
                           "Valid options are:\n     remove='mutations': all inplace and out= operators will be "
                           "removed from the program, and replaced with their out-of-place equivalents.\n     "
                           "remove='mutations_and_views': In addition to the above, all aliasing operators {view} "
                           "will be replaced with their non-aliasing counterparts, {view}_copy.\n")
    return func


def replace_all_batch_norm_modules_(root):
    """In place, as torch.func's: every batch norm module of root stops tracking running statistics
    (running_mean / running_var / num_batches_tracked become None), so it can run under vmap."""
    from ..nn.modules.normalization import _BatchNorm
    for m in root.modules():
        if isinstance(m, _BatchNorm):
            m.running_mean = None
            m.running_var = None
            m.num_batches_tracked = None
            m.track_running_stats = False
    return root


def debug_unwrap(tensor, *, recurse=True):
    """The tensor under vmap's batched wrapper (all slices, the mapped dim first); a plain tensor itself."""
    from ._batched import BatchedTensor
    while isinstance(tensor, BatchedTensor):
        tensor = tensor.value
        if not recurse:
            break
    return tensor


def functional_call(module, parameter_and_buffer_dicts, args=None, kwargs=None, *, tie_weights=True, strict=False):
    """module(*args, **kwargs) with its parameters and buffers replaced, for the call only, by the
    tensors of `parameter_and_buffer_dicts` (a dict of dotted names, or a sequence of dicts with
    disjoint keys); names it lacks are left as they are (strict=True raises), tied tensors stay tied
    (tie_weights), and the module is restored however the call ends."""
    if isinstance(parameter_and_buffer_dicts, dict):
        given = parameter_and_buffer_dicts
    elif isinstance(parameter_and_buffer_dicts, Sequence):
        if not all(isinstance(d, dict) for d in parameter_and_buffer_dicts):
            raise ValueError("Expected all elements of parameter_and_buffer_dicts to be dictionaries")
        counts = {}
        for d in parameter_and_buffer_dicts:
            for k in d:
                counts[k] = counts.get(k, 0) + 1
        repeated = [k for k, n in counts.items() if n > 1]
        if repeated:
            raise ValueError(f"{repeated} appeared in multiple dictionaries; behavior of functional call is ambiguous")
        given = {k: v for d in parameter_and_buffer_dicts for k, v in d.items()}
    else:
        raise ValueError("Expected parameter_and_buffer_dicts to be a dict, or a list/tuple of dicts, but got "
                         f"{type(parameter_and_buffer_dicts)}")
    if args is None:
        args = ()
    elif not isinstance(args, tuple):
        args = (args,)
    if kwargs is None:
        kwargs = {}
    state = _named_state(module)
    values = _untie(state, given) if tie_weights else given
    if strict:
        names = list(dict.fromkeys(n for n, *_ in state))
        known = set(names)
        unexpected = [k for k in values if k not in known]
        missing = [k for k in names if k not in values]
        errors = []
        if unexpected:
            errors.append(f"Unexpected key(s): {', '.join(map(repr, unexpected))}.")
        if missing:
            errors.append(f"Missing key(s): {', '.join(map(repr, missing))}.")
        if errors:
            raise RuntimeError(f"Error(s) in reparametrizing for {module._get_name()}:\n\t" + "\n\t".join(errors))
    where = {n: (slots, leaf) for n, _, slots, leaf in state}
    originals = []
    try:
        for name, value in values.items():
            found = where.get(name)
            if found is not None and found[1] in found[0]:  # a parameter's or buffer's slot, as walked
                slots, leaf = found
                originals.append((name, slots, leaf, slots[leaf], True))
                slots[leaf] = value
            else:  # a plain attribute, or a name the module lacks
                d, leaf = _slot(module, name)
                originals.append((name, d, leaf, _swap(d, leaf, value), False))
        return module(*args, **kwargs)
    finally:
        after = {}
        for name, d, leaf, old, direct in reversed(originals):
            if direct and leaf in d:
                after[name] = d[leaf]
                d[leaf] = old
            else:  # a module __dict__ (or a slot the call emptied: put back wherever the name lives now)
                after[name] = _swap(d if not direct else _slot(module, name)[0], leaf, old)
        for k in given:  # as torch: the dict sees what the module held at the end (its own rebinds)
            if k in after:
                given[k] = after[k]


def _named_state(module):
    """(dotted name, tensor, the module's _parameters or _buffers dict, its key) for every parameter
    and buffer, tied ones under each of their names (named_modules(remove_duplicate=False), walked
    over the modules' dicts directly: this runs on every functional_call)."""
    out = []
    stack = [("", module)]
    while stack:
        prefix, m = stack.pop()
        d = m.__dict__
        for kind in ("_parameters", "_buffers"):
            slots = d[kind]
            for n, t in slots.items():
                if t is not None:
                    out.append((prefix + n, t, slots, n))
        children = d["_modules"]
        if children:
            for n, child in reversed(list(children.items())):
                if child is not None:
                    stack.append((f"{prefix}{n}.", child))
    return out


def _untie(state, given):
    """The given values with tied names filled in: a tensor the module holds under several names
    (`state`: _named_state's list) gets the value given for any of them (two different values for
    one tied tensor: ValueError)."""
    if len({id(t) for _, t, *_ in state}) == len(state):
        return given  # nothing tied
    by_tensor = {}
    for n, t, *_ in state:
        by_tensor.setdefault(id(t), []).append(n)
    out = None
    for names in by_tensor.values():
        if len(names) < 2:
            continue
        named = [n for n in dict.fromkeys(names) if n in given]
        if not named:
            continue
        value = given[named[0]]
        if any(given[n] is not value for n in named[1:]):
            raise ValueError(f"functional_call got multiple values for keys {sorted(named)}, which are tied. "
                             "Consider using tie_weights=False")
        out = dict(given) if out is None else out
        for n in names:
            out[n] = value
    return given if out is None else out


def _slot(module, name):
    """The __dict__ of the module that holds the dotted `name`, and the name's last part."""
    *path, leaf = name.split(".")
    m = module
    for p in path:
        sub = m.__dict__["_modules"].get(p)
        m = sub if sub is not None else getattr(m, p)
    return m.__dict__, leaf


def _swap(d, leaf, value):
    """Put `value` in the module dict `d` under `leaf` (a parameter's or buffer's slot, else a plain
    attribute); returns what was there (_MISSING: nothing, and _MISSING put back removes it)."""
    for kind in ("_parameters", "_buffers"):
        if leaf in d[kind]:
            old = d[kind][leaf]
            if value is _MISSING:
                del d[kind][leaf]
            else:
                d[kind][leaf] = value
            return old
    old = d.get(leaf, _MISSING)
    if value is _MISSING:
        d.pop(leaf, None)
    else:
        d[leaf] = value
    return old


_MISSING = object()


def stack_module_state(models):
    """(params, buffers): each name's tensors from every model stacked along a new first dimension,
    new leaves (requiring grad when the models' do), for functional_call under vmap."""
    if len(models) == 0:
        raise RuntimeError("stack_module_state: Expected at least one model, got 0.")
    if not (all(m.training for m in models) or all(not m.training for m in models)):
        raise RuntimeError("stack_module_state: Expected all models to have the same training/eval mode.")
    if not all(type(m) is type(models[0]) for m in models):
        raise RuntimeError("stack_module_state: Expected all models to be of the same class.")
    all_params = [dict(m.named_parameters()) for m in models]
    all_buffers = [dict(m.named_buffers()) for m in models]
    params = {k: _stacked_leaf([p[k] for p in all_params], k) for k in all_params[0]}
    buffers = {k: _stacked_leaf([b[k] for b in all_buffers], k) for k in all_buffers[0]}
    return params, buffers


def _stacked_leaf(tensors, name):
    every = all(t.requires_grad for t in tensors)
    if not every and any(t.requires_grad for t in tensors):
        raise RuntimeError(f"Expected {name} from each model to have the same .requires_grad")
    out = _C.stack([t.detach() for t in tensors], 0)
    return out.requires_grad_() if every else out
