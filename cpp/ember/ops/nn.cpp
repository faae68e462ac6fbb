// Fused neural-network ops: linear (matmul + bias), mse_loss, cross_entropy / nll_loss and
// binary_cross_entropy(_with_logits). One kernel forward, one backward node each, stable numerics.
#include <algorithm>
#include <cmath>
#include <type_traits>

#include "ember/autograd/node.h"
#include "ember/kernels/gemm.h"
#include "ember/kernels/parallel.h"
#include "ember/kernels/simd.h"
#include "ember/kernels/vmath.h"
#include "ember/ops/elementwise.h"
#include "ember/ops/nn.h"
#include "ember/ops/registry.h"

namespace ember {

namespace {
Tensor reduce_loss(const Tensor& l, int reduction) {
  if (reduction == kNone) return l;
  return reduction == kMean ? mean(l, {}, false) : sum(l, {}, false);
}
// n elements of the calling thread's scratch (grows only, uninitialised; one buffer per thread and
// type, so a caller must not hold it across another call that takes it).
template <class T>
T* thread_scratch(int64_t n) {
  thread_local std::vector<T> buf;
  if ((int64_t)buf.size() < n) buf.resize(n);
  return buf.data();
}
void check_float(const Tensor& t, const char* op) {
  if (!is_floating(t->dtype))
    throw std::runtime_error(std::string(op) + ": expected a floating point input, got " + dtype_name(t->dtype));
}
}  // namespace

// ---- linear: y = x @ W^T + b over the last dim of x
namespace {
// The rows a linear layer sees: the product of all but the last dim (numel / features is
// undefined when the feature count is 0).
int64_t leading_rows(const Tensor& t) {
  int64_t r = 1;
  for (int64_t d = 0; d + 1 < t->dim(); ++d) r *= t->shape[d];
  return r;
}

// One pass over dL/dy (N x F, contiguous): the ReLU gate (g where y > 0 or y is NaN) when y is given, and
// the bias gradient's column sums (in double) when acc is. The sums of up to 8 blocks of columns (a
// block: as many columns as a vector holds doubles) stay in registers while the rows pass in order;
// wider rows go block by block down the rows; the columns past the last whole block run scalar.
// (acc[] updated every row waited on its own store each time: 0.85 us of a 9 us W2-ens model step.)
template <class T>
EMBER_INLINE T relu_gated(const T* g, const T* y, int64_t k) {
  return y && y[k] <= 0 ? T(0) : g[k];  // NaN passes, as torch
}
template <class T, int VB>
struct GateColsum {
  static constexpr int U = VB / 8;  // columns per block
  using TV = Vec<T, U * (int)sizeof(T)>;
  using DV = Vec<double, VB>;
  const T *g, *y;
  T* gc;
  // U elements from k: gated, stored when gating, as doubles
  EMBER_INLINE typename DV::type at(int64_t k) const {
    typename TV::type v = TV::load(g + k);
    if (y) {
      v = TV::load(y + k) <= 0 ? typename TV::type{} : v;
      TV::store(gc + k, v);
    }
    return __builtin_convertvector(v, typename DV::type);
  }
  template <int NB>  // columns [0, NB * U), row after row
  EMBER_INLINE void rows(int64_t N, int64_t F, double* acc) const {
    typename DV::type s[NB] = {};
    for (int64_t i = 0; i < N; ++i)
      for (int b = 0; b < NB; ++b) s[b] += at(i * F + b * U);
    for (int b = 0; b < NB; ++b) DV::store(acc + b * U, DV::load(acc + b * U) + s[b]);
  }
};
template <class T, int VB>
EMBER_INLINE void relu_gate_colsum(int64_t N, int64_t F, const T* g, const T* y, T* gc, double* acc) {
  using K = GateColsum<T, VB>;
  constexpr int U = K::U;
  const K k{g, y, gc};
  int64_t j = 0;
  if (acc) {
    switch (F / U) {
      case 0: break;
      case 1: k.template rows<1>(N, F, acc); break;
      case 2: k.template rows<2>(N, F, acc); break;
      case 3: k.template rows<3>(N, F, acc); break;
      case 4: k.template rows<4>(N, F, acc); break;
      case 5: k.template rows<5>(N, F, acc); break;
      case 6: k.template rows<6>(N, F, acc); break;
      case 7: k.template rows<7>(N, F, acc); break;
      case 8: k.template rows<8>(N, F, acc); break;
      default:
        for (; j + U <= F; j += U) {
          typename K::DV::type s0{}, s1{};
          int64_t i = 0;
          for (; i + 2 <= N; i += 2) s0 += k.at(i * F + j), s1 += k.at((i + 1) * F + j);
          if (i < N) s0 += k.at(i * F + j);
          K::DV::store(acc + j, K::DV::load(acc + j) + (s0 + s1));
        }
    }
    if (F / U <= 8) j = F / U * U;
  }
  for (int64_t i = 0; i < N; ++i)
    for (int64_t c = j; c < F; ++c) {
      const T v = relu_gated(g, y, i * F + c);
      if (y) gc[i * F + c] = v;
      if (acc) acc[c] += (double)v;
    }
}
#define EMBER_GATE_COLSUM(attr, vb, T)                                                                \
  attr void relu_gate_colsum_any(int64_t N, int64_t F, const T* g, const T* y, T* gc, double* acc) { \
    relu_gate_colsum<T, vb>(N, F, g, y, gc, acc);                                                     \
  }
EMBER_PER_WIDTH(EMBER_GATE_COLSUM, float)
EMBER_PER_WIDTH(EMBER_GATE_COLSUM, double)
#undef EMBER_GATE_COLSUM

// Gradients of y = [relu](x2 @ W^T + b) given dL/dy: {gx (x_shape), gW, gb}, each only when asked.
// Straight to the GEMM kernel with transposes expressed as strides: no view objects, no
// intermediate nodes; the gate and the bias gradient take one pass.
std::vector<Tensor> linear_grads(const Tensor& g, const Tensor& W, const Tensor& X2, const Tensor& y_relu,
                                 const Shape& x_shape, bool need_x, bool need_w, bool need_b) {
  std::vector<Tensor> r(3);
  const int64_t outf = W->shape[0], in = W->shape[1];
  Tensor gc = contiguous(g->dtype == W->dtype ? g : cast_nograd(g, W->dtype));
  const int64_t N = leading_rows(gc);
  Tensor y = y_relu ? contiguous(y_relu) : Tensor();
  Tensor gated = y ? empty(gc->shape, W->dtype) : gc;
  std::vector<double> acc(need_b ? outf : 0, 0.0);
  EMBER_DISPATCH_FLOAT(W->dtype, "linear_backward", T, {
    if (y || need_b)
      relu_gate_colsum_any(N, outf, gc->data<T>(), y ? y->data<T>() : nullptr, gated->data<T>(), need_b ? acc.data() : nullptr);
    const T* gp = gated->data<T>();
    if (need_x) {
      r[0] = empty(x_shape, W->dtype);
      gemm<T>(N, in, outf, MatRef{gp, outf, 1}, MatRef{W->data<T>(), W->strides[0], W->strides[1]}, r[0]->data<T>());
    }
    if (need_w) {
      r[1] = empty({outf, in}, W->dtype);
      gemm<T>(outf, in, N, MatRef{gp, 1, outf}, MatRef{X2->data<T>(), X2->strides[0], X2->strides[1]}, r[1]->data<T>());
    }
    if (need_b) {
      r[2] = empty({outf}, W->dtype);
      T* bp = r[2]->data<T>();
      for (int64_t j = 0; j < outf; ++j) bp[j] = (T)acc[j];
    }
  });
  return r;
}

// The same gradients from differentiable ops, under create_graph (Note [Double backward]): X is the
// input with its history (2-D or not), the ReLU gate a constant mask.
std::vector<Tensor> linear_grads_graph(const Tensor& g0, const Tensor& W, const Tensor& X, const Tensor& y_relu,
                                       const Shape& x_shape, bool need_x, bool need_w, bool need_b) {
  std::vector<Tensor> r(3);
  const int64_t outf = W->shape[0], in = W->shape[1];
  Tensor g = to_dtype(g0, W->dtype);
  if (y_relu) g = where(compare(y_relu, num(0), CmpOp::Le), num(0), g);
  Tensor g2 = reshape(g, {leading_rows(g), outf});
  if (need_x) r[0] = reshape(mm(g2, W), x_shape);
  if (need_w) r[1] = mm(t(g2), reshape(X, {leading_rows(X), in}));
  if (need_b) r[2] = sum(g2, {0}, false);
  return r;
}
}  // namespace

struct LinearBackward : Node {
  SavedTensor x2{this}, w{this}, y{this};  // y: the output, kept only for the fused ReLU's gate
  SavedTensor x{this};  // the input itself when it is not 2-D (x2 is then its graph-less reshape)
  Shape x_shape;
  bool has_bias, relu = false;
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    if (GradMode::is_enabled())
      return linear_grads_graph(g[0], w.get(*this), needs(1) ? (x_shape.size() == 2 ? x2 : x).get(*this) : Tensor(),
                                relu ? y.get(*this) : Tensor(), x_shape, needs(0), needs(1), needs(2));
    return linear_grads(g[0], w.get(*this), needs(1) ? x2.get(*this) : Tensor(), relu ? y.get(*this) : Tensor(), x_shape,
                        needs(0), needs(1), needs(2));
  }
  bool differentiable() const override { return true; }
  std::string name() const override {
    if (relu) return "ReluBackward0";
    return x_shape.size() == 2 ? (has_bias ? "AddmmBackward0" : "MmBackward0")
                               : (has_bias ? "ViewBackward0" : "UnsafeViewBackward0");
  }
  // edges are (x, W, b); torch builds [View|UnsafeView](Addmm(b, x, T(W)) | Mm(x, T(W))), under a Relu when fused
  std::string torch_layout() const override {
    return std::string("linear:") + (x_shape.size() == 2 ? "2d" : "nd") + (has_bias ? ":bias" : ":nobias") +
           (relu ? ":relu" : "");
  }
};
namespace {
void check_linear(const Tensor& x, const Tensor& W, const Tensor& b) {
  if (W->dim() != 2) throw std::runtime_error("linear(): weight must be 2-D, got shape " + shape_str(W->shape));
  if (x->dim() == 0) throw std::runtime_error("linear(): input must have at least 1 dimension");
  int64_t in = W->shape[1], outf = W->shape[0];
  if (x->shape.back() != in)
    throw std::runtime_error("mat1 and mat2 shapes cannot be multiplied (" +
                             std::to_string(x->shape.back() ? x->numel() / x->shape.back() : shape_numel(Shape(x->shape.begin(), x->shape.end() - 1))) +
                             "x" + std::to_string(x->shape.back()) + " and " + std::to_string(in) + "x" + std::to_string(outf) +
                             ") (input " + shape_str(x->shape) + ", weight " + shape_str(W->shape) + ")");
  if (x->dtype != W->dtype || (b && b->dtype != W->dtype))
    throw std::runtime_error(std::string("linear(): expected input, weight and bias of one dtype, got ") + dtype_name(x->dtype) +
                             ", " + dtype_name(W->dtype) + (b ? std::string(", ") + dtype_name(b->dtype) : std::string()));
  if (b && !(b->numel() == outf && b->dim() <= 1))
    throw std::runtime_error("linear(): bias must have shape [" + std::to_string(outf) + "], got " + shape_str(b->shape));
}

// out (N x outf, contiguous) = [relu](x2 @ W^T + b); bias and ReLU as the GEMM writes out.
void linear_into(const Tensor& x2, const Tensor& W, const Tensor& b, bool relu, const Tensor& out) {
  const int64_t N = x2->shape[0], in = W->shape[1], outf = W->shape[0];
  Tensor bc = b ? contiguous(b) : Tensor();
  EMBER_DISPATCH_NUMERIC(x2->dtype, "linear", T, {
    gemm<T>(N, outf, in, MatRef{x2->data<T>(), x2->strides[0], x2->strides[1]}, MatRef{W->data<T>(), W->strides[1], W->strides[0]},
            out->data<T>(), Epilogue<T>{bc ? bc->data<T>() : nullptr, relu});
  });
}
}  // namespace

