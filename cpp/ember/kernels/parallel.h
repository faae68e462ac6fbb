// ember's own thread pool. Note [Threads]: every multi-threaded kernel runs here, and OpenBLAS is
// kept single-threaded (ember splits large products and hands each part to it), so on a small
// machine there is one set of workers and they never fight OpenBLAS's for the cores.
#pragma once

namespace ember {

int get_num_threads();
void set_num_threads(int n);  // n < 1 is clamped to 1

namespace detail {
void parallel_run(int n, void (*fn)(void*, int), void* ctx);
}

// Runs f(0) ... f(n - 1) at once, f(0) on the calling thread, and returns when all are done;
// f(1) ... f(n - 1) must not throw.
// n must not exceed get_num_threads(). When the workers are busy (another thread, or a nested
// call, is inside a parallel region) the parts run one after another on the caller instead.
template <class F>
void parallel_run(int n, F&& f) {
  if (n <= 1) {
    if (n == 1) f(0);
    return;
  }
  detail::parallel_run(n, [](void* c, int i) { (*static_cast<F*>(c))(i); }, &f);
}

}  // namespace ember
