"""Attention against torch: F.scaled_dot_product_attention (masks, causal, scale, GQA, gradients, a float64
finite-difference check), F.multi_head_attention_forward / nn.MultiheadAttention (every constructor option,
masks, weights), the Transformer family in eval mode (outputs and parameter gradients, state_dict keys,
reprs), dropout statistics in training mode, and a tiny GPT trained with AdamW. Inputs and weights come from
numpy's default_rng; torch weights are copied into ember through load_state_dict."""
import copy
import os
import sys
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch.nn as tnn  # noqa: E402
import torch.nn.functional as TF  # noqa: E402
from helpers import gradcheck  # noqa: E402

import ember  # noqa: E402
import ember.nn as enn  # noqa: E402
import ember.nn.functional as EF  # noqa: E402

F32 = dict(rtol=1e-4, atol=1e-5)
# a bool key_padding_mask next to a float attn_mask: torch's deprecation warning, checked once below
pytestmark = pytest.mark.filterwarnings("ignore:Support for mismatched")


def rng(seed=0):
    return np.random.default_rng(seed)


def to_np(t):
    return np.array(t.detach().numpy(), copy=True)


def close(a, b, rtol=1e-4, atol=1e-5, msg=""):
    a, b = to_np(a), to_np(b)
    assert a.shape == b.shape, f"{msg}: shape {a.shape} != {b.shape}"
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=msg)


def pair(a, requires_grad=False):
    """The same numpy array as an ember and a torch tensor (a bool array stays bool)."""
    a = np.asarray(a)
    if a.dtype == np.float64:
        a = a.astype(np.float32)
    e, t = ember.tensor(a.copy()), torch.tensor(a.copy())
    if requires_grad:
        e.requires_grad_(True)
        t.requires_grad_(True)
    return e, t


def randn(g, *shape):
    return g.standard_normal(shape).astype(np.float32)


def twins(make, seed=0, scale=0.5):
    """make(nn) built in ember and torch, with the same numpy-drawn weights (torch's parameters are
    overwritten, then ember loads torch's state_dict unchanged)."""
    t, e = make(tnn), make(enn)
    g = rng(seed)
    with torch.no_grad():
        for name, p in t.named_parameters():
            if name.endswith("norm1.weight") or name.endswith("norm2.weight") or name.endswith("norm3.weight") \
                    or name.endswith("norm.weight"):
                p.copy_(torch.tensor(1.0 + 0.2 * g.standard_normal(tuple(p.shape)), dtype=p.dtype))
            else:
                p.copy_(torch.tensor(scale * g.standard_normal(tuple(p.shape)), dtype=p.dtype))
    result = e.load_state_dict({k: ember.tensor(v.detach().numpy().copy()) for k, v in t.state_dict().items()})
    assert not result.missing_keys and not result.unexpected_keys
    return e, t


def backward_both(outs_e, outs_t, seed=7):
    """sum(out * R) for fixed random R over every output, backward in both libraries."""
    g = rng(seed)
    le = lt = 0
    for oe, ot in zip(outs_e, outs_t):
        r = g.standard_normal(tuple(ot.shape)).astype(np.float32)
        le = le + (oe * ember.tensor(r)).sum()
        lt = lt + (ot * torch.tensor(r)).sum()
    le.backward()
    lt.backward()


def grads_match(e_mod, t_mod, rtol=1e-4, atol=2e-5):
    ep = dict(e_mod.named_parameters())
    tp = dict(t_mod.named_parameters())
    assert list(ep) == list(tp)
    for name, p in tp.items():
        if p.grad is None:
            assert ep[name].grad is None or not np.any(to_np(ep[name].grad)), name
        else:
            assert ep[name].grad is not None, f"no gradient for {name}"
            close(ep[name].grad, p.grad, rtol, atol, msg=f"grad of {name}")


def same_error(fe, ft, exc=Exception):
    with pytest.raises(exc) as te:
        ft()
    with pytest.raises(type(te.value)) as ee:
        fe()
    assert str(ee.value) == str(te.value).replace("torch.Size", "ember.Size")


# --------------------------------------------------------------------------- scaled_dot_product_attention

SDPA_CASES = {
    # name: (q shape, k shape, v shape, mask kind, kwargs)
    "3d": ((2, 5, 8), (2, 7, 8), (2, 7, 6), None, {}),
    "4d": ((2, 3, 5, 8), (2, 3, 7, 8), (2, 3, 7, 6), None, {}),
    "5d_leading_dims": ((2, 2, 2, 4, 4), (2, 2, 2, 6, 4), (2, 2, 2, 6, 3), None, {}),
    "2d": ((5, 8), (7, 8), (7, 6), None, {}),
    "bool_mask": ((2, 3, 5, 8), (2, 3, 7, 8), (2, 3, 7, 6), "bool", {}),
    "bool_mask_broadcast": ((2, 3, 5, 8), (2, 3, 7, 8), (2, 3, 7, 6), "bool_b", {}),
    "float_mask": ((2, 3, 5, 8), (2, 3, 7, 8), (2, 3, 7, 6), "float", {}),
    "float_mask_3d": ((2, 5, 8), (2, 7, 8), (2, 7, 6), "float", {}),
    "causal_square": ((2, 3, 6, 8), (2, 3, 6, 8), (2, 3, 6, 8), None, {"is_causal": True}),
    "causal_L_lt_S": ((2, 2, 4, 8), (2, 2, 7, 8), (2, 2, 7, 5), None, {"is_causal": True}),
    "causal_L_gt_S": ((2, 2, 7, 8), (2, 2, 4, 8), (2, 2, 4, 5), None, {"is_causal": True}),
    "scale": ((2, 3, 5, 8), (2, 3, 7, 8), (2, 3, 7, 6), "bool", {"scale": 0.37}),
    "negative_scale": ((2, 5, 8), (2, 7, 8), (2, 7, 6), None, {"scale": -0.2}),
    "gqa": ((2, 6, 5, 8), (2, 2, 7, 8), (2, 2, 7, 6), None, {"enable_gqa": True}),
    "gqa_causal": ((1, 4, 5, 8), (1, 1, 5, 8), (1, 1, 5, 4), None, {"enable_gqa": True, "is_causal": True}),
    "fully_masked_rows": ((2, 3, 5, 8), (2, 3, 7, 8), (2, 3, 7, 6), "dead", {}),
}