// ---- GELU: one op (torch's composite of erf, mul and add was five graph nodes and libm's scalar
// erff); float32 contiguous runs the SIMD clones of kernels/vmath.h.
namespace {
template <class T>
T gelu_scalar(T x, bool approx_tanh) {
  if (approx_tanh) return T(0.5) * x * (T(1) + std::tanh(T(0.7978845608028654) * (x + T(0.044715) * x * x * x)));
  return x < 0 ? T(0.5) * x * std::erfc(-x * T(0.7071067811865476)) : T(0.5) * x * (T(1) + std::erf(x * T(0.7071067811865476)));
}
template <class T>
T gelu_grad_scalar(T x, bool approx_tanh) {
  if (approx_tanh) {
    const T k = T(0.7978845608028654), th = std::tanh(k * (x + T(0.044715) * x * x * x));
    return T(0.5) * (T(1) + th) + T(0.5) * x * (T(1) - th * th) * k * (T(1) + T(3 * 0.044715) * x * x);
  }
  const T cdf = x < 0 ? T(0.5) * std::erfc(-x * T(0.7071067811865476)) : T(0.5) * (T(1) + std::erf(x * T(0.7071067811865476)));
  return cdf + x * T(0.3989422804014327) * std::exp(T(-0.5) * x * x);
}

// GELU costs about 2 cycles an element (an erfc and an exp): worth a thread from 8192 on (a tiny
// GPT's 512 x 256 activations: 95 us on one thread)
constexpr int64_t kGeluPerThread = 1 << 13;

struct GeluBackward : Node {
  SavedTensor x{this};
  bool approx_tanh = false;
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    if (GradMode::is_enabled()) {  // create_graph: differentiate GELU's formula (Note [Double backward])
      Tensor xs = x.get(*this);
      const bool tanh_form = approx_tanh;
      return grads_by_recompute(*this, {xs}, [&] {
        Tensor inner = tanh_form ? tanh(mul(add(xs, mul(num(0.044715), mul(xs, mul(xs, xs)))), num(0.7978845608028654)))
                                 : erf(mul(xs, num(0.7071067811865476)));
        return mul(mul(xs, num(0.5)), add(num(1), inner));
      }, g[0]);
    }
    return {gelu_backward(g[0], x.get(*this), approx_tanh)};
  }
  bool differentiable() const override { return true; }
  std::string name() const override { return "GeluBackward0"; }
};
}  // namespace

Tensor gelu_backward(const Tensor& grad, const Tensor& x, bool approx_tanh) {
  if (any_storage({&grad, &x})) return from_compute(gelu_backward(to_compute(grad), to_compute(x), approx_tanh), {&x});
  if (grad->dtype == DType::Float32 && x->dtype == DType::Float32 && grad->is_contiguous() && x->is_contiguous() &&
      grad->shape == x->shape) {
    Tensor out = empty(x->shape, DType::Float32);
    const float *g = grad->data<float>(), *xp = x->data<float>();
    float* o = out->data<float>();
    parallel_blocks(x->numel(), kGeluPerThread,
                    [&](int64_t lo, int64_t hi) { gelu_backward_to(g + lo, xp + lo, o + lo, hi - lo, approx_tanh); });
    return out;
  }
  return map2(grad, x, x->dtype, "gelu_backward", [approx_tanh](auto gv, auto v) { return gv * gelu_grad_scalar(v, approx_tanh); });
}

Tensor gelu(const Tensor& x, bool approx_tanh) {
  if (any_storage({&x})) return from_compute(gelu(to_compute(x), approx_tanh), {&x});
  Tensor out;
  if (x->dtype == DType::Float32 && x->is_contiguous()) {
    out = empty(x->shape, DType::Float32);
    const float* xp = x->data<float>();
    float* o = out->data<float>();
    parallel_blocks(x->numel(), kGeluPerThread, [&](int64_t lo, int64_t hi) { gelu_to(xp + lo, o + lo, hi - lo, approx_tanh); });
  } else {
    out = map1(x, x->dtype, "GeluKernelImpl", [approx_tanh](auto v) { return gelu_scalar(v, approx_tanh); });
  }
  if (any_requires_grad({&x})) {
    auto n = make_node<GeluBackward>({&x});
    n->x.save(x);
    n->approx_tanh = approx_tanh;
    set_history(out, n);
  }
  return out;
}

