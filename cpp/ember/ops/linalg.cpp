// torch.linalg for small matrices: inv, det, slogdet, solve, cholesky, qr, eigh/eigvalsh,
// svd/svdvals, over LAPACK from scipy-openblas32 (loaded with the BLAS). Every batch matrix is
// computed in float64 column-major scratch and cast back; backward formulas are written with
// ember ops next to each forward (Murray 2016 for Cholesky, Townsend for the SVD).
#include <cmath>
#include <cstring>

#include "ember/ops/registry.h"
#include "ember/autograd/node.h"
#include "ember/kernels/gemm.h"
#include "ember/ops/elementwise.h"

namespace ember {

namespace {
using F = int;  // LAPACK integer of scipy-openblas32
template <class Fn>
Fn lapack(const char* name) {
  static_assert(std::is_pointer_v<Fn>);
  void* p = blas_symbol(name);
  if (!p) throw std::runtime_error(std::string("ember: LAPACK routine ") + name + " not found in scipy-openblas32");
  return reinterpret_cast<Fn>(p);
}
using getrf_t = void (*)(F*, F*, double*, F*, F*, F*);
using getri_t = void (*)(F*, double*, F*, F*, double*, F*, F*);
using getrs_t = void (*)(const char*, F*, F*, double*, F*, F*, double*, F*, F*, size_t);
using potrf_t = void (*)(const char*, F*, double*, F*, F*, size_t);
using geqrf_t = void (*)(F*, F*, double*, F*, double*, double*, F*, F*);
using orgqr_t = void (*)(F*, F*, F*, double*, F*, double*, double*, F*, F*);
using syevd_t = void (*)(const char*, const char*, F*, double*, F*, double*, double*, F*, F*, F*, F*, size_t, size_t);
using gesdd_t = void (*)(const char*, F*, F*, double*, F*, double*, double*, F*, double*, F*, double*, F*, F*, F*, size_t);

void check_matrix(const Tensor& a, const char* op, bool square) {
  if (a->dim() < 2)
    throw std::runtime_error(std::string(op) + ": The input tensor A must have at least 2 dimensions.");
  if (square && a->shape[a->dim() - 1] != a->shape[a->dim() - 2])
    throw std::runtime_error(std::string(op) + ": A must be batches of square matrices, but they are " +
                             std::to_string(a->shape[a->dim() - 2]) + " by " + std::to_string(a->shape[a->dim() - 1]) + " matrices");
  if (!is_floating(a->dtype))
    throw std::runtime_error(std::string(op) + ": Expected a floating point or complex tensor as input. Got " + scalar_type_name(a->dtype));
}
// Batches of m x n matrices as float64 column-major buffers, and back.
struct Batch {
  int64_t count, m, n;
  Shape lead;
  std::vector<double> data;  // count * m * n, each matrix column-major
  double* mat(int64_t b) { return data.data() + b * m * n; }
};
Batch to_batch(const Tensor& a) {
  Batch b;
  b.m = a->shape[a->dim() - 2], b.n = a->shape[a->dim() - 1];
  b.lead = Shape(a->shape.begin(), a->shape.end() - 2);
  b.count = shape_numel(b.lead);
  Tensor c = contiguous(cast_nograd(a, DType::Float64));
  b.data.resize(b.count * b.m * b.n);
  const double* p = c->data<double>();
  for (int64_t k = 0; k < b.count; ++k)
    for (int64_t i = 0; i < b.m; ++i)
      for (int64_t j = 0; j < b.n; ++j) b.data[k * b.m * b.n + j * b.m + i] = p[k * b.m * b.n + i * b.n + j];
  return b;
}
// m x n column-major matrices (ld = m) -> tensor of shape lead + [m, n] in dtype d
Tensor from_cols(const std::vector<double>& v, const Shape& lead, int64_t m, int64_t n, DType d, int64_t ld = -1) {
  if (ld < 0) ld = m;
  Shape s = lead;
  s.push_back(m), s.push_back(n);
  Tensor t = empty(s, DType::Float64);
  double* p = t->data<double>();
  int64_t count = shape_numel(lead), stride = ld * n;
  for (int64_t k = 0; k < count; ++k)
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) p[k * m * n + i * n + j] = v[k * stride + j * ld + i];
  return d == DType::Float64 ? t : cast_nograd(t, d);
}
Tensor eye_like(int64_t n, DType d) { return eye(n, n, d); }
}  // namespace
Tensor mT(const Tensor& x) {
  if (x->dim() < 2)
    throw std::runtime_error("tensor.mT is only supported on matrices or batches of matrices. Got " +
                             std::to_string(x->dim()) + "-D tensor.");
  return transpose(x, -2, -1);
}

