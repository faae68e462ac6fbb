// Sliding blocks and shuffles:
// - im2col / col2im over two spatial dims (F.unfold / F.fold, which torch writes in Python over
//   torch._C._nn.im2col / col2im; src/ember/nn/_fold.py is their Python side). They are the
//   convolution's own primitives without the product (cpp/ember/ops/im2col.h, Note [Convolution
//   sides]): unfold gathers the blocks, fold scatters them back summing overlaps, and each one's
//   gradient is the other over the same geometry.
// - pixel_shuffle / pixel_unshuffle / channel_shuffle (table ops): a permutation of the elements,
//   made as one strided copy of a reshaped, permuted view; the gradient is the inverse shuffle.
// Checks, their order and their messages are torch's.
#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include "ember/autograd/node.h"
#include "ember/kernels/parallel.h"
#include "ember/ops/im2col.h"
#include "ember/ops/nn.h"
#include "ember/ops/ops.h"
#include "ember/ops/registry.h"

namespace ember {

namespace {

// ---------------------------------------------------------------- im2col / col2im

// torch's input.size(d), IndexError messages included.
int64_t size_at(const Tensor& x, int64_t d) {
  if (x->dim() == 0) throw IndexError("Dimension specified as " + std::to_string(d) + " but tensor has no dimensions");
  return x->shape[wrap_dim(d, x->dim())];
}

// torch's div_rtn: division rounding towards negative infinity.
int64_t div_floor(int64_t a, int64_t b) {
  int64_t q = a / b;
  if (a % b != 0 && ((a < 0) != (b < 0))) --q;
  return q;
}

std::string pair_str(int64_t a, int64_t b) { return "(" + std::to_string(a) + ", " + std::to_string(b) + ")"; }

void check_two(const std::vector<int64_t>& v, const char* name) {
  if (v.size() != 2)
    throw std::runtime_error(std::string("It is expected ") + name + " equals to 2, but got size " +
                             std::to_string(v.size()));
}

void check_positive(const std::vector<int64_t>& v, const char* what, const char* name, bool allow_zero = false) {
  if (allow_zero ? (v[0] >= 0 && v[1] >= 0) : (v[0] > 0 && v[1] > 0)) return;
  throw std::runtime_error(std::string(what) + (allow_zero ? " should be non-negative" : " should be greater than zero") +
                           ", but got " + name + "_height: " + std::to_string(v[0]) + " " + name +
                           "_width: " + std::to_string(v[1]));
}

// The geometry of one call: the image side (H, W), the block grid (L = bh * bw positions), and
// `planes` (samples x channels), each plane a [H, W] image and a [kh * kw, L] block of columns.
struct Blocks {
  sliding::Geom g;
  int64_t planes = 0;
  Shape img_shape, col_shape;  // the image-side and column-side tensors (batched or not, as given)
};

sliding::Geom block_geom(int64_t H, int64_t W, int64_t bh, int64_t bw, const std::vector<int64_t>& k,
                         const std::vector<int64_t>& d, const std::vector<int64_t>& p, const std::vector<int64_t>& s) {
  sliding::Geom g;
  g.img[1] = H, g.img[2] = W, g.col[1] = bh, g.col[2] = bw;
  for (int i = 0; i < 2; ++i) g.k[1 + i] = k[i], g.d[1 + i] = d[i], g.p[1 + i] = p[i], g.s[1 + i] = s[i];
  return g;
}

// torch's im2col_out_cpu_template and im2col_shape_check.
Blocks plan_im2col(const Tensor& x, const std::vector<int64_t>& k, const std::vector<int64_t>& d,
                   const std::vector<int64_t>& p, const std::vector<int64_t>& s) {
  check_two(k, "kernel_size");
  check_two(d, "dilation");
  check_two(p, "padding");
  check_two(s, "stride");
  check_positive(k, "kernel size", "kernel");
  check_positive(d, "dilation", "dilation");
  check_positive(p, "padding", "pad", true);
  check_positive(s, "stride", "stride");
  const int64_t nd = x->dim();
  const bool valid_dims = size_at(x, 1) != 0 && size_at(x, 2) != 0;
  if (!((nd == 3 && x->shape[0] != 0 && valid_dims) || (nd == 4 && valid_dims && x->shape[3] != 0)))
    throw std::runtime_error("Expected 3D or 4D (batch mode) tensor with possibly 0 batch size and other non-zero "
                             "dimensions for input, but got: " + shape_str(x->shape));
  const int64_t H = x->shape[nd - 2], W = x->shape[nd - 1];
  const int64_t bh = div_floor(H + 2 * p[0] - (d[0] * (k[0] - 1) + 1), s[0]) + 1;
  const int64_t bw = div_floor(W + 2 * p[1] - (d[1] * (k[1] - 1) + 1), s[1]) + 1;
  if (bh < 1 || bw < 1)
    throw std::runtime_error("Given input with spatial size " + pair_str(H, W) + ", kernel_size=" + pair_str(k[0], k[1]) +
                             ", dilation=" + pair_str(d[0], d[1]) + ", padding=" + pair_str(p[0], p[1]) +
                             ", calculated shape of the array of sliding blocks as " + pair_str(bh, bw) +
                             ", but its components must be at least one.");
  Blocks b;
  b.g = block_geom(H, W, bh, bw, k, d, p, s);
  const int64_t C = x->shape[nd - 3];
  b.planes = (nd == 4 ? x->shape[0] : 1) * C;
  b.img_shape = x->shape;
  b.col_shape = nd == 4 ? Shape{x->shape[0], C * k[0] * k[1], bh * bw} : Shape{C * k[0] * k[1], bh * bw};
  checked_numel(b.col_shape, itemsize(x->dtype));
  return b;
}

// torch's col2im_out_cpu_template and col2im_shape_check.
Blocks plan_col2im(const Tensor& x, const std::vector<int64_t>& out, const std::vector<int64_t>& k,
                   const std::vector<int64_t>& d, const std::vector<int64_t>& p, const std::vector<int64_t>& s) {
  check_two(out, "output_size");
  check_two(k, "kernel_size");
  check_two(d, "dilation");
  check_two(p, "padding");
  check_two(s, "stride");
  check_positive(k, "kernel size", "kernel");
  check_positive(s, "stride", "stride");
  check_positive(d, "dilation", "dilation");
  check_positive(p, "padding", "pad", true);
  const int64_t nd = x->dim();
  if (!((nd == 2 && x->shape[0] != 0 && x->shape[1] != 0) || (nd == 3 && x->shape[1] != 0 && x->shape[2] != 0)))
    throw std::runtime_error("Expected 2D or 3D (batch mode) tensor for input with possibly 0 batch size and non-zero "
                             "dimensions for input, but got: " + shape_str(x->shape));
  const int64_t rows = x->shape[nd - 2], L = x->shape[nd - 1];
  if (rows % (k[0] * k[1]) != 0)
    throw std::runtime_error("Expected size of input's dimension 1 to be divisible by the product of kernel_size, but "
                             "got input.size(1)=" + std::to_string(rows) + " and kernel_size=" + pair_str(k[0], k[1]) +
                             ".");
  const int64_t bh = div_floor(out[0] + 2 * p[0] - d[0] * (k[0] - 1) - 1, s[0]) + 1;
  const int64_t bw = div_floor(out[1] + 2 * p[1] - d[1] * (k[1] - 1) - 1, s[1]) + 1;
  const std::string given = "Given output_size=" + pair_str(out[0], out[1]) + ", kernel_size=" + pair_str(k[0], k[1]) +
                            ", dilation=" + pair_str(d[0], d[1]) + ", padding=" + pair_str(p[0], p[1]) +
                            ", stride=" + pair_str(s[0], s[1]) + ", ";
  if (L != bh * bw)
    throw std::runtime_error(given + "expected size of input's dimension 2 to match the calculated number of sliding "
                             "blocks " + std::to_string(bh) + " * " + std::to_string(bw) + " = " +
                             std::to_string(bh * bw) + ", but got input.size(2)=" + std::to_string(L) + ".");
  if (bh < 1 || bw < 1)
    throw std::runtime_error(given + "calculated shape of the array of sliding blocks as " + pair_str(bh, bw) +
                             ", which is too small (non-positive)");
  if (out[0] < 1 || out[1] < 1)
    throw std::runtime_error("Expected output spatial size to be positive, but got: output_size=" +
                             pair_str(out[0], out[1]) + ".");
  Blocks b;
  b.g = block_geom(out[0], out[1], bh, bw, k, d, p, s);
  const int64_t C = rows / (k[0] * k[1]);
  b.planes = (nd == 3 ? x->shape[0] : 1) * C;
  b.col_shape = x->shape;
  b.img_shape = nd == 3 ? Shape{x->shape[0], C, out[0], out[1]} : Shape{C, out[0], out[1]};
  checked_numel(b.img_shape, itemsize(x->dtype));
  return b;
}

int block_threads(const Blocks& b) {
  const int64_t work = b.planes * b.g.k_n() * b.g.col_n();
  return (int)std::clamp<int64_t>(work / (1 << 16), 1, std::min<int64_t>(b.planes, get_num_threads()));
}

// torch has im2col / col2im kernels for the floating types and bool; float16 and bfloat16 run in
// float32 (Note [Storage dtypes]), the others raise torch's NotImplementedError.
#define EMBER_DISPATCH_BLOCKS(dt, kernel, T, ...)                       \
  switch (dt) {                                                         \
    case DType::Bool: { using T = bool; __VA_ARGS__; break; }           \
    case DType::Float32: { using T = float; __VA_ARGS__; break; }       \
    case DType::Float64: { using T = double; __VA_ARGS__; break; }      \
    default: not_implemented_for(kernel, dt);                           \
  }

// cols[plane] = im2col(img[plane]) for every plane; img contiguous.
Tensor gather_blocks(const Blocks& b, const Tensor& img) {
  Tensor cols = empty(b.col_shape, img->dtype);
  const int64_t in = b.g.img_n(), cn = b.g.k_n() * b.g.col_n();
  EMBER_DISPATCH_BLOCKS(img->dtype, "im2col_out_cpu", T, {
    const T* src = img->data<T>();
    T* dst = cols->data<T>();
    parallel_for(b.planes, block_threads(b), 1, [&](int64_t lo, int64_t hi) {
      for (int64_t pl = lo; pl < hi; ++pl) sliding::im2col<T>(b.g, 1, src + pl * in, dst + pl * cn);
    });
  });
  return cols;
}

// img[plane] = col2im(cols[plane]) (overlaps summed) for every plane; cols contiguous.
Tensor scatter_blocks(const Blocks& b, const Tensor& cols) {
  Tensor img = empty(b.img_shape, cols->dtype);
  const int64_t in = b.g.img_n(), cn = b.g.k_n() * b.g.col_n();
  EMBER_DISPATCH_BLOCKS(cols->dtype, "col2im_out_cpu", T, {
    const T* src = cols->data<T>();
    T* dst = img->data<T>();
    parallel_for(b.planes, block_threads(b), 1, [&](int64_t lo, int64_t hi) {
      for (int64_t pl = lo; pl < hi; ++pl) {
        std::fill(dst + pl * in, dst + (pl + 1) * in, T(0));
        sliding::col2im<T>(b.g, 1, src + pl * cn, dst + pl * in);
      }
    });
  });
  return img;
}

#undef EMBER_DISPATCH_BLOCKS

void check_blocks_dtype(DType d, const char* kernel) {
  if (d != DType::Bool && !is_floating(d)) not_implemented_for(kernel, d);
}

struct Im2ColBackward : Node {
  Blocks b;
  explicit Im2ColBackward(Blocks bl) : b(std::move(bl)) {}
  std::vector<Tensor> apply(std::vector<Tensor>& g) override { return {scatter_blocks(b, contiguous(g[0]))}; }
  std::string name() const override { return "Im2ColBackward0"; }
};

struct Col2ImBackward : Node {
  Blocks b;
  explicit Col2ImBackward(Blocks bl) : b(std::move(bl)) {}
  std::vector<Tensor> apply(std::vector<Tensor>& g) override { return {gather_blocks(b, contiguous(g[0]))}; }
  std::string name() const override { return "Col2ImBackward0"; }
};

}  // namespace

Tensor im2col(const Tensor& x, const std::vector<int64_t>& kernel_size, const std::vector<int64_t>& dilation,
              const std::vector<int64_t>& padding, const std::vector<int64_t>& stride) {
  Blocks b = plan_im2col(x, kernel_size, dilation, padding, stride);
  check_blocks_dtype(x->dtype, "im2col_out_cpu");
  if (any_storage({&x}))  // Note [Storage dtypes]
    return from_compute(im2col(to_compute(x), kernel_size, dilation, padding, stride), {&x});
  Tensor out;
  {
    NoGradGuard ng;
    out = gather_blocks(b, contiguous(x));
  }
  if (any_requires_grad({&x})) set_history(out, make_node<Im2ColBackward>({&x}, std::move(b)));
  return out;
}

Tensor col2im(const Tensor& x, const std::vector<int64_t>& output_size, const std::vector<int64_t>& kernel_size,
              const std::vector<int64_t>& dilation, const std::vector<int64_t>& padding,
              const std::vector<int64_t>& stride) {
  Blocks b = plan_col2im(x, output_size, kernel_size, dilation, padding, stride);
  check_blocks_dtype(x->dtype, "col2im_out_cpu");
  if (any_storage({&x}))
    return from_compute(col2im(to_compute(x), output_size, kernel_size, dilation, padding, stride), {&x});
  Tensor out;
  {
    NoGradGuard ng;
    out = scatter_blocks(b, contiguous(x));
  }
  if (any_requires_grad({&x})) set_history(out, make_node<Col2ImBackward>({&x}, std::move(b)));
  return out;
}

// ---------------------------------------------------------------- shuffles

namespace {

// A fresh contiguous tensor of shape `out` (same element count) holding x reshaped to `split` with
// its dims permuted by `perm`: one strided copy, no graph. Never x itself, as torch.
Tensor permuted_copy(const Tensor& x, const Shape& split, const std::vector<int64_t>& perm, const Shape& out) {
  NoGradGuard ng;
  Tensor v = permute(reshape(x, split), perm);
  Tensor r = empty(out, x->dtype);
  copy_into(make_view(r, v->shape, contiguous_strides(v->shape), 0), v);
  return r;
}

// Shape of x's leading (batch) dims, the last `inner` dims left out.
Shape leading(const Tensor& x, int64_t inner) { return Shape(x->shape.begin(), x->shape.end() - inner); }

// The permutation that keeps the first `lead` dims and then takes `tail` (relative to lead).
std::vector<int64_t> lead_perm(int64_t lead, std::initializer_list<int64_t> tail) {
  std::vector<int64_t> p(lead);
  for (int64_t i = 0; i < lead; ++i) p[i] = i;
  for (int64_t t : tail) p.push_back(lead + t);
  return p;
}

// The gradient of a shuffle is the inverse shuffle of the output's (an empty input's is empty:
// torch's own backward fails there, running an inverse that refuses the shape).
struct ShuffleBackward : Node {
  std::function<Tensor(const Tensor&)> inverse;
  Shape in_shape;
  std::string nm;
  std::vector<Tensor> apply(std::vector<Tensor>& g) override {
    return {g[0]->numel() == 0 ? empty(in_shape, g[0]->dtype) : inverse(g[0])};
  }
  std::string name() const override { return nm; }
};

Tensor with_inverse(const Tensor& x, Tensor out, const char* node, std::function<Tensor(const Tensor&)> inverse) {
  if (any_requires_grad({&x})) {
    auto n = make_node<ShuffleBackward>({&x});
    n->inverse = std::move(inverse);
    n->in_shape = x->shape;
    n->nm = node;
    set_history(out, n);
  }
  return out;
}

}  // namespace

Tensor pixel_shuffle(const Tensor& x, int64_t r) {
  if (x->dim() < 3)
    throw std::runtime_error("pixel_shuffle expects input to have at least 3 dimensions, but got input with " +
                             std::to_string(x->dim()) + " dimension(s)");
  if (r <= 0) throw std::runtime_error("pixel_shuffle expects a positive upscale_factor, but got " + std::to_string(r));
  int64_t r2;
  if (__builtin_mul_overflow(r, r, &r2))
    throw ValueError("upscale factor is too large, (upscale_factor)^2 overflowed: upscale_factor=" + std::to_string(r));
  const int64_t C = x->shape[x->dim() - 3], H = x->shape[x->dim() - 2], W = x->shape[x->dim() - 1];
  if (C % r2 != 0)
    throw std::runtime_error("pixel_shuffle expects its input's 'channel' dimension to be divisible by the square of "
                             "upscale_factor, but input.size(-3)=" + std::to_string(C) + " is not divisible by " +
                             std::to_string(r2));
  const Shape lead = leading(x, 3);
  Shape split = lead, out = lead;
  for (int64_t v : {C / r2, r, r, H, W}) split.push_back(v);
  for (int64_t v : {C / r2, H * r, W * r}) out.push_back(v);
  // [*, c, i, j, h, w] -> [*, c, h, i, w, j]: out[c, h * r + i, w * r + j] = x[c * r * r + i * r + j, h, w]
  Tensor y = permuted_copy(x, split, lead_perm((int64_t)lead.size(), {0, 3, 1, 4, 2}), out);
  return with_inverse(x, y, "PixelShuffleBackward0", [r](const Tensor& g) { return pixel_unshuffle(g, r); });
}

Tensor pixel_unshuffle(const Tensor& x, int64_t r) {
  if (x->dim() < 3)
    throw std::runtime_error("pixel_unshuffle expects input to have at least 3 dimensions, but got input with " +
                             std::to_string(x->dim()) + " dimension(s)");
  if (r <= 0)
    throw std::runtime_error("pixel_unshuffle expects a positive downscale_factor, but got " + std::to_string(r));
  const int64_t C = x->shape[x->dim() - 3], H = x->shape[x->dim() - 2], W = x->shape[x->dim() - 1];
  if (H % r != 0)
    throw std::runtime_error("pixel_unshuffle expects height to be divisible by downscale_factor, but input.size(-2)=" +
                             std::to_string(H) + " is not divisible by " + std::to_string(r));
  if (W % r != 0)
    throw std::runtime_error("pixel_unshuffle expects width to be divisible by downscale_factor, but input.size(-1)=" +
                             std::to_string(W) + " is not divisible by " + std::to_string(r));
  auto inverse = [r](const Tensor& g) { return pixel_shuffle(g, r); };
  if (x->numel() == 0)  // torch returns an empty input's clone, in the input's shape
    return with_inverse(x, empty(x->shape, x->dtype), "PixelUnshuffleBackward0", inverse);
  const Shape lead = leading(x, 3);
  Shape split = lead, out = lead;
  for (int64_t v : {C, H / r, r, W / r, r}) split.push_back(v);
  for (int64_t v : {C * r * r, H / r, W / r}) out.push_back(v);
  // [*, c, h, i, w, j] -> [*, c, i, j, h, w]: pixel_shuffle read backwards
  Tensor y = permuted_copy(x, split, lead_perm((int64_t)lead.size(), {0, 2, 4, 1, 3}), out);
  return with_inverse(x, y, "PixelUnshuffleBackward0", inverse);
}

Tensor channel_shuffle(const Tensor& x, int64_t groups) {
  if (x->dim() <= 2)
    throw std::runtime_error("channel_shuffle expects input with > 2 dims, but got input with sizes " +
                             shape_str(x->shape));
  if (groups <= 0)
    throw std::runtime_error("Number of groups to divide channels in must be positive. Value of groups:" +
                             std::to_string(groups));
  const int64_t N = x->shape[0], C = x->shape[1];
  if (C % groups != 0)
    throw std::runtime_error("Number of channels must be divisible by groups. Got " + std::to_string(C) +
                             " channels and " + std::to_string(groups) + " groups.");
  int64_t rest = 1;
  for (int64_t i = 2; i < x->dim(); ++i) rest *= x->shape[i];
  // [n, g, c / g, rest] -> [n, c / g, g, rest] (torch's native_channel_shuffle)
  Tensor y = permuted_copy(x, {N, groups, C / groups, rest}, {0, 2, 1, 3}, x->shape);
  // the inverse: C / groups groups (C > 0 here: an empty gradient never reaches it)
  return with_inverse(x, y, "ChannelShuffleBackward0",
                      [groups, C](const Tensor& g) { return channel_shuffle(g, C / groups); });
}

EMBER_OP("pixel_shuffle(Tensor input, int upscale_factor) -> Tensor", "function any_dtype", pixel_shuffle(a.t(0), a.i(1)));
EMBER_OP("pixel_unshuffle(Tensor input, int downscale_factor) -> Tensor", "function any_dtype",
         pixel_unshuffle(a.t(0), a.i(1)));
EMBER_OP("channel_shuffle(Tensor input, int groups) -> Tensor", "function any_dtype", channel_shuffle(a.t(0), a.i(1)));

}  // namespace ember
