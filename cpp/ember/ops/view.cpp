// View ops: new metadata over the same storage. Reshape-like views take their gradient back by
// reshaping; sub-views (select/slice) replay themselves on a zero tensor and copy the grad in.
#include <functional>

#include "ember/ops/registry.h"
#include "ember/autograd/node.h"
#include "ember/kernels/loops.h"
#include "ember/ops/ops.h"

namespace ember {

namespace {
struct ReshapeBackward : Node {
  Shape in_shape;
  const char* nm;
  ReshapeBackward(Shape s, const char* n) : in_shape(std::move(s)), nm(n) {}
  std::vector<Tensor> apply(std::vector<Tensor>& g) override { return {reshape(g[0], in_shape)}; }
  bool differentiable() const override { return true; }
  std::string name() const override { return nm; }
};
struct PermuteBackward : Node {
  std::vector<int64_t> inv;
  const char* nm;
  PermuteBackward(std::vector<int64_t> i, const char* n) : inv(std::move(i)), nm(n) {}
  std::vector<Tensor> apply(std::vector<Tensor>& g) override { return {permute(g[0], inv)}; }
  bool differentiable() const override { return true; }
  std::string name() const override { return nm; }
};
struct ExpandBackward : Node {
  Shape in_shape;
  explicit ExpandBackward(Shape s) : in_shape(std::move(s)) {}
  std::vector<Tensor> apply(std::vector<Tensor>& g) override { return {sum_to(g[0], in_shape)}; }
  bool differentiable() const override { return true; }
  std::string name() const override { return "ExpandBackward0"; }
};
// Gradient of a sub-view: zeros of the input's shape with the grad written through the same view.
struct SubviewBackward : Node {
  Shape in_shape;
  std::function<Tensor(const Tensor&)> replay;
  const char* nm;
  SubviewBackward(Shape s, std::function<Tensor(const Tensor&)> r, const char* n)
      : in_shape(std::move(s)), replay(std::move(r)), nm(n) {}
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    Tensor z = zeros(in_shape, g[0]->dtype);
    copy_into(replay(z), g[0]);
    // create_graph: the adjoint is the same sub-view (copied, so no view of a graph value escapes)
    auto r = replay;
    return {linear_in_grad(z, g[0], [r](const Tensor& gg) { return contiguous(r(gg)); }, "SubviewBackwardBackward")};
  }
  bool differentiable() const override { return true; }
  std::string name() const override { return nm; }
};

Tensor finish_view(const Tensor& a, const Tensor& out) {
  out->is_view = true;
  out->view_base = a->view_base ? a->view_base : a;
  return out;
}
}  // namespace

Tensor as_strided_nograd(const Tensor& a, const Shape& shape, const Shape& strides, int64_t offset) {
  return make_view(a, shape, strides, offset);
}

Shape infer_size(Shape shape, int64_t numel) {
  int64_t infer = -1, known = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      if (infer >= 0) throw std::runtime_error("only one dimension can be inferred");
      infer = (int64_t)i;
    } else if (shape[i] < 0) {
      throw std::runtime_error("invalid shape dimension " + std::to_string(shape[i]));
    } else {
      known *= shape[i];
    }
  }
  if (infer >= 0) {
    if (known == 0 || numel % known != 0)
      throw std::runtime_error("shape '" + shape_str(shape) + "' is invalid for input of size " + std::to_string(numel));
    shape[infer] = numel / known;
  } else if (known != numel) {
    throw std::runtime_error("shape '" + shape_str(shape) + "' is invalid for input of size " + std::to_string(numel));
  }
  return shape;
}

