// Scaled dot-product attention as one op and one backward node (F.scaled_dot_product_attention's
// common case: src/ember/nn/_attention.py calls it when there is no dropout, no key/value head
// repetition and q, k, v share their leading dims; the rest takes the composite). Per batch (the
// leading dims flattened, split over the pool): scores = (q * scale) @ k^T + mask, weights =
// softmax(scores) (the "safe" softmax under an explicit mask: a row with nothing to attend to gets
// weights 0 and no gradient, as torch's math kernel), out = weights @ v. The weights are kept for
// the backward: dv = w^T @ dout, dw = dout @ v^T, ds = w * (dw - rowsum(dw * w)), dq = scale * ds @ k,
// dk = ds^T @ (q * scale). The composite's operations with its exp (vexp); the sums run in another
// order (Note [Key-major scores]), so the values agree with it to rounding.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
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

// q * scale: L x E contiguous, or (transposed) E x L
template <class T>
void scaled_q(const Mat<T>& q, const AttnGeom& g, T* qs, bool transposed = false) {
  const T sc = (T)g.scale;
  const int64_t rs = transposed ? 1 : g.E, cs = transposed ? g.L : 1;
  for (int64_t i = 0; i < g.L; ++i)
    for (int64_t e = 0; e < g.E; ++e) qs[i * rs + e * cs] = q.p[i * q.rs + e * q.cs] * sc;
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

// Note [Key-major scores]: a batch's scores are kept as S x L (row j: key j against every query),
// so the softmax over the keys of each query runs down the columns: every loop is contiguous along
// the queries and vectorizes with no horizontal reduction (a 32-long row's max and sum trees were
// most of its time). sT = k @ (q * scale)^T, out = sT^T @ v, and the saved weights are S x L.

// A batch's mask as the additive S x L matrix (bool: 0 where true, -inf where false); its element
// (query i, key j) at m + i * mr + j * mc
template <class T>
void additive_mask_t(const void* m, bool mbool, int64_t mr, int64_t mc, int64_t L, int64_t S, T* dst) {
  const T ninf = -std::numeric_limits<T>::infinity();
  for (int64_t j = 0; j < S; ++j)
    for (int64_t i = 0; i < L; ++i) {
      const int64_t o = i * mr + j * mc;
      dst[j * L + i] = mbool ? (static_cast<const bool*>(m)[o] ? T(0) : ninf) : static_cast<const T*>(m)[o];
    }
}

// The softmax over the keys (rows) of every query (column) of s (S x L) in place, after adding mt
// (S x L, or null) and the causal mask (key j after query i); mx, sm: L values of scratch, dead: L
// flags. Under `safe` a query with nothing to attend to (every score -inf) gets weights 0 (not NaN;
// NaN scores are not "nothing" and stay NaN).
template <class T, class Exp>
EMBER_INLINE void softmax_cols(T* s, int64_t S, int64_t L, const T* mt, bool causal, bool safe, T* mx, T* sm,
                               bool* dead, Exp ex) {
  const T ninf = -std::numeric_limits<T>::infinity();
  for (int64_t i = 0; i < L; ++i) mx[i] = ninf, sm[i] = T(0);
  for (int64_t j = 0; j < S; ++j) {
    T* r = s + j * L;
    if (mt)
      for (int64_t i = 0; i < L; ++i) r[i] += mt[j * L + i];
    if (causal)
      for (int64_t i = 0; i < std::min(j, L); ++i) r[i] += ninf;
    for (int64_t i = 0; i < L; ++i) mx[i] = r[i] > mx[i] ? r[i] : mx[i];
  }
  bool any_dead = false;
  if (safe)
    for (int64_t i = 0; i < L; ++i) {
      dead[i] = false;
      if (mx[i] != ninf) continue;
      bool all = true;
      for (int64_t j = 0; j < S && all; ++j) all = s[j * L + i] == ninf;
      dead[i] = all;
      any_dead = any_dead || all;
    }
  for (int64_t j = 0; j < S; ++j) {
    T* r = s + j * L;
    for (int64_t i = 0; i < L; ++i) {
      const T e = ex(r[i] - mx[i]);
      r[i] = e;
      sm[i] += e;
    }
  }
  for (int64_t i = 0; i < L; ++i) sm[i] = T(1) / sm[i];
  for (int64_t j = 0; j < S; ++j)
    for (int64_t i = 0; i < L; ++i) s[j * L + i] *= sm[i];
  if (any_dead)
    for (int64_t i = 0; i < L; ++i)
      if (dead[i])
        for (int64_t j = 0; j < S; ++j) s[j * L + i] = T(0);
}
// Its backward in place: d = w * (d - colsum(d * w)); dot: L values of scratch
template <class T>
EMBER_INLINE void softmax_cols_backward(T* d, const T* w, int64_t S, int64_t L, T* dot) {
  for (int64_t i = 0; i < L; ++i) dot[i] = T(0);
  for (int64_t j = 0; j < S; ++j)
    for (int64_t i = 0; i < L; ++i) dot[i] += d[j * L + i] * w[j * L + i];
  for (int64_t j = 0; j < S; ++j)
    for (int64_t i = 0; i < L; ++i) d[j * L + i] = w[j * L + i] * (d[j * L + i] - dot[i]);
}
// float: SIMD clones, with the usual query counts as constants (the loops along them then unroll)
EMBER_CLONES void softmax_cols_f32(float* s, int64_t S, int64_t L, const float* mt, bool causal, bool safe, float* mx,
                                   float* sm, bool* dead) {
  auto ex = [](float x) { return vexp(x); };
  switch (L) {
    case 16: return softmax_cols(s, S, 16, mt, causal, safe, mx, sm, dead, ex);
    case 32: return softmax_cols(s, S, 32, mt, causal, safe, mx, sm, dead, ex);
    case 64: return softmax_cols(s, S, 64, mt, causal, safe, mx, sm, dead, ex);
    default: return softmax_cols(s, S, L, mt, causal, safe, mx, sm, dead, ex);
  }
}
EMBER_CLONES void softmax_cols_backward_f32(float* d, const float* w, int64_t S, int64_t L, float* dot) {
  switch (L) {
    case 16: return softmax_cols_backward(d, w, S, 16, dot);
    case 32: return softmax_cols_backward(d, w, S, 32, dot);
    case 64: return softmax_cols_backward(d, w, S, 64, dot);
    default: return softmax_cols_backward(d, w, S, L, dot);
  }
}
// float through the SIMD clones above, double through libm's exp
template <class T>
void softmax_cols_any(T* s, int64_t S, int64_t L, const T* mt, bool causal, bool safe, T* mx, T* sm, bool* dead) {
  if constexpr (std::is_same_v<T, float>) softmax_cols_f32(s, S, L, mt, causal, safe, mx, sm, dead);
  else softmax_cols(s, S, L, mt, causal, safe, mx, sm, dead, [](T x) { return std::exp(x); });
}
template <class T>
void softmax_cols_backward_any(T* d, const T* w, int64_t S, int64_t L, T* dot) {
  if constexpr (std::is_same_v<T, float>) softmax_cols_backward_f32(d, w, S, L, dot);
  else softmax_cols_backward(d, w, S, L, dot);
}

template <class T>
void attn_forward(const AttnGeom& g, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask, T* w_all,
                  T* out) {
  const auto oq = batch_offsets(q, g.nb), ok = batch_offsets(k, g.nb), ov = batch_offsets(v, g.nb);
  const auto om = mask ? batch_offsets(mask, g.nb) : std::vector<int64_t>();
  const bool mbool = mask && mask->dtype == DType::Bool;
  const int64_t mr = mask ? mask->strides[mask->dim() - 2] : 0, mc = mask ? mask->strides[mask->dim() - 1] : 0;
  auto mask_of = [&](int64_t b) -> const void* {
    return mbool ? (const void*)(mask->data<bool>() + om[b]) : (const void*)(mask->data<T>() + om[b]);
  };
  // a mask shared by every batch (an (L, S) mask expanded) is transposed once
  const bool shared = mask && std::all_of(om.begin(), om.end(), [&](int64_t o) { return o == om[0]; });
  std::vector<T> shared_mt(shared ? g.S * g.L : 0);
  if (shared) additive_mask_t(mask_of(0), mbool, mr, mc, g.L, g.S, shared_mt.data());
  parallel_for(g.nb, attn_threads(g), 1, [&](int64_t lo, int64_t hi) {
    std::vector<T> qt(g.E * g.L), mx(g.L), sm(g.L), vr, mt(mask && !shared ? g.S * g.L : 0);
    std::unique_ptr<bool[]> dead(new bool[g.L]);
    for (int64_t b = lo; b < hi; ++b) {
      const Mat<T> qb = mat<T>(q, oq, b), kb = mat<T>(k, ok, b), vb = mat<T>(v, ov, b);
      scaled_q(qb, g, qt.data(), true);  // (q * scale)^T: E x L
      T* w = w_all + b * g.S * g.L;
      batch_mm<T>(g.S, g.L, g.E, MatRef{kb.p, kb.rs, kb.cs}, qt.data(), g.L, w);  // k @ (q * scale)^T
      const T* m = shared ? shared_mt.data() : nullptr;
      if (mask && !shared) {
        additive_mask_t(mask_of(b), mbool, mr, mc, g.L, g.S, mt.data());
        m = mt.data();
      }
      softmax_cols_any(w, g.S, g.L, m, g.causal, g.safe, mx.data(), sm.data(), dead.get());
      int64_t ldv;
      const T* vp = with_rows(vb.p, vb.rs, vb.cs, g.S, g.Ev, vr, &ldv);
      batch_mm<T>(g.L, g.Ev, g.S, MatRef{w, 1, g.L}, vp, ldv, out + b * g.L * g.Ev);  // weights @ v
    }
  });
}

template <class T>
void attn_backward(const AttnGeom& g, const Tensor& q, const Tensor& k, const Tensor& v, const T* w_all, const T* gout,
                   T* gq, T* gk, T* gv) {
  const auto oq = batch_offsets(q, g.nb), ok = batch_offsets(k, g.nb), ov = batch_offsets(v, g.nb);
  parallel_for(g.nb, attn_threads(g), 1, [&](int64_t lo, int64_t hi) {
    std::vector<T> qs(g.L * g.E), ds(g.S * g.L), dot(g.L), got, kr;
    for (int64_t b = lo; b < hi; ++b) {
      const Mat<T> qb = mat<T>(q, oq, b), kb = mat<T>(k, ok, b), vb = mat<T>(v, ov, b);
      const T* w = w_all + b * g.S * g.L;  // the weights' transpose, S x L
      const T* go = gout + b * g.L * g.Ev;
      if (gv) batch_mm<T>(g.S, g.Ev, g.L, MatRef{w, g.L, 1}, go, g.Ev, gv + b * g.S * g.Ev);  // weights^T @ dout
      if (!gq && !gk) continue;
      int64_t ldg, ldk;
      const T* goT = with_rows(go, 1, g.Ev, g.Ev, g.L, got, &ldg);  // dout^T: Ev x L
      batch_mm<T>(g.S, g.L, g.Ev, MatRef{vb.p, vb.rs, vb.cs}, goT, ldg, ds.data());  // (dout @ v^T)^T
      softmax_cols_backward_any(ds.data(), w, g.S, g.L, dot.data());  // the scores' gradient, transposed
      if (gq) {
        T* o = gq + b * g.L * g.E;
        const T* kp = with_rows(kb.p, kb.rs, kb.cs, g.S, g.E, kr, &ldk);
        batch_mm<T>(g.L, g.E, g.S, MatRef{ds.data(), 1, g.L}, kp, ldk, o);  // ds @ k
        const T sc = (T)g.scale;
        for (int64_t i = 0; i < g.L * g.E; ++i) o[i] *= sc;
      }
      if (gk) {
        scaled_q(qb, g, qs.data());
        batch_mm<T>(g.S, g.E, g.L, MatRef{ds.data(), g.L, 1}, qs.data(), g.E, gk + b * g.S * g.E);  // ds^T @ qs
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
  Tensor weights;  // [nb, S, L] (Note [Key-major scores])
  Tensor mask;     // the forward's mask (null: none), for a create_graph recompute
  AttnGeom g;
  // Attention from differentiable ops, as the forward computes it (Note [Double backward])
  Tensor composite(const Tensor& qt, const Tensor& kt, const Tensor& vt) const {
    const int64_t nd = qt->dim();
    Tensor s = mul(matmul(qt, transpose(kt, nd - 2, nd - 1)), num(g.scale));
    if (g.causal) {
      Tensor keep = compare(tri(ones({g.L, g.S}, DType::Float32), 0, true), num(0), CmpOp::Gt);
      s = masked_fill(s, logical_not(keep), num(-INFINITY));
    }
    if (mask) s = mask->dtype == DType::Bool ? masked_fill(s, logical_not(mask), num(-INFINITY)) : add(s, mask);
    Tensor w = softmax(s, nd - 1);
    if (g.safe) w = where(compare(w, w, CmpOp::Ne), num(0), w);  // a fully masked row: zeros, as the forward
    return matmul(w, vt);
  }
  std::vector<Tensor> apply(std::vector<Tensor>& grads) override {
    if (released || !weights)
      throw std::runtime_error("Trying to backward through the graph a second time (or directly access saved tensors "
                               "after they have already been freed). Specify retain_graph=True if you need to backward "
                               "through the graph a second time.");
    if (GradMode::is_enabled()) {
      Tensor qt = q.get(*this), kt = k.get(*this), vt = v.get(*this);
      return grads_by_recompute(*this, {qt, kt, vt}, [&] { return composite(qt, kt, vt); }, grads[0]);
    }
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
    weights.reset(), mask.reset();
  }
  bool differentiable() const override { return true; }
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
  Tensor out = empty(with_last2(q->shape, g.L, g.Ev), q->dtype), w = empty({g.nb, g.S, g.L}, q->dtype);  // Note [Key-major scores]
  EMBER_DISPATCH_FLOAT(q->dtype, "scaled_dot_product_attention", T,
                       { attn_forward<T>(g, q, k, v, mask, w->data<T>(), out->data<T>()); });
  if (any_requires_grad({&q, &k, &v})) {
    auto n = make_node<SdpaBackward>({&q, &k, &v});
    n->q.save(q), n->k.save(k), n->v.save(v);
    n->weights = w;
    n->mask = mask;
    n->g = g;
    set_history(out, n);
  }
  return out;
}

}  // namespace ember
