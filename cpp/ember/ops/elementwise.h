// Helpers for elementwise ops: run a lambda over one or two tensors of one floating dtype
// (broadcasting), used by forwards and by fused backward formulas alike.
#pragma once
#include "ember/kernels/loops.h"
#include "ember/ops/ops.h"

namespace ember {

// int64 arithmetic wraps on overflow, as torch's does (signed overflow is undefined in C++);
// other types use the plain operator.
template <class T>
inline T wrap_add(T x, T y) {
  if constexpr (std::is_same_v<T, int64_t>) return (int64_t)((uint64_t)x + (uint64_t)y);
  else return x + y;
}
template <class T>
inline T wrap_sub(T x, T y) {
  if constexpr (std::is_same_v<T, int64_t>) return (int64_t)((uint64_t)x - (uint64_t)y);
  else return x - y;
}
template <class T>
inline T wrap_mul(T x, T y) {
  if constexpr (std::is_same_v<T, int64_t>) return (int64_t)((uint64_t)x * (uint64_t)y);
  else return x * y;
}
template <class T>
inline T wrap_neg(T x) {
  if constexpr (std::is_same_v<T, int64_t>) return (int64_t)(0 - (uint64_t)x);
  else return -x;
}
// floor division and Python-style remainder for int64; y == -1 is special (INT64_MIN / -1 traps).
inline int64_t floor_div_i64(int64_t x, int64_t y) {
  if (y == -1) return wrap_neg(x);
  int64_t q = x / y;
  return q - ((x % y != 0) && ((x < 0) != (y < 0)));
}
inline int64_t remainder_i64(int64_t x, int64_t y) {
  if (y == -1) return 0;
  int64_t r = x % y;
  return (r != 0 && ((r < 0) != (y < 0))) ? r + y : r;
}

// out = f(a) elementwise in dtype `d` (a is cast when needed).
template <class Fn>
Tensor map1(const Tensor& a, DType d, const char* name, Fn f) {
  Tensor x = a->dtype == d ? a : cast_nograd(a, d);
  Tensor out = empty(x->shape, d);
  EMBER_DISPATCH_FLOAT(d, name, T, unary_kernel<T, T>(out, x, [&](T v) { return (T)f(v); }));
  return out;
}

// out = f(a, b) elementwise with broadcasting, computed and returned in floating dtype `d`.
template <class Fn>
Tensor map2(const Tensor& a, const Tensor& b, DType d, const char* name, Fn f) {
  Tensor x = a->dtype == d ? a : cast_nograd(a, d);
  Tensor y = b->dtype == d ? b : cast_nograd(b, d);
  Shape s = broadcast_shapes(x->shape, y->shape);
  Tensor out = empty(s, d);
  Tensor xv = make_view(x, s, broadcast_strides(x, s), x->offset);
  Tensor yv = make_view(y, s, broadcast_strides(y, s), y->offset);
  EMBER_DISPATCH_FLOAT(d, name, T, binary_kernel<T, T>(out, xv, yv, [&](T u, T v) { return (T)f(u, v); }));
  return out;
}

}  // namespace ember
