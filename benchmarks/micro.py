"""Per-call overhead on 1-element tensors (the cost that dominates small models), and startup:
import time and the resident memory of a process that ran W2."""
import importlib
import os
import statistics
import subprocess
import sys
import time

import numpy as np

MICRO = {
    "add_grad": "a + b, a requires grad (1 element)",
    "mul_grad": "a * b, a requires grad (1 element)",
    "linear11": "nn.Linear(1,1) forward on a (1,1) input",
    "graph3_backward": "3-op graph ((a*b)+c).sum() built and loss.backward()",
    "step2": "optimizer.step(), SGD over 2 parameters",
    "zero_grad2": "optimizer.zero_grad() over 2 parameters",
}


def micro_callable(name, flavor):
    """A zero-argument callable doing one unit of `name`, or None where the flavour has no analogue."""
    if flavor == "numpy":
        a, b = np.ones(1, np.float32), np.ones(1, np.float32)
        w, bias, x = np.ones((1, 1), np.float32), np.ones(1, np.float32), np.ones((1, 1), np.float32)
        return {"add_grad": lambda: a + b, "mul_grad": lambda: a * b,
                "linear11": lambda: x @ w.T + bias}.get(name)
    lib = importlib.import_module(flavor)
    a = lib.ones(1, requires_grad=True)
    b = lib.ones(1)
    c = lib.ones(1)
    if name == "add_grad":
        return lambda: a + b
    if name == "mul_grad":
        return lambda: a * b
    if name == "linear11":
        m = lib.nn.Linear(1, 1)
        x = lib.ones(1, 1)
        return lambda: m(x)
    if name == "graph3_backward":
        return lambda: ((a * b) + c).sum().backward()
    m = lib.nn.Linear(1, 1)
    opt = lib.optim.SGD(m.parameters(), lr=1e-6)
    m(lib.ones(1, 1)).sum().backward()
    if name == "step2":
        return opt.step
    if name == "zero_grad2":
        return opt.zero_grad
    raise KeyError(name)


def time_call(fn, number):
    t0 = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - t0) / number * 1e6


_RSS_SCRIPT = r"""
import sys
sys.path.insert(0, {here!r})
import workloads
r = workloads.build("W2", {flavor!r}, quick={quick!r})
r.steps()
for line in open("/proc/self/status"):
    if line.startswith("VmRSS:"):
        print(int(line.split()[1]) / 1024.0)
"""


def startup(flavor, repeats=5):
    """(median import seconds, RSS MiB after running W2) measured in fresh processes."""
    mod = "ember" if flavor == "ember" else flavor
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", f"import {mod}"], check=True)
        times.append(time.perf_counter() - t0)
    base = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        base.append(time.perf_counter() - t0)
    here = os.path.dirname(os.path.abspath(__file__))
    out = subprocess.run([sys.executable, "-c", _RSS_SCRIPT.format(here=here, flavor=flavor, quick=False)],
                         check=True, capture_output=True, text=True).stdout
    return max(statistics.median(times) - statistics.median(base), 0.0), float(out.strip().splitlines()[-1])
