"""torch.func's autograd transforms over ember's autograd: grad, grad_and_value, vjp, jvp, jacrev,
jacfwd and hessian, with torch's argnums / has_aux / pytree conventions and error messages.

Each runs the function once on fresh inputs that require grad and differentiates with
autograd.grad (jacobians: one backward pass per output element, the graph retained). A transform
inside another (grad of grad, hessian = jacfwd(jacrev), grad of vjp) or given inputs that require
grad differentiates with create_graph=True, and its fresh inputs are differentiable aliases of the
given ones (not detached copies), so the outer level differentiates through the inner's result.
jvp and jacfwd use reverse mode (ember has no forward-mode AD): jvp is the derivative of a vjp in
its cotangent."""
import functools
import threading

from .. import _C
from ._batched import BatchedTensor, batch_size, materialize

Tensor = _C.Tensor
_state = threading.local()


# ---- pytrees: tuples, lists and dicts of leaves ---------------------------------------------------

def _flatten(tree):
    """(leaves, spec): spec is None for a leaf, else (kind, type, specs of the children) in nested
    tuples (hashable, so a transform can cache what it derives from a spec)."""
    if type(tree) is Tensor:
        return [tree], None
    if isinstance(tree, (tuple, list)):
        leaves, specs = [], []
        for x in tree:
            if type(x) is Tensor:  # (a leaf without the call: most children are tensors)
                leaves.append(x)
                specs.append(None)
                continue
            lv, sp = _flatten(x)
            leaves += lv
            specs.append(sp)
        return leaves, ("seq", type(tree), tuple(specs))
    if isinstance(tree, dict):
        leaves, specs = [], []
        for k, x in tree.items():
            if type(x) is Tensor:
                leaves.append(x)
                specs.append((k, None))
                continue
            lv, sp = _flatten(x)
            leaves += lv
            specs.append((k, sp))
        return leaves, ("dict", type(tree), tuple(specs))
    return [tree], None


def _unflatten(leaves, spec):
    return _build(spec, iter(leaves))


def _build(sp, it):
    # (a module-level function: a nested one that calls itself is a reference cycle through its
    # closure, which kept the leaves, a transform's results, alive until the garbage collector ran)
    if sp is None:
        return next(it)
    kind, typ, specs = sp
    if kind == "dict":
        return typ([(k, next(it) if s is None else _build(s, it)) for k, s in specs])
    items = [next(it) if s is None else _build(s, it) for s in specs]
    return typ(*items) if hasattr(typ, "_fields") else typ(items)


# ---- argnums -------------------------------------------------------------------------------------

def _wrap_argnum(argnum, n):
    if not isinstance(argnum, int):
        raise RuntimeError(f"argnum must be int, got: {type(argnum)}")
    if 0 <= argnum < n:
        return argnum
    if -n <= argnum < 0:
        return argnum + n
    raise RuntimeError(f"Got argnum={argnum}, but only {n} positional inputs")


def _argnums(argnums, n):
    if isinstance(argnums, int):
        return _wrap_argnum(argnums, n)
    if isinstance(argnums, tuple):
        if not argnums:
            raise RuntimeError("argnums must be non-empty")
        if len(set(argnums)) != len(argnums):
            raise RuntimeError(f"argnums elements must be unique, got {argnums}")
        return tuple(_wrap_argnum(a, n) for a in argnums)
    raise RuntimeError(f"argnums must be int or Tuple[int, ...], got: {type(argnums)}")


def _fresh(x):
    """A detached leaf, or for a tensor that requires grad (an outer transform's input) a
    differentiable alias, so the outer level sees through this one. Under a batched vmap each slice
    gets its own: an unbatched tensor is copied per slice (Note [Batched vmap])."""
    if not isinstance(x, BatchedTensor) and batch_size() is not None:
        x = materialize(x, batch_size()) if not x.requires_grad else \
            BatchedTensor(x.unsqueeze(0).expand(batch_size(), *x.shape))
    if isinstance(x, BatchedTensor):
        v = x.value
        return BatchedTensor(v.view_as(v) if v.requires_grad else v.detach().requires_grad_(True))
    return x.view_as(x) if x.requires_grad else x.detach().requires_grad_(True)


