// Free functions of ember._C: the ops under torch's names (ember.add, ember.cat, ...) and the
// raw factories that ember/_factories.py wraps with torch's signatures.
#include "common.h"

namespace ember {


// See Note [GIL] in common.h.
Tensor matmul_released(const Tensor& a, const Tensor& b) {
  return release_gil_if(a->numel() * (b->dim() ? b->shape.back() : 1) >= kNoGilWork, [&] { return matmul(a, b); });
}

void bind_functions(py::module_& m) {
  // ---- factories (shape + dtype; torch's signatures live in Python)
  m.def("_empty", [](const Shape& s, DType d) { return EMBER_CAPTURED(empty, s, d); });
  m.def("_zeros", [](const Shape& s, DType d) { return EMBER_CAPTURED(zeros, s, d); });
  m.def("_ones", [](const Shape& s, DType d) { return EMBER_CAPTURED(ones, s, d); });
  m.def("_full", [](const Shape& s, Scalar v, DType d) { return EMBER_CAPTURED(full, s, v, d); });
  m.def("_arange", [](double a, double b, double st, DType d) { return EMBER_CAPTURED(arange, a, b, st, d); });
  m.def("_linspace", [](double a, double b, int64_t n, DType d) { return EMBER_CAPTURED(linspace, a, b, n, d); });
  m.def("_eye", [](int64_t n, int64_t k, DType d) { return EMBER_CAPTURED(eye, n, k, d); });
  // Sampling from an explicit generator is not recorded (the recording refuses it); the default
  // generator's draws are replayed in order (Note [Capture]).
  m.def("_rand", [](const Shape& s, DType d, Generator* g) {
    if (g) capture_refuse("rand() was given an explicit generator");
    return g ? rand(s, d, g) : EMBER_CAPTURED(rand, s, d);
  }, py::arg("size"), py::arg("dtype"), py::arg("generator") = nullptr);
  m.def("_dropout_mask", [](const Shape& s, double p, double scale, DType d) {
    return EMBER_CAPTURED(dropout_mask, s, p, scale, d);
  }, py::arg("size"), py::arg("p"), py::arg("scale"), py::arg("dtype"));
  m.def("_randn", [](const Shape& s, DType d, Generator* g) {
    if (g) capture_refuse("randn() was given an explicit generator");
    return g ? randn(s, d, g) : EMBER_CAPTURED(randn, s, d);
  }, py::arg("size"), py::arg("dtype"), py::arg("generator") = nullptr);
  m.def("_randint", [](int64_t lo, int64_t hi, const Shape& s, DType d, Generator* g) {
    if (g) capture_refuse("randint() was given an explicit generator");
    return g ? randint(lo, hi, s, d, g) : EMBER_CAPTURED(randint, lo, hi, s, d);
  }, py::arg("low"), py::arg("high"), py::arg("size"), py::arg("dtype"), py::arg("generator") = nullptr);
  m.def("_randperm", [](int64_t n, DType d, Generator* g) {
    if (g) capture_refuse("randperm() was given an explicit generator");
    return g ? randperm(n, d, g) : EMBER_CAPTURED(randperm, n, d);
  }, py::arg("n"), py::arg("dtype"), py::arg("generator") = nullptr);
  m.def("_scalar_tensor", [](Scalar s, std::optional<DType> d) {
    return capture::call("_scalar_tensor", [](Scalar s, std::optional<DType> d) {
      Tensor t = scalar_tensor(s, d ? *d : (s.kind == Scalar::Float ? DType::Float32 : s.dtype()));
      t->wrapped_number = false;
      return t;
    }, s, d);
  });

  // ---- (ops: see the op table, ember/ops/registry.h)
  m.def("one_hot", [](const Tensor& t, int64_t n) { return EMBER_CAPTURED(one_hot, t, n); }, py::arg("tensor"), py::arg("num_classes") = -1);
}

}  // namespace ember
