"""gradcheck / gradgradcheck and the anomaly-mode switches, under torch.autograd's names.

gradcheck compares the analytical gradients (ember's backward, one vector-Jacobian product per
output element) with central finite differences, as torch.autograd.gradcheck, on float64 inputs.
gradgradcheck checks second derivatives the same way, through create_graph=True.
ember does not add anomaly checks: detect_anomaly / set_detect_anomaly only record the flag, which
is_anomaly_enabled reports."""
import numpy as np

from .. import _C

__all__ = ["GradcheckError", "gradcheck", "gradgradcheck", "detect_anomaly", "set_detect_anomaly",
           "is_anomaly_enabled", "is_anomaly_check_nan_enabled"]


class GradcheckError(RuntimeError):
    """Raised by gradcheck when the analytical and numerical gradients disagree."""


def _outputs(out):
    if isinstance(out, _C.Tensor):
        return [out]
    res = []
    for o in out:
        res.extend(_outputs(o))
    return res


def _fail(msg, raise_exception):
    if raise_exception:
        raise GradcheckError(msg)
    return False


def gradcheck(func, inputs, *, eps=1e-06, atol=1e-05, rtol=0.001, raise_exception=True, nondet_tol=0.0,
              check_undefined_grad=True, check_grad_dtypes=False, check_batched_grad=False,
              check_batched_forward_grad=False, check_forward_ad=False, check_backward_ad=True,
              fast_mode=False, masked=None):
    """True when ember's gradients of func at inputs match central finite differences (eps) within
    atol + rtol * |numerical|; else raises GradcheckError (returns False with raise_exception=False).
    Inputs that require grad should be float64 (a warning-free check, as torch's)."""
    from . import grad as _grad
    from .grad_mode import no_grad
    if check_forward_ad:
        raise NotImplementedError("ember does not support forward-mode AD (check_forward_ad=True)")
    tupled = (inputs,) if isinstance(inputs, _C.Tensor) else tuple(inputs)
    diff = [t for t in tupled if isinstance(t, _C.Tensor) and t.requires_grad]
    if not diff:
        raise ValueError("gradcheck expects at least one input tensor to require gradient, but none of the them "
                         "have requires_grad=True.")
    for t in diff:
        if t.dtype != _C.dtype.float64:
            import warnings
            warnings.warn(f"Input #{tupled.index(t)} requires gradient and is not a double precision floating point. "
                          "This check will likely fail if all the inputs are not of double precision floating point. ",
                          UserWarning, stacklevel=2)
    outs = _outputs(func(*tupled))
    outs = [o for o in outs if o.dtype in (_C.dtype.float32, _C.dtype.float64)]
    # analytical Jacobian, row by row: d out_j / d inputs
    analytical = [np.zeros((o.numel(), t.numel())) for o in outs for t in diff]
    for oi, o in enumerate(outs):
        for j in range(o.numel()):
            if not o.requires_grad:
                continue
            seed = np.zeros(o.numel())
            seed[j] = 1.0
            from .. import tensor
            g = _grad([o], diff, [tensor(seed.reshape(tuple(o.shape)), dtype=o.dtype)], retain_graph=True,
                      allow_unused=True)
            for ti, gi in enumerate(g):
                if gi is not None:
                    analytical[oi * len(diff) + ti][j] = gi.detach().numpy().reshape(-1)
    # numerical Jacobian: central differences on each element of each input
    numerical = [np.zeros((o.numel(), t.numel())) for o in outs for t in diff]
    with no_grad():
        for ti, t in enumerate(diff):
            td = t.detach()  # shares t's storage: writing an element perturbs t in place
            for i in range(t.numel()):
                pos = tuple(int(p) for p in np.unravel_index(i, tuple(t.shape)))
                orig = td[pos].item()
                vals = []
                for d in (eps, -eps):
                    td[pos] = orig + d
                    outs_d = [o for o in _outputs(func(*tupled)) if o.dtype in (_C.dtype.float32, _C.dtype.float64)]
                    vals.append([o.detach().numpy().astype(np.float64).reshape(-1).copy() for o in outs_d])
                td[pos] = orig
                for oi in range(len(outs)):
                    numerical[oi * len(diff) + ti][:, i] = (vals[0][oi] - vals[1][oi]) / (2 * eps)
    for idx, (a, n) in enumerate(zip(analytical, numerical)):
        if not np.allclose(a, n, rtol=rtol, atol=atol):
            oi, ti = divmod(idx, len(diff))
            return _fail(f"Jacobian mismatch for output {oi} with respect to input {ti},\nnumerical:{n}\n"
                         f"analytical:{a}\n", raise_exception)
    return True


