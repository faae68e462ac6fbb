// Tensor.__getitem__ / __setitem__: basic indices (int, slice, None, ...) become views; integer
// and boolean tensor indices become one advanced-indexing copy (index_tensors / index_put_).
#include "common.h"
#include "ember/ops/registry.h"

namespace ember {

namespace {
// A Python int (or __index__ object) used as an index; ValueError on overflow, as torch.
int64_t index_int(py::handle h) {
  int overflow = 0;
  int64_t v = PyLong_AsLongLongAndOverflow(h.ptr(), &overflow);
  if (overflow) throw ValueError("Overflow when unpacking long long");
  if (v == -1 && PyErr_Occurred()) throw py::error_already_set();
  return v;
}
struct Parsed {
  Tensor view;                 // after basic indexing
  std::vector<int64_t> dims;   // advanced index positions in `view`
  std::vector<Tensor> adv;     // broadcast int64 index tensors
};

Tensor index_tensor_from(py::handle h) {
  if (py::isinstance<TensorImpl>(h)) return h.cast<Tensor>();
  py::object np = py::module_::import("numpy");
  py::array arr = np.attr("asarray")(h);
  char k = arr.dtype().kind();
  if (k != 'i' && k != 'u' && k != 'b')
    throw IndexError("tensors used as indices must be long, int, byte or bool tensors");
  return tensor_from_numpy(arr, true, k == 'b' ? DType::Bool : DType::Int64);
}

// One item of an index, converted from Python (tensors and lists as index tensors).
struct IndexItem {
  enum Kind : uint8_t { None, Ellipsis, Int, Slice, Tensor_ } kind = None;
  int64_t i = 0;
  std::optional<int64_t> start, stop, step;
  Tensor t;
};
using Index = std::vector<IndexItem>;

Index convert_index(py::handle index) {
  std::vector<py::object> objs;
  if (py::isinstance<py::tuple>(index)) {
    for (auto h : index) objs.push_back(py::reinterpret_borrow<py::object>(h));
  } else {
    objs.push_back(py::reinterpret_borrow<py::object>(index));
  }
  Index items(objs.size());
  for (size_t i = 0; i < objs.size(); ++i) {
    py::handle h = objs[i];
    IndexItem& it = items[i];
    if (h.is_none()) continue;
    if (h.ptr() == Py_Ellipsis) { it.kind = IndexItem::Ellipsis; continue; }
    if (PyBool_Check(h.ptr())) throw IndexError("ember does not support indexing with a Python bool");
    if (PySlice_Check(h.ptr())) {
      py::slice sl = py::reinterpret_borrow<py::slice>(h);
      auto get = [](py::handle v) -> std::optional<int64_t> {
        if (v.is_none()) return std::nullopt;
        return index_int(v);
      };
      it.kind = IndexItem::Slice;
      it.start = get(sl.attr("start"));
      it.stop = get(sl.attr("stop"));
      it.step = get(sl.attr("step"));
      continue;
    }
    if (PyLong_Check(h.ptr()) || (!py::isinstance<TensorImpl>(h) && PyIndex_Check(h.ptr()))) {
      it.kind = IndexItem::Int;
      it.i = index_int(h);
      continue;
    }
    if (py::isinstance<TensorImpl>(h) || PySequence_Check(h.ptr())) {
      it.kind = IndexItem::Tensor_;
      const bool made = !py::isinstance<TensorImpl>(h);
      it.t = index_tensor_from(h);
      if (made)  // from a Python list: a constant of the recorded step (Note [Capture])
        if (auto* r = capture::Recorder::active()) r->constant(it.t);
      continue;
    }
    throw IndexError("only integers, slices (`:`), ellipsis (`...`), None and long or bool tensors are valid indices (got " +
                     std::string(py::str(py::type::handle_of(h).attr("__name__"))) + ")");
  }
  return items;
}

Parsed parse(const Tensor& self, const Index& items) {
  // Classify: consumed dims, for Ellipsis expansion.
  int64_t consumed = 0;
  bool ellipsis = false;
  std::vector<Tensor> tens(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    const IndexItem& h = items[i];
    if (h.kind == IndexItem::None) continue;
    if (h.kind == IndexItem::Ellipsis) {
      if (ellipsis) throw IndexError("an index can only have a single ellipsis ('...')");
      ellipsis = true;
      continue;
    }
    if (h.kind == IndexItem::Slice || h.kind == IndexItem::Int) { consumed++; continue; }
    tens[i] = h.t;
    // torch: a uint8 index is a mask; the other integer dtypes index as int64 does
    if (tens[i]->dtype == DType::UInt8) tens[i] = cast_nograd(tens[i], DType::Bool);
    else if (category(tens[i]->dtype) == 1 && tens[i]->dtype != DType::Int64) tens[i] = cast_nograd(tens[i], DType::Int64);
    if (tens[i]->dtype == DType::Bool) consumed += std::max<int64_t>(tens[i]->dim(), 1);
    else if (tens[i]->dtype == DType::Int64) consumed++;
    else throw IndexError(std::string("tensors used as indices must be long, int, byte or bool tensors (got ") + dtype_name(tens[i]->dtype) + ")");
  }
  if (consumed > self->dim())
    throw IndexError("too many indices for tensor of dimension " + std::to_string(self->dim()) + " (got " +
                     std::to_string(consumed) + ")");
  Parsed p;
  Tensor cur = self;
  int64_t d = 0, nones = 0, ints = 0;  // d: position in cur; d - nones + ints: the dim of self (messages)
  for (size_t i = 0; i < items.size(); ++i) {
    const IndexItem& h = items[i];
    if (h.kind == IndexItem::None) { cur = unsqueeze(cur, d); d++; nones++; continue; }
    if (h.kind == IndexItem::Ellipsis) { d += self->dim() - consumed; continue; }
    if (tens[i]) {
      Tensor t = tens[i];
      if (t->dtype == DType::Bool) {
        int64_t k = t->dim();
        if (k == 0) throw IndexError("ember does not support indexing with a 0-d bool tensor");
        for (int64_t j = 0; j < k; ++j)
          if (t->shape[j] != cur->shape[d + j])
            throw IndexError("The shape of the mask " + shape_str(t->shape) + " at index " + std::to_string(j) +
                             " does not match the shape of the indexed tensor " + shape_str(cur->shape) + " at index " +
                             std::to_string(d + j));
        Tensor nz = nonzero(t);
        for (int64_t j = 0; j < k; ++j) {
          p.dims.push_back(d + j);
          NoGradGuard g;
          p.adv.push_back(contiguous(select(nz, 1, j)));
        }
        d += k;
      } else {
        p.dims.push_back(d);
        p.adv.push_back(t);
        d++;
      }
      continue;
    }
    if (h.kind == IndexItem::Slice) {
      cur = slice(cur, d, h.start, h.stop, h.step.value_or(1));
      d++;
      continue;
    }
    int64_t v = h.i;
    if (d < cur->dim() && (v < -cur->shape[d] || v >= cur->shape[d]))
      throw IndexError("index " + std::to_string(v) + " is out of bounds for dimension " + std::to_string(d - nones + ints) +
                       " with size " + std::to_string(cur->shape[d]));
    cur = select(cur, d, v);  // int: consumes the dim
    ints++;
  }
  if (!p.adv.empty()) broadcast_indices(p.adv);
  p.view = cur;
  return p;
}

Tensor getitem(const Tensor& self, const Index& index) {
  Parsed p = parse(self, index);
  if (p.adv.empty()) return p.view;
  return index_tensors(p.view, p.dims, p.adv);
}

void setitem(Tensor self, const Index& index, Tensor v) {
  check_inplace(self, "__setitem__");
  if (v->storage == self->storage) v = clone(v);  // overlapping source and destination
  const bool track = GradMode::is_enabled() && (self->requires_grad || v->requires_grad);
  auto assign = [&](Tensor& target) {
    Parsed p = parse(target, index);
    setitem_(target, p.view, p.dims, p.adv, v);
  };
  if (track && (self->is_view || !self->is_contiguous())) {
    // a write through a view: done on a copy, which then rebases the root (Note [CopySlices])
    inplace_apply(self, v->requires_grad, "__setitem__", [&](const Tensor& c) {
      Tensor t = c;
      assign(t);
      return t;
    });
    return;
  }
  assign(self);
}
}  // namespace

// An index item's tensor is kept as a slot (Note [Capture]).
namespace capture {
template <>
struct Kept<IndexItem> {
  using type = std::pair<IndexItem, int>;
  static type keep(Recorder& r, const IndexItem& it) {
    type k{it, it.kind == IndexItem::Tensor_ ? r.in(it.t) : -1};
    k.first.t.reset();
    return k;
  }
  static IndexItem get(const Frame& f, const type& k) {
    IndexItem it = k.first;
    if (it.kind == IndexItem::Tensor_) it.t = f.at(k.second);
    return it;
  }
  static void uses(const type& k, std::vector<int>& u) { u.push_back(k.second); }
};
}  // namespace capture

namespace {
// x[i] with a Python int is the per-sample path of a user's Dataset.__getitem__: it goes straight
// from the type's mp_subscript slot to select(), skipping pybind11's dispatch. Anything else, and
// any error (raised again there with its proper translation; select has no side effects), takes
// the pybind11-bound __getitem__ below.
binaryfunc g_bound_subscript = nullptr;
PyObject* int_subscript(PyObject* self, PyObject* key) {
  if (PyLong_CheckExact(key)) {
    try {
      py::detail::make_caster<Tensor> c;
      int overflow = 0;
      const long long v = PyLong_AsLongLongAndOverflow(key, &overflow);
      if (!overflow && !(v == -1 && PyErr_Occurred()) && c.load(self, false))
        return py::cast(EMBER_CAPTURED(select, py::detail::cast_op<const Tensor&>(c), 0, (int64_t)v)).release().ptr();
    } catch (...) {
    }
    PyErr_Clear();
  }
  return g_bound_subscript(self, key);
}
}  // namespace

void bind_indexing(py::class_<TensorImpl, std::shared_ptr<TensorImpl>>& cls) {
  cls.def("__getitem__", [](const Tensor& self, py::handle index) {  // (a Python int: int_subscript above)
    return EMBER_CAPTURED(getitem, self, convert_index(index));
  });
  PyTypeObject* tp = (PyTypeObject*)cls.ptr();
  g_bound_subscript = tp->tp_as_mapping->mp_subscript;
  tp->tp_as_mapping->mp_subscript = int_subscript;
  PyType_Modified(tp);
  cls.def("__setitem__", [](Tensor self, py::handle index, py::handle value) -> py::object {
    if (!is_tensor_obj(value) && py::hasattr(py::type::handle_of(value), "__torch_function__")) {  // Note [torch function]
      py::object setitem = py::type::of<TensorImpl>().attr("__setitem__");
      return py::type::handle_of(value).attr("__torch_function__")(setitem, py::make_tuple(py::type::handle_of(value)),
                                                                   py::make_tuple(py::cast(self), index, value), py::dict());
    }
    const bool made = !py::isinstance<TensorImpl>(value);
    Tensor v = as_tensor_arg(value, "__setitem__");
    if (made)  // a Python number or list: a constant of the recorded step
      if (auto* r = capture::Recorder::active()) r->constant(v);
    EMBER_CAPTURED(setitem, self, convert_index(index), v);
    return py::none();
  });
}

}  // namespace ember
