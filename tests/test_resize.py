"""F.interpolate (and the deprecated F.upsample, F.upsample_nearest, F.upsample_bilinear) and the
nn.Upsample / UpsamplingNearest2d / UpsamplingBilinear2d modules against torch: every mode (nearest,
nearest-exact, linear, bilinear, bicubic, trilinear, area, antialiased bilinear / bicubic / lanczos)
over sizes and scale factors (with and without recompute_scale_factor, align_corners True / False),
forward values and the gradients of sum(out * R) for a fixed numpy R, float32 / float64 / float16 /
bfloat16 / uint8, channels-last and non-contiguous inputs, large (multi-threaded) inputs, a
hypothesis search over random shapes and scales, float64 gradients against finite differences,
grad_fn names, module reprs and attributes, and torch's exception types and messages.

Values: ember computes torch's source indices and weights with torch's arithmetic, including the
fused multiply-adds its CPU kernels are built with (Note [Resize FMA] in cpp/ember/ops/resize.cpp),
so on a CPU where torch runs its AVX2 kernels (AVX2 or AVX-512 machines) the results are compared
bit for bit; elsewhere, for float32 lanczos (whose weights differ from torch's by an ulp) and for
'area' (ember's adaptive_avg_pool sums in another order), to a float tolerance. Inputs are numpy
arrays from np.random.default_rng (never torch's stream)."""
import os
import pickle
import sys
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("hypothesis")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch.nn as tnn  # noqa: E402
import torch.nn.functional as TF  # noqa: E402
from helpers import dtype_name, gradcheck, rng, to_np  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import ember  # noqa: E402
import ember.nn as enn  # noqa: E402
import ember.nn.functional as EF  # noqa: E402

# torch's upsample kernels run their AVX2 build on AVX2 and AVX-512 CPUs: FMA, as ember writes it
EXACT = torch.backends.cpu.get_cpu_capability() in ("AVX2", "AVX512")
TOL = {"float32": dict(rtol=2e-6, atol=2e-6), "float64": dict(rtol=1e-13, atol=1e-13)}


def normal(shape, seed=0, dtype=np.float32):
    return rng(seed).standard_normal(shape).astype(dtype)


def assert_same(e, t, exact=True, msg=""):
    """ember result e equals torch's t: bit for bit when `exact` and torch's kernels fuse as ember
    does, else to a float tolerance."""
    a, b = to_np(e), to_np(t)
    assert a.shape == b.shape, f"{msg}: shape {a.shape} != torch {b.shape}"
    assert a.dtype == b.dtype, f"{msg}: dtype {a.dtype} != torch {b.dtype}"
    if a.dtype.kind != "f" or (exact and EXACT):
        np.testing.assert_array_equal(a, b, err_msg=msg)
    else:
        np.testing.assert_allclose(a, b, err_msg=msg, **TOL[a.dtype.name])


def run_both(call, x, *, grad=True, exact=True, seed=1, make=None):
    """call(F, tensor) on copies of numpy x in ember and torch; compares the outputs and, for float
    inputs, the gradients of sum(out * R). make(lib, array) builds the input tensor."""
    outs, grads = [], []
    for lib, F in ((ember, EF), (torch, TF)):
        t = make(lib, x.copy()) if make else lib.tensor(x.copy())
        leaf = t
        if grad:
            leaf = lib.tensor(x.copy(), requires_grad=True) if make is None else t.detach().requires_grad_(True)
        y = call(F, leaf)
        outs.append(y)
        if grad:
            r = rng(seed).standard_normal(tuple(y.shape)).astype(x.dtype)
            (y * lib.tensor(r)).sum().backward()
            grads.append(leaf.grad)
    assert_same(outs[0], outs[1], exact, "forward")
    if grad:
        assert_same(grads[0], grads[1], exact, "gradient")
    return outs


# --------------------------------------------------------------------------- modes, sizes, scales

