// Shape and layout ops built from views, index_select, cat and where, so their gradients come from
// those primitives: tril/triu, diag/diag_embed, roll, flip/fliplr/flipud/rot90, repeat/tile,
// repeat_interleave, movedim, unflatten, ravel, unbind, narrow_copy, meshgrid, broadcast_to.
#include <algorithm>

#include "ember/ops/registry.h"
#include "ember/autograd/node.h"
#include "ember/ops/elementwise.h"

namespace ember {

// ---- tril / triu: keep the elements on and below (above) the `diagonal`-th diagonal
Tensor tri(const Tensor& a, int64_t k, bool lower) {
  if (a->dim() < 2) throw std::runtime_error(std::string(lower ? "tril" : "triu") + ": input tensor must have at least 2 dimensions");
  int64_t r = a->shape[a->dim() - 2], c = a->shape[a->dim() - 1];
  Tensor m = empty({r, c}, DType::Bool);
  for (int64_t i = 0; i < r; ++i)
    for (int64_t j = 0; j < c; ++j) m->data<bool>()[i * c + j] = lower ? (j - i <= k) : (j - i >= k);
  return where(m, a, zeros({}, a->dtype));
}
EMBER_OP("tril(Tensor input, int diagonal=0, *, Tensor? out=None) -> Tensor", "function method inplace", tri(a.t(0), a.i(1), true));
EMBER_OP("triu(Tensor input, int diagonal=0, *, Tensor? out=None) -> Tensor", "function method inplace", tri(a.t(0), a.i(1), false));

// ---- diag_embed: the last dim becomes the `offset` diagonal of two new dims (dim1, dim2)
struct DiagEmbedBackward : Node {
  int64_t offset, dim1, dim2;
  DiagEmbedBackward(int64_t o, int64_t d1, int64_t d2) : offset(o), dim1(d1), dim2(d2) {}
  std::vector<Tensor> apply(std::vector<Tensor>& g) override { return {diagonal(g[0], offset, dim1, dim2)}; }
  bool differentiable() const override { return true; }
  std::string name() const override { return "DiagEmbedBackward0"; }
};
Tensor diag_embed(const Tensor& a, int64_t offset, int64_t dim1, int64_t dim2) {
  int64_t nd = a->dim() + 1;
  if (a->dim() == 0) throw IndexError("diag_embed: input must have at least 1 dimension");
  dim1 = wrap_dim(dim1, nd), dim2 = wrap_dim(dim2, nd);
  if (dim1 == dim2) throw std::runtime_error("diagonal dimensions cannot be identical " + std::to_string(dim1) + ", " + std::to_string(dim2));
  int64_t n = a->shape.back() + std::llabs(offset);
  Shape s;
  for (int64_t i = 0, j = 0; i < nd; ++i) s.push_back(i == dim1 || i == dim2 ? n : a->shape[j++]);
  Tensor out;
  {
    NoGradGuard g;
    out = zeros(s, a->dtype);
    copy_into(diagonal(out, offset, dim1, dim2), a);
  }
  if (any_requires_grad({&a})) set_history(out, make_node<DiagEmbedBackward>({&a}, offset, dim1, dim2));
  return out;
}
EMBER_OP("diag_embed(Tensor input, int offset=0, int dim1=-2, int dim2=-1) -> Tensor", "function method",
         diag_embed(a.t(0), a.i(1), a.i(2), a.i(3)));
Tensor diag(const Tensor& a, int64_t k) {
  if (a->dim() == 1) return diag_embed(a, k, 0, 1);
  if (a->dim() == 2) return clone(diagonal(a, k, 0, 1));
  throw std::runtime_error("diag(): Supports 1D or 2D tensors. Got " + std::to_string(a->dim()) + "D");
}
EMBER_OP("diag(Tensor input, int diagonal=0, *, Tensor? out=None) -> Tensor", "function method", diag(a.t(0), a.i(1)));

// ---- roll: a cyclic shift per (shift, dim); without dims the flattened tensor rolls
Tensor roll(const Tensor& a, const std::vector<int64_t>& shifts, const std::vector<int64_t>& dims) {
  if (dims.empty()) {
    if (shifts.size() != 1) throw std::runtime_error("`shifts` required to be of length 1 when `dims` is empty");
    return view(roll(reshape(a, {a->numel()}), shifts, {0}), a->shape);
  }
  if (shifts.size() != dims.size())
    throw std::runtime_error("shifts and dimensions must align. shifts: " + std::to_string(shifts.size()) + ", dims:" + std::to_string(dims.size()));
  Tensor r = a;
  for (size_t i = 0; i < dims.size(); ++i) {
    int64_t d = wrap_dim(dims[i], a->dim()), n = a->shape[d];
    if (n == 0) continue;
    int64_t s = ((shifts[i] % n) + n) % n;
    if (s == 0) continue;
    r = cat({narrow(r, d, n - s, s), narrow(r, d, 0, n - s)}, d);
  }
  return r == a ? clone(a) : r;
}
EMBER_OP("roll(Tensor input, int[1] shifts, int[1] dims=[]) -> Tensor", "function method", roll(a.t(0), a.ints(1), a.ints(2)));

// ---- flip and friends: index_select with reversed indices
Tensor flip(const Tensor& a, const std::vector<int64_t>& dims) {
  Tensor r = a;
  std::vector<bool> seen(std::max<int64_t>(a->dim(), 1), false);
  for (int64_t d0 : dims) {
    int64_t d = wrap_dim(d0, a->dim());
    if (seen[d]) throw std::runtime_error("dim " + std::to_string(d) + " appears multiple times in the list of dims");
    seen[d] = true;
    int64_t n = a->shape[d];
    Tensor idx = empty({n}, DType::Int64);
    for (int64_t i = 0; i < n; ++i) idx->data<int64_t>()[i] = n - 1 - i;
    r = index_select(r, d, idx);
  }
  return r == a ? clone(a) : r;
}
EMBER_OP("flip(Tensor input, int[] dims) -> Tensor", "function method", flip(a.t(0), a.ints(1)));
static Tensor fliplr(const Tensor& a) {
  if (a->dim() < 2) throw std::runtime_error("Input must be >= 2-d.");
  return flip(a, {1});
}
static Tensor flipud(const Tensor& a) {
  if (a->dim() < 1) throw std::runtime_error("Input must be >= 1-d.");
  return flip(a, {0});
}
EMBER_OP("fliplr(Tensor input) -> Tensor", "function method", fliplr(a.t(0)));
EMBER_OP("flipud(Tensor input) -> Tensor", "function method", flipud(a.t(0)));
Tensor rot90(const Tensor& a, int64_t k, const std::vector<int64_t>& dims) {
  if (dims.size() != 2) throw std::runtime_error("expected total rotation dims == 2, but got dims = " + std::to_string(dims.size()));
  if (a->dim() < 2) throw std::runtime_error("expected total dims >= 2, but got total dims = " + std::to_string(a->dim()));
  int64_t d0 = wrap_dim(dims[0], a->dim()), d1 = wrap_dim(dims[1], a->dim());
  if (d0 == d1) throw std::runtime_error("expected rotation dims to be different, but got dim0 = " + std::to_string(d0) + " and dim1 = " + std::to_string(d1));
  k = ((k % 4) + 4) % 4;
  if (k == 1) return transpose(flip(a, {d1}), d0, d1);
  if (k == 2) return flip(a, {d0, d1});
  if (k == 3) return transpose(flip(a, {d0}), d0, d1);
  return clone(a);
}
EMBER_OP("rot90(Tensor input, int k=1, int[] dims=[0,1]) -> Tensor", "function method", rot90(a.t(0), a.i(1), a.ints(2)));

// ---- repeat / tile: expand an interleaved view, then reshape (a copy)
Tensor repeat(const Tensor& a, const std::vector<int64_t>& reps) {
  if ((int64_t)reps.size() < a->dim())
    throw std::runtime_error("Number of dimensions of repeat dims can not be smaller than number of dimensions of tensor");
  for (auto r : reps)
    if (r < 0) throw std::runtime_error("Trying to create tensor with negative dimension " + std::to_string(r));
  int64_t lead = (int64_t)reps.size() - a->dim();
  Shape inter, expd, fin;
  for (size_t i = 0; i < reps.size(); ++i) {
    int64_t s = (int64_t)i < lead ? 1 : a->shape[i - lead];
    inter.push_back(1), inter.push_back(s);
    expd.push_back(reps[i]), expd.push_back(s);
    fin.push_back(reps[i] * s);
  }
  return reshape(expand(reshape(a, inter), expd), fin);
}
Tensor tile(const Tensor& a, std::vector<int64_t> reps) {
  while ((int64_t)reps.size() < a->dim()) reps.insert(reps.begin(), 1);
  return repeat(a, reps);
}
EMBER_OP("repeat(Tensor input, int[] repeats) -> Tensor", "method", repeat(a.t(0), a.ints(1)));
EMBER_OP("tile(Tensor input, int[] dims) -> Tensor", "function method", tile(a.t(0), a.ints(1)));

// ---- repeat_interleave: each element (slice along dim) repeated; repeats an int or a tensor
Tensor repeat_interleave_index(const Tensor& repeats) {
  if (repeats->dim() > 1) throw std::runtime_error("repeat_interleave only accept 1D vector as repeat");
  Tensor r = contiguous(cast_nograd(reshape(repeats, {repeats->numel()}), DType::Int64));
  int64_t total = 0;
  for (int64_t i = 0; i < r->numel(); ++i) {
    if (r->data<int64_t>()[i] < 0) throw std::runtime_error("repeats can not be negative");
    total += r->data<int64_t>()[i];
  }
  Tensor out = empty({total}, DType::Int64);
  for (int64_t i = 0, k = 0; i < r->numel(); ++i)
    for (int64_t j = 0; j < r->data<int64_t>()[i]; ++j) out->data<int64_t>()[k++] = i;
  return out;
}
Tensor repeat_interleave(const Tensor& a, const Tensor& repeats, std::optional<int64_t> dim) {
  Tensor x = dim ? a : reshape(a, {a->numel()});
  int64_t d = dim ? wrap_dim(*dim, std::max<int64_t>(a->dim(), 1)) : 0;
  if (x->dim() == 0) x = reshape(x, {1});
  int64_t n = x->shape[d];
  Tensor reps = repeats;
  if (reps->numel() == 1) reps = expand(reshape(reps, {1}), {n});
  if (reps->numel() != n) throw std::runtime_error("repeats must have the same size as input along dim, but got repeats.size(0) = " +
                                                   std::to_string(reps->numel()) + " and input.size(" + std::to_string(d) + ") = " + std::to_string(n));
  return index_select(x, d, repeat_interleave_index(reps));
}
EMBER_OP("repeat_interleave.self_int(Tensor input, int repeats, int? dim=None, *, int? output_size=None) -> Tensor", "function method",
         repeat_interleave(a.t(0), scalar_tensor(Scalar::from_int(a.i(1)), DType::Int64), a.oi(2)));
EMBER_OP("repeat_interleave.self_Tensor(Tensor input, Tensor repeats, int? dim=None, *, int? output_size=None) -> Tensor",
         "function method", repeat_interleave(a.t(0), a.t(1), a.oi(2)));
EMBER_OP("repeat_interleave.Tensor(Tensor repeats, *, int? output_size=None) -> Tensor", "function",
         repeat_interleave_index(a.t(0)));

// ---- movedim / unflatten / ravel / unbind / narrow_copy / broadcast_to
Tensor movedim(const Tensor& a, const std::vector<int64_t>& src, const std::vector<int64_t>& dst) {
  if (src.size() != dst.size())
    throw std::runtime_error("movedim: Invalid source or destination dims: source (" + std::to_string(src.size()) +
                             " dims) should contain the same number of dims as destination (" + std::to_string(dst.size()) + " dims)");
  int64_t nd = a->dim();
  std::vector<int64_t> perm(nd, -1);
  std::vector<bool> used(nd, false), taken(nd, false);
  for (size_t i = 0; i < src.size(); ++i) {
    int64_t s = wrap_dim(src[i], std::max<int64_t>(nd, 1)), d = wrap_dim(dst[i], std::max<int64_t>(nd, 1));
    if (nd == 0) continue;
    if (used[s]) throw std::runtime_error("movedim: repeated dim in `source` (" + shape_str(src) + ")");
    if (taken[d]) throw std::runtime_error("movedim: repeated dim in `destination` (" + shape_str(dst) + ")");
    perm[d] = s, used[s] = true, taken[d] = true;
  }
  int64_t next = 0;
  for (int64_t d = 0; d < nd; ++d) {
    if (perm[d] >= 0) continue;
    while (used[next]) ++next;
    perm[d] = next++;
  }
  return nd == 0 ? a : permute(a, perm);
}
EMBER_OP("movedim(Tensor input, int[1] source, int[1] destination) -> Tensor", "function method any_dtype", movedim(a.t(0), a.ints(1), a.ints(2)));
EMBER_OP("moveaxis(Tensor input, int[1] source, int[1] destination) -> Tensor", "function method any_dtype", movedim(a.t(0), a.ints(1), a.ints(2)));
Tensor unflatten(const Tensor& a, int64_t dim, const std::vector<int64_t>& sizes) {
  if (a->dim() == 0) throw IndexError("unflatten: input must have at least 1 dimension");
  dim = wrap_dim(dim, a->dim());
  if (sizes.empty()) throw std::runtime_error("unflatten: sizes must be non-empty");
  Shape inner = infer_size(to_shape(sizes), a->shape[dim]);
  Shape s;
  for (int64_t i = 0; i < a->dim(); ++i) {
    if (i == dim) s.insert(s.end(), inner.begin(), inner.end());
    else s.push_back(a->shape[i]);
  }
  return view(a, s);
}
EMBER_OP("unflatten(Tensor input, int dim, int[] sizes) -> Tensor", "function method any_dtype", unflatten(a.t(0), a.i(1), a.ints(2)));
EMBER_OP("ravel(Tensor input) -> Tensor", "function method any_dtype", reshape(a.t(0), {a.t(0)->numel()}));
// One node for all the slices (torch's UnbindBackward0): its backward writes every slice's
// gradient into one tensor of the input's shape. (A select per slice gave each slice's backward a
// whole zero tensor of that shape, n of them to add: quadratic in the number of slices, and
// vmap unbinds its batched inputs.)
struct UnbindBackward : Node {
  Shape in_shape;
  int64_t dim;
  UnbindBackward(Shape s, int64_t d, uint32_t n) : in_shape(std::move(s)), dim(d) { num_outputs = n; }
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    bool all = true;
    const Tensor* any = nullptr;
    for (auto& x : g) {
      all &= (bool)x;
      if (x && !any) any = &x;
    }
    if (GradMode::is_enabled()) {  // create_graph: the slices stacked with differentiable ops
      std::vector<Tensor> parts(g.size());
      const Shape part_shape = select(zeros(in_shape, (*any)->dtype), dim, 0)->shape;
      for (size_t i = 0; i < g.size(); ++i) parts[i] = g[i] ? g[i] : zeros(part_shape, (*any)->dtype);
      return {stack(parts, dim)};
    }
    Tensor z = all ? empty(in_shape, (*any)->dtype) : zeros(in_shape, (*any)->dtype);
    for (size_t i = 0; i < g.size(); ++i)
      if (g[i]) copy_into(select(z, dim, (int64_t)i), g[i]);
    return {z};
  }
  bool differentiable() const override { return true; }
  std::string name() const override { return "UnbindBackward0"; }
};

