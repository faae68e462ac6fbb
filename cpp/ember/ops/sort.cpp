// Sorting and searching: sort/argsort/msort, topk, kthvalue, median, unique, searchsorted,
// bucketize, histc, bincount. Index-producing ops compute indices without a graph; values are
// then a gather of the input, so their gradient is gather's (as torch's sort/topk backward).
#include <algorithm>
#include <cmath>
#include <numeric>

#include "ember/ops/registry.h"
#include "ember/autograd/node.h"
#include "ember/ops/elementwise.h"
#include "ember/ops/reduce_util.h"

namespace ember {

namespace {
// NaN sorts above every number (torch and numpy).
template <class T>
inline bool less_nan(T x, T y) {
  if constexpr (std::is_floating_point_v<T>) {
    if (y != y) return x == x;
    if (x != x) return false;
  }
  return x < y;
}

// Indices that order each row of `a` along `dim` (stable); the result has a's shape.
Tensor order_indices(const Tensor& a, int64_t dim, bool descending) {
  NoGradGuard g;
  Tensor rows = rows_last(a, dim);
  int64_t len = a->dim() == 0 ? 1 : a->shape[dim];
  Tensor idx = empty(rows->shape, DType::Int64);
  int64_t nrows = len == 0 ? 0 : rows->numel() / len;
  EMBER_DISPATCH_ALL(a->dtype, T, {
    for (int64_t r = 0; r < nrows; ++r) {
      const T* x = rows->data<T>() + r * len;
      int64_t* o = idx->data<int64_t>() + r * len;
      std::iota(o, o + len, int64_t(0));
      if (descending)
        std::stable_sort(o, o + len, [x](int64_t i, int64_t j) { return less_nan(x[j], x[i]); });
      else
        std::stable_sort(o, o + len, [x](int64_t i, int64_t j) { return less_nan(x[i], x[j]); });
    }
  });
  return rows_back(idx, a->shape, dim);
}
int64_t sort_dim(const Tensor& a, int64_t dim) { return a->dim() == 0 ? 0 : wrap_dim(dim, a->dim()); }
Tensor gather_any(const Tensor& a, int64_t dim, const Tensor& idx) {
  if (a->dim() == 0) return a->requires_grad ? clone(a) : a;
  return gather(a, dim, idx);
}
}  // namespace

std::pair<Tensor, Tensor> sort(const Tensor& a, int64_t dim, bool descending) {
  dim = sort_dim(a, dim);
  Tensor idx = order_indices(a, dim, descending);
  return {gather_any(a, dim, idx), idx};
}
EMBER_OP("sort(Tensor input, int dim=-1, bool descending=False, *, bool? stable=False) -> (Tensor values, Tensor indices)",
         "function method", sort(a.t(0), a.i(1), a.b(2)));
EMBER_OP("argsort(Tensor input, int dim=-1, bool descending=False, *, bool stable=False) -> Tensor", "function method int64_result",
         order_indices(a.t(0), sort_dim(a.t(0), a.i(1)), a.b(2)));
EMBER_OP("msort(Tensor input, *, Tensor? out=None) -> Tensor", "function method", sort(a.t(0), 0, false).first);

// ---- topk: the k largest (or smallest), sorted
std::pair<Tensor, Tensor> topk(const Tensor& a, int64_t k, int64_t dim, bool largest, bool sorted) {
  dim = sort_dim(a, dim);
  int64_t len = a->dim() == 0 ? 1 : a->shape[dim];
  if (k < 0 || k > len) throw std::runtime_error("selected index k out of range");
  Tensor idx = narrow(order_indices(a, dim, largest), a->dim() == 0 ? 0 : dim, 0, k);
  if (a->dim() == 0) idx = reshape(idx, {});
  idx = contiguous(idx);
  return {gather_any(a, dim, idx), idx};
}
EMBER_OP("topk(Tensor input, int k, int dim=-1, bool largest=True, bool sorted=True, *, Tensor[]? out=None) -> (Tensor values, Tensor indices)",
         "function method", topk(a.t(0), a.i(1), a.i(2), a.b(3), a.b(4)));

// ---- kthvalue: the k-th smallest (1-based) along dim
std::pair<Tensor, Tensor> kthvalue(const Tensor& a, int64_t k, int64_t dim, bool keepdim) {
  dim = sort_dim(a, dim);
  int64_t len = a->dim() == 0 ? 1 : a->shape[dim];
  if (k < 1 || k > len)
    throw std::runtime_error("kthvalue(): selected number k out of range for dimension " + std::to_string(dim));
  if (a->dim() == 0) return {a->requires_grad ? clone(a) : a, zeros({}, DType::Int64)};
  Tensor idx = contiguous(narrow(order_indices(a, dim, false), dim, k - 1, 1));
  Tensor v = gather(a, dim, idx);
  if (!keepdim) v = squeeze(v, dim), idx = squeeze(idx, dim);
  return {v, idx};
}
EMBER_OP("kthvalue(Tensor input, int k, int dim=-1, bool keepdim=False, *, Tensor[]? out=None) -> (Tensor values, Tensor indices)", "function method",
         kthvalue(a.t(0), a.i(1), a.i(2), a.b(3)));

// ---- median: the lower median; a NaN in the row makes it the answer (torch)
namespace {
Tensor median_index(const Tensor& a, int64_t dim) {
  Tensor idx = order_indices(a, dim, false);
  int64_t len = a->shape[dim];
  Tensor nan_count = is_floating(a->dtype) ? sum(compare(a, a, CmpOp::Ne), {dim}, true) : zeros({}, DType::Int64);
  // with NaNs, the first NaN in sorted order sits at len - nan_count
  Tensor pos = where(compare(nan_count, zeros({}, DType::Int64), CmpOp::Gt),
                     sub(scalar_tensor(Scalar::from_int(len), DType::Int64), nan_count),
                     scalar_tensor(Scalar::from_int((len - 1) / 2), DType::Int64));
  Shape ks = a->shape;
  ks[dim] = 1;
  return gather(idx, dim, contiguous(expand(pos, ks)));
}
}  // namespace
Tensor median_all(const Tensor& a) {
  if (a->numel() == 0) return full({}, Scalar(NAN), is_floating(a->dtype) ? a->dtype : DType::Float32);
  Tensor flat = reshape(a, {a->numel()});
  Tensor idx;
  {
    NoGradGuard g;
    idx = reshape(median_index(flat, 0), {1});
  }
  return reshape(index_select(flat, 0, idx), {});
}
std::pair<Tensor, Tensor> median_dim(const Tensor& a, int64_t dim, bool keepdim) {
  dim = sort_dim(a, dim);
  if (a->dim() == 0) return {a->requires_grad ? clone(a) : a, zeros({}, DType::Int64)};
  if (a->shape[dim] == 0) throw IndexError("median(): Expected reduction dim " + std::to_string(dim) + " to have non-zero size.");
  Tensor idx;
  {
    NoGradGuard g;
    idx = median_index(a, dim);
  }
  Tensor v = gather(a, dim, idx);
  if (!keepdim) v = squeeze(v, dim), idx = squeeze(idx, dim);
  return {v, idx};
}
EMBER_OP("median(Tensor input) -> Tensor", "function method", median_all(a.t(0)));
EMBER_OP("median.dim(Tensor input, int dim, bool keepdim=False, *, Tensor[]? out=None) -> (Tensor values, Tensor indices)", "function method",
         median_dim(a.t(0), a.i(1), a.b(2)));

// ---- unique: sorted distinct values (or rows along dim), with inverse indices and counts
Value unique(const Tensor& a, bool return_inverse, bool return_counts, std::optional<int64_t> dim) {
  NoGradGuard g;
  Tensor x = contiguous(a);
  int64_t d = dim ? wrap_dim(*dim, std::max<int64_t>(a->dim(), 1)) : 0;
  Tensor rows = dim ? contiguous(rows_last(x, d)) : reshape(x, {x->numel()});
  // slices: along dim when given (each a row of the moved-last layout transposed), else elements
  int64_t n = dim ? (a->dim() == 0 ? 1 : a->shape[d]) : x->numel();
  int64_t width = n == 0 ? 0 : (dim ? rows->numel() / n : 1);
  Tensor sl = dim ? contiguous(transpose(reshape(rows, {width, n}), 0, 1)) : rows;  // [n, width]
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), int64_t(0));
  std::vector<int64_t> inverse(n), counts;
  std::vector<int64_t> firsts;
  EMBER_DISPATCH_ALL(a->dtype, T, {
    const T* p = sl->data<T>();
    auto lt = [&](int64_t i, int64_t j) {
      for (int64_t k = 0; k < width; ++k) {
        T u = p[i * width + k], v = p[j * width + k];
        if (less_nan(u, v)) return true;
        if (less_nan(v, u)) return false;
      }
      return false;
    };
    std::stable_sort(order.begin(), order.end(), lt);
    for (int64_t i = 0; i < n; ++i) {
      if (i == 0 || lt(order[i - 1], order[i])) {
        firsts.push_back(order[i]);
        counts.push_back(0);
      }
      counts.back()++;
      inverse[order[i]] = (int64_t)firsts.size() - 1;
    }
  });
  int64_t m = (int64_t)firsts.size();
  Tensor fi = empty({m}, DType::Int64);
  std::copy(firsts.begin(), firsts.end(), fi->data<int64_t>());
  Tensor vals;
  if (dim) {
    vals = index_select(x, d, fi);
  } else {
    vals = index_select(rows, 0, fi);
  }
  std::vector<Tensor> out{vals};
  if (return_inverse) {
    Tensor inv = empty({n}, DType::Int64);
    std::copy(inverse.begin(), inverse.end(), inv->data<int64_t>());
    out.push_back(dim ? inv : reshape(inv, a->shape));
  }
  if (return_counts) {
    Tensor c = empty({m}, DType::Int64);
    std::copy(counts.begin(), counts.end(), c->data<int64_t>());
    out.push_back(c);
  }
  if (out.size() == 1) return Value(out[0]);
  return Value(out);
}
EMBER_OP("unique(Tensor input, bool sorted=True, bool return_inverse=False, bool return_counts=False, int? dim=None) -> Tensor",
         "function method", unique(a.t(0), a.b(2), a.b(3), a.oi(4)));

