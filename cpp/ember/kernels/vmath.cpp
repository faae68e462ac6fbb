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
  softmax_row_from_max(x, y, len, lane_max(x, len), log);
}

EMBER_CLONES float softmax_lse_row(const float* x, float* p, int64_t len, float* max) {
  const float mx = lane_max(x, len);
  *max = mx;
  if (!(mx > -INFINITY && mx < INFINITY)) return NAN;
  for (int64_t i = 0; i < len; ++i) p[i] = vexp(x[i] - mx);
  const float s = lane_sum<float>(len, [&](int64_t i) { return p[i]; }), inv = 1.0f / s;
  for (int64_t i = 0; i < len; ++i) p[i] *= inv;
  return std::log(s);
}

EMBER_CLONES void relu_to(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] < 0 ? 0.0f : x[i];  // (NaN stays)
}

EMBER_CLONES void relu_backward_to(const float* g, const float* y, float* gx, int64_t n) {
  for (int64_t i = 0; i < n; ++i) gx[i] = y[i] <= 0 ? 0.0f : g[i];
}

}  // namespace ember
