// Pooling over 1-3 spatial dims: max (with indices, dilation, ceil_mode), average
// (count_include_pad, divisor_override) and their adaptive forms. The input is any number of
// leading "plane" dims (batch and channels, or channels alone for an unbatched input) followed by
// the spatial dims; every plane is pooled alone, planes split over ember's pool.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "ember/autograd/node.h"
#include "ember/kernels/parallel.h"
#include "ember/kernels/simd.h"
#include "ember/ops/nn.h"
#include "ember/ops/ops.h"
#include "ember/ops/registry.h"

namespace ember {

namespace {

// Three spatial dims always (leading ones of size 1). A window along one dim is [start, end) of
// the input, clipped to it; `full` is its length before clipping to the input (for
// count_include_pad: the padded window, itself clipped to input + padding).
struct PoolGeom {
  int64_t in[3] = {1, 1, 1}, out[3] = {1, 1, 1}, k[3] = {1, 1, 1}, s[3] = {1, 1, 1}, p[3] = {0, 0, 0}, d[3] = {1, 1, 1};
  bool adaptive = false;
  int nd = 0;
  int64_t in_n() const { return in[0] * in[1] * in[2]; }
  int64_t out_n() const { return out[0] * out[1] * out[2]; }
  // window of output index o along dim i (not dilated: avg and adaptive pools)
  void window(int i, int64_t o, int64_t& start, int64_t& end, int64_t& full) const {
    if (adaptive) {
      start = (o * in[i]) / out[i];
      end = ((o + 1) * in[i] + out[i] - 1) / out[i];
      full = end - start;
      return;
    }
    start = o * s[i] - p[i];
    end = std::min(start + k[i], in[i] + p[i]);
    full = end - start;
    start = std::max<int64_t>(start, 0);
    end = std::min(end, in[i]);
  }
};

// "(4x6x6)": torch's pooling messages write sizes so
std::string sizes_x(const std::vector<int64_t>& v) {
  std::string s = "(";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "x" : "") + std::to_string(v[i]);
  return s + ")";
}

std::vector<int64_t> expand(const std::vector<int64_t>& v, int nd, const char* fn, const char* name) {
  if (v.size() == 1) return std::vector<int64_t>(nd, v[0]);
  if ((int)v.size() != nd)
    throw std::runtime_error(std::string(fn) + ": " + name + " must either be a single int, or a tuple of " +
                             std::to_string(nd) + " ints");
  return v;
}

void check_input(const Tensor& x, int nd, const char* fn) {
  if (x->dim() != nd + 1 && x->dim() != nd + 2)
    throw std::runtime_error(std::string(fn) + ": Expected " + std::to_string(nd + 1) + "D or " + std::to_string(nd + 2) +
                             "D (batch mode) tensor for input, but got input of size " + shape_str(x->shape));
  for (int i = 1; i < x->dim(); ++i)
    if (x->shape[i] == 0)
      throw std::runtime_error(std::string(fn) + ": Expected input's non-batch dimensions to have positive length, but "
                               "input has a shape of " + shape_str(x->shape) + " and non-batch dimension " +
                               std::to_string(x->shape[i]) + " has length zero!");
}

// Output size of a (dilated) sliding window, torch's pooling_output_shape.
int64_t pooled_size(int64_t in, int64_t k, int64_t pad, int64_t s, int64_t d, bool ceil) {
  const int64_t num = in + 2 * pad - d * (k - 1) - 1 + (ceil ? s - 1 : 0);
  int64_t o = (num >= 0 ? num / s : -((-num + s - 1) / s)) + 1;
  if (ceil && (o - 1) * s >= in + pad) --o;  // the last window must start inside the input or its left padding
  return o;
}

PoolGeom sliding_geom(const Tensor& x, int nd, const char* fn, std::vector<int64_t> k, std::vector<int64_t> s,
                      std::vector<int64_t> p, std::vector<int64_t> d, bool ceil, bool dilated) {
  if (k.empty()) throw std::runtime_error(std::string(fn) + ": kernel_size must either be a single int, or a tuple of " +
                                          std::to_string(nd) + " ints");
  k = expand(k, nd, fn, "kernel_size");
  s = s.empty() ? k : expand(s, nd, fn, "stride");
  p = expand(p, nd, fn, "padding");
  d = expand(d, nd, fn, "dilation");
  for (int i = 0; i < nd; ++i) {
    if (k[i] <= 0) throw std::runtime_error(std::string(fn) + ": kernel_size must be greater than zero, but got " + std::to_string(k[i]));
    if (s[i] <= 0) throw std::runtime_error(std::string(fn) + ": stride should not be zero");
    if (d[i] <= 0) throw std::runtime_error(std::string(fn) + ": dilation must be greater than zero, but got " + std::to_string(d[i]));
    if (p[i] < 0) throw std::runtime_error(std::string(fn) + ": pad must be non-negative, but got pad: " + std::to_string(p[i]));
    if (p[i] > k[i] / 2) {  // torch bounds the padding by the kernel as given, dilated or not
      if (dilated)
        throw std::runtime_error(std::string(fn) + ": pad should be at most half of effective kernel size, but got pad=" +
                                 std::to_string(p[i]) + ", kernel_size=" + std::to_string(k[i]) + " and dilation=" +
                                 std::to_string(d[i]));
      throw std::runtime_error(std::string(fn) + ": pad should be smaller than or equal to half of kernel size, but got pad=" +
                               std::to_string(p[i]) + ", kernel_size=" + std::to_string(k[i]));
    }
  }
  check_input(x, nd, fn);
  PoolGeom g;
  g.nd = nd;
  const int off = 3 - nd, lead = x->dim() - nd;
  std::vector<int64_t> ins, outs;
  for (int i = 0; i < nd; ++i) {
    g.in[off + i] = x->shape[lead + i];
    g.k[off + i] = k[i], g.s[off + i] = s[i], g.p[off + i] = p[i], g.d[off + i] = d[i];
    g.out[off + i] = pooled_size(g.in[off + i], k[i], p[i], s[i], d[i], ceil);
    ins.push_back(g.in[off + i]);
    outs.push_back(g.out[off + i]);
  }
  for (int i = 0; i < nd; ++i)
    if (outs[i] < 1) {
      const int64_t c = x->shape[lead - 1];
      throw std::runtime_error(std::string(fn) + ": Given input size: (" + std::to_string(c) + "x" + sizes_x(ins).substr(1) +
                               ". Calculated output size: (" + std::to_string(c) + "x" + sizes_x(outs).substr(1) +
                               ". Output size is too small");
    }
  return g;
}

PoolGeom adaptive_geom(const Tensor& x, int nd, const char* fn, const std::vector<int64_t>& out_size) {
  check_input(x, nd, fn);
  if ((int)out_size.size() != nd)
    throw std::runtime_error(std::string(fn) + ": output_size must be " + std::to_string(nd) + ", got " +
                             std::to_string(out_size.size()));
  PoolGeom g;
  g.nd = nd;
  g.adaptive = true;
  const int off = 3 - nd, lead = x->dim() - nd;
  for (int i = 0; i < nd; ++i) {
    if (out_size[i] < 0)
      throw std::runtime_error(std::string(fn) + ": elements of output_size must be greater than or equal to 0 but "
                               "received " + std::to_string(out_size[i]));
    g.in[off + i] = x->shape[lead + i];
    g.out[off + i] = out_size[i];
  }
  return g;
}

Shape pooled_shape(const Tensor& x, const PoolGeom& g) {
  Shape s(x->shape.begin(), x->shape.end() - g.nd);
  for (int i = 3 - g.nd; i < 3; ++i) s.push_back(g.out[i]);
  return s;
}

int pool_threads(int64_t planes, int64_t work) {
  return (int)std::clamp<int64_t>(work / (1 << 16), 1, std::min<int64_t>(planes, get_num_threads()));
}

// ---- max: the first maximum of each window (a later NaN wins, as in torch), its flat index in the plane

// The taps of every window along one dim, computed once per call: the first input index a window
// reads, how many it reads, and the step between them (the dilation).
struct Taps {
  std::vector<int64_t> first, count;
  int64_t step = 1;
};
Taps taps(const PoolGeom& g, int i) {
  Taps t;
  t.first.resize(g.out[i]);
  t.count.resize(g.out[i]);
  t.step = g.adaptive ? 1 : g.d[i];
  for (int64_t o = 0; o < g.out[i]; ++o) {
    if (g.adaptive) {
      int64_t s, e, f;
      g.window(i, o, s, e, f);
      t.first[o] = s, t.count[o] = e - s;
      continue;
    }
    const int64_t base = o * g.s[i] - g.p[i], d = g.d[i];
    const int64_t lo = base >= 0 ? 0 : (-base + d - 1) / d;
    const int64_t hi = std::min(g.k[i], g.in[i] - base <= 0 ? 0 : (g.in[i] - base + d - 1) / d);
    t.first[o] = base + lo * d;
    t.count[o] = std::max<int64_t>(hi - lo, 0);
  }
  return t;
}

// Windows that all lie inside the input, undilated (MaxPool2d(2) and the like): taps outside,
// a row of outputs inside, so the loop is over outputs, not over a window's few taps.
template <class T>
struct DenseMaxPool {
  const T* x;
  T* y;
  int64_t* idx;
  T lowest;
  int64_t in_n, out_n, O0, O1, O2, H, W, K0, K1, K2, S0, S1, S2;
  const T* x_end;  // past the last plane's input
};

template <class T>
EMBER_INLINE void dense_max_pool(const DenseMaxPool<T>& d, int64_t lo, int64_t hi) {
  const int64_t O0 = d.O0, O1 = d.O1, O2 = d.O2, H = d.H, W = d.W, K0 = d.K0, K1 = d.K1, K2 = d.K2, S0 = d.S0,
                S1 = d.S1, S2 = d.S2;  // (locals: the int64 index stores could alias the struct)
  const T lowest = d.lowest;
  for (int64_t pl = lo; pl < hi; ++pl) {
    const T* __restrict src = d.x + pl * d.in_n;
    T* __restrict dst = d.y + pl * d.out_n;
    int64_t* __restrict ix = d.idx + pl * d.out_n;
    for (int64_t od = 0; od < O0; ++od)
      for (int64_t oh = 0; oh < O1; ++oh, dst += O2, ix += O2) {
        for (int64_t ow = 0; ow < O2; ++ow) dst[ow] = lowest, ix[ow] = ((od * S0) * H + oh * S1) * W + ow * S2;
        for (int64_t a = 0; a < K0; ++a)
          for (int64_t b = 0; b < K1; ++b)
            for (int64_t c = 0; c < K2; ++c) {
              const int64_t row = ((od * S0 + a) * H + oh * S1 + b) * W + c;
              for (int64_t ow = 0; ow < O2; ++ow) {  // branch-free: random data mispredicts half the time
                const T v = src[row + ow * S2];
                const bool take = (v > dst[ow]) | (v != v);
                dst[ow] = take ? v : dst[ow];
                ix[ow] = take ? row + ow * S2 : ix[ow];
              }
            }
      }
  }
}
// t ? a : b through the bits (an integer mask), so that GCC cannot turn it into a branch: a row
// shorter than a vector (MaxPool2d(2) of a 10 x 10 map) runs as scalar code, where random data
// mispredicts every other branch (13 ns per output).
template <class T>
EMBER_INLINE T bit_select(bool t, T a, T b) {
  using U = std::conditional_t<sizeof(T) == 8, uint64_t, std::conditional_t<sizeof(T) == 4, uint32_t,
                               std::conditional_t<sizeof(T) == 2, uint16_t, uint8_t>>>;
  static_assert(sizeof(U) == sizeof(T));
  U ua, ub;
  std::memcpy(&ua, &a, sizeof a);
  std::memcpy(&ub, &b, sizeof b);
  const U mask = (U)0 - (U)t;
  const U r = (ua & mask) | (ub & (U)~mask);
  T out;
  std::memcpy(&out, &r, sizeof out);
  return out;
}

// MaxPool2d(2) (2 x 2 windows, stride 2, over the last two dims): n windows along the two rows
// from r0 (W apart), the maxima to dst and their indices (base + the tap's offset from r0) to ix,
// each chosen in torch's scan order (the first maximum; a NaN wins) with selects, so the loop
// vectorizes.
template <class T>
EMBER_INLINE void max_pool_2x2_row(const T* __restrict r0, int64_t W, int64_t n, int64_t base, T* __restrict dst,
                                   int64_t* __restrict ix) {
  const T* __restrict r1 = r0 + W;
  for (int64_t ow = 0; ow < n; ++ow) {
    const T a = r0[2 * ow], b = r0[2 * ow + 1], c = r1[2 * ow], e = r1[2 * ow + 1];
    T m = a;
    int64_t k = 2 * ow;
    bool t = (b > m) | (b != b);
    m = bit_select(t, b, m), k = bit_select(t, 2 * ow + 1, k);
    t = (c > m) | (c != c);
    m = bit_select(t, c, m), k = bit_select(t, W + 2 * ow, k);
    t = (e > m) | (e != e);
    m = bit_select(t, e, m), k = bit_select(t, W + 2 * ow + 1, k);
    dst[ow] = m;
    ix[ow] = base + k;
  }
}

template <class T>
EMBER_INLINE void max_pool_2x2(const DenseMaxPool<T>& d, int64_t lo, int64_t hi) {
  const int64_t O1 = d.O1, O2 = d.O2, W = d.W;
  for (int64_t pl = lo; pl < hi; ++pl)
    for (int64_t oh = 0; oh < O1; ++oh)
      max_pool_2x2_row(d.x + pl * d.in_n + 2 * oh * W, W, O2, 2 * oh * W, d.y + pl * d.out_n + oh * O2,
                       d.idx + pl * d.out_n + oh * O2);
}

// The same for float rows shorter than a vector (LeNet's 28 -> 14 and 10 -> 5 columns), which
// the loop above ran as scalar code (8 ns a window on the 10 x 10 maps): eight windows at a time
// in 8-lane vectors, the taps split out of two 16-value loads per row, and only the windows that
// belong to the row kept. A last group past the row's end reads on into the next row, never past
// the input (else it runs as the loop above).
typedef float PoolF8 __attribute__((vector_size(32)));
typedef float PoolF8u __attribute__((vector_size(32), aligned(4), may_alias));  // (unaligned access)
typedef int32_t PoolI8 __attribute__((vector_size(32)));
EMBER_INLINE void max_pool_2x2_f32(const DenseMaxPool<float>& d, int64_t lo, int64_t hi) {
  const int64_t O1 = d.O1, O2 = d.O2, W = d.W;
  const PoolI8 even = {0, 2, 4, 6, 8, 10, 12, 14}, odd = even + 1, one = PoolI8{} + 1;
  for (int64_t pl = lo; pl < hi; ++pl)
    for (int64_t oh = 0; oh < O1; ++oh) {
      const float* r0 = d.x + pl * d.in_n + 2 * oh * W;
      float* dst = d.y + pl * d.out_n + oh * O2;
      int64_t* ix = d.idx + pl * d.out_n + oh * O2;
      for (int64_t ow = 0; ow < O2; ow += 8) {
        const float* p = r0 + 2 * ow;
        const int64_t n = std::min<int64_t>(8, O2 - ow);
        if (n < 8 && p + W + 16 > d.x_end) {  // (one window at a time)
          max_pool_2x2_row(p, W, n, 2 * oh * W + 2 * ow, dst + ow, ix + ow);
          break;
        }
        const PoolF8 t0 = *reinterpret_cast<const PoolF8u*>(p), t1 = *reinterpret_cast<const PoolF8u*>(p + 8);
        const PoolF8 u0 = *reinterpret_cast<const PoolF8u*>(p + W), u1 = *reinterpret_cast<const PoolF8u*>(p + W + 8);
        const PoolF8 a = __builtin_shuffle(t0, t1, even), b = __builtin_shuffle(t0, t1, odd);
        const PoolF8 c = __builtin_shuffle(u0, u1, even), e = __builtin_shuffle(u0, u1, odd);
        PoolF8 m = a;
        PoolI8 k = {}, t = (b > m) | (b != b);  // k: the tap, 0 1 / 2 3
        m = t ? b : m, k = t ? one : k;
        t = (c > m) | (c != c);
        m = t ? c : m, k = t ? one + one : k;
        t = (e > m) | (e != e);
        m = t ? e : m, k = t ? one + one + one : k;
        const int64_t base = 2 * oh * W + 2 * ow;
        for (int64_t i = 0; i < n; ++i) {
          dst[ow + i] = m[i];
          ix[ow + i] = base + 2 * i + (k[i] & 1) + (k[i] >> 1) * W;
        }
      }
    }
}

template <class T>
EMBER_INLINE void dense_max_pool_any(const DenseMaxPool<T>& d, int64_t lo, int64_t hi) {
  if (d.O0 == 1 && d.K0 == 1 && d.K1 == 2 && d.K2 == 2 && d.S1 == 2 && d.S2 == 2) {
    if constexpr (std::is_same_v<T, float>)
      if (d.O2 < 16) return max_pool_2x2_f32(d, lo, hi);
    max_pool_2x2(d, lo, hi);
  } else {
    dense_max_pool(d, lo, hi);
  }
}
// (per SIMD target: Note [Run-time SIMD]; a lambda would be compiled for the default one)
EMBER_CLONES void dense_max_pool_f32(const DenseMaxPool<float>& d, int64_t lo, int64_t hi) { dense_max_pool_any(d, lo, hi); }
EMBER_CLONES void dense_max_pool_f64(const DenseMaxPool<double>& d, int64_t lo, int64_t hi) { dense_max_pool_any(d, lo, hi); }

template <class T>
void max_pool_kernel(const PoolGeom& g, int64_t planes, const T* x, T* y, int64_t* idx) {
  const int64_t in_n = g.in_n(), out_n = g.out_n();
  const Taps t0 = taps(g, 0), t1 = taps(g, 1), t2 = taps(g, 2);
  const T lowest = std::numeric_limits<T>::has_infinity ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::lowest();
  // (locals throughout: the int64 index stores could alias the tables and the geometry)
  const int64_t O0 = g.out[0], O1 = g.out[1], O2 = g.out[2], H = g.in[1], W = g.in[2];
  const int64_t st0 = t0.step, st1 = t1.step, st2 = t2.step;
  const int64_t *f0 = t0.first.data(), *n0 = t0.count.data(), *f1 = t1.first.data(), *n1 = t1.count.data();
  const int64_t *f2 = t2.first.data(), *n2 = t2.count.data();
  bool dense = !g.adaptive;
  for (int i = 0; i < 3; ++i)
    dense = dense && g.d[i] == 1 && g.p[i] == 0 && (g.out[i] - 1) * g.s[i] + g.k[i] <= g.in[i];
  if (dense) {
    const DenseMaxPool<T> d{x,    y,      idx,    lowest, in_n,   out_n,  O0,     O1,         O2,
                            H,    W,      g.k[0], g.k[1], g.k[2], g.s[0], g.s[1], g.s[2], x + planes * in_n};
    parallel_for(planes, pool_threads(planes, planes * out_n * d.K0 * d.K1 * d.K2), 1, [&](int64_t lo, int64_t hi) {
      if constexpr (std::is_same_v<T, float>) dense_max_pool_f32(d, lo, hi);
      else if constexpr (std::is_same_v<T, double>) dense_max_pool_f64(d, lo, hi);
      else dense_max_pool_any(d, lo, hi);
    });
    return;
  }
  parallel_for(planes, pool_threads(planes, planes * out_n * g.k[0] * g.k[1] * g.k[2]), 1, [=](int64_t lo, int64_t hi) {
    for (int64_t pl = lo; pl < hi; ++pl) {
      const T* __restrict src = x + pl * in_n;
      T* __restrict dst = y + pl * out_n;
      int64_t* __restrict ix = idx + pl * out_n;
      for (int64_t od = 0; od < O0; ++od)
        for (int64_t oh = 0; oh < O1; ++oh) {
          const int64_t a0 = f0[od], na = n0[od], b0 = f1[oh], nb = n1[oh];
          for (int64_t ow = 0; ow < O2; ++ow) {
            const int64_t c0 = f2[ow], nc = n2[ow];
            T best = lowest;
            int64_t bi = (a0 * H + b0) * W + c0;  // torch: the first tap
            for (int64_t a = 0; a < na; ++a)
              for (int64_t b = 0; b < nb; ++b) {
                const int64_t row = ((a0 + a * st0) * H + b0 + b * st1) * W + c0;
                for (int64_t c = 0; c < nc; ++c) {
                  const T v = src[row + c * st2];
                  const bool take = (v > best) | (v != v);
                  best = take ? v : best;
                  bi = take ? row + c * st2 : bi;
                }
              }
            *dst++ = best;
            *ix++ = bi;
          }
        }
    }
  });
}

// grad_in[plane][idx] += grad_out: the max pools' backward (a window's gradient goes to its max).
struct MaxPoolBackward : Node {
  SavedTensor indices{this};
  Shape in_shape;
  int64_t in_n;
  std::string nm;
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    Tensor ix = indices.get(*this), go = contiguous(g[0]);
    Tensor gi = zeros(in_shape, go->dtype);
    const int64_t planes = in_n ? gi->numel() / in_n : 0;
    const int64_t per = planes ? ix->numel() / planes : 0;
    const int64_t* id = ix->data<int64_t>();
    EMBER_DISPATCH_FLOAT(go->dtype, "max_pool_backward", T, {
      const T* src = go->data<T>();
      T* dst = gi->data<T>();
      for (int64_t pl = 0; pl < planes; ++pl)
        for (int64_t o = 0; o < per; ++o) {
          const int64_t j = id[pl * per + o];
          if (j >= 0) dst[pl * in_n + j] += src[pl * per + o];
        }
    });
    // create_graph: the adjoint reads each window's winner (the second derivative in x is zero)
    const int64_t n_in = in_n;
    const Shape out_shape = go->shape;
    return {linear_in_grad(gi, g[0], [ix, n_in, planes, per, out_shape](const Tensor& gg_) {
      Tensor gg = contiguous(gg_), r = zeros(out_shape, gg->dtype);
      const int64_t* id = ix->data<int64_t>();
      EMBER_DISPATCH_FLOAT(gg->dtype, "max_pool_double_backward", T, {
        const T* src = gg->data<T>();
        T* dst = r->data<T>();
        for (int64_t pl = 0; pl < planes; ++pl)
          for (int64_t o = 0; o < per; ++o)
            if (const int64_t j = id[pl * per + o]; j >= 0) dst[pl * per + o] = src[pl * n_in + j];
      });
      return r;
    }, "MaxPoolBackwardBackward")};
  }
  bool differentiable() const override { return true; }
  std::string name() const override { return nm; }
};