std::vector<Tensor> unbind(const Tensor& a, int64_t dim) {
  if (a->dim() == 0) throw IndexError("Dimension specified as 0 but tensor has no dimensions");
  dim = wrap_dim(dim, a->dim());
  const bool track = any_requires_grad({&a});
  std::vector<Tensor> r;
  {
    NoGradGuard no_grad;  // views of a, without a history each
    for (int64_t i = 0; i < a->shape[dim]; ++i) r.push_back(select(a, dim, i));
  }
  if (track && !r.empty()) {
    auto node = make_node<UnbindBackward>({&a}, a->shape, dim, (uint32_t)r.size());
    for (size_t i = 0; i < r.size(); ++i) set_history(r[i], node, (uint32_t)i);
  }
  return r;
}
EMBER_OP("unbind(Tensor input, int dim=0) -> Tensor[]", "function method any_dtype", unbind(a.t(0), a.i(1)));
EMBER_OP("narrow_copy(Tensor input, int dim, int start, int length, *, Tensor? out=None) -> Tensor", "function method",
         clone(narrow(a.t(0), a.i(1), a.i(2), a.i(3))));
EMBER_OP("broadcast_to(Tensor input, int[] size) -> Tensor", "function method any_dtype", expand(a.t(0), to_shape(a.ints(1))));

