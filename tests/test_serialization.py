"""ember.save / ember.load (safe: loading never runs code from the file), pickling of tensors
and modules, install_as_torch() aliasing (in a subprocess) and the small torch-isms."""
import copy
import io
import json
import os
import pathlib
import pickle
import subprocess
import sys
import zipfile
from collections import OrderedDict

import numpy as np
import pytest

torch = pytest.importorskip("torch")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import ember  # noqa: E402
import ember.nn as enn  # noqa: E402
from nn_helpers import assert_close, dtype_name, rng, to_np  # noqa: E402


def _same(a, b):
    """Deep equality where tensors compare by dtype, shape and values."""
    if isinstance(a, ember.Tensor) or isinstance(b, ember.Tensor):
        assert isinstance(a, ember.Tensor) and isinstance(b, ember.Tensor), (type(a), type(b))
        assert dtype_name(a.dtype) == dtype_name(b.dtype)
        assert tuple(a.shape) == tuple(b.shape)
        np.testing.assert_array_equal(to_np(a), to_np(b))
    elif isinstance(a, dict):
        assert type(a) is type(b) and list(a) == list(b)
        for k in a:
            _same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)
    else:
        assert type(a) is type(b) and a == b, (a, b)


def _round_trip(obj, tmp_path, name="obj.pt"):
    path = tmp_path / name
    ember.save(obj, str(path))
    return ember.load(str(path))


@pytest.mark.parametrize("make", [
    lambda: ember.tensor([[1.5, -2.0], [3.0, 4.25]]),
    lambda: ember.tensor(rng(0).standard_normal((3, 4, 2))),
    lambda: ember.arange(10),
    lambda: ember.tensor([True, False, True]),
    lambda: ember.tensor(3.5),
    lambda: ember.zeros(0, 3),
    lambda: ember.arange(0.0, 12.0).view(3, 4).t(),  # non-contiguous view
    lambda: ember.arange(0.0, 12.0)[2:9:3],
], ids=["f32", "f64", "i64", "bool", "0d", "empty", "transposed", "strided"])
def test_tensor_round_trip(make, tmp_path):
    t = make()
    loaded = _round_trip(t, tmp_path)
    _same(loaded, t)
    loaded.add_(1) if dtype_name(loaded.dtype) != "bool" else None
    if dtype_name(t.dtype) != "bool" and t.numel():
        assert not np.array_equal(to_np(loaded), to_np(t)), "loaded tensor shares memory with the original"


def test_nested_containers_round_trip(tmp_path):
    obj = {
        "weights": [ember.ones(2, 2), ember.zeros(3, dtype=ember.float64)],
        "meta": {"epoch": 7, "lr": 0.01, "name": "run-1", "done": False, "none": None,
                 "betas": (0.9, 0.999), "ids": [1, 2, 3]},
        "labels": ember.tensor([1, 0, 2]),
        "od": OrderedDict([("b", 1), ("a", ember.tensor([2.0]))]),
        "big": 2 ** 40, "neg": -3.25, "inf": float("inf"),
    }
    _same(_round_trip(obj, tmp_path), obj)


def test_path_types_and_file_objects(tmp_path):
    t = ember.tensor([1.0, 2.0, 3.0])
    ember.save(t, tmp_path / "a.pt")  # pathlib.Path
    _same(ember.load(tmp_path / "a.pt"), t)
    buf = io.BytesIO()
    ember.save({"t": t}, buf)
    buf.seek(0)
    _same(ember.load(buf), {"t": t})
    # the keyword arguments torch programs pass
    _same(ember.load(str(tmp_path / "a.pt"), map_location="cpu", weights_only=True), t)
    _same(ember.load(str(tmp_path / "a.pt"), map_location=ember.device("cpu")), t)


def _net():
    return enn.Sequential(enn.Linear(3, 4), enn.BatchNorm1d(4), enn.ReLU(), enn.Linear(4, 2))


def test_model_state_dict_round_trip(tmp_path):
    model = _net()
    model(ember.tensor(rng(1).standard_normal((6, 3)).astype(np.float32)))  # BN running stats move
    model.eval()
    sd = model.state_dict()
    loaded = _round_trip(sd, tmp_path)
    assert list(loaded) == list(sd)
    for k in sd:
        _same(loaded[k], sd[k])
    fresh = _net()
    result = fresh.load_state_dict(loaded)
    assert result.missing_keys == [] and result.unexpected_keys == []
    fresh.eval()
    x = ember.tensor(rng(2).standard_normal((5, 3)).astype(np.float32))
    np.testing.assert_array_equal(to_np(fresh(x)), to_np(model(x)))


