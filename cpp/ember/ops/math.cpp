// Elementwise math beyond + - * /: atan2, hypot, fmod, copysign, lerp, addcmul/addcdiv, xlogy,
// logaddexp(2), nan_to_num, logit, the float predicates (isnan, isinf, ...) and the comparisons
// that answer for whole tensors (equal, allclose, isclose).
#include <cmath>
#include <limits>

#include "ember/ops/registry.h"
#include "ember/autograd/node.h"
#include "ember/ops/elementwise.h"

namespace ember {

namespace {
DType float_result(const Tensor& a, const Tensor& b) { return to_floating(result_type(a, b)); }
Tensor zero_like_scalar(DType d) { return zeros({}, d); }
}  // namespace

// ---- atan2 / hypot: own kernels, gradients as torch's formulas
struct Atan2Backward : Node {
  SavedTensor y{this}, x{this};
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    Tensor yy = y.get(*this), xx = x.get(*this);
    Tensor den = add(mul(xx, xx), mul(yy, yy));
    std::vector<Tensor> r(2);
    if (needs(0)) r[0] = sum_to(div(mul(g[0], xx), den), yy->shape);
    if (needs(1)) r[1] = sum_to(div(mul(g[0], neg(yy)), den), xx->shape);
    return r;
  }
  std::string name() const override { return "Atan2Backward0"; }
};
Tensor atan2(const Tensor& a, const Tensor& b) {
  Tensor out = map2(a, b, float_result(a, b), "atan2", [](auto u, auto v) { return std::atan2(u, v); });
  if (any_requires_grad({&a, &b})) {
    auto n = make_node<Atan2Backward>({&a, &b});
    n->y.save(a), n->x.save(b);
    set_history(out, n);
  }
  return out;
}
EMBER_OP("atan2(Tensor input, Tensor other, *, Tensor? out=None) -> Tensor", "function method inplace", atan2(a.t(0), a.t(1)));
EMBER_OP("arctan2(Tensor input, Tensor other, *, Tensor? out=None) -> Tensor", "function method inplace", atan2(a.t(0), a.t(1)));

struct HypotBackward : Node {
  SavedTensor x{this}, y{this}, r{this};
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    Tensor xx = x.get(*this), yy = y.get(*this), rr = r.get(*this);
    std::vector<Tensor> res(2);
    if (needs(0)) res[0] = sum_to(div(mul(g[0], xx), rr), xx->shape);
    if (needs(1)) res[1] = sum_to(div(mul(g[0], yy), rr), yy->shape);
    return res;
  }
  std::string name() const override { return "HypotBackward0"; }
};
Tensor hypot(const Tensor& a, const Tensor& b) {
  if (!is_floating(result_type(a, b))) not_implemented_for("hypot_cpu", result_type(a, b));
  Tensor out = map2(a, b, float_result(a, b), "hypot", [](auto u, auto v) { return std::hypot(u, v); });
  if (any_requires_grad({&a, &b})) {
    auto n = make_node<HypotBackward>({&a, &b});
    n->x.save(a), n->y.save(b), n->r.save(out, true);
    set_history(out, n);
  }
  return out;
}
EMBER_OP("hypot(Tensor input, Tensor other, *, Tensor? out=None) -> Tensor", "function method inplace", hypot(a.t(0), a.t(1)));

