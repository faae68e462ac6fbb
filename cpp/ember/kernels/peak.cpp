// The FMA peak probe benchmarks/run.py reports next to the GEMM results: float32 fused
// multiply-adds of the widest vectors this CPU runs (the same target ember's kernels select),
// with enough independent chains to cover the FMA latency on every port, on each thread.
#include "ember/kernels/peak.h"
#include "ember/kernels/parallel.h"
#include "ember/kernels/simd.h"

#include <algorithm>
#include <atomic>
#include <chrono>

namespace ember {
namespace {
// 12 chains of acc = acc * x + y: 12 independent FMAs per round, more than 2 ports x 4 cycles.
template <int VB>
struct FVec {
  typedef float type __attribute__((vector_size(VB)));
};
template <int VB>
EMBER_INLINE float fma_rounds(int64_t rounds) {
  using V = typename FVec<VB>::type;
  V acc[12], x = V{} + 1.0000001f, y = V{} + 1e-7f;
  for (int i = 0; i < 12; ++i) acc[i] = V{} + (float)i;
  for (int64_t r = 0; r < rounds; ++r)
    for (int i = 0; i < 12; ++i) acc[i] = acc[i] * x + y;
  float s = 0;
  for (int i = 0; i < 12; ++i) s += acc[i][0];
  return s;
}
#if EMBER_HAS_CLONES
__attribute__((target("arch=x86-64-v4"))) int probe_width() { return 64; }
__attribute__((target("arch=x86-64-v3"))) int probe_width() { return 32; }
__attribute__((target("default"))) int probe_width() { return 16; }
__attribute__((target("arch=x86-64-v4"), noinline)) float probe(int64_t rounds) { return fma_rounds<64>(rounds); }
__attribute__((target("arch=x86-64-v3"), noinline)) float probe(int64_t rounds) { return fma_rounds<32>(rounds); }
__attribute__((target("default"), noinline)) float probe(int64_t rounds) { return fma_rounds<16>(rounds); }
#else
int probe_width() { return 16; }
__attribute__((noinline)) float probe(int64_t rounds) { return fma_rounds<16>(rounds); }
#endif
}  // namespace

double fma_peak_gflops(int threads, double seconds) {
  threads = std::clamp(threads, 1, get_num_threads());
  const double flops_per_round = 12.0 * 2 * (probe_width() / 4);
  // Size the rounds from a short calibration run, then time all threads together.
  int64_t rounds = 1 << 16;
  for (;;) {
    const auto t0 = std::chrono::steady_clock::now();
    volatile float sink = probe(rounds);
    (void)sink;
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (dt > seconds / 10 || rounds > (int64_t(1) << 40)) {
      rounds = std::max<int64_t>(rounds, (int64_t)(rounds * seconds / std::max(dt, 1e-9)));
      break;
    }
    rounds *= 4;
  }
  std::atomic<float> sink{0};
  const auto t0 = std::chrono::steady_clock::now();
  parallel_run(threads, [&](int) { sink.store(probe(rounds), std::memory_order_relaxed); });
  const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return threads * rounds * flops_per_round / dt / 1e9;
}

}  // namespace ember
