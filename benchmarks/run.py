"""Run every benchmark workload in every flavour (ember, torch, numpy), interleaved round by
round (A B C A B C ...) so machine noise hits all alike; print µs per training step or per call
(median, min, max over the rounds) and two speedups per workload:

    torch/ember  how many times faster ember's step is than torch's (the same program on both)
    numpy/ember  how many times faster ember's step is than a hand-written numpy version
                 (above 1: ember wins; below 1: the numpy version is faster)

A speedup is the ratio of medians; the chart shows the median of the per-round ratios with
min-max whiskers. The "gemm" part measures this CPU's float32 FMA peak (a probe in ember's core,
all threads) and a 2048 x 2048 product in each flavour, and reports it, W4, W5 (LeNet-5, its
convs counted as their im2col products), W6 and W7 (the LSTM and the GPT) in GFLOP/s as a
fraction of that peak. Results go to
benchmarks/results/latest.json (and .png), which git ignores, or to the path given with --out.

    python benchmarks/run.py            # the full suite (a few minutes on 2 cores)
    python benchmarks/run.py --quick    # a few steps of each: a smoke test, not a measurement
"""
import argparse
import json
import os
import platform
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import gemm  # noqa: E402
import micro  # noqa: E402
import workloads  # noqa: E402

FLAVORS = ["ember", "torch", "numpy"]


def machine():
    """CPU model, cores, the widest SIMD level the CPU reports (the one ember's kernels select at
    run time) and Python's version."""
    cpu = platform.processor() or platform.machine()
    flags = set()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    simd = ("AVX-512" if {"avx512f", "avx512bw", "avx512vl"} <= flags else "AVX2+FMA" if {"avx2", "fma"} <= flags
            else "baseline x86-64" if flags else "unknown SIMD")
    return f"{cpu}, {os.cpu_count()} cores, {simd}, Python {platform.python_version()}"


# Note [Settle]: numpy's and ember's OpenBLAS pools and torch's OpenMP pool busy-wait for a while
# after their last parallel call. On a 2-core machine the previous flavour's spinning threads
# would steal a core from the next one, so each pass starts after a short idle pause.
SETTLE_S = 0.3


def bench_workloads(ids, flavors, rounds, quick):
    results = {}
    for wid in ids:
        runs = {f: workloads.build(wid, f, quick) for f in flavors}
        times = {f: [] for f in flavors}
        pass_s = {}
        for f in flavors:  # warm-up pass (allocator caches, BLAS threads, lazy imports); sizes the passes
            t0 = time.perf_counter()
            runs[f].steps()
            pass_s[f] = time.perf_counter() - t0
        for _ in range(rounds):
            for f in flavors:
                # Short workloads repeat their pass to fill ~0.1 s. Every timed pass follows one
                # untimed pass that brings clocks, caches and the flavour's sleeping threads back
                # up from the settle pause (a pool's thread can take milliseconds to be running on
                # an idle core of this VM again).
                reps = 1 if quick else max(1, int(0.1 / max(pass_s[f], 1e-6)))
                if not quick:
                    time.sleep(SETTLE_S)
                    runs[f].steps()
                t0 = time.perf_counter()
                n = sum(runs[f].steps() for _ in range(reps))
                times[f].append((time.perf_counter() - t0) / n * 1e6)
        if workloads.SPECS[wid].get("check_fresh"):  # chaotic after one pass: compare fresh runs
            losses = {f: workloads.fresh_loss(wid, f, quick) for f in flavors}
        else:
            losses = {f: runs[f].loss() for f in flavors}
        results[wid] = {"us_per_step": times, "final_loss": losses}
        print(f"  {wid:8s} done (losses: " + ", ".join(f"{f}={losses[f]:.6g}" for f in flavors) + ")", flush=True)
    return results


def gemm_samples(results):
    """The product's rounds as µs per call, keyed like the table's row."""
    g = results.get("gemm")
    if not g:
        return {}
    n = g["shape"][0]
    return {f"matmul {n}^2": {f: [2 * n ** 3 / x / 1e3 for x in v] for f, v in g["gflops"].items()}}


def chart_title(results):
    peak = results.get("gemm", {}).get("fma_peak_gflops")
    return f"ember's speedups, {results['machine']}" + (f", measured FMA peak {peak:.0f} GFLOP/s" if peak else "")


