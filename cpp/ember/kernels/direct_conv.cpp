// The direct convolution's loops (direct_conv.h), in GCC's vector types of the target's width.
#include "ember/kernels/direct_conv.h"

#include <algorithm>

#include "ember/kernels/simd.h"

namespace ember {
namespace {

template <class T, int VB>
struct DV {
  typedef T v __attribute__((vector_size(VB)));
  typedef T u __attribute__((vector_size(VB), aligned(sizeof(T)), may_alias));  // (unaligned access)
  typedef DirectMask<T> m __attribute__((vector_size(VB)));
  typedef DirectMask<T> mu __attribute__((vector_size(VB), aligned(sizeof(T)), may_alias));
  static constexpr int L = VB / (int)sizeof(T);
};

// Accumulators a block keeps in registers, leaving room for its operands: AVX-512 has 32 vector
// registers, AVX2 and SSE 16.
constexpr int budget(int vb) { return vb == 64 ? 24 : 12; }
// direct_wgrad's: its block also holds a vector of dy per row, one of x and the mask
constexpr int wgrad_budget(int vb) { return vb == 64 ? 24 : 10; }

// ---- direct_corr: CB rows of y by NV vectors of positions per block, every (c, k) added in ----
template <class T, int VB, int CB, int NV>
EMBER_INLINE void corr_block(int64_t p, int64_t C, int64_t K, const int64_t* off, const T* x, int64_t xs,
                             const T* const* wr, T* const* yr) {
  using V = typename DV<T, VB>::v;
  using U = typename DV<T, VB>::u;
  constexpr int L = DV<T, VB>::L;
  V acc[CB][NV] = {};
  for (int64_t c = 0; c < C; ++c) {
    const T* xc = x + c * xs + p;
    for (int64_t k = 0; k < K; ++k) {
      const T* xk = xc + off[k];
      V xv[NV];
      for (int v = 0; v < NV; ++v) xv[v] = *reinterpret_cast<const U*>(xk + v * L);
      for (int r = 0; r < CB; ++r) {
        const T wv = wr[r][c * K + k];
        for (int v = 0; v < NV; ++v) acc[r][v] += wv * xv[v];
      }
    }
  }
  for (int r = 0; r < CB; ++r)
    for (int v = 0; v < NV; ++v) *reinterpret_cast<U*>(yr[r] + p + v * L) = acc[r][v];
}

// Rows in blocks of CB; a last partial block repeats the last row (the same values written twice)
// rather than needing a kernel of its own.
template <class T, int VB, int CB>
EMBER_INLINE void corr_rows(int64_t R, int64_t P, int64_t C, int64_t K, const int64_t* off, const T* x, int64_t xs, const T* w,
               int64_t wrs, T* y, int64_t ys) {
  constexpr int NV = std::clamp(budget(VB) / CB, 1, 6), L = DV<T, VB>::L;
  for (int64_t r0 = 0; r0 < R; r0 += CB) {
    const T* wr[CB];
    T* yr[CB];
    for (int r = 0; r < CB; ++r) {
      const int64_t rr = std::min<int64_t>(r0 + r, R - 1);
      wr[r] = w + rr * wrs;
      yr[r] = y + rr * ys;
    }
    int64_t p = 0;
    for (; p + NV * L <= P; p += NV * L) corr_block<T, VB, CB, NV>(p, C, K, off, x, xs, wr, yr);
    for (; p < P; p += L) corr_block<T, VB, CB, 1>(p, C, K, off, x, xs, wr, yr);
  }
}

template <class T, int VB>
EMBER_INLINE void corr_impl(int64_t R, int64_t P, int64_t C, int64_t K, const int64_t* off, const T* x, int64_t xs, const T* w,
               int64_t wrs, T* y, int64_t ys) {
  if (R <= 0 || P <= 0) return;
  // rows per block: at most 8, as even as the row count allows (10 rows: 5 + 5, not 8 + 2)
  const int64_t blocks = (R + 7) / 8, cb = (R + blocks - 1) / blocks;
  switch (cb) {
#define EMBER_CORR_CASE(n) \
  case n: return corr_rows<T, VB, n>(R, P, C, K, off, x, xs, w, wrs, y, ys);
    EMBER_CORR_CASE(1) EMBER_CORR_CASE(2) EMBER_CORR_CASE(3) EMBER_CORR_CASE(4)
    EMBER_CORR_CASE(5) EMBER_CORR_CASE(6) EMBER_CORR_CASE(7) default: EMBER_CORR_CASE(8)
#undef EMBER_CORR_CASE
  }
}

// ---- direct_wgrad: CB rows of dy against KB shifted rows of x, summed over samples and positions ----
template <class T, int VB, int CB, int KB>
EMBER_INLINE void wgrad_block(int64_t r0, int64_t j0, int64_t R, int64_t J, int64_t N, int64_t P, const T* dy,
                              int64_t dns, int64_t drs, const T* x, int64_t xns, const int64_t* xo,
                              const DirectMask<T>* mask, T* g, int64_t grs) {
  using V = typename DV<T, VB>::v;
  using U = typename DV<T, VB>::u;
  using M = typename DV<T, VB>::m;
  using MU = typename DV<T, VB>::mu;
  constexpr int L = DV<T, VB>::L;
  // partial blocks repeat the last row or column; only the real ones are added to g
  const T* dr[CB];
  int64_t xj[KB];
  for (int r = 0; r < CB; ++r) dr[r] = dy + std::min<int64_t>(r0 + r, R - 1) * drs;
  for (int j = 0; j < KB; ++j) xj[j] = xo[std::min<int64_t>(j0 + j, J - 1)];
  V acc[CB][KB] = {};
  for (int64_t n = 0; n < N; ++n) {
    const T* xn = x + n * xns;
    const int64_t dn = n * dns;
    for (int64_t p = 0; p < P; p += L) {
      const M m = *reinterpret_cast<const MU*>(mask + p);
      V dv[CB];
      for (int r = 0; r < CB; ++r) dv[r] = *reinterpret_cast<const U*>(dr[r] + dn + p);
      for (int j = 0; j < KB; ++j) {
        const V xv = (V)((M) * reinterpret_cast<const U*>(xn + xj[j] + p) & m);
        for (int r = 0; r < CB; ++r) acc[r][j] += dv[r] * xv;
      }
    }
  }
  const int64_t rn = std::min<int64_t>(CB, R - r0), jn = std::min<int64_t>(KB, J - j0);
  for (int64_t r = 0; r < rn; ++r)
    for (int64_t j = 0; j < jn; ++j) {
      T s = 0;
      for (int l = 0; l < L; ++l) s += acc[r][j][l];
      g[(r0 + r) * grs + j0 + j] += s;
    }
}

// Blocks of CB rows by budget / CB columns; the last columns by the narrowest block that holds them.
template <class T, int VB, int CB>
EMBER_INLINE void wgrad_rows(int64_t R, int64_t J, int64_t N, int64_t P, const T* dy, int64_t dns, int64_t drs,
                             const T* x, int64_t xns, const int64_t* xo, const DirectMask<T>* mask, T* g, int64_t grs) {
  constexpr int KB = wgrad_budget(VB) / CB;
  for (int64_t r0 = 0; r0 < R; r0 += CB) {
    int64_t j0 = 0;
    for (; j0 + KB <= J; j0 += KB) wgrad_block<T, VB, CB, KB>(r0, j0, R, J, N, P, dy, dns, drs, x, xns, xo, mask, g, grs);
    const int64_t rest = J - j0;
    if (rest > KB / 2)
      wgrad_block<T, VB, CB, KB>(r0, j0, R, J, N, P, dy, dns, drs, x, xns, xo, mask, g, grs);
    else if (rest > KB / 4)
      wgrad_block<T, VB, CB, KB / 2>(r0, j0, R, J, N, P, dy, dns, drs, x, xns, xo, mask, g, grs);
    else if (rest > 0)
      wgrad_block<T, VB, CB, std::max(KB / 4, 1)>(r0, j0, R, J, N, P, dy, dns, drs, x, xns, xo, mask, g, grs);
  }
}

// Rows per block: 2, 3 or 4 (AVX-512) or 2 (16 registers), whichever repeats the fewest rows.
template <class T, int VB>
EMBER_INLINE void wgrad_impl(int64_t R, int64_t J, int64_t N, int64_t P, const T* dy, int64_t dns, int64_t drs,
                             const T* x, int64_t xns, const int64_t* xo, const DirectMask<T>* mask, T* g, int64_t grs) {
  if (R <= 0 || J <= 0) return;
  int cb = 2;
  if (VB == 64)
    for (int c : {4, 3})
      if ((R + c - 1) / c * c <= (R + cb - 1) / cb * cb) {
        cb = c;
        break;
      }
  if (VB == 64 && cb == 4) return wgrad_rows<T, VB, 4>(R, J, N, P, dy, dns, drs, x, xns, xo, mask, g, grs);
  if (VB == 64 && cb == 3) return wgrad_rows<T, VB, 3>(R, J, N, P, dy, dns, drs, x, xns, xo, mask, g, grs);
  wgrad_rows<T, VB, 2>(R, J, N, P, dy, dns, drs, x, xns, xo, mask, g, grs);
}

// ---- the layout moves: each value written once, the few zeros between two rows inline (GCC made
// each gap a memset call, 10,000 of them for LeNet's first layer; the attribute below stops it)
template <class T>
EMBER_INLINE void into_rows_impl(const T* __restrict src, int64_t C, int64_t rows, int64_t len, T* __restrict dst,
                                 int64_t L, int64_t first, int64_t Wp) {
  for (int64_t c = 0; c < C; ++c, src += rows * len, dst += L) {
    T* p = dst;
    for (int64_t r = 0; r < rows; ++r) {
      T* __restrict row = dst + first + r * Wp;
      for (; p < row; ++p) *p = T(0);
      const T* __restrict from = src + r * len;
      for (int64_t i = 0; i < len; ++i) row[i] = from[i];
      p = row + len;
    }
    for (; p < dst + L; ++p) *p = T(0);
  }
}
template <class T>
EMBER_INLINE void from_rows_impl(const T* __restrict src, int64_t C, int64_t L, int64_t first, int64_t Wp,
                                 int64_t rows, int64_t len, const T* __restrict bias, T* __restrict dst) {
  for (int64_t c = 0; c < C; ++c, src += L)
    for (int64_t r = 0; r < rows; ++r, dst += len) {
      const T* __restrict row = src + first + r * Wp;
      const T v = bias ? bias[c] : T(0);
      if (bias)
        for (int64_t i = 0; i < len; ++i) dst[i] = row[i] + v;
      else
        for (int64_t i = 0; i < len; ++i) dst[i] = row[i];
    }
}

// One version per target (Note [GEMM vector width]); GCC picks the running CPU's at load time.
// Everything above is inlined into these (always_inline): a template instance compiled on its own
// gets the default target, and 64-byte vectors in SSE registers.
#define EMBER_DIRECT_MOVES(ATTR, T, sfx)                                                                      \
  ATTR void into_rows_##sfx(const T* src, int64_t C, int64_t rows, int64_t len, T* dst, int64_t L, int64_t first, \
                            int64_t Wp) {                                                                     \
    into_rows_impl(src, C, rows, len, dst, L, first, Wp);                                                     \
  }                                                                                                           \
  ATTR void from_rows_##sfx(const T* src, int64_t C, int64_t L, int64_t first, int64_t Wp, int64_t rows,        \
                            int64_t len, const T* bias, T* dst) {                                             \
    from_rows_impl(src, C, L, first, Wp, rows, len, bias, dst);                                               \
  }