def _sdpa_mask(kind, q_shape, k_shape, g):
    L, S = q_shape[-2], k_shape[-2]
    if kind == "bool":
        m = g.random((L, S)) > 0.3
        m[:, 0] = True  # every query sees a key
        return m
    if kind == "bool_b":
        m = g.random((q_shape[0], 1, L, S)) > 0.4
        m[..., 0] = True
        return m
    if kind == "float":
        return randn(g, L, S)
    if kind == "dead":  # rows 1 and 3 see no key: torch's math path gives 0 there
        m = g.random((L, S)) > 0.3
        m[:, 0] = True
        m[1] = False
        m[3] = False
        return m
    return None


@pytest.mark.parametrize("case", list(SDPA_CASES))
def test_sdpa_matches_torch(case):
    qs, ks, vs, mask_kind, kwargs = SDPA_CASES[case]
    g = rng(hash(case) % 1000)
    (qe, qt), (ke, kt), (ve, vt) = (pair(randn(g, *s), True) for s in (qs, ks, vs))
    m = _sdpa_mask(mask_kind, qs, ks, g)
    me, mt = pair(m) if m is not None else (None, None)
    oe = EF.scaled_dot_product_attention(qe, ke, ve, attn_mask=me, **kwargs)
    ot = TF.scaled_dot_product_attention(qt, kt, vt, attn_mask=mt, **kwargs)
    close(oe, ot, **F32, msg="output")
    backward_both([oe], [ot])
    for name, a, b in (("query", qe, qt), ("key", ke, kt), ("value", ve, vt)):
        close(a.grad, b.grad, rtol=1e-4, atol=3e-5, msg=f"grad of {name}")
        assert np.isfinite(to_np(a.grad)).all()


def test_sdpa_float_mask_gradient():
    g = rng(3)
    (qe, qt), (ke, kt), (ve, vt) = (pair(randn(g, 2, 4, 6), True) for _ in range(3))
    me, mt = pair(randn(g, 4, 4), True)
    oe = EF.scaled_dot_product_attention(qe, ke, ve, attn_mask=me)
    ot = TF.scaled_dot_product_attention(qt, kt, vt, attn_mask=mt)
    backward_both([oe], [ot])
    close(me.grad, mt.grad, **F32, msg="grad of the float mask")


@pytest.mark.parametrize("kind", ["bool_mask", "causal_gqa"])
def test_sdpa_gradcheck_float64(kind):
    g = rng(11)
    if kind == "bool_mask":
        m = g.random((3, 4)) > 0.3
        m[:, 0] = True
        m[2] = False  # a fully masked row: zero output, zero gradient
        mask = ember.tensor(m)

        def fn(q, k, v):
            return EF.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=0.7)
        inputs = [g.standard_normal((2, 3, 5)), g.standard_normal((2, 4, 5)), g.standard_normal((2, 4, 3))]
    else:
        def fn(q, k, v):
            return EF.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
        inputs = [g.standard_normal((1, 4, 3, 4)), g.standard_normal((1, 2, 3, 4)), g.standard_normal((1, 2, 3, 2))]
    gradcheck(fn, inputs)


@pytest.mark.parametrize("kind", ["plain", "causal", "float_mask", "bool_mask_4d", "transposed", "L_ne_S"])
def test_sdpa_fused_gradcheck_float64(kind):
    """The fused op (cpp/ember/ops/attention.cpp: no dropout, no head repetition, shared leading dims): float64
    finite differences, each mask form, strided inputs, L != S, and torch's grad_fn name."""
    g = rng(12)
    shapes = {"L_ne_S": ((2, 2, 3, 4), (2, 2, 5, 4), (2, 2, 5, 3))}.get(kind, ((2, 2, 4, 3), (2, 2, 4, 3), (2, 2, 4, 5)))
    kw = {}
    if kind == "causal":
        kw = {"is_causal": True}
    elif kind == "float_mask":
        kw = {"attn_mask": ember.tensor(g.standard_normal((4, 4)))}
    elif kind == "bool_mask_4d":
        m = g.random((2, 1, 4, 4)) > 0.4
        m[0, 0, 1] = False  # a row with nothing to attend to
        kw = {"attn_mask": ember.tensor(m)}

    def fn(q, k, v):
        if kind == "transposed":
            q, k, v = (t.transpose(1, 2) for t in (q, k, v))
        return EF.scaled_dot_product_attention(q, k, v, **kw)
    inputs = [g.standard_normal(s) for s in shapes]
    if kind == "transposed":
        inputs = [np.ascontiguousarray(a.transpose(0, 2, 1, 3)) for a in inputs]
    gradcheck(fn, inputs)
    q = ember.tensor(g.standard_normal((2, 3, 4)), requires_grad=True)
    assert EF.scaled_dot_product_attention(q, q, q).grad_fn.name() == "ScaledDotProductFlashAttentionForCpuBackward0"


