"""Convolution, pooling and the batch / group / instance normalisation layers against torch:
F.conv1d/2d/3d and F.conv_transpose1d/2d/3d (and ember.conv2d ... ember.convolution at the top
level) over a grid of strides, paddings (ints, tuples, 'same', 'valid'), dilations, groups and
biases, on batched, unbatched and non-contiguous inputs, plus a hypothesis search over random conv2d
geometry; max / avg / adaptive / lp pooling and max_unpool (indices, ceil_mode, count_include_pad,
divisor_override, unbatched inputs, ties routed to the first maximum like torch); the modules
(padding modes, ConvTranspose output_size, state_dict, repr, default init); BatchNorm2d/3d running
statistics, GroupNorm and InstanceNorm; a LeNet trained three SGD steps; torch's exception types for
bad arguments. Inputs are numpy arrays from np.random.default_rng (never torch's stream) copied into
both libraries; values and the gradients of sum(out * R) for a fixed numpy R are compared with
torch in float32, and with central finite differences in float64."""
import itertools
import os
import sys
import warnings
from types import SimpleNamespace

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("hypothesis")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch.nn as tnn  # noqa: E402
import torch.nn.functional as TF  # noqa: E402
from helpers import assert_close, dtype_name, gradcheck, rng, to_np  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import ember  # noqa: E402
import ember.nn as enn  # noqa: E402
import ember.nn.functional as EF  # noqa: E402

LIBS = ((ember, enn, EF), (torch, tnn, TF))
# The same namespaces with a fixed name, for callables that keep per-library state (twin modules).
SIDES = tuple(SimpleNamespace(name=name, lib=lib, nn=nn, F=F) for name, (lib, nn, F) in zip(("ember", "torch"), LIBS))

F32 = dict(rtol=1e-4, atol=1e-4)  # float32 against torch: summation order differs


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns about 'same' with even kernels, lazy modules ...
        yield


# --------------------------------------------------------------------------- helpers

def both(fn):
    """fn(lib, nn, F) run with ember's namespaces, then with torch's: (ember_result, torch_result)."""
    return tuple(fn(lib, nn, F) for lib, nn, F in LIBS)


def normal(shape, seed=0, scale=1.0, dtype=np.float32):
    return (rng(seed).standard_normal(shape) * scale).astype(dtype)


def positive(shape, seed=0, dtype=np.float32):
    return rng(seed).uniform(0.2, 2.0, shape).astype(dtype)


def distinct(shape, seed=0, dtype=np.float32):
    """A random permutation of well-separated values: no ties, so a finite difference cannot move a
    maximum to another element."""
    n = int(np.prod(shape))
    return ((rng(seed).permutation(n) - n / 2) * 0.1).reshape(shape).astype(dtype)


def with_ties(shape, seed=0, levels=3):
    """Small integers as floats: every pooling window holds duplicates of its maximum."""
    return rng(seed).integers(0, levels, shape).astype(np.float32)


def conv_arrays(x_shape, w_shape, bias_size, seed=0, dtype=np.float32):
    """Input, weight (scaled by 1/sqrt(fan in), so outputs are O(1)) and bias (None when
    bias_size is falsy) for a convolution."""
    g = rng(seed)
    fan_in = max(1, int(np.prod(w_shape[1:])))
    x = g.standard_normal(x_shape).astype(dtype)
    w = (g.standard_normal(w_shape) / np.sqrt(fan_in)).astype(dtype)
    b = g.standard_normal(bias_size).astype(dtype) if bias_size else None
    return x, w, b


def _flat(out):
    if isinstance(out, (tuple, list)):
        return [o for part in out for o in _flat(part)]
    return [out]


def _project(lib, outs, projections):
    loss = None
    for o, r in zip(outs, projections):
        term = (o * lib.tensor(r)).sum()
        loss = term if loss is None else loss + term
    return loss


def run_both(fn, arrays, *, views=None, grad=True, rtol=1e-4, atol=1e-4, seed=1234):
    """Run fn(L, *tensors) in ember and in torch (L: SimpleNamespace with name, lib, nn, F) on the
    same numpy `arrays` (None and Python values are passed through). Float arrays become leaves made
    with lib.tensor(a, requires_grad=True), handed to fn through views[k](leaf) when given (a
    transposed / sliced view, say). Compares every output (shape, dtype; values, integer outputs
    such as pooling indices exactly), then backpropagates sum_k(out_k * R_k) for fixed numpy R_k and
    compares the gradient of every leaf. Returns (ember_outputs, torch_outputs) as flat lists."""
    views = views or {}
    runs = []
    for side in SIDES:
        leaves, args = [], []
        for k, a in enumerate(arrays):
            if isinstance(a, np.ndarray):
                t = side.lib.tensor(a.copy(), requires_grad=bool(grad and a.dtype.kind == "f"))
                leaves.append(t)
                args.append(views[k](t) if k in views else t)
            else:
                leaves.append(None)
                args.append(a)
        runs.append((leaves, _flat(fn(side, *args))))
    (e_leaves, e_outs), (t_leaves, t_outs) = runs
    assert len(e_outs) == len(t_outs), f"{len(e_outs)} outputs, torch gives {len(t_outs)}"
    for i, (e, t) in enumerate(zip(e_outs, t_outs)):
        assert tuple(e.shape) == tuple(t.shape), f"output {i}: shape {tuple(e.shape)} != torch {tuple(t.shape)}"
        assert dtype_name(e.dtype) == dtype_name(t.dtype), f"output {i}: dtype {e.dtype} != torch {t.dtype}"
        if t.is_floating_point():
            assert_close(e, t, rtol=rtol, atol=atol, msg=f"forward output {i}")
        else:
            np.testing.assert_array_equal(to_np(e), to_np(t), err_msg=f"output {i}")
    if not grad:
        return e_outs, t_outs
    pairs = [(e, t) for e, t in zip(e_outs, t_outs) if t.requires_grad]
    for e, _ in pairs:
        assert e.requires_grad, "ember output does not require grad but torch's does"
    if not pairs:
        return e_outs, t_outs
    g = rng(seed)
    projections = [g.standard_normal(tuple(t.shape)).astype(to_np(t).dtype) for _, t in pairs]
    _project(ember, [e for e, _ in pairs], projections).backward()
    _project(torch, [t for _, t in pairs], projections).backward()
    for k, (e, t) in enumerate(zip(e_leaves, t_leaves)):
        if t is None or not t.requires_grad:
            continue
        if t.grad is None:
            assert e.grad is None or not np.any(to_np(e.grad)), f"input {k}: ember has a grad, torch none"
            continue
        assert e.grad is not None, f"input {k}: ember grad is None, torch has one"
        assert_close(e.grad, t.grad, rtol=rtol, atol=atol, msg=f"grad of input {k}")
    return e_outs, t_outs


def twin(make, seed=0):
    """{'ember': make(enn), 'torch': make(tnn)} with identical numpy-drawn parameters, matched by
    torch's parameter names (which must be ember's names too): weights uniform in +-1/sqrt(fan in),
    1-d weights around 1, biases around 0."""
    mods = {"ember": make(enn), "torch": make(tnn)}
    e_params = dict(mods["ember"].named_parameters())
    t_params = dict(mods["torch"].named_parameters())
    assert list(e_params) == list(t_params)
    g = rng(seed)
    with torch.no_grad(), ember.no_grad():
        for name, tp in t_params.items():
            shape = tuple(tp.shape)
            if len(shape) >= 2:
                arr = g.uniform(-1, 1, shape) / np.sqrt(max(1, int(np.prod(shape[1:]))))
            elif name.endswith("weight"):
                arr = g.uniform(0.5, 1.5, shape)
            else:
                arr = g.uniform(-0.5, 0.5, shape)
            arr = arr.astype(np.float32)
            assert tuple(e_params[name].shape) == shape, name
            tp.copy_(torch.tensor(arr))
            e_params[name].copy_(ember.tensor(arr))
    return mods


def assert_param_grads(e_module, t_module, rtol=1e-4, atol=1e-4):
    e_params = dict(e_module.named_parameters())
    for name, tp in t_module.named_parameters():
        ep = e_params[name]
        if tp.grad is None:
            assert ep.grad is None or not np.any(to_np(ep.grad)), name
        else:
            assert ep.grad is not None, f"no gradient for {name}"
            assert_close(ep.grad, tp.grad, rtol=rtol, atol=atol, msg=f"grad of {name}")


def compare_modules(mods, arrays, call=None, views=None, seed=77, **tol):
    """run_both on call(module, *inputs) for the twin modules, then compare the parameters' grads."""
    tol = {**F32, **tol}
    call = call or (lambda m, *xs: m(*xs))
    outs = run_both(lambda L, *xs: call(mods[L.name], *xs), arrays, views=views, seed=seed, **tol)
    assert_param_grads(mods["ember"], mods["torch"], **tol)
    return outs


def assert_buffers_match(mods, rtol=1e-5, atol=1e-6):
    e_bufs = dict(mods["ember"].named_buffers())
    t_bufs = dict(mods["torch"].named_buffers())
    assert list(e_bufs) == list(t_bufs)
    for name, tb in t_bufs.items():
        eb = e_bufs[name]
        assert dtype_name(eb.dtype) == dtype_name(tb.dtype), name
        assert_close(eb, tb, rtol=rtol, atol=atol, msg=name)


# --------------------------------------------------------------------------- conv2d grid

# name -> (N, C_in, C_out, (H, W), kernel, bias)
CONV2D_GEOMS = {
    "n1_bias_k3x2": (1, 4, 8, (7, 8), (3, 2), True),
    "n3_nobias_k2x3": (3, 4, 4, (6, 9), (2, 3), False),
}
PADDINGS = [0, 1, (1, 2), "same", "valid"]


def _conv2d_grid():
    for geom, padding, stride, dilation, groups in itertools.product(CONV2D_GEOMS, PADDINGS, [1, 2], [1, 2],
                                                                      [1, 2, "depthwise"]):
        if padding == "same" and stride != 1:  # torch refuses (tested with the errors below)
            continue
        pid = "x".join(map(str, padding)) if isinstance(padding, tuple) else padding
        yield pytest.param(geom, padding, stride, dilation, groups,
                           id=f"{geom}-p{pid}-s{stride}-d{dilation}-g{groups}")


