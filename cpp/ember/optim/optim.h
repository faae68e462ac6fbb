// Fused optimizer updates: one call walks every parameter of a group (torch's _fused_* /
// llm.c's gpt2_update). Each follows torch's update rule exactly, state tensors updated in place.
#pragma once
#include <vector>

#include "ember/core/tensor.h"

namespace ember {

// momentum_bufs[i] null on the first step: created as a copy of the (decayed) gradient, as torch.
void sgd_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads, std::vector<Tensor>& momentum_bufs,
              double lr, double momentum, double dampening, double weight_decay, bool nesterov, bool maximize);

// step is the 1-based step count after increment; decoupled = AdamW.
void adam_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads, const std::vector<Tensor>& exp_avg,
               const std::vector<Tensor>& exp_avg_sq, const std::vector<Tensor>& max_exp_avg_sq, const std::vector<double>& steps,
               double lr, double beta1, double beta2, double eps, double weight_decay, bool amsgrad, bool maximize,
               bool decoupled);

void rmsprop_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads, const std::vector<Tensor>& square_avg,
                  std::vector<Tensor>& momentum_buf, const std::vector<Tensor>& grad_avg, double lr, double alpha, double eps,
                  double weight_decay, double momentum, bool centered, bool maximize);

void adagrad_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads, const std::vector<Tensor>& state_sum,
                  const std::vector<double>& steps, double lr, double lr_decay, double weight_decay, double eps, bool maximize);

void zero_grads(const std::vector<Tensor>& params, bool set_to_none);

}  // namespace ember
