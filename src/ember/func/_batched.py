"""Batched values for vmap (Note [Batched vmap]).

Note [Batched vmap]: inside vmap the function sees a BatchedTensor for each mapped input: `value`
holds every slice, the mapped dimension first, and the function sees the logical tensor value[i]
(shape value.shape[1:]). Every ember op handed a BatchedTensor fails to convert it and passes the call
to BatchedTensor.__torch_function__ (Note [torch function]); its methods and operators go there
directly. There a batching rule, looked up by the op's name in RULES, runs the op once on the whole
value: elementwise ops line the batch dimension up in front of the others, reductions and shape ops
shift their dims by one, products become batched products (one matmul over the mapped dimension),
the losses reduce per slice, convolutions and pools fold the mapped dimension into their batch (an
ensemble's batched weights: one grouped convolution, a group per slice). An
op without a rule (or a case its rule does not cover) runs once per slice and its results are
stacked: slower, never different. Autograd needs nothing special: the graph is recorded on the
values. A transform inside vmap (grad, vjp, jacrev) differentiates per slice by giving each slice its
own view of an unbatched input (`materialize`: an expanded leaf, whose gradient comes out per
slice), since the slices' results are independent."""
import functools
import numbers
import threading

from .. import _C

Tensor = _C.Tensor
_state = threading.local()


def batch_size():
    """The size of the mapped dimension of the batched vmap running on this thread (None outside)."""
    return getattr(_state, "size", None)


class batched_level:
    """The batched vmap running on this thread: its size, and its randomness ('same' or 'different'
    while draws are allowed in the batching rules, Note [Batched randomness]; None otherwise)."""
    def __init__(self, size, randomness=None):
        self.size, self.randomness = size, randomness

    def __enter__(self):
        self.prev = getattr(_state, "size", None), getattr(_state, "randomness", None)
        _state.size, _state.randomness = self.size, self.randomness

    def __exit__(self, *exc):
        _state.size, _state.randomness = self.prev
        return False


def randomness():
    """'same' or 'different' inside a batched vmap that lets its rules draw; None otherwise."""
    return getattr(_state, "randomness", None)


class rule_draws:
    """A batching rule's own draws (Note [Batched randomness]): allowed while inside."""
    def __enter__(self):
        self.prev = _C._draws_blocked(False)

    def __exit__(self, *exc):
        _C._draws_blocked(self.prev)
        return False


def dropout_mask(input, shape, draw):
    """The keep mask of a dropout of `input` (a BatchedTensor) under batched randomness: one mask per
    slice ('different'), or one for all ('same'); draw(shape) draws a mask of that shape."""
    with rule_draws():
        if randomness() == "same":
            return draw(list(shape))
        return BatchedTensor(draw([input.value.shape[0]] + list(shape)))


class BatchedTensor:
    """A tensor seen one slice at a time by a function under vmap (the mapped dimension is value's first)."""
    __slots__ = ("value", "__weakref__")

    def __init__(self, value):
        self.value = value

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        return dispatch(func, args, kwargs or {})

    # ---- the logical tensor's metadata
    @property
    def shape(self):
        return self.value.shape[1:]

    def size(self, dim=None):
        return self.shape if dim is None else self.shape[dim]

    def dim(self):
        return self.value.dim() - 1

    ndim = property(dim)

    def numel(self):
        n = 1
        for s in self.shape:
            n *= s
        return n

    def __len__(self):
        if self.dim() == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    dtype = property(lambda self: self.value.dtype)
    device = property(lambda self: self.value.device)
    layout = property(lambda self: self.value.layout)
    requires_grad = property(lambda self: self.value.requires_grad)
    is_leaf = property(lambda self: self.value.is_leaf)
    grad_fn = property(lambda self: self.value.grad_fn)
    T = property(lambda self: self.permute(*range(self.dim() - 1, -1, -1)))
    mT = property(lambda self: dispatch(Tensor.transpose, (self, -2, -1), {}))
    data = property(lambda self: BatchedTensor(self.value.data))

    def is_floating_point(self):
        return self.value.is_floating_point()

    def is_complex(self):
        return False

    def __repr__(self):
        return f"BatchedTensor(lvl=1, bdim=0, value=\n{self.value!r})"

    def __getattr__(self, name):  # Tensor's methods, each through dispatch
        f = getattr(Tensor, name)
        if not callable(f):
            raise AttributeError(f"'BatchedTensor' object has no attribute '{name}'")
        return functools.partial(_method_call, f, self)

    def __getitem__(self, idx):
        return dispatch(Tensor.__getitem__, (self, idx), {})

    def __setitem__(self, idx, v):
        dispatch(Tensor.__setitem__, (self, idx, v), {})

    def _no_value(self, *a):
        raise RuntimeError("vmap: It looks like you're calling .item() on a Tensor. We don't support vmap over "
                           "calling .item() on a Tensor, please try to rewrite what you're doing with other "
                           "operations.")
    item = tolist = numpy = __bool__ = __float__ = __int__ = __index__ = _no_value
    __hash__ = object.__hash__


def _dunder(name):
    f = getattr(Tensor, name)

    def op(self, *args):
        return dispatch(f, (self,) + args, {})
    op.__name__ = name
    return op