def replot(path):
    """The chart of a results JSON written earlier (after a change to the chart only)."""
    with open(path) as fh:
        results = json.load(fh)
    samples = {wid: r["us_per_step"] for wid, r in results.get("workloads", {}).items()}
    samples.update({name: r["us_per_call"] for name, r in results.get("micro", {}).items()})
    samples.update(gemm_samples(results))
    png = os.path.splitext(path)[0] + ".png"
    chart(speedups(samples, results["flavors"]), chart_title(results), png)
    print(f"wrote {png}")


def ember_threads():
    import ember
    return ember.get_num_threads()


def ember_gemm_info():
    import ember
    return ember._C._gemm_info()


def bench_micro(flavors, rounds, number):
    results = {}
    for name in micro.MICRO:
        fns = {f: micro.micro_callable(name, f) for f in flavors}
        fns = {f: fn for f, fn in fns.items() if fn is not None}
        times = {f: [] for f in fns}
        for f, fn in fns.items():
            micro.time_call(fn, max(number // 10, 1))
        for _ in range(rounds):
            for f, fn in fns.items():
                times[f].append(micro.time_call(fn, number))
        results[name] = {"us_per_call": times}
    return results


def summary(samples):
    return {"median": statistics.median(samples), "min": min(samples), "max": max(samples)}


def fmt_row(name, stats, flavors):
    cells = []
    for f in flavors:
        s = stats.get(f)
        cells.append(f"{s['median']:10.1f} ({s['min']:.1f}-{s['max']:.1f})" if s else f"{'-':>10s}")
    e = stats.get("ember")
    ratios = []
    for other in ("torch", "numpy"):
        o = stats.get(other)
        ratios.append(f"{o['median'] / e['median']:7.1f}x" if (e and o) else f"{'-':>8s}")
    return f"| {name:16s} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |"


def check_losses(results, flavors, rtol):
    bad = []
    for wid, r in results.items():
        ref = r["final_loss"][flavors[0]]
        for f in flavors[1:]:
            v = r["final_loss"][f]
            if abs(v - ref) > rtol * max(abs(ref), 1e-6):
                bad.append(f"{wid}: {flavors[0]}={ref:.6g} vs {f}={v:.6g}")
    return bad


def speedups(samples_by_name, flavors):
    """name -> other flavour -> summary of the per-round ratios other/ember (rounds are interleaved,
    so round i of each flavour ran under the same machine conditions)."""
    res = {}
    for name, samples in samples_by_name.items():
        e = samples.get("ember")
        res[name] = {f: summary([o / m for o, m in zip(samples[f], e)]) for f in flavors
                     if f != "ember" and e and samples.get(f)}
    return res


def chart(ratios_by_name, title, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    names = list(ratios_by_name)
    labels = [workloads.LABELS[n] if n in workloads.LABELS else f"{n}: {micro.MICRO[n]}" if n in micro.MICRO else n
              for n in names]
    others = [f for f in ("torch", "numpy") if any(f in r for r in ratios_by_name.values())]
    width = 0.8 / max(len(others), 1)
    fig, ax = plt.subplots(figsize=(max(8, len(names) * 1.2), 6))
    for i, f in enumerate(others):
        xs = [k + i * width for k in range(len(names)) if f in ratios_by_name[names[k]]]
        rs = [ratios_by_name[n][f] for n in names if f in ratios_by_name[n]]
        med = [r["median"] for r in rs]
        err = [[r["median"] - r["min"] for r in rs], [r["max"] - r["median"] for r in rs]]
        ax.bar(xs, med, width, yerr=err, capsize=3, label=f"{f} time / ember time (median, min-max over rounds)")
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_xticks([k + width * (len(others) - 1) / 2 for k in range(len(names))])
    ax.set_xticklabels([lb if len(lb) <= 42 else lb[:40] + "..." for lb in labels], rotation=30, ha="right",
                       fontsize=8)
    ax.set_ylabel("ember's speedup (log; >1: ember faster)")
    ax.set_title(title, fontsize=9)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a few steps of each workload (CI smoke test)")
    ap.add_argument("--rounds", type=int, default=None, help="interleaved rounds per workload (default 7, quick 2)")
    ap.add_argument("--only", default=None, help="comma-separated workload ids, e.g. W1,W2,micro,startup")
    ap.add_argument("--no-chart", action="store_true")
    ap.add_argument("--replot", metavar="JSON", help="only redraw the chart of a results file written earlier")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "latest.json"),
                    help="where the JSON (and the chart, same name .png) go; default benchmarks/results/latest.json "
                         "(git-ignored)")
    args = ap.parse_args(argv)
    if args.replot:
        return replot(args.replot) or 0

    flavors = [f for f in FLAVORS if workloads.available(f)]
    if "numpy" not in flavors or "ember" not in flavors:
        sys.exit("ember and numpy are required")
    if "torch" not in flavors:
        print("note: torch is not installed; its columns are absent (pip install torch==2.13.0)")
    rounds = args.rounds or (2 if args.quick else 7)
    only = args.only.split(",") if args.only else list(workloads.WORKLOADS) + ["micro", "gemm", "startup"]
    ids = [w for w in workloads.WORKLOADS if w in only]

    print(f"machine: {machine()}")
    results = {"machine": machine(), "quick": args.quick, "rounds": rounds, "flavors": flavors}
    if "gemm" in only:
        results["gemm_kernel"] = ember_gemm_info()
    stats = {}
    if ids:
        print(f"workloads ({rounds} interleaved rounds):")
        wr = bench_workloads(ids, flavors, rounds, args.quick)
        results["workloads"] = wr
        for wid, r in wr.items():
            stats[wid] = {f: summary(v) for f, v in r["us_per_step"].items()}
        bad = check_losses(wr, flavors, rtol=5e-2 if not args.quick else 1e-1)
        results["loss_mismatch"] = bad
        for b in bad:
            print("  LOSS MISMATCH", b)
    if "micro" in only:
        mr = bench_micro(flavors, rounds, 2000 if args.quick else 20000)
        results["micro"] = mr
        for name, r in mr.items():
            stats[name] = {f: summary(v) for f, v in r["us_per_call"].items()}
    if "gemm" in only:
        peak = gemm.fma_peak()
        n = 512 if args.quick else 2048
        gf = gemm.measure(n, n, n, "A@B", rounds)
        results["gemm"] = {"fma_peak_gflops": peak, "shape": [n, n, n], "gflops": gf}
        stats.update({k: {f: summary(v) for f, v in d.items()} for k, d in gemm_samples(results).items()})
    if "startup" in only and not args.quick:
        st = {f: micro.startup(f) for f in flavors}
        results["startup"] = {f: {"import_s": v[0], "rss_after_W2_mib": v[1]} for f, v in st.items()}

    header = "| workload         | " + " | ".join(f"{f + ' µs (min-max)':>24s}" for f in flavors) + \
             " | torch/ember | numpy/ember |"
    print()
    print(header)
    print("|" + "---|" * (len(flavors) + 3))
    for name, s in stats.items():
        print(fmt_row(name, s, flavors))
    if "gemm" in results:
        g = results["gemm"]
        peak, n = g["fma_peak_gflops"], g["shape"][0]
        print(f"\nFMA peak (float32, {g.get('threads', ember_threads())} threads, measured): {peak:.0f} GFLOP/s")
        line = lambda d: ", ".join(f"{f} {statistics.median(v):.0f} GFLOP/s ({100 * statistics.median(v) / peak:.0f}%)"
                                   for f, v in d.items())
        print(f"matmul {n}^2 (A @ B): " + line(g["gflops"]))
        for wid in ("W4", "W5", "W6", "W7"):
            if wid in results.get("workloads", {}):
                fl = workloads.step_flops(wid)
                wg = {f: [fl / (us * 1e3) for us in v] for f, v in results["workloads"][wid]["us_per_step"].items()}
                g[f"{wid}_gflops"] = wg
                print(f"{wid} products: " + line(wg))
    if "startup" in results:
        print()
        for f, v in results["startup"].items():
            print(f"startup {f:6s}: import {v['import_s'] * 1000:7.0f} ms, RSS after W2 {v['rss_after_W2_mib']:7.1f} MiB")
    results["summary"] = stats
    samples = {wid: r["us_per_step"] for wid, r in results.get("workloads", {}).items()}
    samples.update({name: r["us_per_call"] for name, r in results.get("micro", {}).items()})
    samples.update(gemm_samples(results))
    results["speedups"] = speedups(samples, flavors)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(results, fh, indent=1)
    print(f"\nwrote {args.out}")
    if not args.no_chart:
        try:
            png = os.path.splitext(args.out)[0] + ".png"
            chart(results["speedups"], chart_title(results), png)
            print(f"wrote {png}")
        except ImportError:
            print("matplotlib is not installed: no chart (pip install matplotlib)")
    return 1 if results.get("loss_mismatch") else 0


if __name__ == "__main__":
    sys.exit(main())
