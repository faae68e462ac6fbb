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

// Everything the backward needs, per row of the sequence (row r of step t is row off[t] + i).
template <class T>
struct RnnSaved {
  std::vector<T> act;     // [rows, G*H] the gates after their nonlinearity (GRU: r, z, n; RNN: h')
  std::vector<T> hprev;   // [rows, Hout] the state each row started its step from
  std::vector<T> cprev;   // [rows, H] LSTM: the cell state before the step
  std::vector<T> cnew;    // [rows, H] LSTM: the cell state after the step
  std::vector<T> hraw;    // [rows, H] LSTM with projection: o * tanh(c) before W_hr
  std::vector<T> ghn;     // [rows, H] GRU: (h @ W_hh^T + b_hh) of the n gate
};

// y (m x n, contiguous) = a (m x k, row-major) @ b^T where b is n x k row-major
template <class T>
void mm_bt(int64_t m, int64_t n, int64_t k, const T* a, const T* b, T* y) {
  gemm<T>(m, n, k, MatRef{a, k, 1}, MatRef{b, 1, k}, y);
}

template <class T>
void rnn_forward(const RnnShape& s, const T* xp, const T* h0, const T* c0, const T* whh, const T* bhh, const T* whr,
                 T* out, T* hn, T* cn, RnnSaved<T>* sv) {
  const int64_t GH = s.G * s.H, H = s.H, Ho = s.Hout;
  std::vector<T> h(h0, h0 + s.N * Ho), c(c0 ? c0 : h0, c0 ? c0 + s.N * H : h0), gates(s.N * GH), raw(s.N * H);
  std::vector<T> whh_t(GH * Ho);  // W_hh^T, row-major: the per-step product reads it as plain rows
  for (int64_t g = 0; g < GH; ++g)
    for (int64_t k = 0; k < Ho; ++k) whh_t[k * GH + g] = whh[g * Ho + k];
  if (!c0) c.clear();
  if (sv) {
    const int64_t R = s.rows();
    sv->act.resize(R * GH), sv->hprev.resize(R * Ho);
    if (s.mode == kLstm) sv->cprev.resize(R * H), sv->cnew.resize(R * H);
    if (s.mode == kLstm && whr) sv->hraw.resize(R * H);
    if (s.mode == kGru) sv->ghn.resize(R * H);
  }
  for (int64_t p = 0; p < s.T(); ++p) {
    const int64_t t = s.step(p), bs = s.bs[t], r0 = s.off[t];
    if (sv) std::copy(h.begin(), h.begin() + bs * Ho, sv->hprev.begin() + r0 * Ho);
    gemm<T>(bs, GH, Ho, MatRef{h.data(), Ho, 1}, MatRef{whh_t.data(), GH, 1}, gates.data());  // h @ W_hh^T
    for (int64_t i = 0; i < bs; ++i) {
      T* gt = gates.data() + i * GH;
      const T* x = xp + (r0 + i) * GH;
      T* act = sv ? sv->act.data() + (r0 + i) * GH : gt;
      if (bhh)
        for (int64_t j = 0; j < GH; ++j) gt[j] += bhh[j];
      if (s.mode == kLstm) {
        T* ci = c.data() + i * H;
        if (sv) std::copy(ci, ci + H, sv->cprev.begin() + (r0 + i) * H);
        T* hr = whr ? raw.data() + i * H : h.data() + i * Ho;
        for (int64_t j = 0; j < GH; ++j) act[j] = x[j] + gt[j];
        sigmoid_inplace(act, 2 * H);  // i, f
        tanh_inplace(act + 2 * H, H);  // g
        sigmoid_inplace(act + 3 * H, H);  // o
        for (int64_t j = 0; j < H; ++j) ci[j] = act[H + j] * ci[j] + act[j] * act[2 * H + j];
        std::copy(ci, ci + H, hr);
        tanh_inplace(hr, H);
        for (int64_t j = 0; j < H; ++j) hr[j] *= act[3 * H + j];
        if (sv) std::copy(ci, ci + H, sv->cnew.begin() + (r0 + i) * H);
        if (sv && whr) std::copy(hr, hr + H, sv->hraw.begin() + (r0 + i) * H);
      } else if (s.mode == kGru) {
        T* hi = h.data() + i * Ho;
        for (int64_t j = 0; j < 2 * H; ++j) act[j] = x[j] + gt[j];
        sigmoid_inplace(act, 2 * H);  // r, z
        if (sv) std::copy(gt + 2 * H, gt + 3 * H, sv->ghn.begin() + (r0 + i) * H);
        for (int64_t j = 0; j < H; ++j) act[2 * H + j] = x[2 * H + j] + act[j] * gt[2 * H + j];
        tanh_inplace(act + 2 * H, H);  // n
        for (int64_t j = 0; j < H; ++j) hi[j] = act[2 * H + j] + act[H + j] * (hi[j] - act[2 * H + j]);
      } else {
        T* hi = h.data() + i * Ho;
        for (int64_t j = 0; j < H; ++j) act[j] = x[j] + gt[j];
        if (s.mode == kRnnTanh) tanh_inplace(act, H);
        else
          for (int64_t j = 0; j < H; ++j) act[j] = act[j] > 0 ? act[j] : T(0);
        std::copy(act, act + H, hi);
      }
    }
    if (s.mode == kLstm && whr) mm_bt<T>(bs, Ho, H, raw.data(), whr, h.data());  // h = raw @ W_hr^T
    std::copy(h.begin(), h.begin() + bs * Ho, out + r0 * Ho);
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
  const int64_t GH = s.G * s.H, H = s.H, Ho = s.Hout, R = s.rows();
  std::vector<T> dgh_all(s.mode == kGru ? R * GH : 0), dhp_all(whr && gwhr ? R * Ho : 0);
  std::vector<T> dh(s.N * Ho, T(0)), dc;
  if (ghn) std::copy(ghn, ghn + s.N * Ho, dh.begin());
  if (s.mode == kLstm) {
    dc.assign(s.N * H, T(0));
    if (gcn) std::copy(gcn, gcn + s.N * H, dc.begin());
  }
  std::vector<T> draw(s.N * H), dprev(s.N * Ho);
  for (int64_t p = s.T() - 1; p >= 0; --p) {
    const int64_t t = s.step(p), bs = s.bs[t], r0 = s.off[t];
    if (gout)
      for (int64_t i = 0; i < bs * Ho; ++i) dh[i] += gout[r0 * Ho + i];
    T* dg = gxp + r0 * GH;  // the gates' gradients are the input projection's
    if (s.mode == kLstm) {
      const T* dhr = dh.data();
      if (whr) {  // h = raw @ W_hr^T: dW_hr += dh^T @ raw, draw = dh @ W_hr
        if (gwhr) std::copy(dh.begin(), dh.begin() + bs * Ho, dhp_all.begin() + r0 * Ho);
        gemm<T>(bs, H, Ho, MatRef{dh.data(), Ho, 1}, MatRef{whr, H, 1}, draw.data());
        dhr = draw.data();
      }
      for (int64_t i = 0; i < bs; ++i) {
        const T* a = sv.act.data() + (r0 + i) * GH;
        const T* cp = sv.cprev.data() + (r0 + i) * H;
        const T* cnw = sv.cnew.data() + (r0 + i) * H;
        T* d = dg + i * GH;
        T* dci = dc.data() + i * H;
        for (int64_t j = 0; j < H; ++j) {
          const T ig = a[j], fg = a[H + j], gg = a[2 * H + j], og = a[3 * H + j];
          const T tc = vtanh(cnw[j]), dhj = dhr[i * H + j];
          const T dct = dci[j] + dhj * og * (T(1) - tc * tc);
          d[j] = dct * gg * ig * (T(1) - ig);
          d[H + j] = dct * cp[j] * fg * (T(1) - fg);
          d[2 * H + j] = dct * ig * (T(1) - gg * gg);
          d[3 * H + j] = dhj * tc * og * (T(1) - og);
          dci[j] = dct * fg;
        }
      }
    } else if (s.mode == kGru) {
      for (int64_t i = 0; i < bs; ++i) {
        const T* a = sv.act.data() + (r0 + i) * GH;
        const T* hp = sv.hprev.data() + (r0 + i) * Ho;
        const T* gn = sv.ghn.data() + (r0 + i) * H;
        T* d = dg + i * GH;
        T* dhi = dh.data() + i * Ho;
        for (int64_t j = 0; j < H; ++j) {
          const T r = a[j], z = a[H + j], n = a[2 * H + j], g = dhi[j];
          const T dn = g * (T(1) - z) * (T(1) - n * n);
          d[j] = dn * gn[j] * r * (T(1) - r);
          d[H + j] = g * (hp[j] - n) * z * (T(1) - z);
          d[2 * H + j] = dn;
          dhi[j] = g * z;  // the direct path; the recurrent product's part is added below
        }
      }
    } else {
      for (int64_t i = 0; i < bs; ++i)
        for (int64_t j = 0; j < H; ++j) {
          const T y = sv.act[(r0 + i) * GH + j];
          dg[i * GH + j] = dh[i * Ho + j] * (s.mode == kRnnTanh ? T(1) - y * y : (y > 0 ? T(1) : T(0)));
        }
    }
    // the recurrent product gates_h = h_prev @ W_hh^T + b_hh; for GRU its n part was scaled by r
    const T* dgh = dg;
    if (s.mode == kGru) {
      T* d = dgh_all.data() + r0 * GH;
      std::copy(dg, dg + bs * GH, d);
      for (int64_t i = 0; i < bs; ++i)
        for (int64_t j = 0; j < H; ++j) d[i * GH + 2 * H + j] *= sv.act[(r0 + i) * GH + j];
      dgh = d;
    }
    gemm<T>(bs, Ho, GH, MatRef{dgh, GH, 1}, MatRef{whh, Ho, 1}, dprev.data());  // dgates_h @ W_hh
    if (s.mode == kGru) {
      for (int64_t i = 0; i < bs * Ho; ++i) dh[i] += dprev[i];
    } else {
      std::copy(dprev.begin(), dprev.begin() + bs * Ho, dh.begin());
    }
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

struct RnnLayerBackward : Node {
  SavedTensor w_hh{this}, w_hr{this};
  RnnShape shape;
  DType dtype;
  std::shared_ptr<void> saved;  // RnnSaved<T>
  bool has_c = false;
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    if (released || !saved)
      throw std::runtime_error("Trying to backward through the graph a second time (or directly access saved tensors "
                               "after they have already been freed). Specify retain_graph=True if you need to backward "
                               "through the graph a second time.");
    Tensor whh = contiguous(w_hh.get(*this)), whr = w_hr.t ? contiguous(w_hr.get(*this)) : Tensor();
    Tensor go = g[0] ? contiguous(g[0]) : Tensor(), gh = g[1] ? contiguous(g[1]) : Tensor();
    Tensor gc = g.size() > 2 && g[2] ? contiguous(g[2]) : Tensor();
    const int64_t GH = shape.G * shape.H;
    Tensor gxp = empty({shape.rows(), GH}, dtype), gh0 = empty({shape.N, shape.Hout}, dtype);
    Tensor gc0 = has_c ? empty({shape.N, shape.H}, dtype) : Tensor();
    Tensor gwhh = zeros({GH, shape.Hout}, dtype), gbhh = zeros({GH}, dtype);
    Tensor gwhr = whr ? zeros({shape.Hout, shape.H}, dtype) : Tensor();
    EMBER_DISPATCH_FLOAT(dtype, "rnn_backward", T, {
      auto& sv = *static_cast<RnnSaved<T>*>(saved.get());
      rnn_backward<T>(shape, sv, whh->data<T>(), whr ? whr->data<T>() : nullptr, go ? go->data<T>() : nullptr,
                      gh ? gh->data<T>() : nullptr, gc ? gc->data<T>() : nullptr, gxp->data<T>(), gh0->data<T>(),
                      gc0 ? gc0->data<T>() : nullptr, gwhh->data<T>(), gbhh->data<T>(),
                      gwhr ? gwhr->data<T>() : nullptr);
    });
    return {gxp, gh0, gc0, gwhh, gbhh, gwhr};
  }
  void release_saved() override {
    Node::release_saved();
    saved.reset();
  }
  std::string name() const override {
    return shape.mode == kLstm ? "LstmBackward" : shape.mode == kGru ? "GruBackward" : "RnnBackward";
  }
};

}  // namespace

std::vector<Tensor> rnn_layer(int mode, const Tensor& xp_, const Tensor& h0_, const Tensor& c0_, const Tensor& w_hh_,
                              const Tensor& b_hh_, const Tensor& w_hr_, bool reverse,
                              const std::vector<int64_t>& batch_sizes) {
  if (any_storage({&xp_, &h0_, &c0_, &w_hh_, &b_hh_, &w_hr_})) {
    auto r = rnn_layer(mode, to_compute(xp_), to_compute(h0_), to_compute(c0_), to_compute(w_hh_), to_compute(b_hh_),
                       to_compute(w_hr_), reverse, batch_sizes);
    for (auto& t : r)
      if (t) t = from_compute(t, {&xp_});
    return r;
  }
  const DType dt = xp_->dtype;
  if (!is_floating(dt)) throw std::runtime_error(std::string("rnn: expected a floating point input, got ") + dtype_name(dt));
  for (const Tensor* t : {&h0_, &c0_, &w_hh_, &b_hh_, &w_hr_})
    if (*t && (*t)->dtype != dt)
      throw std::runtime_error(std::string("rnn: expected all tensors of dtype ") + dtype_name(dt) + ", got " +
                               dtype_name((*t)->dtype));
  RnnShape s;
  s.mode = mode;
  s.G = mode == kLstm ? 4 : mode == kGru ? 3 : 1;
  s.N = h0_->shape[0];
  s.Hout = h0_->shape[1];
  s.H = w_hh_->shape[0] / s.G;
  s.reverse = reverse;
  const int64_t GH = s.G * s.H;
  if (w_hh_->dim() != 2 || w_hh_->shape[1] != s.Hout || (w_hr_ && (w_hr_->shape[0] != s.Hout || w_hr_->shape[1] != s.H)) ||
      (!w_hr_ && s.Hout != s.H) || (c0_ && (c0_->shape[0] != s.N || c0_->shape[1] != s.H)) ||
      (b_hh_ && b_hh_->numel() != GH) || xp_->shape.back() != GH)
    throw std::runtime_error("rnn: inconsistent shapes (input projection " + shape_str(xp_->shape) + ", h0 " +
                             shape_str(h0_->shape) + ", weight_hh " + shape_str(w_hh_->shape) + ")");
  if (batch_sizes.empty()) {
    const int64_t T = xp_->dim() == 3 ? xp_->shape[0] : 0;
    for (int64_t t = 0; t < T; ++t) s.bs.push_back(s.N), s.off.push_back(t * s.N);
  } else {
    int64_t o = 0;
    for (auto b : batch_sizes) {
      if (b <= 0 || b > s.N || (!s.bs.empty() && b > s.bs.back()))
        throw std::runtime_error("rnn: batch_sizes must be positive, non-increasing and at most the batch size");
      s.bs.push_back(b), s.off.push_back(o), o += b;
    }
  }
  if (shape_numel(xp_->shape) != s.rows() * GH)
    throw std::runtime_error("rnn: the input projection " + shape_str(xp_->shape) + " does not match the steps");
  Tensor xp = contiguous(xp_), h0 = contiguous(h0_), c0 = c0_ ? contiguous(c0_) : Tensor();
  Tensor whh = contiguous(w_hh_), bhh = b_hh_ ? contiguous(b_hh_) : Tensor(), whr = w_hr_ ? contiguous(w_hr_) : Tensor();
  Shape os = xp_->shape;
  os.back() = s.Hout;
  Tensor out = empty(os, dt), hn = empty({s.N, s.Hout}, dt), cn = mode == kLstm ? empty({s.N, s.H}, dt) : Tensor();
  const bool grad = any_requires_grad({&xp_, &h0_, &c0_, &w_hh_, &b_hh_, &w_hr_});
  std::shared_ptr<void> saved;
  EMBER_DISPATCH_FLOAT(dt, "rnn", T, {
    auto sv = grad ? std::make_shared<RnnSaved<T>>() : nullptr;
    rnn_forward<T>(s, xp->data<T>(), h0->data<T>(), c0 ? c0->data<T>() : nullptr, whh->data<T>(),
                   bhh ? bhh->data<T>() : nullptr, whr ? whr->data<T>() : nullptr, out->data<T>(), hn->data<T>(),
                   cn ? cn->data<T>() : nullptr, sv.get());
    saved = sv;
  });
  if (grad) {
    auto n = make_node<RnnLayerBackward>({&xp_, &h0_, &c0_, &w_hh_, &b_hh_, &w_hr_});
    n->w_hh.save(w_hh_);
    if (w_hr_) n->w_hr.save(w_hr_);
    n->shape = s;
    n->dtype = dt;
    n->saved = saved;
    n->has_c = (bool)c0_;
    n->num_outputs = 3;
    set_history(out, n, 0);
    set_history(hn, n, 1);
    if (cn) set_history(cn, n, 2);
  }
  return {out, hn, cn};
}

}  // namespace ember
