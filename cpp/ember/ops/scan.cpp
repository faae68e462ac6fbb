// Cumulative ops along one dim: cumsum, cumprod, cummax/cummin (with indices), logcumsumexp.
// Each moves the dim last as contiguous rows (reduce_util.h), scans the rows, and moves back.
#include <cmath>
#include <limits>

#include "ember/ops/registry.h"
#include "ember/autograd/node.h"
#include "ember/ops/elementwise.h"
#include "ember/ops/reduce_util.h"

namespace ember {

namespace {
// Scans each row of `a` along `dim` with f(row_in, row_out, len) in compute dtype T.
template <class T, class F>
Tensor scan_rows(const Tensor& a, int64_t dim, DType out_dtype, F f) {
  Tensor x = a->dtype == dtype_of<T>::value ? a : cast_nograd(a, dtype_of<T>::value);
  Tensor rows = rows_last(x, dim);
  int64_t len = x->dim() == 0 ? 1 : x->shape[dim];
  Tensor out = empty(rows->shape, dtype_of<T>::value);
  int64_t nrows = len == 0 ? 0 : rows->numel() / len;
  for (int64_t r = 0; r < nrows; ++r) f(rows->template data<T>() + r * len, out->template data<T>() + r * len, len);
  Tensor back = rows_back(out, x->shape, dim);
  return back->dtype == out_dtype ? back : cast_nograd(back, out_dtype);
}
int64_t scan_dim(const Tensor& a, int64_t dim) { return wrap_dim(dim, std::max<int64_t>(a->dim(), 1)) ; }
Tensor reverse_cumsum(const Tensor& g, int64_t dim) {
  Tensor r;
  EMBER_DISPATCH_FLOAT(g->dtype, "cumsum_backward", T, r = scan_rows<T>(g, dim, g->dtype, [](const T* x, T* o, int64_t n) {
    T acc = 0;
    for (int64_t i = n - 1; i >= 0; --i) { acc += x[i]; o[i] = acc; }
  }));
  return r;
}
}  // namespace

// ---- cumsum (integers and bools accumulate in int64)
struct CumsumBackward : Node {
  int64_t dim;
  explicit CumsumBackward(int64_t d) : dim(d) {}
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    if (GradMode::is_enabled())  // create_graph: sum - cumsum + g, from differentiable ops
      return {add(sub(sum(g[0], {dim}, true), cumsum(g[0], dim)), g[0])};
    return {reverse_cumsum(g[0], dim)};
  }
  bool differentiable() const override { return true; }
  std::string name() const override { return "CumsumBackward0"; }
};
Tensor cumsum(const Tensor& a, int64_t dim) {
  dim = a->dim() == 0 ? 0 : scan_dim(a, dim);
  Tensor out;
  if (is_floating(a->dtype)) {
    EMBER_DISPATCH_FLOAT(a->dtype, "cumsum", T, out = scan_rows<T>(a, dim, a->dtype, [](const T* x, T* o, int64_t n) {
      double acc = 0;  // float32 accumulates in double
      for (int64_t i = 0; i < n; ++i) { acc += x[i]; o[i] = (T)acc; }
    }));
  } else {
    out = scan_rows<int64_t>(a, dim, DType::Int64, [](const int64_t* x, int64_t* o, int64_t n) {
      int64_t acc = 0;
      for (int64_t i = 0; i < n; ++i) { acc = wrap_add(acc, x[i]); o[i] = acc; }
    });
  }
  if (any_requires_grad({&a})) set_history(out, make_node<CumsumBackward>({&a}, dim));
  return out;
}
EMBER_OP("cumsum(Tensor input, int dim, *, ScalarType? dtype=None, Tensor? out=None) -> Tensor", "function method inplace int64_result",
         cumsum(with_dtype(a.t(0), a.dtype(2)), a.i(1)));

