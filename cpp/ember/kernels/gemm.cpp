// gemm: the BLAS path (row-major, transposes expressed through strides) and the direct loop.
#include "ember/kernels/gemm.h"
#include "ember/kernels/parallel.h"
#include "ember/kernels/simd.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <type_traits>
#include <vector>

#include <cblas.h>
#include <dlfcn.h>

#include <stdexcept>
#include <string>

namespace ember {

namespace {
// OpenBLAS is loaded on first use, not with the module: loading it (and starting its threads)
// was a third of `import ember`. dlopen searches _C's RUNPATH, which points into the installed
// scipy_openblas32 package.
struct Blas {
  decltype(&scipy_cblas_sgemm) sgemm;
  decltype(&scipy_cblas_dgemm) dgemm;
  decltype(&scipy_openblas_set_num_threads) set_threads;
};
void* open_blas() {
  // 1. next to this module, as pip installs it (an absolute path: under ASan, dlopen runs in
  //    the sanitizer's interceptor and would not see _C's RUNPATH); 2. _C's RUNPATH; 3. the
  //    build environment's copy, compiled in only for local sanitizer builds.
  Dl_info info;
  if (dladdr((void*)&open_blas, &info) && info.dli_fname) {
    std::string self = info.dli_fname;
    std::string dir = self.substr(0, self.find_last_of('/') + 1);
    if (void* h = dlopen((dir + "../scipy_openblas32/lib/libscipy_openblas.so").c_str(), RTLD_NOW | RTLD_LOCAL)) return h;
  }
  if (void* h = dlopen("libscipy_openblas.so", RTLD_NOW | RTLD_LOCAL)) return h;
#ifdef EMBER_BLAS_DIR
  if (void* h = dlopen(EMBER_BLAS_DIR "/libscipy_openblas.so", RTLD_NOW | RTLD_LOCAL)) return h;
#endif
  return RTLD_DEFAULT;  // loaded some other way (e.g. `import scipy_openblas32`)
}

void* blas_handle() {
  static void* h = open_blas();
  return h;
}

const Blas& blas() {
  static const Blas b = [] {
    void* h = blas_handle();
    Blas r{(decltype(&scipy_cblas_sgemm))dlsym(h, "scipy_cblas_sgemm"), (decltype(&scipy_cblas_dgemm))dlsym(h, "scipy_cblas_dgemm"),
           (decltype(&scipy_openblas_set_num_threads))dlsym(h, "scipy_openblas_set_num_threads")};
    if (!r.sgemm || !r.dgemm || !r.set_threads)
      throw std::runtime_error("ember: cannot load OpenBLAS (libscipy_openblas.so from the scipy-openblas32 package)");
    r.set_threads(1);  // Note [Threads]: ember splits the work itself
    return r;
  }();
  return b;
}

// c + a * b; int64 wraps on overflow, as torch (signed overflow is undefined in C++).
template <class T>
EMBER_INLINE T madd(T c, T a, T b) {
  if constexpr (std::is_same_v<T, int64_t>) return (int64_t)((uint64_t)c + (uint64_t)a * (uint64_t)b);
  else return c + a * b;
}

// Below this many multiply-adds a BLAS call costs more than it saves.
constexpr int64_t kDirectMaxFlops = 8 * 1024;
// The register-blocked kernel beats OpenBLAS (each split over the threads) up to here, beyond
// while A stays in a core's L2 (A is re-read for every 16 columns of C), and, with AVX-512, up
// to 16 MB of A when A's rows are unit-stride (a transposed A that large is 1.6x slower:
// page-strided reads). With AVX2 OpenBLAS is as fast or faster past 1 MB of A (Zen 3: 128 vs 112
// GFLOP/s for W4's A @ B). K is capped to bound the per-thread panel scratch. Measured on Zen 4
// and Zen 3, benchmarks/README.md.
constexpr int64_t kMidMaxFlops = 512 * 1024;
constexpr int64_t kMidMaxABytes = 1024 * 1024;
int64_t mid_max_row_major_a_bytes() {
#if EMBER_HAS_CLONES
  static const int64_t v = __builtin_cpu_supports("x86-64-v4") ? 16 * 1024 * 1024 : kMidMaxABytes;
  return v;
#else
  return kMidMaxABytes;
#endif
}
constexpr int64_t kMidMaxK = 16384;
// B panels whose K rows span more than this are packed even when they could be read in place.
constexpr int64_t kPanelSpanBytes = 1024 * 1024;
constexpr int64_t kMidMinCols = 8;

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
        for (int u = 0; u < 8; ++u) acc[u] = madd(acc[u], ar[k + u], br[k + u]);
      T s = T(0);
      for (int u = 0; u < 8; ++u) s = madd(s, acc[u], T(1));
      for (; k < K; ++k) s = madd(s, ar[k], br[k]);
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
      for (int64_t j = 0; j < N; ++j) c[j] = madd(c[j], av, brow[j]);
    }
  }
}

