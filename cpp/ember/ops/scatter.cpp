// Writes along indices and selections: scatter (src / value / reduce), scatter_reduce, index_copy,
// index_fill, index_put, masked_select, masked_scatter, take, take_along_dim, argwhere.
// Composites over gather/index_add/where where their gradients are torch's; own nodes otherwise.
#include <cmath>
#include <limits>

#include "ember/ops/registry.h"
#include "ember/autograd/node.h"
#include "ember/ops/elementwise.h"

namespace ember {

namespace {
enum class Red { Set, Sum, Prod, Mean, Amax, Amin };
Red red_from(const std::string& r, bool legacy) {
  if (legacy) {
    if (r == "add") return Red::Sum;
    if (r == "multiply") return Red::Prod;
    throw std::runtime_error("reduce argument must be either add or multiply.");
  }
  if (r == "sum") return Red::Sum;
  if (r == "prod") return Red::Prod;
  if (r == "mean") return Red::Mean;
  if (r == "amax") return Red::Amax;
  if (r == "amin") return Red::Amin;
  throw std::runtime_error("reduce argument must be either sum, prod, mean, amax or amin, got " + r);
}
void check_scatter(const Tensor& a, int64_t dim, const Tensor& index, const Tensor& src, const char* op) {
  if (index->dtype != DType::Int64)
    throw std::runtime_error(std::string(op) + "(): Expected dtype int64 for index");
  if (index->dim() != a->dim() && !(a->dim() == 0 && index->dim() <= 1))
    throw std::runtime_error(std::string(op) + "(): Index tensor must have the same number of dimensions as self tensor");
  for (int64_t i = 0; i < index->dim() && a->dim(); ++i) {
    if (i != dim && index->shape[i] > a->shape[i])
      throw std::runtime_error(std::string(op) + "(): Expected index " + shape_str(index->shape) + " to be smaller than self " +
                               shape_str(a->shape) + " apart from dimension " + std::to_string(dim));
    if (src && src->dim() == index->dim() && index->shape[i] > src->shape[i])
      throw std::runtime_error(std::string(op) + "(): Expected index " + shape_str(index->shape) + " to be smaller than src " +
                               shape_str(src->shape));
  }
  if (src && src->dtype != a->dtype)
    throw std::runtime_error(std::string(op) + "(): Expected self.dtype to be equal to src.dtype");
}
// out (a contiguous copy of a) gets src[p] reduced into out[p with dim -> index[p]] for every p in
// index's shape; `counts` (optional, same shape as out) counts the writes.
void scatter_into(Tensor& out, int64_t dim, const Tensor& index, const Tensor& src, Red r, std::vector<int64_t>* counts) {
  Tensor idx = contiguous(index);
  int64_t nd = idx->dim();
  if (idx->numel() == 0) return;
  const int64_t* ip = idx->data<int64_t>();
  int64_t n_dim = out->dim() == 0 ? 1 : out->shape[dim];
  std::vector<int64_t> coord(nd, 0);
  EMBER_DISPATCH_ALL(out->dtype, T, {
    T* op = out->data<T>();
    const char* sp = src->raw();
    for (int64_t lin = 0, n = idx->numel(); lin < n; ++lin) {
      int64_t v = ip[lin];
      if (v < -n_dim || v >= n_dim)
        throw IndexError("index " + std::to_string(v) + " is out of bounds for dimension " + std::to_string(dim) +
                         " with size " + std::to_string(n_dim));
      if (v < 0) v += n_dim;
      int64_t o = 0, s = src->offset;
      for (int64_t k = 0; k < nd; ++k) {
        o += (k == dim ? v : coord[k]) * out->strides[k];
        s += coord[k] * src->strides[k];
      }
      T x = reinterpret_cast<const T*>(src->storage->data)[s];
      (void)sp;
      T& y = op[o];
      switch (r) {
        case Red::Set: y = x; break;
        case Red::Sum: case Red::Mean: y = (T)(y + x); break;
        case Red::Prod: y = (T)(y * x); break;
        case Red::Amax: y = (x != x || x > y) ? x : y; break;
        case Red::Amin: y = (x != x || x < y) ? x : y; break;
      }
      if (counts) (*counts)[o]++;
      for (int64_t k = nd - 1; k >= 0; --k) {
        if (++coord[k] < idx->shape[k]) break;
        coord[k] = 0;
      }
    }
  });
}
Tensor expand_src(const Tensor& src, const Tensor& index) {
  if (src->dim() == 0) return expand(src, index->shape);
  return src;
}
}  // namespace

// ---- scatter: out = input with src written at index (grad: input's zeroed there; src's gathered)
struct ScatterBackward : Node {
  SavedTensor index{this};
  int64_t dim;
  Shape src_shape;
  explicit ScatterBackward(int64_t d) : dim(d) {}
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    Tensor idx = index.get(*this);
    std::vector<Tensor> r(2);
    if (needs(0)) {
      Tensor z = contiguous(clone(g[0]));
      scatter_into(z, dim, idx, expand(zeros({}, z->dtype), idx->shape), Red::Set, nullptr);
      r[0] = z;
    }
    if (needs(1)) {
      r[1] = gather(g[0], dim, idx);
      if (idx->shape != src_shape) r[1] = zero_pad_to(r[1], src_shape);  // only src[:index.shape] was read
    }
    return r;
  }
  std::string name() const override { return "ScatterBackward0"; }
};
Tensor scatter(const Tensor& a, int64_t dim, const Tensor& index, const Tensor& src0) {
  dim = a->dim() == 0 ? 0 : wrap_dim(dim, a->dim());
  Tensor src = expand_src(src0, index);
  check_scatter(a, dim, index, src, "scatter");
  Tensor out;
  {
    NoGradGuard g;
    out = clone(a);
    scatter_into(out, dim, index, src, Red::Set, nullptr);
  }
  if (any_requires_grad({&a, &src})) {
    auto n = make_node<ScatterBackward>({&a, &src}, dim);
    n->index.save(index);
    n->src_shape = src->shape;
    set_history(out, n);
  }
  return out;
}
Tensor scatter_legacy_reduce(const Tensor& a, int64_t dim, const Tensor& index, const Tensor& src0, const std::string& reduce) {
  Red r = red_from(reduce, true);
  Tensor src = expand_src(src0, index);
  if (r == Red::Sum) return scatter_add(a, wrap_dim(dim, std::max<int64_t>(a->dim(), 1)), index, src);
  check_scatter(a, dim, index, src, "scatter");
  if (any_requires_grad({&a, &src})) throw NotImplementedError("scatter(reduce='multiply') is not differentiable in ember");
  Tensor out = clone(a);
  scatter_into(out, wrap_dim(dim, std::max<int64_t>(a->dim(), 1)), index, src, r, nullptr);
  return out;
}
EMBER_OP("scatter.src(Tensor input, int dim, Tensor index, Tensor src, *, Tensor? out=None) -> Tensor", "function method inplace",
         scatter(a.t(0), a.i(1), a.t(2), a.t(3)));
