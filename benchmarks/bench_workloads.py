"""pytest-benchmark view of the suite: each workload and micro-benchmark in each flavour, grouped
so ember / torch / numpy of one workload sit side by side.

    pytest benchmarks/ --benchmark-group-by=group          # full
    EMBER_BENCH_QUICK=1 pytest benchmarks/                   # smoke (what CI runs)
"""
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import micro  # noqa: E402
import workloads  # noqa: E402

QUICK = os.environ.get("EMBER_BENCH_QUICK") == "1"
FLAVORS = [f for f in ("ember", "torch", "numpy") if workloads.available(f)]
WIDS = ["W1", "W1b", "W2", "W3", "W6", "W7"] if QUICK else list(workloads.WORKLOADS)


@pytest.mark.parametrize("flavor", FLAVORS)
@pytest.mark.parametrize("wid", WIDS)
def test_workload(benchmark, wid, flavor):
    benchmark.group = wid
    run = workloads.build(wid, flavor, quick=QUICK)
    benchmark.pedantic(run.steps, rounds=1 if QUICK else 3, iterations=1, warmup_rounds=0 if QUICK else 1)
    # the flavours compute the same thing: same loss as the numpy reference after the same steps
    if workloads.SPECS[wid].get("check_fresh"):  # chaotic after one pass: compare fresh runs
        ref = workloads.fresh_loss(wid, "numpy", QUICK)
        assert workloads.fresh_loss(wid, flavor, QUICK) == pytest.approx(ref, rel=1e-2)
        return
    ref = workloads.build(wid, "numpy", quick=QUICK)
    for _ in range(1 if QUICK else 4):
        ref.steps()
    assert run.loss() == pytest.approx(ref.loss(), rel=1e-2)


@pytest.mark.parametrize("flavor", FLAVORS)
@pytest.mark.parametrize("name", list(micro.MICRO))
def test_micro(benchmark, name, flavor):
    fn = micro.micro_callable(name, flavor)
    if fn is None:
        pytest.skip(f"{flavor} has no analogue of {name}")
    benchmark.group = "micro-" + name
    benchmark.pedantic(fn, rounds=20 if QUICK else 2000, iterations=10, warmup_rounds=1)


@pytest.mark.parametrize("wid", ["W1", "W2", "W5"])
def test_compiled_flavours_train_as_eager(wid):
    """compiled.py's ember-compiled (model = ember.compile(model)) and ember-step (the loop body
    compiled) flavours reach eager ember's loss exactly, replaying (Note [Capture])."""
    import compiled
    eager, comp, step = (compiled.build(wid, f, quick=True) for f in ("ember", "ember-compiled", "ember-step"))
    assert type(comp.model).__name__ == "OptimizedModule"
    for r in (eager, comp, step):
        r.steps()
    assert comp.loss() == eager.loss() == step.loss()
    assert step.step._ember_capture.replays > 0


def test_loader_workers_flavours_train_alike():
    """loader_workers.py: with two workers ember's loop sees the batches it sees in the main process,
    in the same order, so it ends on the same loss. (Persistent workers draw their base seed once, not
    every epoch, so from the second epoch on their shuffle order differs, as torch's does.)"""
    import loader_workers
    runs = [loader_workers.one(f, 10, 1, 128) for f in ("ember-w0", "ember-w2", "ember-w2-persistent")]
    assert runs[0]["loss"] == runs[1]["loss"] and runs[0]["batches"] == runs[2]["batches"] == 4
    assert runs[2]["loss"] == loader_workers.one("ember-w2-persistent", 10, 1, 128)["loss"]


def test_ensemble_and_per_sample_flavours_agree():
    """ensemble.py: ember's batched vmap step and its loop of 64 models start from the same loss;
    per_sample_grads.py: ember.func's per-sample gradients are its per-sample loop's."""
    import ensemble
    import per_sample_grads
    losses = [ensemble.build(f, 2).step() for f in ("ember-loop", "ember-vmap")]
    assert abs(losses[0] - losses[1]) < 1e-5 * abs(losses[0])
    loop, func = (per_sample_grads.Flavour(f).run() for f in ("ember-loop", "ember-func"))
    for k in loop:
        assert np.allclose(func[k].numpy(), loop[k].numpy(), rtol=1e-3, atol=1e-5), k
