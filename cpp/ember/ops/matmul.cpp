// Matrix products: mm and bmm carry backward nodes; matmul composes them with views (1-d and
// broadcast batch cases), so its gradients come from those primitives.
#include "ember/ops/registry.h"
#include "ember/kernels/parallel.h"
#include "ember/autograd/node.h"
#include "ember/kernels/gemm.h"
#include "ember/ops/ops.h"

namespace ember {

namespace {
void check_same_dtype(const Tensor& a, const Tensor& b, const char* op) {
  if (a->dtype != b->dtype)
    throw std::runtime_error(std::string(op) + ": expected m1 and m2 to have the same dtype, but got: " +
                             dtype_name(a->dtype) + " != " + dtype_name(b->dtype));
  if (a->dtype == DType::Bool) not_implemented_for("addmm_impl_cpu_", a->dtype);
}

// C[b] = A[b] @ B[b] over a batch (batch stride 0 allowed for broadcast operands).
// Note [Batched products]: a batch of small products (64 models' 32 x 64 x 64 layers under vmap) is
// split over the pool by item (parallel_items), each product whole on its thread; one large
// product splits inside gemm. No element depends on the split.
void batched(const Tensor& a, const Tensor& b, const Tensor& out, int64_t batch, int64_t as, int64_t bs) {
  int64_t nd = a->dim();
  int64_t M = a->shape[nd - 2], K = a->shape[nd - 1], N = b->shape[nd - 1];
  EMBER_DISPATCH_NUMERIC(a->dtype, "matmul", T, {
    parallel_items(batch, M * N * K, [&](int64_t i) {
      MatRef A{a->data<T>() + i * as, a->strides[nd - 2], a->strides[nd - 1]};
      MatRef B{b->data<T>() + i * bs, b->strides[nd - 2], b->strides[nd - 1]};
      gemm<T>(M, N, K, A, B, out->data<T>() + i * M * N);
    });
  });
}
}  // namespace

// ---- mm
struct MmBackward : Node {
  SavedTensor sa{this}, sb{this};
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    std::vector<Tensor> r(2);
    if (needs(0)) r[0] = mm(g[0], t(sb.get(*this)));
    if (needs(1)) r[1] = mm(t(sa.get(*this)), g[0]);
    return r;
  }
  bool differentiable() const override { return true; }
  std::string name() const override { return "MmBackward0"; }
};
Tensor mm(const Tensor& a, const Tensor& b) {
  if (a->dim() != 2) throw std::runtime_error("self must be a matrix (got a " + std::to_string(a->dim()) + "-d tensor of shape " + shape_str(a->shape) + ")");
  if (b->dim() != 2) throw std::runtime_error("mat2 must be a matrix (got a " + std::to_string(b->dim()) + "-d tensor of shape " + shape_str(b->shape) + ")");
  if (a->shape[1] != b->shape[0])
    throw std::runtime_error("mat1 and mat2 shapes cannot be multiplied (" + std::to_string(a->shape[0]) + "x" +
                             std::to_string(a->shape[1]) + " and " + std::to_string(b->shape[0]) + "x" +
                             std::to_string(b->shape[1]) + ")");
  check_same_dtype(a, b, "mm");
  Tensor out = empty({a->shape[0], b->shape[1]}, a->dtype);
  batched(a, b, out, 1, 0, 0);
  if (any_requires_grad({&a, &b})) {
    auto n = make_node<MmBackward>({&a, &b});
    if (n->needs(1)) n->sa.save(a);
    if (n->needs(0)) n->sb.save(b);
    set_history(out, n);
  }
  return out;
}

// ---- bmm
struct BmmBackward : Node {
  SavedTensor sa{this}, sb{this};
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    std::vector<Tensor> r(2);
    if (needs(0)) r[0] = bmm(g[0], transpose(sb.get(*this), 1, 2));
    if (needs(1)) r[1] = bmm(transpose(sa.get(*this), 1, 2), g[0]);
    return r;
  }
  bool differentiable() const override { return true; }
  std::string name() const override { return "BmmBackward0"; }
};
Tensor bmm(const Tensor& a, const Tensor& b) {
  if (a->dim() != 3) throw std::runtime_error("batch1 must be a 3D tensor (got shape " + shape_str(a->shape) + ")");
  if (b->dim() != 3) throw std::runtime_error("batch2 must be a 3D tensor (got shape " + shape_str(b->shape) + ")");
  if (a->shape[0] != b->shape[0] || a->shape[2] != b->shape[1])
    throw std::runtime_error("Expected size for first two dimensions of batch2 tensor to be: [" + std::to_string(a->shape[0]) +
                             ", " + std::to_string(a->shape[2]) + "] but got: [" + std::to_string(b->shape[0]) + ", " +
                             std::to_string(b->shape[1]) + "] (shapes " + shape_str(a->shape) + " and " + shape_str(b->shape) + ")");
  check_same_dtype(a, b, "bmm");
  Tensor out = empty({a->shape[0], a->shape[1], b->shape[2]}, a->dtype);
  batched(a, b, out, a->shape[0], a->strides[0], b->strides[0]);
  if (any_requires_grad({&a, &b})) {
    auto n = make_node<BmmBackward>({&a, &b});
    if (n->needs(1)) n->sa.save(a);
    if (n->needs(0)) n->sb.save(b);
    set_history(out, n);
  }
  return out;
}

