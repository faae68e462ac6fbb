// Unary elementwise ops, each followed by its backward node. Integer inputs compute in float32,
// as torch's floating unary ops do; neg/abs/relu/clamp/sign keep the input dtype.
#include <cmath>
#include <cstring>

#include "ember/ops/registry.h"
#include "ember/autograd/node.h"
#include "ember/kernels/parallel.h"
#include "ember/kernels/vmath.h"
#include "ember/ops/elementwise.h"

namespace ember {

namespace {
// Keeps dtype (neg, abs, relu, clamp, sign): works on int64 too.
template <class Fn>
Tensor map_same(const Tensor& a, const char* name, Fn f) {
  Tensor out = empty(a->shape, a->dtype);
  EMBER_DISPATCH_NUMERIC(a->dtype, name, T, unary_kernel<T, T>(out, a, [&](T v) { return (T)f(v); }));
  return out;
}

// Node for y = f(x) whose backward needs x (input) or y (output).
struct UnaryBackward : Node {
  SavedTensor saved{this};
};
}  // namespace

// ---- neg
struct NegBackward : Node {
  std::vector<Tensor> apply(std::vector<Tensor>& g) override { return {neg(g[0])}; }
  bool differentiable() const override { return true; }
  std::string name() const override { return "NegBackward0"; }
};
Tensor neg(const Tensor& a) {
  if (a->dtype == DType::Bool)
    throw std::runtime_error("Negation, the `-` operator, on a bool tensor is not supported. If you are trying to invert a mask, use the `~` or `logical_not()` operator instead.");
  Tensor out = map_same(a, "neg", [](auto v) { return wrap_neg(v); });
  if (any_requires_grad({&a})) set_history(out, make_node<NegBackward>({&a}));
  return out;
}
EMBER_OP("neg(Tensor input, *, Tensor? out=None) -> Tensor", "function method inplace __neg__", neg(a.t(0)));
EMBER_OP("negative(Tensor input, *, Tensor? out=None) -> Tensor", "function method inplace", neg(a.t(0)));

// ---- abs
struct AbsBackward : UnaryBackward {
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    Tensor x = saved.get(*this);
    if (GradMode::is_enabled()) return {mul(g[0], sign(x))};
    return {map2(g[0], x, g[0]->dtype, "abs_backward", [](auto gv, auto xv) { return xv > 0 ? gv : (xv < 0 ? -gv : 0 * gv); })};
  }
  bool differentiable() const override { return true; }
  std::string name() const override { return "AbsBackward0"; }
};
Tensor abs(const Tensor& a) {
  if (a->dtype == DType::Bool) not_implemented_for("abs_cpu", a->dtype);
  Tensor out = map_same(a, "abs", [](auto v) {
    if constexpr (std::is_floating_point_v<decltype(v)>) return std::fabs(v);  // abs(-0.0) is +0.0
    else return v < 0 ? wrap_neg(v) : v;
  });
  if (any_requires_grad({&a})) {
    auto n = make_node<AbsBackward>({&a});
    n->saved.save(a);
    set_history(out, n);
  }
  return out;
}
EMBER_OP("abs(Tensor input, *, Tensor? out=None) -> Tensor", "function method inplace __abs__", abs(a.t(0)));
EMBER_OP("absolute(Tensor input, *, Tensor? out=None) -> Tensor", "function method inplace", abs(a.t(0)));

// ---- sign (gradient is zero everywhere it exists)
std::vector<Tensor> ZeroGradBackward::apply(std::vector<Tensor>& g) { return {zeros(g[0]->shape, g[0]->dtype)}; }
Tensor sign(const Tensor& a) {
  if (a->dtype == DType::Bool) return clone(a);
  Tensor out = map_same(a, "sign", [](auto v) { return (decltype(v))((v > 0) - (v < 0)); });
  if (any_requires_grad({&a})) set_history(out, make_node<ZeroGradBackward>({&a}, "SignBackward0"));
  return out;
}
EMBER_OP("sign(Tensor input, *, Tensor? out=None) -> Tensor", "function method inplace", sign(a.t(0)));
EMBER_OP("sgn(Tensor input, *, Tensor? out=None) -> Tensor", "function method inplace", sign(a.t(0)));

