// gemm: the direct loop, the register-blocked ("mid") and packed kernels, the BLAS path (row-major,
// transposes expressed through strides), and the per-CPU choice between them (Note [GEMM paths]).
#include "ember/kernels/gemm.h"
#include "ember/kernels/parallel.h"
#include "ember/kernels/simd.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>
#include <type_traits>
#include <vector>

#include <cblas.h>
#include <cpuid.h>
#include <dlfcn.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <new>

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

constexpr int64_t kMidMaxK = 16384;
// The blas_t path's scratch (a transposed B) is at most this many elements; a larger B takes plain BLAS.
constexpr int64_t kBlasTMaxB = int64_t(1) << 22;
// B panels whose K rows span more than this are packed even when they could be read in place.
constexpr int64_t kPanelSpanBytes = 1024 * 1024;
constexpr int64_t kMidMinCols = 8;
// Below this many multiply-adds per thread the packed kernel runs on fewer threads.
constexpr int64_t kPackedSplitMinFlops = 1024 * 1024;

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
// than the arithmetic (an MLP's 32x64x64 layers): MR rows of C by one panel row of columns stay in
// registers while k runs. B is read as a K x ldb row-major panel, A through its strides. VB is the
// target's vector width in bytes (Note [GEMM vector width]); a panel row is kPanelBytes<VB>, two
// vectors of AVX-512, two of AVX2, four of SSE (Vec, in simd.h).
constexpr int kMR = 6;
// The panel: with AVX-512's single-vector 64-byte panel the block had only 6 accumulators, fewer
// than its two FMA ports need to cover their 4-cycle latency (32x64x64 ran at half of OpenBLAS's
// speed); two vectors give 12, in 32 registers.
template <int VB>
constexpr int kPanelBytes = VB == 64 ? 128 : 64;
// Rows per register block: MR x (panel / VB) accumulators plus the B row must fit in 16 registers
// when the vectors are SSE's 16 bytes.
template <int VB>
constexpr int kBlockRows = VB == 16 ? 3 : VB == 64 ? 8 : kMR;
// The widest panel of any target, in elements: the unit in which threads split C's columns.
template <class T>
constexpr int64_t kPanelMax = 128 / sizeof(T);

