// Scaled dot-product attention as one op and one backward node (F.scaled_dot_product_attention's
// common case: src/ember/nn/_attention.py calls it when there is no dropout, no key/value head
// repetition and q, k, v share their leading dims; the rest takes the composite). Per batch (the
// leading dims flattened, split over the pool): scores = (q * scale) @ k^T + mask, weights =
// softmax(scores) (the "safe" softmax under an explicit mask: a row with nothing to attend to gets
// weights 0 and no gradient, as torch's math kernel), out = weights @ v. The weights are kept for
// the backward: dv = w^T @ dout, dw = dout @ v^T, ds = w * (dw - rowsum(dw * w)), dq = scale * ds @ k,
// dk = ds^T @ (q * scale). The same operations in the same order as the composite, so the values
// agree with it to rounding.
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "ember/autograd/node.h"
#include "ember/kernels/gemm.h"
#include "ember/kernels/parallel.h"
#include "ember/kernels/vmath.h"
#include "ember/ops/nn.h"
#include "ember/ops/ops.h"

namespace ember {

namespace {

// element offsets of every batch (the leading dims, row-major) of t
std::vector<int64_t> batch_offsets(const Tensor& t, int64_t nb) {
  const int lead = t->dim() - 2;
  std::vector<int64_t> off(nb, 0);
  for (int64_t b = 0; b < nb; ++b) {
    int64_t r = b, o = 0;
    for (int d = lead - 1; d >= 0; --d) {
      o += (r % t->shape[d]) * t->strides[d];
      r /= t->shape[d];
    }
    off[b] = o;
  }
  return off;
}

struct AttnGeom {
  int64_t nb, L, S, E, Ev;
  double scale;
  bool causal, safe;
};

template <class T>
struct Mat {  // one batch's matrix: a base pointer and the last two strides
  const T* p;
  int64_t rs, cs;
};

template <class T>
Mat<T> mat(const Tensor& t, const std::vector<int64_t>& off, int64_t b) {
  return {t->data<T>() + off[b], t->strides[t->dim() - 2], t->strides[t->dim() - 1]};
}

int attn_threads(const AttnGeom& g) {
  const int64_t work = g.nb * g.L * g.S * (g.E + g.Ev);
  return (int)std::max<int64_t>(1, std::min<int64_t>({work / (1 << 16), g.nb, get_num_threads()}));
}

// q * scale (L x E, contiguous)
template <class T>
void scaled_q(const Mat<T>& q, const AttnGeom& g, T* qs) {
  const T sc = (T)g.scale;
  for (int64_t i = 0; i < g.L; ++i)
    for (int64_t e = 0; e < g.E; ++e) qs[i * g.E + e] = q.p[i * q.rs + e * q.cs] * sc;
}

template <class T>
void attn_forward(const AttnGeom& g, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask, T* w_all,
                  T* out) {
  const auto oq = batch_offsets(q, g.nb), ok = batch_offsets(k, g.nb), ov = batch_offsets(v, g.nb);
  const auto om = mask ? batch_offsets(mask, g.nb) : std::vector<int64_t>();
  const bool mbool = mask && mask->dtype == DType::Bool;
  const T ninf = -std::numeric_limits<T>::infinity();
  parallel_for(g.nb, attn_threads(g), 1, [&](int64_t lo, int64_t hi) {
    std::vector<T> qs(g.L * g.E);
    for (int64_t b = lo; b < hi; ++b) {
      const Mat<T> qb = mat<T>(q, oq, b), kb = mat<T>(k, ok, b), vb = mat<T>(v, ov, b);
      scaled_q(qb, g, qs.data());
      T* w = w_all + b * g.L * g.S;
      gemm<T>(g.L, g.S, g.E, MatRef{qs.data(), g.E, 1}, MatRef{kb.p, kb.cs, kb.rs}, w);  // (q * scale) @ k^T
      for (int64_t i = 0; i < g.L; ++i) {
        T* row = w + i * g.S;
        if (g.causal)
          for (int64_t j = i + 1; j < g.S; ++j) row[j] += ninf;
        if (mask) {
          const int64_t mr = mask->strides[mask->dim() - 2], mc = mask->strides[mask->dim() - 1];
          if (mbool) {
            const bool* m = mask->data<bool>() + om[b] + i * mr;
            for (int64_t j = 0; j < g.S; ++j) row[j] += m[j * mc] ? T(0) : ninf;
          } else {
            const T* m = mask->data<T>() + om[b] + i * mr;
            for (int64_t j = 0; j < g.S; ++j) row[j] += m[j * mc];
          }
        }
        T mx = ninf;
        for (int64_t j = 0; j < g.S; ++j) mx = row[j] > mx ? row[j] : mx;
        if (g.safe && mx == ninf) {  // nothing to attend to (NaN scores are not "nothing": they stay NaN)
          bool all_ninf = true;
          for (int64_t j = 0; j < g.S; ++j) all_ninf = all_ninf && row[j] == ninf;
          if (all_ninf) {
            std::fill(row, row + g.S, T(0));
            continue;
          }
        }
        if constexpr (std::is_same_v<T, float>) {
          softmax_row(row, row, g.S, false);  // (the SIMD softmax ember.softmax runs: the same values)
        } else {
          T s = 0;
          for (int64_t j = 0; j < g.S; ++j) s += (row[j] = std::exp(row[j] - mx));
          for (int64_t j = 0; j < g.S; ++j) row[j] /= s;
        }
      }
      gemm<T>(g.L, g.Ev, g.S, MatRef{w, g.S, 1}, MatRef{vb.p, vb.rs, vb.cs}, out + b * g.L * g.Ev);  // w @ v
    }
  });
}

template <class T>
void attn_backward(const AttnGeom& g, const Tensor& q, const Tensor& k, const Tensor& v, const T* w_all, const T* gout,
                   T* gq, T* gk, T* gv) {
  const auto oq = batch_offsets(q, g.nb), ok = batch_offsets(k, g.nb), ov = batch_offsets(v, g.nb);
  parallel_for(g.nb, attn_threads(g), 1, [&](int64_t lo, int64_t hi) {
    std::vector<T> qs(g.L * g.E), ds(g.L * g.S);
    for (int64_t b = lo; b < hi; ++b) {
      const Mat<T> qb = mat<T>(q, oq, b), kb = mat<T>(k, ok, b), vb = mat<T>(v, ov, b);
      const T* w = w_all + b * g.L * g.S;
      const T* go = gout + b * g.L * g.Ev;
      if (gv) gemm<T>(g.S, g.Ev, g.L, MatRef{w, 1, g.S}, MatRef{go, g.Ev, 1}, gv + b * g.S * g.Ev);  // w^T @ dout
      if (!gq && !gk) continue;
      gemm<T>(g.L, g.S, g.Ev, MatRef{go, g.Ev, 1}, MatRef{vb.p, vb.cs, vb.rs}, ds.data());  // dw = dout @ v^T
      for (int64_t i = 0; i < g.L; ++i) {  // softmax backward: ds = w * (dw - sum(dw * w))
        T* d = ds.data() + i * g.S;
        const T* wr = w + i * g.S;
        T dot = 0;
        for (int64_t j = 0; j < g.S; ++j) dot += d[j] * wr[j];
        for (int64_t j = 0; j < g.S; ++j) d[j] = wr[j] * (d[j] - dot);
      }
      if (gq) {
        T* o = gq + b * g.L * g.E;
        gemm<T>(g.L, g.E, g.S, MatRef{ds.data(), g.S, 1}, MatRef{kb.p, kb.rs, kb.cs}, o);  // ds @ k
        const T sc = (T)g.scale;
        for (int64_t i = 0; i < g.L * g.E; ++i) o[i] *= sc;
      }
      if (gk) {
        scaled_q(qb, g, qs.data());
        gemm<T>(g.S, g.E, g.L, MatRef{ds.data(), 1, g.S}, MatRef{qs.data(), g.E, 1}, gk + b * g.S * g.E);  // ds^T @ qs
      }
    }
  });
}

Shape with_last2(const Shape& lead_of, int64_t a, int64_t b) {
  Shape s(lead_of.begin(), lead_of.end() - 2);
  s.push_back(a), s.push_back(b);
  return s;
}

struct SdpaBackward : Node {
  SavedTensor q{this}, k{this}, v{this};
  Tensor weights;  // [nb, L, S]
  AttnGeom g;
  std::vector<Tensor> apply(std::vector<Tensor>& grads) override {
    if (released || !weights)
      throw std::runtime_error("Trying to backward through the graph a second time (or directly access saved tensors "
                               "after they have already been freed). Specify retain_graph=True if you need to backward "
                               "through the graph a second time.");
    Tensor qt = q.get(*this), kt = k.get(*this), vt = v.get(*this), go = contiguous(grads[0]);
    Tensor gq = needs(0) ? empty(qt->shape, qt->dtype) : Tensor();
    Tensor gk = needs(1) ? empty(kt->shape, kt->dtype) : Tensor();
    Tensor gv = needs(2) ? empty(vt->shape, vt->dtype) : Tensor();
    EMBER_DISPATCH_FLOAT(qt->dtype, "scaled_dot_product_attention_backward", T, {
      attn_backward<T>(g, qt, kt, vt, weights->data<T>(), go->data<T>(), gq ? gq->data<T>() : nullptr,
                       gk ? gk->data<T>() : nullptr, gv ? gv->data<T>() : nullptr);
    });
    return {gq, gk, gv};
  }
  void release_saved() override {
    Node::release_saved();
    weights.reset();
  }
  std::string name() const override { return "ScaledDotProductFlashAttentionForCpuBackward0"; }  // (torch's CPU name)
};

}  // namespace

Tensor scaled_dot_product_attention_fused(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask,
                                          double scale, bool causal) {
  const int nd = q->dim();
  if (nd < 2 || k->dim() != nd || v->dim() != nd || q->dtype != k->dtype || q->dtype != v->dtype ||
      (q->dtype != DType::Float32 && q->dtype != DType::Float64))
    throw std::runtime_error("scaled_dot_product_attention (fused): q, k, v must be float32/float64 of one rank");
  for (int d = 0; d < nd - 2; ++d)
    if (k->shape[d] != q->shape[d] || v->shape[d] != q->shape[d])
      throw std::runtime_error("scaled_dot_product_attention (fused): q, k, v must share their leading dims");
  AttnGeom g;
  g.L = q->shape[nd - 2], g.E = q->shape[nd - 1], g.S = k->shape[nd - 2], g.Ev = v->shape[nd - 1];
  if (k->shape[nd - 1] != g.E || v->shape[nd - 2] != g.S)
    throw std::runtime_error("scaled_dot_product_attention (fused): inconsistent q, k, v shapes");
  g.nb = 1;
  for (int d = 0; d < nd - 2; ++d) g.nb *= q->shape[d];
  g.scale = scale, g.causal = causal, g.safe = mask && !causal;
  if (mask && (mask->dim() != nd || mask->shape != with_last2(q->shape, g.L, g.S) ||
               (mask->dtype != DType::Bool && mask->dtype != q->dtype)))
    throw std::runtime_error("scaled_dot_product_attention (fused): the mask must be expanded to the scores' shape");
  Tensor out = empty(with_last2(q->shape, g.L, g.Ev), q->dtype), w = empty({g.nb, g.L, g.S}, q->dtype);
  EMBER_DISPATCH_FLOAT(q->dtype, "scaled_dot_product_attention", T,
                       { attn_forward<T>(g, q, k, v, mask, w->data<T>(), out->data<T>()); });
  if (any_requires_grad({&q, &k, &v})) {
    auto n = make_node<SdpaBackward>({&q, &k, &v});
    n->q.save(q), n->k.save(k), n->v.save(v);
    n->weights = w;
    n->g = g;
    set_history(out, n);
  }
  return out;
}

}  // namespace ember
