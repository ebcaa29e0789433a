#pragma once
// The quadratic penalty of EWC (Kirkpatrick et al. 2017, Eq. 3), SI (Zenke et al. 2017, Eq. 4) and
// MAS (Aljundi et al. 2018, Eq. 5): scale * sum_i importance_i * (theta_i - anchor_i)^2.
#include <vector>

#include <torch/types.h>

namespace clbench {

// Differentiable in `params`. The value and the gradient, the same bits as autograd's
// (scale * importance) * (2 * (theta - anchor)), come from one fused pass per tensor on the CPU
// instead of a graph of ten operations per tensor (ATen's operations elsewhere); the value is
// summed in another order than ATen's, so its last digits may differ (it is only reported).
torch::Tensor quadratic_penalty(const std::vector<torch::Tensor>& params,
                                const std::vector<torch::Tensor>& importance,
                                const std::vector<torch::Tensor>& anchor, double scale);

}  // namespace clbench
