"""The compiled flavours (issue 13's benchmark): each workload's torch-style program in four
flavours, eager and with `model = lib.compile(model)`:

    ember            ember, eager
    ember-compiled   ember with model = ember.compile(model): the forward replayed (Note [Capture])
    ember-step       ember with the loop body (forward, loss, zero_grad, backward, step) compiled as
                     one function: the whole step replayed
    torch            torch, eager
    torch-compiled   torch with torch.compile(model) (default inductor backend)

For each it reports the time to the first result (the first training step of a fresh run in a
fresh process, the compile included; imports and building the run not counted) and the steady-state step (µs, median and min-max of interleaved
rounds after a warm-up pass, as run.py measures), and the ratios the issue's targets are stated in.
torch's first compile of a model takes seconds (inductor writes and builds C++); inductor's on-disk
caches stay as configured (a second run of this script may find them warm: its first-result times
are then lower), which the output states.

    python benchmarks/compiled.py                  # W1 lab W2 W3, 5 rounds
    python benchmarks/compiled.py --only W2 --rounds 3
"""
import argparse
import importlib
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import run  # noqa: E402  (machine(), the settle pause)
import workloads  # noqa: E402

FLAVORS = ["ember", "ember-compiled", "ember-step", "torch", "torch-compiled"]
DEFAULT_IDS = ["W1", "lab", "W2", "W3", "W5", "W6", "W7"]


def build(wid, flavor, quick=False):
    lib_name, _, compiled = flavor.partition("-")
    r = workloads.build(wid, lib_name, quick)
    if compiled == "compiled":
        r.model = r.lib.compile(r.model)
    elif compiled == "step":
        r.compile_step()
    return r


def first_step(r):
    """One training step on the run's first batch, as its steps() does one."""
    xb, yb = next(iter(r.loader))
    if r.step is not None:
        return float(r.step(xb, yb).item())
    out = r.model(xb)
    loss = r.criterion(out, yb) if not hasattr(r, "vocab") else r.criterion(out.reshape(-1, r.vocab), yb.reshape(-1))
    r.optimizer.zero_grad()
    loss.backward()
    r.optimizer.step()
    return float(loss.item())


def time_to_first(wid, flavor, quick):
    """(first step, build) in seconds, measured in a fresh process (the libraries imported first,
    not timed): what a user's new run waits for, lazy initialisation and compiles included."""
    cmd = [sys.executable, os.path.abspath(__file__), "--first", wid, flavor] + (["--quick"] if quick else [])
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.split()
    return float(out[-2]), float(out[-1])


def _first_here(wid, flavor, quick):
    importlib.import_module(flavor.partition("-")[0])
    t0 = time.perf_counter()
    r = build(wid, flavor, quick)
    t1 = time.perf_counter()
    first_step(r)
    print(time.perf_counter() - t1, t1 - t0)


def steady(wid, flavors, rounds, quick):
    runs = {f: build(wid, f, quick) for f in flavors}
    pass_s = {}
    for f in flavors:  # warm-up pass: compiles, caches, threads
        t0 = time.perf_counter()
        runs[f].steps()
        pass_s[f] = time.perf_counter() - t0
    times = {f: [] for f in flavors}
    for _ in range(rounds):
        for f in flavors:
            reps = 1 if quick else max(1, int(0.1 / max(pass_s[f], 1e-6)))
            if not quick:
                time.sleep(run.SETTLE_S)
                runs[f].steps()
            t0 = time.perf_counter()
            n = sum(runs[f].steps() for _ in range(reps))
            times[f].append((time.perf_counter() - t0) / n * 1e6)
    losses = {f: runs[f].loss() for f in flavors}
    return times, losses


def summary(xs):
    return statistics.median(xs), min(xs), max(xs)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default=None, help="comma-separated workload ids (default W1,lab,W2,W3)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="one short pass of each: a smoke test")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "compiled.json"))
    ap.add_argument("--first", nargs=2, metavar=("WID", "FLAVOR"), help=argparse.SUPPRESS)  # (time_to_first)
    args = ap.parse_args()
    if args.first:
        return _first_here(*args.first, args.quick)
    flavors = [f for f in FLAVORS if workloads.available(f.partition("-")[0])]
    ids = args.only.split(",") if args.only else DEFAULT_IDS
    rounds = 1 if args.quick else args.rounds
    results = {"machine": run.machine(), "rounds": rounds, "quick": args.quick, "flavors": flavors, "workloads": {}}
    print(f"machine: {results['machine']}")
    for wid in ids:
        first = {f: time_to_first(wid, f, args.quick) for f in flavors}
        times, losses = steady(wid, flavors, rounds, args.quick)
        results["workloads"][wid] = {"first_step_s": {f: first[f][0] for f in flavors},
                                     "build_s": {f: first[f][1] for f in flavors},
                                     "us_per_step": times, "final_loss": losses}
        print(f"  {wid:6s} done (losses: " + ", ".join(f"{f}={losses[f]:.6g}" for f in flavors) + ")", flush=True)
    print("\n| workload | flavour | first step (compile included) | µs per step, steady (min-max) |")
    print("|---|---|---|---|")
    for wid, r in results["workloads"].items():
        for f in flavors:
            m, lo, hi = summary(r["us_per_step"][f])
            print(f"| {wid} | {f} | {r['first_step_s'][f] * 1e3:.1f} ms | {m:.1f} ({lo:.1f}-{hi:.1f}) |")
    if "torch" in flavors:
        print("\nratios (steady-state medians; first result: first step of a fresh run):")
        for wid, r in results["workloads"].items():
            med = {f: statistics.median(v) for f, v in r["us_per_step"].items()}
            parts = [f"ember-compiled vs torch eager {med['torch'] / med['ember-compiled']:.1f}x",
                     f"ember-step vs torch eager {med['torch'] / med['ember-step']:.1f}x",
                     f"ember-step vs ember eager {med['ember'] / med['ember-step']:.2f}x"]
            if "torch-compiled" in med:
                parts.append(f"ember-step vs torch-compiled {med['torch-compiled'] / med['ember-step']:.1f}x")
                parts.append("first result (ember-step) vs torch-compiled's "
                             f"{r['first_step_s']['torch-compiled'] / r['first_step_s']['ember-step']:.0f}x")
            print(f"  {wid}: " + ", ".join(parts))
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(results, fh, indent=1)
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
