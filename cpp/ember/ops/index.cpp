// Ops that copy along indices: cat/stack/split/chunk, gather/scatter_add, index_select/index_add,
// one_hot, nonzero and advanced (tensor) indexing, each with its backward node.
#include <algorithm>
#include <cstring>

#include "ember/ops/registry.h"
#include "ember/autograd/node.h"
#include "ember/kernels/loops.h"
#include "ember/kernels/parallel.h"
#include "ember/ops/ops.h"

namespace ember {

namespace {
Tensor as_long(const Tensor& idx, const char* op) {
  if (idx->dtype != DType::Int64)
    throw std::runtime_error(std::string(op) + "(): Expected dtype int64 for index, got " + dtype_name(idx->dtype));
  return idx;
}
// torch raises IndexError for indexing and index_select, RuntimeError for gather / scatter.
[[noreturn]] void index_oob(int64_t v, int64_t dim, int64_t n, bool runtime = false) {
  std::string msg = "index " + std::to_string(v) + " is out of bounds for dimension " + std::to_string(dim) +
                    " with size " + std::to_string(n);
  if (runtime) throw std::runtime_error(msg);
  throw IndexError(msg);
}

// out[p] = a[p with coordinate `dim` replaced by idx[p]]; idx has out's shape (strides may be 0).
// scatter=true does the reverse: a[...] += out[p] (out is then the source).
void gather_scatter(const Tensor& out, const Tensor& a, int64_t dim, const Tensor& idx, bool scatter, bool along = false) {
  Shape ast = broadcast_strides(a, out->shape);
  if (!a->shape.empty()) ast[dim] = 0;
  const int64_t n_dim = a->dim() == 0 ? 1 : a->shape[dim];
  const int64_t s_dim = a->dim() == 0 ? 0 : a->strides[dim];
  // Note: broadcast_strides treats size-1 dims of `a` as broadcast; gather needs a's real strides.
  for (int64_t i = 0; i < a->dim(); ++i)
    if (i != dim) ast[i] = a->strides[i];
  EMBER_DISPATCH_STORAGE(a->dtype, T, {  // a data move (or a sum, through each type's own +)
    for_each_nd<3>(out->shape, {out->strides.data(), idx->strides.data(), ast.data()}, {out->raw(), idx->raw(), a->raw()},
                   {(int64_t)sizeof(T), 8, (int64_t)sizeof(T)}, [&](std::array<char*, 3> p, std::array<int64_t, 3> s, int64_t n) {
                     for (int64_t j = 0; j < n; ++j) {
                       int64_t v = *reinterpret_cast<const int64_t*>(p[1] + j * s[1]);
                       if (v < 0 || v >= n_dim) index_oob(v, dim, n_dim, !along);  // no wrap-around, as torch
                       T* src = reinterpret_cast<T*>(p[2] + j * s[2]) + v * s_dim;
                       T* o = reinterpret_cast<T*>(p[0] + j * s[0]);
                       if (scatter) *src = (T)(*src + *o);
                       else *o = *src;
                     }
                   });
  });
}

void check_gather_shapes(const Tensor& a, int64_t dim, const Tensor& index, const char* op) {
  if (index->dim() != a->dim() && !(a->dim() == 0 && index->dim() <= 1))
    throw std::runtime_error(std::string(op) + "(): Index tensor must have the same number of dimensions as input tensor (" +
                             shape_str(index->shape) + " vs " + shape_str(a->shape) + ")");
  for (int64_t i = 0; i < a->dim(); ++i)
    if (i != dim && index->shape[i] > a->shape[i])
      throw std::runtime_error(std::string(op) + "(): Size does not match at dimension " + std::to_string(i) +
                               " expected index " + shape_str(index->shape) + " to be smaller than self " +
                               shape_str(a->shape) + " apart from dimension " + std::to_string(dim));
}
}  // namespace

// ---- gather / scatter_add
struct GatherBackward : Node {
  Shape in_shape;
  int64_t dim;
  SavedTensor index{this};
  GatherBackward(Shape s, int64_t d) : in_shape(std::move(s)), dim(d) {}
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    return {scatter_add(zeros(in_shape, g[0]->dtype), dim, index.get(*this), g[0])};
  }
  bool differentiable() const override { return true; }
  std::string name() const override { return "GatherBackward0"; }
};
Tensor gather(const Tensor& a, int64_t dim, const Tensor& index) {
  dim = wrap_dim(dim, a->dim());
  as_long(index, "gather");
  check_gather_shapes(a, dim, index, "gather");
  Tensor out = empty(index->shape, a->dtype);
  gather_scatter(out, a, dim, index, false);
  if (any_requires_grad({&a})) {
    auto n = make_node<GatherBackward>({&a}, a->shape, dim);
    n->index.save(index);
    set_history(out, n);
  }
  return out;
}
EMBER_OP("gather(Tensor input, int dim, Tensor index, *, bool sparse_grad=False, Tensor? out=None) -> Tensor", "function method",
         gather(a.t(0), a.i(1), a.t(2)));

