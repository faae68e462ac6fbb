// Binary elementwise ops with broadcasting and torch's type promotion, each followed by its
// backward node; gradients are reduced back to each input's shape (sum_to) and dtype.
#include <cmath>

#include "ember/kernels/simd.h"
#include "ember/kernels/parallel.h"
#include "ember/ops/registry.h"
#include "ember/autograd/node.h"
#include "ember/ops/elementwise.h"

namespace ember {

Shape broadcast_shapes(const Shape& a, const Shape& b) {
  size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t x = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t y = i < n - b.size() ? 1 : b[i - (n - b.size())];
    if (x != y && x != 1 && y != 1)
      throw std::runtime_error("The size of tensor a (" + std::to_string(x) + ") must match the size of tensor b (" +
                               std::to_string(y) + ") at non-singleton dimension " + std::to_string(i) +
                               " (shapes " + shape_str(a) + " and " + shape_str(b) + ")");
    out[i] = x == 1 ? y : x;
  }
  return out;
}

// torch's rule: dimensioned tensors decide, 0-d tensors and then Python numbers only lift the category.
DType result_type(const Tensor& a, const Tensor& b) {
  auto tier = [](const Tensor& t) { return t->wrapped_number ? 0 : (t->dim() == 0 ? 1 : 2); };
  int ta = tier(a), tb = tier(b);
  if (ta == tb) {
    DType d = promote(a->dtype, b->dtype);
    return ta == 0 && is_floating(d) ? DType::Float32 : d;  // two Python floats: the default dtype, as torch
  }
  const Tensor& hi = ta > tb ? a : b;
  const Tensor& lo = ta > tb ? b : a;
  if (category(lo->dtype) > category(hi->dtype))
    return lo->wrapped_number ? (category(lo->dtype) == 2 ? DType::Float32 : DType::Int64) : lo->dtype;
  return hi->dtype;
}

Tensor sum_to(const Tensor& g, const Shape& shape) {
  if (g->shape == shape) return g;
  const int64_t lead = g->dim() - (int64_t)shape.size();
  std::vector<int64_t> dims;
  for (int64_t i = 0; i < g->dim(); ++i)
    if (i < lead || (shape[i - lead] == 1 && g->shape[i] != 1)) dims.push_back(i);
  if (dims.empty()) return view(g, shape);
  return reshape(sum(g, dims, true), shape);
}

namespace {
// Input metadata a backward node needs without keeping the input alive.
struct Meta {
  Shape shape;
  DType dtype;
  Meta(const Tensor& t) : shape(t->shape), dtype(t->dtype) {}
};
Tensor fit(const Tensor& g, const Meta& m) {
  Tensor r = sum_to(g, m.shape);
  return r->dtype == m.dtype ? r : to_dtype(r, m.dtype);  // (differentiable under create_graph)
}

template <class R, class T, class Fn>
Tensor binary_op(const Tensor& a, const Tensor& b, DType compute, Fn f) {
  Tensor x = a->dtype == compute ? a : cast_nograd(a, compute);
  Tensor y = b->dtype == compute ? b : cast_nograd(b, compute);
  Shape s = broadcast_shapes(x->shape, y->shape);
  Tensor out = empty(s, dtype_of<R>::value);
  Tensor xv = x->shape == s ? x : make_view(x, s, broadcast_strides(x, s), x->offset);
  Tensor yv = y->shape == s ? y : make_view(y, s, broadcast_strides(y, s), y->offset);
  binary_kernel<R, T>(out, xv, yv, f);
  return out;
}

// float32 add / sub / mul of two contiguous operands of one shape: the SIMD clones, over the pool
// from 2 * 2^15 elements (the generic loop is SSE2 on one thread; a tiny GPT's step runs dozens of
// these adds, its residuals and gradient accumulations). Null when it does not apply.
enum F32Op { kF32Add, kF32Sub, kF32Mul };
EMBER_CLONES void f32_binary(int op, const float* __restrict x, const float* __restrict y, float* __restrict o,
                             int64_t n) {
  if (op == kF32Add)
    for (int64_t i = 0; i < n; ++i) o[i] = x[i] + y[i];
  else if (op == kF32Sub)
    for (int64_t i = 0; i < n; ++i) o[i] = x[i] - y[i];
  else
    for (int64_t i = 0; i < n; ++i) o[i] = x[i] * y[i];
}
Tensor f32_fast(const Tensor& a, const Tensor& b, int op) {
  if (a->dtype != DType::Float32 || b->dtype != DType::Float32 || a->shape != b->shape || !a->is_contiguous() ||
      !b->is_contiguous())
    return Tensor();
  Tensor out = empty(a->shape, DType::Float32);
  const float *x = a->data<float>(), *y = b->data<float>();
  float* o = out->data<float>();
  parallel_blocks(a->numel(), 1 << 15, [&](int64_t lo, int64_t hi) { f32_binary(op, x + lo, y + lo, o + lo, hi - lo); });
  return out;
}

// Dispatch an expression in x, y over the compute dtype d; the result has dtype d.
#define EMBER_BINARY_SAME(a, b, d, ...)                                                              \
  [&]() {                                                                                          \
    Tensor out_;                                                                                   \
    EMBER_DISPATCH_ALL(d, T, out_ = (binary_op<T, T>(a, b, d, [](T x, T y) -> T { return (T)(__VA_ARGS__); }))); \
    return out_;                                                                                   \
  }()
}  // namespace

