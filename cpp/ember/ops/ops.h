// Every op ember exposes, by family. Names match torch's (ember::mul <-> ember.mul <-> torch.mul);
// each family's .cpp holds the forward and its XxxBackward node side by side.
#pragma once
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ember/core/tensor.h"

namespace ember {

struct Generator;  // core/generator.h

// ---- factory.cpp: creation, copies, casts, random
Tensor zeros(const Shape& s, DType d);
Tensor ones(const Shape& s, DType d);
Tensor full(const Shape& s, Scalar v, DType d);
Tensor arange(double start, double end, double step, DType d);
Tensor linspace(double start, double end, int64_t steps, DType d);
Tensor eye(int64_t n, int64_t m, DType d);
// random.cpp: sampling (g = null: the default generator)
Tensor rand(const Shape& s, DType d, Generator* g = nullptr);
Tensor dropout_mask(const Shape& s, double p, double scale, DType d, Generator* g = nullptr);
Tensor randn(const Shape& s, DType d, Generator* g = nullptr);
Tensor randint(int64_t low, int64_t high, const Shape& s, DType d, Generator* g = nullptr);
Tensor randperm(int64_t n, DType d, Generator* g = nullptr);
void manual_seed(uint64_t seed);
uint64_t initial_seed();
Tensor clone(const Tensor& a);               // differentiable copy (contiguous)
Tensor contiguous(const Tensor& a);          // a itself when already contiguous
Tensor to_dtype(const Tensor& a, DType d);   // differentiable cast; a itself when same dtype
Tensor cast_nograd(const Tensor& a, DType d);  // contiguous or strided copy in d, no graph
Tensor detach(const Tensor& a);              // alias sharing storage, no history
void copy_into(const Tensor& dst, const Tensor& src);  // raw strided copy with broadcast+cast, no checks on grad
// zeros of shape `full` with `part` in its leading corner (the gradient of a src read only up to part's shape)
Tensor zero_pad_to(const Tensor& part, const Shape& full);
inline Tensor with_dtype(const Tensor& a, std::optional<DType> d) { return d ? to_dtype(a, *d) : a; }
// A Python float as an operand: a wrapped number, so it does not raise the other operand's dtype
// (backward formulas written with differentiable ops use it for their constants).
inline Tensor num(double v) { return scalar_tensor(Scalar(v)); }

// ---- unary.cpp
Tensor neg(const Tensor& a);
Tensor abs(const Tensor& a);
Tensor exp(const Tensor& a);
Tensor log(const Tensor& a);
Tensor sqrt(const Tensor& a);
Tensor sin(const Tensor& a);
Tensor cos(const Tensor& a);
Tensor tanh(const Tensor& a);
Tensor sigmoid(const Tensor& a);
Tensor erf(const Tensor& a);
Tensor relu(const Tensor& a);
Tensor clamp(const Tensor& a, std::optional<Scalar> lo, std::optional<Scalar> hi);
Tensor sign(const Tensor& a);
Tensor clamp_tensor(const Tensor& a, const Tensor& lo, const Tensor& hi);  // null = no bound
Tensor log2(const Tensor& a);
Tensor log10(const Tensor& a);
Tensor log1p(const Tensor& a);
Tensor expm1(const Tensor& a);
Tensor exp2(const Tensor& a);
Tensor rsqrt(const Tensor& a);
Tensor reciprocal(const Tensor& a);
Tensor erfc(const Tensor& a);
Tensor erfinv(const Tensor& a);
Tensor tan(const Tensor& a);
Tensor atan(const Tensor& a);
Tensor asin(const Tensor& a);
Tensor acos(const Tensor& a);
Tensor sinh(const Tensor& a);
Tensor cosh(const Tensor& a);
Tensor asinh(const Tensor& a);
Tensor acosh(const Tensor& a);
Tensor atanh(const Tensor& a);
Tensor floor(const Tensor& a);
Tensor ceil(const Tensor& a);
Tensor trunc(const Tensor& a);
Tensor round(const Tensor& a, int64_t decimals = 0);
Tensor frac(const Tensor& a);
Tensor square(const Tensor& a);
Tensor digamma(const Tensor& a);
Tensor polygamma(int64_t n, const Tensor& a);

// ---- binary.cpp (tensor-tensor; Python scalars arrive as wrapped 0-d tensors)
Shape broadcast_shapes(const Shape& a, const Shape& b);
DType result_type(const Tensor& a, const Tensor& b);
Tensor add(const Tensor& a, const Tensor& b, Scalar alpha = Scalar::from_int(1));
Tensor sub(const Tensor& a, const Tensor& b, Scalar alpha = Scalar::from_int(1));
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor div_mode(const Tensor& a, const Tensor& b, const std::string& rounding_mode);  // "", "trunc", "floor"
Tensor pow(const Tensor& a, const Tensor& b);
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);
Tensor floor_divide(const Tensor& a, const Tensor& b);
Tensor remainder(const Tensor& a, const Tensor& b);
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
enum class CmpOp { Eq, Ne, Lt, Le, Gt, Ge };
Tensor compare(const Tensor& a, const Tensor& b, CmpOp op);
Tensor logical_not(const Tensor& a);
Tensor logical_and(const Tensor& a, const Tensor& b);
Tensor logical_or(const Tensor& a, const Tensor& b);
Tensor logical_xor(const Tensor& a, const Tensor& b);
Tensor bitwise_and(const Tensor& a, const Tensor& b);
Tensor bitwise_or(const Tensor& a, const Tensor& b);
Tensor bitwise_xor(const Tensor& a, const Tensor& b);
Tensor bitwise_not(const Tensor& a);
Tensor masked_fill(const Tensor& a, const Tensor& mask, const Tensor& value);
Tensor sum_to(const Tensor& g, const Shape& shape);  // reduce a broadcast gradient back to `shape`