Tensor zero_pad_to(const Tensor& part, const Shape& full) {
  Tensor z = zeros(full, part->dtype);
  copy_into(make_view(z, part->shape, Shape(z->strides.begin(), z->strides.begin() + part->dim()), 0), part);
  return z;
}
struct ScatterAddBackward : Node {
  int64_t dim;
  SavedTensor index{this};
  Shape src_shape;
  explicit ScatterAddBackward(int64_t d) : dim(d) {}
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    std::vector<Tensor> r(2);
    if (needs(0)) r[0] = g[0];
    if (needs(1)) {
      Tensor idx = index.get(*this);
      r[1] = gather(g[0], dim, idx);
      if (idx->shape != src_shape) r[1] = zero_pad_to(r[1], src_shape);  // only src[:index.shape] was read
    }
    return r;
  }
  bool differentiable() const override { return true; }
  std::string name() const override { return "ScatterAddBackward0"; }
};
Tensor scatter_add(const Tensor& a, int64_t dim, const Tensor& index, const Tensor& src) {
  dim = wrap_dim(dim, a->dim());
  as_long(index, "scatter_add");
  check_gather_shapes(a, dim, index, "scatter_add");
  if (src->dtype != a->dtype)
    throw std::runtime_error(std::string("scatter_add(): Expected self.dtype to be equal to src.dtype (") +
                             dtype_name(a->dtype) + " vs " + dtype_name(src->dtype) + ")");
  for (int64_t i = 0; i < index->dim(); ++i)
    if (index->shape[i] > src->shape[i])
      throw std::runtime_error("scatter_add(): Expected index " + shape_str(index->shape) + " to be smaller than src " +
                               shape_str(src->shape));
  Tensor out = clone(a);
  out->grad_fn.reset(), out->requires_grad = false;
  Tensor srcv = make_view(src, index->shape, Shape(src->strides.begin(), src->strides.begin() + index->dim()), src->offset);
  gather_scatter(srcv, out, dim, index, true);
  if (any_requires_grad({&a, &src})) {
    auto n = make_node<ScatterAddBackward>({&a, &src}, dim);
    n->index.save(index);
    n->src_shape = src->shape;
    set_history(out, n);
  }
  return out;
}
EMBER_OP("scatter_add(Tensor input, int dim, Tensor index, Tensor src, *, Tensor? out=None) -> Tensor", "function method inplace",
         scatter_add(a.t(0), a.i(1), a.t(2), a.t(3)));

// ---- index_select / index_add
namespace {
// `index` (1-d) viewed with `out_shape`, varying along `dim` only.
Tensor index_along(const Tensor& index, const Shape& out_shape, int64_t dim) {
  Shape st(out_shape.size(), 0);
  if (!out_shape.empty()) st[dim] = index->dim() == 0 ? 0 : index->strides[0];
  return make_view(index, out_shape, st, index->offset);
}
void check_index_1d(const Tensor& index, const char* op) {
  as_long(index, op);
  if (index->dim() > 1) throw IndexError(std::string(op) + "(): Index is supposed to be a vector, got shape " + shape_str(index->shape));
}
}  // namespace