#define EMBER_DIRECT_FUNCS(ATTR, vb)                                                                          \
  EMBER_DIRECT_MOVES(ATTR __attribute__((optimize("no-tree-loop-distribute-patterns"))), float, f32)          \
  EMBER_DIRECT_MOVES(ATTR __attribute__((optimize("no-tree-loop-distribute-patterns"))), double, f64)         \
  ATTR int vector_bytes() { return vb; }                                                                      \
  ATTR void corr_f32(int64_t R, int64_t P, int64_t C, int64_t K, const int64_t* off, const float* x, int64_t xs, \
                     const float* w, int64_t wrs, float* y, int64_t ys) {                                     \
    corr_impl<float, vb>(R, P, C, K, off, x, xs, w, wrs, y, ys);                                              \
  }                                                                                                           \
  ATTR void corr_f64(int64_t R, int64_t P, int64_t C, int64_t K, const int64_t* off, const double* x, int64_t xs, \
                     const double* w, int64_t wrs, double* y, int64_t ys) {                                   \
    corr_impl<double, vb>(R, P, C, K, off, x, xs, w, wrs, y, ys);                                             \
  }                                                                                                           \
  ATTR void wgrad_f32(int64_t R, int64_t J, int64_t N, int64_t P, const float* dy, int64_t dns, int64_t drs,     \
                      const float* x, int64_t xns, const int64_t* xo, const int32_t* mask, float* g, int64_t grs) { \
    wgrad_impl<float, vb>(R, J, N, P, dy, dns, drs, x, xns, xo, mask, g, grs);                                \
  }                                                                                                           \
  ATTR void wgrad_f64(int64_t R, int64_t J, int64_t N, int64_t P, const double* dy, int64_t dns, int64_t drs,    \
                      const double* x, int64_t xns, const int64_t* xo, const int64_t* mask, double* g,          \
                      int64_t grs) {                                                                           \
    wgrad_impl<double, vb>(R, J, N, P, dy, dns, drs, x, xns, xo, mask, g, grs);                               \
  }