// ---- meshgrid: one view per input, expanded to the grid ('ij'; 'xy' swaps the first two dims)
std::vector<Tensor> meshgrid(const std::vector<Tensor>& ts, const std::string& indexing) {
  if (indexing != "ij" && indexing != "xy")
    throw std::runtime_error("torch.meshgrid: indexing must be one of \"xy\" or \"ij\", but received: " + indexing);
  Shape grid;
  for (auto& t : ts) {
    if (t->dim() > 1) throw std::runtime_error("torch.meshgrid: Expected 0D or 1D tensor in the tensor list but got: " + shape_str(t->shape));
    grid.push_back(t->numel());
  }
  bool swap = indexing == "xy" && ts.size() >= 2;
  if (swap) std::swap(grid[0], grid[1]);
  std::vector<Tensor> out;
  for (size_t i = 0; i < ts.size(); ++i) {
    Shape v(ts.size(), 1);
    size_t pos = swap && i < 2 ? 1 - i : i;
    v[pos] = ts[i]->numel();
    out.push_back(expand(reshape(ts[i], v), grid));
  }
  return out;
}
EMBER_OP("meshgrid(Tensor[] *tensors, *, str indexing=\"ij\") -> Tensor[]", "function", meshgrid(a.tensors(0), a.str(1)));

}  // namespace ember
