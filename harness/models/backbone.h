#pragma once
// Backbones (features) and the classifier (backbone + linear head over every class of the stream).
// The head's active part grows with the tasks: class-IL prediction and the usual losses only look
// at the classes seen so far, and rows of unseen classes stay at their initial values.
#include <cstdint>
#include <memory>
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
  // A backbone that is a plain stack of modules returns it, so that tools such as per-sample
  // gradients can walk it: forward(images) = layers()->forward(layers_input(images)). Others
  // return null.
  virtual torch::nn::Sequential* layers() { return nullptr; }
  virtual torch::Tensor layers_input(const torch::Tensor& images) { return images; }
};

struct ClassifierImpl : torch::nn::Module {
  ClassifierImpl(std::shared_ptr<BackboneImpl> backbone, int64_t num_classes);
  torch::Tensor forward(const torch::Tensor& images);  // logits over all classes
  std::shared_ptr<BackboneImpl> backbone;
  torch::nn::Linear head{nullptr};
};
TORCH_MODULE(Classifier);

int64_t count_parameters(const std::vector<torch::Tensor>& params);
// Copies every parameter and buffer of `from` into `to` (same architecture).
void copy_weights(torch::nn::Module& to, const torch::nn::Module& from);
// Stores every 4-D parameter and buffer (convolution weights) in channels_last order, the layout
// cuDNN's fastest convolutions use on GPUs (the values are unchanged).
void use_channels_last(torch::nn::Module& module);
// Between two blocks of a backbone: a stop point (harness/foundation/stop_point.h) now, and another
// when the step's backward comes back through here. Returns `x`.
torch::Tensor block_boundary(const torch::Tensor& x);

}  // namespace clbench