# (mode, antialias, spatial dims, align_corners choices)
MODES = [("nearest", False, 1, [None]), ("nearest", False, 2, [None]), ("nearest", False, 3, [None]),
         ("nearest-exact", False, 1, [None]), ("nearest-exact", False, 2, [None]), ("nearest-exact", False, 3, [None]),
         ("linear", False, 1, [False, True]), ("bilinear", False, 2, [False, True]),
         ("trilinear", False, 3, [False, True]), ("bicubic", False, 2, [False, True]),
         ("area", False, 1, [None]), ("area", False, 2, [None]), ("area", False, 3, [None]),
         ("bilinear", True, 2, [False, True]), ("bicubic", True, 2, [False, True]), ("lanczos", True, 2, [False])]
IN = {1: (2, 3, 7), 2: (2, 3, 5, 7), 3: (1, 2, 3, 4, 5)}
# name -> kwargs per spatial-dim count
SIZES = {
    "up_size": {1: dict(size=13), 2: dict(size=(9, 12)), 3: dict(size=(5, 7, 6))},
    "down_size": {1: dict(size=4), 2: dict(size=(3, 4)), 3: dict(size=(2, 3, 2))},
    "mixed_size": {1: dict(size=7), 2: dict(size=(2, 11)), 3: dict(size=(4, 2, 5))},
    "size_1": {1: dict(size=1), 2: dict(size=(1, 1)), 3: dict(size=(1, 1, 1))},
    "scale_2": {1: dict(scale_factor=2), 2: dict(scale_factor=2.0), 3: dict(scale_factor=2)},
    "scale_odd": {1: dict(scale_factor=1.7), 2: dict(scale_factor=(1.3, 2.6)), 3: dict(scale_factor=(1.5, 0.7, 2.3))},
    "scale_down": {1: dict(scale_factor=0.45), 2: dict(scale_factor=(0.5, 0.35)), 3: dict(scale_factor=0.6)},
    # the size does not change but the scale does (torch then samples with 1/scale)
    "scale_near_1": {1: dict(scale_factor=1.0001), 2: dict(scale_factor=(1.01, 1.1)), 3: dict(scale_factor=1.2)},
    "scale_recompute": {1: dict(scale_factor=1.7, recompute_scale_factor=True),
                        2: dict(scale_factor=(1.3, 2.6), recompute_scale_factor=True),
                        3: dict(scale_factor=(1.5, 0.7, 2.3), recompute_scale_factor=True)},
    "scale_no_recompute": {1: dict(scale_factor=1.7, recompute_scale_factor=False),
                           2: dict(scale_factor=(0.55, 1.45), recompute_scale_factor=False),
                           3: dict(scale_factor=1.45, recompute_scale_factor=False)},
}
CASES = [(m, aa, nd, ac, s) for m, aa, nd, acs in MODES for ac in acs for s in SIZES]


def case_id(c):
    m, aa, nd, ac, s = c
    return f"{m}{'_aa' if aa else ''}_{nd}d_{'ac' if ac else ''}{s}"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_interpolate_matches_torch(case, dtype):
    mode, aa, nd, ac, sname = case
    kw = dict(SIZES[sname][nd], mode=mode, align_corners=ac, antialias=aa)
    x = normal(IN[nd], len(case_id(case)), dtype)
    exact = not (mode == "lanczos" and dtype == np.float32) and mode != "area"  # area: ember's adaptive_avg_pool
    run_both(lambda F, t: F.interpolate(t, **kw), x, exact=exact)


@pytest.mark.parametrize("C", [1, 3, 4, 8, 9, 17])
@pytest.mark.parametrize("size", [(6, 7), (70, 80)], ids=["small", "large"])
@pytest.mark.parametrize("mode", ["nearest", "nearest-exact", "bilinear", "bicubic"])
def test_2d_kernel_choice_matches_torch(mode, size, C):
    """torch picks a kernel by output size (h + w <= 128) and channel count, and its kernels index
    (nearest) and round (bilinear: its vectorized channels sum in another order) differently."""
    for dtype in (np.float32, np.float64):
        x = normal((2, C, 5, 6), C, dtype)
        run_both(lambda F, t: F.interpolate(t, size, mode=mode), x)
        run_both(lambda F, t: F.interpolate(t, scale_factor=1.001, mode=mode), x)


