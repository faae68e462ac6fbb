"""`python -m ember PROGRAM.py [args]`: small torch programs written to tmp_path run once with the real
torch (`python PROGRAM.py`) and once on ember (`python -m ember PROGRAM.py`); their output must agree
(numbers to float32 rounding, all other text exactly), as must argv, __file__, __name__, sys.path[0],
exit codes and tracebacks. Every run is a fresh process, started together and collected at the end.
"""
import os
import re
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("torch")

NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?|\b(?:nan|inf)\b")

PROGRAMS = {
    # a tutorial-style training run: deterministic data and weights (ember's RNG stream is not torch's)
    "train.py": r'''
        import math
        import sys
        import numpy as np
        import torch
        import torch.nn as nn
        import torch.nn.functional as F
        import torch.backends.cudnn as cudnn
        from torch.optim.lr_scheduler import StepLR
        from torch.utils.data import DataLoader, TensorDataset
        from torch.autograd import Variable
        from torch.testing import assert_close

        cudnn.benchmark = True
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        print("device", device, repr(device), torch.cuda.is_available(), torch.cuda.device_count())
        print("mps", torch.backends.mps.is_available(), "accelerator", torch.accelerator.is_available())
        if torch.__version__ >= "2.0":
            print("modern torch", torch.__version__ >= (2, 1), torch.__version__ < "3")
        rng = np.random.default_rng(0)
        X = torch.tensor(rng.standard_normal((64, 4)), dtype=torch.float32)
        y = (X.sum(dim=1, keepdim=True) > 0).float()
        print(X.shape, X.dtype, y.dtype, X.type(), y[:4].view(-1))
        model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1)).to(device)
        with torch.no_grad():
            for i, p in enumerate(model.parameters()):
                p.copy_(torch.tensor(np.linspace(-0.5, 0.5, p.numel()).reshape(tuple(p.shape)) * (-1) ** i,
                                     dtype=torch.float32))
        opt = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
        sched = StepLR(opt, step_size=2, gamma=0.5)
        loader = DataLoader(TensorDataset(X, y), batch_size=16, shuffle=False)
        for epoch in range(4):
            total = 0.0
            for xb, yb in loader:
                xb, yb = Variable(xb.to(device)), yb.to(device)
                loss = F.binary_cross_entropy_with_logits(model(xb), yb)
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += loss.item() * len(xb)
            sched.step()
            print(f"epoch {epoch} loss {total / len(X):.5f} lr {sched.get_last_lr()[0]:.4f}")
        with torch.no_grad():
            acc = ((model(X) > 0).float() == y).float().mean()
        print("accuracy", acc, acc.item() > 0.5)
        w = model[0].weight
        print(w.shape, w.dtype, w.requires_grad, isinstance(w, torch.FloatTensor), w.type())
        torch.set_printoptions(precision=2)
        print(model[0].bias.detach())
        torch.set_printoptions(profile="default")
        print(torch.FloatTensor([1, 2]), torch.LongTensor([3]), torch.zeros(2).new_ones(3, dtype=torch.int64))
        print(torch.tensor([1.0, 2.0]) * np.array([2.0, 3.0]))
        assert_close(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.0 + 1e-7]))
        try:
            assert_close(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.5]))
        except AssertionError as e:
            print("assert_close:", str(e).splitlines()[0])
        try:
            torch.zeros(2).cuda()
        except AssertionError as e:
            print("cuda:", e)
        torch.set_default_dtype(torch.float64)
        print(torch.tensor([1.5]).dtype, torch.zeros(1).dtype, torch.tensor([1.5], dtype=torch.float32))
        print("done", math.isfinite(total))
    ''',
    "argv.py": r'''
        import os, sys
        print(sys.argv)
        print(__name__, __file__ == os.path.abspath(__file__), os.path.basename(__file__))
        print(os.path.realpath(sys.path[0]) == os.path.dirname(os.path.realpath(__file__)))
        import helper_mod  # next to the program: found through sys.path[0]
        print(helper_mod.VALUE)
        if len(sys.argv) > 1 and sys.argv[1] == "exit":
            sys.exit(int(sys.argv[2]))
        if len(sys.argv) > 1 and sys.argv[1] == "message":
            sys.exit("leaving with a message")
        if len(sys.argv) > 1 and sys.argv[1] == "raise":
            import torch

            def inner():
                raise ValueError("boom " + str(torch.ones(2)))
            inner()
        print("end")
    ''',
    "imports.py": r'''
        import sys
        import torch
        import torch.nn as nn
        import torch.nn.functional as F
        import torch.nn.init as init
        import torch.nn.utils
        import torch.optim as optim
        import torch.optim.lr_scheduler
        import torch.utils.data
        import torch.autograd
        import torch.testing
        import torch.cuda
        import torch.backends
        import torch.backends.cudnn
        import torch.backends.mps
        import torch.version
        from torch.optim.lr_scheduler import StepLR
        from torch.utils.data import DataLoader, Dataset, TensorDataset
        from torch.nn.utils import clip_grad_norm_
        from torch.autograd import Variable, grad
        from torch.testing import assert_close
        from torch import nn as nn2, optim as optim2
        print(nn is nn2, optim is optim2, F.relu is torch.nn.functional.relu,
              torch.testing.assert_close is assert_close)
        print(torch.version.cuda, torch.backends.cudnn.enabled, torch.cuda.is_available())
        try:
            import torch.distributed_does_not_exist
        except ModuleNotFoundError as e:
            print(type(e).__name__, e)
        real = [n for n, m in list(sys.modules.items())
                if m is not None and "site-packages/torch/" in (getattr(m, "__file__", "") or "")]
        print("real torch modules:", real if "ember" in sys.modules else [])
    ''',
    "helper_mod.py": "VALUE = 42\n",
    "interrupt.py": "import sys\nraise KeyboardInterrupt\n",
}


