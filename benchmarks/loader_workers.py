"""DataLoader workers: a training epoch whose Dataset spends about 200 µs of Python per sample,
with num_workers 0 and 2 (workers started each epoch, torch's default, and persistent_workers),
ember against torch.

The dataset is a user's `Dataset` subclass: 1024 spiral points, each `__getitem__` running a
pure-Python loop calibrated once to ~200 µs (the same count for both libraries) before building
the sample's tensor. The loop around it is W2's: MLP 2-64-64-3, CrossEntropyLoss, batch 32, SGD
lr 0.05 momentum 0.9, so an epoch is 32 batches and 32 training steps. Each flavour runs in its
own process (a user's program imports one library; forking a process that has both loaded would
cost both more), one warm-up epoch then `--epochs` timed ones; flavours interleave across rounds.

    python benchmarks/loader_workers.py                # 5 rounds; results/loader_workers.json
    python benchmarks/loader_workers.py --quick        # smoke test (CI); not a measurement
"""
import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

FLAVORS = ["ember-w0", "ember-w2", "ember-w2-persistent", "torch-w0", "torch-w2", "torch-w2-persistent"]


def busy(k):
    """Pure-Python work: k rounds of an integer recurrence."""
    acc = 1
    for _ in range(k):
        acc = (acc * 1103515245 + 12345) & 0x7FFFFFFF
    return acc


def calibrate(target_s=200e-6):
    k = 1000
    while True:
        t = time.perf_counter()
        for _ in range(20):
            busy(k)
        per = (time.perf_counter() - t) / 20
        if per > 20e-6:
            return max(1, int(k * target_s / per))
        k *= 4


def spiral(n):
    pts = []
    for i in range(n):
        c = i % 3
        r = (i // 3) / (n / 3)
        t = c * 4 + 4 * r + 0.2 * math.sin(37.0 * i)
        pts.append((r * math.sin(t), r * math.cos(t), c))
    return pts


def make_dataset(data, L, n, k):
    class Spiral(data.Dataset):
        def __init__(self):
            self.points = spiral(n)

        def __len__(self):
            return len(self.points)

        def __getitem__(self, i):
            x, y, c = self.points[i]
            busy(k)  # parsing, augmenting, reading: the per-sample Python a real dataset does
            return L.tensor([x, y]), c
    return Spiral()


def one(flavor, k, epochs, n):
    """Run in a fresh process: one warm-up epoch, then `epochs` timed ones; epoch times in s."""
    lib, _, rest = flavor.partition("-")
    workers = 2 if rest.startswith("w2") else 0
    if lib == "torch":
        import torch as L
        import torch.utils.data as data
    else:
        import ember as L
        import ember.utils.data as data
    L.manual_seed(0)
    ds = make_dataset(data, L, n, k)
    loader = data.DataLoader(ds, batch_size=32, shuffle=True, num_workers=workers,
                             persistent_workers=rest.endswith("persistent"))
    model = L.nn.Sequential(L.nn.Linear(2, 64), L.nn.ReLU(), L.nn.Linear(64, 64), L.nn.ReLU(), L.nn.Linear(64, 3))
    opt = L.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loss_fn = L.nn.CrossEntropyLoss()
    times, batches = [], 0
    for e in range(epochs + 1):
        t = time.perf_counter()
        for x, y in loader:
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            batches += e == 0
        if e:
            times.append(time.perf_counter() - t)
    return {"epoch_s": times, "batches": batches, "loss": float(loss.item())}


def summary(xs):
    return statistics.median(xs), min(xs), max(xs)


def machine():
    import run
    return run.machine()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=2, help="timed epochs per flavour per round")
    ap.add_argument("--quick", action="store_true", help="one short round: a smoke test")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "loader_workers.json"))
    ap.add_argument("--one", nargs=4, metavar=("FLAVOR", "K", "EPOCHS", "N"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        f, k, epochs, n = args.one
        print(json.dumps(one(f, int(k), int(epochs), int(n))))
        return
    import importlib.util
    flavors = [f for f in FLAVORS if importlib.util.find_spec(f.partition("-")[0])]
    k = calibrate()
    n, epochs, rounds = (128, 1, 1) if args.quick else (1024, args.epochs, args.rounds)
    res = {"machine": machine(), "busy_k": k, "samples": n, "rounds": rounds, "epochs_per_round": epochs,
           "quick": args.quick, "epoch_s": {f: [] for f in flavors}}
    print(f"machine: {res['machine']}\nbusy({k}) ~ 200 µs per sample", flush=True)
    for r in range(rounds):
        for f in flavors:
            out = subprocess.run([sys.executable, os.path.abspath(__file__), "--one", f, str(k), str(epochs), str(n)],
                                 capture_output=True, text=True, check=True)
            got = json.loads(out.stdout.strip().splitlines()[-1])
            res["epoch_s"][f].extend(got["epoch_s"])
            res.setdefault("batches", got["batches"])
        print(f"  round {r + 1}/{rounds} done", flush=True)
    print("\n| flavour | epoch, ms: median (min-max) | ms per batch |")
    print("|---|---|---|")
    for f in flavors:
        m, lo, hi = summary(res["epoch_s"][f])
        print(f"| {f} | {m * 1e3:.1f} ({lo * 1e3:.1f}-{hi * 1e3:.1f}) | {m * 1e3 / res['batches']:.2f} |")
    med = {f: statistics.median(v) for f, v in res["epoch_s"].items()}
    if "torch-w2" in med:
        print(f"\nember-w2 vs torch-w2 {med['torch-w2'] / med['ember-w2']:.2f}x, "
              f"ember-w2-persistent vs torch-w2-persistent "
              f"{med['torch-w2-persistent'] / med['ember-w2-persistent']:.2f}x, "
              f"ember-w2 vs ember-w0 {med['ember-w0'] / med['ember-w2']:.2f}x")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(res, fh, indent=1)
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
