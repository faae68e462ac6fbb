// Stress test of ember's thread pool (cpp/ember/kernels/parallel.cpp), built with
// -fsanitize=thread by tests/test_threads.py: two callers submit jobs of 1-4 parts with more
// workers than some jobs use, and every element written must be the job's own.
#include <cstdio>
#include <cstdlib>
#include <random>
#include <thread>
#include <vector>

#include "ember/kernels/parallel.h"

int main() {
  ember::set_num_threads(4);
  auto caller = [](unsigned seed) {
    std::mt19937 rng(seed);
    std::vector<int64_t> out(4096);
    for (int it = 0; it < 20000; ++it) {
      const int parts = 1 + (int)(rng() % 4);
      const int64_t n = 64 + (int64_t)(rng() % 4000);
      ember::parallel_for(n, parts, 16, [&](int64_t lo, int64_t hi) {
        for (int64_t i = lo; i < hi; ++i) out[i] = i * it;
      });
      for (int64_t i = 0; i < n; ++i)
        if (out[i] != i * it) {
          std::printf("wrong element %lld in job %d\n", (long long)i, it);
          std::abort();
        }
    }
  };
  std::thread a(caller, 1u), b(caller, 2u);
  a.join();
  b.join();
  std::printf("ok\n");
}