// ---- LayerNorm over the last D values of every row: one op and one node (the composite was
// eight ops and their nodes). Rows split over the pool; the row loops are compiled per SIMD target,
// their sums kept in 16 lanes of partial sums (a plain float sum does not vectorize: its order
// would change), as torch's vectorized moments do. The backward makes the input gradient row by
// row and the weight and bias gradients as per-part column sums.
namespace {
int rows_threads(int64_t rows, int64_t work) {
  return (int)std::max<int64_t>(1, std::min<int64_t>({work / (1 << 15), rows, get_num_threads()}));
}

template <class T>
EMBER_INLINE void ln_fwd_rows(int64_t lo, int64_t hi, int64_t D, const T* __restrict x, const T* __restrict w,
                              const T* __restrict b, T eps, T* __restrict y, T* __restrict mean, T* __restrict rstd) {
  for (int64_t r = lo; r < hi; ++r) {
    const T* __restrict xr = x + r * D;
    const T m = lane_sum<T>(D, [&](int64_t j) { return xr[j]; }) / T(D);
    const T q = lane_sum<T>(D, [&](int64_t j) { return (xr[j] - m) * (xr[j] - m); });
    const T rs = T(1) / std::sqrt(q / T(D) + eps);
    mean[r] = m, rstd[r] = rs;
    T* __restrict yr = y + r * D;
    if (w && b)
      for (int64_t j = 0; j < D; ++j) yr[j] = (xr[j] - m) * rs * w[j] + b[j];
    else if (w)
      for (int64_t j = 0; j < D; ++j) yr[j] = (xr[j] - m) * rs * w[j];
    else if (b)
      for (int64_t j = 0; j < D; ++j) yr[j] = (xr[j] - m) * rs + b[j];
    else
      for (int64_t j = 0; j < D; ++j) yr[j] = (xr[j] - m) * rs;
  }
}

// rows [lo, hi): gx (when asked), and this part's column sums of gy * xhat (pw) and gy (pb)
template <class T>
EMBER_INLINE void ln_bwd_rows(int64_t lo, int64_t hi, int64_t D, const T* __restrict gy, const T* __restrict x,
                              const T* __restrict w, const T* __restrict mean, const T* __restrict rstd,
                              T* __restrict gx, T* __restrict pw, T* __restrict pb) {
  for (int64_t r = lo; r < hi; ++r) {
    const T* __restrict xr = x + r * D;
    const T* __restrict gr = gy + r * D;
    const T m = mean[r], rs = rstd[r];
    for (int64_t j = 0; j < D; ++j) {
      pw[j] += gr[j] * ((xr[j] - m) * rs);
      pb[j] += gr[j];
    }
    if (!gx) continue;
    T a, c;
    if (w) {
      a = lane_sum<T>(D, [&](int64_t j) { return gr[j] * w[j]; }) / T(D);
      c = lane_sum<T>(D, [&](int64_t j) { return gr[j] * w[j] * ((xr[j] - m) * rs); }) / T(D);
    } else {
      a = lane_sum<T>(D, [&](int64_t j) { return gr[j]; }) / T(D);
      c = lane_sum<T>(D, [&](int64_t j) { return gr[j] * ((xr[j] - m) * rs); }) / T(D);
    }
    T* __restrict o = gx + r * D;
    if (w)
      for (int64_t j = 0; j < D; ++j) o[j] = rs * (gr[j] * w[j] - a - ((xr[j] - m) * rs) * c);
    else
      for (int64_t j = 0; j < D; ++j) o[j] = rs * (gr[j] - a - ((xr[j] - m) * rs) * c);
  }
}

// (per SIMD target: Note [Run-time SIMD]; the parallel lambdas call these)
EMBER_CLONES void ln_fwd_rows_f32(int64_t lo, int64_t hi, int64_t D, const float* x, const float* w, const float* b,
                                  float eps, float* y, float* mean, float* rstd) {
  ln_fwd_rows<float>(lo, hi, D, x, w, b, eps, y, mean, rstd);
}
EMBER_CLONES void ln_bwd_rows_f32(int64_t lo, int64_t hi, int64_t D, const float* gy, const float* x, const float* w,
                                  const float* mean, const float* rstd, float* gx, float* pw, float* pb) {
  ln_bwd_rows<float>(lo, hi, D, gy, x, w, mean, rstd, gx, pw, pb);
}
template <class T, class... A>
void ln_fwd_any(A... a) {
  if constexpr (std::is_same_v<T, float>) ln_fwd_rows_f32(a...);
  else ln_fwd_rows<T>(a...);
}
template <class T, class... A>
void ln_bwd_any(A... a) {
  if constexpr (std::is_same_v<T, float>) ln_bwd_rows_f32(a...);
  else ln_bwd_rows<T>(a...);
}

template <class T>
void layer_norm_fwd(int64_t rows, int64_t D, const T* x, const T* w, const T* b, double eps, T* y, T* mean, T* rstd) {
  parallel_for(rows, rows_threads(rows, rows * D), 1,
               [&](int64_t lo, int64_t hi) { ln_fwd_any<T>(lo, hi, D, x, w, b, (T)eps, y, mean, rstd); });
}

template <class T>
void layer_norm_bwd(int64_t rows, int64_t D, const T* gy, const T* x, const T* w, const T* mean, const T* rstd, T* gx,
                    T* gw, T* gb) {
  const int nt = rows_threads(rows, rows * D);
  const int64_t chunk = std::max<int64_t>(1, (rows + nt - 1) / nt);
  std::vector<T> part((size_t)nt * 2 * D, T(0));  // per part: sum gy * xhat, sum gy
  parallel_run((int)((rows + chunk - 1) / chunk), [&](int p) {
    T* pw = part.data() + (size_t)p * 2 * D;
    ln_bwd_any<T>(p * chunk, std::min(rows, (p + 1) * chunk), D, gy, x, w, mean, rstd, gx, pw, pw + D);
  });
  for (int64_t j = 0; j < D; ++j) {
    T sw = 0, sb = 0;
    for (int p = 0; p < nt; ++p) sw += part[(size_t)p * 2 * D + j], sb += part[(size_t)p * 2 * D + D + j];
    if (gw) gw[j] = sw;
    if (gb) gb[j] = sb;
  }
}

struct LayerNormBackward : Node {
  SavedTensor x{this}, w{this}, mean{this}, rstd{this}, b{this};
  int64_t D = 0;
  double eps = 0;
  Shape nshape;  // normalized_shape: the weight's and bias's
  bool has_w = false, has_b = false;
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    if (GradMode::is_enabled()) {  // create_graph: layer norm's composite, differentiated (Note [Double backward])
      Tensor xs = x.get(*this), ws = has_w ? w.get(*this) : Tensor(), bs = has_b ? b.get(*this) : Tensor();
      return grads_by_recompute(*this, {xs, ws, bs}, [&] {
        Tensor x2 = reshape(xs, {D ? xs->numel() / D : 0, D});
        Tensor xc = sub(x2, ember::mean(x2, {1}, true));
        Tensor y = reshape(mul(xc, rsqrt(add(ember::mean(mul(xc, xc), {1}, true), num(eps)))), xs->shape);
        if (ws) y = mul(y, ws);
        if (bs) y = add(y, bs);
        return y;
      }, g[0]);
    }
    Tensor xs = x.get(*this), ws = has_w ? w.get(*this) : Tensor(), gy = contiguous(g[0]);
    Tensor mu = mean.get(*this), rs = rstd.get(*this);
    const int64_t rows = D ? xs->numel() / D : 0;
    Tensor gx = needs(0) ? empty(xs->shape, xs->dtype) : Tensor();
    Tensor gw = has_w && needs(1) ? empty({D}, xs->dtype) : Tensor(), gb = has_b && needs(2) ? empty({D}, xs->dtype) : Tensor();
    EMBER_DISPATCH_FLOAT(xs->dtype, "layer_norm_backward", T, {
      layer_norm_bwd<T>(rows, D, gy->data<T>(), xs->data<T>(), ws ? ws->data<T>() : nullptr, mu->data<T>(),
                        rs->data<T>(), gx ? gx->data<T>() : nullptr, gw ? gw->data<T>() : nullptr,
                        gb ? gb->data<T>() : nullptr);
    });
    if (gw) gw = reshape(gw, nshape);
    if (gb) gb = reshape(gb, nshape);
    return {gx, gw, gb};
  }
  bool differentiable() const override { return true; }
  std::string name() const override { return "NativeLayerNormBackward0"; }
};
}  // namespace

Tensor layer_norm(const Tensor& x_, int64_t D, const Tensor& w_, const Tensor& b_, double eps) {
  if (any_storage({&x_, &w_, &b_})) return from_compute(layer_norm(to_compute(x_), D, to_compute(w_), to_compute(b_), eps), {&x_});
  for (const Tensor* t : {&w_, &b_})
    if (*t && (*t)->dtype != x_->dtype)  // (torch's messages; a float16 / bfloat16 input with float32 parameters is fine, above)
      throw std::runtime_error(x_->dtype == DType::Float32
                                   ? "mixed dtype (CPU): expect parameter to have scalar type of Float"
                                   : "mixed dtype (CPU): all inputs must share same datatype.");
  if (D < 0 || (x_->dim() && D && x_->numel() % D) || (w_ && w_->numel() != D) || (b_ && b_->numel() != D))
    throw std::runtime_error("layer_norm: expected weight and bias of " + std::to_string(D) +
                             " elements (the normalized size) and an input a multiple of it, got input " +
                             shape_str(x_->shape) + (w_ ? ", weight " + shape_str(w_->shape) : std::string()) +
                             (b_ ? ", bias " + shape_str(b_->shape) : std::string()));
  Tensor x = contiguous(x_), w = w_ ? contiguous(w_) : Tensor(), b = b_ ? contiguous(b_) : Tensor();
  const int64_t rows = D ? x->numel() / D : 0;
  Tensor y = empty(x->shape, x->dtype), mean = empty({rows}, x->dtype), rstd = empty({rows}, x->dtype);
  EMBER_DISPATCH_FLOAT(x->dtype, "LayerNormKernelImpl", T, {
    layer_norm_fwd<T>(rows, D, x->data<T>(), w ? w->data<T>() : nullptr, b ? b->data<T>() : nullptr, eps, y->data<T>(),
                      mean->data<T>(), rstd->data<T>());
  });
  if (any_requires_grad({&x_, &w_, &b_})) {
    auto n = make_node<LayerNormBackward>({&x_, &w_, &b_});
    n->x.save(x);
    if (w) n->w.save(w);
    if (b) n->b.save(b);
    n->eps = eps;
    n->mean.save(mean);
    n->rstd.save(rstd);
    n->D = D;
    n->has_w = (bool)w_, n->has_b = (bool)b_;
    if (w_ || b_) n->nshape = (w_ ? w_ : b_)->shape;
    set_history(y, n);
  }
  return y;
}