template <class T>
std::vector<T> pack(const MatRef& m, int64_t rows, int64_t cols);

// Register-blocked kernel for mid-size products, where OpenBLAS's per-call setup still costs more
// than the arithmetic (an MLP's 32x64x64 layers): MR rows of C by one 64-byte panel row of
// columns stay in registers while k runs. B is read as a K x ldb row-major panel, A through its
// strides. VB is the target's vector width in bytes (Note [GEMM vector width]): a panel row is
// 64 / VB vectors.
template <class T, int VB>
struct Vec {
  typedef T type __attribute__((vector_size(VB)));
  typedef std::conditional_t<sizeof(T) == 4, int32_t, int64_t> lane;
  typedef lane index __attribute__((vector_size(VB)));
  // Unaligned loads and stores as single vector moves: memcpy into a vector array went through
  // the stack in halves, and the wide reload missed store forwarding.
  typedef T unaligned __attribute__((vector_size(VB), aligned(1), may_alias));
  static EMBER_INLINE type load(const T* p) { return *reinterpret_cast<const unaligned*>(p); }
  static EMBER_INLINE void store(T* p, type v) { *reinterpret_cast<unaligned*>(p) = v; }
};
constexpr int kMR = 6;
// Rows per register block: MR x (64 / VB) accumulators plus the B row must fit in 16 registers
// when the vectors are SSE's 16 bytes.
template <int VB>
constexpr int kBlockRows = VB == 16 ? 3 : kMR;

template <class T, int R, int VB>
EMBER_INLINE void block_kernel(int64_t K, const T* a, int64_t ars, int64_t acs, const T* b, int64_t ldb, T* c,
                               int64_t ldc, int64_t width, const Epilogue<T>& ep) {
  using V = typename Vec<T, VB>::type;
  constexpr int L = 64 / sizeof(T), NV = 64 / VB, LT = VB / sizeof(T);
  V acc[R][NV];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < NV; ++v) acc[r][v] = V{};
  for (int64_t k = 0; k < K; ++k) {
    V bv[NV];
    for (int v = 0; v < NV; ++v) bv[v] = Vec<T, VB>::load(b + k * ldb + v * LT);
    for (int r = 0; r < R; ++r) {
      const T av = a[r * ars + k * acs];
      for (int v = 0; v < NV; ++v) acc[r][v] += av * bv[v];
    }
  }
  if (ep.bias) {
    V bias[NV] = {};
    std::memcpy(bias, ep.bias, width * sizeof(T));
    for (int r = 0; r < R; ++r)
      for (int v = 0; v < NV; ++v) acc[r][v] += bias[v];
  }
  if (ep.relu)
    for (int r = 0; r < R; ++r)
      for (int v = 0; v < NV; ++v) acc[r][v] = acc[r][v] < 0 ? V{} : acc[r][v];
  if (width == L)
    for (int r = 0; r < R; ++r)
      for (int v = 0; v < NV; ++v) Vec<T, VB>::store(c + r * ldc + v * LT, acc[r][v]);
  else
    for (int r = 0; r < R; ++r) std::memcpy(c + r * ldc, acc[r], width * sizeof(T));
}

