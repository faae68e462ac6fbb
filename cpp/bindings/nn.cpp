// Bindings for the fused nn ops and the fused optimizer steps: thin, one call per op or per
// parameter group.
#include <unordered_map>

#include "common.h"
#include "ember/ops/nn.h"
#include "ember/optim/optim.h"

namespace ember {

namespace {
int reduction_code(const std::string& r) {
  if (r == "mean") return kMean;
  if (r == "sum") return kSum;
  if (r == "none") return kNone;
  throw ValueError(r + " is not a valid value for reduction");
}
}  // namespace

namespace {
// Multiply-adds of a chain of linear layers on x (for Note [GIL]).
int64_t mlp_work(const Tensor& x, const std::vector<Tensor>& ws) {
  int64_t rows = x->dim() ? x->numel() / std::max<int64_t>(x->shape.back(), 1) : 1, w = 0;
  for (auto& W : ws) w += W->numel();
  return rows * w;
}
int64_t total_numel(const std::vector<Tensor>& ts) {
  int64_t n = 0;
  for (auto& t : ts) n += t->numel();
  return n;
}
// A Python object a Step keeps (a param group, the Python step to fall back to): released with the GIL.
struct PyRef {
  std::shared_ptr<PyObject> o;
  explicit PyRef(py::handle h) : o(h.inc_ref().ptr(), [](PyObject* p) {
    if (!Py_IsInitialized()) return;
    py::gil_scoped_acquire gil;
    Py_DECREF(p);
  }) {}
  py::object get(const char* key) const {
    // the keys are string literals: each is interned once (PyDict_GetItemString makes a string per call)
    static std::unordered_map<const char*, PyObject*> interned;
    PyObject*& k = interned[key];
    if (!k) k = PyUnicode_InternFromString(key);
    PyObject* v = PyDict_GetItemWithError(o.get(), k);
    if (!v && PyErr_Occurred()) throw py::error_already_set();
    if (!v) throw std::runtime_error(std::string("ember.compile: the optimizer's param group has no '") + key + "' now");
    return py::reinterpret_borrow<py::object>(v);
  }
  void call() const { py::reinterpret_borrow<py::object>(o.get())(); }
};
// A hyper-parameter: a number, a bool or a one-element tensor (torch's _get_value)
double group_num(const PyRef& g, const char* key) {
  py::object v = g.get(key);
  if (py::isinstance<TensorImpl>(v)) return *cast_nograd(v.cast<Tensor>(), DType::Float64)->data<double>();
  return v.cast<double>();
}
}  // namespace

void bind_nn(py::module_& m) {
  m.def("linear", [](const Tensor& x, const Tensor& w, const OptTensor& b) {
          const int64_t work = x->numel() * (w->dim() == 2 ? w->shape[0] : 1);  // Note [GIL]
          return release_gil_if(work >= kNoGilWork, [&] { return EMBER_CAPTURED(linear, x, w, b ? *b : Tensor()); });
        },
        py::arg("input"), py::arg("weight"), py::arg("bias") = py::none());
  m.def("_mlp", [](const Tensor& x, const std::vector<Tensor>& ws, const std::vector<OptTensor>& bs, const std::vector<bool>& relu) {
    std::vector<Tensor> b = opts(bs);
    return release_gil_if(mlp_work(x, ws) >= kNoGilWork, [&] { return EMBER_CAPTURED(mlp, x, ws, b, relu); });
  });
  // Sequential's fast path: when its children are exact Linear / ReLU modules in a chain (each
  // Linear optionally followed by one ReLU) and no hooks are registered, run them as one mlp op.
  // Returns None when the chain does not qualify (the caller then runs the modules one by one).
  // Read fresh on every call, so swapped parameters, added hooks or edited children always count.
  m.def("_sequential_mlp", [](const Tensor& x, const py::list& mods, const py::handle& linear_t, const py::handle& relu_t) -> py::object {
    // Interned once and never released (no Python object may be destroyed after shutdown):
    // PyDict_GetItemString made and hashed a new string per lookup, ~1 us per call of a 5-layer chain.
    static PyObject* const k_hooks = PyUnicode_InternFromString("_forward_hooks");
    static PyObject* const k_pre_hooks = PyUnicode_InternFromString("_forward_pre_hooks");
    static PyObject* const k_params = PyUnicode_InternFromString("_parameters");
    static PyObject* const k_weight = PyUnicode_InternFromString("weight");
    static PyObject* const k_bias = PyUnicode_InternFromString("bias");
    std::vector<Tensor> ws, bs;
    std::vector<bool> relu;
    const size_t n = mods.size();
    for (size_t i = 0; i < n; ++i) {
      py::handle m = mods[i];
      py::handle t = (PyObject*)Py_TYPE(m.ptr());
      PyObject* d = PyObject_GenericGetDict(m.ptr(), nullptr);
      if (!d) throw py::error_already_set();
      py::dict dict = py::reinterpret_steal<py::dict>(d);
      for (PyObject* k : {k_hooks, k_pre_hooks}) {
        PyObject* h = PyDict_GetItem(d, k);
        if (!h || PyObject_IsTrue(h)) return py::none();
      }
      if (t.is(relu_t) && !relu.empty() && !relu.back()) {
        relu.back() = true;
        continue;
      }
      if (!t.is(linear_t)) return py::none();
      PyObject* params = PyDict_GetItem(d, k_params);
      if (!params || !PyDict_Check(params)) return py::none();
      PyObject* w = PyDict_GetItem(params, k_weight);
      PyObject* b = PyDict_GetItem(params, k_bias);
      if (!w || !b || !is_tensor_obj(w) || (b != Py_None && !is_tensor_obj(b))) return py::none();  // (vmap's batched values)
      ws.push_back(py::cast<Tensor>(w));
      bs.push_back(b == Py_None ? Tensor() : py::cast<Tensor>(b));
      relu.push_back(false);
    }
    if (ws.empty()) return py::none();
    Tensor out = release_gil_if(mlp_work(x, ws) >= kNoGilWork, [&] { return EMBER_CAPTURED(mlp, x, ws, bs, relu); });
    return py::cast(out);
  });
  m.def("_batched_linear", [](const Tensor& x, const Tensor& w, const OptTensor& b) {
    return release_gil_if(x->numel() * w->shape.back() >= kNoGilWork, [&] { return EMBER_CAPTURED(batched_linear, x, w, opt(b)); });
  });
  m.def("_batched_mlp", [](const Tensor& x, const std::vector<Tensor>& ws, const std::vector<OptTensor>& bs, const std::vector<bool>& relu) {
    std::vector<Tensor> b = opts(bs);
    return release_gil_if(x->shape.empty() ? 0 : x->numel() / std::max<int64_t>(x->shape.back(), 1) * total_numel(ws) / std::max<int64_t>(x->shape[0], 1) >= kNoGilWork,
                          [&] { return EMBER_CAPTURED(batched_mlp, x, ws, b, relu); });
  });
  m.def("_linear_relu", [](const Tensor& x, const Tensor& w, const OptTensor& b) { return EMBER_CAPTURED(linear, x, w, opt(b), true); });
  // Pooling (F.max_pool2d and friends normalise the arguments in Python; cpp/ember/ops/pool.cpp).
  using Ints = std::vector<int64_t>;
  m.def("_max_pool", [](const Tensor& x, int nd, const Ints& k, const Ints& s, const Ints& p, const Ints& d, bool ceil) {
    return release_gil_if(x->numel() >= kNoGilWork, [&] { return EMBER_CAPTURED(max_pool, x, nd, k, s, p, d, ceil); });
  });
  m.def("_avg_pool", [](const Tensor& x, int nd, const Ints& k, const Ints& s, const Ints& p, bool ceil, bool count_pad,
                        std::optional<int64_t> divisor) {
    return release_gil_if(x->numel() >= kNoGilWork, [&] { return EMBER_CAPTURED(avg_pool, x, nd, k, s, p, ceil, count_pad, divisor); });
  });
  m.def("_adaptive_avg_pool", [](const Tensor& x, int nd, const Ints& size) {
    return release_gil_if(x->numel() >= kNoGilWork, [&] { return EMBER_CAPTURED(adaptive_avg_pool, x, nd, size); });
  });
  m.def("_adaptive_max_pool", [](const Tensor& x, int nd, const Ints& size) {
    return release_gil_if(x->numel() >= kNoGilWork, [&] { return EMBER_CAPTURED(adaptive_max_pool, x, nd, size); });
  });
  // F.unfold / F.fold (src/ember/nn/_fold.py makes torch's pairs; cpp/ember/ops/fold.cpp).
  m.def("_im2col", [](const Tensor& x, const Ints& k, const Ints& d, const Ints& p, const Ints& s) {
    return release_gil_if(x->numel() >= kNoGilWork, [&] { return EMBER_CAPTURED(im2col, x, k, d, p, s); });
  });
  m.def("_col2im", [](const Tensor& x, const Ints& out, const Ints& k, const Ints& d, const Ints& p, const Ints& s) {
    return release_gil_if(x->numel() >= kNoGilWork, [&] { return EMBER_CAPTURED(col2im, x, out, k, d, p, s); });
  });
  // F.interpolate (src/ember/nn/_resize.py normalises torch's arguments; cpp/ember/ops/resize.cpp):
  // exactly one of size / scales, mode a ResizeMode.
  m.def("_upsample", [](const Tensor& x, int mode, const std::optional<Ints>& size,
                        const std::optional<std::vector<double>>& scales, bool align_corners) {
    const Ints sz = size.value_or(Ints());
    const std::vector<double> sc = scales.value_or(std::vector<double>());
    double out_n = x->dim() >= 2 ? (double)x->shape[0] * (double)x->shape[1] : 0;  // the output's size (Note [GIL])
    for (size_t i = 0; i < std::max(sz.size(), sc.size()); ++i)
      out_n *= sz.empty() ? (2 + i < (size_t)x->dim() ? (double)x->shape[2 + i] : 0.0) * sc[i] : (double)sz[i];
    const bool long_work = x->numel() >= kNoGilWork || out_n >= (double)kNoGilWork;
    return release_gil_if(long_work, [&] { return EMBER_CAPTURED(upsample, x, mode, sz, sc, align_corners); });
  });
  m.def("_rnn_layer", [](int mode, const Tensor& xp, const Tensor& h0, const OptTensor& c0, const Tensor& w_hh,
                         const OptTensor& b_hh, const OptTensor& w_hr, bool reverse, const Ints& batch_sizes,
                         int64_t slices) {
    auto r = release_gil_if(xp->numel() * h0->shape.back() >= kNoGilWork, [&] {
      return EMBER_CAPTURED(rnn_layer, mode, xp, h0, opt(c0), w_hh, opt(b_hh), opt(w_hr), reverse, batch_sizes, slices);
    });
    return py::make_tuple(r[0], r[1], r[2] ? py::cast(r[2]) : py::none());
  }, py::arg("mode"), py::arg("xp"), py::arg("h0"), py::arg("c0"), py::arg("w_hh"), py::arg("b_hh"), py::arg("w_hr"),
     py::arg("reverse"), py::arg("batch_sizes"), py::arg("slices") = 0);
  m.def("_sdpa", [](const Tensor& q, const Tensor& k, const Tensor& v, const OptTensor& mask, double scale, bool causal) {
    return release_gil_if(q->numel() * k->shape[k->dim() - 2] >= kNoGilWork,
                          [&] { return EMBER_CAPTURED(scaled_dot_product_attention_fused, q, k, v, opt(mask), scale, causal); });
  });
  m.def("_layer_norm", [](const Tensor& x, int64_t D, const OptTensor& w, const OptTensor& b, double eps) {
    return release_gil_if(x->numel() >= kNoGilWork, [&] { return EMBER_CAPTURED(layer_norm, x, D, opt(w), opt(b), eps); });
  });
  m.def("_gelu", [](const Tensor& x, bool approx_tanh) {
    return release_gil_if(x->numel() >= kNoGilWork, [&] { return EMBER_CAPTURED(gelu, x, approx_tanh); });
  });
  m.def("_mse_loss", [](const Tensor& a, const Tensor& b, const std::string& r) { return EMBER_CAPTURED(mse_loss, a, b, reduction_code(r)); });
  m.def("_cross_entropy", [](const Tensor& x, const Tensor& t, const OptTensor& w, int64_t ii, double ls, const std::string& r) {
    return EMBER_CAPTURED(cross_entropy, x, t, opt(w), ii, ls, reduction_code(r));
  });
  m.def("_nll_loss", [](const Tensor& x, const Tensor& t, const OptTensor& w, int64_t ii, const std::string& r) {
    return EMBER_CAPTURED(nll_loss, x, t, opt(w), ii, reduction_code(r));
  });
  m.def("_bce_with_logits", [](const Tensor& x, const Tensor& t, const OptTensor& w, const OptTensor& pw, const std::string& r) {
    return EMBER_CAPTURED(binary_cross_entropy_with_logits, x, t, opt(w), opt(pw), reduction_code(r));
  });
  m.def("_bce", [](const Tensor& p, const Tensor& t, const OptTensor& w, const std::string& r) {
    return EMBER_CAPTURED(binary_cross_entropy, p, t, opt(w), reduction_code(r));
  });

  // Reads each parameter's .grad itself (skipping None); returns the momentum buffers when it
  // created any (the first step), else None.
  m.def("_sgd_step", [](const std::vector<Tensor>& ps, const std::optional<std::vector<OptTensor>>& bufs, double lr, double momentum,
                        double dampening, double wd, bool nesterov, bool maximize) -> py::object {
    std::vector<Tensor> gs(ps.size());
    for (size_t i = 0; i < ps.size(); ++i) gs[i] = ps[i]->grad;
    std::vector<Tensor> b = bufs ? opts(*bufs) : std::vector<Tensor>(ps.size());
    if (b.size() != ps.size()) throw ValueError("_sgd_step: one momentum buffer slot per parameter expected");
    bool had_all = true;
    for (size_t i = 0; i < ps.size(); ++i) had_all &= !gs[i] || (bool)b[i];
    release_gil_if(total_numel(ps) >= kNoGilWork, [&] { sgd_step(ps, gs, b, lr, momentum, dampening, wd, nesterov, maximize); });
    if (momentum == 0 || had_all) return py::none();
    return py::cast(b);
  });
  m.def("_adam_step", [](const std::vector<Tensor>& ps, const std::vector<Tensor>& gs, const std::vector<Tensor>& m1,
                         const std::vector<Tensor>& m2, const std::vector<OptTensor>& mx, const std::vector<double>& steps,
                         double lr, double b1, double b2, double eps, double wd, bool amsgrad, bool maximize, bool decoupled) {
    std::vector<Tensor> vmax = opts(mx);
    release_gil_if(total_numel(ps) >= kNoGilWork,
                   [&] { adam_step(ps, gs, m1, m2, vmax, steps, lr, b1, b2, eps, wd, amsgrad, maximize, decoupled); });
  });
  m.def("_rmsprop_step", [](const std::vector<Tensor>& ps, const std::vector<Tensor>& gs, const std::vector<Tensor>& sq,
                            const std::vector<OptTensor>& mom_, const std::vector<OptTensor>& ga, double lr, double alpha,
                            double eps, double wd, double momentum, bool centered, bool maximize) {
    std::vector<Tensor> mom = opts(mom_);
    std::vector<Tensor> gavg = opts(ga);
    release_gil_if(total_numel(ps) >= kNoGilWork,
                   [&] { rmsprop_step(ps, gs, sq, mom, gavg, lr, alpha, eps, wd, momentum, centered, maximize); });
  });
  m.def("_adagrad_step", [](const std::vector<Tensor>& ps, const std::vector<Tensor>& gs, const std::vector<Tensor>& ss,
                            const std::vector<double>& steps, double lr, double lr_decay, double wd, double eps, bool maximize) {
    release_gil_if(total_numel(ps) >= kNoGilWork, [&] { adagrad_step(ps, gs, ss, steps, lr, lr_decay, wd, eps, maximize); });
  });
  // ---- a compiled step's optimizer (Note [Capture]): after an eager step() of the group while
  // recording, the replay runs the same fused update reading the group's hyper-parameters then (a
  // scheduler's lr counts without a new recording); `fallback` (the Python step) runs instead
  // when the state the update needs is missing (momentum turned on, amsgrad turned on).
  m.def("_capture_sgd", [](py::dict group, const std::vector<Tensor>& ps, const std::vector<OptTensor>& bufs_,
                           py::object fallback) {
    auto* r = capture::Recorder::active();
    if (!r) throw std::runtime_error("_capture_sgd: not recording");
    std::vector<Tensor> bufs = opts(bufs_);
    PyRef g(group), fb(fallback);
    r->add("sgd_step", [ps, bufs, g, fb](capture::Frame&) {
      py::gil_scoped_acquire gil;
      const double lr = group_num(g, "lr"), momentum = group_num(g, "momentum");
      std::vector<Tensor> b = bufs;
      for (size_t i = 0; i < ps.size(); ++i)
        if (momentum != 0 && ps[i]->grad && !b[i]) return (void)fb.call();
      std::vector<Tensor> gs(ps.size());
      for (size_t i = 0; i < ps.size(); ++i) gs[i] = ps[i]->grad;
      const double dampening = group_num(g, "dampening"), wd = group_num(g, "weight_decay");
      const bool nesterov = group_num(g, "nesterov") != 0, maximize = group_num(g, "maximize") != 0;
      release_gil_if(total_numel(ps) >= kNoGilWork, [&] { sgd_step(ps, gs, b, lr, momentum, dampening, wd, nesterov, maximize); });
    }, {});
  });
  m.def("_capture_adam", [](py::dict group, const std::vector<Tensor>& ps, const std::vector<OptTensor>& m1_,
                            const std::vector<OptTensor>& m2_, const std::vector<OptTensor>& mx, const std::vector<OptTensor>& steps_,
                            py::object fallback) {
    auto* r = capture::Recorder::active();
    if (!r) throw std::runtime_error("_capture_adam: not recording");
    std::vector<Tensor> vmax = opts(mx), m1 = opts(m1_), m2 = opts(m2_), steps = opts(steps_);
    PyRef g(group), fb(fallback);
    r->add("adam_step", [ps, m1, m2, vmax, steps, g, fb](capture::Frame&) {
      py::gil_scoped_acquire gil;
      const bool amsgrad = group_num(g, "amsgrad") != 0;
      std::vector<Tensor> P, G, A, B, M, S;
      std::vector<double> n;
      for (size_t i = 0; i < ps.size(); ++i) {
        if (!ps[i]->grad) continue;
        if (!m1[i] || (amsgrad && !vmax[i])) return (void)fb.call();  // no state yet: the Python step makes it
        P.push_back(ps[i]), G.push_back(ps[i]->grad), A.push_back(m1[i]), B.push_back(m2[i]), M.push_back(vmax[i]);
        S.push_back(steps[i]);
        n.push_back((double)*steps[i]->data<float>() + 1);
      }
      if (P.empty()) return;
      py::tuple betas = g.get("betas").cast<py::tuple>();
      const double lr = group_num(g, "lr"), eps = group_num(g, "eps"), wd = group_num(g, "weight_decay");
      const bool maximize = group_num(g, "maximize") != 0, decoupled = group_num(g, "decoupled_weight_decay") != 0;
      const double b1 = betas[0].cast<double>(), b2 = betas[1].cast<double>();
      release_gil_if(total_numel(P) >= kNoGilWork,
                     [&] { adam_step(P, G, A, B, M, n, lr, b1, b2, eps, wd, amsgrad, maximize, decoupled); });
      for (auto& t : S) {  // the step counts, as _count_steps advances them
        *t->data<float>() += 1.0f;
        t->bump_version();
      }
    }, {});
  });
  m.def("_capture_zero_grads", [](const std::vector<Tensor>& ps, bool set_to_none) {
    auto* r = capture::Recorder::active();
    if (!r) throw std::runtime_error("_capture_zero_grads: not recording");
    r->add("zero_grads", [ps, set_to_none](capture::Frame&) { zero_grads(ps, set_to_none); }, {});
  });
  m.def("_zero_grads", [](const std::vector<Tensor>& ps, bool set_to_none) { EMBER_CAPTURED(zero_grads, ps, set_to_none); });
  // DataLoader fast path: rows idx[start:end] of every tensor, one call per batch.
  m.def("_gather_batch", [](const std::vector<Tensor>& ts, const Tensor& idx, int64_t start, int64_t end) {
    return capture::call("_gather_batch", [](const std::vector<Tensor>& ts, const Tensor& idx, int64_t start, int64_t end) {
      Tensor b = narrow(idx, 0, start, end - start);
      std::vector<Tensor> out;
      out.reserve(ts.size());
      for (auto& t : ts) out.push_back(index_select(t, 0, b));
      return out;
    }, ts, idx, start, end);
  });
  // The rows of a batch as a Python list (a Subset's mapped indices): one index_select per tensor,
  // or None when a row is not a Python int in [0, rows) (the per-sample path then decides what
  // such an index means, or raises).
  m.def("_gather_rows", [](const std::vector<Tensor>& ts, py::list rows) -> py::object {
    const int64_t n = ts.empty() || ts[0]->dim() == 0 ? 0 : ts[0]->shape[0];
    Tensor idx = empty({(int64_t)rows.size()}, DType::Int64);
    int64_t* p = idx->data<int64_t>();
    for (size_t i = 0; i < rows.size(); ++i) {
      PyObject* o = PyList_GET_ITEM(rows.ptr(), (Py_ssize_t)i);
      if (!PyLong_CheckExact(o)) return py::none();
      int overflow = 0;
      const long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
      if (overflow || v < 0 || v >= n) return py::none();
      p[i] = v;
    }
    if (auto* r = capture::Recorder::active()) r->constant(idx);  // made from the Python list: a constant
    std::vector<Tensor> out;
    out.reserve(ts.size());
    for (auto& t : ts) out.push_back(EMBER_CAPTURED(index_select, t, 0, idx));
    return py::cast(out);
  });
  // default_collate's common cases in one call (no per-sample Python): a batch of tensors -> their
  // stack, of Python ints -> an int64 tensor, of Python floats -> a float64 tensor; a batch of
  // equal-length plain tuples/lists of those -> a list with one such result per field; a batch of
  // plain dicts with the same str keys -> a dict in the first sample's key order. None for
  // anything else (default_collate's Python rules then apply; nothing here runs user code).
  m.def("_collate_tensors", [](py::handle batch) -> py::object {
    PyObject* b = batch.ptr();
    if (!PyList_Check(b) && !PyTuple_Check(b)) return py::none();
    const Py_ssize_t n = PySequence_Fast_GET_SIZE(b);
    if (n == 0) return py::none();
    PyObject** items = PySequence_Fast_ITEMS(b);
    // One field across the batch; a null object when it is not all tensors, ints or floats.
    auto leaf = [n](const std::vector<PyObject*>& col) -> py::object {
      PyObject* first = col[0];
      if (PyLong_CheckExact(first) || PyFloat_CheckExact(first)) {
        const bool ints = PyLong_CheckExact(first);
        Tensor out = empty({n}, ints ? DType::Int64 : DType::Float64);
        for (Py_ssize_t i = 0; i < n; ++i) {
          if (ints) {
            if (!PyLong_CheckExact(col[i])) return py::object();
            int overflow = 0;
            const long long v = PyLong_AsLongLongAndOverflow(col[i], &overflow);
            if (overflow) return py::object();
            out->data<int64_t>()[i] = v;
          } else {
            if (!PyFloat_CheckExact(col[i])) return py::object();
            out->data<double>()[i] = PyFloat_AS_DOUBLE(col[i]);
          }
        }
        return py::cast(out);
      }
      std::vector<Tensor> ts(n);
      for (Py_ssize_t i = 0; i < n; ++i) {
        py::detail::make_caster<Tensor> c;
        if (!c.load(col[i], false)) return py::object();
        ts[i] = py::detail::cast_op<Tensor>(c);
      }
      return py::cast(stack(ts, 0));
    };
    std::vector<PyObject*> col(items, items + n);
    PyTypeObject* tp = Py_TYPE(items[0]);
    if (tp != &PyTuple_Type && tp != &PyList_Type && tp != &PyDict_Type) {
      py::object r = leaf(col);
      return r ? r : py::none();
    }
    if (tp == &PyDict_Type) {
      PyObject* first = items[0];
      py::dict out;
      PyObject *key, *value;
      Py_ssize_t pos = 0;
      while (PyDict_Next(first, &pos, &key, &value)) {
        if (!PyUnicode_CheckExact(key)) return py::none();
        for (Py_ssize_t i = 0; i < n; ++i) {
          if (Py_TYPE(items[i]) != &PyDict_Type || PyDict_GET_SIZE(items[i]) != PyDict_GET_SIZE(first)) return py::none();
          col[i] = PyDict_GetItemWithError(items[i], key);  // str keys: no user code, no error
          if (!col[i]) {
            PyErr_Clear();
            return py::none();
          }
        }
        py::object r = leaf(col);
        if (!r) return py::none();
        out[key] = r;
      }
      return std::move(out);
    }
    const Py_ssize_t k = PySequence_Fast_GET_SIZE(items[0]);
    for (Py_ssize_t i = 0; i < n; ++i)
      if (Py_TYPE(items[i]) != tp || PySequence_Fast_GET_SIZE(items[i]) != k) return py::none();
    py::list out(k);
    for (Py_ssize_t j = 0; j < k; ++j) {
      for (Py_ssize_t i = 0; i < n; ++i) col[i] = PySequence_Fast_ITEMS(items[i])[j];
      py::object r = leaf(col);
      if (!r) return py::none();
      out[j] = r;
    }
    return std::move(out);
  });
  // Note [torch function]: the layers and losses nn.functional calls hand foreign arguments on
  for (const char* name : {"linear", "_linear_relu", "_mlp", "_gelu", "_layer_norm", "_mse_loss", "_cross_entropy",
                           "_nll_loss", "_bce", "_bce_with_logits", "_max_pool", "_avg_pool", "_adaptive_avg_pool",
                           "_adaptive_max_pool", "_sdpa", "_upsample", "_im2col", "_col2im", "_rnn_layer"})
    torch_function_fallback(m, name);
}

}  // namespace ember
