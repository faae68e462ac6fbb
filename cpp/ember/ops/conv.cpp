// Convolutions (1-3 spatial dims, strided, padded, dilated, grouped; and their transposes) as
// im2col + GEMM, one sample at a time, samples split over ember's pool.
//
// Note [Convolution sides]: a convolution and its transpose are the same linear map read in
// opposite directions, so both are written with one geometry and three primitives. The *image
// side* is the larger spatial grid (a convolution's input, a transposed convolution's output);
// the *column side* is the grid of kernel positions (a convolution's output, a transposed
// convolution's input). With M the weight of one group as a matrix [C_col, C_img * K] (a
// convolution's weight [C_out, C_in/g, k...] and a transposed convolution's [C_in, C_out/g, k...]
// are both that), the primitives are
//   gather:  col = M @ im2col(img)              conv forward, conv_transpose input gradient
//   scatter: img = col2im(M^T @ col)            conv input gradient, conv_transpose forward
//   wgrad:   gM  = sum_n col @ im2col(img)^T    both weight gradients
// im2col(img) is [C_img * K, positions]: row (c, kernel offset), column (kernel position), the
// image value under it or 0 in the padding. Padding may differ on the two ends of a dim (only
// the low end and the output size enter), which is how padding='same' with an even kernel works.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "ember/autograd/node.h"
#include "ember/kernels/direct_conv.h"
#include "ember/kernels/gemm.h"
#include "ember/kernels/parallel.h"
#include "ember/kernels/simd.h"
#include "ember/kernels/vmath.h"
#include "ember/ops/im2col.h"
#include "ember/ops/nn.h"
#include "ember/ops/ops.h"
#include "ember/ops/registry.h"