// ---- add / sub
struct AddBackward : Node {
  Meta ma, mb;
  Scalar alpha;
  bool is_sub;
  AddBackward(const Tensor& a, const Tensor& b, Scalar al, bool sub) : ma(a), mb(b), alpha(al), is_sub(sub) {}
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    std::vector<Tensor> r(2);
    if (needs(0)) r[0] = fit(g[0], ma);
    if (needs(1)) {
      double k = is_sub ? -alpha.f : alpha.f;
      r[1] = fit(k == 1.0                   ? g[0]
                 : GradMode::is_enabled() ? mul(g[0], scalar_tensor(Scalar(k)))
                                          : map1(g[0], g[0]->dtype, "add_backward", [k](auto v) { return v * k; }),
                 mb);
    }
    return r;
  }
  bool differentiable() const override { return true; }
  std::string name() const override { return is_sub ? "SubBackward0" : "AddBackward0"; }
};

static Tensor add_impl(const Tensor& a, const Tensor& b, Scalar alpha, bool is_sub) {
  DType d = result_type(a, b);
  if (is_sub && a->dtype == DType::Bool && b->dtype == DType::Bool)
    throw std::runtime_error("Subtraction, the `-` operator, with two bool tensors is not supported. Use the `^` or `logical_xor()` operator instead.");
  if (is_sub && (a->dtype == DType::Bool || b->dtype == DType::Bool))
    throw std::runtime_error("Subtraction, the `-` operator, with a bool tensor is not supported. If you are trying to invert a mask, use the `~` or `logical_not()` operator instead.");
  if (alpha.kind == Scalar::Float && !is_floating(d))
    throw std::runtime_error("For integral input tensors, argument alpha must not be a floating point number.");
  Tensor out;
  if (alpha.kind != Scalar::Float && alpha.i == 1) {
    out = f32_fast(a, b, is_sub ? kF32Sub : kF32Add);
    if (!out) out = is_sub ? EMBER_BINARY_SAME(a, b, d, wrap_sub(x, y)) : EMBER_BINARY_SAME(a, b, d, wrap_add(x, y));
  } else if (d == DType::Int64) {  // exact, wrapping int64 arithmetic (not through double), as torch
    const int64_t k = is_sub ? wrap_neg(alpha.i) : alpha.i;
    out = binary_op<int64_t, int64_t>(a, b, d, [k](int64_t x, int64_t y) { return wrap_add(x, wrap_mul(k, y)); });
  } else {
    double k = is_sub ? -alpha.f : alpha.f;
    EMBER_DISPATCH_ALL(d, T, out = (binary_op<T, T>(a, b, d, [k](T x, T y) -> T { return (T)(x + (T)(k * (double)y)); })));
  }
  if (any_requires_grad({&a, &b})) set_history(out, make_node<AddBackward>({&a, &b}, a, b, alpha, is_sub));
  return out;
}
Tensor add(const Tensor& a, const Tensor& b, Scalar alpha) { return add_impl(a, b, alpha, false); }
Tensor sub(const Tensor& a, const Tensor& b, Scalar alpha) { return add_impl(a, b, alpha, true); }
EMBER_OP("add(Tensor input, Tensor other, *, Scalar alpha=1, Tensor? out=None) -> Tensor",
         "function method inplace numbers __add__ __radd__ __iadd__", add(a.t(0), a.t(1), a.s(2)));
EMBER_OP("sub(Tensor input, Tensor other, *, Scalar alpha=1, Tensor? out=None) -> Tensor",
         "function method inplace numbers __sub__ __rsub__ __isub__", sub(a.t(0), a.t(1), a.s(2)));
EMBER_OP("subtract(Tensor input, Tensor other, *, Scalar alpha=1, Tensor? out=None) -> Tensor",
         "function method inplace numbers", sub(a.t(0), a.t(1), a.s(2)));

