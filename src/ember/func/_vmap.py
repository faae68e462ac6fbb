"""vmap with torch.func's interface (in_dims, out_dims, randomness, chunk_size) and errors.

The function runs once, on BatchedTensors (Note [Batched vmap] in _batched.py): each op runs its
batching rule over the whole mapped dimension, or once per slice where it has none. Two cases run
the function once per index of the mapped dimension instead, on that index's slices (one unbind per
input, so gradients flow back to the batched inputs), stacking the outputs along out_dims: a
randomness other than 'error' ('same': every call gets the same random stream, 'different': the
stream runs on, so a random tensor made inside differs per index) and a vmap inside another vmap
(the inner one loops over the outer's batched values). randomness='error' raises when the function
draws from the default generator."""
import functools

from .. import _C
from ._batched import BatchedTensor, batched_level
from ._transforms import _flatten, _unflatten

Tensor = _C.Tensor


def _spec_str(spec):
    if spec is None:
        return "*"
    kind, typ, specs = spec
    inner = ", ".join(_spec_str(s[1] if kind == "dict" else s) for s in specs)
    return f"{typ.__name__}({inner})"


def _broadcast_dims(dims, spec, what, where):
    """dims (an int/None, or a pytree of them matching `spec` down to some level) spread over the leaves of spec."""
    if dims is None or isinstance(dims, int):
        return [dims] * _count(spec)
    if spec is None:
        raise ValueError(f"{where}: {what} is not compatible with the structure of `{'inputs' if what == 'in_dims' else 'outputs'}`. "
                         f"{what} has structure {type(dims).__name__} but {'inputs' if what == 'in_dims' else 'outputs'} has structure *.")
    kind, typ, specs = spec
    if kind == "dict":
        if not isinstance(dims, dict) or set(dims) != {k for k, _ in specs}:
            raise ValueError(f"{where}: {what} is not compatible with the structure of "
                             f"`{'inputs' if what == 'in_dims' else 'outputs'}`. {what} has structure {dims!r} but "
                             f"{'inputs' if what == 'in_dims' else 'outputs'} has structure {_spec_str(spec)}.")
        out = []
        for k, s in specs:
            out += _broadcast_dims(dims[k], s, what, where)
        return out
    if not isinstance(dims, (tuple, list)) or len(dims) != len(specs):
        raise ValueError(f"{where}: {what} is not compatible with the structure of "
                         f"`{'inputs' if what == 'in_dims' else 'outputs'}`. {what} has structure {dims!r} but "
                         f"{'inputs' if what == 'in_dims' else 'outputs'} has structure {_spec_str(spec)}.")
    out = []
    for d, s in zip(dims, specs):
        out += _broadcast_dims(d, s, what, where)
    return out


def _count(spec):
    if spec is None:
        return 1
    kind, _, specs = spec
    return sum(_count(s[1] if kind == "dict" else s) for s in specs)