// ---- inv: A^-1 by LU; backward -A^-T g A^-T
struct InvBackward : Node {
  SavedTensor result{this};
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    Tensor ai = result.get(*this);
    return {neg(matmul(matmul(mT(ai), g[0]), mT(ai)))};
  }
  std::string name() const override { return "LinalgInvExBackward0"; }
};
Tensor linalg_inv(const Tensor& a) {
  check_matrix(a, "linalg.inv", true);
  Batch b = to_batch(a);
  F n = (F)b.n, info = 0, lwork = std::max<F>(1, n * 64);
  std::vector<F> piv(std::max<F>(n, 1));
  std::vector<double> work(lwork);
  auto getrf = lapack<getrf_t>("scipy_dgetrf_");
  auto getri = lapack<getri_t>("scipy_dgetri_");
  for (int64_t k = 0; k < b.count && n > 0; ++k) {
    getrf(&n, &n, b.mat(k), &n, piv.data(), &info);
    if (info > 0)
      throw std::runtime_error("linalg.inv: " + std::string(b.count > 1 ? "(Batch element " + std::to_string(k) + "): " : "") +
                               "The diagonal element " + std::to_string(info) + " is zero, the inversion could not be completed because the input matrix is singular.");
    getri(&n, b.mat(k), &n, piv.data(), work.data(), &lwork, &info);
  }
  Tensor out = from_cols(b.data, b.lead, b.n, b.n, a->dtype);
  if (any_requires_grad({&a})) {
    auto node = make_node<InvBackward>({&a});
    node->result.save(out, true);
    set_history(out, node);
  }
  return out;
}
EMBER_OP("linalg_inv(Tensor A, *, Tensor? out=None) -> Tensor", "function no_half", linalg_inv(a.t(0)));
EMBER_OP("inverse(Tensor input, *, Tensor? out=None) -> Tensor", "function method no_half", linalg_inv(a.t(0)));