for _n in ("__add__", "__radd__", "__iadd__", "__sub__", "__rsub__", "__isub__", "__mul__", "__rmul__", "__imul__",
           "__truediv__", "__rtruediv__", "__itruediv__", "__floordiv__", "__rfloordiv__", "__mod__", "__rmod__",
           "__pow__", "__rpow__", "__matmul__", "__rmatmul__", "__neg__", "__pos__", "__abs__", "__invert__",
           "__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__and__", "__or__", "__xor__",
           "__rand__", "__ror__", "__rxor__"):
    if hasattr(Tensor, _n):
        setattr(BatchedTensor, _n, _dunder(_n))


# ---- dispatch ------------------------------------------------------------------------------------

def dispatch(func, args, kwargs):
    """func(*args, **kwargs) with BatchedTensors among the arguments: its rule, else once per slice."""
    if randomness() is not None:  # a rule draws only where it says how (Note [Batched randomness])
        prev = _C._draws_blocked(True)
        try:
            return _dispatch(func, args, kwargs)
        finally:
            _C._draws_blocked(prev)
    return _dispatch(func, args, kwargs)


def _dispatch(func, args, kwargs):
    rule = RULES.get(getattr(func, "__name__", None))
    if rule is not None:
        r = rule(func, args, kwargs)
        if r is not NotImplemented:
            return r
    return _per_slice(func, args, kwargs)


def _method_call(f, self, *args, **kwargs):
    return dispatch(f, (self,) + args, kwargs)


def _leaves(x, out):
    if isinstance(x, BatchedTensor):
        out.append(x)
    elif isinstance(x, (list, tuple)):
        for e in x:
            _leaves(e, out)
    return out


def _size_of(args, kwargs):
    found = _leaves(list(args) + list(kwargs.values()), [])
    return found[0].value.shape[0] if found else batch_size()


def _slice(x, i, cache):
    if isinstance(x, BatchedTensor):
        sl = cache.get(id(x))
        if sl is None:
            sl = cache[id(x)] = x.value.unbind(0)
        return sl[i]
    if isinstance(x, list):
        return [_slice(e, i, cache) for e in x]
    if isinstance(x, tuple) and not hasattr(x, "_fields"):
        return tuple(_slice(e, i, cache) for e in x)
    return x


def _combine(results, func):
    r0 = results[0]
    if isinstance(r0, Tensor):
        return BatchedTensor(_C.stack(list(results), 0))
    if isinstance(r0, tuple) and hasattr(r0, "_fields"):  # named tuples (max.dim, ...)
        return type(r0)(*[_combine([r[k] for r in results], func) for k in range(len(r0))])
    if isinstance(r0, (tuple, list)):
        return type(r0)(_combine([r[k] for r in results], func) for k in range(len(r0)))
    if r0 is None or all(r == r0 for r in results):
        return r0
    raise RuntimeError(f"vmap: {getattr(func, '__name__', func)} returned a Python value that differs across the "
                       "mapped dimension; vmap can only map functions whose results are Tensors")


def _per_slice(func, args, kwargs):
    """The fallback: func on each slice, the results stacked (in-place ops write into the slices)."""
    name = getattr(func, "__name__", "")
    if name.endswith("_") and not name.endswith("__") or name.startswith("__i") or name == "__setitem__":
        if args and not isinstance(args[0], BatchedTensor):
            raise RuntimeError(f"vmap: {name}(self, *extra_args) is not possible because there exists a Tensor "
                               "`other` in extra_args that has more elements than `self`. This happened due to "
                               "`other` being vmapped over but `self` not being vmapped over in a vmap. Please "
                               "try to use out-of-place operators instead of " + name + ".")
    n = _size_of(args, kwargs)
    cache = {}

    def one(i):
        return func(*[_slice(a, i, cache) for a in args], **{k: _slice(v, i, cache) for k, v in kwargs.items()})
    mode = randomness()
    if mode is None:
        results = [one(i) for i in range(n)]
    else:  # each slice draws its own numbers ('different'), or the same ones ('same': replayed)
        with rule_draws():
            if mode == "different":
                results = [one(i) for i in range(n)]
            else:
                gens = [_C.default_generator] + [a for a in list(args) + list(kwargs.values())
                                                 if isinstance(a, _C.Generator)]
                starts = [(g, g.get_state(), g._state_key()) for g in gens]
                results = [one(0)]
                drew = any(g._state_key() != k for g, _, k in starts)
                for i in range(1, n):
                    if drew:
                        for g, st, _ in starts:
                            g.set_state(st)
                    results.append(one(i))
    if args and isinstance(args[0], BatchedTensor) and (name.endswith("_") and not name.endswith("__")
                                                       or name.startswith("__i") or name == "__setitem__"):
        return None if name == "__setitem__" else args[0]
    return _combine(results, func)


# ---- helpers for rules ---------------------------------------------------------------------------

def _is_b(x):
    return isinstance(x, BatchedTensor)


def _phys_dim(d, n):
    """A logical dim of a rank-n slice as a dim of the value (mapped dimension first)."""
    if not isinstance(d, numbers.Integral) or isinstance(d, bool):
        raise TypeError(f"dim must be an int, got {type(d).__name__}")
    if not -n <= d < n:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {d})")
    return d % n + 1


def _others_unbatched(args, kwargs, start=1):
    return not _leaves(list(args[start:]) + list(kwargs.values()), [])


