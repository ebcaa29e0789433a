#pragma once
// Backbones (features) and the classifier (backbone + linear head over every class of the stream).
// The head's active part grows with the tasks: class-IL prediction and the usual losses only look
// at the classes seen so far, and rows of unseen classes stay at their initial values.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

namespace clbench {

// Anything that maps images {B, C, H, W} to features {B, feature_dim()}.
struct BackboneImpl : torch::nn::Module {
  virtual torch::Tensor forward(const torch::Tensor& images) = 0;
  virtual int64_t feature_dim() const = 0;
};

struct MlpOptions {
  MlpOptions(int64_t in_features) : in_features_(in_features) {}
  TORCH_ARG(int64_t, in_features);
  TORCH_ARG(int64_t, hidden) = 400;
  TORCH_ARG(int64_t, layers) = 2;
};

// Fully connected ReLU network on flattened pixels (van de Ven et al. 2022: 2 x 400 for MNIST).
struct MlpImpl : BackboneImpl {
  explicit MlpImpl(const MlpOptions& options);
  torch::Tensor forward(const torch::Tensor& images) override;
  int64_t feature_dim() const override { return options.hidden(); }
  MlpOptions options;
  torch::nn::Sequential body{nullptr};
};
TORCH_MODULE(Mlp);

struct CnnOptions {
  CnnOptions(int64_t in_channels, int64_t image_size)
      : in_channels_(in_channels), image_size_(image_size) {}
  TORCH_ARG(int64_t, in_channels);
  TORCH_ARG(int64_t, image_size);
  TORCH_ARG(int64_t, width) = 32;
  TORCH_ARG(int64_t, features) = 256;
};

// Two conv-ReLU-maxpool stages and a dense layer; no batch norm, so ranks never disagree on
// running statistics and the math does not depend on the shard size.
struct CnnImpl : BackboneImpl {
  explicit CnnImpl(const CnnOptions& options);
  torch::Tensor forward(const torch::Tensor& images) override;
  int64_t feature_dim() const override { return options.features(); }
  CnnOptions options;
  torch::nn::Sequential body{nullptr};
};
TORCH_MODULE(Cnn);

struct ClassifierImpl : torch::nn::Module {
  ClassifierImpl(std::shared_ptr<BackboneImpl> backbone, int64_t num_classes);
  torch::Tensor forward(const torch::Tensor& images);  // logits over all classes
  std::shared_ptr<BackboneImpl> backbone;
  torch::nn::Linear head{nullptr};
};
TORCH_MODULE(Classifier);

// Backbone registry: name -> factory(input shape {C,H,W}).
struct BackboneEntry {
  std::string name, description;
  std::function<std::shared_ptr<BackboneImpl>(const std::vector<int64_t>& input_shape)> make;
};
const std::vector<BackboneEntry>& backbones();
std::vector<std::string> backbone_names();
Classifier make_classifier(const std::string& backbone, const std::vector<int64_t>& input_shape,
                           int64_t num_classes);

int64_t count_parameters(const std::vector<torch::Tensor>& params);
// Copies every parameter and buffer of `from` into `to` (same architecture).
void copy_weights(torch::nn::Module& to, const torch::nn::Module& from);

}  // namespace clbench