namespace ember {

namespace {

using sliding::col2im;
using sliding::Geom;
using sliding::im2col;

// The shapes of one call: N samples, G groups, channels per group on each side.
struct Sizes {
  int64_t N, G, c_img, c_col;
};

int conv_threads(const Geom& g, const Sizes& z) {
  const double flops = 2.0 * z.N * z.G * z.c_col * z.c_img * g.k_n() * g.col_n();
  const int64_t most = std::max<int64_t>(1, std::min<int64_t>(z.N, get_num_threads()));
  return (int)std::clamp<double>(flops / (1 << 20), 1, (double)most);
}

// col[n] = M @ im2col(img[n]) for every sample and group (Note [Convolution sides]). With `keep`,
// every sample's columns stay there ([N, G, rows, positions]) for the weight gradient.
template <class T>
void conv_gather(const Geom& g, const Sizes& z, const T* img, const T* M, T* col, T* keep = nullptr) {
  const int64_t kk = z.c_img * g.k_n(), on = g.col_n(), in = g.img_n();
  const bool triv = g.trivial();
  parallel_for(z.N, conv_threads(g, z), 1, [&](int64_t lo, int64_t hi) {
    std::vector<T> buf(triv || keep ? 0 : kk * on);
    for (int64_t n = lo; n < hi; ++n)
      for (int64_t gr = 0; gr < z.G; ++gr) {
        const T* im = img + (n * z.G + gr) * z.c_img * in;
        const T* cols = im;
        if (!triv) {
          T* dst = keep ? keep + (n * z.G + gr) * kk * on : buf.data();
          im2col(g, z.c_img, im, dst);
          cols = dst;
        }
        gemm<T>(z.c_col, on, kk, MatRef{M + gr * z.c_col * kk, kk, 1}, MatRef{cols, on, 1},
                col + (n * z.G + gr) * z.c_col * on);
      }
  });
}

// img[n] = col2im(M^T @ col[n]) (img is overwritten).
template <class T>
void conv_scatter(const Geom& g, const Sizes& z, const T* col, const T* M, T* img) {
  const int64_t kk = z.c_img * g.k_n(), on = g.col_n(), in = g.img_n();
  const bool triv = g.trivial();
  parallel_for(z.N, conv_threads(g, z), 1, [&](int64_t lo, int64_t hi) {
    std::vector<T> buf(triv ? 0 : kk * on);
    for (int64_t n = lo; n < hi; ++n)
      for (int64_t gr = 0; gr < z.G; ++gr) {
        T* im = img + (n * z.G + gr) * z.c_img * in;
        const T* c = col + (n * z.G + gr) * z.c_col * on;
        const MatRef Mt{M + gr * z.c_col * kk, 1, kk};
        if (triv) {
          gemm<T>(kk, on, z.c_col, Mt, MatRef{c, on, 1}, im);
          continue;
        }
        gemm<T>(kk, on, z.c_col, Mt, MatRef{c, on, 1}, buf.data());
        std::fill(im, im + z.c_img * in, T(0));
        col2im(g, z.c_img, buf.data(), im);
      }
  });
}

// gM = sum over samples of col[n] @ im2col(img[n])^T, per group; `kept`: the columns conv_gather
// kept, instead of making them again.
template <class T>
void conv_wgrad(const Geom& g, const Sizes& z, const T* col, const T* img, T* gM, const T* kept = nullptr) {
  const int64_t kk = z.c_img * g.k_n(), on = g.col_n(), in = g.img_n();
  const int64_t msize = z.G * z.c_col * kk;
  const bool triv = g.trivial();
  const int parts = conv_threads(g, z);
  const int64_t chunk = (z.N + parts - 1) / parts;
  std::vector<T> acc((size_t)parts * msize, T(0));
  parallel_run(parts, [&](int p) {
    std::vector<T> buf(triv || kept ? 0 : kk * on), tmp(z.c_col * kk);
    T* mine = acc.data() + p * msize;
    for (int64_t n = p * chunk; n < std::min(z.N, (p + 1) * chunk); ++n)
      for (int64_t gr = 0; gr < z.G; ++gr) {
        const T* im = img + (n * z.G + gr) * z.c_img * in;
        const T* cols = im;
        if (kept && !triv) {
          cols = kept + (n * z.G + gr) * kk * on;
        } else if (!triv) {
          im2col(g, z.c_img, im, buf.data());
          cols = buf.data();
        }
        gemm<T>(z.c_col, kk, on, MatRef{col + (n * z.G + gr) * z.c_col * on, on, 1}, MatRef{cols, 1, on}, tmp.data());
        T* dst = mine + gr * z.c_col * kk;
        for (int64_t i = 0; i < z.c_col * kk; ++i) dst[i] += tmp[i];
      }
  });
  std::copy(acc.begin(), acc.begin() + msize, gM);
  for (int p = 1; p < parts; ++p)
    for (int64_t i = 0; i < msize; ++i) gM[i] += acc[p * msize + i];
}

// The sum of n values, in double (per SIMD target: Note [Run-time SIMD]).
template <class T>
EMBER_INLINE double sum_in_double(const T* p, int64_t n) {
  return lane_sum<double>(n, [p](int64_t j) { return (double)p[j]; });
}
EMBER_CLONES double sum_in_double_f32(const float* p, int64_t n) { return sum_in_double(p, n); }
EMBER_CLONES double sum_in_double_f64(const double* p, int64_t n) { return sum_in_double(p, n); }

// s[c] = the sum of x[n, c, ...] over every sample and position, accumulated in double (as sum
// does): the bias gradient. (sum over dims (0, 2, ...) took 150 us for LeNet's first layer.)
template <class T>
void channel_sums(const T* x, int64_t N, int64_t C, int64_t inner, T* s) {
  parallel_for(C, (int)std::clamp<int64_t>(N * C * inner / (1 << 16), 1, 64), 1, [&](int64_t lo, int64_t hi) {
    for (int64_t c = lo; c < hi; ++c) {
      double acc = 0;
      for (int64_t n = 0; n < N; ++n) {
        const T* p = x + (n * C + c) * inner;
        if constexpr (std::is_same_v<T, float>) acc += sum_in_double_f32(p, inner);
        else acc += sum_in_double_f64(p, inner);
      }
      s[c] = (T)acc;
    }
  });
}

// x[n, c, ...] += b[c] over every sample and position.
template <class T>
void add_channel_bias(T* x, const T* b, int64_t N, int64_t C, int64_t inner) {
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) {
      T* p = x + (n * C + c) * inner;
      const T v = b[c];
      for (int64_t i = 0; i < inner; ++i) p[i] += v;
    }
}

// Everything the three primitives need, from the tensors' shapes.
struct ConvCall {
  Geom g;
  Sizes z;
  bool transposed;
  bool direct = false;  // Note [Direct convolution]
  Shape x_shape, w_shape;
};

// ---- Note [Direct convolution] ----
// A convolution with few output channels is bound by im2col's memory traffic, not by its
// arithmetic: LeNet's 1->6 5x5 layer writes and reads 25 values per output for 6 multiply-adds
// each. At unit stride it is computed directly instead. Each channel of a sample is padded into
// rows of Wp = OW + (KW-1)*dw values (its padding included), one after another; in that
// flattened image the window of kernel offset (kh, kw) is the image shifted by off = kh*dh*Wp +
// kw*dw, so with output "positions" p = oh*Wp + ow
//   y[co][p] = sum over ci, k of w[co][ci][k] * xp[ci][p + off_k]
// is a sum of shifted rows, one vector of positions at a time (direct_corr). Positions with
// ow >= OW (Wp - OW per row) are computed and dropped. The input gradient is the same sum read
// backwards: the output gradient in the same rows (0 at the dropped positions), offmax = off of
// the last offset zeros ahead, summed with the weight transposed and its offsets reversed gives
// the padded input's gradient. The weight gradient is a dot product of the output gradient with
// each shifted row over all positions and samples, the dropped positions masked out of the
// input side (direct_wgrad). The forward keeps the padded rows for the weight gradient.
// It is used at unit stride, in 1 and 2 spatial dims, for float and double, when a group has at
// most kDirectMaxChannels output channels and at most half the positions are dropped.
constexpr int64_t kDirectMaxChannels = 16;

bool direct_applies(const ConvCall& c, DType dt) {
  const Geom& g = c.g;
  if (c.transposed || (dt != DType::Float32 && dt != DType::Float64) || g.trivial()) return false;
  if (g.img[0] != 1 || g.col[0] != 1 || g.k[0] != 1 || g.s[1] != 1 || g.s[2] != 1) return false;
  return c.z.c_col <= kDirectMaxChannels && (g.k[2] - 1) * g.d[2] <= g.col[2];
}

// The direct convolution's layout of one call (Note [Direct convolution]); every length a whole
// number of vectors.
struct Direct {
  int64_t H, W, OH, OW, ph, pw, Wp;
  int64_t P, Pv;      // output positions, and rounded up to whole vectors
  int64_t Lx;         // one padded input channel, with room for every shifted read
  int64_t offmax;     // the last kernel offset's shift
  int64_t Qv, Lz;     // the input gradient's positions (its rows); one output-gradient channel
  std::vector<int64_t> off;
};

template <class T>
Direct direct_layout(const Geom& g) {
  Direct d;
  d.H = g.img[1], d.W = g.img[2], d.OH = g.col[1], d.OW = g.col[2], d.ph = g.p[1], d.pw = g.p[2];
  d.Wp = d.OW + (g.k[2] - 1) * g.d[2];
  const int64_t Hp = d.OH + (g.k[1] - 1) * g.d[1], L = direct_lanes<T>();
  const auto up = [L](int64_t v) { return (v + L - 1) / L * L; };
  for (int64_t kh = 0; kh < g.k[1]; ++kh)
    for (int64_t kw = 0; kw < g.k[2]; ++kw) d.off.push_back(kh * g.d[1] * d.Wp + kw * g.d[2]);
  d.offmax = d.off.back();
  d.P = d.OH * d.Wp, d.Pv = up(d.P);
  d.Lx = up(std::max(Hp * d.Wp, d.Pv + d.offmax));
  d.Qv = up(d.H * d.Wp);
  d.Lz = up(std::max(d.ph * d.Wp + d.Qv, d.Pv) + d.offmax);
  return d;
}

// A buffer of at least n values. Up to kScratchKeepBytes it is this thread's, kept from call to
// call (a convolution's scratch allocated afresh each time cost more in page faults than its
// arithmetic); a larger one is allocated for the call, so that no thread holds on to a big batch's
// rows. Slot tells apart the buffers one call uses at the same time.
constexpr int64_t kScratchKeepBytes = 16 << 20;

template <class T, int Slot>
struct DirectScratch {
  std::vector<T> own;
  T* p;
  explicit DirectScratch(int64_t n) {
    thread_local std::vector<T> kept;
    std::vector<T>& buf = n * (int64_t)sizeof(T) > kScratchKeepBytes ? own : kept;
    if ((int64_t)buf.size() < n) buf.resize(n);
    p = buf.data();
  }
};

// C channels of one sample into padded rows, Lx apart (zero outside the image)
template <class T>
void pad_rows(const Direct& d, int64_t C, const T* x, T* xp) {
  direct_into_rows(x, C, d.H, d.W, xp, d.Lx, d.ph * d.Wp + d.pw, d.Wp);
}

template <class T>
void direct_forward(const ConvCall& c, const Direct& d, const T* x, const T* w, const T* b, T* out, T* keep) {
  const Sizes& z = c.z;
  const int64_t K = (int64_t)d.off.size(), ci = z.c_img, co = z.c_col, in = d.H * d.W, on = d.OH * d.OW;
  parallel_for(z.N, conv_threads(c.g, z), 1, [&](int64_t lo, int64_t hi) {
    DirectScratch<T, 0> xs(keep ? 0 : ci * d.Lx);
    DirectScratch<T, 1> ys(co * d.Pv);
    T *xbuf = xs.p, *ybuf = ys.p;
    for (int64_t n = lo; n < hi; ++n)
      for (int64_t gr = 0; gr < z.G; ++gr) {
        const int64_t s = n * z.G + gr;
        T* xp = keep ? keep + s * ci * d.Lx : xbuf;
        pad_rows(d, ci, x + s * ci * in, xp);
        direct_corr<T>(co, d.Pv, ci, K, d.off.data(), xp, d.Lx, w + gr * co * ci * K, ci * K, ybuf, d.Pv);
        direct_from_rows(ybuf, co, d.Pv, int64_t(0), d.Wp, d.OH, d.OW, b ? b + gr * co : nullptr, out + s * co * on);
      }
  });
}

// gx and gw (either may be null) from the output gradient; xp: the forward's padded rows, or null
template <class T>
void direct_backward(const ConvCall& c, const Direct& d, const T* x, const T* xp, const T* w, const T* gy, T* gx,
                     T* gw) {
  const Sizes& z = c.z;
  const int64_t K = (int64_t)d.off.size(), ci = z.c_img, co = z.c_col, in = d.H * d.W, on = d.OH * d.OW;
  const int64_t msize = z.G * co * ci * K;
  // the weight of each group transposed, [ci][co * K], its offsets reversed
  std::vector<T> wf(gx ? msize : 0);
  if (gx)
    for (int64_t gr = 0; gr < z.G; ++gr)
      for (int64_t o = 0; o < co; ++o)
        for (int64_t i = 0; i < ci; ++i)
          for (int64_t k = 0; k < K; ++k)
            wf[((gr * ci + i) * co + o) * K + K - 1 - k] = w[((gr * co + o) * ci + i) * K + k];
  std::vector<DirectMask<T>> mask(gw ? d.Pv : 0);
  std::vector<int64_t> xo(gw ? ci * K : 0);
  if (gw) {
    for (int64_t p = 0; p < d.Pv; ++p) mask[p] = p < d.P && p % d.Wp < d.OW ? DirectMask<T>(-1) : 0;
    for (int64_t i = 0; i < ci; ++i)
      for (int64_t k = 0; k < K; ++k) xo[i * K + k] = i * d.Lx + d.off[k];
  }
  const int parts = conv_threads(c.g, z);
  const int64_t chunk = (z.N + parts - 1) / parts;
  std::vector<T> acc(gw ? parts * msize : 0, T(0));
  parallel_run(parts, [&](int part) {
    const int64_t n0 = std::min(z.N, part * chunk), nn = std::min(z.N, n0 + chunk) - n0;
    // the output gradient of these samples in padded rows, offmax zeros ahead
    DirectScratch<T, 0> zs(nn * z.G * co * d.Lz);
    T* zb = zs.p;
    direct_into_rows(gy + n0 * z.G * co * on, nn * z.G * co, d.OH, d.OW, zb, d.Lz, d.offmax, d.Wp);
    if (gx) {
      DirectScratch<T, 1> ys(ci * d.Qv);
      T* ybuf = ys.p;
      for (int64_t n = 0; n < nn; ++n)
        for (int64_t gr = 0; gr < z.G; ++gr) {
          const T* zg = zb + (n * z.G + gr) * co * d.Lz;
          direct_corr<T>(ci, d.Qv, co, K, d.off.data(), zg + d.ph * d.Wp, d.Lz, wf.data() + gr * ci * co * K, co * K,
                         ybuf, d.Qv);
          direct_from_rows(ybuf, ci, d.Qv, d.pw, d.Wp, d.H, d.W, (const T*)nullptr, gx + ((n0 + n) * z.G + gr) * ci * in);
        }
    }
    if (gw) {
      DirectScratch<T, 2> xbs(xp ? 0 : nn * z.G * ci * d.Lx);
      T* xb = xbs.p;
      const T* xs = xp ? xp + n0 * z.G * ci * d.Lx : xb;
      if (!xp)
        for (int64_t s = 0; s < nn * z.G; ++s) pad_rows(d, ci, x + (n0 * z.G + s) * ci * in, xb + s * ci * d.Lx);
      T* mine = acc.data() + part * msize;
      for (int64_t gr = 0; gr < z.G; ++gr)
        direct_wgrad<T>(co, ci * K, nn, d.Pv, zb + gr * co * d.Lz + d.offmax, z.G * co * d.Lz, d.Lz,
                        xs + gr * ci * d.Lx, z.G * ci * d.Lx, xo.data(), mask.data(), mine + gr * co * ci * K, ci * K);
    }
  });
  if (gw) {
    std::copy(acc.begin(), acc.begin() + msize, gw);
    for (int p = 1; p < parts; ++p)
      for (int64_t i = 0; i < msize; ++i) gw[i] += acc[p * msize + i];
  }
}

template <class T>
bool all_finite(const T* p, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    if (!std::isfinite(p[i])) return false;
  return true;
}

// torch's argument expansion: one value for every spatial dim, or one per dim.
std::vector<int64_t> expand_param(const std::vector<int64_t>& v, size_t nd, const char* name, int64_t dflt) {
  if (v.empty()) return std::vector<int64_t>(nd, dflt);
  if (v.size() == 1) return std::vector<int64_t>(nd, v[0]);
  if (v.size() != nd)
    throw std::runtime_error(std::string("expected ") + name + " to be a single integer value or a list of " +
                             std::to_string(nd) + " values to match the convolution dimensions, but got " + name + "=" +
                             shape_str(v));
  return v;
}

std::string torch_type(DType d) {
  switch (d) {
    case DType::Float32: return "FloatTensor";
    case DType::Float64: return "DoubleTensor";
    case DType::Int64: return "LongTensor";
    default: return std::string(dtype_name(d)) + " tensor";
  }
}

// Checks as torch's convolution does (same order and messages) and fills the geometry. `pad_hi`
// (may be empty) is the high-end padding when it differs from `padding` (padding='same').
ConvCall plan_conv(const Tensor& x, const Tensor& w, const Tensor& b, std::vector<int64_t> stride,
                   std::vector<int64_t> padding, std::vector<int64_t> dilation, bool transposed,
                   std::vector<int64_t> output_padding, int64_t groups, const std::vector<int64_t>& pad_hi = {}) {
  if (w->dim() < 3 || w->dim() > 5)
    throw std::runtime_error("convolution: expected a weight with 1 to 3 spatial dims, got weight of size " +
                             shape_str(w->shape));
  const size_t nd = w->dim() - 2;
  if (x->dim() != w->dim())
    throw std::runtime_error("Expected " + std::to_string(w->dim()) + "-dimensional input for " +
                             std::to_string(w->dim()) + "-dimensional weight " + shape_str(w->shape) + ", but got " +
                             std::to_string(x->dim()) + "-dimensional input of size " + shape_str(x->shape) +
                             " instead");
  stride = expand_param(stride, nd, "stride", 1);
  padding = expand_param(padding, nd, "padding", 0);
  dilation = expand_param(dilation, nd, "dilation", 1);
  output_padding = expand_param(output_padding, nd, "output_padding", 0);
  for (size_t i = 0; i < nd; ++i) {
    if (padding[i] < 0) throw std::runtime_error("negative padding is not supported");
    if (output_padding[i] < 0) throw std::runtime_error("negative output_padding is not supported");
    if (stride[i] <= 0) throw std::runtime_error("non-positive stride is not supported");
    if (dilation[i] <= 0) throw std::runtime_error("dilation should be greater than zero");
  }
  if (groups <= 0) throw std::runtime_error("non-positive groups is not supported");
  if (x->dtype != w->dtype)
    throw std::runtime_error("Input type (" + torch_type(x->dtype) + ") and weight type (" + torch_type(w->dtype) +
                             ") should be the same");
  if (b && b->dtype != w->dtype)
    throw std::runtime_error("Input type (" + torch_type(x->dtype) + ") and bias type (" + torch_type(b->dtype) +
                             ") should be the same");
  if (!is_floating(x->dtype) && x->dtype != DType::Int64)
    throw std::runtime_error(std::string("convolution: not implemented for dtype ") + dtype_name(x->dtype));
  const int64_t cin = x->shape[1];
  if (!transposed) {
    if (w->shape[0] % groups != 0)
      throw std::runtime_error("Given groups=" + std::to_string(groups) + ", expected weight to be divisible by " +
                               std::to_string(groups) + " at dimension 0, but got weight of size " +
                               shape_str(w->shape) + " instead");
    if (cin != w->shape[1] * groups)
      throw std::runtime_error("Given groups=" + std::to_string(groups) + ", weight of size " + shape_str(w->shape) +
                               ", expected input" + shape_str(x->shape) + " to have " +
                               std::to_string(w->shape[1] * groups) + " channels, but got " + std::to_string(cin) +
                               " channels instead");
  } else if (cin != w->shape[0]) {
    throw std::runtime_error("Given transposed=1, weight of size " + shape_str(w->shape) + ", expected input" +
                             shape_str(x->shape) + " to have " + std::to_string(w->shape[0]) +
                             " channels, but got " + std::to_string(cin) + " channels instead");
  } else if (cin % groups != 0) {
    throw std::runtime_error("Given groups=" + std::to_string(groups) + ", expected weight to be divisible by " +
                             std::to_string(groups) + " at dimension 0, but got weight of size " +
                             shape_str(w->shape) + " instead");
  }
  const int64_t cout = transposed ? w->shape[1] * groups : w->shape[0];
  if (b && (b->dim() != 1 || b->shape[0] != cout))
    throw std::runtime_error("Given weight of size " + shape_str(w->shape) + ", expected bias to be 1-dimensional with " +
                             std::to_string(cout) + " elements, but got bias of size " + shape_str(b->shape) +
                             " instead");
  ConvCall c;
  c.transposed = transposed;
  c.x_shape = x->shape;
  c.w_shape = w->shape;
  const int off = 3 - (int)nd;
  std::vector<int64_t> outs(nd);
  for (size_t i = 0; i < nd; ++i) {
    const int64_t in = x->shape[2 + i], k = w->shape[2 + i];
    const int64_t phi = pad_hi.empty() ? padding[i] : pad_hi[i];
    const int64_t ext = dilation[i] * (k - 1) + 1;
    if (!transposed) {
      if (in + padding[i] + phi < ext) {
        std::string padded, ks;
        for (size_t j = 0; j < nd; ++j) {
          const int64_t ph = pad_hi.empty() ? padding[j] : pad_hi[j];
          padded += (j ? " x " : "") + std::to_string(x->shape[2 + j] + padding[j] + ph);
          ks += (j ? " x " : "") + std::to_string(dilation[j] * (w->shape[2 + j] - 1) + 1);
        }
        throw std::runtime_error("Calculated padded input size per channel: (" + padded + "). Kernel size: (" + ks +
                                 "). Kernel size can't be greater than actual input size");
      }
      outs[i] = (in + padding[i] + phi - ext) / stride[i] + 1;
    } else {
      if (output_padding[i] >= stride[i] && output_padding[i] >= dilation[i])
        throw std::runtime_error("output padding must be smaller than either stride or dilation, but got output_padding=" +
                                 shape_str(output_padding) + ", stride=" + shape_str(stride) + ", dilation=" +
                                 shape_str(dilation));
      outs[i] = (in - 1) * stride[i] - 2 * padding[i] + ext + output_padding[i];
      if (outs[i] <= 0)
        throw std::runtime_error("Given input size per channel: " + shape_str(std::vector<int64_t>(x->shape.begin() + 2, x->shape.end())) +
                                 ". Calculated output size per channel: " + shape_str(outs) + ". Output size is too small");
    }
    // image side: a convolution's input, a transposed convolution's output
    c.g.img[off + i] = transposed ? outs[i] : in;
    c.g.col[off + i] = transposed ? in : outs[i];
    c.g.k[off + i] = k;
    c.g.s[off + i] = stride[i];
    c.g.p[off + i] = padding[i];
    c.g.d[off + i] = dilation[i];
  }
  c.z.N = x->shape[0];
  c.z.G = groups;
  // M is the weight of one group as [c_col, c_img * K]
  c.z.c_col = transposed ? cin / groups : cout / groups;
  c.z.c_img = w->shape[1];
  c.direct = direct_applies(c, x->dtype);
  return c;
}

Shape out_shape(const ConvCall& c) {
  const int64_t cout = c.transposed ? c.w_shape[1] * c.z.G : c.w_shape[0];
  Shape s{c.z.N, cout};
  const int nd = (int)c.w_shape.size() - 2;
  for (int i = 0; i < nd; ++i) s.push_back(c.transposed ? c.g.img[3 - nd + i] : c.g.col[3 - nd + i]);
  return s;
}

// The three results of one backward, each computed when asked for.
std::vector<Tensor> conv_backward(const ConvCall& c, const Tensor& x_, const Tensor& w_, const Tensor& gy_,
                                  bool need_x, bool need_w, bool need_b, const Tensor& kept) {
  // x is given when the weight gradient is asked for, w when the input's is
  Tensor x = x_ ? contiguous(x_) : Tensor(), w = w_ ? contiguous(w_) : Tensor(), gy = contiguous(gy_);
  std::vector<Tensor> r(3);
  EMBER_DISPATCH_NUMERIC(gy->dtype, "convolution_backward", T, {
    Tensor gx = need_x ? empty(c.x_shape, gy->dtype) : Tensor();
    Tensor gw = need_w ? empty(c.w_shape, gy->dtype) : Tensor();
    if constexpr (std::is_floating_point_v<T>) {
      if (c.direct && (need_x || need_w)) {
        // a non-finite weight would meet the dropped positions' zeros (0 * inf): im2col's way then
        const bool dx = need_x && all_finite(w->data<T>(), w->numel());
        direct_backward<T>(c, direct_layout<T>(c.g), x ? x->data<T>() : nullptr, kept ? kept->data<T>() : nullptr,
                           dx ? w->data<T>() : nullptr, gy->data<T>(), dx ? gx->data<T>() : nullptr,
                           need_w ? gw->data<T>() : nullptr);
        if (need_x && !dx) conv_scatter<T>(c.g, c.z, gy->data<T>(), w->data<T>(), gx->data<T>());
        r[0] = gx, r[1] = gw;
        need_x = need_w = false;
      }
    }
    if (need_x) {
      if (!c.transposed) conv_scatter<T>(c.g, c.z, gy->data<T>(), w->data<T>(), gx->data<T>());
      else conv_gather<T>(c.g, c.z, gy->data<T>(), w->data<T>(), gx->data<T>());
      r[0] = gx;
    }
    if (need_w) {
      if (!c.transposed)
        conv_wgrad<T>(c.g, c.z, gy->data<T>(), x->data<T>(), gw->data<T>(), kept ? kept->data<T>() : nullptr);
      else conv_wgrad<T>(c.g, c.z, x->data<T>(), gy->data<T>(), gw->data<T>());
      r[1] = gw;
    }
  });
  if (need_b && is_floating(gy->dtype)) {
    const int64_t C = gy->shape[1];
    r[2] = empty({C}, gy->dtype);
    EMBER_DISPATCH_FLOAT(gy->dtype, "convolution_backward", T,
                         channel_sums<T>(gy->data<T>(), c.z.N, C, gy->numel() / std::max<int64_t>(c.z.N * C, 1),
                                         r[2]->data<T>()));
  } else if (need_b) {
    std::vector<int64_t> dims{0};
    for (int64_t i = 2; i < gy->dim(); ++i) dims.push_back(i);
    r[2] = sum(gy, dims, false);
  }
  return r;
}

Tensor run_conv(const Tensor& x, const Tensor& w, const Tensor& b, const ConvCall& c);

// The derivatives of a convolution's gradients (gx, gw, gb) = backward(g; x, w), under create_graph
// (Note [Double backward]). The convolution is bilinear, so its double backward is made of its own
// three primitives: given ggx, ggw, ggb (the gradients flowing into gx, gw, gb),
//   into g: conv(ggx, w) + conv(x, ggw) + ggb,   into x: the input gradient of g with weight ggw,
//   into w: the weight gradient of g with input ggx   (torch's _convolution_double_backward).
// Edges: (g, x, w). Not differentiable again: a third derivative raises.
struct ConvolutionBackwardBackward : Node {
  Tensor g, x, w;  // x / w: null when the first backward had no use for them
  ConvCall call;
  ConvolutionBackwardBackward(ConvCall c, Tensor g_, Tensor x_, Tensor w_)
      : g(std::move(g_)), x(std::move(x_)), w(std::move(w_)), call(std::move(c)) {
    num_outputs = 3;
  }
  std::vector<Tensor> apply(std::vector<Tensor>& gg) override {
    if (released) throw std::runtime_error("Trying to backward through the graph a second time; specify retain_graph=True.");
    const Tensor &ggx = gg[0], &ggw = gg[1], &ggb = gg[2];
    std::vector<Tensor> r(3);
    if (needs(0)) {
      Tensor acc;
      if (ggx && w) acc = run_conv(ggx, w, Tensor(), call);
      if (ggw && x) {
        Tensor t = run_conv(x, ggw, Tensor(), call);
        acc = acc ? add(acc, t) : t;
      }
      if (ggb) {
        Shape bs(g->dim(), 1);
        bs[1] = ggb->numel();
        Tensor t = view(contiguous(ggb), bs);
        acc = acc ? add(acc, t) : expand(t, g->shape);
      }
      r[0] = acc;
    }
    if (needs(1) && ggw) r[1] = conv_backward(call, Tensor(), ggw, g, true, false, false, Tensor())[0];
    if (needs(2) && ggx) r[2] = conv_backward(call, ggx, Tensor(), g, false, true, false, Tensor())[1];
    return r;
  }
  std::string name() const override { return "ConvolutionBackwardBackward0"; }
  void release_saved() override { g.reset(), x.reset(), w.reset(); }
};

struct ConvolutionBackward : Node {
  SavedTensor x{this}, w{this}, cols{this};  // cols: the forward's im2col (or padded rows), when kept (run_conv)
  ConvCall call;
  explicit ConvolutionBackward(ConvCall c) : call(std::move(c)) {}
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    Tensor xs = needs(1) ? x.get(*this) : Tensor(), ws = needs(0) ? w.get(*this) : Tensor();
    if (!GradMode::is_enabled())
      return conv_backward(call, xs, ws, g[0], needs(0), needs(1), needs(2), cols.t ? cols.get(*this) : Tensor());
    std::vector<Tensor> r;
    {
      NoGradGuard ng;
      r = conv_backward(call, xs, ws, g[0], needs(0), needs(1), needs(2), cols.t ? cols.get(*this) : Tensor());
    }
    // create_graph: the three gradients share one node that differentiates them (above)
    auto n = std::make_shared<ConvolutionBackwardBackward>(call, g[0], xs, ws);
    n->next = {g[0]->requires_grad ? gradient_edge(g[0]) : Edge{}, next[0], next[1]};
    for (uint32_t i = 0; i < 3; ++i)
      if (r[i]) set_history(r[i], n, i);
    return r;
  }
  bool differentiable() const override { return true; }
  std::string name() const override { return "ConvolutionBackward0"; }
};

