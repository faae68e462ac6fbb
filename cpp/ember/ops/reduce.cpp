// Reductions (sum mean prod var std max min argmax argmin) and softmax / log_softmax, each with
// its backward node. Reduced dims are handled by a zero-stride output view, so no input copy.
#include <cmath>
#include <limits>

#include "ember/ops/registry.h"
#include "ember/autograd/node.h"
#include "ember/ops/elementwise.h"
#include "ember/kernels/vmath.h"
#include "ember/kernels/parallel.h"
#include "ember/ops/reduce_util.h"

namespace ember {


// ---- sum (float32 accumulates in double; integers and bools sum to int64)
struct SumBackward : Node {
  Shape in_shape;
  std::vector<bool> mask;
  bool keepdim;
  bool all;
  SumBackward(Shape s, std::vector<bool> m, bool k, bool a) : in_shape(std::move(s)), mask(std::move(m)), keepdim(k), all(a) {}
  std::vector<Tensor> apply(std::vector<Tensor>& g) override { return {unreduce(g[0], in_shape, mask, keepdim)}; }
  bool differentiable() const override { return true; }
  std::string name() const override { return all ? "SumBackward0" : "SumBackward1"; }
};
static Tensor sum_raw(const Tensor& a, const std::vector<bool>& m, bool keepdim) {
  Tensor acc;
  DType out_dtype = is_floating(a->dtype) ? a->dtype : DType::Int64;
  if (is_floating(a->dtype)) {
    EMBER_DISPATCH_FLOAT(a->dtype, "sum", T, acc = (fold<double, T>(a, m, 0.0, [](double r, double v) { return r + v; })));
  } else {
    EMBER_DISPATCH_ALL(a->dtype, T, acc = (fold<int64_t, T>(a, m, int64_t(0), [](int64_t r, int64_t v) { return wrap_add(r, v); })));
  }
  Tensor out = acc->dtype == out_dtype ? acc : cast_nograd(acc, out_dtype);
  return keepdim ? out : view(out, final_shape(a, m, false));
}
Tensor sum(const Tensor& a, const std::vector<int64_t>& dims, bool keepdim) {
  auto m = reduced_mask(a, dims);
  Tensor out;
  {
    NoGradGuard g;
    out = sum_raw(a, m, keepdim);
  }
  if (any_requires_grad({&a})) set_history(out, make_node<SumBackward>({&a}, a->shape, m, keepdim, dims.empty()));
  return out;
}
EMBER_OP("sum(Tensor input, int[1]? dim=None, bool keepdim=False, *, ScalarType? dtype=None, Tensor? out=None) -> Tensor",
         "function method int64_result", sum(with_dtype(a.t(0), a.dtype(3)), a.ints(1), a.b(2)));

// ---- mean
struct MeanBackward : Node {
  Shape in_shape;
  std::vector<bool> mask;
  bool keepdim;
  double scale;
  bool all;
  MeanBackward(Shape s, std::vector<bool> m, bool k, double sc, bool a) : in_shape(std::move(s)), mask(std::move(m)), keepdim(k), scale(sc), all(a) {}
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    double k = scale;
    if (GradMode::is_enabled()) return {unreduce(mul(g[0], num(k)), in_shape, mask, keepdim)};
    return {unreduce(map1(g[0], g[0]->dtype, "mean_backward", [k](auto v) { return v * k; }), in_shape, mask, keepdim)};
  }
  bool differentiable() const override { return true; }
  std::string name() const override { return all ? "MeanBackward0" : "MeanBackward1"; }
};
Tensor mean(const Tensor& a, const std::vector<int64_t>& dims, bool keepdim) {
  if (!is_floating(a->dtype))
    throw std::runtime_error(std::string("mean(): could not infer output dtype. Input dtype must be either a floating point or complex dtype. Got: ") +
                             dtype_name(a->dtype));
  auto m = reduced_mask(a, dims);
  int64_t n = reduced_count(a, m);
  Tensor out;
  {
    NoGradGuard g;
    Tensor acc;
    EMBER_DISPATCH_FLOAT(a->dtype, "mean", T, acc = (fold<double, T>(a, m, 0.0, [](double r, double v) { return r + v; })));
    double inv = n == 0 ? NAN : 1.0 / (double)n;
    out = map1(acc, a->dtype, "mean", [inv](auto v) { return v * inv; });
    if (!keepdim) out = view(out, final_shape(a, m, false));
  }
  if (any_requires_grad({&a})) set_history(out, make_node<MeanBackward>({&a}, a->shape, m, keepdim, n == 0 ? NAN : 1.0 / (double)n, dims.empty()));
  return out;
}
EMBER_OP("mean(Tensor input, int[1]? dim=None, bool keepdim=False, *, ScalarType? dtype=None, Tensor? out=None) -> Tensor",
         "function method", mean(with_dtype(a.t(0), a.dtype(3)), a.ints(1), a.b(2)));