// One exp of a non-positive argument: no overflow for large |x|, and a select instead of a branch.
template <class T>
inline T sigmoid_scalar(T x) {
  T e = std::exp(-std::abs(x));
  T r = T(1) / (T(1) + e);
  return x >= 0 ? r : e * r;
}

// Inverse error function: Giles' single-precision approximation refined by two Newton steps on erf.
template <class T>
inline T erfinv_scalar(T y) {
  if (y <= -1) return y == -1 ? -INFINITY : NAN;
  if (y >= 1) return y == 1 ? INFINITY : NAN;
  double x = (double)y, w = -std::log((1.0 - x) * (1.0 + x)), p;
  if (w < 5.0) {
    w -= 2.5;
    p = 2.81022636e-08; p = 3.43273939e-07 + p * w; p = -3.5233877e-06 + p * w; p = -4.39150654e-06 + p * w;
    p = 0.00021858087 + p * w; p = -0.00125372503 + p * w; p = -0.00417768164 + p * w; p = 0.246640727 + p * w;
    p = 1.50140941 + p * w;
  } else {
    w = std::sqrt(w) - 3.0;
    p = -0.000200214257; p = 0.000100950558 + p * w; p = 0.00134934322 + p * w; p = -0.00367342844 + p * w;
    p = 0.00573950773 + p * w; p = -0.0076224613 + p * w; p = 0.00943887047 + p * w; p = 1.00167406 + p * w;
    p = 2.83297682 + p * w;
  }
  double r = p * x;
  for (int k = 0; k < 2; ++k) r -= (std::erf(r) - x) / (1.1283791670955126 * std::exp(-r * r));
  return (T)r;
}

// ---- the gamma family, in double: lgamma (re-entrant, so threads do not race on signgam),
// digamma and polygamma by recurrence up to x >= 10 (+ n) and the asymptotic series in the
// Bernoulli numbers; negative non-integers go through the recurrence as well (digamma: reflection).
inline double lgamma_d(double x) {
  int sign;
  return lgamma_r(x, &sign);
}
inline double digamma_d(double x) {
  if (std::isnan(x) || x == -INFINITY) return NAN;
  if (x == 0) return std::signbit(x) ? INFINITY : -INFINITY;
  if (x < 0) {
    if (x == std::floor(x)) return NAN;
    return digamma_d(1 - x) - M_PI / std::tan(M_PI * x);  // reflection
  }
  double r = 0;
  while (x < 10) r -= 1 / x, x += 1;
  const double f = 1 / (x * x);
  const double t = f * (-1 / 12.0 + f * (1 / 120.0 + f * (-1 / 252.0 + f * (1 / 240.0 + f * (-1 / 132.0 + f * (691 / 32760.0 + f * (-1 / 12.0)))))));
  return r + std::log(x) - 0.5 / x + t;
}
// d^n/dx^n digamma for n >= 1: (-1)^(n+1) n! sum_k 1/(x+k)^(n+1)
inline double polygamma_d(int64_t n, double x) {
  if (n == 0) return digamma_d(x);
  if (std::isnan(x)) return NAN;
  const double sgn = (n % 2) ? 1.0 : -1.0;
  if (x <= 0 && x == std::floor(x)) return sgn * INFINITY;
  if (x == INFINITY) return 0.0;
  double fact = 1;  // n!
  for (int64_t k = 2; k <= n; ++k) fact *= (double)k;
  double r = 0;
  const double lim = 10.0 + (double)n;
  while (x < lim) r += 1 / std::pow(x, (double)(n + 1)), x += 1;
  // asymptotic: (n-1)!/x^n + n!/(2 x^(n+1)) + sum_k B_2k (2k+n-1)!/((2k)! x^(2k+n))
  static const double B[] = {1 / 6.0, -1 / 30.0, 1 / 42.0, -1 / 30.0, 5 / 66.0, -691 / 2730.0, 7 / 6.0};
  double tail = fact / (double)n / std::pow(x, (double)n) + fact / (2 * std::pow(x, (double)(n + 1)));
  double coef = fact / (double)n;  // (2k+n-1)! / (2k)! built up term by term, starting from (n-1)!
  for (int k = 1; k <= 7; ++k) {
    coef *= (double)(2 * k + n - 2) * (double)(2 * k + n - 1) / ((double)(2 * k - 1) * (double)(2 * k));
    tail += B[k - 1] * coef / std::pow(x, (double)(2 * k + n));
  }
  return sgn * (fact * r + tail);
}

