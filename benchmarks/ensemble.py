"""W2-ens: 64 MLPs 2-64-64-3 (ReLU), each with its own batch of 32 spiral points,
CrossEntropyLoss, SGD lr 0.05 momentum 0.9; one step trains all 64. Five flavours:

  torch-loop   torch, the 64 models one after the other (64 optimizers)
  torch-vmap   torch.func: stacked parameters, vmap over functional_call, one loss, one optimizer
  ember-loop   ember, as torch-loop
  ember-vmap   ember.func, as torch-vmap (batched ops: the 64 models' chain as one fused op)
  numpy        the 64 models stacked by hand: np.matmul over a leading axis, backward written out

Each flavour is built once with the same initial weights and data and runs `--warmup` untimed steps;
rounds interleave the flavours (50 ms apart, so one library's spinning idle threads do not slow the
next) and time `--steps` ensemble steps each, after untimed steps for `--round-warmup-ms` (at least
one): a training loop runs its steps back to back, and the first steps after a pause in which other
code ran measure the pause (caches refilled, idle threads woken: on a 2-vCPU VM the first step of
a 0.5 ms flavour took 1.4 ms and the next three 0.15-0.3 ms more than the rest), not the step.
`--round-warmup-ms 0` gives the protocol without it.

`--dropout P` adds Dropout(P) after each hidden ReLU, and the vmap flavours map with
randomness='different' (a mask per model); numpy is left out (it has no dropout written out), and
the flavours' first losses differ (each library draws its own masks).

    python benchmarks/ensemble.py              # 5 rounds; results/ensemble.json
    python benchmarks/ensemble.py --dropout 0.1 --out benchmarks/results/ensemble-dropout.json
    python benchmarks/ensemble.py --parts 400  # then each vmap flavour's step in parts, back to back
    python benchmarks/ensemble.py --quick      # smoke test (CI); not a measurement
"""
import argparse
import copy
import json
import math
import os
import statistics
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

M, B, LR, MOM = 64, 32, 0.05, 0.9
SHAPES = [(64, 2), (64,), (64, 64), (64,), (3, 64), (3,)]
FAN_IN = [2, 2, 64, 64, 64, 64]


def init(k):
    """Model k's parameters (W1, b1, W2, b2, W3, b3) as numpy float32, in torch's default init
    ranges (uniform within 1/sqrt(fan_in))."""
    rng = np.random.default_rng(100 + k)
    return [rng.uniform(-1, 1, shape).astype(np.float32) / np.float32(math.sqrt(fan))
            for shape, fan in zip(SHAPES, FAN_IN)]


def data(steps):
    """Per step and model a batch of 32 spiral points: x (steps, M, B, 2), y (steps, M, B)."""
    rng = np.random.default_rng(7)
    n = steps * M * B
    c = rng.integers(0, 3, n)
    r = rng.uniform(0, 1, n)
    t = c * 4 + 4 * r + rng.normal(0, 0.2, n)
    x = np.stack([r * np.sin(t), r * np.cos(t)], 1).astype(np.float32).reshape(steps, M, B, 2)
    return x, c.reshape(steps, M, B).astype(np.int64)


DROPOUT = 0.0  # --dropout