template <class T, int R, int VB>
EMBER_INLINE void block_kernel(int64_t K, const T* a, int64_t ars, int64_t acs, const T* b, int64_t ldb, T* c,
                               int64_t ldc, int64_t width, const Epilogue<T>& ep) {
  using V = typename Vec<T, VB>::type;
  constexpr int L = kPanelBytes<VB> / sizeof(T), NV = kPanelBytes<VB> / VB, LT = VB / sizeof(T);
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
    case 7: if constexpr (MR > 7) block_kernel<T, 7, VB>(K, ai, ars, acs, p, ldp, ci, ldc, w, ep); break;
    case 6: if constexpr (MR > 6) block_kernel<T, 6, VB>(K, ai, ars, acs, p, ldp, ci, ldc, w, ep); break;
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
  constexpr int L = kPanelBytes<VB> / sizeof(T);
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
#define EMBER_MID(attr, vb, T, name)                                                                      \
  attr void name(int64_t M, int64_t N, int64_t K, MatRef A, MatRef B, T* C, int64_t ldc, Epilogue<T> ep) { \
    mid_impl<T, vb>(M, N, K, A, B, C, ldc, ep);                                                            \
  }
EMBER_PER_WIDTH(EMBER_MID, float, mid_f32)
EMBER_PER_WIDTH(EMBER_MID, double, mid_f64)
#undef EMBER_MID

// dst (cols x rows, row-major) = src^T, src rows x cols with row stride lds (the blas_t path's copy).
#define EMBER_TRANSPOSE(attr, vb, T)                                                             \
  attr void transpose_into(const T* src, int64_t lds, T* dst, int64_t rows, int64_t cols) { \
    transpose_tiles<T, vb>(src, lds, dst, rows, rows, cols);                                \
  }
EMBER_PER_WIDTH(EMBER_TRANSPOSE, float)
EMBER_PER_WIDTH(EMBER_TRANSPOSE, double)
#undef EMBER_TRANSPOSE

// ---- The packed kernel (BLIS's five loops) for products too large for A to stay in L2 ----
// C is computed in MR x NR tiles held in registers: NR is two vectors wide, and MR rows make
// 2 * MR accumulators that, with two B vectors and one broadcast A value, fill the register
// file (AVX-512's 32 registers: 14 rows; AVX2's and SSE's 16: 6 rows). A is packed into MR-row
// micro-panels of an MC x KC block sized for L2, B into NR-column micro-panels of a KC x NC
// block sized for L3, so the inner loop reads both with unit stride whatever the operands'
// strides; one B micro-panel (KC x NR) stays in L1 while every A micro-panel of the block
// streams past it. The block sizes come from the cache sizes the CPU reports (Note [GEMM paths]).
constexpr int tile_rows(int vb) { return vb == 64 ? 14 : 6; }
template <class T, int VB>
struct Tile {
  static constexpr int LT = VB / (int)sizeof(T), NR = 2 * LT, MR = tile_rows(VB);
};

struct Caches {
  int64_t l1, l2, l3;
};
// The data-cache sizes this CPU reports (glibc reads them from CPUID); where it reports none,
// the smallest any x86-64 CPU of the last decade has.
const Caches& caches() {
  static const Caches c = [] {
    auto get = [](int name, int64_t dflt) {
      const long v = sysconf(name);
      return v > 0 ? (int64_t)v : dflt;
    };
    return Caches{get(_SC_LEVEL1_DCACHE_SIZE, 32 << 10), get(_SC_LEVEL2_CACHE_SIZE, 256 << 10),
                  get(_SC_LEVEL3_CACHE_SIZE, 4 << 20)};
  }();
  return c;
}

// ---- Note [Streaming products]: an op whose output is far larger than the caches (vmap(grad)'s
// per-sample weight gradients: 128 outer products of 256 x 784, 103 MB) is bound by writing it,
// and a plain store first reads each line it writes into the cache (and evicts another). Streaming
// stores skip both: on a 2-vCPU Xeon, 103 MB of outer products took 11.8 ms with plain stores and
// 4.3 ms streamed. The lines are then not in any cache, so this is only for outputs well past the
// private caches' size, which are not all read back at once anyway.
constexpr int64_t kStreamMaxK = 8;

template <class T, int VB>
EMBER_INLINE void stream_vec(T* p, typename Vec<T, VB>::type v) {  // p aligned to VB
#if EMBER_HAS_CLONES
  // (inline assembly: the intrinsics would not inline into this target-neutral template)
  auto* dst = reinterpret_cast<typename Vec<T, VB>::type*>(p);
  if constexpr (VB == 16) {
    if constexpr (std::is_same_v<T, float>) asm volatile("movntps %1, %0" : "=m"(*dst) : "x"(v));
    else asm volatile("movntpd %1, %0" : "=m"(*dst) : "x"(v));
  } else {
    if constexpr (std::is_same_v<T, float>) asm volatile("vmovntps %1, %0" : "=m"(*dst) : "v"(v));
    else asm volatile("vmovntpd %1, %0" : "=m"(*dst) : "v"(v));
  }
#else
  Vec<T, VB>::store(p, v);
#endif
}

// C (M x N, contiguous) = A (M x K) B (K x N) for K <= kStreamMaxK, B's rows unit-stride: each row
// of C as a sum of K scaled rows of B, its aligned vectors streamed.
template <class T, int VB>
EMBER_INLINE void stream_kernel(int64_t M, int64_t N, int64_t K, MatRef A, MatRef B, T* C) {
  using Vt = Vec<T, VB>;
  using V = typename Vt::type;
  constexpr int LT = VB / sizeof(T);
  const T *a = static_cast<const T*>(A.p), *b = static_cast<const T*>(B.p);
  for (int64_t i = 0; i < M; ++i) {
    T av[kStreamMaxK];
    for (int64_t k = 0; k < K; ++k) av[k] = a[i * A.rs + k * A.cs];
    T* c = C + i * N;
    auto one = [&](int64_t j) {
      T x = 0;
      for (int64_t k = 0; k < K; ++k) x += av[k] * b[k * B.rs + j];
      c[j] = x;
    };
    int64_t j = 0;
    for (; j < N && reinterpret_cast<uintptr_t>(c + j) % VB != 0; ++j) one(j);
    for (; j + LT <= N; j += LT) {
      V acc = av[0] * Vt::load(b + j);
      for (int64_t k = 1; k < K; ++k) acc += av[k] * Vt::load(b + k * B.rs + j);
      stream_vec<T, VB>(c + j, acc);
    }
    for (; j < N; ++j) one(j);
  }
#if EMBER_HAS_CLONES
  asm volatile("sfence" ::: "memory");  // the streamed lines are visible before this thread's part is done
#endif
}

#define EMBER_STREAM(attr, vb, T, sfx)                                                                            \
  attr void stream_##sfx(int64_t M, int64_t N, int64_t K, MatRef A, MatRef B, T* C) { stream_kernel<T, vb>(M, N, K, A, B, C); }
EMBER_PER_WIDTH(EMBER_STREAM, float, f32)
EMBER_PER_WIDTH(EMBER_STREAM, double, f64)
#undef EMBER_STREAM

struct Blocking {
  int64_t kc, mc, nc;
};
// KC from L1: one B micro-panel (KC x NR) fills it (measured on a Sapphire Rapids, 48 KB L1, on
// 2048^2: KC 384 267 GFLOP/s, 288 259, 192 233: the larger KC, the fewer passes over C); MC from
// L2: the packed A block takes half of it; NC from L3: the packed B block takes half of it, and
// at most 8 MB of scratch.
template <class T>
Blocking blocking(int64_t MR, int64_t NR) {
  const Caches& c = caches();
  const int64_t s = sizeof(T);
  const int64_t kc = std::clamp<int64_t>(c.l1 / (NR * s) / 16 * 16, 128, 512);
  const int64_t mc = std::max<int64_t>(c.l2 / 2 / (kc * s) / MR * MR, MR);
  const int64_t nc = std::max<int64_t>(std::min<int64_t>(c.l3 / 2, 8 << 20) / (kc * s) / NR * NR, NR);
  return {kc, mc, nc};
}

// n lines of a matrix, each kdim long, into W-wide micro-panels: panel q holds lines q*W.. as
// kdim x W (element (k, r) at k * W + r), zero-filled past the last line. Lines lie `ps` apart in
// the source and k steps `ks`: A's panels are MR rows (ps = A's row stride, ks = its column
// stride), B's are NR columns (ps = B's column stride, ks = its row stride).
template <class T, int VB, int W>
EMBER_INLINE void pack_panels(const T* m, int64_t ps, int64_t ks, int64_t n, int64_t kdim, T* dst) {
  for (int64_t i = 0; i < n; i += W, dst += W * kdim) {
    const int64_t h = std::min<int64_t>(W, n - i);
    const T* src = m + i * ps;
    if (ps == 1 && h == W) {  // the W values of each k are adjacent: one copy per k
      for (int64_t k = 0; k < kdim; ++k) std::memcpy(dst + k * W, src + k * ks, W * sizeof(T));
    } else if (ks == 1 && h == W) {  // each line is unit-stride: LT x LT tiles transposed in registers
      using V = typename Vec<T, VB>::type;
      constexpr int LT = Tile<T, VB>::LT;
      int64_t k = 0;
      for (; k + LT <= kdim; k += LT)
        for (int r0 = 0; r0 < W; r0 += LT) {
          V t[LT];
          for (int r = 0; r < LT; ++r) t[r] = r0 + r < W ? Vec<T, VB>::load(src + (r0 + r) * ps + k) : V{};
          transpose_stages<T, VB, LT / 2>(t);
          const int c = std::min(LT, W - r0);
          // A whole vector per line even where only c < LT values belong (float MR = 14 of 16) when the
          // line is one vector (r0 = 0): the extra lanes are zeros and land on the next line's first
          // values, stored right after; the panel's last line is cut to c. (A copy of part of a vector
          // went through the stack and missed store forwarding: a third of the packing's time.)
          for (int j = 0; j < LT; ++j)
            if (c == LT || (r0 == 0 && k + j + 1 < kdim)) Vec<T, VB>::store(dst + (k + j) * W + r0, t[j]);
            else std::memcpy(dst + (k + j) * W + r0, &t[j], c * sizeof(T));
        }
      for (; k < kdim; ++k)
        for (int r = 0; r < W; ++r) dst[k * W + r] = src[r * ps + k];
    } else {
      for (int64_t k = 0; k < kdim; ++k)
        for (int r = 0; r < W; ++r) dst[k * W + r] = r < h ? src[r * ps + k * ks] : T(0);
    }
  }
}

// rows x cols of A into MR-row micro-panels; rows x cols of B into NR-column micro-panels.
template <class T, int VB>
EMBER_INLINE void pack_a(const T* a, int64_t rs, int64_t cs, int64_t rows, int64_t cols, T* dst) {
  pack_panels<T, VB, Tile<T, VB>::MR>(a, rs, cs, rows, cols, dst);
}
template <class T, int VB>
EMBER_INLINE void pack_b(const T* b, int64_t rs, int64_t cs, int64_t rows, int64_t cols, T* dst) {
  pack_panels<T, VB, Tile<T, VB>::NR>(b, cs, rs, cols, rows, dst);
}

// One MR x NR tile of C (h x w of it valid) from a packed A micro-panel and a packed B
// micro-panel over kc: C = acc on the first K block, C += acc after; the epilogue on the last.
// Direct: A is read in place instead, MR whole rows lda apart with unit stride along k (Note
// [GEMM direct A]). ROWS: the rows computed, MR but for a last partial tile (micro_tail).
template <class T, int VB, bool Direct = false, int ROWS = Tile<T, VB>::MR>
EMBER_INLINE void micro_kernel(int64_t kc, const T* __restrict a, const T* __restrict b, T* c, int64_t ldc, int64_t h,
                               int64_t w, bool first, bool last, const T* bias, bool relu, int64_t lda = 0) {
  using Vt = Vec<T, VB>;
  using V = typename Vt::type;
  constexpr int MR = ROWS, PANEL = Tile<T, VB>::MR, LT = Tile<T, VB>::LT, NR = Tile<T, VB>::NR;
  V acc[MR][2];
  for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = V{};
  // C's rows lie a row stride apart: fetch the tile while the products run.
  for (int r = 0; r < MR; ++r) {
    __builtin_prefetch(c + r * ldc, 1);
    __builtin_prefetch(c + r * ldc + NR - 1, 1);
  }
#pragma GCC unroll 4
  for (int64_t k = 0; k < kc; ++k, a += Direct ? 1 : PANEL, b += NR) {
    const V b0 = Vt::load(b), b1 = Vt::load(b + LT);
    for (int r = 0; r < MR; ++r) {
      const T av = Direct ? a[r * lda] : a[r];
      acc[r][0] += av * b0;
      acc[r][1] += av * b1;
    }
  }
  if (h == MR && w == NR) {
    for (int r = 0; r < MR; ++r) {
      T* cr = c + r * ldc;
      for (int v = 0; v < 2; ++v) {
        V x = acc[r][v];
        if (!first) x += Vt::load(cr + v * LT);
        if (last && bias) x += Vt::load(bias + v * LT);
        if (last && relu) x = x < 0 ? V{} : x;
        Vt::store(cr + v * LT, x);
      }
    }
    return;
  }
  alignas(64) T tmp[MR][NR];
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < 2; ++v) Vt::store(tmp[r] + v * LT, acc[r][v]);
  for (int64_t r = 0; r < h; ++r)
    for (int64_t j = 0; j < w; ++j) {
      T x = tmp[r][j];
      if (!first) x += c[r * ldc + j];
      if (last && bias) x += bias[j];
      if (last && relu) x = x < 0 ? T(0) : x;
      c[r * ldc + j] = x;
    }
}

