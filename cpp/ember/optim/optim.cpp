// The fused optimizer loops. Parameters and state are contiguous float tensors updated in
// place (version bumped); the arithmetic mirrors torch's single-tensor reference implementations.
#include "ember/optim/optim.h"

#include <cmath>
#include <cstring>

#include "ember/kernels/parallel.h"
#include "ember/kernels/simd.h"
#include "ember/ops/ops.h"

namespace ember {

namespace {
// Every argument is checked before any tensor is written, so a failed step changes nothing.
void check(const Tensor& p, const Tensor& g, const char* op) {
  if (!is_floating(p->dtype))
    throw std::runtime_error(std::string(op) + ": parameters must be floating point, got " + dtype_name(p->dtype));
  if (g->shape != p->shape)
    throw std::runtime_error(std::string(op) + ": gradient shape " + shape_str(g->shape) + " does not match parameter shape " +
                             shape_str(p->shape));
}
void check_state(const Tensor& p, const Tensor& s, const char* op, const char* name) {
  if (!s) throw std::runtime_error(std::string(op) + ": state '" + name + "' is missing");
  if (s->shape != p->shape || s->dtype != p->dtype)
    throw std::runtime_error(std::string(op) + ": state '" + name + "' has shape " + shape_str(s->shape) + " and dtype " +
                             dtype_name(s->dtype) + ", but the parameter has shape " + shape_str(p->shape) + " and dtype " +
                             dtype_name(p->dtype));
}
void check_sizes(size_t n, std::initializer_list<size_t> sizes, const char* op) {
  for (size_t k : sizes)
    if (k != n) throw std::runtime_error(std::string(op) + ": expected one state entry per parameter (" + std::to_string(n) +
                                         "), got " + std::to_string(k));
}
Tensor dense(const Tensor& g, DType d) {
  Tensor c = g->dtype == d ? g : cast_nograd(g, d);
  return c->is_contiguous() ? c : contiguous(c);
}
// A tensor updated in place through a contiguous buffer: itself when contiguous, else a copy
// that is written back (a transposed or sliced parameter is updated as torch does). A float16 /
// bfloat16 tensor (Note [Storage dtypes]) is updated in a float32 copy, rounded once on write-back.
// Large tensors' updates are split over the threads (elementwise, so the result is the same).
// All of a step's tensors are updated in one parallel region, each thread taking the same share of
// every tensor (its t-th part, in whole 16-element pieces): the pool is woken once per step, not
// once per tensor, and a stack of per-model parameters (an ensemble's, under vmap) is updated by
// the thread whose backward wrote those models' gradients, while they are in its cache.
constexpr int64_t kSplitMinElems = 64 * 1024;  // per thread
template <class F>
void over_params(const std::vector<int64_t>& sizes, F&& f) {
  int64_t total = 0;
  for (int64_t n : sizes) total += n;
  const int threads = (int)std::min<int64_t>(get_num_threads(), std::max<int64_t>(1, total / kSplitMinElems));
  parallel_run(threads, [&](int t) {
    for (size_t i = 0; i < sizes.size(); ++i) {
      const int64_t n = sizes[i];
      auto cut = [&](int k) { return k == threads ? n : std::min(n, (n * k / threads + 15) / 16 * 16); };
      const int64_t lo = cut(t), hi = cut(t + 1);
      if (lo < hi) f(i, lo, hi);
    }
  });
}
template <class T>
T* at(T* p, int64_t k) {
  return p ? p + k : nullptr;
}

struct InPlace {
  Tensor orig, work;
  explicit InPlace(const Tensor& t)
      : orig(t),
        work(!t ? t : is_storage_only(t->dtype) ? cast_nograd(t, compute_type(t->dtype)) : t->is_contiguous() ? t : contiguous(t)) {}
  template <class T>
  T* data() const { return work ? work->data<T>() : nullptr; }
  void* raw() const { return work ? work->raw() : nullptr; }
  void commit() const {
    if (!orig) return;
    if (work != orig) copy_into(orig, work);
    orig->bump_version();
  }
};
}  // namespace

// One branch-free loop per (weight decay, momentum, nesterov) case. maximize is a sign on the
// gradient; the first step uses a zeroed buffer with momentum 0 and dampening 0, which gives
// torch's buf = d exactly.
template <class T, bool WD, bool MOM, bool NEST>
EMBER_INLINE void sgd_loop(T* __restrict w, const T* __restrict g, T* __restrict b, int64_t n, T lr, T gs, T wd, T m,
                           T c, T mn) {
  for (int64_t k = 0; k < n; ++k) {
    T d = gs * g[k];
    if constexpr (WD) d += wd * w[k];
    if constexpr (MOM) {
      b[k] = m * b[k] + c * d;
      d = NEST ? d + mn * b[k] : b[k];
    }
    w[k] -= lr * d;
  }
}

#define EMBER_SGD_CLONED(T, suffix)                                                                         \
  EMBER_CLONES void sgd_##suffix(int mode, T* w, const T* g, T* b, int64_t n, T lr, T gs, T wd, T m, T c, T mn) { \
    switch (mode) {                                                                                         \
      case 0: sgd_loop<T, false, false, false>(w, g, b, n, lr, gs, wd, m, c, mn); break;                       \
      case 1: sgd_loop<T, true, false, false>(w, g, b, n, lr, gs, wd, m, c, mn); break;                        \
      case 2: sgd_loop<T, false, true, false>(w, g, b, n, lr, gs, wd, m, c, mn); break;                        \
      case 3: sgd_loop<T, true, true, false>(w, g, b, n, lr, gs, wd, m, c, mn); break;                         \
      case 6: sgd_loop<T, false, true, true>(w, g, b, n, lr, gs, wd, m, c, mn); break;                         \
      default: sgd_loop<T, true, true, true>(w, g, b, n, lr, gs, wd, m, c, mn); break;                         \
    }                                                                                                       \
  }
