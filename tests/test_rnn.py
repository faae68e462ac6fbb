"""ember.nn's recurrent layers against torch.nn: RNN (tanh / relu), LSTM (with proj_size) and GRU over
layers, directions, batch_first, bias and initial states (outputs, final states and every gradient);
unbatched input; PackedSequence input and the nn.utils.rnn pad / pack helpers; the single-step cells;
parameter names, shapes, order, reprs and init; dropout between layers; float64 finite differences;
the error types; and a small char-level LSTM language model trained with Adam. Inputs are numpy arrays
from np.random.default_rng (never torch's stream); torch's initial weights are copied into ember."""
import itertools
import math
import os
import sys
import warnings
import zlib

import numpy as np
import pytest

torch = pytest.importorskip("torch")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch.nn as tnn  # noqa: E402
import torch.nn.functional as TF  # noqa: E402
from helpers import assert_close, gradcheck, rng, to_np  # noqa: E402
from torch.nn.utils import rnn as tru  # noqa: E402

import ember  # noqa: E402
import ember.nn as enn  # noqa: E402
import ember.nn.functional as EF  # noqa: E402
from ember.nn.utils import rnn as eru  # noqa: E402

ATOL, RTOL = 1e-5, 1e-4

# torch's oneDNN path declines LSTM projections and says so on every call
pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections is not supported:UserWarning")


# --------------------------------------------------------------------------- helpers

def seed_torch_params(tm, seed=1):
    """Overwrite torch's (randomly initialised) parameters with numpy draws from the same law, so every
    run sees the same weights: U(-k, k), k = 1/sqrt(fan) (hidden_size for recurrent layers), N(0, 1) for
    embeddings."""
    g = rng(seed)
    with torch.no_grad():
        for name, p in tm.named_parameters():
            owner = tm.get_submodule(name.rsplit(".", 1)[0]) if "." in name else tm
            if isinstance(owner, tnn.Embedding):
                vals = g.standard_normal(tuple(p.shape))
            else:
                fan = owner.hidden_size if hasattr(owner, "hidden_size") else owner.in_features
                k = 1.0 / math.sqrt(fan)
                vals = g.uniform(-k, k, tuple(p.shape))
            p.copy_(torch.tensor(vals, dtype=p.dtype))