// ---- matmul: torch's dispatch over ranks
Tensor matmul(const Tensor& a, const Tensor& b) {
  int64_t da = a->dim(), db = b->dim();
  if (da == 0 || db == 0)
    throw std::runtime_error("both arguments to matmul need to be at least 1D, but they are " + std::to_string(da) +
                             "D and " + std::to_string(db) + "D");
  check_same_dtype(a, b, "matmul");
  if (da == 1 && db == 1) {
    if (a->shape[0] != b->shape[0])
      throw std::runtime_error("inconsistent tensor size, expected tensor [" + std::to_string(a->shape[0]) +
                               "] and src [" + std::to_string(b->shape[0]) + "] to have the same number of elements, but got " +
                               std::to_string(a->shape[0]) + " and " + std::to_string(b->shape[0]) + " elements respectively");
    return reshape(mm(unsqueeze(a, 0), unsqueeze(b, 1)), {});
  }
  if (da == 2 && db == 1) return squeeze(mm(a, unsqueeze(b, 1)), 1);
  if (da == 1 && db == 2) return squeeze(mm(unsqueeze(a, 0), b), 0);
  if (da == 2 && db == 2) return mm(a, b);
  if (da >= 3 && db <= 2) {
    // Fold batch dims into rows: one large product instead of many small ones.
    Tensor b2 = db == 1 ? unsqueeze(b, 1) : b;
    Shape out_shape(a->shape.begin(), a->shape.end() - 1);
    int64_t K = a->shape[da - 1];
    Tensor r = mm(reshape(a, {shape_numel(out_shape), K}), b2);  // (not -1: K may be 0)
    out_shape.push_back(b2->shape[1]);
    Tensor o = reshape(r, out_shape);
    return db == 1 ? squeeze(o, -1) : o;
  }
  // General batched case with broadcasting.
  Tensor a2 = da == 1 ? unsqueeze(a, 0) : a;
  Tensor b2 = db == 1 ? unsqueeze(b, 1) : b;
  Shape ba(a2->shape.begin(), a2->shape.end() - 2), bb(b2->shape.begin(), b2->shape.end() - 2);
  Shape batch = broadcast_shapes(ba, bb);
  int64_t n = a2->shape[a2->dim() - 2], k = a2->shape[a2->dim() - 1];
  int64_t k2 = b2->shape[b2->dim() - 2], p = b2->shape[b2->dim() - 1];
  if (k != k2)
    throw std::runtime_error("Expected size for first two dimensions of batch2 tensor to be: [" + std::to_string(shape_numel(batch)) +
                             ", " + std::to_string(k) + "] but got: [" + std::to_string(shape_numel(batch)) + ", " + std::to_string(k2) +
                             "] (matmul of shapes " + shape_str(a->shape) + " and " + shape_str(b->shape) + ")");
  Shape ea = batch, eb = batch;
  ea.push_back(n), ea.push_back(k);
  eb.push_back(k), eb.push_back(p);
  int64_t B = shape_numel(batch);
  Tensor r = bmm(reshape(expand(a2, ea), {B, n, k}), reshape(expand(b2, eb), {B, k, p}));
  Shape os = batch;
  os.push_back(n), os.push_back(p);
  Tensor o = reshape(r, os);
  if (da == 1) o = squeeze(o, -2);
  if (db == 1) o = squeeze(o, -1);
  return o;
}

EMBER_OP("matmul(Tensor input, Tensor other, *, Tensor? out=None) -> Tensor", "function method __matmul__ __rmatmul__",
         matmul(a.t(0), a.t(1)));
EMBER_OP("mm(Tensor input, Tensor mat2, *, Tensor? out=None) -> Tensor", "function method", mm(a.t(0), a.t(1)));
EMBER_OP("bmm(Tensor input, Tensor mat2, *, Tensor? out=None) -> Tensor", "function method", bmm(a.t(0), a.t(1)));