// ---- inplace.cpp: in-place forms; bump the version counter
Tensor& add_(Tensor& self, const Tensor& other, Scalar alpha = Scalar::from_int(1));
Tensor& sub_(Tensor& self, const Tensor& other, Scalar alpha = Scalar::from_int(1));
Tensor& mul_(Tensor& self, const Tensor& other);
Tensor& div_(Tensor& self, const Tensor& other);
Tensor& pow_(Tensor& self, const Tensor& other);
Tensor& clamp_(Tensor& self, std::optional<Scalar> lo, std::optional<Scalar> hi);
Tensor& copy_(Tensor& self, const Tensor& src);
Tensor& fill_(Tensor& self, Scalar v);
Tensor& zero_(Tensor& self);
Tensor& uniform_(Tensor& self, double lo, double hi, Generator* g = nullptr);
Tensor& normal_(Tensor& self, double mean, double std, Generator* g = nullptr);
void check_inplace(const Tensor& self, const char* op);

// ---- stats.cpp / scan.cpp / sort.cpp (more reductions)
Tensor amax(const Tensor& a, const std::vector<int64_t>& dims, bool keepdim, bool is_max);
Tensor all(const Tensor& a, const std::vector<int64_t>& dims, bool keepdim);
Tensor any(const Tensor& a, const std::vector<int64_t>& dims, bool keepdim);
Tensor logsumexp(const Tensor& a, const std::vector<int64_t>& dims, bool keepdim);
Tensor sqrt_zero_grad(const Tensor& v, const char* node);  // sqrt whose gradient at 0 is 0
Tensor vector_norm(const Tensor& a, double ord, const std::vector<int64_t>& dims, bool keepdim);
Tensor cumsum(const Tensor& a, int64_t dim);
std::pair<Tensor, Tensor> sort(const Tensor& a, int64_t dim, bool descending);

// ---- reduce.cpp
Tensor sum(const Tensor& a, const std::vector<int64_t>& dims, bool keepdim);  // dims empty = all
Tensor mean(const Tensor& a, const std::vector<int64_t>& dims, bool keepdim);
Tensor prod(const Tensor& a, std::optional<int64_t> dim, bool keepdim);
Tensor var(const Tensor& a, const std::vector<int64_t>& dims, double correction, bool keepdim);
Tensor std_(const Tensor& a, const std::vector<int64_t>& dims, double correction, bool keepdim);
Tensor amax_all(const Tensor& a, bool is_max);                        // max()/min() over everything
std::pair<Tensor, Tensor> max_dim(const Tensor& a, int64_t dim, bool keepdim, bool is_max);
Tensor argmax(const Tensor& a, std::optional<int64_t> dim, bool keepdim, bool is_max);
Tensor softmax(const Tensor& a, int64_t dim);
Tensor log_softmax(const Tensor& a, int64_t dim);