def _leaf_inputs(tree):
    """Fresh inputs that require grad, one per tensor of `tree` (anything else: torch's ValueError)."""
    leaves, spec = _flatten(tree)
    for x in leaves:
        if not isinstance(x, (Tensor, BatchedTensor)):
            raise ValueError(f"Thing passed to transform API must be Tensor, got {type(x)}")
    fresh = [_fresh(x) for x in leaves]
    return fresh, _unflatten(fresh, spec), spec


def _graph_needed(tree):
    """True when a transform's result must stay differentiable: inside another transform, or for
    inputs that require grad."""
    return getattr(_state, "depth", 0) > 1 or any(isinstance(x, (Tensor, BatchedTensor)) and x.requires_grad
                                                  for x in _flatten(tree)[0])


def _differentiable_args(args, argnums):
    """(the fresh leaves, their pytree spec, args with the argnums arguments replaced by them)."""
    nums = _argnums(argnums, len(args))
    chosen = args[nums] if isinstance(nums, int) else tuple(args[i] for i in nums)
    flat, diff_args, spec = _leaf_inputs(chosen)
    new_args = list(args)
    if isinstance(nums, int):
        new_args[nums] = diff_args
    else:
        for i, a in zip(nums, diff_args):
            new_args[i] = a
    return flat, spec, new_args


class _Level:
    """One transform running: a transform started inside another needs higher-order gradients."""

    def __init__(self, api):
        self.api = api

    def __enter__(self):
        _state.depth = getattr(_state, "depth", 0) + 1
        import ember  # (a relative import here cost microseconds per transform call)
        self.enable = ember.enable_grad()
        self.enable.__enter__()
        return self

    def __exit__(self, *exc):
        self.enable.__exit__(*exc)
        _state.depth -= 1
        return False


def _split_aux(out, has_aux, api):
    if not has_aux:
        return out, None
    if not (isinstance(out, tuple) and len(out) == 2):
        raise RuntimeError(f"{api}: output of function f should be a tuple: (output, aux) if has_aux is True")
    return out


def _detach_tree(tree):
    """aux (or a value) detached; as torch, only tensors may be in it."""
    leaves, spec = _flatten(tree)
    for x in leaves:
        if not isinstance(x, (Tensor, BatchedTensor)):
            raise RuntimeError(f"Expected tensors, got unsupported type {type(x)}")
    return _unflatten([x.detach() for x in leaves], spec)


def _grads(outputs, inputs, grad_outputs=None, retain_graph=False, create_graph=False):
    """Gradients of `outputs` with respect to `inputs`; zeros for inputs the outputs do not use.
    Batched values (Note [Batched vmap]) are differentiated through their values: the slices are
    independent, so one backward pass gives every slice's gradient."""
    import ember
    autograd, ones_like, zeros_like = ember.autograd, ember.ones_like, ember.zeros_like
    if any(isinstance(t, BatchedTensor) for t in list(outputs) + list(inputs) + list(grad_outputs or [])):
        n = next(t.value.shape[0] for t in list(outputs) + list(inputs) + list(grad_outputs or [])
                 if isinstance(t, BatchedTensor))
        val = lambda t: t.value if isinstance(t, BatchedTensor) else t  # noqa: E731
        outs = [val(o) for o in outputs]
        if grad_outputs is None:
            gos = [ones_like(o) if isinstance(o0, BatchedTensor) else None for o, o0 in zip(outs, outputs)]
        else:
            gos = [val(g) if isinstance(g, BatchedTensor) or not isinstance(o0, BatchedTensor)
                   else g.unsqueeze(0).expand(n, *g.shape) for g, o0 in zip(grad_outputs, outputs)]
        res = _grads(outs, [val(x) for x in inputs], gos, retain_graph, create_graph)
        return [BatchedTensor(r) if isinstance(x, BatchedTensor) else r for r, x in zip(res, inputs)]
    needs = [o for o in outputs if o.requires_grad]
    if not needs:
        return [zeros_like(x) for x in inputs]
    go = None
    if grad_outputs is not None:
        go = [g for o, g in zip(outputs, grad_outputs) if o.requires_grad]
    got = autograd.grad(needs, inputs, grad_outputs=go, retain_graph=retain_graph or create_graph,
                        create_graph=create_graph, allow_unused=True)
    return [zeros_like(x) if g is None else g for x, g in zip(inputs, got)]


# ---- the transforms ------------------------------------------------------------------------------