// ---- mul
struct MulBackward : Node {
  Meta ma, mb;
  SavedTensor sa{this}, sb{this};
  MulBackward(const Tensor& a, const Tensor& b) : ma(a), mb(b) {}
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    std::vector<Tensor> r(2);
    if (needs(0)) r[0] = fit(mul(g[0], sb.get(*this)), ma);
    if (needs(1)) r[1] = fit(mul(g[0], sa.get(*this)), mb);
    return r;
  }
  bool differentiable() const override { return true; }
  std::string name() const override { return "MulBackward0"; }
};
Tensor mul(const Tensor& a, const Tensor& b) {
  DType d = result_type(a, b);
  Tensor out = f32_fast(a, b, kF32Mul);
  if (!out) out = d == DType::Bool ? EMBER_BINARY_SAME(a, b, d, x && y) : EMBER_BINARY_SAME(a, b, d, wrap_mul(x, y));
  if (any_requires_grad({&a, &b})) {
    auto n = make_node<MulBackward>({&a, &b}, a, b);
    if (n->needs(0)) n->sb.save(b);
    if (n->needs(1)) n->sa.save(a);
    set_history(out, n);
  }
  return out;
}
EMBER_OP("mul(Tensor input, Tensor other, *, Tensor? out=None) -> Tensor",
         "function method inplace numbers __mul__ __rmul__ __imul__", mul(a.t(0), a.t(1)));
EMBER_OP("multiply(Tensor input, Tensor other, *, Tensor? out=None) -> Tensor", "function method inplace numbers",
         mul(a.t(0), a.t(1)));

// ---- div (true division: integers divide as float32)
struct DivBackward : Node {
  Meta ma, mb;
  SavedTensor sa{this}, sb{this};
  DivBackward(const Tensor& a, const Tensor& b) : ma(a), mb(b) {}
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    std::vector<Tensor> r(2);
    Tensor b = sb.get(*this);
    if (needs(0)) r[0] = fit(div(g[0], b), ma);
    if (needs(1)) {
      Tensor a = sa.get(*this);
      Tensor q = GradMode::is_enabled()
                     ? neg(div(g[0], mul(b, b)))
                     : map2(g[0], b, g[0]->dtype, "div_backward", [](auto gv, auto bv) { return -gv / (bv * bv); });
      r[1] = fit(mul(q, a), mb);
    }
    return r;
  }
  bool differentiable() const override { return true; }
  std::string name() const override { return "DivBackward0"; }
};
Tensor div(const Tensor& a, const Tensor& b) {
  DType d = to_floating(result_type(a, b));
  Tensor out = EMBER_BINARY_SAME(a, b, d, x / y);
  if (any_requires_grad({&a, &b})) {
    auto n = make_node<DivBackward>({&a, &b}, a, b);
    n->sb.save(b);
    if (n->needs(1)) n->sa.save(a);
    set_history(out, n);
  }
  return out;
}
// div(rounding_mode="floor") of floats: gradient zero in both inputs (torch's DivBackward2)
struct DivFloorBackward : Node {
  Meta ma, mb;
  DivFloorBackward(const Tensor& a, const Tensor& b) : ma(a), mb(b) {}
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    return {zeros(ma.shape, g[0]->dtype), zeros(mb.shape, g[0]->dtype)};
  }
  bool differentiable() const override { return true; }
  std::string name() const override { return "DivBackward2"; }
};
// rounding_mode "trunc" / "floor": integers divide exactly (floor_divide's rules); floats round the quotient.
Tensor div_mode(const Tensor& a, const Tensor& b, const std::string& mode) {
  if (mode.empty()) return div(a, b);
  if (mode == "floor") {
    Tensor out = floor_divide(a, b);
    if (is_floating(out->dtype) && any_requires_grad({&a, &b})) set_history(out, make_node<DivFloorBackward>({&a, &b}, a, b));
    return out;
  }
  if (mode != "trunc")
    throw std::runtime_error("div expected rounding_mode to be one of None, 'trunc', or 'floor' but found '" + mode + "'");
  if (is_floating(result_type(a, b))) return trunc(div(a, b));
  // integer truncation: floor division corrected where the signs differ and there is a remainder
  Tensor q = floor_divide(a, b), r = remainder(a, b);
  Tensor fix = logical_and(compare(r, scalar_tensor(Scalar::from_int(0)), CmpOp::Ne),
                           compare(mul(a, b), scalar_tensor(Scalar::from_int(0)), CmpOp::Lt));
  return add(q, to_dtype(fix, q->dtype));
}
EMBER_OP("div(Tensor input, Tensor other, *, str? rounding_mode=None, Tensor? out=None) -> Tensor",
         "function method inplace numbers __truediv__ __rtruediv__ __itruediv__", div_mode(a.t(0), a.t(1), a.str(2)));