@pytest.mark.parametrize("geom,padding,stride,dilation,groups", list(_conv2d_grid()))
def test_conv2d_grid_matches_torch(geom, padding, stride, dilation, groups):
    n, cin, cout, hw, k, bias = CONV2D_GEOMS[geom]
    g = cin if groups == "depthwise" else groups
    x, w, b = conv_arrays((n, cin) + hw, (cout, cin // g) + k, cout if bias else None, seed=len(geom) + stride)
    run_both(lambda L, x, w, b: L.F.conv2d(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=g),
             [x, w, b], **F32)


# --------------------------------------------------------------------------- other convolutions

# name -> (function, input shape, weight shape, bias?, keyword arguments). Transposed weights are
# (C_in, C_out / groups, *kernel) and their bias has C_out entries.
CONV_CASES = {
    # conv2d corners the grid does not reach
    "conv2d_stride_tuple": ("conv2d", (2, 3, 7, 9), (4, 3, 3, 3), True, dict(stride=(2, 1), padding=(0, 1))),
    "conv2d_same_even_kernel": ("conv2d", (2, 2, 5, 6), (3, 2, 2, 4), False, dict(padding="same")),
    "conv2d_same_dilation_tuple": ("conv2d", (1, 2, 6, 7), (3, 2, 4, 2), True, dict(padding="same", dilation=(2, 1))),
    "conv2d_1x1_stride2": ("conv2d", (2, 4, 5, 5), (6, 4, 1, 1), True, dict(stride=2)),
    "conv2d_kernel_equals_input": ("conv2d", (2, 3, 4, 5), (2, 3, 4, 5), True, {}),
    "conv2d_height_1": ("conv2d", (2, 3, 1, 8), (4, 3, 1, 3), True, dict(padding=(0, 1))),
    "conv2d_padding_larger_than_kernel": ("conv2d", (1, 2, 3, 3), (2, 2, 2, 2), True, dict(padding=3, stride=2)),
    "conv2d_groups3_mixed": ("conv2d", (2, 6, 5, 5), (6, 2, 3, 3), True,
                             dict(groups=3, stride=(1, 2), dilation=(2, 1), padding=(2, 0))),
    "conv2d_depthwise_multiplier2": ("conv2d", (2, 3, 6, 6), (6, 1, 3, 3), False, dict(groups=3, padding="same")),
    "conv2d_wide_channels": ("conv2d", (1, 16, 4, 4), (8, 16, 3, 3), True, dict(padding=1)),
    "conv2d_unbatched": ("conv2d", (3, 6, 7), (4, 3, 3, 2), True, dict(stride=2, padding=1)),
    "conv2d_unbatched_groups_valid": ("conv2d", (4, 5, 5), (2, 2, 2, 2), False, dict(groups=2, padding="valid")),
    "conv2d_empty_batch": ("conv2d", (0, 2, 5, 5), (3, 2, 3, 3), True, {}),
    # conv1d
    "conv1d_plain": ("conv1d", (2, 3, 10), (4, 3, 3), True, {}),
    "conv1d_stride2_pad1": ("conv1d", (2, 3, 10), (4, 3, 3), True, dict(stride=2, padding=1)),
    "conv1d_same_groups_dilation": ("conv1d", (1, 4, 9), (6, 2, 4), False, dict(padding="same", groups=2, dilation=2)),
    "conv1d_same_even_depthwise": ("conv1d", (3, 4, 8), (4, 1, 2), True, dict(padding="same", groups=4)),
    "conv1d_valid_dilation3": ("conv1d", (2, 3, 7), (2, 3, 3), True, dict(padding="valid", dilation=3)),
    "conv1d_tuple_args": ("conv1d", (2, 2, 8), (3, 2, 3), True, dict(stride=(2,), padding=(2,), dilation=(1,))),
    "conv1d_unbatched": ("conv1d", (3, 11), (5, 3, 3), True, dict(stride=3, padding=2)),
    # conv3d
    "conv3d_plain": ("conv3d", (2, 2, 5, 4, 6), (3, 2, 2, 3, 2), True, {}),
    "conv3d_groups_mixed": ("conv3d", (1, 4, 5, 5, 5), (4, 2, 3, 3, 3), True,
                            dict(groups=2, stride=(2, 1, 2), padding=(1, 0, 1), dilation=(1, 2, 1))),
    "conv3d_depthwise_stride2": ("conv3d", (1, 3, 6, 5, 4), (3, 1, 2, 2, 2), False, dict(groups=3, stride=2)),
    "conv3d_unbatched_same": ("conv3d", (2, 4, 4, 4), (3, 2, 3, 1, 2), True, dict(padding="same")),
    # transposed
    "conv_transpose1d_stride2_outpad": ("conv_transpose1d", (2, 4, 6), (4, 3, 3), True,
                                        dict(stride=2, padding=1, output_padding=1)),
    "conv_transpose1d_groups_dilation": ("conv_transpose1d", (1, 4, 5), (4, 2, 3), True,
                                         dict(stride=2, output_padding=1, groups=2, dilation=2)),
    "conv_transpose1d_unbatched": ("conv_transpose1d", (3, 5), (3, 2, 4), False, dict(stride=3, output_padding=2)),
    "conv_transpose2d_stride2_outpad": ("conv_transpose2d", (2, 4, 5, 4), (4, 3, 3, 3), True,
                                        dict(stride=2, padding=1, output_padding=1)),
    "conv_transpose2d_groups_dilation": ("conv_transpose2d", (1, 4, 4, 5), (4, 2, 3, 2), True,
                                         dict(stride=(2, 1), padding=(1, 0), output_padding=(1, 0), groups=2,
                                              dilation=2)),
    "conv_transpose2d_plain": ("conv_transpose2d", (3, 2, 3, 3), (2, 5, 2, 2), False, dict(stride=2)),
    "conv_transpose2d_stride1": ("conv_transpose2d", (2, 3, 4, 4), (3, 2, 3, 3), True, {}),
    "conv_transpose2d_unbatched_depthwise": ("conv_transpose2d", (4, 3, 3), (4, 1, 3, 3), True,
                                             dict(stride=2, padding=1, output_padding=1, groups=4)),
    "conv_transpose3d": ("conv_transpose3d", (1, 2, 3, 3, 2), (2, 3, 2, 2, 2), True,
                         dict(stride=2, padding=(0, 1, 0), output_padding=1)),
}


def _bias_size(fn, w_shape, kwargs):
    return w_shape[1] * kwargs.get("groups", 1) if fn.startswith("conv_transpose") else w_shape[0]


@pytest.mark.parametrize("name", list(CONV_CASES))
def test_conv_cases_match_torch(name):
    fn, x_shape, w_shape, bias, kwargs = CONV_CASES[name]
    x, w, b = conv_arrays(x_shape, w_shape, _bias_size(fn, w_shape, kwargs) if bias else None, seed=len(name))
    run_both(lambda L, x, w, b: getattr(L.F, fn)(x, w, b, **kwargs), [x, w, b], **F32)


def test_conv_positional_arguments_match_torch():
    """torch's positional orders: conv(input, weight, bias, stride, padding, dilation, groups) and
    conv_transpose(input, weight, bias, stride, padding, output_padding, groups, dilation)."""
    x, w, b = conv_arrays((2, 4, 7, 6), (6, 2, 3, 2), 6, seed=1)
    run_both(lambda L, x, w, b: L.F.conv2d(x, w, b, (2, 1), 1, (1, 2), 2), [x, w, b], **F32)
    x, w, b = conv_arrays((2, 4, 5), (4, 3, 3), 6, seed=2)
    run_both(lambda L, x, w, b: L.F.conv_transpose1d(x, w, b, 2, 1, 1, 2, 2), [x, w, b], **F32)
    x, w, b = conv_arrays((1, 2, 4, 3), (2, 3, 2, 3), 3, seed=3)
    run_both(lambda L, x, w, b: L.F.conv_transpose2d(x, w, b, 2, (0, 1), 1, 1, (1, 2)), [x, w, b], **F32)
    x, w, _ = conv_arrays((1, 2, 4, 4, 4), (2, 2, 2, 2, 2), None, seed=4)
    run_both(lambda L, x, w: L.F.conv3d(x, w, None, 2, 1, 1, 1), [x, w], **F32)


# name -> (function of (lib, x, w, b), input shape, weight shape, bias size)
TOP_LEVEL = {
    "conv1d": (lambda lib, x, w, b: lib.conv1d(x, w, b, 2, 1, 1, 1), (2, 3, 9), (4, 3, 3), 4),
    "conv2d_same": (lambda lib, x, w, b: lib.conv2d(x, w, b, 1, "same", 2, 1), (2, 2, 6, 6), (3, 2, 3, 2), 3),
    "conv3d": (lambda lib, x, w, b: lib.conv3d(x, w, b, 1, 0, 1, 1), (1, 2, 4, 3, 4), (3, 2, 2, 2, 2), 3),
    "conv_transpose1d": (lambda lib, x, w, b: lib.conv_transpose1d(x, w, b, 2, 0, 1, 1, 1), (2, 3, 4), (3, 2, 3), 2),
    "conv_transpose2d": (lambda lib, x, w, b: lib.conv_transpose2d(x, w, b, 2, 1, 1, 2, 1), (1, 4, 3, 3),
                         (4, 2, 3, 3), 4),
    "conv_transpose3d": (lambda lib, x, w, b: lib.conv_transpose3d(x, w, b, 2), (1, 2, 2, 3, 2), (2, 2, 2, 2, 2),
                         2),
    "convolution": (lambda lib, x, w, b: lib.convolution(x, w, b, [2, 1], [1, 0], [1, 2], False, [0, 0], 2),
                    (2, 4, 6, 7), (4, 2, 3, 2), 4),
    "convolution_transposed": (lambda lib, x, w, b: lib.convolution(x, w, b, [2, 2], [1, 1], [1, 1], True, [1, 0],
                                                                     1), (1, 3, 4, 3), (3, 2, 3, 3), 2),
    "convolution_1d_no_bias": (lambda lib, x, w, b: lib.convolution(x, w, None, [1], [2], [2], False, [0], 1),
                               (2, 2, 6), (3, 2, 3), 0),
}


@pytest.mark.parametrize("name", list(TOP_LEVEL))
def test_top_level_convolution_functions_match_torch(name):
    fn, x_shape, w_shape, bias = TOP_LEVEL[name]
    x, w, b = conv_arrays(x_shape, w_shape, bias, seed=5)
    run_both(lambda L, x, w, b: fn(L.lib, x, w, b), [x, w, b], **F32)


# name -> (function, input leaf shape, input view, weight leaf shape, weight view, bias leaf size, bias view, kwargs)
NONCONTIG = {
    "conv2d_input_transposed_hw": ("conv2d", (2, 3, 8, 7), lambda t: t.transpose(2, 3), (4, 3, 3, 2), None, 4, None,
                                   dict(padding=1)),
    "conv2d_channels_last": ("conv2d", (2, 7, 8, 3), lambda t: t.permute(0, 3, 1, 2), (4, 3, 3, 3), None, 4, None,
                             dict(stride=2, padding=1)),
    "conv2d_sliced_input_weight_bias": ("conv2d", (2, 3, 14, 9), lambda t: t[:, :, ::2, 1:], (8, 3, 3, 2),
                                        lambda t: t[::2], 8, lambda t: t[1::2], dict(dilation=(1, 2))),
    "conv2d_weight_transposed": ("conv2d", (1, 4, 6, 6), None, (6, 2, 2, 3), lambda t: t.transpose(2, 3), 0, None,
                                 dict(groups=2)),
    "conv2d_depthwise_sliced_channels": ("conv2d", (2, 8, 6, 6), lambda t: t[:, ::2], (4, 1, 3, 3), None, 4, None,
                                         dict(groups=4, padding="same")),
    "conv1d_input_transposed": ("conv1d", (2, 9, 3), lambda t: t.transpose(1, 2), (5, 3, 2), None, 5, None,
                                dict(stride=2)),
    "conv3d_permuted": ("conv3d", (1, 4, 5, 3, 2), lambda t: t.permute(0, 4, 1, 2, 3), (3, 2, 2, 2, 2), None, 3, None,
                        dict(padding=(1, 0, 0))),
    "conv_transpose2d_channels_last": ("conv_transpose2d", (2, 5, 4, 4), lambda t: t.permute(0, 3, 1, 2),
                                       (4, 3, 3, 3), None, 3, None, dict(stride=2, padding=1, output_padding=1)),
    "conv_transpose1d_weight_sliced": ("conv_transpose1d", (2, 2, 5), None, (2, 6, 3), lambda t: t[:, 1::2], 0, None,
                                       dict(stride=2)),
}


@pytest.mark.parametrize("name", list(NONCONTIG))
def test_conv_non_contiguous_inputs_match_torch(name):
    fn, x_shape, xv, w_shape, wv, bias, bv, kwargs = NONCONTIG[name]
    x, w, b = conv_arrays(x_shape, w_shape, bias, seed=6)
    views = {k: v for k, v in ((0, xv), (1, wv), (2, bv)) if v is not None}
    run_both(lambda L, x, w, b: getattr(L.F, fn)(x, w, b, **kwargs), [x, w, b], views=views, **F32)


# --------------------------------------------------------------------------- hypothesis

@settings(max_examples=40, deadline=None, derandomize=True)  # the same examples in every run
@given(n=st.integers(1, 3), groups=st.integers(1, 3), cin_g=st.integers(1, 3), cout_g=st.integers(1, 2),
       h=st.integers(1, 9), w=st.integers(1, 9), kh=st.integers(1, 4), kw=st.integers(1, 4),
       sh=st.integers(1, 3), sw=st.integers(1, 3), ph=st.integers(0, 2), pw=st.integers(0, 2),
       dh=st.integers(1, 2), dw=st.integers(1, 2), pad_kind=st.sampled_from(["ints", "ints", "same", "valid"]),
       bias=st.booleans(), seed=st.integers(0, 2**16))
def test_conv2d_random_geometry_matches_torch(n, groups, cin_g, cout_g, h, w, kh, kw, sh, sw, ph, pw, dh, dw,
                                              pad_kind, bias, seed):
    cin, cout = groups * cin_g, groups * cout_g
    stride = (sh, sw)
    if pad_kind == "same":
        stride, padding, pads = (1, 1), "same", (dh * (kh - 1), dw * (kw - 1))
    elif pad_kind == "valid":
        padding, pads = "valid", (0, 0)
    else:
        padding, pads = (ph, pw), (2 * ph, 2 * pw)
    x, wt, b = conv_arrays((n, cin, h, w), (cout, cin_g, kh, kw), cout if bias else None, seed=seed)
    fits = h + pads[0] >= dh * (kh - 1) + 1 and w + pads[1] >= dw * (kw - 1) + 1
    if not fits:  # torch refuses an output smaller than 1: so must ember, with the same type
        for lib, _, F in reversed(LIBS):
            with pytest.raises(RuntimeError):
                F.conv2d(lib.tensor(x), lib.tensor(wt), None, stride, padding, (dh, dw), groups)
        return
    run_both(lambda L, x, wt, b: L.F.conv2d(x, wt, b, stride=stride, padding=padding, dilation=(dh, dw),
                                            groups=groups), [x, wt, b], seed=seed, **F32)


# --------------------------------------------------------------------------- float64 gradchecks

def _gc_conv(fn, x_shape, w_shape, bias, seed, **kwargs):
    x, w, b = conv_arrays(x_shape, w_shape, bias, seed=seed, dtype=np.float64)
    if b is None:
        return lambda x, w: getattr(EF, fn)(x, w, None, **kwargs), [x, w]
    return lambda x, w, b: getattr(EF, fn)(x, w, b, **kwargs), [x, w, b]


GRADCHECKS = {
    "conv1d": lambda: _gc_conv("conv1d", (2, 2, 9), (3, 2, 3), 3, 1, stride=2, padding=1, dilation=2),
    "conv2d_groups_stride_dilation_padding": lambda: _gc_conv("conv2d", (1, 4, 5, 6), (4, 2, 3, 2), 4, 2,
                                                              stride=(2, 1), padding=(1, 2), dilation=(1, 2),
                                                              groups=2),
    "conv2d_same_even_kernel": lambda: _gc_conv("conv2d", (1, 2, 4, 5), (2, 2, 2, 3), None, 3, padding="same",
                                                dilation=(2, 1)),
    "conv3d": lambda: _gc_conv("conv3d", (1, 2, 3, 4, 3), (2, 2, 2, 2, 2), 2, 4, stride=(1, 2, 1), padding=1),
    "conv_transpose1d": lambda: _gc_conv("conv_transpose1d", (2, 2, 4), (2, 3, 3), 3, 5, stride=3,
                                         output_padding=2),
    "conv_transpose2d": lambda: _gc_conv("conv_transpose2d", (1, 4, 3, 3), (4, 2, 2, 3), 4, 6, stride=2, padding=1,
                                         output_padding=1, groups=2, dilation=2),
    "max_pool2d_ceil_padding": lambda: (lambda x: EF.max_pool2d(x, 3, 2, 1, ceil_mode=True),
                                        [distinct((2, 2, 6, 7), 7, np.float64)]),
    "max_pool2d_dilation_indices": lambda: (lambda x: EF.max_pool2d(x, 2, 1, 1, 2, return_indices=True),
                                            [distinct((1, 2, 5, 5), 8, np.float64)]),
    "max_pool1d": lambda: (lambda x: EF.max_pool1d(x, 3, 2, 1), [distinct((2, 3, 8), 9, np.float64)]),
    "avg_pool2d_no_count_pad_ceil": lambda: (lambda x: EF.avg_pool2d(x, 3, 2, 1, ceil_mode=True,
                                                                     count_include_pad=False),
                                             [normal((2, 2, 6, 7), 10, dtype=np.float64)]),
    "avg_pool2d_divisor_override": lambda: (lambda x: EF.avg_pool2d(x, (2, 3), (1, 2), 1, divisor_override=4),
                                            [normal((1, 2, 4, 5), 11, dtype=np.float64)]),
    "avg_pool3d": lambda: (lambda x: EF.avg_pool3d(x, 2, 1, 1, ceil_mode=True, count_include_pad=False),
                           [normal((1, 1, 3, 3, 4), 12, dtype=np.float64)]),
    "adaptive_avg_pool2d": lambda: (lambda x: EF.adaptive_avg_pool2d(x, (3, 4)),
                                    [normal((1, 2, 7, 10), 13, dtype=np.float64)]),
    "adaptive_max_pool2d": lambda: (lambda x: EF.adaptive_max_pool2d(x, (3, 4)),
                                    [distinct((1, 2, 7, 10), 14, np.float64)]),
    "lp_pool2d": lambda: (lambda x: EF.lp_pool2d(x, 2, 2), [positive((1, 2, 4, 4), 15, np.float64)]),
    "batch_norm_training_4d": lambda: (lambda x, w, b: EF.batch_norm(x, None, None, w, b, True, 0.1, 1e-3),
                                       [normal((3, 2, 3, 3), 16, dtype=np.float64), positive((2,), 17, np.float64),
                                        normal((2,), 18, dtype=np.float64)]),
    "batch_norm_training_5d_no_affine": lambda: (lambda x: EF.batch_norm(x, None, None, training=True),
                                                 [normal((2, 2, 2, 3, 2), 19, dtype=np.float64)]),
    "group_norm": lambda: (lambda x, w, b: EF.group_norm(x, 2, w, b, eps=1e-3),
                           [normal((2, 4, 3, 2), 20, dtype=np.float64), positive((4,), 21, np.float64),
                            normal((4,), 22, dtype=np.float64)]),
    "instance_norm": lambda: (lambda x, w, b: EF.instance_norm(x, weight=w, bias=b),
                              [normal((2, 3, 5), 23, dtype=np.float64), positive((3,), 24, np.float64),
                               normal((3,), 25, dtype=np.float64)]),
}


@pytest.mark.parametrize("name", list(GRADCHECKS))
def test_gradcheck_float64(name):
    fn, arrays = GRADCHECKS[name]()
    gradcheck(fn, arrays)


# --------------------------------------------------------------------------- direct convolution
# Unit-stride 1-d and 2-d convolutions with at most 16 output channels per group run as a direct
# convolution over padded rows (Note [Direct convolution] in cpp/ember/ops/conv.cpp): rows of
# outputs in register blocks of 1-8 channels, weight-gradient blocks of 2-4 channels, positions
# past each row's end computed and dropped. These cases walk its block shapes and tails.

DIRECT_GRADCHECKS = {
    "lenet_first_layer": dict(fn="conv2d", x=(2, 1, 8, 8), w=(6, 1, 5, 5), bias=6, padding=2),
    "lenet_second_layer": dict(fn="conv2d", x=(2, 6, 7, 7), w=(16, 6, 5, 5), bias=16),
    "asymmetric_dilated": dict(fn="conv2d", x=(1, 3, 6, 9), w=(5, 3, 2, 3), bias=5, padding=(1, 0), dilation=(2, 2)),
    "groups": dict(fn="conv2d", x=(2, 4, 5, 5), w=(10, 2, 3, 3), bias=None, padding=1, groups=2),
    "conv1d_same": dict(fn="conv1d", x=(3, 2, 11), w=(7, 2, 4), bias=7, padding="same", dilation=2),
}


@pytest.mark.parametrize("name", list(DIRECT_GRADCHECKS))
def test_direct_convolution_gradcheck_float64(name):
    c = dict(DIRECT_GRADCHECKS[name])
    fn, xs, ws, bias = c.pop("fn"), c.pop("x"), c.pop("w"), c.pop("bias")
    f, arrays = _gc_conv(fn, xs, ws, bias, seed=len(name), **c)
    gradcheck(f, arrays)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(n=st.integers(1, 3), groups=st.integers(1, 2), cin_g=st.integers(1, 5), cout_g=st.integers(1, 16),
       h=st.integers(1, 12), w=st.integers(1, 23), kh=st.integers(1, 5), kw=st.integers(1, 5),
       ph=st.integers(0, 2), pw=st.integers(0, 2), dh=st.integers(1, 2), dw=st.integers(1, 2),
       bias=st.booleans(), dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**16))
def test_direct_convolution_random_geometry_matches_torch(n, groups, cin_g, cout_g, h, w, kh, kw, ph, pw, dh, dw,
                                                          bias, dtype, seed):
    if h + 2 * ph < dh * (kh - 1) + 1 or w + 2 * pw < dw * (kw - 1) + 1:
        return  # no output (the refusal is tested above)
    x, wt, b = conv_arrays((n, groups * cin_g, h, w), (groups * cout_g, cin_g, kh, kw),
                           groups * cout_g if bias else None, seed=seed, dtype=dtype)
    tol = F32 if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)
    run_both(lambda L, x, wt, b: L.F.conv2d(x, wt, b, padding=(ph, pw), dilation=(dh, dw), groups=groups),
             [x, wt, b], seed=seed, **tol)


