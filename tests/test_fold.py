"""Sliding blocks and shuffles against torch: F.unfold / F.fold (torch's im2col / col2im, here
cpp/ember/ops/fold.cpp over the convolution's primitives) over grids and a hypothesis search of kernel
sizes, dilations, paddings and strides, batched and unbatched, on views, in float16 / bfloat16 / bool,
and fold(unfold(x)) = divisor * x; torch.pixel_shuffle / pixel_unshuffle / channel_shuffle (table ops)
with leading batch dims, factor 1, empty inputs and every dtype; the modules nn.Fold / nn.Unfold /
nn.PixelShuffle / nn.PixelUnshuffle / nn.ChannelShuffle (forward, backward, repr); grad_fn names;
float64 gradients against central finite differences; and every bad call raising torch's exception
type with torch's message. Inputs are numpy arrays from np.random.default_rng (never torch's stream)
copied into both libraries; values and the gradients of sum(out * R) for a fixed numpy R are compared
with torch (helpers.check_op)."""
import os
import sys
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("hypothesis")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch.nn as tnn  # noqa: E402
import torch.nn.functional as TF  # noqa: E402
from helpers import assert_close, check_op, dtype_name, gradcheck, rng, to_np  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import ember  # noqa: E402
import ember.nn as enn  # noqa: E402
import ember.nn.functional as EF  # noqa: E402

LIBS = ((ember, enn, EF), (torch, tnn, TF))


def normal(shape, seed=0, dtype=np.float32):
    return rng(seed).standard_normal(shape).astype(dtype)


def compare(fn, *arrays, grad=True, atol=1e-5, rtol=1e-5):
    """fn(lib, nn, F, *tensors) in ember and in torch on the same numpy arrays: values, shapes,
    dtypes and the gradients of a fixed random projection (helpers.check_op)."""
    return check_op(lambda *a: fn(*LIBS[0], *a), lambda *a: fn(*LIBS[1], *a), list(arrays), grad=grad, atol=atol,
                    rtol=rtol)


def raised(fn, lib, nn, F):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            fn(lib, nn, F)
        except Exception as e:  # noqa: BLE001 (any exception: compared below)
            return e
    return None


def same_error(fn, first_line=False):
    """fn raises in torch, and ember raises the same exception type with the same message (its first
    line only with first_line: torch appends a C++ backtrace to some)."""
    t = raised(fn, *LIBS[1])
    assert t is not None, "torch does not raise"
    e = raised(fn, *LIBS[0])
    assert e is not None, f"ember does not raise; torch raises {t!r}"
    assert type(e) is type(t), f"ember raises {e!r}, torch {t!r}"
    te, ee = str(t), str(e)
    if first_line:
        te, ee = te.splitlines()[0].rstrip('"'), ee.splitlines()[0].rstrip('"')
    assert ee == te, f"ember: {ee!r}\ntorch: {te!r}"


def n_blocks(size, k, d, p, s):
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


# --------------------------------------------------------------------------- unfold

# name -> (input shape, kernel_size, dilation, padding, stride)
UNFOLD = {
    "k2": ((2, 3, 5, 6), 2, 1, 0, 1),
    "k3_pad1": ((2, 2, 5, 5), 3, 1, 1, 1),
    "rect_kernel_stride": ((1, 3, 7, 8), (2, 3), 1, 0, (2, 1)),
    "all_tuples": ((2, 2, 9, 7), (3, 2), (2, 1), (1, 2), (2, 3)),
    "dilation2": ((1, 2, 7, 7), 2, 2, 0, 1),
    "padding_larger_than_kernel": ((1, 1, 3, 4), 2, 1, 3, 2),
    "kernel_equals_input": ((2, 3, 4, 5), (4, 5), 1, 0, 1),
    "stride_larger_than_kernel": ((1, 2, 9, 9), 2, 1, 0, 4),
    "1x1": ((2, 4, 3, 3), 1, 1, 0, 1),
    "1x1_strided": ((1, 2, 5, 6), 1, 1, 0, 2),
    "height_1": ((2, 2, 1, 6), (1, 3), 1, (0, 1), 1),
    "unbatched": ((3, 5, 6), 2, 1, 1, 2),
    "unbatched_dilated": ((2, 6, 5), (2, 3), (2, 1), 0, 1),
    "empty_batch": ((0, 3, 5, 6), 2, 1, 0, 1),
    "lists": ((1, 2, 6, 6), [3, 2], [1, 2], [1, 0], [2, 2]),
}


@pytest.mark.parametrize("name", list(UNFOLD))
def test_unfold_matches_torch(name):
    shape, k, d, p, s = UNFOLD[name]
    compare(lambda lib, nn, F, x: F.unfold(x, k, d, p, s), normal(shape, len(name)))
    compare(lambda lib, nn, F, x: F.unfold(x, kernel_size=k, dilation=d, padding=p, stride=s), normal(shape, 1))


def test_unfold_positional_and_default_arguments():
    x = normal((2, 3, 6, 5), 3)
    compare(lambda lib, nn, F, x: F.unfold(x, 3), x)
    compare(lambda lib, nn, F, x: F.unfold(x, (2, 3), 2), x)
    compare(lambda lib, nn, F, x: F.unfold(x, 2, 1, 1), x)
    compare(lambda lib, nn, F, x: F.unfold(x, 2, stride=2), x)


