#!/usr/bin/env python
"""Long training run: RSS must stay flat and every step's graph must be freed without the cyclic GC.

    python scripts/long_run.py                  # 200,000 steps (2-64-64-3 MLP, batch 32)
    python scripts/long_run.py --steps 30000 --warmup 10000 --every 5000

Trains a 2-64-64-3 ReLU MLP with CrossEntropyLoss and SGD(momentum=0.9) from a shuffling
DataLoader over a TensorDataset, with the cyclic garbage collector disabled for the whole run, so
anything that only a gc pass could free (a reference cycle through the graph, a tensor, a grad_fn)
shows up as growth. VmRSS (/proc/self/status) is sampled every --every steps after --warmup steps;
growth = last sample - first sample. Then:
  * gc.collect() (DEBUG_SAVEALL) after the run must find no ember objects (Tensor/Parameter/Node)
    and only a handful of objects at all;
  * the count of live ember Tensors in gc.get_objects() must be the same at every sample;
  * graph_freed_checks(): the graph of a step is freed when backward finishes, or on `del loss`
    without backward, without gc: watched through weakrefs to a numpy array that only the graph's
    saved tensors keep alive (ember.from_numpy shares it) and to an object held by the ctx of a
    custom autograd.Function in the graph. (A weakref to loss.grad_fn itself says nothing: it
    watches the Python wrapper, which pybind11 creates per access, not the C++ node.)
Exit status 1 if growth > --limit-mb or any check fails.
"""
import argparse
import collections
import gc
import sys
import time
import weakref

import numpy as np

import ember
import ember.nn as nn
from ember.utils.data import DataLoader, TensorDataset


def rss_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def live_tensors():
    return sum(1 for o in gc.get_objects() if issubclass(type(o), ember.Tensor))  # type(): no __getattr__ on foreign objects