def vmap(func, in_dims=0, out_dims=0, randomness="error", *, chunk_size=None):
    """func mapped over a dimension of its inputs (torch.func.vmap); see the module's note."""
    if randomness not in ("error", "different", "same"):
        raise RuntimeError(f"Only allowed values for randomness are 'error', 'different', or 'same'. Got {randomness}")
    if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size <= 0):
        raise ValueError(f"vmap: chunk_size should be None or greater than 0. (got {chunk_size})")
    name = getattr(func, "__name__", repr(func))
    dims_for = {}  # input spec -> in_dims spread over its leaves (a call's structure is usually the last's)

    @functools.wraps(func)
    def wrapped(*args, **kwargs):
        if not isinstance(in_dims, (int, tuple)) or isinstance(in_dims, bool):
            raise ValueError(f"{_where(name, in_dims)}: expected `in_dims` to be int or a (potentially nested) tuple "
                             f"matching the structure of inputs, got: {type(in_dims)}.")
        leaves, spec = _flatten(tuple(args))
        dims = dims_for.get(spec)
        if dims is None:
            dims = [in_dims] * len(leaves) if isinstance(in_dims, int) else \
                _broadcast_dims(tuple(in_dims), spec, "in_dims", _where(name, in_dims))
            if len(dims_for) > 16:
                dims_for.clear()
            dims_for[spec] = dims
        # one pass: check each mapped input, take its size, and wrap it for the batched path
        size = None
        nested = False
        vals = []
        for x, d in zip(leaves, dims):
            if d is None:
                vals.append(x)
                continue
            tx = type(x)
            if tx is BatchedTensor:
                nested = True
            elif tx is not Tensor and not isinstance(x, (Tensor, BatchedTensor)):
                raise ValueError(f"{_where(name, in_dims)}: Got in_dim={d} for an input but the input is of type "
                                 f"{type(x)}. We cannot vmap over non-Tensor arguments, please use None as the "
                                 "respective in_dim")
            nd = x.dim()
            if nd == 0 or not -nd <= d < nd:
                raise ValueError(f"{_where(name, in_dims)}: Got in_dim={d} for some input, but that input is a Tensor "
                                 f"of dimensionality {nd} so expected in_dim to satisfy -{nd} <= in_dim < {nd}.")
            n = x.size(d)
            if size is None:
                size = n
            elif n != size:
                sizes = [x.size(d) for x, d in zip(leaves, dims) if d is not None]
                raise ValueError("vmap: Expected all tensors to have the same size in the mapped dimension, got "
                                 f"sizes {sizes} for the mapped dimension")
            vals.append(BatchedTensor(x if d == 0 or d % nd == 0 else x.movedim(d, 0)) if not nested else None)
        if size is None:
            raise ValueError(f"{_where(name, in_dims)}: at least one input must be a Tensor mapped over a dimension "
                             "(in_dims all None)")
        nested = nested or any(type(x) is BatchedTensor for x, d in zip(leaves, dims) if d is None)
        get_rng_state, set_rng_state = _rng()
        if randomness == "error" and not nested:
            gen = _C.default_generator
            start, key = get_rng_state(), gen._state_key()
            with batched_level(size):
                out = func(*_unflatten(vals, spec), **kwargs)
            if gen._state_key() != key:
                set_rng_state(start)
                raise RuntimeError("vmap: called random operation while in randomness error mode. Please either use "
                                   "the 'same' or 'different' randomness flags on vmap or perform the randomness "
                                   "operation out of vmap")
            return _unbatch_outputs(out, out_dims, name, size)
        if not nested:  # Note [Batched randomness]: batched, unless a draw escapes the rules
            start = get_rng_state()
            token = _C._batched_randomness_begin()
            # 'same': a draw outside the batching rules is one value for every slice, as asked; only
            # the rules' draws are checked. 'different': every draw must come from a rule.
            _C._draws_blocked(randomness == "different")
            try:
                with batched_level(size, randomness):
                    out = func(*_unflatten(vals, spec), **kwargs)
            except _C._UnbatchedDraw as e:
                if _C._batched_randomness_end(token):
                    raise RuntimeError(
                        f"vmap(randomness='{randomness}'): {e}, after the function had written in place to a "
                        "tensor made before the call; ember runs such a function batched, and one whose "
                        "draws have no batching rule once per index, which would repeat that write. Draw "
                        "the random values outside the vmapped function, or make the write out of place.") from None
                set_rng_state(start)
            except BaseException:
                _C._batched_randomness_end(token)
                raise
            else:
                _C._batched_randomness_end(token)
                return _unbatch_outputs(out, out_dims, name, size)
        start = get_rng_state() if randomness != "different" else None
        results = []
        # one unbind per mapped input: one backward node gathers every slice's gradient
        slices = [None if d is None else x.unbind(d) for x, d in zip(leaves, dims)]
        for i in range(size):
            if randomness == "same" and i:
                set_rng_state(start)
            sliced = [x if d is None else sl[i] for x, d, sl in zip(leaves, dims, slices)]
            out = func(*_unflatten(sliced, spec), **kwargs)
            if randomness == "error" and not _same_state(start, get_rng_state()):
                set_rng_state(start)
                raise RuntimeError("vmap: called random operation while in randomness error mode. Please either use "
                                   "the 'same' or 'different' randomness flags on vmap or perform the randomness "
                                   "operation out of vmap")
            results.append(out)
        return _stack_outputs(results, out_dims, name)
    return wrapped