def test_sdpa_dtypes():
    g = rng(5)
    q, k, v = randn(g, 2, 4, 6), randn(g, 2, 5, 6), randn(g, 2, 5, 3)
    m = randn(g, 4, 5)
    # float64 inputs with a float32 mask: allowed, the result stays float64
    oe = EF.scaled_dot_product_attention(*(ember.tensor(a.astype(np.float64)) for a in (q, k, v)),
                                         attn_mask=ember.tensor(m))
    ot = TF.scaled_dot_product_attention(*(torch.tensor(a.astype(np.float64)) for a in (q, k, v)),
                                         attn_mask=torch.tensor(m))
    assert str(oe.dtype) == "ember.float64"
    close(oe, ot, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype,atol", [("float16", 2e-3), ("bfloat16", 1.6e-2)])
def test_sdpa_half_dtypes(dtype, atol):
    # torch's math kernel keeps float32 intermediates for half inputs; so does ember (one rounding at the end)
    g = rng(4)
    arrays = [randn(g, 2, 3, 5, 8) for _ in range(3)]
    m = g.random((5, 5)) > 0.3
    m[:, 0] = True
    oe = EF.scaled_dot_product_attention(*(ember.tensor(a).to(getattr(ember, dtype)) for a in arrays),
                                         attn_mask=ember.tensor(m))
    ot = TF.scaled_dot_product_attention(*(torch.tensor(a).to(getattr(torch, dtype)) for a in arrays),
                                         attn_mask=torch.tensor(m))
    assert str(oe.dtype) == f"ember.{dtype}"
    np.testing.assert_allclose(oe.float().numpy(), ot.float().numpy(), rtol=0, atol=atol)


def test_sdpa_errors():
    g = rng(6)
    q, k, v = randn(g, 2, 4, 6), randn(g, 2, 5, 6), randn(g, 2, 5, 3)
    (qe, qt), (ke, kt), (ve, vt) = pair(q), pair(k), pair(v)
    me, mt = pair(np.ones((4, 5), dtype=bool))
    same_error(lambda: EF.scaled_dot_product_attention(qe, ke, ve, attn_mask=me, is_causal=True),
               lambda: TF.scaled_dot_product_attention(qt, kt, vt, attn_mask=mt, is_causal=True), RuntimeError)
    same_error(lambda: EF.scaled_dot_product_attention(qe, ke.double(), ve),
               lambda: TF.scaled_dot_product_attention(qt, kt.double(), vt), RuntimeError)
    same_error(lambda: EF.scaled_dot_product_attention(qe, ke, ve, attn_mask=me.long()),
               lambda: TF.scaled_dot_product_attention(qt, kt, vt, attn_mask=mt.long()), RuntimeError)
    same_error(lambda: EF.scaled_dot_product_attention(qe, ke, ve, attn_mask=me.double()),
               lambda: TF.scaled_dot_product_attention(qt, kt, vt, attn_mask=mt.double()), RuntimeError)
    same_error(lambda: EF.scaled_dot_product_attention(qe[0, 0], ke[0, 0], ve[0, 0]),
               lambda: TF.scaled_dot_product_attention(qt[0, 0], kt[0, 0], vt[0, 0]), RuntimeError)
    q4, k4 = randn(g, 1, 3, 4, 6), randn(g, 1, 2, 5, 6)
    same_error(lambda: EF.scaled_dot_product_attention(ember.tensor(q4), ember.tensor(k4), ember.tensor(k4),
                                                       enable_gqa=True),
               lambda: TF.scaled_dot_product_attention(torch.tensor(q4), torch.tensor(k4), torch.tensor(k4),
                                                       enable_gqa=True), RuntimeError)
    with pytest.raises(RuntimeError):  # mismatched sequence lengths of key and value
        EF.scaled_dot_product_attention(qe, ke, ve[:, :3])
    with pytest.raises(TypeError, match="must be Tensor"):
        EF.scaled_dot_product_attention(q, ke, ve)


def test_sdpa_dropout_statistics():
    # uniform weights (q = k = 0) times an identity value: the output is the dropped weight matrix
    p, S = 0.3, 64
    q = ember.zeros(2, 2, S, 4)
    v = ember.eye(S).expand(2, 2, S, S)
    out = to_np(EF.scaled_dot_product_attention(q, q, v, dropout_p=p))
    zero = out == 0
    assert abs(zero.mean() - p) < 0.03
    np.testing.assert_allclose(out[~zero], 1.0 / S / (1 - p), rtol=1e-5)
    out0 = to_np(EF.scaled_dot_product_attention(q, q, v, dropout_p=0.0))
    np.testing.assert_allclose(out0, 1.0 / S, rtol=1e-6)


# --------------------------------------------------------------------------- MultiheadAttention

MHA_CASES = {
    # name: (constructor kwargs, L, S, forward options)
    "plain": (dict(), 5, 5, dict()),
    "batch_first": (dict(batch_first=True), 5, 5, dict()),
    "cross_L_ne_S": (dict(), 4, 6, dict(cross=True)),
    "cross_batch_first": (dict(batch_first=True), 4, 6, dict(cross=True)),
    "kdim_vdim": (dict(kdim=5, vdim=3), 4, 6, dict(cross=True)),
    "kdim_vdim_batch_first": (dict(kdim=5, vdim=3, batch_first=True), 4, 6, dict(cross=True, kpm="bool")),
    "no_bias": (dict(bias=False), 5, 5, dict(attn="bool")),
    "add_bias_kv": (dict(add_bias_kv=True), 4, 6, dict(cross=True, kpm="bool", attn="float")),
    "add_zero_attn": (dict(add_zero_attn=True), 5, 5, dict(attn="bool3d", kpm="bool")),
    "bias_kv_zero_attn": (dict(add_bias_kv=True, add_zero_attn=True), 5, 5, dict(attn="float3d")),
    "kpm_bool": (dict(), 5, 5, dict(kpm="bool")),
    "kpm_float": (dict(), 5, 5, dict(kpm="float")),
    "attn_bool": (dict(), 5, 5, dict(attn="bool")),
    "attn_float": (dict(), 5, 5, dict(attn="float")),
    "attn_float_kpm_float": (dict(batch_first=True), 5, 5, dict(attn="float", kpm="float")),
    "attn_bool3d_kpm_bool": (dict(), 4, 6, dict(cross=True, attn="bool3d", kpm="bool")),
    "per_head_weights": (dict(), 5, 5, dict(attn="bool", average=False)),
    "causal_hint": (dict(batch_first=True), 5, 5, dict(attn="causal", is_causal=True)),
}

E_DIM, HEADS, N = 8, 2, 3


def _mha_masks(opts, L, S, g, add):
    """(attn_mask, key_padding_mask) as numpy arrays. A bool attn_mask is True where masked (MHA's
    convention); no row is fully masked."""
    attn = kpm = None
    kind = opts.get("attn")
    if kind == "bool":
        attn = g.random((L, S)) > 0.6
        attn[:, 0] = False
    elif kind == "bool3d":
        attn = g.random((N * HEADS, L, S)) > 0.6
        attn[..., 0] = False
    elif kind == "float":
        attn = randn(g, L, S)
    elif kind == "float3d":
        attn = randn(g, N * HEADS, L, S)
    elif kind == "causal":
        attn = np.triu(np.full((L, S), -np.inf, dtype=np.float32), 1)
    if opts.get("kpm"):
        kpm = g.random((N, S)) > 0.6
        kpm[:, 0] = False
        if opts["kpm"] == "float":
            kpm = np.where(kpm, -np.inf, 0.0).astype(np.float32)
    return attn, kpm


@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("case", list(MHA_CASES))
def test_multihead_attention_matches_torch(case, need_weights):
    kw, L, S, opts = MHA_CASES[case]
    e, t = twins(lambda nn: nn.MultiheadAttention(E_DIM, HEADS, **kw), seed=len(case))
    e.eval()
    t.eval()
    g = rng(len(case) + 100)
    bf = kw.get("batch_first", False)

    def shape(n, d):
        return (N, n, d) if bf else (n, N, d)
    (xe, xt) = pair(randn(g, *shape(L, E_DIM)), True)
    if opts.get("cross"):
        (ke, kt) = pair(randn(g, *shape(S, kw.get("kdim", E_DIM))), True)
        (ve, vt) = pair(randn(g, *shape(S, kw.get("vdim", E_DIM))), True)
        if "kdim" not in kw:  # key is value: the encoder-decoder projection path
            ve, vt = ke, kt
    else:
        ke, kt, ve, vt = xe, xt, xe, xt
    attn, kpm = _mha_masks(opts, L, S, g, kw.get("add_zero_attn"))
    ae, at = pair(attn) if attn is not None else (None, None)
    pe, pt = pair(kpm) if kpm is not None else (None, None)
    fw = dict(need_weights=need_weights, average_attn_weights=opts.get("average", True),
              is_causal=opts.get("is_causal", False))
    oe, we = e(xe, ke, ve, key_padding_mask=pe, attn_mask=ae, **fw)
    ot, wt = t(xt, kt, vt, key_padding_mask=pt, attn_mask=at, **fw)
    close(oe, ot, **F32, msg="attn_output")
    if need_weights:
        close(we, wt, **F32, msg="attn_weights")
    else:
        assert we is None and wt is None
    backward_both([oe] + ([we] if need_weights else []), [ot] + ([wt] if need_weights else []))
    grads_match(e, t)
    for a, b in ((xe, xt), (ke, kt), (ve, vt)):
        close(a.grad, b.grad, rtol=1e-4, atol=3e-5, msg="input grad")


@pytest.mark.parametrize("need_weights,average", [(True, True), (True, False), (False, True)])
def test_multihead_attention_unbatched(need_weights, average):
    e, t = twins(lambda nn: nn.MultiheadAttention(E_DIM, HEADS, kdim=4, vdim=6), seed=3)
    g = rng(4)
    (qe, qt), (ke, kt), (ve, vt) = pair(randn(g, 5, E_DIM), True), pair(randn(g, 7, 4), True), pair(randn(g, 7, 6))
    kpm = np.zeros(7, dtype=bool)
    kpm[[2, 5]] = True
    attn = randn(g, HEADS, 5, 7)  # a 3-D mask for unbatched input is (num_heads, L, S)
    (pe, pt), (ae, at) = pair(kpm), pair(attn)
    oe, we = e(qe, ke, ve, key_padding_mask=pe, attn_mask=ae, need_weights=need_weights,
               average_attn_weights=average)
    ot, wt = t(qt, kt, vt, key_padding_mask=pt, attn_mask=at, need_weights=need_weights,
               average_attn_weights=average)
    assert tuple(oe.shape) == (5, E_DIM)
    close(oe, ot, **F32)
    if need_weights:
        assert tuple(we.shape) == tuple(wt.shape)
        close(we, wt, **F32)
    backward_both([oe], [ot])
    grads_match(e, t)
    close(qe.grad, qt.grad, **F32)
    close(ke.grad, kt.grad, **F32)


def test_multihead_attention_fully_padded_batch_element():
    # a batch element whose keys are all padding: NaN with need_weights (plain softmax), 0 without (SDPA)
    e, t = twins(lambda nn: nn.MultiheadAttention(E_DIM, HEADS), seed=5)
    g = rng(6)
    xe, xt = pair(randn(g, 4, 2, E_DIM))
    kpm = np.array([[False, True, False, False], [True, True, True, True]])
    pe, pt = pair(kpm)
    for nw in (True, False):
        oe, _ = e(xe, xe, xe, key_padding_mask=pe, need_weights=nw)
        ot, _ = t(xt, xt, xt, key_padding_mask=pt, need_weights=nw)
        np.testing.assert_allclose(to_np(oe), to_np(ot), rtol=1e-4, atol=1e-5)  # NaN positions equal too


def test_mha_functional_static_kv_and_separate_weights():
    g = rng(8)
    L, S, n = 3, 4, 2
    hd = E_DIM // HEADS
    arrays = dict(q=randn(g, L, n, E_DIM), k=randn(g, S, n, 5), v=randn(g, S, n, 6),
                  wq=randn(g, E_DIM, E_DIM), wk=randn(g, E_DIM, 5), wv=randn(g, E_DIM, 6),
                  b=randn(g, 3 * E_DIM), wo=randn(g, E_DIM, E_DIM), bo=randn(g, E_DIM),
                  sk=randn(g, n * HEADS, S + 1, hd), sv=randn(g, n * HEADS, S + 1, hd))
    ts = {k: pair(a, True) for k, a in arrays.items()}

    def run(lib_f, i):
        a = {k: v[i] for k, v in ts.items()}
        return lib_f.multi_head_attention_forward(
            a["q"], a["k"], a["v"], E_DIM, HEADS, None, a["b"], None, None, False, 0.0, a["wo"], a["bo"],
            training=False, use_separate_proj_weight=True, q_proj_weight=a["wq"], k_proj_weight=a["wk"],
            v_proj_weight=a["wv"], static_k=a["sk"], static_v=a["sv"], average_attn_weights=False)
    oe, we = run(EF, 0)
    ot, wt = run(TF, 1)
    close(oe, ot, **F32)
    close(we, wt, **F32)
    backward_both([oe, we], [ot, wt])
    for k, (a, b) in ts.items():
        if b.grad is None:
            assert a.grad is None or not np.any(to_np(a.grad)), k
        else:
            close(a.grad, b.grad, rtol=1e-4, atol=3e-5, msg=f"grad of {k}")


def test_mha_gradcheck_float64():
    g = rng(9)
    kpm = ember.tensor(np.array([[False, False, True], [False, True, False]]))
    attn = ember.tensor(g.random((3, 3)) > 0.7)

    def fn(x, w, b, wo):
        out, weights = EF.multi_head_attention_forward(x, x, x, 4, 2, w, b, None, None, False, 0.0, wo, None,
                                                       key_padding_mask=kpm, attn_mask=attn,
                                                       average_attn_weights=False)
        return [out, weights]
    gradcheck(fn, [g.standard_normal((3, 2, 4)), g.standard_normal((12, 4)) * 0.5, g.standard_normal(12),
                   g.standard_normal((4, 4)) * 0.5])


def test_mha_state_dict_repr_and_init():
    for kw in (dict(), dict(kdim=3, vdim=5), dict(add_bias_kv=True), dict(bias=False),
               dict(kdim=3, add_bias_kv=True, bias=False)):
        e, t = enn.MultiheadAttention(8, 2, **kw), tnn.MultiheadAttention(8, 2, **kw)
        assert list(e.state_dict()) == list(t.state_dict()), kw
        assert [n for n, _ in e.named_parameters()] == [n for n, _ in t.named_parameters()]
        assert repr(e) == repr(t)
        assert type(e.out_proj).__name__ == "NonDynamicallyQuantizableLinear"
        assert isinstance(e.out_proj, enn.Linear)
        for name in ("embed_dim", "kdim", "vdim", "_qkv_same_embed_dim", "num_heads", "dropout", "batch_first",
                     "head_dim", "add_zero_attn"):
            assert getattr(e, name) == getattr(t, name), name
        assert (e.bias_k is None) == (t.bias_k is None)
    # torch's init: xavier_uniform_ in_proj_weight, zero biases
    e = enn.MultiheadAttention(64, 4)
    w = to_np(e.in_proj_weight)
    bound = np.sqrt(6.0 / (64 + 3 * 64))
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    assert not np.any(to_np(e.in_proj_bias)) and not np.any(to_np(e.out_proj.bias))
    with pytest.raises(AssertionError, match="embed_dim must be divisible by num_heads"):
        enn.MultiheadAttention(6, 4)
    with pytest.raises(ValueError, match="must be greater than 0"):
        enn.MultiheadAttention(0, 1)


def test_mha_errors_and_warnings():
    e, t = twins(lambda nn: nn.MultiheadAttention(E_DIM, HEADS), seed=1)
    g = rng(2)
    xe, xt = pair(randn(g, 4, 2, E_DIM))
    same_error(lambda: e(xe, xe, xe, is_causal=True), lambda: t(xt, xt, xt, is_causal=True), RuntimeError)
    (ae, at) = pair(np.zeros((4, 5), np.float32))
    same_error(lambda: e(xe, xe, xe, attn_mask=ae), lambda: t(xt, xt, xt, attn_mask=at), RuntimeError)
    (ae, at) = pair(np.zeros((3, 4, 4), np.float32))
    same_error(lambda: e(xe, xe, xe, attn_mask=ae), lambda: t(xt, xt, xt, attn_mask=at), RuntimeError)
    (pe, pt) = pair(np.zeros((2, 4), np.int64))
    same_error(lambda: e(xe, xe, xe, key_padding_mask=pe), lambda: t(xt, xt, xt, key_padding_mask=pt),
               AssertionError)
    same_error(lambda: e(xe[0, 0], xe[0, 0], xe[0, 0]), lambda: t(xt[0, 0], xt[0, 0], xt[0, 0]), AssertionError)
    same_error(lambda: e(xe, xe[:, :, :4], xe), lambda: t(xt, xt[:, :, :4], xt), Exception)
    # a bool key_padding_mask with a float attn_mask: torch's deprecation warning
    (pe, pt), (ae, at) = pair(np.zeros((2, 4), bool)), pair(np.zeros((4, 4), np.float32))
    with warnings.catch_warnings(record=True) as wt:
        warnings.simplefilter("always")
        t(xt, xt, xt, key_padding_mask=pt, attn_mask=at)
    with warnings.catch_warnings(record=True) as we:
        warnings.simplefilter("always")
        e(xe, xe, xe, key_padding_mask=pe, attn_mask=ae)
    assert [str(w.message) for w in we] == [str(w.message) for w in wt]
    assert len(we) >= 1


def test_mha_dropout_statistics():
    # training mode: the returned (per-head) weights are the dropped ones, scaled by 1/(1-p)
    p = 0.4
    e = enn.MultiheadAttention(8, 2, dropout=p)
    x = ember.tensor(randn(rng(3), 32, 4, 8))
    _, w = e(x, x, x, average_attn_weights=False)
    w = to_np(w)
    assert abs((w == 0).mean() - p) < 0.03
    np.testing.assert_allclose(w.sum(-1).mean(), 1.0, atol=0.05)  # E[dropped row sum] = 1
    e.eval()
    _, w = e(x, x, x, average_attn_weights=False)
    assert (to_np(w) > 0).all()
    np.testing.assert_allclose(to_np(w).sum(-1), 1.0, rtol=1e-5)


# --------------------------------------------------------------------------- the Transformer family

D, NH, FF = 8, 2, 16


def _inputs(g, L, bf, n=2, requires_grad=True):
    return pair(randn(g, *((n, L, D) if bf else (L, n, D))), requires_grad)


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation,batch_first", [("relu", False), ("gelu", True), ("callable", False)])
def test_encoder_layer_matches_torch(norm_first, activation, batch_first):
    def make(nn):
        act = {"relu": "relu", "gelu": "gelu", "callable": (TF if nn is tnn else EF).silu}[activation]
        return nn.TransformerEncoderLayer(D, NH, FF, dropout=0.1, activation=act, batch_first=batch_first,
                                          norm_first=norm_first)
    e, t = twins(make, seed=int(norm_first) + 2 * batch_first)
    e.eval()
    t.eval()
    g = rng(12)
    xe, xt = _inputs(g, 5, batch_first)
    m = np.triu(np.full((5, 5), -np.inf, np.float32), 1) + 0.1 * randn(g, 5, 5)
    kpm = np.zeros((2, 5), bool)
    kpm[1, 3:] = True
    (me, mt), (pe, pt) = pair(m), pair(kpm)
    oe = e(xe, src_mask=me, src_key_padding_mask=pe)
    ot = t(xt, src_mask=mt, src_key_padding_mask=pt)
    close(oe, ot, **F32)
    backward_both([oe], [ot])
    grads_match(e, t)
    close(xe.grad, xt.grad, **F32)


def test_encoder_layer_bias_false_and_is_causal():
    e, t = twins(lambda nn: nn.TransformerEncoderLayer(D, NH, FF, dropout=0.0, bias=False, batch_first=True), seed=4)
    g = rng(13)
    xe, xt = _inputs(g, 6, True)
    me, mt = pair(np.triu(np.full((6, 6), -np.inf, np.float32), 1))
    oe = e(xe, src_mask=me, is_causal=True)
    ot = t(xt, src_mask=mt, is_causal=True)
    close(oe, ot, **F32)
    backward_both([oe], [ot])
    grads_match(e, t)


@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_matches_torch(norm_first):
    def make(nn):
        layer = nn.TransformerEncoderLayer(D, NH, FF, dropout=0.2, norm_first=norm_first)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(D))
    e, t = twins(make, seed=20 + norm_first)
    e.eval()
    t.eval()
    g = rng(14)
    xe, xt = _inputs(g, 5, False)
    mask_e = enn.Transformer.generate_square_subsequent_mask(5)
    mask_t = tnn.Transformer.generate_square_subsequent_mask(5)
    kpm = np.zeros((2, 5), bool)
    kpm[0, 4] = True
    (pe, pt) = pair(kpm)
    for kw_e, kw_t in ((dict(mask=mask_e), dict(mask=mask_t)),  # detected as causal
                       (dict(mask=mask_e, src_key_padding_mask=pe), dict(mask=mask_t, src_key_padding_mask=pt)),
                       (dict(src_key_padding_mask=pe), dict(src_key_padding_mask=pt))):
        oe, ot = e(xe, **kw_e), t(xt, **kw_t)
        close(oe, ot, **F32)
    backward_both([oe], [ot])
    grads_match(e, t)
    # the clones are independent copies
    layers = list(e.layers)
    assert layers[0].linear1.weight is not layers[1].linear1.weight
    assert layers[0].self_attn.out_proj is not layers[1].self_attn.out_proj