// The forward keeps its im2col columns (a direct convolution its padded rows) for the weight
// gradient (instead of making them again in the backward) when that gradient will be needed and
// they take at most kKeepColsBytes.
constexpr int64_t kKeepColsBytes = 64 << 20;

Tensor run_conv(const Tensor& x, const Tensor& w, const Tensor& b, const ConvCall& c) {
  Tensor out, kept;
  const bool want_keep = !c.transposed && !c.g.trivial() && GradMode::is_enabled() && w->requires_grad;
  // the buffer the forward keeps, of n values, if it is wanted and small enough
  const auto keep_buffer = [&](int64_t n) -> Tensor {
    return want_keep && n * (int64_t)itemsize(x->dtype) <= kKeepColsBytes ? empty({n}, x->dtype) : Tensor();
  };
  {
    NoGradGuard ng;
    Tensor xc = contiguous(x), wc = contiguous(w);
    out = empty(out_shape(c), x->dtype);
    Tensor bc = b ? contiguous(b) : Tensor();
    EMBER_DISPATCH_NUMERIC(x->dtype, "convolution", T, {
      const int64_t cout = out->shape[1];
      bool done = false;  // by the direct convolution, bias included
      if constexpr (std::is_floating_point_v<T>)
        if (c.direct) {
          const Direct d = direct_layout<T>(c.g);
          kept = keep_buffer(c.z.N * c.z.G * c.z.c_img * d.Lx);
          direct_forward<T>(c, d, xc->data<T>(), wc->data<T>(), bc ? bc->data<T>() : nullptr, out->data<T>(),
                            kept ? kept->data<T>() : nullptr);
          done = true;
        }
      if (!done) {
        kept = keep_buffer(c.z.N * c.z.G * c.z.c_img * c.g.k_n() * c.g.col_n());
        if (!c.transposed) conv_gather<T>(c.g, c.z, xc->data<T>(), wc->data<T>(), out->data<T>(), kept ? kept->data<T>() : nullptr);
        else conv_scatter<T>(c.g, c.z, xc->data<T>(), wc->data<T>(), out->data<T>());
        if (bc)
          add_channel_bias<T>(out->data<T>(), bc->data<T>(), c.z.N, cout,
                              out->numel() / std::max<int64_t>(c.z.N * cout, 1));
      }
    });
  }
  if (any_requires_grad({&x, &w, &b})) {
    auto n = make_node<ConvolutionBackward>({&x, &w, &b}, c);
    if (n->needs(1)) n->x.save(x);
    if (n->needs(0)) n->w.save(w);
    if (kept && n->needs(1)) n->cols.save(kept);
    set_history(out, n);
  }
  return out;
}

}  // namespace