// One L-wide column block of C (w <= L columns valid) over all M rows; the B panel is K x L with
// row stride ldp.
template <class T, int VB>
EMBER_INLINE void panel_rows(int64_t M, int64_t K, const T* a, int64_t ars, int64_t acs, const T* p, int64_t ldp, T* c,
                             int64_t ldc, int64_t w, const Epilogue<T>& ep) {
  constexpr int MR = kBlockRows<VB>;
  int64_t i = 0;
  for (; i + MR <= M; i += MR) block_kernel<T, MR, VB>(K, a + i * ars, ars, acs, p, ldp, c + i * ldc, ldc, w, ep);
  const T* ai = a + i * ars;
  T* ci = c + i * ldc;
  switch (M - i) {
    case 5: block_kernel<T, 5, VB>(K, ai, ars, acs, p, ldp, ci, ldc, w, ep); break;
    case 4: block_kernel<T, 4, VB>(K, ai, ars, acs, p, ldp, ci, ldc, w, ep); break;
    case 3: block_kernel<T, 3, VB>(K, ai, ars, acs, p, ldp, ci, ldc, w, ep); break;
    case 2: block_kernel<T, 2, VB>(K, ai, ars, acs, p, ldp, ci, ldc, w, ep); break;
    case 1: block_kernel<T, 1, VB>(K, ai, ars, acs, p, ldp, ci, ldc, w, ep); break;
    default: break;
  }
}

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
// One stage of an in-register LT x LT transpose (LT = lanes per vector): rows r and r + H
// exchange their H-wide blocks (log2(LT) stages, H = LT/2 ... 1, transpose the tile; each is one
// two-source permute per row).
template <class T, int VB, int H, bool HI>
EMBER_INLINE typename Vec<T, VB>::type interleave(typename Vec<T, VB>::type a, typename Vec<T, VB>::type b) {
  constexpr int LT = VB / sizeof(T);
  typename Vec<T, VB>::index m;
  for (int i = 0; i < LT; ++i) {
    const int t = i % (2 * H);
    m[i] = i / (2 * H) * 2 * H + (HI ? H : 0) + t % H + (t >= H ? LT : 0);
  }
  return __builtin_shuffle(a, b, m);
}
template <class T, int VB, int H>
EMBER_INLINE void transpose_stages(typename Vec<T, VB>::type* r) {
  constexpr int LT = VB / sizeof(T);
  for (int i = 0; i < LT; ++i)
    if ((i / H) % 2 == 0) {
      auto lo = interleave<T, VB, H, false>(r[i], r[i + H]), hi = interleave<T, VB, H, true>(r[i], r[i + H]);
      r[i] = lo, r[i + H] = hi;
    }
  if constexpr (H > 1) transpose_stages<T, VB, H / 2>(r);
}

// dst (cols x ld, row-major) = src^T for src rows x cols with row stride lds: whole LT x LT tiles
// in registers, the ragged edges element by element (strided scalar stores were 3x slower).
template <class T, int VB>
EMBER_INLINE void transpose_tiles(const T* src, int64_t lds, T* dst, int64_t ld, int64_t rows, int64_t cols) {
  using V = typename Vec<T, VB>::type;
  constexpr int LT = VB / sizeof(T);
  const int64_t R = rows / LT * LT, C = cols / LT * LT;
  for (int64_t r0 = 0; r0 < R; r0 += LT)
    for (int64_t c0 = 0; c0 < C; c0 += LT) {
      V t[LT];
      for (int i = 0; i < LT; ++i) t[i] = Vec<T, VB>::load(src + (r0 + i) * lds + c0);
      transpose_stages<T, VB, LT / 2>(t);
      for (int i = 0; i < LT; ++i) Vec<T, VB>::store(dst + (c0 + i) * ld + r0, t[i]);
    }
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = (r < R ? C : 0); c < cols; ++c) dst[c * ld + r] = src[r * lds + c];
}

template <class T, int VB>
EMBER_INLINE void mid_impl(int64_t M, int64_t N, int64_t K, MatRef A, MatRef B, T* C, int64_t ldc, Epilogue<T> ep) {
  constexpr int L = 64 / sizeof(T);
  const T* a = static_cast<const T*>(A.p);
  const T* b = static_cast<const T*>(B.p);
  // B is read one K x L panel at a time, in place when its rows are unit-stride and the panel is
  // whole, else packed into this thread's scratch (grows only, uninitialised: K x L elements).
  thread_local std::unique_ptr<T[]> scratch;
  thread_local int64_t cap = 0;
  // A panel whose rows lie far apart costs a cache line and a TLB entry per k: pack it.
  const bool spread = K * B.rs * (int64_t)sizeof(T) > kPanelSpanBytes;
  for (int64_t j = 0; j < N; j += L) {
    const int64_t w = std::min<int64_t>(L, N - j);
    const T* panel = b + j * B.cs;
    int64_t ldp = B.rs;
    if (!(B.cs == 1 && w == L) || spread) {
      if (K * L > cap) scratch.reset(new T[cap = K * L]);
      T* s = scratch.get();
      if (B.rs == 1) {  // B^T row-major (the x @ W^T of nn.Linear): a transpose in L x L tiles
        transpose_tiles<T, VB>(panel, B.cs, s, L, w, K);
      } else {
        for (int64_t k = 0; k < K; ++k)
          for (int64_t jj = 0; jj < w; ++jj) s[k * L + jj] = panel[k * B.rs + jj * B.cs];
      }
      if (w < L)
        for (int64_t k = 0; k < K; ++k) std::fill(s + k * L + w, s + (k + 1) * L, T(0));
      panel = s, ldp = L;
    }
    panel_rows<T, VB>(M, K, a, A.rs, A.cs, panel, ldp, C + j, ldc, w, Epilogue<T>{ep.bias ? ep.bias + j : nullptr, ep.relu});
  }
}
// Note [GEMM vector width]: the kernel is built once per target with that target's vector width
// (AVX-512 64 bytes, AVX2 32, SSE 16); GCC's 64-byte generic vectors lowered to AVX2 kept the
// accumulators in memory (7 GFLOP/s on Zen 3 against OpenBLAS's 110). GCC picks the version
// for the running CPU once, at load time, as for target_clones.
#if EMBER_HAS_CLONES
#define EMBER_MID_VERSION(T, name, tgt, vb)                                                            \
  __attribute__((target(tgt))) void name(int64_t M, int64_t N, int64_t K, MatRef A, MatRef B, T* C, int64_t ldc, \
                                            Epilogue<T> ep) {                                              \
    mid_impl<T, vb>(M, N, K, A, B, C, ldc, ep);                                                            \
  }