// ---- searchsorted / bucketize: binary search in sorted rows
Tensor searchsorted(const Tensor& seq, const Tensor& v, bool right, bool out_int32) {
  NoGradGuard g;
  if (seq->dim() == 0) throw std::runtime_error("torch.searchsorted(): boundaries tensor should have positive dimension, but got 0 dimension");
  if (seq->dim() > 1) {
    bool ok = v->dim() == seq->dim();
    for (int64_t i = 0; ok && i + 1 < seq->dim(); ++i) ok = seq->shape[i] == v->shape[i];
    if (!ok)
      throw std::runtime_error("torch.searchsorted(): boundaries tensor should be 1 dimension or the first N-1 dimensions of "
                               "boundaries tensor and input value tensor must match, but we got boundaries tensor " +
                               shape_str(seq->shape) + " and input value tensor " + shape_str(v->shape));
  }
  DType d = promote(seq->dtype, v->dtype);
  if (d == DType::Bool) d = DType::Int64;
  Tensor s = contiguous(cast_nograd(seq, d)), x = contiguous(cast_nograd(v, d));
  int64_t len = s->shape.back();
  int64_t nseq = len == 0 ? 1 : s->numel() / len;
  int64_t per = seq->dim() == 1 ? x->numel() : (x->dim() ? x->shape.back() : 1);
  Tensor out = empty(x->shape, DType::Int64);
  EMBER_DISPATCH_ALL(d, T, {
    const T* sp = s->data<T>();
    const T* xp = x->data<T>();
    int64_t* o = out->data<int64_t>();
    for (int64_t i = 0, n = x->numel(); i < n; ++i) {
      const T* row = sp + (seq->dim() == 1 ? 0 : std::min(i / std::max<int64_t>(per, 1), nseq - 1) * len);
      T val = xp[i];
      const T* pos = right ? std::upper_bound(row, row + len, val, [](T u, T w) { return less_nan(u, w); })
                           : std::lower_bound(row, row + len, val, [](T u, T w) { return less_nan(u, w); });
      o[i] = pos - row;
    }
  });
  return out_int32 ? cast_nograd(out, DType::Int32) : out;
}
static bool side_right(const Args& a, int right, int side) {
  if (a.none(side)) return a.b(right);
  std::string s = a.str(side);
  if (s != "left" && s != "right")
    throw std::runtime_error("torch.searchsorted(): side can only be 'left' or 'right' but got " + s);
  if (a.b(right) && s == "left")
    throw std::runtime_error("torch.searchsorted(): side and right can't be set to opposites, got side of left while right was True");
  return s == "right";
}
EMBER_OP("searchsorted(Tensor sorted_sequence, Tensor input, *, bool out_int32=False, bool right=False, str? side=None, Tensor? sorter=None, Tensor? out=None) -> Tensor",
         "function numbers int64_result",
         searchsorted(a.none(5) ? a.t(0) : gather(a.t(0), -1, a.t(5)), a.t(1), side_right(a, 3, 4), a.b(2)));
