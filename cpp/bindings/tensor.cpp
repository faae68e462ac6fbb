// The Tensor class: properties, methods and operators bound straight to the C++ ops (no Python
// wrapper class), and numpy interop. Python-only conveniences are added in ember/_tensor.py.
#include <limits>

#include "common.h"

namespace ember {

namespace {
py::handle size_type;  // ember.Size, set from Python at import (a leaked reference: see max_min)

// ember.Size is a plain tuple subclass: allocated as one, as tuple's own constructor does for
// subclasses, without building a tuple first and calling the type on it.
py::object make_size(const Shape& s) {
  PyTypeObject* tp = size_type ? (PyTypeObject*)size_type.ptr() : &PyTuple_Type;
  PyObject* r = tp == &PyTuple_Type ? PyTuple_New((Py_ssize_t)s.size()) : tp->tp_alloc(tp, (Py_ssize_t)s.size());
  if (!r) throw py::error_already_set();
  py::object out = py::reinterpret_steal<py::object>(r);
  for (size_t i = 0; i < s.size(); ++i) {
    PyObject* v = PyLong_FromLongLong(s[i]);
    if (!v) throw py::error_already_set();
    PyTuple_SET_ITEM(r, (Py_ssize_t)i, v);
  }
  return out;
}

Tensor alias_for_init(const Tensor& src) {
  Tensor t = detach(src);
  t->is_view = false;
  return t;
}
}  // namespace

py::object tensor_to_numpy(const Tensor& t, bool force) {
  if (t->requires_grad && !force)
    throw std::runtime_error("Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead.");
  if (t->dtype == DType::BFloat16) throw TypeError("Got unsupported ScalarType BFloat16");
  const char* fmt = dtype_name(t->dtype);  // numpy spells every other dtype as ember does
  std::vector<py::ssize_t> shape(t->shape.begin(), t->shape.end()), strides;
  for (auto s : t->strides) strides.push_back(s * (py::ssize_t)itemsize(t->dtype));
  // Note [numpy base]: the capsule owns a reference to the storage, so the array keeps it alive.
  auto* keep = new std::shared_ptr<Storage>(t->storage);
  py::capsule base(keep, [](void* p) { delete static_cast<std::shared_ptr<Storage>*>(p); });
  return py::array(py::dtype(fmt), shape, strides, t->raw(), base);
}

Tensor tensor_from_numpy(py::array arr, bool copy, std::optional<DType> dtype) {
  char kind = arr.dtype().kind();
  int64_t isz = arr.itemsize();
  DType d;
  if (kind == 'f' && isz == 4) d = DType::Float32;
  else if (kind == 'f' && isz == 8) d = DType::Float64;
  else if (kind == 'f' && isz == 2) d = DType::Float16;
  else if (kind == 'i' && isz == 8) d = DType::Int64;
  else if (kind == 'i' && isz == 4) d = DType::Int32;
  else if (kind == 'i' && isz == 2) d = DType::Int16;
  else if (kind == 'i' && isz == 1) d = DType::Int8;
  else if (kind == 'u' && isz == 1) d = DType::UInt8;
  else if (kind == 'b') d = DType::Bool;
  else if (copy && kind == 'u') d = DType::Int64;  // uint16/32/64: values kept in int64
  else if (copy && kind == 'f') d = DType::Float32;
  else
    throw TypeError("can't convert np.ndarray of type numpy." + std::string(py::str(arr.dtype())) +
                    ". The only supported types are: float64, float32, float16, int64, int32, int16, int8, uint8, and bool.");
  if (d == DType::Int64 && isz != 8) arr = py::array::ensure(arr.attr("astype")("int64"));
  if (d == DType::Float32 && isz != 4) arr = py::array::ensure(arr.attr("astype")("float32"));
  Shape shape, strides;
  for (py::ssize_t i = 0; i < arr.ndim(); ++i) {
    shape.push_back(arr.shape(i));
    py::ssize_t st = arr.strides(i);
    if (st < 0)
      throw ValueError("At least one stride in the given numpy array is negative, and tensors with negative strides "
                       "are not currently supported. (You can probably work around this by making a copy of your array "
                       "with array.copy().)");
    if (st % (py::ssize_t)itemsize(d)) throw ValueError("given numpy array strides not a multiple of the element byte size");
    strides.push_back(st / (int64_t)itemsize(d));
  }
  auto owner = new py::object(py::reinterpret_borrow<py::object>(arr));
  auto t = std::make_shared<TensorImpl>();
  t->storage = std::make_shared<Storage>(const_cast<void*>(arr.data()), 0, [owner]() {
    if (!Py_IsInitialized()) {  // after shutdown: drop the wrapper without touching Python
      owner->release();
      delete owner;
      return;
    }
    py::gil_scoped_acquire g;
    delete owner;
  });
  t->shape = shape;
  t->strides = strides;
  t->dtype = d;
  Tensor r = t;
  if (copy) {
    Tensor c = empty(shape, dtype.value_or(d));
    copy_into(c, r);
    r = c;
  }
  return r;
}

void bind_tensor(py::module_& m) {
  py::class_<TensorImpl, std::shared_ptr<TensorImpl>> cls(m, "Tensor", py::dynamic_attr());
  m.def("_set_size_type", [](py::object t) { size_type = t.release(); });
  m.def("_from_numpy", [](py::array a) { return tensor_from_numpy(a, false, std::nullopt); });
  // torch's checkpoint format (src/ember/_torch_zip.py): a tensor's storage as (identity, bytes; 0
  // for foreign memory such as a numpy array's), its bytes, and a tensor over a flat storage tensor.
  m.def("_storage_info", [](const Tensor& t) {
    return py::make_tuple(reinterpret_cast<uintptr_t>(t->storage.get()), t->storage->nbytes);
  });
  m.def("_storage_bytes", [](const Tensor& t) {
    return py::bytes(static_cast<const char*>(t->storage->data), t->storage->nbytes);
  });
  // Note [Shared memory]: move a storage into a memfd, ask whether it is there, its (fd, offset,
  // bytes), and a flat tensor over another process's shared storage.
  m.def("_share_memory", [](const Tensor& t) { share_storage(*t->storage); });
  m.def("_is_shared", [](const Tensor& t) { return t->storage->shm_fd >= 0; });
  m.def("_shared_handle", [](const Tensor& t) {
    const Storage& s = *t->storage;
    if (s.shm_fd < 0) throw ValueError("_shared_handle: the tensor is not in shared memory");
    return py::make_tuple(s.shm_fd, s.shm_offset, s.nbytes);
  });
  m.def("_from_shared", [](int fd, size_t offset, size_t nbytes, DType dtype) {
    size_t isz = itemsize(dtype);
    if (nbytes % isz)
      throw ValueError("_from_shared: " + std::to_string(nbytes) + " bytes is not a whole number of " + dtype_name(dtype));
    auto t = std::make_shared<TensorImpl>();
    t->storage = map_shared(fd, offset, nbytes);
    t->shape = Shape{(int64_t)(nbytes / isz)};
    t->strides = Shape{1};
    t->dtype = dtype;
    return Tensor(t);
  });
  m.def("_as_strided", [](const Tensor& base, const Shape& size, const Shape& stride, int64_t offset) {
    // every element of the view inside the flat base (checked: the sizes come from a file)
    if (base->dim() != 1 || !base->is_contiguous() || base->offset != 0)
      throw ValueError("_as_strided: the base must be a flat contiguous tensor");
    if (size.size() != stride.size()) throw ValueError("_as_strided: size and stride differ in length");
    if (offset < 0) throw ValueError("_as_strided: negative storage offset " + std::to_string(offset));
    int64_t last = offset;
    bool empty_view = false;
    for (size_t i = 0; i < size.size(); ++i) {
      if (size[i] < 0 || stride[i] < 0)
        throw ValueError("_as_strided: negative size or stride (" + shape_str(size) + ", " + shape_str(stride) + ")");
      if (size[i] == 0) empty_view = true;
      else if (stride[i] > 0 && (size[i] - 1) > (std::numeric_limits<int64_t>::max() - last) / stride[i])
        throw ValueError("_as_strided: the view's extent overflows");
      else last += (size[i] - 1) * stride[i];
    }
    if (!empty_view && last >= base->numel())
      throw ValueError("_as_strided: a view of size " + shape_str(size) + ", stride " + shape_str(stride) + " and offset " +
                       std::to_string(offset) + " reaches element " + std::to_string(last) + " of a storage of " +
                       std::to_string(base->numel()));
    checked_numel(size, itemsize(base->dtype));
    return make_view(base, size, stride, offset);
  });
  m.def("_from_numpy_copy", [](py::array a, std::optional<DType> d) { return tensor_from_numpy(a, true, d); },
        py::arg("a"), py::arg("dtype") = py::none());

  cls.def(py::init([](const Tensor& src) { return EMBER_CAPTURED(alias_for_init, src); }))
      // Legacy constructor ember.Tensor(data) / ember.Tensor(2, 3): built in Python, aliased here.
      .def(py::init([](py::args a) {
        static py::handle legacy = py::object(py::module_::import("ember._factories").attr("_legacy_new")).release();
        return alias_for_init(legacy(*a).cast<Tensor>());
      }))
      // ---- metadata
      .def_property_readonly("shape", [](const Tensor& t) { return make_size(t->shape); })
      .def("size", [](const Tensor& t, py::handle dim) -> py::object {
        if (dim.is_none()) return make_size(t->shape);
        return py::int_(t->shape.empty() ? (wrap_dim(dim.cast<int64_t>(), 0), 1) : t->shape[wrap_dim(dim.cast<int64_t>(), t->dim())]);
      }, py::arg("dim") = py::none())
      .def("stride", [](const Tensor& t, py::handle dim) -> py::object {
        if (dim.is_none()) return py::tuple(py::cast(t->strides));
        return py::int_(t->strides[wrap_dim(dim.cast<int64_t>(), t->dim())]);
      }, py::arg("dim") = py::none())
      .def_property_readonly("dtype", [](const Tensor& t) { return t->dtype; })
      .def_property_readonly("ndim", [](const Tensor& t) { return t->dim(); })
      .def("dim", [](const Tensor& t) { return t->dim(); })
      .def("ndimension", [](const Tensor& t) { return t->dim(); })
      .def("numel", [](const Tensor& t) { return t->numel(); })
      .def("nelement", [](const Tensor& t) { return t->numel(); })
      .def("element_size", [](const Tensor& t) { return itemsize(t->dtype); })
      .def("storage_offset", [](const Tensor& t) { return t->offset; })
      .def("data_ptr", [](const Tensor& t) { return reinterpret_cast<uintptr_t>(t->raw()); })
      .def("is_contiguous", [](const Tensor& t) { return t->is_contiguous(); })
      .def("is_floating_point", [](const Tensor& t) { return is_floating(t->dtype); })
      .def_property_readonly("_version", [](const Tensor& t) { return t->version(); })
      .def_property_readonly("_is_view", [](const Tensor& t) { return t->is_view; })
      .def("__len__", [](const Tensor& t) {
        if (t->dim() == 0) throw TypeError("len() of a 0-d tensor");
        return t->shape[0];
      })
      // ---- autograd fields
      .def_property("requires_grad", [](const Tensor& t) { return t->requires_grad; },
                    [](const Tensor& t, bool v) {
                      if (!t->is_leaf() && !v)
                        throw std::runtime_error("you can only change requires_grad flags of leaf variables. If you want to use a computed variable in a subgraph that doesn't require differentiation use var_no_grad = var.detach().");
                      if (v && !is_floating(t->dtype))
                        throw std::runtime_error(std::string("only Tensors of floating point dtype can require gradients (got ") + dtype_name(t->dtype) + ")");
                      capture::call("requires_grad", [](const Tensor& t, bool v) { t->requires_grad = v; }, t, v);
                    })
      .def("requires_grad_", [](const Tensor& t, bool v) {
        if (!t->is_leaf() && !v) throw std::runtime_error("you can only change requires_grad flags of leaf variables.");
        if (v && !is_floating(t->dtype))
          throw std::runtime_error(std::string("only Tensors of floating point dtype can require gradients (got ") + dtype_name(t->dtype) + ")");
        capture::call("requires_grad_", [](const Tensor& t, bool v) { t->requires_grad = v; }, t, v);
        return t;
      }, py::arg("requires_grad") = true)
      .def_property("grad", [](const Tensor& t) {
                      if (auto* r = capture::Recorder::active()) r->read_grad(t);
                      return t->grad;
                    },
                    [](const Tensor& t, py::handle g) {
                      if (g.is_none()) {
                        capture::call("grad=", [](const Tensor& t) { t->grad.reset(); }, t);
                        return;
                      }
                      if (!py::isinstance<TensorImpl>(g)) throw TypeError("assigned grad expected to be a Tensor or None but got " + std::string(py::str(py::type::handle_of(g).attr("__name__"))));
                      Tensor v = g.cast<Tensor>();
                      if (v->shape != t->shape) throw std::runtime_error("assigned grad has data of a different size (" + shape_str(v->shape) + " vs " + shape_str(t->shape) + ")");
                      if (v->dtype != t->dtype) throw std::runtime_error(std::string("assigned grad has data of a different type (") + dtype_name(v->dtype) + " vs " + dtype_name(t->dtype) + ")");
                      capture::call("grad=", [](const Tensor& t, const Tensor& v) { t->grad = v; }, t, v);
                    })
      .def_property_readonly("grad_fn", [](const Tensor& t) -> py::object {
        if (!t->grad_fn) return py::none();
        return py::cast(t->grad_fn);
      })
      .def_property_readonly("is_leaf", [](const Tensor& t) { return t->is_leaf(); })
      .def_property_readonly("retains_grad", [](const Tensor& t) { return t->retains_grad; })
      .def("_register_hook", [](const Tensor& t, py::function fn) {
        capture_refuse("a tensor hook was registered (register_hook)");
        // The hook may be destroyed with its node on a thread without the GIL: the holder takes it.
        std::shared_ptr<PyObject> holder(fn.release().ptr(), [](PyObject* o) {
          py::gil_scoped_acquire gil;
          Py_DECREF(o);
        });
        return register_hook(t, [holder](const Tensor& g) -> Tensor {
          py::gil_scoped_acquire gil;
          py::object r = py::reinterpret_borrow<py::object>(holder.get())(g);
          if (r.is_none()) return Tensor();
          if (!py::isinstance<TensorImpl>(r))
            throw TypeError(std::string("hook should return None or a Tensor, got ") + Py_TYPE(r.ptr())->tp_name);
          return r.cast<Tensor>();
        });
      })
      .def("_become_view", [](Tensor t, const Tensor& v) {
        capture_refuse("_become_view was called");
        become_view_(t, v);
      })
      .def("_remove_hook", [](const Tensor& t, int64_t id) {
        capture_refuse("a tensor hook was removed");
        remove_hook(t, id);
      })
      .def("retain_grad", [](const Tensor& t) {
        if (!t->requires_grad) throw std::runtime_error("can't retain_grad on Tensor that has requires_grad=False");
        capture::call("retain_grad", [](const Tensor& t) {
          if (t->is_leaf() || t->retains_grad) return;
          t->retains_grad = true;
          t->grad_fn->retained.push_back({t->output_nr, t});
        }, t);
      })
      .def("backward", [](const Tensor& t, const OptTensor& gradient, py::handle retain_graph, bool create_graph, py::handle inputs) {
        // retain_graph defaults to create_graph, as torch's
        const bool keep = retain_graph.is_none() ? create_graph : retain_graph.cast<bool>();
        std::vector<Tensor> ins = backward_inputs(inputs);
        if (create_graph) warn_backward_create_graph();
        py::gil_scoped_release nogil;
        capture::call("backward", [](const Tensor& t, const Tensor& g, bool keep, bool create, const std::vector<Tensor>& ins) {
          run_backward({t}, {g}, keep, true, ins, false, create);
        }, t, opt(gradient), keep, create_graph, ins);
        if (auto* r = capture::Recorder::active()) r->after_backward();
      }, py::arg("gradient") = py::none(), py::arg("retain_graph") = py::none(), py::arg("create_graph") = false,
         py::arg("inputs") = py::none())
      .def("detach_", [](const Tensor& t) {
        capture::call("detach_", [](const Tensor& t) {
          t->grad_fn.reset();
          t->requires_grad = false;
        }, t);
        return t;
      })
      .def_property("data", [](const Tensor& t) { return EMBER_CAPTURED(alias_for_init, t); },
                    [](const Tensor& t, const Tensor& src) {
                      capture::call("data=", [](const Tensor& t, const Tensor& src) {
                        t->storage = src->storage;
                        t->offset = src->offset;
                        t->shape = src->shape;
                        t->strides = src->strides;
                        t->dtype = src->dtype;
                      }, t, src);
                    })
      // ---- conversion
      .def("numpy", [](const Tensor& t, bool force) {
        capture_refuse("Tensor.numpy() read a tensor's values into Python");
        return tensor_to_numpy(t, force);
      }, py::arg("force") = false)
      .def("item", [](const Tensor& t) -> py::object {
        if (t->numel() != 1)
          throw std::runtime_error("a Tensor with " + std::to_string(t->numel()) + " elements cannot be converted to Scalar");
        py::object v;
        switch (t->dtype) {
          case DType::Float32: v = py::float_(*t->data<float>()); break;
          case DType::Float64: v = py::float_(*t->data<double>()); break;
          case DType::Int64: v = py::int_(*t->data<int64_t>()); break;
          case DType::Bool: v = py::bool_(*t->data<bool>()); break;
          default:
            if (is_floating(t->dtype)) v = py::float_(*cast_nograd(t, DType::Float64)->data<double>());
            else v = py::int_(*cast_nograd(t, DType::Int64)->data<int64_t>());
        }
        capture_value_read(t, v, "Tensor.item() read a tensor's value into Python");
        return v;
      })
      .def("float", [](const Tensor& t) { return EMBER_CAPTURED(to_dtype, t, DType::Float32); })
      .def("double", [](const Tensor& t) { return EMBER_CAPTURED(to_dtype, t, DType::Float64); })
      .def("long", [](const Tensor& t) { return EMBER_CAPTURED(to_dtype, t, DType::Int64); })
      .def("bool", [](const Tensor& t) { return EMBER_CAPTURED(to_dtype, t, DType::Bool); })
      .def("int", [](const Tensor& t) { return EMBER_CAPTURED(to_dtype, t, DType::Int32); })
      .def("short", [](const Tensor& t) { return EMBER_CAPTURED(to_dtype, t, DType::Int16); })
      .def("char", [](const Tensor& t) { return EMBER_CAPTURED(to_dtype, t, DType::Int8); })
      .def("byte", [](const Tensor& t) { return EMBER_CAPTURED(to_dtype, t, DType::UInt8); })
      .def("half", [](const Tensor& t) { return EMBER_CAPTURED(to_dtype, t, DType::Float16); })
      .def("bfloat16", [](const Tensor& t) { return EMBER_CAPTURED(to_dtype, t, DType::BFloat16); })
      .def("_to_dtype", [](const Tensor& t, DType d, bool copy) {
        return capture::call("_to_dtype", [](const Tensor& t, DType d, bool copy) { return copy && t->dtype == d ? clone(t) : to_dtype(t, d); },
                             t, d, copy);
      })
      // ---- views
      .def_property_readonly("T", [](const Tensor& x) {
        std::vector<int64_t> p;
        for (int64_t i = x->dim() - 1; i >= 0; --i) p.push_back(i);
        return EMBER_CAPTURED(permute, x, p);
      })
      .def_property_readonly("mT", [](const Tensor& x) { return EMBER_CAPTURED(mT, x); })
      // ---- in place (the rest come from the op table)
      .def("copy_", [](Tensor t, const Tensor& src) { return capture::call("copy_", [](Tensor t, const Tensor& src) { return copy_(t, src); }, t, src); })
      .def("copy_", [](py::object self, py::object src) -> py::object {  // Note [torch function]
        if (!py::hasattr(py::type::handle_of(src), "__torch_function__"))
          throw py::type_error(std::string("copy_(): argument 'src' must be Tensor, not ") + Py_TYPE(src.ptr())->tp_name);
        return py::type::handle_of(src).attr("__torch_function__")(py::type::of<TensorImpl>().attr("copy_"),
                                                                   py::make_tuple(py::type::handle_of(src)),
                                                                   py::make_tuple(self, src), py::dict());
      })
      .def("fill_", [](Tensor t, py::handle v) {
        if (py::isinstance<TensorImpl>(v)) capture_refuse("fill_() was given a tensor's value");
        Tensor val = as_tensor_arg(v, "fill_");
        if (val->numel() != 1) throw std::runtime_error("fill_ only supports 0-dimension value tensor but got tensor with " + std::to_string(val->dim()) + " dimensions.");
        Scalar s;
        if (is_storage_only(val->dtype)) val = cast_nograd(val, compute_type(val->dtype));
        EMBER_DISPATCH_ALL(val->dtype, T, s = std::is_floating_point_v<T> ? Scalar((double)*val->data<T>()) : Scalar::from_int((int64_t)*val->data<T>()));
        return capture::call("fill_", [](Tensor t, Scalar s) { return fill_(t, s); }, t, s);
      })
      .def("zero_", [](Tensor t) { return capture::call("zero_", [](Tensor t) { return zero_(t); }, t); })
      .def("__bool__", [](const Tensor& t) {
        capture_refuse("Tensor.__bool__() read a tensor's value into Python");
        if (t->numel() != 1) throw std::runtime_error("Boolean value of Tensor with more than one value is ambiguous");
        Tensor b = cast_nograd(t, DType::Bool);
        return *b->data<bool>();
      })
      .def("__float__", [](const Tensor& t) {
        capture_refuse("Tensor.__float__() read a tensor's value into Python");
        if (t->numel() != 1) throw TypeError("only one element tensors can be converted to Python scalars");
        return *cast_nograd(t, DType::Float64)->data<double>();
      })
      .def("__int__", [](const Tensor& t) {
        capture_refuse("Tensor.__int__() read a tensor's value into Python");
        if (t->numel() != 1) throw TypeError("only one element tensors can be converted to Python scalars");
        return *cast_nograd(t, DType::Int64)->data<int64_t>();
      })
      .def("__index__", [](const Tensor& t) {
        capture_refuse("Tensor.__index__() read a tensor's value into Python");
        if (t->numel() != 1 || category(t->dtype) != 1) throw TypeError("only integer tensors of a single element can be converted to an index");
        return *cast_nograd(t, DType::Int64)->data<int64_t>();
      });
  bind_indexing(cls);
}

}  // namespace ember