// ---- fmod: C's remainder (sign of the dividend); grad: 1 and -trunc(a / b)
struct FmodBackward : Node {
  SavedTensor x{this}, y{this};
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    Tensor xx = x.get(*this), yy = y.get(*this);
    std::vector<Tensor> r(2);
    if (needs(0)) r[0] = sum_to(g[0], xx->shape);
    if (needs(1)) r[1] = sum_to(mul(g[0], neg(trunc(div(xx, yy)))), yy->shape);
    return r;
  }
  std::string name() const override { return "FmodBackward0"; }
};
Tensor fmod(const Tensor& a, const Tensor& b) {
  DType d = result_type(a, b);
  if (d == DType::Bool) d = DType::Int64;
  Tensor out;
  if (!is_floating(d)) {
    NoGradGuard g;
    Tensor bi = contiguous(cast_nograd(b, DType::Int64));
    for (int64_t i = 0; i < bi->numel(); ++i)
      if (bi->data<int64_t>()[i] == 0) throw std::runtime_error("ZeroDivisionError");
    // a - trunc(a / b) * b in integers
    Tensor q = div_mode(a, b, "trunc");
    out = sub(cast_nograd(a, DType::Int64), mul(q, cast_nograd(b, DType::Int64)));
    return out;
  }
  out = map2(a, b, d, "fmod", [](auto u, auto v) { return std::fmod(u, v); });
  if (any_requires_grad({&a, &b})) {
    auto n = make_node<FmodBackward>({&a, &b});
    n->x.save(a), n->y.save(b);
    set_history(out, n);
  }
  return out;
}
EMBER_OP("fmod(Tensor input, Tensor other, *, Tensor? out=None) -> Tensor", "function method inplace numbers", fmod(a.t(0), a.t(1)));

// ---- copysign: |a| with b's sign; grad: g * out / a (0 where a == 0) and zeros for b, as torch
struct CopysignBackward : Node {
  SavedTensor x{this}, out{this};
  Shape b_shape;
  DType b_dtype = DType::Float32;
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    std::vector<Tensor> r(2);
    if (needs(0)) {
      Tensor xx = x.get(*this), oo = out.get(*this);
      Tensor ratio = map2(oo, xx, oo->dtype, "copysign_backward", [](auto o, auto v) { return v == 0 ? 0 * o : o / v; });
      r[0] = sum_to(mul(g[0], ratio), xx->shape);
    }
    if (needs(1)) r[1] = zeros(b_shape, b_dtype);
    return r;
  }
  std::string name() const override { return "CopysignBackward0"; }
};
Tensor copysign(const Tensor& a, const Tensor& b) {
  DType d = float_result(a, b);
  Tensor out = map2(a, b, d, "copysign", [](auto u, auto v) { return std::copysign(u, v); });
  if (any_requires_grad({&a, &b})) {
    auto n = make_node<CopysignBackward>({&a, &b});
    n->x.save(a);
    n->out.save(out, true);
    n->b_shape = b->shape, n->b_dtype = b->dtype;
    set_history(out, n);
  }
  return out;
}
EMBER_OP("copysign(Tensor input, Tensor other, *, Tensor? out=None) -> Tensor", "function method inplace numbers",
         copysign(a.t(0), a.t(1)));

// ---- composites: lerp, addcmul, addcdiv, xlogy, logaddexp(2), logit
Tensor lerp(const Tensor& start, const Tensor& end, const Tensor& weight) {
  DType d = result_type(start, end);
  if (!is_floating(d)) not_implemented_for(weight->wrapped_number ? "lerp_kernel_scalar" : "lerp_kernel_tensor", d);
  return add(start, mul(weight, sub(end, start)));
}
EMBER_OP("lerp.Scalar(Tensor input, Tensor end, Scalar weight, *, Tensor? out=None) -> Tensor", "function method inplace",
         lerp(a.t(0), a.t(1), scalar_tensor(a.s(2))));
EMBER_OP("lerp.Tensor(Tensor input, Tensor end, Tensor weight, *, Tensor? out=None) -> Tensor", "function method inplace",
         lerp(a.t(0), a.t(1), a.t(2)));
static Tensor scaled(const Tensor& t, const Scalar& v) {
  return v.kind != Scalar::Float && v.i == 1 ? t : mul(t, scalar_tensor(v));
}
EMBER_OP("addcmul(Tensor input, Tensor tensor1, Tensor tensor2, *, Scalar value=1, Tensor? out=None) -> Tensor",
         "function method inplace", add(a.t(0), scaled(mul(a.t(1), a.t(2)), a.s(3))));
