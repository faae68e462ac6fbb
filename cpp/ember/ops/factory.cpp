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
  EMBER_DISPATCH_ALL(dst->dtype, D, EMBER_DISPATCH_ALL(src->dtype, S, unary_kernel<D, S>(dst, s, [](S v) { return static_cast<D>(v); })));
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
  std::vector<Tensor> apply(std::vector<Tensor>& g) override { return {cast_nograd(g[0], src)}; }
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
  EMBER_DISPATCH_ALL(d, T, {
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
  if (m < 0) m = n;
  if (n < 0) throw std::runtime_error("eye: n must be greater or equal to 0, got " + std::to_string(n));
  Tensor t = zeros({n, m}, d);
  EMBER_DISPATCH_ALL(d, T, {
    T* p = t->data<T>();
    for (int64_t i = 0; i < std::min(n, m); ++i) p[i * m + i] = T(1);
  });
  return t;
}

// ---------------------------------------------------------------- generator
namespace {
struct Generator {
  uint64_t s[4];
  uint64_t seed = 67280421310721ULL;
  Generator() { set(seed); }
  static uint64_t splitmix(uint64_t& x) {
    uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  void set(uint64_t sd) {
    seed = sd;
    uint64_t x = sd;
    for (auto& v : s) v = splitmix(x);
  }
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t next() {
    uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]; s[2] ^= t; s[3] = rotl(s[3], 45);
    return r;
  }
  double uniform() { return (double)(next() >> 11) * 0x1.0p-53; }  // [0, 1)
  double normal() {  // Box-Muller, one value per call keeps the stream simple
    double u1 = uniform(), u2 = uniform();
    if (u1 < 1e-300) u1 = 1e-300;
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
  }
};
Generator& gen() {
  static Generator g;
  return g;
}
}  // namespace

void manual_seed(uint64_t seed) { gen().set(seed); }
uint64_t initial_seed() { return gen().seed; }

static void fill_random(const Tensor& t, bool normal, double a, double b) {
  Tensor tmp = t->is_contiguous() ? t : empty(t->shape, t->dtype);
  int64_t n = tmp->numel();
  Generator& g = gen();
  EMBER_DISPATCH_FLOAT(t->dtype, normal ? "normal_" : "uniform_", T, {
    T* p = tmp->data<T>();
    for (int64_t i = 0; i < n; ++i) {
      double v = normal ? a + b * g.normal() : a + (b - a) * g.uniform();
      p[i] = static_cast<T>(v);
      // float32 rounding can land on the open upper bound; keep [a, b) as torch promises
      if (!normal && !(p[i] < static_cast<T>(b)) && b > a) p[i] = std::nextafter(static_cast<T>(b), static_cast<T>(a));
    }
  });
  if (tmp != t) copy_into(t, tmp);
}

Tensor rand(const Shape& s, DType d) {
  Tensor t = empty(s, d);
  fill_random(t, false, 0.0, 1.0);
  return t;
}
Tensor randn(const Shape& s, DType d) {
  Tensor t = empty(s, d);
  fill_random(t, true, 0.0, 1.0);
  return t;
}
Tensor randint(int64_t low, int64_t high, const Shape& s, DType d) {
  if (high <= low)
    throw std::runtime_error("random_ expects 'from' to be less than 'to', but got from=" + std::to_string(low) +
                             " >= to=" + std::to_string(high));
  Tensor t = empty(s, DType::Int64);
  int64_t* p = t->data<int64_t>();
  uint64_t range = (uint64_t)(high - low);
  for (int64_t i = 0, n = t->numel(); i < n; ++i) p[i] = low + (int64_t)(gen().next() % range);
  return to_dtype(t, d);
}
Tensor randperm(int64_t n, DType d) {
  if (n < 0) throw std::runtime_error("randperm: n must be non-negative, got " + std::to_string(n));
  Tensor t = empty({n}, DType::Int64);
  int64_t* p = t->data<int64_t>();
  for (int64_t i = 0; i < n; ++i) p[i] = i;
  for (int64_t i = n - 1; i > 0; --i) std::swap(p[i], p[(int64_t)(gen().next() % (uint64_t)(i + 1))]);
  return to_dtype(t, d);
}

Tensor& uniform_(Tensor& self, double lo, double hi) {
  check_inplace(self, "uniform_");
  if (!(lo <= hi)) {
    char msg[160];
    std::snprintf(msg, sizeof msg, "uniform_ expects to return a [from, to) range, but found from=%.17g > to=%.17g", lo, hi);
    throw std::runtime_error(msg);
  }
  fill_random(self, false, lo, hi);
  self->bump_version();
  return self;
}
Tensor& normal_(Tensor& self, double mean, double std) {
  check_inplace(self, "normal_");
  if (std < 0) throw std::runtime_error("normal expects std >= 0.0, but found std " + std::to_string(std));
  fill_random(self, true, mean, std);
  self->bump_version();
  return self;
}

EMBER_OP("clone(Tensor input, *, MemoryFormat? memory_format=None) -> Tensor", "function method", clone(a.t(0)));
EMBER_OP("detach(Tensor input) -> Tensor", "function method", detach(a.t(0)));
EMBER_OP("contiguous(Tensor input, *, MemoryFormat? memory_format=None) -> Tensor", "method", contiguous(a.t(0)));

}  // namespace ember