def make_problem(n=1024, seed=0):
    """Three classes by angle on the plane: learnable, fixed, no RNG beyond numpy's seeded one."""
    rs = np.random.default_rng(seed)
    x = rs.standard_normal((n, 2)).astype(np.float32)
    y = ((np.arctan2(x[:, 1], x[:, 0]) + np.pi) // (2 * np.pi / 3)).astype(np.int64).clip(0, 2)
    return ember.from_numpy(x).clone(), ember.from_numpy(y).clone()


def make_model(hidden=64, depth=2):
    layers, d = [], 2
    for _ in range(depth):
        layers += [nn.Linear(d, hidden), nn.ReLU()]
        d = hidden
    return nn.Sequential(*layers, nn.Linear(d, 3))


def train(steps=200000, warmup=10000, every=10000, hidden=64, depth=2, batch=32, log=print):
    """Returns dict(samples=[(step, rss_kb, live_tensors, loss)], growth_kb, garbage=Counter, seconds, loss)."""
    ember.manual_seed(0)
    x, y = make_problem()
    loader = DataLoader(TensorDataset(x, y), batch_size=batch, shuffle=True)
    model = make_model(hidden, depth)
    opt = ember.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    samples = []
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    t0 = time.perf_counter()
    step = 0
    try:
        while step < steps:
            for xb, yb in loader:
                opt.zero_grad()
                loss = loss_fn(model(xb), yb)
                loss.backward()
                opt.step()
                step += 1
                if step >= warmup and (step - warmup) % every == 0:
                    s = (step, rss_kb(), live_tensors(), loss.item())
                    samples.append(s)
                    log(f"  step {s[0]:7d}  VmRSS {s[1]:7d} kB  live tensors {s[2]:4d}  loss {s[3]:.4f}")
                if step >= steps:
                    break
        seconds = time.perf_counter() - t0
        del loss, xb, yb
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        garbage = collections.Counter(f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.garbage)
        gc.garbage.clear()
        gc.set_debug(0)
    finally:
        if was_enabled:
            gc.enable()
    growth = samples[-1][1] - samples[0][1] if len(samples) > 1 else 0
    return dict(samples=samples, growth_kb=growth, garbage=garbage, seconds=seconds, steps=step,
                loss=samples[-1][3] if samples else float("nan"))


class _Tracked:
    """Weakref-able token stored on an autograd.Function ctx."""


class _Scale(ember.autograd.Function):
    @staticmethod
    def forward(ctx, x, token):
        ctx.token = token
        return x * 2.0

    @staticmethod
    def backward(ctx, g):
        return g * 2.0, None


def graph_freed_checks():
    """[] if every step's graph is freed without the cyclic GC, else descriptions of what survived."""
    fails = []
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        model = make_model(16, 2)
        for mode in ("backward", "del-without-backward", "backward-retain_graph-then-del"):
            arr = np.arange(64, dtype=np.float32).reshape(32, 2) / 64
            arr_ref = weakref.ref(arr)
            xb = ember.from_numpy(arr)  # shares arr's memory: the graph's saved input keeps arr alive
            del arr
            token = _Tracked()
            token_ref = weakref.ref(token)
            h = model[0](xb)  # Linear saves its input for the weight gradient
            h = _Scale.apply(h, token)
            del token
            for layer in list(model)[1:]:
                h = layer(h)
            out = h
            loss = nn.functional.cross_entropy(out, ember.zeros(32, dtype=ember.int64))
            node = loss.grad_fn
            node_name = node.name()
            del node
            del xb, h, out, layer
            if arr_ref() is None:
                fails.append(f"{mode}: test is void: the input array died before the graph")
            if mode == "backward":
                loss.backward()
                if token_ref() is not None:
                    fails.append(f"{mode}: the custom Function's ctx is still alive after backward")
                if arr_ref() is not None:
                    fails.append(f"{mode}: the saved input is still alive after backward (graph not released)")
            elif mode == "backward-retain_graph-then-del":
                loss.backward(retain_graph=True)
                if token_ref() is None or arr_ref() is None:
                    fails.append(f"{mode}: retain_graph=True freed the graph")
            del loss
            if token_ref() is not None or arr_ref() is not None:
                fails.append(f"{mode}: graph of {node_name} survived `del loss` without gc "
                             f"(ctx alive: {token_ref() is not None}, saved input alive: {arr_ref() is not None})")
            model.zero_grad()
        # live tensor count stable across steps, no gc
        x, y = make_problem(64)
        opt = ember.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        counts = []
        for i in range(50):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            del loss
            if i >= 5:
                counts.append(live_tensors())
        if len(set(counts)) != 1:
            fails.append(f"live ember tensors change across steps without gc: {counts[:3]} ... {counts[-3:]}")
    finally:
        if was_enabled:
            gc.enable()
    return fails


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=200000)
    ap.add_argument("--warmup", type=int, default=10000)
    ap.add_argument("--every", type=int, default=10000)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--limit-mb", type=float, default=1.0)
    args = ap.parse_args(argv)
    print(f"training 2-{args.hidden}-{args.hidden}-3 MLP, batch 32, SGD momentum, {args.steps} steps, gc disabled")
    r = train(args.steps, args.warmup, args.every, args.hidden)
    ok = True
    print(f"{r['steps']} steps in {r['seconds']:.1f} s ({r['seconds'] / r['steps'] * 1e6:.1f} us/step), "
          f"final loss {r['loss']:.4f}")
    series = [s[1] for s in r["samples"]]
    print(f"VmRSS series (kB, every {args.every} steps from step {args.warmup}): {series}")
    print(f"RSS growth after warm-up: {r['growth_kb']} kB (max - first: {max(series) - series[0]} kB; "
          f"limit {args.limit_mb * 1024:.0f} kB)")
    if r["growth_kb"] > args.limit_mb * 1024:
        ok = False
        print("FAIL: RSS grew")
    tensors = sorted({s[2] for s in r["samples"]})
    print(f"live ember tensors at the samples: {tensors}")
    if len(tensors) != 1:
        ok = False
        print("FAIL: the number of live tensors changed")
    total = sum(r["garbage"].values())
    ember_garbage = {k: v for k, v in r["garbage"].items() if k.startswith("ember")}
    print(f"gc.collect() after the run (gc was disabled): {total} objects {dict(r['garbage'].most_common(8))}")
    if ember_garbage or total > 50:
        ok = False
        print(f"FAIL: the cyclic GC had work to do: ember objects {ember_garbage}")
    fails = graph_freed_checks()
    print("graph freed without gc after backward / on del loss: " + ("yes" if not fails else "NO"))
    for f in fails:
        ok = False
        print(f"FAIL: {f}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
