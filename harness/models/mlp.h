#pragma once
// Fully connected ReLU network on flattened pixels (van de Ven et al. 2022: 2 x 400 for MNIST).
#include <cstdint>

#include <torch/arg.h>

#include "harness/models/backbone.h"

namespace clbench {

struct MlpOptions {
  MlpOptions(int64_t in_features) : in_features_(in_features) {}
  TORCH_ARG(int64_t, in_features);
  TORCH_ARG(int64_t, hidden) = 400;
  TORCH_ARG(int64_t, layers) = 2;
};

struct MlpImpl : BackboneImpl {
  explicit MlpImpl(const MlpOptions& options);
  torch::Tensor forward(const torch::Tensor& images) override;
  int64_t feature_dim() const override { return options.hidden(); }
  torch::nn::Sequential* layers() override { return &body; }
  torch::Tensor layers_input(const torch::Tensor& images) override { return images.flatten(1); }
  MlpOptions options;
  torch::nn::Sequential body{nullptr};  // (Linear, ReLU) x layers, on the flattened pixels
};
TORCH_MODULE(Mlp);

}  // namespace clbench
