// Helpers for elementwise ops: run a lambda over one or two tensors of one floating dtype
// (broadcasting), used by forwards and by fused backward formulas alike.
#pragma once
#include "ember/kernels/loops.h"
#include "ember/ops/ops.h"

namespace ember {

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