// A last tile of h < MR rows (a 32-row product's third tile under AVX-512's 14-row one: an LSTM
// step's) by the kernel of the fewest rows that covers them, not all MR: 2, 4 or 8 rows.
template <class T, int VB>
EMBER_INLINE void micro_tail(int64_t kc, const T* a, const T* b, T* c, int64_t ldc, int64_t h, int64_t w, bool first,
                             bool last, const T* bias, bool relu) {
  constexpr int MR = Tile<T, VB>::MR;
  if constexpr (MR > 2)
    if (h <= 2) return micro_kernel<T, VB, false, 2>(kc, a, b, c, ldc, h, w, first, last, bias, relu);
  if constexpr (MR > 4)
    if (h <= 4) return micro_kernel<T, VB, false, 4>(kc, a, b, c, ldc, h, w, first, last, bias, relu);
  if constexpr (MR > 8)
    if (h <= 8) return micro_kernel<T, VB, false, 8>(kc, a, b, c, ldc, h, w, first, last, bias, relu);
  micro_kernel<T, VB>(kc, a, b, c, ldc, h, w, first, last, bias, relu);
}

// rows x (npanels * NR, w valid in the last) of C from a packed A block and packed B panels.
template <class T, int VB>
EMBER_INLINE void macro_kernel(int64_t rows, int64_t cols, int64_t kc, const T* pa, const T* pb, T* c, int64_t ldc,
                               bool first, bool last, const T* bias, bool relu) {
  constexpr int MR = Tile<T, VB>::MR, NR = Tile<T, VB>::NR;
  for (int64_t j = 0; j < cols; j += NR) {
    const int64_t w = std::min<int64_t>(NR, cols - j);
    const T* bp = pb + j * kc;
    for (int64_t i = 0; i < rows; i += MR) {
      const int64_t h = std::min<int64_t>(MR, rows - i);
      if (h == MR)
        micro_kernel<T, VB>(kc, pa + i * kc, bp, c + i * ldc + j, ldc, h, w, first, last, bias ? bias + j : nullptr,
                            relu);
      else
        micro_tail<T, VB>(kc, pa + i * kc, bp, c + i * ldc + j, ldc, h, w, first, last, bias ? bias + j : nullptr, relu);
    }
  }
}

// Note [GEMM direct A]: with A's rows unit-stride (A.cs = 1), the full MR-row tiles read A in place
// (MR rows lda apart, as the packed panel holds them, but in MR streams) and only the last partial
// tile is packed (into tail, MR x kc). Packing a row-major A transposes it, and for the short K of a
// small layer (64) that cost a third of the products' own time.
template <class T, int VB>
EMBER_INLINE void macro_direct_kernel(int64_t rows, int64_t cols, int64_t kc, const T* a, int64_t lda, const T* pb,
                                      T* c, int64_t ldc, bool first, bool last, const T* bias, bool relu, T* tail) {
  constexpr int MR = Tile<T, VB>::MR, NR = Tile<T, VB>::NR;
  const int64_t full = rows / MR * MR, h = rows - full;
  if (h) pack_a<T, VB>(a + full * lda, lda, 1, h, kc, tail);
  for (int64_t j = 0; j < cols; j += NR) {
    const int64_t w = std::min<int64_t>(NR, cols - j);
    const T* bp = pb + j * kc;
    const T* bj = bias ? bias + j : nullptr;
    for (int64_t i = 0; i < full; i += MR)
      micro_kernel<T, VB, true>(kc, a + i * lda, bp, c + i * ldc + j, ldc, MR, w, first, last, bj, relu, lda);
    if (h) micro_tail<T, VB>(kc, tail, bp, c + full * ldc + j, ldc, h, w, first, last, bj, relu);
  }
}