// ---- products built on matmul: dot, vdot, inner, mv, outer, addmm, addmv, addr, baddbmm, addbmm,
// kron, cross (torch's checks and messages)
namespace {
void same_dtype(const Tensor& a, const Tensor& b, const char* op) {
  if (a->dtype != b->dtype)
    throw std::runtime_error(std::string(op) + ": expected both vectors to have same dtype, but found " +
                             scalar_type_name(a->dtype) + " and " + scalar_type_name(b->dtype));
}
Tensor beta_alpha(const Tensor& input, const Tensor& prod, const Scalar& beta, const Scalar& alpha) {
  Tensor p = alpha.kind != Scalar::Float && alpha.i == 1 ? prod : mul(prod, scalar_tensor(alpha));
  if ((beta.kind != Scalar::Float && beta.i == 0) || (beta.kind == Scalar::Float && beta.f == 0)) {
    // input's values are ignored (NaN does not propagate) but it stays in the graph with gradient
    // zero, as torch: where(true, 0, input)
    Tensor ignored = where(ones({}, DType::Bool), zeros({}, p->dtype), input);
    return add(ignored, p);
  }
  Tensor i = beta.kind != Scalar::Float && beta.i == 1 ? input : mul(input, scalar_tensor(beta));
  return add(i, p);
}
}  // namespace
Tensor dot(const Tensor& a, const Tensor& b) {
  if (a->dim() != 1 || b->dim() != 1)
    throw std::runtime_error("1D tensors expected, but got " + std::to_string(a->dim()) + "D and " + std::to_string(b->dim()) + "D tensors");
  same_dtype(a, b, "dot");
  if (a->shape[0] != b->shape[0])
    throw std::runtime_error("inconsistent tensor size, expected tensor [" + std::to_string(a->shape[0]) + "] and src [" +
                             std::to_string(b->shape[0]) + "] to have the same number of elements, but got " +
                             std::to_string(a->shape[0]) + " and " + std::to_string(b->shape[0]) + " elements respectively");
  return matmul(a, b);
}
EMBER_OP("dot(Tensor input, Tensor tensor, *, Tensor? out=None) -> Tensor", "function method", dot(a.t(0), a.t(1)));
EMBER_OP("vdot(Tensor input, Tensor other, *, Tensor? out=None) -> Tensor", "function method", dot(a.t(0), a.t(1)));
Tensor inner(const Tensor& a, const Tensor& b) {
  if (a->dim() == 0 || b->dim() == 0) return mul(a, b);
  if (a->shape.back() != b->shape.back())
    throw std::runtime_error("inner() the last dimension must match on both input tensors but got shapes " + shape_str(a->shape) +
                             " and " + shape_str(b->shape));
  Tensor r = matmul(reshape(a, {a->numel() / std::max<int64_t>(a->shape.back(), 1), a->shape.back()}),
                    t(reshape(b, {b->numel() / std::max<int64_t>(b->shape.back(), 1), b->shape.back()})));
  Shape s(a->shape.begin(), a->shape.end() - 1);
  s.insert(s.end(), b->shape.begin(), b->shape.end() - 1);
  return reshape(r, s);
}
EMBER_OP("inner(Tensor input, Tensor other, *, Tensor? out=None) -> Tensor", "function method", inner(a.t(0), a.t(1)));
Tensor mv(const Tensor& m, const Tensor& v) {
  if (m->dim() != 2 || v->dim() != 1)
    throw std::runtime_error("vector + matrix @ vector expected, got " + std::to_string(m->dim()) + ", " + std::to_string(m->dim()) + ", " + std::to_string(v->dim()));
  if (m->shape[1] != v->shape[0])
    throw std::runtime_error("size mismatch, got input (" + std::to_string(m->shape[0]) + "), mat (" + std::to_string(m->shape[0]) + "x" +
                             std::to_string(m->shape[1]) + "), vec (" + std::to_string(v->shape[0]) + ")");
  return matmul(m, v);
}
EMBER_OP("mv(Tensor input, Tensor vec, *, Tensor? out=None) -> Tensor", "function method", mv(a.t(0), a.t(1)));
Tensor outer(const Tensor& a, const Tensor& b) {
  if (a->dim() != 1 || b->dim() != 1) throw std::runtime_error("outer: Expected 1-D argument self, but got " + std::to_string(a->dim()) + "-D");
  return mul(unsqueeze(a, 1), unsqueeze(b, 0));
}
EMBER_OP("outer(Tensor input, Tensor vec2, *, Tensor? out=None) -> Tensor", "function method", outer(a.t(0), a.t(1)));
EMBER_OP("ger(Tensor input, Tensor vec2, *, Tensor? out=None) -> Tensor", "function method", outer(a.t(0), a.t(1)));
EMBER_OP("addmm(Tensor input, Tensor mat1, Tensor mat2, *, Scalar beta=1, Scalar alpha=1, Tensor? out=None) -> Tensor",
         "function method inplace", beta_alpha(a.t(0), mm(a.t(1), a.t(2)), a.s(3), a.s(4)));