def materialize(x, n):
    """An unbatched tensor as a batched one that each slice has its own of, for per-slice gradients:
    an expanded view (no copy; ops that see its batch stride of 0 run one product for all slices,
    and its gradient comes out per slice)."""
    return BatchedTensor(x.detach().unsqueeze(0).expand(n, *x.shape))


def _value_or_expand(x, n):
    return x.value if _is_b(x) else x.unsqueeze(0).expand(n, *x.shape)


# ---- rules ---------------------------------------------------------------------------------------
RULES = {}


def _rule(*names):
    def deco(fn):
        for n in names:
            RULES[n] = fn
        return fn
    return deco


_UNARY = ("relu", "tanh", "sigmoid", "exp", "log", "neg", "negative", "abs", "sin", "cos", "tan", "sqrt", "rsqrt",
          "square", "log1p", "expm1", "log2", "log10", "exp2", "erf", "erfc", "sign", "sgn", "reciprocal", "floor",
          "ceil", "round", "trunc", "frac", "sinh", "cosh", "asin", "acos", "atan", "asinh", "acosh", "atanh",
          "logit", "nan_to_num", "clamp", "clip", "clamp_min", "clamp_max", "contiguous", "clone", "detach", "float",
          "double", "half", "bfloat16", "int", "long", "bool", "to", "_to", "type_as", "_type_as", "_gelu", "logical_not", "isnan",
          "isinf", "isfinite", "bitwise_not", "__neg__", "__pos__", "__abs__", "__invert__", "cpu", "zero_",
          "fill_", "requires_grad_", "detach_", "relu_", "tanh_", "sigmoid_", "exp_", "clamp_", "clamp_min_",
          "clamp_max_", "neg_", "abs_", "sqrt_", "log_", "nan_to_num_", "softplus", "silu", "mish", "hardtanh",
          "elu", "selu", "celu", "leaky_relu", "hardsigmoid", "hardswish", "relu6", "zeros_like", "ones_like",
          "empty_like", "full_like", "rand_like", "randn_like")


@_rule(*_UNARY)
def _unary(func, args, kwargs):
    x = args[0]
    if not _is_b(x) or not _others_unbatched(args, kwargs):
        return _elementwise(func, args, kwargs)
    name = func.__name__
    if name in ("type_as", "_type_as") and _is_b(args[1]):
        return NotImplemented
    if name in ("rand_like", "randn_like") and randomness() is not None:
        with rule_draws():  # one draw for all slices ('different'), or a slice's, shared ('same')
            if randomness() == "same":
                return func(x.value[0], *args[1:], **kwargs)
            return BatchedTensor(func(x.value, *args[1:], **kwargs))
    r = func(x.value, *args[1:], **kwargs)
    if name.endswith("_") and not name.endswith("__"):
        return x
    return BatchedTensor(r)


@_rule("_layer_norm")
def _layer_norm(func, args, kwargs):
    """layer_norm(x, D, weight, bias, eps): batched weights or biases (an ensemble's LayerNorm) scale
    and shift the normalized value per slice."""
    if kwargs or len(args) != 5:
        return NotImplemented
    x, d, w, b, eps = args
    if not _is_b(w) and not _is_b(b):
        return BatchedTensor(func(x.value, d, w, b, eps)) if _is_b(x) else NotImplemented
    n = _size_of(args, {})
    xv = _value_or_expand(x, n)
    y = func(xv, d, None, None, eps)
    k = (w if w is not None else b).dim()  # the normalized dims

    def lift(t):
        v = _value_or_expand(t, n)
        return v.reshape(n, *([1] * (xv.dim() - 1 - k)), *v.shape[1:])
    if w is not None:
        y = y * lift(w)
    if b is not None:
        y = y + lift(b)
    return BatchedTensor(y)


@_rule("index_select")
def _index_select(func, args, kwargs):
    """index_select(x, dim, index): a batched table (an ensemble's Embedding weight) and/or batched
    indices; every case one index_select over the value (batched both: slice i's rows offset by i * size)."""
    if kwargs or len(args) != 3:
        return NotImplemented
    x, dim, idx = args
    if _is_b(dim):
        return NotImplemented
    n = _size_of((x, idx), {})
    nd = x.dim()
    d = _phys_dim(dim, max(nd, 1)) - 1 if nd else 0
    if not _is_b(idx):
        return BatchedTensor(func(x.value, d + 1, idx))
    iv = idx.value.reshape(n, -1)
    k = iv.shape[1]
    if not _is_b(x):
        if nd == 0:
            return NotImplemented
        out = func(x, d, iv.reshape(-1))  # (..., n * k, ...) at d
        return BatchedTensor(out.reshape(*x.shape[:d], n, k, *x.shape[d + 1:]).movedim(d, 0))
    if nd == 0:
        return NotImplemented
    v = x.value.movedim(d + 1, 1)  # (n, size, rest...)
    size, rest = v.shape[1], tuple(v.shape[2:])
    offs = _C._arange(0.0, float(n), 1.0, _C.dtype.int64).reshape(n, 1) * size
    flat = func(v.reshape(n * size, *rest), 0, (iv + offs).reshape(-1))  # (n * k, rest...)
    out = flat.reshape(n, k, *rest).movedim(1, d + 1)
    return BatchedTensor(out)