class TorchLike:
    def __init__(self, L, vmapped, x, y):
        self.L, self.vmapped = L, vmapped
        self.x, self.y = L.from_numpy(x), L.from_numpy(y)
        nn = L.nn
        self.models = []
        for k in range(M):
            if DROPOUT:
                m = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Dropout(DROPOUT), nn.Linear(64, 64), nn.ReLU(),
                                  nn.Dropout(DROPOUT), nn.Linear(64, 3))
            else:
                m = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 3))
            with L.no_grad():
                for p, v in zip(m.parameters(), init(k)):
                    p.copy_(L.from_numpy(v))
            self.models.append(m)
        self.loss_fn = nn.CrossEntropyLoss()
        if vmapped:
            F = L.func
            self.params, self.buffers = F.stack_module_state(self.models)
            base = copy.deepcopy(self.models[0])
            self.opt = L.optim.SGD(list(self.params.values()), lr=LR, momentum=MOM)

            def fmodel(p, b, xb):
                return F.functional_call(base, (p, b), (xb,))
            self.batched = F.vmap(fmodel, in_dims=(0, 0, 0), randomness="different" if DROPOUT else "error")
        else:
            self.opts = [L.optim.SGD(m.parameters(), lr=LR, momentum=MOM) for m in self.models]
        self.i = 0

    def step_parts(self):
        """One vmapped step timed in its parts (s): forward (zero_grad included), loss, backward, optimizer."""
        L, pc = self.L, time.perf_counter
        xs, ys = self.x[self.i % len(self.x)], self.y[self.i % len(self.y)]
        self.i += 1
        t0 = pc()
        self.opt.zero_grad()
        logits = self.batched(self.params, self.buffers, xs)
        t1 = pc()
        loss = L.nn.functional.cross_entropy(logits.reshape(M * B, 3), ys.reshape(M * B)) * M
        t2 = pc()
        loss.backward()
        t3 = pc()
        self.opt.step()
        t4 = pc()
        return t1 - t0, t2 - t1, t3 - t2, t4 - t3

    def step(self):
        L = self.L
        xs, ys = self.x[self.i % len(self.x)], self.y[self.i % len(self.y)]
        self.i += 1
        if self.vmapped:
            self.opt.zero_grad()
            logits = self.batched(self.params, self.buffers, xs)  # (M, B, 3)
            loss = L.nn.functional.cross_entropy(logits.reshape(M * B, 3), ys.reshape(M * B)) * M
            loss.backward()
            self.opt.step()
            return float(loss.item()) / M
        total = 0.0
        for k in range(M):
            self.opts[k].zero_grad()
            loss = self.loss_fn(self.models[k](xs[k]), ys[k])
            loss.backward()
            self.opts[k].step()
            total += float(loss.item())
        return total / M


class NumpyStacked:
    def __init__(self, x, y):
        self.x, self.y = x, y
        ps = [init(k) for k in range(M)]
        self.p = [np.stack([p[j] for p in ps]) for j in range(6)]
        self.v = [np.zeros_like(p) for p in self.p]
        self.i = 0

    def step(self):
        W1, b1, W2, b2, W3, b3 = self.p
        x, y = self.x[self.i % len(self.x)], self.y[self.i % len(self.y)]
        self.i += 1
        z1 = np.matmul(x, W1.transpose(0, 2, 1)) + b1[:, None]
        h1 = np.maximum(z1, 0)
        z2 = np.matmul(h1, W2.transpose(0, 2, 1)) + b2[:, None]
        h2 = np.maximum(z2, 0)
        z3 = np.matmul(h2, W3.transpose(0, 2, 1)) + b3[:, None]
        z3 = z3 - z3.max(2, keepdims=True)
        e = np.exp(z3)
        prob = e / e.sum(2, keepdims=True)
        idx = (np.arange(M)[:, None], np.arange(B)[None], y)
        loss = -np.log(prob[idx]).mean(1)
        g3 = prob
        g3[idx] -= 1
        g3 /= B
        gW3 = np.matmul(g3.transpose(0, 2, 1), h2)
        gb3 = g3.sum(1)
        g2 = np.matmul(g3, W3) * (z2 > 0)
        gW2 = np.matmul(g2.transpose(0, 2, 1), h1)
        gb2 = g2.sum(1)
        g1 = np.matmul(g2, W2) * (z1 > 0)
        gW1 = np.matmul(g1.transpose(0, 2, 1), x)
        gb1 = g1.sum(1)
        for p, v, g in zip(self.p, self.v, (gW1, gb1, gW2, gb2, gW3, gb3)):
            v *= MOM
            v += g
            p -= LR * v
        return float(loss.mean())


FLAVORS = ["torch-loop", "torch-vmap", "ember-loop", "ember-vmap", "numpy"]