// ---- var / std: composites of differentiable primitives
Tensor var(const Tensor& a, const std::vector<int64_t>& dims, double correction, bool keepdim) {
  if (!is_floating(a->dtype)) throw std::runtime_error(std::string("var(): expected a floating point tensor, got ") + dtype_name(a->dtype));
  auto m = reduced_mask(a, dims);
  double n = (double)reduced_count(a, m);
  Tensor mu = mean(a, dims, true);
  Tensor d = sub(a, mu);
  Tensor s = sum(mul(d, d), dims, keepdim);
  double denom = std::max(0.0, n - correction);
  return div(s, scalar_tensor(Scalar(denom)));
}
Tensor std_(const Tensor& a, const std::vector<int64_t>& dims, double correction, bool keepdim) {
  return sqrt_zero_grad(var(a, dims, correction, keepdim), "StdBackward0");  // zero spread: gradient 0, as torch
}
// torch's overloads: var(dim, unbiased, keepdim), var(dim, *, correction, keepdim), var(unbiased)
static double correction_of(const Args& a, int unbiased, int correction) {
  if (!a.none(correction) && !a.none(unbiased))
    throw TypeError("received an invalid combination of arguments: unbiased and correction both given (pass one: "
                    "unbiased=False is correction=0)");
  if (!a.none(correction)) return a.s(correction).f;
  return a.none(unbiased) || a.b(unbiased) ? 1.0 : 0.0;
}
EMBER_OP("var(Tensor input, int[1]? dim=None, bool? unbiased=None, bool keepdim=False, *, Scalar? correction=None, Tensor? out=None) -> Tensor",
         "function method", var(a.t(0), a.ints(1), correction_of(a, 2, 4), a.b(3)));
EMBER_OP("var.unbiased(Tensor input, bool unbiased) -> Tensor", "function method", var(a.t(0), {}, a.b(1) ? 1.0 : 0.0, false));
EMBER_OP("std(Tensor input, int[1]? dim=None, bool? unbiased=None, bool keepdim=False, *, Scalar? correction=None, Tensor? out=None) -> Tensor",
         "function method", std_(a.t(0), a.ints(1), correction_of(a, 2, 4), a.b(3)));
// std_mean / var_mean: plain tuples, as torch
EMBER_OP("std_mean(Tensor input, int[1]? dim=None, bool? unbiased=None, bool keepdim=False, *, Scalar? correction=None) -> (Tensor, Tensor)",
         "function", std::vector<Tensor>{std_(a.t(0), a.ints(1), correction_of(a, 2, 4), a.b(3)), mean(a.t(0), a.ints(1), a.b(3))});
EMBER_OP("var_mean(Tensor input, int[1]? dim=None, bool? unbiased=None, bool keepdim=False, *, Scalar? correction=None) -> (Tensor, Tensor)",
         "function", std::vector<Tensor>{var(a.t(0), a.ints(1), correction_of(a, 2, 4), a.b(3)), mean(a.t(0), a.ints(1), a.b(3))});
EMBER_OP("std.unbiased(Tensor input, bool unbiased) -> Tensor", "function method", std_(a.t(0), {}, a.b(1) ? 1.0 : 0.0, false));


