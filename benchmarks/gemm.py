"""Matrix-product throughput (GFLOP/s, float32) of ember, numpy and torch on the same operands,
interleaved round by round, each pass after a pause that lets the previous flavour's spinning
threads go idle (Note [Settle] in run.py) and 10 ms of untimed calls that wake this flavour's
threads again (a thread pool asleep takes up to a few ms to be back on an idle core); medians. The layouts are the three a linear layer uses: A @ B^T
(forward), A @ B (input gradient), A^T @ B (weight gradient).

    python benchmarks/gemm.py [--rounds 7]
"""
import argparse
import statistics
import time

import numpy as np

import ember

SHAPES = [(128, 256, 784), (128, 128, 256), (256, 784, 128), (256, 512, 1024), (512, 2048, 1024),
          (1024, 1024, 1024)]  # M x N x K
SETTLE_S = 0.15
WARM_S = 0.01
LAYOUTS = {"A@B^T": (False, True), "A@B": (False, False), "A^T@B": (True, False)}


def operands(M, N, K, ta, tb, rng):
    a = rng.standard_normal((K, M) if ta else (M, K)).astype(np.float32)
    b = rng.standard_normal((N, K) if tb else (K, N)).astype(np.float32)
    return a, b


def flavours(a, b, ta, tb):
    out = {}
    ea, eb = ember.tensor(a), ember.tensor(b)
    ea, eb = (ea.t() if ta else ea), (eb.t() if tb else eb)
    out["ember"] = lambda: ember.matmul(ea, eb)
    na, nb = (a.T if ta else a), (b.T if tb else b)
    out["numpy"] = lambda: na @ nb
    try:
        import torch
        xa, xb = torch.from_numpy(a), torch.from_numpy(b)
        xa, xb = (xa.t() if ta else xa), (xb.t() if tb else xb)
        out["torch"] = lambda: torch.matmul(xa, xb)
    except ImportError:
        pass
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    names = None
    print("| M x N x K | layout | " + " | ".join(["ember", "numpy", "torch"]) + " |")
    print("|---|---|---|---|---|")
    for M, N, K in SHAPES:
        for lname, (ta, tb) in LAYOUTS.items():
            fs = flavours(*operands(M, N, K, ta, tb, rng), ta, tb)
            names = list(fs)
            reps = max(3, int(5e7 / (M * N * K)))
            times = {f: [] for f in fs}
            for f, fn in fs.items():
                fn()
            for _ in range(args.rounds):
                for f, fn in fs.items():
                    time.sleep(SETTLE_S)
                    t0 = time.perf_counter()
                    while time.perf_counter() - t0 < WARM_S:  # threads (and idle vCPUs) back up
                        fn()
                    t0 = time.perf_counter()
                    for _ in range(reps):
                        fn()
                    times[f].append((time.perf_counter() - t0) / reps)
            gf = {f: 2 * M * N * K / statistics.median(v) / 1e9 for f, v in times.items()}
            print(f"| {M}x{N}x{K} | {lname} | " + " | ".join(f"{gf[f]:.0f}" if f in gf else "-" for f in ("ember", "numpy", "torch")) + " |",
                  flush=True)


if __name__ == "__main__":
    with ember.no_grad():
        main()