// ---- slogdet / det via LU: backward g * d * A^-T (det), g_logabs * A^-T (slogdet)
namespace {
// sign and log|det| of each batch matrix
void lu_slogdet(const Tensor& a, std::vector<double>& sign, std::vector<double>& logabs) {
  Batch b = to_batch(a);
  F n = (F)b.n, info = 0;
  std::vector<F> piv(std::max<F>(n, 1));
  auto getrf = lapack<getrf_t>("scipy_dgetrf_");
  sign.assign(b.count, 1.0), logabs.assign(b.count, 0.0);
  for (int64_t k = 0; k < b.count; ++k) {
    if (n == 0) continue;
    getrf(&n, &n, b.mat(k), &n, piv.data(), &info);
    for (F i = 0; i < n; ++i) {
      double d = b.mat(k)[i * n + i];
      if (piv[i] != i + 1) sign[k] = -sign[k];
      if (d < 0) sign[k] = -sign[k];
      if (d == 0) sign[k] = 0;
      logabs[k] += std::log(std::abs(d));
    }
  }
}
}  // namespace
struct DetBackward : Node {
  SavedTensor input{this}, result{this};
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    Tensor x = input.get(*this), d = result.get(*this);
    Tensor gd = unsqueeze(unsqueeze(mul(g[0], d), -1), -1);
    return {mul(gd, mT(linalg_inv(x)))};
  }
  std::string name() const override { return "LinalgDetBackward0"; }
};
Tensor linalg_det(const Tensor& a) {
  check_matrix(a, "linalg.det", true);
  std::vector<double> sign, logabs;
  lu_slogdet(a, sign, logabs);
  Shape lead(a->shape.begin(), a->shape.end() - 2);
  Tensor out = empty(lead, DType::Float64);
  for (size_t k = 0; k < sign.size(); ++k) out->data<double>()[k] = sign[k] == 0 ? 0.0 : sign[k] * std::exp(logabs[k]);
  out = cast_nograd(out, a->dtype);
  if (any_requires_grad({&a})) {
    auto node = make_node<DetBackward>({&a});
    node->input.save(a), node->result.save(out, true);
    set_history(out, node);
  }
  return out;
}
EMBER_OP("linalg_det(Tensor A, *, Tensor? out=None) -> Tensor", "function no_half", linalg_det(a.t(0)));
EMBER_OP("det(Tensor input) -> Tensor", "function method no_half", linalg_det(a.t(0)));
struct SlogdetBackward : Node {
  SavedTensor input{this};
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    Tensor x = input.get(*this);
    return {mul(unsqueeze(unsqueeze(g[1] ? g[1] : zeros(Shape(x->shape.begin(), x->shape.end() - 2), x->dtype), -1), -1), mT(linalg_inv(x)))};
  }
  std::string name() const override { return "LinalgSlogdetBackward0"; }
};
std::pair<Tensor, Tensor> linalg_slogdet(const Tensor& a) {
  check_matrix(a, "linalg.slogdet", true);
  std::vector<double> sign, logabs;
  lu_slogdet(a, sign, logabs);
  Shape lead(a->shape.begin(), a->shape.end() - 2);
  Tensor s = empty(lead, DType::Float64), l = empty(lead, DType::Float64);
  std::copy(sign.begin(), sign.end(), s->data<double>());
  std::copy(logabs.begin(), logabs.end(), l->data<double>());
  s = cast_nograd(s, a->dtype), l = cast_nograd(l, a->dtype);
  if (any_requires_grad({&a})) {
    auto node = make_node<SlogdetBackward>({&a});
    node->num_outputs = 2;
    node->input.save(a);
    set_history(s, node, 0);  // sign: gradient 0, as torch
    set_history(l, node, 1);
  }
  return {s, l};
}
EMBER_OP("linalg_slogdet(Tensor A, *, Tensor[]? out=None) -> (Tensor sign, Tensor logabsdet)", "function no_half", linalg_slogdet(a.t(0)));
EMBER_OP("slogdet(Tensor input, *, Tensor[]? out=None) -> (Tensor sign, Tensor logabsdet)", "function method no_half", linalg_slogdet(a.t(0)));
EMBER_OP("logdet(Tensor input) -> Tensor", "function method no_half",
         [&] {
           auto r = linalg_slogdet(a.t(0));
           // log of a negative determinant is nan, of zero -inf (torch)
           Tensor nan_if_neg = where(compare(r.first, zeros({}, r.first->dtype), CmpOp::Lt), full({}, Scalar(NAN), r.second->dtype), r.second);
           return nan_if_neg;
         }());