Tensor convolution(const Tensor& x, const Tensor& w, const Tensor& b, const std::vector<int64_t>& stride,
                   const std::vector<int64_t>& padding, const std::vector<int64_t>& dilation, bool transposed,
                   const std::vector<int64_t>& output_padding, int64_t groups) {
  if (any_storage({&x, &w, &b}))  // Note [Storage dtypes]
    return from_compute(convolution(to_compute(x), to_compute(w), to_compute(b), stride, padding, dilation, transposed,
                                    output_padding, groups),
                        {&x, &w, &b});
  ConvCall c = plan_conv(x, w, b, stride, padding, dilation, transposed, output_padding, groups);
  return run_conv(x, w, b, c);
}

namespace {

// conv{1,2,3}d: an unbatched input (one dim fewer) is run as a batch of one.
Tensor conv_nd(const Tensor& x, const Tensor& w, const Tensor& b, int nd, const char* name,
               const std::function<Tensor(const Tensor&)>& run) {
  if (x->dim() != nd + 1 && x->dim() != nd + 2)
    throw std::runtime_error("Expected " + std::to_string(nd + 1) + "D (unbatched) or " + std::to_string(nd + 2) +
                             "D (batched) input to " + name + ", but got input of size: " + shape_str(x->shape));
  if (x->dim() == nd + 1) return squeeze(run(unsqueeze(x, 0)), 0);
  return run(x);
}

Tensor conv_args(const Args& a, int nd, const char* name) {
  const Tensor &x = a.t(0), &w = a.t(1), &b = a.t(2);
  return conv_nd(x, w, b, nd, name, [&](const Tensor& xb) {
    return convolution(xb, w, b, a.ints(3), a.ints(4), a.ints(5), false, {}, a.i(6));
  });
}

// padding='valid' (none) or 'same' (output size = input size; the odd extra on the high end).
Tensor conv_str_args(const Args& a, int nd, const char* name) {
  const Tensor &x = a.t(0), &w = a.t(1), &b = a.t(2);
  const std::string mode = a.str(4);
  if (mode != "valid" && mode != "same") throw std::runtime_error("Invalid padding string: '" + mode + "'");
  return conv_nd(x, w, b, nd, name, [&](const Tensor& xb) -> Tensor {
    if (mode == "valid") return convolution(xb, w, b, a.ints(3), {0}, a.ints(5), false, {}, a.i(6));
    if (w->dim() != nd + 2)
      return convolution(xb, w, b, a.ints(3), {0}, a.ints(5), false, {}, a.i(6));  // raises torch's weight message
    const auto stride = expand_param(a.ints(3), nd, "stride", 1);
    const auto dil = expand_param(a.ints(5), nd, "dilation", 1);
    for (auto s : stride)
      if (s != 1) throw std::runtime_error("padding='same' is not supported for strided convolutions");
    std::vector<int64_t> lo(nd), hi(nd);
    for (int i = 0; i < nd; ++i) {
      const int64_t total = dil[i] * (w->shape[2 + i] - 1);
      lo[i] = total / 2;
      hi[i] = total - lo[i];
    }
    if (lo == hi) return convolution(xb, w, b, stride, lo, dil, false, {}, a.i(6));
    if (any_storage({&xb, &w, &b}))
      return from_compute(convolution(to_compute(xb), to_compute(w), to_compute(b), stride, lo, dil, false, {}, a.i(6)),
                          {&xb, &w, &b});
    ConvCall c = plan_conv(xb, w, b, stride, lo, dil, false, {}, a.i(6), hi);
    return run_conv(xb, w, b, c);
  });
}

Tensor conv_transpose_args(const Args& a, int nd, const char* name) {
  const Tensor &x = a.t(0), &w = a.t(1), &b = a.t(2);
  return conv_nd(x, w, b, nd, name, [&](const Tensor& xb) {
    return convolution(xb, w, b, a.ints(3), a.ints(4), a.ints(7), true, a.ints(5), a.i(6));
  });
}

}  // namespace