def test_one_thread_three_channels_matches_torch():
    """On one thread torch's 2-D bilinear takes its channels-last kernel for 3 channels at any size."""
    e_threads, t_threads = ember.get_num_threads(), torch.get_num_threads()
    try:
        ember.set_num_threads(1)
        torch.set_num_threads(1)
        for dtype in (np.float32, np.float64):
            run_both(lambda F, t: F.interpolate(t, (90, 70), mode="bilinear"), normal((2, 3, 9, 7), 2, dtype))
    finally:
        ember.set_num_threads(e_threads)
        torch.set_num_threads(t_threads)


def test_size_and_scale_argument_types_match_torch():
    """Sizes as numpy integers or 0-d integer tensors, scale factors as ints, numpy floats, lists."""
    x = normal((1, 2, 5, 6), 3)
    run_both(lambda F, t: F.interpolate(t, size=np.int64(7), mode="bilinear"), x)
    run_both(lambda F, t: F.interpolate(t, size=[np.int32(3), 8], mode="bicubic"), x)
    run_both(lambda F, t: F.interpolate(t, scale_factor=[2, np.float64(1.5)]), x)
    run_both(lambda F, t: F.interpolate(t, scale_factor=np.float32(0.75), mode="nearest-exact"), x)
    outs = [F.interpolate(lib.tensor(x), size=(lib.tensor(4), lib.tensor(9)), mode="bilinear")
            for lib, F in ((ember, EF), (torch, TF))]
    assert_same(*outs)
    for F in (EF, TF):
        with pytest.raises(AttributeError, match="'list' object has no attribute 'dim'"):
            F.interpolate([[1.0]], size=2)


def channels_last(lib, a):
    """a [N, C, *S] as a tensor with channels-last strides (torch's channels_last memory format)."""
    nd = a.ndim
    perm = (0, *range(2, nd), 1)
    back = (0, nd - 1, *range(1, nd - 1))
    return lib.tensor(np.ascontiguousarray(a.transpose(perm))).permute(*back)


@pytest.mark.parametrize("C", [2, 5, 9])
@pytest.mark.parametrize("mode,shape,size", [("nearest", (2, 5, 5), (7, 3)), ("bilinear", (2, 5, 5), (7, 3)),
                                             ("bilinear", (2, 5, 5), (90, 60)), ("nearest", (2, 3, 4, 5), (3, 7, 2)),
                                             ("trilinear", (2, 3, 4, 5), (3, 7, 2)), ("bicubic", (2, 5, 5), (9, 4))])
def test_channels_last_input_matches_torch(mode, shape, size, C):
    x = normal((shape[0], C, *shape[1:]), C)
    outs = run_both(lambda F, t: F.interpolate(t, size, mode=mode), x, make=channels_last)
    assert tuple(outs[0].shape) == tuple(outs[1].shape)


def test_non_contiguous_input_matches_torch():
    x = normal((3, 2, 6, 5), 1)
    run_both(lambda F, t: F.interpolate(t.transpose(0, 1)[:, :, ::2], size=(4, 7), mode="bicubic"), x)
    run_both(lambda F, t: F.interpolate(t[..., 1:], scale_factor=(1.5, 2.0), mode="bilinear", align_corners=True), x)


@pytest.mark.parametrize("mode,aa", [("nearest", False), ("bilinear", False), ("bicubic", False), ("bilinear", True),
                                     ("trilinear", False)])
def test_large_input_split_over_threads_matches_torch(mode, aa):
    shape = (4, 8, 6, 20, 20) if mode == "trilinear" else (4, 16, 48, 40)
    x = normal(shape, 3)
    size = (9, 30, 17) if mode == "trilinear" else (71, 29)
    run_both(lambda F, t: F.interpolate(t, size, mode=mode, antialias=aa), x)


# --------------------------------------------------------------------------- dtypes