@pytest.mark.parametrize("where", ["row_end", "padding_side", "everywhere"])
def test_direct_convolution_non_finite_values_like_torch(where):
    # an inf or NaN in the input must reach exactly the outputs and weight-gradient entries it
    # reaches in torch: the positions past a row's end meet it too, and are masked out
    # (an inf weight times the padding's zeros: NaN in torch's float64 convolution, which multiplies
    # the padding as ember does, while its float32 one skips the padding; so that case is float64)
    dtype = np.float64 if where == "everywhere" else np.float32
    x, wt, b = conv_arrays((2, 2, 6, 7), (3, 2, 3, 3), 3, seed=5, dtype=dtype)
    if where == "row_end":
        x[0, 0, :, -1] = np.inf
        x[1, 1, 2, -1] = np.nan
    elif where == "padding_side":
        x[0, 1, 0, 0] = -np.inf
    else:
        x[1, 0, 3, 3] = np.inf
        wt[1, 0, 0, 2] = np.inf  # the input gradient then takes im2col's way
    run_both(lambda L, x, wt, b: L.F.conv2d(x, wt, b, padding=1), [x, wt, b], **F32)


@pytest.mark.parametrize("needs", ["input", "weight", "bias", "weight_no_grad_input"])
def test_direct_convolution_partial_gradients_like_torch(needs):
    # only some gradients asked for: the forward keeps its padded rows only for the weight's
    x, wt, b = conv_arrays((3, 2, 9, 9), (6, 2, 5, 5), 6, seed=9)
    grads = []
    for lib, _, F in LIBS:
        xt = lib.tensor(x, requires_grad=needs in ("input", "weight_no_grad_input"))
        wt_t = lib.tensor(wt, requires_grad=needs.startswith("weight"))
        bt = lib.tensor(b, requires_grad=needs == "bias")
        if needs == "weight_no_grad_input":
            xt = xt * 2  # a non-leaf input that needs no gradient of its own beyond this
        out = F.conv2d(xt, wt_t, bt, padding=2)
        leaf = {"input": xt, "weight": wt_t, "bias": bt, "weight_no_grad_input": wt_t}[needs]
        grads.append(lib.autograd.grad((out * out).sum(), leaf)[0])
    assert_close(grads[0], grads[1], **F32)