std::pair<Tensor, Tensor> run_max_pool(const Tensor& x_, const PoolGeom& g, const std::string& node_name) {
  Tensor x = contiguous(x_);
  const Shape os = pooled_shape(x, g);
  Tensor y = empty(os, x->dtype), idx = empty(os, DType::Int64);
  const int64_t planes = g.in_n() ? x->numel() / g.in_n() : 0;
  if (y->numel()) {
    EMBER_DISPATCH_NUMERIC(x->dtype, "max_pool", T, { max_pool_kernel<T>(g, planes, x->data<T>(), y->data<T>(), idx->data<int64_t>()); });
  }
  if (any_requires_grad({&x_})) {
    auto n = make_node<MaxPoolBackward>({&x_});
    n->indices.save(idx);
    n->in_shape = x_->shape;
    n->in_n = g.in_n();
    n->nm = node_name;
    set_history(y, n);
  }
  return {y, idx};
}

// ---- average
template <class T>
void avg_pool_kernel(const PoolGeom& g, int64_t planes, const T* x, T* y, bool count_pad, int64_t divisor, bool backward) {
  // forward: y[o] = sum(x over window) / div; backward (x is grad_out, y is grad_in, zeroed):
  // y[window] += x[o] / div
  const int64_t in_n = g.in_n(), out_n = g.out_n();
  parallel_for(planes, pool_threads(planes, planes * std::max(in_n, out_n)), 1, [&](int64_t lo, int64_t hi) {
    for (int64_t pl = lo; pl < hi; ++pl) {
      int64_t o = 0;
      for (int64_t od = 0; od < g.out[0]; ++od)
        for (int64_t oh = 0; oh < g.out[1]; ++oh)
          for (int64_t ow = 0; ow < g.out[2]; ++ow, ++o) {
            int64_t s0, e0, f0, s1, e1, f1, s2, e2, f2;
            g.window(0, od, s0, e0, f0), g.window(1, oh, s1, e1, f1), g.window(2, ow, s2, e2, f2);
            int64_t div = divisor ? divisor : count_pad ? f0 * f1 * f2 : (e0 - s0) * (e1 - s1) * (e2 - s2);
            if (backward) {
              const T v = x[pl * out_n + o];
              T* dst = y + pl * in_n;
              for (int64_t id = s0; id < e0; ++id)
                for (int64_t ih = s1; ih < e1; ++ih)
                  for (int64_t iw = s2; iw < e2; ++iw) {
                    if constexpr (std::is_integral_v<T>) dst[(id * g.in[1] + ih) * g.in[2] + iw] += v / div;
                    else dst[(id * g.in[1] + ih) * g.in[2] + iw] += v / (T)div;
                  }
              continue;
            }
            const T* src = x + pl * in_n;
            T acc = 0;
            for (int64_t id = s0; id < e0; ++id)
              for (int64_t ih = s1; ih < e1; ++ih)
                for (int64_t iw = s2; iw < e2; ++iw) acc += src[(id * g.in[1] + ih) * g.in[2] + iw];
            if (div == 0) div = 1;  // an empty adaptive window (output size 0 never reaches here)
            if constexpr (std::is_integral_v<T>) y[pl * out_n + o] = acc / div;
            else y[pl * out_n + o] = acc / (T)div;
          }
    }
  });
}

