"""Two models trained at once in two Python threads (Note [Engine per run]): W3-size MLPs
(784-256-128-10 ReLU, CrossEntropyLoss, batch 128, SGD lr 0.05), steps per second of one thread
training one model against two threads training one model each, in one process, ember and torch.

ember's pool runs a thread's kernel parts on the other cores while they are free and on the
calling thread alone when another thread's kernel holds them, so two training threads each keep
roughly one core. Measured with the default thread count and with one thread per kernel
(`set_num_threads(1)`); rounds interleave the configurations.

    python benchmarks/threads_engine.py            # 5 rounds; results/threads_engine.json
    python benchmarks/threads_engine.py --quick    # smoke test (CI); not a measurement
"""
import argparse
import json
import os
import statistics
import sys
import threading
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def make(L, seed):
    rng = np.random.default_rng(seed)
    model = L.nn.Sequential(L.nn.Linear(784, 256), L.nn.ReLU(), L.nn.Linear(256, 128), L.nn.ReLU(),
                            L.nn.Linear(128, 10))
    with L.no_grad():
        for p in model.parameters():
            p.copy_(L.from_numpy(rng.normal(0, 0.05, tuple(p.shape)).astype(np.float32)))
    x = L.from_numpy(rng.normal(size=(128, 784)).astype(np.float32))
    y = L.from_numpy(rng.integers(0, 10, 128).astype(np.int64))
    return model, L.optim.SGD(model.parameters(), lr=0.05), x, y


def train(L, state, steps):
    model, opt, x, y = state
    loss_fn = L.nn.CrossEntropyLoss()
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
    return float(loss.item())


def steps_per_s(L, n_threads, steps):
    states = [make(L, s) for s in range(n_threads)]
    for st in states:
        train(L, st, 2)  # warm-up
    barrier = threading.Barrier(n_threads + 1)

    def run(st):
        barrier.wait()
        train(L, st, steps)

    threads = [threading.Thread(target=run, args=(st,)) for st in states]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    return n_threads * steps / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "threads_engine.json"))
    args = ap.parse_args()
    import run
    libs = {"ember": __import__("ember")}
    try:
        libs["torch"] = __import__("torch")
    except ImportError:
        pass
    rounds, steps = (1, 3) if args.quick else (args.rounds, args.steps)
    cores = len(os.sched_getaffinity(0))
    configs = [(lib, kt, nt) for lib in libs for kt in (cores, 1) for nt in (1, 2)]
    res = {"machine": run.machine(), "rounds": rounds, "steps": steps, "steps_per_s": {}}
    for _ in range(rounds):
        for lib, kt, nt in configs:
            L = libs[lib]
            L.set_num_threads(kt)
            res["steps_per_s"].setdefault(f"{lib} kernel-threads={kt} python-threads={nt}", []).append(
                steps_per_s(L, nt, steps))
    for L in libs.values():
        L.set_num_threads(cores)
    print(f"machine: {res['machine']}\n")
    print("| library | kernel threads | 1 thread, steps/s (min-max) | 2 threads, steps/s (min-max) | ratio |")
    print("|---|---|---|---|---|")
    for lib in libs:
        for kt in (cores, 1):
            one = res["steps_per_s"][f"{lib} kernel-threads={kt} python-threads=1"]
            two = res["steps_per_s"][f"{lib} kernel-threads={kt} python-threads=2"]
            m1, m2 = statistics.median(one), statistics.median(two)
            print(f"| {lib} | {kt} | {m1:.0f} ({min(one):.0f}-{max(one):.0f}) | {m2:.0f} ({min(two):.0f}-{max(two):.0f}) "
                  f"| {m2 / m1:.2f}x |")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(res, fh, indent=1)
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
