// gemm: the BLAS path (row-major, transposes expressed through strides) and the direct loop.
#include "ember/kernels/gemm.h"
#include "ember/kernels/simd.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include <cblas.h>

namespace ember {

namespace {
// Below this many multiply-adds a BLAS call costs more than it saves.
constexpr int64_t kDirectMaxFlops = 8 * 1024;

// Dot form: both A's rows and B's columns are unit-stride along k (x @ W^T with W row-major, the
// nn.Linear layout). Eight accumulators let the compiler vectorise without reassociation flags.
template <class T>
EMBER_INLINE void gemm_dot(int64_t M, int64_t N, int64_t K, const T* a, int64_t lda, const T* b, int64_t ldb, T* C) {
  for (int64_t i = 0; i < M; ++i) {
    const T* ar = a + i * lda;
    for (int64_t j = 0; j < N; ++j) {
      const T* br = b + j * ldb;
      T acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      int64_t k = 0;
      for (; k + 8 <= K; k += 8)
        for (int u = 0; u < 8; ++u) acc[u] += ar[k + u] * br[k + u];
      T s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
      for (; k < K; ++k) s += ar[k] * br[k];
      C[i * N + j] = s;
    }
  }
}

// Axpy form: B's rows are unit-stride (C row += a_ik * B row), any stride for A.
template <class T>
EMBER_INLINE void gemm_axpy(int64_t M, int64_t N, int64_t K, MatRef A, const T* b, int64_t ldb, T* C) {
  const T* a = static_cast<const T*>(A.p);
  std::fill(C, C + M * N, T(0));
  for (int64_t i = 0; i < M; ++i) {
    T* c = C + i * N;
    for (int64_t k = 0; k < K; ++k) {
      const T av = a[i * A.rs + k * A.cs];
      const T* brow = b + k * ldb;
      for (int64_t j = 0; j < N; ++j) c[j] += av * brow[j];
    }
  }
}

template <class T>
std::vector<T> pack(const MatRef& m, int64_t rows, int64_t cols);

#define EMBER_GEMM_CLONED(T, name)                                                                     \
  EMBER_CLONES void name##_dot(int64_t M, int64_t N, int64_t K, const T* a, int64_t lda, const T* b, int64_t ldb, \
                               T* C) {                                                               \
    gemm_dot<T>(M, N, K, a, lda, b, ldb, C);                                                         \
  }                                                                                                  \
  EMBER_CLONES void name##_axpy(int64_t M, int64_t N, int64_t K, MatRef A, const T* b, int64_t ldb, T* C) { \
    gemm_axpy<T>(M, N, K, A, b, ldb, C);                                                             \
  }
EMBER_GEMM_CLONED(float, gemm_f32)
EMBER_GEMM_CLONED(double, gemm_f64)
EMBER_GEMM_CLONED(int64_t, gemm_i64)
#undef EMBER_GEMM_CLONED

template <class T>
void dot_dispatch(int64_t M, int64_t N, int64_t K, const T* a, int64_t lda, const T* b, int64_t ldb, T* C) {
  if constexpr (std::is_same_v<T, float>) gemm_f32_dot(M, N, K, a, lda, b, ldb, C);
  else if constexpr (std::is_same_v<T, double>) gemm_f64_dot(M, N, K, a, lda, b, ldb, C);
  else gemm_i64_dot(M, N, K, a, lda, b, ldb, C);
}
template <class T>
void axpy_dispatch(int64_t M, int64_t N, int64_t K, MatRef A, const T* b, int64_t ldb, T* C) {
  if constexpr (std::is_same_v<T, float>) gemm_f32_axpy(M, N, K, A, b, ldb, C);
  else if constexpr (std::is_same_v<T, double>) gemm_f64_axpy(M, N, K, A, b, ldb, C);
  else gemm_i64_axpy(M, N, K, A, b, ldb, C);
}

