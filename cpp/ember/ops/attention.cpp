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
#include <cstdint>
#include <cstring>
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

// The softmax of one batch's L x S scores in place, after adding the causal mask (-inf above the
// diagonal) and the explicit one m (bool: true = attend; float: added; its rows mr and columns mc
// elements apart); under `safe` a row with nothing to attend to becomes 0, not NaN. The float
// version is compiled per SIMD target (Note [Run-time SIMD]) and gives ember.softmax's values
// (softmax_row_from_max); a mask contiguous along S is added in vector loops.
template <class T>
EMBER_INLINE bool safe_zero_row(T* row, int64_t S) {  // a row of -inf only: zeros, and true
  for (int64_t j = 0; j < S; ++j)
    if (row[j] != -std::numeric_limits<T>::infinity()) return false;  // (NaN scores are not "nothing": they stay NaN)
  std::fill(row, row + S, T(0));
  return true;
}
// row += (m ? 0 : -inf) over a contiguous bool row: the bits of -inf where the byte is 0, of +0 where
// it is 1 (a select from bytes did not vectorize)
EMBER_INLINE void add_bool_row(float* __restrict row, const uint8_t* __restrict m, int64_t S) {
  for (int64_t j = 0; j < S; ++j) {
    const uint32_t u = ((uint32_t)m[j] - 1u) & 0xff800000u;
    float f;
    std::memcpy(&f, &u, sizeof f);
    row[j] += f;
  }
}
template <class T>
EMBER_INLINE void add_masks(T* row, int64_t i, int64_t S, const void* m, bool mbool, int64_t mr, int64_t mc,
                            bool causal) {
  const T ninf = -std::numeric_limits<T>::infinity();
  if (causal)
    for (int64_t j = i + 1; j < S; ++j) row[j] += ninf;
  if (!m) return;
  if (mbool) {
    const bool* mb = static_cast<const bool*>(m) + i * mr;
    if constexpr (std::is_same_v<T, float>) {
      if (mc == 1) return add_bool_row(row, reinterpret_cast<const uint8_t*>(mb), S);
    }
    for (int64_t j = 0; j < S; ++j) row[j] += mb[j * mc] ? T(0) : ninf;
  } else {
    const T* mt = static_cast<const T*>(m) + i * mr;
    if (mc == 1)
      for (int64_t j = 0; j < S; ++j) row[j] += mt[j];
    else
      for (int64_t j = 0; j < S; ++j) row[j] += mt[j * mc];
  }
}
EMBER_INLINE void masked_softmax_rows_impl(float* w, int64_t L, int64_t S, const void* m, bool mbool, int64_t mr,
                                           int64_t mc, bool causal, bool safe) {
  for (int64_t i = 0; i < L; ++i) {
    float* row = w + i * S;
    add_masks(row, i, S, m, mbool, mr, mc, causal);
    const float mx = lane_max(row, S);
    if (safe && mx == -INFINITY && safe_zero_row(row, S)) continue;
    softmax_row_from_max(row, row, S, mx, false);
  }
}
// Short rows (a small model's sequence) take a copy with S a constant: the five row loops unroll
// into straight vector code; as loops with a run-time length, their set-up was most of a 32-long row.
EMBER_CLONES void masked_softmax_rows(float* w, int64_t L, int64_t S, const void* m, bool mbool, int64_t mr,
                                      int64_t mc, bool causal, bool safe) {
  switch (S) {
    case 16: return masked_softmax_rows_impl(w, L, 16, m, mbool, mr, mc, causal, safe);
    case 32: return masked_softmax_rows_impl(w, L, 32, m, mbool, mr, mc, causal, safe);
    case 64: return masked_softmax_rows_impl(w, L, 64, m, mbool, mr, mc, causal, safe);
    default: return masked_softmax_rows_impl(w, L, S, m, mbool, mr, mc, causal, safe);
  }
}
template <class T>
void masked_softmax_rows_libm(T* w, int64_t L, int64_t S, const void* m, bool mbool, int64_t mr, int64_t mc,
                              bool causal, bool safe) {
  for (int64_t i = 0; i < L; ++i) {
    T* row = w + i * S;
    add_masks(row, i, S, m, mbool, mr, mc, causal);
    T mx = -std::numeric_limits<T>::infinity();
    for (int64_t j = 0; j < S; ++j) mx = row[j] > mx ? row[j] : mx;
    if (safe && mx == -std::numeric_limits<T>::infinity() && safe_zero_row(row, S)) continue;
    T s = 0;
    for (int64_t j = 0; j < S; ++j) s += (row[j] = std::exp(row[j] - mx));
    for (int64_t j = 0; j < S; ++j) row[j] /= s;
  }
}