struct IndexSelectBackward : Node {
  Shape in_shape;
  int64_t dim;
  SavedTensor index{this};
  IndexSelectBackward(Shape s, int64_t d) : in_shape(std::move(s)), dim(d) {}
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    return {index_add(zeros(in_shape, g[0]->dtype), dim, index.get(*this), g[0])};
  }
  bool differentiable() const override { return true; }
  std::string name() const override { return "IndexSelectBackward0"; }
};
constexpr int64_t kSplitMinBytes = 128 * 1024;  // per thread
Tensor index_select(const Tensor& a, int64_t dim, const Tensor& index) {
  dim = wrap_dim(dim, a->dim());
  check_index_1d(index, "index_select");
  Shape os = a->shape;
  int64_t k = index->numel();
  if (a->dim() > 1 && a->shape[dim] == 0 && k > 0)  // (1-d: IndexError below, as torch)
    throw std::runtime_error("index_select(): self indexing axis dim should be positive");
  if (!os.empty()) os[dim] = k;
  Tensor out = empty(os, a->dtype);
  if (a->dim() > 0 && dim == 0 && a->is_contiguous() && index->is_contiguous()) {
    // Row gather (DataLoader batches): one memcpy per row, large batches split over threads.
    size_t row = (size_t)(a->numel() / std::max<int64_t>(a->shape[0], 1)) * itemsize(a->dtype);
    const int64_t* ix = index->data<int64_t>();
    for (int64_t i = 0; i < k; ++i)
      if (ix[i] < 0 || ix[i] >= a->shape[0]) index_oob(ix[i], 0, a->shape[0]);
    parallel_for(k, (int)(k * row / kSplitMinBytes), 1, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) std::memcpy(out->raw() + i * row, a->raw() + ix[i] * row, row);
    });
  } else {
    gather_scatter(out, a, dim, index_along(index, os, dim), false, true);
  }
  if (any_requires_grad({&a})) {
    auto n = make_node<IndexSelectBackward>({&a}, a->shape, dim);
    n->index.save(index);
    set_history(out, n);
  }
  return out;
}
EMBER_OP("index_select(Tensor input, int dim, Tensor index, *, Tensor? out=None) -> Tensor", "function method",
         index_select(a.t(0), a.i(1), a.t(2)));

struct IndexAddBackward : Node {
  int64_t dim;
  SavedTensor index{this};
  explicit IndexAddBackward(int64_t d) : dim(d) {}
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    std::vector<Tensor> r(2);
    if (needs(0)) r[0] = g[0];
    if (needs(1)) r[1] = index_select(g[0], dim, index.get(*this));
    return r;
  }
  bool differentiable() const override { return true; }
  std::string name() const override { return "IndexAddBackward0"; }
};
Tensor index_add(const Tensor& a, int64_t dim, const Tensor& index, const Tensor& src) {
  dim = wrap_dim(dim, a->dim());
  check_index_1d(index, "index_add");
  Shape expect = a->shape;
  if (!expect.empty()) expect[dim] = index->numel();
  if (src->shape != expect && !(src->dim() == 0 && a->dim() == 0))
    throw std::runtime_error("index_add(): source shape " + shape_str(src->shape) + " does not match the expected " +
                             shape_str(expect));
  {  // torch: RuntimeError naming the index for 2-d and up, IndexError "index out of range in self" below
    Tensor ix = contiguous(index);
    const int64_t n = a->dim() == 0 ? 1 : a->shape[dim];
    for (int64_t i = 0; i < ix->numel(); ++i)
      if (ix->data<int64_t>()[i] < 0 || ix->data<int64_t>()[i] >= n) {
        if (a->dim() <= 1) throw IndexError("index out of range in self");
        index_oob(ix->data<int64_t>()[i], dim, n, true);
      }
  }
  Tensor out = clone(a);
  out->grad_fn.reset(), out->requires_grad = false;
  Tensor s = src->dtype == a->dtype ? src : cast_nograd(src, a->dtype);
  gather_scatter(s, out, dim, index_along(index, s->shape, dim), true, true);
  if (any_requires_grad({&a, &src})) {
    auto n = make_node<IndexAddBackward>({&a, &src}, dim);
    n->index.save(index);
    set_history(out, n);
  }
  return out;
}
EMBER_OP("index_add(Tensor input, int dim, Tensor index, Tensor source, *, Scalar alpha=1, Tensor? out=None) -> Tensor",
         "function method inplace",
         index_add(a.t(0), a.i(1), a.t(2), a.s(4).kind == Scalar::Int && a.s(4).i == 1 ? a.t(3) : mul(a.t(3), scalar_tensor(a.s(4)))));