// ---- prod over one dim or all
struct ProdBackward : Node {
  SavedTensor input{this};
  int64_t dim;  // -1 with all=true
  bool all, keepdim;
  ProdBackward(int64_t d, bool a, bool k) : dim(d), all(a), keepdim(k) {}
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    Tensor x = input.get(*this);
    Tensor xs = all ? reshape(contiguous(x), {x->numel()}) : x;
    int64_t d = all ? 0 : dim;
    Tensor rows = rows_last(xs, d);
    int64_t len = xs->dim() == 0 ? 1 : xs->shape[d];
    Tensor ex = empty(rows->shape, rows->dtype);  // product of all other elements of the row
    int64_t nrows = len == 0 ? 0 : rows->numel() / len;
    EMBER_DISPATCH_FLOAT(rows->dtype, "prod_backward", T, {
      const T* p = rows->data<T>();
      T* o = ex->data<T>();
      for (int64_t r = 0; r < nrows; ++r) {
        T acc = 1;
        for (int64_t i = 0; i < len; ++i) { o[r * len + i] = acc; acc *= p[r * len + i]; }
        acc = 1;
        for (int64_t i = len - 1; i >= 0; --i) { o[r * len + i] *= acc; acc *= p[r * len + i]; }
      }
    });
    Tensor exb = rows_back(ex, xs->shape, d);
    Tensor gg = g[0];
    if (!all && !keepdim) gg = unsqueeze(gg, d);
    Tensor r = mul(exb, all ? reshape(gg, {}) : gg);
    return {reshape(r, x->shape)};
  }
  std::string name() const override { return all ? "ProdBackward0" : "ProdBackward1"; }
};
Tensor prod(const Tensor& a, std::optional<int64_t> dim, bool keepdim) {
  std::vector<bool> m = dim ? reduced_mask(a, {*dim}) : reduced_mask(a, {});
  Tensor out;
  {
    NoGradGuard g;
    DType od = is_floating(a->dtype) ? a->dtype : DType::Int64;
    Tensor acc;
    if (is_floating(a->dtype)) {
      EMBER_DISPATCH_FLOAT(a->dtype, "prod", T, acc = (fold<double, T>(a, m, 1.0, [](double r, double v) { return r * v; })));
    } else {
      EMBER_DISPATCH_ALL(a->dtype, T, acc = (fold<int64_t, T>(a, m, int64_t(1), [](int64_t r, int64_t v) { return wrap_mul(r, v); })));
    }
    out = cast_nograd(acc, od);
    bool kd = dim ? keepdim : false;
    if (!kd) out = view(out, final_shape(a, m, false));
  }
  if (any_requires_grad({&a})) {
    int64_t d = dim ? wrap_dim(*dim, a->dim()) : -1;
    auto n = make_node<ProdBackward>({&a}, d, !dim, keepdim);
    n->input.save(a);
    set_history(out, n);
  }
  return out;
}
EMBER_OP("prod(Tensor input, int? dim=None, bool keepdim=False, *, ScalarType? dtype=None) -> Tensor", "function method int64_result",
         prod(with_dtype(a.t(0), a.dtype(3)), a.oi(1), a.b(2)));

// ---- max()/min() over everything: the gradient is shared evenly among ties, as torch
struct AmaxAllBackward : Node {
  SavedTensor input{this}, result{this};
  bool is_max;
  explicit AmaxAllBackward(bool m) : is_max(m) {}
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    Tensor x = input.get(*this), r = result.get(*this);
    Tensor mask = cast_nograd(compare(x, r, CmpOp::Eq), g[0]->dtype);
    Tensor cnt = sum(mask, {}, false);
    return {mul(mask, div(g[0], cnt))};
  }
  bool differentiable() const override { return true; }
  std::string name() const override { return is_max ? "MaxBackward1" : "MinBackward1"; }
};
Tensor amax_all(const Tensor& a, bool is_max) {
  if (a->numel() == 0)
    throw std::runtime_error(std::string(is_max ? "max" : "min") +
                             "(): Expected reduction dim to be specified for input.numel() == 0. Specify the reduction dim with the 'dim' argument.");
  std::vector<bool> m(a->dim(), true);
  Tensor out;
  EMBER_DISPATCH_ALL(a->dtype, T, {
    T init = is_max ? std::numeric_limits<T>::lowest() : std::numeric_limits<T>::max();
    if constexpr (std::numeric_limits<T>::has_infinity)
      init = is_max ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::infinity();
    Tensor acc = fold<T, T>(a, m, init, [is_max](T r, T v) {
      if (r != r) return r;  // NaN propagates
      if (v != v) return v;
      return is_max ? (v > r ? v : r) : (v < r ? v : r);
    });
    out = view(acc, {});
  });
  if (any_requires_grad({&a})) {
    auto n = make_node<AmaxAllBackward>({&a}, is_max);
    n->input.save(a);
    n->result.save(out, true);
    set_history(out, n);
  }
  return out;
}

