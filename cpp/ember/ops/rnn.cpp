// The recurrence of one RNN / LSTM / GRU layer in one direction, over a whole sequence, as one op
// and one backward node (backpropagation through time in C++, not one graph node per gate per
// step). The input projection x @ W_ih^T + b_ih is an ordinary linear op before it (one product
// for every step), so this op sees xp = that projection, the initial state and the recurrent
// weights.
//
// Steps may be packed (nn.utils.rnn.PackedSequence): step t owns rows [off[t], off[t] + bs[t]) of xp
// and of the output, and updates the first bs[t] rows of the state (sequences are sorted by
// length, so the live rows are always the first ones); the other rows keep their state. A dense
// sequence is the case bs[t] = N for every t.
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

#include "ember/autograd/node.h"
#include "ember/kernels/gemm.h"
#include "ember/kernels/parallel.h"
#include "ember/kernels/simd.h"
#include "ember/kernels/vmath.h"
#include "ember/ops/nn.h"
#include "ember/ops/ops.h"
#include "ember/ops/registry.h"

namespace ember {

namespace {

struct RnnShape {
  int mode;                           // RnnMode
  int64_t N, H, Hout, G;              // batch (state rows), hidden, output (proj or hidden), gates
  std::vector<int64_t> bs, off;       // rows and first row of every step, in time order
  bool reverse;
  int64_t rows() const { return off.empty() ? 0 : off.back() + bs.back(); }
  int64_t T() const { return (int64_t)bs.size(); }
  int64_t step(int64_t p) const { return reverse ? T() - 1 - p : p; }  // p-th processed step
};

// A buffer from ember's caching allocator (uninitialised, recycled between calls: a training
// step's megabytes of saved gates would otherwise be zeroed and page-faulted in every time).
template <class T>
struct Buf {
  Tensor t;
  void resize(int64_t n) { t = empty({n}, dtype_of<T>::value); }
  T* data() const { return t ? t->template data<T>() : nullptr; }
  T* begin() const { return data(); }
};

// Everything the backward needs, per row of the sequence (row r of step t is row off[t] + i).
template <class T>
struct RnnSaved {
  Buf<T> act;    // [rows, G*H] the gates after their nonlinearity (GRU: r, z, n; RNN: h')
  Buf<T> hprev;  // [rows, Hout] the state each row started its step from
  Buf<T> cprev;  // [rows, H] LSTM: the cell state before the step
  Buf<T> tc;     // [rows, H] LSTM: tanh of the cell state after the step
  Buf<T> hraw;   // [rows, H] LSTM with projection: o * tanh(c) before W_hr
  Buf<T> ghn;    // [rows, H] GRU: (h @ W_hh^T + b_hh) of the n gate
};

// y (m x n, contiguous) = a (m x k, row-major) @ b^T where b is n x k row-major
template <class T>
void mm_bt(int64_t m, int64_t n, int64_t k, const T* a, const T* b, T* y) {
  gemm<T>(m, n, k, MatRef{a, k, 1}, MatRef{b, 1, k}, y);
}

// Note [RNN step split]: a step's gates are a product with H*G columns and then one independent
// cell per hidden unit, so the hidden units are split over the threads once for the whole
// sequence: part p owns units [j0, j1) and, in the forward, computes its own columns of the
// recurrent product (W_hh^T is copied once, with each part's G gate blocks side by side) and
// then its own cells; one parallel region per step, and the state is double-buffered because
// every part's product reads the whole previous state. In the backward a step has two parts:
// the cells' gradients (by unit) and then dgates @ W_hh, which needs every unit's gate
// gradients (by columns of the state); two regions per step. Small layers run on one thread.
struct UnitSplit {
  std::vector<int64_t> lo;  // part p: units [lo[p], lo[p + 1])
  int parts() const { return (int)lo.size() - 1; }
  int64_t width(int p) const { return lo[p + 1] - lo[p]; }
};

UnitSplit split_units(int64_t units, int64_t step_macs) {
  int n = step_macs < (int64_t(1) << 17) ? 1 : get_num_threads();
  n = (int)std::max<int64_t>(1, std::min<int64_t>(n, units / 16));
  UnitSplit u;
  for (int p = 0; p <= n; ++p) u.lo.push_back(p == n ? units : (units * p / n) / 16 * 16);  // vector-aligned starts
  return u;
}

// The work parallel_items is told each slice of a batched layer has: a slice whose steps split over
// the threads themselves counts as large (the slices then run one after another), any other as
// small, so the slices split over the threads (Note [Batched RNN layers]).
int64_t slice_work(const RnnShape& s) {
  const int64_t step_macs = s.N * s.G * s.H * s.Hout;
  return split_units(s.H, step_macs).parts() > 1 ? std::max<int64_t>(s.rows() * step_macs, 1 << 21) : 1 << 16;
}

template <class F>
void over_parts(const UnitSplit& u, F&& f) {
  if (u.parts() == 1) f(0);
  else parallel_run(u.parts(), [&f](int p) { f(p); });
}

// The cells of one row over w units. x*: the input projection's gates, g*: the recurrent
// product's (b_hh included); a*: where the activated gates go. No two pointers alias (the loops
// vectorize only so), except a value read and written at the same index (c, dc, dh). Pointers start at the
// part's first unit. Compiled per SIMD target for float (Note [Run-time SIMD]).
template <class T>
EMBER_INLINE void lstm_cell(int64_t w, const T* __restrict x0, const T* __restrict x1, const T* __restrict x2,
                            const T* __restrict x3, const T* __restrict g0, const T* __restrict g1,
                            const T* __restrict g2, const T* __restrict g3, T* __restrict a0, T* __restrict a1,
                            T* __restrict a2, T* __restrict a3, T* __restrict c, T* __restrict h, T* __restrict cprev,
                            T* __restrict tcs) {
  // one function per loop: GCC if-converts a loop with one or two of them, not with five
  for (int64_t j = 0; j < w; ++j) a0[j] = vsigmoid(x0[j] + g0[j]);
  for (int64_t j = 0; j < w; ++j) a1[j] = vsigmoid(x1[j] + g1[j]);
  for (int64_t j = 0; j < w; ++j) a2[j] = vtanh(x2[j] + g2[j]);
  for (int64_t j = 0; j < w; ++j) a3[j] = vsigmoid(x3[j] + g3[j]);
  for (int64_t j = 0; j < w; ++j) {
    const T cp = c[j], cn = a1[j] * cp + a0[j] * a2[j], tc = vtanh(cn);
    c[j] = cn;
    h[j] = a3[j] * tc;
    cprev[j] = cp;
    tcs[j] = tc;
  }
}

template <class T>
EMBER_INLINE void gru_cell(int64_t w, const T* __restrict x0, const T* __restrict x1, const T* __restrict x2,
                           const T* __restrict g0, const T* __restrict g1, const T* __restrict g2, T* __restrict a0,
                           T* __restrict a1, T* __restrict a2, const T* __restrict hp, T* __restrict h,
                           T* __restrict ghn) {
  for (int64_t j = 0; j < w; ++j) a0[j] = vsigmoid(x0[j] + g0[j]);
  for (int64_t j = 0; j < w; ++j) a1[j] = vsigmoid(x1[j] + g1[j]);
  for (int64_t j = 0; j < w; ++j) {
    const T gn = g2[j], n = vtanh(x2[j] + a0[j] * gn);
    a2[j] = n;
    ghn[j] = gn;
    h[j] = n + a1[j] * (hp[j] - n);
  }
}

template <class T>
EMBER_INLINE void rnn_cell(int64_t w, bool relu, const T* __restrict x, const T* __restrict g, T* __restrict a,
                           T* __restrict h) {
  if (relu)
    for (int64_t j = 0; j < w; ++j) {
      const T v = x[j] + g[j];
      a[j] = h[j] = v > 0 ? v : T(0);
    }
  else
    for (int64_t j = 0; j < w; ++j) a[j] = h[j] = vtanh(x[j] + g[j]);
}

// Their gradients: d* the gates' (pre-activation) gradients; dc (LSTM) and dh (GRU) are updated.
template <class T>
EMBER_INLINE void lstm_cell_back(int64_t w, const T* __restrict a0, const T* __restrict a1, const T* __restrict a2,
                                 const T* __restrict a3, const T* __restrict cp, const T* __restrict tc,
                                 const T* __restrict dh, T* __restrict dc, T* __restrict d0, T* __restrict d1,
                                 T* __restrict d2, T* __restrict d3) {
  for (int64_t j = 0; j < w; ++j) {
    const T ig = a0[j], fg = a1[j], gg = a2[j], og = a3[j], t = tc[j], dhj = dh[j];
    const T dct = dc[j] + dhj * og * (T(1) - t * t);
    d0[j] = dct * gg * ig * (T(1) - ig);
    d1[j] = dct * cp[j] * fg * (T(1) - fg);
    d2[j] = dct * ig * (T(1) - gg * gg);
    d3[j] = dhj * t * og * (T(1) - og);
    dc[j] = dct * fg;
  }
}

// dr, dz, dn go to the input projection (d*); the recurrent product's n part is dn * r (dgn)
template <class T>
EMBER_INLINE void gru_cell_back(int64_t w, const T* __restrict a0, const T* __restrict a1, const T* __restrict a2,
                                const T* __restrict hp, const T* __restrict gn, T* __restrict dh, T* __restrict d0,
                                T* __restrict d1, T* __restrict d2, T* __restrict dgn) {
  for (int64_t j = 0; j < w; ++j) {
    const T r = a0[j], z = a1[j], n = a2[j], g = dh[j];
    const T dn = g * (T(1) - z) * (T(1) - n * n);
    d0[j] = dn * gn[j] * r * (T(1) - r);
    d1[j] = g * (hp[j] - n) * z * (T(1) - z);
    d2[j] = dn;
    dgn[j] = dn * r;
    dh[j] = g * z;  // the direct path; the recurrent product's part is added after it
  }
}

template <class T>
EMBER_INLINE void rnn_cell_back(int64_t w, bool relu, const T* __restrict y, const T* __restrict dh, T* __restrict d) {
  if (relu)
    for (int64_t j = 0; j < w; ++j) d[j] = y[j] > 0 ? dh[j] : T(0);
  else
    for (int64_t j = 0; j < w; ++j) d[j] = dh[j] * (T(1) - y[j] * y[j]);
}

#define EMBER_RNN_CELLS(T, CLONES)                                                                                    \
  CLONES void lstm_cell_k(int64_t w, const T* __restrict x0, const T* __restrict x1, const T* __restrict x2,          \
                          const T* __restrict x3, const T* __restrict g0, const T* __restrict g1,                     \
                          const T* __restrict g2, const T* __restrict g3, T* __restrict a0, T* __restrict a1,         \
                          T* __restrict a2, T* __restrict a3, T* __restrict c, T* __restrict h, T* __restrict cp,     \
                          T* __restrict tc) {                                                                         \
    lstm_cell<T>(w, x0, x1, x2, x3, g0, g1, g2, g3, a0, a1, a2, a3, c, h, cp, tc);                                    \
  }                                                                                                                   \
  CLONES void gru_cell_k(int64_t w, const T* __restrict x0, const T* __restrict x1, const T* __restrict x2,           \
                         const T* __restrict g0, const T* __restrict g1, const T* __restrict g2, T* __restrict a0,    \
                         T* __restrict a1, T* __restrict a2, const T* __restrict hp, T* __restrict h,                 \
                         T* __restrict ghn) {                                                                         \
    gru_cell<T>(w, x0, x1, x2, g0, g1, g2, a0, a1, a2, hp, h, ghn);                                                   \
  }                                                                                                                   \
  CLONES void rnn_cell_k(int64_t w, bool relu, const T* __restrict x, const T* __restrict g, T* __restrict a,         \
                         T* __restrict h) {                                                                           \
    rnn_cell<T>(w, relu, x, g, a, h);                                                                                 \
  }                                                                                                                   \
  CLONES void lstm_cell_back_k(int64_t w, const T* __restrict a0, const T* __restrict a1, const T* __restrict a2,     \
                               const T* __restrict a3, const T* __restrict cp, const T* __restrict tc,                \
                               const T* __restrict dh, T* __restrict dc, T* __restrict d0, T* __restrict d1,          \
                               T* __restrict d2, T* __restrict d3) {                                                  \
    lstm_cell_back<T>(w, a0, a1, a2, a3, cp, tc, dh, dc, d0, d1, d2, d3);                                             \
  }                                                                                                                   \
  CLONES void gru_cell_back_k(int64_t w, const T* __restrict a0, const T* __restrict a1, const T* __restrict a2,      \
                              const T* __restrict hp, const T* __restrict gn, T* __restrict dh, T* __restrict d0,     \
                              T* __restrict d1, T* __restrict d2, T* __restrict dgn) {                                \
    gru_cell_back<T>(w, a0, a1, a2, hp, gn, dh, d0, d1, d2, dgn);                                                     \
  }                                                                                                                   \
  CLONES void rnn_cell_back_k(int64_t w, bool relu, const T* __restrict y, const T* __restrict dh, T* __restrict d) { \
    rnn_cell_back<T>(w, relu, y, dh, d);                                                                              \
  }
EMBER_RNN_CELLS(float, EMBER_CLONES)
EMBER_RNN_CELLS(double, )  // float64 runs libm's exp / tanh: nothing to vectorize
#undef EMBER_RNN_CELLS

template <class T>
void rnn_forward(const RnnShape& s, const T* xp, const T* h0, const T* c0, const T* whh, const T* bhh, const T* whr,
                 T* out, T* hn, T* cn, RnnSaved<T>* sv) {
  const int64_t G = s.G, GH = G * s.H, H = s.H, Ho = s.Hout, N = s.N;
  const UnitSplit u = split_units(H, N * GH * Ho);
  // W_hh^T (Ho x GH, row-major) with part p's columns at G * lo[p]: gate g's unit j0 + k at + g * w + k
  std::vector<T> wt(Ho * GH), bias(bhh ? GH : 0);
  std::vector<int64_t> src_of(GH);  // wt's column -> W_hh's row
  for (int p = 0; p < u.parts(); ++p)
    for (int64_t g = 0; g < G; ++g)
      for (int64_t k = 0; k < u.width(p); ++k) src_of[G * u.lo[p] + g * u.width(p) + k] = g * H + u.lo[p] + k;
  for (int64_t r = 0; r < Ho; ++r)  // (rows of wt written in order: the strided side is the read)
    for (int64_t c = 0; c < GH; ++c) wt[r * GH + c] = whh[src_of[c] * Ho + r];
  for (int64_t c = 0; bhh && c < GH; ++c) bias[c] = bhh[src_of[c]];
  std::vector<PackedRhs<T>> packs;
  for (int p = 0; p < u.parts(); ++p)
    packs.push_back(pack_rhs<T>(Ho, G * u.width(p), MatRef{wt.data() + G * u.lo[p], GH, 1}));
  std::vector<T> h(h0, h0 + N * Ho), hnext(N * Ho), c(c0 ? c0 : h0, c0 ? c0 + N * H : h0), gates(N * GH),
      raw(whr ? N * H : 0),
      scratch(s.mode == kLstm  ? 2 * N * H
              : s.mode == kGru ? N * H
                               : 0),
      actbuf(sv ? 0 : N * GH);
  if (!c0) c.clear();
  if (sv) {
    const int64_t R = s.rows();
    sv->act.resize(R * GH), sv->hprev.resize(R * Ho);
    if (s.mode == kLstm) sv->cprev.resize(R * H), sv->tc.resize(R * H);
    if (s.mode == kLstm && whr) sv->hraw.resize(R * H);
    if (s.mode == kGru) sv->ghn.resize(R * H);
  }
  for (int64_t q = 0; q < s.T(); ++q) {
    const int64_t t = s.step(q), bs = s.bs[t], r0 = s.off[t];
    if (sv) std::copy(h.begin(), h.begin() + bs * Ho, sv->hprev.begin() + r0 * Ho);
    over_parts(u, [&](int p) {
      const int64_t j0 = u.lo[p], w = u.width(p), cw = G * w;
      T* gp = gates.data() + N * G * j0;  // this part's product: bs x cw
      Epilogue<T> ep;
      ep.bias = bhh ? bias.data() + G * j0 : nullptr;
      gemm_packed_rhs<T>(bs, MatRef{h.data(), Ho, 1}, packs[p], gp, cw, ep);
      for (int64_t i = 0; i < bs; ++i) {
        const int64_t row = r0 + i;
        const T* x = xp + row * GH + j0;  // gate g of unit j0 + k: x[g * H + k]
        T* g = gp + i * cw;               // gate g of unit j0 + k: g[g * w + k]
        T* a = sv ? sv->act.data() + row * GH + j0 : actbuf.data() + i * GH + j0;  // gate k: a + k * H
        auto act = [&](int64_t k) { return a + k * H; };
        T* hi = hnext.data() + i * Ho + j0;
        if (s.mode == kLstm) {
          T* hr = whr ? raw.data() + i * H + j0 : hi;
          T* cp = sv ? sv->cprev.data() + row * H + j0 : scratch.data() + i * H + j0;
          T* tc = sv ? sv->tc.data() + row * H + j0 : scratch.data() + (N + i) * H + j0;
          lstm_cell_k(w, x, x + H, x + 2 * H, x + 3 * H, g, g + w, g + 2 * w, g + 3 * w, act(0), act(1), act(2), act(3),
                      c.data() + i * H + j0, hr, cp, tc);
          if (sv && whr) std::copy(hr, hr + w, sv->hraw.begin() + row * H + j0);
        } else if (s.mode == kGru) {
          T* ghn = sv ? sv->ghn.data() + row * H + j0 : scratch.data() + i * H + j0;
          gru_cell_k(w, x, x + H, x + 2 * H, g, g + w, g + 2 * w, act(0), act(1), act(2), h.data() + i * Ho + j0, hi,
                     ghn);
        } else {
          rnn_cell_k(w, s.mode == kRnnRelu, x, g, act(0), hi);
        }
      }
    });
    if (s.mode == kLstm && whr) mm_bt<T>(bs, Ho, H, raw.data(), whr, hnext.data());  // h = raw @ W_hr^T
    std::copy(hnext.begin(), hnext.begin() + bs * Ho, h.begin());
    std::copy(hnext.begin(), hnext.begin() + bs * Ho, out + r0 * Ho);
  }
  std::copy(h.begin(), h.end(), hn);
  if (cn) std::copy(c.begin(), c.end(), cn);
}

// The weight gradients sum over all steps, so the loop only stores each step's gradient of the
// recurrent product (dgh) and of the projection's output (dhp), and one product over all rows
// makes each weight gradient at the end.
template <class T>
void rnn_backward(const RnnShape& s, const RnnSaved<T>& sv, const T* whh, const T* whr, const T* gout, const T* ghn,
                  const T* gcn, T* gxp, T* gh0, T* gc0, T* gwhh, T* gbhh, T* gwhr) {
  const int64_t GH = s.G * s.H, H = s.H, Ho = s.Hout, R = s.rows(), N = s.N;
  const UnitSplit u = split_units(H, N * GH * Ho), uo = split_units(Ho, N * GH * Ho);
  std::vector<T> dgh_all(s.mode == kGru ? R * GH : 0), dhp_all(whr && gwhr ? R * Ho : 0);
  std::vector<PackedRhs<T>> packs;  // W_hh's columns of each part of the state
  for (int p = 0; p < uo.parts(); ++p) packs.push_back(pack_rhs<T>(GH, uo.width(p), MatRef{whh + uo.lo[p], Ho, 1}));
  std::vector<T> dh(N * Ho, T(0)), dc, draw(whr ? N * H : 0), dprev(s.mode == kGru ? N * Ho : 0);
  if (ghn) std::copy(ghn, ghn + N * Ho, dh.begin());
  if (s.mode == kLstm) {
    dc.assign(N * H, T(0));
    if (gcn) std::copy(gcn, gcn + N * H, dc.begin());
  }
  for (int64_t q = s.T() - 1; q >= 0; --q) {
    const int64_t t = s.step(q), bs = s.bs[t], r0 = s.off[t];
    T* dg = gxp + r0 * GH;  // the gates' gradients are the input projection's
    T* dgh = s.mode == kGru ? dgh_all.data() + r0 * GH : dg;  // the recurrent product's
    if (whr) {  // h = raw @ W_hr^T: dW_hr += dh^T @ raw, draw = dh @ W_hr
      if (gout)
        for (int64_t i = 0; i < bs * Ho; ++i) dh[i] += gout[r0 * Ho + i];
      if (gwhr) std::copy(dh.begin(), dh.begin() + bs * Ho, dhp_all.begin() + r0 * Ho);
      gemm<T>(bs, H, Ho, MatRef{dh.data(), Ho, 1}, MatRef{whr, H, 1}, draw.data());
    }
    over_parts(u, [&](int p) {
      const int64_t j0 = u.lo[p], w = u.width(p);
      for (int64_t i = 0; i < bs; ++i) {
        const int64_t row = r0 + i;
        T* dhi = dh.data() + i * Ho + j0;
        if (gout && !whr)
          for (int64_t k = 0; k < w; ++k) dhi[k] += gout[row * Ho + j0 + k];
        const T* a = sv.act.data() + row * GH + j0;
        T* d = dg + i * GH + j0;
        if (s.mode == kLstm) {
          lstm_cell_back_k(w, a, a + H, a + 2 * H, a + 3 * H, sv.cprev.data() + row * H + j0,
                           sv.tc.data() + row * H + j0, whr ? draw.data() + i * H + j0 : dhi, dc.data() + i * H + j0, d,
                           d + H, d + 2 * H, d + 3 * H);
        } else if (s.mode == kGru) {
          T* e = dgh + i * GH + j0;
          gru_cell_back_k(w, a, a + H, a + 2 * H, sv.hprev.data() + row * Ho + j0, sv.ghn.data() + row * H + j0, dhi, d,
                          d + H, d + 2 * H, e + 2 * H);
          std::copy(d, d + w, e);
          std::copy(d + H, d + H + w, e + H);
        } else {
          rnn_cell_back_k(w, s.mode == kRnnRelu, a, dhi, d);
        }
      }
    });
    // dprev = dgates_h @ W_hh, by columns of the state
    over_parts(uo, [&](int p) {
      const int64_t c0 = uo.lo[p], w = uo.width(p);
      if (s.mode != kGru) return gemm_packed_rhs<T>(bs, MatRef{dgh, GH, 1}, packs[p], dh.data() + c0, Ho);
      T* dp = dprev.data() + N * c0;  // bs x w
      gemm_packed_rhs<T>(bs, MatRef{dgh, GH, 1}, packs[p], dp, w);
      for (int64_t i = 0; i < bs; ++i)
        for (int64_t k = 0; k < w; ++k) dh[i * Ho + c0 + k] += dp[i * w + k];
    });
  }
  std::copy(dh.begin(), dh.end(), gh0);
  if (gc0) std::copy(dc.begin(), dc.end(), gc0);
  const T* dgh = s.mode == kGru ? dgh_all.data() : gxp;
  if (R && gwhh) gemm<T>(GH, Ho, R, MatRef{dgh, 1, GH}, MatRef{sv.hprev.data(), Ho, 1}, gwhh);  // dgh^T @ h_prev
  if (gbhh)
    for (int64_t i = 0; i < R; ++i)
      for (int64_t j = 0; j < GH; ++j) gbhh[j] += dgh[i * GH + j];
  if (R && gwhr) gemm<T>(Ho, H, R, MatRef{dhp_all.data(), 1, Ho}, MatRef{sv.hraw.data(), H, 1}, gwhr);  // dh^T @ raw
}

// The layer's outputs {out, h_n, c_n} again from differentiable ops, step by step (create_graph: Note
// [Double backward]): the same recurrence as rnn_forward, torch's gate order (LSTM i, f, g, o; GRU
// r, z, n), packed steps updating the first bs[t] rows of the state.
std::vector<Tensor> rnn_composite(const RnnShape& s, const Tensor& xp, const Tensor& h0, const Tensor& c0,
                                  const Tensor& whh, const Tensor& bhh, const Tensor& whr) {
  const int64_t H = s.H, GH = s.G * H;
  Tensor x2 = reshape(xp, {s.rows(), GH});
  Tensor h = h0, c = s.mode == kLstm ? (c0 ? c0 : zeros({s.N, H}, xp->dtype)) : Tensor();
  std::vector<Tensor> outs(s.T());
  auto gate = [&](const Tensor& a, int k) { return narrow(a, 1, k * H, H); };
  auto keep_rest = [&](const Tensor& upd, const Tensor& old, int64_t b) {  // rows past b keep their state
    return b == s.N ? upd : cat({upd, narrow(old, 0, b, s.N - b)}, 0);
  };
  for (int64_t p = 0; p < s.T(); ++p) {
    const int64_t t = s.step(p), b = s.bs[t];
    Tensor xt = narrow(x2, 0, s.off[t], b), hb = narrow(h, 0, 0, b);
    Tensor gh = linear(hb, whh, bhh);
    Tensor hn;
    if (s.mode == kLstm) {
      Tensor a = add(xt, gh);
      Tensor i = sigmoid(gate(a, 0)), f = sigmoid(gate(a, 1)), gg = tanh(gate(a, 2)), o = sigmoid(gate(a, 3));
      Tensor cn = add(mul(f, narrow(c, 0, 0, b)), mul(i, gg));
      hn = mul(o, tanh(cn));
      if (whr) hn = linear(hn, whr, Tensor());
      c = keep_rest(cn, c, b);
    } else if (s.mode == kGru) {
      Tensor r = sigmoid(add(gate(xt, 0), gate(gh, 0))), z = sigmoid(add(gate(xt, 1), gate(gh, 1)));
      Tensor n = tanh(add(gate(xt, 2), mul(r, gate(gh, 2))));
      hn = add(mul(sub(num(1), z), n), mul(z, hb));
    } else {
      Tensor a = add(xt, gh);
      hn = s.mode == kRnnRelu ? relu(a) : tanh(a);
    }
    outs[t] = hn;
    h = keep_rest(hn, h, b);
  }
  Shape os = xp->shape;
  os.back() = s.Hout;
  Tensor out = s.T() ? reshape(cat(outs, 0), os) : zeros(os, xp->dtype);
  return {out, h, c};
}

// A slice's shape with the slices' dimension in front (none when unbatched: slices == 0).
Shape with_slices(Shape sh, int64_t slices) {
  if (slices) sh.insert(sh.begin(), slices);
  return sh;
}
// Slice i's part of a contiguous tensor of B slices (null for a null tensor).
template <class T>
T* slice_of(const Tensor& t, int64_t i, int64_t B) {
  return t ? t->data<T>() + i * (t->numel() / B) : nullptr;
}

// Note [Batched RNN layers]: under vmap an ensemble's RNN layers (stacked weights) run as one op with
// a leading dimension of `slices` on every tensor: each slice's whole recurrence is one task on the
// pool (a small layer's recurrence is too sequential to split well itself), and one node runs each
// slice's backward the same way. slices == 0: the plain layer, no leading dimension.
struct RnnLayerBackward : Node {
  SavedTensor w_hh{this}, w_hr{this};
  SavedTensor xp{this}, h0{this}, c0{this}, b_hh{this};  // (only a create_graph recompute reads them)
  RnnShape shape;
  Shape xp_shape;  // one slice's
  DType dtype;
  int64_t slices = 0;
  std::vector<std::shared_ptr<void>> saved;  // RnnSaved<T>, one per slice
  bool has_c = false;
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    if (released || saved.empty() || !saved[0])
      throw std::runtime_error(
          "Trying to backward through the graph a second time (or directly access saved tensors "
          "after they have already been freed). Specify retain_graph=True if you need to backward "
          "through the graph a second time.");
    if (GradMode::is_enabled()) {  // Note [Double backward]
      std::vector<Tensor> ins = {xp.get(*this), h0.get(*this), c0.t ? c0.get(*this) : Tensor(), w_hh.get(*this),
                                 b_hh.t ? b_hh.get(*this) : Tensor(), w_hr.t ? w_hr.get(*this) : Tensor()};
      return grads_by_recompute(*this, ins, [&] { return composite(ins); },
                                {g[0], g[1], g.size() > 2 ? g[2] : Tensor()});
    }
    Tensor whh = contiguous(w_hh.get(*this)), whr = w_hr.t ? contiguous(w_hr.get(*this)) : Tensor();
    Tensor go = g[0] ? contiguous(g[0]) : Tensor(), gh = g[1] ? contiguous(g[1]) : Tensor();
    Tensor gc = g.size() > 2 && g[2] ? contiguous(g[2]) : Tensor();
    const int64_t GH = shape.G * shape.H, B = std::max<int64_t>(slices, 1);
    auto lead = [&](const Shape& sh) { return with_slices(sh, slices); };
    Tensor gxp = empty(lead(xp_shape), dtype), gh0 = empty(lead({shape.N, shape.Hout}), dtype);
    Tensor gc0 = has_c ? empty(lead({shape.N, shape.H}), dtype) : Tensor();
    Tensor gwhh = zeros(lead({GH, shape.Hout}), dtype), gbhh = zeros(lead({GH}), dtype);
    Tensor gwhr = whr ? zeros(lead({shape.Hout, shape.H}), dtype) : Tensor();
    EMBER_DISPATCH_FLOAT(dtype, "rnn_backward", T, {
      auto at = [&](const Tensor& t, int64_t i) { return slice_of<T>(t, i, B); };
      parallel_items(B, slice_work(shape), [&](int64_t i) {
        auto& sv = *static_cast<RnnSaved<T>*>(saved[i].get());
        rnn_backward<T>(shape, sv, at(whh, i), at(whr, i), at(go, i), at(gh, i), at(gc, i), at(gxp, i), at(gh0, i),
                        at(gc0, i), at(gwhh, i), at(gbhh, i), at(gwhr, i));
      });
    });
    return {gxp, gh0, gc0, gwhh, gbhh, gwhr};
  }
  // {out, h_n, c_n} from differentiable ops: per slice, stacked
  std::vector<Tensor> composite(const std::vector<Tensor>& ins) const {
    if (!slices) return rnn_composite(shape, ins[0], ins[1], ins[2], ins[3], ins[4], ins[5]);
    std::vector<std::vector<Tensor>> outs(3);
    for (int64_t i = 0; i < slices; ++i) {
      auto sl = [&](const Tensor& t) { return t ? select(t, 0, i) : Tensor(); };
      auto r = rnn_composite(shape, sl(ins[0]), sl(ins[1]), sl(ins[2]), sl(ins[3]), sl(ins[4]), sl(ins[5]));
      for (int k = 0; k < 3; ++k)
        if (r[k]) outs[k].push_back(r[k]);
    }
    std::vector<Tensor> r(3);
    for (int k = 0; k < 3; ++k)
      if (!outs[k].empty()) r[k] = stack(outs[k], 0);
    return r;
  }
  void release_saved() override {
    Node::release_saved();
    saved.clear();
  }
  bool differentiable() const override { return true; }
  std::string name() const override {
    return shape.mode == kLstm ? "LstmBackward" : shape.mode == kGru ? "GruBackward" : "RnnBackward";
  }
};

// The layer over `slices` stacked slices (Note [Batched RNN layers]; 0: unbatched).
std::vector<Tensor> rnn_layer_impl(int mode, const Tensor& xp_, const Tensor& h0_, const Tensor& c0_, const Tensor& w_hh_,
                                   const Tensor& b_hh_, const Tensor& w_hr_, bool reverse,
                                   const std::vector<int64_t>& batch_sizes, int64_t slices) {
  const DType dt = xp_->dtype;
  if (!is_floating(dt))
    throw std::runtime_error(std::string("rnn: expected a floating point input, got ") + dtype_name(dt));
  for (const Tensor* t : {&h0_, &c0_, &w_hh_, &b_hh_, &w_hr_})
    if (*t && (*t)->dtype != dt)
      throw std::runtime_error(std::string("rnn: expected all tensors of dtype ") + dtype_name(dt) + ", got " +
                               dtype_name((*t)->dtype));
  // each tensor's slice shape (without the leading slices' dimension)
  const int k = slices ? 1 : 0;
  for (const Tensor* t : {&xp_, &h0_, &c0_, &w_hh_, &b_hh_, &w_hr_})
    if (*t && slices && ((*t)->dim() < 1 || (*t)->shape[0] != slices))
      throw std::runtime_error("rnn: expected every tensor to have " + std::to_string(slices) +
                               " slices in front, got " + shape_str((*t)->shape));
  auto slice_shape = [&](const Tensor& t) { return Shape(t->shape.begin() + k, t->shape.end()); };
  const Shape xs = slice_shape(xp_), hs = slice_shape(h0_), ws = slice_shape(w_hh_);
  RnnShape s;
  s.mode = mode;
  s.G = mode == kLstm ? 4 : mode == kGru ? 3 : 1;
  if (hs.size() != 2 || ws.size() != 2 || xs.empty())
    throw std::runtime_error("rnn: inconsistent shapes (input projection " + shape_str(xp_->shape) + ", h0 " +
                             shape_str(h0_->shape) + ", weight_hh " + shape_str(w_hh_->shape) + ")");
  s.N = hs[0];
  s.Hout = hs[1];
  s.H = ws[0] / s.G;
  s.reverse = reverse;
  const int64_t GH = s.G * s.H;
  auto numel_of = [&](const Tensor& t) { return t ? shape_numel(t->shape) / std::max<int64_t>(slices, 1) : 0; };
  if (ws[1] != s.Hout || (w_hr_ && (slice_shape(w_hr_) != Shape{s.Hout, s.H})) || (!w_hr_ && s.Hout != s.H) ||
      (c0_ && slice_shape(c0_) != Shape{s.N, s.H}) || (b_hh_ && numel_of(b_hh_) != GH) || xs.back() != GH)
    throw std::runtime_error("rnn: inconsistent shapes (input projection " + shape_str(xp_->shape) + ", h0 " +
                             shape_str(h0_->shape) + ", weight_hh " + shape_str(w_hh_->shape) + ")");
  if (batch_sizes.empty()) {
    const int64_t T = xs.size() == 3 ? xs[0] : 0;
    for (int64_t t = 0; t < T; ++t) s.bs.push_back(s.N), s.off.push_back(t * s.N);
  } else {
    int64_t o = 0;
    for (auto b : batch_sizes) {
      if (b <= 0 || b > s.N || (!s.bs.empty() && b > s.bs.back()))
        throw std::runtime_error("rnn: batch_sizes must be positive, non-increasing and at most the batch size");
      s.bs.push_back(b), s.off.push_back(o), o += b;
    }
  }
  if (shape_numel(xs) != s.rows() * GH)
    throw std::runtime_error("rnn: the input projection " + shape_str(xp_->shape) + " does not match the steps");
  Tensor xp = contiguous(xp_), h0 = contiguous(h0_), c0 = c0_ ? contiguous(c0_) : Tensor();
  Tensor whh = contiguous(w_hh_), bhh = b_hh_ ? contiguous(b_hh_) : Tensor(),
         whr = w_hr_ ? contiguous(w_hr_) : Tensor();
  Shape os = xp_->shape;
  os.back() = s.Hout;
  auto lead = [&](const Shape& sh) { return with_slices(sh, slices); };
  const int64_t B = std::max<int64_t>(slices, 1);
  Tensor out = empty(os, dt), hn = empty(lead({s.N, s.Hout}), dt), cn = mode == kLstm ? empty(lead({s.N, s.H}), dt) : Tensor();
  const bool grad = any_requires_grad({&xp_, &h0_, &c0_, &w_hh_, &b_hh_, &w_hr_});
  std::vector<std::shared_ptr<void>> saved(B);
  EMBER_DISPATCH_FLOAT(dt, "rnn", T, {
    auto at = [&](const Tensor& t, int64_t i) { return slice_of<T>(t, i, B); };
    std::vector<std::shared_ptr<RnnSaved<T>>> svs(B);
    parallel_items(B, slice_work(s), [&](int64_t i) {
      if (grad) svs[i] = std::make_shared<RnnSaved<T>>();
      rnn_forward<T>(s, at(xp, i), at(h0, i), at(c0, i), at(whh, i), at(bhh, i), at(whr, i), at(out, i), at(hn, i),
                     at(cn, i), svs[i].get());
    });
    for (int64_t i = 0; i < B; ++i) saved[i] = svs[i];
  });
  if (grad) {
    auto n = make_node<RnnLayerBackward>({&xp_, &h0_, &c0_, &w_hh_, &b_hh_, &w_hr_});
    n->w_hh.save(w_hh_);
    if (w_hr_) n->w_hr.save(w_hr_);
    n->xp.save(xp_), n->h0.save(h0_);
    n->xp_shape = xs;
    if (c0_) n->c0.save(c0_);
    if (b_hh_) n->b_hh.save(b_hh_);
    n->shape = s;
    n->dtype = dt;
    n->slices = slices;
    n->saved = std::move(saved);
    n->has_c = (bool)c0_;
    n->num_outputs = 3;
    set_history(out, n, 0);
    set_history(hn, n, 1);
    if (cn) set_history(cn, n, 2);
  }
  return {out, hn, cn};
}

}  // namespace

std::vector<Tensor> rnn_layer(int mode, const Tensor& xp, const Tensor& h0, const Tensor& c0, const Tensor& w_hh,
                              const Tensor& b_hh, const Tensor& w_hr, bool reverse,
                              const std::vector<int64_t>& batch_sizes, int64_t slices) {
  if (slices < 0) throw ValueError("rnn: slices must be 0 (unbatched) or positive, got " + std::to_string(slices));
  if (any_storage({&xp, &h0, &c0, &w_hh, &b_hh, &w_hr})) {
    auto r = rnn_layer(mode, to_compute(xp), to_compute(h0), to_compute(c0), to_compute(w_hh), to_compute(b_hh),
                       to_compute(w_hr), reverse, batch_sizes, slices);
    for (auto& t : r)
      if (t) t = from_compute(t, {&xp});
    return r;
  }
  return rnn_layer_impl(mode, xp, h0, c0, w_hh, b_hh, w_hr, reverse, batch_sizes, slices);
}

}  // namespace ember