// Modified Bessel functions of the first kind, orders 0 and 1 (i0 and its derivative i1): the
// power series up to |x| = 30, the asymptotic expansion e^x / sqrt(2 pi x) sum a_k / x^k beyond.
inline double bessel_i_d(int nu, double x) {
  const double ax = std::fabs(x);
  double r;
  if (ax <= 30) {
    const double q = ax * ax / 4;
    double term = nu == 0 ? 1.0 : ax / 2, sum = term;
    for (int k = 1; k < 200 && term > sum * 1e-17; ++k) {
      term *= q / ((double)k * (double)(k + nu));
      sum += term;
    }
    r = sum;
  } else {
    const double mu = 4.0 * nu * nu;
    double term = 1, sum = 1;
    for (int k = 1; k < 30; ++k) {
      term *= -(mu - (2.0 * k - 1) * (2.0 * k - 1)) / ((double)k * 8 * ax);
      sum += term;
    }
    r = std::exp(ax) / std::sqrt(2 * M_PI * ax) * sum;
  }
  return nu == 1 && x < 0 ? -r : r;
}

// ---- float functions of one argument. SAVE_OUT: backward uses y; otherwise x.
// float32 tanh, sigmoid and log of a contiguous tensor: the SIMD clones of kernels/vmath.h (libm's
// tanhf and an expf per element were 20x torch's time, logf 8x vlog's); null for everything else.
Tensor simd_unary(const char* op, const Tensor& a) {
  using Kernel = void (*)(const float*, float*, int64_t);
  const Kernel k = std::strcmp(op, "tanh") == 0      ? (Kernel)tanh_to
                   : std::strcmp(op, "sigmoid") == 0 ? (Kernel)sigmoid_to
                   : std::strcmp(op, "log") == 0     ? (Kernel)log_to
                                                     : nullptr;
  if (!k || a->dtype != DType::Float32 || !a->is_contiguous()) return Tensor();
  Tensor out = empty(a->shape, DType::Float32);
  k(a->data<float>(), out->data<float>(), a->numel());
  return out;
}