def build(flavor, steps):
    x, y = data(steps)
    if flavor == "numpy":
        return NumpyStacked(x, y)
    lib, _, kind = flavor.partition("-")
    L = __import__(lib)
    if lib == "torch":
        import torch.func  # noqa: F401
    return TorchLike(L, kind == "vmap", x, y)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=20, help="untimed steps per flavour first (the first steps of a "
                    "process run slower: allocator, caches, the threads' first wake-ups)")
    ap.add_argument("--round-warmup-ms", type=float, default=10.0, help="untimed steps (at least one) for this "
                    "long before each flavour's timed steps in a round; 0: none")
    ap.add_argument("--dropout", type=float, default=0.0, help="Dropout(P) after each hidden ReLU (numpy left out)")
    ap.add_argument("--parts", type=int, default=0, help="then time N more steps of each vmap flavour in parts "
                    "(forward, loss, backward, optimizer step), back to back")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "ensemble.json"))
    args = ap.parse_args()
    import importlib.util
    import run
    global DROPOUT
    DROPOUT = args.dropout
    flavors = [f for f in FLAVORS if f == "numpy" and not DROPOUT or f != "numpy" and importlib.util.find_spec(f.partition("-")[0])]
    rounds, steps = (1, 2) if args.quick else (args.rounds, args.steps)
    runs = {f: build(f, steps) for f in flavors}
    losses = {f: runs[f].step() for f in flavors}  # the first step; the flavours agree on its loss
    for f in flavors:
        for _ in range(0 if args.quick else args.warmup - 1):
            runs[f].step()
    res = {"machine": run.machine(), "dropout": DROPOUT, "rounds": rounds, "steps": steps, "warmup": args.warmup,
           "round_warmup_ms": args.round_warmup_ms, "first_loss": losses,
           "ms_per_step": {f: [] for f in flavors}}
    for _ in range(rounds):
        for f in flavors:
            # untimed: the previous flavour's idle threads (torch's OpenMP workers, ember's pool) spin
            # for a while after its last op and would take a core from this one
            time.sleep(0 if args.quick else 0.05)
            t = time.perf_counter()
            while not args.quick and args.round_warmup_ms > 0:
                runs[f].step()
                if time.perf_counter() - t >= args.round_warmup_ms / 1e3:
                    break
            t = time.perf_counter()
            for _ in range(steps):
                runs[f].step()
            res["ms_per_step"][f].append((time.perf_counter() - t) / steps * 1e3)
    print(f"machine: {res['machine']}\nfirst step's mean loss: " + ", ".join(f"{f} {v:.6f}" for f, v in losses.items()))
    print("\n| flavour | ms per ensemble step (64 models): median (min-max) |")
    print("|---|---|")
    med = {}
    for f in flavors:
        xs = res["ms_per_step"][f]
        med[f] = statistics.median(xs)
        print(f"| {f} | {med[f]:.2f} ({min(xs):.2f}-{max(xs):.2f}) |")
    if "torch-loop" in med:
        d = med["ember-vmap"]
        print(f"\nember-vmap vs torch-loop {med['torch-loop'] / d:.1f}x, vs torch-vmap {med['torch-vmap'] / d:.1f}x, "
              f"vs ember-loop {med['ember-loop'] / d:.2f}x" + (f", vs numpy {med['numpy'] / d:.2f}x" if "numpy" in med else ""))
    if args.parts:
        print("\n| flavour, back to back | forward | loss | backward | optimizer step | sum (us, medians) |")
        print("|---|---|---|---|---|---|")
        res["parts_us"] = {}
        for f in flavors:
            if not f.endswith("-vmap"):
                continue
            ts = [runs[f].step_parts() for _ in range(args.parts)]
            med_parts = [statistics.median(t[k] for t in ts) * 1e6 for k in range(4)]
            res["parts_us"][f] = med_parts
            print(f"| {f} | " + " | ".join(f"{v:.0f}" for v in med_parts) + f" | {sum(med_parts):.0f} |")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(res, fh, indent=1)
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