@pytest.mark.parametrize("kw", [dict(scale_factor=2, mode="nearest"), dict(size=(7, 3), mode="nearest-exact"),
                                dict(size=(70, 90), mode="nearest"), dict(size=(3, 11), mode="bilinear"),
                                dict(size=(9, 4), mode="bicubic", align_corners=True),
                                dict(size=(3, 4), mode="bilinear", antialias=True),
                                dict(scale_factor=(0.6, 1.7), mode="bicubic", antialias=True),
                                dict(size=(4, 9), mode="lanczos", antialias=True)])
@pytest.mark.parametrize("C", [3, 6])
def test_uint8_matches_torch(kw, C):
    """uint8: nearest copies; bilinear / bicubic (antialiased or not) run torch's integer path (int16
    weights, rounded sums): equal to torch's values exactly."""
    x = rng(C).integers(0, 256, (2, C, 7, 9)).astype(np.uint8)
    run_both(lambda F, t: F.interpolate(t, **kw), x, grad=False)


@pytest.mark.parametrize("dt", ["float16", "bfloat16"])
@pytest.mark.parametrize("kw", [dict(scale_factor=2, mode="nearest"), dict(size=(4, 9), mode="bilinear"),
                                dict(size=(6, 5), mode="bicubic"), dict(size=(3, 3), mode="area")])
def test_half_dtypes(dt, kw):
    """float16 / bfloat16 keep their dtype; torch rounds its weights to the half type, so values
    agree to the half type's precision."""
    x = normal((2, 3, 5, 6), 4)
    e = EF.interpolate(ember.tensor(x).to(getattr(ember, dt)), **kw)
    t = TF.interpolate(torch.tensor(x).to(getattr(torch, dt)), **kw)
    assert dtype_name(e.dtype) == dt
    np.testing.assert_allclose(to_np(e.float()), to_np(t.float()), rtol=2e-2, atol=2e-2)
    xe = ember.tensor(x).to(getattr(ember, dt)).requires_grad_(True)
    EF.interpolate(xe, **kw).float().sum().backward()
    assert dtype_name(xe.grad.dtype) == dt and tuple(xe.grad.shape) == x.shape


# --------------------------------------------------------------------------- autograd

GRAD_MODES = [("nearest", False, 1, None), ("nearest-exact", False, 2, None), ("nearest", False, 3, None),
              ("linear", False, 1, False), ("linear", False, 1, True), ("bilinear", False, 2, False),
              ("bilinear", False, 2, True), ("bicubic", False, 2, False), ("bicubic", False, 2, True),
              ("trilinear", False, 3, False), ("trilinear", False, 3, True), ("area", False, 2, None),
              ("bilinear", True, 2, False), ("bicubic", True, 2, True), ("lanczos", True, 2, False)]
# (no scale factor that keeps a size: torch's nearest backward then copies while its forward samples
# with 1/scale, and its bicubic backward copies when no size changes; ember does as torch, see
# test_nearest_backward_uses_torch_indices and test_bicubic_backward_copies_when_sizes_keep)
GRAD_SIZES = {1: [dict(size=7), dict(scale_factor=0.6)], 2: [dict(size=(5, 3)), dict(scale_factor=(1.7, 0.5))],
              3: [dict(size=(3, 2, 4)), dict(scale_factor=(0.7, 1.5, 1.6))]}


@pytest.mark.parametrize("mode,aa,nd,ac", GRAD_MODES,
                         ids=[f"{m}{'_aa' if a else ''}_{n}d_{c}" for m, a, n, c in GRAD_MODES])
def test_gradcheck_float64(mode, aa, nd, ac):
    shape = {1: (2, 2, 5), 2: (1, 2, 4, 5), 3: (1, 1, 3, 3, 4)}[nd]
    for kw in GRAD_SIZES[nd]:
        gradcheck(lambda x: EF.interpolate(x, mode=mode, align_corners=ac, antialias=aa, **kw),
                  [normal(shape, nd, np.float64)])