// ---- cumprod: exact gradient with zeros (grad_i = sum_{j>=i} g_j prod_{k<=j, k!=i} x_k)
struct CumprodBackward : Node {
  SavedTensor input{this};
  int64_t dim;
  explicit CumprodBackward(int64_t d) : dim(d) {}
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    Tensor x = input.get(*this);
    Tensor xr = rows_last(cast_nograd(x, g[0]->dtype), dim), gr = rows_last(g[0], dim);
    int64_t len = x->dim() == 0 ? 1 : x->shape[dim];
    Tensor out = empty(xr->shape, g[0]->dtype);
    int64_t nrows = len == 0 ? 0 : xr->numel() / len;
    EMBER_DISPATCH_FLOAT(g[0]->dtype, "cumprod_backward", T, {
      for (int64_t r = 0; r < nrows; ++r) {
        const T* xv = xr->data<T>() + r * len;
        const T* gv = gr->data<T>() + r * len;
        T* o = out->data<T>() + r * len;
        for (int64_t i = 0; i < len; ++i) {
          double pre = 1, acc = 0;
          for (int64_t k = 0; k < i; ++k) pre *= xv[k];
          double run = pre;  // prod_{k<=j, k!=i}
          for (int64_t j = i; j < len; ++j) {
            if (j > i) run *= xv[j];
            acc += gv[j] * run;
          }
          o[i] = (T)acc;
        }
      }
    });
    return {rows_back(out, x->shape, dim)};
  }
  std::string name() const override { return "CumprodBackward0"; }
};
Tensor cumprod(const Tensor& a, int64_t dim) {
  dim = a->dim() == 0 ? 0 : scan_dim(a, dim);
  Tensor out;
  if (is_floating(a->dtype)) {
    EMBER_DISPATCH_FLOAT(a->dtype, "cumprod", T, out = scan_rows<T>(a, dim, a->dtype, [](const T* x, T* o, int64_t n) {
      T acc = 1;
      for (int64_t i = 0; i < n; ++i) { acc *= x[i]; o[i] = acc; }
    }));
  } else {
    out = scan_rows<int64_t>(a, dim, DType::Int64, [](const int64_t* x, int64_t* o, int64_t n) {
      int64_t acc = 1;
      for (int64_t i = 0; i < n; ++i) { acc = wrap_mul(acc, x[i]); o[i] = acc; }
    });
  }
  if (any_requires_grad({&a})) {
    auto n = make_node<CumprodBackward>({&a}, dim);
    n->input.save(a);
    set_history(out, n);
  }
  return out;
}
EMBER_OP("cumprod(Tensor input, int dim, *, ScalarType? dtype=None, Tensor? out=None) -> Tensor", "function method inplace int64_result",
         cumprod(with_dtype(a.t(0), a.dtype(2)), a.i(1)));

// ---- cummax / cummin: running extreme and its (last) index; NaN propagates
struct CummaxBackward : Node {
  SavedTensor indices{this};
  int64_t dim;
  Shape in_shape;
  bool is_max;
  CummaxBackward(int64_t d, Shape s, bool m) : dim(d), in_shape(std::move(s)), is_max(m) {}
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    if (in_shape.empty()) return {g[0]};
    return {scatter_add(zeros(in_shape, g[0]->dtype), dim, indices.get(*this), g[0])};
  }
  std::string name() const override { return is_max ? "CummaxBackward0" : "CumminBackward0"; }
};
std::pair<Tensor, Tensor> cummax(const Tensor& a, int64_t dim, bool is_max) {
  dim = a->dim() == 0 ? 0 : scan_dim(a, dim);
  Tensor vals, idx;
  {
    NoGradGuard g;
    Tensor rows = rows_last(a, dim);
    int64_t len = a->dim() == 0 ? 1 : a->shape[dim];
    Tensor v = empty(rows->shape, a->dtype), ix = empty(rows->shape, DType::Int64);
    int64_t nrows = len == 0 ? 0 : rows->numel() / len;
    EMBER_DISPATCH_ALL(a->dtype, T, {
      for (int64_t r = 0; r < nrows; ++r) {
        const T* x = rows->data<T>() + r * len;
        T* o = v->data<T>() + r * len;
        int64_t* oi = ix->data<int64_t>() + r * len;
        T best = x[0];
        int64_t bi = 0;
        for (int64_t i = 0; i < len; ++i) {
          bool nan_best = best != best, nan_x = x[i] != x[i];
          if (!nan_best && (nan_x || (is_max ? x[i] >= best : x[i] <= best))) { best = x[i]; bi = i; }
          else if (nan_best && nan_x) bi = i;
          o[i] = best;
          oi[i] = bi;
        }
      }
    });
    vals = rows_back(v, a->shape, dim);
    idx = rows_back(ix, a->shape, dim);
  }
  if (any_requires_grad({&a})) {
    auto n = make_node<CummaxBackward>({&a}, dim, a->shape, is_max);
    n->indices.save(idx);
    set_history(vals, n);
  }
  return {vals, idx};
}
EMBER_OP("cummax(Tensor input, int dim, *, Tensor[]? out=None) -> (Tensor values, Tensor indices)", "function method", cummax(a.t(0), a.i(1), true));
EMBER_OP("cummin(Tensor input, int dim, *, Tensor[]? out=None) -> (Tensor values, Tensor indices)", "function method", cummax(a.t(0), a.i(1), false));

