// The ember._C module: exception translation, dtypes and grad mode, then one bind_* per area.
#include "common.h"
#include "ember/kernels/gemm.h"
#include "ember/kernels/parallel.h"
#include "ember/kernels/peak.h"

#include <algorithm>
#include <optional>
#include <string>

namespace ember {

Tensor as_operand(py::handle h) {
  if (py::isinstance<TensorImpl>(h)) return h.cast<Tensor>();
  py::detail::make_caster<Scalar> c;
  if (c.load(h, true)) return scalar_tensor(py::detail::cast_op<Scalar>(c));
  return nullptr;
}

Tensor as_tensor_arg(py::handle h, const char* what) {
  Tensor t = as_operand(h);
  if (!t)
    throw TypeError(std::string(what) + ": expected a Tensor or a number, but got " +
                    std::string(py::str(py::type::handle_of(h).attr("__name__"))));
  return t;
}

Shape shape_from_args(const py::args& args, const char* op) {
  Shape s;
  if (args.size() == 1 && !PyLong_Check(args[0].ptr()) && PySequence_Check(args[0].ptr())) {
    for (auto v : args[0]) s.push_back(v.cast<int64_t>());
    return s;
  }
  for (auto v : args) {
    if (!PyLong_Check(v.ptr()) && !PyIndex_Check(v.ptr()))
      throw TypeError(std::string(op) + "(): argument 'size' must be a sequence of ints, but got " +
                      std::string(py::str(py::type::handle_of(v).attr("__name__"))));
    s.push_back(v.cast<int64_t>());
  }
  return s;
}

std::vector<int64_t> dims_from(py::handle dim) {
  if (dim.is_none()) return {};
  if (PyLong_Check(dim.ptr())) return {dim.cast<int64_t>()};
  std::vector<int64_t> d;
  for (auto v : dim) d.push_back(v.cast<int64_t>());
  return d;
}

DType dtype_from(py::handle h) {
  if (!py::isinstance<DType>(h))
    throw TypeError("dtype must be an ember dtype (ember.float32, ember.float64, ember.int64, ember.bool), got " +
                    std::string(py::repr(h)));
  return h.cast<DType>();
}

}  // namespace ember

using namespace ember;

PYBIND11_MODULE(_C, m) {
  m.doc() = "ember's C++ core: tensors, autograd and kernels";
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const ember::TypeError& e) {
      PyErr_SetString(PyExc_TypeError, e.what());
    } catch (const ember::ValueError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const ember::IndexError& e) {
      PyErr_SetString(PyExc_IndexError, e.what());
    } catch (const ember::NotImplementedError& e) {
      PyErr_SetString(PyExc_NotImplementedError, e.what());
    } catch (const py::cast_error& e) {  // an argument of the wrong Python type, as torch reports it
      PyErr_SetString(PyExc_TypeError, e.what());
    }
  });

  py::enum_<DType>(m, "dtype")
      .value("bool", DType::Bool)
      .value("int64", DType::Int64)
      .value("float32", DType::Float32)
      .value("float64", DType::Float64)
      .value("uint8", DType::UInt8)
      .value("int8", DType::Int8)
      .value("int16", DType::Int16)
      .value("int32", DType::Int32)
      .value("float16", DType::Float16)
      .value("bfloat16", DType::BFloat16)
      .def("__repr__", [](DType d) { return std::string("ember.") + dtype_name(d); })
      .def("__str__", [](DType d) { return std::string("ember.") + dtype_name(d); })
      .def_property_readonly("is_floating_point", [](DType d) { return is_floating(d); })
      .def_property_readonly("itemsize", [](DType d) { return itemsize(d); })
      .def_property_readonly("is_signed", [](DType d) { return d != DType::Bool && d != DType::UInt8; })
      .def_property_readonly("is_complex", [](DType) { return false; });

  m.def("_promote_types", [](DType a, DType b) { return promote(a, b); });
  m.def("is_grad_enabled", &GradMode::is_enabled);
  m.def("_set_grad_enabled", [](bool on) { capture::call("_set_grad_enabled", [](bool on) { GradMode::set_enabled(on); }, on); });
  m.def("manual_seed", [](uint64_t s) { capture::call("manual_seed", [](uint64_t s) { manual_seed(s); }, s); });
  m.def("initial_seed", &initial_seed);
  m.def("set_num_threads", &ember::set_num_threads);
  m.def("get_num_threads", &ember::get_num_threads);
  m.def("_set_flush_denormal", &ember::set_flush_denormal);
  // Note [GEMM paths]: forcing a kernel is for tests and benchmarks.
  static const char* const gemm_paths[] = {"auto", "direct", "mid", "packed", "blas", "blas_t"};
  m.def("_gemm_path", [](std::optional<std::string> name) {
    const char* prev = gemm_paths[(int)ember::gemm_path()];
    if (name) {
      auto it = std::find(std::begin(gemm_paths), std::end(gemm_paths), *name);
      if (it == std::end(gemm_paths)) throw py::value_error("_gemm_path: unknown path '" + *name + "'");
      ember::set_gemm_path((ember::GemmPath)(it - std::begin(gemm_paths)));
    }
    return std::string(prev);
  }, py::arg("name") = py::none());
  m.def("_fma_peak", [](int threads, double seconds) {
    py::gil_scoped_release nogil;
    return ember::fma_peak_gflops(threads, seconds);
  }, py::arg("threads"), py::arg("seconds") = 0.2);
  m.def("_gemm_info", [](bool f64) {
    const ember::GemmInfo g = ember::gemm_info(f64);
    py::dict d;
    d["vector_bytes"] = g.vector_bytes, d["mr"] = g.mr, d["nr"] = g.nr, d["kc"] = g.kc, d["mc"] = g.mc, d["nc"] = g.nc;
    d["l1"] = g.l1, d["l2"] = g.l2, d["l3"] = g.l3;
    return d;
  }, py::arg("f64") = false);

  bind_tensor(m);
  bind_functions(m);
  bind_autograd(m);
  bind_nn(m);
  bind_random(m);
  bind_capture(m);
  bind_op_table(m);  // last: the table's bindings are the ones that stay
}