// The per-target pieces: vector code must sit in a function compiled for its target (a lambda
// inside one is compiled for the default target), so the driver below calls these.
#define EMBER_PACKED(attr, vb, T, sfx)                                                                         \
  attr int packed_width_##sfx() { return vb; }                                                                    \
  attr void pack_a_##sfx(const T* a, int64_t rs, int64_t cs, int64_t rows, int64_t cols, T* dst) {                \
    pack_a<T, vb>(a, rs, cs, rows, cols, dst);                                                                     \
  }                                                                                                                \
  attr void pack_b_##sfx(const T* b, int64_t rs, int64_t cs, int64_t rows, int64_t cols, T* dst) {                \
    pack_b<T, vb>(b, rs, cs, rows, cols, dst);                                                                     \
  }                                                                                                                \
  attr void macro_##sfx(int64_t rows, int64_t cols, int64_t kc, const T* pa, const T* pb, T* c, int64_t ldc,      \
                        bool first, bool last, const T* bias, bool relu) {                                        \
    macro_kernel<T, vb>(rows, cols, kc, pa, pb, c, ldc, first, last, bias, relu);                                  \
  }                                                                                                                \
  attr void macro_direct_##sfx(int64_t rows, int64_t cols, int64_t kc, const T* a, int64_t lda, const T* pb, T* c, \
                               int64_t ldc, bool first, bool last, const T* bias, bool relu, T* tail) {            \
    macro_direct_kernel<T, vb>(rows, cols, kc, a, lda, pb, c, ldc, first, last, bias, relu, tail);                  \
  }
EMBER_PER_WIDTH(EMBER_PACKED, float, f32)
EMBER_PER_WIDTH(EMBER_PACKED, double, f64)
#undef EMBER_PACKED

template <class T>
struct PackedTarget {
  int vb;
  void (*pack_a)(const T*, int64_t, int64_t, int64_t, int64_t, T*);
  void (*pack_b)(const T*, int64_t, int64_t, int64_t, int64_t, T*);
  void (*macro)(int64_t, int64_t, int64_t, const T*, const T*, T*, int64_t, bool, bool, const T*, bool);
  void (*macro_direct)(int64_t, int64_t, int64_t, const T*, int64_t, const T*, T*, int64_t, bool, bool, const T*, bool,
                       T*);
};
template <class T>
const PackedTarget<T>& packed_target() {
  static const PackedTarget<T> t = [] {
    if constexpr (std::is_same_v<T, float>)
      return PackedTarget<T>{packed_width_f32(), pack_a_f32, pack_b_f32, macro_f32, macro_direct_f32};
    else return PackedTarget<T>{packed_width_f64(), pack_a_f64, pack_b_f64, macro_f64, macro_direct_f64};
  }();
  return t;
}

template <class T>
struct AlignedBuf {
  struct Free {
    void operator()(T* p) const { std::free(p); }
  };
  std::unique_ptr<T, Free> p;
  int64_t cap = 0;
  T* get(int64_t n) {  // grows only; uninitialised
    if (n > cap) {
      p.reset(static_cast<T*>(std::aligned_alloc(64, ((n * sizeof(T) + 63) / 64) * 64)));
      if (!p) throw std::bad_alloc();
      cap = n;
    }
    return p.get();
  }
};

// Scratch for packed_serial on each of nt threads, for products of at most M x N: thread t's packed
// A block at a(t), its B block at b(t), each on cache lines of its own; `extra` more values after.
template <class T>
struct SerialScratch {
  int64_t pa_n, pb_n;
  T* base;
  SerialScratch(AlignedBuf<T>& buf, const Blocking& bl, int64_t MR, int64_t NR, int64_t M, int64_t N, int nt,
                int64_t extra = 0)
      : pa_n(std::min(bl.mc, (M + MR - 1) / MR * MR) * bl.kc + 64),
        pb_n(bl.kc * std::min(bl.nc, (N + NR - 1) / NR * NR) + 64),
        base(buf.get(nt * (pa_n + pb_n) + extra)) {}
  T* a(int t) const { return base + t * (pa_n + pb_n); }
  T* b(int t) const { return a(t) + pa_n; }
  T* end(int nt) const { return a(nt); }
};

constexpr int64_t kDirectMaxK = 256;  // Note [GEMM direct A]: longer rows are packed (14 rows of A then no longer fit L1 beside a B panel)

// The whole product on the calling thread into C (rows ldc apart), with scratch pa (MC x KC) and
// pb (KC x NC) given; the epilogue's bias (N long) and ReLU as the last K block is written.
template <class T>
void packed_serial(const PackedTarget<T>& tg, const Blocking& bl, int64_t M, int64_t N, int64_t K, MatRef A, MatRef B,
                   T* C, int64_t ldc, T* pa, T* pb, const T* bias = nullptr, bool relu = false) {
  const T* a = static_cast<const T*>(A.p);
  const T* b = static_cast<const T*>(B.p);
  for (int64_t jc = 0; jc < N; jc += bl.nc) {
    const int64_t nb = std::min(bl.nc, N - jc);
    for (int64_t pc = 0; pc < K; pc += bl.kc) {
      const int64_t kb = std::min(bl.kc, K - pc);
      tg.pack_b(b + pc * B.rs + jc * B.cs, B.rs, B.cs, kb, nb, pb);
      for (int64_t i0 = 0; i0 < M; i0 += bl.mc) {
        const int64_t rows = std::min(bl.mc, M - i0);
        const T* ai = a + i0 * A.rs + pc * A.cs;
        if (A.cs == 1 && K <= kDirectMaxK) {  // Note [GEMM direct A]
          tg.macro_direct(rows, nb, kb, ai, A.rs, pb, C + i0 * ldc + jc, ldc, pc == 0, pc + kb == K,
                          bias ? bias + jc : nullptr, relu, pa);
          continue;
        }
        tg.pack_a(ai, A.rs, A.cs, rows, kb, pa);
        tg.macro(rows, nb, kb, pa, pb, C + i0 * ldc + jc, ldc, pc == 0, pc + kb == K, bias ? bias + jc : nullptr,
                 relu);
      }
    }
  }
}

template <class T>
void apply_epilogue(int64_t M, int64_t N, T* C, const Epilogue<T>& ep);  // (below, with the other paths)