#define EMBER_MID(T, name)                           \
  EMBER_MID_VERSION(T, name, "arch=x86-64-v4", 64) \
  EMBER_MID_VERSION(T, name, "arch=x86-64-v3", 32) \
  EMBER_MID_VERSION(T, name, "default", 16)
#else
#define EMBER_MID(T, name)                                                                                  \
  void name(int64_t M, int64_t N, int64_t K, MatRef A, MatRef B, T* C, int64_t ldc, Epilogue<T> ep) {      \
    mid_impl<T, 16>(M, N, K, A, B, C, ldc, ep);                                                            \
  }
#endif
EMBER_MID(float, mid_f32)
EMBER_MID(double, mid_f64)
#undef EMBER_MID
#undef EMBER_MID_VERSION

// Threads take blocks of C's columns (whole vectors), or of its rows when C is narrow.
constexpr int64_t kMidSplitMinFlops = 128 * 1024;  // per thread

template <class T>
void gemm_mid(int64_t M, int64_t N, int64_t K, MatRef A, MatRef B, T* C, Epilogue<T> ep) {
  auto run = [&](int64_t m, int64_t n, MatRef a, MatRef b, T* c, const T* bias) {
    if constexpr (std::is_same_v<T, float>) mid_f32(m, n, K, a, b, c, N, {bias, ep.relu});
    else mid_f64(m, n, K, a, b, c, N, {bias, ep.relu});
  };
  constexpr int64_t L = 64 / sizeof(T);
  const bool by_cols = N >= 2 * L;
  const int64_t unit = by_cols ? L : kMR, len = by_cols ? N : M, units = (len + unit - 1) / unit;
  const T* a = static_cast<const T*>(A.p);
  const T* b = static_cast<const T*>(B.p);
  parallel_for(units, (int)std::min<int64_t>(M * N * K / kMidSplitMinFlops, 64), 1, [&](int64_t u0, int64_t u1) {
    const int64_t lo = u0 * unit, n = std::min(u1 * unit, len) - lo;
    if (by_cols) run(M, n, A, MatRef{b + lo * B.cs, B.rs, B.cs}, C + lo, ep.bias ? ep.bias + lo : nullptr);
    else run(n, N, MatRef{a + lo * A.rs, A.rs, A.cs}, B, C + lo * N, ep.bias);
  });
}

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
               const T* b, int64_t ldb, T* c, int64_t ldc) {
  if constexpr (std::is_same_v<T, float>)
    blas().sgemm(CblasRowMajor, ta, tb, (int)M, (int)N, (int)K, 1.0f, a, (int)lda, b, (int)ldb, 0.0f, c, (int)ldc);
  else
    blas().dgemm(CblasRowMajor, ta, tb, (int)M, (int)N, (int)K, 1.0, a, (int)lda, b, (int)ldb, 0.0, c, (int)ldc);
}

// Each thread takes a block of C's rows or columns (whichever dimension is longer) and makes its
// own single-threaded BLAS call.
constexpr int64_t kSplitMinFlops = 1024 * 1024;  // per part

