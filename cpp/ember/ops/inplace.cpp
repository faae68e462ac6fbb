// In-place ops. Without autograd they write straight into self; with autograd (self non-leaf or
// the other operand requiring grad) self takes the history of the out-of-place result.
#include <cstring>
#include <functional>

#include "ember/autograd/node.h"
#include "ember/kernels/loops.h"
#include "ember/ops/ops.h"
#include "ember/ops/registry.h"

namespace ember {

void check_inplace(const Tensor& self, const char* op) {
  if (GradMode::is_enabled() && self->requires_grad && self->is_leaf())
    throw std::runtime_error(std::string("a leaf Variable that requires grad is being used in an in-place operation (") +
                             op + ").");
}

namespace {
struct FillBackward : Node {
  std::vector<Tensor> apply(std::vector<Tensor>&) override { return {}; }
  bool differentiable() const override { return true; }
  std::string name() const override { return "FillBackward0"; }
};

// Note [In-place autograd]: the tracked path computes op(clone(self)) so that nodes saving self
// keep an unmodified copy, writes the result into self and moves self's history onto it.
Tensor& inplace(Tensor& self, const Tensor* other, const char* name, const std::function<Tensor(const Tensor&)>& op) {
  return inplace_apply(self, other && (*other)->requires_grad, name, op);
}
}  // namespace

// Note [CopySlices]: a tracked in-place write into a view V of a root B (sharing B's storage)
// gives B a CopySlices node: B's old history gets the gradient with V's region zeroed, the
// written value gets the region's gradient. V then becomes a view of the new B (ViewOfBase).
namespace {
struct Region {
  Shape shape, strides;
  int64_t offset;  // relative to the root's offset
};
Tensor region_of(const Tensor& t, const Region& r) { return make_view(t, r.shape, r.strides, t->offset + r.offset); }
struct CopySlices : Node {
  Region region;
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    Tensor gc = clone(g[0]);
    Tensor reg = region_of(gc, region);
    std::vector<Tensor> r(2);
    if (needs(1)) r[1] = clone(reg);
    copy_into(reg, zeros({}, gc->dtype));
    r[0] = gc;
    return r;
  }
  std::string name() const override { return "CopySlices"; }
};
struct ViewOfBase : Node {
  Region region;
  Shape base_shape;
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    Tensor z = zeros(base_shape, g[0]->dtype);
    copy_into(region_of(z, region), g[0]);
    return {z};
  }
  std::string name() const override { return "AsStridedBackward0"; }
};
}  // namespace

void rebase_view_history(const Tensor& view, const Tensor& value) {
  Tensor base = view->view_base;
  Region reg{view->shape, view->strides, view->offset - base->offset};
  auto cs = std::make_shared<CopySlices>();
  cs->region = reg;
  cs->next = {gradient_edge(base), gradient_edge(value)};
  set_history(base, cs);
  auto vb = std::make_shared<ViewOfBase>();
  vb->region = reg;
  vb->base_shape = base->shape;
  vb->next = {gradient_edge(base)};
  set_history(view, vb);
}

namespace {
// torch refuses an in-place op that writes one memory location through several elements (an
// expanded view), except for the writes of one value (fill_, zero_, x[i] = v, masked_fill_).
void check_no_internal_overlap(const Tensor& self, const char* name) {
  static const char* one_value[] = {"fill_", "zero_", "masked_fill_", "__setitem__"};
  for (const char* n : one_value)
    if (std::strcmp(n, name) == 0) return;
  for (int64_t d = 0; d < self->dim(); ++d)
    if (self->strides[d] == 0 && self->shape[d] > 1)
      throw std::runtime_error("unsupported operation: more than one element of the written-to tensor refers to a single "
                               "memory location. Please clone() the tensor before performing the operation.");
}
}  // namespace

Tensor& inplace_apply(Tensor& self, bool others_need_grad, const char* name, const std::function<Tensor(const Tensor&)>& op) {
  check_inplace(self, name);
  check_no_internal_overlap(self, name);
  bool track = GradMode::is_enabled() && (self->requires_grad || others_need_grad);
  bool rebase = false;
  Tensor r;
  if (track) {
    if (self->is_view) {
      if (self->grad_fn && self->grad_fn->num_outputs > 1) {  // unbind's slices: torch refuses too
        std::string fn = self->grad_fn->name();  // named as torch names it: the view function ("Unbind")
        if (fn.size() > 9 && fn.compare(fn.size() - 9, 9, "Backward0") == 0) fn.resize(fn.size() - 9);
        throw std::runtime_error("Output " + std::to_string(self->output_nr) + " of " + fn +
                                 " is a view and is being modified inplace. This view is the output of a function "
                                 "that returns multiple views. Such functions do not allow the output views to be "
                                 "modified inplace. You should replace the inplace operation by an out-of-place one.");
      }
      const Tensor& base = self->view_base;
      if (!base || !base->is_contiguous())
        throw std::runtime_error(std::string(name) +
            ": in-place operation on a view of a non-contiguous tensor that requires grad is not supported by ember; use the out-of-place form");
      if (base->is_leaf() && base->requires_grad)
        throw std::runtime_error("a view of a leaf Variable that requires grad is being used in an in-place operation.");
      rebase = true;
    }
    r = op(clone(self));
  } else {
    NoGradGuard g;
    r = op(self);
  }
  if (r->shape != self->shape)
    throw std::runtime_error(std::string(name) + ": output with shape " + shape_str(self->shape) +
                             " doesn't match the broadcast shape " + shape_str(r->shape));
  if (!can_cast(r->dtype, self->dtype))
    throw std::runtime_error(std::string(name) + ": result type " + dtype_name(r->dtype) +
                             " can't be cast to the desired output type " + dtype_name(self->dtype));
  copy_into(self, r);
  self->bump_version();
  if (rebase) {
    rebase_view_history(self, r);
  } else if (track && r->grad_fn) {
    self->grad_fn = r->grad_fn;
    self->output_nr = r->output_nr;
    self->requires_grad = true;
  }
  return self;
}