EMBER_OP("bucketize(Tensor input, Tensor boundaries, *, bool out_int32=False, bool right=False, Tensor? out=None) -> Tensor", "function int64_result",
         [&] {
           if (a.t(1)->dim() != 1)
             throw std::runtime_error("boundaries tensor must be 1 dimension, but got dim(" + std::to_string(a.t(1)->dim()) + ")");
           return searchsorted(a.t(1), a.t(0), a.b(3), a.b(2));
         }());

// ---- histc: equal-width bins over [min, max] (the data's range when both are 0)
Tensor histc(const Tensor& a, int64_t bins, double lo, double hi) {
  if (!is_floating(a->dtype)) not_implemented_for("histogram_cpu", a->dtype);
  if (bins <= 0) throw std::runtime_error("torch.histc(): bins must be > 0, but got " + std::to_string(bins) + " for bins");
  NoGradGuard g;
  Tensor x = contiguous(cast_nograd(a, DType::Float64));
  const double* p = x->data<double>();
  int64_t n = x->numel();
  if (lo == hi && n > 0) {
    lo = INFINITY, hi = -INFINITY;
    for (int64_t i = 0; i < n; ++i) lo = std::min(lo, p[i]), hi = std::max(hi, p[i]);
  }
  if (lo == hi) lo -= 1, hi += 1;
  if (lo > hi) throw std::runtime_error("torch.histc(): max must be larger than min");
  Tensor out = zeros({bins}, a->dtype);
  std::vector<double> h(bins, 0.0);
  for (int64_t i = 0; i < n; ++i) {
    double v = p[i];
    if (!(v >= lo && v <= hi)) continue;
    int64_t b = (int64_t)((v - lo) * (double)bins / (hi - lo));
    if (b == bins) b -= 1;
    h[b] += 1;
  }
  EMBER_DISPATCH_FLOAT(a->dtype, "histc", T, for (int64_t b = 0; b < bins; ++b) out->data<T>()[b] = (T)h[b]);
  return out;
}
EMBER_OP("histc(Tensor input, int bins=100, Scalar min=0, Scalar max=0, *, Tensor? out=None) -> Tensor", "function method",
         histc(a.t(0), a.i(1), a.s(2).f, a.s(3).f));