// The softmax's backward over L rows of S in place: d = w * (d - sum(d * w)) (float: SIMD clones,
// the row sums in lane_sum's order).
template <class T>
EMBER_INLINE void softmax_backward_row(T* __restrict d, const T* __restrict w, int64_t S, T dot) {
  for (int64_t j = 0; j < S; ++j) d[j] = w[j] * (d[j] - dot);
}
EMBER_INLINE void softmax_backward_rows_impl(float* d, const float* w, int64_t L, int64_t S) {
  for (int64_t i = 0; i < L; ++i, d += S, w += S)
    softmax_backward_row(d, w, S, lane_sum<float>(S, [&](int64_t j) { return d[j] * w[j]; }));
}
EMBER_CLONES void softmax_backward_rows(float* d, const float* w, int64_t L, int64_t S) {
  switch (S) {  // (short rows with S a constant, as masked_softmax_rows)
    case 16: return softmax_backward_rows_impl(d, w, L, 16);
    case 32: return softmax_backward_rows_impl(d, w, L, 32);
    case 64: return softmax_backward_rows_impl(d, w, L, 64);
    default: return softmax_backward_rows_impl(d, w, L, S);
  }
}
template <class T>
void softmax_backward_rows_scalar(T* d, const T* w, int64_t L, int64_t S) {
  for (int64_t i = 0; i < L; ++i, d += S, w += S) {
    T dot = 0;
    for (int64_t j = 0; j < S; ++j) dot += d[j] * w[j];
    softmax_backward_row(d, w, S, dot);
  }
}

// A batch's products are small (a tiny transformer's 32 x 32 scores over 16-wide heads): through
// gemm each paid its dispatch and OpenBLAS's buffer lock, more than the arithmetic. With the right
// operand's rows contiguous and N (the output's width) 16, 32 or 64, float runs this one instead:
// C (M x N, contiguous) = A (any strides) @ B (rows ldb apart), rows of C held in registers while
// K rows of B are added into them (SIMD clones).
// R rows at a time (4 to 8 accumulators of 16 floats), so that consecutive multiply-adds do not wait
// on each other; the last M % R rows one at a time. Written with GCC's vector types: as scalar loops
// with constant bounds GCC vectorized them along K, through shuffles.
typedef float F32x16 __attribute__((vector_size(64)));
typedef float F32x16u __attribute__((vector_size(64), aligned(4), may_alias));  // (unaligned access)
template <int NV, int R>
EMBER_INLINE void small_mm_block(int64_t i, int64_t K, const float* a, int64_t ars, int64_t acs, const float* b,
                                 int64_t ldb, float* c) {
  F32x16 acc[R][NV] = {};
  for (int64_t k = 0; k < K; ++k) {
    F32x16 bv[NV];
    for (int v = 0; v < NV; ++v) bv[v] = *reinterpret_cast<const F32x16u*>(b + k * ldb + 16 * v);
    for (int r = 0; r < R; ++r) {
      const float av = a[(i + r) * ars + k * acs];
      for (int v = 0; v < NV; ++v) acc[r][v] += av * bv[v];
    }
  }
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < NV; ++v) *reinterpret_cast<F32x16u*>(c + (i + r) * NV * 16 + 16 * v) = acc[r][v];
}
template <int N>
EMBER_INLINE void small_mm_rows(int64_t M, int64_t K, const float* a, int64_t ars, int64_t acs, const float* b,
                                int64_t ldb, float* c) {
  constexpr int NV = N / 16, R = 8 / NV;
  int64_t i = 0;
  for (; i + R <= M; i += R) small_mm_block<NV, R>(i, K, a, ars, acs, b, ldb, c);
  for (; i < M; ++i) small_mm_block<NV, 1>(i, K, a, ars, acs, b, ldb, c);
}
EMBER_CLONES void small_mm(int64_t M, int64_t N, int64_t K, const float* a, int64_t ars, int64_t acs, const float* b,
                           int64_t ldb, float* c) {
  switch (N) {
    case 16: return small_mm_rows<16>(M, K, a, ars, acs, b, ldb, c);
    case 32: return small_mm_rows<32>(M, K, a, ars, acs, b, ldb, c);
    default: return small_mm_rows<64>(M, K, a, ars, acs, b, ldb, c);
  }
}
// C = A @ B with B's rows contiguous (rows ldb apart): small_mm where it applies, else gemm.
template <class T>
void batch_mm(int64_t M, int64_t N, int64_t K, MatRef A, const T* b, int64_t ldb, T* c) {
  if constexpr (std::is_same_v<T, float>)
    if (N == 16 || N == 32 || N == 64)
      return small_mm(M, N, K, static_cast<const float*>(A.p), A.rs, A.cs, b, ldb, c);
  gemm<T>(M, N, K, A, MatRef{b, ldb, 1}, c);
}
// m (rows x cols) with contiguous rows: m itself when it has them, else a copy in buf; its row stride in *ld
template <class T>
const T* with_rows(const T* p, int64_t rs, int64_t cs, int64_t rows, int64_t cols, std::vector<T>& buf, int64_t* ld) {
  if (cs == 1 || cols == 1) {
    *ld = rs;
    return p;
  }
  buf.resize(rows * cols);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) buf[i * cols + j] = p[i * rs + j * cs];
  *ld = cols;
  return buf.data();
}