Tensor run_avg_pool(const Tensor& x_, const PoolGeom& g, bool count_pad, int64_t divisor, const std::string& node_name);

struct AvgPoolBackward : Node {
  PoolGeom g;
  Shape in_shape;
  bool count_pad;
  int64_t divisor;
  std::string nm;
  std::vector<Tensor> apply(std::vector<Tensor>& gr) override {
    Tensor go = contiguous(gr[0]);
    Tensor gi = zeros(in_shape, go->dtype);
    const int64_t planes = g.in_n() ? gi->numel() / g.in_n() : 0;
    EMBER_DISPATCH_FLOAT(go->dtype, "avg_pool_backward", T, {
      avg_pool_kernel<T>(g, planes, go->data<T>(), gi->data<T>(), count_pad, divisor, true);
    });
    // create_graph: the adjoint of the pooling's backward is the pooling itself
    const PoolGeom geom = g;
    const bool cp = count_pad;
    const int64_t dv = divisor;
    const std::string n = nm;
    return {linear_in_grad(gi, gr[0], [geom, cp, dv, n](const Tensor& gg) { return run_avg_pool(gg, geom, cp, dv, n); },
                           "AvgPoolBackwardBackward")};
  }
  bool differentiable() const override { return true; }
  std::string name() const override { return nm; }
};

