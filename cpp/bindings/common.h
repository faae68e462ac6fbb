// Shared by the binding files: pybind11 includes, the Python-number caster (ember::Scalar) and
// argument helpers. Only cpp/bindings includes pybind11.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "ember/autograd/node.h"
#include "ember/capture/capture.h"
#include "ember/core/generator.h"
#include "ember/ops/ops.h"

namespace py = pybind11;

namespace pybind11::detail {
template <>
struct type_caster<ember::Shape> : list_caster<ember::Shape, int64_t> {};

// Tensor (shared_ptr<TensorImpl>) arguments and results. Same behaviour as pybind's holder caster,
// with the class's type_info looked up once instead of by typeid hash on every argument and
// result (~10% of a 1-element `a + b`). A Tensor argument never binds None (pybind's caster would
// pass a null pointer on its conversion pass); arguments that may be None are OptTensor.
template <>
class type_caster<std::shared_ptr<ember::TensorImpl>> {
  using holder_type = std::shared_ptr<ember::TensorImpl>;
  static const type_info* tinfo() {
    static const type_info* ti = get_type_info(typeid(ember::TensorImpl), /*throw_if_missing=*/true);
    return ti;
  }

 public:
  PYBIND11_TYPE_CASTER(holder_type, const_name("Tensor"));
  bool load(handle src, bool) {
    if (!src || src.is_none()) return false;
    const type_info* ti = tinfo();
    PyTypeObject* tp = Py_TYPE(src.ptr());
    if (tp != ti->type && !PyType_IsSubtype(tp, ti->type)) return false;
    auto vh = reinterpret_cast<instance*>(src.ptr())->get_value_and_holder(ti, false);
    if (!vh || !vh.holder_constructed()) return false;  // a subclass whose __init__ never ran
    value = vh.template holder<holder_type>();
    return true;
  }
  static handle cast(const holder_type& src, return_value_policy, handle) {
    if (!src) return none().release();
    if (src.use_count() == 1) {
      // The only owner is this result: no Python object can hold it yet (each holds a reference),
      // so pybind's search for one (a hash lookup per result) is skipped; the rest is what
      // type_caster_generic::cast does for a new instance.
      const type_info* ti = tinfo();
      auto self = reinterpret_steal<object>(make_new_instance(ti->type));
      auto* inst = reinterpret_cast<instance*>(self.ptr());
      inst->get_value_and_holder(ti).value_ptr() = src.get();
      inst->owned = true;
      ti->init_instance(inst, &src);
      return self.release();
    }
    return type_caster_generic::cast(src.get(), return_value_policy::take_ownership, handle(), tinfo(), nullptr, nullptr, &src);
  }
};

template <>
struct is_holder_type<ember::TensorImpl, std::shared_ptr<ember::TensorImpl>> : std::true_type {};

// bool / int / float (and numpy scalars) keep their kind, which decides type promotion.
template <>
struct type_caster<ember::Scalar> {
  PYBIND11_TYPE_CASTER(ember::Scalar, const_name("Number"));
  bool load(handle src, bool) {
    PyObject* o = src.ptr();
    if (PyBool_Check(o)) { value = ember::Scalar::from_bool(o == Py_True); return true; }
    if (PyFloat_Check(o)) { value = ember::Scalar(PyFloat_AS_DOUBLE(o)); return true; }
    if (PyLong_Check(o)) {
      int overflow = 0;
      long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
      if (overflow) return false;
      value = ember::Scalar::from_int(v);
      return true;
    }
    if (isinstance<ember::TensorImpl>(src)) return false;
    PyTypeObject* tp = Py_TYPE(o);
    if (tp->tp_as_number && !PySequence_Check(o)) {
      if (PyObject_HasAttrString(o, "dtype")) {  // numpy scalar: use its kind
        object kind = reinterpret_borrow<object>(src).attr("dtype").attr("kind");
        std::string k = kind.cast<std::string>();
        if (k == "b") { value = ember::Scalar::from_bool(PyObject_IsTrue(o)); return true; }
        if (k == "i" || k == "u") { value = ember::Scalar::from_int(PyLong_AsLongLong(reinterpret_borrow<object>(src).attr("__int__")().ptr())); return true; }
        if (k == "f") { value = ember::Scalar(PyFloat_AsDouble(o)); return true; }
      }
    }
    return false;
  }
  static handle cast(const ember::Scalar& s, return_value_policy, handle) {
    if (s.kind == ember::Scalar::Float) return PyFloat_FromDouble(s.f);
    if (s.kind == ember::Scalar::Bool) return PyBool_FromLong((long)s.i);
    return PyLong_FromLongLong(s.i);
  }
};
}  // namespace pybind11::detail

