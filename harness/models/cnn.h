#pragma once
// Two conv-ReLU-maxpool stages and a dense layer; no batch norm, so ranks never disagree on
// running statistics and the math does not depend on the shard size.
#include <cstdint>

#include <torch/arg.h>

#include "harness/models/backbone.h"

namespace clbench {

struct CnnOptions {
  CnnOptions(int64_t in_channels, int64_t image_size)
      : in_channels_(in_channels), image_size_(image_size) {}
  TORCH_ARG(int64_t, in_channels);
  TORCH_ARG(int64_t, image_size);
  TORCH_ARG(int64_t, width) = 32;
  TORCH_ARG(int64_t, features) = 256;
};

struct CnnImpl : BackboneImpl {
  explicit CnnImpl(const CnnOptions& options);
  torch::Tensor forward(const torch::Tensor& images) override;
  int64_t feature_dim() const override { return options.features(); }
  torch::nn::Sequential* layers() override { return &body; }
  CnnOptions options;
  torch::nn::Sequential body{nullptr};
};
TORCH_MODULE(Cnn);

}  // namespace clbench