@pytest.mark.parametrize("view", ["transposed_hw", "channels_last", "sliced"])
def test_unfold_of_views_matches_torch(view):
    make = {"transposed_hw": lambda t: t.transpose(2, 3), "channels_last": lambda t: t.permute(0, 3, 1, 2),
            "sliced": lambda t: t[:, ::2, 1:, ::2]}[view]
    compare(lambda lib, nn, F, x: F.unfold(make(x), (2, 3), padding=1, stride=(1, 2)), normal((2, 4, 7, 6), 4))


def test_unfold_then_matmul_is_conv2d():
    """torch's documented identity: a convolution is unfold, a product and a view."""
    def conv(lib, nn, F, x, w):
        cols = F.unfold(x, (4, 5))
        out = cols.transpose(1, 2).matmul(w.view(w.size(0), -1).t()).transpose(1, 2)
        return out.reshape(1, 2, 7, 8), F.conv2d(x, w)
    e = compare(conv, normal((1, 3, 10, 12), 5), normal((2, 3, 4, 5), 6), atol=1e-4, rtol=1e-4)
    assert_close(e[0], e[1], rtol=1e-4, atol=1e-4)


# --------------------------------------------------------------------------- fold

# name -> (N (None: unbatched), C, output_size, kernel_size, dilation, padding, stride)
FOLD = {
    "k2": (2, 3, (5, 6), 2, 1, 0, 1),
    "k3_pad1": (2, 2, 5, 3, 1, 1, 1),
    "rect_kernel_stride": (1, 3, (7, 8), (2, 3), 1, 0, (2, 1)),
    "all_tuples": (2, 2, (9, 7), (3, 2), (2, 1), (1, 2), (2, 3)),
    "dilation2": (1, 2, (7, 7), 2, 2, 0, 1),
    "non_overlapping": (2, 2, (6, 6), 2, 1, 0, 2),
    "gaps": (1, 2, (9, 9), 2, 1, 0, 4),  # stride > kernel: some outputs no block covers
    "padding_larger_than_kernel": (1, 1, (3, 4), 2, 1, 3, 2),
    "1x1": (2, 4, (3, 3), 1, 1, 0, 1),
    "kernel_equals_output": (2, 3, (4, 5), (4, 5), 1, 0, 1),
    "unbatched": (None, 3, (5, 6), 2, 1, 1, 2),
    "unbatched_dilated": (None, 2, (6, 5), (2, 3), (2, 1), 0, 1),
    "empty_batch": (0, 3, (5, 6), 2, 1, 0, 1),
    "output_1x1_padded": (1, 2, (1, 1), 3, 1, 1, 1),
    "lists": (1, 2, [6, 6], [3, 2], [1, 2], [1, 0], [2, 2]),
}


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def fold_shape(n, c, out, k, d, p, s):
    out, k, d, p, s = map(_pair, (out, k, d, p, s))
    L = n_blocks(out[0], k[0], d[0], p[0], s[0]) * n_blocks(out[1], k[1], d[1], p[1], s[1])
    rows = c * k[0] * k[1]
    return (rows, L) if n is None else (n, rows, L)


@pytest.mark.parametrize("name", list(FOLD))
def test_fold_matches_torch(name):
    n, c, out, k, d, p, s = FOLD[name]
    x = normal(fold_shape(n, c, out, k, d, p, s), len(name))
    compare(lambda lib, nn, F, x: F.fold(x, out, k, d, p, s), x)
    compare(lambda lib, nn, F, x: F.fold(x, output_size=out, kernel_size=k, dilation=d, padding=p, stride=s), x)


def test_fold_of_a_view_matches_torch():
    x = normal((2, 6, 12), 7)  # (N, L, C*k*k) transposed into (N, C*k*k, L)
    compare(lambda lib, nn, F, x: F.fold(x.transpose(1, 2), (3, 4), 2), x)
    compare(lambda lib, nn, F, x: F.fold(x[:, ::2], (3, 4), (1, 1)), normal((2, 4, 12), 8))