// ---- cat / stack / split / chunk
struct CatBackward : Node {
  std::vector<int64_t> sizes;
  int64_t dim;
  CatBackward(std::vector<int64_t> s, int64_t d) : sizes(std::move(s)), dim(d) {}
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    std::vector<Tensor> r(sizes.size());
    int64_t off = 0;
    for (size_t i = 0; i < sizes.size(); ++i) {
      if (needs(i) && sizes[i] >= 0) r[i] = narrow(g[0], dim, off, sizes[i]);
      off += std::max<int64_t>(sizes[i], 0);
    }
    return r;
  }
  bool differentiable() const override { return true; }
  std::string name() const override { return "CatBackward0"; }
};
Tensor cat(const std::vector<Tensor>& ts, int64_t dim) {
  if (ts.empty()) throw ValueError("torch.cat(): expected a non-empty list of Tensors");
  // Legacy rule: 1-d empty tensors are skipped.
  const Tensor* ref = nullptr;
  DType d = ts[0]->dtype;
  for (auto& t : ts) {
    d = promote(d, t->dtype);
    if (!ref && !(t->dim() == 1 && t->shape[0] == 0)) ref = &t;
  }
  if (!ref) ref = &ts[0], dim = 0;  // all 1-d and empty: a cat of them, history kept, dim unchecked (as torch)
  if ((*ref)->dim() == 0) throw std::runtime_error("zero-dimensional tensor (at position 0) cannot be concatenated");
  int64_t nd = (*ref)->dim();
  dim = wrap_dim(dim, nd);
  Shape os = (*ref)->shape;
  os[dim] = 0;
  std::vector<int64_t> sizes;
  for (size_t i = 0; i < ts.size(); ++i) {
    const Tensor& t = ts[i];
    if (t->dim() == 1 && t->shape[0] == 0 && nd != 1) { sizes.push_back(-1); continue; }
    if (t->dim() != nd)
      throw std::runtime_error("Tensors must have same number of dimensions: got " + std::to_string(nd) + " and " +
                               std::to_string(t->dim()));
    for (int64_t j = 0; j < nd; ++j)
      if (j != dim && t->shape[j] != os[j])
        throw std::runtime_error("Sizes of tensors must match except in dimension " + std::to_string(dim) +
                                 ". Expected size " + std::to_string(os[j]) + " but got size " + std::to_string(t->shape[j]) +
                                 " for tensor number " + std::to_string(i) + " in the list (shapes " + shape_str((*ref)->shape) +
                                 " and " + shape_str(t->shape) + ")");
    sizes.push_back(t->shape[dim]);
    os[dim] += t->shape[dim];
  }
  Tensor out = empty(os, d);
  int64_t off = 0;
  bool grad = false;
  for (size_t i = 0; i < ts.size(); ++i) {
    if (sizes[i] < 0) continue;
    Shape st = out->strides;
    Shape sh = os;
    sh[dim] = sizes[i];
    copy_into(make_view(out, sh, st, off * out->strides[dim]), ts[i]);
    off += sizes[i];
    grad |= ts[i]->requires_grad;
  }
  if (grad && GradMode::is_enabled()) {
    auto n = std::make_shared<CatBackward>(sizes, dim);
    for (auto& t : ts) n->next.push_back(t->requires_grad ? gradient_edge(t) : Edge{});
    set_history(out, n);
  }
  return out;
}
EMBER_OP("cat(Tensor[] tensors, int dim=0, *, Tensor? out=None) -> Tensor", "function", cat(a.tensors(0), a.i(1)));
EMBER_OP("concat(Tensor[] tensors, int dim=0, *, Tensor? out=None) -> Tensor", "function", cat(a.tensors(0), a.i(1)));
EMBER_OP("concatenate(Tensor[] tensors, int dim=0, *, Tensor? out=None) -> Tensor", "function", cat(a.tensors(0), a.i(1)));

struct StackBackward : Node {
  int64_t dim;
  explicit StackBackward(int64_t d) : dim(d) {}
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    std::vector<Tensor> r(next.size());
    for (size_t i = 0; i < next.size(); ++i)
      if (needs(i)) r[i] = select(g[0], dim, (int64_t)i);
    return r;
  }
  bool differentiable() const override { return true; }
  std::string name() const override { return "StackBackward0"; }
};
Tensor stack(const std::vector<Tensor>& ts, int64_t dim) {
  if (ts.empty()) throw std::runtime_error("stack expects a non-empty TensorList");
  const Shape& s0 = ts[0]->shape;
  dim = wrap_dim(dim, (int64_t)s0.size() + 1);
  DType d = ts[0]->dtype;
  bool grad = false;
  for (size_t i = 0; i < ts.size(); ++i) {
    if (ts[i]->shape != s0)
      throw std::runtime_error("stack expects each tensor to be equal size, but got " + shape_str(s0) +
                               " at entry 0 and " + shape_str(ts[i]->shape) + " at entry " + std::to_string(i));
    d = promote(d, ts[i]->dtype);
    grad |= ts[i]->requires_grad;
  }
  Shape os = s0;
  os.insert(os.begin() + dim, (int64_t)ts.size());
  Tensor out = empty(os, d);
  Shape st = out->strides;
  Shape sh = os;
  sh.erase(sh.begin() + dim);
  Shape sst = st;
  sst.erase(sst.begin() + dim);
  const size_t bytes = (size_t)shape_numel(s0) * itemsize(d);
  for (size_t i = 0; i < ts.size(); ++i) {
    if (dim == 0 && ts[i]->dtype == d && ts[i]->is_contiguous())  // (DataLoader batches: a memcpy per sample)
      std::memcpy(out->raw() + i * bytes, ts[i]->raw(), bytes);
    else
      copy_into(make_view(out, sh, sst, (int64_t)i * st[dim]), ts[i]);
  }
  if (grad && GradMode::is_enabled()) {
    auto n = std::make_shared<StackBackward>(dim);
    for (auto& t : ts) n->next.push_back(t->requires_grad ? gradient_edge(t) : Edge{});
    set_history(out, n);
  }
  return out;
}
EMBER_OP("stack(Tensor[] tensors, int dim=0, *, Tensor? out=None) -> Tensor", "function", stack(a.tensors(0), a.i(1)));