// Note [GEMM K split]: a product with few tiles of C and a long K (a weight gradient, dY^T @ X, of
// a small layer over a batch: 64 x 64 over K = 512) splits K instead: K falls into 2 to 4 parts (by
// the shape alone), each part's product goes into its own copy of C (the first into C), and the
// copies are added in order, then the epilogue. Threads take parts round-robin; on one thread the
// parts run one after another, so the result does not depend on the thread count (the row and
// column splits never change an element either). Split by C's tiles, 5 row tiles for 2 threads ran
// 3 + 2 and every thread packed the whole B: 64 x 64 over 512 took 38 us on 2 threads, 19 split.
constexpr int64_t kKSplitMinK = 256;        // per part
constexpr int64_t kKSplitMaxC = 1 << 16;    // elements of C (the copies stay in L2)
constexpr int64_t kRowSplitMinTiles = 4;    // MR-row tiles of C per thread (Note [GEMM row split]),
constexpr int64_t kRowSplitMaxB = 1 << 16;  // and B small enough for every thread to pack it (K x N),
constexpr int64_t kRowSplitMinRows = 256;   // or rows enough per thread to pay for that
template <class T>
bool gemm_k_split(const PackedTarget<T>& tg, const Blocking& bl, int64_t M, int64_t N, int64_t K, MatRef A, MatRef B,
                  T* C, const Epilogue<T>& ep) {
  const int64_t MR = tile_rows(tg.vb), NR = 2 * tg.vb / (int64_t)sizeof(T);
  const int64_t tiles = ((M + MR - 1) / MR) * ((N + NR - 1) / NR);
  if (K < 2 * kKSplitMinK || M * N > kKSplitMaxC || (tiles >= 16 && K < std::max(M, N))) return false;
  const int parts = (int)std::min<int64_t>(4, K / kKSplitMinK);
  const int nt = std::min(parts, get_num_threads());
  thread_local AlignedBuf<T> buf;
  const SerialScratch<T> sc(buf, bl, MR, NR, M, N, nt, (parts - 1) * M * N);
  T* copies = sc.end(nt);
  const T* a = static_cast<const T*>(A.p);
  const T* b = static_cast<const T*>(B.p);
  parallel_run(nt, [&](int t) {
    for (int p = t; p < parts; p += nt) {
      const int64_t k0 = K * p / parts, k1 = K * (p + 1) / parts;
      packed_serial(tg, bl, M, N, k1 - k0, MatRef{a + k0 * A.cs, A.rs, A.cs}, MatRef{b + k0 * B.rs, B.rs, B.cs},
                    p == 0 ? C : copies + (p - 1) * M * N, N, sc.a(t), sc.b(t));
    }
  });
  for (int p = 1; p < parts; ++p) {
    const T* cp = copies + (p - 1) * M * N;
    for (int64_t i = 0; i < M * N; ++i) C[i] += cp[i];
  }
  apply_epilogue(M, N, C, ep);
  return true;
}

// The threads split each packed B block's tiles: by A blocks (rows of C) when there are enough
// of them, else by B micro-panels too; or K (Note [GEMM K split]). All scratch is taken on the
// calling thread (a worker must not throw): one packed B block, and one packed A block per thread.
template <class T>
void gemm_packed_on(const PackedTarget<T>& tg, int64_t M, int64_t N, int64_t K, MatRef A, MatRef B, T* C,
                    Epilogue<T> ep) {
  const int64_t LT = tg.vb / (int64_t)sizeof(T), NR = 2 * LT, MR = tile_rows(tg.vb);
  const Blocking bl = blocking<T>(MR, NR);
  const T* a = static_cast<const T*>(A.p);
  const T* b = static_cast<const T*>(B.p);
  const int nt = (int)std::max<int64_t>(1, std::min<int64_t>(get_num_threads(), M * N * K / kPackedSplitMinFlops));
  if (gemm_k_split(tg, bl, M, N, K, A, B, C, ep)) return;
  const int64_t row_units = (M + MR - 1) / MR;
  if (nt > 1 && row_units >= kRowSplitMinTiles * nt && (K * N <= kRowSplitMaxB || M / nt >= kRowSplitMinRows)) {
    // Note [GEMM row split]: with enough rows, each thread takes its own rows of C (whole MR tiles)
    // and runs the serial loops on them, packing its own copy of each B block: one parallel region
    // for the whole product and nothing shared but the inputs. Sharing one packed B (two regions
    // per K block, each thread packing half of the panels and reading the other half from the
    // other core's cache) left the caller waiting a fifth of a 512 x 64 x 192 product. Packing B
    // on every thread costs K x N copies per thread: not for a large B over few rows (a 784 x 256
    // B for 128 rows made an MLP step 4% slower).
    thread_local AlignedBuf<T> buf;
    const SerialScratch<T> sc(buf, bl, MR, NR, (row_units + nt - 1) / nt * MR, N, nt);
    parallel_run(nt, [&](int t) {
      const int64_t r0 = row_units * t / nt * MR, r1 = std::min(M, row_units * (t + 1) / nt * MR);
      if (r1 <= r0) return;
      packed_serial(tg, bl, r1 - r0, N, K, MatRef{a + r0 * A.rs, A.rs, A.cs}, B, C + r0 * N, N, sc.a(t), sc.b(t),
                    ep.bias, ep.relu);
    });
    return;
  }
  // Row blocks: at most MC, a multiple of the thread count (when M allows) so that none waits.
  const int64_t n_ic = std::min<int64_t>(row_units, ((M + bl.mc - 1) / bl.mc + nt - 1) / nt * nt);
  const int64_t mc = (row_units + n_ic - 1) / n_ic * MR;
  thread_local AlignedBuf<T> bbuf, abuf;
  T* pb = bbuf.get(bl.kc * std::min<int64_t>(bl.nc, (N + NR - 1) / NR * NR));
  T* pa = abuf.get(nt * mc * bl.kc);
  for (int64_t jc = 0; jc < N; jc += bl.nc) {
    const int64_t nb = std::min(bl.nc, N - jc), npanels = (nb + NR - 1) / NR;
    const int64_t n_js = std::max<int64_t>(1, std::min<int64_t>((nt + n_ic - 1) / n_ic, npanels));
    for (int64_t pc = 0; pc < K; pc += bl.kc) {
      const int64_t kb = std::min(bl.kc, K - pc);
      const bool first = pc == 0, last = pc + kb == K;
      parallel_run((int)std::min<int64_t>(nt, npanels), [&](int t) {
        for (int64_t q = t; q < npanels; q += nt) {
          const int64_t j = q * NR;
          tg.pack_b(b + pc * B.rs + (jc + j) * B.cs, B.rs, B.cs, kb, std::min<int64_t>(NR, nb - j), pb + j * kb);
        }
      });
      const int64_t items = n_ic * n_js;
      parallel_run((int)std::min<int64_t>(nt, items), [&](int t) {
        T* mine = pa + t * mc * bl.kc;
        int64_t packed_ic = -1;
        for (int64_t it = t; it < items; it += nt) {
          const int64_t ic = it / n_js, js = it % n_js;
          const int64_t i0 = ic * mc, rows = std::min(mc, M - i0);
          if (rows <= 0) continue;
          if (packed_ic != ic) {
            tg.pack_a(a + i0 * A.rs + pc * A.cs, A.rs, A.cs, rows, kb, mine);
            packed_ic = ic;
          }
          const int64_t p0 = npanels * js / n_js, p1 = npanels * (js + 1) / n_js;
          const int64_t j0 = p0 * NR, cols = std::min(p1 * NR, nb) - j0;
          if (cols <= 0) continue;
          tg.macro(rows, cols, kb, mine, pb + j0 * kb, C + i0 * N + jc + j0, N, first, last,
                   ep.bias ? ep.bias + jc + j0 : nullptr, ep.relu);
        }
      });
    }
  }
}
template <class T>
void gemm_packed(int64_t M, int64_t N, int64_t K, MatRef A, MatRef B, T* C, Epilogue<T> ep) {
  gemm_packed_on(packed_target<T>(), M, N, K, A, B, C, ep);
}