@pytest.mark.parametrize("mode,nd,aa", [("nearest", 1, False), ("nearest", 2, False), ("nearest", 3, False),
                                        ("nearest-exact", 1, False), ("nearest-exact", 2, False),
                                        ("nearest-exact", 3, False), ("linear", 1, False), ("bilinear", 2, False),
                                        ("bicubic", 2, False), ("trilinear", 3, False), ("bilinear", 2, True),
                                        ("bicubic", 2, True), ("lanczos", 2, True), ("area", 2, False)])
def test_grad_fn_name_matches_torch(mode, nd, aa):
    names = []
    for lib, F in ((ember, EF), (torch, TF)):
        x = lib.tensor(normal(IN[nd], 0), requires_grad=True)
        names.append(F.interpolate(x, scale_factor=2, mode=mode, antialias=aa).grad_fn.name())
    assert names[0] == names[1]


def test_nearest_backward_uses_torch_indices():
    """torch's forward samples with 1/scale, its backward with nearest_idx (an exact copy when the
    size does not change): both kept."""
    x = normal((1, 2, 10), 5)
    run_both(lambda F, t: F.interpolate(t, scale_factor=1.0001), x)
    run_both(lambda F, t: F.interpolate(t, scale_factor=(1.01, 1.0001), mode="nearest-exact"), normal((1, 2, 9, 9), 6))


def test_bicubic_backward_copies_when_sizes_keep():
    """torch's bicubic backward is a copy when no size changes, whatever the scale factors."""
    x = normal((1, 2, 4, 3), 7, np.float64)
    run_both(lambda F, t: F.interpolate(t, scale_factor=(1.0, 1.3), mode="bicubic"), x)


def test_empty_batch():
    for mode in ("nearest", "bilinear", "bicubic"):
        run_both(lambda F, t: F.interpolate(t, size=(4, 6), mode=mode), normal((0, 2, 3, 3), 0))


# --------------------------------------------------------------------------- hypothesis

@settings(max_examples=60, deadline=None, derandomize=True)
@given(mode=st.sampled_from(["nearest", "nearest-exact", "linear", "bilinear", "bicubic", "trilinear", "area",
                             "bilinear-aa", "bicubic-aa", "lanczos-aa"]),
       n=st.integers(1, 2), c=st.integers(1, 5), dims=st.lists(st.integers(1, 9), min_size=3, max_size=3),
       by_scale=st.booleans(), outs=st.lists(st.integers(1, 13), min_size=3, max_size=3),
       scales=st.lists(st.sampled_from([0.3, 0.5, 0.75, 1.0, 1.0001, 1.25, 1.5, 2.0, 2.5, 3.0, 1 / 3]), min_size=3,
                       max_size=3),
       align=st.booleans(), recompute=st.sampled_from([None, False, True]), f64=st.booleans())
def test_random_geometry_matches_torch(mode, n, c, dims, by_scale, outs, scales, align, recompute, f64):
    base, _, aa = mode.partition("-")
    nd = {"linear": 1, "trilinear": 3}.get(base, 2 if base in ("bilinear", "bicubic", "lanczos") or aa else
                                           1 + (n + c + dims[0]) % 3)
    dims, outs, scales = dims[:nd], outs[:nd], scales[:nd]
    if by_scale:
        if any(int(d * s) < 1 for d, s in zip(dims, scales)):
            return
        kw = dict(scale_factor=scales, recompute_scale_factor=recompute)
        outs = [int(d * s) for d, s in zip(dims, scales)]
    else:
        kw = dict(size=outs)
    if aa and outs[-1] == 1 and outs[0] != dims[0]:
        return  # torch bug: see test_antialias_width_one_output
    ac = align if base in ("linear", "bilinear", "bicubic", "trilinear") and base != "lanczos" else None
    x = normal((n, c, *dims), sum(dims) + c, np.float64 if f64 else np.float32)
    run_both(lambda F, t: F.interpolate(t, mode=base, align_corners=ac, antialias=bool(aa), **kw), x,
             exact=not (base == "lanczos" and not f64) and base != "area")