def test_direct_convolution_batch_over_threads_matches_torch():
    # a LeNet batch: samples split over the pool forward and backward, per-part weight gradients
    x, wt, b = conv_arrays((64, 6, 14, 14), (16, 6, 5, 5), 16, seed=3)
    run_both(lambda L, x, wt, b: L.F.relu(L.F.conv2d(x, wt, b)), [x, wt, b], rtol=1e-4, atol=2e-4)


# --------------------------------------------------------------------------- pooling

# name -> (function of (F, x), input shape, input maker)
POOLS = {
    # max_pool: F order is (kernel_size, stride, padding, dilation, ceil_mode, return_indices)
    "max_pool1d_k3": (lambda F, x: F.max_pool1d(x, 3), (2, 3, 10), normal),
    "max_pool1d_dilation_ceil_indices": (lambda F, x: F.max_pool1d(x, 2, 1, 1, 2, True, True), (2, 3, 9), normal),
    "max_pool1d_ceil_drops_window_in_padding": (lambda F, x: F.max_pool1d(x, 2, 2, 1, ceil_mode=True,
                                                                          return_indices=True), (1, 2, 5), normal),
    "max_pool1d_unbatched": (lambda F, x: F.max_pool1d(x, 3, 2, return_indices=True), (3, 8), normal),
    "max_pool2d_k2": (lambda F, x: F.max_pool2d(x, 2), (2, 3, 6, 6), normal),
    "max_pool2d_rect_stride_padding_indices": (lambda F, x: F.max_pool2d(x, (3, 2), (2, 1), (1, 0),
                                                                         return_indices=True), (2, 2, 7, 5), normal),
    "max_pool2d_dilation_ceil_indices": (lambda F, x: F.max_pool2d(x, 3, 2, 1, dilation=2, ceil_mode=True,
                                                                   return_indices=True), (1, 3, 9, 8), normal),
    "max_pool2d_ceil_odd": (lambda F, x: F.max_pool2d(x, 3, 2, ceil_mode=True), (2, 2, 7, 6), normal),
    "max_pool2d_overlapping": (lambda F, x: F.max_pool2d(x, 3, 1, 1, return_indices=True), (1, 2, 5, 5), normal),
    "max_pool2d_positional_ceil_indices": (lambda F, x: F.max_pool2d(x, 2, 1, 1, 2, True, True), (1, 1, 5, 5),
                                           normal),
    "max_pool2d_unbatched": (lambda F, x: F.max_pool2d(x, 2, return_indices=True), (3, 7, 7), normal),
    "max_pool3d_k2_indices": (lambda F, x: F.max_pool3d(x, 2, return_indices=True), (1, 2, 4, 5, 4), normal),
    "max_pool3d_mixed": (lambda F, x: F.max_pool3d(x, (2, 3, 2), (1, 2, 1), (1, 1, 0), (1, 1, 2), ceil_mode=True),
                         (1, 2, 4, 5, 5), normal),
    "max_pool3d_unbatched": (lambda F, x: F.max_pool3d(x, 2, 1, return_indices=True), (2, 3, 4, 3), normal),
    # avg_pool: F order is (kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)
    "avg_pool1d_k3": (lambda F, x: F.avg_pool1d(x, 3), (2, 3, 10), normal),
    "avg_pool1d_pad_no_count": (lambda F, x: F.avg_pool1d(x, 3, 2, 1, count_include_pad=False), (2, 3, 9), normal),
    "avg_pool1d_ceil_count_pad": (lambda F, x: F.avg_pool1d(x, 3, 2, 1, True, True), (1, 2, 6), normal),
    "avg_pool1d_ceil_no_count": (lambda F, x: F.avg_pool1d(x, 3, 2, 1, True, False), (1, 2, 6), normal),
    "avg_pool1d_unbatched": (lambda F, x: F.avg_pool1d(x, 2, 1, 1), (3, 6), normal),
    "avg_pool2d_k2": (lambda F, x: F.avg_pool2d(x, 2), (2, 3, 6, 6), normal),
    "avg_pool2d_ceil_count_pad": (lambda F, x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True), (2, 2, 6, 7), normal),
    "avg_pool2d_ceil_no_count": (lambda F, x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False),
                                 (2, 2, 6, 7), normal),
    "avg_pool2d_divisor_override": (lambda F, x: F.avg_pool2d(x, 2, divisor_override=5), (1, 3, 6, 5), normal),
    "avg_pool2d_rect_divisor_ceil": (lambda F, x: F.avg_pool2d(x, (3, 2), (1, 2), (1, 1), True, True, 2),
                                     (2, 2, 5, 6), normal),
    "avg_pool2d_unbatched": (lambda F, x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False), (3, 7, 6), normal),
    "avg_pool3d_k2": (lambda F, x: F.avg_pool3d(x, 2), (1, 2, 4, 4, 6), normal),
    "avg_pool3d_ceil_no_count": (lambda F, x: F.avg_pool3d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False),
                                 (1, 2, 5, 4, 6), normal),
    "avg_pool3d_divisor": (lambda F, x: F.avg_pool3d(x, (1, 2, 2), divisor_override=3), (2, 1, 3, 4, 4), normal),
    # adaptive pooling, output sizes that do not divide the input, None keeps a size
    "adaptive_avg_pool1d_7_to_3": (lambda F, x: F.adaptive_avg_pool1d(x, 3), (2, 3, 7), normal),
    "adaptive_avg_pool1d_10_to_4": (lambda F, x: F.adaptive_avg_pool1d(x, 4), (2, 3, 10), normal),
    "adaptive_avg_pool1d_3_to_5_upsample": (lambda F, x: F.adaptive_avg_pool1d(x, 5), (1, 2, 3), normal),
    "adaptive_avg_pool1d_unbatched": (lambda F, x: F.adaptive_avg_pool1d(x, 4), (3, 9), normal),
    "adaptive_avg_pool2d_7x10_to_3x4": (lambda F, x: F.adaptive_avg_pool2d(x, (3, 4)), (2, 2, 7, 10), normal),
    "adaptive_avg_pool2d_none": (lambda F, x: F.adaptive_avg_pool2d(x, (None, 4)), (1, 3, 5, 10), normal),
    "adaptive_avg_pool2d_global": (lambda F, x: F.adaptive_avg_pool2d(x, 1), (2, 3, 5, 6), normal),
    "adaptive_avg_pool2d_int": (lambda F, x: F.adaptive_avg_pool2d(x, 3), (2, 2, 7, 8), normal),
    "adaptive_avg_pool2d_unbatched": (lambda F, x: F.adaptive_avg_pool2d(x, (2, 4)), (3, 5, 6), normal),
    "adaptive_avg_pool3d": (lambda F, x: F.adaptive_avg_pool3d(x, (2, 3, None)), (1, 2, 5, 7, 4), normal),
    "adaptive_avg_pool3d_global": (lambda F, x: F.adaptive_avg_pool3d(x, 1), (2, 2, 3, 4, 3), normal),
    "adaptive_max_pool1d_7_to_3_indices": (lambda F, x: F.adaptive_max_pool1d(x, 3, return_indices=True),
                                           (2, 3, 7), normal),
    "adaptive_max_pool1d_10_to_4": (lambda F, x: F.adaptive_max_pool1d(x, 4), (2, 3, 10), normal),
    "adaptive_max_pool1d_unbatched": (lambda F, x: F.adaptive_max_pool1d(x, 3, True), (3, 8), normal),
    "adaptive_max_pool2d_7x10_to_3x4_indices": (lambda F, x: F.adaptive_max_pool2d(x, (3, 4), return_indices=True),
                                                (2, 2, 7, 10), normal),
    "adaptive_max_pool2d_none": (lambda F, x: F.adaptive_max_pool2d(x, (None, 3)), (1, 3, 4, 7), normal),
    "adaptive_max_pool2d_unbatched": (lambda F, x: F.adaptive_max_pool2d(x, 2, True), (3, 5, 5), normal),
    # lp pooling: (sum x^p)^(1/p) over each window
    "lp_pool1d_p2": (lambda F, x: F.lp_pool1d(x, 2, 3, stride=2), (2, 3, 9), normal),
    "lp_pool1d_p3_unbatched": (lambda F, x: F.lp_pool1d(x, 3, 2), (3, 8), positive),
    "lp_pool2d_p2": (lambda F, x: F.lp_pool2d(x, 2, 2), (2, 3, 6, 6), normal),
    "lp_pool2d_rect_ceil": (lambda F, x: F.lp_pool2d(x, 2.0, (2, 3), stride=(2, 1), ceil_mode=True), (1, 3, 7, 6),
                            positive),
    "lp_pool2d_p1_5": (lambda F, x: F.lp_pool2d(x, 1.5, 2), (1, 2, 4, 6), positive),
    # max_unpool of max_pool's own indices
    "max_unpool1d": (lambda F, x: F.max_unpool1d(*F.max_pool1d(x, 2, return_indices=True), 2), (2, 3, 8), normal),
    "max_unpool1d_output_size": (lambda F, x: F.max_unpool1d(*F.max_pool1d(x, 3, 2, 1, return_indices=True), 3, 2,
                                                             1, output_size=[9]), (1, 2, 9), distinct),
    "max_unpool2d": (lambda F, x: F.max_unpool2d(*F.max_pool2d(x, 2, return_indices=True), 2), (2, 2, 6, 6), normal),
    "max_unpool2d_odd_output_size": (lambda F, x: F.max_unpool2d(*F.max_pool2d(x, 2, return_indices=True), 2,
                                                                 output_size=(7, 7)), (1, 3, 7, 7), normal),
    "max_unpool2d_stride_padding": (lambda F, x: F.max_unpool2d(*F.max_pool2d(x, (2, 3), (2, 3), (1, 1),
                                                                              return_indices=True),
                                                                (2, 3), (2, 3), (1, 1), output_size=[5, 7]),
                                    (1, 2, 5, 7), distinct),
}


