// Unary elementwise ops, each followed by its backward node. Integer inputs compute in float32,
// as torch's floating unary ops do; neg/abs/relu/clamp/sign keep the input dtype.
#include <cmath>

#include "ember/autograd/node.h"
#include "ember/ops/elementwise.h"

namespace ember {

namespace {
// Keeps dtype (neg, abs, relu, clamp, sign): works on int64 too.
template <class Fn>
Tensor map_same(const Tensor& a, const char* name, Fn f) {
  Tensor out = empty(a->shape, a->dtype);
  EMBER_DISPATCH_NUMERIC(a->dtype, name, T, unary_kernel<T, T>(out, a, [&](T v) { return (T)f(v); }));
  return out;
}

// Node for y = f(x) whose backward needs x (input) or y (output).
struct UnaryBackward : Node {
  SavedTensor saved;
};
}  // namespace

// ---- neg
struct NegBackward : Node {
  std::vector<Tensor> apply(std::vector<Tensor>& g) override { return {neg(g[0])}; }
  std::string name() const override { return "NegBackward0"; }
};
Tensor neg(const Tensor& a) {
  if (a->dtype == DType::Bool)
    throw std::runtime_error("Negation, the `-` operator, on a bool tensor is not supported. If you are trying to invert a mask, use the `~` or `logical_not()` operator instead.");
  Tensor out = map_same(a, "neg", [](auto v) { return wrap_neg(v); });
  if (any_requires_grad({&a})) set_history(out, make_node<NegBackward>({&a}));
  return out;
}

// ---- abs
struct AbsBackward : UnaryBackward {
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    Tensor x = saved.get(*this);
    return {map2(g[0], x, g[0]->dtype, "abs_backward", [](auto gv, auto xv) { return xv > 0 ? gv : (xv < 0 ? -gv : 0 * gv); })};
  }
  std::string name() const override { return "AbsBackward0"; }
  void release_saved() override { saved.reset(); }
};
Tensor abs(const Tensor& a) {
  if (a->dtype == DType::Bool) return clone(a);
  Tensor out = map_same(a, "abs", [](auto v) { return v < 0 ? wrap_neg(v) : v; });
  if (any_requires_grad({&a})) {
    auto n = make_node<AbsBackward>({&a});
    n->saved.save(a);
    set_history(out, n);
  }
  return out;
}

// ---- sign (gradient is zero everywhere it exists)
struct SignBackward : Node {
  std::vector<Tensor> apply(std::vector<Tensor>& g) override { return {zeros(g[0]->shape, g[0]->dtype)}; }
  std::string name() const override { return "SignBackward0"; }
};
Tensor sign(const Tensor& a) {
  if (a->dtype == DType::Bool) return clone(a);
  Tensor out = map_same(a, "sign", [](auto v) { return (decltype(v))((v > 0) - (v < 0)); });
  if (any_requires_grad({&a})) set_history(out, make_node<SignBackward>({&a}));
  return out;
}

// One exp of a non-positive argument: no overflow for large |x|, and a select instead of a branch.
template <class T>
inline T sigmoid_scalar(T x) {
  T e = std::exp(-std::abs(x));
  T r = T(1) / (T(1) + e);
  return x >= 0 ? r : e * r;
}

