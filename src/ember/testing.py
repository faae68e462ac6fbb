"""ember.testing (torch.testing): assert_close with torch 2.13's semantics and messages.

Inputs are compared pairwise, recursing through sequences and mappings: None with None, bools
exactly, Python / numpy numbers (int, float) and tensor-likes (tensors, or two objects of related
types that as_tensor accepts, e.g. two numpy arrays) with

    |actual - expected| <= atol + rtol * |expected|

(infinities only equal themselves; NaNs match when equal_nan=True). Without rtol and atol the
defaults follow the dtype: float32 (1.3e-6, 1e-5), float64 (1e-7, 1e-7), integers and bool (0, 0);
giving only one of them is a ValueError. check_dtype (default True) compares dtypes first; with
it off both sides are promoted to a common dtype. Failures raise AssertionError with torch's
message ("Tensor-likes are not close!", mismatch counts, greatest absolute / relative difference
and where); msg replaces it (a string) or rewrites it (a callable).
"""
import cmath
import collections.abc

import numpy as np

from . import _C

__all__ = ["assert_close", "assert_allclose"]

Tensor = _C.Tensor

_DTYPE_PRECISIONS = {"float16": (0.001, 1e-5), "bfloat16": (0.016, 1e-5), "float32": (1.3e-6, 1e-5),
                     "float64": (1e-7, 1e-7)}
_NUMBER_DTYPES = {int: "int64", float: "float64"}


class _ErrorMeta(Exception):
    def __init__(self, type, msg, *, id=()):
        super().__init__(msg)
        self.type = type
        self.msg = msg
        self.id = id

    def to_error(self, msg=None):
        if not isinstance(msg, str):
            generated = self.msg
            if self.id:
                generated += f"\n\nThe failure occurred for item {''.join(str([item]) for item in self.id)}"
            msg = msg(generated) if callable(msg) else generated
        return self.type(msg)


class _Unsupported(Exception):
    pass


def _dtype_name(d):
    return d if isinstance(d, str) else d.name


def _default_tolerances(*dtypes):
    rtols, atols = zip(*[_DTYPE_PRECISIONS.get(_dtype_name(d), (0.0, 0.0)) for d in dtypes])
    return max(rtols), max(atols)


def _get_tolerances(*dtypes, rtol, atol, id=()):
    if (rtol is None) ^ (atol is None):
        raise _ErrorMeta(ValueError, "Both 'rtol' and 'atol' must be either specified or omitted, "
                                     f"but got no {'rtol' if rtol is None else 'atol'}.", id=id)
    if rtol is not None:
        return rtol, atol
    return _default_tolerances(*dtypes)


def _make_mismatch_msg(*, default_identifier, extra=None, abs_diff, abs_diff_idx=None, atol, rel_diff,
                       rel_diff_idx=None, rtol):
    equality = rtol == 0 and atol == 0

    def diff_msg(kind, diff, idx, tol):
        if idx is None:
            m = f"{kind.title()} difference: {diff}"
        else:
            m = f"Greatest {kind} difference: {diff} at index {idx}"
        if not equality:
            m += f" (up to {tol} allowed)"
        return m + "\n"

    msg = f"{default_identifier} are not {'equal' if equality else 'close'}!\n\n"
    if extra:
        msg += f"{extra.strip()}\n"
    msg += diff_msg("absolute", abs_diff, abs_diff_idx, atol)
    msg += diff_msg("relative", rel_diff, rel_diff_idx, rtol)
    return msg.strip()


def _scalar_mismatch_msg(actual, expected, *, rtol, atol):
    abs_diff = abs(actual - expected)
    rel_diff = float("inf") if expected == 0 else abs_diff / abs(expected)
    return _make_mismatch_msg(default_identifier="Scalars", extra=f"Expected {expected} but got {actual}.",
                              abs_diff=abs_diff, atol=atol, rel_diff=rel_diff, rtol=rtol)


def _isclose(a, e, rtol, atol, equal_nan):
    """torch.isclose on numpy arrays of one dtype (tolerances applied in that dtype, as torch does)."""
    with np.errstate(invalid="ignore", over="ignore"):
        close = a == e
        if a.dtype.kind == "f":
            if equal_nan:
                close |= np.isnan(a) & np.isnan(e)
            if rtol == 0 and atol == 0:
                return close
            allowed = atol + np.abs(rtol * e)
            actual_err = np.abs(a - e)
            return close | (np.isfinite(actual_err) & (actual_err <= allowed))
        if rtol == 0 and atol == 0:
            return close
        af, ef = a.astype(np.float32), e.astype(np.float32)  # torch computes integer closeness in the default dtype
        return close | (np.abs(af - ef) <= atol + np.abs(rtol * ef))


def _max_with_index(v):
    """torch.max(v, 0): NaN wins, ties go to the first position."""
    nan = np.isnan(v) if v.dtype.kind == "f" else np.zeros(v.shape, bool)
    i = int(np.argmax(nan)) if nan.any() else int(np.argmax(v))
    return v[i].item(), i