@pytest.mark.parametrize("name", list(POOLS))
def test_pooling_matches_torch(name):
    fn, shape, make = POOLS[name]
    run_both(lambda L, x: fn(L.F, x), [make(shape, len(name))], **F32)


# name -> (function of (F, x), input): windows with several equal maxima. torch's CPU kernels keep
# the first maximum in scan order (the index they return, and where the gradient goes).
TIES = {
    "max_pool2d_overlapping": (lambda F, x: F.max_pool2d(x, 3, 1, return_indices=True), with_ties((2, 2, 6, 6), 1)),
    "max_pool2d_padding": (lambda F, x: F.max_pool2d(x, 2, 2, 1, return_indices=True), with_ties((1, 3, 5, 6), 2)),
    "max_pool2d_dilation_ceil": (lambda F, x: F.max_pool2d(x, 2, 2, 1, 2, True, True), with_ties((1, 2, 7, 7), 3)),
    "max_pool2d_constant": (lambda F, x: F.max_pool2d(x, 2, 1, return_indices=True), np.ones((1, 1, 3, 4),
                                                                                            np.float32)),
    "max_pool2d_constant_negative_padded": (lambda F, x: F.max_pool2d(x, 3, 2, 1, return_indices=True),
                                            -np.ones((1, 2, 5, 5), np.float32)),
    "max_pool1d": (lambda F, x: F.max_pool1d(x, 3, 2, 1, return_indices=True), with_ties((2, 3, 11), 4)),
    "max_pool1d_binary": (lambda F, x: F.max_pool1d(x, 4, 1, return_indices=True), with_ties((2, 2, 9), 5, 2)),
    "max_pool3d": (lambda F, x: F.max_pool3d(x, 2, 1, return_indices=True), with_ties((1, 2, 3, 4, 4), 6)),
    "adaptive_max_pool1d": (lambda F, x: F.adaptive_max_pool1d(x, 4, return_indices=True), with_ties((2, 2, 10), 7)),
    "adaptive_max_pool2d": (lambda F, x: F.adaptive_max_pool2d(x, (3, 4), return_indices=True),
                            with_ties((1, 2, 7, 10), 8)),
    "max_pool2d_unbatched": (lambda F, x: F.max_pool2d(x, 2, 1, return_indices=True), with_ties((2, 4, 4), 9)),
    # MaxPool2d(2) of float maps narrower than 32 columns takes eight windows at a time (pool.cpp):
    # full groups, a partial last group reading on into the next row, the input's very last row
    # (one window at a time), an odd width's unused column
    "max_pool2d_k2_lenet_maps": (lambda F, x: F.max_pool2d(x, 2, return_indices=True), with_ties((3, 4, 10, 10), 10)),
    "max_pool2d_k2_28": (lambda F, x: F.max_pool2d(x, 2, return_indices=True), with_ties((2, 3, 28, 28), 11)),
    "max_pool2d_k2_odd_width": (lambda F, x: F.max_pool2d(x, 2, return_indices=True), with_ties((2, 2, 7, 31), 12)),
    "max_pool2d_k2_one_window": (lambda F, x: F.max_pool2d(x, 2, return_indices=True), with_ties((1, 1, 2, 3), 13)),
}


def test_max_pool2d_k2_narrow_maps_nan_like_torch():
    # a NaN wins its window (the last NaN of the window, as torch scans): eight windows at a time too
    x = with_ties((2, 3, 10, 14), 14)
    x[0, 0, 0, 1] = x[0, 0, 1, 0] = np.nan
    x[1, 2, 9, 13] = np.nan
    x[1, 1, 4, 6] = x[1, 1, 5, 7] = np.nan
    run_both(lambda L, x: L.F.max_pool2d(x, 2, return_indices=True), [x], rtol=0, atol=1e-6)


@pytest.mark.parametrize("name", list(TIES))
def test_max_pooling_ties_like_torch(name):
    """Indices equal torch's; the gradient goes to the same element of each tied window (and
    accumulates where overlapping windows pick the same element)."""
    fn, x = TIES[name]
    run_both(lambda L, x: fn(L.F, x), [x], rtol=0, atol=1e-6)


def test_max_pool_indices_are_flat_per_plane_int64():
    """Indices count within each (H, W) plane (flattened), as max_unpool expects; dtype int64."""
    x = distinct((2, 3, 4, 6), 3)
    for lib, _, F in LIBS:
        out, idx = F.max_pool2d(lib.tensor(x), 2, return_indices=True)
        assert dtype_name(idx.dtype) == "int64"
        idx = to_np(idx)
        assert idx.min() >= 0 and idx.max() < 4 * 6
        np.testing.assert_array_equal(np.take_along_axis(x.reshape(2, 3, -1), idx.reshape(2, 3, -1), 2),
                                      to_np(out).reshape(2, 3, -1))


# name -> (module maker, input shape, input maker)
POOL_MODULES = {
    "MaxPool1d": (lambda nn: nn.MaxPool1d(3, 2, 1), (2, 3, 9), normal),
    "MaxPool2d_indices_ceil": (lambda nn: nn.MaxPool2d(3, 2, 1, 2, True, True), (1, 2, 9, 8), normal),
    "MaxPool2d_rect": (lambda nn: nn.MaxPool2d((2, 3), stride=(1, 2)), (2, 2, 5, 7), normal),
    "MaxPool3d": (lambda nn: nn.MaxPool3d(2, ceil_mode=True), (1, 2, 3, 5, 4), normal),
    "AvgPool1d": (lambda nn: nn.AvgPool1d(3, 2, 1, True, False), (2, 3, 8), normal),
    "AvgPool2d": (lambda nn: nn.AvgPool2d(3, 2, 1, True, False, 4), (2, 2, 7, 6), normal),
    "AvgPool2d_unbatched": (lambda nn: nn.AvgPool2d((2, 3)), (3, 4, 6), normal),
    "AvgPool3d": (lambda nn: nn.AvgPool3d(2, divisor_override=3), (1, 2, 4, 4, 4), normal),
    "AdaptiveAvgPool1d": (lambda nn: nn.AdaptiveAvgPool1d(3), (2, 3, 7), normal),
    "AdaptiveAvgPool2d_none": (lambda nn: nn.AdaptiveAvgPool2d((3, None)), (2, 2, 7, 5), normal),
    "AdaptiveAvgPool2d_global": (lambda nn: nn.AdaptiveAvgPool2d(1), (2, 3, 4, 5), normal),
    "AdaptiveAvgPool3d": (lambda nn: nn.AdaptiveAvgPool3d((2, None, 3)), (1, 2, 5, 3, 7), normal),
    "AdaptiveMaxPool1d_indices": (lambda nn: nn.AdaptiveMaxPool1d(4, return_indices=True), (2, 3, 10), normal),
    "AdaptiveMaxPool2d": (lambda nn: nn.AdaptiveMaxPool2d((None, 3)), (1, 2, 4, 7), normal),
    "LPPool2d": (lambda nn: nn.LPPool2d(2, 3, stride=2), (2, 2, 7, 7), normal),
    "LPPool2d_ceil": (lambda nn: nn.LPPool2d(1.5, (2, 3), stride=1, ceil_mode=True), (1, 2, 4, 6), positive),
}


@pytest.mark.parametrize("name", list(POOL_MODULES))
def test_pooling_modules_match_torch(name):
    make, shape, maker = POOL_MODULES[name]
    mods = {"ember": make(enn), "torch": make(tnn)}
    compare_modules(mods, [maker(shape, len(name))])


def test_max_unpool2d_module_matches_torch():
    mods = {"ember": enn.MaxUnpool2d(2), "torch": tnn.MaxUnpool2d(2)}
    pools = {"ember": enn.MaxPool2d(2, return_indices=True), "torch": tnn.MaxPool2d(2, return_indices=True)}
    run_both(lambda L, x: mods[L.name](*pools[L.name](x)), [normal((2, 3, 6, 4), 1)], **F32)
    run_both(lambda L, x: mods[L.name](*pools[L.name](x), output_size=(5, 5)), [normal((1, 2, 5, 5), 2)], **F32)
    run_both(lambda L, x: mods[L.name](*pools[L.name](x), output_size=[1, 2, 5, 4]), [normal((1, 2, 5, 4), 3)],
             **F32)


# --------------------------------------------------------------------------- conv modules

PADDING_MODES = ["zeros", "reflect", "replicate", "circular"]

# name -> (maker of (nn, padding_mode), input shape)
PAD_MODULES = {
    "Conv1d": (lambda nn, mode: nn.Conv1d(3, 4, 3, stride=2, padding=2, padding_mode=mode), (2, 3, 9)),
    "Conv2d": (lambda nn, mode: nn.Conv2d(4, 6, (3, 2), stride=(1, 2), padding=(1, 2), dilation=(2, 1), groups=2,
                                          padding_mode=mode), (2, 4, 6, 7)),
    "Conv2d_same_even_kernel": (lambda nn, mode: nn.Conv2d(3, 4, (4, 3), padding="same", padding_mode=mode),
                                (2, 3, 5, 6)),
    "Conv2d_no_bias": (lambda nn, mode: nn.Conv2d(2, 3, 3, padding=1, bias=False, padding_mode=mode), (1, 2, 4, 4)),
    "Conv2d_unbatched": (lambda nn, mode: nn.Conv2d(2, 3, 2, padding=(0, 1), padding_mode=mode), (2, 4, 5)),
    "Conv3d": (lambda nn, mode: nn.Conv3d(2, 3, 2, padding=(1, 0, 1), padding_mode=mode), (1, 2, 3, 4, 3)),
}


@pytest.mark.parametrize("mode", PADDING_MODES)
@pytest.mark.parametrize("name", list(PAD_MODULES))
def test_conv_module_padding_modes_match_torch(name, mode):
    make, shape = PAD_MODULES[name]
    mods = twin(lambda nn: make(nn, mode), seed=len(name))
    compare_modules(mods, [normal(shape, 2)])


