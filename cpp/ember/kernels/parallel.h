// ember's own thread pool. Note [Threads]: every multi-threaded kernel runs here, and OpenBLAS is
// kept single-threaded (ember splits large products and hands each part to it), so on a small
// machine there is one set of workers and they never fight OpenBLAS's for the cores.
#pragma once
#include <algorithm>
#include <cstdint>

namespace ember {

int get_num_threads();
void set_num_threads(int n);  // n < 1 is clamped to 1

// Note [Flush denormal]: torch.set_flush_denormal. Subnormal floats are flushed to zero, as
// results (FTZ) and as inputs (DAZ), in the calling thread's floating-point control register;
// returns false where the CPU has no such mode (then nothing changes). The mode belongs to the
// thread, as torch's; the pool's workers take the mode of the thread whose parts they run (torch's
// OpenMP workers keep subnormals: half of a parallel op was flushed).
bool set_flush_denormal(bool on);

namespace detail {
void parallel_run(int n, void (*fn)(void*, int), void* ctx);
}

// Runs f(0) ... f(n - 1), each once, on the calling thread and up to n - 1 workers, and returns
// when all are done. An exception from a part run by the caller is rethrown after the others
// finish; f must not throw on a worker. n must not exceed get_num_threads(). When the workers are
// busy (another thread, or a nested call, is inside a parallel region) the parts run one after
// another on the caller instead.
template <class F>
void parallel_run(int n, F&& f) {
  if (n <= 1) {
    if (n == 1) f(0);
    return;
  }
  detail::parallel_run(n, [](void* c, int i) { (*static_cast<F*>(c))(i); }, &f);
}

// f(lo, hi) over one block of [0, n) per thread, blocks a multiple of `grain` long; `threads`
// caps the count (callers size it from the work). f must not throw on a worker. (Blocks taken
// dynamically from a shared counter measured no faster on a training step.)
template <class F>
void parallel_for(int64_t n, int threads, int64_t grain, F&& f) {
  grain = std::max<int64_t>(grain, 1);
  threads = (int)std::min<int64_t>({threads, get_num_threads(), (n + grain - 1) / grain});
  if (threads <= 1) {
    if (n > 0) f(int64_t(0), n);
    return;
  }
  const int64_t chunk = ((n + threads - 1) / threads + grain - 1) / grain * grain;
  parallel_run((int)((n + chunk - 1) / chunk), [&](int p) { f(p * chunk, std::min(n, (p + 1) * chunk)); });
}

// f(i) for each of n small products (a batch of matrices: vmap's stacked layers) with `flops` each:
// items split over the pool when there are enough of them and each is too small to split inside
// gemm; a large item parallelizes inside gemm instead (Note [Batched products] in ops/matmul.cpp).
template <class F>
void parallel_items(int64_t n, int64_t flops, F&& f) {
  const int threads = n > 1 && flops < (int64_t(1) << 21) && n * flops >= (int64_t(1) << 17) ? get_num_threads() : 1;
  parallel_for(n, threads, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) f(i);
  });
}

// f(lo, hi) over [0, n) of an elementwise kernel: on one thread while there are fewer than
// 2 * per_thread elements, else one block per thread that gets at least per_thread (blocks are
// whole 4096-element pieces, so vector loops start aligned as the data does).
template <class F>
void parallel_blocks(int64_t n, int64_t per_thread, F&& f) {
  parallel_for(n, (int)std::min<int64_t>(n / per_thread, 64), 1 << 12, f);
}

}  // namespace ember