@_rule("_rnn_layer")
def _rnn_layer(func, args, kwargs):
    """One RNN/LSTM/GRU layer's recurrence (mode, xp, h0, c0, w_hh, b_hh, w_hr, reverse, batch_sizes):
    the slices' layers as one op over stacked tensors, each slice's recurrence a task of its own
    (Note [Batched RNN layers]); an unbatched tensor is expanded to every slice."""
    if kwargs or len(args) != 9 or any(_is_b(a) for a in (args[0],) + tuple(args[7:])):
        return NotImplemented
    mode, xp, h0, c0, w_hh, b_hh, w_hr, reverse, batch_sizes = args
    n = _size_of(args, {})
    vals = [None if t is None else _value_or_expand(t, n) for t in (xp, h0, c0, w_hh, b_hh, w_hr)]
    out, hn, cn = func(mode, *vals, reverse, batch_sizes, n)
    return BatchedTensor(out), BatchedTensor(hn), None if cn is None else BatchedTensor(cn)


@_rule("_sdpa")
def _sdpa(func, args, kwargs):
    """Attention's fused op (q, k, v of one leading shape, an optional mask of the scores' shape): the
    mapped dimension is one more leading dim."""
    if kwargs or len(args) != 6 or any(_is_b(a) for a in args[4:]):
        return NotImplemented
    n = _size_of(args[:4], {})
    q, k, v, m = (None if a is None else _value_or_expand(a, n) for a in args[:4])
    return BatchedTensor(func(q, k, v, m, *args[4:]))


_ELEMENTWISE = ("add", "sub", "subtract", "mul", "multiply", "div", "divide", "true_divide", "pow", "maximum",
                "minimum", "fmax", "fmin", "where", "atan2", "hypot", "copysign", "xlogy", "remainder", "fmod",
                "floor_divide", "eq", "ne", "lt", "le", "gt", "ge", "greater", "less", "greater_equal", "less_equal",
                "not_equal", "logical_and", "logical_or", "logical_xor", "bitwise_and", "bitwise_or", "bitwise_xor",
                "masked_fill", "lerp", "addcmul", "addcdiv", "rsub", "isclose",
                "__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__", "__rtruediv__",
                "__floordiv__", "__rfloordiv__", "__mod__", "__rmod__", "__pow__", "__rpow__", "__eq__", "__ne__",
                "__lt__", "__le__", "__gt__", "__ge__", "__and__", "__or__", "__xor__", "__rand__", "__ror__",
                "__rxor__", "add_", "sub_", "mul_", "div_", "pow_", "__iadd__", "__isub__", "__imul__",
                "__itruediv__", "masked_fill_", "copy_", "lerp_", "addcmul_", "addcdiv_")


@_rule(*_ELEMENTWISE)
def _elementwise(func, args, kwargs):
    """Broadcasting ops: each batched operand gets size-1 dims after its mapped dimension up to the
    largest logical rank, so the mapped dimensions line up in front; unbatched operands broadcast as is."""
    name = func.__name__
    tensors = [a for a in list(args) + list(kwargs.values()) if _is_b(a) or isinstance(a, Tensor)]
    rank = max((a.dim() for a in tensors), default=0)
    inplace = (name.endswith("_") and not name.endswith("__")) or name.startswith("__i")
    if inplace:
        if not _is_b(args[0]):
            return NotImplemented  # (the per-slice path raises torch's error)
        if args[0].dim() < rank:
            return NotImplemented

    def phys(a):
        if not _is_b(a):
            return a
        v = a.value
        k = rank - a.dim()
        return v.reshape(v.shape[0], *([1] * k), *v.shape[1:]) if k else v
    r = func(*[phys(a) for a in args], **{k: phys(v) for k, v in kwargs.items()})
    if r is NotImplemented:
        return NotImplemented
    return args[0] if inplace else BatchedTensor(r)


_REDUCE = ("sum", "mean", "amax", "amin", "logsumexp", "var", "std", "all", "any", "nansum", "nanmean",
           "count_nonzero", "prod", "norm")


@_rule(*_REDUCE)
def _reduce(func, args, kwargs):
    x = args[0]
    if not _is_b(x) or not _others_unbatched(args, kwargs):
        return NotImplemented
    n = x.dim()
    key = "dim" if "dim" in kwargs else "axis" if "axis" in kwargs else None
    name = func.__name__
    pos = 2 if name == "norm" else 1  # norm(input, p, dim, ...)
    if key is not None:
        dims = kwargs[key]
    elif len(args) > pos:
        dims = args[pos]
    else:
        dims = None
    if name == "prod" and dims is None:
        return NotImplemented
    if n == 0 or isinstance(dims, str):
        return NotImplemented
    if dims is None or (isinstance(dims, (tuple, list)) and len(dims) == 0):
        pd = tuple(range(1, n + 1))
    elif isinstance(dims, (tuple, list)):
        pd = tuple(_phys_dim(d, n) for d in dims)
    else:
        pd = _phys_dim(dims, n)
    new_args = list(args)
    new_kwargs = dict(kwargs)
    if key is not None:
        new_kwargs[key] = pd
    elif len(args) > pos:
        new_args[pos] = pd
    else:
        if name == "prod":
            return NotImplemented
        new_kwargs["dim"] = pd
    new_args[0] = x.value
    return BatchedTensor(func(*new_args, **new_kwargs))