# name -> (module maker, input shape, output_size or None)
CONVT_MODULES = {
    "ConvTranspose1d": (lambda nn: nn.ConvTranspose1d(4, 2, 3, stride=2, padding=1, output_padding=1, groups=2),
                        (2, 4, 5), None),
    "ConvTranspose1d_output_size": (lambda nn: nn.ConvTranspose1d(3, 2, 4, stride=3), (1, 3, 5), [18]),
    "ConvTranspose2d_output_size": (lambda nn: nn.ConvTranspose2d(4, 3, 3, stride=2), (2, 4, 6, 6), (13, 14)),
    "ConvTranspose2d_output_size_full_shape": (lambda nn: nn.ConvTranspose2d(4, 3, 3, stride=2), (2, 4, 6, 6),
                                               [2, 3, 14, 13]),
    "ConvTranspose2d_dilation_no_bias": (lambda nn: nn.ConvTranspose2d(2, 4, (2, 3), stride=(2, 1), padding=(0, 1),
                                                                       output_padding=(1, 0), dilation=2, bias=False),
                                         (2, 2, 3, 4), None),
    "ConvTranspose2d_unbatched_output_size": (lambda nn: nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1),
                                              (2, 4, 5), (8, 9)),
    "ConvTranspose3d": (lambda nn: nn.ConvTranspose3d(2, 2, 2, stride=2, output_padding=1), (1, 2, 2, 3, 2), None),
}


@pytest.mark.parametrize("name", list(CONVT_MODULES))
def test_conv_transpose_modules_match_torch(name):
    make, shape, output_size = CONVT_MODULES[name]
    mods = twin(make, seed=3)
    call = None if output_size is None else (lambda m, x: m(x, output_size=output_size))
    e_outs, _ = compare_modules(mods, [normal(shape, 4)], call=call)
    if output_size is not None:
        spatial = int(name[len("ConvTranspose")])  # ConvTranspose<k>d
        assert tuple(e_outs[0].shape)[-spatial:] == tuple(output_size)[-spatial:]


# maker(nn) of every module this file covers, for repr / attributes / state_dict
MODULES = [
    lambda nn: nn.Conv1d(3, 4, 3),
    lambda nn: nn.Conv1d(4, 4, 2, stride=2, padding="valid", groups=4, bias=False),
    lambda nn: nn.Conv2d(3, 4, 3),
    lambda nn: nn.Conv2d(3, 6, (3, 2), stride=(2, 1), padding=(1, 0), dilation=2, groups=3, bias=False,
                         padding_mode="reflect"),
    lambda nn: nn.Conv2d(2, 2, 3, padding="same", padding_mode="circular"),
    lambda nn: nn.Conv2d(2, 2, 3, padding=1, padding_mode="replicate"),
    lambda nn: nn.Conv3d(2, 4, (1, 2, 3), stride=2, padding=1),
    lambda nn: nn.ConvTranspose1d(4, 2, 3, stride=2, output_padding=1),
    lambda nn: nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1, groups=2, bias=False, dilation=2),
    lambda nn: nn.ConvTranspose3d(2, 3, 2),
    lambda nn: nn.MaxPool1d(3),
    lambda nn: nn.MaxPool2d(3, 2, 1, 2, True, True),
    lambda nn: nn.MaxPool2d((2, 3), stride=(1, 2)),
    lambda nn: nn.MaxPool3d(2, ceil_mode=True),
    lambda nn: nn.AvgPool1d(3),
    lambda nn: nn.AvgPool1d(3, 2, 1, True, False),
    lambda nn: nn.AvgPool2d(3, 2, 1, True, False, 4),
    lambda nn: nn.AvgPool2d((2, 3)),
    lambda nn: nn.AvgPool3d(2, divisor_override=3),
    lambda nn: nn.AdaptiveAvgPool1d(3),
    lambda nn: nn.AdaptiveAvgPool2d((3, None)),
    lambda nn: nn.AdaptiveAvgPool2d(1),
    lambda nn: nn.AdaptiveAvgPool3d((2, None, 4)),
    lambda nn: nn.AdaptiveMaxPool1d(4, return_indices=True),
    lambda nn: nn.AdaptiveMaxPool2d((None, 3)),
    lambda nn: nn.MaxUnpool2d(2),
    lambda nn: nn.MaxUnpool2d((2, 3), stride=(1, 2), padding=1),
    lambda nn: nn.LPPool2d(2, 3),
    lambda nn: nn.LPPool2d(1.5, (2, 3), stride=1, ceil_mode=True),
    lambda nn: nn.BatchNorm2d(3),
    lambda nn: nn.BatchNorm2d(4, eps=1e-3, momentum=None, affine=False),
    lambda nn: nn.BatchNorm3d(3, track_running_stats=False),
    lambda nn: nn.GroupNorm(2, 4),
    lambda nn: nn.GroupNorm(3, 6, eps=1e-3, affine=False),
    lambda nn: nn.InstanceNorm1d(3),
    lambda nn: nn.InstanceNorm2d(4, affine=True, track_running_stats=True),
    lambda nn: nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten()),
]


@pytest.mark.parametrize("i", range(len(MODULES)))
def test_module_repr_matches_torch(i):
    e, t = both(lambda lib, nn, F: str(MODULES[i](nn)))
    assert "ember" not in e
    assert e == t


@pytest.mark.parametrize("i", range(len(MODULES)))
def test_module_attributes_parameters_and_state_dict_keys_match_torch(i):
    e, t = both(lambda lib, nn, F: MODULES[i](nn))
    for k, v in vars(t).items():
        if k.startswith("_") or k == "training":
            continue
        assert getattr(e, k) == v, f"{type(t).__name__}.{k}: {getattr(e, k)!r} != torch {v!r}"
    assert [(n, tuple(p.shape)) for n, p in e.named_parameters()] == \
        [(n, tuple(p.shape)) for n, p in t.named_parameters()]
    assert [n for n, _ in e.named_buffers()] == [n for n, _ in t.named_buffers()]
    assert list(e.state_dict()) == list(t.state_dict())
    for p in e.parameters():
        assert p.requires_grad and dtype_name(p.dtype) == "float32"


@pytest.mark.parametrize("i", [i for i, m in enumerate(MODULES) if "Norm" in type(m(tnn)).__name__])
def test_norm_module_initial_state_equals_torch(i):
    """weight 1, bias 0, running_mean 0, running_var 1, num_batches_tracked 0 (int64)."""
    e, t = MODULES[i](enn), MODULES[i](tnn)
    t_state = t.state_dict()
    for k, ev in e.state_dict().items():
        assert dtype_name(ev.dtype) == dtype_name(t_state[k].dtype), k
        np.testing.assert_array_equal(to_np(ev), to_np(t_state[k]), err_msg=k)


# maker, in fan in: kaiming_uniform(a=sqrt(5)) weights and biases in +-1/sqrt(fan_in)
CONV_INIT = {
    "Conv2d": (lambda nn: nn.Conv2d(16, 32, 3), 16 * 9),
    "Conv1d_groups": (lambda nn: nn.Conv1d(8, 64, 5, groups=4), 2 * 5),
    "Conv3d": (lambda nn: nn.Conv3d(4, 8, 2), 4 * 8),
    "ConvTranspose2d_groups": (lambda nn: nn.ConvTranspose2d(8, 48, 3, groups=2), 24 * 9),  # fan in from dim 1
}


@pytest.mark.parametrize("name", list(CONV_INIT))
def test_conv_default_init_like_torch(name):
    make, fan_in = CONV_INIT[name]
    m = make(enn)
    bound = 1 / np.sqrt(fan_in)
    w, b = to_np(m.weight), to_np(m.bias)
    assert w.dtype == np.float32 and b.dtype == np.float32
    assert np.abs(w).max() <= bound * (1 + 1e-6) and np.abs(w).max() > 0.9 * bound
    assert abs(w.std() - bound / np.sqrt(3)) < 0.15 * bound / np.sqrt(3)  # uniform, not normal
    assert np.abs(b).max() <= bound * (1 + 1e-6) and np.abs(b).max() > 0.5 * bound
    assert not np.array_equal(to_np(make(enn).weight), w)  # drawn afresh


def _fill_state(module, seed):
    """Random numpy values in every parameter and float buffer of a torch module (running_var > 0)."""
    g = rng(seed)
    with torch.no_grad():
        for name, p in itertools.chain(module.named_parameters(), module.named_buffers()):
            if p.dtype == torch.int64:
                p.fill_(5)
            elif name.endswith("running_var"):
                p.copy_(torch.tensor(g.uniform(0.5, 2.0, tuple(p.shape)).astype(np.float32)))
            else:
                p.copy_(torch.tensor((g.uniform(-1, 1, tuple(p.shape)) * 0.5).astype(np.float32)))


# maker, input shape
LOAD_MODULES = {
    "Conv2d": (lambda nn: nn.Conv2d(3, 4, (3, 2), padding=1, padding_mode="reflect"), (2, 3, 5, 6)),
    "ConvTranspose2d": (lambda nn: nn.ConvTranspose2d(4, 2, 3, stride=2, groups=2), (1, 4, 3, 3)),
    "Conv1d_no_bias": (lambda nn: nn.Conv1d(2, 3, 2, bias=False), (2, 2, 6)),
    "BatchNorm2d": (lambda nn: nn.BatchNorm2d(3), (2, 3, 4, 4)),
    "BatchNorm3d": (lambda nn: nn.BatchNorm3d(2), (2, 2, 3, 2, 2)),
    "GroupNorm": (lambda nn: nn.GroupNorm(2, 4), (2, 4, 3, 3)),
    "InstanceNorm2d_tracking": (lambda nn: nn.InstanceNorm2d(3, affine=True, track_running_stats=True),
                                (2, 3, 4, 4)),
    "small_cnn": (lambda nn: nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                                           nn.MaxPool2d(2), nn.Conv2d(4, 2, 3), nn.Flatten(), nn.Linear(8, 3)),
                  (2, 1, 8, 8)),
}


@pytest.mark.parametrize("name", list(LOAD_MODULES))
def test_load_torch_state_dict_gives_torch_outputs(name):
    make, shape = LOAD_MODULES[name]
    tm = make(tnn)
    _fill_state(tm, seed=len(name))
    state = {k: ember.tensor(v.detach().numpy().copy()) for k, v in tm.state_dict().items()}
    em = make(enn)
    em.load_state_dict(state)
    em.eval(), tm.eval()
    e_state = em.state_dict()
    assert list(e_state) == list(state)
    for k, v in tm.state_dict().items():
        np.testing.assert_array_equal(to_np(e_state[k]), to_np(v), err_msg=k)
    compare_modules({"ember": em, "torch": tm}, [normal(shape, 6)])


# --------------------------------------------------------------------------- batch norm

BN_CONFIGS = {
    "default": {},
    "momentum_none": dict(momentum=None),
    "momentum_eps": dict(momentum=0.3, eps=1e-3),
    "no_affine": dict(affine=False),
    "no_tracking": dict(track_running_stats=False),
}


@pytest.mark.parametrize("config", list(BN_CONFIGS))
@pytest.mark.parametrize("dim", [2, 3])
def test_batchnorm_training_steps_then_eval_match_torch(dim, config):
    """Forward and gradients in train mode over batches with different statistics; running_mean,
    running_var (unbiased), num_batches_tracked after each step; then eval mode (running statistics,
    or the batch's own without tracking)."""
    kwargs = BN_CONFIGS[config]
    mods = twin(lambda nn: getattr(nn, f"BatchNorm{dim}d")(3, **kwargs), seed=dim)
    spatial = (4, 5) if dim == 2 else (3, 2, 4)
    g = rng(11)
    for step in range(3):
        x = (g.standard_normal((4, 3) + spatial) * (step + 1) + step).astype(np.float32)
        compare_modules(mods, [x], seed=step)
        assert_buffers_match(mods)
        if kwargs.get("track_running_stats", True):
            assert int(mods["ember"].num_batches_tracked.item()) == step + 1
        else:
            assert mods["ember"].running_mean is None and mods["ember"].running_var is None
    for m in mods.values():
        m.eval()
    before = {k: to_np(v) for k, v in mods["ember"].state_dict().items()}
    compare_modules(mods, [(g.standard_normal((2, 3) + spatial) * 2 + 1).astype(np.float32)])
    for k, v in mods["ember"].state_dict().items():  # eval does not update
        np.testing.assert_array_equal(to_np(v), before[k], err_msg=k)


