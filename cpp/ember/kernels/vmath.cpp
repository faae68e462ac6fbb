// The SIMD clones of the float32 vector math (vmath.h, Note [Run-time SIMD]).
#include "ember/kernels/vmath.h"

#include <algorithm>
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

EMBER_CLONES void log_to(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = vlog(x[i]);
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

// max of x[0, n) in 16 partial lanes, so that it vectorizes (NaN is skipped: a row of NaN and
// -inf gives -inf), reduced pairwise as lane_sum.
EMBER_INLINE float lane_max(const float* x, int64_t n) {
  float lm[16];
  for (int k = 0; k < 16; ++k) lm[k] = -INFINITY;
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int k = 0; k < 16; ++k) lm[k] = x[i + k] > lm[k] ? x[i + k] : lm[k];
  if (i < n)
    for (int k = 0; k < 16; ++k) {
      const float v = x[std::min<int64_t>(i + k, n - 1)];  // (x[n - 1] again past the end: the max is the same)
      lm[k] = v > lm[k] ? v : lm[k];
    }
  return lanes_reduce(lm, [](float a, float b) { return b > a ? b : a; });
}

EMBER_CLONES void softmax_row(const float* x, float* y, int64_t len, bool log) {
  const float mx = lane_max(x, len);
  // no special case for an infinite max: a +inf, or a row of -inf, gives NaN, as torch
  for (int64_t i = 0; i < len; ++i) y[i] = vexp(x[i] - mx);
  const float s = lane_sum<float>(len, [&](int64_t i) { return y[i]; });
  if (log) {
    const float ls = std::log(s);
    for (int64_t i = 0; i < len; ++i) y[i] = (x[i] - mx) - ls;  // (x - max) first: large logits stay exact
  } else {
    const float inv = 1.0f / s;
    for (int64_t i = 0; i < len; ++i) y[i] *= inv;
  }
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

// Rows of at most kNarrowRow classes (a 3-class classifier's logits): a vector per row would be
// mostly padding, so blocks of kNarrowBlock rows are turned column-major in a stack buffer and
// every step runs across the rows (max, exp and sum, the scaling), vectorized; the same values as
// the row-wise loop but for the order of the additions in a row's sum (a row's elements are summed
// one after the other here, pairwise there).
constexpr int64_t kNarrowRow = 32, kNarrowBlock = 64;
// Rows r0.. (nb of them) into t column-major (column c at t + c * kNarrowBlock), each row's max into m
// (NaN skipped, as lane_max), and s zeroed for the sums. LEN > 0: the row length known at compile
// time (2, 3 or 4 classes), so that the compiler turns the transposes into vector permutes.
template <int LEN>
EMBER_INLINE void narrow_block(const float* xb, int64_t nb, int64_t len, float* t, float* m, float* s) {
  if constexpr (LEN > 0) {
    len = LEN;
    if (nb == kNarrowBlock) {
      for (int64_t r = 0; r < kNarrowBlock; ++r)
        for (int c = 0; c < LEN; ++c) t[c * kNarrowBlock + r] = xb[r * LEN + c];
    } else {
      for (int64_t r = 0; r < nb; ++r)
        for (int c = 0; c < LEN; ++c) t[c * kNarrowBlock + r] = xb[r * LEN + c];
    }
  } else {
    for (int64_t r = 0; r < nb; ++r)
      for (int64_t c = 0; c < len; ++c) t[c * kNarrowBlock + r] = xb[r * len + c];
  }
  for (int64_t r = 0; r < kNarrowBlock; ++r) m[r] = -INFINITY, s[r] = 0.0f;
  for (int64_t c = 0; c < len; ++c)
    for (int64_t r = 0; r < nb; ++r) m[r] = t[c * kNarrowBlock + r] > m[r] ? t[c * kNarrowBlock + r] : m[r];
}
// pb[r * len + c] = t[c * kNarrowBlock + r] * s[r] for nb rows (the way back to row-major), LEN as above.
template <int LEN>
EMBER_INLINE void narrow_out(float* pb, int64_t nb, int64_t len, const float* t, const float* s) {
  if constexpr (LEN > 0) {
    if (nb == kNarrowBlock) {
      for (int64_t r = 0; r < kNarrowBlock; ++r)
        for (int c = 0; c < LEN; ++c) pb[r * LEN + c] = t[c * kNarrowBlock + r] * s[r];
      return;
    }
    len = LEN;
  }
  for (int64_t r = 0; r < nb; ++r)
    for (int64_t c = 0; c < len; ++c) pb[r * len + c] = t[c * kNarrowBlock + r] * s[r];
}

template <int LEN>
EMBER_INLINE void softmax_lse_narrow(const float* x, float* p, int64_t rows, int64_t len, float* lse, float* max) {
  float t[kNarrowRow * kNarrowBlock], m[kNarrowBlock], s[kNarrowBlock];
  for (int64_t r0 = 0; r0 < rows; r0 += kNarrowBlock) {
    const int64_t nb = std::min(kNarrowBlock, rows - r0);
    narrow_block<LEN>(x + r0 * len, nb, len, t, m, s);
    for (int64_t c = 0; c < len; ++c)
      for (int64_t r = 0; r < nb; ++r) {
        const float e = vexp(t[c * kNarrowBlock + r] - m[r]);
        t[c * kNarrowBlock + r] = e;
        s[r] += e;
      }
    // (separate branch-free loops, each vectorized: one loop of all three, with a short-circuit
    // test, ran a row at a time)
    for (int64_t r = 0; r < nb; ++r) {
      const float l = vlog(s[r]);
      lse[r0 + r] = (m[r] > -INFINITY) & (m[r] < INFINITY) ? l : NAN;
    }
    for (int64_t r = 0; r < nb; ++r) max[r0 + r] = m[r];
    for (int64_t r = 0; r < nb; ++r) s[r] = 1.0f / s[r];
    narrow_out<LEN>(p + r0 * len, nb, len, t, s);
  }
}

// softmax (log: log_softmax) of narrow rows, as softmax_lse_narrow: no special case for an infinite
// max (a +inf, or a row of -inf, gives NaN), as softmax_row.
EMBER_INLINE void softmax_narrow(const float* x, float* y, int64_t rows, int64_t len, bool log) {
  float t[kNarrowRow * kNarrowBlock], m[kNarrowBlock], s[kNarrowBlock];
  for (int64_t r0 = 0; r0 < rows; r0 += kNarrowBlock) {
    const int64_t nb = std::min(kNarrowBlock, rows - r0);
    narrow_block<0>(x + r0 * len, nb, len, t, m, s);
    for (int64_t c = 0; c < len; ++c)
      for (int64_t r = 0; r < nb; ++r) s[r] += vexp(t[c * kNarrowBlock + r] - m[r]);
    float* yb = y + r0 * len;
    if (log) {
      for (int64_t r = 0; r < nb; ++r) s[r] = vlog(s[r]);
      for (int64_t r = 0; r < nb; ++r)
        for (int64_t c = 0; c < len; ++c) yb[r * len + c] = (t[c * kNarrowBlock + r] - m[r]) - s[r];
    } else {
      for (int64_t r = 0; r < nb; ++r) s[r] = 1.0f / s[r];
      for (int64_t c = 0; c < len; ++c)
        for (int64_t r = 0; r < nb; ++r) t[c * kNarrowBlock + r] = vexp(t[c * kNarrowBlock + r] - m[r]) * s[r];
      for (int64_t r = 0; r < nb; ++r)
        for (int64_t c = 0; c < len; ++c) yb[r * len + c] = t[c * kNarrowBlock + r];
    }
  }
}

EMBER_CLONES void softmax_rows(const float* x, float* y, int64_t rows, int64_t len, bool log) {
  if (len <= kNarrowRow) return softmax_narrow(x, y, rows, len, log);
  for (int64_t r = 0; r < rows; ++r) softmax_row(x + r * len, y + r * len, len, log);
}

EMBER_CLONES void softmax_lse_rows(const float* x, float* p, int64_t rows, int64_t len, float* lse, float* max) {
  if (len <= kNarrowRow) {
    switch (len) {
      case 2: return softmax_lse_narrow<2>(x, p, rows, len, lse, max);
      case 3: return softmax_lse_narrow<3>(x, p, rows, len, lse, max);
      case 4: return softmax_lse_narrow<4>(x, p, rows, len, lse, max);
      default: return softmax_lse_narrow<0>(x, p, rows, len, lse, max);
    }
  }
  for (int64_t r = 0; r < rows; ++r) {  // softmax_lse_row's body, row after row
    const float* xr = x + r * len;
    float* pr = p + r * len;
    const float mx = lane_max(xr, len);
    max[r] = mx;
    if (!(mx > -INFINITY && mx < INFINITY)) {
      lse[r] = NAN;
      continue;
    }
    for (int64_t i = 0; i < len; ++i) pr[i] = vexp(xr[i] - mx);
    const float s = lane_sum<float>(len, [&](int64_t i) { return pr[i]; }), inv = 1.0f / s;
    for (int64_t i = 0; i < len; ++i) pr[i] *= inv;
    lse[r] = std::log(s);
  }
}

EMBER_CLONES void relu_to(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] < 0 ? 0.0f : x[i];  // (NaN stays)
}

EMBER_CLONES void relu_backward_to(const float* g, const float* y, float* gx, int64_t n) {
  for (int64_t i = 0; i < n; ++i) gx[i] = y[i] <= 0 ? 0.0f : g[i];
}

}  // namespace ember