def test_optimizer_state_dict_round_trip(tmp_path):
    def setup():
        model = enn.Sequential(enn.Linear(3, 4), enn.Tanh(), enn.Linear(4, 1)).double()
        with ember.no_grad():
            for k, p in enumerate(model.parameters()):
                p.copy_(ember.tensor(rng(k).standard_normal(tuple(p.shape))))
        return model, ember.optim.Adam(model.parameters(), lr=0.01, amsgrad=True)

    g = rng(3)
    x, y = ember.tensor(g.standard_normal((8, 3))), ember.tensor(g.standard_normal((8, 1)))

    def steps(model, opt, n):
        out = []
        for _ in range(n):
            opt.zero_grad()
            loss = ((model(x) - y) ** 2).mean()
            loss.backward()
            opt.step()
            out.append(loss.item())
        return out

    model, opt = setup()
    full = steps(model, opt, 10)
    model, opt = setup()
    first = steps(model, opt, 5)
    osd = opt.state_dict()
    ckpt = _round_trip({"model": model.state_dict(), "optim": osd}, tmp_path)
    assert ckpt["optim"]["param_groups"] == osd["param_groups"]
    assert sorted(ckpt["optim"]["state"]) == sorted(osd["state"])
    for i, s in osd["state"].items():
        _same(ckpt["optim"]["state"][i], s)
    model2, opt2 = setup()
    model2.load_state_dict(ckpt["model"])
    opt2.load_state_dict(ckpt["optim"])
    assert first + steps(model2, opt2, 5) == full


class _Evil:
    def __init__(self, payload):
        self.payload = payload

    def __reduce__(self):
        return self.payload


def _payloads(marker):
    code = f"open({str(marker)!r}, 'w').write('pwned')"
    return {
        "os_system": (os.system, (f"touch {marker}",)),
        "builtins_exec": (exec, (code,)),
        "builtins_eval": (eval, (code,)),
        "builtins_open": (open, (str(marker), "w")),
        "subprocess": (subprocess.call, (["touch", str(marker)],)),
    }


@pytest.mark.parametrize("payload", ["os_system", "builtins_exec", "builtins_eval", "builtins_open",
                                     "subprocess"])
@pytest.mark.parametrize("container", ["raw_pickle", "torch_style_zip", "inside_dict"])
def test_load_refuses_code_execution(tmp_path, payload, container):
    marker = tmp_path / "marker"
    evil = _Evil(_payloads(marker)[payload])
    path = tmp_path / "evil.pt"
    if container == "raw_pickle":
        path.write_bytes(pickle.dumps(evil, protocol=2))
    elif container == "inside_dict":
        path.write_bytes(pickle.dumps({"weight": [1.0, 2.0], "x": evil}))
    else:  # torch.save's layout: a zip archive whose data.pkl is the pickle
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("evil/data.pkl", pickle.dumps(evil, protocol=2))
            z.writestr("evil/version", "3\n")
            z.writestr("evil/byteorder", "little")
    assert not marker.exists()
    with pytest.raises(Exception):
        ember.load(str(path))
    assert not marker.exists(), "ember.load executed code from the file"


def test_load_refuses_code_execution_with_weights_only_false(tmp_path):
    """The issue: loading never executes code from the file, whatever the flags."""
    marker = tmp_path / "marker"
    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps(_Evil(_payloads(marker)["builtins_open"])))
    try:
        ember.load(str(path), weights_only=False)
    except Exception:
        pass
    assert not marker.exists(), "ember.load(weights_only=False) executed code from the file"


def test_pickle_tensors():
    for t in (ember.tensor([[1.0, 2.0], [3.0, 4.0]]), ember.arange(5), ember.tensor(rng(0).standard_normal(3)),
              ember.arange(0.0, 6.0).view(2, 3).t()):
        u = pickle.loads(pickle.dumps(t))
        _same(u, t)
    w = ember.ones(2, requires_grad=True)
    tw = torch.ones(2, requires_grad=True)
    assert pickle.loads(pickle.dumps(w)).requires_grad == pickle.loads(pickle.dumps(tw)).requires_grad
    p = enn.Parameter(ember.ones(3))
    q = pickle.loads(pickle.dumps(p))
    assert isinstance(q, enn.Parameter) and q.requires_grad