EMBER_OP("divide(Tensor input, Tensor other, *, str? rounding_mode=None, Tensor? out=None) -> Tensor",
         "function method inplace numbers", div_mode(a.t(0), a.t(1), a.str(2)));
EMBER_OP("true_divide(Tensor input, Tensor other, *, Tensor? out=None) -> Tensor", "function method inplace numbers",
         div(a.t(0), a.t(1)));

// ---- pow
namespace {
int64_t ipow(int64_t base, int64_t e) {
  if (e < 0) return base == 1 ? 1 : base == -1 ? (e & 1 ? -1 : 1) : 0;  // as torch (1 / base^-e truncated)
  int64_t r = 1;
  while (e > 0) {
    if (e & 1) r = wrap_mul(r, base);
    base = wrap_mul(base, base);
    e >>= 1;
  }
  return r;
}
}  // namespace
struct PowBackward : Node {
  Meta ma, mb;
  SavedTensor sa{this}, sb{this}, sout{this};
  bool scalar_exp;
  PowBackward(const Tensor& a, const Tensor& b) : ma(a), mb(b), scalar_exp(b->wrapped_number) {}
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    std::vector<Tensor> r(2);
    Tensor a = sa.get(*this), b = sb.get(*this);
    DType d = g[0]->dtype;
    const bool graph = GradMode::is_enabled();  // create_graph: the same formulas from differentiable ops
    const Tensor zero = scalar_tensor(Scalar(0.0));
    if (needs(0)) {
      // g * b * a^(b-1), 0 where b == 0
      Tensor t = graph ? where(compare(b, zero, CmpOp::Eq), zero, mul(b, pow(a, sub(b, scalar_tensor(Scalar(1.0))))))
                       : map2(a, b, d, "pow_backward", [](auto av, auto bv) { return bv == 0 ? 0 * av : bv * std::pow(av, bv - 1); });
      r[0] = fit(mul(g[0], t), ma);
    }
    if (needs(1)) {
      // g * a^b * log(a), defined as 0 where a == 0 and b >= 0
      Tensor out = sout.get(*this);
      Tensor la = graph ? where(logical_and(compare(a, zero, CmpOp::Eq), compare(b, zero, CmpOp::Ge)), zero, log(a))
                        : map2(a, b, d, "pow_backward", [](auto av, auto bv) { return (av == 0 && bv >= 0) ? 0 * av : std::log(av); });
      r[1] = fit(mul(mul(g[0], out), la), mb);
    }
    return r;
  }
  bool differentiable() const override { return true; }
  std::string name() const override { return scalar_exp ? "PowBackward0" : "PowBackward1"; }
};
Tensor pow(const Tensor& a, const Tensor& b) {
  DType d = result_type(a, b);
  if (d == DType::Bool && !b->wrapped_number) not_implemented_for("pow", d);  // torch: bool ** True is fine
  Tensor out;
  if (d == DType::Int64 || d == DType::Bool) {
    // torch refuses a negative Python-number exponent only; tensor exponents follow ipow
    if (b->wrapped_number && *cast_nograd(b, DType::Int64)->data<int64_t>() < 0)
      throw std::runtime_error("Integers to negative integer powers are not allowed.");
    d = DType::Int64;
    out = EMBER_BINARY_SAME(a, b, d, ipow(x, y));
  } else if (double e = b->wrapped_number && b->dtype == DType::Float64 ? *b->data<double>() : 0; std::fabs(e) == 0.5) {
    // x ** 0.5 is sqrt and x ** -0.5 rsqrt in torch (they differ from C pow at -inf)
    if (e > 0)
      out = EMBER_BINARY_SAME(a, b, d, (T)std::sqrt(x));
    else
      out = EMBER_BINARY_SAME(a, b, d, (T)(1.0 / std::sqrt(x)));
  } else {
    out = EMBER_BINARY_SAME(a, b, d, (T)std::pow(x, y));
  }
  if (any_requires_grad({&a, &b})) {
    auto n = make_node<PowBackward>({&a, &b}, a, b);
    n->sa.save(a);
    n->sb.save(b);
    if (n->needs(1)) n->sout.save(out, true);
    set_history(out, n);
  }
  return out;
}
EMBER_OP("pow(Tensor input, Tensor exponent, *, Tensor? out=None) -> Tensor",
         "function method inplace numbers __pow__ __rpow__ __ipow__", pow(a.t(0), a.t(1)));
EMBER_OP("pow.Scalar(Scalar self, Tensor exponent, *, Tensor? out=None) -> Tensor", "function",
         pow(scalar_tensor(a.s(0)), a.t(1)));

