// The op table's storage (see registry.h). Filled by the EMBER_OP registrations of every ops file
// during static initialisation, read once by the bindings at import.
#include "ember/ops/registry.h"

#include <cstring>

#include "ember/autograd/node.h"
#include "ember/ops/ops.h"

namespace ember {

std::vector<OpDef>& op_table() {
  static std::vector<OpDef>* table = new std::vector<OpDef>();  // never destroyed: read at exit-free times
  return *table;
}

// ---------------------------------------------------------------- Note [Storage dtypes]
namespace {
bool has_token(const char* variants, const char* tok) {
  size_t n = std::strlen(tok);
  for (const char* p = std::strstr(variants, tok); p; p = std::strstr(p + 1, tok))
    if ((p == variants || p[-1] == ' ' || p[-1] == ',') && (p[n] == 0 || p[n] == ' ' || p[n] == ','))
      return true;
  return false;
}
// Parameters that hold positions, not values: they never decide the result dtype.
bool is_index_param(const std::string& name) {
  static const char* names[] = {"index", "indices", "target", "boundaries", "mask", "condition",
                                "sorted_sequence", "sorter", "weights", "generator"};
  for (const char* n : names)
    if (name == n) return true;
  return false;
}

// torch's result_type over several operands: dimensioned tensors first, then 0-d tensors, then
// wrapped Python numbers; a lower tier only lifts the category.
DType result_type_of(const std::vector<const TensorImpl*>& ts) {
  int best_tier = -1;
  DType d[3];
  bool have[3] = {false, false, false};
  for (const TensorImpl* t : ts) {
    int tier = t->wrapped_number ? 0 : (t->dim() == 0 ? 1 : 2);
    d[tier] = have[tier] ? promote(d[tier], t->dtype) : t->dtype;
    have[tier] = true;
    best_tier = std::max(best_tier, tier);
  }
  DType r = d[best_tier];
  for (int tier = best_tier - 1; tier >= 0; --tier) {
    if (!have[tier] || category(d[tier]) <= category(r)) continue;
    r = tier == 0 ? (category(d[tier]) == 2 ? DType::Float32 : DType::Int64) : d[tier];
  }
  return r;
}
}  // namespace

bool any_storage(std::initializer_list<const Tensor*> ts) {
  for (const Tensor* t : ts)
    if (*t && is_storage_only((*t)->dtype)) return true;
  return false;
}
Tensor to_compute(const Tensor& t) { return t && is_storage_only(t->dtype) ? to_dtype(t, compute_type(t->dtype)) : t; }
Tensor from_compute(const Tensor& r, std::initializer_list<const Tensor*> values) {
  std::vector<const TensorImpl*> ops;
  for (const Tensor* t : values)
    if (*t) ops.push_back(t->get());
  DType target = result_type_of(ops);
  return is_storage_only(target) && r->dtype == compute_type(target) ? to_dtype(r, target) : r;
}

DTypePolicy make_dtype_policy(const char* schema, const char* variants, const std::vector<ParamInfo>& params,
                              const std::vector<std::string>& result_names) {
  DTypePolicy p;
  p.native = has_token(variants, "any_dtype");
  p.int64_result = has_token(variants, "int64_result");
  for (size_t q = 0; q < params.size() && q < 32; ++q) {
    const ParamInfo& x = params[q];
    if ((x.kind == ParamInfo::Tensor_ || x.kind == ParamInfo::Tensors) && x.name != "out" && !is_index_param(x.name))
      p.promoting |= 1u << q;
    if (x.kind == ParamInfo::DType_ && x.name == "dtype") p.dtype_param = (int)q;
    if (x.kind == ParamInfo::Tensor_ && (x.name == "index" || x.name == "indices")) p.index_params |= 1u << q;
  }
  for (size_t k = 0; k < result_names.size() && k < 32; ++k)
    if (result_names[k] == "indices") p.index_results |= 1u << k;
  // A schema returning one Tensor whose impl may return more (unique's inverse and counts): the
  // extra results are indices.
  std::string sc = schema;
  std::string name = sc.substr(0, sc.find_first_of(".("));
  p.writes_self = !name.empty() && name.back() == '_';
  p.no_half = has_token(variants, "no_half");
  p.name = name;
  if (sc.size() >= 9 && sc.compare(sc.size() - 9, 9, "-> Tensor") == 0) p.index_results = ~1u;
  return p;
}

Value apply_dtype_policy(OpFn fn, const DTypePolicy& p, Args& A) {
  if (p.no_half)
    for (int q = 0; q < A.n; ++q)
      if (A.a[q].kind == Arg::Tensor_ && A.a[q].t && itemsize(A.a[q].t->dtype) == 2 && is_floating(A.a[q].t->dtype))
        throw std::runtime_error("\"" + p.name + "\" not implemented for '" + scalar_type_name(A.a[q].t->dtype) + "'");
  // The dtype torch's op would return: the dtype= argument when given, else the operands' result type.
  DType target;
  if (p.dtype_param >= 0 && p.dtype_param < A.n && A.a[p.dtype_param].kind == Arg::DType_) {
    target = A.a[p.dtype_param].dt;
    A.a[p.dtype_param].dt = compute_type(target);
  } else {
    std::vector<const TensorImpl*> ops;
    for (int q = 0; q < A.n && q < 32; ++q) {
      if (!(p.promoting >> q & 1u)) continue;
      if (A.a[q].kind == Arg::Tensor_ && A.a[q].t) ops.push_back(A.a[q].t.get());
      if (A.a[q].kind == Arg::Tensors)
        for (auto& t : A.a[q].ts) ops.push_back(t.get());
    }
    if (ops.empty())
      for (int q = 0; q < A.n; ++q)
        if (A.a[q].kind == Arg::Tensor_ && A.a[q].t) ops.push_back(A.a[q].t.get());
    target = ops.empty() ? DType::Float32 : result_type_of(ops);
  }
  Tensor self;  // an in-place op's self, written back after the op ran on its compute-dtype copy
  if (p.writes_self && A.n > 0 && A.a[0].kind == Arg::Tensor_ && is_storage_only(A.a[0].t->dtype)) {
    self = A.a[0].t;
    if (self->requires_grad && self->is_leaf() && GradMode::is_enabled())
      throw std::runtime_error("a leaf Variable that requires grad is being used in an in-place operation.");
    A.a[0].t = cast_nograd(self, compute_type(self->dtype));
  }
  for (int q = 0; q < A.n; ++q) {
    Arg& x = A.a[q];
    // torch casts a Python number to the result dtype first (1000 >> int8 tensor shifts int8(1000))
    if (x.kind == Arg::Tensor_ && x.t && x.t->wrapped_number && is_storage_only(target) &&
        category(x.t->dtype) <= category(target)) {
      x.t = cast_nograd(cast_nograd(x.t, target), compute_type(target));
      x.t->wrapped_number = true;
    }
    // torch indexes with int64 or int32 only
    if (x.kind == Arg::Tensor_ && x.t && (p.index_params >> q & 1u) && category(x.t->dtype) == 1 &&
        itemsize(x.t->dtype) < 4)
      throw std::runtime_error(p.name + "(): Expected dtype int32/int64 for index");
    if (x.kind == Arg::Tensor_) x.t = to_compute(x.t);
    if (x.kind == Arg::Tensors)
      for (auto& t : x.ts) t = to_compute(t);
  }
  Value v = fn(A);
  if (self) {
    copy_into(self, A.a[0].t);
    self->bump_version();
    return Value(self);
  }
  if (!is_storage_only(target)) return v;
  const DType c = compute_type(target);
  const bool keep_ints = p.int64_result && category(target) == 1;
  auto back = [&](Tensor& t, size_t k) {
    if (t && t->dtype == c && !keep_ints && !(p.index_results >> k & 1u)) t = to_dtype(t, target);
  };
  if (v.kind == Value::Tensor_) back(v.t, 0);
  if (v.kind == Value::Tensors)
    for (size_t k = 0; k < v.ts.size(); ++k) back(v.ts[k], k);
  return v;
}

}  // namespace ember