EMBER_OP("convolution(Tensor input, Tensor weight, Tensor? bias, int[] stride, int[] padding, int[] dilation, bool transposed, int[] output_padding, int groups) -> Tensor",
         "function", convolution(a.t(0), a.t(1), a.t(2), a.ints(3), a.ints(4), a.ints(5), a.b(6), a.ints(7), a.i(8)));
EMBER_OP("conv1d(Tensor input, Tensor weight, Tensor? bias=None, int[1] stride=1, int[1] padding=0, int[1] dilation=1, int groups=1) -> Tensor",
         "function", conv_args(a, 1, "conv1d"));
EMBER_OP("conv1d.padding(Tensor input, Tensor weight, Tensor? bias=None, int[1] stride=1, str padding=\"valid\", int[1] dilation=1, int groups=1) -> Tensor",
         "function", conv_str_args(a, 1, "conv1d"));
EMBER_OP("conv2d(Tensor input, Tensor weight, Tensor? bias=None, int[2] stride=1, int[2] padding=0, int[2] dilation=1, int groups=1) -> Tensor",
         "function", conv_args(a, 2, "conv2d"));
EMBER_OP("conv2d.padding(Tensor input, Tensor weight, Tensor? bias=None, int[2] stride=1, str padding=\"valid\", int[2] dilation=1, int groups=1) -> Tensor",
         "function", conv_str_args(a, 2, "conv2d"));