def make_pair(kind, *args, double=False, **kwargs):
    """The same module in torch and ember, ember holding torch's initial weights (made reproducible
    with seed_torch_params)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tm = getattr(tnn, kind)(*args, **kwargs)
        em = getattr(enn, kind)(*args, **kwargs)
    seed_torch_params(tm, seed=len(args) + 7 * len(kwargs))
    if double:
        tm = tm.double()
        em = em.double()
    em.load_state_dict({k: ember.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    return em, tm


def leaf(lib, a):
    t = lib.tensor(a.copy())
    t.requires_grad_(True)
    return t


def flat(out):
    """(output, h) / (output, (h, c)) / a PackedSequence -> a flat list of tensors."""
    res = []
    if isinstance(out, (tuple, list)) and not hasattr(out, "batch_sizes"):
        for o in out:
            res.extend(flat(o))
    elif hasattr(out, "batch_sizes"):
        res.append(out.data)
    else:
        res.append(out)
    return res


def hx_pair(hx_np):
    """numpy hx (an array or a tuple of arrays, or None) -> (ember leaves, torch leaves, flat lists)."""
    if hx_np is None:
        return None, None, [], []
    if isinstance(hx_np, tuple):
        e = tuple(leaf(ember, a) for a in hx_np)
        t = tuple(leaf(torch, a) for a in hx_np)
        return e, t, list(e), list(t)
    e, t = leaf(ember, hx_np), leaf(torch, hx_np)
    return e, t, [e], [t]


def compare_outputs_and_grads(em, tm, e_out, t_out, e_leaves, t_leaves, seed=99, atol=ATOL, rtol=RTOL, what=""):
    """Forward values of every output, then the gradients of sum_k(out_k * R_k) w.r.t. every
    parameter and every given leaf."""
    eo, to = flat(e_out), flat(t_out)
    assert len(eo) == len(to), f"{what}: {len(eo)} outputs vs torch {len(to)}"
    g = rng(seed)
    e_loss = t_loss = None
    for i, (e, t) in enumerate(zip(eo, to)):
        assert tuple(e.shape) == tuple(t.shape), f"{what}: output {i} shape {tuple(e.shape)} != {tuple(t.shape)}"
        assert_close(e, t, rtol=rtol, atol=atol, msg=f"{what}: output {i}")
        r = g.standard_normal(tuple(t.shape)).astype(to_np(t).dtype)
        el, tl = (e * ember.tensor(r)).sum(), (t * torch.tensor(r)).sum()
        e_loss = el if e_loss is None else e_loss + el
        t_loss = tl if t_loss is None else t_loss + tl
    e_loss.backward()
    t_loss.backward()
    ep, tp = dict(em.named_parameters()), dict(tm.named_parameters())
    assert list(ep) == list(tp)
    for name in tp:
        assert tp[name].grad is not None, name
        assert ep[name].grad is not None, f"{what}: ember grad of {name} is None"
        assert_close(ep[name].grad, tp[name].grad, rtol=rtol, atol=atol, msg=f"{what}: grad of {name}")
    for i, (e, t) in enumerate(zip(e_leaves, t_leaves)):
        if t.grad is None:
            assert e.grad is None or not np.any(to_np(e.grad)), f"{what}: leaf {i} ember grad, torch none"
            continue
        assert e.grad is not None, f"{what}: leaf {i} ember grad is None"
        assert_close(e.grad, t.grad, rtol=rtol, atol=atol, msg=f"{what}: grad of leaf {i}")


def run_and_compare(kind, ctor_args, ctor_kwargs, x_np, hx_np=None, seed=99, double=False, what=""):
    em, tm = make_pair(kind, *ctor_args, double=double, **ctor_kwargs)
    ex, tx = leaf(ember, x_np), leaf(torch, x_np)
    ehx, thx, el, tl = hx_pair(hx_np)
    e_out = em(ex) if hx_np is None else em(ex, ehx)
    t_out = tm(tx) if hx_np is None else tm(tx, thx)
    compare_outputs_and_grads(em, tm, e_out, t_out, [ex] + el, [tx] + tl, seed=seed, what=what)
    return em, tm, e_out, t_out


MODES = {  # name -> (class, extra constructor kwargs)
    "rnn_tanh": ("RNN", {"nonlinearity": "tanh"}),
    "rnn_relu": ("RNN", {"nonlinearity": "relu"}),
    "lstm": ("LSTM", {}),
    "gru": ("GRU", {}),
}


def hidden_shapes(kind, num_layers, bidirectional, batch, hidden, proj=0, unbatched=False):
    d = 2 if bidirectional else 1
    h_out = proj if proj else hidden
    hs = (num_layers * d, h_out) if unbatched else (num_layers * d, batch, h_out)
    if kind == "LSTM":
        cs = (num_layers * d, hidden) if unbatched else (num_layers * d, batch, hidden)
        return hs, cs
    return hs, None


def make_hx(kind, g, hs, cs, dtype=np.float32):
    h = (g.standard_normal(hs) * 0.5).astype(dtype)
    if kind == "LSTM":
        return h, (g.standard_normal(cs) * 0.5).astype(dtype)
    return h


# --------------------------------------------------------------------------- 1. the grid

def _grid():
    for mode, layers, bidir, bf, bias, init in itertools.product(
            MODES, (1, 2), (False, True), (False, True), (True, False), (False, True)):
        for proj in ((0, 3) if mode == "lstm" else (0,)):
            yield pytest.param(mode, layers, bidir, bf, bias, proj, init,
                               id=f"{mode}-L{layers}-{'bi' if bidir else 'uni'}-{'bf' if bf else 'tf'}-"
                                  f"{'bias' if bias else 'nobias'}-p{proj}-{'h0' if init else 'noh0'}")


@pytest.mark.parametrize("mode,num_layers,bidirectional,batch_first,bias,proj,init", list(_grid()))
def test_rnn_grid(mode, num_layers, bidirectional, batch_first, bias, proj, init):
    kind, extra = MODES[mode]
    T, N, F, H = 4, 3, 5, 6
    kwargs = dict(extra, num_layers=num_layers, bias=bias, batch_first=batch_first, bidirectional=bidirectional)
    if proj:
        kwargs["proj_size"] = proj
    g = rng(zlib.crc32(repr((mode, num_layers, bidirectional, batch_first, bias, proj, init)).encode()))
    x = g.standard_normal((N, T, F) if batch_first else (T, N, F)).astype(np.float32)
    hx = None
    if init:
        hs, cs = hidden_shapes(kind, num_layers, bidirectional, N, H, proj)
        hx = make_hx(kind, g, hs, cs)
    _, _, e_out, t_out = run_and_compare(kind, (F, H), kwargs, x, hx, what=mode)
    d = 2 if bidirectional else 1
    out_shape = (N, T, d * (proj or H)) if batch_first else (T, N, d * (proj or H))
    assert tuple(e_out[0].shape) == out_shape


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("packed", [False, True])
def test_wide_layers_split_over_threads(mode, threads, packed):
    """Layers wide enough that the hidden units are split over the threads (Note [RNN step split] in
    cpp/ember/ops/rnn.cpp: H = 200, split at a 16-unit boundary) and that the backward's product
    over G * H gate columns spans more than one K block of the packed kernel; a batch that is not
    a multiple of the kernel's row tile; dense and packed (shrinking batch) sequences; 1 and 2 threads."""
    kind, extra = MODES[mode]
    T, N, F, H = 5, 33, 7, 200
    g = rng(zlib.crc32(repr(("wide", mode, packed)).encode()))
    x = (g.standard_normal((T, N, F)) * 0.5).astype(np.float32)
    hs, cs = hidden_shapes(kind, 1, True, N, H)
    hx = make_hx(kind, g, hs, cs)
    old = ember.get_num_threads()
    ember.set_num_threads(threads)
    try:
        if not packed:
            run_and_compare(kind, (F, H), dict(extra, bidirectional=True), x, hx, what=f"{mode} wide")
            return
        lengths = sorted(g.integers(1, T + 1, N).tolist(), reverse=True)
        lengths[0] = T
        em, tm = make_pair(kind, F, H, **extra)
        ex, tx = leaf(ember, x), leaf(torch, x)
        ep = eru.pack_padded_sequence(ex, lengths)
        tp = tru.pack_padded_sequence(tx, lengths)
        compare_outputs_and_grads(em, tm, em(ep), tm(tp), [ex], [tx], what=f"{mode} wide packed")
    finally:
        ember.set_num_threads(old)


# --------------------------------------------------------------------------- 2. unbatched, T=1, N=1