namespace {
EMBER_SGD_CLONED(float, f32)
EMBER_SGD_CLONED(double, f64)
}  // namespace
#undef EMBER_SGD_CLONED

void sgd_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads, std::vector<Tensor>& bufs, double lr,
              double momentum, double dampening, double wd, bool nesterov, bool maximize) {
  const bool mom = momentum != 0;
  const int mode = (wd != 0 ? 1 : 0) | (mom ? 2 : 0) | (mom && nesterov ? 4 : 0);
  check_sizes(params.size(), {grads.size(), bufs.size()}, "SGD");
  for (size_t i = 0; i < params.size(); ++i) {
    if (!grads[i]) continue;
    check(params[i], grads[i], "SGD");
    if (mom && bufs[i]) check_state(params[i], bufs[i], "SGD", "momentum_buffer");
  }
  struct Job {
    InPlace p, b;
    Tensor g;
    double m, c;
  };
  std::vector<Job> jobs;
  std::vector<int64_t> sizes;
  for (size_t i = 0; i < params.size(); ++i) {
    if (!grads[i]) continue;
    InPlace p(params[i]);
    Tensor g = dense(grads[i], p.work->dtype);
    const bool first = mom && !bufs[i];
    if (first) bufs[i] = zeros(p.work->shape, params[i]->dtype);
    InPlace b(mom ? bufs[i] : Tensor());
    sizes.push_back(p.work->numel());
    jobs.push_back(Job{std::move(p), std::move(b), std::move(g), first ? 0.0 : momentum, first ? 1.0 : 1.0 - dampening});
  }
  over_params(sizes, [&](size_t i, int64_t lo, int64_t hi) {
    const Job& j = jobs[i];
    if (j.p.work->dtype == DType::Float32)
      sgd_f32(mode, at(j.p.data<float>(), lo), at(j.g->data<float>(), lo), at(j.b.data<float>(), lo), hi - lo, (float)lr,
              maximize ? -1.f : 1.f, (float)wd, (float)j.m, (float)j.c, (float)momentum);
    else
      sgd_f64(mode, at(j.p.data<double>(), lo), at(j.g->data<double>(), lo), at(j.b.data<double>(), lo), hi - lo, lr,
              maximize ? -1.0 : 1.0, wd, j.m, j.c, momentum);
  });
  for (const Job& j : jobs) {
    j.p.commit();
    j.b.commit();
  }
}

// Adam / AdamW: one branch-free loop per (weight decay mode, amsgrad) case; maximize is a sign.
// WD: 0 none, 1 L2 (Adam), 2 decoupled (AdamW).
template <class T, int WD, bool AMS>
EMBER_INLINE void adam_loop(T* __restrict w, const T* __restrict g, T* __restrict a, T* __restrict v, T* __restrict vm,
                            int64_t n, T gs, T wd, T decay, T b1, T b2, T eps, T ss, T bs) {
  for (int64_t k = 0; k < n; ++k) {
    T d = gs * g[k];
    if constexpr (WD == 1) d += wd * w[k];
    if constexpr (WD == 2) w[k] *= decay;
    a[k] += (d - a[k]) * (1 - b1);  // lerp, as torch
    v[k] = b2 * v[k] + (1 - b2) * d * d;
    T den;
    if constexpr (AMS) {
      vm[k] = vm[k] > v[k] ? vm[k] : v[k];
      den = std::sqrt(vm[k]) / bs + eps;
    } else {
      den = std::sqrt(v[k]) / bs + eps;
    }
    w[k] -= ss * a[k] / den;
  }
}

