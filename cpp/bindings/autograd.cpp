// Autograd bindings: grad_fn objects, the single-call backward / autograd.grad, and the node
// behind ember.autograd.Function (its backward runs in Python).
#include "common.h"

namespace ember {

namespace {
// Note [Python function node]: holds the Python backward (and through it ctx); it is dropped on
// release so that ctx's saved tensors are freed with the graph. Touching it needs the GIL.
// The Python Function node whose backward runs on this thread (for ctx.saved_tensors' outputs).
thread_local Node* t_running_function = nullptr;

struct PyFunctionNode : Node {
  py::object backward_fn;
  bool once_differentiable = false;  // its backward runs under no_grad: a double backward through it raises
  std::string nm;
  std::vector<Shape> out_shapes;
  std::vector<DType> out_dtypes;
  std::vector<Shape> in_shapes;
  std::vector<Tensor> apply(std::vector<Tensor>& grads) override {
    py::gil_scoped_acquire gil;
    if (!backward_fn)
      throw std::runtime_error("Trying to backward through the graph a second time (or directly access saved tensors after they have already been freed). Specify retain_graph=True if you need to backward through the graph a second time.");
    py::tuple args(grads.size());
    for (size_t i = 0; i < grads.size(); ++i)
      args[i] = py::cast(grads[i] ? grads[i] : zeros(out_shapes[i], out_dtypes[i]));
    struct Running {
      Node* prev;
      explicit Running(Node* n) : prev(t_running_function) { t_running_function = n; }
      ~Running() { t_running_function = prev; }
    } running(this);
    py::object res = backward_fn(*args);
    py::tuple r = py::isinstance<py::tuple>(res) ? res.cast<py::tuple>() : py::make_tuple(res);
    if (r.size() != next.size())
      throw std::runtime_error("function " + nm + " returned an incorrect number of gradients (expected " +
                               std::to_string(next.size()) + ", got " + std::to_string(r.size()) + ")");
    std::vector<Tensor> out(next.size());
    for (size_t i = 0; i < next.size(); ++i) {
      if (r[i].is_none() || !needs(i)) continue;
      Tensor g = as_tensor_arg(r[i], "autograd.Function backward");
      if (g->shape != in_shapes[i]) {
        Shape b = broadcast_shapes(g->shape, in_shapes[i]);
        if (b != in_shapes[i] && g->numel() != shape_numel(in_shapes[i]))
          throw std::runtime_error("Function " + nm + " returned an invalid gradient at index " + std::to_string(i) +
                                   " - got " + shape_str(g->shape) + " but expected shape compatible with " +
                                   shape_str(in_shapes[i]));
        g = g->numel() == shape_numel(in_shapes[i]) ? reshape(g, in_shapes[i]) : expand(g, in_shapes[i]);
      }
      out[i] = g;
    }
    return out;
  }
  std::string name() const override { return nm; }
  // Under create_graph the Python backward runs with grad mode on, as torch's: differentiable when it uses
  // differentiable ops (a backward marked once_differentiable runs under no_grad in Python and returns
  // gradients that raise when differentiated).
  bool differentiable() const override { return !once_differentiable; }
  void release_saved() override {
    py::gil_scoped_acquire gil;
    backward_fn = py::object();
  }
  ~PyFunctionNode() override {
    if (backward_fn && Py_IsInitialized()) {
      py::gil_scoped_acquire gil;
      backward_fn = py::object();
    }
  }
};
}  // namespace

void bind_autograd(py::module_& m) {
  py::class_<Node, std::shared_ptr<Node>>(m, "Node")
      .def("name", &Node::name)
      .def("_torch_layout", &Node::torch_layout)
      .def("__repr__", [](py::handle self) -> std::string {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%p", (void*)self.ptr());
        return "<" + self.cast<Node&>().name() + " object at " + buf + ">";
      })
      .def_property_readonly("next_functions", [](const Node& n) {
        py::tuple t(n.next.size());
        for (size_t i = 0; i < n.next.size(); ++i)
          t[i] = py::make_tuple(n.next[i].fn ? py::cast(n.next[i].fn) : py::none(), n.next[i].input_nr);
        return t;
      })
      .def_property_readonly("variable", [](const Node& n) -> py::object {
        if (auto* a = dynamic_cast<const AccumulateGrad*>(&n)) return py::cast(a->variable);
        throw py::attribute_error("'" + n.name() + "' object has no attribute 'variable'");
      });

  m.def("_backward", [](std::vector<Tensor> roots, const std::vector<OptTensor>& grads, bool keep_graph, bool create_graph,
                        py::handle inputs) {
    std::vector<Tensor> gs = opts(grads);
    std::vector<Tensor> ins = backward_inputs(inputs);
    if (create_graph) warn_backward_create_graph();
    py::gil_scoped_release nogil;
    capture::call("backward", [](const std::vector<Tensor>& roots, const std::vector<Tensor>& gs, bool keep, bool create,
                                 const std::vector<Tensor>& ins) {
      run_backward(roots, gs, keep, true, ins, false, create);
    }, roots, gs, keep_graph, create_graph, ins);
    if (auto* r = capture::Recorder::active()) r->after_backward();
  });
  m.def("_grad", [](std::vector<Tensor> outputs, const std::vector<OptTensor>& grads, std::vector<Tensor> inputs, bool keep_graph,
                    bool allow_unused, bool create_graph) {
    std::vector<Tensor> gs = opts(grads);
    py::gil_scoped_release nogil;
    return capture::call("grad", [](const std::vector<Tensor>& outputs, const std::vector<Tensor>& gs, bool keep,
                                    const std::vector<Tensor>& inputs, bool allow_unused, bool create) {
      return run_backward(outputs, gs, keep, false, inputs, allow_unused, create);
    }, outputs, gs, keep_graph, inputs, allow_unused, create_graph);
  });
  // inputs: one entry per forward argument (None for non-tensors).
  // ctx.saved_tensors under create_graph: a saved output (kept without history, Note [Saved tensors])
  // gets the running Function's node back as its grad_fn, so a double backward sees through it.
  m.def("_saved_output", [](const Tensor& t, uint32_t output_nr) {
    if (!t_running_function || !GradMode::is_enabled()) return t;
    Tensor o = make_view(t, t->shape, t->strides, t->offset);
    set_history(o, t_running_function->shared_from_this(), output_nr);
    return o;
  });
  m.def("_attach_function", [](std::vector<Tensor> outputs, const std::vector<OptTensor>& inputs_, py::object backward_fn,
                               std::string name, bool once_differentiable) {
    capture_refuse("a Python autograd.Function ran");
    std::vector<Tensor> inputs = opts(inputs_);
    if (!GradMode::is_enabled()) return;
    bool any = false;
    for (auto& t : inputs) any |= t && t->requires_grad;
    if (!any) return;
    auto n = std::make_shared<PyFunctionNode>();
    n->backward_fn = std::move(backward_fn);
    n->nm = std::move(name);
    n->once_differentiable = once_differentiable;
    for (auto& t : inputs) {
      n->next.push_back(t && t->requires_grad ? gradient_edge(t) : Edge{});
      n->in_shapes.push_back(t ? t->shape : Shape{});
    }
    n->num_outputs = (uint32_t)outputs.size();
    for (size_t i = 0; i < outputs.size(); ++i) {
      n->out_shapes.push_back(outputs[i]->shape);
      n->out_dtypes.push_back(outputs[i]->dtype);
      if (is_floating(outputs[i]->dtype)) set_history(outputs[i], n, (uint32_t)i);
    }
  });
}

}  // namespace ember