template <class T>
void attn_forward(const AttnGeom& g, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask, T* w_all,
                  T* out) {
  const auto oq = batch_offsets(q, g.nb), ok = batch_offsets(k, g.nb), ov = batch_offsets(v, g.nb);
  const auto om = mask ? batch_offsets(mask, g.nb) : std::vector<int64_t>();
  const bool mbool = mask && mask->dtype == DType::Bool;
  const int64_t mr = mask ? mask->strides[mask->dim() - 2] : 0, mc = mask ? mask->strides[mask->dim() - 1] : 0;
  parallel_for(g.nb, attn_threads(g), 1, [&](int64_t lo, int64_t hi) {
    std::vector<T> qs(g.L * g.E), kt, vr;
    for (int64_t b = lo; b < hi; ++b) {
      const Mat<T> qb = mat<T>(q, oq, b), kb = mat<T>(k, ok, b), vb = mat<T>(v, ov, b);
      scaled_q(qb, g, qs.data());
      T* w = w_all + b * g.L * g.S;
      int64_t ldk, ldv;
      const T* kT = with_rows(kb.p, kb.cs, kb.rs, g.E, g.S, kt, &ldk);  // k^T: E x S
      batch_mm<T>(g.L, g.S, g.E, MatRef{qs.data(), g.E, 1}, kT, ldk, w);  // (q * scale) @ k^T
      const void* m = nullptr;  // this batch's mask
      if (mask) m = mbool ? (const void*)(mask->data<bool>() + om[b]) : (const void*)(mask->data<T>() + om[b]);
      if constexpr (std::is_same_v<T, float>)
        masked_softmax_rows(w, g.L, g.S, m, mbool, mr, mc, g.causal, g.safe);
      else
        masked_softmax_rows_libm(w, g.L, g.S, m, mbool, mr, mc, g.causal, g.safe);
      const T* vp = with_rows(vb.p, vb.rs, vb.cs, g.S, g.Ev, vr, &ldv);
      batch_mm<T>(g.L, g.Ev, g.S, MatRef{w, g.S, 1}, vp, ldv, out + b * g.L * g.Ev);  // w @ v
    }
  });
}

template <class T>
void attn_backward(const AttnGeom& g, const Tensor& q, const Tensor& k, const Tensor& v, const T* w_all, const T* gout,
                   T* gq, T* gk, T* gv) {
  const auto oq = batch_offsets(q, g.nb), ok = batch_offsets(k, g.nb), ov = batch_offsets(v, g.nb);
  parallel_for(g.nb, attn_threads(g), 1, [&](int64_t lo, int64_t hi) {
    std::vector<T> qs(g.L * g.E), ds(g.L * g.S), vt, kr;
    for (int64_t b = lo; b < hi; ++b) {
      const Mat<T> qb = mat<T>(q, oq, b), kb = mat<T>(k, ok, b), vb = mat<T>(v, ov, b);
      const T* w = w_all + b * g.L * g.S;
      const T* go = gout + b * g.L * g.Ev;
      if (gv) batch_mm<T>(g.S, g.Ev, g.L, MatRef{w, 1, g.S}, go, g.Ev, gv + b * g.S * g.Ev);  // w^T @ dout
      if (!gq && !gk) continue;
      int64_t ldv, ldk;
      const T* vT = with_rows(vb.p, vb.cs, vb.rs, g.Ev, g.S, vt, &ldv);  // v^T: Ev x S
      batch_mm<T>(g.L, g.S, g.Ev, MatRef{go, g.Ev, 1}, vT, ldv, ds.data());  // dw = dout @ v^T
      if constexpr (std::is_same_v<T, float>) softmax_backward_rows(ds.data(), w, g.L, g.S);
      else softmax_backward_rows_scalar(ds.data(), w, g.L, g.S);
      if (gq) {
        T* o = gq + b * g.L * g.E;
        const T* kp = with_rows(kb.p, kb.rs, kb.cs, g.S, g.E, kr, &ldk);
        batch_mm<T>(g.L, g.E, g.S, MatRef{ds.data(), g.S, 1}, kp, ldk, o);  // ds @ k
        const T sc = (T)g.scale;
        for (int64_t i = 0; i < g.L * g.E; ++i) o[i] *= sc;
      }
      if (gk) {
        scaled_q(qb, g, qs.data());
        batch_mm<T>(g.S, g.E, g.L, MatRef{ds.data(), 1, g.S}, qs.data(), g.E, gk + b * g.S * g.E);  // ds^T @ qs
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