// ---- max/min along a dim, with indices
struct MaxDimBackward : Node {
  SavedTensor indices{this};
  Shape in_shape;
  int64_t dim;
  bool keepdim, is_max;
  MaxDimBackward(Shape s, int64_t d, bool k, bool m) : in_shape(std::move(s)), dim(d), keepdim(k), is_max(m) {}
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    Tensor idx = indices.get(*this), gg = g[0];
    if (in_shape.empty()) return {reshape(gg, {})};
    if (!keepdim) idx = unsqueeze(idx, dim), gg = unsqueeze(gg, dim);
    return {scatter_add(zeros(in_shape, gg->dtype), dim, idx, gg)};
  }
  bool differentiable() const override { return true; }
  std::string name() const override { return is_max ? "MaxBackward0" : "MinBackward0"; }
};
std::pair<Tensor, Tensor> max_dim(const Tensor& a, int64_t dim, bool keepdim, bool is_max) {
  dim = wrap_dim(dim, a->dim());
  int64_t len = a->dim() == 0 ? 1 : a->shape[dim];
  if (len == 0)
    throw IndexError(std::string(is_max ? "max" : "min") + "(): Expected reduction dim " + std::to_string(dim) +
                     " to have non-zero size.");
  Tensor rows = rows_last(a, dim);
  int64_t nrows = rows->numel() / len;
  Shape ks = a->shape;
  if (!ks.empty()) ks[dim] = 1;
  Tensor vals = empty({nrows}, a->dtype), idx = empty({nrows}, DType::Int64);
  EMBER_DISPATCH_ALL(a->dtype, T, {
    const T* p = rows->data<T>();
    T* v = vals->data<T>();
    int64_t* ix = idx->data<int64_t>();
    for (int64_t r = 0; r < nrows; ++r) {
      const T* row = p + r * len;
      int64_t best = 0;
      for (int64_t i = 1; i < len; ++i) {
        if (row[best] != row[best]) break;
        if (row[i] != row[i] || (is_max ? row[i] > row[best] : row[i] < row[best])) best = i;
      }
      v[r] = row[best];
      ix[r] = best;
    }
  });
  Shape fs = keepdim ? ks : final_shape(a, reduced_mask(a, {dim}), false);
  vals = view(vals, fs);
  idx = view(idx, fs);
  if (any_requires_grad({&a})) {
    auto n = make_node<MaxDimBackward>({&a}, a->shape, dim, keepdim, is_max);
    n->indices.save(idx);
    set_history(vals, n);
  }
  return {vals, idx};
}

Tensor argmax(const Tensor& a, std::optional<int64_t> dim, bool keepdim, bool is_max) {
  if (a->dtype == DType::Bool)
    throw std::runtime_error(std::string(is_max ? "argmax" : "argmin") + "(): does not support bool input");
  NoGradGuard g;
  if (!dim) {
    Tensor flat = reshape(contiguous(a), {a->numel()});
    Tensor r = max_dim(flat, 0, false, is_max).second;
    if (keepdim) return reshape(r, Shape(a->dim(), 1));
    return r;
  }
  return max_dim(a, *dim, keepdim, is_max).second;
}
EMBER_OP("max(Tensor input) -> Tensor", "function method", amax_all(a.t(0), true));
EMBER_OP("max.dim(Tensor input, int dim, bool keepdim=False) -> (Tensor values, Tensor indices)", "function method",
         max_dim(a.t(0), a.i(1), a.b(2), true));
EMBER_OP("max.other(Tensor input, Tensor other) -> Tensor", "function method", maximum(a.t(0), a.t(1)));
EMBER_OP("min(Tensor input) -> Tensor", "function method", amax_all(a.t(0), false));
EMBER_OP("min.dim(Tensor input, int dim, bool keepdim=False) -> (Tensor values, Tensor indices)", "function method",
         max_dim(a.t(0), a.i(1), a.b(2), false));
EMBER_OP("min.other(Tensor input, Tensor other) -> Tensor", "function method", minimum(a.t(0), a.t(1)));
EMBER_OP("argmax(Tensor input, int? dim=None, bool keepdim=False, *, Tensor? out=None) -> Tensor", "function method int64_result", argmax(a.t(0), a.oi(1), a.b(2), true));
EMBER_OP("argmin(Tensor input, int? dim=None, bool keepdim=False, *, Tensor? out=None) -> Tensor", "function method int64_result", argmax(a.t(0), a.oi(1), a.b(2), false));