Tensor addcdiv(const Tensor& self, const Tensor& t1, const Tensor& t2, const Scalar& value) {
  if (!is_floating(t1->dtype) && !is_floating(t2->dtype))
    throw std::runtime_error("Integer division with addcdiv is no longer supported, and in a future release addcdiv will "
                             "perform a true division of tensor1 and tensor2. The historic addcdiv behavior can be "
                             "implemented as (input + value * torch.trunc(tensor1 / tensor2)).to(input.dtype) for "
                             "integer inputs and as (input + value * tensor1 / tensor2) for float inputs. The future "
                             "addcdiv behavior is just the latter implementation: (input + value * tensor1 / tensor2), "
                             "for all dtypes.");
  return add(self, scaled(div(t1, t2), value));
}
EMBER_OP("addcdiv(Tensor input, Tensor tensor1, Tensor tensor2, *, Scalar value=1, Tensor? out=None) -> Tensor",
         "function method inplace", addcdiv(a.t(0), a.t(1), a.t(2), a.s(3)));
Tensor xlogy(const Tensor& x, const Tensor& y);
// xlogy's gradients as torch's: g * xlogy(x != 0, y) (0 where x == 0 unless y is NaN), g * x / y
struct XlogyBackward : Node {
  SavedTensor x{this}, y{this};
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    Tensor xx = x.get(*this), yy = y.get(*this);
    std::vector<Tensor> r(2);
    if (needs(0)) r[0] = sum_to(mul(g[0], xlogy(to_dtype(compare(xx, zeros({}, xx->dtype), CmpOp::Ne), xx->dtype), yy)), xx->shape);
    if (needs(1)) r[1] = sum_to(div(mul(g[0], xx), yy), yy->shape);
    return r;
  }
  std::string name() const override { return "XlogyBackward0"; }
};
Tensor xlogy(const Tensor& x, const Tensor& y) {
  DType d = float_result(x, y);
  Tensor xx = to_dtype(x, d), yy = to_dtype(y, d);
  Tensor out;
  {
    NoGradGuard g;
    Tensor r = mul(xx, log(yy));
    Tensor zero_x = logical_and(compare(xx, zero_like_scalar(d), CmpOp::Eq), compare(yy, yy, CmpOp::Eq));
    out = where(zero_x, zero_like_scalar(d), r);
  }
  if (any_requires_grad({&xx, &yy})) {
    auto n = make_node<XlogyBackward>({&xx, &yy});
    n->x.save(xx), n->y.save(yy);
    set_history(out, n);
  }
  return out;
}
EMBER_OP("xlogy(Tensor input, Tensor other, *, Tensor? out=None) -> Tensor", "function method inplace numbers", xlogy(a.t(0), a.t(1)));
EMBER_OP("xlogy.Scalar_Self(Scalar self, Tensor other, *, Tensor? out=None) -> Tensor", "function", xlogy(scalar_tensor(a.s(0)), a.t(1)));
Tensor logaddexp(const Tensor& a, const Tensor& b, bool base2) {
  DType d = result_type(a, b);
  if (!is_floating(d)) not_implemented_for(base2 ? "logaddexp2_cpu" : "logaddexp_cpu", d);
  Tensor x = to_dtype(a, d), y = to_dtype(b, d);
  const double ln2 = 0.6931471805599453;
  if (base2) x = mul(x, scalar_tensor(Scalar(ln2))), y = mul(y, scalar_tensor(Scalar(ln2)));
  Tensor m;
  {
    NoGradGuard g;
    m = maximum(x, y);
    m = where(compare(abs(m), scalar_tensor(Scalar(INFINITY)), CmpOp::Eq), zeros({}, d), m);
  }
  Tensor r = add(m, log(add(exp(sub(x, m)), exp(sub(y, m)))));
  return base2 ? div(r, scalar_tensor(Scalar(ln2))) : r;
}
EMBER_OP("logaddexp(Tensor input, Tensor other, *, Tensor? out=None) -> Tensor", "function method", logaddexp(a.t(0), a.t(1), false));
EMBER_OP("logaddexp2(Tensor input, Tensor other, *, Tensor? out=None) -> Tensor", "function method", logaddexp(a.t(0), a.t(1), true));
// logit's gradient as torch's: g / (x (1 - x)) (inf at 0 and 1), 0 outside [eps, 1 - eps]
struct LogitBackward : Node {
  SavedTensor x{this};
  double lo, hi;
  LogitBackward(double l, double h) : lo(l), hi(h) {}
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    Tensor xx = x.get(*this);
    const double l = lo, h = hi;
    return {map2(g[0], xx, g[0]->dtype, "logit_backward", [l, h](auto gv, auto v) {
      using T = decltype(gv);
      return ((double)v < l || (double)v > h) ? T(0) : gv / (v * (T(1) - v));
    })};
  }
  std::string name() const override { return "LogitBackward0"; }
};
Tensor logit(const Tensor& a, std::optional<double> eps) {
  Tensor x = is_floating(a->dtype) ? a : to_dtype(a, DType::Float32);
  Tensor out;
  {
    NoGradGuard g;
    Tensor xc = eps ? clamp(x, Scalar(*eps), Scalar(1.0 - *eps)) : x;
    out = log(div(xc, sub(ones({}, x->dtype), xc)));
  }
  if (any_requires_grad({&x})) {
    auto n = make_node<LogitBackward>({&x}, eps ? *eps : -INFINITY, eps ? 1.0 - *eps : INFINITY);
    n->x.save(x);
    set_history(out, n);
  }
  return out;
}
EMBER_OP("logit(Tensor input, float? eps=None, *, Tensor? out=None) -> Tensor", "function method inplace", logit(a.t(0), a.of(1)));

