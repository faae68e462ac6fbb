// The two loops of a direct convolution (Note [Direct convolution] in ops/conv.cpp): a sum of
// shifted rows weighted by a small matrix, and its weight gradient. Both run over "positions" of
// flattened, padded images, so that a 2-d kernel offset is one shift along a row; each is built
// once per SIMD target (as the GEMM kernels, Note [GEMM vector width]).
#pragma once
#include <cstdint>
#include <type_traits>

namespace ember {

// Values per vector of T on this CPU's target: position counts passed below are multiples of it.
template <class T>
int64_t direct_lanes();

// y[r * ys + p] = sum over c < C, k < K of w[r * wrs + c * K + k] * x[c * xs + p + off[k]]
// for r < R and p < P (P a multiple of direct_lanes<T>()).
template <class T>
void direct_corr(int64_t R, int64_t P, int64_t C, int64_t K, const int64_t* off, const T* x, int64_t xs, const T* w,
                 int64_t wrs, T* y, int64_t ys);

// The layout moves around those loops. direct_into_rows: C channels of `rows` rows of `len`
// values (src, contiguous) into channels of L values (dst), row r at first + r * Wp, zeros
// everywhere else. direct_from_rows: the reverse, C channels of L values (src) to contiguous rows
// (dst), plus bias[c] when bias is not null.
template <class T>
void direct_into_rows(const T* src, int64_t C, int64_t rows, int64_t len, T* dst, int64_t L, int64_t first, int64_t Wp);
template <class T>
void direct_from_rows(const T* src, int64_t C, int64_t L, int64_t first, int64_t Wp, int64_t rows, int64_t len,
                      const T* bias, T* dst);

// A position mask: -1 (all bits) where a position counts, 0 where not; as wide as T.
template <class T>
using DirectMask = std::conditional_t<sizeof(T) == 4, int32_t, int64_t>;

// g[r * grs + j] += sum over n < N, p < P where mask[p] of dy[n * dns + r * drs + p] * x[n * xns + xo[j] + p]
// for r < R and j < J (P a multiple of direct_lanes<T>()). x under a 0 mask is never multiplied,
// whatever it holds (an inf there must not become NaN).
template <class T>
void direct_wgrad(int64_t R, int64_t J, int64_t N, int64_t P, const T* dy, int64_t dns, int64_t drs, const T* x,
                  int64_t xns, const int64_t* xo, const DirectMask<T>* mask, T* g, int64_t grs);

}  // namespace ember
