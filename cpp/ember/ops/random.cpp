// Sampling: rand/randn/randint/randperm, normal (all overloads), bernoulli, multinomial, poisson,
// and the in-place fills (uniform_, normal_, random_, exponential_, geometric_, cauchy_,
// log_normal_, bernoulli_). Every op takes an optional Generator (the default one otherwise).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numeric>

#include "ember/core/generator.h"
#include "ember/kernels/simd.h"
#include "ember/ops/registry.h"
#include "ember/autograd/node.h"
#include "ember/ops/elementwise.h"

namespace ember {

Generator& default_generator() {
  static Generator* g = new Generator();  // never destroyed: usable from threads at exit
  return *g;
}
void manual_seed(uint64_t seed) {
  std::lock_guard<std::mutex> l(default_generator().mu);
  default_generator().set(seed);
}
uint64_t initial_seed() { return default_generator().seed; }

// Note [Batched randomness]: vmap(func, randomness='same' or 'different') runs func once on the
// batched values when every draw it makes comes from a random op's batching rule (dropout draws a
// mask per slice, or one for all; an op without a rule that is handed batched values runs per slice,
// each slice drawing its own numbers, or the same ones). A draw made anywhere else (a factory such as
// randn(3) inside the function, whose result would be the same for every slice) must not happen
// there: while the attempt runs, every draw sequence first calls check_draw, which throws
// UnbatchedDraw unless a rule has unblocked draws, before any number is taken. vmap then puts the
// generator back and runs func once per index, as torch's semantics say. That re-run repeats what the
// attempt did before the draw, so the attempt also watches in-place writes (bump_version): if one
// reached a storage older than the attempt (a module's running statistics, a captured tensor), vmap
// raises instead of running it again. The state is per thread.
namespace {
thread_local BatchedRandomness t_random;
}
void check_draw(const char* op) {
  if (t_random.blocking)
    throw UnbatchedDraw(std::string(op) + " drew random numbers outside a batching rule");
}
void note_write(const Storage& s) {
  if (t_random.watching && s.id < t_random.first) t_random.wrote = true;
}
BatchedRandomness begin_batched_randomness() {
  BatchedRandomness prev = t_random;
  if (!prev.watching) g_write_watchers.fetch_add(1, std::memory_order_relaxed);
  t_random = {true, true, false, g_storage_ids.load(std::memory_order_relaxed)};
  return prev;
}
bool end_batched_randomness(const BatchedRandomness& prev) {
  const bool wrote = t_random.wrote;
  if (!prev.watching) g_write_watchers.fetch_sub(1, std::memory_order_relaxed);
  t_random = prev;
  t_random.wrote = prev.wrote || wrote;  // an enclosing attempt saw these writes too
  return wrote;
}
bool set_draws_blocked(bool on) {
  const bool prev = t_random.blocking;
  t_random.blocking = on && t_random.watching;
  return prev;
}

namespace {
// Fills t (floating) with f(gen) drawn in order, under the generator's lock.
template <class F>
void fill_with(const Tensor& t, Generator& g, const char* name, F f) {
  Tensor tmp = t->is_contiguous() ? t : empty(t->shape, t->dtype);
  int64_t n = tmp->numel();
  {
    auto l = g.draw(name);
    EMBER_DISPATCH_ALL(t->dtype, T, {
      T* p = tmp->data<T>();
      for (int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(f(g));
    });
  }
  if (tmp != t) copy_into(t, tmp);
}
void check_float(const Tensor& t, const char* name) {
  if (!is_floating(t->dtype))
    throw std::runtime_error(std::string(name) + " expects a floating point tensor, got " + scalar_type_name(t->dtype));
}
Tensor& inplace_fill(Tensor& self, const char* name) {
  check_inplace(self, name);
  return self;
}
}  // namespace

// [0, 1) from a raw draw: uniform()'s value, (next() >> 11) * 2^-53, rounded to T, the open upper
// bound kept as fill_uniform does (`below` is 1's predecessor in T). Exact operations (no
// contraction can differ between the clones).
template <class T>
EMBER_INLINE T unit_of(uint64_t r, T below) {
  const T v = static_cast<T>((double)(int64_t)(r >> 11) * 0x1.0p-53);
  return v < T(1) ? v : below;
}
template <class T>
EMBER_INLINE void unit_from_raw(const uint64_t* raw, T* out, int64_t n) {
  const T below = std::nextafter(T(1), T(0));
  for (int64_t i = 0; i < n; ++i) out[i] = unit_of(raw[i], below);
}
EMBER_CLONES void unit_from_raw_any(const uint64_t* raw, float* out, int64_t n) { unit_from_raw(raw, out, n); }
EMBER_CLONES void unit_from_raw_any(const uint64_t* raw, double* out, int64_t n) { unit_from_raw(raw, out, n); }
// dropout's mask from raw draws: scale where the [0, 1) value is >= p, else 0
template <class T>
EMBER_INLINE void mask_from_raw(const uint64_t* raw, T* out, int64_t n, T p, T scale) {
  const T below = std::nextafter(T(1), T(0));
  for (int64_t i = 0; i < n; ++i) out[i] = unit_of(raw[i], below) >= p ? scale : T(0);
}
EMBER_CLONES void mask_from_raw_any(const uint64_t* raw, float* out, int64_t n, float p, float s) { mask_from_raw(raw, out, n, p, s); }
EMBER_CLONES void mask_from_raw_any(const uint64_t* raw, double* out, int64_t n, double p, double s) { mask_from_raw(raw, out, n, p, s); }
// n draws in blocks: the generator's chain alone in a tight loop fills a block, then
// convert(raw, first index, count) turns it into values, vectorized (the caller holds the lock).
template <class F>
void in_blocks(Generator& g, int64_t n, F convert) {
  uint64_t raw[1024];
  for (int64_t i = 0; i < n; i += 1024) {
    const int64_t m = std::min<int64_t>(1024, n - i);
    for (int64_t k = 0; k < m; ++k) raw[k] = g.next();
    convert(raw, i, m);
  }
}

static void fill_uniform(const Tensor& t, Generator& g, double lo, double hi) {
  Tensor tmp = t->is_contiguous() ? t : empty(t->shape, t->dtype);
  int64_t n = tmp->numel();
  auto l = g.draw("uniform_");
  EMBER_DISPATCH_FLOAT(t->dtype, "uniform_", T, {
    T* p = tmp->data<T>();
    if (lo == 0 && hi == 1) {  // rand: in blocks, the same numbers as one by one
      in_blocks(g, n, [&](const uint64_t* raw, int64_t i, int64_t m) { unit_from_raw_any(raw, p + i, m); });
      n = 0;
    }
    for (int64_t i = 0; i < n; ++i) {
      p[i] = static_cast<T>(lo + (hi - lo) * g.uniform());
      // float32 rounding can land on the open upper bound; keep [lo, hi) as torch promises
      if (!(p[i] < static_cast<T>(hi)) && hi > lo) p[i] = std::nextafter(static_cast<T>(hi), static_cast<T>(lo));
    }
  });
  if (tmp != t) copy_into(t, tmp);
}

// dropout's scaled keep mask: scale where rand(s) >= p (compared in d), else 0, from the same draws
// as rand(s, d) (F.dropout's (rand >= p).to(d) * scale in one pass, without the intermediates).
Tensor dropout_mask(const Shape& s, double p, double scale, DType d, Generator* g) {
  if (d != DType::Float32 && d != DType::Float64)
    throw TypeError(std::string("dropout_mask: expected float32 or float64, got ") + dtype_name(d));
  Tensor t = empty(s, d);
  Generator& r = gen_or_default(g);
  const int64_t n = t->numel();
  auto l = r.draw("dropout");
  EMBER_DISPATCH_FLOAT(d, "dropout", T, {
    T* out = t->data<T>();
    const T pt = static_cast<T>(p), st = static_cast<T>(scale);
    in_blocks(r, n, [&](const uint64_t* raw, int64_t i, int64_t m) { mask_from_raw_any(raw, out + i, m, pt, st); });
  });
  return t;
}

Tensor rand(const Shape& s, DType d, Generator* g) {
  if (is_storage_only(d) && is_floating(d)) return cast_nograd(rand(s, compute_type(d), g), d);
  Tensor t = empty(s, d);
  fill_uniform(t, gen_or_default(g), 0.0, 1.0);
  return t;
}
Tensor randn(const Shape& s, DType d, Generator* g) {
  if (is_storage_only(d) && is_floating(d)) return cast_nograd(randn(s, compute_type(d), g), d);
  Tensor t = empty(s, d);
  check_float(t, "normal_");
  fill_with(t, gen_or_default(g), "normal_", [](Generator& r) { return r.normal(); });
  return t;
}
Tensor randint(int64_t low, int64_t high, const Shape& s, DType d, Generator* g) {
  if (high <= low)
    throw std::runtime_error("random_ expects 'from' to be less than 'to', but got from=" + std::to_string(low) +
                             " >= to=" + std::to_string(high));
  Tensor t = empty(s, DType::Int64);
  uint64_t range = (uint64_t)(high - low);
  fill_with(t, gen_or_default(g), "randint", [=](Generator& r) { return low + (int64_t)r.below(range); });
  return to_dtype(t, d);
}
Tensor randperm(int64_t n, DType d, Generator* g) {
  if (n < 0) throw std::runtime_error("randperm: n must be non-negative, got " + std::to_string(n));
  Tensor t = empty({n}, DType::Int64);
  int64_t* p = t->data<int64_t>();
  std::iota(p, p + n, int64_t(0));
  Generator& r = gen_or_default(g);
  auto l = r.draw("randperm");
  for (int64_t i = n - 1; i > 0; --i) std::swap(p[i], p[(int64_t)r.below((uint64_t)(i + 1))]);
  return to_dtype(t, d);
}

Tensor& uniform_(Tensor& self, double lo, double hi, Generator* g) {
  inplace_fill(self, "uniform_");
  if (!(lo <= hi)) {
    char msg[160];
    std::snprintf(msg, sizeof msg, "uniform_ expects to return a [from, to) range, but found from=%.17g > to=%.17g", lo, hi);
    throw std::runtime_error(msg);
  }
  fill_uniform(self, gen_or_default(g), lo, hi);
  self->bump_version();
  return self;
}
Tensor& normal_(Tensor& self, double mean, double std, Generator* g) {
  inplace_fill(self, "normal_");
  if (std < 0) throw std::runtime_error("normal expects std >= 0.0, but found std " + std::to_string(std));
  check_float(self, "normal_");
  fill_with(self, gen_or_default(g), "normal_", [=](Generator& r) { return mean + std * r.normal(); });
  self->bump_version();
  return self;
}
EMBER_OP("uniform_(Tensor input, float from=0, float to=1, *, Generator? generator=None) -> Tensor", "method",
         uniform_(const_cast<Tensor&>(a.t(0)), a.f(1), a.f(2), a.gen(3)));
EMBER_OP("normal_(Tensor input, float mean=0, float std=1, *, Generator? generator=None) -> Tensor", "method",
         normal_(const_cast<Tensor&>(a.t(0)), a.f(1), a.f(2), a.gen(3)));

// random_(from, to) / random_(to) / random_(): integers in [from, to) (to = 2^mantissa for floats)
Tensor& random_(Tensor& self, std::optional<int64_t> from, std::optional<int64_t> to, Generator* g) {
  inplace_fill(self, "random_");
  int64_t lo = from.value_or(0);
  int64_t hi;
  if (to) hi = *to;
  else if (self->dtype == DType::Float32) hi = (int64_t(1) << 24) + 1;
  else if (self->dtype == DType::Float64) hi = (int64_t(1) << 53) + 1;
  else if (self->dtype == DType::Bool) hi = 2;
  else hi = std::numeric_limits<int64_t>::max();
  if (hi <= lo)
    throw std::runtime_error("random_ expects 'from' to be less than 'to', but got from=" + std::to_string(lo) + " >= to=" + std::to_string(hi));
  uint64_t range = (uint64_t)(hi - lo);
  fill_with(self, gen_or_default(g), "random_", [=](Generator& r) { return lo + (int64_t)r.below(range); });
  self->bump_version();
  return self;
}
EMBER_OP("random_.from(Tensor input, int from, int? to, *, Generator? generator=None) -> Tensor", "method",
         random_(const_cast<Tensor&>(a.t(0)), a.i(1), a.oi(2), a.gen(3)));
EMBER_OP("random_.to(Tensor input, int to, *, Generator? generator=None) -> Tensor", "method",
         random_(const_cast<Tensor&>(a.t(0)), 0, a.i(1), a.gen(2)));
EMBER_OP("random_(Tensor input, *, Generator? generator=None) -> Tensor", "method",
         random_(const_cast<Tensor&>(a.t(0)), std::nullopt, std::nullopt, a.gen(1)));

template <class F>
static Tensor& float_fill(Tensor& self, const char* name, Generator* g, F f) {
  inplace_fill(self, name);
  check_float(self, name);
  fill_with(self, gen_or_default(g), name, f);
  self->bump_version();
  return self;
}
EMBER_OP("exponential_(Tensor input, float lambd=1, *, Generator? generator=None) -> Tensor", "method",
         [&]() -> Tensor& {
           double l = a.f(1);
           if (!(l > 0)) throw std::runtime_error("exponential_ expects lambda > 0.0, but found lambda=" + std::to_string(l));
           return float_fill(const_cast<Tensor&>(a.t(0)), "exponential_", a.gen(2), [l](Generator& r) { return -std::log1p(-r.uniform()) / l; });
         }());
EMBER_OP("geometric_(Tensor input, float p, *, Generator? generator=None) -> Tensor", "method",
         [&]() -> Tensor& {
           double p = a.f(1);
           if (!(p > 0 && p < 1)) throw std::runtime_error("geometric_ expects p to be in (0, 1), but got p=" + std::to_string(p));
           Tensor& s = const_cast<Tensor&>(a.t(0));
           inplace_fill(s, "geometric_");
           fill_with(s, gen_or_default(a.gen(2)), "geometric_", [p](Generator& r) { return std::ceil(std::log1p(-r.uniform()) / std::log1p(-p)); });
           s->bump_version();
           return s;
         }());
EMBER_OP("cauchy_(Tensor input, float median=0, float sigma=1, *, Generator? generator=None) -> Tensor", "method",
         float_fill(const_cast<Tensor&>(a.t(0)), "cauchy_", a.gen(3),
                    [m = a.f(1), s = a.f(2)](Generator& r) { return m + s * std::tan(M_PI * (r.uniform() - 0.5)); }));
EMBER_OP("log_normal_(Tensor input, float mean=1, float std=2, *, Generator? generator=None) -> Tensor", "method",
         float_fill(const_cast<Tensor&>(a.t(0)), "log_normal_", a.gen(3),
                    [m = a.f(1), s = a.f(2)](Generator& r) { return std::exp(m + s * r.normal()); }));

// ---- bernoulli: 1 with probability p (a tensor of probabilities, or a float)
Tensor bernoulli(const Tensor& p, Generator* g) {
  check_float(p, "bernoulli");
  Tensor pc = contiguous(cast_nograd(p, DType::Float64));
  const double* pp = pc->data<double>();
  for (int64_t i = 0; i < pc->numel(); ++i)
    if (!(pp[i] >= 0 && pp[i] <= 1)) throw std::runtime_error("Expected p_in >= 0 && p_in <= 1 to be true, but got false.");
  Tensor out = empty(p->shape, p->dtype);
  int64_t k = 0;
  fill_with(out, gen_or_default(g), "bernoulli", [&](Generator& r) { return r.uniform() < pp[k++] ? 1.0 : 0.0; });
  if (any_requires_grad({&p})) set_history(out, make_node<ZeroGradBackward>({&p}, "BernoulliBackward0"));
  return out;
}
Tensor& bernoulli_(Tensor& self, const Tensor& p, Generator* g) {
  inplace_fill(self, "bernoulli_");
  Tensor pb = contiguous(expand(cast_nograd(p, DType::Float64), self->shape));
  const double* pp = pb->data<double>();
  for (int64_t i = 0; i < pb->numel(); ++i)
    if (!(pp[i] >= 0 && pp[i] <= 1)) throw std::runtime_error("bernoulli_ expects p to be in [0, 1], but got p=" + std::to_string(pp[i]));
  int64_t k = 0;
  fill_with(self, gen_or_default(g), "bernoulli_", [&](Generator& r) { return r.uniform() < pp[k++] ? 1 : 0; });
  self->bump_version();
  return self;
}
EMBER_OP("bernoulli(Tensor input, *, Generator? generator=None, Tensor? out=None) -> Tensor", "function method",
         bernoulli(a.t(0), a.gen(1)));
EMBER_OP("bernoulli.p(Tensor input, float p, *, Generator? generator=None) -> Tensor", "function method",
         bernoulli(full(a.t(0)->shape, Scalar(a.f(1)), is_floating(a.t(0)->dtype) ? a.t(0)->dtype : DType::Float32), a.gen(2)));
EMBER_OP("bernoulli_.float(Tensor input, float p=0.5, *, Generator? generator=None) -> Tensor", "method",
         bernoulli_(const_cast<Tensor&>(a.t(0)), scalar_tensor(Scalar(a.f(1))), a.gen(2)));
EMBER_OP("bernoulli_.Tensor(Tensor input, Tensor p, *, Generator? generator=None) -> Tensor", "method",
         bernoulli_(const_cast<Tensor&>(a.t(0)), a.t(1), a.gen(2)));

// ---- normal: mean + std * N(0, 1), differentiable in mean and std as torch
static Tensor normal_tt(const Tensor& mean, const Tensor& std, Generator* g) {
  if (!is_floating(mean->dtype) && !is_floating(std->dtype))
    throw std::runtime_error("normal expects floating point mean or std");
  {
    Tensor sc = contiguous(cast_nograd(std, DType::Float64));
    for (int64_t i = 0; i < sc->numel(); ++i)
      if (sc->data<double>()[i] < 0) throw std::runtime_error("normal expects all elements of std >= 0.0");
  }
  Shape s = broadcast_shapes(mean->shape, std->shape);
  DType d = to_floating(promote(mean->wrapped_number ? std->dtype : mean->dtype, std->wrapped_number ? mean->dtype : std->dtype));
  Tensor z = randn(s, d, g);
  return add(mean, mul(std, z));
}
EMBER_OP("normal.Tensor_Tensor(Tensor mean, Tensor std, *, Generator? generator=None, Tensor? out=None) -> Tensor", "function",
         normal_tt(a.t(0), a.t(1), a.gen(2)));
EMBER_OP("normal.Tensor_float(Tensor mean, float std=1, *, Generator? generator=None, Tensor? out=None) -> Tensor", "function",
         normal_tt(a.t(0), scalar_tensor(Scalar(a.f(1))), a.gen(2)));
EMBER_OP("normal.float_Tensor(float mean, Tensor std, *, Generator? generator=None, Tensor? out=None) -> Tensor", "function",
         normal_tt(scalar_tensor(Scalar(a.f(0))), a.t(1), a.gen(2)));
EMBER_OP("normal.float_float(float mean, float std, int[] size, *, Generator? generator=None, Tensor? out=None, ScalarType? dtype=None, Layout? layout=None, Device? device=None, bool? pin_memory=None, bool requires_grad=False) -> Tensor",
         "function",
         [&] {
           if (a.f(1) < 0) throw std::runtime_error("normal expects std >= 0.0, but found std " + std::to_string(a.f(1)));
           Tensor t = randn(to_shape(a.ints(2)), a.dtype(5).value_or(DType::Float32), a.gen(3));
           Tensor r = add(mul(t, scalar_tensor(Scalar(a.f(1)))), scalar_tensor(Scalar(a.f(0))));
           r->requires_grad = a.b(9);
           return r;
         }());

// ---- multinomial: rows of non-negative weights; with or without replacement
Tensor multinomial(const Tensor& w, int64_t n, bool replacement, Generator* g) {
  if (w->dim() < 1 || w->dim() > 2) throw std::runtime_error("prob_dist must be 1 or 2 dim");
  if (!is_floating(w->dtype)) throw std::runtime_error("multinomial only supports floating-point dtypes for input, got: " + std::string(scalar_type_name(w->dtype)));
  if (n <= 0) throw std::runtime_error("cannot sample n_sample <= 0 samples");
  int64_t cats = w->shape.back(), rows = w->dim() == 2 ? w->shape[0] : 1;
  if (!replacement && n > cats) throw std::runtime_error("cannot sample n_sample > prob_dist.size(-1) samples without replacement");
  Tensor p = contiguous(cast_nograd(w, DType::Float64));
  Tensor out = empty(w->dim() == 2 ? Shape{rows, n} : Shape{n}, DType::Int64);
  Generator& r = gen_or_default(g);
  auto l = r.draw("multinomial");
  std::vector<double> row(cats), cdf(cats);
  for (int64_t i = 0; i < rows; ++i) {
    double total = 0;
    for (int64_t c = 0; c < cats; ++c) {
      double v = p->data<double>()[i * cats + c];
      if (!(v >= 0) || std::isinf(v)) throw std::runtime_error("probability tensor contains either `inf`, `nan` or element < 0");
      row[c] = v, total += v;
    }
    if (total <= 0) throw std::runtime_error("invalid multinomial distribution (sum of probabilities <= 0)");
    for (int64_t k = 0; k < n; ++k) {
      double acc = 0;
      for (int64_t c = 0; c < cats; ++c) acc += row[c], cdf[c] = acc;
      double u = r.uniform() * acc;
      int64_t pick = std::min<int64_t>(std::upper_bound(cdf.begin(), cdf.end(), u) - cdf.begin(), cats - 1);
      while (row[pick] == 0) pick = (pick + cats - 1) % cats;  // rounding at a boundary: the nearest category with weight
      out->data<int64_t>()[i * n + k] = pick;
      if (!replacement) row[pick] = 0;
      if (!replacement && k + 1 < n) {
        double rest = 0;
        for (double v : row) rest += v;
        if (rest <= 0) throw std::runtime_error("invalid multinomial distribution (with replacement=False, not enough non-negative category to sample)");
      }
    }
  }
  return out;
}
EMBER_OP("multinomial(Tensor input, int num_samples, bool replacement=False, *, Generator? generator=None, Tensor? out=None) -> Tensor",
         "function method", multinomial(a.t(0), a.i(1), a.b(2), a.gen(3)));

// ---- poisson: counts with rate `input` (Knuth's product method for small rates, normal approximation beyond 1e3)
Tensor poisson(const Tensor& rate, Generator* g) {
  check_float(rate, "poisson");
  Tensor lam = contiguous(cast_nograd(rate, DType::Float64));
  Tensor out = empty(rate->shape, rate->dtype);
  int64_t k = 0;
  const double* lp = lam->data<double>();
  fill_with(out, gen_or_default(g), "poisson", [&](Generator& r) {
    double l = lp[k++];
    if (l < 0 || std::isnan(l)) throw std::runtime_error("invalid Poisson rate, expected rate to be non-negative");
    if (l > 1000) return std::max(0.0, std::round(l + std::sqrt(l) * r.normal()));
    double L = std::exp(-l), p = 1;
    int64_t n = -1;
    do { ++n; p *= r.uniform(); } while (p > L);
    return (double)n;
  });
  if (any_requires_grad({&rate})) set_history(out, make_node<ZeroGradBackward>({&rate}, "PoissonBackward0"));
  return out;
}
EMBER_OP("poisson(Tensor input, Generator? generator=None) -> Tensor", "function", poisson(a.t(0), a.gen(1)));

}  // namespace ember