// ---- matmul.cpp
Tensor mm(const Tensor& a, const Tensor& b);
Tensor bmm(const Tensor& a, const Tensor& b);
Tensor matmul(const Tensor& a, const Tensor& b);

// ---- view.cpp: ops returning views that share storage
Tensor view(const Tensor& a, Shape shape);
Tensor& become_view_(Tensor& self, const Tensor& view);  // in-place view ops: self takes view's geometry and history
Tensor reshape(const Tensor& a, Shape shape);
Tensor permute(const Tensor& a, std::vector<int64_t> dims);
Tensor transpose(const Tensor& a, int64_t d0, int64_t d1);
Tensor mT(const Tensor& a);  // the last two dims swapped (RuntimeError below 2-D, as torch's tensor.mT)
Tensor t(const Tensor& a);
Tensor unsqueeze(const Tensor& a, int64_t dim);
Tensor squeeze(const Tensor& a, std::optional<int64_t> dim);
Tensor squeeze_dims(const Tensor& a, const std::vector<int64_t>& dims);
Tensor flatten(const Tensor& a, int64_t start, int64_t end);
Tensor expand(const Tensor& a, Shape shape);
Tensor select(const Tensor& a, int64_t dim, int64_t index);
Tensor slice(const Tensor& a, int64_t dim, std::optional<int64_t> start, std::optional<int64_t> end, int64_t step);
Tensor narrow(const Tensor& a, int64_t dim, int64_t start, int64_t length);
Tensor diagonal(const Tensor& a, int64_t offset, int64_t dim1, int64_t dim2);
// shape.cpp / linalg.cpp
Tensor tri(const Tensor& a, int64_t k, bool lower);  // tril (lower) / triu
Tensor diag_embed(const Tensor& a, int64_t offset, int64_t dim1, int64_t dim2);
Tensor linalg_inv(const Tensor& a);
Tensor linalg_solve(const Tensor& A, const Tensor& B, bool left);
Tensor as_strided_nograd(const Tensor& a, const Shape& shape, const Shape& strides, int64_t offset);
Shape infer_size(Shape shape, int64_t numel);
inline Shape to_shape(const std::vector<int64_t>& v) { return Shape(v.begin(), v.end()); }

// ---- index.cpp: copies along indices
Tensor cat(const std::vector<Tensor>& ts, int64_t dim);
Tensor stack(const std::vector<Tensor>& ts, int64_t dim);
std::vector<Tensor> split(const Tensor& a, int64_t size, int64_t dim);
std::vector<Tensor> split_sizes(const Tensor& a, const std::vector<int64_t>& sizes, int64_t dim);
std::vector<Tensor> chunk(const Tensor& a, int64_t chunks, int64_t dim);
Tensor gather(const Tensor& a, int64_t dim, const Tensor& index);
Tensor scatter_add(const Tensor& a, int64_t dim, const Tensor& index, const Tensor& src);
Tensor index_select(const Tensor& a, int64_t dim, const Tensor& index);
Tensor index_add(const Tensor& a, int64_t dim, const Tensor& index, const Tensor& src);
Tensor one_hot(const Tensor& a, int64_t num_classes);
Tensor nonzero(const Tensor& a);
std::vector<Tensor> nonzero_tuple(const Tensor& a);
// Advanced indexing: `adv` are int64 index tensors for dims `dims` of `a` (already broadcast).
Tensor index_tensors(const Tensor& a, const std::vector<int64_t>& dims, const std::vector<Tensor>& adv);
// Advanced indices expanded to their common shape (IndexError when they cannot broadcast, as torch).
void broadcast_indices(std::vector<Tensor>& adv);
void index_put_(Tensor& a, const std::vector<int64_t>& dims, const std::vector<Tensor>& adv, const Tensor& value,
                bool accumulate);
// x[index] = value (Note [Differentiable setitem] in index.cpp); region = self's basic-index view
void setitem_(Tensor& self, const Tensor& region, const std::vector<int64_t>& dims, const std::vector<Tensor>& adv,
              const Tensor& value);

}  // namespace ember