@pytest.mark.parametrize("name", ["k3_pad1", "all_tuples", "gaps", "unbatched_dilated"])
def test_fold_of_unfold_is_divisor_times_input(name):
    """torch's documented identity: fold(unfold(x)) == fold(unfold(ones)) * x."""
    n, c, out, k, d, p, s = FOLD[name]
    shape = ((c,) if n is None else (n, c)) + _pair(out)
    x = normal(shape, 9, np.float64)
    xe = ember.tensor(x)
    got = EF.fold(EF.unfold(xe, k, d, p, s), out, k, d, p, s)
    divisor = EF.fold(EF.unfold(ember.ones(*shape, dtype=ember.float64), k, d, p, s), out, k, d, p, s)
    assert_close(got, divisor * xe, rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------- hypothesis

@settings(max_examples=60, deadline=None, derandomize=True)  # the same examples in every run
@given(n=st.integers(0, 2), batched=st.booleans(), c=st.integers(1, 3), h=st.integers(1, 8), w=st.integers(1, 8),
       kh=st.integers(1, 4), kw=st.integers(1, 4), dh=st.integers(1, 3), dw=st.integers(1, 3),
       ph=st.integers(0, 2), pw=st.integers(0, 2), sh=st.integers(1, 3), sw=st.integers(1, 3),
       seed=st.integers(0, 2**16))
def test_unfold_and_fold_random_geometry_match_torch(n, batched, c, h, w, kh, kw, dh, dw, ph, pw, sh, sw, seed):
    k, d, p, s = (kh, kw), (dh, dw), (ph, pw), (sh, sw)
    shape = (n, c, h, w) if batched else (c, h, w)
    bh, bw = n_blocks(h, kh, dh, ph, sh), n_blocks(w, kw, dw, pw, sw)
    x = normal(shape, seed)
    if bh < 1 or bw < 1:
        same_error(lambda lib, nn, F: F.unfold(lib.tensor(x), k, d, p, s))
        same_error(lambda lib, nn, F: F.fold(lib.ones(*(((n,) if batched else ()) + (c * kh * kw, 1))), (h, w), k, d,
                                             p, s))
        return
    compare(lambda lib, nn, F, x: F.unfold(x, k, d, p, s), x)
    cols = normal(((n,) if batched else ()) + (c * kh * kw, bh * bw), seed + 1)
    compare(lambda lib, nn, F, x: F.fold(x, (h, w), k, d, p, s), cols)


# --------------------------------------------------------------------------- dtypes

@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float64"])
def test_unfold_and_fold_in_other_float_dtypes(dtype):
    x = normal((2, 2, 5, 6), 10)
    cols = normal((2, 2 * 3 * 3, 9), 11)
    tol = dict(float16=2e-2, bfloat16=8e-2, float64=1e-12)[dtype]
    for fn, a in ((lambda F, t: F.unfold(t, 3, 1, 1, 2), x), (lambda F, t: F.fold(t, (5, 6), 3, 1, 1, 2), cols)):
        outs = []
        for lib, _, F in LIBS:
            t = lib.tensor(a).to(getattr(lib, dtype)).requires_grad_(True)
            y = fn(F, t)
            y.backward(lib.tensor(normal(tuple(y.shape), 12)).to(getattr(lib, dtype)))
            outs.append((y, t.grad))
        (ey, eg), (ty, tg) = outs
        assert dtype_name(ey.dtype) == dtype_name(ty.dtype) == dtype
        assert dtype_name(eg.dtype) == dtype_name(tg.dtype) == dtype
        assert_close(ey, ty, rtol=tol, atol=tol)
        assert_close(eg, tg, rtol=tol, atol=tol)


def test_unfold_and_fold_of_bool_match_torch():
    """torch has bool kernels: unfold copies, fold's sum of overlapping blocks is an or."""
    x = rng(13).random((2, 2, 4, 5)) > 0.6
    cols = rng(14).random((2, 2 * 2 * 2, 12)) > 0.8
    for fn, a in ((lambda F, t: F.unfold(t, 2, 1, 1, 2), x), (lambda F, t: F.fold(t, (4, 5), 2), cols)):
        e, t = (fn(F, lib.tensor(a)) for lib, _, F in LIBS)
        assert dtype_name(e.dtype) == "bool"
        np.testing.assert_array_equal(to_np(e), to_np(t))


@pytest.mark.parametrize("dtype", ["int64", "int32", "int16", "int8", "uint8"])
def test_unfold_and_fold_refuse_integer_dtypes_as_torch(dtype):
    same_error(lambda lib, nn, F: F.unfold(lib.zeros(2, 3, 4, 4, dtype=getattr(lib, dtype)), 2))
    same_error(lambda lib, nn, F: F.fold(lib.zeros(2, 12, 9, dtype=getattr(lib, dtype)), 4, 2))
    # the shapes are checked before the dtype
    same_error(lambda lib, nn, F: F.unfold(lib.zeros(2, 3, 4, 4, dtype=getattr(lib, dtype)), 7))


# --------------------------------------------------------------------------- shuffles

# name -> (function of (lib, x), input shape)
SHUFFLES = {
    "pixel_shuffle_4d": (lambda lib, x: lib.pixel_shuffle(x, 2), (2, 8, 3, 4)),
    "pixel_shuffle_unbatched": (lambda lib, x: lib.pixel_shuffle(x, 3), (18, 2, 3)),
    "pixel_shuffle_two_batch_dims": (lambda lib, x: lib.pixel_shuffle(x, 2), (2, 3, 4, 2, 3)),
    "pixel_shuffle_three_batch_dims": (lambda lib, x: lib.pixel_shuffle(x, 2), (2, 1, 2, 4, 2, 2)),
    "pixel_shuffle_factor_1": (lambda lib, x: lib.pixel_shuffle(x, 1), (2, 3, 4, 5)),
    "pixel_shuffle_keyword": (lambda lib, x: lib.pixel_shuffle(input=x, upscale_factor=2), (1, 4, 3, 3)),
    "pixel_shuffle_view": (lambda lib, x: lib.pixel_shuffle(x.transpose(2, 3), 2), (2, 8, 3, 4)),
    "pixel_shuffle_empty_batch": (lambda lib, x: lib.pixel_shuffle(x, 2), (0, 8, 3, 3)),
    "pixel_shuffle_empty_height": (lambda lib, x: lib.pixel_shuffle(x, 2), (8, 0, 3)),
    "pixel_unshuffle_4d": (lambda lib, x: lib.pixel_unshuffle(x, 2), (2, 2, 6, 4)),
    "pixel_unshuffle_unbatched": (lambda lib, x: lib.pixel_unshuffle(x, 3), (2, 3, 6)),
    "pixel_unshuffle_two_batch_dims": (lambda lib, x: lib.pixel_unshuffle(x, 2), (2, 3, 1, 4, 2)),
    "pixel_unshuffle_factor_1": (lambda lib, x: lib.pixel_unshuffle(x, 1), (2, 3, 4, 5)),
    "pixel_unshuffle_keyword": (lambda lib, x: lib.pixel_unshuffle(input=x, downscale_factor=2), (1, 1, 4, 4)),
    "pixel_unshuffle_view": (lambda lib, x: lib.pixel_unshuffle(x[:, :, ::2], 2), (2, 2, 8, 4)),
    "pixel_unshuffle_empty": (lambda lib, x: lib.pixel_unshuffle(x, 2), (2, 0, 6)),  # torch: the input's shape
    "pixel_unshuffle_empty_batch": (lambda lib, x: lib.pixel_unshuffle(x, 2), (0, 4, 6)),
    "channel_shuffle_4d": (lambda lib, x: lib.channel_shuffle(x, 2), (2, 6, 3, 3)),
    "channel_shuffle_3d": (lambda lib, x: lib.channel_shuffle(x, 3), (2, 6, 4)),
    "channel_shuffle_6d": (lambda lib, x: lib.channel_shuffle(x, 3), (1, 6, 2, 1, 2, 2)),
    "channel_shuffle_groups_1": (lambda lib, x: lib.channel_shuffle(x, 1), (2, 4, 3)),
    "channel_shuffle_groups_c": (lambda lib, x: lib.channel_shuffle(x, 4), (2, 4, 3)),
    "channel_shuffle_keyword": (lambda lib, x: lib.channel_shuffle(input=x, groups=2), (1, 4, 2, 2)),
    "channel_shuffle_view": (lambda lib, x: lib.channel_shuffle(x.permute(0, 3, 1, 2), 2), (2, 3, 3, 4)),
    "channel_shuffle_no_channels": (lambda lib, x: lib.channel_shuffle(x, 2), (1, 0, 3)),
    "channel_shuffle_empty_batch": (lambda lib, x: lib.channel_shuffle(x, 2), (0, 6, 3)),
}


@pytest.mark.parametrize("name", list(SHUFFLES))
def test_shuffle_matches_torch(name):
    fn, shape = SHUFFLES[name]
    empty = 0 in shape  # torch's backward fails on these (it runs the inverse shuffle, which refuses them)
    compare(lambda lib, nn, F, x: fn(lib, x), normal(shape, len(name)), grad=not empty)


@pytest.mark.parametrize("name", [n for n, (_, shape) in SHUFFLES.items() if 0 in shape])
def test_shuffle_of_empty_input_has_an_empty_gradient(name):
    fn, shape = SHUFFLES[name]
    x = ember.zeros(*shape, requires_grad=True)
    fn(ember, x).sum().backward()
    assert tuple(x.grad.shape) == shape


@pytest.mark.parametrize("name", ["pixel_shuffle", "pixel_unshuffle", "channel_shuffle"])
def test_functional_shuffle_is_the_top_level_op(name):
    assert getattr(EF, name) is getattr(ember, name)
    fn = {"pixel_shuffle": lambda F, x: F.pixel_shuffle(x, 2), "pixel_unshuffle": lambda F, x: F.pixel_unshuffle(x, 2),
          "channel_shuffle": lambda F, x: F.channel_shuffle(x, 2)}[name]
    compare(lambda lib, nn, F, x: fn(F, x), normal((2, 4, 4, 6), 15))


def test_shuffle_values_are_torch_layout():
    """out[c, h * r + i, w * r + j] = in[c * r * r + i * r + j, h, w]; channel_shuffle interleaves groups."""
    x = np.arange(2 * 9 * 2 * 3, dtype=np.float32).reshape(2 * 9, 2, 3)
    y = to_np(ember.pixel_shuffle(ember.tensor(x), 3))
    for c, i, j, h, w in [(0, 0, 0, 0, 0), (1, 2, 1, 1, 2), (0, 1, 2, 1, 0)]:
        assert y[c, h * 3 + i, w * 3 + j] == x[c * 9 + i * 3 + j, h, w]
    z = ember.channel_shuffle(ember.arange(6.0).reshape(1, 6, 1), 2)
    assert z.flatten().tolist() == [0.0, 3.0, 1.0, 4.0, 2.0, 5.0]


def test_unshuffle_inverts_shuffle():
    x = ember.tensor(normal((2, 3, 12, 8, 6), 16))
    assert ember.equal(ember.pixel_unshuffle(ember.pixel_shuffle(x, 2), 2), x)
    assert ember.equal(ember.pixel_shuffle(ember.pixel_unshuffle(x, 2), 2), x)
    y = ember.tensor(normal((2, 12, 4), 16))
    assert ember.equal(ember.channel_shuffle(ember.channel_shuffle(y, 3), 4), y)


@pytest.mark.parametrize("name", ["pixel_shuffle", "pixel_unshuffle", "channel_shuffle"])
def test_shuffle_returns_a_new_tensor_even_when_nothing_moves(name):
    x = ember.tensor(normal((1, 4, 2, 2), 17))
    y = getattr(ember, name)(x, 1)
    assert y.data_ptr() != x.data_ptr() and y.is_contiguous()
    y.add_(1)
    assert_close(x, normal((1, 4, 2, 2), 17))


@pytest.mark.parametrize("dtype", ["int64", "int32", "int16", "int8", "uint8", "bool", "float16", "bfloat16",
                                   "float64"])
@pytest.mark.parametrize("name", ["pixel_shuffle", "pixel_unshuffle", "channel_shuffle"])
def test_shuffles_keep_every_dtype(name, dtype):
    a = rng(18).integers(0, 100, (2, 4, 4, 6))
    outs = [getattr(lib, name)(lib.tensor(a).to(getattr(lib, dtype)), 2) for lib in (ember, torch)]
    assert dtype_name(outs[0].dtype) == dtype_name(outs[1].dtype) == dtype
    assert_close(outs[0].float(), outs[1].float(), rtol=0, atol=0)


# --------------------------------------------------------------------------- autograd

@pytest.mark.parametrize("name", ["unfold", "fold", "pixel_shuffle", "pixel_unshuffle", "channel_shuffle"])
def test_grad_fn_names_match_torch(name):
    call = {"unfold": lambda lib, F, x: F.unfold(x, 2), "fold": lambda lib, F, x: F.fold(x.reshape(1, 4, 4), (3, 3), 2),
            "pixel_shuffle": lambda lib, F, x: lib.pixel_shuffle(x, 2),
            "pixel_unshuffle": lambda lib, F, x: lib.pixel_unshuffle(x, 2),
            "channel_shuffle": lambda lib, F, x: lib.channel_shuffle(x, 2)}[name]
    names = []
    for lib, _, F in LIBS:
        x = lib.tensor(normal((1, 4, 2, 2), 19), requires_grad=True)
        names.append(type(call(lib, F, x).grad_fn).__name__)
    assert names[0] == names[1]


GRADCHECKS = {
    "unfold": (lambda x: EF.unfold(x, (2, 3), (2, 1), 1, (1, 2)), (2, 2, 5, 6)),
    "unfold_unbatched": (lambda x: EF.unfold(x, 2, 1, 0, 2), (2, 4, 5)),
    "fold": (lambda x: EF.fold(x, (5, 6), (2, 3), (2, 1), 1, (1, 2)), (2, 12, 5 * 3)),
    "fold_unbatched_overlapping": (lambda x: EF.fold(x, (4, 4), 3, 1, 1, 1), (18, 16)),
    "pixel_shuffle": (lambda x: ember.pixel_shuffle(x, 2), (2, 1, 8, 2, 3)),
    "pixel_unshuffle": (lambda x: ember.pixel_unshuffle(x, 2), (3, 4, 6)),
    "channel_shuffle": (lambda x: ember.channel_shuffle(x, 3), (2, 6, 2, 2)),
    "unfold_then_fold": (lambda x: EF.fold(EF.unfold(x, 3, padding=1), (4, 5), 3, padding=1), (1, 2, 4, 5)),
}


@pytest.mark.parametrize("name", list(GRADCHECKS))
def test_gradcheck_float64(name):
    fn, shape = GRADCHECKS[name]
    gradcheck(fn, [normal(shape, 20, np.float64)])


def test_no_graph_under_no_grad_and_for_inputs_without_grad():
    x = ember.tensor(normal((1, 4, 2, 2), 21), requires_grad=True)
    with ember.no_grad():
        for y in (EF.unfold(x, 2), ember.pixel_shuffle(x, 2), ember.channel_shuffle(x, 2)):
            assert not y.requires_grad and y.grad_fn is None
    assert EF.fold(ember.ones(1, 4, 1), 2, 2).grad_fn is None


# --------------------------------------------------------------------------- modules

MODULES = {
    "Unfold": (lambda nn: nn.Unfold((2, 3), dilation=(1, 2), padding=1, stride=2), (2, 3, 6, 7)),
    "Unfold_defaults": (lambda nn: nn.Unfold(2), (3, 4, 5)),
    "Fold": (lambda nn: nn.Fold((4, 5), (2, 2)), (1, 12, 12)),
    "Fold_all_args": (lambda nn: nn.Fold([5, 6], 3, dilation=1, padding=1, stride=[2, 1]), (2, 18, 18)),
    "PixelShuffle": (lambda nn: nn.PixelShuffle(3), (2, 9, 2, 3)),
    "PixelUnshuffle": (lambda nn: nn.PixelUnshuffle(2), (1, 2, 4, 6)),
    "ChannelShuffle": (lambda nn: nn.ChannelShuffle(2), (2, 4, 3, 3)),
}


@pytest.mark.parametrize("name", list(MODULES))
def test_module_forward_backward_and_repr_match_torch(name):
    make, shape = MODULES[name]
    mods = [make(nn) for _, nn, _ in LIBS]
    assert repr(mods[0]) == repr(mods[1])
    compare(lambda lib, nn, F, x: mods[0 if lib is ember else 1](x), normal(shape, 22))


def test_modules_in_a_sequential_match_torch():
    def net(nn):
        return nn.Sequential(nn.PixelUnshuffle(2), nn.ChannelShuffle(4), nn.PixelShuffle(2), nn.Unfold(3, padding=1),
                             nn.Fold((4, 6), 3, padding=1))
    mods = [net(nn) for _, nn, _ in LIBS]
    assert repr(mods[0]) == repr(mods[1])
    compare(lambda lib, nn, F, x: mods[0 if lib is ember else 1](x), normal((2, 1, 4, 6), 23))


def test_modules_are_exported_as_torch():
    for name in ("Fold", "Unfold", "PixelShuffle", "PixelUnshuffle", "ChannelShuffle"):
        assert getattr(enn, name) is getattr(enn.modules, name)
        assert name in enn.modules.__all__
    assert EF.unfold is not None and EF.fold is not None


# --------------------------------------------------------------------------- errors

ERRORS = {
    # unfold: ranks and empty dims
    "unfold_2d": lambda lib, nn, F: F.unfold(lib.zeros(5, 6), 2),
    "unfold_1d": lambda lib, nn, F: F.unfold(lib.zeros(6), 2),
    "unfold_0d": lambda lib, nn, F: F.unfold(lib.zeros(()), 2),
    "unfold_5d": lambda lib, nn, F: F.unfold(lib.zeros(1, 2, 3, 5, 6), 2),
    "unfold_no_channels": lambda lib, nn, F: F.unfold(lib.zeros(2, 0, 5, 6), 2),
    "unfold_unbatched_no_channels": lambda lib, nn, F: F.unfold(lib.zeros(0, 5, 6), 2),
    "unfold_zero_height": lambda lib, nn, F: F.unfold(lib.zeros(2, 3, 0, 6), 2),
    "unfold_zero_width": lambda lib, nn, F: F.unfold(lib.zeros(2, 3, 4, 0), 2),
    # unfold: arguments
    "unfold_kernel_too_big": lambda lib, nn, F: F.unfold(lib.zeros(2, 3, 5, 6), 7),
    "unfold_kernel_too_tall": lambda lib, nn, F: F.unfold(lib.zeros(2, 3, 5, 6), (7, 2)),
    "unfold_dilated_too_big": lambda lib, nn, F: F.unfold(lib.zeros(1, 1, 4, 4), 3, dilation=2),
    "unfold_kernel_zero": lambda lib, nn, F: F.unfold(lib.zeros(2, 3, 5, 6), 0),
    "unfold_kernel_negative": lambda lib, nn, F: F.unfold(lib.zeros(2, 3, 5, 6), (2, -1)),
    "unfold_dilation_zero": lambda lib, nn, F: F.unfold(lib.zeros(2, 3, 5, 6), 2, dilation=0),
    "unfold_padding_negative": lambda lib, nn, F: F.unfold(lib.zeros(2, 3, 5, 6), 2, padding=-1),
    "unfold_stride_zero": lambda lib, nn, F: F.unfold(lib.zeros(2, 3, 5, 6), 2, stride=0),
    "unfold_check_order": lambda lib, nn, F: F.unfold(lib.zeros(2, 3, 5, 6), 2, dilation=0, padding=-1, stride=0),
    "unfold_check_order_2": lambda lib, nn, F: F.unfold(lib.zeros(2, 3, 5, 6), 2, padding=-1, stride=0),
    "unfold_values_before_rank": lambda lib, nn, F: F.unfold(lib.zeros(5, 6), 0),
    "unfold_kernel_3_values": lambda lib, nn, F: F.unfold(lib.zeros(2, 3, 5, 6), (2, 2, 2)),
    "unfold_kernel_1_value": lambda lib, nn, F: F.unfold(lib.zeros(2, 3, 5, 6), (2,)),
    "unfold_kernel_empty": lambda lib, nn, F: F.unfold(lib.zeros(2, 3, 5, 6), ()),
    "unfold_stride_3_values": lambda lib, nn, F: F.unfold(lib.zeros(2, 3, 5, 6), 2, stride=(1, 2, 3)),
    "unfold_lengths_in_order": lambda lib, nn, F: F.unfold(lib.zeros(2, 3, 5, 6), (2, 2), dilation=(1, 1, 1),
                                                          stride=(1,)),
    "unfold_kernel_float": lambda lib, nn, F: F.unfold(lib.zeros(2, 3, 5, 6), 2.0),
    "unfold_kernel_bool": lambda lib, nn, F: F.unfold(lib.zeros(2, 3, 5, 6), True),
    "unfold_kernel_none": lambda lib, nn, F: F.unfold(lib.zeros(2, 3, 5, 6), None),
    "unfold_kernel_str": lambda lib, nn, F: F.unfold(lib.zeros(2, 3, 5, 6), "ab"),
    "unfold_kernel_second_float": lambda lib, nn, F: F.unfold(lib.zeros(2, 3, 5, 6), (2, 2.5)),
    "unfold_kernel_third_float": lambda lib, nn, F: F.unfold(lib.zeros(2, 3, 5, 6), (2, 2, 2.0)),
    "unfold_kernel_numpy_float": lambda lib, nn, F: F.unfold(lib.zeros(2, 3, 5, 6), (2, np.float64(2))),
    "unfold_kernel_float_tensor": lambda lib, nn, F: F.unfold(lib.zeros(2, 3, 5, 6), (lib.tensor(2.0), 2)),
    "unfold_kernel_0d_tensor": lambda lib, nn, F: F.unfold(lib.zeros(2, 3, 5, 6), lib.tensor(2)),
    "unfold_kernel_nested": lambda lib, nn, F: F.unfold(lib.zeros(2, 3, 5, 6), ((2,), 2)),
    "unfold_stride_none": lambda lib, nn, F: F.unfold(lib.zeros(2, 3, 5, 6), 2, 1, 0, (1, None)),
    "unfold_type_before_length": lambda lib, nn, F: F.unfold(lib.zeros(2, 3, 5, 6), 2, 1, (0, 0, 0), (1, 1.5)),
    "unfold_input_list": lambda lib, nn, F: F.unfold([1.0], 2),
    "unfold_kernel_overflow": lambda lib, nn, F: F.unfold(lib.zeros(2, 3, 5, 6), (2, 2**63)),
    # fold: ranks and empty dims
    "fold_4d": lambda lib, nn, F: F.fold(lib.zeros(1, 2, 13, 20), (5, 6), 2),
    "fold_1d": lambda lib, nn, F: F.fold(lib.zeros(20), (5, 6), 2),
    "fold_0d": lambda lib, nn, F: F.fold(lib.zeros(()), (5, 6), 2),
    "fold_no_rows": lambda lib, nn, F: F.fold(lib.zeros(2, 0, 20), (5, 6), 2),
    "fold_no_blocks": lambda lib, nn, F: F.fold(lib.zeros(2, 12, 0), (5, 6), 2),
    "fold_unbatched_no_rows": lambda lib, nn, F: F.fold(lib.zeros(0, 20), (5, 6), 2),
    # fold: shapes
    "fold_blocks_mismatch": lambda lib, nn, F: F.fold(lib.zeros(2, 12, 21), (5, 6), 2),
    "fold_rows_not_divisible": lambda lib, nn, F: F.fold(lib.zeros(2, 13, 20), (5, 6), 2),
    "fold_rows_not_divisible_first": lambda lib, nn, F: F.fold(lib.zeros(2, 13, 20), 5, 2, stride=7),
    "fold_unbatched_mismatch": lambda lib, nn, F: F.fold(lib.zeros(12, 19), (5, 6), 2),
    "fold_kernel_bigger_than_output": lambda lib, nn, F: F.fold(lib.zeros(2, 12, 1), (1, 1), 2),
    "fold_negative_blocks": lambda lib, nn, F: F.fold(lib.zeros(2, 18, 1), (1, 1), 3),
    "fold_negative_blocks_mismatch": lambda lib, nn, F: F.fold(lib.zeros(2, 18, 1), (0, 0), 3),
    "fold_output_zero": lambda lib, nn, F: F.fold(lib.zeros(2, 12, 1), (0, 0), 2, padding=1),
    "fold_output_negative": lambda lib, nn, F: F.fold(lib.zeros(2, 12, 1), (-1, -1), 2, padding=1),
    "fold_mixed_sizes": lambda lib, nn, F: F.fold(lib.zeros(2, 12, 20), (5, 6), 2, 1, 0, (1, 3)),
    "fold_padded_mismatch": lambda lib, nn, F: F.fold(lib.zeros(2, 12, 4), (2, 2), 2, padding=1),
    # fold: arguments
    "fold_kernel_zero": lambda lib, nn, F: F.fold(lib.zeros(2, 12, 20), (5, 6), 0),
    "fold_stride_zero": lambda lib, nn, F: F.fold(lib.zeros(2, 12, 20), (5, 6), 2, stride=0),
    "fold_dilation_zero": lambda lib, nn, F: F.fold(lib.zeros(2, 12, 20), (5, 6), 2, dilation=0),
    "fold_padding_negative": lambda lib, nn, F: F.fold(lib.zeros(2, 12, 20), (5, 6), 2, padding=-1),
    "fold_check_order": lambda lib, nn, F: F.fold(lib.zeros(2, 12, 20), 5, 2, dilation=0, padding=-1, stride=0),
    "fold_check_order_2": lambda lib, nn, F: F.fold(lib.zeros(2, 12, 20), 5, 2, dilation=0, padding=-1),
    "fold_values_before_rank": lambda lib, nn, F: F.fold(lib.zeros(20), 5, 0),
    "fold_output_3_values": lambda lib, nn, F: F.fold(lib.zeros(2, 12, 20), (5, 6, 7), 2),
    "fold_output_1_value": lambda lib, nn, F: F.fold(lib.zeros(2, 12, 20), (5,), 2),
    "fold_kernel_3_values": lambda lib, nn, F: F.fold(lib.zeros(2, 12, 20), 5, (2, 2, 2)),
    "fold_lengths_in_order": lambda lib, nn, F: F.fold(lib.zeros(2, 12, 20), 5, 2, dilation=(1, 1, 1),
                                                      padding=(1, 1, 1)),
    "fold_stride_3_values": lambda lib, nn, F: F.fold(lib.zeros(2, 12, 20), (5, 6), 2, stride=(1, 1, 1)),
    "fold_output_none": lambda lib, nn, F: F.fold(lib.zeros(2, 12, 20), None, 2),
    "fold_output_second_float": lambda lib, nn, F: F.fold(lib.zeros(2, 12, 20), (5, 6.0), 2),
    "fold_stride_float": lambda lib, nn, F: F.fold(lib.zeros(2, 12, 20), (5, 6), 2, 1, 0, 1.0),
    "fold_stride_third_float": lambda lib, nn, F: F.fold(lib.zeros(2, 12, 20), (5, 6), 2, 1, (2, 2, 2), (1, 1, 1.5)),
    "fold_input_list": lambda lib, nn, F: F.fold([1.0], 2, 2),
    # shuffles
    "pixel_shuffle_2d": lambda lib, nn, F: lib.pixel_shuffle(lib.zeros(3, 3), 2),
    "pixel_shuffle_channels": lambda lib, nn, F: lib.pixel_shuffle(lib.zeros(7, 3, 3), 2),
    "pixel_shuffle_zero": lambda lib, nn, F: lib.pixel_shuffle(lib.zeros(8, 3, 3), 0),
    "pixel_shuffle_negative": lambda lib, nn, F: lib.pixel_shuffle(lib.zeros(8, 3, 3), -2),
    "pixel_shuffle_rank_first": lambda lib, nn, F: lib.pixel_shuffle(lib.zeros(3, 3), 0),
    "pixel_shuffle_factor_first": lambda lib, nn, F: lib.pixel_shuffle(lib.zeros(7, 3, 3), 0),
    "pixel_shuffle_square_overflows": lambda lib, nn, F: lib.pixel_shuffle(lib.zeros(7, 3, 3), 2**40),
    "pixel_shuffle_float_factor": lambda lib, nn, F: lib.pixel_shuffle(lib.zeros(8, 3, 3), 2.0),
    "pixel_shuffle_module_2d": lambda lib, nn, F: nn.PixelShuffle(2)(lib.zeros(3, 3)),
    "pixel_unshuffle_2d": lambda lib, nn, F: lib.pixel_unshuffle(lib.zeros(4, 6), 2),
    "pixel_unshuffle_height": lambda lib, nn, F: lib.pixel_unshuffle(lib.zeros(2, 5, 6), 2),
    "pixel_unshuffle_width": lambda lib, nn, F: lib.pixel_unshuffle(lib.zeros(2, 4, 5), 2),
    "pixel_unshuffle_zero": lambda lib, nn, F: lib.pixel_unshuffle(lib.zeros(2, 4, 6), 0),
    "pixel_unshuffle_negative": lambda lib, nn, F: lib.pixel_unshuffle(lib.zeros(2, 4, 6), -1),
    "pixel_unshuffle_factor_first": lambda lib, nn, F: lib.pixel_unshuffle(lib.zeros(3, 5, 5), 0),
    "pixel_unshuffle_empty_checked": lambda lib, nn, F: lib.pixel_unshuffle(lib.zeros(2, 0, 5), 2),
    "pixel_unshuffle_huge_factor": lambda lib, nn, F: lib.pixel_unshuffle(lib.zeros(7, 3, 3), 2**40),
    "channel_shuffle_2d": lambda lib, nn, F: lib.channel_shuffle(lib.zeros(1, 6), 2),
    "channel_shuffle_1d": lambda lib, nn, F: lib.channel_shuffle(lib.zeros(6), 2),
    "channel_shuffle_0d": lambda lib, nn, F: lib.channel_shuffle(lib.zeros(()), 2),
    "channel_shuffle_not_divisible": lambda lib, nn, F: lib.channel_shuffle(lib.zeros(1, 6, 3, 3), 4),
    "channel_shuffle_zero": lambda lib, nn, F: lib.channel_shuffle(lib.zeros(1, 6, 3, 3), 0),
    "channel_shuffle_negative": lambda lib, nn, F: lib.channel_shuffle(lib.zeros(1, 6, 3, 3), -2),
    "channel_shuffle_rank_first": lambda lib, nn, F: lib.channel_shuffle(lib.zeros(3, 3), 0),
    "channel_shuffle_groups_before_channels": lambda lib, nn, F: lib.channel_shuffle(lib.zeros(1, 5, 5), 0),
    "channel_shuffle_float_groups": lambda lib, nn, F: lib.channel_shuffle(lib.zeros(2, 8, 3), 2.0),
    "channel_shuffle_module": lambda lib, nn, F: nn.ChannelShuffle(4)(lib.zeros(1, 6, 2)),
}
FIRST_LINE_ONLY = {"unfold_kernel_overflow"}  # torch appends a C++ backtrace


@pytest.mark.parametrize("name", list(ERRORS))
def test_errors_match_torch(name):
    same_error(ERRORS[name], first_line=name in FIRST_LINE_ONLY)
