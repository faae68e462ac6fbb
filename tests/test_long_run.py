"""A short scripts/long_run.py (imported, not copied): RSS flat after warm-up over 30k training steps
with the cyclic GC disabled, and each step's graph freed by reference counting alone."""
import importlib.util
import os

import pytest

_path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts", "long_run.py")
_spec = importlib.util.spec_from_file_location("long_run", _path)
long_run = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(long_run)

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs /proc (Linux)")


def test_rss_flat_and_no_cyclic_garbage():
    r = long_run.train(steps=30000, warmup=10000, every=5000, hidden=16, log=lambda s: None)
    rss = [s[1] for s in r["samples"]]
    assert len(rss) == 5
    assert r["growth_kb"] < 1024, f"VmRSS grew {r['growth_kb']} kB after warm-up: {rss}"
    assert max(rss) - rss[0] < 1024, rss
    assert len({s[2] for s in r["samples"]}) == 1, f"live tensors changed: {[s[2] for s in r['samples']]}"
    ember_garbage = {k: v for k, v in r["garbage"].items() if k.startswith("ember")}
    assert not ember_garbage and sum(r["garbage"].values()) <= 50, r["garbage"]
    assert r["loss"] < 0.5  # it trained


def test_graph_freed_without_cyclic_gc():
    assert long_run.graph_freed_checks() == []