def test_pickle_and_deepcopy_modules():
    model = _net()
    model(ember.ones(4, 3))
    for clone in (pickle.loads(pickle.dumps(model)), copy.deepcopy(model)):
        assert type(clone) is type(model) and repr(clone) == repr(model)
        assert list(clone.state_dict()) == list(model.state_dict())
        for k, v in model.state_dict().items():
            _same(clone.state_dict()[k], v)
        assert all(isinstance(p, enn.Parameter) and p.requires_grad for p in clone.parameters())
        with ember.no_grad():
            clone[0].weight.fill_(0.0)  # independent storage
        assert np.any(to_np(model[0].weight) != 0)
        out = clone(ember.ones(2, 3))
        out.sum().backward()
        assert clone[3].weight.grad is not None
    t = ember.tensor([1.0, 2.0])
    c = copy.deepcopy(t)
    c[0] = 5.0
    assert to_np(t)[0] == 1.0


INSTALL_SCRIPT = r"""
import importlib, json, sys
import ember
ember.install_as_torch()
names = ["torch", "torch.nn", "torch.nn.functional", "torch.optim", "torch.optim.lr_scheduler",
         "torch.utils", "torch.utils.data", "torch.autograd"]
out = {}
for name in names:
    mod = importlib.import_module(name)
    out[name] = [sys.modules.get(name) is mod, getattr(mod, "__name__", "")]
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import optim, autograd
from torch.utils.data import DataLoader, TensorDataset, Dataset
from torch.optim.lr_scheduler import StepLR
from torch.nn import init
out["identity"] = [torch is ember, nn is ember.nn, F is ember.nn.functional, optim is ember.optim,
                   DataLoader is ember.utils.data.DataLoader, StepLR is ember.optim.lr_scheduler.StepLR,
                   autograd is ember.autograd, init is ember.nn.init]
out["real_torch_loaded"] = any(getattr(m, "__file__", None) and "site-packages/torch/" in m.__file__
                               for m in list(sys.modules.values()) if m is not None)
print(json.dumps(out))
"""


def _run(script):
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env,
                          cwd=os.path.dirname(os.path.abspath(__file__)) + "/..", timeout=120)


def test_install_as_torch_registers_modules():
    r = _run(INSTALL_SCRIPT)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    for name in ["torch", "torch.nn", "torch.nn.functional", "torch.optim", "torch.optim.lr_scheduler",
                 "torch.utils", "torch.utils.data", "torch.autograd"]:
        registered, modname = out[name]
        assert registered, name
        assert modname.startswith("ember"), (name, modname)
    assert all(out["identity"]), out["identity"]
    assert out["real_torch_loaded"] is False


def test_import_ember_as_torch_attributes():
    script = (
        "import ember as torch, sys\n"
        "assert 'torch' not in sys.modules\n"
        "print(all([torch.nn.functional.relu, torch.nn.init.kaiming_uniform_, torch.optim.lr_scheduler.StepLR,\n"
        "           torch.utils.data.DataLoader, torch.autograd.grad, torch.nn.utils.clip_grad_norm_,\n"
        "           torch.optim.SGD, torch.nn.Module, torch.nn.Parameter]))\n"
    )
    r = _run(script)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "True"


def test_torch_isms():
    dev = ember.device("cpu")
    assert str(dev) == "cpu" and dev.type == "cpu"
    assert ember.device("cpu") == ember.device("cpu")
    assert ember.cuda.is_available() is False
    assert ember.accelerator.is_available() is False
    assert ember.backends.mps.is_available() is False
    device = ember.device("cuda" if ember.cuda.is_available() else "cpu")
    x = ember.ones(2, 3).to(device)
    assert str(x.device) == "cpu"
    model = enn.Linear(3, 1).to(device)
    assert str(model.weight.device) == "cpu"
    assert ember.set_default_device("cpu") is None
    n = ember.get_num_threads()
    assert isinstance(n, int) and n >= 1
    ember.set_num_threads(1)
    assert ember.get_num_threads() == 1
    ember.set_num_threads(n)
    assert ember.is_tensor(x) and not ember.is_tensor(np.ones(2)) and not ember.is_tensor([1.0])
    assert ember.is_tensor(enn.Parameter(ember.ones(1)))
    assert ember.numel(x) == 6 == ember.numel(ember.zeros(2, 3))
    assert isinstance(ember.numel(x), int)