// Strides for viewing (old shape, strides) as new shape without a copy, or false (torch's computeStride).
static bool view_strides(const Shape& os, const Shape& ost, const Shape& ns, Shape& out) {
  out.assign(ns.size(), 0);
  if (shape_numel(os) == 0 || os.empty()) {
    out = contiguous_strides(ns);
    return true;
  }
  int64_t view_d = (int64_t)ns.size() - 1;
  int64_t chunk_base_stride = ost.empty() ? 1 : ost.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t td = (int64_t)os.size() - 1; td >= 0; --td) {
    tensor_numel *= os[td];
    if (td == 0 || (os[td - 1] != 1 && ost[td - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || ns[view_d] == 1)) {
        out[view_d] = view_numel * chunk_base_stride;
        view_numel *= ns[view_d];
        view_d--;
      }
      if (view_numel != tensor_numel) return false;
      if (td > 0) {
        chunk_base_stride = ost[td - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  return view_d == -1;
}

Tensor view(const Tensor& a, Shape shape) {
  shape = infer_size(std::move(shape), a->numel());
  Shape st;
  if (!view_strides(a->shape, a->strides, shape, st))
    throw std::runtime_error("view size is not compatible with input tensor's size and stride (at least one dimension "
                             "spans across two contiguous subspaces). Use .reshape(...) instead. (input shape " +
                             shape_str(a->shape) + ", requested " + shape_str(shape) + ")");
  Tensor out = finish_view(a, make_view(a, shape, st, a->offset));
  if (any_requires_grad({&a})) set_history(out, make_node<ReshapeBackward>({&a}, a->shape, "ViewBackward0"));
  return out;
}
EMBER_OP("view(Tensor input, int[] size) -> Tensor", "method any_dtype", view(a.t(0), to_shape(a.ints(1))));
EMBER_OP("view_as(Tensor input, Tensor other) -> Tensor", "method any_dtype", view(a.t(0), a.t(1)->shape));

// x.view(dtype): the same bytes read as another dtype. Between sizes, as torch: the last dim must
// be contiguous and is split or merged; the other strides and the offset must fit the new size.
// Not differentiable (as torch unless the dtypes are equal).
Tensor view_dtype(const Tensor& a, DType d) {
  if (d == a->dtype) return view(a, a->shape);
  if (a->requires_grad && GradMode::is_enabled())
    throw std::runtime_error("Cannot change data type of a Tensor that requires gradients; use .detach() first");
  const int64_t from = (int64_t)itemsize(a->dtype), to = (int64_t)itemsize(d);
  Shape shape = a->shape, strides = a->strides;
  int64_t offset = a->offset;
  if (from != to) {
    const std::string what = std::string("view(dtype): viewing a ") + dtype_name(a->dtype) + " tensor as " + dtype_name(d);
    if (a->dim() == 0) throw std::runtime_error(what + " needs at least one dimension (the element sizes differ)");
    if (strides.back() != 1 && shape.back() != 1) throw std::runtime_error(what + " needs a contiguous last dimension (stride 1)");
    const int64_t n = a->dim();
    if (to < from) {
      const int64_t k = from / to;
      for (int64_t i = 0; i + 1 < n; ++i) strides[i] *= k;
      shape[n - 1] *= k;
      strides[n - 1] = 1;
      offset *= k;
    } else {
      const int64_t k = to / from;
      if (shape[n - 1] % k)
        throw std::runtime_error(what + " needs the last dimension's size (" + std::to_string(shape[n - 1]) +
                                 ") to be a multiple of " + std::to_string(k));
      for (int64_t i = 0; i + 1 < n; ++i)
        if (strides[i] % k) throw std::runtime_error(what + " needs every other stride to be a multiple of " + std::to_string(k));
      if (offset % k) throw std::runtime_error(what + " needs the storage offset to be a multiple of " + std::to_string(k));
      for (int64_t i = 0; i + 1 < n; ++i) strides[i] /= k;
      shape[n - 1] /= k;
      strides[n - 1] = 1;
      offset /= k;
    }
  }
  Tensor out = make_view(a, shape, strides, offset);
  out->dtype = d;
  return finish_view(a, out);
}
EMBER_OP("view.dtype(Tensor input, ScalarType dtype) -> Tensor", "method any_dtype", view_dtype(a.t(0), *a.dtype(1)));

Tensor reshape(const Tensor& a, Shape shape) {
  shape = infer_size(std::move(shape), a->numel());
  Shape st;
  if (view_strides(a->shape, a->strides, shape, st)) return view(a, shape);
  return view(clone(a), shape);
}
EMBER_OP("reshape(Tensor input, int[] shape) -> Tensor", "function method any_dtype", reshape(a.t(0), to_shape(a.ints(1))));
EMBER_OP("reshape_as(Tensor input, Tensor other) -> Tensor", "method any_dtype", reshape(a.t(0), a.t(1)->shape));

Tensor permute(const Tensor& a, std::vector<int64_t> dims) {
  int64_t nd = a->dim();
  if ((int64_t)dims.size() != nd)
    throw std::runtime_error("permute(sparse_coo): number of dimensions in the tensor input does not match the length "
                             "of the desired ordering of dimensions i.e. input.dim() = " + std::to_string(nd) +
                             " is not equal to len(dims) = " + std::to_string(dims.size()));
  Shape sh(nd), st(nd);
  std::vector<int64_t> inv(nd, -1);
  for (int64_t i = 0; i < nd; ++i) {
    int64_t d = wrap_dim(dims[i], nd);
    if (inv[d] != -1) throw std::runtime_error("permute(): duplicate dims are not allowed.");
    inv[d] = i;
    sh[i] = a->shape[d];
    st[i] = a->strides[d];
  }
  Tensor out = finish_view(a, make_view(a, sh, st, a->offset));
  if (any_requires_grad({&a})) set_history(out, make_node<PermuteBackward>({&a}, inv, "PermuteBackward0"));
  return out;
}
EMBER_OP("permute(Tensor input, int[] dims) -> Tensor", "function method any_dtype", permute(a.t(0), a.ints(1)));

Tensor transpose(const Tensor& a, int64_t d0, int64_t d1) {
  int64_t nd = a->dim();
  if (nd == 0) {
    wrap_dim(d0, 0), wrap_dim(d1, 0);
    return finish_view(a, view(a, {}));
  }
  d0 = wrap_dim(d0, nd), d1 = wrap_dim(d1, nd);
  std::vector<int64_t> p(nd);
  for (int64_t i = 0; i < nd; ++i) p[i] = i;
  std::swap(p[d0], p[d1]);
  Tensor out = finish_view(a, make_view(a, a->shape, a->strides, a->offset));
  std::swap(out->shape[d0], out->shape[d1]);
  std::swap(out->strides[d0], out->strides[d1]);
  if (any_requires_grad({&a})) set_history(out, make_node<PermuteBackward>({&a}, p, "TransposeBackward0"));
  return out;
}
EMBER_OP("transpose(Tensor input, int dim0, int dim1) -> Tensor", "function method any_dtype", transpose(a.t(0), a.i(1), a.i(2)));
EMBER_OP("swapaxes(Tensor input, int axis0, int axis1) -> Tensor", "function method any_dtype", transpose(a.t(0), a.i(1), a.i(2)));
EMBER_OP("swapdims(Tensor input, int dim0, int dim1) -> Tensor", "function method any_dtype", transpose(a.t(0), a.i(1), a.i(2)));

Tensor t(const Tensor& a) {
  if (a->dim() > 2)
    throw std::runtime_error("t() expects a tensor with <= 2 dimensions, but self is " + std::to_string(a->dim()) + "D");
  Tensor out = a->dim() < 2 ? transpose(a, 0, 0) : transpose(a, 0, 1);
  // Only a node this call made (for dim < 2 transpose may hand back `a` with its own node:
  // writing through a static_cast there corrupted that node, found by UBSan).
  if (out->grad_fn && out->grad_fn != a->grad_fn)
    if (auto* n = dynamic_cast<PermuteBackward*>(out->grad_fn.get())) n->nm = "TBackward0";
  return out;
}
EMBER_OP("t(Tensor input) -> Tensor", "function method any_dtype", t(a.t(0)));

Tensor unsqueeze(const Tensor& a, int64_t dim) {
  dim = wrap_dim(dim, a->dim() + 1);
  Shape sh = a->shape, st = a->strides;
  int64_t s = dim < a->dim() ? sh[dim] * st[dim] : 1;
  sh.insert(sh.begin() + dim, 1);
  st.insert(st.begin() + dim, s);
  Tensor out = finish_view(a, make_view(a, sh, st, a->offset));
  if (any_requires_grad({&a})) set_history(out, make_node<ReshapeBackward>({&a}, a->shape, "UnsqueezeBackward0"));
  return out;
}
EMBER_OP("unsqueeze(Tensor input, int dim) -> Tensor", "function method any_dtype", unsqueeze(a.t(0), a.i(1)));

Tensor squeeze(const Tensor& a, std::optional<int64_t> dim) {
  Shape sh, st;
  int64_t d = dim ? wrap_dim(*dim, a->dim()) : -1;
  for (int64_t i = 0; i < a->dim(); ++i) {
    bool drop = a->shape[i] == 1 && (d < 0 || i == d);
    if (!drop) sh.push_back(a->shape[i]), st.push_back(a->strides[i]);
  }
  Tensor out = finish_view(a, make_view(a, sh, st, a->offset));
  if (any_requires_grad({&a})) set_history(out, make_node<ReshapeBackward>({&a}, a->shape, dim ? "SqueezeBackward1" : "SqueezeBackward0"));
  return out;
}
Tensor squeeze_dims(const Tensor& a, const std::vector<int64_t>& dims) {
  std::vector<int64_t> ds;
  for (auto d : dims) ds.push_back(wrap_dim(d, std::max<int64_t>(a->dim(), 1)));
  std::sort(ds.rbegin(), ds.rend());
  Tensor r = a;
  for (auto d : ds)
    if (r->dim() > 0 && r->shape[d] == 1) r = squeeze(r, d);
  return r;
}
EMBER_OP("squeeze(Tensor input, int[1]? dim=None) -> Tensor", "function method any_dtype",
         a.none(1) ? squeeze(a.t(0), std::nullopt) : squeeze_dims(a.t(0), a.ints(1)));

Tensor flatten(const Tensor& a, int64_t start, int64_t end) {
  start = wrap_dim(start, std::max<int64_t>(a->dim(), 1)), end = wrap_dim(end, std::max<int64_t>(a->dim(), 1));
  if (a->dim() == 0) return reshape(a, {1});
  if (start > end) throw std::runtime_error("flatten() has invalid args: start_dim cannot come after end_dim");
  Shape sh;
  for (int64_t i = 0; i < start; ++i) sh.push_back(a->shape[i]);
  int64_t m = 1;
  for (int64_t i = start; i <= end; ++i) m *= a->shape[i];
  sh.push_back(m);
  for (int64_t i = end + 1; i < a->dim(); ++i) sh.push_back(a->shape[i]);
  return reshape(a, sh);
}
EMBER_OP("flatten(Tensor input, int start_dim=0, int end_dim=-1) -> Tensor", "function method any_dtype", flatten(a.t(0), a.i(1), a.i(2)));

Tensor expand(const Tensor& a, Shape shape) {
  int64_t nd = (int64_t)shape.size();
  if (nd < a->dim())
    throw std::runtime_error("expand: the number of sizes provided (" + std::to_string(nd) +
                             ") must be greater or equal to the number of dimensions in the tensor (" +
                             std::to_string(a->dim()) + ")");
  Shape st(nd, 0);
  for (int64_t i = nd - 1; i >= 0; --i) {
    int64_t j = i - (nd - a->dim());
    if (j >= 0) {
      int64_t s = a->shape[j];
      if (shape[i] == -1) shape[i] = s;
      if (shape[i] < 0)
        throw std::runtime_error("expand: the expanded size of the tensor (" + std::to_string(shape[i]) +
                                 ") isn't allowed in a leading, non-existing dimension or as a negative size, sizes " +
                                 shape_str(shape) + ", tensor " + shape_str(a->shape));
      if (s == shape[i]) st[i] = a->strides[j];
      else if (s == 1) st[i] = 0;
      else
        throw std::runtime_error("The expanded size of the tensor (" + std::to_string(shape[i]) +
                                 ") must match the existing size (" + std::to_string(s) + ") at non-singleton dimension " +
                                 std::to_string(i) + ".  Target sizes: " + shape_str(shape) + ".  Tensor sizes: " +
                                 shape_str(a->shape));
    } else if (shape[i] < 0) {
      throw std::runtime_error("The expanded size of the tensor (" + std::to_string(shape[i]) +
                               ") isn't allowed in a leading, non-existing dimension " + std::to_string(i));
    }
  }
  if (shape == a->shape) return a;
  checked_numel(shape);
  Tensor out = finish_view(a, make_view(a, shape, st, a->offset));
  if (any_requires_grad({&a})) set_history(out, make_node<ExpandBackward>({&a}, a->shape));
  return out;
}
EMBER_OP("expand(Tensor input, int[] size, *, bool implicit=False) -> Tensor", "method any_dtype", expand(a.t(0), to_shape(a.ints(1))));
EMBER_OP("expand_as(Tensor input, Tensor other) -> Tensor", "method any_dtype", expand(a.t(0), a.t(1)->shape));

static Tensor select_nograd(const Tensor& a, int64_t dim, int64_t index) {
  Shape sh = a->shape, st = a->strides;
  int64_t off = a->offset + index * st[dim];
  sh.erase(sh.begin() + dim);
  st.erase(st.begin() + dim);
  return make_view(a, sh, st, off);
}

Tensor select(const Tensor& a, int64_t dim, int64_t index) {
  if (a->dim() == 0) throw IndexError("select() cannot be applied to a 0-dim tensor.");
  dim = wrap_dim(dim, a->dim());
  int64_t n = a->shape[dim];
  if (index < -n || index >= n)
    throw IndexError("index " + std::to_string(index) + " is out of bounds for dimension " + std::to_string(dim) +
                     " with size " + std::to_string(n));
  if (index < 0) index += n;
  Tensor out = finish_view(a, select_nograd(a, dim, index));
  if (any_requires_grad({&a}))
    set_history(out, make_node<SubviewBackward>({&a}, a->shape, [dim, index](const Tensor& z) { return select_nograd(z, dim, index); },
                                                "SelectBackward0"));
  return out;
}

// ---- diagonal: a strided view along (dim1, dim2), appended as the last dim
static Tensor diagonal_nograd(const Tensor& a, int64_t off, int64_t d1, int64_t d2) {
  Shape sh, st;
  for (int64_t i = 0; i < a->dim(); ++i)
    if (i != d1 && i != d2) sh.push_back(a->shape[i]), st.push_back(a->strides[i]);
  int64_t len = off >= 0 ? std::min(a->shape[d1], a->shape[d2] - off) : std::min(a->shape[d1] + off, a->shape[d2]);
  len = std::max<int64_t>(len, 0);
  int64_t start = a->offset + (len > 0 ? (off >= 0 ? off * a->strides[d2] : -off * a->strides[d1]) : 0);
  sh.push_back(len);
  st.push_back(a->strides[d1] + a->strides[d2]);
  return make_view(a, sh, st, start);
}
Tensor diagonal(const Tensor& a, int64_t offset, int64_t dim1, int64_t dim2) {
  if (a->dim() < 2) throw std::runtime_error("diagonal(): input must have at least 2 dimensions, got " + std::to_string(a->dim()));
  int64_t d1 = wrap_dim(dim1, a->dim()), d2 = wrap_dim(dim2, a->dim());
  if (d1 == d2) throw std::runtime_error("diagonal dimensions cannot be identical " + std::to_string(dim1) + ", " + std::to_string(dim2));
  Tensor out = finish_view(a, diagonal_nograd(a, offset, d1, d2));
  if (any_requires_grad({&a}))
    set_history(out, make_node<SubviewBackward>({&a}, a->shape, [offset, d1, d2](const Tensor& z) { return diagonal_nograd(z, offset, d1, d2); },
                                                "DiagonalBackward0"));
  return out;
}
EMBER_OP("diagonal(Tensor input, int offset=0, int dim1=0, int dim2=1) -> Tensor", "function method any_dtype",
         diagonal(a.t(0), a.i(1), a.i(2), a.i(3)));
EMBER_OP("select(Tensor input, int dim, int index) -> Tensor", "function method any_dtype", select(a.t(0), a.i(1), a.i(2)));

static Tensor slice_nograd(const Tensor& a, int64_t dim, int64_t start, int64_t len, int64_t step) {
  Shape sh = a->shape, st = a->strides;
  int64_t off = a->offset + start * st[dim];
  sh[dim] = len;
  st[dim] *= step;
  return make_view(a, sh, st, off);
}

Tensor slice(const Tensor& a, int64_t dim, std::optional<int64_t> start_, std::optional<int64_t> end_, int64_t step) {
  if (a->dim() == 0) throw IndexError("slice() cannot be applied to a 0-dim tensor.");
  if (step <= 0) throw ValueError("step must be greater than zero");
  dim = wrap_dim(dim, a->dim());
  int64_t n = a->shape[dim];
  int64_t start = start_.value_or(0), end = end_.value_or(n);
  if (start < 0) start += n;
  if (end < 0) end += n;
  start = std::min(std::max<int64_t>(start, 0), n);
  end = std::min(std::max<int64_t>(end, start), n);
  int64_t len = (end - start + step - 1) / step;
  Tensor out = finish_view(a, slice_nograd(a, dim, start, len, step));
  if (any_requires_grad({&a}))
    set_history(out, make_node<SubviewBackward>({&a}, a->shape,
                                                [dim, start, len, step](const Tensor& z) { return slice_nograd(z, dim, start, len, step); },
                                                "SliceBackward0"));
  return out;
}

Tensor narrow(const Tensor& a, int64_t dim, int64_t start, int64_t length) {
  if (a->dim() == 0) throw std::runtime_error("narrow() cannot be applied to a 0-dim tensor.");
  dim = wrap_dim(dim, a->dim());
  int64_t n = a->shape[dim];
  if (start < -n || start > n)
    throw IndexError("start out of range (expected to be in range of [" + std::to_string(-n) + ", " + std::to_string(n) +
                     "], but got " + std::to_string(start) + ")");
  if (start < 0) start += n;
  if (length < 0) throw std::runtime_error("narrow(): length must be non-negative.");
  if (length > n - start)  // (start + length could overflow)
    throw std::runtime_error("start (" + std::to_string(start) + ") + length (" + std::to_string(length) +
                     ") exceeds dimension size (" + std::to_string(n) + ").");
  return slice(a, dim, start, start + length, 1);
}
EMBER_OP("narrow(Tensor input, int dim, int start, int length) -> Tensor", "function method any_dtype",
         narrow(a.t(0), a.i(1), a.i(2), a.i(3)));

}  // namespace ember
