// Resizing over 1-3 spatial dims (F.interpolate, nn.Upsample): nearest, nearest-exact, linear /
// bilinear / trilinear, bicubic, and the antialiased bilinear / bicubic / lanczos, each with its
// adjoint for the backward. The input is [N, C, spatial...]; every plane (N * C of them) is resized
// alone, planes split over ember's pool. Indices and weights along each axis are computed once per
// call (Taps) with torch's arithmetic (Note [Resize source index]); the forward reads them once per
// output element.
#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "ember/autograd/node.h"
#include "ember/kernels/parallel.h"
#include "ember/kernels/simd.h"
#include "ember/ops/nn.h"
#include "ember/ops/ops.h"
#include "ember/ops/registry.h"

namespace ember {

namespace {

// Note [Resize source index]: which input pixels an output pixel reads, and with what weights, is
// torch's computation to the bit (UpSample.h, cpu/UpSampleKernel.cpp): the scale is the user's
// scale_factor (as 1/scale) when one was given and recompute_scale_factor was not True, else in/out
// (or (in-1)/(out-1) with align_corners); it is computed in the tensor's precision (float for
// float32), and the floor of a source index goes through float (torch's floorf) even for float64.
// Nearest has two index rules in torch: the general kernel's (scale * o, no special case) and
// nearest_idx's (an exact copy when out == in, o >> 1 when out == 2 * in), which torch's backward
// always uses and its 2-D forward uses for small outputs (out_h + out_w <= 128: its channels-last
// kernel); both are kept, so indices match torch's forward and backward.
//
// Note [Resize FMA]: torch's kernels under aten/src/ATen/native/cpu are built per CPU capability,
// and on x86 its upsample kernels run their AVX2 build (on AVX-512 CPUs too), where the compiler
// fuses a * b + c into fused multiply-adds. Which ones, measured against torch 2.13: the source
// index scale * (o + 0.5) - 0.5; the cubic coefficients (all but the last multiply-add of each
// polynomial; every one in the antialias filter); each weighted sum of the forward,
// fma(t0, w0, t1 * w1) then fma(t, w, sum); the channels-last bilinear kernel's sum of products,
// left to right, and right to left on its vectorized channels (32-byte vectors); the antialiased
// window sums, t0 * w0, then groups of 16 bytes' worth of taps multiplied and added unfused (a
// vectorized in-order reduction), the rest fused; the linear and antialiased backward
// accumulations. The bicubic backward is built outside that directory: unfused. resize.cpp writes
// exactly these as std::fma and is compiled with -ffp-contract=off (no other fusion), which gives
// torch's results to the bit; the hot loops are cloned per target (Note [Run-time SIMD]) so an
// fma is one instruction where the CPU has it. On a CPU without FMA torch's results differ from
// these (and from its own AVX2 results) in the last bit.

struct ResizeGeom {
  int nd = 0, mode = 0;
  int64_t in[3] = {1, 1, 1}, out[3] = {1, 1, 1};
  std::optional<double> scale[3];  // the scale factor of each axis, when torch passes one to its kernel
  bool align = false;
  bool cl = false;  // torch would run its channels-last kernel (Note [Resize source index])
  int64_t in_n() const { return in[0] * in[1] * in[2]; }
  int64_t out_n() const { return out[0] * out[1] * out[2]; }
};

template <class S>
S scales_value(const std::optional<double>& s, int64_t in, int64_t out) {
  return (s && *s > 0.) ? static_cast<S>(1.0 / *s) : static_cast<S>(in) / out;
}

template <class S>
S pixel_scale(int64_t in, int64_t out, bool align, const std::optional<double>& s) {
  if (align) return out > 1 ? static_cast<S>(in - 1) / (out - 1) : static_cast<S>(0);
  return scales_value<S>(s, in, out);
}

template <class S>
S source_index(S scale, int64_t o, bool align, bool cubic, bool fused) {
  if (align) return scale * o;
  const S half = static_cast<S>(0.5);
  const S src = fused ? std::fma(scale, o + half, -half) : scale * (o + half) - half;
  return (!cubic && src < static_cast<S>(0)) ? S(0) : src;
}

// torch's floorf: the argument is rounded to float first
inline int64_t floor_f(double v) { return static_cast<int64_t>(std::floor(static_cast<float>(v))); }

template <class S>
void guard_index(S real, int64_t in, int64_t& idx, S& lambda) {
  idx = std::min(floor_f(real), in - 1);
  lambda = std::min(std::max(real - idx, static_cast<S>(0)), static_cast<S>(1));
}

// nearest_idx / nearest_exact_idx (UpSample.h): the backward's indices, and the small 2-D forward's
int64_t nearest_idx(int64_t o, int64_t in, int64_t out, const std::optional<double>& s) {
  if (out == in) return o;
  if (out == 2 * in) return o >> 1;
  const float scale = scales_value<float>(s, in, out);
  return std::min(floor_f(o * scale), in - 1);
}
int64_t nearest_exact_idx(int64_t o, int64_t in, int64_t out, const std::optional<double>& s) {
  const float scale = scales_value<float>(s, in, out);
  return std::min(floor_f((o + 0.5) * scale), in - 1);
}

// Keys' cubic convolution kernel, |x| < 1 and 1 <= |x| < 2, fused as torch's build fuses it
// (Note [Resize FMA], measured): kPlain unfused (its backward), kInner all but the last
// multiply-add (its forward's coefficients), kAll every one (the antialias filter).
enum Fusion { kPlain, kInner, kAll };
template <class S>
S cubic1(S x, S A, Fusion f) {
  if (f == kAll) return std::fma(std::fma(A + 2, x, -(A + 3)) * x, x, S(1));
  if (f == kInner) return std::fma(A + 2, x, -(A + 3)) * x * x + 1;
  return ((A + 2) * x - (A + 3)) * x * x + 1;
}
template <class S>
S cubic2(S x, S A, Fusion f) {
  if (f == kAll) return std::fma(std::fma(std::fma(A, x, -(5 * A)), x, 8 * A), x, -(4 * A));
  if (f == kInner) return std::fma(std::fma(A, x, -(5 * A)), x, 8 * A) * x - 4 * A;
  return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
}
template <class S>
void cubic_coeffs(S c[4], S t, Fusion fused) {
  const S A = -0.75;
  const S x1 = t;
  c[0] = cubic2<S>(x1 + 1.0, A, fused);
  c[1] = cubic1<S>(x1, A, fused);
  const S x2 = 1.0 - t;
  c[2] = cubic1<S>(x2, A, fused);
  c[3] = cubic2<S>(x2 + 1.0, A, fused);
}

// The antialias filters (Pillow's): triangle, Keys cubic with a = -0.5, Lanczos-3.
template <class S>
S filter_linear(S x) {
  x = std::abs(x);
  if (x < 1.0) return 1.0 - x;
  return 0.0;
}
template <class S>
S filter_cubic(S x) {
  constexpr S a = -0.5;
  x = std::abs(x);
  if (x < 1.0) return cubic1(x, a, kAll);
  if (x < 2.0) return cubic2(x, a, kAll);
  return 0.0;
}
double filter_cubic075(double x) {  // Keys with a = -0.75 (torch's uint8 bicubic without antialias)
  constexpr double a = -0.75;
  x = std::abs(x);
  if (x < 1.0) return cubic1(x, a, kAll);
  if (x < 2.0) return cubic2(x, a, kAll);
  return 0.0;
}
template <class S>
S sinc(S x) {
  if (x == 0.0) return 1.0;
  x = x * static_cast<S>(M_PI);
  return std::sin(x) / x;
}
// (float32 lanczos weights differ from torch 2.13's in the last bit now and then: its float
// arithmetic here is not known; float64 and the other filters are exact)
template <class S>
S filter_lanczos(S x) {
  if (-3.0 <= x && x < 3.0) return sinc(x) * sinc(x / 3);
  return 0.0;
}

// The taps of one axis: output o reads K inputs, idx[o * K + k] (already times the axis stride in
// the plane) with weight w[o * K + k]; the antialiased modes use only the first cnt[o] of them.
template <class T>
struct Taps {
  int K = 1;
  std::vector<int64_t> idx, cnt;
  std::vector<T> w;
};

// T: the weights' type (the tensor's); nearest's arithmetic is float unless T is double. `backward`:
// the tables of torch's backward kernels (nearest_idx; the unfused bicubic coefficients).
template <class T>
Taps<T> make_taps(const ResizeGeom& g, int ax, int64_t stride, bool backward) {
  Taps<T> t;
  const int64_t in = g.in[ax], out = g.out[ax];
  const std::optional<double>& s = g.scale[ax];
  auto resize = [&](int K) {
    t.K = K;
    t.idx.assign(out * K, 0);
    t.w.assign(out * K, T(0));
  };
  if (g.nd + ax < 3) {  // a padding axis (size 1 both sides)
    resize(1);
    t.w[0] = T(1);
    t.cnt.assign(1, 1);
    return t;
  }
  switch (g.mode) {
    case kResizeNearest:
    case kResizeNearestExact: {
      resize(1);
      const bool exact = g.mode == kResizeNearestExact;
      const T scale = scales_value<T>(s, in, out);
      for (int64_t o = 0; o < out; ++o) {
        int64_t i;
        if (backward || g.cl) i = exact ? nearest_exact_idx(o, in, out, s) : nearest_idx(o, in, out, s);
        else if (exact) i = std::min(floor_f((double)source_index<T>(scale, o, false, false, true) + 0.5), in - 1);
        else i = std::min(floor_f(source_index<T>(scale, o, true, false, true)), in - 1);
        t.idx[o] = i * stride;
        t.w[o] = T(1);
      }
      break;
    }
    case kResizeLinear: {
      resize(2);
      const T scale = pixel_scale<T>(in, out, g.align, s);
      for (int64_t o = 0; o < out; ++o) {
        int64_t i0, i1;
        T l0, l1;
        if (out == in) {
          i0 = i1 = o, l0 = T(1), l1 = T(0);
        } else {
          guard_index(source_index<T>(scale, o, g.align, false, true), in, i0, l1);
          i1 = i0 + (i0 < in - 1 ? 1 : 0);
          l0 = T(1) - l1;
        }
        t.idx[2 * o] = i0 * stride, t.w[2 * o] = l0;
        t.idx[2 * o + 1] = i1 * stride, t.w[2 * o + 1] = l1;
      }
      break;
    }
    case kResizeCubic: {
      resize(4);
      const bool fused = !backward;  // torch's bicubic backward is built without FMA (Note [Resize FMA])
      const T scale = pixel_scale<T>(in, out, g.align, s);
      for (int64_t o = 0; o < out; ++o) {
        int64_t i;
        T lambda, c[4];
        guard_index(source_index<T>(scale, o, g.align, true, fused), in, i, lambda);
        cubic_coeffs<T>(c, lambda, fused ? kInner : kPlain);
        for (int j = 0; j < 4; ++j) {
          t.idx[4 * o + j] = std::clamp<int64_t>(i + j - 1, 0, in - 1) * stride;
          t.w[4 * o + j] = c[j];
        }
      }
      break;
    }
    default: {  // antialiased: a window of the filter's support, stretched by the scale when downsampling
      const int interp = g.mode == kResizeAaLinear ? 2 : g.mode == kResizeAaCubic ? 4 : 6;
      T (*filter)(T) = g.mode == kResizeAaLinear  ? &filter_linear<T>
                       : g.mode == kResizeAaCubic ? &filter_cubic<T>
                                                  : &filter_lanczos<T>;
      const T scale = pixel_scale<T>(in, out, g.align, s);
      const T support = (scale >= 1.0) ? (interp * 0.5) * scale : interp * 0.5;
      resize((int)std::ceil(support) * 2 + 1);
      t.cnt.assign(out, 0);
      const int64_t K = t.K;
      for (int64_t o = 0; o < out; ++o) {
        const T center = scale * (o + 0.5);
        const T invscale = (scale >= 1.0) ? 1.0 / scale : 1.0;
        const int64_t xmin = std::max(static_cast<int64_t>(center - support + 0.5), static_cast<int64_t>(0));
        const int64_t xsize =
            std::clamp<int64_t>(std::min(static_cast<int64_t>(center + support + 0.5), in) - xmin, 0, K);
        T* w = t.w.data() + o * K;
        T total = 0.0;
        for (int64_t j = 0; j < xsize; ++j) {
          w[j] = filter((j + xmin - center + 0.5) * invscale);
          total += w[j];
        }
        if (total != 0.0)
          for (int64_t j = 0; j < xsize; ++j) w[j] /= total;
        for (int64_t j = 0; j < K; ++j) t.idx[o * K + j] = std::min(xmin + j, in - 1) * stride;
        t.cnt[o] = xsize;
      }
    }
  }
  return t;
}

int resize_threads(int64_t planes, int64_t work) {
  return (int)std::clamp<int64_t>(work / (1 << 16), 1, std::min<int64_t>(planes, get_num_threads()));
}

// ---- nearest: a gather, any element type of that size; S: the index arithmetic's type
template <class E, class S>
void nearest_kernel(const ResizeGeom& g, int64_t planes, const E* x, E* y) {
  const Taps<S> t0 = make_taps<S>(g, 0, g.in[1] * g.in[2], false), t1 = make_taps<S>(g, 1, g.in[2], false),
                t2 = make_taps<S>(g, 2, 1, false);
  const int64_t in_n = g.in_n(), out_n = g.out_n(), O0 = g.out[0], O1 = g.out[1], O2 = g.out[2];
  const int64_t *i0 = t0.idx.data(), *i1 = t1.idx.data(), *i2 = t2.idx.data();
  parallel_for(planes, resize_threads(planes, planes * out_n), 1, [=](int64_t lo, int64_t hi) {
    for (int64_t pl = lo; pl < hi; ++pl) {
      const E* __restrict src = x + pl * in_n;
      E* __restrict dst = y + pl * out_n;
      for (int64_t a = 0; a < O0; ++a)
        for (int64_t b = 0; b < O1; ++b, dst += O2) {
          const E* row = src + i0[a] + i1[b];
          for (int64_t c = 0; c < O2; ++c) dst[c] = row[i2[c]];
        }
    }
  });
}

// ---- linear and cubic: out = sum_a w0[a] * (sum_b w1[b] * (sum_c w2[c] * x[a, b, c])), nested as
// torch's general kernel, each sum fused as torch's build does: fma(t0, w0, t1 * w1), then fma(t, w, sum);
// `product`: torch's channels-last kernel, one sum over the taps of x times the product of the
// weights. A padding axis (one tap) is skipped.
template <class T>
struct InterpJob {
  const Taps<T>* t[3];
  const T* x;
  T* y;
  int64_t in_n, out_n, O[3];
  bool product;
  int64_t C, vec_width;  // channels; torch's vector width (its AVX2 kernels: 32 bytes)
};

// acc = v (step 0), fma(acc, w0, v * w) (step 1: acc holds the first tap's unweighted sum), fma(v, w, acc)
template <class T>
EMBER_INLINE void combine_row(const T* __restrict v, int64_t n, T* __restrict acc, int step, T w0, T w) {
  if (step == 0) std::copy(v, v + n, acc);
  else if (step == 1)
    for (int64_t i = 0; i < n; ++i) acc[i] = std::fma(acc[i], w0, v[i] * w);
  else
    for (int64_t i = 0; i < n; ++i) acc[i] = std::fma(v[i], w, acc[i]);
}
// the K-tap sums along the width of one input row, combined into acc as combine_row does
template <class T, int K>
EMBER_INLINE void width_row(const T* __restrict row, const int64_t* __restrict ix, const T* __restrict wc, int64_t n,
                            T* __restrict acc, int step, T w0, T w) {
  auto sum = [&](int64_t c0) {
    const int64_t* i = ix + c0 * K;
    const T* wt = wc + c0 * K;
    T v = std::fma(row[i[0]], wt[0], row[i[1]] * wt[1]);
    for (int c = 2; c < K; ++c) v = std::fma(row[i[c]], wt[c], v);
    return v;
  };
  if (step == 0)
    for (int64_t c0 = 0; c0 < n; ++c0) acc[c0] = sum(c0);
  else if (step == 1)
    for (int64_t c0 = 0; c0 < n; ++c0) acc[c0] = std::fma(acc[c0], w0, sum(c0) * w);
  else
    for (int64_t c0 = 0; c0 < n; ++c0) acc[c0] = std::fma(sum(c0), w, acc[c0]);
}

template <class T>
EMBER_INLINE void interp_planes(const InterpJob<T>& j, int64_t lo, int64_t hi) {
  const Taps<T>&t0 = *j.t[0], &t1 = *j.t[1], &t2 = *j.t[2];
  const int K0 = t0.K, K1 = t1.K, K2 = t2.K;
  const int64_t O0 = j.O[0], O1 = j.O[1], O2 = j.O[2];
  std::vector<T> mid(O2);
  for (int64_t pl = lo; pl < hi; ++pl) {
    const T* __restrict src = j.x + pl * j.in_n;
    T* __restrict dst = j.y + pl * j.out_n;
    for (int64_t a0 = 0; a0 < O0; ++a0)
      for (int64_t b0 = 0; b0 < O1; ++b0, dst += O2) {
        if (j.product) {
          // torch: x_k times the product of the tap weights, summed over the (up to 8) taps; its
          // vectorized channels, right to left, fma(x_0, w_0, ... fma(x_n-1, w_n-1, x_n-2 * w_n-2)),
          // the others left to right, fma(x_n-1, w_n-1, ... fma(x_0, w_0, x_1 * w_1))
          const int64_t ch = pl % j.C;
          const bool vec = ch < j.C - j.C % j.vec_width;
          for (int64_t c0 = 0; c0 < O2; ++c0) {
            T xs[8] = {}, ws[8] = {};
            int n = 0;
            for (int a = 0; a < K0; ++a)
              for (int b = 0; b < K1; ++b) {
                const T* row = src + t0.idx[a0 * K0 + a] + t1.idx[b0 * K1 + b];
                const T wab = t0.w[a0 * K0 + a] * t1.w[b0 * K1 + b];
                for (int c = 0; c < K2; ++c, ++n) xs[n] = row[t2.idx[c0 * K2 + c]], ws[n] = wab * t2.w[c0 * K2 + c];
              }
            T acc;
            if (vec) {
              acc = std::fma(xs[n - 1], ws[n - 1], xs[n - 2] * ws[n - 2]);
              for (int k = n - 3; k >= 0; --k) acc = std::fma(xs[k], ws[k], acc);
            } else {
              acc = std::fma(xs[0], ws[0], xs[1] * ws[1]);
              for (int k = 2; k < n; ++k) acc = std::fma(xs[k], ws[k], acc);
            }
            dst[c0] = acc;
          }
          continue;
        }
        // the width sums of the rows of each (a, b) tap, combined over b into `mid` (dst itself when
        // there is no depth axis), then over a into dst
        T* m = K0 == 1 ? dst : mid.data();
        for (int a = 0; a < K0; ++a) {
          for (int b = 0; b < K1; ++b) {
            const T* row = src + t0.idx[a0 * K0 + a] + t1.idx[b0 * K1 + b];
            const int step = K1 == 1 ? 0 : b < 2 ? b : 2;
            const T w0 = t1.w[b0 * K1], w = t1.w[b0 * K1 + b];
            if (K2 == 2) width_row<T, 2>(row, t2.idx.data(), t2.w.data(), O2, m, step, w0, w);
            else width_row<T, 4>(row, t2.idx.data(), t2.w.data(), O2, m, step, w0, w);
          }
          if (K0 > 1) combine_row<T>(m, O2, dst, a < 2 ? a : 2, t0.w[a0 * K0], t0.w[a0 * K0 + a]);
        }
      }
  }
}
EMBER_CLONES void interp_planes_any(const InterpJob<float>& j, int64_t lo, int64_t hi) {
  interp_planes<float>(j, lo, hi);
}
EMBER_CLONES void interp_planes_any(const InterpJob<double>& j, int64_t lo, int64_t hi) {
  interp_planes<double>(j, lo, hi);
}

template <class T>
void interp_kernel(const ResizeGeom& g, int64_t planes, int64_t C, const T* x, T* y) {
  const Taps<T> t0 = make_taps<T>(g, 0, g.in[1] * g.in[2], false), t1 = make_taps<T>(g, 1, g.in[2], false),
                t2 = make_taps<T>(g, 2, 1, false);
  InterpJob<T> j{{&t0, &t1, &t2}, x, y, g.in_n(), g.out_n(), {g.out[0], g.out[1], g.out[2]}, false, 1, 1};
  j.product = g.cl && g.mode == kResizeLinear;
  j.C = std::max<int64_t>(C, 1);
  j.vec_width = 32 / (int64_t)sizeof(T);
  const int64_t work = planes * g.out_n() * t0.K * t1.K * t2.K;
  parallel_for(planes, resize_threads(planes, work), 1, [&](int64_t lo, int64_t hi) { interp_planes_any(j, lo, hi); });
}

// ---- antialiased: one pass per resized axis (the last first, as torch), each a weighted window
// sum: x viewed as [outer, in, inner] -> y [outer, out, inner].
template <class T>
struct AaJob {
  const Taps<T>* t;
  const T* x;
  T* y;
  int64_t in, out, inner;
};

template <class T>
EMBER_INLINE void aa_rows(const AaJob<T>& j, int64_t lo, int64_t hi) {
  const Taps<T>& t = *j.t;
  const int64_t K = t.K, in = j.in, out = j.out, inner = j.inner;
  for (int64_t a = lo; a < hi; ++a) {
    const T* src = j.x + a * in * inner;
    T* dst = j.y + a * out * inner;
    for (int64_t o = 0; o < out; ++o, dst += inner) {
      const int64_t n = t.cnt[o];
      const T* w = t.w.data() + o * K;
      const T* first = src + t.idx[o * K] * inner;  // the window's first input (plain indices here)
      if (n == 0) {
        std::fill(dst, dst + inner, T(0));
        continue;
      }
      // torch's build multiplies `unroll` taps at a time and adds them in order, the rest fused
      constexpr int64_t unroll = 16 / sizeof(T);
      if (inner == 1) {
        T v = first[0] * w[0];
        int64_t k = 1;
        for (; k + unroll <= n; k += unroll)
          for (int64_t u = 0; u < unroll; ++u) v = v + first[k + u] * w[k + u];
        for (; k < n; ++k) v = std::fma(first[k], w[k], v);
        dst[0] = v;
        continue;
      }
      for (int64_t b = 0; b < inner; ++b) dst[b] = first[b] * w[0];
      int64_t k = 1;
      for (; k + unroll <= n; k += unroll)
        for (int64_t u = 0; u < unroll; ++u) {
          const T* row = first + (k + u) * inner;
          const T wk = w[k + u];
          for (int64_t b = 0; b < inner; ++b) dst[b] = dst[b] + row[b] * wk;
        }
      for (; k < n; ++k) {
        const T* row = first + k * inner;
        const T wk = w[k];
        for (int64_t b = 0; b < inner; ++b) dst[b] = std::fma(row[b], wk, dst[b]);
      }
    }
  }
}
EMBER_CLONES void aa_rows_any(const AaJob<float>& j, int64_t lo, int64_t hi) { aa_rows<float>(j, lo, hi); }
EMBER_CLONES void aa_rows_any(const AaJob<double>& j, int64_t lo, int64_t hi) { aa_rows<double>(j, lo, hi); }

// The result of the per-axis passes: a fresh tensor even when no axis was resized (cur is x).
template <class T>
Tensor passes_result(const Tensor& cur, const Tensor& x, const Shape& out_shape) {
  if (cur.get() != x.get()) return cur;
  Tensor y = empty(out_shape, x->dtype);
  if (y->numel()) std::copy(x->data<T>(), x->data<T>() + x->numel(), y->data<T>());
  return y;
}

template <class T>
Tensor aa_forward(const ResizeGeom& g, const Tensor& x, const Shape& out_shape) {
  // torch copies when nothing changes size, and skips each axis that keeps its size
  Tensor cur = x;
  Shape shape = x->shape;
  const int off = 3 - g.nd;
  for (int ax = 2; ax >= off; --ax) {
    if (g.in[ax] == g.out[ax]) continue;
    const Taps<T> t = make_taps<T>(g, ax, 1, false);
    int64_t inner = 1;
    for (int k = ax + 1; k < 3; ++k) inner *= shape[2 + k - off];
    const int64_t outer = cur->numel() / std::max<int64_t>(g.in[ax] * inner, 1);
    shape[2 + ax - off] = g.out[ax];
    Tensor nxt = empty(shape, x->dtype);
    AaJob<T> j{&t, cur->data<T>(), nxt->data<T>(), g.in[ax], g.out[ax], inner};
    if (nxt->numel())
      parallel_for(outer, resize_threads(outer, nxt->numel() * t.K), 1,
                   [&](int64_t lo, int64_t hi) { aa_rows_any(j, lo, hi); });
    cur = nxt;
  }
  return passes_result<T>(cur, x, out_shape);
}

// ---- uint8 bilinear / bicubic (antialiased or not): torch's integer path, one pass per resized
// axis as the antialiased float path. The weights are computed in double, then scaled by 2^prec
// (the largest precision that keeps them in int16) and rounded; a pass sums t * w in int32 from
// 2^(prec-1) and keeps (sum >> prec) clamped to [0, 255].
struct IntTaps {
  int64_t K = 1;
  unsigned prec = 0;
  std::vector<int64_t> first, cnt;  // the window of each output
  std::vector<int32_t> w;           // out * K
};

IntTaps int16_taps(const ResizeGeom& g, int ax) {
  const int64_t in = g.in[ax], out = g.out[ax];
  IntTaps r;
  std::vector<double> wd;
  double wt_max = 0.0;
  if (g.mode >= kResizeAaLinear) {
    const Taps<double> t = make_taps<double>(g, ax, 1, false);
    r.K = t.K, r.cnt = t.cnt, wd = t.w;
    r.first.resize(out);
    for (int64_t o = 0; o < out; ++o) {
      r.first[o] = t.idx[o * t.K];
      double total = 0.0;  // torch's maximum: over the normalised weights of windows with a nonzero sum
      for (int64_t j = 0; j < t.cnt[o]; ++j) total += wd[o * t.K + j];
      if (total != 0.0)
        for (int64_t j = 0; j < t.cnt[o]; ++j) wt_max = std::max(wt_max, wd[o * t.K + j]);
    }
  } else {
    // not antialiased: the taps of the float path, those outside the input folded onto its border taps
    const bool cubic = g.mode == kResizeCubic;
    const int64_t K = cubic ? 4 : 2, support = K / 2;
    r.K = K;
    r.first.resize(out), r.cnt.resize(out), wd.assign(out * K, 0.0);
    const double scale = pixel_scale<double>(in, out, g.align, g.scale[ax]);
    for (int64_t o = 0; o < out; ++o) {
      int64_t i;
      double lambda;
      guard_index(source_index<double>(scale, o, g.align, cubic, true), in, i, lambda);
      const int64_t lo = i - support + 1, hi = i + support + 1;
      r.first[o] = std::max<int64_t>(lo, 0);
      r.cnt[o] = std::clamp<int64_t>(std::min(hi, in) - r.first[o], 0, K);
      double* w = wd.data() + o * K;
      int64_t at = 0;
      for (int64_t j = 0; j < K; ++j) {
        const double arg = static_cast<double>(j + 1 - support) - lambda;
        const double v = cubic ? filter_cubic075(arg) : filter_linear<double>(arg);
        if (lo + j <= 0) at = 0;
        else if (lo + j >= in - 1) at = r.cnt[o] - 1;
        w[at] += v;
        wt_max = std::max(wt_max, w[at]);
        ++at;
      }
    }
  }
  for (r.prec = 0; r.prec < 22; ++r.prec) {
    const int next = (int)(0.5 + wt_max * (1 << (r.prec + 1)));
    if (next >= (1 << 15)) break;
  }
  r.w.resize(wd.size());
  for (size_t k = 0; k < wd.size(); ++k) {
    const double v = wd[k] * (1 << r.prec);
    r.w[k] = (int16_t)(v < 0 ? (int)(-0.5 + v) : (int)(0.5 + v));
  }
  return r;
}

void uint8_pass(const IntTaps& t, int64_t outer, int64_t in, int64_t out, int64_t inner, const uint8_t* x, uint8_t* y) {
  parallel_for(outer, resize_threads(outer, outer * out * inner * t.K), 1, [&](int64_t lo, int64_t hi) {
    for (int64_t a = lo; a < hi; ++a) {
      const uint8_t* src = x + a * in * inner;
      uint8_t* dst = y + a * out * inner;
      for (int64_t o = 0; o < out; ++o, dst += inner) {
        const uint8_t* first = src + t.first[o] * inner;
        const int32_t* w = t.w.data() + o * t.K;
        for (int64_t b = 0; b < inner; ++b) {
          int32_t acc = 1 << (t.prec - 1);
          for (int64_t k = 0; k < t.cnt[o]; ++k) acc += (int32_t)first[k * inner + b] * w[k];
          dst[b] = (uint8_t)std::clamp(acc >> t.prec, 0, 255);
        }
      }
    }
  });
}

Tensor uint8_forward(const ResizeGeom& g, const Tensor& x, const Shape& out_shape) {
  Tensor cur = x;
  Shape shape = x->shape;
  for (int ax = 2; ax >= 1; --ax) {  // 2-D only: the width, then the height
    if (g.in[ax] == g.out[ax]) continue;
    const IntTaps t = int16_taps(g, ax);
    const int64_t inner = ax == 2 ? 1 : shape[3];
    const int64_t outer = cur->numel() / std::max<int64_t>(g.in[ax] * inner, 1);
    shape[ax + 1] = g.out[ax];
    Tensor nxt = empty(shape, x->dtype);
    if (nxt->numel()) uint8_pass(t, outer, g.in[ax], g.out[ax], inner, cur->data<uint8_t>(), nxt->data<uint8_t>());
    cur = nxt;
  }
  return passes_result<uint8_t>(cur, x, out_shape);
}

// ---- backward: the adjoint scatter, grad_in[taps of o] += weight * grad_out[o], in torch's order
// and fusions (Note [Resize FMA]); planes split over the pool, each plane's scatter on one thread.
template <class T>
struct BackJob {
  const Taps<T>* t[3];
  const T* go;
  T* gi;
  int64_t in_n, out_n, O[3];
  int mode;
};

template <class T>
EMBER_INLINE void backward_planes(const BackJob<T>& j, int64_t lo, int64_t hi) {
  const Taps<T>&t0 = *j.t[0], &t1 = *j.t[1], &t2 = *j.t[2];
  const int K0 = t0.K, K1 = t1.K, K2 = t2.K;
  const int64_t O0 = j.O[0], O1 = j.O[1], O2 = j.O[2];
  for (int64_t pl = lo; pl < hi; ++pl) {
    const T* __restrict src = j.go + pl * j.out_n;
    T* __restrict dst = j.gi + pl * j.in_n;
    for (int64_t a0 = 0; a0 < O0; ++a0)
      for (int64_t b0 = 0; b0 < O1; ++b0, src += O2) {
        const int64_t *ia = &t0.idx[a0 * K0], *ib = &t1.idx[b0 * K1];
        const T *wa = &t0.w[a0 * K0], *wb = &t1.w[b0 * K1];
        if (j.mode <= kResizeNearestExact) {
          T* row = dst + ia[0] + ib[0];
          const int64_t* ic = t2.idx.data();
          for (int64_t c0 = 0; c0 < O2; ++c0) row[ic[c0]] += src[c0];
        } else if (j.mode == kResizeCubic) {  // torch: x taps outer, grad * wy * wx, unfused
          for (int64_t c0 = 0; c0 < O2; ++c0) {
            const int64_t* ic = &t2.idx[c0 * K2];
            const T* wc = &t2.w[c0 * K2];
            for (int c = 0; c < K2; ++c)
              for (int b = 0; b < K1; ++b) dst[ib[b] + ic[c]] += src[c0] * wb[b] * wc[c];
          }
        } else if (j.mode >= kResizeAaLinear) {  // 2-D: fma(wx * wy, grad, .) over each window
          const int64_t nb = t1.cnt[b0];
          for (int64_t c0 = 0; c0 < O2; ++c0) {
            const int64_t* ic = &t2.idx[c0 * K2];
            const T* wc = &t2.w[c0 * K2];
            const int64_t nc = t2.cnt[c0];
            for (int64_t b = 0; b < nb; ++b) {
              T* row = dst + ib[b];
              for (int64_t c = 0; c < nc; ++c) row[ic[c]] = std::fma(wc[c] * wb[b], src[c0], row[ic[c]]);
            }
          }
        } else {  // linear: fma(w0 * w1 * w2, grad, .), taps in order (a padding axis's weight is 1: exact)
          for (int64_t c0 = 0; c0 < O2; ++c0) {
            const int64_t* ic = &t2.idx[c0 * K2];
            const T* wc = &t2.w[c0 * K2];
            for (int a = 0; a < K0; ++a)
              for (int b = 0; b < K1; ++b) {
                T* row = dst + ia[a] + ib[b];
                const T wab = wa[a] * wb[b];
                for (int c = 0; c < K2; ++c) row[ic[c]] = std::fma(wab * wc[c], src[c0], row[ic[c]]);
              }
          }
        }
      }
  }
}
EMBER_CLONES void backward_planes_any(const BackJob<float>& j, int64_t lo, int64_t hi) {
  backward_planes<float>(j, lo, hi);
}
EMBER_CLONES void backward_planes_any(const BackJob<double>& j, int64_t lo, int64_t hi) {
  backward_planes<double>(j, lo, hi);
}

template <class T>
void resize_backward_kernel(const ResizeGeom& g, int64_t planes, const T* go, T* gi) {
  const int64_t in_n = g.in_n(), out_n = g.out_n();
  if (g.mode == kResizeCubic && in_n == out_n && g.in[1] == g.out[1] && g.in[2] == g.out[2]) {
    // torch's bicubic backward copies when no size changes, whatever the scales (its forward does not)
    std::copy(go, go + planes * out_n, gi);
    return;
  }
  const Taps<T> t0 = make_taps<T>(g, 0, g.in[1] * g.in[2], true), t1 = make_taps<T>(g, 1, g.in[2], true),
                t2 = make_taps<T>(g, 2, 1, true);
  const BackJob<T> j{{&t0, &t1, &t2}, go, gi, in_n, out_n, {g.out[0], g.out[1], g.out[2]}, g.mode};
  const int64_t work = planes * out_n * t0.K * t1.K * t2.K;
  parallel_for(planes, resize_threads(planes, work), 1,
               [&](int64_t lo, int64_t hi) { backward_planes_any(j, lo, hi); });
}

const char* resize_node_name(int mode, int nd) {
  static const char* names[][3] = {
      {"UpsampleNearest1DBackward0", "UpsampleNearest2DBackward0", "UpsampleNearest3DBackward0"},
      {"UpsampleNearestExact1DBackward0", "UpsampleNearestExact2DBackward0", "UpsampleNearestExact3DBackward0"},
      {"UpsampleLinear1DBackward0", "UpsampleBilinear2DBackward0", "UpsampleTrilinear3DBackward0"},
      {"", "UpsampleBicubic2DBackward0", ""},
      {"", "UpsampleBilinear2DAaBackward0", ""},
      {"", "UpsampleBicubic2DAaBackward0", ""},
      {"", "UpsampleLanczos2DAaBackward0", ""}};
  return names[mode][nd - 1];
}

struct ResizeBackward : Node {
  ResizeGeom g;
  Shape in_shape;
  std::vector<Tensor> apply(std::vector<Tensor>& gr) override {
    Tensor go = contiguous(gr[0]);
    const DType dt = go->dtype;
    if (is_storage_only(dt)) go = to_compute(go);
    Tensor gi = zeros(in_shape, go->dtype);
    const int64_t planes = g.in_n() ? gi->numel() / g.in_n() : 0;
    if (planes) {
      EMBER_DISPATCH_FLOAT(go->dtype, "upsample_backward", T,
                           { resize_backward_kernel<T>(g, planes, go->data<T>(), gi->data<T>()); });
    }
    return {is_storage_only(dt) ? to_dtype(gi, dt) : gi};
  }
  std::string name() const override { return resize_node_name(g.mode, g.nd); }
};

std::string sizes_msg(const ResizeGeom& g) {
  static const char* axis[] = {"D", "H", "W"};
  std::string in = "(", out = "(";
  for (int i = 3 - g.nd; i < 3; ++i) {
    const std::string sep = i > 3 - g.nd ? ", " : "";
    in += sep + axis[i] + ": " + std::to_string(g.in[i]);
    out += sep + axis[i] + ": " + std::to_string(g.out[i]);
  }
  return "input " + in + (g.nd == 1 ? ") and output " : ") output ") + out + ")";
}

// torch's is_contiguous(channels_last[_3d]): dims of size 1 are skipped
bool channels_last_contiguous(const Tensor& x) {
  static const int order4[] = {1, 3, 2, 0}, order5[] = {1, 4, 3, 2, 0};
  const int nd = (int)x->dim();
  if (nd != 4 && nd != 5) return false;
  int64_t expected = 1;
  for (int k = 0; k < nd; ++k) {
    const int d = nd == 4 ? order4[k] : order5[k];
    if (x->shape[d] == 1) continue;
    if (x->strides[d] != expected) return false;
    expected *= x->shape[d];
  }
  return true;
}

// The kernel name in torch's "not implemented for" message of a dtype it has no kernel for.
const char* kernel_name(const ResizeGeom& g) {
  switch (g.mode) {
    case kResizeNearest:
    case kResizeNearestExact:
      return g.cl ? (g.nd == 2 ? "upsample_nearest2d_channels_last" : "upsample_nearest3d_channels_last")
                  : "compute_indices_weights_nearest";
    case kResizeLinear:
      return g.cl ? (g.nd == 2 ? "upsample_bilinear2d_channels_last" : "upsample_trilinear3d_channels_last")
                  : "compute_indices_weights_linear";
    case kResizeCubic: return "compute_indices_weights_cubic";
    default: return "compute_index_ranges_weights";
  }
}

}  // namespace

Tensor upsample(const Tensor& x_, int mode, const std::vector<int64_t>& size, const std::vector<double>& scales,
                bool align_corners) {
  const int64_t dim = x_->dim();
  if (dim < 3 || dim > 5)
    throw std::runtime_error("upsample: expected a 3-D, 4-D or 5-D input, got " + std::to_string(dim) + "-D");
  if (mode < kResizeNearest || mode > kResizeAaLanczos)
    throw ValueError("upsample: unknown mode " + std::to_string(mode));
  ResizeGeom g;
  g.nd = (int)dim - 2;
  g.mode = mode;
  g.align = align_corners;
  const int off = 3 - g.nd;
  if (size.empty() == scales.empty())
    throw std::runtime_error("Must specify exactly one of output_size and scale_factors");
  if ((size.empty() ? scales.size() : size.size()) != (size_t)g.nd)
    throw std::runtime_error("upsample: expected " + std::to_string(g.nd) + " output sizes or scale factors");
  for (int i = 0; i < g.nd; ++i) {
    g.in[off + i] = x_->shape[2 + i];
    if (!size.empty()) {
      g.out[off + i] = size[i];
      continue;
    }
    const double o = static_cast<double>(g.in[off + i]) * scales[i];
    if (!(o >= -9223372036854775808.0 && o < 9223372036854775808.0))  // c10::checked_convert (NaN too)
      throw std::runtime_error("value cannot be converted to type int64_t without overflow");
    g.out[off + i] = static_cast<int64_t>(o);
    g.scale[off + i] = scales[i];
  }
  for (int i = off; i < 3; ++i)
    if (g.in[i] <= 0 || g.out[i] <= 0)
      throw std::runtime_error("Input and output sizes should be greater than 0, but got " + sizes_msg(g));
  int64_t rest = 1;
  for (int i = 1; i < dim; ++i) rest *= x_->shape[i];
  if (x_->numel() == 0 && rest == 0)
    throw std::runtime_error("Non-empty " + std::to_string(dim) +
                             "D data tensor expected but got a tensor with sizes " + shape_str(x_->shape));
  // torch's kernel choice (Note [Resize source index]); 2-D bilinear also takes the channels-last
  // kernel on one thread for 3 channels
  const bool cl_layout = channels_last_contiguous(x_) && x_->shape[1] > 3;
  if (g.nd == 2 && mode <= kResizeLinear)
    g.cl = cl_layout || g.out[1] + g.out[2] <= 128 ||
           (mode == kResizeLinear && get_num_threads() == 1 && x_->shape[1] == 3);
  if (g.nd == 3 && (mode <= kResizeLinear)) g.cl = cl_layout;
  const DType dt = x_->dtype;
  const bool nearest = mode <= kResizeNearestExact;
  const bool uint8_interp = dt == DType::UInt8 && g.nd == 2 && mode >= kResizeLinear;  // bilinear, bicubic, antialiased
  const bool ok = dt == DType::Float32 || dt == DType::Float64 ||
                  (mode < kResizeAaLinear && (dt == DType::Float16 || dt == DType::BFloat16)) ||
                  (nearest && dt == DType::UInt8) || uint8_interp;
  if (!ok) not_implemented_for(kernel_name(g), dt);
  if (is_storage_only(dt) && dt != DType::UInt8)
    return from_compute(upsample(to_compute(x_), mode, size, scales, align_corners), {&x_});

  Tensor x = contiguous(x_);
  Shape os(x->shape.begin(), x->shape.begin() + 2);
  for (int i = off; i < 3; ++i) os.push_back(g.out[i]);
  const int64_t planes = x->shape[0] * x->shape[1];
  Tensor y;
  if (uint8_interp) {
    y = uint8_forward(g, x, os);
  } else if (mode >= kResizeAaLinear) {
    EMBER_DISPATCH_FLOAT(dt, "upsample", T, { y = aa_forward<T>(g, x, os); });
  } else {
    y = empty(os, dt);
    if (y->numel()) {
      if (nearest) {
        if (dt == DType::Float64) nearest_kernel<double, double>(g, planes, x->data<double>(), y->data<double>());
        else if (dt == DType::Float32) nearest_kernel<float, float>(g, planes, x->data<float>(), y->data<float>());
        else nearest_kernel<uint8_t, float>(g, planes, x->data<uint8_t>(), y->data<uint8_t>());
      } else {
        EMBER_DISPATCH_FLOAT(dt, "upsample", T,
                             { interp_kernel<T>(g, planes, x->shape[1], x->data<T>(), y->data<T>()); });
      }
    }
  }
  if (any_requires_grad({&x_})) {
    auto n = make_node<ResizeBackward>({&x_});
    n->g = g;
    n->in_shape = x_->shape;
    set_history(y, n);
  }
  return y;
}

}  // namespace ember
