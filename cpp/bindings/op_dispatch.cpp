// The op table (ember/ops/registry.h) made Python: parses each declaration's schema once at import
// and binds ember.X, Tensor.X, Tensor.X_ and the dunders as METH_FASTCALL functions that share one
// argument parser (torch's names, keyword aliases, scalar wrapping, out=, overloads, errors).
// Argument conversion only; what an op does lives with the op.
#include <array>
#include <cstring>
#include <deque>
#include <unordered_map>

#include "common.h"
#include "ember/capture/capture.h"
#include "ember/core/generator.h"
#include "ember/ops/registry.h"

namespace ember {

namespace {

enum class Ty : uint8_t { Tensor, Scalar, Int, Float, Bool, Ints, DType, Str, Tensors, Generator, Device, Any };

struct Param {
  std::string name;
  PyObject* pyname = nullptr;  // interned
  Ty ty = Ty::Any;
  int list_n = -1;             // int[N]: N (a single int is accepted when N >= 1); -1 not a list
  bool optional = false, kwonly = false, has_default = false;
  bool varargs = false;        // "Tensor[] *tensors": torch's f(*tensors) form is accepted too
  Arg def;
  std::string def_str, def_text;  // str default storage; default as written (for messages)
  std::string type_text;
};

struct Signature {
  bool numbers = false;  // Tensor operands after the first accept Python numbers (variant "numbers")
  std::string name, overload, text;  // text: "(Tensor input, int dim, bool keepdim=False)"
  std::vector<Param> params;
  int out_index = -1;
  std::vector<std::string> ret_names;  // named tuple fields
  bool ret_tuple = false;
  size_t n_ret = 1;                    // results of a tuple-returning op (its out= is a tuple of as many)
  py::object ret_type;                 // namedtuple type (or null)
  py::object ret_type_out;             // the one returned for out=(...): torch's "<name>_out"
  OpFn fn = nullptr;
  DTypePolicy policy;
};

enum class Kind : uint8_t { Function, Method, Inplace, Dunder, RDunder, IDunder, UnaryDunder };

struct Group {
  std::string name;
  std::vector<Signature*> sigs;
};

struct Binding {
  Group* group;
  Kind kind;
  std::string name;    // the in-place op's name for messages ("add_")
  const Signature* dunder_sig = nullptr;  // the overload an operator calls
  PyObject* pyfunc = nullptr;  // the Python function / method descriptor (Note [torch function])
};

std::deque<Signature> g_sigs;
std::deque<Group> g_groups;
std::vector<Binding> g_bindings;
std::deque<PyMethodDef> g_defs;
std::deque<std::string> g_docs;

// ---------------------------------------------------------------- schema parsing
std::string trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t\n"), b = s.find_last_not_of(" \t\n");
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

std::vector<std::string> split_top(const std::string& s) {
  std::vector<std::string> out;
  int depth = 0;
  std::string cur;
  bool quote = false;
  for (char c : s) {
    if (c == '"' || c == '\'') quote = !quote;
    if (!quote && (c == '[' || c == '(')) depth++;
    if (!quote && (c == ']' || c == ')')) depth--;
    if (c == ',' && depth == 0 && !quote) {
      out.push_back(trim(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!trim(cur).empty()) out.push_back(trim(cur));
  return out;
}

[[noreturn]] void schema_error(const std::string& schema, const std::string& why) {
  throw std::logic_error("op table: bad schema '" + schema + "': " + why);
}

Arg parse_default(const Param& p, const std::string& v, const std::string& schema) {
  Arg a;
  if (v == "None") return a;
  switch (p.ty) {
    case Ty::Bool:
      if (v != "True" && v != "False") schema_error(schema, "bool default " + v);
      a.kind = Arg::Scalar_;
      a.s = Scalar::from_bool(v == "True");
      return a;
    case Ty::Int:
      a.kind = Arg::Scalar_;
      a.s = Scalar::from_int(std::stoll(v));
      return a;
    case Ty::Float:
      a.kind = Arg::Scalar_;
      a.s = Scalar(v == "inf" ? INFINITY : v == "-inf" ? -INFINITY : std::stod(v));
      return a;
    case Ty::Scalar:
      a.kind = Arg::Scalar_;
      if (v.find_first_of(".einf") != std::string::npos) a.s = Scalar(std::stod(v));
      else a.s = Scalar::from_int(std::stoll(v));
      return a;
    case Ty::Ints: {
      a.kind = Arg::Ints;
      std::string in = v;
      if (in.front() == '[') in = in.substr(1, in.size() - 2);
      for (auto& e : split_top(in)) a.ints.push_back(std::stoll(e));
      return a;
    }
    case Ty::Str:
      a.kind = Arg::Str;  // pointer set after the Param is in place
      return a;
    default:
      schema_error(schema, "unsupported default " + v);
  }
}

Signature parse_schema(const char* schema) {
  std::string s = schema;
  Signature sig;
  size_t lp = s.find('('), arrow = s.rfind("->");
  size_t rp = s.rfind(')', arrow == std::string::npos ? s.size() : arrow);
  if (lp == std::string::npos || rp == std::string::npos) schema_error(s, "no parameter list");
  std::string full = trim(s.substr(0, lp));
  size_t dot = full.find('.');
  sig.name = full.substr(0, dot);
  if (dot != std::string::npos) sig.overload = full.substr(dot + 1);
  bool kwonly = false;
  for (auto& ptxt : split_top(s.substr(lp + 1, rp - lp - 1))) {
    if (ptxt == "*") { kwonly = true; continue; }
    Param p;
    std::string decl = ptxt, def;
    size_t eq = ptxt.find('=');
    if (eq != std::string::npos) {
      decl = trim(ptxt.substr(0, eq));
      def = trim(ptxt.substr(eq + 1));
      p.has_default = true;
    }
    size_t sp = decl.rfind(' ');
    if (sp == std::string::npos) schema_error(s, "parameter without a type: " + ptxt);
    std::string ty = trim(decl.substr(0, sp));
    p.name = trim(decl.substr(sp + 1));
    if (!p.name.empty() && p.name[0] == '*') { p.varargs = true; p.name = p.name.substr(1); }
    p.type_text = ty;
    if (!ty.empty() && ty.back() == '?') { p.optional = true; ty.pop_back(); }
    size_t lb = ty.find('[');
    bool list = lb != std::string::npos;
    std::string base = list ? ty.substr(0, lb) : ty;
    if (list) {
      std::string n = ty.substr(lb + 1, ty.find(']') - lb - 1);
      p.list_n = n.empty() ? 0 : std::stoi(n);
    }
    if (base == "SymInt") base = "int";
    if (list && base == "int") p.ty = Ty::Ints;
    else if (list && base == "Tensor") p.ty = Ty::Tensors;
    else if (list) schema_error(s, "unsupported list type " + ty);
    else if (base == "Tensor") p.ty = Ty::Tensor;
    else if (base == "Scalar") p.ty = Ty::Scalar;
    else if (base == "int") p.ty = Ty::Int;
    else if (base == "float") p.ty = Ty::Float;
    else if (base == "bool") p.ty = Ty::Bool;
    else if (base == "ScalarType") p.ty = Ty::DType;
    else if (base == "str") p.ty = Ty::Str;
    else if (base == "Generator") p.ty = Ty::Generator;
    else if (base == "Device") p.ty = Ty::Device;
    else if (base == "Layout" || base == "MemoryFormat") p.ty = Ty::Any;
    else schema_error(s, "unknown type " + base);
    p.kwonly = kwonly;
    if (p.has_default) {
      p.def_text = def;
      if (p.ty == Ty::Str && def != "None") p.def_str = def.substr(1, def.size() - 2);
      p.def = parse_default(p, def, s);
    }
    p.pyname = PyUnicode_InternFromString(p.name.c_str());
    if (p.name == "out" && (p.ty == Ty::Tensor || p.ty == Ty::Tensors)) sig.out_index = (int)sig.params.size();
    sig.params.push_back(std::move(p));
  }
  for (auto& p : sig.params)
    if (p.def.kind == Arg::Str) p.def.str = p.def_str.c_str();
  if ((int)sig.params.size() > kMaxOpArgs) schema_error(s, "too many parameters");
  if (arrow != std::string::npos) {
    std::string r = trim(s.substr(arrow + 2));
    if (!r.empty() && r.front() == '(') {
      sig.ret_tuple = true;
      sig.n_ret = split_top(r.substr(1, r.size() - 2)).size();
      if (sig.out_index >= 0 && sig.params[sig.out_index].ty != Ty::Tensors)
        schema_error(s, "an op returning a tuple takes out= as a tuple: declare it `Tensor[]? out=None`");
      for (auto& e : split_top(r.substr(1, r.size() - 2))) {
        size_t sp = e.rfind(' ');
        if (sp != std::string::npos) sig.ret_names.push_back(trim(e.substr(sp + 1)));
      }
    }
  }
  sig.text = s.substr(lp, rp - lp + 1);
  return sig;
}

// ---------------------------------------------------------------- argument conversion
std::string type_name(PyObject* o) {
  PyTypeObject* tp = Py_TYPE(o);
  if (o == Py_None) return "NoneType";
  py::handle t((PyObject*)tp);
  std::string mod = py::str(t.attr("__module__"));
  std::string qn = py::str(t.attr("__qualname__"));
  if (mod == "builtins") return qn;
  if (mod == "ember._C" || mod == "torch") return qn == "TensorImpl" ? "Tensor" : qn;
  return mod + "." + qn;
}

inline bool is_tensor(PyObject* o) {
  static PyTypeObject* tp = (PyTypeObject*)py::detail::get_type_info(typeid(TensorImpl))->type;
  return Py_TYPE(o) == tp || PyType_IsSubtype(Py_TYPE(o), tp);
}
inline Tensor to_tensor(PyObject* o) {
  py::detail::make_caster<Tensor> c;
  c.load(o, true);
  return py::detail::cast_op<Tensor>(c);
}
bool to_scalar(PyObject* o, Scalar& out) {
  py::detail::make_caster<Scalar> c;
  if (c.load(o, true)) {
    out = py::detail::cast_op<Scalar>(c);
    return true;
  }
  if (is_tensor(o)) {  // a one-element tensor stands for its value, as in torch
    Tensor t = to_tensor(o);
    if (t->numel() != 1) return false;
    if (auto* r = capture::Recorder::active()) r->fail("a tensor's value was used as a Python number argument");
    Tensor d = cast_nograd(t, is_floating(t->dtype) ? DType::Float64 : t->dtype == DType::Bool ? DType::Bool : DType::Int64);
    if (d->dtype == DType::Float64) out = Scalar(*d->data<double>());
    else if (d->dtype == DType::Bool) out = Scalar::from_bool(*d->data<bool>());
    else out = Scalar::from_int(*d->data<int64_t>());
    return true;
  }
  return false;
}
bool to_int(PyObject* o, int64_t& out) {
  if (PyBool_Check(o)) return false;
  if (PyLong_Check(o)) {
    int overflow = 0;
    out = PyLong_AsLongLongAndOverflow(o, &overflow);
    return !overflow;
  }
  if (PyFloat_Check(o) || !PyIndex_Check(o)) return false;
  static PyTypeObject* dtype_type = (PyTypeObject*)py::detail::get_type_info(typeid(DType))->type;
  if (Py_TYPE(o) == dtype_type) return false;  // a dtype is not an int (x.view(ember.int16))
  if (is_tensor(o)) {
    Tensor t = to_tensor(o);
    if (t->numel() != 1 || category(t->dtype) != 1) return false;
  }
  PyObject* i = PyNumber_Index(o);
  if (!i) { PyErr_Clear(); return false; }
  out = PyLong_AsLongLong(i);
  Py_DECREF(i);
  return true;
}

struct ConvertCtx {
  const Signature* sig;
  std::string* err;
};

// Converts `o` for parameter `p` (number `pos` in a call, 0 when passed by keyword). False with
// a message in *err when `o` does not fit.
// Overload resolution runs twice: first `strict` (a tensor never stands for an int, float or
// Scalar), then lenient, so x.max(t) picks max.other as torch does while x.view(n_tensor) works.
thread_local bool g_strict = false;

bool convert(const Param& p, int index, PyObject* o, Arg& a, const Signature& sig, int pos, std::string* err) {
  auto fail = [&](const char* want) {
    if (err) {
      *err = sig.name + "(): argument '" + p.name + "'" + (pos ? " (position " + std::to_string(pos) + ")" : "") +
             " must be " + want + ", not " + type_name(o);
    }
    return false;
  };
  if (o == Py_None && (p.optional || (p.has_default && p.def.kind == Arg::None))) {
    a = Arg();
    return true;
  }
  switch (p.ty) {
    case Ty::Tensor:
      if (is_tensor(o)) { a.kind = Arg::Tensor_; a.t = to_tensor(o); return true; }
      if (index > 0 && sig.numbers && p.name != "out") {  // a Python number where a tensor operand belongs
        Scalar s;
        py::detail::make_caster<Scalar> c;
        if (c.load(o, true)) { a.kind = Arg::Tensor_; a.t = scalar_tensor(py::detail::cast_op<Scalar>(c)); return true; }
      }
      return fail("Tensor");
    case Ty::Scalar:
      if (g_strict && is_tensor(o)) return fail("Number");
      if (!to_scalar(o, a.s)) return fail("Number");
      a.kind = Arg::Scalar_;
      return true;
    case Ty::Int: {
      int64_t v;
      if (g_strict && is_tensor(o)) return fail("int");
      if (!to_int(o, v)) return fail("int");
      a.kind = Arg::Scalar_;
      a.s = Scalar::from_int(v);
      return true;
    }
    case Ty::Float: {
      if (PyFloat_Check(o)) { a.kind = Arg::Scalar_; a.s = Scalar(PyFloat_AS_DOUBLE(o)); return true; }
      int64_t v;
      if (to_int(o, v)) { a.kind = Arg::Scalar_; a.s = Scalar((double)v); return true; }
      Scalar s;
      if (!PyBool_Check(o) && !is_tensor(o) && to_scalar(o, s) && s.kind == Scalar::Float) { a.kind = Arg::Scalar_; a.s = s; return true; }
      return fail("float");
    }
    case Ty::Bool: {
      if (PyBool_Check(o)) { a.kind = Arg::Scalar_; a.s = Scalar::from_bool(o == Py_True); return true; }
      Scalar s;
      if (!PyLong_Check(o) && !is_tensor(o) && to_scalar(o, s) && s.kind == Scalar::Bool) { a.kind = Arg::Scalar_; a.s = s; return true; }
      return fail("bool");
    }
    case Ty::Ints: {
      int64_t v;
      if (p.list_n >= 1 && to_int(o, v)) { a.kind = Arg::Ints; a.ints.assign(1, v); return true; }
      if (!PyTuple_Check(o) && !PyList_Check(o)) return fail(p.list_n >= 1 ? "tuple of ints" : "tuple of ints");
      Py_ssize_t n = PySequence_Fast_GET_SIZE(o);
      PyObject** items = PySequence_Fast_ITEMS(o);
      a.ints.resize(n);
      for (Py_ssize_t k = 0; k < n; ++k)
        if (!to_int(items[k], a.ints[k])) {
          if (err) *err = sig.name + "(): argument '" + p.name + "'" + (pos ? " (position " + std::to_string(pos) + ")" : "") +
                          " must be tuple of ints, but found element of type " + type_name(items[k]) + " at pos " + std::to_string(k);
          return false;
        }
      a.kind = Arg::Ints;
      return true;
    }
    case Ty::DType:
      if (!py::isinstance<DType>(o)) return fail("ember.dtype");
      a.kind = Arg::DType_;
      a.dt = py::handle(o).cast<DType>();
      return true;
    case Ty::Str:
      if (!PyUnicode_Check(o)) return fail("str");
      a.kind = Arg::Str;
      a.str = PyUnicode_AsUTF8(o);
      return true;
    case Ty::Tensors: {
      if (!PyTuple_Check(o) && !PyList_Check(o)) return fail("tuple of Tensors");
      Py_ssize_t n = PySequence_Fast_GET_SIZE(o);
      PyObject** items = PySequence_Fast_ITEMS(o);
      a.ts.resize(n);
      for (Py_ssize_t k = 0; k < n; ++k) {
        if (!is_tensor(items[k])) {
          if (err) *err = sig.name + "(): argument '" + p.name + "'" + (pos ? " (position " + std::to_string(pos) + ")" : "") +
                          " must be tuple of Tensors, not " + type_name(items[k]);
          return false;
        }
        a.ts[k] = to_tensor(items[k]);
      }
      a.kind = Arg::Tensors;
      return true;
    }
    case Ty::Device: {
      static py::handle check = py::object(py::module_::import("ember._tensor").attr("_check_device")).release();
      check(py::handle(o));  // raises torch's error for a device ember cannot use
      a = Arg();
      return true;
    }
    case Ty::Generator:
      if (!py::isinstance<Generator>(o)) return fail("torch.Generator");
      a = Arg();
      a.gen = py::handle(o).cast<Generator*>();
      return true;
    case Ty::Any:
      a = Arg();
      return true;
  }
  return false;
}

// Binds a call to one signature. `self` (a method's tensor) fills position 0. False (and *err)
// when the call does not fit this signature.
bool bind(const Signature& sig, PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames, Args& A,
          std::string* err) {
  const int np = (int)sig.params.size();
  A.reset(np);
  uint32_t set = 0;
  int first = 0;
  if (self) {
    if (np == 0 || sig.params[0].ty != Ty::Tensor) { if (err) *err = sig.name + "(): not a method"; return false; }
    A.a[0].kind = Arg::Tensor_;
    A.a[0].t = to_tensor(self);
    set |= 1;
    first = 1;
  }
  int npos = 0;
  for (int k = first; k < np && !sig.params[k].kwonly; ++k) npos++;
  // torch's varargs form: x.view(2, 3), x.permute(1, 0) -- a leading int list may be spread out
  // (not when a list comes first: x.split([1, 2], 1) is the list and then the next parameter).
  bool spread = nargs >= 1 && npos >= 1 && sig.params[first].ty == Ty::Ints && sig.params[first].list_n == 0 &&
                !PyTuple_Check(args[0]) && !PyList_Check(args[0]);
  if (nargs >= 1 && npos >= 1 && sig.params[first].varargs && (nargs > 1 || is_tensor(args[0]))) {
    Arg& a = A.a[first];
    a.kind = Arg::Tensors;
    a.ts.resize(nargs);
    for (Py_ssize_t k = 0; k < nargs; ++k) {
      if (!is_tensor(args[k])) {
        if (err) *err = sig.name + "(): expected Tensor as element " + std::to_string(k) + " in argument 0, but got " + type_name(args[k]);
        return false;
      }
      a.ts[k] = to_tensor(args[k]);
    }
    set |= 1u << first;
  } else if (spread) {
    Arg& a = A.a[first];
    a.kind = Arg::Ints;
    a.ints.resize(nargs);
    for (Py_ssize_t k = 0; k < nargs; ++k)
      if (!to_int(args[k], a.ints[k])) {
        if (err) *err = sig.name + "(): argument '" + sig.params[first].name + "' must be tuple of ints, but found element of type " +
                        type_name(args[k]) + " at pos " + std::to_string(k);
        return false;
      }
    set |= 1u << first;
  } else {
    if (nargs > npos) {
      if (err) *err = sig.name + "() takes " + std::to_string(npos + first) + " positional argument" + (npos + first == 1 ? "" : "s") +
                      " but " + std::to_string(nargs + first) + " were given";
      return false;
    }
    for (Py_ssize_t k = 0; k < nargs; ++k) {
      int idx = first + (int)k;
      if (!convert(sig.params[idx], idx, args[k], A.a[idx], sig, idx + 1, err)) return false;
      set |= 1u << idx;
    }
  }
  if (kwnames) {
    Py_ssize_t nk = PyTuple_GET_SIZE(kwnames);
    for (Py_ssize_t k = 0; k < nk; ++k) {
      PyObject* key = PyTuple_GET_ITEM(kwnames, k);
      int idx = -1;
      for (int q = 0; q < np; ++q)
        if (sig.params[q].pyname == key) { idx = q; break; }
      if (idx < 0) {
        const char* ks = PyUnicode_AsUTF8(key);
        std::string kk = ks ? ks : "";
        // numpy-style aliases torch accepts
        std::string alias = kk == "keepdims" ? "keepdim" : kk == "axis" ? "dim" : kk == "dim" ? "axis" : kk == "self" ? "input" : "";
        for (int q = 0; q < np; ++q)
          if (sig.params[q].name == kk || (!alias.empty() && sig.params[q].name == alias)) { idx = q; break; }
        if (idx < 0) {
          if (err) *err = sig.name + "() got an unexpected keyword argument '" + kk + "'";
          return false;
        }
      }
      if (set & (1u << idx) || (self && idx == 0)) {
        if (err) *err = sig.name + "() got multiple values for argument '" + sig.params[idx].name + "'";
        return false;
      }
      if (!convert(sig.params[idx], idx, args[nargs + k], A.a[idx], sig, 0, err)) return false;
      set |= 1u << idx;
    }
  }
  for (int q = 0; q < np; ++q) {
    if (set & (1u << q)) continue;
    const Param& p = sig.params[q];
    if (p.has_default) A.a[q] = p.def;
    else {  // "int? to" without a default must be passed (None allowed), as in torch's schemas
      if (err) *err = sig.name + "() missing 1 required positional argument: \"" + p.name + "\"";
      return false;
    }
  }
  return true;
}

void fill_defaults(const Signature& sig, Args& A) {
  A.reset((int)sig.params.size());
  for (int q = 0; q < A.n; ++q)
    if (sig.params[q].has_default) A.a[q] = sig.params[q].def;
}

std::string call_repr(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  std::string r = "(";
  bool first = true;
  auto add = [&](const std::string& s) { r += (first ? "" : ", ") + s; first = false; };
  if (self) add("Tensor");
  for (Py_ssize_t k = 0; k < nargs; ++k) add(type_name(args[k]));
  if (kwnames)
    for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(kwnames); ++k)
      add(std::string(PyUnicode_AsUTF8(PyTuple_GET_ITEM(kwnames, k))) + "=" + type_name(args[nargs + k]));
  return r + ")";
}

// Chooses the first signature the call fits; TypeError naming the argument otherwise.
const Signature* resolve(const Group& g, PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames, Args& A) {
  std::string err;
  if (g.sigs.size() > 1) {
    struct Strict {
      Strict() { g_strict = true; }
      ~Strict() { g_strict = false; }
    } strict;
    for (const Signature* s : g.sigs) {
      if (bind(*s, self, args, nargs, kwnames, A, nullptr)) return s;
      for (int q = 0; q < A.n; ++q) A.a[q] = Arg();
    }
  }
  for (const Signature* s : g.sigs) {
    if (bind(*s, self, args, nargs, kwnames, A, g.sigs.size() == 1 ? &err : nullptr)) return s;
    for (int q = 0; q < A.n; ++q) A.a[q] = Arg();
  }
  if (g.sigs.size() > 1) {
    err = g.name + "() received an invalid combination of arguments - got " + call_repr(self, args, nargs, kwnames) +
          ", but expected one of:";
    for (const Signature* s : g.sigs) err += "\n * " + s->text;
  }
  throw TypeError(err);
}

PyObject* to_python(const Value& v, const Signature& sig, bool out = false) {
  switch (v.kind) {
    case Value::Tensor_:
      return py::detail::make_caster<Tensor>::cast(v.t, py::return_value_policy::move, nullptr).ptr();
    case Value::Tensors: {
      py::tuple t(v.ts.size());
      for (size_t k = 0; k < v.ts.size(); ++k) t[k] = py::cast(v.ts[k]);
      const py::object& type = out ? sig.ret_type_out : sig.ret_type;
      if (type) return type(*t).release().ptr();
      return t.release().ptr();
    }
    case Value::Number:
      return py::detail::make_caster<Scalar>::cast(v.s, py::return_value_policy::move, nullptr).ptr();
    case Value::None:
      break;
  }
  Py_RETURN_NONE;
}

int64_t work_of(const Args& A) {
  int64_t w = 0;
  for (int q = 0; q < A.n; ++q) {
    if (A.a[q].kind == Arg::Tensor_) w += A.a[q].t->numel();
    else if (A.a[q].kind == Arg::Tensors)
      for (auto& t : A.a[q].ts) w += t->numel();
  }
  return w;
}
bool others_need_grad(const Args& A) {
  for (int q = 1; q < A.n; ++q) {
    if (A.a[q].kind == Arg::Tensor_ && A.a[q].t->requires_grad) return true;
    if (A.a[q].kind == Arg::Tensors)
      for (auto& t : A.a[q].ts)
        if (t->requires_grad) return true;
  }
  return false;
}

// Runs the op for the binding's kind, without Python: the result as C++ values (an in-place
// form's is self, an out= call's the out tensors). A capture's replay calls this too.
Value run_core(const Binding& b, const Signature& sig, Args& A) {
  if (b.kind == Kind::Inplace || b.kind == Kind::IDunder) {
    Tensor self = A.a[0].t;
    bool og = others_need_grad(A);
    inplace_apply(self, og, b.name.c_str(), [&](const Tensor& s) {
      A.a[0].t = s;
      return call_op(sig.fn, sig.policy, A).t;
    });
    return Value(self);
  }
  if (sig.out_index >= 0 && A.a[sig.out_index].kind != Arg::None) {
    // out=: one tensor, or a tuple of one per result for an op returning a tuple (torch's form)
    Arg& o = A.a[sig.out_index];
    std::vector<Tensor> outs = o.kind == Arg::Tensors ? o.ts : std::vector<Tensor>{o.t};
    const bool tuple = o.kind == Arg::Tensors;
    if (sig.ret_tuple != tuple || outs.size() != sig.n_ret)
      throw TypeError(sig.name + "(): argument 'out' must be " +
                      (sig.ret_tuple ? "a tuple of " + std::to_string(sig.n_ret) + " Tensors" : std::string("Tensor")) +
                      ", not " + (tuple ? "a tuple of " + std::to_string(outs.size()) : std::string("Tensor")));
    if (GradMode::is_enabled()) {
      bool grad = false;
      for (int q = 0; q < A.n; ++q)
        if (q != sig.out_index && A.a[q].kind == Arg::Tensor_ && A.a[q].t->requires_grad) grad = true;
      for (auto& t : outs) grad = grad || t->requires_grad;
      if (grad)
        throw std::runtime_error(sig.name + "(): functions with out=... arguments don't support automatic differentiation, but one of the arguments requires grad.");
    }
    o = Arg();
    Value r = call_op(sig.fn, sig.policy, A);
    if (r.kind == Value::Tensors) {
      if (r.ts.size() != outs.size())  // (nonzero(as_tuple=True, out=...): torch refuses it too)
        throw std::runtime_error(sig.name + "(): out= cannot be used here: the call returns " + std::to_string(r.ts.size()) +
                                 " tensors");
      for (size_t k = 0; k < outs.size(); ++k) write_out(outs[k], r.ts[k], sig.name.c_str());
    } else
      write_out(outs[0], r.t, sig.name.c_str());
    return tuple ? Value(outs) : Value(outs[0]);
  }
  return call_op(sig.fn, sig.policy, A);
}

// Table ops whose Python-number result is metadata, not a value read from a tensor.
bool metadata_result(const std::string& name) {
  static const char* const names[] = {"numel", "dim", "is_floating_point", "is_complex", "is_same_size", "is_signed",
                                      "is_conj", "is_neg", "is_inference", "element_size", "size", "stride"};
  for (const char* n : names)
    if (name == n) return true;
  return false;
}

// While this thread records (Note [Capture]): the call's arguments are kept (tensors as slots,
// strings copied), the op runs, and its results get slots; the Step replays it through run_core.
Value run_recorded(capture::Recorder& rec, const Binding& b, const Signature& sig, Args& A) {
  struct Kept {
    std::vector<Arg> args;
    std::vector<int> slot;                  // per argument: its tensor's slot
    std::vector<std::vector<int>> slots;    // per argument: its tensor list's slots
    std::vector<std::string> strs;
  };
  auto k = std::make_shared<Kept>();
  k->args.resize(A.n);
  k->slot.assign(A.n, -1);
  k->slots.resize(A.n);
  k->strs.resize(A.n);
  std::vector<int> uses;
  for (int q = 0; q < A.n; ++q) {
    Arg& a = k->args[q];
    a = A.a[q];
    if (a.kind == Arg::Tensor_) {
      k->slot[q] = rec.in(a.t);
      uses.push_back(k->slot[q]);
      a.t.reset();
    } else if (a.kind == Arg::Tensors) {
      for (auto& t : a.ts) k->slots[q].push_back(rec.in(t));
      uses.insert(uses.end(), k->slots[q].begin(), k->slots[q].end());
      a.ts.clear();
    }
    if (a.str) k->strs[q] = a.str;
    if (a.gen) rec.fail(sig.name + "() was given an explicit generator");
  }
  Value v;
  try {
    v = run_core(b, sig, A);
  } catch (...) {
    rec.fail(sig.name + "() raised an exception");
    throw;
  }
  if (v.kind == Value::Number && !metadata_result(sig.name))
    rec.fail(sig.name + "() returned a tensor's value to Python");
  const bool same = b.kind == Kind::Inplace || b.kind == Kind::IDunder ||
                    (sig.out_index >= 0 && k->args[sig.out_index].kind != Arg::None);
  std::vector<int> outs;  // the results' slots (an in-place or out= result is already an operand)
  if (!same) {
    if (v.kind == Value::Tensor_) outs.push_back(rec.out(v.t));
    else if (v.kind == Value::Tensors)
      for (auto& t : v.ts) outs.push_back(rec.out(t));
  }
  rec.add(b.name.empty() ? sig.name : b.name, [k, outs, bp = &b, sp = &sig](capture::Frame& f) {
    Args R;
    R.reset((int)k->args.size());
    for (int q = 0; q < R.n; ++q) {
      Arg& a = R.a[q];
      a = k->args[q];
      if (a.kind == Arg::Tensor_) a.t = f.at(k->slot[q]);
      else if (a.kind == Arg::Tensors)
        for (int s : k->slots[q]) a.ts.push_back(f.at(s));
      if (a.str) a.str = k->strs[q].c_str();
    }
    Value r = run_core(*bp, *sp, R);
    if (outs.empty()) return;
    if (r.kind == Value::Tensor_) f.slot[outs[0]] = std::move(r.t);
    else
      for (size_t i = 0; i < outs.size() && i < r.ts.size(); ++i) f.slot[outs[i]] = std::move(r.ts[i]);
  }, std::move(uses));
  return v;
}

// Runs the op (Note [GIL]: released when the tensors are large) and returns its Python result.
PyObject* run(const Binding& b, const Signature& sig, Args& A, PyObject* self_obj) {
  const bool out_form = sig.out_index >= 0 && A.a[sig.out_index].kind != Arg::None;
  const bool big = work_of(A) >= kNoGilWork;
  capture::Recorder* rec = capture::Recorder::active();
  Value v = rec ? run_recorded(*rec, b, sig, A) : release_gil_if(big, [&] { return run_core(b, sig, A); });
  if (b.kind == Kind::Inplace || b.kind == Kind::IDunder) {
    Py_INCREF(self_obj);
    return self_obj;
  }
  if (out_form && v.kind != Value::Tensors) return py::cast(v.t).release().ptr();
  return to_python(v, sig, out_form);
}

PyObject* not_implemented() {
  Py_INCREF(Py_NotImplemented);
  return Py_NotImplemented;
}

PyObject* dispatch(const Binding& b, PyObject* self, PyObject* const* args, Py_ssize_t nargsf, PyObject* kwnames) {
  Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
  try {
    Args A;
    const Group& g = *b.group;
    switch (b.kind) {
      case Kind::Function: {
        const Signature* sig = resolve(g, nullptr, args, nargs, kwnames, A);
        return run(b, *sig, A, nullptr);
      }
      case Kind::Method:
      case Kind::Inplace: {
        const Signature* sig = resolve(g, self, args, nargs, kwnames, A);
        return run(b, *sig, A, self);
      }
      case Kind::UnaryDunder: {
        const Signature& sig = *b.dunder_sig;
        fill_defaults(sig, A);
        A.a[0].kind = Arg::Tensor_;
        A.a[0].t = to_tensor(self);
        return run(b, sig, A, self);
      }
      case Kind::Dunder:
      case Kind::RDunder:
      case Kind::IDunder: {
        // Binary operator: NotImplemented for a foreign operand so Python can try the other side.
        PyObject* other = nargs == 1 ? args[0] : nullptr;
        if (!other) return not_implemented();
        Tensor o;
        if (is_tensor(other)) o = to_tensor(other);
        else {
          py::detail::make_caster<Scalar> c;
          if (!c.load(other, true)) {
            // x += batched: an in-place op must see it (Note [torch function]); x + batched is the
            // other operand's reflected operator's
            if (b.kind == Kind::IDunder)
              if (PyObject* r = torch_function_override(b.pyfunc, self, args, nargs, kwnames); r || PyErr_Occurred()) return r;
            return not_implemented();
          }
          o = scalar_tensor(py::detail::cast_op<Scalar>(c));
        }
        const Signature* sig = b.dunder_sig;
        fill_defaults(*sig, A);
        A.a[0].kind = A.a[1].kind = Arg::Tensor_;
        A.a[0].t = to_tensor(self);
        A.a[1].t = o;
        if (b.kind == Kind::RDunder) std::swap(A.a[0].t, A.a[1].t);
        return run(b, *sig, A, self);
      }
    }
  } catch (py::error_already_set& e) {
    e.restore();
  } catch (const TypeError& e) {
    if (b.kind == Kind::Function || b.kind == Kind::Method || b.kind == Kind::Inplace) {
      PyObject* r = torch_function_override(b.pyfunc, b.kind == Kind::Function ? nullptr : self, args, nargs, kwnames);
      if (r || PyErr_Occurred()) return r;
    }
    PyErr_SetString(PyExc_TypeError, e.what());
  } catch (const ValueError& e) {
    PyErr_SetString(PyExc_ValueError, e.what());
  } catch (const IndexError& e) {
    PyErr_SetString(PyExc_IndexError, e.what());
  } catch (const NotImplementedError& e) {
    PyErr_SetString(PyExc_NotImplementedError, e.what());
  } catch (const std::bad_alloc&) {
    PyErr_NoMemory();
  } catch (const std::overflow_error& e) {
    PyErr_SetString(PyExc_OverflowError, e.what());
  } catch (const std::out_of_range& e) {
    PyErr_SetString(PyExc_IndexError, e.what());
  } catch (const std::invalid_argument& e) {
    PyErr_SetString(PyExc_ValueError, e.what());
  } catch (const std::exception& e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
  }
  return nullptr;
}

// One C entry point per binding (a method descriptor has no room for a closure).
constexpr size_t kMaxBindings = 1536;
template <size_t I>
PyObject* trampoline(PyObject* self, PyObject* const* args, Py_ssize_t nargsf, PyObject* kwnames) {
  return dispatch(g_bindings[I], self, args, nargsf, kwnames);
}
template <size_t... I>
constexpr std::array<_PyCFunctionFastWithKeywords, sizeof...(I)> make_trampolines(std::index_sequence<I...>) {
  return {&trampoline<I>...};
}
const auto kTrampolines = make_trampolines(std::make_index_sequence<kMaxBindings>{});

const std::unordered_map<std::string, Kind>& dunder_kinds() {
  static const std::unordered_map<std::string, Kind> m = [] {
    std::unordered_map<std::string, Kind> r;
    for (const char* op : {"add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and", "or", "xor", "lshift", "rshift"}) {
      std::string o = op;
      r["__" + o + "__"] = Kind::Dunder;
      r["__r" + o + "__"] = Kind::RDunder;
      r["__i" + o + "__"] = Kind::IDunder;
    }
    for (const char* op : {"__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__"}) r[op] = Kind::Dunder;
    for (const char* op : {"__neg__", "__abs__", "__invert__", "__pos__"}) r[op] = Kind::UnaryDunder;
    return r;
  }();
  return m;
}

// "(input, other, *, alpha=1, out=None)" for __text_signature__.
std::string text_signature(const Signature& sig, bool method) {
  std::string r = method ? "($self" : "(";
  bool first = !method, star = false;
  for (size_t k = method ? 1 : 0; k < sig.params.size(); ++k) {
    const Param& p = sig.params[k];
    std::string part;
    if (p.kwonly && !star) { part = "*, "; star = true; }
    part += p.name;
    if (p.has_default) {
      std::string d = p.def_text;
      if (d.front() == '[') d = "(" + d.substr(1, d.size() - 2) + (d.find(',') == std::string::npos && d.size() > 2 ? ",)" : ")");
      part += "=" + d;
    } else if (p.optional) {
      part += "=None";
    }
    r += (first ? "" : ", ") + part;
    first = false;
  }
  return r + ")";
}

}  // namespace

void bind_op_table(py::module_& m) {
  py::module_ collections = py::module_::import("collections");
  py::module_ rt = m.def_submodule("return_types", "named tuples returned by ops (torch.return_types)");
  std::unordered_map<std::string, Group*> groups;
  std::vector<std::string> order;
  for (const OpDef& d : op_table()) {
    g_sigs.push_back(parse_schema(d.schema));
    Signature& s = g_sigs.back();
    s.fn = d.fn;
    {
      std::vector<ParamInfo> pi;
      for (const Param& p : s.params)
        pi.push_back({p.name, p.ty == Ty::Tensor ? ParamInfo::Tensor_ : p.ty == Ty::Tensors ? ParamInfo::Tensors
                              : p.ty == Ty::DType ? ParamInfo::DType_ : ParamInfo::Other});
      s.policy = make_dtype_policy(d.schema, d.variants, pi, s.ret_names);
    }
    s.numbers = std::strstr(d.variants, "numbers") != nullptr;
    if (!s.ret_names.empty()) {
      py::list fields;
      for (auto& f : s.ret_names) fields.append(f);
      s.ret_type = collections.attr("namedtuple")(s.name, fields);
      s.ret_type.attr("__module__") = "ember.return_types";
      rt.attr(s.name.c_str()) = s.ret_type;
      if (s.out_index >= 0) {
        s.ret_type_out = collections.attr("namedtuple")(s.name + "_out", fields);
        s.ret_type_out.attr("__module__") = "ember.return_types";
        rt.attr((s.name + "_out").c_str()) = s.ret_type_out;
      }
    }
    Group*& g = groups[s.name];
    if (!g) {
      g_groups.push_back(Group{s.name, {}});
      g = &g_groups.back();
      order.push_back(s.name);
    }
    g->sigs.push_back(&s);
  }
  // Variants: the union over a name's declarations.
  std::unordered_map<std::string, std::vector<std::string>> variants;
  for (const OpDef& d : op_table()) {
    std::string full = d.schema;
    std::string name = full.substr(0, full.find_first_of(".("));
    std::string v = d.variants;
    size_t p = 0;
    while (p < v.size()) {
      size_t q = v.find_first_of(" ,", p);
      if (q == std::string::npos) q = v.size();
      if (q > p) variants[name].push_back(v.substr(p, q - p));
      p = q + 1;
    }
  }
  PyTypeObject* tensor_type = (PyTypeObject*)py::detail::get_type_info(typeid(TensorImpl))->type;
  for (const std::string& name : order) {
    Group* g = groups[name];
    std::vector<std::string> done;
    for (const std::string& v : variants[name]) {
      if (std::find(done.begin(), done.end(), v) != done.end()) continue;
      done.push_back(v);
      Kind kind;
      std::string pyname;
      if (v == "numbers" || v == "any_dtype" || v == "int64_result" || v == "no_half") continue;
      if (v == "function") { kind = Kind::Function; pyname = name; }
      else if (v == "method") { kind = Kind::Method; pyname = name; }
      else if (v == "inplace") { kind = Kind::Inplace; pyname = name + "_"; }
      else {
        auto it = dunder_kinds().find(v);
        if (it == dunder_kinds().end()) throw std::logic_error("op table: unknown variant '" + v + "' of " + name);
        kind = it->second;
        pyname = v;
      }
      if (g_bindings.size() >= kMaxBindings) throw std::logic_error("op table: raise kMaxBindings");
      Binding bd{g, kind, kind == Kind::IDunder ? name + "_" : pyname, nullptr};
      if (kind == Kind::Dunder || kind == Kind::RDunder || kind == Kind::IDunder || kind == Kind::UnaryDunder) {
        for (const Signature* s : g->sigs) {
          size_t need = kind == Kind::UnaryDunder ? 1 : 2;
          bool ok = s->params.size() >= need;
          for (size_t k = 0; ok && k < s->params.size(); ++k)
            ok = k < need ? s->params[k].ty == Ty::Tensor : (s->params[k].has_default || s->params[k].optional);
          if (ok) { bd.dunder_sig = s; break; }
        }
        if (!bd.dunder_sig) throw std::logic_error("op table: no overload of " + name + " fits " + v);
      }
      g_bindings.push_back(bd);
      const Signature& s0 = *g->sigs[0];
      bool method = kind != Kind::Function;
      std::string doc;
      for (const Signature* s : g->sigs) {
        if (doc.empty()) doc = pyname + text_signature(*s, method) + "\n--\n\n";
        doc += name + s->text + "\n";
      }
      (void)s0;
      g_docs.push_back(doc);
      g_defs.push_back(PyMethodDef{nullptr, nullptr, 0, nullptr});
      PyMethodDef& def = g_defs.back();
      g_docs.push_back(pyname);
      def.ml_name = g_docs.back().c_str();
      def.ml_meth = (PyCFunction)(void (*)())kTrampolines[g_bindings.size() - 1];
      def.ml_flags = METH_FASTCALL | METH_KEYWORDS;
      def.ml_doc = g_docs[g_docs.size() - 2].c_str();
      if (kind == Kind::Function) {
        py::object f = py::reinterpret_steal<py::object>(PyCFunction_NewEx(&def, nullptr, m.attr("__name__").ptr()));
        if (!f) throw py::error_already_set();
        m.attr(pyname.c_str()) = f;
        g_bindings.back().pyfunc = f.release().ptr();  // (kept for the process's life, as the binding)
      } else {
        py::object d = py::reinterpret_steal<py::object>(PyDescr_NewMethod(tensor_type, &def));
        if (!d || PyObject_SetAttrString((PyObject*)tensor_type, pyname.c_str(), d.ptr()) < 0) throw py::error_already_set();
        g_bindings.back().pyfunc = d.release().ptr();
      }
    }
  }
  m.def("_op_table", [] {
    py::list r;
    for (const OpDef& d : op_table()) r.append(py::make_tuple(d.schema, d.variants, d.file));
    return r;
  }, "Every op declaration: (schema, variants, source file).");
}

// Note [torch function]
namespace {
PyObject* overriding_arg(PyObject* o) {
  if (!o || o == Py_None || is_tensor(o)) return nullptr;
  if (PyList_Check(o) || PyTuple_Check(o)) {
    PyObject* seq = o;
    const Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    for (Py_ssize_t i = 0; i < n; ++i)
      if (PyObject* r = overriding_arg(PySequence_Fast_GET_ITEM(seq, i))) return r;
    return nullptr;
  }
  return PyObject_HasAttrString((PyObject*)Py_TYPE(o), "__torch_function__") ? o : nullptr;
}

PyObject* call_override(PyObject* func, PyObject* over, PyObject* args_tuple, PyObject* kwargs) {
  py::object tp = py::reinterpret_borrow<py::object>((PyObject*)Py_TYPE(over));
  py::tuple types = py::make_tuple(tp);
  py::object handler = tp.attr("__torch_function__");
  py::dict kw = kwargs ? py::reinterpret_borrow<py::dict>(kwargs) : py::dict();
  return handler(py::reinterpret_borrow<py::object>(func), types, py::reinterpret_borrow<py::tuple>(args_tuple), kw)
      .release()
      .ptr();
}
}  // namespace

PyObject* torch_function_override(PyObject* func, PyObject* self, PyObject* const* args, Py_ssize_t nargs,
                                  PyObject* kwnames) {
  if (!func) return nullptr;
  PyObject* over = nullptr;
  for (Py_ssize_t i = 0; i < nargs && !over; ++i) over = overriding_arg(args[i]);
  const Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
  for (Py_ssize_t i = 0; i < nkw && !over; ++i) over = overriding_arg(args[nargs + i]);
  if (!over) return nullptr;
  try {
    py::tuple a(nargs + (self ? 1 : 0));
    Py_ssize_t k = 0;
    if (self) a[k++] = py::reinterpret_borrow<py::object>(self);
    for (Py_ssize_t i = 0; i < nargs; ++i) a[k++] = py::reinterpret_borrow<py::object>(args[i]);
    py::dict kw;
    for (Py_ssize_t i = 0; i < nkw; ++i)
      kw[py::reinterpret_borrow<py::object>(PyTuple_GET_ITEM(kwnames, i))] = py::reinterpret_borrow<py::object>(args[nargs + i]);
    return call_override(func, over, a.ptr(), kw.ptr());
  } catch (py::error_already_set& e) {
    e.restore();
    return nullptr;
  }
}

void torch_function_fallback(py::module_& m, const char* name) {
  py::handle mod = m;
  m.def(name, [mod, name](py::args a, py::kwargs k) -> py::object {
    PyObject* over = nullptr;
    for (py::handle h : a)
      if ((over = overriding_arg(h.ptr()))) break;
    for (auto item : k)
      if (!over) over = overriding_arg(item.second.ptr());
    if (!over) {
      std::string types;
      for (py::handle h : a) types += std::string(types.empty() ? "" : ", ") + Py_TYPE(h.ptr())->tp_name;
      throw py::type_error(std::string(name) + "(): incompatible function arguments (got " + types + ")");
    }
    PyObject* r = call_override(mod.attr(name).ptr(), over, a.ptr(), k.ptr());
    return py::reinterpret_steal<py::object>(r);
  });
}

}  // namespace ember