Tensor run_avg_pool(const Tensor& x_, const PoolGeom& g, bool count_pad, int64_t divisor, const std::string& node_name) {
  Tensor x = contiguous(x_);
  Tensor y = empty(pooled_shape(x, g), x->dtype);
  const int64_t planes = g.in_n() ? x->numel() / g.in_n() : 0;
  if (y->numel()) {
    EMBER_DISPATCH_NUMERIC(x->dtype, "avg_pool", T, { avg_pool_kernel<T>(g, planes, x->data<T>(), y->data<T>(), count_pad, divisor, false); });
  }
  if (any_requires_grad({&x_})) {
    auto n = make_node<AvgPoolBackward>({&x_});
    n->g = g, n->in_shape = x_->shape, n->count_pad = count_pad, n->divisor = divisor, n->nm = node_name;
    set_history(y, n);
  }
  return y;
}

std::string dim_name(int nd) { return std::to_string(nd) + "D"; }

}  // namespace

std::pair<Tensor, Tensor> max_pool(const Tensor& x, int nd, const std::vector<int64_t>& k, const std::vector<int64_t>& s,
                                   const std::vector<int64_t>& p, const std::vector<int64_t>& d, bool ceil) {
  const std::string fn = "max_pool" + std::to_string(nd) + "d";
  if (any_storage({&x})) {
    auto r = max_pool(to_compute(x), nd, k, s, p, d, ceil);
    return {from_compute(r.first, {&x}), r.second};
  }
  PoolGeom g = sliding_geom(x, nd, fn.c_str(), k, s, p, d, ceil, true);
  return run_max_pool(x, g, "MaxPool" + dim_name(nd) + "WithIndicesBackward0");
}

