// The SIMD clones of the float32 vector math (vmath.h, Note [Run-time SIMD]).
#include "ember/kernels/vmath.h"

namespace ember {

EMBER_CLONES void sigmoid_inplace(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = vsigmoid(x[i]);
}

EMBER_CLONES void tanh_inplace(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = vtanh(x[i]);
}

EMBER_CLONES void sigmoid_to(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = vsigmoid(x[i]);
}

EMBER_CLONES void tanh_to(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = vtanh(x[i]);
}

}  // namespace ember
