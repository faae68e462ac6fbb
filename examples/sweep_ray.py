"""A Ray Tune search over learning rate, width and weight decay of a small classifier (W2's MLP on
a 3-class spiral), each trial training with ember (or torch: --lib torch), reporting validation
accuracy per epoch with a checkpoint written by ember.save through Ray's checkpoint API, stopped
early by ASHA. A trial that fails is restarted from its last checkpoint (--fail-once shows it).

    python examples/sweep_ray.py --samples 8
    RAY_ADDRESS=auto python examples/sweep_ray.py   # on a running multi-node cluster (ray start ...)
"""
import argparse
import importlib
import os
import tempfile

import ray
from ray import tune
from ray.tune.schedulers import ASHAScheduler
from sweep_optuna import spiral  # the same data (this directory is on the path when run as a script)


def trainable(config, data):
    lib = importlib.import_module(config["lib"])
    lib.set_num_threads(1)  # Ray gives each trial one CPU
    x, y = data  # made once by the driver, shared through Ray's object store
    xt, yt, xv, yv = lib.tensor(x[:768]), lib.tensor(y[:768]), lib.tensor(x[768:]), lib.tensor(y[768:])
    nn, width = lib.nn, config["width"]
    model = nn.Sequential(nn.Linear(2, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(), nn.Linear(width, 3))
    opt = lib.optim.SGD(model.parameters(), lr=config["lr"], momentum=0.9, weight_decay=config["weight_decay"])
    loss_fn = nn.CrossEntropyLoss()
    start = 0
    ck = tune.get_checkpoint()
    if ck is not None:  # a restarted trial: resume from its last checkpoint
        with ck.as_directory() as d:
            state = lib.load(os.path.join(d, "state.pt"))
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        start = state["epoch"] + 1
    for epoch in range(start, config["epochs"]):
        gen = lib.Generator().manual_seed(epoch)
        for i in lib.randperm(768, generator=gen).split(32):
            opt.zero_grad()
            loss_fn(model(xt[i]), yt[i]).backward()
            opt.step()
        with lib.no_grad():
            acc = (model(xv).argmax(1) == yv).float().mean().item()
        if config["fail_once"] and epoch == 2 and ck is None:
            raise RuntimeError("a simulated crash (the trial restarts from its checkpoint)")
        with tempfile.TemporaryDirectory() as d:
            lib.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": epoch},
                     os.path.join(d, "state.pt"))
            tune.report({"accuracy": acc, "epoch": epoch, "resumed": ck is not None},
                        checkpoint=tune.Checkpoint.from_directory(d))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lib", default="ember", choices=["ember", "torch"])
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--fail-once", action="store_true")
    ap.add_argument("--storage", default=os.path.join(tempfile.gettempdir(), "ember-ray-results"))
    args = ap.parse_args()
    ray.init(num_cpus=None if os.environ.get("RAY_ADDRESS") else 2, include_dashboard=False,
             log_to_driver=False, configure_logging=False)
    space = {"lr": tune.loguniform(1e-3, 0.3), "width": tune.choice([16, 32, 64]),
             "weight_decay": tune.loguniform(1e-6, 1e-2), "lib": args.lib, "epochs": args.epochs,
             "fail_once": args.fail_once}
    tuner = tune.Tuner(
        tune.with_resources(tune.with_parameters(trainable, data=spiral()), {"cpu": 1}), param_space=space,
        tune_config=tune.TuneConfig(metric="accuracy", mode="max", num_samples=args.samples,
                                    scheduler=ASHAScheduler(max_t=args.epochs, grace_period=2),
                                    search_alg=tune.search.BasicVariantGenerator(random_state=0)),
        run_config=tune.RunConfig(storage_path=args.storage, name=f"sweep-{args.lib}", verbose=0,
                                  failure_config=tune.FailureConfig(max_failures=1)))
    results = tuner.fit()
    best = results.get_best_result()
    epochs = [r.metrics.get("epoch", -1) + 1 for r in results]
    print(f"trials={len(results)} errors={results.num_errors} epochs run={sum(epochs)} "
          f"stopped early={sum(e < args.epochs for e in epochs)} resumed={sum(bool(r.metrics.get('resumed')) for r in results)}")
    print(f"best accuracy={best.metrics['accuracy']:.4f} config={ {k: best.config[k] for k in ('lr', 'width', 'weight_decay')} }")
    ck = best.checkpoint
    with ck.as_directory() as d:
        import ember
        state = ember.load(os.path.join(d, "state.pt"))
    print(f"best checkpoint epoch={state['epoch']} tensors={len(state['model'])}")
    ray.shutdown()


if __name__ == "__main__":
    main()