EMBER_OP("scatter.value(Tensor input, int dim, Tensor index, Scalar value, *, Tensor? out=None) -> Tensor", "function method inplace",
         scatter(a.t(0), a.i(1), a.t(2), to_dtype(scalar_tensor(a.s(3)), a.t(0)->dtype)));
EMBER_OP("scatter.reduce(Tensor input, int dim, Tensor index, Tensor src, *, str reduce, Tensor? out=None) -> Tensor", "function method inplace",
         scatter_legacy_reduce(a.t(0), a.i(1), a.t(2), a.t(3), a.str(4)));
EMBER_OP("scatter.value_reduce(Tensor input, int dim, Tensor index, Scalar value, *, str reduce, Tensor? out=None) -> Tensor",
         "function method inplace",
         scatter_legacy_reduce(a.t(0), a.i(1), a.t(2), to_dtype(scalar_tensor(a.s(3)), a.t(0)->dtype), a.str(4)));

// ---- scatter_reduce(sum | prod | mean | amax | amin, include_self)
struct ScatterReduceBackward : Node {
  SavedTensor index{this}, input{this}, src{this}, result{this};
  int64_t dim;
  Red r;
  bool include_self;
  std::vector<int64_t> counts;  // writes per output element (plus one for self when included)
  ScatterReduceBackward(int64_t d, Red rr, bool inc) : dim(d), r(rr), include_self(inc) {}
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    Tensor idx = index.get(*this), x = input.get(*this), s = src.get(*this), y = result.get(*this);
    Tensor gg = g[0];
    Tensor scattered = zeros(x->shape, DType::Bool);  // where any src element landed
    {
      Tensor m = contiguous(scattered);
      scatter_into(m, dim, idx, expand(full({}, Scalar::from_bool(true), DType::Bool), idx->shape), Red::Set, nullptr);
      scattered = m;
    }
    Tensor cnt = empty(x->shape, gg->dtype);
    EMBER_DISPATCH_FLOAT(gg->dtype, "scatter_reduce_backward", T, for (int64_t i = 0, n = x->numel(); i < n; ++i) cnt->data<T>()[i] = (T)std::max<int64_t>(counts[i], 1));
    std::vector<Tensor> res(2);
    Tensor self_mask = include_self ? full({}, Scalar::from_bool(true), DType::Bool) : logical_not(scattered);
    if (r == Red::Sum || r == Red::Mean) {
      Tensor gs = r == Red::Mean ? div(gg, cnt) : gg;
      if (needs(0)) res[0] = where(self_mask, gs, zeros({}, gg->dtype));
      if (needs(1)) res[1] = gather(gs, dim, idx);
    } else if (r == Red::Amax || r == Red::Amin) {
      Tensor gs = div(gg, cnt_extreme(x, s, y, idx, self_mask));
      if (needs(0)) res[0] = where(logical_and(self_mask, compare(x, y, CmpOp::Eq)), gs, zeros({}, gg->dtype));
      if (needs(1)) res[1] = where(compare(s, gather(y, dim, idx), CmpOp::Eq), gather(gs, dim, idx), zeros({}, gg->dtype));
    } else {  // prod (inputs without zeros)
      Tensor gy = mul(gg, y);
      if (needs(0)) res[0] = where(self_mask, div(gy, x), zeros({}, gg->dtype));
      if (needs(1)) res[1] = div(gather(gy, dim, idx), s);
    }
    return res;
  }
  // how many inputs hold the extreme value of each output element
  Tensor cnt_extreme(const Tensor& x, const Tensor& s, const Tensor& y, const Tensor& idx, const Tensor& self_mask) {
    Tensor hits = contiguous(to_dtype(logical_and(self_mask, compare(x, y, CmpOp::Eq)), y->dtype));
    Tensor sh = to_dtype(compare(s, gather(y, dim, idx), CmpOp::Eq), y->dtype);
    scatter_into(hits, dim, idx, sh, Red::Sum, nullptr);
    return maximum(hits, ones({}, y->dtype));
  }
  std::string name() const override { return "ScatterReduceBackward0"; }
};
Tensor scatter_reduce(const Tensor& a, int64_t dim, const Tensor& index, const Tensor& src, const std::string& reduce,
                      bool include_self) {
  Red r = red_from(reduce, false);
  dim = a->dim() == 0 ? 0 : wrap_dim(dim, a->dim());
  check_scatter(a, dim, index, src, "scatter_reduce");
  Tensor out;
  std::vector<int64_t> counts;
  {
    NoGradGuard g;
    out = clone(a);
    if (!include_self) {  // start from the reduction's identity where src lands
      Tensor init;
      if (r == Red::Sum || r == Red::Mean) init = zeros({}, a->dtype);
      else if (r == Red::Prod) init = ones({}, a->dtype);
      else {
        double v = r == Red::Amax ? -INFINITY : INFINITY;
        if (!is_floating(a->dtype)) v = r == Red::Amax ? (double)std::numeric_limits<int64_t>::lowest() : (double)std::numeric_limits<int64_t>::max();
        init = to_dtype(scalar_tensor(Scalar(v)), a->dtype);
      }
      scatter_into(out, dim, index, expand(init, index->shape), Red::Set, nullptr);
    }
    counts.assign(out->numel(), include_self ? 1 : 0);
    scatter_into(out, dim, index, src, r, &counts);
    if (r == Red::Mean) {
      Tensor c = empty(out->shape, out->dtype);
      EMBER_DISPATCH_ALL(out->dtype, T, for (int64_t i = 0, n = out->numel(); i < n; ++i) c->data<T>()[i] = (T)std::max<int64_t>(counts[i], 1));
      out = is_floating(out->dtype) ? div(out, c) : floor_divide(out, c);
    }
  }
  if (any_requires_grad({&a, &src})) {
    auto n = make_node<ScatterReduceBackward>({&a, &src}, dim, r, include_self);
    n->index.save(index);
    n->input.save(a);
    n->src.save(src);
    n->result.save(out, true);
    n->counts = std::move(counts);
    set_history(out, n);
  }
  return out;
}
EMBER_OP("scatter_reduce(Tensor input, int dim, Tensor index, Tensor src, str reduce, *, bool include_self=True, Tensor? out=None) -> Tensor",
         "function method inplace", scatter_reduce(a.t(0), a.i(1), a.t(2), a.t(3), a.str(4), a.b(5)));