def _tensor_mismatch_msg(a, e, matches, *, rtol, atol):
    def unravel(flat):
        if not matches.shape:
            return ()
        return tuple(int(i) for i in np.unravel_index(flat, matches.shape))

    n = matches.size
    mismatches = n - int(matches.sum())
    extra = f"Mismatched elements: {mismatches} / {n} ({mismatches / n:.1%})"
    af, ef, mf = a.reshape(-1), e.reshape(-1), matches.reshape(-1)
    if af.dtype.kind != "f":
        af, ef = af.astype(np.int64), ef.astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        abs_diff = np.abs(af - ef)
        abs_diff[mf] = 0
        max_abs, abs_idx = _max_with_index(abs_diff)
        if abs_diff.dtype.kind == "f":
            rel_diff = abs_diff / np.abs(ef)
        else:  # integer division gives the default float dtype in torch
            rel_diff = abs_diff.astype(np.float32) / np.abs(ef).astype(np.float32)
        rel_diff[mf] = 0
        max_rel, rel_idx = _max_with_index(rel_diff)
    return _make_mismatch_msg(default_identifier="Tensor-likes", extra=extra, abs_diff=max_abs,
                              abs_diff_idx=unravel(abs_idx), atol=atol, rel_diff=max_rel, rel_diff_idx=unravel(rel_idx),
                              rtol=rtol)


def _promote(a, b):
    """torch.promote_types for numpy dtypes: a float side wins over an integer / bool side."""
    fa, fb = a.kind in "fc", b.kind in "fc"
    if fa != fb:
        return a if fa else b
    return np.promote_types(a, b)


class _NonePair:
    def __init__(self, actual, expected, id=(), **options):
        if not (actual is None or expected is None):
            raise _Unsupported
        self.actual, self.expected, self.id = actual, expected, id

    def compare(self):
        if not (self.actual is None and self.expected is None):
            raise _ErrorMeta(AssertionError, f"None mismatch: {self.actual} is not {self.expected}", id=self.id)


class _BooleanPair:
    def __init__(self, actual, expected, id=(), **options):
        if not all(isinstance(x, (bool, np.bool_)) for x in (actual, expected)):
            raise _Unsupported
        self.actual, self.expected, self.id = bool(actual), bool(expected), id

    def compare(self):
        if self.actual is not self.expected:
            raise _ErrorMeta(AssertionError, f"Booleans mismatch: {self.actual} is not {self.expected}", id=self.id)


class _NumberPair:
    def __init__(self, actual, expected, id=(), rtol=None, atol=None, equal_nan=False, check_dtype=False,
                 **options):
        ok = (int, float, complex, np.number)
        if not all(isinstance(x, ok) and not isinstance(x, (bool, np.bool_)) for x in (actual, expected)):
            raise _Unsupported
        actual, expected = (x.item() if isinstance(x, np.number) else x for x in (actual, expected))
        self.actual, self.expected, self.id = actual, expected, id
        dtypes = [_NUMBER_DTYPES.get(type(x), "complex128") for x in (actual, expected)]
        self.rtol, self.atol = _get_tolerances(*dtypes, rtol=rtol, atol=atol, id=id)
        self.equal_nan = equal_nan
        self.check_dtype = check_dtype

    def compare(self):
        a, e = self.actual, self.expected
        if self.check_dtype and type(a) is not type(e):
            raise _ErrorMeta(AssertionError, f"The (d)types do not match: {type(a)} != {type(e)}.", id=self.id)
        if a == e:
            return
        if self.equal_nan and cmath.isnan(a) and cmath.isnan(e):
            return
        abs_diff = abs(a - e)
        if cmath.isfinite(abs_diff) and abs_diff <= self.atol + self.rtol * abs(e):
            return
        raise _ErrorMeta(AssertionError, _scalar_mismatch_msg(a, e, rtol=self.rtol, atol=self.atol), id=self.id)


