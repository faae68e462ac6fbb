// Matrix product kernel: C (contiguous, M x N) = A (M x K) @ B (K x N) for strided operands.
// Float products run on the kernel ranked fastest for their size and layout on this CPU (the
// direct loop, ember's register-blocked or packed kernel, or OpenBLAS from scipy-openblas32:
// Note [GEMM paths] in gemm.cpp); int64 products use the direct loop.
#pragma once
#include <cstdint>
#include <vector>

namespace ember {

struct MatRef {
  const void* p;
  int64_t rs, cs;  // row and column strides in elements
};

// nn.Linear's epilogue, applied as C is written: + bias[j] on every row, then ReLU (NaN stays).
template <class T>
struct Epilogue {
  const T* bias = nullptr;  // contiguous, N long
  bool relu = false;
};

// A symbol of the scipy-openblas32 library (LAPACK for linalg.cpp); null when absent.
void* blas_symbol(const char* name);

template <class T>
void gemm(int64_t M, int64_t N, int64_t K, MatRef A, MatRef B, T* C, Epilogue<T> ep = {});

// C (M x N, contiguous) = A (M x K) @ B (K x N) for a small K (an outer product: a per-sample weight
// gradient), written with streaming stores that bypass the caches (Note [Streaming products]);
// false, with nothing written, when K or B's layout does not suit it (B's rows must be unit-stride).
// On the calling thread. For ops whose whole output makes stream_pays(bytes) true.
template <class T>
bool gemm_stream(int64_t M, int64_t N, int64_t K, MatRef A, MatRef B, T* C);
// Whether an op writing `bytes` of output should stream it: far more than a core's private caches.
bool stream_pays(int64_t bytes);

// A right operand packed once for many products (an RNN's recurrent weights, one per step): K x N
// in the packed kernel's B micro-panels, one K block after another.
template <class T>
struct PackedRhs {
  std::vector<T> data;
  int64_t K = 0, N = 0, kc = 0, npad = 0;  // npad: N rounded up to whole micro-panels
};
template <class T>
PackedRhs<T> pack_rhs(int64_t K, int64_t N, MatRef B);
// C (M x N, rows ldc apart) = A (M x K) @ B, on the calling thread only, + the epilogue.
template <class T>
void gemm_packed_rhs(int64_t M, MatRef A, const PackedRhs<T>& B, T* C, int64_t ldc, Epilogue<T> ep = {});

// The kernel gemm uses (Note [GEMM paths]); forcing one is for tests and benchmarks only.
enum class GemmPath { Auto, Direct, Mid, Packed, Blas, BlasT };
void set_gemm_path(GemmPath p);  // process-wide
GemmPath gemm_path();

// The packed kernel's shape on this CPU (for benchmarks and tests): its vector width, register
// tile, block sizes and the cache sizes they come from.
struct GemmInfo {
  int vector_bytes, mr, nr;
  int64_t kc, mc, nc, l1, l2, l3;
};
GemmInfo gemm_info(bool f64);

}  // namespace ember
