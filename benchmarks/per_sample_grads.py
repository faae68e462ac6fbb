"""Per-sample gradients of W3's model (MLP 784-256-128-10, ReLU, CrossEntropyLoss) over a batch of
128, the torch.func recipe: vmap(grad(loss), in_dims=(None, None, 0, 0)) over functional_call.
Flavours:

  torch-func    torch.func.vmap(torch.func.grad(...))
  torch-loop    torch, one backward per sample
  ember-func    ember.func.vmap(ember.func.grad(...)) (batched: Note [Batched vmap])
  ember-loop    ember, one backward per sample

Each flavour starts from the same weights and batch; they agree on the gradients (checked). Rounds
interleave the flavours (50 ms apart: idle threads of the previous one stop spinning) and time
`--reps` computations each.

    python benchmarks/per_sample_grads.py            # 5 rounds; results/per_sample_grads.json
    python benchmarks/per_sample_grads.py --quick    # smoke test (CI); not a measurement
"""
import argparse
import json
import os
import statistics
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

SIZES, BATCH = [784, 256, 128, 10], 128
FLAVORS = ["torch-func", "torch-loop", "ember-func", "ember-loop"]


def setup():
    rng = np.random.default_rng(3)
    ws = []
    for i, o in zip(SIZES[:-1], SIZES[1:]):
        ws.append(rng.uniform(-1, 1, (o, i)).astype(np.float32) / np.float32(np.sqrt(i)))
        ws.append(rng.uniform(-1, 1, (o,)).astype(np.float32) / np.float32(np.sqrt(i)))
    x = rng.normal(size=(BATCH, SIZES[0])).astype(np.float32)
    y = rng.integers(0, SIZES[-1], BATCH)
    return ws, x, y


class Flavour:
    def __init__(self, flavour):
        lib, _, kind = flavour.partition("-")
        L = __import__(lib)
        if lib == "torch":
            import torch.func  # noqa: F401
        self.L, self.kind = L, kind
        ws, x, y = setup()
        nn = L.nn
        layers = []
        for k in range(len(SIZES) - 1):
            layers.append(nn.Linear(SIZES[k], SIZES[k + 1]))
            if k < len(SIZES) - 2:
                layers.append(nn.ReLU())
        self.model = nn.Sequential(*layers)
        with L.no_grad():
            for p, v in zip(self.model.parameters(), ws):
                p.copy_(L.from_numpy(v))
        self.x, self.y = L.from_numpy(x), L.from_numpy(y)
        self.params = {k: v.detach() for k, v in self.model.named_parameters()}
        F = L.func
        model = self.model

        def loss(params, sample, target):
            out = F.functional_call(model, params, (sample.unsqueeze(0),))
            return L.nn.functional.cross_entropy(out, target.unsqueeze(0))
        self.per_sample = F.vmap(F.grad(loss), in_dims=(None, 0, 0))

    def run(self):
        if self.kind == "func":
            return self.per_sample(self.params, self.x, self.y)
        L, out = self.L, {k: [] for k in self.params}
        for i in range(BATCH):
            self.model.zero_grad()
            L.nn.functional.cross_entropy(self.model(self.x[i:i + 1]), self.y[i:i + 1]).backward()
            for k, p in self.model.named_parameters():
                out[k].append(p.grad.clone())
        return {k: L.stack(v) for k, v in out.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "per_sample_grads.json"))
    args = ap.parse_args()
    import importlib.util
    import run
    flavors = [f for f in FLAVORS if importlib.util.find_spec(f.partition("-")[0])]
    rounds, reps = (1, 1) if args.quick else (args.rounds, args.reps)
    runs = {f: Flavour(f) for f in flavors}
    ref = {k: v.numpy() for k, v in runs[flavors[0]].run().items()}
    for f in flavors[1:]:  # every flavour gives the same per-sample gradients
        got = runs[f].run()
        for k in ref:
            np.testing.assert_allclose(got[k].numpy(), ref[k], rtol=1e-3, atol=1e-5, err_msg=f"{f} {k}")
    res = {"machine": run.machine(), "rounds": rounds, "reps": reps, "ms": {f: [] for f in flavors}}
    for _ in range(rounds):
        for f in flavors:
            # untimed: the previous flavour's idle threads (torch's OpenMP workers, ember's pool) spin
            # for a while after its last op and would take a core from this one
            time.sleep(0 if args.quick else 0.05)
            t = time.perf_counter()
            for _ in range(reps):
                runs[f].run()
            res["ms"][f].append((time.perf_counter() - t) / reps * 1e3)
    print(f"machine: {res['machine']}")
    print(f"\n| flavour | ms per batch of {BATCH} per-sample gradients: median (min-max) |")
    print("|---|---|")
    med = {}
    for f in flavors:
        xs = res["ms"][f]
        med[f] = statistics.median(xs)
        print(f"| {f} | {med[f]:.2f} ({min(xs):.2f}-{max(xs):.2f}) |")
    if "torch-func" in med:
        print(f"\nember-func vs torch-func {med['torch-func'] / med['ember-func']:.2f}x, "
              f"vs torch-loop {med['torch-loop'] / med['ember-func']:.1f}x, "
              f"vs ember-loop {med['ember-loop'] / med['ember-func']:.1f}x")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(res, fh, indent=1)
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