def _where(name, in_dims):
    return f"vmap({name}, in_dims={in_dims}, ...)(<inputs>)"


def _rng():
    import ember
    return ember.get_rng_state, ember.set_rng_state


def _same_state(a, b):
    return a.shape == b.shape and bool((a == b).all())


def _unbatch_outputs(out, out_dims, name, size):
    """The batched path's outputs: each BatchedTensor's value with its mapped dimension at out_dims; an
    output that does not depend on the mapped inputs is expanded along it, as torch's."""
    if type(out) is BatchedTensor and out_dims == 0:  # (the common case, without the pytree walk)
        return out.value
    flat, spec = _flatten(out)
    where = f"vmap({name}, ..., out_dims={out_dims})(<inputs>)"
    if not isinstance(out_dims, (int, tuple, list)) and out_dims is not None or isinstance(out_dims, bool):
        raise ValueError(f"{where}: expected `out_dims` to be int or a (potentially nested) tuple matching the "
                         f"structure of outputs, got: {type(out_dims)}.")
    dims = _broadcast_dims(out_dims, spec, "out_dims", where)
    res = []
    for x, d in zip(flat, dims):
        if d is None:
            if isinstance(x, BatchedTensor):
                raise ValueError(f"vmap({name}, ...): `{name}` can not return a BatchedTensor when out_dim is None")
            res.append(x)
            continue
        if not isinstance(x, (Tensor, BatchedTensor)):
            raise ValueError(f"vmap({name}, ...): `{name}` must only return Tensors, got type {type(x)}. "
                             "Did you mean to set out_dims= to None for output?")
        v = x.value if isinstance(x, BatchedTensor) else x.unsqueeze(0).expand(size, *x.shape)
        nd = v.dim()
        if not -nd <= d < nd:
            raise ValueError(f"vmap({name}, ...): out_dims={d} for an output of dimensionality {nd - 1}: expected "
                             f"-{nd} <= out_dim < {nd}")
        res.append(v if d % nd == 0 else v.movedim(0, d % nd))
    return _unflatten(res, spec)


def _stack_outputs(results, out_dims, name):
    flat, spec = _flatten(results[0])
    where = f"vmap({name}, ..., out_dims={out_dims})(<inputs>)"
    if not isinstance(out_dims, (int, tuple, list)) and out_dims is not None or isinstance(out_dims, bool):
        raise ValueError(f"{where}: expected `out_dims` to be int or a (potentially nested) tuple matching the "
                         f"structure of outputs, got: {type(out_dims)}.")
    dims = _broadcast_dims(out_dims, spec, "out_dims", where)
    per_call = []
    for r in results:
        leaves, s = _flatten(r)
        if s != spec:
            raise ValueError(f"vmap({name}, ...): `{name}` returned outputs of different structures for different "
                             "indices of the mapped dimension")
        per_call.append(leaves)
    stacked = []
    for k, d in enumerate(dims):
        column = [leaves[k] for leaves in per_call]
        if d is None:
            stacked.append(column[0])
            continue
        if not isinstance(column[0], (Tensor, BatchedTensor)):
            raise ValueError(f"vmap({name}, ...): `{name}` must only return Tensors, got type {type(column[0])}. "
                             "Did you mean to set out_dims= to None for output?")
        nd = column[0].dim() + 1
        if not -nd <= d < nd:
            raise ValueError(f"vmap({name}, ...): out_dims={d} for an output of dimensionality {nd - 1}: expected "
                             f"-{nd} <= out_dim < {nd}")
        stacked.append(_C.stack(column, d % nd))
    return _unflatten(stacked, spec)