// ---- maximum / minimum: ties split the gradient in half, as torch
struct MaxMinBackward : Node {
  Meta ma, mb;
  SavedTensor sa{this}, sb{this};
  bool is_max;
  MaxMinBackward(const Tensor& a, const Tensor& b, bool m) : ma(a), mb(b), is_max(m) {}
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    std::vector<Tensor> r(2);
    Tensor a = sa.get(*this), b = sb.get(*this);
    DType d = g[0]->dtype;
    bool mx = is_max;
    // as torch: the winner gets g, ties g / 2 each, the loser 0; unordered (NaN) pairs g each
    auto weight = [&](const Tensor& u, const Tensor& v) {
      return map2(u, v, d, "maximum_backward", [mx](auto x, auto y) {
        return x == y ? decltype(x)(0.5) : ((mx ? x < y : x > y) ? decltype(x)(0) : decltype(x)(1));
      });
    };
    if (needs(0)) r[0] = fit(mul(g[0], weight(a, b)), ma);
    if (needs(1)) r[1] = fit(mul(g[0], weight(b, a)), mb);
    return r;
  }
  bool differentiable() const override { return true; }  // (the weights are piecewise constant)
  std::string name() const override { return is_max ? "MaximumBackward0" : "MinimumBackward0"; }
};
static Tensor maxmin(const Tensor& a, const Tensor& b, bool is_max) {
  DType d = result_type(a, b);
  Tensor out = is_max ? EMBER_BINARY_SAME(a, b, d, (x != x || x > y) ? x : y)
                      : EMBER_BINARY_SAME(a, b, d, (x != x || x < y) ? x : y);
  if (any_requires_grad({&a, &b})) {
    auto n = make_node<MaxMinBackward>({&a, &b}, a, b, is_max);
    n->sa.save(a);
    n->sb.save(b);
    set_history(out, n);
  }
  return out;
}
Tensor maximum(const Tensor& a, const Tensor& b) { return maxmin(a, b, true); }
Tensor minimum(const Tensor& a, const Tensor& b) { return maxmin(a, b, false); }
EMBER_OP("maximum(Tensor input, Tensor other, *, Tensor? out=None) -> Tensor", "function method", maximum(a.t(0), a.t(1)));
EMBER_OP("minimum(Tensor input, Tensor other, *, Tensor? out=None) -> Tensor", "function method", minimum(a.t(0), a.t(1)));

// ---- floor_divide / remainder: Python's rounding (toward -inf); not differentiable here.
// Floats as torch (and Python): from the exact fmod, so 1.0 // 0.1 is 9 and -2.0 // inf is -1.
template <class T>
static T remainder_f(T a, T b) {
  if constexpr (!std::is_floating_point_v<T>) return a;  // (instantiated, never called, for integers)
  T mod = std::fmod(a, b);
  if (mod != 0 && (b < 0) != (mod < 0)) mod += b;
  return mod;
}
template <class T>
static T floor_div_f(T a, T b) {
  if constexpr (!std::is_floating_point_v<T>) return a;  // (instantiated, never called, for integers)
  if (b == 0) return a / b;
  T mod = std::fmod(a, b);
  T div = (a - mod) / b;
  if (mod != 0 && (b < 0) != (mod < 0)) div -= T(1);
  if (div == 0) return std::copysign(T(0), a / b);
  T fl = std::floor(div);
  return div - fl > T(0.5) ? fl + T(1) : fl;
}
static Tensor floor_rem(const Tensor& a, const Tensor& b, bool rem) {
  DType d = result_type(a, b);
  if (d == DType::Bool) d = DType::Int64;
  if (!is_floating(d) && shape_numel(broadcast_shapes(a->shape, b->shape)) > 0) {
    Tensor bi = cast_nograd(b, DType::Int64);
    const int64_t* p = contiguous(bi)->data<int64_t>();
    for (int64_t i = 0, n = bi->numel(); i < n; ++i)
      if (p[i] == 0) throw std::runtime_error("ZeroDivisionError: integer division or modulo by zero");
  }
  NoGradGuard g;
  if (rem)
    return EMBER_BINARY_SAME(a, b, d, std::is_floating_point_v<T> ? remainder_f<T>(x, y)
                                                     : (T)remainder_i64((int64_t)x, (int64_t)y));
  return EMBER_BINARY_SAME(a, b, d, std::is_floating_point_v<T> ? floor_div_f<T>(x, y)
                                                   : (T)floor_div_i64((int64_t)x, (int64_t)y));
}
Tensor floor_divide(const Tensor& a, const Tensor& b) { return floor_rem(a, b, false); }
// remainder's gradient: d/da = 1, d/db = -floor(a / b) (torch's RemainderBackward)
struct RemainderBackward : Node {
  SavedTensor x{this}, y{this};
  Meta ma, mb;
  bool scalar_other;
  RemainderBackward(const Tensor& a, const Tensor& b) : ma(a), mb(b), scalar_other(b->wrapped_number) {}
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    std::vector<Tensor> r(2);
    if (needs(0)) r[0] = fit(g[0], ma);
    if (needs(1)) r[1] = fit(neg(mul(g[0], floor_divide(x.get(*this), y.get(*this)))), mb);
    return r;
  }
  bool differentiable() const override { return true; }
  std::string name() const override { return scalar_other ? "RemainderBackward0" : "RemainderBackward1"; }
};
Tensor remainder(const Tensor& a, const Tensor& b) {
  Tensor out = floor_rem(a, b, true);
  if (is_floating(out->dtype) && any_requires_grad({&a, &b})) {
    auto n = make_node<RemainderBackward>({&a, &b}, a, b);
    if (n->needs(1)) n->x.save(a), n->y.save(b);
    set_history(out, n);
  }
  return out;
}
EMBER_OP("floor_divide(Tensor input, Tensor other, *, Tensor? out=None) -> Tensor",
         "function method inplace numbers __floordiv__ __rfloordiv__ __ifloordiv__", floor_divide(a.t(0), a.t(1)));
