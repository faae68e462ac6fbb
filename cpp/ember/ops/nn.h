// Fused neural-network ops (see nn.cpp). Reduction codes follow torch's: none, mean, sum.
#pragma once
#include "ember/core/tensor.h"

namespace ember {

enum Reduction : int { kNone = 0, kMean = 1, kSum = 2 };

// b may be null; relu=true fuses relu(linear(x)) into one op and one node (Sequential uses it)
Tensor linear(const Tensor& x, const Tensor& W, const Tensor& b, bool relu = false);
// Linear layers in a chain (2-D input), layer l followed by ReLU when relu[l]; bs entries may be null.
Tensor mlp(const Tensor& x, const std::vector<Tensor>& ws, const std::vector<Tensor>& bs, const std::vector<bool>& relu);
Tensor mse_loss(const Tensor& input, const Tensor& target, int reduction);
Tensor cross_entropy(const Tensor& x, const Tensor& target, const Tensor& weight, int64_t ignore_index, double smoothing,
                     int reduction);
Tensor nll_loss(const Tensor& logp, const Tensor& target, const Tensor& weight, int64_t ignore_index, int reduction);
Tensor binary_cross_entropy_with_logits(const Tensor& x, const Tensor& t, const Tensor& weight, const Tensor& pos_weight,
                                        int reduction);
Tensor binary_cross_entropy(const Tensor& p, const Tensor& t, const Tensor& weight, int reduction);

}  // namespace ember