def test_antialias_width_one_output():
    """torch 2.13's antialiased kernel gives every row the first row's value when the output width
    is 1 and the height changes (its vertical pass reads the weights of one row): ember computes
    each row, as the transposed problem does in both libraries."""
    x = normal((1, 2, 9, 4), 8, np.float64)
    for mode in ("bilinear", "bicubic", "lanczos"):
        tall = EF.interpolate(ember.tensor(x), size=(5, 1), mode=mode, antialias=True)
        wide = EF.interpolate(ember.tensor(x).transpose(2, 3), size=(1, 5), mode=mode, antialias=True)
        np.testing.assert_allclose(to_np(tall), to_np(wide.transpose(2, 3)), rtol=1e-12, atol=1e-12)
        torch_wide = TF.interpolate(torch.tensor(x).transpose(2, 3), size=(1, 5), mode=mode, antialias=True)
        assert_same(wide, torch_wide)


# --------------------------------------------------------------------------- wrappers and modules

@pytest.mark.parametrize("name,args,kw", [("upsample", ((7, 5),), dict(mode="bilinear")),
                                          ("upsample", (None, 2), dict(mode="bicubic", align_corners=True)),
                                          ("upsample_nearest", ((7, 5),), {}),
                                          ("upsample_nearest", (None, 1.5), {}),
                                          ("upsample_bilinear", ((7, 5),), {}),
                                          ("upsample_bilinear", (None, (2, 0.5)), {})])
def test_deprecated_wrappers_warn_like_torch(name, args, kw):
    x = normal((2, 3, 4, 6), 9)
    results = []
    for lib, F in ((ember, EF), (torch, TF)):
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            y = getattr(F, name)(lib.tensor(x), *args, **kw)
        assert [(str(i.message), i.category, os.path.basename(i.filename)) for i in w] == \
            [(f"`nn.functional.{name}` is deprecated. Use `nn.functional.interpolate` instead.", UserWarning,
              "test_resize.py")]
        results.append(y)
    assert_same(*results)