@_rule("softmax", "log_softmax", "cumsum", "cumprod", "logcumsumexp", "argsort", "flip_dim")
def _along_dim(func, args, kwargs):
    x = args[0]
    if not _is_b(x) or not _others_unbatched(args, kwargs) or x.dim() == 0:
        return NotImplemented
    new_args, new_kwargs = list(args), dict(kwargs)
    if "dim" in kwargs:
        if kwargs["dim"] is None:
            return NotImplemented
        new_kwargs["dim"] = _phys_dim(kwargs["dim"], x.dim())
    elif len(args) > 1 and args[1] is not None:
        new_args[1] = _phys_dim(args[1], x.dim())
    else:
        return NotImplemented
    new_args[0] = x.value
    return BatchedTensor(func(*new_args, **new_kwargs))


@_rule("max", "min", "argmax", "argmin")
def _max_min(func, args, kwargs):
    x = args[0]
    rest = list(args[1:]) + list(kwargs.values())
    if any(_is_b(a) or isinstance(a, Tensor) for a in rest):
        return _elementwise(func, args, kwargs) if func.__name__ in ("max", "min") else NotImplemented
    if not _is_b(x) or x.dim() == 0:
        return NotImplemented
    dim = kwargs.get("dim", args[1] if len(args) > 1 else None)
    keepdim = kwargs.get("keepdim", args[2] if len(args) > 2 else False)
    v = x.value
    if dim is None:
        if keepdim:
            return NotImplemented
        flat = v.reshape(v.shape[0], -1)
        if func.__name__ in ("max", "min"):
            return BatchedTensor(func(flat, 1)[0])
        return BatchedTensor(func(flat, 1))
    r = func(v, _phys_dim(dim, x.dim()), bool(keepdim))
    if isinstance(r, tuple):
        return type(r)(*[BatchedTensor(e) for e in r])
    return BatchedTensor(r)


def _shape_args(args):
    if len(args) == 1 and isinstance(args[0], (tuple, list)) or len(args) == 1 and hasattr(args[0], "__iter__"):
        return tuple(args[0])
    return tuple(args)


@_rule("reshape", "view")
def _reshape(func, args, kwargs):
    x = args[0]
    if not _is_b(x) or kwargs or (len(args) == 2 and not isinstance(args[1], (tuple, list, numbers.Integral))
                                  and not hasattr(args[1], "__iter__")):
        return NotImplemented
    shape = _shape_args(args[1:])
    v = x.value
    if func.__name__ == "view" and not v.is_contiguous():
        return BatchedTensor(v.reshape(v.shape[0], *shape))
    return BatchedTensor(func(v, (v.shape[0],) + shape))


@_rule("view_as", "reshape_as", "expand_as")
def _as(func, args, kwargs):
    x, other = args[0], args[1]
    target = tuple(other.shape)
    name = {"view_as": "reshape", "reshape_as": "reshape", "expand_as": "expand"}[func.__name__]
    return dispatch(getattr(Tensor, name), (x, target), {})


@_rule("flatten")
def _flatten(func, args, kwargs):
    x = args[0]
    if not _is_b(x) or x.dim() == 0:
        return NotImplemented
    start = kwargs.get("start_dim", args[1] if len(args) > 1 else 0)
    end = kwargs.get("end_dim", args[2] if len(args) > 2 else -1)
    n = x.dim()
    return BatchedTensor(x.value.flatten(_phys_dim(start, n), _phys_dim(end, n)))


@_rule("unflatten")
def _unflatten(func, args, kwargs):
    x = args[0]
    if not _is_b(x) or x.dim() == 0:
        return NotImplemented
    dim = kwargs.get("dim", args[1] if len(args) > 1 else None)
    sizes = kwargs.get("sizes", args[2] if len(args) > 2 else None)
    return BatchedTensor(x.value.unflatten(_phys_dim(dim, x.dim()), sizes))


@_rule("unsqueeze")
def _unsqueeze(func, args, kwargs):
    x = args[0]
    if not _is_b(x):
        return NotImplemented
    d = kwargs.get("dim", args[1] if len(args) > 1 else None)
    return BatchedTensor(x.value.unsqueeze(_phys_dim(d, x.dim() + 1)))


@_rule("squeeze")
def _squeeze(func, args, kwargs):
    x = args[0]
    if not _is_b(x):
        return NotImplemented
    d = kwargs.get("dim", args[1] if len(args) > 1 else None)
    n = x.dim()
    if d is None:
        dims = [i + 1 for i, s in enumerate(x.shape) if s == 1]
    elif isinstance(d, (tuple, list)):
        dims = [_phys_dim(e, n) for e in d if x.shape[e] == 1] if n else []
    else:
        if n == 0:
            return x
        dims = [_phys_dim(d, n)] if x.shape[d] == 1 else []
    v = x.value
    for k in sorted(dims, reverse=True):
        v = v.squeeze(k)
    return BatchedTensor(v)


@_rule("transpose", "swapaxes", "swapdims")
def _transpose(func, args, kwargs):
    x = args[0]
    if not _is_b(x) or kwargs or len(args) != 3:
        return NotImplemented
    n = x.dim()
    if n == 0:
        return x
    return BatchedTensor(x.value.transpose(_phys_dim(args[1], n), _phys_dim(args[2], n)))


@_rule("t")
def _t(func, args, kwargs):
    x = args[0]
    if not _is_b(x) or x.dim() > 2:
        return NotImplemented
    return BatchedTensor(x.value.transpose(1, 2)) if x.dim() == 2 else x