// ---- bincount: counts (or summed weights) of each non-negative integer
// Declared any_dtype: the storage dtypes arrive as they are (integer inputs of any width; the
// result is float32 for float32 weights, float64 for any other weights, as torch).
Tensor bincount(const Tensor& a, const Tensor& weights, int64_t minlength) {
  NoGradGuard g;
  if (a->dim() != 1 || is_floating(a->dtype) || a->dtype == DType::Bool)
    throw std::runtime_error("bincount only supports 1-d non-negative integral inputs.");
  if (minlength < 0) throw std::runtime_error("minlength should be >= 0");
  Tensor x = contiguous(cast_nograd(a, DType::Int64));
  const int64_t* p = x->data<int64_t>();
  int64_t n = x->numel(), mx = -1;
  for (int64_t i = 0; i < n; ++i) {
    if (p[i] < 0) throw std::runtime_error("bincount only supports 1-d non-negative integral inputs.");
    mx = std::max(mx, p[i]);
  }
  int64_t len = std::max(mx + 1, minlength);
  if (!weights) {
    Tensor out = zeros({len}, DType::Int64);
    for (int64_t i = 0; i < n; ++i) out->data<int64_t>()[p[i]]++;
    return out;
  }
  if (weights->dim() != 1 || weights->shape[0] != n)
    throw std::runtime_error("weights should be 1-d and have the same length as input");
  DType d = weights->dtype == DType::Float32 ? DType::Float32 : DType::Float64;
  Tensor w = contiguous(cast_nograd(weights, DType::Float64));
  std::vector<double> acc(len, 0.0);
  for (int64_t i = 0; i < n; ++i) acc[p[i]] += w->data<double>()[i];
  Tensor out = empty({len}, d);
  EMBER_DISPATCH_FLOAT(d, "bincount", T, for (int64_t b = 0; b < len; ++b) out->data<T>()[b] = (T)acc[b]);
  return out;
}
EMBER_OP("bincount(Tensor input, Tensor? weights=None, int minlength=0) -> Tensor", "function method any_dtype",
         bincount(a.t(0), a.t(1), a.i(2)));

}  // namespace ember