// A product with a packed right operand (gemm_packed_rhs), on the calling thread.
template <class T>
void gemm_rhs_on(const PackedTarget<T>& tg, int64_t M, MatRef A, const PackedRhs<T>& B, T* C, int64_t ldc,
                 Epilogue<T> ep) {
  const int64_t MR = tile_rows(tg.vb);
  const Blocking bl = blocking<T>(MR, 2 * tg.vb / (int64_t)sizeof(T));
  const T* a = static_cast<const T*>(A.p);
  thread_local AlignedBuf<T> abuf;
  const int64_t mc = std::min(bl.mc, (M + MR - 1) / MR * MR);
  T* pa = abuf.get(mc * B.kc);
  for (int64_t pc = 0; pc < B.K; pc += B.kc) {
    const int64_t kb = std::min(B.kc, B.K - pc);
    for (int64_t i0 = 0; i0 < M; i0 += mc) {
      const int64_t rows = std::min(mc, M - i0);
      tg.pack_a(a + i0 * A.rs + pc * A.cs, A.rs, A.cs, rows, kb, pa);
      tg.macro(rows, B.N, kb, pa, B.data.data() + pc * B.npad, C + i0 * ldc, ldc, pc == 0, pc + kb == B.K, ep.bias,
               ep.relu);
    }
  }
}

// Threads take blocks of C's columns (whole vectors), or of its rows when C is narrow.
constexpr int64_t kMidSplitMinFlops = 128 * 1024;  // per thread

