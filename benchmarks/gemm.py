"""Matrix-product throughput (GFLOP/s, float32) of ember, numpy and torch on the same operands,
next to this CPU's measured FMA peak (all threads, the widest vectors it runs; a small probe in
ember's core). Flavours run interleaved round by round, each pass after a pause that lets the
previous flavour's spinning threads go idle (Note [Settle] in run.py) and 10 ms of untimed calls
that wake this flavour's threads again (a thread pool asleep takes up to a few ms to be back on
an idle core); medians. The layouts are the three a linear layer uses: A @ B^T (forward), A @ B
(input gradient), A^T @ B (weight gradient). ember's kernel per shape is the one its
calibration ranked fastest on this CPU (Note [GEMM paths] in cpp/ember/kernels/gemm.cpp).

    python benchmarks/gemm.py [--rounds 5] [--sizes 64,128,...,4096]
"""
import argparse
import statistics
import time

import numpy as np

import ember

SIZES = [64, 128, 256, 512, 1024, 2048, 4096]
LAYER_SHAPES = [(128, 256, 784), (512, 2048, 1024)]  # M x N x K: W3's first layer, W4's first layer
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


def fma_peak():
    """GFLOP/s of float32 FMAs on all of ember's threads (best of three 0.2 s probes)."""
    return max(ember._C._fma_peak(ember.get_num_threads(), 0.2) for _ in range(3))


def measure(M, N, K, layout, rounds, rng=None):
    """flavour -> list of GFLOP/s, one per interleaved round."""
    rng = rng or np.random.default_rng(0)
    ta, tb = LAYOUTS[layout]
    fs = flavours(*operands(M, N, K, ta, tb, rng), ta, tb)
    reps = max(1, int(5e7 / (M * N * K)))
    gflops = {f: [] for f in fs}
    with ember.no_grad():
        for fn in fs.values():
            fn()
        for _ in range(rounds):
            for f, fn in fs.items():
                time.sleep(SETTLE_S)
                t0 = time.perf_counter()
                while time.perf_counter() - t0 < WARM_S:  # threads (and idle vCPUs) back up
                    fn()
                t0 = time.perf_counter()
                for _ in range(reps):
                    fn()
                gflops[f].append(2 * M * N * K / ((time.perf_counter() - t0) / reps) / 1e9)
    return gflops


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--sizes", default=",".join(map(str, SIZES)), help="square sizes, comma-separated")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    peak = fma_peak()
    info = ember._C._gemm_info()
    print(f"FMA peak (float32, {ember.get_num_threads()} threads): {peak:.0f} GFLOP/s; ember's packed kernel: "
          f"{info['vector_bytes'] * 8}-bit vectors, {info['mr']}x{info['nr']} tile, KC {info['kc']}, MC {info['mc']}, "
          f"NC {info['nc']} (L1 {info['l1'] >> 10} KB, L2 {info['l2'] >> 10} KB)")
    print("| M x N x K | layout | ember | numpy | torch | ember % of peak |")
    print("|---|---|---|---|---|---|")
    shapes = [(n, n, n) for n in map(int, args.sizes.split(","))] + LAYER_SHAPES
    for M, N, K in shapes:
        for layout in LAYOUTS:
            gf = {f: statistics.median(v) for f, v in measure(M, N, K, layout, args.rounds, rng).items()}
            cells = " | ".join(f"{gf[f]:.0f}" if f in gf else "-" for f in ("ember", "numpy", "torch"))
            print(f"| {M}x{N}x{K} | {layout} | {cells} | {100 * gf['ember'] / peak:.0f}% |", flush=True)


if __name__ == "__main__":
    main()