EMBER_OP("conv3d(Tensor input, Tensor weight, Tensor? bias=None, int[3] stride=1, int[3] padding=0, int[3] dilation=1, int groups=1) -> Tensor",
         "function", conv_args(a, 3, "conv3d"));
EMBER_OP("conv3d.padding(Tensor input, Tensor weight, Tensor? bias=None, int[3] stride=1, str padding=\"valid\", int[3] dilation=1, int groups=1) -> Tensor",
         "function", conv_str_args(a, 3, "conv3d"));
EMBER_OP("conv_transpose1d(Tensor input, Tensor weight, Tensor? bias=None, int[1] stride=1, int[1] padding=0, int[1] output_padding=0, int groups=1, int[1] dilation=1) -> Tensor",
         "function", conv_transpose_args(a, 1, "conv_transpose1d"));
EMBER_OP("conv_transpose2d(Tensor input, Tensor weight, Tensor? bias=None, int[2] stride=1, int[2] padding=0, int[2] output_padding=0, int groups=1, int[2] dilation=1) -> Tensor",
         "function", conv_transpose_args(a, 2, "conv_transpose2d"));
EMBER_OP("conv_transpose3d(Tensor input, Tensor weight, Tensor? bias=None, int[3] stride=1, int[3] padding=0, int[3] output_padding=0, int groups=1, int[3] dilation=1) -> Tensor",
         "function", conv_transpose_args(a, 3, "conv_transpose3d"));

}  // namespace ember