#if EMBER_HAS_CLONES
EMBER_DIRECT_FUNCS(__attribute__((target("arch=x86-64-v4"))), 64)
EMBER_DIRECT_FUNCS(__attribute__((target("arch=x86-64-v3"))), 32)
EMBER_DIRECT_FUNCS(__attribute__((target("default"))), 16)
#else
EMBER_DIRECT_FUNCS(, 16)
#endif
#undef EMBER_DIRECT_FUNCS
#undef EMBER_DIRECT_MOVES

}  // namespace

template <>
void direct_into_rows<float>(const float* src, int64_t C, int64_t rows, int64_t len, float* dst, int64_t L,
                             int64_t first, int64_t Wp) {
  into_rows_f32(src, C, rows, len, dst, L, first, Wp);
}
template <>
void direct_into_rows<double>(const double* src, int64_t C, int64_t rows, int64_t len, double* dst, int64_t L,
                              int64_t first, int64_t Wp) {
  into_rows_f64(src, C, rows, len, dst, L, first, Wp);
}
template <>
void direct_from_rows<float>(const float* src, int64_t C, int64_t L, int64_t first, int64_t Wp, int64_t rows,
                             int64_t len, const float* bias, float* dst) {
  from_rows_f32(src, C, L, first, Wp, rows, len, bias, dst);
}
template <>
void direct_from_rows<double>(const double* src, int64_t C, int64_t L, int64_t first, int64_t Wp, int64_t rows,
                              int64_t len, const double* bias, double* dst) {
  from_rows_f64(src, C, L, first, Wp, rows, len, bias, dst);
}
template <>
int64_t direct_lanes<float>() {
  return vector_bytes() / 4;
}
template <>
int64_t direct_lanes<double>() {
  return vector_bytes() / 8;
}
template <>
void direct_corr<float>(int64_t R, int64_t P, int64_t C, int64_t K, const int64_t* off, const float* x, int64_t xs,
                        const float* w, int64_t wrs, float* y, int64_t ys) {
  corr_f32(R, P, C, K, off, x, xs, w, wrs, y, ys);
}
template <>
void direct_corr<double>(int64_t R, int64_t P, int64_t C, int64_t K, const int64_t* off, const double* x, int64_t xs,
                         const double* w, int64_t wrs, double* y, int64_t ys) {
  corr_f64(R, P, C, K, off, x, xs, w, wrs, y, ys);
}
template <>
void direct_wgrad<float>(int64_t R, int64_t J, int64_t N, int64_t P, const float* dy, int64_t dns, int64_t drs,
                         const float* x, int64_t xns, const int64_t* xo, const int32_t* mask, float* g, int64_t grs) {
  wgrad_f32(R, J, N, P, dy, dns, drs, x, xns, xo, mask, g, grs);
}
template <>
void direct_wgrad<double>(int64_t R, int64_t J, int64_t N, int64_t P, const double* dy, int64_t dns, int64_t drs,
                          const double* x, int64_t xns, const int64_t* xo, const int64_t* mask, double* g,
                          int64_t grs) {
  wgrad_f64(R, J, N, P, dy, dns, drs, x, xns, xo, mask, g, grs);
}

}  // namespace ember