Tensor linear(const Tensor& x, const Tensor& W, const Tensor& b, bool relu) {
  if (any_storage({&x, &W, &b}))  // Note [Storage dtypes]
    return from_compute(linear(to_compute(x), to_compute(W), to_compute(b), relu), {&x, &W, &b});
  check_linear(x, W, b);
  const int64_t in = W->shape[1], outf = W->shape[0];
  Tensor x2 = x;  // a 2-D input is used as it is (no view object on the hot path)
  if (x->dim() != 2) {
    NoGradGuard ng;
    x2 = reshape(x, {leading_rows(x), in});
  }
  Shape os(x->shape.begin(), x->shape.end() - 1);
  os.push_back(outf);
  Tensor out = empty(os, x->dtype);
  linear_into(x2, W, b, relu, out);
  if (any_requires_grad({&x, &W, &b})) {
    auto n = make_node<LinearBackward>({&x, &W, &b});
    if (n->needs(1)) n->x2.save(x2);
    if (n->needs(1) && x->dim() != 2) n->x.save(x);
    n->w.save(W);
    n->x_shape = x->shape;
    n->has_bias = (bool)b;
    n->relu = relu;
    if (relu) n->y.save(out, true);
    set_history(out, n);
  }
  return out;
}

// ---- mlp: a chain of linear layers, each optionally followed by ReLU, as one op and one node
// (what Sequential(Linear, ReLU, ..., Linear) computes, without the per-layer calls and nodes).
struct MlpBackward : Node {
  SavedTensor x{this};           // the op's input (layer 0's)
  std::vector<Tensor> h;   // h[l] (l >= 1): layer l's input, the (post-ReLU) output of layer l - 1
  std::vector<SavedTensor> w;
  SavedTensor y{this};           // the op's output, for the last layer's ReLU gate
  std::vector<Tensor> b;    // the biases (null where none): only a recompute reads them
  std::vector<char> relu;
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    const size_t L = w.size();
    if (GradMode::is_enabled()) {  // create_graph: the chain again as linear ops, differentiated (Note [Double backward])
      if (released) throw std::runtime_error("Trying to backward through the graph a second time; specify retain_graph=True.");
      std::vector<Tensor> ins(1 + 2 * L);
      ins[0] = x.get(*this);
      for (size_t l = 0; l < L; ++l) ins[1 + 2 * l] = w[l].get(*this), ins[2 + 2 * l] = b[l];
      return grads_by_recompute(*this, ins, [&] {
        Tensor hl = ins[0];
        for (size_t l = 0; l < L; ++l) hl = linear(hl, ins[1 + 2 * l], ins[2 + 2 * l], relu[l]);
        return hl;
      }, g[0]);
    }
    std::vector<Tensor> r(1 + 2 * L);
    size_t first = 0;  // layers before `first` need no gradient at all: stop there
    while (first < L && !needs(1 + 2 * first) && !needs(2 + 2 * first) && !(first == 0 && needs(0))) ++first;
    Tensor gl = g[0];
    for (size_t l = L; l-- > first;) {
      if (released) throw std::runtime_error("Trying to backward through the graph a second time; specify retain_graph=True.");
      Tensor out = !relu[l] ? Tensor() : l + 1 == L ? y.get(*this) : h[l + 1];
      bool need_x = l > first || needs(0);
      Tensor in = l == 0 ? x.get(*this) : h[l];
      auto gr = linear_grads(gl, w[l].get(*this), in, out, in->shape, need_x, needs(1 + 2 * l), needs(2 + 2 * l));
      r[1 + 2 * l] = std::move(gr[1]), r[2 + 2 * l] = std::move(gr[2]);
      gl = std::move(gr[0]);
    }
    if (first == 0) r[0] = gl;
    return r;
  }
  bool last_bias = true;
  bool differentiable() const override { return true; }
  // torch's name for the node of the chain's last op
  std::string name() const override { return relu.back() ? "ReluBackward0" : last_bias ? "AddmmBackward0" : "MmBackward0"; }
  void release_saved() override {
    Node::release_saved();  // x and y
    h.clear(), w.clear(), b.clear();
  }
};

// The node of a Linear/ReLU chain (MlpBackward, BatchedMlpBackward): one edge for the input, two
// per layer (weight, bias), the weights and input saved, the layers' inputs h[1..L-1] kept, the
// output saved for the last ReLU's gate.
template <class NodeT>
std::shared_ptr<NodeT> record_chain(const Tensor& x, const std::vector<Tensor>& ws, const std::vector<Tensor>& bs,
                  const std::vector<bool>& relu, const Tensor& out, std::vector<Tensor>&& h) {
  const size_t L = ws.size();
  auto n = std::make_shared<NodeT>();
  n->next.reserve(1 + 2 * L);
  n->next.push_back(x->requires_grad ? gradient_edge(x) : Edge{});
  n->w.resize(L);  // unregistered: release_saved clears them
  for (size_t l = 0; l < L; ++l) {
    n->next.push_back(ws[l]->requires_grad ? gradient_edge(ws[l]) : Edge{});
    n->next.push_back(bs[l] && bs[l]->requires_grad ? gradient_edge(bs[l]) : Edge{});
    n->w[l].save(ws[l]);
  }
  n->x.save(x);
  n->b = bs;
  if (relu[L - 1]) n->y.save(out, true);  // as an output (a view): the node must not own it
  h.pop_back();
  h[0].reset();
  n->h = std::move(h);
  n->relu.assign(relu.begin(), relu.end());
  set_history(out, n);
  return n;
}

Tensor mlp(const Tensor& x, const std::vector<Tensor>& ws, const std::vector<Tensor>& bs, const std::vector<bool>& relu) {
  const size_t L = ws.size();
  if (L == 0 || bs.size() != L || relu.size() != L)
    throw ValueError("mlp(): expected one bias slot and one relu flag per weight, got " + std::to_string(L) + " weights, " +
                     std::to_string(bs.size()) + " biases, " + std::to_string(relu.size()) + " flags");
  bool storage = any_storage({&x});
  for (size_t i = 0; i < L && !storage; ++i) storage = any_storage({&ws[i], &bs[i]});
  if (storage) {  // Note [Storage dtypes]: layer by layer, each through linear's conversion
    Tensor h = x;
    for (size_t i = 0; i < L; ++i) h = linear(h, ws[i], bs[i], relu[i]);
    return h;
  }
  if (x->dim() != 2) {  // as linear does: the layers act on the last dim
    check_linear(x, ws[0], bs[0]);
    Tensor x2 = reshape(x, {leading_rows(x), x->shape.back()});
    Tensor o = mlp(x2, ws, bs, relu);
    Shape os(x->shape.begin(), x->shape.end() - 1);
    os.push_back(o->shape[1]);
    return reshape(o, os);
  }
  std::vector<Tensor> h(L + 1);
  h[0] = x;
  bool grad = GradMode::is_enabled() && x->requires_grad;
  for (size_t l = 0; l < L; ++l) {
    check_linear(h[l], ws[l], bs[l]);
    h[l + 1] = empty({h[l]->shape[0], ws[l]->shape[0]}, x->dtype);
    grad |= any_requires_grad({&ws[l], &bs[l]});
  }
  for (size_t l = 0; l < L; ++l) linear_into(h[l], ws[l], bs[l], relu[l], h[l + 1]);
  Tensor out = h[L];
  if (grad) {
    record_chain<MlpBackward>(x, ws, bs, relu, out, std::move(h))->last_bias = (bool)bs[L - 1];
  }
  return out;
}

// ---- batched_linear: a stack of linear layers (an ensemble's layer under vmap) as one op and one
// node: one product per layer, the bias added as each row is written back, and gradients that come
// out contiguous (matmul with a transposed weight would give a transposed weight gradient, which a
// .grad accumulation then copies element by element).
namespace {
void check_batched_linear(const Tensor& x, const Tensor& W, const Tensor& b) {
  if (x->dim() != 3 || W->dim() != 3 || x->shape[0] != W->shape[0] || x->shape[2] != W->shape[2] ||
      (b && (b->dim() != 2 || b->shape[0] != W->shape[0] || b->shape[1] != W->shape[1])))
    throw std::runtime_error("batched_linear(): expected input (B, N, in), weight (B, out, in) and bias (B, out), got " +
                             shape_str(x->shape) + ", " + shape_str(W->shape) + (b ? ", " + shape_str(b->shape) : ""));
  if (x->dtype != W->dtype || (b && b->dtype != W->dtype) || !is_floating(W->dtype))
    throw std::runtime_error("batched_linear(): expected floating input, weight and bias of one dtype");
}
}  // namespace