#define EMBER_ADAM_CLONED(T, suffix)                                                                          \
  EMBER_CLONES void adam_##suffix(int mode, T* w, const T* g, T* a, T* v, T* vm, int64_t n, T gs, T wd, T decay, \
                                  T b1, T b2, T eps, T ss, T bs) {                                            \
    switch (mode) {                                                                                           \
      case 0: adam_loop<T, 0, false>(w, g, a, v, vm, n, gs, wd, decay, b1, b2, eps, ss, bs); break;           \
      case 1: adam_loop<T, 1, false>(w, g, a, v, vm, n, gs, wd, decay, b1, b2, eps, ss, bs); break;           \
      case 2: adam_loop<T, 2, false>(w, g, a, v, vm, n, gs, wd, decay, b1, b2, eps, ss, bs); break;           \
      case 3: adam_loop<T, 0, true>(w, g, a, v, vm, n, gs, wd, decay, b1, b2, eps, ss, bs); break;            \
      case 4: adam_loop<T, 1, true>(w, g, a, v, vm, n, gs, wd, decay, b1, b2, eps, ss, bs); break;            \
      default: adam_loop<T, 2, true>(w, g, a, v, vm, n, gs, wd, decay, b1, b2, eps, ss, bs); break;           \
    }                                                                                                         \
  }
namespace {
EMBER_ADAM_CLONED(float, f32)
EMBER_ADAM_CLONED(double, f64)
}  // namespace
#undef EMBER_ADAM_CLONED

void adam_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads, const std::vector<Tensor>& m1,
               const std::vector<Tensor>& m2, const std::vector<Tensor>& mmax, const std::vector<double>& steps, double lr,
               double beta1, double beta2, double eps, double wd, bool amsgrad, bool maximize, bool decoupled) {
  const int mode = (wd == 0 ? 0 : decoupled ? 2 : 1) + (amsgrad ? 3 : 0);
  const char* op = decoupled ? "AdamW" : "Adam";
  check_sizes(params.size(), {grads.size(), m1.size(), m2.size(), mmax.size(), steps.size()}, op);
  for (size_t i = 0; i < params.size(); ++i) {
    if (!grads[i]) continue;
    check(params[i], grads[i], op);
    check_state(params[i], m1[i], op, "exp_avg");
    check_state(params[i], m2[i], op, "exp_avg_sq");
    if (amsgrad) check_state(params[i], mmax[i], op, "max_exp_avg_sq");
  }
  struct Job {
    InPlace p, a, v, vm;
    Tensor g;
    double ss, bs;
  };
  std::vector<Job> jobs;
  std::vector<int64_t> sizes;
  for (size_t i = 0; i < params.size(); ++i) {
    if (!grads[i]) continue;
    InPlace p(params[i]), a(m1[i]), v(m2[i]), vm(amsgrad ? mmax[i] : Tensor());
    Tensor g = dense(grads[i], p.work->dtype);
    const double step = steps[i];
    const double bc1 = 1 - std::pow(beta1, step), bc2 = 1 - std::pow(beta2, step);
    sizes.push_back(p.work->numel());
    jobs.push_back(Job{std::move(p), std::move(a), std::move(v), std::move(vm), std::move(g), lr / bc1, std::sqrt(bc2)});
  }
  const double decay = 1 - lr * wd, gs = maximize ? -1.0 : 1.0;
  over_params(sizes, [&](size_t i, int64_t lo, int64_t hi) {
    const Job& j = jobs[i];
    if (j.p.work->dtype == DType::Float32)
      adam_f32(mode, at(j.p.data<float>(), lo), at(j.g->data<float>(), lo), at(j.a.data<float>(), lo),
               at(j.v.data<float>(), lo), at(j.vm.data<float>(), lo), hi - lo, (float)gs, (float)wd, (float)decay,
               (float)beta1, (float)beta2, (float)eps, (float)j.ss, (float)j.bs);
    else
      adam_f64(mode, at(j.p.data<double>(), lo), at(j.g->data<double>(), lo), at(j.a.data<double>(), lo),
               at(j.v.data<double>(), lo), at(j.vm.data<double>(), lo), hi - lo, gs, wd, decay, beta1, beta2, eps, j.ss,
               j.bs);
  });
  for (const Job& j : jobs)
    for (const InPlace* t : {&j.p, &j.a, &j.v, &j.vm}) t->commit();
}