def grad_and_value(func, argnums=0, has_aux=False):
    """A function returning (the gradient of func's scalar output with respect to the argnums
    arguments, func's output); with has_aux, func returns (output, aux) and the value is too."""
    api = "grad_and_value(f)(*args)"

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with _Level("grad"):
            graph = _graph_needed(args)
            flat, spec, new_args = _differentiable_args(args, argnums)
            out, aux = _split_aux(func(*new_args, **kwargs), has_aux, api)
            if not isinstance(out, (Tensor, BatchedTensor)):
                raise RuntimeError(f"{api}: Expected f(*args) to return a Tensor, got {type(out)}")
            if out.dim() != 0:
                raise RuntimeError(f"{api}: Expected f(*args) to return a scalar Tensor, got tensor with "
                                   f"{out.dim()} dims. Maybe you wanted to use the vjp or jacrev APIs instead?")
            grads = _unflatten(_grads([out], flat, create_graph=graph), spec)
        if graph:
            return (grads, (out, aux)) if has_aux else (grads, out)
        value = out.detach()
        return (grads, (value, _detach_tree(aux))) if has_aux else (grads, value)
    return wrapper


def grad(func, argnums=0, has_aux=False):
    """The gradient of func's scalar output with respect to the argnums arguments (with has_aux:
    (gradient, aux))."""
    gv = grad_and_value(func, argnums, has_aux)

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        g, value = gv(*args, **kwargs)
        return (g, value[1]) if has_aux else g
    return wrapper


def vjp(func, *primals, has_aux=False):
    """(func(*primals), vjp_fn[, aux]): vjp_fn(cotangents) gives the vector-Jacobian products, one per
    primal, as a tuple; it can be called more than once."""
    api = "vjp(f, *primals)"
    with _Level("vjp"):
        graph = _graph_needed(primals)
        flat, diff_primals, spec = _leaf_inputs(primals)
        out, aux = _split_aux(func(*diff_primals), has_aux, api)
    out_leaves, out_spec = _flatten(out)
    for o in out_leaves:
        if not isinstance(o, (Tensor, BatchedTensor)):
            raise RuntimeError(f"{api}: Expected f to be a function that has only Tensors as outputs, got {type(o)}")

    def vjp_fn(cotangents, retain_graph=True):
        ct_leaves, ct_spec = _flatten(cotangents)
        if ct_spec != out_spec or len(ct_leaves) != len(out_leaves):
            raise RuntimeError("Expected pytree structure of cotangents to be the same as pytree structure of "
                               "outputs to the function")
        for o, c in zip(out_leaves, ct_leaves):
            if not isinstance(c, (Tensor, BatchedTensor)) or tuple(c.shape) != tuple(o.shape):
                raise RuntimeError(f"Mismatch in shape: grad_output has a shape of "
                                   f"{tuple(getattr(c, 'shape', ()))} and output has a shape of {tuple(o.shape)}.")
        with _Level("vjp"):
            g = _grads(out_leaves, flat, ct_leaves, retain_graph=retain_graph,
                       create_graph=graph or _graph_needed(ct_leaves))
        return _unflatten(g, spec)

    if graph:
        return (out, vjp_fn, aux) if has_aux else (out, vjp_fn)
    value = _detach_tree(out)
    return (value, vjp_fn, _detach_tree(aux)) if has_aux else (value, vjp_fn)


