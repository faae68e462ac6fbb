// ember.compile's recorder and replay (Note [Capture], cpp/ember/capture/capture.cpp), for
// src/ember/_dynamo/capture.py: start and stop a recording on this thread, pause it around an
// opaque Python call, and run or check a recorded Program.
#include <memory>

#include "common.h"

namespace ember {

namespace {
thread_local std::unique_ptr<capture::Recorder> t_recorder;
thread_local capture::Recorder* t_paused = nullptr;
thread_local std::vector<py::object> t_reads;  // the floats Tensor.item() returned while recording

capture::Recorder& recorder(const char* what) {
  if (!t_recorder) throw std::runtime_error(std::string(what) + ": no capture is recording on this thread");
  return *t_recorder;
}
}  // namespace

// Note [Capture guards] (src/ember/_dynamo/capture.py): the Python state a recording read, compared
// by identity on every call before a replay. Holds what it compares (and so keeps it alive).
struct PyGuard {
  std::vector<std::pair<py::dict, std::vector<std::pair<py::object, py::object>>>> dicts;  // whole dicts
  std::vector<std::tuple<py::dict, py::object, py::object>> keys;                           // one entry
  std::vector<std::pair<py::object, py::object>> cells;                                     // cell, content
  std::vector<std::pair<py::object, std::vector<py::object>>> seqs;                         // list, items
  py::object missing;  // a key's expected value when it must be absent

  // -1 when everything holds, else the index (in the order above) of the first that does not
  int64_t check() const {
    int64_t i = 0;
    for (auto& [d, items] : dicts) {
      if ((size_t)PyDict_GET_SIZE(d.ptr()) != items.size()) return i;
      for (auto& [k, v] : items)
        if (PyDict_GetItemWithError(d.ptr(), k.ptr()) != v.ptr()) {
          PyErr_Clear();
          return i;
        }
      ++i;
    }
    for (auto& [d, k, v] : keys) {
      PyObject* got = PyDict_GetItemWithError(d.ptr(), k.ptr());
      if (!got) PyErr_Clear();
      if (got != (v.ptr() == missing.ptr() ? nullptr : v.ptr())) return i;
      ++i;
    }
    for (auto& [c, v] : cells) {  // (an empty cell's expected content is the cell itself)
      if (PyCell_GET(c.ptr()) != (v.ptr() == c.ptr() ? nullptr : v.ptr())) return i;
      ++i;
    }
    for (auto& [s, items] : seqs) {
      PyObject* o = s.ptr();
      const Py_ssize_t n = PySequence_Fast_GET_SIZE(o);
      if ((size_t)n != items.size()) return i;
      PyObject** it = PySequence_Fast_ITEMS(o);
      for (Py_ssize_t j = 0; j < n; ++j)
        if (it[j] != items[j].ptr()) return i;
      ++i;
    }
    return -1;
  }
};

void capture_value_read(const Tensor& t, const py::object& value, const std::string& why) {
  capture::Recorder* r = capture::Recorder::active();
  if (!r) return;
  if (!PyFloat_CheckExact(value.ptr())) return r->fail(why);  // (ints and bools are shared objects: not traceable)
  r->value_read(t, why);
  t_reads.push_back(value);
}

void bind_capture(py::module_& m) {
  py::class_<PyGuard>(m, "_Guard")
      .def(py::init([](py::list dicts, py::list keys, py::list cells, py::list seqs, py::object missing) {
        auto g = std::make_unique<PyGuard>();
        g->missing = missing;
        for (auto e : dicts) {
          py::tuple t = e.cast<py::tuple>();
          std::vector<std::pair<py::object, py::object>> items;
          for (auto kv : t[1].cast<py::tuple>()) {
            py::tuple p = kv.cast<py::tuple>();
            items.emplace_back(p[0], p[1]);
          }
          g->dicts.emplace_back(t[0].cast<py::dict>(), std::move(items));
        }
        for (auto e : keys) {
          py::tuple t = e.cast<py::tuple>();
          g->keys.emplace_back(t[0].cast<py::dict>(), t[1], t[2]);
        }
        for (auto e : cells) {
          py::tuple t = e.cast<py::tuple>();
          if (!PyCell_Check(t[0].ptr())) throw TypeError("_Guard: a cell expected");
          g->cells.emplace_back(t[0], t[1]);
        }
        for (auto e : seqs) {
          py::tuple t = e.cast<py::tuple>();
          if (!PyList_Check(t[0].ptr()) && !PyTuple_Check(t[0].ptr())) throw TypeError("_Guard: a list or tuple expected");
          std::vector<py::object> items;
          for (auto x : t[1].cast<py::tuple>()) items.push_back(py::reinterpret_borrow<py::object>(x));
          g->seqs.emplace_back(t[0], std::move(items));
        }
        return g;
      }))
      .def("check", &PyGuard::check);

  py::class_<capture::Program, std::shared_ptr<capture::Program>>(m, "_Program")
      // The guards, then the replay: the results, or None when a guard does not hold (one call per step).
      .def("replay", [](const capture::Program& p, const std::vector<Tensor>& inputs, py::list calls,
                        const PyGuard& guard) -> py::object {
        if (guard.check() >= 0 || !p.mismatch(inputs).empty()) return py::none();
        std::vector<Tensor> out = release_gil_if(p.work >= kNoGilWork, [&] {
          return p.run(inputs, [&calls](int k) {
            py::gil_scoped_acquire gil;
            calls[k]();
          });
        });
        return py::cast(out);
      })
      .def_property_readonly("n_steps", [](const capture::Program& p) { return p.steps.size(); })
      .def_property_readonly("n_reads", [](const capture::Program& p) { return p.reads.size(); })
      .def_property_readonly("step_names", [](const capture::Program& p) { return p.names; });
  m.def("_capture_begin", [](const std::vector<Tensor>& inputs) {
    if (t_recorder || t_paused) throw std::runtime_error("_capture_begin: this thread is already recording");
    t_reads.clear();
    t_recorder = std::make_unique<capture::Recorder>(inputs);
  });
  // (the program or None, the reason it cannot be replayed, the floats Tensor.item() returned)
  m.def("_capture_end", [](const std::vector<Tensor>& outputs) -> py::tuple {
    capture::Recorder& r = recorder("_capture_end");
    if (t_paused) capture::Recorder::resume(t_paused), t_paused = nullptr;
    std::shared_ptr<capture::Program> p = r.finish(outputs);
    std::string why = r.failure();
    t_recorder.reset();
    py::list reads;
    for (auto& v : t_reads) reads.append(v);
    t_reads.clear();
    return py::make_tuple(p ? py::cast(p) : py::none(), why, reads);
  });
  m.def("_capture_abort", []() {
    if (t_paused) capture::Recorder::resume(t_paused), t_paused = nullptr;
    t_recorder.reset();
    t_reads.clear();
  });
  m.def("_capture_pause", []() {
    if (!t_recorder || t_paused) throw std::runtime_error("_capture_pause: not recording");
    t_paused = capture::Recorder::pause();
  });
  m.def("_capture_resume", []() {
    if (!t_paused) throw std::runtime_error("_capture_resume: not paused");
    capture::Recorder::resume(t_paused);
    t_paused = nullptr;
  });
  // A step that calls the replay's k-th Python callable (an optimizer's step()).
  m.def("_capture_opaque", [](int k) {
    recorder("_capture_opaque").add("python", [k](capture::Frame& f) { f.py_call(k); }, {});
  });
}

}  // namespace ember