@pytest.mark.parametrize("norm_first,batch_first", [(False, False), (True, True)])
def test_decoder_layer_and_decoder_match_torch(norm_first, batch_first):
    def make(nn):
        layer = nn.TransformerDecoderLayer(D, NH, FF, dropout=0.1, activation="gelu", batch_first=batch_first,
                                           norm_first=norm_first)
        return nn.ModuleList([layer, nn.TransformerDecoder(layer, 2, norm=nn.LayerNorm(D))])
    e, t = twins(make, seed=30 + norm_first)
    e.eval()
    t.eval()
    g = rng(15)
    te_, tt_ = _inputs(g, 4, batch_first)
    me_, mt_ = _inputs(g, 6, batch_first)
    tgt_mask_e = enn.Transformer.generate_square_subsequent_mask(4)
    tgt_mask_t = tnn.Transformer.generate_square_subsequent_mask(4)
    mem_kpm = np.zeros((2, 6), bool)
    mem_kpm[1, 4:] = True
    (pe, pt) = pair(mem_kpm)
    outs_e = [e[0](te_, me_, tgt_mask=tgt_mask_e, memory_key_padding_mask=pe),
              e[1](te_, me_, tgt_mask=tgt_mask_e, memory_key_padding_mask=pe)]
    outs_t = [t[0](tt_, mt_, tgt_mask=tgt_mask_t, memory_key_padding_mask=pt),
              t[1](tt_, mt_, tgt_mask=tgt_mask_t, memory_key_padding_mask=pt)]
    for oe, ot in zip(outs_e, outs_t):
        close(oe, ot, **F32)
    backward_both(outs_e, outs_t)
    grads_match(e, t)
    close(te_.grad, tt_.grad, **F32)
    close(me_.grad, mt_.grad, **F32)