struct BatchedLinearBackward : Node {
  SavedTensor x{this}, w{this}, b{this};
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    Tensor X = x.get(*this), W = w.get(*this);
    if (GradMode::is_enabled()) {  // Note [Double backward]
      Tensor Bs = b.t ? b.get(*this) : Tensor();
      return grads_by_recompute(*this, {X, W, Bs}, [&] {
        Tensor y = matmul(X, transpose(W, 1, 2));
        return Bs ? add(y, unsqueeze(Bs, 1)) : y;
      }, g[0]);
    }
    Tensor gy = contiguous(g[0]->dtype == W->dtype ? g[0] : cast_nograd(g[0], W->dtype));
    const int64_t B = W->shape[0], out = W->shape[1], in = W->shape[2], N = X->shape[1];
    const bool shared = W->strides[0] == 0;  // one weight for every layer: gx is one product
    std::vector<Tensor> r(3);
    if (needs(0)) r[0] = empty({B, N, in}, W->dtype);
    if (needs(1)) r[1] = empty({B, out, in}, W->dtype);
    if (needs(2)) r[2] = empty({B, out}, W->dtype);
    // per-slice weight gradients that fill far more than the caches (vmap(grad)'s per-sample
    // gradients) are written with streaming stores (Note [Streaming products])
    const bool stream = r[1] && stream_pays(r[1]->numel() * (int64_t)itemsize(W->dtype));
    EMBER_DISPATCH_FLOAT(W->dtype, "batched_linear_backward", T, {
      const T* gp = gy->data<T>();
      if (r[0] && shared)
        gemm<T>(B * N, in, out, MatRef{gp, out, 1}, MatRef{W->data<T>(), W->strides[1], W->strides[2]}, r[0]->data<T>());
      parallel_items(B, N * out * (in * ((r[0] && !shared) + (bool)r[1]) + 1), [&](int64_t i) {  // Note [Batched products]
        const T* gi = gp + i * N * out;
        if (r[0] && !shared)  // gx[i] = g[i] @ W[i]
          gemm<T>(N, in, out, MatRef{gi, out, 1}, MatRef{W->data<T>() + i * W->strides[0], W->strides[1], W->strides[2]},
                  r[0]->data<T>() + i * N * in);
        if (r[1]) {  // gW[i] = g[i]^T @ x[i]
          const MatRef a{gi, 1, out}, b{X->data<T>() + i * X->strides[0], X->strides[1], X->strides[2]};
          T* c = r[1]->data<T>() + i * out * in;
          if (!(stream && gemm_stream<T>(out, in, N, a, b, c))) gemm<T>(out, in, N, a, b, c);
        }
        if (r[2]) {  // gb[i] = the column sums of g[i], while g[i] is in cache
          T* gb = r[2]->data<T>() + i * out;
          std::fill(gb, gb + out, T(0));
          for (int64_t n = 0; n < N; ++n)
            for (int64_t o = 0; o < out; ++o) gb[o] += gi[n * out + o];
        }
      });
    });
    return r;
  }
  bool differentiable() const override { return true; }
  std::string name() const override { return "BatchedLinearBackward0"; }
};

Tensor batched_linear(const Tensor& x, const Tensor& W, const Tensor& b) {
  check_batched_linear(x, W, b);
  const int64_t B = W->shape[0], out = W->shape[1], in = W->shape[2], N = x->shape[1];
  Tensor y = empty({B, N, out}, W->dtype);
  if (W->strides[0] == 0 && (!b || b->strides[0] == 0)) {  // one weight (and bias) for all: one product
    Tensor xc = contiguous(x);
    EMBER_DISPATCH_FLOAT(W->dtype, "batched_linear", T, {
      Epilogue<T> ep;
      Tensor b0 = b ? contiguous(select(b, 0, 0)) : Tensor();
      if (b0) ep.bias = b0->data<T>();
      gemm<T>(B * N, out, in, MatRef{xc->data<T>(), in, 1}, MatRef{W->data<T>(), W->strides[2], W->strides[1]},
              y->data<T>(), ep);
    });
  } else {
  Tensor bc = b ? contiguous(b) : Tensor();
  EMBER_DISPATCH_FLOAT(W->dtype, "batched_linear", T, {
    parallel_items(B, N * out * in, [&](int64_t i) {  // Note [Batched products]
      Epilogue<T> ep;
      if (bc) ep.bias = bc->data<T>() + i * out;
      gemm<T>(N, out, in, MatRef{x->data<T>() + i * x->strides[0], x->strides[1], x->strides[2]},
              MatRef{W->data<T>() + i * W->strides[0], W->strides[2], W->strides[1]}, y->data<T>() + i * N * out, ep);
    });
  });
  }
  if (any_requires_grad({&x, &W, &b})) {
    auto n = make_node<BatchedLinearBackward>({&x, &W, &b});
    n->x.save(x), n->w.save(W);
    if (b) n->b.save(b);
    set_history(y, n);
  }
  return y;
}

// ---- batched_mlp: an ensemble's Sequential(Linear, ReLU, ..., Linear) under vmap as one op and one
// node (Note [Batched vmap]): slice i's whole chain runs as one task, layer after layer, its bias and
// ReLU applied as each product writes out, so a slice's activations stay in its core's cache; the
// backward runs each slice's chain back the same way (gate, bias sums, the two products per layer).
namespace {
void check_batched_mlp(const Tensor& x, const std::vector<Tensor>& ws, const std::vector<Tensor>& bs,
                       const std::vector<bool>& relu) {
  const size_t L = ws.size();
  if (L == 0 || bs.size() != L || relu.size() != L)
    throw ValueError("batched_mlp(): expected one bias slot and one relu flag per weight, got " + std::to_string(L) +
                     " weights, " + std::to_string(bs.size()) + " biases, " + std::to_string(relu.size()) + " flags");
  int64_t in = x->dim() == 3 ? x->shape[2] : -1;
  for (size_t l = 0; l < L; ++l) {
    const Tensor &W = ws[l], &b = bs[l];
    if (x->dim() != 3 || W->dim() != 3 || W->shape[0] != x->shape[0] || W->shape[2] != in ||
        (b && (b->dim() != 2 || b->shape[0] != W->shape[0] || b->shape[1] != W->shape[1])))
      throw std::runtime_error("batched_mlp(): layer " + std::to_string(l) + " expected input (B, N, " +
                               std::to_string(in) + "), weight (B, out, " + std::to_string(in) + ") and bias (B, out), got " +
                               shape_str(x->shape) + ", " + shape_str(W->shape) + (b ? ", " + shape_str(b->shape) : ""));
    if (W->dtype != x->dtype || (b && b->dtype != x->dtype) || !is_floating(x->dtype) || is_storage_only(x->dtype))
      throw std::runtime_error("batched_mlp(): expected float32 or float64 input, weights and biases of one dtype");
    in = W->shape[1];
  }
}
}  // namespace

struct BatchedMlpBackward : Node {
  SavedTensor x{this};
  std::vector<SavedTensor> w;
  std::vector<Tensor> h;  // h[l] (l >= 1): layer l's input (B, N, in_l), contiguous
  SavedTensor y{this};    // the output, for the last layer's ReLU gate
  std::vector<Tensor> b;  // only a recompute reads them
  std::vector<char> relu;
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    if (released) throw std::runtime_error("Trying to backward through the graph a second time; specify retain_graph=True.");
    const size_t L = w.size();
    std::vector<Tensor> W(L);
    for (size_t l = 0; l < L; ++l) W[l] = w[l].get(*this);
    Tensor X = x.get(*this);
    if (GradMode::is_enabled()) {  // create_graph: the chain as batched_linear and relu ops (Note [Double backward])
      std::vector<Tensor> ins(1 + 2 * L);
      ins[0] = X;
      for (size_t l = 0; l < L; ++l) ins[1 + 2 * l] = W[l], ins[2 + 2 * l] = b[l];
      return grads_by_recompute(*this, ins, [&] {
        Tensor hl = ins[0];
        for (size_t l = 0; l < L; ++l) {
          hl = batched_linear(hl, ins[1 + 2 * l], ins[2 + 2 * l]);
          if (relu[l]) hl = ember::relu(hl);
        }
        return hl;
      }, g[0]);
    }
    const DType dt = X->dtype;
    const int64_t B = X->shape[0], N = X->shape[1];
    Tensor go = contiguous(g[0]->dtype == dt ? g[0] : cast_nograd(g[0], dt));
    Tensor Y = relu[L - 1] ? contiguous(y.get(*this)) : Tensor();
    size_t first = 0;  // layers before `first` need no gradient: the chain back stops there
    while (first < L && !needs(1 + 2 * first) && !needs(2 + 2 * first) && !(first == 0 && needs(0))) ++first;
    // The slice's inner gradients (the gated one and dL/d(layer input), which alternates between two
    // buffers) live in the running thread's scratch, not in B-sized tensors: a slice's are a few KB
    // and stay in L1, where B-sized ones passed through the cache on the way to memory and evicted
    // the parameters, gradients and momentum the optimizer reads next.
    std::vector<Tensor> r(1 + 2 * L);
    int64_t work = 0, widest = 0;
    for (size_t l = first; l < L; ++l) {
      const int64_t out = W[l]->shape[1], in = W[l]->shape[2];
      if (needs(1 + 2 * l)) r[1 + 2 * l] = empty({B, out, in}, dt);
      if (needs(2 + 2 * l)) r[2 + 2 * l] = empty({B, out}, dt);
      widest = std::max({widest, out, in});
      work += 2 * N * out * in;
    }
    if (first == 0 && needs(0)) r[0] = empty({B, N, X->shape[2]}, dt);
    EMBER_DISPATCH_FLOAT(dt, "batched_mlp_backward", T, {
      parallel_items(B, work, [&](int64_t i) {  // Note [Batched products]
        std::vector<double> acc;
        T* scratch = thread_scratch<T>(3 * N * widest);
        T* gin[2] = {scratch + N * widest, scratch + 2 * N * widest};
        const T* gl = go->data<T>() + i * go->strides[0];  // dL/d(layer l's output), slice i
        for (size_t l = L; l-- > first;) {
          const int64_t out = W[l]->shape[1], in = W[l]->shape[2];
          const Tensor& in_t = l == 0 ? X : h[l];
          const T* xi = in_t->data<T>() + i * in_t->strides[0];
          const T* yi = !relu[l] ? nullptr : l + 1 == L ? Y->data<T>() + i * N * out : h[l + 1]->data<T>() + i * N * out;
          T* gi = relu[l] ? scratch : const_cast<T*>(gl);
          acc.assign(r[2 + 2 * l] ? out : 0, 0.0);
          if (yi || r[2 + 2 * l]) relu_gate_colsum_any(N, out, gl, yi, gi, r[2 + 2 * l] ? acc.data() : nullptr);
          if (r[2 + 2 * l]) {
            T* gb = r[2 + 2 * l]->data<T>() + i * out;
            for (int64_t o = 0; o < out; ++o) gb[o] = (T)acc[o];
          }
          const T* Wi = W[l]->data<T>() + i * W[l]->strides[0];
          if (r[1 + 2 * l])  // gW[i] = g[i]^T @ in[i]
            gemm<T>(out, in, N, MatRef{gi, 1, out}, MatRef{xi, in_t->strides[1], in_t->strides[2]},
                    r[1 + 2 * l]->data<T>() + i * out * in);
          if (l > first || r[0]) {  // dL/d(in)[i] = g[i] @ W[i]
            T* gx = l == 0 ? r[0]->data<T>() + i * N * in : gin[l % 2];  // not gl's buffer: gl may be gi
            gemm<T>(N, in, out, MatRef{gi, out, 1}, MatRef{Wi, W[l]->strides[1], W[l]->strides[2]}, gx);
            gl = gx;
          }
        }
      });
    });
    return r;
  }
  bool differentiable() const override { return true; }
  std::string name() const override { return relu.back() ? "ReluBackward0" : "BatchedMlpBackward0"; }
  void release_saved() override {
    Node::release_saved();
    w.clear(), h.clear(), b.clear();
  }
};

