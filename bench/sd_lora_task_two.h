#pragma once
// The SD-LoRA state both step benchmarks time (bench/lora_step.cpp, bench/gpu_step.cpp).
#include <vector>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "harness/models/vit.h"
#include "methods/adapters/lora.h"

namespace clbench::bench {

constexpr int64_t kTaskTwoLoraRank = 10;

// SD-LoRA at task 2 on every block's q and v: one frozen normalised direction and the current
// LoRA, two magnitudes. Returns the trained tensors (the magnitudes and the current factors).
inline std::vector<torch::Tensor> install_task_two(VitImpl& vit, const torch::Device& device) {
  const auto on_device = [&](const torch::Tensor& t, bool grad) {
    return t.detach().to(device).requires_grad_(grad);
  };
  auto gen = at::make_generator<at::CPUGeneratorImpl>(0);
  auto alpha_old = on_device(torch::full({1}, 0.8), true);
  auto alpha_new = on_device(torch::full({1}, 0.8), true);
  std::vector<torch::Tensor> params = {alpha_old, alpha_new};
  for (auto& layer : install_qkv_lora(vit, {QkvPart::kQ, QkvPart::kV})) {
    for (auto* linear : layer->linears()) {
      auto old =
          make_lora_update(linear->out_features(), linear->in_features(), kTaskTwoLoraRank, gen);
      {
        torch::NoGradGuard no_grad;
        old.factors[0].normal_(0.0, 0.01, gen);
      }
      for (auto& f : old.factors) f = on_device(f, true);
      old.freeze(LoraNorm::kFactorNorms);
      old.magnitude = alpha_old;
      auto current =
          make_lora_update(linear->out_features(), linear->in_features(), kTaskTwoLoraRank, gen);
      current.magnitude = alpha_new;
      for (auto& f : current.factors) f = on_device(f, true);
      params.insert(params.end(), current.factors.begin(), current.factors.end());
      linear->updates = {old, current};
    }
  }
  return params;
}

}  // namespace clbench::bench