std::vector<Tensor> split_sizes(const Tensor& a, const std::vector<int64_t>& sizes, int64_t dim) {
  dim = wrap_dim(dim, a->dim());
  int64_t total = 0;
  for (auto s : sizes) {
    if (s < 0) throw std::runtime_error("split_with_sizes expects split_sizes have only non-negative entries");
    total += s;
  }
  if (total != a->shape[dim])
    throw std::runtime_error("split_with_sizes expects split_sizes to sum exactly to " + std::to_string(a->shape[dim]) +
                             " (input tensor's size at dimension " + std::to_string(dim) + "), but got split_sizes=" +
                             shape_str(sizes));
  std::vector<Tensor> r;
  int64_t off = 0;
  for (auto s : sizes) {
    r.push_back(narrow(a, dim, off, s));
    off += s;
  }
  return r;
}
std::vector<Tensor> split(const Tensor& a, int64_t size, int64_t dim) {
  if (a->dim() == 0) throw std::runtime_error("split expects at least a 1-dimensional tensor");
  dim = wrap_dim(dim, a->dim());
  int64_t n = a->shape[dim];
  if (size < 0 || (size == 0 && n != 0))  // an empty dim splits by 0 into one empty piece, as torch
    throw std::runtime_error("split expects split_size be positive, but got split_size=" + std::to_string(size));
  if (size == 0) return split_sizes(a, {0}, dim);
  std::vector<int64_t> sizes;
  for (int64_t off = 0; off < n; off += size) sizes.push_back(std::min(size, n - off));
  if (sizes.empty()) sizes.push_back(0);
  return split_sizes(a, sizes, dim);
}
std::vector<Tensor> chunk(const Tensor& a, int64_t chunks, int64_t dim) {
  if (chunks <= 0) throw std::runtime_error("chunk expects `chunks` to be greater than 0, got: " + std::to_string(chunks));
  if (a->dim() == 0) throw std::runtime_error("chunk expects at least a 1-dimensional tensor");
  dim = wrap_dim(dim, a->dim());
  int64_t n = a->shape[dim];
  if (n == 0) return split_sizes(a, std::vector<int64_t>(chunks, 0), dim);  // `chunks` empty pieces, as torch
  return split(a, (n + chunks - 1) / chunks, dim);
}
EMBER_OP("split(Tensor tensor, int split_size_or_sections, int dim=0) -> Tensor[]", "function method any_dtype", split(a.t(0), a.i(1), a.i(2)));
EMBER_OP("split.sizes(Tensor tensor, int[] split_size_or_sections, int dim=0) -> Tensor[]", "function method any_dtype",
         split_sizes(a.t(0), a.ints(1), a.i(2)));
EMBER_OP("chunk(Tensor input, int chunks, int dim=0) -> Tensor[]", "function method any_dtype", chunk(a.t(0), a.i(1), a.i(2)));

