// ember.compile's recorder and replay (Note [Capture], cpp/ember/capture/capture.cpp), for
// src/ember/_dynamo/capture.py: start and stop a recording on this thread, pause it around an
// opaque Python call, and run or check a recorded Program.
#include <memory>

#include "common.h"

namespace ember {

namespace {
thread_local std::unique_ptr<capture::Recorder> t_recorder;
thread_local capture::Recorder* t_paused = nullptr;

capture::Recorder& recorder(const char* what) {
  if (!t_recorder) throw std::runtime_error(std::string(what) + ": no capture is recording on this thread");
  return *t_recorder;
}
}  // namespace

void bind_capture(py::module_& m) {
  py::class_<capture::Program, std::shared_ptr<capture::Program>>(m, "_Program")
      .def("mismatch", [](const capture::Program& p, const std::vector<Tensor>& inputs) { return p.mismatch(inputs); })
      .def("run", [](const capture::Program& p, const std::vector<Tensor>& inputs, py::list calls) {
        py::gil_scoped_release nogil;
        return p.run(inputs, [&calls](int k) {
          py::gil_scoped_acquire gil;
          calls[k]();
        });
      })
      .def_property_readonly("n_steps", [](const capture::Program& p) { return p.steps.size(); })
      .def_property_readonly("n_slots", [](const capture::Program& p) { return p.n_slots; })
      .def_property_readonly("n_consts", [](const capture::Program& p) { return p.consts.size(); });
  m.def("_capture_begin", [](const std::vector<Tensor>& inputs) {
    if (t_recorder || t_paused) throw std::runtime_error("_capture_begin: this thread is already recording");
    t_recorder = std::make_unique<capture::Recorder>(inputs);
  });
  // The program, or the reason the recording cannot be replayed.
  m.def("_capture_end", [](const std::vector<Tensor>& outputs) -> py::object {
    capture::Recorder& r = recorder("_capture_end");
    if (t_paused) capture::Recorder::resume(t_paused), t_paused = nullptr;
    std::shared_ptr<capture::Program> p = r.finish(outputs);
    std::string why = r.failure();
    t_recorder.reset();
    if (p) return py::cast(p);
    return py::str(why);
  });
  m.def("_capture_abort", []() {
    if (t_paused) capture::Recorder::resume(t_paused), t_paused = nullptr;
    t_recorder.reset();
  });
  m.def("_capture_fail", [](const std::string& why) { recorder("_capture_fail").fail(why); });
  m.def("_capture_failure", []() { return t_recorder ? t_recorder->failure() : std::string(); });
  m.def("_capture_recording", []() { return capture::Recorder::active() != nullptr; });
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
    recorder("_capture_opaque").add([k](capture::Frame& f) { f.py_call(k); }, {});
  });
}

}  // namespace ember
