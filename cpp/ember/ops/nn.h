// Fused neural-network ops (see nn.cpp). Reduction codes follow torch's: none, mean, sum.
#pragma once
#include <optional>
#include <utility>
#include <vector>

#include "ember/core/tensor.h"

namespace ember {

enum Reduction : int { kNone = 0, kMean = 1, kSum = 2 };

// b may be null; relu=true fuses relu(linear(x)) into one op and one node (Sequential uses it)
Tensor linear(const Tensor& x, const Tensor& W, const Tensor& b, bool relu = false);
// Linear layers in a chain (2-D input), layer l followed by ReLU when relu[l]; bs entries may be null.
Tensor mlp(const Tensor& x, const std::vector<Tensor>& ws, const std::vector<Tensor>& bs, const std::vector<bool>& relu);
// y[i] = x[i] @ W[i]^T + b[i] for each i of a stack of layers: x (B, N, in), W (B, out, in), b (B, out) or null;
// x's batch stride may be 0 (one input for every layer). vmap's rule for nn.Linear with stacked weights.
Tensor batched_linear(const Tensor& x, const Tensor& W, const Tensor& b);
// an ensemble's Linear/ReLU chain: x (B, N, in), ws[l] (B, out, in), bs[l] (B, out) or null
Tensor batched_mlp(const Tensor& x, const std::vector<Tensor>& ws, const std::vector<Tensor>& bs, const std::vector<bool>& relu);
// softmax((q * scale) @ k^T + mask) @ v over the last two dims (cpp/ember/ops/attention.cpp): q, k, v
// float32/float64 with the same leading dims, mask null or bool / q's dtype expanded to the scores'
// shape, causal: keys after the query masked.
Tensor scaled_dot_product_attention_fused(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask,
                                          double scale, bool causal);
// LayerNorm over the last D values of every row (weight and bias: D values, optional).
Tensor layer_norm(const Tensor& x, int64_t D, const Tensor& weight, const Tensor& bias, double eps);
// GELU (approx_tanh: torch's approximate='tanh') and its input gradient.
Tensor gelu(const Tensor& x, bool approx_tanh);
Tensor gelu_backward(const Tensor& grad, const Tensor& x, bool approx_tanh);
Tensor mse_loss(const Tensor& input, const Tensor& target, int reduction);
Tensor cross_entropy(const Tensor& x, const Tensor& target, const Tensor& weight, int64_t ignore_index, double smoothing,
                     int reduction);
Tensor nll_loss(const Tensor& logp, const Tensor& target, const Tensor& weight, int64_t ignore_index, int reduction);
Tensor binary_cross_entropy_with_logits(const Tensor& x, const Tensor& t, const Tensor& weight, const Tensor& pos_weight,
                                        int reduction);
Tensor binary_cross_entropy(const Tensor& p, const Tensor& t, const Tensor& weight, int reduction);


// Convolution over 1-3 spatial dims (conv.cpp, Note [Convolution sides]): x is batched
// [N, C, spatial...]; an empty stride/padding/... list means the default, one value applies to
// every dim.
Tensor convolution(const Tensor& x, const Tensor& w, const Tensor& b, const std::vector<int64_t>& stride,
                   const std::vector<int64_t>& padding, const std::vector<int64_t>& dilation, bool transposed,
                   const std::vector<int64_t>& output_padding, int64_t groups);

// Pooling over the last nd dims of x (pool.cpp); the dims before them are independent planes.
// The max pools return (values, flat indices into each plane); an empty stride is the kernel size.
std::pair<Tensor, Tensor> max_pool(const Tensor& x, int nd, const std::vector<int64_t>& kernel,
                                   const std::vector<int64_t>& stride, const std::vector<int64_t>& padding,
                                   const std::vector<int64_t>& dilation, bool ceil_mode);
Tensor avg_pool(const Tensor& x, int nd, const std::vector<int64_t>& kernel, const std::vector<int64_t>& stride,
                const std::vector<int64_t>& padding, bool ceil_mode, bool count_include_pad,
                std::optional<int64_t> divisor_override);
Tensor adaptive_avg_pool(const Tensor& x, int nd, const std::vector<int64_t>& output_size);
std::pair<Tensor, Tensor> adaptive_max_pool(const Tensor& x, int nd, const std::vector<int64_t>& output_size);

// Resizing the last x.dim() - 2 dims of x [N, C, spatial...] (resize.cpp, F.interpolate): to
// `size`, or by `scales` (exactly one of the two non-empty; the scales then also set the source
// indices, as torch's kernels given scale factors).
enum ResizeMode : int {
  kResizeNearest = 0,
  kResizeNearestExact = 1,
  kResizeLinear = 2,
  kResizeCubic = 3,
  kResizeAaLinear = 4,
  kResizeAaCubic = 5,
  kResizeAaLanczos = 6  // antialias=True
};
Tensor upsample(const Tensor& x, int mode, const std::vector<int64_t>& size, const std::vector<double>& scales,
                bool align_corners);

// Sliding blocks over the last two dims (fold.cpp), torch's im2col / col2im: im2col (F.unfold)
// takes [N, C, H, W] or [C, H, W] to [N, C * kh * kw, L] or [C * kh * kw, L], the L blocks' values
// as columns; col2im (F.fold) goes the other way to [N, C, output_size...], summing overlaps. Every
// list has two entries (torch's messages otherwise).
Tensor im2col(const Tensor& x, const std::vector<int64_t>& kernel_size, const std::vector<int64_t>& dilation,
              const std::vector<int64_t>& padding, const std::vector<int64_t>& stride);
Tensor col2im(const Tensor& x, const std::vector<int64_t>& output_size, const std::vector<int64_t>& kernel_size,
              const std::vector<int64_t>& dilation, const std::vector<int64_t>& padding,
              const std::vector<int64_t>& stride);
// The shuffles (fold.cpp): permutations of [*, C, H, W] (channel_shuffle: [N, C, *]) into a new tensor.
Tensor pixel_shuffle(const Tensor& x, int64_t upscale_factor);
Tensor pixel_unshuffle(const Tensor& x, int64_t downscale_factor);
Tensor channel_shuffle(const Tensor& x, int64_t groups);


// One layer and direction of an RNN / LSTM / GRU over a sequence (rnn.cpp): xp is the input
// projection x @ W_ih^T + b_ih, [T, N, G*H] (or packed rows [sum(batch_sizes), G*H] with
// batch_sizes non-empty); h0 [N, Hout], c0 [N, H] (LSTM only), w_hh [G*H, Hout], b_hh and w_hr
// (LSTM projection [Hout, H]) may be null. Returns {output, h_n, c_n (LSTM, else null)}.
enum RnnMode : int { kRnnTanh = 0, kRnnRelu = 1, kLstm = 2, kGru = 3 };
// slices > 0: every tensor has that many stacked slices in front, each slice a layer of its own (vmap's
// ensembles: Note [Batched RNN layers] in rnn.cpp).
std::vector<Tensor> rnn_layer(int mode, const Tensor& xp, const Tensor& h0, const Tensor& c0, const Tensor& w_hh,
                              const Tensor& b_hh, const Tensor& w_hr, bool reverse,
                              const std::vector<int64_t>& batch_sizes, int64_t slices = 0);

}  // namespace ember
