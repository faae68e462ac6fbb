#include "ember/kernels/parallel.h"

#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>

#if defined(__x86_64__)
#include <immintrin.h>
#define EMBER_PAUSE() _mm_pause()
#else
#define EMBER_PAUSE() std::this_thread::yield()
#endif

namespace ember {
namespace {

// Workers spin this long after a job before sleeping: a training step's products are tens of
// microseconds apart, and waking a sleeping thread costs about as much as a small product.
constexpr auto kSpin = std::chrono::microseconds(2000);

int default_threads() {
  if (const char* s = std::getenv("OMP_NUM_THREADS")) {
    char* end;
    long v = std::strtol(s, &end, 10);
    if (end != s && v >= 1) return (int)std::min(v, 256L);
  }
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

// Workers are detached and the pool is never destroyed: a joinable thread in a static would
// terminate the process at exit, and a worker may still be asleep on the condition variable.
// A job is published as one atomic word, (serial << 16) | parts: a worker that is not among the
// parts never reads fn/ctx, which the caller may already be rewriting for the next job (it only
// waits for the parts it used).
struct Pool {
  std::mutex m;
  std::condition_variable cv;
  std::atomic<uint64_t> job{0};
  std::atomic<int> pending{0}, sleeping{0};
  std::atomic_flag busy = ATOMIC_FLAG_INIT;
  void (*fn)(void*, int) = nullptr;
  void* ctx = nullptr;
  int started = 0;

  void loop(int id, uint64_t seen) {
    for (;;) {
      auto until = std::chrono::steady_clock::now() + kSpin;
      uint64_t j;
      for (int i = 0; (j = job.load(std::memory_order_acquire)) == seen; ++i) {
        EMBER_PAUSE();
        if ((i & 255) == 255 && std::chrono::steady_clock::now() > until) {
          std::unique_lock<std::mutex> lk(m);
          sleeping.fetch_add(1);
          cv.wait(lk, [&] { return job.load() != seen; });
          sleeping.fetch_sub(1);
        }
      }
      seen = j;
      if (id < (int)(j & 0xffff)) {
        fn(ctx, id);
        pending.fetch_sub(1, std::memory_order_release);
      }
    }
  }

  void run(int parts, void (*f)(void*, int), void* c) {
    while (started < parts - 1) {
      const int id = ++started;
      std::thread([this, id, j = job.load()] { loop(id, j); }).detach();
    }
    fn = f, ctx = c;
    pending.store(parts - 1, std::memory_order_relaxed);
    // publishes the job (seq_cst: see the sleeping check below)
    job.store(((job.load(std::memory_order_relaxed) >> 16) + 1) << 16 | (uint64_t)parts);
    if (sleeping.load() > 0) {
      { std::lock_guard<std::mutex> lk(m); }
      cv.notify_all();
    }
    try {
      f(c, 0);
    } catch (...) {
      while (pending.load(std::memory_order_acquire) > 0) EMBER_PAUSE();
      throw;
    }
    while (pending.load(std::memory_order_acquire) > 0) EMBER_PAUSE();
  }
};

std::atomic<Pool*> g_pool{nullptr};
std::atomic<int> g_threads{0};

Pool* pool() {
  Pool* p = g_pool.load(std::memory_order_acquire);
  if (p) return p;
  static std::once_flag once;
  std::call_once(once, [] {
    g_pool.store(new Pool, std::memory_order_release);
    // A forked child has only the forking thread: it gets a fresh pool and starts its own workers.
    pthread_atfork(nullptr, nullptr, [] { g_pool.store(new Pool, std::memory_order_release); });
  });
  return g_pool.load(std::memory_order_acquire);
}
}  // namespace

int get_num_threads() {
  int n = g_threads.load(std::memory_order_relaxed);
  if (n == 0) {
    int expected = 0;
    g_threads.compare_exchange_strong(expected, default_threads());
    n = g_threads.load(std::memory_order_relaxed);
  }
  return n;
}

void set_num_threads(int n) { g_threads.store(std::max(1, std::min(n, 256)), std::memory_order_relaxed); }  // < 2^16 parts

namespace detail {
void parallel_run(int n, void (*fn)(void*, int), void* ctx) {
  Pool* p = pool();
  if (p->busy.test_and_set(std::memory_order_acquire)) {
    for (int i = 0; i < n; ++i) fn(ctx, i);
    return;
  }
  struct Release {
    Pool* p;
    ~Release() { p->busy.clear(std::memory_order_release); }
  } release{p};
  p->run(n, fn, ctx);
}
}  // namespace detail

}  // namespace ember