@_rule("permute")
def _permute(func, args, kwargs):
    x = args[0]
    if not _is_b(x) or kwargs:
        return NotImplemented
    dims = _shape_args(args[1:])
    n = x.dim()
    return BatchedTensor(x.value.permute(0, *[_phys_dim(d, n) for d in dims]))


@_rule("movedim", "moveaxis")
def _movedim(func, args, kwargs):
    x = args[0]
    if not _is_b(x) or kwargs or len(args) != 3:
        return NotImplemented
    n = x.dim()
    src, dst = args[1], args[2]
    if isinstance(src, (tuple, list)):
        return BatchedTensor(x.value.movedim(tuple(_phys_dim(d, n) for d in src), tuple(_phys_dim(d, n) for d in dst)))
    return BatchedTensor(x.value.movedim(_phys_dim(src, n), _phys_dim(dst, n)))


@_rule("expand")
def _expand(func, args, kwargs):
    x = args[0]
    if not _is_b(x) or kwargs:
        return NotImplemented
    sizes = _shape_args(args[1:])
    v = x.value
    k = len(sizes) - x.dim()
    if k < 0:
        return NotImplemented
    if k:
        v = v.reshape(v.shape[0], *([1] * k), *v.shape[1:])
    return BatchedTensor(v.expand(v.shape[0], *sizes))


@_rule("select")
def _select(func, args, kwargs):
    x = args[0]
    if not _is_b(x) or kwargs or len(args) != 3 or x.dim() == 0:
        return NotImplemented
    return BatchedTensor(x.value.select(_phys_dim(args[1], x.dim()), args[2]))


@_rule("narrow")
def _narrow(func, args, kwargs):
    x = args[0]
    if not _is_b(x) or kwargs or len(args) != 4 or isinstance(args[2], (Tensor, BatchedTensor)):
        return NotImplemented
    return BatchedTensor(x.value.narrow(_phys_dim(args[1], x.dim()), args[2], args[3]))


@_rule("unbind", "split", "chunk", "tensor_split")
def _split_like(func, args, kwargs):
    x = args[0]
    if not _is_b(x) or x.dim() == 0 or not _others_unbatched(args, kwargs):
        return NotImplemented
    name = func.__name__
    new_args, new_kwargs = list(args), dict(kwargs)
    pos = 1 if name == "unbind" else 2
    if "dim" in kwargs:
        new_kwargs["dim"] = _phys_dim(kwargs["dim"], x.dim())
    elif len(args) > pos:
        new_args[pos] = _phys_dim(args[pos], x.dim())
    else:
        new_kwargs["dim"] = 1
    new_args[0] = x.value
    return tuple(BatchedTensor(p) for p in func(*new_args, **new_kwargs))


@_rule("cat", "concat", "concatenate", "stack", "hstack", "vstack")
def _cat(func, args, kwargs):
    name = func.__name__
    if name in ("hstack", "vstack"):
        return NotImplemented
    tensors = kwargs.get("tensors", args[0] if args else None)
    dim = kwargs.get("dim", kwargs.get("axis", args[1] if len(args) > 1 else 0))
    if tensors is None or not isinstance(dim, numbers.Integral) or "out" in kwargs:
        return NotImplemented
    tensors = list(tensors)
    n = _size_of((tensors,), {})
    ranks = {t.dim() for t in tensors}
    if len(ranks) != 1:
        return NotImplemented
    rank = ranks.pop() + (1 if name == "stack" else 0)
    if rank == 0:
        return NotImplemented
    vals = [_value_or_expand(t, n) for t in tensors]
    return BatchedTensor(func(vals, _phys_dim(dim, rank)))


def _plain_index(items):
    """None when the mapped dim cannot go in front of the index (a batched or boolean part); else
    where the mapped dim lands in the result: 0, or, when the integer-tensor parts are apart, after
    their result dims, which indexing puts first."""
    has_tensor = False
    for it in items:
        if _is_b(it) or isinstance(it, (list, bool)) or (isinstance(it, Tensor) and it.dtype == _C.dtype.bool):
            return None
        has_tensor |= isinstance(it, Tensor)
    if has_tensor:  # (an int selects first, as torch's: it is not an advanced index here)
        rest = [it for it in items if not isinstance(it, numbers.Integral)]
        adv = [i for i, it in enumerate(rest) if isinstance(it, Tensor)]
        if adv[-1] - adv[0] + 1 != len(adv):
            return max(it.dim() for it in items if isinstance(it, Tensor))
    return 0


@_rule("__getitem__")
def _getitem(func, args, kwargs):
    x, idx = args[0], args[1]
    if not _is_b(x):
        return NotImplemented
    items = idx if isinstance(idx, tuple) else (idx,)
    at = _plain_index(items)
    if at is None:
        return NotImplemented
    r = x.value[(slice(None),) + items]
    return BatchedTensor(r.movedim(at, 0) if at else r)


@_rule("__setitem__")
def _setitem(func, args, kwargs):
    x, idx, v = args
    if not _is_b(x) or _is_b(v):
        return NotImplemented
    items = idx if isinstance(idx, tuple) else (idx,)
    if _plain_index(items) != 0:
        return NotImplemented
    x.value[(slice(None),) + items] = v
    return None


