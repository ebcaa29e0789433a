#pragma once
// ResNets (He et al. 2016) laid out exactly like torchvision's resnet18/34/50 without `fc`: the
// same module and parameter names (conv1, bn1, layer1.0.conv1, layer1.0.downsample.0, ...), the
// same initialisation (Kaiming-normal fan-out convolutions, BatchNorm 1 / 0) and the same blocks
// (BasicBlock; Bottleneck with the stride on its 3x3 convolution, "v1.5"). Features: the global
// average of the last stage. A CIFAR stem (3x3 stride 1, no max-pool) and the width are options.
//
// Every convolution is followed by its BatchNorm; the pair is a "site" that methods may
// reprogram (CLR) through a ConvNormHook without renaming the backbone's parameters.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <torch/arg.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>

#include "harness/models/backbone.h"
#include "harness/models/batch_norm.h"

namespace clbench {

struct ResNetOptions {
  TORCH_ARG(bool, bottleneck) = false;  // Bottleneck (expansion 4) or BasicBlock
  TORCH_ARG(std::vector<int64_t>, blocks) = std::vector<int64_t>{2, 2, 2, 2};  // per stage
  TORCH_ARG(int64_t, width) = 64;       // channels of the first stage
  TORCH_ARG(bool, cifar_stem) = false;  // conv1 3x3 stride 1 without max-pool (32 px inputs)
  TORCH_ARG(int64_t, in_channels) = 3;
};

// Named presets: resnet18, resnet34, resnet50 (torchvision, ImageNet stem, RGB), resnet18-cifar
// (CIFAR stem), resnet18-reduced (CIFAR stem, width 20: GEM / A-GEM), resnet-tiny (CIFAR stem,
// width 16, for CPU demonstrations). The last three take the stream's channel count.
struct ResNetPreset {
  std::string name, description;
  ResNetOptions options;
  bool stream_channels = false;  // in_channels from the stream, not 3
};
const std::vector<ResNetPreset>& resnet_presets();

// One convolution and the BatchNorm after it.
struct ConvSite {
  std::string conv_name, norm_name;  // torchvision names, e.g. layer1.0.conv1 / layer1.0.bn1
  torch::nn::Conv2d conv{nullptr};
  BatchNorm2d norm{nullptr};
};

// Replaces norm(conv(x)) at every site: `conv_out` is the frozen convolution's output, `site`
// indexes ResNetImpl::sites(). Its parameters are the owner's, not registered in the ResNet.
struct ConvNormHook {
  virtual ~ConvNormHook() = default;
  virtual torch::Tensor forward(size_t site, const torch::Tensor& conv_out,
                                BatchNorm2dImpl& norm) = 0;
};

// What the blocks of one ResNet share: its sites and the hook.
struct ResNetSites {
  std::vector<ConvSite> sites;
  std::shared_ptr<ConvNormHook> hook;  // null: the plain ResNet
  torch::Tensor apply(size_t site, const torch::Tensor& x);
};

struct ResNetBlockImpl : torch::nn::Module {
  ResNetBlockImpl(const std::string& prefix, int64_t in, int64_t planes, int64_t stride,
                  bool bottleneck, ResNetSites& sites, std::shared_ptr<ResNetSites> shared);
  torch::Tensor forward(const torch::Tensor& x);
  std::vector<size_t> body;  // sites of the main path, in order
  std::optional<size_t> downsample;
  std::shared_ptr<ResNetSites> shared;
};
TORCH_MODULE(ResNetBlock);

struct ResNetImpl : BackboneImpl {
  explicit ResNetImpl(const ResNetOptions& options);
  torch::Tensor forward(const torch::Tensor& images) override;
  int64_t feature_dim() const override { return feature_dim_; }
  // The pieces of forward, for methods that run the stages themselves (progressive networks):
  // forward = pool(stage(3, stage(2, stage(1, stage(0, stem(prepare(images))))))).
  torch::Tensor prepare(const torch::Tensor& images) const;  // channels converted to in_channels
  torch::Tensor stem(const torch::Tensor& x);
  torch::Tensor stage(size_t i, const torch::Tensor& x);
  static torch::Tensor pool(const torch::Tensor& x);
  size_t stages() const { return layers.size(); }
  int64_t stage_channels(size_t i) const;

  const std::vector<ConvSite>& sites() const { return sites_->sites; }
  void set_hook(std::shared_ptr<ConvNormHook> hook) { sites_->hook = std::move(hook); }

  ResNetOptions options;
  std::vector<torch::nn::Sequential> layers;  // layer1..layer4

 private:
  std::shared_ptr<ResNetSites> sites_;
  int64_t feature_dim_ = 0;
};
TORCH_MODULE(ResNet);

}  // namespace clbench
