"""The generated documentation and type stubs stay in sync with the code; mypy sees ember's types.

- docs/api.md and src/ember/_C.pyi are regenerated in memory (in a fresh interpreter, so nothing another test
  attached to ember leaks in) and compared with the checked-in files;
- mypy, on a small program, sees the Tensor types the stubs give (and flags a misspelt keyword), and finds
  no error in the stubs themselves;
- the stubs and py.typed ship in the wheel;
- docs/architecture.md names only files that exist, and the Note [...] blocks it points to are where it says;
- scripts/coverage.py's exclusion rules all carry a reason and its measurement has the promised shape.
"""
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "scripts"


def _run_check(script):
    return subprocess.run([sys.executable, str(SCRIPTS / script), "--check"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def test_api_docs_in_sync():
    r = _run_check("gen_api_docs.py")
    assert r.returncode == 0, f"docs/api.md differs from a fresh run: run python scripts/gen_api_docs.py\n{r.stderr}"


def test_stubs_in_sync():
    r = _run_check("gen_stubs.py")
    assert r.returncode == 0, f"src/ember/_C.pyi differs from a fresh run: run python scripts/gen_stubs.py\n{r.stderr}"


def test_stub_and_marker_ship_in_the_wheel():
    """scikit-build-core copies every file of wheel.packages that git does not ignore and wheel.exclude does not
    match, so _C.pyi and py.typed need only: src/ember in wheel.packages, no exclusion, not git-ignored."""
    stub, marker = ROOT / "src/ember/_C.pyi", ROOT / "src/ember/py.typed"
    assert stub.is_file() and marker.is_file()
    try:
        import tomllib
    except ImportError:  # Python < 3.11
        tomllib = pytest.importorskip("tomli")
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["scikit-build"]
    wheel = cfg.get("wheel", {})
    packages = wheel.get("packages", cfg.get("wheel.packages"))
    assert "src/ember" in packages
    for pat in wheel.get("exclude", []):
        for f in ("ember/_C.pyi", "ember/py.typed"):
            assert not Path(f).match(pat), f"wheel.exclude pattern {pat!r} drops {f}"
    if shutil.which("git") and (ROOT / ".git").exists():
        for f in (stub, marker):
            r = subprocess.run(["git", "check-ignore", "-q", str(f)], cwd=ROOT)
            assert r.returncode == 1, f"git ignores {f.name}, so the wheel would leave it out"


# --------------------------------------------------------------------------------------------- mypy
PROGRAM = """\
import ember
t = ember.tensor([1.0])
reveal_type(t)
y = t.sum(dim=0, keepdim=True)
reveal_type(y)
u: ember.Tensor = ember.zeros(3)
reveal_type(u.sum(dim=0, keepdim=True))
reveal_type(u.max(dim=0))
reveal_type(u.max(dim=0).indices)
reveal_type(u.equal(u))
reveal_type(u.shape)
reveal_type(u + 1)
reveal_type(u.view(3, 1))
reveal_type(u.size(0))
reveal_type(u.dtype)
u.sum(dimm=0)
"""


@pytest.fixture(scope="module")
def mypy_report():
    pytest.importorskip("mypy", reason="mypy is in the test extra: pip install '.[test]'")
    work = Path(tempfile.mkdtemp(prefix="ember-mypy-"))
    (work / "prog.py").write_text(PROGRAM)
    cache = Path(tempfile.gettempdir()) / "ember-mypy-cache"
    env = dict(os.environ, MYPYPATH=str(ROOT / "src"))
    r = subprocess.run([sys.executable, "-m", "mypy", "--follow-imports=silent", "--cache-dir", str(cache),
                        "--no-error-summary", "--hide-error-context", "prog.py", str(ROOT / "src/ember/_C.pyi")],
                       cwd=work, env=env, capture_output=True, text=True, timeout=300)
    shutil.rmtree(work, ignore_errors=True)
    out = r.stdout + r.stderr
    revealed = {}
    for line in out.splitlines():
        m = re.match(r"prog\.py:(\d+): note: Revealed type is \"(.*)\"", line)
        if m:
            revealed[int(m.group(1))] = m.group(2)
    return out, revealed


def _line(snippet):
    return next(i for i, ln in enumerate(PROGRAM.splitlines(), 1) if ln.startswith(snippet))


def test_mypy_sees_the_stub_types(mypy_report):
    out, revealed = mypy_report
    want = {
        "reveal_type(u.sum(": "ember._C.Tensor",
        "reveal_type(u.max(dim=0))": "_ret_max",  # the named tuple (values, indices)
        "reveal_type(u.max(dim=0).indices)": "ember._C.Tensor",
        "reveal_type(u.equal(": "bool",
        "reveal_type(u.shape)": "ember._tensor.Size",
        "reveal_type(u + 1)": "ember._C.Tensor",
        "reveal_type(u.view(": "ember._C.Tensor",
        "reveal_type(u.size(0))": "int",
        "reveal_type(u.dtype)": "ember._C.dtype",
    }
    for snippet, typ in want.items():
        got = revealed.get(_line(snippet))
        assert got is not None and typ in got, f"{snippet}: mypy says {got!r}, expected {typ}\n{out}"
    # parameter names come from the schemas: a misspelt keyword is an error
    assert re.search(rf"prog\.py:{_line('u.sum(dimm')}: error: Unexpected keyword argument \"dimm\"", out), out
    errors = [ln for ln in out.splitlines() if ": error:" in ln and "dimm" not in ln]
    assert not errors, "mypy finds errors (in _C.pyi: fix scripts/gen_stubs.py):\n" + "\n".join(errors)


def test_mypy_sees_a_factory_result_as_tensor(mypy_report):
    out, revealed = mypy_report
    for snippet in ("reveal_type(t)", "reveal_type(y)"):
        got = revealed.get(_line(snippet))
        assert got == "ember._C.Tensor", f"{snippet}: mypy says {got!r}\n{out}"


# --------------------------------------------------------------------------------------------- architecture.md
def test_architecture_names_existing_files_and_notes():
    text = (ROOT / "docs/architecture.md").read_text()
    paths = set(re.findall(r"`((?:cpp|src|tests|scripts|benchmarks|docs|examples|\.ci)/[\w./*-]+)`", text))
    assert paths, "architecture.md names no files?"
    for p in sorted(paths):
        if "*" in p:
            assert list(ROOT.glob(p)), f"architecture.md: no file matches {p}"
        else:
            assert (ROOT / p.rstrip("/")).exists(), f"architecture.md names {p}, which does not exist"
    # the table of Notes: "| Note [Name] | `path` | ..." -- the note is in that file
    notes = re.findall(r"^\| Note \[([^\]]+)\] \| `([\w./-]+)` \|", text, re.M)
    assert len(notes) >= 5, "architecture.md's table of Notes is missing"
    for note, path in notes:
        body = (ROOT / path).read_text()
        assert f"Note [{note}]" in body, f"architecture.md places Note [{note}] in {path}, but it is not there"


def test_docs_links_stay_in_the_repository():
    for md in sorted((ROOT / "docs").glob("*.md")):
        for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", md.read_text()):
            if re.match(r"^[a-z]+://", target):
                continue
            resolved = (md.parent / target).resolve()
            assert ROOT in resolved.parents or resolved == ROOT, f"{md.name} links outside the repository: {target}"
            assert resolved.exists(), f"{md.name} links to a missing file: {target}"


# --------------------------------------------------------------------------------------------- coverage.py
def _coverage_module():
    spec = importlib.util.spec_from_file_location("ember_coverage_script", SCRIPTS / "coverage.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_coverage_rules_and_shape():
    pytest.importorskip("torch")
    cov = _coverage_module()
    for reason, pattern, _mods in cov.EXCLUDE:
        assert reason and pattern
        re.compile(pattern)
    assert cov.exclusion("torch", "lstm_cell")
    assert not cov.exclusion("torch.nn", "Conv2d") and not cov.exclusion("torch.nn", "LSTM")
    assert not cov.exclusion("torch.nn", "Unfold") and not cov.exclusion("torch.nn.functional", "fold")
    assert cov.exclusion("torch", "_foo") and not cov.exclusion("torch", "add")
    r = cov.measure("torch.nn.init", "ember.nn.init", cov.EmberSigs())
    assert r["total"] >= r["present"] >= r["keyword_compatible"] >= 0
    assert set(r["missing"]).isdisjoint(r["keyword_mismatch"])
    assert r["present"] == r["total"] - len(r["missing"])
    md = cov.markdown({"torch_version": "x", "modules": [r], "all": {k: r[k] for k in ("total", "present",
                                                                                    "keyword_compatible")},
                       "exclusion_rules": []})
    assert "| `torch.nn.init` |" in md