# ---- products: one batched product over the mapped dimension

def _lift(v, k):
    """v with k size-1 dims after its mapped dim (so it broadcasts against k more batch dims)."""
    return v.reshape(v.shape[0], *([1] * k), *v.shape[1:]) if k > 0 else v


@_rule("matmul", "mm", "bmm", "__matmul__", "__rmatmul__")
def _matmul(func, args, kwargs):
    if kwargs or len(args) != 2:
        return NotImplemented
    a, b = args
    if func.__name__ == "__rmatmul__":
        a, b = b, a
    ba, bb = _is_b(a), _is_b(b)
    na, nb = a.dim(), b.dim()
    if na < 1 or nb < 1:
        return NotImplemented
    if ba and not bb:
        if na >= 2 and nb > na:  # b's own batch dims: a gets size-1 ones after its mapped dim
            return BatchedTensor(_C.matmul(_lift(a.value, nb - na), b))
        if na >= 2 or nb <= 2:  # value's extra leading dim is one more batch dim of a (or rows of a vector)
            return BatchedTensor(_C.matmul(a.value, b))
        return NotImplemented
    if bb and not ba:
        if nb >= 2:
            if na == 1:
                return BatchedTensor(_C.matmul(a, b.value))
            return BatchedTensor(_C.matmul(a, b.value)) if na == 2 else NotImplemented
        return BatchedTensor(_C.matmul(b.value, a.mT if na == 2 else a)) if na == 2 else NotImplemented
    # both batched
    if na >= 2 and nb >= 2:
        va, vb = a.value, b.value
        if na < nb:
            va = va.reshape(va.shape[0], *([1] * (nb - na)), *va.shape[1:])
        elif nb < na:
            vb = vb.reshape(vb.shape[0], *([1] * (na - nb)), *vb.shape[1:])
        return BatchedTensor(_C.matmul(va, vb))
    if na == 1 and nb >= 2:
        return BatchedTensor(_C.matmul(_lift(a.value.unsqueeze(-2), nb - 2), b.value).squeeze(-2))
    if nb == 1 and na >= 2:
        return BatchedTensor(_C.matmul(a.value, _lift(b.value.unsqueeze(-1), na - 2)).squeeze(-1))
    return BatchedTensor((a.value * b.value).sum(-1))


@_rule("linear")
def _linear(func, args, kwargs):
    x, w = args[0], args[1]
    b = kwargs.get("bias", args[2] if len(args) > 2 else None)
    if not _is_b(w) and not _is_b(b):
        return BatchedTensor(_C.linear(x.value, w, b)) if _is_b(x) else NotImplemented
    if x.dim() < 1 or w.dim() != 2 or x.shape[-1] != w.shape[-1] or b is not None and tuple(b.shape) != (w.shape[0],):
        # (a slice then raises linear's own error, with the logical shapes)
        return NotImplemented
    n = _size_of((x, w, b), {})
    lead = tuple(x.shape[:-1])
    if _is_b(w):  # one op: a product per slice, the bias added in it (_C._batched_linear)
        x3 = x.value.reshape(n, -1, x.shape[-1]) if _is_b(x) else x.reshape(1, -1, x.shape[-1]).expand(n, -1, -1)
        bv = None if b is None else b.value if _is_b(b) else b.unsqueeze(0).expand(n, -1)
        out = _C._batched_linear(x3, w.value, bv)
        return BatchedTensor(out.reshape(n, *lead, out.shape[-1]))
    out = _C.linear(_value_or_expand(x, n), w, None)
    return BatchedTensor(out + b.value.reshape(n, *([1] * len(lead)), b.value.shape[-1]))


def sequential_mlp(x, mods, linear_t, relu_t):
    """Sequential's fast path under vmap: a chain of exact Linear modules (each optionally followed by
    one ReLU), no hooks, whose weights are batched (an ensemble's stacked parameters through
    functional_call), as one op (_C._batched_mlp: a slice's whole chain per task, one node). None when
    the chain does not qualify or its shapes do not chain: the modules then run one by one (and raise
    the usual errors)."""
    ws, bs, relu = [], [], []
    batched = False
    for m in mods:
        d = m.__dict__
        if d["_forward_hooks"] or d["_forward_pre_hooks"]:
            return None
        t = type(m)
        if t is relu_t and relu and not relu[-1]:
            relu[-1] = True
            continue
        if t is not linear_t:
            return None
        p = d["_parameters"]
        w = p.get("weight")
        batched = batched or type(w) is BatchedTensor and w.value.stride(0) != 0
        ws.append(w)
        bs.append(p.get("bias"))
        relu.append(False)
    if not batched:
        return None  # (weights shared by every slice, as vmap(grad) gives them: the per-op rules run one product)
    xb = type(x) is BatchedTensor
    xv = x.value if xb else x
    if not isinstance(xv, Tensor) or xv.dim() < 1 + xb or xv.dtype not in _MLP_DTYPES:
        return None
    shape = tuple(xv.shape)  # (a plain tuple: Size's Python __getitem__ was a tenth of this function's time)
    n = shape[0] if xb else batch_size()
    lead = shape[1:-1] if xb else shape[:-1]
    if xb:
        x3 = xv if len(shape) == 3 else xv.reshape(n, -1, shape[-1])
    else:
        x3 = xv.reshape(1, -1, shape[-1]).expand(n, -1, -1)
    width, dt = shape[-1], xv.dtype
    wv, bv = [], []
    for w, b in zip(ws, bs):
        w = w.value if type(w) is BatchedTensor else w.unsqueeze(0).expand(n, *w.shape) if isinstance(w, Tensor) else None
        if w is None:
            return None
        ws_ = tuple(w.shape)
        if len(ws_) != 3 or ws_[0] != n or ws_[2] != width or w.dtype != dt:
            return None
        if b is not None:
            b = b.value if type(b) is BatchedTensor else b.unsqueeze(0).expand(n, *b.shape) if isinstance(b, Tensor) else None
            if b is None or b.shape != (n, ws_[1]) or b.dtype != dt:
                return None
        wv.append(w)
        bv.append(b)
        width = ws_[1]
    out = _C._batched_mlp(x3, wv, bv, relu)
    return BatchedTensor(out if len(lead) == 1 else out.reshape(n, *lead, width))


