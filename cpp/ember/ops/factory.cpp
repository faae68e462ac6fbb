// Creation ops, copies and casts (clone / to / contiguous / detach), and ember's own generator.
// The generator is xoshiro256**: seeded by manual_seed, deterministic, not torch's stream.
#include <cmath>
#include <cstring>

#include <cstdio>
#include "ember/ops/registry.h"
#include "ember/autograd/node.h"
#include "ember/kernels/loops.h"
#include "ember/ops/ops.h"

namespace ember {

// ---------------------------------------------------------------- raw copies
void copy_into(const Tensor& dst, const Tensor& src) {
  bool ok = src->dim() <= dst->dim();
  for (int64_t i = 0; ok && i < src->dim(); ++i) {
    int64_t s = src->shape[i], d = dst->shape[dst->dim() - src->dim() + i];
    ok = s == d || s == 1;
  }
  if (!ok)
    throw std::runtime_error("output with shape " + shape_str(dst->shape) + " doesn't match the broadcast shape " +
                             shape_str(src->shape));
  Shape st = broadcast_strides(src, dst->shape);
  Tensor s = make_view(src, dst->shape, st, src->offset);
  if (dst->dtype == src->dtype && dst->is_contiguous() && src->is_contiguous() && src->shape == dst->shape) {
    std::memmove(dst->raw(), src->raw(), (size_t)dst->numel() * itemsize(dst->dtype));
    return;
  }
  EMBER_DISPATCH_STORAGE(dst->dtype, D, EMBER_DISPATCH_STORAGE(src->dtype, S, unary_kernel<D, S>(dst, s, [](S v) { return convert<D>(v); })));
}

Tensor cast_nograd(const Tensor& a, DType d) {
  Tensor out = empty(a->shape, d);
  copy_into(out, a);
  return out;
}

Tensor detach(const Tensor& a) { return make_view(a, a->shape, a->strides, a->offset); }

// ---------------------------------------------------------------- clone
struct CloneBackward : Node {
  std::vector<Tensor> apply(std::vector<Tensor>& g) override { return {g[0]}; }
  bool differentiable() const override { return true; }
  std::string name() const override { return "CloneBackward0"; }
};

Tensor clone(const Tensor& a) {
  Tensor out = empty(a->shape, a->dtype);
  copy_into(out, a);
  if (any_requires_grad({&a})) set_history(out, make_node<CloneBackward>({&a}));
  return out;
}

Tensor contiguous(const Tensor& a) { return a->is_contiguous() ? a : clone(a); }

// ---------------------------------------------------------------- dtype cast
struct ToCopyBackward : Node {
  DType src;
  explicit ToCopyBackward(DType s) : src(s) {}
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    return {GradMode::is_enabled() ? to_dtype(g[0], src) : cast_nograd(g[0], src)};
  }
  bool differentiable() const override { return true; }
  std::string name() const override { return "ToCopyBackward0"; }
};

Tensor to_dtype(const Tensor& a, DType d) {
  if (a->dtype == d) return a;
  Tensor out = cast_nograd(a, d);
  if (any_requires_grad({&a})) {
    if (!is_floating(d)) return out;  // integer results never require grad
    set_history(out, make_node<ToCopyBackward>({&a}, a->dtype));
  }
  return out;
}

// ---------------------------------------------------------------- constants and ranges
Tensor full(const Shape& s, Scalar v, DType d) {
  Tensor t = empty(s, d);
  int64_t n = t->numel();
  EMBER_DISPATCH_STORAGE(d, T, {
    T x = v.to<T>();
    T* p = t->data<T>();
    for (int64_t i = 0; i < n; ++i) p[i] = x;
  });
  return t;
}
Tensor zeros(const Shape& s, DType d) {
  Tensor t = empty(s, d);
  std::memset(t->raw(), 0, (size_t)t->numel() * itemsize(d));
  return t;
}
Tensor ones(const Shape& s, DType d) { return full(s, Scalar::from_int(1), d); }

Tensor arange(double start, double end, double step, DType d) {
  if (is_storage_only(d)) return cast_nograd(arange(start, end, step, compute_type(d)), d);
  if (step == 0) throw std::runtime_error("arange: step must be nonzero");
  if ((step > 0 && start > end) || (step < 0 && start < end))
    throw std::runtime_error("arange: upper bound and larger bound inconsistent with step sign");
  int64_t n = (int64_t)std::ceil((end - start) / step);
  Tensor t = empty({n}, d);
  EMBER_DISPATCH_ALL(d, T, {
    T* p = t->data<T>();
    for (int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(start + (double)i * step);
  });
  return t;
}

Tensor linspace(double start, double end, int64_t steps, DType d) {
  if (is_storage_only(d)) return cast_nograd(linspace(start, end, steps, compute_type(d)), d);
  if (steps < 0) throw std::runtime_error("linspace: number of steps must be non-negative");
  Tensor t = empty({steps}, d);
  double step = steps > 1 ? (end - start) / (double)(steps - 1) : 0.0;
  int64_t half = steps / 2;
  EMBER_DISPATCH_ALL(d, T, {
    T* p = t->data<T>();
    // Symmetric fill from both ends, as torch does, so the endpoint is exact.
    for (int64_t i = 0; i < steps; ++i)
      p[i] = static_cast<T>(steps == 1 ? start : i < half ? start + step * (double)i : end - step * (double)(steps - 1 - i));
  });
  return t;
}

Tensor eye(int64_t n, int64_t m, DType d) {
  if (is_storage_only(d)) return cast_nograd(eye(n, m, compute_type(d)), d);
  if (m < 0) m = n;
  if (n < 0) throw std::runtime_error("eye: n must be greater or equal to 0, got " + std::to_string(n));
  Tensor t = zeros({n, m}, d);
  EMBER_DISPATCH_ALL(d, T, {
    T* p = t->data<T>();
    for (int64_t i = 0; i < std::min(n, m); ++i) p[i * m + i] = T(1);
  });
  return t;
}

EMBER_OP("clone(Tensor input, *, MemoryFormat? memory_format=None) -> Tensor", "function method any_dtype", clone(a.t(0)));
EMBER_OP("detach(Tensor input) -> Tensor", "function method any_dtype", detach(a.t(0)));
EMBER_OP("contiguous(Tensor input, *, MemoryFormat? memory_format=None) -> Tensor", "method any_dtype", contiguous(a.t(0)));

}  // namespace ember