Tensor batched_mlp(const Tensor& x, const std::vector<Tensor>& ws, const std::vector<Tensor>& bs, const std::vector<bool>& relu) {
  check_batched_mlp(x, ws, bs, relu);
  const size_t L = ws.size();
  const DType dt = x->dtype;
  const int64_t B = x->shape[0], N = x->shape[1];
  std::vector<Tensor> h(L + 1), bc(L);
  h[0] = x;
  int64_t work = 0;
  for (size_t l = 0; l < L; ++l) {
    h[l + 1] = empty({B, N, ws[l]->shape[1]}, dt);
    if (bs[l]) bc[l] = bs[l]->strides[1] == 1 ? bs[l] : contiguous(bs[l]);
    work += N * ws[l]->shape[1] * ws[l]->shape[2];
  }
  EMBER_DISPATCH_FLOAT(dt, "batched_mlp", T, {
    parallel_items(B, work, [&](int64_t i) {  // Note [Batched products]
      for (size_t l = 0; l < L; ++l) {
        const Tensor &W = ws[l], &in = h[l];
        const int64_t out = W->shape[1], k = W->shape[2];
        Epilogue<T> ep;
        if (bc[l]) ep.bias = bc[l]->data<T>() + i * bc[l]->strides[0];
        ep.relu = relu[l];
        gemm<T>(N, out, k, MatRef{in->data<T>() + i * in->strides[0], in->strides[1], in->strides[2]},
                MatRef{W->data<T>() + i * W->strides[0], W->strides[2], W->strides[1]}, h[l + 1]->data<T>() + i * N * out, ep);
      }
    });
  });
  Tensor y = h[L];
  bool grad = x->requires_grad;
  for (size_t l = 0; l < L; ++l) grad |= any_requires_grad({&ws[l], &bs[l]});
  if (grad && GradMode::is_enabled()) record_chain<BatchedMlpBackward>(x, ws, bs, relu, y, std::move(h));
  return y;
}

// ---- mse_loss
struct MseLossBackward : Node {
  SavedTensor diff{this};  // input - target, computed in forward
  SavedTensor input{this}, target{this};  // with their history, for a create_graph recompute
  int reduction;
  Shape in_shape, tg_shape;
  MseLossBackward(int r, Shape a, Shape b) : reduction(r), in_shape(std::move(a)), tg_shape(std::move(b)) {}
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    if (GradMode::is_enabled()) {  // Note [Double backward]
      Tensor a = input.get(*this), t = target.get(*this);
      return grads_by_recompute(*this, {a, t}, [&] {
        Tensor d = sub(a, t);
        return reduce_loss(mul(d, d), reduction);
      }, g[0]);
    }
    Tensor d = diff.get(*this);
    double k = reduction == kMean ? 2.0 / (double)std::max<int64_t>(d->numel(), 1) : 2.0;
    Tensor gi = map2(d, g[0], d->dtype, "mse_loss_backward", [k](auto dv, auto gv) { return k * dv * gv; });
    std::vector<Tensor> r(2);
    if (needs(0)) r[0] = sum_to(gi, in_shape);
    if (needs(1)) r[1] = sum_to(neg(gi), tg_shape);
    return r;
  }
  bool differentiable() const override { return true; }
  std::string name() const override { return "MseLossBackward0"; }
};
Tensor mse_loss(const Tensor& input, const Tensor& target, int reduction) {
  if (any_storage({&input, &target}))
    return from_compute(mse_loss(to_compute(input), to_compute(target), reduction), {&input, &target});
  Tensor d, l;
  {
    NoGradGuard ng;
    d = sub(input, target);
    check_float(d, "mse_loss");
    if (reduction == kNone) {
      l = mul(d, d);
    } else {
      double s = 0;
      Tensor dc = contiguous(d);
      EMBER_DISPATCH_FLOAT(d->dtype, "mse_loss", T, {
        const T* p = dc->data<T>();
        for (int64_t i = 0, n = dc->numel(); i < n; ++i) s += (double)p[i] * (double)p[i];
      });
      if (reduction == kMean) s /= (double)d->numel();
      l = full({}, Scalar(s), d->dtype);
    }
  }
  if (any_requires_grad({&input, &target})) {
    auto n = make_node<MseLossBackward>({&input, &target}, reduction, input->shape, target->shape);
    n->diff.save(d);
    n->input.save(input), n->target.save(target);
    set_history(l, n);
  }
  return l;
}

// ---- cross_entropy / nll_loss over (N, C) rows with class-index targets
namespace {
struct CEPlan {
  int64_t N, C;
  std::vector<double> row_w;  // weight of each row's target (0 when ignored)
  double denom;
};
}  // namespace

struct CrossEntropyBackward : Node {
  Tensor probs;  // softmax(x) (or exp(logp) for nll), owned by the node
  Tensor target, weight;
  SavedTensor input{this};  // the logits with their history, for a create_graph recompute
  int64_t ignore_index;
  double smoothing;
  int reduction;
  double denom;
  bool is_nll;
  // The loss from differentiable ops, as the forward computes it: rows weighted by their target's
  // weight (0 when ignored), label smoothing over all classes, the mean over the weights' total.
  Tensor composite(const Tensor& x) const {
    const int64_t N = x->shape[0], C = x->shape[1];
    Tensor logp = is_nll ? x : log_softmax(x, 1);
    Tensor tg = empty({N, 1}, DType::Int64), rw = empty({N}, x->dtype), keep = empty({N, 1}, x->dtype);
    const int64_t* t = target->data<int64_t>();
    EMBER_DISPATCH_FLOAT(x->dtype, "cross_entropy_backward", T, {
      const T* w = weight ? weight->data<T>() : nullptr;
      for (int64_t i = 0; i < N; ++i) {
        const bool ign = t[i] == ignore_index;
        tg->data<int64_t>()[i] = ign ? 0 : t[i];
        rw->data<T>()[i] = ign ? T(0) : w ? w[t[i]] : T(1);
        keep->data<T>()[i] = ign ? T(0) : T(1);
      }
    });
    Tensor loss = neg(mul(rw, reshape(gather(logp, 1, tg), {N})));
    if (smoothing > 0) {
      Tensor wl = weight ? mul(logp, weight) : logp;
      Tensor smooth = neg(reshape(sum(mul(wl, keep), {1}, false), {N}));
      loss = add(mul(loss, num(1 - smoothing)), mul(smooth, num(smoothing / (double)C)));
    }
    if (reduction == kNone) return loss;
    Tensor s = sum(loss, {}, false);
    return reduction == kMean ? div(s, num(denom)) : s;
  }
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    if (released) throw std::runtime_error("Trying to backward through the graph a second time; specify retain_graph=True.");
    if (GradMode::is_enabled()) {  // Note [Double backward]
      Tensor x = input.get(*this);
      return grads_by_recompute(*this, {x}, [&] { return composite(x); }, g[0]);
    }
    int64_t N = probs->shape[0], C = probs->shape[1];
    Tensor go = contiguous(g[0]->dtype == probs->dtype ? g[0] : cast_nograd(g[0], probs->dtype));
    const int64_t* tg = target->data<int64_t>();
    if (!is_nll && !weight && smoothing == 0 && reduction != kNone) {
      // the common case in whole-array loops: g * (p - onehot), with one scale for every row
      Tensor gx = empty(probs->shape, probs->dtype);
      EMBER_DISPATCH_FLOAT(probs->dtype, "cross_entropy_backward", T, {
        const T ga = (T)((double)go->data<T>()[0] / (reduction == kMean ? denom : 1.0));
        const T* p = probs->data<T>();
        T* o = gx->data<T>();
        for (int64_t k = 0; k < N * C; ++k) o[k] = ga * p[k];
        for (int64_t i = 0; i < N; ++i) {
          if (tg[i] == ignore_index) std::fill(o + i * C, o + (i + 1) * C, T(0));
          else o[i * C + tg[i]] -= ga;
        }
      });
      return {gx};
    }
    Tensor gx = zeros(probs->shape, probs->dtype);
    EMBER_DISPATCH_FLOAT(probs->dtype, "cross_entropy_backward", T, {
      const T* p = probs->data<T>();
      const T* w = weight ? weight->data<T>() : nullptr;
      T* o = gx->data<T>();
      const T* gp = go->data<T>();
      double wsum = 0;
      for (int64_t c = 0; c < C; ++c) wsum += w ? (double)w[c] : 1.0;
      for (int64_t i = 0; i < N; ++i) {
        int64_t y = tg[i];
        if (y == ignore_index) continue;
        double gi = reduction == kNone ? (double)gp[i] : (double)gp[0] / (reduction == kMean ? denom : 1.0);
        double wy = w ? (double)w[y] : 1.0;
        T* orow = o + i * C;
        if (is_nll) {
          orow[y] = (T)(-gi * wy);
          continue;
        }
        const T* prow = p + i * C;
        double a = (1 - smoothing) * wy, s = smoothing / (double)C;
        if (!w && smoothing == 0) {  // the common case: gi * (p - onehot), in the input's precision
          const T ga = (T)(gi * a);
          for (int64_t c = 0; c < C; ++c) orow[c] = ga * prow[c];
          orow[y] -= ga;
          continue;
        }
        for (int64_t c = 0; c < C; ++c) {
          double wc = w ? (double)w[c] : 1.0;
          orow[c] = (T)(gi * (a * (double)prow[c] + s * ((double)prow[c] * wsum - wc)));
        }
        orow[y] = (T)((double)orow[y] - gi * a);
      }
    });
    return {gx};
  }
  bool differentiable() const override { return true; }
  std::string name() const override { return is_nll ? "NllLossBackward0" : "CrossEntropyLossBackward0"; }
  void release_saved() override { probs.reset(), target.reset(), weight.reset(); }
};