@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("with_hx", [False, True])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_unbatched(mode, with_hx, bidirectional):
    kind, extra = MODES[mode]
    T, F, H, L = 5, 3, 4, 2
    g = rng(7)
    x = g.standard_normal((T, F)).astype(np.float32)
    hx = None
    if with_hx:
        hs, cs = hidden_shapes(kind, L, bidirectional, None, H, unbatched=True)
        hx = make_hx(kind, g, hs, cs)
    for bf in (False, True):  # batch_first has no effect on 2-D input
        _, _, e_out, _ = run_and_compare(kind, (F, H), dict(extra, num_layers=L, bidirectional=bidirectional,
                                                             batch_first=bf), x, hx, what=f"unbatched {mode}")
        assert tuple(e_out[0].shape) == (T, (2 if bidirectional else 1) * H)


def test_unbatched_lstm_proj():
    g = rng(8)
    x = g.standard_normal((4, 3)).astype(np.float32)
    hx = ((g.standard_normal((2, 2)) * 0.5).astype(np.float32), (g.standard_normal((2, 5)) * 0.5).astype(np.float32))
    run_and_compare("LSTM", (3, 5), dict(proj_size=2, bidirectional=True), x, hx, what="unbatched proj")
    run_and_compare("LSTM", (3, 5), dict(proj_size=2, bidirectional=True), x, None, what="unbatched proj no hx")


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("T,N", [(1, 3), (4, 1), (1, 1)])
def test_length_one_and_batch_one(mode, T, N):
    kind, extra = MODES[mode]
    g = rng(T * 10 + N)
    for bf in (False, True):
        x = g.standard_normal((N, T, 3) if bf else (T, N, 3)).astype(np.float32)
        hs, cs = hidden_shapes(kind, 2, True, N, 4)
        hx = make_hx(kind, g, hs, cs)
        run_and_compare(kind, (3, 4), dict(extra, num_layers=2, bidirectional=True, batch_first=bf), x, hx,
                        what=f"T={T} N={N} bf={bf}")


# --------------------------------------------------------------------------- 3. packed sequences

def _packed_pair(x_np, lengths, batch_first, enforce_sorted):
    ex, tx = leaf(ember, x_np), leaf(torch, x_np)
    ep = eru.pack_padded_sequence(ex, lengths, batch_first=batch_first, enforce_sorted=enforce_sorted)
    tp = tru.pack_padded_sequence(tx, torch.tensor(lengths), batch_first=batch_first, enforce_sorted=enforce_sorted)
    return ex, tx, ep, tp


def _compare_packed_meta(ep, tp):
    assert_close(ep.data, tp.data, msg="packed data")
    np.testing.assert_array_equal(to_np(ep.batch_sizes), to_np(tp.batch_sizes))
    assert str(ep.batch_sizes.dtype).split(".")[-1] == "int64"
    for name in ("sorted_indices", "unsorted_indices"):
        e, t = getattr(ep, name), getattr(tp, name)
        assert (e is None) == (t is None), name
        if t is not None:
            np.testing.assert_array_equal(to_np(e), to_np(t), err_msg=name)


@pytest.mark.parametrize("mode", ["lstm", "gru", "rnn_tanh", "rnn_relu"])
@pytest.mark.parametrize("lengths,enforce_sorted", [([3, 5, 2, 4], False), ([5, 4, 4, 2], True),
                                                     ([5, 4, 4, 2], False), ([2, 5, 5, 1], False)])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("with_hx", [False, True])
def test_packed_through_rnn(mode, lengths, enforce_sorted, batch_first, with_hx):
    kind, extra = MODES[mode]
    T, N, F, H = 5, 4, 3, 4
    g = rng(sum(lengths) + 100 * batch_first + 7 * with_hx)
    x = g.standard_normal((N, T, F) if batch_first else (T, N, F)).astype(np.float32)
    em, tm = make_pair(kind, F, H, **dict(extra, num_layers=2, bidirectional=True, batch_first=batch_first))
    ex, tx, ep, tp = _packed_pair(x, lengths, batch_first, enforce_sorted)
    _compare_packed_meta(ep, tp)
    eleaves, tleaves = [ex], [tx]
    if with_hx:
        hs, cs = hidden_shapes(kind, 2, True, N, H)
        ehx, thx, el, tl = hx_pair(make_hx(kind, g, hs, cs))
        e_out, t_out = em(ep, ehx), tm(tp, thx)
        eleaves += el
        tleaves += tl
    else:
        e_out, t_out = em(ep), tm(tp)
    assert isinstance(e_out[0], eru.PackedSequence)
    _compare_packed_meta(e_out[0], t_out[0])
    compare_outputs_and_grads(em, tm, e_out, t_out, eleaves, tleaves, what=f"packed {mode}")
    # (the padded positions' input gradient is zero in both: compared above.)
    # Then unpack: batch_first, total_length, padding_value.
    for bf_out, total, pv in [(False, None, 0.0), (True, None, 0.0), (True, 7, -1.5), (False, 6, 2.0)]:
        e_pad, e_len = eru.pad_packed_sequence(e_out[0], batch_first=bf_out, padding_value=pv, total_length=total)
        t_pad, t_len = tru.pad_packed_sequence(t_out[0], batch_first=bf_out, padding_value=pv, total_length=total)
        assert_close(e_pad, t_pad, rtol=RTOL, atol=ATOL, msg=f"pad_packed bf={bf_out} total={total} pv={pv}")
        np.testing.assert_array_equal(to_np(e_len), to_np(t_len))
        assert str(e_len.dtype).split(".")[-1] == "int64"