EMBER_OP("remainder(Tensor input, Tensor other, *, Tensor? out=None) -> Tensor",
         "function method inplace numbers __mod__ __rmod__ __imod__", remainder(a.t(0), a.t(1)));

// ---- comparisons (no gradient)
Tensor compare(const Tensor& a, const Tensor& b, CmpOp op) {
  DType d = result_type(a, b);
  Tensor out;
  // The comparison is a template argument so each loop is branch-free and vectorises.
  auto run = [&](auto cmp) { EMBER_DISPATCH_ALL(d, T, out = (binary_op<bool, T>(a, b, d, [cmp](T x, T y) -> bool { return cmp(x, y); }))); };
  switch (op) {
    case CmpOp::Eq: run([](auto x, auto y) { return x == y; }); break;
    case CmpOp::Ne: run([](auto x, auto y) { return x != y; }); break;
    case CmpOp::Lt: run([](auto x, auto y) { return x < y; }); break;
    case CmpOp::Le: run([](auto x, auto y) { return x <= y; }); break;
    case CmpOp::Gt: run([](auto x, auto y) { return x > y; }); break;
    case CmpOp::Ge: run([](auto x, auto y) { return x >= y; }); break;
  }
  return out;
}
EMBER_OP("eq(Tensor input, Tensor other, *, Tensor? out=None) -> Tensor", "function method inplace numbers __eq__",
         compare(a.t(0), a.t(1), CmpOp::Eq));
EMBER_OP("ne(Tensor input, Tensor other, *, Tensor? out=None) -> Tensor", "function method inplace numbers __ne__",
         compare(a.t(0), a.t(1), CmpOp::Ne));
EMBER_OP("lt(Tensor input, Tensor other, *, Tensor? out=None) -> Tensor", "function method inplace numbers __lt__",
         compare(a.t(0), a.t(1), CmpOp::Lt));
EMBER_OP("le(Tensor input, Tensor other, *, Tensor? out=None) -> Tensor", "function method inplace numbers __le__",
         compare(a.t(0), a.t(1), CmpOp::Le));
EMBER_OP("gt(Tensor input, Tensor other, *, Tensor? out=None) -> Tensor", "function method inplace numbers __gt__",
         compare(a.t(0), a.t(1), CmpOp::Gt));
EMBER_OP("ge(Tensor input, Tensor other, *, Tensor? out=None) -> Tensor", "function method inplace numbers __ge__",
         compare(a.t(0), a.t(1), CmpOp::Ge));
EMBER_OP("greater(Tensor input, Tensor other, *, Tensor? out=None) -> Tensor", "function method inplace numbers", compare(a.t(0), a.t(1), CmpOp::Gt));
EMBER_OP("greater_equal(Tensor input, Tensor other, *, Tensor? out=None) -> Tensor", "function method inplace numbers", compare(a.t(0), a.t(1), CmpOp::Ge));
EMBER_OP("less(Tensor input, Tensor other, *, Tensor? out=None) -> Tensor", "function method inplace numbers", compare(a.t(0), a.t(1), CmpOp::Lt));
EMBER_OP("less_equal(Tensor input, Tensor other, *, Tensor? out=None) -> Tensor", "function method inplace numbers", compare(a.t(0), a.t(1), CmpOp::Le));
EMBER_OP("not_equal(Tensor input, Tensor other, *, Tensor? out=None) -> Tensor", "function method inplace numbers", compare(a.t(0), a.t(1), CmpOp::Ne));