// Every row's log-sum-exp (and probabilities into p) for float32, in one call: NaN where a row's max
// is not finite (the caller's exact loop takes those rows). float64: NaN everywhere.
static std::vector<double> ce_lse_rows(const float* x, float* p, int64_t N, int64_t C) {
  std::vector<float> lse(N), mx(N);
  softmax_lse_rows(x, p, N, C, lse.data(), mx.data());
  std::vector<double> r(N);
  for (int64_t i = 0; i < N; ++i) r[i] = (double)mx[i] + (double)lse[i];
  return r;
}
static std::vector<double> ce_lse_rows(const double*, double*, int64_t N, int64_t) { return std::vector<double>(N, NAN); }

static Tensor ce_impl(const Tensor& x, const Tensor& target0, const Tensor& weight0, int64_t ignore_index, double smoothing,
                      int reduction, bool is_nll) {
  const char* op = is_nll ? "nll_loss" : "cross_entropy";
  check_float(x, op);
  if (x->dim() != 2) throw std::runtime_error(std::string(op) + ": expected 2-D input (N, C), got " + shape_str(x->shape));
  if (target0->dtype != DType::Int64)
    throw std::runtime_error(std::string("expected target dtype to be Long or Byte, but got ") + scalar_type_name(target0->dtype) +
                             " (" + op + ": class indices, target " + shape_str(target0->shape) + ")");
  if (target0->dim() > 1)
    throw std::runtime_error(std::string("0D or 1D target tensor expected, multi-target not supported (") + op + ": input " +
                             shape_str(x->shape) + ", target " + shape_str(target0->shape) + ")");
  int64_t N = x->shape[0], C = x->shape[1];
  if (target0->dim() != 1 || target0->shape[0] != N)
    throw ValueError(std::string(op) + ": Expected input batch_size (" + std::to_string(N) + ") to match target batch_size (" +
                     std::to_string(target0->dim() ? target0->shape[0] : 0) + ") (input " + shape_str(x->shape) + ", target " +
                     shape_str(target0->shape) + ")");
  Tensor weight;
  if (weight0) {
    if (weight0->numel() != C)
      throw std::runtime_error(std::string(op) + ": weight tensor should be defined either for all " + std::to_string(C) +
                               " classes or no classes but got weight tensor of shape: " + shape_str(weight0->shape));
    weight = contiguous(cast_nograd(weight0, x->dtype));
  }
  Tensor target = contiguous(target0);
  Tensor xc = contiguous(x);
  const int64_t* tg = target->data<int64_t>();
  for (int64_t i = 0; i < N; ++i)
    if (tg[i] != ignore_index && (tg[i] < 0 || tg[i] >= C))
      throw IndexError(std::string(op) + ": Target " + std::to_string(tg[i]) + " is out of bounds (number of classes " +
                       std::to_string(C) + ").");
  Tensor probs = is_nll ? Tensor() : empty({N, C}, x->dtype);
  Tensor losses = empty({N}, x->dtype);
  double wtotal = 0;
  EMBER_DISPATCH_FLOAT(x->dtype, op, T, {
    const T* xp = xc->data<T>();
    const T* w = weight ? weight->data<T>() : nullptr;
    T* lp = losses->data<T>();
    // (float32 rows with a finite max: the SIMD kernel, all rows in one call)
    const std::vector<double> lses = is_nll ? std::vector<double>() : ce_lse_rows(xp, probs->data<T>(), N, C);
    // unweighted, unsmoothed, every row's log-sum-exp finite: the loss is lse - x[y], in one tight loop
    bool plain = !is_nll && !w && smoothing == 0;
    for (int64_t i = 0; i < N && plain; ++i) plain = !std::isnan(lses[i]);
    int64_t counted = 0;
    for (int64_t i = 0; plain && i < N; ++i) {
      const int64_t y = tg[i];
      const bool keep = y != ignore_index;
      lp[i] = keep ? (T)(lses[i] - (double)xp[i * C + (keep ? y : 0)]) : T(0);
      counted += keep;
    }
    wtotal = (double)counted;
    for (int64_t i = 0; !plain && i < N; ++i) {
      const T* row = xp + i * C;
      int64_t y = tg[i];
      if (is_nll) {
        if (y == ignore_index) { lp[i] = 0; continue; }
        double wy = w ? (double)w[y] : 1.0;
        lp[i] = (T)(-wy * (double)row[y]);
        wtotal += wy;
        continue;
      }
      T* pr = probs->data<T>() + i * C;
      double lse = lses[i];
      if (std::isnan(lse)) {
        double mx = -INFINITY;
        for (int64_t c = 0; c < C; ++c) mx = std::max(mx, (double)row[c]);
        if (std::isinf(mx)) mx = 0;
        double s = 0;
        for (int64_t c = 0; c < C; ++c) {  // exp in the input's precision (expf for float32), as torch
          T e = std::exp(row[c] - (T)mx);
          pr[c] = e;
          s += (double)e;
        }
        lse = std::log(s) + mx;
        for (int64_t c = 0; c < C; ++c) pr[c] = (T)((double)pr[c] / s);
      }
      if (y == ignore_index) { lp[i] = 0; continue; }
      double wy = w ? (double)w[y] : 1.0;
      double nll = -wy * ((double)row[y] - lse);
      double smooth = 0;
      if (smoothing > 0)
        for (int64_t c = 0; c < C; ++c) smooth -= (w ? (double)w[c] : 1.0) * ((double)row[c] - lse);
      lp[i] = (T)((1 - smoothing) * nll + smoothing / (double)C * smooth);
      wtotal += wy;
    }
  });
  Tensor out;
  double denom = wtotal;
  if (reduction == kNone) out = losses;
  else {
    double s = 0;
    EMBER_DISPATCH_FLOAT(x->dtype, op, T, {
      // in double, four running sums (one chain waited on each addition's latency: 2 us for 2048 rows)
      const T* lp = losses->data<T>();
      double a[4] = {0, 0, 0, 0};
      int64_t i = 0;
      for (; i + 4 <= N; i += 4)
        for (int k = 0; k < 4; ++k) a[k] += (double)lp[i + k];
      for (; i < N; ++i) a[0] += (double)lp[i];
      s = (a[0] + a[1]) + (a[2] + a[3]);
    });
    out = full({}, Scalar(reduction == kMean ? s / denom : s), x->dtype);
  }
  if (any_requires_grad({&x})) {
    auto n = make_node<CrossEntropyBackward>({&x});
    n->probs = probs ? probs : xc;
    n->target = target;
    n->weight = weight;
    n->ignore_index = ignore_index;
    n->smoothing = smoothing;
    n->reduction = reduction;
    n->denom = denom;
    n->is_nll = is_nll;
    n->input.save(x);
    set_history(out, n);
  }
  return out;
}
Tensor cross_entropy(const Tensor& x, const Tensor& target, const Tensor& weight, int64_t ignore_index, double smoothing,
                     int reduction) {
  if (any_storage({&x, &target, &weight}))
    return from_compute(cross_entropy(to_compute(x), to_compute(target), to_compute(weight), ignore_index, smoothing,
                                      reduction), {&x, &weight});
  if (smoothing < 0 || smoothing > 1)
    throw std::runtime_error("label_smoothing must be between 0.0 and 1.0. Got: " + std::to_string(smoothing));
  return ce_impl(x, target, weight, ignore_index, smoothing, reduction, false);
}
Tensor nll_loss(const Tensor& logp, const Tensor& target, const Tensor& weight, int64_t ignore_index, int reduction) {
  if (any_storage({&logp, &target, &weight}))
    return from_compute(nll_loss(to_compute(logp), to_compute(target), to_compute(weight), ignore_index, reduction),
                        {&logp, &weight});
  return ce_impl(logp, target, weight, ignore_index, 0.0, reduction, true);
}

