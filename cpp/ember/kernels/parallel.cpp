#include "ember/kernels/parallel.h"

#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <exception>
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

// The calling thread's flush-to-zero bits (Note [Flush denormal]): MXCSR's FTZ and DAZ on x86-64,
// FPCR's FZ on AArch64; 0 elsewhere.
#if defined(__x86_64__)
constexpr unsigned kFlushBits = 0x8040;
unsigned fp_mode() { return _mm_getcsr() & kFlushBits; }
void set_fp_mode(unsigned m) { _mm_setcsr((_mm_getcsr() & ~kFlushBits) | m); }
#elif defined(__aarch64__)
constexpr unsigned kFlushBits = 1u << 24;
unsigned fp_mode() {
  uint64_t r;
  __asm__ volatile("mrs %0, fpcr" : "=r"(r));
  return (unsigned)r & kFlushBits;
}
void set_fp_mode(unsigned m) {
  uint64_t r;
  __asm__ volatile("mrs %0, fpcr" : "=r"(r));
  r = (r & ~(uint64_t)kFlushBits) | m;
  __asm__ volatile("msr fpcr, %0" : : "r"(r));
}
#else
constexpr unsigned kFlushBits = 0;
unsigned fp_mode() { return 0; }
void set_fp_mode(unsigned) {}
#endif

// Workers spin this long after a job before sleeping: a training step's products are tens of
// microseconds apart, and a woken thread can take milliseconds to be running on an idle core of
// a VM again (parts it has not claimed by then are run by the caller). OpenBLAS spins ~100 ms.
constexpr auto kSpin = std::chrono::milliseconds(10);

// Note [Pool contention]: when two threads call into the pool at once (two Python threads training
// two models), one gets the workers and the other runs its parts alone, and the workers' spinning
// between jobs takes a core from that other thread: both ran slower than one thread alone. So a
// caller that finds the pool busy marks it contended for kContended: meanwhile every call runs its
// parts on the calling thread and idle workers sleep instead of spinning, so each thread keeps a
// core. (Nested calls, from a part already running, stay serial without marking anything.)
constexpr int64_t kContended = 20'000'000;  // ns
std::atomic<int64_t> g_contended_until{0};
thread_local bool t_in_job = false;  // inside a part: a pool worker, or a caller running its job

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
bool contended() { return now_ns() < g_contended_until.load(std::memory_order_relaxed); }

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
//
// A job is published as one atomic word, (serial << 16) | parts. Its parts are claimed from a
// second word, (serial << 16) | next part, by compare-and-swap, by the caller as well as the
// workers: a worker that arrives late (descheduled while other processes' BLAS or OpenMP threads
// spin on the same cores) finds the parts already done by the caller instead of being waited
// for, and a worker still looking at a finished job cannot claim from the next one. fn/ctx are
// read only after a successful claim, and the caller rewrites them only after every part is done.
struct Pool {
  std::mutex m;
  std::condition_variable cv;
  std::atomic<uint64_t> job{0}, claim{0};
  std::atomic<int> done{0}, sleeping{0};
  std::atomic_flag busy = ATOMIC_FLAG_INIT;
  void (*fn)(void*, int) = nullptr;
  void* ctx = nullptr;
  unsigned mode = 0;  // the caller's flush-to-zero bits, which a worker takes for the job's parts
  int started = 0;

  // Claims and runs parts of job j until none is left; returns how many it ran.
  template <class Run>
  int work(uint64_t j, Run&& run) {
    const uint64_t serial = j >> 16, parts = j & 0xffff;
    int ran = 0;
    for (uint64_t c = claim.load(std::memory_order_acquire); (c >> 16) == serial && (c & 0xffff) < parts;) {
      if (claim.compare_exchange_weak(c, c + 1, std::memory_order_acq_rel)) {
        run((int)(c & 0xffff));
        ++ran;
        c = claim.load(std::memory_order_acquire);
      }
    }
    return ran;
  }

  void loop(uint64_t seen) {
    t_in_job = true;
    unsigned mine = fp_mode();  // (a new thread starts with its creator's)
    for (;;) {
      auto until = std::chrono::steady_clock::now() + kSpin;
      uint64_t j;
      for (int i = 0; (j = job.load(std::memory_order_acquire)) == seen; ++i) {
        EMBER_PAUSE();
        if ((i & 255) == 255 && (std::chrono::steady_clock::now() > until || contended())) {
          std::unique_lock<std::mutex> lk(m);
          sleeping.fetch_add(1);
          cv.wait(lk, [&] { return job.load() != seen; });
          sleeping.fetch_sub(1);
        }
      }
      seen = j;
      work(j, [&](int part) {
        if (mode != mine) set_fp_mode(mine = mode);
        fn(ctx, part);
        done.fetch_add(1, std::memory_order_release);
      });
    }
  }

  void run(int parts, void (*f)(void*, int), void* c) {
    while (started < parts - 1) {
      ++started;
      std::thread([this, j = job.load()] { loop(j); }).detach();
    }
    fn = f, ctx = c, mode = fp_mode();
    done.store(0, std::memory_order_relaxed);
    const uint64_t serial = (job.load(std::memory_order_relaxed) >> 16) + 1;
    claim.store(serial << 16, std::memory_order_relaxed);
    job.store(serial << 16 | (uint64_t)parts);  // publishes (seq_cst: see the sleeping check below)
    if (sleeping.load() > 0) {
      { std::lock_guard<std::mutex> lk(m); }
      cv.notify_all();
    }
    std::exception_ptr error;
    const int mine = work(job.load(std::memory_order_relaxed), [&](int part) {
      if (!error) {
        try {
          f(c, part);
        } catch (...) {
          error = std::current_exception();
        }
      }
    });
    // The rest were claimed by workers: wait, yielding the core after a while in case the one
    // holding a part was descheduled.
    for (int i = 0; done.load(std::memory_order_acquire) < parts - mine; ++i) {
      if (i < 4096) EMBER_PAUSE();
      else std::this_thread::yield();
    }
    if (error) std::rethrow_exception(error);
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

bool set_flush_denormal(bool on) {
  if (kFlushBits == 0) return false;
  set_fp_mode(on ? kFlushBits : 0);
  return true;
}

void set_num_threads(int n) { g_threads.store(std::max(1, std::min(n, 256)), std::memory_order_relaxed); }  // < 2^16 parts

namespace detail {
void parallel_run(int n, void (*fn)(void*, int), void* ctx) {
  Pool* p = pool();
  if (t_in_job || contended()) {  // nested, or other threads compute too (Note [Pool contention])
    for (int i = 0; i < n; ++i) fn(ctx, i);
    return;
  }
  if (p->busy.test_and_set(std::memory_order_acquire)) {
    g_contended_until.store(now_ns() + kContended, std::memory_order_relaxed);
    for (int i = 0; i < n; ++i) fn(ctx, i);
    return;
  }
  struct Release {
    Pool* p;
    ~Release() {
      t_in_job = false;
      p->busy.clear(std::memory_order_release);
    }
  } release{p};
  t_in_job = true;
  p->run(n, fn, ctx);
}
}  // namespace detail

}  // namespace ember
