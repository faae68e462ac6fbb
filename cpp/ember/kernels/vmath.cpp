// The SIMD clones of the float32 vector math (vmath.h, Note [Run-time SIMD]).
#include "ember/kernels/vmath.h"

#include <cmath>

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

EMBER_CLONES void gelu_to(const float* x, float* y, int64_t n, bool approx_tanh) {
  if (approx_tanh)  // (two loops: the flag is then a constant in each, and both vectorize)
    for (int64_t i = 0; i < n; ++i) y[i] = vgelu(x[i], true);
  else
    for (int64_t i = 0; i < n; ++i) y[i] = vgelu(x[i], false);
}

EMBER_CLONES void gelu_backward_to(const float* g, const float* x, float* gx, int64_t n, bool approx_tanh) {
  if (approx_tanh)
    for (int64_t i = 0; i < n; ++i) gx[i] = g[i] * vgelu_grad(x[i], true);
  else
    for (int64_t i = 0; i < n; ++i) gx[i] = g[i] * vgelu_grad(x[i], false);
}

EMBER_CLONES void softmax_row(const float* x, float* y, int64_t len, bool log) {
  float mx = x[0];
  for (int64_t i = 1; i < len; ++i) mx = x[i] > mx ? x[i] : mx;
  // no special case for an infinite max: a +inf, or a row of -inf, gives NaN, as torch
  for (int64_t i = 0; i < len; ++i) y[i] = vexp(x[i] - mx);  // (vectorizes; the sum below does not)
  float s = 0;
  for (int64_t i = 0; i < len; ++i) s += y[i];
  if (log) {
    const float ls = std::log(s);
    for (int64_t i = 0; i < len; ++i) y[i] = (x[i] - mx) - ls;  // (x - max) first: large logits stay exact
  } else {
    const float inv = 1.0f / s;
    for (int64_t i = 0; i < len; ++i) y[i] *= inv;
  }
}

}  // namespace ember