// ---- one_hot / nonzero
Tensor one_hot(const Tensor& a, int64_t num_classes) {
  if (a->dtype != DType::Int64) throw std::runtime_error("one_hot is only applicable to index tensor of type LongTensor.");
  Tensor c = contiguous(a);
  const int64_t* p = c->data<int64_t>();
  int64_t n = c->numel(), mx = -1;
  for (int64_t i = 0; i < n; ++i) {
    if (p[i] < 0) throw std::runtime_error("Class values must be non-negative.");
    mx = std::max(mx, p[i]);
  }
  if (num_classes == -1) {
    if (n == 0) throw std::runtime_error("Can not infer total number of classes from empty tensor.");
    num_classes = mx + 1;
  } else if (mx >= num_classes) {
    throw std::runtime_error("Class values must be smaller than num_classes.");
  }
  Shape os = a->shape;
  os.push_back(num_classes);
  Tensor out = zeros(os, DType::Int64);
  int64_t* o = out->data<int64_t>();
  for (int64_t i = 0; i < n; ++i) o[i * num_classes + p[i]] = 1;
  return out;
}

Tensor nonzero(const Tensor& a) {
  Tensor m = cast_nograd(a, DType::Bool);
  const bool* p = m->data<bool>();
  int64_t n = m->numel(), nd = a->dim(), cnt = 0;
  for (int64_t i = 0; i < n; ++i) cnt += p[i];
  Tensor out = empty({cnt, nd}, DType::Int64);
  int64_t* o = out->data<int64_t>();
  Shape cs = contiguous_strides(a->shape);
  for (int64_t i = 0, r = 0; i < n; ++i) {
    if (!p[i]) continue;
    int64_t rem = i;
    for (int64_t d = 0; d < nd; ++d) {
      o[r * nd + d] = rem / cs[d];
      rem %= cs[d];
    }
    ++r;
  }
  return out;
}
std::vector<Tensor> nonzero_tuple(const Tensor& a) {
  Tensor nz = nonzero(a);
  std::vector<Tensor> r;
  if (a->dim() == 0) {
    r.push_back(zeros({nz->shape[0]}, DType::Int64));  // torch: a 0-d input gives one index tensor, [0] or []
    return r;
  }
  for (int64_t d = 0; d < a->dim(); ++d) r.push_back(contiguous(select(nz, 1, d)));
  return r;
}
EMBER_OP("nonzero(Tensor input, *, bool as_tuple=False, Tensor? out=None) -> Tensor", "function method int64_result",
         a.b(1) ? Value(nonzero_tuple(a.t(0))) : Value(nonzero(a.t(0))));