def test_no_align_corners_warning():
    """torch no longer warns when a linear mode leaves align_corners unset."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        EF.interpolate(ember.tensor(normal((1, 1, 4, 4))), scale_factor=2, mode="bilinear")
        TF.interpolate(torch.tensor(normal((1, 1, 4, 4))), scale_factor=2, mode="bilinear")


def test_signatures_match_torch():
    import inspect
    for name in ("interpolate", "upsample", "upsample_nearest", "upsample_bilinear"):
        e, t = inspect.signature(getattr(EF, name)), inspect.signature(getattr(TF, name))
        assert [(p.name, p.default, p.kind) for p in e.parameters.values()] == \
            [(p.name, p.default, p.kind) for p in t.parameters.values()], name
    for name in ("Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d"):
        e, t = inspect.signature(getattr(enn, name)), inspect.signature(getattr(tnn, name))
        assert [(p.name, p.default) for p in e.parameters.values()] == \
            [(p.name, p.default) for p in t.parameters.values()], name


MODULES = [
    lambda nn: nn.Upsample(scale_factor=2),
    lambda nn: nn.Upsample(size=(7, 5), mode="bilinear"),
    lambda nn: nn.Upsample(size=9, mode="bicubic", align_corners=True),
    lambda nn: nn.Upsample(scale_factor=(1.5, 2), mode="nearest-exact"),
    lambda nn: nn.Upsample(scale_factor=1.7, mode="bilinear", recompute_scale_factor=True),
    lambda nn: nn.Upsample(scale_factor=0.5, mode="area"),
    lambda nn: nn.Upsample(scale_factor=0),
    lambda nn: nn.UpsamplingNearest2d(scale_factor=3),
    lambda nn: nn.UpsamplingNearest2d(size=(5, 8)),
    lambda nn: nn.UpsamplingBilinear2d(scale_factor=(2, 1.5)),
    lambda nn: nn.UpsamplingBilinear2d(size=6),
]


@pytest.mark.parametrize("i", range(len(MODULES)))
def test_upsampling_modules_match_torch(i):
    e, t = MODULES[i](enn), MODULES[i](tnn)
    assert repr(e) == repr(t)
    for k, v in vars(t).items():
        if not k.startswith("_") and k != "training":
            assert getattr(e, k) == v, k
    assert list(e.state_dict()) == [] and list(e.parameters()) == []
    if t.scale_factor is None and t.size is None:
        return
    run_both(lambda F, x: (e if F is EF else t)(x), normal((2, 3, 6, 4), i), exact=t.mode != "area")


def test_upsample_module_list_scale_factor_raises_like_torch():
    for nn in (enn, tnn):
        with pytest.raises(TypeError):
            nn.Upsample(scale_factor=[2, 2])


def test_upsample_module_pickles_and_old_state_gets_recompute():
    m = enn.Upsample(scale_factor=2, mode="bilinear")
    m2 = pickle.loads(pickle.dumps(m))
    assert repr(m2) == repr(m) and m2.recompute_scale_factor is None
    state = dict(vars(m))
    del state["recompute_scale_factor"]
    m3 = enn.Upsample.__new__(enn.Upsample)
    m3.__setstate__(state)
    assert m3.recompute_scale_factor is True  # torch's rule for modules saved before the attribute


# --------------------------------------------------------------------------- errors

def _x(*shape, dtype="float32"):
    return lambda lib: lib.tensor(np.arange(int(np.prod(shape)), dtype=np.float64).reshape(shape)).to(
        getattr(lib, dtype))


ERRORS = [
    (_x(1, 1, 10), dict(size=5, scale_factor=2)),
    (_x(1, 1, 10), dict()),
    (_x(1, 1, 10), dict(size=(5, 5))),
    (_x(1, 1, 10), dict(scale_factor=(2, 2))),
    (_x(1, 1, 10), dict(size=5, align_corners=True)),
    (_x(1, 1, 10), dict(size=5, mode="area", align_corners=False)),
    (_x(1, 1, 10), dict(size=5, mode="nearest-exact", align_corners=True)),
    (_x(1, 1, 10), dict(size=5.0)),
    (_x(1, 1, 4, 4), dict(size=5.0, mode="bilinear")),
    (_x(1, 1, 4, 4), dict(size=5.0, mode="bicubic", antialias=True)),
    (_x(1, 1, 4, 4, 4), dict(size=5.0, mode="trilinear")),
    (_x(1, 1, 4, 4), dict(size=5.0, mode="nearest-exact")),
    (_x(1, 1, 4), dict(size=5.0, mode="area")),
    (_x(1, 1, 4, 4), dict(size=(5.0, 5), mode="bilinear")),
    (_x(1, 1, 10), dict(size=[5.0])),
    (_x(1, 1, 4, 4), dict(scale_factor=(2, "a"), mode="bilinear")),
    (_x(1, 1, 4, 4), dict(scale_factor="2", mode="bilinear")),
    (_x(1, 1, 4, 4), dict(size=(True, 3), mode="bilinear")),
    (_x(1, 1, 10), dict(size=0)),
    (_x(1, 1, 10), dict(size=-1)),
    (_x(1, 1, 10), dict(scale_factor=0.01)),
    (_x(1, 1, 10), dict(scale_factor=-1.0)),
    (_x(1, 1, 10), dict(scale_factor=1e30)),
    (_x(1, 1, 10), dict(scale_factor=float("nan"))),
    (_x(1, 1, 10), dict(scale_factor=float("inf"), recompute_scale_factor=True)),
    (_x(1, 1, 10), dict(scale_factor=float("nan"), recompute_scale_factor=True)),
    (_x(1, 1, 10), dict(size=5, recompute_scale_factor=True)),
    (_x(1, 1, 10), dict(size=5, mode="foo")),
    (_x(2, 3), dict(size=5)),
    (_x(2, 3), dict(scale_factor=2)),
    (_x(2, 3, 4, 4, 4, 4), dict(size=5)),
    (_x(1, 1, 10), dict(size=5, mode="bilinear")),
    (_x(1, 1, 10), dict(size=5, mode="bicubic")),
    (_x(1, 1, 10), dict(size=5, mode="trilinear")),
    (_x(1, 1, 4, 4), dict(size=5, mode="linear")),
    (_x(1, 1, 4, 4), dict(size=5, mode="trilinear")),
    (_x(1, 1, 4, 4, 4), dict(size=5, mode="linear")),
    (_x(1, 1, 4, 4, 4), dict(size=5, mode="bilinear")),
    (_x(1, 1, 4, 4, 4), dict(size=5, mode="bicubic")),
    (_x(1, 1, 10), dict(size=5, mode="linear", antialias=True)),
    (_x(1, 1, 4, 4), dict(size=5, mode="nearest", antialias=True)),
    (_x(1, 1, 4, 4, 4), dict(size=5, mode="bilinear", antialias=True)),
    (_x(1, 1, 4, 4), dict(size=5, mode="lanczos")),
    (_x(1, 1, 4, 4), dict(size=5, mode="lanczos", antialias=True, align_corners=True)),
    (_x(1, 1, 10), dict(size=5, mode="lanczos", antialias=True)),
    (_x(1, 1, 10), dict(size=5, mode="lanczos")),
    (_x(1, 0, 10), dict(size=5)),
    (_x(1, 1, 0), dict(size=5)),
    (_x(1, 0, 4, 4), dict(size=5, mode="bilinear")),
    (_x(1, 1, 0, 4), dict(size=5, mode="bicubic")),
    (_x(1, 1, 3, 4), dict(size=(0, 3))),
    (_x(1, 1, 3, 4), dict(size=(0, 3), mode="bilinear", antialias=True)),
    (_x(1, 1, 3, 4, 4), dict(size=(0, 3, 1))),
    (_x(1, 1, 3, 4, 4), dict(size=(0, 3, 1), mode="trilinear")),
] + [(_x(*shape, dtype=dt), dict(kw, scale_factor=2))
     for dt in ["int8", "int16", "int32", "int64", "bool"]
     for shape, kw in [((1, 1, 5), dict(mode="nearest")), ((1, 1, 5, 5), dict(mode="nearest")),
                       ((1, 1, 50, 50), dict(mode="nearest")), ((1, 1, 5, 5), dict(mode="nearest-exact")),
                       ((1, 1, 3, 3, 3), dict(mode="nearest")), ((1, 1, 5), dict(mode="linear")),
                       ((1, 1, 5, 5), dict(mode="bilinear")), ((1, 1, 100, 100), dict(mode="bilinear")),
                       ((1, 1, 5, 5), dict(mode="bicubic")), ((1, 1, 3, 3, 3), dict(mode="trilinear")),
                       ((1, 1, 5, 5), dict(mode="bilinear", antialias=True)), ((1, 1, 5), dict(mode="area")),
                       ((1, 1, 3, 3, 3), dict(mode="area"))]] + [
    (_x(1, 1, 5, dtype="uint8"), dict(scale_factor=2, mode="linear")),
    (_x(1, 1, 3, 3, 3, dtype="uint8"), dict(scale_factor=2, mode="trilinear")),
    (_x(1, 1, 5, 5, dtype="float16"), dict(scale_factor=2, mode="bilinear", antialias=True)),
    (_x(1, 1, 5, 5, dtype="bfloat16"), dict(scale_factor=2, mode="bicubic", antialias=True)),
]


def _outcome(fn):
    try:
        y = fn()
        return ("ok", tuple(y.shape), dtype_name(y.dtype))
    except Exception as e:  # noqa: BLE001 -- the type and message are what is compared
        return (type(e).__name__, str(e))


@pytest.mark.parametrize("i", range(len(ERRORS)))
def test_errors_match_torch(i):
    """torch's exception type and message (or, where torch accepts the call, the same result shape
    and dtype)."""
    make, kw = ERRORS[i]
    t = _outcome(lambda: TF.interpolate(make(torch), **kw))
    e = _outcome(lambda: EF.interpolate(make(ember), **kw))
    assert e == t