template <class T>
void gemm_direct(int64_t M, int64_t N, int64_t K, MatRef A, MatRef B, T* C) {
  const T* a = static_cast<const T*>(A.p);
  const T* b = static_cast<const T*>(B.p);
  const bool a_rows = A.cs == 1 || K == 1, b_cols = B.rs == 1 || K == 1, b_rows = B.cs == 1 || N == 1;
  // The inner loop runs over k (dot form) or over j (axpy form): pick the longer one, packing an
  // operand into the layout it needs when its strides don't fit (packing is O(K*(M+N))).
  if (K >= 16 && K >= N) {
    std::vector<T> pa, pb;
    if (!a_rows) { pa = pack<T>(A, M, K); a = pa.data(); }
    int64_t lda = a_rows ? A.rs : K;
    if (!b_cols) { pb = pack<T>(MatRef{B.p, B.cs, B.rs}, N, K); b = pb.data(); }  // B^T, N x K
    int64_t ldb = b_cols ? B.cs : K;
    dot_dispatch<T>(M, N, K, a, lda, b, ldb, C);
  } else if (b_rows) {
    axpy_dispatch<T>(M, N, K, A, b, B.rs, C);
  } else {
    std::vector<T> pb = pack<T>(B, K, N);
    axpy_dispatch<T>(M, N, K, A, pb.data(), N, C);
  }
}

// BLAS wants one unit stride: returns the transpose flag and leading dim, or false.
bool blas_layout(const MatRef& m, int64_t rows, int64_t cols, CBLAS_TRANSPOSE& tr, int64_t& ld) {
  if ((m.cs == 1 || cols == 1) && m.rs >= std::max<int64_t>(1, cols)) { tr = CblasNoTrans; ld = m.rs; return true; }
  if ((m.rs == 1 || rows == 1) && m.cs >= std::max<int64_t>(1, rows)) { tr = CblasTrans; ld = m.cs; return true; }
  return false;
}

template <class T>
std::vector<T> pack(const MatRef& m, int64_t rows, int64_t cols) {
  std::vector<T> buf(rows * cols);
  const T* p = static_cast<const T*>(m.p);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) buf[i * cols + j] = p[i * m.rs + j * m.cs];
  return buf;
}

template <class T>
void blas_gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int64_t M, int64_t N, int64_t K, const T* a, int64_t lda,
               const T* b, int64_t ldb, T* c) {
  if constexpr (std::is_same_v<T, float>)
    scipy_cblas_sgemm(CblasRowMajor, ta, tb, (int)M, (int)N, (int)K, 1.0f, a, (int)lda, b, (int)ldb, 0.0f, c, (int)N);
  else
    scipy_cblas_dgemm(CblasRowMajor, ta, tb, (int)M, (int)N, (int)K, 1.0, a, (int)lda, b, (int)ldb, 0.0, c, (int)N);
}
}  // namespace

template <class T>
void gemm(int64_t M, int64_t N, int64_t K, MatRef A, MatRef B, T* C) {
  if (M == 0 || N == 0) return;
  if (K == 0) {
    std::fill(C, C + M * N, T(0));
    return;
  }
  if constexpr (std::is_floating_point_v<T>) {
    const int64_t lim = (int64_t)1 << 31;
    if (M * N * K > kDirectMaxFlops && M < lim && N < lim && K < lim) {
      CBLAS_TRANSPOSE ta, tb;
      int64_t lda, ldb;
      std::vector<T> pa, pb;
      if (!blas_layout(A, M, K, ta, lda)) { pa = pack<T>(A, M, K); A = {pa.data(), K, 1}; ta = CblasNoTrans; lda = K; }
      if (!blas_layout(B, K, N, tb, ldb)) { pb = pack<T>(B, K, N); B = {pb.data(), N, 1}; tb = CblasNoTrans; ldb = N; }
      blas_gemm<T>(ta, tb, M, N, K, static_cast<const T*>(A.p), lda, static_cast<const T*>(B.p), ldb, C);
      return;
    }
  }
  gemm_direct<T>(M, N, K, A, B, C);
}

template void gemm<float>(int64_t, int64_t, int64_t, MatRef, MatRef, float*);
template void gemm<double>(int64_t, int64_t, int64_t, MatRef, MatRef, double*);
template void gemm<int64_t>(int64_t, int64_t, int64_t, MatRef, MatRef, int64_t*);

}  // namespace ember

namespace ember {
// Threads only pay on large work: ember's own kernels are single-threaded; this caps OpenBLAS.
void set_num_threads(int n) { scipy_openblas_set_num_threads(n < 1 ? 1 : n); }
int get_num_threads() { return scipy_openblas_get_num_threads(); }
}  // namespace ember
