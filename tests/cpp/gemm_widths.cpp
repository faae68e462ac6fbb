// ember's own GEMM kernels (mid and packed, Note [GEMM paths]) built without per-target versions
// (-DEMBER_NO_CLONES), i.e. with 16-byte vectors, against a double-precision loop: the Python
// suite runs only the version for the CPU it is on. Each path is forced in turn.
#include "ember/kernels/gemm.h"

#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

template <class T>
int check(int64_t M, int64_t N, int64_t K, bool ta, bool tb, bool bias, bool relu, std::mt19937& g) {
  std::normal_distribution<double> d;
  std::vector<T> a(M * K), b(K * N), bs(N), c(M * N);
  for (auto& v : a) v = (T)d(g);
  for (auto& v : b) v = (T)d(g);
  for (auto& v : bs) v = (T)d(g);
  // A stored transposed (K x M) when ta, B stored transposed (N x K) when tb
  ember::MatRef A{a.data(), ta ? 1 : K, ta ? M : 1}, B{b.data(), tb ? 1 : N, tb ? K : 1};
  ember::gemm<T>(M, N, K, A, B, c.data(), ember::Epilogue<T>{bias ? bs.data() : nullptr, relu});
  int bad = 0;
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double s = 0, mag = 0;
      for (int64_t k = 0; k < K; ++k) {
        double x = a[ta ? k * M + i : i * K + k], y = b[tb ? j * K + k : k * N + j];
        s += x * y, mag += std::fabs(x * y);
      }
      if (bias) s += bs[j];
      if (relu && s < 0) s = 0;
      const double tol = (sizeof(T) == 4 ? 1e-5 : 1e-12) * (mag + 1);
      if (std::fabs(c[i * N + j] - s) > tol && bad++ < 3)
        std::printf("M=%ld N=%ld K=%ld ta=%d tb=%d C[%ld,%ld]=%g want %g\n", (long)M, (long)N, (long)K, ta, tb, (long)i,
                    (long)j, (double)c[i * N + j], s);
    }
  return bad;
}

int main() {
  std::mt19937 g(7);
  int bad = 0;
  const int64_t shapes[][3] = {{32, 64, 64}, {7, 33, 70}, {128, 100, 37}, {5, 16, 1000}, {61, 130, 9}, {50, 9, 1100}};
  for (auto path : {ember::GemmPath::Mid, ember::GemmPath::Packed, ember::GemmPath::Direct}) {
    ember::set_gemm_path(path);
    for (auto& s : shapes)
      for (int f = 0; f < 16; ++f) {
        bad += check<float>(s[0], s[1], s[2], f & 1, f & 2, f & 4, f & 8, g);
        bad += check<double>(s[0], s[1], s[2], f & 1, f & 2, f & 4, f & 8, g);
      }
  }
  std::printf(bad ? "%d wrong\n" : "ok\n", bad);
  return bad != 0;
}
