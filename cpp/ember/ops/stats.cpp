// Reductions beyond sum/mean/prod/max: all/any, amax/amin/aminmax, logsumexp, nansum/nanmean,
// count_nonzero, vector norms. Composites where the primitives' backward is
// torch's gradient; own nodes where torch's differs (ties shared evenly, zero-norm gradients).
#include <cmath>
#include <limits>

#include "ember/ops/registry.h"
#include "ember/autograd/node.h"
#include "ember/ops/elementwise.h"
#include "ember/ops/reduce_util.h"

namespace ember {

// ---- all / any: bool results; NaN counts as true
static Tensor all_any(const Tensor& a, const std::vector<int64_t>& dims, bool keepdim, bool is_all) {
  auto m = reduced_mask(a, dims);
  Tensor out;
  NoGradGuard g;
  EMBER_DISPATCH_ALL(a->dtype, T, out = (fold<bool, T>(a, m, is_all, [is_all](bool r, bool v) { return is_all ? (r && v) : (r || v); })));
  return keepdim ? out : view(out, final_shape(a, m, false));
}
Tensor all(const Tensor& a, const std::vector<int64_t>& dims, bool keepdim) { return all_any(a, dims, keepdim, true); }
Tensor any(const Tensor& a, const std::vector<int64_t>& dims, bool keepdim) { return all_any(a, dims, keepdim, false); }
EMBER_OP("all(Tensor input, int[1]? dim=None, bool keepdim=False, *, Tensor? out=None) -> Tensor", "function method",
         all(a.t(0), a.ints(1), a.b(2)));
EMBER_OP("any(Tensor input, int[1]? dim=None, bool keepdim=False, *, Tensor? out=None) -> Tensor", "function method",
         any(a.t(0), a.ints(1), a.b(2)));

// ---- amax / amin over dims (all when empty): the gradient is shared evenly among ties, as torch
struct AmaxBackward : Node {
  SavedTensor input{this}, result{this};
  std::vector<bool> mask;
  bool keepdim, is_max;
  AmaxBackward(std::vector<bool> m, bool k, bool mx) : mask(std::move(m)), keepdim(k), is_max(mx) {}
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    Tensor x = input.get(*this), r = result.get(*this);
    Tensor rk = unreduce(r, x->shape, mask, keepdim);
    Tensor hit = cast_nograd(compare(x, rk, CmpOp::Eq), g[0]->dtype);
    Tensor cnt = unreduce(sum(hit, dims_of(mask), keepdim), x->shape, mask, keepdim);
    return {div(mul(hit, unreduce(g[0], x->shape, mask, keepdim)), cnt)};
  }
  static std::vector<int64_t> dims_of(const std::vector<bool>& m) {
    std::vector<int64_t> d;
    for (size_t i = 0; i < m.size(); ++i)
      if (m[i]) d.push_back((int64_t)i);
    return d;
  }
  bool differentiable() const override { return true; }
  std::string name() const override { return is_max ? "AmaxBackward0" : "AminBackward0"; }
};
Tensor amax(const Tensor& a, const std::vector<int64_t>& dims, bool keepdim, bool is_max) {
  auto m = reduced_mask(a, dims);
  for (size_t i = 0; i < m.size(); ++i)
    if (m[i] && a->shape[i] == 0)
      throw IndexError(std::string(is_max ? "amax" : "amin") + "(): Expected reduction dim " + std::to_string(i) +
                       " to have non-zero size.");
  if (a->numel() == 0 && a->dim() == 0) throw IndexError("amax(): empty input");
  Tensor out;
  EMBER_DISPATCH_ALL(a->dtype, T, {
    T init = is_max ? std::numeric_limits<T>::lowest() : std::numeric_limits<T>::max();
    out = fold<T, T>(a, m, init, [is_max](T r, T v) {
      if (r != r) return r;
      if (v != v) return v;
      return is_max ? (v > r ? v : r) : (v < r ? v : r);
    });
  });
  if (!keepdim) out = view(out, final_shape(a, m, false));
  if (any_requires_grad({&a})) {
    auto n = make_node<AmaxBackward>({&a}, m, keepdim, is_max);
    n->input.save(a);
    n->result.save(out, true);
    set_history(out, n);
  }
  return out;
}
EMBER_OP("amax(Tensor input, int[1] dim=[], bool keepdim=False, *, Tensor? out=None) -> Tensor", "function method",
         amax(a.t(0), a.ints(1), a.b(2), true));
EMBER_OP("amin(Tensor input, int[1] dim=[], bool keepdim=False, *, Tensor? out=None) -> Tensor", "function method",
         amax(a.t(0), a.ints(1), a.b(2), false));
static std::vector<int64_t> opt_dim(const Args& a, int k) { return a.none(k) ? std::vector<int64_t>{} : std::vector<int64_t>{a.i(k)}; }
EMBER_OP("aminmax(Tensor input, *, int? dim=None, bool keepdim=False, Tensor[]? out=None) -> (Tensor min, Tensor max)", "function method",
         std::make_pair(amax(a.t(0), opt_dim(a, 1), a.b(2), false), amax(a.t(0), opt_dim(a, 1), a.b(2), true)));