namespace ember {

using OptTensor = std::optional<Tensor>;

// Note [GIL]: released around work long enough to matter (a backward pass; products, fused
// layers and optimizer steps over >= kNoGilWork elements), after argument conversion. The core
// never touches Python objects; the few places that do (Python Function nodes, numpy-backed
// storages) acquire the GIL themselves.
constexpr int64_t kNoGilWork = 1 << 16;
template <class F>
auto release_gil_if(bool long_work, F&& f) {
  if (!long_work || !PyGILState_Check()) return f();  // (already released by an enclosing call)
  py::gil_scoped_release nogil;
  return f();
}
// An elementwise op / a product bound with Note [GIL].
inline auto nogil1(Tensor (*fn)(const Tensor&)) {
  return [fn](const Tensor& a) { return release_gil_if(a->numel() >= kNoGilWork, [&] { return fn(a); }); };
}
inline auto nogil_product(Tensor (*fn)(const Tensor&, const Tensor&)) {
  return [fn](const Tensor& a, const Tensor& b) {
    return release_gil_if(a->numel() * (b->dim() ? b->shape.back() : 1) >= kNoGilWork, [&] { return fn(a, b); });
  };
}
inline Tensor opt(const OptTensor& t) { return t ? *t : Tensor(); }
inline std::vector<Tensor> opts(const std::vector<OptTensor>& ts) {
  std::vector<Tensor> r(ts.size());
  for (size_t i = 0; i < ts.size(); ++i) r[i] = opt(ts[i]);
  return r;
}
// True for an ember Tensor (or a subclass's instance, nn.Parameter).
inline bool is_tensor_obj(py::handle h) {
  static PyObject* const tp = (PyObject*)py::detail::get_type_info(typeid(TensorImpl))->type;
  return PyObject_IsInstance(h.ptr(), tp) == 1;
}

// backward(create_graph=True): torch's warning, once per process (with the GIL). The gradient's
// graph holds the parameter (through its AccumulateGrad) and the parameter holds the gradient: a
// cycle until .grad is reset, as in torch.
inline void warn_backward_create_graph() {
  static bool warned = false;
  if (warned) return;
  warned = true;
  if (PyErr_WarnEx(PyExc_UserWarning,
                   "Using backward() with create_graph=True will create a reference cycle between the parameter and "
                   "its gradient which can cause a memory leak. We recommend using autograd.grad when creating the "
                   "graph to avoid this. If you have to use this function, make sure to reset the .grad fields of "
                   "your parameters to None after use to break the cycle and avoid the leak.",
                   1) < 0)
    throw py::error_already_set();
}

// backward(inputs=...): None -> none (every leaf accumulates), a Tensor or a sequence of them
inline std::vector<Tensor> backward_inputs(py::handle inputs) {
  if (inputs.is_none()) return {};
  if (is_tensor_obj(inputs)) return {inputs.cast<Tensor>()};
  std::vector<Tensor> r;
  for (py::handle h : inputs) {
    if (!is_tensor_obj(h))
      throw py::type_error(std::string("backward(): inputs must be Tensors, got ") + Py_TYPE(h.ptr())->tp_name);
    r.push_back(h.cast<Tensor>());
  }
  if (r.empty()) throw std::runtime_error("'inputs' argument to backward() cannot be empty.");
  return r;
}

// Note [torch function]: a call whose arguments do not convert, where an argument (or an element of
// a list or tuple argument) is a foreign object whose type defines __torch_function__ (ember.func's
// batched values under vmap, a user's tensor-like wrapper), is handed to that type's
// __torch_function__(func, types, args, kwargs), as torch's dispatcher does. Only the failure path
// looks, so a plain call pays nothing. Returns null (no Python error set) when no argument overrides.
PyObject* torch_function_override(PyObject* func, PyObject* self, PyObject* const* args, Py_ssize_t nargs,
                                  PyObject* kwnames);
// The same for a pybind-bound function `name` of module m: a last overload taking anything, which
// hands the call on or raises TypeError.
void torch_function_fallback(py::module_& m, const char* name);

// A Python operand for a binary op: a Tensor, or a number turned into a wrapped 0-d tensor.
// Returns null when `h` is neither (the dunder then returns NotImplemented).
Tensor as_operand(py::handle h);
Tensor as_tensor_arg(py::handle h, const char* what);  // TypeError if not convertible
Shape shape_from_args(const py::args& args, const char* op);
std::vector<int64_t> dims_from(py::handle dim);        // None -> {}, int -> {d}, sequence -> dims
DType dtype_from(py::handle h);

void bind_tensor(py::module_& m);
void bind_functions(py::module_& m);
void bind_autograd(py::module_& m);
void bind_nn(py::module_& m);
void bind_op_table(py::module_& m);
void bind_random(py::module_& m);
void bind_capture(py::module_& m);
void bind_indexing(py::class_<TensorImpl, std::shared_ptr<TensorImpl>>& cls);
Tensor matmul_released(const Tensor& a, const Tensor& b);
py::object tensor_to_numpy(const Tensor& t, bool force);
Tensor tensor_from_numpy(py::array arr, bool copy, std::optional<DType> dtype);

}  // namespace ember

// A binding's core call, kept as a Step while this thread records (Note [Capture]): the replay calls
// `fn` again with the same non-tensor arguments and the tensors in the same slots.
#define EMBER_CAPTURED(fn, ...) \
  ::ember::capture::call(#fn, [](const auto&... a_) { return fn(a_...); }, __VA_ARGS__)
// A binding that cannot be replayed (a value read into Python, a Python hook) fails the recording.
inline void capture_refuse(const std::string& why) {
  if (auto* r = ::ember::capture::Recorder::active()) r->fail(why);
}
// A value read into Python while recording: a float may be returned by the step (Recorder::value_read),
// anything else fails the recording (capture.cpp).
namespace ember {
void capture_value_read(const Tensor& t, const py::object& value, const std::string& why);
}  // namespace ember
