// The im2col / col2im primitives over one sliding-window geometry, shared by the convolutions
// (conv.cpp, Note [Convolution sides]) and by F.unfold / F.fold (fold.cpp), which are im2col and
// col2im on their own: unfold is the gather without the product, fold the scatter without it.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>

namespace ember {
namespace sliding {

// Three spatial dims always: a 1-d or 2-d convolution has leading dims of size 1.
struct Geom {
  int64_t img[3] = {1, 1, 1}, col[3] = {1, 1, 1}, k[3] = {1, 1, 1};
  int64_t s[3] = {1, 1, 1}, p[3] = {0, 0, 0}, d[3] = {1, 1, 1};
  int64_t img_n() const { return img[0] * img[1] * img[2]; }
  int64_t col_n() const { return col[0] * col[1] * col[2]; }
  int64_t k_n() const { return k[0] * k[1] * k[2]; }
  // im2col is the identity: a 1x1 kernel at stride 1 without padding
  bool trivial() const {
    for (int i = 0; i < 3; ++i)
      if (k[i] != 1 || s[i] != 1 || p[i] != 0 || img[i] != col[i]) return false;
    return true;
  }
};

// Along one dim: kernel positions o in [lo, hi) read image index o * s + off inside [0, n).
inline void valid_range(int64_t off, int64_t s, int64_t n, int64_t out, int64_t& lo, int64_t& hi) {
  lo = off >= 0 ? 0 : (-off + s - 1) / s;
  hi = n - off <= 0 ? 0 : (n - off + s - 1) / s;
  lo = std::min(lo, out);
  hi = std::clamp(hi, lo, out);
}

// Walks every (channel, kernel offset) row of im2col and every run of kernel positions along the
// last dim; f(dst_row_run, src_run_or_null, len, src_step) with src null for padding.
template <class T, class F>
void for_each_run(const Geom& g, int64_t C, T* cols, const T* img, F&& f) {
  const int64_t on = g.col_n();
  const int64_t OW = g.col[2];
  T* dst = cols;
  for (int64_t c = 0; c < C; ++c) {
    const T* src = img + c * g.img_n();
    for (int64_t kd = 0; kd < g.k[0]; ++kd)
      for (int64_t kh = 0; kh < g.k[1]; ++kh)
        for (int64_t kw = 0; kw < g.k[2]; ++kw, dst += on) {
          const int64_t offw = kw * g.d[2] - g.p[2];
          int64_t lo, hi;
          valid_range(offw, g.s[2], g.img[2], OW, lo, hi);
          T* out = dst;
          for (int64_t od = 0; od < g.col[0]; ++od) {
            const int64_t id = od * g.s[0] + kd * g.d[0] - g.p[0];
            for (int64_t oh = 0; oh < g.col[1]; ++oh, out += OW) {
              const int64_t ih = oh * g.s[1] + kh * g.d[1] - g.p[1];
              if (id < 0 || id >= g.img[0] || ih < 0 || ih >= g.img[1]) {
                f(out, (const T*)nullptr, OW, int64_t(0));
                continue;
              }
              const T* row = src + (id * g.img[1] + ih) * g.img[2];
              if (lo > 0) f(out, (const T*)nullptr, lo, int64_t(0));
              if (hi > lo) f(out + lo, row + lo * g.s[2] + offw, hi - lo, g.s[2]);
              if (OW > hi) f(out + hi, (const T*)nullptr, OW - hi, int64_t(0));
            }
          }
        }
  }
}

// im2col of a 1-d or 2-d window at unit stride and dilation along the last dim (LeNet's and most
// small CNNs'): one loop nest with the row copies inline. Through for_each_run each run of a few
// values cost a call and its range checks: the gather was half of a 6->16 channel 5x5 conv's forward.
template <class T>
void im2col_unit_rows(const Geom& g, int64_t C, const T* img, T* cols) {
  const int64_t OH = g.col[1], OW = g.col[2], H = g.img[1], W = g.img[2];
  T* out = cols;
  for (int64_t c = 0; c < C; ++c) {
    const T* src = img + c * g.img_n();
    for (int64_t kh = 0; kh < g.k[1]; ++kh)
      for (int64_t kw = 0; kw < g.k[2]; ++kw) {
        const int64_t offw = kw * g.d[2] - g.p[2];
        int64_t lo, hi;
        valid_range(offw, 1, W, OW, lo, hi);
        for (int64_t oh = 0; oh < OH; ++oh, out += OW) {
          const int64_t ih = oh * g.s[1] + kh * g.d[1] - g.p[1];
          if (ih < 0 || ih >= H) {
            for (int64_t ow = 0; ow < OW; ++ow) out[ow] = T(0);
            continue;
          }
          const T* row = src + ih * W + offw;
          for (int64_t ow = 0; ow < lo; ++ow) out[ow] = T(0);
          for (int64_t ow = lo; ow < hi; ++ow) out[ow] = row[ow];
          for (int64_t ow = hi; ow < OW; ++ow) out[ow] = T(0);
        }
      }
  }
}

template <class T>
void im2col(const Geom& g, int64_t C, const T* img, T* cols) {
  if (g.col[0] == 1 && g.k[0] == 1 && g.s[2] == 1 && g.d[2] == 1) return im2col_unit_rows(g, C, img, cols);
  for_each_run(g, C, cols, img, [](T* dst, const T* src, int64_t n, int64_t st) {
    if (!src) {
      std::fill(dst, dst + n, T(0));
    } else if (st == 1) {
      std::memcpy(dst, src, n * sizeof(T));
    } else {
      for (int64_t i = 0; i < n; ++i) dst[i] = src[i * st];
    }
  });
}

// img += col2im(cols); img is written through the same runs im2col reads.
template <class T>
void col2im(const Geom& g, int64_t C, const T* cols, T* img) {
  for_each_run(g, C, const_cast<T*>(cols), static_cast<const T*>(img), [](T* c, const T* src, int64_t n, int64_t st) {
    if (!src) return;
    T* dst = const_cast<T*>(src);
    for (int64_t i = 0; i < n; ++i) dst[i * st] += c[i];
  });
}

}  // namespace sliding
}  // namespace ember