// ---- logsumexp: max-shifted (a detached shift; the gradient is softmax's)
Tensor logsumexp(const Tensor& a0, const std::vector<int64_t>& dims, bool keepdim) {
  Tensor a = is_floating(a0->dtype) ? a0 : to_dtype(a0, DType::Float32);
  if (a->numel() == 0) return log(sum(exp(a), dims, keepdim));
  Tensor m;
  {
    NoGradGuard g;
    m = amax(a, dims, true, true);
    m = where(compare(abs(m), scalar_tensor(Scalar(INFINITY)), CmpOp::Eq), zeros({}, m->dtype), m);
  }
  Tensor s = log(sum(exp(sub(a, m)), dims, keepdim));
  if (!keepdim) m = view(m, final_shape(a, reduced_mask(a, dims), false));
  return add(s, m);
}
EMBER_OP("logsumexp(Tensor input, int[1] dim, bool keepdim=False, *, Tensor? out=None) -> Tensor", "function method",
         logsumexp(a.t(0), a.ints(1), a.b(2)));

// ---- nansum / nanmean: NaNs count as zero (and are not counted); gradient g * (x == x), as torch
// (a multiplication: an infinite g, from nanmean over an all-NaN slice, gives NaN there too)
struct NanToZeroBackward : Node {
  SavedTensor x{this};
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    if (GradMode::is_enabled()) {
      Tensor v = x.get(*this);
      return {where(compare(v, v, CmpOp::Eq), g[0], num(0))};
    }
    return {map2(g[0], x.get(*this), g[0]->dtype, "nansum_backward",
                 [](auto gv, auto v) { return gv * (v == v ? decltype(gv)(1) : decltype(gv)(0)); })};
  }
  bool differentiable() const override { return true; }
  std::string name() const override { return "NansumBackward0"; }
};
static Tensor nan_to_zero(const Tensor& a) {
  if (!is_floating(a->dtype)) return a;
  Tensor out;
  {
    NoGradGuard g;
    out = where(compare(a, a, CmpOp::Ne), zeros({}, a->dtype), a);
  }
  if (any_requires_grad({&a})) {
    auto n = make_node<NanToZeroBackward>({&a});
    n->x.save(a);
    set_history(out, n);
  }
  return out;
}
Tensor nansum(const Tensor& a, const std::vector<int64_t>& dims, bool keepdim) { return sum(nan_to_zero(a), dims, keepdim); }
Tensor nanmean(const Tensor& a, const std::vector<int64_t>& dims, bool keepdim) {
  if (!is_floating(a->dtype))
    throw std::runtime_error(std::string("nanmean(): expected input to have floating point or complex dtype but got ") + scalar_type_name(a->dtype));
  Tensor cnt = sum(compare(a, a, CmpOp::Eq), dims, keepdim);
  return div(nansum(a, dims, keepdim), cnt);
}
EMBER_OP("nansum(Tensor input, int[1]? dim=None, bool keepdim=False, *, ScalarType? dtype=None, Tensor? out=None) -> Tensor",
         "function method int64_result", nansum(with_dtype(a.t(0), a.dtype(3)), a.ints(1), a.b(2)));
EMBER_OP("nanmean(Tensor input, int[1]? dim=None, bool keepdim=False, *, ScalarType? dtype=None, Tensor? out=None) -> Tensor",
         "function method", nanmean(with_dtype(a.t(0), a.dtype(3)), a.ints(1), a.b(2)));
EMBER_OP("count_nonzero(Tensor input, int[1]? dim=None) -> Tensor", "function method int64_result",
         sum(compare(a.t(0), scalar_tensor(Scalar::from_int(0)), CmpOp::Ne), a.ints(1), false));

// ---- sqrt whose gradient at 0 is 0 (std and the 2-norm: torch masks result == 0)
struct SafeSqrtBackward : Node {
  SavedTensor result{this};
  const char* nm;
  explicit SafeSqrtBackward(const char* n) : nm(n) {}
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    Tensor r = result.get(*this);
    if (GradMode::is_enabled()) {  // (the divisor kept nonzero, so where's other branch has no NaN gradient)
      Tensor zero = compare(r, num(0), CmpOp::Eq);
      return {where(zero, num(0), div(g[0], mul(num(2), where(zero, num(1), r))))};
    }
    return {map2(g[0], r, g[0]->dtype, "sqrt_backward", [](auto gv, auto v) { return v == 0 ? decltype(v)(0) : gv / (2 * v); })};
  }
  bool differentiable() const override { return true; }
  std::string name() const override { return nm; }
};
Tensor sqrt_zero_grad(const Tensor& v, const char* node) {
  Tensor out;
  {
    NoGradGuard g;
    out = sqrt(v);
  }
  if (any_requires_grad({&v})) {
    auto n = make_node<SafeSqrtBackward>({&v}, node);
    n->result.save(out, true);
    set_history(out, n);
  }
  return out;
}