// ---- nan_to_num: NaN, +inf, -inf replaced (defaults: 0, the dtype's max, its lowest)
Tensor nan_to_num(const Tensor& a, std::optional<double> nan, std::optional<double> posinf, std::optional<double> neginf) {
  if (!is_floating(a->dtype)) return clone(a);
  double big = a->dtype == DType::Float32 ? (double)std::numeric_limits<float>::max() : std::numeric_limits<double>::max();
  Tensor isn = compare(a, a, CmpOp::Ne);
  Tensor pinf = compare(a, scalar_tensor(Scalar(INFINITY)), CmpOp::Eq);
  Tensor ninf = compare(a, scalar_tensor(Scalar(-INFINITY)), CmpOp::Eq);
  Tensor r = where(isn, to_dtype(scalar_tensor(Scalar(nan.value_or(0.0))), a->dtype), a);
  r = where(pinf, to_dtype(scalar_tensor(Scalar(posinf.value_or(big))), a->dtype), r);
  return where(ninf, to_dtype(scalar_tensor(Scalar(neginf.value_or(-big))), a->dtype), r);
}
EMBER_OP("nan_to_num(Tensor input, float? nan=0.0, float? posinf=None, float? neginf=None, *, Tensor? out=None) -> Tensor",
         "function method inplace", nan_to_num(a.t(0), a.of(1), a.of(2), a.of(3)));

// ---- predicates (bool results, no gradient)
namespace {
template <class P>
Tensor predicate(const Tensor& a, bool int_value, P p) {
  NoGradGuard g;
  if (!is_floating(a->dtype)) return full(a->shape, Scalar::from_bool(int_value), DType::Bool);
  Tensor out = empty(a->shape, DType::Bool);
  EMBER_DISPATCH_FLOAT(a->dtype, "predicate", T, unary_kernel<bool, T>(out, a, [&](T v) { return p((double)v); }));
  return out;
}
}  // namespace
EMBER_OP("isnan(Tensor input) -> Tensor", "function method", predicate(a.t(0), false, [](double v) { return v != v; }));
EMBER_OP("isinf(Tensor input) -> Tensor", "function method", predicate(a.t(0), false, [](double v) { return std::isinf(v); }));
EMBER_OP("isposinf(Tensor input, *, Tensor? out=None) -> Tensor", "function method",
         predicate(a.t(0), false, [](double v) { return std::isinf(v) && v > 0; }));