EMBER_OP("addmv(Tensor input, Tensor mat, Tensor vec, *, Scalar beta=1, Scalar alpha=1, Tensor? out=None) -> Tensor",
         "function method inplace", beta_alpha(a.t(0), mv(a.t(1), a.t(2)), a.s(3), a.s(4)));
EMBER_OP("addr(Tensor input, Tensor vec1, Tensor vec2, *, Scalar beta=1, Scalar alpha=1, Tensor? out=None) -> Tensor",
         "function method inplace", beta_alpha(a.t(0), outer(a.t(1), a.t(2)), a.s(3), a.s(4)));
EMBER_OP("baddbmm(Tensor input, Tensor batch1, Tensor batch2, *, Scalar beta=1, Scalar alpha=1, Tensor? out=None) -> Tensor",
         "function method inplace", beta_alpha(a.t(0), bmm(a.t(1), a.t(2)), a.s(3), a.s(4)));
EMBER_OP("addbmm(Tensor input, Tensor batch1, Tensor batch2, *, Scalar beta=1, Scalar alpha=1, Tensor? out=None) -> Tensor",
         "function method inplace", beta_alpha(a.t(0), sum(bmm(a.t(1), a.t(2)), {0}, false), a.s(3), a.s(4)));
Tensor kron(const Tensor& a, const Tensor& b) {
  int64_t nd = std::max(a->dim(), b->dim());
  Shape sa(nd - a->dim(), 1), sb(nd - b->dim(), 1);
  sa.insert(sa.end(), a->shape.begin(), a->shape.end());
  sb.insert(sb.end(), b->shape.begin(), b->shape.end());
  Shape ia, ib, fin;
  for (int64_t i = 0; i < nd; ++i) {
    ia.push_back(sa[i]), ia.push_back(1);
    ib.push_back(1), ib.push_back(sb[i]);
    fin.push_back(sa[i] * sb[i]);
  }
  return reshape(mul(reshape(a, ia), reshape(b, ib)), fin);
}
EMBER_OP("kron(Tensor input, Tensor other, *, Tensor? out=None) -> Tensor", "function method", kron(a.t(0), a.t(1)));
Tensor cross(const Tensor& a, const Tensor& b, std::optional<int64_t> dim0) {
  Shape s = broadcast_shapes(a->shape, b->shape);
  int64_t dim = -1;
  if (dim0) dim = wrap_dim(*dim0, (int64_t)s.size());
  else {
    for (int64_t i = 0; i < (int64_t)s.size(); ++i)
      if (s[i] == 3) { dim = i; break; }
    if (dim < 0) throw std::runtime_error("no dimension of size 3 in input");
  }
  if (s[dim] != 3)
    throw std::runtime_error("linalg.cross: inputs dimension " + std::to_string(dim) + " must have length 3. Got " +
                             std::to_string(a->dim() > dim ? a->shape[dim] : 0) + " and " + std::to_string(b->dim() > dim ? b->shape[dim] : 0));
  Tensor x = expand(a, s), y = expand(b, s);
  auto c = [&](const Tensor& t, int64_t i) { return select(t, dim, i); };
  Tensor r0 = sub(mul(c(x, 1), c(y, 2)), mul(c(x, 2), c(y, 1)));
  Tensor r1 = sub(mul(c(x, 2), c(y, 0)), mul(c(x, 0), c(y, 2)));
  Tensor r2 = sub(mul(c(x, 0), c(y, 1)), mul(c(x, 1), c(y, 0)));
  return stack({r0, r1, r2}, dim);
}
EMBER_OP("cross(Tensor input, Tensor other, int? dim=None, *, Tensor? out=None) -> Tensor", "function method",
         cross(a.t(0), a.t(1), a.oi(2)));
EMBER_OP("linalg_cross(Tensor input, Tensor other, *, int dim=-1, Tensor? out=None) -> Tensor", "function",
         a.t(0)->dim() != a.t(1)->dim() ? throw std::runtime_error("linalg.cross: inputs must have the same number of dimensions.")
                                        : cross(a.t(0), a.t(1), a.i(2)));

}  // namespace ember