_MLP_DTYPES = (_C.dtype.float32, _C.dtype.float64)


# ---- losses: per slice, from the ops' 'none' reduction

_NONE, _MEAN, _SUM = "none", "mean", "sum"  # (the bindings take torch's reduction names)


@_rule("_mse_loss")
def _mse(func, args, kwargs):
    a, t, red = args
    if kwargs or a.dim() != t.dim() or tuple(a.shape) != tuple(t.shape):
        return NotImplemented
    n = _size_of((a, t), {})
    d = _value_or_expand(a, n) - _value_or_expand(t, n)
    sq = d * d
    if red == _NONE:
        return BatchedTensor(sq)
    sq = sq.reshape(n, -1)
    return BatchedTensor(sq.mean(1) if red == _MEAN else sq.sum(1))


@_rule("_cross_entropy", "_nll_loss")
def _class_loss(func, args, kwargs):
    if kwargs:
        return NotImplemented
    nll = func.__name__ == "_nll_loss"
    x, t, w, ignore = args[0], args[1], args[2], args[3]
    red = args[4] if nll else args[5]
    if _is_b(w) or x.dim() != 2 or t.dim() != 1:
        return NotImplemented
    n = _size_of((x, t), {})
    xv, tv = _value_or_expand(x, n), _value_or_expand(t, n)
    N, C = xv.shape[1], xv.shape[2]
    flat = func(xv.reshape(n * N, C), tv.reshape(n * N), w, ignore, _NONE) if nll else \
        func(xv.reshape(n * N, C), tv.reshape(n * N), w, ignore, args[4], _NONE)
    losses = flat.reshape(n, N)
    if red == _NONE:
        return BatchedTensor(losses)
    if red == _SUM:
        return BatchedTensor(losses.sum(1))
    keep = (tv != ignore)
    tw = (w[tv.clamp(0, C - 1)] * keep) if w is not None else keep.to(losses.dtype)
    return BatchedTensor(losses.sum(1) / tw.sum(1).to(losses.dtype))


# ---- convolutions and pools: the mapped dimension folded into the batch

_CONV_PARAMS = ("input", "weight", "bias", "stride", "padding", "dilation", "groups")


@_rule("conv1d", "conv2d", "conv3d")
def _conv(func, args, kwargs):
    """Batched input, shared weight: the mapped dim folded into the batch. Batched weight (an
    ensemble of convolutions): one grouped convolution, each slice's channels a group of its own."""
    nd = int(func.__name__[-2])
    a = dict(zip(_CONV_PARAMS, args))
    a.update(kwargs)
    x, w, b = a.get("input"), a.get("weight"), a.get("bias")
    if x is None or w is None or x.dim() != nd + 2 or isinstance(a.get("padding"), str) and _is_b(w):
        return NotImplemented
    if not _is_b(w) and not _is_b(b):
        if not _is_b(x):
            return NotImplemented
        v = x.value
        out = func(v.flatten(0, 1), *args[1:], **kwargs)
        return BatchedTensor(out.unflatten(0, (v.shape[0], v.shape[1])))
    n = _size_of((x, w, b), {})
    groups = a.get("groups", 1)
    xv = x.value.movedim(0, 1).flatten(1, 2) if _is_b(x) else x.repeat(1, n, *([1] * nd))  # (N, n*C, ...)
    wv = _value_or_expand(w, n).flatten(0, 1)  # (n*O, C/groups, ...)
    bv = None if b is None else _value_or_expand(b, n).flatten(0, 1)
    rest = {k: a[k] for k in ("stride", "padding", "dilation") if k in a}
    out = func(xv, wv, bv, groups=groups * n, **rest)  # (N, n*O, ...)
    return BatchedTensor(out.unflatten(1, (n, out.shape[1] // n)).movedim(1, 0))


@_rule("_max_pool", "_avg_pool", "_adaptive_avg_pool", "_adaptive_max_pool")
def _pool(func, args, kwargs):
    x, nd = args[0], args[1]
    if not _is_b(x) or not _others_unbatched(args, kwargs) or x.dim() != nd + 2:
        return NotImplemented
    v = x.value
    r = func(v.flatten(0, 1), *args[1:], **kwargs)
    if isinstance(r, tuple):
        return tuple(BatchedTensor(e.unflatten(0, (v.shape[0], v.shape[1]))) for e in r)
    return BatchedTensor(r.unflatten(0, (v.shape[0], v.shape[1])))