Tensor avg_pool(const Tensor& x, int nd, const std::vector<int64_t>& k, const std::vector<int64_t>& s,
                const std::vector<int64_t>& p, bool ceil, bool count_include_pad, std::optional<int64_t> divisor) {
  const std::string fn = "avg_pool" + std::to_string(nd) + "d";
  if (any_storage({&x})) return from_compute(avg_pool(to_compute(x), nd, k, s, p, ceil, count_include_pad, divisor), {&x});
  if (divisor && *divisor == 0) throw std::runtime_error(fn + ": divisor must be not zero");
  PoolGeom g = sliding_geom(x, nd, fn.c_str(), k, s, p, {1}, ceil, false);
  return run_avg_pool(x, g, count_include_pad, divisor.value_or(0), "AvgPool" + dim_name(nd) + "Backward0");
}

Tensor adaptive_avg_pool(const Tensor& x, int nd, const std::vector<int64_t>& out_size) {
  const std::string fn = "adaptive_avg_pool" + std::to_string(nd) + "d";
  if (any_storage({&x})) return from_compute(adaptive_avg_pool(to_compute(x), nd, out_size), {&x});
  PoolGeom g = adaptive_geom(x, nd, fn.c_str(), out_size);
  return run_avg_pool(x, g, false, 0, "AdaptiveAvgPool" + dim_name(nd) + "Backward0");
}

