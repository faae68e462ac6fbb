// Matrix products: mm and bmm carry backward nodes; matmul composes them with views (1-d and
// broadcast batch cases), so its gradients come from those primitives.
#include "ember/ops/registry.h"
#include "ember/autograd/node.h"
#include "ember/kernels/gemm.h"
#include "ember/ops/ops.h"

namespace ember {

namespace {
void check_same_dtype(const Tensor& a, const Tensor& b, const char* op) {
  if (a->dtype != b->dtype)
    throw std::runtime_error(std::string(op) + ": expected m1 and m2 to have the same dtype, but got: " +
                             dtype_name(a->dtype) + " != " + dtype_name(b->dtype));
  if (a->dtype == DType::Bool) throw std::runtime_error(std::string(op) + ": not implemented for 'Bool'");
}

// C[b] = A[b] @ B[b] over a batch (batch stride 0 allowed for broadcast operands).
void batched(const Tensor& a, const Tensor& b, const Tensor& out, int64_t batch, int64_t as, int64_t bs) {
  int64_t nd = a->dim();
  int64_t M = a->shape[nd - 2], K = a->shape[nd - 1], N = b->shape[nd - 1];
  EMBER_DISPATCH_NUMERIC(a->dtype, "matmul", T, {
    for (int64_t i = 0; i < batch; ++i) {
      MatRef A{a->data<T>() + i * as, a->strides[nd - 2], a->strides[nd - 1]};
      MatRef B{b->data<T>() + i * bs, b->strides[nd - 2], b->strides[nd - 1]};
      gemm<T>(M, N, K, A, B, out->data<T>() + i * M * N);
    }
  });
}
}  // namespace

// ---- mm
struct MmBackward : Node {
  SavedTensor sa, sb;
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    std::vector<Tensor> r(2);
    if (needs(0)) r[0] = mm(g[0], t(sb.get(*this)));
    if (needs(1)) r[1] = mm(t(sa.get(*this)), g[0]);
    return r;
  }
  std::string name() const override { return "MmBackward0"; }
  void release_saved() override { sa.reset(), sb.reset(); }
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
  SavedTensor sa, sb;
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    std::vector<Tensor> r(2);
    if (needs(0)) r[0] = bmm(g[0], transpose(sb.get(*this), 1, 2));
    if (needs(1)) r[1] = bmm(transpose(sa.get(*this), 1, 2), g[0]);
    return r;
  }
  std::string name() const override { return "BmmBackward0"; }
  void release_saved() override { sa.reset(), sb.reset(); }
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
    Tensor r = mm(reshape(a, {-1, K}), b2);
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

}  // namespace ember