// ---- index_copy / index_fill: slices of `dim` replaced (differentiable through where)
static Tensor dim_mask(const Tensor& a, int64_t dim, const Tensor& index) {
  NoGradGuard g;
  int64_t n = a->dim() == 0 ? 1 : a->shape[dim];
  Tensor m = zeros({n}, DType::Bool);
  Tensor idx = contiguous(reshape(index, {index->numel()}));
  for (int64_t i = 0; i < idx->numel(); ++i) {
    int64_t v = idx->data<int64_t>()[i];
    if (v < -n || v >= n) throw IndexError("index out of range in self");
    m->data<bool>()[v < 0 ? v + n : v] = true;
  }
  Shape s(std::max<int64_t>(a->dim(), 1), 1);
  s[dim] = n;
  return reshape(m, a->dim() == 0 ? Shape{} : s);
}
Tensor index_copy(const Tensor& a, int64_t dim, const Tensor& index, const Tensor& src) {
  dim = a->dim() == 0 ? 0 : wrap_dim(dim, a->dim());
  if (index->dtype != DType::Int64) throw std::runtime_error("index_copy_(): Expected a long tensor for index, but got " + std::string(scalar_type_name(index->dtype)));
  Tensor placed = index_add(zeros(a->shape, src->dtype), dim, index, src);
  return where(dim_mask(a, dim, index), placed, a);
}
Tensor index_fill(const Tensor& a, int64_t dim, const Tensor& index, const Tensor& value) {
  dim = a->dim() == 0 ? 0 : wrap_dim(dim, a->dim());
  if (index->dtype != DType::Int64) throw std::runtime_error("index_fill_(): Expected dtype int64 for index.");
  if (value->dim() != 0)
    throw std::runtime_error("index_fill_ only supports a 0-dimensional value tensor, but got tensor with " + std::to_string(value->dim()) + " dimension(s).");
  check_number_fits(value, a->dtype);
  return where(dim_mask(a, dim, index), to_dtype(value, a->dtype), a);
}
EMBER_OP("index_copy(Tensor input, int dim, Tensor index, Tensor source, *, Tensor? out=None) -> Tensor", "function method inplace",
         index_copy(a.t(0), a.i(1), a.t(2), a.t(3)));