// ---- solve: A X = B (B a vector or a batch of matrices); backward gB = A^-T g, gA = -gB X^T
Tensor linalg_solve(const Tensor& A, const Tensor& B, bool left) {
  check_matrix(A, "linalg.solve", true);
  if (!left) return mT(linalg_solve(mT(A), mT(B), true));
  bool vec = B->dim() == 1 || (B->dim() == A->dim() - 1 && Shape(B->shape.begin(), B->shape.end()) == Shape(A->shape.begin(), A->shape.end() - 1));
  Tensor b2 = vec ? unsqueeze(B, -1) : B;
  if (b2->shape[b2->dim() - 2] != A->shape[A->dim() - 1])
    throw std::runtime_error("linalg.solve: Incompatible shapes of A and B for the equation AX = B (" + std::to_string(A->shape[A->dim() - 2]) + "x" +
                             std::to_string(A->shape[A->dim() - 1]) + " and " + std::to_string(b2->shape[b2->dim() - 2]) + "x" +
                             std::to_string(b2->shape[b2->dim() - 1]) + ")");
  Tensor X = matmul(linalg_inv(A), b2);  // small matrices: inv then product keeps the graph simple and exact enough
  return vec ? squeeze(X, -1) : X;
}
EMBER_OP("linalg_solve(Tensor A, Tensor B, *, bool left=True, Tensor? out=None) -> Tensor", "function no_half",
         linalg_solve(a.t(0), a.t(1), a.b(2)));

// ---- cholesky: A = L L^T; backward (Murray 2016) S = L^-T Phi(L^T gL) L^-1, gA = (S + S^T) / 2
struct CholeskyBackward : Node {
  SavedTensor L{this};
  bool upper;
  explicit CholeskyBackward(bool u) : upper(u) {}
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    Tensor l = L.get(*this), gl = g[0];
    if (upper) l = mT(l), gl = mT(gl);
    Tensor P = tri(matmul(mT(l), gl), 0, true);
    P = sub(P, mul(diag_embed(diagonal(P, 0, -2, -1), 0, -2, -1), scalar_tensor(Scalar(0.5))));
    Tensor li = linalg_inv(l);
    Tensor S = matmul(matmul(mT(li), P), li);
    return {mul(add(S, mT(S)), scalar_tensor(Scalar(0.5)))};
  }
  std::string name() const override { return "LinalgCholeskyExBackward0"; }
};
Tensor linalg_cholesky(const Tensor& a, bool upper) {
  check_matrix(a, "linalg.cholesky", true);
  Batch b = to_batch(a);
  F n = (F)b.n, info = 0;
  auto potrf = lapack<potrf_t>("scipy_dpotrf_");
  for (int64_t k = 0; k < b.count && n > 0; ++k) {
    potrf("L", &n, b.mat(k), &n, &info, 1);
    if (info > 0)
      throw std::runtime_error("linalg.cholesky: " + std::string(b.count > 1 ? "(Batch element " + std::to_string(k) + "): " : "") +
                               "The factorization could not be completed because the input is not positive-definite (the leading minor of order " +
                               std::to_string(info) + " is not positive-definite).");
    for (F j = 0; j < n; ++j)
      for (F i = 0; i < j; ++i) b.mat(k)[j * n + i] = 0;  // zero the strict upper triangle
  }
  Tensor L = from_cols(b.data, b.lead, b.n, b.n, a->dtype);
  Tensor out = upper ? contiguous(cast_nograd(mT(L), a->dtype)) : L;
  if (any_requires_grad({&a})) {
    auto node = make_node<CholeskyBackward>({&a}, upper);
    node->L.save(out, true);
    set_history(out, node);
  }
  return out;
}
EMBER_OP("linalg_cholesky(Tensor input, *, bool upper=False, Tensor? out=None) -> Tensor", "function no_half", linalg_cholesky(a.t(0), a.b(1)));
EMBER_OP("cholesky(Tensor input, bool upper=False, *, Tensor? out=None) -> Tensor", "function method no_half", linalg_cholesky(a.t(0), a.b(1)));

