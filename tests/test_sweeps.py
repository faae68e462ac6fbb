"""Hyperparameter sweeps on existing engines with ember (examples/sweep_optuna.py and
examples/sweep_joblib.py, run as a user runs them): Optuna with pruning in one process and with
two trials at a time, joblib with two worker processes."""
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(script, *args):
    r = subprocess.run([sys.executable, os.path.join(ROOT, "examples", script), *args], capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_optuna_search_with_pruning(jobs):
    pytest.importorskip("optuna")
    out = run("sweep_optuna.py", "--trials", "12", "--jobs", jobs)
    m = re.search(r"trials=(\d+) complete=(\d+) pruned=(\d+)", out)
    assert m and int(m[1]) == 12 and int(m[2]) + int(m[3]) == 12 and int(m[2]) >= 1, out
    best = float(re.search(r"best accuracy=([\d.]+)", out)[1])
    assert best > 0.8, out


def test_joblib_seeds_in_two_processes():
    pytest.importorskip("joblib")
    out = run("sweep_joblib.py")
    accs = [float(a) for a in re.findall(r"seed=\d accuracy=([\d.]+) params=131", out)]
    assert len(accs) == 4 and min(accs) > 0.8, out
    assert re.search(r"best seed=\d", out)


def test_ray_tune_with_asha_and_checkpoint_resume(tmp_path):
    pytest.importorskip("ray.tune")
    out = run("sweep_ray.py", "--samples", "4", "--fail-once", "--storage", str(tmp_path / "ray"))
    m = re.search(r"trials=4 errors=0 epochs run=(\d+) stopped early=(\d+) resumed=(\d+)", out)
    assert m and int(m[3]) >= 1, out  # a crashed trial went on from its ember.save checkpoint
    assert float(re.search(r"best accuracy=([\d.]+)", out)[1]) > 0.8, out
    assert "best checkpoint epoch=" in out and "tensors=6" in out


@pytest.mark.parametrize("mod", ["pickle", "cloudpickle"])
def test_training_state_crosses_processes_pickled(mod):
    """What a sweep engine ships between processes: model, optimizer and scheduler together keep
    their state and their links (the optimizer still holds the model's parameters)."""
    pk = pytest.importorskip(mod)
    import ember
    m = ember.nn.Linear(3, 2)
    opt = ember.optim.Adam(m.parameters(), lr=0.1)
    sched = ember.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    for _ in range(2):
        opt.zero_grad()
        m(ember.ones(4, 3)).pow(2).sum().backward()
        opt.step()
        sched.step()
    m2, opt2, sched2 = pk.loads(pk.dumps((m, opt, sched)))
    assert opt2.param_groups[0]["params"][0] is m2.weight and sched2.optimizer is opt2
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"] == 0.025 and sched2.last_epoch == 2
    assert ember.equal(opt2.state[m2.weight]["exp_avg"], opt.state[m.weight]["exp_avg"])
    for o, mm in ((opt, m), (opt2, m2)):  # and they go on training identically
        o.zero_grad()
        mm(ember.ones(4, 3)).pow(2).sum().backward()
        o.step()
    assert ember.equal(m.weight, m2.weight)