@pytest.mark.parametrize("batch_first,norm_first", [(False, False), (True, True)])
def test_transformer_matches_torch(batch_first, norm_first):
    def make(nn):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return nn.Transformer(D, NH, num_encoder_layers=2, num_decoder_layers=2, dim_feedforward=FF,
                                  dropout=0.1, batch_first=batch_first, norm_first=norm_first)
    e, t = twins(make, seed=40 + batch_first)
    assert list(e.state_dict()) == list(t.state_dict())
    e.eval()
    t.eval()
    g = rng(16)
    se, st = _inputs(g, 6, batch_first)
    ie, it = _inputs(g, 5, batch_first)
    src_kpm = np.zeros((2, 6), bool)
    src_kpm[0, 5] = True
    (pe, pt) = pair(src_kpm)
    oe = e(se, ie, tgt_mask=enn.Transformer.generate_square_subsequent_mask(5), src_key_padding_mask=pe,
           memory_key_padding_mask=pe, tgt_is_causal=True)
    ot = t(st, it, tgt_mask=tnn.Transformer.generate_square_subsequent_mask(5), src_key_padding_mask=pt,
           memory_key_padding_mask=pt, tgt_is_causal=True)
    close(oe, ot, **F32)
    backward_both([oe], [ot])
    grads_match(e, t)
    close(se.grad, st.grad, **F32)
    close(ie.grad, it.grad, **F32)
    with pytest.raises(RuntimeError, match="the batch number of src and tgt must be equal"):
        e(se, ie[:1] if batch_first else ie[:, :1])
    with pytest.raises(RuntimeError, match="the feature number of src and tgt must be equal to d_model"):
        e(se, ie[..., :4])