def gradgradcheck(func, inputs, grad_outputs=None, *, eps=1e-06, atol=1e-05, rtol=0.001,
                  gen_non_contig_grad_outputs=False, raise_exception=True, nondet_tol=0.0, check_undefined_grad=True,
                  check_grad_dtypes=False,
                  check_batched_grad=False, check_fwd_over_rev=False, check_rev_over_rev=True, fast_mode=False,
                  masked=False):
    """gradcheck of the gradients themselves, as torch.autograd.gradgradcheck: the function
    (inputs, grad_outputs) -> autograd.grad(func(inputs), inputs, grad_outputs, create_graph=True)
    is checked against finite differences, so second derivatives (and the gradients' dependence on
    grad_outputs) are compared. Without grad_outputs, fixed pseudo-random float64 ones are made
    (seeded, so a failure reproduces)."""
    from . import grad as _grad
    if check_fwd_over_rev:
        raise NotImplementedError("ember does not support forward-mode AD (check_fwd_over_rev=True)")
    tupled = (inputs,) if isinstance(inputs, _C.Tensor) else tuple(inputs)
    diff_idx = [i for i, t in enumerate(tupled) if isinstance(t, _C.Tensor) and t.requires_grad]
    if grad_outputs is None:
        from .. import tensor
        outs = [o for o in _outputs(func(*tupled)) if o.requires_grad]
        rng = np.random.default_rng(0)
        grad_outputs = [tensor(rng.standard_normal(tuple(o.shape)), dtype=o.dtype, requires_grad=True) for o in outs]
    else:
        grad_outputs = [grad_outputs] if isinstance(grad_outputs, _C.Tensor) else list(grad_outputs)
    n_in = len(tupled)

    def new_func(*args):
        from .grad_mode import enable_grad
        ins, gos = args[:n_in], args[n_in:]
        with enable_grad():  # (gradcheck's finite differences run under no_grad)
            outs = [o for o in _outputs(func(*ins)) if o.requires_grad]
            diff = [ins[i] for i in diff_idx]
            gs = _grad(outs, diff, list(gos), create_graph=True, allow_unused=True)
        return tuple(g for g in gs if g is not None)

    return gradcheck(new_func, tupled + tuple(grad_outputs), eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception, nondet_tol=nondet_tol)


_ANOMALY = {"enabled": False, "check_nan": True}


def is_anomaly_enabled():
    """The recorded anomaly-mode flag (gradgradcheck checks second derivatives the same way, through create_graph=True.
ember does not add anomaly checks)."""
    return _ANOMALY["enabled"]


def is_anomaly_check_nan_enabled():
    return _ANOMALY["check_nan"]


class detect_anomaly:
    """Context manager / decorator that turns the anomaly flag on inside it. ember records the flag
    only: it does not add NaN checks or forward traces to backward errors."""

    def __init__(self, check_nan=True):
        self.check_nan = check_nan

    def __enter__(self):
        self.prev = dict(_ANOMALY)
        _ANOMALY.update(enabled=True, check_nan=self.check_nan)
        return self

    def __exit__(self, *exc):
        _ANOMALY.update(self.prev)
        return False

    def __call__(self, fn):
        import functools

        @functools.wraps(fn)
        def wrapper(*a, **k):
            with self.__class__(self.check_nan):
                return fn(*a, **k)
        return wrapper


class set_detect_anomaly:
    """Set the anomaly flag (as a function call, or for a `with` block, restoring it after)."""

    def __init__(self, mode, check_nan=True):
        self.prev = dict(_ANOMALY)
        _ANOMALY.update(enabled=bool(mode), check_nan=check_nan)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _ANOMALY.update(self.prev)
        return False
