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
  m.def("_empty", [](const Shape& s, DType d) { return empty(s, d); });
  m.def("_zeros", &zeros);
  m.def("_ones", &ones);
  m.def("_full", &full);
  m.def("_arange", &arange);
  m.def("_linspace", &linspace);
  m.def("_eye", &eye);
  m.def("_rand", [](const Shape& s, DType d, Generator* g) { return rand(s, d, g); }, py::arg("size"), py::arg("dtype"),
        py::arg("generator") = nullptr);
  m.def("_randn", [](const Shape& s, DType d, Generator* g) { return randn(s, d, g); }, py::arg("size"), py::arg("dtype"),
        py::arg("generator") = nullptr);
  m.def("_randint", [](int64_t lo, int64_t hi, const Shape& s, DType d, Generator* g) { return randint(lo, hi, s, d, g); },
        py::arg("low"), py::arg("high"), py::arg("size"), py::arg("dtype"), py::arg("generator") = nullptr);
  m.def("_randperm", [](int64_t n, DType d, Generator* g) { return randperm(n, d, g); }, py::arg("n"), py::arg("dtype"),
        py::arg("generator") = nullptr);
  m.def("_scalar_tensor", [](Scalar s, std::optional<DType> d) {
    Tensor t = scalar_tensor(s, d ? *d : (s.kind == Scalar::Float ? DType::Float32 : s.dtype()));
    t->wrapped_number = false;
    return t;
  });

  // ---- (ops: see the op table, ember/ops/registry.h)
  m.def("one_hot", &one_hot, py::arg("tensor"), py::arg("num_classes") = -1);
}

}  // namespace ember