// ---- logcumsumexp: out_i = log sum_{j<=i} exp(x_j), accumulated with logaddexp
struct LogcumsumexpBackward : Node {
  SavedTensor input{this}, result{this};
  int64_t dim;
  explicit LogcumsumexpBackward(int64_t d) : dim(d) {}
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    Tensor x = input.get(*this), y = result.get(*this);
    Tensor xr = rows_last(x, dim), yr = rows_last(y, dim), gr = rows_last(g[0], dim);
    int64_t len = x->dim() == 0 ? 1 : x->shape[dim];
    Tensor out = empty(xr->shape, x->dtype);
    int64_t nrows = len == 0 ? 0 : xr->numel() / len;
    EMBER_DISPATCH_FLOAT(x->dtype, "logcumsumexp_backward", T, {
      for (int64_t r = 0; r < nrows; ++r) {
        const T *xv = xr->data<T>() + r * len, *yv = yr->data<T>() + r * len, *gv = gr->data<T>() + r * len;
        T* o = out->data<T>() + r * len;
        for (int64_t j = 0; j < len; ++j) {  // grad_j = sum_{i>=j} g_i exp(x_j - y_i)
          double acc = 0;
          for (int64_t i = j; i < len; ++i)
            if (gv[i] != 0) acc += gv[i] * std::exp((double)xv[j] - (double)yv[i]);
          o[j] = (T)acc;
        }
      }
    });
    return {rows_back(out, x->shape, dim)};
  }
  std::string name() const override { return "LogcumsumexpBackward0"; }
};
Tensor logcumsumexp(const Tensor& a0, int64_t dim) {
  if (!is_floating(a0->dtype)) not_implemented_for("logcumsumexp_out_cpu", a0->dtype);
  const Tensor& a = a0;
  dim = a->dim() == 0 ? 0 : scan_dim(a, dim);
  Tensor out;
  EMBER_DISPATCH_FLOAT(a->dtype, "logcumsumexp", T, out = scan_rows<T>(a, dim, a->dtype, [](const T* x, T* o, int64_t n) {
    double acc = -INFINITY;
    for (int64_t i = 0; i < n; ++i) {
      double v = x[i], m = std::max(acc, v);
      acc = std::isinf(m) && m < 0 ? m : (std::isnan(v) ? v : m + std::log(std::exp(acc - m) + std::exp(v - m)));
      o[i] = (T)acc;
    }
  }));
  if (any_requires_grad({&a})) {
    auto n = make_node<LogcumsumexpBackward>({&a}, dim);
    n->input.save(a);
    n->result.save(out, true);
    set_history(out, n);
  }
  return out;
}
EMBER_OP("logcumsumexp(Tensor input, int dim, *, Tensor? out=None) -> Tensor", "function method", logcumsumexp(a.t(0), a.i(1)));

}  // namespace ember
