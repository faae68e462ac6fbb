// Free functions of ember._C: the ops under torch's names (ember.add, ember.cat, ...) and the
// raw factories that ember/_factories.py wraps with torch's signatures.
#include "common.h"

namespace ember {

namespace {
template <class F>
auto binary(F f, const char* name) {
  return [f, name](py::handle a, py::handle b) { return f(as_tensor_arg(a, name), as_tensor_arg(b, name)); };
}
std::vector<Tensor> tensor_list(py::handle seq, const char* op) {
  std::vector<Tensor> r;
  for (auto h : seq) {
    if (!py::isinstance<TensorImpl>(h))
      throw TypeError(std::string(op) + "(): expected a sequence of Tensors, but got an element of type " +
                      std::string(py::str(py::type::handle_of(h).attr("__name__"))));
    r.push_back(h.cast<Tensor>());
  }
  return r;
}
}  // namespace

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
  m.def("_rand", &rand);
  m.def("_randn", &randn);
  m.def("_randint", &randint);
  m.def("_randperm", &randperm);
  m.def("_scalar_tensor", [](Scalar s, std::optional<DType> d) {
    Tensor t = scalar_tensor(s, d ? *d : (s.kind == Scalar::Float ? DType::Float32 : s.dtype()));
    t->wrapped_number = false;
    return t;
  });

  // ---- elementwise
  m.def("add", [](py::handle a, py::handle b, Scalar alpha) { return add(as_tensor_arg(a, "add"), as_tensor_arg(b, "add"), alpha); },
        py::arg("input"), py::arg("other"), py::kw_only(), py::arg("alpha") = Scalar::from_int(1));
  m.def("sub", [](py::handle a, py::handle b, Scalar alpha) { return sub(as_tensor_arg(a, "sub"), as_tensor_arg(b, "sub"), alpha); },
        py::arg("input"), py::arg("other"), py::kw_only(), py::arg("alpha") = Scalar::from_int(1));
  m.def("mul", binary([](const Tensor& a, const Tensor& b) { return mul(a, b); }, "mul"));
  m.def("div", binary([](const Tensor& a, const Tensor& b) { return div(a, b); }, "div"));
  m.def("pow", binary([](const Tensor& a, const Tensor& b) { return pow(a, b); }, "pow"));
  m.def("maximum", &maximum);
  m.def("floor_divide", binary([](const Tensor& a, const Tensor& b) { return floor_divide(a, b); }, "floor_divide"));
  m.def("remainder", binary([](const Tensor& a, const Tensor& b) { return remainder(a, b); }, "remainder"));
  m.def("minimum", &minimum);
  m.def("eq", binary([](const Tensor& a, const Tensor& b) { return compare(a, b, CmpOp::Eq); }, "eq"));
  m.def("ne", binary([](const Tensor& a, const Tensor& b) { return compare(a, b, CmpOp::Ne); }, "ne"));
  m.def("lt", binary([](const Tensor& a, const Tensor& b) { return compare(a, b, CmpOp::Lt); }, "lt"));
  m.def("le", binary([](const Tensor& a, const Tensor& b) { return compare(a, b, CmpOp::Le); }, "le"));
  m.def("gt", binary([](const Tensor& a, const Tensor& b) { return compare(a, b, CmpOp::Gt); }, "gt"));
  m.def("ge", binary([](const Tensor& a, const Tensor& b) { return compare(a, b, CmpOp::Ge); }, "ge"));
  m.def("where", [](const Tensor& c, py::handle a, py::handle b) { return where(c, as_tensor_arg(a, "where"), as_tensor_arg(b, "where")); });
  m.def("logical_not", &logical_not);
  for (auto [name, fn] : std::initializer_list<std::pair<const char*, Tensor (*)(const Tensor&)>>{
           {"neg", &neg}, {"abs", &abs}, {"exp", &exp}, {"log", &log}, {"sqrt", &sqrt}, {"sin", &sin},
           {"cos", &cos}, {"tanh", &tanh}, {"erf", &erf}, {"sigmoid", &sigmoid}, {"relu", &relu}, {"sign", &sign}})
    m.def(name, nogil1(fn));
  m.def("clamp", [](const Tensor& t, std::optional<Scalar> lo, std::optional<Scalar> hi) { return clamp(t, lo, hi); },
        py::arg("input"), py::arg("min") = py::none(), py::arg("max") = py::none());

  // ---- reductions
  m.def("_sum", [](const Tensor& t, py::handle dim, bool keepdim) {
    auto d = dims_from(dim);
    return release_gil_if(t->numel() >= kNoGilWork, [&] { return sum(t, d, keepdim); });
  });
  m.def("_mean", [](const Tensor& t, py::handle dim, bool keepdim) {
    auto d = dims_from(dim);
    return release_gil_if(t->numel() >= kNoGilWork, [&] { return mean(t, d, keepdim); });
  });
  m.def("softmax", &softmax, py::arg("input"), py::arg("dim"));
  m.def("log_softmax", &log_softmax, py::arg("input"), py::arg("dim"));

  // ---- products, shapes, indices
  m.def("matmul", &matmul_released);
  m.def("mm", nogil_product(&mm));
  m.def("bmm", nogil_product(&bmm));
  m.def("cat", [](py::handle ts, int64_t dim) { return cat(tensor_list(ts, "cat"), dim); }, py::arg("tensors"), py::arg("dim") = 0);
  m.def("stack", [](py::handle ts, int64_t dim) { return stack(tensor_list(ts, "stack"), dim); }, py::arg("tensors"), py::arg("dim") = 0);
  m.def("gather", &gather, py::arg("input"), py::arg("dim"), py::arg("index"));
  m.def("scatter_add", &scatter_add, py::arg("input"), py::arg("dim"), py::arg("index"), py::arg("src"));
  m.def("index_select", &index_select, py::arg("input"), py::arg("dim"), py::arg("index"));
  m.def("index_add", &index_add, py::arg("input"), py::arg("dim"), py::arg("index"), py::arg("source"));
  m.def("one_hot", &one_hot, py::arg("tensor"), py::arg("num_classes") = -1);
  m.def("nonzero", &nonzero);
  m.def("transpose", &transpose);
  m.def("t", &t);
  m.def("permute", [](const Tensor& a, std::vector<int64_t> d) { return permute(a, d); });
  m.def("reshape", [](const Tensor& a, Shape s) { return reshape(a, s); });
  m.def("unsqueeze", &unsqueeze);
  m.def("squeeze", [](const Tensor& t, std::optional<int64_t> d) { return squeeze(t, d); }, py::arg("input"), py::arg("dim") = py::none());
  m.def("flatten", &flatten, py::arg("input"), py::arg("start_dim") = 0, py::arg("end_dim") = -1);
  m.def("narrow", &narrow);
  m.def("select", &select);
  m.def("clone", &clone);
  m.def("detach", &detach);
}

}  // namespace ember