def test_transformer_unbatched():
    e, t = twins(lambda nn: nn.TransformerEncoderLayer(D, NH, FF, dropout=0.0), seed=50)
    e.eval()
    t.eval()
    xe, xt = pair(randn(rng(17), 5, D), True)
    oe, ot = e(xe), t(xt)
    close(oe, ot, **F32)
    backward_both([oe], [ot])
    grads_match(e, t)


def test_transformer_init_state_dict_repr_and_mask():
    with warnings.catch_warnings(record=True) as wt:
        warnings.simplefilter("always")
        t = tnn.Transformer(D, NH, 1, 1, FF)
    with warnings.catch_warnings(record=True) as we:
        warnings.simplefilter("always")
        e = enn.Transformer(D, NH, 1, 1, FF)
    assert [str(w.message) for w in we] == [str(w.message) for w in wt]
    assert list(e.state_dict()) == list(t.state_dict())
    assert repr(e) == repr(t)  # one layer each: ModuleList repr has nothing to fold
    for make in (lambda nn: nn.TransformerEncoderLayer(D, NH, FF, activation="gelu"),
                 lambda nn: nn.TransformerDecoderLayer(D, NH, FF, bias=False, norm_first=True),
                 lambda nn: nn.TransformerEncoderLayer(D, NH, FF, activation=nn.GELU())):
        e, t = make(enn), make(tnn)
        assert repr(e) == repr(t)
        assert list(e.state_dict()) == list(t.state_dict())
    # Transformer._reset_parameters: xavier_uniform_ on every matrix, LayerNorm weights stay ones
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        e = enn.Transformer(16, 2, 1, 1, 32)
    w = to_np(e.encoder.layers[0].linear1.weight)
    assert np.abs(w).max() <= np.sqrt(6.0 / (16 + 32))
    assert (to_np(e.encoder.norm.weight) == 1).all()
    assert e.encoder.layers[0].activation_relu_or_gelu == 1
    # the square subsequent mask
    for n in (1, 4):
        np.testing.assert_array_equal(to_np(enn.Transformer.generate_square_subsequent_mask(n)),
                                      to_np(tnn.Transformer.generate_square_subsequent_mask(n)))
    m = enn.Transformer.generate_square_subsequent_mask(3, dtype=ember.float64)
    assert str(m.dtype) == "ember.float64"
    with pytest.raises(RuntimeError, match="activation should be relu/gelu, not tanh"):
        enn.TransformerEncoderLayer(D, NH, activation="tanh")