def _env():
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env["PYTHONHASHSEED"] = "0"
    env["OMP_NUM_THREADS"] = "1"
    return env


RUNS = {  # name: (program, args)
    "train": ("train.py", []),
    "argv": ("argv.py", ["a", "--flag", "x y"]),
    "argv_relative": ("argv.py", ["b"]),  # run from the program's directory as `python argv.py b`
    "exit3": ("argv.py", ["exit", "3"]),
    "message": ("argv.py", ["message"]),
    "raise": ("argv.py", ["raise"]),
    "imports": ("imports.py", []),
    "interrupt": ("interrupt.py", []),
}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("progs")
    for name, text in PROGRAMS.items():
        (root / name).write_text(textwrap.dedent(text))
    cwd = tmp_path_factory.mktemp("cwd")
    procs = {}
    for key, (prog, args) in RUNS.items():
        relative = key.endswith("_relative")
        path = prog if relative else str(root / prog)
        for backend, cmd in (("torch", [sys.executable, path]), ("ember", [sys.executable, "-m", "ember", path])):
            procs[key, backend] = subprocess.Popen(cmd + args, cwd=str(root if relative else cwd), env=_env(),
                                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    extra = {
        "missing": [sys.executable, "-m", "ember", str(root / "no_such_program.py")],
        "usage": [sys.executable, "-m", "ember"],
        "dash_c": [sys.executable, "-m", "ember", "-c",
                   "import sys, torch, torch.nn as nn; print(sys.argv, __name__, torch.ones(2).type(), "
                   "nn.Linear(2, 1).weight.shape)", "arg1"],
        "dash_m": [sys.executable, "-m", "ember", "-m", "argv", "p", "q"],
    }
    for key, cmd in extra.items():
        procs[key, "ember"] = subprocess.Popen(cmd, cwd=str(root) if key == "dash_m" else str(cwd), env=_env(),
                                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out = {}
    for key, p in procs.items():
        stdout, stderr = p.communicate(timeout=300)
        out[key] = (p.returncode, stdout, stderr)
    out["root"] = str(root)
    return out


def _numbers_close(a, b, rtol=1e-4):
    if a in ("nan", "inf") or b in ("nan", "inf"):
        return a == b
    if re.fullmatch(r"[-+]?\d+", a) and re.fullmatch(r"[-+]?\d+", b):
        return int(a) == int(b)
    decimals = max(len(s.lower().partition("e")[0].partition(".")[2]) for s in (a, b))
    x, y = float(a), float(b)
    return abs(x - y) <= rtol * max(abs(x), abs(y)) + 1.01 * 10.0 ** -decimals


def compare(expected, actual):
    """Mismatches between torch's and ember's output: the text must be identical, numbers close."""
    e_lines, a_lines = expected.splitlines(), actual.splitlines()
    problems = [] if len(e_lines) == len(a_lines) else [f"line count {len(e_lines)} != {len(a_lines)}"]
    for i, (le, la) in enumerate(zip(e_lines, a_lines)):
        ne, na = NUMBER.findall(le), NUMBER.findall(la)
        if NUMBER.sub("#", le) != NUMBER.sub("#", la) or len(ne) != len(na):
            problems.append(f"line {i + 1}:\n  torch: {le}\n  ember: {la}")
        elif not all(_numbers_close(x, y) for x, y in zip(ne, na)):
            problems.append(f"line {i + 1} numbers:\n  torch: {le}\n  ember: {la}")
    return problems


def test_compare_helper_catches_differences():
    assert compare("loss 0.12345 torch.float32\n", "loss 0.12346 torch.float32\n") == []
    assert compare("x torch.float32\n", "x ember.float32\n")
    assert compare("loss 0.50\n", "loss 0.60\n") and compare("a\nb\n", "a\n")


def _both(results, key):
    (rc_t, out_t, err_t), (rc_e, out_e, err_e) = results[key, "torch"], results[key, "ember"]
    return (rc_t, out_t, err_t), (rc_e, out_e, err_e)


def test_training_program_prints_torchs_output(results):
    (rc_t, out_t, err_t), (rc_e, out_e, err_e) = _both(results, "train")
    assert rc_t == 0, err_t
    assert rc_e == 0, err_e[-3000:]
    assert "epoch 3 loss" in out_t and "torch.float32" in out_e and "device cpu device(type='cpu')" in out_e
    problems = compare(out_t, out_e)
    assert not problems, "\n".join(problems)


def test_argv_file_name_and_path_as_python_sets_them(results):
    (rc_t, out_t, _), (rc_e, out_e, err_e) = _both(results, "argv")
    assert rc_t == 0 and rc_e == 0, err_e
    assert out_e == out_t
    assert out_e.splitlines()[0].endswith(", 'a', '--flag', 'x y']")
    assert out_e.splitlines()[1:] == ["__main__ True argv.py", "True", "42", "end"]
    (rc_t, out_t, _), (rc_e, out_e, err_e) = _both(results, "argv_relative")
    assert rc_t == 0 and rc_e == 0, err_e
    assert out_e == out_t and out_e.splitlines()[0] == "['argv.py', 'b']"  # argv[0] as given, __file__ absolute


@pytest.mark.parametrize("key,code", [("argv", 0), ("exit3", 3), ("message", 1), ("raise", 1)])
def test_exit_status_and_stderr_as_python(results, key, code):
    (rc_t, out_t, err_t), (rc_e, out_e, err_e) = _both(results, key)
    assert rc_t == code and rc_e == code
    assert out_e == out_t
    assert err_e == err_t  # same traceback: program frames only, nothing of the runner or runpy


def test_traceback_starts_at_the_program(results):
    _, err = results["raise", "ember"][1:]
    assert err.startswith("Traceback (most recent call last):\n")
    assert "argv.py" in err and "in inner" in err and err.rstrip().endswith("ValueError: boom tensor([1., 1.])")
    assert "runpy" not in err and "__main__.py" not in err


def test_keyboard_interrupt_exits_like_python(results):
    (rc_t, _, err_t), (rc_e, _, err_e) = _both(results, "interrupt")
    assert rc_e == rc_t and rc_t in (-2, 130)
    assert err_e == err_t


def test_torch_submodules_resolve_to_ember(results):
    (rc_t, out_t, err_t), (rc_e, out_e, err_e) = _both(results, "imports")
    assert rc_t == 0, err_t
    assert rc_e == 0, err_e
    assert out_e == out_t
    assert "No module named 'torch.distributed_does_not_exist'" in out_e
    assert out_e.splitlines()[-1] == "real torch modules: []"


def test_missing_program_and_usage(results):
    rc, out, err = results["missing", "ember"]
    assert rc == 2 and "can't open file" in err and "no_such_program.py" in err and "[Errno 2]" in err
    rc, out, err = results["usage", "ember"]
    assert rc == 2 and "usage: python -m ember PROGRAM.py" in err


def test_dash_c_and_dash_m_modes(results):
    rc, out, err = results["dash_c", "ember"]
    assert rc == 0, err
    assert out.strip() == "['-c', 'arg1'] __main__ torch.FloatTensor torch.Size([1, 2])"
    rc, out, err = results["dash_m", "ember"]
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[0] == repr([os.path.join(results["root"], "argv.py"), "p", "q"]) and lines[-1] == "end"


def test_install_as_torch_registers_every_submodule():
    script = textwrap.dedent('''
        import sys, ember
        ember.install_as_torch()
        import torch
        missing = [n for n, m in list(sys.modules.items()) if n.startswith("ember.") and n != "ember.__main__"
                   and sys.modules.get("torch" + n[5:]) is not m]
        print(torch is ember, missing)
        import torch.backends.cudnn as cudnn, torch.nn.functional as F
        from torch.optim.lr_scheduler import StepLR
        print(cudnn is ember.backends.cudnn, F is ember.nn.functional, StepLR is ember.optim.lr_scheduler.StepLR)
        print(torch.float64, torch.Size([2]), torch.ones(1).type(), repr(torch.FloatTensor), torch.device)
        print(ember._tensor_str.__spec__.name, torch._tensor_str.PRINT_OPTS.precision)
        del sys.modules["torch.nn.init"]  # not registered: the import hook maps it to ember.nn.init
        import torch.nn.init as again
        print(again is ember.nn.init, again.__spec__.name, sys.modules["torch.nn.init"] is again)
    ''')
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=_env(), timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        "True []", "True True True",
        "torch.float64 torch.Size([2]) torch.FloatTensor <class 'torch.FloatTensor'> <class 'torch.device'>",
        "ember._tensor_str 4", "True ember.nn.init True"]


def test_import_ember_as_torch_then_torch_submodule_is_not_ember():
    """The documented pitfall: `import ember as torch` binds a name only; `import torch.nn` goes to the real torch."""
    script = "import ember as torch\nimport torch.nn\nprint(torch.nn.__name__, 'ember' in torch.__name__)\n"
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=_env(), timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "torch.nn False"  # the real torch got imported
    assert "install_as_torch" in __import__("ember.__main__").__main__.__doc__
