"""A hyperparameter search with Optuna over learning rate, width and weight decay of a small
classifier (W2's MLP on a 3-class spiral), each trial training with ember (or torch: --lib torch),
reporting validation accuracy per epoch and pruned by Optuna's MedianPruner.

    python examples/sweep_optuna.py --trials 64 --jobs 2     # two trials at a time (threads)
    python examples/sweep_optuna.py --lib torch               # the same search on torch
"""
import argparse
import importlib
import time

import numpy as np
import optuna


def spiral(n=1024, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    per = n // classes + 1
    xs, ys = [], []
    for c in range(classes):
        r = np.linspace(0.05, 1.0, per)
        t = np.linspace(c * 4.0, (c + 1) * 4.0, per) + rng.standard_normal(per) * 0.2
        xs.append(np.stack([r * np.sin(t), r * np.cos(t)], 1))
        ys.append(np.full(per, c))
    x = np.concatenate(xs)[:n].astype(np.float32)
    y = np.concatenate(ys)[:n].astype(np.int64)
    perm = rng.permutation(n)
    return x[perm], y[perm]


def objective(lib, trial, epochs):
    lr = trial.suggest_float("lr", 1e-3, 0.3, log=True)
    width = trial.suggest_categorical("width", [16, 32, 64])
    wd = trial.suggest_float("weight_decay", 1e-6, 1e-2, log=True)
    x, y = spiral()
    xt, yt = lib.tensor(x[:768]), lib.tensor(y[:768])
    xv, yv = lib.tensor(x[768:]), lib.tensor(y[768:])
    gen = lib.Generator().manual_seed(trial.number)
    loader = lib.utils.data.DataLoader(lib.utils.data.TensorDataset(xt, yt), batch_size=32, shuffle=True,
                                       generator=gen)
    nn = lib.nn
    model = nn.Sequential(nn.Linear(2, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(), nn.Linear(width, 3))
    opt = lib.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=wd)
    loss_fn = nn.CrossEntropyLoss()
    acc = 0.0
    for epoch in range(epochs):
        model.train()
        for xb, yb in loader:
            opt.zero_grad()
            loss_fn(model(xb), yb).backward()
            opt.step()
        model.eval()
        with lib.no_grad():
            acc = (model(xv).argmax(1) == yv).float().mean().item()
        trial.report(acc, epoch)
        if trial.should_prune():
            raise optuna.TrialPruned()
    return acc


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lib", default="ember", choices=["ember", "torch"])
    ap.add_argument("--trials", type=int, default=16)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=6)
    args = ap.parse_args()
    lib = importlib.import_module(args.lib)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0),
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=2))
    t0 = time.perf_counter()
    study.optimize(lambda t: objective(lib, t, args.epochs), n_trials=args.trials, n_jobs=args.jobs)
    minutes = (time.perf_counter() - t0) / 60
    states = [t.state.name for t in study.trials]
    print(f"trials={len(study.trials)} complete={states.count('COMPLETE')} pruned={states.count('PRUNED')}")
    print(f"best accuracy={study.best_value:.4f} params={study.best_params}")
    print(f"trials per minute={len(study.trials) / minutes:.1f}")


if __name__ == "__main__":
    main()
