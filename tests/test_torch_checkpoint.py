"""torch's checkpoint format both ways (Note [torch checkpoint format] in src/ember/_torch_zip.py):
files ember.save writes load in real torch 2.13 with weights_only=True, files torch.save writes
load in ember, views stay views of one storage, and hostile archives are refused."""
import io
import os
import pickle
import zipfile

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import ember  # noqa: E402
from ember import nn  # noqa: E402

DTYPES = ["float32", "float64", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8", "bool"]


def _values(dt, n=6):
    rng = np.random.default_rng(0)
    if dt == "bool":
        return rng.integers(0, 2, n).astype(bool)
    if dt in ("float32", "float64", "float16", "bfloat16"):
        return rng.normal(size=n)
    return rng.integers(-5 if dt != "uint8" else 0, 100, n)


def e_tensor(dt, n=6):
    return ember.tensor(_values(dt, n)).to(getattr(ember, dt))


def t_tensor(dt, n=6):
    return torch.tensor(_values(dt, n)).to(getattr(torch, dt))


def to_np(t):
    t = t.detach()
    if "bfloat16" in str(t.dtype):
        t = t.float()
    return t.numpy()


def assert_same(e, t):
    assert str(e.dtype).split(".")[-1] == str(t.dtype).split(".")[-1]
    assert tuple(e.shape) == tuple(t.shape)
    np.testing.assert_array_equal(to_np(e), to_np(t))


def layers(lib):
    g = lib.manual_seed(0)
    return lib.nn.ModuleDict({
        "linear": lib.nn.Linear(3, 4), "conv": lib.nn.Conv2d(2, 3, 3), "bn": lib.nn.BatchNorm2d(3),
        "ln": lib.nn.LayerNorm(4), "emb": lib.nn.Embedding(5, 3), "lstm": lib.nn.LSTM(3, 4, num_layers=2),
        "gru": lib.nn.GRU(3, 2, bidirectional=True), "mha": lib.nn.MultiheadAttention(4, 2),
        "convt": lib.nn.ConvTranspose1d(2, 2, 3), "gn": lib.nn.GroupNorm(1, 4)}) if g is not None else None


def test_ember_state_dicts_load_in_torch(tmp_path):
    m = layers(ember)
    sd = m.state_dict()
    ember.save(sd, tmp_path / "m.pt")
    t = torch.load(tmp_path / "m.pt", weights_only=True)
    assert list(t) == list(sd)
    for k in sd:
        assert_same(sd[k], t[k])
    tm = layers(torch)
    tm.load_state_dict(t)  # torch's own module takes it


def test_torch_state_dicts_load_in_ember(tmp_path):
    tm = layers(torch)
    torch.save(tm.state_dict(), tmp_path / "t.pt")
    sd = ember.load(tmp_path / "t.pt")
    m = layers(ember)
    m.load_state_dict(sd)
    for k, v in tm.state_dict().items():
        assert_same(m.state_dict()[k], v)
    x = np.random.default_rng(1).normal(size=(2, 3)).astype(np.float32)
    np.testing.assert_allclose(m["linear"](ember.tensor(x)).detach().numpy(),
                               tm["linear"](torch.tensor(x)).detach().numpy(), rtol=1e-6)


@pytest.mark.parametrize("dt", DTYPES)
def test_every_dtype_both_ways(dt, tmp_path):
    e = e_tensor(dt)
    ember.save({"x": e, "v": e[1:4]}, tmp_path / "e.pt")
    t = torch.load(tmp_path / "e.pt", weights_only=True)
    assert_same(e, t["x"]) and assert_same(e[1:4], t["v"])
    tt = t_tensor(dt)
    torch.save({"x": tt, "v": tt[2:]}, tmp_path / "t.pt")
    back = ember.load(tmp_path / "t.pt")
    assert_same(back["x"], tt)
    assert_same(back["v"], tt[2:])


def test_views_share_one_storage_both_ways(tmp_path):
    x = ember.arange(12.0).reshape(3, 4)
    ember.save({"base": x, "col": x[:, 1], "t": x.t()}, tmp_path / "e.pt")
    t = torch.load(tmp_path / "e.pt", weights_only=True)
    assert t["col"].untyped_storage().data_ptr() == t["base"].untyped_storage().data_ptr()
    t["base"][2, 1] = -1.0
    assert t["col"][2].item() == -1.0 and t["t"][1, 2].item() == -1.0
    tx = torch.arange(12.0).reshape(3, 4)
    torch.save({"base": tx, "col": tx[:, 1], "t": tx.t()}, tmp_path / "t.pt")
    e = ember.load(tmp_path / "t.pt")
    assert_same(e["t"], tx.t())
    e["base"][2, 1] = -1.0
    assert e["col"][2].item() == -1.0 and e["t"][1, 2].item() == -1.0


def _train(lib, opt_name):
    lib.manual_seed(0)
    m = lib.nn.Linear(3, 2)
    with lib.no_grad():
        m.weight.copy_(lib.tensor([[0.1, -0.2, 0.3], [0.4, 0.5, -0.6]]))
        m.bias.copy_(lib.tensor([0.01, -0.02]))
    opt = {"sgd": lambda: lib.optim.SGD(m.parameters(), lr=0.1, momentum=0.9),
           "adam": lambda: lib.optim.Adam(m.parameters(), lr=0.01, amsgrad=True)}[opt_name]()
    for _ in range(3):
        opt.zero_grad()
        m(lib.ones(4, 3)).pow(2).sum().backward()
        opt.step()
    return m, opt


@pytest.mark.parametrize("opt_name", ["sgd", "adam"])
def test_general_checkpoint_both_ways(opt_name, tmp_path):
    m, opt = _train(ember, opt_name)
    ember.save({"epoch": 3, "model": m.state_dict(), "optimizer": opt.state_dict(), "losses": [0.5, 0.25],
                "name": "run"}, tmp_path / "e.pt")
    ck = torch.load(tmp_path / "e.pt", weights_only=True)
    tm, topt = _train(torch, opt_name)
    assert ck["epoch"] == 3 and ck["losses"] == [0.5, 0.25] and ck["name"] == "run"
    tm.load_state_dict(ck["model"])
    topt.load_state_dict(ck["optimizer"])  # torch accepts ember's optimizer state
    for (k, v), (k2, v2) in zip(opt.state_dict()["state"].items(), topt.state_dict()["state"].items()):
        for name in v:
            np.testing.assert_allclose(to_np(v[name]) if hasattr(v[name], "shape") else v[name],
                                       to_np(v2[name]) if hasattr(v2[name], "shape") else v2[name], rtol=1e-6)
    torch.save({"model": tm.state_dict(), "optimizer": topt.state_dict()}, tmp_path / "t.pt")
    back = ember.load(tmp_path / "t.pt")
    m2, opt2 = _train(ember, opt_name)
    m2.load_state_dict(back["model"])
    opt2.load_state_dict(back["optimizer"])
    for a, b in zip(m2.parameters(), tm.parameters()):
        assert_same(a, b)


def test_parameters_load_as_parameters(tmp_path):
    p = nn.Parameter(ember.ones(2, 3))
    ember.save({"p": p, "frozen": nn.Parameter(ember.zeros(2), requires_grad=False)}, tmp_path / "e.pt")
    t = torch.load(tmp_path / "e.pt", weights_only=True)
    assert isinstance(t["p"], torch.nn.Parameter) and t["p"].requires_grad and not t["frozen"].requires_grad
    torch.save(t, tmp_path / "t.pt")
    e = ember.load(tmp_path / "t.pt")
    assert isinstance(e["p"], nn.Parameter) and e["p"].requires_grad and not e["frozen"].requires_grad


def test_mmap_and_map_location(tmp_path):
    tx = torch.arange(1000.0)
    torch.save({"x": tx, "y": tx[10:20]}, tmp_path / "t.pt")
    for kw in ({"mmap": True}, {"map_location": "cpu"}, {"map_location": torch.device("cpu")},
               {"map_location": lambda storage, loc: storage}, {"map_location": {"cpu": "cpu"}}):
        e = ember.load(tmp_path / "t.pt", **kw)
        assert_same(e["x"], tx) and assert_same(e["y"], tx[10:20])
    e = ember.load(tmp_path / "t.pt", mmap=True)
    e["x"][0] = 5.0  # copy-on-write: the file keeps its bytes
    assert torch.load(tmp_path / "t.pt")["x"][0].item() == 0.0
    assert e["y"][0].item() == 10.0


def test_file_objects_and_archive_name(tmp_path):
    buf = io.BytesIO()
    ember.save({"a": ember.ones(2)}, buf)
    assert zipfile.ZipFile(io.BytesIO(buf.getvalue())).namelist()[0].startswith("archive/")
    buf.seek(0)
    assert torch.load(buf, weights_only=True)["a"].tolist() == [1.0, 1.0]
    ember.save(ember.ones(1), tmp_path / "my_model.pth")
    assert zipfile.ZipFile(tmp_path / "my_model.pth").namelist()[0].startswith("my_model/")
    tb = io.BytesIO()
    torch.save(torch.ones(3), tb)
    tb.seek(0)
    assert ember.load(tb).tolist() == [1.0, 1.0, 1.0]


def test_ember_own_format_still_reads_and_writes(tmp_path):
    ember.save({"x": ember.ones(2)}, tmp_path / "old.pt", _use_new_zipfile_serialization=False)
    assert open(tmp_path / "old.pt", "rb").read(5) == b"EMBER"
    assert ember.load(tmp_path / "old.pt")["x"].tolist() == [1.0, 1.0]


def test_save_is_atomic(tmp_path):
    path = tmp_path / "ck.pt"
    ember.save({"v": ember.ones(3)}, path)
    before = path.read_bytes()

    class Boom:
        def __reduce__(self):
            raise RuntimeError("boom while pickling")
    with pytest.raises(RuntimeError, match="boom"):
        ember.save({"v": ember.zeros(3), "bad": Boom()}, path)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["ck.pt"]  # no temporary file left behind


# ---- hostile archives: refused with a clear error, nothing executed

def _torch_file(obj):
    b = io.BytesIO()
    torch.save(obj, b)
    return b.getvalue()


def _rewrite(data, edit):
    """The archive with edit(name, bytes) -> bytes applied to every record."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        for info in src.infolist():
            z.writestr(info.filename, edit(info.filename, src.read(info)))
    return out.getvalue()


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_hostile_archives(tmp_path):
    good = _torch_file({"w": torch.arange(6.0).reshape(2, 3)})
    assert ember.load(io.BytesIO(good))["w"].shape == (2, 3)
    evil_pkl = pickle.dumps({"x": _Evil()}, protocol=2)
    cases = {
        "global": _rewrite(good, lambda n, b: evil_pkl if n.endswith("data.pkl") else b),
        "lying size": _rewrite(good, lambda n, b: b[:8] if "/data/" in n else b),
        "view out of bounds": _rewrite(good, lambda n, b: b.replace(b"K\x02K\x03", b"K\x09K\x03")
                                       if n.endswith("data.pkl") else b),
        "truncated": good[:len(good) // 2],
        "no data.pkl": _rewrite(good, lambda n, b: b) .replace(b"data.pkl", b"data.pkx"),
    }
    for name, data in cases.items():
        with pytest.raises((pickle.UnpicklingError, RuntimeError)) as e:
            ember.load(io.BytesIO(data))
        assert "ember.load" in str(e.value), name
    compressed = io.BytesIO()
    with zipfile.ZipFile(compressed, "w", zipfile.ZIP_DEFLATED) as z:
        src = zipfile.ZipFile(io.BytesIO(good))
        for info in src.infolist():
            z.writestr(info.filename, src.read(info))
    with pytest.raises(pickle.UnpicklingError, match="compressed"):
        ember.load(io.BytesIO(compressed.getvalue()))
    with pytest.raises(RuntimeError, match="not a file written by"):
        ember.load(io.BytesIO(b"not a checkpoint"))
    # weights_only=False trusts the file, as torch does (the global resolves)
    assert "refused" not in repr(ember.load(io.BytesIO(_rewrite(good, lambda n, b: pickle.dumps(
        {"n": 3}, protocol=2) if n.endswith("data.pkl") else b)), weights_only=False))


# ---- safetensors: a torch program using safetensors.torch runs under `python -m ember`

SAFETENSORS_PROG = r'''
import sys
import torch
from safetensors.torch import load_file, load_model, save_file, save_model
mode, path = sys.argv[1], sys.argv[2]
m = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
if mode == "save":
    with torch.no_grad():
        for i, p in enumerate(m.parameters()):
            p.copy_(torch.arange(p.numel(), dtype=torch.float32).reshape(p.shape) / 10 - i)
    save_model(m, path + ".model")
    save_file({"h": torch.ones(3, dtype=torch.float16), "i": torch.arange(4), "b": torch.tensor([True, False]),
               "bf": torch.full((2,), 1.5, dtype=torch.bfloat16)}, path, metadata={"format": "pt"})
else:
    missing, unexpected = load_model(m, path + ".model")
    d = load_file(path)
    print(list(missing), list(unexpected), sorted(d))
    print([p.tolist() for p in m.parameters()])
    print(d["h"].tolist(), d["i"].tolist(), d["b"].tolist(), d["bf"].float().tolist(), str(d["bf"].dtype).split(".")[-1])
'''


def _run(prog, *args, ember_run):
    import subprocess
    import sys
    cmd = [sys.executable] + (["-m", "ember"] if ember_run else []) + [str(prog)] + [str(a) for a in args]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout


def test_safetensors_both_ways(tmp_path):
    pytest.importorskip("safetensors")
    prog = tmp_path / "prog.py"
    prog.write_text(SAFETENSORS_PROG)
    outs = {}
    for writer in ("ember", "torch"):
        path = tmp_path / f"{writer}.safetensors"
        _run(prog, "save", path, ember_run=writer == "ember")
        for reader in ("ember", "torch"):
            outs[writer, reader] = _run(prog, "load", path, ember_run=reader == "ember")
    assert len(set(outs.values())) == 1, outs
    assert "[1.5, 1.5] bfloat16" in outs["ember", "torch"]


def test_frombuffer_and_storage_descriptions():
    import warnings
    for lib in (ember, torch):
        buf = bytearray(np.arange(6, dtype=np.float32).tobytes())
        t = lib.frombuffer(buf, dtype=lib.float32, offset=4, count=3)
        assert t.tolist() == [1.0, 2.0, 3.0]
        buf[4:8] = np.float32(9).tobytes()  # shares the buffer's memory
        assert t[0].item() == 9.0
        with pytest.raises(ValueError):
            lib.frombuffer(buf, dtype=lib.float32, offset=2)
        with pytest.raises(ValueError):
            lib.frombuffer(buf, dtype=lib.float32, count=7)
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            assert lib.frombuffer(b"\x01\x00", dtype=lib.int16).tolist() == [1]
        assert any("not writable" in str(x.message) for x in w)
        x = lib.arange(12.0).reshape(3, 4)
        s, v = x.untyped_storage(), x[1:, 2:].untyped_storage()
        assert s.data_ptr() == v.data_ptr() and s.nbytes() == v.nbytes() == 48
        assert x.layout == lib.strided
    assert lib.complex64 is not None and ember.complex64.itemsize == 8


def test_a_killed_save_leaves_the_previous_checkpoint(tmp_path):
    """A process killed while it saves (SIGKILL at random moments) never leaves a partial file: the
    path holds either the previous checkpoint or the new one, each loading whole."""
    import signal
    import subprocess
    import sys
    import time
    path = tmp_path / "ck.pt"
    ember.save({"gen": 0, "w": ember.zeros(1000, 100)}, path)
    prog = tmp_path / "saver.py"
    prog.write_text(
        "import sys, ember\n"
        "path = sys.argv[1]\n"
        "for gen in range(1, 10**6):\n"
        "    ember.save({'gen': gen, 'w': ember.full((1000, 100), float(gen))}, path)\n")
    rng = np.random.default_rng(0)
    for _ in range(5):
        p = subprocess.Popen([sys.executable, str(prog), str(path)])
        time.sleep(0.3 + float(rng.uniform(0, 0.3)))
        p.send_signal(signal.SIGKILL)
        p.wait()
        ck = ember.load(path)  # whole: either the last completed save or the one before
        assert ck["w"].shape == (1000, 100)
        assert (ck["w"] == float(ck["gen"])).all().item()
    leftovers = [f for f in os.listdir(tmp_path) if f not in ("ck.pt", "saver.py")]
    assert all(f.endswith(".tmp") for f in leftovers)  # a killed writer's temporary file, never the target


def test_safe_globals_allow_a_trusted_class(tmp_path):
    import argparse
    ns = argparse.Namespace(lr=0.1, epochs=3)
    ember.save({"args": ns, "w": ember.ones(2)}, tmp_path / "e.pt")
    torch.save({"args": ns, "w": torch.ones(2)}, tmp_path / "t.pt")
    for f in ("e.pt", "t.pt"):
        with pytest.raises(pickle.UnpicklingError, match="add_safe_globals"):
            ember.load(tmp_path / f)
        with ember.serialization.safe_globals([argparse.Namespace]):
            assert ember.load(tmp_path / f)["args"] == ns
        with pytest.raises(pickle.UnpicklingError):
            ember.load(tmp_path / f)  # the context manager's allowance ends with the block
    with torch.serialization.safe_globals([argparse.Namespace]):
        assert torch.load(tmp_path / "e.pt", weights_only=True)["args"] == ns
    try:
        ember.serialization.add_safe_globals([argparse.Namespace])
        assert ember.serialization.get_safe_globals() == [argparse.Namespace]
        assert ember.load(tmp_path / "t.pt")["args"] == ns
    finally:
        ember.serialization.clear_safe_globals()
    assert ember.serialization.get_safe_globals() == []