def test_transformer_deepcopy_and_train_mode():
    layer = enn.TransformerEncoderLayer(D, NH, FF, dropout=0.5)
    enc = enn.TransformerEncoder(layer, 3, enable_nested_tensor=False)
    assert len(enc.layers) == 3 and enc.num_layers == 3
    with ember.no_grad():
        enc.layers[0].linear1.weight.fill_(0.0)
    assert to_np(enc.layers[1].linear1.weight).any() and to_np(layer.linear1.weight).any()
    c = copy.deepcopy(enc)
    assert c.layers[2].self_attn.in_proj_weight is not enc.layers[2].self_attn.in_proj_weight
    np.testing.assert_array_equal(to_np(c.layers[2].self_attn.in_proj_weight),
                                  to_np(enc.layers[2].self_attn.in_proj_weight))
    # training mode: dropout is active (two calls differ), eval is deterministic
    x = ember.tensor(randn(rng(18), 5, 2, D))
    assert not np.allclose(to_np(enc(x)), to_np(enc(x)))
    enc.eval()
    np.testing.assert_array_equal(to_np(enc(x)), to_np(enc(x)))


def test_encoder_layer_dropout_statistics():
    # the feed-forward dropout: with linear2 the identity map, the block's pre-residual output is the
    # dropped activation, zeroed with probability p
    p = 0.25
    layer = enn.TransformerEncoderLayer(D, NH, D, dropout=p)
    x = ember.tensor(np.abs(randn(rng(19), 64, 8, D)) + 0.5)
    with ember.no_grad():
        layer.linear1.weight.copy_(ember.eye(D))
        layer.linear1.bias.zero_()
        layer.linear2.weight.copy_(ember.eye(D))
        layer.linear2.bias.zero_()
    layer.dropout2.p = 0.0
    y = to_np(layer._ff_block(x))
    assert abs((y == 0).mean() - p) < 0.02
    np.testing.assert_allclose(y[y != 0], (to_np(x) / (1 - p))[y != 0], rtol=1e-5)


