// TensorImpl: metadata (shape, strides in elements, offset, dtype) over a shared Storage, plus
// the autograd fields. `Tensor` is a shared_ptr to it: the one holder type used everywhere.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ember/core/dtype.h"
#include "ember/core/small_vector.h"
#include "ember/core/storage.h"

namespace ember {

using Shape = SmallVec<int64_t, 6>;
struct Node;
struct TensorImpl;
using Tensor = std::shared_ptr<TensorImpl>;
// A gradient hook (Tensor.register_hook): sees the gradient, returns a replacement or null to keep it.
using GradHook = std::function<Tensor(const Tensor&)>;
struct GradHooks {
  std::vector<std::pair<int64_t, GradHook>> list;  // (id, hook), run in registration order
};

// Note [Capture serial]: while a capture records on some thread (cpp/ember/capture/capture.h), every
// new TensorImpl takes a number from one counter, so the recorder can tell a tensor made during its
// recording (which must come from a recorded call) from one that existed before (a constant).
// With no recorder anywhere the serial is 0 and the counter is not touched.
extern std::atomic<int> g_capture_recorders;
extern std::atomic<uint64_t> g_capture_serial;
inline uint64_t capture_serial() {
  return g_capture_recorders.load(std::memory_order_relaxed) ? g_capture_serial.fetch_add(1, std::memory_order_relaxed) + 1
                                                             : 0;
}

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  int64_t offset = 0;
  Shape shape;
  Shape strides;
  DType dtype = DType::Float32;
  bool wrapped_number = false;  // a Python scalar turned into a 0-d tensor (lower promotion priority)
  bool is_view = false;  // produced by a view op (see view_base)
  // Note [View base]: a view keeps the tensor whose storage it shares (the root, never itself a
  // view), so a tracked in-place write through the view can rebase the root's history (CopySlices).
  Tensor view_base;

  // autograd
  bool requires_grad = false;
  bool retains_grad = false;
  Tensor grad;
  std::shared_ptr<Node> grad_fn;       // null for leaves
  uint32_t output_nr = 0;
  std::weak_ptr<Node> grad_accumulator;  // cached AccumulateGrad of a leaf
  std::shared_ptr<GradHooks> leaf_hooks;  // a leaf's register_hook hooks (a non-leaf's live on its grad_fn)
  uint64_t serial = capture_serial();     // Note [Capture serial]

  int64_t dim() const { return (int64_t)shape.size(); }
  int64_t numel() const {
    int64_t n = 1;
    for (auto s : shape) n *= s;
    return n;
  }
  bool is_contiguous() const;
  bool is_leaf() const { return grad_fn == nullptr; }
  char* raw() const { return static_cast<char*>(storage->data) + offset * (int64_t)itemsize(dtype); }
  template <class T> T* data() const { return reinterpret_cast<T*>(raw()); }
  uint32_t version() const { return storage->version; }
  void bump_version() {
    ++storage->version;
    if (g_write_watchers.load(std::memory_order_relaxed)) note_write(*storage);  // Note [Batched randomness]
  }
};

Shape contiguous_strides(const Shape& shape);
int64_t shape_numel(const Shape& shape);
// numel, throwing when it (or its size in bytes with `item`-byte elements) overflows int64
int64_t checked_numel(const Shape& shape, size_t item = 1);
std::string shape_str(const Shape& s);  // "[2, 3]"
inline std::string shape_str(const std::vector<int64_t>& s) { return shape_str(Shape(s.begin(), s.end())); }

// Fresh contiguous tensor (uninitialised).
Tensor empty(const Shape& shape, DType dtype);
// A new TensorImpl over the same storage (a view); no autograd fields.
Tensor make_view(const Tensor& base, const Shape& shape, const Shape& strides, int64_t offset);

// Normalise a possibly negative dim against ndim; IndexError when out of range.
int64_t wrap_dim(int64_t dim, int64_t ndim);

// A Python number crossing into C++ keeps its kind: it decides promotion.
struct Scalar {
  enum Kind : uint8_t { Bool, Int, Float } kind = Float;
  double f = 0;
  int64_t i = 0;
  Scalar() = default;
  Scalar(double v) : kind(Float), f(v), i((int64_t)v) {}
  static Scalar from_int(int64_t v) { Scalar s; s.kind = Int; s.i = v; s.f = (double)v; return s; }
  static Scalar from_bool(bool v) { Scalar s; s.kind = Bool; s.i = v; s.f = v; return s; }
  // Storage type of a wrapped number: floats keep double precision; promotion (result_type) only
  // uses the category, so float32 tensors still compute in float32.
  DType dtype() const { return kind == Bool ? DType::Bool : kind == Int ? DType::Int64 : DType::Float64; }
  template <class T> T to() const { return kind == Float ? (T)f : (T)i; }
};

// 0-d tensor holding a scalar, marked as a wrapped number.
Tensor scalar_tensor(Scalar s);
Tensor scalar_tensor(Scalar s, DType dtype);
// torch's check when a Python number (a wrapped-number 0-d tensor) is written into a tensor of
// dtype d (fill_, x[i] = v, masked_fill, index_fill): RuntimeError "value cannot be converted to
// type int64_t without overflow" for NaN, inf or out-of-range values into integer dtypes.
void check_number_fits(const Tensor& v, DType d);

}  // namespace ember
