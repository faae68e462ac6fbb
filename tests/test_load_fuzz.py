"""ember.load against hostile and corrupted files: a short deterministic run of scripts/fuzz_load.py
(its generator and checker are imported from there, not copied), plus a regression test per bug the
fuzzer found (all fixed; a new one goes in KNOWN_BUG_CATEGORIES with a strict xfail until fixed)."""
import importlib.util
import io
import os
import pickle
import struct
import subprocess
import sys

import numpy as np
import pytest

import ember

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "scripts", "fuzz_load.py")
_spec = importlib.util.spec_from_file_location("fuzz_load", SCRIPT)
fz = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fz)

# Violation categories the bugs below produce; the short run tolerates them (and only them).
KNOWN_BUG_CATEGORIES = []


@pytest.fixture(scope="module")
def gen(tmp_path_factory):
    g = fz.Generator(0, str(tmp_path_factory.mktemp("fuzz") / "pwned"), prime_ext_cache=False)
    yield g
    g.close()


@pytest.fixture(scope="module")
def checker(gen):
    return fz.Checker(gen.sentinel, audit=False)  # the subprocess run below audits; no hook in pytest


def _load(data):
    return ember.load(io.BytesIO(data))


def test_short_fuzz_run():
    """3000 inputs: every hostile payload (with the audit hook and sentinel), every valid file,
    every 10th truncation, ~1500 random cases; in a worker process with crash/hang detection."""
    cmd = [sys.executable, SCRIPT, "--n", "3000", "--seed", "0", "--truncate-stride", "10", "--timeout", "30",
           "--no-prime-ext-cache"]  # test_extension_cache_does_not_bypass_allowlist
    for c in KNOWN_BUG_CATEGORIES:
        cmd += ["--ignore", c]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert "inputs=3000" in r.stdout


def test_valid_files_round_trip(gen, checker):
    bad = []
    for k in range(len(gen.corpus)):
        case = gen.case(len(gen.hostile) + k)
        outcome, _, v = checker.run(case)
        if outcome != "loaded" or v:
            bad.append((case.name, outcome, v))
    assert not bad


def test_hostile_files_refused_and_nothing_runs(gen, checker):
    bad = []
    for k, (name, data, expect) in enumerate(gen.hostile):
        if name.startswith("memo-bomb"):
            continue  # test_memo_index_does_not_allocate
        case = gen.case(k)
        outcome, _, v = checker.run(case)
        v = [x for x in v if x[0] not in KNOWN_BUG_CATEGORIES]
        if v or (expect == "reject" and outcome == "loaded"):
            bad.append((name, outcome, v))
    assert not bad
    assert not os.path.exists(gen.sentinel)


def test_every_truncation_of_a_state_dict_fails_cleanly(gen, checker):
    k = [n for n, _, _ in gen.corpus].index("state_dict-adam")
    data = gen.corpus[k][2]
    for n in range(len(data)):
        outcome, _, v = checker.run(fz.Case(n, "truncate", "adam", data[:n], "reject"))
        assert not v, (n, outcome, v)


# --------------------------------------------------------------------- bugs the fuzzer found (regressions)

F = struct.pack("<f", 1.0) * 2
RT = ("ember.serialization", "_rebuild_tensor")


def test_bool_tensor_bytes_other_than_0_1():
    data = fz.p_file(fz.Call(*RT, (b"\x02\x01\x00\xff", "bool", (4,), False)))
    try:
        t = _load(data)
    except (pickle.UnpicklingError, RuntimeError):
        return
    # read the bytes through numpy: any ember kernel on such a tensor is UB (UBSan aborts)
    assert (t.numpy().view(np.uint8) <= 1).all(), t.numpy().view(np.uint8)


def test_build_state_on_tensor_refused():
    data = fz.p_file(fz.Call(*RT, (F, "float32", (2,), False),
                             state=(None, {"tolist": fz.Call("collections", "OrderedDict", ())})))
    with pytest.raises(pickle.UnpicklingError):
        _load(data)


_MEMO_CHILD = r"""
import io, struct, tracemalloc
import ember
data = b"EMBER-SAVE-1\n\x80\x04N" + b"r" + struct.pack("<I", 2 ** 24) + b"."
tracemalloc.start()  # counts the unpickler's PyMem allocations (RSS would not under ASan)
try:
    ember.load(io.BytesIO(data))
except Exception:
    pass
print(tracemalloc.get_traced_memory()[1] // 2 ** 20)
"""


def test_memo_index_does_not_allocate():
    r = subprocess.run([sys.executable, "-c", _MEMO_CHILD], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert int(r.stdout.split()[-1]) < 16, f"{r.stdout.strip()} MB allocated for a 23-byte file"


@pytest.mark.parametrize("obj,proto", [({"w": ember.ones(2)}, 2), ({1, 2}, 3), (bytearray(b"ab"), 4), (1 + 2j, 4)],
                         ids=["bytes-p2", "set-p3", "bytearray-p4", "complex-p4"])
def test_plain_values_round_trip_at_every_protocol(obj, proto):
    b = io.BytesIO()
    ember.save(obj, b, pickle_protocol=proto)
    r = ember.load(io.BytesIO(b.getvalue()))
    assert fz.same(r, obj)


_EXT_CHILD = r"""
import copyreg, io, os, pickle, ember
copyreg.add_extension("os", "getpid", 0x7ACE)  # an application registered an extension code
data = b"\x80\x02\x83\xce\x7a)R."              # EXT2 0x7ACE, (), REDUCE: os.getpid()
pickle.loads(data)                               # and once loaded a trusted pickle that used it
try:
    r = ember.load(io.BytesIO(b"EMBER-SAVE-1\n" + data))
except pickle.UnpicklingError:
    print("refused")
else:
    print("called os.getpid" if r == os.getpid() else "loaded")
"""


def test_extension_cache_does_not_bypass_allowlist():
    r = subprocess.run([sys.executable, "-c", _EXT_CHILD], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "refused"


def test_refusal_message_not_doubled():
    with pytest.raises(pickle.UnpicklingError) as e:
        _load(fz.p_file(fz.Call("os", "system", ("true",))))
    assert str(e.value).count("ember.load") == 1, str(e.value)