# --------------------------------------------------------------------------- a tiny GPT

VOCAB, BLOCK, GD, GH = 13, 8, 16, 2


def make_gpt(lib):
    nn = lib.nn

    class Block(nn.Module):
        def __init__(self, use_is_causal):
            super().__init__()
            self.ln1 = nn.LayerNorm(GD)
            self.attn = nn.MultiheadAttention(GD, GH, dropout=0.0, batch_first=True)
            self.ln2 = nn.LayerNorm(GD)
            self.mlp = nn.Sequential(nn.Linear(GD, 4 * GD), nn.GELU(), nn.Linear(4 * GD, GD))
            self.use_is_causal = use_is_causal

        def forward(self, x, mask):
            h = self.ln1(x)
            x = x + self.attn(h, h, h, attn_mask=mask, need_weights=False, is_causal=self.use_is_causal)[0]
            return x + self.mlp(self.ln2(x))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.tok = nn.Embedding(VOCAB, GD)
            self.pos = nn.Embedding(BLOCK, GD)
            # block 0: the float causal mask; block 1: the same mask with the is_causal hint
            self.blocks = nn.ModuleList([Block(False), Block(True)])
            self.ln_f = nn.LayerNorm(GD)
            self.head = nn.Linear(GD, VOCAB)

        def forward(self, idx):
            T = idx.shape[1]
            x = self.tok(idx) + self.pos(lib.arange(T))
            mask = nn.Transformer.generate_square_subsequent_mask(T)
            for b in self.blocks:
                x = b(x, mask)
            return self.head(self.ln_f(x))

    return GPT()


def test_tiny_gpt_trains_like_torch():
    t = make_gpt(torch)
    e = make_gpt(ember)
    g = rng(21)
    with torch.no_grad():
        for name, p in t.named_parameters():
            base = 1.0 if "ln" in name and name.endswith("weight") else 0.0
            p.copy_(torch.tensor(base + 0.3 * g.standard_normal(tuple(p.shape)), dtype=torch.float32))
    e.load_state_dict({k: ember.tensor(v.detach().numpy().copy()) for k, v in t.state_dict().items()})
    data = g.integers(0, VOCAB, size=(4, BLOCK + 1))
    xe, xt = ember.tensor(data[:, :-1]), torch.tensor(data[:, :-1])
    ye, yt = ember.tensor(data[:, 1:]), torch.tensor(data[:, 1:])
    oe = ember.optim.AdamW(e.parameters(), lr=1e-2, weight_decay=0.1)
    ot = torch.optim.AdamW(t.parameters(), lr=1e-2, weight_decay=0.1)
    losses_e, losses_t = [], []
    for _ in range(3):
        oe.zero_grad()
        ot.zero_grad()
        le = EF.cross_entropy(e(xe).reshape(-1, VOCAB), ye.reshape(-1))
        lt = TF.cross_entropy(t(xt).reshape(-1, VOCAB), yt.reshape(-1))
        le.backward()
        lt.backward()
        oe.step()
        ot.step()
        losses_e.append(le.item())
        losses_t.append(lt.item())
    np.testing.assert_allclose(losses_e, losses_t, rtol=1e-4, atol=1e-4)
    assert losses_e[-1] < losses_e[0]
    for (n, pe), (_, pt) in zip(e.named_parameters(), t.named_parameters()):
        a, b = to_np(pe), to_np(pt)
        if n.endswith("in_proj_bias"):
            # the key bias adds q.b_k to every score of a row, which softmax ignores: its gradient is
            # rounding noise, which Adam's normalisation turns into full-size steps in either library
            a, b = np.delete(a, np.s_[GD:2 * GD]), np.delete(b, np.s_[GD:2 * GD])
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4, err_msg=n)
