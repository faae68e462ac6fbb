"""Seeds in parallel with joblib: the same small classifier trained from 4 seeds in 2 worker
processes (`Parallel(n_jobs=2)`), each returning its validation accuracy and its weights as a
state_dict (which travel back to the main process pickled).

    python examples/sweep_joblib.py            # ember
    python examples/sweep_joblib.py --lib torch
"""
import argparse
import importlib

import numpy as np
from joblib import Parallel, delayed


def train(lib_name, seed, epochs=5):
    lib = importlib.import_module(lib_name)
    lib.set_num_threads(1)  # one core per worker: 2 workers on 2 cores do not oversubscribe
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(512, 4)).astype(np.float32)
    w = np.array([[1.0, -2.0, 0.5], [0.5, 1.0, -1.0], [-1.0, 0.0, 2.0], [0.3, 0.3, 0.3]], np.float32)
    y = (x @ w).argmax(1)
    xt, yt = lib.tensor(x[:384]), lib.tensor(y[:384])
    xv, yv = lib.tensor(x[384:]), lib.tensor(y[384:])
    lib.manual_seed(seed)
    model = lib.nn.Sequential(lib.nn.Linear(4, 16), lib.nn.ReLU(), lib.nn.Linear(16, 3))
    opt = lib.optim.Adam(model.parameters(), lr=0.01)
    loss_fn = lib.nn.CrossEntropyLoss()
    for _ in range(epochs):
        for i in range(0, 384, 32):
            opt.zero_grad()
            loss_fn(model(xt[i:i + 32]), yt[i:i + 32]).backward()
            opt.step()
    with lib.no_grad():
        acc = (model(xv).argmax(1) == yv).float().mean().item()
    return seed, acc, model.state_dict()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lib", default="ember", choices=["ember", "torch"])
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    results = Parallel(n_jobs=args.jobs)(delayed(train)(args.lib, seed) for seed in range(4))
    for seed, acc, sd in results:
        print(f"seed={seed} accuracy={acc:.4f} params={sum(v.numel() for v in sd.values())}")
    best = max(results, key=lambda r: r[1])
    print(f"best seed={best[0]}")


if __name__ == "__main__":
    main()