std::pair<Tensor, Tensor> adaptive_max_pool(const Tensor& x, int nd, const std::vector<int64_t>& out_size) {
  const std::string fn = "adaptive_max_pool" + std::to_string(nd) + "d";
  if (any_storage({&x})) {
    auto r = adaptive_max_pool(to_compute(x), nd, out_size);
    return {from_compute(r.first, {&x}), r.second};
  }
  PoolGeom g = adaptive_geom(x, nd, fn.c_str(), out_size);
  return run_max_pool(x, g, "AdaptiveMaxPool" + dim_name(nd) + "Backward0");
}

EMBER_OP("max_pool1d(Tensor input, int[1] kernel_size, int[1] stride=[], int[1] padding=0, int[1] dilation=1, bool ceil_mode=False) -> Tensor",
         "function", max_pool(a.t(0), 1, a.ints(1), a.ints(2), a.ints(3), a.ints(4), a.b(5)).first);
EMBER_OP("max_pool1d_with_indices(Tensor input, int[1] kernel_size, int[1] stride=[], int[1] padding=0, int[1] dilation=1, bool ceil_mode=False) -> (Tensor, Tensor)",
         "function", max_pool(a.t(0), 1, a.ints(1), a.ints(2), a.ints(3), a.ints(4), a.b(5)));