void write_out(const Tensor& out, const Tensor& r, const char* name) {
  if (!can_cast(r->dtype, out->dtype))
    throw std::runtime_error(std::string("result type ") + scalar_type_name(r->dtype) +
                             " can't be cast to the desired output type " + scalar_type_name(out->dtype));
  if (out->shape != r->shape) {
    Tensor fresh = empty(r->shape, out->dtype);
    out->storage = fresh->storage;
    out->offset = 0;
    out->shape = fresh->shape;
    out->strides = fresh->strides;
  }
  copy_into(out, r);
  out->bump_version();
}

Tensor& add_(Tensor& self, const Tensor& o, Scalar alpha) {
  return inplace(self, &o, "add_", [&](const Tensor& s) { return add(s, o, alpha); });
}
Tensor& sub_(Tensor& self, const Tensor& o, Scalar alpha) {
  return inplace(self, &o, "sub_", [&](const Tensor& s) { return sub(s, o, alpha); });
}
Tensor& mul_(Tensor& self, const Tensor& o) { return inplace(self, &o, "mul_", [&](const Tensor& s) { return mul(s, o); }); }
Tensor& div_(Tensor& self, const Tensor& o) { return inplace(self, &o, "div_", [&](const Tensor& s) { return div(s, o); }); }
Tensor& pow_(Tensor& self, const Tensor& o) { return inplace(self, &o, "pow_", [&](const Tensor& s) { return pow(s, o); }); }
Tensor& clamp_(Tensor& self, std::optional<Scalar> lo, std::optional<Scalar> hi) {
  return inplace(self, nullptr, "clamp_", [&](const Tensor& s) { return clamp(s, lo, hi); });
}

Tensor& copy_(Tensor& self, const Tensor& src0) {
  broadcast_shapes(self->shape, src0->shape);  // raises on mismatch
  Tensor src = src0->storage == self->storage ? clone(src0) : src0;
  return inplace(self, &src, "copy_", [&](const Tensor& s) {
    Tensor c = to_dtype(src, self->dtype);
    return c->shape == self->shape ? c : expand(c, self->shape);
  });
}

Tensor& fill_(Tensor& self, Scalar v) {
  check_inplace(self, "fill_");
  check_number_fits(scalar_tensor(v), self->dtype);
  Tensor val = scalar_tensor(v, self->dtype);
  if (GradMode::is_enabled() && self->requires_grad && self->is_view)  // rebases the root (Note [CopySlices])
    return inplace_apply(self, false, "fill_", [&](const Tensor& s) { return contiguous(expand(val, s->shape)); });
  copy_into(self, val);
  self->bump_version();
  if (GradMode::is_enabled() && self->requires_grad) set_history(self, std::make_shared<FillBackward>());
  return self;
}

Tensor& zero_(Tensor& self) { return fill_(self, Scalar::from_int(0)); }

// ---- in-place view ops (t_, transpose_, squeeze_, unsqueeze_, ...): self takes the geometry of
// `view` (a view of self computed out of place) and, when the view has a history, that history
// (so gradients flow through the view op to self's old history, as torch's TBackward1 does).
Tensor& become_view_(Tensor& self, const Tensor& view) {
  if (view->storage != self->storage) throw std::logic_error("become_view_: not a view of self");
  if (self->requires_grad && self->is_leaf() && GradMode::is_enabled())
    throw std::runtime_error("a leaf Variable that requires grad is being used in an in-place operation.");
  self->offset = view->offset;
  self->shape = view->shape;
  self->strides = view->strides;
  if (view->grad_fn) {
    self->grad_fn = view->grad_fn;
    self->output_nr = view->output_nr;
    self->requires_grad = true;
  }
  return self;
}

// ---- resize_: new shape; the first min(old, new) elements (in order) are kept, the rest uninitialised
Tensor& resize_(Tensor& self, const Shape& shape) {
  for (auto d : shape)
    if (d < 0) throw std::runtime_error("Trying to create tensor with negative dimension " + std::to_string(d) + ": " + shape_str(shape));
  if (self->requires_grad && GradMode::is_enabled()) throw std::runtime_error("cannot resize variables that require grad");
  if (shape == self->shape) return self;
  Tensor fresh = empty(shape, self->dtype);
  int64_t keep = std::min(fresh->numel(), self->numel());
  if (keep > 0) {
    NoGradGuard g;
    Tensor flat_old = reshape(contiguous(self), {self->numel()});
    copy_into(make_view(fresh, {keep}, {1}, 0), narrow(flat_old, 0, 0, keep));
  }
  self->storage = fresh->storage;
  self->offset = 0;
  self->shape = fresh->shape;
  self->strides = fresh->strides;
  self->bump_version();
  return self;
}
EMBER_OP("resize_(Tensor input, int[] size, *, MemoryFormat? memory_format=None) -> Tensor", "method any_dtype",
         resize_(const_cast<Tensor&>(a.t(0)), to_shape(a.ints(1))));
EMBER_OP("resize_as_(Tensor input, Tensor the_template, *, MemoryFormat? memory_format=None) -> Tensor", "method any_dtype",
         resize_(const_cast<Tensor&>(a.t(0)), a.t(1)->shape));

}  // namespace ember