// ---- qr (reduced / complete / r): Householder via geqrf + orgqr
// rows >= columns, Q (m x n) and R (n x n): M = R gR^T - gQ^T Q; gA = (gQ + Q copyltu(M)) R^-T,
// copyltu(M) = tril(M) + tril(M, -1)^T
static Tensor qr_backward_tall(const Tensor& q, const Tensor& r, const Tensor& gq, const Tensor& gr) {
  Tensor M = sub(matmul(r, mT(gr)), matmul(mT(gq), q));
  Tensor c = add(tri(M, 0, true), mT(tri(M, -1, true)));
  Tensor b = add(gq, matmul(q, c));
  return mT(linalg_solve(r, mT(b), true));  // b R^-T = (R^-1 b^T)^T
}
struct QrBackward : Node {
  SavedTensor Q{this}, R{this};
  const char* error = nullptr;  // torch's message for the modes it does not differentiate (raised at backward)
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    if (error) throw std::runtime_error(error);
    Tensor q = Q.get(*this), r = R.get(*this);
    Tensor gq = g[0] ? g[0] : zeros(q->shape, q->dtype), gr = g[1] ? g[1] : zeros(r->shape, r->dtype);
    const int64_t m = r->shape[r->dim() - 2], n = r->shape[r->dim() - 1];
    if (m >= n) return {qr_backward_tall(q, r, gq, gr)};
    // wide (as torch): A = [X | Y], R = [U | V] with X = Q U square; Y = Q V.
    // gX = the square case with gQ + Y gV^T, gY = Q gV.
    Tensor U = narrow(r, -1, 0, m), V = narrow(r, -1, m, n - m);
    Tensor gU = narrow(gr, -1, 0, m), gV = narrow(gr, -1, m, n - m);
    Tensor gX = qr_backward_tall(q, U, add(gq, matmul(matmul(q, V), mT(gV))), gU);
    return {cat({gX, matmul(q, gV)}, -1)};
  }
  std::string name() const override { return "LinalgQrBackward0"; }
};
std::pair<Tensor, Tensor> linalg_qr(const Tensor& a, const std::string& mode) {
  check_matrix(a, "linalg.qr", false);
  if (mode != "reduced" && mode != "complete" && mode != "r")
    throw std::runtime_error("qr received unrecognized mode '" + mode + "' but expected one of 'reduced' (default), 'r', or 'complete'");
  Batch b = to_batch(a);
  F m = (F)b.m, n = (F)b.n, k = std::min(m, n), info = 0;
  F qcols = mode == "complete" ? m : k;
  auto geqrf = lapack<geqrf_t>("scipy_dgeqrf_");
  auto orgqr = lapack<orgqr_t>("scipy_dorgqr_");
  std::vector<double> qs(b.count * m * qcols), rs(b.count * (mode == "complete" ? m : k) * n, 0.0);
  F rrows = mode == "complete" ? m : k;
  std::vector<double> tau(std::max<F>(k, 1));
  F lwork = std::max<F>(1, std::max(m, n) * 64);
  std::vector<double> work(lwork);
  for (int64_t t = 0; t < b.count; ++t) {
    double* A = b.mat(t);
    if (m > 0 && n > 0) geqrf(&m, &n, A, &m, tau.data(), work.data(), &lwork, &info);
    for (F j = 0; j < n; ++j)
      for (F i = 0; i <= std::min<F>(j, rrows - 1); ++i) rs[t * rrows * n + j * rrows + i] = A[j * m + i];
    if (mode == "r") continue;
    std::vector<double> Q(m * std::max(qcols, n));
    std::memcpy(Q.data(), A, sizeof(double) * m * std::min(n, qcols));
    if (qcols > 0 && m > 0) orgqr(&m, &qcols, &k, Q.data(), &m, tau.data(), work.data(), &lwork, &info);
    std::memcpy(qs.data() + t * m * qcols, Q.data(), sizeof(double) * m * qcols);
  }
  Tensor R = from_cols(rs, b.lead, rrows, n, a->dtype);
  Tensor Qt = mode == "r" ? empty({0}, a->dtype) : from_cols(qs, b.lead, m, qcols, a->dtype);
  if (any_requires_grad({&a})) {
    auto node = make_node<QrBackward>({&a});
    if (mode == "r")
      node->error = "The derivative of linalg.qr depends on Q, which is not computed when mode='r'. Please use "
                    "linalg.qr(A, mode='reduced') if you are going to differentiate through linalg.qr.";
    if (mode == "complete" && m > n)
      node->error = "The QR decomposition is not differentiable when mode='complete' and nrows > ncols.";
    node->num_outputs = 2;
    node->Q.save(Qt, true), node->R.save(R, true);
    set_history(Qt, node, 0);
    set_history(R, node, 1);
  }
  return {Qt, R};
}
EMBER_OP("linalg_qr(Tensor A, str mode=\"reduced\", *, Tensor[]? out=None) -> (Tensor Q, Tensor R)", "function no_half", linalg_qr(a.t(0), a.str(1)));
EMBER_OP("qr(Tensor input, bool some=True, *, Tensor[]? out=None) -> (Tensor Q, Tensor R)", "function method no_half",
         linalg_qr(a.t(0), a.b(1) ? "reduced" : "complete"));

