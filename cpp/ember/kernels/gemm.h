// Matrix product kernel: C (contiguous, M x N) = A (M x K) @ B (K x N) for strided operands.
// Float products run on the kernel ranked fastest for their size and layout on this CPU (the
// direct loop, ember's register-blocked or packed kernel, or OpenBLAS from scipy-openblas32:
// Note [GEMM paths] in gemm.cpp); int64 products use the direct loop.
#pragma once
#include <cstdint>

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

// The kernel gemm uses (Note [GEMM paths]); forcing one is for tests and benchmarks only.
enum class GemmPath { Auto, Direct, Mid, Packed, Blas };
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