def test_batchnorm2d_batch_of_one_with_spatial_extent_trains_like_torch():
    mods = twin(lambda nn: nn.BatchNorm2d(2), seed=1)
    compare_modules(mods, [normal((1, 2, 2, 3), 2)])
    assert_buffers_match(mods)


@pytest.mark.parametrize("shape", [(3, 4, 2, 5), (2, 4, 3, 2, 2)])
def test_functional_batch_norm_matches_torch(shape):
    """F.batch_norm on 4-D and 5-D inputs: training updates the given running tensors in place
    (momentum, unbiased variance); eval uses them; weight and bias optional."""
    g = rng(12)
    x = (g.standard_normal(shape) * 2 + 0.5).astype(np.float32)
    w, b = g.uniform(0.5, 1.5, 4).astype(np.float32), g.standard_normal(4).astype(np.float32)
    rm, rv = g.standard_normal(4).astype(np.float32), g.uniform(0.5, 2, 4).astype(np.float32)
    for training in (True, False):
        stats = {}

        def fn(L, x, w, b):
            stats[L.name] = (L.lib.tensor(rm.copy()), L.lib.tensor(rv.copy()))
            return L.F.batch_norm(x, *stats[L.name], w, b, training=training, momentum=0.3, eps=1e-4)

        run_both(fn, [x, w, b], **F32)
        for e, t in zip(stats["ember"], stats["torch"]):
            assert_close(e, t, rtol=1e-5, atol=1e-6, msg=f"running stats, training={training}")
    run_both(lambda L, x: L.F.batch_norm(x, None, None, training=True), [x], **F32)
    run_both(lambda L, x: L.F.batch_norm(x, L.lib.tensor(rm), L.lib.tensor(rv)), [x], **F32)


# --------------------------------------------------------------------------- group / instance norm

# name -> (num_groups, num_channels, input shape, kwargs)
GROUP_NORMS = {
    "3_groups_4d": (3, 6, (2, 6, 4, 5), {}),
    "2_groups_3d_eps": (2, 4, (3, 4, 7), dict(eps=1e-3)),
    "1_group_layer_norm_like": (1, 4, (2, 4, 3, 3), {}),
    "instance_like_5d_no_affine": (4, 4, (2, 4, 2, 3, 2), dict(affine=False)),
    "2d_input": (3, 6, (3, 6), {}),
}


@pytest.mark.parametrize("name", list(GROUP_NORMS))
def test_group_norm_module_matches_torch(name):
    groups, channels, shape, kwargs = GROUP_NORMS[name]
    mods = twin(lambda nn: nn.GroupNorm(groups, channels, **kwargs), seed=4)
    compare_modules(mods, [(normal(shape, 5) * 3 + 1).astype(np.float32)])


def test_functional_group_norm_matches_torch():
    x = normal((2, 6, 3, 4), 7, scale=2.0)
    w, b = positive((6,), 8), normal((6,), 9)
    run_both(lambda L, x, w, b: L.F.group_norm(x, 3, w, b, 1e-3), [x, w, b], **F32)
    run_both(lambda L, x, w: L.F.group_norm(x, 2, weight=w), [x, w], **F32)
    run_both(lambda L, x: L.F.group_norm(x, 6), [x], **F32)


# name -> (module maker, input shapes of the successive training steps, eval input shape)
INSTANCE_NORMS = {
    "InstanceNorm1d": (lambda nn: nn.InstanceNorm1d(3), [(2, 3, 7)], (2, 3, 5)),
    "InstanceNorm1d_unbatched": (lambda nn: nn.InstanceNorm1d(3), [(3, 7)], (3, 6)),
    "InstanceNorm1d_affine": (lambda nn: nn.InstanceNorm1d(3, affine=True), [(2, 3, 7)], (1, 3, 4)),
    "InstanceNorm2d_affine": (lambda nn: nn.InstanceNorm2d(4, affine=True), [(2, 4, 5, 6)], (2, 4, 3, 3)),
    "InstanceNorm2d_unbatched": (lambda nn: nn.InstanceNorm2d(2, eps=1e-3), [(2, 4, 5)], (2, 3, 3)),
    "InstanceNorm2d_tracking": (lambda nn: nn.InstanceNorm2d(3, momentum=0.2, track_running_stats=True),
                                [(2, 3, 4, 4), (3, 3, 2, 5)], (2, 3, 4, 3)),
    "InstanceNorm1d_tracking_affine": (lambda nn: nn.InstanceNorm1d(2, affine=True, track_running_stats=True),
                                       [(4, 2, 6), (2, 2, 3)], (3, 2, 5)),
}


@pytest.mark.parametrize("name", list(INSTANCE_NORMS))
def test_instance_norm_module_matches_torch(name):
    """Train mode normalises each instance; with track_running_stats the batch average of the
    instances' statistics updates the running buffers, and eval mode uses them."""
    make, train_shapes, eval_shape = INSTANCE_NORMS[name]
    mods = twin(make, seed=5)
    for step, shape in enumerate(train_shapes):
        compare_modules(mods, [normal(shape, step, scale=2.0) + 0.5], seed=step)
        assert_buffers_match(mods)
    for m in mods.values():
        m.eval()
    compare_modules(mods, [normal(eval_shape, 9, scale=2.0)])


def test_functional_instance_norm_matches_torch():
    g = rng(13)
    x = (g.standard_normal((2, 3, 4, 5)) * 2 + 1).astype(np.float32)
    w, b = positive((3,), 14), normal((3,), 15)
    rm, rv = normal((3,), 16), positive((3,), 17)
    run_both(lambda L, x, w, b: L.F.instance_norm(x, weight=w, bias=b, eps=1e-3), [x, w, b], **F32)
    for use_input_stats in (True, False):
        stats = {}

        def fn(L, x):
            stats[L.name] = (L.lib.tensor(rm.copy()), L.lib.tensor(rv.copy()))
            return L.F.instance_norm(x, *stats[L.name], use_input_stats=use_input_stats, momentum=0.4)

        run_both(fn, [x], **F32)
        for e, t in zip(stats["ember"], stats["torch"]):
            assert_close(e, t, rtol=1e-5, atol=1e-6, msg=f"running stats, use_input_stats={use_input_stats}")


# --------------------------------------------------------------------------- LeNet

def _lenet(nn):
    return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                         nn.Linear(84, 10))


def test_lenet_three_sgd_momentum_steps_match_torch():
    mods = twin(_lenet, seed=21)
    g = rng(22)
    x = g.standard_normal((8, 1, 28, 28)).astype(np.float32)
    y = g.integers(0, 10, 8).astype(np.int64)
    losses = {}
    for side in SIDES:
        model = mods[side.name]
        opt = side.lib.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        loss_fn = side.nn.CrossEntropyLoss()
        xs, ys = side.lib.tensor(x), side.lib.tensor(y)
        losses[side.name] = []
        for _ in range(3):
            opt.zero_grad()
            loss = loss_fn(model(xs), ys)
            loss.backward()
            opt.step()
            losses[side.name].append(float(loss.item()))
    np.testing.assert_allclose(losses["ember"], losses["torch"], rtol=1e-4, atol=1e-5)
    assert losses["torch"][2] != losses["torch"][0]  # the steps did move the weights
    e_params = dict(mods["ember"].named_parameters())
    for name, tp in mods["torch"].named_parameters():
        assert_close(e_params[name], tp, rtol=1e-4, atol=1e-5, msg=name)
        assert_close(e_params[name].grad, tp.grad, rtol=1e-4, atol=1e-5, msg=f"grad of {name}")


# --------------------------------------------------------------------------- errors

def _f(*shape):
    return normal(shape, len(shape))


