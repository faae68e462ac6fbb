"""The torch-tutorial-style programs in examples/ and the reference lab, run twice in fresh
processes: with real torch and with ember installed as torch; their printed output must agree.

Numbers are compared to a relative 1e-4 (float32 rounding) plus one unit of the printed last
digit; the remaining text must be identical once 'torch' is read as 'ember'.
"""
import math
import os
import re
import subprocess
import sys

import pytest

pytest.importorskip("torch")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")
LAB = os.path.abspath(os.path.join(ROOT, "..", "shared", "examples", "optimization_lab.py"))
OWN = ["logistic_regression.py", "softmax_classifier.py", "mlp_momentum.py", "adam_steplr.py",
       "save_resume.py", "lenet.py", "char_lstm.py", "tiny_gpt.py"]

EMBER_RUNNER = (
    "import os, runpy, sys\n"
    "import ember\n"
    "ember.install_as_torch()\n"
    "path = sys.argv[1]\n"
    "sys.argv = [path]\n"
    "runpy.run_path(path, run_name='__main__')\n"
    "f = getattr(sys.modules['torch'], '__file__', '') or ''\n"
    "assert os.sep + 'torch' + os.sep not in f, 'the real torch was imported: ' + f\n"
)

NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?|\b(?:nan|inf)\b")


def _programs():
    progs = [os.path.join(EXAMPLES, name) for name in OWN]
    if os.path.exists(LAB):
        progs.append(LAB)
    # any other torch-style program someone drops into examples/
    for name in sorted(os.listdir(EXAMPLES)) if os.path.isdir(EXAMPLES) else []:
        path = os.path.join(EXAMPLES, name)
        duplicate_of_lab = name == os.path.basename(LAB) and os.path.exists(LAB)
        if name.endswith(".py") and name not in OWN and not duplicate_of_lab:
            with open(path) as f:
                if re.search(r"^\s*(import torch|from torch)", f.read(), re.M):
                    progs.append(path)
    return progs


PROGRAMS = _programs()


def _env():
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env["PYTHONHASHSEED"] = "0"
    env["OMP_NUM_THREADS"] = "1"
    return env


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    """Start every run at once (they are independent processes), then collect them."""
    cwd = str(tmp_path_factory.mktemp("examples"))
    procs = {}
    for path in PROGRAMS:
        procs[path, "torch"] = subprocess.Popen([sys.executable, path], cwd=cwd, env=_env(),
                                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        procs[path, "ember"] = subprocess.Popen([sys.executable, "-c", EMBER_RUNNER, path], cwd=cwd,
                                                env=_env(), stdout=subprocess.PIPE,
                                                stderr=subprocess.PIPE, text=True)
    results = {}
    for key, p in procs.items():
        out, err = p.communicate(timeout=300)
        results[key] = (p.returncode, out, err)
    return results


def _resolution(token):
    """One unit of the last printed digit of a number token."""
    mant, _, exp = token.lower().partition("e")
    decimals = len(mant.split(".")[1]) if "." in mant else 0
    return 10.0 ** (-decimals + (int(exp) if exp else 0))


def _numbers_close(a, b, rtol=1e-4):
    if a in ("nan", "inf") or b in ("nan", "inf"):
        return a == b
    is_int = lambda s: re.fullmatch(r"[-+]?\d+", s) is not None  # noqa: E731
    if is_int(a) and is_int(b):
        return int(a) == int(b)
    x, y = float(a), float(b)
    tol = rtol * max(abs(x), abs(y)) + 1.01 * max(_resolution(a), _resolution(b))
    return abs(x - y) <= tol


def compare_outputs(expected, actual, rtol=1e-4):
    """Return a list of human-readable mismatches between torch's and ember's outputs."""
    exp_lines = expected.splitlines()  # under install_as_torch ember prints torch.float32 / torch.Size
    act_lines = actual.splitlines()
    problems = []
    if len(exp_lines) != len(act_lines):
        problems.append(f"line count differs: torch {len(exp_lines)}, ember {len(act_lines)}")
    for i, (le, la) in enumerate(zip(exp_lines, act_lines)):
        ne, na = NUMBER.findall(le), NUMBER.findall(la)
        te, ta = NUMBER.sub("#", le), NUMBER.sub("#", la)
        if te != ta or len(ne) != len(na):
            problems.append(f"line {i + 1} text differs:\n  torch: {le}\n  ember: {la}")
            continue
        bad = [(x, y) for x, y in zip(ne, na) if not _numbers_close(x, y, rtol)]
        if bad:
            problems.append(f"line {i + 1} numbers differ {bad}:\n  torch: {le}\n  ember: {la}")
    return problems


def test_compare_outputs_self_check():
    assert compare_outputs("loss 0.123456 torch.float32\n", "loss 0.123457 torch.float32\n") == []
    assert compare_outputs("loss 0.123456 torch.float32\n", "loss 0.123456 ember.float32\n")  # ember runs as torch
    assert compare_outputs("epoch 3 loss 1.5e-05\n", "epoch 3 loss 1.5e-05\n") == []
    assert compare_outputs("epoch 3 loss 0.5\n", "epoch 4 loss 0.5\n")
    assert compare_outputs("loss 0.123456\n", "loss 0.123999\n")
    assert compare_outputs("a\nb\n", "a\n")
    assert compare_outputs("tensor([[0.5000]])\n", "array([[0.5000]])\n")


@pytest.mark.parametrize("path", PROGRAMS, ids=[os.path.basename(p) for p in PROGRAMS])
def test_program_matches_torch(outputs, path):
    rc_t, out_t, err_t = outputs[path, "torch"]
    assert rc_t == 0, f"the program fails under real torch:\n{err_t}"
    assert out_t.strip(), "the program printed nothing under torch"
    rc_e, out_e, err_e = outputs[path, "ember"]
    assert rc_e == 0, f"the program fails under ember:\n{err_e[-3000:]}"
    problems = compare_outputs(out_t, out_e)
    assert not problems, "\n".join(problems[:15])


def test_own_examples_exist():
    for name in OWN:
        assert os.path.exists(os.path.join(EXAMPLES, name)), name


def test_save_resume_reports_identical_runs(outputs):
    path = os.path.join(EXAMPLES, "save_resume.py")
    for backend in ("torch", "ember"):
        rc, out, err = outputs[path, backend]
        assert rc == 0, err[-3000:]
        lines = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
        assert lines["uninterrupted"].split() == lines["resumed"].split(), backend
        assert lines["identical"].strip() == "True", backend