// bwd: the gradient as one fused loop over g and the saved value v; graph_bwd: the same from
// differentiable ops on Tensors g and v, run under create_graph (Note [Double backward]; Tensor()
// where ember has no differentiable form).
#define EMBER_UNARY_FLOAT(op, Name, SAVE_OUT, fwd, bwd, graph_bwd)                                       \
  struct Name : UnaryBackward {                                                                        \
    std::vector<Tensor> apply(std::vector<Tensor>& gs) override {                                      \
      Tensor s = saved.get(*this);                                                                     \
      if (GradMode::is_enabled()) {                                                                    \
        const Tensor &g = gs[0], &v = s;                                                               \
        (void)g, (void)v;                                                                              \
        return {graph_bwd};                                                                            \
      }                                                                                                \
      return {map2(gs[0], s, gs[0]->dtype, #op "_backward", [](auto gv, auto v) { return bwd; })};     \
    }                                                                                                  \
    bool differentiable() const override { return std::strcmp(#graph_bwd, "nullptr") != 0; }           \
    std::string name() const override { return #Name "0"; }                                            \
  };                                                                                                   \
  Tensor op(const Tensor& a) {                                                                         \
    Tensor out = simd_unary(#op, a);                                                                   \
    if (!out) out = map1(a, to_floating(a->dtype), #op, [](auto x) { return fwd; });                   \
    if (any_requires_grad({&a})) {                                                                     \
      auto n = make_node<Name>({&a});                                                                  \
      n->saved.save(SAVE_OUT ? out : a, SAVE_OUT);                                                     \
      set_history(out, n);                                                                             \
    }                                                                                                  \
    return out;                                                                                        \
  }                                                                                                    \
  EMBER_OP(#op "(Tensor input, *, Tensor? out=None) -> Tensor", "function method inplace", op(a.t(0)));

EMBER_UNARY_FLOAT(exp, ExpBackward, true, std::exp(x), gv * v,
                  mul(g, v))
EMBER_UNARY_FLOAT(log, LogBackward, false, std::log(x), gv / v,
                  div(g, v))
EMBER_UNARY_FLOAT(sqrt, SqrtBackward, true, std::sqrt(x), gv / (2 * v),
                  div(g, mul(v, num(2))))
EMBER_UNARY_FLOAT(sin, SinBackward, false, std::sin(x), gv * std::cos(v),
                  mul(g, cos(v)))
EMBER_UNARY_FLOAT(cos, CosBackward, false, std::cos(x), -gv * std::sin(v),
                  neg(mul(g, sin(v))))
EMBER_UNARY_FLOAT(tanh, TanhBackward, true, std::tanh(x), gv * (1 - v * v),
                  mul(g, sub(num(1), mul(v, v))))
// Stable for large |x|: exp of a non-positive argument only.
EMBER_UNARY_FLOAT(sigmoid, SigmoidBackward, true, sigmoid_scalar(x), gv * v * (1 - v),
                  mul(g, mul(v, sub(num(1), v))))
EMBER_UNARY_FLOAT(erf, ErfBackward, false, std::erf(x), gv * 1.1283791670955126 * std::exp(-v * v),
                  mul(g, mul(num(1.1283791670955126), exp(neg(mul(v, v))))))
using std::log2;
EMBER_UNARY_FLOAT(log2, Log2Backward, false, std::log2(x), gv / (v * (decltype(v))0.6931471805599453),
                  div(g, mul(v, num(0.6931471805599453))))
EMBER_UNARY_FLOAT(log10, Log10Backward, false, std::log10(x), gv / (v * (decltype(v))2.302585092994046),
                  div(g, mul(v, num(2.302585092994046))))
EMBER_UNARY_FLOAT(log1p, Log1PBackward, false, std::log1p(x), gv / (1 + v),
                  div(g, add(v, num(1))))
EMBER_UNARY_FLOAT(expm1, Expm1Backward, true, std::expm1(x), gv * (v + 1),
                  mul(g, add(v, num(1))))
EMBER_UNARY_FLOAT(exp2, Exp2Backward, true, std::exp2(x), gv * v * (decltype(v))0.6931471805599453,
                  mul(g, mul(v, num(0.6931471805599453))))
EMBER_UNARY_FLOAT(rsqrt, RsqrtBackward, true, 1 / std::sqrt(x), (decltype(v))-0.5 * gv * v * v * v,
                  mul(g, mul(num(-0.5), mul(v, mul(v, v)))))
EMBER_UNARY_FLOAT(reciprocal, ReciprocalBackward, true, 1 / x, -gv * v * v,
                  neg(mul(g, mul(v, v))))
EMBER_UNARY_FLOAT(erfc, ErfcBackward, false, std::erfc(x), -gv * (decltype(v))1.1283791670955126 * std::exp(-v * v),
                  neg(mul(g, mul(num(1.1283791670955126), exp(neg(mul(v, v)))))))
EMBER_UNARY_FLOAT(erfinv, ErfinvBackward, true, erfinv_scalar(x), gv * (decltype(v))0.886226925452758 * std::exp(v * v),
                  mul(g, mul(num(0.886226925452758), exp(mul(v, v)))))
EMBER_UNARY_FLOAT(tan, TanBackward, true, std::tan(x), gv * (1 + v * v),
                  mul(g, add(num(1), mul(v, v))))
EMBER_UNARY_FLOAT(atan, AtanBackward, false, std::atan(x), gv / (1 + v * v),
                  div(g, add(num(1), mul(v, v))))
EMBER_UNARY_FLOAT(asin, AsinBackward, false, std::asin(x), gv / std::sqrt(1 - v * v),
                  div(g, sqrt(sub(num(1), mul(v, v)))))
EMBER_UNARY_FLOAT(acos, AcosBackward, false, std::acos(x), -gv / std::sqrt(1 - v * v),
                  neg(div(g, sqrt(sub(num(1), mul(v, v))))))
EMBER_UNARY_FLOAT(sinh, SinhBackward, false, std::sinh(x), gv * std::cosh(v),
                  mul(g, cosh(v)))
EMBER_UNARY_FLOAT(cosh, CoshBackward, false, std::cosh(x), gv * std::sinh(v),
                  mul(g, sinh(v)))
EMBER_UNARY_FLOAT(asinh, AsinhBackward, false, std::asinh(x), gv / std::sqrt(v * v + 1),
                  div(g, sqrt(add(mul(v, v), num(1)))))
EMBER_UNARY_FLOAT(acosh, AcoshBackward, false, std::acosh(x), gv / std::sqrt(v * v - 1),
                  div(g, sqrt(sub(mul(v, v), num(1)))))
EMBER_UNARY_FLOAT(atanh, AtanhBackward, false, std::atanh(x), gv / (1 - v * v),
                  div(g, sub(num(1), mul(v, v))))
EMBER_UNARY_FLOAT(lgamma, LgammaBackward, false, (decltype(x))lgamma_d((double)x), gv * (decltype(v))digamma_d((double)v),
                  mul(g, digamma(v)))
EMBER_UNARY_FLOAT(digamma, DigammaBackward, false, (decltype(x))digamma_d((double)x),
                  gv * (decltype(v))polygamma_d(1, (double)v),
                  mul(g, polygamma(1, v)))
EMBER_UNARY_FLOAT(i0, I0Backward, false, (decltype(x))bessel_i_d(0, (double)x), gv * (decltype(v))bessel_i_d(1, (double)v),
                  nullptr)
#undef EMBER_UNARY_FLOAT

// ---- polygamma(n, x)
struct PolygammaBackward : UnaryBackward {
  int64_t n;
  explicit PolygammaBackward(int64_t k) : n(k) {}
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    Tensor s = saved.get(*this);
    const int64_t m = n + 1;
    if (GradMode::is_enabled()) return {mul(g[0], polygamma(m, s))};
    return {map2(g[0], s, g[0]->dtype, "polygamma_backward",
                 [m](auto gv, auto v) { return gv * (decltype(v))polygamma_d(m, (double)v); })};
  }
  bool differentiable() const override { return true; }
  std::string name() const override { return "PolygammaBackward0"; }
};
Tensor polygamma(int64_t n, const Tensor& a) {
  if (n < 0) throw std::runtime_error("polygamma(n, x) does not support negative n.");
  Tensor out = map1(a, to_floating(a->dtype), "polygamma", [n](auto x) { return (decltype(x))polygamma_d(n, (double)x); });
  if (any_requires_grad({&a})) {
    auto node = make_node<PolygammaBackward>({&a}, n);
    node->saved.save(a);
    set_history(out, node);
  }
  return out;
}
EMBER_OP("polygamma(int n, Tensor input, *, Tensor? out=None) -> Tensor", "function", polygamma(a.i(0), a.t(1)));

// ---- relu
// float32 contiguous ReLU (and its backward): the SIMD clones of kernels/vmath.h, blocks over the
// pool when large (it ran as the generic SSE2 loop, 3x torch's time on a LeNet step's activations).
constexpr int64_t kReluPerThread = 1 << 15;
static bool plain_f32(const Tensor& a) { return a->dtype == DType::Float32 && a->is_contiguous(); }

struct ReluBackward : UnaryBackward {
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    Tensor y = saved.get(*this);
    if (GradMode::is_enabled()) return {where(compare(y, num(0), CmpOp::Le), num(0), g[0])};
    if (plain_f32(g[0]) && plain_f32(y) && g[0]->shape == y->shape) {
      Tensor gx = empty(y->shape, DType::Float32);
      const float *gp = g[0]->data<float>(), *yp = y->data<float>();
      float* o = gx->data<float>();
      parallel_blocks(y->numel(), kReluPerThread, [&](int64_t lo, int64_t hi) { relu_backward_to(gp + lo, yp + lo, o + lo, hi - lo); });
      return {gx};
    }
    return {map2(g[0], y, g[0]->dtype, "relu_backward", [](auto gv, auto v) { return v <= 0 ? decltype(gv)(0) : gv; })};
  }
  bool differentiable() const override { return true; }
  std::string name() const override { return "ReluBackward0"; }
};
Tensor relu(const Tensor& a) {
  if (a->dtype == DType::Bool) throw std::runtime_error("Boolean inputs not supported for relu");
  Tensor out;
  if (plain_f32(a)) {
    out = empty(a->shape, DType::Float32);
    const float* x = a->data<float>();
    float* y = out->data<float>();
    parallel_blocks(a->numel(), kReluPerThread, [&](int64_t lo, int64_t hi) { relu_to(x + lo, y + lo, hi - lo); });
  } else {
    // (v < 0 ? 0 : v) keeps NaN and compiles to a branch-free vector select.
    out = map_same(a, "relu", [](auto v) { return v < 0 ? decltype(v)(0) : v; });
  }
  if (any_requires_grad({&a})) {
    auto n = make_node<ReluBackward>({&a});
    n->saved.save(out, true);
    set_history(out, n);
  }
  return out;
}
EMBER_OP("relu(Tensor input) -> Tensor", "function method inplace", relu(a.t(0)));

// ---- clamp: gradient passes where lo <= x <= hi
struct ClampBackward : UnaryBackward {
  double lo, hi;
  ClampBackward(double l, double h) : lo(l), hi(h) {}
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    Tensor x = saved.get(*this);
    double l = lo, h = hi;
    if (GradMode::is_enabled())
      return {where(logical_and(compare(x, num(l), CmpOp::Ge), compare(x, num(h), CmpOp::Le)), g[0], num(0))};
    return {map2(g[0], x, g[0]->dtype, "clamp_backward",
                 [l, h](auto gv, auto v) { return (v >= l && v <= h) ? gv : 0 * gv; })};
  }
  bool differentiable() const override { return true; }
  std::string name() const override { return "ClampBackward1"; }
};
Tensor clamp(const Tensor& a, std::optional<Scalar> lo, std::optional<Scalar> hi) {
  if (!lo && !hi) throw std::runtime_error("torch.clamp: At least one of 'min' or 'max' must not be None");
  DType d = a->dtype;
  if ((lo && lo->kind == Scalar::Float) || (hi && hi->kind == Scalar::Float)) d = to_floating(d);
  Tensor x = a->dtype == d ? a : cast_nograd(a, d);
  double l = lo ? lo->f : -INFINITY, h = hi ? hi->f : INFINITY;
  const bool nan_bound = std::isnan(l) || std::isnan(h);  // a NaN bound makes every element NaN, as torch
  Tensor out = empty(x->shape, d);
  EMBER_DISPATCH_NUMERIC(d, "clamp", T, {
    unary_kernel<T, T>(out, x, [&](T v) {
      if (nan_bound) return (T)NAN;
      if (std::isnan((double)v)) return v;
      T r = v;
      if (lo && (double)r < l) r = (T)l;
      if (hi && (double)r > h) r = (T)h;  // max wins when min > max, as torch
      return r;
    });
  });
  if (any_requires_grad({&a})) {
    auto n = make_node<ClampBackward>({&a}, l, h);
    n->saved.save(a);
    set_history(out, n);
  }
  return out;
}
Tensor clamp_tensor(const Tensor& a, const Tensor& lo, const Tensor& hi) {
  if (!lo && !hi) throw std::runtime_error("torch.clamp: At least one of 'min' or 'max' must not be None");
  Tensor r = a;
  if (lo) r = maximum(r, lo);
  if (hi) r = minimum(r, hi);
  return r;
}
EMBER_OP("clamp(Tensor input, Scalar? min=None, Scalar? max=None, *, Tensor? out=None) -> Tensor", "function method inplace",
         clamp(a.t(0), a.os(1), a.os(2)));
EMBER_OP("clamp.Tensor(Tensor input, Tensor? min=None, Tensor? max=None, *, Tensor? out=None) -> Tensor",
         "function method inplace", clamp_tensor(a.t(0), a.t(1), a.t(2)));
EMBER_OP("clip(Tensor input, Scalar? min=None, Scalar? max=None, *, Tensor? out=None) -> Tensor", "function method inplace",
         clamp(a.t(0), a.os(1), a.os(2)));
EMBER_OP("clip.Tensor(Tensor input, Tensor? min=None, Tensor? max=None, *, Tensor? out=None) -> Tensor",
         "function method inplace", clamp_tensor(a.t(0), a.t(1), a.t(2)));
EMBER_OP("clamp_min(Tensor input, Scalar min, *, Tensor? out=None) -> Tensor", "function method inplace", clamp(a.t(0), a.s(1), std::nullopt));
EMBER_OP("clamp_min.Tensor(Tensor input, Tensor min, *, Tensor? out=None) -> Tensor", "function method inplace", maximum(a.t(0), a.t(1)));
EMBER_OP("clamp_max(Tensor input, Scalar max, *, Tensor? out=None) -> Tensor", "function method inplace", clamp(a.t(0), std::nullopt, a.s(1)));
EMBER_OP("clamp_max.Tensor(Tensor input, Tensor max, *, Tensor? out=None) -> Tensor", "function method inplace", minimum(a.t(0), a.t(1)));

// ---- rounding: integer inputs come back unchanged; the gradient is zero (frac: one)
namespace {
template <class Fn>
Tensor rounding(const Tensor& a, const char* name, const char* node, Fn f) {
  if (a->dtype == DType::Bool) not_implemented_for(std::string(name) + "_cpu", a->dtype);
  if (!is_floating(a->dtype)) return clone(a);
  Tensor out = map_same(a, name, f);
  if (any_requires_grad({&a})) set_history(out, make_node<ZeroGradBackward>({&a}, node));
  return out;
}
}  // namespace
Tensor floor(const Tensor& a) { return rounding(a, "floor", "FloorBackward0", [](auto v) { return std::floor(v); }); }
Tensor ceil(const Tensor& a) { return rounding(a, "ceil", "CeilBackward0", [](auto v) { return std::ceil(v); }); }
Tensor trunc(const Tensor& a) { return rounding(a, "trunc", "TruncBackward0", [](auto v) { return std::trunc(v); }); }
// Round half to even, as torch (and numpy); with decimals: round(x * 10^d) / 10^d, as torch.
Tensor round(const Tensor& a, int64_t decimals) {
  if (decimals == 0) return rounding(a, "round", "RoundBackward0", [](auto v) { return std::nearbyint(v); });
  if (!is_floating(a->dtype)) not_implemented_for("round_cpu", a->dtype);
  double ten = std::pow(10.0, (double)std::llabs(decimals));
  Tensor out = map_same(a, "round", [&](auto v) {
    using T = decltype(v);
    return decimals > 0 ? (T)(std::nearbyint(v * (T)ten) / (T)ten) : (T)(std::nearbyint(v / (T)ten) * (T)ten);
  });
  if (any_requires_grad({&a})) set_history(out, make_node<ZeroGradBackward>({&a}, "RoundBackward1"));
  return out;
}
Tensor frac(const Tensor& a) {
  if (!is_floating(a->dtype)) not_implemented_for("frac_cpu", a->dtype);
  return sub(a, trunc(a));
}
Tensor square(const Tensor& a) {
  if (a->dtype == DType::Bool) return pow(a, scalar_tensor(Scalar::from_int(2)));
  return mul(a, a);
}
EMBER_OP("floor(Tensor input, *, Tensor? out=None) -> Tensor", "function method inplace", floor(a.t(0)));
EMBER_OP("ceil(Tensor input, *, Tensor? out=None) -> Tensor", "function method inplace", ceil(a.t(0)));
EMBER_OP("trunc(Tensor input, *, Tensor? out=None) -> Tensor", "function method inplace", trunc(a.t(0)));
EMBER_OP("fix(Tensor input, *, Tensor? out=None) -> Tensor", "function method inplace", trunc(a.t(0)));
EMBER_OP("round(Tensor input, *, int decimals=0, Tensor? out=None) -> Tensor", "function method inplace",
         round(a.t(0), a.i(1)));
EMBER_OP("frac(Tensor input, *, Tensor? out=None) -> Tensor", "function method inplace", frac(a.t(0)));
EMBER_OP("square(Tensor input, *, Tensor? out=None) -> Tensor", "function method inplace", square(a.t(0)));
Tensor positive(const Tensor& a) {
  if (a->dtype == DType::Bool) throw std::runtime_error("The `+` operator, on a bool tensor is not supported.");
  return a;
}
EMBER_OP("positive(Tensor input) -> Tensor", "function method __pos__", positive(a.t(0)));
EMBER_OP("arctan(Tensor input, *, Tensor? out=None) -> Tensor", "function method inplace", atan(a.t(0)));
EMBER_OP("arcsin(Tensor input, *, Tensor? out=None) -> Tensor", "function method inplace", asin(a.t(0)));
EMBER_OP("arccos(Tensor input, *, Tensor? out=None) -> Tensor", "function method inplace", acos(a.t(0)));
EMBER_OP("arcsinh(Tensor input, *, Tensor? out=None) -> Tensor", "function method inplace", asinh(a.t(0)));
EMBER_OP("arccosh(Tensor input, *, Tensor? out=None) -> Tensor", "function method inplace", acosh(a.t(0)));
EMBER_OP("arctanh(Tensor input, *, Tensor? out=None) -> Tensor", "function method inplace", atanh(a.t(0)));

}  // namespace ember
