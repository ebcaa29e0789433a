#include "methods/quadratic_penalty.h"

#include <utility>

#include <torch/torch.h>

namespace clbench {
namespace {

bool fusable(const torch::Tensor& t) {
  return t.device().is_cpu() && t.scalar_type() == torch::kFloat32 && t.is_contiguous();
}

// The penalty of one tensor and its gradient as autograd computes it: the scalar rounded to float,
// times importance, times 2 (theta - anchor). The value is summed in eight float lanes (it is only
// reported).
std::pair<double, torch::Tensor> penalty_and_gradient(const torch::Tensor& theta,
                                                      const torch::Tensor& importance,
                                                      const torch::Tensor& anchor, double scale) {
  if (!(fusable(theta) && fusable(importance) && fusable(anchor))) {
    const auto d = theta - anchor;
    return {scale * (importance * d.pow(2)).sum().item<double>(), (scale * importance) * (2 * d)};
  }
  auto grad = torch::empty_like(theta);
  const float s = static_cast<float>(scale);
  const float* t = theta.data_ptr<float>();
  const float* w = importance.data_ptr<float>();
  const float* a = anchor.data_ptr<float>();
  float* g = grad.data_ptr<float>();
  const int64_t n = theta.numel();
  constexpr int64_t kLanes = 8;  // independent partial sums, so the loop vectorises
  float lanes[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int64_t k = 0; k < kLanes; ++k) {
      const float d = t[i + k] - a[i + k];
      lanes[k] += w[i + k] * (d * d);
      g[i + k] = (s * w[i + k]) * (2.0f * d);
    }
  }
  double sum = 0;
  for (; i < n; ++i) {
    const float d = t[i] - a[i];
    sum += static_cast<double>(w[i] * (d * d));
    g[i] = (s * w[i]) * (2.0f * d);
  }
  for (float lane : lanes) sum += static_cast<double>(lane);
  return {scale * sum, grad};
}

class QuadraticPenalty : public torch::autograd::Function<QuadraticPenalty> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::TensorList params,
                               const std::vector<torch::Tensor>& importance,
                               const std::vector<torch::Tensor>& anchor, double scale) {
    torch::NoGradGuard no_grad;
    double value = 0;
    std::vector<torch::Tensor> grads;
    for (size_t i = 0; i < params.size(); ++i) {
      auto [v, g] = penalty_and_gradient(params[i], importance[i], anchor[i], scale);
      value += v;
      grads.push_back(std::move(g));
    }
    ctx->save_for_backward(grads);
    const auto options = params.empty() ? torch::TensorOptions() : params[0].options();
    return torch::full({}, value, options);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_output) {
    auto grads = ctx->get_saved_variables();
    const auto& upstream = grad_output[0];
    const bool one = upstream.device().is_cpu() && upstream.item<double>() == 1.0;  // the usual
    if (!one) {
      for (auto& g : grads) g = g * upstream;
    }
    grads.push_back(torch::Tensor());  // importance
    grads.push_back(torch::Tensor());  // anchor
    grads.push_back(torch::Tensor());  // scale
    return grads;
  }
};

}  // namespace

torch::Tensor quadratic_penalty(const std::vector<torch::Tensor>& params,
                                const std::vector<torch::Tensor>& importance,
                                const std::vector<torch::Tensor>& anchor, double scale) {
  return QuadraticPenalty::apply(torch::TensorList(params), importance, anchor, scale);
}

}  // namespace clbench
