// The op table: every public op is declared once, next to its forward and backward, with
// EMBER_OP(schema, variants, impl). The bindings walk this table at import and derive from it
// ember.X, Tensor.X, Tensor.X_, out=, the operator dunders and the keyword parser; tests, docs
// and stubs read it through ember._C._op_table(). No Python here: impls see converted Args.
#pragma once
#include <functional>
#include <new>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ember/core/tensor.h"

namespace ember {

constexpr int kMaxOpArgs = 16;

// One argument of a call, converted by the bindings according to the schema's type.
struct Arg {
  enum Kind : uint8_t { None, Tensor_, Scalar_, Ints, DType_, Str, Tensors } kind = None;
  Tensor t;
  Scalar s;  // Scalar, int, float and bool parameters
  std::vector<int64_t> ints;
  DType dt = DType::Float32;
  const char* str = nullptr;  // borrowed for the duration of the call
  std::vector<Tensor> ts;
  struct Generator* gen = nullptr;  // borrowed for the duration of the call; null = default
};

// The arguments of one call in schema order (a method's self is position 0). Only the n slots a
// call uses are constructed (zeroing all kMaxOpArgs slots showed in the per-call cost).
struct Args {
  Arg* a;
  int n = 0;
  Args() : a(reinterpret_cast<Arg*>(storage_)) {}
  ~Args() { reset(0); }
  Args(const Args&) = delete;
  Args& operator=(const Args&) = delete;
  void reset(int m) {  // destroys the slots in use, constructs m empty ones
    for (int k = 0; k < n; ++k) a[k].~Arg();
    for (int k = 0; k < m; ++k) new (&a[k]) Arg();
    n = m;
  }
  bool none(int i) const { return a[i].kind == Arg::None; }
  const Tensor& t(int i) const { return a[i].t; }  // null for an absent optional Tensor
  const Scalar& s(int i) const { return a[i].s; }
  std::optional<Scalar> os(int i) const { return none(i) ? std::nullopt : std::optional<Scalar>(a[i].s); }
  int64_t i(int k) const { return a[k].s.i; }
  std::optional<int64_t> oi(int k) const { return none(k) ? std::nullopt : std::optional<int64_t>(a[k].s.i); }
  double f(int k) const { return a[k].s.f; }
  std::optional<double> of(int k) const { return none(k) ? std::nullopt : std::optional<double>(a[k].s.f); }
  bool b(int k) const { return a[k].s.i != 0; }
  const std::vector<int64_t>& ints(int k) const { return a[k].ints; }  // empty for None
  std::optional<DType> dtype(int k) const { return none(k) ? std::nullopt : std::optional<DType>(a[k].dt); }
  std::string str(int k) const { return a[k].str ? a[k].str : ""; }
  const std::vector<Tensor>& tensors(int k) const { return a[k].ts; }
  struct Generator* gen(int k) const { return a[k].gen; }