def test_packed_padded_gradient_through_pad_packed():
    """loss on the re-padded output (after pad_packed_sequence) with unsorted lengths."""
    T, N, F, H = 6, 3, 2, 3
    lengths = [2, 6, 4]
    g = rng(12)
    x = g.standard_normal((N, T, F)).astype(np.float32)
    em, tm = make_pair("LSTM", F, H, batch_first=True, proj_size=2)
    ex, tx, ep, tp = _packed_pair(x, lengths, True, False)
    e_pad, _ = eru.pad_packed_sequence(em(ep)[0], batch_first=True, total_length=T)
    t_pad, _ = tru.pad_packed_sequence(tm(tp)[0], batch_first=True, total_length=T)
    compare_outputs_and_grads(em, tm, e_pad, t_pad, [ex], [tx], what="pad_packed grad")


def test_pack_helpers_roundtrip():
    g = rng(21)
    lens = [3, 5, 1, 4]
    seqs = [g.standard_normal((n, 2)).astype(np.float32) for n in lens]
    es = [ember.tensor(s) for s in seqs]
    ts = [torch.tensor(s) for s in seqs]
    for enforce in (False,):
        ep = eru.pack_sequence(es, enforce_sorted=enforce)
        tp = tru.pack_sequence(ts, enforce_sorted=enforce)
        _compare_packed_meta(ep, tp)
        back = eru.unpack_sequence(ep)
        assert len(back) == len(seqs)
        for b, s in zip(back, seqs):
            assert_close(b, s, msg="unpack_sequence")
    # sorted input with enforce_sorted=True: no indices
    sorted_seqs = sorted(seqs, key=lambda s: -s.shape[0])
    ep = eru.pack_sequence([ember.tensor(s) for s in sorted_seqs])
    tp = tru.pack_sequence([torch.tensor(s) for s in sorted_seqs])
    _compare_packed_meta(ep, tp)
    assert ep.sorted_indices is None and ep.unsorted_indices is None
    with pytest.raises(RuntimeError):
        tru.pack_sequence(ts, enforce_sorted=True)
    with pytest.raises(RuntimeError):
        eru.pack_sequence(es, enforce_sorted=True)
    # unpad_sequence(pad_sequence(x)) == x, both layouts
    for bf in (False, True):
        ep_ = eru.pad_sequence(es, batch_first=bf)
        tp_ = tru.pad_sequence(ts, batch_first=bf)
        assert_close(ep_, tp_, msg=f"pad_sequence bf={bf}")
        e_back = eru.unpad_sequence(ep_, ember.tensor(np.array(lens, dtype=np.int64)), batch_first=bf)
        t_back = tru.unpad_sequence(tp_, torch.tensor(lens), batch_first=bf)
        for e, t, s in zip(e_back, t_back, seqs):
            assert_close(e, t, msg="unpad_sequence vs torch")
            assert_close(e, s, msg="unpad_sequence round trip")


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("padding_side", ["left", "right"])
@pytest.mark.parametrize("padding_value", [0.0, -3.0])
def test_pad_sequence(batch_first, padding_side, padding_value):
    g = rng(5)
    seqs = [g.standard_normal((n, 2, 3)).astype(np.float32) for n in (2, 4, 1)]
    e = eru.pad_sequence([ember.tensor(s) for s in seqs], batch_first=batch_first, padding_value=padding_value,
                         padding_side=padding_side)
    t = tru.pad_sequence([torch.tensor(s) for s in seqs], batch_first=batch_first, padding_value=padding_value,
                         padding_side=padding_side)
    assert_close(e, t, msg="pad_sequence")


def test_pad_sequence_gradient():
    g = rng(6)
    seqs = [g.standard_normal((n, 3)).astype(np.float32) for n in (3, 1, 2)]
    el = [leaf(ember, s) for s in seqs]
    tl = [leaf(torch, s) for s in seqs]
    e = eru.pad_sequence(el, batch_first=True, padding_side="left")
    t = tru.pad_sequence(tl, batch_first=True, padding_side="left")
    r = g.standard_normal(tuple(t.shape)).astype(np.float32)
    (e * ember.tensor(r)).sum().backward()
    (t * torch.tensor(r)).sum().backward()
    for a, b in zip(el, tl):
        assert_close(a.grad, b.grad)


def test_invert_permutation_and_packed_sequence_ctor():
    perm = [2, 0, 3, 1]
    e = eru.invert_permutation(ember.tensor(np.array(perm, dtype=np.int64)))
    t = tru.invert_permutation(torch.tensor(perm))
    np.testing.assert_array_equal(to_np(e), to_np(t))
    assert eru.invert_permutation(None) is None
    data = np.arange(12, dtype=np.float32).reshape(6, 2)
    ep = eru.PackedSequence(ember.tensor(data), ember.tensor(np.array([3, 2, 1], dtype=np.int64)),
                            ember.tensor(np.array([2, 0, 1], dtype=np.int64)))
    tp = tru.PackedSequence(torch.tensor(data), torch.tensor([3, 2, 1]), torch.tensor([2, 0, 1]))
    _compare_packed_meta(ep, tp)


# --------------------------------------------------------------------------- 4. cells

CELLS = [("RNNCell", {}), ("RNNCell", {"nonlinearity": "relu"}), ("RNNCell", {"bias": False}),
         ("LSTMCell", {}), ("LSTMCell", {"bias": False}), ("GRUCell", {}), ("GRUCell", {"bias": False})]


