// Strided n-d iteration shared by every elementwise kernel: dims are coalesced, then the
// innermost dim runs as a tight loop with a contiguous fast path the compiler vectorizes.
#pragma once
#include <array>
#include <cstdint>

#include "ember/core/tensor.h"

namespace ember {

// Calls inner(ptrs, byte_strides, n) for each innermost run. `strides[k]` holds operand k's
// element strides aligned with `shape` (0 for broadcast dims).
template <size_t N, class F>
void for_each_nd(const Shape& shape, const std::array<const int64_t*, N>& strides, std::array<char*, N> ptrs,
                 const std::array<int64_t, N>& isz, F&& inner) {
  const int64_t nd = (int64_t)shape.size();
  for (int64_t s : shape)
    if (s == 0) return;
  // Collect non-trivial dims, innermost last, strides in bytes.
  SmallVec<int64_t, 8> sh;
  SmallVec<std::array<int64_t, N>, 8> st;
  for (int64_t d = 0; d < nd; ++d) {
    if (shape[d] == 1) continue;
    std::array<int64_t, N> s;
    for (size_t k = 0; k < N; ++k) s[k] = strides[k][d] * isz[k];
    if (!sh.empty()) {
      bool merge = true;
      for (size_t k = 0; k < N; ++k) merge &= st.back()[k] == s[k] * shape[d];
      if (merge) {
        sh.back() *= shape[d];
        st.back() = s;
        continue;
      }
    }
    sh.push_back(shape[d]);
    st.push_back(s);
  }
  if (sh.empty()) {
    std::array<int64_t, N> z{};
    inner(ptrs, z, int64_t(1));
    return;
  }
  const int64_t m = (int64_t)sh.size();
  const int64_t n_inner = sh[m - 1];
  const std::array<int64_t, N> s_inner = st[m - 1];
  if (m == 1) {
    inner(ptrs, s_inner, n_inner);
    return;
  }
  SmallVec<int64_t, 8> idx(m - 1, 0);
  std::array<char*, N> p = ptrs;
  while (true) {
    inner(p, s_inner, n_inner);
    int64_t d = m - 2;
    for (; d >= 0; --d) {
      if (++idx[d] < sh[d]) {
        for (size_t k = 0; k < N; ++k) p[k] += st[d][k];
        break;
      }
      for (size_t k = 0; k < N; ++k) p[k] -= st[d][k] * (sh[d] - 1);
      idx[d] = 0;
    }
    if (d < 0) break;
  }
}

// out[i] = f(a[i]) over broadcast-aligned operands (same shape as out, strides may be 0).
template <class R, class T, class F>
void unary_kernel(const Tensor& out, const Tensor& a, F f) {
  for_each_nd<2>(out->shape, {out->strides.data(), a->strides.data()}, {out->raw(), a->raw()},
                 {(int64_t)sizeof(R), (int64_t)sizeof(T)}, [&](std::array<char*, 2> p, std::array<int64_t, 2> s, int64_t n) {
                   R* __restrict o = reinterpret_cast<R*>(p[0]);
                   const T* __restrict x = reinterpret_cast<const T*>(p[1]);
                   if (s[0] == (int64_t)sizeof(R) && s[1] == (int64_t)sizeof(T)) {
                     for (int64_t i = 0; i < n; ++i) o[i] = f(x[i]);
                   } else {
                     for (int64_t i = 0; i < n; ++i)
                       *reinterpret_cast<R*>(p[0] + i * s[0]) = f(*reinterpret_cast<const T*>(p[1] + i * s[1]));
                   }
                 });
}

template <class R, class T, class F>
void binary_kernel(const Tensor& out, const Tensor& a, const Tensor& b, F f) {
  for_each_nd<3>(out->shape, {out->strides.data(), a->strides.data(), b->strides.data()},
                 {out->raw(), a->raw(), b->raw()}, {(int64_t)sizeof(R), (int64_t)sizeof(T), (int64_t)sizeof(T)},
                 [&](std::array<char*, 3> p, std::array<int64_t, 3> s, int64_t n) {
                   R* __restrict o = reinterpret_cast<R*>(p[0]);
                   const T* __restrict x = reinterpret_cast<const T*>(p[1]);
                   const T* __restrict y = reinterpret_cast<const T*>(p[2]);
                   constexpr int64_t r = sizeof(R), t = sizeof(T);
                   if (s[0] == r && s[1] == t && s[2] == t) {
                     for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], y[i]);
                   } else if (s[0] == r && s[1] == t && s[2] == 0) {
                     const T yv = *y;
                     for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], yv);
                   } else if (s[0] == r && s[1] == 0 && s[2] == t) {
                     const T xv = *x;
                     for (int64_t i = 0; i < n; ++i) o[i] = f(xv, y[i]);
                   } else {
                     for (int64_t i = 0; i < n; ++i)
                       *reinterpret_cast<R*>(p[0] + i * s[0]) = f(*reinterpret_cast<const T*>(p[1] + i * s[1]),
                                                                  *reinterpret_cast<const T*>(p[2] + i * s[2]));
                   }
                 });
}

template <class R, class T, class F>
void ternary_kernel(const Tensor& out, const Tensor& c, const Tensor& a, const Tensor& b, F f) {
  for_each_nd<4>(out->shape, {out->strides.data(), c->strides.data(), a->strides.data(), b->strides.data()},
                 {out->raw(), c->raw(), a->raw(), b->raw()},
                 {(int64_t)sizeof(R), (int64_t)sizeof(bool), (int64_t)sizeof(T), (int64_t)sizeof(T)},
                 [&](std::array<char*, 4> p, std::array<int64_t, 4> s, int64_t n) {
                   if (s[0] == (int64_t)sizeof(R) && s[1] == 1 && s[2] == (int64_t)sizeof(T) && s[3] == (int64_t)sizeof(T)) {
                     R* __restrict o = reinterpret_cast<R*>(p[0]);
                     const bool* __restrict c = reinterpret_cast<const bool*>(p[1]);
                     const T* __restrict x = reinterpret_cast<const T*>(p[2]);
                     const T* __restrict y = reinterpret_cast<const T*>(p[3]);
                     for (int64_t i = 0; i < n; ++i) o[i] = f(c[i], x[i], y[i]);
                     return;
                   }
                   for (int64_t i = 0; i < n; ++i)
                     *reinterpret_cast<R*>(p[0] + i * s[0]) = f(*reinterpret_cast<const bool*>(p[1] + i * s[1]),
                                                                *reinterpret_cast<const T*>(p[2] + i * s[2]),
                                                                *reinterpret_cast<const T*>(p[3] + i * s[3]));
                 });
}

// Strides of `t` aligned right against an output of rank `nd`, with 0 for broadcast dims.
inline Shape broadcast_strides(const Tensor& t, const Shape& out_shape) {
  const size_t nd = out_shape.size(), td = t->shape.size();
  Shape st(nd, 0);
  for (size_t i = 0; i < td; ++i) {
    size_t o = nd - td + i;
    st[o] = (t->shape[i] == 1 && out_shape[o] != 1) ? 0 : t->strides[i];
  }
  return st;
}

}  // namespace ember
