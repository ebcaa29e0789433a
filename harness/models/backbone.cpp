#include "harness/models/backbone.h"

#include <torch/torch.h>

#include "harness/foundation/stop_point.h"

namespace clbench {

ClassifierImpl::ClassifierImpl(std::shared_ptr<BackboneImpl> bb, int64_t num_classes)
    : backbone(std::move(bb)) {
  register_module("backbone", backbone);
  head = register_module("head", torch::nn::Linear(backbone->feature_dim(), num_classes));
}

torch::Tensor ClassifierImpl::forward(const torch::Tensor& images) {
  return head->forward(backbone->forward(images));
}

int64_t count_parameters(const std::vector<torch::Tensor>& params) {
  int64_t n = 0;
  for (const auto& p : params) n += p.numel();
  return n;
}

void copy_weights(torch::nn::Module& to, const torch::nn::Module& from) {
  torch::NoGradGuard no_grad;
  auto dst = to.named_parameters(true);
  for (const auto& item : from.named_parameters(true)) dst[item.key()].copy_(item.value());
  auto dst_buffers = to.named_buffers(true);
  for (const auto& item : from.named_buffers(true)) dst_buffers[item.key()].copy_(item.value());
}

void use_channels_last(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  auto tensors = module.parameters();
  for (const auto& b : module.buffers()) tensors.push_back(b);
  for (auto& t : tensors) {
    if (t.dim() == 4) t.set_data(t.contiguous(at::MemoryFormat::ChannelsLast));
  }
}

torch::Tensor block_boundary(const torch::Tensor& x) {
  if (!stop_points_open()) return x;
  stop_point();
  if (x.requires_grad()) {
    // Hooks on a non-leaf tensor last as long as its graph: one per step.
    x.register_hook([](const torch::Tensor&) { stop_point(); });
  }
  return x;
}

}  // namespace clbench
