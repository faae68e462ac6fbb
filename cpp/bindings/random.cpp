// ember.Generator (torch.Generator's interface over core/generator.h) and the default generator.
#include <random>

#include "common.h"
#include "ember/core/generator.h"

namespace ember {

void bind_random(py::module_& m) {
  py::class_<Generator, std::shared_ptr<Generator>>(m, "Generator", "A random number generator (xoshiro256**; not torch's stream).")
      .def(py::init([](py::handle device) {
             static py::handle check = py::object(py::module_::import("ember._tensor").attr("_check_device")).release();
             check(device);
             return std::make_shared<Generator>();
           }),
           py::arg("device") = "cpu")
      .def("manual_seed", [](std::shared_ptr<Generator> g, py::int_ seed) {
        // torch accepts any Python int and keeps its low 64 bits
        uint64_t s = PyLong_AsUnsignedLongLongMask(seed.ptr());
        std::lock_guard<std::mutex> l(g->mu);
        g->set(s);
        return g;
      }, py::arg("seed"))
      .def("seed", [](Generator& g) {
        std::random_device rd;
        uint64_t s = ((uint64_t)rd() << 32 | rd()) & 0x7fffffffffffffffULL;
        std::lock_guard<std::mutex> l(g.mu);
        g.set(s);
        return s;
      })
      .def("initial_seed", [](Generator& g) { return g.seed; })
      .def("get_state", [](Generator& g) {
        std::lock_guard<std::mutex> l(g.mu);
        Tensor t = empty({5}, DType::Int64);
        for (int i = 0; i < 4; ++i) t->data<int64_t>()[i] = (int64_t)g.s[i];
        t->data<int64_t>()[4] = (int64_t)g.seed;
        return t;
      })
      .def("_state_key", [](Generator& g) {  // the state as a tuple (vmap's randomness='error' check compares two)
        std::lock_guard<std::mutex> l(g.mu);
        return py::make_tuple(g.s[0], g.s[1], g.s[2], g.s[3], g.seed);
      })
      .def("set_state", [](std::shared_ptr<Generator> g, const Tensor& st) {
        if (st->dtype != DType::Int64 || st->numel() != 5)
          throw std::runtime_error("Generator.set_state: expected a state from ember's Generator.get_state() (5 int64 values), got " +
                                   std::string(dtype_name(st->dtype)) + " " + shape_str(st->shape));
        Tensor c = contiguous(st);
        std::lock_guard<std::mutex> l(g->mu);
        for (int i = 0; i < 4; ++i) g->s[i] = (uint64_t)c->data<int64_t>()[i];
        g->seed = (uint64_t)c->data<int64_t>()[4];
        return g;
      }, py::arg("new_state"))
      .def_property_readonly("device", [](Generator&) { return py::module_::import("ember._tensor").attr("device")("cpu"); })
      .def("_permutation", [](Generator& g, int64_t n) {
        Tensor p = randperm(n, DType::Int64, &g);
        return py::list(py::cast(std::vector<int64_t>(p->data<int64_t>(), p->data<int64_t>() + n)));
      });
  // Note [Batched randomness]: vmap's batched attempt for randomness='same'/'different'.
  py::register_exception<UnbatchedDraw>(m, "_UnbatchedDraw", PyExc_RuntimeError);
  m.def("_batched_randomness_begin", [] {
    BatchedRandomness s = begin_batched_randomness();
    return py::make_tuple(s.watching, s.blocking, s.wrote, s.first);
  });
  m.def("_batched_randomness_end", [](py::tuple t) {
    return end_batched_randomness({t[0].cast<bool>(), t[1].cast<bool>(), t[2].cast<bool>(), t[3].cast<uint64_t>()});
  });
  m.def("_draws_blocked", &set_draws_blocked, py::arg("on"));
  // The process's default generator, shared (never freed) with the C++ side.
  m.attr("default_generator") = std::shared_ptr<Generator>(&default_generator(), [](Generator*) {});
}

}  // namespace ember