def jvp(func, primals, tangents, *, strict=False, has_aux=False):
    """(func(*primals), the Jacobian-vector product with `tangents`), as torch.func.jvp; computed by
    reverse mode as the derivative of a vector-Jacobian product in its cotangent (the double-vjp
    trick), so it costs two backward passes."""
    from .. import zeros_like
    api = "jvp(f, primals, tangents)"
    if not isinstance(primals, tuple):
        raise RuntimeError(f"{api}: Expected primals to be a tuple. E.g. it should be valid to call f(*primals).")
    if not isinstance(tangents, tuple) or len(tangents) != len(primals):
        raise RuntimeError(f"{api}: Expected primals and tangents to have the same python structure. For example, if "
                           f"primals is a tuple of 3 tensors, tangents also must be. Got primals with structure "
                           f"{len(primals)} and tangents with structure "
                           f"{len(tangents) if isinstance(tangents, tuple) else type(tangents).__name__}")
    p_leaves, p_spec = _flatten(primals)
    t_leaves, t_spec = _flatten(tangents)
    if p_spec != t_spec:
        raise RuntimeError(f"{api}: Expected primals and tangents to have the same python structure.")
    for p, t in zip(p_leaves, t_leaves):
        if not isinstance(t, (Tensor, BatchedTensor)) or tuple(t.shape) != tuple(p.shape):
            raise RuntimeError(f"{api}: Expected primals and tangents to have the same shape, got "
                               f"{tuple(getattr(p, 'shape', ()))} and {tuple(getattr(t, 'shape', ()))}")
    with _Level("jvp"):
        graph = _graph_needed(primals) or _graph_needed(tangents)
        flat, diff_primals, _ = _leaf_inputs(primals)
        out, aux = _split_aux(func(*diff_primals), has_aux, api)
        out_leaves, out_spec = _flatten(out)
        for o in out_leaves:
            if not isinstance(o, (Tensor, BatchedTensor)):
                raise RuntimeError(f"{api}: Expected f to be a function that has only Tensors as outputs, "
                                   f"got {type(o)}")
        # u -> J^T u is linear in u; its derivative in u along the tangents is J t
        us = [zeros_like(o).requires_grad_(True) for o in out_leaves]
        vjps = _grads(out_leaves, flat, us, retain_graph=True, create_graph=True)
        outs = [v for v in vjps if v.requires_grad]
        tans = [t for v, t in zip(vjps, t_leaves) if v.requires_grad]
        jv = _grads(outs, us, tans, create_graph=graph) if outs else [zeros_like(o) for o in out_leaves]
    if not graph:
        out = _detach_tree(out)
        jv = [j.detach() for j in jv]
        aux = _detach_tree(aux) if has_aux else None
    res = (out, _unflatten(jv, out_spec))
    return res + (aux,) if has_aux else res


def jacrev(func, argnums=0, *, has_aux=False, chunk_size=None, _preallocate_and_copy=False):
    """The Jacobian of func's output(s) with respect to the argnums arguments: for an output of shape
    O and an input of shape I, a tensor of shape O + I (pytrees: nested as torch nests them), by
    reverse mode, one backward pass per output element."""
    if chunk_size is not None and chunk_size <= 0:
        raise ValueError("jacrev: `chunk_size` should be greater than 0.")
    return _jacobian(func, argnums, has_aux, "jacrev")


def jacfwd(func, argnums=0, has_aux=False, *, randomness="error"):
    """torch.func.jacfwd's result (the same Jacobian as jacrev's), computed by reverse mode: ember has
    no forward-mode AD yet."""
    if randomness not in ("error", "different", "same"):
        raise RuntimeError(f"Only allowed values for randomness are 'error', 'different', or 'same'. "
                           f"Got {randomness}")
    return _jacobian(func, argnums, has_aux, "jacfwd")


def hessian(func, argnums=0):
    """The Hessian of func's scalar output with respect to the argnums arguments: jacfwd(jacrev(func)),
    as torch.func.hessian (both by reverse mode here)."""
    return jacfwd(jacrev(func, argnums), argnums)


def _jacobian(func, argnums, has_aux, api):
    from .. import stack, zeros

    @functools.wraps(func)
    def wrapper(*args):
        with _Level(api):
            graph = _graph_needed(args)
            flat, in_spec, new_args = _differentiable_args(args, argnums)
            out, aux = _split_aux(func(*new_args), has_aux, f"{api}(f, ...)(*args)")
            out_leaves, out_spec = _flatten(out)
            for o in out_leaves:
                if not isinstance(o, (Tensor, BatchedTensor)):
                    raise RuntimeError(f"{api}(f, ...)(*args): Expected f to be a function that has only "
                                       f"Tensors as outputs, got {type(o)}")
            per_output = []
            for o in out_leaves:
                n = o.numel()
                rows = [[] for _ in flat]
                for e in range(n):
                    basis = zeros(n, dtype=o.dtype)
                    basis[e] = 1
                    cts = [basis.reshape(o.shape) if q is o else zeros(tuple(q.shape), dtype=q.dtype)
                           for q in out_leaves]
                    g = _grads(out_leaves, flat, cts, retain_graph=True, create_graph=graph)
                    for r, gi in zip(rows, g):
                        r.append(gi)
                jac = [stack(r, 0).reshape(tuple(o.shape) + tuple(x.shape)) if r else
                       zeros(tuple(o.shape) + tuple(x.shape), dtype=x.dtype) for r, x in zip(rows, flat)]
                per_output.append(_unflatten(jac, in_spec))
        result = _unflatten(per_output, out_spec)
        if graph:
            return (result, aux) if has_aux else result
        return (result, _detach_tree(aux)) if has_aux else result
    return wrapper