Tensor logical_not(const Tensor& a) {
  Tensor out = empty(a->shape, DType::Bool);
  EMBER_DISPATCH_ALL(a->dtype, T, unary_kernel<bool, T>(out, a, [](T v) { return !v; }));
  return out;
}
EMBER_OP("logical_not(Tensor input, *, Tensor? out=None) -> Tensor", "function method inplace", logical_not(a.t(0)));

// ---- where
struct WhereBackward : Node {
  Meta ma, mb;
  SavedTensor cond{this};
  WhereBackward(const Tensor& a, const Tensor& b) : ma(a), mb(b) {}
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    std::vector<Tensor> r(3);
    Tensor c = cond.get(*this);
    Tensor z = zeros({}, g[0]->dtype);
    if (needs(1)) r[1] = fit(where(c, g[0], z), ma);
    if (needs(2)) r[2] = fit(where(c, z, g[0]), mb);
    return r;
  }
  bool differentiable() const override { return true; }
  std::string name() const override { return "WhereBackward0"; }
};
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  if (cond->dtype != DType::Bool)
    throw std::runtime_error(std::string("where expected condition to be a boolean tensor, but got a tensor with dtype ") +
                    dtype_name(cond->dtype));
  DType d = result_type(a, b);
  Tensor x = a->dtype == d ? a : cast_nograd(a, d);
  Tensor y = b->dtype == d ? b : cast_nograd(b, d);
  Shape s = broadcast_shapes(broadcast_shapes(cond->shape, x->shape), y->shape);
  Tensor out = empty(s, d);
  Tensor cv = make_view(cond, s, broadcast_strides(cond, s), cond->offset);
  Tensor xv = make_view(x, s, broadcast_strides(x, s), x->offset);
  Tensor yv = make_view(y, s, broadcast_strides(y, s), y->offset);
  EMBER_DISPATCH_ALL(d, T, ternary_kernel<T, T>(out, cv, xv, yv, [](bool c, T u, T v) { return c ? u : v; }));
  Tensor none;
  if (any_requires_grad({&a, &b})) {
    auto n = make_node<WhereBackward>({&none, &a, &b}, a, b);
    n->cond.save(cond);
    set_history(out, n);
  }
  return out;
}
EMBER_OP("where.self(Tensor condition, Tensor input, Tensor other, *, Tensor? out=None) -> Tensor", "function numbers",
         where(a.t(0), a.t(1), a.t(2)));
EMBER_OP("where(Tensor condition) -> Tensor[]", "function int64_result", nonzero_tuple(a.t(0)));