@pytest.mark.parametrize("kind,kwargs", CELLS, ids=[f"{k}-{'-'.join(f'{a}={b}' for a, b in kw.items())}"
                                                    for k, kw in CELLS])
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("with_hx", [True, False])
def test_cells(kind, kwargs, batched, with_hx):
    N, F, H = 3, 4, 5
    g = rng(len(kind) + batched * 2 + with_hx)
    x = g.standard_normal((N, F) if batched else (F,)).astype(np.float32)
    hx = None
    if with_hx:
        shape = (N, H) if batched else (H,)
        h = (g.standard_normal(shape) * 0.5).astype(np.float32)
        hx = (h, (g.standard_normal(shape) * 0.5).astype(np.float32)) if kind == "LSTMCell" else h
    _, _, e_out, _ = run_and_compare(kind, (F, H), kwargs, x, hx, what=kind)
    for o in flat(e_out):
        assert tuple(o.shape) == ((N, H) if batched else (H,))


def test_cell_unrolled_matches_lstm():
    """An LSTMCell stepped over time equals torch's LSTMCell stepped the same way (gradients through
    the whole unroll)."""
    T, N, F, H = 5, 2, 3, 4
    g = rng(3)
    x = g.standard_normal((T, N, F)).astype(np.float32)
    em, tm = make_pair("LSTMCell", F, H)
    ex, tx = leaf(ember, x), leaf(torch, x)
    eh = ec = th = tc = None
    e_outs, t_outs = [], []
    for t in range(T):
        eh, ec = em(ex[t]) if eh is None else em(ex[t], (eh, ec))
        th, tc = tm(tx[t]) if th is None else tm(tx[t], (th, tc))
        e_outs.append(eh)
        t_outs.append(th)
    compare_outputs_and_grads(em, tm, e_outs + [ec], t_outs + [tc], [ex], [tx], what="unrolled cell")


# --------------------------------------------------------------------------- 5. module structure

STRUCT_CONFIGS = [
    ("RNN", (3, 4), {}),
    ("RNN", (3, 4), {"nonlinearity": "relu", "bias": False}),
    ("RNN", (3, 4, 2), {"dropout": 0.25}),
    ("RNN", (3, 4), {"num_layers": 3, "batch_first": True, "bidirectional": True}),
    ("LSTM", (3, 4), {}),
    ("LSTM", (3, 5), {"proj_size": 2}),
    ("LSTM", (3, 5), {"proj_size": 2, "num_layers": 2, "bidirectional": True}),
    ("LSTM", (3, 4), {"num_layers": 2, "dropout": 0.5, "bias": False}),
    ("LSTM", (3, 4, 2, False, True, 0.1, True), {}),
    ("LSTM", (3, 6), {"proj_size": 1, "bias": False, "batch_first": True}),
    ("GRU", (3, 4), {}),
    ("GRU", (3, 4, 2, False, True, 0.0, True), {}),
    ("GRU", (2, 7), {"num_layers": 3, "dropout": 0.3}),
    ("GRU", (3, 4), {"bias": False, "bidirectional": True}),
    ("RNNCell", (3, 4), {}),
    ("RNNCell", (3, 4), {"bias": False, "nonlinearity": "relu"}),
    ("LSTMCell", (3, 4), {}),
    ("LSTMCell", (3, 4), {"bias": False}),
    ("GRUCell", (3, 4), {}),
    ("GRUCell", (3, 4, False), {}),
]


@pytest.mark.parametrize("kind,args,kwargs", STRUCT_CONFIGS,
                         ids=[f"{k}{i}" for i, (k, _, _) in enumerate(STRUCT_CONFIGS)])
