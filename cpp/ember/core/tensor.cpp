// TensorImpl helpers: strides, views, dim wrapping and scalar tensors.
#include "ember/core/tensor.h"

namespace ember {

Shape contiguous_strides(const Shape& shape) {
  Shape st(shape.size());
  int64_t s = 1;
  for (int64_t i = (int64_t)shape.size() - 1; i >= 0; --i) {
    st[i] = s;
    s *= shape[i] > 0 ? shape[i] : 1;
  }
  return st;
}

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (auto s : shape) n *= s;
  return n;
}

std::string shape_str(const Shape& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) r += ", ";
    r += std::to_string(s[i]);
  }
  return r + "]";
}

bool TensorImpl::is_contiguous() const {
  int64_t expected = 1;
  for (int64_t i = (int64_t)shape.size() - 1; i >= 0; --i) {
    if (shape[i] == 1) continue;
    if (shape[i] == 0) return true;
    if (strides[i] != expected) return false;
    expected *= shape[i];
  }
  return true;
}

int64_t checked_numel(const Shape& shape, size_t item) {
  int64_t n = 1;
  bool zero = false;
  for (auto s : shape) zero |= s == 0;
  if (!zero)
    for (auto s : shape)
      if (__builtin_mul_overflow(n, s, &n)) n = -1;
  int64_t bytes;
  if (n < 0 || __builtin_mul_overflow(zero ? 0 : n, (int64_t)item, &bytes))
    throw std::runtime_error("the number of elements of a tensor of shape " + shape_str(shape) + " overflows int64");
  return zero ? 0 : n;
}

Tensor empty(const Shape& shape, DType dtype) {
  for (auto s : shape)
    if (s < 0)
      throw std::runtime_error("Trying to create tensor with negative dimension " + std::to_string(s) + ": " +
                               shape_str(shape));
  const int64_t n = checked_numel(shape, itemsize(dtype));
  auto t = std::make_shared<TensorImpl>();
  t->storage = std::make_shared<Storage>((size_t)n * itemsize(dtype));
  t->shape = shape;
  t->strides = contiguous_strides(shape);
  t->dtype = dtype;
  return t;
}

Tensor make_view(const Tensor& base, const Shape& shape, const Shape& strides, int64_t offset) {
  auto t = std::make_shared<TensorImpl>();
  t->storage = base->storage;
  t->shape = shape;
  t->strides = strides;
  t->offset = offset;
  t->dtype = base->dtype;
  return t;
}

int64_t wrap_dim(int64_t dim, int64_t ndim) {
  int64_t n = ndim == 0 ? 1 : ndim;  // a 0-d tensor accepts dim 0 and -1, as torch
  if (dim < -n || dim >= n)
    throw IndexError("Dimension out of range (expected to be in range of [" + std::to_string(-n) + ", " +
                     std::to_string(n - 1) + "], but got " + std::to_string(dim) + ")");
  return dim < 0 ? dim + n : dim;
}

Tensor scalar_tensor(Scalar s, DType dtype) {
  Tensor t = empty({}, dtype);
  EMBER_DISPATCH_STORAGE(dtype, T, *t->data<T>() = s.to<T>());
  t->wrapped_number = true;
  return t;
}

void storage_dtype_reached_kernel(DType d) {
  throw std::logic_error(std::string("ember internal error: a ") + dtype_name(d) +
                         " tensor reached a kernel without converting to its compute dtype (please report)");
}

Tensor scalar_tensor(Scalar s) { return scalar_tensor(s, s.dtype()); }

void check_number_fits(const Tensor& v, DType d) {
  if (!v || !v->wrapped_number || is_floating(d) || d == DType::Bool || v->dtype == DType::Bool) return;
  double lo, hi;
  const char* cname;
  switch (d) {
    case DType::UInt8: lo = 0, hi = 255, cname = "uint8_t"; break;
    case DType::Int8: lo = -128, hi = 127, cname = "int8_t"; break;
    case DType::Int16: lo = -32768, hi = 32767, cname = "int16_t"; break;
    case DType::Int32: lo = -2147483648.0, hi = 2147483647.0, cname = "int"; break;
    default: lo = -9223372036854775808.0, hi = 9223372036854775807.0, cname = "int64_t"; break;
  }
  bool fits;
  if (is_floating(v->dtype)) {
    double x = v->dtype == DType::Float64 ? *v->data<double>() : (double)*v->data<float>();
    fits = x >= lo && x < hi + 1;  // NaN fails both
  } else {
    int64_t x = *v->data<int64_t>();
    fits = d == DType::Int64 || (x >= (int64_t)lo && x <= (int64_t)hi);
  }
  if (!fits) throw std::runtime_error(std::string("value cannot be converted to type ") + cname + " without overflow");
}

}  // namespace ember