// ---- advanced indexing
namespace {
// Geometry shared by index_tensors and index_put_: a permuted so indexed dims lead, the flat
// element offset of every index combination, and the layout of the result.
struct AdvPlan {
  Tensor ap;          // a permuted: indexed dims first
  Tensor offsets;     // int64 [numel(I)]
  Shape ishape;       // broadcast index shape I
  Shape rshape, rstrides;  // remaining dims of ap
  int64_t insert_at;  // where I's dims sit in the result (0 if not adjacent)
};
}  // namespace
void broadcast_indices(std::vector<Tensor>& adv) {
  Shape b = adv[0]->shape;
  for (auto& t : adv) {
    try {
      b = broadcast_shapes(b, t->shape);
    } catch (const std::runtime_error&) {
      std::string shapes;
      for (auto& u : adv) shapes += (shapes.empty() ? "" : ", ") + shape_str(u->shape);
      throw IndexError("shape mismatch: indexing tensors could not be broadcast together with shapes " + shapes);
    }
  }
  for (auto& t : adv) t = t->shape == b ? t : expand(t, b);
}
namespace {
AdvPlan plan(const Tensor& a, const std::vector<int64_t>& dims, const std::vector<Tensor>& adv) {
  AdvPlan p;
  int64_t nd = a->dim(), k = (int64_t)dims.size();
  std::vector<int64_t> perm(dims.begin(), dims.end());
  std::vector<bool> used(nd, false);
  for (auto d : dims) used[d] = true;
  for (int64_t i = 0; i < nd; ++i)
    if (!used[i]) perm.push_back(i);
  Shape sh(nd), st(nd);
  for (int64_t i = 0; i < nd; ++i) sh[i] = a->shape[perm[i]], st[i] = a->strides[perm[i]];
  p.ap = make_view(a, sh, st, a->offset);
  p.ishape = adv[0]->shape;
  int64_t ni = shape_numel(p.ishape);
  p.offsets = zeros({ni}, DType::Int64);
  int64_t* off = p.offsets->data<int64_t>();
  for (int64_t j = 0; j < k; ++j) {
    Tensor ix = contiguous(adv[j]);
    const int64_t* v = ix->data<int64_t>();
    int64_t n = sh[j];
    for (int64_t i = 0; i < ni; ++i) {
      int64_t x = v[i];
      if (x < -n || x >= n) index_oob(x, dims[j], n);
      off[i] += (x < 0 ? x + n : x) * st[j];
    }
  }
  p.rshape.assign(sh.begin() + k, sh.end());
  p.rstrides.assign(st.begin() + k, st.end());
  bool adjacent = true;
  for (int64_t j = 1; j < k; ++j) adjacent &= dims[j] == dims[j - 1] + 1;
  p.insert_at = adjacent ? dims[0] : 0;
  return p;
}
// Permutation taking the (I..., R...) layout to the result layout (I's dims moved to insert_at).
std::vector<int64_t> to_result(const AdvPlan& p) {
  int64_t ni = (int64_t)p.ishape.size(), nr = (int64_t)p.rshape.size();
  std::vector<int64_t> perm;
  for (int64_t i = 0; i < p.insert_at; ++i) perm.push_back(ni + i);
  for (int64_t i = 0; i < ni; ++i) perm.push_back(i);
  for (int64_t i = p.insert_at; i < nr; ++i) perm.push_back(ni + i);
  return perm;
}
// Loop over (numel(I), R...) with `buf` laid out that way; dst/src direction chosen by `write`.
void adv_copy(const AdvPlan& p, const Tensor& buf, bool write, bool accumulate) {
  Shape shape{shape_numel(p.ishape)};
  shape.insert(shape.end(), p.rshape.begin(), p.rshape.end());
  Shape ast{0};
  ast.insert(ast.end(), p.rstrides.begin(), p.rstrides.end());
  Shape ost(shape.size(), 0);
  ost[0] = 1;
  DType d = p.ap->dtype;
  EMBER_DISPATCH_STORAGE(d, T, {  // a data move (or a sum, through each type's own +)
    for_each_nd<3>(shape, {buf->strides.data(), ast.data(), ost.data()}, {buf->raw(), p.ap->raw(), p.offsets->raw()},
                   {(int64_t)sizeof(T), (int64_t)sizeof(T), 8}, [&](std::array<char*, 3> q, std::array<int64_t, 3> s, int64_t n) {
                     for (int64_t j = 0; j < n; ++j) {
                       T* b = reinterpret_cast<T*>(q[0] + j * s[0]);
                       T* x = reinterpret_cast<T*>(q[1] + j * s[1]) + *reinterpret_cast<const int64_t*>(q[2] + j * s[2]);
                       if (!write) *b = *x;
                       else if (accumulate) *x = (T)(*x + *b);
                       else *x = *b;
                     }
                   });
  });
}
}  // namespace

struct IndexBackward : Node {
  Shape in_shape;
  std::vector<int64_t> dims;
  std::vector<Tensor> adv;
  IndexBackward(Shape s, std::vector<int64_t> d, std::vector<Tensor> a) : in_shape(std::move(s)), dims(std::move(d)), adv(std::move(a)) {}
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    if (released) throw std::runtime_error("Trying to backward through the graph a second time; specify retain_graph=True.");
    Tensor z = zeros(in_shape, g[0]->dtype);
    index_put_(z, dims, adv, g[0], true);
    return {z};
  }
  std::string name() const override { return "IndexBackward0"; }
  void release_saved() override { adv.clear(); }
};
Tensor index_tensors(const Tensor& a, const std::vector<int64_t>& dims, const std::vector<Tensor>& adv) {
  AdvPlan p = plan(a, dims, adv);
  Shape os = p.ishape;
  os.insert(os.end(), p.rshape.begin(), p.rshape.end());
  Tensor buf = empty(os, a->dtype);
  Shape flat{shape_numel(p.ishape)};
  flat.insert(flat.end(), p.rshape.begin(), p.rshape.end());
  adv_copy(p, make_view(buf, flat, contiguous_strides(flat), 0), false, false);
  Tensor out = buf;
  if (p.insert_at > 0) {
    NoGradGuard g;
    out = contiguous(permute(buf, to_result(p)));
    out->is_view = false;
  }
  if (any_requires_grad({&a})) set_history(out, make_node<IndexBackward>({&a}, a->shape, dims, adv));
  return out;
}

