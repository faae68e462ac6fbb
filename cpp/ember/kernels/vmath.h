// Vectorizable float32 exp, log, tanh and sigmoid: branch-free (selects, no calls) so that a loop of
// them compiles to SIMD in each clone of Note [Run-time SIMD]; libm's expf / logf / tanhf are calls,
// one element at a time, and were half of an LSTM step. Cephes' polynomials: exp within 2 ulp,
// tanh within 3 ulp, over the whole float range (exp's argument is clamped where float overflows,
// and e^x is 0 where it would be subnormal). float64 keeps libm.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "ember/kernels/simd.h"

namespace ember {

EMBER_INLINE float vexp(float x) {
  const float x0 = x;
  x = x < -87.33f ? -87.33f : x;  // e^x stays a normal float: 2^n with n in [-126, 127]
  x = x > 88.37f ? 88.37f : x;
  const float magic = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  const float n = (x * 1.44269504088896341f + magic) - magic;
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const uint32_t bits = (uint32_t)((int32_t)n + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return x0 < -87.33f ? 0.0f : p * scale;  // below, e^x is subnormal (< 1.2e-38): 0, as e^-inf
}

// log(x), Cephes' logf polynomial (within 2 ulp) for positive x, subnormals scaled up first;
// log(0) = -inf, log(+inf) = +inf, NaN for a negative or NaN x, as std::log.
EMBER_INLINE float vlog(float x) {
  // (every arm is computed and then selected: with a computation inside a select's arm GCC kept
  // the branch, and the loop did not vectorize)
  const bool sub = x < 1.17549435e-38f;  // (also true for 0 and negatives: their result is selected below)
  const float scaled = x * 8388608.0f;   // * 2^23
  const float v = sub ? scaled : x;
  uint32_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  const int32_t e = (int32_t)(bits >> 23) - (sub ? 126 + 23 : 126);  // v = m * 2^e, m in [0.5, 1)
  bits = (bits & 0x007fffffu) | 0x3f000000u;
  float m;
  std::memcpy(&m, &bits, sizeof m);
  const bool low = m < 0.707106781186547524f;  // m in [sqrt(1/2), sqrt(2)) around 1
  const float fe0 = (float)e, fe1 = fe0 - 1.0f, m0 = m - 1.0f, m1 = m + m - 1.0f;
  const float fe = low ? fe1 : fe0;
  m = low ? m1 : m0;
  const float z = m * m;
  float y = 7.0376836292e-2f;
  y = y * m - 1.1514610310e-1f;
  y = y * m + 1.1676998740e-1f;
  y = y * m - 1.2420140846e-1f;
  y = y * m + 1.4249322787e-1f;
  y = y * m - 1.6668057665e-1f;
  y = y * m + 2.0000714765e-1f;
  y = y * m - 2.4999993993e-1f;
  y = y * m + 3.3333331174e-1f;
  y = y * m * z;
  y += -2.12194440e-4f * fe;
  y += -0.5f * z;
  const float r = (m + y) + 0.693359375f * fe;
  const float pos = x < INFINITY ? r : x, nonpos = x == 0 ? -INFINITY : NAN;
  return x > 0 ? pos : nonpos;
}

EMBER_INLINE float vtanh(float x) {
  const float a = x < 0 ? -x : x;
  const float z = x * x;
  float p = -5.70498872745e-3f;  // |x| < 0.625: x + x^3 P(x^2)
  p = p * z + 2.06390887954e-2f;
  p = p * z - 5.37397155531e-2f;
  p = p * z + 1.33314422036e-1f;
  p = p * z - 3.33332819422e-1f;
  const float small = x * (1.0f + z * p);  // (keeps the sign of -0)
  const float big = 1.0f - 2.0f / (vexp(2.0f * a) + 1.0f);  // no cancellation where tanh > 0.55
  const float sbig = x < 0 ? -big : big;
  return a < 0.625f ? small : (x != x ? x : sbig);
}

// (below -88.7 the true value is under 6e-39: 0, as -inf gives)
EMBER_INLINE float vsigmoid(float x) {
  const float r = 1.0f / (1.0f + vexp(-x));
  return x < -88.7f ? 0.0f : r;
}

// erfc(z) for z >= 0 within about 1.2e-7 relative (a Chebyshev fit of erfc(z) e^(z^2) in
// t = 1 / (1 + z/2)): one exp and one division, no branch; so GELU's x * Phi(x) keeps its relative
// accuracy on the negative side, where 1 + erf(x) would cancel.
// The polynomial in Estrin's form (pairs, then t^2, t^4, t^8): its dependency chain is 4
// multiply-adds deep instead of Horner's 9, and a GELU loop waited on that chain more than it
// computed (about 3 cycles an element on AVX-512).
EMBER_INLINE float verfc_pos(float z) {
  const float t = 1.0f / (1.0f + 0.5f * z);
  const float t2 = t * t, t4 = t2 * t2, t8 = t4 * t4;
  const float q0 = -1.26551223f + 1.00002368f * t, q1 = 0.37409196f + 0.09678418f * t,
              q2 = -0.18628806f + 0.27886807f * t, q3 = -1.13520398f + 1.48851587f * t,
              q4 = -0.82215223f + 0.17087277f * t;
  const float p = (q0 + q1 * t2) + (q2 + q3 * t2) * t4 + q4 * t8;
  return t * vexp(p - z * z);
}

// GELU and its derivative: x * Phi(x) (approximate: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))).
EMBER_INLINE float vgelu(float x, bool approx_tanh) {
  if (approx_tanh) {
    const float th = vtanh(0.7978845608028654f * (x + 0.044715f * x * x * x));
    return 0.5f * x * (1.0f + th);
  }
  const float e = verfc_pos((x < 0 ? -x : x) * 0.7071067811865476f);
  return x * (x < 0 ? 0.5f * e : 1.0f - 0.5f * e);
}
EMBER_INLINE float vgelu_grad(float x, bool approx_tanh) {
  if (approx_tanh) {
    const float x2 = x * x, th = vtanh(0.7978845608028654f * (x + 0.044715f * x2 * x));
    return 0.5f * (1.0f + th) + 0.5f * x * (1.0f - th * th) * 0.7978845608028654f * (1.0f + 0.134145f * x2);
  }
  const float e = verfc_pos((x < 0 ? -x : x) * 0.7071067811865476f);
  return (x < 0 ? 0.5f * e : 1.0f - 0.5f * e) + x * 0.3989422804014327f * vexp(-0.5f * x * x);
}

// 16 lanes combined pairwise, 8 + 8, 4 + 4, 2 + 2, 1 + 1 (every index a constant: a loop over the
// halving width kept the lanes on the stack)
template <class T, class Op>
EMBER_INLINE T lanes_reduce(T* v, Op op) {
  for (int k = 0; k < 8; ++k) v[k] = op(v[k], v[k + 8]);
  for (int k = 0; k < 4; ++k) v[k] = op(v[k], v[k + 4]);
  for (int k = 0; k < 2; ++k) v[k] = op(v[k], v[k + 2]);
  return op(v[0], v[1]);
}

// sum of f(j) over [0, n) in 16 interleaved partial sums: a float sum in order does not vectorize
// (its order would change), this one does in each SIMD clone (softmax rows, LayerNorm moments).
// The 16 partial sums are added pairwise (8 + 8, 4 + 4, ...): a chain of 16 dependent scalar
// additions was most of a 32-long row's time (attention's softmax rows).
template <class T, class F>
EMBER_INLINE T lane_sum(int64_t n, F f) {
  T acc[16] = {};
  int64_t j = 0;
  for (; j + 16 <= n; j += 16)
    for (int k = 0; k < 16; ++k) acc[k] += f(j + k);
  if (j < n)  // the tail as one more masked pass (indices clamped in range): lanes by constant index stay in registers
    for (int k = 0; k < 16; ++k) acc[k] += j + k < n ? f(std::min<int64_t>(j + k, n - 1)) : T(0);
  return lanes_reduce(acc, [](T a, T b) { return a + b; });
}

inline double vexp(double x) { return std::exp(x); }
inline double vtanh(double x) { return std::tanh(x); }
inline double vsigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

// softmax (or log_softmax) of one contiguous row of len values (SIMD clones).
void softmax_row(const float* x, float* y, int64_t len, bool log);
// softmax_row over `rows` consecutive rows in one call (rows of few classes run across the rows).
void softmax_rows(const float* x, float* y, int64_t rows, int64_t len, bool log);
// p = softmax(x), *max = max(x), and the return value log(sum(exp(x - max))) (the log-sum-exp is
// max + that: the caller adds them in double, so large logits keep their precision), for a row
// whose max is finite; NaN (p unspecified) when it is not (SIMD clones).
float softmax_lse_row(const float* x, float* p, int64_t len, float* max);
// softmax_lse_row over `rows` consecutive rows in one call (cross-entropy over many rows of few
// classes: the per-row call cost more than the row); lse[r] and max[r] per row.
void softmax_lse_rows(const float* x, float* p, int64_t rows, int64_t len, float* lse, float* max);
// y = f(x) over n contiguous values (SIMD clones; y may be x).
void sigmoid_to(const float* x, float* y, int64_t n);
void tanh_to(const float* x, float* y, int64_t n);
void log_to(const float* x, float* y, int64_t n);
// ReLU over n contiguous values, and its backward from the output y (SIMD clones).
void relu_to(const float* x, float* y, int64_t n);
void relu_backward_to(const float* g, const float* y, float* gx, int64_t n);
// GELU over n contiguous values, and its backward gx = g * GELU'(x) (SIMD clones).
void gelu_to(const float* x, float* y, int64_t n, bool approx_tanh);
void gelu_backward_to(const float* g, const float* x, float* gx, int64_t n, bool approx_tanh);
// In place over n contiguous values (SIMD clones; float64 through libm).
void sigmoid_inplace(float* x, int64_t n);
void tanh_inplace(float* x, int64_t n);
inline void sigmoid_inplace(double* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = vsigmoid(x[i]);
}
inline void tanh_inplace(double* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = std::tanh(x[i]);
}

}  // namespace ember