 private:
  alignas(Arg) unsigned char storage_[kMaxOpArgs * sizeof(Arg)];
};

// What an op returns: a Tensor, a tuple of Tensors (a namedtuple when the schema names the
// fields), or a Python number / bool / None.
struct Value {
  enum Kind : uint8_t { Tensor_, Tensors, Number, None } kind = None;
  Tensor t;
  std::vector<Tensor> ts;
  Scalar s;
  Value() = default;
  Value(Tensor x) : kind(Tensor_), t(std::move(x)) {}
  Value(std::vector<Tensor> x) : kind(Tensors), ts(std::move(x)) {}
  Value(std::pair<Tensor, Tensor> p) : kind(Tensors), ts{std::move(p.first), std::move(p.second)} {}
  Value(bool b) : kind(Number), s(Scalar::from_bool(b)) {}
  Value(Scalar x) : kind(Number), s(x) {}
  static Value none() { return Value(); }
};

using OpFn = Value (*)(const Args&);

// One declaration. `schema` is torch's Python signature with torch's parameter names, e.g.
//   "add(Tensor input, Tensor other, *, Scalar alpha=1, Tensor? out=None) -> Tensor"
// (an overload is written "max.dim(...)"; `Tensor?`, `int[]`, `int[1]?`, `ScalarType?`, `str`,
// `Tensor[]`, `Generator?`, `Device?` are the types). `variants` lists what the bindings make of
// it: "function", "method", "inplace" (Tensor.X_), and dunders such as "__add__ __radd__ __iadd__".
struct OpDef {
  const char* schema;
  const char* variants;
  OpFn fn;
  const char* file;
};

std::vector<OpDef>& op_table();

struct OpRegistrar {
  OpRegistrar(const char* schema, const char* variants, OpFn fn, const char* file) {
    op_table().push_back({schema, variants, fn, file});
  }
};

#define EMBER_OP_CAT2(a, b) a##b
#define EMBER_OP_CAT(a, b) EMBER_OP_CAT2(a, b)
// EMBER_OP("add(Tensor input, Tensor other, *, Scalar alpha=1) -> Tensor", "function method",
//          add(a.t(0), a.t(1), a.s(2)))  -- the impl is an expression over `a` (the Args).
#define EMBER_OP(schema, variants, ...)                                                              \
  static ::ember::OpRegistrar EMBER_OP_CAT(ember_op_, __LINE__)(                                     \
      schema, variants, [](const ::ember::Args& a) -> ::ember::Value { return __VA_ARGS__; }, __FILE__)

// Note [Storage dtypes] at the op level: how an op treats uint8/int8/int16/int32/float16/bfloat16
// tensors. Derived once per declaration from its schema (make_dtype_policy) and applied around
// every call (call_op): storage-dtype tensors are cast (differentiably) to their compute dtype,
// the op runs, and its results in that compute dtype are cast back to the dtype torch gives.
struct DTypePolicy {
  uint32_t promoting = 0;     // bit q: tensor parameter q takes part in the result dtype
  int dtype_param = -1;       // the `ScalarType? dtype` parameter, which decides when given
  uint32_t index_results = 0; // bit k: result k holds indices (int64 whatever the input)
  uint32_t index_params = 0;  // bit q: parameter q is an index tensor (int64 or int32, as torch)
  bool int64_result = false;  // variant "int64_result": integer results are int64 (sum, argmax, ...)
  bool native = false;        // variant "any_dtype": the op handles every dtype itself (views, copies)
  bool writes_self = false;   // an in-place op by name ("uniform_"): the result is written back into self
  bool no_half = false;       // variant "no_half": float16/bfloat16 refused, as torch has no such kernel (LAPACK)
  std::string name;
};
struct ParamInfo {
  std::string name;
  enum Kind : uint8_t { Tensor_, Tensors, DType_, Other } kind;
};
DTypePolicy make_dtype_policy(const char* schema, const char* variants, const std::vector<ParamInfo>& params,
                              const std::vector<std::string>& result_names);
Value apply_dtype_policy(OpFn fn, const DTypePolicy& p, Args& A);

inline bool has_storage_dtype(const DTypePolicy& p, const Args& A) {
  for (int q = 0; q < A.n; ++q) {
    const Arg& x = A.a[q];
    if (x.kind == Arg::Tensor_) {
      if (x.t && is_storage_only(x.t->dtype)) return true;
    } else if (x.kind == Arg::Tensors) {
      for (auto& t : x.ts)
        if (is_storage_only(t->dtype)) return true;
    } else if (x.kind == Arg::DType_ && q == p.dtype_param && is_storage_only(x.dt)) {
      return true;
    }
  }
  return false;
}
// The same for the fused ops bound outside the table (nn.cpp): `if (any_storage({&x, &w}))
// return from_compute(op(to_compute(x), to_compute(w)), {&x, &w});` -- operands with a storage
// dtype are cast to their compute dtype, the result back to the operands' promoted dtype.
bool any_storage(std::initializer_list<const Tensor*> ts);
Tensor to_compute(const Tensor& t);  // null stays null
Tensor from_compute(const Tensor& r, std::initializer_list<const Tensor*> values);

// Every call of a table op goes through here.
inline Value call_op(OpFn fn, const DTypePolicy& p, Args& A) {
  if (p.native || !has_storage_dtype(p, A)) return fn(A);
  return apply_dtype_policy(fn, p, A);
}

// Generic in-place form of an out-of-place op (Note [In-place autograd] in inplace.cpp): checks
// self, computes op on self (or a clone of it when tracking history), casts the result back into
// self, bumps its version and moves the history onto self. `others_need_grad`: any other
// tensor argument requires grad.
Tensor& inplace_apply(Tensor& self, bool others_need_grad, const char* name,
                      const std::function<Tensor(const Tensor&)>& op);

// Gives a view's root the history of a write of `value` through the view (Note [CopySlices]).
void rebase_view_history(const Tensor& view, const Tensor& value);

// Writes an op's result into the out= tensor of a call: resized (to fresh storage) when its shape
// differs, the result cast to out's dtype when torch allows it; bumps out's version.
void write_out(const Tensor& out, const Tensor& result, const char* name);

}  // namespace ember