EMBER_OP("max_pool2d(Tensor input, int[2] kernel_size, int[2] stride=[], int[2] padding=0, int[2] dilation=1, bool ceil_mode=False) -> Tensor",
         "function", max_pool(a.t(0), 2, a.ints(1), a.ints(2), a.ints(3), a.ints(4), a.b(5)).first);
EMBER_OP("max_pool3d(Tensor input, int[3] kernel_size, int[3] stride=[], int[3] padding=0, int[3] dilation=1, bool ceil_mode=False) -> Tensor",
         "function", max_pool(a.t(0), 3, a.ints(1), a.ints(2), a.ints(3), a.ints(4), a.b(5)).first);
EMBER_OP("avg_pool1d(Tensor input, int[1] kernel_size, int[1] stride=[], int[1] padding=0, bool ceil_mode=False, bool count_include_pad=True) -> Tensor",
         "function", avg_pool(a.t(0), 1, a.ints(1), a.ints(2), a.ints(3), a.b(4), a.b(5), std::nullopt));
EMBER_OP("adaptive_avg_pool1d(Tensor input, int[1] output_size) -> Tensor", "function",
         adaptive_avg_pool(a.t(0), 1, a.ints(1)));
EMBER_OP("adaptive_max_pool1d(Tensor input, int[1] output_size) -> (Tensor, Tensor)", "function",
         adaptive_max_pool(a.t(0), 1, a.ints(1)));

}  // namespace ember