// ---- eigh: ascending eigenvalues and orthonormal eigenvectors of a symmetric matrix (one triangle read)
struct EighBackward : Node {
  SavedTensor L{this}, V{this};
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    Tensor l = L.get(*this), v = V.get(*this);
    Tensor inner = zeros(v->shape, v->dtype);
    if (g[1]) {
      // F_ij = 1 / (l_j - l_i), 0 on the diagonal
      Tensor diff = sub(unsqueeze(l, -2), unsqueeze(l, -1));
      Tensor Fm = where(compare(diff, zeros({}, diff->dtype), CmpOp::Eq), zeros({}, diff->dtype), reciprocal(diff));
      Tensor vg = matmul(mT(v), g[1]);
      inner = mul(Fm, mul(add(vg, neg(mT(vg))), scalar_tensor(Scalar(0.5))));
    }
    if (g[0]) inner = add(inner, diag_embed(g[0], 0, -2, -1));
    Tensor ga = matmul(matmul(v, inner), mT(v));
    return {mul(add(ga, mT(ga)), scalar_tensor(Scalar(0.5)))};
  }
  std::string name() const override { return "LinalgEighBackward0"; }
};
std::pair<Tensor, Tensor> linalg_eigh(const Tensor& a, const std::string& uplo, bool vectors) {
  check_matrix(a, "linalg.eigh", true);
  if (uplo != "L" && uplo != "U") throw std::runtime_error("Expected UPLO argument to be 'L' or 'U', but got " + uplo);
  Batch b = to_batch(a);
  F n = (F)b.n, info = 0, lwork = -1, liwork = -1, iq = 0;
  double wq = 0;
  auto syevd = lapack<syevd_t>("scipy_dsyevd_");
  std::vector<double> w(b.count * n);
  const char* job = vectors ? "V" : "N";
  if (n > 0) syevd(job, uplo.c_str(), &n, b.mat(0), &n, w.data(), &wq, &lwork, &iq, &liwork, &info, 1, 1);
  lwork = std::max<F>(1, (F)wq), liwork = std::max<F>(1, iq);
  std::vector<double> work(lwork);
  std::vector<F> iwork(liwork);
  for (int64_t k = 0; k < b.count && n > 0; ++k) {
    syevd(job, uplo.c_str(), &n, b.mat(k), &n, w.data() + k * n, work.data(), &lwork, iwork.data(), &liwork, &info, 1, 1);
    if (info > 0) throw std::runtime_error("linalg.eigh: The algorithm failed to converge because the input matrix is ill-conditioned or has too many repeated eigenvalues");
  }
  Shape lead = b.lead;
  Tensor L = from_cols(w, lead, 1, n, a->dtype);
  L = reshape(L, [&] { Shape s = lead; s.push_back(n); return s; }());
  Tensor V = vectors ? from_cols(b.data, lead, n, n, a->dtype) : empty({0}, a->dtype);
  if (any_requires_grad({&a})) {
    auto node = make_node<EighBackward>({&a});
    node->num_outputs = 2;
    node->L.save(L, true);
    if (vectors) node->V.save(V, true);
    else throw NotImplementedError("linalg.eigvalsh: use linalg.eigh for gradients in ember");
    set_history(L, node, 0);
    set_history(V, node, 1);
  }
  return {L, V};
}
EMBER_OP("linalg_eigh(Tensor input, str UPLO=\"L\", *, Tensor[]? out=None) -> (Tensor eigenvalues, Tensor eigenvectors)", "function no_half",
         linalg_eigh(a.t(0), a.str(1), true));