// ---- logical_* (any dtype -> bool) and bitwise_* (bool and integers; & | ^ ~), no gradient
Tensor logical_and(const Tensor& a, const Tensor& b) {
  NoGradGuard g;
  return binary_op<bool, bool>(a, b, DType::Bool, [](bool x, bool y) { return x && y; });
}
Tensor logical_or(const Tensor& a, const Tensor& b) {
  NoGradGuard g;
  return binary_op<bool, bool>(a, b, DType::Bool, [](bool x, bool y) { return x || y; });
}
Tensor logical_xor(const Tensor& a, const Tensor& b) {
  NoGradGuard g;
  return binary_op<bool, bool>(a, b, DType::Bool, [](bool x, bool y) { return x != y; });
}
enum class BitOp { And, Or, Xor, Shl, Shr };
static Tensor bitwise(const Tensor& a, const Tensor& b, BitOp op, const char* name) {
  DType d = result_type(a, b);
  if (is_floating(d))
    not_implemented_for(std::string(name) + "_cpu", d);
  NoGradGuard g;
  if (d == DType::Bool && (op == BitOp::Shl || op == BitOp::Shr)) not_implemented_for(op == BitOp::Shl ? "lshift_cpu" : "rshift_cpu", d);
  if (d == DType::Bool) {
    if (op == BitOp::And) return binary_op<bool, bool>(a, b, d, [](bool x, bool y) { return x && y; });
    if (op == BitOp::Or) return binary_op<bool, bool>(a, b, d, [](bool x, bool y) { return x || y; });
    if (op == BitOp::Xor) return binary_op<bool, bool>(a, b, d, [](bool x, bool y) { return x != y; });
    d = DType::Int64;
  }
  switch (op) {
    case BitOp::And: return binary_op<int64_t, int64_t>(a, b, d, [](int64_t x, int64_t y) { return x & y; });
    case BitOp::Or: return binary_op<int64_t, int64_t>(a, b, d, [](int64_t x, int64_t y) { return x | y; });
    case BitOp::Xor: return binary_op<int64_t, int64_t>(a, b, d, [](int64_t x, int64_t y) { return x ^ y; });
    case BitOp::Shl:
      return binary_op<int64_t, int64_t>(a, b, d, [](int64_t x, int64_t y) { return y < 0 || y >= 64 ? (int64_t)0 : (int64_t)((uint64_t)x << y); });
    case BitOp::Shr:
      return binary_op<int64_t, int64_t>(a, b, d, [](int64_t x, int64_t y) { return y < 0 || y >= 64 ? (x < 0 ? (int64_t)-1 : (int64_t)0) : x >> y; });
  }
  return Tensor();
}
Tensor bitwise_and(const Tensor& a, const Tensor& b) { return bitwise(a, b, BitOp::And, "bitwise_and"); }
Tensor bitwise_or(const Tensor& a, const Tensor& b) { return bitwise(a, b, BitOp::Or, "bitwise_or"); }
Tensor bitwise_xor(const Tensor& a, const Tensor& b) { return bitwise(a, b, BitOp::Xor, "bitwise_xor"); }
Tensor bitwise_not(const Tensor& a) {
  if (a->dtype == DType::Bool) return logical_not(a);
  if (is_floating(a->dtype))
    not_implemented_for("bitwise_not_cpu", a->dtype);
  return bitwise(a, scalar_tensor(Scalar::from_int(-1)), BitOp::Xor, "bitwise_not");
}
EMBER_OP("logical_and(Tensor input, Tensor other, *, Tensor? out=None) -> Tensor", "function method inplace", logical_and(a.t(0), a.t(1)));
EMBER_OP("logical_or(Tensor input, Tensor other, *, Tensor? out=None) -> Tensor", "function method inplace", logical_or(a.t(0), a.t(1)));
EMBER_OP("logical_xor(Tensor input, Tensor other, *, Tensor? out=None) -> Tensor", "function method inplace", logical_xor(a.t(0), a.t(1)));
EMBER_OP("bitwise_and(Tensor input, Tensor other, *, Tensor? out=None) -> Tensor",
         "function method inplace numbers __and__ __rand__ __iand__", bitwise_and(a.t(0), a.t(1)));
EMBER_OP("bitwise_or(Tensor input, Tensor other, *, Tensor? out=None) -> Tensor",
         "function method inplace numbers __or__ __ror__ __ior__", bitwise_or(a.t(0), a.t(1)));
EMBER_OP("bitwise_xor(Tensor input, Tensor other, *, Tensor? out=None) -> Tensor",
         "function method inplace numbers __xor__ __rxor__ __ixor__", bitwise_xor(a.t(0), a.t(1)));
EMBER_OP("bitwise_left_shift(Tensor input, Tensor other, *, Tensor? out=None) -> Tensor",
         "function method inplace numbers __lshift__ __rlshift__ __ilshift__", bitwise(a.t(0), a.t(1), BitOp::Shl, "bitwise_left_shift"));
EMBER_OP("bitwise_right_shift(Tensor input, Tensor other, *, Tensor? out=None) -> Tensor",
         "function method inplace numbers __rshift__ __rrshift__ __irshift__", bitwise(a.t(0), a.t(1), BitOp::Shr, "bitwise_right_shift"));
EMBER_OP("bitwise_not(Tensor input, *, Tensor? out=None) -> Tensor", "function method inplace __invert__", bitwise_not(a.t(0)));

// ---- masked_fill: where(mask, value, input), value a number or a 0-d tensor (differentiable in both)
Tensor masked_fill(const Tensor& a, const Tensor& mask, const Tensor& value) {
  if (mask->dtype != DType::Bool)
    throw std::runtime_error(std::string("masked_fill_ only supports boolean masks, but got mask with dtype ") + dtype_name(mask->dtype));
  if (value->dim() != 0)
    throw std::runtime_error("masked_fill_ only supports a 0-dimensional value tensor, but got tensor with " +
                             std::to_string(value->dim()) + " dimension(s).");
  check_number_fits(value, a->dtype);
  Tensor r = where(mask, to_dtype(value, a->dtype), a);
  if (r->shape != a->shape && broadcast_shapes(a->shape, mask->shape) != a->shape) return r;
  return r;
}
EMBER_OP("masked_fill(Tensor input, Tensor mask, Scalar value) -> Tensor", "function method inplace",
         masked_fill(a.t(0), a.t(1), scalar_tensor(a.s(2))));
EMBER_OP("masked_fill.Tensor(Tensor input, Tensor mask, Tensor value) -> Tensor", "function method inplace",
         masked_fill(a.t(0), a.t(1), a.t(2)));

}  // namespace ember