class _TensorLikePair:
    def __init__(self, actual, expected, id=(), allow_subclasses=True, rtol=None, atol=None, equal_nan=False,
                 check_device=True, check_dtype=True, check_layout=True, check_stride=False, **options):
        if not (isinstance(actual, type(expected)) or isinstance(expected, type(actual))):
            raise _Unsupported
        if not allow_subclasses and type(actual) is not type(expected):
            raise _Unsupported
        actual, expected = self._to_tensor(actual), self._to_tensor(expected)
        self.actual, self.expected, self.id = actual, expected, id
        self.rtol, self.atol = _get_tolerances(actual.dtype, expected.dtype, rtol=rtol, atol=atol, id=id)
        self.equal_nan = equal_nan
        self.check_device, self.check_dtype, self.check_stride = check_device, check_dtype, check_stride

    @staticmethod
    def _to_tensor(x):
        if isinstance(x, Tensor):
            return x
        try:
            from ._factories import as_tensor
            return as_tensor(x)
        except Exception:  # noqa: BLE001 (anything as_tensor refuses is "not a tensor-like", as in torch)
            raise _Unsupported from None

    def _fail(self, msg):
        raise _ErrorMeta(AssertionError, msg, id=self.id)

    def compare(self):
        a, e = self.actual, self.expected
        if a.shape != e.shape:
            self._fail(f"The values for attribute 'shape' do not match: {a.shape} != {e.shape}.")
        if self.check_stride and a.stride() != e.stride():
            self._fail(f"The values for attribute 'stride()' do not match: {a.stride()} != {e.stride()}.")
        if self.check_device and a.device != e.device:
            self._fail(f"The values for attribute 'device' do not match: {a.device} != {e.device}.")
        if self.check_dtype and a.dtype != e.dtype:
            self._fail(f"The values for attribute 'dtype' do not match: {a.dtype} != {e.dtype}.")
        an, en = a.detach().numpy(), e.detach().numpy()
        if an.dtype != en.dtype:
            common = _promote(an.dtype, en.dtype)
            an, en = an.astype(common), en.astype(common)
        matches = _isclose(an, en, self.rtol, self.atol, self.equal_nan)
        if matches.all():
            return
        if an.ndim == 0:
            msg = _scalar_mismatch_msg(an.item(), en.item(), rtol=self.rtol, atol=self.atol)
        else:
            msg = _tensor_mismatch_msg(an, en, matches, rtol=self.rtol, atol=self.atol)
        self._fail(msg)


_PAIR_TYPES = (_NonePair, _BooleanPair, _NumberPair, _TensorLikePair)


def _originate_pairs(actual, expected, id=(), **options):
    seq, mapping = collections.abc.Sequence, collections.abc.Mapping
    if isinstance(actual, seq) and not isinstance(actual, str) and isinstance(expected, seq) and not isinstance(
            expected, str):
        if len(actual) != len(expected):
            raise _ErrorMeta(AssertionError,
                             f"The length of the sequences mismatch: {len(actual)} != {len(expected)}", id=id)
        pairs = []
        for i in range(len(actual)):
            pairs.extend(_originate_pairs(actual[i], expected[i], id=(*id, i), **options))
        return pairs
    if isinstance(actual, mapping) and isinstance(expected, mapping):
        ak, ek = set(actual.keys()), set(expected.keys())
        if ak != ek:
            raise _ErrorMeta(AssertionError,
                             "The keys of the mappings do not match:\n"
                             f"Missing keys in the actual mapping: {sorted(ek - ak)}\n"
                             f"Additional keys in the actual mapping: {sorted(ak - ek)}", id=id)
        keys = ak
        try:
            keys = sorted(keys)
        except Exception:  # noqa: BLE001 (unorderable keys keep set order, as in torch)
            pass
        pairs = []
        for k in keys:
            pairs.extend(_originate_pairs(actual[k], expected[k], id=(*id, k), **options))
        return pairs
    for pair_type in _PAIR_TYPES:
        try:
            return [pair_type(actual, expected, id=id, **options)]
        except _Unsupported:
            continue
    raise _ErrorMeta(TypeError,
                     f"No comparison pair was able to handle inputs of type {type(actual)} and {type(expected)}.",
                     id=id)


def assert_close(actual, expected, *, allow_subclasses=True, rtol=None, atol=None, equal_nan=False,
                 check_device=True, check_dtype=True, check_layout=True, check_stride=False, msg=None):
    """Assert that actual and expected are close (see the module docstring); torch.testing.assert_close."""
    __tracebackhide__ = True
    try:
        pairs = _originate_pairs(actual, expected, allow_subclasses=allow_subclasses, rtol=rtol, atol=atol,
                                 equal_nan=equal_nan, check_device=check_device, check_dtype=check_dtype,
                                 check_layout=check_layout, check_stride=check_stride)
    except _ErrorMeta as meta:
        raise meta.to_error() from None
    for pair in pairs:
        try:
            pair.compare()
        except _ErrorMeta as meta:
            raise meta.to_error(msg) from None


def assert_allclose(actual, expected, rtol=None, atol=None, equal_nan=True, msg=""):
    """Deprecated in torch since 1.12 (it warns the same way): assert_close with looser defaults."""
    import warnings

    from ._factories import tensor
    warnings.warn("`torch.testing.assert_allclose()` is deprecated since 1.12 and will be removed in a future "
                  "release. Please use `torch.testing.assert_close()` instead. You can find detailed upgrade "
                  "instructions in https://github.com/pytorch/pytorch/issues/61844.", FutureWarning, stacklevel=2)
    if not isinstance(actual, Tensor):
        actual = tensor(actual)
    if not isinstance(expected, Tensor):
        expected = tensor(expected, dtype=actual.dtype)
    if rtol is None and atol is None:
        precisions = {"float32": (1e-4, 1e-5), "float64": (1e-5, 1e-8), "float16": (1e-3, 1e-3)}
        rtols, atols = zip(*[precisions.get(t.dtype.name, (0.0, 0.0)) for t in (actual, expected)])
        rtol, atol = max(rtols), max(atols)
    assert_close(actual, expected, rtol=rtol, atol=atol, equal_nan=equal_nan, check_device=True, check_dtype=False,
                 check_stride=False, msg=msg or None)