// ---- vector norms: ord 2 (zero-safe), 1, inf, -inf, 0 and general p
struct NormBackward : Node {
  SavedTensor input{this}, result{this};
  double p;
  std::vector<bool> mask;
  bool keepdim;
  NormBackward(double pp, std::vector<bool> m, bool k) : p(pp), mask(std::move(m)), keepdim(k) {}
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    Tensor x = input.get(*this), r = unreduce(result.get(*this), input.get(*this)->shape, mask, keepdim);
    Tensor gg = unreduce(g[0], x->shape, mask, keepdim);
    double pm1 = p - 1;
    if (GradMode::is_enabled()) {  // sign(x) (|x| / r)^(p-1), 0 where r == 0, from differentiable ops
      Tensor zero = compare(r, ember::num(0), CmpOp::Eq);
      Tensor q = mul(sign(x), pow(div(abs(x), where(zero, ember::num(1), r)), ember::num(pm1)));
      return {mul(where(zero, ember::num(0), q), gg)};
    }
    // g * sign(x) |x|^(p-1) / r^(p-1), zero where r == 0
    Tensor num = map2(x, r, x->dtype, "norm_backward", [pm1](auto xv, auto rv) {
      using T = decltype(xv);
      if (rv == 0) return T(0);
      T s = (T)((xv > 0) - (xv < 0));
      return (T)(s * std::pow(std::abs((double)xv) / (double)rv, pm1));
    });
    return {mul(num, gg)};
  }
  bool differentiable() const override { return true; }
  std::string name() const override { return "NormBackward1"; }
};
// norm(ord=0) (a count): differentiable in torch, with an undefined (None) gradient
struct NormZeroBackward : Node {
  std::vector<Tensor> apply(std::vector<Tensor>&) override { return {Tensor()}; }
  bool differentiable() const override { return true; }
  std::string name() const override { return "LinalgVectorNormBackward0"; }
};
Tensor vector_norm(const Tensor& a, double ord, const std::vector<int64_t>& dims, bool keepdim) {
  if (!is_floating(a->dtype))
    throw std::runtime_error(std::string("linalg.vector_norm: Expected a floating point or complex tensor as input. Got ") +
                             scalar_type_name(a->dtype));
  if (ord == 2) return sqrt_zero_grad(sum(mul(a, a), dims, keepdim), "NormBackward1");
  if (ord == 1) return sum(abs(a), dims, keepdim);
  if (std::isinf(ord)) {
    for (int64_t d : dims)
      if (a->dim() > 0 && a->shape[wrap_dim(d, a->dim())] == 0)
        throw std::runtime_error("linalg.vector_norm cannot compute the " + std::string(ord > 0 ? "inf" : "-inf") +
                                 " norm on the dimension " + std::to_string(wrap_dim(d, a->dim())) +
                                 "because this dimension is empty and the operation does not have an identity");
    return amax(abs(a), dims, keepdim, ord > 0);
  }
  if (ord == 0) {
    Tensor out = to_dtype(sum(compare(a, zeros({}, a->dtype), CmpOp::Ne), dims, keepdim), a->dtype);
    if (any_requires_grad({&a})) set_history(out, make_node<NormZeroBackward>({&a}));
    return out;
  }
  auto m = reduced_mask(a, dims);
  Tensor out;
  {
    NoGradGuard g;
    out = pow(sum(pow(abs(a), scalar_tensor(Scalar(ord))), dims, keepdim), scalar_tensor(Scalar(1.0 / ord)));
  }
  if (any_requires_grad({&a})) {
    auto n = make_node<NormBackward>({&a}, ord, m, keepdim);
    n->input.save(a);
    n->result.save(out, true);
    set_history(out, n);
  }
  return out;
}
static Tensor norm_str(const Tensor& a, const std::string& p, const std::vector<int64_t>& dims, bool keepdim) {
  if (p == "fro") return vector_norm(a, 2, dims, keepdim);
  throw std::runtime_error("norm: ember supports p='fro' and numeric p (got '" + p + "'; 'nuc' needs an SVD)");
}
EMBER_OP("norm(Tensor input, Scalar? p=2, int[1]? dim=None, bool keepdim=False, *, ScalarType? dtype=None) -> Tensor",
         "function method", vector_norm(with_dtype(a.t(0), a.dtype(4)), a.none(1) ? 2.0 : a.s(1).f, a.ints(2), a.b(3)));
EMBER_OP("norm.str(Tensor input, str p, int[1]? dim=None, bool keepdim=False, *, ScalarType? dtype=None) -> Tensor",
         "function method", norm_str(with_dtype(a.t(0), a.dtype(4)), a.str(1), a.ints(2), a.b(3)));
EMBER_OP("linalg_vector_norm(Tensor input, Scalar ord=2, int[1]? dim=None, bool keepdim=False, *, ScalarType? dtype=None, Tensor? out=None) -> Tensor",
         "function", vector_norm(with_dtype(a.t(0), a.dtype(4)), a.s(1).f, a.ints(2), a.b(3)));


}  // namespace ember