void rmsprop_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads, const std::vector<Tensor>& sq,
                  std::vector<Tensor>& mom, const std::vector<Tensor>& gavg, double lr, double alpha, double eps, double wd,
                  double momentum, bool centered, bool maximize) {
  check_sizes(params.size(), {grads.size(), sq.size(), mom.size(), gavg.size()}, "RMSprop");
  for (size_t i = 0; i < params.size(); ++i) {
    if (!grads[i]) continue;
    check(params[i], grads[i], "RMSprop");
    check_state(params[i], sq[i], "RMSprop", "square_avg");
    if (momentum > 0) check_state(params[i], mom[i], "RMSprop", "momentum_buffer");
    if (centered) check_state(params[i], gavg[i], "RMSprop", "grad_avg");
  }
  for (size_t i = 0; i < params.size(); ++i) {
    if (!grads[i]) continue;
    InPlace p(params[i]), sa(sq[i]), mb(momentum > 0 ? mom[i] : Tensor()), ga_(centered ? gavg[i] : Tensor());
    Tensor g = dense(grads[i], p.work->dtype);
    int64_t n = p.work->numel();
    EMBER_DISPATCH_FLOAT(p.work->dtype, "RMSprop", T, {
      T* w = p.data<T>();
      const T* gp = g->data<T>();
      T* s = sa.data<T>();
      T* b = mb.data<T>();
      T* ga = ga_.data<T>();
      const T ta = (T)alpha, te = (T)eps, tl = (T)lr, tm = (T)momentum, twd = (T)wd;
      for (int64_t k = 0; k < n; ++k) {
        T d = maximize ? -gp[k] : gp[k];
        if (wd != 0) d += twd * w[k];
        s[k] = ta * s[k] + (1 - ta) * d * d;
        T avg;
        if (ga) {
          ga[k] += (d - ga[k]) * (1 - ta);
          avg = std::sqrt(s[k] - ga[k] * ga[k]) + te;
        } else {
          avg = std::sqrt(s[k]) + te;
        }
        if (b) {
          b[k] = tm * b[k] + d / avg;
          w[k] -= tl * b[k];
        } else {
          w[k] -= tl * d / avg;
        }
      }
    });
    for (auto* t : {&p, &sa, &mb, &ga_}) t->commit();
  }
}

void adagrad_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads, const std::vector<Tensor>& ssum,
                  const std::vector<double>& steps, double lr, double lr_decay, double wd, double eps, bool maximize) {
  check_sizes(params.size(), {grads.size(), ssum.size(), steps.size()}, "Adagrad");
  for (size_t i = 0; i < params.size(); ++i) {
    if (!grads[i]) continue;
    check(params[i], grads[i], "Adagrad");
    check_state(params[i], ssum[i], "Adagrad", "sum");
  }
  for (size_t i = 0; i < params.size(); ++i) {
    if (!grads[i]) continue;
    InPlace p(params[i]), sm(ssum[i]);
    Tensor g = dense(grads[i], p.work->dtype);
    int64_t n = p.work->numel();
    double clr = lr / (1 + (steps[i] - 1) * lr_decay);
    EMBER_DISPATCH_FLOAT(p.work->dtype, "Adagrad", T, {
      T* w = p.data<T>();
      const T* gp = g->data<T>();
      T* s = sm.data<T>();
      const T tc = (T)clr, te = (T)eps, twd = (T)wd;
      for (int64_t k = 0; k < n; ++k) {
        T d = maximize ? -gp[k] : gp[k];
        if (wd != 0) d += twd * w[k];
        s[k] += d * d;
        w[k] -= tc * d / (std::sqrt(s[k]) + te);
      }
    });
    p.commit();
    sm.commit();
  }
}

void zero_grads(const std::vector<Tensor>& params, bool set_to_none) {
  for (auto& p : params) {
    if (!p->grad) continue;
    if (set_to_none) {
      p->grad.reset();
    } else {
      Tensor& g = p->grad;
      g->grad_fn.reset();
      g->requires_grad = false;
      if (g->is_contiguous()) std::memset(g->raw(), 0, (size_t)g->numel() * itemsize(g->dtype));
      else copy_into(g, zeros({}, g->dtype));
      g->bump_version();
    }
  }
}

}  // namespace ember
