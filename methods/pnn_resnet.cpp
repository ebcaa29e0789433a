// Progressive-network columns on the ResNets, as Mammoth's backbone/ResNet18_PNN.py: the layers of
// a column are its stages (the stem belongs to the first). Stage s >= 1 of column k adds
//   adaptor_s = lateral stage s (ReLU(Conv1x1(alpha * [h_{s-1}^(0), ..., h_{s-1}^(k-1)])))
// to its output before the ReLU: alpha scales every channel and position (AlphaModule,
// U[0, 0.1)), the 1x1 convolution reduces the k columns to one column's channels, and the lateral
// stage is a fresh copy of stage s. The first stage has no lateral (Mammoth's old layer-0 outputs
// feed none). The head adds Mammoth's lateral classifier: Linear(ReLU(Conv1x1(alpha * pooled
// last-stage features of the earlier columns))).
// Unlike Mammoth, an earlier column runs with its own batch norms in eval mode (methods/pnn.cpp):
// Mammoth's copies of the old layers run in the new network's mode, so their running statistics
// drift, and its old stems share the new column's bn1. Each head has its task's classes only
// (Mammoth's covers every class and masks the others: the same task-IL logits).
#include <string>

#include <torch/torch.h>

#include "harness/foundation/error.h"
#include "harness/models/resnet.h"
#include "methods/pnn_columns.h"

namespace clbench {
namespace {

namespace nn = torch::nn;

// AlphaModule -> Conv2d(C k -> C, 1) -> ReLU (Mammoth's adaptor<i> up to its lateral layer).
struct AdaptorImpl : nn::Module {
  AdaptorImpl(int64_t channels, int64_t earlier, int64_t height, int64_t width) {
    alpha =
        register_parameter("alpha", torch::rand({1, channels * earlier, height, width}).mul_(0.1));
    conv = register_module("conv", nn::Conv2d(nn::Conv2dOptions(channels * earlier, channels, 1)));
  }
  torch::Tensor forward(const std::vector<torch::Tensor>& xs) {
    return torch::relu(conv->forward(torch::cat(xs, 1) * alpha));
  }
  torch::Tensor alpha;
  nn::Conv2d conv{nullptr};
};
TORCH_MODULE(Adaptor);

class ResNetColumnImpl : public PnnColumnImpl {
 public:
  ResNetColumnImpl(std::shared_ptr<ResNetImpl> net, const PnnColumnOptions& o)
      : PnnColumnImpl(net), net_(std::move(net)), sites_(std::make_shared<ResNetSites>()) {
    const size_t stages = net_->stages();
    const int64_t k = o.earlier, features = net_->feature_dim();
    adaptors_.resize(stages, Adaptor(nullptr));
    lateral_stages_.resize(stages, nn::Sequential(nullptr));
    if (k > 0) {
      const auto sizes = stage_sizes(o.input_shape);
      for (size_t s = 1; s < stages; ++s) {
        const int64_t in = net_->stage_channels(s - 1);
        const auto& hw = sizes[s - 1];
        adaptors_[s] = register_module("adaptor" + std::to_string(s), Adaptor(in, k, hw[0], hw[1]));
        lateral_stages_[s] =
            register_module("lateral_stage" + std::to_string(s), make_stage(s, in));
      }
    }
    head_ = register_module("head", nn::Linear(features, o.classes));
    if (k > 0 && o.head_laterals.value_or(true)) {
      head_adaptor_ = register_module("head_adaptor", Adaptor(features, k, 1, 1));
      lateral_classifier_ = register_module("lateral_classifier", nn::Linear(features, o.classes));
    }
  }

  size_t depth() const override { return net_->stages(); }
  torch::Tensor input(const torch::Tensor& images) override { return net_->prepare(images); }

  torch::Tensor layer(size_t l, const torch::Tensor& own,
                      const std::vector<torch::Tensor>& earlier) override {
    if (l == 0) return net_->stage(0, net_->stem(own));
    auto y = net_->stage(l, own);
    if (earlier.empty() || !adaptors_[l]) return y;
    return torch::relu(y + lateral_stages_[l]->forward(adaptors_[l]->forward(earlier)));
  }

  torch::Tensor head(const torch::Tensor& own, const std::vector<torch::Tensor>& earlier) override {
    auto logits = head_->forward(ResNetImpl::pool(own));
    if (earlier.empty() || !head_adaptor_) return logits;
    std::vector<torch::Tensor> pooled;
    for (const auto& e : earlier) pooled.push_back(e.mean({2, 3}, /*keepdim=*/true));
    return logits + lateral_classifier_->forward(head_adaptor_->forward(pooled).flatten(1));
  }

 private:
  // {height, width} of every stage's output for the stream's images (a dry run in eval mode).
  std::vector<std::vector<int64_t>> stage_sizes(const std::vector<int64_t>& input_shape) {
    torch::NoGradGuard no_grad;
    const bool was = net_->is_training();
    net_->eval();
    const auto device = net_->parameters().front().device();
    auto x =
        net_->stem(net_->prepare(torch::zeros({1, input_shape[0], input_shape[1], input_shape[2]},
                                              torch::TensorOptions().device(device))));
    std::vector<std::vector<int64_t>> sizes;
    for (size_t s = 0; s < net_->stages(); ++s) {
      x = net_->stage(s, x);
      sizes.push_back({x.size(2), x.size(3)});
    }
    net_->train(was);
    return sizes;
  }

  // A fresh stage s (as the trunk's: its blocks, stride 2) reading `in` channels: Mammoth's
  // lateral_layer<s+1>.
  nn::Sequential make_stage(size_t s, int64_t in) {
    const auto& o = net_->options;
    const int64_t planes = o.width() << s, expansion = o.bottleneck() ? 4 : 1;
    nn::Sequential stage;
    for (int64_t b = 0; b < o.blocks()[s]; ++b) {
      const std::string prefix =
          "lateral_stage" + std::to_string(s) + "." + std::to_string(b) + ".";
      stage->push_back(
          ResNetBlock(prefix, in, planes, b == 0 ? 2 : 1, o.bottleneck(), *sites_, sites_));
      in = planes * expansion;
    }
    return stage;
  }

  std::shared_ptr<ResNetImpl> net_;
  std::shared_ptr<ResNetSites> sites_;  // the lateral stages' convolutions and norms
  std::vector<Adaptor> adaptors_;       // per stage; null for stage 0 and in column 0
  std::vector<nn::Sequential> lateral_stages_;
  nn::Linear head_{nullptr};
  Adaptor head_adaptor_{nullptr};
  nn::Linear lateral_classifier_{nullptr};
};

}  // namespace

std::shared_ptr<PnnColumnImpl> make_pnn_resnet_column(std::shared_ptr<BackboneImpl> trunk,
                                                      const PnnColumnOptions& options) {
  auto net = std::dynamic_pointer_cast<ResNetImpl>(trunk);
  if (!net) return nullptr;
  return std::make_shared<ResNetColumnImpl>(std::move(net), options);
}

}  // namespace clbench