// ---- binary_cross_entropy_with_logits: max(x,0) - x*t + log1p(exp(-|x|)), with pos_weight
struct BCEWithLogitsBackward : Node {
  SavedTensor x{this}, t{this}, w{this}, pw{this};
  int reduction;
  explicit BCEWithLogitsBackward(int r) : reduction(r) {}
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    Tensor X = x.get(*this), Tt = t.get(*this), W = w.get(*this), PW = pw.get(*this);
    DType d = X->dtype;
    if (GradMode::is_enabled()) {  // Note [Double backward]: the forward's formula, differentiated
      return grads_by_recompute(*this, {X, Tt}, [&] {
        Tensor sp = add(log1p(exp(neg(abs(X)))), relu(neg(X)));  // log(1 + exp(-x)), stably
        Tensor lw = PW ? add(mul(sub(PW, num(1)), Tt), num(1)) : Tensor();
        Tensor l = add(mul(sub(num(1), Tt), X), lw ? mul(lw, sp) : sp);
        if (W) l = mul(l, W);
        return reduce_loss(l, reduction);
      }, g[0]);
    }
    Tensor gx;
    if (PW) {
      Tensor lw = add(mul(sub(PW, scalar_tensor(Scalar(1.0))), Tt), scalar_tensor(Scalar(1.0)));  // 1 + (pw-1) t
      Tensor sg = map1(X, d, "bce_backward", [](auto v) { return v >= 0 ? std::exp(-v) / (1 + std::exp(-v)) : 1 / (1 + std::exp(v)); });
      gx = sub(sub(scalar_tensor(Scalar(1.0)), Tt), mul(lw, sg));  // (1-t) - lw * sigmoid(-x)
    } else {
      gx = sub(sigmoid(X), Tt);
    }
    if (W) gx = mul(gx, W);
    Tensor gg = g[0];
    if (reduction == kMean) gg = div(gg, scalar_tensor(Scalar((double)X->numel())));
    std::vector<Tensor> r(2);
    if (needs(0)) r[0] = mul(gx, gg);
    if (needs(1)) {
      Tensor gt = neg(X);  // d/dt of (1 - t) x + (1 + (pw - 1) t) softplus(-x)
      if (PW) {
        Tensor sp = map1(X, d, "bce_backward", [](auto v) { return std::log1p(std::exp(-std::abs(v))) + (v < 0 ? -v : 0 * v); });
        gt = add(gt, mul(sub(PW, scalar_tensor(Scalar(1.0))), sp));
      }
      if (W) gt = mul(gt, W);
      r[1] = mul(gt, gg);
    }
    return r;
  }
  bool differentiable() const override { return true; }
  std::string name() const override { return "BinaryCrossEntropyWithLogitsBackward0"; }
};
Tensor binary_cross_entropy_with_logits(const Tensor& x, const Tensor& t, const Tensor& weight, const Tensor& pos_weight,
                                        int reduction) {
  if (any_storage({&x, &t, &weight, &pos_weight}))
    return from_compute(binary_cross_entropy_with_logits(to_compute(x), to_compute(t), to_compute(weight),
                                                         to_compute(pos_weight), reduction), {&x, &t});
  check_float(x, "binary_cross_entropy_with_logits");
  if (x->shape != t->shape)
    throw ValueError("Target size (" + shape_str(t->shape) + ") must be the same as input size (" + shape_str(x->shape) + ")");
  Tensor tt = t->dtype == x->dtype ? t : cast_nograd(t, x->dtype);
  Tensor l;
  {
    NoGradGuard ng;
    DType d = x->dtype;
    Tensor sp = map1(x, d, "bce_with_logits", [](auto v) { return std::log1p(std::exp(-std::abs(v))) + (v < 0 ? -v : 0 * v); });
    // sp = log(1 + exp(-x)) computed stably; loss = (1 - t) x + lw * sp
    Tensor lw = pos_weight ? add(mul(sub(pos_weight, scalar_tensor(Scalar(1.0))), tt), scalar_tensor(Scalar(1.0))) : Tensor();
    Tensor a = mul(sub(scalar_tensor(Scalar(1.0)), tt), x);
    l = add(a, lw ? mul(lw, sp) : sp);
    if (weight) l = mul(l, weight);
    if (l->dtype != d) l = cast_nograd(l, d);
    l = reduce_loss(l, reduction);
  }
  if (any_requires_grad({&x, &t})) {
    auto n = make_node<BCEWithLogitsBackward>({&x, &t}, reduction);
    n->x.save(x), n->t.save(tt);
    if (weight) n->w.save(weight);
    if (pos_weight) n->pw.save(pos_weight);
    set_history(l, n);
  }
  return l;
}

// ---- binary_cross_entropy on probabilities; log clamped at -100 as torch
struct BCEBackward : Node {
  SavedTensor p{this}, t{this}, w{this};
  int reduction;
  explicit BCEBackward(int r) : reduction(r) {}
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    Tensor P = p.get(*this), Tt = t.get(*this), W = w.get(*this);
    DType d = P->dtype;
    if (GradMode::is_enabled()) {  // Note [Double backward]: the forward's formula, differentiated
      return grads_by_recompute(*this, {P, Tt}, [&] {
        Tensor l = neg(add(mul(Tt, clamp(log(P), Scalar(-100.0), std::nullopt)),
                           mul(sub(num(1), Tt), clamp(log(sub(num(1), P)), Scalar(-100.0), std::nullopt))));
        if (W) l = mul(l, W);
        return reduce_loss(l, reduction);
      }, g[0]);
    }
    // (p - t) / max(p (1 - p), 1e-12)
    Tensor gp = map2(P, Tt, d, "bce_backward", [](auto pv, auto tv) {
      auto den = pv * (1 - pv);
      return (pv - tv) / (den > 1e-12 ? den : decltype(den)(1e-12));
    });
    if (W) gp = mul(gp, W);
    Tensor gg = g[0];
    if (reduction == kMean) gg = div(gg, scalar_tensor(Scalar((double)P->numel())));
    std::vector<Tensor> r(2);
    if (needs(0)) r[0] = mul(gp, gg);
    if (needs(1)) {
      Tensor gt = map1(P, d, "bce_backward", [](auto pv) { return std::max(std::log(1 - pv), decltype(pv)(-100)) - std::max(std::log(pv), decltype(pv)(-100)); });
      if (W) gt = mul(gt, W);
      r[1] = mul(gt, gg);
    }
    return r;
  }
  bool differentiable() const override { return true; }
  std::string name() const override { return "BinaryCrossEntropyBackward0"; }
};
Tensor binary_cross_entropy(const Tensor& p, const Tensor& t, const Tensor& weight, int reduction) {
  if (any_storage({&p, &t, &weight}))
    return from_compute(binary_cross_entropy(to_compute(p), to_compute(t), to_compute(weight), reduction), {&p, &t});
  check_float(p, "binary_cross_entropy");
  if (p->shape != t->shape)
    throw ValueError("Using a target size (" + shape_str(t->shape) + ") that is different to the input size (" +
                     shape_str(p->shape) + ") is deprecated. Please ensure they have the same size.");
  Tensor tt = t->dtype == p->dtype ? t : cast_nograd(t, p->dtype);
  Tensor l;
  {
    NoGradGuard ng;
    Tensor pc = contiguous(p);
    EMBER_DISPATCH_FLOAT(p->dtype, "binary_cross_entropy", T, {
      const T* q = pc->data<T>();
      for (int64_t i = 0, n = pc->numel(); i < n; ++i)
        if (!(q[i] >= 0 && q[i] <= 1))
          throw std::runtime_error("all elements of input should be between 0 and 1");
    });
    l = map2(p, tt, p->dtype, "binary_cross_entropy", [](auto pv, auto tv) {
      using T = decltype(pv);
      T lp = std::max(std::log(pv), T(-100)), l1 = std::max(std::log(1 - pv), T(-100));
      return -(tv * lp + (1 - tv) * l1);
    });
    if (weight) l = mul(l, weight);
    l = reduce_loss(l, reduction);
  }
  if (any_requires_grad({&p, &t})) {
    auto n = make_node<BCEBackward>({&p, &t}, reduction);
    n->p.save(p), n->t.save(tt);
    if (weight) n->w.save(weight);
    set_history(l, n);
  }
  return l;
}

}  // namespace ember