template <class T>
void blas_parallel(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int64_t M, int64_t N, int64_t K, const T* a, int64_t lda,
                   const T* b, int64_t ldb, T* c) {
  const bool by_cols = N >= M;
  parallel_for(by_cols ? N : M, (int)std::min<int64_t>(M * N * K / kSplitMinFlops, 64), 64 / sizeof(T),
               [&](int64_t lo, int64_t hi) {
                 if (by_cols)  // columns lo..hi of B and C
                   blas_gemm<T>(ta, tb, M, hi - lo, K, a, lda, b + (tb == CblasNoTrans ? lo : lo * ldb), ldb, c + lo, N);
                 else  // rows lo..hi of A and C
                   blas_gemm<T>(ta, tb, hi - lo, N, K, a + (ta == CblasNoTrans ? lo * lda : lo), lda, b, ldb, c + lo * N, N);
               });
}

template <class T, bool BIAS, bool RELU>
EMBER_INLINE void epilogue_loop(int64_t M, int64_t N, T* C, const T* bias) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      T v = C[i * N + j];
      if constexpr (BIAS) v += bias[j];
      if constexpr (RELU) v = v < 0 ? T(0) : v;
      C[i * N + j] = v;
    }
}
#define EMBER_EPILOGUE_CLONED(T)                                                       \
  EMBER_CLONES void epilogue_pass(int64_t M, int64_t N, T* C, const T* bias, bool relu) { \
    if (bias && relu) epilogue_loop<T, true, true>(M, N, C, bias);                      \
    else if (bias) epilogue_loop<T, true, false>(M, N, C, bias);                        \
    else epilogue_loop<T, false, true>(M, N, C, bias);                                  \
  }
EMBER_EPILOGUE_CLONED(float)
EMBER_EPILOGUE_CLONED(double)
EMBER_EPILOGUE_CLONED(int64_t)
#undef EMBER_EPILOGUE_CLONED

// The epilogue as a pass over C, for the paths that do not apply it as they write.
template <class T>
void apply_epilogue(int64_t M, int64_t N, T* C, const Epilogue<T>& ep) {
  if (ep.bias || ep.relu) epilogue_pass(M, N, C, ep.bias, ep.relu);
}
}  // namespace

void* blas_symbol(const char* name) {
  blas();  // loads the library and sets its thread count once
  return dlsym(blas_handle(), name);
}

template <class T>
void gemm(int64_t M, int64_t N, int64_t K, MatRef A, MatRef B, T* C, Epilogue<T> ep) {
  if (M == 0 || N == 0) return;
  if (K == 0) {
    std::fill(C, C + M * N, T(0));
    return apply_epilogue(M, N, C, ep);
  }
  if constexpr (std::is_floating_point_v<T>) {
    const int64_t lim = (int64_t)1 << 31;
    const int64_t a_bytes = M * K * (int64_t)sizeof(T);
    if (M * N * K > kDirectMaxFlops && N >= kMidMinCols && K <= kMidMaxK &&
        (M * N * K <= kMidMaxFlops || a_bytes <= kMidMaxABytes || (A.cs == 1 && a_bytes <= mid_max_row_major_a_bytes())))
      return gemm_mid<T>(M, N, K, A, B, C, ep);
    if (M * N * K > kDirectMaxFlops && M < lim && N < lim && K < lim) {
      CBLAS_TRANSPOSE ta, tb;
      int64_t lda, ldb;
      std::vector<T> pa, pb;
      if (!blas_layout(A, M, K, ta, lda)) { pa = pack<T>(A, M, K); A = {pa.data(), K, 1}; ta = CblasNoTrans; lda = K; }
      if (!blas_layout(B, K, N, tb, ldb)) { pb = pack<T>(B, K, N); B = {pb.data(), N, 1}; tb = CblasNoTrans; ldb = N; }
      blas_parallel<T>(ta, tb, M, N, K, static_cast<const T*>(A.p), lda, static_cast<const T*>(B.p), ldb, C);
      return apply_epilogue(M, N, C, ep);
    }
  }
  gemm_direct<T>(M, N, K, A, B, C);
  apply_epilogue(M, N, C, ep);
}

template void gemm<float>(int64_t, int64_t, int64_t, MatRef, MatRef, float*, Epilogue<float>);
template void gemm<double>(int64_t, int64_t, int64_t, MatRef, MatRef, double*, Epilogue<double>);
template void gemm<int64_t>(int64_t, int64_t, int64_t, MatRef, MatRef, int64_t*, Epilogue<int64_t>);

}  // namespace ember