// ---- softmax / log_softmax along one dim (max-subtracted, so finite for large logits)
struct SoftmaxBackward : Node {
  SavedTensor out{this};
  int64_t dim;
  bool log;
  SoftmaxBackward(int64_t d, bool l) : dim(d), log(l) {}
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    Tensor y = out.get(*this);
    if (log) {  // g - exp(y) * sum(g)
      Tensor s = sum(g[0], {dim}, true);
      return {sub(g[0], mul(exp(y), s))};
    }
    Tensor gy = mul(g[0], y);  // y * (g - sum(g*y))
    return {mul(y, sub(g[0], sum(gy, {dim}, true)))};
  }
  bool differentiable() const override { return true; }
  std::string name() const override { return log ? "LogSoftmaxBackward0" : "SoftmaxBackward0"; }
};
constexpr int64_t kSoftmaxPerThread = 1 << 14;
static Tensor softmax_impl(const Tensor& a0, int64_t dim, bool log) {
  if (!is_floating(a0->dtype))  // as torch: no implicit cast (pass dtype= to softmax for that)
    throw NotImplementedError(std::string(log ? "log_softmax" : "softmax") + "(): not implemented for '" +
                              scalar_type_name(a0->dtype) + "' (input " + shape_str(a0->shape) +
                              "); expected a floating point tensor (or pass dtype=)");
  dim = wrap_dim(dim, a0->dim());
  const Tensor& a = a0;
  Tensor rows = rows_last(a, dim);
  int64_t len = a->dim() == 0 ? 1 : a->shape[dim];
  int64_t nrows = len == 0 ? 0 : rows->numel() / len;
  Tensor res = empty(rows->shape, a->dtype);
  if (a->dtype == DType::Float32) {  // the SIMD clones (kernels/vmath.h): libm's exp per element was 20x torch
    const float* p = rows->data<float>();
    float* o = res->data<float>();
    // rows split over the pool in blocks of 64 (the narrow kernel's), each thread ~16k elements at least
    parallel_for(nrows, (int)std::min<int64_t>(nrows * len / kSoftmaxPerThread, 64), 64,
                 [&](int64_t lo, int64_t hi) { softmax_rows(p + lo * len, o + lo * len, hi - lo, len, log); });
  } else EMBER_DISPATCH_FLOAT(a->dtype, log ? "log_softmax" : "softmax", T, {
    const T* p = rows->data<T>();
    T* o = res->data<T>();
    for (int64_t r = 0; r < nrows; ++r) {
      const T* x = p + r * len;
      T* y = o + r * len;
      T mx = x[0];
      for (int64_t i = 1; i < len; ++i) mx = x[i] > mx ? x[i] : mx;
      // no special case for an infinite max: a +inf, or a row of -inf, gives NaN, as torch
      double s = 0;
      for (int64_t i = 0; i < len; ++i) s += std::exp((double)(x[i] - mx));
      if (log) {
        const T ls = (T)std::log(s);  // (x - max) first: exact, so large logits keep their precision
        for (int64_t i = 0; i < len; ++i) y[i] = (x[i] - mx) - ls;
      } else {
        for (int64_t i = 0; i < len; ++i) y[i] = (T)(std::exp((double)(x[i] - mx)) / s);
      }
    }
  });
  Tensor out = rows_back(res, a->shape, dim);
  if (any_requires_grad({&a0})) {
    auto n = make_node<SoftmaxBackward>({&a0}, dim, log);
    n->out.save(out, true);
    set_history(out, n);
  }
  return out;
}
Tensor softmax(const Tensor& a, int64_t dim) { return softmax_impl(a, dim, false); }
Tensor log_softmax(const Tensor& a, int64_t dim) { return softmax_impl(a, dim, true); }
EMBER_OP("softmax(Tensor input, int dim, ScalarType? dtype=None, *, Tensor? out=None) -> Tensor", "function method",
         softmax(with_dtype(a.t(0), a.dtype(2)), a.i(1)));
EMBER_OP("log_softmax(Tensor input, int dim, ScalarType? dtype=None, *, Tensor? out=None) -> Tensor", "function method",
         log_softmax(with_dtype(a.t(0), a.dtype(2)), a.i(1)));

}  // namespace ember