EMBER_OP("index_fill(Tensor input, int dim, Tensor index, Scalar value) -> Tensor", "function method inplace",
         index_fill(a.t(0), a.i(1), a.t(2), scalar_tensor(a.s(3))));
EMBER_OP("index_fill.Tensor(Tensor input, int dim, Tensor index, Tensor value) -> Tensor", "function method inplace",
         index_fill(a.t(0), a.i(1), a.t(2), a.t(3)));

// ---- index_put: advanced-index assignment (indices: int64 tensors for the leading dims, or one bool mask)
struct IndexPutBackward : Node {
  std::vector<Tensor> adv;
  Shape value_shape;
  bool accumulate;
  IndexPutBackward(std::vector<Tensor> i, Shape vs, bool acc) : adv(std::move(i)), value_shape(std::move(vs)), accumulate(acc) {}
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    std::vector<int64_t> dims(adv.size());
    for (size_t i = 0; i < adv.size(); ++i) dims[i] = (int64_t)i;
    std::vector<Tensor> r(2);
    if (needs(0)) {
      if (accumulate) r[0] = g[0];
      else {
        Tensor z = clone(g[0]);
        index_put_(z, dims, adv, zeros({}, z->dtype), false);
        r[0] = z;
      }
    }
    if (needs(1)) r[1] = sum_to(index_tensors(g[0], dims, adv), value_shape);
    return r;
  }
  std::string name() const override { return "IndexPutBackward0"; }
  void release_saved() override { adv.clear(); }
};
Tensor index_put(const Tensor& a, const std::vector<Tensor>& indices, const Tensor& values, bool accumulate) {
  std::vector<Tensor> adv;
  for (auto& t : indices) {
    if (t->dtype == DType::Bool) {
      for (auto& c : nonzero_tuple(t)) adv.push_back(c);
    } else if (t->dtype == DType::Int64) {
      adv.push_back(t);
    } else {
      throw IndexError("tensors used as indices must be long, int, byte or bool tensors");
    }
  }
  if ((int64_t)adv.size() > a->dim())
    throw IndexError("too many indices for tensor of dimension " + std::to_string(a->dim()) + " (got " + std::to_string(adv.size()) + ")");
  Shape bs;
  for (auto& t : adv) bs = broadcast_shapes(bs, t->shape);
  for (auto& t : adv) t = contiguous(expand(t, bs));
  std::vector<int64_t> dims(adv.size());
  for (size_t i = 0; i < adv.size(); ++i) dims[i] = (int64_t)i;
  Tensor out;
  {
    NoGradGuard g;
    out = clone(a);
    index_put_(out, dims, adv, values, accumulate);
  }
  if (any_requires_grad({&a, &values})) set_history(out, make_node<IndexPutBackward>({&a, &values}, adv, values->shape, accumulate));
  return out;
}
EMBER_OP("index_put(Tensor input, Tensor[] indices, Tensor values, bool accumulate=False) -> Tensor", "function method inplace",
         index_put(a.t(0), a.tensors(1), a.t(2), a.b(3)));

