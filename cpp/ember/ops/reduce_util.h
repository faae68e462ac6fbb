// Helpers shared by the reduction files (reduce.cpp, stats.cpp, scan.cpp, sort.cpp): dim masks,
// result shapes, un-reducing a gradient, a strided fold, and moving one dim last as rows.
#pragma once
#include <vector>

#include "ember/kernels/loops.h"
#include "ember/ops/ops.h"

namespace ember {
namespace reduce_util {
// Sorted unique wrapped dims; empty input = all dims.
inline std::vector<bool> reduced_mask(const Tensor& a, const std::vector<int64_t>& dims) {
  std::vector<bool> m(a->dim(), dims.empty());
  for (int64_t d : dims) {
    int64_t w = wrap_dim(d, a->dim());
    if (a->dim() == 0) continue;
    if (m[w] && !dims.empty()) throw std::runtime_error("dim " + std::to_string(w) + " appears multiple times in the list of dims");
    m[w] = true;
  }
  return m;
}
inline Shape keep_shape(const Tensor& a, const std::vector<bool>& m) {
  Shape s = a->shape;
  for (size_t i = 0; i < s.size(); ++i)
    if (m[i]) s[i] = 1;
  return s;
}
inline Shape final_shape(const Tensor& a, const std::vector<bool>& m, bool keepdim) {
  if (keepdim) return keep_shape(a, m);
  Shape s;
  for (size_t i = 0; i < a->shape.size(); ++i)
    if (!m[i]) s.push_back(a->shape[i]);
  return s;
}
// Unsqueeze a reduced gradient back to keepdim rank.
inline Tensor unreduce(const Tensor& g, const Shape& in_shape, const std::vector<bool>& m, bool keepdim) {
  Shape ks = in_shape;
  for (size_t i = 0; i < ks.size(); ++i)
    if (m[i]) ks[i] = 1;
  Tensor r = keepdim ? g : reshape(g, ks);
  return expand(r, in_shape);
}

// out (keepdim shape, dtype Acc) = fold of `a` over masked dims, starting from `init`.
template <class Acc, class T, class Fn>
inline Tensor fold(const Tensor& a, const std::vector<bool>& m, Acc init, Fn f) {
  Shape ks = keep_shape(a, m);
  Tensor acc = empty(ks, dtype_of<Acc>::value);
  Acc* p = acc->data<Acc>();
  for (int64_t i = 0, n = acc->numel(); i < n; ++i) p[i] = init;
  Shape st = acc->strides;
  for (size_t i = 0; i < st.size(); ++i)
    if (m[i]) st[i] = 0;
  for_each_nd<2>(a->shape, {st.data(), a->strides.data()}, {acc->raw(), a->raw()}, {(int64_t)sizeof(Acc), (int64_t)sizeof(T)},
                 [&](std::array<char*, 2> q, std::array<int64_t, 2> s, int64_t n) {
                   if (s[0] == 0) {
                     Acc r = *reinterpret_cast<Acc*>(q[0]);
                     if (s[1] == (int64_t)sizeof(T)) {
                       const T* x = reinterpret_cast<const T*>(q[1]);
                       for (int64_t i = 0; i < n; ++i) r = f(r, (Acc)x[i]);
                     } else {
                       for (int64_t i = 0; i < n; ++i) r = f(r, (Acc) * reinterpret_cast<const T*>(q[1] + i * s[1]));
                     }
                     *reinterpret_cast<Acc*>(q[0]) = r;
                   } else if (s[0] == (int64_t)sizeof(Acc) && s[1] == (int64_t)sizeof(T)) {
                     Acc* __restrict o = reinterpret_cast<Acc*>(q[0]);  // column reduce: o[i] op= x[i]
                     const T* __restrict x = reinterpret_cast<const T*>(q[1]);
                     for (int64_t i = 0; i < n; ++i) o[i] = f(o[i], (Acc)x[i]);
                   } else {
                     for (int64_t i = 0; i < n; ++i) {
                       Acc* o = reinterpret_cast<Acc*>(q[0] + i * s[0]);
                       *o = f(*o, (Acc) * reinterpret_cast<const T*>(q[1] + i * s[1]));
                     }
                   }
                 });
  return acc;
}

inline int64_t reduced_count(const Tensor& a, const std::vector<bool>& m) {
  int64_t n = 1;
  for (size_t i = 0; i < m.size(); ++i)
    if (m[i]) n *= a->shape[i];
  return n;
}
// ---- helpers for single-dim reductions: move `dim` last and make rows contiguous
inline Tensor rows_last(const Tensor& a, int64_t dim) {
  if (a->dim() == 0) return reshape(a, {1});
  std::vector<int64_t> perm;
  for (int64_t i = 0; i < a->dim(); ++i)
    if (i != dim) perm.push_back(i);
  perm.push_back(dim);
  NoGradGuard g;
  return contiguous(permute(a, perm));
}
// Inverse of rows_last for a tensor in that layout (returns a contiguous tensor of shape a_shape).
inline Tensor rows_back(const Tensor& r, const Shape& a_shape, int64_t dim) {
  if (a_shape.empty()) return reshape(r, {});
  int64_t nd = (int64_t)a_shape.size();
  if (dim == nd - 1) return r;
  std::vector<int64_t> inv(nd);
  for (int64_t i = 0, j = 0; i < nd; ++i) {
    if (i == dim) inv[i] = nd - 1;
    else inv[i] = j++;
  }
  NoGradGuard g;
  return contiguous(permute(r, inv));
}
}  // namespace reduce_util
using namespace reduce_util;
}  // namespace ember