EMBER_OP("linalg_eigvalsh(Tensor input, str UPLO=\"L\", *, Tensor? out=None) -> Tensor", "function no_half",
         a.t(0)->requires_grad ? linalg_eigh(a.t(0), a.str(1), true).first : linalg_eigh(a.t(0), a.str(1), false).first);

// ---- svd: A = U diag(S) Vh (divide and conquer); backward for the reduced form (Townsend 2016)
struct SvdBackward : Node {
  SavedTensor U{this}, S{this}, Vh{this};
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    Tensor u = U.get(*this), s = S.get(*this), vh = Vh.get(*this);
    int64_t k = s->shape.back();
    DType d = s->dtype;
    Tensor gu = g[0], gs = g[1], gvh = g[2];
    // full_matrices=True: as torch, only the first k columns of U (rows of Vh) and of their gradients count
    if (u->shape.back() > k) u = narrow(u, -1, 0, k), gu = gu ? narrow(gu, -1, 0, k) : gu;
    if (vh->shape[vh->dim() - 2] > k) vh = narrow(vh, -2, 0, k), gvh = gvh ? narrow(gvh, -2, 0, k) : gvh;
    Tensor v = mT(vh), gv = gvh ? mT(gvh) : Tensor();
    Tensor Sm = diag_embed(s, 0, -2, -1);
    Tensor inner = gs ? diag_embed(gs, 0, -2, -1) : zeros(Sm->shape, d);
    if (gu || gv) {
      Tensor s2 = mul(s, s);
      Tensor diff = sub(unsqueeze(s2, -2), unsqueeze(s2, -1));  // s_j^2 - s_i^2
      Tensor Fm = where(compare(diff, zeros({}, d), CmpOp::Eq), zeros({}, d), reciprocal(diff));
      Tensor sinv = diag_embed(reciprocal(s), 0, -2, -1);
      Tensor res;
      if (gu) {
        Tensor ug = matmul(mT(u), gu);
        inner = add(inner, matmul(mul(Fm, sub(ug, mT(ug))), Sm));
      }
      if (gv) {
        Tensor vg = matmul(mT(v), gv);
        inner = add(inner, matmul(Sm, mul(Fm, sub(vg, mT(vg)))));
      }
      Tensor ga = matmul(matmul(u, inner), vh);
      int64_t m = u->shape[u->dim() - 2], n = v->shape[v->dim() - 2];
      if (gu && m > k) ga = add(ga, matmul(matmul(sub(eye_like(m, d), matmul(u, mT(u))), matmul(gu, sinv)), vh));
      if (gv && n > k) ga = add(ga, matmul(matmul(u, matmul(sinv, mT(gv))), sub(eye_like(n, d), matmul(v, vh))));
      return {ga};
    }
    return {matmul(matmul(u, inner), vh)};
  }
  std::string name() const override { return "LinalgSvdBackward0"; }
};
std::vector<Tensor> linalg_svd(const Tensor& a, bool full_matrices, bool vectors) {
  check_matrix(a, "linalg.svd", false);
  Batch b = to_batch(a);
  F m = (F)b.m, n = (F)b.n, k = std::min(m, n), info = 0;
  F ucols = full_matrices ? m : k, vrows = full_matrices ? n : k;
  const char* job = !vectors ? "N" : (full_matrices ? "A" : "S");
  auto gesdd = lapack<gesdd_t>("scipy_dgesdd_");
  std::vector<double> s(b.count * k), u(b.count * m * ucols), vt(b.count * vrows * n);
  F lwork = -1;
  double wq = 0;
  std::vector<F> iwork(8 * std::max<F>(k, 1));
  F ldu = std::max<F>(m, 1), ldvt = std::max<F>(vrows, 1), lda = std::max<F>(m, 1);
  std::vector<double> dummy(1);
  if (k > 0) gesdd(job, &m, &n, b.mat(0), &lda, s.data(), u.data(), &ldu, vt.data(), &ldvt, &wq, &lwork, iwork.data(), &info, 1);
  lwork = std::max<F>(1, (F)wq);
  std::vector<double> work(lwork);
  for (int64_t t = 0; t < b.count && k > 0; ++t) {
    gesdd(job, &m, &n, b.mat(t), &lda, s.data() + t * k, u.data() + t * m * ucols, &ldu, vt.data() + t * vrows * n, &ldvt,
          work.data(), &lwork, iwork.data(), &info, 1);
    if (info > 0) throw std::runtime_error("linalg.svd: The algorithm failed to converge because the input matrix is ill-conditioned or has too many repeated singular values");
  }
  Shape sl = b.lead;
  sl.push_back(k);
  Tensor S = reshape(from_cols(s, b.lead, 1, k, a->dtype), sl);
  if (!vectors) {
    if (any_requires_grad({&a})) {  // gradient of the singular values alone: U diag(gS) Vh
      auto r = linalg_svd(a, false, true);
      return {r[1]};
    }
    return {S};
  }
  Tensor U = from_cols(u, b.lead, m, ucols, a->dtype), Vh = from_cols(vt, b.lead, vrows, n, a->dtype);
  if (any_requires_grad({&a})) {
    auto node = make_node<SvdBackward>({&a});
    node->num_outputs = 3;
    node->U.save(U, true), node->S.save(S, true), node->Vh.save(Vh, true);
    set_history(U, node, 0), set_history(S, node, 1), set_history(Vh, node, 2);
  }
  return {U, S, Vh};
}
EMBER_OP("linalg_svd(Tensor A, bool full_matrices=True, *, str? driver=None, Tensor[]? out=None) -> (Tensor U, Tensor S, Tensor Vh)",
         "function no_half", linalg_svd(a.t(0), a.b(1), true));
EMBER_OP("linalg_svdvals(Tensor A, *, str? driver=None, Tensor? out=None) -> Tensor", "function no_half", linalg_svd(a.t(0), false, false)[0]);
// torch.svd: V rather than Vh; compute_uv=False gives zero-filled (m, m) and (n, n) U and V
std::vector<Tensor> svd_legacy(const Tensor& a, bool some, bool compute_uv) {
  if (!compute_uv) {
    check_matrix(a, "svd", false);
    Shape lead(a->shape.begin(), a->shape.end() - 2), su = lead, sv = lead;
    const int64_t m = a->shape[a->dim() - 2], n = a->shape[a->dim() - 1];
    su.push_back(m), su.push_back(m), sv.push_back(n), sv.push_back(n);
    return {zeros(su, a->dtype), linalg_svd(a, false, false)[0], zeros(sv, a->dtype)};
  }
  auto r = linalg_svd(a, !some, true);
  return {r[0], r[1], mT(r[2])};
}
EMBER_OP("svd(Tensor input, bool some=True, bool compute_uv=True, *, Tensor[]? out=None) -> (Tensor U, Tensor S, Tensor V)",
         "function method no_half", svd_legacy(a.t(0), a.b(1), a.b(2)));

}  // namespace ember