# name -> (call of (lib, nn, F, *tensors), numpy inputs, exception type torch raises)
ERRORS = {
    "conv2d_weight_3d": (lambda lib, nn, F, x, w: F.conv2d(x, w), [_f(2, 4, 6, 6), _f(3, 4, 3)], RuntimeError),
    "conv2d_weight_5d": (lambda lib, nn, F, x, w: F.conv2d(x, w), [_f(2, 4, 6, 6), _f(3, 4, 3, 3, 1)], RuntimeError),
    "conv2d_weight_2d": (lambda lib, nn, F, x, w: F.conv2d(x, w), [_f(1, 2, 5, 5), _f(3, 2)], RuntimeError),
    "conv1d_weight_4d": (lambda lib, nn, F, x, w: F.conv1d(x, w), [_f(1, 2, 5), _f(3, 2, 2, 2)], RuntimeError),
    "Conv2d_in_channels_not_divisible_by_groups": (lambda lib, nn, F: nn.Conv2d(3, 4, 3, groups=2), [], ValueError),
    "Conv2d_out_channels_not_divisible_by_groups": (lambda lib, nn, F: nn.Conv2d(4, 3, 3, groups=2), [], ValueError),
    "ConvTranspose2d_in_channels_not_divisible_by_groups": (lambda lib, nn, F: nn.ConvTranspose2d(3, 4, 3, groups=2),
                                                            [], ValueError),
    "Conv2d_groups_0": (lambda lib, nn, F: nn.Conv2d(2, 2, 3, groups=0), [], ValueError),
    "conv2d_groups_channel_mismatch": (lambda lib, nn, F, x, w: F.conv2d(x, w, groups=2),
                                       [_f(2, 3, 6, 6), _f(4, 1, 3, 3)], RuntimeError),
    "conv2d_input_channel_mismatch": (lambda lib, nn, F, x, w: F.conv2d(x, w), [_f(2, 4, 6, 6), _f(3, 5, 3, 3)],
                                      RuntimeError),
    "Conv2d_input_channel_mismatch": (lambda lib, nn, F, x: nn.Conv2d(5, 3, 3)(x), [_f(2, 4, 6, 6)], RuntimeError),
    "conv1d_input_channel_mismatch": (lambda lib, nn, F, x, w: F.conv1d(x, w), [_f(2, 4, 6), _f(3, 2, 3)],
                                      RuntimeError),
    "conv_transpose2d_input_channel_mismatch": (lambda lib, nn, F, x, w: F.conv_transpose2d(x, w),
                                                [_f(1, 3, 4, 4), _f(4, 2, 3, 3)], RuntimeError),
    "conv2d_kernel_larger_than_input": (lambda lib, nn, F, x, w: F.conv2d(x, w), [_f(2, 4, 6, 6), _f(3, 4, 8, 8)],
                                        RuntimeError),
    "conv2d_kernel_larger_than_padded_input": (lambda lib, nn, F, x, w: F.conv2d(x, w, padding=(1, 0)),
                                               [_f(1, 2, 6, 6), _f(3, 2, 3, 7)], RuntimeError),
    "conv2d_dilated_kernel_larger_than_padded_input": (lambda lib, nn, F, x, w: F.conv2d(x, w, padding=1, dilation=4),
                                                       [_f(1, 2, 6, 6), _f(3, 2, 3, 3)], RuntimeError),
    "conv1d_kernel_larger_than_input_valid": (lambda lib, nn, F, x, w: F.conv1d(x, w, padding="valid"),
                                              [_f(1, 2, 4), _f(3, 2, 5)], RuntimeError),
    "conv3d_kernel_larger_than_input": (lambda lib, nn, F, x, w: F.conv3d(x, w), [_f(1, 1, 2, 4, 4), _f(1, 1, 3, 1, 1)],
                                        RuntimeError),
    "Conv2d_same_with_stride_2": (lambda lib, nn, F: nn.Conv2d(4, 3, 3, stride=2, padding="same"), [], ValueError),
    "conv2d_same_with_stride_2": (lambda lib, nn, F, x, w: F.conv2d(x, w, stride=2, padding="same"),
                                  [_f(2, 4, 6, 6), _f(3, 4, 3, 3)], RuntimeError),
    "conv1d_same_with_stride_2": (lambda lib, nn, F, x, w: F.conv1d(x, w, stride=2, padding="same"),
                                  [_f(2, 4, 6), _f(3, 4, 3)], RuntimeError),
    "conv2d_int64_input": (lambda lib, nn, F, x, w: F.conv2d(x, w), [np.ones((1, 2, 5, 5), np.int64), _f(3, 2, 3, 3)],
                           RuntimeError),
    "Conv2d_int64_input": (lambda lib, nn, F, x: nn.Conv2d(2, 3, 3)(x), [np.ones((1, 2, 5, 5), np.int64)],
                           RuntimeError),
    "conv2d_float64_input_float32_weight": (lambda lib, nn, F, x, w: F.conv2d(x, w),
                                            [_f(1, 2, 5, 5).astype(np.float64), _f(3, 2, 3, 3)], RuntimeError),
    "conv2d_input_2d": (lambda lib, nn, F, x, w: F.conv2d(x, w), [_f(6, 6), _f(3, 4, 3, 3)], RuntimeError),
    "Conv2d_input_5d": (lambda lib, nn, F, x: nn.Conv2d(2, 3, 3)(x), [_f(1, 1, 2, 5, 5)], RuntimeError),
    "conv2d_bias_wrong_size": (lambda lib, nn, F, x, w, b: F.conv2d(x, w, b), [_f(2, 4, 6, 6), _f(3, 4, 3, 3), _f(4)],
                               RuntimeError),
    "conv2d_stride_0": (lambda lib, nn, F, x, w: F.conv2d(x, w, stride=0), [_f(2, 4, 6, 6), _f(3, 4, 3, 3)],
                        RuntimeError),
    "conv2d_negative_padding": (lambda lib, nn, F, x, w: F.conv2d(x, w, padding=-1), [_f(2, 4, 6, 6), _f(3, 4, 3, 3)],
                                RuntimeError),
    "conv2d_unknown_padding_string": (lambda lib, nn, F, x, w: F.conv2d(x, w, padding="full"),
                                      [_f(2, 4, 6, 6), _f(3, 4, 3, 3)], RuntimeError),
    "Conv2d_unknown_padding_string": (lambda lib, nn, F: nn.Conv2d(4, 3, 3, padding="full"), [], ValueError),
    "Conv2d_unknown_padding_mode": (lambda lib, nn, F: nn.Conv2d(4, 3, 3, padding_mode="foo"), [], ValueError),
    "Conv1d_unknown_padding_mode": (lambda lib, nn, F: nn.Conv1d(4, 3, 3, padding_mode="reflection"), [], ValueError),
    "ConvTranspose2d_reflect_padding_mode": (lambda lib, nn, F: nn.ConvTranspose2d(4, 3, 3, padding_mode="reflect"),
                                             [], ValueError),
    "conv_transpose2d_output_padding_not_smaller_than_stride": (
        lambda lib, nn, F, x, w: F.conv_transpose2d(x, w, stride=2, output_padding=2),
        [_f(2, 4, 6, 6), _f(4, 3, 3, 3)], RuntimeError),
    "ConvTranspose2d_output_size_out_of_range": (lambda lib, nn, F, x: nn.ConvTranspose2d(4, 3, 3, stride=2)(
        x, output_size=(20, 20)), [_f(2, 4, 6, 6)], ValueError),
    "max_pool2d_padding_over_half_kernel": (lambda lib, nn, F, x: F.max_pool2d(x, 3, padding=2), [_f(2, 4, 6, 6)],
                                            RuntimeError),
    # torch checks pad <= kernel_size / 2 with the kernel size as given, not the dilated one
    # (although its message for dilation 1 speaks of the "effective kernel size")
    "max_pool2d_padding_over_half_kernel_dilated": (lambda lib, nn, F, x: F.max_pool2d(x, 3, 1, 2, 2),
                                                    [_f(1, 1, 7, 7)], RuntimeError),
    "max_pool1d_padding_over_half_kernel_dilated": (lambda lib, nn, F, x: F.max_pool1d(x, 3, 1, 2, 2),
                                                    [_f(1, 2, 9)], RuntimeError),
    "max_pool3d_padding_over_half_kernel_dilated": (lambda lib, nn, F, x: F.max_pool3d(x, 3, 1, 2, 2),
                                                    [_f(1, 1, 7, 7, 7)], RuntimeError),
    "max_pool1d_padding_over_half_kernel": (lambda lib, nn, F, x: F.max_pool1d(x, 2, padding=2), [_f(1, 2, 9)],
                                            RuntimeError),
    "MaxPool2d_padding_over_half_kernel": (lambda lib, nn, F, x: nn.MaxPool2d(3, padding=2)(x), [_f(1, 2, 9, 9)],
                                           RuntimeError),
    "avg_pool2d_padding_over_half_kernel": (lambda lib, nn, F, x: F.avg_pool2d(x, 2, padding=2), [_f(1, 2, 9, 9)],
                                            RuntimeError),
    "max_pool2d_output_too_small": (lambda lib, nn, F, x: F.max_pool2d(x, 7), [_f(2, 4, 6, 6)], RuntimeError),
    "avg_pool2d_output_too_small": (lambda lib, nn, F, x: F.avg_pool2d(x, 7), [_f(2, 4, 6, 6)], RuntimeError),
    "max_pool2d_stride_0": (lambda lib, nn, F, x: F.max_pool2d(x, 2, stride=0), [_f(1, 2, 9, 9)], RuntimeError),
    "GroupNorm_channels_not_divisible": (lambda lib, nn, F: nn.GroupNorm(3, 4), [], ValueError),
    "group_norm_channels_not_divisible": (lambda lib, nn, F, x: F.group_norm(x, 3), [_f(2, 4, 6, 6)], RuntimeError),
    "BatchNorm2d_3d_input": (lambda lib, nn, F, x: nn.BatchNorm2d(4)(x), [_f(4, 6, 6)], ValueError),
    "BatchNorm3d_4d_input": (lambda lib, nn, F, x: nn.BatchNorm3d(4)(x), [_f(2, 4, 6, 6)], ValueError),
    "BatchNorm2d_channel_mismatch": (lambda lib, nn, F, x: nn.BatchNorm2d(3)(x), [_f(2, 4, 6, 6)], RuntimeError),
    "BatchNorm2d_one_value_per_channel": (lambda lib, nn, F, x: nn.BatchNorm2d(2)(x), [_f(1, 2, 1, 1)], ValueError),
}


@pytest.mark.parametrize("name", list(ERRORS))
def test_errors_raise_torch_exception_type(name):
    """The exception type torch raises (torch checked first, so a change in torch shows up as
    such), and the failed call leaves its inputs as they were (values, no gradient)."""
    fn, arrays, exc = ERRORS[name]
    for lib, nn, F in reversed(LIBS):
        tensors = [lib.tensor(a.copy(), requires_grad=a.dtype.kind == "f") for a in arrays]
        with pytest.raises(exc):
            fn(lib, nn, F, *tensors)
        for t, a in zip(tensors, arrays):
            np.testing.assert_array_equal(to_np(t), a)
            assert t.grad is None


def test_failed_batchnorm_calls_leave_running_stats_unchanged():
    """A channel mismatch leaves the whole module as it was (ember's rule for failed calls: torch
    bumps num_batches_tracked before it checks, ember does not); a batch of one value per channel
    leaves the running statistics alone (num_batches_tracked bumped like torch, as
    test_invalid_inputs checks for BatchNorm1d); a rejected F.batch_norm does not touch the running
    tensors it was given."""
    stats = {"running_mean": np.array([0.5, -1.0, 2.0], np.float32), "running_var": np.array([1.5, 0.5, 2.0],
                                                                                             np.float32)}
    counts = {}
    for side in reversed(SIDES):
        mismatch, one = side.nn.BatchNorm2d(3), side.nn.BatchNorm2d(3)
        with torch.no_grad(), ember.no_grad():
            for m in (mismatch, one):
                for k, v in stats.items():
                    getattr(m, k).copy_(side.lib.tensor(v))
        before = {k: to_np(v) for k, v in mismatch.state_dict().items()}
        with pytest.raises(RuntimeError):
            mismatch(side.lib.tensor(_f(2, 4, 3, 3)))
        with pytest.raises(ValueError):
            one(side.lib.tensor(_f(1, 3, 1, 1)))
        for k, v in before.items():
            if side.name == "ember" or k != "num_batches_tracked":
                np.testing.assert_array_equal(to_np(mismatch.state_dict()[k]), v, err_msg=f"channel mismatch: {k}")
        for k, v in stats.items():
            np.testing.assert_array_equal(to_np(getattr(one, k)), v, err_msg=f"batch of one: {k}")
        counts[side.name] = int(one.num_batches_tracked.item())
        rm, rv = side.lib.zeros(3), side.lib.ones(3)
        with pytest.raises(RuntimeError):
            side.F.batch_norm(side.lib.tensor(_f(2, 4, 3, 3)), rm, rv, training=True)
        np.testing.assert_array_equal(to_np(rm), np.zeros(3, np.float32))
        np.testing.assert_array_equal(to_np(rv), np.ones(3, np.float32))
    assert counts["ember"] == counts["torch"]


def test_failed_conv_module_call_leaves_parameters_and_input_unchanged():
    mods = twin(lambda nn: nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect"), seed=1)
    for side in reversed(SIDES):
        m = mods[side.name]
        before = {k: to_np(v) for k, v in m.state_dict().items()}
        for x in (_f(1, 2, 5, 5), _f(1, 3, 1, 5)):  # channel mismatch; reflect padding as large as the input
            t = side.lib.tensor(x.copy(), requires_grad=True)
            with pytest.raises(RuntimeError):
                m(t)
            np.testing.assert_array_equal(to_np(t), x)
        for k, v in m.state_dict().items():
            np.testing.assert_array_equal(to_np(v), before[k], err_msg=k)
        assert all(p.grad is None for p in m.parameters())