def test_structure(kind, args, kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tm = getattr(tnn, kind)(*args, **kwargs)
        em = getattr(enn, kind)(*args, **kwargs)
    assert repr(em) == repr(tm)
    assert str(em) == str(tm)
    tsd, esd = tm.state_dict(), em.state_dict()
    assert list(esd) == list(tsd)
    for k in tsd:
        assert tuple(esd[k].shape) == tuple(tsd[k].shape), k
    assert [n for n, _ in em.named_parameters()] == [n for n, _ in tm.named_parameters()]
    assert [tuple(p.shape) for p in em.parameters()] == [tuple(p.shape) for p in tm.parameters()]
    hidden = tm.hidden_size
    stdv = 1.0 / math.sqrt(hidden)
    for n, p in em.named_parameters():
        a = to_np(p)
        assert str(p.dtype).split(".")[-1] == "float32", n
        assert np.all(np.abs(a) <= stdv + 1e-7), f"{n}: outside +-1/sqrt(hidden)"
        if a.size >= 8:
            assert np.abs(a).max() > 0.3 * stdv, f"{n}: suspiciously small init"
            assert a.std() > 0.2 * stdv, f"{n}: not spread"
    if not kind.endswith("Cell"):
        assert [[tuple(w.shape) for w in ws] for ws in em.all_weights] == \
            [[tuple(w.shape) for w in ws] for ws in tm.all_weights]
        for attr in ("input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout",
                     "bidirectional", "proj_size", "mode"):
            assert getattr(em, attr) == getattr(tm, attr), attr
        assert em._flat_weights_names == tm._flat_weights_names
        em.flatten_parameters()  # a no-op on the CPU, as in torch
    else:
        if kind == "RNNCell":
            assert em.nonlinearity == tm.nonlinearity
        assert (em.bias_ih is None) == (tm.bias_ih is None)
    # torch's state_dict loads into ember unchanged (strict) and vice versa
    em.load_state_dict({k: ember.tensor(v.detach().numpy()) for k, v in tsd.items()})
    for k, v in em.state_dict().items():
        assert_close(v, tsd[k], rtol=0, atol=0, msg=k)
    tm.load_state_dict({k: torch.tensor(to_np(v)) for k, v in em.state_dict().items()})


def test_state_dict_names_with_proj_and_reverse():
    em, tm = make_pair("LSTM", 3, 5, proj_size=2, num_layers=2, bidirectional=True)
    esd = em.state_dict()
    for k, shape in [("weight_hr_l0", (2, 5)), ("weight_hr_l0_reverse", (2, 5)), ("weight_ih_l1", (20, 4)),
                     ("weight_hh_l1_reverse", (20, 2)), ("bias_ih_l1_reverse", (20,))]:
        assert tuple(esd[k].shape) == shape == tuple(tm.state_dict()[k].shape)


# --------------------------------------------------------------------------- 6. dropout

@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_dropout_eval_is_noop(kind):
    g = rng(31)
    x = g.standard_normal((4, 2, 3)).astype(np.float32)
    em, tm = make_pair(kind, 3, 4, num_layers=3, dropout=0.5, bidirectional=True)
    em.eval()
    tm.eval()
    ex, tx = leaf(ember, x), leaf(torch, x)
    compare_outputs_and_grads(em, tm, em(ex), tm(tx), [ex], [tx], what="dropout eval")
    # the same in eval as a dropout-free module with the same weights
    em2, _ = make_pair(kind, 3, 4, num_layers=3, bidirectional=True)
    em2.load_state_dict(em.state_dict())
    with ember.no_grad():
        assert_close(em2(ember.tensor(x))[0], em(ember.tensor(x))[0], rtol=0, atol=0)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_dropout_training_is_random(kind):
    g = rng(32)
    x = g.standard_normal((6, 3, 4)).astype(np.float32)
    em, _ = make_pair(kind, 4, 8, num_layers=2, dropout=0.5)
    em.train()
    ex = ember.tensor(x)
    with ember.no_grad():
        a, b = to_np(em(ex)[0]), to_np(em(ex)[0])
        em.eval()
        c = to_np(em(ex)[0])
    assert not np.allclose(a, b), "two training-mode calls with dropout=0.5 gave the same output"
    assert not np.allclose(a, c)
    # gradients flow in training mode with dropout
    em.train()
    ex = leaf(ember, x)
    out = em(ex)[0]
    out.sum().backward()
    assert ex.grad is not None and np.all(np.isfinite(to_np(ex.grad)))


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_dropout_single_layer_warns_and_is_unused(kind):
    with pytest.warns(UserWarning, match="dropout"):
        tm = getattr(tnn, kind)(3, 4, dropout=0.5, num_layers=1)
    with pytest.warns(UserWarning, match="dropout"):
        em = getattr(enn, kind)(3, 4, dropout=0.5, num_layers=1)
    em.load_state_dict({k: ember.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    # no warning for 2 layers or for dropout=0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        getattr(enn, kind)(3, 4, dropout=0.5, num_layers=2)
        getattr(enn, kind)(3, 4, num_layers=1)
    # with one layer the dropout is never applied: training mode matches torch
    em.train()
    tm.train()
    x = rng(33).standard_normal((5, 2, 3)).astype(np.float32)
    ex, tx = leaf(ember, x), leaf(torch, x)
    compare_outputs_and_grads(em, tm, em(ex), tm(tx), [ex], [tx], what="1-layer dropout train")


# --------------------------------------------------------------------------- 7. float64 finite differences

def _module64(kind, *args, **kwargs):
    em, _ = make_pair(kind, *args, double=True, **kwargs)
    return em


def test_gradcheck_lstm_bidirectional_2layer():
    em = _module64("LSTM", 2, 3, num_layers=2, bidirectional=True)
    x = rng(41).standard_normal((3, 2, 2))
    h0 = rng(42).standard_normal((4, 2, 3)) * 0.5
    c0 = rng(43).standard_normal((4, 2, 3)) * 0.5
    gradcheck(lambda x: em(x), [x])
    gradcheck(lambda x, h, c: em(x, (h, c)), [x, h0, c0])


def test_gradcheck_lstm_proj():
    em = _module64("LSTM", 2, 3, proj_size=2, bidirectional=True, batch_first=True)
    gradcheck(lambda x: em(x), [rng(44).standard_normal((2, 3, 2))])


def test_gradcheck_gru():
    em = _module64("GRU", 2, 3, num_layers=2, bidirectional=True)
    x = rng(45).standard_normal((3, 2, 2))
    h0 = rng(46).standard_normal((4, 2, 3)) * 0.5
    gradcheck(lambda x, h: em(x, h), [x, h0])


def test_gradcheck_rnn_and_packed():
    em = _module64("RNN", 2, 3, num_layers=2, bidirectional=True)
    gradcheck(lambda x: em(x), [rng(47).standard_normal((3, 2, 2))])
    gm = _module64("GRU", 2, 3, bidirectional=True)
    gradcheck(lambda x: gm(eru.pack_padded_sequence(x, [1, 3, 2], enforce_sorted=False)).__getitem__(0).data,
              [rng(48).standard_normal((3, 3, 2))])


@pytest.mark.parametrize("kind", ["RNNCell", "LSTMCell", "GRUCell"])
def test_gradcheck_cells(kind):
    em = _module64(kind, 3, 4)
    x = rng(49).standard_normal((2, 3))
    h = rng(50).standard_normal((2, 4)) * 0.5
    if kind == "LSTMCell":
        c = rng(51).standard_normal((2, 4)) * 0.5
        gradcheck(lambda x, h, c: em(x, (h, c)), [x, h, c])
    else:
        gradcheck(lambda x, h: em(x, h), [x, h])


def test_float64_matches_torch():
    g = rng(52)
    x = g.standard_normal((4, 2, 3))
    hs, cs = hidden_shapes("LSTM", 2, True, 2, 4, 2)
    hx = make_hx("LSTM", g, hs, cs, dtype=np.float64)
    em, tm, e_out, _ = run_and_compare("LSTM", (3, 4), dict(num_layers=2, bidirectional=True, proj_size=2), x, hx,
                                       double=True, what="float64")
    for o in flat(e_out):
        assert str(o.dtype).split(".")[-1] == "float64"


# --------------------------------------------------------------------------- 8. errors

def _raises_same(fn_torch, fn_ember):
    """torch raises; ember raises the same exception type."""
    with pytest.raises(Exception) as t_info:
        fn_torch()
    t_type = t_info.type
    try:
        fn_ember()
    except Exception as e:  # noqa: BLE001
        assert type(e) is t_type or isinstance(e, t_type), \
            f"ember raised {type(e).__name__}({e}), torch raised {t_type.__name__}({t_info.value})"
    else:
        raise AssertionError(f"ember did not raise; torch raised {t_type.__name__}({t_info.value})")
    return t_type


def _params_snapshot(m):
    return {k: to_np(v) for k, v in m.state_dict().items()}


def _call_error_case(kind, args, kwargs, x_shape, hx_spec):
    em, tm = make_pair(kind, *args, **kwargs)
    before = _params_snapshot(em)

    def build(lib):
        x = lib.tensor(np.ones(x_shape, dtype=np.float32))
        if hx_spec is None:
            return x, None
        if isinstance(hx_spec, tuple) and isinstance(hx_spec[0], tuple):
            return x, tuple(lib.tensor(np.zeros(s, dtype=np.float32)) for s in hx_spec)
        return x, lib.tensor(np.zeros(hx_spec, dtype=np.float32))

    def call(m, lib):
        x, hx = build(lib)
        return m(x) if hx is None else m(x, hx)

    t_type = _raises_same(lambda: call(tm, torch), lambda: call(em, ember))
    after = _params_snapshot(em)
    for k in before:
        np.testing.assert_array_equal(after[k], before[k], err_msg=f"{k} changed by a failed call")
    assert all(p.grad is None for p in em.parameters())
    return t_type


CALL_ERRORS = {
    "rnn_wrong_feature": ("RNN", (3, 4), {}, (5, 2, 2), None, RuntimeError),
    "lstm_wrong_feature": ("LSTM", (3, 4), {"batch_first": True}, (2, 5, 4), None, RuntimeError),
    "gru_wrong_feature_unbatched": ("GRU", (3, 4), {}, (5, 2), None, RuntimeError),
    "rnn_wrong_h0_batch": ("RNN", (3, 4), {}, (5, 2, 3), (1, 3, 4), RuntimeError),
    "gru_wrong_h0_layers": ("GRU", (3, 4), {"num_layers": 2}, (5, 2, 3), (1, 2, 4), RuntimeError),
    "gru_wrong_h0_hidden": ("GRU", (3, 4), {"bidirectional": True}, (5, 2, 3), (2, 2, 5), RuntimeError),
    "lstm_wrong_c0": ("LSTM", (3, 4), {}, (5, 2, 3), ((1, 2, 4), (1, 2, 3)), RuntimeError),
    "lstm_wrong_h0_proj": ("LSTM", (3, 4), {"proj_size": 2}, (5, 2, 3), ((1, 2, 4), (1, 2, 4)), RuntimeError),
    "gru_h0_2d_for_3d": ("GRU", (3, 4), {}, (5, 2, 3), (2, 4), RuntimeError),
    "gru_h0_3d_for_2d": ("GRU", (3, 4), {}, (5, 3), (1, 1, 4), RuntimeError),
    "rnn_4d_input": ("RNN", (3, 4), {}, (5, 2, 3, 1), None, ValueError),
    "lstm_4d_input": ("LSTM", (3, 4), {}, (5, 2, 3, 1), None, ValueError),
    "gru_1d_input": ("GRU", (3, 4), {}, (3,), None, ValueError),
    "lstm_single_tensor_hx_2layer": ("LSTM", (3, 4), {"num_layers": 2}, (5, 2, 3), (2, 2, 4), RuntimeError),
    # torch indexes hx[1] of a (1, N, H) tensor here: IndexError
    "lstm_single_tensor_hx": ("LSTM", (3, 4), {}, (5, 2, 3), (1, 2, 4), None),
    "rnn_cell_wrong_input": ("RNNCell", (3, 4), {}, (2, 5), None, RuntimeError),
    "lstm_cell_wrong_input": ("LSTMCell", (3, 4), {}, (2, 5), None, RuntimeError),
    "gru_cell_wrong_input_unbatched": ("GRUCell", (3, 4), {}, (5,), None, RuntimeError),
    "gru_cell_wrong_hidden": ("GRUCell", (3, 4), {}, (2, 3), (2, 5), RuntimeError),
    "rnn_cell_wrong_hidden_batch": ("RNNCell", (3, 4), {}, (2, 3), (3, 4), RuntimeError),
    "rnn_cell_3d_input": ("RNNCell", (3, 4), {}, (1, 2, 3), None, ValueError),
    # torch's lstm_cell wants a tuple: TypeError
    "lstm_cell_single_tensor_hx": ("LSTMCell", (3, 4), {}, (2, 3), (2, 4), None),
}


@pytest.mark.parametrize("case", list(CALL_ERRORS))
def test_call_errors(case):
    kind, args, kwargs, x_shape, hx_spec, expected = CALL_ERRORS[case]
    t_type = _call_error_case(kind, args, kwargs, x_shape, hx_spec)
    if expected is not None:
        assert issubclass(t_type, expected), f"torch raised {t_type.__name__}, test expected {expected.__name__}"


CTOR_ERRORS = {
    "bad_nonlinearity": (lambda nn: nn.RNN(3, 4, nonlinearity="sigmoid"), ValueError),
    "bad_nonlinearity_positional": (lambda nn: nn.RNN(3, 4, 1, "gelu"), ValueError),
    "proj_eq_hidden": (lambda nn: nn.LSTM(3, 4, proj_size=4), ValueError),
    "proj_gt_hidden": (lambda nn: nn.LSTM(3, 4, proj_size=7), ValueError),
    "proj_negative": (lambda nn: nn.LSTM(3, 4, proj_size=-1), ValueError),
    "proj_on_gru": (lambda nn: nn.GRU(3, 4, proj_size=2), ValueError),
    "proj_on_rnn": (lambda nn: nn.RNN(3, 4, proj_size=2), ValueError),
    "dropout_1.5": (lambda nn: nn.GRU(3, 4, dropout=1.5), ValueError),
    "dropout_negative": (lambda nn: nn.LSTM(3, 4, num_layers=2, dropout=-0.1), ValueError),
    "hidden_size_0": (lambda nn: nn.GRU(3, 0), ValueError),
    "hidden_size_0_lstm": (lambda nn: nn.LSTM(3, 0), ValueError),
    "num_layers_0": (lambda nn: nn.RNN(3, 4, num_layers=0), ValueError),
    "hidden_size_float": (lambda nn: nn.LSTM(3, 4.0), TypeError),
}


@pytest.mark.parametrize("case", list(CTOR_ERRORS))
def test_constructor_errors(case):
    fn, expected = CTOR_ERRORS[case]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_type = _raises_same(lambda: fn(tnn), lambda: fn(enn))
    assert issubclass(t_type, expected)


_PX = np.zeros((4, 3, 2), dtype=np.float32)
PACK_ERRORS = {
    "unsorted_with_enforce_sorted": lambda lib, R: R.pack_padded_sequence(lib.tensor(_PX), [2, 3, 1]),
    "zero_length": lambda lib, R: R.pack_padded_sequence(lib.tensor(_PX), [3, 0, 0]),
    "lengths_count_mismatch": lambda lib, R: R.pack_padded_sequence(lib.tensor(_PX), [3, 1]),
    "total_length_too_small": lambda lib, R: R.pad_packed_sequence(
        R.pack_padded_sequence(lib.tensor(_PX), [4, 3, 1]), total_length=2),
    "bad_padding_side": lambda lib, R: R.pad_sequence([lib.tensor(_PX[:, 0])], padding_side="middle"),
}


@pytest.mark.parametrize("case", list(PACK_ERRORS))
def test_pack_errors(case):
    fn = PACK_ERRORS[case]
    _raises_same(lambda: fn(torch, tru), lambda: fn(ember, eru))


def test_pack_length_past_time_dimension():
    # torch 2.13 does not check this (it reads past the input); ember raises
    with pytest.raises(RuntimeError):
        eru.pack_padded_sequence(ember.tensor(_PX), [5, 3, 1])


# --------------------------------------------------------------------------- 9. char-level LSTM LM

def _char_lm(nn):
    class CharLM(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(65, 16)
            self.lstm = nn.LSTM(16, 32, batch_first=True)
            self.head = nn.Linear(32, 65)

        def forward(self, tokens):
            h, _ = self.lstm(self.emb(tokens))
            return self.head(h)
    return CharLM()


def test_char_lstm_language_model_adam():
    V, B, T = 65, 4, 8
    data = rng(60).integers(0, V, size=(B, T + 1)).astype(np.int64)
    tm = _char_lm(tnn)
    seed_torch_params(tm, seed=61)
    em = _char_lm(enn)
    em.load_state_dict({k: ember.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    assert list(em.state_dict()) == list(tm.state_dict())
    # eps=1e-6 rather than 1e-8: Adam's first steps are ~lr*g/(|g|+eps), so with eps=1e-8 the float32
    # rounding noise (~1e-9) of the tiniest gradients is amplified ~1e6 times: even torch float32 vs
    # torch float64 then differs by up to 5e-6 in the final weights, ember vs torch by up to 4e-5.
    t_opt = torch.optim.Adam(tm.parameters(), lr=1e-2, eps=1e-6)
    e_opt = ember.optim.Adam(em.parameters(), lr=1e-2, eps=1e-6)
    ex, ey = ember.tensor(data[:, :-1]), ember.tensor(data[:, 1:])
    tx, ty = torch.tensor(data[:, :-1]), torch.tensor(data[:, 1:])
    t_losses, e_losses = [], []
    for _ in range(3):
        t_opt.zero_grad()
        tl = TF.cross_entropy(tm(tx).reshape(-1, V), ty.reshape(-1))
        tl.backward()
        t_opt.step()
        t_losses.append(tl.item())
        e_opt.zero_grad()
        el = EF.cross_entropy(em(ex).reshape(-1, V), ey.reshape(-1))
        el.backward()
        e_opt.step()
        e_losses.append(el.item())
    np.testing.assert_allclose(e_losses, t_losses, rtol=1e-5, atol=1e-5)
    assert t_losses[-1] < t_losses[0]
    tsd = tm.state_dict()
    for k, v in em.state_dict().items():
        assert_close(v, tsd[k], rtol=1e-4, atol=1e-5, msg=f"final {k}")