EMBER_OP("isneginf(Tensor input, *, Tensor? out=None) -> Tensor", "function method",
         predicate(a.t(0), false, [](double v) { return std::isinf(v) && v < 0; }));
EMBER_OP("isfinite(Tensor input) -> Tensor", "function method", predicate(a.t(0), true, [](double v) { return std::isfinite(v); }));
EMBER_OP("isreal(Tensor input) -> Tensor", "function method", predicate(a.t(0), true, [](double) { return true; }));
EMBER_OP("signbit(Tensor input, *, Tensor? out=None) -> Tensor", "function method",
         a.t(0)->dtype == DType::Float32 || a.t(0)->dtype == DType::Float64
             ? predicate(a.t(0), false, [](double v) { return std::signbit(v); })
             : compare(a.t(0), scalar_tensor(Scalar::from_int(0)), CmpOp::Lt));

// ---- equal / isclose / allclose
bool equal(const Tensor& a, const Tensor& b) {
  NoGradGuard g;
  if (a->shape != b->shape) return false;
  Tensor e = compare(a, b, CmpOp::Eq);
  Tensor c = contiguous(e);
  for (int64_t i = 0; i < c->numel(); ++i)
    if (!c->data<bool>()[i]) return false;
  return true;
}
EMBER_OP("equal(Tensor input, Tensor other) -> bool", "function method", equal(a.t(0), a.t(1)));
Tensor isclose(const Tensor& a, const Tensor& b, double rtol, double atol, bool equal_nan) {
  NoGradGuard g;
  if (a->dtype != b->dtype)
    throw std::runtime_error(std::string(scalar_type_name(a->dtype)) + " did not match " + scalar_type_name(b->dtype));
  if (rtol < 0) throw std::runtime_error("rtol must be greater than or equal to zero, but got " + std::to_string(rtol));
  if (atol < 0) throw std::runtime_error("atol must be greater than or equal to zero, but got " + std::to_string(atol));
  Tensor eq = compare(a, b, CmpOp::Eq);
  if (!is_floating(a->dtype) && a->dtype != DType::Int64) return eq;
  DType d = is_floating(a->dtype) ? a->dtype : DType::Float64;
  Tensor x = cast_nograd(a, d), y = cast_nograd(b, d);
  Tensor r = map2(x, y, d, "isclose", [rtol, atol, equal_nan](auto u, auto v) {
    using T = decltype(u);
    if (u == v) return T(1);
    if (u != u || v != v) return T(equal_nan && u != u && v != v ? 1 : 0);
    if (std::isinf((double)u) || std::isinf((double)v)) return T(0);
    return T(std::abs((double)u - (double)v) <= atol + rtol * std::abs((double)v) ? 1 : 0);
  });
  return compare(r, zeros({}, d), CmpOp::Ne);
}
EMBER_OP("isclose(Tensor input, Tensor other, float rtol=1e-05, float atol=1e-08, bool equal_nan=False) -> Tensor",
         "function method", isclose(a.t(0), a.t(1), a.f(2), a.f(3), a.b(4)));
EMBER_OP("allclose(Tensor input, Tensor other, float rtol=1e-05, float atol=1e-08, bool equal_nan=False) -> bool",
         "function method", Value(all(isclose(a.t(0), a.t(1), a.f(2), a.f(3), a.b(4)), {}, false)->data<bool>()[0]));

}  // namespace ember