// ---- float functions of one argument. SAVE_OUT: backward uses y; otherwise x.
#define EMBER_UNARY_FLOAT(op, Name, SAVE_OUT, fwd, bwd)                                                  \
  struct Name : UnaryBackward {                                                                        \
    std::vector<Tensor> apply(std::vector<Tensor>& g) override {                                       \
      Tensor s = saved.get(*this);                                                                     \
      return {map2(g[0], s, g[0]->dtype, #op "_backward", [](auto gv, auto v) { return bwd; })};       \
    }                                                                                                  \
    std::string name() const override { return #Name "0"; }                                            \
    void release_saved() override { saved.reset(); }                                                   \
  };                                                                                                   \
  Tensor op(const Tensor& a) {                                                                         \
    Tensor out = map1(a, to_floating(a->dtype), #op, [](auto x) { return fwd; });                      \
    if (any_requires_grad({&a})) {                                                                     \
      auto n = make_node<Name>({&a});                                                                  \
      n->saved.save(SAVE_OUT ? out : a, SAVE_OUT);                                                     \
      set_history(out, n);                                                                             \
    }                                                                                                  \
    return out;                                                                                        \
  }

EMBER_UNARY_FLOAT(exp, ExpBackward, true, std::exp(x), gv * v)
EMBER_UNARY_FLOAT(log, LogBackward, false, std::log(x), gv / v)
EMBER_UNARY_FLOAT(sqrt, SqrtBackward, true, std::sqrt(x), gv / (2 * v))
EMBER_UNARY_FLOAT(sin, SinBackward, false, std::sin(x), gv * std::cos(v))
EMBER_UNARY_FLOAT(cos, CosBackward, false, std::cos(x), -gv * std::sin(v))
EMBER_UNARY_FLOAT(tanh, TanhBackward, true, std::tanh(x), gv * (1 - v * v))
// Stable for large |x|: exp of a non-positive argument only.
EMBER_UNARY_FLOAT(sigmoid, SigmoidBackward, true, sigmoid_scalar(x), gv * v * (1 - v))
EMBER_UNARY_FLOAT(erf, ErfBackward, false, std::erf(x), gv * 1.1283791670955126 * std::exp(-v * v))
#undef EMBER_UNARY_FLOAT

// ---- relu
struct ReluBackward : UnaryBackward {
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    Tensor y = saved.get(*this);
    return {map2(g[0], y, g[0]->dtype, "relu_backward", [](auto gv, auto v) { return v <= 0 ? decltype(gv)(0) : gv; })};
  }
  std::string name() const override { return "ReluBackward0"; }
  void release_saved() override { saved.reset(); }
};
Tensor relu(const Tensor& a) {
  if (a->dtype == DType::Bool) throw TypeError("relu: not implemented for dtype bool");
  // (v < 0 ? 0 : v) keeps NaN and compiles to a branch-free vector select.
  Tensor out = map_same(a, "relu", [](auto v) { return v < 0 ? decltype(v)(0) : v; });
  if (any_requires_grad({&a})) {
    auto n = make_node<ReluBackward>({&a});
    n->saved.save(out, true);
    set_history(out, n);
  }
  return out;
}

// ---- clamp: gradient passes where lo <= x <= hi
struct ClampBackward : UnaryBackward {
  double lo, hi;
  ClampBackward(double l, double h) : lo(l), hi(h) {}
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    Tensor x = saved.get(*this);
    double l = lo, h = hi;
    return {map2(g[0], x, g[0]->dtype, "clamp_backward",
                 [l, h](auto gv, auto v) { return (v >= l && v <= h) ? gv : 0 * gv; })};
  }
  std::string name() const override { return "ClampBackward1"; }
  void release_saved() override { saved.reset(); }
};
Tensor clamp(const Tensor& a, std::optional<Scalar> lo, std::optional<Scalar> hi) {
  if (!lo && !hi) throw std::runtime_error("torch.clamp: At least one of 'min' or 'max' must not be None");
  DType d = a->dtype;
  if ((lo && lo->kind == Scalar::Float) || (hi && hi->kind == Scalar::Float)) d = to_floating(d);
  Tensor x = a->dtype == d ? a : cast_nograd(a, d);
  double l = lo ? lo->f : -INFINITY, h = hi ? hi->f : INFINITY;
  Tensor out = empty(x->shape, d);
  EMBER_DISPATCH_NUMERIC(d, "clamp", T, {
    unary_kernel<T, T>(out, x, [&](T v) {
      if (std::isnan((double)v)) return v;
      T r = v;
      if (lo && (double)r < l) r = (T)l;
      if (hi && (double)r > h) r = (T)h;  // max wins when min > max, as torch
      return r;
    });
  });
  if (any_requires_grad({&a})) {
    auto n = make_node<ClampBackward>({&a}, l, h);
    n->saved.save(a);
    set_history(out, n);
  }
  return out;
}

}  // namespace ember