template <class T>
void gemm_mid(int64_t M, int64_t N, int64_t K, MatRef A, MatRef B, T* C, Epilogue<T> ep) {
  auto run = [&](int64_t m, int64_t n, MatRef a, MatRef b, T* c, const T* bias) {
    if constexpr (std::is_same_v<T, float>) mid_f32(m, n, K, a, b, c, N, {bias, ep.relu});
    else mid_f64(m, n, K, a, b, c, N, {bias, ep.relu});
  };
  constexpr int64_t L = kPanelMax<T>;
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

namespace {
std::atomic<int> forced_path{0};
}  // namespace

void set_gemm_path(GemmPath p) { forced_path.store((int)p, std::memory_order_relaxed); }
GemmPath gemm_path() { return (GemmPath)forced_path.load(std::memory_order_relaxed); }

namespace {
template <class T>
GemmInfo info_for() {
  const PackedTarget<T>& tg = packed_target<T>();
  const int nr = 2 * tg.vb / (int)sizeof(T), mr = tile_rows(tg.vb);
  const Blocking bl = blocking<T>(mr, nr);
  return {tg.vb, mr, nr, bl.kc, bl.mc, bl.nc, caches().l1, caches().l2, caches().l3};
}
}  // namespace
GemmInfo gemm_info(bool f64) { return f64 ? info_for<double>() : info_for<float>(); }

namespace {
template <class T>
void blas_path(int64_t M, int64_t N, int64_t K, MatRef A, MatRef B, T* C) {
  CBLAS_TRANSPOSE ta, tb;
  int64_t lda, ldb;
  std::vector<T> pa, pb;
  if (!blas_layout(A, M, K, ta, lda)) { pa = pack<T>(A, M, K); A = {pa.data(), K, 1}; ta = CblasNoTrans; lda = K; }
  if (!blas_layout(B, K, N, tb, ldb)) { pb = pack<T>(B, K, N); B = {pb.data(), N, 1}; tb = CblasNoTrans; ldb = N; }
  blas_parallel<T>(ta, tb, M, N, K, static_cast<const T*>(A.p), lda, static_cast<const T*>(B.p), ldb, C);
}

// OpenBLAS with a transposed B (x @ W^T, nn.Linear's forward) first copied row-major, in register
// tiles: on some CPUs OpenBLAS's small-matrix kernel for that layout runs at half the speed of the
// untransposed one (Intel AVX-512, 32x64x64: 3.5 against 1.7 us), and the copy costs a fraction of
// that. Another layout, or a B too large for the scratch, is the plain BLAS path.
template <class T>
void blas_t_path(int64_t M, int64_t N, int64_t K, MatRef A, MatRef B, T* C) {
  if (!(B.rs == 1 && B.cs >= K && K * N <= kBlasTMaxB)) return blas_path<T>(M, N, K, A, B, C);
  thread_local std::unique_ptr<T[]> scratch;  // grows only, uninitialised
  thread_local int64_t cap = 0;
  if (K * N > cap) scratch.reset(new T[cap = K * N]);
  transpose_into(static_cast<const T*>(B.p), B.cs, scratch.get(), N, K);  // B^T is N x K row-major, stride cs
  blas_path<T>(M, N, K, A, MatRef{scratch.get(), N, 1}, C);
}

// Note [GEMM paths]: four kernels compute a float product, and which is fastest depends on the CPU
// (its vector width, cache sizes, how OpenBLAS's kernel for it was tuned) as much as on the shape:
// the direct loop (no setup at all), the register-blocked "mid" kernel (reads A in place, packs
// only B; wins while A stays in L2), the packed kernel (BLIS's loops, blocks sized from the
// reported caches) and OpenBLAS (each thread's part a single-threaded call), which runs as a fifth
// path too, "blas_t": a transposed B copied row-major first (blas_t_path). No threshold between
// them is written down: products fall into size classes by multiply-adds (up to 2^13, 2^18, 2^23,
// beyond) and four operand layouts (A and B each unit-stride along rows or along columns), and the
// first product that needs the choice times each candidate in each layout on two products per
// class, a cube (16^3, 40^3, 128^3, 256^3) and a layer-shaped one (32 rows, kClassLayer), best of
// three after a warm-up call each (about 65 ms in all on a 2-core Intel Xeon with AVX-512), and
// ranks them by the sum (see kTimed for the one exception). The ranking is cached per
// CPU model and thread count in a small file (EMBER_CACHE_DIR, else $XDG_CACHE_HOME/ember or
// ~/.cache/ember), so later processes on the same kind of machine read it instead of measuring, and
// two runs pick the same kernels (delete the file to measure again, e.g. after a first run on a
// busy machine). What is fixed is only what a kernel can do: products of at most
// 256 multiply-adds always take the direct loop (a few scalar operations; nothing is measured for
// them), mid needs A within half of L2 (else it re-reads A from L3 for every 16 columns), at least
// 8 columns and K <= 16384 (its scratch), OpenBLAS dimensions below 2^31. EMBER_GEMM_CALIBRATE=0
// skips the measurement and ranks OpenBLAS first (its kernels are tuned per CPU by their authors),
// then mid, packed.
constexpr int kClasses = 4, kLayouts = 4, kRanked = 4;
// Up to this many multiply-adds (a Linear(1, 1) on a batch) the product is a few scalar
// operations: the direct loop runs it without any setup, and without measuring anything.
constexpr int64_t kTrivialFlops = 256;
constexpr int64_t kClassMax[kClasses - 1] = {int64_t(1) << 13, int64_t(1) << 18, int64_t(1) << 23};
constexpr int64_t kClassRep[kClasses] = {16, 40, 128, 256};  // cube side of each class's representative
// ...and the width of its layer-shaped one: 32 rows (a batch) by width x width, as a small model's layers
// (OpenBLAS's speed on these skinny products is not the cube's: 32x64x64 x @ W^T ran at half).
constexpr int64_t kClassLayer[kClasses] = {16, 64, 256, 1024};  // (each inside its class)
constexpr GemmPath kCandidates[kClasses][kRanked] = {{GemmPath::Direct, GemmPath::Mid, GemmPath::Blas, GemmPath::BlasT},
                                                      {GemmPath::Mid, GemmPath::Blas, GemmPath::BlasT, GemmPath::Packed},
                                                      {GemmPath::Mid, GemmPath::Blas, GemmPath::BlasT, GemmPath::Packed},
                                                      {GemmPath::Blas, GemmPath::BlasT, GemmPath::Packed, GemmPath::Mid}};
// How many of a class's candidates are timed; the rest keep their place after them. In the largest
// class mid is not timed: it re-reads A for every column panel, and at the class's smallest size
// (256^3), where it can still win by a hair, timing it picked it for products where it runs well
// behind (Sapphire Rapids, 512^3 A @ B^T: mid 191, packed 230, OpenBLAS 231 GFLOP/s).
constexpr int kTimed[kClasses] = {4, 4, 4, 3};
struct Ranking {
  GemmPath order[kClasses][kLayouts][kRanked];
};

int size_class(int64_t flops) {
  int c = 0;
  while (c < kClasses - 1 && flops > kClassMax[c]) ++c;
  return c;
}
int layout_of(MatRef A, MatRef B) { return (A.cs == 1 ? 0 : 2) + (B.cs == 1 ? 0 : 1); }

// Whether a path can run the product at all (a forced path too), and whether it may be chosen.
bool runnable(GemmPath p, int64_t M, int64_t N, int64_t K) {
  const int64_t lim = int64_t(1) << 31;
  if (p == GemmPath::Mid) return K <= kMidMaxK;
  if (p == GemmPath::Blas || p == GemmPath::BlasT) return M < lim && N < lim && K < lim;
  return true;
}
template <class T>
bool eligible(GemmPath p, int64_t M, int64_t N, int64_t K) {
  if (p == GemmPath::Mid && !(N >= kMidMinCols && M * K * (int64_t)sizeof(T) <= caches().l2 / 2)) return false;
  return runnable(p, M, N, K);
}

template <class T>
void run_path(GemmPath p, int64_t M, int64_t N, int64_t K, MatRef A, MatRef B, T* C, const Epilogue<T>& ep);

std::string cpu_model() {
  std::string model;
#if defined(__x86_64__) && defined(__GNUC__)
  unsigned r[12] = {};
  for (unsigned i = 0; i < 3; ++i) __cpuid(0x80000002u + i, r[4 * i], r[4 * i + 1], r[4 * i + 2], r[4 * i + 3]);
  model.assign(reinterpret_cast<const char*>(r), sizeof(r));
  model = model.c_str();
#endif
  std::string clean;
  for (char ch : model)
    if (std::isalnum((unsigned char)ch)) clean += ch;
  return clean.empty() ? "unknown" : clean;
}

std::string ranking_file() {
  std::string dir;
  if (const char* d = std::getenv("EMBER_CACHE_DIR")) dir = d;
  else if (const char* x = std::getenv("XDG_CACHE_HOME")) dir = std::string(x) + "/ember";
  else if (const char* h = std::getenv("HOME")) dir = std::string(h) + "/.cache/ember";
  else return "";
  return dir + "/gemm-" + cpu_model() + "-t" + std::to_string(get_num_threads()) + ".txt";
}

const char* const kPathNames[] = {"auto", "direct", "mid", "packed", "blas", "blas_t"};
// The cache file's first word; a new one when the classes or candidates change (older files are
// then measured again).
constexpr const char* kRankingFormat = "ember-gemm-ranking-3";

bool read_ranking(const std::string& file, Ranking& r) {
  std::ifstream in(file);
  std::string word;
  if (!(in >> word) || word != kRankingFormat) return false;
  for (auto& cls : r.order)
    for (auto& lay : cls)
      for (auto& p : lay) {
        if (!(in >> word)) return false;
        auto it = std::find(std::begin(kPathNames) + 1, std::end(kPathNames), word);
        if (it == std::end(kPathNames)) return false;
        p = (GemmPath)(it - std::begin(kPathNames));
      }
  return true;
}

void write_ranking(const std::string& file, const Ranking& r) {
  const std::string dir = file.substr(0, file.find_last_of('/'));
  for (size_t i = 1; i <= dir.size(); ++i)  // mkdir -p
    if (i == dir.size() || dir[i] == '/') mkdir(dir.substr(0, i).c_str(), 0755);
  const std::string tmp = file + ".tmp" + std::to_string(getpid());
  {
    std::ofstream out(tmp);
    out << kRankingFormat << '\n';
    for (auto& cls : r.order) {
      for (auto& lay : cls)
        for (auto p : lay) out << kPathNames[(int)p] << ' ';
      out << '\n';
    }
    if (!out) return (void)std::remove(tmp.c_str());
  }
  if (std::rename(tmp.c_str(), file.c_str()) != 0) std::remove(tmp.c_str());
}

Ranking measure_ranking() {
  Ranking r;
  for (int c = 0; c < kClasses; ++c) {
    const int64_t n = kClassRep[c], w = kClassLayer[c];
    const int64_t shapes[2][3] = {{n, n, n}, {32, w, w}};  // (M, N, K): the cube, then the layer
    const int64_t big = std::max(n * n, std::max<int64_t>(32, w) * w);
    std::vector<float> a(big), b(big), out(big);
    for (int64_t i = 0; i < big; ++i) a[i] = float(i % 7) - 3, b[i] = float(i % 5) - 2;
    for (int l = 0; l < kLayouts; ++l) {
      std::pair<double, GemmPath> t[kRanked];
      for (int q = 0; q < kRanked; ++q) {
        const GemmPath p = kCandidates[c][q];
        if (q >= kTimed[c]) {
          t[q] = {1e300, p};
          continue;
        }
        double total = 0;
        for (auto& sh : shapes) {
          const int64_t M = sh[0], N = sh[1], K = sh[2];
          const MatRef A{a.data(), l & 2 ? 1 : K, l & 2 ? M : 1}, B{b.data(), l & 1 ? 1 : N, l & 1 ? K : 1};
          run_path<float>(p, M, N, K, A, B, out.data(), {});  // warm: code, pages, the pool's threads
          double best = 1e30;
          for (int rep = 0; rep < 3; ++rep) {
            const auto t0 = std::chrono::steady_clock::now();
            run_path<float>(p, M, N, K, A, B, out.data(), {});
            best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
          }
          total += best;
        }
        t[q] = {total, p};
      }
      std::stable_sort(std::begin(t), std::end(t), [](auto& x, auto& y) { return x.first < y.first; });
      for (int q = 0; q < kRanked; ++q) r.order[c][l][q] = t[q].second;
    }
  }
  return r;
}

const Ranking& ranking() {
  static const Ranking r = [] {
    Ranking fixed;
    for (int c = 0; c < kClasses; ++c)
      for (int l = 0; l < kLayouts; ++l) {
        fixed.order[c][l][0] = GemmPath::Blas, fixed.order[c][l][1] = GemmPath::Mid;
        fixed.order[c][l][2] = c == 0 ? GemmPath::Direct : GemmPath::Packed, fixed.order[c][l][3] = GemmPath::BlasT;
      }
    const char* env = std::getenv("EMBER_GEMM_CALIBRATE");
    if (env && std::string(env) == "0") return fixed;
    const std::string file = ranking_file();
    Ranking got;
    if (!file.empty() && read_ranking(file, got)) return got;
    got = measure_ranking();
    if (!file.empty()) write_ranking(file, got);
    return got;
  }();
  return r;
}

template <class T>
GemmPath choose_path(int64_t M, int64_t N, int64_t K, MatRef A, MatRef B) {
  if (M * N * K <= kTrivialFlops) return GemmPath::Direct;
  const Ranking& r = ranking();
  for (GemmPath p : r.order[size_class(M * N * K)][layout_of(A, B)])
    if (eligible<T>(p, M, N, K)) return p;
  return GemmPath::Packed;
}

template <class T>
void run_path(GemmPath p, int64_t M, int64_t N, int64_t K, MatRef A, MatRef B, T* C, const Epilogue<T>& ep) {
  switch (p) {
    case GemmPath::Mid: return gemm_mid<T>(M, N, K, A, B, C, ep);
    case GemmPath::Packed: return gemm_packed<T>(M, N, K, A, B, C, ep);
    case GemmPath::Blas: blas_path<T>(M, N, K, A, B, C); return apply_epilogue(M, N, C, ep);
    case GemmPath::BlasT: blas_t_path<T>(M, N, K, A, B, C); return apply_epilogue(M, N, C, ep);
    default: gemm_direct<T>(M, N, K, A, B, C); return apply_epilogue(M, N, C, ep);
  }
}
}  // namespace

template <class T>
void gemm(int64_t M, int64_t N, int64_t K, MatRef A, MatRef B, T* C, Epilogue<T> ep) {
  if (M == 0 || N == 0) return;
  if (K == 0) {
    std::fill(C, C + M * N, T(0));
    return apply_epilogue(M, N, C, ep);
  }
  if constexpr (std::is_floating_point_v<T>) {
    GemmPath path = gemm_path();
    if (path == GemmPath::Auto) path = choose_path<T>(M, N, K, A, B);
    else if (!runnable(path, M, N, K)) path = GemmPath::Direct;  // a forced path that cannot run
    return run_path<T>(path, M, N, K, A, B, C, ep);
  }
  gemm_direct<T>(M, N, K, A, B, C);
  apply_epilogue(M, N, C, ep);
}

bool stream_pays(int64_t bytes) { return bytes >= 16 * caches().l2; }

template <class T>
bool gemm_stream(int64_t M, int64_t N, int64_t K, MatRef A, MatRef B, T* C) {
  if (K < 1 || K > kStreamMaxK || B.cs != 1) return false;
  if (M > 0 && N > 0) {
    if constexpr (std::is_same_v<T, float>) stream_f32(M, N, K, A, B, C);
    else stream_f64(M, N, K, A, B, C);
  }
  return true;
}
template bool gemm_stream<float>(int64_t, int64_t, int64_t, MatRef, MatRef, float*);
template bool gemm_stream<double>(int64_t, int64_t, int64_t, MatRef, MatRef, double*);

template <class T>
PackedRhs<T> pack_rhs(int64_t K, int64_t N, MatRef B) {
  const PackedTarget<T>& tg = packed_target<T>();
  const int64_t NR = 2 * tg.vb / (int64_t)sizeof(T);
  PackedRhs<T> r;
  r.K = K, r.N = N, r.kc = blocking<T>(tile_rows(tg.vb), NR).kc, r.npad = (N + NR - 1) / NR * NR;
  r.data.resize(K * r.npad);
  const T* b = static_cast<const T*>(B.p);
  for (int64_t pc = 0; pc < K; pc += r.kc)  // block pc: npad / NR panels of kb x NR
    tg.pack_b(b + pc * B.rs, B.rs, B.cs, std::min(r.kc, K - pc), N, r.data.data() + pc * r.npad);
  return r;
}

template <class T>
void gemm_packed_rhs(int64_t M, MatRef A, const PackedRhs<T>& B, T* C, int64_t ldc, Epilogue<T> ep) {
  if (M == 0 || B.N == 0) return;
  if (B.K == 0) {
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < B.N; ++j) {
        const T v = ep.bias ? ep.bias[j] : T(0);
        C[i * ldc + j] = ep.relu && v < 0 ? T(0) : v;
      }
    return;
  }
  gemm_rhs_on(packed_target<T>(), M, A, B, C, ldc, ep);
}

template PackedRhs<float> pack_rhs<float>(int64_t, int64_t, MatRef);
template PackedRhs<double> pack_rhs<double>(int64_t, int64_t, MatRef);
template void gemm_packed_rhs<float>(int64_t, MatRef, const PackedRhs<float>&, float*, int64_t, Epilogue<float>);
template void gemm_packed_rhs<double>(int64_t, MatRef, const PackedRhs<double>&, double*, int64_t, Epilogue<double>);

template void gemm<float>(int64_t, int64_t, int64_t, MatRef, MatRef, float*, Epilogue<float>);
template void gemm<double>(int64_t, int64_t, int64_t, MatRef, MatRef, double*, Epilogue<double>);
template void gemm<int64_t>(int64_t, int64_t, int64_t, MatRef, MatRef, int64_t*, Epilogue<int64_t>);

}  // namespace ember