void index_put_(Tensor& a, const std::vector<int64_t>& dims, const std::vector<Tensor>& adv, const Tensor& value,
                bool accumulate) {
  AdvPlan p = plan(a, dims, adv);
  Shape os = p.ishape;
  os.insert(os.end(), p.rshape.begin(), p.rshape.end());
  // value is given in result layout; bring it to (I..., R...)
  std::vector<int64_t> perm = to_result(p);
  Shape res_shape(os.size());
  for (size_t i = 0; i < perm.size(); ++i) res_shape[i] = os[perm[i]];
  Tensor v = value->dtype == a->dtype ? value : cast_nograd(value, a->dtype);
  broadcast_shapes(res_shape, v->shape);
  Tensor vr = make_view(v, res_shape, broadcast_strides(v, res_shape), v->offset);
  if (res_shape != broadcast_shapes(res_shape, v->shape))
    throw std::runtime_error("shape mismatch: value tensor of shape " + shape_str(value->shape) +
                             " cannot be broadcast to indexing result of shape " + shape_str(res_shape));
  std::vector<int64_t> inv(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) inv[perm[i]] = (int64_t)i;
  Shape ish(os.size()), ist(os.size());
  for (size_t i = 0; i < inv.size(); ++i) ish[i] = vr->shape[inv[i]], ist[i] = vr->strides[inv[i]];
  // collapse I's dims into one: they are contiguous in a fresh copy
  Tensor packed = empty(ish, a->dtype);
  copy_into(packed, make_view(vr, ish, ist, vr->offset));
  Shape flat{shape_numel(p.ishape)};
  flat.insert(flat.end(), p.rshape.begin(), p.rshape.end());
  adv_copy(p, make_view(packed, flat, contiguous_strides(flat), 0), true, accumulate);
}

// Note [Differentiable setitem]: self (a contiguous tensor, or a fresh copy of a view: see CopySlices) takes this node as its
// history: the gradient flows to self's old history with the written region zeroed, and to the
// value as the region's gradient reduced to the value's shape.
struct SetItemBackward : Node {
  Shape vshape, vstrides;
  int64_t voff = 0;
  std::vector<int64_t> dims;
  std::vector<Tensor> adv;
  Shape value_shape, stripped_shape;
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    Tensor gc = clone(g[0]);
    Tensor region = make_view(gc, vshape, vstrides, gc->offset + voff);
    std::vector<Tensor> r(2);
    if (needs(1)) {
      Tensor gv = adv.empty() ? clone(region) : index_tensors(region, dims, adv);
      r[1] = reshape(sum_to(gv, stripped_shape), value_shape);
    }
    if (needs(0)) {
      if (adv.empty()) copy_into(region, zeros({}, gc->dtype));
      else index_put_(region, dims, adv, zeros({}, gc->dtype), false);
      r[0] = gc;
    }
    return r;
  }
  std::string name() const override { return adv.empty() ? "CopySlices" : "IndexPutBackward0"; }
};

// x[index] = value, `region` being the basic-indexing view of self and (dims, adv) the advanced
// indices within it (bindings/indexing.cpp parses Python's index). Differentiable in self and value.
void setitem_(Tensor& self, const Tensor& region, const std::vector<int64_t>& dims, const std::vector<Tensor>& adv,
              const Tensor& v) {
  const bool track = GradMode::is_enabled() && (self->requires_grad || v->requires_grad);
  // torch checks a Python float written by x[i] = v (NaN, inf, beyond int64); an int wraps (uint8 x[0] = -1 is 255)
  if (is_floating(v->dtype) && !is_floating(self->dtype) && self->dtype != DType::Bool) check_number_fits(v, DType::Int64);
  NoGradGuard g;
  // Leading size-1 dims of the value beyond the target's rank are dropped, as torch does.
  Tensor vs = v;
  int64_t target_dim = region->dim();
  if (!adv.empty()) target_dim += (int64_t)adv[0]->dim() - (int64_t)dims.size();
  while (vs->dim() > target_dim && vs->shape[0] == 1) vs = squeeze(vs, 0);
  Edge self_edge = track && self->requires_grad ? gradient_edge(self) : Edge{};
  Tensor reg = region;
  if (adv.empty()) copy_into(reg, vs->dtype == self->dtype ? vs : cast_nograd(vs, self->dtype));
  else index_put_(reg, dims, adv, vs, false);
  self->bump_version();
  if (track) {
    auto n = std::make_shared<SetItemBackward>();
    n->next = {self_edge, v->requires_grad ? gradient_edge(v) : Edge{}};
    n->vshape = region->shape;
    n->vstrides = region->strides;
    n->voff = region->offset - self->offset;
    n->dims = dims;
    n->adv = adv;
    n->value_shape = v->shape;
    n->stripped_shape = vs->shape;
    set_history(self, n);
  }
}

}  // namespace ember