// ---- masked_select / masked_scatter (mask and input broadcast together)
Tensor masked_select(const Tensor& a, const Tensor& mask) {
  if (mask->dtype != DType::Bool)
    throw std::runtime_error(std::string("masked_select: expected BoolTensor for mask"));
  Shape s = broadcast_shapes(a->shape, mask->shape);
  Tensor flat = reshape(expand(a, s), {shape_numel(s)});
  Tensor idx = reshape(nonzero(reshape(contiguous(expand(mask, s)), {shape_numel(s)})), {-1});
  return index_select(flat, 0, idx);
}
Tensor masked_scatter(const Tensor& a, const Tensor& mask, const Tensor& source) {
  if (mask->dtype != DType::Bool) throw std::runtime_error("masked_scatter_ only supports boolean masks, but got mask with dtype " + std::string(dtype_name(mask->dtype)));
  if (source->dtype != a->dtype)
    throw std::runtime_error("masked_scatter: expected self and source to have same dtypes but got " + std::string(scalar_type_name(a->dtype)) +
                             " and " + scalar_type_name(source->dtype));
  Shape s = broadcast_shapes(a->shape, mask->shape);
  int64_t n = shape_numel(s);
  Tensor mflat = reshape(contiguous(expand(mask, s)), {n});
  Tensor idx = reshape(nonzero(mflat), {-1});
  int64_t k = idx->numel();
  if (k > source->numel()) throw std::runtime_error("masked_scatter: expected source to have at least " + std::to_string(k) + " elements");
  Tensor vals = narrow(reshape(source, {source->numel()}), 0, 0, k);
  Tensor placed = reshape(index_add(zeros({n}, a->dtype), 0, idx, vals), s);
  return where(expand(mask, s), placed, a);
}
EMBER_OP("masked_select(Tensor input, Tensor mask, *, Tensor? out=None) -> Tensor", "function method", masked_select(a.t(0), a.t(1)));
EMBER_OP("masked_scatter(Tensor input, Tensor mask, Tensor source) -> Tensor", "function method inplace",
         masked_scatter(a.t(0), a.t(1), a.t(2)));

// ---- take (flat indices, negatives wrap) / take_along_dim / argwhere
Tensor take(const Tensor& a, const Tensor& index) {
  if (index->dtype != DType::Int64) throw std::runtime_error("take(): Expected a long tensor for index, but got " + std::string(scalar_type_name(index->dtype)));
  int64_t n = a->numel();
  Tensor idx = contiguous(reshape(index, {index->numel()}));
  Tensor fixed = empty(idx->shape, DType::Int64);
  for (int64_t i = 0; i < idx->numel(); ++i) {
    int64_t v = idx->data<int64_t>()[i];
    if (v < -n || v >= n) throw IndexError("out of range: tried to access index " + std::to_string(v) + " on a tensor of " + std::to_string(n) + " elements.");
    fixed->data<int64_t>()[i] = v < 0 ? v + n : v;
  }
  return reshape(index_select(reshape(a, {n}), 0, fixed), index->shape);
}
Tensor take_along_dim(const Tensor& a, const Tensor& indices, std::optional<int64_t> dim) {
  if (!dim) return take(a, indices);
  int64_t d = wrap_dim(*dim, a->dim());
  if (a->dim() != indices->dim())
    throw std::runtime_error("torch.take_along_dim(): input and indices should have the same number of dimensions, but got " +
                             std::to_string(a->dim()) + " dimensions for input, and " + std::to_string(indices->dim()) + " dimensions for indices");
  Shape sa = a->shape, si = indices->shape;
  sa[d] = 1, si[d] = 1;
  Shape b = broadcast_shapes(sa, si);
  Shape ea = b, ei = b;
  ea[d] = a->shape[d], ei[d] = indices->shape[d];
  return gather(expand(a, ea), d, contiguous(expand(indices, ei)));
}
EMBER_OP("take(Tensor input, Tensor index, *, Tensor? out=None) -> Tensor", "function method", take(a.t(0), a.t(1)));
EMBER_OP("take_along_dim(Tensor input, Tensor indices, int? dim=None, *, Tensor? out=None) -> Tensor", "function method",
         take_along_dim(a.t(0), a.t(1), a.oi(2)));
EMBER_OP("argwhere(Tensor input) -> Tensor", "function method int64_result", nonzero(a.t(0)));

}  // namespace ember
